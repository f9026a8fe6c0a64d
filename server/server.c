/* server: the I/O shell of a replica: listener, master and peer dialers, client
 * connections, and the wiring of all of them to the protocol core on one libev loop. */
#include "server/server.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "auth/auth.h"
#include "cloops/cloops.h"
#include "common/clock.h"
#include "net/net.h"
#include "proto/proto.h"
#include "replica/core.h"
#include "wal/snap.h"
#include "wal/wal.h"

#define SERVER_TICK_S 0.005 /* core_tick period */
#define XLOG_FLUSH_S  0.1   /* -xlog: the execution log is flushed this often */

struct server;

/* The outgoing connection to peer replica `id` (the one this server sends to it on). */
struct server_peer {
	struct server *s;
	int id;
	struct net_dialer d;
	bool up;	      /* connected and HELLO sent */
	uint32_t delay_us;    /* emulated delay of what we RECEIVE from this peer */
	struct server_in *in; /* the connection this peer dialed to us, NULL if none */
	/* with a secret: its conf address when that address is one of this machine's (then its
	 * connections must come from there), else "" */
	char local_ip[64];
};

/* An accepted connection: a peer's outgoing connection, a client or a tool. */
struct server_in {
	struct server *s;
	struct net_conn *c;
	int role;      /* enum proto_role; 0 until HELLO */
	int peer;      /* role replica: the peer's id */
	uint32_t slot; /* role client: index in s->clients */
	bool handoff;  /* role client: to be handed to a client loop (replicaLoops > 1) */
	uint32_t delay_us;
	struct server_in *prev, *next;
};

/* A client connection slot; core connection ids are (gen << 32) | (index + 1). */
struct server_client {
	struct server_in *in; /* NULL when free */
	uint32_t gen;
};

struct server {
	struct ev_loop *loop;
	struct net_loop nl;
	struct net_listener lis;
	const struct conf *conf;
	struct conf_settings set;
	const struct conf_latency *lat;
	const struct common_logger *log;
	int self, n;
	const struct conf_host *host; /* this replica in the conf */
	struct net_dialer master;
	struct server_peer peers[PROTO_MAX_REPLICAS];
	struct server_in *ins; /* every accepted connection */
	struct server_client *clients;
	uint32_t max_clients, n_clients;
	uint32_t *free_slots; /* stack of free client slot indexes */
	uint32_t n_free;
	struct core *core; /* NULL until the master makes this replica serve */
	/* durability (docs/durability.md): the write-ahead log in stateDir/<alias> (NULL without
	 * stateDir), and the core rebuilt from it at start, until start_core takes it over */
	struct wal *wal;
	struct core *restored;
	uint64_t wal_commits;
	char wal_dir[700];
	/* snapshots (docs/durability.md, "Snapshots"): the child writing one (0: none), the LSN it
	 * covers (every record below), the execution index then and at the last one that was
	 * written, when to try again after a failure */
	pid_t snap_pid;
	/* on the default loop libev reaps every child (its SIGCHLD handler): the child's end
	 * comes through this watcher there; elsewhere snapshot_tick asks waitpid */
	ev_child snap_child;
	bool snap_ended;
	int snap_status;
	uint64_t snap_lsn, snap_exec, snap_exec_last;
	double snap_started, snap_retry_at;
	uint64_t snapshots, snapshot_failures;
	uint64_t snap_last_lsn; /* of the last snapshot written or read at start */
	struct cloops *cloops; /* client loops when replicaLoops > 1, else NULL */
	uint64_t view;
	int leader;
	/* the highest client id in any message received (clients and peers): reported when
	 * registering, so a new master hands out ids above it (docs/recovery.md, "Client ids") */
	uint64_t max_client;
	bool intake_open;
	uint32_t client_delay_us; /* delay for non-co-located clients */
	ev_timer tick;
	/* the shared secret's keys (has_auth), and when failures from each address were logged */
	struct auth_key key;
	bool has_auth;
	struct auth_limiter auth_log;
	/* -xlog: a line per command executed here, or NULL (not owned); flushed by xlog_t */
	FILE *xlog;
	ev_timer xlog_t;
	/* counters of the shell (the net ones are in nl.st) */
	uint64_t dropped_to_peer, dropped_to_client, clients_refused, protocol_errors;
	uint64_t role_violations; /* messages (or a HELLO) the connection's role may not send */
	/* the most CPU time a core_flush or core_tick took while a state transfer was being sent,
	 * since the last stats request (a transfer's chunks are produced in those calls) */
	uint64_t xfer_call_max_ns;
};

static uint64_t now_ns(void)
{
	return common_now_ns();
}

/* The time the core is given: the main loop's, read once per iteration (net_loop_now_ns), so
 * every call into the core sees a time no earlier than the one before. now_ns() is for
 * measuring how long something took. */
static uint64_t core_now(const struct server *s)
{
	return net_loop_now_ns(&s->nl);
}

/* ---- emulated latency -------------------------------------------------------------------- */

/* One-way delay between this replica and address `addr` (a peer or a client's IP). */
static uint32_t delay_to(const struct server *s, const char *addr)
{
	if (s->lat) {
		if (s->lat->uniform)
			return s->lat->uniform_rtt_us / 2;
		uint32_t us = conf_latency_oneway_us(s->lat, s->host->addr, addr);
		if (us > 0)
			return us;
	}
	return s->set.network_delay_ms * 1000u;
}

/* "1.2.3.4:5" or "[::1]:5" -> "1.2.3.4" / "::1". */
static void peer_ip(const char *peer, char *out, size_t outlen)
{
	const char *p = peer;
	size_t len = strlen(p);
	const char *colon = strrchr(p, ':');
	if (colon)
		len = (size_t)(colon - p);
	if (len >= 2 && p[0] == '[' && p[len - 1] == ']') {
		p++;
		len -= 2;
	}
	if (len >= outlen)
		len = outlen - 1;
	memcpy(out, p, len);
	out[len] = '\0';
}

/* ---- core I/O ---------------------------------------------------------------------------- */

static void io_to_peer(void *ctx, int to, const struct proto_msg *m)
{
	struct server *s = ctx;
	struct net_conn *c = to >= 0 && to < s->n ? net_dialer_conn(&s->peers[to].d) : NULL;
	if (c == NULL || !s->peers[to].up || net_conn_send(c, m) != 0)
		s->dropped_to_peer++; /* the core re-sends when the peer is back (core_peer_up) */
}

static size_t io_peer_backlog(void *ctx, int peer)
{
	struct server *s = ctx;
	struct net_conn *c = peer >= 0 && peer < s->n ? net_dialer_conn(&s->peers[peer].d) : NULL;
	if (c == NULL || !s->peers[peer].up)
		return SIZE_MAX;
	return net_conn_out_pending(c);
}

static struct server_in *client_by_conn(struct server *s, uint64_t conn)
{
	uint32_t idx = (uint32_t)(conn & 0xffffffffu);
	uint32_t gen = (uint32_t)(conn >> 32);
	if (idx == 0 || idx > s->max_clients)
		return NULL;
	struct server_client *cl = &s->clients[idx - 1];
	return cl->gen == gen ? cl->in : NULL;
}

static void io_to_client(void *ctx, uint64_t conn, const struct proto_msg *m)
{
	struct server *s = ctx;
	if (cloops_owns(conn)) {
		if (s->cloops == NULL || cloops_send(s->cloops, conn, m) != 0)
			s->dropped_to_client++;
		return;
	}
	struct server_in *in = client_by_conn(s, conn);
	if (in == NULL || net_conn_send(in->c, m) != 0)
		s->dropped_to_client++; /* closed: the client re-sends on its next connection */
}

static void set_client_reading(struct server *s)
{
	bool on = s->core != NULL && s->intake_open;
	for (struct server_in *in = s->ins; in; in = in->next) {
		if (in->role != PROTO_ROLE_CLIENT || in->handoff)
			continue;
		if (on)
			net_conn_resume(in->c);
		else
			net_conn_pause(in->c);
	}
}

/* -xlog: "<slot> <client> <seq>" per command executed here, in execution (= slot) order. Slots
 * installed by a state transfer are not listed. stdio-buffered; flushed every XLOG_FLUSH_S. */
static void io_executed(void *ctx, const struct proto_cid *cid, uint64_t slot)
{
	struct server *s = ctx;
	fprintf(s->xlog, "%llu %llu %llu\n", (unsigned long long)slot,
		(unsigned long long)cid->client, (unsigned long long)cid->seq);
}

/* View-change decisions: the summary in the log, each replayed command at debug level. */
static void io_note(void *ctx, bool detail, const char *line)
{
	struct server *s = ctx;
	if (detail)
		LOG_DEBUG(s->log, "%s", line);
	else
		LOG_INFO(s->log, "%s", line);
}

static void xlog_flush_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct server *s = w->data;
	(void)loop;
	(void)revents;
	fflush(s->xlog);
}

static void io_client_intake(void *ctx, bool open)
{
	struct server *s = ctx;
	if (s->intake_open == open)
		return;
	s->intake_open = open;
	LOG_DEBUG(s->log, "client intake %s", open ? "open" : "closed (descriptor pool full)");
	set_client_reading(s);
	if (s->cloops)
		cloops_set_intake(s->cloops, open);
}

static void unlink_in(struct server *s, struct server_in *in)
{
	if (in->prev)
		in->prev->next = in->next;
	else
		s->ins = in->next;
	if (in->next)
		in->next->prev = in->prev;
}

/* Hands client connections that said HELLO to the client loops (replicaLoops > 1). Runs at the
 * flush point, outside the connections' own callbacks, once the core exists. */
static void hand_off_clients(struct server *s)
{
	struct server_in *next;
	for (struct server_in *in = s->ins; in; in = next) {
		next = in->next;
		if (!in->handoff)
			continue;
		int fd;
		uint8_t *rest;
		size_t rest_len;
		char peer[64];
		snprintf(peer, sizeof peer, "%s", net_conn_peer(in->c));
		if (net_conn_detach(in->c, &fd, &rest, &rest_len) != 0)
			continue; /* output pending: next flush */
		if (cloops_adopt(s->cloops, fd, rest, rest_len, peer, in->delay_us) != 0)
			LOG_WARN(s->log, "cannot hand client %s to a client loop", peer);
		unlink_in(s, in);
		free(in);
	}
}

/* This thread's CPU time (not the wall clock: a descheduled loop is not a busy one). */
static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;
	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Before a call into the core: its start, if a state transfer is being sent (else 0). */
static uint64_t xfer_call_begin(struct server *s)
{
	return core_xfer_sending(s->core) ? thread_cpu_ns() : 0;
}

/* After it: notes the CPU time it took (docs/recovery.md "State transfer"). */
static void xfer_call_end(struct server *s, uint64_t t0)
{
	if (t0 == 0)
		return;
	uint64_t d = thread_cpu_ns() - t0;
	if (d > s->xfer_call_max_ns)
		s->xfer_call_max_ns = d;
}

static void wal_sync(void *arg);

static void pre_flush(void *arg)
{
	struct server *s = arg;
	if (s->cloops && s->core)
		hand_off_clients(s);
	if (s->core) {
		uint64_t t0 = xfer_call_begin(s);
		core_flush(s->core, core_now(s));
		xfer_call_end(s, t0);
		if (core_xfer_more(s->core))
			net_loop_again(&s->nl); /* the rest of a transfer, next iteration */
	}
	wal_sync(s); /* (before the client loops get their messages, and before net writes) */
	if (s->cloops)
		cloops_flush(s->cloops);
}

/* Notes the client id m carries (a cid, a state transfer's client, a client's HELLO). */
static void saw_client(struct server *s, const struct proto_msg *m)
{
	uint64_t id = m->type == PROTO_HELLO ? m->client_id : m->cid.client;
	if (id > s->max_client)
		s->max_client = id;
}

/* A client message from a client loop (replicaLoops > 1). */
static void loop_msg(void *ctx, uint64_t conn, const struct proto_msg *m)
{
	struct server *s = ctx;
	saw_client(s, m);
	if (s->core)
		core_on_client(s->core, conn, m, core_now(s));
}

static void snapshot_tick(struct server *s);

static void tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct server *s = w->data;
	(void)loop;
	(void)revents;
	if (s->core) {
		uint64_t t0 = xfer_call_begin(s);
		core_tick(s->core, core_now(s));
		xfer_call_end(s, t0);
		snapshot_tick(s);
	}
}

/* ---- stats ------------------------------------------------------------------------------- */

struct stat_list {
	struct proto_msg *m;
};

static void stat_add(struct proto_msg *m, const char *name, uint64_t value)
{
	/* a reply carries PROTO_MAX_STATS counters: tests/cluster_env.c's ce_check_replicas
	 * reads the last one sent (dropped_to_client), so one more than fits fails a test */
	if (m->n_stats >= sizeof m->stats / sizeof m->stats[0])
		return;
	m->stats[m->n_stats].name = name;
	m->stats[m->n_stats].name_len = (uint32_t)strlen(name);
	m->stats[m->n_stats].value = value;
	m->n_stats++;
}

static void send_stats(struct server *s, struct net_conn *c)
{
	struct proto_msg *m = calloc(1, sizeof *m);
	if (m == NULL)
		return;
	m->type = PROTO_STATS_REPLY;
	m->view = s->view;
	m->node_id = s->self;
	stat_add(m, "ready", s->core != NULL);
	if (s->core) {
		struct core_stats st;
		core_get_stats(s->core, &st);
		stat_add(m, "view", st.view);
		stat_add(m, "leader", (uint64_t)(int64_t)st.leader);
		stat_add(m, "view_active", st.view_active);
		stat_add(m, "view_changes", st.view_changes);
		stat_add(m, "vc_recovered", st.vc_recovered);
		stat_add(m, "vc_dropped", st.vc_dropped);
		stat_add(m, "vc_relaxed", st.vc_relaxed);
		stat_add(m, "vc_pulls", st.vc_pulls);
		stat_add(m, "vc_recollect", st.vc_recollect);
		stat_add(m, "vc_last_us", st.vc_last_us);
		stat_add(m, "rejoining", st.rejoining);
		stat_add(m, "rejoin_us", st.rejoin_us);
		/* durability (docs/durability.md): group commits, snapshots written and failed */
		stat_add(m, "wal_commits", s->wal_commits);
		stat_add(m, "snapshots", s->snapshots);
		stat_add(m, "snapshot_failures", s->snapshot_failures);
		/* 1 while a snapshot child writes; the LSN of the last one written (0: none yet) */
		stat_add(m, "snapshot_running", s->snap_pid > 0);
		stat_add(m, "snapshot_lsn", s->snap_last_lsn);
		stat_add(m, "catchups", st.catchups);
		stat_add(m, "snap_sent", st.snap_sent);
		stat_add(m, "snap_installed", st.snap_installed);
		stat_add(m, "snap_failed", st.snap_failed);
		stat_add(m, "snap_dups", st.snap_dups);
		stat_add(m, "snap_bytes", st.snap_bytes);
		stat_add(m, "snap_chunks", st.snap_chunks);
		stat_add(m, "snap_overflow", st.snap_overflow);
		stat_add(m, "snap_last_us", st.snap_last_us);
		stat_add(m, "next_slot", st.next_slot);
		stat_add(m, "commit_index", st.commit_index);
		stat_add(m, "exec_index", st.exec_index);
		stat_add(m, "proposals", st.proposals);
		stat_add(m, "fast_ok", st.fast_ok);
		stat_add(m, "slow_replies", st.slow_replies);
		stat_add(m, "conflicts", st.conflicts);
		stat_add(m, "duplicates", st.duplicates);
		stat_add(m, "cid_reused", st.cid_reused);
		stat_add(m, "busy", st.busy);
		stat_add(m, "stale_view", st.stale_view);
		stat_add(m, "executed", st.executed);
		stat_add(m, "desc_in_use", st.desc_in_use);
		stat_add(m, "witness_records", st.witness_records);
		stat_add(m, "log_entries", st.log_entries);
		stat_add(m, "result_cache", st.result_cache);
		stat_add(m, "keys", st.keys);
		stat_add(m, "digest", st.digest);
		stat_add(m, "weak_writes", st.weak_writes);
		stat_add(m, "weak_reads", st.weak_reads);
		stat_add(m, "weak_parked", st.weak_parked);
		stat_add(m, "weak_waits", st.weak_waits);
		stat_add(m, "scans", st.scans);
		stat_add(m, "clients_live", st.clients_live);
		stat_add(m, "clients_expired", st.clients_expired);
		stat_add(m, "expire_skipped", st.expire_skipped);
		stat_add(m, "expire_entries", st.expire_entries);
		stat_add(m, "expired_refused", st.expired_refused);
		stat_add(m, "expire_floor", st.expire_floor);
	}
	const struct net_stats *ns = &s->nl.st;
	stat_add(m, "clients", s->n_clients + (s->cloops ? cloops_conns(s->cloops) : 0));
	stat_add(m, "client_loops", s->cloops ? s->set.replica_loops : 1);
	stat_add(m, "conns_opened", ns->conns_opened);
	stat_add(m, "conns_local", ns->conns_local);
	stat_add(m, "conns_closed", ns->conns_closed);
	stat_add(m, "conns_refused", ns->conns_refused);
	stat_add(m, "frames_in", ns->frames_in);
	stat_add(m, "frames_out", ns->frames_out);
	stat_add(m, "bytes_in", ns->bytes_in);
	stat_add(m, "bytes_out", ns->bytes_out);
	stat_add(m, "frames_rejected",
		 ns->frames_rejected + (s->cloops ? cloops_frames_rejected(s->cloops) : 0));
	stat_add(m, "frames_oversized", ns->frames_oversized);
	stat_add(m, "overflow_disconnects", ns->overflow_disconnects);
	stat_add(m, "connect_failures", ns->connect_failures);
	stat_add(m, "auth", s->has_auth);
	stat_add(m, "auth_ok", ns->auth_ok);
	stat_add(m, "auth_failed", ns->auth_failed);
	stat_add(m, "role_violations",
		 s->role_violations + (s->cloops ? cloops_role_violations(s->cloops) : 0));
	stat_add(m, "protocol_errors", s->protocol_errors);
	stat_add(m, "dropped_to_peer", s->dropped_to_peer);
	stat_add(m, "xfer_call_max_us", s->xfer_call_max_ns / 1000);
	s->xfer_call_max_ns = 0;
	stat_add(m, "dropped_to_client", s->dropped_to_client);
	(void)net_conn_send(c, m);
	free(m);
}

/* ---- durability (docs/durability.md) ------------------------------------------------------ */

/* The log failed (a write, an fdatasync, no memory for a record): whatever the core is about to
 * answer may not be durable, and a failed fsync may have dropped the pages it covered: the
 * process stops here, before anything that depends on it leaves. The others see a crash.
 *
 * A full disk (a segment that cannot be preallocated, or a write refused on a file system that
 * cannot preallocate) stops it too, with its own message: the records of this iteration stay
 * unwritten, and every message that depends on them is still held (this runs in the flush and
 * pre-write hooks), so nothing acknowledged is lost, and what is on disk is a log the next start
 * reads (a segment creation that failed left only a .tmp, removed at open; a refused write is a
 * torn tail). Serving on without the log (holding every outgoing byte until space returns) is
 * not done: docs/durability.md, "Faults", says why; a supervisor restarts the process. */
static _Noreturn void wal_fatal(struct server *s, const char *what, int rc)
{
	const char *why = s->wal ? wal_error(s->wal) : "";
	if (wal_err_is_full(rc))
		LOG_ERROR(s->log,
			  "write-ahead log: disk full (%s): stopping; nothing acknowledged is "
			  "lost; start it again once there is space (%s failed: %s)",
			  s->wal_dir, what, why[0] ? why : strerror(-rc));
	else
		LOG_ERROR(s->log, "write-ahead log: %s failed: %s: stopping", what,
			  why[0] ? why : strerror(-rc));
	fflush(NULL);
	_exit(EXIT_FAILURE);
}

/* core_io.persist: a record into the log's buffer (no system call). */
static void io_persist(void *ctx, uint8_t type, const uint8_t *p, uint32_t len)
{
	struct server *s = ctx;
	int rc = wal_append(s->wal, type, p, len, NULL);
	if (rc != 0)
		wal_fatal(s, "an append", rc);
}

/* Group commit: every record buffered is written (and under fsync always, fdatasync'ed) before
 * any byte leaves this loop: called before the loop's writes (net's pre-write hook) and before
 * client loops are handed their messages. */
static void wal_sync(void *arg)
{
	struct server *s = arg;
	if (s->wal == NULL || !wal_pending(s->wal))
		return;
	int rc = wal_commit(s->wal);
	if (rc != 0)
		wal_fatal(s, "a commit", rc);
	s->wal_commits++;
}

/* ---- snapshots ---- */

struct snap_file {
	struct wal_snap_writer *w;
	int err;
};

static void snap_put(void *ctx, uint8_t type, const uint8_t *p, uint32_t len)
{
	struct snap_file *k = ctx;
	if (k->err == 0)
		k->err = wal_snap_add(k->w, type, p, len);
}

/* The forked child: writes the snapshot of its copy of the core, and exits (0: written). Only
 * this thread exists here; it touches nothing shared with the parent but the new file. */
static _Noreturn void snapshot_child(struct server *s, uint64_t lsn)
{
	char err[512] = "";
	struct snap_file k = {0};
	int rc = wal_snap_create(s->wal_dir, lsn, &k.w, err, sizeof err);
	if (rc == 0) {
		rc = core_snapshot(s->core, snap_put, &k);
		if (rc == 0)
			rc = k.err;
		if (rc == 0)
			rc = wal_snap_finish(k.w, NULL, err, sizeof err);
		else
			wal_snap_abort(k.w);
	}
	if (rc != 0)
		fprintf(stderr, "curpkv: replica%d: snapshot at LSN %" PRIu64 " not written: %s\n",
			s->self, lsn, err[0] ? err : strerror(-rc));
	_exit(rc == 0 ? 0 : 1);
}

static void snap_child_cb(struct ev_loop *loop, ev_child *w, int revents)
{
	struct server *s = w->data;
	(void)revents;
	ev_child_stop(loop, w);
	s->snap_ended = true;
	s->snap_status = w->rstatus;
}

/* Every tick: collects a finished snapshot child (the log behind its LSN goes, and older
 * snapshots), or starts one when snapshotEntries entries executed since the last. */
static void snapshot_tick(struct server *s)
{
	if (s->wal == NULL || s->core == NULL || s->set.snapshot_entries == 0)
		return;
	double now = ev_now(s->loop);
	if (s->snap_pid > 0) {
		int st;
		pid_t r;
		if (ev_is_default_loop(s->loop)) {
			if (!s->snap_ended)
				return; /* still writing */
			r = s->snap_pid;
			st = s->snap_status;
		} else if ((r = waitpid(s->snap_pid, &st, WNOHANG)) == 0) {
			return; /* still writing */
		}
		s->snap_pid = 0;
		if (r < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			s->snapshot_failures++;
			s->snap_retry_at = now + 1.0;
			LOG_ERROR(s->log, "snapshot at LSN %" PRIu64 " failed (the log stays whole): "
					  "trying again in 1 s",
				  s->snap_lsn);
			return;
		}
		int rc = wal_truncate_before(s->wal, s->snap_lsn);
		if (rc != 0)
			LOG_WARN(s->log, "write-ahead log: segments behind the snapshot stay: %s",
				 wal_error(s->wal));
		(void)wal_snap_remove_before(s->wal_dir, s->snap_lsn);
		s->snap_exec_last = s->snap_exec;
		s->snap_last_lsn = s->snap_lsn;
		s->snapshots++;
		LOG_INFO(s->log, "snapshot at LSN %" PRIu64 " (executed %" PRIu64 ") written in %.0f ms",
			 s->snap_lsn, s->snap_exec, (now - s->snap_started) * 1000);
		return;
	}
	if (now < s->snap_retry_at)
		return;
	struct core_stats st;
	core_get_stats(s->core, &st);
	if (st.exec_index - s->snap_exec_last < s->set.snapshot_entries || st.snap_open)
		return;
	/* everything logged so far is durable before a snapshot covering it exists (under any
	 * fsync policy: the log must never end before its snapshot) */
	int rc = wal_commit_sync(s->wal);
	if (rc != 0)
		wal_fatal(s, "a commit before a snapshot", rc);
	uint64_t lsn = wal_next_lsn(s->wal);
	pid_t pid = fork();
	if (pid < 0) {
		s->snapshot_failures++;
		s->snap_retry_at = now + 1.0;
		LOG_ERROR(s->log, "snapshot: fork: %s: trying again in 1 s", strerror(errno));
		return;
	}
	if (pid == 0)
		snapshot_child(s, lsn);
	s->snap_pid = pid;
	s->snap_ended = false;
	if (ev_is_default_loop(s->loop)) {
		ev_child_set(&s->snap_child, pid, 0);
		ev_child_start(s->loop, &s->snap_child);
	}
	s->snap_lsn = lsn;
	s->snap_exec = st.exec_index;
	s->snap_started = now;
}

/* wal_replay's callback: one record into the core being rebuilt. */
struct restore_arg {
	struct core *core;
	uint64_t records;
	uint64_t from; /* records below this LSN are in the snapshot read first */
	char err[1024];
};

/* wal_snap_read's callback: a record of the snapshot into the core being rebuilt. */
static int restore_snap_cb(void *arg, uint8_t type, const uint8_t *p, uint32_t len)
{
	struct restore_arg *ra = arg;
	char why[200];
	int rc = core_restore(ra->core, type, p, len, why, sizeof why);
	if (rc != 0) {
		snprintf(ra->err, sizeof ra->err, "its snapshot: %.200s",
			 rc == -EINVAL ? why : strerror(-rc));
		return rc;
	}
	ra->records++;
	return 0;
}

static int restore_cb(void *arg, uint64_t lsn, uint8_t type, const uint8_t *p, uint32_t len)
{
	struct restore_arg *ra = arg;
	if (lsn < ra->from)
		return 0; /* in the snapshot */
	char why[200];
	int rc = core_restore(ra->core, type, p, len, why, sizeof why);
	if (rc != 0) {
		snprintf(ra->err, sizeof ra->err, "record %llu: %.200s", (unsigned long long)lsn,
			 rc == -EINVAL ? why : strerror(-rc));
		return rc;
	}
	ra->records++;
	return 0;
}

static int make_core(struct server *s, int leader, bool rejoin, struct core **out);

/* Opens stateDir/<alias> (without stateDir: nothing, memory only) and rebuilds the core from
 * the records it holds (s->restored; none in a new directory). A damaged log refuses to start
 * (`file:offset: checksum mismatch`; `curpkv wal-check DIR` says more); a torn tail is cut with
 * one log line. Returns 0 or a negative errno (logged). */
static int wal_start(struct server *s)
{
	if (s->set.state_dir[0] == 0)
		return 0;
	char dir[700];
	snprintf(dir, sizeof dir, "%s/%s", s->set.state_dir, s->host->alias);
	struct wal_opts o = {.fsync = WAL_FSYNC_ALWAYS, .log = s->log};
	if (s->set.fsync[0] && wal_fsync_parse(s->set.fsync, &o.fsync) != 0)
		return -EINVAL; /* (conf_validate refuses it first) */
	char err[800] = "";
	/* stateDir itself is never created (a mistyped path or a missing mount must not start a
	 * replica that writes elsewhere); stateDir/<alias> is */
	int rc = wal_state_dir_check(s->set.state_dir, err, sizeof err);
	if (rc != 0) {
		LOG_ERROR(s->log, "%s: cannot start", err);
		return rc;
	}
	rc = wal_open(dir, &o, &s->wal, err, sizeof err);
	if (rc == 0 && access(dir, W_OK | X_OK) != 0) {
		rc = -errno; /* an existing stateDir/<alias> the process cannot write */
		snprintf(err, sizeof err, "%s: %s", dir, strerror(errno));
		wal_close(s->wal);
	}
	if (rc == -EROFS || rc == -EACCES || rc == -EPERM) {
		LOG_ERROR(s->log, "stateDir %s is not writable: %s: cannot start", s->set.state_dir,
			  err[0] ? err : strerror(-rc));
		s->wal = NULL;
		return rc;
	}
	if (rc != 0) {
		LOG_ERROR(s->log, "cannot open the write-ahead log %s: %s", dir,
			  err[0] ? err : strerror(-rc));
		s->wal = NULL;
		return rc;
	}
	snprintf(s->wal_dir, sizeof s->wal_dir, "%s", dir);
	uint64_t t0 = now_ns();
	struct restore_arg ra = {0};
	rc = make_core(s, 0, false, &ra.core);
	if (rc == 0)
		rc = core_restore_begin(ra.core);
	char spath[800];
	uint64_t slsn = 0, snap_records = 0, t_snap = t0;
	if (rc == 0) {
		rc = wal_snap_latest(dir, spath, sizeof spath, &slsn);
		if (rc == 0) {
			rc = wal_snap_read(spath, &slsn, restore_snap_cb, &ra, NULL, err,
					   sizeof err);
			if (rc != 0 && ra.err[0] == 0)
				snprintf(ra.err, sizeof ra.err, "%s", err);
			ra.from = slsn;
			snap_records = ra.records;
			t_snap = now_ns();
		} else if (rc == -ENOENT) {
			rc = 0;
		} else {
			snprintf(ra.err, sizeof ra.err, "%.700s: %s", dir, strerror(-rc));
		}
	}
	if (rc == 0) {
		rc = wal_replay(s->wal, restore_cb, &ra, err, sizeof err);
		if (rc != 0 && ra.err[0] == 0)
			snprintf(ra.err, sizeof ra.err, "%s", err[0] ? err : strerror(-rc));
	}
	if (rc == 0 && wal_next_lsn(s->wal) < slsn) {
		snprintf(ra.err, sizeof ra.err,
			 "the log ends at LSN %" PRIu64 ", before its snapshot (LSN %" PRIu64 ")",
			 wal_next_lsn(s->wal), slsn);
		rc = -EINVAL;
	}
	/* the log must start where the history starts: at LSN 1, or at or below its snapshot's LSN
	 * (a log whose older segments went with a snapshot that is gone would rebuild the replica
	 * from part of its history) */
	struct wal_seg_info si;
	if (rc == 0 && wal_segment(s->wal, 0, &si) == 0 && si.records > 0 &&
	    si.first_lsn > (slsn > 0 ? slsn : 1)) {
		if (slsn > 0)
			snprintf(ra.err, sizeof ra.err,
				 "the log starts at LSN %" PRIu64 ", after its snapshot (LSN %" PRIu64
				 "): LSN %" PRIu64 "..%" PRIu64 " missing",
				 si.first_lsn, slsn, slsn, si.first_lsn - 1);
		else
			snprintf(ra.err, sizeof ra.err,
				 "the log starts at LSN %" PRIu64 " without a snapshot (its older "
				 "records are gone)",
				 si.first_lsn);
		rc = -EINVAL;
	}
	if (rc == 0)
		rc = core_restore_end(ra.core, err, sizeof err);
	if (rc != 0) {
		LOG_ERROR(s->log, "cannot start from the write-ahead log %s: %s", dir,
			  ra.err[0] ? ra.err : (err[0] ? err : strerror(-rc)));
		core_destroy(ra.core);
		wal_close(s->wal);
		s->wal = NULL;
		return rc;
	}
	if (ra.records == 0) {
		core_destroy(ra.core); /* a new log: a fresh process */
		LOG_INFO(s->log, "write-ahead log %s: empty (fsync %s)", dir,
			 wal_fsync_name(o.fsync));
		return 0;
	}
	s->restored = ra.core;
	struct core_stats st;
	core_get_stats(s->restored, &st);
	if (ra.from > 0) {
		/* the next snapshot: snapshotEntries from here */
		s->snap_exec_last = st.exec_index;
		s->snap_last_lsn = ra.from;
	}
	char from[160] = "no snapshot";
	if (ra.from > 0)
		snprintf(from, sizeof from,
			 "snapshot at LSN %" PRIu64 ": %" PRIu64
			 " records in %.0f ms, then %" PRIu64 " log records",
			 ra.from, snap_records, (double)(t_snap - t0) / 1e6,
			 ra.records - snap_records);
	LOG_INFO(s->log,
		 "write-ahead log %s: %llu records replayed in %.0f ms (%s; fsync %s): view %llu, "
		 "executed %llu, %llu keys, %llu witness records",
		 dir, (unsigned long long)ra.records, (double)(now_ns() - t0) / 1e6, from,
		 wal_fsync_name(o.fsync), (unsigned long long)st.view,
		 (unsigned long long)st.exec_index, (unsigned long long)st.keys,
		 (unsigned long long)st.witness_records);
	return 0;
}

/* ---- the core comes to life -------------------------------------------------------------- */

/* Creates a core with this replica's settings (core_config from the conf), not serving yet. */
static int make_core(struct server *s, int leader, bool rejoin, struct core **out)
{
	struct core_config cfg;
	core_config_default(&cfg, s->self, s->n);
	cfg.protocol = s->set.protocol;
	cfg.max_desc = s->set.max_desc_routines;
	cfg.shards = s->set.shards;
	cfg.noop = s->set.noop;
	cfg.max_key = s->set.max_key_bytes;
	cfg.max_value = s->set.max_value_bytes;
	cfg.ht_early_reply = s->set.ht_early_weak_reply;
	cfg.lease_ns = (uint64_t)s->set.client_lease_ms * 1000000ull;
	cfg.rejoin = rejoin;
	/* a chunk and one more item fit a frame */
	uint64_t room =
	    (uint64_t)s->set.max_frame_bytes - s->set.max_value_bytes - s->set.max_key_bytes - 1024;
	cfg.snap_chunk_bytes =
	    s->set.snap_chunk_bytes < room ? s->set.snap_chunk_bytes : (uint32_t)room;
	struct core_io io = {.ctx = s,
			     .peer_backlog = io_peer_backlog,
			     .to_peer = io_to_peer,
			     .to_client = io_to_client,
			     .client_intake = io_client_intake,
			     .executed = s->xlog ? io_executed : NULL,
			     .note = io_note,
			     .persist = s->wal ? io_persist : NULL};
	return core_create(&cfg, leader, &io, out);
}

static void start_core(struct server *s, int leader, uint64_t view, bool rejoin)
{
	if (s->restored) {
		/* rebuilt from its log at start: it lost nothing it acknowledged (7.3's hold is
		 * for a replica that lost its witness records) */
		s->core = s->restored;
		s->restored = NULL;
		rejoin = false;
	} else {
		int rc = make_core(s, leader, rejoin, &s->core);
		if (rc != 0) {
			LOG_ERROR(s->log, "cannot create the replica core: %s", strerror(-rc));
			s->core = NULL;
			return;
		}
	}
	s->leader = leader;
	s->view = view;
	if (view > 0) /* the cluster moved on before this replica (re)started */
		core_view_change(s->core, view, leader, core_now(s));
	struct core_stats cst;
	core_get_stats(s->core, &cst);
	s->leader = cst.leader;
	s->view = cst.view;
	s->intake_open = core_client_intake_open(s->core);
	LOG_INFO(s->log, "replica%d serving: view %llu, leader replica%d%s, protocol %s%s", s->self,
		 (unsigned long long)s->view, s->leader, s->leader == s->self ? " (me)" : "",
		 conf_protocol_name(s->set.protocol),
		 rejoin ? " (restarted: catching up, no fast-path answers until then)" : "");
	ev_timer_start(s->loop, &s->tick);
	/* Connections held back until now: peers first, then clients. */
	for (struct server_in *in = s->ins; in; in = in->next)
		if (in->role == PROTO_ROLE_REPLICA)
			net_conn_resume(in->c);
	set_client_reading(s);
	uint64_t now = core_now(s);
	for (int j = 0; j < s->n; j++)
		if (j != s->self && s->peers[j].up)
			core_peer_up(s->core, j, now);
}

/* ---- the master connection --------------------------------------------------------------- */

static void master_up(struct net_dialer *d, struct net_conn *c, void *arg)
{
	struct server *s = arg;
	(void)d;
	struct proto_msg m;
	memset(&m, 0, sizeof m);
	m.type = PROTO_HELLO;
	m.view = s->view;
	m.role = PROTO_ROLE_REPLICA;
	m.node_id = s->self;
	(void)net_conn_send(c, &m);
	memset(&m, 0, sizeof m);
	m.type = PROTO_REGISTER;
	m.node_id = s->self;
	m.addr = s->host->addr;
	m.addr_len = (uint32_t)strlen(s->host->addr);
	m.port = s->host->port;
	m.leader = -1;
	m.client_id = s->max_client;
	if (s->core || s->restored) {
		/* a master (re)starting learns the running cluster's view from a majority of
		 * these, and must not take this live replica for one that lost its state; one
		 * rebuilt from its log has not lost it either, but serves no view yet */
		struct core_stats st;
		core_get_stats(s->core ? s->core : s->restored, &st);
		m.live = s->core != NULL;
		m.restored = s->core == NULL;
		m.view = st.view;
		m.leader = st.leader;
		m.slot = st.rejoining ? 0 : st.exec_index; /* as in heartbeats: not a leader yet */
	}
	(void)net_conn_send(c, &m);
	if (m.live)
		LOG_INFO(s->log, "connected to the master at %s: registering (live in view %llu)",
			 net_conn_peer(c), (unsigned long long)m.view);
	else if (m.restored)
		LOG_INFO(s->log,
			 "connected to the master at %s: registering (restarted from its log: view "
			 "%llu, executed %llu)",
			 net_conn_peer(c), (unsigned long long)m.view, (unsigned long long)m.slot);
	else
		LOG_INFO(s->log, "connected to the master at %s: registering (a fresh process)",
			 net_conn_peer(c));
}

/* A handshake this replica started was refused: logged at most once per destination per
 * minute (the retries go on meanwhile). */
static void dial_refused(struct server *s, const struct net_dialer *d, const char *whom)
{
	char dest[300];
	snprintf(dest, sizeof dest, "%.200s:%u", d->host, d->port);
	if (auth_limiter_allow(&s->auth_log, dest, ev_now(s->loop)))
		LOG_ERROR(s->log,
			  "cannot authenticate to %s: %s: check that it has the same secret "
			  "(retrying; not logged again for a minute)",
			  whom, d->err);
}

static bool auth_refusal(int reason)
{
	return reason == NET_CLOSE_AUTH || reason == NET_CLOSE_AUTH_TIMEOUT;
}

static void master_down(struct net_dialer *d, int reason, void *arg)
{
	struct server *s = arg;
	if (auth_refusal(reason)) {
		dial_refused(s, d, "the master");
		return;
	}
	LOG_WARN(s->log, "lost the master (%s): reconnecting", net_close_reason_name(reason));
}

static void on_cluster_info(struct server *s, const struct proto_msg *m)
{
	if (!m->ready) {
		LOG_INFO(s->log, "master: cluster not ready yet (waiting for the other replicas)");
		return;
	}
	if (m->n_replicas != (uint32_t)s->n || m->leader < 0 || m->leader >= s->n) {
		LOG_ERROR(s->log,
			  "master's cluster (%u replicas, leader %d) does not match the conf "
			  "(%d replicas)",
			  m->n_replicas, m->leader, s->n);
		return;
	}
	if (s->core == NULL) {
		start_core(s, m->leader, m->view, m->rejoin);
		return;
	}
	struct core_stats st;
	core_get_stats(s->core, &st);
	if (m->view < st.view) {
		/* a master that has not learned the current view (it restarted): a replica never
		 * goes back to a lower view, nor takes that view's leader */
		LOG_INFO(s->log, "master says view %llu, leader replica%d; staying in view %llu",
			 (unsigned long long)m->view, m->leader, (unsigned long long)st.view);
		return;
	}
	if (m->view > st.view) {
		LOG_WARN(s->log, "view change: view %llu, leader replica%d%s",
			 (unsigned long long)m->view, m->leader,
			 m->leader == s->self ? " (me)" : "");
		core_view_change(s->core, m->view, m->leader, core_now(s));
		core_flush(s->core, core_now(s));
	}
	core_get_stats(s->core, &st);
	s->view = st.view;
	s->leader = st.leader;
}

static void master_msg(struct net_dialer *d, struct net_conn *c, const struct proto_msg *m,
		       void *arg)
{
	struct server *s = arg;
	(void)d;
	switch (m->type) {
	case PROTO_CLUSTER_INFO:
		on_cluster_info(s, m);
		break;
	case PROTO_HEARTBEAT: {
		struct proto_msg r;
		memset(&r, 0, sizeof r);
		r.type = PROTO_HEARTBEAT;
		r.view = s->view;
		if (s->core) {
			struct core_stats st;
			core_get_stats(s->core, &st);
			r.commit = st.commit_index;
			/* a replica still rejoining (7.3) must not be picked to lead: it reports
			 * nothing executed until it has caught up */
			r.slot = st.rejoining ? 0 : st.exec_index;
		}
		(void)net_conn_send(c, &r);
		break;
	}
	case PROTO_STATS_REQ:
		send_stats(s, c);
		break;
	default:
		break;
	}
}

static const struct net_dialer_cbs master_cbs = {
    .on_up = master_up, .on_msg = master_msg, .on_down = master_down};

/* ---- outgoing peer connections ----------------------------------------------------------- */

static void peer_up(struct net_dialer *d, struct net_conn *c, void *arg)
{
	struct server_peer *p = arg;
	struct server *s = p->s;
	(void)d;
	struct proto_msg m;
	memset(&m, 0, sizeof m);
	m.type = PROTO_HELLO;
	m.view = s->view;
	m.role = PROTO_ROLE_REPLICA;
	m.node_id = s->self;
	if (net_conn_send(c, &m) != 0)
		return;
	/* batchDelayUs: ACCEPT/ACK/COMMIT batches may wait that long for company. */
	net_conn_set_hold_us(c, s->set.batch_delay_us);
	p->up = true;
	LOG_INFO(s->log, "connected to replica%d at %s", p->id, net_conn_peer(c));
	if (s->core)
		core_peer_up(s->core, p->id, core_now(s));
}

static void peer_msg(struct net_dialer *d, struct net_conn *c, const struct proto_msg *m, void *arg)
{
	/* Peers send on their own outgoing connections; nothing is expected here. */
	(void)d;
	(void)c;
	(void)m;
	(void)arg;
}

static void peer_down(struct net_dialer *d, int reason, void *arg)
{
	struct server_peer *p = arg;
	if (auth_refusal(reason)) {
		char who[32];
		snprintf(who, sizeof who, "replica%d", p->id);
		dial_refused(p->s, d, who);
	} else if (p->up) {
		LOG_WARN(p->s->log, "lost replica%d (%s): reconnecting", p->id,
			 net_close_reason_name(reason));
	}
	p->up = false;
}

static const struct net_dialer_cbs peer_cbs = {
    .on_up = peer_up, .on_msg = peer_msg, .on_down = peer_down};

/* ---- accepted connections ---------------------------------------------------------------- */

static void in_violation(struct server_in *in, const char *why)
{
	struct server *s = in->s;
	s->protocol_errors++;
	LOG_WARN(s->log, "closing %s: %s", net_conn_peer(in->c), why);
	net_conn_close(in->c);
}

/* Closes a connection whose role may not do what it did (a message type outside its role's, a
 * HELLO that does not match the proven identity); logged at most once per address per minute. */
static void in_role_violation(struct server_in *in, const char *why)
{
	struct server *s = in->s;
	s->role_violations++;
	char ip[64];
	net_peer_ip(net_conn_peer(in->c), ip, sizeof ip);
	if (auth_limiter_allow(&s->auth_log, ip, ev_now(s->loop)))
		LOG_WARN(s->log, "closing %s: %s", net_conn_peer(in->c), why);
	net_conn_close(in->c);
}

/* With a secret: HELLO must say what the handshake proved. Returns false (c closed) if not. */
static bool hello_matches_proof(struct server_in *in, const struct proto_msg *m)
{
	struct server *s = in->s;
	struct net_conn *c = in->c;
	if (!s->has_auth)
		return true;
	if (m->role != net_conn_peer_role(c)) {
		in_role_violation(in, "HELLO claims another role than the handshake proved");
		return false;
	}
	if (m->role != PROTO_ROLE_REPLICA)
		return true;
	if (m->node_id != net_conn_peer_node(c)) {
		in_role_violation(in, "HELLO claims another replica id than the handshake proved");
		return false;
	}
	if (m->node_id >= 0 && m->node_id < s->n && s->peers[m->node_id].local_ip[0]) {
		char ip[64];
		net_peer_ip(net_conn_peer(c), ip, sizeof ip);
		/* over a Unix socket (localSockets) the peer is on this host, as its address is */
		if (!net_conn_is_local(c) && strcmp(ip, s->peers[m->node_id].local_ip) != 0) {
			in_role_violation(in, "a replica connecting from another address than "
					      "its conf address");
			return false;
		}
	}
	return true;
}

static uint64_t client_conn_id(const struct server *s, const struct server_in *in)
{
	return (uint64_t)s->clients[in->slot].gen << 32 | (uint64_t)(in->slot + 1);
}

static void on_hello(struct server_in *in, const struct proto_msg *m)
{
	struct server *s = in->s;
	if (!hello_matches_proof(in, m))
		return;
	switch (m->role) {
	case PROTO_ROLE_REPLICA: {
		int j = m->node_id;
		if (j < 0 || j >= s->n || j == s->self) {
			in_violation(in, "HELLO from a replica id outside the conf");
			return;
		}
		struct server_peer *p = &s->peers[j];
		if (p->in && p->in != in) {
			/* The peer dialed again (restart): its old connection is dead or dying. */
			p->in->peer = -1;
			p->in->role = PROTO_ROLE_ADMIN; /* inert until its close arrives */
			net_conn_close(p->in->c);
		}
		p->in = in;
		in->role = PROTO_ROLE_REPLICA;
		in->peer = j;
		net_conn_set_delay_us(in->c, p->delay_us);
		if (s->core == NULL)
			net_conn_pause(in->c);
		LOG_INFO(s->log, "replica%d connected from %s", j, net_conn_peer(in->c));
		break;
	}
	case PROTO_ROLE_CLIENT: {
		saw_client(s, m); /* its client id, before it sends anything */
		if (s->cloops) {
			if (cloops_conns(s->cloops) >= s->max_clients) {
				s->clients_refused++;
				net_loop_count_refused(&s->nl);
				LOG_WARN(s->log, "refusing client %s: maxClients (%u) reached",
					 net_conn_peer(in->c), s->max_clients);
				net_conn_close(in->c);
				return;
			}
			in->role = PROTO_ROLE_CLIENT;
			in->handoff = true;
			in->delay_us = m->node_id == s->self ? 0 : s->client_delay_us;
			if (s->lat && m->node_id != s->self) {
				char ip[CONF_ADDR_MAX];
				peer_ip(net_conn_peer(in->c), ip, sizeof ip);
				in->delay_us = delay_to(s, ip);
			}
			net_conn_pause(in->c); /* frames after HELLO go with it to its loop */
			break;
		}
		if (s->n_free == 0) {
			s->clients_refused++;
			net_loop_count_refused(&s->nl);
			LOG_WARN(s->log, "refusing client %s: maxClients (%u) reached",
				 net_conn_peer(in->c), s->max_clients);
			net_conn_close(in->c);
			return;
		}
		uint32_t idx = s->free_slots[--s->n_free];
		s->clients[idx].in = in;
		s->clients[idx].gen++;
		if (s->clients[idx].gen == 0)
			s->clients[idx].gen = 1;
		s->n_clients++;
		in->role = PROTO_ROLE_CLIENT;
		in->slot = idx;
		net_conn_set_delay_us(in->c, m->node_id == s->self ? 0 : s->client_delay_us);
		if (s->lat && m->node_id != s->self) {
			char ip[CONF_ADDR_MAX];
			peer_ip(net_conn_peer(in->c), ip, sizeof ip);
			net_conn_set_delay_us(in->c, delay_to(s, ip));
		}
		if (s->core == NULL || !s->intake_open)
			net_conn_pause(in->c);
		break;
	}
	case PROTO_ROLE_ADMIN:
		in->role = PROTO_ROLE_ADMIN;
		break;
	default:
		in_violation(in, "HELLO with an unknown role");
		break;
	}
}

static void in_msg(struct net_conn *c, const struct proto_msg *m, void *arg)
{
	struct server_in *in = arg;
	struct server *s = in->s;
	(void)c;
	if (in->role == 0) {
		if (m->type != PROTO_HELLO)
			in_violation(in, "first message is not HELLO");
		else
			on_hello(in, m);
		return;
	}
	if (m->type == PROTO_HELLO) {
		in_violation(in, "second HELLO");
		return;
	}
	if (!auth_may_send(AUTH_TO_REPLICA, in->role, m->type)) {
		char why[96];
		snprintf(why, sizeof why, "a %s connection may not send %s",
			 auth_role_name(in->role), proto_type_name(m->type));
		in_role_violation(in, why);
		return;
	}
	if (m->type == PROTO_STATS_REQ) {
		send_stats(s, in->c);
		return;
	}
	if (in->role == PROTO_ROLE_REPLICA || in->role == PROTO_ROLE_CLIENT)
		saw_client(s, m);
	if (s->core == NULL)
		return; /* an admin connection asking for something else before start: ignored */
	if (in->role == PROTO_ROLE_REPLICA)
		core_on_peer(s->core, in->peer, m, core_now(s));
	else if (in->role == PROTO_ROLE_CLIENT)
		core_on_client(s->core, client_conn_id(s, in), m, core_now(s));
}

/* An accepted connection that never completed its handshake: logged at most once per address
 * per minute (the reason in the log only; the peer got AUTH_FAIL whatever it was). */
static void log_auth_failure(struct server *s, struct net_conn *c)
{
	char ip[64];
	net_peer_ip(net_conn_peer(c), ip, sizeof ip);
	if (auth_limiter_allow(&s->auth_log, ip, ev_now(s->loop)))
		LOG_WARN(
		    s->log,
		    "authentication failed from %s: %s (further failures from this address are "
		    "not logged for a minute; %llu not logged so far)",
		    net_conn_peer(c), net_conn_auth_why(c) ? net_conn_auth_why(c) : "?",
		    (unsigned long long)s->auth_log.suppressed);
}

static void in_close(struct net_conn *c, int reason, void *arg)
{
	struct server_in *in = arg;
	struct server *s = in->s;
	if (s->has_auth && !net_conn_authenticated(c))
		log_auth_failure(s, c);
	if (in->role == PROTO_ROLE_REPLICA && in->peer >= 0 && s->peers[in->peer].in == in) {
		s->peers[in->peer].in = NULL;
		LOG_INFO(s->log, "replica%d's connection closed (%s)", in->peer,
			 net_close_reason_name(reason));
	} else if (in->role == PROTO_ROLE_CLIENT && !in->handoff) {
		uint64_t id = client_conn_id(s, in);
		s->clients[in->slot].in = NULL;
		s->free_slots[s->n_free++] = in->slot;
		s->n_clients--;
		if (s->core)
			core_client_closed(s->core, id);
	}
	unlink_in(s, in);
	free(in);
}

static const struct net_conn_cbs in_cbs = {.on_msg = in_msg, .on_close = in_close};

static void on_accept(struct net_listener *l, int fd, const char *peer, void *arg)
{
	struct server *s = arg;
	(void)l;
	/* unauthenticated connections take client slots (the peers' own reconnections keep
	 * n - 1 of slack): a flood of them is bounded, and each lasts NET_AUTH_TIMEOUT_S at most */
	uint32_t clients = s->n_clients + (s->cloops ? cloops_conns(s->cloops) : 0);
	if (s->has_auth &&
	    net_loop_unauth(&s->nl) + clients >= s->max_clients + (uint32_t)(s->n - 1)) {
		s->clients_refused++;
		net_loop_count_refused(&s->nl);
		char ip[64];
		net_peer_ip(peer, ip, sizeof ip);
		if (auth_limiter_allow(&s->auth_log, ip, ev_now(s->loop)))
			LOG_WARN(
			    s->log,
			    "refusing %s: maxClients (%u) reached, unauthenticated connections "
			    "included",
			    peer, s->max_clients);
		(void)close(fd);
		return;
	}
	struct server_in *in = calloc(1, sizeof *in);
	if (in == NULL) {
		net_loop_count_refused(&s->nl);
		(void)close(fd);
		return;
	}
	in->s = s;
	in->peer = -1;
	if (net_conn_create(&s->nl, fd, peer, &in_cbs, in, &in->c) != 0) {
		free(in); /* fd already closed */
		return;
	}
	in->next = s->ins;
	if (s->ins)
		s->ins->prev = in;
	s->ins = in;
}

/* ---- life cycle -------------------------------------------------------------------------- */

int server_create(struct ev_loop *loop, const struct server_options *opt, struct server **out)
{
	const struct conf *conf = opt->conf;
	const struct common_logger *log = opt->log;
	int n = (int)conf->n_replicas;
	int rc;
	char err[NET_ERR_LEN];
	if (n < 1 || n > PROTO_MAX_REPLICAS) {
		LOG_ERROR(log, "%d replicas in %s (1..%d supported)", n, conf->path,
			  PROTO_MAX_REPLICAS);
		return -EINVAL;
	}
	for (int i = 0; i < n; i++) {
		if (conf_replica_by_id(conf, i) == NULL) {
			LOG_ERROR(log, "replica ids must be 0..%d: replica%d missing", n - 1, i);
			return -EINVAL;
		}
	}
	if (opt->self < 0 || opt->self >= n) {
		LOG_ERROR(log, "replica id %d is not in %s", opt->self, conf->path);
		return -EINVAL;
	}
	struct server *s = calloc(1, sizeof *s);
	if (s == NULL)
		return -ENOMEM;
	s->loop = loop;
	s->conf = conf;
	s->set = *opt->settings;
	s->lat = opt->latency;
	s->log = log;
	s->self = opt->self;
	s->n = n;
	s->host = conf_replica_by_id(conf, s->self);
	s->leader = -1;
	s->max_clients = s->set.max_clients ? s->set.max_clients : 1;
	s->clients = calloc(s->max_clients, sizeof *s->clients);
	s->free_slots = calloc(s->max_clients, sizeof *s->free_slots);
	if (s->clients == NULL || s->free_slots == NULL) {
		rc = -ENOMEM;
		goto err_free;
	}
	/* Slot 0 on top of the stack: low indexes are used first. */
	for (uint32_t i = 0; i < s->max_clients; i++)
		s->free_slots[i] = s->max_clients - 1 - i;
	s->n_free = s->max_clients;
	struct net_config ncfg = {.lim = {.max_frame = s->set.max_frame_bytes,
					  .max_key = s->set.max_key_bytes,
					  .max_value = s->set.max_value_bytes},
				  .role = PROTO_ROLE_REPLICA,
				  .node_id = s->self,
				  .local_sockets = s->set.local_sockets};
	if (s->set.secret[0]) {
		rc = auth_key_init(&s->key, s->set.secret, strlen(s->set.secret), conf);
		if (rc != 0) {
			LOG_ERROR(log, "cannot use the secret: %s", strerror(-rc));
			goto err_free;
		}
		s->has_auth = true;
		ncfg.auth = &s->key;
		for (int j = 0; j < n; j++) {
			const struct conf_host *h = conf_replica_by_id(conf, j);
			if (j != s->self && net_addr_local(h->addr, s->peers[j].local_ip,
							   sizeof s->peers[j].local_ip, err) != 1)
				s->peers[j].local_ip[0] = '\0';
		}
	} else {
		LOG_WARN(log, "no secret: any host that reaches this port can join the cluster "
			      "(set secret or secretFile: docs/conf.md, \"Security\")");
	}
	rc = net_loop_init(&s->nl, loop, &ncfg);
	if (rc != 0) {
		LOG_ERROR(log, "bad limits in the conf (maxFrameBytes/maxKeyBytes/maxValueBytes)");
		goto err_free;
	}
	ev_child_init(&s->snap_child, snap_child_cb, 0, 0);
	s->snap_child.data = s;
	net_loop_set_pre_flush(&s->nl, pre_flush, s);
	rc = wal_start(s);
	if (rc != 0)
		goto err_net;
	/* nothing leaves before the records it depends on are durable (group commit) */
	if (s->wal)
		net_loop_set_pre_write(&s->nl, wal_sync, s);
	if (s->set.replica_loops > 1) {
		rc = cloops_create((int)s->set.replica_loops, loop, &ncfg, loop_msg, s, &s->cloops);
		if (rc != 0) {
			LOG_ERROR(log, "cannot start %u client loops: %s", s->set.replica_loops,
				  strerror(-rc));
			goto err_net;
		}
		LOG_INFO(log, "%u client loops carry client connections", s->set.replica_loops);
		if (s->wal) /* their messages wait for the commit of the records before them */
			cloops_set_deferred(s->cloops, true);
	}
	rc = net_listener_open(&s->lis, &s->nl, s->host->addr, s->host->port, on_accept, s, err);
	if (rc != 0) {
		LOG_ERROR(log, "replica%d cannot listen: %s", s->self, err);
		goto err_net;
	}
	LOG_INFO(log, "replica%d listening on %s:%u%s", s->self, s->lis.any ? "*" : s->host->addr,
		 s->lis.port, s->lis.any ? " (conf address is not local)" : "");

	s->client_delay_us = s->set.network_delay_ms * 1000u;
	if (s->lat && s->lat->uniform)
		s->client_delay_us = s->lat->uniform_rtt_us / 2;

	const char *maddr = conf->has_master ? conf->master.addr : "127.0.0.1";
	uint16_t mport =
	    conf->has_master && conf->master.port ? conf->master.port : s->set.master_port;
	rc = net_dialer_start(&s->master, &s->nl, maddr, mport, &master_cbs, s);
	if (rc != 0) {
		LOG_ERROR(log, "master: %s", s->master.err);
		goto err_lis;
	}
	net_dialer_expect(&s->master, PROTO_ROLE_MASTER, -1);
	/* connect from the conf address when it is local, so peers and the master see the
	 * replica's own address (and per-address network rules apply to all its traffic) */
	if (!s->lis.any)
		(void)net_dialer_set_source(&s->master, s->host->addr);
	for (int j = 0; j < n; j++) {
		struct server_peer *p = &s->peers[j];
		p->s = s;
		p->id = j;
		if (j == s->self)
			continue;
		const struct conf_host *h = conf_replica_by_id(conf, j);
		p->delay_us = delay_to(s, h->addr);
		rc = net_dialer_start(&p->d, &s->nl, h->addr, h->port, &peer_cbs, p);
		if (rc != 0) {
			LOG_ERROR(log, "replica%d: %s", j, p->d.err);
			goto err_dial;
		}
		net_dialer_expect(&p->d, PROTO_ROLE_REPLICA, j);
		if (!s->lis.any)
			(void)net_dialer_set_source(&p->d, s->host->addr);
	}
	ev_timer_init(&s->tick, tick_cb, SERVER_TICK_S, SERVER_TICK_S);
	s->tick.data = s;
	s->xlog = opt->xlog;
	if (s->xlog) {
		ev_timer_init(&s->xlog_t, xlog_flush_cb, XLOG_FLUSH_S, XLOG_FLUSH_S);
		s->xlog_t.data = s;
		ev_timer_start(s->loop, &s->xlog_t);
	}
	*out = s;
	return 0;

err_dial:
	for (int j = 0; j < n; j++)
		net_dialer_stop(&s->peers[j].d);
	net_dialer_stop(&s->master);
err_lis:
	net_listener_close(&s->lis);
err_net:
	cloops_destroy(s->cloops);
	core_destroy(s->restored);
	wal_close(s->wal);
	net_loop_destroy(&s->nl);
err_free:
	auth_key_wipe(&s->key);
	free(s->clients);
	free(s->free_slots);
	free(s);
	return rc;
}

void server_destroy(struct server *s)
{
	if (s == NULL)
		return;
	cloops_destroy(s->cloops); /* joins the client loops before the core goes away */
	ev_timer_stop(s->loop, &s->tick);
	if (s->xlog) {
		ev_timer_stop(s->loop, &s->xlog_t);
		fflush(s->xlog);
	}
	net_listener_close(&s->lis);
	net_dialer_stop(&s->master);
	for (int j = 0; j < s->n; j++)
		net_dialer_stop(&s->peers[j].d);
	while (s->ins) {
		struct server_in *in = s->ins;
		s->ins = in->next;
		net_conn_abandon(in->c);
		free(in);
	}
	net_loop_destroy(&s->nl);
	if (s->snap_pid > 0) { /* (its temporary file is removed with the next snapshot's) */
		if (ev_is_default_loop(s->loop))
			ev_child_stop(s->loop, &s->snap_child);
		kill(s->snap_pid, SIGKILL);
		(void)waitpid(s->snap_pid, NULL, 0);
	}
	if (s->wal && wal_commit(s->wal) != 0)
		LOG_ERROR(s->log, "write-ahead log: the last commit failed: %s", wal_error(s->wal));
	wal_close(s->wal);
	core_destroy(s->core);
	core_destroy(s->restored);
	auth_key_wipe(&s->key);
	free(s->clients);
	free(s->free_slots);
	free(s);
}

bool server_ready(const struct server *s)
{
	return s->core != NULL;
}

uint16_t server_port(const struct server *s)
{
	return s->lis.port;
}

static void stop_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	const struct common_logger *log = w->data;
	(void)revents;
	LOG_INFO(log, "signal %d: stopping", w->signum);
	ev_break(loop, EVBREAK_ALL);
}

int server_main(const struct conf *conf, const struct conf_settings *s, const char *alias,
		const char *latency_path, const char *quorum_path, const char *xlog_path,
		const struct common_logger *log)
{
	int status = 1;
	const struct conf_host *h = alias ? conf_find_replica(conf, alias) : NULL;
	if (h == NULL) {
		LOG_ERROR(log, "-run server needs -alias naming a replica of %s", conf->path);
		return 1;
	}
	struct conf_latency lat;
	memset(&lat, 0, sizeof lat);
	bool have_lat = false;
	if (latency_path) {
		struct conf_diags diags = {0};
		int rc = conf_latency_load(latency_path, &lat, &diags);
		conf_diags_print(&diags, stderr);
		conf_diags_free(&diags);
		if (rc != 0) {
			LOG_ERROR(log, "cannot use latency file %s", latency_path);
			return 1;
		}
		have_lat = true;
	}
	if (quorum_path) {
		int leader = -1;
		struct conf_diags diags = {0};
		int rc = conf_quorum_load(quorum_path, conf, &leader, &diags);
		conf_diags_print(&diags, stderr);
		conf_diags_free(&diags);
		if (rc != 0) {
			LOG_ERROR(log, "cannot use quorum file %s", quorum_path);
			goto out_lat;
		}
		LOG_INFO(log, "quorum file names leader %d; the master's choice is used", leader);
	}
	FILE *xlog = NULL;
	if (xlog_path) {
		xlog = fopen(xlog_path, "w");
		if (xlog == NULL) {
			LOG_ERROR(log, "cannot open the execution log %s: %s", xlog_path,
				  strerror(errno));
			goto out_lat;
		}
	}
	struct ev_loop *loop = ev_default_loop(EVFLAG_AUTO);
	if (loop == NULL) {
		LOG_ERROR(log, "cannot create the event loop");
		goto out_xlog;
	}
	struct server_options opt = {.conf = conf,
				     .settings = s,
				     .self = h->id,
				     .latency = have_lat ? &lat : NULL,
				     .log = log,
				     .xlog = xlog};
	struct server *srv;
	if (server_create(loop, &opt, &srv) != 0)
		goto out_xlog;
	ev_signal sigint, sigterm;
	ev_signal_init(&sigint, stop_cb, SIGINT);
	ev_signal_init(&sigterm, stop_cb, SIGTERM);
	sigint.data = sigterm.data = (void *)log;
	ev_signal_start(loop, &sigint);
	ev_signal_start(loop, &sigterm);
	ev_run(loop, 0);
	ev_signal_stop(loop, &sigint);
	ev_signal_stop(loop, &sigterm);
	server_destroy(srv);
	LOG_INFO(log, "replica%d stopped", h->id);
	status = 0;
out_xlog:
	if (xlog && fclose(xlog) != 0) {
		LOG_ERROR(log, "execution log %s: %s", xlog_path, strerror(errno));
		status = 1;
	}
out_lat:
	if (have_lat)
		conf_latency_free(&lat);
	return status;
}
