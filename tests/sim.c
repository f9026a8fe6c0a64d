/* Deterministic simulation (TESTING.md tier 2): the protocol cores of N replicas and several
 * client sessions in one process over the harness's seeded channels, with message loss,
 * duplication, reordering across connections, follower and leader crashes, leaders cut off
 * from the replicas, state-losing restarts and state transfers (never more than f down at
 * once), in simulated time. Two workloads ("profiles", tests/sim.h): 4 sessions on 3 hot keys,
 * and 8 pipelined sessions on 16-64 keys with SCANs. Each run's history is checked
 * (tests/sim_check.c): a slot certificate (every strong read and SCAN returns what the writes
 * ordered before it left; strong operations ordered consistently with real time; per session
 * read-your-writes, monotonic reads and writes, writes-follow-reads, weak operations and each
 * key a SCAN covered included; a weak SCAN returns the state of some log prefix executed by
 * its completion), the per-key linearizability checker over the strong operations and weak
 * writes, the causal checker (window-1 runs), reads only of written values, exactly-once
 * execution, and identical replicas at the end.
 *
 *   tests/test_sim                     the make-check sweep (TAP): seeds 1-60 of both profiles,
 *                                      then the regression seeds
 *   tests/test_sim --seeds A-B [--protocol P] [--n N] [--profile 1|2|both] [--keep-going]
 *                                      more seeds (scripts/sim.sh; profile 1 unless told);
 *                                      with --keep-going every seed runs and each failing one
 *                                      is printed
 *   tests/test_sim --seed S --protocol P --n N [--profile X] [--no-lease] [-v]
 *                                      replay one run exactly (--no-lease: as the regression
 *                                      seeds run, without client leases)
 * A third of the runs (lease_run) also have client leases (docs/recovery.md "Client leases"): a
 * lease of 5-8 s at the replicas and sessions, idle sessions stopped past it and coming back
 * (renewing their id) with a late retry of one of their commands under the old id.
 * A mutant build (-DCURPKV_MUTANT_*, tests/sim_mutant_*) instead succeeds when some seed fails.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/hash.h"
#include "tests/sim.h"

/* Independent streams of a seed for profile 2 (xor-ed into it before mixing). */
#define SIM_P2_CFG_SALT 0x70726f66696c6532ull /* "profile2" */
#define SIM_P2_RUN_SALT 0x72756e2d73747265ull
#define SIM_P2_NET_SALT 0x6e65742d73747265ull
#define SIM_LEASE_SALT	0x6c65617365732121ull /* "leases!!": which runs, and their draws */

static void op_done(void *arg, uint64_t seq, enum session_result res, enum session_path path,
		    const uint8_t *value, uint32_t vlen)
{
	struct sim_op *o = arg;
	(void)seq;
	(void)path;
	o->done = true;
	o->res = res;
	o->found = res == SESSION_OK && o->op == PROTO_OP_GET;
	if (o->found || (res == SESSION_OK && o->op == PROTO_OP_SCAN)) {
		o->result = malloc((size_t)vlen + 1);
		if (o->result == NULL)
			abort(); /* (a test: no way to go on without the result) */
		if (vlen)
			memcpy(o->result, value, vlen);
		o->result[vlen] = 0;
		o->rlen = vlen;
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
	if (o->exec_at == 0 || h->now < o->exec_at)
		o->exec_at = h->now;
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

/* Profile 1's draws: the regression seeds replay only while these stay exactly as they are. */
static void draw_p1(struct sim *s, struct sim_op *o)
{
	struct sim_cfg *c = &s->cfg;
	o->weak = c->protocol != CONF_PROTO_CURP && common_rng_coin(&s->rng, c->weak_pct);
	uint64_t r = common_rng_below(&s->rng, 100);
	o->op = r < 50 ? PROTO_OP_GET : r < 92 ? PROTO_OP_PUT : PROTO_OP_DEL;
	o->key = common_rng_below(&s->rng, c->nkeys);
	if (c->protocol == CONF_PROTO_CURP && common_rng_coin(&s->rng, c->append_pct)) {
		o->key = c->nkeys; /* (other protocols draw as before: same runs) */
		o->op = r < 40 ? PROTO_OP_GET : PROTO_OP_APPEND;
	}
}

/* Profile 2: 35% reads, scan_pct% SCANs, 40% puts, the rest deletes; a third of the keys drawn
 * among 4 hot ones (conflicts), the others over every key; a SCAN asks for 1..max_scan keys
 * (short ones more often) from its key, so it may run past the last key or into curp's append
 * key. */
static void draw_p2(struct sim *s, struct sim_op *o)
{
	struct sim_cfg *c = &s->cfg;
	o->weak = c->protocol != CONF_PROTO_CURP && common_rng_coin(&s->rng, c->weak_pct);
	uint64_t r = common_rng_below(&s->rng, 100);
	o->op = r < 35		       ? PROTO_OP_GET
		: r < 35 + c->scan_pct ? PROTO_OP_SCAN
		: r < 75 + c->scan_pct ? PROTO_OP_PUT
				       : PROTO_OP_DEL;
	o->key = common_rng_coin(&s->rng, 33) ? common_rng_below(&s->rng, 4)
					      : common_rng_below(&s->rng, c->nkeys);
	if (o->op == PROTO_OP_SCAN) {
		o->count = 1 + (uint32_t)common_rng_below(
				   &s->rng, 1 + common_rng_below(&s->rng, c->max_scan));
	} else if (c->protocol == CONF_PROTO_CURP && common_rng_coin(&s->rng, c->append_pct)) {
		o->key = c->nkeys;
		o->op = r < 40 ? PROTO_OP_GET : PROTO_OP_APPEND;
	}
}

static void issue(struct sim *s, int sess)
{
	struct sim_cfg *c = &s->cfg;
	if (s->issued[sess] >= c->ops_per_session || s->inflight[sess] >= (int)c->window ||
	    s->nops >= SIM_MAX_OPS || s->resume_at[sess] || s->stopping[sess])
		return;
	struct sim_op *o = &s->ops[s->nops];
	memset(o, 0, sizeof *o);
	o->sess = sess;
	if (c->profile == 1)
		draw_p1(s, o);
	else
		draw_p2(s, o);
	uint8_t key[8];
	for (int i = 0; i < 8; i++)
		key[i] = (uint8_t)(o->key >> (56 - 8 * i));
	struct proto_cmd cmd = {.op = o->op, .key = key, .klen = 8, .scan_count = o->count};
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
		return; /* HO: the write set fills the session's ring, or a write it read is
			   unordered */
	if (seq <= 0 || seq > SIM_MAX_OPS) {
		sim_failf(s, "submit returned %" PRId64, seq);
		return;
	}
	o->seq = (uint64_t)seq;
	o->client = session_client_id(s->h.sess[sess]);
	o->wseq = o->seq - session_seq_base(s->h.sess[sess]);
	s->by_seq[sess][seq] = s->nops + 1;
	s->pend[s->npend++] = s->nops;
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

#ifdef CURPKV_MUTANT_SCAN
/* A mutant of what the sessions return, not of the cores (tests/sim_mutant_scan_*): the SCAN
 * checks must catch a result altered on its way to the history. 1: a strong SCAN loses its
 * last pair; 2: a weak SCAN's last pair gets the value of the first PUT of its key instead. */
static void corrupt_scan(struct sim *s, struct sim_op *o)
{
	uint32_t off = 0, last = 0, klen, vlen;
	const uint8_t *k, *v;
	int np = 0;
	while (proto_scan_next((const uint8_t *)o->result, o->rlen, &off, &k, &klen, &v, &vlen) ==
	       1) {
		last = off - (uint32_t)proto_scan_pair_size(klen, vlen);
		np++;
	}
	if (np == 0 || o->weak != (CURPKV_MUTANT_SCAN == 2))
		return;
	if (CURPKV_MUTANT_SCAN == 1) {
		o->rlen = last;
		return;
	}
	uint64_t key = 0;
	for (uint32_t i = 0; i < klen; i++)
		key = key << 8 | k[i];
	for (int i = 0; i < s->nops; i++) {
		const struct sim_op *w = &s->ops[i];
		if (w->op != PROTO_OP_PUT || w->key != key)
			continue;
		if (strlen(w->val) == vlen && !memcmp(w->val, v, vlen))
			return; /* (the first PUT's value already) */
		uint8_t kb[8];
		memcpy(kb, k, 8);
		size_t need = last + proto_scan_pair_size(8, (uint32_t)strlen(w->val)) + 1;
		char *r = realloc(o->result, need);
		if (r == NULL)
			abort();
		o->result = r;
		o->rlen = last + (uint32_t)proto_scan_put((uint8_t *)r + last, kb, 8,
							  (const uint8_t *)w->val,
							  (uint32_t)strlen(w->val));
		r[o->rlen] = 0;
		return;
	}
}
#endif

/* Collects completions (callbacks only mark ops done) and stamps their completion time. */
static void reap(struct sim *s)
{
	for (int i = 0; i < s->npend;) {
		struct sim_op *o = &s->ops[s->pend[i]];
		if (!o->done) {
			i++;
			continue;
		}
		o->complete = s->h.now;
		s->inflight[o->sess]--;
		if (!o->weak && (o->op == PROTO_OP_PUT || o->op == PROTO_OP_APPEND) &&
		    o->res == SESSION_OK)
			s->last_done[o->sess] = s->pend[i] + 1;
#ifdef CURPKV_MUTANT_SCAN
		if (o->op == PROTO_OP_SCAN && o->res == SESSION_OK)
			corrupt_scan(s, o);
#endif
		s->pend[i] = s->pend[--s->npend]; /* (the order of the list does not matter) */
	}
}

/* A replica restarted without its state counts as down until it has rejoined (7.3). */
static bool rejoining(struct sim *s, int r)
{
	if (s->h.down[r])
		return false;
	if (s->rejoin_gen[r] != s->h.gen[r] + 1) { /* (asked every step: read once per change) */
		struct core_stats st;
		core_get_stats(s->h.cores[r], &st);
		s->rejoin[r] = st.rejoining;
		s->rejoin_gen[r] = s->h.gen[r] + 1;
	}
	return s->rejoin[r];
}

/* The master: view+1, led by the live replica that executed furthest (ties: random). */
static void sim_new_view(struct sim *s)
{
	struct harness *h = &s->h;
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

/* Replica r comes back with its state: the same core, or with cfg.durable a new one rebuilt from
 * its records, which executes them again (its executions are counted afresh). */
static void sim_restart(struct sim *s, int r)
{
	if (s->cfg.durable)
		for (int i = 0; i < s->nops; i++)
			s->ops[i].execs[r] = 0;
	h_restart(&s->h, r);
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
			if (s->powered_off[r])
				fresh = false; /* its records are all it has: they are read */
			if ((fresh || s->cfg.durable) && r == h->leader)
				continue; /* still the leader: a new process waits for the new view
					   */
			if (fresh) {
				h_restart_fresh(h, r);
				s->amnesia++;
				for (int i = 0; i < s->nops; i++)
					s->ops[i].execs[r] = 0; /* a new process: counted afresh */
			} else {
				sim_restart(s, r);
			}
			s->powered_off[r] = false;
			s->ndown--;
			if (s->verbose)
				fprintf(stderr, "sim: t=%" PRIu64 " replica %d up%s\n", h->now, r,
					fresh ? " (state lost)" : "");
		}
	int nrejoin = 0;
	for (int r = 0; r < s->cfg.n; r++)
		nrejoin += rejoining(s, r);
	/* the master: a view change some time after the leader went silent, to a live replica */
	if (s->vc_at && h->now >= s->vc_at)
		sim_new_view(s);
	for (int i = 0; i < s->cfg.nsess; i++)
		if (s->told_at[i] && h->now >= s->told_at[i] && !h->paused[i]) {
			s->told_at[i] = 0;
			session_set_view(h->sess[i], s->view, h->leader, h->now);
		}
	if (s->cfg.durable && s->power_at && h->now >= s->power_at) {
		/* a power loss: every replica stops at once; each comes back from its records, the
		 * leader last, after the master has made one of the others lead a new view */
		s->power_at = 0;
		s->power_losses++;
		uint64_t back = h->now;
		for (int r = 0; r < s->cfg.n; r++) {
			if (h->cut[r])
				h->cut[r] = false; /* (counted down already) */
			else if (!h->down[r])
				s->ndown++;
			if (!h->down[r])
				h_crash(h, r);
			s->powered_off[r] = true;
			s->up_at[r] = h->now + (50 + common_rng_below(&s->rng, 250)) * 1000000ull;
			if (r != h->leader && s->up_at[r] > back)
				back = s->up_at[r];
		}
		s->vc_at = back + 30000000ull;
		if (s->verbose)
			fprintf(stderr, "sim: t=%" PRIu64 " power loss: every replica down\n",
				h->now);
		return;
	}
	if (s->cfg.durable && common_rng_below(&s->rng, 1000000) < 3000) {
		/* a snapshot: the replica's log from now on starts with its state (docs/durability.md)
		 */
		int r = (int)common_rng_below(&s->rng, (uint64_t)s->cfg.n);
		if (!h->down[r])
			h_snapshot(h, r);
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

/* Client leases: an idle session (nothing in flight, no weak write unsettled) stops for 1.2 to
 * 2.5 leases now and then (its process stopped: it neither ticks nor reads); it is forgotten by
 * the replicas meanwhile (unless a view change restarted the leader's clock). Back, it renews
 * its id before sending anything, and a PROPOSE of the last strong write it completed under the
 * old id arrives late at every replica: refused EXPIRED, or deduplicated if the id lives on;
 * the exactly-once checks say whether it executed twice. */
static void lease_faults(struct sim *s)
{
	struct harness *h = &s->h;
	if (s->cfg.lease_ns == 0)
		return;
	for (int i = 0; i < s->cfg.nsess; i++) {
		if (s->resume_at[i] == 0 || h->now < s->resume_at[i])
			continue;
		s->resume_at[i] = 0;
		h->paused[i] = false;
		int oi = s->last_done[i] - 1;
		if (oi < 0)
			continue;
		const struct sim_op *o = &s->ops[oi];
		uint8_t key[8];
		for (int b = 0; b < 8; b++)
			key[b] = (uint8_t)(o->key >> (56 - 8 * b));
		struct proto_msg m = {.type = PROTO_PROPOSE,
				      .view = s->view,
				      .cid = {o->client, o->wseq},
				      .low_seq = o->wseq,
				      .cmd = {.op = o->op,
					      .key = key,
					      .klen = 8,
					      .val = (const uint8_t *)o->val,
					      .vlen = o->op == PROTO_OP_APPEND ? SIM_ELEM
									   : (uint32_t)strlen(o->val)}};
		for (int r = 0; r < s->cfg.n; r++)
			h_inject(h, i, r, &m);
		s->late_retries++;
		if (s->verbose)
			fprintf(stderr,
				"sim: t=%" PRIu64 " session %d back; late retry of op %d as %" PRIu64
				"-%" PRIu64 "\n",
				h->now, i, oi + 1, m.cid.client, m.cid.seq);
	}
	for (int i = 0; i < s->cfg.nsess; i++) {
		if (!s->stopping[i] || s->inflight[i] > 0 || session_unsettled(h->sess[i]) > 0 ||
		    session_renewing(h->sess[i]))
			continue;
		s->stopping[i] = false; /* idle now: stopped */
		uint64_t l = s->cfg.lease_ns;
		s->resume_at[i] = h->now + l + l / 5 + common_rng_below(&s->lrng, l + l / 10);
		s->paused_id[i] = session_client_id(h->sess[i]);
		h->paused[i] = true;
		s->pauses++;
		if (s->verbose)
			fprintf(stderr, "sim: t=%" PRIu64 " session %d (client %" PRIu64 ") stopped\n",
				h->now, i, s->paused_id[i]);
	}
	if (common_rng_below(&s->lrng, 1000000) >= s->cfg.pause_per_million_steps)
		return;
	int i = (int)common_rng_below(&s->lrng, (uint64_t)s->cfg.nsess);
	if (s->resume_at[i] || s->issued[i] >= s->cfg.ops_per_session)
		return;
	s->stopping[i] = true; /* (it issues nothing more; stopped once its commands are done) */
}

/* ---- one run ------------------------------------------------------------------------------ */

static enum conf_protocol cur_proto;
static uint32_t cur_log_cap;
static uint32_t cur_chunk;
static uint64_t cur_lease;
static void cfg_fn(struct core_config *cfg)
{
	cfg->protocol = cur_proto;
	cfg->log_cap = cur_log_cap;
	cfg->lease_ns = cur_lease;
	/* state transfers in chunks of one to a few items, a few chunks in flight at most, so
	 * that a transfer spans many chunks (lost, duplicated, cut by a reset or a crash) and
	 * keys change under it (docs/recovery.md "State transfer") */
	cfg->snap_chunk_bytes = cur_chunk;
	cfg->snap_low_water = 8 * cur_chunk;
}

/* Prints op i of the run for -v (a checker's "line N" is op N). */
static void list_op(const struct sim *s, int i)
{
	const struct sim_op *o = &s->ops[i];
	char arg[64], text[4096];
	const char *res = o->found ? o->result : "-";
	if (o->op == PROTO_OP_SCAN) { /* the pairs as key=value */
		snprintf(arg, sizeof arg, "count %" PRIu32, o->count);
		sim_scan_text(s, o, text, sizeof text);
		res = text;
	} else {
		snprintf(arg, sizeof arg, "val '%s'", o->val);
	}
	fprintf(stderr,
		"op %d: s%d seq %" PRIu64 " %s %s key %" PRIu64 " %s -> %d '%s' slot %s%" PRIu64
		" [%" PRIu64 ", %" PRIu64 "] ordered %" PRIu64 "\n",
		i + 1, o->sess, o->seq, o->weak ? "weak" : "strong",
		o->op == PROTO_OP_GET	   ? "get"
		: o->op == PROTO_OP_APPEND ? "append"
		: o->op == PROTO_OP_PUT	   ? "put"
		: o->op == PROTO_OP_SCAN   ? "scan"
					   : "del",
		o->key, arg, o->res, res, o->has_slot ? "" : "none/", o->slot, o->invoke,
		o->complete, o->ordered_at);
}

/* Runs one seed; returns true if every check passed (else s->why says what failed). */
static bool sim_run(struct sim *s, const struct sim_cfg *cfg, uint64_t seed)
{
	bool verbose = s->verbose;
	memset(s, 0, sizeof *s);
	s->verbose = verbose;
	s->cfg = *cfg;
	/* profile 1 keeps the streams its seeds were found with; profile 2 derives its own */
	common_rng_seed(&s->rng, cfg->profile == 1 ? seed * 0x9e3779b97f4a7c15ull + 1
						   : common_mix64(seed ^ SIM_P2_RUN_SALT));
	cur_proto = cfg->protocol;
	cur_log_cap = cfg->log_cap;
	cur_chunk = 1u << (seed % 9); /* 1 to 256 bytes */
	cur_lease = cfg->lease_ns;
	common_rng_seed(&s->lrng, common_mix64(seed ^ SIM_LEASE_SALT ^ (uint64_t)cfg->profile));
	h_init(&s->h, cfg->n, cfg->nsess, cfg->window,
	       cfg->profile == 1 ? seed : common_mix64(seed ^ SIM_P2_NET_SALT), cfg_fn);
	s->h.durable = cfg->durable;
	if (cfg->durable) /* one power loss per run, early enough for the load to go on after */
		s->power_at = s->h.now + (200 + common_rng_below(&s->rng, 1800)) * 1000000ull;
	if (cfg->lease_ns) { /* the sessions' lease too (they were made without) */
		s->h.lease_ns = cfg->lease_ns;
		for (int i = 0; i < cfg->nsess; i++)
			h_bind(&s->h, i, -1);
	}
	s->h.user = s;
	s->h.on_ordered = on_ordered;
	s->h.on_executed = on_executed;
	s->h.notes = s->verbose; /* -v: each view change's decision too */
	s->h.loss_ppm = cfg->loss_ppm;
	s->h.dup_ppm = cfg->dup_ppm;
	s->h.reset_ppm = cfg->reset_ppm;
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
		lease_faults(s);
		if (++steps > 20000000L) {
			sim_failf(s, "no progress after %ld steps", steps);
			break;
		}
	}
	/* heal, then let every replica catch up (no loss from here on) */
	for (int i = 0; i < cfg->nsess; i++) {
		s->h.paused[i] = false;
		s->resume_at[i] = 0;
		s->stopping[i] = false;
	}
	bool leader_down = s->h.down[s->h.leader];
	for (int r = 0; r < cfg->n; r++) {
		if (s->h.down[r])
			sim_restart(s, r);
		s->h.cut[r] = false;
	}
	if (cfg->durable && leader_down) {
		/* a new process of the leader (rebuilt from its records) leads no more: the master
		 * changes the view, and every session hears of it */
		sim_new_view(s);
		for (int i = 0; i < cfg->nsess; i++) {
			s->told_at[i] = 0;
			session_set_view(s->h.sess[i], s->view, s->h.leader, s->h.now);
		}
	}
	s->h.loss_ppm = s->h.dup_ppm = s->h.reset_ppm = 0;
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
				" installed %" PRIu64 " failed %" PRIu64 " digest %016" PRIx64
				"%s\n",
				r, st.view, st.view_active ? "" : " (changing)", st.leader,
				st.next_slot, st.commit_index, st.exec_index, st.executed,
				st.log_entries, st.witness_records, st.vc_recovered, st.vc_stuck,
				st.catchups, st.snap_sent, st.snap_installed, st.snap_failed,
				core_digest(s->h.cores[r]), st.rejoining ? " rejoining" : "");
		}
	if (!ok && s->verbose)
		for (int i = 0; i < s->nops; i++)
			list_op(s, i);
	if (s->verbose)
		fprintf(stderr,
			"sim: %d ops, %" PRIu64 " frames, %" PRIu64 " lost, %" PRIu64
			" duplicated, %" PRIu64 " crashes, %" PRIu64 " view changes, %ld steps, %" PRIu64
			" ms\n",
			s->nops, s->h.delivered, s->h.lost, s->h.duplicated, s->crashes,
			s->view_changes, steps, (uint64_t)((s->h.now - 1000000000ull) / 1000000));
	for (int r = 0; r < cfg->n; r++) {
		struct core_stats st;
		core_get_stats(s->h.cores[r], &st);
		s->recovered += st.vc_recovered;
		s->relaxed += st.vc_relaxed;
		s->left_out += st.vc_dropped;
		s->pulls += st.vc_pulls;
		s->snapshots += st.snap_installed;
		s->refused += st.expired_refused;
		if (st.clients_expired > s->expired)
			s->expired = st.clients_expired; /* (a restarted replica counts afresh) */
	}
	s->new_ids = s->h.new_ids;
	h_free(&s->h);
	for (int i = 0; i < s->nops; i++) {
		free(s->ops[i].result);
		s->ops[i].result = NULL;
	}
	return ok;
}

/* ---- main --------------------------------------------------------------------------------- */

static const char *pname(enum conf_protocol p)
{
	return p == CONF_PROTO_CURP ? "curp" : p == CONF_PROTO_CURPHO ? "curpho" : "curpht";
}

/* Does the run of (profile, seed) have client leases? A third of the seeds (of every protocol
 * and size alike), drawn from a stream of their own. */
static bool lease_run(int profile, uint64_t seed)
{
	return common_mix64(seed ^ SIM_LEASE_SALT ^ ((uint64_t)profile << 40)) % 3 == 0;
}

/* The run of (protocol, n, profile, seed): profile 1 as it always was; profile 2 draws its
 * shape from its own stream of the seed (the same for every protocol and size). With leases
 * (unless the run is to replay as it did before them: the regression and known seeds), a lease
 * of 5-8 s and stopped sessions (lease_faults). */
static struct sim_cfg config_for(enum conf_protocol p, int n, int profile, uint64_t seed,
				 bool leases)
{
	struct sim_cfg c = {.protocol = p,
			    .profile = profile,
			    .n = n,
			    .nsess = 4,
			    .window = 1 + (uint32_t)(seed % 3),
			    .ops_per_session = 40,
			    .nkeys = 3,
			    .weak_pct = 50,
			    .append_pct = 30,
			    .loss_ppm = 10000,
			    .dup_ppm = 10000,
			    .crash_per_million_steps = 200,
			    .leader_crash_per_million_steps = 600,
			    .amnesia_pct = 50,
			    .log_cap = 32};
	if (profile == 2) {
		struct common_rng r;
		common_rng_seed(&r, common_mix64(seed ^ SIM_P2_CFG_SALT));
		c.nsess = 8;
		c.window = 1 + (uint32_t)common_rng_below(&r, 8);
		c.ops_per_session = 100 + (int)common_rng_below(&r, 101);
		c.nkeys = 16 + (uint32_t)common_rng_below(&r, SIM_MAX_KEYS - 16 + 1);
		c.weak_pct = 40;
		c.append_pct = 10;
		c.scan_pct = 10;
		c.max_scan = 16;
		/* A TCP connection loses no frame inside a stream: it breaks, and what was in
		 * flight is lost. Between replicas this profile breaks connections (a random pair,
		 * some 20 times per run) instead of losing frames one by
		 * one: a state transfer of some 700 frames lost one frame in the middle at 0.3%
		 * per frame nine times in ten, and a replica stayed unusable for seconds (sim
		 * curpho N=3 seed 2782, curpht N=3 seed 665). Frames between clients and replicas
		 * are still lost one by one (0.3%); duplicates stay on every connection. */
		c.loss_ppm = 3000;
		c.dup_ppm = 3000;
		c.reset_ppm = 1000;
	}
	if (leases && lease_run(profile, seed)) {
		uint64_t h = common_mix64(seed ^ SIM_LEASE_SALT ^ 0x4c);
		c.lease_ns = (5000 + h % 3001) * 1000000ull;
		/* some 2-4 stopped sessions per run */
		c.pause_per_million_steps = profile == 1 ? 1000 : 250;
	}
	return c;
}

static struct sim S; /* large: kept off the stack */

/* The replay command of the run in progress, printed if the process aborts (a harness or core
 * assertion), so that a crash in a long sweep names its seed like any failure. Written before
 * each run; the handler only write()s it. */
static char running[256];
static size_t running_len;
static bool durable_runs; /* --durable: restarts that keep state restore from records */

static void on_abort(int sig)
{
	(void)sig;
	if (running_len && write(STDOUT_FILENO, running, running_len) < 0)
		running_len = 0; /* nothing more to do in a handler */
	signal(SIGABRT, SIG_DFL);
	raise(SIGABRT); /* delivered on return: the process ends as it would have */
}

/* Runs one seed of one configuration (recording its replay command for on_abort); leases:
 * with client leases if the seed draws them (false: as before leases existed). */
static bool run_one(const char *prog, enum conf_protocol p, int n, int profile, uint64_t seed,
		    bool leases)
{
	int len = snprintf(running, sizeof running,
			   "# CRASHED: replay with: %s --seed %" PRIu64
			   " --protocol %s --n %d --profile %d%s%s -v\n",
			   prog, seed, pname(p), n, profile, leases ? "" : " --no-lease",
			   durable_runs ? " --durable" : "");
	running_len = len > 0 && (size_t)len < sizeof running ? (size_t)len : 0;
	struct sim_cfg c = config_for(p, n, profile, seed, leases);
	c.durable = durable_runs;
	return sim_run(&S, &c, seed);
}

#ifndef CURPKV_MUTANT
/* Figures of a sweep over one configuration, added up run by run. */
struct tally {
	uint64_t runs, failed, ops, lost, dups, crashes, lcrashes, iso, amnesia, snaps, vcs,
	    recovered, causal, appends, areads, scans_strong, scans_weak, lin_unknown, resets,
	    relaxed, left_out, pulls, lease_runs, pauses, expired, late_retries, refused, new_ids, power_losses, restores, hsnaps;
};

static void tally_add(struct tally *t, const struct sim *s, bool ok)
{
	t->runs++;
	t->failed += !ok;
	t->ops += (uint64_t)s->nops;
	t->lost += s->h.lost;
	t->dups += s->h.duplicated;
	t->crashes += s->crashes;
	t->lcrashes += s->leader_crashes;
	t->iso += s->isolations;
	t->amnesia += s->amnesia;
	t->power_losses += s->power_losses;
	t->restores += s->h.restores;
	t->hsnaps += s->h.snapshots;
	t->snaps += s->snapshots;
	t->vcs += s->view_changes;
	t->recovered += s->recovered;
	t->causal += (uint64_t)s->causal_checked;
	t->appends += s->appends;
	t->areads += s->append_reads;
	t->scans_strong += s->scans_strong;
	t->scans_weak += s->scans_weak;
	t->lin_unknown += s->lin_unknown;
	t->resets += s->h.resets;
	t->relaxed += s->relaxed;
	t->left_out += s->left_out;
	t->pulls += s->pulls;
	t->lease_runs += s->cfg.lease_ns != 0;
	t->pauses += s->pauses;
	t->expired += s->expired;
	t->late_retries += s->late_retries;
	t->refused += s->refused;
	t->new_ids += s->new_ids;
}

/* One seed of one configuration, and why it is listed. */
struct sim_seed {
	enum conf_protocol p;
	int n, profile;
	uint64_t seed;
	const char *what;
};

/* Is r among the configurations the filters select? */
static bool picked(const struct sim_seed *r, int profiles, int only_p, int only_n)
{
	return (profiles & r->profile) && (only_p < 0 || only_p == (int)r->p) &&
	       (!only_n || only_n == r->n);
}

static bool listed(const struct sim_seed *list, size_t n, const struct sim_seed *me)
{
	for (size_t i = 0; i < n; i++)
		if (list[i].p == me->p && list[i].n == me->n && list[i].profile == me->profile &&
		    list[i].seed == me->seed)
			return true;
	return false;
}
#endif

int main(int argc, char **argv)
{
#ifdef CURPKV_MUTANT_SEEDS
	uint64_t lo = 1, hi = CURPKV_MUTANT_SEEDS, one = 0; /* a mutant that needs more seeds */
#else
	uint64_t lo = 1, hi = 60, one = 0;
#endif
	bool have_one = false, have_range = false, keep_going = false, leases = true;
	int only_n = 0;
	int only_p = -1;
	int profiles = 0; /* bit 1: profile 1, bit 2: profile 2; 0: the default */
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
			one = strtoull(argv[++i], NULL, 10);
			have_one = true;
		} else if (!strcmp(argv[i], "--seeds") && i + 1 < argc) {
			if (sscanf(argv[++i], "%" SCNu64 "-%" SCNu64, &lo, &hi) != 2 || hi < lo) {
				fprintf(stderr, "--seeds A-B\n");
				return 2;
			}
			have_range = true;
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
		} else if (!strcmp(argv[i], "--profile") && i + 1 < argc) {
			i++;
			profiles = !strcmp(argv[i], "1")      ? 1
				   : !strcmp(argv[i], "2")    ? 2
				   : !strcmp(argv[i], "both") ? 3
							      : -1;
			if (profiles < 0) {
				fprintf(stderr, "--profile 1|2|both\n");
				return 2;
			}
		} else if (!strcmp(argv[i], "-v")) {
			S.verbose = true;
		} else if (!strcmp(argv[i], "--keep-going")) {
			keep_going = true;
		} else if (!strcmp(argv[i], "--no-lease")) {
			leases = false;
		} else if (!strcmp(argv[i], "--durable")) {
			durable_runs = true;
		} else {
			fprintf(stderr,
				"usage: %s [--seed S | --seeds A-B] [--protocol P] [--n N] "
				"[--profile 1|2|both] [--keep-going] [--no-lease] [--durable] [-v]\n",
				argv[0]);
			return 2;
		}
	}
	if (have_one)
		lo = hi = one;
	/* without --profile: both for the argument-less sweep (make check), profile 1 for a
	 * chosen seed or range, so that every replay command printed before profile 2 existed
	 * still replays the same run */
	if (profiles == 0)
		profiles = have_one || have_range ? 1 : 3;
	static const enum conf_protocol protos[] = {CONF_PROTO_CURP, CONF_PROTO_CURPHO,
						    CONF_PROTO_CURPHT};
	static const int ns[] = {3, 5};
	int tests = 0;
	for (int prof = 1; prof <= 2; prof++)
		for (int p = 0; p < 3; p++)
			for (int k = 0; k < 2; k++)
				tests += (profiles & prof) &&
					 (only_p < 0 || only_p == (int)protos[p]) &&
					 (!only_n || only_n == ns[k]);
	if (signal(SIGABRT, on_abort) == SIG_ERR)
		perror("signal");
#ifdef CURPKV_MUTANT
	/* a mutant build: the sweep must find a failing seed in some configuration (profile 1
	 * first at each seed: the first catches stay those of before profile 2) */
	(void)keep_going; /* (it stops at the first catch) */
	(void)tests;
	printf("1..1\n");
	fflush(stdout);
	for (uint64_t seed = lo; seed <= hi; seed++)
		for (int prof = 1; prof <= 2; prof++)
			for (int p = 0; p < 3; p++)
				for (int k = 0; k < 2; k++) {
					if (!(profiles & prof) ||
					    (only_p >= 0 && only_p != (int)protos[p]) ||
					    (only_n && only_n != ns[k]))
						continue;
					bool ok =
					    run_one(argv[0], protos[p], ns[k], prof, seed, leases);
#ifdef CURPKV_MUTANT_EXPECT
					/* caught by the named check only */
					ok = ok || !strstr(S.why, CURPKV_MUTANT_EXPECT);
#endif
					if (ok)
						continue;
					printf("ok 1 - mutant %s caught: --seed %" PRIu64
					       " --protocol %s --n %d --profile %d: %s\n",
					       CURPKV_MUTANT, seed, pname(protos[p]), ns[k], prof,
					       S.why);
					return 0;
				}
	printf("not ok 1 - mutant %s NOT caught by seeds %" PRIu64 "-%" PRIu64 "%s\n",
	       CURPKV_MUTANT, lo, hi,
	       profiles == 1   ? " of profile 1"
	       : profiles == 2 ? " of profile 2"
			       : "");
	return 1;
#else
	/* the argument-less sweep (make check; --protocol, --n and --profile filter it): seeds
	 * 1-60, then regress[] and known[]. A range given with --seeds runs every seed of it. */
	bool sweep = !have_one && !have_range;
	/* seeds beyond the default range that once failed, replayed with the default sweep */
	static const struct sim_seed regress[] = {
	    {CONF_PROTO_CURP, 3, 1, 1945, "a state transfer whose lost frame a duplicate hid"},
	    /* curpho view changes (docs/recovery.md "Replay order"; these seeds replayed the
	     * failures on the code before the fix; tests/test_replay keeps their shapes) */
	    {CONF_PROTO_CURPHO, 3, 1, 2036, "a GET's read_dep, its session's write between"},
	    {CONF_PROTO_CURPHO, 3, 1, 2440, "a deposed leader's entries past a decided hole"},
	    {CONF_PROTO_CURPHO, 3, 1, 2443, "a strong read older than the replay's order"},
	    {CONF_PROTO_CURPHO, 3, 1, 2849, "the session's read floor"},
	    {CONF_PROTO_CURPHO, 3, 1, 4672, "entries under a decided view's replays"},
	    {CONF_PROTO_CURPHO, 3, 1, 5359, "a read behind the session's earlier one"},
	    {CONF_PROTO_CURPHO, 3, 1, 694, "a GET placed before its session's write"},
	    {CONF_PROTO_CURPHO, 3, 1, 5, "a GET whose strong dep never completed"},
	    {CONF_PROTO_CURPHO, 5, 1, 1957, "a strong read older than the replay's order"},
	    {CONF_PROTO_CURPHO, 5, 1, 800, "a broken weak-write chain"},
	    {CONF_PROTO_CURPHO, 5, 1, 2727, "contradictory arrival evidence"},
	    {CONF_PROTO_CURPHO, 5, 1, 4987, "a weak read at a restarted replica"},
	    {CONF_PROTO_CURPHO, 5, 1, 6371, "a read behind the session's earlier one"},
	    {CONF_PROTO_CURPHO, 5, 1, 5357, "writes follow reads"},
	    {CONF_PROTO_CURPHO, 5, 1, 1272, "the lookahead of rule 3"},
	    /* profile 2 seeds of 1-60 that failed before the replay order of docs/recovery.md */
	    {CONF_PROTO_CURP, 5, 2, 14,
	     "a fast-path write replayed after the session's later write of its key"},
	    {CONF_PROTO_CURPHO, 3, 2, 54, "an acknowledged write never executed"},
	    {CONF_PROTO_CURPHO, 5, 2, 55, "a strong read missing a write ordered before it"},
	    {CONF_PROTO_CURPHT, 3, 2, 24, "a strong read returning an overwritten value"},
	    {CONF_PROTO_CURP, 3, 2, 447, "a view change's answer: a lost item, a duplicated one"},
	    {CONF_PROTO_CURP, 3, 2, 345, "a transfer's item lost, one of an earlier transfer"},
	    {CONF_PROTO_CURP, 5, 2, 507, "a fast-path GET found only in records of an older view"},
	    {CONF_PROTO_CURP, 3, 2, 920, "a new leader's log window full of a grown ring's tail"},
	    {CONF_PROTO_CURP, 3, 2, 1250, "a new leader behind every collected log: pulls the state"},
	    {CONF_PROTO_CURP, 5, 2, 1859, "a new leader behind every collected log: pulls the state"},
	    {CONF_PROTO_CURP, 3, 2, 1471, "a 694-item view-change answer under loss: resumed"},
	    {CONF_PROTO_CURPHO, 3, 2, 1357, "a view change that never collected a majority whole"},
	    {CONF_PROTO_CURPHO, 3, 2, 1999, "a view change that never collected a majority whole"},
	    {CONF_PROTO_CURPHO, 3, 2, 1714, "a view change decided over a pulled transfer"},
	    {CONF_PROTO_CURPHT, 5, 2, 1212, "a stale entry at a slot another replica executed"},
	    {CONF_PROTO_CURPHO, 3, 2, 26, "a pulled transfer that failed, never asked again"},
	    {CONF_PROTO_CURPHO, 3, 2, 2782, "transfers lost mid-stream (now: connections break)"},
	    {CONF_PROTO_CURPHT, 3, 2, 665, "transfers lost mid-stream (now: connections break)"},
	    {CONF_PROTO_CURP, 3, 2, 2447, "a pulled transfer that failed, never asked again"},
	    {CONF_PROTO_CURPHO, 3, 2, 1371, "a view change decided over a pulled transfer"},
	    {CONF_PROTO_CURPHO, 5, 2, 135, "an acknowledged write lost by a third view change"},
	    {CONF_PROTO_CURPHT, 5, 2, 751, "an acknowledged write lost by a third view change"},
	    {CONF_PROTO_CURPHO, 3, 2, 390, "a witness's ok from before its restart (BUSY)"},
	    {CONF_PROTO_CURPHT, 3, 2, 1376, "a witness's ok from before its restart (lost)"},
	    {CONF_PROTO_CURPHO, 3, 2, 2263, "a weak SCAN at a replica installing a view"},
	    {CONF_PROTO_CURPHO, 5, 2, 2003, "a weak SCAN at a replica installing a view"},
	    {CONF_PROTO_CURPHT, 3, 2, 2968, "a cache entry evicted under a weak GET in flight"},
	    {CONF_PROTO_CURPHO, 3, 1, 4090, "a pulled state its holder lost: collected again"},
	    {CONF_PROTO_CURPHT, 5, 1, 45, "re-sends under a low water mark below one heartbeat"},
	    /* (these replayed the failure on the code before the fix; test_core's
	     * test_view_change_all_decisions keeps its shape) */
	    {CONF_PROTO_CURPHO, 5, 2, 4479, "stale entries of a view an earlier decision discarded"},
	    {CONF_PROTO_CURP, 5, 2, 5612, "stale entries of a view an earlier decision discarded"},
	    {CONF_PROTO_CURPHO, 5, 2, 6582, "stale entries of a view an earlier decision discarded"},
	    /* contradictory evidence (docs/recovery.md "Contradictions"); test_replay's
	     * test_contradiction_fewest keeps 7991's shape. 272, 924 and 1097 failed only with
	     * an intermediate rule (each owner's evidence given up whole, the last recorded
	     * first), never on main: a completed GET's "read nothing" against a stuck GET's */
	    {CONF_PROTO_CURPHO, 5, 2, 7991, "a completed GET's real-time edge relaxed first"},
	    {CONF_PROTO_CURPHO, 5, 2, 272, "a completed GET's gate against a stuck GET's read"},
	    {CONF_PROTO_CURPHO, 5, 2, 924, "a completed GET's gate against a stuck GET's read"},
	    {CONF_PROTO_CURPHO, 5, 2, 1097, "a completed GET's gate against a stuck GET's read"},
	    /* found by the acceptance sweep of 2026-12-07 (seeds 8001-20000): a fast-path GET's
	     * read given up to another session's weak write of its key by a view change, against
	     * stuck GETs' arrival (13702) or in a relaxed placement (14570). Fixed by F7, one
	     * candidate read, and by counting only records a client could complete on
	     * (docs/recovery.md; test_core test_ho_get_one_candidate_read, test_replay
	     * test_evidence_needs_write_set) */
	    {CONF_PROTO_CURPHO, 5, 1, 13702, "a completed GET's read against stuck GETs' arrival"},
	    {CONF_PROTO_CURPHO, 3, 2, 14570, "a completed GET's read against a weak write"},
	};
	/* seeds that fail on a protocol bug not fixed yet (issue 16, the view change); one of the
	 * default range would be left out of the sweep: each runs as a TAP TODO test, which the
	 * TAP driver counts as an expected failure while it fails, and as a failure (XPASS) once
	 * it passes: then it belongs in regress[] */
	static const struct sim_seed known[] = {
	    {CONF_PROTO_CURP, 0, 0, 0, NULL}, /* the list ends with seed 0 */
	};
	size_t nknown_seeds = 0;
	while (known[nknown_seeds].seed != 0)
		nknown_seeds++;
	int nregress = 0, nknown = 0;
	for (size_t i = 0; i < sizeof regress / sizeof regress[0]; i++)
		nregress += sweep && picked(&regress[i], profiles, only_p, only_n);
	for (size_t i = 0; i < nknown_seeds; i++)
		nknown += sweep && picked(&known[i], profiles, only_p, only_n);
	printf("1..%d\n", tests + (nregress > 0) + nknown);
	fflush(stdout);
	int t = 0, failed = 0;
	for (int prof = 1; prof <= 2; prof++)
		for (int p = 0; p < 3; p++)
			for (int k = 0; k < 2; k++) {
				if (!(profiles & prof) ||
				    (only_p >= 0 && only_p != (int)protos[p]) ||
				    (only_n && only_n != ns[k]))
					continue;
				t++;
				struct tally y = {0};
				int skipped = 0;
				for (uint64_t seed = lo; seed <= hi && (!y.failed || keep_going);
				     seed++) {
					struct sim_seed me = {protos[p], ns[k], prof, seed, NULL};
					if (sweep &&
					    listed(known, nknown_seeds, &me)) {
						skipped++; /* (a TODO test below) */
						continue;
					}
					bool ok =
					    run_one(argv[0], protos[p], ns[k], prof, seed, leases);
					if (!ok) {
						printf("# FAILED: replay with: %s --seed %" PRIu64
						       " --protocol %s --n %d --profile %d%s%s -v "
						       "(\"line N\" below: op N of its listing)\n# "
						       "%s\n",
						       argv[0], seed, pname(protos[p]), ns[k], prof,
						       leases ? "" : " --no-lease",
						       durable_runs ? " --durable" : "", S.why);
						fflush(stdout);
					}
					tally_add(&y, &S, ok);
				}
				failed += y.failed > 0;
				char name[64];
				snprintf(name, sizeof name, "%s N=%d%s", pname(protos[p]), ns[k],
					 prof == 1 ? "" : " profile 2");
				char apart[64] =
				    ""; /* (profile 1 has none: its line is unchanged) */
				if (skipped)
					snprintf(apart, sizeof apart, " (%d known failure%s apart)",
						 skipped, skipped > 1 ? "s" : "");
				printf("%s %d - %s: seeds %" PRIu64 "-%" PRIu64 "%s, %" PRIu64
				       " operations checked, %" PRIu64 " frames lost, %" PRIu64
				       " duplicated, %" PRIu64 " crashes (%" PRIu64
				       " of the leader, %" PRIu64
				       " of them cut off from the replicas only), %" PRIu64
				       " restarts with the state lost, %" PRIu64
				       " state transfers, %" PRIu64 " view changes, %" PRIu64
				       " commands recovered from witnesses, %" PRIu64
				       " runs also causally checked, %" PRIu64
				       " appends in %" PRIu64 " reads checked exactly once",
				       y.failed ? "not ok" : "ok", t, name, lo, hi, apart, y.ops,
				       y.lost, y.dups, y.crashes, y.lcrashes, y.iso, y.amnesia,
				       y.snaps, y.vcs, y.recovered, y.causal, y.appends, y.areads);
				if (prof == 2) /* (profile 1's line stays as it always was) */
					printf(", %" PRIu64 " scans checked (%" PRIu64
					       " strong), %" PRIu64
					       " keys beyond the linearizability search budget, %" PRIu64
					       " peer connections broken",
					       y.scans_strong + y.scans_weak, y.scans_strong,
					       y.lin_unknown, y.resets);
				printf(", %" PRIu64 " replayed commands placed against contradictory "
				       "evidence, %" PRIu64 " left out, %" PRIu64
				       " states pulled by a new leader",
				       y.relaxed, y.left_out, y.pulls);
				if (leases)
					printf(", %" PRIu64 " runs with client leases (%" PRIu64
					       " sessions stopped past their lease, %" PRIu64
					       " client ids expired, %" PRIu64 " new ids, %" PRIu64
					       " late retries of old ids, %" PRIu64
					       " refusals EXPIRED)",
					       y.lease_runs, y.pauses, y.expired, y.new_ids,
					       y.late_retries, y.refused);
				if (durable_runs)
					printf(", %" PRIu64 " power losses (every replica down at "
					       "once), %" PRIu64 " replicas rebuilt from their records, %" PRIu64
					       " snapshots",
					       y.power_losses, y.restores, y.hsnaps);
				printf("\n");
				if (keep_going) /* the tally scripts/sim.sh adds up over its chunks
						 */
					printf("# sim: %s N=%d profile %d seeds %" PRIu64
					       "-%" PRIu64 ": %" PRIu64 " runs, %" PRIu64
					       " failed\n",
					       pname(protos[p]), ns[k], prof, lo, hi, y.runs,
					       y.failed);
				fflush(stdout);
			}
	if (nregress > 0) {
		bool ok = true;
		char which[256] = "";
		for (size_t i = 0; i < sizeof regress / sizeof regress[0]; i++) {
			const struct sim_seed *r = &regress[i];
			if (!picked(r, profiles, only_p, only_n))
				continue;
			if (!run_one(argv[0], r->p, r->n, r->profile, r->seed, false)) {
				printf("# FAILED: replay with: %s --seed %" PRIu64
				       " --protocol %s --n %d --profile %d --no-lease -v\n# %s\n",
				       argv[0], r->seed, pname(r->p), r->n, r->profile, S.why);
				ok = false;
			}
			size_t len = strlen(which);
			snprintf(which + len, sizeof which - len, "%s%s N=%d%s seed %" PRIu64,
				 len ? ", " : "", pname(r->p), r->n,
				 r->profile == 1 ? "" : " profile 2", r->seed);
		}
		failed += !ok;
		printf("%s %d - regression seeds: %s\n", ok ? "ok" : "not ok", ++t, which);
	}
	for (size_t i = 0; sweep && i < nknown_seeds; i++) {
		const struct sim_seed *r = &known[i];
		if (!picked(r, profiles, only_p, only_n))
			continue;
		/* (as the sweep that found it ran: client leases when the seed draws them) */
		bool ok = run_one(argv[0], r->p, r->n, r->profile, r->seed, true);
		printf("%s %d - known failure, %s N=%d profile %d seed %" PRIu64 " (%s)%s%s # TODO "
		       "protocol bug not fixed yet%s\n",
		       ok ? "ok" : "not ok", ++t, pname(r->p), r->n, r->profile, r->seed, r->what,
		       ok ? "" : ": ", ok ? "" : S.why,
		       ok ? ": it passes now, move it to the regression seeds" : "");
	}
	return failed ? 1 : 0;
#endif
}
