/* The protocol cores (replica/core*.c) and the client session (client/session.c) when memory
 * runs out (docs/design.md, "Out of memory"), with allocations made to fail by tests/failalloc:
 * a core refuses what it has not begun (BUSY, ok=false, no acknowledgement, a transfer asked
 * again) and otherwise stops the process with a message; a session returns -ENOMEM or takes
 * the slow path. Never a silent loss: a scripted run in which each allocation in turn fails
 * either ends with every answer right and the replicas identical, or stops with the message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/child.h"
#include "tests/failalloc.h"
#include "tests/harness.h"

#define OOM_MSG "out of memory ("

/* True if the status is the stop of core_oom: abort() after the message. */
static bool stopped_oom(int status, const char *err)
{
	return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT && strstr(err, OOM_MSG) != NULL;
}

/* Fails allocation n of a child's run, in turn, for n = 1, 2, ... (every one up to 64, then
 * every `stride`-th) up to total + 1: fn(arg) runs in a child with *fail_at = n and must exit 0
 * (its run ended right) or, if stops_allowed, stop with the message; anything else fails the
 * test with `name` and the child's stderr. Exit 3 (nothing failed: past the run's last
 * allocation) ends the sweep. Counts the stops whose message holds `note` (may be NULL). */
struct fail_tally {
	uint64_t right, stopped, noted;
};

static struct fail_tally fail_each(void (*fn)(void *), void *arg, uint64_t *fail_at, uint64_t total,
				   uint64_t stride, bool stops_allowed, const char *name,
				   const char *note)
{
	struct fail_tally t = {0};
	char err[4096];
	for (uint64_t n = 1; n <= total + 1; n += n < 64 ? 1 : stride) {
		*fail_at = n;
		int status = child_run(fn, arg, 60, err, sizeof err);
		if (WIFEXITED(status) && WEXITSTATUS(status) == 3)
			break; /* past the run's last allocation */
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
			t.right++;
		} else if (stops_allowed && stopped_oom(status, err)) {
			t.stopped++;
			t.noted += note != NULL && strstr(err, note) != NULL;
		} else {
			fail_msg("%s, allocation %llu failing: status 0x%x: %s", name,
				 (unsigned long long)n, status, err);
		}
	}
	return t;
}

/* ---- a scripted run over three replicas ---------------------------------------------------- */

#define S_KEYS	    4 /* keys written by strong commands (session 0) */
#define S_WEAK_KEYS 2 /* keys written by session 1's weak writes (hybrids) */

struct result {
	int n;
	enum session_result res;
	uint32_t vlen;
	char val[256];
};

static void result_cb(void *arg, uint64_t seq, enum session_result res, enum session_path path,
		      const uint8_t *value, uint32_t vlen)
{
	struct result *r = arg;
	(void)seq;
	(void)path;
	r->n++;
	r->res = res;
	r->vlen = vlen < sizeof r->val ? vlen : sizeof r->val - 1;
	if (vlen)
		memcpy(r->val, value, r->vlen);
	r->val[r->vlen] = 0;
}

struct script {
	enum conf_protocol proto;
	uint64_t fail_at; /* the allocation that fails (failalloc_nth; 0: none, they are counted) */
	struct harness h;
	char model[S_KEYS + S_WEAK_KEYS][256]; /* each key's value ("": absent) */
	/* what the run covered (checked on the run without a failure) */
	uint64_t transfers, view_changes, scans;
};

static void big_endian(uint64_t k, uint8_t out[8])
{
	for (int i = 0; i < 8; i++)
		out[i] = (uint8_t)(k >> (56 - 8 * i));
}

static void cfg_for(struct core_config *cfg, enum conf_protocol proto)
{
	cfg->protocol = proto;
	cfg->log_cap = 16; /* a small log: a replica back after 40 commands needs a transfer */
}
static void cfg_curp(struct core_config *cfg)
{
	cfg_for(cfg, CONF_PROTO_CURP);
}
static void cfg_curpho(struct core_config *cfg)
{
	cfg_for(cfg, CONF_PROTO_CURPHO);
}
static void cfg_curpht(struct core_config *cfg)
{
	cfg_for(cfg, CONF_PROTO_CURPHT);
}

/* The child's verdict on a wrong run: the reason on stderr, exit status 1. */
static _Noreturn void wrong(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "wrong: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	_exit(1);
}

/* Runs one command of session s to its completion: submits it (again while the session refuses
 * it for want of memory or room), then delivers frames and advances time, at most 60 s of it. */
static void run_op(struct script *sc, int s, bool weak, uint8_t op, uint64_t key, const char *val,
		   uint32_t scan_count, struct result *r)
{
	struct harness *h = &sc->h;
	uint8_t kb[8];
	big_endian(key, kb);
	struct proto_cmd c = {.op = op, .key = kb, .klen = 8, .scan_count = scan_count};
	if (val) {
		c.val = (const uint8_t *)val;
		c.vlen = (uint32_t)strlen(val);
	}
	memset(r, 0, sizeof *r);
	uint64_t deadline = h->now + 60ull * 1000 * 1000 * 1000;
	int64_t seq;
	while ((seq = weak ? session_submit_weak(h->sess[s], &c, result_cb, r, h->now)
			   : session_submit(h->sess[s], &c, result_cb, r, h->now)) < 0) {
		if (seq != -ENOMEM && seq != -EAGAIN)
			wrong("submit: %lld", (long long)seq);
		if (h->now > deadline)
			wrong("the session refused a command for 60 s");
		h_advance(h, 10ull * 1000 * 1000);
		while (h_step(h))
			;
	}
	while (r->n == 0) {
		if (h->now > deadline)
			wrong("%s of key %llu not answered in 60 s", proto_op_name(op),
			      (unsigned long long)key);
		if (!h_step(h))
			h_advance(h, 10ull * 1000 * 1000);
	}
	if (r->n != 1)
		wrong("%d completions of one command", r->n);
}

/* A write: curp APPENDs (a double execution would show in the value), the hybrids PUT. */
static void write_op(struct script *sc, int s, bool weak, uint64_t key, int i)
{
	char v[16];
	struct result r;
	bool append = sc->proto == CONF_PROTO_CURP;
	snprintf(v, sizeof v, append ? "%d," : "v%d", i);
	run_op(sc, s, weak, append ? PROTO_OP_APPEND : PROTO_OP_PUT, key, v, 0, &r);
	if (r.res != SESSION_OK)
		wrong("write %d of key %llu: result %d", i, (unsigned long long)key, r.res);
	char *m = sc->model[key];
	if (append && strlen(m) + strlen(v) < sizeof sc->model[key])
		strcat(m, v);
	else
		strcpy(m, v);
}

static void read_op(struct script *sc, int s, bool weak, uint64_t key)
{
	struct result r;
	run_op(sc, s, weak, PROTO_OP_GET, key, NULL, 0, &r);
	const char *want = sc->model[key];
	bool ok =
	    want[0] ? r.res == SESSION_OK && strcmp(r.val, want) == 0 : r.res == SESSION_NOT_FOUND;
	if (!ok)
		wrong("%s GET of key %llu: result %d '%s', want '%s'", weak ? "weak" : "strong",
		      (unsigned long long)key, r.res, r.val, want);
}

/* A strong SCAN of every key: each live key once, in order, with its value. */
static void scan_op(struct script *sc)
{
	struct result r;
	uint64_t nkeys = S_KEYS + S_WEAK_KEYS;
	run_op(sc, 0, false, PROTO_OP_SCAN, 0, NULL, (uint32_t)nkeys, &r);
	if (r.res != SESSION_OK)
		wrong("SCAN: result %d", r.res);
	uint32_t off = 0, kl, vl;
	const uint8_t *k, *v;
	uint64_t next = 0;
	while (proto_scan_next((const uint8_t *)r.val, r.vlen, &off, &k, &kl, &v, &vl) == 1) {
		uint8_t want[8];
		while (next < nkeys && sc->model[next][0] == 0)
			next++;
		big_endian(next, want);
		if (next == nkeys || kl != 8 || memcmp(k, want, 8) != 0 ||
		    vl != strlen(sc->model[next]) || memcmp(v, sc->model[next], vl) != 0)
			wrong("SCAN: pair %.*s at key %llu", (int)vl, (const char *)v,
			      (unsigned long long)next);
		next++;
	}
	while (next < nkeys && sc->model[next][0] == 0)
		next++;
	if (next != nkeys || off != r.vlen)
		wrong("SCAN: ends before key %llu", (unsigned long long)next);
}

/* After the failure: time passes until every replica executed what the leader did, with the
 * same digest. */
static void settle(struct script *sc)
{
	struct harness *h = &sc->h;
	for (int i = 0; i < 600; i++) {
		while (h_step(h))
			;
		struct core_stats l, st;
		core_get_stats(h->cores[h->leader], &l);
		bool same = true;
		for (int r = 0; r < h->n; r++) {
			core_get_stats(h->cores[r], &st);
			same = same && st.exec_index == l.exec_index && st.digest == l.digest;
		}
		if (same && l.exec_index == l.commit_index)
			return;
		h_advance(h, 100ull * 1000 * 1000);
	}
	wrong("the replicas did not converge in 60 s");
}

/* The run: writes and reads of two sessions (weak ones in the hybrids), a leader change, a
 * follower down for 40 writes and back empty (a state transfer), a SCAN; the failure is armed
 * once the cluster is built. */
static void script_run(struct script *sc)
{
	void (*cfg)(struct core_config *) = sc->proto == CONF_PROTO_CURP     ? cfg_curp
					    : sc->proto == CONF_PROTO_CURPHO ? cfg_curpho
									     : cfg_curpht;
	bool hybrid = sc->proto != CONF_PROTO_CURP;
	struct harness *h = &sc->h;
	h_init(h, 3, 2, 4, 7 + (uint64_t)sc->proto, cfg);
	for (int i = 0; i < h->nsess; i++)
		h_bind(h, i, 0); /* bound to a replica that stays up (replica 2 goes down) */
	memset(sc->model, 0, sizeof sc->model);
	if (sc->fail_at)
		failalloc_nth(sc->fail_at);
	else
		failalloc_from(UINT64_MAX); /* counts the allocations, fails none */
	int w = 0;
	for (; w < 8; w++) {
		write_op(sc, 0, false, (uint64_t)w % S_KEYS, w);
		if (hybrid)
			write_op(sc, 1, true, S_KEYS + (uint64_t)w % S_WEAK_KEYS, w);
		else
			read_op(sc, 1, false, (uint64_t)w % S_KEYS);
	}
	for (uint64_t k = 0; k < S_KEYS; k++)
		read_op(sc, 0, false, k);
	if (hybrid)
		for (uint64_t k = S_KEYS; k < S_KEYS + S_WEAK_KEYS; k++)
			read_op(sc, 1, true, k); /* its own writes */
	h_view_change(h, 1, 1);
	for (int i = 0; i < h->nsess; i++)
		session_set_view(h->sess[i], 1, 1, h->now); /* (the master's answer) */
	for (int i = 0; i < 4; i++, w++)
		write_op(sc, 0, false, (uint64_t)w % S_KEYS, w);
	h_crash(h, 2);
	for (int i = 0; i < 40; i++, w++)
		write_op(sc, i % 2, hybrid && i % 2, (uint64_t)w % S_KEYS, w);
	h_restart_fresh(h, 2);
	for (int i = 0; i < 4; i++, w++)
		write_op(sc, 0, false, (uint64_t)w % S_KEYS, w);
	scan_op(sc);
	for (uint64_t k = 0; k < S_KEYS; k++)
		read_op(sc, 0, false, k);
	failalloc_off();
	settle(sc);
	struct core_stats st;
	core_get_stats(h->cores[2], &st);
	sc->transfers = st.snap_installed;
	core_get_stats(h->cores[1], &st);
	sc->view_changes = st.view_changes;
	sc->scans = st.scans;
}

static void script_child(void *arg)
{
	struct script *sc = arg;
	script_run(sc);
	h_free(&sc->h);
	/* 3: the armed failure never came (the run makes fewer allocations) */
	_exit(sc->fail_at && failalloc_failed() == 0 ? 3 : 0);
}

/* The run without a failure: what it covers and how many allocations it makes, on stderr. */
static void script_count_child(void *arg)
{
	struct script *sc = arg;
	sc->fail_at = 0;
	script_run(sc);
	fprintf(stderr, "run: %llu allocations, %llu transfers, %llu view changes, %llu scans\n",
		(unsigned long long)failalloc_seen(), (unsigned long long)sc->transfers,
		(unsigned long long)sc->view_changes, (unsigned long long)sc->scans);
	h_free(&sc->h);
	_exit(0);
}

/* Fails, in turn, allocations 1, 2, ... of the run (every one up to 64, then a sample of about
 * CURPKV_OOM_SAMPLES more, default 150, spread over the rest; "all" for every one). Each
 * child must either end right or stop with the message; both must happen. */
static void oom_sweep(enum conf_protocol proto)
{
	const char *name = proto == CONF_PROTO_CURP	? "curp"
			   : proto == CONF_PROTO_CURPHO ? "curpho"
							: "curpht";
	struct script *sc = calloc(1, sizeof *sc);
	assert_non_null(sc);
	sc->proto = proto;
	char err[4096];
	unsigned long long total, transfers, vcs, scans;
	int status = child_run(script_count_child, sc, 60, err, sizeof err);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
	    sscanf(err, "run: %llu allocations, %llu transfers, %llu view changes, %llu scans",
		   &total, &transfers, &vcs, &scans) != 4)
		fail_msg("%s, the run without a failure: status 0x%x: %s", name, status, err);
	assert_true(transfers >= 1);
	assert_true(vcs >= 1);
	assert_true(scans >= 1);

	const char *env = getenv("CURPKV_OOM_SAMPLES");
	uint64_t samples = env && strcmp(env, "all") != 0 ? strtoull(env, NULL, 10) : 150;
	uint64_t stride = env && strcmp(env, "all") == 0 ? 1 : total / (samples ? samples : 1) + 1;
	struct fail_tally t =
	    fail_each(script_child, sc, &sc->fail_at, total, stride, true, name, NULL);
	print_message("%s: %llu allocations in the run; %llu failures refused or absorbed, %llu "
		      "stopped the process\n",
		      name, total, (unsigned long long)t.right, (unsigned long long)t.stopped);
	assert_true(t.right > 0);
	assert_true(t.stopped > 0);
	free(sc);
}

static void test_oom_sweep_curp(void **state)
{
	(void)state;
	oom_sweep(CONF_PROTO_CURP);
}

static void test_oom_sweep_curpho(void **state)
{
	(void)state;
	oom_sweep(CONF_PROTO_CURPHO);
}

static void test_oom_sweep_curpht(void **state)
{
	(void)state;
	oom_sweep(CONF_PROTO_CURPHT);
}

/* ---- each outcome on its own ----------------------------------------------------------------- */

static struct proto_msg propose(uint64_t client, uint64_t seq, uint8_t op, const uint64_t *key,
				const char *val)
{
	struct proto_msg m = {.type = PROTO_PROPOSE,
			      .view = 0,
			      .cid = {client, seq},
			      .low_seq = seq,
			      .cmd = {.op = op, .key = (const uint8_t *)key, .klen = 8}};
	if (val) {
		m.cmd.val = (const uint8_t *)val;
		m.cmd.vlen = (uint32_t)strlen(val);
	}
	return m;
}

/* Three replicas that executed one PUT of client 100 (its tables exist). */
static void warm(struct harness *h)
{
	h_init(h, 3, 1, 4, 5, NULL);
	uint64_t k = 1;
	struct proto_msg m = propose(100, 1, PROTO_OP_PUT, &k, "warm");
	core_on_client(h->cores[0], 1, &m, h->now);
	core_on_client(h->cores[1], 1, &m, h->now);
	core_on_client(h->cores[2], 1, &m, h->now);
	h_drain(h);
	struct proto_msg r;
	for (int i = 0; i < 3; i++)
		while (h_take(h, H_R2C, i, 0, &r))
			;
}

/* A leader that cannot keep a new command answers BUSY and orders nothing; a witness that
 * cannot keep a record answers ok=false. Both are refusals of what was not begun: the client
 * re-sends. */
static void test_oom_refusals(void **state)
{
	(void)state;
	struct harness h;
	warm(&h);
	struct core_stats before, after;
	core_get_stats(h.cores[0], &before);
	uint64_t k = 2;
	struct proto_msg m = propose(100, 2, PROTO_OP_PUT, &k, "v");
	failalloc_from(1);
	core_on_client(h.cores[0], 1, &m, h.now);
	core_on_client(h.cores[1], 1, &m, h.now);
	failalloc_off();
	assert_true(failalloc_failed() > 0);
	core_get_stats(h.cores[0], &after);
	assert_int_equal(after.next_slot, before.next_slot);
	assert_int_equal(after.busy, before.busy + 1);
	struct proto_msg r;
	assert_true(h_take(&h, H_R2C, 0, 0, &r));
	assert_int_equal(r.type, PROTO_REPLY);
	assert_int_equal(r.status, PROTO_ST_BUSY);
	assert_true(h_take(&h, H_R2C, 1, 0, &r));
	assert_int_equal(r.type, PROTO_RECORD_ACK);
	assert_false(r.ok);
	/* memory back: the re-sent command goes through */
	core_on_client(h.cores[0], 1, &m, h.now);
	assert_true(h_take(&h, H_R2C, 0, 0, &r));
	assert_int_equal(r.type, PROTO_REPLY);
	assert_int_equal(r.status, PROTO_ST_OK);
	h_free(&h);
}

/* A replica executing a write it cannot store stops the process, saying so: going on would
 * leave it with another state than the replicas that stored it. The leader executes once a
 * follower's ACK commits the write; with fail, nothing can be allocated from then on. */
static void exec_write(struct harness *h, bool fail)
{
	uint64_t k = 3;
	struct proto_msg m = propose(100, 2, PROTO_OP_PUT, &k, "x");
	core_on_client(h->cores[0], 1, &m, h->now);
	assert_true(h_deliver(h, H_PEER, 0, 1)); /* the ACCEPT */
	if (fail)
		failalloc_from(1);
	assert_true(h_deliver(h, H_PEER, 1, 0)); /* its ACK: committed, executed */
	failalloc_off();
}

static void exec_child(void *arg)
{
	exec_write(arg, false);
	struct core_stats st;
	core_get_stats(((struct harness *)arg)->cores[0], &st);
	_exit(st.exec_index == 2 ? 0 : 1);
}

static void exec_fail_child(void *arg)
{
	exec_write(arg, true);
	_exit(0);
}

static void test_oom_execution_stops(void **state)
{
	(void)state;
	struct harness h;
	warm(&h);
	char err[4096];
	int status = child_run(exec_child, &h, 20, err, sizeof err);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0); /* the same, with memory */
	status = child_run(exec_fail_child, &h, 20, err, sizeof err);
	assert_true(stopped_oom(status, err));
	assert_non_null(strstr(err, "curpkv: replica "));
	h_free(&h);
}

/* A state transfer to send while no memory is left: the sender stops the transfer (the
 * receiver asks again) instead of looping for ever without a chunk buffer. */
static void xfer_child(void *arg)
{
	struct harness *h = arg;
	struct proto_msg q = {.type = PROTO_CATCHUP, .view = 0, .slot = 0, .ok = true, .round = 1};
	failalloc_from(1);
	core_on_peer(h->cores[0], 2, &q, h->now);
	core_flush(h->cores[0], h->now);
	failalloc_off();
	struct core_stats st;
	core_get_stats(h->cores[0], &st);
	_exit(st.snap_sent == 0 ? 0 : 1);
}

static void test_oom_transfer_stops(void **state)
{
	(void)state;
	struct harness h;
	warm(&h);
	char err[4096];
	int status = child_run(xfer_child, &h, 20, err, sizeof err);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	h_free(&h);
}

/* The session: a command it cannot copy is refused with -ENOMEM (no callback, nothing sent);
 * a leader's value it cannot keep sends it to the slow path (the result still comes). */
static void test_oom_session(void **state)
{
	(void)state;
	struct harness h;
	h_init(&h, 3, 1, 4, 9, NULL);
	struct session *s = h.sess[0];
	uint64_t k = 1;
	struct proto_cmd c = {.op = PROTO_OP_PUT,
			      .key = (const uint8_t *)&k,
			      .klen = 8,
			      .val = (const uint8_t *)"value",
			      .vlen = 5};
	struct result r = {0};
	failalloc_from(1);
	assert_int_equal(session_submit(s, &c, result_cb, &r, h.now), -ENOMEM);
	failalloc_off();
	assert_int_equal(session_inflight(s), 0);
	assert_int_equal(h_pending(&h, H_C2R, 0, 0), 0);
	assert_true(session_submit(s, &c, result_cb, &r, h.now) > 0);
	h_drain(&h);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.res, SESSION_OK);

	/* a GET whose REPLY value cannot be copied: completed by the SYNC_REPLY, not lost */
	struct session_stats before, after;
	session_get_stats(s, &before);
	struct proto_cmd g = {.op = PROTO_OP_GET, .key = (const uint8_t *)&k, .klen = 8};
	memset(&r, 0, sizeof r);
	assert_true(session_submit(s, &g, result_cb, &r, h.now) > 0);
	for (int i = 0; i < 3; i++)
		assert_true(h_deliver(&h, H_C2R, 0, i));
	for (int i = 1; i < 3; i++) /* the witnesses' RECORD_ACKs */
		assert_true(h_deliver(&h, H_R2C, i, 0));
	struct proto_msg reply;
	assert_true(h_take(&h, H_R2C, 0, 0, &reply)); /* the leader's, with the value */
	assert_true(reply.ok && reply.vlen == 5);
	failalloc_from(1);
	session_on_msg(s, 0, &reply, h.now);
	failalloc_off();
	assert_int_equal(failalloc_failed(), 1);
	assert_int_equal(r.n, 0); /* not completed on a value it could not keep */
	for (int i = 0; i < 100 && r.n == 0; i++) {
		h_advance(&h, 25ull * 1000 * 1000); /* past sync_after: the session asks */
		h_drain(&h);
	}
	assert_int_equal(r.n, 1);
	assert_int_equal(r.res, SESSION_OK);
	assert_string_equal(r.val, "value");
	session_get_stats(s, &after);
	assert_int_equal(after.slow + after.retry, before.slow + before.retry + 1);
	h_free(&h);
}

/* ---- client leases (replica/core_lease.c, docs/recovery.md "Client leases") ---------------- */

#define LEASE_NS (1000ull * 1000 * 1000)
#define LSTEP_NS (50ull * 1000 * 1000)

static void lease_cfg(struct core_config *cfg)
{
	cfg->lease_ns = LEASE_NS;
}

static struct core_stats lstats(struct harness *h, int r)
{
	struct core_stats st;
	core_get_stats(h->cores[r], &st);
	return st;
}

static void drop_client_frames(struct harness *h)
{
	struct proto_msg r;
	for (int i = 0; i < h->n; i++)
		while (h_take(h, H_R2C, i, 0, &r))
			;
}

/* Lets `steps` steps of time pass, the replicas exchanging what they send (client answers
 * dropped). */
static void lease_pass(struct harness *h, int steps)
{
	for (int i = 0; i < steps; i++) {
		h_advance(h, LSTEP_NS);
		h_drain_peers(h);
		drop_client_frames(h);
	}
}

/* Three replicas with a 1 s lease that executed one PUT of client 200, which is then silent. */
static void lease_warm(struct harness *h, uint64_t seed)
{
	h_init(h, 3, 1, 4, seed, lease_cfg);
	uint64_t k = 1;
	struct proto_msg m = propose(200, 1, PROTO_OP_PUT, &k, "v");
	for (int i = 0; i < 3; i++)
		core_on_client(h->cores[i], 1, &m, h->now);
	h_drain(h);
	drop_client_frames(h);
}

/* The child's verdict after a run with leases: client 200 expired at every replica (its
 * records gone, the floor at it), the replicas identical, and its late retry refused EXPIRED
 * by the leader. */
static void lease_verdict(struct harness *h)
{
	struct core_stats l = lstats(h, h->leader);
	for (int i = 0; i < 3; i++) {
		struct core_stats st = lstats(h, i);
		if (st.expire_floor != 200 || st.clients_expired != 1 || st.clients_live != 0 ||
		    st.exec_index != l.exec_index || st.digest != l.digest)
			wrong("replica %d: floor %llu, %llu expired, %llu live, exec %llu/%llu", i,
			      (unsigned long long)st.expire_floor,
			      (unsigned long long)st.clients_expired,
			      (unsigned long long)st.clients_live,
			      (unsigned long long)st.exec_index, (unsigned long long)l.exec_index);
	}
	uint64_t k = 1;
	struct proto_msg m = propose(200, 1, PROTO_OP_PUT, &k, "v"), r;
	m.view = h->view;
	core_on_client(h->cores[h->leader], 1, &m, h->now);
	if (!h_take(h, H_R2C, h->leader, 0, &r) || r.type != PROTO_REPLY ||
	    r.status != PROTO_ST_EXPIRED)
		wrong("the late retry of an expired client was not refused EXPIRED");
}

struct lease_case {
	struct harness h;
	uint64_t fail_at; /* 0: count the allocations, fail none */
};

/* The steps in which the leader decides the EXPIRE of client 200 and the replicas execute it
 * (the parent stopped two steps before the lease runs out). */
#define LEASE_DECIDE_STEPS 6

static void lease_decide_child(void *arg)
{
	struct lease_case *lc = arg;
	struct harness *h = &lc->h;
	if (lc->fail_at)
		failalloc_nth(lc->fail_at);
	else
		failalloc_from(UINT64_MAX);
	lease_pass(h, LEASE_DECIDE_STEPS);
	failalloc_off();
	if (lc->fail_at == 0) {
		/* what the steps cover: the decision, and its execution everywhere */
		for (int i = 0; i < 3; i++)
			if (lstats(h, i).clients_expired != 1)
				wrong("replica %d did not expire the client in the steps", i);
		fprintf(stderr, "run: %llu allocations\n", (unsigned long long)failalloc_seen());
		_exit(0);
	}
	bool failed = failalloc_failed() > 0;
	lease_pass(h, (int)(3 * LEASE_NS / LSTEP_NS)); /* a refused EXPIRE is tried again */
	lease_verdict(h);
	_exit(failed ? 0 : 3);
}

/* The leader decides an EXPIRE, sends it and every replica executes it, with each allocation
 * of those steps failing in turn: whatever fails (the EXPIRE's value, its entry, the marks of
 * its clients, a frame, a follower's copy), nothing stops and nothing is left half-done: the
 * leader appends it later (a failed mark would keep the client from ever being named again),
 * and in the end the client is expired everywhere and refused. */
static void test_oom_lease_decide(void **state)
{
	(void)state;
	struct lease_case *lc = calloc(1, sizeof *lc);
	assert_non_null(lc);
	lease_warm(&lc->h, 61);
	lease_pass(&lc->h, (int)(LEASE_NS / LSTEP_NS) - 2);
	assert_int_equal(lstats(&lc->h, 0).expire_entries, 0); /* not yet */
	char err[4096];
	unsigned long long total;
	int status = child_run(lease_decide_child, lc, 60, err, sizeof err);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
	    sscanf(err, "run: %llu allocations", &total) != 1)
		fail_msg("the run without a failure: status 0x%x: %s", status, err);
	struct fail_tally t =
	    fail_each(lease_decide_child, lc, &lc->fail_at, total, 1, false, "lease decide", NULL);
	print_message("lease: %llu allocations while an EXPIRE is decided, sent and executed; "
		      "each failing in turn: %llu runs right, none stopped\n",
		      total, (unsigned long long)t.right);
	assert_true(t.right >= total);
	h_free(&lc->h);
	free(lc);
}

/* Steps of the view change (each: every frame delivered, then time). */
#define LEASE_VC_STEPS 20

static void lease_vc_child(void *arg)
{
	struct lease_case *lc = arg;
	struct harness *h = &lc->h;
	if (lc->fail_at)
		failalloc_nth(lc->fail_at);
	else
		failalloc_from(UINT64_MAX);
	h_view_change(h, 1, 1);
	for (int i = 0; i < LEASE_VC_STEPS; i++) {
		h_drain(h);
		drop_client_frames(h);
		h_advance(h, LSTEP_NS);
	}
	failalloc_off();
	if (lc->fail_at == 0) {
		/* the new leader executed the old leader's EXPIRE: it decided none itself (its
		 * clock started at its install) */
		if (!lstats(h, 1).view_active || lstats(h, 1).expire_entries != 0 ||
		    lstats(h, 1).clients_expired != 1)
			wrong("the new leader did not install the EXPIRE");
		fprintf(stderr, "run: %llu allocations\n", (unsigned long long)failalloc_seen());
		_exit(0);
	}
	bool failed = failalloc_failed() > 0;
	lease_pass(h, (int)(3 * LEASE_NS / LSTEP_NS));
	lease_verdict(h);
	_exit(failed ? 0 : 3);
}

/* A new leader installs a log whose last entry is an EXPIRE that has not executed (the old
 * leader's followers accepted it, nothing committed it), with each allocation of the view
 * change failing in turn: each run ends with the client expired everywhere, or stops with the
 * message; among the stops, the new leader that cannot mark the EXPIRE's clients (it may not
 * order their commands before the EXPIRE executes; until 2026-12 it held every command BUSY
 * instead, a second out-of-memory path of its own). */
static void test_oom_lease_new_leader(void **state)
{
	(void)state;
	struct lease_case *lc = calloc(1, sizeof *lc);
	assert_non_null(lc);
	struct harness *h = &lc->h;
	lease_warm(h, 62);
	/* the leader decides with the followers' answers held back: the EXPIRE reaches them, is
	 * accepted, and never commits in view 0 */
	for (int i = 0; i < 100 && lstats(h, 0).expire_entries == 0; i++)
		h_advance(h, LSTEP_NS);
	assert_int_equal(lstats(h, 0).expire_entries, 1);
	for (int f = 1; f < 3; f++)
		while (h_deliver(h, H_PEER, 0, f))
			;
	for (int i = 0; i < 3; i++)
		assert_int_equal(lstats(h, i).clients_expired, 0);
	char err[4096];
	unsigned long long total;
	int status = child_run(lease_vc_child, lc, 60, err, sizeof err);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
	    sscanf(err, "run: %llu allocations", &total) != 1)
		fail_msg("the run without a failure: status 0x%x: %s", status, err);
	struct fail_tally t =
	    fail_each(lease_vc_child, lc, &lc->fail_at, total, 1, true, "lease view change",
		      "(the leader's index of expiring clients)");
	print_message("lease: %llu allocations in a view change installing an EXPIRE; each "
		      "failing in turn: %llu runs right, %llu stopped (%llu marking its clients)\n",
		      total, (unsigned long long)t.right, (unsigned long long)t.stopped,
		      (unsigned long long)t.noted);
	assert_true(t.right > 0);
	assert_true(t.noted >= 1);
	h_free(h);
	free(lc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_oom_refusals),	 cmocka_unit_test(test_oom_execution_stops),
	    cmocka_unit_test(test_oom_transfer_stops),	 cmocka_unit_test(test_oom_session),
	    cmocka_unit_test(test_oom_sweep_curp),	 cmocka_unit_test(test_oom_sweep_curpho),
	    cmocka_unit_test(test_oom_sweep_curpht),	 cmocka_unit_test(test_oom_lease_decide),
	    cmocka_unit_test(test_oom_lease_new_leader),
	};
	return cmocka_run_group_tests_name("core_oom", tests, NULL, NULL);
}
