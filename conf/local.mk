noinst_LIBRARIES += conf/libconf.a
conf_libconf_a_SOURCES = \
	conf/conf.h conf/conf_int.h \
	conf/conf.c conf/conf_keys.c conf/conf_diag.c \
	conf/latency.c conf/quorum.c

check_PROGRAMS += tests/test_conf
TESTS += tests/test_conf
tests_test_conf_SOURCES = tests/test_conf.c tests/failalloc.c tests/failalloc.h
tests_test_conf_LDFLAGS = $(FAILALLOC_FLAGS)
tests_test_conf_LDADD = conf/libconf.a common/libcommon.a $(TEST_LIBS) -lm
EXTRA_DIST += tests/data
