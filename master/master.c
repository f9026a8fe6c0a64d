/* master: registry of replicas, readiness push, client ids and heartbeats on one libev loop. */
#include "master/master.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/auth.h"
#include "common/clock.h"
#include "net/net.h"
#include "proto/proto.h"
#include "wal/wal.h"

/* The last client-id epoch: ids are epoch << 32 | counter. */
#define MASTER_EPOCH_MAX 0xffffffffu

/* One accepted connection. */
struct master_conn {
	struct master *m;
	struct net_conn *c;
	int role;     /* enum proto_role; 0 until HELLO */
	int replica;  /* the replica id this connection registered, -1 if none */
	bool waiting; /* a client told ready=false: push CLUSTER_INFO when ready */
	/* client CLUSTER_REQs not answered yet: no id is handed out before the id epoch is known
	 * (each is answered, in order, with an id once it is) */
	uint32_t ids_owed;
	struct master_conn *prev, *next;
};

struct master_replica {
	bool registered;
	bool live;   /* its last REGISTER: it already serves a cluster (not a fresh process) */
	bool rejoin; /* a fresh process in a running cluster (or restarted): it lost its state */
	/* a new process that rebuilt its state from its write-ahead log (docs/durability.md):
	 * it lost nothing acknowledged, but a leader's in-flight bookkeeping is gone with its
	 * process: it leads no more (a view change) */
	bool restored;
	struct master_conn *conn; /* the connection it registered on, NULL once closed */
	char addr[CONF_ADDR_MAX];
	uint16_t port;
	double last_seen; /* ev_now of its last message (unregistered: of becoming ready) */
	/* with a secret: its conf address when that address is one of this machine's (then it
	 * must register from there), else "" */
	char local_ip[64];
	bool down;
	uint64_t commit, exec;
	uint64_t view; /* the view and leader its last REGISTER reported (live or restored) */
	int leader;
};

struct master {
	struct ev_loop *loop;
	struct net_loop nl;
	struct net_listener lis;
	const struct conf *conf;
	struct conf_settings s;
	const struct common_logger *log;
	int n;
	int leader;
	uint64_t view;
	bool ready; /* a majority registered; the view is known (docs/recovery.md, "The master") */
	/* when it became ready, a replica already served a cluster (or the view was past 0): a
	 * fresh process that registers now has lost whatever it had (rejoin) */
	bool running;
	bool leader_lost; /* the leader restarted: a view change is due even though it answers */
	struct master_replica reps[PROTO_MAX_REPLICAS];
	struct master_conn *conns;
	/* client ids are epoch << 32 | counter (docs/recovery.md, "Client ids"): the epoch is
	 * above every epoch handed out before (stateDir/master.epoch + 1, or above what a majority
	 * of replicas has seen and above the wall clock's seconds), recorded before use */
	uint64_t epoch;	      /* 0 until known: no id is handed out before */
	uint64_t id_next;     /* counter in the low 32 bits, from 1 */
	uint64_t seen_epoch;  /* the highest epoch of a client id a replica reported */
	uint64_t epoch_floor; /* no epoch below it: the recorded or last used epoch + 1 */
	ev_timer hb;
	/* the shared secret's keys (has_auth), and when failures from each address were logged */
	struct auth_key key;
	bool has_auth;
	struct auth_limiter auth_log;
	struct master_stats st;
};

static void conn_unlink(struct master *m, struct master_conn *mc)
{
	if (mc->prev)
		mc->prev->next = mc->next;
	else
		m->conns = mc->next;
	if (mc->next)
		mc->next->prev = mc->prev;
}

/* Closes a connection for a protocol violation. */
static void conn_violation(struct master_conn *mc, const char *why)
{
	struct master *m = mc->m;
	m->st.protocol_errors++;
	LOG_WARN(m->log, "closing %s: %s", net_conn_peer(mc->c), why);
	net_conn_close(mc->c);
}

/* Closes a connection whose role may not do what it did (a message type outside its role's, an
 * identity other than the proven one); logged at most once per address per minute. */
static void conn_role_violation(struct master_conn *mc, const char *why)
{
	struct master *m = mc->m;
	m->st.role_violations++;
	char ip[64];
	net_peer_ip(net_conn_peer(mc->c), ip, sizeof ip);
	if (auth_limiter_allow(&m->auth_log, ip, ev_now(m->loop)))
		LOG_WARN(m->log, "closing %s: %s", net_conn_peer(mc->c), why);
	net_conn_close(mc->c);
}

/* ---- state kept in stateDir (PROTOCOL.md 7.4) ------------------------------------------- */

static void state_path(const struct master *m, const char *name, char *out, size_t len)
{
	snprintf(out, len, "%s/%s", m->s.state_dir, name);
}

/* Writes text to stateDir/name durably: a temporary file, fsync, rename over the old one, fsync
 * of the directory. Returns 0 (also without stateDir) or a negative errno (the caller does not
 * use what it could not record). */
static int state_store(const struct master *m, const char *name, const char *text)
{
	if (m->s.state_dir[0] == 0)
		return 0;
	char path[600], tmp[620];
	state_path(m, name, path, sizeof path);
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	size_t n = strlen(text);
	int rc = 0;
	if (write(fd, text, n) != (ssize_t)n || fsync(fd) != 0)
		rc = -EIO;
	if (close(fd) != 0 && rc == 0)
		rc = -EIO;
	if (rc == 0 && rename(tmp, path) != 0)
		rc = -errno;
	if (rc == 0) {
		/* the rename itself is durable once the directory is */
		int dfd = open(m->s.state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0 || fsync(dfd) != 0)
			rc = -EIO;
		if (dfd >= 0)
			(void)close(dfd);
	}
	return rc;
}

/* Reads "view leader" from stateDir/master.view, if there is one. Returns 0 (found), -ENOENT,
 * or -EINVAL. */
static int view_load(const struct master *m, uint64_t *view, int *leader)
{
	if (m->s.state_dir[0] == 0)
		return -ENOENT;
	char path[600];
	state_path(m, "master.view", path, sizeof path);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return -ENOENT;
	uint64_t v;
	int l;
	int got = fscanf(f, "%" SCNu64 " %d", &v, &l);
	fclose(f);
	if (got != 2 || l < 0 || l >= m->n)
		return -EINVAL;
	*view = v;
	*leader = l;
	return 0;
}

static int view_store(const struct master *m, uint64_t view, int leader)
{
	char buf[64];
	snprintf(buf, sizeof buf, "%" PRIu64 " %d\n", view, leader);
	return state_store(m, "master.view", buf);
}

/* Reads the last client-id epoch from stateDir/master.epoch. Returns 0, -ENOENT or -EINVAL. */
static int epoch_load(const struct master *m, uint64_t *epoch)
{
	if (m->s.state_dir[0] == 0)
		return -ENOENT;
	char path[600];
	state_path(m, "master.epoch", path, sizeof path);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return -ENOENT;
	uint64_t e;
	int got = fscanf(f, "%" SCNu64, &e);
	fclose(f);
	if (got != 1 || e == 0 || e > MASTER_EPOCH_MAX)
		return -EINVAL;
	*epoch = e;
	return 0;
}

/* ---- client ids ------------------------------------------------------------------------- */

/* Starts handing out ids of epoch e (above every epoch used or seen), recorded in stateDir
 * first. Returns 0 or a negative errno: then no id is handed out (logged) until a later call
 * succeeds (the next master start at the latest). The caller answers waiting requests
 * (pay_ids). */
static int epoch_set(struct master *m, uint64_t e)
{
	if (e > MASTER_EPOCH_MAX) {
		LOG_ERROR(m->log,
			  "client ids: epoch %" PRIu64 " is past the last one (%u): "
			  "no more client ids",
			  e, MASTER_EPOCH_MAX);
		m->epoch = 0;
		return -ERANGE;
	}
	char buf[32];
	snprintf(buf, sizeof buf, "%" PRIu64 "\n", e);
	int rc = state_store(m, "master.epoch", buf);
	if (rc != 0) {
		LOG_ERROR(m->log, "cannot record client-id epoch %" PRIu64 " in %s: %s (no ids)", e,
			  m->s.state_dir, strerror(-rc));
		m->epoch = 0;
		return rc;
	}
	m->epoch = e;
	m->id_next = 1;
	m->epoch_floor = e + 1; /* a later epoch (the counter used up, a report) is above it */
	m->st.id_epoch = e;
	LOG_INFO(m->log, "client ids: epoch %" PRIu64 "%s", e,
		 m->s.state_dir[0] ? " (recorded)" : "");
	return 0;
}

/* A fresh client id, or 0 if none may be handed out yet (epoch unknown, or not recordable). */
static uint64_t next_id(struct master *m)
{
	if (m->epoch == 0)
		return 0;
	if (m->id_next > 0xffffffffu && epoch_set(m, m->epoch + 1) != 0)
		return 0; /* the counter is used up: the next epoch first */
	m->st.ids_assigned++;
	return m->epoch << 32 | m->id_next++;
}

/* A replica saw client ids up to `id`: no id handed out from now on is at or below its epoch. */
static void saw_client_id(struct master *m, uint64_t id)
{
	uint64_t e = id >> 32;
	if (e > m->seen_epoch)
		m->seen_epoch = e;
	if (m->epoch != 0 && e >= m->epoch) {
		LOG_WARN(m->log, "a replica has seen client ids of epoch %" PRIu64 ": moving on",
			 e);
		(void)epoch_set(m, e + 1);
	}
}

/* ---- registration and readiness --------------------------------------------------------- */

/* Fills a CLUSTER_INFO for a receiver (node_id: its replica id or -1). Before the master is
 * ready it says nothing of the view (view 0, leader -1): it does not know it yet. */
static void cluster_info(struct master *m, struct proto_msg *r, int node_id, uint64_t client_id)
{
	memset(r, 0, sizeof *r);
	r->type = PROTO_CLUSTER_INFO;
	r->view = m->ready ? m->view : 0;
	r->ready = m->ready;
	r->rejoin = node_id >= 0 && node_id < m->n && m->reps[node_id].rejoin;
	r->leader = m->ready ? m->leader : -1;
	r->node_id = node_id;
	r->client_id = client_id;
	r->n_replicas = (uint32_t)m->n;
	for (int i = 0; i < m->n; i++) {
		const struct master_replica *rp = &m->reps[i];
		const struct conf_host *h = conf_replica_by_id(m->conf, i);
		r->replicas[i].id = i;
		/* Registered address when known, else the conf's (same thing unless NAT). */
		const char *addr = rp->registered ? rp->addr : h->addr;
		r->replicas[i].addr = addr;
		r->replicas[i].addr_len = (uint32_t)strlen(addr);
		r->replicas[i].port = rp->registered ? rp->port : h->port;
	}
}

static void send_info(struct master_conn *mc, uint64_t client_id)
{
	struct proto_msg r;
	cluster_info(mc->m, &r, mc->replica, client_id);
	/* A closed or full connection drops it: the peer asks again. */
	(void)net_conn_send(mc->c, &r);
}

/* Answers the CLUSTER_REQs that waited for the id epoch, each with its own id, in order. */
static void pay_ids(struct master *m)
{
	for (struct master_conn *mc = m->conns; mc; mc = mc->next) {
		while (mc->ids_owed > 0) {
			uint64_t id = next_id(m);
			if (id == 0)
				return;
			mc->ids_owed--;
			send_info(mc, id);
		}
	}
}

static void start_view_change(struct master *m);

/* Tells every replica and client connection the current view. */
static void tell_all(struct master *m)
{
	for (struct master_conn *mc = m->conns; mc; mc = mc->next)
		if (mc->role == PROTO_ROLE_REPLICA || mc->role == PROTO_ROLE_CLIENT)
			send_info(mc, 0);
}

/* The cluster is in view `view` led by `leader` (live replicas report it), above what the
 * master knew (it restarted): adopted and recorded. The cluster runs in that view whether or
 * not it can be recorded; an unrecorded one is learned again from the replicas after a restart,
 * and only views this master starts must be recorded first (start_view_change). */
static void adopt_view(struct master *m, uint64_t view, int leader, const char *why)
{
	int rc = view_store(m, view, leader);
	if (rc != 0)
		LOG_ERROR(m->log, "cannot record view %" PRIu64 " in %s: %s", view, m->s.state_dir,
			  strerror(-rc));
	LOG_INFO(m->log, "view %" PRIu64 ", leader replica%d (%s)", view, leader, why);
	m->view = view;
	m->leader = leader;
	m->leader_lost = false;
}

/* A majority registered: the master learns the running cluster's view from them, hands out
 * client ids, and tells everyone (docs/recovery.md, "The master"). */
static void become_ready(struct master *m, int have)
{
	double now = ev_now(m->loop);
	uint64_t view = 0;
	int leader = -1;
	bool any_live = false;
	for (int i = 0; i < m->n; i++) {
		const struct master_replica *rp = &m->reps[i];
		if (!rp->registered || !(rp->live || rp->restored))
			continue;
		any_live = true; /* (a restored replica holds the cluster's state too) */
		if (rp->leader >= 0 && rp->leader < m->n && (leader < 0 || rp->view > view)) {
			view = rp->view;
			leader = rp->leader;
		}
	}
	/* the highest view a live replica is in: a view that served anything was entered by a
	 * majority, which shares a replica with the majority registered here; never below the
	 * view recorded in stateDir (a view number is never reused) */
	if (leader >= 0 && (view > m->view || (view == m->view && leader != m->leader)))
		adopt_view(m, view, leader, "learned from the replicas");
	m->running = any_live || m->view > 0;
	m->ready = true;
	for (int i = 0; i < m->n; i++) {
		struct master_replica *rp = &m->reps[i];
		rp->rejoin = rp->registered && !rp->live && !rp->restored && m->running;
		rp->last_seen = now; /* silence (an absent replica's too) counts from here */
		rp->down = false;
	}
	LOG_INFO(m->log,
		 "cluster ready: %d of %d replicas registered, view %" PRIu64
		 ", leader replica%d%s",
		 have, m->n, m->view, m->leader, any_live ? " (a running cluster)" : "");
	if (m->epoch == 0) {
		/* above every epoch a majority has seen (any client that completed anything was
		 * seen by a majority, and majorities intersect), the recorded one, and the wall
		 * clock's seconds */
		uint64_t e = common_wall_ns() / 1000000000ull;
		if (e < m->seen_epoch + 1)
			e = m->seen_epoch + 1;
		if (e < m->epoch_floor)
			e = m->epoch_floor;
		if (epoch_set(m, e) == 0)
			pay_ids(m);
	}
	for (struct master_conn *mc = m->conns; mc; mc = mc->next) {
		if (mc->replica >= 0 || mc->waiting) {
			mc->waiting = false;
			send_info(mc, 0);
		}
	}
	const struct master_replica *lp = &m->reps[m->leader];
	if (lp->registered && (lp->rejoin || lp->restored)) {
		/* the leader is a new process: its state is gone (or only what its log kept), it
		 * cannot lead this view */
		LOG_WARN(m->log, "replica%d, the leader, %s: changing the view", m->leader,
			 lp->rejoin ? "lost its state" : "restarted from its log");
		m->leader_lost = true;
		start_view_change(m);
	}
}

static void on_register(struct master_conn *mc, const struct proto_msg *msg)
{
	struct master *m = mc->m;
	if (mc->role != PROTO_ROLE_REPLICA) {
		conn_violation(mc, "REGISTER from a connection that is not a replica");
		return;
	}
	int id = msg->node_id;
	if (id < 0 || id >= m->n) {
		conn_violation(mc, "REGISTER with a replica id outside the conf");
		return;
	}
	if (m->has_auth && id != net_conn_peer_node(mc->c)) {
		conn_role_violation(mc, "REGISTER as another replica than the handshake proved");
		return;
	}
	if (m->has_auth && m->reps[id].local_ip[0]) {
		char ip[64];
		net_peer_ip(net_conn_peer(mc->c), ip, sizeof ip);
		/* over a Unix socket (localSockets) the peer is on this host, as its address is */
		if (!net_conn_is_local(mc->c) && strcmp(ip, m->reps[id].local_ip) != 0) {
			conn_role_violation(mc, "a replica registering from another address than "
						"its conf address");
			return;
		}
	}
	if (msg->addr_len == 0 || msg->addr_len >= CONF_ADDR_MAX) {
		conn_violation(mc, "REGISTER with an empty or oversized address");
		return;
	}
	if (msg->live && (msg->leader < 0 || msg->leader >= m->n)) {
		conn_violation(mc, "REGISTER of a serving replica without a leader in the conf");
		return;
	}
	struct master_replica *rp = &m->reps[id];
	if (rp->conn && rp->conn != mc) {
		/* A restarted replica registers before its old connection's EOF arrived. */
		LOG_INFO(m->log, "replica%d re-registered: dropping its old connection", id);
		rp->conn->replica = -1;
		net_conn_close(rp->conn->c);
	}
	if (mc->replica >= 0 && mc->replica != id) {
		conn_violation(mc, "REGISTER as two different replicas");
		return;
	}
	bool again = rp->registered;
	rp->registered = true;
	rp->live = msg->live;
	rp->restored = !msg->live && msg->restored;
	rp->view = msg->live || rp->restored ? msg->view : 0;
	rp->leader = msg->live || rp->restored ? msg->leader : -1;
	/* a fresh process that this master saw before, or that joins a running cluster, lost
	 * its state (7.3); a live replica that merely registers again (a new master, a broken
	 * connection) did not */
	rp->rejoin = !msg->live && !rp->restored &&
		     (again || (m->ready && (m->running || m->view > 0)));
	rp->conn = mc;
	memcpy(rp->addr, msg->addr, msg->addr_len);
	rp->addr[msg->addr_len] = '\0';
	rp->port = msg->port;
	rp->last_seen = ev_now(m->loop);
	rp->down = false;
	rp->exec = msg->slot;
	mc->replica = id;
	m->st.registrations++;
	LOG_INFO(m->log, "replica%d %sregistered at %s:%u (from %s): %s", id, again ? "re-" : "",
		 rp->addr, rp->port, net_conn_peer(mc->c),
		 msg->live      ? "live"
		 : rp->restored ? "restarted from its write-ahead log"
		 : rp->rejoin	? "a fresh process, rejoining"
				: "a fresh process");
	saw_client_id(m, msg->client_id);
	if (m->ready && (msg->live || rp->restored) && msg->view > m->view && msg->leader >= 0 &&
	    msg->leader < m->n) {
		adopt_view(m, msg->view, msg->leader, "a replica is in it");
		tell_all(m);
	}
	if ((rp->rejoin || rp->restored) && m->ready && id == m->leader) {
		/* the leader restarted (faster than leaderTimeoutMs): its state is gone, so it
		 * cannot lead the view it led; the others elect a new leader */
		LOG_WARN(m->log, "replica%d, the leader, restarted: changing the view", id);
		if (rp->rejoin)
			rp->exec = 0;
		m->leader_lost = true;
		start_view_change(m); /* tells everyone, this replica included */
		if (m->leader == id)
			return; /* not enough replicas yet: it learns the view once one starts */
	}
	if (!m->ready) {
		int have = 0;
		for (int i = 0; i < m->n; i++)
			have += m->reps[i].registered;
		if (have >= m->n / 2 + 1) {
			become_ready(m, have); /* pushes to this replica too */
			return;
		}
		LOG_INFO(m->log, "waiting for %d more replica(s) (a majority of %d)",
			 m->n / 2 + 1 - have, m->n);
	}
	send_info(mc, 0);
}

static void on_cluster_req(struct master_conn *mc)
{
	struct master *m = mc->m;
	uint64_t id = 0;
	if (mc->role == PROTO_ROLE_CLIENT) {
		if (!m->ready)
			mc->waiting = true;
		id = mc->ids_owed == 0 ? next_id(m) : 0;
		if (id == 0) {
			/* no id before the epoch is known: answered, in order, once it is */
			mc->ids_owed++;
			m->st.clients_served++;
			return;
		}
	}
	m->st.clients_served++;
	send_info(mc, id);
}

static void on_heartbeat(struct master_conn *mc, const struct proto_msg *msg)
{
	struct master *m = mc->m;
	if (mc->replica < 0)
		return;
	struct master_replica *rp = &m->reps[mc->replica];
	rp->commit = msg->commit;
	rp->exec = msg->slot;
	if (rp->down) {
		LOG_INFO(m->log, "replica%d is back (commit %llu)", mc->replica,
			 (unsigned long long)rp->commit);
		rp->down = false;
	}
}

static void on_stats_req(struct master_conn *mc)
{
	struct master *m = mc->m;
	struct proto_msg r;
	memset(&r, 0, sizeof r);
	r.type = PROTO_STATS_REPLY;
	r.view = m->view;
	const struct {
		const char *name;
		uint64_t value;
	} v[] = {
	    {"ready", m->ready},
	    {"view", m->view},
	    {"leader", (uint64_t)m->leader},
	    {"view_changes", m->st.view_changes},
	    {"registrations", m->st.registrations},
	    {"clients_served", m->st.clients_served},
	    {"ids_assigned", m->st.ids_assigned},
	    {"id_epoch", m->epoch},
	    {"heartbeats_sent", m->st.heartbeats_sent},
	    {"replicas_down", m->st.replicas_down},
	    {"protocol_errors", m->st.protocol_errors},
	    {"frames_rejected", m->nl.st.frames_rejected},
	    {"auth", m->has_auth},
	    {"auth_ok", m->nl.st.auth_ok},
	    {"auth_failed", m->nl.st.auth_failed},
	    {"role_violations", m->st.role_violations},
	    {"conns_refused", m->nl.st.conns_refused},
	};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		r.stats[i].name = v[i].name;
		r.stats[i].name_len = (uint32_t)strlen(v[i].name);
		r.stats[i].value = v[i].value;
	}
	r.n_stats = sizeof v / sizeof v[0];
	(void)net_conn_send(mc->c, &r);
}

static void conn_msg(struct net_conn *c, const struct proto_msg *msg, void *arg)
{
	struct master_conn *mc = arg;
	struct master *m = mc->m;
	(void)c;
	if (mc->role == 0 && msg->type != PROTO_HELLO) {
		conn_violation(mc, "first message is not HELLO");
		return;
	}
	if (mc->replica >= 0)
		m->reps[mc->replica].last_seen = ev_now(m->loop);
	if (mc->role != 0 && msg->type != PROTO_HELLO &&
	    !auth_may_send(AUTH_TO_MASTER, mc->role, msg->type)) {
		char why[96];
		snprintf(why, sizeof why, "a %s connection may not send %s",
			 auth_role_name(mc->role), proto_type_name(msg->type));
		conn_role_violation(mc, why);
		return;
	}
	switch (msg->type) {
	case PROTO_HELLO:
		if (mc->role != 0 || msg->role < PROTO_ROLE_CLIENT ||
		    msg->role > PROTO_ROLE_ADMIN) {
			conn_violation(mc, "bad or repeated HELLO");
			return;
		}
		if (m->has_auth && msg->role != net_conn_peer_role(mc->c)) {
			conn_role_violation(mc,
					    "HELLO claims another role than the handshake proved");
			return;
		}
		mc->role = msg->role;
		break;
	case PROTO_REGISTER:
		on_register(mc, msg);
		break;
	case PROTO_CLUSTER_REQ:
		on_cluster_req(mc);
		break;
	case PROTO_HEARTBEAT:
		on_heartbeat(mc, msg);
		break;
	case PROTO_STATS_REQ:
		on_stats_req(mc);
		break;
	default:
		conn_violation(mc, "message type not handled by the master");
		break;
	}
}

static void conn_close(struct net_conn *c, int reason, void *arg)
{
	struct master_conn *mc = arg;
	struct master *m = mc->m;
	if (m->has_auth && !net_conn_authenticated(c)) {
		/* the reason in the log only: the peer got AUTH_FAIL whatever it was */
		char ip[64];
		net_peer_ip(net_conn_peer(c), ip, sizeof ip);
		if (auth_limiter_allow(&m->auth_log, ip, ev_now(m->loop)))
			LOG_WARN(m->log,
				 "authentication failed from %s: %s (further failures from this "
				 "address are not logged for a minute; %llu not logged so far)",
				 net_conn_peer(c),
				 net_conn_auth_why(c) ? net_conn_auth_why(c) : "?",
				 (unsigned long long)m->auth_log.suppressed);
	}
	if (mc->replica >= 0 && m->reps[mc->replica].conn == mc) {
		m->reps[mc->replica].conn = NULL;
		LOG_INFO(m->log, "replica%d disconnected (%s)", mc->replica,
			 net_close_reason_name(reason));
	}
	conn_unlink(m, mc);
	free(mc);
}

static const struct net_conn_cbs master_conn_cbs = {.on_msg = conn_msg, .on_close = conn_close};

static void on_accept(struct net_listener *l, int fd, const char *peer, void *arg)
{
	struct master *m = arg;
	(void)l;
	/* unauthenticated connections are bounded by maxClients (each lasts NET_AUTH_TIMEOUT_S at
	 * most): a flood of them cannot exhaust the master */
	if (m->has_auth && net_loop_unauth(&m->nl) >= m->s.max_clients) {
		net_loop_count_refused(&m->nl);
		char ip[64];
		net_peer_ip(peer, ip, sizeof ip);
		if (auth_limiter_allow(&m->auth_log, ip, ev_now(m->loop)))
			LOG_WARN(m->log,
				 "refusing %s: maxClients (%u) unauthenticated connections already",
				 peer, m->s.max_clients);
		(void)close(fd);
		return;
	}
	struct master_conn *mc = calloc(1, sizeof *mc);
	if (mc == NULL) {
		net_loop_count_refused(&m->nl);
		(void)close(fd);
		return;
	}
	mc->m = m;
	mc->replica = -1;
	if (net_conn_create(&m->nl, fd, peer, &master_conn_cbs, mc, &mc->c) != 0) {
		free(mc); /* fd already closed */
		return;
	}
	mc->next = m->conns;
	if (m->conns)
		m->conns->prev = mc;
	m->conns = mc;
}

/* ---- view changes ---------------------------------------------------------------------- */

/* The leader is silent: start view+1 with the live replica that executed furthest (ties: the
 * next id after the old leader), if a majority is alive to carry it. Every connection (replicas
 * and clients) is told. */
static void start_view_change(struct master *m)
{
	int alive = 0, best = -1;
	for (int k = 1; k <= m->n; k++) {
		int i = (m->leader + k) % m->n;
		const struct master_replica *rp = &m->reps[i];
		if (!rp->registered || rp->down || rp->conn == NULL)
			continue;
		alive++;
		if (i != m->leader && (best < 0 || rp->exec > m->reps[best].exec))
			best = i;
	}
	if (best < 0 || alive < m->n / 2 + 1) {
		LOG_WARN(m->log, "leader replica%d is down and only %d replica(s) answer: waiting",
			 m->leader, alive);
		return;
	}
	int rc = view_store(m, m->view + 1, best);
	if (rc != 0) {
		LOG_ERROR(m->log, "cannot record view %" PRIu64 " in %s: %s (not starting it)",
			  m->view + 1, m->s.state_dir, strerror(-rc));
		return;
	}
	LOG_WARN(m->log, "view change: view %" PRIu64 ", leader replica%d (replica%d silent)",
		 m->view + 1, best, m->leader);
	m->view++;
	m->leader = best;
	m->leader_lost = false;
	m->st.view_changes++;
	tell_all(m);
}

static void hb_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct master *m = w->data;
	(void)revents;
	double now = ev_now(loop);
	double limit = m->s.leader_timeout_ms / 1000.0;
	struct proto_msg hb;
	memset(&hb, 0, sizeof hb);
	hb.type = PROTO_HEARTBEAT;
	hb.view = m->ready ? m->view : 0; /* (replicas do not take views from heartbeats) */
	for (int i = 0; i < m->n; i++) {
		struct master_replica *rp = &m->reps[i];
		/* an unregistered replica is judged once the master is ready: one that never
		 * registers (the leader a restarted master learned, dead meanwhile) is down after
		 * leaderTimeoutMs, which starts the next view */
		if (!rp->registered && !m->ready)
			continue;
		if (rp->conn) {
			hb.commit = rp->commit;
			if (net_conn_send(rp->conn->c, &hb) == 0)
				m->st.heartbeats_sent++;
		}
		if (!rp->down && now - rp->last_seen > limit) {
			rp->down = true;
			m->st.replicas_down++;
			LOG_WARN(m->log, "replica%d is down: %s for %.0f ms%s", i,
				 rp->registered ? "silent" : "not registered",
				 (now - rp->last_seen) * 1000.0,
				 i == m->leader ? " (the leader)" : "");
		}
	}
	if (m->ready && (m->reps[m->leader].down || m->leader_lost))
		start_view_change(m);
}

int master_create(struct ev_loop *loop, const struct master_options *opt, struct master **out)
{
	const struct conf *conf = opt->conf;
	int rc;
	int n = (int)conf->n_replicas;
	if (n < 1 || n > PROTO_MAX_REPLICAS) {
		LOG_ERROR(opt->log, "master: %d replicas in %s (1..%d supported)", n, conf->path,
			  PROTO_MAX_REPLICAS);
		return -EINVAL;
	}
	for (int i = 0; i < n; i++) {
		if (conf_replica_by_id(conf, i) == NULL) {
			LOG_ERROR(opt->log, "master: replica ids must be 0..%d: replica%d missing",
				  n - 1, i);
			return -EINVAL;
		}
	}
	int leader = opt->leader < 0 ? 0 : opt->leader;
	if (leader >= n) {
		LOG_ERROR(opt->log, "master: leader %d is not a replica", leader);
		return -EINVAL;
	}
	if (opt->settings->state_dir[0]) {
		/* as a replica's: never created, and a master that could not record its view or
		 * id epoch would serve without them (docs/durability.md, "Faults") */
		char err[700];
		rc = wal_state_dir_check(opt->settings->state_dir, err, sizeof err);
		if (rc != 0) {
			LOG_ERROR(opt->log, "master: %s: cannot start", err);
			return rc;
		}
	}
	struct master *m = calloc(1, sizeof *m);
	if (m == NULL)
		return -ENOMEM;
	m->loop = loop;
	m->conf = conf;
	m->s = *opt->settings;
	m->log = opt->log;
	m->n = n;
	m->leader = leader;
	m->view = 0;
	uint64_t sview;
	int sleader;
	rc = view_load(m, &sview, &sleader);
	if (rc == 0) {
		m->view = sview; /* a restarted master never reuses a view */
		m->leader = sleader;
		LOG_INFO(m->log, "master: view %" PRIu64 ", leader replica%d (from %s)", sview,
			 sleader, m->s.state_dir);
	} else if (rc == -EINVAL) {
		LOG_ERROR(m->log, "master: %s/master.view is unreadable", m->s.state_dir);
		free(m);
		return -EINVAL;
	}
	uint64_t sepoch;
	m->epoch_floor = 1;
	rc = epoch_load(m, &sepoch);
	if (rc == -EINVAL) {
		LOG_ERROR(m->log, "master: %s/master.epoch is unreadable", m->s.state_dir);
		free(m);
		return -EINVAL;
	}
	if (rc == 0) {
		/* one more than the last recorded epoch, recorded before any id of it is handed
		 * out: ids right away, unique against every id of a master that used stateDir */
		m->epoch_floor = sepoch + 1;
		(void)epoch_set(m, sepoch + 1);
	}
	/* else: no id before a majority of replicas reported what they have seen */
	struct net_config ncfg = {.lim = {.max_frame = m->s.max_frame_bytes,
					  .max_key = m->s.max_key_bytes,
					  .max_value = m->s.max_value_bytes},
				  .role = PROTO_ROLE_MASTER,
				  .node_id = -1,
				  .local_sockets = m->s.local_sockets};
	if (m->s.secret[0]) {
		rc = auth_key_init(&m->key, m->s.secret, strlen(m->s.secret), conf);
		if (rc != 0) {
			LOG_ERROR(m->log, "master: cannot use the secret: %s", strerror(-rc));
			goto err_free;
		}
		m->has_auth = true;
		ncfg.auth = &m->key;
		char err[NET_ERR_LEN];
		for (int i = 0; i < n; i++)
			if (net_addr_local(conf_replica_by_id(conf, i)->addr, m->reps[i].local_ip,
					   sizeof m->reps[i].local_ip, err) != 1)
				m->reps[i].local_ip[0] = '\0';
	} else {
		LOG_WARN(m->log, "no secret: any host that reaches this port can join the cluster "
				 "(set secret or secretFile: docs/conf.md, \"Security\")");
	}
	rc = net_loop_init(&m->nl, loop, &ncfg);
	if (rc != 0)
		goto err_free;
	const char *addr = conf->has_master ? conf->master.addr : NULL;
	uint16_t port =
	    conf->has_master && conf->master.port ? conf->master.port : m->s.master_port;
	char err[NET_ERR_LEN];
	rc = net_listener_open(&m->lis, &m->nl, addr, port, on_accept, m, err);
	if (rc != 0) {
		LOG_ERROR(m->log, "master: cannot listen: %s", err);
		goto err_net;
	}
	LOG_INFO(m->log, "master listening on %s:%u%s for %d replicas (leader replica%d)",
		 m->lis.any ? "*" : addr, m->lis.port,
		 m->lis.any ? " (conf address is not local)" : "", n, m->leader);
	double period = (m->s.heartbeat_ms ? m->s.heartbeat_ms : 100) / 1000.0;
	ev_timer_init(&m->hb, hb_cb, period, period);
	m->hb.data = m;
	ev_timer_start(loop, &m->hb);
	*out = m;
	return 0;

err_net:
	net_loop_destroy(&m->nl);
err_free:
	auth_key_wipe(&m->key);
	free(m);
	return rc;
}

void master_destroy(struct master *m)
{
	if (m == NULL)
		return;
	ev_timer_stop(m->loop, &m->hb);
	net_listener_close(&m->lis);
	while (m->conns) {
		struct master_conn *mc = m->conns;
		m->conns = mc->next;
		net_conn_abandon(mc->c);
		free(mc);
	}
	net_loop_destroy(&m->nl);
	auth_key_wipe(&m->key);
	free(m);
}

bool master_ready(const struct master *m)
{
	return m->ready;
}

uint16_t master_port(const struct master *m)
{
	return m->lis.port;
}

void master_get_stats(const struct master *m, struct master_stats *st)
{
	*st = m->st;
}

static void stop_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	const struct common_logger *log = w->data;
	(void)revents;
	LOG_INFO(log, "signal %d: stopping", w->signum);
	ev_break(loop, EVBREAK_ALL);
}

int master_main(const struct conf *conf, const struct conf_settings *s, const char *quorum_path,
		const struct common_logger *log)
{
	int leader = -1;
	if (quorum_path) {
		struct conf_diags diags = {0};
		int rc = conf_quorum_load(quorum_path, conf, &leader, &diags);
		conf_diags_print(&diags, stderr);
		conf_diags_free(&diags);
		if (rc != 0) {
			LOG_ERROR(log, "cannot use quorum file %s", quorum_path);
			return 1;
		}
	}
	struct ev_loop *loop = ev_default_loop(EVFLAG_AUTO);
	if (loop == NULL) {
		LOG_ERROR(log, "cannot create the event loop");
		return 1;
	}
	struct master_options opt = {.conf = conf, .settings = s, .leader = leader, .log = log};
	struct master *m;
	if (master_create(loop, &opt, &m) != 0)
		return 1;
	ev_signal sigint, sigterm;
	ev_signal_init(&sigint, stop_cb, SIGINT);
	ev_signal_init(&sigterm, stop_cb, SIGTERM);
	sigint.data = sigterm.data = (void *)log;
	ev_signal_start(loop, &sigint);
	ev_signal_start(loop, &sigterm);
	ev_run(loop, 0);
	ev_signal_stop(loop, &sigint);
	ev_signal_stop(loop, &sigterm);
	master_destroy(m);
	LOG_INFO(log, "master stopped");
	return 0;
}
