/* tests/proc: start, watch and stop the real curpkv processes of system tests (by PID only). */
#ifndef CURPKV_TESTS_PROC_H
#define CURPKV_TESTS_PROC_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct proc {
	pid_t pid;
	char log[512]; /* stdout+stderr of the process */
	char name[64];
};

/* Makes a private temporary directory (mkdtemp under $TMPDIR or /tmp) into dir (>= 256 bytes).
 * Returns 0 or a negative errno. */
int proc_tmpdir(char *dir);
/* Removes dir and everything in it. */
void proc_rmdir(const char *dir);

/* Returns a base port such that base..base+count-1 are free on 127.0.0.1 right now (probed by
 * binding), or 0. */
uint16_t proc_free_ports(int count, uint64_t seed);

/* A blocking TCP connection to 127.0.0.1:port: the socket, or a negative errno. */
int proc_dial(uint16_t port);

/* Starts argv[0] (a path) with argv, stdout and stderr to p->log. Returns 0 or -errno. */
int proc_start(struct proc *p, const char *name, const char *logpath, char *const argv[]);
/* The same in working directory dir (NULL = ours), with stderr to errpath (NULL = the log). */
int proc_start_in(struct proc *p, const char *name, const char *logpath, const char *errpath,
		  const char *dir, char *const argv[]);
/* Sends sig to the process (never by name). */
void proc_signal(const struct proc *p, int sig);
/* Waits up to timeout_ms for the process to exit; returns its exit status (>= 0), 128+signal,
 * or -ETIMEDOUT. */
int proc_wait(struct proc *p, int timeout_ms);
/* SIGTERM, then SIGKILL after timeout_ms; reaps. Returns the status as proc_wait. */
int proc_stop(struct proc *p, int timeout_ms);
/* True if the process is still running. */
bool proc_alive(const struct proc *p);
/* Waits up to timeout_ms until p's log contains needle. Returns true if it did. */
bool proc_wait_log(const struct proc *p, const char *needle, int timeout_ms);
/* Resident set size in KiB (from /proc/<pid>/status), or 0. */
uint64_t proc_rss_kib(const struct proc *p);
/* Kills (SIGKILL) and reaps every process started by proc_start that has not been reaped yet:
 * for teardown after a failed assertion, so no test leaves processes behind. */
void proc_kill_all(void);
/* Path of the curpkv binary under test ($CURPKV_BUILDDIR/curpkv, else curpkv in the current
 * directory, made absolute). */
const char *proc_curpkv_path(char *buf, size_t len);

#endif
