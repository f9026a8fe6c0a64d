/* cluster: the master connection, the replica connections its sessions share (struct session
 * of each demultiplexed by client id), and the synchronous stats fetch. */
#include "cluster/cluster.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/auth.h"
#include "common/clock.h"
#include "net/net.h"

#define CLUSTER_TICK_US 2000
#define CLUSTER_GRACE_S 1.0

/* One CLUSTER_REQ waiting for its answer (answers come in request order). */
struct cluster_req {
	struct cluster_session *cs; /* waiting for a client id; NULL = just the view */
	struct cluster_req *next;
};

/* The cluster's connection to replica r, shared by every session of the cluster: each message
 * names its client id (a cid, or PING/PONG's client_id), which routes an answer to its session.
 * One TCP stream per replica keeps each session's messages in the order it sent them. */
struct cluster_link {
	struct cluster *cl;
	int r;
	struct net_dialer d;
	bool started; /* d is running (from the first session on) */
	bool up;      /* connected and HELLO sent */
};

struct cluster_session {
	struct cluster *cl;
	uint64_t client_id;
	struct session *sess;
	bool ready;    /* the ready callback fired */
	double opened; /* ev_now when the session got its client id */
	ev_timer grace;
	cluster_session_ready_cb cb;
	void *arg;
	cluster_order_cb order_cb;
	void *order_arg;
	struct cluster_session *prev, *next;
	struct cluster_session *hnext; /* chain of cluster.by_id (while client_id != 0) */
};

struct cluster {
	struct ev_loop *loop;
	struct net_loop nl;
	const struct conf *conf;
	struct conf_settings set;
	struct cluster_options opt;
	const struct common_logger *log;
	int local_replica; /* the replica this client is "(local)" to, -1 if none */
	const struct conf_host *me;
	struct net_dialer master;
	bool master_up;
	bool ready;
	uint64_t view;
	int leader;
	int n;
	char addr[PROTO_MAX_REPLICAS][CONF_ADDR_MAX];
	uint16_t port[PROTO_MAX_REPLICAS];
	struct cluster_req *reqs, *reqs_tail;
	bool view_req_pending;
	struct cluster_session *sessions;
	struct cluster_link links[PROTO_MAX_REPLICAS];
	/* client id -> session with a protocol session: chained buckets, a power of two of them,
	 * doubled when the sessions outnumber them */
	struct cluster_session **by_id;
	uint32_t by_id_cap, by_id_n;
	ev_timer tick;
	struct auth_key key; /* the shared secret's keys (has_auth) */
	bool has_auth;
	bool auth_failed;      /* reported (once): the master, or a majority of replicas, refused */
	uint32_t refused_mask; /* replicas that refused a handshake (bit r) */
};

/* The sessions' clock: the loop's, read once per iteration (net_loop_now_ns), so a session
 * never sees time go back; a submit, which may come from outside the loop's events (the
 * blocking API), reads the clock afresh and moves the loop's up (loop_now_fresh). */
static uint64_t loop_now(const struct cluster *cl)
{
	return net_loop_now_ns(&cl->nl);
}

static uint64_t loop_now_fresh(struct cluster *cl)
{
	return net_loop_now_refresh(&cl->nl);
}

/* A connection closed. A refused handshake is reported once (a wrong or missing secret cannot
 * fix itself; the caller decides whether to give up) when it is the master's, or when a majority
 * of the replicas refused: a single replica with another secret is that replica's problem, and
 * the others still serve. replica: the replica dialed, -1 for the master. */
static void note_refusal(struct cluster *cl, const struct net_dialer *d, int reason, int replica)
{
	if (reason != NET_CLOSE_AUTH || cl->auth_failed)
		return;
	if (replica >= 0) {
		uint32_t bit = 1u << replica;
		if (!(cl->refused_mask & bit))
			LOG_WARN(cl->log, "replica%d: %s", replica, d->err);
		cl->refused_mask |= bit;
		if (__builtin_popcount(cl->refused_mask) < session_majority(cl->n))
			return;
	}
	cl->auth_failed = true;
	LOG_ERROR(cl->log, "%s: check that secret/secretFile are the cluster's", d->err);
	if (cl->opt.on_auth_failed)
		cl->opt.on_auth_failed(cl, cl->opt.arg);
}

/* ---- master requests --------------------------------------------------------------------- */

static void send_cluster_req(struct cluster *cl)
{
	struct net_conn *c = net_dialer_conn(&cl->master);
	if (c == NULL || !cl->master_up)
		return; /* re-sent on connect */
	struct proto_msg m;
	memset(&m, 0, sizeof m);
	m.type = PROTO_CLUSTER_REQ;
	m.view = cl->view;
	m.role = PROTO_ROLE_CLIENT;
	m.node_id = -1;
	(void)net_conn_send(c, &m);
}

/* Queues a CLUSTER_REQ (for cs's client id, or for the view when cs is NULL). */
static int request(struct cluster *cl, struct cluster_session *cs)
{
	struct cluster_req *q = calloc(1, sizeof *q);
	if (q == NULL)
		return -ENOMEM;
	q->cs = cs;
	if (cl->reqs_tail)
		cl->reqs_tail->next = q;
	else
		cl->reqs = q;
	cl->reqs_tail = q;
	if (cs == NULL)
		cl->view_req_pending = true;
	send_cluster_req(cl);
	return 0;
}

static struct cluster_req *pop_request(struct cluster *cl)
{
	struct cluster_req *q = cl->reqs;
	if (q) {
		cl->reqs = q->next;
		if (cl->reqs == NULL)
			cl->reqs_tail = NULL;
		if (q->cs == NULL)
			cl->view_req_pending = false;
	}
	return q;
}

/* ---- per-replica links ------------------------------------------------------------------- */

static uint32_t link_delay_us(const struct cluster *cl, int r)
{
	if (r == cl->local_replica)
		return 0; /* co-located (Proxy "(local)"): no emulated delay */
	const struct conf_latency *lat = cl->opt.latency;
	if (lat) {
		if (lat->uniform)
			return lat->uniform_rtt_us / 2;
		if (cl->me) {
			uint32_t us = conf_latency_oneway_us(lat, cl->me->addr, cl->addr[r]);
			if (us > 0)
				return us;
		}
	}
	return cl->set.network_delay_ms * 1000u;
}

static void session_make_ready(struct cluster_session *cs)
{
	if (cs->ready)
		return;
	cs->ready = true;
	ev_timer_stop(cs->cl->loop, &cs->grace);
	if (cs->cb)
		cs->cb(cs, cs->arg);
}

static void check_ready(struct cluster_session *cs)
{
	struct cluster *cl = cs->cl;
	if (cs->ready || cs->sess == NULL)
		return;
	int up = 0;
	for (int r = 0; r < cl->n; r++)
		up += cl->links[r].up;
	if (up == cl->n || (up >= session_majority(cl->n) &&
			    ev_now(cl->loop) - cs->opened >= cl->opt.connect_grace_s))
		session_make_ready(cs);
}

static void grace_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct cluster_session *cs = w->data;
	(void)loop;
	(void)revents;
	check_ready(cs); /* the timer repeats until the session is ready */
}

/* ---- sessions by client id ---------------------------------------------------------------- */

static uint32_t by_id_bucket(const struct cluster *cl, uint64_t client_id)
{
	/* Fibonacci hashing: the master hands out consecutive ids */
	return (uint32_t)((client_id * 0x9e3779b97f4a7c15ull) >> 32) & (cl->by_id_cap - 1);
}

/* The session whose client id is client_id, or NULL (an id given up, a session closed). */
static struct cluster_session *by_id_find(const struct cluster *cl, uint64_t client_id)
{
	if (client_id == 0 || cl->by_id_cap == 0)
		return NULL;
	struct cluster_session *cs = cl->by_id[by_id_bucket(cl, client_id)];
	while (cs && cs->client_id != client_id)
		cs = cs->hnext;
	return cs;
}

/* Doubles the buckets (at least 64). Returns 0 or -ENOMEM (the table is then unchanged). */
static int by_id_grow(struct cluster *cl)
{
	uint32_t old_cap = cl->by_id_cap;
	struct cluster_session **old = cl->by_id;
	uint32_t cap = old_cap ? old_cap * 2 : 64;
	struct cluster_session **b = calloc(cap, sizeof *b);
	if (b == NULL)
		return -ENOMEM;
	cl->by_id = b;
	cl->by_id_cap = cap;
	for (uint32_t i = 0; i < old_cap; i++)
		for (struct cluster_session *cs = old[i], *next; cs; cs = next) {
			next = cs->hnext;
			uint32_t k = by_id_bucket(cl, cs->client_id);
			cs->hnext = b[k];
			b[k] = cs;
		}
	free(old);
	return 0;
}

/* Files cs under its client id (!= 0). Returns 0 or -ENOMEM. */
static int by_id_add(struct cluster *cl, struct cluster_session *cs)
{
	if (cl->by_id_n >= cl->by_id_cap && by_id_grow(cl) != 0 && cl->by_id_cap == 0)
		return -ENOMEM; /* (a full table that cannot grow still takes longer chains) */
	if (by_id_find(cl, cs->client_id) != NULL)
		LOG_WARN(cl->log, "client id %llu handed out twice to this process",
			 (unsigned long long)cs->client_id);
	uint32_t k = by_id_bucket(cl, cs->client_id);
	cs->hnext = cl->by_id[k];
	cl->by_id[k] = cs;
	cl->by_id_n++;
	return 0;
}

static void by_id_del(struct cluster *cl, struct cluster_session *cs)
{
	if (cl->by_id_cap == 0)
		return;
	for (struct cluster_session **pp = &cl->by_id[by_id_bucket(cl, cs->client_id)]; *pp;
	     pp = &(*pp)->hnext)
		if (*pp == cs) {
			*pp = cs->hnext;
			cs->hnext = NULL;
			cl->by_id_n--;
			return;
		}
}

/* ---- the shared replica connections ------------------------------------------------------- */

/* Every session hears that the connection to replica r is up, as if it were its own: one ready
 * re-sends what it has in flight to r (session_replica_up), one opening may become ready. */
static void link_up(struct net_dialer *d, struct net_conn *c, void *arg)
{
	struct cluster_link *lk = arg;
	struct cluster *cl = lk->cl;
	(void)d;
	struct proto_msg m;
	memset(&m, 0, sizeof m);
	m.type = PROTO_HELLO;
	m.view = cl->view;
	m.role = PROTO_ROLE_CLIENT;
	m.client_id = 0; /* a shared connection: each message names its own client id */
	m.node_id = cl->local_replica; /* lets the replica skip the emulated delay */
	if (net_conn_send(c, &m) != 0)
		return;
	lk->up = true;
	uint64_t now = loop_now(lk->cl);
	struct cluster_session *next;
	for (struct cluster_session *cs = cl->sessions; cs; cs = next) {
		next = cs->next; /* (a ready callback may close the session it is given) */
		if (cs->sess && cs->ready)
			session_replica_up(cs->sess, lk->r, now);
		else
			check_ready(cs);
	}
}

/* An answer from replica r: to the session its client id names (PONG echoes PING's client_id,
 * every other message to a client carries a cid). An answer for an id no session holds now (an
 * id given up, a session closed) is dropped, as it was by the session itself. */
static void link_msg(struct net_dialer *d, struct net_conn *c, const struct proto_msg *m, void *arg)
{
	struct cluster_link *lk = arg;
	(void)d;
	(void)c;
	uint64_t id = m->type == PROTO_PONG ? m->client_id : m->cid.client;
	struct cluster_session *cs = by_id_find(lk->cl, id);
	if (cs && cs->sess)
		session_on_msg(cs->sess, lk->r, m, loop_now(lk->cl));
}

/* What each session saw when its own connection broke: nothing at once (its sends to r are
 * dropped meanwhile); it re-sends on link_up, or its timers re-send and SYNC elsewhere. */
static void link_down(struct net_dialer *d, int reason, void *arg)
{
	struct cluster_link *lk = arg;
	note_refusal(lk->cl, d, reason, lk->r);
	if (lk->up)
		LOG_DEBUG(lk->cl->log, "lost replica%d (%s): reconnecting", lk->r,
			  net_close_reason_name(reason));
	lk->up = false;
}

static const struct net_dialer_cbs link_cbs = {
    .on_up = link_up, .on_msg = link_msg, .on_down = link_down};

/* Dials every replica, once (the first session that gets its client id); the dialers retry
 * until cluster_close. */
static void links_start(struct cluster *cl)
{
	for (int r = 0; r < cl->n; r++) {
		struct cluster_link *lk = &cl->links[r];
		if (lk->started)
			continue;
		lk->cl = cl;
		lk->r = r;
		if (net_dialer_start(&lk->d, &cl->nl, cl->addr[r], cl->port[r], &link_cbs, lk) !=
		    0) {
			LOG_ERROR(cl->log, "replica%d: %s", r, lk->d.err);
			continue;
		}
		lk->started = true;
		net_dialer_expect(&lk->d, PROTO_ROLE_REPLICA, r);
		net_dialer_set_delay_us(&lk->d, link_delay_us(cl, r));
	}
}

/* session_io.send: onto the cluster's connection to replica `to`, after everything the session
 * sent there before (one stream, appended in call order). */
static void sess_send(void *ctx, int to, const struct proto_msg *m)
{
	struct cluster_session *cs = ctx;
	struct cluster *cl = cs->cl;
	if (to < 0 || to >= cl->n || !cl->links[to].up)
		return; /* down: session_replica_up re-sends when it is back */
	struct net_conn *c = net_dialer_conn(&cl->links[to].d);
	if (c)
		(void)net_conn_send(c, m);
}

static void sess_need_view(void *ctx, uint64_t seen_view)
{
	struct cluster_session *cs = ctx;
	struct cluster *cl = cs->cl;
	(void)seen_view;
	if (!cl->view_req_pending)
		(void)request(cl, NULL);
}

/* session_io.need_id: the session's lease may have run out (or its id expired): a new id from
 * the master, over the same connections (a replica needs no new HELLO: every command carries
 * its client id). */
static void sess_need_id(void *ctx)
{
	struct cluster_session *cs = ctx;
	if (request(cs->cl, cs) != 0)
		LOG_ERROR(cs->cl->log, "client %llu: cannot ask for a new client id",
			  (unsigned long long)cs->client_id);
}

static void sess_ordered(void *ctx, uint64_t seq, uint64_t slot)
{
	struct cluster_session *cs = ctx;
	if (cs->order_cb)
		cs->order_cb(cs->order_arg, seq, slot);
}

void cluster_session_on_order(struct cluster_session *cs, cluster_order_cb cb, void *arg)
{
	cs->order_cb = cb;
	cs->order_arg = arg;
}

/* The client id arrived: create the protocol session and dial every replica. */
static void session_start(struct cluster_session *cs, uint64_t client_id)
{
	struct cluster *cl = cs->cl;
	cs->client_id = client_id;
	struct session_config cfg;
	session_config_default(&cfg, client_id, cl->n);
	cfg.protocol = cl->set.protocol;
	cfg.preferred = cl->local_replica; /* a co-located replica always wins the binding */
	cfg.max_inflight = cl->opt.window ? cl->opt.window : conf_settings_window(&cl->set);
	if (cl->set.reply_timeout_s)
		cfg.timeout_ns = (uint64_t)cl->set.reply_timeout_s * 1000000000ull;
	cfg.lease_ns = (uint64_t)cl->set.client_lease_ms * 1000000ull;
	cfg.id_ns = loop_now_fresh(cl);
	struct session_io io = {.ctx = cs,
				.send = sess_send,
				.need_view = sess_need_view,
				.ordered = sess_ordered,
				.need_id = sess_need_id};
	int rc = session_create(&cfg, cl->view, cl->leader, &io, &cs->sess);
	if (rc != 0) {
		LOG_ERROR(cl->log, "cannot create a session: %s", strerror(-rc));
		cs->sess = NULL;
		return;
	}
	rc = by_id_add(cl, cs);
	if (rc != 0) {
		LOG_ERROR(cl->log, "cannot create a session: %s", strerror(-rc));
		session_destroy(cs->sess);
		cs->sess = NULL;
		return;
	}
	cs->opened = ev_now(cl->loop);
	links_start(cl);
	ev_timer_set(&cs->grace, cl->opt.connect_grace_s, cl->opt.connect_grace_s);
	ev_timer_start(cl->loop, &cs->grace);
	check_ready(cs); /* the connections may be up already (earlier sessions) */
}

/* ---- the master connection --------------------------------------------------------------- */

static void master_up(struct net_dialer *d, struct net_conn *c, void *arg)
{
	struct cluster *cl = arg;
	(void)d;
	struct proto_msg m;
	memset(&m, 0, sizeof m);
	m.type = PROTO_HELLO;
	m.view = cl->view;
	m.role = PROTO_ROLE_CLIENT;
	m.node_id = -1;
	if (net_conn_send(c, &m) != 0)
		return;
	cl->master_up = true;
	/* Answers on the old connection are lost: ask again for everything pending, in order. */
	for (struct cluster_req *q = cl->reqs; q; q = q->next)
		send_cluster_req(cl);
}

static void master_down(struct net_dialer *d, int reason, void *arg)
{
	struct cluster *cl = arg;
	note_refusal(cl, d, reason, -1);
	cl->master_up = false;
	LOG_DEBUG(cl->log, "lost the master (%s): reconnecting", net_close_reason_name(reason));
}

/* An attempt to connect to the master failed; the dialer retries. When it was the first attempt
 * (none ever succeeded), the caller hears of it (on_unreachable). */
static void master_fail(struct net_dialer *d, int err, void *arg)
{
	struct cluster *cl = arg;
	LOG_DEBUG(cl->log, "master: %s: retrying", d->err);
	if (d->attempts == 1 && d->failures == 1 && cl->opt.on_unreachable)
		cl->opt.on_unreachable(cl, d->host, d->port, err, cl->opt.arg);
}

static void apply_info(struct cluster *cl, const struct proto_msg *m)
{
	if (!m->ready)
		return;
	if (m->n_replicas < 1 || m->n_replicas > PROTO_MAX_REPLICAS || m->leader < 0 ||
	    m->leader >= (int)m->n_replicas) {
		LOG_ERROR(cl->log, "master sent an unusable cluster (%u replicas, leader %d)",
			  m->n_replicas, m->leader);
		return;
	}
	if (cl->ready && (int)m->n_replicas != cl->n) {
		LOG_ERROR(cl->log, "master changed the replica count: ignored");
		return;
	}
	bool changed = !cl->ready || m->view != cl->view || m->leader != cl->leader;
	if (!cl->ready) {
		cl->n = (int)m->n_replicas;
		for (int i = 0; i < cl->n; i++) {
			const struct proto_replica_addr *ra = &m->replicas[i];
			int id = ra->id;
			if (id < 0 || id >= cl->n || ra->addr_len == 0 ||
			    ra->addr_len >= CONF_ADDR_MAX) {
				LOG_ERROR(cl->log, "master sent a bad replica entry");
				return;
			}
			memcpy(cl->addr[id], ra->addr, ra->addr_len);
			cl->addr[id][ra->addr_len] = '\0';
			cl->port[id] = ra->port;
		}
	}
	cl->view = m->view;
	cl->leader = m->leader;
	if (!cl->ready) {
		cl->ready = true;
		LOG_INFO(cl->log, "cluster ready: %d replicas, view %llu, leader replica%d", cl->n,
			 (unsigned long long)cl->view, cl->leader);
		ev_timer_start(cl->loop, &cl->tick);
		if (cl->opt.on_ready)
			cl->opt.on_ready(cl, cl->opt.arg);
		return;
	}
	if (changed) {
		uint64_t now = loop_now(cl);
		for (struct cluster_session *cs = cl->sessions; cs; cs = cs->next)
			if (cs->sess)
				session_set_view(cs->sess, cl->view, cl->leader, now);
	}
}

static void master_msg(struct net_dialer *d, struct net_conn *c, const struct proto_msg *m,
		       void *arg)
{
	struct cluster *cl = arg;
	(void)d;
	(void)c;
	if (m->type != PROTO_CLUSTER_INFO)
		return;
	struct cluster_req *q = m->client_id != 0 ? pop_request(cl) : NULL;
	apply_info(cl, m);
	if (q == NULL)
		return;
	if (q->cs && cl->ready && q->cs->sess) {
		/* a new id for a running session (session_io.need_id) */
		LOG_DEBUG(cl->log, "client %llu: now client %llu",
			  (unsigned long long)q->cs->client_id, (unsigned long long)m->client_id);
		by_id_del(cl, q->cs);
		q->cs->client_id = m->client_id;
		if (by_id_add(cl, q->cs) != 0)
			LOG_ERROR(cl->log, "client %llu: out of memory: its answers will be lost",
				  (unsigned long long)m->client_id);
		(void)session_set_client_id(q->cs->sess, m->client_id, loop_now(cl));
	} else if (q->cs && cl->ready)
		session_start(q->cs, m->client_id);
	else if (q->cs)
		(void)request(cl, q->cs); /* cannot happen: sessions open on a ready cluster */
	free(q);
}

static const struct net_dialer_cbs master_cbs = {
    .on_up = master_up, .on_msg = master_msg, .on_down = master_down, .on_fail = master_fail};

static void tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct cluster *cl = w->data;
	(void)loop;
	(void)revents;
	uint64_t now = loop_now(cl);
	/* not before the session is ready: it has nothing to time out, and its first probe round
	 * would go out on connections still being dialed (sess_send drops it), leaving it bound
	 * to the leader until the next round */
	for (struct cluster_session *cs = cl->sessions; cs; cs = cs->next)
		if (cs->sess && cs->ready)
			session_tick(cs->sess, now);
}

/* ---- API --------------------------------------------------------------------------------- */

int cluster_open(struct ev_loop *loop, const struct conf *conf, const struct conf_settings *s,
		 const char *alias, const struct cluster_options *opt, struct cluster **out)
{
	int rc;
	struct cluster *cl = calloc(1, sizeof *cl);
	if (cl == NULL)
		return -ENOMEM;
	cl->loop = loop;
	cl->conf = conf;
	cl->set = *s;
	if (opt)
		cl->opt = *opt;
	if (cl->opt.tick_us == 0)
		cl->opt.tick_us = CLUSTER_TICK_US;
	if (cl->opt.connect_grace_s <= 0)
		cl->opt.connect_grace_s = CLUSTER_GRACE_S;
	cl->log = cl->opt.log;
	cl->leader = -1;
	cl->local_replica = -1;
	cl->me = alias ? conf_find_client(conf, alias) : NULL;
	if (cl->me && cl->me->proxy_local && cl->me->proxy_replica >= 0)
		cl->local_replica = cl->me->proxy_replica;
	struct net_config ncfg = {.lim = {.max_frame = s->max_frame_bytes,
					  .max_key = s->max_key_bytes,
					  .max_value = s->max_value_bytes},
				  .role = PROTO_ROLE_CLIENT,
				  .node_id = -1,
				  .local_sockets = s->local_sockets};
	if (s->secret[0]) {
		rc = auth_key_init(&cl->key, s->secret, strlen(s->secret), conf);
		if (rc != 0)
			goto err_free;
		cl->has_auth = true;
		ncfg.auth = &cl->key;
	}
	rc = net_loop_init(&cl->nl, loop, &ncfg);
	if (rc != 0)
		goto err_free;
	ev_timer_init(&cl->tick, tick_cb, cl->opt.tick_us / 1e6, cl->opt.tick_us / 1e6);
	cl->tick.data = cl;
	const char *maddr = conf->has_master ? conf->master.addr : "127.0.0.1";
	uint16_t mport = conf->has_master && conf->master.port ? conf->master.port : s->master_port;
	rc = net_dialer_start(&cl->master, &cl->nl, maddr, mport, &master_cbs, cl);
	if (rc != 0) {
		LOG_ERROR(cl->log, "master: %s", cl->master.err);
		goto err_net;
	}
	net_dialer_expect(&cl->master, PROTO_ROLE_MASTER, -1);
	rc = request(cl, NULL); /* the first CLUSTER_REQ goes out on connect */
	if (rc != 0)
		goto err_dial;
	*out = cl;
	return 0;

err_dial:
	net_dialer_stop(&cl->master);
err_net:
	net_loop_destroy(&cl->nl);
err_free:
	auth_key_wipe(&cl->key);
	free(cl);
	return rc;
}

static void session_free(struct cluster_session *cs)
{
	struct cluster *cl = cs->cl;
	if (cs->sess) {
		by_id_del(cl, cs);
		session_fail_all(cs->sess);
		session_destroy(cs->sess);
	}
	ev_timer_stop(cl->loop, &cs->grace);
	for (struct cluster_req *q = cl->reqs; q; q = q->next)
		if (q->cs == cs)
			q->cs = NULL; /* its id will be wasted */
	if (cs->prev)
		cs->prev->next = cs->next;
	else
		cl->sessions = cs->next;
	if (cs->next)
		cs->next->prev = cs->prev;
	free(cs);
}

void cluster_close(struct cluster *cl)
{
	if (cl == NULL)
		return;
	while (cl->sessions)
		session_free(cl->sessions);
	while (cl->reqs)
		free(pop_request(cl));
	for (int r = 0; r < cl->n; r++)
		if (cl->links[r].started)
			net_dialer_stop(&cl->links[r].d);
	free(cl->by_id);
	ev_timer_stop(cl->loop, &cl->tick);
	net_dialer_stop(&cl->master);
	net_loop_destroy(&cl->nl);
	auth_key_wipe(&cl->key);
	free(cl);
}

bool cluster_is_ready(const struct cluster *cl)
{
	return cl->ready;
}

bool cluster_auth_failed(const struct cluster *cl)
{
	return cl->auth_failed;
}

uint64_t cluster_view(const struct cluster *cl)
{
	return cl->view;
}

int cluster_leader(const struct cluster *cl)
{
	return cl->leader;
}

int cluster_n_replicas(const struct cluster *cl)
{
	return cl->n;
}

int cluster_session_open(struct cluster *cl, cluster_session_ready_cb cb, void *arg,
			 struct cluster_session **out)
{
	if (!cl->ready)
		return -EAGAIN;
	struct cluster_session *cs = calloc(1, sizeof *cs);
	if (cs == NULL)
		return -ENOMEM;
	cs->cl = cl;
	cs->cb = cb;
	cs->arg = arg;
	ev_timer_init(&cs->grace, grace_cb, 0., 0.);
	cs->grace.data = cs;
	int rc = request(cl, cs);
	if (rc != 0) {
		free(cs);
		return rc;
	}
	cs->next = cl->sessions;
	if (cl->sessions)
		cl->sessions->prev = cs;
	cl->sessions = cs;
	*out = cs;
	return 0;
}

void cluster_session_close(struct cluster_session *cs)
{
	if (cs)
		session_free(cs);
}

int64_t cluster_session_submit(struct cluster_session *cs, const struct proto_cmd *cmd,
			       session_cb cb, void *arg)
{
	if (cs->sess == NULL || !cs->ready)
		return -EAGAIN;
	return session_submit(cs->sess, cmd, cb, arg, loop_now_fresh(cs->cl));
}

int64_t cluster_session_submit_weak(struct cluster_session *cs, const struct proto_cmd *cmd,
				    session_cb cb, void *arg)
{
	if (cs->sess == NULL || !cs->ready)
		return -EAGAIN;
	return session_submit_weak(cs->sess, cmd, cb, arg, loop_now_fresh(cs->cl));
}

bool cluster_session_ready(const struct cluster_session *cs)
{
	return cs->ready;
}

struct session *cluster_session_get(struct cluster_session *cs)
{
	return cs->sess;
}

int cluster_session_new_id(struct cluster_session *cs)
{
	if (cs->sess == NULL || !cs->ready)
		return -EAGAIN;
	return session_new_id(cs->sess);
}

uint64_t cluster_session_client_id(const struct cluster_session *cs)
{
	return cs->client_id;
}

/* ---- synchronous stats ------------------------------------------------------------------- */

struct stats_fetch {
	struct ev_loop *loop;
	struct cluster_stats *out;
	int rc;
	char *err;
	struct net_dialer *d;
};

static void stats_up(struct net_dialer *d, struct net_conn *c, void *arg)
{
	(void)d;
	(void)arg;
	struct proto_msg m;
	memset(&m, 0, sizeof m);
	m.type = PROTO_HELLO;
	m.role = PROTO_ROLE_ADMIN;
	m.node_id = -1;
	(void)net_conn_send(c, &m);
	memset(&m, 0, sizeof m);
	m.type = PROTO_STATS_REQ;
	(void)net_conn_send(c, &m);
}

static void stats_msg(struct net_dialer *d, struct net_conn *c, const struct proto_msg *m,
		      void *arg)
{
	struct stats_fetch *f = arg;
	(void)d;
	(void)c;
	if (m->type != PROTO_STATS_REPLY)
		return;
	f->out->n = 0;
	for (uint32_t i = 0; i < m->n_stats && i < CLUSTER_MAX_STATS; i++) {
		uint32_t len = m->stats[i].name_len;
		if (len >= CLUSTER_STAT_NAME)
			len = CLUSTER_STAT_NAME - 1;
		memcpy(f->out->v[i].name, m->stats[i].name, len);
		f->out->v[i].name[len] = '\0';
		f->out->v[i].value = m->stats[i].value;
		f->out->n++;
	}
	f->rc = 0;
	ev_break(f->loop, EVBREAK_ALL);
}

static void stats_down(struct net_dialer *d, int reason, void *arg)
{
	struct stats_fetch *f = arg;
	if (reason == NET_CLOSE_AUTH) {
		snprintf(f->err, NET_ERR_LEN,
			 "authentication failed (check that secret/secretFile are the cluster's)");
		f->rc = -EACCES;
	} else if (reason == NET_CLOSE_AUTH_TIMEOUT) {
		snprintf(f->err, NET_ERR_LEN, "%s", d->err);
		f->rc = -ETIMEDOUT;
	} else {
		snprintf(f->err, NET_ERR_LEN, "connection closed before the answer (%s)",
			 net_close_reason_name(reason));
		f->rc = -ECONNRESET;
	}
	ev_break(f->loop, EVBREAK_ALL);
}

static const struct net_dialer_cbs stats_cbs = {
    .on_up = stats_up, .on_msg = stats_msg, .on_down = stats_down};

/* Gives up at the timeout, or as soon as a connection attempt failed (the replica is down). */
static void stats_watch_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct stats_fetch *f = w->data;
	(void)revents;
	if (f->d->failures > 0) {
		snprintf(f->err, NET_ERR_LEN, "%s", f->d->err);
		f->rc = -ECONNREFUSED;
		ev_break(loop, EVBREAK_ALL);
	}
}

static void stats_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct stats_fetch *f = w->data;
	(void)revents;
	snprintf(f->err, NET_ERR_LEN, "no answer within the timeout");
	f->rc = -ETIMEDOUT;
	ev_break(loop, EVBREAK_ALL);
}

int cluster_stats(const struct conf *conf, const struct conf_settings *s, int replica_id,
		  double timeout_s, struct cluster_stats *out, char *err)
{
	const struct conf_host *h = conf_replica_by_id(conf, replica_id);
	if (h == NULL) {
		snprintf(err, NET_ERR_LEN, "replica%d is not in the conf", replica_id);
		return -EINVAL;
	}
	return cluster_stats_at(conf, s, h->addr, h->port, timeout_s, out, err);
}

int cluster_stats_at(const struct conf *conf, const struct conf_settings *s, const char *addr,
		     uint16_t port, double timeout_s, struct cluster_stats *out, char *err)
{
	int rc;
	struct auth_key key;
	struct net_config ncfg = {.lim = {.max_frame = s->max_frame_bytes,
					  .max_key = s->max_key_bytes,
					  .max_value = s->max_value_bytes},
				  .role = PROTO_ROLE_ADMIN,
				  .node_id = -1,
				  .local_sockets = s->local_sockets};
	if (s->secret[0]) {
		rc = auth_key_init(&key, s->secret, strlen(s->secret), conf);
		if (rc != 0) {
			snprintf(err, NET_ERR_LEN, "cannot use the secret: %s", strerror(-rc));
			return rc;
		}
		ncfg.auth = &key;
	}
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	if (loop == NULL) {
		snprintf(err, NET_ERR_LEN, "cannot create an event loop");
		rc = -ENOMEM;
		goto err_key;
	}
	struct net_loop nl;
	rc = net_loop_init(&nl, loop, &ncfg);
	if (rc != 0) {
		snprintf(err, NET_ERR_LEN, "bad frame limits in the conf");
		goto err_loop;
	}
	struct net_dialer d;
	struct stats_fetch f = {.loop = loop, .out = out, .rc = -ETIMEDOUT, .err = err, .d = &d};
	memset(out, 0, sizeof *out);
	rc = net_dialer_start(&d, &nl, addr, port, &stats_cbs, &f);
	if (rc != 0) {
		snprintf(err, NET_ERR_LEN, "%s", d.err);
		goto err_net;
	}
	ev_timer watch, timeout;
	ev_timer_init(&watch, stats_watch_cb, 0.01, 0.01);
	watch.data = &f;
	ev_timer_start(loop, &watch);
	ev_timer_init(&timeout, stats_timeout_cb, timeout_s > 0 ? timeout_s : 2.0, 0.);
	timeout.data = &f;
	ev_timer_start(loop, &timeout);
	ev_run(loop, 0);
	ev_timer_stop(loop, &watch);
	ev_timer_stop(loop, &timeout);
	net_dialer_stop(&d);
	rc = f.rc;
err_net:
	net_loop_destroy(&nl);
err_loop:
	ev_loop_destroy(loop);
err_key:
	auth_key_wipe(&key);
	return rc;
}

/* Prints one process's counters under its alias. Returns 0, CLUSTER_EXIT_AUTH if it refused the
 * authentication, or 1 if it did not answer. */
static int stats_print(const struct conf *conf, const struct conf_settings *s, const char *alias,
		       const char *addr, uint16_t port, struct cluster_stats *st)
{
	char err[NET_ERR_LEN];
	int rc = cluster_stats_at(conf, s, addr, port, 2.0, st, err);
	printf("%s\n", alias);
	if (rc != 0) {
		printf("  error %s\n", err);
		fprintf(stderr, "curpkv: %s (%s:%u): %s\n", alias, addr, port, err);
		return rc == -EACCES ? CLUSTER_EXIT_AUTH : 1;
	}
	for (uint32_t k = 0; k < st->n; k++)
		printf("  %s %llu\n", st->v[k].name, (unsigned long long)st->v[k].value);
	return 0;
}

int cluster_stats_main(const struct conf *conf, const struct conf_settings *s, const char *alias)
{
	int status = 0;
	struct cluster_stats *st = malloc(sizeof *st);
	if (st == NULL)
		return 1;
	bool master = alias && conf->has_master && !strcasecmp(conf->master.alias, alias);
	if (master) {
		uint16_t port = conf->master.port ? conf->master.port : s->master_port;
		status = stats_print(conf, s, conf->master.alias, conf->master.addr, port, st);
	} else if (alias && conf_find_replica(conf, alias) == NULL) {
		fprintf(stderr, "curpkv: stats: '%s' is not a replica or the master\n", alias);
		master = true; /* nothing to print */
		status = 1;
	}
	for (size_t i = 0; !master && i < conf->n_replicas; i++) {
		const struct conf_host *h = &conf->replicas[i];
		if (alias && strcasecmp(h->alias, alias))
			continue;
		int rc = stats_print(conf, s, h->alias, h->addr, h->port, st);
		if (rc == CLUSTER_EXIT_AUTH || status == 0)
			status = rc; /* an authentication failure is the status to report */
	}
	free(st);
	return status;
}
