# net: libev connections carrying proto frames, listeners, dialers, socket helpers.
noinst_LIBRARIES += net/libnet.a
net_libnet_a_SOURCES = net/net.h net/net_int.h net/net.c net/dial.c net/sock.c

check_PROGRAMS += tests/test_net
TESTS += tests/test_net
tests_test_net_SOURCES = tests/test_net.c
tests_test_net_LDADD = net/libnet.a auth/libauth.a conf/libconf.a proto/libproto.a \
	common/libcommon.a $(MSGPACK_LIBS) $(SODIUM_LIBS) $(EV_LIBS) $(TEST_LIBS) -lm
