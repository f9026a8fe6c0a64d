/* Unit tests of the view change's replay order (replica/core_replay.c): hand-made witness records
 * as a new leader collects them, and the order each rule of docs/recovery.md "Replay order"
 * demands. The module's own test of an internal function: it includes replica/core_int.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "replica/core_int.h"

/* One record: command (client, seq, op, key), which replica holds it, in what position. */
struct rec {
	uint64_t client, seq;
	uint8_t op;
	char key;
	bool weak;
	int from;
	uint64_t arr;
	bool ok;
	uint64_t dep, weak_dep;
	struct proto_cid read_dep;
};

#define MAXR 64

struct fixture {
	struct vc_item items[MAXR];
	struct vc_item *rv[MAXR];
	struct replay_cand cand[MAXR];
	uint32_t nr, nc;
	uint32_t order[MAXR];
	struct replay_stats st;
};

static int rec_cmp(const void *a, const void *b)
{
	const struct vc_item *x = *(struct vc_item *const *)a, *y = *(struct vc_item *const *)b;
	if (x->cid.client != y->cid.client)
		return x->cid.client < y->cid.client ? -1 : 1;
	if (x->cid.seq != y->cid.seq)
		return x->cid.seq < y->cid.seq ? -1 : 1;
	return x->from - y->from;
}

/* Builds the records (any order) into candidates as vc_decide does (sorted by cid; a strong
 * command needs `threshold` ok holders); `known` lists the weak_deps ordered already. */
static void build(struct fixture *f, const struct rec *r, uint32_t n, int threshold,
		  const uint64_t *known, uint32_t nknown)
{
	memset(f, 0, sizeof *f);
	assert_true(n <= MAXR);
	for (uint32_t i = 0; i < n; i++) {
		struct vc_item *it = &f->items[i];
		*it = (struct vc_item){.record = true,
				       .ok = r[i].ok || r[i].weak,
				       .weak = r[i].weak,
				       .from = r[i].from,
				       .op = r[i].op,
				       .slot = r[i].arr,
				       .dep = r[i].dep,
				       .weak_dep = r[i].weak ? r[i].dep : r[i].weak_dep,
				       .read_dep = r[i].read_dep,
				       .cid = {r[i].client, r[i].seq},
				       .kv = {.in = {(uint8_t)r[i].key}}, /* (inline) */
				       .klen = 1};
		f->rv[i] = it;
	}
	f->nr = n;
	qsort(f->rv, n, sizeof *f->rv, rec_cmp);
	for (uint32_t i = 0; i < n;) {
		uint32_t j = i;
		int holders = 0, last = -1;
		bool weak = false;
		for (; j < n && f->rv[j]->cid.client == f->rv[i]->cid.client &&
		       f->rv[j]->cid.seq == f->rv[i]->cid.seq;
		     j++) {
			if (f->rv[j]->ok && f->rv[j]->from != last) {
				holders++;
				last = f->rv[j]->from;
			}
			weak |= f->rv[j]->weak;
		}
		uint64_t wd = f->rv[i]->weak_dep;
		bool k = wd == 0;
		for (uint32_t q = 0; q < nknown; q++)
			k |= known[q] == wd;
		if (weak || holders >= threshold)
			f->cand[f->nc++] = (struct replay_cand){
			    .lo = i, .hi = j, .weak = weak, .weak_dep_known = k};
		i = j;
	}
}

static int run(struct fixture *f, int threshold, bool ho)
{
	return core_replay_order(f->rv, f->cand, f->nc, threshold, ho, f->order, &f->st);
}

/* Position of (client, seq) in the decided order, -1 if left out. */
static int pos(const struct fixture *f, int n, uint64_t client, uint64_t seq)
{
	for (int k = 0; k < n; k++) {
		const struct vc_item *x = f->rv[f->cand[f->order[k]].lo];
		if (x->cid.client == client && x->cid.seq == seq)
			return k;
	}
	return -1;
}

#define W(c, s, k, from, arr, dep)                                                                 \
	{                                                                                          \
		c, s, PROTO_OP_PUT, k, true, from, arr, true, dep, 0,                              \
		{                                                                                  \
			0, 0                                                                       \
		}                                                                                  \
	}
#define GET(c, s, k, from, arr, rdc, rds, wd)                                                      \
	{                                                                                          \
		c, s, PROTO_OP_GET, k, false, from, arr, true, wd, wd,                             \
		{                                                                                  \
			rdc, rds                                                                   \
		}                                                                                  \
	}

/* Rule 3, from simulation seed curpho N=3 2036: session 2 wrote key x weakly (2-3), session 10
 * wrote it after (10-5), and session 2's strong GET read 10-5 on the fast path (both
 * witnesses: read_dep 10-5). The GET goes right after 10-5, and 2-3, which its session wrote
 * before the GET, goes before 10-5 (the old code put 10-5 first: the GET's read then missed
 * 2-3). Client ids are never 0 (0 is "none"). */
static void test_get_reads_its_read_dep(void **state)
{
	(void)state;
	struct fixture f;
	const struct rec r[] = {
	    W(3, 2, 'x', 1, 22, 0),	     W(3, 2, 'x', 2, 45, 0),
	    W(2, 3, 'x', 1, 23, 0),	     W(2, 3, 'x', 2, 47, 0),
	    W(10, 5, 'x', 1, 24, 3),	     W(10, 5, 'x', 2, 48, 3),
	    GET(2, 7, 'x', 1, 25, 10, 5, 3), GET(2, 7, 'x', 2, 49, 10, 5, 3),
	    W(10, 3, 'y', 1, 4, 0),	     W(10, 3, 'y', 2, 29, 0), /* 10-5's dep */
	};
	build(&f, r, sizeof r / sizeof r[0], 2, NULL, 0);
	int n = run(&f, 2, true);
	assert_int_equal(n, 5);
	assert_true(pos(&f, n, 2, 3) < pos(&f, n, 10, 5));
	assert_int_equal(pos(&f, n, 2, 7), pos(&f, n, 10, 5) + 1);
	assert_int_equal(f.st.relaxed, 0);
	assert_int_equal(f.st.dropped, 0);
}

/* Rule 3: a GET that read none of the recovered writes (agreed read_dep none, or a write
 * already in the log) goes before every recovered write of its key, whatever the cids say. */
static void test_get_before_unread_writes(void **state)
{
	(void)state;
	struct fixture f;
	const struct rec r[] = {
	    W(1, 1, 'x', 1, 5, 0),	   W(1, 1, 'x', 2, 2, 0),
	    GET(7, 1, 'x', 1, 1, 0, 0, 0), GET(7, 1, 'x', 2, 1, 0, 0, 0),
	    GET(8, 1, 'x', 1, 3, 9, 9, 0), /* read 9-9, in the log already */
	    GET(8, 1, 'x', 2, 4, 9, 9, 0),
	};
	build(&f, r, sizeof r / sizeof r[0], 2, NULL, 0);
	int n = run(&f, 2, true);
	assert_int_equal(n, 3);
	assert_true(pos(&f, n, 7, 1) < pos(&f, n, 1, 1));
	assert_true(pos(&f, n, 8, 1) < pos(&f, n, 1, 1));
}

/* Rule 3 needs agreement: witnesses that disagree on a GET's read_dep mean it never completed
 * on the fast path (seed curpho N=3 2036, session 3's GET): no constraint from it, and
 * session order puts it after its own earlier write of the key (the old code deadlocked on
 * that and fell back to cid order for everything). */
static void test_get_without_agreement_is_free(void **state)
{
	(void)state;
	struct fixture f;
	const struct rec r[] = {
	    W(3, 1, 'x', 1, 10, 0),	    W(3, 1, 'x', 2, 34, 0), GET(3, 3, 'x', 1, 13, 0, 2, 1),
	    GET(3, 3, 'x', 2, 36, 3, 1, 1), W(1, 4, 'x', 1, 15, 0), W(1, 4, 'x', 2, 39, 0),
	};
	build(&f, r, sizeof r / sizeof r[0], 2, NULL, 0);
	int n = run(&f, 2, true);
	assert_int_equal(n, 3);
	assert_true(pos(&f, n, 3, 1) < pos(&f, n, 3, 3));
	assert_int_equal(f.st.relaxed, 0);
}

/* Rule 2 and rule 3 together: G1 read R1 and completed before G2 (which read R2) was sent, so
 * both holders recorded G1 first: R1, G1, R2, G2, although R2's cid is the lowest. */
static void test_real_time_between_gets(void **state)
{
	(void)state;
	struct fixture f;
	const struct rec r[] = {
	    W(5, 1, 'x', 1, 1, 0),	   W(5, 1, 'x', 2, 1, 0),	  /* R1 */
	    GET(6, 1, 'x', 1, 2, 5, 1, 0), GET(6, 1, 'x', 2, 2, 5, 1, 0), /* G1 */
	    W(1, 1, 'x', 1, 3, 0),	   W(1, 1, 'x', 2, 3, 0),	  /* R2 */
	    GET(7, 1, 'x', 1, 4, 1, 1, 0), GET(7, 1, 'x', 2, 4, 1, 1, 0), /* G2 */
	};
	build(&f, r, sizeof r / sizeof r[0], 2, NULL, 0);
	int n = run(&f, 2, true);
	assert_int_equal(n, 4);
	assert_int_equal(pos(&f, n, 5, 1), 0);
	assert_int_equal(pos(&f, n, 6, 1), 1);
	assert_int_equal(pos(&f, n, 1, 1), 2);
	assert_int_equal(pos(&f, n, 7, 1), 3);
}

/* Rule 2: a strong write recorded first at the threshold of its holders goes before a weak
 * write of another session on its key; a weak write with only one holder recording it first
 * does not move it. */
static void test_strong_before_later_weak(void **state)
{
	(void)state;
	struct fixture f;
	const struct rec r[] = {
	    {9, 1, PROTO_OP_PUT, 'x', false, 1, 1, true, 0, 0, {0, 0}},
	    {9, 1, PROTO_OP_PUT, 'x', false, 2, 2, true, 0, 0, {0, 0}},
	    W(1, 1, 'x', 1, 2, 0),
	    W(1, 1, 'x', 2, 1, 0),
	    W(2, 1, 'x', 1, 3, 0),
	    W(2, 1, 'x', 2, 3, 0),
	};
	build(&f, r, sizeof r / sizeof r[0], 2, NULL, 0);
	int n = run(&f, 2, true);
	assert_int_equal(n, 3);
	assert_true(pos(&f, n, 9, 1) < pos(&f, n, 2, 1));
	assert_true(pos(&f, n, 1, 1) < pos(&f, n, 9, 1)); /* free: the lowest cid */
}

/* Rule 1: a weak write whose previous weak write is neither recovered nor ordered is left out,
 * with the commands whose weak_dep it is (seed curpho N=5 800: a GET replayed without its
 * session's write, which was lost with a connection, read past it); a strong command whose
 * missing dep is a strong write (never completed) is kept (seed curpho N=3 5). */
static void test_broken_chains_left_out(void **state)
{
	(void)state;
	struct fixture f;
	const struct rec r[] = {
	    W(4, 3, 'x', 1, 1, 2), /* 4-2 lost */
	    W(4, 3, 'x', 2, 1, 2),
	    GET(4, 5, 'y', 1, 2, 0, 0, 3), /* weak_dep 4-3 */
	    GET(4, 5, 'y', 2, 2, 0, 0, 3),
	    /* dep 5-5: a strong PUT not recovered */
	    {5, 6, PROTO_OP_GET, 'y', false, 1, 3, true, 5, 0, {0, 0}},
	    {5, 6, PROTO_OP_GET, 'y', false, 2, 3, true, 5, 0, {0, 0}},
	    GET(6, 2, 'y', 1, 4, 0, 0, 1), /* weak_dep 6-1: executed, known */
	    GET(6, 2, 'y', 2, 4, 0, 0, 1),
	};
	uint64_t known[] = {1};
	build(&f, r, sizeof r / sizeof r[0], 2, known, 1);
	int n = run(&f, 2, true);
	assert_int_equal(n, 2);
	assert_int_equal(f.st.dropped, 2);
	assert_int_equal(pos(&f, n, 4, 3), -1);
	assert_int_equal(pos(&f, n, 4, 5), -1);
	assert_true(pos(&f, n, 5, 6) >= 0);
	assert_true(pos(&f, n, 6, 2) >= 0);
}

/* Contradictory evidence (commands that never completed) is relaxed, counted, and never
 * breaks session order. */
static void test_contradiction_relaxed(void **state)
{
	(void)state;
	struct fixture f;
	/* both GETs "read" each other's session's write, and each witness recorded its own
	 * GET before the other's write: no order satisfies both */
	const struct rec r[] = {
	    W(1, 1, 'x', 1, 1, 0),	   W(1, 1, 'x', 2, 1, 0),
	    W(2, 1, 'x', 1, 2, 0),	   W(2, 1, 'x', 2, 2, 0),
	    GET(1, 2, 'x', 1, 3, 2, 1, 1), GET(1, 2, 'x', 2, 3, 2, 1, 1),
	    GET(2, 2, 'x', 1, 4, 1, 1, 1), GET(2, 2, 'x', 2, 4, 1, 1, 1),
	};
	build(&f, r, sizeof r / sizeof r[0], 2, NULL, 0);
	int n = run(&f, 2, true);
	assert_int_equal(n, 4);
	assert_true(f.st.relaxed > 0);
	assert_true(pos(&f, n, 1, 1) < pos(&f, n, 1, 2));
	assert_true(pos(&f, n, 2, 1) < pos(&f, n, 2, 2));
}

/* The shape of simulation seed curpho N=5 profile 2 7991. GETs 2-1 and 5-1 completed on the
 * fast path reading 4-2; session 2 then sent the weak write 2-2 and the strong GET 2-3, which
 * never completed, but whose witnesses agree it read no recovered write of y: it would go
 * before 4-1, session 4's earlier write. With 4-1 -> 4-2 (session), 4-2 -> 2-1 (read), 2-1 ->
 * 2-2 (real time) and 2-2 -> 2-3 (session), nothing can be placed first. Relaxing rule 2's
 * edges first (the old rule) put 2-2 before 2-1 and 5-1, going against two commands' evidence
 * (and 2-1's session saw it complete before sending 2-2); placing 4-1 goes against one, 2-3's. */
static void test_contradiction_fewest(void **state)
{
	(void)state;
	struct fixture f;
	const struct rec r[] = {
	    W(4, 1, 'y', 3, 7, 0), /* recorded at replica 3 only, late */
	    W(4, 2, 'x', 1, 2, 1),	   W(4, 2, 'x', 2, 2, 1),
	    GET(2, 1, 'x', 1, 3, 4, 2, 0), GET(2, 1, 'x', 2, 3, 4, 2, 0),
	    GET(5, 1, 'x', 1, 4, 4, 2, 0), GET(5, 1, 'x', 2, 4, 4, 2, 0),
	    W(2, 2, 'x', 1, 5, 0),	   W(2, 2, 'x', 2, 5, 0),
	    GET(2, 3, 'y', 1, 6, 0, 0, 2), GET(2, 3, 'y', 2, 6, 0, 0, 2),
	};
	build(&f, r, sizeof r / sizeof r[0], 2, NULL, 0);
	int n = run(&f, 2, true);
	assert_int_equal(n, 6);
	assert_true(pos(&f, n, 2, 1) < pos(&f, n, 2, 2)); /* real time of the completed GETs */
	assert_true(pos(&f, n, 5, 1) < pos(&f, n, 2, 2));
	assert_true(pos(&f, n, 4, 2) < pos(&f, n, 2, 1)); /* and what they read */
	assert_true(pos(&f, n, 4, 2) < pos(&f, n, 5, 1));
	assert_true(pos(&f, n, 4, 1) < pos(&f, n, 4, 2));
	assert_true(pos(&f, n, 2, 2) < pos(&f, n, 2, 3));
	assert_int_equal(f.st.relaxed, 1); /* one placement against 2-3's evidence */
}

/* Evidence of a command its session declared done (a collected replica heard a low_seq above
 * it: replay_cand.completed) outweighs any number of others'. The shape above, but 2-3 is
 * declared done and 2-1 and 5-1 are not: 2-2 goes first then. */
static void test_contradiction_completed(void **state)
{
	(void)state;
	struct fixture f;
	const struct rec r[] = {
	    W(4, 1, 'y', 3, 7, 0),	   W(4, 2, 'x', 1, 2, 1),
	    W(4, 2, 'x', 2, 2, 1),	   GET(2, 1, 'x', 1, 3, 4, 2, 0),
	    GET(2, 1, 'x', 2, 3, 4, 2, 0), GET(5, 1, 'x', 1, 4, 4, 2, 0),
	    GET(5, 1, 'x', 2, 4, 4, 2, 0), W(2, 2, 'x', 1, 5, 0),
	    W(2, 2, 'x', 2, 5, 0),	   GET(2, 3, 'y', 1, 6, 0, 0, 2),
	    GET(2, 3, 'y', 2, 6, 0, 0, 2),
	};
	build(&f, r, sizeof r / sizeof r[0], 2, NULL, 0);
	for (uint32_t k = 0; k < f.nc; k++) {
		const struct vc_item *x = f.rv[f.cand[k].lo];
		f.cand[k].completed = x->cid.client == 2 && x->cid.seq == 3;
	}
	int n = run(&f, 2, true);
	assert_int_equal(n, 6);
	assert_true(pos(&f, n, 2, 3) < pos(&f, n, 4, 1)); /* 2-3's read kept */
	assert_true(pos(&f, n, 2, 2) < pos(&f, n, 2, 3));
	assert_true(pos(&f, n, 4, 1) < pos(&f, n, 4, 2));
}

/* Evidence counts only where it could have completed a command (fast_holders, F4). The shape
 * of simulation seed curpho N=5 13702 in small: GET 2-1 completed reading a write already in
 * the log (so before every recovered write of x); session 10's weak write 10-1 reached replica
 * 3 only, and its strong GETs 10-2 and 10-3 were recorded at replicas 1 and 2 before 2-1. Those
 * records list no 10-1 among the session's pending writes: the client could not complete
 * 10-2 or 10-3 on them, so their "recorded first" is no real-time evidence. Counted, they
 * outweighed 2-1's read (two commands against one) and 10-1 went before 2-1. */
static void test_evidence_needs_write_set(void **state)
{
	(void)state;
	struct fixture f;
	const struct rec r[] = {
	    W(10, 1, 'x', 3, 1, 0),
	    GET(10, 2, 'x', 1, 2, 0, 0, 1), GET(10, 2, 'x', 2, 2, 0, 0, 1),
	    GET(10, 3, 'x', 1, 3, 0, 0, 1), GET(10, 3, 'x', 2, 3, 0, 0, 1),
	    GET(2, 1, 'x', 1, 4, 5, 5, 0),  GET(2, 1, 'x', 2, 4, 5, 5, 0),
	};
	build(&f, r, sizeof r / sizeof r[0], 2, NULL, 0);
	int n = run(&f, 2, true);
	assert_int_equal(n, 4);
	assert_int_equal(f.st.relaxed, 0);
	assert_true(pos(&f, n, 2, 1) < pos(&f, n, 10, 1)); /* 2-1's read kept */
	assert_true(pos(&f, n, 10, 1) < pos(&f, n, 10, 2));
	assert_true(pos(&f, n, 10, 2) < pos(&f, n, 10, 3));
	/* the same records, with 10-1 recorded at replicas 1 and 2 before the GETs: now they
	 * are evidence, and it contradicts 2-1's (F7 keeps a completed 2-1 from this) */
	const struct rec r2[] = {
	    W(10, 1, 'x', 1, 1, 0),	    W(10, 1, 'x', 2, 1, 0),
	    GET(10, 2, 'x', 1, 2, 0, 0, 1), GET(10, 2, 'x', 2, 2, 0, 0, 1),
	    GET(10, 3, 'x', 1, 3, 0, 0, 1), GET(10, 3, 'x', 2, 3, 0, 0, 1),
	    GET(2, 1, 'x', 1, 4, 5, 5, 0),  GET(2, 1, 'x', 2, 4, 5, 5, 0),
	};
	build(&f, r2, sizeof r2 / sizeof r2[0], 2, NULL, 0);
	n = run(&f, 2, true);
	assert_int_equal(n, 4);
	assert_int_equal(f.st.relaxed, 1);
}

/* curp: strong commands only; a session's commands keep their order, nothing is dropped. */
static void test_curp_strong_only(void **state)
{
	(void)state;
	struct fixture f;
	const struct rec r[] = {
	    {3, 2, PROTO_OP_PUT, 'x', false, 1, 2, true, 1, 0, {0, 0}},
	    {3, 2, PROTO_OP_PUT, 'x', false, 2, 2, true, 1, 0, {0, 0}},
	    {3, 1, PROTO_OP_PUT, 'y', false, 1, 1, true, 0, 0, {0, 0}},
	    {3, 1, PROTO_OP_PUT, 'y', false, 2, 1, true, 0, 0, {0, 0}},
	    {2, 1, PROTO_OP_GET, 'z', false, 1, 3, true, 0, 0, {0, 0}},
	    {2, 1, PROTO_OP_GET, 'z', false, 2, 3, false, 0, 0, {0, 0}}, /* one ok holder */
	};
	build(&f, r, sizeof r / sizeof r[0], 2, NULL, 0);
	int n = run(&f, 2, false);
	assert_int_equal(n, 2); /* 2-1 is not a candidate */
	assert_int_equal(pos(&f, n, 3, 1), 0);
	assert_int_equal(pos(&f, n, 3, 2), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_get_reads_its_read_dep),
	    cmocka_unit_test(test_get_before_unread_writes),
	    cmocka_unit_test(test_get_without_agreement_is_free),
	    cmocka_unit_test(test_real_time_between_gets),
	    cmocka_unit_test(test_strong_before_later_weak),
	    cmocka_unit_test(test_broken_chains_left_out),
	    cmocka_unit_test(test_contradiction_relaxed),
	    cmocka_unit_test(test_contradiction_fewest),
	    cmocka_unit_test(test_contradiction_completed),
	    cmocka_unit_test(test_evidence_needs_write_set),
	    cmocka_unit_test(test_curp_strong_only),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
