/* replica/core_snap: catch-up and state transfer (PROTOCOL.md 7.3): a follower that misses log
 * entries asks the leader, which re-sends them or sends its whole executed state. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "replica/core_int.h"

/* ---- catch-up and state transfer (PROTOCOL.md 7.3) -------------------------------------- */

/* Leader: replica `from` lacks what follows its execution index m->slot. It is told the view
 * (VC_INSTALL: a restarted replica never installed it), then sent its log from there, or, when
 * the log no longer reaches back that far (or it asks for the state outright), the executed
 * state as a stream (core_xfer.c), the log from the state's slot following it. At most one
 * answer per re-send period and replica. */
void core_leader_on_catchup(struct core *c, int from, const struct proto_msg *m, uint64_t now_ns)
{
	assert(is_leader(c));
	if (m->view != c->view) {
		c->st.stale_view++;
		return;
	}
	if (!c->active ||
	    (c->snap_sent_ns[from] != 0 && now_ns - c->snap_sent_ns[from] < c->cfg.resend_after_ns))
		return;
	c->snap_sent_ns[from] = now_ns;
	c->inst_acked &= ~(1u << from);
	core_send_install(c, from);
	if (m->slot < c->log_base || m->ok) {
		core_xfer_start(c, from, m->round, true, now_ns);
		return;
	}
	core_xfer_stop(c, from); /* (a transfer it no longer waits for) */
	core_xlog_start(c, from, m->slot, now_ns);
}

/* Follower: the new leader of its view, collecting the view change, cannot decide: committed
 * slots below the highest commit index collected are in no collected log, and this replica
 * executed further (vc_pull in core_vc.c). It sends its executed state, if it has a whole
 * one; a transfer that would not be whole is not sent (the leader asks again). */
void core_follower_on_pull(struct core *c, int from, const struct proto_msg *m, uint64_t now_ns)
{
	if (m->view != c->view || from != c->leader || c->active || c->snap_open || c->hold)
		return;
	core_xfer_start(c, from, m->round, false, now_ns);
}

/* New leader, collecting: asks replica p for its executed state (core_follower_on_pull), at
 * most once per re-send period, VC_PULL_TRIES times in a row at most. */
#define VC_PULL_TRIES 4
void core_vc_pull(struct core *c, int p, uint64_t now_ns)
{
	assert(is_leader(c) && !c->active);
	if (c->snap_open ||
	    (c->catchup_sent_ns != 0 && now_ns - c->catchup_sent_ns < c->cfg.resend_after_ns))
		return;
	if (p != c->vc_pull_last) {
		c->vc_pull_last = p;
		c->vc_pull_tries = 0;
	}
	if (++c->vc_pull_tries > VC_PULL_TRIES) {
		/* p answered the collection but does not send the state it reported: it lost
		 * it since (restarted empty, so it will not answer again) or cannot reach here.
		 * Its answer cannot be relied on: collect again, from whoever answers now (any
		 * majority decides; sim curpho N=3 profile 1 seed 4090: the deposed leader
		 * answered, then restarted with its state lost, and the new leader asked it for
		 * that state forever) */
		core_snap_abandon(c);
		core_vc_note(c, true,
			     "view %llu: replica %d did not send the state it reported (%u asks): "
			     "collecting again",
			     (unsigned long long)c->view, p, (unsigned)VC_PULL_TRIES);
		c->st.vc_recollect++;
		core_vc_collect(c, now_ns);
		return;
	}
	struct proto_msg q = {.type = PROTO_CATCHUP,
			      .view = c->view,
			      .slot = c->exec_index,
			      .ok = true,
			      .round = ++c->snap_round};
	c->io.to_peer(c->io.ctx, p, &q);
	c->catchup_sent_ns = now_ns;
	c->snap_wanted = true;
	c->vc_pull_from = p;
	c->st.vc_pulls++;
}

/* Follower (or a new leader pulling): a transfer begins. The executed state it replaces is
 * set aside (snap_old) and fresh tables receive the items; snap_end puts back or frees the
 * old one. */
static bool snap_begin(struct core *c, uint64_t now_ns)
{
	c->snap_prev_exec = c->exec_index;
	c->snap_heard_ns = now_ns;
	c->snap_begin_ns = now_ns;
	c->snap_silent_ticks = 0;
	struct cmap *kv = NULL, *results = NULL, *clients = NULL;
	struct oset *order = NULL;
	if (cmap_create_lock(c->cfg.shards, core_free_val, CMAP_LOCK_NONE, &kv) != 0 ||
	    oset_create((uint64_t)c->cfg.self + 1, &order) != 0 ||
	    cmap_create_lock(c->cfg.shards, core_free_val, CMAP_LOCK_NONE, &results) != 0 ||
	    cmap_create_lock(64, core_free_client_rec, CMAP_LOCK_NONE, &clients) != 0) {
		if (kv)
			cmap_destroy(kv);
		if (order)
			oset_destroy(order);
		if (results)
			cmap_destroy(results);
		return false;
	}
	c->snap_old.kv = c->kv;
	c->snap_old.order = c->order;
	c->snap_old.results = c->results;
	c->snap_old.clients = c->clients;
	c->snap_old.digest = c->digest;
	c->snap_old.live_keys = c->live_keys;
	c->snap_old.del_ver = c->del_ver;
	c->snap_old.exp_floor = c->exp_floor;
	core_xfer_stop_all(c); /* the state it was sending is being replaced */
	c->kv = kv;
	c->order = order;
	c->results = results;
	c->clients = clients;
	c->digest = 0;
	c->live_keys = 0;
	c->del_ver = 0;
	c->exp_floor = 0; /* (SNAP_DONE carries it; no client is refused meanwhile) */
	c->snap_open = true;
	c->snap_items = 0;
	c->snap_nomem = false;
	c->snap_broken = false;
	c->snap_next = 0;
	core_persist_snap(c, CREC_SNAP_BEGIN, NULL);
	return true;
}

/* Ends the open transfer: keeps the new state (whole) or puts the old one back. */
static void snap_end(struct core *c, bool whole)
{
	if (!c->snap_open)
		return;
	c->snap_open = false;
	if (!whole) {
		core_persist_snap(c, CREC_SNAP_ABORT, NULL);
		cmap_destroy(c->kv);
		oset_destroy(c->order);
		cmap_destroy(c->results);
		cmap_destroy(c->clients);
		c->kv = c->snap_old.kv;
		c->order = c->snap_old.order;
		c->results = c->snap_old.results;
		c->clients = c->snap_old.clients;
		c->digest = c->snap_old.digest;
		c->live_keys = c->snap_old.live_keys;
		c->del_ver = c->snap_old.del_ver;
		c->exp_floor = c->snap_old.exp_floor;
	} else {
		cmap_destroy(c->snap_old.kv);
		oset_destroy(c->snap_old.order);
		cmap_destroy(c->snap_old.results);
		cmap_destroy(c->snap_old.clients);
	}
	memset(&c->snap_old, 0, sizeof c->snap_old);
}

/* A new leader that asked for a state no longer needs it (it can decide without): the open
 * transfer, if any, is dropped and the state it would have replaced is back. */
void core_snap_abandon(struct core *c)
{
	snap_end(c, false);
	c->snap_wanted = false;
	c->vc_pull_from = -1;
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
		core_free_client_rec(cr);
		c->snap_nomem = true;
		return;
	}
	if (old)
		core_free_client_rec(old);
}

struct sweep {
	struct core *c;
	struct proto_cid *cid;
	uint32_t n, cap;
	bool nomem;
};

static void sweep_cb(const void *key, size_t klen, void *val, void *arg)
{
	struct sweep *w = arg;
	const struct wlist *l = val;
	(void)key;
	(void)klen;
	for (uint32_t i = l->head; i < l->n; i++) {
		if (!core_already_executed(w->c, &l->r[i].cid))
			continue;
		if (w->n == w->cap) {
			uint32_t ncap = w->cap ? w->cap * 2 : 16;
			struct proto_cid *nc = realloc(w->cid, ncap * sizeof *nc);
			if (nc == NULL) {
				w->nomem = true;
				return;
			}
			w->cid = nc;
			w->cap = ncap;
		}
		w->cid[w->n++] = l->r[i].cid;
	}
}

/* Drops the witness records of commands the transferred state says were executed (they would
 * otherwise linger: their ACCEPTs, and the removal at execution, happened before the state;
 * a lingering weak record would answer its session's reads with a value overwritten since). */
static void witness_sweep_executed(struct core *c)
{
	struct keybag b = {0};
	cmap_foreach(c->witness, core_keybag_cb, &b);
	if (b.nomem)
		core_oom(c, "sweeping the witness records a state transfer executed");
	for (uint32_t i = 0; i < b.n; i++) {
		struct sweep w = {.c = c};
		cmap_get(c->witness, b.k[i], b.len[i], sweep_cb, &w);
		if (w.nomem)
			core_oom(c, "sweeping the witness records a state transfer executed");
		for (uint32_t j = 0; j < w.n; j++) {
			struct cached_slot cs = {0};
			uint64_t slot = 0;
			if (core_cached_slot(c, &w.cid[j], &cs))
				slot = cs.slot;
			core_witness_remove(c, &w.cid[j], slot, b.k[i], b.len[i], PROTO_ST_OK);
		}
		free(w.cid);
	}
	core_keybag_free(&b);
}

/* Follower: the transfer is whole: the state is the leader's at slot `at`; the log from there
 * on is what this replica holds (or will be sent). */
static void snap_install(struct core *c, const struct proto_msg *m)
{
	uint64_t at = m->slot;
	for (uint64_t s = c->log_base; s < at && s < c->log_base + c->cap; s++) {
		struct entry *e = slot_entry(c, s);
		if (e)
			core_entry_clear(e);
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
		core_vc_check_install(c);
	} else if (c->active) {
		core_acc_advance(c);
		if (c->acc_next > at)
			core_follower_ack(c, at, c->acc_next - 1);
	}
	core_execute_ready(c);
}

/* Follower: the transfer that replaced the state failed: the state is unusable; ask for all of
 * it again at the next tick. */
static void snap_fail(struct core *c, const char *why)
{
	core_vc_note(c, false, "state transfer round %llu failed after %llu item(s): %s; asking again",
		     (unsigned long long)c->snap_round, (unsigned long long)c->snap_items, why);
	snap_end(c, false); /* the replica is as it was before the transfer */
	c->snap_retry = true;
	c->st.snap_failed++;
	c->catchup_sent_ns = 0;
}

static void snap_apply(struct core *c, const struct proto_msg *m);
static void snap_done(struct core *c, const struct proto_msg *m);

void core_follower_on_snap(struct core *c, const struct proto_msg *m, uint64_t now_ns)
{
	if (!c->snap_wanted)
		return; /* not asked for */
	if (m->round != c->snap_round) {
		c->st.snap_dups++; /* the answer to an earlier CATCHUP: late, or duplicated */
		return;
	}
	if (!c->snap_open && !snap_begin(c, now_ns))
		return; /* counted missing: the transfer fails at SNAP_DONE */
	if (m->type != PROTO_SNAP_DONE) {
		c->snap_heard_ns = now_ns;
		c->snap_silent_ticks = 0;
		if (m->slot_hi < c->snap_next) {
			c->st.snap_dups++; /* came already */
			return;
		}
		if (m->slot_hi > c->snap_next)
			c->snap_broken = true; /* one was lost: the transfer cannot be whole */
		c->snap_next = m->slot_hi + 1;
		c->snap_items++;
		core_persist_snap(c, CREC_SNAP_ITEM, m);
		snap_apply(c, m);
		return;
	}
	c->snap_wanted = false;
	if (c->snap_items != m->slot_hi || c->snap_next != m->slot_hi || c->snap_nomem ||
	    c->snap_broken || m->slot < c->snap_prev_exec) {
		/* incomplete (an item lost on the way, or memory), or older than what this
		 * replica had executed */
		snap_fail(c, c->snap_nomem		? "out of memory"
			     : c->snap_broken		? "an item lost on the way"
			     : m->slot < c->snap_prev_exec ? "older than the state here"
						       : "items missing at its end");
		return;
	}
	core_persist_snap(c, CREC_SNAP_DONE, m);
	c->snap_retry = false;
	c->st.snap_last_us = (now_ns - c->snap_begin_ns) / 1000;
	snap_done(c, m);
	if (is_leader(c) && !c->active)
		core_vc_collect(c, now_ns); /* again, from its new execution index */
}

/* One item of a transfer (not its SNAP_DONE) into the state being built. */
static void snap_apply(struct core *c, const struct proto_msg *m)
{
	{
		if (m->type == PROTO_SNAP_KV) {
			/* a chunk of keys (checked when decoded), in the order they were sent */
			uint32_t off = 0;
			struct proto_snap_item it;
			while (proto_snap_next(m->value, m->vlen, &off, &it) == 1) {
				struct proto_cmd cmd = {.op = it.del ? PROTO_OP_DEL : PROTO_OP_PUT,
							.key = it.key,
							.klen = it.klen,
							.val = it.val,
							.vlen = it.vlen};
				if (!c->cfg.noop && core_kv_apply(c, it.ver, &cmd) != 0)
					c->snap_nomem = true; /* the transfer cannot be whole */
			}
		} else if (m->type == PROTO_SNAP_CLIENT) {
			snap_client(c, m);
		} else if (core_cache_result(c, &m->cid, m->fp, m->slot, m->ver, m->status,
					     m->value, m->vlen) != 0) {
			c->snap_nomem = true;
		}
	}
}

/* The transfer is whole (SNAP_DONE m): its state replaces this replica's. */
static void snap_done(struct core *c, const struct proto_msg *m)
{
	snap_end(c, true);
	c->del_ver = m->ver;
	c->exp_floor = m->client_id; /* the sender's, at the same slot */
	if (c->exp_floor > c->exp_decided)
		c->exp_decided = c->exp_floor;
	snap_install(c, m);
}

/* Restore (core_persist.c): a transfer's record, as the live transfer went. Returns 0 or
 * -EINVAL (an item or an end without a transfer begun), -ENOMEM. */
int core_snap_restore(struct core *c, uint8_t type, const struct proto_msg *m)
{
	switch (type) {
	case CREC_SNAP_BEGIN:
		snap_end(c, false); /* (a transfer begun and never ended: its process stopped) */
		return snap_begin(c, 0) ? 0 : -ENOMEM;
	case CREC_SNAP_ITEM:
		if (!c->snap_open)
			return -EINVAL;
		snap_apply(c, m);
		return c->snap_nomem ? -ENOMEM : 0;
	case CREC_SNAP_ABORT:
		snap_end(c, false);
		return 0;
	case CREC_SNAP_DONE:
		if (!c->snap_open)
			return -EINVAL;
		snap_done(c, m);
		return 0;
	default:
		return -EINVAL;
	}
}

/* Follower, every tick: asks the leader for what it lacks (restarted, stuck at a slot the leader
 * re-sends no more, or holding an unusable state), and ends the rejoin hold (7.3) once every
 * slot the leader had assigned a grace period after the restart is executed here. */
void core_follower_tick(struct core *c, uint64_t now_ns)
{
	assert(!is_leader(c));
	if (c->snap_open && ++c->snap_silent_ticks >= 2 &&
	    now_ns - c->snap_heard_ns >= 4 * c->cfg.resend_after_ns) {
		/* the transfer stopped before its SNAP_DONE (the connection broke): start over.
		 * Not at the first tick after the last item: a receiver whose process did not run
		 * for that long (a loaded machine) runs its timer before reading what came
		 * meanwhile, and discarded a 1 GB transfer twice that way (scripts/large-state.sh,
		 * 4 M keys) */
		snap_fail(c, "nothing came for 4 re-send periods");
	}
	bool want = c->snap_retry || (c->cfg.rejoin && !c->caught_up_once) ||
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
	if (want && !c->snap_open &&
	    (c->catchup_sent_ns == 0 || now_ns - c->catchup_sent_ns >= c->cfg.resend_after_ns)) {
		/* (not while a transfer arrives: a new round would void it) */
		struct proto_msg q = {.type = PROTO_CATCHUP,
				      .view = c->view,
				      .slot = c->exec_index,
				      .ok = c->snap_retry,
				      .round = ++c->snap_round};
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
	if (!c->active || c->snap_open || c->snap_retry ||
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
