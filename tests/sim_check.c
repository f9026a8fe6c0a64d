/* tests/sim_check: the checks of one simulated run's history and replicas (tests/sim.h).
 *
 * The white-box checks use the slot where the replicas executed each command (every replica
 * reports each execution, and a command executes at one slot everywhere: checked as it runs),
 * which makes them exact: no search. They are the slot certificate of verify/slots.c, which
 * the system tests on real processes use too (tests/test_hybrid.c). */
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

static bool is_read(const struct sim_op *o)
{
	return o->op == PROTO_OP_GET || o->op == PROTO_OP_SCAN;
}

static bool akey(const struct sim *s, uint64_t key)
{
	return key == s->cfg.nkeys; /* (only curp writes it) */
}

static bool ok_result(const struct sim_op *o)
{
	return o->done && (o->res == SESSION_OK || o->res == SESSION_NOT_FOUND);
}

/* ---- the slot certificate (verify/slots.c) ------------------------------------------------ */

/* The run as the certificate sees it: ops[i] is s->ops[i]. Returns NULL if out of memory. */
static struct verify_sop *slot_ops(const struct sim *s)
{
	struct verify_sop *v = calloc((size_t)s->nops + 1, sizeof *v);
	for (int i = 0; v && i < s->nops; i++) {
		const struct sim_op *o = &s->ops[i];
		v[i] = (struct verify_sop){.session = (uint64_t)o->sess,
					   .seq = o->seq,
					   .op = o->op,
					   .weak = o->weak,
					   .key = o->key,
					   .count = o->count,
					   .val = o->val,
					   .found = o->found,
					   .result = o->result,
					   .rlen = o->rlen,
					   .invoke = o->invoke,
					   .complete = o->complete,
					   .exec_at = o->exec_at,
					   .slot = o->slot,
					   .has_slot = o->has_slot};
	}
	return v;
}

static struct verify_slots_run slot_run(const struct sim *s, const struct verify_sop *ops)
{
	return (struct verify_slots_run){.ops = ops,
					 .n = (size_t)s->nops,
					 .nkeys = s->cfg.nkeys,
					 .appends = s->cfg.protocol == CONF_PROTO_CURP,
					 .elem = SIM_ELEM};
}

void sim_scan_text(const struct sim *s, const struct sim_op *o, char *out, size_t cap)
{
	struct verify_sop *ops = slot_ops(s);
	if (ops == NULL)
		abort(); /* (a test) */
	struct verify_slots_run run = slot_run(s, ops);
	verify_sop_scan_text(&run, &ops[o - s->ops], out, cap);
	free(ops);
}

/* The white-box checks: the slot certificate (verify_slots) of the run. */
static bool check_slots(struct sim *s)
{
	struct verify_sop *ops = slot_ops(s);
	if (ops == NULL)
		abort();
	struct verify_slots_run run = slot_run(s, ops);
	struct verify_slots_result res;
	enum verify_status st = verify_slots(&run, &res);
	free(ops);
	if (res.nomem)
		abort();
	s->scans_strong += res.scans_strong;
	s->scans_weak += res.scans_weak;
	return st == VERIFY_OK || sim_failf(s, "%s", res.first_violation);
}

static bool check_verified(struct sim *s);

bool sim_check_history(struct sim *s)
{
	/* every op completed with a real answer (no leader faults: nothing may time out) */
	for (int i = 0; i < s->nops; i++)
		if (!ok_result(&s->ops[i]))
			return sim_failf(s, "op %d (session %d seq %" PRIu64 ") ended %d", i + 1,
					 s->ops[i].sess, s->ops[i].seq, s->ops[i].res);
#ifndef CURPKV_SIM_BLACKBOX
	if (!check_slots(s))
		return false;
#else
	(void)check_slots;
#endif
	return check_verified(s);
}

/* The bytes of a NUL-terminated string in lowercase hex (the history's format), allocated. */
static char *hexdup(const char *b)
{
	static const char digits[] = "0123456789abcdef";
	size_t n = strlen(b);
	char *x = malloc(2 * n + 1);
	if (x == NULL)
		abort();
	for (size_t k = 0; k < n; k++) {
		x[2 * k] = digits[(unsigned char)b[k] >> 4];
		x[2 * k + 1] = digits[(unsigned char)b[k] & 15];
	}
	x[2 * n] = 0;
	return x;
}

static struct verify_op history_op(const struct sim_op *o, int line)
{
	struct verify_op v = {.session = (uint64_t)o->sess,
			      .seq = o->seq,
			      .kind = o->op == PROTO_OP_GET	 ? VERIFY_GET
				      : o->op == PROTO_OP_PUT	 ? VERIFY_PUT
				      : o->op == PROTO_OP_APPEND ? VERIFY_APPEND
								 : VERIFY_DEL,
			      .invoke_ns = o->invoke,
			      .complete_ns = o->complete,
			      .status = VERIFY_OK,
			      .line = line}; /* the checkers' "line": the -v listing's op */
	char hex[40];
	snprintf(hex, sizeof hex, "%016" PRIx64, o->key);
	v.key = strdup(hex);
	if (v.key == NULL)
		abort();
	if (o->op == PROTO_OP_PUT || o->op == PROTO_OP_APPEND)
		v.value = hexdup(o->val);
	if (o->op == PROTO_OP_GET && o->found)
		v.result = hexdup(o->result);
	return v;
}

/* The checks of the recorded history alone (verify/): what a user's history file gets. SCANs
 * are not in it (the checkers are per key: check_slots checks them). */
static bool check_verified(struct sim *s)
{
	/* per-key linearizability of the strong ops and the weak writes (each taking effect
	 * between its invocation and the moment its slot was known) */
	struct verify_history vh = {0};
	for (int i = 0; i < s->nops; i++) {
		const struct sim_op *o = &s->ops[i];
		if ((o->weak && o->op == PROTO_OP_GET) || o->op == PROTO_OP_SCAN)
			continue;
		struct verify_op v = history_op(o, i + 1);
		if (o->weak)
			v.complete_ns = o->ordered_at;
		if (verify_add(&vh, &v) != 0)
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
	s->lin_unknown += vr.keys_unknown;
	/* the causal checker over every operation, when sessions ran one at a time (it cannot
	 * order a pipelined session's overlapping operations: those runs keep the per-key
	 * session checks of check_sessions); not for curpht, whose guarantees are per key
	 * (docs/protocols.md, "curpht") */
	if (s->cfg.window == 1 && s->cfg.protocol != CONF_PROTO_CURPHT) {
		for (int i = 0; i < s->nops; i++) {
			const struct sim_op *o = &s->ops[i];
			if (akey(s, o->key) || o->op == PROTO_OP_SCAN)
				continue; /* (list semantics: the append check's; SCANs: above) */
			struct verify_op v = history_op(o, i + 1);
			v.weak = o->weak;
			if (verify_add(&vh, &v) != 0)
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
		slotted += !(s->ops[i].weak && is_read(&s->ops[i]));
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
		if (st.expire_floor != lst.expire_floor) /* (client leases: the same EXPIREs) */
			return sim_failf(s,
					 "replica %d diverged: expired-client floor %" PRIu64
					 " vs %" PRIu64,
					 r, st.expire_floor, lst.expire_floor);
	}
	return true;
}
