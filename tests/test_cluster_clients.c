/* System tests, clients: the load generator as a process (its report, latency file and
 * history, checked by the verify/ checkers: linearizable, causal, appends exactly once with the
 * leader killed, DELs, SCANs), the `curpkv` command line, the public C API (include/curpkv.h)
 * and schedBatch (every thread under SCHED_BATCH), against a master and 3 replicas as real
 * processes (tests/env.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <regex.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "curpkv.h"
#include "net/net.h"
#include "tests/cluster_env.h"
#include "verify/verify.h"

/* Extracts the first group of re in text as a number; fails the test if it does not match. */
static double grab(const char *text, const char *re)
{
	regex_t rx;
	regmatch_t m[2];
	assert_int_equal(regcomp(&rx, re, REG_EXTENDED | REG_NEWLINE), 0);
	int rc = regexec(&rx, text, 2, m, 0);
	if (rc != 0)
		fprintf(stderr, "no match for /%s/ in:\n%s\n", re, text);
	assert_int_equal(rc, 0);
	double v = strtod(text + m[1].rm_so, NULL);
	regfree(&rx);
	return v;
}

/* Runs the load generator `client0` of e's conf in dir (its report in dir/client0.log, stderr in
 * dir/client0.err, the history wherever the conf says) and waits for it (2 minutes at most).
 * Fills log with the report's path; returns its exit status, after printing the end of its
 * stderr if that is not 0. */
static int run_client0(const struct cluster_env *e, const char *dir, char log[600])
{
	char bin[512], err[600];
	proc_curpkv_path(bin, sizeof bin);
	snprintf(log, 600, "%s/client0.log", dir);
	snprintf(err, sizeof err, "%s/client0.err", dir);
	char *argv[] = {bin,	  "-run",    "client", "-config", (char *)e->conf_path,
			"-alias", "client0", NULL};
	struct proc c;
	assert_int_equal(proc_start_in(&c, "client0", log, err, dir, argv), 0);
	int cst = proc_wait(&c, 120000);
	if (cst != 0) {
		fprintf(stderr, "client exit status %d; its stderr:\n", cst);
		char cmd[700];
		snprintf(cmd, sizeof cmd, "tail -n 40 %s >&2", err);
		if (system(cmd) != 0)
			fprintf(stderr, "(none)\n");
	}
	return cst;
}

/* Runs client0 as run_client0 does and checks its report: exit 0, ops operations, no error.
 * Returns the report (the caller frees it). */
static char *run_client0_clean(const struct cluster_env *e, const char *dir, uint64_t ops)
{
	char log[600];
	assert_int_equal(run_client0(e, dir, log), 0);
	char *out = env_slurp(log);
	assert_non_null(out);
	assert_true(grab(out, "^Total operations: ([0-9]+)") == (double)ops);
	assert_true(grab(out, "^Errors: ([0-9]+)") == 0);
	return out;
}

/* A load-generator run that writes a history: a new temporary directory `dir` (the caller
 * removes it), hist = dir/history.jsonl, 3 replicas of `protocol` whose conf holds `workload`
 * and historyFile, client0 run to its end (exit 0). Returns client0's report (the caller frees
 * it; the caller stops e). */
static char *run_history(struct cluster_env *e, const char *protocol, const char *workload,
			 char dir[256], char hist[300])
{
	char extra[800], log[600];
	assert_int_equal(proc_tmpdir(dir), 0);
	snprintf(hist, 300, "%s/history.jsonl", dir);
	snprintf(extra, sizeof extra, "%shistoryFile: %s\n", workload, hist);
	env_protocol = protocol;
	env_start(e, 3, extra);
	env_protocol = "curp";
	assert_int_equal(run_client0(e, dir, log), 0);
	char *out = env_slurp(log);
	assert_non_null(out);
	return out;
}

/* `curpkv -run client` against a live cluster: its report parsed with the regular expressions
 * of the prototype's scripts, its latency JSON and its history file. */
static void test_loadgen_process(void **state)
{
	(void)state;
	struct cluster_env e;
	char extra[700];
	char hist[300];
	char dir[256];
	assert_int_equal(proc_tmpdir(dir), 0);
	snprintf(hist, sizeof hist, "%s/history.jsonl", dir);
	snprintf(extra, sizeof extra,
		 "reqs: 500\nclientThreads: 3\npipeline: true\npendings: 4\nwrites: 20\n"
		 "keySpace: 1000\nseed: 5\nhistoryFile: %s\n",
		 hist);
	env_start(&e, 3, extra);
	char log[600];
	assert_int_equal(run_client0(&e, dir, log), 0);
	char *out = env_slurp(log);
	assert_non_null(out);
	assert_true(grab(out, "^Total operations: ([0-9]+)") == 1500);
	assert_true(grab(out, "Throughput: ([0-9.]+) ops/sec") > 0);
	assert_true(grab(out, "Median: ([0-9.]+)ms") > 0);
	assert_true(grab(out, "P99: ([0-9.]+)ms") > 0);
	assert_true(grab(out, "P99\\.9: ([0-9.]+)ms") > 0);
	double writes = grab(out, "^  Writes: ([0-9]+) \\|");
	assert_true(writes > 200 && writes < 400); /* 20% of 1500 */
	assert_true(grab(out, "^Strong paths: fast ([0-9]+)") >= 1500 * 0.95);
	assert_true(grab(out, "^Errors: ([0-9]+)") == 0);
	free(out);
	char path[400];
	snprintf(path, sizeof path, "%s/latencies-client0.json", dir);
	char *json = env_slurp(path);
	assert_non_null(json);
	assert_non_null(strstr(json, "\"strong_read\":["));
	assert_non_null(strstr(json, "\"weak_write\":[]"));
	free(json);
	/* one history line per measured operation, values unique */
	char *h = env_slurp(hist);
	assert_non_null(h);
	int lines = 0;
	for (char *q = h; (q = strchr(q, '\n')) != NULL; q++)
		lines++;
	assert_int_equal(lines, 1500);
	assert_non_null(strstr(h, "\"op\":\"put\",\"cons\":\"strong\""));
	assert_non_null(strstr(h, "\"status\":\"ok\""));
	free(h);
	/* the recorded history is linearizable (3 sessions share 1,000 keys, windows of 4) */
	struct verify_history vh = {0};
	int bad = 0;
	assert_int_equal(verify_load(hist, &vh, &bad), 0);
	struct verify_result vr;
	enum verify_status vst = verify_linearizable(&vh, 10000000, &vr);
	verify_print(stdout, &vr);
	assert_int_equal(vst, VERIFY_OK);
	assert_int_equal(vr.ops_checked, 1500);
	assert_int_equal(vr.keys_violated, 0);
	verify_free(&vh);
	env_stop(&e);
	proc_rmdir(dir);
}

/* The exactly-once workload on real processes: a load-generator process with `appends: true`
 * (every strong write APPENDs a unique element) while the leader is killed -9 after the first
 * progress line and started again; commands in flight are re-sent to the new leader. The history
 * must pass the append check: no element twice (a retried command executed twice), none
 * acknowledged and then lost, one order of execution that agrees with real time. */
static void test_loadgen_appends_leader_killed(void **state)
{
	(void)state;
	struct cluster_env e;
	char extra[800], hist[300], dir[256];
	assert_int_equal(proc_tmpdir(dir), 0);
	snprintf(hist, sizeof hist, "%s/history.jsonl", dir);
	snprintf(extra, sizeof extra,
		 "heartbeatMs: 50\nleaderTimeoutMs: 300\nappends: true\ncommandSize: 24\n"
		 "reqs: 0\nrunTime: 3s\nclientThreads: 4\npipeline: true\npendings: 8\nwrites: 60\n"
		 "keySpace: 2000\nseed: 9\n"
		 "historyFile: %s\n",
		 hist);
	env_start(&e, 3, extra);
	char bin[512], log[600];
	proc_curpkv_path(bin, sizeof bin);
	snprintf(log, sizeof log, "%s/client0.log", dir);
	char *argv[] = {bin, "-run", "client", "-config", e.conf_path, "-alias", "client0", NULL};
	struct proc c;
	assert_int_equal(proc_start_in(&c, "client0", log, NULL, dir, argv), 0);
	assert_true(proc_wait_log(&c, "progress:", 30000));
	proc_signal(&e.replicas[0], SIGKILL); /* the leader of view 0 */
	assert_int_equal(proc_wait(&e.replicas[0], 5000), 128 + SIGKILL);
	env_start_replica(&e, 0, 1);
	int cst = proc_wait(&c, 120000);
	char *out = env_slurp(log);
	assert_non_null(out);
	if (cst != 0)
		fprintf(stderr, "client exit status %d; its output:\n%s\n", cst, out);
	assert_int_equal(cst, 0);
	double fast = grab(out, "^Strong paths: fast ([0-9]+)");
	double slow = grab(out, "\\| slow ([0-9]+)");
	double retry = grab(out, "\\| retry ([0-9]+)");
	double total = grab(out, "^Total operations: ([0-9]+)");
	printf("# appends, leader killed: %.0f ops: fast %.0f, slow %.0f, retry %.0f\n", total,
	       fast, slow, retry);
	assert_true(fast + slow + retry == total); /* every measured operation has its path */
	assert_true(grab(out, "^Errors: ([0-9]+)") == 0);
	assert_true(retry >= 1); /* commands in flight at the kill were re-sent */
	free(out);
	struct verify_history vh = {0};
	int bad = 0;
	assert_int_equal(verify_load(hist, &vh, &bad), 0);
	struct verify_append_result ar;
	enum verify_status ast = verify_appends(&vh, &ar);
	verify_appends_print(stdout, &ar);
	assert_int_equal(ast, VERIFY_OK);
	assert_true(ar.keys > 100 && ar.appends > 1000 && ar.reads > 500);
	assert_int_equal(ar.duplicates + ar.lost + ar.keys_violated + ar.keys_unsupported, 0);
	verify_free(&vh);
	/* the replicas agree (the restarted one caught up) */
	struct cluster_stats st[ENV_MAX_N];
	struct env_converge x = {.exec = -1, .view = -1, .serving = true};
	assert_true(env_wait_converged(&e, &x, 20000, st));
	env_stop(&e);
	proc_rmdir(dir);
}

static void test_cli(void **state)
{
	(void)state;
	struct cluster_env e;
	env_start(&e, 3, NULL);
	char *out;
	char *put[] = {"put", "greeting", "hello world", NULL};
	env_cli_expect(&e, put, 0, NULL);
	char *get[] = {"get", "greeting", NULL};
	env_cli_expect(&e, get, 0, "hello world\n");
	char *del[] = {"del", "greeting", NULL};
	env_cli_expect(&e, del, 0, NULL);
	env_cli_expect(&e, get, 1, ""); /* missing key */
	char *bad[] = {"put", "only-a-key", NULL};
	assert_int_equal(env_cli(&e, e.dir, bad, &out), 2); /* usage */
	free(out);
	char *weak[] = {"get", "--weak", "greeting", NULL};
	assert_int_equal(env_cli(&e, e.dir, weak, &out), 2); /* curp has no weak operations */
	assert_non_null(strstr(out, "curp has no weak operations"));
	free(out);
	/* the execution log is a server's: a master refuses it (usage) */
	char bin[512], log[600], xl[600];
	proc_curpkv_path(bin, sizeof bin);
	snprintf(log, sizeof log, "%s/xlog-master.log", e.dir);
	snprintf(xl, sizeof xl, "%s/master.xlog", e.dir);
	char *mx[] = {bin, "-run", "master", "-config", e.conf_path, "-xlog", xl, NULL};
	struct proc mp;
	assert_int_equal(proc_start(&mp, "master-xlog", log, mx), 0);
	assert_int_equal(proc_wait(&mp, 30000), 2);
	out = env_slurp(log);
	assert_non_null(strstr(out, "-xlog is for -run server"));
	free(out);
	/* scan: the live keys from KEY on, in byte order, "key<TAB>value" lines */
	const char *kv[][2] = {{"scan-c", "3"}, {"scan-a", "1"}, {"scan-b", "2"}, {"scan-d", "4"}};
	for (int i = 0; i < 4; i++) {
		char *p[] = {"put", (char *)kv[i][0], (char *)kv[i][1], NULL};
		assert_int_equal(env_cli(&e, e.dir, p, &out), 0);
		free(out);
	}
	char *delb[] = {"del", "scan-b", NULL};
	assert_int_equal(env_cli(&e, e.dir, delb, &out), 0);
	free(out);
	char *scan[] = {"scan", "scan-", "10", NULL};
	assert_int_equal(env_cli(&e, e.dir, scan, &out), 0);
	assert_string_equal(out, "scan-a\t1\nscan-c\t3\nscan-d\t4\n");
	free(out);
	char *scan2[] = {"scan", "scan-b", "2", NULL};
	assert_int_equal(env_cli(&e, e.dir, scan2, &out), 0);
	assert_string_equal(out, "scan-c\t3\nscan-d\t4\n");
	free(out);
	char *scan_end[] = {"scan", "zzz", "5", NULL};
	assert_int_equal(env_cli(&e, e.dir, scan_end, &out), 0); /* nothing after: empty, exit 0 */
	assert_string_equal(out, "");
	free(out);
	char *scan_bad[] = {"scan", "scan-", "0", NULL};
	assert_int_equal(env_cli(&e, e.dir, scan_bad, &out), 2);
	assert_non_null(strstr(out, "COUNT must be"));
	free(out);
	char *scan_nocount[] = {"scan", "scan-", NULL};
	assert_int_equal(env_cli(&e, e.dir, scan_nocount, &out), 2);
	free(out);
	/* append: to a missing key (empty), then after what is there */
	char *app1[] = {"append", "list", "ab", NULL};
	char *app2[] = {"append", "list", "cd", NULL};
	char *getl[] = {"get", "list", NULL};
	assert_int_equal(env_cli(&e, e.dir, app1, &out), 0);
	free(out);
	assert_int_equal(env_cli(&e, e.dir, app2, &out), 0);
	free(out);
	assert_int_equal(env_cli(&e, e.dir, getl, &out), 0);
	assert_string_equal(out, "abcd\n");
	free(out);
	char *app_weak[] = {"append", "--weak", "list", "ef", NULL};
	assert_int_equal(env_cli(&e, e.dir, app_weak, &out), 2);
	assert_non_null(strstr(out, "curp"));
	free(out);
	/* --hex: any bytes as key and value (the load generator's 8-byte keys), output in hex */
	char *hput[] = {"put", "--hex", "0000000000000007", "00ff0a09", NULL};
	assert_int_equal(env_cli(&e, e.dir, hput, &out), 0);
	free(out);
	char *hget[] = {"get", "--hex", "0000000000000007", NULL};
	assert_int_equal(env_cli(&e, e.dir, hget, &out), 0);
	assert_string_equal(out, "00ff0a09\n");
	free(out);
	char *happ[] = {"append", "--hex", "0000000000000007", "AB", NULL};
	assert_int_equal(env_cli(&e, e.dir, happ, &out), 0);
	free(out);
	char *hscan[] = {"scan", "--hex", "00", "1", NULL};
	assert_int_equal(env_cli(&e, e.dir, hscan, &out), 0);
	assert_string_equal(out, "0000000000000007\t00ff0a09ab\n");
	free(out);
	char *hbad[] = {"get", "--hex", "000", NULL}; /* odd */
	assert_int_equal(env_cli(&e, e.dir, hbad, &out), 2);
	assert_non_null(strstr(out, "hex digits"));
	free(out);
	char *hbad2[] = {"put", "--hex", "00", "zz", NULL};
	assert_int_equal(env_cli(&e, e.dir, hbad2, &out), 2);
	free(out);
	/* stats of one process: a replica's, the master's (its view and leader); not a client's */
	char *st_m[] = {"stats", "-alias", "master0", NULL};
	assert_int_equal(env_cli(&e, e.dir, st_m, &out), 0);
	assert_non_null(strstr(out, "master0\n  ready 1\n  view 0\n  leader 0\n"));
	free(out);
	char *st_r[] = {"stats", "-alias", "replica2", NULL};
	assert_int_equal(env_cli(&e, e.dir, st_r, &out), 0);
	assert_non_null(strstr(out, "replica2\n  ready 1\n"));
	assert_null(strstr(out, "replica0"));
	free(out);
	char *st_c[] = {"stats", "-alias", "client0", NULL};
	assert_int_equal(env_cli(&e, e.dir, st_c, &out), 1);
	assert_non_null(strstr(out, "not a replica or the master"));
	free(out);
	env_stop(&e);
}

/* The load generator's history with weak writes (curpho, curpht; 4 sessions one operation at a
 * time on 8 shared keys, half of the operations weak, half writes): every weak write's line
 * carries ordered_ns (when its session learned its slot; a curpho write completes on one replica
 * before that), so `curpkv check-history` puts the weak writes into the linearizability search
 * and a strong read of a weakly written value is not "a value no put wrote" (which every such
 * history failed before, 2026-12-06); the causal check (per key for curpht) holds too. */
static void run_loadgen_weak_history(const char *protocol)
{
	struct cluster_env e;
	char hist[300], dir[256];
	free(run_history(&e, protocol,
			 "reqs: 500\nclientThreads: 4\npipeline: false\nwrites: 50\nweakRatio: 50\n"
			 "weakWrites: 50\nkeySpace: 8\nseed: 12\n",
			 dir, hist));
	struct verify_history vh = {0};
	int bad = 0;
	assert_int_equal(verify_load(hist, &vh, &bad), 0);
	assert_int_equal(vh.n, 2000);
	size_t strong = 0, weak_writes = 0, ordered = 0;
	for (size_t i = 0; i < vh.n; i++) {
		const struct verify_op *o = &vh.ops[i];
		strong += !o->weak;
		if (o->weak && o->kind == VERIFY_PUT) {
			weak_writes++;
			ordered += o->ordered_ns >= o->invoke_ns;
		}
		if (!o->weak || o->kind != VERIFY_PUT)
			assert_int_equal(o->ordered_ns, 0); /* only weak writes carry it */
	}
	assert_true(weak_writes > 300); /* about 2000 x 50% x 50% */
	assert_int_equal(ordered, weak_writes);
	struct verify_result vr;
	enum verify_status vst = verify_linearizable(&vh, 10000000, &vr);
	verify_print(stdout, &vr);
	assert_int_equal(vst, VERIFY_OK);
	assert_int_equal(vr.values_never_written, 0);
	assert_int_equal(vr.ops_checked, strong + weak_writes);
	struct verify_causal_result cr;
	enum verify_status cst =
	    !strcmp(protocol, "curpht") ? verify_causal_per_key(&vh, &cr) : verify_causal(&vh, &cr);
	verify_causal_print(stdout, &cr);
	assert_int_equal(cst, VERIFY_OK);
	assert_int_equal(cr.ops_checked, 2000);
	verify_free(&vh);
	env_stop(&e);
	proc_rmdir(dir);
}

static void test_loadgen_weak_history_ho(void **state)
{
	(void)state;
	run_loadgen_weak_history("curpho");
}

static void test_loadgen_weak_history_ht(void **state)
{
	(void)state;
	run_loadgen_weak_history("curpht");
}

/* Weak reads spread over the replicas (docs/protocols.md "Sessions and binding"): 16 curpho
 * sessions of one load-generator process, no Proxy section, 3 replicas on one host, half of
 * the operations weak: no replica serves more than two thirds of the weak reads (its
 * `weak_reads` counter) and at least two serve a sixth each, where binding to the lowest RTT
 * had put 7 of 8 sessions on one replica. (Not "half": on a loaded machine the busy leader's RTT
 * leaves the tolerance, the two followers split the sessions, and one of them then serves half
 * give or take a few reads: 784 of 1,566 failed a CI run; the "at most half" figure of the
 * issue is a benchmark, docs/benchmarks.md.) The history still passes the causal check (each
 * session one operation at a time). */
static void test_loadgen_weak_reads_spread(void **state)
{
	(void)state;
	struct cluster_env e;
	char hist[300], dir[256];
	char *out = run_history(&e, "curpho",
				"reqs: 200\nclientThreads: 16\npipeline: false\nwrites: 5\n"
				"weakRatio: 50\nweakWrites: 5\nkeySpace: 1000\nseed: 21\n",
				dir, hist);
	const char *bl = strstr(out, "Bound replicas");
	assert_non_null(bl);
	fprintf(stderr, "%.*s\n", (int)strcspn(bl, "\n"), bl);
	free(out);
	struct verify_history vh = {0};
	int bad = 0;
	assert_int_equal(verify_load(hist, &vh, &bad), 0);
	uint64_t weak_reads = 0;
	for (size_t i = 0; i < vh.n; i++)
		weak_reads += vh.ops[i].weak && vh.ops[i].kind == VERIFY_GET;
	struct verify_causal_result cr;
	enum verify_status cst = verify_causal(&vh, &cr);
	verify_causal_print(stdout, &cr);
	assert_int_equal(cst, VERIFY_OK);
	verify_free(&vh);
	uint64_t served[3], total = 0;
	char err[NET_ERR_LEN];
	for (int r = 0; r < 3; r++) {
		struct cluster_stats st;
		assert_int_equal(cluster_stats(e.conf, &e.s, r, 5.0, &st, err), 0);
		served[r] = env_stat(&st, "weak_reads");
		total += served[r];
	}
	fprintf(stderr,
		"weak reads served: replica0 %llu, replica1 %llu, replica2 %llu (%llu in the "
		"history)\n",
		(unsigned long long)served[0], (unsigned long long)served[1],
		(unsigned long long)served[2], (unsigned long long)weak_reads);
	assert_true(weak_reads > 1000); /* about 16 x 200 x 50% x 95% */
	assert_true(total >= weak_reads);
	/* Under ThreadSanitizer the processes run 5-15 times slower and the replicas' RTTs differ by
	 * more than the binding's tolerance (max(20%, 1 ms)) as much as the rule itself decides:
	 * CI's TSan pass failed this bound in 2 of 3 runs on an idle machine (one replica above two
	 * thirds). The spread is then printed above, not checked: it is a benchmark figure
	 * (docs/benchmarks.md), and the release and ASan builds check it. */
#if defined(__SANITIZE_THREAD__)
	const bool check_spread = false;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
	const bool check_spread = false;
#else
	const bool check_spread = true;
#endif
#else
	const bool check_spread = true;
#endif
	int serving = 0;
	for (int r = 0; check_spread && r < 3; r++) {
		assert_true(3 * served[r] <= 2 * total);
		serving += 6 * served[r] >= total;
	}
	assert_true(!check_spread || serving >= 2);
	env_stop(&e);
	proc_rmdir(dir);
}

/* `deletes: 50`: half of the load generator's writes, strong and weak, are DELs on 8 shared keys
 * (4 sessions, one operation at a time). The history names them `"op":"del"` (weak ones with
 * ordered_ns, like weak puts), as many as the report's Deletes line counts; the history is
 * linearizable and causal with them (a DEL that did not remove its key, or a PUT recorded as a
 * DEL, makes a later read contradict it), and the replicas end with equal digests. */
static void run_loadgen_deletes(const char *protocol)
{
	struct cluster_env e;
	char workload[300], hist[300], dir[256];
	bool weak = strcmp(protocol, "curp") != 0;
	snprintf(workload, sizeof workload,
		 "reqs: 400\nclientThreads: 4\npipeline: false\nwrites: 50\nweakRatio: %d\n"
		 "weakWrites: 50\ndeletes: 50\nkeySpace: 8\nseed: 13\n",
		 weak ? 50 : 0);
	char *out = run_history(&e, protocol, workload, dir, hist);
	double rep_dels = grab(out, "^Deletes: ([0-9]+) of [0-9]+ writes");
	double rep_weak = grab(out, "^Deletes: .*\\| weak ([0-9]+)\\)$");
	assert_true(grab(out, "^Errors: ([0-9]+)") == 0);
	free(out);
	struct verify_history vh = {0};
	int bad = 0;
	assert_int_equal(verify_load(hist, &vh, &bad), 0);
	assert_int_equal(vh.n, 1600);
	size_t writes = 0, dels = 0, weak_dels = 0, ordered = 0, absent_reads = 0;
	for (size_t i = 0; i < vh.n; i++) {
		const struct verify_op *o = &vh.ops[i];
		if (o->kind == VERIFY_GET) {
			absent_reads += o->status == VERIFY_OK && o->result == NULL;
			continue;
		}
		writes++;
		if (o->kind != VERIFY_DEL)
			continue;
		dels++;
		assert_null(o->value);
		if (o->weak) {
			weak_dels++;
			ordered += o->ordered_ns >= o->invoke_ns;
		}
	}
	fprintf(stderr,
		"loadgen deletes (%s): %zu writes, %zu DELs (%zu weak), %zu reads of an "
		"absent key\n",
		protocol, writes, dels, weak_dels, absent_reads);
	assert_true(dels * 100 > writes * 35 && dels * 100 < writes * 65);
	assert_true(rep_dels == (double)dels && rep_weak == (double)weak_dels);
	assert_int_equal(ordered, weak_dels);
	if (weak)
		assert_true(weak_dels > 30); /* about 1600 x 50% weak x 50% x 50% = 200 */
	else
		assert_int_equal(weak_dels, 0);
	assert_true(absent_reads > 20); /* keys written then deleted are read absent */
	struct verify_result vr;
	enum verify_status vst = verify_linearizable(&vh, 10000000, &vr);
	verify_print(stdout, &vr);
	assert_int_equal(vst, VERIFY_OK);
	assert_int_equal(vr.values_never_written, 0);
	struct verify_causal_result cr;
	enum verify_status cst =
	    !strcmp(protocol, "curpht") ? verify_causal_per_key(&vh, &cr) : verify_causal(&vh, &cr);
	verify_causal_print(stdout, &cr);
	assert_int_equal(cst, VERIFY_OK);
	verify_free(&vh);
	/* the replicas agree on what the DELs left */
	struct cluster_stats st[ENV_MAX_N];
	struct env_converge x = {.exec = -1, .view = -1, .same_keys = true};
	assert_true(env_wait_converged(&e, &x, 20000, st));
	assert_true(env_stat(&st[0], "keys") <= 8);
	env_stop(&e);
	proc_rmdir(dir);
}

static void test_loadgen_deletes_curp(void **state)
{
	(void)state;
	run_loadgen_deletes("curp");
}

static void test_loadgen_deletes_ho(void **state)
{
	(void)state;
	run_loadgen_deletes("curpho");
}

static void test_loadgen_deletes_ht(void **state)
{
	(void)state;
	run_loadgen_deletes("curpht");
}

static int unhex(const char *h, size_t n, uint8_t *out)
{
	for (size_t i = 0; i < n / 2; i++) {
		unsigned v;
		if (sscanf(h + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (uint8_t)v;
	}
	return (int)(n / 2);
}

/* The load generator's SCANs (curpho, scanRatio 50 of the weak reads): every scan line of the
 * history decodes, lists at most `count` keys, strictly ascending from its start key, and each
 * pair is a value some put of the history wrote to that key; the per-key checker skips them. */
static void test_loadgen_scans(void **state)
{
	(void)state;
	struct cluster_env e;
	char hist[300], dir[256];
	char *out =
	    run_history(&e, "curpho",
			"reqs: 600\nclientThreads: 2\npipeline: true\npendings: 4\nwrites: 30\n"
			"weakRatio: 50\nweakWrites: 30\nscanRatio: 50\nscanCount: 20\n"
			"keySpace: 64\nseed: 11\n",
			dir, hist);
	assert_true(grab(out, "^Total operations: ([0-9]+)") == 1200);
	assert_true(grab(out, "^Errors: ([0-9]+)") == 0);
	free(out);
	char *h = env_slurp(hist);
	assert_non_null(h);
	int scans = 0, pairs = 0;
	static uint8_t res[70000];
	for (char *line = h; *line; line = strchr(line, '\n') + 1) {
		char *op = strstr(line, "\"op\":");
		assert_non_null(op);
		if (strncmp(op, "\"op\":\"scan\"", 11) != 0)
			continue;
		scans++;
		unsigned count = 0;
		assert_int_equal(sscanf(strstr(line, "\"count\":"), "\"count\":%u", &count), 1);
		assert_in_range(count, 1, 20);
		uint8_t start[8];
		assert_int_equal(unhex(strstr(line, "\"key\":\"") + 7, 16, start), 8);
		char *r = strstr(line, "\"result\":\"") + 10;
		size_t rl = strcspn(r, "\"");
		assert_true(rl / 2 <= sizeof res);
		assert_int_equal(unhex(r, rl, res), (int)(rl / 2));
		uint32_t off = 0, kl, vl, n = 0;
		const uint8_t *k, *v;
		uint8_t prev[8];
		memcpy(prev, start, 8);
		int rc;
		while ((rc = proto_scan_next(res, (uint32_t)(rl / 2), &off, &k, &kl, &v, &vl)) ==
		       1) {
			assert_int_equal(kl, 8);
			assert_true(n == 0 ? memcmp(k, prev, 8) >= 0 : memcmp(k, prev, 8) > 0);
			memcpy(prev, k, 8);
			/* the value was written to that key by a put of the history */
			static char needle[2048];
			int m = snprintf(needle, sizeof needle, "\"key\":\"");
			for (int i = 0; i < 8; i++)
				m += snprintf(needle + m, sizeof needle - (size_t)m, "%02x", k[i]);
			m += snprintf(needle + m, sizeof needle - (size_t)m, "\",\"value\":\"");
			for (uint32_t i = 0; i < vl && m < (int)sizeof needle - 3; i++)
				m += snprintf(needle + m, sizeof needle - (size_t)m, "%02x", v[i]);
			assert_non_null(strstr(h, needle));
			n++;
			pairs++;
		}
		assert_int_equal(rc, 0);
		assert_true(n <= count);
	}
	free(h);
	fprintf(stderr, "loadgen scans: %d scans returned %d pairs\n", scans, pairs);
	assert_true(scans > 50);    /* about 1200 x 50% weak x 70% reads x 50% = 210 */
	assert_true(pairs > scans); /* 64 keys, most written early: scans find keys */
	struct verify_history vh = {0};
	int bad = 0;
	assert_int_equal(verify_load(hist, &vh, &bad), 0);
	assert_int_equal(vh.n, 1200 - (size_t)scans);
	verify_free(&vh);
	env_stop(&e);
	proc_rmdir(dir);
}

/* The public API of include/curpkv.h against a live cluster. */
static void test_public_api(void **state)
{
	(void)state;
	struct cluster_env e;
	env_start(&e, 3, NULL);
	curpkv_client *c = NULL;
	assert_int_equal(curpkv_open("/nonexistent/curpkv.conf", NULL, &c), -ENOENT);
	assert_null(c);
	assert_int_equal(curpkv_open(e.conf_path, "client0", &c), 0);
	assert_non_null(c);
	assert_non_null(curpkv_version());
	const char key[] = {'k', 0, 'x'}; /* binary keys are fine */
	assert_int_equal(curpkv_put(c, key, sizeof key, "value-1", 7), 0);
	char buf[4];
	size_t vlen = 0;
	assert_int_equal(curpkv_get(c, key, sizeof key, buf, sizeof buf, &vlen), 0);
	assert_int_equal(vlen, 7); /* full length, even with a small buffer */
	assert_memory_equal(buf, "valu", 4);
	assert_int_equal(curpkv_del(c, key, sizeof key), 0);
	assert_int_equal(curpkv_get(c, key, sizeof key, buf, sizeof buf, &vlen), -ENOENT);
	assert_int_equal(curpkv_del(c, key, sizeof key), 0); /* deleting a missing key succeeds */
	static char big[2000];
	assert_int_equal(curpkv_put(c, big, sizeof big, "v", 1), -EINVAL); /* > maxKeyBytes */
	/* scan: keys in byte order from the start key, walked with curpkv_scan_next */
	assert_int_equal(curpkv_put(c, "s-b", 3, "2", 1), 0);
	assert_int_equal(curpkv_put(c, "s-a", 3, "1", 1), 0);
	assert_int_equal(curpkv_put(c, "s-c", 3, "3", 1), 0);
	char sbuf[256];
	size_t slen = 0, off = 0, kl, vl;
	const void *k, *v;
	assert_int_equal(curpkv_scan(c, "s-", 2, 2, sbuf, sizeof sbuf, &slen), 0);
	assert_int_equal(curpkv_scan_next(sbuf, slen, &off, &k, &kl, &v, &vl), 1);
	assert_int_equal(kl, 3);
	assert_memory_equal(k, "s-a", 3);
	assert_memory_equal(v, "1", 1);
	assert_int_equal(curpkv_scan_next(sbuf, slen, &off, &k, &kl, &v, &vl), 1);
	assert_memory_equal(k, "s-b", 3);
	assert_int_equal(curpkv_scan_next(sbuf, slen, &off, &k, &kl, &v, &vl), 0); /* count 2 */
	assert_int_equal(curpkv_scan(c, "s-", 2, 0, sbuf, sizeof sbuf, &slen), -EINVAL);
	/* a buffer too small: the full length is reported and walking stops at the cut */
	assert_int_equal(curpkv_scan(c, "s-", 2, 3, sbuf, 10, &slen), 0);
	assert_int_equal(slen, 3 * (8 + 3 + 1));
	off = 0;
	assert_int_equal(curpkv_scan_next(sbuf, 10, &off, &k, &kl, &v, &vl), -EBADMSG);
	/* append: exactly once each; past maxValueBytes (64 KiB) refused and nothing changes */
	static char chunk[40 * 1024], got[80 * 1024];
	memset(chunk, 'x', sizeof chunk);
	assert_int_equal(curpkv_append(c, "ap", 2, "12", 2), 0);
	assert_int_equal(curpkv_append(c, "ap", 2, chunk, sizeof chunk), 0);
	assert_int_equal(curpkv_append(c, "ap", 2, chunk, sizeof chunk), -EIO);
	assert_int_equal(curpkv_get(c, "ap", 2, got, sizeof got, &vlen), 0);
	assert_int_equal(vlen, 2 + sizeof chunk);
	assert_memory_equal(got, "12", 2);
	assert_memory_equal(got + 2, chunk, sizeof chunk);
	curpkv_close(c);
	env_stop(&e);
}

/* How many of pid's threads run under SCHED_BATCH (*batch) out of how many (returned): field 41
 * of /proc/<pid>/task/<tid>/stat, the policy (3). */
static int threads_batch(pid_t pid, int *batch)
{
	char dir[64];
	snprintf(dir, sizeof dir, "/proc/%d/task", (int)pid);
	DIR *d = opendir(dir);
	assert_non_null(d);
	int n = 0;
	*batch = 0;
	for (struct dirent *de; (de = readdir(d)) != NULL;) {
		if (de->d_name[0] == '.')
			continue;
		char path[sizeof dir + sizeof de->d_name + 8];
		snprintf(path, sizeof path, "%s/%s/stat", dir, de->d_name);
		char st[1024]; /* (a /proc file has no size to read up to: one line) */
		FILE *f = fopen(path, "r");
		if (f == NULL)
			continue; /* the thread ended */
		bool got = fgets(st, sizeof st, f) != NULL;
		fclose(f);
		if (!got)
			continue;
		/* fields after the command's closing parenthesis start at the third (state) */
		char *p = strrchr(st, ')');
		assert_non_null(p);
		int field = 2;
		for (char *tok = strtok(p + 1, " "); tok; tok = strtok(NULL, " "))
			if (++field == 41) {
				*batch += atoi(tok) == SCHED_BATCH;
				break;
			}
		assert_int_equal(field, 41);
		n++;
	}
	closedir(d);
	return n;
}

/* schedBatch: every thread of the master and of each replica runs under SCHED_BATCH, the load
 * generator says it does, and a run completes as usual. */
static void test_sched_batch(void **state)
{
	(void)state;
	struct cluster_env e;
	char dir[256];
	assert_int_equal(proc_tmpdir(dir), 0);
	env_start(&e, 3, "schedBatch: true\nreqs: 300\nclientThreads: 2\npipeline: true\n"
			 "pendings: 4\nweakRatio: 50\nwrites: 20\nkeySpace: 100\n");
	for (int i = 0; i <= e.n; i++) {
		const struct proc *p = i < e.n ? &e.replicas[i] : &e.master;
		int batch, n = threads_batch(p->pid, &batch);
		printf("# %s: %d of %d threads under SCHED_BATCH\n", p->name, batch, n);
		assert_true(n >= 1);
		assert_int_equal(batch, n);
		env_expect_log(&e, p, "threads run under SCHED_BATCH", 1000);
	}
	free(run_client0_clean(&e, dir, 600));
	char err[700];
	snprintf(err, sizeof err, "%s/client0.err", dir);
	char *cerr = env_slurp(err);
	assert_non_null(cerr);
	assert_non_null(strstr(cerr, "threads run under SCHED_BATCH"));
	free(cerr);
	env_stop(&e);
	proc_rmdir(dir);
}

/* Each replica's connections so far (into opened and local; the stats connection itself is
 * one): every one authenticated, none refused. */
static void conn_counts(struct cluster_env *e, uint64_t opened[], uint64_t local[])
{
	char err[NET_ERR_LEN];
	for (int r = 0; r < e->n; r++) {
		struct cluster_stats st;
		int rc = cluster_stats(e->conf, &e->s, r, 5.0, &st, err);
		if (rc != 0)
			fprintf(stderr, "replica%d's stats: %s\n", r, err);
		assert_int_equal(rc, 0);
		opened[r] = env_stat(&st, "conns_opened");
		local[r] = env_stat(&st, "conns_local");
		printf("# replica%d: %llu connections, %llu local, %llu authenticated\n", r,
		       (unsigned long long)opened[r], (unsigned long long)local[r],
		       (unsigned long long)env_stat(&st, "auth_ok"));
		assert_int_equal(env_stat(&st, "auth_failed"), 0);
		assert_int_equal(env_stat(&st, "role_violations"), 0);
	}
}

/* Runs client0 and checks that every connection a replica got meanwhile (the load generator's,
 * the stats one), all made while every listener was up, is a Unix socket. */
static void load_all_local(struct cluster_env *e, const char *dir)
{
	uint64_t o0[3], l0[3], o1[3], l1[3];
	conn_counts(e, o0, l0);
	free(run_client0_clean(e, dir, 600));
	conn_counts(e, o1, l1);
	for (int r = 0; r < e->n; r++) {
		assert_true(o1[r] - o0[r] >= 3); /* two client threads and a stats connection */
		assert_int_equal(l1[r] - l0[r], o1[r] - o0[r]);
	}
}

/* localSockets with a secret, on 3 replicas: connections are Unix sockets, authenticated, and a
 * replica's peers pass the address check (a Unix peer is on this host: replica2, started last,
 * dials replicas 0 and 1 when they are up, so their HELLO check runs on Unix sockets and
 * role_violations stays 0 only with that rule). All the processes start at once, and a dialer
 * whose second refused Unix connect comes just before its peer binds its name and listens on
 * TCP still lands on TCP (docs/architecture.md: rare, one connection at most here), so at start
 * a replica may have one TCP connection; connections made once everything is up are all Unix
 * sockets. The leader killed and restarted takes its name again (a killed process leaves none
 * behind) and a second load completes under the new view, over Unix sockets. */
static void test_local_sockets(void **state)
{
	(void)state;
	struct cluster_env e;
	char dir[256];
	assert_int_equal(proc_tmpdir(dir), 0);
	env_start(&e, 3, "localSockets: true\nsecret: local-sockets-secret-0123456789\n"
			 "heartbeatMs: 50\nleaderTimeoutMs: 300\n"
			 "reqs: 300\nclientThreads: 2\npipeline: true\npendings: 4\n"
			 "weakRatio: 50\nwrites: 20\nkeySpace: 100\n");
	uint64_t opened[3], local[3];
	conn_counts(&e, opened, local);
	for (int r = 0; r < e.n; r++)
		assert_true(local[r] + 1 >= opened[r]);
	load_all_local(&e, dir);

	proc_signal(&e.replicas[0], SIGKILL); /* the leader of view 0 */
	assert_int_equal(proc_wait(&e.replicas[0], 5000), 128 + SIGKILL);
	env_start_replica(&e, 0, 1);
	env_expect_log(&e, &e.replicas[0], "serving: view", 30000);
	load_all_local(&e, dir);
	env_stop(&e);
	proc_rmdir(dir);
}

/* A cluster started without localSockets, reached by the CLI and a load generator whose conf
 * has it: nothing listens on the names, so each dialer asks once more, then goes over TCP, and no
 * caller takes the missing name for a peer that is down (with the first refusal counted as a
 * failed attempt, `curpkv put` said "cannot reach the master" and exited 3). */
static void test_local_sockets_mixed(void **state)
{
	(void)state;
	struct cluster_env e;
	char dir[256];
	assert_int_equal(proc_tmpdir(dir), 0);
	env_start(&e, 3, "reqs: 200\nclientThreads: 2\npipeline: true\npendings: 4\nkeySpace: 100\n");
	FILE *f = fopen(e.conf_path, "a"); /* the running processes read it already */
	assert_non_null(f);
	fputs("localSockets: true\n", f);
	assert_int_equal(fclose(f), 0);
	char *put[] = {"put", "mixed", "over tcp", NULL};
	env_cli_expect(&e, put, 0, NULL);
	char *get[] = {"get", "mixed", NULL};
	env_cli_expect(&e, get, 0, "over tcp\n");
	free(run_client0_clean(&e, dir, 400));
	uint64_t opened[3], local[3];
	conn_counts(&e, opened, local);
	for (int r = 0; r < e.n; r++)
		assert_int_equal(local[r], 0);
	env_stop(&e);
	proc_rmdir(dir);
}

int main(void)
{
	ce_main_init();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_loadgen_process, env_teardown),
	    cmocka_unit_test_teardown(test_loadgen_scans, env_teardown),
	    cmocka_unit_test_teardown(test_loadgen_appends_leader_killed, env_teardown),
	    cmocka_unit_test_teardown(test_cli, env_teardown),
	    cmocka_unit_test_teardown(test_loadgen_weak_history_ho, env_teardown),
	    cmocka_unit_test_teardown(test_loadgen_weak_history_ht, env_teardown),
	    cmocka_unit_test_teardown(test_loadgen_weak_reads_spread, env_teardown),
	    cmocka_unit_test_teardown(test_loadgen_deletes_curp, env_teardown),
	    cmocka_unit_test_teardown(test_loadgen_deletes_ho, env_teardown),
	    cmocka_unit_test_teardown(test_loadgen_deletes_ht, env_teardown),
	    cmocka_unit_test_teardown(test_public_api, env_teardown),
	    cmocka_unit_test_teardown(test_sched_batch, env_teardown),
	    cmocka_unit_test_teardown(test_local_sockets, env_teardown),
	    cmocka_unit_test_teardown(test_local_sockets_mixed, env_teardown),
	};
	return cmocka_run_group_tests_name("cluster_clients", tests, NULL, NULL);
}
