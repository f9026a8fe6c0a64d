/* replica/core: CURP witness, leader and follower logic (PROTOCOL.md 3-4) as a state machine.
 *
 * Invariants kept here (PROTOCOL.md 8):
 *  - the leader assigns dense slots, one cid per slot (cid index dedups in-flight commands and the
 *    result cache dedups executed ones);
 *  - every replica executes slots strictly in slot order and only below the commit index;
 *  - the leader's speculative value is the executed state overlaid with every earlier pending
 *    write on the same key (never executed state alone);
 *  - REPLY ok=true only when every earlier conflicting slot is committed;
 *  - a command whose client cannot have completed on the fast path (REPLY ok=false, or the
 *    client asked with SYNC) gets its post-execution result (SYNC_REPLY) when it executes;
 *  - tables keyed by slot or cid are freed once executed (and, on the leader, acknowledged by
 *    every follower or pushed out of the bounded log window).
 */
#include "replica/core.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cmap/cmap.h"
#include "common/hash.h"
#include "desc/desc.h"

#define NO_SLOT UINT64_MAX
#define LOG_MIN_CAP 1024u
#define MAX_CLIENTS_TRACKED 65536u

/* One log slot. Key and value bytes are owned by the entry. */
struct entry {
	bool used;
	bool executed;
	bool reply_ok;    /* leader: REPLY went out with ok=true */
	bool sync_wanted; /* leader: answer SYNC_REPLY at execution */
	uint8_t op;
	uint64_t slot;
	uint64_t view;
	struct proto_cid cid;
	uint8_t *key;
	uint32_t klen;
	uint8_t *val;
	uint32_t vlen;
	uint32_t acks;     /* leader: bitmask of replicas that accepted (self included) */
	uint64_t conn;     /* leader: client connection to answer */
	desc_id desc;      /* leader: descriptor held while in flight */
	uint64_t sent_ns;  /* leader: last time ACCEPT went out */
};

/* Leader: per-key pending index (slots assigned, not executed). */
struct keyidx {
	uint64_t last_any;   /* highest pending slot touching the key */
	uint64_t last_write; /* highest pending slot writing the key (NO_SLOT if none) */
	uint32_t pending;
};

/* Witness: the pending records of one key. */
struct wrec {
	struct proto_cid cid;
	bool write;
	bool ok;
};
struct wlist {
	uint32_t n, cap;
	struct wrec r[];
};

/* A cached post-execution result. */
struct result {
	uint64_t slot;
	uint8_t status;
	uint32_t vlen;
	uint8_t v[];
};

/* Result-cache bookkeeping per client: watermark and the seqs cached, in execution order. */
struct client_rec {
	uint64_t low_seq;
	uint32_t head, n, cap;
	uint64_t *seqs;
};

struct kv_val {
	uint32_t len;
	uint8_t data[];
};

struct core {
	struct core_config cfg;
	struct core_io io;
	int f, majority;
	uint64_t view;
	int leader;

	/* log window [log_base, log_end) in a power-of-two ring */
	struct entry *ring;
	uint64_t cap;
	uint64_t log_base, log_end;
	uint64_t next_slot;    /* leader: next slot to assign */
	uint64_t commit_index; /* slots below are committed */
	uint64_t commit_known; /* follower: highest commit index heard from the leader */
	uint64_t exec_index;   /* slots below are executed */
	uint64_t commit_sent;  /* leader: last commit index sent to followers */
	uint64_t log_soft_cap;

	/* follower: accepted-slot range not yet acknowledged */
	uint64_t ack_lo, ack_hi;
	bool ack_pending;

	struct cmap *kv;       /* key -> struct kv_val */
	uint64_t digest;
	struct cmap *keys;     /* leader: key -> struct keyidx */
	struct cmap *inflight; /* leader: cid -> slot + 1 (pointer-encoded) */
	struct cmap *witness;  /* key -> struct wlist */
	uint64_t witness_n;
	struct cmap *results;  /* cid -> struct result */
	struct cmap *clients;  /* client id -> struct client_rec */
	struct desc_pool *desc;
	bool intake_open;

	struct core_stats st;
};

/* ---- small helpers --------------------------------------------------------------------- */

static inline void cid_key(const struct proto_cid *cid, uint8_t out[16])
{
	memcpy(out, &cid->client, 8);
	memcpy(out + 8, &cid->seq, 8);
}

static inline bool is_write_op(uint8_t op)
{
	return op == PROTO_OP_PUT || op == PROTO_OP_DEL;
}

static inline bool is_leader(const struct core *c)
{
	return c->leader == c->cfg.self;
}

static inline int popcount32(uint32_t x)
{
	return __builtin_popcount(x);
}

static struct entry *slot_entry(struct core *c, uint64_t slot)
{
	if (slot < c->log_base || slot >= c->log_base + c->cap)
		return NULL;
	struct entry *e = &c->ring[slot & (c->cap - 1)];
	return (e->used && e->slot == slot) ? e : NULL;
}

static void entry_clear(struct entry *e)
{
	free(e->key);
	free(e->val);
	memset(e, 0, sizeof *e);
}

static void free_val(void *v)
{
	free(v);
}

static void free_client_rec(void *v)
{
	struct client_rec *cr = v;
	free(cr->seqs);
	free(cr);
}

static uint64_t kv_hash(const void *key, size_t klen, const void *val, size_t vlen)
{
	return common_hash64(val, vlen, common_hash64(key, klen, 0x6b76u) ^ (uint64_t)vlen);
}

/* Grows the ring so that `slot` fits. Returns 0 or -ENOMEM. */
static int ring_fit(struct core *c, uint64_t slot)
{
	if (slot < c->log_base + c->cap)
		return 0;
	uint64_t ncap = c->cap;
	while (slot >= c->log_base + ncap)
		ncap *= 2;
	struct entry *nr = calloc(ncap, sizeof *nr);
	if (nr == NULL)
		return -ENOMEM;
	for (uint64_t i = 0; i < c->cap; i++) {
		struct entry *e = &c->ring[i];
		if (e->used)
			nr[e->slot & (ncap - 1)] = *e;
	}
	free(c->ring);
	c->ring = nr;
	c->cap = ncap;
	return 0;
}

/* ---- configuration ------------------------------------------------------------------- */

void core_config_default(struct core_config *cfg, int self, int n)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->self = self;
	cfg->n = n;
	cfg->protocol = CONF_PROTO_CURP;
	cfg->max_desc = 10000;
	cfg->shards = 512;
	cfg->max_witness = 1u << 20;
	cfg->max_key = 1024;
	cfg->max_value = 64 * 1024;
	cfg->noop = false;
	cfg->resend_after_ns = 200ull * 1000 * 1000;
}

int core_create(const struct core_config *cfg, int leader, const struct core_io *io,
		struct core **out)
{
	if (cfg->n < 1 || cfg->n > PROTO_MAX_REPLICAS || cfg->self < 0 || cfg->self >= cfg->n ||
	    leader < 0 || leader >= cfg->n || cfg->max_desc < 1)
		return -EINVAL;
	struct core *c = calloc(1, sizeof *c);
	if (c == NULL)
		return -ENOMEM;
	int rc = -ENOMEM;
	c->cfg = *cfg;
	c->io = *io;
	c->f = (cfg->n - 1) / 2;
	c->majority = c->f + 1;
	c->leader = leader;
	c->cap = LOG_MIN_CAP;
	while (c->cap < 2ull * cfg->max_desc)
		c->cap *= 2;
	c->log_soft_cap = c->cap * 4;
	c->ring = calloc(c->cap, sizeof *c->ring);
	if (c->ring == NULL)
		goto err;
	if ((rc = cmap_create(cfg->shards, free_val, &c->kv)) != 0)
		goto err;
	if ((rc = cmap_create(cfg->shards, free_val, &c->keys)) != 0)
		goto err;
	if ((rc = cmap_create(cfg->shards, NULL, &c->inflight)) != 0)
		goto err;
	if ((rc = cmap_create(cfg->shards, free_val, &c->witness)) != 0)
		goto err;
	if ((rc = cmap_create(cfg->shards, free_val, &c->results)) != 0)
		goto err;
	if ((rc = cmap_create(64, free_client_rec, &c->clients)) != 0)
		goto err;
	if ((rc = desc_pool_create(cfg->max_desc, 0, sizeof(uint64_t), &c->desc)) != 0)
		goto err;
	c->intake_open = true;
	*out = c;
	return 0;
err:
	core_destroy(c);
	return rc;
}

void core_destroy(struct core *c)
{
	if (c == NULL)
		return;
	if (c->ring) {
		for (uint64_t i = 0; i < c->cap; i++)
			if (c->ring[i].used)
				entry_clear(&c->ring[i]);
		free(c->ring);
	}
	if (c->kv)
		cmap_destroy(c->kv);
	if (c->keys)
		cmap_destroy(c->keys);
	if (c->inflight)
		cmap_destroy(c->inflight);
	if (c->witness)
		cmap_destroy(c->witness);
	if (c->results)
		cmap_destroy(c->results);
	if (c->clients)
		cmap_destroy(c->clients);
	if (c->desc)
		desc_pool_destroy(c->desc);
	free(c);
}

/* ---- result cache -------------------------------------------------------------------- */

struct result_copy {
	const struct result *r; /* valid only inside the read callback */
	struct proto_msg *m;
	bool found;
};

static void read_result_cb(const void *key, size_t klen, void *val, void *arg)
{
	struct result_copy *rc = arg;
	const struct result *r = val;
	rc->found = true;
	rc->m->slot = r->slot;
	rc->m->status = r->status;
	rc->m->vlen = r->vlen;
	rc->m->value = r->v; /* used by the caller only while the entry cannot change: see below */
}

/* Sends the cached result of cid to conn as SYNC_REPLY. Returns true if one was cached.
 * Single-threaded core: the result cannot be freed between lookup and send (only this thread
 * mutates the cache), so the value pointer stays valid across the send. */
static bool send_cached_result(struct core *c, uint64_t conn, const struct proto_cid *cid)
{
	uint8_t k[16];
	cid_key(cid, k);
	struct proto_msg m = {.type = PROTO_SYNC_REPLY, .view = c->view, .cid = *cid};
	struct result_copy rc = {.m = &m};
	if (cmap_get(c->results, k, 16, read_result_cb, &rc) != 0)
		return false;
	c->st.slow_replies++;
	c->io.to_client(c->io.ctx, conn, &m);
	return true;
}

struct low_seq_arg {
	uint64_t client;
	uint64_t low_seq;
	bool too_old; /* the asked seq is below the watermark */
	uint64_t seq;
	struct core *c;
	/* seqs to drop from the result cache, collected under the clients-map lock */
	uint64_t drop[64];
	uint32_t ndrop;
};

static enum cmap_update_result client_low_seq_cb(const void *key, size_t klen, void **val,
						 void *arg)
{
	struct low_seq_arg *a = arg;
	struct client_rec *cr = *val;
	if (cr == NULL) {
		if (a->c->clients && cmap_size(a->c->clients) >= MAX_CLIENTS_TRACKED)
			return CMAP_KEEP; /* table full: no watermark for this client */
		cr = calloc(1, sizeof *cr);
		if (cr == NULL)
			return CMAP_KEEP;
		*val = cr;
	}
	if (a->low_seq > cr->low_seq)
		cr->low_seq = a->low_seq;
	a->too_old = a->seq != 0 && a->seq < cr->low_seq;
	/* Drop cached results below the watermark (front of the execution-ordered queue). */
	while (cr->n > 0 && a->ndrop < 64) {
		uint64_t s = cr->seqs[cr->head];
		if (s >= cr->low_seq)
			break;
		a->drop[a->ndrop++] = s;
		cr->head = (cr->head + 1) % cr->cap;
		cr->n--;
	}
	return CMAP_KEEP;
}

/* Applies a client's watermark; returns true if seq is below it (result already collected). */
static bool client_watermark(struct core *c, uint64_t client, uint64_t low_seq, uint64_t seq)
{
	struct low_seq_arg a = {.client = client, .low_seq = low_seq, .seq = seq, .c = c};
	cmap_update_u64(c->clients, client, client_low_seq_cb, &a);
	for (uint32_t i = 0; i < a.ndrop; i++) {
		struct proto_cid cid = {.client = client, .seq = a.drop[i]};
		uint8_t k[16];
		cid_key(&cid, k);
		cmap_del(c->results, k, 16, NULL);
	}
	return a.too_old;
}

struct remember_arg {
	uint64_t seq;
	bool failed;
};

static enum cmap_update_result client_remember_cb(const void *key, size_t klen, void **val,
						  void *arg)
{
	struct remember_arg *a = arg;
	struct client_rec *cr = *val;
	if (cr == NULL) {
		cr = calloc(1, sizeof *cr);
		if (cr == NULL) {
			a->failed = true;
			return CMAP_KEEP;
		}
		*val = cr;
	}
	if (cr->n == cr->cap) {
		uint32_t ncap = cr->cap ? cr->cap * 2 : 16;
		uint64_t *ns = malloc(ncap * sizeof *ns);
		if (ns == NULL) {
			a->failed = true;
			return CMAP_KEEP;
		}
		for (uint32_t i = 0; i < cr->n; i++)
			ns[i] = cr->seqs[(cr->head + i) % cr->cap];
		free(cr->seqs);
		cr->seqs = ns;
		cr->head = 0;
		cr->cap = ncap;
	}
	cr->seqs[(cr->head + cr->n) % cr->cap] = a->seq;
	cr->n++;
	return CMAP_KEEP;
}

/* Stores the result of an executed command (exactly-once record). */
static void cache_result(struct core *c, const struct proto_cid *cid, uint64_t slot, uint8_t status,
			 const uint8_t *v, uint32_t vlen)
{
	struct result *r = malloc(sizeof *r + vlen);
	if (r == NULL)
		return; /* exactly-once is still kept by the watermark for completed commands */
	r->slot = slot;
	r->status = status;
	r->vlen = vlen;
	if (vlen)
		memcpy(r->v, v, vlen);
	uint8_t k[16];
	cid_key(cid, k);
	if (cmap_put(c->results, k, 16, r, NULL) != 0) {
		free(r);
		return;
	}
	struct remember_arg a = {.seq = cid->seq};
	cmap_update_u64(c->clients, cid->client, client_remember_cb, &a);
}

/* True if cid executed at this replica and its result is still cached. The client's watermark
 * says nothing about execution here (a fast-path completion precedes commit), so it is never
 * used to infer it; without a view change a cid enters the log at most once (the leader dedups
 * in-flight cids and refuses cids below the watermark), so this check is exact. */
static bool already_executed(struct core *c, const struct proto_cid *cid)
{
	uint8_t k[16];
	cid_key(cid, k);
	return cmap_contains(c->results, k, 16);
}

static void read_slot_cb(const void *key, size_t klen, void *val, void *arg)
{
	*(uint64_t *)arg = (uint64_t)(uintptr_t)val - 1;
}

/* Leader: the slot of an in-flight cid, or NO_SLOT. */
static uint64_t inflight_slot(struct core *c, const uint8_t ck[16])
{
	uint64_t slot = NO_SLOT;
	if (cmap_get(c->inflight, ck, 16, read_slot_cb, &slot) != 0)
		return NO_SLOT;
	return slot;
}

/* ---- executed state -------------------------------------------------------------------- */

struct kv_read {
	struct proto_msg *m;
	bool found;
};

static void kv_read_cb(const void *key, size_t klen, void *val, void *arg)
{
	struct kv_read *r = arg;
	const struct kv_val *kv = val;
	r->found = true;
	r->m->value = kv->data; /* single-threaded core: stable until the next kv mutation */
	r->m->vlen = kv->len;
}

/* Sets m->status/value/vlen to the executed value of key. */
static void kv_lookup(struct core *c, const uint8_t *key, uint32_t klen, struct proto_msg *m)
{
	struct kv_read r = {.m = m};
	m->value = NULL;
	m->vlen = 0;
	if (cmap_get(c->kv, key, klen, kv_read_cb, &r) == 0 && r.found)
		m->status = PROTO_ST_OK;
	else
		m->status = PROTO_ST_NOT_FOUND;
}

struct kv_write {
	struct core *c;
	const uint8_t *v;
	uint32_t vlen;
	bool del;
	struct kv_val *old; /* handed back for freeing outside the lock */
};

static enum cmap_update_result kv_write_cb(const void *key, size_t klen, void **val, void *arg)
{
	struct kv_write *w = arg;
	struct kv_val *old = *val;
	if (old)
		w->c->digest -= kv_hash(key, klen, old->data, old->len);
	w->old = old;
	if (w->del) {
		*val = NULL;
		return old ? CMAP_DELETE : CMAP_KEEP;
	}
	struct kv_val *nv = malloc(sizeof *nv + w->vlen);
	if (nv == NULL) {
		/* Out of memory while executing: keep the old value and its digest so replicas
		 * that did execute will be seen to diverge by the digest check. */
		if (old)
			w->c->digest += kv_hash(key, klen, old->data, old->len);
		w->old = NULL;
		return CMAP_KEEP;
	}
	nv->len = w->vlen;
	if (w->vlen)
		memcpy(nv->data, w->v, w->vlen);
	w->c->digest += kv_hash(key, klen, nv->data, nv->len);
	*val = nv;
	return CMAP_KEEP;
}

static void kv_apply(struct core *c, const struct entry *e)
{
	struct kv_write w = {.c = c, .v = e->val, .vlen = e->vlen, .del = e->op == PROTO_OP_DEL};
	cmap_update(c->kv, e->key, e->klen, kv_write_cb, &w);
	free(w.old);
}

/* ---- witness -------------------------------------------------------------------------- */

struct witness_arg {
	struct core *c;
	struct proto_cid cid;
	bool write;
	bool ok;      /* out */
	bool full;    /* in: table at capacity */
	bool removed; /* out (remove) */
};

static enum cmap_update_result witness_add_cb(const void *key, size_t klen, void **val, void *arg)
{
	struct witness_arg *a = arg;
	struct wlist *l = *val;
	if (l) {
		for (uint32_t i = 0; i < l->n; i++) {
			if (l->r[i].cid.client == a->cid.client && l->r[i].cid.seq == a->cid.seq) {
				a->ok = l->r[i].ok; /* a re-sent PROPOSE gets the same answer */
				return CMAP_KEEP;
			}
		}
	}
	bool conflict = false;
	for (uint32_t i = 0; l && i < l->n; i++)
		if (l->r[i].write || a->write)
			conflict = true;
	a->ok = !conflict && !a->full;
	if (a->full)
		return CMAP_KEEP; /* never grows beyond the cap; the answer is ok=false */
	if (l == NULL || l->n == l->cap) {
		uint32_t ncap = l ? l->cap * 2 : 2;
		struct wlist *nl = realloc(l, sizeof *nl + ncap * sizeof nl->r[0]);
		if (nl == NULL) {
			a->ok = false;
			return CMAP_KEEP;
		}
		if (l == NULL)
			nl->n = 0;
		nl->cap = ncap;
		l = nl;
		*val = l;
	}
	l->r[l->n++] = (struct wrec){.cid = a->cid, .write = a->write, .ok = a->ok};
	a->c->witness_n++;
	return CMAP_KEEP;
}

static enum cmap_update_result witness_remove_cb(const void *key, size_t klen, void **val,
						 void *arg)
{
	struct witness_arg *a = arg;
	struct wlist *l = *val;
	if (l == NULL)
		return CMAP_KEEP;
	for (uint32_t i = 0; i < l->n; i++) {
		if (l->r[i].cid.client == a->cid.client && l->r[i].cid.seq == a->cid.seq) {
			l->r[i] = l->r[--l->n];
			a->c->witness_n--;
			a->removed = true;
			break;
		}
	}
	if (l->n == 0) {
		free(l);
		*val = NULL;
		return CMAP_DELETE;
	}
	return CMAP_KEEP;
}

static void witness_remove(struct core *c, const struct entry *e)
{
	struct witness_arg a = {.c = c, .cid = e->cid};
	if (cmap_contains(c->witness, e->key, e->klen))
		cmap_update(c->witness, e->key, e->klen, witness_remove_cb, &a);
}

static void witness_on_propose(struct core *c, uint64_t conn, const struct proto_msg *m)
{
	struct proto_msg r = {.type = PROTO_RECORD_ACK, .view = c->view, .cid = m->cid};
	if (m->view != c->view) {
		c->st.stale_view++;
		r.ok = false;
		c->io.to_client(c->io.ctx, conn, &r);
		return;
	}
	if (already_executed(c, &m->cid)) {
		/* Executed here, hence committed: durable without a record. */
		c->st.duplicates++;
		r.ok = true;
		c->io.to_client(c->io.ctx, conn, &r);
		return;
	}
	struct witness_arg a = {.c = c,
				.cid = m->cid,
				.write = is_write_op(m->cmd.op),
				.full = c->witness_n >= c->cfg.max_witness};
	if (m->cmd.op == PROTO_OP_SCAN) {
		a.ok = false; /* strong SCAN: slow path only (range conflicts are not tracked) */
	} else {
		cmap_update(c->witness, m->cmd.key, m->cmd.klen, witness_add_cb, &a);
	}
	if (!a.ok)
		c->st.conflicts++;
	r.ok = a.ok;
	c->io.to_client(c->io.ctx, conn, &r);
}

/* ---- leader --------------------------------------------------------------------------- */

struct keyidx_arg {
	uint64_t slot;
	bool write;
	uint64_t prev_any, prev_write; /* out: before this slot */
};

static enum cmap_update_result keyidx_add_cb(const void *key, size_t klen, void **val, void *arg)
{
	struct keyidx_arg *a = arg;
	struct keyidx *k = *val;
	if (k == NULL) {
		k = malloc(sizeof *k);
		if (k == NULL) {
			a->prev_any = a->prev_write = NO_SLOT;
			return CMAP_KEEP;
		}
		k->last_any = k->last_write = NO_SLOT;
		k->pending = 0;
		*val = k;
	}
	a->prev_any = k->last_any;
	a->prev_write = k->last_write;
	k->last_any = a->slot;
	if (a->write)
		k->last_write = a->slot;
	k->pending++;
	return CMAP_KEEP;
}

static enum cmap_update_result keyidx_done_cb(const void *key, size_t klen, void **val, void *arg)
{
	struct keyidx *k = *val;
	if (k == NULL)
		return CMAP_KEEP;
	if (--k->pending == 0) {
		free(k);
		*val = NULL;
		return CMAP_DELETE;
	}
	return CMAP_KEEP;
}

static void set_intake(struct core *c, bool open)
{
	if (c->intake_open == open)
		return;
	c->intake_open = open;
	if (c->io.client_intake)
		c->io.client_intake(c->io.ctx, open);
}

static void send_accept(struct core *c, struct entry *e, int to, uint64_t now_ns)
{
	struct proto_msg a = {.type = PROTO_ACCEPT,
			      .view = e->view,
			      .slot = e->slot,
			      .cid = e->cid,
			      .commit = c->commit_index};
	a.cmd.op = e->op;
	a.cmd.key = e->key;
	a.cmd.klen = e->klen;
	a.cmd.val = e->val;
	a.cmd.vlen = e->vlen;
	c->io.to_peer(c->io.ctx, to, &a);
	e->sent_ns = now_ns;
}

static void advance_commit(struct core *c, uint64_t now_ns);

static void leader_on_propose(struct core *c, uint64_t conn, const struct proto_msg *m,
			      uint64_t now_ns)
{
	struct proto_msg r = {.type = PROTO_REPLY, .view = c->view, .cid = m->cid};
	if (m->view != c->view) {
		c->st.stale_view++;
		r.status = PROTO_ST_STALE_VIEW;
		c->io.to_client(c->io.ctx, conn, &r);
		return;
	}
	uint8_t ck[16];
	cid_key(&m->cid, ck);
	/* 1. dedup: executed -> cached result; in flight -> answer when it executes */
	if (send_cached_result(c, conn, &m->cid)) {
		c->st.duplicates++;
		return;
	}
	uint64_t known = inflight_slot(c, ck);
	if (known != NO_SLOT) {
		c->st.duplicates++;
		struct entry *e = slot_entry(c, known);
		if (e && !e->executed) {
			e->conn = conn;
			e->sync_wanted = true;
		}
		return;
	}
	/* 2. a descriptor, or back-pressure */
	desc_id did;
	void *payload;
	if (desc_acquire(c->desc, false, &did, &payload) != 0) {
		c->st.busy++;
		set_intake(c, false);
		r.status = PROTO_ST_BUSY;
		c->io.to_client(c->io.ctx, conn, &r);
		return;
	}
	if (desc_in_use(c->desc) >= desc_capacity(c->desc))
		set_intake(c, false);
	uint64_t slot = c->next_slot;
	if (ring_fit(c, slot) != 0 || slot - c->log_base >= c->log_soft_cap) {
		desc_release(c->desc, did);
		c->st.busy++;
		r.status = PROTO_ST_BUSY;
		c->io.to_client(c->io.ctx, conn, &r);
		return;
	}
	struct entry *e = &c->ring[slot & (c->cap - 1)];
	memset(e, 0, sizeof *e);
	e->key = malloc(m->cmd.klen ? m->cmd.klen : 1);
	e->val = m->cmd.vlen ? malloc(m->cmd.vlen) : NULL;
	if (e->key == NULL || (m->cmd.vlen && e->val == NULL)) {
		free(e->key);
		free(e->val);
		memset(e, 0, sizeof *e);
		desc_release(c->desc, did);
		c->st.busy++;
		r.status = PROTO_ST_BUSY;
		c->io.to_client(c->io.ctx, conn, &r);
		return;
	}
	c->next_slot++;
	c->log_end = c->next_slot;
	e->used = true;
	e->slot = slot;
	e->view = c->view;
	e->cid = m->cid;
	e->op = m->cmd.op;
	memcpy(e->key, m->cmd.key, m->cmd.klen);
	e->klen = m->cmd.klen;
	if (m->cmd.vlen)
		memcpy(e->val, m->cmd.val, m->cmd.vlen);
	e->vlen = m->cmd.vlen;
	e->acks = 1u << c->cfg.self;
	e->conn = conn;
	e->desc = did;
	*(uint64_t *)payload = slot;
	cmap_put(c->inflight, ck, 16, (void *)(uintptr_t)(slot + 1), NULL);

	/* 3. speculative value over the pending-write overlay; 4. ok rule */
	struct keyidx_arg ka = {.slot = slot, .write = is_write_op(e->op)};
	cmap_update(c->keys, e->key, e->klen, keyidx_add_cb, &ka);
	bool ok;
	if (e->op == PROTO_OP_GET) {
		uint64_t w = ka.prev_write;
		bool pending_write = w != NO_SLOT && w >= c->exec_index;
		const struct entry *we = pending_write ? slot_entry(c, w) : NULL;
		if (we) {
			r.status = we->op == PROTO_OP_PUT ? PROTO_ST_OK : PROTO_ST_NOT_FOUND;
			r.value = we->op == PROTO_OP_PUT ? we->val : NULL;
			r.vlen = we->op == PROTO_OP_PUT ? we->vlen : 0;
		} else if (c->cfg.noop) {
			r.status = PROTO_ST_NOT_FOUND;
		} else {
			kv_lookup(c, e->key, e->klen, &r);
		}
		ok = !pending_write || w < c->commit_index;
	} else if (e->op == PROTO_OP_SCAN) {
		ok = false; /* strong SCAN goes through the slow path */
		r.status = PROTO_ST_OK;
	} else {
		r.status = PROTO_ST_OK;
		uint64_t a = ka.prev_any;
		ok = a == NO_SLOT || a < c->commit_index;
	}
	e->reply_ok = ok;
	r.ok = ok;
	r.slot = slot;
	if (ok)
		c->st.fast_ok++;
	c->io.to_client(c->io.ctx, conn, &r);

	/* 6. replicate */
	for (int p = 0; p < c->cfg.n; p++)
		if (p != c->cfg.self)
			send_accept(c, e, p, now_ns);
	if (c->cfg.n == 1)
		advance_commit(c, now_ns);
}

static void leader_on_sync(struct core *c, uint64_t conn, const struct proto_msg *m)
{
	if (send_cached_result(c, conn, &m->cid))
		return;
	uint8_t ck[16];
	cid_key(&m->cid, ck);
	uint64_t known = inflight_slot(c, ck);
	if (known != NO_SLOT) {
		struct entry *e = slot_entry(c, known);
		if (e && !e->executed) {
			e->conn = conn;
			e->sync_wanted = true;
		}
	}
	/* Unknown cid: the leader never saw the PROPOSE; the client re-sends it on its timer. */
}

/* ---- execution -------------------------------------------------------------------------- */

static void execute_entry(struct core *c, struct entry *e)
{
	struct proto_msg r = {.type = PROTO_SYNC_REPLY, .view = c->view, .cid = e->cid, .slot = e->slot};
	bool dup = e->cid.client != 0 && already_executed(c, &e->cid);
	if (e->op == PROTO_OP_NONE || dup) {
		/* no-op slot, or a cid executed before: exactly once */
	} else if (e->op == PROTO_OP_GET) {
		if (c->cfg.noop)
			r.status = PROTO_ST_NOT_FOUND;
		else
			kv_lookup(c, e->key, e->klen, &r);
	} else if (e->op == PROTO_OP_PUT || e->op == PROTO_OP_DEL) {
		if (!c->cfg.noop)
			kv_apply(c, e);
		r.status = PROTO_ST_OK;
	} else {
		r.status = PROTO_ST_INVALID; /* SCAN: not executable in this build */
	}
	if (!dup && e->op != PROTO_OP_NONE) {
		cache_result(c, &e->cid, e->slot, r.status, r.value, r.vlen);
		c->st.executed++;
	}
	e->executed = true;
	witness_remove(c, e);

	if (is_leader(c) && e->view == c->view && e->desc != 0) {
		if (!e->reply_ok || e->sync_wanted) {
			if (dup)
				send_cached_result(c, e->conn, &e->cid);
			else {
				c->st.slow_replies++;
				c->io.to_client(c->io.ctx, e->conn, &r);
			}
		}
		uint8_t ck[16];
		cid_key(&e->cid, ck);
		cmap_del(c->inflight, ck, 16, NULL);
		cmap_update(c->keys, e->key, e->klen, keyidx_done_cb, NULL);
		desc_release(c->desc, e->desc);
		e->desc = 0;
		if (!c->intake_open && desc_in_use(c->desc) < desc_capacity(c->desc))
			set_intake(c, true);
	}
}

/* Frees log entries that are no longer needed: executed, and (leader) acknowledged by every
 * replica or pushed out of the window by a follower that stopped acknowledging. */
static void log_gc(struct core *c)
{
	uint32_t all = (c->cfg.n >= 32) ? UINT32_MAX : ((1u << c->cfg.n) - 1);
	while (c->log_base < c->exec_index) {
		struct entry *e = slot_entry(c, c->log_base);
		if (e) {
			bool need = is_leader(c) && e->acks != all &&
				    c->log_end - c->log_base < c->log_soft_cap / 2;
			if (need)
				break;
			entry_clear(e);
		}
		c->log_base++;
	}
}

static void execute_ready(struct core *c)
{
	uint64_t limit = is_leader(c) ? c->commit_index : c->commit_known;
	while (c->exec_index < limit) {
		struct entry *e = slot_entry(c, c->exec_index);
		if (e == NULL)
			break; /* follower: not accepted yet; the leader re-sends it */
		execute_entry(c, e);
		c->exec_index++;
	}
	if (!is_leader(c) && c->exec_index > c->commit_index)
		c->commit_index = c->exec_index;
	log_gc(c);
}

static void advance_commit(struct core *c, uint64_t now_ns)
{
	while (c->commit_index < c->next_slot) {
		struct entry *e = slot_entry(c, c->commit_index);
		if (e == NULL || popcount32(e->acks) < c->majority)
			break;
		c->commit_index++;
	}
	execute_ready(c);
}

static void leader_on_ack(struct core *c, int from, const struct proto_msg *m, uint64_t now_ns)
{
	if (m->view != c->view) {
		c->st.stale_view++;
		return;
	}
	uint64_t hi = m->slot_hi < c->next_slot ? m->slot_hi : c->next_slot - 1;
	if (c->next_slot == 0)
		return;
	for (uint64_t s = m->slot < c->log_base ? c->log_base : m->slot; s <= hi; s++) {
		struct entry *e = slot_entry(c, s);
		if (e && e->view == m->view)
			e->acks |= 1u << from;
	}
	advance_commit(c, now_ns);
}

/* ---- follower --------------------------------------------------------------------------- */

static void follower_ack(struct core *c, uint64_t slot)
{
	if (c->ack_pending && slot == c->ack_hi + 1) {
		c->ack_hi = slot;
		return;
	}
	if (c->ack_pending) {
		struct proto_msg a = {.type = PROTO_ACK, .view = c->view, .slot = c->ack_lo,
				      .slot_hi = c->ack_hi};
		c->io.to_peer(c->io.ctx, c->leader, &a);
	}
	c->ack_pending = true;
	c->ack_lo = c->ack_hi = slot;
}

static void follower_on_accept(struct core *c, int from, const struct proto_msg *m)
{
	if (m->view != c->view || from != c->leader) {
		c->st.stale_view++;
		return;
	}
	uint64_t slot = m->slot;
	if (slot < c->exec_index || slot_entry(c, slot) != NULL) {
		follower_ack(c, slot); /* duplicate: acknowledge again */
	} else if (slot - c->log_base < 4 * c->log_soft_cap && ring_fit(c, slot) == 0) {
		struct entry *e = &c->ring[slot & (c->cap - 1)];
		if (e->used)
			entry_clear(e);
		e->key = malloc(m->cmd.klen ? m->cmd.klen : 1);
		e->val = m->cmd.vlen ? malloc(m->cmd.vlen) : NULL;
		if (e->key == NULL || (m->cmd.vlen && e->val == NULL)) {
			free(e->key);
			free(e->val);
			memset(e, 0, sizeof *e);
			return; /* not acknowledged: the leader re-sends */
		}
		e->used = true;
		e->slot = slot;
		e->view = m->view;
		e->cid = m->cid;
		e->op = m->cmd.op;
		memcpy(e->key, m->cmd.key, m->cmd.klen);
		e->klen = m->cmd.klen;
		if (m->cmd.vlen)
			memcpy(e->val, m->cmd.val, m->cmd.vlen);
		e->vlen = m->cmd.vlen;
		if (slot + 1 > c->log_end)
			c->log_end = slot + 1;
		if (slot + 1 > c->next_slot)
			c->next_slot = slot + 1;
		follower_ack(c, slot);
	}
	if (m->commit > c->commit_known)
		c->commit_known = m->commit;
	execute_ready(c);
}

/* ---- entry points --------------------------------------------------------------------- */

void core_on_client(struct core *c, uint64_t conn, const struct proto_msg *m, uint64_t now_ns)
{
	switch (m->type) {
	case PROTO_PROPOSE:
		c->st.proposals++;
		if (m->cmd.klen > c->cfg.max_key || m->cmd.vlen > c->cfg.max_value) {
			struct proto_msg r = {.type = PROTO_SYNC_REPLY, .view = c->view, .cid = m->cid,
					      .status = PROTO_ST_INVALID};
			c->io.to_client(c->io.ctx, conn, &r);
			return;
		}
		if (client_watermark(c, m->cid.client, m->low_seq, m->cid.seq) &&
		    !send_cached_result(c, conn, &m->cid)) {
			/* Below the client's own watermark: it completed this command already (a
			 * late duplicate); refuse explicitly instead of ordering it again. */
			struct proto_msg r = {.type = PROTO_SYNC_REPLY, .view = c->view, .cid = m->cid,
					      .status = PROTO_ST_TOO_OLD};
			c->io.to_client(c->io.ctx, conn, &r);
			return;
		}
		if (is_leader(c))
			leader_on_propose(c, conn, m, now_ns);
		else
			witness_on_propose(c, conn, m);
		break;
	case PROTO_SYNC:
		client_watermark(c, m->cid.client, m->low_seq, 0);
		if (is_leader(c)) {
			leader_on_sync(c, conn, m);
		} else if (!send_cached_result(c, conn, &m->cid)) {
			struct proto_msg r = {.type = PROTO_REPLY, .view = c->view, .cid = m->cid,
					      .status = PROTO_ST_NOT_LEADER};
			c->io.to_client(c->io.ctx, conn, &r);
		}
		break;
	default:
		break; /* not a client message: ignored */
	}
}

void core_on_peer(struct core *c, int from, const struct proto_msg *m, uint64_t now_ns)
{
	if (from < 0 || from >= c->cfg.n || from == c->cfg.self)
		return;
	switch (m->type) {
	case PROTO_ACCEPT:
		if (!is_leader(c))
			follower_on_accept(c, from, m);
		break;
	case PROTO_ACK:
		if (is_leader(c))
			leader_on_ack(c, from, m, now_ns);
		break;
	case PROTO_COMMIT:
		if (!is_leader(c) && from == c->leader && m->view == c->view) {
			if (m->commit > c->commit_known)
				c->commit_known = m->commit;
			execute_ready(c);
		}
		break;
	default:
		break;
	}
}

void core_client_closed(struct core *c, uint64_t conn)
{
	/* Entries keep the connection id; sends to a closed connection are dropped by the I/O
	 * layer, and a reconnecting client re-sends (PROPOSE/SYNC) on its new connection. */
	(void)c;
	(void)conn;
}

void core_peer_up(struct core *c, int peer, uint64_t now_ns)
{
	if (!is_leader(c) || peer < 0 || peer >= c->cfg.n || peer == c->cfg.self)
		return;
	for (uint64_t s = c->log_base; s < c->log_end; s++) {
		struct entry *e = slot_entry(c, s);
		if (e && !(e->acks & (1u << peer)))
			send_accept(c, e, peer, now_ns);
	}
}

void core_flush(struct core *c, uint64_t now_ns)
{
	if (!is_leader(c)) {
		if (c->ack_pending) {
			struct proto_msg a = {.type = PROTO_ACK, .view = c->view, .slot = c->ack_lo,
					      .slot_hi = c->ack_hi};
			c->io.to_peer(c->io.ctx, c->leader, &a);
			c->ack_pending = false;
		}
		return;
	}
	if (c->commit_index > c->commit_sent) {
		struct proto_msg m = {.type = PROTO_COMMIT, .view = c->view, .commit = c->commit_index};
		for (int p = 0; p < c->cfg.n; p++)
			if (p != c->cfg.self)
				c->io.to_peer(c->io.ctx, p, &m);
		c->commit_sent = c->commit_index;
	}
}

void core_tick(struct core *c, uint64_t now_ns)
{
	if (!is_leader(c))
		return;
	/* Re-send ACCEPTs a follower has not acknowledged for a while (a reconnect lost them). */
	for (uint64_t s = c->commit_index; s < c->log_end; s++) {
		struct entry *e = slot_entry(c, s);
		if (e == NULL || now_ns - e->sent_ns < c->cfg.resend_after_ns)
			continue;
		for (int p = 0; p < c->cfg.n; p++)
			if (p != c->cfg.self && !(e->acks & (1u << p)))
				send_accept(c, e, p, now_ns);
	}
	log_gc(c);
}

bool core_client_intake_open(const struct core *c)
{
	return c->intake_open;
}

uint64_t core_digest(const struct core *c)
{
	return c->digest;
}

void core_get_stats(const struct core *c, struct core_stats *st)
{
	*st = c->st;
	st->view = c->view;
	st->leader = c->leader;
	st->next_slot = c->next_slot;
	st->commit_index = c->commit_index;
	st->exec_index = c->exec_index;
	st->desc_in_use = desc_in_use(c->desc);
	st->witness_records = c->witness_n;
	st->log_entries = c->log_end > c->log_base ? c->log_end - c->log_base : 0;
	st->result_cache = cmap_size(c->results);
	st->keys = cmap_size(c->kv);
	st->digest = c->digest;
}
