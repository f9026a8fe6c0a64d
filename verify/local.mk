# verify: history checkers (`curpkv check-history FILE`).
noinst_LIBRARIES += verify/libverify.a
verify_libverify_a_SOURCES = verify/verify.h verify/verify.c verify/causal.c verify/append.c \
	verify/slots.c

check_PROGRAMS += tests/test_verify
TESTS += tests/test_verify
tests_test_verify_SOURCES = tests/test_verify.c tests/failalloc.c tests/failalloc.h
tests_test_verify_LDADD = verify/libverify.a proto/libproto.a common/libcommon.a $(MSGPACK_LIBS) \
	$(TEST_LIBS) -lm
# The unit test fails chosen allocations and counts live blocks (out-of-memory paths leak
# nothing): tests/failalloc.
tests_test_verify_LDFLAGS = $(FAILALLOC_FLAGS)
