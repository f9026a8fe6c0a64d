# verify: history checkers (`curpkv check-history FILE`).
noinst_LIBRARIES += verify/libverify.a
verify_libverify_a_SOURCES = verify/verify.h verify/verify.c verify/causal.c verify/append.c \
	verify/slots.c

check_PROGRAMS += tests/test_verify
TESTS += tests/test_verify
tests_test_verify_SOURCES = tests/test_verify.c
tests_test_verify_LDADD = verify/libverify.a proto/libproto.a common/libcommon.a $(MSGPACK_LIBS) \
	$(TEST_LIBS) -lm
# The unit test counts allocations and fails chosen ones (out-of-memory paths: no leak) by
# wrapping these at link time.
tests_test_verify_LDFLAGS = $(AM_LDFLAGS) -Wl,--wrap=malloc -Wl,--wrap=calloc -Wl,--wrap=realloc \
	-Wl,--wrap=strdup -Wl,--wrap=strndup -Wl,--wrap=free
