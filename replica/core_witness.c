/* replica/core_witness: the witness role of the core (PROTOCOL.md 3): records of unsynced
 * commands per key, conflict checks, and what weak writes (HO) leave for reads and recovery. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "replica/core_int.h"

/* ---- witness -------------------------------------------------------------------------- */

/* F7 (docs/recovery.md "Replay order"), one candidate read: does l hold a weak record of
 * another client than `client` before its latest weak record? A strong GET of client's is then
 * not answered ok, by a witness (core_witness_add_cb) or by the leader (core_witness_mixed). */
static bool other_before_latest(const struct wlist *l, uint64_t client)
{
	const struct wrec *latest = NULL;
	if (l == NULL || l->n_weak < 2)
		return false;
	for (uint32_t i = l->head; i < l->n; i++) {
		if (!l->r[i].weak)
			continue;
		if (latest != NULL && latest->cid.client != client)
			return true;
		latest = &l->r[i];
	}
	return false;
}

enum cmap_update_result core_witness_add_cb(const void *key, size_t klen, void **val, void *arg)
{
	struct witness_arg *a = arg;
	struct wlist *l = *val;
	uint32_t at = core_wlist_find(l, &a->cid);
	if (at != UINT32_MAX) {
		/* a re-sent command gets the same answer; another command under the same cid (a
		 * reused client id) gets none: its op or written value differs (values are kept
		 * for writes; the key is this list's) */
		const struct wrec *r = &l->r[at];
		a->reused = r->op != a->op ||
			    (r->write && a->keep_val &&
			     (r->vlen != a->vlen || (a->vlen && memcmp(r->val, a->val, a->vlen) != 0)));
		a->ok = r->ok && !a->reused;
		a->read_dep = r->read_dep;
		return CMAP_KEEP;
	}
	/* a new command: it conflicts with a write recorded, or as a write with any record (a
	 * weak one too, unless weak_neutral), and its read_dep is the latest weak record (arrival
	 * order); from the list's counts (core_wlist.c) */
	bool conflict = false;
	if (l != NULL) {
		const struct wrec *lw = core_wlist_last_weak(l);
		if (lw != NULL)
			a->read_dep = lw->cid;
		uint32_t n = l->n - l->head, nw = l->n_write;
		if (a->weak_neutral) {
			n -= l->n_weak;
			nw -= l->n_weak_write;
		}
		conflict = !MUTANT_NO_CONFLICT_CHECK && (a->write ? n > 0 : nw > 0);
	}
	/* HO, a strong GET: one candidate read (docs/recovery.md F7). The read_dep names the latest
	 * weak write of the key; another session's pending one before it might be ordered before
	 * or after it at the leader, and a view change could not tell which the GET read past. */
	if (a->weak_neutral && !a->weak && a->op == PROTO_OP_GET &&
	    other_before_latest(l, a->cid.client))
		conflict = true;
	a->ok = a->weak || a->force_ok || (!conflict && !a->full);
	if (a->full)
		return CMAP_KEEP; /* never grows beyond the cap; a strong answer is ok=false */
	uint8_t *v = NULL;
	if (a->keep_val && a->vlen) {
		v = malloc(a->vlen);
		if (v == NULL) {
			a->ok = false;
			a->nomem = true;
			return CMAP_KEEP;
		}
		memcpy(v, a->val, a->vlen);
	}
	struct wrec rec = {.cid = a->cid,
			   .view = a->c->view,
			   .arr = a->c->arr_next,
			   .dep = a->dep,
			   .weak_dep = a->weak_dep,
			   .read_dep = a->leader_rd ? a->leader_read_dep : a->read_dep,
			   .write = a->write,
			   .ok = a->ok,
			   .weak = a->weak,
			   .op = a->op,
			   .bound = a->bound,
			   .conn = a->conn,
			   .val = v,
			   .vlen = a->keep_val ? a->vlen : 0};
	if (core_wlist_push((struct wlist **)val, &rec) != 0) {
		free(v);
		a->ok = false;
		a->nomem = true;
		return CMAP_KEEP;
	}
	l = *val;
	a->c->arr_next++;
	a->added = true;
	a->c->witness_n++;
	core_persist_record(a->c, key, (uint32_t)klen, &l->r[l->n - 1]);
	return CMAP_KEEP;
}

/* Takes a's cid's record out of a key's list (it leaves in a->removed, its value now the
 * caller's). (changes or removes an entry that exists: core_update_present) */
enum cmap_update_result core_witness_remove_cb(const void *key, size_t klen, void **val,
					       void *arg)
{
	struct witness_arg *a = arg;
	struct wlist *l = *val;
	if (l == NULL)
		return CMAP_KEEP;
	uint32_t at = core_wlist_find(l, &a->cid);
	if (at != UINT32_MAX) {
		a->removed = l->r[at];
		a->was_removed = true;
		core_wlist_take(l, at);
		assert(a->c->witness_n > 0);
		a->c->witness_n--;
	}
	if (l->n == l->head) {
		core_wlist_free(l); /* (no records: nothing else to free) */
		*val = NULL;
		return CMAP_DELETE;
	}
	return CMAP_KEEP;
}

enum cmap_update_result core_pending_writes_cb(const void *key, size_t klen, void **val, void *arg)
{
	struct pending_writes_arg *a = arg;
	struct pending_writes *pw = *val;
	if (!a->add) { /* (changes or removes an entry that exists: core_update_present) */
		if (pw == NULL)
			return CMAP_KEEP;
		for (uint32_t i = 0; i < pw->n; i++) {
			if (pw->e[i].seq == a->seq) {
				memmove(&pw->e[i], &pw->e[i + 1],
					(pw->n - i - 1) * sizeof pw->e[0]);
				pw->n--;
				break;
			}
		}
		if (pw->n == 0) {
			free(pw);
			*val = NULL;
			return CMAP_DELETE;
		}
		return CMAP_KEEP;
	}
	if (pw == NULL || pw->n == pw->cap) {
		uint32_t ncap = pw ? pw->cap * 2 : 4;
		struct pending_writes *grown =
		    realloc(pw, sizeof *grown + ncap * sizeof grown->e[0]);
		if (grown == NULL) {
			a->failed = true;
			return CMAP_KEEP;
		}
		if (pw == NULL)
			grown->n = 0;
		grown->cap = ncap;
		pw = grown;
		*val = pw;
	}
	uint32_t i = pw->n; /* ascending: arrivals are almost always in order */
	while (i > 0 && pw->e[i - 1].seq > a->seq)
		i--;
	memmove(&pw->e[i + 1], &pw->e[i], (pw->n - i) * sizeof pw->e[0]);
	pw->e[i] = (struct pending_write){.seq = a->seq, .dep = a->dep};
	pw->n++;
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
	const struct pending_writes *pw = val;
	for (uint32_t i = 0; i < pw->n && pw->e[i].seq < a->below; i++) {
		if (a->m->n_deps == PROTO_MAX_DEPS) {
			a->overflow = true;
			return;
		}
		a->m->deps[a->m->n_deps++] = pw->e[i].seq;
	}
}

static enum cmap_update_result weak_exec_cb(const void *key, size_t klen, void **val, void *arg)
{
	const struct pending_writes_arg *a = arg;
	struct client_rec *cr = *val;
	if (cr != NULL && a->seq > cr->weak_exec_hi)
		cr->weak_exec_hi = a->seq; /* no record for an unknown client: reported as 0 */
	return CMAP_KEEP;
}

void core_weak_exec_read_cb(const void *key, size_t klen, void *val, void *arg)
{
	*(uint64_t *)arg = ((const struct client_rec *)val)->weak_exec_hi;
}

/* Removes the witness record of the command cid on key (it executed here, at slot). An HO weak
 * record of a session bound to this replica tells that session its write is executed (the
 * client's write set shrinks only then). */
void core_witness_remove(struct core *c, const struct proto_cid *cid, uint64_t slot,
			 const uint8_t *key, uint32_t klen, uint8_t status)
{
	struct witness_arg a = {.c = c, .cid = *cid};
	/* (one lookup: an absent key, no record, is left alone) */
	(void)cmap_update_present(c->witness, key, klen, core_witness_remove_cb, &a);
	if (!a.was_removed)
		return;
	free(a.removed.val);
	if (!a.removed.weak)
		return;
	struct pending_writes_arg sa = {.seq = cid->seq, .add = false};
	core_update_present_u64(c->pending_writes, cid->client, core_pending_writes_cb, &sa);
	core_update_present_u64(c->clients, cid->client, weak_exec_cb, &sa);
	/* (a record rebuilt from the log has no connection: its session asks again) */
	if (a.removed.bound == c->cfg.self && a.removed.conn != 0) {
		struct proto_msg r;
		proto_msg_init(&r, PROTO_CAUSAL_REPLY, c->view);
		r.cid = *cid;
		r.slot = slot;
		r.ok = true;
		r.status = status;
		c->io.to_client(c->io.ctx, a.removed.conn, &r);
	}
}

void core_witness_on_propose(struct core *c, uint64_t conn, const struct proto_msg *m)
{
	struct proto_msg r;
	proto_msg_init(&r, PROTO_RECORD_ACK, c->view);
	r.cid = m->cid;
	if (MUTANT_NO_FENCING && m->view < c->view) {
		/* mutant: a witness still records for (and answers as) an older view's leader */
		r.view = m->view;
	} else if (m->view != c->view) {
		c->st.stale_view++;
		r.ok = false;
		c->io.to_client(c->io.ctx, conn, &r);
		return;
	}
	if (!MUTANT_NO_FENCING && !c->active) {
		r.ok = false; /* a view change is running: nothing is recorded until it ends */
		c->io.to_client(c->io.ctx, conn, &r);
		return;
	}
	struct cached_slot cs;
	bool cached = core_cached_slot(c, &m->cid, &cs);
	if (cached && fp_differ(cs.fp, proto_cmd_fp(&m->cmd))) {
		/* another command executed here under this cid (a reused client id): never
		 * counted as durable; the leader refuses it (CID_REUSED) */
		c->st.cid_reused++;
		r.ok = false;
		c->io.to_client(c->io.ctx, conn, &r);
		return;
	}
	/* (core_already_executed, its result-cache half known already) */
	bool executed = cached || core_executed_bit(c, &m->cid);
	if (c->hold && !executed) {
		/* 7.3: restarted, its records lost: no super quorum may count on it yet */
		c->st.conflicts++;
		r.ok = false;
		c->io.to_client(c->io.ctx, conn, &r);
		return;
	}
	if (executed) {
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
				.dep = m->dep,
				.weak_dep = m->weak_dep,
				.full = c->witness_n >= c->cfg.max_witness};
	if (m->cmd.op == PROTO_OP_SCAN) {
		a.ok = false; /* strong SCAN: slow path only (range conflicts are not tracked) */
	} else if (cmap_update(c->witness, m->cmd.key, m->cmd.klen, core_witness_add_cb, &a) < 0) {
		/* no memory for a record: refused as by a full table (nothing kept) */
		a.ok = false;
	}
	if (ho) {
		/* 5.3: the session's own pending weak writes, and for a GET the latest pending weak
		 * write of any session on the key (seen before this GET was inserted). */
		struct deps_arg da = {.m = &r, .below = m->cid.seq};
		cmap_get_u64(c->pending_writes, m->cid.client, deps_read_cb, &da);
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
		cmap_get_u64(c->clients, m->cid.client, core_weak_exec_read_cb, &hi);
		r.dep_exec = hi < m->cid.seq ? hi : m->cid.seq - 1;
	}
	if (a.reused)
		c->st.cid_reused++;
	else if (!a.ok)
		c->st.conflicts++;
	r.ok = a.ok;
	c->io.to_client(c->io.ctx, conn, &r);
}

/* HO: records a weak write (every replica, the leader included). Returns 0 when recorded (or
 * already recorded), -EEXIST when a record of the cid on the key holds another write (a reused
 * client id), -ENOSPC when the table is full or memory ran out. */
int core_witness_record_weak(struct core *c, uint64_t conn, const struct proto_msg *m)
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
				.dep = m->dep,
				.weak_dep = m->dep, /* a weak write's dep is the previous weak write */
				.full = c->witness_n >= c->cfg.max_witness};
	if (cmap_update(c->witness, m->cmd.key, m->cmd.klen, core_witness_add_cb, &a) < 0)
		return -ENOSPC; /* no memory for the record: nothing kept */
	if (a.reused)
		return -EEXIST;
	if (!a.ok)
		return -ENOSPC;
	if (a.added) {
		struct pending_writes_arg sa = {.seq = m->cid.seq, .dep = m->dep, .add = true};
		if (cmap_update_u64(c->pending_writes, m->cid.client, core_pending_writes_cb, &sa) <
			0 ||
		    sa.failed) {
			/* without the session index the record would be invisible to causal_deps:
			 * take it back */
			struct witness_arg ra = {.c = c, .cid = m->cid};
			core_update_present(c->witness, m->cmd.key, m->cmd.klen, core_witness_remove_cb,
					    &ra);
			if (ra.was_removed) {
				free(ra.removed.val);
				core_persist_wremove(c, m->cmd.key, m->cmd.klen, &m->cid);
			}
			return -ENOSPC;
		}
	}
	return 0;
}

struct mixed_arg {
	uint64_t client;
	bool mixed; /* out */
};

static void mixed_cb(const void *key, size_t klen, void *val, void *arg)
{
	(void)key;
	(void)klen;
	struct mixed_arg *a = arg;
	a->mixed = other_before_latest(val, a->client);
}

/* HO, F7 at the leader: does key hold a pending weak write of another session than client's
 * before its latest one? Then a strong GET of client's is not answered ok (other_before_latest,
 * the witnesses' rule). */
bool core_witness_mixed(struct core *c, const uint8_t *key, uint32_t klen, uint64_t client)
{
	struct mixed_arg a = {.client = client};
	cmap_get(c->witness, key, klen, mixed_cb, &a);
	return a.mixed;
}

struct add_unless_mixed_arg {
	uint64_t client;
	struct witness_arg *la;
	bool mixed; /* out */
};

static enum cmap_update_result add_unless_mixed_cb(const void *key, size_t klen, void **val,
						   void *arg)
{
	struct add_unless_mixed_arg *a = arg;
	if (*val != NULL && other_before_latest(*val, a->client)) {
		a->mixed = true;
		return CMAP_KEEP; /* (unchanged) */
	}
	return core_witness_add_cb(key, klen, val, a->la);
}

/* The leader's strong GET (HO): core_witness_mixed, then, if not mixed, the record la adds
 * (core_witness_add_cb), in one visit of the key. Returns 1 if mixed (nothing changed), 0 if
 * the callback ran, or cmap_update's -ENOMEM (no room for the key: not mixed, nothing added). */
int core_witness_add_unless_mixed(struct core *c, const uint8_t *key, uint32_t klen,
				  uint64_t client, struct witness_arg *la)
{
	struct add_unless_mixed_arg a = {.client = client, .la = la};
	if (cmap_update(c->witness, key, klen, add_unless_mixed_cb, &a) < 0)
		return -ENOMEM;
	return a.mixed ? 1 : 0;
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
	for (uint32_t i = l->head; i < l->n; i++) {
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
bool core_own_pending_write(struct core *c, const struct proto_cid *read, const uint8_t *key,
			    uint32_t klen, struct proto_msg *m)
{
	struct own_arg a = {.client = read->client, .below = read->seq, .m = m};
	cmap_get(c->witness, key, klen, own_pending_cb, &a);
	return a.found;
}
