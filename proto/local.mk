noinst_LIBRARIES += proto/libproto.a
proto_libproto_a_SOURCES = proto/proto.h proto/proto.c

check_PROGRAMS += tests/test_proto
TESTS += tests/test_proto
tests_test_proto_SOURCES = tests/test_proto.c tests/failalloc.c tests/failalloc.h
tests_test_proto_LDFLAGS = $(FAILALLOC_FLAGS)
tests_test_proto_LDADD = proto/libproto.a common/libcommon.a $(MSGPACK_LIBS) $(TEST_LIBS) -lm
