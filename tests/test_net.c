/* tests/test_net: the net module over socketpairs and a real 127.0.0.1 listener: framing and
 * ordering, hostile frames, the output cap, pause/resume, emulated delay, the dialer, the
 * shared-secret handshake (success, wrong/missing secret both ways, deadline, frame cap). The loop
 * runs until a condition holds (bounded by a guard timer); nothing sleeps. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <ev.h>

#include "auth/auth.h"
#include "common/clock.h"
#include "conf/conf.h"
#include "net/net.h"

#define GUARD_S 20.0 /* a condition not met within this many seconds fails the test */

struct end {
	struct net_conn *c;
	uint64_t got;	   /* messages received */
	uint64_t next_seq; /* expected next cid.seq */
	bool order_ok;
	int closed; /* on_close calls */
	int reason;
	uint64_t pause_at; /* pause when this many were received (0 = never) */
	double delay;	   /* expected minimum delivery delay, seconds */
	bool delay_ok;
	struct ev_loop *loop;
};

static void end_init(struct end *e, struct ev_loop *loop)
{
	memset(e, 0, sizeof *e);
	e->next_seq = 1;
	e->order_ok = true;
	e->delay_ok = true;
	e->reason = -1;
	e->loop = loop;
}

static void on_msg(struct net_conn *c, const struct proto_msg *m, void *arg)
{
	struct end *e = arg;
	if (m->cid.seq != e->next_seq)
		e->order_ok = false;
	e->next_seq = m->cid.seq + 1;
	e->got++;
	if (e->delay > 0) {
		double sent;
		memcpy(&sent, &m->slot, sizeof sent);
		if (ev_now(e->loop) - sent < e->delay - 1e-9)
			e->delay_ok = false;
	}
	if (e->pause_at && e->got == e->pause_at)
		net_conn_pause(c);
}

static void on_close(struct net_conn *c, int reason, void *arg)
{
	struct end *e = arg;
	(void)c;
	e->closed++;
	e->reason = reason;
	e->c = NULL;
}

static const struct net_conn_cbs cbs = {.on_msg = on_msg, .on_close = on_close};

static struct net_config test_cfg(size_t out_cap)
{
	struct net_config cfg = {
	    .lim = {.max_frame = 1u << 20, .max_key = 1024, .max_value = 65536},
	    .out_cap = out_cap};
	return cfg;
}

static void guard_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	*(bool *)w->data = true;
}

static void tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
}

/* Runs the loop until cond(arg) holds; fails the test after GUARD_S seconds. A 1 ms tick makes
 * sure the condition is looked at again even when the event that made it true was the last
 * one (e.g. an on_close run at the flush point). */
static void run_until(struct ev_loop *loop, bool (*cond)(void *), void *arg)
{
	bool expired = false;
	ev_timer guard, tick;
	ev_timer_init(&guard, guard_cb, GUARD_S, 0.);
	guard.data = &expired;
	ev_timer_start(loop, &guard);
	ev_timer_init(&tick, tick_cb, 0.001, 0.001);
	ev_timer_start(loop, &tick);
	while (!cond(arg) && !expired)
		ev_run(loop, EVRUN_ONCE);
	ev_timer_stop(loop, &tick);
	ev_timer_stop(loop, &guard);
	assert_false(expired);
}

/* Runs a few non-blocking iterations (lets flushes and fed events happen). */
static void spin(struct ev_loop *loop, int n)
{
	for (int i = 0; i < n; i++)
		ev_run(loop, EVRUN_NOWAIT);
}

static struct proto_msg msg_seq(uint64_t seq, const void *val, uint32_t vlen)
{
	struct proto_msg m;
	memset(&m, 0, sizeof m);
	m.type = PROTO_PROPOSE;
	m.view = 0;
	m.cid.client = 7;
	m.cid.seq = seq;
	m.cmd.op = PROTO_OP_PUT;
	m.cmd.key = (const uint8_t *)"key00001";
	m.cmd.klen = 8;
	m.cmd.val = val;
	m.cmd.vlen = vlen;
	return m;
}

/* A pair of net connections over a socketpair (a and b on one loop). */
static void pair(struct net_loop *nl, struct end *a, struct end *b)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(net_conn_create(nl, sv[0], "a", &cbs, a, &a->c), 0);
	assert_int_equal(net_conn_create(nl, sv[1], "b", &cbs, b, &b->c), 0);
}

/* ---- frames round-trip in order over a real TCP listener ------------------------------- */

struct accept_ctx {
	struct net_loop *nl;
	struct end *server;
};

static void on_accept(struct net_listener *l, int fd, const char *peer, void *arg)
{
	struct accept_ctx *ax = arg;
	(void)l;
	assert_null(ax->server->c);
	assert_int_equal(net_conn_create(ax->nl, fd, peer, &cbs, ax->server, &ax->server->c), 0);
}

struct dial_ctx {
	struct end *end;
	int ups, downs;
	uint64_t fails; /* on_fail calls */
	int fail_err;	/* the last one's err */
};

static void dial_up(struct net_dialer *d, struct net_conn *c, void *arg)
{
	struct dial_ctx *dx = arg;
	(void)d;
	dx->ups++;
	dx->end->c = c;
}

static void dial_msg(struct net_dialer *d, struct net_conn *c, const struct proto_msg *m, void *arg)
{
	struct dial_ctx *dx = arg;
	(void)d;
	on_msg(c, m, dx->end);
}

static void dial_down(struct net_dialer *d, int reason, void *arg)
{
	struct dial_ctx *dx = arg;
	(void)d;
	dx->downs++;
	dx->end->c = NULL;
	dx->end->reason = reason;
}

static void dial_fail(struct net_dialer *d, int err, void *arg)
{
	struct dial_ctx *dx = arg;
	(void)d;
	dx->fails++;
	dx->fail_err = err;
}

static const struct net_dialer_cbs dial_cbs = {
    .on_up = dial_up, .on_msg = dial_msg, .on_down = dial_down, .on_fail = dial_fail};

struct two {
	struct end *a, *b;
	uint64_t n;
};

static bool both_connected(void *arg)
{
	struct two *t = arg;
	return t->a->c && t->b->c;
}

static bool both_got(void *arg)
{
	struct two *t = arg;
	return t->a->got >= t->n && t->b->got >= t->n;
}

static void test_tcp_roundtrip_order(void **state)
{
	(void)state;
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct net_loop nl;
	struct net_config cfg = test_cfg(0);
	assert_int_equal(net_loop_init(&nl, loop, &cfg), 0);
	struct end a, b;
	end_init(&a, loop);
	end_init(&b, loop);
	struct net_listener l;
	char err[NET_ERR_LEN];
	struct accept_ctx ax = {.nl = &nl, .server = &b};
	assert_int_equal(net_listener_open(&l, &nl, "127.0.0.1", 0, on_accept, &ax, err), 0);
	assert_true(l.port > 0);
	assert_false(l.any);
	struct net_dialer d;
	struct dial_ctx dx = {.end = &a};
	assert_int_equal(net_dialer_start(&d, &nl, "127.0.0.1", l.port, &dial_cbs, &dx), 0);
	struct two t = {.a = &a, .b = &b, .n = 5000};
	run_until(loop, both_connected, &t);
	assert_int_equal(dx.ups, 1);

	/* Thousands of frames queued in one iteration: many per write, many per read. */
	uint8_t val[100];
	memset(val, 'v', sizeof val);
	for (uint64_t i = 1; i <= t.n; i++) {
		struct proto_msg m = msg_seq(i, val, (uint32_t)(i % sizeof val));
		assert_int_equal(net_conn_send(a.c, &m), 0);
		assert_int_equal(net_conn_send(b.c, &m), 0);
	}
	run_until(loop, both_got, &t);
	assert_true(a.order_ok);
	assert_true(b.order_ok);
	assert_int_equal(a.got, t.n);
	assert_int_equal(b.got, t.n);
	assert_true(nl.st.frames_in >= 2 * t.n);
	assert_int_equal(nl.st.frames_rejected, 0);
	/* Batching: far fewer flush passes than frames. */
	assert_true(nl.st.flushes < t.n);

	net_dialer_stop(&d);
	net_listener_close(&l);
	net_loop_destroy(&nl);
	ev_loop_destroy(loop);
}

/* ---- a garbage or oversized frame closes its connection only ---------------------------- */

static bool closed_and_got(void *arg)
{
	struct two *t = arg;
	return t->a->closed == 1 && t->b->got >= t->n;
}

static void hostile(uint8_t *frame, size_t flen, int want_reason, bool oversized)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct net_loop nl;
	struct net_config cfg = test_cfg(0);
	assert_int_equal(net_loop_init(&nl, loop, &cfg), 0);

	/* Victim: a net connection whose peer is a raw socket writing garbage. */
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	struct end victim, x, y;
	end_init(&victim, loop);
	end_init(&x, loop);
	end_init(&y, loop);
	assert_int_equal(net_conn_create(&nl, sv[0], "victim", &cbs, &victim, &victim.c), 0);
	/* A healthy pair on the same loop. */
	pair(&nl, &x, &y);

	/* One good frame first (delivered), then the bad one. */
	struct proto_buf pb;
	proto_buf_init(&pb, 1u << 20);
	struct proto_msg good = msg_seq(1, "v", 1);
	assert_int_equal(proto_encode(&pb, &good, 1u << 20), 0);
	assert_int_equal(write(sv[1], pb.data, pb.len), (ssize_t)pb.len);
	proto_buf_free(&pb);
	assert_int_equal(write(sv[1], frame, flen), (ssize_t)flen);

	for (uint64_t i = 1; i <= 50; i++) {
		struct proto_msg m = msg_seq(i, "v", 1);
		assert_int_equal(net_conn_send(x.c, &m), 0);
	}
	struct two t = {.a = &victim, .b = &y, .n = 50};
	run_until(loop, closed_and_got, &t);
	assert_int_equal(victim.got, 1);
	assert_int_equal(victim.reason, want_reason);
	assert_int_equal(nl.st.frames_rejected, 1);
	assert_int_equal(nl.st.frames_oversized, oversized ? 1 : 0);
	assert_true(y.order_ok);
	/* The healthy pair still works after the close. */
	struct proto_msg m = msg_seq(51, "v", 1);
	assert_int_equal(net_conn_send(x.c, &m), 0);
	t.n = 51;
	run_until(loop, closed_and_got, &t);
	assert_true(y.order_ok);
	close(sv[1]);
	net_loop_destroy(&nl);
	ev_loop_destroy(loop);
}

static void test_garbage_frame(void **state)
{
	(void)state;
	/* A plausible length with a body that is not a message. */
	uint8_t frame[4 + 24];
	frame[0] = 24;
	frame[1] = frame[2] = frame[3] = 0;
	for (int i = 0; i < 24; i++)
		frame[4 + i] = (uint8_t)(0xc1 ^ (i * 37)); /* 0xc1: never used by msgpack */
	hostile(frame, sizeof frame, NET_CLOSE_BAD_FRAME, false);
}

static void test_oversized_frame(void **state)
{
	(void)state;
	/* A header declaring 2 GiB: refused at the header, nothing allocated for it. */
	uint8_t frame[8] = {0x00, 0x00, 0x00, 0x80, 1, 2, 3, 4};
	hostile(frame, sizeof frame, NET_CLOSE_OVERSIZED, true);
}

/* ---- a peer that never reads is disconnected at the output cap -------------------------- */

static void test_output_cap(void **state)
{
	(void)state;
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct net_loop nl;
	struct net_config cfg = test_cfg(64u << 10);
	assert_int_equal(net_loop_init(&nl, loop, &cfg), 0);
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	struct end w;
	end_init(&w, loop);
	assert_int_equal(net_conn_create(&nl, sv[0], "writer", &cbs, &w, &w.c), 0);
	/* sv[1] is never read. */
	static uint8_t val[4000];
	int rc = 0;
	long sent = 0;
	for (int round = 0; round < 100000 && rc == 0; round++) {
		for (int i = 0; i < 8 && rc == 0; i++) {
			struct proto_msg m = msg_seq((uint64_t)++sent, val, sizeof val);
			rc = net_conn_send(w.c, &m);
		}
		if (rc == 0)
			spin(loop, 1); /* flush into the socket until it is full */
	}
	assert_int_equal(rc, -ENOBUFS);
	assert_int_equal(nl.st.overflow_disconnects, 1);
	assert_false(net_conn_is_open(w.c));
	/* Further sends are dropped, not queued; on_close comes from the loop, not from send. */
	struct proto_msg m = msg_seq(1, "v", 1);
	assert_int_equal(net_conn_send(w.c, &m), -EPIPE);
	assert_int_equal(w.closed, 0);
	spin(loop, 2);
	assert_int_equal(w.closed, 1);
	assert_int_equal(w.reason, NET_CLOSE_OVERFLOW);
	assert_null(w.c);
	close(sv[1]);
	net_loop_destroy(&nl);
	ev_loop_destroy(loop);
}

/* ---- pause and resume -------------------------------------------------------------------- */

struct pr {
	struct end *a, *b;
	uint64_t want;
};

static bool flushed_and_got(void *arg)
{
	struct pr *p = arg;
	return net_conn_out_pending(p->a->c) == 0 && p->b->got >= p->want;
}

static void test_pause_resume(void **state)
{
	(void)state;
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct net_loop nl;
	struct net_config cfg = test_cfg(0);
	assert_int_equal(net_loop_init(&nl, loop, &cfg), 0);
	struct end a, b;
	end_init(&a, loop);
	end_init(&b, loop);
	pair(&nl, &a, &b);
	b.pause_at = 3; /* pauses itself from inside on_msg with frames still buffered */
	for (uint64_t i = 1; i <= 10; i++) {
		struct proto_msg m = msg_seq(i, "v", 1);
		assert_int_equal(net_conn_send(a.c, &m), 0);
	}
	struct pr p = {.a = &a, .b = &b, .want = 3};
	run_until(loop, flushed_and_got, &p);
	spin(loop, 50);
	assert_int_equal(b.got, 3);
	assert_true(net_conn_paused(b.c));

	/* More data while paused: not read, not delivered. */
	for (uint64_t i = 11; i <= 20; i++) {
		struct proto_msg m = msg_seq(i, "v", 1);
		assert_int_equal(net_conn_send(a.c, &m), 0);
	}
	spin(loop, 50);
	assert_int_equal(b.got, 3);

	net_conn_resume(b.c);
	assert_int_equal(b.got, 3); /* delivery happens from the loop, not inside resume */
	p.want = 20;
	run_until(loop, flushed_and_got, &p);
	assert_int_equal(b.got, 20);
	assert_true(b.order_ok);

	/* Pause before anything arrives, then resume. */
	net_conn_pause(b.c);
	for (uint64_t i = 21; i <= 30; i++) {
		struct proto_msg m = msg_seq(i, "v", 1);
		assert_int_equal(net_conn_send(a.c, &m), 0);
	}
	spin(loop, 50);
	assert_int_equal(b.got, 20);
	net_conn_resume(b.c);
	p.want = 30;
	run_until(loop, flushed_and_got, &p);
	assert_true(b.order_ok);
	net_loop_destroy(&nl);
	ev_loop_destroy(loop);
}

/* ---- closing from inside a callback ------------------------------------------------------ */

struct closer {
	struct end e;
	uint64_t close_at;
	int sends_after_close; /* net_conn_send results seen inside on_close */
};

static void closer_msg(struct net_conn *c, const struct proto_msg *m, void *arg)
{
	struct closer *k = arg;
	on_msg(c, m, &k->e);
	if (k->e.got == k->close_at) {
		net_conn_close(c);
		/* Still inside the callback: the connection is closed for I/O but not freed. */
		assert_false(net_conn_is_open(c));
		struct proto_msg r = msg_seq(1, "v", 1);
		assert_int_equal(net_conn_send(c, &r), -EPIPE);
		assert_int_equal(k->e.closed, 0);
	}
}

static void closer_close(struct net_conn *c, int reason, void *arg)
{
	struct closer *k = arg;
	struct proto_msg r = msg_seq(1, "v", 1);
	k->sends_after_close = net_conn_send(c, &r);
	on_close(c, reason, &k->e);
}

static const struct net_conn_cbs closer_cbs = {.on_msg = closer_msg, .on_close = closer_close};

static bool closer_done(void *arg)
{
	struct two *t = arg;
	return t->a->closed == 1 && t->b->closed == 1;
}

static void test_close_in_callback(void **state)
{
	(void)state;
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct net_loop nl;
	struct net_config cfg = test_cfg(0);
	assert_int_equal(net_loop_init(&nl, loop, &cfg), 0);
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	struct end a;
	struct closer k;
	end_init(&a, loop);
	end_init(&k.e, loop);
	k.close_at = 5;
	k.sends_after_close = 0;
	assert_int_equal(net_conn_create(&nl, sv[0], "a", &cbs, &a, &a.c), 0);
	assert_int_equal(net_conn_create(&nl, sv[1], "k", &closer_cbs, &k, &k.e.c), 0);
	for (uint64_t i = 1; i <= 20; i++) {
		struct proto_msg m = msg_seq(i, "v", 1);
		assert_int_equal(net_conn_send(a.c, &m), 0);
	}
	/* k closes after 5 of the 20 frames it read in one go; a then sees EOF. */
	struct two t = {.a = &a, .b = &k.e};
	run_until(loop, closer_done, &t);
	assert_int_equal(k.e.got, 5);
	assert_int_equal(k.e.reason, NET_CLOSE_LOCAL);
	assert_int_equal(k.sends_after_close, -EPIPE);
	assert_int_equal(a.reason, NET_CLOSE_EOF);
	assert_int_equal(nl.st.conns_closed, 2);
	net_loop_destroy(&nl);
	ev_loop_destroy(loop);
}

/* ---- emulated delay keeps FIFO and is never early ---------------------------------------- */

struct delay_ctx {
	struct end *a, *b;
	uint64_t sent, total;
	ev_timer burst;
};

static void burst_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct delay_ctx *dc = w->data;
	(void)revents;
	for (int i = 0; i < 25 && dc->sent < dc->total; i++) {
		struct proto_msg m = msg_seq(++dc->sent, "v", 1);
		double now = ev_now(loop);
		memcpy(&m.slot, &now, sizeof now); /* the send time rides in an unused field */
		assert_int_equal(net_conn_send(dc->a->c, &m), 0);
	}
	if (dc->sent >= dc->total)
		ev_timer_stop(loop, w);
}

static bool delay_done(void *arg)
{
	struct delay_ctx *dc = arg;
	return dc->b->got >= dc->total;
}

static void test_delay_fifo(void **state)
{
	(void)state;
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct net_loop nl;
	struct net_config cfg = test_cfg(0);
	assert_int_equal(net_loop_init(&nl, loop, &cfg), 0);
	struct end a, b;
	end_init(&a, loop);
	end_init(&b, loop);
	pair(&nl, &a, &b);
	net_conn_set_delay_us(b.c, 20000);
	b.delay = 0.020;
	struct delay_ctx dc = {.a = &a, .b = &b, .total = 400};
	ev_timer_init(&dc.burst, burst_cb, 0., 0.001);
	dc.burst.data = &dc;
	ev_timer_start(loop, &dc.burst);
	double t0 = ev_now(loop);
	run_until(loop, delay_done, &dc);
	assert_int_equal(b.got, 400);
	assert_true(b.order_ok);
	assert_true(b.delay_ok);
	assert_true(ev_now(loop) - t0 >= 0.020);

	/* Back to no delay: later frames still come after the queued ones. */
	b.delay = 0;
	b.pause_at = 0;
	net_conn_set_delay_us(b.c, 0);
	for (uint64_t i = 401; i <= 500; i++) {
		struct proto_msg m = msg_seq(i, "v", 1);
		assert_int_equal(net_conn_send(a.c, &m), 0);
	}
	dc.total = 500;
	run_until(loop, delay_done, &dc);
	assert_true(b.order_ok);
	net_loop_destroy(&nl);
	ev_loop_destroy(loop);
}

/* ---- the loop's clock: read once per iteration, never back -------------------------------- */

struct clock_ctx {
	struct net_loop *nl;
	uint64_t seen[3]; /* net_loop_now_ns in each of three callbacks */
	uint64_t real[3]; /* the clock read right after it */
	int n;
};

static void clock_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	struct clock_ctx *cc = w->data;
	assert_true(cc->n < 3);
	cc->seen[cc->n] = net_loop_now_ns(cc->nl);
	cc->real[cc->n] = common_now_ns();
	cc->n++;
	/* time passes inside the iteration: the loop's clock does not follow it */
	uint64_t t = common_now_ns();
	while (common_now_ns() - t < 2000000)
		;
}

static void test_loop_clock(void **state)
{
	(void)state;
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct net_loop nl;
	struct net_config cfg = test_cfg(0);
	uint64_t before = common_now_ns();
	assert_int_equal(net_loop_init(&nl, loop, &cfg), 0);
	assert_true(net_loop_now_ns(&nl) >= before);
	struct clock_ctx cc = {.nl = &nl};
	/* two timers due in the same iteration, a third 20 ms later */
	ev_timer t1, t2, t3;
	ev_timer_init(&t1, clock_cb, 0.010, 0.);
	ev_timer_init(&t2, clock_cb, 0.010, 0.);
	ev_timer_init(&t3, clock_cb, 0.030, 0.);
	t1.data = t2.data = t3.data = &cc;
	ev_timer_start(loop, &t1);
	ev_timer_start(loop, &t2);
	uint64_t armed = common_now_ns();
	ev_run(loop, EVRUN_ONCE);
	assert_int_equal(cc.n, 2);
	/* the same time for both, read after the poll (the timers were due) and before the
	 * first callback's own reading, though the first one spent 2 ms */
	assert_true(cc.seen[0] == cc.seen[1]);
	assert_true(cc.seen[0] >= armed + 10000000ull - 1000000ull);
	assert_true(cc.seen[0] <= cc.real[0]);
	assert_true(cc.real[1] - cc.seen[1] >= 2000000ull);
	ev_timer_start(loop, &t3);
	ev_run(loop, EVRUN_ONCE);
	assert_int_equal(cc.n, 3);
	assert_true(cc.seen[2] >= cc.seen[1] + 20000000ull);
	/* a refresh (a call from outside the loop's events) moves it up to now, never back */
	uint64_t r = net_loop_now_refresh(&nl);
	assert_true(r >= cc.real[2] && r == net_loop_now_ns(&nl));
	nl.now_ns += 1000000000ull; /* the loop's clock a second ahead of the real one */
	assert_int_equal(net_loop_now_refresh(&nl), r + 1000000000ull);
	net_loop_destroy(&nl);
	ev_loop_destroy(loop);
}

/* ---- output hold (batchDelayUs): a batch waits for company, never less, order kept -------- */

static bool got_all(void *arg)
{
	struct end *e = arg;
	return e->got >= 100;
}

static bool got_101(void *arg)
{
	struct end *e = arg;
	return e->got >= 101;
}

static void test_output_hold(void **state)
{
	(void)state;
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct net_loop nl;
	struct net_config cfg = test_cfg(0);
	assert_int_equal(net_loop_init(&nl, loop, &cfg), 0);
	struct end a, b;
	end_init(&a, loop);
	end_init(&b, loop);
	pair(&nl, &a, &b);
	net_conn_set_hold_us(a.c, 20000);
	b.delay = 0.020; /* every frame of the batch was queued at the same ev_now */
	ev_now_update(loop);
	double now = ev_now(loop);
	for (uint64_t i = 1; i <= 100; i++) {
		struct proto_msg m = msg_seq(i, "v", 1);
		memcpy(&m.slot, &now, sizeof now);
		assert_int_equal(net_conn_send(a.c, &m), 0);
	}
	uint64_t flushes = nl.st.flushes;
	run_until(loop, got_all, &b);
	assert_int_equal(b.got, 100);
	assert_true(b.order_ok);
	assert_true(b.delay_ok); /* none delivered before the hold expired */
	assert_true(nl.st.flushes >= flushes);
	/* hold 0 again: written at the next flush point */
	net_conn_set_hold_us(a.c, 0);
	b.delay = 0;
	struct proto_msg m = msg_seq(101, "v", 1);
	assert_int_equal(net_conn_send(a.c, &m), 0);
	run_until(loop, got_101, &b);
	assert_true(b.order_ok);
	net_loop_destroy(&nl);
	ev_loop_destroy(loop);
}

/* ---- the dialer retries until the listener exists, and reconnects ------------------------ */

struct redial {
	struct dial_ctx *dx;
	struct net_dialer *d;
	struct end *server;
	int want_ups;
	uint64_t want_failures;
};

static bool redial_cond(void *arg)
{
	struct redial *r = arg;
	return r->dx->ups >= r->want_ups && r->d->failures >= r->want_failures &&
	       (r->want_ups == 0 || r->server->c != NULL);
}

static void test_dialer_retry(void **state)
{
	(void)state;
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct net_loop nl;
	struct net_config cfg = test_cfg(0);
	assert_int_equal(net_loop_init(&nl, loop, &cfg), 0);
	char err[NET_ERR_LEN];
	/* Find a free port, then close it so that the first attempts are refused. */
	struct net_listener l;
	struct end server, client;
	end_init(&server, loop);
	end_init(&client, loop);
	struct accept_ctx ax = {.nl = &nl, .server = &server};
	assert_int_equal(net_listener_open(&l, &nl, "127.0.0.1", 0, on_accept, &ax, err), 0);
	uint16_t port = l.port;
	net_listener_close(&l);

	struct net_dialer d;
	struct dial_ctx dx = {.end = &client};
	assert_int_equal(net_dialer_start(&d, &nl, "127.0.0.1", port, &dial_cbs, &dx), 0);
	struct redial r = {.dx = &dx, .d = &d, .server = &server, .want_failures = 3};
	run_until(loop, redial_cond, &r);
	assert_int_equal(dx.ups, 0);
	assert_true(d.err[0] != '\0');
	/* every failed attempt was reported, with its errno */
	assert_int_equal(dx.fails, d.failures);
	assert_int_equal(dx.fail_err, -ECONNREFUSED);

	assert_int_equal(net_listener_open(&l, &nl, "127.0.0.1", port, on_accept, &ax, err), 0);
	r.want_ups = 1;
	run_until(loop, redial_cond, &r);
	struct proto_msg m = msg_seq(1, "v", 1);
	assert_int_equal(net_conn_send(net_dialer_conn(&d), &m), 0);
	struct two t = {.a = &server, .b = &server, .n = 1};
	run_until(loop, both_got, &t);

	/* The server drops the connection: the dialer reports it and connects again. */
	net_conn_close(server.c);
	r.want_ups = 2;
	run_until(loop, redial_cond, &r);
	assert_int_equal(dx.downs, 1);
	assert_int_equal(server.closed, 1);
	assert_int_equal(server.reason, NET_CLOSE_LOCAL);
	assert_int_equal(dx.fails, d.failures); /* a closed connection is no failed attempt */

	net_dialer_stop(&d);
	net_listener_close(&l);
	net_loop_destroy(&nl);
	ev_loop_destroy(loop);
}

/* ---- listening on an address that is not local falls back to the wildcard --------------- */

static void test_listen_wildcard(void **state)
{
	(void)state;
	char err[NET_ERR_LEN];
	int fd;
	uint16_t port;
	bool any;
	/* 192.0.2.1 (TEST-NET-1) is never an address of this host. */
	assert_int_equal(net_tcp_listen("192.0.2.1", 0, 16, &fd, &port, &any, err), 0);
	assert_true(any);
	assert_true(port > 0);
	close(fd);
	assert_int_equal(net_tcp_listen("127.0.0.1", 0, 16, &fd, &port, &any, err), 0);
	assert_false(any);
	close(fd);
}

/* ---- localSockets: same-host peers over a Unix socket named after the address ------------ */

static bool dial_failed_once(void *arg)
{
	return ((struct dial_ctx *)arg)->fails >= 1;
}

static bool unix_refused_once(void *arg)
{
	return ((struct net_dialer *)arg)->unix_refused;
}

static void test_local_sockets(void **state)
{
	(void)state;
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct net_loop nl;
	struct net_config cfg = test_cfg(0);
	cfg.local_sockets = true;
	assert_int_equal(net_loop_init(&nl, loop, &cfg), 0);
	char err[NET_ERR_LEN];

	/* A listener on its own address also accepts on the name; a dialer of this host uses it,
	 * and frames cross it both ways in order. */
	struct end a, b;
	end_init(&a, loop);
	end_init(&b, loop);
	struct net_listener l;
	struct accept_ctx ax = {.nl = &nl, .server = &b};
	assert_int_equal(net_listener_open(&l, &nl, "127.0.0.1", 0, on_accept, &ax, err), 0);
	assert_true(l.ufd >= 0);
	struct net_dialer d;
	struct dial_ctx dx = {.end = &a};
	assert_int_equal(net_dialer_start(&d, &nl, "127.0.0.1", l.port, &dial_cbs, &dx), 0);
	assert_true(d.local);
	struct two t = {.a = &a, .b = &b, .n = 500};
	run_until(loop, both_connected, &t);
	assert_true(net_conn_is_local(a.c));
	assert_true(net_conn_is_local(b.c));
	assert_string_equal(net_conn_peer(b.c), "local");
	assert_int_equal(nl.st.conns_local, 2);
	for (uint64_t i = 1; i <= t.n; i++) {
		struct proto_msg m = msg_seq(i, "v", 1);
		assert_int_equal(net_conn_send(a.c, &m), 0);
		assert_int_equal(net_conn_send(b.c, &m), 0);
	}
	run_until(loop, both_got, &t);
	assert_true(a.order_ok && b.order_ok);
	net_dialer_stop(&d);
	net_listener_close(&l);
	assert_int_equal(l.ufd, -1);

	/* A listener without the name (opened without localSockets): a first refusal of the name
	 * is not yet an attempt (the peer may be starting); at the second the dialer goes over TCP,
	 * in its first attempt, and no failure is reported. */
	end_init(&a, loop);
	end_init(&b, loop);
	nl.cfg.local_sockets = false;
	assert_int_equal(net_listener_open(&l, &nl, "127.0.0.1", 0, on_accept, &ax, err), 0);
	nl.cfg.local_sockets = true;
	assert_int_equal(l.ufd, -1);
	dx = (struct dial_ctx){.end = &a};
	assert_int_equal(net_dialer_start(&d, &nl, "127.0.0.1", l.port, &dial_cbs, &dx), 0);
	run_until(loop, both_connected, &t);
	assert_false(net_conn_is_local(a.c));
	assert_false(net_conn_is_local(b.c));
	assert_int_equal(nl.st.conns_local, 2);
	assert_int_equal(dx.fails, 0);
	assert_int_equal(d.attempts, 1);
	assert_true(d.unix_refused);
	net_dialer_stop(&d);
	net_listener_close(&l);

	/* Nothing listening: the first attempt fails and says so (callers such as the load
	 * generator's "master unreachable" go by the first attempt's failure). */
	nl.cfg.local_sockets = false;
	assert_int_equal(net_listener_open(&l, &nl, "127.0.0.1", 0, on_accept, &ax, err), 0);
	nl.cfg.local_sockets = true;
	uint16_t closed = l.port;
	net_listener_close(&l);
	dx = (struct dial_ctx){.end = &a};
	assert_int_equal(net_dialer_start(&d, &nl, "127.0.0.1", closed, &dial_cbs, &dx), 0);
	run_until(loop, dial_failed_once, &dx);
	assert_int_equal(d.attempts, 1);
	assert_int_equal(d.failures, 1);
	assert_int_equal(dx.fail_err, -ECONNREFUSED);
	net_dialer_stop(&d);

	/* A peer that gets its name between two attempts (it was starting: its TCP port accepted
	 * already) is reached over Unix: a refusal of the name alone never sends a dialer to TCP
	 * (the first version did, and a cluster started at once kept some peers on TCP). */
	end_init(&a, loop);
	end_init(&b, loop);
	nl.cfg.local_sockets = false;
	assert_int_equal(net_listener_open(&l, &nl, "127.0.0.1", 0, on_accept, &ax, err), 0);
	nl.cfg.local_sockets = true;
	uint16_t starting = l.port;
	dx = (struct dial_ctx){.end = &a};
	assert_int_equal(net_dialer_start(&d, &nl, "127.0.0.1", starting, &dial_cbs, &dx), 0);
	run_until(loop, unix_refused_once, &d);
	assert_int_equal(d.attempts, 0);
	assert_int_equal(dx.fails, 0);
	assert_null(a.c);
	assert_null(b.c);
	net_listener_close(&l);
	assert_int_equal(net_listener_open(&l, &nl, "127.0.0.1", starting, on_accept, &ax, err), 0);
	assert_true(l.ufd >= 0);
	run_until(loop, both_connected, &t);
	assert_true(net_conn_is_local(a.c));
	assert_true(net_conn_is_local(b.c));
	assert_int_equal(nl.st.conns_local, 4);
	net_dialer_stop(&d);
	net_listener_close(&l);

	/* The name taken by another socket: the listener refuses to open (that socket would get
	 * its peers), says why, and leaves the TCP port free. */
	int tfd, squat;
	uint16_t port;
	bool any;
	assert_int_equal(net_tcp_listen("127.0.0.1", 0, 16, &tfd, &port, &any, err), 0);
	close(tfd);
	struct sockaddr_storage sa;
	socklen_t salen;
	assert_int_equal(net_resolve("127.0.0.1", port, &sa, &salen, err), 0);
	assert_int_equal(net_local_listen((struct sockaddr *)&sa, 16, &squat, err), 0);
	assert_int_equal(net_listener_open(&l, &nl, "127.0.0.1", port, on_accept, &ax, err),
			 -EADDRINUSE);
	char want[64];
	snprintf(want, sizeof want, "@curpkv:127.0.0.1:%u", port);
	assert_non_null(strstr(err, want));
	assert_int_equal(net_tcp_listen("127.0.0.1", port, 16, &tfd, &port, &any, err), 0);
	close(tfd);
	close(squat);

	/* The wildcard has no name, and a dialer to an address of another host uses TCP only. */
	assert_int_equal(net_listener_open(&l, &nl, "192.0.2.1", 0, on_accept, &ax, err), 0);
	assert_true(l.any);
	assert_int_equal(l.ufd, -1);
	net_listener_close(&l);
	assert_int_equal(net_dialer_start(&d, &nl, "192.0.2.1", 9, &dial_cbs, &dx), 0);
	assert_false(d.local);
	net_dialer_stop(&d);

	net_loop_destroy(&nl);
	ev_loop_destroy(loop);
}

/* ---- the shared-secret handshake --------------------------------------------------------- */

/* Keys for secret over a one-replica conf (the cluster identity needs one). */
static void make_key(struct auth_key *k, const char *secret)
{
	struct conf *c = NULL;
	assert_int_equal(conf_load_string("t.conf",
					  "-- Replicas --\nreplica0 127.0.0.1\n-- Master --\nm0 "
					  "127.0.0.1\n",
					  &c, NULL),
			 0);
	assert_int_equal(auth_key_init(k, secret, strlen(secret), c), 0);
	conf_free(c);
}

/* One end of an authenticated pair: the server side of a listener. */
struct auth_srv {
	struct net_loop *nl;
	struct end end;
	int auths;
	int send_before_auth; /* net_conn_send's return before the handshake */
};

static void srv_auth(struct net_conn *c, void *arg)
{
	struct auth_srv *sv = arg;
	(void)c;
	sv->auths++;
}

static void srv_msg(struct net_conn *c, const struct proto_msg *m, void *arg)
{
	on_msg(c, m, &((struct auth_srv *)arg)->end);
}

static void srv_close(struct net_conn *c, int reason, void *arg)
{
	on_close(c, reason, &((struct auth_srv *)arg)->end);
}

static const struct net_conn_cbs srv_cbs = {
    .on_msg = srv_msg, .on_close = srv_close, .on_auth = srv_auth};

static void srv_accept(struct net_listener *l, int fd, const char *peer, void *arg)
{
	struct auth_srv *sv = arg;
	(void)l;
	assert_int_equal(net_conn_create(sv->nl, fd, peer, &srv_cbs, sv, &sv->end.c), 0);
	if (sv->nl->cfg.auth) {
		struct proto_msg m = msg_seq(1, "v", 1);
		sv->send_before_auth = net_conn_send(sv->end.c, &m);
	}
}

/* A server loop (replica 0, with `server_key` or no secret) and a client loop (a client, with
 * `client_key` or none) on one ev_loop, the client dialing the server and expecting
 * (expect_role, expect_node). */
struct auth_rig {
	struct ev_loop *loop;
	struct net_loop snl, cnl;
	struct net_listener l;
	struct net_dialer d;
	struct auth_srv sv;
	struct end client;
	struct dial_ctx dx;
};

static void rig_start(struct auth_rig *r, const struct auth_key *server_key,
		      const struct auth_key *client_key, uint8_t expect_role, int32_t expect_node)
{
	memset(r, 0, sizeof *r);
	r->loop = ev_loop_new(EVFLAG_AUTO);
	struct net_config scfg = test_cfg(0), ccfg = test_cfg(0);
	scfg.auth = server_key;
	scfg.role = PROTO_ROLE_REPLICA;
	scfg.node_id = 0;
	ccfg.auth = client_key;
	ccfg.role = PROTO_ROLE_CLIENT;
	ccfg.node_id = -1;
	assert_int_equal(net_loop_init(&r->snl, r->loop, &scfg), 0);
	assert_int_equal(net_loop_init(&r->cnl, r->loop, &ccfg), 0);
	r->sv.nl = &r->snl;
	end_init(&r->sv.end, r->loop);
	end_init(&r->client, r->loop);
	char err[NET_ERR_LEN];
	assert_int_equal(net_listener_open(&r->l, &r->snl, "127.0.0.1", 0, srv_accept, &r->sv, err),
			 0);
	r->dx.end = &r->client;
	assert_int_equal(
	    net_dialer_start(&r->d, &r->cnl, "127.0.0.1", r->l.port, &dial_cbs, &r->dx), 0);
	if (expect_role)
		net_dialer_expect(&r->d, expect_role, expect_node);
}

static void rig_stop(struct auth_rig *r)
{
	net_dialer_stop(&r->d);
	net_listener_close(&r->l);
	net_loop_destroy(&r->cnl);
	net_loop_destroy(&r->snl);
	ev_loop_destroy(r->loop);
}

static bool rig_up(void *arg)
{
	struct auth_rig *r = arg;
	return r->dx.ups > 0 && r->sv.auths > 0;
}

static bool dialer_up_cond(void *arg)
{
	return ((struct auth_rig *)arg)->dx.ups > 0;
}

static bool rig_refused(void *arg)
{
	struct auth_rig *r = arg;
	return r->dx.downs > 0 && r->sv.end.closed > 0;
}

static void test_auth_handshake(void **state)
{
	(void)state;
	struct auth_key k;
	make_key(&k, "the-right-secret-0123");
	struct auth_rig r;
	rig_start(&r, &k, &k, PROTO_ROLE_REPLICA, 0);
	run_until(r.loop, rig_up, &r);
	/* nothing of the owner's left before the handshake ended */
	assert_int_equal(r.sv.send_before_auth, -ENOTCONN);
	assert_int_equal(r.dx.ups, 1);
	assert_true(net_conn_authenticated(r.sv.end.c));
	assert_int_equal(net_conn_peer_role(r.sv.end.c), PROTO_ROLE_CLIENT);
	assert_int_equal(net_conn_peer_node(r.sv.end.c), -1);
	struct net_conn *cc = net_dialer_conn(&r.d);
	assert_int_equal(net_conn_peer_role(cc), PROTO_ROLE_REPLICA);
	assert_int_equal(net_conn_peer_node(cc), 0);
	assert_int_equal(r.snl.st.auth_ok, 1);
	assert_int_equal(r.cnl.st.auth_ok, 1);
	assert_int_equal(r.snl.st.auth_failed + r.cnl.st.auth_failed, 0);
	assert_int_equal(net_loop_unauth(&r.snl), 0);
	/* then frames flow both ways, in order, at full size (the handshake cap is gone) */
	static uint8_t big[60000];
	memset(big, 'b', sizeof big);
	struct two t = {.a = &r.client, .b = &r.sv.end, .n = 100};
	for (uint64_t i = 1; i <= t.n; i++) {
		struct proto_msg m = msg_seq(i, big, i == 1 ? sizeof big : 3);
		assert_int_equal(net_conn_send(cc, &m), 0);
		assert_int_equal(net_conn_send(r.sv.end.c, &m), 0);
	}
	run_until(r.loop, both_got, &t);
	assert_true(r.client.order_ok && r.sv.end.order_ok);
	/* an owner cannot send a handshake message */
	struct proto_msg f = {.type = PROTO_AUTH_FAIL};
	assert_int_equal(net_conn_send(cc, &f), -EINVAL);
	rig_stop(&r);
}

/* Wrong secret, missing secret on either side, and a server that is not the one expected:
 * both ends close with NET_CLOSE_AUTH (the client is told by AUTH_FAIL), nothing reaches an
 * owner, and the failures are counted. */
static void refused(const struct auth_key *skey, const struct auth_key *ckey, uint8_t expect_role,
		    int32_t expect_node, bool client_sends)
{
	struct auth_rig r;
	rig_start(&r, skey, ckey, expect_role, expect_node);
	if (client_sends) {
		/* a client without a secret is up at once and speaks first */
		run_until(r.loop, dialer_up_cond, &r);
		struct proto_msg m = msg_seq(1, "v", 1);
		assert_int_equal(net_conn_send(net_dialer_conn(&r.d), &m), 0);
	}
	run_until(r.loop, rig_refused, &r);
	assert_int_equal(r.client.reason, NET_CLOSE_AUTH);
	assert_int_equal(r.sv.end.got, 0);
	assert_int_equal(r.client.got, 0);
	assert_int_equal(r.sv.auths, 0);
	assert_int_equal(r.snl.st.auth_ok, 0);
	assert_true(r.snl.st.auth_failed >= 1);
	assert_true(r.cnl.st.auth_failed >= 1);
	assert_int_equal(net_loop_unauth(&r.snl), 0);
	if (ckey) {
		assert_int_equal(r.dx.ups, 0); /* never up */
		assert_non_null(strstr(r.d.err, "authentication failed"));
	}
	rig_stop(&r);
}

static void test_auth_refused(void **state)
{
	(void)state;
	struct auth_key k, other;
	make_key(&k, "the-right-secret-0123");
	make_key(&other, "another-secret-456789");
	refused(&k, &other, 0, -1, false);	       /* wrong secret */
	refused(&other, &k, 0, -1, false);	       /* the other way round */
	refused(&k, NULL, 0, -1, true);		       /* the client has no secret */
	refused(NULL, &k, 0, -1, false);	       /* the server has none */
	refused(&k, &k, PROTO_ROLE_REPLICA, 1, false); /* replica 0, not 1 */
	refused(&k, &k, PROTO_ROLE_MASTER, -1, false); /* not the master */
}

/* A raw peer on a socketpair facing an acceptor with a secret: returns the acceptor end. */
static int raw_acceptor(struct net_loop *nl, struct end *e)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(net_conn_create(nl, sv[0], "raw", &cbs, e, &e->c), 0);
	assert_int_equal(net_loop_unauth(nl), 1);
	return sv[1];
}

static bool end_closed(void *arg)
{
	return ((struct end *)arg)->closed > 0;
}

/* Reads what the acceptor wrote until EOF; true if it is exactly one AUTH_FAIL frame. */
static bool got_auth_fail_then_eof(int fd)
{
	uint8_t buf[256];
	size_t len = 0;
	ssize_t n;
	while ((n = read(fd, buf + len, sizeof buf - len)) > 0)
		len += (size_t)n;
	if (n < 0 || proto_frame_peek(buf, len, 128) != (long)len)
		return false;
	struct proto_msg m;
	static const struct proto_limits lim = {.max_frame = 128, .max_key = 8, .max_value = 8};
	return proto_decode(buf + 4, len - 4, &lim, &m) == 0 && m.type == PROTO_AUTH_FAIL;
}

static void test_auth_deadline_and_caps(void **state)
{
	(void)state;
	struct auth_key k;
	make_key(&k, "the-right-secret-0123");
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct net_loop nl;
	struct net_config cfg = test_cfg(0);
	cfg.auth = &k;
	cfg.role = PROTO_ROLE_REPLICA;
	cfg.node_id = 0;
	cfg.auth_timeout_s = 0.2;
	assert_int_equal(net_loop_init(&nl, loop, &cfg), 0);

	/* silent: closed at the deadline, told AUTH_FAIL */
	struct end e;
	end_init(&e, loop);
	int fd = raw_acceptor(&nl, &e);
	run_until(loop, end_closed, &e);
	assert_int_equal(e.reason, NET_CLOSE_AUTH_TIMEOUT);
	assert_true(got_auth_fail_then_eof(fd));
	close(fd);
	assert_int_equal(nl.st.auth_failed, 1);

	/* a first frame above NET_AUTH_MAX_FRAME: refused at its header */
	end_init(&e, loop);
	fd = raw_acceptor(&nl, &e);
	uint8_t hdr[4 + 8] = {NET_AUTH_MAX_FRAME + 1, 0, 0, 0};
	assert_int_equal(write(fd, hdr, sizeof hdr), (ssize_t)sizeof hdr);
	run_until(loop, end_closed, &e);
	assert_int_equal(e.reason, NET_CLOSE_AUTH);
	assert_true(got_auth_fail_then_eof(fd));
	close(fd);
	assert_int_equal(nl.st.frames_oversized, 1);

	/* a plain HELLO (a peer without the secret) and a message behind it: nothing delivered */
	end_init(&e, loop);
	fd = raw_acceptor(&nl, &e);
	struct proto_buf pb;
	proto_buf_init(&pb, 1u << 20);
	struct proto_msg hello = {.type = PROTO_HELLO, .role = PROTO_ROLE_REPLICA, .node_id = 1};
	struct proto_msg acc = msg_seq(1, "v", 1);
	acc.type = PROTO_ACCEPT;
	assert_int_equal(proto_encode(&pb, &hello, 1u << 20), 0);
	assert_int_equal(proto_encode(&pb, &acc, 1u << 20), 0);
	assert_int_equal(write(fd, pb.data, pb.len), (ssize_t)pb.len);
	proto_buf_free(&pb);
	run_until(loop, end_closed, &e);
	assert_int_equal(e.reason, NET_CLOSE_AUTH);
	assert_int_equal(e.got, 0);
	assert_true(got_auth_fail_then_eof(fd));
	close(fd);
	assert_int_equal(nl.st.auth_failed, 3);
	assert_int_equal(nl.st.auth_ok, 0);
	assert_int_equal(net_loop_unauth(&nl), 0);

	net_loop_destroy(&nl);
	ev_loop_destroy(loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_tcp_roundtrip_order),
	    cmocka_unit_test(test_garbage_frame),
	    cmocka_unit_test(test_oversized_frame),
	    cmocka_unit_test(test_output_cap),
	    cmocka_unit_test(test_pause_resume),
	    cmocka_unit_test(test_close_in_callback),
	    cmocka_unit_test(test_delay_fifo),
	    cmocka_unit_test(test_loop_clock),
	    cmocka_unit_test(test_output_hold),
	    cmocka_unit_test(test_dialer_retry),
	    cmocka_unit_test(test_listen_wildcard),
	    cmocka_unit_test(test_local_sockets),
	    cmocka_unit_test(test_auth_handshake),
	    cmocka_unit_test(test_auth_refused),
	    cmocka_unit_test(test_auth_deadline_and_caps),
	};
	return cmocka_run_group_tests_name("net", tests, NULL, NULL);
}
