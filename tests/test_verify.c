/* Tests of the history checkers (linearizability, causal, appends exactly once) on hand-made
 * legal and illegal histories. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/proto.h"
#include "tests/failalloc.h"
#include "verify/verify.h"

/* Adds one operation: kind "put"/"get"/"del"/"append", val = written value or read result
 * (NULL = null). */
static void add(struct verify_history *h, int session, const char *kind, const char *key,
		const char *val, uint64_t inv, uint64_t cmp, const char *status)
{
	static uint64_t seq = 1;
	char line[512];
	const bool put = !strcmp(kind, "put") || !strcmp(kind, "append"),
		   get = !strcmp(kind, "get");
	char result[128] = "\"\"";
	if (get && val)
		snprintf(result, sizeof result, "\"%s\"", val);
	else if (get)
		snprintf(result, sizeof result, "null");
	snprintf(line, sizeof line,
		 "{\"session\":%d,\"seq\":%llu,\"op\":\"%s\",\"cons\":\"strong\",\"key\":\"%s\","
		 "\"value\":\"%s\",\"result\":%s,\"invoke_ns\":%llu,\"complete_ns\":%llu,"
		 "\"status\":\"%s\"}",
		 session, (unsigned long long)seq++, kind, key, put ? val : "", result,
		 (unsigned long long)inv, (unsigned long long)cmp, status);
	struct verify_op op;
	assert_int_equal(verify_parse_line(line, &op), 0);
	assert_int_equal(verify_add(h, &op), 0);
}

/* A weak write (kind "put"/"del") or weak read ("get"), with the load generator's ordered_ns
 * (0: the field is left out, as when the session never learned the slot). */
static void add_weak(struct verify_history *h, int session, const char *kind, const char *key,
		     const char *val, uint64_t inv, uint64_t cmp, uint64_t ordered)
{
	static uint64_t seq = 1;
	char line[512], result[128] = "\"\"", ord[48] = "";
	const bool get = !strcmp(kind, "get");
	if (get)
		snprintf(result, sizeof result, val ? "\"%s\"" : "null", val);
	if (ordered)
		snprintf(ord, sizeof ord, ",\"ordered_ns\":%llu", (unsigned long long)ordered);
	snprintf(line, sizeof line,
		 "{\"session\":%d,\"seq\":%llu,\"op\":\"%s\",\"cons\":\"weak\",\"key\":\"%s\","
		 "\"value\":\"%s\",\"result\":%s,\"invoke_ns\":%llu,\"complete_ns\":%llu,"
		 "\"status\":\"ok\"%s}",
		 session, (unsigned long long)seq++, kind, key, !get && val ? val : "", result,
		 (unsigned long long)inv, (unsigned long long)cmp, ord);
	struct verify_op op;
	assert_int_equal(verify_parse_line(line, &op), 0);
	assert_int_equal(op.ordered_ns, ordered);
	assert_int_equal(verify_add(h, &op), 0);
}

static enum verify_status check(struct verify_history *h, struct verify_result *r)
{
	enum verify_status st = verify_linearizable(h, 1000000, r);
	verify_free(h);
	return st;
}

static void test_sequential_legal(void **state)
{
	(void)state;
	struct verify_history h = {0};
	struct verify_result r;
	add(&h, 1, "get", "k1", NULL, 10, 20, "ok"); /* missing before any put */
	add(&h, 1, "put", "k1", "aa", 30, 40, "ok");
	add(&h, 2, "get", "k1", "aa", 50, 60, "ok");
	add(&h, 2, "del", "k1", NULL, 70, 80, "ok");
	add(&h, 1, "get", "k1", NULL, 90, 100, "ok");
	add(&h, 1, "put", "k2", "bb", 10, 20, "ok"); /* another key */
	assert_int_equal(check(&h, &r), VERIFY_OK);
	assert_int_equal(r.keys, 2);
	assert_int_equal(r.keys_ok, 2);
	assert_int_equal(r.ops_checked, 6);
}

/* A read after a completed write that returns the older value: the anchor's stale reads. */
static void test_stale_read_violation(void **state)
{
	(void)state;
	struct verify_history h = {0};
	struct verify_result r;
	add(&h, 1, "put", "k", "01", 10, 20, "ok");
	add(&h, 1, "put", "k", "02", 30, 40, "ok");
	add(&h, 2, "get", "k", "01", 50, 60, "ok");
	assert_int_equal(check(&h, &r), VERIFY_FAIL);
	assert_int_equal(r.keys_violated, 1);
	assert_non_null(strstr(r.first_violation, "key k"));
}

/* Concurrent write and reads: either value is fine, but reads cannot go back in time. */
static void test_concurrency(void **state)
{
	(void)state;
	struct verify_history h = {0};
	struct verify_result r;
	add(&h, 1, "put", "k", "01", 0, 5, "ok");
	add(&h, 1, "put", "k", "02", 10, 100, "ok"); /* long write */
	add(&h, 2, "get", "k", "02", 20, 30, "ok");  /* sees the new value early: fine */
	add(&h, 3, "get", "k", "01", 15, 25, "ok");  /* overlaps the first read: fine */
	assert_int_equal(check(&h, &r), VERIFY_OK);

	struct verify_history h2 = {0};
	add(&h2, 1, "put", "k", "01", 0, 5, "ok");
	add(&h2, 1, "put", "k", "02", 10, 100, "ok");
	add(&h2, 2, "get", "k", "02", 20, 30, "ok");
	add(&h2, 3, "get", "k", "01", 40, 50, "ok"); /* after a read saw 02: goes back */
	assert_int_equal(check(&h2, &r), VERIFY_FAIL);
}

/* Found in CI: a read overlapping a write may return the old value. The memo fingerprints of
 * ({get}, missing) and ({get, put}, written) once collided (a hash weakness, fixed). */
static void test_overlap_regression(void **state)
{
	(void)state;
	struct verify_history h = {0};
	struct verify_result r;
	add(&h, 1, "put", "d803000000000000", "73", 7118820692070, 7118822511622, "ok");
	add(&h, 0, "get", "d803000000000000", NULL, 7118821155494, 7118822618245, "ok");
	assert_int_equal(check(&h, &r), VERIFY_OK);
}

static void test_value_never_written(void **state)
{
	(void)state;
	struct verify_history h = {0};
	struct verify_result r;
	add(&h, 1, "put", "k", "01", 0, 5, "ok");
	add(&h, 2, "get", "k", "ff", 10, 20, "ok");
	assert_int_equal(check(&h, &r), VERIFY_FAIL);
	assert_int_equal(r.values_never_written, 1);
}

/* Unknown operations may take effect after their invocation, or never; failed ones never do. */
static void test_unknown_and_failed(void **state)
{
	(void)state;
	struct verify_history h = {0};
	struct verify_result r;
	add(&h, 1, "put", "k", "01", 0, 5, "ok");
	add(&h, 1, "put", "k", "02", 10, 0, "unknown");
	add(&h, 2, "get", "k", "02", 50, 60, "ok"); /* the unknown write took effect */
	add(&h, 1, "put", "k2", "03", 10, 0, "unknown");
	add(&h, 2, "get", "k2", NULL, 50, 60, "ok"); /* this one did not (yet) */
	assert_int_equal(check(&h, &r), VERIFY_OK);

	struct verify_history h2 = {0};
	add(&h2, 1, "put", "k", "01", 0, 5, "ok");
	add(&h2, 1, "put", "k", "02", 10, 20, "fail");
	add(&h2, 2, "get", "k", "02", 50, 60, "ok"); /* a failed write was observed */
	assert_int_equal(check(&h2, &r), VERIFY_FAIL);

	struct verify_history h3 = {0};
	add(&h3, 1, "put", "k", "02", 100, 0, "unknown");
	add(&h3, 2, "get", "k", "02", 10, 50, "ok"); /* read before the write was invoked */
	assert_int_equal(check(&h3, &r), VERIFY_FAIL);
}

/* Lost acknowledged write: a completed put that a later read does not see. */
static void test_lost_write(void **state)
{
	(void)state;
	struct verify_history h = {0};
	struct verify_result r;
	add(&h, 1, "put", "k", "01", 0, 5, "ok");
	add(&h, 2, "get", "k", NULL, 10, 20, "ok");
	assert_int_equal(check(&h, &r), VERIFY_FAIL);
}

/* Writes text to a new temporary file; its path goes to path (at least 32 bytes). */
static void temp_history(char *path, const char *text)
{
	snprintf(path, 32, "/tmp/curpkv-vh.XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	FILE *f = fdopen(fd, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

/* Two histories checked as one (`curpkv check-history A B`, a run before a whole-cluster crash
 * and a reading run after the restart): a write acknowledged in A, then a read in B (the same
 * session id, another process) that returns the older value must fail; returning the write
 * passes. Lines are numbered across the files and B's sessions are offset. */
static void test_load_several(void **state)
{
	(void)state;
	char a[32], b_old[32], b_new[32];
	temp_history(a, "{\"session\":0,\"seq\":1,\"op\":\"put\",\"cons\":\"strong\",\"key\":"
			"\"01\",\"value\":\"aa\",\"result\":\"\",\"invoke_ns\":10,\"complete_ns\""
			":20,\"status\":\"ok\"}\n"
			"{\"session\":1,\"seq\":2,\"op\":\"put\",\"cons\":\"strong\",\"key\":"
			"\"01\",\"value\":\"bb\",\"result\":\"\",\"invoke_ns\":30,\"complete_ns\""
			":40,\"status\":\"ok\"}\n");
#define READ_LINE(v)                                                                               \
	"{\"session\":0,\"seq\":1,\"op\":\"get\",\"cons\":\"strong\",\"key\":\"01\",\"value\":"    \
	"\"\",\"result\":\"" v "\",\"invoke_ns\":50,\"complete_ns\":60,\"status\":\"ok\"}\n"
	temp_history(b_old, READ_LINE("aa"));
	temp_history(b_new, READ_LINE("bb"));
#undef READ_LINE
	for (int pass = 0; pass < 2; pass++) {
		struct verify_history h = {0};
		struct verify_result r;
		int lines = 0, bad = 0;
		assert_int_equal(verify_load_more(a, &h, 0, 0, &lines, &bad), 0);
		assert_int_equal(lines, 2);
		assert_int_equal(verify_load_more(pass ? b_new : b_old, &h, lines,
						  VERIFY_FILE_SESSIONS, &lines, &bad),
				 0);
		assert_int_equal(lines, 1);
		assert_int_equal(h.n, 3);
		assert_int_equal(h.ops[2].line, 3);
		assert_true(h.ops[2].session == VERIFY_FILE_SESSIONS);
		assert_int_equal(h.ops[0].session, 0);
		/* the old value: bb was acknowledged before the read was invoked */
		assert_int_equal(check(&h, &r), pass ? VERIFY_OK : VERIFY_FAIL);
	}
	/* A alone is legal: only with B does it show the loss */
	struct verify_history h = {0};
	struct verify_result r;
	int bad = 0;
	assert_int_equal(verify_load(a, &h, &bad), 0);
	assert_int_equal(check(&h, &r), VERIFY_OK);
	/* a session id that offsetting could make equal to another file's: refused */
	assert_int_equal(verify_load_more(a, &h, 0, 1, NULL, &bad), -ERANGE);
	assert_int_equal(bad, 2);
	verify_free(&h);
	unlink(a);
	unlink(b_old);
	unlink(b_new);
}

/* Many overlapping operations with a tiny budget: unknown, never a violation. */
static void test_budget_unknown(void **state)
{
	(void)state;
	struct verify_history h = {0};
	struct verify_result r;
	char v[8];
	for (int i = 0; i < 40; i++) {
		snprintf(v, sizeof v, "%02x", i);
		add(&h, i, "put", "k", v, 0, 1000, "ok");
	}
	add(&h, 99, "get", "k", "00", 0, 1000, "ok");
	assert_int_equal(verify_linearizable(&h, 10, &r), VERIFY_UNKNOWN);
	assert_int_equal(r.keys_unknown, 1);
	assert_int_equal(r.keys_violated, 0);
	verify_free(&h);
	/* 12 concurrent writes and a read: decidable within a normal budget */
	struct verify_history h2 = {0};
	for (int i = 0; i < 12; i++) {
		snprintf(v, sizeof v, "%02x", i);
		add(&h2, i, "put", "k", v, 0, 1000, "ok");
	}
	add(&h2, 99, "get", "k", "07", 0, 1000, "ok");
	assert_int_equal(verify_linearizable(&h2, 10000000, &r), VERIFY_OK);
	verify_free(&h2);
}

static void test_parse_errors(void **state)
{
	(void)state;
	struct verify_op op;
	assert_int_equal(verify_parse_line("{}", &op), -EINVAL);
	assert_int_equal(verify_parse_line("{\"session\":1,\"seq\":1,\"op\":\"nope\"}", &op),
			 -EINVAL);
	/* a scan is recognised and skipped, not an error (and not an operation of a key) */
	assert_int_equal(
	    verify_parse_line("{\"session\":1,\"seq\":2,\"op\":\"scan\",\"cons\":\"weak\","
			      "\"count\":3,\"key\":\"aa\",\"value\":\"\",\"result\":\"\","
			      "\"invoke_ns\":1,\"complete_ns\":2,\"status\":\"ok\"}",
			      &op),
	    VERIFY_SKIP_SCAN);
	assert_null(op.key);
	assert_int_equal(
	    verify_parse_line(
		"{\"session\":1,\"seq\":1,\"op\":\"get\",\"cons\":\"strong\","
		"\"key\":\"aa\",\"invoke_ns\":1,\"complete_ns\":2,\"status\":\"maybe\"}",
		&op),
	    -EINVAL);
}

/* Weak writes take part in the search, taking effect between their invocation and ordered_ns
 * (the load generator's histories of curpho/curpht: a strong read may return a weak write's
 * value); weak reads do not. */
static void test_weak_writes(void **state)
{
	(void)state;
	struct verify_history h = {0};
	struct verify_result r;
	/* completed at 12 (curpho: recorded at one replica), ordered at 30 */
	add_weak(&h, 1, "put", "k", "aa", 10, 12, 30);
	add(&h, 2, "get", "k", NULL, 14, 20, "ok"); /* before it was ordered: legal */
	add(&h, 2, "get", "k", "aa", 22, 25, "ok");
	add_weak(&h, 3, "get", "k", NULL, 40, 45, 0); /* a lagging weak read: not this check's */
	assert_int_equal(check(&h, &r), VERIFY_OK);
	assert_int_equal(r.ops_checked, 3);
	assert_int_equal(r.values_never_written, 0);

	/* a strong read invoked after the slot was learned must see the write */
	add_weak(&h, 1, "put", "k", "aa", 10, 12, 30);
	add(&h, 2, "get", "k", NULL, 40, 50, "ok");
	assert_int_equal(check(&h, &r), VERIFY_FAIL);
	assert_int_equal(r.keys_violated, 1);

	/* never ordered: it may take effect at any time after its invocation, or never */
	add_weak(&h, 1, "put", "k", "aa", 10, 12, 0);
	add(&h, 2, "get", "k", NULL, 40, 50, "ok");
	add(&h, 2, "get", "k", "aa", 60, 70, "ok");
	assert_int_equal(check(&h, &r), VERIFY_OK);
	/* ...but not before it: a read completed before its invocation cannot return it */
	add_weak(&h, 1, "put", "k", "aa", 100, 112, 0);
	add(&h, 2, "get", "k", "aa", 40, 50, "ok");
	assert_int_equal(check(&h, &r), VERIFY_FAIL);

	/* a weak delete ordered at 30 hides an earlier strong put from later strong reads */
	add(&h, 1, "put", "k", "bb", 0, 5, "ok");
	add_weak(&h, 1, "del", "k", NULL, 10, 12, 30);
	add(&h, 2, "get", "k", "bb", 40, 50, "ok");
	assert_int_equal(check(&h, &r), VERIFY_FAIL);
}

/* ---- causal consistency ------------------------------------------------------------------ */

static enum verify_status causal(struct verify_history *h, struct verify_causal_result *r)
{
	enum verify_status st = verify_causal(h, r);
	verify_causal_print(stdout, r);
	verify_free(h);
	return st;
}

/* Weak reads may lag (a stale value is causally fine when nothing in the reader's past
 * overwrote it), and concurrent writes may be seen in either order by different sessions. */
static void test_causal_legal(void **state)
{
	(void)state;
	struct verify_history h = {0};
	struct verify_causal_result r;
	add(&h, 1, "put", "k1", "a1", 10, 20, "ok");
	add(&h, 2, "put", "k1", "b1", 10, 20, "ok"); /* concurrent with a1 */
	add(&h, 3, "get", "k1", "a1", 30, 40, "ok");
	add(&h, 3, "get", "k1", "b1", 50, 60, "ok");
	add(&h, 4, "get", "k1", "b1", 30, 40, "ok"); /* session 4 sees them the other way */
	add(&h, 4, "get", "k1", "a1", 50, 60, "ok");
	add(&h, 5, "get", "k1", NULL, 100, 110, "ok"); /* lagging: nothing in its past */
	add(&h, 1, "put", "k2", "a2", 30, 40, "ok");
	add(&h, 1, "get", "k2", "a2", 50, 60, "ok"); /* read-your-writes */
	add(&h, 1, "del", "k2", NULL, 70, 80, "ok");
	add(&h, 1, "get", "k2", NULL, 90, 100, "ok");
	assert_int_equal(causal(&h, &r), VERIFY_OK);
	assert_int_equal(r.violations, 0);
	assert_int_equal(r.ops_checked, 11);
	assert_int_equal(r.sessions, 5);
}

/* Read-your-writes: the session's own later write, then its older value. */
static void test_causal_ryw(void **state)
{
	(void)state;
	struct verify_history h = {0};
	struct verify_causal_result r;
	add(&h, 1, "put", "k", "v1", 10, 20, "ok");
	add(&h, 1, "put", "k", "v2", 30, 40, "ok");
	add(&h, 1, "get", "k", "v1", 50, 60, "ok");
	assert_int_equal(causal(&h, &r), VERIFY_FAIL);
	assert_non_null(strstr(r.first_violation, "(session 1 seq"));
	/* and nothing after its own put, with no delete anywhere */
	add(&h, 1, "put", "k", "v3", 10, 20, "ok");
	add(&h, 1, "get", "k", NULL, 30, 40, "ok");
	assert_int_equal(causal(&h, &r), VERIFY_FAIL);
	/* ...which another session's delete (not before the put) explains */
	add(&h, 1, "put", "k", "v4", 10, 20, "ok");
	add(&h, 2, "del", "k", NULL, 10, 20, "ok");
	add(&h, 1, "get", "k", NULL, 30, 40, "ok");
	assert_int_equal(causal(&h, &r), VERIFY_OK);
}

/* Monotonic reads: after seeing w2, which followed w1 in its writer's session, seeing w1. */
static void test_causal_monotonic_reads(void **state)
{
	(void)state;
	struct verify_history h = {0};
	struct verify_causal_result r;
	add(&h, 1, "put", "k", "w1", 10, 20, "ok");
	add(&h, 1, "put", "k", "w2", 30, 40, "ok");
	add(&h, 2, "get", "k", "w2", 50, 60, "ok");
	add(&h, 2, "get", "k", "w1", 70, 80, "ok");
	assert_int_equal(causal(&h, &r), VERIFY_FAIL);
}

/* Writes-follow-reads, across keys: session 2 read x=x1 and then wrote y=y1; session 3 read
 * y1 and then an x older than x1 (x0, which x1's session wrote first). */
static void test_causal_writes_follow_reads(void **state)
{
	(void)state;
	struct verify_history h = {0};
	struct verify_causal_result r;
	add(&h, 1, "put", "x", "x0", 10, 20, "ok");
	add(&h, 1, "put", "x", "x1", 30, 40, "ok");
	add(&h, 2, "get", "x", "x1", 50, 60, "ok");
	add(&h, 2, "put", "y", "y1", 70, 80, "ok");
	add(&h, 3, "get", "y", "y1", 90, 100, "ok");
	add(&h, 3, "get", "x", "x0", 110, 120, "ok");
	assert_int_equal(causal(&h, &r), VERIFY_FAIL);
	/* the same without the read of x by session 2: legal (no causal path from x1 to y1) */
	add(&h, 1, "put", "x", "x0", 10, 20, "ok");
	add(&h, 1, "put", "x", "x1", 30, 40, "ok");
	add(&h, 2, "put", "y", "y1", 70, 80, "ok");
	add(&h, 3, "get", "y", "y1", 90, 100, "ok");
	add(&h, 3, "get", "x", "x0", 110, 120, "ok");
	assert_int_equal(causal(&h, &r), VERIFY_OK);
}

/* --causal-per-key (curpht): session guarantees per key, not causality across keys. Session 1
 * wrote x then y; session 2 read y1, then nothing for x: a causal violation across keys (x1 is
 * in its causal past), fine for each key alone; a per-key violation stays one. */
static void test_causal_per_key(void **state)
{
	(void)state;
	struct verify_history h = {0};
	struct verify_causal_result r;
	for (int per_key = 0; per_key < 2; per_key++) {
		add(&h, 1, "put", "x", "x1", 10, 20, "ok");
		add(&h, 1, "put", "y", "y1", 30, 40, "ok");
		add(&h, 2, "get", "y", "y1", 50, 60, "ok");
		add(&h, 2, "get", "x", NULL, 70, 80, "ok");
		enum verify_status st =
		    per_key ? verify_causal_per_key(&h, &r) : verify_causal(&h, &r);
		verify_causal_print(stdout, &r);
		verify_free(&h);
		assert_int_equal(st, per_key ? VERIFY_OK : VERIFY_FAIL);
		assert_int_equal(r.keys, per_key ? 2 : 0);
		assert_int_equal(r.ops_checked, 4);
	}
	add(&h, 1, "put", "x", "x1", 10, 20, "ok");
	add(&h, 1, "put", "x", "x2", 30, 40, "ok");
	add(&h, 1, "put", "y", "y1", 30, 40, "ok");
	add(&h, 1, "get", "x", "x1", 50, 60, "ok"); /* read-your-writes broken on x */
	assert_int_equal(verify_causal_per_key(&h, &r), VERIFY_FAIL);
	assert_int_equal(r.violations, 1);
	assert_non_null(strstr(r.first_violation, "(session 1 seq"));
	verify_free(&h);
}

/* A cycle (a read returns a write that came after it in its own session), a value never
 * written, a failed write observed, and overlapping operations of a session (not checked). */
static void test_causal_other(void **state)
{
	(void)state;
	struct verify_history h = {0};
	struct verify_causal_result r;
	add(&h, 1, "get", "k", "late", 10, 20, "ok");
	add(&h, 1, "put", "k", "late", 30, 40, "ok");
	assert_int_equal(causal(&h, &r), VERIFY_FAIL);
	assert_non_null(strstr(r.first_violation, "cyclic"));
	add(&h, 1, "get", "k", "ghost", 10, 20, "ok");
	assert_int_equal(causal(&h, &r), VERIFY_FAIL);
	add(&h, 1, "put", "k", "failed", 10, 20, "fail");
	add(&h, 2, "get", "k", "failed", 30, 40, "ok");
	assert_int_equal(causal(&h, &r), VERIFY_FAIL);
	add(&h, 1, "put", "k", "p1", 10, 30, "ok");
	add(&h, 1, "get", "k", "p1", 20, 40, "ok"); /* overlaps the put */
	assert_int_equal(causal(&h, &r), VERIFY_UNKNOWN);
	assert_true(r.unsupported);
}

/* Out of memory at every allocation in turn: the checkers answer "not checked: out of memory"
 * and free every block they allocated. 600 sessions, so that the tables of dense ids grow while
 * the sessions are numbered (until 2026-12 a session's id string, strdup'ed before it went into
 * its table, was leaked when the insertion failed). */
static void test_causal_out_of_memory(void **state)
{
	(void)state;
	struct verify_history h = {0};
	enum { SESSIONS = 600 };
	char key[16], val[16];
	for (int s = 1; s <= SESSIONS; s++) {
		snprintf(key, sizeof key, "k%d", s % 7);
		snprintf(val, sizeof val, "v%d", s);
		add(&h, s, "put", key, val, 10, 20, "ok");
		add(&h, s, "get", key, val, 30, 40, "ok");
		add(&h, s, "del", key, NULL, 50, 60, "ok");
	}
	for (int per_key = 0; per_key < 2; per_key++) {
		struct verify_causal_result r;
		const int64_t live = failalloc_live();
		long fired = 0;
		for (uint64_t k = 1;; k++) {
			failalloc_nth(k);
			enum verify_status st =
			    per_key ? verify_causal_per_key(&h, &r) : verify_causal(&h, &r);
			bool failed = failalloc_failed() > 0;
			failalloc_off();
			assert_int_equal(failalloc_live(), live); /* nothing leaked, on any path */
			if (!failed) {
				/* fewer than k allocations: the check ran to its end */
				assert_int_equal(st, VERIFY_OK);
				assert_int_equal(r.ops_checked, 3 * SESSIONS);
				break;
			}
			fired++;
			assert_int_equal(st, VERIFY_UNKNOWN);
			assert_true(r.unsupported);
			assert_non_null(strstr(r.first_violation, "out of memory"));
		}
		print_message("# causal%s: %ld allocations failed in turn\n",
			      per_key ? " per key" : "", fired);
		assert_true(fired >= 5);
	}
	verify_free(&h);
}

/* ---- appends (exactly once) ---- */

static enum verify_status appends(struct verify_history *h, struct verify_append_result *r)
{
	enum verify_status st = verify_appends(h, r);
	verify_free(h);
	return st;
}

static void test_append_legal(void **state)
{
	(void)state;
	struct verify_history h = {0};
	struct verify_append_result r;
	add(&h, 1, "get", "k", NULL, 1, 2, "ok"); /* missing: the empty list */
	add(&h, 1, "append", "k", "a1", 10, 20, "ok");
	add(&h, 2, "get", "k", "a1", 25, 30, "ok");
	add(&h, 1, "append", "k", "a2", 40, 60, "ok");
	add(&h, 2, "get", "k", "a1", 45, 50, "ok");	   /* concurrent with a2: either */
	add(&h, 3, "append", "k", "a3", 41, 0, "unknown"); /* may apply, anywhere after 41 */
	add(&h, 3, "append", "k", "a4", 42, 43, "fail");   /* never applies */
	add(&h, 2, "get", "k", "a1a3a2", 70, 80, "ok");
	add(&h, 1, "append", "k", "a5", 90, 0, "unknown"); /* never seen: fine */
	add(&h, 1, "put", "other", "zz", 1, 2, "ok");	   /* a register key: not ours */
	assert_int_equal(appends(&h, &r), VERIFY_OK);
	assert_int_equal(r.keys, 1);
	assert_int_equal(r.keys_ok, 1);
	assert_int_equal(r.appends, 5);
	assert_int_equal(r.reads, 4);
	assert_int_equal(r.elements, 5);
	/* no appends at all */
	add(&h, 1, "put", "k", "01", 10, 20, "ok");
	assert_int_equal(appends(&h, &r), VERIFY_OK);
	assert_int_equal(r.keys, 0);
}

/* A retried append executed twice: its element appears twice. */
static void test_append_twice(void **state)
{
	(void)state;
	struct verify_history h = {0};
	struct verify_append_result r;
	add(&h, 1, "append", "k", "a1", 10, 20, "ok");
	add(&h, 1, "append", "k", "a2", 30, 40, "ok");
	add(&h, 2, "get", "k", "a1a2a1", 50, 60, "ok");
	assert_int_equal(appends(&h, &r), VERIFY_FAIL);
	assert_int_equal(r.duplicates, 1);
	assert_int_equal(r.keys_violated, 1);
	assert_non_null(strstr(r.first_violation, "executed twice"));
}

/* An acknowledged append missing from a later read. */
static void test_append_lost(void **state)
{
	(void)state;
	struct verify_history h = {0};
	struct verify_append_result r;
	add(&h, 1, "append", "k", "a1", 10, 20, "ok");
	add(&h, 1, "append", "k", "a2", 30, 40, "ok");
	add(&h, 2, "get", "k", "a2", 50, 60, "ok");
	assert_int_equal(appends(&h, &r), VERIFY_FAIL);
	assert_int_equal(r.lost, 1);
	assert_non_null(strstr(r.first_violation, "lost"));
	/* the read is empty */
	add(&h, 1, "append", "k", "a1", 10, 20, "ok");
	add(&h, 2, "get", "k", NULL, 30, 40, "ok");
	assert_int_equal(appends(&h, &r), VERIFY_FAIL);
	assert_int_equal(r.lost, 1);
}

/* Elements nobody appended, of a failed append, or not a list. */
static void test_append_bad_elements(void **state)
{
	(void)state;
	struct verify_history h = {0};
	struct verify_append_result r;
	add(&h, 1, "append", "k", "a1", 10, 20, "ok");
	add(&h, 2, "get", "k", "a1a9", 30, 40, "ok");
	assert_int_equal(appends(&h, &r), VERIFY_FAIL);
	assert_non_null(strstr(r.first_violation, "no append wrote"));
	add(&h, 1, "append", "k", "a1", 10, 20, "fail");
	add(&h, 2, "get", "k", "a1", 30, 40, "ok");
	assert_int_equal(appends(&h, &r), VERIFY_FAIL);
	assert_non_null(strstr(r.first_violation, "failed"));
	add(&h, 1, "append", "k", "a1", 10, 20, "ok");
	add(&h, 2, "get", "k", "a1a", 30, 40, "ok");
	assert_int_equal(appends(&h, &r), VERIFY_FAIL);
	assert_non_null(strstr(r.first_violation, "not a list"));
	/* read before the append was invoked */
	add(&h, 2, "get", "k", "a1", 10, 20, "ok");
	add(&h, 1, "append", "k", "a1", 30, 40, "ok");
	assert_int_equal(appends(&h, &r), VERIFY_FAIL);
	assert_non_null(strstr(r.first_violation, "invoked after it completed"));
}

/* Orders that no execution explains. */
static void test_append_order(void **state)
{
	(void)state;
	struct verify_history h = {0};
	struct verify_append_result r;
	/* two reads disagree */
	add(&h, 1, "append", "k", "a1", 10, 100, "ok");
	add(&h, 2, "append", "k", "a2", 10, 100, "ok");
	add(&h, 3, "get", "k", "a1a2", 20, 30, "ok");
	add(&h, 3, "get", "k", "a2a1", 40, 50, "ok");
	assert_int_equal(appends(&h, &r), VERIFY_FAIL);
	assert_non_null(strstr(r.first_violation, "disagrees"));
	/* a1 acknowledged before a2 was invoked, read in the other order */
	add(&h, 1, "append", "k", "a1", 10, 20, "ok");
	add(&h, 2, "append", "k", "a2", 30, 40, "ok");
	add(&h, 3, "get", "k", "a2a1", 50, 60, "ok");
	assert_int_equal(appends(&h, &r), VERIFY_FAIL);
	assert_non_null(strstr(r.first_violation, "after it"));
	/* a read shorter than one that completed before it */
	add(&h, 1, "append", "k", "a1", 10, 100, "ok");
	add(&h, 2, "append", "k", "a2", 10, 100, "ok");
	add(&h, 3, "get", "k", "a1a2", 20, 30, "ok");
	add(&h, 3, "get", "k", "a1", 40, 50, "ok");
	assert_int_equal(appends(&h, &r), VERIFY_FAIL);
	assert_non_null(strstr(r.first_violation, "fewer"));
	/* the same reads, overlapping: legal */
	add(&h, 1, "append", "k", "a1", 10, 100, "ok");
	add(&h, 2, "append", "k", "a2", 10, 100, "ok");
	add(&h, 3, "get", "k", "a1a2", 20, 45, "ok");
	add(&h, 4, "get", "k", "a1", 40, 50, "ok");
	assert_int_equal(appends(&h, &r), VERIFY_OK);
}

/* Keys the append check leaves alone, and the other checkers' view of append keys. */
static void test_append_unsupported(void **state)
{
	(void)state;
	struct verify_history h = {0};
	struct verify_append_result r;
	add(&h, 1, "append", "k", "a1", 10, 20, "ok");
	add(&h, 1, "put", "k", "b1", 30, 40, "ok");
	assert_int_equal(appends(&h, &r), VERIFY_UNKNOWN);
	assert_int_equal(r.keys_unsupported, 1);
	add(&h, 1, "append", "k", "a1", 10, 20, "ok");
	add(&h, 1, "append", "k", "a1", 30, 40, "ok"); /* repeated value */
	assert_int_equal(appends(&h, &r), VERIFY_UNKNOWN);
	add(&h, 1, "append", "k", "a1", 10, 20, "ok");
	add(&h, 1, "append", "k", "abc1", 30, 40, "ok"); /* another width */
	assert_int_equal(appends(&h, &r), VERIFY_UNKNOWN);
	/* the register checker skips append keys; the causal checker declines */
	struct verify_result lr;
	add(&h, 1, "append", "k", "a1", 10, 20, "ok");
	add(&h, 2, "get", "k", "a1", 30, 40, "ok");
	add(&h, 1, "put", "j", "01", 10, 20, "ok");
	struct verify_causal_result cr;
	assert_int_equal(verify_causal(&h, &cr), VERIFY_UNKNOWN);
	assert_true(cr.unsupported);
	assert_int_equal(check(&h, &lr), VERIFY_OK);
	assert_int_equal(lr.keys, 1);
	assert_int_equal(lr.append_keys, 1);
}

/* ---- the slot certificate (verify_slots) -------------------------------------------------- */

/* A slotted operation of session sess at slot (invoked at 10 * slot, completed 5 later). */
static struct verify_sop sop(uint64_t sess, uint64_t seq, uint8_t op, uint64_t key, const char *v,
			     uint64_t slot)
{
	struct verify_sop o = {.session = sess,
			       .seq = seq,
			       .op = op,
			       .key = key,
			       .invoke = 10 * slot,
			       .complete = 10 * slot + 5,
			       .slot = slot,
			       .has_slot = true};
	if (op == PROTO_OP_GET) {
		o.found = v != NULL;
		o.result = v;
		o.rlen = v ? (uint32_t)strlen(v) : 0;
	} else {
		o.val = v;
	}
	return o;
}

static enum verify_status slots(struct verify_sop *ops, size_t n, bool strict,
				struct verify_slots_result *r)
{
	struct verify_slots_run run = {.ops = ops,
				       .n = n,
				       .nkeys = 2,
				       .dense = strict,
				       .session_order = strict,
				       .real_time_all_keys = strict};
	return verify_slots(&run, r);
}

/* A legal run passes; each kind of damage fails with its message. */
static void test_slots(void **state)
{
	(void)state;
	struct verify_slots_result r;
	struct verify_sop ops[] = {
	    sop(1, 1, PROTO_OP_PUT, 0, "a", 0),	 sop(2, 1, PROTO_OP_PUT, 1, "b", 1),
	    sop(1, 2, PROTO_OP_GET, 0, "a", 2),	 sop(2, 2, PROTO_OP_DEL, 0, NULL, 3),
	    sop(1, 3, PROTO_OP_GET, 0, NULL, 4), sop(2, 3, PROTO_OP_GET, 1, "b", 5)};
	size_t n = sizeof ops / sizeof ops[0];
	assert_int_equal(slots(ops, n, true, &r), VERIFY_OK);

	struct verify_sop bad[sizeof ops / sizeof ops[0]];
	memcpy(bad, ops, sizeof ops);
	bad[4] = sop(1, 3, PROTO_OP_GET, 0, "a", 4); /* after the DEL */
	assert_int_equal(slots(bad, n, false, &r), VERIFY_FAIL);
	assert_non_null(strstr(r.first_violation, "strong read session 1 seq 3 (slot 4)"));

	memcpy(bad, ops, sizeof ops);
	bad[2] = sop(1, 2, PROTO_OP_GET, 0, "zz", 2);
	assert_int_equal(slots(bad, n, false, &r), VERIFY_FAIL);
	assert_non_null(strstr(r.first_violation, "never written"));

	memcpy(bad, ops, sizeof ops);
	bad[5].slot = 6; /* slot 5 holds nothing */
	assert_int_equal(slots(bad, n, false, &r), VERIFY_OK);
	assert_int_equal(slots(bad, n, true, &r), VERIFY_FAIL);
	assert_non_null(strstr(r.first_violation, "not dense"));

	memcpy(bad, ops, sizeof ops);
	bad[1].has_slot = false;
	assert_int_equal(slots(bad, n, false, &r), VERIFY_FAIL);
	assert_non_null(strstr(r.first_violation, "without a slot"));

	/* two writes of other keys ordered against the order they ran in: one session's (its
	 * session order), then two sessions' (real time); only the stricter checks see it */
	struct verify_sop two[] = {sop(1, 1, PROTO_OP_PUT, 0, "a", 1),
				   sop(1, 2, PROTO_OP_PUT, 1, "b", 0)};
	two[1].invoke = 20;
	two[1].complete = 25;
	assert_int_equal(slots(two, 2, false, &r), VERIFY_OK);
	struct verify_slots_run run = {.ops = two, .n = 2, .nkeys = 2, .session_order = true};
	assert_int_equal(verify_slots(&run, &r), VERIFY_FAIL);
	assert_non_null(strstr(r.first_violation, "session 1: seq 2 ordered at slot 0"));
	two[1].session = 2;
	assert_int_equal(verify_slots(&run, &r), VERIFY_OK);
	run.real_time_all_keys = true;
	assert_int_equal(verify_slots(&run, &r), VERIFY_FAIL);
	assert_non_null(strstr(r.first_violation, "real time: session 2 seq 2 (slot 0)"));
	/* a view change's replay may order commuting commands so (test_hybrid_ho_3_leader_killed
	 * in CI, 2026-12-06: a fast-path write moved from slot 3395 to 3399, after another
	 * session's command of another key invoked after it completed) */
	two[0].moved = true;
	assert_int_equal(verify_slots(&run, &r), VERIFY_OK);
	/* but never two of one key: the per-key certificate still holds a moved command */
	two[1].key = 0;
	two[1].val = "b";
	assert_int_equal(verify_slots(&run, &r), VERIFY_FAIL);
	assert_non_null(strstr(r.first_violation, "real time"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sequential_legal),
	    cmocka_unit_test(test_stale_read_violation),
	    cmocka_unit_test(test_concurrency),
	    cmocka_unit_test(test_overlap_regression),
	    cmocka_unit_test(test_value_never_written),
	    cmocka_unit_test(test_unknown_and_failed),
	    cmocka_unit_test(test_lost_write),
	    cmocka_unit_test(test_load_several),
	    cmocka_unit_test(test_budget_unknown),
	    cmocka_unit_test(test_parse_errors),
	    cmocka_unit_test(test_causal_legal),
	    cmocka_unit_test(test_causal_ryw),
	    cmocka_unit_test(test_causal_monotonic_reads),
	    cmocka_unit_test(test_causal_writes_follow_reads),
	    cmocka_unit_test(test_causal_other),
	    cmocka_unit_test(test_causal_out_of_memory),
	    cmocka_unit_test(test_append_legal),
	    cmocka_unit_test(test_weak_writes),
	    cmocka_unit_test(test_causal_per_key),
	    cmocka_unit_test(test_append_twice),
	    cmocka_unit_test(test_append_lost),
	    cmocka_unit_test(test_append_bad_elements),
	    cmocka_unit_test(test_append_order),
	    cmocka_unit_test(test_append_unsupported),
	    cmocka_unit_test(test_slots),
	};
	return cmocka_run_group_tests_name("verify", tests, NULL, NULL);
}
