# loadgen: the load generator (`curpkv -run client`): threads of sessions, workload, report.
noinst_LIBRARIES += loadgen/libloadgen.a
loadgen_libloadgen_a_SOURCES = loadgen/loadgen.h loadgen/loadgen.c

# The load generator with its workload and report.
check_PROGRAMS += tests/test_loadgen
TESTS += tests/test_loadgen
tests_test_loadgen_SOURCES = tests/test_loadgen.c
tests_test_loadgen_LDADD = loadgen/libloadgen.a report/libreport.a workload/libworkload.a \
	cluster/libcluster.a client/libsession.a net/libnet.a auth/libauth.a conf/libconf.a \
	proto/libproto.a common/libcommon.a $(MSGPACK_LIBS) $(SODIUM_LIBS) $(EV_LIBS) $(CK_LIBS) \
	$(TEST_LIBS) -lm -lpthread
