/* System test of master restarts (issue 16 items 2 and 3) on real processes: client ids never
 * repeat across a master killed and restarted within one second or under a clock stepped back,
 * and a restarted master serves a cluster that has a majority, whatever happened before (a
 * failover) or after (the leader killed), with and without stateDir. Every write a `curpkv`
 * invocation acknowledged is read back by another one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <glob.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tests/env.h"
#include "tests/proc.h"

/* Failures are detected in 300 ms: the tests take seconds, not minutes. */
#define FAST_FAILOVER "leaderTimeoutMs: 300\nheartbeatMs: 50\n"

/* `curpkv put key val` exits 0 (acknowledged). */
static void put(struct cluster_env *e, const char *key, const char *val)
{
	char *out = NULL;
	char *args[] = {"put", (char *)key, (char *)val, NULL};
	int st = env_cli(e, e->dir, args, &out);
	if (st != 0)
		fprintf(stderr, "curpkv put %s %s: exit %d: %s", key, val, st, out ? out : "");
	free(out);
	assert_int_equal(st, 0);
}

/* `curpkv get key` prints val (a fresh process: a new client id). */
static void get(struct cluster_env *e, const char *key, const char *val)
{
	char *out = NULL, want[128];
	char *args[] = {"get", (char *)key, NULL};
	int st = env_cli(e, e->dir, args, &out);
	snprintf(want, sizeof want, "%s\n", val);
	if (st != 0 || out == NULL || strcmp(out, want) != 0)
		fprintf(stderr, "curpkv get %s: exit %d, printed '%s', want '%s'\n", key, st,
			out ? out : "", val);
	assert_int_equal(st, 0);
	assert_non_null(out);
	assert_string_equal(out, want);
	free(out);
}

static void kill9(struct proc *p)
{
	proc_signal(p, SIGKILL);
	assert_true(proc_wait(p, 10000) >= 0);
}

/* Kills the master with SIGKILL and starts it again at once (run: its log's number). */
static void master_restart(struct cluster_env *e, int run)
{
	kill9(&e->master);
	env_start_master(e, run);
}

/* The client-id epoch the master logged last (its log), 0 if none. */
static uint64_t logged_epoch(const struct proc *p)
{
	char *log = env_slurp(p->log);
	uint64_t e = 0;
	for (const char *q = log; q && (q = strstr(q, "client ids: epoch ")) != NULL; q++)
		e = strtoull(q + strlen("client ids: epoch "), NULL, 10);
	free(log);
	return e;
}

/* No replica saw a reused cid (the replicas' defence, CID_REUSED, never had to act: the ids
 * themselves did not repeat). ("duplicates" is no signal: a one-shot client's PROPOSE can reach
 * a witness after its command executed there, when the connection to it came up late.) */
static void no_reuse(struct cluster_env *e, const bool *up)
{
	struct cluster_stats st;
	char err[256];
	for (int i = 0; i < e->n; i++) {
		if (up && !up[i])
			continue;
		assert_int_equal(cluster_stats(e->conf, &e->s, i, 5.0, &st, err), 0);
		assert_int_equal(env_stat(&st, "cid_reused"), 0);
	}
}

/* Waits (bounded: 20 s) until every replica marked up serves, has left the rejoin hold, and
 * executed as far as the others with the same digest; returns the leader they report. */
static int wait_converged(struct cluster_env *e, const bool *up)
{
	struct cluster_stats st[ENV_MAX_N];
	char err[256];
	bool same = false;
	int first = -1;
	for (int attempt = 0; attempt < 400 && !same; attempt++) {
		if (attempt)
			poll(NULL, 0, 50);
		same = true;
		first = -1;
		for (int i = 0; i < e->n && same; i++) {
			if (!up[i])
				continue;
			if (cluster_stats(e->conf, &e->s, i, 5.0, &st[i], err) != 0 ||
			    env_stat(&st[i], "ready") == 0) {
				same = false;
				break;
			}
			if (first < 0)
				first = i;
			same =
			    env_stat(&st[i], "rejoining") == 0 &&
			    env_stat(&st[i], "view_active") == 1 &&
			    env_stat(&st[i], "view") == env_stat(&st[first], "view") &&
			    env_stat(&st[i], "exec_index") == env_stat(&st[first], "exec_index") &&
			    env_stat(&st[i], "digest") == env_stat(&st[first], "digest");
		}
	}
	assert_true(same);
	return (int)env_stat(&st[first], "leader");
}

/* ---- client ids ------------------------------------------------------------------------- */

static uint64_t wall_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec;
}

/* The master is killed and started again within one second: the new one's clients must not get
 * the old one's ids (which were "start second << 32 | counter": `put k3` was acknowledged and
 * dropped as a retry of `put k1`, and `get k3` found nothing). */
static void test_ids_restart_within_second(void **state)
{
	(void)state;
	struct cluster_env e;
	env_start(&e, 3, NULL);
	kill9(&e.master);
	/* the next master starts at the beginning of a second (a setup, not a wait) */
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	poll(NULL, 0, (int)((1000000000L - ts.tv_nsec) / 1000000L) + 5);
	uint64_t s1 = wall_s();
	env_start_master(&e, 1);
	env_expect_log(&e, &e.master, "cluster ready", 10000);
	put(&e, "k1", "AAA");
	uint64_t e1 = logged_epoch(&e.master);
	master_restart(&e, 2);
	uint64_t s2 = wall_s();
	env_expect_log(&e, &e.master, "cluster ready", 10000);
	put(&e, "k3", "CCC");
	put(&e, "k4", "DDD");
	get(&e, "k3", "CCC");
	get(&e, "k4", "DDD");
	get(&e, "k1", "AAA");
	uint64_t e2 = logged_epoch(&e.master);
	printf("# masters started in second %" PRIu64 " and %" PRIu64 "%s: id epochs %" PRIu64
	       ", %" PRIu64 "\n",
	       s1, s2, s1 == s2 ? " (the same)" : " (crossed a second: a weaker test)", e1, e2);
	assert_true(e2 > e1);
	no_reuse(&e, NULL);
	env_stop(&e);
}

/* The path of libfaketime (Debian package faketime), or NULL. The library is preloaded into
 * the master itself: the `faketime` command runs its command as a child, which a SIGKILL of the
 * wrapper would leave running. */
static const char *libfaketime_path(void)
{
	static char buf[512];
	const char *pats[] = {"/usr/lib/*/faketime/libfaketime.so.1",
			      "/usr/lib/faketime/libfaketime.so.1",
			      "/usr/local/lib/faketime/libfaketime.so.1"};
	for (size_t i = 0; i < sizeof pats / sizeof pats[0]; i++) {
		glob_t g;
		if (glob(pats[i], 0, NULL, &g) == 0 && g.gl_pathc > 0) {
			snprintf(buf, sizeof buf, "%s", g.gl_pathv[0]);
			globfree(&g);
			return buf;
		}
		globfree(&g);
	}
	return NULL;
}

/* Starts the master (run) with its wall clock at `faked` (libfaketime: "@date", then it runs);
 * its monotonic clock stays real. */
static void master_start_faked(struct cluster_env *e, int run, const char *lib, const char *faked)
{
	/* libfaketime is preloaded before an ASan runtime: tell ASan that is fine */
	const char *asan = getenv("ASAN_OPTIONS");
	char *saved = asan ? strdup(asan) : NULL;
	char opts[1200];
	snprintf(opts, sizeof opts, "%s%sverify_asan_link_order=0", asan ? asan : "",
		 asan ? " " : "");
	setenv("ASAN_OPTIONS", opts, 1);
	setenv("LD_PRELOAD", lib, 1);
	setenv("FAKETIME", faked, 1);
	setenv("DONT_FAKE_MONOTONIC", "1", 1);
	env_start_master(e, run);
	unsetenv("LD_PRELOAD");
	unsetenv("FAKETIME");
	unsetenv("DONT_FAKE_MONOTONIC");
	if (saved)
		setenv("ASAN_OPTIONS", saved, 1);
	else
		unsetenv("ASAN_OPTIONS");
	free(saved);
}

/* The same under a wall clock stepped back: both masters start at the same faked instant (the
 * second one's clock is behind where the first one's stopped). */
static void test_ids_clock_stepped_back(void **state)
{
	(void)state;
	const char *lib = libfaketime_path();
	if (lib == NULL) {
		printf("# skipped: no libfaketime (Debian package faketime, installed by "
		       "scripts/bootstrap.sh)\n");
		skip();
	}
	const char *faked = "@2031-05-05 10:00:00";
	struct cluster_env e;
	env_start(&e, 3, NULL);
	kill9(&e.master);
	master_start_faked(&e, 1, lib, faked);
	env_expect_log(&e, &e.master, "cluster ready", 10000);
	if (!proc_wait_log(&e.master, "2031-05-05T10:00:0", 100)) {
		printf("# skipped: faketime does not change the master's clock here (see %s)\n",
		       e.master.log);
		env_stop(&e);
		skip();
	}
	put(&e, "k1", "AAA");
	uint64_t e1 = logged_epoch(&e.master);
	kill9(&e.master);
	master_start_faked(&e, 2, lib, faked); /* its clock back to 10:00:00 */
	env_expect_log(&e, &e.master, "cluster ready", 10000);
	put(&e, "k3", "CCC");
	get(&e, "k3", "CCC");
	get(&e, "k1", "AAA");
	uint64_t e2 = logged_epoch(&e.master);
	printf("# both masters started at 2031-05-05 10:00:00 (faked): id epochs %" PRIu64
	       ", %" PRIu64 "\n",
	       e1, e2);
	assert_true(e2 > e1);
	no_reuse(&e, NULL);
	env_stop(&e);
}

/* With stateDir: the epoch is recorded before use, and the next master takes the next one at
 * once, before any replica registered. */
static void test_ids_state_dir(void **state)
{
	(void)state;
	env_state = true;
	struct cluster_env e;
	env_start(&e, 3, NULL);
	env_state = false;
	put(&e, "k1", "AAA");
	uint64_t e1 = logged_epoch(&e.master);
	char path[400];
	snprintf(path, sizeof path, "%s/state/master.epoch", e.dir);
	char *rec = env_slurp(path);
	assert_non_null(rec);
	assert_int_equal(strtoull(rec, NULL, 10), e1);
	free(rec);
	master_restart(&e, 1);
	env_expect_log(&e, &e.master, "client ids: epoch", 10000);
	assert_int_equal(logged_epoch(&e.master), e1 + 1);
	env_expect_log(&e, &e.master, "cluster ready", 10000);
	put(&e, "k3", "CCC");
	get(&e, "k3", "CCC");
	get(&e, "k1", "AAA");
	no_reuse(&e, NULL);
	env_stop(&e);
}

/* ---- restarted master over a running cluster --------------------------------------------- */

/* True if p's log has a line in which replica r registered as a live replica (one serving a
 * cluster, not a fresh process). */
static bool registered_live(const struct proc *p, int r)
{
	char *log = env_slurp(p->log), needle[64];
	snprintf(needle, sizeof needle, "replica%d registered at", r);
	bool live = false;
	for (char *line = log ? strtok(log, "\n") : NULL; line; line = strtok(NULL, "\n"))
		if (strstr(line, needle)) {
			size_t n = strlen(line);
			live = n > 6 && strcmp(line + n - 6, ": live") == 0;
		}
	free(log);
	return live;
}

/* Kills the leader (replica0) and waits until the master moved to view 1. */
static void fail_over(struct cluster_env *e, bool *up)
{
	kill9(&e->replicas[0]);
	up[0] = false;
	env_expect_log(e, &e->master, "view change: view 1,", 10000);
}

/* (a) The leader is killed, the cluster fails over (view 1), then the master is killed and
 * restarted: with two of three replicas it must become ready in view 1 and serve new clients
 * (it waited for the third forever, and `curpkv` said `no answer`). The dead replica comes back
 * later as a fresh process and rejoins (it lost its state); the live ones re-registered as live
 * replicas, not as restarted ones. */
static void restart_after_failover(bool state_dir)
{
	env_state = state_dir;
	struct cluster_env e;
	env_start(&e, 3, FAST_FAILOVER);
	env_state = false;
	bool up[3] = {true, true, true};
	put(&e, "k1", "v1");
	fail_over(&e, up);
	master_restart(&e, 1);
	env_expect_log(&e, &e.master, "cluster ready: 2 of 3 replicas registered, view 1", 10000);
	put(&e, "k2", "v2");
	get(&e, "k2", "v2");
	get(&e, "k1", "v1");
	for (int i = 1; i < 3; i++)
		assert_true(registered_live(&e.master, i));
	assert_false(proc_wait_log(&e.master, "rejoining", 10));
	/* the dead replica comes back as a new process: without stateDir it lost its state and
	 * rejoins; with it, it rebuilds its state from its write-ahead log (docs/durability.md) and
	 * follows the view it missed without the rejoin hold */
	env_start_replica(&e, 0, 1);
	up[0] = true;
	env_expect_log(&e, &e.master, "replica0 registered at", 10000);
	if (state_dir) {
		env_expect_log(&e, &e.master, "restarted from its write-ahead log", 1000);
		env_expect_log(&e, &e.replicas[0], "records replayed", 1000);
		assert_false(proc_wait_log(&e.replicas[0], "restarted: catching up", 10));
	} else {
		env_expect_log(&e, &e.master, "a fresh process, rejoining", 1000);
		env_expect_log(&e, &e.replicas[0], "restarted: catching up", 10000);
	}
	int leader = wait_converged(&e, up);
	assert_int_not_equal(leader, 0);
	put(&e, "k3", "v3");
	get(&e, "k3", "v3");
	no_reuse(&e, up);
	env_stop(&e);
}

static void test_restart_after_failover(void **state)
{
	(void)state;
	restart_after_failover(false);
}

static void test_restart_after_failover_state_dir(void **state)
{
	(void)state;
	restart_after_failover(true);
}

/* (b) The master is restarted first, then the leader is killed: the restarted master learned
 * the view (1, after an earlier failover whose old leader came back) and its leader from the
 * replicas, so it notices the leader's death and fails over to view 2 (it started at view 0 with
 * leader replica0 over replicas in view 1, and nothing was served again). */
static void restart_then_leader_killed(bool state_dir)
{
	env_state = state_dir;
	struct cluster_env e;
	env_start(&e, 3, FAST_FAILOVER);
	env_state = false;
	bool up[3] = {true, true, true};
	put(&e, "k1", "v1");
	fail_over(&e, up);
	env_start_replica(&e, 0, 1);
	up[0] = true;
	int leader = wait_converged(&e, up);
	assert_int_not_equal(leader, 0);
	master_restart(&e, 1);
	env_expect_log(&e, &e.master, "cluster ready", 10000);
	put(&e, "k2", "v2");
	get(&e, "k2", "v2");
	kill9(&e.replicas[leader]);
	up[leader] = false;
	env_expect_log(&e, &e.master, "view change: view 2,", 10000);
	put(&e, "k3", "v3");
	get(&e, "k3", "v3");
	get(&e, "k2", "v2");
	get(&e, "k1", "v1");
	/* the killed leader comes back and catches up */
	env_start_replica(&e, leader, 1);
	up[leader] = true;
	assert_int_not_equal(wait_converged(&e, up), leader);
	no_reuse(&e, up);
	env_stop(&e);
}

static void test_restart_then_leader_killed(void **state)
{
	(void)state;
	restart_then_leader_killed(false);
}

static void test_restart_then_leader_killed_state_dir(void **state)
{
	(void)state;
	restart_then_leader_killed(true);
}

int main(void)
{
	atexit(proc_kill_all);
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_ids_restart_within_second, env_teardown),
	    cmocka_unit_test_teardown(test_ids_clock_stepped_back, env_teardown),
	    cmocka_unit_test_teardown(test_ids_state_dir, env_teardown),
	    cmocka_unit_test_teardown(test_restart_after_failover, env_teardown),
	    cmocka_unit_test_teardown(test_restart_after_failover_state_dir, env_teardown),
	    cmocka_unit_test_teardown(test_restart_then_leader_killed, env_teardown),
	    cmocka_unit_test_teardown(test_restart_then_leader_killed_state_dir, env_teardown),
	};
	/* MASTER_TESTS=pattern runs only the matching tests (cmocka's filter) */
	if (getenv("MASTER_TESTS"))
		cmocka_set_test_filter(getenv("MASTER_TESTS"));
	return cmocka_run_group_tests_name("master", tests, NULL, NULL);
}
