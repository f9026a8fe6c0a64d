/* replica/core internals: the state shared by core*.c (private to replica/core*.c; never include
 * from elsewhere). Each function declared here is documented at its definition. */
#ifndef CURPKV_CORE_INT_H
#define CURPKV_CORE_INT_H

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cmap/cmap.h"
#include "desc/desc.h"
#include "oset/oset.h"
#include "replica/core.h"

#define NO_SLOT		    UINT64_MAX
#define LOG_MIN_CAP	    1024u
#define MAX_CLIENTS_TRACKED 65536u

/* The records of a replica's write-ahead log (core_persist.c; values are part of the log's
 * format: never renumber). */
enum core_rec_type {
	CREC_ENTRY = 1,
	CREC_DROP = 2,
	CREC_EXEC = 3,
	CREC_RECORD = 4,
	CREC_WREMOVE = 5,
	CREC_WINSTALL = 6,
	CREC_META = 7,
	CREC_SNAP_BEGIN = 8, /* a state transfer began arriving (the state it replaces set aside) */
	CREC_SNAP_ITEM = 9,  /* one of its items (the SNAP_* message) */
	CREC_SNAP_ABORT = 10, /* it failed: the state set aside is back */
	CREC_SNAP_DONE = 11,  /* it is whole (its SNAP_DONE message): installed */
};

/* What a log entry came from (the leader's answers differ; followers do not need to know). */
enum entry_kind { EK_STRONG = 0, EK_HO_WEAK, EK_HT_WEAK };

/* The key and value bytes of a log entry (or of a collected VC item): inline when the two fit
 * in KV_INLINE bytes together (the short keys of GETs, small writes), else one heap block of
 * klen + vlen bytes, the key then the value (one allocation where there were two). Which of the
 * two it is follows from klen + vlen alone, so the holder carries no flag and no pointer into
 * itself: it stays valid when copied or moved by plain assignment (core_ring_fit moves entries
 * into a grown ring; vc_place moves an item's bytes into an entry). Exactly one copy owns a heap
 * block: the one that is later freed (kvs_free); the others are forgotten, not freed. Read the
 * bytes through kvs_key / kvs_val (entry_key / entry_val for an entry), never through the union.
 * Memory: it takes KV_INLINE bytes where two pointers took 16, so a ring slot (struct entry) is
 * 112 bytes instead of 104 on 64-bit: 256 KiB more for the default ring of 32768 slots (max_desc
 * 10000), 8 bytes more per slot however far core_ring_fit doubles the ring. A pointer from
 * entry_key / entry_val is valid until the entry is cleared, set or moved (the ring grown), as
 * a pointer to the entry itself is. */
#define KV_INLINE 32u
union kvs {
	uint8_t in[KV_INLINE];
	uint8_t *heap;
};

static inline bool kvs_inline(uint32_t klen, uint32_t vlen)
{
	return (uint64_t)klen + vlen <= KV_INLINE;
}

/* The key bytes (never NULL, even for klen 0): valid until the holder is freed or moved (inline
 * bytes move with it). */
static inline const uint8_t *kvs_key(const union kvs *s, uint32_t klen, uint32_t vlen)
{
	return kvs_inline(klen, vlen) ? s->in : s->heap;
}

/* The value bytes, NULL when vlen is 0 (as a command without a value has it). */
static inline const uint8_t *kvs_val(const union kvs *s, uint32_t klen, uint32_t vlen)
{
	return vlen ? kvs_key(s, klen, vlen) + klen : NULL;
}

/* Makes s hold a copy of key and val (s held nothing that needs freeing). Returns 0, or -ENOMEM
 * with s holding nothing. */
static inline int kvs_set(union kvs *s, const uint8_t *key, uint32_t klen, const uint8_t *val,
			  uint32_t vlen)
{
	uint8_t *p = s->in;
	if (!kvs_inline(klen, vlen)) {
		p = malloc((size_t)klen + vlen);
		if (p == NULL)
			return -ENOMEM;
		s->heap = p;
	}
	if (klen) /* (an EXPIRE has no key: memcpy from NULL is undefined even for 0) */
		memcpy(p, key, klen);
	if (vlen)
		memcpy(p + klen, val, vlen);
	return 0;
}

/* Frees what s owns (klen, vlen: what it was set with). */
static inline void kvs_free(union kvs *s, uint32_t klen, uint32_t vlen)
{
	if (!kvs_inline(klen, vlen))
		free(s->heap);
}

/* Forgets the heap block of s without freeing it (its bytes were moved to another holder, which
 * owns them now): s no longer owns anything, and kvs_free of it does nothing. */
static inline void kvs_forget(union kvs *s, uint32_t klen, uint32_t vlen)
{
	if (!kvs_inline(klen, vlen))
		s->heap = NULL;
}

/* One log slot. Its key and value bytes are its own (kv, above): core_entry_clear frees them. */
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
	union kvs kv; /* the key and value: entry_key, entry_val */
	uint32_t klen;
	uint32_t vlen;
	uint32_t scan_count; /* SCAN: keys asked for */
	uint32_t acks;	     /* leader: bitmask of replicas that accepted (self included) */
	uint64_t conn;	     /* leader: client connection to answer */
	desc_id desc;	     /* leader: descriptor held while in flight */
	uint64_t sent_ns;    /* leader: last time ACCEPT went out */
};
_Static_assert(sizeof(struct entry) <= 112, "a ring slot grew: update the note at union kvs");

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
	uint64_t view;	   /* the view it was recorded in */
	uint64_t arr;	   /* arrival stamp: this replica's records in the order they were made */
	uint64_t dep;	   /* what the leader orders before it (PROPOSE's dep) */
	uint64_t weak_dep; /* the session's previous weak write (HO) */
	/* HO strong GET: the latest weak write on the key before it, as answered (read_dep) */
	struct proto_cid read_dep;
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
struct pending_writes {
	uint32_t n, cap;
	struct pending_write {
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
/* One key's witness records, in arrival order: r[head..n) (core_wlist.c). Changed only through
 * core_wlist_* (or, for a bulk edit of r[head..n), followed by core_wlist_rebuild): the counts
 * and idx describe those records. */
struct wlist {
	uint32_t head, n, cap;
	uint32_t n_weak, n_write, n_weak_write; /* records that are weak, writes, both */
	struct wlist_idx *idx;			/* their cids, once the list is long (or NULL) */
	struct wrec r[];
};

/* A cached post-execution result, with the fingerprint of the command it is the result of
 * (proto_cmd_fp; 0 = unknown): a command under the same cid with another fingerprint is not a
 * re-send but a reused client id, refused (PROTO_ST_CID_REUSED). */
struct result {
	uint64_t fp;
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
	/* leader: when a message of this client last came (local: never sent in a transfer; the
	 * lease counts from the later of it and the leader's install, core_lease.c) */
	uint64_t heard_ns;
};

#define XBITS_MAX_WORDS 1024u /* 65,536 seqs of one session in flight at most */

/* A key's executed value (a deleted key leaves nothing: core.del_ver stands for it). */
struct kv_val {
	uint64_t ver; /* slot of the write that stored it */
	uint32_t len;
	uint8_t data[];
};

/* View change: one item of a replica's state as the new leader collected it (PROTOCOL.md 7.2).
 * Key and value bytes are owned by the item until placed in the log. */
struct vc_item {
	bool record;  /* a witness record (else an accepted log entry, or a decision) */
	bool decided; /* a decision (VC_DECIDED): eview = its view, slot = its hole */
	bool ok, weak;
	int from;
	uint8_t op;
	uint64_t slot, eview;	   /* entry: its slot and the view it was accepted in; record: its
				    * arrival stamp at `from` (comparable only with `from`'s) */
	uint64_t dep;		   /* record: what the leader orders before it (PROPOSE's dep) */
	uint64_t weak_dep;	   /* record (HO): the session's previous weak write */
	struct proto_cid read_dep; /* record (HO strong GET): the read_dep it was answered with */
	int32_t bound;
	struct proto_cid cid;
	union kvs kv; /* the key and value (kvs_key, kvs_val): moved into the entry by vc_place */
	uint32_t klen;
	uint32_t vlen;
	uint32_t scan_count;
	uint64_t low_seq; /* record: the sender's watermark of the client (core_client_low_seq) */
};

/* A view's decision as far as older views' entries go: its leader's collected entries ended at
 * `hole` (its replayed commands began there), so no entry of an older view at or after `hole`
 * was committed, nor ever will be. */
struct vc_decision {
	uint64_t view, hole;
};
/* Decisions kept per replica (a staircase: see core_vc.c). More accumulate only while a replica
 * learns of view after view without installing one; beyond it the oldest is forgotten. */
#define CORE_DECISIONS_MAX 64

struct vc_list {
	struct vc_item *v;
	uint32_t n, cap;
	bool nomem;	/* an item could not be kept: this list is incomplete */
	uint64_t round; /* the request the items answer (vc_pending) */
	uint64_t next;	/* the index the next item must carry (vc_pending) */
};

/* A state transfer this replica is sending (core_xfer.c). */
struct xfer {
	bool on;
	bool then_log;	    /* leader: its log from the state's slot follows (a CATCHUP) */
	bool keys_done;	    /* the pass over the keys is over */
	uint64_t round;	    /* the request it answers */
	uint64_t count;	    /* items sent: the next one's index */
	uint64_t delta_pos; /* keys changed from this xdelta position on are sent again */
	uint64_t bytes;	    /* chunk bytes sent */
	uint64_t started_ns;
	uint8_t *cursor; /* the last key the pass sent (key order) */
	uint32_t cursor_len;
};

/* The log being sent to a follower catching up, as its connection drains (core_xfer.c). */
struct xlog {
	bool on;
	uint64_t next; /* the slot to send next */
};

/* The keys changed while transfers are sent (core_xfer.c), oldest first. */
struct xdelta {
	uint64_t base; /* the position of v[0] */
	uint32_t n, cap;
	uint64_t bytes;
	struct xdelta_key {
		uint8_t *key;
		uint32_t klen;
	} *v;
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
	/* leader: the commit index each follower was last sent (in a COMMIT, or in an ACCEPT's
	 * commit field), and the followers an ACCEPT went to since the last flush point: a flush
	 * sends a COMMIT to those (it shares their send) or, once every slot assigned is
	 * committed, to every follower behind (core.c, flush) */
	uint64_t commit_sent[PROTO_MAX_REPLICAS];
	uint32_t accept_peers;
	uint64_t commit_sent_ns; /* leader: when a COMMIT last went out to every follower */
	uint64_t log_soft_cap;

	/* follower: accepted-slot range not yet acknowledged */
	uint64_t ack_lo, ack_hi;
	bool ack_pending;

	struct cmap *kv; /* key -> struct kv_val */
	uint64_t digest;
	uint64_t live_keys; /* keys in kv */
	uint64_t del_ver;   /* 1 + the slot of the latest DEL executed (0: none): the version of
			     * every absent key (core_kv_lookup) */
	struct oset *order; /* the live keys of kv in key order (SCAN) */
	uint8_t *scan_buf;  /* the last SCAN result (valid until the next SCAN) */
	size_t scan_cap;
	uint8_t incr_out[PROTO_INT_MAX_LEN];  /* the last INCR (APPEND) executed: its new value
					       * (length) */
	uint32_t incr_len;		      /* (valid until the next INCR) */
	uint8_t incr_spec[PROTO_INT_MAX_LEN]; /* leader: a fast-path INCR's (APPEND's) REPLY value */
	/* the last GETDEL or SETX executed (core_kv_apply): whether its key existed and its old
	 * value, which points into old_kept (taken out of kv: freed by core_kv_old_free once the
	 * command is answered) or into kv (a SETX that changed nothing: valid until the key's
	 * next write) */
	bool old_found;
	const uint8_t *old_val;
	uint32_t old_vlen;
	struct kv_val *old_kept;
	struct cmap *keys;     /* leader: key -> struct keyidx */
	struct cmap *inflight; /* leader: cid -> slot + 1 (pointer-encoded) */
	struct cmap *witness;  /* key -> struct wlist */
	uint64_t witness_n;
	uint64_t arr_next;	     /* the next witness record's arrival stamp */
	struct cmap *pending_writes; /* HO: client id -> struct pending_writes */
	struct parked *parked;	     /* weak reads waiting, FIFO ring of cfg.max_parked */
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
	/* the latest view whose leader's decision reached here (VC_INSTALL, installed or not) and
	 * its hole: where the entries that leader collected ended (its replays began). Nothing
	 * of an older view at or after the hole was committed (acknowledgements are cumulative,
	 * and that leader's majority held none), and that leader put other commands there */
	uint64_t dec_view, dec_hole;
	/* every decision known here of a view after the last one installed here (and of that
	 * one), as a staircase (core_vc.c, "decisions"): a new leader needs them all, not just
	 * the latest, to tell which collected entries an older view's leader discarded */
	struct vc_decision decs[CORE_DECISIONS_MAX];
	uint32_t n_decs;
	uint64_t inst_hole;	  /* leader: the hole of the view it decided (sent in VC_INSTALL) */
	uint32_t inst_acked;	  /* leader: replicas that acknowledged something in this view */
	uint64_t install_sent_ns; /* leader: when VC_INSTALLs last went out */
	uint64_t resend_scan_ns;  /* leader: when core_tick last looked for ACCEPTs to re-send */
	/* leader: every entry of the log below this slot is acknowledged by every replica (the
	 * re-send scan starts there, not at log_base: a 65,536-entry log cost 0.6 ms per scan);
	 * lowered by core_unacked */
	uint64_t acked_floor;
	/* the last core_xfer_pump stopped at its budget, not at a full connection */
	bool xfer_more;
	/* new leader, collecting: the state of every replica whose VC_DONE arrived whole */
	uint32_t vc_done;	     /* bitmask of replicas collected (self included) */
	uint64_t vc_commit;	     /* highest commit index among them */
	uint64_t vc_iview, vc_icut;  /* the latest view installed among them, and its cut */
	uint64_t vc_dview, vc_dhole; /* the latest view decided among them, and its hole */
	uint64_t vc_exec[PROTO_MAX_REPLICAS];
	struct vc_list vc_pending[PROTO_MAX_REPLICAS]; /* the answer each replica is sending */
	uint64_t vc_round;			       /* the last VC_REQ's number */
	uint64_t vc_req_round[PROTO_MAX_REPLICAS];     /* the last request to each replica */
	uint64_t vc_heard_ns[PROTO_MAX_REPLICAS];      /* its last item of that answer (0: none) */
	struct vc_list vc_items;		       /* items of the collected replicas */
	uint64_t vc_req_ns;			       /* when VC_REQ last went out */
	uint64_t vc_start_ns;			       /* when this view was entered */
	int vc_pull_from; /* new leader: the replica whose executed state it asked for (-1) */
	int vc_pull_last; /* new leader: the replica asked last (-1), and how many times in a */
	uint32_t vc_pull_tries; /* row since the collection began */

	/* catch-up and rejoin (PROTOCOL.md 7.3) */
	bool hold;		/* restarted: strong witness answers ok=false, no VC answers */
	bool barrier_set;	/* hold: the barrier below was fixed */
	uint64_t hold_since_ns; /* hold: first tick (0: not yet) */
	uint64_t hold_barrier;	/* hold: released once exec_index reaches it */
	bool snap_open;		/* follower: a state transfer is arriving (state incomplete) */
	bool snap_retry;	/* follower: the last transfer failed: ask again at once */
	/* the executed state a transfer replaces, kept until it is whole (then freed) or fails
	 * (then put back): a failed transfer leaves the replica as it was */
	struct {
		struct cmap *kv, *results, *clients;
		struct oset *order;
		uint64_t digest, live_keys, del_ver, exp_floor;
	} snap_old;
	uint64_t snap_items;	 /* follower: SNAP_* frames of the open transfer */
	uint64_t snap_prev_exec; /* follower: its exec index when the transfer began */
	bool snap_nomem;	 /* follower: an item of the open transfer could not be kept */
	bool snap_broken;	 /* follower: an item of the open transfer is missing (lost) */
	uint64_t snap_round;	 /* follower: the last CATCHUP's number (its transfer carries it) */
	uint64_t snap_next;	 /* follower: the index the next item of the transfer must carry */
	bool snap_wanted;	 /* follower: CATCHUP went out, no transfer ended since */
	uint64_t snap_heard_ns;	 /* follower: the open transfer's last item */
	uint64_t snap_begin_ns;	 /* follower: when the open transfer's first item came */
	uint32_t snap_silent_ticks; /* follower: core_ticks since the open transfer's last item */
	uint64_t heard_ns;	    /* follower: last ACCEPT/COMMIT from the leader of its view */
	bool caught_up_once;	    /* follower (rejoin): the first CATCHUP went out */
	uint64_t catchup_sent_ns;   /* follower: when CATCHUP last went out */
	uint64_t stuck_since_ns;    /* follower: since when execution waits for a missing slot */
	uint64_t stuck_at;	    /* follower: the exec index it waits at */
	uint64_t snap_sent_ns[PROTO_MAX_REPLICAS]; /* leader: last transfer to each replica */

	/* state transfers being sent (core_xfer.c) */
	struct xfer xfer[PROTO_MAX_REPLICAS];
	uint32_t xfer_on;
	struct xlog xlog[PROTO_MAX_REPLICAS];
	uint32_t xlog_on;
	struct xdelta xdelta;
	uint8_t *xbuf; /* the chunk being filled */
	size_t xbuf_used, xbuf_cap;

	/* client leases (core_lease.c, docs/recovery.md "Client leases") */
	uint64_t exp_floor; /* replicated (EXPIRE entries raise it; a transfer carries it): a client
			     * id at or below it that executed nothing here is expired for good */
	uint64_t exp_decided; /* leader: the highest id its log's unexecuted EXPIREs name (and at
			       * least exp_floor): what the floor will be once they execute */
	struct cmap *exp_pending; /* leader: client -> 1 + the slot of an unexecuted EXPIRE naming
				   * it: its commands are not ordered meanwhile (BUSY) */
	uint64_t lease_since_ns;  /* leader: its clock for every client starts here (installed) */
	uint64_t lease_scan_ns;	  /* leader: when it last looked for silent clients */
	uint64_t lease_tick_ns;	  /* leader: its last tick (a long gap restarts its clock) */

	/* durability (core_persist.c): the record being encoded, what was logged last of the
	 * bookkeeping and the execution index; while restoring, the leader and the sends set
	 * aside */
	void *pbuf, *persisted_meta;
	/* core_snapshot: where its records go meanwhile (NULL otherwise) */
	void (*snap_emit)(void *ctx, uint8_t type, const uint8_t *p, uint32_t len);
	void *snap_ctx;
	struct proto_buf *pmsg; /* a message being logged (SNAP_*) */
	uint64_t persisted_exec;
	bool restoring;
	int rleader;
	void (*saved_to_peer)(void *ctx, int to, const struct proto_msg *m);
	void (*saved_to_client)(void *ctx, uint64_t conn, const struct proto_msg *m);

	struct core_stats st;
};

/* Leader: a slot entering the per-key pending index (core_keyidx_add_cb). */
struct keyidx_arg {
	uint64_t slot;
	bool write;
	bool weak;
	struct proto_cid cid;
	/* out: the index before this slot */
	uint64_t prev_any, prev_write, prev_strong_any, prev_strong_write, prev_weak_write;
	struct proto_cid prev_weak_cid;
	bool nomem; /* out: no memory for the key's index */
};

/* What the result cache says of an executed cid (core_cached_slot). */
struct cached_slot {
	uint64_t slot;
	uint64_t fp; /* fingerprint of the command executed under the cid (0 = unknown) */
	uint8_t status;
	bool found;
};

/* A witness record to add, or a record to take out (core_witness_add_cb, core_witness_remove). */
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
	bool full;		/* in: table at capacity */
	bool nomem;		/* out: no record was kept for want of memory */
	bool force_ok;		/* in: the leader's own record of a REPLY ok=true */
	uint64_t dep, weak_dep; /* in: the message's (kept for recovery) */
	bool leader_rd;		/* in: record leader_read_dep (the leader's REPLY said it) */
	struct proto_cid leader_read_dep;
	bool ok;     /* out */
	bool added;  /* out: a new record was appended */
	bool reused; /* out: a record of the cid holds another command (op or value): refused */
	struct proto_cid read_dep; /* out: latest weak write record before this one */
	struct wrec removed; /* out (remove): the record taken out (val now owned by caller) */
	bool was_removed;
};

/* HO: a weak write added to (add) or taken out of the session's struct pending_writes at this
 * witness (core_pending_writes_cb). */
struct pending_writes_arg {
	uint64_t seq;
	uint64_t dep; /* add: the write's dep */
	bool add;
	bool failed; /* add: no memory for the entry */
};

/* Keys copied out of a cmap (core_keybag_cb); the bag owns them until core_keybag_free. */
struct keybag {
	uint8_t **k;
	uint32_t *len;
	uint32_t n, cap;
	bool nomem;
};

/* ---- small helpers --------------------------------------------------------------------- */

/* The 16 bytes that key a cid in the cid-keyed maps (c->inflight's inflight_key...). */
static inline void cid_key(const struct proto_cid *cid, uint8_t out[16])
{
	memcpy(out, &cid->client, 8);
	memcpy(out + 8, &cid->seq, 8);
}

/* An entry's key bytes (never NULL in a used entry) and value bytes (NULL when it has none):
 * valid until the entry is cleared, set again or moved (core_ring_fit), as `e` itself is. */
static inline const uint8_t *entry_key(const struct entry *e)
{
	return kvs_key(&e->kv, e->klen, e->vlen);
}

static inline const uint8_t *entry_val(const struct entry *e)
{
	return kvs_val(&e->kv, e->klen, e->vlen);
}

/* An entry's command, its bytes pointing into the entry (valid as entry_key's are). */
static inline struct proto_cmd entry_cmd(const struct entry *e)
{
	return (struct proto_cmd){.op = e->op,
				  .key = entry_key(e),
				  .klen = e->klen,
				  .val = entry_val(e),
				  .vlen = e->vlen,
				  .scan_count = e->scan_count};
}

/* The fingerprint of an entry's command (proto_cmd_fp). */
static inline uint64_t entry_fp(const struct entry *e)
{
	struct proto_cmd cmd = entry_cmd(e);
	return proto_cmd_fp(&cmd);
}

/* True when fingerprints a and b, both known (non-zero), differ: two different commands under
 * one cid. */
static inline bool fp_differ(uint64_t a, uint64_t b)
{
	return a != 0 && b != 0 && a != b;
}

static inline bool is_write_op(uint8_t op)
{
	return op == PROTO_OP_PUT || op == PROTO_OP_DEL || proto_op_rmw(op);
}

static inline bool is_leader(const struct core *c)
{
	return c->leader == c->cfg.self;
}

static inline int popcount32(uint32_t x)
{
	return __builtin_popcount(x);
}

static inline struct entry *slot_entry(struct core *c, uint64_t slot)
{
	if (slot < c->log_base || slot >= c->log_base + c->cap)
		return NULL;
	struct entry *e = &c->ring[slot & (c->cap - 1)];
	return (e->used && e->slot == slot) ? e : NULL;
}

/* ---- test-only mutants ------------------------------------------------------------------------
 * The simulation's mutant builds (tests/local.mk; docs/testing.md, "Mutants") compile the core
 * with one known bug put back (-DCURPKV_MUTANT_<NAME>). Each is a constant here, false in every
 * other build: its branch reads as plain C in the function's flow, is compiled (so checked) in
 * every build, and the compiler drops it: nothing on the hot path. */
#ifdef CURPKV_MUTANT_DOUBLE_EXEC
#define MUTANT_DOUBLE_EXEC true /* a retried cid executed twice */
#else
#define MUTANT_DOUBLE_EXEC false
#endif
#ifdef CURPKV_MUTANT_EXEC_ON_TIMEOUT
#define MUTANT_EXEC_ON_TIMEOUT true /* a follower stuck at a hole proceeds anyway */
#else
#define MUTANT_EXEC_ON_TIMEOUT false
#endif
#ifdef CURPKV_MUTANT_NO_CONFLICT_CHECK
#define MUTANT_NO_CONFLICT_CHECK true /* a witness never sees a conflict */
#else
#define MUTANT_NO_CONFLICT_CHECK false
#endif
#ifdef CURPKV_MUTANT_NO_FENCING
#define MUTANT_NO_FENCING true /* a witness still serves an older view's leader */
#else
#define MUTANT_NO_FENCING false
#endif
#ifdef CURPKV_MUTANT_NO_REPLAY
#define MUTANT_NO_REPLAY true /* a view change replays no witness record */
#else
#define MUTANT_NO_REPLAY false
#endif
#ifdef CURPKV_MUTANT_NO_EXPIRY_REFUSAL
#define MUTANT_NO_EXPIRY_REFUSAL true /* an expired client id executes again (its records gone) */
#else
#define MUTANT_NO_EXPIRY_REFUSAL false
#endif

/* ---- out of memory and invariants (docs/design.md, "Out of memory" and "Assertions") ------ */

/* Stops the process: an allocation failed where the core has no refusal left (its state has
 * begun to change, or what is missing is a record the protocol's guarantees rest on). Prints
 * "curpkv: replica <self>: out of memory (<what>): stopping" on stderr and calls abort(). The
 * other replicas see a crash, which the protocol tolerates and recovers from (PROTOCOL.md 7.3);
 * a replica that went on without the record would not be tolerated. */
_Noreturn void core_oom(const struct core *c, const char *what) __attribute__((cold));

/* cmap_update with a callback that only changes or removes an entry that exists (it keeps
 * nothing for an absent key). Its -ENOMEM can only mean that the key is absent (cmap.h: the
 * room for a new entry is made before the callback runs), where the callback would have done
 * nothing: it is not a failure. */
static inline void core_update_present(struct cmap *m, const void *key, size_t klen,
				       cmap_update_fn fn, void *arg)
{
	(void)cmap_update(m, key, klen, fn, arg);
}

static inline void core_update_present_u64(struct cmap *m, uint64_t key, cmap_update_fn fn,
					   void *arg)
{
	(void)cmap_update_u64(m, key, fn, arg);
}

/* The invariants each entry point (core_on_client, core_on_peer, core_tick, core_flush,
 * core_view_change, core_peer_up) leaves behind, asserted on its way out. assert() is compiled
 * in unless NDEBUG is defined, which no build of the project does (docs/design.md). */
static inline void core_check(const struct core *c)
{
	/* the log window: entries below log_base were executed, and it fits the ring */
	assert(c->log_base <= c->exec_index);
	assert(c->exec_index <= c->commit_index);
	assert(c->log_base <= c->log_end && c->log_end - c->log_base <= c->cap);
	assert(c->cap >= 16 && (c->cap & (c->cap - 1)) == 0);
	/* an active leader's log ends where it assigns the next slot, and commits no further */
	assert(!is_leader(c) || !c->active ||
	       (c->next_slot == c->log_end && c->commit_index <= c->next_slot));
	assert(!c->installing || !c->active);
	assert(!c->ack_pending || c->ack_lo <= c->ack_hi);
	assert(c->park_n <= c->cfg.max_parked);
	assert(c->snap_open == (c->snap_old.kv != NULL)); /* the state a transfer replaces */
	assert(c->xfer_on <= (uint32_t)c->cfg.n && c->xlog_on <= (uint32_t)c->cfg.n);
}

/* ---- core.c: configuration, result cache, executed state, leader, execution, follower, entry
 * points */

void core_entry_clear(struct entry *e);
int core_entry_set(struct entry *e, uint64_t slot, uint64_t view, const struct proto_cid *cid,
		   const struct proto_cmd *cmd);
void core_free_val(void *v);
void core_free_client_rec(void *v);
int core_ring_fit(struct core *c, uint64_t slot);
int core_cache_result(struct core *c, const struct proto_cid *cid, uint64_t fp, uint64_t slot,
		      uint64_t ver, uint8_t status, const uint8_t *v, uint32_t vlen);
bool core_inflight_reused(struct core *c, uint64_t known, uint64_t fp);
bool core_already_executed(struct core *c, const struct proto_cid *cid);
bool core_executed_bit(struct core *c, const struct proto_cid *cid);
uint64_t core_inflight_slot(struct core *c, const uint8_t inflight_key[16]);
/* A key's executed state (core_kv_lookup): its value, pointing into the state (single-threaded
 * core: stable until the next change of the key-value table), and its version. */
struct kv_state {
	bool found;
	const uint8_t *value; /* NULL when not found */
	uint32_t vlen;
	uint64_t ver; /* 1 + the slot of the write that left it so; see core_kv_lookup */
};
void core_kv_lookup(struct core *c, const uint8_t *key, uint32_t klen, struct kv_state *st);
uint64_t core_kv_answer(struct core *c, const uint8_t *key, uint32_t klen, struct proto_msg *m);
int core_kv_apply(struct core *c, uint64_t ver, const struct proto_cmd *cmd);
/* Forgets the old state a GETDEL or SETX left for its answer (c->old_*), freeing its value. */
void core_kv_old_free(struct core *c);
int core_scan_exec(struct core *c, const uint8_t *key, uint32_t klen, uint32_t count,
		   struct proto_msg *m);
void core_keyidx_add(struct core *c, const struct entry *e, struct keyidx_arg *ka);
void core_set_intake(struct core *c, bool open);
void core_send_accept(struct core *c, struct entry *e, int to, uint64_t now_ns);
bool core_dep_ordered(struct core *c, uint64_t client, uint64_t dep);
uint64_t core_client_low_seq(struct core *c, uint64_t client);
struct entry *core_log_append(struct core *c, uint64_t conn, const struct proto_msg *m,
			      uint8_t kind);
void core_replicate(struct core *c, struct entry *e, uint64_t now_ns);
struct entry *core_attach_resend(struct core *c, uint64_t known, uint64_t conn, uint8_t kind);
void core_unregister_led(struct core *c, struct entry *e);
void core_execute_ready(struct core *c);
void core_advance_commit(struct core *c, uint64_t now_ns);
void core_follower_ack(struct core *c, uint64_t lo, uint64_t hi);
void core_execute_entry(struct core *c, struct entry *e);
void core_log_gc(struct core *c);
void core_acc_advance(struct core *c);

/* ---- core_witness.c: witness records (PROTOCOL.md 3) */

enum cmap_update_result core_witness_add_cb(const void *key, size_t klen, void **val, void *arg);
enum cmap_update_result core_witness_remove_cb(const void *key, size_t klen, void **val, void *arg);
/* core_wlist.c: one key's records. push appends r (-ENOMEM: nothing changed; *lp may be NULL
 * before); take removes r[i] (its val now the caller's), keeping the others' order, and leaves
 * an empty list with head = n = 0 (the caller frees it); may_hold is false only when no record
 * has the cid; find is the index of the first record of cid (l may be NULL), or UINT32_MAX;
 * last_weak is the latest weak record or NULL; rebuild recounts after a bulk edit; free frees
 * the records' values too. */
int core_wlist_push(struct wlist **lp, const struct wrec *r);
void core_wlist_take(struct wlist *l, uint32_t i);
bool core_wlist_may_hold(const struct wlist *l, const struct proto_cid *cid);
uint32_t core_wlist_find(const struct wlist *l, const struct proto_cid *cid);
const struct wrec *core_wlist_last_weak(const struct wlist *l);
void core_wlist_rebuild(struct wlist *l);
void core_wlist_free(struct wlist *l);
enum cmap_update_result core_pending_writes_cb(const void *key, size_t klen, void **val, void *arg);
void core_weak_exec_read_cb(const void *key, size_t klen, void *val, void *arg);
void core_witness_remove(struct core *c, const struct proto_cid *cid, uint64_t slot,
			 const uint8_t *key, uint32_t klen, uint8_t status);
void core_witness_on_propose(struct core *c, uint64_t conn, const struct proto_msg *m);
int core_witness_record_weak(struct core *c, uint64_t conn, const struct proto_msg *m);
bool core_witness_mixed(struct core *c, const uint8_t *key, uint32_t klen, uint64_t client);
int core_witness_add_unless_mixed(struct core *c, const uint8_t *key, uint32_t klen,
				  uint64_t client, struct witness_arg *la);
bool core_own_pending_write(struct core *c, const struct proto_cid *read, const uint8_t *key,
			    uint32_t klen, struct proto_msg *m);

/* ---- core_weak.c: weak writes and weak reads (curpho, curpht) */

void core_weak_write_answer(struct core *c, uint64_t conn, const struct proto_cid *cid,
			    uint8_t type, uint64_t slot, bool executed, uint8_t status);
bool core_cached_slot(struct core *c, const struct proto_cid *cid, struct cached_slot *cs);
void core_on_weak_write(struct core *c, uint64_t conn, const struct proto_msg *m, uint64_t now_ns);
void core_on_weak_read(struct core *c, uint64_t conn, const struct proto_msg *m, uint64_t now_ns);
void core_parked_drain(struct core *c, bool expire, uint64_t now_ns);

/* ---- core_vc.c: view change (PROTOCOL.md 7.2) */

void core_vc_reset(struct core *c);
void core_witness_install(struct core *c);
int core_keybag_cb(const void *key, size_t klen, void *val, void *arg);
void core_keybag_free(struct keybag *b);
void core_vc_check_install(struct core *c);
void core_send_install(struct core *c, int to);
void core_on_vc_install(struct core *c, int from, const struct proto_msg *m);
void core_vc_request(struct core *c, uint64_t now_ns);
void core_view_enter(struct core *c, uint64_t view, int leader, uint64_t now_ns);
void core_on_vc_req(struct core *c, int from, const struct proto_msg *m);
void core_on_vc_item(struct core *c, int from, const struct proto_msg *m, uint64_t now_ns);
void core_vc_collect(struct core *c, uint64_t now_ns);
void core_vc_tick(struct core *c, uint64_t now_ns);

/* ---- core_replay.c: the order of the commands a view change replays (7.2 step 3) */

/* One command recovered from witness records: rv[lo..hi) are its records (one cid, sorted by
 * replica). */
struct replay_cand {
	uint32_t lo, hi;
	bool weak;	     /* an HO weak write */
	bool weak_dep_known; /* its weak_dep is 0 or ordered here (log, executed, watermark) */
	bool completed;	     /* its session declared it done: a collected replica heard a
			      * low_seq above its seq (its evidence is true if it was fast) */
};

struct replay_stats {
	uint32_t dropped; /* left out: the session's previous weak write is missing */
	uint32_t relaxed; /* placed with a constraint relaxed (contradictory evidence) */
};

int core_replay_order(struct vc_item *const *rv, const struct replay_cand *cand, uint32_t nc,
		      int threshold, bool ho, uint32_t *order, struct replay_stats *st);

/* ---- core_xfer.c: sending a state transfer as a stream */

bool core_peer_room(struct core *c, int p);

void core_xfer_start(struct core *c, int to, uint64_t round, bool then_log, uint64_t now_ns);
void core_xlog_start(struct core *c, int to, uint64_t from, uint64_t now_ns);
void core_xfer_stop(struct core *c, int to);
void core_xfer_stop_all(struct core *c);
void core_xfer_note(struct core *c, const uint8_t *key, uint32_t klen);
void core_xfer_pump(struct core *c, uint64_t now_ns);

/* ---- core_persist.c: the write-ahead log's records (docs/durability.md) */

int core_persist_create(struct core *c);
void core_persist_destroy(struct core *c);
void core_persist_entry(struct core *c, const struct entry *e);
void core_persist_drop(struct core *c, uint64_t slot);
void core_persist_record(struct core *c, const uint8_t *key, uint32_t klen, const struct wrec *r);
void core_persist_wremove(struct core *c, const uint8_t *key, uint32_t klen,
			  const struct proto_cid *cid);
void core_persist_winstall(struct core *c);
void core_persist_snap(struct core *c, uint8_t type, const struct proto_msg *m);
int core_snap_restore(struct core *c, uint8_t type, const struct proto_msg *m);
int core_xfer_items(struct core *c,
		    void (*emit)(void *ctx, uint8_t type, const struct proto_msg *m), void *ctx);
void core_persist_point(struct core *c);

/* ---- core_lease.c: client leases (docs/recovery.md "Client leases") */

/* A real command of a client (not the leader's no-op or EXPIRE): it has a key, a cid, a place
 * in the key index. */
static inline bool is_client_op(uint8_t op)
{
	return !proto_op_internal(op);
}

int core_lease_create(struct core *c);
void core_lease_destroy(struct core *c);
bool core_lease_expired(struct core *c, uint64_t client);
bool core_lease_refused(struct core *c, uint64_t conn, const struct proto_msg *m);
bool core_lease_pending(struct core *c, uint64_t client);
void core_lease_heard(struct core *c, uint64_t client, uint64_t now_ns);
void core_lease_tick(struct core *c, uint64_t now_ns);
void core_lease_execute(struct core *c, const struct entry *e);
void core_lease_led(struct core *c, const struct entry *e);
void core_lease_view_enter(struct core *c);
void core_lease_installed(struct core *c, uint64_t now_ns);
uint64_t core_lease_summary(const struct client_rec *cr);

/* ---- core_snap.c: catch-up and state transfer (PROTOCOL.md 7.3) */

void core_leader_on_catchup(struct core *c, int from, const struct proto_msg *m, uint64_t now_ns);
void core_follower_on_snap(struct core *c, const struct proto_msg *m, uint64_t now_ns);
void core_follower_tick(struct core *c, uint64_t now_ns);
void core_follower_on_pull(struct core *c, int from, const struct proto_msg *m, uint64_t now_ns);
void core_vc_pull(struct core *c, int p, uint64_t now_ns);
void core_snap_abandon(struct core *c);
/* Hands one line to io.note (if set): detail lines only under -v (core_io.note). */
void core_vc_note(struct core *c, bool detail, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Leader: slot s is no longer acknowledged by every replica (a view's entries, a log re-sent
 * to a replica that lost it). */
static inline void core_unacked(struct core *c, uint64_t s)
{
	if (s < c->acked_floor)
		c->acked_floor = s;
}

#endif
