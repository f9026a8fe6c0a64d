/* Unit tests of the protocol cores: witness, leader and follower rules (replica/core.c) and the
 * client's decision rules (client/session.c), each with a case that the Go prototype's bugs
 * would fail, plus whole-cluster runs in one process over seeded channels. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/harness.h"

static struct proto_cmd mk_cmd(uint8_t op, uint64_t *key, const char *val)
{
	struct proto_cmd c = {.op = op, .key = (const uint8_t *)key, .klen = 8};
	if (val) {
		c.val = (const uint8_t *)val;
		c.vlen = (uint32_t)strlen(val);
	}
	return c;
}

static struct proto_msg propose(uint64_t client, uint64_t seq, struct proto_cmd cmd)
{
	struct proto_msg m = {
	    .type = PROTO_PROPOSE, .view = 0, .cid = {client, seq}, .low_seq = seq, .cmd = cmd};
	return m;
}

/* ---- quorum arithmetic ---------------------------------------------------------------- */

static void test_quorums(void **state)
{
	(void)state;
	assert_int_equal(session_f(3), 1);
	assert_int_equal(session_majority(3), 2);
	assert_int_equal(session_superquorum(3), 3);
	assert_int_equal(session_superquorum(5), 4);
	assert_int_equal(session_superquorum(7), 6);
	assert_int_equal(session_superquorum(1), 1);
}

/* ---- leader rules ------------------------------------------------------------------------ */

/* ---- INCR (docs/protocols.md "INCR") --------------------------------------------------------- */

/* The next frame replica 0 sent to connection conn (1-based) other than a REPLY with ok=false:
 * its type, status and value. */
static void incr_expect(struct harness *h, int conn, uint8_t type, uint8_t status, bool ok,
			const char *val)
{
	struct proto_msg r;
	assert_true(h_take(h, H_R2C, 0, conn - 1, &r));
	assert_int_equal(r.type, type);
	assert_int_equal(r.status, status);
	if (type == PROTO_REPLY)
		assert_int_equal(r.ok, ok);
	if (val) {
		assert_int_equal(r.vlen, strlen(val));
		assert_memory_equal(r.value, val, r.vlen);
	} else {
		assert_int_equal(r.vlen, 0);
	}
}

/* The executed value of key k at every replica (a GET through the leader, drained). */
static void incr_value_is(struct harness *h, uint64_t client, uint64_t *k, const char *want)
{
	struct proto_msg m = propose(client, 1, mk_cmd(PROTO_OP_GET, k, NULL));
	core_on_client(h->cores[0], 9, &m, h->now);
	h_drain_peers(h);
	struct proto_msg r;
	assert_true(h_take(h, H_R2C, 0, 8, &r));
	assert_int_equal(r.type, PROTO_REPLY);
	assert_true(r.ok);
	assert_int_equal(r.status, want ? PROTO_ST_OK : PROTO_ST_NOT_FOUND);
	assert_int_equal(r.vlen, want ? strlen(want) : 0);
	if (want)
		assert_memory_equal(r.value, want, r.vlen);
}

/* The three replicas of h hold the same state (their digests). */
static void same_state3(struct harness *h)
{
	struct core_stats s0, s1, s2;
	core_get_stats(h->cores[0], &s0);
	core_get_stats(h->cores[1], &s1);
	core_get_stats(h->cores[2], &s2);
	assert_true(s0.digest == s1.digest && s0.digest == s2.digest);
}

/* The next frame on the leader's channel to follower p: its type and commit index. */
static void peer_frame_is(struct harness *h, int p, uint8_t type, uint64_t commit)
{
	struct proto_msg m;
	assert_true(h_take(h, H_PEER, 0, p, &m));
	assert_int_equal(m.type, type);
	assert_int_equal(m.commit, commit);
}

/* The leader's COMMIT shares a send (docs/benchmarks.md "COMMITs that share a send"): while
 * slots are in flight it goes only with an ACCEPT of the same iteration; everywhere once every
 * assigned slot is committed; and a COMMIT held back goes out at the next tick. */
static void test_commit_shares_send(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h, 3, 1, 8, 43, NULL);
	struct core *L = h.cores[0];
	uint64_t k[6] = {1, 2, 3, 4, 5, 6};
	struct proto_msg m = propose(100, 1, mk_cmd(PROTO_OP_PUT, &k[0], "a"));
	core_on_client(L, 1, &m, h.now); /* slot 0 */
	core_flush(L, h.now);
	assert_true(h_deliver(&h, H_PEER, 0, 1)); /* follower 1 accepts slot 0: its ACK waits */
	m = propose(100, 2, mk_cmd(PROTO_OP_PUT, &k[1], "b"));
	core_on_client(L, 1, &m, h.now); /* slot 1 */
	core_flush(L, h.now);
	/* slot 0 commits, slot 1 is in flight, no ACCEPT in this iteration: no COMMIT */
	assert_true(h_deliver(&h, H_PEER, 1, 0));
	assert_int_equal(h_pending(&h, H_PEER, 0, 1), 1); /* ACCEPT of slot 1 */
	assert_int_equal(h_pending(&h, H_PEER, 0, 2), 2); /* ACCEPTs of slots 0 and 1 */
	/* an ACCEPT and a commit in one iteration: the COMMIT rides along, to each follower */
	m = propose(100, 3, mk_cmd(PROTO_OP_PUT, &k[2], "c"));
	core_on_client(L, 1, &m, h.now); /* slot 2: its ACCEPT carries commit 1 */
	assert_true(h_deliver(&h, H_PEER, 0, 1)); /* follower 1 accepts slot 1 */
	struct proto_msg ack;
	assert_true(h_take(&h, H_PEER, 1, 0, &ack));
	assert_int_equal(ack.type, PROTO_ACK);
	core_on_peer(L, 1, &ack, h.now); /* slot 1 commits; slot 2 in flight */
	core_flush(L, h.now);
	peer_frame_is(&h, 2, PROTO_ACCEPT, 0);
	peer_frame_is(&h, 2, PROTO_ACCEPT, 0);
	peer_frame_is(&h, 2, PROTO_ACCEPT, 1);
	peer_frame_is(&h, 2, PROTO_COMMIT, 2);
	assert_int_equal(h_pending(&h, H_PEER, 0, 1), 2); /* the ACCEPT of slot 2, the COMMIT */
	assert_true(h_deliver(&h, H_PEER, 0, 1));
	assert_true(h_deliver(&h, H_PEER, 0, 1)); /* follower 1 accepted slot 2 */
	/* the last slot in flight commits: a COMMIT to every follower (none is left to carry it) */
	assert_true(h_deliver(&h, H_PEER, 1, 0));
	uint64_t commit = 3;
	peer_frame_is(&h, 1, PROTO_COMMIT, commit);
	peer_frame_is(&h, 2, PROTO_COMMIT, commit);
	/* two more slots; the first commits while the second is in flight: held, then the tick */
	for (int i = 3; i < 5; i++) {
		m = propose(100, (uint64_t)i + 1, mk_cmd(PROTO_OP_PUT, &k[i], "d"));
		core_on_client(L, 1, &m, h.now); /* slots 3, 4 */
		core_flush(L, h.now);
	}
	/* (follower 2 never saw slots 0..2: the frames above were taken, not delivered) */
	assert_true(h_deliver(&h, H_PEER, 0, 1)); /* follower 1 accepts slot 3 */
	assert_true(h_deliver(&h, H_PEER, 1, 0)); /* and acknowledges it: slot 3 commits */
	assert_int_equal(h_pending(&h, H_PEER, 0, 1), 1); /* ACCEPT of slot 4 only */
	assert_int_equal(h_pending(&h, H_PEER, 0, 2), 2); /* ACCEPTs of slots 3 and 4 only */
	h_advance(&h, 5000000);
	peer_frame_is(&h, 1, PROTO_ACCEPT, commit);
	peer_frame_is(&h, 1, PROTO_COMMIT, 4);
	peer_frame_is(&h, 2, PROTO_ACCEPT, commit);
	peer_frame_is(&h, 2, PROTO_ACCEPT, commit);
	peer_frame_is(&h, 2, PROTO_COMMIT, 4);
	h_free(&h);
}

/* APPEND's result is the length after it (Redis's reply): on the fast path in the leader's
 * REPLY, on the slow path (behind an unexecuted PUT) from the execution, and from the result
 * cache for a re-sent cid, the value not appended twice. */
static void test_append_result(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h, 3, 1, 4, 41, NULL);
	uint64_t k = 6;
	struct proto_msg m = propose(100, 1, mk_cmd(PROTO_OP_APPEND, &k, "abc"));
	core_on_client(h.cores[0], 1, &m, h.now);
	incr_expect(&h, 1, PROTO_REPLY, PROTO_ST_OK, true, "3"); /* a missing key: "" + "abc" */
	h_drain_peers(&h);
	core_on_client(h.cores[0], 1, &m, h.now); /* re-sent after execution: the cached result */
	incr_expect(&h, 1, PROTO_SYNC_REPLY, PROTO_ST_OK, false, "3");
	h_drain_peers(&h);
	incr_value_is(&h, 900, &k, "abc");
	m = propose(100, 2, mk_cmd(PROTO_OP_PUT, &k, "0123456789"));
	core_on_client(h.cores[0], 1, &m, h.now);
	incr_expect(&h, 1, PROTO_REPLY, PROTO_ST_OK, true, NULL);
	m = propose(100, 3, mk_cmd(PROTO_OP_APPEND, &k, "xy"));
	core_on_client(h.cores[0], 1, &m, h.now);
	incr_expect(&h, 1, PROTO_REPLY, PROTO_ST_OK, false, NULL); /* behind the PUT: slow */
	h_drain_peers(&h);
	incr_expect(&h, 1, PROTO_SYNC_REPLY, PROTO_ST_OK, false, "12");
	incr_value_is(&h, 901, &k, "0123456789xy");
	h_free(&h);
}

/* INCR on the fast path (every earlier write of the key executed: the REPLY carries the new
 * value), on the slow path (behind an unexecuted PUT: the execution answers), executed once
 * under a re-sent cid (the cached result, the value not incremented again), and refused at its
 * execution, state unchanged: a non-integer value, an increment that is not one, an overflow. */
static void test_incr_exec(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h, 3, 1, 4, 41, NULL);
	uint64_t k = 5;
	struct core_stats st;
	/* fast: a missing key counts as 0 */
	struct proto_msg m = propose(100, 1, mk_cmd(PROTO_OP_INCR, &k, "5"));
	core_on_client(h.cores[0], 1, &m, h.now);
	incr_expect(&h, 1, PROTO_REPLY, PROTO_ST_OK, true, "5");
	h_drain_peers(&h);
	incr_value_is(&h, 900, &k, "5");
	/* the same cid again after execution: the cached result, not applied twice */
	core_get_stats(h.cores[0], &st);
	uint64_t executed = st.executed;
	core_on_client(h.cores[0], 1, &m, h.now);
	incr_expect(&h, 1, PROTO_SYNC_REPLY, PROTO_ST_OK, false, "5");
	h_drain_peers(&h);
	core_get_stats(h.cores[0], &st);
	assert_int_equal(st.executed, executed);
	incr_value_is(&h, 901, &k, "5");
	/* slow: behind a PUT not executed yet; the execution answers with the new value */
	m = propose(100, 2, mk_cmd(PROTO_OP_PUT, &k, "-10"));
	core_on_client(h.cores[0], 1, &m, h.now);
	incr_expect(&h, 1, PROTO_REPLY, PROTO_ST_OK, true, NULL); /* (its key's writes executed) */
	m = propose(100, 3, mk_cmd(PROTO_OP_INCR, &k, "-7"));
	core_on_client(h.cores[0], 1, &m, h.now);
	incr_expect(&h, 1, PROTO_REPLY, PROTO_ST_OK, false, NULL);
	h_drain_peers(&h);
	incr_expect(&h, 1, PROTO_SYNC_REPLY, PROTO_ST_OK, false, "-17");
	incr_value_is(&h, 902, &k, "-17");
	/* a re-sent PROPOSE while it is in flight takes no second slot */
	m = propose(100, 4, mk_cmd(PROTO_OP_INCR, &k, "17"));
	core_on_client(h.cores[0], 1, &m, h.now);
	core_on_client(h.cores[0], 1, &m, h.now);
	h_drain_peers(&h);
	incr_value_is(&h, 903, &k, "0");
	while (h_take(&h, H_R2C, 0, 0, &m))
		;
	/* refused at its execution, nothing changed: the REPLY is ok=false (the leader does not
	 * answer an error speculatively) and the result says why */
	static const struct {
		const char *old, *by, *why;
	} bad[] = {
	    {"abc", "1", PROTO_INCR_NOT_INT},
	    {"007", "1", PROTO_INCR_NOT_INT}, /* Redis's rules: no leading zero */
	    {"1", "x", PROTO_INCR_NOT_INT},   /* (a raw client's: the session refuses it) */
	    {"9223372036854775807", "1", PROTO_INCR_OVERFLOW},
	    {"-9223372036854775808", "-1", PROTO_INCR_OVERFLOW},
	};
	uint64_t seq = 5;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		m = propose(100, seq++, mk_cmd(PROTO_OP_PUT, &k, bad[i].old));
		core_on_client(h.cores[0], 1, &m, h.now);
		h_drain_peers(&h);
		while (h_take(&h, H_R2C, 0, 0, &m))
			;
		m = propose(100, seq++, mk_cmd(PROTO_OP_INCR, &k, bad[i].by));
		core_on_client(h.cores[0], 1, &m, h.now);
		incr_expect(&h, 1, PROTO_REPLY, PROTO_ST_OK, false, NULL);
		h_drain_peers(&h);
		incr_expect(&h, 1, PROTO_SYNC_REPLY, PROTO_ST_INVALID, false, bad[i].why);
		incr_value_is(&h, 910 + i, &k, bad[i].old);
		/* re-sent: the same refusal from the cache, still not applied */
		core_on_client(h.cores[0], 1, &m, h.now);
		incr_expect(&h, 1, PROTO_SYNC_REPLY, PROTO_ST_INVALID, false, bad[i].why);
	}
	same_state3(&h);
	h_free(&h);
}

/* A strong GET behind a pending INCR has no value to give speculatively: ok=false, and the
 * execution answers with the incremented value. */
static void test_incr_get_behind(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h, 3, 2, 4, 42, NULL);
	uint64_t k = 6;
	struct proto_msg m = propose(100, 1, mk_cmd(PROTO_OP_PUT, &k, "41"));
	core_on_client(h.cores[0], 1, &m, h.now);
	h_drain_peers(&h);
	while (h_take(&h, H_R2C, 0, 0, &m))
		;
	m = propose(100, 2, mk_cmd(PROTO_OP_INCR, &k, "1"));
	core_on_client(h.cores[0], 1, &m, h.now);
	incr_expect(&h, 1, PROTO_REPLY, PROTO_ST_OK, true, "42");
	m = propose(101, 1, mk_cmd(PROTO_OP_GET, &k, NULL));
	core_on_client(h.cores[0], 2, &m, h.now);
	struct proto_msg r;
	assert_true(h_take(&h, H_R2C, 0, 1, &r));
	assert_int_equal(r.type, PROTO_REPLY);
	assert_false(r.ok);
	h_drain_peers(&h);
	assert_true(h_take(&h, H_R2C, 0, 1, &r));
	assert_int_equal(r.type, PROTO_SYNC_REPLY);
	assert_int_equal(r.vlen, 2);
	assert_memory_equal(r.value, "42", 2);
	h_free(&h);
}

/* INCR is a curp operation: a hybrid's replica refuses it (INVALID, nothing ordered), as does
 * the session, which also refuses an increment that is not an integer. */
static void ho_cfg(struct core_config *cfg);
static void ht_cfg(struct core_config *cfg);
static void test_incr_curp_only(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h, 3, 1, 4, 43, ho_cfg);
	uint64_t k = 7;
	struct proto_msg m = propose(100, 1, mk_cmd(PROTO_OP_INCR, &k, "1"));
	core_on_client(h.cores[0], 1, &m, h.now);
	incr_expect(&h, 1, PROTO_SYNC_REPLY, PROTO_ST_INVALID, false, NULL);
	struct core_stats st;
	core_get_stats(h.cores[0], &st);
	assert_int_equal(st.next_slot, 0);
	struct proto_cmd c = mk_cmd(PROTO_OP_INCR, &k, "1");
	assert_int_equal(session_submit(h.sess[0], &c, NULL, NULL, h.now), -EINVAL);
	h_free(&h);
	h_init(&h, 3, 1, 4, 44, NULL);
	c = mk_cmd(PROTO_OP_INCR, &k, "+1");
	assert_int_equal(session_submit(h.sess[0], &c, NULL, NULL, h.now), -EINVAL);
	c = mk_cmd(PROTO_OP_INCR, &k, "-1");
	assert_true(session_submit(h.sess[0], &c, NULL, NULL, h.now) > 0);
	h_free(&h);
}

/* ---- GETDEL and SETX (docs/protocols.md "GETDEL and SETX") --------------------------------- */

/* GETDEL: the fast path answers the old value (every earlier write of the key executed), or
 * NOT_FOUND for a missing key; behind an uncommitted, unexecuted PUT the execution answers; a
 * re-sent cid gets the cached result with its value, the key not deleted again (a PUT between
 * would show it); a strong GET behind a pending GETDEL reads the key missing, as behind a DEL. */
static void test_getdel_exec(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h, 3, 2, 4, 45, NULL);
	uint64_t k = 5;
	struct core_stats st;
	struct proto_msg m = propose(100, 1, mk_cmd(PROTO_OP_PUT, &k, "abc"));
	core_on_client(h.cores[0], 1, &m, h.now);
	incr_expect(&h, 1, PROTO_REPLY, PROTO_ST_OK, true, NULL);
	h_drain_peers(&h);
	/* fast: the old value */
	struct proto_msg gd = propose(100, 2, mk_cmd(PROTO_OP_GETDEL, &k, NULL));
	core_on_client(h.cores[0], 1, &gd, h.now);
	incr_expect(&h, 1, PROTO_REPLY, PROTO_ST_OK, true, "abc");
	h_drain_peers(&h);
	incr_value_is(&h, 900, &k, NULL);
	/* a PUT, then the GETDEL re-sent: its cached result, the PUT's value not deleted (the
	 * client has not acknowledged the GETDEL's result: its watermark stays at 2) */
	m = propose(100, 3, mk_cmd(PROTO_OP_PUT, &k, "def"));
	m.low_seq = 2;
	core_on_client(h.cores[0], 1, &m, h.now);
	incr_expect(&h, 1, PROTO_REPLY, PROTO_ST_OK, true, NULL);
	h_drain_peers(&h);
	core_get_stats(h.cores[0], &st);
	uint64_t executed = st.executed;
	core_on_client(h.cores[0], 1, &gd, h.now);
	incr_expect(&h, 1, PROTO_SYNC_REPLY, PROTO_ST_OK, false, "abc");
	h_drain_peers(&h);
	core_get_stats(h.cores[0], &st);
	assert_int_equal(st.executed, executed);
	incr_value_is(&h, 901, &k, "def");
	/* slow: behind a PUT that is neither committed nor executed */
	m = propose(100, 4, mk_cmd(PROTO_OP_PUT, &k, "ghi"));
	core_on_client(h.cores[0], 1, &m, h.now);
	incr_expect(&h, 1, PROTO_REPLY, PROTO_ST_OK, true, NULL);
	m = propose(100, 5, mk_cmd(PROTO_OP_GETDEL, &k, NULL));
	core_on_client(h.cores[0], 1, &m, h.now);
	incr_expect(&h, 1, PROTO_REPLY, PROTO_ST_OK, false, NULL);
	/* a strong GET behind it: the key is missing (NOT_FOUND), final once the GETDEL commits */
	struct proto_msg g = propose(101, 1, mk_cmd(PROTO_OP_GET, &k, NULL));
	core_on_client(h.cores[0], 2, &g, h.now);
	struct proto_msg r;
	assert_true(h_take(&h, H_R2C, 0, 1, &r));
	assert_int_equal(r.type, PROTO_REPLY);
	assert_int_equal(r.status, PROTO_ST_NOT_FOUND);
	assert_false(r.ok);
	h_drain_peers(&h);
	incr_expect(&h, 1, PROTO_SYNC_REPLY, PROTO_ST_OK, false, "ghi");
	assert_true(h_take(&h, H_R2C, 0, 1, &r));
	assert_int_equal(r.type, PROTO_SYNC_REPLY);
	assert_int_equal(r.status, PROTO_ST_NOT_FOUND);
	incr_value_is(&h, 902, &k, NULL);
	/* a missing key: NOT_FOUND on the fast path, and from the cache when re-sent */
	m = propose(100, 6, mk_cmd(PROTO_OP_GETDEL, &k, NULL));
	core_on_client(h.cores[0], 1, &m, h.now);
	incr_expect(&h, 1, PROTO_REPLY, PROTO_ST_NOT_FOUND, true, NULL);
	h_drain_peers(&h);
	core_on_client(h.cores[0], 1, &m, h.now);
	incr_expect(&h, 1, PROTO_SYNC_REPLY, PROTO_ST_NOT_FOUND, false, NULL);
	same_state3(&h);
	core_get_stats(h.cores[0], &st);
	assert_int_equal(st.keys, 0);
	h_free(&h);
}

/* One SETX (flags byte, then the value: "\001a" is NX and "a", octal escapes stopping after
 * three digits where a hex one would run on) proposed by client 100 at seq, answered on the fast
 * path with the key's old state: status OK with the value old (NULL: none) or NOT_FOUND. The
 * client's watermark stays where it was (results stay cached for a re-send). */
static void setx_fast(struct harness *h, uint64_t seq, uint64_t *k, const char *val, uint8_t status,
		      const char *old)
{
	struct proto_msg m = propose(100, seq, mk_cmd(PROTO_OP_SETX, k, val));
	m.low_seq = 1;
	core_on_client(h->cores[0], 1, &m, h->now);
	incr_expect(h, 1, PROTO_REPLY, status, true, old);
	h_drain_peers(h);
}

/* SETX: NX and XX applied or not, GET's old value whether applied or not, an empty new value;
 * the fast path; the slow path behind an unexecuted PUT; a re-sent cid answered from the cache
 * with its old value and not applied again. */
static void test_setx_exec(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h, 3, 1, 4, 46, NULL);
	uint64_t k = 5, k2 = 6, k3 = 7;
	/* NX of a missing key: set (NOT_FOUND: it did not exist) */
	setx_fast(&h, 1, &k, "\001a", PROTO_ST_NOT_FOUND, NULL);
	incr_value_is(&h, 900, &k, "a");
	struct proto_msg nx1 = propose(100, 1, mk_cmd(PROTO_OP_SETX, &k, "\001a"));
	/* NX of an existing one: not set (OK: it existed), no value without GET */
	setx_fast(&h, 2, &k, "\001b", PROTO_ST_OK, NULL);
	incr_value_is(&h, 901, &k, "a");
	/* XX GET of an existing key: set, the old value */
	struct proto_msg xg = propose(100, 3, mk_cmd(PROTO_OP_SETX, &k, "\006c"));
	xg.low_seq = 1;
	core_on_client(h.cores[0], 1, &xg, h.now);
	incr_expect(&h, 1, PROTO_REPLY, PROTO_ST_OK, true, "a");
	h_drain_peers(&h);
	incr_value_is(&h, 902, &k, "c");
	/* XX of a missing key: not set */
	setx_fast(&h, 4, &k2, "\002x", PROTO_ST_NOT_FOUND, NULL);
	incr_value_is(&h, 903, &k2, NULL);
	/* NX GET: set when missing (nil), not set when it exists (its value) */
	setx_fast(&h, 5, &k2, "\005d", PROTO_ST_NOT_FOUND, NULL);
	incr_value_is(&h, 904, &k2, "d");
	setx_fast(&h, 6, &k2, "\005e", PROTO_ST_OK, "d");
	incr_value_is(&h, 905, &k2, "d");
	/* GET alone: always set, the old value */
	setx_fast(&h, 7, &k, "\004f", PROTO_ST_OK, "c");
	incr_value_is(&h, 906, &k, "f");
	/* an empty new value: the key exists, empty */
	setx_fast(&h, 8, &k3, "\001", PROTO_ST_NOT_FOUND, NULL);
	incr_value_is(&h, 907, &k3, "");
	setx_fast(&h, 9, &k3, "\006z", PROTO_ST_OK, "");
	incr_value_is(&h, 908, &k3, "z");
	/* XX GET re-sent: the cached old value, not applied again (k is "f" by now) */
	struct core_stats st;
	core_get_stats(h.cores[0], &st);
	uint64_t executed = st.executed;
	core_on_client(h.cores[0], 1, &xg, h.now);
	incr_expect(&h, 1, PROTO_SYNC_REPLY, PROTO_ST_OK, false, "a");
	/* the first NX re-sent: its cached NOT_FOUND (it set the key), not "it exists now" */
	core_on_client(h.cores[0], 1, &nx1, h.now);
	incr_expect(&h, 1, PROTO_SYNC_REPLY, PROTO_ST_NOT_FOUND, false, NULL);
	h_drain_peers(&h);
	core_get_stats(h.cores[0], &st);
	assert_int_equal(st.executed, executed);
	incr_value_is(&h, 909, &k, "f");
	/* slow: behind a PUT not committed nor executed; the execution answers */
	struct proto_msg m = propose(100, 10, mk_cmd(PROTO_OP_PUT, &k, "g"));
	core_on_client(h.cores[0], 1, &m, h.now);
	incr_expect(&h, 1, PROTO_REPLY, PROTO_ST_OK, true, NULL);
	m = propose(100, 11, mk_cmd(PROTO_OP_SETX, &k, "\006h"));
	core_on_client(h.cores[0], 1, &m, h.now);
	incr_expect(&h, 1, PROTO_REPLY, PROTO_ST_OK, false, NULL);
	/* a strong GET behind the pending SETX has no value to give: slow as well */
	struct proto_msg g = propose(101, 1, mk_cmd(PROTO_OP_GET, &k, NULL));
	core_on_client(h.cores[0], 2, &g, h.now);
	struct proto_msg r;
	assert_true(h_take(&h, H_R2C, 0, 1, &r));
	assert_int_equal(r.type, PROTO_REPLY);
	assert_false(r.ok);
	h_drain_peers(&h);
	incr_expect(&h, 1, PROTO_SYNC_REPLY, PROTO_ST_OK, false, "g");
	assert_true(h_take(&h, H_R2C, 0, 1, &r));
	assert_int_equal(r.type, PROTO_SYNC_REPLY);
	assert_int_equal(r.vlen, 1);
	assert_memory_equal(r.value, "h", 1);
	incr_value_is(&h, 910, &k, "h");
	/* the same behind an unexecuted PUT, NX not applied: the execution says it existed */
	m = propose(100, 12, mk_cmd(PROTO_OP_PUT, &k2, "i"));
	core_on_client(h.cores[0], 1, &m, h.now);
	incr_expect(&h, 1, PROTO_REPLY, PROTO_ST_OK, true, NULL);
	m = propose(100, 13, mk_cmd(PROTO_OP_SETX, &k2, "\001j"));
	core_on_client(h.cores[0], 1, &m, h.now);
	incr_expect(&h, 1, PROTO_REPLY, PROTO_ST_OK, false, NULL);
	h_drain_peers(&h);
	incr_expect(&h, 1, PROTO_SYNC_REPLY, PROTO_ST_OK, false, NULL);
	incr_value_is(&h, 911, &k2, "i");
	/* behind an unexecuted DEL, XX GET: the execution says the key did not exist, nothing is
	 * set */
	m = propose(100, 14, mk_cmd(PROTO_OP_DEL, &k2, NULL));
	core_on_client(h.cores[0], 1, &m, h.now);
	incr_expect(&h, 1, PROTO_REPLY, PROTO_ST_OK, true, NULL);
	m = propose(100, 15, mk_cmd(PROTO_OP_SETX, &k2, "\006l"));
	core_on_client(h.cores[0], 1, &m, h.now);
	incr_expect(&h, 1, PROTO_REPLY, PROTO_ST_OK, false, NULL);
	h_drain_peers(&h);
	incr_expect(&h, 1, PROTO_SYNC_REPLY, PROTO_ST_NOT_FOUND, false, NULL);
	incr_value_is(&h, 912, &k2, NULL);
	same_state3(&h);
	h_free(&h);
}

/* A SETX's value may be maxValueBytes + its flags byte (any value a PUT takes can be set
 * conditionally); one byte more is refused, as a PUT one byte past maxValueBytes is. */
static void test_setx_max_value(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h, 3, 1, 4, 47, NULL);
	uint64_t k = 5;
	uint32_t max = 64 * 1024; /* (core_config_default's maxValueBytes) */
	uint8_t *v = calloc(1, max + 2);
	assert_non_null(v);
	v[0] = PROTO_SETX_NX | PROTO_SETX_GET;
	struct proto_cmd c = {
	    .op = PROTO_OP_SETX, .key = (const uint8_t *)&k, .klen = 8, .val = v, .vlen = max + 1};
	struct proto_msg m = propose(100, 1, c);
	core_on_client(h.cores[0], 1, &m, h.now);
	incr_expect(&h, 1, PROTO_REPLY, PROTO_ST_NOT_FOUND, true, NULL);
	h_drain_peers(&h);
	/* set: the value is max bytes */
	m = propose(900, 1, mk_cmd(PROTO_OP_GET, &k, NULL));
	core_on_client(h.cores[0], 9, &m, h.now);
	h_drain_peers(&h);
	struct proto_msg r;
	assert_true(h_take(&h, H_R2C, 0, 8, &r));
	assert_int_equal(r.status, PROTO_ST_OK);
	assert_int_equal(r.vlen, max);
	c.vlen = max + 2;
	m = propose(100, 2, c);
	core_on_client(h.cores[0], 1, &m, h.now);
	incr_expect(&h, 1, PROTO_SYNC_REPLY, PROTO_ST_INVALID, false, NULL);
	c = (struct proto_cmd){
	    .op = PROTO_OP_PUT, .key = (const uint8_t *)&k, .klen = 8, .val = v, .vlen = max + 1};
	m = propose(100, 3, c);
	core_on_client(h.cores[0], 1, &m, h.now);
	incr_expect(&h, 1, PROTO_SYNC_REPLY, PROTO_ST_INVALID, false, NULL);
	free(v);
	h_free(&h);
}

/* The results of GETDEL and SETX GET, old values included, survive a replica's restart from its
 * write-ahead log (core_restore re-executes the log): a SYNC to the restarted follower gets
 * them from its result cache. */
static void test_getdel_setx_durable(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h, 3, 1, 4, 48, NULL);
	h.durable = true;
	uint64_t k = 5;
	struct proto_msg m = propose(100, 1, mk_cmd(PROTO_OP_PUT, &k, "old"));
	core_on_client(h.cores[0], 1, &m, h.now);
	/* (the client acknowledges nothing below: every result stays cached) */
	incr_expect(&h, 1, PROTO_REPLY, PROTO_ST_OK, true, NULL);
	h_drain_peers(&h);
	struct proto_cmd sx = mk_cmd(PROTO_OP_SETX, &k, "\004new");
	m = propose(100, 2, sx);
	m.low_seq = 1;
	core_on_client(h.cores[0], 1, &m, h.now);
	incr_expect(&h, 1, PROTO_REPLY, PROTO_ST_OK, true, "old");
	h_drain_peers(&h);
	struct proto_cmd gd = mk_cmd(PROTO_OP_GETDEL, &k, NULL);
	m = propose(100, 3, gd);
	m.low_seq = 1;
	core_on_client(h.cores[0], 1, &m, h.now);
	incr_expect(&h, 1, PROTO_REPLY, PROTO_ST_OK, true, "new");
	h_drain_peers(&h);
	incr_value_is(&h, 900, &k, NULL); /* (its commit reaches the followers) */
	struct core_stats st;
	core_get_stats(h.cores[1], &st);
	assert_true(st.exec_index >= 4);
	h_crash(&h, 1);
	h_restart(&h, 1);
	assert_int_equal(h.restores, 1);
	const struct proto_cmd *cmds[2] = {&sx, &gd};
	const char *want[2] = {"old", "new"};
	for (int i = 0; i < 2; i++) {
		struct proto_msg s = {.type = PROTO_SYNC,
				      .cid = {100, 2 + (uint64_t)i},
				      .low_seq = 1,
				      .fp = proto_cmd_fp(cmds[i])};
		core_on_client(h.cores[1], 1, &s, h.now);
		struct proto_msg r;
		assert_true(h_take(&h, H_R2C, 1, 0, &r));
		assert_int_equal(r.type, PROTO_SYNC_REPLY);
		assert_int_equal(r.status, PROTO_ST_OK);
		assert_int_equal(r.vlen, 3);
		assert_memory_equal(r.value, want[i], 3);
	}
	h_free(&h);
}

/* GETDEL and SETX are curp operations: a hybrid's replica refuses them (INVALID, nothing
 * ordered), as does the session; the session also refuses a SETX without valid flags. */
static void test_getdel_setx_curp_only(void **state)
{
	(void)state;
	struct harness h;
	uint64_t k = 7;
	void (*cfgs[2])(struct core_config *) = {ho_cfg, ht_cfg};
	for (int p = 0; p < 2; p++) {
		h_init(&h, 3, 1, 4, 49, cfgs[p]);
		struct proto_msg m = propose(100, 1, mk_cmd(PROTO_OP_GETDEL, &k, NULL));
		core_on_client(h.cores[0], 1, &m, h.now);
		incr_expect(&h, 1, PROTO_SYNC_REPLY, PROTO_ST_INVALID, false, NULL);
		m = propose(100, 2, mk_cmd(PROTO_OP_SETX, &k, "\001v"));
		core_on_client(h.cores[0], 1, &m, h.now);
		incr_expect(&h, 1, PROTO_SYNC_REPLY, PROTO_ST_INVALID, false, NULL);
		struct core_stats st;
		core_get_stats(h.cores[0], &st);
		assert_int_equal(st.next_slot, 0);
		struct proto_cmd c = mk_cmd(PROTO_OP_GETDEL, &k, NULL);
		assert_int_equal(session_submit(h.sess[0], &c, NULL, NULL, h.now), -EINVAL);
		c = mk_cmd(PROTO_OP_SETX, &k, "\001v");
		assert_int_equal(session_submit(h.sess[0], &c, NULL, NULL, h.now), -EINVAL);
		h_free(&h);
	}
	h_init(&h, 3, 1, 4, 50, NULL);
	static const char *const bad[] = {"", "\003v", "\010v", "\013v"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct proto_cmd c = mk_cmd(PROTO_OP_SETX, &k, bad[i]);
		assert_int_equal(session_submit(h.sess[0], &c, NULL, NULL, h.now), -EINVAL);
	}
	struct proto_cmd c = mk_cmd(PROTO_OP_SETX, &k, "\005v");
	assert_true(session_submit(h.sess[0], &c, NULL, NULL, h.now) > 0);
	c = mk_cmd(PROTO_OP_GETDEL, &k, NULL);
	assert_true(session_submit(h.sess[0], &c, NULL, NULL, h.now) > 0);
	h_free(&h);
}

/* The anchor's P1: a GET after an uncommitted PUT on the same key must see the PUT's value
 * (pending-write overlay), never the stale executed value with ok=true. */
static void test_leader_overlay_never_stale(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h, 3, 2, 4, 1, NULL);
	uint64_t k = 7;
	struct proto_msg m = propose(100, 1, mk_cmd(PROTO_OP_PUT, &k, "old"));
	core_on_client(h.cores[0], 1, &m, h.now);
	h_drain(&h); /* "old" committed and executed everywhere */
	struct core_stats st;
	core_get_stats(h.cores[0], &st);
	assert_int_equal(st.exec_index, 1);
	struct proto_msg r;
	while (h_take(&h, H_R2C, 0, 0, &r)) /* drop the first command's answers */
		;

	/* PUT new (not yet committed: followers' channels are held), then GET */
	m = propose(100, 2, mk_cmd(PROTO_OP_PUT, &k, "new"));
	core_on_client(h.cores[0], 1, &m, h.now);
	m = propose(101, 1, mk_cmd(PROTO_OP_GET, &k, NULL));
	core_on_client(h.cores[0], 2, &m, h.now);
	assert_true(h_take(&h, H_R2C, 0, 0, &r));
	assert_int_equal(r.type, PROTO_REPLY);
	assert_true(r.ok); /* the earlier PUT "old" is committed */
	assert_true(h_take(&h, H_R2C, 0, 1, &r));
	assert_int_equal(r.type, PROTO_REPLY);
	assert_int_equal(r.status, PROTO_ST_OK);
	assert_int_equal(r.vlen, 3);
	assert_memory_equal(r.value, "new", 3); /* overlay, not the executed "old" */
	assert_false(r.ok);			/* conflicting earlier slot not committed */

	/* Once committed and executed, the GET's result arrives as SYNC_REPLY with "new". */
	h_drain_peers(&h);
	bool got = false;
	while (h_take(&h, H_R2C, 0, 1, &r)) {
		if (r.type == PROTO_SYNC_REPLY) {
			assert_int_equal(r.vlen, 3);
			assert_memory_equal(r.value, "new", 3);
			got = true;
		}
	}
	assert_true(got);
	h_free(&h);
}

/* ok=true only if every earlier conflicting slot is committed; reads commute. */
static void test_leader_ok_rule(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h, 3, 3, 4, 2, NULL);
	uint64_t k = 9, k2 = 10;
	struct proto_msg r, m;
	m = propose(100, 1, mk_cmd(PROTO_OP_GET, &k, NULL));
	core_on_client(h.cores[0], 1, &m, h.now);
	m = propose(101, 1, mk_cmd(PROTO_OP_GET, &k, NULL));
	core_on_client(h.cores[0], 2, &m, h.now);
	m = propose(102, 1, mk_cmd(PROTO_OP_PUT, &k2, "x"));
	core_on_client(h.cores[0], 3, &m, h.now);
	assert_true(h_take(&h, H_R2C, 0, 0, &r));
	assert_true(r.ok);
	assert_int_equal(r.status, PROTO_ST_NOT_FOUND);
	assert_true(h_take(&h, H_R2C, 0, 1, &r));
	assert_true(r.ok); /* GET after uncommitted GET: commute */
	assert_true(h_take(&h, H_R2C, 0, 2, &r));
	assert_true(r.ok); /* other key */
	m = propose(102, 2, mk_cmd(PROTO_OP_PUT, &k, "y"));
	core_on_client(h.cores[0], 3, &m, h.now);
	assert_true(h_take(&h, H_R2C, 0, 2, &r));
	assert_false(r.ok); /* PUT after uncommitted GETs on the key */
	assert_int_equal(r.slot, 3);
	h_free(&h);
}

/* Dedup: a re-sent PROPOSE occupies no second slot; after execution it gets the cached result
 * and the command executes once. */
static void test_leader_dedup(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h, 3, 1, 4, 3, NULL);
	uint64_t k = 1;
	struct proto_msg m = propose(100, 1, mk_cmd(PROTO_OP_PUT, &k, "v"));
	core_on_client(h.cores[0], 1, &m, h.now);
	core_on_client(h.cores[0], 1, &m, h.now); /* duplicate in flight */
	struct core_stats st;
	core_get_stats(h.cores[0], &st);
	assert_int_equal(st.next_slot, 1);
	assert_int_equal(st.duplicates, 1);
	h_drain(&h);
	core_on_client(h.cores[0], 1, &m, h.now); /* duplicate after execution */
	struct proto_msg r;
	bool cached = false;
	while (h_take(&h, H_R2C, 0, 0, &r))
		if (r.type == PROTO_SYNC_REPLY && r.status == PROTO_ST_OK)
			cached = true;
	assert_true(cached);
	for (int i = 0; i < 3; i++) {
		core_get_stats(h.cores[i], &st);
		assert_int_equal(st.executed, 1);
		assert_int_equal(st.next_slot, 1);
	}
	h_free(&h);
}

/* A PROPOSE below the client's watermark is refused explicitly, never ordered again. */
static void test_leader_watermark(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h, 3, 1, 4, 4, NULL);
	uint64_t k = 1;
	struct proto_msg m = propose(100, 5, mk_cmd(PROTO_OP_PUT, &k, "v"));
	m.low_seq = 5;
	core_on_client(h.cores[0], 1, &m, h.now);
	h_drain(&h);
	struct proto_msg r;
	while (h_take(&h, H_R2C, 0, 0, &r))
		;
	m = propose(100, 3, mk_cmd(PROTO_OP_PUT, &k, "late"));
	m.low_seq = 3;
	core_on_client(h.cores[0], 1, &m, h.now);
	assert_true(h_take(&h, H_R2C, 0, 0, &r));
	assert_int_equal(r.type, PROTO_SYNC_REPLY);
	assert_int_equal(r.status, PROTO_ST_TOO_OLD);
	struct core_stats st;
	core_get_stats(h.cores[0], &st);
	assert_int_equal(st.next_slot, 1);
	h_free(&h);
}

static void small_desc(struct core_config *cfg)
{
	cfg->max_desc = 2;
}

/* Back-pressure: a full descriptor pool closes client intake, answers BUSY (never drops), and
 * reopens when commands execute. */
static void test_leader_backpressure(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h, 3, 1, 8, 5, small_desc);
	uint64_t k1 = 1, k2 = 2, k3 = 3;
	struct proto_msg m = propose(100, 1, mk_cmd(PROTO_OP_PUT, &k1, "a"));
	core_on_client(h.cores[0], 1, &m, h.now);
	assert_true(h.intake[0]);
	m = propose(100, 2, mk_cmd(PROTO_OP_PUT, &k2, "b"));
	core_on_client(h.cores[0], 1, &m, h.now);
	assert_false(h.intake[0]);
	assert_false(core_client_intake_open(h.cores[0]));
	m = propose(100, 3, mk_cmd(PROTO_OP_PUT, &k3, "c"));
	core_on_client(h.cores[0], 1, &m, h.now);
	struct proto_msg r;
	assert_true(h_take(&h, H_R2C, 0, 0, &r));
	assert_true(h_take(&h, H_R2C, 0, 0, &r));
	assert_true(h_take(&h, H_R2C, 0, 0, &r));
	assert_int_equal(r.status, PROTO_ST_BUSY);
	/* deliver only replica traffic: commit and execute */
	for (int i = 0; i < 100; i++)
		for (int a = 0; a < 3; a++)
			for (int b = 0; b < 3; b++)
				h_deliver(&h, H_PEER, a, b);
	assert_true(h.intake[0]);
	struct core_stats st;
	core_get_stats(h.cores[0], &st);
	assert_int_equal(st.desc_in_use, 0);
	assert_int_equal(st.busy, 1);
	h_free(&h);
}

static void small_log(struct core_config *cfg)
{
	cfg->log_cap = 16;
}

/* A log entry's key and value (inline when they fit 32 bytes together, else one heap block:
 * union kvs in replica/core_int.h) come out whole after the ring grows under them (its entries
 * moved): the leader's speculative GETs read the pending PUTs' values from moved entries, and
 * every replica executes them from its own grown ring. Sizes around the inline limit: an 8-byte
 * key with 22..25 value bytes (30..33 in all), and 100-byte values. */
static void test_entry_bytes_ring_growth(void **state)
{
	(void)state;
	enum { N = 30 }; /* 60 entries with the GETs: within the soft cap, 4 rings of 16 */
	struct harness h;
	h_init(&h, 3, 1, 4, 7, small_log);
	static char vals[N][101];
	uint64_t keys[N];
	struct proto_msg m, r;
	for (int i = 0; i < N; i++) {
		size_t vlen = i % 5 == 4 ? 100 : 22 + (size_t)(i % 5);
		for (size_t j = 0; j < vlen; j++)
			vals[i][j] = (char)('a' + (i + (int)j) % 26);
		vals[i][vlen] = '\0';
		keys[i] = 1000 + (uint64_t)i;
		m = propose(100, (uint64_t)i + 1, mk_cmd(PROTO_OP_PUT, &keys[i], vals[i]));
		core_on_client(h.cores[0], 1, &m, h.now);
		assert_true(h_take(&h, H_R2C, 0, 0, &r));
		assert_int_equal(r.status, PROTO_ST_OK);
	}
	struct core_stats st;
	core_get_stats(h.cores[0], &st);
	assert_true(st.log_entries >= N); /* more than the 16 slots the ring began with */
	for (int i = 0; i < N; i++) {
		m = propose(500 + (uint64_t)i, 1, mk_cmd(PROTO_OP_GET, &keys[i], NULL));
		core_on_client(h.cores[0], 2, &m, h.now);
		assert_true(h_take(&h, H_R2C, 0, 1, &r));
		assert_int_equal(r.status, PROTO_ST_OK);
		assert_int_equal(r.vlen, strlen(vals[i]));
		assert_memory_equal(r.value, vals[i], r.vlen);
	}
	h_drain_peers(&h);
	for (int i = 0; i < N; i++)
		incr_value_is(&h, 800 + (uint64_t)i, &keys[i], vals[i]);
	same_state3(&h);
	h_free(&h);
}

/* ---- witness rules -------------------------------------------------------------------- */

static void test_witness_conflicts(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h, 3, 4, 4, 6, NULL);
	uint64_t k = 5;
	struct proto_msg m, r;
	struct core *w = h.cores[1];
	m = propose(100, 1, mk_cmd(PROTO_OP_GET, &k, NULL));
	core_on_client(w, 1, &m, h.now);
	m = propose(101, 1, mk_cmd(PROTO_OP_GET, &k, NULL));
	core_on_client(w, 2, &m, h.now);
	m = propose(102, 1, mk_cmd(PROTO_OP_PUT, &k, "v"));
	core_on_client(w, 3, &m, h.now);
	assert_true(h_take(&h, H_R2C, 1, 0, &r));
	assert_int_equal(r.type, PROTO_RECORD_ACK);
	assert_true(r.ok);
	assert_true(h_take(&h, H_R2C, 1, 1, &r));
	assert_true(r.ok); /* read/read commute */
	assert_true(h_take(&h, H_R2C, 1, 2, &r));
	assert_false(r.ok); /* write after pending reads */
	/* re-sent PROPOSE: same answer, no second record */
	core_on_client(w, 3, &m, h.now);
	assert_true(h_take(&h, H_R2C, 1, 2, &r));
	assert_false(r.ok);
	struct core_stats st;
	core_get_stats(w, &st);
	assert_int_equal(st.witness_records, 3);
	/* another key does not conflict */
	uint64_t k2 = 6;
	m = propose(103, 1, mk_cmd(PROTO_OP_PUT, &k2, "z"));
	core_on_client(w, 4, &m, h.now);
	assert_true(h_take(&h, H_R2C, 1, 3, &r));
	assert_true(r.ok);
	h_free(&h);
}

/* Records leave when the command executes at the witness: afterwards the key is free again. */
static void test_witness_gc_on_execute(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h, 3, 1, 4, 7, NULL);
	uint64_t k = 5;
	struct proto_cmd c = mk_cmd(PROTO_OP_PUT, &k, "v");
	assert_true(session_submit(h.sess[0], &c, NULL, NULL, h.now) == 1);
	h_drain(&h);
	for (int i = 0; i < 3; i++) {
		struct core_stats st;
		core_get_stats(h.cores[i], &st);
		assert_int_equal(st.witness_records, 0);
		assert_int_equal(st.exec_index, 1);
		assert_int_equal(st.desc_in_use, 0);
	}
	h_free(&h);
}

static void bounded_witness(struct core_config *cfg)
{
	cfg->max_witness = 2;
}

/* A full witness table answers ok=false and does not grow. */
static void test_witness_bounded(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h, 3, 3, 4, 8, bounded_witness);
	struct core *w = h.cores[2];
	uint64_t keys[3] = {1, 2, 3};
	struct proto_msg m, r;
	for (int i = 0; i < 3; i++) {
		m = propose(100 + (uint64_t)i, 1, mk_cmd(PROTO_OP_PUT, &keys[i], "v"));
		core_on_client(w, (uint64_t)i + 1, &m, h.now);
		assert_true(h_take(&h, H_R2C, 2, i, &r));
		if (i < 2)
			assert_true(r.ok);
		else
			assert_false(r.ok);
	}
	struct core_stats st;
	core_get_stats(w, &st);
	assert_int_equal(st.witness_records, 2);
	h_free(&h);
}

/* Messages of another view are refused (witness and follower). */
static void test_stale_view_refused(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h, 3, 1, 4, 9, NULL);
	uint64_t k = 1;
	struct proto_msg m = propose(100, 1, mk_cmd(PROTO_OP_PUT, &k, "v")), r;
	m.view = 3;
	core_on_client(h.cores[1], 1, &m, h.now);
	assert_true(h_take(&h, H_R2C, 1, 0, &r));
	assert_false(r.ok);
	/* the fence: once in view 7 (led by replica 2), the old leader's ACCEPTs of view 0 are
	 * refused, and so are ACCEPTs of view 7 from a replica that does not lead it */
	core_view_change(h.cores[1], 7, 2, h.now);
	struct proto_msg a = {.type = PROTO_ACCEPT,
			      .view = 0,
			      .slot = 0,
			      .cid = {100, 1},
			      .cmd = mk_cmd(PROTO_OP_PUT, &k, "v"),
			      .commit = 1};
	core_on_peer(h.cores[1], 0, &a, h.now);
	a.view = 7;
	core_on_peer(h.cores[1], 0, &a, h.now);
	struct core_stats st;
	core_get_stats(h.cores[1], &st);
	assert_int_equal(st.view, 7);
	assert_int_equal(st.exec_index, 0);
	assert_int_equal(st.log_entries, 0);
	assert_int_equal(st.stale_view, 3);
	/* and a PROPOSE of view 7 before the view is installed is not recorded */
	m.view = 7;
	core_on_client(h.cores[1], 1, &m, h.now);
	assert_true(h_take(&h, H_R2C, 1, 0, &r));
	assert_false(r.ok);
	core_get_stats(h.cores[1], &st);
	assert_int_equal(st.witness_records, 0);
	h_free(&h);
}

/* ---- follower rules ---------------------------------------------------------------------- */

/* Execution strictly in slot order and only below the commit index: a later slot that arrives
 * first waits for the earlier one (the anchor executed on timeouts). */
static void test_follower_exec_in_order(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h, 3, 1, 4, 10, NULL);
	uint64_t k = 1;
	struct core *f = h.cores[1];
	struct proto_msg a1 = {.type = PROTO_ACCEPT,
			       .view = 0,
			       .slot = 1,
			       .cid = {100, 2},
			       .cmd = mk_cmd(PROTO_OP_PUT, &k, "second"),
			       .commit = 2};
	core_on_peer(f, 0, &a1, h.now);
	struct core_stats st;
	core_get_stats(f, &st);
	assert_int_equal(st.exec_index, 0);
	h_advance(&h, 10ull * 1000 * 1000 * 1000); /* no timeout ever executes it */
	core_get_stats(f, &st);
	assert_int_equal(st.exec_index, 0);
	struct proto_msg a0 = {.type = PROTO_ACCEPT,
			       .view = 0,
			       .slot = 0,
			       .cid = {100, 1},
			       .cmd = mk_cmd(PROTO_OP_PUT, &k, "first"),
			       .commit = 0};
	core_on_peer(f, 0, &a0, h.now);
	core_get_stats(f, &st);
	assert_int_equal(st.exec_index, 2);
	/* final value is slot 1's */
	struct core *g = h.cores[2];
	core_on_peer(g, 0, &a0, h.now);
	core_on_peer(g, 0, &a1, h.now);
	assert_int_equal(core_digest(f), core_digest(g));
	/* uncommitted slots never execute */
	struct proto_msg a2 = {.type = PROTO_ACCEPT,
			       .view = 0,
			       .slot = 2,
			       .cid = {100, 3},
			       .cmd = mk_cmd(PROTO_OP_DEL, &k, NULL),
			       .commit = 2};
	core_on_peer(f, 0, &a2, h.now);
	core_get_stats(f, &st);
	assert_int_equal(st.exec_index, 2);
	h_free(&h);
}

/* ---- client rules ------------------------------------------------------------------------ */

struct done {
	int n;
	enum session_result res;
	enum session_path path;
	char val[64];
	uint32_t vlen;
};

static void done_cb(void *arg, uint64_t seq, enum session_result res, enum session_path path,
		    const uint8_t *value, uint32_t vlen)
{
	struct done *d = arg;
	d->n++;
	d->res = res;
	d->path = path;
	d->vlen = vlen < sizeof d->val ? vlen : sizeof d->val;
	if (vlen)
		memcpy(d->val, value, d->vlen);
}

/* Fast path needs the leader's ok and Q-1 witness oks of the current view (N=5: 3). */
static void test_client_fast_needs_superquorum(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h, 5, 1, 4, 11, NULL);
	struct session *s = h.sess[0];
	uint64_t k = 1;
	struct proto_cmd c = mk_cmd(PROTO_OP_GET, &k, NULL);
	struct done d = {0};
	assert_true(session_submit(s, &c, done_cb, &d, h.now) == 1);
	struct proto_msg reply = {.type = PROTO_REPLY,
				  .view = 0,
				  .cid = {100, 1},
				  .ok = true,
				  .status = PROTO_ST_OK,
				  .value = (const uint8_t *)"lv",
				  .vlen = 2};
	struct proto_msg ack = {.type = PROTO_RECORD_ACK, .view = 0, .cid = {100, 1}, .ok = true};
	session_on_msg(s, 0, &reply, h.now);
	session_on_msg(s, 1, &ack, h.now);
	session_on_msg(s, 2, &ack, h.now);
	session_on_msg(s, 2, &ack, h.now); /* the same witness twice counts once */
	struct proto_msg stale = ack;
	stale.view = 1; /* another view's ack never counts */
	session_on_msg(s, 3, &stale, h.now);
	assert_int_equal(d.n, 0);
	session_on_msg(s, 4, &ack, h.now);
	assert_int_equal(d.n, 1);
	assert_int_equal(d.path, SESSION_PATH_FAST);
	assert_int_equal(d.res, SESSION_OK);
	assert_int_equal(d.vlen, 2);
	assert_memory_equal(d.val, "lv", 2);
	/* late answers for a completed command are ignored */
	session_on_msg(s, 3, &ack, h.now);
	assert_int_equal(d.n, 1);
	h_free(&h);
}

/* A write completed on the fast path whose ACCEPTs never left the leader survives the leader's
 * crash: the new leader finds ok records at both surviving witnesses (>= ceil(f/2)+1), appends
 * it, and a strong read in the new view returns it. */
static void test_view_change_replays_fast_path(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h, 3, 1, 4, 31, NULL);
	struct session *s = h.sess[0];
	uint64_t k = 1;
	struct proto_cmd put = mk_cmd(PROTO_OP_PUT, &k, "v1");
	struct done d = {0};
	assert_true(session_submit(s, &put, done_cb, &d, h.now) == 1);
	for (int r = 0; r < 3; r++)
		assert_true(h_deliver(&h, H_C2R, 0, r));
	for (int r = 0; r < 3; r++)
		assert_true(h_deliver(&h, H_R2C, r, 0));
	assert_int_equal(d.n, 1);
	assert_int_equal(d.path, SESSION_PATH_FAST);
	assert_true(h_pending(&h, H_PEER, 0, 1) > 0); /* the ACCEPTs are still queued */
	h_crash(&h, 0);				      /* ... and die with the leader */
	h_view_change(&h, 1, 1);
	h_drain(&h);
	struct core_stats s1, s2;
	core_get_stats(h.cores[1], &s1);
	core_get_stats(h.cores[2], &s2);
	assert_int_equal(s1.view, 1);
	assert_true(s1.view_active);
	assert_int_equal(s1.vc_recovered, 1);
	assert_int_equal(s1.executed, 1);
	assert_int_equal(s2.executed, 1);
	assert_int_equal(s1.digest, s2.digest);
	assert_int_equal(s2.witness_records, 0); /* the old view's records are gone */
	/* the client follows the view; a strong read returns the recovered write */
	session_set_view(s, 1, 1, h.now);
	struct proto_cmd get = mk_cmd(PROTO_OP_GET, &k, NULL);
	struct done g = {0};
	assert_true(session_submit(s, &get, done_cb, &g, h.now) == 2);
	h_drain(&h);
	for (int i = 0; i < 20 && g.n == 0; i++) {
		h_advance(&h, 100000000ull);
		h_drain(&h);
	}
	assert_int_equal(g.n, 1);
	assert_int_equal(g.res, SESSION_OK);
	assert_int_equal(g.vlen, 2);
	assert_memory_equal(g.val, "v1", 2);
	/* the old leader comes back, learns the view from the new leader and catches up */
	h_restart(&h, 0);
	for (int i = 0; i < 20; i++) {
		h_advance(&h, 250000000ull);
		h_drain(&h);
	}
	struct core_stats s0;
	core_get_stats(h.cores[0], &s0);
	assert_int_equal(s0.view, 1);
	assert_int_equal(s0.leader, 1);
	assert_int_equal(s0.digest, s1.digest);
	h_free(&h);
}

/* Sends one collected item of replica `from`'s answer to the new leader of `view` (the next
 * index of that answer; round: the request answered). */
static void vc_feed(struct harness *h, int leader, int from, struct proto_msg *m, uint64_t round,
		    uint64_t *index)
{
	m->round = round;
	if (m->type != PROTO_VC_DONE)
		m->slot_hi = (*index)++;
	else
		m->slot_hi = *index;
	core_on_peer(h->cores[leader], from, m, h->now);
	h->gen[leader]++;
}

/* One accepted entry of view eview at slot, a PUT of its own key (client 100 + slot). */
static void vc_feed_entry(struct harness *h, int leader, int from, uint64_t view, uint64_t slot,
			  uint64_t eview, uint64_t round, uint64_t *index)
{
	static uint64_t keys[64];
	keys[slot] = slot;
	struct proto_msg m = {.type = PROTO_VC_ENTRY,
			      .view = view,
			      .slot = slot,
			      .eview = eview,
			      .cid = {100 + slot, 1},
			      .cmd = mk_cmd(PROTO_OP_PUT, &keys[slot], "v")};
	vc_feed(h, leader, from, &m, round, index);
}

/* A new leader takes into account every decision its collected replicas know, not only the
 * latest: view 2 decided hole 3 and view 3 hole 8; a replica that missed both holds view-1
 * entries at 0-6, another a view-2 entry at 6. The view-1 entries at 3 and after were discarded
 * by view 2's leader (nothing of view 1 there was committed), so the decided log ends at 3 and
 * nothing of view 1 or 2 past it is taken. Knowing only view 3's decision, the leader took
 * view-1 entries at 3-5 and the view-2 entry at 6 after them (sim curpho N=5 profile 2 seed
 * 4479: a command ordered before a fast-path DEL that completed before it was invoked). */
static void test_view_change_all_decisions(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h, 5, 1, 4, 33, NULL);
	const int L = 1;
	const uint64_t V = 6;
	core_view_change(h.cores[L], V, L, h.now);
	h.gen[L]++;
	uint64_t round[5] = {0};
	for (int p = 0; p < 5; p++) {
		struct proto_msg m;
		if (p == L)
			continue;
		while (h_take(&h, H_PEER, L, p, &m))
			if (m.type == PROTO_VC_REQ)
				round[p] = m.round;
		assert_true(round[p] > 0);
	}
	/* replica 4: view-1 entries at 0-6, no decision known */
	uint64_t i4 = 0;
	for (uint64_t s = 0; s <= 6; s++)
		vc_feed_entry(&h, L, 4, V, s, 1, round[4], &i4);
	struct proto_msg d4 = {.type = PROTO_VC_DONE, .view = V};
	vc_feed(&h, L, 4, &d4, round[4], &i4);
	/* replica 0: view-1 entries at 0-2, a view-2 entry at 6; it knows the decisions of
	 * views 2 (hole 3, VC_DECIDED) and 3 (hole 8, the latest: in VC_DONE) */
	uint64_t i0 = 0;
	for (uint64_t s = 0; s <= 2; s++)
		vc_feed_entry(&h, L, 0, V, s, 1, round[0], &i0);
	vc_feed_entry(&h, L, 0, V, 6, 2, round[0], &i0);
	struct proto_msg dec = {.type = PROTO_VC_DECIDED, .view = V, .dview = 2, .dhole = 3};
	vc_feed(&h, L, 0, &dec, round[0], &i0);
	struct proto_msg d0 = {.type = PROTO_VC_DONE, .view = V, .dview = 3, .dhole = 8};
	vc_feed(&h, L, 0, &d0, round[0], &i0);
	struct core_stats st;
	core_get_stats(h.cores[L], &st);
	assert_true(st.view_active); /* decided: replicas 0, 1 and 4 are a majority */
	assert_int_equal(st.next_slot, 3);
	assert_int_equal(st.vc_truncated, 0);
	h_free(&h);
}

/* A command a callback submits during session_tick, with a fresher clock than the tick's, is
 * not due in that tick. Before, `now - first_ns` wrapped around: it timed out at once, its
 * callback submitted the next, which timed out too, and so on through the whole workload (the
 * sessions of test_hybrid_ho_3_leader_killed under load: one real timeout after the leader's
 * kill, then thousands of SESSION_TIMEOUTs in a moment). */
struct chain {
	struct session *s;
	struct proto_cmd c;
	uint64_t now; /* the clock the callback submits with */
	int n, timeouts;
};

static void chain_cb(void *arg, uint64_t seq, enum session_result res, enum session_path path,
		     const uint8_t *value, uint32_t vlen)
{
	(void)seq, (void)path, (void)value, (void)vlen;
	struct chain *ch = arg;
	ch->n++;
	ch->timeouts += res == SESSION_TIMEOUT;
	if (ch->n < 5)
		assert_true(session_submit(ch->s, &ch->c, chain_cb, ch, ch->now) > 0);
}

static void test_client_tick_stale_now(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h, 3, 1, 4, 12, NULL);
	uint64_t k = 1;
	struct chain ch = {.s = h.sess[0], .c = mk_cmd(PROTO_OP_GET, &k, NULL)};
	assert_true(session_submit(ch.s, &ch.c, chain_cb, &ch, h.now) == 1);
	uint64_t tick = h.now + 3600ull * 1000000000ull; /* past any reply timeout */
	ch.now = tick + 1000;
	session_tick(ch.s, tick);
	assert_int_equal(ch.n, 1); /* the first timed out, the one it submitted waits */
	assert_int_equal(ch.timeouts, 1);
	assert_int_equal(session_inflight(ch.s), 1);
	session_tick(ch.s, tick + 2000);
	assert_int_equal(ch.n, 1);
	h_free(&h);
}

/* The leader's ok=false, or a witness's ok=false, means the slow path: the result is the
 * SYNC_REPLY, never the leader's speculative value; a witness ok=false triggers SYNC at once. */
static void test_client_slow_path(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h, 3, 1, 4, 12, NULL);
	struct session *s = h.sess[0];
	uint64_t k = 1;
	struct proto_cmd c = mk_cmd(PROTO_OP_GET, &k, NULL);
	struct done d = {0};
	session_submit(s, &c, done_cb, &d, h.now);
	struct proto_msg r;
	for (int i = 0; i < 3; i++)
		h_take(&h, H_C2R, 0, i, &r); /* discard the PROPOSEs */
	struct proto_msg reply = {.type = PROTO_REPLY,
				  .view = 0,
				  .cid = {100, 1},
				  .ok = true,
				  .status = PROTO_ST_OK,
				  .value = (const uint8_t *)"spec",
				  .vlen = 4};
	struct proto_msg ack = {.type = PROTO_RECORD_ACK, .view = 0, .cid = {100, 1}, .ok = true};
	session_on_msg(s, 0, &reply, h.now);
	session_on_msg(s, 1, &ack, h.now);
	ack.ok = false;
	session_on_msg(s, 2, &ack, h.now);
	assert_int_equal(d.n, 0);
	assert_true(h_take(&h, H_C2R, 0, 0, &r)); /* SYNC to the leader, right away */
	assert_int_equal(r.type, PROTO_SYNC);
	struct proto_msg sr = {.type = PROTO_SYNC_REPLY,
			       .view = 0,
			       .cid = {100, 1},
			       .status = PROTO_ST_OK,
			       .value = (const uint8_t *)"real",
			       .vlen = 4};
	session_on_msg(s, 0, &sr, h.now);
	assert_int_equal(d.n, 1);
	assert_int_equal(d.path, SESSION_PATH_SLOW);
	assert_memory_equal(d.val, "real", 4);
	struct session_stats st;
	session_get_stats(s, &st);
	assert_int_equal(st.slow, 1);
	assert_int_equal(st.conflicts, 1);
	h_free(&h);
}

/* No answer: re-send with the same cid, then time out explicitly (never a fake value). */
static void test_client_retry_then_timeout(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h, 3, 1, 4, 13, NULL);
	struct session *s = h.sess[0];
	uint64_t k = 1;
	struct proto_cmd c = mk_cmd(PROTO_OP_PUT, &k, "v");
	struct done d = {0};
	session_submit(s, &c, done_cb, &d, h.now);
	assert_int_equal(h_pending(&h, H_C2R, 0, 1), 1);
	h_advance(&h, 1100ull * 1000 * 1000); /* past retry_after */
	struct proto_msg r;
	int proposes = 0;
	while (h_take(&h, H_C2R, 0, 1, &r))
		if (r.type == PROTO_PROPOSE) {
			proposes++;
			assert_int_equal(r.cid.seq, 1);
		}
	assert_int_equal(proposes, 2);
	h_advance(&h, 10ull * 1000 * 1000 * 1000);
	assert_int_equal(d.n, 1);
	assert_int_equal(d.res, SESSION_TIMEOUT);
	h_free(&h);
}

/* A witness's ok counts only until the command is sent again: the witness may restart in between
 * and lose the record, and the leader may order the command only from the later send, past the
 * rejoin hold (sim curpho N=3 profile 2 seed 390, curpht 1376: an acknowledged write lost). */
static void test_client_ok_before_resend(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h, 3, 1, 4, 15, NULL);
	struct session *s = h.sess[0];
	uint64_t k = 1;
	struct proto_cmd c = mk_cmd(PROTO_OP_PUT, &k, "v");
	struct done d = {0};
	session_submit(s, &c, done_cb, &d, h.now);
	struct proto_msg ack = {.type = PROTO_RECORD_ACK, .view = 0, .cid = {100, 1}, .ok = true};
	session_on_msg(s, 1, &ack, h.now);    /* the PROPOSE to the leader is lost */
	h_advance(&h, 1100ull * 1000 * 1000); /* past retry_after: sent again */
	struct proto_msg r;
	int proposes = 0;
	while (h_take(&h, H_C2R, 0, 0, &r))
		proposes += r.type == PROTO_PROPOSE;
	assert_int_equal(proposes, 2);
	struct proto_msg reply = {
	    .type = PROTO_REPLY, .view = 0, .cid = {100, 1}, .ok = true, .status = PROTO_ST_OK};
	session_on_msg(s, 0, &reply, h.now);
	session_on_msg(s, 2, &ack, h.now);
	assert_int_equal(d.n, 0);	   /* witness 1's ok answered the first send */
	session_on_msg(s, 1, &ack, h.now); /* its answer to the second */
	assert_int_equal(d.n, 1);
	assert_int_equal(d.path, SESSION_PATH_RETRY);
	assert_int_equal(d.res, SESSION_OK);
	h_free(&h);
}

/* Per-command reply state: two pipelined GETs get their own values (the anchor shared one). */
static void test_client_per_command_state(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h, 3, 1, 4, 14, NULL);
	struct session *s = h.sess[0];
	uint64_t k1 = 1, k2 = 2;
	struct proto_cmd c1 = mk_cmd(PROTO_OP_GET, &k1, NULL), c2 = mk_cmd(PROTO_OP_GET, &k2, NULL);
	struct done d1 = {0}, d2 = {0};
	session_submit(s, &c1, done_cb, &d1, h.now);
	session_submit(s, &c2, done_cb, &d2, h.now);
	struct proto_msg r2 = {.type = PROTO_REPLY,
			       .view = 0,
			       .cid = {100, 2},
			       .ok = true,
			       .status = PROTO_ST_OK,
			       .value = (const uint8_t *)"two",
			       .vlen = 3};
	struct proto_msg r1 = r2;
	r1.cid.seq = 1;
	r1.value = (const uint8_t *)"one";
	session_on_msg(s, 0, &r2, h.now);
	session_on_msg(s, 0, &r1, h.now);
	struct proto_msg ack = {.type = PROTO_RECORD_ACK, .view = 0, .cid = {100, 1}, .ok = true};
	for (int w = 1; w < 3; w++) {
		ack.cid.seq = 1;
		session_on_msg(s, w, &ack, h.now);
		ack.cid.seq = 2;
		session_on_msg(s, w, &ack, h.now);
	}
	assert_int_equal(d1.n, 1);
	assert_int_equal(d2.n, 1);
	assert_memory_equal(d1.val, "one", 3);
	assert_memory_equal(d2.val, "two", 3);
	h_free(&h);
}

/* ---- whole clusters in one process ---------------------------------------------------------- */

#define KEYS_PER_SESSION 64

struct drv {
	struct harness *h;
	int s;
	uint64_t submitted, completed, target;
	uint64_t errors;
	char model[KEYS_PER_SESSION][32]; /* "" = absent */
	bool busy[KEYS_PER_SESSION];
	struct op_ctx {
		struct drv *d;
		int key;
		uint8_t op;
		char val[32];
	} ops[64];
	uint32_t window;
	struct common_rng rng;
	bool shared; /* all sessions on one small shared key set: only membership is checked */
};

static void drv_submit(struct drv *d);

static void drv_done(void *arg, uint64_t seq, enum session_result res, enum session_path path,
		     const uint8_t *value, uint32_t vlen)
{
	struct op_ctx *o = arg;
	struct drv *d = o->d;
	d->completed++;
	d->busy[o->key] = false;
	if (res != SESSION_OK && res != SESSION_NOT_FOUND) {
		d->errors++;
	} else if (o->op == PROTO_OP_GET && !d->shared) {
		const char *want = d->model[o->key];
		bool ok = (want[0] == 0) ? res == SESSION_NOT_FOUND
					 : (res == SESSION_OK && vlen == strlen(want) &&
					    memcmp(value, want, vlen) == 0);
		if (!ok) {
			d->errors++;
			fprintf(stderr, "session %d key %d: got '%.*s' (res %d) want '%s'\n", d->s,
				o->key, (int)vlen, (const char *)value, res, want);
		}
	} else if (o->op == PROTO_OP_GET && d->shared && res == SESSION_OK) {
		if (vlen < 2 || value[0] != 's') /* every written value starts with 's' */
			d->errors++;
	} else if (o->op == PROTO_OP_PUT && !d->shared) {
		strcpy(d->model[o->key], o->val);
	} else if (o->op == PROTO_OP_DEL && !d->shared) {
		d->model[o->key][0] = 0;
	}
	o->d = NULL;
	drv_submit(d);
}

static void drv_submit(struct drv *d)
{
	while (d->submitted < d->target && session_inflight(d->h->sess[d->s]) < d->window) {
		int key = (int)common_rng_below(&d->rng, KEYS_PER_SESSION);
		if (!d->shared && d->busy[key])
			return; /* one op per key in flight keeps the model exact */
		struct op_ctx *o = NULL;
		for (uint32_t i = 0; i < d->window; i++)
			if (d->ops[i].d == NULL) {
				o = &d->ops[i];
				break;
			}
		if (o == NULL)
			return;
		uint64_t kv =
		    d->shared ? (uint64_t)(key % 2) : ((uint64_t)d->s << 32) | (uint64_t)key;
		uint64_t r = common_rng_below(&d->rng, 100);
		o->d = d;
		o->key = key;
		o->op = r < 45 ? PROTO_OP_PUT : (r < 50 ? PROTO_OP_DEL : PROTO_OP_GET);
		snprintf(o->val, sizeof o->val, "s%d-%llu", d->s, (unsigned long long)d->submitted);
		struct proto_cmd c = {.op = o->op, .key = (const uint8_t *)&kv, .klen = 8};
		if (o->op == PROTO_OP_PUT) {
			c.val = (const uint8_t *)o->val;
			c.vlen = (uint32_t)strlen(o->val);
		}
		int64_t seq = session_submit(d->h->sess[d->s], &c, drv_done, o, d->h->now);
		if (seq == -EAGAIN) {
			o->d = NULL; /* window span full: retried when a command completes */
			return;
		}
		assert_true(seq > 0);
		d->busy[key] = true;
		d->submitted++;
	}
}

/* Runs `per_session` ops on each of nsess sessions over n replicas; returns fast fraction. */
static double run_cluster(int n, int nsess, uint32_t window, uint64_t per_session, uint64_t seed,
			  bool shared)
{
	struct harness *h = calloc(1, sizeof *h);
	struct drv *d = calloc((size_t)nsess, sizeof *d);
	h_init(h, n, nsess, window, seed, NULL);
	for (int s = 0; s < nsess; s++) {
		d[s].h = h;
		d[s].s = s;
		d[s].target = per_session;
		d[s].window = window;
		d[s].shared = shared;
		common_rng_seed(&d[s].rng, seed * 31 + (uint64_t)s);
		drv_submit(&d[s]);
	}
	for (long i = 0; i < 100000000L; i++) {
		bool all = true;
		for (int s = 0; s < nsess; s++)
			all = all && d[s].completed == d[s].target;
		if (all)
			break;
		if (!h_step(h))
			h_advance(h, 1000000);
		else if ((i & 255) == 0)
			h_advance(h, 0);
	}
	h_drain(h);
	uint64_t fast = 0, total = 0;
	for (int s = 0; s < nsess; s++) {
		assert_int_equal(d[s].completed, per_session);
		assert_int_equal(d[s].errors, 0);
		struct session_stats st;
		session_get_stats(h->sess[s], &st);
		fast += st.fast;
		total += st.fast + st.slow + st.retry;
	}
	struct core_stats st0;
	core_get_stats(h->cores[0], &st0);
	assert_int_equal(st0.exec_index, (uint64_t)nsess * per_session);
	for (int r = 0; r < n; r++) {
		struct core_stats st;
		core_get_stats(h->cores[r], &st);
		assert_int_equal(st.exec_index, st0.exec_index);
		assert_int_equal(st.digest, st0.digest);
		assert_int_equal(st.witness_records, 0);
		assert_int_equal(st.desc_in_use, 0);
	}
	h_free(h);
	free(h);
	free(d);
	return total ? (double)fast / (double)total : 0;
}

static void test_cluster3_disjoint_keys(void **state)
{
	(void)state;
	for (uint64_t seed = 1; seed <= 5; seed++) {
		double fast = run_cluster(3, 4, 1, 400, seed, false);
		assert_true(fast > 0.5);
	}
}

static void test_cluster5_pipelined(void **state)
{
	(void)state;
	for (uint64_t seed = 1; seed <= 3; seed++)
		run_cluster(5, 4, 8, 300, seed, false);
}

static void test_cluster3_shared_keys(void **state)
{
	(void)state;
	for (uint64_t seed = 1; seed <= 5; seed++)
		run_cluster(3, 4, 4, 300, seed, true);
}

/* ---- hybrid protocols (PROTOCOL.md 5-6) ------------------------------------------------- */

static void ho_cfg(struct core_config *cfg)
{
	cfg->protocol = CONF_PROTO_CURPHO;
}

static void ht_cfg(struct core_config *cfg)
{
	cfg->protocol = CONF_PROTO_CURPHT;
}

static struct proto_msg causal(uint64_t client, uint64_t seq, uint64_t dep, int bound,
			       struct proto_cmd cmd)
{
	struct proto_msg m = {.type = PROTO_CAUSAL_PROPOSE,
			      .view = 0,
			      .cid = {client, seq},
			      .low_seq = 1,
			      .dep = dep,
			      .bound = bound,
			      .cmd = cmd};
	return m;
}

/* Drops whatever replica r sent to session-connection `conn` (1-based ids map to sessions). */
static void drop_replies(struct harness *h, int r, int sess)
{
	struct proto_msg m;
	while (h_take(h, H_R2C, r, sess, &m))
		;
}

/* 5.3 witness: weak records never make a strong command conflict, RECORD_ACK lists the session's
 * own pending weak writes (causal_deps) and, for a GET, the latest pending weak write of any
 * session on the key (read_dep). A witness treating weak records as conflicts, or reporting
 * another session's writes as deps, fails here. */
static void test_ho_witness_deps(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h, 3, 4, 4, 31, ho_cfg);
	struct core *w = h.cores[1];
	uint64_t ka = 1, kb = 2, kc = 3;
	struct proto_msg m, r;
	m = causal(100, 1, 0, 2, mk_cmd(PROTO_OP_PUT, &ka, "a1"));
	core_on_client(w, 1, &m, h.now);
	m = causal(100, 2, 1, 2, mk_cmd(PROTO_OP_PUT, &kb, "b2"));
	core_on_client(w, 1, &m, h.now);
	m = causal(101, 1, 0, 2, mk_cmd(PROTO_OP_PUT, &ka, "a3"));
	core_on_client(w, 2, &m, h.now);
	assert_int_equal(h_pending(&h, H_R2C, 1, 0) + h_pending(&h, H_R2C, 1, 1),
			 0); /* not bound */
	/* session 100's strong PUT on another key: deps {1, 2} */
	m = propose(100, 3, mk_cmd(PROTO_OP_PUT, &kc, "c"));
	m.low_seq = 1;
	m.dep = 2;
	core_on_client(w, 1, &m, h.now);
	assert_true(h_take(&h, H_R2C, 1, 0, &r));
	assert_int_equal(r.type, PROTO_RECORD_ACK);
	assert_true(r.ok);
	assert_int_equal(r.n_deps, 2);
	assert_int_equal(r.deps[0], 1);
	assert_int_equal(r.deps[1], 2);
	/* a strong PUT on key a (two pending weak writes): no conflict in HO */
	m = propose(102, 1, mk_cmd(PROTO_OP_PUT, &ka, "s"));
	core_on_client(w, 3, &m, h.now);
	assert_true(h_take(&h, H_R2C, 1, 2, &r));
	assert_true(r.ok);
	assert_int_equal(r.n_deps, 0);
	/* a strong GET on key a: read_dep is the latest weak write (101:1), and it conflicts with
	 * the pending strong PUT */
	m = propose(103, 1, mk_cmd(PROTO_OP_GET, &ka, NULL));
	core_on_client(w, 4, &m, h.now);
	assert_true(h_take(&h, H_R2C, 1, 3, &r));
	assert_false(r.ok);
	assert_int_equal(r.read_dep.client, 101);
	assert_int_equal(r.read_dep.seq, 1);
	/* the same GET on key b sees session 100's write as read_dep, and no conflict */
	m = propose(103, 2, mk_cmd(PROTO_OP_GET, &kb, NULL));
	core_on_client(w, 4, &m, h.now);
	assert_true(h_take(&h, H_R2C, 1, 3, &r));
	assert_true(r.ok);
	assert_int_equal(r.read_dep.client, 100);
	assert_int_equal(r.read_dep.seq, 2);
	h_free(&h);
}

/* 5.3 witness: a re-sent strong GET is answered with the read_dep its record holds, the one a
 * view change reads (core_replay.c rule 3). It used to be recomputed from the records still
 * there: once the latest weak write before the GET had executed (its record gone), the answer
 * named an older one, the client's check 2 agreed with a leader that named it too, and the
 * view change, reading the records' read_deps, did not place the GET after the weak write it
 * had returned (simulation seed curpho N=5 76 on the spread binding branch). */
static void test_ho_resent_get_keeps_read_dep(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h, 3, 4, 4, 52, ho_cfg);
	struct core *w = h.cores[1];
	uint64_t ka = 1;
	struct proto_msg m, r;
	/* (the older weak write is the GET's own session's: F7 lets the GET be ok) */
	m = causal(103, 1, 0, 2, mk_cmd(PROTO_OP_PUT, &ka, "a1"));
	core_on_client(w, 4, &m, h.now);
	m = causal(101, 1, 0, 2, mk_cmd(PROTO_OP_PUT, &ka, "a2"));
	core_on_client(w, 2, &m, h.now);
	struct proto_msg g = propose(103, 2, mk_cmd(PROTO_OP_GET, &ka, NULL));
	g.weak_dep = g.dep = 1;
	core_on_client(w, 4, &g, h.now);
	assert_true(h_take(&h, H_R2C, 1, 3, &r));
	assert_int_equal(r.type, PROTO_RECORD_ACK);
	assert_true(r.ok);
	assert_int_equal(r.read_dep.client, 101);
	assert_int_equal(r.read_dep.seq, 1);
	/* 101:1 is ordered first and executes here: its record goes */
	struct core_stats st0, st;
	core_get_stats(w, &st0);
	struct proto_msg a = {.type = PROTO_ACCEPT,
			      .view = 0,
			      .slot = 0,
			      .cid = {101, 1},
			      .cmd = mk_cmd(PROTO_OP_PUT, &ka, "a2"),
			      .commit = 1};
	core_on_peer(w, 0, &a, h.now);
	core_get_stats(w, &st);
	assert_int_equal(st.exec_index, 1);
	assert_int_equal(st.witness_records, st0.witness_records - 1);
	core_on_client(w, 4, &g, h.now); /* the GET again (a retry) */
	assert_true(h_take(&h, H_R2C, 1, 3, &r));
	assert_int_equal(r.type, PROTO_RECORD_ACK);
	assert_true(r.ok);
	assert_int_equal(r.read_dep.client, 101);
	assert_int_equal(r.read_dep.seq, 1);
	h_free(&h);
}

/* F7 (docs/recovery.md "Replay order"), one candidate read: a strong GET is not ok, at a
 * witness or at the leader, while another session's pending weak write of its key precedes the
 * latest one (the GET's read_dep). Which of the two the leader ordered last is not in the
 * records, and a view change that replays both could put the older one between the write the
 * GET read and the GET (simulation seeds curpho N=5 13702 and N=3 profile 2 14570: a fast-path
 * GET's read overtaken by a write replayed after it). The GET's own session's older writes are
 * ordered before the GET anyway (F5): they do not count. */
static void test_ho_get_one_candidate_read(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h, 3, 4, 4, 53, ho_cfg);
	uint64_t ka = 1;
	struct proto_msg m, r;
	/* at a witness: 100:1 then 101:1 pending on key a */
	struct core *w = h.cores[1];
	m = causal(100, 1, 0, 2, mk_cmd(PROTO_OP_PUT, &ka, "a1"));
	core_on_client(w, 1, &m, h.now);
	m = causal(101, 1, 0, 2, mk_cmd(PROTO_OP_PUT, &ka, "a2"));
	core_on_client(w, 2, &m, h.now);
	m = propose(103, 1, mk_cmd(PROTO_OP_GET, &ka, NULL));
	core_on_client(w, 4, &m, h.now);
	assert_true(h_take(&h, H_R2C, 1, 3, &r));
	assert_int_equal(r.type, PROTO_RECORD_ACK);
	assert_false(r.ok); /* 100:1 of another session before the latest */
	assert_int_equal(r.read_dep.client, 101);
	assert_int_equal(r.read_dep.seq, 1);
	/* session 100's own GET: its older write is its own, the latest another's: ok */
	m = propose(100, 2, mk_cmd(PROTO_OP_GET, &ka, NULL));
	m.weak_dep = m.dep = 1;
	core_on_client(w, 1, &m, h.now);
	assert_true(h_take(&h, H_R2C, 1, 0, &r));
	assert_int_equal(r.type, PROTO_RECORD_ACK);
	assert_true(r.ok);
	assert_int_equal(r.read_dep.client, 101);
	/* at the leader: the same two writes, ordered; a third session's GET is not ok (the
	 * slow path answers), the first session's is */
	struct core *l = h.cores[0];
	m = causal(100, 1, 0, 1, mk_cmd(PROTO_OP_PUT, &ka, "a1"));
	core_on_client(l, 1, &m, h.now);
	m = causal(101, 1, 0, 1, mk_cmd(PROTO_OP_PUT, &ka, "a2"));
	core_on_client(l, 2, &m, h.now);
	drop_replies(&h, 0, 0);
	drop_replies(&h, 0, 1);
	m = propose(103, 1, mk_cmd(PROTO_OP_GET, &ka, NULL));
	core_on_client(l, 4, &m, h.now);
	assert_true(h_take(&h, H_R2C, 0, 3, &r));
	assert_int_equal(r.type, PROTO_REPLY);
	assert_false(r.ok);
	m = propose(100, 2, mk_cmd(PROTO_OP_GET, &ka, NULL));
	m.weak_dep = m.dep = 1;
	core_on_client(l, 1, &m, h.now);
	assert_true(h_take(&h, H_R2C, 0, 0, &r));
	assert_int_equal(r.type, PROTO_REPLY);
	assert_true(r.ok);
	assert_int_equal(r.read_dep.client, 101);
	assert_int_equal(r.read_dep.seq, 1);
	assert_int_equal(r.vlen, 2);
	assert_memory_equal(r.value, "a2", 2);
	h_free(&h);
}

/* 5.3 leader: a strong GET is evaluated over pending weak writes, before it is itself inserted
 * (the anchor's P25), with ok=true despite the uncommitted weak write and its read_dep in the
 * REPLY. HT: the weak write is an ordinary slot, so the same GET gets ok=false. */
static void test_ho_leader_value_includes_weak(void **state)
{
	(void)state;
	for (int proto = 0; proto < 2; proto++) {
		struct harness h;
		h_init(&h, 3, 2, 4, 32, proto == 0 ? ho_cfg : ht_cfg);
		uint64_t k = 4;
		struct proto_msg m, r;
		if (proto == 0) {
			m = causal(100, 1, 0, 1, mk_cmd(PROTO_OP_PUT, &k, "weak"));
		} else {
			m = causal(100, 1, 0, 1, mk_cmd(PROTO_OP_PUT, &k, "weak"));
			m.type = PROTO_WEAK_WRITE;
		}
		core_on_client(h.cores[0], 1, &m, h.now);
		drop_replies(&h, 0, 0);
		m = propose(101, 1, mk_cmd(PROTO_OP_GET, &k, NULL));
		core_on_client(h.cores[0], 2, &m, h.now);
		assert_true(h_take(&h, H_R2C, 0, 1, &r));
		assert_int_equal(r.type, PROTO_REPLY);
		assert_int_equal(r.status, PROTO_ST_OK);
		assert_int_equal(r.vlen, 4);
		assert_memory_equal(r.value, "weak", 4);
		assert_int_equal(r.slot, 1);
		if (proto == 0) {
			assert_true(r.ok);
			assert_int_equal(r.read_dep.client, 100);
			assert_int_equal(r.read_dep.seq, 1);
		} else {
			assert_false(r.ok);
			assert_int_equal(r.read_dep.client, 0);
		}
		/* a strong write after a strong write still waits for commit (HO too) */
		m = propose(101, 2, mk_cmd(PROTO_OP_PUT, &k, "s1"));
		core_on_client(h.cores[0], 2, &m, h.now);
		m = propose(101, 3, mk_cmd(PROTO_OP_PUT, &k, "s2"));
		core_on_client(h.cores[0], 2, &m, h.now);
		assert_true(h_take(&h, H_R2C, 0, 1, &r));
		assert_true(h_take(&h, H_R2C, 0, 1, &r));
		assert_int_equal(r.slot, 3);
		assert_false(r.ok);
		h_free(&h);
	}
}

/* Session order at the leader: nothing of a session is ordered before its previous weak write
 * (dep). A lost weak write makes the later ones BUSY until it arrives; then all take slots in
 * session order. Without the dep check, seq 2 would take slot 0. */
static void test_ho_session_order(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h, 3, 1, 4, 33, ho_cfg);
	uint64_t k1 = 1, k2 = 2;
	struct proto_msg m1 = causal(100, 1, 0, 0, mk_cmd(PROTO_OP_PUT, &k1, "one"));
	struct proto_msg m2 = causal(100, 2, 1, 0, mk_cmd(PROTO_OP_PUT, &k2, "two"));
	struct proto_msg m3 = propose(100, 3, mk_cmd(PROTO_OP_GET, &k2, NULL));
	m3.low_seq = 1;
	m3.dep = 2;
	struct proto_msg r;
	core_on_client(h.cores[0], 1, &m2, h.now); /* seq 1 was lost on the way */
	assert_true(h_take(&h, H_R2C, 0, 0, &r));
	assert_int_equal(r.type, PROTO_CAUSAL_REPLY);
	assert_int_equal(r.status, PROTO_ST_BUSY);
	core_on_client(h.cores[0], 1, &m3, h.now);
	assert_true(h_take(&h, H_R2C, 0, 0, &r));
	assert_int_equal(r.type, PROTO_REPLY);
	assert_int_equal(r.status, PROTO_ST_BUSY);
	struct core_stats st;
	core_get_stats(h.cores[0], &st);
	assert_int_equal(st.next_slot, 0);
	/* the session re-sends in order */
	core_on_client(h.cores[0], 1, &m1, h.now);
	core_on_client(h.cores[0], 1, &m2, h.now);
	core_on_client(h.cores[0], 1, &m3, h.now);
	assert_true(h_take(&h, H_R2C, 0, 0, &r));
	assert_int_equal(r.status, PROTO_ST_OK);
	assert_true(h_take(&h, H_R2C, 0, 0, &r));
	assert_int_equal(r.status, PROTO_ST_OK);
	assert_true(h_take(&h, H_R2C, 0, 0, &r));
	assert_int_equal(r.type, PROTO_REPLY);
	assert_int_equal(r.slot, 2); /* after both weak writes */
	assert_int_equal(r.vlen, 3);
	assert_memory_equal(r.value, "two", 3); /* its own weak write (C1) */
	h_free(&h);
}

/* Client check 1: the fast path needs every write-set entry in each witness's causal_deps. */
static void test_ho_client_causal_deps_check(void **state)
{
	(void)state;
	for (int pass = 0; pass < 3; pass++) {
		struct harness h;
		h_init(&h, 3, 1, 4, 34, ho_cfg);
		struct session *s = h.sess[0];
		uint64_t k = 1, k2 = 2;
		struct proto_cmd wc = mk_cmd(PROTO_OP_PUT, &k, "w");
		struct done dw = {0}, d = {0};
		assert_true(session_submit_weak(s, &wc, done_cb, &dw, h.now) == 1);
		int b = session_bound(s);
		struct proto_msg rec = {
		    .type = PROTO_CAUSAL_REPLY, .view = 0, .cid = {100, 1}, .status = PROTO_ST_OK};
		session_on_msg(s, b, &rec, h.now);
		assert_int_equal(dw.n, 1);
		assert_int_equal(dw.path, SESSION_PATH_WEAK);
		struct proto_cmd gc = mk_cmd(PROTO_OP_GET, &k2, NULL);
		assert_true(session_submit(s, &gc, done_cb, &d, h.now) == 2);
		struct proto_msg reply = {.type = PROTO_REPLY,
					  .view = 0,
					  .cid = {100, 2},
					  .ok = true,
					  .status = PROTO_ST_NOT_FOUND,
					  .slot = 1};
		struct proto_msg ack = {.type = PROTO_RECORD_ACK,
					.view = 0,
					.cid = {100, 2},
					.ok = true,
					.n_deps = 1,
					.deps = {1}};
		session_on_msg(s, 0, &reply, h.now);
		session_on_msg(s, 1, &ack, h.now);
		if (pass >= 1)
			ack.n_deps = 0; /* witness 2 does not hold the weak write... */
		if (pass == 2)
			ack.dep_exec = 1; /* ...because it executed it: durable, still fast */
		session_on_msg(s, 2, &ack, h.now);
		struct session_stats st;
		session_get_stats(s, &st);
		if (pass != 1) {
			assert_int_equal(d.n, 1);
			assert_int_equal(d.path, SESSION_PATH_FAST);
		} else {
			assert_int_equal(d.n, 0); /* not fast: slow path */
			assert_int_equal(st.ho_check_failed, 1);
			struct proto_msg sr = {.type = PROTO_SYNC_REPLY,
					       .view = 0,
					       .cid = {100, 2},
					       .status = PROTO_ST_NOT_FOUND,
					       .slot = 1};
			session_on_msg(s, 0, &sr, h.now);
			assert_int_equal(d.n, 1);
			assert_int_equal(d.path, SESSION_PATH_SLOW);
		}
		h_free(&h);
	}
}

/* Client check 2: a strong GET is fast only if every reply used reports the same read_dep. */
static void test_ho_client_read_dep_check(void **state)
{
	(void)state;
	for (int pass = 0; pass < 2; pass++) {
		struct harness h;
		h_init(&h, 3, 1, 4, 35, ho_cfg);
		struct session *s = h.sess[0];
		uint64_t k = 1;
		struct proto_cmd gc = mk_cmd(PROTO_OP_GET, &k, NULL);
		struct done d = {0};
		assert_true(session_submit(s, &gc, done_cb, &d, h.now) == 1);
		struct proto_msg reply = {.type = PROTO_REPLY,
					  .view = 0,
					  .cid = {100, 1},
					  .ok = true,
					  .status = PROTO_ST_OK,
					  .value = (const uint8_t *)"x",
					  .vlen = 1,
					  .read_dep = {200, 5}};
		struct proto_msg ack = {.type = PROTO_RECORD_ACK,
					.view = 0,
					.cid = {100, 1},
					.ok = true,
					.read_dep = {200, 5}};
		session_on_msg(s, 0, &reply, h.now);
		session_on_msg(s, 1, &ack, h.now);
		if (pass == 1)
			ack.read_dep = (struct proto_cid){0, 0}; /* witness 2 never saw 200:5 */
		session_on_msg(s, 2, &ack, h.now);
		if (pass == 0) {
			assert_int_equal(d.n, 1);
			assert_int_equal(d.path, SESSION_PATH_FAST);
		} else {
			assert_int_equal(d.n, 0);
			struct proto_msg sr = {.type = PROTO_SYNC_REPLY,
					       .view = 0,
					       .cid = {100, 1},
					       .status = PROTO_ST_OK,
					       .value = (const uint8_t *)"y",
					       .vlen = 1,
					       .slot = 1};
			session_on_msg(s, 0, &sr, h.now);
			assert_int_equal(d.n, 1);
			assert_int_equal(d.path, SESSION_PATH_SLOW);
			assert_memory_equal(d.val, "y", 1);
		}
		h_free(&h);
	}
}

/* Weak reads (5.2): wait for the read token (a follower that has not executed what the session
 * observed must not answer), answer the session's own pending weak write before the executed
 * value, and never another session's pending write. */
/* ---- a client id handed out twice (issue 16; docs/recovery.md, "Client ids") -------------- */

static struct proto_msg sync_of(uint64_t client, uint64_t seq, const struct proto_cmd *cmd)
{
	struct proto_msg m = {.type = PROTO_SYNC,
			      .view = 0,
			      .cid = {client, seq},
			      .low_seq = seq,
			      .fp = proto_cmd_fp(cmd)};
	return m;
}

static struct proto_msg weak_write(uint64_t client, uint64_t seq, struct proto_cmd cmd)
{
	struct proto_msg m = {
	    .type = PROTO_WEAK_WRITE, .view = 0, .cid = {client, seq}, .low_seq = 1, .cmd = cmd};
	return m;
}

/* Takes the next frame replica r sent to connection conn (1-based) and checks its type and
 * status. */
static void expect(struct harness *h, int r, int conn, uint8_t type, uint8_t status)
{
	struct proto_msg m;
	assert_true(h_take(h, H_R2C, r, conn - 1, &m));
	assert_int_equal(m.type, type);
	assert_int_equal(m.status, status);
	if (status == PROTO_ST_CID_REUSED)
		assert_int_equal(m.vlen, 0); /* never another command's value */
}

static uint64_t reused_at(struct harness *h, int r)
{
	struct core_stats st;
	core_get_stats(h->cores[r], &st);
	return st.cid_reused;
}

/* Strong paths: a command under a cid that holds another command is refused with CID_REUSED (a
 * witness says ok=false), never answered with the other command's result, never ordered: when
 * executed (the result cache), in flight at the leader (a SYNC for it does not steal the other
 * command's answer), at a witness holding a record of the cid; a genuine re-send still gets the
 * cached result. Without the fingerprints the leader answered "PUT k3 CCC" with the result of
 * "PUT k1 AAA" and nothing was written. */
static void test_cid_reused_strong(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h, 3, 3, 4, 41, NULL);
	uint64_t k1 = 1, k3 = 3;
	struct proto_cmd old = mk_cmd(PROTO_OP_PUT, &k1, "AAA"),
			 neu = mk_cmd(PROTO_OP_PUT, &k3, "CCC");
	struct proto_msg m = propose(100, 1, old);
	for (int r = 0; r < 3; r++)
		core_on_client(h.cores[r], 1, &m, h.now);
	h_drain(&h);
	for (int r = 0; r < 3; r++)
		drop_replies(&h, r, 0);

	/* executed: another command under (100, 1), at the leader, a witness, and by SYNC */
	m = propose(100, 1, neu);
	core_on_client(h.cores[0], 2, &m, h.now);
	expect(&h, 0, 2, PROTO_SYNC_REPLY, PROTO_ST_CID_REUSED);
	core_on_client(h.cores[1], 2, &m, h.now);
	struct proto_msg r;
	assert_true(h_take(&h, H_R2C, 1, 1, &r));
	assert_int_equal(r.type, PROTO_RECORD_ACK);
	assert_false(r.ok);
	struct proto_msg sy = sync_of(100, 1, &neu);
	core_on_client(h.cores[0], 2, &sy, h.now);
	expect(&h, 0, 2, PROTO_SYNC_REPLY, PROTO_ST_CID_REUSED);
	core_on_client(h.cores[2], 2, &sy, h.now);
	expect(&h, 2, 2, PROTO_SYNC_REPLY, PROTO_ST_CID_REUSED);
	/* the genuine re-send, and its SYNC, get the cached result */
	m = propose(100, 1, old);
	core_on_client(h.cores[0], 1, &m, h.now);
	expect(&h, 0, 1, PROTO_SYNC_REPLY, PROTO_ST_OK);
	sy = sync_of(100, 1, &old);
	core_on_client(h.cores[2], 1, &sy, h.now);
	expect(&h, 2, 1, PROTO_SYNC_REPLY, PROTO_ST_OK);
	struct core_stats st;
	core_get_stats(h.cores[0], &st);
	assert_int_equal(st.cid_reused, 2);
	assert_int_equal(st.executed, 1);
	assert_int_equal(st.next_slot, 1); /* never ordered */
	assert_int_equal(reused_at(&h, 1), 1);
	assert_int_equal(reused_at(&h, 2), 1);

	/* in flight at the leader (the followers have not acknowledged it yet) */
	uint64_t kx = 10, ky = 11;
	struct proto_cmd a = mk_cmd(PROTO_OP_PUT, &kx, "x"), b = mk_cmd(PROTO_OP_PUT, &ky, "y");
	m = propose(200, 1, a);
	core_on_client(h.cores[0], 1, &m, h.now);
	drop_replies(&h, 0, 0);
	m = propose(200, 1, b);
	core_on_client(h.cores[0], 2, &m, h.now);
	expect(&h, 0, 2, PROTO_SYNC_REPLY, PROTO_ST_CID_REUSED);
	sy = sync_of(200, 1, &b);
	core_on_client(h.cores[0], 2, &sy, h.now);
	expect(&h, 0, 2, PROTO_SYNC_REPLY, PROTO_ST_CID_REUSED);
	sy = sync_of(200, 1, &a); /* the real client asks: the answer at execution is its own */
	core_on_client(h.cores[0], 1, &sy, h.now);
	h_drain_peers(&h);
	expect(&h, 0, 1, PROTO_SYNC_REPLY, PROTO_ST_OK);
	assert_int_equal(h_pending(&h, H_R2C, 0, 1), 0);
	assert_int_equal(reused_at(&h, 0), 4);

	/* a witness holding a record of (300, 1) "PUT kw a" refuses another command under it */
	uint64_t kw = 20;
	m = propose(300, 1, mk_cmd(PROTO_OP_PUT, &kw, "a"));
	core_on_client(h.cores[1], 1, &m, h.now);
	assert_true(h_take(&h, H_R2C, 1, 0, &r));
	assert_true(r.ok);
	m = propose(300, 1, mk_cmd(PROTO_OP_PUT, &kw, "b"));
	core_on_client(h.cores[1], 2, &m, h.now);
	assert_true(h_take(&h, H_R2C, 1, 1, &r));
	assert_false(r.ok);
	m = propose(300, 1, mk_cmd(PROTO_OP_DEL, &kw, NULL));
	core_on_client(h.cores[1], 2, &m, h.now);
	assert_true(h_take(&h, H_R2C, 1, 1, &r));
	assert_false(r.ok);
	m = propose(300, 1, mk_cmd(PROTO_OP_PUT, &kw, "a")); /* a re-send: the same answer */
	core_on_client(h.cores[1], 1, &m, h.now);
	assert_true(h_take(&h, H_R2C, 1, 0, &r));
	assert_true(r.ok);
	assert_int_equal(reused_at(&h, 1), 3);
	h_free(&h);
}

/* Weak paths: curpho CAUSAL_PROPOSE (executed, in flight at the leader, recorded at a witness)
 * and curpht WEAK_WRITE (in flight, executed) refuse another write under a cid they hold. */
static void test_cid_reused_weak(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h, 3, 3, 4, 42, ho_cfg);
	uint64_t k1 = 1, k3 = 3, kx = 10, ky = 11, kw = 20;
	struct proto_msg m = causal(100, 1, 0, 1, mk_cmd(PROTO_OP_PUT, &k1, "AAA"));
	for (int r = 0; r < 3; r++)
		core_on_client(h.cores[r], 1, &m, h.now);
	h_drain(&h);
	for (int r = 0; r < 3; r++)
		drop_replies(&h, r, 0);
	m = causal(100, 1, 0, 1, mk_cmd(PROTO_OP_PUT, &k3, "CCC"));
	core_on_client(h.cores[1], 2, &m, h.now); /* the bound replica */
	expect(&h, 1, 2, PROTO_CAUSAL_REPLY, PROTO_ST_CID_REUSED);
	core_on_client(h.cores[0], 2, &m,
		       h.now); /* the leader, not bound: counts, orders nothing */
	assert_int_equal(h_pending(&h, H_R2C, 0, 1), 0);
	struct core_stats st;
	core_get_stats(h.cores[0], &st);
	assert_int_equal(st.cid_reused, 1);
	assert_int_equal(st.next_slot, 1);
	/* in flight at the leader */
	m = causal(200, 1, 0, 0, mk_cmd(PROTO_OP_PUT, &kx, "x"));
	core_on_client(h.cores[0], 1, &m, h.now);
	expect(&h, 0, 1, PROTO_CAUSAL_REPLY, PROTO_ST_OK);
	m = causal(200, 1, 0, 0, mk_cmd(PROTO_OP_PUT, &ky, "y"));
	core_on_client(h.cores[0], 2, &m, h.now);
	expect(&h, 0, 2, PROTO_CAUSAL_REPLY, PROTO_ST_CID_REUSED);
	/* recorded at a witness (not the leader), the same key, another value */
	m = causal(300, 1, 0, 2, mk_cmd(PROTO_OP_PUT, &kw, "a"));
	core_on_client(h.cores[2], 1, &m, h.now);
	expect(&h, 2, 1, PROTO_CAUSAL_REPLY, PROTO_ST_OK);
	m = causal(300, 1, 0, 2, mk_cmd(PROTO_OP_PUT, &kw, "b"));
	core_on_client(h.cores[2], 2, &m, h.now);
	expect(&h, 2, 2, PROTO_CAUSAL_REPLY, PROTO_ST_CID_REUSED);
	assert_int_equal(reused_at(&h, 2), 1);
	h_free(&h);

	h_init(&h, 3, 3, 4, 43, ht_cfg);
	struct proto_cmd v = mk_cmd(PROTO_OP_PUT, &k1, "v"), w = mk_cmd(PROTO_OP_PUT, &k1, "w");
	m = weak_write(400, 1, v);
	core_on_client(h.cores[0], 1, &m, h.now); /* in flight: answered at commit */
	m = weak_write(400, 1, w);
	core_on_client(h.cores[0], 2, &m, h.now);
	expect(&h, 0, 2, PROTO_WEAK_REPLY, PROTO_ST_CID_REUSED);
	h_drain_peers(&h);
	expect(&h, 0, 1, PROTO_WEAK_REPLY, PROTO_ST_OK);
	core_on_client(h.cores[0], 2, &m, h.now); /* executed */
	expect(&h, 0, 2, PROTO_WEAK_REPLY, PROTO_ST_CID_REUSED);
	m = weak_write(400, 1, v); /* the genuine re-send: executed, its slot */
	core_on_client(h.cores[0], 1, &m, h.now);
	expect(&h, 0, 1, PROTO_WEAK_REPLY, PROTO_ST_OK);
	core_get_stats(h.cores[0], &st);
	assert_int_equal(st.cid_reused, 2);
	assert_int_equal(st.executed, 1);
	h_free(&h);
}

/* End to end through the client library: a second session under the id of one that wrote
 * (100, 1) "PUT k1 AAA" gets SESSION_CID_REUSED for its "PUT k3 CCC" (the old code completed it
 * with SESSION_OK and dropped it), and nothing of it is applied. */
static void test_cid_reused_session(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h, 3, 3, 4, 44, NULL);
	uint64_t k1 = 1, k3 = 3;
	struct proto_cmd put1 = mk_cmd(PROTO_OP_PUT, &k1, "AAA"),
			 put3 = mk_cmd(PROTO_OP_PUT, &k3, "CCC");
	struct done d0 = {0}, d1 = {0}, g = {0};
	assert_true(session_submit(h.sess[0], &put1, done_cb, &d0, h.now) == 1);
	h_drain(&h);
	assert_int_equal(d0.n, 1);
	assert_int_equal(d0.res, SESSION_OK);
	h_bind_id(&h, 1, -1, 100); /* a new client, given the first one's id */
	assert_true(session_submit(h.sess[1], &put3, done_cb, &d1, h.now) == 1);
	for (int i = 0; i < 10 && d1.n == 0; i++) {
		h_drain(&h);
		h_advance(&h, 50ull * 1000 * 1000);
	}
	assert_int_equal(d1.n, 1);
	assert_int_equal(d1.res, SESSION_CID_REUSED);
	assert_int_equal(d1.vlen, 0);
	struct session_stats ss;
	session_get_stats(h.sess[1], &ss);
	assert_int_equal(ss.failures, 1);
	struct proto_cmd get3 = mk_cmd(PROTO_OP_GET, &k3, NULL);
	assert_true(session_submit(h.sess[2], &get3, done_cb, &g, h.now) == 1);
	for (int i = 0; i < 10 && g.n == 0; i++) {
		h_drain(&h);
		h_advance(&h, 50ull * 1000 * 1000);
	}
	assert_int_equal(g.n, 1);
	assert_int_equal(g.res, SESSION_NOT_FOUND);
	for (int r = 0; r < 3; r++) {
		struct core_stats st;
		core_get_stats(h.cores[r], &st);
		assert_int_equal(st.executed, 2); /* PUT k1 and the GET, not PUT k3 */
	}
	assert_true(reused_at(&h, 0) >= 1);
	h_free(&h);
}

static void test_weak_read_rules(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h, 3, 3, 4, 36, ho_cfg);
	struct core *f = h.cores[1];
	uint64_t k = 8;
	struct proto_msg m, r;
	m = causal(100, 1, 0, 1, mk_cmd(PROTO_OP_PUT, &k, "mine"));
	core_on_client(f, 1, &m, h.now);
	assert_true(h_take(&h, H_R2C, 1, 0, &r));
	assert_int_equal(r.type, PROTO_CAUSAL_REPLY);
	assert_false(r.ok); /* recorded, not executed */
	struct proto_msg rd = {.type = PROTO_WEAK_READ,
			       .view = 0,
			       .cid = {100, 2},
			       .cmd = mk_cmd(PROTO_OP_GET, &k, NULL)};
	core_on_client(f, 1, &rd, h.now);
	assert_true(h_take(&h, H_R2C, 1, 0, &r));
	assert_int_equal(r.type, PROTO_WEAK_REPLY);
	assert_int_equal(r.status, PROTO_ST_OK);
	assert_memory_equal(r.value, "mine", 4);
	rd.cid = (struct proto_cid){101, 1}; /* another session: not its write */
	core_on_client(f, 2, &rd, h.now);
	assert_true(h_take(&h, H_R2C, 1, 1, &r));
	assert_int_equal(r.status, PROTO_ST_NOT_FOUND);
	/* token 1: the follower has executed nothing, so the read waits */
	rd.cid = (struct proto_cid){102, 1};
	rd.token = 1;
	core_on_client(f, 3, &rd, h.now);
	assert_int_equal(h_pending(&h, H_R2C, 1, 2), 0);
	/* the leader orders and commits the weak write; the follower executes it and answers */
	core_on_client(h.cores[0], 1, &m, h.now);
	h_drain_peers(&h);
	bool got = false;
	while (h_take(&h, H_R2C, 1, 2, &r))
		if (r.type == PROTO_WEAK_REPLY) {
			assert_int_equal(r.status, PROTO_ST_OK);
			assert_memory_equal(r.value, "mine", 4);
			assert_true(r.commit >= 1);
			got = true;
		}
	assert_true(got);
	/* a token never reached: answered WAIT after park_ns, not held forever */
	rd.token = 1000;
	core_on_client(f, 3, &rd, h.now);
	h_advance(&h, 600ull * 1000 * 1000);
	assert_true(h_take(&h, H_R2C, 1, 2, &r));
	assert_int_equal(r.status, PROTO_ST_WAIT);
	struct core_stats st;
	core_get_stats(f, &st);
	assert_int_equal(st.witness_records, 0); /* executed: the weak record left */
	/* the session's next strong op: no pending deps here, but the executed one is reported */
	struct proto_msg sp = propose(100, 3, mk_cmd(PROTO_OP_GET, &k, NULL));
	sp.low_seq = 1;
	sp.dep = 1;
	core_on_client(f, 1, &sp, h.now);
	bool notice = false;
	do { /* the bound follower's executed notice for 100:1 comes first */
		assert_true(h_take(&h, H_R2C, 1, 0, &r));
		if (r.type == PROTO_CAUSAL_REPLY && r.ok && r.cid.seq == 1)
			notice = true;
	} while (r.type != PROTO_RECORD_ACK);
	assert_true(notice);
	assert_int_equal(r.n_deps, 0);
	assert_int_equal(r.dep_exec, 1);
	h_free(&h);
}

/* HO: a weak read names the session's latest weak write (dep); a replica that holds neither
 * its record nor its execution (the session just rebound here, or the message was lost) waits
 * for it instead of answering without the session's own write; and of the session's own
 * pending records it answers the highest seq issued before the read, never a later one. */
static void test_weak_read_waits_for_own_writes(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h, 3, 3, 4, 37, ho_cfg);
	struct core *f = h.cores[2];
	uint64_t k = 9;
	struct proto_msg r;
	struct proto_msg w1 = causal(100, 1, 0, 2, mk_cmd(PROTO_OP_PUT, &k, "one"));
	struct proto_msg w2 = causal(100, 2, 1, 2, mk_cmd(PROTO_OP_PUT, &k, "two"));
	struct proto_msg rd = {.type = PROTO_WEAK_READ,
			       .view = 0,
			       .cid = {100, 3},
			       .dep = 2,
			       .cmd = mk_cmd(PROTO_OP_GET, &k, NULL)};
	/* only w2 reached this replica: its chain (w1) is missing, so the read waits */
	core_on_client(f, 1, &w2, h.now);
	drop_replies(&h, 2, 0);
	core_on_client(f, 1, &rd, h.now);
	assert_int_equal(h_pending(&h, H_R2C, 2, 0), 0);
	/* w1 arrives (re-sent): the chain is complete; the answer is w2, the latest in session
	 * order although w1 arrived last */
	core_on_client(f, 1, &w1, h.now);
	bool answered = false;
	while (h_take(&h, H_R2C, 2, 0, &r))
		if (r.type == PROTO_WEAK_REPLY) {
			assert_int_equal(r.status, PROTO_ST_OK);
			assert_int_equal(r.vlen, 3);
			assert_memory_equal(r.value, "two", 3);
			answered = true;
		}
	assert_true(answered);
	/* a record issued after the read (seq 5 > 4) is not the read's to see */
	struct proto_msg w5 = causal(100, 5, 2, 2, mk_cmd(PROTO_OP_PUT, &k, "five"));
	core_on_client(f, 1, &w5, h.now);
	drop_replies(&h, 2, 0);
	rd.cid.seq = 4;
	core_on_client(f, 1, &rd, h.now);
	assert_true(h_take(&h, H_R2C, 2, 0, &r));
	assert_int_equal(r.type, PROTO_WEAK_REPLY);
	assert_memory_equal(r.value, "two", 3);
	h_free(&h);
}

/* A follower that entered view 1 and installs it (VC_INSTALL: the decided log, replays
 * included, ends at cut 2) executes slot 0 of the new view before it holds slot 1. A session's
 * token taken from an older view's fast REPLY (its write at slot 0, token 1) may name a slot its
 * write left in the replay (here: now at slot 1): the follower must not answer a weak read
 * before it installed the view and executed to the cut. It used to judge by the cut of the view
 * installed before (0) and answered without the write (simulation seeds curpho N=3 2263, N=5
 * 2003). */
static void test_weak_read_waits_for_install(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h, 3, 1, 4, 38, ho_cfg);
	struct core *f = h.cores[2];
	uint64_t k = 5;
	struct proto_msg r;
	core_view_change(f, 1, 1, h.now);
	struct proto_msg inst = {.type = PROTO_VC_INSTALL, .view = 1, .cut = 2, .commit = 2};
	core_on_peer(f, 1, &inst, h.now);
	struct proto_msg a = {.type = PROTO_ACCEPT,
			      .view = 1,
			      .slot = 0,
			      .cid = {101, 1},
			      .cmd = mk_cmd(PROTO_OP_PUT, &k, "other"),
			      .commit = 1};
	core_on_peer(f, 1, &a, h.now);
	struct core_stats st;
	core_get_stats(f, &st);
	assert_int_equal(st.exec_index, 1); /* slot 0 of view 1 executed, view not installed */
	assert_false(st.view_active);
	struct proto_msg rd = {.type = PROTO_WEAK_READ,
			       .view = 1,
			       .cid = {100, 2},
			       .token = 1,
			       .cmd = mk_cmd(PROTO_OP_GET, &k, NULL)};
	core_on_client(f, 1, &rd, h.now);
	bool early = false;
	while (h_take(&h, H_R2C, 2, 0, &r))
		early |= r.type == PROTO_WEAK_REPLY;
	assert_false(early); /* held: the view's replays are not executed here yet */
	/* the replayed write arrives: installed and executed to the cut, the read is answered */
	a.slot = 1;
	a.cid = (struct proto_cid){100, 1};
	a.cmd = mk_cmd(PROTO_OP_PUT, &k, "mine");
	a.commit = 2;
	core_on_peer(f, 1, &a, h.now);
	core_get_stats(f, &st);
	assert_true(st.view_active);
	assert_int_equal(st.exec_index, 2);
	bool got = false;
	while (h_take(&h, H_R2C, 2, 0, &r))
		if (r.type == PROTO_WEAK_REPLY) {
			assert_int_equal(r.status, PROTO_ST_OK);
			assert_int_equal(r.vlen, 4);
			assert_memory_equal(r.value, "mine", 4);
			got = true;
		}
	assert_true(got);
	h_free(&h);
}

/* ---- curpht session cache ----------------------------------------------------------------- */

struct sent {
	struct proto_msg last; /* the header of the last message sent (no payload) */
	int to, n;
};

static void sent_cb(void *ctx, int to, const struct proto_msg *m)
{
	struct sent *c = ctx;
	c->last = *m;
	c->last.cmd.key = c->last.cmd.val = NULL;
	c->to = to;
	c->n++;
}

/* curpht: a weak GET sent while the cache held the session's own write of its key counts on
 * that entry (its token does not cover the write's slot). If a later completion evicts the
 * entry before the answer, an answer from a replica that has not executed the write is behind
 * it: the session asks again, with the token now past the write, instead of returning the older
 * value (simulation seed curpht N=3 2968). One cache slot makes every key collide. */
static void test_ht_cache_eviction_in_flight_read(void **state)
{
	(void)state;
	struct session_config cfg;
	session_config_default(&cfg, 100, 3);
	cfg.protocol = CONF_PROTO_CURPHT;
	cfg.max_inflight = 4;
	cfg.preferred = 1;
	cfg.cache_slots = 1;
	struct sent c = {0};
	struct session_io io = {.ctx = &c, .send = sent_cb};
	struct session *s;
	assert_int_equal(session_create(&cfg, 0, 0, &io, &s), 0);
	uint64_t k1 = 1, k2 = 2;
	struct proto_cmd w1 = mk_cmd(PROTO_OP_PUT, &k1, "mine"),
			 w2 = mk_cmd(PROTO_OP_PUT, &k2, "x"), g1 = mk_cmd(PROTO_OP_GET, &k1, NULL);
	struct done dw1 = {0}, dw2 = {0}, dg = {0};
	assert_true(session_submit_weak(s, &w1, done_cb, &dw1, 1) == 1);
	struct proto_msg rep = {
	    .type = PROTO_WEAK_REPLY, .view = 0, .cid = {100, 1}, .slot = 10, .commit = 10};
	session_on_msg(s, 0, &rep, 2);
	assert_int_equal(dw1.n, 1);
	assert_true(session_submit_weak(s, &g1, done_cb, &dg, 3) == 2);
	assert_int_equal(c.to, 1);
	assert_true(c.last.token <= 10); /* the cache answers for slot 10 */
	assert_true(session_submit_weak(s, &w2, done_cb, &dw2, 4) == 3);
	rep.cid.seq = 3;
	rep.slot = 11;
	session_on_msg(s, 0, &rep, 5); /* evicts key 1's entry */
	assert_int_equal(dw2.n, 1);
	int before = c.n;
	struct proto_msg old = {.type = PROTO_WEAK_REPLY,
				.view = 0,
				.cid = {100, 2},
				.status = PROTO_ST_NOT_FOUND,
				.commit = 5};
	session_on_msg(s, 1, &old, 6); /* executed to 5 only: behind the write at 10 */
	assert_int_equal(dg.n, 0);
	assert_int_equal(c.n, before + 1); /* asked again ... */
	assert_int_equal(c.last.type, PROTO_WEAK_READ);
	assert_int_equal(c.last.cid.seq, 2);
	assert_true(c.last.token >= 11); /* ... waiting for the write */
	struct proto_msg now = {.type = PROTO_WEAK_REPLY,
				.view = 0,
				.cid = {100, 2},
				.status = PROTO_ST_OK,
				.slot = 10,
				.commit = 12,
				.value = (const uint8_t *)"mine",
				.vlen = 4};
	session_on_msg(s, 1, &now, 7);
	assert_int_equal(dg.n, 1);
	assert_int_equal(dg.res, SESSION_OK);
	assert_int_equal(dg.vlen, 4);
	assert_memory_equal(dg.val, "mine", 4);
	session_destroy(s);
}

/* ---- binding (docs/protocols.md "Sessions and binding") ---------------------------------- */

#define US 1000ull

/* session_pick_bound: the tolerance (max(20%, 1 ms) of the best RTT), its hysteresis (a
 * candidate stays one up to twice it), unmeasured replicas never chosen, the Proxy section's
 * replica always, and consecutive client ids spread evenly and deterministically. */
static void test_bind_pick(void **state)
{
	(void)state;
	const uint64_t f = SESSION_BIND_TOL_MIN_NS;
	uint32_t cand = 0;
	/* the floor: 0.75 of it above the best is within, twice is not */
	uint64_t a[3] = {100 * US, 100 * US + f * 3 / 4, 100 * US + 2 * f};
	int b = session_pick_bound(a, 3, -1, 100, 0, &cand);
	assert_int_equal(cand, 0x3);
	assert_true(b == 0 || b == 1);
	/* hysteresis: replica 2 at 1.75 x the tolerance above the best stays a candidate, at 2.5 x
	 * it leaves, back at 1.75 x it stays out, at 1 x it is in again */
	cand = 0x7;
	a[2] = 100 * US + f * 7 / 4;
	session_pick_bound(a, 3, -1, 100, 0, &cand);
	assert_int_equal(cand, 0x7);
	a[2] = 100 * US + f * 5 / 2;
	session_pick_bound(a, 3, -1, 100, 0, &cand);
	assert_int_equal(cand, 0x3);
	a[2] = 100 * US + f * 7 / 4;
	session_pick_bound(a, 3, -1, 100, 0, &cand);
	assert_int_equal(cand, 0x3);
	a[2] = 100 * US + f;
	session_pick_bound(a, 3, -1, 100, 0, &cand);
	assert_int_equal(cand, 0x7);
	/* above the floor, 20%: a best of 100 x the floor takes 119 x, not 121 x */
	uint64_t w[3] = {100 * f, 119 * f, 121 * f};
	cand = 0;
	session_pick_bound(w, 3, -1, 100, 0, &cand);
	assert_int_equal(cand, 0x3);
	/* unmeasured (0) replicas are never candidates; none measured: the current binding */
	uint64_t u[3] = {0, 50 * US, 60 * US};
	cand = 0;
	for (uint64_t id = 1; id < 50; id++) {
		b = session_pick_bound(u, 3, -1, id, 0, &cand);
		assert_true(b == 1 || b == 2);
		assert_int_equal(cand, 0x6);
	}
	uint64_t z[3] = {0, 0, 0};
	assert_int_equal(session_pick_bound(z, 3, -1, 100, 2, &cand), 2);
	assert_int_equal(cand, 0);
	/* the Proxy section's replica wins, measured or not, near or far */
	assert_int_equal(session_pick_bound(z, 3, 1, 100, 2, &cand), 1);
	assert_int_equal(session_pick_bound(w, 3, 2, 100, 0, &cand), 2);
	/* spreading: 16 consecutive ids (as the master hands them out, under any epoch) over 3
	 * equal candidates: 5 or 6 each, never more than half; 3,000 ids: 1,000 +- 1 each. The
	 * choice depends on the id and the candidates only, not on the current binding */
	uint64_t e[3] = {40 * US, 40 * US, 40 * US};
	const uint64_t bases[] = {1, 100, (7ull << 32) | 12345, (123ull << 32) | 999999};
	for (size_t i = 0; i < sizeof bases / sizeof bases[0]; i++) {
		int cnt[3] = {0}, big[3] = {0};
		for (uint64_t id = bases[i]; id < bases[i] + 3000; id++) {
			cand = 0;
			b = session_pick_bound(e, 3, -1, id, 0, &cand);
			cand = 0;
			assert_int_equal(session_pick_bound(e, 3, -1, id, 2, &cand), b);
			big[b]++;
			if (id < bases[i] + 16)
				cnt[b]++;
		}
		for (int r = 0; r < 3; r++) {
			assert_true(cnt[r] >= 5 && cnt[r] <= 6);
			assert_true(big[r] >= 999 && big[r] <= 1001);
		}
	}
}

struct sent_to {
	struct proto_msg last[PROTO_MAX_REPLICAS]; /* header of the last message to each */
	int pings[PROTO_MAX_REPLICAS];
};

static void sent_to_cb(void *ctx, int to, const struct proto_msg *m)
{
	struct sent_to *c = ctx;
	c->last[to] = *m;
	c->last[to].cmd.key = c->last[to].cmd.val = NULL;
	c->pings[to] += m->type == PROTO_PING;
}

static void pong(struct session *s, int from, uint64_t probe_ns, uint64_t now_ns)
{
	struct proto_msg m = {.type = PROTO_PONG, .view = 0, .slot = probe_ns};
	session_on_msg(s, from, &m, now_ns);
}

/* Probing: the first SESSION_PROBE_QUICK rounds follow each other at probe_ns/64, then one per
 * probe_ns; a replica's RTT is the lowest of its recent samples. A replica that has not answered
 * a round when the next one goes out is no candidate: the session rebinds away from it (its
 * bound replica down), and back once it answers again. Client id 100 picks replica 2 of
 * {0,1,2} and replica 1 of {0,1}. */
static void test_bind_missed_probe(void **state)
{
	(void)state;
	struct session_config cfg;
	session_config_default(&cfg, 100, 3);
	cfg.protocol = CONF_PROTO_CURPHO;
	cfg.max_inflight = 4;
	struct sent_to c = {0};
	struct session_io io = {.ctx = &c, .send = sent_to_cb};
	struct session *s;
	assert_int_equal(session_create(&cfg, 0, 0, &io, &s), 0);
	assert_int_equal(session_bound(s), 0); /* the leader until a probe is answered */
	uint64_t t = 1000000000ull, sec = 1000000000ull, quick = cfg.probe_ns / 64;
	/* the quick rounds: replica 1's samples 3 ms (too far to be a candidate), 80, 300, 500 us:
	 * its RTT is 80 us. A silent round of replica 2 among them is not a miss yet */
	const uint64_t s1[SESSION_PROBE_QUICK] = {3 * SESSION_BIND_TOL_MIN_NS, 80 * US, 300 * US,
						  500 * US};
	for (int i = 0; i < SESSION_PROBE_QUICK; i++) {
		if (i > 0) {
			session_tick(s, t - 1);
			assert_int_equal(c.pings[0], i); /* not before its time */
		}
		session_tick(s, t);
		assert_int_equal(c.pings[0], i + 1);
		pong(s, 0, t, t + 100 * US);
		pong(s, 1, t, t + s1[i]);
		if (i != 1)
			pong(s, 2, t, t + 120 * US);
		if (i + 1 < SESSION_PROBE_QUICK)
			t += quick;
	}
	assert_int_equal(session_rtt_ns(s, 1), 80 * US);
	assert_int_equal(session_rtt_ns(s, 2), 120 * US);
	assert_int_equal(session_bound(s), 2);
	session_tick(s, t + sec - 1);
	assert_int_equal(c.pings[0], SESSION_PROBE_QUICK); /* then one round per probe_ns */
	t += sec;
	session_tick(s, t); /* replica 2 does not answer this round */
	pong(s, 0, t, t + 50 * US);
	pong(s, 1, t, t + 50 * US);
	assert_int_equal(session_bound(s), 2);
	session_tick(s, t + sec); /* the next round: replica 2 missed one */
	assert_int_equal(c.pings[2], SESSION_PROBE_QUICK + 2);
	assert_int_equal(session_rtt_ns(s, 2), 0);
	assert_int_equal(session_bound(s), 1);
	uint64_t k = 1;
	struct proto_cmd g = mk_cmd(PROTO_OP_GET, &k, NULL);
	struct done d = {0};
	assert_true(session_submit_weak(s, &g, done_cb, &d, t + sec + 1) == 1);
	assert_int_equal(c.last[1].type, PROTO_WEAK_READ);
	assert_int_not_equal(c.last[2].type, PROTO_WEAK_READ);
	/* back: a late answer to the missed round (a long sample) does not make it a candidate,
	 * the answer to the last round does */
	pong(s, 2, t, t + sec + 10);
	assert_int_equal(session_rtt_ns(s, 2), sec + 10);
	assert_int_equal(session_bound(s), 1);
	pong(s, 2, t + sec, t + sec + 60 * US);
	assert_int_equal(session_rtt_ns(s, 2), 60 * US);
	assert_int_equal(session_bound(s), 2);
	struct session_stats st;
	session_get_stats(s, &st);
	assert_int_equal(st.rebinds, 3); /* 0 -> 2 (first round, 1 too far), -> 1, -> 2 */
	session_destroy(s);
}

/* curpho, N=5: a strong PUT completes on the fast path while its PROPOSE to replica x was lost
 * (a connection reset), the session's bound replica holding an ok=true record, so the session's
 * read token stays below the write (its bound replica answers reads from that record). The
 * RTTs then change and the session rebinds to x, which has not executed the write: the token
 * must cover it, or x answers the older value (read-your-writes). Before 2026-12 a rebind kept
 * the token, and the GET returned "old". */
static void test_ho_rebind_covers_own_writes(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h, 5, 1, 4, 51, ho_cfg);
	struct session *s = h.sess[0];
	uint64_t k = 7;
	struct proto_cmd w0 = mk_cmd(PROTO_OP_PUT, &k, "old"), w1 = mk_cmd(PROTO_OP_PUT, &k, "new"),
			 g = mk_cmd(PROTO_OP_GET, &k, NULL);
	struct done d0 = {0}, d1 = {0}, dg = {0};
	/* the quick probe rounds, answered by every replica (1-21 us per delivery) */
	for (int round = 1; round <= SESSION_PROBE_QUICK; round++) {
		h_advance(&h, round == 1 ? 0 : 1000000000ull);
		if (round == 1)
			assert_true(session_submit(s, &w0, done_cb, &d0, h.now) == 1);
		h_drain(&h);
	}
	assert_int_equal(d0.n, 1);
	int b = session_bound(s);
	int x = b == 1 ? 2 : 1;
	if (b == 0) /* (the leader's record makes the token cover the write) */
		fail_msg("client id 100 bound to the leader: choose another seed");
	assert_true(session_submit(s, &w1, done_cb, &d1, h.now) == 2);
	struct proto_msg m;
	assert_true(h_take(&h, H_C2R, 0, x, &m)); /* the PROPOSE to x, lost */
	assert_int_equal(m.type, PROTO_PROPOSE);
	for (int r = 0; r < 5; r++)
		if (r != x)
			while (h_deliver(&h, H_C2R, 0, r))
				;
	for (int r = 0; r < 5; r++)
		while (h_deliver(&h, H_R2C, r, 0))
			;
	assert_int_equal(d1.n, 1);
	assert_int_equal(d1.path, SESSION_PATH_FAST);
	/* a probe round that only x answers (the ACCEPTs stay queued); at the next one x is the
	 * only candidate, and the session rebinds to it */
	h_advance(&h, 1000000000ull);
	for (int r = 0; r < 5; r++) {
		while (r == x ? h_deliver(&h, H_C2R, 0, r) : h_take(&h, H_C2R, 0, r, &m))
			;
		while (h_deliver(&h, H_R2C, r, 0))
			;
	}
	h_advance(&h, 1000000000ull);
	assert_int_equal(session_bound(s), x);
	for (int r = 0; r < 5; r++) /* (this round's PINGs) */
		while (h_take(&h, H_C2R, 0, r, &m))
			;
	assert_true(session_submit_weak(s, &g, done_cb, &dg, h.now) == 3);
	/* x answers only once it has executed the write (the ACCEPTs are still queued) */
	while (h_deliver(&h, H_C2R, 0, x))
		;
	while (h_deliver(&h, H_R2C, x, 0))
		;
	assert_int_equal(dg.n, 0);
	h_drain(&h);
	assert_int_equal(dg.n, 1);
	assert_int_equal(dg.res, SESSION_OK);
	assert_int_equal(dg.vlen, 3);
	assert_memory_equal(dg.val, "new", 3);
	h_free(&h);
}

/* ---- SCAN -------------------------------------------------------------------------------- */

struct scan_done {
	int n;
	enum session_result res;
	enum session_path path;
	uint8_t val[1024];
	uint32_t vlen;
};

static void scan_done_cb(void *arg, uint64_t seq, enum session_result res, enum session_path path,
			 const uint8_t *value, uint32_t vlen)
{
	struct scan_done *d = arg;
	(void)seq;
	d->n++;
	d->res = res;
	d->path = path;
	assert_true(vlen <= sizeof d->val);
	d->vlen = vlen;
	if (vlen)
		memcpy(d->val, value, vlen);
}

/* The keys of a SCAN result, joined with ',' (values checked to be "v" + the key). */
static void scan_keys(const uint8_t *val, uint32_t vlen, char *out, size_t cap)
{
	uint32_t off = 0, kl, vl;
	const uint8_t *k, *v;
	size_t n = 0;
	out[0] = 0;
	while (proto_scan_next(val, vlen, &off, &k, &kl, &v, &vl) == 1) {
		assert_int_equal(vl, kl + 1);
		assert_int_equal(v[0], 'v');
		assert_memory_equal(v + 1, k, kl);
		n += (size_t)snprintf(out + n, cap - n, "%s%.*s", n ? "," : "", (int)kl, k);
	}
	assert_int_equal(off, vlen); /* the whole value decodes */
}

static void scan_submit(struct harness *h, bool weak, const char *from, uint32_t count,
			struct scan_done *d)
{
	struct proto_cmd c = {.op = PROTO_OP_SCAN,
			      .key = (const uint8_t *)from,
			      .klen = (uint32_t)strlen(from),
			      .scan_count = count};
	memset(d, 0, sizeof *d);
	int64_t rc = weak ? session_submit_weak(h->sess[0], &c, scan_done_cb, d, h->now)
			  : session_submit(h->sess[0], &c, scan_done_cb, d, h->now);
	assert_true(rc > 0);
	h_drain(h);
	assert_int_equal(d->n, 1);
	assert_int_equal(d->res, SESSION_OK);
}

/* Writes "k1".."k6" (value "v"+key), deletes k3, then scans strong (always the slow path:
 * ordered, read at execution) and, for the hybrid protocols, weak: both see exactly the live
 * keys in byte order, the count bounds them, and every replica executed the strong scans. */
static int scan_protocol(void (*cfg)(struct core_config *), bool weak_too, uint64_t seed)
{
	struct harness h;
	int lagged = 0;
	h_init(&h, 3, 1, 8, seed, cfg);
	h_bind(&h, 0, 2); /* weak reads go to a follower */
	struct done d = {0};
	const char *keys[] = {"k4", "k1", "k6", "k3", "k2", "k5"};
	for (int i = 0; i < 6; i++) {
		char v[8];
		snprintf(v, sizeof v, "v%s", keys[i]);
		struct proto_cmd c = {.op = PROTO_OP_PUT,
				      .key = (const uint8_t *)keys[i],
				      .klen = 2,
				      .val = (const uint8_t *)v,
				      .vlen = 3};
		assert_true(session_submit(h.sess[0], &c, done_cb, &d, h.now) > 0);
	}
	h_drain(&h);
	struct proto_cmd del = {.op = PROTO_OP_DEL, .key = (const uint8_t *)"k3", .klen = 2};
	assert_true(session_submit(h.sess[0], &del, done_cb, &d, h.now) > 0);
	h_drain(&h);
	assert_int_equal(d.n, 7);
	struct scan_done sd;
	char got[128];
	scan_submit(&h, false, "k0", 100, &sd);
	assert_int_equal(sd.path, SESSION_PATH_SLOW);
	scan_keys(sd.val, sd.vlen, got, sizeof got);
	assert_string_equal(got, "k1,k2,k4,k5,k6");
	scan_submit(&h, false, "k2", 2, &sd);
	scan_keys(sd.val, sd.vlen, got, sizeof got);
	assert_string_equal(got, "k2,k4");
	scan_submit(&h, false, "k3", 1, &sd); /* from a deleted key: the next live one */
	scan_keys(sd.val, sd.vlen, got, sizeof got);
	assert_string_equal(got, "k4");
	scan_submit(&h, false, "l", 5, &sd); /* past the last key: empty, not an error */
	assert_int_equal(sd.vlen, 0);
	if (weak_too) {
		scan_submit(&h, true, "", 3, &sd);
		assert_int_equal(sd.path, SESSION_PATH_WEAK);
		scan_keys(sd.val, sd.vlen, got, sizeof got);
		assert_string_equal(got, "k1,k2,k4");
		/* the session's own write, just completed, is in its weak scan although the bound
		 * follower has not executed it yet (the scan's token covers it) */
		struct proto_cmd c = {.op = PROTO_OP_PUT,
				      .key = (const uint8_t *)"k7",
				      .klen = 2,
				      .val = (const uint8_t *)"vk7",
				      .vlen = 3};
		int before = d.n;
		assert_true(session_submit(h.sess[0], &c, done_cb, &d, h.now) > 0);
		while (d.n == before && h_step(&h))
			;
		assert_int_equal(d.n, before + 1);
		struct core_stats st;
		core_get_stats(h.cores[2], &st);
		uint64_t behind = st.exec_index; /* typically the PUT is not executed there yet */
		scan_submit(&h, true, "k7", 1, &sd);
		scan_keys(sd.val, sd.vlen, got, sizeof got);
		assert_string_equal(got, "k7");
		lagged += behind <= 11; /* 6 PUTs, a DEL, 4 strong SCANs: this PUT is slot 11 */
	}
	h_drain_peers(&h);
	uint64_t dg = core_digest(h.cores[0]);
	for (int r = 0; r < 3; r++) {
		struct core_stats st;
		core_get_stats(h.cores[r], &st);
		assert_true(st.scans >= 4); /* every replica executed the strong scans */
		assert_int_equal(core_digest(h.cores[r]), dg);
	}
	h_free(&h);
	return lagged;
}

static void test_scan_curp(void **state)
{
	(void)state;
	scan_protocol(NULL, false, 41);
}

/* Over several seeds, at least one weak scan must have reached a follower that lagged behind
 * the session's write, or the token rule was not exercised. */
static void test_scan_curpho(void **state)
{
	(void)state;
	int lagged = 0;
	for (uint64_t seed = 1; seed <= 8; seed++)
		lagged += scan_protocol(ho_cfg, true, 420 + seed);
	assert_true(lagged > 0);
}

static void test_scan_curpht(void **state)
{
	(void)state;
	int lagged = 0;
	for (uint64_t seed = 1; seed <= 8; seed++)
		lagged += scan_protocol(ht_cfg, true, 430 + seed);
	assert_true(lagged > 0);
}

static void tiny_values(struct core_config *cfg)
{
	cfg->protocol = CONF_PROTO_CURPHO;
	cfg->max_value = 30; /* two pairs of 2-byte keys and 3-byte values (13 bytes each) */
}

/* A result never exceeds maxValueBytes: it stops before the pair that would not fit. HO: a weak
 * SCAN waits at its replica until the session's own earlier weak writes executed there (no
 * range overlay), while another session's scan is answered at once without them. */
static void test_scan_bounded_and_own_writes(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h, 3, 1, 4, 44, tiny_values);
	struct core *f = h.cores[1];
	uint8_t kb[3][2] = {{'a', '1'}, {'a', '2'}, {'a', '3'}};
	for (int i = 0; i < 3; i++) {
		uint8_t v[3] = {'v', kb[i][0], kb[i][1]};
		struct proto_msg m =
		    propose(200, (uint64_t)i + 1,
			    (struct proto_cmd){
				.op = PROTO_OP_PUT, .key = kb[i], .klen = 2, .val = v, .vlen = 3});
		m.low_seq = 1;
		core_on_client(h.cores[0], 1, &m, h.now);
	}
	h_drain_peers(&h);
	drop_replies(&h, 0, 0);
	struct proto_msg rd = {
	    .type = PROTO_WEAK_READ,
	    .view = 0,
	    .cid = {201, 1},
	    .cmd = {.op = PROTO_OP_SCAN, .key = (const uint8_t *)"a", .klen = 1, .scan_count = 10}};
	struct proto_msg r;
	core_on_client(f, 2, &rd, h.now);
	assert_true(h_take(&h, H_R2C, 1, 1, &r));
	assert_int_equal(r.type, PROTO_WEAK_REPLY);
	assert_int_equal(r.status, PROTO_ST_OK);
	assert_int_equal(r.vlen, 26); /* a1 and a2 fit in 30 bytes, a3 does not */
	char got[64];
	scan_keys(r.value, r.vlen, got, sizeof got);
	assert_string_equal(got, "a1,a2");
	assert_true(r.commit >= 3);
	/* session 300's weak write of "a0" at its bound follower, not yet ordered */
	uint8_t k0[2] = {'a', '0'};
	struct proto_msg w = causal(300, 1, 0, 1,
				    (struct proto_cmd){.op = PROTO_OP_PUT,
						       .key = k0,
						       .klen = 2,
						       .val = (const uint8_t *)"va0",
						       .vlen = 3});
	core_on_client(f, 1, &w, h.now);
	drop_replies(&h, 1, 0);
	rd.cid = (struct proto_cid){300, 2};
	core_on_client(f, 1, &rd, h.now);
	assert_int_equal(h_pending(&h, H_R2C, 1, 0), 0); /* held: its own write is pending */
	rd.cid = (struct proto_cid){202, 1};
	core_on_client(f, 2, &rd, h.now);
	assert_true(h_take(&h, H_R2C, 1, 1, &r));
	scan_keys(r.value, r.vlen, got, sizeof got);
	assert_string_equal(got, "a1,a2"); /* another session: answered without a0 */
	/* the leader orders the weak write; once the follower executes it the held scan answers */
	core_on_client(h.cores[0], 1, &w, h.now);
	h_drain_peers(&h);
	bool answered = false;
	while (h_take(&h, H_R2C, 1, 0, &r))
		if (r.type == PROTO_WEAK_REPLY) {
			assert_int_equal(r.cid.seq, 2);
			scan_keys(r.value, r.vlen, got, sizeof got);
			assert_string_equal(got, "a0,a1");
			answered = true;
		}
	assert_true(answered);
	h_free(&h);
}

/* ---- client leases (docs/recovery.md "Client leases") ------------------------------------- */

#define LEASE_NS (1000ull * 1000 * 1000)
#define STEP_NS	 (50ull * 1000 * 1000)

static void lease_cfg(struct core_config *cfg)
{
	cfg->lease_ns = LEASE_NS;
}

static struct core_stats cstats(struct harness *h, int r)
{
	struct core_stats st;
	core_get_stats(h->cores[r], &st);
	return st;
}

/* Sends m to every replica on connection conn (as a session sends a PROPOSE). */
static void to_all(struct harness *h, uint64_t conn, const struct proto_msg *m)
{
	for (int r = 0; r < h->n; r++)
		core_on_client(h->cores[r], conn, m, h->now);
}

/* Lets ns of time pass in steps, the leader hearing a keep-alive of client `alive` (0: none) on
 * connection 3 at each, the replicas exchanging what they send; client answers are dropped. */
static void lease_wait(struct harness *h, uint64_t ns, uint64_t alive)
{
	for (uint64_t t = 0; t < ns; t += STEP_NS) {
		if (alive) {
			struct proto_msg p = {.type = PROTO_PING, .slot = 1, .client_id = alive};
			core_on_client(h->cores[h->leader], 3, &p, h->now);
		}
		h_advance(h, STEP_NS);
		h_drain_peers(h);
		for (int r = 0; r < h->n; r++)
			for (int s = 0; s < h->nsess; s++)
				drop_replies(h, r, s);
	}
}

/* A client silent for a lease is forgotten by every replica at the EXPIRE's slot (its cached
 * result, its executed-seq set), one that keeps sending is not; from then on its id is refused
 * EXPIRED everywhere (a late retry of what it executed, a new command, its SYNC), and so is an
 * id below the floor that never executed anything, while a higher id is served. Without the
 * leases every replica kept the record and the result for ever, and the late retry was
 * answered from the cache; dropping the records without refusing the id would execute it
 * again. */
static void test_lease_expire_refuse(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h, 3, 3, 4, 51, lease_cfg);
	uint64_t k1 = 1, k2 = 2;
	struct proto_cmd a = mk_cmd(PROTO_OP_PUT, &k1, "a"), b = mk_cmd(PROTO_OP_PUT, &k2, "b");
	struct proto_msg m = propose(200, 1, a), r;
	to_all(&h, 1, &m);
	m = propose(201, 1, b);
	to_all(&h, 2, &m);
	h_drain(&h);
	for (int i = 0; i < 3; i++) {
		struct core_stats st = cstats(&h, i);
		assert_int_equal(st.executed, 2);
		assert_int_equal(st.result_cache, 2);
		assert_int_equal(st.clients_live, 2);
		drop_replies(&h, i, 0);
		drop_replies(&h, i, 1);
	}
	lease_wait(&h, LEASE_NS / 2, 201);
	assert_int_equal(cstats(&h, 0).expire_entries, 0); /* not silent for a lease yet */
	lease_wait(&h, LEASE_NS, 201);			   /* 200 silent, 201 alive */
	assert_true(cstats(&h, 0).expire_entries >= 1);
	for (int i = 0; i < 3; i++) {
		struct core_stats st = cstats(&h, i);
		assert_int_equal(st.clients_expired, 1);
		assert_int_equal(st.expire_floor, 200);
		assert_int_equal(st.result_cache, 1); /* 201's */
		assert_int_equal(st.clients_live, 1);
		assert_int_equal(st.expire_skipped, 0);
	}
	/* the late retry of the executed (200, 1): refused, never executed again */
	m = propose(200, 1, a);
	to_all(&h, 1, &m);
	expect(&h, 0, 1, PROTO_REPLY, PROTO_ST_EXPIRED);
	assert_true(h_take(&h, H_R2C, 1, 0, &r));
	assert_int_equal(r.type, PROTO_RECORD_ACK);
	assert_false(r.ok); /* nothing recorded for it */
	struct proto_msg sy = sync_of(200, 1, &a);
	core_on_client(h.cores[0], 1, &sy, h.now);
	expect(&h, 0, 1, PROTO_SYNC_REPLY, PROTO_ST_EXPIRED);
	/* a new command under it, and an id below the floor that never executed anything */
	m = propose(200, 2, b);
	core_on_client(h.cores[0], 1, &m, h.now);
	expect(&h, 0, 1, PROTO_REPLY, PROTO_ST_EXPIRED);
	m = propose(150, 1, b);
	core_on_client(h.cores[0], 1, &m, h.now);
	expect(&h, 0, 1, PROTO_REPLY, PROTO_ST_EXPIRED);
	/* above the floor: served; the live client too */
	m = propose(202, 1, a);
	to_all(&h, 2, &m);
	m = propose(201, 2, a);
	to_all(&h, 3, &m);
	h_drain(&h);
	for (int i = 0; i < 3; i++) {
		struct core_stats st = cstats(&h, i);
		assert_int_equal(st.executed, 4);
		assert_int_equal(st.clients_live, 2);
		assert_int_equal(st.witness_records, 0);
		assert_int_equal(st.digest, cstats(&h, 0).digest);
	}
	assert_int_equal(cstats(&h, 0).expired_refused, 4); /* (and the witness's RECORD_ACK) */
	assert_int_equal(cstats(&h, 1).expired_refused, 1);
	h_free(&h);
}

static struct proto_msg accept_of(uint64_t slot, struct proto_cid cid, struct proto_cmd cmd,
				  uint64_t commit)
{
	struct proto_msg m = {.type = PROTO_ACCEPT,
			      .view = 0,
			      .slot = slot,
			      .cid = cid,
			      .cmd = cmd,
			      .commit = commit};
	return m;
}

/* What an EXPIRE does is decided by the log alone: fed the same entries, both followers skip a
 * client that executed a command after the leader's decision (the entry's summary is older),
 * drop it at the next EXPIRE, refuse at its execution a later command of it (a command ordered
 * from witness records after the expiry) and serve an id above the floor: the same executed
 * commands, records and digest on both. */
static void test_lease_skip_and_refuse_at_execution(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h, 3, 1, 4, 52, lease_cfg);
	uint64_t k1 = 1, k2 = 2;
	uint8_t stale[PROTO_EXPIRE_ITEM], fresh[PROTO_EXPIRE_ITEM];
	proto_expire_put(stale, 300, 0); /* decided before (300, 1) executed: no record then */
	/* after (300, 1): every seq below 2 executed, none above: summary 2 */
	proto_expire_put(fresh, 300, 2);
	struct proto_cmd ex1 = {.op = PROTO_OP_EXPIRE, .val = stale, .vlen = sizeof stale};
	struct proto_cmd ex2 = {.op = PROTO_OP_EXPIRE, .val = fresh, .vlen = sizeof fresh};
	struct proto_msg log[] = {
	    accept_of(0, (struct proto_cid){300, 1}, mk_cmd(PROTO_OP_PUT, &k1, "x"), 0),
	    accept_of(1, (struct proto_cid){0, 0}, ex1, 0),
	    accept_of(2, (struct proto_cid){0, 0}, ex2, 0),
	    accept_of(3, (struct proto_cid){300, 2}, mk_cmd(PROTO_OP_PUT, &k1, "y"), 0),
	    accept_of(4, (struct proto_cid){301, 1}, mk_cmd(PROTO_OP_PUT, &k2, "z"), 5),
	};
	for (int f = 1; f <= 2; f++) {
		for (size_t i = 0; i < sizeof log / sizeof log[0]; i++)
			core_on_peer(h.cores[f], 0, &log[i], h.now);
		struct core_stats st = cstats(&h, f);
		assert_int_equal(st.exec_index, 5);
		assert_int_equal(st.expire_skipped, 1);
		assert_int_equal(st.clients_expired, 1);
		assert_int_equal(st.expire_floor, 300);
		assert_int_equal(st.executed, 2); /* (300, 1) and (301, 1), not (300, 2) */
		assert_int_equal(st.expired_refused, 1);
		assert_int_equal(st.clients_live, 1);
		assert_int_equal(st.result_cache, 1);
	}
	assert_int_equal(core_digest(h.cores[1]), core_digest(h.cores[2]));
	h_free(&h);
}

/* After a view change the new leader's clock starts when it installs the view: a client silent
 * for more than a lease in all, but not for a lease since the install, is not expired (nothing
 * is decided from the old leader's, or a follower's, stale data); a lease after the install it
 * is, at every replica. */
static void test_lease_fresh_clock_after_view_change(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h, 3, 2, 4, 53, lease_cfg);
	uint64_t k = 1;
	struct proto_msg m = propose(200, 1, mk_cmd(PROTO_OP_PUT, &k, "v"));
	to_all(&h, 1, &m);
	h_drain(&h);
	lease_wait(&h, LEASE_NS * 8 / 10, 0);
	h_view_change(&h, 1, 1);
	h_drain(&h);
	assert_true(cstats(&h, 1).view_active);
	lease_wait(&h, LEASE_NS * 6 / 10, 0); /* 1.4 leases since 200 was heard */
	for (int i = 0; i < 3; i++) {
		assert_int_equal(cstats(&h, i).clients_expired, 0);
		assert_int_equal(cstats(&h, i).expire_entries, 0);
	}
	lease_wait(&h, LEASE_NS * 6 / 10, 0); /* 1.2 leases since the install */
	assert_int_equal(cstats(&h, 1).expire_entries, 1);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(cstats(&h, i).clients_expired, 1);
		assert_int_equal(cstats(&h, i).expire_floor, 200);
	}
	h_free(&h);
}

/* While an EXPIRE naming a client is in the log but not executed, the leader orders nothing of
 * it (BUSY), nor of an id the coming floor would cover that executed nothing: a command it
 * answered ok=true could otherwise be refused at its execution. Once the EXPIRE executed, the
 * refusal is final (EXPIRED). */
static void test_lease_pending_busy(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h, 3, 2, 4, 54, lease_cfg);
	uint64_t k = 1;
	struct proto_msg m = propose(200, 1, mk_cmd(PROTO_OP_PUT, &k, "v"));
	to_all(&h, 1, &m);
	h_drain(&h);
	drop_replies(&h, 0, 0);
	/* time passes with the followers' traffic held: the EXPIRE is appended, not committed */
	for (uint64_t t = 0; t < LEASE_NS * 3 / 2 && cstats(&h, 0).expire_entries == 0;
	     t += STEP_NS)
		h_advance(&h, STEP_NS);
	assert_int_equal(cstats(&h, 0).expire_entries, 1);
	assert_int_equal(cstats(&h, 0).clients_expired, 0);
	m = propose(200, 2, mk_cmd(PROTO_OP_PUT, &k, "w"));
	core_on_client(h.cores[0], 1, &m, h.now);
	expect(&h, 0, 1, PROTO_REPLY, PROTO_ST_BUSY);
	m = propose(150, 1, mk_cmd(PROTO_OP_PUT, &k, "w"));
	core_on_client(h.cores[0], 2, &m, h.now);
	expect(&h, 0, 2, PROTO_REPLY, PROTO_ST_BUSY);
	h_drain_peers(&h);
	assert_int_equal(cstats(&h, 0).clients_expired, 1);
	m = propose(200, 2, mk_cmd(PROTO_OP_PUT, &k, "w"));
	core_on_client(h.cores[0], 1, &m, h.now);
	expect(&h, 0, 1, PROTO_REPLY, PROTO_ST_EXPIRED);
	m = propose(150, 1, mk_cmd(PROTO_OP_PUT, &k, "w"));
	core_on_client(h.cores[0], 2, &m, h.now);
	expect(&h, 0, 2, PROTO_REPLY, PROTO_ST_EXPIRED);
	assert_int_equal(cstats(&h, 0).executed, 1);
	h_free(&h);
}

/* Runs the cluster for ns (drained every step). */
static void run_for(struct harness *h, uint64_t ns)
{
	for (uint64_t t = 0; t < ns; t += 20ull * 1000 * 1000) {
		h_drain(h);
		h_advance(h, 20ull * 1000 * 1000);
	}
	h_drain(h);
}

/* Runs until d completed (bounded). */
static void run_until(struct harness *h, const struct done *d)
{
	for (int i = 0; i < 500 && d->n == 0; i++) {
		h_drain(h);
		h_advance(h, 20ull * 1000 * 1000);
	}
	assert_int_equal(d->n, 1);
}

/* The client side: an idle session keeps its lease by keep-alives (never expired), a session
 * silent past its lease (its process stopped) gives up what it waited for and takes a new id
 * before sending anything, and its old id's late retry is refused; a session whose lease is
 * longer than the replicas' (a misconfiguration) gets its command refused SESSION_EXPIRED, not
 * applied, and goes on under a new id. */
static void test_lease_sessions(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h, 3, 2, 4, 55, lease_cfg);
	h.lease_ns = LEASE_NS;
	h_bind(&h, 0, -1);
	h_bind(&h, 1, -1);
	uint64_t k1 = 1, k2 = 2;
	struct proto_cmd put1 = mk_cmd(PROTO_OP_PUT, &k1, "x"),
			 get1 = mk_cmd(PROTO_OP_GET, &k1, NULL);
	struct done d = {0};
	h.paused[1] = true;
	assert_true(session_submit(h.sess[0], &put1, done_cb, &d, h.now) == 1);
	run_until(&h, &d);
	assert_int_equal(d.res, SESSION_OK);
	/* an id is as old as its hand-out, not its first tick: a session stopped before it sent
	 * anything, back after more than half a lease, takes a new id first (it sent under the old
	 * one, below the floor by then: refused EXPIRED, sim curp N=3 seed 429) */
	run_for(&h, LEASE_NS * 6 / 10);
	h.paused[1] = false;
	struct done d0 = {0};
	assert_int_equal(session_submit(h.sess[1], &put1, done_cb, &d0, h.now), -EAGAIN);
	run_for(&h, 4 * LEASE_NS); /* idle: keep-alives */
	struct session_stats ss;
	session_get_stats(h.sess[0], &ss);
	assert_true(ss.keepalives >= 4);
	assert_int_equal(ss.new_ids, 0);
	assert_int_equal(session_client_id(h.sess[0]), 100);
	for (int i = 0; i < 3; i++)
		assert_int_equal(cstats(&h, i).clients_expired, 0);
	/* session 1 never executed anything: a new id every half lease, nothing to expire */
	session_get_stats(h.sess[1], &ss);
	assert_true(ss.new_ids >= 6);

	/* session 0 stopped for two leases: expired at the replicas; back, it renews first */
	h.paused[0] = true;
	run_for(&h, 2 * LEASE_NS);
	for (int i = 0; i < 3; i++)
		assert_int_equal(cstats(&h, i).clients_expired, 1);
	h.paused[0] = false;
	memset(&d, 0, sizeof d);
	/* before its timer ran: it must not send under the old id (it did, first: refused EXPIRED,
	 * sim curp N=3 profile 2 seed 45) */
	assert_int_equal(session_submit(h.sess[0], &get1, done_cb, &d, h.now), -EAGAIN);
	h_advance(&h, 1000); /* the new id comes */
	assert_true(session_client_id(h.sess[0]) > 100);
	assert_true(session_submit(h.sess[0], &get1, done_cb, &d, h.now) == 2);
	run_until(&h, &d);
	assert_int_equal(d.res, SESSION_OK);
	assert_memory_equal(d.val, "x", 1);
	/* the old id's late retry of its PUT: refused, "x" not written again */
	struct proto_msg late = propose(100, 1, mk_cmd(PROTO_OP_PUT, &k1, "x"));
	for (int r = 0; r < 3; r++)
		h_inject(&h, 0, r, &late);
	uint64_t refused = cstats(&h, 0).expired_refused, executed = cstats(&h, 0).executed;
	h_drain(&h);
	assert_int_equal(cstats(&h, 0).expired_refused, refused + 1);
	assert_int_equal(cstats(&h, 0).executed, executed);

	/* stopped with a command pending: given up (outcome unknown), a new id */
	struct proto_cmd put2 = mk_cmd(PROTO_OP_PUT, &k2, "y");
	memset(&d, 0, sizeof d);
	assert_true(session_submit(h.sess[0], &put2, done_cb, &d, h.now) == 3);
	h.paused[0] = true;
	run_for(&h, 2 * LEASE_NS);
	h.paused[0] = false;
	h_advance(&h, 1000);
	assert_int_equal(d.n, 1);
	assert_int_equal(d.res, SESSION_TIMEOUT);
	h_advance(&h, 1000); /* the new id comes */
	session_get_stats(h.sess[0], &ss);
	assert_int_equal(ss.gave_up, 1);
	assert_int_equal(ss.new_ids, 2);

	/* a session whose lease is ten times the replicas': refused EXPIRED, then a new id */
	h.lease_ns = 10 * LEASE_NS;
	h_bind_id(&h, 1, -1, h.next_id++); /* (a new id from the master: above the floor) */
	struct done d1 = {0};
	assert_true(session_submit(h.sess[1], &put2, done_cb, &d1, h.now) == 1);
	run_until(&h, &d1);
	assert_int_equal(d1.res, SESSION_OK);
	run_for(&h, 2 * LEASE_NS); /* no keep-alive before 2.5 leases: expired */
	struct proto_cmd put3 = mk_cmd(PROTO_OP_PUT, &k2, "z");
	memset(&d1, 0, sizeof d1);
	assert_true(session_submit(h.sess[1], &put3, done_cb, &d1, h.now) == 2);
	run_until(&h, &d1);
	assert_int_equal(d1.res, SESSION_EXPIRED);
	session_get_stats(h.sess[1], &ss);
	assert_int_equal(ss.expired, 1);
	memset(&d1, 0, sizeof d1);
	for (int i = 0; i < 10 && session_renewing(h.sess[1]); i++)
		h_advance(&h, 1000);
	assert_true(session_submit(h.sess[1], &put3, done_cb, &d1, h.now) == 3);
	run_until(&h, &d1);
	assert_int_equal(d1.res, SESSION_OK);
	memset(&d, 0, sizeof d);
	struct proto_cmd get2 = mk_cmd(PROTO_OP_GET, &k2, NULL);
	for (int i = 0; i < 10 && session_renewing(h.sess[0]); i++)
		h_advance(&h, 1000);
	assert_true(session_submit(h.sess[0], &get2, done_cb, &d, h.now) > 0);
	run_until(&h, &d);
	assert_int_equal(d.res, SESSION_OK);
	assert_memory_equal(d.val, "z", 1); /* applied once, under the new id */
	h_free(&h);
}

static void ho_lease_cfg(struct core_config *cfg)
{
	cfg->protocol = CONF_PROTO_CURPHO;
	cfg->lease_ns = LEASE_NS;
}

/* A session that hears nothing from its leader for 3/4 of a lease gives up what could execute
 * under its id (a strong command: SESSION_TIMEOUT), but not a weak read, which an expired id
 * does not endanger: it completes once its replica is back, and only then does the session take
 * a new id, for good (a keep-alive answered meanwhile brought the id back, first; the leader
 * had expired it: the next PUT was refused EXPIRED). (It gave up weak reads too, first: a curpho
 * session's weak GET, held up by a restarting bound replica and a view change, ended
 * SESSION_TIMEOUT: sim curpho N=3 seed 834.) A leader that did not run for a while (here:
 * down) restarts its clock, rather than expire clients whose messages may wait for it. */
static void test_lease_weak_read_outlives_give_up(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h, 3, 1, 4, 56, ho_lease_cfg);
	h.lease_ns = LEASE_NS;
	h_bind(&h, 0, 1); /* bound to replica 1 */
	uint64_t k = 1;
	struct proto_cmd put = mk_cmd(PROTO_OP_PUT, &k, "v"), get = mk_cmd(PROTO_OP_GET, &k, NULL);
	struct done w = {0}, rd = {0}, st = {0};
	assert_true(session_submit(h.sess[0], &put, done_cb, &w, h.now) == 1);
	run_until(&h, &w);
	assert_int_equal(w.res, SESSION_OK);
	h_crash(&h, 0); /* the leader and the bound replica: nothing answers */
	h_crash(&h, 1);
	assert_true(session_submit_weak(h.sess[0], &get, done_cb, &rd, h.now) == 2);
	assert_true(session_submit(h.sess[0], &put, done_cb, &st, h.now) == 3);
	run_for(&h, LEASE_NS * 8 / 10);
	assert_int_equal(st.n, 1);
	assert_int_equal(st.res, SESSION_TIMEOUT); /* given up */
	assert_int_equal(rd.n, 0);		   /* still waiting */
	assert_true(session_renewing(h.sess[0]));
	h_restart(&h, 0);
	h_restart(&h, 1);
	run_until(&h, &rd);
	assert_int_equal(rd.res, SESSION_OK);
	assert_memory_equal(rd.val, "v", 1);
	/* then it goes on under a new id, even though the leader answered its keep-alives again
	 * (the leader may have decided its EXPIRE before they reached it) */
	for (int i = 0; i < 10 && session_renewing(h.sess[0]); i++)
		h_advance(&h, 1000);
	assert_false(session_renewing(h.sess[0]));
	assert_true(session_client_id(h.sess[0]) > 100);
	memset(&w, 0, sizeof w);
	assert_true(session_submit(h.sess[0], &put, done_cb, &w, h.now) > 0);
	run_until(&h, &w);
	assert_int_equal(w.res, SESSION_OK);
	struct session_stats ss;
	session_get_stats(h.sess[0], &ss);
	assert_int_equal(ss.gave_up, 1);
	h_free(&h);
}

/* A leader that did not run for longer than an eighth of a lease (a stopped or starved process:
 * here h_crash, which keeps its state) starts its clock again: the keep-alives of its clients
 * may wait in its connections, so it expires no one for a lease after it runs again. */
static void test_lease_clock_restarts_after_a_gap(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h, 3, 1, 4, 57, lease_cfg);
	uint64_t k = 1;
	struct proto_msg m = propose(200, 1, mk_cmd(PROTO_OP_PUT, &k, "v"));
	to_all(&h, 1, &m);
	h_drain(&h);
	h_crash(&h, 0);
	lease_wait(&h, LEASE_NS * 3 / 2, 0);
	h_restart(&h, 0);
	lease_wait(&h, LEASE_NS * 8 / 10, 0);
	assert_int_equal(cstats(&h, 0).expire_entries, 0);
	lease_wait(&h, LEASE_NS * 4 / 10, 0);
	assert_int_equal(cstats(&h, 0).expire_entries, 1);
	assert_int_equal(cstats(&h, 1).clients_expired, 1);
	h_free(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_quorums),
	    cmocka_unit_test(test_leader_overlay_never_stale),
	    cmocka_unit_test(test_leader_ok_rule),
	    cmocka_unit_test(test_leader_dedup),
	    cmocka_unit_test(test_leader_watermark),
	    cmocka_unit_test(test_cid_reused_strong),
	    cmocka_unit_test(test_cid_reused_weak),
	    cmocka_unit_test(test_cid_reused_session),
	    cmocka_unit_test(test_leader_backpressure),
	    cmocka_unit_test(test_entry_bytes_ring_growth),
	    cmocka_unit_test(test_witness_conflicts),
	    cmocka_unit_test(test_witness_gc_on_execute),
	    cmocka_unit_test(test_witness_bounded),
	    cmocka_unit_test(test_stale_view_refused),
	    cmocka_unit_test(test_follower_exec_in_order),
	    cmocka_unit_test(test_client_fast_needs_superquorum),
	    cmocka_unit_test(test_client_slow_path),
	    cmocka_unit_test(test_client_tick_stale_now),
	    cmocka_unit_test(test_view_change_replays_fast_path),
	    cmocka_unit_test(test_view_change_all_decisions),
	    cmocka_unit_test(test_client_retry_then_timeout),
	    cmocka_unit_test(test_client_ok_before_resend),
	    cmocka_unit_test(test_client_per_command_state),
	    cmocka_unit_test(test_cluster3_disjoint_keys),
	    cmocka_unit_test(test_cluster5_pipelined),
	    cmocka_unit_test(test_cluster3_shared_keys),
	    cmocka_unit_test(test_ho_witness_deps),
	    cmocka_unit_test(test_ho_resent_get_keeps_read_dep),
	    cmocka_unit_test(test_ho_get_one_candidate_read),
	    cmocka_unit_test(test_ho_leader_value_includes_weak),
	    cmocka_unit_test(test_ho_session_order),
	    cmocka_unit_test(test_ho_client_causal_deps_check),
	    cmocka_unit_test(test_ho_client_read_dep_check),
	    cmocka_unit_test(test_weak_read_rules),
	    cmocka_unit_test(test_weak_read_waits_for_own_writes),
	    cmocka_unit_test(test_weak_read_waits_for_install),
	    cmocka_unit_test(test_ht_cache_eviction_in_flight_read),
	    cmocka_unit_test(test_bind_pick),
	    cmocka_unit_test(test_bind_missed_probe),
	    cmocka_unit_test(test_ho_rebind_covers_own_writes),
	    cmocka_unit_test(test_scan_curp),
	    cmocka_unit_test(test_scan_curpho),
	    cmocka_unit_test(test_scan_curpht),
	    cmocka_unit_test(test_scan_bounded_and_own_writes),
	    cmocka_unit_test(test_lease_expire_refuse),
	    cmocka_unit_test(test_lease_skip_and_refuse_at_execution),
	    cmocka_unit_test(test_lease_fresh_clock_after_view_change),
	    cmocka_unit_test(test_lease_pending_busy),
	    cmocka_unit_test(test_lease_sessions),
	    cmocka_unit_test(test_lease_weak_read_outlives_give_up),
	    cmocka_unit_test(test_lease_clock_restarts_after_a_gap),
	    cmocka_unit_test(test_commit_shares_send),
	    cmocka_unit_test(test_append_result),
	    cmocka_unit_test(test_incr_exec),
	    cmocka_unit_test(test_incr_get_behind),
	    cmocka_unit_test(test_incr_curp_only),
	    cmocka_unit_test(test_getdel_exec),
	    cmocka_unit_test(test_setx_exec),
	    cmocka_unit_test(test_setx_max_value),
	    cmocka_unit_test(test_getdel_setx_durable),
	    cmocka_unit_test(test_getdel_setx_curp_only),
	};
	return cmocka_run_group_tests_name("core", tests, NULL, NULL);
}
