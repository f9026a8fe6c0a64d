noinst_LIBRARIES += desc/libdesc.a
desc_libdesc_a_SOURCES = desc/desc.h desc/desc.c

check_PROGRAMS += tests/test_desc
TESTS += tests/test_desc
tests_test_desc_SOURCES = tests/test_desc.c
tests_test_desc_LDADD = desc/libdesc.a common/libcommon.a $(CK_LIBS) $(TEST_LIBS) -lm

noinst_PROGRAMS += bench/bench_desc
bench_bench_desc_SOURCES = bench/bench_desc.c
bench_bench_desc_LDADD = desc/libdesc.a common/libcommon.a $(CK_LIBS) -lm
