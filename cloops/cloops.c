/* cloops: client-connection loops and the SPSC-ring hand-off to the core's loop. */
#include "cloops/cloops.h"

#include <ck_pr.h>
#include <ck_ring.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/auth.h"
#include "cmap/cmap.h"
#include "common/tsan.h"

#define RING_SIZE 4096u /* entries per ring (power of two) */
#define LOCAL_ID_MASK ((UINT64_C(1) << 56) - 1)

enum xkind { XM_ADOPT = 1, XM_FRAME };

/* One message between threads; owned by whoever holds it (the producer until the enqueue
 * succeeds, then the consumer). */
struct xmsg {
	struct xmsg *next; /* producer-private overflow FIFO */
	uint64_t conn;	   /* FRAME: the connection (loop-local id towards a loop, full id back) */
	int fd;		   /* ADOPT */
	uint32_t delay_us; /* ADOPT */
	uint8_t kind;
	char peer[64];	   /* ADOPT */
	size_t len;
	uint8_t data[];	   /* FRAME: one encoded frame; ADOPT: bytes already read */
};

/* One direction between two threads: a ck SPSC ring plus the producer's overflow FIFO. */
struct xq {
	ck_ring_t ring;
	ck_ring_buffer_t *buf;
	struct xmsg *ovf_head, *ovf_tail; /* producer only */
};

struct cloop {
	struct cloops *owner;
	int idx;
	pthread_t th;
	bool started;
	struct ev_loop *loop;
	struct net_loop nl;
	ev_async wake;	    /* the main loop's messages and commands */
	struct xq in;	    /* main -> this loop */
	struct xq out;	    /* this loop -> main */
	struct cmap *conns; /* local id -> struct net_conn * (this thread only) */
	bool out_pushed;    /* something went to main since the last wake-up sent */
	bool intake_applied;
	struct proto_buf scratch;
	uint32_t live;	   /* ck_pr: live connections (main increments on adopt) */
	uint64_t rejected; /* ck_pr: copy of nl.st.frames_rejected */
	uint64_t role_violations; /* ck_pr: written by this loop, read by main */
	int stop;	   /* ck_pr */
};

struct cloops {
	int n;
	struct ev_loop *main;
	ev_async main_wake;
	cloops_msg_fn fn;
	void *ctx;
	struct proto_limits lim;
	struct proto_buf scratch; /* main-side encoding */
	struct proto_msg msg;	  /* main-side decoding */
	struct proto_decoder dec; /* (its zone, kept from message to message) */
	int intake;		  /* ck_pr: 1 open, 0 closed */
	bool deferred;		  /* cloops_set_deferred (main side only) */
	struct cloop loops[];
};

/* ---- rings ---------------------------------------------------------------------------- */

static int xq_init(struct xq *q)
{
	q->buf = calloc(RING_SIZE, sizeof *q->buf);
	if (q->buf == NULL)
		return -ENOMEM;
	ck_ring_init(&q->ring, RING_SIZE);
	q->ovf_head = q->ovf_tail = NULL;
	return 0;
}

/* Producer: moves the overflow FIFO into the ring while it has room. Returns true if anything
 * was enqueued. */
static bool xq_flush(struct xq *q)
{
	bool moved = false;
	while (q->ovf_head) {
		struct xmsg *x = q->ovf_head;
		common_tsan_release(x);
		if (!ck_ring_enqueue_spsc(&q->ring, q->buf, x))
			break;
		q->ovf_head = x->next;
		if (q->ovf_head == NULL)
			q->ovf_tail = NULL;
		moved = true;
	}
	return moved;
}

/* Producer: queues x after anything waiting, for the next xq_flush to publish. */
static void xq_hold(struct xq *q, struct xmsg *x)
{
	x->next = NULL;
	if (q->ovf_tail)
		q->ovf_tail->next = x;
	else
		q->ovf_head = x;
	q->ovf_tail = x;
}

/* Producer: enqueues x (after anything already waiting, so order is kept). */
static void xq_push(struct xq *q, struct xmsg *x)
{
	x->next = NULL;
	if (q->ovf_head == NULL) {
		common_tsan_release(x);
		if (ck_ring_enqueue_spsc(&q->ring, q->buf, x))
			return;
	}
	if (q->ovf_tail)
		q->ovf_tail->next = x;
	else
		q->ovf_head = x;
	q->ovf_tail = x;
}

/* Consumer: takes up to max messages. */
static unsigned xq_take(struct xq *q, struct xmsg **out, unsigned max)
{
	unsigned n = 0;
	while (n < max && ck_ring_dequeue_spsc(&q->ring, q->buf, &out[n])) {
		common_tsan_acquire(out[n]);
		n++;
	}
	return n;
}

static void xmsg_free(struct xmsg *x)
{
	if (x->kind == XM_ADOPT && x->fd >= 0)
		close(x->fd);
	free(x);
}

static void xq_free(struct xq *q)
{
	struct xmsg *x;
	if (q->buf) {
		while (ck_ring_dequeue_spsc(&q->ring, q->buf, &x))
			xmsg_free(x);
		free(q->buf);
	}
	while ((x = q->ovf_head) != NULL) {
		q->ovf_head = x->next;
		xmsg_free(x);
	}
}

/* Encodes m into a FRAME message. */
static struct xmsg *frame_msg(struct proto_buf *scratch, uint64_t conn, const struct proto_msg *m,
			      uint32_t max_frame)
{
	scratch->len = 0;
	if (proto_encode(scratch, m, max_frame) != 0)
		return NULL;
	struct xmsg *x = malloc(sizeof *x + scratch->len);
	if (x == NULL)
		return NULL;
	x->kind = XM_FRAME;
	x->conn = conn;
	x->fd = -1;
	x->len = scratch->len;
	memcpy(x->data, scratch->data, scratch->len);
	return x;
}

/* ---- inside a client loop ---------------------------------------------------------------- */

static void lconn_msg(struct net_conn *c, const struct proto_msg *m, void *arg)
{
	struct cloop *l = arg;
	if (m->type == PROTO_HELLO) {
		net_conn_close(c); /* a second HELLO: protocol violation */
		return;
	}
	if (!auth_may_send(AUTH_TO_REPLICA, PROTO_ROLE_CLIENT, m->type)) {
		/* every connection here said HELLO as a client (server.c hands only those over) */
		ck_pr_inc_64(&l->role_violations);
		net_conn_close(c);
		return;
	}
	uint64_t id = (uint64_t)(l->idx + 1) << 56 | (net_conn_id(c) & LOCAL_ID_MASK);
	struct xmsg *x = frame_msg(&l->scratch, id, m, l->owner->lim.max_frame);
	if (x == NULL) {
		net_conn_close(c);
		return;
	}
	xq_push(&l->out, x);
	l->out_pushed = true;
}

static void lconn_close(struct net_conn *c, int reason, void *arg)
{
	struct cloop *l = arg;
	(void)reason;
	cmap_del_u64(l->conns, net_conn_id(c) & LOCAL_ID_MASK, NULL);
	ck_pr_dec_32(&l->live);
}

static const struct net_conn_cbs lconn_cbs = {.on_msg = lconn_msg, .on_close = lconn_close};

static void read_conn_cb(const void *key, size_t klen, void *val, void *arg)
{
	*(struct net_conn **)arg = val;
}

static int apply_intake_cb(const void *key, size_t klen, void *val, void *arg)
{
	if (*(bool *)arg)
		net_conn_resume(val);
	else
		net_conn_pause(val);
	return 0;
}

static void loop_adopt(struct cloop *l, struct xmsg *x)
{
	struct net_conn *c;
	int fd = x->fd;
	x->fd = -1;
	if (net_conn_create(&l->nl, fd, x->peer, &lconn_cbs, l, &c) != 0) {
		ck_pr_dec_32(&l->live); /* fd closed by net_conn_create */
		return;
	}
	net_conn_set_delay_us(c, x->delay_us);
	if (cmap_put_u64(l->conns, net_conn_id(c) & LOCAL_ID_MASK, c, NULL) != 0 ||
	    net_conn_inject(c, x->data, x->len) != 0) {
		net_conn_close(c);
		return;
	}
	if (!l->intake_applied)
		net_conn_pause(c);
}

static void loop_wake_cb(struct ev_loop *loop, ev_async *w, int revents)
{
	struct cloop *l = w->data;
	(void)revents;
	if (ck_pr_load_int(&l->stop)) {
		ev_break(loop, EVBREAK_ALL);
		return;
	}
	bool open = ck_pr_load_int(&l->owner->intake) != 0;
	if (open != l->intake_applied) {
		l->intake_applied = open;
		cmap_foreach(l->conns, apply_intake_cb, &open);
	}
	/* Two phases: take a bounded batch, then process it. */
	struct xmsg *batch[CLOOPS_BATCH];
	unsigned n = xq_take(&l->in, batch, CLOOPS_BATCH);
	for (unsigned i = 0; i < n; i++) {
		struct xmsg *x = batch[i];
		if (x->kind == XM_ADOPT) {
			loop_adopt(l, x);
		} else {
			struct net_conn *c = NULL;
			cmap_get_u64(l->conns, x->conn, read_conn_cb, &c);
			if (c)
				(void)net_conn_send_frame(c, x->data, x->len);
		}
		free(x);
	}
	if (n == CLOOPS_BATCH)
		ev_async_send(loop, &l->wake); /* more waiting: continue after other events */
}

static void loop_pre_flush(void *arg)
{
	struct cloop *l = arg;
	if (xq_flush(&l->out))
		l->out_pushed = true;
	if (l->out_pushed) {
		l->out_pushed = false;
		ev_async_send(l->owner->main, &l->owner->main_wake);
	}
	ck_pr_store_64(&l->rejected, l->nl.st.frames_rejected);
}

static void *loop_thread(void *arg)
{
	struct cloop *l = arg;
	ev_run(l->loop, 0);
	return NULL;
}

/* ---- the main loop's side ------------------------------------------------------------- */

static void main_wake_cb(struct ev_loop *loop, ev_async *w, int revents)
{
	struct cloops *cl = w->data;
	(void)revents;
	bool more = false;
	struct xmsg *batch[CLOOPS_BATCH];
	for (int i = 0; i < cl->n; i++) {
		unsigned n = xq_take(&cl->loops[i].out, batch, CLOOPS_BATCH);
		more = more || n == CLOOPS_BATCH;
		for (unsigned k = 0; k < n; k++) {
			struct xmsg *x = batch[k];
			/* Checked by the client loop already; decoding again cannot fail, but a
			 * failure is still only a dropped message, never trusted input. (The
			 * decoder clears the message itself: proto_decode's contract.) */
			if (proto_decode_with(&cl->dec, x->data + PROTO_FRAME_HEADER,
					      x->len - PROTO_FRAME_HEADER, &cl->lim, &cl->msg) == 0)
				cl->fn(cl->ctx, x->conn, &cl->msg);
			free(x);
		}
	}
	if (more)
		ev_async_send(loop, &cl->main_wake);
}

int cloops_create(int n, struct ev_loop *main, const struct net_config *ncfg, cloops_msg_fn fn,
		  void *ctx, struct cloops **out)
{
	if (n < 2 || n > CLOOPS_MAX)
		return -EINVAL;
	struct cloops *cl = calloc(1, sizeof *cl + (size_t)n * sizeof cl->loops[0]);
	if (cl == NULL)
		return -ENOMEM;
	int rc = 0;
	cl->n = n;
	cl->main = main;
	cl->fn = fn;
	cl->ctx = ctx;
	cl->lim = ncfg->lim;
	cl->intake = 1;
	proto_buf_init(&cl->scratch, (size_t)ncfg->lim.max_frame + PROTO_FRAME_HEADER);
	ev_async_init(&cl->main_wake, main_wake_cb);
	cl->main_wake.data = cl;
	ev_async_start(main, &cl->main_wake);
	for (int i = 0; i < n; i++) {
		struct cloop *l = &cl->loops[i];
		l->owner = cl;
		l->idx = i;
		l->intake_applied = true;
		proto_buf_init(&l->scratch, (size_t)ncfg->lim.max_frame + PROTO_FRAME_HEADER);
		l->loop = ev_loop_new(EVFLAG_AUTO);
		/* adopted connections completed their handshake on the main loop: none here */
		struct net_config lcfg = *ncfg;
		lcfg.auth = NULL;
		if (l->loop == NULL || xq_init(&l->in) != 0 || xq_init(&l->out) != 0 ||
		    cmap_create_lock(16, NULL, CMAP_LOCK_NONE, &l->conns) != 0 ||
		    net_loop_init(&l->nl, l->loop, &lcfg) != 0) {
			rc = -ENOMEM;
			goto err;
		}
		net_loop_set_pre_flush(&l->nl, loop_pre_flush, l);
		ev_async_init(&l->wake, loop_wake_cb);
		l->wake.data = l;
		ev_async_start(l->loop, &l->wake);
		if (pthread_create(&l->th, NULL, loop_thread, l) != 0) {
			rc = -EAGAIN;
			goto err;
		}
		l->started = true;
	}
	*out = cl;
	return 0;
err:
	cloops_destroy(cl);
	return rc;
}

void cloops_destroy(struct cloops *cl)
{
	if (cl == NULL)
		return;
	for (int i = 0; i < cl->n; i++) {
		struct cloop *l = &cl->loops[i];
		if (l->started) {
			ck_pr_store_int(&l->stop, 1);
			ev_async_send(l->loop, &l->wake);
			pthread_join(l->th, NULL);
		}
	}
	ev_async_stop(cl->main, &cl->main_wake);
	for (int i = 0; i < cl->n; i++) {
		struct cloop *l = &cl->loops[i];
		if (l->loop) {
			if (l->nl.loop)
				net_loop_destroy(&l->nl);
			ev_async_stop(l->loop, &l->wake);
			ev_loop_destroy(l->loop);
		}
		xq_free(&l->in);
		xq_free(&l->out);
		if (l->conns)
			cmap_destroy(l->conns);
		proto_buf_free(&l->scratch);
	}
	proto_buf_free(&cl->scratch);
	proto_decoder_free(&cl->dec);
	free(cl);
}

int cloops_adopt(struct cloops *cl, int fd, uint8_t *rest, size_t rest_len, const char *peer,
		 uint32_t delay_us)
{
	/* Placement by load: the loop with the fewest live connections. */
	int best = 0;
	uint32_t best_live = UINT32_MAX;
	for (int i = 0; i < cl->n; i++) {
		uint32_t live = ck_pr_load_32(&cl->loops[i].live);
		if (live < best_live) {
			best_live = live;
			best = i;
		}
	}
	struct xmsg *x = malloc(sizeof *x + rest_len);
	if (x == NULL) {
		close(fd);
		free(rest);
		return -ENOMEM;
	}
	x->kind = XM_ADOPT;
	x->fd = fd;
	x->conn = 0;
	x->delay_us = delay_us;
	snprintf(x->peer, sizeof x->peer, "%s", peer ? peer : "?");
	x->len = rest_len;
	if (rest_len)
		memcpy(x->data, rest, rest_len);
	free(rest);
	struct cloop *l = &cl->loops[best];
	ck_pr_inc_32(&l->live);
	xq_push(&l->in, x);
	ev_async_send(l->loop, &l->wake);
	return 0;
}

int cloops_send(struct cloops *cl, uint64_t conn, const struct proto_msg *m)
{
	uint64_t idx = conn >> 56;
	if (idx == 0 || idx > (uint64_t)cl->n)
		return -EINVAL;
	struct xmsg *x = frame_msg(&cl->scratch, conn & LOCAL_ID_MASK, m, cl->lim.max_frame);
	if (x == NULL)
		return -ENOMEM;
	struct cloop *l = &cl->loops[idx - 1];
	if (cl->deferred) {
		xq_hold(&l->in, x); /* published by cloops_flush */
		return 0;
	}
	xq_push(&l->in, x);
	ev_async_send(l->loop, &l->wake);
	return 0;
}

void cloops_set_deferred(struct cloops *cl, bool on)
{
	cl->deferred = on;
}

void cloops_set_intake(struct cloops *cl, bool open)
{
	ck_pr_store_int(&cl->intake, open ? 1 : 0);
	for (int i = 0; i < cl->n; i++)
		ev_async_send(cl->loops[i].loop, &cl->loops[i].wake);
}

void cloops_flush(struct cloops *cl)
{
	for (int i = 0; i < cl->n; i++)
		if (xq_flush(&cl->loops[i].in))
			ev_async_send(cl->loops[i].loop, &cl->loops[i].wake);
}

uint32_t cloops_conns(const struct cloops *cl)
{
	uint32_t n = 0;
	for (int i = 0; i < cl->n; i++)
		n += ck_pr_load_32((uint32_t *)&cl->loops[i].live);
	return n;
}

uint64_t cloops_frames_rejected(const struct cloops *cl)
{
	uint64_t n = 0;
	for (int i = 0; i < cl->n; i++)
		n += ck_pr_load_64((uint64_t *)&cl->loops[i].rejected);
	return n;
}

uint64_t cloops_role_violations(const struct cloops *cl)
{
	uint64_t n = 0;
	for (int i = 0; i < cl->n; i++)
		n += ck_pr_load_64((uint64_t *)&cl->loops[i].role_violations);
	return n;
}
