# oset: ordered set of byte-string keys (the replica's key order for SCAN).
noinst_LIBRARIES += oset/liboset.a
oset_liboset_a_SOURCES = oset/oset.h oset/oset.c

check_PROGRAMS += tests/test_oset
TESTS += tests/test_oset
tests_test_oset_SOURCES = tests/test_oset.c
tests_test_oset_LDADD = oset/liboset.a common/libcommon.a $(TEST_LIBS) -lm
