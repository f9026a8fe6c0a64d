/* replica/core_vc: view change (PROTOCOL.md 7.2): collecting the replicas' logs and witness
 * records, deciding the new log (replaying witnessed commands), and installing it. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replica/core_int.h"

/* ---- view change (PROTOCOL.md 7.2) ------------------------------------------------------- */

static void vc_list_clear(struct vc_list *l)
{
	for (uint32_t i = 0; i < l->n; i++)
		kvs_free(&l->v[i].kv, l->v[i].klen, l->v[i].vlen);
	l->n = 0;
	l->nomem = false;
	l->next = 0;
}

/* Forgets everything collected (items are freed; the arrays are kept for the next time). */
void core_vc_reset(struct core *c)
{
	vc_list_clear(&c->vc_items);
	for (int i = 0; i < PROTO_MAX_REPLICAS; i++)
		vc_list_clear(&c->vc_pending[i]);
	c->vc_done = 0;
	c->vc_commit = 0;
	c->vc_iview = c->vc_icut = 0;
	c->vc_dview = c->vc_dhole = 0;
	memset(c->vc_exec, 0, sizeof c->vc_exec);
	memset(c->vc_heard_ns, 0, sizeof c->vc_heard_ns);
	c->vc_pull_last = -1;
	c->vc_pull_tries = 0;
}

/* Copies one item of a replica's state (VC_ENTRY, VC_RECORD or VC_DECIDED) into l. */
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
	it->from = from;
	if (m->type == PROTO_VC_DECIDED) {
		it->decided = true;
		it->eview = m->dview;
		it->slot = m->dhole;
		l->n++;
		return;
	}
	if (kvs_set(&it->kv, m->cmd.key, m->cmd.klen, m->cmd.val, m->cmd.vlen) != 0) {
		l->nomem = true;
		return;
	}
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
	it->weak_dep = m->weak_dep;
	it->read_dep = m->read_dep;
	it->bound = m->bound;
	it->low_seq = m->low_seq;
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
	int to;		/* -1: self */
	uint64_t round; /* the request answered */
	uint64_t skip;	/* items below this index went already (a resumed answer) */
	uint32_t count;
};

/* Sends (or collects) one item; it carries the request's round and its index in the answer, so
 * the new leader sees a lost, duplicated or late item (a count alone can be made up by a
 * duplicate for a lost one). */
static void vc_emit(struct vc_out *o, struct proto_msg *m)
{
	m->round = o->round;
	m->slot_hi = o->count;
	if (o->count < o->skip)
		; /* sent before: the new leader has it */
	else if (o->to < 0)
		vc_list_add(&o->c->vc_items, o->c->cfg.self, m);
	else
		o->c->io.to_peer(o->c->io.ctx, o->to, m);
	o->count++;
}

static int vc_record_cb(const void *key, size_t klen, void *val, void *arg)
{
	struct vc_out *o = arg;
	const struct wlist *l = val;
	for (uint32_t i = l->head; i < l->n; i++) {
		const struct wrec *r = &l->r[i];
		struct proto_msg m = {.type = PROTO_VC_RECORD,
				      .view = o->c->view,
				      .eview = r->view,
				      .cid = r->cid,
				      .ok = r->ok,
				      .weak = r->weak,
				      .dep = r->dep,
				      .weak_dep = r->weak_dep,
				      .slot = r->arr,
				      .read_dep = r->read_dep,
				      .bound = r->bound > 0 ? r->bound : 0,
				      .low_seq = core_client_low_seq(o->c, r->cid.client)};
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
 * records, the decisions it knows (VC_DECIDED), then VC_DONE with its commit and execution
 * indexes and the count of items. */
static void vc_send_state(struct core *c, int to, uint64_t from_slot, uint64_t round,
			  uint64_t from_item)
{
	struct vc_out o = {.c = c, .to = to, .round = round, .skip = from_item};
	for (uint64_t s = from_slot > c->log_base ? from_slot : c->log_base; s < c->log_end; s++) {
		const struct entry *e = slot_entry(c, s);
		if (e == NULL)
			continue;
		struct proto_msg m = {.type = PROTO_VC_ENTRY,
				      .view = c->view,
				      .slot = s,
				      .eview = e->view,
				      .cid = e->cid};
		m.cmd = entry_cmd(e);
		vc_emit(&o, &m);
	}
	cmap_foreach(c->witness, vc_record_cb, &o);
	for (uint32_t i = 0; i < c->n_decs; i++) {
		if (c->decs[i].view == c->dec_view)
			continue; /* the latest: VC_DONE carries it */
		struct proto_msg m = {.type = PROTO_VC_DECIDED,
				      .view = c->view,
				      .dview = c->decs[i].view,
				      .dhole = c->decs[i].hole};
		vc_emit(&o, &m);
	}
	uint64_t commit = c->commit_known > c->commit_index ? c->commit_known : c->commit_index;
	if (to < 0) {
		c->vc_done |= 1u << c->cfg.self;
		c->vc_commit = commit;
		c->vc_exec[c->cfg.self] = c->exec_index;
		c->vc_iview = c->inst_view;
		c->vc_icut = c->inst_cut;
		c->vc_dview = c->dec_view;
		c->vc_dhole = c->dec_hole;
		return;
	}
	struct proto_msg d = {.type = PROTO_VC_DONE,
			      .view = c->view,
			      .commit = commit,
			      .slot = c->exec_index,
			      .slot_hi = o.count,
			      .eview = c->inst_view,
			      .cut = c->inst_cut,
			      .dview = c->dec_view,
			      .dhole = c->dec_hole,
			      .round = round};
	c->io.to_peer(c->io.ctx, to, &d);
}

int core_keybag_cb(const void *key, size_t klen, void *val, void *arg)
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
void core_keybag_free(struct keybag *b)
{
	for (uint32_t i = 0; i < b->n; i++)
		free(b->k[i]);
	free(b->k);
	free(b->len);
}

/* Deletes every entry of m (its values freed by m's free function). */
static void map_clear(struct core *c, struct cmap *m)
{
	for (int round = 0; round < 64 && cmap_size(m) > 0; round++) {
		struct keybag b = {0};
		cmap_foreach(m, core_keybag_cb, &b);
		for (uint32_t i = 0; i < b.n; i++)
			cmap_del(m, b.k[i], b.len[i], NULL);
		bool nomem = b.nomem;
		core_keybag_free(&b);
		if (nomem)
			core_oom(c, "the keys of a table to clear");
	}
}

/* Drops every witness record (they belong to an older view once a view is installed). */
static void witness_drop_all(struct core *c)
{
	map_clear(c, c->witness);
	c->witness_n = 0;
	map_clear(c, c->pending_writes);
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
	bool nomem; /* a dropped weak record could not be listed in gone */
};

/* (changes or removes an entry that exists: core_update_present) */
static enum cmap_update_result keep_cb(const void *key, size_t klen, void **val, void *arg)
{
	struct keep_arg *a = arg;
	struct wlist *l = *val;
	(void)key;
	(void)klen;
	uint32_t kept = 0;
	for (uint32_t i = l->head; i < l->n; i++) {
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
			else
				a->nomem = true;
		}
		free(r->val);
		assert(a->c->witness_n > 0);
		a->c->witness_n--;
	}
	l->head = 0;
	l->n = kept;
	if (kept == 0) {
		core_wlist_free(l); /* (no records: nothing else to free) */
		*val = NULL;
		return CMAP_DELETE;
	}
	core_wlist_rebuild(l);
	return CMAP_KEEP;
}

/* A view is installed here: the older view's witness records go (7.2 step 4), except those of
 * commands the installed log holds and this replica has not executed yet. Those stay until they
 * execute: a session's weak read is answered from its own pending strong write's record when the
 * witness said ok to it (PROTOCOL.md 5.3), and that promise must survive the view change (so
 * the process stops rather than drop them all for want of memory). */
void core_witness_install(struct core *c)
{
	core_persist_winstall(c);
	uint32_t n = 0;
	struct proto_cid *logged = NULL;
	if (c->log_end <= c->exec_index) {
		witness_drop_all(c); /* nothing logged and not executed: no record stays */
		return;
	}
	logged = malloc((size_t)(c->log_end - c->exec_index) * sizeof *logged);
	if (logged == NULL)
		core_oom(c, "installing a view's witness records");
	for (uint64_t s = c->exec_index; s < c->log_end; s++) {
		const struct entry *e = slot_entry(c, s);
		if (e != NULL && e->view == c->view && e->cid.client != 0 && !e->executed)
			logged[n++] = e->cid;
	}
	qsort(logged, n, sizeof *logged, cid_cmp);
	struct keep_arg a = {.c = c, .logged = logged, .nlogged = n};
	struct keybag b = {0};
	cmap_foreach(c->witness, core_keybag_cb, &b);
	if (b.nomem)
		core_oom(c, "installing a view's witness records");
	for (uint32_t i = 0; i < b.n; i++)
		core_update_present(c->witness, b.k[i], b.len[i], keep_cb, &a);
	core_keybag_free(&b);
	if (a.nomem)
		core_oom(c, "installing a view's witness records");
	for (uint32_t i = 0; i < a.ngone; i++) {
		struct pending_writes_arg sa = {.seq = a.gone[i].seq, .add = false};
		core_update_present_u64(c->pending_writes, a.gone[i].client, core_pending_writes_cb,
					&sa);
	}
	free(a.gone);
	free(logged);
}

/* ---- decisions ----------------------------------------------------------------------------
 * A decision (view v, hole h) says that no entry of a view below v at a slot at or after h was
 * committed, nor ever will be: v's leader collected a majority, and a slot committed in an older
 * view is held there (acknowledgements are cumulative within a view) or executed by one of them,
 * so the entries it collected reached past that slot. An entry of view e at slot s is therefore
 * stale once a decision of any view above e has its hole at or below s: the bound of view e is
 * the least hole among the decisions of views above it. A new leader needs every decision its
 * collected replicas know, not only the latest: sim curpho N=5 profile 2 seed 4479, view 4
 * decided hole 509 and view 5 hole 532; view 6's leader knew only view 5's, and took view-3
 * entries at 509-526 (discarded by view 4) with view-4 entries after them, and a command
 * invoked after a fast-path DEL completed was ordered before it.
 * Only the decisions that set a bound are kept: sorted by view, their holes strictly increase (an
 * earlier view's decision whose hole is at or above a later one's bounds nothing more). Nothing
 * of views up to the last one installed at a collected replica matters (that replica holds every
 * slot up to its cut in that view or a later one, and the cut bounds older entries after it), so
 * a replica keeps the decisions from its installed view on. */

/* The slot from which entries accepted in view `eview` are stale (UINT64_MAX: none). */
static uint64_t dec_bound(const struct vc_decision *d, uint32_t n, uint64_t eview)
{
	for (uint32_t i = 0; i < n; i++)
		if (d[i].view > eview)
			return d[i].hole; /* the least hole of the views above eview */
	return UINT64_MAX;
}

/* Adds a decision to the staircase d[0..*n) (capacity CORE_DECISIONS_MAX). Returns false if the
 * staircase was full and its oldest decision (or this one, if older still) was forgotten. */
static bool dec_add(struct vc_decision *d, uint32_t *n, uint64_t view, uint64_t hole)
{
	uint32_t i = 0;
	while (i < *n && d[i].view < view)
		i++;
	if (i < *n && d[i].hole <= hole)
		return true; /* a decision of this view or a later one bounds as much */
	uint32_t j = i; /* d[j..i): earlier views whose holes this one undercuts */
	while (j > 0 && d[j - 1].hole >= hole)
		j--;
	bool kept = true;
	if (*n - (i - j) == CORE_DECISIONS_MAX) {
		kept = false;
		if (i == 0)
			return false; /* older than all of them: this one goes */
		memmove(d, d + 1, (*n - 1) * sizeof *d);
		(*n)--;
		i--;
		j = j ? j - 1 : 0;
	}
	memmove(d + j + 1, d + i, (*n - i) * sizeof *d);
	d[j] = (struct vc_decision){.view = view, .hole = hole};
	*n = *n - (i - j) + 1;
	return kept;
}

/* Forgets the decisions of views before `view` (a view installed here). */
static void dec_trim(struct core *c, uint64_t view)
{
	uint32_t k = 0;
	while (k < c->n_decs && c->decs[k].view < view)
		k++;
	memmove(c->decs, c->decs + k, (c->n_decs - k) * sizeof *c->decs);
	c->n_decs -= k;
}

/* Follower, installing: once it holds, in this view, every slot from its execution index to
 * the new leader's cut, the view is installed here: entries of older views from the cut on are
 * dropped (the new leader discarded them), so are the older view's witness records, and
 * witnesses record again. */
void core_vc_check_install(struct core *c)
{
	core_acc_advance(c);
	if (c->acc_next < c->vc_cut)
		return;
	for (uint64_t s = c->vc_cut; s < c->log_end; s++) {
		struct entry *e = slot_entry(c, s);
		if (e != NULL && e->view < c->view && !e->executed) {
			core_entry_clear(e);
			core_persist_drop(c, s);
		}
	}
	core_witness_install(c);
	c->inst_view = c->view;
	c->inst_cut = c->vc_cut;
	dec_trim(c, c->inst_view);
	c->installing = false;
	c->active = true;
	if (c->acc_next > 0)
		core_follower_ack(c, c->acc_next - 1, c->acc_next - 1); /* tells the leader */
}

void core_send_install(struct core *c, int to)
{
	struct proto_msg m = {.type = PROTO_VC_INSTALL,
			      .view = c->view,
			      .cut = c->inst_cut,
			      .commit = c->commit_index,
			      .slot = c->inst_hole};
	c->io.to_peer(c->io.ctx, to, &m);
}

/* Remembers that view's leader decided a log whose collected entries ended at hole (reported
 * in VC_DONE and VC_DECIDED). */
static void note_decided(struct core *c, uint64_t view, uint64_t hole)
{
	if (view > c->dec_view) {
		c->dec_view = view;
		c->dec_hole = hole;
	}
	if (view >= c->inst_view && !dec_add(c->decs, &c->n_decs, view, hole))
		core_vc_note(c, false,
			     "view %llu: more than %d decisions known since view %llu was installed "
			     "here: the oldest forgotten",
			     (unsigned long long)c->view, CORE_DECISIONS_MAX,
			     (unsigned long long)c->inst_view);
}

void core_on_vc_install(struct core *c, int from, const struct proto_msg *m)
{
	if (m->view != c->view || from != c->leader || c->active || is_leader(c))
		return;
	c->installing = true;
	c->vc_cut = m->cut;
	note_decided(c, m->view, m->slot);
	if (m->commit > c->commit_known)
		c->commit_known = m->commit;
	core_vc_check_install(c);
	core_execute_ready(c);
}

/* Leader: registers e as in flight (cid index, key index, a descriptor if one is free). */
static void register_led(struct core *c, struct entry *e)
{
	assert(is_leader(c) && !e->led && !e->executed);
	desc_id did;
	void *payload;
	if (desc_acquire(c->desc, false, &did, &payload) == 0) {
		e->desc = did;
		*(uint64_t *)payload = e->slot;
	} else {
		e->desc = 0; /* the pool is full: the entry is in flight all the same */
	}
	if (e->cid.client != 0) {
		uint8_t inflight_key[16];
		cid_key(&e->cid, inflight_key);
		if (cmap_put(c->inflight, inflight_key, 16, (void *)(uintptr_t)(e->slot + 1), NULL) !=
		    0)
			core_oom(c, "the leader's index of commands in flight");
	}
	if (e->op == PROTO_OP_EXPIRE)
		core_lease_led(c, e); /* its clients wait until it executes */
	if (is_client_op(e->op)) {
		struct keyidx_arg ka = {.slot = e->slot,
					.write = is_write_op(e->op),
					.weak = e->kind == EK_HO_WEAK,
					.cid = e->cid};
		core_keyidx_add(c, e, &ka);
	}
	e->led = true;
}

/* Puts item it at `slot` of the log (the ring has room); the entry takes its bytes. */
static struct entry *vc_place(struct core *c, uint64_t slot, struct vc_item *it)
{
	struct entry *e = &c->ring[slot & (c->cap - 1)];
	if (e->used)
		core_entry_clear(e);
	e->used = true;
	e->slot = slot;
	e->view = c->view;
	e->cid = it->cid;
	e->op = it->op;
	e->kv = it->kv; /* (moved: see union kvs) */
	e->klen = it->klen;
	e->vlen = it->vlen;
	e->scan_count = it->op == PROTO_OP_SCAN ? it->scan_count : 0;
	kvs_forget(&it->kv, it->klen, it->vlen);
	core_persist_entry(c, e);
	return e;
}

/* True if a collected item takes part in the decision: an entry from slot lo on, unless a
 * later view's leader discarded it: an older view's entry at or after the cut of the latest
 * view installed at a collected replica, or at or after the hole of the latest view whose
 * decision reached one (its VC_INSTALL came, installed or not). That leader put other commands
 * there, and none of those older entries was committed. Found by the simulation: curpho N=3
 * seed 2440, a deposed leader back from a pause had ordered a session's writes in its old view
 * past the cut of a view decided without it, and seed 4672, a deposed leader's entries landed
 * on slots where the next view replayed other commands; mixed with the later view's entries,
 * they put a session's writes out of order; every record, of any view: a command that is in
 * the log or executed is no candidate, and one whose place in a later view's log was
 * discarded (beyond the hole of a view decided without the replicas that held it) is found
 * again only in the records of the view it completed in, at the replicas that installed no
 * later view (sim curp N=5 profile 2 seed 507: a fast-path GET, replayed by view 1 and view 2,
 * lost by view 3, which counted only records of view 1). Strong records with ok=false count
 * for nothing but the order in which their replica recorded things (core_replay.c). */
static bool vc_useful(const struct core *c, const struct vc_item *it, uint64_t lo,
		      const struct vc_decision *dec, uint32_t ndec)
{
	if (it->decided)
		return false;
	if (it->record)
		return true;
	return it->slot >= lo && !(it->eview < c->vc_iview && it->slot >= c->vc_icut) &&
	       it->slot < dec_bound(dec, ndec, it->eview);
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

void core_vc_note(struct core *c, bool detail, const char *fmt, ...)
{
	if (c->io.note == NULL)
		return;
	char line[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	c->io.note(c->io.ctx, detail, line);
}

/* New leader: appends the commands recovered from witness records in the order core_replay.c
 * decides (docs/recovery.md "Replay order"). */
static void vc_replay(struct core *c, struct vc_item **rv, const struct replay_cand *cand,
		      uint32_t nc, int threshold)
{
	assert(is_leader(c) && !c->active);
	uint32_t *order = malloc((nc ? nc : 1) * sizeof *order);
	struct replay_stats rs;
	int n = order ? core_replay_order(rv, cand, nc, threshold,
					  c->cfg.protocol == CONF_PROTO_CURPHO, order, &rs)
		      : -ENOMEM;
	if (n < 0) /* (the log below the replays is decided already) */
		core_oom(c, "ordering a view change's replays");
	assert((uint32_t)n <= nc);

	c->st.vc_dropped += rs.dropped;
	c->st.vc_relaxed += rs.relaxed;
	for (int k = 0; k < n; k++) {
		assert(order[k] < nc);
		const struct replay_cand *x = &cand[order[k]];
		struct entry *e = vc_place(c, c->next_slot, rv[x->lo]);
		c->next_slot++;
		c->log_end = c->next_slot;
		e->acks = 1u << c->cfg.self;
		core_unacked(c, e->slot);
		e->kind = x->weak ? EK_HO_WEAK : EK_STRONG;
		register_led(c, e);
		c->st.vc_recovered++;
		core_vc_note(c, true, "view %llu: slot %llu: %s %s of %llu-%llu replayed",
			(unsigned long long)c->view, (unsigned long long)e->slot,
			x->weak ? "weak" : "strong", proto_op_name(e->op),
			(unsigned long long)e->cid.client, (unsigned long long)e->cid.seq);
	}
	free(order);
	core_vc_note(c, false,
		"view %llu: %u command(s) replayed from witness records, %u left out (their "
		"session re-sends them), %u placed against contradictory evidence",
		(unsigned long long)c->view, (unsigned)n, rs.dropped, rs.relaxed);
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
	assert(is_leader(c) && !c->active);
	uint64_t lo = c->exec_index;
	uint32_t ne = 0, nr = 0;
	/* every decision the collected replicas know ("decisions" above) */
	struct vc_decision dec[CORE_DECISIONS_MAX];
	uint32_t ndec = 0;
	if (c->vc_dview > 0)
		(void)dec_add(dec, &ndec, c->vc_dview, c->vc_dhole);
	for (uint32_t i = 0; i < c->vc_items.n; i++) {
		const struct vc_item *it = &c->vc_items.v[i];
		if (it->decided && !dec_add(dec, &ndec, it->eview, it->slot))
			core_vc_note(c, false, "view %llu: more than %d decisions collected: the "
					       "oldest forgotten",
				     (unsigned long long)c->view, CORE_DECISIONS_MAX);
	}
	for (uint32_t i = 0; i < c->vc_items.n; i++) {
		const struct vc_item *it = &c->vc_items.v[i];
		if (vc_useful(c, it, lo, dec, ndec))
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
		if (vc_useful(c, it, lo, dec, ndec)) {
			if (it->record)
				rv[nr++] = it;
			else
				ev[ne++] = it;
		}
	}
	qsort(ev, ne, sizeof *ev, vc_entry_cmp);
	/* a slot a collected replica executed is decided: take its entry if it still holds it,
	 * whatever view another replica's entry there is of (one that missed that slot's view
	 * may hold a stale one, and the replicas that executed it may have freed theirs: sim
	 * curpht N=5 profile 2 seed 1212, a weak write executed at two slots) */
	uint64_t exec_hi = lo;
	for (int p = 0; p < c->cfg.n; p++)
		if ((c->vc_done & (1u << p)) && c->vc_exec[p] > exec_hi)
			exec_hi = c->vc_exec[p];
	uint64_t end = lo;
	for (uint32_t i = 0; i < ne && ev[i]->slot <= end;) {
		uint32_t j = i;
		while (j < ne && ev[j]->slot == ev[i]->slot)
			j++;
		if (ev[i]->slot == end) {
			struct vc_item *pick = end < exec_hi ? NULL : ev[i]; /* highest view first */
			for (uint32_t k = i; k < j && pick == NULL; k++)
				if (c->vc_exec[ev[k]->from] > end && ev[k]->from != c->cfg.self)
					pick = ev[k];
			if (pick == NULL)
				break; /* executed elsewhere, freed there: ask for the state */
			chosen[end - lo] = pick;
			end++;
		}
		i = j;
	}
	if (end < c->vc_commit || end < exec_hi || core_ring_fit(c, end + nr) != 0) {
		/* committed slots no collected log holds any more: a replica that executed past
		 * them dropped them (its log keeps a tail). Its executed state is what this
		 * leader lacks: ask for it, and collect again from there (sim curp N=3 profile 2
		 * seed 1250: a deposed leader back in the majority had executed 55 slots further,
		 * and the view change waited forever) */
		c->st.vc_stuck++;
		core_vc_note(c, true,
			"view %llu: collected entries end at %llu, below the commit index %llu "
			"collected (replicas 0x%x, executed here %llu)",
			(unsigned long long)c->view, (unsigned long long)end,
			(unsigned long long)c->vc_commit, c->vc_done,
			(unsigned long long)c->exec_index);
		int best = -1;
		for (int p = 0; p < c->cfg.n; p++)
			if (p != c->cfg.self && (c->vc_done & (1u << p)) &&
			    c->vc_exec[p] > c->exec_index && (best < 0 || c->vc_exec[p] > c->vc_exec[best]))
				best = p;
		if (best >= 0 && (end < c->vc_commit || end < exec_hi))
			core_vc_pull(c, best, now_ns); /* (unless one is under way) */
		goto out;
	}
	/* a state asked for (vc_pull) is not needed now that the collected logs reach far
	 * enough; deciding over a transfer half arrived would read its tables as this replica's
	 * state (sim curpho N=3 profile 2 seed 1714: an executed weak write replayed again) */
	if (c->snap_wanted && c->vc_pull_from >= 0)
		core_snap_abandon(c);
	for (uint64_t s = lo; s < c->log_end; s++) {
		struct entry *e = slot_entry(c, s);
		if (e != NULL) {
			core_entry_clear(e);
			core_persist_drop(c, s);
		}
	}
	for (uint64_t s = lo; s < end; s++)
		vc_place(c, s, chosen[s - lo]);
	core_vc_note(c, true,
		"view %llu: log [%llu, %llu) from the entries of replicas 0x%x (commit %llu; "
		"installed view %llu cut %llu, decided view %llu hole %llu, %u decisions from view "
		"%llu hole %llu), %llu dropped after",
		(unsigned long long)c->view, (unsigned long long)lo, (unsigned long long)end,
		c->vc_done, (unsigned long long)c->vc_commit, (unsigned long long)c->vc_iview,
		(unsigned long long)c->vc_icut, (unsigned long long)c->vc_dview,
		(unsigned long long)c->vc_dhole, ndec,
		(unsigned long long)(ndec ? dec[0].view : 0),
		(unsigned long long)(ndec ? dec[0].hole : 0),
		(unsigned long long)(c->log_end > end ? c->log_end - end : 0));
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
		bool relabeled = e->view != c->view;
		e->view = c->view;
		if (relabeled && !e->executed)
			core_persist_entry(c, e);
		e->acks = 1u << c->cfg.self;
		core_unacked(c, s);
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

	int threshold = MUTANT_NO_REPLAY ? c->cfg.n + 1 /* mutant: never replayed */
					 : (c->f + 1) / 2 + 1;
	/* candidates: every weak write recorded anywhere (HO), every strong command with ok
	 * records at the threshold; neither executed nor in the log already */
	struct replay_cand *cand = calloc(nr ? nr : 1, sizeof *cand);
	uint32_t nc = 0;
	if (cand == NULL) /* (the log is half decided: no way back to collecting) */
		core_oom(c, "a view change's replay candidates");
	uint64_t low = 0; /* the client's highest watermark any collected replica heard */
	for (uint32_t i = 0; i < nr;) {
		if (i == 0 || rv[i]->cid.client != rv[i - 1]->cid.client) {
			low = core_client_low_seq(c, rv[i]->cid.client);
			for (uint32_t k = i; k < nr && rv[k]->cid.client == rv[i]->cid.client; k++)
				low = rv[k]->low_seq > low ? rv[k]->low_seq : low;
		}
		uint32_t j = i;
		int holders = 0, last = -1;
		bool weak = false;
		for (; j < nr && rv[j]->cid.client == rv[i]->cid.client &&
		       rv[j]->cid.seq == rv[i]->cid.seq;
		     j++) {
			if (rv[j]->ok && rv[j]->from != last) {
				holders++;
				last = rv[j]->from;
			}
			weak |= rv[j]->weak;
		}
		uint8_t inflight_key[16];
		cid_key(&rv[i]->cid, inflight_key);
		if ((weak || holders >= threshold) && !core_already_executed(c, &rv[i]->cid) &&
		    core_inflight_slot(c, inflight_key) == NO_SLOT) {
			struct proto_cid d = {rv[i]->cid.client, rv[i]->weak_dep};
			bool known = d.seq == 0 || core_dep_ordered(c, d.client, d.seq) ||
				     core_already_executed(c, &d);
			cand[nc++] = (struct replay_cand){.lo = i,
							  .hi = j,
							  .weak = weak,
							  .weak_dep_known = known,
							  .completed = low > rv[i]->cid.seq};
		}
		i = j;
	}
	vc_replay(c, rv, cand, nc, threshold);
	free(cand);
	/* the decided log ends after the replayed commands: a follower installs this view (and
	 * drops its older records) only once it holds all of them */
	c->inst_cut = c->next_slot;
	c->inst_hole = end;
	note_decided(c, c->view, end);
	dec_trim(c, c->inst_view);
	if (c->vc_commit > c->commit_index)
		c->commit_index = c->vc_commit;
	c->commit_known = c->commit_index;
	core_witness_install(c);
	c->active = true;
	core_lease_installed(c, now_ns);
	memset(c->commit_sent, 0, sizeof c->commit_sent);
	c->accept_peers = 0;
	if (desc_in_use(c->desc) >= desc_capacity(c->desc))
		core_set_intake(c, false);
	core_vc_reset(c);
	for (int p = 0; p < c->cfg.n; p++)
		if (p != c->cfg.self)
			core_peer_up(c, p, now_ns); /* VC_INSTALL, then what p lacks */
	core_advance_commit(c, now_ns);
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

/* New leader, collecting, every tick: gives up a state transfer it asked for that stopped
 * arriving, asks again whoever has not answered whole, and tries to decide again (which asks
 * for a state again if it still needs one). */
void core_vc_tick(struct core *c, uint64_t now_ns)
{
	if (c->snap_open && now_ns - c->snap_heard_ns >= 4 * c->cfg.resend_after_ns) {
		core_snap_abandon(c);
		c->st.snap_failed++;
	}
	if (now_ns - c->vc_req_ns < c->cfg.resend_after_ns)
		return;
	core_vc_request(c, now_ns);
	vc_try_decide(c, now_ns);
}

/* New leader: asks every replica not collected yet for its state. */
void core_vc_request(struct core *c, uint64_t now_ns)
{
	assert(is_leader(c) && !c->active);
	struct proto_msg r = {.type = PROTO_VC_REQ, .view = c->view, .slot = c->exec_index};
	for (int p = 0; p < c->cfg.n; p++) {
		if (p == c->cfg.self || (c->vc_done & (1u << p)))
			continue;
		if (c->vc_heard_ns[p] != 0 && now_ns - c->vc_heard_ns[p] < c->cfg.resend_after_ns)
			continue; /* its answer is still arriving: a new request would void it */
		const struct vc_list *l = &c->vc_pending[p];
		if (l->round == c->vc_req_round[p] && l->round != 0 && !l->nomem && l->next > 0) {
			/* resume that answer where an item went missing: while the view change
			 * collects, a replica's state does not change, nor the order it lists it
			 * in (big answers over a lossy path would otherwise rarely arrive whole:
			 * sim curp N=3 profile 2 seed 1471, 694 items, 10 s) */
			r.round = l->round;
			r.slot_hi = l->next;
		} else {
			r.round = ++c->vc_round;
			r.slot_hi = 0;
			c->vc_req_round[p] = r.round;
		}
		c->io.to_peer(c->io.ctx, p, &r);
	}
	c->vc_req_ns = now_ns;
}

/* Leader stepping down: nothing of its view is in flight any more. */
static void step_down(struct core *c)
{
	for (uint64_t s = c->log_base; s < c->log_end; s++) {
		struct entry *e = slot_entry(c, s);
		if (e != NULL && e->led)
			core_unregister_led(c, e);
	}
	core_set_intake(c, true);
}

/* New leader: (re)starts collecting the replicas' state from its own execution index. */
void core_vc_collect(struct core *c, uint64_t now_ns)
{
	assert(is_leader(c) && !c->active);
	core_vc_reset(c);
	c->vc_pull_from = -1;
	vc_send_state(c, -1, c->exec_index, 0, 0);
	if (c->vc_items.nomem) /* (its own state is counted collected: it must be whole) */
		core_oom(c, "collecting its own state for a view change");
	core_vc_request(c, now_ns);
	vc_try_decide(c, now_ns);
}

/* Enters `view` led by `leader` (7.2 step 1, the fence): from now on nothing of an older view
 * is recorded, accepted, acknowledged or answered here. */
void core_view_enter(struct core *c, uint64_t view, int leader, uint64_t now_ns)
{
	if (view <= c->view || leader < 0 || leader >= c->cfg.n)
		return;
	if (is_leader(c))
		step_down(c);
	core_lease_view_enter(c);
	/* a transfer belongs to the view it was asked in: one still arriving is dropped (its
	 * frames of the old view would be ignored from now on) and the state it was replacing
	 * is back; whoever needs one asks again */
	core_snap_abandon(c);
	core_xfer_stop_all(c); /* what this replica was sending belongs to the old view too */
	c->view = view;
	c->leader = leader;
	c->active = false;
	c->installing = false;
	c->vc_start_ns = now_ns;
	c->ack_pending = false;
	c->acc_next = c->exec_index;
	core_vc_reset(c);
	c->st.view_changes++;
	if (leader == c->cfg.self)
		core_vc_collect(c, now_ns);
}

void core_view_change(struct core *c, uint64_t view, int leader, uint64_t now_ns)
{
	core_view_enter(c, view, leader, now_ns);
	core_persist_point(c);
	core_check(c);
}

void core_on_vc_req(struct core *c, int from, const struct proto_msg *m)
{
	if (m->view != c->view || from != c->leader || c->active || is_leader(c))
		return;
	if (c->hold)
		return; /* 7.3: its records were lost: it cannot be counted in the majority */
	vc_send_state(c, from, m->slot, m->round, m->slot_hi);
}

void core_on_vc_item(struct core *c, int from, const struct proto_msg *m, uint64_t now_ns)
{
	if (m->view != c->view || !is_leader(c) || c->active || (c->vc_done & (1u << from)))
		return;
	if (m->round != c->vc_req_round[from])
		return; /* an answer to an earlier request (late, or a duplicate) */
	struct vc_list *l = &c->vc_pending[from];
	if (l->round != m->round) {
		vc_list_clear(l);
		l->round = m->round;
	}
	if (m->type != PROTO_VC_DONE) {
		c->vc_heard_ns[from] = now_ns;
		if (m->slot_hi != l->next)
			return; /* came already, or after a lost one (the answer resumes there) */
		l->next++;
		vc_list_add(l, from, m);
		return;
	}
	/* whole (every item, each once, in order) or not yet: the next request resumes it; the
	 * simulation found a lost item made up for by a duplicated one under a count alone
	 * (curp N=3 profile 2 seed 447: a committed entry missed, two commands at one slot) */
	c->vc_heard_ns[from] = 0;
	if (!l->nomem && l->next == m->slot_hi && l->n == m->slot_hi &&
	    vc_list_move(&c->vc_items, l) == 0) {
		c->vc_done |= 1u << from;
		c->vc_exec[from] = m->slot;
		if (m->commit > c->vc_commit)
			c->vc_commit = m->commit;
		if (m->eview > c->vc_iview) {
			c->vc_iview = m->eview;
			c->vc_icut = m->cut;
		}
		if (m->dview > c->vc_dview) {
			c->vc_dview = m->dview;
			c->vc_dhole = m->dhole;
		}
		vc_try_decide(c, now_ns);
	} else if (l->nomem || l->next > m->slot_hi) {
		vc_list_clear(l); /* start over with a new request */
		l->round = 0;
	}
}
