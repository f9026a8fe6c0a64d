/* tests/sim_check: the checks of one simulated run's history and replicas (tests/sim.h). */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/sim.h"
#include "verify/verify.h"

bool sim_failf(struct sim *s, const char *fmt, ...)
{
	if (s->why[0] == 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(s->why, sizeof s->why, fmt, ap);
		va_end(ap);
	}
	return false;
}

/* The write whose value a read returned (NULL: none / not found). */
static const struct sim_op *read_from(const struct sim *s, const struct sim_op *r)
{
	if (!r->found)
		return NULL;
	for (int i = 0; i < s->nops; i++) {
		const struct sim_op *w = &s->ops[i];
		if (w->op == PROTO_OP_PUT && w->key == r->key && !strcmp(w->val, r->result))
			return w;
	}
	return r; /* a value nobody wrote: flagged by the caller */
}

static bool ok_result(const struct sim_op *o)
{
	return o->done && (o->res == SESSION_OK || o->res == SESSION_NOT_FOUND);
}

/* A delete of key ordered after slot `after` (and before `before`): what can explain a read that
 * found nothing where an earlier write left a value. */
static bool del_between(const struct sim *s, uint64_t key, uint64_t after, uint64_t before)
{
	for (int k = 0; k < s->nops; k++) {
		const struct sim_op *d = &s->ops[k];
		if (d->key == key && d->op == PROTO_OP_DEL && d->slot > after && d->slot < before)
			return true;
	}
	return false;
}

static bool akey(const struct sim_op *o)
{
	return o->key == SIM_APPEND_KEY;
}

/* The append key's list just before slot `before`: its appends in slot order. */
static void list_before(const struct sim *s, uint64_t before, char *out, size_t cap)
{
	size_t n = 0;
	uint64_t last = 0;
	bool first = true;
	out[0] = 0;
	for (;;) {
		const struct sim_op *next = NULL;
		for (int j = 0; j < s->nops; j++) {
			const struct sim_op *w = &s->ops[j];
			if (akey(w) && w->op == PROTO_OP_APPEND && w->has_slot &&
			    w->slot < before && (first || w->slot > last) &&
			    (next == NULL || w->slot < next->slot))
				next = w;
		}
		if (next == NULL || n + SIM_ELEM >= cap)
			return;
		memcpy(out + n, next->val, SIM_ELEM);
		n += SIM_ELEM;
		out[n] = 0;
		last = next->slot;
		first = false;
	}
}

static bool check_verified(struct sim *s);

/* The white-box checks: they use the slots where the replicas executed each command. */
static bool check_slots(struct sim *s)
{
	/* reads return written values; writes and strong ops have unique slots */
	for (int i = 0; i < s->nops; i++) {
		const struct sim_op *o = &s->ops[i];
		if (o->op == PROTO_OP_GET && !akey(o) && read_from(s, o) == o)
			return sim_failf(
			    s, "read of a value never written: session %d seq %" PRIu64 " got '%s'",
			    o->sess, o->seq, o->result);
		bool slotted = !o->weak || o->op != PROTO_OP_GET;
		if (slotted && !o->has_slot)
			return sim_failf(s, "session %d seq %" PRIu64 " completed without a slot",
					 o->sess, o->seq);
		for (int j = i + 1; slotted && j < s->nops; j++)
			if (s->ops[j].has_slot && s->ops[j].slot == o->slot)
				return sim_failf(s, "two commands at slot %" PRIu64, o->slot);
	}
	/* the certificate: a strong read returns exactly the latest write ordered before it (of
	 * the append key: the appends ordered before it, in order) */
	for (int i = 0; i < s->nops; i++) {
		const struct sim_op *a = &s->ops[i];
		if (a->weak || a->op != PROTO_OP_GET)
			continue;
		if (akey(a)) {
			static char want[sizeof a->result];
			list_before(s, a->slot, want, sizeof want);
			if (strcmp(want, a->found ? a->result : ""))
				return sim_failf(
				    s,
				    "strong read session %d seq %" PRIu64 " (slot %" PRIu64
				    ") of the append key returned '%s', the appends before "
				    "it make '%s'",
				    a->sess, a->seq, a->slot, a->found ? a->result : "", want);
			continue;
		}
		const struct sim_op *want = NULL;
		for (int j = 0; j < s->nops; j++) {
			const struct sim_op *w = &s->ops[j];
			if (w->key == a->key && w->op != PROTO_OP_GET && w->slot < a->slot &&
			    (want == NULL || w->slot > want->slot))
				want = w;
		}
		bool want_found = want && want->op == PROTO_OP_PUT;
		if (a->found != want_found || (a->found && strcmp(a->result, want->val) != 0))
			return sim_failf(
			    s,
			    "strong read session %d seq %" PRIu64 " (slot %" PRIu64
			    ") returned '%s', the latest write before it left '%s' (slot %" PRIu64
			    ")",
			    a->sess, a->seq, a->slot, a->found ? a->result : "",
			    want_found ? want->val : "", want ? want->slot : 0);
	}
	/* real time between strong ops; per session and key: monotonic writes, read-your-writes,
	 * monotonic reads, writes-follow-reads (weak operations included) */
	for (int i = 0; i < s->nops; i++) {
		const struct sim_op *a = &s->ops[i];
		for (int j = 0; j < s->nops; j++) {
			const struct sim_op *b = &s->ops[j];
			if (i == j || a->complete >= b->invoke)
				continue; /* a completed before b was invoked */
			/* per key, for conflicting commands (linearizability is local, and reads
			 * commute: a view change may replay commands that completed on the fast
			 * path in another order, but never two that conflict) */
			if (!a->weak && !b->weak && a->key == b->key &&
			    (a->op != PROTO_OP_GET || b->op != PROTO_OP_GET) && a->slot > b->slot)
				return sim_failf(s,
						 "real time: slot %" PRIu64
						 " completed before slot %" PRIu64 " was invoked",
						 a->slot, b->slot);
			if (a->sess != b->sess || a->key != b->key || akey(a))
				continue; /* (the append key: its certificate says it all) */
			bool aw = a->op != PROTO_OP_GET, bw = b->op != PROTO_OP_GET;
			const struct sim_op *ra = aw ? NULL : read_from(s, a);
			if (aw && bw && a->slot > b->slot)
				return sim_failf(s,
						 "monotonic writes: session %d seq %" PRIu64
						 " ordered before seq %" PRIu64,
						 a->sess, b->seq, a->seq);
			if (!aw && bw && ra && ra->slot > b->slot)
				return sim_failf(s,
						 "writes follow reads: session %d seq %" PRIu64
						 " ordered before the write seq %" PRIu64 " read",
						 a->sess, b->seq, a->seq);
			if (bw)
				continue;
			/* b is a read: it must not go behind what the session wrote or saw */
			const struct sim_op *rb = read_from(s, b);
			uint64_t floor = aw ? a->slot : ra ? ra->slot : 0;
			bool floor_found = aw ? a->op == PROTO_OP_PUT : ra != NULL;
			uint64_t limit = b->weak ? UINT64_MAX : b->slot;
			if (!aw && ra == NULL)
				continue; /* a found nothing: no floor */
			if (rb ? rb->slot < floor
			       : (floor_found && !del_between(s, a->key, floor, limit)))
				return sim_failf(s,
						 "session %d: read seq %" PRIu64
						 " returned '%s' (slot %" PRIu64
						 "), behind its seq %" PRIu64 " (slot %" PRIu64 ")",
						 a->sess, b->seq, rb ? rb->val : "nothing",
						 rb ? rb->slot : 0, a->seq, floor);
		}
	}
	return true;
}

bool sim_check_history(struct sim *s)
{
	/* every op completed with a real answer (no leader faults: nothing may time out) */
	for (int i = 0; i < s->nops; i++)
		if (!ok_result(&s->ops[i]))
			return sim_failf(s, "op %d (session %d seq %" PRIu64 ") ended %d", i,
					 s->ops[i].sess, s->ops[i].seq, s->ops[i].res);
#ifndef CURPKV_SIM_BLACKBOX
	if (!check_slots(s))
		return false;
#else
	(void)check_slots;
#endif
	return check_verified(s);
}

/* The checks of the recorded history alone (verify/): what a user's history file gets. */
static bool check_verified(struct sim *s)
{
	/* per-key linearizability of the strong ops and the weak writes (each taking effect
	 * between its invocation and the moment its slot was known) */
	struct verify_history vh = {0};
	for (int i = 0; i < s->nops; i++) {
		const struct sim_op *o = &s->ops[i];
		if (o->weak && o->op == PROTO_OP_GET)
			continue;
		struct verify_op v = {.session = (uint64_t)o->sess,
				      .seq = o->seq,
				      .kind = o->op == PROTO_OP_GET	 ? VERIFY_GET
					      : o->op == PROTO_OP_PUT	 ? VERIFY_PUT
					      : o->op == PROTO_OP_APPEND ? VERIFY_APPEND
									 : VERIFY_DEL,
				      .invoke_ns = o->invoke,
				      .complete_ns = o->weak ? o->ordered_at : o->complete,
				      .status = VERIFY_OK,
				      .line =
					  i + 1}; /* the checkers' "line": the -v listing's op */
		char hex[40];
		snprintf(hex, sizeof hex, "%016" PRIx64, o->key);
		v.key = strdup(hex);
		if (o->op == PROTO_OP_PUT || o->op == PROTO_OP_APPEND) {
			char *x = malloc(2 * strlen(o->val) + 1);
			for (size_t k = 0; k < strlen(o->val); k++)
				sprintf(x + 2 * k, "%02x", (unsigned char)o->val[k]);
			x[2 * strlen(o->val)] = 0;
			v.value = x;
		}
		if (o->op == PROTO_OP_GET && o->found) {
			char *x = malloc(2 * strlen(o->result) + 1);
			for (size_t k = 0; k < strlen(o->result); k++)
				sprintf(x + 2 * k, "%02x", (unsigned char)o->result[k]);
			x[2 * strlen(o->result)] = 0;
			v.result = x;
		}
		if (v.key == NULL || verify_add(&vh, &v) != 0)
			abort();
	}
	struct verify_result vr;
	enum verify_status st = verify_linearizable(&vh, 2000000, &vr);
	struct verify_append_result ar;
	enum verify_status ast = verify_appends(&vh, &ar);
	verify_free(&vh);
	if (st == VERIFY_FAIL)
		return sim_failf(s, "not linearizable: %s", vr.first_violation);
	if (ast != VERIFY_OK)
		return sim_failf(s, "appends: %s", ar.first_violation);
	s->appends += ar.appends;
	s->append_reads += ar.reads;
	/* the causal checker over every operation, when sessions ran one at a time; not for
	 * curpht, whose guarantees are per key (docs/protocols.md, "curpht") */
	if (s->cfg.window == 1 && s->cfg.protocol != CONF_PROTO_CURPHT) {
		for (int i = 0; i < s->nops; i++) {
			const struct sim_op *o = &s->ops[i];
			if (akey(o))
				continue; /* (list semantics: the append check's) */
			struct verify_op v = {.session = (uint64_t)o->sess,
					      .seq = o->seq,
					      .kind = o->op == PROTO_OP_GET   ? VERIFY_GET
						      : o->op == PROTO_OP_PUT ? VERIFY_PUT
									      : VERIFY_DEL,
					      .weak = o->weak,
					      .invoke_ns = o->invoke,
					      .complete_ns = o->complete,
					      .status = VERIFY_OK,
					      .line = i + 1};
			char hexk[40];
			snprintf(hexk, sizeof hexk, "%016" PRIx64, o->key);
			v.key = strdup(hexk);
			const char *b = o->op == PROTO_OP_PUT ? o->val
					: o->found	      ? o->result
							      : NULL;
			if (b) {
				char *x = malloc(2 * strlen(b) + 1);
				for (size_t k = 0; k < strlen(b); k++)
					sprintf(x + 2 * k, "%02x", (unsigned char)b[k]);
				x[2 * strlen(b)] = 0;
				if (o->op == PROTO_OP_PUT)
					v.value = x;
				else
					v.result = x;
			}
			if (v.key == NULL || verify_add(&vh, &v) != 0)
				abort();
		}
		struct verify_causal_result cr;
		enum verify_status cs = verify_causal(&vh, &cr);
		verify_free(&vh);
		if (cs != VERIFY_OK)
			return sim_failf(s, "causal check: %s", cr.first_violation);
		s->causal_checked++;
	}
	return true;
}

bool sim_check_replicas(struct sim *s)
{
	struct core_stats lst;
	int L = s->h.leader;
	core_get_stats(s->h.cores[L], &lst);
#ifdef CURPKV_SIM_BLACKBOX
	return true; /* (the histories only) */
#endif
	/* exactly once: nothing executes more often than it was submitted */
	uint64_t slotted = 0;
	for (int i = 0; i < s->nops; i++)
		slotted += !(s->ops[i].weak && s->ops[i].op == PROTO_OP_GET);
	if (lst.executed > slotted)
		return sim_failf(s, "%" PRIu64 " executions of %" PRIu64 " commands", lst.executed,
				 slotted);
	uint64_t d = core_digest(s->h.cores[L]);
	for (int r = 0; r < s->cfg.n; r++) {
		struct core_stats st;
		core_get_stats(s->h.cores[r], &st);
		if (core_digest(s->h.cores[r]) != d || st.exec_index != lst.exec_index)
			return sim_failf(s,
					 "replica %d diverged: exec %" PRIu64 " vs %" PRIu64
					 ", digest %016" PRIx64 " vs %016" PRIx64,
					 r, st.exec_index, lst.exec_index,
					 core_digest(s->h.cores[r]), d);
	}
	return true;
}
