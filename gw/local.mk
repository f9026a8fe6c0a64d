# gw: the Redis gateway (`curpkv -run gateway`): RESP2 connections mapped onto client sessions
# (docs/gateway.md).
noinst_LIBRARIES += gw/libgw.a
gw_libgw_a_SOURCES = gw/gw.h gw/gw_int.h gw/gw.c gw/gw_cmd.c

# redis-cli and redis-benchmark against a gateway over a 3-replica cluster (skipped without
# redis-cli).
TESTS += tests/test_gateway.sh
EXTRA_DIST += tests/test_gateway.sh
