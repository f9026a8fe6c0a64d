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
 *
 * The core is split by role: this file (configuration, result cache, executed state, leader,
 * execution, follower, entry points), core_witness.c, core_weak.c, core_vc.c and core_snap.c;
 * core_int.h holds the state they share.
 */
#include "replica/core.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hash.h"
#include "replica/core_int.h"

/* ---- small helpers --------------------------------------------------------------------- */

void core_entry_clear(struct entry *e)
{
	kvs_free(&e->kv, e->klen, e->vlen);
	memset(e, 0, sizeof *e);
}

void core_free_val(void *v)
{
	free(v);
}

static void free_wlist(void *v)
{
	core_wlist_free(v);
}

void core_free_client_rec(void *v)
{
	struct client_rec *cr = v;
	free(cr->seqs);
	free(cr->xbits);
	free(cr);
}

static uint64_t kv_hash(const void *key, size_t klen, const void *val, size_t vlen)
{
	return common_hash64(val, vlen, common_hash64(key, klen, 0x6b76u) ^ (uint64_t)vlen);
}

void core_oom(const struct core *c, const char *what)
{
	fprintf(stderr, "curpkv: replica %d: out of memory (%s): stopping\n", c->cfg.self, what);
	abort();
}

/* Grows the ring so that `slot` fits. Returns 0 or -ENOMEM. */
int core_ring_fit(struct core *c, uint64_t slot)
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
	cfg->ht_early_reply = false;
	cfg->max_parked = 4096;
	cfg->park_ns = 500ull * 1000 * 1000;
	cfg->rejoin_grace_ns = 500ull * 1000 * 1000;
	cfg->snap_chunk_bytes = 512u << 10;
	cfg->snap_low_water = 4u << 20;
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
	if (c->cfg.max_parked == 0)
		c->cfg.max_parked = 1;
	/* The leader's own heartbeats and COMMITs of a tick are in a connection's backlog when it
	 * re-sends ACCEPTs: below a few of them the re-sends would never find room (sim seed 45
	 * of curpht N=5 profile 1, with a low water of 8 bytes, never re-sent a slot again). */
	if (c->cfg.snap_low_water < CORE_MIN_LOW_WATER)
		c->cfg.snap_low_water = CORE_MIN_LOW_WATER;
	c->io = *io;
	c->f = (cfg->n - 1) / 2;
	c->majority = c->f + 1;
	c->leader = leader;
	c->cap = LOG_MIN_CAP;
	while (c->cap < 2ull * cfg->max_desc)
		c->cap *= 2;
	if (cfg->log_cap) {
		c->cap = 16;
		while (c->cap < cfg->log_cap)
			c->cap *= 2;
	}
	c->log_soft_cap = c->cap * 4;
	c->ring = calloc(c->cap, sizeof *c->ring);
	if (c->ring == NULL)
		goto err;
	if ((rc = cmap_create_lock(cfg->shards, core_free_val, CMAP_LOCK_NONE, &c->kv)) != 0)
		goto err;
	if ((rc = oset_create((uint64_t)cfg->self + 1, &c->order)) != 0)
		goto err;
	if ((rc = cmap_create_lock(cfg->shards, core_free_val, CMAP_LOCK_NONE, &c->keys)) != 0)
		goto err;
	if ((rc = cmap_create_lock(cfg->shards, NULL, CMAP_LOCK_NONE, &c->inflight)) != 0)
		goto err;
	if ((rc = cmap_create_lock(cfg->shards, free_wlist, CMAP_LOCK_NONE, &c->witness)) != 0)
		goto err;
	if ((rc = cmap_create_lock(cfg->shards, core_free_val, CMAP_LOCK_NONE, &c->results)) != 0)
		goto err;
	if ((rc = cmap_create_lock(64, core_free_client_rec, CMAP_LOCK_NONE, &c->clients)) != 0)
		goto err;
	if ((rc = cmap_create_lock(64, core_free_val, CMAP_LOCK_NONE, &c->pending_writes)) != 0)
		goto err;
	if ((rc = core_lease_create(c)) != 0)
		goto err;
	c->parked = calloc(cfg->max_parked ? cfg->max_parked : 1, sizeof *c->parked);
	if (c->parked == NULL) {
		rc = -ENOMEM;
		goto err;
	}
	if ((rc = desc_pool_create(cfg->max_desc, 0, sizeof(uint64_t), &c->desc)) != 0)
		goto err;
	c->intake_open = true;
	c->active = true;
	c->inst_acked = UINT32_MAX; /* view 0 is installed everywhere from the start */
	c->hold = cfg->rejoin;
	c->vc_pull_from = -1;
	c->vc_pull_last = -1;
	if ((rc = core_persist_create(c)) != 0)
		goto err;
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
	core_vc_reset(c);
	free(c->vc_items.v);
	for (int i = 0; i < PROTO_MAX_REPLICAS; i++)
		free(c->vc_pending[i].v);
	if (c->ring) {
		for (uint64_t i = 0; i < c->cap; i++)
			if (c->ring[i].used)
				core_entry_clear(&c->ring[i]);
		free(c->ring);
	}
	core_xfer_stop_all(c);
	free(c->xdelta.v);
	free(c->xbuf);
	if (c->snap_old.kv) { /* a transfer was open */
		cmap_destroy(c->snap_old.kv);
		oset_destroy(c->snap_old.order);
		cmap_destroy(c->snap_old.results);
		cmap_destroy(c->snap_old.clients);
	}
	if (c->kv)
		cmap_destroy(c->kv);
	oset_destroy(c->order);
	free(c->scan_buf);
	free(c->old_kept);
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
	if (c->pending_writes)
		cmap_destroy(c->pending_writes);
	core_lease_destroy(c);
	core_persist_destroy(c);
	if (c->parked) {
		for (uint32_t i = 0; i < c->park_n; i++)
			free(c->parked[(c->park_head + i) % c->cfg.max_parked].key);
		free(c->parked);
	}
	if (c->desc)
		desc_pool_destroy(c->desc);
	free(c);
}

/* ---- result cache -------------------------------------------------------------------- */

struct result_copy {
	const struct result *r; /* valid only inside the read callback */
	struct proto_msg *m;
	uint64_t fp;
	bool found;
};

static void read_result_cb(const void *key, size_t klen, void *val, void *arg)
{
	struct result_copy *rc = arg;
	const struct result *r = val;
	rc->found = true;
	rc->fp = r->fp;
	rc->m->slot = r->slot;
	rc->m->ver = r->ver;
	rc->m->status = r->status;
	rc->m->vlen = r->vlen;
	rc->m->value = r->v; /* used by the caller only while the entry cannot change: see below */
}

/* Refuses cid to conn with SYNC_REPLY status CID_REUSED: this replica holds another command
 * under it (docs/recovery.md, "Client ids"). */
static void send_cid_reused(struct core *c, uint64_t conn, const struct proto_cid *cid)
{
	struct proto_msg r = {
	    .type = PROTO_SYNC_REPLY, .view = c->view, .cid = *cid, .status = PROTO_ST_CID_REUSED};
	c->st.cid_reused++;
	c->io.to_client(c->io.ctx, conn, &r);
}

/* Sends the cached result of cid to conn as SYNC_REPLY, or CID_REUSED if it is the result of
 * another command than the one of fingerprint fp (0: not known, no check). Returns true if a
 * result was cached. Single-threaded core: the result cannot be freed between lookup and send
 * (only this thread mutates the cache), so the value pointer stays valid across the send. */
static bool send_cached_result(struct core *c, uint64_t conn, const struct proto_cid *cid,
			       uint64_t fp)
{
	uint8_t k[16];
	cid_key(cid, k);
	struct proto_msg m;
	proto_msg_init(&m, PROTO_SYNC_REPLY, c->view);
	m.cid = *cid;
	struct result_copy rc = {.m = &m};
	if (cmap_get(c->results, k, 16, read_result_cb, &rc) != 0)
		return false;
	if (fp_differ(rc.fp, fp)) {
		send_cid_reused(c, conn, cid);
		return true;
	}
	c->st.slow_replies++;
	c->io.to_client(c->io.ctx, conn, &m);
	return true;
}

struct low_seq_arg {
	uint64_t client;
	uint64_t now_ns; /* the client is heard from (its lease, core_lease.c) */
	uint64_t low_seq;
	bool too_old; /* the asked seq is below the watermark */
	uint64_t seq;
	struct core *c;
	/* seqs to drop from the result cache, collected under the clients-map lock */
	uint64_t drop[64];
	uint32_t ndrop;
	bool nomem;
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
		if (cr == NULL) {
			a->nomem = true;
			return CMAP_KEEP;
		}
		*val = cr;
	}
	cr->heard_ns = a->now_ns;
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

/* Applies a client's watermark (and notes that it was heard from at now_ns); returns true if
 * seq is below it (result already collected). */
static bool client_watermark(struct core *c, uint64_t client, uint64_t low_seq, uint64_t seq,
			     uint64_t now_ns)
{
	struct low_seq_arg a = {
	    .client = client, .now_ns = now_ns, .low_seq = low_seq, .seq = seq, .c = c};
	if (cmap_update_u64(c->clients, client, client_low_seq_cb, &a) < 0 || a.nomem)
		core_oom(c, "a client's watermark");
	for (uint32_t i = 0; i < a.ndrop; i++) {
		struct proto_cid cid = {.client = client, .seq = a.drop[i]};
		uint8_t k[16];
		cid_key(&cid, k);
		cmap_del(c->results, k, 16, NULL);
	}
	return a.too_old;
}

struct xmark_arg {
	uint64_t seq;
	bool nomem;
};

static enum cmap_update_result xmark_cb(const void *key, size_t klen, void **val, void *arg);

struct remember_arg {
	uint64_t seq;
	bool failed;
	bool mark;	    /* also mark seq executed (xmark_cb) in the same visit of the record */
	struct xmark_arg x; /* (then its outcome) */
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
	if (a->mark)
		return xmark_cb(key, klen, val, &a->x);
	return CMAP_KEEP;
}

/* core_cache_result; with mark, also records that cid executed here (exactly-once across view
 * changes: xmark_cb), in the same update of the client's record (one lookup, not two). Returns 0,
 * or -ENOMEM (no result cached; with mark, cached but not recorded executed). */
static int cache_result(struct core *c, const struct proto_cid *cid, uint64_t fp, uint64_t slot,
			uint64_t ver, uint8_t status, const uint8_t *v, uint32_t vlen, bool mark)
{
	struct result *r = malloc(sizeof *r + vlen);
	if (r == NULL)
		return -ENOMEM;
	r->fp = fp;
	r->slot = slot;
	r->ver = ver;
	r->status = status;
	r->vlen = vlen;
	if (vlen)
		memcpy(r->v, v, vlen);
	uint8_t k[16];
	cid_key(cid, k);
	if (cmap_put(c->results, k, 16, r, NULL) != 0) {
		free(r);
		return -ENOMEM;
	}
	struct remember_arg a = {.seq = cid->seq, .mark = mark, .x = {.seq = cid->seq}};
	if (cmap_update_u64(c->clients, cid->client, client_remember_cb, &a) < 0 || a.failed) {
		/* the result would stay cached for good: no watermark would ever drop it */
		cmap_del(c->results, k, 16, NULL);
		return -ENOMEM;
	}
	return a.x.nomem ? -ENOMEM : 0;
}

/* Stores the result of an executed command (exactly-once record), with the fingerprint of the
 * command (proto_cmd_fp). Returns 0, or -ENOMEM (no result cached). */
int core_cache_result(struct core *c, const struct proto_cid *cid, uint64_t fp, uint64_t slot,
		      uint64_t ver, uint8_t status, const uint8_t *v, uint32_t vlen)
{
	return cache_result(c, cid, fp, slot, ver, status, v, vlen, false);
}

static bool xbit(const struct client_rec *cr, uint64_t seq)
{
	uint64_t span = 64ull * cr->xwords;
	if (seq < cr->xfloor)
		return true;
	if (seq - cr->xfloor >= span)
		return false;
	uint64_t i = seq % span;
	return (cr->xbits[i / 64] >> (i % 64)) & 1;
}

static void xbit_set(struct client_rec *cr, uint64_t seq, bool v)
{
	uint64_t i = seq % (64ull * cr->xwords);
	if (v)
		cr->xbits[i / 64] |= 1ull << (i % 64);
	else
		cr->xbits[i / 64] &= ~(1ull << (i % 64));
}

static enum cmap_update_result xmark_cb(const void *key, size_t klen, void **val, void *arg)
{
	struct xmark_arg *a = arg;
	uint64_t seq = a->seq;
	struct client_rec *cr = *val;
	if (cr == NULL) {
		cr = calloc(1, sizeof *cr);
		if (cr == NULL) {
			a->nomem = true;
			return CMAP_KEEP;
		}
		cr->xfloor = 1;
		*val = cr;
	}
	if (cr->xfloor == 0)
		cr->xfloor = 1; /* seqs start at 1 */
	if (seq < cr->xfloor)
		return CMAP_KEEP;
	while (cr->xwords == 0 || seq - cr->xfloor >= 64ull * cr->xwords) {
		if (cr->xwords >= XBITS_MAX_WORDS) {
			/* a session with more than the ring in flight: the oldest unexecuted seq
			 * is given up on (counted as executed) rather than growing without bound */
			xbit_set(cr, cr->xfloor, false);
			cr->xfloor++;
			while (cr->xfloor < seq && xbit(cr, cr->xfloor)) {
				xbit_set(cr, cr->xfloor, false);
				cr->xfloor++;
			}
			continue;
		}
		uint32_t nw = cr->xwords ? cr->xwords * 2 : 2;
		uint64_t *nb = calloc(nw, sizeof *nb);
		if (nb == NULL) {
			a->nomem = true;
			return CMAP_KEEP;
		}
		uint64_t nspan = 64ull * nw;
		for (uint64_t q = cr->xfloor; cr->xwords && q < cr->xfloor + 64ull * cr->xwords;
		     q++)
			if (xbit(cr, q))
				nb[(q % nspan) / 64] |= 1ull << ((q % nspan) % 64);
		free(cr->xbits);
		cr->xbits = nb;
		cr->xwords = nw;
	}
	xbit_set(cr, seq, true);
	while (xbit(cr, cr->xfloor) && cr->xfloor < seq + 1) {
		xbit_set(cr, cr->xfloor, false);
		cr->xfloor++;
	}
	return CMAP_KEEP;
}

static void xread_cb(const void *key, size_t klen, void *val, void *arg)
{
	uint64_t *seq = arg;
	*seq = xbit(val, *seq) ? 1 : 0;
}

/* True if cid executed at this replica (its result cached, or its bit in the client's executed
 * set). The client's watermark says nothing about execution here (a fast-path completion
 * precedes commit), so it is never used to infer it. */
bool core_already_executed(struct core *c, const struct proto_cid *cid)
{
	uint8_t k[16];
	cid_key(cid, k);
	if (cmap_contains(c->results, k, 16))
		return true;
	return core_executed_bit(c, cid);
}

/* core_already_executed's second half: cid's bit in its client's executed set (for a caller
 * that has looked the result cache up already). */
bool core_executed_bit(struct core *c, const struct proto_cid *cid)
{
	uint64_t seq = cid->seq;
	if (cmap_get_u64(c->clients, cid->client, xread_cb, &seq) != 0)
		return false;
	return seq == 1;
}

static void read_slot_cb(const void *key, size_t klen, void *val, void *arg)
{
	*(uint64_t *)arg = (uint64_t)(uintptr_t)val - 1;
}

/* Leader: the slot of the in-flight cid whose cid_key is inflight_key, or NO_SLOT. */
uint64_t core_inflight_slot(struct core *c, const uint8_t inflight_key[16])
{
	uint64_t slot = NO_SLOT;
	if (cmap_get(c->inflight, inflight_key, 16, read_slot_cb, &slot) != 0)
		return NO_SLOT;
	return slot;
}

/* ---- executed state -------------------------------------------------------------------- */

static void kv_read_cb(const void *key, size_t klen, void *val, void *arg)
{
	struct kv_state *st = arg;
	const struct kv_val *kv = val;
	st->found = true;
	st->value = kv->data; /* single-threaded core: stable until the next kv mutation */
	st->vlen = kv->len;
	st->ver = kv->ver + 1;
}

/* Sets *st to the executed state of key: found, its value and 1 + the slot of the write that
 * left it so. A deleted key leaves no tombstone: an absent key reports 1 + the slot of the
 * latest DEL executed here (0: none), at least its own deletion's, which is what a version is
 * for (a curpho read token, a curpht cache comparison: docs/recovery.md "Tombstones"). */
void core_kv_lookup(struct core *c, const uint8_t *key, uint32_t klen, struct kv_state *st)
{
	*st = (struct kv_state){.ver = c->del_ver};
	/* (an absent key: kv_read_cb is not called, and *st stays as set here) */
	(void)cmap_get(c->kv, key, klen, kv_read_cb, st);
}

/* core_kv_lookup for an answer: sets m->status, value and vlen; returns the version. */
uint64_t core_kv_answer(struct core *c, const uint8_t *key, uint32_t klen, struct proto_msg *m)
{
	struct kv_state st;
	core_kv_lookup(c, key, klen, &st);
	m->status = st.found ? PROTO_ST_OK : PROTO_ST_NOT_FOUND;
	m->value = st.value;
	m->vlen = st.vlen;
	return st.ver;
}

struct kv_write {
	struct core *c;
	uint64_t ver;
	const uint8_t *v;
	uint32_t vlen;
	bool del;    /* DEL, GETDEL */
	bool append; /* v goes after the old value; refused (too_big) beyond max */
	bool incr;   /* v is added to the old value (proto_incr); refused (incr_err) */
	int setx;    /* SETX: its flags (v is the new value, after them); 0 otherwise */
	uint32_t max;
	bool too_big;
	int incr_err;	    /* proto_incr's -EINVAL or -ERANGE: nothing changed */
	uint8_t *out;	    /* INCR: the new value goes here (PROTO_INT_MAX_LEN bytes) */
	uint32_t outlen;    /* (its length) */
	struct kv_val *old; /* handed back for freeing outside the lock */
	/* the value the key had (NULL: none), whether it was taken out of the map (then old) or
	 * left in it (a SETX whose condition failed: valid until the key's next write) */
	const struct kv_val *prev;
	bool was_live, now_live;
	bool nomem; /* no memory for the new value: nothing changed */
};

static enum cmap_update_result kv_write_cb(const void *key, size_t klen, void **val, void *arg)
{
	struct kv_write *w = arg;
	struct kv_val *old = *val;
	w->was_live = old != NULL;
	w->prev = old;
	if (w->setx && !proto_setx_applies((unsigned)w->setx, old != NULL)) {
		/* NX of a key that exists, XX of one that does not: nothing changes (the same at
		 * every replica: the state decides it) */
		w->old = NULL;
		w->now_live = w->was_live;
		return CMAP_KEEP;
	}
	if (w->del) {
		w->now_live = false;
		w->old = old;
		if (old == NULL)
			return CMAP_KEEP;
		w->c->digest -= kv_hash(key, klen, old->data, old->len);
		w->c->live_keys--;
		*val = NULL;
		return CMAP_DELETE; /* no tombstone (core_kv_lookup) */
	}
	uint32_t base = w->append && old ? old->len : 0;
	if (w->append && (uint64_t)base + w->vlen > w->max) {
		w->too_big = true; /* the same at every replica: the state decides it */
		w->old = NULL;
		w->now_live = w->was_live;
		return CMAP_KEEP;
	}
	if (w->incr) {
		/* the new value replaces the old one; refused the same at every replica */
		w->incr_err = proto_incr(old ? old->data : NULL, old ? old->len : 0, w->v, w->vlen,
					 w->out, &w->outlen);
		if (w->incr_err != 0 || w->outlen > w->max) {
			w->too_big = w->incr_err == 0; /* (a maxValueBytes below 20 bytes) */
			w->old = NULL;
			w->now_live = w->was_live;
			return CMAP_KEEP;
		}
		w->v = w->out;
		w->vlen = w->outlen;
	}
	uint32_t len = base + w->vlen;
	struct kv_val *nv = malloc(sizeof *nv + len);
	if (nv == NULL) {
		w->nomem = true;
		w->old = NULL;
		w->now_live = w->was_live;
		return CMAP_KEEP;
	}
	w->now_live = true;
	if (old) {
		w->c->digest -= kv_hash(key, klen, old->data, old->len);
		w->c->live_keys--;
	}
	w->old = old;
	nv->len = len;
	nv->ver = w->ver;
	if (base)
		memcpy(nv->data, old->data, base);
	if (w->vlen)
		memcpy(nv->data + base, w->v, w->vlen);
	w->c->digest += kv_hash(key, klen, nv->data, nv->len);
	w->c->live_keys++;
	*val = nv;
	if (w->append) /* its result: the length after it (Redis's APPEND reply) */
		w->outlen = proto_int_format(len, w->out);
	return CMAP_KEEP;
}

/* Applies the write cmd (its bytes read, not kept) as version ver (its slot). Returns 0 (an
 * INCR's new value, an APPEND's new length in decimal, in c->incr_out, c->incr_len bytes; a
 * GETDEL's or SETX's old state in c->old_found, c->old_val, c->old_vlen, until
 * core_kv_old_free);
 * -EFBIG for an APPEND (or INCR) refused because the value would exceed max_value, -EINVAL or
 * -ERANGE for an INCR refused (proto_incr), -EPROTO for a SETX without valid flags (which no
 * decoder lets in): nothing changes; or -ENOMEM: the key's value may have changed but the state
 * is not whole (the key order, or the value itself, is missing): the caller stops the process or
 * discards the state (a transfer that arrives). */
int core_kv_apply(struct core *c, uint64_t ver, const struct proto_cmd *cmd)
{
	int setx = cmd->op == PROTO_OP_SETX ? proto_setx_flags(cmd->val, cmd->vlen) : 0;
	if (setx < 0)
		return -EPROTO;
	struct kv_write w = {.c = c,
			     .ver = ver,
			     .v = setx ? cmd->val + PROTO_SETX_HDR : cmd->val,
			     .vlen = setx ? cmd->vlen - PROTO_SETX_HDR : cmd->vlen,
			     .del = cmd->op == PROTO_OP_DEL || cmd->op == PROTO_OP_GETDEL,
			     .append = cmd->op == PROTO_OP_APPEND,
			     .incr = cmd->op == PROTO_OP_INCR,
			     .setx = setx,
			     .out = c->incr_out,
			     .max = c->cfg.max_value};
	if (cmap_update(c->kv, cmd->key, cmd->klen, kv_write_cb, &w) < 0 || w.nomem)
		return -ENOMEM;
	if (w.incr_err)
		return w.incr_err;
	if (w.too_big)
		return -EFBIG;
	if (w.incr || w.append)
		c->incr_len = w.outlen;
	if (cmd->op == PROTO_OP_GETDEL || setx) {
		/* the old value answers the command (core_execute_entry): kept until it did */
		core_kv_old_free(c);
		c->old_kept = w.old;
		c->old_found = w.prev != NULL;
		c->old_val = w.prev ? w.prev->data : NULL;
		c->old_vlen = w.prev ? w.prev->len : 0;
	} else {
		free(w.old);
	}
	if (w.del && ver + 1 > c->del_ver)
		c->del_ver = ver + 1;
	if (w.was_live || w.now_live)
		core_xfer_note(c, cmd->key, cmd->klen); /* a transfer under way sends it again */
	if (w.now_live && !w.was_live && oset_insert(c->order, cmd->key, cmd->klen) < 0)
		return -ENOMEM;
	if (w.was_live && !w.now_live)
		oset_remove(c->order, cmd->key, cmd->klen);
	return 0;
}

void core_kv_old_free(struct core *c)
{
	free(c->old_kept);
	c->old_kept = NULL;
	c->old_found = false;
	c->old_val = NULL;
	c->old_vlen = 0;
}

/* Sets m to the SCAN of up to count live keys from key on (ascending, PROTO_SCAN pairs), fewer
 * when the next pair would take the result past maxValueBytes. m->value points into c->scan_buf,
 * valid until the next SCAN. Returns 0, or -ENOMEM (no room for the result: m is unusable; a
 * shorter answer than the state holds would be a wrong one). */
int core_scan_exec(struct core *c, const uint8_t *key, uint32_t klen, uint32_t count,
		   struct proto_msg *m)
{
	m->status = PROTO_ST_OK;
	m->value = NULL;
	m->vlen = 0;
	if (c->cfg.noop)
		return 0;
	size_t used = 0;
	uint32_t got = 0;
	struct kv_state v; /* each key's value */
	for (const struct oset_node *n = oset_seek(c->order, key, klen); n && got < count;
	     n = oset_next(n)) {
		size_t kl;
		const uint8_t *k = oset_key(n, &kl);
		core_kv_lookup(c, k, (uint32_t)kl, &v);
		if (!v.found)
			continue; /* not live: cannot happen while order mirrors kv */
		size_t need = proto_scan_pair_size((uint32_t)kl, v.vlen);
		if (used + need > c->cfg.max_value)
			break;
		if (used + need > c->scan_cap) {
			size_t cap = c->scan_cap ? c->scan_cap : 4096;
			while (cap < used + need)
				cap *= 2;
			uint8_t *nb = realloc(c->scan_buf, cap);
			if (nb == NULL)
				return -ENOMEM;
			c->scan_buf = nb;
			c->scan_cap = cap;
		}
		used += proto_scan_put(c->scan_buf + used, k, (uint32_t)kl, v.value, v.vlen);
		got++;
	}
	m->value = c->scan_buf;
	m->vlen = (uint32_t)used;
	return 0;
}

/* ---- leader --------------------------------------------------------------------------- */

static enum cmap_update_result keyidx_add_cb(const void *key, size_t klen, void **val, void *arg)
{
	struct keyidx_arg *a = arg;
	struct keyidx *k = *val;
	if (k == NULL) {
		k = malloc(sizeof *k);
		if (k == NULL) {
			a->nomem = true;
			return CMAP_KEEP;
		}
		k->last_any = k->last_write = k->last_strong_any = k->last_strong_write =
		    k->last_weak_write = NO_SLOT;
		k->weak_cid = (struct proto_cid){0, 0};
		k->pending = 0;
		*val = k;
	}
	a->prev_any = k->last_any;
	a->prev_write = k->last_write;
	a->prev_strong_any = k->last_strong_any;
	a->prev_strong_write = k->last_strong_write;
	a->prev_weak_write = k->last_weak_write;
	a->prev_weak_cid = k->weak_cid;
	k->last_any = a->slot;
	if (a->write)
		k->last_write = a->slot;
	if (a->weak) {
		k->last_weak_write = a->slot;
		k->weak_cid = a->cid;
	} else {
		k->last_strong_any = a->slot;
		if (a->write)
			k->last_strong_write = a->slot;
	}
	k->pending++;
	return CMAP_KEEP;
}

/* Leader: slot ka->slot (entry e, just placed in the log) enters the per-key pending index;
 * ka gets the index as it was before. Stops the process if the index cannot hold it: every
 * later command on the key would be answered as if this one were not pending (a stale
 * speculative value). */
void core_keyidx_add(struct core *c, const struct entry *e, struct keyidx_arg *ka)
{
	assert(is_leader(c) && ka->slot == e->slot);
	if (cmap_update(c->keys, entry_key(e), e->klen, keyidx_add_cb, ka) < 0 || ka->nomem)
		core_oom(c, "the leader's per-key index");
}

static enum cmap_update_result keyidx_done_cb(const void *key, size_t klen, void **val, void *arg)
{
	struct keyidx *k = *val;
	if (k == NULL)
		return CMAP_KEEP;
	assert(k->pending > 0);
	if (--k->pending == 0) {
		free(k);
		*val = NULL;
		return CMAP_DELETE;
	}
	return CMAP_KEEP;
}

void core_set_intake(struct core *c, bool open)
{
	if (c->intake_open == open)
		return;
	c->intake_open = open;
	if (c->io.client_intake)
		c->io.client_intake(c->io.ctx, open);
}

void core_send_accept(struct core *c, struct entry *e, int to, uint64_t now_ns)
{
	struct proto_msg a;
	proto_msg_init(&a, PROTO_ACCEPT, e->view);
	a.slot = e->slot;
	a.cid = e->cid;
	a.commit = c->commit_index;
	a.cmd = entry_cmd(e);
	c->io.to_peer(c->io.ctx, to, &a);
	e->sent_ns = now_ns;
	if (c->commit_sent[to] < c->commit_index)
		c->commit_sent[to] = c->commit_index;
	c->accept_peers |= 1u << to;
}

struct low_read {
	uint64_t low_seq;
};

static void read_low_seq_cb(const void *key, size_t klen, void *val, void *arg)
{
	((struct low_read *)arg)->low_seq = ((const struct client_rec *)val)->low_seq;
}

/* The client's watermark as heard here: the highest low_seq of its PROPOSEs, weak writes and
 * SYNCs (every seq below it completed at the client), 0 if none. */
uint64_t core_client_low_seq(struct core *c, uint64_t client)
{
	struct low_read lr = {0};
	cmap_get_u64(c->clients, client, read_low_seq_cb, &lr);
	return lr.low_seq;
}

/* Leader: true if the session's weak write `dep` is already ordered (in the log, executed, or
 * below the session's watermark, i.e. completed and collected). Nothing of a session is
 * ordered before its previous weak write: that is what keeps session order when a weak write
 * was refused (BUSY) or lost and is re-sent later. */
bool core_dep_ordered(struct core *c, uint64_t client, uint64_t dep)
{
	if (dep == 0)
		return true;
	struct proto_cid d = {.client = client, .seq = dep};
	uint8_t k[16];
	cid_key(&d, k);
	if (cmap_contains(c->inflight, k, 16) || cmap_contains(c->results, k, 16))
		return true;
	return dep < core_client_low_seq(c, client);
}

/* Leader: appends m's command at the next slot with a descriptor. Returns the entry, or NULL
 * (no descriptor, window full, no memory: nothing changed, the caller answers BUSY). */
struct entry *core_log_append(struct core *c, uint64_t conn, const struct proto_msg *m,
			      uint8_t kind)
{
	assert(is_leader(c) && c->active);
	desc_id did;
	void *payload;
	if (desc_acquire(c->desc, false, &did, &payload) != 0) {
		core_set_intake(c, false);
		return NULL;
	}
	if (desc_in_use(c->desc) >= desc_capacity(c->desc))
		core_set_intake(c, false);
	uint64_t slot = c->next_slot;
	if (core_ring_fit(c, slot) != 0 || slot - c->log_base >= c->log_soft_cap) {
		desc_release(c->desc, did);
		return NULL;
	}
	struct entry *e = &c->ring[slot & (c->cap - 1)];
	memset(e, 0, sizeof *e);
	if (kvs_set(&e->kv, m->cmd.key, m->cmd.klen, m->cmd.val, m->cmd.vlen) != 0) {
		desc_release(c->desc, did);
		return NULL;
	}
	uint8_t inflight_key[16];
	cid_key(&m->cid, inflight_key);
	/* (the leader's own EXPIRE has no cid: nothing in flight to find) */
	if (m->cid.client != 0 &&
	    cmap_put(c->inflight, inflight_key, 16, (void *)(uintptr_t)(slot + 1), NULL) != 0) {
		kvs_free(&e->kv, m->cmd.klen, m->cmd.vlen);
		memset(e, 0, sizeof *e);
		desc_release(c->desc, did);
		return NULL;
	}
	c->next_slot++;
	c->log_end = c->next_slot;
	e->used = true;
	e->slot = slot;
	e->view = c->view;
	e->cid = m->cid;
	e->kind = kind;
	e->op = m->cmd.op;
	e->klen = m->cmd.klen;
	e->vlen = m->cmd.vlen;
	e->scan_count = m->cmd.op == PROTO_OP_SCAN ? m->cmd.scan_count : 0;
	e->acks = 1u << c->cfg.self;
	core_unacked(c, e->slot); /* (a floor left by an earlier view may lie past it) */
	core_persist_entry(c, e);
	e->conn = conn;
	e->desc = did;
	e->led = true;
	*(uint64_t *)payload = slot;
	return e;
}

void core_replicate(struct core *c, struct entry *e, uint64_t now_ns)
{
	assert(is_leader(c));
	for (int p = 0; p < c->cfg.n; p++)
		if (p != c->cfg.self)
			core_send_accept(c, e, p, now_ns);
	if (c->cfg.n == 1)
		core_advance_commit(c, now_ns);
}

/* Leader: true (counted, and the caller refuses with CID_REUSED) if the entry in flight at slot
 * `known` holds another command than the one of fingerprint fp: the same cid from another
 * client (a reused client id), not a re-send. Attaching it would hand that client the other
 * command's result. */
bool core_inflight_reused(struct core *c, uint64_t known, uint64_t fp)
{
	const struct entry *e = slot_entry(c, known);
	return e != NULL && e->cid.client != 0 && fp_differ(entry_fp(e), fp);
}

/* A command re-sent while in flight at slot `known` (counted a duplicate): its answer goes to
 * conn when it executes, as `kind` (an entry a view change recovered has no kind yet). Returns
 * the entry, or NULL if it has executed or left the log window. */
struct entry *core_attach_resend(struct core *c, uint64_t known, uint64_t conn, uint8_t kind)
{
	assert(is_leader(c));
	c->st.duplicates++;
	struct entry *e = slot_entry(c, known);
	if (e == NULL || e->executed)
		return NULL;
	e->conn = conn;
	e->sync_wanted = true;
	e->kind = kind;
	return e;
}
/* Leader, step 3 of a strong GET (leader_on_propose): its speculative answer into r, computed
 * over the pending-write overlay (weak writes included) from the key's index as it was before
 * this command (ka, from core_keyidx_add_cb), and the ok rule's verdict. The answer is the value
 * of the latest write of the key not yet executed, else the executed value. It is final (ok)
 * only if no strong write of the key (any write outside curpho) is still pending: executed, or
 * committed. A pending GETDEL leaves the key missing, as a DEL does. With a pending APPEND,
 * INCR or SETX, or an index entry whose log entry is gone, there is no value to give: not ok,
 * the slow path answers from the execution. curpho: r->read_dep names a pending weak write of
 * the key, which the client checks against its witnesses' answers. */
static bool speculative_get(struct core *c, const struct entry *e, const struct keyidx_arg *ka,
			    struct proto_msg *r)
{
	bool ho = c->cfg.protocol == CONF_PROTO_CURPHO;
	uint64_t w = ka->prev_write;
	bool pending_write = w != NO_SLOT && w >= c->exec_index;
	const struct entry *we = pending_write ? slot_entry(c, w) : NULL;
#ifdef CURPKV_MUTANT_STALE_SPEC
	pending_write = false; /* mutant (the prototype's P1): the executed value only */
	we = NULL;
#endif
	bool ok;
	if (pending_write && we == NULL) {
		r->status = PROTO_ST_OK; /* index without its entry: never trust it */
		ok = false;
	} else if (we && proto_op_rmw(we->op) && we->op != PROTO_OP_GETDEL) {
		/* the value is the executed one plus pending appends (increments, conditional
		 * sets): the slow path answers (from the execution) */
		r->status = PROTO_ST_OK;
		ok = false;
	} else {
		if (we) {
			r->status = we->op == PROTO_OP_PUT ? PROTO_ST_OK : PROTO_ST_NOT_FOUND;
			r->value = we->op == PROTO_OP_PUT ? entry_val(we) : NULL;
			r->vlen = we->op == PROTO_OP_PUT ? we->vlen : 0;
			r->ver = we->slot + 1;
		} else if (c->cfg.noop) {
			r->status = PROTO_ST_NOT_FOUND;
		} else {
			r->ver = core_kv_answer(c, entry_key(e), e->klen, r);
		}
		/* HO: an earlier weak write does not by itself make ok false (the client's
		 * read_dep check covers it); strong writes do, everywhere. */
		uint64_t sw = ho ? ka->prev_strong_write : w;
		ok = sw == NO_SLOT || sw < c->exec_index || sw < c->commit_index;
	}
	if (ho && ka->prev_weak_write != NO_SLOT && ka->prev_weak_write >= c->exec_index)
		r->read_dep = ka->prev_weak_cid;
	/* HO, F7: not ok while another session's pending weak write of the key precedes the
	 * latest one (the witnesses' rule, core_witness_add_cb): the caller's leader_keep_record
	 * tells, in the same visit of the key's witness records as its own record's */
	return ok;
}

/* Leader, step 3 of a write (PUT, DEL, APPEND, INCR, GETDEL, SETX) at e's slot: its answer into
 * r and the ok rule's verdict: final only if every earlier write of the key (curpho: every
 * earlier strong one) is committed, and for a read-modify-write also executed and the outcome a
 * success (APPEND: within maxValueBytes; INCR: integers and no overflow; its REPLY carries the
 * new value; GETDEL, SETX: the REPLY carries the key's old state, status OK (with the old value
 * for GETDEL and SETX GET) or NOT_FOUND). The execution computes the same from the same state,
 * no write of the key coming between. */
static bool speculative_write(struct core *c, const struct entry *e, const struct keyidx_arg *ka,
			      struct proto_msg *r)
{
	bool ho = c->cfg.protocol == CONF_PROTO_CURPHO;
	r->status = PROTO_ST_OK;
	r->ver = e->slot + 1;
	uint64_t a = ho ? ka->prev_strong_any : ka->prev_any;
	bool ok = a == NO_SLOT || a < c->commit_index;
	if (e->op == PROTO_OP_APPEND && ok) {
		/* its outcome (applied, or refused past maxValueBytes) depends on the value's
		 * length: the fast path only when every earlier write of the key has executed and
		 * it fits; else the execution answers */
		struct kv_state cur;
		if (ka->prev_write != NO_SLOT && ka->prev_write >= c->exec_index)
			ok = false;
		else if (core_kv_lookup(c, entry_key(e), e->klen, &cur),
			 (uint64_t)cur.vlen + e->vlen > c->cfg.max_value)
			ok = false;
		else if (!c->cfg.noop) { /* its REPLY: the length after it, as the execution's */
			r->vlen = proto_int_format((int64_t)cur.vlen + e->vlen, c->incr_spec);
			r->value = c->incr_spec; /* sent before the next PROPOSE reuses it */
		}
	}
	if (e->op == PROTO_OP_INCR && ok) {
		struct kv_state cur;
		uint32_t len = 0;
		if (c->cfg.noop || (ka->prev_write != NO_SLOT && ka->prev_write >= c->exec_index))
			ok = false;
		else if (core_kv_lookup(c, entry_key(e), e->klen, &cur),
			 proto_incr(cur.value, cur.vlen, entry_val(e), e->vlen, c->incr_spec,
				    &len) != 0 ||
			     len > c->cfg.max_value)
			ok = false; /* refused at its execution, which answers */
		else {
			r->value = c->incr_spec; /* sent before the next PROPOSE reuses it */
			r->vlen = len;
		}
	}
	if ((e->op == PROTO_OP_GETDEL || e->op == PROTO_OP_SETX) && ok) {
		int setx = e->op == PROTO_OP_SETX ? proto_setx_flags(entry_val(e), e->vlen) : 0;
		if (c->cfg.noop || setx < 0 ||
		    (ka->prev_write != NO_SLOT && ka->prev_write >= c->exec_index)) {
			ok = false; /* the execution answers */
		} else {
			/* (the value points into the state: sent before anything executes) */
			struct kv_state cur;
			core_kv_lookup(c, entry_key(e), e->klen, &cur);
			r->status = cur.found ? PROTO_ST_OK : PROTO_ST_NOT_FOUND;
			if (cur.found && (!setx || (setx & PROTO_SETX_GET))) {
				r->value = cur.value;
				r->vlen = cur.vlen;
			}
		}
	}
	return ok;
}

/* Leader, step 4 of a command answered ok: the leader is one of the super quorum (its REPLY
 * ok), so it keeps a witness record too; a view change that collects it (back after a pause, or
 * a follower of a later view it never installed) then counts it among the command's holders
 * (PROTOCOL.md 7.2). read_dep: the REPLY's. With mixed (an HO strong GET), F7 first
 * (core_witness_mixed): if it holds, the GET is not ok after all, and nothing is kept. Returns
 * whether the REPLY stays ok. */
static bool leader_keep_record(struct core *c, const struct proto_msg *m, struct proto_cid read_dep,
			       bool mixed)
{
	if (c->cfg.n == 1)
		return !(mixed && core_witness_mixed(c, m->cmd.key, m->cmd.klen, m->cid.client));
	struct witness_arg la = {.c = c,
				 .cid = m->cid,
				 .write = is_write_op(m->cmd.op),
				 .op = m->cmd.op,
				 .keep_val = is_write_op(m->cmd.op),
				 .val = m->cmd.val,
				 .vlen = m->cmd.vlen,
				 .force_ok = true,
				 .dep = m->dep,
				 .weak_dep = m->weak_dep,
				 .leader_rd = true,
				 .leader_read_dep = read_dep,
				 .full = c->witness_n >= c->cfg.max_witness};
	if (mixed) {
		int rc = core_witness_add_unless_mixed(c, m->cmd.key, m->cmd.klen, m->cid.client,
						       &la);
		if (rc == 1)
			return false;
		if (rc < 0 || la.nomem)
			core_oom(c, "the leader's witness record");
		return true;
	}
	if (cmap_update(c->witness, m->cmd.key, m->cmd.klen, core_witness_add_cb, &la) < 0 ||
	    la.nomem)
		core_oom(c, "the leader's witness record");
	return true;
}

static void leader_on_propose(struct core *c, uint64_t conn, const struct proto_msg *m,
			      uint64_t now_ns)
{
	assert(is_leader(c));
	struct proto_msg r;
	proto_msg_init(&r, PROTO_REPLY, c->view);
	r.cid = m->cid;
	if (m->view != c->view) {
		c->st.stale_view++;
		r.status = PROTO_ST_STALE_VIEW;
		c->io.to_client(c->io.ctx, conn, &r);
		return;
	}
	if (!c->active) {
		r.status = PROTO_ST_BUSY; /* still collecting the view's state: retry soon */
		c->io.to_client(c->io.ctx, conn, &r);
		return;
	}
	/* 1. dedup: executed -> cached result; in flight -> answer when it executes */
	uint8_t inflight_key[16];
	cid_key(&m->cid, inflight_key);
	uint64_t fp = proto_cmd_fp(&m->cmd);
#ifdef CURPKV_MUTANT_DOUBLE_EXEC
	if (false) { /* mutant: a retried cid gets a new slot */
#else
	if (send_cached_result(c, conn, &m->cid, fp)) {
#endif
		c->st.duplicates++;
		return;
	}
	uint64_t known = core_inflight_slot(c, inflight_key);
#ifdef CURPKV_MUTANT_DOUBLE_EXEC
	known = NO_SLOT;
#endif
	if (known != NO_SLOT && core_inflight_reused(c, known, fp)) {
		send_cid_reused(c, conn, &m->cid);
		return;
	}
	if (known != NO_SLOT) {
		(void)core_attach_resend(c, known, conn, EK_STRONG);
		return;
	}
	/* 2. session order (the session's previous weak write first), not a client an EXPIRE
	 * about to execute may forget, a descriptor, a slot */
	struct entry *e = NULL;
	if (!core_dep_ordered(c, m->cid.client, m->dep) || core_lease_pending(c, m->cid.client) ||
	    (e = core_log_append(c, conn, m, EK_STRONG)) == NULL) {
		c->st.busy++;
		r.status = PROTO_ST_BUSY;
		c->io.to_client(c->io.ctx, conn, &r);
		return;
	}
	/* 3. the speculative answer and the ok rule, from the key's index as it was before this
	 * command (which this call adds it to) */
	struct keyidx_arg ka = {.slot = e->slot, .write = is_write_op(e->op), .cid = e->cid};
	core_keyidx_add(c, e, &ka);
	bool ok;
	if (e->op == PROTO_OP_GET) {
		ok = speculative_get(c, e, &ka, &r);
	} else if (e->op == PROTO_OP_SCAN) {
		ok = false; /* strong SCAN goes through the slow path */
		r.status = PROTO_ST_OK;
	} else {
		ok = speculative_write(c, e, &ka, &r);
	}
	/* 4. the reply (ok: the leader's own witness record first; an HO GET's F7 with it) */
	if (ok)
		ok = leader_keep_record(c, m, r.read_dep,
				       c->cfg.protocol == CONF_PROTO_CURPHO &&
					   e->op == PROTO_OP_GET);
	e->reply_ok = ok;
	r.ok = ok;
	r.slot = e->slot;
	if (ok)
		c->st.fast_ok++;
	c->io.to_client(c->io.ctx, conn, &r);
	/* 5. replication */
	core_replicate(c, e, now_ns);
}

/* Sends the answer to a weak write: HO CAUSAL_REPLY (executed = ok), HT WEAK_REPLY. */
static void leader_on_sync(struct core *c, uint64_t conn, const struct proto_msg *m)
{
	assert(is_leader(c));
	if (send_cached_result(c, conn, &m->cid, m->fp))
		return;
	uint8_t inflight_key[16];
	cid_key(&m->cid, inflight_key);
	uint64_t known = core_inflight_slot(c, inflight_key);
	if (known != NO_SLOT && core_inflight_reused(c, known, m->fp)) {
		send_cid_reused(c, conn, &m->cid);
		return;
	}
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

/* Leader: takes e out of the in-flight tables (it executed, or the leader stepped down). */
void core_unregister_led(struct core *c, struct entry *e)
{
	assert(is_leader(c) && e->led);
	if (e->cid.client != 0) {
		uint8_t inflight_key[16];
		cid_key(&e->cid, inflight_key);
		cmap_del(c->inflight, inflight_key, 16, NULL);
	}
	if (is_client_op(e->op))
		core_update_present(c->keys, entry_key(e), e->klen, keyidx_done_cb, NULL);
	if (e->desc != 0)
		desc_release(c->desc, e->desc);
	e->desc = 0;
	e->led = false;
}

/* Executes e (at the execution index). Its effect and its exactly-once records are kept whole
 * or the process stops (core_oom): a replica that executed a command must not forget it. */
void core_execute_entry(struct core *c, struct entry *e)
{
	assert(e->slot == c->exec_index && !e->executed && !c->snap_open);
	assert(!e->led || is_leader(c)); /* only a leader registers entries in flight */
	struct proto_msg r;
	proto_msg_init(&r, PROTO_SYNC_REPLY, c->view);
	r.cid = e->cid;
	r.slot = e->slot;
	if (e->op == PROTO_OP_EXPIRE) {
		core_lease_execute(c, e); /* (the leader's own entry: nobody to answer) */
		e->executed = true;
		if (is_leader(c) && e->led) {
			core_unregister_led(c, e);
			if (!c->intake_open && desc_in_use(c->desc) < desc_capacity(c->desc))
				core_set_intake(c, true);
		}
		return;
	}
	bool dup = !MUTANT_DOUBLE_EXEC && e->cid.client != 0 && core_already_executed(c, &e->cid);
	/* a command of a client expired for good (ordered from witness records by a view change,
	 * a late retry): never executed, the same way on every replica (core_lease.c) */
	bool expired = !dup && e->op != PROTO_OP_NONE && core_lease_expired(c, e->cid.client);
	if (expired) {
		r.status = PROTO_ST_EXPIRED;
		c->st.expired_refused++;
	}
	uint64_t fp = e->op != PROTO_OP_NONE ? entry_fp(e) : 0;
	struct cached_slot cs;
	if (dup && core_cached_slot(c, &e->cid, &cs) && fp_differ(cs.fp, fp)) {
		/* another command executed under this cid (a reused client id): this one is not
		 * executed, and its client is told so, not given the other one's result */
		r.status = PROTO_ST_CID_REUSED;
		c->st.cid_reused++;
	}
	if (e->op == PROTO_OP_NONE || dup || expired) {
		/* no-op slot, or a cid executed before: exactly once */
	} else if (e->op == PROTO_OP_GET) {
		if (c->cfg.noop)
			r.status = PROTO_ST_NOT_FOUND;
		else
			r.ver = core_kv_answer(c, entry_key(e), e->klen, &r);
	} else if (is_write_op(e->op)) {
		r.status = PROTO_ST_OK;
		r.ver = e->slot + 1;
		struct proto_cmd cmd = entry_cmd(e);
		int rc = c->cfg.noop ? 0 : core_kv_apply(c, e->slot, &cmd);
		if (rc == -ENOMEM)
			core_oom(c, "executing a write");
		if (rc == -EFBIG || rc == -EINVAL || rc == -ERANGE || rc == -EPROTO) {
			/* an APPEND (INCR) past maxValueBytes, an INCR of a non-integer or an
			 * overflow, a SETX without flags: not applied, the same at every replica */
			r.status = PROTO_ST_INVALID;
			r.ver = 0;
			if (rc == -EINVAL || rc == -ERANGE) {
				r.value = (const uint8_t *)(rc == -EINVAL ? PROTO_INCR_NOT_INT
									  : PROTO_INCR_OVERFLOW);
				r.vlen = (uint32_t)strlen((const char *)r.value);
			}
		} else if ((e->op == PROTO_OP_INCR || e->op == PROTO_OP_APPEND) && !c->cfg.noop) {
			r.value = c->incr_out; /* the new value, the new length (cached below) */
			r.vlen = c->incr_len;
		} else if ((e->op == PROTO_OP_GETDEL || e->op == PROTO_OP_SETX) && !c->cfg.noop) {
			/* the key's old state (cached below; c->old_* kept until answered) */
			r.status = c->old_found ? PROTO_ST_OK : PROTO_ST_NOT_FOUND;
			if (c->old_found &&
			    (e->op == PROTO_OP_GETDEL || (entry_val(e)[0] & PROTO_SETX_GET))) {
				r.value = c->old_val;
				r.vlen = c->old_vlen;
			}
		}
	} else {
		/* SCAN: the state at this slot */
		if (core_scan_exec(c, entry_key(e), e->klen, e->scan_count, &r) != 0)
			core_oom(c, "executing a SCAN");
		c->st.scans++;
	}
	if (!dup && !expired && e->op != PROTO_OP_NONE) {
		/* the result cached and the cid recorded executed (one visit of the client's
		 * record) */
		if (cache_result(c, &e->cid, fp, e->slot, r.ver, r.status, r.value, r.vlen, true) !=
		    0)
			core_oom(c, "the exactly-once record of an executed command");
		c->st.executed++;
		if (c->io.executed)
			c->io.executed(c->io.ctx, &e->cid, e->slot);
	}
	e->executed = true;
	core_witness_remove(c, &e->cid, e->slot, entry_key(e), e->klen, r.status);

	if (is_leader(c) && e->led) {
		if (e->conn == 0) {
			/* recovered by a view change, never asked for here: the client asks again
			 */
		} else if (e->kind == EK_HT_WEAK) {
			if (!e->reply_ok || e->sync_wanted)
				core_weak_write_answer(
				    c, e->conn, &e->cid, PROTO_WEAK_REPLY, e->slot, true,
				    r.status == PROTO_ST_CID_REUSED || expired ? r.status
									       : PROTO_ST_OK);
		} else if (e->kind == EK_HO_WEAK) {
			/* answered by the bound replica's record (core_witness_remove) */
		} else if (!e->reply_ok || e->sync_wanted) {
			if (r.status == PROTO_ST_CID_REUSED || expired)
				c->io.to_client(c->io.ctx, e->conn, &r); /* counted above */
			else if (dup)
				send_cached_result(c, e->conn, &e->cid, 0);
			else {
				c->st.slow_replies++;
				c->io.to_client(c->io.ctx, e->conn, &r);
			}
		}
		core_unregister_led(c, e);
		if (!c->intake_open && desc_in_use(c->desc) < desc_capacity(c->desc))
			core_set_intake(c, true);
	}
	core_kv_old_free(c); /* (a GETDEL's or SETX's old value, answered and cached by now) */
}

/* Frees log entries that are no longer needed: executed, and (leader) acknowledged by every
 * replica or pushed out of the window by a follower that stopped acknowledging. */
void core_log_gc(struct core *c)
{
	uint32_t all = (c->cfg.n >= 32) ? UINT32_MAX : ((1u << c->cfg.n) - 1);
	while (c->log_base < c->exec_index) {
		struct entry *e = slot_entry(c, c->log_base);
		if (e) {
			/* every replica keeps a tail of executed entries: a follower that accepted
			 * an entry in an older view may need it again from whoever leads next; the
			 * leader also keeps what a follower has not acknowledged (up to a cap).
			 * The tail is half the ring as created (log_soft_cap / 8), not as grown:
			 * a ring grown for entries far ahead kept a tail as long as the leader's
			 * window, and a new leader then refused every command (sim curp N=3
			 * profile 2 seed 920: 11 s without a completion) */
			uint64_t window = c->log_end - c->log_base;
			bool need =
			    window < c->log_soft_cap / 8 ||
			    (is_leader(c) && e->acks != all && window < c->log_soft_cap / 2);
			if (need)
				break;
			core_entry_clear(e);
		}
		c->log_base++;
	}
}

void core_execute_ready(struct core *c)
{
	if (c->snap_open)
		return; /* the state is being replaced by a transfer */
	uint64_t limit = is_leader(c) ? c->commit_index : c->commit_known;
	while (c->exec_index < limit) {
		struct entry *e = slot_entry(c, c->exec_index);
		if (e == NULL || e->view != c->view)
			break; /* follower: not accepted (in this view) yet; the leader re-sends it
				*/
		core_execute_entry(c, e);
		c->exec_index++;
	}
	if (!is_leader(c) && c->exec_index > c->commit_index)
		c->commit_index = c->exec_index;
	core_log_gc(c);
	if (c->park_n > 0)
		core_parked_drain(c, false, 0);
}

void core_advance_commit(struct core *c, uint64_t now_ns)
{
	assert(is_leader(c));
	while (c->commit_index < c->next_slot) {
		struct entry *e = slot_entry(c, c->commit_index);
		if (e == NULL || popcount32(e->acks) < c->majority)
			break;
		c->commit_index++;
	}
	core_execute_ready(c);
}

static void leader_on_ack(struct core *c, int from, const struct proto_msg *m, uint64_t now_ns)
{
	assert(is_leader(c));
	if (m->view != c->view) {
		c->st.stale_view++;
		return;
	}
	c->inst_acked |= 1u << from;
	uint64_t hi = m->slot_hi < c->next_slot ? m->slot_hi : c->next_slot - 1;
	if (c->next_slot == 0)
		return;
	for (uint64_t s = m->slot < c->log_base ? c->log_base : m->slot; s <= hi; s++) {
		struct entry *e = slot_entry(c, s);
		if (e && e->view == m->view)
			e->acks |= 1u << from;
	}
	core_advance_commit(c, now_ns);
}

/* ---- follower --------------------------------------------------------------------------- */

/* Sends the pending ACK range (ack_lo..ack_hi) to the leader. */
static void send_ack(struct core *c)
{
	struct proto_msg a;
	proto_msg_init(&a, PROTO_ACK, c->view);
	a.slot = c->ack_lo;
	a.slot_hi = c->ack_hi;
	c->io.to_peer(c->io.ctx, c->leader, &a);
}

/* Acknowledges slots lo..hi (batched into one ACK range while they are consecutive). */
void core_follower_ack(struct core *c, uint64_t lo, uint64_t hi)
{
	assert(!is_leader(c) && lo <= hi);
	if (c->ack_pending && lo == c->ack_hi + 1) {
		c->ack_hi = hi;
		return;
	}
	if (c->ack_pending)
		send_ack(c);
	c->ack_pending = true;
	c->ack_lo = lo;
	c->ack_hi = hi;
}

/* Moves acc_next past every slot held in this view from the execution index on. */
void core_acc_advance(struct core *c)
{
	if (c->acc_next < c->exec_index)
		c->acc_next = c->exec_index;
	for (;;) {
		const struct entry *e = slot_entry(c, c->acc_next);
		if (e == NULL || e->view != c->view)
			break;
		c->acc_next++;
	}
}

/* Slot `slot` is held in this view: acknowledge it if every slot before it is too. Acks are
 * cumulative, so a slot is never committed while an earlier one is missing at the replicas
 * that committed it: a view change that finds a hole can drop everything after it (nothing
 * there committed; what completed on the fast path is recovered from the witnesses). */
static void follower_accepted(struct core *c, uint64_t slot)
{
	if (c->acc_next < c->exec_index)
		c->acc_next = c->exec_index;
	if (slot < c->acc_next) {
		core_follower_ack(c, slot, slot); /* a re-sent one: acknowledge again */
		return;
	}
	if (slot != c->acc_next)
		return; /* acknowledged once the hole before it is filled */
	core_acc_advance(c);
	core_follower_ack(c, slot, c->acc_next - 1);
	if (c->installing)
		core_vc_check_install(c);
}

/* Makes ring entry e hold cmd under cid at slot, accepted in view (the bytes copied; what e held
 * before is cleared). Returns 0, or -ENOMEM with e left empty. */
int core_entry_set(struct entry *e, uint64_t slot, uint64_t view, const struct proto_cid *cid,
		   const struct proto_cmd *cmd)
{
	if (e->used)
		core_entry_clear(e);
	if (kvs_set(&e->kv, cmd->key, cmd->klen, cmd->val, cmd->vlen) != 0) {
		memset(e, 0, sizeof *e);
		return -ENOMEM;
	}
	e->used = true;
	e->slot = slot;
	e->view = view;
	e->cid = *cid;
	e->op = cmd->op;
	e->klen = cmd->klen;
	e->vlen = cmd->vlen;
	e->scan_count = cmd->op == PROTO_OP_SCAN ? cmd->scan_count : 0;
	return 0;
}

static void follower_on_accept(struct core *c, int from, const struct proto_msg *m)
{
	assert(!is_leader(c));
	if (m->view != c->view || from != c->leader) {
		c->st.stale_view++;
		return;
	}
	if (!c->active && !c->installing)
		return; /* the view is not installed here yet: the leader re-sends after VC_INSTALL
			 */
	uint64_t slot = m->slot;
	struct entry *old = slot_entry(c, slot);
	if (slot < c->exec_index || (old != NULL && old->view == m->view)) {
		follower_accepted(c, slot); /* duplicate */
	} else if (slot - c->log_base < 4 * c->log_soft_cap && core_ring_fit(c, slot) == 0) {
		/* a new slot, or one accepted in an older view (replaced) */
		struct entry *e = &c->ring[slot & (c->cap - 1)];
		if (core_entry_set(e, slot, m->view, &m->cid, &m->cmd) != 0)
			return; /* not acknowledged: the leader re-sends */
		if (slot + 1 > c->log_end)
			c->log_end = slot + 1;
		if (slot + 1 > c->next_slot)
			c->next_slot = slot + 1;
		core_persist_entry(c, e); /* (acknowledged only after it is durable) */
		follower_accepted(c, slot);
	}
	if (m->commit > c->commit_known)
		c->commit_known = m->commit;
	core_execute_ready(c);
}

/* ---- entry points --------------------------------------------------------------------- */

static void on_client(struct core *c, uint64_t conn, const struct proto_msg *m, uint64_t now_ns)
{
	switch (m->type) {
	case PROTO_PROPOSE:
		c->st.proposals++;
		if (m->cmd.klen > c->cfg.max_key ||
		    m->cmd.vlen > proto_cmd_max_val(m->cmd.op, c->cfg.max_value) ||
		    (proto_op_rmw(m->cmd.op) && c->cfg.protocol != CONF_PROTO_CURP)) {
			/* (an APPEND, INCR, GETDEL or SETX is a curp operation: the hybrids' weak
			 * paths derive values from recorded writes, docs/protocols.md "APPEND") */
			struct proto_msg r = {.type = PROTO_SYNC_REPLY,
					      .view = c->view,
					      .cid = m->cid,
					      .status = PROTO_ST_INVALID};
			c->io.to_client(c->io.ctx, conn, &r);
			return;
		}
		if (core_lease_refused(c, conn, m))
			return; /* an expired client id: nothing of it is kept or ordered */
		if (client_watermark(c, m->cid.client, m->low_seq, m->cid.seq, now_ns) &&
		    !send_cached_result(c, conn, &m->cid, proto_cmd_fp(&m->cmd))) {
			/* Below the client's own watermark: it completed this command already (a
			 * late duplicate); refuse explicitly instead of ordering it again. */
			struct proto_msg r = {.type = PROTO_SYNC_REPLY,
					      .view = c->view,
					      .cid = m->cid,
					      .status = PROTO_ST_TOO_OLD};
			c->io.to_client(c->io.ctx, conn, &r);
			return;
		}
		if (is_leader(c))
			leader_on_propose(c, conn, m, now_ns);
		else
			core_witness_on_propose(c, conn, m);
		break;
	case PROTO_CAUSAL_PROPOSE:
	case PROTO_WEAK_WRITE:
		if (m->cmd.klen > c->cfg.max_key || m->cmd.vlen > c->cfg.max_value) {
			struct proto_msg r = {.type = m->type == PROTO_CAUSAL_PROPOSE
							  ? PROTO_CAUSAL_REPLY
							  : PROTO_WEAK_REPLY,
					      .view = c->view,
					      .cid = m->cid,
					      .status = PROTO_ST_INVALID};
			c->io.to_client(c->io.ctx, conn, &r);
			return;
		}
		if (core_lease_refused(c, conn, m))
			return;
		if (client_watermark(c, m->cid.client, m->low_seq, m->cid.seq, now_ns)) {
			/* below the session's watermark: executed and collected already */
			struct cached_slot cs;
			bool cached = core_cached_slot(c, &m->cid, &cs);
			bool reused = cached && fp_differ(cs.fp, proto_cmd_fp(&m->cmd));
			c->st.cid_reused += reused;
			if (m->type == PROTO_WEAK_WRITE || m->bound == c->cfg.self)
				core_weak_write_answer(
				    c, conn, &m->cid,
				    m->type == PROTO_CAUSAL_PROPOSE ? PROTO_CAUSAL_REPLY
								    : PROTO_WEAK_REPLY,
				    cached && !reused ? cs.slot : 0, !reused,
				    reused ? PROTO_ST_CID_REUSED : PROTO_ST_TOO_OLD);
			return;
		}
		core_on_weak_write(c, conn, m, now_ns);
		break;
	case PROTO_WEAK_READ:
		if (m->cmd.klen > c->cfg.max_key) {
			struct proto_msg r = {.type = PROTO_WEAK_REPLY,
					      .view = c->view,
					      .cid = m->cid,
					      .status = PROTO_ST_INVALID};
			c->io.to_client(c->io.ctx, conn, &r);
			return;
		}
		core_lease_heard(c, m->cid.client, now_ns);
		core_on_weak_read(c, conn, m, now_ns);
		break;
	case PROTO_PING: {
		/* (a session's keep-alive, or its RTT probe: either renews its lease) */
		core_lease_heard(c, m->client_id, now_ns);
		struct proto_msg r = {.type = PROTO_PONG,
				      .view = c->view,
				      .slot = m->slot,
				      .client_id = m->client_id};
		c->io.to_client(c->io.ctx, conn, &r);
		break;
	}
	case PROTO_SYNC:
		if (core_lease_refused(c, conn, m))
			break;
		client_watermark(c, m->cid.client, m->low_seq, 0, now_ns);
		if (is_leader(c)) {
			leader_on_sync(c, conn, m);
		} else if (!send_cached_result(c, conn, &m->cid, m->fp)) {
			struct proto_msg r = {.type = PROTO_REPLY,
					      .view = c->view,
					      .cid = m->cid,
					      .status = PROTO_ST_NOT_LEADER};
			c->io.to_client(c->io.ctx, conn, &r);
		}
		break;
	default:
		break; /* not a client message: ignored */
	}
}

void core_on_client(struct core *c, uint64_t conn, const struct proto_msg *m, uint64_t now_ns)
{
	on_client(c, conn, m, now_ns);
	core_persist_point(c);
	core_check(c);
}

static void on_peer(struct core *c, int from, const struct proto_msg *m, uint64_t now_ns)
{
	if (from < 0 || from >= c->cfg.n || from == c->cfg.self)
		return;
	/* Only the leader of a view sends these in it: a replica that missed the view change
	 * (down or cut off meanwhile) learns the view from them. */
	if (m->view > c->view && (m->type == PROTO_ACCEPT || m->type == PROTO_COMMIT ||
				  m->type == PROTO_VC_REQ || m->type == PROTO_VC_INSTALL))
		core_view_enter(c, m->view, from, now_ns);
	if (!is_leader(c) && from == c->leader && m->view == c->view &&
	    (m->type == PROTO_ACCEPT || m->type == PROTO_COMMIT) && (c->active || c->installing))
		c->heard_ns = now_ns;
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
		if (!is_leader(c) && from == c->leader && m->view == c->view &&
		    (c->active || c->installing)) {
			if (m->commit > c->commit_known)
				c->commit_known = m->commit;
			core_execute_ready(c);
		}
		break;
	case PROTO_VC_REQ:
		core_on_vc_req(c, from, m);
		break;
	case PROTO_CATCHUP:
		if (is_leader(c))
			core_leader_on_catchup(c, from, m, now_ns);
		else
			core_follower_on_pull(c, from, m, now_ns);
		break;
	case PROTO_SNAP_KV:
	case PROTO_SNAP_CLIENT:
	case PROTO_SNAP_RESULT:
	case PROTO_SNAP_DONE:
		if (m->view == c->view &&
		    (is_leader(c) ? !c->active && from == c->vc_pull_from : from == c->leader))
			core_follower_on_snap(c, m, now_ns);
		break;
	case PROTO_VC_INSTALL:
		core_on_vc_install(c, from, m);
		break;
	case PROTO_VC_ENTRY:
	case PROTO_VC_RECORD:
	case PROTO_VC_DONE:
	case PROTO_VC_DECIDED:
		core_on_vc_item(c, from, m, now_ns);
		break;
	default:
		break;
	}
}

void core_on_peer(struct core *c, int from, const struct proto_msg *m, uint64_t now_ns)
{
	on_peer(c, from, m, now_ns);
	core_persist_point(c);
	core_check(c);
}

void core_client_closed(struct core *c, uint64_t conn)
{
	/* Entries keep the connection id; sends to a closed connection are dropped by the I/O
	 * layer, and a reconnecting client re-sends (PROPOSE/SYNC) on its new connection. */
	(void)c;
	(void)conn;
}

/* Whether more may be queued to peer p now: connected, and its connection drained below the low
 * water mark (re-sent log entries, like a state transfer's chunks, only queue behind a full
 * one; core_flush runs again as it drains). */
bool core_peer_room(struct core *c, int p)
{
	size_t backlog = c->io.peer_backlog ? c->io.peer_backlog(c->io.ctx, p) : 0;
	return backlog != SIZE_MAX && backlog < c->cfg.snap_low_water;
}

/* Leader: sends peer p (in `to`) the entries of the log it has not acknowledged and that were
 * not sent for resend_after (every entry with old = false), while its connection has room. */
static void send_unacked(struct core *c, uint32_t to, bool old, uint64_t now_ns)
{
	assert(is_leader(c));
	uint32_t all = (uint32_t)((1ull << c->cfg.n) - 1);
	bool floor = true; /* every entry so far acknowledged by all: acked_floor follows */
	uint64_t s = c->acked_floor > c->log_base ? c->acked_floor : c->log_base;
	for (; s < c->log_end && to != 0; s++) {
		struct entry *e = slot_entry(c, s);
		if (floor && e != NULL && (e->acks & all) == all) {
			c->acked_floor = s + 1;
			continue;
		}
		floor = false;
		if (e == NULL || (e->acks & to) == to ||
		    (old && now_ns - e->sent_ns < c->cfg.resend_after_ns))
			continue;
		for (int p = 0; p < c->cfg.n; p++) {
			if (!(to & (1u << p)) || (e->acks & (1u << p)))
				continue;
			core_send_accept(c, e, p, now_ns);
			if (!core_peer_room(c, p))
				to &= ~(1u << p); /* the rest when it has drained */
		}
	}
}

/* Leader: re-sends the ACCEPTs a follower has not acknowledged for a while (a reconnect lost
 * them), committed ones included: a follower that missed a slot the others committed would
 * otherwise stop executing at that hole for good. Not to a follower that is down (core_peer_up
 * sends them when it is back), nor more than its connection has room for, nor to one
 * receiving a state transfer (the log follows the transfer): re-sending a log tail of 65,536
 * entries every 200 ms into the connection that carried a transfer kept it full. Runs at most
 * every resend_after / 4 (each run looks at every entry of the log). */
static void resend_accepts(struct core *c, uint64_t now_ns)
{
	c->resend_scan_ns = now_ns;
	uint32_t to = 0;
	for (int p = 0; p < c->cfg.n; p++)
		if (p != c->cfg.self && !c->xfer[p].on && !c->xlog[p].on && core_peer_room(c, p))
			to |= 1u << p;
	send_unacked(c, to, true, now_ns);
}

void core_peer_up(struct core *c, int peer, uint64_t now_ns)
{
	if (!is_leader(c) || !c->active || peer < 0 || peer >= c->cfg.n || peer == c->cfg.self)
		return;
	if (!(c->inst_acked & (1u << peer)))
		core_send_install(c, peer); /* it may not have installed this view yet */
	if (!c->xfer[peer].on && !c->xlog[peer].on && core_peer_room(c, peer))
		send_unacked(c, 1u << peer, false, now_ns); /* the rest: resend_accepts */
	core_persist_point(c);
	core_check(c);
}

/* Leader: a COMMIT of the commit index to each follower in `to` (a peer bit mask) that was not
 * sent it yet; the time of a COMMIT to every follower is noted for the tick's repeat. */
static void send_commits(struct core *c, uint32_t to, uint64_t now_ns)
{
	struct proto_msg m;
	bool init = false, all = true;
	for (int p = 0; p < c->cfg.n; p++) {
		if (p == c->cfg.self || c->commit_sent[p] >= c->commit_index)
			continue;
		if (!(to & (1u << p))) {
			all = false;
			continue;
		}
		if (!init) {
			proto_msg_init(&m, PROTO_COMMIT, c->view);
			m.commit = c->commit_index;
			init = true;
		}
		c->io.to_peer(c->io.ctx, p, &m);
		c->commit_sent[p] = c->commit_index;
	}
	if (init && all)
		c->commit_sent_ns = now_ns;
}

static void flush(struct core *c, uint64_t now_ns)
{
	core_xfer_pump(c, now_ns);
	if (!is_leader(c)) {
		if (c->ack_pending) {
			send_ack(c);
			c->ack_pending = false;
		}
		return;
	}
	if (!c->active)
		return;
	/* A COMMIT of its own wakes a follower: it goes only where it shares the send of an
	 * ACCEPT of this iteration, or everywhere once nothing assigned is left uncommitted (no
	 * ACCEPT may come to carry it). While slots are in flight the next ACCEPTs carry the
	 * index, and the tick sends what is still held. Sending it at every flush cost a wake-up
	 * per follower per iteration (docs/benchmarks.md "COMMITs that share a send"). */
	uint32_t to = c->commit_index == c->next_slot ? UINT32_MAX : c->accept_peers;
	c->accept_peers = 0;
	send_commits(c, to, now_ns);
}

void core_flush(struct core *c, uint64_t now_ns)
{
	flush(c, now_ns);
	core_persist_point(c);
	core_check(c);
}

static void tick(struct core *c, uint64_t now_ns)
{
	core_xfer_pump(c, now_ns);
	if (c->park_n > 0)
		core_parked_drain(c, true, now_ns);
	/* mutant (the prototype's P5): a follower stuck at a missing slot "proceeds anyway" (not
	 * while a transfer arrives: nothing executes then, and the skipped slot would only break
	 * core_check's exec_index <= commit_index before a checker could see the bug) */
	if (MUTANT_EXEC_ON_TIMEOUT && !is_leader(c) && !c->snap_open &&
	    c->exec_index < c->commit_known && slot_entry(c, c->exec_index) == NULL) {
		c->exec_index++;
		core_execute_ready(c);
	}
	if (!is_leader(c)) {
		core_follower_tick(c, now_ns);
		return;
	}
	if (c->hold && c->active) {
		c->hold = false; /* leading: its witness answers are not used */
		c->st.rejoin_us = 0;
	}
	if (!c->active) {
		core_vc_tick(c, now_ns); /* collecting */
		return;
	}
	if (now_ns - c->install_sent_ns >= c->cfg.resend_after_ns) {
		for (int p = 0; p < c->cfg.n; p++)
			if (p != c->cfg.self && !(c->inst_acked & (1u << p)))
				core_send_install(c, p); /* a VC_INSTALL may have been lost */
		c->install_sent_ns = now_ns;
	}
	/* Repeat the commit index now and then: a follower that lost the last COMMIT would not
	 * execute the last commands until the next one (and keeps their witness records). And
	 * send what flush held back (slots in flight, no ACCEPT since): a follower learns of a
	 * commit one tick late at most. */
	if (c->commit_index > 0 && now_ns - c->commit_sent_ns >= c->cfg.resend_after_ns) {
		memset(c->commit_sent, 0, sizeof c->commit_sent);
		c->commit_sent_ns = now_ns;
	}
	send_commits(c, UINT32_MAX, now_ns);
	if (now_ns - c->resend_scan_ns >= c->cfg.resend_after_ns / 4)
		resend_accepts(c, now_ns);
	core_lease_tick(c, now_ns);
	core_log_gc(c);
}

void core_tick(struct core *c, uint64_t now_ns)
{
	tick(c, now_ns);
	core_persist_point(c);
	core_check(c);
}

bool core_client_intake_open(const struct core *c)
{
	return c->intake_open;
}

bool core_xfer_sending(const struct core *c)
{
	return c->xfer_on > 0 || c->xlog_on > 0;
}

bool core_xfer_more(const struct core *c)
{
	return c->xfer_more && core_xfer_sending(c);
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
	st->view_active = c->active;
	st->rejoining = c->hold || c->snap_open || c->snap_retry;
	st->snap_open = c->snap_open;
	st->next_slot = c->next_slot;
	st->commit_index = c->commit_index;
	st->exec_index = c->exec_index;
	st->desc_in_use = desc_in_use(c->desc);
	st->witness_records = c->witness_n;
	st->log_entries = c->log_end > c->log_base ? c->log_end - c->log_base : 0;
	st->result_cache = cmap_size(c->results);
	st->keys = c->live_keys;
	st->digest = c->digest;
	st->clients_live = cmap_size(c->clients);
	st->expire_floor = c->exp_floor;
}
