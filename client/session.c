/* client/session: the CURP client of PROTOCOL.md 3.1 as a state machine.
 *
 * A command completes exactly once:
 *  - FAST:  the leader's REPLY with ok=true and Q-1 RECORD_ACKs with ok=true from the other
 *           replicas, all of the session's current view -> the leader's value;
 *  - SLOW:  the post-execution result (SYNC_REPLY). The leader sends it by itself when it
 *           answered ok=false; the session asks with SYNC as soon as a witness says ok=false or
 *           the fast path has not completed after sync_after;
 *  - RETRY: completed (either way) after the command was re-sent with the same cid.
 * A command that gets no answer within the timeout fails with SESSION_TIMEOUT (never a made-up
 * value).
 */
#include "client/session.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct pcmd {
	bool used;
	bool leader_replied;
	bool leader_ok;
	bool sync_sent;
	uint8_t leader_status;
	uint8_t op;
	uint64_t seq;
	uint8_t *key;
	uint32_t klen;
	uint8_t *val;
	uint32_t vlen;
	uint32_t scan_count;
	uint8_t *lval; /* leader's speculative value */
	uint32_t lvlen;
	uint32_t ok_mask;  /* witnesses that answered ok=true */
	uint32_t nok_mask; /* witnesses that answered ok=false */
	uint32_t resends;
	uint64_t first_ns, sent_ns, sync_ns;
	session_cb cb;
	void *arg;
};

struct session {
	struct session_config cfg;
	struct session_io io;
	uint64_t view;
	int leader;
	int q; /* super quorum */
	uint64_t next_seq;
	uint64_t low_seq; /* lowest seq still pending (next_seq when none) */
	uint32_t inflight;
	uint32_t cap; /* ring size, power of two */
	struct pcmd *ring;
	struct session_stats st;
};

int session_f(int n)
{
	return (n - 1) / 2;
}

int session_majority(int n)
{
	return session_f(n) + 1;
}

int session_superquorum(int n)
{
	int f = session_f(n);
	return f + (f + 1) / 2 + 1;
}

void session_config_default(struct session_config *cfg, uint64_t client_id, int n)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->client_id = client_id;
	cfg->n = n;
	cfg->protocol = CONF_PROTO_CURP;
	cfg->max_inflight = 1;
	cfg->sync_after_ns = 20ull * 1000 * 1000;
	cfg->retry_after_ns = 1000ull * 1000 * 1000;
	cfg->timeout_ns = 10ull * 1000 * 1000 * 1000;
}

int session_create(const struct session_config *cfg, uint64_t view, int leader,
		   const struct session_io *io, struct session **out)
{
	if (cfg->client_id == 0 || cfg->n < 1 || cfg->n > PROTO_MAX_REPLICAS || leader < 0 ||
	    leader >= cfg->n || cfg->max_inflight < 1 || cfg->max_inflight > (1u << 20))
		return -EINVAL;
	struct session *s = calloc(1, sizeof *s);
	if (s == NULL)
		return -ENOMEM;
	s->cfg = *cfg;
	s->io = *io;
	s->view = view;
	s->leader = leader;
	s->q = session_superquorum(cfg->n);
	s->next_seq = 1;
	s->low_seq = 1;
	s->cap = 16;
	while (s->cap < 4 * cfg->max_inflight)
		s->cap *= 2;
	s->ring = calloc(s->cap, sizeof *s->ring);
	if (s->ring == NULL) {
		free(s);
		return -ENOMEM;
	}
	*out = s;
	return 0;
}

static void pcmd_free(struct pcmd *p)
{
	free(p->key);
	free(p->val);
	free(p->lval);
	memset(p, 0, sizeof *p);
}

void session_destroy(struct session *s)
{
	if (s == NULL)
		return;
	for (uint32_t i = 0; i < s->cap; i++)
		if (s->ring[i].used)
			pcmd_free(&s->ring[i]);
	free(s->ring);
	free(s);
}

static struct pcmd *find(struct session *s, uint64_t seq)
{
	if (seq < s->low_seq || seq >= s->next_seq)
		return NULL;
	struct pcmd *p = &s->ring[seq & (s->cap - 1)];
	return (p->used && p->seq == seq) ? p : NULL;
}

static void send_propose(struct session *s, struct pcmd *p, int to)
{
	struct proto_msg m = {.type = PROTO_PROPOSE,
			      .view = s->view,
			      .cid = {.client = s->cfg.client_id, .seq = p->seq},
			      .low_seq = s->low_seq};
	m.cmd.op = p->op;
	m.cmd.key = p->key;
	m.cmd.klen = p->klen;
	m.cmd.val = p->val;
	m.cmd.vlen = p->vlen;
	m.cmd.scan_count = p->scan_count;
	s->io.send(s->io.ctx, to, &m);
}

static void send_propose_all(struct session *s, struct pcmd *p, uint64_t now_ns)
{
	for (int r = 0; r < s->cfg.n; r++)
		send_propose(s, p, r);
	p->sent_ns = now_ns;
}

static void send_sync(struct session *s, struct pcmd *p, uint64_t now_ns)
{
	struct proto_msg m = {.type = PROTO_SYNC,
			      .view = s->view,
			      .cid = {.client = s->cfg.client_id, .seq = p->seq},
			      .low_seq = s->low_seq};
	s->io.send(s->io.ctx, s->leader, &m);
	p->sync_sent = true;
	p->sync_ns = now_ns;
}

int64_t session_submit(struct session *s, const struct proto_cmd *cmd, session_cb cb, void *arg,
		       uint64_t now_ns)
{
	if (cmd->op != PROTO_OP_GET && cmd->op != PROTO_OP_PUT && cmd->op != PROTO_OP_DEL &&
	    cmd->op != PROTO_OP_SCAN)
		return -EINVAL;
	if (s->inflight >= s->cfg.max_inflight || s->next_seq - s->low_seq >= s->cap)
		return -EAGAIN;
	uint64_t seq = s->next_seq;
	struct pcmd *p = &s->ring[seq & (s->cap - 1)];
	p->key = malloc(cmd->klen ? cmd->klen : 1);
	p->val = cmd->vlen ? malloc(cmd->vlen) : NULL;
	if (p->key == NULL || (cmd->vlen && p->val == NULL)) {
		free(p->key);
		free(p->val);
		p->key = p->val = NULL;
		return -ENOMEM;
	}
	memcpy(p->key, cmd->key, cmd->klen);
	if (cmd->vlen)
		memcpy(p->val, cmd->val, cmd->vlen);
	p->used = true;
	p->seq = seq;
	p->op = cmd->op;
	p->klen = cmd->klen;
	p->vlen = cmd->vlen;
	p->scan_count = cmd->scan_count;
	p->cb = cb;
	p->arg = arg;
	p->first_ns = now_ns;
	s->next_seq++;
	s->inflight++;
	send_propose_all(s, p, now_ns);
	return (int64_t)seq;
}

/* Completes p: frees its slot first (the callback may submit), then calls back. */
static void complete(struct session *s, struct pcmd *p, enum session_result res,
		     enum session_path path, uint8_t *value, uint32_t vlen)
{
	session_cb cb = p->cb;
	void *arg = p->arg;
	uint64_t seq = p->seq;
	if (p->lval == value)
		p->lval = NULL; /* ownership of the leader value moves to this function */
	pcmd_free(p);
	s->inflight--;
	while (s->low_seq < s->next_seq && !s->ring[s->low_seq & (s->cap - 1)].used)
		s->low_seq++;
	if (res == SESSION_OK || res == SESSION_NOT_FOUND) {
		if (path == SESSION_PATH_FAST)
			s->st.fast++;
		else if (path == SESSION_PATH_SLOW)
			s->st.slow++;
		else
			s->st.retry++;
	} else if (res == SESSION_TIMEOUT) {
		s->st.timeouts++;
	} else {
		s->st.failures++;
	}
	if (cb)
		cb(arg, seq, res, path, value, vlen);
	free(value);
}

static void try_fast(struct session *s, struct pcmd *p)
{
	if (!p->leader_replied || !p->leader_ok)
		return;
	uint32_t witnesses = p->ok_mask & ~(1u << s->leader);
	if (__builtin_popcount(witnesses) < s->q - 1)
		return;
	enum session_result res =
		p->leader_status == PROTO_ST_NOT_FOUND ? SESSION_NOT_FOUND : SESSION_OK;
	complete(s, p, res, p->resends ? SESSION_PATH_RETRY : SESSION_PATH_FAST, p->lval, p->lvlen);
}

static void on_reply(struct session *s, int from, const struct proto_msg *m, struct pcmd *p,
		     uint64_t now_ns)
{
	switch (m->status) {
	case PROTO_ST_OK:
	case PROTO_ST_NOT_FOUND:
		if (from != s->leader || p->leader_replied)
			return;
		p->leader_replied = true;
		p->leader_ok = m->ok;
		p->leader_status = m->status;
		if (m->vlen) {
			p->lval = malloc(m->vlen);
			if (p->lval == NULL) {
				p->leader_ok = false; /* cannot keep the value: wait for SYNC_REPLY */
				return;
			}
			memcpy(p->lval, m->value, m->vlen);
			p->lvlen = m->vlen;
		}
		if (!m->ok)
			s->st.conflicts++; /* the leader will send the result when it executes */
		try_fast(s, p);
		return;
	case PROTO_ST_BUSY:
		/* Leader out of descriptors: re-send soon (same cid). */
		p->sent_ns = now_ns - s->cfg.retry_after_ns + s->cfg.retry_after_ns / 64;
		return;
	case PROTO_ST_STALE_VIEW:
	case PROTO_ST_NOT_LEADER:
		if (s->io.need_view)
			s->io.need_view(s->io.ctx, m->view);
		return;
	default:
		return;
	}
}

static void on_sync_reply(struct session *s, const struct proto_msg *m, struct pcmd *p)
{
	enum session_result res;
	switch (m->status) {
	case PROTO_ST_OK:
		res = SESSION_OK;
		break;
	case PROTO_ST_NOT_FOUND:
		res = SESSION_NOT_FOUND;
		break;
	case PROTO_ST_INVALID:
		res = SESSION_FAILED;
		break;
	default:
		return; /* TOO_OLD and others: not a result */
	}
	uint8_t *v = NULL;
	if (m->vlen) {
		v = malloc(m->vlen);
		if (v == NULL)
			return; /* try again on the next SYNC */
		memcpy(v, m->value, m->vlen);
	}
	complete(s, p, res, p->resends ? SESSION_PATH_RETRY : SESSION_PATH_SLOW, v, m->vlen);
}

void session_on_msg(struct session *s, int from, const struct proto_msg *m, uint64_t now_ns)
{
	if (from < 0 || from >= s->cfg.n || m->cid.client != s->cfg.client_id)
		return;
	struct pcmd *p = find(s, m->cid.seq);
	if (p == NULL)
		return; /* late answer for a completed command */
	if (m->view > s->view && s->io.need_view)
		s->io.need_view(s->io.ctx, m->view);
	switch (m->type) {
	case PROTO_REPLY:
		if (m->view == s->view || m->status != PROTO_ST_OK)
			on_reply(s, from, m, p, now_ns);
		break;
	case PROTO_RECORD_ACK:
		if (m->view != s->view || from == s->leader)
			break;
		if (m->ok) {
			p->ok_mask |= 1u << from;
			try_fast(s, p);
		} else if (!(p->nok_mask & (1u << from))) {
			p->nok_mask |= 1u << from;
			s->st.conflicts++;
			/* The fast path may now be impossible: ask for the result right away. */
			if (!p->sync_sent)
				send_sync(s, p, now_ns);
		}
		break;
	case PROTO_SYNC_REPLY:
		on_sync_reply(s, m, p);
		break;
	default:
		break;
	}
}

void session_tick(struct session *s, uint64_t now_ns)
{
	for (uint64_t seq = s->low_seq; seq < s->next_seq; seq++) {
		struct pcmd *p = find(s, seq);
		if (p == NULL)
			continue;
		if (now_ns - p->first_ns >= s->cfg.timeout_ns) {
			complete(s, p, SESSION_TIMEOUT, SESSION_PATH_RETRY, NULL, 0);
			continue;
		}
		if (now_ns - p->sent_ns >= s->cfg.retry_after_ns) {
			p->resends++;
			s->st.resends++;
			p->sync_sent = false;
			send_propose_all(s, p, now_ns);
			continue;
		}
		if (!p->sync_sent && now_ns - p->sent_ns >= s->cfg.sync_after_ns)
			send_sync(s, p, now_ns);
		else if (p->sync_sent && now_ns - p->sync_ns >= s->cfg.sync_after_ns * 4)
			send_sync(s, p, now_ns);
	}
}

void session_set_view(struct session *s, uint64_t view, int leader, uint64_t now_ns)
{
	if (leader < 0 || leader >= s->cfg.n || view < s->view)
		return;
	bool changed = view != s->view || leader != s->leader;
	s->view = view;
	s->leader = leader;
	if (!changed)
		return;
	for (uint64_t seq = s->low_seq; seq < s->next_seq; seq++) {
		struct pcmd *p = find(s, seq);
		if (p == NULL)
			continue;
		/* Answers of the old view no longer count. */
		free(p->lval);
		p->lval = NULL;
		p->lvlen = 0;
		p->leader_replied = p->leader_ok = p->sync_sent = false;
		p->ok_mask = p->nok_mask = 0;
		p->resends++;
		s->st.resends++;
		send_propose_all(s, p, now_ns);
	}
}

void session_replica_up(struct session *s, int replica, uint64_t now_ns)
{
	if (replica < 0 || replica >= s->cfg.n)
		return;
	for (uint64_t seq = s->low_seq; seq < s->next_seq; seq++) {
		struct pcmd *p = find(s, seq);
		if (p == NULL)
			continue;
		send_propose(s, p, replica);
		if (replica == s->leader && p->leader_replied == false)
			p->sync_sent = false;
	}
}

void session_fail_all(struct session *s)
{
	for (uint64_t seq = s->low_seq; seq < s->next_seq; seq++) {
		struct pcmd *p = find(s, seq);
		if (p)
			complete(s, p, SESSION_TIMEOUT, SESSION_PATH_RETRY, NULL, 0);
	}
}

uint32_t session_inflight(const struct session *s)
{
	return s->inflight;
}

uint64_t session_client_id(const struct session *s)
{
	return s->cfg.client_id;
}

void session_get_stats(const struct session *s, struct session_stats *st)
{
	*st = s->st;
}
