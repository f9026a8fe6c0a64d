/* System tests, hybrid consistency: curpho and curpht with weak operations on real processes.
 *
 * 8 sessions (window 1, tests/cluster_env.c) share 16 keys; half the operations are weak, half
 * are writes (PUTs of values unique in the run). The replicas write an execution log (-xlog:
 * where each command executed); with the slots the sessions learned, it gives an exact
 * certificate, the slot certificate of verify/slots.c that the simulation uses too
 * (verify_slots, with its stricter checks: dense slots, session order and real time across
 * keys):
 *  - every write is ordered exactly once and the slots are dense (nothing acknowledged is lost);
 *  - no read returns a value that was never written;
 *  - a strong read returns the latest write ordered before it (weak writes included);
 *  - strong operations are ordered consistently with real time, and each session's ordered
 *    operations are in session order (monotonic writes, C2);
 *  - per session and key, a read (weak or strong) never returns anything older than the
 *    session's own earlier writes or its earlier reads (read-your-writes, monotonic reads);
 *  - the strong operations, with weak writes as writes that take effect between their invocation
 *    and the moment their slot was learned, pass the linearizability checker (verify/), and
 *    (curpho) every operation the causal checker;
 *  - the replicas end with identical digests and empty witness tables. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <glob.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/cluster_env.h"
#include "verify/verify.h"

#define HY_SESSIONS 8
#define HY_KEYS	    16
#define HY_OPS	    20000

/* A run and where the replicas executed each of its operations (UINT64_MAX: in no log). */
struct hy {
	struct ce_run *r;
	const char *dir;
	uint64_t *xslot;
	uint64_t lines;
	int files;
};

static bool slotted(const struct ce_op *o)
{
	return o->op != PROTO_OP_GET || !o->weak;
}

/* One pass over the replicas' execution logs (-xlog files in dir, whole lines only): checks
 * that they agree (one command per slot, one slot per command, across every replica and
 * process) and sets each operation's xslot. Returns how many slotted operations are still not
 * seen (a follower's log may lag its flush). */
static uint32_t xlog_pass(struct hy *y)
{
	struct ce_run *r = y->r;
	char pat[600];
	snprintf(pat, sizeof pat, "%s/replica*.xlog", y->dir);
	glob_t g;
	int grc = glob(pat, 0, NULL, &g);
	assert_true(grc == 0 || grc == GLOB_NOMATCH);
	/* slot -> the command executed there: (client, seq); client 0 = none seen */
	uint64_t cap = 1024, *at_client = calloc(cap, 8), *at_seq = calloc(cap, 8);
	assert_true(at_client && at_seq);
	uint64_t client_of[HY_SESSIONS];
	for (int s = 0; s < HY_SESSIONS; s++)
		client_of[s] = session_client_id(cluster_session_get(r->s[s].cs));
	for (uint32_t i = 0; i < r->n_ops; i++)
		y->xslot[i] = UINT64_MAX;
	y->lines = 0;
	y->files = grc == 0 ? (int)g.gl_pathc : 0;
	for (size_t f = 0; grc == 0 && f < g.gl_pathc; f++) {
		FILE *in = fopen(g.gl_pathv[f], "r");
		assert_non_null(in);
		char line[128];
		while (fgets(line, sizeof line, in)) {
			unsigned long long slot, client, seq;
			if (strchr(line, '\n') == NULL)
				break; /* the last line, half flushed */
			if (sscanf(line, "%llu %llu %llu", &slot, &client, &seq) != 3 ||
			    client == 0)
				fail_msg("%s: not an execution log line: %s", g.gl_pathv[f], line);
			y->lines++;
			while (slot >= cap) {
				at_client = realloc(at_client, 2 * cap * 8);
				at_seq = realloc(at_seq, 2 * cap * 8);
				assert_true(at_client && at_seq);
				memset(at_client + cap, 0, cap * 8);
				memset(at_seq + cap, 0, cap * 8);
				cap *= 2;
			}
			if (at_client[slot] == 0) {
				at_client[slot] = client;
				at_seq[slot] = seq;
			} else if (at_client[slot] != client || at_seq[slot] != seq) {
				fail_msg("slot %llu: %s executed client %llu seq %llu, another "
					 "replica client %llu seq %llu",
					 slot, g.gl_pathv[f], client, seq,
					 (unsigned long long)at_client[slot],
					 (unsigned long long)at_seq[slot]);
			}
			for (int s = 0; s < HY_SESSIONS; s++) {
				if (client_of[s] != client)
					continue;
				if (seq == 0 || seq > r->s[s].submitted)
					fail_msg("%s: client %llu seq %llu was never submitted",
						 g.gl_pathv[f], client, seq);
				uint32_t i = r->s[s].by_seq[seq];
				if (y->xslot[i] != UINT64_MAX && y->xslot[i] != slot)
					fail_msg(
					    "session %d seq %llu executed at slots %llu and %llu",
					    s, seq, (unsigned long long)y->xslot[i], slot);
				y->xslot[i] = slot;
			}
		}
		fclose(in);
	}
	if (grc == 0)
		globfree(&g);
	free(at_client);
	free(at_seq);
	uint32_t missing = 0;
	for (uint32_t i = 0; i < r->n_ops; i++)
		missing += slotted(&r->ops[i]) && y->xslot[i] == UINT64_MAX;
	return missing;
}

static bool xlogs_whole(void *arg)
{
	return xlog_pass(arg) == 0;
}

/* The replicas' execution logs against the slots the sessions learned: each slotted operation
 * takes the slot where it executed. The two differ only when the leader was killed, for a
 * command completed on the fast path (or a weak write ordered) by the deposed leader whose slot
 * no survivor had accepted: the view change replayed it from witness records at another slot. */
static void xlog_check(struct hy *y)
{
	struct ce_run *r = y->r;
	if (!env_until(10000, 50, xlogs_whole, y)) {
		for (uint32_t i = 0; i < r->n_ops; i++) {
			const struct ce_op *o = &r->ops[i];
			if (slotted(o) && y->xslot[i] == UINT64_MAX)
				fail_msg("op %u (session %d seq %llu, %s %s, slot %llu) is in no "
					 "execution log",
					 i, o->sess, (unsigned long long)o->seq,
					 o->weak ? "weak" : "strong",
					 o->op == PROTO_OP_GET ? "read" : "write",
					 (unsigned long long)o->slot);
		}
	}
	uint32_t moved = 0;
	for (uint32_t i = 0; i < r->n_ops; i++) {
		struct ce_op *o = &r->ops[i];
		if (!slotted(o) || o->slot == y->xslot[i])
			continue;
		if (r->killed_ns == 0 ||
		    (o->path != SESSION_PATH_FAST && o->path != SESSION_PATH_WEAK))
			fail_msg("op %u (session %d seq %llu, %s %s, path %d) was reported at slot "
				 "%llu and executed at slot %llu",
				 i, o->sess, (unsigned long long)o->seq,
				 o->weak ? "weak" : "strong",
				 o->op == PROTO_OP_GET ? "read" : "write", o->path,
				 (unsigned long long)o->slot, (unsigned long long)y->xslot[i]);
		fprintf(stderr,
			"  moved by the view change: session %d seq %llu %s %s, path %d, completed "
			"%+.1f ms from the kill: slot %llu -> %llu\n",
			o->sess, (unsigned long long)o->seq, o->weak ? "weak" : "strong",
			o->op == PROTO_OP_GET ? "read" : "write", o->path,
			((double)o->complete_ns - (double)r->killed_ns) / 1e6,
			(unsigned long long)o->slot, (unsigned long long)y->xslot[i]);
		o->slot = y->xslot[i];
		o->moved = true;
		moved++;
	}
	fprintf(stderr,
		"execution logs: %d files, %llu lines agree (one command per slot, one slot per "
		"command); %u slots reported by sessions moved by a view change\n",
		y->files, (unsigned long long)y->lines, moved);
}

static char *hexdup(const void *p, size_t n)
{
	const uint8_t *b = p;
	char *out = malloc(2 * n + 1);
	assert_non_null(out);
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
	return out;
}

/* Operation o as the history checkers see it (key and values in hex). */
static struct verify_op history_op(const struct ce_op *o, bool weak)
{
	struct verify_op v = {.session = (uint64_t)o->sess + 1,
			      .seq = o->seq,
			      .kind = o->op == PROTO_OP_PUT ? VERIFY_PUT : VERIFY_GET,
			      .weak = weak,
			      .invoke_ns = o->invoke_ns,
			      .complete_ns = o->complete_ns,
			      .status = VERIFY_OK};
	uint64_t key = o->key; /* (the checkers' key: any unique bytes per key) */
	v.key = hexdup(&key, 8);
	char val[24];
	snprintf(val, sizeof val, "v%u", o->val);
	if (o->op == PROTO_OP_PUT)
		v.value = hexdup(val, strlen(val));
	else if (o->val)
		v.result = hexdup(val, strlen(val));
	return v;
}

/* The certificate (the header comment) on the slots where the replicas executed each
 * operation, then the history checkers. Returns the number of slotted operations. */
static uint64_t hy_check(struct hy *y, bool ho)
{
	struct ce_run *r = y->r;
	uint32_t n = r->n_ops;
	xlog_check(y);
	struct verify_sop *sop = calloc(n, sizeof *sop);
	char(*vals)[2][16] = calloc(n, sizeof *vals); /* [written, read] */
	assert_true(sop && vals);
	uint64_t slots = 0, writes = 0, strong_reads = 0, weak_reads = 0;
	for (uint32_t i = 0; i < n; i++) {
		const struct ce_op *o = &r->ops[i];
		assert_true(o->done);
		bool put = o->op == PROTO_OP_PUT;
		snprintf(vals[i][0], sizeof vals[i][0], "v%u", o->val);
		/* a value of the run, or one no write of it can have written */
		snprintf(vals[i][1], sizeof vals[i][1], o->val == UINT32_MAX ? "?" : "v%u", o->val);
		sop[i] =
		    (struct verify_sop){.session = (uint64_t)o->sess,
					.seq = o->seq,
					.op = o->op,
					.weak = o->weak,
					.key = o->key,
					.val = put ? vals[i][0] : NULL,
					.found = !put && o->val != 0,
					.result = !put && o->val ? vals[i][1] : NULL,
					.rlen = !put && o->val ? (uint32_t)strlen(vals[i][1]) : 0,
					.invoke = o->invoke_ns,
					.complete = o->complete_ns,
					.slot = o->slot,
					.has_slot = o->slot != UINT64_MAX,
					.moved = o->moved};
		slots += slotted(o);
		writes += put;
		strong_reads += !put && !o->weak;
		weak_reads += !put && o->weak;
	}
	struct verify_slots_run run = {.ops = sop,
				       .n = n,
				       .nkeys = HY_KEYS,
				       .dense = true,
				       .session_order = true,
				       .real_time_all_keys = true};
	struct verify_slots_result res;
	if (verify_slots(&run, &res) != VERIFY_OK)
		fail_msg("slot certificate: %s", res.first_violation);
	free(vals);
	free(sop);

	/* the linearizability checker over the strong operations and the (ordered) weak writes;
	 * a weak write takes effect by the time its slot is known here at the latest */
	struct verify_history h = {0};
	for (uint32_t i = 0; i < n; i++) {
		const struct ce_op *o = &r->ops[i];
		if (o->weak && o->op == PROTO_OP_GET)
			continue;
		struct verify_op v = history_op(o, false);
		if (o->weak)
			v.complete_ns = o->slot_ns > v.invoke_ns ? o->slot_ns : v.invoke_ns;
		assert_int_equal(verify_add(&h, &v), 0);
	}
	struct verify_result vr;
	enum verify_status vs = verify_linearizable(&h, 50u * 1000 * 1000, &vr);
	verify_print(stderr, &vr);
	assert_int_not_equal(vs, VERIFY_FAIL);
	assert_int_equal(vr.values_never_written, 0);
	verify_free(&h);

	/* curpho: the causal checker over every operation, weak reads included (sessions run one
	 * at a time here), with the times the sessions saw (curpht's guarantees are per key) */
	if (ho) {
		for (uint32_t i = 0; i < n; i++) {
			struct verify_op v = history_op(&r->ops[i], r->ops[i].weak);
			assert_int_equal(verify_add(&h, &v), 0);
		}
		struct verify_causal_result cr;
		enum verify_status cs = verify_causal(&h, &cr);
		verify_causal_print(stderr, &cr);
		assert_int_equal(cs, VERIFY_OK);
		assert_int_equal(cr.ops_checked, n);
		verify_free(&h);
	}
	fprintf(stderr,
		"hybrid: %u ops, %llu writes, %llu strong reads, %llu weak reads: certificate "
		"checks passed\n",
		n, (unsigned long long)writes, (unsigned long long)strong_reads,
		(unsigned long long)weak_reads);
	return slots;
}

/* A command of the shell client and its output: the bounded wait's condition (a new process
 * is a new session: no causal tie to a writer, so its weak read may see its replica a moment
 * behind, and must converge). */
struct cli_until {
	struct cluster_env *e;
	char **args;
	const char *want;
	int status;
};

static bool cli_says(void *arg)
{
	struct cli_until *c = arg;
	char *out;
	c->status = env_cli(c->e, c->e->dir, c->args, &out);
	bool seen = c->status == 0 && out && strcmp(out, c->want) == 0;
	free(out);
	return seen;
}

/* local >= 0: the client is co-located with that replica (Proxy section), so every session binds
 * to it; otherwise sessions bind by measured RTT. With kill_leader: the leader is killed
 * (SIGKILL) 0.5 s into the run and started again once it ended; the view change replays weak
 * writes and strong commands from witness records (7.2), and the same history checks apply. */
static void run_hybrid_k(int n, const char *protocol, int local, bool kill_leader)
{
	struct cluster_env e;
	char extra[200];
	const char *hb = kill_leader ? "heartbeatMs: 50\nleaderTimeoutMs: 300\n" : "";
	if (local >= 0)
		snprintf(extra, sizeof extra,
			 "weakRatio: 50\n%s-- Proxy --\nserver_alias replica%d\nclient0 "
			 "(local)\n---\n",
			 hb, local);
	else
		snprintf(extra, sizeof extra, "weakRatio: 50\n%s", hb);
	env_protocol = protocol;
	env_xlog = true;
	env_start(&e, n, extra);
	env_protocol = "curp";
	env_xlog = false;
	/* (a kill at a fixed count of operations alone showed the limit of the slot certificate
	 * here more often: docs/testing.md, "Hybrid (weak + strong) runs"); half-way through the
	 * operations if the run gets there before 0.5 s: on 2026-12-07 a faster build finished
	 * all 20,000 before 0.5 s, the kill never came and the test failed waiting for it */
	struct ce_fault kill = {
	    .p = &e.replicas[0], .at_s = 0.5, .at_ops = HY_OPS / 2, .kill9 = true};
	struct ce_cfg cfg = {.sessions = HY_SESSIONS,
			     .per_session = HY_OPS / HY_SESSIONS,
			     .keys = HY_KEYS,
			     .shared_keys = true,
			     .weak_pct = 50,
			     .put_pct = 50,
			     .seed = 4242 + 100 * (uint64_t)n,
			     .watchdog_s = 120.0,
			     .connect_grace_s = kill_leader ? 0.5 : 0,
			     .fault = kill_leader ? &kill : NULL,
			     .drain_slots = true};
	struct ce_run *r = ce_drive(e.conf, &e.s, &cfg);
	struct session_stats st;
	ce_session_stats(r, &st);
	uint64_t stalls = 0;
	for (int i = 0; i < HY_SESSIONS; i++)
		stalls += r->s[i].stalls;
	fprintf(stderr,
		"%s N=%d: strong fast %llu, slow %llu, retry %llu; weak %llu; HO checks "
		"refused %llu; submissions deferred (a read write not ordered yet) %llu\n",
		protocol, n, (unsigned long long)st.fast, (unsigned long long)st.slow,
		(unsigned long long)st.retry, (unsigned long long)st.weak,
		(unsigned long long)st.ho_check_failed, (unsigned long long)stalls);
	assert_int_equal(st.fast + st.slow + st.retry + st.weak, HY_OPS);
	assert_true(st.weak > HY_OPS / 3);
	if (local >= 0)
		for (int i = 0; i < HY_SESSIONS; i++)
			assert_int_equal(session_bound(cluster_session_get(r->s[i].cs)), local);
	struct hy y = {.r = r, .dir = e.dir, .xslot = calloc(r->n_ops, sizeof *y.xslot)};
	assert_non_null(y.xslot);
	uint64_t slotted_ops = hy_check(&y, !strcmp(protocol, "curpho"));
	free(y.xslot);
	ce_run_free(r);
	if (kill_leader) {
		assert_int_equal(proc_wait(&e.replicas[0], 5000), 128 + SIGKILL);
		env_start_replica(&e, 0, 2);
		struct cluster_stats cs[ENV_MAX_N];
		struct env_converge x = {.exec = -1, .view = -1, .serving = true, .active = true};
		assert_true(env_wait_converged(&e, &x, 10000, cs));
		int leader = (int)env_stat(&cs[0], "leader");
		fprintf(stderr,
			"%s N=%d, leader killed: view %llu, %llu commands replayed from witness "
			"records, the view change took %.1f ms\n",
			protocol, n, (unsigned long long)env_stat(&cs[leader], "view"),
			(unsigned long long)env_stat(&cs[leader], "vc_recovered"),
			env_stat(&cs[leader], "vc_last_us") / 1000.0);
		ce_check_replicas(&e, slotted_ops);
		env_stop(&e);
		return;
	}
	ce_check_replicas(&e, slotted_ops);

	/* the shell client's weak operations: a weak write, read back weakly and strongly */
	char *out;
	char *wput[] = {"put", "--weak", "cli-key", "cli-value", NULL};
	assert_int_equal(env_cli(&e, e.dir, wput, &out), 0);
	free(out);
	char *wget[] = {"get", "--weak", "cli-key", NULL};
	char *sget[] = {"get", "cli-key", NULL};
	assert_int_equal(env_cli(&e, e.dir, sget, &out), 0);
	assert_string_equal(out, "cli-value\n");
	free(out);
	struct cli_until weak_get = {.e = &e, .args = wget, .want = "cli-value\n"};
	assert_true(env_until(1000, 20, cli_says, &weak_get));
	char *wdel[] = {"del", "--weak", "cli-key", NULL};
	assert_int_equal(env_cli(&e, e.dir, wdel, &out), 0);
	free(out);
	assert_int_equal(env_cli(&e, e.dir, sget, &out), 1);
	free(out);
	/* scans: strong (slow path) and weak (a new session: converges, bounded) */
	char *zput[] = {"put", "zz-cli", "v", NULL};
	assert_int_equal(env_cli(&e, e.dir, zput, &out), 0);
	free(out);
	char *sscan[] = {"scan", "zz-", "3", NULL};
	assert_int_equal(env_cli(&e, e.dir, sscan, &out), 0);
	assert_string_equal(out, "zz-cli\tv\n");
	free(out);
	char *wscan[] = {"scan", "--weak", "zz-", "3", NULL};
	struct cli_until weak_scan = {.e = &e, .args = wscan, .want = "zz-cli\tv\n"};
	assert_true(env_until(1000, 20, cli_says, &weak_scan));
	env_stop(&e);
}

static void run_hybrid(int n, const char *protocol, int local)
{
	run_hybrid_k(n, protocol, local, false);
}

static void test_hybrid_ho_3_leader_killed(void **state)
{
	(void)state;
	run_hybrid_k(3, "curpho", -1, true);
}

static void test_hybrid_ht_3_leader_killed(void **state)
{
	(void)state;
	run_hybrid_k(3, "curpht", -1, true);
}

static void test_hybrid_ho_5_leader_killed(void **state)
{
	(void)state;
	run_hybrid_k(5, "curpho", -1, true);
}

static void test_hybrid_ho_3(void **state)
{
	(void)state;
	run_hybrid(3, "curpho", 1); /* bound to a follower */
}

static void test_hybrid_ho_5(void **state)
{
	(void)state;
	run_hybrid(5, "curpho", -1);
}

static void test_hybrid_ht_3(void **state)
{
	(void)state;
	run_hybrid(3, "curpht", 2);
}

static void test_hybrid_ht_5(void **state)
{
	(void)state;
	run_hybrid(5, "curpht", -1);
}

int main(void)
{
	ce_main_init();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_hybrid_ho_3, env_teardown),
	    cmocka_unit_test_teardown(test_hybrid_ho_5, env_teardown),
	    cmocka_unit_test_teardown(test_hybrid_ht_3, env_teardown),
	    cmocka_unit_test_teardown(test_hybrid_ht_5, env_teardown),
	    cmocka_unit_test_teardown(test_hybrid_ho_3_leader_killed, env_teardown),
	    cmocka_unit_test_teardown(test_hybrid_ho_5_leader_killed, env_teardown),
	    cmocka_unit_test_teardown(test_hybrid_ht_3_leader_killed, env_teardown),
	};
	return cmocka_run_group_tests_name("cluster_hybrid", tests, NULL, NULL);
}
