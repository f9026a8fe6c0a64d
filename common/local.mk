noinst_LIBRARIES += common/libcommon.a
common_libcommon_a_SOURCES = \
	common/clock.c common/clock.h \
	common/rng.c common/rng.h \
	common/hash.c common/hash.h \
	common/log.c common/log.h \
	common/sched.c common/sched.h \
	common/protocol.h \
	common/tsan.h

check_PROGRAMS += tests/test_common
TESTS += tests/test_common
tests_test_common_SOURCES = tests/test_common.c
tests_test_common_LDADD = common/libcommon.a $(TEST_LIBS) -lm
