noinst_LIBRARIES += proto/libproto.a
proto_libproto_a_SOURCES = proto/proto.h proto/proto.c

check_PROGRAMS += tests/test_proto
TESTS += tests/test_proto
tests_test_proto_SOURCES = tests/test_proto.c tests/failalloc.c tests/failalloc.h
tests_test_proto_LDFLAGS = $(FAILALLOC_FLAGS)
tests_test_proto_LDADD = proto/libproto.a common/libcommon.a $(MSGPACK_LIBS) $(TEST_LIBS) -lm

# what the codec costs in CPU (encode/decode ns per message): docs/benchmarks.md
noinst_PROGRAMS += bench/bench_proto
bench_bench_proto_SOURCES = bench/bench_proto.c
bench_bench_proto_LDADD = proto/libproto.a common/libcommon.a $(MSGPACK_LIBS) -lm
