/* Deterministic simulation (TESTING.md tier 2): the protocol cores of N replicas and several
 * client sessions in one process over the harness's seeded channels, with message loss,
 * duplication, reordering across connections and follower crashes (never more than f down at
 * once; a crashed follower keeps its state: see h_crash), in simulated time. Each run's history
 * is checked: a slot certificate (every strong read returns the latest write ordered before it;
 * strong operations ordered consistently with real time; per session read-your-writes,
 * monotonic reads and monotonic writes, for weak operations too), the per-key linearizability
 * checker over the strong operations and weak writes, weak reads only of written values,
 * exactly-once execution, and identical replicas at the end.
 *
 *   tests/test_sim                     the make-check sweep (TAP)
 *   tests/test_sim --seeds A-B [--protocol P] [--n N] [--keep-going]
 *                                      more seeds (scripts/sim.sh); with --keep-going every
 *                                      seed runs and each failing one is printed
 *   tests/test_sim --seed S --protocol P --n N [-v]     replay one run exactly
 * A mutant build (-DCURPKV_MUTANT_*, tests/sim_mutant_*) instead succeeds when some seed fails.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/sim.h"

static void op_done(void *arg, uint64_t seq, enum session_result res, enum session_path path,
		    const uint8_t *value, uint32_t vlen)
{
	struct sim_op *o = arg;
	(void)seq;
	(void)path;
	o->done = true;
	o->res = res;
	o->found = res == SESSION_OK && o->op == PROTO_OP_GET;
	if (o->found) {
		uint32_t n = vlen < sizeof o->result - 1 ? vlen : (uint32_t)sizeof o->result - 1;
		memcpy(o->result, value, n);
		o->result[n] = 0;
	}
}

static void on_ordered(struct harness *h, int sess, uint64_t seq, uint64_t slot)
{
	struct sim *s = h->user;
	if (seq > SIM_MAX_OPS || s->by_seq[sess][seq] == 0)
		return;
	struct sim_op *o = &s->ops[s->by_seq[sess][seq] - 1];
	(void)slot; /* a slot heard from a deposed leader may not be where it executes */
	if (o->ordered_at == 0)
		o->ordered_at = h->now;
}

static void on_executed(struct harness *h, int r, int sess, uint64_t seq, uint64_t slot)
{
	struct sim *s = h->user;
	if (seq > SIM_MAX_OPS || s->by_seq[sess][seq] == 0) {
		sim_failf(s, "replica %d executed session %d seq %" PRIu64 ", never submitted", r,
			  sess, seq);
		return;
	}
	struct sim_op *o = &s->ops[s->by_seq[sess][seq] - 1];
#ifndef CURPKV_SIM_BLACKBOX /* (a build that checks the histories only) */
	if (++o->execs[r] > 1)
		sim_failf(s, "replica %d executed session %d seq %" PRIu64 " twice", r, sess, seq);
	if (o->has_slot && o->slot != slot)
		sim_failf(s,
			  "session %d seq %" PRIu64 " executed at slots %" PRIu64 " and %" PRIu64,
			  sess, seq, o->slot, slot);
#endif
	o->slot = slot;
	o->has_slot = true;
}

static void issue(struct sim *s, int sess)
{
	struct sim_cfg *c = &s->cfg;
	if (s->issued[sess] >= c->ops_per_session || s->inflight[sess] >= (int)c->window ||
	    s->nops >= SIM_MAX_OPS)
		return;
	struct sim_op *o = &s->ops[s->nops];
	memset(o, 0, sizeof *o);
	o->sess = sess;
	o->weak = c->protocol != CONF_PROTO_CURP && common_rng_coin(&s->rng, c->weak_pct);
	uint64_t r = common_rng_below(&s->rng, 100);
	o->op = r < 50 ? PROTO_OP_GET : r < 92 ? PROTO_OP_PUT : PROTO_OP_DEL;
	o->key = common_rng_below(&s->rng, SIM_KEYS);
	if (c->protocol == CONF_PROTO_CURP && common_rng_coin(&s->rng, 30)) {
		o->key = SIM_APPEND_KEY; /* (other protocols draw as before: same runs) */
		o->op = r < 40 ? PROTO_OP_GET : PROTO_OP_APPEND;
	}
	uint8_t key[8];
	for (int i = 0; i < 8; i++)
		key[i] = (uint8_t)(o->key >> (56 - 8 * i));
	struct proto_cmd cmd = {.op = o->op, .key = key, .klen = 8};
	if (o->op == PROTO_OP_APPEND) {
		snprintf(o->val, sizeof o->val, "%02d%06d", sess, s->issued[sess] + 1);
		cmd.val = (const uint8_t *)o->val;
		cmd.vlen = SIM_ELEM;
	}
	if (o->op == PROTO_OP_PUT) {
		snprintf(o->val, sizeof o->val, "s%d-%d", sess, s->issued[sess] + 1);
		cmd.val = (const uint8_t *)o->val;
		cmd.vlen = (uint32_t)strlen(o->val);
	}
	o->invoke = s->h.now;
	int64_t seq = o->weak ? session_submit_weak(s->h.sess[sess], &cmd, op_done, o, s->h.now)
			      : session_submit(s->h.sess[sess], &cmd, op_done, o, s->h.now);
	if (seq == -EAGAIN)
		return; /* HO: weak writes not yet executed fill the window */
	if (seq <= 0 || seq > SIM_MAX_OPS) {
		sim_failf(s, "submit returned %" PRId64, seq);
		return;
	}
	o->seq = (uint64_t)seq;
	s->by_seq[sess][seq] = s->nops + 1;
	s->nops++;
	s->issued[sess]++;
	s->inflight[sess]++;
}

static bool all_done(struct sim *s)
{
	for (int i = 0; i < s->cfg.nsess; i++)
		if (s->issued[i] < s->cfg.ops_per_session || s->inflight[i] > 0 ||
		    session_unsettled(s->h.sess[i]) > 0)
			return false;
	return true;
}

/* Collects completions (callbacks only mark ops done) and stamps their completion time. */
static void reap(struct sim *s)
{
	for (int i = 0; i < s->nops; i++) {
		struct sim_op *o = &s->ops[i];
		if (o->done && o->complete == 0) {
			o->complete = s->h.now;
			s->inflight[o->sess]--;
		}
	}
}

/* A replica restarted without its state counts as down until it has rejoined (7.3). */
static bool rejoining(struct sim *s, int r)
{
	struct core_stats st;
	core_get_stats(s->h.cores[r], &st);
	return !s->h.down[r] && st.rejoining;
}

static void faults(struct sim *s)
{
	int f = (s->cfg.n - 1) / 2;
	struct harness *h = &s->h;
	for (int r = 0; r < s->cfg.n; r++)
		if (h->cut[r] && h->now >= s->up_at[r]) {
			h->cut[r] = false;
			s->ndown--;
			if (s->verbose)
				fprintf(stderr, "sim: t=%" PRIu64 " replica %d reconnected\n",
					h->now, r);
		} else if (h->down[r] && h->now >= s->up_at[r]) {
			bool fresh = common_rng_below(&s->rng, 100) < s->cfg.amnesia_pct;
			if (fresh && r == h->leader)
				continue; /* still the leader: a new process waits for the new view
					   */
			if (fresh) {
				h_restart_fresh(h, r);
				s->amnesia++;
				for (int i = 0; i < s->nops; i++)
					s->ops[i].execs[r] = 0; /* a new process: counted afresh */
			} else {
				h_restart(h, r);
			}
			s->ndown--;
			if (s->verbose)
				fprintf(stderr, "sim: t=%" PRIu64 " replica %d up%s\n", h->now, r,
					fresh ? " (state lost)" : "");
		}
	int nrejoin = 0;
	for (int r = 0; r < s->cfg.n; r++)
		nrejoin += rejoining(s, r);
	/* the master: a view change some time after the leader went silent, to a live replica */
	if (s->vc_at && h->now >= s->vc_at) {
		int live[H_MAX_REPLICAS], nl = 0;
		for (int r = 0; r < s->cfg.n; r++)
			if (!h->down[r] && !h->cut[r] && !rejoining(s, r))
				live[nl++] = r;
		for (int r = 0; nl == 0 && r < s->cfg.n; r++)
			if (!h->down[r] && !h->cut[r])
				live[nl++] = r;
		/* as the master does: the live replica that executed furthest (ties: random) */
		int leader = live[common_rng_below(&s->rng, (uint64_t)nl)];
		struct core_stats best;
		core_get_stats(h->cores[leader], &best);
		for (int i = 0; i < nl; i++) {
			struct core_stats st;
			core_get_stats(h->cores[live[i]], &st);
			if (st.exec_index > best.exec_index) {
				best = st;
				leader = live[i];
			}
		}
		s->view++;
		s->vc_at = 0;
		s->view_changes++;
		if (s->verbose)
			fprintf(stderr, "sim: t=%" PRIu64 " view %" PRIu64 ", leader %d\n", h->now,
				s->view, leader);
		h_view_change(h, s->view, leader);
		for (int i = 0; i < s->cfg.nsess; i++) /* clients hear of it at their own pace */
			s->told_at[i] = h->now + 1 + common_rng_below(&s->rng, 150000000ull);
	}
	for (int i = 0; i < s->cfg.nsess; i++)
		if (s->told_at[i] && h->now >= s->told_at[i]) {
			s->told_at[i] = 0;
			session_set_view(h->sess[i], s->view, h->leader, h->now);
		}
	if (s->ndown + nrejoin >= f)
		return;
	if (s->vc_at == 0 && !h->down[h->leader] && !h->cut[h->leader] &&
	    s->cfg.leader_crash_per_million_steps &&
	    common_rng_below(&s->rng, 1000000) < s->cfg.leader_crash_per_million_steps) {
		int r = h->leader;
		if (common_rng_below(&s->rng, 2) == 0) {
			/* a deposed leader that clients still reach: only fencing stops it */
			h->cut[r] = true;
			s->isolations++;
		} else {
			h_crash(h, r);
		}
		s->ndown++;
		s->crashes++;
		s->leader_crashes++;
		s->up_at[r] = h->now + (100 + common_rng_below(&s->rng, 400)) * 1000000ull;
		s->vc_at = h->now + (30 + common_rng_below(&s->rng, 100)) * 1000000ull;
		if (s->verbose)
			fprintf(stderr, "sim: t=%" PRIu64 " leader %d down\n", h->now, r);
	} else if (s->cfg.crash_per_million_steps &&
		   common_rng_below(&s->rng, 1000000) < s->cfg.crash_per_million_steps) {
		int r = (int)common_rng_below(&s->rng, (uint64_t)s->cfg.n);
		if (r == h->leader || h->down[r] || h->cut[r] ||
		    (s->vc_at && s->ndown + nrejoin + 1 > f))
			return;
		h_crash(h, r);
		s->ndown++;
		s->crashes++;
		s->up_at[r] = h->now + (20 + common_rng_below(&s->rng, 280)) * 1000000ull;
		if (s->verbose)
			fprintf(stderr, "sim: t=%" PRIu64 " replica %d down\n", h->now, r);
	}
}

/* ---- one run ------------------------------------------------------------------------------ */

static enum conf_protocol cur_proto;
static uint32_t cur_log_cap;
static void cfg_fn(struct core_config *cfg)
{
	cfg->protocol = cur_proto;
	cfg->log_cap = cur_log_cap;
}

/* Runs one seed; returns true if every check passed (else s->why says what failed). */
static bool sim_run(struct sim *s, const struct sim_cfg *cfg, uint64_t seed)
{
	bool verbose = s->verbose;
	memset(s, 0, sizeof *s);
	s->verbose = verbose;
	s->cfg = *cfg;
	common_rng_seed(&s->rng, seed * 0x9e3779b97f4a7c15ull + 1);
	cur_proto = cfg->protocol;
	cur_log_cap = cfg->log_cap;
	h_init(&s->h, cfg->n, cfg->nsess, cfg->window, seed, cfg_fn);
	s->h.user = s;
	s->h.on_ordered = on_ordered;
	s->h.on_executed = on_executed;
	s->h.loss_ppm = cfg->loss_ppm;
	s->h.dup_ppm = cfg->dup_ppm;
	if (getenv("SIM_TRACE")) { /* "session:seq" */
		unsigned ts = 0;
		unsigned long long tq = 0;
		if (sscanf(getenv("SIM_TRACE"), "%u:%llu", &ts, &tq) == 2) {
			s->h.trace = true;
			s->h.trace_client = 100 + ts;
			s->h.trace_seq = tq;
		}
	}
	bool ok = true;
	long steps = 0;
	while (!all_done(s) && s->why[0] == 0) {
		for (int i = 0; i < cfg->nsess; i++)
			if (common_rng_below(&s->rng, 4) == 0)
				issue(s, i);
		if (!h_step(&s->h))
			h_advance(&s->h, 1000000 + common_rng_below(&s->rng, 1000000));
		else if (common_rng_below(&s->rng, 64) == 0)
			h_advance(&s->h, common_rng_below(&s->rng, 2000000));
		reap(s);
		faults(s);
		if (++steps > 20000000L) {
			sim_failf(s, "no progress after %ld steps", steps);
			break;
		}
	}
	/* heal, then let every replica catch up (no loss from here on) */
	for (int r = 0; r < cfg->n; r++) {
		if (s->h.down[r])
			h_restart(&s->h, r);
		s->h.cut[r] = false;
	}
	s->h.loss_ppm = s->h.dup_ppm = 0;
	for (int round = 0; round < 200 && s->why[0] == 0; round++) {
		h_drain(&s->h);
		struct core_stats l;
		core_get_stats(s->h.cores[s->h.leader], &l);
		bool caught_up = l.exec_index == l.next_slot;
		for (int r = 0; r < cfg->n; r++) {
			struct core_stats st;
			core_get_stats(s->h.cores[r], &st);
			caught_up &= st.exec_index == l.exec_index;
		}
		if (caught_up)
			break;
		h_advance(&s->h, 250000000ull); /* past the leader's re-send period */
	}
	reap(s);
	if (s->why[0] == 0)
		ok = sim_check_history(s) && sim_check_replicas(s);
	else
		ok = false;
	if (!ok && s->verbose)
		for (int r = 0; r < cfg->n; r++) {
			struct core_stats st;
			core_get_stats(s->h.cores[r], &st);
			fprintf(stderr,
				"replica %d: view %" PRIu64 "%s leader %d next %" PRIu64
				" commit %" PRIu64 " exec %" PRIu64 " executed %" PRIu64
				" log %" PRIu64 " witness %" PRIu64 " recovered %" PRIu64
				" stuck %" PRIu64 " catchups %" PRIu64 " snap sent %" PRIu64
				" installed %" PRIu64 " failed %" PRIu64 "%s\n",
				r, st.view, st.view_active ? "" : " (changing)", st.leader,
				st.next_slot, st.commit_index, st.exec_index, st.executed,
				st.log_entries, st.witness_records, st.vc_recovered, st.vc_stuck,
				st.catchups, st.snap_sent, st.snap_installed, st.snap_failed,
				st.rejoining ? " rejoining" : "");
		}
	if (!ok && s->verbose)
		for (int i = 0; i < s->nops; i++) {
			const struct sim_op *o = &s->ops[i];
			fprintf(stderr,
				"op %d: s%d seq %" PRIu64 " %s %s key %" PRIu64
				" val '%s' -> %d '%s' slot %s%" PRIu64 " [%" PRIu64 ", %" PRIu64
				"] ordered %" PRIu64 "\n",
				i + 1, o->sess, o->seq, o->weak ? "weak" : "strong",
				o->op == PROTO_OP_GET	   ? "get"
				: o->op == PROTO_OP_APPEND ? "append"
				: o->op == PROTO_OP_PUT	   ? "put"
							   : "del",
				o->key, o->val, o->res, o->found ? o->result : "-",
				o->has_slot ? "" : "none/", o->slot, o->invoke, o->complete,
				o->ordered_at);
		}
	if (s->verbose)
		fprintf(stderr,
			"sim: %d ops, %" PRIu64 " frames, %" PRIu64 " lost, %" PRIu64
			" duplicated, %" PRIu64 " crashes, %" PRIu64 " view changes\n",
			s->nops, s->h.delivered, s->h.lost, s->h.duplicated, s->crashes,
			s->view_changes);
	for (int r = 0; r < cfg->n; r++) {
		struct core_stats st;
		core_get_stats(s->h.cores[r], &st);
		s->recovered += st.vc_recovered;
		s->snapshots += st.snap_installed;
	}
	h_free(&s->h);
	return ok;
}

/* ---- main --------------------------------------------------------------------------------- */

static const char *pname(enum conf_protocol p)
{
	return p == CONF_PROTO_CURP ? "curp" : p == CONF_PROTO_CURPHO ? "curpho" : "curpht";
}

static struct sim_cfg config_for(enum conf_protocol p, int n, uint64_t seed)
{
	struct sim_cfg c = {.protocol = p,
			    .n = n,
			    .nsess = 4,
			    .window = 1 + (uint32_t)(seed % 3),
			    .ops_per_session = 40,
			    .weak_pct = 50,
			    .loss_ppm = 10000,
			    .dup_ppm = 10000,
			    .crash_per_million_steps = 200,
			    .leader_crash_per_million_steps = 600,
			    .amnesia_pct = 50,
			    .log_cap = 32};
	return c;
}

static struct sim S; /* large: kept off the stack */

/* The replay command of the run in progress, printed if the process aborts (a harness or core
 * assertion), so that a crash in a long sweep names its seed like any failure. Written before
 * each run; the handler only write()s it. */
static char running[256];
static size_t running_len;

static void on_abort(int sig)
{
	(void)sig;
	if (running_len && write(STDOUT_FILENO, running, running_len) < 0)
		running_len = 0; /* nothing more to do in a handler */
	signal(SIGABRT, SIG_DFL);
	raise(SIGABRT); /* delivered on return: the process ends as it would have */
}

static void note_run(const char *prog, uint64_t seed, enum conf_protocol p, int n)
{
	int len =
	    snprintf(running, sizeof running,
		     "# CRASHED: replay with: %s --seed %" PRIu64 " --protocol %s --n %d -v\n",
		     prog, seed, pname(p), n);
	running_len = len > 0 && (size_t)len < sizeof running ? (size_t)len : 0;
}

int main(int argc, char **argv)
{
#ifdef CURPKV_MUTANT_SEEDS
	uint64_t lo = 1, hi = CURPKV_MUTANT_SEEDS, one = 0; /* a mutant that needs more seeds */
#else
	uint64_t lo = 1, hi = 60, one = 0;
#endif
	bool have_one = false, keep_going = false;
	int only_n = 0;
	int only_p = -1;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
			one = strtoull(argv[++i], NULL, 10);
			have_one = true;
		} else if (!strcmp(argv[i], "--seeds") && i + 1 < argc) {
			if (sscanf(argv[++i], "%" SCNu64 "-%" SCNu64, &lo, &hi) != 2 || hi < lo) {
				fprintf(stderr, "--seeds A-B\n");
				return 2;
			}
		} else if (!strcmp(argv[i], "--n") && i + 1 < argc) {
			only_n = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--protocol") && i + 1 < argc) {
			i++;
			only_p = !strcmp(argv[i], "curp")     ? CONF_PROTO_CURP
				 : !strcmp(argv[i], "curpho") ? CONF_PROTO_CURPHO
				 : !strcmp(argv[i], "curpht") ? CONF_PROTO_CURPHT
							      : -2;
			if (only_p == -2) {
				fprintf(stderr, "--protocol curp|curpho|curpht\n");
				return 2;
			}
		} else if (!strcmp(argv[i], "-v")) {
			S.verbose = true;
		} else if (!strcmp(argv[i], "--keep-going")) {
			keep_going = true;
		} else {
			fprintf(stderr,
				"usage: %s [--seed S | --seeds A-B] [--protocol P] [--n N] "
				"[--keep-going] [-v]\n",
				argv[0]);
			return 2;
		}
	}
	if (have_one)
		lo = hi = one;
	static const enum conf_protocol protos[] = {CONF_PROTO_CURP, CONF_PROTO_CURPHO,
						    CONF_PROTO_CURPHT};
	static const int ns[] = {3, 5};
	int tests = 0;
	for (int p = 0; p < 3; p++)
		for (int k = 0; k < 2; k++)
			tests += (only_p < 0 || only_p == (int)protos[p]) &&
				 (!only_n || only_n == ns[k]);
#ifdef CURPKV_MUTANT
	/* a mutant build: the sweep must find a failing seed in some configuration */
	(void)keep_going; /* (it stops at the first catch) */
	printf("1..1\n");
	fflush(stdout);
	if (signal(SIGABRT, on_abort) == SIG_ERR)
		perror("signal");
	for (uint64_t seed = lo; seed <= hi; seed++)
		for (int p = 0; p < 3; p++)
			for (int k = 0; k < 2; k++) {
				if ((only_p >= 0 && only_p != (int)protos[p]) ||
				    (only_n && only_n != ns[k]))
					continue;
				struct sim_cfg c = config_for(protos[p], ns[k], seed);
				note_run(argv[0], seed, protos[p], ns[k]);
#ifdef CURPKV_MUTANT_EXPECT
				/* caught by the named check only */
				if (!sim_run(&S, &c, seed) && strstr(S.why, CURPKV_MUTANT_EXPECT)) {
#else
				if (!sim_run(&S, &c, seed)) {
#endif
					printf("ok 1 - mutant %s caught: --seed %" PRIu64
					       " --protocol %s --n %d: %s\n",
					       CURPKV_MUTANT, seed, pname(protos[p]), ns[k], S.why);
					return 0;
				}
			}
	printf("not ok 1 - mutant %s NOT caught by seeds %" PRIu64 "-%" PRIu64 "\n", CURPKV_MUTANT,
	       lo, hi);
	return 1;
#else
	/* seeds beyond the default range that once failed, replayed with the default sweep */
	static const struct {
		enum conf_protocol p;
		int n;
		uint64_t seed;
	} regress[] = {
	    {CONF_PROTO_CURP, 3, 1945}, /* a state transfer whose lost frame a duplicate hid */
	};
	/* with the default range only, those the -protocol/-n filters keep */
	bool pick[sizeof regress / sizeof regress[0]];
	int nregress = 0;
	for (size_t i = 0; i < sizeof regress / sizeof regress[0]; i++) {
		pick[i] = !have_one && lo == 1 && hi == 60 &&
			  (only_p < 0 || only_p == (int)regress[i].p) &&
			  (!only_n || only_n == regress[i].n);
		nregress += pick[i];
	}
	printf("1..%d\n", tests + (nregress > 0));
	fflush(stdout);
	if (signal(SIGABRT, on_abort) == SIG_ERR)
		perror("signal");
	int t = 0, failed = 0;
	for (int p = 0; p < 3; p++)
		for (int k = 0; k < 2; k++) {
			if ((only_p >= 0 && only_p != (int)protos[p]) ||
			    (only_n && only_n != ns[k]))
				continue;
			t++;
			uint64_t ops = 0, lost = 0, dups = 0, crashes = 0, causal = 0, appends = 0,
				 areads = 0;
			uint64_t lcrashes = 0, vcs = 0, recovered = 0, amnesia = 0, snaps = 0,
				 iso = 0;
			bool ok = true;
			uint64_t runs = 0, nfailed = 0;
			for (uint64_t seed = lo; seed <= hi && (ok || keep_going); seed++) {
				struct sim_cfg c = config_for(protos[p], ns[k], seed);
				note_run(argv[0], seed, protos[p], ns[k]);
				runs++;
				if (!sim_run(&S, &c, seed)) {
					printf(
					    "# FAILED: replay with: %s --seed %" PRIu64
					    " --protocol %s --n %d -v (\"line N\" below: op N of "
					    "its listing)\n# %s\n",
					    argv[0], seed, pname(protos[p]), ns[k], S.why);
					fflush(stdout);
					ok = false;
					nfailed++;
				}
				ops += (uint64_t)S.nops;
				lost += S.h.lost;
				dups += S.h.duplicated;
				crashes += S.crashes;
				lcrashes += S.leader_crashes;
				vcs += S.view_changes;
				recovered += S.recovered;
				amnesia += S.amnesia;
				iso += S.isolations;
				snaps += S.snapshots;
				causal += (uint64_t)S.causal_checked;
				appends += S.appends;
				areads += S.append_reads;
			}
			failed += !ok;
			printf(
			    "%s %d - %s N=%d: seeds %" PRIu64 "-%" PRIu64 ", %" PRIu64
			    " operations checked, %" PRIu64 " frames lost, %" PRIu64
			    " duplicated, %" PRIu64 " crashes (%" PRIu64 " of the leader, %" PRIu64
			    " of them cut off from the replicas only), %" PRIu64
			    " restarts with the state lost, %" PRIu64 " state transfers, %" PRIu64
			    " view changes, %" PRIu64 " commands recovered from witnesses, %" PRIu64
			    " runs also causally checked, %" PRIu64 " appends in %" PRIu64
			    " reads checked exactly once\n",
			    ok ? "ok" : "not ok", t, pname(protos[p]), ns[k], lo, hi, ops, lost,
			    dups, crashes, lcrashes, iso, amnesia, snaps, vcs, recovered, causal,
			    appends, areads);
			if (keep_going) /* the tally scripts/sim.sh adds up over its chunks */
				printf("# sim: %s N=%d seeds %" PRIu64 "-%" PRIu64 ": %" PRIu64
				       " runs, %" PRIu64 " failed\n",
				       pname(protos[p]), ns[k], lo, hi, runs, nfailed);
			fflush(stdout);
		}
	if (nregress > 0) {
		bool ok = true;
		char which[256] = "";
		for (size_t i = 0; i < sizeof regress / sizeof regress[0]; i++) {
			if (!pick[i])
				continue;
			struct sim_cfg c = config_for(regress[i].p, regress[i].n, regress[i].seed);
			note_run(argv[0], regress[i].seed, regress[i].p, regress[i].n);
			if (!sim_run(&S, &c, regress[i].seed)) {
				printf("# FAILED: replay with: %s --seed %" PRIu64
				       " --protocol %s --n %d -v\n# %s\n",
				       argv[0], regress[i].seed, pname(regress[i].p), regress[i].n,
				       S.why);
				ok = false;
			}
			size_t len = strlen(which);
			snprintf(which + len, sizeof which - len, "%s%s N=%d seed %" PRIu64,
				 len ? ", " : "", pname(regress[i].p), regress[i].n,
				 regress[i].seed);
		}
		failed += !ok;
		printf("%s %d - regression seeds: %s\n", ok ? "ok" : "not ok", ++t, which);
	}
	return failed ? 1 : 0;
#endif
}
