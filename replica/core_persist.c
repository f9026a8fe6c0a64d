/* replica/core_persist: what a replica must keep on disk to come back as it was
 * (docs/durability.md, "What a replica logs"), and how a core is rebuilt from it.
 *
 * The core hands records to core_io.persist as its durable state changes; the I/O layer appends
 * them to its write-ahead log and makes them durable before any message that left the core after
 * them goes out (group commit). A restarted core is fed the records in order (core_restore) and
 * ends as the replica was after the last record: the same log, executed state, witness records
 * and view-change bookkeeping. Whatever it lost had not been seen by anyone, so it is as if the
 * messages that made it had never arrived, which the protocol tolerates anyway.
 *
 * Records (little-endian, each a payload of one WAL record; the type is the WAL record's type):
 *   ENTRY   slot view client seq op scan klen vlen key val   a log entry written (appended,
 *                                                            accepted, placed by a view change)
 *   DROP    slot                                             an unexecuted entry taken out
 *   EXEC    exec_index                                       everything below it executed
 *   RECORD  client seq view arr dep weak_dep rd.client rd.seq flags op bound klen vlen key val
 *                                                            a witness record added
 *   WREMOVE client seq klen key                              a witness record taken back
 *   WINSTALL view                                            a view installed: its witness
 *                                                            records kept as core_vc.c keeps them
 *   META    view leader flags vc_cut inst_view inst_cut dec_view dec_hole inst_hole
 *           commit_known commit_index n_decs (view hole)*    the view-change bookkeeping
 *   SNAP_BEGIN, SNAP_ITEM msg, SNAP_ABORT, SNAP_DONE msg     a state transfer as it arrived
 *                                                            (its SNAP_* messages): replayed,
 *                                                            it replaces the state again
 * Execution is deterministic, so the executed state, result cache, exactly-once tables and
 * client leases are rebuilt by executing the logged entries again, not logged themselves.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replica/core_int.h"

/* ---- encoding --------------------------------------------------------------------------- */

struct pbuf {
	uint8_t *p;
	size_t n, cap;
	bool nomem;
};

static void pb_put(struct pbuf *b, const void *v, size_t len)
{
	if (b->nomem || len == 0)
		return;
	if (b->n + len > b->cap) {
		size_t ncap = b->cap ? b->cap : 256;
		while (ncap < b->n + len)
			ncap *= 2;
		uint8_t *np = realloc(b->p, ncap);
		if (np == NULL) {
			b->nomem = true;
			return;
		}
		b->p = np;
		b->cap = ncap;
	}
	memcpy(b->p + b->n, v, len);
	b->n += len;
}

static void pb_u64(struct pbuf *b, uint64_t v)
{
	uint8_t x[8];
	for (int i = 0; i < 8; i++)
		x[i] = (uint8_t)(v >> (8 * i));
	pb_put(b, x, 8);
}

static void pb_u32(struct pbuf *b, uint32_t v)
{
	uint8_t x[4];
	for (int i = 0; i < 4; i++)
		x[i] = (uint8_t)(v >> (8 * i));
	pb_put(b, x, 4);
}

static void pb_u8(struct pbuf *b, uint8_t v)
{
	pb_put(b, &v, 1);
}

/* A reader over one record; `bad` once it ran past the end (every later read gives 0). */
struct prd {
	const uint8_t *p;
	uint32_t n, off;
	bool bad;
};

static const uint8_t *rd_bytes(struct prd *r, uint32_t len)
{
	if (r->bad || len > r->n - r->off) {
		r->bad = true;
		return NULL;
	}
	const uint8_t *v = r->p + r->off;
	r->off += len;
	return v;
}

static uint64_t rd_u64(struct prd *r)
{
	const uint8_t *x = rd_bytes(r, 8);
	uint64_t v = 0;
	for (int i = 0; x && i < 8; i++)
		v |= (uint64_t)x[i] << (8 * i);
	return v;
}

static uint32_t rd_u32(struct prd *r)
{
	const uint8_t *x = rd_bytes(r, 4);
	uint32_t v = 0;
	for (int i = 0; x && i < 4; i++)
		v |= (uint32_t)x[i] << (8 * i);
	return v;
}

static uint8_t rd_u8(struct prd *r)
{
	const uint8_t *x = rd_bytes(r, 1);
	return x ? x[0] : 0;
}

/* ---- the records, as the core's state changes ------------------------------------------- */

static bool persisting(const struct core *c)
{
	return c->snap_emit != NULL || (c->io.persist != NULL && !c->restoring);
}

/* Hands the record in c->pb to the I/O layer (or, in core_snapshot, to the snapshot). Without
 * memory for its bytes the replica cannot promise what it is about to answer: it stops
 * (core_oom), as it does for a record it cannot keep in memory. */
static void emit(struct core *c, uint8_t type, struct pbuf *b)
{
	if (b->nomem)
		core_oom(c, "a write-ahead log record");
	if (c->snap_emit)
		c->snap_emit(c->snap_ctx, type, b->p, (uint32_t)b->n);
	else
		c->io.persist(c->io.ctx, type, b->p, (uint32_t)b->n);
	b->n = 0;
}

static struct pbuf *pbuf_of(struct core *c)
{
	return (struct pbuf *)c->pbuf;
}

void core_persist_entry(struct core *c, const struct entry *e)
{
	if (!persisting(c))
		return;
	struct pbuf *b = pbuf_of(c);
	pb_u64(b, e->slot);
	pb_u64(b, e->view);
	pb_u64(b, e->cid.client);
	pb_u64(b, e->cid.seq);
	pb_u8(b, e->op);
	pb_u32(b, e->scan_count);
	pb_u32(b, e->klen);
	pb_u32(b, e->vlen);
	pb_put(b, entry_key(e), e->klen);
	pb_put(b, entry_val(e), e->vlen);
	emit(c, CREC_ENTRY, b);
}

void core_persist_drop(struct core *c, uint64_t slot)
{
	if (!persisting(c))
		return;
	struct pbuf *b = pbuf_of(c);
	pb_u64(b, slot);
	emit(c, CREC_DROP, b);
}

void core_persist_record(struct core *c, const uint8_t *key, uint32_t klen, const struct wrec *r)
{
	if (!persisting(c))
		return;
	struct pbuf *b = pbuf_of(c);
	pb_u64(b, r->cid.client);
	pb_u64(b, r->cid.seq);
	pb_u64(b, r->view);
	pb_u64(b, r->arr);
	pb_u64(b, r->dep);
	pb_u64(b, r->weak_dep);
	pb_u64(b, r->read_dep.client);
	pb_u64(b, r->read_dep.seq);
	pb_u8(b, (uint8_t)((r->write ? 1 : 0) | (r->ok ? 2 : 0) | (r->weak ? 4 : 0)));
	pb_u8(b, r->op);
	pb_u32(b, (uint32_t)r->bound);
	pb_u32(b, klen);
	pb_u32(b, r->vlen);
	pb_put(b, key, klen);
	pb_put(b, r->val, r->vlen);
	emit(c, CREC_RECORD, b);
}

void core_persist_wremove(struct core *c, const uint8_t *key, uint32_t klen,
			  const struct proto_cid *cid)
{
	if (!persisting(c))
		return;
	struct pbuf *b = pbuf_of(c);
	pb_u64(b, cid->client);
	pb_u64(b, cid->seq);
	pb_u32(b, klen);
	pb_put(b, key, klen);
	emit(c, CREC_WREMOVE, b);
}

/* The view-change bookkeeping as one record's worth of fields (compared, then logged). */
struct pmeta {
	uint64_t view, vc_cut, inst_view, inst_cut, dec_view, dec_hole, inst_hole;
	uint64_t commit_known, commit_index;
	int32_t leader;
	uint8_t flags; /* 1 active, 2 installing, 4 hold (PROTOCOL.md 7.3) */
	uint32_t n_decs;
	struct vc_decision decs[CORE_DECISIONS_MAX];
};

static void meta_fill(const struct core *c, struct pmeta *m)
{
	memset(m, 0, sizeof *m);
	m->view = c->view;
	m->vc_cut = c->vc_cut;
	m->inst_view = c->inst_view;
	m->inst_cut = c->inst_cut;
	m->dec_view = c->dec_view;
	m->dec_hole = c->dec_hole;
	m->inst_hole = c->inst_hole;
	m->commit_known = c->commit_known;
	m->commit_index = c->commit_index;
	m->leader = c->leader;
	m->flags = (uint8_t)((c->active ? 1 : 0) | (c->installing ? 2 : 0) | (c->hold ? 4 : 0));
	m->n_decs = c->n_decs;
	memcpy(m->decs, c->decs, c->n_decs * sizeof c->decs[0]);
}

/* The commit indexes do not count as a change: they move at nearly every call on a leader, and
 * a restored replica that knows an older one is one that missed the last COMMITs, which the
 * protocol tolerates (a follower hears the index again; a restored leader leads no more). They
 * are logged with the other fields whenever those change. */
static bool meta_same(const struct pmeta *a, const struct pmeta *b)
{
	return a->view == b->view && a->vc_cut == b->vc_cut && a->inst_view == b->inst_view &&
	       a->inst_cut == b->inst_cut && a->dec_view == b->dec_view &&
	       a->dec_hole == b->dec_hole && a->inst_hole == b->inst_hole &&
	       a->leader == b->leader && a->flags == b->flags && a->n_decs == b->n_decs &&
	       memcmp(a->decs, b->decs, a->n_decs * sizeof a->decs[0]) == 0;
}

/* Logs what changed of the bookkeeping and of the execution index since the last point. Called
 * at the end of every entry point (and before a WINSTALL), so a record is in the log before any
 * message that the change let out (the I/O layer makes it durable before it writes). */
static void meta_emit(struct core *c, const struct pmeta *m);

void core_persist_point(struct core *c)
{
	if (!persisting(c))
		return;
	struct pbuf *b = pbuf_of(c);
	if (c->exec_index != c->persisted_exec) {
		pb_u64(b, c->exec_index);
		emit(c, CREC_EXEC, b);
		c->persisted_exec = c->exec_index;
	}
	struct pmeta now;
	meta_fill(c, &now);
	struct pmeta *last = c->persisted_meta;
	if (meta_same(&now, last))
		return;
	*last = now;
	meta_emit(c, &now);
}

static void meta_emit(struct core *c, const struct pmeta *m)
{
	struct pmeta now = *m;
	struct pbuf *b = pbuf_of(c);
	pb_u64(b, now.view);
	pb_u32(b, (uint32_t)now.leader);
	pb_u8(b, now.flags);
	pb_u64(b, now.vc_cut);
	pb_u64(b, now.inst_view);
	pb_u64(b, now.inst_cut);
	pb_u64(b, now.dec_view);
	pb_u64(b, now.dec_hole);
	pb_u64(b, now.inst_hole);
	pb_u64(b, now.commit_known);
	pb_u64(b, now.commit_index);
	pb_u32(b, now.n_decs);
	for (uint32_t i = 0; i < now.n_decs; i++) {
		pb_u64(b, now.decs[i].view);
		pb_u64(b, now.decs[i].hole);
	}
	emit(c, CREC_META, b);
}

void core_persist_winstall(struct core *c)
{
	if (!persisting(c))
		return;
	core_persist_point(c); /* the entries it keeps are of this view: the view first */
	struct pbuf *b = pbuf_of(c);
	pb_u64(b, c->view);
	emit(c, CREC_WINSTALL, b);
}

void core_persist_snap(struct core *c, uint8_t type, const struct proto_msg *m)
{
	if (!persisting(c))
		return;
	struct pbuf *b = pbuf_of(c);
	if (m != NULL) {
		struct proto_buf *pb = c->pmsg;
		if (proto_encode(pb, m, UINT32_MAX) != 0) /* (a message it just decoded) */
			core_oom(c, "a write-ahead log record of a state transfer");
		pb_put(b, pb->data + PROTO_FRAME_HEADER, pb->len - PROTO_FRAME_HEADER);
		proto_buf_consume(pb, SIZE_MAX);
	}
	emit(c, type, b);
}

/* (core_xfer_items' items, into the snapshot) */
static void snapshot_msg(void *ctx, uint8_t type, const struct proto_msg *m)
{
	core_persist_snap(ctx, type, m);
}

struct snap_wrec_arg {
	struct core *c;
};

static int snapshot_wlist_cb(const void *key, size_t klen, void *val, void *arg)
{
	struct snap_wrec_arg *a = arg;
	const struct wlist *l = val;
	for (uint32_t i = l->head; i < l->n; i++)
		core_persist_record(a->c, key, (uint32_t)klen, &l->r[i]);
	return 0;
}

int core_snapshot(struct core *c,
		  void (*fn)(void *ctx, uint8_t type, const uint8_t *p, uint32_t len), void *ctx)
{
	if (c->restoring || c->snap_open)
		return -EBUSY; /* (a transfer arriving: its half state is not this replica's) */
	c->snap_emit = fn;
	c->snap_ctx = ctx;
	core_persist_snap(c, CREC_SNAP_BEGIN, NULL);
	int rc = core_xfer_items(c, snapshot_msg, c);
	for (uint64_t s = c->exec_index; rc == 0 && s < c->log_end; s++) {
		const struct entry *e = slot_entry(c, s);
		if (e != NULL)
			core_persist_entry(c, e);
	}
	struct snap_wrec_arg wa = {.c = c};
	if (rc == 0)
		cmap_foreach(c->witness, snapshot_wlist_cb, &wa);
	if (rc == 0) {
		struct pmeta m;
		meta_fill(c, &m);
		meta_emit(c, &m);
	}
	c->snap_emit = NULL;
	c->snap_ctx = NULL;
	return rc;
}

int core_persist_create(struct core *c)
{
	c->pbuf = calloc(1, sizeof(struct pbuf));
	c->persisted_meta = calloc(1, sizeof(struct pmeta));
	c->pmsg = calloc(1, sizeof(struct proto_buf));
	if (c->pbuf == NULL || c->persisted_meta == NULL || c->pmsg == NULL)
		return -ENOMEM;
	proto_buf_init(c->pmsg, SIZE_MAX);
	meta_fill(c, c->persisted_meta);
	return 0;
}

void core_persist_destroy(struct core *c)
{
	struct pbuf *b = pbuf_of(c);
	if (b)
		free(b->p);
	free(b);
	free(c->persisted_meta);
	if (c->pmsg)
		proto_buf_free(c->pmsg);
	free(c->pmsg);
}

/* ---- restore ---------------------------------------------------------------------------- */

/* The reason a restore stops, in err; evaluates to -EINVAL. */
#define FAIL(err, errlen, ...) (snprintf((err), (errlen), __VA_ARGS__), -EINVAL)

static void no_peer(void *ctx, int to, const struct proto_msg *m)
{
	(void)ctx;
	(void)to;
	(void)m;
}

static void no_client(void *ctx, uint64_t conn, const struct proto_msg *m)
{
	(void)ctx;
	(void)conn;
	(void)m;
}

static int restore_entry(struct core *c, struct prd *r, char *err, size_t errlen)
{
	uint64_t slot = rd_u64(r), view = rd_u64(r);
	struct proto_cid cid = {rd_u64(r), rd_u64(r)};
	uint8_t op = rd_u8(r);
	uint32_t scan = rd_u32(r), klen = rd_u32(r), vlen = rd_u32(r);
	const uint8_t *key = rd_bytes(r, klen), *val = rd_bytes(r, vlen);
	if (r->bad || r->off != r->n || slot == NO_SLOT)
		return FAIL(err, errlen, "a malformed entry record (slot %" PRIu64 ")", slot);
	if (slot < c->exec_index)
		return 0; /* executed already (a re-sent accept logged again) */
	if (slot - c->log_base > (1ull << 30))
		return FAIL(err, errlen, "an entry record far past the log (slot %" PRIu64 ")",
			    slot);
	if (core_ring_fit(c, slot) != 0)
		return -ENOMEM;
	/* (a scan count is logged as the entry held it: 0 but for a SCAN) */
	struct proto_cmd cmd = {
	    .op = op, .key = key, .klen = klen, .val = val, .vlen = vlen, .scan_count = scan};
	if (core_entry_set(&c->ring[slot & (c->cap - 1)], slot, view, &cid, &cmd) != 0)
		return -ENOMEM;
	if (slot + 1 > c->log_end)
		c->log_end = slot + 1;
	return 0;
}

static int restore_exec(struct core *c, uint64_t upto, char *err, size_t errlen)
{
	while (c->exec_index < upto) {
		struct entry *e = slot_entry(c, c->exec_index);
		if (e == NULL || e->executed)
			return FAIL(err, errlen,
				    "slot %" PRIu64 " was executed but its entry is not in the log",
				    c->exec_index);
		core_execute_entry(c, e);
		c->exec_index++;
	}
	if (c->commit_index < c->exec_index)
		c->commit_index = c->exec_index;
	if (c->log_end < c->exec_index)
		c->log_end = c->exec_index;
	core_log_gc(c);
	return 0;
}

/* (a witness list of a restored record: the record appended as it was) */
struct rrec_arg {
	struct wrec rec;
	bool nomem;
};

static enum cmap_update_result restore_rec_cb(const void *key, size_t klen, void **val, void *arg)
{
	(void)key;
	(void)klen;
	struct rrec_arg *a = arg;
	if (core_wlist_push((struct wlist **)val, &a->rec) != 0)
		a->nomem = true;
	return CMAP_KEEP;
}

static int restore_record(struct core *c, struct prd *r, char *err, size_t errlen)
{
	struct wrec w = {0};
	w.cid.client = rd_u64(r);
	w.cid.seq = rd_u64(r);
	w.view = rd_u64(r);
	w.arr = rd_u64(r);
	w.dep = rd_u64(r);
	w.weak_dep = rd_u64(r);
	w.read_dep.client = rd_u64(r);
	w.read_dep.seq = rd_u64(r);
	uint8_t flags = rd_u8(r);
	w.op = rd_u8(r);
	w.bound = (int32_t)rd_u32(r);
	uint32_t klen = rd_u32(r);
	w.vlen = rd_u32(r);
	const uint8_t *key = rd_bytes(r, klen), *val = rd_bytes(r, w.vlen);
	if (r->bad || r->off != r->n)
		return FAIL(err, errlen, "a malformed witness record (client %" PRIu64 ")",
			    w.cid.client);
	w.write = flags & 1;
	w.ok = (flags & 2) != 0;
	w.weak = (flags & 4) != 0;
	if (w.vlen) {
		w.val = malloc(w.vlen);
		if (w.val == NULL)
			return -ENOMEM;
		memcpy(w.val, val, w.vlen);
	}
	struct rrec_arg a = {.rec = w};
	if (cmap_update(c->witness, key, klen, restore_rec_cb, &a) < 0 || a.nomem) {
		free(w.val);
		return -ENOMEM;
	}
	c->witness_n++;
	if (w.arr >= c->arr_next)
		c->arr_next = w.arr + 1;
	if (w.weak) {
		struct pending_writes_arg sa = {.seq = w.cid.seq, .dep = w.dep, .add = true};
		if (cmap_update_u64(c->pending_writes, w.cid.client, core_pending_writes_cb, &sa) <
			0 ||
		    sa.failed)
			return -ENOMEM;
	}
	return 0;
}

static int restore_meta(struct core *c, struct prd *r, char *err, size_t errlen)
{
	uint64_t view = rd_u64(r);
	int32_t leader = (int32_t)rd_u32(r);
	uint8_t flags = rd_u8(r);
	uint64_t vc_cut = rd_u64(r), inst_view = rd_u64(r), inst_cut = rd_u64(r),
		 dec_view = rd_u64(r), dec_hole = rd_u64(r), inst_hole = rd_u64(r),
		 commit_known = rd_u64(r), commit_index = rd_u64(r);
	uint32_t n_decs = rd_u32(r);
	if (r->bad || n_decs > CORE_DECISIONS_MAX || leader < 0 || leader >= c->cfg.n)
		return FAIL(err, errlen, "a malformed view record (view %" PRIu64 ")", view);
	for (uint32_t i = 0; i < n_decs; i++) {
		c->decs[i].view = rd_u64(r);
		c->decs[i].hole = rd_u64(r);
	}
	if (r->bad || r->off != r->n)
		return FAIL(err, errlen, "a malformed view record (view %" PRIu64 ")", view);
	c->n_decs = n_decs;
	c->view = view;
	c->rleader = leader;
	c->active = flags & 1;
	c->installing = (flags & 2) != 0;
	/* a replica that had lost its witness records (a fresh process) and crashed again before
	 * it caught up still lacks them: it holds again (from a new barrier: the grace period and
	 * the slots assigned meanwhile count from this restart). Found by the durable simulation,
	 * curp N=5 seed 128: two such replicas, restored without their hold, made the majority of
	 * a view change after a power loss, and a completed write was lost. */
	c->hold = (flags & 4) != 0;
	c->barrier_set = false;
	c->hold_since_ns = 0;
	c->vc_cut = vc_cut;
	c->inst_view = inst_view;
	c->inst_cut = inst_cut;
	c->dec_view = dec_view;
	c->dec_hole = dec_hole;
	c->inst_hole = inst_hole;
	c->commit_known = commit_known;
	if (commit_index > c->commit_index)
		c->commit_index = commit_index;
	return 0;
}

int core_restore_begin(struct core *c)
{
	c->restoring = true;
	c->saved_to_peer = c->io.to_peer;
	c->saved_to_client = c->io.to_client;
	c->io.to_peer = no_peer; /* nothing leaves while the past is played again */
	c->io.to_client = no_client;
	c->rleader = c->leader;
	/* as a follower: execution answers nobody, registers nothing in flight */
	c->leader = c->cfg.n > 1 ? (c->cfg.self + 1) % c->cfg.n : c->cfg.self;
	return 0;
}

int core_restore(struct core *c, uint8_t type, const uint8_t *p, uint32_t len, char *err,
		 size_t errlen)
{
	if (!c->restoring)
		return FAIL(err, errlen, "core_restore outside a restore (type %u)",
			    (unsigned)type);
	struct prd r = {.p = p, .n = len};
	switch (type) {
	case CREC_ENTRY:
		return restore_entry(c, &r, err, errlen);
	case CREC_DROP: {
		uint64_t slot = rd_u64(&r);
		if (r.bad || r.off != r.n)
			return FAIL(err, errlen, "a malformed drop record (%u bytes)",
				    (unsigned)len);
		struct entry *e = slot >= c->exec_index ? slot_entry(c, slot) : NULL;
		if (e != NULL && !e->executed)
			core_entry_clear(e);
		return 0;
	}
	case CREC_EXEC: {
		uint64_t upto = rd_u64(&r);
		if (r.bad || r.off != r.n)
			return FAIL(err, errlen, "a malformed execution record (%u bytes)",
				    (unsigned)len);
		return restore_exec(c, upto, err, errlen);
	}
	case CREC_RECORD:
		return restore_record(c, &r, err, errlen);
	case CREC_WREMOVE: {
		struct witness_arg a = {.c = c};
		a.cid.client = rd_u64(&r);
		a.cid.seq = rd_u64(&r);
		uint32_t klen = rd_u32(&r);
		const uint8_t *key = rd_bytes(&r, klen);
		if (r.bad || r.off != r.n)
			return FAIL(err, errlen, "a malformed record removal (%u bytes)",
				    (unsigned)len);
		core_update_present(c->witness, key, klen, core_witness_remove_cb, &a);
		if (a.was_removed)
			free(a.removed.val);
		return 0;
	}
	case CREC_WINSTALL: {
		uint64_t view = rd_u64(&r);
		if (r.bad || r.off != r.n || view != c->view)
			return FAIL(err, errlen,
				    "a view install record out of place (view %" PRIu64 ")", view);
		core_witness_install(c);
		return 0;
	}
	case CREC_META:
		return restore_meta(c, &r, err, errlen);
	case CREC_SNAP_BEGIN:
	case CREC_SNAP_ABORT:
	case CREC_SNAP_ITEM:
	case CREC_SNAP_DONE: {
		struct proto_msg m = {0};
		const struct proto_limits lim = {
		    .max_frame = UINT32_MAX, .max_key = UINT32_MAX, .max_value = UINT32_MAX};
		bool body = type == CREC_SNAP_ITEM || type == CREC_SNAP_DONE;
		if (body && proto_decode(p, len, &lim, &m) != 0)
			return FAIL(err, errlen, "a malformed state transfer record (%u bytes)",
				    (unsigned)len);
		int rc = core_snap_restore(c, type, body ? &m : NULL);
		if (rc == -EINVAL)
			return FAIL(err, errlen, "a state transfer record out of place (type %u)",
				    (unsigned)type);
		return rc;
	}
	default:
		return FAIL(err, errlen, "an unknown record type %u", (unsigned)type);
	}
}

int core_restore_end(struct core *c, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	c->io.to_peer = c->saved_to_peer;
	c->io.to_client = c->saved_to_client;
	c->leader = c->rleader;
	/* the log ends after its last entry; the slots between are holes the leader fills */
	uint64_t end = c->exec_index;
	for (uint64_t s = c->exec_index; s < c->log_end; s++)
		if (slot_entry(c, s) != NULL)
			end = s + 1;
	c->log_end = c->next_slot = end;
	if (c->commit_index < c->exec_index)
		c->commit_index = c->exec_index;
	if (is_leader(c)) {
		/* a leader's in-flight bookkeeping is gone with its process: it leads no more (the
		 * master starts a view change: docs/durability.md) */
		c->active = false;
		c->installing = false;
	}
	if (c->active && c->installing)
		c->installing = false;
	c->acc_next = c->exec_index;
	core_acc_advance(c);
	/* acknowledgements the replay computed were sent (or lost) by the process that logged
	 * them: one left pending would go out in the view logged last, for slots it may not hold
	 * there (found by the durable simulation, curp N=5 seed 76: a stale range made the
	 * leader count this replica as having installed its view) */
	c->ack_pending = false;
	c->restoring = false;
	/* a transfer that was arriving when the process stopped is over: the state it was to
	 * replace is back (logged, so the next restore does not build on its half) */
	if (c->snap_open)
		core_snap_restore(c, CREC_SNAP_ABORT, NULL);
	meta_fill(c, c->persisted_meta);
	c->persisted_exec = c->exec_index;
	core_check(c);
	return 0;
}
