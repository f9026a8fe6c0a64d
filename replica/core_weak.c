/* replica/core_weak: weak (causal) writes and reads of curpho and curpht (PROTOCOL.md 5-6): their
 * answers, and weak reads parked until execution reaches their token. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "replica/core_int.h"

void core_weak_write_answer(struct core *c, uint64_t conn, const struct proto_cid *cid,
			    uint8_t type, uint64_t slot, bool executed, uint8_t status)
{
	struct proto_msg r;
	proto_msg_init(&r, type, c->view);
	r.cid = *cid;
	r.slot = slot;
	r.status = status;
	if (type == PROTO_CAUSAL_REPLY)
		r.ok = executed;
	else
		r.commit = c->exec_index;
	c->io.to_client(c->io.ctx, conn, &r);
}

static void cached_slot_cb(const void *key, size_t klen, void *val, void *arg)
{
	struct cached_slot *cs = arg;
	const struct result *r = val;
	cs->found = true;
	cs->fp = r->fp;
	cs->slot = r->slot;
	cs->status = r->status;
}

bool core_cached_slot(struct core *c, const struct proto_cid *cid, struct cached_slot *cs)
{
	uint8_t k[16];
	cid_key(cid, k);
	cs->found = false;
	return cmap_get(c->results, k, 16, cached_slot_cb, cs) == 0 && cs->found;
}

/* A weak write: HO CAUSAL_PROPOSE (at every replica) or HT WEAK_WRITE (at the leader). */

void core_on_weak_write(struct core *c, uint64_t conn, const struct proto_msg *m, uint64_t now_ns)
{
	bool ho = m->type == PROTO_CAUSAL_PROPOSE;
	uint8_t rtype = ho ? PROTO_CAUSAL_REPLY : PROTO_WEAK_REPLY;
	bool answer = ho ? m->bound == c->cfg.self : true; /* HO: only the bound replica answers */
	c->st.weak_writes++;
	if (ho != (c->cfg.protocol == CONF_PROTO_CURPHO) ||
	    (!ho && c->cfg.protocol != CONF_PROTO_CURPHT)) {
		if (answer)
			core_weak_write_answer(c, conn, &m->cid, rtype, 0, false, PROTO_ST_INVALID);
		return;
	}
	if (!ho && !is_leader(c)) {
		core_weak_write_answer(c, conn, &m->cid, rtype, 0, false, PROTO_ST_NOT_LEADER);
		return;
	}
	if (m->view != c->view) {
		c->st.stale_view++;
		if (answer)
			core_weak_write_answer(c, conn, &m->cid, rtype, 0, false,
					       PROTO_ST_STALE_VIEW);
		return;
	}
	if (!c->active) {
		if (answer)
			core_weak_write_answer(c, conn, &m->cid, rtype, 0, false, PROTO_ST_BUSY);
		return;
	}
	uint64_t fp = proto_cmd_fp(&m->cmd);
	struct cached_slot cs;
	if (core_cached_slot(c, &m->cid, &cs) && fp_differ(cs.fp, fp)) {
		/* another command executed under this cid (a reused client id): refused */
		c->st.cid_reused++;
		if (answer)
			core_weak_write_answer(c, conn, &m->cid, rtype, 0, false,
					       PROTO_ST_CID_REUSED);
		return;
	}
	if (cs.found) {
		/* executed here already: say so (HO: this also empties the client's write set) */
		c->st.duplicates++;
		if (answer)
			core_weak_write_answer(c, conn, &m->cid, rtype, cs.slot, true, cs.status);
		return;
	}
	uint8_t inflight_key[16];
	cid_key(&m->cid, inflight_key);
	uint64_t known = is_leader(c) ? core_inflight_slot(c, inflight_key) : NO_SLOT;
	if (known != NO_SLOT && core_inflight_reused(c, known, fp)) {
		/* (HO: told even when not bound, as for BUSY below: the bound replica may have
		 * said OK, and only the leader orders) */
		c->st.cid_reused++;
		core_weak_write_answer(c, conn, &m->cid, rtype, 0, false, PROTO_ST_CID_REUSED);
		return;
	}
	if (ho) {
		int rc = core_witness_record_weak(c, conn, m);
		if (rc == -EEXIST) {
			/* a record of this cid on the key holds another write: refused */
			c->st.cid_reused++;
			if (answer)
				core_weak_write_answer(c, conn, &m->cid, rtype, 0, false,
						       PROTO_ST_CID_REUSED);
			return;
		}
		if (rc == 0 && c->park_n > 0)
			core_parked_drain(c, false, 0); /* a read may have waited for this record */
		if (rc != 0 && answer) {
			c->st.busy++;
			core_weak_write_answer(c, conn, &m->cid, rtype, 0, false, PROTO_ST_BUSY);
			return;
		}
		if (!is_leader(c) || known != NO_SLOT) {
			if (known != NO_SLOT)
				c->st.duplicates++;
			if (answer)
				core_weak_write_answer(c, conn, &m->cid, rtype, 0, false,
						       PROTO_ST_OK);
			return;
		}
	} else if (known != NO_SLOT) {
		/* HT re-send of a write in flight: answer when it executes (or now, if the early
		 * reply was already given: the client may have missed it) */
		struct entry *e = core_attach_resend(c, known, conn, EK_HT_WEAK);
		if (e && c->cfg.ht_early_reply)
			core_weak_write_answer(c, conn, &m->cid, rtype, e->slot, false,
					       PROTO_ST_OK);
		return;
	}
	/* the leader orders it, in session order */
	struct entry *e = NULL;
	if (!core_dep_ordered(c, m->cid.client, m->dep) || core_lease_pending(c, m->cid.client) ||
	    (e = core_log_append(c, conn, m, ho ? EK_HO_WEAK : EK_HT_WEAK)) == NULL) {
		c->st.busy++;
		if (answer) {
			/* nothing ordered: the session re-sends this write and what followed it */
			core_weak_write_answer(c, conn, &m->cid, rtype, 0, false, PROTO_ST_BUSY);
		} else {
			/* the bound replica said OK; tell the session anyway so it re-sends soon */
			core_weak_write_answer(c, conn, &m->cid, PROTO_CAUSAL_REPLY, 0, false,
					       PROTO_ST_BUSY);
		}
		return;
	}
	struct keyidx_arg ka = {.slot = e->slot, .write = true, .weak = true, .cid = e->cid};
	core_keyidx_add(c, e, &ka);
	if (ho) {
		if (answer)
			core_weak_write_answer(c, conn, &m->cid, rtype, 0, false, PROTO_ST_OK);
	} else if (c->cfg.ht_early_reply) {
		e->reply_ok =
		    true; /* answered at slot assignment ("may be lost if the leader fails") */
		core_weak_write_answer(c, conn, &m->cid, rtype, e->slot, false, PROTO_ST_OK);
	}
	core_replicate(c, e, now_ns);
}

/* ---- weak reads ------------------------------------------------------------------------ */

static void weak_read_wait(struct core *c, uint64_t conn, const struct proto_cid *cid);

/* Answers a weak read now. GET: HO, the session's own latest pending weak write to the key if
 * this replica holds one; otherwise the executed value and its version. SCAN: the executed
 * state, its version the executed index (WAIT, the client asks again, if there is no memory for
 * the result). `commit` tells the client how far this replica had executed (its next read
 * token). */
static void weak_read_answer(struct core *c, uint64_t conn, const struct proto_cid *cid, uint8_t op,
			     const uint8_t *key, uint32_t klen, uint32_t scan_count)
{
	struct proto_msg r;
	proto_msg_init(&r, PROTO_WEAK_REPLY, c->view);
	r.cid = *cid;
	r.commit = c->exec_index;
	if (op == PROTO_OP_SCAN && core_scan_exec(c, key, klen, scan_count, &r) != 0) {
		weak_read_wait(c, conn, cid);
		return;
	}
	c->st.weak_reads++;
	if (op == PROTO_OP_SCAN) {
		c->st.scans++;
		r.slot = c->exec_index ? c->exec_index - 1 : 0;
	} else if (c->cfg.protocol == CONF_PROTO_CURPHO &&
		   core_own_pending_write(c, cid, key, klen, &r)) {
		r.slot = 0; /* not ordered here yet: no version */
	} else if (c->cfg.noop) {
		r.status = PROTO_ST_NOT_FOUND;
	} else {
		uint64_t ver = core_kv_answer(c, key, klen, &r);
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
	const struct pending_writes *pw = val;
	if (pw->n)
		*(uint64_t *)arg = pw->e[0].seq;
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
	const struct pending_writes *pw = val;
	struct chain_arg *a = arg;
	uint64_t x = a->from;
	for (uint32_t guard = 0; guard <= pw->n; guard++) {
		if (x == 0 || x <= a->exec_hi) {
			a->complete = true;
			return;
		}
		uint32_t i = 0;
		while (i < pw->n && pw->e[i].seq != x)
			i++;
		if (i == pw->n)
			return; /* a write of the chain is neither here nor executed here */
		x = pw->e[i].dep;
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
	cmap_get_u64(c->clients, client, core_weak_exec_read_cb, &a.exec_hi);
	if (dep <= a.exec_hi)
		return true;
	cmap_get_u64(c->pending_writes, client, chain_cb, &a);
	return a.complete;
}

/* May the weak read (op, token, dep) of cid be answered now? Every slot below the token must
 * be executed here (5.2); HO: the session's weak writes up to dep must be here (recorded or
 * executed), and an HO SCAN, which cannot overlay the session's own pending weak writes on a
 * range, waits until those sent before it have executed here. */
static bool weak_read_ready(struct core *c, const struct proto_cid *cid, uint8_t op, uint64_t token,
			    uint64_t dep)
{
	if (token > c->exec_index || c->snap_open)
		return false; /* behind, or its state is being replaced by a transfer */
	if (c->hold)
		return false; /* restarted, its records lost: a session that completed a strong
			       * write with this replica's ok=true reads it back from that record
			       * (its token does not cover the write), so not before every slot
			       * assigned before the restart is executed here (the hold's end:
			       * simulation seed curpho N=5 4987) */
	if (!c->active || c->exec_index < c->inst_cut)
		return false; /* a view change moved fast-path commands (a token taken from an
			       * older view's REPLY may name a slot they left): not before the
			       * installed log, replays included, is executed here. inst_cut is
			       * the cut of the view last installed here: a replica that entered a
			       * later view and has not installed it may already execute that
			       * view's first slots (while it installs, or from a state transfer)
			       * without knowing where its replays end, so it waits too
			       * (simulation seeds curpho N=3 2263, N=5 2003) */
	if (c->cfg.protocol != CONF_PROTO_CURPHO)
		return true;
	if (!own_writes_here(c, cid->client, dep))
		return false;
	if (op != PROTO_OP_SCAN)
		return true;
	uint64_t first = 0;
	cmap_get_u64(c->pending_writes, cid->client, first_pending_cb, &first);
	return first == 0 || first >= cid->seq;
}

void core_on_weak_read(struct core *c, uint64_t conn, const struct proto_msg *m, uint64_t now_ns)
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
void core_parked_drain(struct core *c, bool expire, uint64_t now_ns)
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
