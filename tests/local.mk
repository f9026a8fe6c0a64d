# Protocol-core tests: replica cores and client sessions wired in one process over seeded
# FIFO channels through the real codec (the seed of the deterministic simulation).
check_PROGRAMS += tests/test_core
TESTS += tests/test_core
tests_test_core_SOURCES = tests/test_core.c tests/harness.c tests/harness.h
tests_test_core_LDADD = replica/libcore.a oset/liboset.a client/libsession.a proto/libproto.a \
	desc/libdesc.a cmap/libcmap.a common/libcommon.a $(MSGPACK_LIBS) $(CK_LIBS) $(TEST_LIBS) -lm

# System test: master + replicas as real processes on 127.0.0.1 (needs the curpkv binary).
check_PROGRAMS += tests/test_cluster
TESTS += tests/test_cluster
tests_test_cluster_SOURCES = tests/test_cluster.c tests/proc.c tests/proc.h
tests_test_cluster_LDADD = verify/libverify.a client/libcurpkv.a client/libcluster.a client/libsession.a net/libnet.a conf/libconf.a \
	proto/libproto.a common/libcommon.a $(MSGPACK_LIBS) $(EV_LIBS) $(CK_LIBS) $(TEST_LIBS) -lm
