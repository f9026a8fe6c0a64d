/* replica/core_xfer: sending a state transfer (PROTOCOL.md 7.3) as a stream. The executed state
 * goes out in chunks only while the peer connection has room (io.peer_backlog below the low
 * water mark), a bounded number per call (core_flush, core_tick), so a transfer of any size
 * neither fills the connection's output buffer nor holds the loop. The sender keeps executing
 * meanwhile: a pass over the keys in key order (a cursor robust to inserts and deletes), then
 * every key changed since the transfer began, taken from a log of changed keys (xdelta), sent
 * again with its value at that moment (or as deleted), until that log is caught up; then, in
 * the same call, the clients, the cached results and SNAP_DONE with the execution index: the
 * state sent is the state at that index. docs/recovery.md "Catch-up, state transfer and
 * restart". */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "replica/core_int.h"

#define XFER_CALL_BYTES	 (256u << 10) /* chunk bytes one call produces at most (all transfers), */
#define XFER_CALL_CHUNKS 16	      /* and chunks */
#define XDELTA_MAX_BYTES (64u << 20)  /* keys changed during transfers held at most */

/* What one remembered key costs (its copy, the allocator's overhead, its slot in v). */
static size_t xdelta_cost(uint32_t klen)
{
	return klen + 16 + sizeof(struct xdelta_key);
}

static void xfer_free(struct xfer *x)
{
	free(x->cursor);
	memset(x, 0, sizeof *x);
}

static void xdelta_trim(struct core *c)
{
	struct xdelta *d = &c->xdelta;
	uint64_t keep = d->base + d->n; /* nothing needed when no transfer runs */
	for (int p = 0; p < PROTO_MAX_REPLICAS; p++)
		if (c->xfer[p].on && c->xfer[p].delta_pos < keep)
			keep = c->xfer[p].delta_pos;
	uint32_t drop = (uint32_t)(keep - d->base);
	if (drop == 0)
		return;
	for (uint32_t i = 0; i < drop; i++) {
		d->bytes -= xdelta_cost(d->v[i].klen);
		free(d->v[i].key);
	}
	memmove(d->v, d->v + drop, (d->n - drop) * sizeof d->v[0]);
	d->n -= drop;
	d->base += drop;
}

/* Stops the transfer to `to`, and the log that follows it, if they run (the receiver asks
 * again). */
void core_xfer_stop(struct core *c, int to)
{
	if (c->xlog[to].on) {
		c->xlog[to].on = false;
		c->xlog_on--;
	}
	if (!c->xfer[to].on)
		return;
	xfer_free(&c->xfer[to]);
	c->xfer_on--;
	c->xbuf_used = 0; /* (a chunk half filled when it stopped) */
	xdelta_trim(c);
	if (c->xfer_on == 0) { /* nothing held between transfers */
		free(c->xdelta.v);
		c->xdelta.v = NULL;
		c->xdelta.cap = 0;
		free(c->xbuf);
		c->xbuf = NULL;
		c->xbuf_cap = c->xbuf_used = 0;
	}
}

void core_xfer_stop_all(struct core *c)
{
	for (int p = 0; p < PROTO_MAX_REPLICAS; p++)
		core_xfer_stop(c, p);
}

/* Starts (or restarts) a transfer of the executed state to `to`, answering request `round`;
 * with then_log, the log from the state's slot follows it (the leader answering a CATCHUP). */
void core_xfer_start(struct core *c, int to, uint64_t round, bool then_log, uint64_t now_ns)
{
	core_xfer_stop(c, to);
	struct xfer *x = &c->xfer[to];
	x->on = true;
	x->round = round;
	x->then_log = then_log;
	x->delta_pos = c->xdelta.base + c->xdelta.n;
	x->started_ns = now_ns;
	c->xfer_on++;
	core_xfer_pump(c, now_ns);
}

/* A key changed here (executed, or a transfer installed): transfers under way send it again. */
void core_xfer_note(struct core *c, const uint8_t *key, uint32_t klen)
{
	struct xdelta *d = &c->xdelta;
	if (c->xfer_on == 0)
		return;
	if (d->bytes + xdelta_cost(klen) > XDELTA_MAX_BYTES) {
		/* more changed during the transfers than is worth holding: they start over (the
		 * receivers ask again), with what changed meanwhile as their new state */
		c->st.snap_overflow++;
		core_xfer_stop_all(c);
		return;
	}
	if (d->n == d->cap) {
		uint32_t ncap = d->cap ? d->cap * 2 : 256;
		void *nv = realloc(d->v, ncap * sizeof d->v[0]);
		if (nv == NULL) {
			core_xfer_stop_all(c); /* cannot remember it: start over */
			return;
		}
		d->v = nv;
		d->cap = ncap;
	}
	uint8_t *k = malloc(klen ? klen : 1);
	if (k == NULL) {
		core_xfer_stop_all(c);
		return;
	}
	memcpy(k, key, klen);
	d->v[d->n++] = (struct xdelta_key){.key = k, .klen = klen};
	d->bytes += xdelta_cost(klen);
}

/* Appends key's current state (its value, or deleted) to the chunk buffer. */
static void xfer_add(struct core *c, const uint8_t *key, uint32_t klen)
{
	struct kv_state v;
	core_kv_lookup(c, key, klen, &v);
	c->xbuf_used += proto_snap_put(c->xbuf + c->xbuf_used, key, klen, v.value, v.vlen,
				       v.ver ? v.ver - 1 : 0, !v.found);
}

static void xfer_send_chunk(struct core *c, struct xfer *x, int to)
{
	struct proto_msg m = {.type = PROTO_SNAP_KV,
			      .view = c->view,
			      .value = c->xbuf,
			      .vlen = (uint32_t)c->xbuf_used,
			      .round = x->round,
			      .slot_hi = x->count++};
	c->io.to_peer(c->io.ctx, to, &m);
	x->bytes += c->xbuf_used;
	c->st.snap_bytes += c->xbuf_used;
	c->st.snap_chunks++;
	c->xbuf_used = 0;
}

/* Grows the chunk buffer to hold a chunk and one more item of at most the limits. Returns 0 or
 * -ENOMEM. */
static int xbuf_reserve(struct core *c)
{
	size_t item = proto_snap_item_size(c->cfg.max_key, c->cfg.max_value);
	size_t want = c->cfg.snap_chunk_bytes + item;
	if (c->xbuf_cap < want) {
		uint8_t *nb = realloc(c->xbuf, want);
		if (nb == NULL)
			return -ENOMEM;
		c->xbuf = nb;
		c->xbuf_cap = want;
	}
	return 0;
}

/* Room for one more item in the chunk buffer (xbuf_reserve made it big enough). */
static bool xbuf_room(const struct core *c)
{
	return c->xbuf_used < c->cfg.snap_chunk_bytes;
}

static int xfer_client_cb(const void *key, size_t klen, void *val, void *arg);
static int xfer_result_cb(const void *key, size_t klen, void *val, void *arg);

/* Where the clients and results of a state go: a transfer's peer (sink NULL), or a snapshot's
 * records (core_snapshot). */
struct xfer_end {
	struct core *c;
	struct xfer *x;
	int to;
	void (*sink)(struct xfer_end *e, struct proto_msg *m);
	void *sink_arg;
	uint64_t count; /* (sink) items so far */
	bool nomem;	/* (sink) a record could not be made */
};

/* Hands m on: to the transfer's peer, with its index in the transfer, or to the sink. */
static void xfer_out(struct xfer_end *e, struct proto_msg *m)
{
	if (e->sink) {
		m->slot_hi = e->count++;
		e->sink(e, m);
		return;
	}
	m->round = e->x->round;
	m->slot_hi = e->x->count++;
	e->c->io.to_peer(e->c->io.ctx, e->to, m);
}

/* The keys are all sent and every change since caught up: the rest goes now, in this call, so
 * the state is the one at this execution index. */
/* The end of a state (a transfer's, or a snapshot's): the clients and the cached results go out
 * through e, and the SNAP_DONE that closes them is returned (its item count included). */
static struct proto_msg xfer_state_end(struct xfer_end *e)
{
	struct core *c = e->c;
	cmap_foreach(c->clients, xfer_client_cb, e); /* before the results (their seqs) */
	cmap_foreach(c->results, xfer_result_cb, e);
	return (struct proto_msg){.type = PROTO_SNAP_DONE,
				  .view = c->view,
				  .commit = c->commit_index,
				  .slot = c->exec_index,
				  .slot_hi = e->sink ? e->count : e->x->count,
				  .eview = c->inst_view,
				  .cut = c->inst_cut,
				  .ver = c->del_ver,
				  .client_id = c->exp_floor};
}

static void xfer_finish(struct core *c, int to, uint64_t now_ns)
{
	struct xfer *x = &c->xfer[to];
	struct xfer_end e = {.c = c, .x = x, .to = to};
	struct proto_msg d = xfer_state_end(&e);
	d.round = x->round;
	c->io.to_peer(c->io.ctx, to, &d);
	c->st.snap_sent++;
	bool then_log = x->then_log;
	core_xfer_stop(c, to);
	if (then_log)
		core_xlog_start(c, to, c->exec_index, now_ns);
}

/* Sends `to` the log from slot `from` on (whatever it acknowledged of it before, it may have
 * lost), as its connection drains: a follower catching up, or one that installed a transfer.
 * Entries appended meanwhile go to it as to every follower. */
void core_xlog_start(struct core *c, int to, uint64_t from, uint64_t now_ns)
{
	struct xlog *l = &c->xlog[to];
	if (!l->on)
		c->xlog_on++;
	l->on = true;
	l->next = from > c->log_base ? from : c->log_base;
	core_unacked(c, l->next);
	for (uint64_t s = l->next; s < c->log_end; s++) {
		struct entry *e = slot_entry(c, s);
		if (e != NULL)
			e->acks &= ~(1u << to);
	}
	core_xfer_pump(c, now_ns);
}

/* Sends what the log to `to` may send now, within *budget bytes (lowered by them). */
static void xlog_pump_one(struct core *c, int to, uint64_t now_ns, size_t *budget)
{
	struct xlog *l = &c->xlog[to];
	while (*budget > 0) {
		if (l->next < c->log_base || l->next >= c->log_end) {
			/* all sent; or the log moved past it (it asks again when stuck) */
			l->on = false;
			c->xlog_on--;
			return;
		}
		if (!core_peer_room(c, to))
			return;
		struct entry *e = slot_entry(c, l->next++);
		if (e == NULL || (e->acks & (1u << to)))
			continue;
		core_send_accept(c, e, to, now_ns);
		size_t sz = (size_t)e->klen + e->vlen + 64;
		*budget = sz < *budget ? *budget - sz : 0;
	}
}

/* Produces what the transfer to `to` may send now, within *budget bytes and *chunks chunks
 * (lowered by what it sends). */
static void xfer_pump_one(struct core *c, int to, uint64_t now_ns, size_t *budget, unsigned *chunks)
{
	struct xfer *x = &c->xfer[to];
	while (x->on && *budget > 0 && *chunks > 0) {
		size_t backlog = c->io.peer_backlog ? c->io.peer_backlog(c->io.ctx, to) : 0;
		if (backlog == SIZE_MAX) {
			core_xfer_stop(c, to); /* the peer is gone: it asks again when back */
			return;
		}
		if (backlog >= c->cfg.snap_low_water)
			return; /* the connection drains first */
		if (xbuf_reserve(c) != 0) {
			/* no chunk buffer: the receiver asks again (this loop made no progress
			 * without one, and ran forever) */
			core_xfer_stop(c, to);
			return;
		}
		if (!x->keys_done) {
			const struct oset_node *n =
			    x->cursor ? oset_seek(c->order, x->cursor, x->cursor_len)
				      : oset_seek(c->order, NULL, 0);
			if (n && x->cursor) {
				size_t kl;
				const uint8_t *k = oset_key(n, &kl);
				if (kl == x->cursor_len && memcmp(k, x->cursor, kl) == 0)
					n = oset_next(n); /* sent already */
			}
			const uint8_t *last = NULL;
			size_t last_len = 0;
			for (; n && xbuf_room(c); n = oset_next(n)) {
				last = oset_key(n, &last_len);
				xfer_add(c, last, (uint32_t)last_len);
			}
			if (last) {
				uint8_t *cur = realloc(x->cursor, last_len ? last_len : 1);
				if (cur == NULL) {
					core_xfer_stop(c, to);
					return;
				}
				memcpy(cur, last, last_len);
				x->cursor = cur;
				x->cursor_len = (uint32_t)last_len;
			}
			if (n == NULL)
				x->keys_done = true;
		} else {
			struct xdelta *d = &c->xdelta;
			while (x->delta_pos < d->base + d->n && xbuf_room(c)) {
				const struct xdelta_key *dk = &d->v[x->delta_pos - d->base];
				xfer_add(c, dk->key, dk->klen);
				x->delta_pos++;
			}
		}
		if (c->xbuf_used) {
			*budget = c->xbuf_used < *budget ? *budget - c->xbuf_used : 0;
			--*chunks;
			xfer_send_chunk(c, x, to);
		}
		if (x->keys_done && x->delta_pos == c->xdelta.base + c->xdelta.n) {
			xfer_finish(c, to, now_ns);
			return;
		}
	}
}

void core_xfer_pump(struct core *c, uint64_t now_ns)
{
	if (c->xfer_on == 0 && c->xlog_on == 0)
		return;
	/* (a bounded amount of work per loop iteration: heartbeats and clients go on) */
	size_t budget = XFER_CALL_BYTES;
	unsigned chunks = XFER_CALL_CHUNKS;
	for (int p = 0; p < c->cfg.n; p++) {
		if (c->xfer[p].on)
			xfer_pump_one(c, p, now_ns, &budget, &chunks);
		if (c->xlog[p].on && !c->xfer[p].on)
			xlog_pump_one(c, p, now_ns, &budget);
	}
	/* The budget ran out with transfers still on: the next call need not wait for the
	 * connection to drain (core_xfer_more) */
	c->xfer_more = (budget == 0 || chunks == 0) && (c->xfer_on > 0 || c->xlog_on > 0);
	xdelta_trim(c);
}

static int xfer_client_cb(const void *key, size_t klen, void *val, void *arg)
{
	struct xfer_end *e = arg;
	const struct client_rec *cr = val;
	uint64_t client;
	if (klen != sizeof client)
		return 0;
	memcpy(&client, key, sizeof client);
	/* the executed-seq ring, little-endian words */
	uint8_t bits[XBITS_MAX_WORDS * 8];
	uint32_t words = cr->xwords <= XBITS_MAX_WORDS ? cr->xwords : 0;
	for (uint32_t w = 0; w < words; w++)
		for (int b = 0; b < 8; b++)
			bits[w * 8 + b] = (uint8_t)(cr->xbits[w] >> (8 * b));
	struct proto_msg m = {.type = PROTO_SNAP_CLIENT,
			      .view = e->c->view,
			      .cid = {.client = client},
			      .low_seq = cr->low_seq,
			      .slot = cr->xfloor,
			      .dep = cr->weak_exec_hi,
			      .value = bits,
			      .vlen = words * 8};
	xfer_out(e, &m);
	return 0;
}

static int xfer_result_cb(const void *key, size_t klen, void *val, void *arg)
{
	struct xfer_end *e = arg;
	const struct result *r = val;
	struct proto_cid cid;
	if (klen != 16)
		return 0;
	memcpy(&cid.client, key, 8);
	memcpy(&cid.seq, (const uint8_t *)key + 8, 8);
	struct proto_msg m = {.type = PROTO_SNAP_RESULT,
			      .view = e->c->view,
			      .cid = cid,
			      .fp = r->fp,
			      .slot = r->slot,
			      .ver = r->ver,
			      .status = r->status,
			      .value = r->v,
			      .vlen = r->vlen};
	xfer_out(e, &m);
	return 0;
}

/* ---- snapshots (docs/durability.md, "Snapshots") ------------------------------------------ */

struct snap_sink {
	void (*emit)(void *ctx, uint8_t type, const struct proto_msg *m);
	void *ctx;
};

static void snapshot_item(struct xfer_end *e, struct proto_msg *m)
{
	const struct snap_sink *k = e->sink_arg;
	k->emit(k->ctx, CREC_SNAP_ITEM, m);
}

/* The executed state as a state transfer's items (core_snapshot): the keys in key order in
 * chunks of about snap_chunk_bytes, the clients, the cached results, then SNAP_DONE. Returns 0
 * or -ENOMEM. */
int core_xfer_items(struct core *c,
		    void (*emit)(void *ctx, uint8_t type, const struct proto_msg *m), void *ctx)
{
	struct snap_sink k = {.emit = emit, .ctx = ctx};
	struct xfer_end e = {.c = c, .sink = snapshot_item, .sink_arg = &k};
	size_t item = proto_snap_item_size(c->cfg.max_key, c->cfg.max_value);
	size_t cap = c->cfg.snap_chunk_bytes + item;
	uint8_t *buf = malloc(cap);
	if (buf == NULL)
		return -ENOMEM;
	size_t used = 0;
	struct kv_state v; /* each key's value */
	for (const struct oset_node *n = oset_seek(c->order, NULL, 0); n; n = oset_next(n)) {
		size_t kl;
		const uint8_t *key = oset_key(n, &kl);
		core_kv_lookup(c, key, (uint32_t)kl, &v);
		if (!v.found)
			continue; /* (the order holds live keys only) */
		used += proto_snap_put(buf + used, key, (uint32_t)kl, v.value, v.vlen,
				       v.ver ? v.ver - 1 : 0, false);
		if (used >= c->cfg.snap_chunk_bytes || oset_next(n) == NULL) {
			struct proto_msg m = {.type = PROTO_SNAP_KV,
					      .view = c->view,
					      .value = buf,
					      .vlen = (uint32_t)used};
			xfer_out(&e, &m);
			used = 0;
		}
	}
	free(buf);
	struct proto_msg d = xfer_state_end(&e);
	emit(ctx, CREC_SNAP_DONE, &d);
	return 0;
}
