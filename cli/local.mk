# cli: one-shot operations from the shell (`curpkv get|put|del|scan|append`).
noinst_LIBRARIES += cli/libcli.a
cli_libcli_a_SOURCES = cli/cli.h cli/cli.c

# The CLI's errors on the real binary, without a cluster (a socket of the test plays the master).
check_PROGRAMS += tests/test_cli
TESTS += tests/test_cli
tests_test_cli_SOURCES = tests/test_cli.c tests/proc.c tests/proc.h
tests_test_cli_LDADD = $(TEST_LIBS)
