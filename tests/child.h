/* tests/child: runs a function in a forked child process and reports how it ended (tests of
 * code that stops the process: abort() on out of memory, a failed assert()). */
#ifndef CURPKV_TESTS_CHILD_H
#define CURPKV_TESTS_CHILD_H

#include <stddef.h>

/* Runs fn(arg) in a forked child (no core file, killed by SIGALRM after timeout_s) with its
 * stderr in err (NUL-terminated, truncated to errlen). Returns its wait status. The child must
 * end with _exit: cmocka's assertions are the parent's, never used there (fn returning ends it
 * with _exit(0)). Called from the test's main thread; fails the test if fork or pipe fail. */
int child_run(void (*fn)(void *arg), void *arg, int timeout_s, char *err, size_t errlen);

#endif
