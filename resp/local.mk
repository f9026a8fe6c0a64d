# resp: the RESP2 request parser and reply encoder of the Redis gateway (gw/), without I/O.
noinst_LIBRARIES += resp/libresp.a
resp_libresp_a_SOURCES = resp/resp.h resp/resp.c

check_PROGRAMS += tests/test_resp
TESTS += tests/test_resp
tests_test_resp_SOURCES = tests/test_resp.c
tests_test_resp_LDADD = resp/libresp.a $(TEST_LIBS)
