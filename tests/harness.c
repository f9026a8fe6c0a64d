#include "tests/harness.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define H_BUF_LIMIT (64u << 20)
#define H_MAX_FRAME (1u << 20)

static struct h_chan *chan(struct harness *h, enum h_chan_kind k, int a, int b)
{
	switch (k) {
	case H_PEER:
		return &h->peer[a][b];
	case H_C2R:
		return &h->c2r[a][b];
	default:
		return &h->r2c[a][b];
	}
}

/* Queues m on c. A frame that cannot be encoded for want of memory is lost, as a frame a
 * connection could not buffer (tests that make allocations fail: tests/failalloc.h). */
static void push(struct harness *h, struct h_chan *c, const struct proto_msg *m)
{
	int rc = proto_encode(&c->buf, m, H_MAX_FRAME);
	if (rc == -ENOMEM) {
		h->nomem_lost++;
		return;
	}
	if (rc != 0) {
		fprintf(stderr, "harness: encode %s failed: %d\n", proto_type_name(m->type), rc);
		abort();
	}
}

static void r_to_peer(void *ctx, int to, const struct proto_msg *m)
{
	struct h_rctx *r = ctx;
	if (r->h->down[r->id] || r->h->down[to])
		return;
	push(r->h, &r->h->peer[r->id][to], m);
}

static void r_to_client(void *ctx, uint64_t conn, const struct proto_msg *m)
{
	struct h_rctx *r = ctx;
	if (r->h->down[r->id])
		return;
	push(r->h, &r->h->r2c[r->id][conn - 1], m);
}

static void r_executed(void *ctx, const struct proto_cid *cid, uint64_t slot)
{
	struct h_rctx *r = ctx;
	struct harness *h = r->h;
	if (h->on_executed == NULL || cid->client < 100 || cid->client >= 100 + H_MAX_IDS)
		return;
	uint64_t i = cid->client - 100;
	if (i < H_MAX_SESSIONS) /* a session's first id (or one given it by h_bind_id) */
		h->on_executed(h, r->id, (int)i, cid->seq, slot);
	else if (h->id_sess[i] > 0)
		h->on_executed(h, r->id, h->id_sess[i] - 1, cid->seq + h->id_base[i], slot);
}

static void r_intake(void *ctx, bool open)
{
	struct h_rctx *r = ctx;
	r->h->intake[r->id] = open;
}

static void s_send(void *ctx, int to, const struct proto_msg *m)
{
	struct h_sctx *s = ctx;
	if (s->h->down[to])
		return;
	push(s->h, &s->h->c2r[s->id][to], m);
}

/* Appends raw (already framed) bytes to a channel's buffer. Returns 0 or -ENOMEM. */
static int buf_append(struct proto_buf *b, const uint8_t *p, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n)
			cap *= 2;
		uint8_t *d = realloc(b->data, cap);
		if (d == NULL)
			return -ENOMEM;
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

static void s_ordered(void *ctx, uint64_t seq, uint64_t slot)
{
	struct h_sctx *s = ctx;
	if (s->h->on_ordered)
		s->h->on_ordered(s->h, s->id, seq, slot);
}

static void s_need_id(void *ctx)
{
	struct h_sctx *s = ctx;
	s->h->want_id[s->id] = true; /* (the master answers a moment later: h_advance) */
}

/* Hands the sessions that asked a new client id each (h_advance). */
static void give_ids(struct harness *h)
{
	for (int s = 0; s < h->nsess; s++) {
		if (!h->want_id[s] || h->paused[s] || h->next_id >= 100 + H_MAX_IDS)
			continue;
		h->want_id[s] = false;
		uint64_t id = h->next_id++;
		if (session_set_client_id(h->sess[s], id, h->now) != 0)
			abort();
		h->id_sess[id - 100] = s + 1;
		h->id_base[id - 100] = session_seq_base(h->sess[s]);
		h->new_ids++;
	}
}

static size_t r_peer_backlog(void *ctx, int peer)
{
	struct h_rctx *rc = ctx;
	struct harness *h = rc->h;
	if (peer < 0 || peer >= h->n || h->down[peer])
		return SIZE_MAX;
	return h->peer[rc->id][peer].buf.len;
}

static void r_note(void *ctx, bool detail, const char *line)
{
	struct h_rctx *rc = ctx;
	(void)detail;
	if (rc->h->notes)
		fprintf(stderr, "sim: t=%llu replica %d: %s\n", (unsigned long long)rc->h->now,
			rc->id, line);
}

/* Creates replica r's core; returns its protocol. */
/* Appends [type u8][len u32][bytes] to a record list. */
static void wal_put(struct h_wal *w, int r, uint8_t type, const uint8_t *p, uint32_t len)
{
	if (w->n + 5 + len > w->cap) {
		size_t ncap = w->cap ? w->cap : 4096;
		while (ncap < w->n + 5 + len)
			ncap *= 2;
		uint8_t *np = realloc(w->p, ncap);
		if (np == NULL) {
			fprintf(stderr, "harness: replica %d: out of memory (its log): stopping\n",
				r);
			abort();
		}
		w->p = np;
		w->cap = ncap;
	}
	w->p[w->n] = type;
	memcpy(w->p + w->n + 1, &len, 4);
	if (len)
		memcpy(w->p + w->n + 5, p, len);
	w->n += 5 + len;
	w->records++;
}

/* core_io.persist: the replica's record list. */
static void r_persist(void *ctx, uint8_t type, const uint8_t *p, uint32_t len)
{
	struct h_rctx *x = ctx;
	if (x->h->durable)
		wal_put(&x->h->wal[x->id], x->id, type, p, len);
}

struct h_snap_ctx {
	struct h_wal w;
	int r;
};

static void snap_put(void *ctx, uint8_t type, const uint8_t *p, uint32_t len)
{
	struct h_snap_ctx *k = ctx;
	wal_put(&k->w, k->r, type, p, len);
}

bool h_snapshot(struct harness *h, int r)
{
	struct h_snap_ctx k = {.r = r};
	int rc = core_snapshot(h->cores[r], snap_put, &k);
	if (rc != 0) {
		free(k.w.p);
		return false; /* (a transfer arriving: later) */
	}
	free(h->wal[r].p);
	h->wal[r] = k.w;
	h->snapshots++;
	return true;
}

static enum conf_protocol h_new_core(struct harness *h, int r, bool rejoin)
{
	struct core_config cfg;
	core_config_default(&cfg, r, h->n);
	if (h->core_cfg_fn)
		h->core_cfg_fn(&cfg);
	cfg.rejoin = rejoin;
	h->rctx[r] = (struct h_rctx){.h = h, .id = r};
	h->intake[r] = true;
	struct core_io io = {.ctx = &h->rctx[r],
			     .to_peer = r_to_peer,
			     .to_client = r_to_client,
			     .client_intake = r_intake,
			     .executed = r_executed,
			     .note = r_note,
			     .peer_backlog = r_peer_backlog,
			     .persist = r_persist};
	int rc = core_create(&cfg, h->leader, &io, &h->cores[r]);
	if (rc == -ENOMEM) /* (a restart, in a test that makes allocations fail) */
		fprintf(stderr,
			"harness: replica %d: out of memory (creating its core): stopping\n", r);
	if (rc != 0)
		abort();
	return cfg.protocol; /* the sessions speak the replicas' protocol */
}

void h_init(struct harness *h, int n, int nsess, uint32_t window, uint64_t seed,
	    void (*core_cfg_fn)(struct core_config *cfg))
{
	memset(h, 0, sizeof *h);
	h->n = n;
	h->nsess = nsess;
	h->leader = 0;
	h->now = 1000000000ull;
	h->lim =
	    (struct proto_limits){.max_frame = H_MAX_FRAME, .max_key = 1024, .max_value = 65536};
	common_rng_seed(&h->rng, seed);
	for (int i = 0; i < H_MAX_REPLICAS; i++)
		for (int j = 0; j < H_MAX_REPLICAS; j++)
			proto_buf_init(&h->peer[i][j].buf, H_BUF_LIMIT);
	for (int i = 0; i < H_MAX_SESSIONS; i++)
		for (int j = 0; j < H_MAX_REPLICAS; j++) {
			proto_buf_init(&h->c2r[i][j].buf, H_BUF_LIMIT);
			proto_buf_init(&h->r2c[j][i].buf, H_BUF_LIMIT);
		}
	h->core_cfg_fn = core_cfg_fn;
	h->next_id = 100 + H_MAX_SESSIONS;
	enum conf_protocol proto = CONF_PROTO_CURP;
	for (int r = 0; r < n; r++)
		proto = h_new_core(h, r, false);
	h->window = window;
	h->proto = proto;
	for (int s = 0; s < nsess; s++)
		h_bind(h, s, -1);
}

void h_bind(struct harness *h, int s, int r)
{
	h_bind_id(h, s, r, 100 + (uint64_t)s);
}

void h_bind_id(struct harness *h, int s, int r, uint64_t client_id)
{
	session_destroy(h->sess[s]);
	struct session_config cfg;
	session_config_default(&cfg, client_id, h->n);
	cfg.max_inflight = h->window;
	cfg.protocol = h->proto;
	cfg.preferred = r;
	cfg.lease_ns = h->lease_ns;
	cfg.id_ns = h->now;
	h->sctx[s] = (struct h_sctx){.h = h, .id = s};
	struct session_io io = {.ctx = &h->sctx[s],
				.send = s_send,
				.ordered = s_ordered,
				.need_id = h->lease_ns ? s_need_id : NULL};
	if (session_create(&cfg, 0, h->leader, &io, &h->sess[s]) != 0)
		abort();
	if (client_id >= 100 + H_MAX_SESSIONS && client_id < 100 + H_MAX_IDS) {
		h->id_sess[client_id - 100] = s + 1;
		h->id_base[client_id - 100] = 0;
	}
}

void h_free(struct harness *h)
{
	free(h->take_buf.p);
	free(h->deliver_buf.p);
	for (int r = 0; r < H_MAX_REPLICAS; r++)
		free(h->wal[r].p);
	for (int r = 0; r < h->n; r++)
		core_destroy(h->cores[r]);
	for (int s = 0; s < h->nsess; s++)
		session_destroy(h->sess[s]);
	for (int i = 0; i < H_MAX_REPLICAS; i++)
		for (int j = 0; j < H_MAX_REPLICAS; j++)
			proto_buf_free(&h->peer[i][j].buf);
	for (int i = 0; i < H_MAX_SESSIONS; i++)
		for (int j = 0; j < H_MAX_REPLICAS; j++) {
			proto_buf_free(&h->c2r[i][j].buf);
			proto_buf_free(&h->r2c[j][i].buf);
		}
}

uint32_t h_pending(struct harness *h, enum h_chan_kind k, int a, int b)
{
	struct h_chan *c = chan(h, k, a, b);
	uint32_t n = 0;
	size_t off = 0;
	while (off < c->buf.len) {
		long fl = proto_frame_peek(c->buf.data + off, c->buf.len - off, H_MAX_FRAME);
		if (fl <= 0)
			break;
		off += (size_t)fl;
		n++;
	}
	return n;
}

enum pop_result { POP_EMPTY, POP_MSG, POP_LOST };

/* Copies the first frame of c out into sb (so the receiver may append to any channel) and
 * decodes it; m points into sb until sb's next use. A frame that cannot be copied or decoded
 * for want of memory is lost (POP_LOST). */
static enum pop_result pop(struct harness *h, struct h_chan *c, struct proto_msg *m,
			   struct h_scratch *sb)
{
	if (c->buf.len == 0)
		return POP_EMPTY;
	long fl = proto_frame_peek(c->buf.data, c->buf.len, H_MAX_FRAME);
	if (fl <= 0) {
		fprintf(stderr, "harness: bad frame in channel\n");
		abort();
	}
	if ((size_t)fl > sb->cap) {
		uint8_t *nb = realloc(sb->p, (size_t)fl);
		if (nb == NULL) {
			proto_buf_consume(&c->buf, (size_t)fl);
			h->nomem_lost++;
			return POP_LOST;
		}
		sb->p = nb;
		sb->cap = (size_t)fl;
	}
	memcpy(sb->p, c->buf.data, (size_t)fl);
	proto_buf_consume(&c->buf, (size_t)fl);
	memset(m, 0, sizeof *m);
	int rc =
	    proto_decode(sb->p + PROTO_FRAME_HEADER, (size_t)fl - PROTO_FRAME_HEADER, &h->lim, m);
	if (rc == -ENOMEM) {
		h->nomem_lost++;
		return POP_LOST;
	}
	if (rc != 0) {
		fprintf(stderr, "harness: decode failed: %d\n", rc);
		abort();
	}
	return POP_MSG;
}

void h_inject(struct harness *h, int s, int r, const struct proto_msg *m)
{
	if (!h->down[r])
		push(h, &h->c2r[s][r], m);
}

bool h_take(struct harness *h, enum h_chan_kind k, int a, int b, struct proto_msg *m)
{
	enum pop_result pr;
	do
		pr = pop(h, chan(h, k, a, b), m, &h->take_buf);
	while (pr == POP_LOST);
	return pr == POP_MSG;
}

bool h_deliver(struct harness *h, enum h_chan_kind k, int a, int b)
{
	struct proto_msg *mp = &h->msg;
	enum pop_result pr = pop(h, chan(h, k, a, b), mp, &h->deliver_buf);
	if (pr != POP_MSG)
		return pr == POP_LOST; /* (a frame went, none delivered) */
	h->delivered++;
	if (h->trace && mp->cid.client == h->trace_client && mp->cid.seq == h->trace_seq)
		fprintf(stderr,
			"trace t=%llu %s %s %d->%d view %llu ok %d status %d token %llu dep %llu "
			"commit %llu slot %llu value '%.*s'\n",
			(unsigned long long)h->now, proto_type_name(mp->type),
			k == H_PEER  ? "peer"
			: k == H_C2R ? "c2r"
				     : "r2c",
			a, b, (unsigned long long)mp->view, mp->ok, mp->status,
			(unsigned long long)mp->token, (unsigned long long)mp->dep,
			(unsigned long long)mp->commit, (unsigned long long)mp->slot,
			(int)(mp->vlen < 32 ? mp->vlen : 32),
			mp->value ? (const char *)mp->value : "");
	switch (k) {
	case H_PEER:
		core_on_peer(h->cores[b], a, mp, h->now);
		core_flush(h->cores[b], h->now);
		h->gen[b]++;
		break;
	case H_C2R:
		core_on_client(h->cores[b], (uint64_t)a + 1, mp, h->now);
		core_flush(h->cores[b], h->now);
		h->gen[b]++;
		break;
	case H_R2C:
		session_on_msg(h->sess[b], a, mp, h->now);
		break;
	}
	return true;
}

bool h_step(struct harness *h)
{
	/* Collect non-empty channels, pick one at random. */
	struct {
		uint8_t k, a, b;
	} cand[H_MAX_REPLICAS * H_MAX_REPLICAS + 2 * H_MAX_SESSIONS * H_MAX_REPLICAS];
	int nc = 0;
	for (int i = 0; i < h->n; i++)
		for (int j = 0; j < h->n; j++)
			if (h->peer[i][j].buf.len)
				cand[nc++] = (typeof(cand[0])){H_PEER, (uint8_t)i, (uint8_t)j};
	for (int s = 0; s < h->nsess; s++)
		for (int r = 0; r < h->n; r++) {
			if (h->c2r[s][r].buf.len)
				cand[nc++] = (typeof(cand[0])){H_C2R, (uint8_t)s, (uint8_t)r};
			if (h->r2c[r][s].buf.len && !h->paused[s])
				cand[nc++] = (typeof(cand[0])){H_R2C, (uint8_t)r, (uint8_t)s};
		}
	if (nc == 0)
		return false;
	int pick = (int)common_rng_below(&h->rng, (uint64_t)nc);
	h->now += 1000 + common_rng_below(&h->rng, 20000); /* 1-21 us per delivery */
	enum h_chan_kind k = (enum h_chan_kind)cand[pick].k;
	int a = cand[pick].a, b = cand[pick].b;
	if (h->reset_ppm && h->n > 1 && common_rng_below(&h->rng, 1000000) < h->reset_ppm) {
		/* a peer connection breaks: what is in flight both ways is lost; both ends see
		 * the reconnect (the server calls core_peer_up when a peer connection is up) */
		int x = (int)common_rng_below(&h->rng, (uint64_t)h->n);
		int y = (int)common_rng_below(&h->rng, (uint64_t)h->n - 1);
		y += y >= x;
		proto_buf_consume(&h->peer[x][y].buf, SIZE_MAX);
		proto_buf_consume(&h->peer[y][x].buf, SIZE_MAX);
		h->resets++;
		if (!h->down[x] && !h->down[y] && !h->cut[x] && !h->cut[y]) {
			core_peer_up(h->cores[x], y, h->now);
			core_peer_up(h->cores[y], x, h->now);
		}
		if (chan(h, k, a, b)->buf.len == 0)
			return true; /* the frame picked went with it */
	}
	if ((k == H_PEER && (h->cut[a] || h->cut[b])) ||
	    ((k != H_PEER || !h->reset_ppm) && h->loss_ppm &&
	     common_rng_below(&h->rng, 1000000) < h->loss_ppm)) {
		struct proto_msg m;
		h->lost++;
		return h_take(h, k, a, b, &m); /* lost in transit */
	}
	if (h->dup_ppm && common_rng_below(&h->rng, 1000000) < h->dup_ppm) {
		/* delivered now, and again later (a retransmission): re-queue a copy at the tail */
		struct h_chan *c = chan(h, k, a, b);
		long fl = proto_frame_peek(c->buf.data, c->buf.len, H_MAX_FRAME);
		uint8_t *copy = fl > 0 ? malloc((size_t)fl) : NULL;
		if (copy) {
			memcpy(copy, c->buf.data, (size_t)fl);
			h_deliver(h, k, a, b);
			if (!(k == H_PEER ? h->down[a] || h->down[b]
					  : h->down[k == H_C2R ? b : a]) &&
			    buf_append(&c->buf, copy, (size_t)fl) == 0)
				h->duplicated++;
			free(copy);
			return true;
		}
	}
	return h_deliver(h, k, a, b);
}

void h_crash(struct harness *h, int r)
{
	h->down[r] = true;
	for (int i = 0; i < H_MAX_REPLICAS; i++) {
		proto_buf_consume(&h->peer[r][i].buf, SIZE_MAX);
		proto_buf_consume(&h->peer[i][r].buf, SIZE_MAX);
	}
	for (int s = 0; s < H_MAX_SESSIONS; s++) {
		proto_buf_consume(&h->c2r[s][r].buf, SIZE_MAX);
		proto_buf_consume(&h->r2c[r][s].buf, SIZE_MAX);
	}
}

/* A new process for replica r that reads its records back (h->durable). */
static void h_restart_restore(struct harness *h, int r)
{
	core_destroy(h->cores[r]);
	h->cores[r] = NULL;
	h_new_core(h, r, false);
	struct core *c = h->cores[r];
	const struct h_wal *w = &h->wal[r];
	char err[256] = "";
	int rc = core_restore_begin(c);
	for (size_t off = 0; rc == 0 && off < w->n;) {
		uint32_t len;
		memcpy(&len, w->p + off + 1, 4);
		rc = core_restore(c, w->p[off], w->p + off + 5, len, err, sizeof err);
		off += 5 + len;
	}
	if (rc == 0)
		rc = core_restore_end(c, err, sizeof err);
	if (rc != 0) {
		fprintf(stderr, "harness: replica %d: restore failed (%d): %s\n", r, rc, err);
		abort();
	}
	h->restores++;
	if (h->view > 0)
		core_view_change(c, h->view, h->leader, h->now);
	h->gen[r]++;
}

void h_restart(struct harness *h, int r)
{
	if (h->durable)
		h_restart_restore(h, r);
	h->down[r] = false;
}

void h_restart_fresh(struct harness *h, int r)
{
	core_destroy(h->cores[r]);
	h->cores[r] = NULL;
	h->wal[r].n = 0; /* a new process with its state lost: its records too */
	h_new_core(h, r, true);
	if (h->view > 0)
		core_view_change(h->cores[r], h->view, h->leader, h->now);
	h->gen[r]++;
	h->down[r] = false;
}

void h_view_change(struct harness *h, uint64_t view, int leader)
{
	h->leader = leader;
	h->view = view;
	for (int r = 0; r < h->n; r++)
		if (!h->down[r])
			core_view_change(h->cores[r], view, leader, h->now);
	for (int r = 0; r < h->n; r++)
		if (!h->down[r]) {
			core_flush(h->cores[r], h->now);
			h->gen[r]++;
		}
}

void h_advance(struct harness *h, uint64_t ns)
{
	h->now += ns;
	for (int r = 0; r < h->n; r++) {
		if (h->down[r])
			continue;
		core_tick(h->cores[r], h->now);
		core_flush(h->cores[r], h->now);
		h->gen[r]++;
	}
	give_ids(h);
	for (int s = 0; s < h->nsess; s++)
		if (!h->paused[s])
			session_tick(h->sess[s], h->now);
}

void h_drain(struct harness *h)
{
	for (long i = 0; i < 50000000L; i++) {
		if (!h_step(h)) {
			for (int r = 0; r < h->n; r++) {
				core_flush(h->cores[r], h->now);
				h->gen[r]++;
			}
			if (!h_step(h))
				return;
		}
		if ((i & 1023) == 0)
			h_advance(h, 0);
	}
	fprintf(stderr, "harness: drain did not settle\n");
	abort();
}

void h_drain_peers(struct harness *h)
{
	for (int round = 0; round < 100000; round++) {
		bool any = false;
		for (int a = 0; a < h->n; a++)
			for (int b = 0; b < h->n; b++)
				while (h_deliver(h, H_PEER, a, b))
					any = true;
		for (int r = 0; r < h->n; r++) {
			core_flush(h->cores[r], h->now);
			h->gen[r]++;
		}
		if (!any)
			return;
	}
	fprintf(stderr, "harness: peer drain did not settle\n");
	abort();
}
