# auth: the shared-secret handshake (libsodium), the role table, the failure-log limiter.
noinst_LIBRARIES += auth/libauth.a
auth_libauth_a_SOURCES = auth/auth.h auth/auth.c

# what authentication costs in CPU (handshakes/s, role checks/s): docs/benchmarks.md
noinst_PROGRAMS += bench/bench_auth
bench_bench_auth_SOURCES = bench/bench_auth.c
bench_bench_auth_LDADD = auth/libauth.a conf/libconf.a proto/libproto.a common/libcommon.a \
	$(MSGPACK_LIBS) $(SODIUM_LIBS) -lm
