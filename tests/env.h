/* tests/env: a master and N replicas as real `curpkv` processes on 127.0.0.1 for the system tests
 * (tests/test_cluster_*.c, tests/test_master.c, tests/test_auth.c): conf, start, restart, stop
 * (by PID), stats, bounded waits on them, and the `curpkv` command line. Assertions are
 * cmocka's: call from a test body only. */
#ifndef CURPKV_TESTS_ENV_H
#define CURPKV_TESTS_ENV_H

#include <stdbool.h>
#include <stdint.h>

#include "cluster/cluster.h"
#include "conf/conf.h"
#include "tests/proc.h"

#define ENV_MAX_N 5

struct cluster_env {
	char dir[256]; /* scratch directory: conf, logs (and state/ with env_state) */
	char conf_path[512];
	int n;
	uint16_t base;
	struct proc master;
	struct proc replicas[ENV_MAX_N];
	struct conf *conf;
	struct conf_settings s;
};

/* The scratch directory of the running test, removed by env_teardown if the test fails. */
extern char env_live_dir[256];
/* The protocol env_start writes into the conf. */
extern const char *env_protocol;
/* Replica i at 127.0.0.(10+i) instead of 127.0.0.1 (per-address network rules). */
extern bool env_spread;
/* Replicas write execution logs (-xlog) to replica<i>[.run<run>].xlog in the scratch directory. */
extern bool env_xlog;
/* The master keeps its state in <dir>/state (conf key stateDir). */
extern bool env_state;

/* Makes the scratch directory, writes a conf for n replicas (extra: more conf lines written
 * last, so it may end with Apply-to sections; or NULL) and loads it into e->conf and e->s
 * (client0's settings). Starts nothing. */
void env_prepare(struct cluster_env *e, int n, const char *extra);
/* env_prepare, then starts the replicas, then the master, and waits until the master reports
 * the cluster ready and every replica serves. */
void env_start(struct cluster_env *e, int n, const char *extra);
/* Starts replica i as a new process; run > 0 (a restart) logs to replica<i>.run<run>.log, so the
 * earlier process's log is kept. */
void env_start_replica(struct cluster_env *e, int i, int run);
/* Starts the master as a new process (run > 0: a restart, logging to master.run<run>.log), with
 * this process's environment. Does not wait. */
void env_start_master(struct cluster_env *e, int run);
/* Waits up to ms for needle in p's log; on timeout prints the scratch directory's log tails and
 * fails the test. */
void env_expect_log(struct cluster_env *e, const struct proc *p, const char *needle, int ms);
/* Stops every process (SIGTERM: each must exit 0) and removes the scratch directory. */
void env_stop(struct cluster_env *e);

/* The value of stat `name` (fails the test if missing). */
uint64_t env_stat(const struct cluster_stats *st, const char *name);
/* Calls cond(arg) every period_ms until it returns true, for at most timeout_ms (at least once).
 * Returns its last answer. The bounded wait of the system tests: never a fixed sleep. */
bool env_until(int timeout_ms, int period_ms, bool (*cond)(void *arg), void *arg);

/* What env_wait_converged waits for, besides every replica asked answering with the same
 * exec_index and digest. */
struct env_converge {
	uint32_t skip;	/* replicas not asked (bit i: replica i is down) */
	int64_t exec;	/* that exec_index (-1: any) */
	int64_t view;	/* that view, installed (view_active) everywhere (-1: any) */
	bool serving;	/* each ready and not rejoining (a restarted replica caught up) */
	bool active;	/* each with its view installed (view_active) */
	bool same_keys; /* the same count of keys too */
};
/* Reads the stats of the replicas every 50 ms, for at most timeout_ms, until they are as x
 * says; st (e->n entries) gets the last stats read. Returns true if they were. */
bool env_wait_converged(struct cluster_env *e, const struct env_converge *x, int timeout_ms,
			struct cluster_stats *st);
/* Waits (at most `attempts` × 50 ms) until every replica executed `expect` slots, then asserts
 * that every replica did and that their digests are equal; st (e->n entries) gets their stats. */
void env_wait_identical(struct cluster_env *e, uint64_t expect, int attempts,
			struct cluster_stats *st);

/* Runs `curpkv args[0] -config <conf> args[1]...` (at most 5 more) to completion (30 s at most);
 * *out gets its stdout and stderr (malloc'd, NULL if unreadable). Returns its exit status. */
int env_cli(struct cluster_env *e, const char *dir, char *const *args, char **out);
/* env_cli in e->dir, asserting its exit status and, unless want is NULL, its whole output. */
void env_cli_expect(struct cluster_env *e, char *const *args, int status, const char *want);
/* A file's contents, malloc'd and NUL-terminated, or NULL. */
char *env_slurp(const char *path);

/* Raw connections (a hand-made client or peer): writes m's frame on fd (asserts it went out
 * whole); reads one frame into frame[cap] within ms and decodes it into *m with lim (its byte
 * fields point into frame). env_recv_msg returns 1, 0 (closed) or -1 (timeout, or a frame that
 * does not fit or decode). */
void env_send_msg(int fd, const struct proto_msg *m);
int env_recv_msg(int fd, struct proto_msg *m, uint8_t *frame, size_t cap, int ms,
		 const struct proto_limits *lim);

/* cmocka teardown: kills whatever the failed test started (by PID) and removes its directory. */
int env_teardown(void **state);

#endif
