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
 *
 * Weak operations (PROTOCOL.md 5-6) complete on one replica (SESSION_PATH_WEAK):
 *  - curpho write: CAUSAL_PROPOSE to every replica, completed by the bound replica's reply; it
 *    stays in the session's write set (its ring slot stays used, and is re-sent on the retry
 *    timer) until a replica reports it executed;
 *  - curpht write: WEAK_WRITE to the leader, completed by its reply (with the slot);
 *  - read: WEAK_READ to the bound replica with the session's read token; a SCAN's token also
 *    covers every write of the session whose slot it knows (a range has no per-key overlay), and
 *    an HO replica holds a SCAN until the session's earlier weak writes executed there.
 * The HO fast path additionally needs every witness answer used to list the write set in its
 * causal_deps and, for a GET, every answer (leader included) to report the same read_dep.
 *
 * Client leases (cfg.lease_ns; docs/recovery.md "Client leases"): the leader forgets a client it
 * has not heard from for a lease, and refuses its id from then on (EXPIRED). So that no command
 * is ever retried into an expired id, the session:
 *  - renews its lease by its traffic: `renewed` is a time the leader surely heard from it after
 *    (the first send of a command that completed, the send of a PING the leader answered); when
 *    that is a quarter of a lease old, it sends a keep-alive PING to the leader;
 *  - gives up (SESSION_TIMEOUT) the commands it still waits for once `renewed` is three quarters
 *    of a lease old, and takes a new id (session_io.need_id) before sending anything else;
 *  - takes a new id once half a lease has passed since it took its id if nothing executed under
 *    it (not `anchored`): a client id below an expired one is refused unless it executed
 *    something (core_lease.c), and such ids were handed out before the expired one;
 *  - completes a command refused EXPIRED with SESSION_EXPIRED (not applied; SESSION_TIMEOUT if
 *    it had been sent more than once), lets the others end, then takes a new id.
 * Seqs on the wire start at 1 under each id (seq_base); the seqs callers see keep growing.
 */
#include "client/session.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/hash.h"

enum pcmd_kind { PK_STRONG = 0, PK_WEAK_WRITE, PK_WEAK_READ };

struct pcmd {
	bool used;
	bool done;     /* HO weak write: completed to the caller, waiting to be reported executed */
	uint8_t kind;  /* enum pcmd_kind */
	int bound;     /* weak: the replica asked to answer at the last send */
	uint64_t dep;  /* seq of the session's previous weak write when this was submitted */
	uint64_t wdep; /* seq of the session's previous write, weak or strong (0 = none) */
	uint64_t slot; /* strong: the leader's slot (REPLY) */
	uint64_t sview;	      /* strong: the view of that REPLY */
	uint64_t ver;	      /* strong: the REPLY's version (1 + slot of the write a GET read) */
	uint32_t good_mask;   /* HO: witnesses whose ok passed the causal_deps check */
	struct proto_cid lrd; /* HO GET: the leader's read_dep */
	struct proto_cid rd[PROTO_MAX_REPLICAS]; /* HO GET: each witness's read_dep */
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
	uint32_t sends; /* PROPOSEs (or weak writes) sent to the leader */
	uint64_t first_ns, sent_ns, sync_ns;
	session_cb cb;
	void *arg;
};

/* curpht: one cached key (the value written or read, and the slot that ordered it). */
struct cache_ent {
	bool used;
	bool found;
	uint8_t *key;
	uint32_t klen;
	uint8_t *val;
	uint32_t vlen;
	uint64_t slot;
	uint64_t view; /* the view the slot was learned in: a view change may move a command that
			* completed on the fast path to another slot, so between entries of
			* different views a later command of the session replaces the entry too
			* (a heuristic: see docs/protocols.md) */
	uint64_t seq;  /* the session's command that left it */
};

struct session {
	struct session_config cfg;
	struct session_io io;
	uint64_t view;
	int leader;
	int bound;
	uint32_t cand; /* candidates for the binding (session_pick_bound) */
	/* RTT per replica: the lowest of its last SESSION_RTT_SAMPLES samples (ns; 0 = not
	 * measured). Queueing (in either process's loop, in the kernel) only ever adds to a
	 * round trip, so the lowest recent sample is the estimate least disturbed by load: on one
	 * host, samples taken under load differ by milliseconds from one replica to the next */
	uint64_t rtt[PROTO_MAX_REPLICAS];
	uint64_t rtt_win[PROTO_MAX_REPLICAS][SESSION_RTT_SAMPLES];
	uint32_t rtt_next[PROTO_MAX_REPLICAS]; /* where its next sample goes in rtt_win */
	uint64_t heard[PROTO_MAX_REPLICAS];    /* the latest PING send time each one answered */
	uint64_t next_probe_ns;
	uint64_t probed_ns;	  /* when the last probe round went out (0: none yet) */
	uint32_t rounds;	  /* probe rounds sent */
	uint64_t last_weak_write; /* seq of the session's latest weak write (0 = none) */
	uint64_t last_write;	  /* seq of its latest write, weak or strong (0 = none) */
	/* HO: a weak read that may have returned an own strong write still in flight (from the
	 * bound replica's pending record): nothing more is submitted until every strong write
	 * the session sent before that read completes (and so is ordered), or a later command
	 * could be ordered before a write the session has seen */
	uint64_t read_floor;
	uint64_t token;	   /* weak reads: slots below it must be executed at the replica */
	uint64_t write_hi; /* 1 + the highest slot of the session's completed writes */
	/* curpht: 1 + the highest slot any completion showed the session (its cache entries):
	 * a weak SCAN's token covers it, as the cache cannot overlay a range */
	uint64_t seen_hi;
	/* curpht: 1 + the highest slot of a cache entry evicted (or never stored). A weak GET sent
	 * before an eviction carries a token that counted on the entry: answered by a replica
	 * that has not executed that far, with the key's entry gone, it is asked again */
	uint64_t evict_hi;
	struct cache_ent *cache; /* curpht, cfg.cache_slots entries */
	int q;			 /* super quorum */
	uint64_t next_seq;
	uint64_t low_seq; /* lowest seq still pending (next_seq when none) */
	/* client leases (top of the file) */
	uint64_t seq_base;    /* wire seq = seq - seq_base under the current id */
	uint64_t cache_seed;  /* curpht: the cache's hash seed (the first id: ids change) */
	uint64_t id_since_ns; /* when the current id was taken (0: not yet ticked) */
	uint64_t renewed_ns;  /* the leader heard from the session after this (0: never) */
	uint64_t ping_ns;     /* when the last keep-alive went out */
	bool anchored;	      /* a command executed (or was ordered) under the current id */
	bool retiring;	      /* takes no command: asks for a new id once nothing is pending */
	bool id_dead;	      /* EXPIRED, or given up: the id is not used again */
	bool renewing;	      /* asked for a new id, waiting for session_set_client_id */
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
	cfg->preferred = -1;
	cfg->probe_ns = 1000ull * 1000 * 1000;
	cfg->cache_slots = 4096;
}

int session_create(const struct session_config *cfg, uint64_t view, int leader,
		   const struct session_io *io, struct session **out)
{
	if (cfg->client_id == 0 || cfg->n < 1 || cfg->n > PROTO_MAX_REPLICAS || leader < 0 ||
	    leader >= cfg->n || cfg->max_inflight < 1 || cfg->max_inflight > (1u << 20) ||
	    cfg->preferred >= cfg->n)
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
	s->cache_seed = cfg->client_id;
	s->id_since_ns = cfg->id_ns;
	/* HO weak writes keep their slot until reported executed (about one replication round
	 * after they completed), so the ring holds more than the window */
	s->cap = 1024;
	while (s->cap < 4 * cfg->max_inflight)
		s->cap *= 2;
	s->ring = calloc(s->cap, sizeof *s->ring);
	if (cfg->protocol == CONF_PROTO_CURPHT && cfg->cache_slots > 0)
		s->cache = calloc(cfg->cache_slots, sizeof *s->cache);
	if (s->ring == NULL ||
	    (cfg->protocol == CONF_PROTO_CURPHT && cfg->cache_slots > 0 && s->cache == NULL)) {
		free(s->ring);
		free(s->cache);
		free(s);
		return -ENOMEM;
	}
	s->bound = cfg->preferred >= 0 ? cfg->preferred : leader;
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
	for (uint32_t i = 0; s->cache && i < s->cfg.cache_slots; i++) {
		free(s->cache[i].key);
		free(s->cache[i].val);
	}
	free(s->cache);
	free(s);
}

static struct pcmd *find(struct session *s, uint64_t seq)
{
	if (seq < s->low_seq || seq >= s->next_seq)
		return NULL;
	struct pcmd *p = &s->ring[seq & (s->cap - 1)];
	return (p->used && p->seq == seq) ? p : NULL;
}

/* A seq of the session as its current client id numbers it on the wire (0 stays 0: none). */
static uint64_t wire(const struct session *s, uint64_t seq)
{
	return seq > s->seq_base ? seq - s->seq_base : 0;
}

static void send_propose(struct session *s, struct pcmd *p, int to)
{
	struct proto_msg m;
	proto_msg_init(&m, PROTO_PROPOSE, s->view);
	m.cid = (struct proto_cid){.client = s->cfg.client_id, .seq = wire(s, p->seq)};
	m.low_seq = wire(s, s->low_seq);
	m.dep = wire(s, p->dep);
	m.weak_dep = wire(s, p->dep);
	m.cmd.op = p->op;
	m.cmd.key = p->key;
	m.cmd.klen = p->klen;
	m.cmd.val = p->val;
	m.cmd.vlen = p->vlen;
	m.cmd.scan_count = p->scan_count;
	if (p->kind == PK_STRONG && s->cfg.protocol == CONF_PROTO_CURPHO && p->wdep > m.dep) {
		/* HO: the leader orders nothing of the session before its previous write, strong
		 * ones included, so a weak read that answers the session's own pending write never
		 * sees a later write of the session executed before it */
		m.dep = wire(s, p->wdep);
	}
	if (p->kind == PK_WEAK_WRITE) {
		m.type =
		    s->cfg.protocol == CONF_PROTO_CURPHO ? PROTO_CAUSAL_PROPOSE : PROTO_WEAK_WRITE;
		m.bound = p->bound;
	} else if (p->kind == PK_WEAK_READ) {
		m.type = PROTO_WEAK_READ;
		m.token = s->token;
		/* HO: the replica must hold the session's latest earlier weak write (m.dep) while
		 * that write is not reported executed (after that, the token covers it) */
		const struct pcmd *w = p->dep ? &s->ring[p->dep & (s->cap - 1)] : NULL;
		bool unsettled = w && w->used && w->seq == p->dep;
		m.dep = s->cfg.protocol == CONF_PROTO_CURPHO && unsettled ? wire(s, p->dep) : 0;
		if (p->op == PROTO_OP_SCAN && s->write_hi > m.token)
			m.token = s->write_hi;
		if (p->op == PROTO_OP_SCAN && s->seen_hi > m.token)
			m.token = s->seen_hi;
	}
	s->io.send(s->io.ctx, to, &m);
}

/* Sends p where its kind goes: strong and HO weak writes to every replica, HT weak writes to
 * the leader, weak reads to the bound replica. */
static void send_cmd(struct session *s, struct pcmd *p, uint64_t now_ns)
{
	p->sent_ns = now_ns;
	/* Witness answers count for the fast path only until the command is sent again: a
	 * witness that restarted in between lost the record behind its ok, and the rejoin hold
	 * (PROTOCOL.md 7.3) covers only what the leader ordered within its grace period, not a
	 * command it never received or refused (BUSY) and orders from this later send (sim
	 * curpho N=3 profile 2 seed 390, curpht 1376: docs/recovery.md) */
	p->ok_mask = p->nok_mask = p->good_mask = 0;
	if (p->kind == PK_WEAK_READ) {
		p->bound = s->bound;
		send_propose(s, p, p->bound);
		return;
	}
	p->sends++;
	if (p->kind == PK_WEAK_WRITE && s->cfg.protocol == CONF_PROTO_CURPHT) {
		send_propose(s, p, s->leader);
		return;
	}
	p->bound = s->bound;
	for (int r = 0; r < s->cfg.n; r++)
		send_propose(s, p, r);
}

static void send_sync(struct session *s, struct pcmd *p, uint64_t now_ns)
{
	/* the fingerprint lets the replica tell this command's result from that of another
	 * command under the same cid (a reused client id) */
	struct proto_cmd cmd = {.op = p->op,
				.key = p->key,
				.klen = p->klen,
				.val = p->val,
				.vlen = p->vlen,
				.scan_count = p->scan_count};
	struct proto_msg m = {.type = PROTO_SYNC,
			      .view = s->view,
			      .cid = {.client = s->cfg.client_id, .seq = wire(s, p->seq)},
			      .low_seq = wire(s, s->low_seq),
			      .fp = proto_cmd_fp(&cmd)};
	s->io.send(s->io.ctx, s->leader, &m);
	p->sync_sent = true;
	p->sync_ns = now_ns;
}

static void lease_tick(struct session *s, uint64_t now_ns);

static int64_t submit(struct session *s, const struct proto_cmd *cmd, uint8_t kind, session_cb cb,
		      void *arg, uint64_t now_ns)
{
	if (cmd->op != PROTO_OP_GET && cmd->op != PROTO_OP_PUT && cmd->op != PROTO_OP_DEL &&
	    cmd->op != PROTO_OP_SCAN && !proto_op_rmw(cmd->op))
		return -EINVAL;
	if (proto_op_rmw(cmd->op) && (kind != PK_STRONG || s->cfg.protocol != CONF_PROTO_CURP))
		return -EINVAL; /* a strong curp operation (docs/protocols.md, "APPEND", "INCR",
				 * "GETDEL and SETX") */
	int64_t by;
	if (cmd->op == PROTO_OP_INCR && proto_int_parse(cmd->val, cmd->vlen, &by) != 0)
		return -EINVAL; /* the increment is not a decimal signed 64-bit integer */
	if (cmd->op == PROTO_OP_SETX && proto_setx_flags(cmd->val, cmd->vlen) < 0)
		return -EINVAL; /* no valid flags byte: no replica would decode it */
	if (kind != PK_STRONG && s->cfg.protocol == CONF_PROTO_CURP)
		return -EINVAL;
	/* a process that did not run for a while (stopped, swapped out) must not send under an
	 * id that may have expired meanwhile: its lease is looked at first */
	lease_tick(s, now_ns);
	if (s->inflight >= s->cfg.max_inflight || s->next_seq - s->low_seq >= s->cap ||
	    s->retiring || s->renewing)
		return -EAGAIN; /* (a new client id first: top of the file) */
	if (s->read_floor) {
		for (uint64_t q = s->low_seq; q < s->read_floor; q++) {
			const struct pcmd *f = &s->ring[q & (s->cap - 1)];
			if (f->used && f->seq == q && f->kind == PK_STRONG &&
			    (f->op == PROTO_OP_PUT || f->op == PROTO_OP_DEL))
				return -EAGAIN; /* HO: a write the session may have seen is not
						 * ordered yet */
		}
		s->read_floor = 0;
	}
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
	p->kind = kind;
	p->dep = s->last_weak_write;
	p->wdep = s->last_write;
	if (kind == PK_WEAK_WRITE)
		s->last_weak_write = seq;
	if (kind != PK_WEAK_READ && (cmd->op == PROTO_OP_PUT || cmd->op == PROTO_OP_DEL))
		s->last_write = seq;
	s->next_seq++;
	s->inflight++;
	send_cmd(s, p, now_ns);
	return (int64_t)seq;
}

int64_t session_submit(struct session *s, const struct proto_cmd *cmd, session_cb cb, void *arg,
		       uint64_t now_ns)
{
	return submit(s, cmd, PK_STRONG, cb, arg, now_ns);
}

int64_t session_submit_weak(struct session *s, const struct proto_cmd *cmd, session_cb cb,
			    void *arg, uint64_t now_ns)
{
	uint8_t kind =
	    cmd->op == PROTO_OP_GET || cmd->op == PROTO_OP_SCAN ? PK_WEAK_READ : PK_WEAK_WRITE;
	return submit(s, cmd, kind, cb, arg, now_ns);
}

int session_bound(const struct session *s)
{
	return s->bound;
}

uint64_t session_rtt_ns(const struct session *s, int r)
{
	return (r >= 0 && r < s->cfg.n) ? s->rtt[r] : 0;
}

static void advance_low(struct session *s)
{
	while (s->low_seq < s->next_seq && !s->ring[s->low_seq & (s->cap - 1)].used)
		s->low_seq++;
}

/* The leader heard from the session after t (a command first sent at t completed, or it
 * answered a PING sent at t). */
static void lease_heard(struct session *s, uint64_t t)
{
	if (t > s->renewed_ns)
		s->renewed_ns = t;
}

/* A command first sent at t was ordered by a leader: something executes under this id (its
 * records at the replicas keep it from the floor), and the leader heard from it after t. */
static void lease_ordered(struct session *s, uint64_t t)
{
	s->anchored = true;
	lease_heard(s, t);
}

/* Completes p: frees its slot first (the callback may submit), then calls back. With keep (an
 * HO weak write not yet reported executed) the slot stays, marked done, in the write set. */
static void complete_keep(struct session *s, struct pcmd *p, enum session_result res,
			  enum session_path path, uint8_t *value, uint32_t vlen, bool keep)
{
	session_cb cb = p->cb;
	void *arg = p->arg;
	uint64_t seq = p->seq;
	uint8_t kind = p->kind;
	uint64_t first_ns = p->first_ns;
	if (p->lval == value)
		p->lval = NULL; /* ownership of the leader value moves to this function */
	if (keep) {
		p->done = true;
		p->cb = NULL;
		p->arg = NULL;
	} else {
		pcmd_free(p);
	}
	s->inflight--;
	advance_low(s);
	if ((res == SESSION_OK || res == SESSION_NOT_FOUND) && kind != PK_WEAK_READ && !keep)
		lease_ordered(s, first_ns); /* a leader ordered it: executed or will be */
	if (res == SESSION_OK || res == SESSION_NOT_FOUND) {
		if (path == SESSION_PATH_WEAK)
			s->st.weak++;
		else if (path == SESSION_PATH_FAST)
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

static void complete(struct session *s, struct pcmd *p, enum session_result res,
		     enum session_path path, uint8_t *value, uint32_t vlen)
{
	complete_keep(s, p, res, path, value, vlen, false);
}

/* An HO weak write reported executed (or refused for good): it leaves the write set. */
static void weak_write_retire(struct session *s, struct pcmd *p)
{
	pcmd_free(p);
	advance_low(s);
}

/* ---- client leases (top of the file) ---------------------------------------------------- */

/* Nothing more goes out under the current id: every command still pending is given up
 * (SESSION_TIMEOUT: it may or may not have been applied; an HO weak write completed on its
 * bound replica's word leaves the write set, never reported executed). Weak reads go on: an
 * expired id is no danger to them (nothing executes), and they end by themselves (answered, or
 * timed out); the new id waits for them. Callbacks may submit: the session is retiring by
 * then, so they get -EAGAIN. */
static void lease_give_up(struct session *s)
{
	s->retiring = true;
	/* for good: a keep-alive answered later does not bring the id back (the leader may have
	 * decided its EXPIRE before that keep-alive reached it: test_lease_weak_read_outlives_
	 * give_up) */
	s->id_dead = true;
	for (uint64_t seq = s->low_seq; seq < s->next_seq; seq++) {
		struct pcmd *p = find(s, seq);
		if (p == NULL || p->kind == PK_WEAK_READ)
			continue;
		s->st.gave_up++;
		if (p->done)
			weak_write_retire(s, p);
		else
			complete(s, p, SESSION_TIMEOUT, SESSION_PATH_RETRY, NULL, 0);
	}
}

/* Asks for a new client id once nothing is pending under the current one (until then the
 * session is retiring: it takes no command; the tick asks again). */
static void lease_renew(struct session *s)
{
	s->retiring = true;
	if (s->io.need_id == NULL || s->renewing)
		return; /* (without the hook the session keeps its id; a dead one takes nothing) */
	if (s->inflight > 0 || session_unsettled(s) > 0)
		return;
	s->renewing = true;
	s->io.need_id(s->io.ctx);
}

/* The replicas refused p (its send, its SYNC, or its execution): the client id expired there,
 * for good. If p went out only once, it was ordered at most once and that was refused: not
 * applied (SESSION_EXPIRED). Sent more than once, an earlier send may have executed before the
 * expiry, its result since forgotten (SESSION_TIMEOUT). The other pending commands cannot
 * execute under this id any more (an outcome from before the expiry is forgotten too): given
 * up, then a new id. */
static void on_expired(struct session *s, struct pcmd *p)
{
	s->st.expired++;
	s->id_dead = true;
	s->retiring = true;
	if (p->done) {
		s->st.failures++; /* completed on its bound replica's word, then refused */
		weak_write_retire(s, p);
	} else {
		complete(s, p, p->sends == 1 ? SESSION_EXPIRED : SESSION_TIMEOUT, SESSION_PATH_SLOW,
			 NULL, 0);
	}
	lease_give_up(s);
	lease_renew(s);
}

static void raise_token(struct session *s, uint64_t t)
{
	if (t > s->token)
		s->token = t;
}

/* ---- curpht cache ---------------------------------------------------------------------- */

static struct cache_ent *cache_slot(struct session *s, const uint8_t *key, uint32_t klen)
{
	if (s->cache == NULL)
		return NULL;
	return &s->cache[common_hash64(key, klen, s->cache_seed) % s->cfg.cache_slots];
}

/* A cache entry for a write or read at `slot` is gone (evicted, or could not be stored): reads
 * sent from now on wait for a replica that executed it, and those in flight are asked again if
 * answered by one that did not (on_weak_reply). */
static void cache_lost(struct session *s, uint64_t slot)
{
	raise_token(s, slot + 1);
	if (slot + 1 > s->evict_hi)
		s->evict_hi = slot + 1;
}

/* Records that slot `slot` left key with (found, value). An evicted entry raises the read token
 * past its slot, so a replica that has not executed it can never answer an older value. */
static void cache_put(struct session *s, const uint8_t *key, uint32_t klen, bool found,
		      const uint8_t *v, uint32_t vlen, uint64_t slot, uint64_t view, uint64_t seq)
{
	struct cache_ent *ce = cache_slot(s, key, klen);
	if (ce == NULL)
		return;
	bool same = ce->used && ce->klen == klen && memcmp(ce->key, key, klen) == 0;
	if (same && (view == ce->view ? ce->slot >= slot : ce->slot >= slot && ce->seq >= seq))
		return;
	uint8_t *nv = vlen ? malloc(vlen) : NULL;
	uint8_t *nk = same ? ce->key : malloc(klen ? klen : 1);
	if ((vlen && nv == NULL) || nk == NULL) {
		/* cannot cache: make the replicas catch up instead */
		free(nv);
		if (!same)
			free(nk);
		cache_lost(s, slot);
		return;
	}
	if (ce->used && !same) {
		cache_lost(s, ce->slot);
		free(ce->key);
	}
	free(ce->val);
	if (!same)
		memcpy(nk, key, klen);
	if (vlen)
		memcpy(nv, v, vlen);
	*ce = (struct cache_ent){.used = true,
				 .found = found,
				 .key = nk,
				 .klen = klen,
				 .val = nv,
				 .vlen = vlen,
				 .slot = slot,
				 .view = view,
				 .seq = seq};
}

/* A strong or weak command completed at `slot`: remember what it left (HT cache) or what the
 * session has observed (HO token). HO: a GET observed the write of version `ver` (1 + its slot),
 * so the bound replica must have executed that far before answering a weak read; the session's
 * own strong write is answered from the bound replica's pending record while it is pending
 * there, which the replica's ok=true RECORD_ACK guarantees (the leader keeps no strong
 * records), so only otherwise must the replica first execute it; a later rebind raises the
 * token past it (rebind()). */
static void observe(struct session *s, const struct pcmd *p, uint64_t slot, uint64_t ver,
		    uint64_t view, bool found, const uint8_t *v, uint32_t vlen)
{
	if (s->io.ordered)
		s->io.ordered(s->io.ctx, p->seq, slot);
	if ((p->op == PROTO_OP_PUT || p->op == PROTO_OP_DEL) && slot + 1 > s->write_hi)
		s->write_hi = slot + 1;
	if (s->cfg.protocol == CONF_PROTO_CURPHO) {
		if (p->kind != PK_STRONG || p->op == PROTO_OP_GET || p->op == PROTO_OP_SCAN)
			raise_token(s,
				    p->kind == PK_STRONG && p->op == PROTO_OP_GET ? ver : slot + 1);
		else if (s->bound == s->leader || !(p->ok_mask & (1u << s->bound)))
			raise_token(s, slot + 1);
	} else if (s->cfg.protocol == CONF_PROTO_CURPHT && p->op == PROTO_OP_SCAN) {
		/* a strong SCAN's keys go into no cache entry: later reads must not go behind it,
		 * so they wait for a replica that executed its slot */
		if (p->kind == PK_STRONG)
			raise_token(s, slot + 1);
	} else if (s->cfg.protocol == CONF_PROTO_CURPHT) {
		if (slot + 1 > s->seen_hi)
			s->seen_hi = slot + 1;
		if (p->op == PROTO_OP_PUT)
			cache_put(s, p->key, p->klen, true, p->val, p->vlen, slot, view, p->seq);
		else if (p->op == PROTO_OP_DEL)
			cache_put(s, p->key, p->klen, false, NULL, 0, slot, view, p->seq);
		else
			cache_put(s, p->key, p->klen, found, v, vlen, slot, view, p->seq);
	}
}

static void send_sync(struct session *s, struct pcmd *p, uint64_t now_ns);

/* HO check 1: every weak write of the session older than p and not yet reported executed (the
 * write set) is among the causal_deps this witness reported, or among the weak writes it
 * reports executed (dep_exec: they execute in session order). */
static bool deps_cover(struct session *s, const struct pcmd *p, const struct proto_msg *m)
{
	for (uint64_t seq = s->low_seq; seq < p->seq; seq++) {
		const struct pcmd *w = find(s, seq);
		if (w == NULL || w->kind != PK_WEAK_WRITE || wire(s, seq) <= m->dep_exec)
			continue; /* executed at that witness: committed, durable */
		bool in = false;
		for (uint32_t i = 0; i < m->n_deps && !in; i++)
			in = m->deps[i] == wire(s, seq);
		if (!in)
			return false;
	}
	return true;
}

static bool cid_eq(struct proto_cid a, struct proto_cid b)
{
	return a.client == b.client && a.seq == b.seq;
}

static void try_fast(struct session *s, struct pcmd *p, uint64_t now_ns)
{
	if (!p->leader_replied || !p->leader_ok)
		return;
	uint32_t witnesses = p->ok_mask & ~(1u << s->leader);
	if (s->cfg.protocol == CONF_PROTO_CURPHO) {
		witnesses &= p->good_mask;
		if (p->op == PROTO_OP_GET) /* HO check 2: everyone saw the same latest weak write */
			for (int r = 0; r < s->cfg.n; r++)
				if ((witnesses & (1u << r)) && !cid_eq(p->rd[r], p->lrd))
					witnesses &= ~(1u << r);
	}
	if (__builtin_popcount(witnesses) < s->q - 1) {
		/* every witness answered and the fast path is out of reach: ask for the result */
		uint32_t answered = (p->ok_mask | p->nok_mask) & ~(1u << s->leader);
		if (__builtin_popcount(answered) >= s->cfg.n - 1 && !p->sync_sent)
			send_sync(s, p, now_ns);
		return;
	}
	enum session_result res =
	    p->leader_status == PROTO_ST_NOT_FOUND ? SESSION_NOT_FOUND : SESSION_OK;
	observe(s, p, p->slot, p->ver, p->sview, res == SESSION_OK, p->lval, p->lvlen);
	complete(s, p, res, p->resends ? SESSION_PATH_RETRY : SESSION_PATH_FAST, p->lval, p->lvlen);
}

/* Re-send p soon (the replica was busy or asked to wait): the tick does it. */
static void resend_soon(struct session *s, struct pcmd *p, uint64_t now_ns)
{
	uint64_t soon = s->cfg.retry_after_ns / 64;
	p->sent_ns = now_ns - s->cfg.retry_after_ns + (soon ? soon : 1);
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
		p->slot = m->slot;
		p->sview = m->view;
		p->ver = m->ver;
		p->lrd = m->read_dep;
		if (m->vlen) {
			p->lval = malloc(m->vlen);
			if (p->lval == NULL) {
				p->leader_ok =
				    false; /* cannot keep the value: wait for SYNC_REPLY */
				return;
			}
			memcpy(p->lval, m->value, m->vlen);
			p->lvlen = m->vlen;
		}
		if (!m->ok)
			s->st.conflicts++; /* the leader will send the result when it executes */
		try_fast(s, p, now_ns);
		return;
	case PROTO_ST_BUSY:
		/* Leader out of descriptors, or the session's previous weak write is not ordered
		 * yet: re-send soon (same cid). */
		resend_soon(s, p, now_ns);
		return;
	case PROTO_ST_STALE_VIEW:
	case PROTO_ST_NOT_LEADER:
		if (s->io.need_view)
			s->io.need_view(s->io.ctx, m->view);
		return;
	case PROTO_ST_CID_REUSED:
		complete(s, p, SESSION_CID_REUSED, SESSION_PATH_SLOW, NULL, 0);
		return;
	case PROTO_ST_EXPIRED:
		on_expired(s, p);
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
	case PROTO_ST_CID_REUSED:
		res = SESSION_CID_REUSED; /* never another command's result */
		break;
	case PROTO_ST_EXPIRED:
		on_expired(s, p); /* (at its execution, or a SYNC's answer) */
		return;
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
	if (res != SESSION_FAILED && res != SESSION_CID_REUSED)
		observe(s, p, m->slot, m->ver, m->view, res == SESSION_OK, v, m->vlen);
	complete(s, p, res, p->resends ? SESSION_PATH_RETRY : SESSION_PATH_SLOW, v, m->vlen);
}

/* HO: the bound replica recorded the weak write (ok=false) or a replica executed it (ok=true). */
static void on_causal_reply(struct session *s, int from, const struct proto_msg *m, struct pcmd *p,
			    uint64_t now_ns)
{
	switch (m->status) {
	case PROTO_ST_OK:
	case PROTO_ST_NOT_FOUND:
	case PROTO_ST_TOO_OLD:
		if (m->ok) {
			/* executed at m->slot (slot 0 is a slot; TOO_OLD carries no usable slot) */
			if (m->status != PROTO_ST_TOO_OLD) {
				raise_token(s, m->slot + 1);
				if (s->io.ordered)
					s->io.ordered(s->io.ctx, p->seq, m->slot);
			}
			lease_ordered(s, p->first_ns);
			if (p->done)
				weak_write_retire(s, p);
			else
				complete(s, p, SESSION_OK, SESSION_PATH_WEAK, NULL, 0);
		} else if (from == p->bound && !p->done && m->status != PROTO_ST_TOO_OLD) {
			complete_keep(s, p, SESSION_OK, SESSION_PATH_WEAK, NULL, 0, true);
		}
		return;
	case PROTO_ST_BUSY:
		resend_soon(s, p, now_ns);
		return;
	case PROTO_ST_STALE_VIEW:
	case PROTO_ST_NOT_LEADER:
		if (s->io.need_view)
			s->io.need_view(s->io.ctx, m->view);
		return;
	case PROTO_ST_EXPIRED:
		on_expired(s, p);
		return;
	case PROTO_ST_INVALID:
	case PROTO_ST_CID_REUSED:
		if (p->done) {
			/* completed to the caller on the bound replica's word, then refused by
			 * the leader (CID_REUSED: the bound replica had not seen the other
			 * command): it will never be ordered; counted as a failure */
			s->st.failures += m->status == PROTO_ST_CID_REUSED;
			weak_write_retire(s, p);
		} else {
			complete(s, p,
				 m->status == PROTO_ST_INVALID ? SESSION_FAILED
							       : SESSION_CID_REUSED,
				 SESSION_PATH_WEAK, NULL, 0);
		}
		return;
	default:
		return;
	}
}

/* HT weak write answered by the leader, or a weak read answered by the bound replica. */
static void on_weak_reply(struct session *s, const struct proto_msg *m, struct pcmd *p,
			  uint64_t now_ns)
{
	switch (m->status) {
	case PROTO_ST_OK:
	case PROTO_ST_NOT_FOUND:
		break;
	case PROTO_ST_BUSY:
		resend_soon(s, p, now_ns);
		return;
	case PROTO_ST_WAIT:
		s->st.weak_waits++;
		resend_soon(s, p, now_ns);
		return;
	case PROTO_ST_STALE_VIEW:
	case PROTO_ST_NOT_LEADER:
		if (s->io.need_view)
			s->io.need_view(s->io.ctx, m->view);
		return;
	case PROTO_ST_INVALID:
		complete(s, p, SESSION_FAILED, SESSION_PATH_WEAK, NULL, 0);
		return;
	case PROTO_ST_CID_REUSED:
		complete(s, p, SESSION_CID_REUSED, SESSION_PATH_WEAK, NULL, 0);
		return;
	case PROTO_ST_EXPIRED:
		on_expired(s, p);
		return;
	default:
		return;
	}
	if (p->kind == PK_WEAK_WRITE) {
		observe(s, p, m->slot, m->slot + 1, m->view, true, NULL, 0);
		complete(s, p, SESSION_OK, SESSION_PATH_WEAK, NULL, 0);
		return;
	}
	raise_token(s, m->commit); /* monotonic reads: never read below what was seen */
	if (s->cfg.protocol == CONF_PROTO_CURPHO && p->op == PROTO_OP_GET && m->slot == 0) {
		/* answered from a pending record (or a key never written): if it may be one of
		 * the session's own strong writes still in flight, order what follows after all
		 * of them. Which one it was is not known (the replica answers the latest it holds,
		 * and a later one may have executed there already: seed curpho N=3 2849, where
		 * the session waited only for the latest, and its next read went behind the one
		 * it had seen) */
		for (uint64_t q = s->low_seq; q < p->seq; q++) {
			const struct pcmd *w = &s->ring[q & (s->cap - 1)];
			if (w->used && w->seq == q && w->kind == PK_STRONG &&
			    (w->op == PROTO_OP_PUT || w->op == PROTO_OP_DEL) &&
			    w->klen == p->klen && memcmp(w->key, p->key, p->klen) == 0 &&
			    p->seq > s->read_floor)
				s->read_floor = p->seq;
		}
	}
	bool found = m->status == PROTO_ST_OK;
	const uint8_t *v = m->value;
	uint32_t vlen = m->vlen;
	struct cache_ent *ce = p->op == PROTO_OP_SCAN ? NULL : cache_slot(s, p->key, p->klen);
	bool hit = ce && ce->used && ce->klen == p->klen && memcmp(ce->key, p->key, p->klen) == 0;
	if (hit && ce->slot >= m->commit) {
		/* HT: the session's own newer write (or strong read) the replica has not executed
		 */
		found = ce->found;
		v = ce->val;
		vlen = ce->vlen;
	} else if (ce && !hit && s->evict_hi > m->commit) {
		/* HT: the key's entry may have been evicted after this read was sent (its token
		 * did not cover the entry's slot) and the replica has not executed that slot: ask
		 * again, with the token now past it (simulation seed curpht N=3 2968) */
		s->st.resends++;
		send_cmd(s, p, now_ns);
		return;
	}
	uint8_t *copy = NULL;
	if (vlen) {
		copy = malloc(vlen);
		if (copy == NULL) {
			resend_soon(s, p, now_ns);
			return;
		}
		memcpy(copy, v, vlen);
	}
	complete(s, p, found ? SESSION_OK : SESSION_NOT_FOUND, SESSION_PATH_WEAK, copy, vlen);
}

int session_pick_bound(const uint64_t *rtt, int n, int preferred, uint64_t client_id, int current,
		       uint32_t *cand)
{
	if (preferred >= 0 && preferred < n)
		return preferred;
	uint64_t best = 0;
	for (int r = 0; r < n; r++)
		if (rtt[r] && (best == 0 || rtt[r] < best))
			best = rtt[r];
	if (best == 0) {
		*cand = 0;
		return current;
	}
	uint64_t tol = best * SESSION_BIND_TOL_PCT / 100;
	if (tol < SESSION_BIND_TOL_MIN_NS)
		tol = SESSION_BIND_TOL_MIN_NS;
	uint32_t in = 0;
	for (int r = 0; r < n; r++) {
		uint64_t over = rtt[r] - best; /* (rtt[r] >= best when measured) */
		if (rtt[r] && (over <= tol || ((*cand >> r & 1) && over <= 2 * tol)))
			in |= 1u << r;
	}
	*cand = in;
	/* the high half of client_id times 2^64/phi, scaled to [0, k): the fractional parts of
	 * multiples of 1/phi are as evenly spread as any sequence's (three-distance theorem), so k
	 * consecutive ids get k different candidates and any run of ids spreads within one or two
	 * of even */
	uint64_t k = (uint64_t)__builtin_popcount(in);
	uint64_t idx = (((client_id * 0x9e3779b97f4a7c15ull) >> 32) * k) >> 32;
	for (int r = 0; r < n; r++)
		if ((in >> r & 1) && idx-- == 0)
			return r;
	return current; /* (not reached: best's replica is in) */
}

/* Binds the session to session_pick_bound's choice. curpho: the session's own strong writes
 * that completed while bound elsewhere may not be held by the new replica (observe() left the
 * token below them on the old bound replica's ok=true record, and this one may have answered
 * ok=false, lost the PROPOSE with a connection, or refused it for a full witness table), so the
 * token covers every completed write of the session: the new replica answers only once it has
 * executed them. (Before 2026-12, a rebind on an RTT change, N=5, could read the value before the
 * session's own fast-path write: test_ho_rebind_covers_own_writes.) Weak writes not yet
 * executed are covered by the read's dep chain (core_weak.c), curpht reads by the cache. */
static void rebind(struct session *s)
{
	int b = session_pick_bound(s->rtt, s->cfg.n, s->cfg.preferred, s->cfg.client_id, s->bound,
				   &s->cand);
	if (b == s->bound)
		return;
	s->bound = b;
	s->st.rebinds++;
	if (s->cfg.protocol == CONF_PROTO_CURPHO)
		raise_token(s, s->write_hi);
}

static void on_pong(struct session *s, int from, const struct proto_msg *m, uint64_t now_ns)
{
	if (m->slot == 0 || m->slot > now_ns)
		return;
	uint64_t sample = now_ns - m->slot;
	if (sample == 0)
		sample = 1;
	if (from == s->leader && m->view == s->view)
		lease_heard(s, m->slot); /* the leader answered a PING sent then (a replica of a
					  * later view is not the leader the session knows) */
	if (m->slot > s->heard[from])
		s->heard[from] = m->slot;
	uint64_t *win = s->rtt_win[from];
	win[s->rtt_next[from]++ % SESSION_RTT_SAMPLES] = sample;
	uint64_t lo = 0;
	for (int i = 0; i < SESSION_RTT_SAMPLES; i++)
		if (win[i] && (lo == 0 || win[i] < lo))
			lo = win[i];
	s->rtt[from] = lo;
	rebind(s);
}

void session_on_msg(struct session *s, int from, const struct proto_msg *m, uint64_t now_ns)
{
	if (from < 0 || from >= s->cfg.n)
		return;
	if (m->type == PROTO_PONG) {
		on_pong(s, from, m, now_ns);
		return;
	}
	if (m->cid.client != s->cfg.client_id)
		return; /* (an earlier id's answers too: given up with it) */
	struct pcmd *p = find(s, m->cid.seq + s->seq_base);
	if (p == NULL)
		return; /* late answer for a completed command */
	if (m->view > s->view && s->io.need_view)
		s->io.need_view(s->io.ctx, m->view);
	switch (m->type) {
	case PROTO_REPLY:
		if (p->kind == PK_STRONG && (m->view == s->view || m->status != PROTO_ST_OK))
			on_reply(s, from, m, p, now_ns);
		break;
	case PROTO_RECORD_ACK:
		if (p->kind != PK_STRONG || m->view != s->view || from == s->leader)
			break;
		if (m->ok) {
			p->ok_mask |= 1u << from;
			p->rd[from] = m->read_dep;
			if (s->cfg.protocol != CONF_PROTO_CURPHO || deps_cover(s, p, m)) {
				p->good_mask |= 1u << from;
			} else {
				s->st.ho_check_failed++;
				if (!p->sync_sent)
					send_sync(s, p, now_ns);
			}
			try_fast(s, p, now_ns);
		} else if (!(p->nok_mask & (1u << from))) {
			p->nok_mask |= 1u << from;
			s->st.conflicts++;
			/* The fast path may now be impossible: ask for the result right away. */
			if (!p->sync_sent)
				send_sync(s, p, now_ns);
		}
		break;
	case PROTO_SYNC_REPLY:
		if (p->kind == PK_STRONG)
			on_sync_reply(s, m, p);
		break;
	case PROTO_CAUSAL_REPLY:
		if (p->kind == PK_WEAK_WRITE && s->cfg.protocol == CONF_PROTO_CURPHO)
			on_causal_reply(s, from, m, p, now_ns);
		break;
	case PROTO_WEAK_REPLY:
		if (p->kind == PK_WEAK_READ ||
		    (p->kind == PK_WEAK_WRITE && s->cfg.protocol == CONF_PROTO_CURPHT))
			on_weak_reply(s, m, p, now_ns);
		break;
	default:
		break;
	}
}

static void probe(struct session *s, uint64_t now_ns)
{
	if (s->cfg.protocol == CONF_PROTO_CURP || now_ns < s->next_probe_ns)
		return;
	/* the first rounds follow each other quickly, so that a session has a few samples of
	 * each replica before it settles on its binding */
	bool quick = s->rounds + 1 < SESSION_PROBE_QUICK;
	s->next_probe_ns = now_ns + (quick ? s->cfg.probe_ns / 64 : s->cfg.probe_ns);
	/* a replica silent for a whole probe period (down, cut off, or too busy to answer) is no
	 * candidate until it answers again: the session rebinds away from it */
	bool lost = false;
	for (int r = 0; s->rounds >= SESSION_PROBE_QUICK && r < s->cfg.n; r++)
		if (s->heard[r] < s->probed_ns && s->rtt[r]) {
			s->rtt[r] = 0;
			memset(s->rtt_win[r], 0, sizeof s->rtt_win[r]);
			lost = true;
		}
	if (lost)
		rebind(s);
	s->probed_ns = now_ns ? now_ns : 1;
	s->rounds++;
	struct proto_msg m = {.type = PROTO_PING,
			      .view = s->view,
			      .slot = now_ns ? now_ns : 1,
			      .client_id = s->cfg.client_id};
	for (int r = 0; r < s->cfg.n; r++)
		s->io.send(s->io.ctx, r, &m);
}

/* The time from t to now, 0 if t is later: a caller's `now` may be older than a stamp taken
 * during its own call (a callback that submitted with a fresher clock). */
static uint64_t elapsed(uint64_t now_ns, uint64_t t)
{
	return now_ns > t ? now_ns - t : 0;
}

/* Lease bookkeeping (top of the file), before anything is re-sent. */
static void lease_tick(struct session *s, uint64_t now_ns)
{
	uint64_t lease = s->cfg.lease_ns;
	if (lease == 0)
		return;
	if (s->id_since_ns == 0)
		s->id_since_ns = now_ns;
	if (s->renewing)
		return;
	if (s->retiring && !s->id_dead && s->anchored)
		s->retiring = false; /* something executed under it after all */
	/* what the leader knows of the id: an anchored one keeps its records while the leader
	 * hears from it; one under which nothing executed is safe only while young */
	uint64_t since = s->id_since_ns;
	if (s->anchored && s->renewed_ns > since)
		since = s->renewed_ns;
	if (s->io.need_id != NULL) {
		if (elapsed(now_ns, since) >= lease / 4 * 3)
			lease_give_up(s); /* (nothing retried into an id that may have expired) */
		else if (!s->anchored && elapsed(now_ns, s->id_since_ns) >= lease / 2)
			s->retiring = true;
		if (s->retiring) {
			lease_renew(s); /* (once nothing is pending) */
			return;
		}
	}
	if (s->anchored && !s->id_dead && elapsed(now_ns, since) >= lease / 4 &&
	    (s->ping_ns == 0 || elapsed(now_ns, s->ping_ns) >= lease / 8)) {
		struct proto_msg m = {.type = PROTO_PING,
				      .view = s->view,
				      .slot = now_ns ? now_ns : 1,
				      .client_id = s->cfg.client_id};
		s->io.send(s->io.ctx, s->leader, &m);
		s->ping_ns = now_ns;
		s->st.keepalives++;
	}
}

void session_tick(struct session *s, uint64_t now_ns)
{
	lease_tick(s, now_ns);
	probe(s, now_ns);
	/* only what was submitted before this tick: a command a callback submits during it is not
	 * due (before, its fresher first_ns made `now_ns - first_ns` wrap around, and it timed out
	 * at once, its callback submitted the next, and so on through the whole workload) */
	uint64_t end = s->next_seq;
	for (uint64_t seq = s->low_seq; seq < end; seq++) {
		struct pcmd *p = find(s, seq);
		if (p == NULL)
			continue;
		if (p->done) {
			/* HO write set: re-send until a replica reports it executed */
			if (elapsed(now_ns, p->sent_ns) >= s->cfg.retry_after_ns) {
				s->st.resends++;
				send_cmd(s, p, now_ns);
			}
			continue;
		}
		if (elapsed(now_ns, p->first_ns) >= s->cfg.timeout_ns) {
			complete(s, p, SESSION_TIMEOUT, SESSION_PATH_RETRY, NULL, 0);
			continue;
		}
		if (elapsed(now_ns, p->sent_ns) >= s->cfg.retry_after_ns) {
			p->resends++;
			s->st.resends++;
			p->sync_sent = false;
			send_cmd(s, p, now_ns);
			continue;
		}
		if (p->kind != PK_STRONG)
			continue;
		if (!p->sync_sent && elapsed(now_ns, p->sent_ns) >= s->cfg.sync_after_ns)
			send_sync(s, p, now_ns);
		else if (p->sync_sent && elapsed(now_ns, p->sync_ns) >= s->cfg.sync_after_ns * 4)
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
		p->ok_mask = p->nok_mask = p->good_mask = 0;
		p->resends++;
		s->st.resends++;
		send_cmd(s, p, now_ns);
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
		if (p->kind == PK_WEAK_READ && replica != p->bound)
			continue;
		if (p->kind == PK_WEAK_WRITE && s->cfg.protocol == CONF_PROTO_CURPHT &&
		    replica != s->leader)
			continue;
		send_propose(s, p, replica);
		if (replica == s->leader && p->kind != PK_WEAK_READ)
			p->sends++;
		if (replica == s->leader && p->leader_replied == false)
			p->sync_sent = false;
	}
}

void session_fail_all(struct session *s)
{
	for (uint64_t seq = s->low_seq; seq < s->next_seq; seq++) {
		struct pcmd *p = find(s, seq);
		if (p == NULL)
			continue;
		if (p->done)
			weak_write_retire(s, p);
		else
			complete(s, p, SESSION_TIMEOUT, SESSION_PATH_RETRY, NULL, 0);
	}
}

uint32_t session_inflight(const struct session *s)
{
	return s->inflight;
}

uint32_t session_unsettled(const struct session *s)
{
	uint32_t n = 0;
	for (uint64_t seq = s->low_seq; seq < s->next_seq; seq++) {
		const struct pcmd *p = &s->ring[seq & (s->cap - 1)];
		n += p->used && p->seq == seq && p->done;
	}
	return n;
}

uint64_t session_client_id(const struct session *s)
{
	return s->cfg.client_id;
}

int session_set_client_id(struct session *s, uint64_t client_id, uint64_t now_ns)
{
	if (client_id == 0 || !s->renewing)
		return -EINVAL;
	if (s->low_seq != s->next_seq)
		return -EINVAL; /* (cannot happen: everything was given up before asking) */
	s->cfg.client_id = client_id;
	s->seq_base = s->next_seq - 1; /* its first command is seq 1 on the wire */
	s->last_weak_write = s->last_write = 0;
	s->read_floor = 0;
	s->anchored = s->id_dead = s->retiring = s->renewing = false;
	s->id_since_ns = now_ns ? now_ns : 1;
	s->renewed_ns = s->ping_ns = 0;
	s->st.new_ids++;
	rebind(s); /* (the hash of the new id may pick another candidate) */
	return 0;
}

int session_new_id(struct session *s)
{
	if (s->io.need_id == NULL)
		return -ENOTSUP;
	if (s->inflight > 0 || session_unsettled(s) > 0)
		return -EBUSY;
	lease_renew(s);
	return 0;
}

uint64_t session_seq_base(const struct session *s)
{
	return s->seq_base;
}

bool session_renewing(const struct session *s)
{
	return s->retiring || s->renewing;
}

void session_get_stats(const struct session *s, struct session_stats *st)
{
	*st = s->st;
}
