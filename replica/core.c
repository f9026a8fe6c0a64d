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
#include "oset/oset.h"

#define NO_SLOT		    UINT64_MAX
#define LOG_MIN_CAP	    1024u
#define MAX_CLIENTS_TRACKED 65536u

/* What a log entry came from (the leader's answers differ; followers do not need to know). */
enum entry_kind { EK_STRONG = 0, EK_HO_WEAK, EK_HT_WEAK };

/* One log slot. Key and value bytes are owned by the entry. */
struct entry {
	bool used;
	bool executed;
	bool reply_ok;	  /* leader: REPLY went out with ok=true */
	bool sync_wanted; /* leader: answer SYNC_REPLY at execution */
	bool led;	  /* leader: registered in flight (cid index, key index, descriptor) */
	uint8_t kind;	  /* leader: enum entry_kind */
	uint8_t op;
	uint64_t slot;
	uint64_t view;
	struct proto_cid cid;
	uint8_t *key;
	uint32_t klen;
	uint8_t *val;
	uint32_t vlen;
	uint32_t scan_count; /* SCAN: keys asked for */
	uint32_t acks;	     /* leader: bitmask of replicas that accepted (self included) */
	uint64_t conn;	     /* leader: client connection to answer */
	desc_id desc;	     /* leader: descriptor held while in flight */
	uint64_t sent_ns;    /* leader: last time ACCEPT went out */
};

/* Leader: per-key pending index (slots assigned, not executed). NO_SLOT = none. */
struct keyidx {
	uint64_t last_any;	    /* highest slot touching the key */
	uint64_t last_write;	    /* highest slot writing the key (weak or strong) */
	uint64_t last_strong_any;   /* highest strong slot touching the key */
	uint64_t last_strong_write; /* highest strong slot writing the key */
	uint64_t last_weak_write;   /* highest weak write (HO read_dep) */
	struct proto_cid weak_cid;  /* its cid */
	uint32_t pending;
};

/* Witness: the pending records of one key, in arrival order. A weak record (HO) keeps the
 * write itself (for the session's own weak reads) and who to tell when it executes. */
struct wrec {
	struct proto_cid cid;
	uint64_t view; /* the view it was recorded in */
	bool write;
	bool ok;
	bool weak;
	uint8_t op;
	int32_t bound; /* weak: the replica the session bound to */
	uint64_t conn; /* weak: the client connection it came on */
	uint8_t *val;  /* weak PUT: the value (owned) */
	uint32_t vlen;
};

/* Witness (HO): the weak writes of one session pending here, ascending seqs, each with the
 * session's previous weak write (its `dep`), so a chain of them can be followed. */
struct spend {
	uint32_t n, cap;
	struct spend_ent {
		uint64_t seq, dep;
	} e[];
};

/* A weak read waiting for execution to reach its token. */
struct parked {
	uint64_t conn;
	struct proto_cid cid;
	uint64_t token;
	uint64_t since_ns;
	uint8_t *key;
	uint32_t klen;
	uint8_t op; /* GET or SCAN */
	uint32_t scan_count;
	uint64_t dep; /* HO: the session's latest weak write (WEAK_READ dep) */
};
struct wlist {
	uint32_t n, cap;
	struct wrec r[];
};

/* A cached post-execution result. */
struct result {
	uint64_t slot;
	uint64_t ver;
	uint8_t status;
	uint32_t vlen;
	uint8_t v[];
};

/* Result-cache bookkeeping per client: watermark and the seqs cached, in execution order. */
struct client_rec {
	uint64_t low_seq;
	uint64_t weak_exec_hi; /* HO witness: highest seq of its weak writes executed here */
	uint32_t head, n, cap;
	uint64_t *seqs;
	/* exactly-once across view changes: every seq below xfloor executed here, and of the
	 * seqs in [xfloor, xfloor + 64 * xwords) those whose bit (seq mod the ring) is set. The
	 * result cache forgets below the client's watermark; this does not (a witness may still
	 * hold a record of a command executed here long ago, and a view change must not order
	 * it again). */
	uint64_t xfloor;
	uint32_t xwords;
	uint64_t *xbits;
};

#define XBITS_MAX_WORDS 1024u /* 65,536 seqs of one session in flight at most */

/* A key's executed value, or a tombstone (dead) that remembers the slot of its deletion so a
 * read of a deleted key can say how recent its answer is. */
struct kv_val {
	uint64_t ver; /* slot of the write that stored it */
	bool dead;
	uint32_t len;
	uint8_t data[];
};

/* View change: one item of a replica's state as the new leader collected it (PROTOCOL.md 7.2).
 * Key and value bytes are owned by the item until placed in the log. */
struct vc_item {
	bool record; /* a witness record (else an accepted log entry) */
	bool ok, weak;
	int from;
	uint8_t op;
	uint64_t slot, eview; /* entry: its slot and the view it was accepted in */
	uint64_t dep;	      /* record (HO weak): the session's previous weak write */
	int32_t bound;
	struct proto_cid cid;
	uint8_t *key;
	uint32_t klen;
	uint8_t *val;
	uint32_t vlen;
	uint32_t scan_count;
};

struct vc_list {
	struct vc_item *v;
	uint32_t n, cap;
	bool nomem; /* an item could not be kept: this list is incomplete */
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
	uint64_t next_slot;	 /* leader: next slot to assign */
	uint64_t commit_index;	 /* slots below are committed */
	uint64_t commit_known;	 /* follower: highest commit index heard from the leader */
	uint64_t exec_index;	 /* slots below are executed */
	uint64_t commit_sent;	 /* leader: last commit index sent to followers */
	uint64_t commit_sent_ns; /* leader: when a COMMIT last went out */
	uint64_t log_soft_cap;

	/* follower: accepted-slot range not yet acknowledged */
	uint64_t ack_lo, ack_hi;
	bool ack_pending;

	struct cmap *kv; /* key -> struct kv_val */
	uint64_t digest;
	uint64_t live_keys; /* keys in kv that are not tombstones */
	struct oset *order; /* the live keys of kv in key order (SCAN) */
	bool order_lost;    /* an insert into order ran out of memory: SCANs refuse */
	uint8_t *scan_buf;  /* the last SCAN result (valid until the next SCAN) */
	size_t scan_cap;
	struct cmap *keys;     /* leader: key -> struct keyidx */
	struct cmap *inflight; /* leader: cid -> slot + 1 (pointer-encoded) */
	struct cmap *witness;  /* key -> struct wlist */
	uint64_t witness_n;
	struct cmap *spend;    /* HO: client id -> struct spend */
	struct parked *parked; /* weak reads waiting, FIFO ring of cfg.max_parked */
	uint32_t park_head, park_n;
	struct cmap *results; /* cid -> struct result */
	struct cmap *clients; /* client id -> struct client_rec */
	struct desc_pool *desc;
	bool intake_open;

	/* view change: false from the moment a replica learns a new view until the view is
	 * installed (new leader: its decision; follower: the new leader's first ACCEPT/COMMIT).
	 * Meanwhile nothing is recorded, ordered or acknowledged. */
	bool active;
	bool installing;   /* follower: VC_INSTALL came; active once it holds the log to vc_cut */
	uint64_t vc_cut;   /* follower, installing: where the new leader's decided log ends */
	uint64_t acc_next; /* follower: first slot >= exec_index not accepted in this view */
	/* the last view installed here and where its decided log ended: entries of older views
	 * at or after the cut were discarded by that view's leader (reported in VC_DONE) */
	uint64_t inst_view, inst_cut;
	uint32_t inst_acked;	  /* leader: replicas that acknowledged something in this view */
	uint64_t install_sent_ns; /* leader: when VC_INSTALLs last went out */
	/* new leader, collecting: the state of every replica whose VC_DONE arrived whole */
	uint32_t vc_done;	    /* bitmask of replicas collected (self included) */
	uint64_t vc_commit;	    /* highest commit index among them */
	uint64_t vc_iview, vc_icut; /* the latest view installed among them, and its cut */
	uint64_t vc_exec[PROTO_MAX_REPLICAS];
	struct vc_list vc_pending[PROTO_MAX_REPLICAS]; /* items since the replica's last VC_DONE */
	struct vc_list vc_items;		       /* items of the collected replicas */
	uint64_t vc_req_ns;			       /* when VC_REQ last went out */
	uint64_t vc_start_ns;			       /* when this view was entered */

	/* catch-up and rejoin (PROTOCOL.md 7.3) */
	bool hold;		  /* restarted: strong witness answers ok=false, no VC answers */
	bool barrier_set;	  /* hold: the barrier below was fixed */
	uint64_t hold_since_ns;	  /* hold: first tick (0: not yet) */
	uint64_t hold_barrier;	  /* hold: released once exec_index reaches it */
	bool snap_open;		  /* follower: a state transfer is arriving (state incomplete) */
	bool state_bad;		  /* follower: the last transfer arrived incomplete */
	uint64_t snap_items;	  /* follower: SNAP_* frames of the open transfer */
	uint64_t snap_prev_exec;  /* follower: its exec index when the transfer began */
	bool snap_nomem;	  /* follower: an item of the open transfer could not be kept */
	bool snap_wanted;	  /* follower: CATCHUP went out, no transfer ended since */
	uint64_t snap_open_ns;	  /* follower: when the open transfer began */
	uint64_t heard_ns;	  /* follower: last ACCEPT/COMMIT from the leader of its view */
	bool caught_up_once;	  /* follower (rejoin): the first CATCHUP went out */
	uint64_t catchup_sent_ns; /* follower: when CATCHUP last went out */
	uint64_t stuck_since_ns;  /* follower: since when execution waits for a missing slot */
	uint64_t stuck_at;	  /* follower: the exec index it waits at */
	uint64_t snap_sent_ns[PROTO_MAX_REPLICAS]; /* leader: last transfer to each replica */

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
	return op == PROTO_OP_PUT || op == PROTO_OP_DEL || op == PROTO_OP_APPEND;
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

static void free_wlist(void *v)
{
	struct wlist *l = v;
	for (uint32_t i = 0; i < l->n; i++)
		free(l->r[i].val);
	free(l);
}

static void free_client_rec(void *v)
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
	cfg->ht_early_reply = false;
	cfg->max_parked = 4096;
	cfg->park_ns = 500ull * 1000 * 1000;
	cfg->rejoin_grace_ns = 500ull * 1000 * 1000;
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
	if ((rc = cmap_create(cfg->shards, free_val, &c->kv)) != 0)
		goto err;
	if ((rc = oset_create((uint64_t)cfg->self + 1, &c->order)) != 0)
		goto err;
	if ((rc = cmap_create(cfg->shards, free_val, &c->keys)) != 0)
		goto err;
	if ((rc = cmap_create(cfg->shards, NULL, &c->inflight)) != 0)
		goto err;
	if ((rc = cmap_create(cfg->shards, free_wlist, &c->witness)) != 0)
		goto err;
	if ((rc = cmap_create(cfg->shards, free_val, &c->results)) != 0)
		goto err;
	if ((rc = cmap_create(64, free_client_rec, &c->clients)) != 0)
		goto err;
	if ((rc = cmap_create(64, free_val, &c->spend)) != 0)
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
	*out = c;
	return 0;
err:
	core_destroy(c);
	return rc;
}

static void vc_reset(struct core *c);

void core_destroy(struct core *c)
{
	if (c == NULL)
		return;
	vc_reset(c);
	free(c->vc_items.v);
	for (int i = 0; i < PROTO_MAX_REPLICAS; i++)
		free(c->vc_pending[i].v);
	if (c->ring) {
		for (uint64_t i = 0; i < c->cap; i++)
			if (c->ring[i].used)
				entry_clear(&c->ring[i]);
		free(c->ring);
	}
	if (c->kv)
		cmap_destroy(c->kv);
	oset_destroy(c->order);
	free(c->scan_buf);
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
	if (c->spend)
		cmap_destroy(c->spend);
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
	bool found;
};

static void read_result_cb(const void *key, size_t klen, void *val, void *arg)
{
	struct result_copy *rc = arg;
	const struct result *r = val;
	rc->found = true;
	rc->m->slot = r->slot;
	rc->m->ver = r->ver;
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
static void cache_result(struct core *c, const struct proto_cid *cid, uint64_t slot, uint64_t ver,
			 uint8_t status, const uint8_t *v, uint32_t vlen)
{
	struct result *r = malloc(sizeof *r + vlen);
	if (r == NULL)
		return; /* exactly-once is still kept by the watermark for completed commands */
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
		return;
	}
	struct remember_arg a = {.seq = cid->seq};
	cmap_update_u64(c->clients, cid->client, client_remember_cb, &a);
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
	uint64_t seq = *(const uint64_t *)arg;
	struct client_rec *cr = *val;
	if (cr == NULL) {
		cr = calloc(1, sizeof *cr);
		if (cr == NULL)
			return CMAP_KEEP;
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
		if (nb == NULL)
			return CMAP_KEEP;
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

/* Records that cid executed here (exactly-once across view changes). */
static void mark_executed(struct core *c, const struct proto_cid *cid)
{
	uint64_t seq = cid->seq;
	cmap_update_u64(c->clients, cid->client, xmark_cb, &seq);
}

/* True if cid executed at this replica (its result cached, or its bit in the client's executed
 * set). The client's watermark says nothing about execution here (a fast-path completion
 * precedes commit), so it is never used to infer it. */
static bool already_executed(struct core *c, const struct proto_cid *cid)
{
	uint8_t k[16];
	cid_key(cid, k);
	if (cmap_contains(c->results, k, 16))
		return true;
	uint64_t seq = cid->seq;
	if (cmap_get_u64(c->clients, cid->client, xread_cb, &seq) != 0)
		return false;
	return seq == 1;
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
	uint64_t ver;
};

static void kv_read_cb(const void *key, size_t klen, void *val, void *arg)
{
	struct kv_read *r = arg;
	const struct kv_val *kv = val;
	r->found = !kv->dead;
	r->m->value = kv->data; /* single-threaded core: stable until the next kv mutation */
	r->m->vlen = kv->len;
	r->ver = kv->ver + 1;
}

/* Sets m->status/value/vlen to the executed value of key; returns 1 + the slot of the write that
 * left it so (a deletion included), 0 if the key was never written. */
static uint64_t kv_lookup(struct core *c, const uint8_t *key, uint32_t klen, struct proto_msg *m)
{
	struct kv_read r = {.m = m};
	m->value = NULL;
	m->vlen = 0;
	if (cmap_get(c->kv, key, klen, kv_read_cb, &r) == 0 && r.found) {
		m->status = PROTO_ST_OK;
	} else {
		m->status = PROTO_ST_NOT_FOUND;
		m->value = NULL;
		m->vlen = 0;
	}
	return r.ver;
}

struct kv_write {
	struct core *c;
	uint64_t ver;
	const uint8_t *v;
	uint32_t vlen;
	bool del;
	bool append; /* v goes after the old value; refused (too_big) beyond max */
	uint32_t max;
	bool too_big;
	struct kv_val *old; /* handed back for freeing outside the lock */
	bool was_live, now_live;
};

static enum cmap_update_result kv_write_cb(const void *key, size_t klen, void **val, void *arg)
{
	struct kv_write *w = arg;
	struct kv_val *old = *val;
	uint32_t base = w->append && old && !old->dead ? old->len : 0;
	if (w->append && (uint64_t)base + w->vlen > w->max) {
		w->too_big = true; /* the same at every replica: the state decides it */
		w->old = NULL;
		w->was_live = w->now_live = old && !old->dead;
		return CMAP_KEEP;
	}
	uint32_t len = w->del ? 0 : base + w->vlen;
	struct kv_val *nv = malloc(sizeof *nv + len);
	if (nv == NULL) {
		/* Out of memory while executing: keep the old value and its digest so replicas
		 * that did execute will be seen to diverge by the digest check. */
		w->old = NULL;
		w->was_live = w->now_live = old && !old->dead;
		return CMAP_KEEP;
	}
	w->was_live = old && !old->dead;
	w->now_live = !w->del;
	if (old && !old->dead) {
		w->c->digest -= kv_hash(key, klen, old->data, old->len);
		w->c->live_keys--;
	}
	w->old = old;
	nv->len = len;
	nv->ver = w->ver;
	nv->dead = w->del;
	if (base)
		memcpy(nv->data, old->data, base);
	if (w->vlen && !w->del)
		memcpy(nv->data + base, w->v, w->vlen);
	if (!w->del) {
		w->c->digest += kv_hash(key, klen, nv->data, nv->len);
		w->c->live_keys++;
	}
	*val = nv;
	return CMAP_KEEP;
}

/* Applies a write; returns false for an APPEND refused because the value would exceed
 * max_value (nothing changes). */
static bool kv_apply(struct core *c, const struct entry *e)
{
	struct kv_write w = {.c = c,
			     .ver = e->slot,
			     .v = e->val,
			     .vlen = e->vlen,
			     .del = e->op == PROTO_OP_DEL,
			     .append = e->op == PROTO_OP_APPEND,
			     .max = c->cfg.max_value};
	cmap_update(c->kv, e->key, e->klen, kv_write_cb, &w);
	if (w.too_big)
		return false;
	free(w.old);
	if (w.now_live && !w.was_live && oset_insert(c->order, e->key, e->klen) < 0)
		c->order_lost = true;
	else if (w.was_live && !w.now_live)
		oset_remove(c->order, e->key, e->klen);
	return true;
}

/* Sets m to the SCAN of up to count live keys from key on (ascending, PROTO_SCAN pairs), fewer
 * when the next pair would take the result past maxValueBytes. m->value points into c->scan_buf,
 * valid until the next SCAN. */
static void scan_exec(struct core *c, const uint8_t *key, uint32_t klen, uint32_t count,
		      struct proto_msg *m)
{
	m->status = PROTO_ST_OK;
	m->value = NULL;
	m->vlen = 0;
	if (c->cfg.noop)
		return;
	if (c->order_lost) {
		m->status = PROTO_ST_INVALID; /* the key order is incomplete: refuse, never omit */
		return;
	}
	size_t used = 0;
	uint32_t got = 0;
	for (const struct oset_node *n = oset_seek(c->order, key, klen); n && got < count;
	     n = oset_next(n)) {
		size_t kl;
		const uint8_t *k = oset_key(n, &kl);
		struct proto_msg v = {0};
		kv_lookup(c, k, (uint32_t)kl, &v);
		if (v.status != PROTO_ST_OK)
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
				break; /* a shorter answer is still a correct prefix */
			c->scan_buf = nb;
			c->scan_cap = cap;
		}
		used += proto_scan_put(c->scan_buf + used, k, (uint32_t)kl, v.value, v.vlen);
		got++;
	}
	m->value = c->scan_buf;
	m->vlen = (uint32_t)used;
}

/* ---- witness -------------------------------------------------------------------------- */

struct witness_arg {
	struct core *c;
	struct proto_cid cid;
	bool write;
	bool weak;	   /* HO weak write record */
	bool keep_val;	   /* HO: keep the written value (the session's own weak reads) */
	bool weak_neutral; /* HO: weak records do not make a strong command conflict */
	uint8_t op;
	const uint8_t *val; /* weak PUT value (copied) */
	uint32_t vlen;
	int32_t bound;
	uint64_t conn;
	bool full;		   /* in: table at capacity */
	bool force_ok;		   /* in: the leader's own record of a REPLY ok=true */
	bool ok;		   /* out */
	bool added;		   /* out: a new record was appended */
	struct proto_cid read_dep; /* out: latest weak write record before this one */
	struct wrec removed; /* out (remove): the record taken out (val now owned by caller) */
	bool was_removed;
};

static enum cmap_update_result witness_add_cb(const void *key, size_t klen, void **val, void *arg)
{
	struct witness_arg *a = arg;
	struct wlist *l = *val;
	bool conflict = false;
	for (uint32_t i = 0; l && i < l->n; i++) {
		const struct wrec *r = &l->r[i];
		if (r->cid.client == a->cid.client && r->cid.seq == a->cid.seq) {
			a->ok = r->ok; /* a re-sent command gets the same answer */
			return CMAP_KEEP;
		}
		if (r->weak) {
			a->read_dep = r->cid; /* arrival order: the last one wins */
			if (a->weak_neutral)
				continue;
		}
#ifndef CURPKV_MUTANT_NO_CONFLICT_CHECK
		if (r->write || a->write)
			conflict = true;
#endif
	}
	a->ok = a->weak || a->force_ok || (!conflict && !a->full);
	if (a->full)
		return CMAP_KEEP; /* never grows beyond the cap; a strong answer is ok=false */
	uint8_t *v = NULL;
	if (a->keep_val && a->vlen) {
		v = malloc(a->vlen);
		if (v == NULL) {
			a->ok = false;
			return CMAP_KEEP;
		}
		memcpy(v, a->val, a->vlen);
	}
	if (l == NULL || l->n == l->cap) {
		uint32_t ncap = l ? l->cap * 2 : 2;
		struct wlist *nl = realloc(l, sizeof *nl + ncap * sizeof nl->r[0]);
		if (nl == NULL) {
			free(v);
			a->ok = false;
			return CMAP_KEEP;
		}
		if (l == NULL)
			nl->n = 0;
		nl->cap = ncap;
		l = nl;
		*val = l;
	}
	l->r[l->n++] = (struct wrec){.cid = a->cid,
				     .view = a->c->view,
				     .write = a->write,
				     .ok = a->ok,
				     .weak = a->weak,
				     .op = a->op,
				     .bound = a->bound,
				     .conn = a->conn,
				     .val = v,
				     .vlen = a->keep_val ? a->vlen : 0};
	a->added = true;
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
			a->removed = l->r[i];
			a->was_removed = true;
			/* keep arrival order: read_dep is "the latest" weak record */
			memmove(&l->r[i], &l->r[i + 1], (l->n - i - 1) * sizeof l->r[0]);
			l->n--;
			a->c->witness_n--;
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

/* HO: the session's pending weak writes at this witness. */
struct spend_arg {
	uint64_t seq;
	uint64_t dep; /* add: the write's dep */
	bool add;
	bool failed;
};

static enum cmap_update_result spend_cb(const void *key, size_t klen, void **val, void *arg)
{
	struct spend_arg *a = arg;
	struct spend *sp = *val;
	if (!a->add) {
		if (sp == NULL)
			return CMAP_KEEP;
		for (uint32_t i = 0; i < sp->n; i++) {
			if (sp->e[i].seq == a->seq) {
				memmove(&sp->e[i], &sp->e[i + 1],
					(sp->n - i - 1) * sizeof sp->e[0]);
				sp->n--;
				break;
			}
		}
		if (sp->n == 0) {
			free(sp);
			*val = NULL;
			return CMAP_DELETE;
		}
		return CMAP_KEEP;
	}
	if (sp == NULL || sp->n == sp->cap) {
		uint32_t ncap = sp ? sp->cap * 2 : 4;
		struct spend *ns = realloc(sp, sizeof *ns + ncap * sizeof ns->e[0]);
		if (ns == NULL) {
			a->failed = true;
			return CMAP_KEEP;
		}
		if (sp == NULL)
			ns->n = 0;
		ns->cap = ncap;
		sp = ns;
		*val = sp;
	}
	uint32_t i = sp->n; /* ascending: arrivals are almost always in order */
	while (i > 0 && sp->e[i - 1].seq > a->seq)
		i--;
	memmove(&sp->e[i + 1], &sp->e[i], (sp->n - i) * sizeof sp->e[0]);
	sp->e[i] = (struct spend_ent){.seq = a->seq, .dep = a->dep};
	sp->n++;
	return CMAP_KEEP;
}

struct deps_arg {
	struct proto_msg *m;
	uint64_t below; /* only seqs below this (the strong command's own seq) */
	bool overflow;
};

static void deps_read_cb(const void *key, size_t klen, void *val, void *arg)
{
	struct deps_arg *a = arg;
	const struct spend *sp = val;
	for (uint32_t i = 0; i < sp->n && sp->e[i].seq < a->below; i++) {
		if (a->m->n_deps == PROTO_MAX_DEPS) {
			a->overflow = true;
			return;
		}
		a->m->deps[a->m->n_deps++] = sp->e[i].seq;
	}
}

static enum cmap_update_result weak_exec_cb(const void *key, size_t klen, void **val, void *arg)
{
	const struct spend_arg *a = arg;
	struct client_rec *cr = *val;
	if (cr != NULL && a->seq > cr->weak_exec_hi)
		cr->weak_exec_hi = a->seq; /* no record for an unknown client: reported as 0 */
	return CMAP_KEEP;
}

static void weak_exec_read_cb(const void *key, size_t klen, void *val, void *arg)
{
	*(uint64_t *)arg = ((const struct client_rec *)val)->weak_exec_hi;
}

/* Removes e's witness record (it executed here). An HO weak record of a session bound to this
 * replica tells that session its write is executed (the client's write set shrinks only then). */
static void witness_remove(struct core *c, const struct entry *e, uint8_t status)
{
	struct witness_arg a = {.c = c, .cid = e->cid};
	if (!cmap_contains(c->witness, e->key, e->klen))
		return;
	cmap_update(c->witness, e->key, e->klen, witness_remove_cb, &a);
	if (!a.was_removed)
		return;
	free(a.removed.val);
	if (!a.removed.weak)
		return;
	struct spend_arg sa = {.seq = e->cid.seq, .add = false};
	cmap_update_u64(c->spend, e->cid.client, spend_cb, &sa);
	cmap_update_u64(c->clients, e->cid.client, weak_exec_cb, &sa);
	if (a.removed.bound == c->cfg.self) {
		struct proto_msg r = {.type = PROTO_CAUSAL_REPLY,
				      .view = c->view,
				      .cid = e->cid,
				      .slot = e->slot,
				      .ok = true,
				      .status = status};
		c->io.to_client(c->io.ctx, a.removed.conn, &r);
	}
}

static void witness_on_propose(struct core *c, uint64_t conn, const struct proto_msg *m)
{
	struct proto_msg r = {.type = PROTO_RECORD_ACK, .view = c->view, .cid = m->cid};
#ifdef CURPKV_MUTANT_NO_FENCING
	/* mutant: a witness still records for (and answers as) an older view's leader */
	if (m->view < c->view)
		r.view = m->view;
	else
#endif
	    if (m->view != c->view) {
		c->st.stale_view++;
		r.ok = false;
		c->io.to_client(c->io.ctx, conn, &r);
		return;
	}
#ifndef CURPKV_MUTANT_NO_FENCING
	if (!c->active) {
		r.ok = false; /* a view change is running: nothing is recorded until it ends */
		c->io.to_client(c->io.ctx, conn, &r);
		return;
	}
#endif
	if (c->hold && !already_executed(c, &m->cid)) {
		/* 7.3: restarted, its records lost: no super quorum may count on it yet */
		c->st.conflicts++;
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
	bool ho = c->cfg.protocol == CONF_PROTO_CURPHO;
	struct witness_arg a = {.c = c,
				.cid = m->cid,
				.write = is_write_op(m->cmd.op),
				.op = m->cmd.op,
				.keep_val = is_write_op(m->cmd.op), /* a view change replays it */
				.val = m->cmd.val,
				.vlen = m->cmd.vlen,
				.weak_neutral = ho,
				.full = c->witness_n >= c->cfg.max_witness};
	if (m->cmd.op == PROTO_OP_SCAN) {
		a.ok = false; /* strong SCAN: slow path only (range conflicts are not tracked) */
	} else {
		cmap_update(c->witness, m->cmd.key, m->cmd.klen, witness_add_cb, &a);
	}
	if (ho) {
		/* 5.3: the session's own pending weak writes, and for a GET the latest pending weak
		 * write of any session on the key (seen before this GET was inserted). */
		struct deps_arg da = {.m = &r, .below = m->cid.seq};
		cmap_get_u64(c->spend, m->cid.client, deps_read_cb, &da);
		if (da.overflow) {
			a.ok =
			    false; /* cannot report them all: the client must take the slow path */
			r.n_deps = 0;
		}
		if (m->cmd.op == PROTO_OP_GET)
			r.read_dep = a.read_dep;
		/* weak writes of the session executed here (in session order): durable, so the
		 * client need not find them among the deps */
		uint64_t hi = 0;
		cmap_get_u64(c->clients, m->cid.client, weak_exec_read_cb, &hi);
		r.dep_exec = hi < m->cid.seq ? hi : m->cid.seq - 1;
	}
	if (!a.ok)
		c->st.conflicts++;
	r.ok = a.ok;
	c->io.to_client(c->io.ctx, conn, &r);
}

/* HO: records a weak write (every replica, the leader included). Returns 0 when recorded (or
 * already recorded), -ENOSPC when the table is full or memory ran out. */
static int witness_record_weak(struct core *c, uint64_t conn, const struct proto_msg *m)
{
	struct witness_arg a = {.c = c,
				.cid = m->cid,
				.write = true,
				.weak = true,
				.keep_val = true,
				.op = m->cmd.op,
				.val = m->cmd.val,
				.vlen = m->cmd.vlen,
				.bound = m->bound,
				.conn = conn,
				.full = c->witness_n >= c->cfg.max_witness};
	cmap_update(c->witness, m->cmd.key, m->cmd.klen, witness_add_cb, &a);
	if (!a.ok)
		return -ENOSPC;
	if (a.added) {
		struct spend_arg sa = {.seq = m->cid.seq, .dep = m->dep, .add = true};
		cmap_update_u64(c->spend, m->cid.client, spend_cb, &sa);
		if (sa.failed) {
			/* without the session index the record would be invisible to causal_deps:
			 * take it back */
			struct witness_arg ra = {.c = c, .cid = m->cid};
			cmap_update(c->witness, m->cmd.key, m->cmd.klen, witness_remove_cb, &ra);
			if (ra.was_removed)
				free(ra.removed.val);
			return -ENOSPC;
		}
	}
	return 0;
}

struct own_arg {
	uint64_t client;
	uint64_t below; /* only writes the session issued before the read (session order) */
	struct proto_msg *m;
	bool found;
};

static void own_pending_cb(const void *key, size_t klen, void *val, void *arg)
{
	(void)key;
	(void)klen;
	struct own_arg *a = arg;
	const struct wlist *l = val;
	/* the session's latest write in session order (highest seq), not the latest to arrive: a
	 * re-sent write can arrive after a later one */
	const struct wrec *best = NULL;
	for (uint32_t i = 0; i < l->n; i++) {
		const struct wrec *r = &l->r[i];
		if (r->write && r->cid.client == a->client && r->cid.seq < a->below &&
		    (best == NULL || r->cid.seq > best->cid.seq))
			best = r;
	}
	if (best) {
		a->found = true;
		a->m->status = best->op == PROTO_OP_PUT ? PROTO_ST_OK : PROTO_ST_NOT_FOUND;
		a->m->value = best->op == PROTO_OP_PUT ? best->val : NULL;
		a->m->vlen = best->op == PROTO_OP_PUT ? best->vlen : 0;
	}
}

/* HO weak read: the session's own latest pending write (weak, or strong) to key, if this replica
 * holds one (nothing after it has executed here: execution is in slot order).
 * The value pointer stays valid until the witness table next changes (single thread). */
static bool own_pending_write(struct core *c, const struct proto_cid *read, const uint8_t *key,
			      uint32_t klen, struct proto_msg *m)
{
	struct own_arg a = {.client = read->client, .below = read->seq, .m = m};
	cmap_get(c->witness, key, klen, own_pending_cb, &a);
	return a.found;
}

/* ---- leader --------------------------------------------------------------------------- */

struct keyidx_arg {
	uint64_t slot;
	bool write;
	bool weak;
	struct proto_cid cid;
	/* out: the index before this slot */
	uint64_t prev_any, prev_write, prev_strong_any, prev_strong_write, prev_weak_write;
	struct proto_cid prev_weak_cid;
};

static enum cmap_update_result keyidx_add_cb(const void *key, size_t klen, void **val, void *arg)
{
	struct keyidx_arg *a = arg;
	struct keyidx *k = *val;
	if (k == NULL) {
		k = malloc(sizeof *k);
		if (k == NULL) {
			/* Without an index the overlay would be wrong: report an uncommitted
			 * earlier write at this very slot, which forces ok=false (slow path:
			 * the answer then comes from execution). */
			a->prev_any = a->prev_write = a->prev_strong_any = a->prev_strong_write =
			    a->slot;
			a->prev_weak_write = NO_SLOT;
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
	a.cmd.scan_count = e->scan_count;
	c->io.to_peer(c->io.ctx, to, &a);
	e->sent_ns = now_ns;
}

static void advance_commit(struct core *c, uint64_t now_ns);

struct low_read {
	uint64_t low_seq;
};

static void read_low_seq_cb(const void *key, size_t klen, void *val, void *arg)
{
	((struct low_read *)arg)->low_seq = ((const struct client_rec *)val)->low_seq;
}

/* Leader: true if the session's weak write `dep` is already ordered (in the log, executed, or
 * below the session's watermark, i.e. completed and collected). Nothing of a session is
 * ordered before its previous weak write: that is what keeps session order when a weak write
 * was refused (BUSY) or lost and is re-sent later. */
static bool dep_ordered(struct core *c, uint64_t client, uint64_t dep)
{
	if (dep == 0)
		return true;
	struct proto_cid d = {.client = client, .seq = dep};
	uint8_t k[16];
	cid_key(&d, k);
	if (cmap_contains(c->inflight, k, 16) || cmap_contains(c->results, k, 16))
		return true;
	struct low_read lr = {0};
	cmap_get_u64(c->clients, client, read_low_seq_cb, &lr);
	return dep < lr.low_seq;
}

/* Leader: appends m's command at the next slot with a descriptor. Returns the entry, or NULL
 * (no descriptor, window full, no memory: the caller answers BUSY). */
static struct entry *log_append(struct core *c, uint64_t conn, const struct proto_msg *m,
				uint8_t kind)
{
	desc_id did;
	void *payload;
	if (desc_acquire(c->desc, false, &did, &payload) != 0) {
		set_intake(c, false);
		return NULL;
	}
	if (desc_in_use(c->desc) >= desc_capacity(c->desc))
		set_intake(c, false);
	uint64_t slot = c->next_slot;
	if (ring_fit(c, slot) != 0 || slot - c->log_base >= c->log_soft_cap) {
		desc_release(c->desc, did);
		return NULL;
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
	memcpy(e->key, m->cmd.key, m->cmd.klen);
	e->klen = m->cmd.klen;
	if (m->cmd.vlen)
		memcpy(e->val, m->cmd.val, m->cmd.vlen);
	e->vlen = m->cmd.vlen;
	e->scan_count = m->cmd.op == PROTO_OP_SCAN ? m->cmd.scan_count : 0;
	e->acks = 1u << c->cfg.self;
	e->conn = conn;
	e->desc = did;
	e->led = true;
	*(uint64_t *)payload = slot;
	uint8_t ck[16];
	cid_key(&m->cid, ck);
	cmap_put(c->inflight, ck, 16, (void *)(uintptr_t)(slot + 1), NULL);
	return e;
}

static void replicate(struct core *c, struct entry *e, uint64_t now_ns)
{
	for (int p = 0; p < c->cfg.n; p++)
		if (p != c->cfg.self)
			send_accept(c, e, p, now_ns);
	if (c->cfg.n == 1)
		advance_commit(c, now_ns);
}

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
	if (!c->active) {
		r.status = PROTO_ST_BUSY; /* still collecting the view's state: retry soon */
		c->io.to_client(c->io.ctx, conn, &r);
		return;
	}
	uint8_t ck[16];
	cid_key(&m->cid, ck);
	/* 1. dedup: executed -> cached result; in flight -> answer when it executes */
#ifdef CURPKV_MUTANT_DOUBLE_EXEC
	if (false) { /* mutant: a retried cid gets a new slot */
#else
	if (send_cached_result(c, conn, &m->cid)) {
#endif
		c->st.duplicates++;
		return;
	}
	uint64_t known = inflight_slot(c, ck);
#ifdef CURPKV_MUTANT_DOUBLE_EXEC
	known = NO_SLOT;
#endif
	if (known != NO_SLOT) {
		c->st.duplicates++;
		struct entry *e = slot_entry(c, known);
		if (e && !e->executed) {
			e->conn = conn;
			e->sync_wanted = true;
			e->kind =
			    EK_STRONG; /* (an entry a view change recovered has no kind yet) */
		}
		return;
	}
	/* 2. session order (the session's previous weak write first), a descriptor, a slot */
	struct entry *e = NULL;
	if (!dep_ordered(c, m->cid.client, m->dep) ||
	    (e = log_append(c, conn, m, EK_STRONG)) == NULL) {
		c->st.busy++;
		r.status = PROTO_ST_BUSY;
		c->io.to_client(c->io.ctx, conn, &r);
		return;
	}
	uint64_t slot = e->slot;

	/* 3. speculative value over the pending-write overlay (weak writes included), computed
	 * from the index as it was before this command; 4. the ok rule */
	bool ho = c->cfg.protocol == CONF_PROTO_CURPHO;
	struct keyidx_arg ka = {.slot = slot, .write = is_write_op(e->op), .cid = e->cid};
	cmap_update(c->keys, e->key, e->klen, keyidx_add_cb, &ka);
	bool ok;
	if (e->op == PROTO_OP_GET) {
		uint64_t w = ka.prev_write;
		bool pending_write = w != NO_SLOT && w >= c->exec_index;
		const struct entry *we = pending_write ? slot_entry(c, w) : NULL;
#ifdef CURPKV_MUTANT_STALE_SPEC
		pending_write = false; /* mutant (the prototype's P1): the executed value only */
		we = NULL;
#endif
		if (pending_write && we == NULL) {
			r.status = PROTO_ST_OK; /* index without its entry: never trust it */
			ok = false;
		} else {
			if (we && we->op == PROTO_OP_APPEND) {
				/* the value is the executed one plus pending appends: the slow
				 * path answers (from the execution) */
				r.status = PROTO_ST_OK;
				ok = false;
				goto get_done;
			}
			if (we) {
				r.status =
				    we->op == PROTO_OP_PUT ? PROTO_ST_OK : PROTO_ST_NOT_FOUND;
				r.value = we->op == PROTO_OP_PUT ? we->val : NULL;
				r.vlen = we->op == PROTO_OP_PUT ? we->vlen : 0;
				r.ver = we->slot + 1;
			} else if (c->cfg.noop) {
				r.status = PROTO_ST_NOT_FOUND;
			} else {
				r.ver = kv_lookup(c, e->key, e->klen, &r);
			}
			/* HO: an earlier weak write does not by itself make ok false (the client's
			 * read_dep check covers it); strong writes do, everywhere. */
			uint64_t sw = ho ? ka.prev_strong_write : w;
			ok = sw == NO_SLOT || sw < c->exec_index || sw < c->commit_index;
		}
	get_done:
		if (ho && ka.prev_weak_write != NO_SLOT && ka.prev_weak_write >= c->exec_index)
			r.read_dep = ka.prev_weak_cid;
	} else if (e->op == PROTO_OP_SCAN) {
		ok = false; /* strong SCAN goes through the slow path */
		r.status = PROTO_ST_OK;
	} else {
		r.status = PROTO_ST_OK;
		r.ver = slot + 1;
		uint64_t a = ho ? ka.prev_strong_any : ka.prev_any;
		ok = a == NO_SLOT || a < c->commit_index;
		if (e->op == PROTO_OP_APPEND && ok) {
			/* its outcome (applied, or refused past maxValueBytes) depends on the
			 * value's length: the fast path only when every earlier write of the key
			 * has executed and it fits; else the execution answers */
			struct proto_msg cur = {0};
			if (ka.prev_write != NO_SLOT && ka.prev_write >= c->exec_index)
				ok = false;
			else if (kv_lookup(c, e->key, e->klen, &cur),
				 (uint64_t)cur.vlen + e->vlen > c->cfg.max_value)
				ok = false;
		}
	}
	e->reply_ok = ok;
	r.ok = ok;
	r.slot = slot;
	if (ok) {
		c->st.fast_ok++;
		/* The leader is one of the super quorum (its REPLY ok): it keeps a record too, so
		 * that a view change that collects it (back after a pause, or a follower of a later
		 * view it never installed) counts it among the command's holders (7.2). */
		struct witness_arg la = {.c = c,
					 .cid = m->cid,
					 .write = is_write_op(m->cmd.op),
					 .op = m->cmd.op,
					 .keep_val = is_write_op(m->cmd.op),
					 .val = m->cmd.val,
					 .vlen = m->cmd.vlen,
					 .force_ok = true,
					 .full = c->witness_n >= c->cfg.max_witness};
		if (c->cfg.n > 1)
			cmap_update(c->witness, m->cmd.key, m->cmd.klen, witness_add_cb, &la);
	}
	c->io.to_client(c->io.ctx, conn, &r);

	/* 6. replicate */
	replicate(c, e, now_ns);
}

/* Sends the answer to a weak write: HO CAUSAL_REPLY (executed = ok), HT WEAK_REPLY. */
static void weak_write_answer(struct core *c, uint64_t conn, const struct proto_cid *cid,
			      uint8_t type, uint64_t slot, bool executed, uint8_t status)
{
	struct proto_msg r = {
	    .type = type, .view = c->view, .cid = *cid, .slot = slot, .status = status};
	if (type == PROTO_CAUSAL_REPLY)
		r.ok = executed;
	else
		r.commit = c->exec_index;
	c->io.to_client(c->io.ctx, conn, &r);
}

struct cached_slot {
	uint64_t slot;
	uint8_t status;
	bool found;
};

static void cached_slot_cb(const void *key, size_t klen, void *val, void *arg)
{
	struct cached_slot *cs = arg;
	const struct result *r = val;
	cs->found = true;
	cs->slot = r->slot;
	cs->status = r->status;
}

static bool cached_slot(struct core *c, const struct proto_cid *cid, struct cached_slot *cs)
{
	uint8_t k[16];
	cid_key(cid, k);
	cs->found = false;
	return cmap_get(c->results, k, 16, cached_slot_cb, cs) == 0 && cs->found;
}

/* A weak write: HO CAUSAL_PROPOSE (at every replica) or HT WEAK_WRITE (at the leader). */
static void parked_drain(struct core *c, bool expire, uint64_t now_ns);

static void on_weak_write(struct core *c, uint64_t conn, const struct proto_msg *m, uint64_t now_ns)
{
	bool ho = m->type == PROTO_CAUSAL_PROPOSE;
	uint8_t rtype = ho ? PROTO_CAUSAL_REPLY : PROTO_WEAK_REPLY;
	bool answer = ho ? m->bound == c->cfg.self : true; /* HO: only the bound replica answers */
	c->st.weak_writes++;
	if (ho != (c->cfg.protocol == CONF_PROTO_CURPHO) ||
	    (!ho && c->cfg.protocol != CONF_PROTO_CURPHT)) {
		if (answer)
			weak_write_answer(c, conn, &m->cid, rtype, 0, false, PROTO_ST_INVALID);
		return;
	}
	if (!ho && !is_leader(c)) {
		weak_write_answer(c, conn, &m->cid, rtype, 0, false, PROTO_ST_NOT_LEADER);
		return;
	}
	if (m->view != c->view) {
		c->st.stale_view++;
		if (answer)
			weak_write_answer(c, conn, &m->cid, rtype, 0, false, PROTO_ST_STALE_VIEW);
		return;
	}
	if (!c->active) {
		if (answer)
			weak_write_answer(c, conn, &m->cid, rtype, 0, false, PROTO_ST_BUSY);
		return;
	}
	struct cached_slot cs;
	if (cached_slot(c, &m->cid, &cs)) {
		/* executed here already: say so (HO: this also empties the client's write set) */
		c->st.duplicates++;
		if (answer)
			weak_write_answer(c, conn, &m->cid, rtype, cs.slot, true, cs.status);
		return;
	}
	uint8_t ck[16];
	cid_key(&m->cid, ck);
	uint64_t known = is_leader(c) ? inflight_slot(c, ck) : NO_SLOT;
	if (ho) {
		int rc = witness_record_weak(c, conn, m);
		if (rc == 0 && c->park_n > 0)
			parked_drain(c, false, 0); /* a read may have waited for this record */
		if (rc != 0 && answer) {
			c->st.busy++;
			weak_write_answer(c, conn, &m->cid, rtype, 0, false, PROTO_ST_BUSY);
			return;
		}
		if (!is_leader(c) || known != NO_SLOT) {
			if (known != NO_SLOT)
				c->st.duplicates++;
			if (answer)
				weak_write_answer(c, conn, &m->cid, rtype, 0, false, PROTO_ST_OK);
			return;
		}
	} else if (known != NO_SLOT) {
		/* HT re-send of a write in flight: answer when it executes (or now, if the early
		 * reply was already given: the client may have missed it) */
		c->st.duplicates++;
		struct entry *e = slot_entry(c, known);
		if (e && !e->executed) {
			e->conn = conn;
			e->sync_wanted = true;
			e->kind =
			    EK_HT_WEAK; /* (an entry a view change recovered has no kind yet) */
			if (c->cfg.ht_early_reply)
				weak_write_answer(c, conn, &m->cid, rtype, e->slot, false,
						  PROTO_ST_OK);
		}
		return;
	}
	/* the leader orders it, in session order */
	struct entry *e = NULL;
	if (!dep_ordered(c, m->cid.client, m->dep) ||
	    (e = log_append(c, conn, m, ho ? EK_HO_WEAK : EK_HT_WEAK)) == NULL) {
		c->st.busy++;
		if (answer) {
			/* nothing ordered: the session re-sends this write and what followed it */
			weak_write_answer(c, conn, &m->cid, rtype, 0, false, PROTO_ST_BUSY);
		} else {
			/* the bound replica said OK; tell the session anyway so it re-sends soon */
			weak_write_answer(c, conn, &m->cid, PROTO_CAUSAL_REPLY, 0, false,
					  PROTO_ST_BUSY);
		}
		return;
	}
	struct keyidx_arg ka = {.slot = e->slot, .write = true, .weak = true, .cid = e->cid};
	cmap_update(c->keys, e->key, e->klen, keyidx_add_cb, &ka);
	if (ho) {
		if (answer)
			weak_write_answer(c, conn, &m->cid, rtype, 0, false, PROTO_ST_OK);
	} else if (c->cfg.ht_early_reply) {
		e->reply_ok =
		    true; /* answered at slot assignment ("may be lost if the leader fails") */
		weak_write_answer(c, conn, &m->cid, rtype, e->slot, false, PROTO_ST_OK);
	}
	replicate(c, e, now_ns);
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

/* ---- weak reads ------------------------------------------------------------------------ */

/* Answers a weak read now. GET: HO, the session's own latest pending weak write to the key if
 * this replica holds one; otherwise the executed value and its version. SCAN: the executed
 * state, its version the executed index. `commit` tells the client how far this replica had
 * executed (its next read token). */
static void weak_read_answer(struct core *c, uint64_t conn, const struct proto_cid *cid, uint8_t op,
			     const uint8_t *key, uint32_t klen, uint32_t scan_count)
{
	struct proto_msg r = {
	    .type = PROTO_WEAK_REPLY, .view = c->view, .cid = *cid, .commit = c->exec_index};
	c->st.weak_reads++;
	if (op == PROTO_OP_SCAN) {
		c->st.scans++;
		scan_exec(c, key, klen, scan_count, &r);
		r.slot = c->exec_index ? c->exec_index - 1 : 0;
	} else if (c->cfg.protocol == CONF_PROTO_CURPHO &&
		   own_pending_write(c, cid, key, klen, &r)) {
		r.slot = 0; /* not ordered here yet: no version */
	} else if (c->cfg.noop) {
		r.status = PROTO_ST_NOT_FOUND;
	} else {
		uint64_t ver = kv_lookup(c, key, klen, &r);
		r.slot = ver ? ver - 1 : 0; /* the version: slot of the write it reflects */
	}
	c->io.to_client(c->io.ctx, conn, &r);
}

static void weak_read_wait(struct core *c, uint64_t conn, const struct proto_cid *cid)
{
	struct proto_msg r = {.type = PROTO_WEAK_REPLY,
			      .view = c->view,
			      .cid = *cid,
			      .commit = c->exec_index,
			      .status = PROTO_ST_WAIT};
	c->st.weak_waits++;
	c->io.to_client(c->io.ctx, conn, &r);
}

static void first_pending_cb(const void *key, size_t klen, void *val, void *arg)
{
	(void)key;
	(void)klen;
	const struct spend *sp = val;
	if (sp->n)
		*(uint64_t *)arg = sp->e[0].seq;
}

struct chain_arg {
	uint64_t exec_hi; /* the session's weak writes up to this seq executed here */
	uint64_t from;	  /* the read's dep */
	bool complete;
};

static void chain_cb(const void *key, size_t klen, void *val, void *arg)
{
	(void)key;
	(void)klen;
	const struct spend *sp = val;
	struct chain_arg *a = arg;
	uint64_t x = a->from;
	for (uint32_t guard = 0; guard <= sp->n; guard++) {
		if (x == 0 || x <= a->exec_hi) {
			a->complete = true;
			return;
		}
		uint32_t i = 0;
		while (i < sp->n && sp->e[i].seq != x)
			i++;
		if (i == sp->n)
			return; /* a write of the chain is neither here nor executed here */
		x = sp->e[i].dep;
	}
}

/* HO: does this replica hold (as records, or executed) the session's weak write `dep` and the
 * whole chain of earlier ones not executed here? Without them an answer could miss one of the
 * session's own writes (a session that rebound here, or a message lost with a connection). */
static bool own_writes_here(struct core *c, uint64_t client, uint64_t dep)
{
	if (dep == 0)
		return true;
	struct chain_arg a = {.from = dep};
	cmap_get_u64(c->clients, client, weak_exec_read_cb, &a.exec_hi);
	if (dep <= a.exec_hi)
		return true;
	cmap_get_u64(c->spend, client, chain_cb, &a);
	return a.complete;
}

/* May the weak read (op, token, dep) of cid be answered now? Every slot below the token must
 * be executed here (5.2); HO: the session's weak writes up to dep must be here (recorded or
 * executed), and an HO SCAN, which cannot overlay the session's own pending weak writes on a
 * range, waits until those sent before it have executed here. */
static bool weak_read_ready(struct core *c, const struct proto_cid *cid, uint8_t op, uint64_t token,
			    uint64_t dep)
{
	if (token > c->exec_index || c->snap_open || c->state_bad)
		return false; /* behind, or its state is being replaced by a transfer */
	if (c->exec_index < c->inst_cut)
		return false; /* a view change moved fast-path commands (a token taken from an
			       * older view's REPLY may name a slot they left): not before the
			       * installed log, replays included, is executed here */
	if (c->cfg.protocol != CONF_PROTO_CURPHO)
		return true;
	if (!own_writes_here(c, cid->client, dep))
		return false;
	if (op != PROTO_OP_SCAN)
		return true;
	uint64_t first = 0;
	cmap_get_u64(c->spend, cid->client, first_pending_cb, &first);
	return first == 0 || first >= cid->seq;
}

static void on_weak_read(struct core *c, uint64_t conn, const struct proto_msg *m, uint64_t now_ns)
{
	if (c->cfg.protocol != CONF_PROTO_CURPHO && c->cfg.protocol != CONF_PROTO_CURPHT) {
		struct proto_msg r = {.type = PROTO_WEAK_REPLY,
				      .view = c->view,
				      .cid = m->cid,
				      .status = PROTO_ST_INVALID};
		c->io.to_client(c->io.ctx, conn, &r);
		return;
	}
	if (weak_read_ready(c, &m->cid, m->cmd.op, m->token, m->dep)) {
		weak_read_answer(c, conn, &m->cid, m->cmd.op, m->cmd.key, m->cmd.klen,
				 m->cmd.scan_count);
		return;
	}
	/* 5.2: wait (bounded) until this replica has executed what the session has observed */
	uint8_t *k = c->park_n < c->cfg.max_parked ? malloc(m->cmd.klen ? m->cmd.klen : 1) : NULL;
	if (k == NULL) {
		weak_read_wait(c, conn, &m->cid);
		return;
	}
	memcpy(k, m->cmd.key, m->cmd.klen);
	struct parked *p = &c->parked[(c->park_head + c->park_n) % c->cfg.max_parked];
	*p = (struct parked){.conn = conn,
			     .cid = m->cid,
			     .token = m->token,
			     .since_ns = now_ns,
			     .key = k,
			     .klen = m->cmd.klen,
			     .op = m->cmd.op,
			     .scan_count = m->cmd.scan_count,
			     .dep = m->dep};
	c->park_n++;
	c->st.weak_parked++;
}

/* Answers parked reads that became ready, and (expire) those parked longer than park_ns with
 * WAIT (the client asks again). Keeps the others in order. */
static void parked_drain(struct core *c, bool expire, uint64_t now_ns)
{
	uint32_t n = c->park_n, kept = 0;
	for (uint32_t i = 0; i < n; i++) {
		struct parked p = c->parked[(c->park_head + i) % c->cfg.max_parked];
		if (weak_read_ready(c, &p.cid, p.op, p.token, p.dep)) {
			weak_read_answer(c, p.conn, &p.cid, p.op, p.key, p.klen, p.scan_count);
			free(p.key);
		} else if (expire && now_ns - p.since_ns >= c->cfg.park_ns) {
			weak_read_wait(c, p.conn, &p.cid);
			free(p.key);
		} else {
			c->parked[(c->park_head + kept) % c->cfg.max_parked] = p;
			kept++;
		}
	}
	c->park_n = kept;
}

/* ---- execution -------------------------------------------------------------------------- */

/* Leader: takes e out of the in-flight tables (it executed, or the leader stepped down). */
static void unregister_led(struct core *c, struct entry *e)
{
	if (e->cid.client != 0) {
		uint8_t ck[16];
		cid_key(&e->cid, ck);
		cmap_del(c->inflight, ck, 16, NULL);
	}
	if (e->op != PROTO_OP_NONE)
		cmap_update(c->keys, e->key, e->klen, keyidx_done_cb, NULL);
	if (e->desc != 0)
		desc_release(c->desc, e->desc);
	e->desc = 0;
	e->led = false;
}

static void execute_entry(struct core *c, struct entry *e)
{
	struct proto_msg r = {
	    .type = PROTO_SYNC_REPLY, .view = c->view, .cid = e->cid, .slot = e->slot};
	bool dup = e->cid.client != 0 && already_executed(c, &e->cid);
#ifdef CURPKV_MUTANT_DOUBLE_EXEC
	dup = false; /* mutant: executed again */
#endif
	if (e->op == PROTO_OP_NONE || dup) {
		/* no-op slot, or a cid executed before: exactly once */
	} else if (e->op == PROTO_OP_GET) {
		if (c->cfg.noop)
			r.status = PROTO_ST_NOT_FOUND;
		else
			r.ver = kv_lookup(c, e->key, e->klen, &r);
	} else if (is_write_op(e->op)) {
		r.status = PROTO_ST_OK;
		r.ver = e->slot + 1;
		if (!c->cfg.noop && !kv_apply(c, e)) {
			r.status = PROTO_ST_INVALID; /* an APPEND past maxValueBytes: not applied */
			r.ver = 0;
		}
	} else {
		scan_exec(c, e->key, e->klen, e->scan_count, &r); /* SCAN: the state at this slot */
		c->st.scans++;
	}
	if (!dup && e->op != PROTO_OP_NONE) {
		cache_result(c, &e->cid, e->slot, r.ver, r.status, r.value, r.vlen);
		mark_executed(c, &e->cid);
		c->st.executed++;
		if (c->io.executed)
			c->io.executed(c->io.ctx, &e->cid, e->slot);
	}
	e->executed = true;
	witness_remove(c, e, r.status);

	if (is_leader(c) && e->led) {
		if (e->conn == 0) {
			/* recovered by a view change, never asked for here: the client asks again
			 */
		} else if (e->kind == EK_HT_WEAK) {
			if (!e->reply_ok || e->sync_wanted)
				weak_write_answer(c, e->conn, &e->cid, PROTO_WEAK_REPLY, e->slot,
						  true, PROTO_ST_OK);
		} else if (e->kind == EK_HO_WEAK) {
			/* answered by the bound replica's record (witness_remove) */
		} else if (!e->reply_ok || e->sync_wanted) {
			if (dup)
				send_cached_result(c, e->conn, &e->cid);
			else {
				c->st.slow_replies++;
				c->io.to_client(c->io.ctx, e->conn, &r);
			}
		}
		unregister_led(c, e);
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
			/* every replica keeps a tail of executed entries: a follower that accepted
			 * an entry in an older view may need it again from whoever leads next; the
			 * leader also keeps what a follower has not acknowledged (up to a cap) */
			uint64_t window = c->log_end - c->log_base;
			bool need = window < c->cap / 2 || (is_leader(c) && e->acks != all &&
							    window < c->log_soft_cap / 2);
			if (need)
				break;
			entry_clear(e);
		}
		c->log_base++;
	}
}

static void execute_ready(struct core *c)
{
	if (c->snap_open || c->state_bad)
		return; /* the state is incomplete until a whole transfer arrived */
	uint64_t limit = is_leader(c) ? c->commit_index : c->commit_known;
	while (c->exec_index < limit) {
		struct entry *e = slot_entry(c, c->exec_index);
		if (e == NULL || e->view != c->view)
			break; /* follower: not accepted (in this view) yet; the leader re-sends it
				*/
		execute_entry(c, e);
		c->exec_index++;
	}
	if (!is_leader(c) && c->exec_index > c->commit_index)
		c->commit_index = c->exec_index;
	log_gc(c);
	if (c->park_n > 0)
		parked_drain(c, false, 0);
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
	c->inst_acked |= 1u << from;
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

static void vc_check_install(struct core *c);

/* Acknowledges slots lo..hi (batched into one ACK range while they are consecutive). */
static void follower_ack(struct core *c, uint64_t lo, uint64_t hi)
{
	if (c->ack_pending && lo == c->ack_hi + 1) {
		c->ack_hi = hi;
		return;
	}
	if (c->ack_pending) {
		struct proto_msg a = {
		    .type = PROTO_ACK, .view = c->view, .slot = c->ack_lo, .slot_hi = c->ack_hi};
		c->io.to_peer(c->io.ctx, c->leader, &a);
	}
	c->ack_pending = true;
	c->ack_lo = lo;
	c->ack_hi = hi;
}

/* Moves acc_next past every slot held in this view from the execution index on. */
static void acc_advance(struct core *c)
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
		follower_ack(c, slot, slot); /* a re-sent one: acknowledge again */
		return;
	}
	if (slot != c->acc_next)
		return; /* acknowledged once the hole before it is filled */
	acc_advance(c);
	follower_ack(c, slot, c->acc_next - 1);
	if (c->installing)
		vc_check_install(c);
}

static void follower_on_accept(struct core *c, int from, const struct proto_msg *m)
{
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
	} else if (slot - c->log_base < 4 * c->log_soft_cap && ring_fit(c, slot) == 0) {
		/* a new slot, or one accepted in an older view (replaced) */
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
		if (m->cmd.klen)
			memcpy(e->key, m->cmd.key, m->cmd.klen);
		e->klen = m->cmd.klen;
		if (m->cmd.vlen)
			memcpy(e->val, m->cmd.val, m->cmd.vlen);
		e->vlen = m->cmd.vlen;
		e->scan_count = m->cmd.op == PROTO_OP_SCAN ? m->cmd.scan_count : 0;
		if (slot + 1 > c->log_end)
			c->log_end = slot + 1;
		if (slot + 1 > c->next_slot)
			c->next_slot = slot + 1;
		follower_accepted(c, slot);
	}
	if (m->commit > c->commit_known)
		c->commit_known = m->commit;
	execute_ready(c);
}

/* ---- view change (PROTOCOL.md 7.2) ------------------------------------------------------- */

static void vc_list_clear(struct vc_list *l)
{
	for (uint32_t i = 0; i < l->n; i++) {
		free(l->v[i].key);
		free(l->v[i].val);
	}
	l->n = 0;
	l->nomem = false;
}

/* Forgets everything collected (items are freed; the arrays are kept for the next time). */
static void vc_reset(struct core *c)
{
	vc_list_clear(&c->vc_items);
	for (int i = 0; i < PROTO_MAX_REPLICAS; i++)
		vc_list_clear(&c->vc_pending[i]);
	c->vc_done = 0;
	c->vc_commit = 0;
	c->vc_iview = c->vc_icut = 0;
	memset(c->vc_exec, 0, sizeof c->vc_exec);
}

/* Copies one item of a replica's state (VC_ENTRY or VC_RECORD) into l. */
static void vc_list_add(struct vc_list *l, int from, const struct proto_msg *m)
{
	if (l->nomem)
		return;
	if (l->n == l->cap) {
		uint32_t ncap = l->cap ? l->cap * 2 : 64;
		struct vc_item *nv = realloc(l->v, ncap * sizeof *nv);
		if (nv == NULL) {
			l->nomem = true;
			return;
		}
		l->v = nv;
		l->cap = ncap;
	}
	struct vc_item *it = &l->v[l->n];
	memset(it, 0, sizeof *it);
	it->key = malloc(m->cmd.klen ? m->cmd.klen : 1);
	it->val = m->cmd.vlen ? malloc(m->cmd.vlen) : NULL;
	if (it->key == NULL || (m->cmd.vlen && it->val == NULL)) {
		free(it->key);
		free(it->val);
		l->nomem = true;
		return;
	}
	if (m->cmd.klen)
		memcpy(it->key, m->cmd.key, m->cmd.klen);
	if (m->cmd.vlen)
		memcpy(it->val, m->cmd.val, m->cmd.vlen);
	it->klen = m->cmd.klen;
	it->vlen = m->cmd.vlen;
	it->op = m->cmd.op;
	it->scan_count = m->cmd.scan_count;
	it->record = m->type == PROTO_VC_RECORD;
	it->from = from;
	it->slot = m->slot;
	it->eview = m->eview;
	it->cid = m->cid;
	it->ok = m->ok;
	it->weak = m->weak;
	it->dep = m->dep;
	it->bound = m->bound;
	l->n++;
}

/* Moves every item of src to the end of dst (src is left empty). Returns 0 or -ENOMEM. */
static int vc_list_move(struct vc_list *dst, struct vc_list *src)
{
	if (dst->n + src->n > dst->cap) {
		uint32_t ncap = dst->cap ? dst->cap : 64;
		while (ncap < dst->n + src->n)
			ncap *= 2;
		struct vc_item *nv = realloc(dst->v, ncap * sizeof *nv);
		if (nv == NULL)
			return -ENOMEM;
		dst->v = nv;
		dst->cap = ncap;
	}
	if (src->n)
		memcpy(dst->v + dst->n, src->v, src->n * sizeof *src->v);
	dst->n += src->n;
	src->n = 0;
	return 0;
}

/* Where a replica's state goes: to the new leader (a peer), or into its own collection. */
struct vc_out {
	struct core *c;
	int to; /* -1: self */
	uint32_t count;
};

static void vc_emit(struct vc_out *o, const struct proto_msg *m)
{
	if (o->to < 0)
		vc_list_add(&o->c->vc_items, o->c->cfg.self, m);
	else
		o->c->io.to_peer(o->c->io.ctx, o->to, m);
	o->count++;
}

static int vc_record_cb(const void *key, size_t klen, void *val, void *arg)
{
	struct vc_out *o = arg;
	const struct wlist *l = val;
	for (uint32_t i = 0; i < l->n; i++) {
		const struct wrec *r = &l->r[i];
		struct proto_msg m = {.type = PROTO_VC_RECORD,
				      .view = o->c->view,
				      .eview = r->view,
				      .cid = r->cid,
				      .ok = r->ok,
				      .weak = r->weak,
				      .bound = r->bound > 0 ? r->bound : 0};
		m.cmd = (struct proto_cmd){.op = r->op,
					   .key = key,
					   .klen = (uint32_t)klen,
					   .val = r->val,
					   .vlen = r->vlen};
		vc_emit(o, &m);
	}
	return 0;
}

/* Sends (or, on the new leader, collects) this replica's state for the current view: its
 * accepted entries from slot `from_slot` on (with the view each was accepted in), its witness
 * records, then VC_DONE with its commit and execution indexes and the count of items. */
static void vc_send_state(struct core *c, int to, uint64_t from_slot)
{
	struct vc_out o = {.c = c, .to = to};
	for (uint64_t s = from_slot > c->log_base ? from_slot : c->log_base; s < c->log_end; s++) {
		const struct entry *e = slot_entry(c, s);
		if (e == NULL)
			continue;
		struct proto_msg m = {.type = PROTO_VC_ENTRY,
				      .view = c->view,
				      .slot = s,
				      .eview = e->view,
				      .cid = e->cid};
		m.cmd = (struct proto_cmd){.op = e->op,
					   .key = e->key,
					   .klen = e->klen,
					   .val = e->val,
					   .vlen = e->vlen,
					   .scan_count = e->scan_count};
		vc_emit(&o, &m);
	}
	cmap_foreach(c->witness, vc_record_cb, &o);
	uint64_t commit = c->commit_known > c->commit_index ? c->commit_known : c->commit_index;
	if (to < 0) {
		c->vc_done |= 1u << c->cfg.self;
		c->vc_commit = commit;
		c->vc_exec[c->cfg.self] = c->exec_index;
		c->vc_iview = c->inst_view;
		c->vc_icut = c->inst_cut;
		return;
	}
	struct proto_msg d = {.type = PROTO_VC_DONE,
			      .view = c->view,
			      .commit = commit,
			      .slot = c->exec_index,
			      .slot_hi = o.count,
			      .eview = c->inst_view,
			      .cut = c->inst_cut};
	c->io.to_peer(c->io.ctx, to, &d);
}

struct keybag {
	uint8_t **k;
	uint32_t *len;
	uint32_t n, cap;
	bool nomem;
};

static int keybag_cb(const void *key, size_t klen, void *val, void *arg)
{
	(void)val;
	struct keybag *b = arg;
	if (b->n == b->cap) {
		uint32_t ncap = b->cap ? b->cap * 2 : 64;
		uint8_t **nk = realloc(b->k, ncap * sizeof *nk);
		if (nk == NULL) {
			b->nomem = true;
			return 1;
		}
		b->k = nk;
		uint32_t *nl = realloc(b->len, ncap * sizeof *nl);
		if (nl == NULL) {
			b->nomem = true;
			return 1;
		}
		b->len = nl;
		b->cap = ncap;
	}
	uint8_t *copy = malloc(klen ? klen : 1);
	if (copy == NULL) {
		b->nomem = true;
		return 1;
	}
	memcpy(copy, key, klen);
	b->k[b->n] = copy;
	b->len[b->n++] = (uint32_t)klen;
	return 0;
}

/* Frees what a keybag holds (the key copies still in it, and its arrays). */
static void keybag_free(struct keybag *b)
{
	for (uint32_t i = 0; i < b->n; i++)
		free(b->k[i]);
	free(b->k);
	free(b->len);
}

/* Deletes every entry of m (its values freed by m's free function). */
static void map_clear(struct cmap *m)
{
	for (int round = 0; round < 64 && cmap_size(m) > 0; round++) {
		struct keybag b = {0};
		cmap_foreach(m, keybag_cb, &b);
		for (uint32_t i = 0; i < b.n; i++)
			cmap_del(m, b.k[i], b.len[i], NULL);
		keybag_free(&b);
	}
}

/* Drops every witness record (they belong to an older view once a view is installed). */
static void witness_drop_all(struct core *c)
{
	map_clear(c->witness);
	c->witness_n = 0;
	map_clear(c->spend);
}

static int cid_cmp(const void *a, const void *b)
{
	const struct proto_cid *x = a, *y = b;
	if (x->client != y->client)
		return x->client < y->client ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

struct keep_arg {
	struct core *c;
	const struct proto_cid *logged;
	uint32_t nlogged;
	struct proto_cid *gone; /* weak records dropped (their session index entries go too) */
	uint32_t ngone, capgone;
};

static enum cmap_update_result keep_cb(const void *key, size_t klen, void **val, void *arg)
{
	struct keep_arg *a = arg;
	struct wlist *l = *val;
	(void)key;
	(void)klen;
	uint32_t kept = 0;
	for (uint32_t i = 0; i < l->n; i++) {
		struct wrec *r = &l->r[i];
		if (bsearch(&r->cid, a->logged, a->nlogged, sizeof *a->logged, cid_cmp)) {
			l->r[kept++] = *r;
			continue;
		}
		if (r->weak) {
			if (a->ngone == a->capgone) {
				uint32_t ncap = a->capgone ? a->capgone * 2 : 16;
				struct proto_cid *ng = realloc(a->gone, ncap * sizeof *ng);
				if (ng != NULL) {
					a->gone = ng;
					a->capgone = ncap;
				}
			}
			if (a->ngone < a->capgone)
				a->gone[a->ngone++] = r->cid;
		}
		free(r->val);
		a->c->witness_n--;
	}
	l->n = kept;
	if (kept == 0) {
		free(l);
		*val = NULL;
		return CMAP_DELETE;
	}
	return CMAP_KEEP;
}

/* A view is installed here: the older view's witness records go (7.2 step 4), except those of
 * commands the installed log holds and this replica has not executed yet. Those stay until they
 * execute: a session's weak read is answered from its own pending strong write's record when the
 * witness said ok to it (PROTOCOL.md 5.3), and that promise must survive the view change. */
static void witness_install(struct core *c)
{
	uint32_t n = 0;
	struct proto_cid *logged = NULL;
	if (c->log_end > c->exec_index)
		logged = malloc((size_t)(c->log_end - c->exec_index) * sizeof *logged);
	if (logged == NULL) {
		witness_drop_all(c);
		return;
	}
	for (uint64_t s = c->exec_index; s < c->log_end; s++) {
		const struct entry *e = slot_entry(c, s);
		if (e != NULL && e->view == c->view && e->cid.client != 0 && !e->executed)
			logged[n++] = e->cid;
	}
	qsort(logged, n, sizeof *logged, cid_cmp);
	struct keep_arg a = {.c = c, .logged = logged, .nlogged = n};
	struct keybag b = {0};
	cmap_foreach(c->witness, keybag_cb, &b);
	for (uint32_t i = 0; i < b.n; i++)
		cmap_update(c->witness, b.k[i], b.len[i], keep_cb, &a);
	keybag_free(&b);
	for (uint32_t i = 0; i < a.ngone; i++) {
		struct spend_arg sa = {.seq = a.gone[i].seq, .add = false};
		cmap_update_u64(c->spend, a.gone[i].client, spend_cb, &sa);
	}
	free(a.gone);
	free(logged);
}

/* Follower, installing: once it holds, in this view, every slot from its execution index to
 * the new leader's cut, the view is installed here: entries of older views from the cut on are
 * dropped (the new leader discarded them), so are the older view's witness records, and
 * witnesses record again. */
static void vc_check_install(struct core *c)
{
	acc_advance(c);
	if (c->acc_next < c->vc_cut)
		return;
	for (uint64_t s = c->vc_cut; s < c->log_end; s++) {
		struct entry *e = slot_entry(c, s);
		if (e != NULL && e->view < c->view && !e->executed)
			entry_clear(e);
	}
	witness_install(c);
	c->inst_view = c->view;
	c->inst_cut = c->vc_cut;
	c->installing = false;
	c->active = true;
	if (c->acc_next > 0)
		follower_ack(c, c->acc_next - 1, c->acc_next - 1); /* tells the leader */
}

static void send_install(struct core *c, int to)
{
	struct proto_msg m = {.type = PROTO_VC_INSTALL,
			      .view = c->view,
			      .cut = c->inst_cut,
			      .commit = c->commit_index};
	c->io.to_peer(c->io.ctx, to, &m);
}

static void on_vc_install(struct core *c, int from, const struct proto_msg *m)
{
	if (m->view != c->view || from != c->leader || c->active || is_leader(c))
		return;
	c->installing = true;
	c->vc_cut = m->cut;
	if (m->commit > c->commit_known)
		c->commit_known = m->commit;
	vc_check_install(c);
	execute_ready(c);
}

/* Leader: registers e as in flight (cid index, key index, a descriptor if one is free). */
static void register_led(struct core *c, struct entry *e)
{
	desc_id did;
	void *payload;
	if (desc_acquire(c->desc, false, &did, &payload) == 0) {
		e->desc = did;
		*(uint64_t *)payload = e->slot;
	} else {
		e->desc = 0; /* the pool is full: the entry is in flight all the same */
	}
	if (e->cid.client != 0) {
		uint8_t ck[16];
		cid_key(&e->cid, ck);
		cmap_put(c->inflight, ck, 16, (void *)(uintptr_t)(e->slot + 1), NULL);
	}
	if (e->op != PROTO_OP_NONE) {
		struct keyidx_arg ka = {.slot = e->slot,
					.write = is_write_op(e->op),
					.weak = e->kind == EK_HO_WEAK,
					.cid = e->cid};
		cmap_update(c->keys, e->key, e->klen, keyidx_add_cb, &ka);
	}
	e->led = true;
}

/* Puts item it at `slot` of the log (the ring has room); the entry takes its bytes. */
static struct entry *vc_place(struct core *c, uint64_t slot, struct vc_item *it)
{
	struct entry *e = &c->ring[slot & (c->cap - 1)];
	if (e->used)
		entry_clear(e);
	e->used = true;
	e->slot = slot;
	e->view = c->view;
	e->cid = it->cid;
	e->op = it->op;
	e->key = it->key;
	e->klen = it->klen;
	e->val = it->val;
	e->vlen = it->vlen;
	e->scan_count = it->op == PROTO_OP_SCAN ? it->scan_count : 0;
	it->key = NULL;
	it->val = NULL;
	return e;
}

/* True if a collected item takes part in the decision: an entry from slot lo on, unless an
 * installed later view discarded it (an older view's entry at or after that view's cut); an ok
 * strong record made in the latest view installed (older records were dealt with by that
 * view's leader, or belong to commands that never completed). */
static bool vc_useful(const struct core *c, const struct vc_item *it, uint64_t lo)
{
	if (it->record)
		return (it->ok || it->weak) && it->eview == c->vc_iview;
	return it->slot >= lo && !(it->eview < c->vc_iview && it->slot >= c->vc_icut);
}

static int vc_entry_cmp(const void *a, const void *b)
{
	const struct vc_item *x = *(const struct vc_item *const *)a;
	const struct vc_item *y = *(const struct vc_item *const *)b;
	if (x->slot != y->slot)
		return x->slot < y->slot ? -1 : 1;
	if (x->eview != y->eview)
		return x->eview > y->eview ? -1 : 1; /* highest view first */
	return x->from - y->from;
}

static int vc_record_cmp(const void *a, const void *b)
{
	const struct vc_item *x = *(const struct vc_item *const *)a;
	const struct vc_item *y = *(const struct vc_item *const *)b;
	if (x->cid.client != y->cid.client)
		return x->cid.client < y->cid.client ? -1 : 1;
	if (x->cid.seq != y->cid.seq)
		return x->cid.seq < y->cid.seq ? -1 : 1;
	return x->from - y->from;
}

/* New leader: one command to replay from witness records, rv[lo..hi) its records. */
struct vc_cand {
	uint32_t lo, hi;
	bool weak;
	bool placed;
};

static bool vc_same_key(struct vc_item **rv, const struct vc_cand *a, const struct vc_cand *b)
{
	const struct vc_item *ka = rv[a->lo], *kb = rv[b->lo];
	return ka->klen == kb->klen && memcmp(ka->key, kb->key, ka->klen) == 0;
}

/* How many collected replicas recorded a before b, minus how many recorded b before a (same
 * key; 0 for different keys). A replica holding a strong command but not the weak write counts
 * as "strong first": a strong GET completed on the fast path only with Q-1 witnesses agreeing
 * with the leader on the latest weak write before it (read_dep), so in any majority the
 * witnesses that saw the leader's order outnumber the others. */
static int vc_order(struct vc_item **rv, const struct vc_cand *a, const struct vc_cand *b)
{
	if (!vc_same_key(rv, a, b))
		return 0;
	int score = 0;
	for (int r = 0; r < PROTO_MAX_REPLICAS; r++) {
		const struct vc_item *ia = NULL, *ib = NULL;
		for (uint32_t i = a->lo; i < a->hi && ia == NULL; i++)
			if (rv[i]->from == r)
				ia = rv[i];
		for (uint32_t i = b->lo; i < b->hi && ib == NULL; i++)
			if (rv[i]->from == r)
				ib = rv[i];
		if (ia && ib)
			score += ia < ib ? 1 : -1; /* one replica's items are in arrival order */
		else if (ia && !a->weak && b->weak)
			score++;
		else if (ib && !b->weak && a->weak)
			score--;
	}
	return score;
}

/* New leader: appends the candidates to the log (7.2 step 3): each session's commands in session
 * order (a weak write after its causal dep), weak writes (and a weak write and a strong
 * command) of one key in the order most witnesses recorded them; what no order satisfies (never
 * seen so far) goes in cid order. */
/* The read_dep strong GET candidate g had at most of the replicas holding it: the latest weak
 * record on its key recorded before it there (by cid; {0,0}: none). */
static struct proto_cid vc_read_dep(struct vc_item **rv, uint32_t nr, const struct vc_cand *g)
{
	struct proto_cid dep[PROTO_MAX_REPLICAS];
	int cnt[PROTO_MAX_REPLICAS], nd = 0, best = -1;
	const struct vc_item *kg = rv[g->lo];
	for (uint32_t i = g->lo; i < g->hi; i++) {
		const struct vc_item *gi = rv[i], *last = NULL;
		for (uint32_t k = 0; k < nr; k++) {
			const struct vc_item *w = rv[k];
			if (!w->weak || w->from != gi->from || w >= gi || (last && w < last) ||
			    w->key == NULL || w->klen != kg->klen ||
			    memcmp(w->key, kg->key, kg->klen) != 0)
				continue;
			last = w; /* one replica's items are in its arrival order */
		}
		struct proto_cid d = last ? last->cid : (struct proto_cid){0, 0};
		int at = -1;
		for (int k = 0; k < nd && at < 0; k++)
			if (dep[k].client == d.client && dep[k].seq == d.seq)
				at = k;
		if (at < 0 && nd < PROTO_MAX_REPLICAS) {
			at = nd++;
			dep[at] = d;
			cnt[at] = 0;
		}
		if (at >= 0 && ++cnt[at] > (best < 0 ? 0 : cnt[best]))
			best = at;
	}
	return best < 0 ? (struct proto_cid){0, 0} : dep[best];
}

/* True if candidate x must wait for unplaced candidate y (i != k, same key checked here). */
static bool vc_waits(struct vc_item **rv, const struct vc_cand *cand, const int *rdep, uint32_t i,
		     uint32_t k)
{
	const struct vc_cand *x = &cand[i], *y = &cand[k];
	bool xg = !x->weak && rv[x->lo]->op == PROTO_OP_GET;
	bool yg = !y->weak && rv[y->lo]->op == PROTO_OP_GET;
	if (xg || yg) {
		/* a strong GET read its read_dep R and no later write: R goes before it; a weak
		 * write goes before it only if it goes before R, else after it */
		const struct vc_cand *w = xg ? y : x;
		uint32_t gi = xg ? i : k;
		if (!w->weak)
			return false;
		int r = rdep[gi];
		bool w_first = (r >= 0 && &cand[r] == w) ||
			       (r >= 0 && !cand[r].placed && vc_order(rv, w, &cand[r]) > 0);
		return xg ? w_first : !w_first;
	}
	return (x->weak || y->weak) && vc_order(rv, y, x) > 0;
}

static void vc_replay(struct core *c, struct vc_item **rv, uint32_t nr, struct vc_cand *cand,
		      uint32_t nc)
{
	/* each strong GET's read_dep, as the index of a candidate (-1: none, or in the log) */
	int *rdep = calloc(nc ? nc : 1, sizeof *rdep);
	for (uint32_t i = 0; i < nc && rdep; i++) {
		rdep[i] = -1;
		if (cand[i].weak || rv[cand[i].lo]->op != PROTO_OP_GET)
			continue;
		struct proto_cid d = vc_read_dep(rv, nr, &cand[i]);
		for (uint32_t k = 0; k < nc && d.client; k++)
			if (cand[k].weak && rv[cand[k].lo]->cid.client == d.client &&
			    rv[cand[k].lo]->cid.seq == d.seq)
				rdep[i] = (int)k;
	}
	uint32_t left = nc;
	for (int pass = 0; left > 0; pass++) {
		bool progress = false;
		for (uint32_t i = 0; i < nc; i++) {
			struct vc_cand *x = &cand[i];
			if (x->placed)
				continue;
			/* sorted by cid: the session's earlier candidate is the previous one */
			if (pass < (int)nc && i > 0 && !cand[i - 1].placed &&
			    rv[cand[i - 1].lo]->cid.client == rv[x->lo]->cid.client)
				continue;
			/* weak writes, and a weak write and a strong command, on one key keep the
			 * order most witnesses recorded them in; a strong GET keeps what it read */
			bool wait = false;
			for (uint32_t k = 0; rdep && pass < (int)nc && k < nc && !wait; k++)
				wait = k != i && !cand[k].placed && vc_same_key(rv, &cand[k], x) &&
				       vc_waits(rv, cand, rdep, i, k);
			if (wait)
				continue;
			struct entry *e = vc_place(c, c->next_slot, rv[x->lo]);
			c->next_slot++;
			c->log_end = c->next_slot;
			e->acks = 1u << c->cfg.self;
			e->kind = x->weak ? EK_HO_WEAK : EK_STRONG;
			register_led(c, e);
			c->st.vc_recovered++;
			x->placed = true;
			left--;
			progress = true;
		}
		if (!progress && pass < (int)nc)
			pass = (int)nc - 1; /* stuck (a cycle): the rest in cid order */
	}
	free(rdep);
}

/* New leader, holding the state of a majority: decides the log and installs it (7.2 step 3-4).
 * Slots from its own execution index on take the entry accepted in the highest view; the log
 * ends at the first slot nobody collected holds (acknowledgements are cumulative, so nothing
 * after a hole committed). Then every strong write with ok records at ceil(f/2)+1 of the
 * collected replicas, not in the log and not executed, is appended: a command completed on the
 * fast path had Q-1 ok records, so at least that many survive in any majority, and two
 * conflicting commands never both reach it. Returns false (and waits for more state) when the
 * collected entries cannot cover every committed slot. */
static bool vc_decide(struct core *c, uint64_t now_ns)
{
	uint64_t lo = c->exec_index;
	uint32_t ne = 0, nr = 0;
	for (uint32_t i = 0; i < c->vc_items.n; i++) {
		const struct vc_item *it = &c->vc_items.v[i];
		if (vc_useful(c, it, lo))
			*(it->record ? &nr : &ne) += 1;
	}
	struct vc_item **ev = calloc(ne ? ne : 1, sizeof *ev);
	struct vc_item **rv = calloc(nr ? nr : 1, sizeof *rv);
	struct vc_item **chosen = calloc(ne ? ne : 1, sizeof *chosen);
	bool done = false;
	if (ev == NULL || rv == NULL || chosen == NULL)
		goto out;
	ne = nr = 0;
	for (uint32_t i = 0; i < c->vc_items.n; i++) {
		struct vc_item *it = &c->vc_items.v[i];
		if (vc_useful(c, it, lo)) {
			if (it->record)
				rv[nr++] = it;
			else
				ev[ne++] = it;
		}
	}
	qsort(ev, ne, sizeof *ev, vc_entry_cmp);
	uint64_t end = lo;
	for (uint32_t i = 0; i < ne; i++) {
		if (ev[i]->slot < end)
			continue; /* the same slot accepted in a lower view */
		if (ev[i]->slot != end)
			break; /* a hole */
		chosen[end - lo] = ev[i];
		end++;
	}
	if (end < c->vc_commit || ring_fit(c, end + nr) != 0) {
		c->st.vc_stuck++; /* e.g. a replica that executed further collected its log */
		goto out;
	}
	for (uint64_t s = lo; s < c->log_end; s++) {
		struct entry *e = slot_entry(c, s);
		if (e != NULL)
			entry_clear(e);
	}
	for (uint64_t s = lo; s < end; s++)
		vc_place(c, s, chosen[s - lo]);
	c->st.vc_truncated += c->log_end > end ? c->log_end - end : 0;
	c->next_slot = c->log_end = end;
	c->inst_view = c->view;
	c->inst_acked = 1u << c->cfg.self;
	c->st.vc_last_us = (now_ns - c->vc_start_ns) / 1000;
	/* every entry held is now of this view; followers that executed a slot have it */
	for (uint64_t s = c->log_base; s < end; s++) {
		struct entry *e = slot_entry(c, s);
		if (e == NULL)
			continue;
		e->view = c->view;
		e->acks = 1u << c->cfg.self;
		for (int p = 0; p < c->cfg.n; p++)
			if ((c->vc_done & (1u << p)) && c->vc_exec[p] > s)
				e->acks |= 1u << p;
		e->reply_ok = e->sync_wanted = false;
		e->conn = 0;
		e->kind = EK_STRONG;
		e->sent_ns = 0;
		if (!e->executed)
			register_led(c, e);
	}
	qsort(rv, nr, sizeof *rv, vc_record_cmp);
	int threshold = (c->f + 1) / 2 + 1;
#ifdef CURPKV_MUTANT_NO_REPLAY
	threshold = c->cfg.n + 1; /* mutant: witness records are never replayed */
#endif
	/* candidates: every weak write recorded anywhere (HO), every strong command with ok
	 * records at the threshold; neither executed nor in the log already */
	struct vc_cand *cand = calloc(nr ? nr : 1, sizeof *cand);
	uint32_t nc = 0;
	if (cand == NULL)
		goto out;
	for (uint32_t i = 0; i < nr;) {
		uint32_t j = i;
		int holders = 0, last = -1;
		bool weak = false;
		for (; j < nr && rv[j]->cid.client == rv[i]->cid.client &&
		       rv[j]->cid.seq == rv[i]->cid.seq;
		     j++) {
			if (rv[j]->from != last)
				holders++;
			last = rv[j]->from;
			weak |= rv[j]->weak;
		}
		uint8_t ck[16];
		cid_key(&rv[i]->cid, ck);
		if ((weak || holders >= threshold) && !already_executed(c, &rv[i]->cid) &&
		    inflight_slot(c, ck) == NO_SLOT)
			cand[nc++] = (struct vc_cand){.lo = i, .hi = j, .weak = weak};
		i = j;
	}
	vc_replay(c, rv, nr, cand, nc);
	free(cand);
	/* the decided log ends after the replayed commands: a follower installs this view (and
	 * drops its older records) only once it holds all of them */
	c->inst_cut = c->next_slot;
	if (c->vc_commit > c->commit_index)
		c->commit_index = c->vc_commit;
	c->commit_known = c->commit_index;
	witness_install(c);
	c->active = true;
	c->commit_sent = 0;
	if (desc_in_use(c->desc) >= desc_capacity(c->desc))
		set_intake(c, false);
	vc_reset(c);
	for (int p = 0; p < c->cfg.n; p++)
		if (p != c->cfg.self)
			core_peer_up(c, p, now_ns); /* VC_INSTALL, then what p lacks */
	advance_commit(c, now_ns);
	done = true;
out:
	free(ev);
	free(rv);
	free(chosen);
	return done;
}

static void vc_try_decide(struct core *c, uint64_t now_ns)
{
	if (c->active || !is_leader(c) || popcount32(c->vc_done) < c->majority)
		return;
	vc_decide(c, now_ns);
}

/* New leader: asks every replica not collected yet for its state. */
static void vc_request(struct core *c, uint64_t now_ns)
{
	struct proto_msg r = {.type = PROTO_VC_REQ, .view = c->view, .slot = c->exec_index};
	for (int p = 0; p < c->cfg.n; p++)
		if (p != c->cfg.self && !(c->vc_done & (1u << p)))
			c->io.to_peer(c->io.ctx, p, &r);
	c->vc_req_ns = now_ns;
}

/* Leader stepping down: nothing of its view is in flight any more. */
static void step_down(struct core *c)
{
	for (uint64_t s = c->log_base; s < c->log_end; s++) {
		struct entry *e = slot_entry(c, s);
		if (e != NULL && e->led)
			unregister_led(c, e);
	}
	set_intake(c, true);
}

/* Enters `view` led by `leader` (7.2 step 1, the fence): from now on nothing of an older view
 * is recorded, accepted, acknowledged or answered here. */
static void view_enter(struct core *c, uint64_t view, int leader, uint64_t now_ns)
{
	if (view <= c->view || leader < 0 || leader >= c->cfg.n)
		return;
	if (is_leader(c))
		step_down(c);
	c->view = view;
	c->leader = leader;
	c->active = false;
	c->installing = false;
	c->vc_start_ns = now_ns;
	c->ack_pending = false;
	c->acc_next = c->exec_index;
	vc_reset(c);
	c->st.view_changes++;
	if (leader == c->cfg.self) {
		vc_send_state(c, -1, c->exec_index);
		vc_request(c, now_ns);
		vc_try_decide(c, now_ns);
	}
}

void core_view_change(struct core *c, uint64_t view, int leader, uint64_t now_ns)
{
	view_enter(c, view, leader, now_ns);
}

static void on_vc_req(struct core *c, int from, const struct proto_msg *m)
{
	if (m->view != c->view || from != c->leader || c->active || is_leader(c))
		return;
	if (c->hold)
		return; /* 7.3: its records were lost: it cannot be counted in the majority */
	vc_send_state(c, from, m->slot);
}

static void on_vc_item(struct core *c, int from, const struct proto_msg *m, uint64_t now_ns)
{
	if (m->view != c->view || !is_leader(c) || c->active || (c->vc_done & (1u << from)))
		return;
	struct vc_list *l = &c->vc_pending[from];
	if (m->type != PROTO_VC_DONE) {
		vc_list_add(l, from, m);
		return;
	}
	/* whole (no frame lost on the way) or nothing: a re-request gets it again */
	if (!l->nomem && l->n == m->slot_hi && vc_list_move(&c->vc_items, l) == 0) {
		c->vc_done |= 1u << from;
		c->vc_exec[from] = m->slot;
		if (m->commit > c->vc_commit)
			c->vc_commit = m->commit;
		if (m->eview > c->vc_iview) {
			c->vc_iview = m->eview;
			c->vc_icut = m->cut;
		}
		vc_try_decide(c, now_ns);
	} else {
		vc_list_clear(l);
	}
}

/* ---- catch-up and state transfer (PROTOCOL.md 7.3) -------------------------------------- */

struct snap_out {
	struct core *c;
	int to;
	uint32_t count;
};

static void snap_emit(struct snap_out *o, const struct proto_msg *m)
{
	o->c->io.to_peer(o->c->io.ctx, o->to, m);
	o->count++;
}

static int snap_kv_cb(const void *key, size_t klen, void *val, void *arg)
{
	struct snap_out *o = arg;
	const struct kv_val *v = val;
	struct proto_msg m = {.type = PROTO_SNAP_KV, .view = o->c->view, .slot = v->ver};
	m.cmd = (struct proto_cmd){.op = v->dead ? PROTO_OP_DEL : PROTO_OP_PUT,
				   .key = key,
				   .klen = (uint32_t)klen,
				   .val = v->dead ? NULL : v->data,
				   .vlen = v->dead ? 0 : v->len};
	snap_emit(o, &m);
	return 0;
}

static int snap_client_cb(const void *key, size_t klen, void *val, void *arg)
{
	struct snap_out *o = arg;
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
			      .view = o->c->view,
			      .cid = {.client = client},
			      .low_seq = cr->low_seq,
			      .slot = cr->xfloor,
			      .dep = cr->weak_exec_hi,
			      .value = bits,
			      .vlen = words * 8};
	snap_emit(o, &m);
	return 0;
}

static int snap_result_cb(const void *key, size_t klen, void *val, void *arg)
{
	struct snap_out *o = arg;
	const struct result *r = val;
	struct proto_cid cid;
	if (klen != 16)
		return 0;
	memcpy(&cid.client, key, 8);
	memcpy(&cid.seq, (const uint8_t *)key + 8, 8);
	struct proto_msg m = {.type = PROTO_SNAP_RESULT,
			      .view = o->c->view,
			      .cid = cid,
			      .slot = r->slot,
			      .ver = r->ver,
			      .status = r->status,
			      .value = r->v,
			      .vlen = r->vlen};
	snap_emit(o, &m);
	return 0;
}

/* Leader: replica `from` lacks what follows its execution index m->slot. It is told the view
 * (VC_INSTALL: a restarted replica never installed it), sent the executed state when the log
 * no longer reaches back to what it lacks, and sent the log from there. At most one answer per
 * re-send period and replica. */
static void leader_on_catchup(struct core *c, int from, const struct proto_msg *m, uint64_t now_ns)
{
	if (m->view != c->view) {
		c->st.stale_view++;
		return;
	}
	if (!c->active ||
	    (c->snap_sent_ns[from] != 0 && now_ns - c->snap_sent_ns[from] < c->cfg.resend_after_ns))
		return;
	c->snap_sent_ns[from] = now_ns;
	c->inst_acked &= ~(1u << from);
	send_install(c, from);
	uint64_t start = m->slot > c->log_base ? m->slot : c->log_base;
	if (m->slot < c->log_base || m->ok) {
		struct snap_out o = {.c = c, .to = from};
		cmap_foreach(c->kv, snap_kv_cb, &o);
		cmap_foreach(c->clients, snap_client_cb, &o); /* before the results (their seqs) */
		cmap_foreach(c->results, snap_result_cb, &o);
		struct proto_msg d = {.type = PROTO_SNAP_DONE,
				      .view = c->view,
				      .commit = c->commit_index,
				      .slot = c->exec_index,
				      .slot_hi = o.count,
				      .eview = c->inst_view,
				      .cut = c->inst_cut};
		c->io.to_peer(c->io.ctx, from, &d);
		c->st.snap_sent++;
		start = c->exec_index;
	}
	for (uint64_t s = start; s < c->log_end; s++) {
		struct entry *e = slot_entry(c, s);
		if (e == NULL)
			continue;
		e->acks &= ~(1u << from); /* whatever it acknowledged before, it may have lost */
		send_accept(c, e, from, now_ns);
	}
}

/* Follower: replaces the executed state by an empty one (a transfer begins). */
static bool snap_begin(struct core *c, uint64_t now_ns)
{
	c->snap_prev_exec = c->exec_index;
	c->snap_open_ns = now_ns;
	struct cmap *kv = NULL, *results = NULL, *clients = NULL;
	struct oset *order = NULL;
	if (cmap_create(c->cfg.shards, free_val, &kv) != 0 ||
	    oset_create((uint64_t)c->cfg.self + 1, &order) != 0 ||
	    cmap_create(c->cfg.shards, free_val, &results) != 0 ||
	    cmap_create(64, free_client_rec, &clients) != 0) {
		if (kv)
			cmap_destroy(kv);
		if (order)
			oset_destroy(order);
		if (results)
			cmap_destroy(results);
		return false;
	}
	cmap_destroy(c->kv);
	oset_destroy(c->order);
	cmap_destroy(c->results);
	cmap_destroy(c->clients);
	c->kv = kv;
	c->order = order;
	c->results = results;
	c->clients = clients;
	c->digest = 0;
	c->live_keys = 0;
	c->order_lost = false;
	c->snap_open = true;
	c->snap_items = 0;
	c->snap_nomem = false;
	return true;
}

static void snap_client(struct core *c, const struct proto_msg *m)
{
	struct client_rec *cr = calloc(1, sizeof *cr);
	uint32_t words = m->vlen / 8;
	uint64_t *bits = words ? calloc(words, sizeof *bits) : NULL;
	if (cr == NULL || (words && bits == NULL)) {
		free(cr);
		free(bits);
		c->snap_nomem = true; /* the transfer cannot be whole */
		return;
	}
	for (uint32_t w = 0; w < words; w++)
		for (int b = 0; b < 8; b++)
			bits[w] |= (uint64_t)m->value[w * 8 + b] << (8 * b);
	cr->low_seq = m->low_seq;
	cr->weak_exec_hi = m->dep;
	cr->xfloor = m->slot;
	cr->xwords = words;
	cr->xbits = bits;
	void *old = NULL;
	if (cmap_put_u64(c->clients, m->cid.client, cr, &old) != 0) {
		free_client_rec(cr);
		c->snap_nomem = true;
		return;
	}
	if (old)
		free_client_rec(old);
}

struct sweep {
	struct core *c;
	struct proto_cid *cid;
	uint32_t n, cap;
};

static void sweep_cb(const void *key, size_t klen, void *val, void *arg)
{
	struct sweep *w = arg;
	const struct wlist *l = val;
	(void)key;
	(void)klen;
	for (uint32_t i = 0; i < l->n; i++) {
		if (!already_executed(w->c, &l->r[i].cid))
			continue;
		if (w->n == w->cap) {
			uint32_t ncap = w->cap ? w->cap * 2 : 16;
			struct proto_cid *nc = realloc(w->cid, ncap * sizeof *nc);
			if (nc == NULL)
				return;
			w->cid = nc;
			w->cap = ncap;
		}
		w->cid[w->n++] = l->r[i].cid;
	}
}

/* Drops the witness records of commands the transferred state says were executed (they would
 * otherwise linger: their ACCEPTs, and the removal at execution, happened before the state). */
static void witness_sweep_executed(struct core *c)
{
	struct keybag b = {0};
	cmap_foreach(c->witness, keybag_cb, &b);
	for (uint32_t i = 0; i < b.n; i++) {
		struct sweep w = {.c = c};
		cmap_get(c->witness, b.k[i], b.len[i], sweep_cb, &w);
		for (uint32_t j = 0; j < w.n; j++) {
			struct cached_slot cs = {0};
			struct entry tmp = {.cid = w.cid[j], .key = b.k[i], .klen = b.len[i]};
			if (cached_slot(c, &w.cid[j], &cs))
				tmp.slot = cs.slot;
			witness_remove(c, &tmp, PROTO_ST_OK);
		}
		free(w.cid);
	}
	keybag_free(&b);
}

/* Follower: the transfer is whole: the state is the leader's at slot `at`; the log from there
 * on is what this replica holds (or will be sent). */
static void snap_install(struct core *c, const struct proto_msg *m)
{
	uint64_t at = m->slot;
	for (uint64_t s = c->log_base; s < at && s < c->log_base + c->cap; s++) {
		struct entry *e = slot_entry(c, s);
		if (e)
			entry_clear(e);
	}
	if (c->log_base < at)
		c->log_base = at;
	for (uint64_t s = at; s < c->log_end; s++) {
		struct entry *e = slot_entry(c, s);
		if (e)
			e->executed = false;
	}
	c->exec_index = at;
	c->commit_index = at;
	if (m->commit > c->commit_known)
		c->commit_known = m->commit;
	if (c->log_end < at)
		c->log_end = at;
	if (c->next_slot < at)
		c->next_slot = at;
	c->acc_next = at;
	c->stuck_since_ns = 0;
	c->st.snap_installed++;
	witness_sweep_executed(c);
	if (c->installing) {
		vc_check_install(c);
	} else if (c->active) {
		acc_advance(c);
		if (c->acc_next > at)
			follower_ack(c, at, c->acc_next - 1);
	}
	execute_ready(c);
}

/* Follower: the transfer that replaced the state failed: the state is unusable; ask for all of
 * it again at the next tick. */
static void snap_fail(struct core *c)
{
	c->state_bad = true;
	c->exec_index = 0;
	c->st.snap_failed++;
	c->catchup_sent_ns = 0;
}

static void follower_on_snap(struct core *c, const struct proto_msg *m, uint64_t now_ns)
{
	if (!c->snap_wanted)
		return; /* not asked for (a late answer to an earlier CATCHUP) */
	if (m->type != PROTO_SNAP_DONE) {
		if (!c->snap_open && !snap_begin(c, now_ns))
			return; /* counted missing: the transfer fails at SNAP_DONE */
		c->snap_items++;
		if (m->type == PROTO_SNAP_KV) {
			struct entry tmp = {.slot = m->slot,
					    .op = m->cmd.op,
					    .key = (uint8_t *)m->cmd.key,
					    .klen = m->cmd.klen,
					    .val = (uint8_t *)m->cmd.val,
					    .vlen = m->cmd.vlen};
			if (!c->cfg.noop)
				kv_apply(c, &tmp);
		} else if (m->type == PROTO_SNAP_CLIENT) {
			snap_client(c, m);
		} else {
			cache_result(c, &m->cid, m->slot, m->ver, m->status, m->value, m->vlen);
		}
		return;
	}
	if (!c->snap_open && !snap_begin(c, now_ns))
		return;
	c->snap_open = false;
	c->snap_wanted = false;
	if (c->snap_items != m->slot_hi || c->snap_nomem || m->slot < c->snap_prev_exec) {
		/* incomplete (a frame lost on the way, or memory), or older than what this
		 * replica had executed */
		snap_fail(c);
		return;
	}
	c->state_bad = false;
	snap_install(c, m);
}

/* Follower, every tick: asks the leader for what it lacks (restarted, stuck at a slot the leader
 * re-sends no more, or holding an unusable state), and ends the rejoin hold (7.3) once every
 * slot the leader had assigned a grace period after the restart is executed here. */
static void follower_tick(struct core *c, uint64_t now_ns)
{
	if (c->snap_open && now_ns - c->snap_open_ns >= 4 * c->cfg.resend_after_ns) {
		/* its SNAP_DONE never came (the connection broke): start over */
		c->snap_open = false;
		snap_fail(c);
	}
	bool want = c->state_bad || (c->cfg.rejoin && !c->caught_up_once) ||
		    (c->hold && !c->active && !c->installing);
	if (!want && c->commit_known > c->exec_index && !c->snap_open) {
		const struct entry *e = slot_entry(c, c->exec_index);
		if (e == NULL || e->view != c->view) {
			if (c->stuck_since_ns == 0 || c->stuck_at != c->exec_index) {
				c->stuck_at = c->exec_index;
				c->stuck_since_ns = now_ns;
			} else if (now_ns - c->stuck_since_ns >= 2 * c->cfg.resend_after_ns) {
				want = true;
			}
		}
	}
	if (want &&
	    (c->catchup_sent_ns == 0 || now_ns - c->catchup_sent_ns >= c->cfg.resend_after_ns)) {
		struct proto_msg q = {.type = PROTO_CATCHUP,
				      .view = c->view,
				      .slot = c->exec_index,
				      .ok = c->state_bad};
		c->io.to_peer(c->io.ctx, c->leader, &q);
		c->catchup_sent_ns = now_ns;
		c->caught_up_once = true;
		c->snap_wanted = true;
		c->st.catchups++;
	}
	if (!c->hold)
		return;
	if (c->hold_since_ns == 0)
		c->hold_since_ns = now_ns;
	if (!c->active || c->snap_open || c->state_bad ||
	    c->heard_ns < c->hold_since_ns + c->cfg.rejoin_grace_ns)
		return;
	if (!c->barrier_set) {
		c->hold_barrier = c->next_slot > c->commit_known ? c->next_slot : c->commit_known;
		c->barrier_set = true;
	}
	if (c->exec_index >= c->hold_barrier) {
		c->hold = false;
		c->st.rejoin_us = (now_ns - c->hold_since_ns) / 1000;
	}
}

/* ---- entry points --------------------------------------------------------------------- */

void core_on_client(struct core *c, uint64_t conn, const struct proto_msg *m, uint64_t now_ns)
{
	switch (m->type) {
	case PROTO_PROPOSE:
		c->st.proposals++;
		if (m->cmd.klen > c->cfg.max_key || m->cmd.vlen > c->cfg.max_value ||
		    (m->cmd.op == PROTO_OP_APPEND && c->cfg.protocol != CONF_PROTO_CURP)) {
			/* (an APPEND is a curp operation: the hybrids' weak paths derive values
			 * from recorded writes, docs/protocols.md "APPEND") */
			struct proto_msg r = {.type = PROTO_SYNC_REPLY,
					      .view = c->view,
					      .cid = m->cid,
					      .status = PROTO_ST_INVALID};
			c->io.to_client(c->io.ctx, conn, &r);
			return;
		}
		if (client_watermark(c, m->cid.client, m->low_seq, m->cid.seq) &&
		    !send_cached_result(c, conn, &m->cid)) {
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
			witness_on_propose(c, conn, m);
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
		if (client_watermark(c, m->cid.client, m->low_seq, m->cid.seq)) {
			/* below the session's watermark: executed and collected already */
			struct cached_slot cs;
			if (m->type == PROTO_WEAK_WRITE || m->bound == c->cfg.self)
				weak_write_answer(c, conn, &m->cid,
						  m->type == PROTO_CAUSAL_PROPOSE
						      ? PROTO_CAUSAL_REPLY
						      : PROTO_WEAK_REPLY,
						  cached_slot(c, &m->cid, &cs) ? cs.slot : 0, true,
						  PROTO_ST_TOO_OLD);
			return;
		}
		on_weak_write(c, conn, m, now_ns);
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
		on_weak_read(c, conn, m, now_ns);
		break;
	case PROTO_PING: {
		struct proto_msg r = {.type = PROTO_PONG, .view = c->view, .slot = m->slot};
		c->io.to_client(c->io.ctx, conn, &r);
		break;
	}
	case PROTO_SYNC:
		client_watermark(c, m->cid.client, m->low_seq, 0);
		if (is_leader(c)) {
			leader_on_sync(c, conn, m);
		} else if (!send_cached_result(c, conn, &m->cid)) {
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

void core_on_peer(struct core *c, int from, const struct proto_msg *m, uint64_t now_ns)
{
	if (from < 0 || from >= c->cfg.n || from == c->cfg.self)
		return;
	/* Only the leader of a view sends these in it: a replica that missed the view change
	 * (down or cut off meanwhile) learns the view from them. */
	if (m->view > c->view && (m->type == PROTO_ACCEPT || m->type == PROTO_COMMIT ||
				  m->type == PROTO_VC_REQ || m->type == PROTO_VC_INSTALL))
		view_enter(c, m->view, from, now_ns);
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
			execute_ready(c);
		}
		break;
	case PROTO_VC_REQ:
		on_vc_req(c, from, m);
		break;
	case PROTO_CATCHUP:
		if (is_leader(c))
			leader_on_catchup(c, from, m, now_ns);
		break;
	case PROTO_SNAP_KV:
	case PROTO_SNAP_CLIENT:
	case PROTO_SNAP_RESULT:
	case PROTO_SNAP_DONE:
		if (!is_leader(c) && from == c->leader && m->view == c->view)
			follower_on_snap(c, m, now_ns);
		break;
	case PROTO_VC_INSTALL:
		on_vc_install(c, from, m);
		break;
	case PROTO_VC_ENTRY:
	case PROTO_VC_RECORD:
	case PROTO_VC_DONE:
		on_vc_item(c, from, m, now_ns);
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
	if (!is_leader(c) || !c->active || peer < 0 || peer >= c->cfg.n || peer == c->cfg.self)
		return;
	if (!(c->inst_acked & (1u << peer)))
		send_install(c, peer); /* it may not have installed this view yet */
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
			struct proto_msg a = {.type = PROTO_ACK,
					      .view = c->view,
					      .slot = c->ack_lo,
					      .slot_hi = c->ack_hi};
			c->io.to_peer(c->io.ctx, c->leader, &a);
			c->ack_pending = false;
		}
		return;
	}
	if (!c->active)
		return;
	if (c->commit_index > c->commit_sent) {
		struct proto_msg m = {
		    .type = PROTO_COMMIT, .view = c->view, .commit = c->commit_index};
		for (int p = 0; p < c->cfg.n; p++)
			if (p != c->cfg.self)
				c->io.to_peer(c->io.ctx, p, &m);
		c->commit_sent = c->commit_index;
		c->commit_sent_ns = now_ns;
	}
}

void core_tick(struct core *c, uint64_t now_ns)
{
	if (c->park_n > 0)
		parked_drain(c, true, now_ns);
#ifdef CURPKV_MUTANT_EXEC_ON_TIMEOUT
	/* mutant (the prototype's P5): a follower stuck at a missing slot "proceeds anyway" */
	if (!is_leader(c) && c->exec_index < c->commit_known &&
	    slot_entry(c, c->exec_index) == NULL) {
		c->exec_index++;
		execute_ready(c);
	}
#endif
	if (!is_leader(c)) {
		follower_tick(c, now_ns);
		return;
	}
	if (c->hold && c->active) {
		c->hold = false; /* leading: its witness answers are not used */
		c->st.rejoin_us = 0;
	}
	if (!c->active) {
		/* collecting: ask again whoever has not answered whole */
		if (now_ns - c->vc_req_ns >= c->cfg.resend_after_ns)
			vc_request(c, now_ns);
		return;
	}
	if (now_ns - c->install_sent_ns >= c->cfg.resend_after_ns) {
		for (int p = 0; p < c->cfg.n; p++)
			if (p != c->cfg.self && !(c->inst_acked & (1u << p)))
				send_install(c, p); /* a VC_INSTALL may have been lost */
		c->install_sent_ns = now_ns;
	}
	/* Re-send ACCEPTs a follower has not acknowledged for a while (a reconnect lost them),
	 * committed ones included: a follower that missed a slot the others committed would
	 * otherwise stop executing at that hole for good. */
	/* Repeat the commit index now and then: a follower that lost the last COMMIT would not
	 * execute the last commands until the next one (and keeps their witness records). */
	if (c->commit_index > 0 && now_ns - c->commit_sent_ns >= c->cfg.resend_after_ns) {
		c->commit_sent = 0;
		core_flush(c, now_ns);
	}
	for (uint64_t s = c->log_base; s < c->log_end; s++) {
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
	st->view_active = c->active;
	st->rejoining = c->hold || c->snap_open || c->state_bad;
	st->next_slot = c->next_slot;
	st->commit_index = c->commit_index;
	st->exec_index = c->exec_index;
	st->desc_in_use = desc_in_use(c->desc);
	st->witness_records = c->witness_n;
	st->log_entries = c->log_end > c->log_base ? c->log_end - c->log_base : 0;
	st->result_cache = cmap_size(c->results);
	st->keys = c->live_keys;
	st->digest = c->digest;
}
