noinst_LIBRARIES += cmap/libcmap.a
cmap_libcmap_a_SOURCES = cmap/cmap.h cmap/cmap_int.h cmap/cmap.c

check_PROGRAMS += tests/test_cmap tests/test_cmap_stress
TESTS += tests/test_cmap tests/test_cmap_stress
tests_test_cmap_SOURCES = tests/test_cmap.c tests/failalloc.c tests/failalloc.h \
	tests/child.c tests/child.h
# The unit test fails chosen allocations (out-of-memory paths): tests/failalloc.
tests_test_cmap_LDFLAGS = $(FAILALLOC_FLAGS)
tests_test_cmap_LDADD = cmap/libcmap.a common/libcommon.a $(CK_LIBS) $(TEST_LIBS) -lm
tests_test_cmap_stress_SOURCES = tests/test_cmap_stress.c
tests_test_cmap_stress_LDADD = cmap/libcmap.a common/libcommon.a $(CK_LIBS) $(TEST_LIBS) -lm

noinst_PROGRAMS += bench/bench_cmap
bench_bench_cmap_SOURCES = bench/bench_cmap.c
bench_bench_cmap_LDADD = cmap/libcmap.a common/libcommon.a $(CK_LIBS) -lm
