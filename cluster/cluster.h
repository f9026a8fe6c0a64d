/* cluster: the client library's I/O shell: the master connection, one connection per replica
 * that its sessions share, on the caller's libev loop, and a synchronous stats fetch. */
#ifndef CURPKV_CLUSTER_H
#define CURPKV_CLUSTER_H

#include <stdbool.h>
#include <stdint.h>

#include <ev.h>

#include "client/session.h"
#include "common/log.h"
#include "conf/conf.h"
#include "proto/proto.h"

/*
 * A cluster handle connects to the master on the caller's loop (retrying until the master is up)
 * and asks for the cluster until the master reports it ready (or pushes it). Sessions are opened
 * on a ready cluster: each asks the master for its own client id and creates a struct session
 * (client/session.h) whose messages go to the cluster's connection to each replica, dialed once
 * for all its sessions (HELLO role client, client id 0: each message names its own client id,
 * and answers are routed to the session by it; docs/wire.md "Shared client connections"); on a
 * newer view it asks the master again. Emulated latency (networkDelay, -latency file, Proxy
 * "(local)" exemption) is applied to what the client receives from each replica.
 *
 * With a secret in the settings (secret/secretFile), every connection authenticates first
 * (auth/auth.h): as a client (admin for the stats fetch), expecting the master at the master's
 * address and replica r at replica r's. A refusal by the master or a majority of the replicas
 * is reported once (on_auth_failed).
 *
 * Threading: a cluster and its sessions belong to the thread running their loop; a
 * multi-threaded load generator opens one cluster per thread. No callback is ever called from
 * inside the library call that caused it, except session_cb completions, which come from the
 * loop (session_on_msg / session_tick). Do not close a session from inside its own completion
 * callback.
 */

struct cluster;
struct cluster_session;

/* The cluster became ready (fires once). */
typedef void (*cluster_ready_cb)(struct cluster *cl, void *arg);
/* The master, or a majority of the replicas, refused this client's handshake: a wrong or
 * missing secret on one side (fires once; the connections keep retrying). A minority of
 * replicas refusing is only logged: the others serve. */
typedef void (*cluster_auth_failed_cb)(struct cluster *cl, void *arg);
/* The master could not be reached: the first attempt to connect to it (host:port) failed with
 * err (a negative errno: -ECONNREFUSED when nothing listens there...) before any attempt ever
 * succeeded. Fires at most once; the connection keeps retrying (a master that starts later is
 * found), so a caller that would rather wait for it can ignore this. */
typedef void (*cluster_unreachable_cb)(struct cluster *cl, const char *host, uint16_t port, int err,
				       void *arg);
/* The session is ready to take commands (fires at most once, from the loop). */
typedef void (*cluster_session_ready_cb)(struct cluster_session *cs, void *arg);

struct cluster_options {
	const struct conf_latency *latency;    /* -latency file, NULL = none; not owned */
	const struct common_logger *log;       /* not owned; may be NULL */
	cluster_ready_cb on_ready;	       /* may be NULL */
	cluster_auth_failed_cb on_auth_failed; /* may be NULL */
	cluster_unreachable_cb on_unreachable; /* may be NULL */
	void *arg;
	uint32_t window;	/* in-flight commands per session; 0 = the conf's */
	uint32_t tick_us;	/* session_tick period; 0 = 2000 */
	double connect_grace_s; /* a session is also ready with a majority of its
				 * replica connections after this long; 0 = 1 s */
};

/* Connects to the master of conf on loop. alias names this client process in the conf (for the
 * Proxy section; NULL = none). conf must outlive the cluster; s is copied. Returns 0 and *out, or
 * a negative errno (-EINVAL: no usable replica list in the conf; master address unresolvable).
 * Thread: loop's. */
int cluster_open(struct ev_loop *loop, const struct conf *conf, const struct conf_settings *s,
		 const char *alias, const struct cluster_options *opt, struct cluster **out);
/* Closes every session (their pending commands complete with SESSION_TIMEOUT), the master
 * connection, and frees cl. Thread: loop's. */
void cluster_close(struct cluster *cl);

bool cluster_is_ready(const struct cluster *cl);
/* True once a connection was refused for authentication (see cluster_auth_failed_cb). */
bool cluster_auth_failed(const struct cluster *cl);
uint64_t cluster_view(const struct cluster *cl);
int cluster_leader(const struct cluster *cl);
int cluster_n_replicas(const struct cluster *cl);

/* Opens a session on a ready cluster: asks the master for a client id (the first session also
 * makes the cluster dial every replica); cb(cs, arg) fires once the id is known and every
 * replica connection is up (or a majority after connect_grace_s). *out is valid until
 * cluster_session_close or cluster_close. Returns 0, -EAGAIN (cluster not ready yet) or -ENOMEM. */
int cluster_session_open(struct cluster *cl, cluster_session_ready_cb cb, void *arg,
			 struct cluster_session **out);
/* Completes the session's pending commands with SESSION_TIMEOUT and frees it (the replica
 * connections stay, for the other sessions). Not from inside one of its completion callbacks. */
void cluster_session_close(struct cluster_session *cs);

/* Submits a strong command (bytes copied) with the loop thread's monotonic time. Returns the seq
 * (>= 1), -EAGAIN (session not ready yet, or window full) or -EINVAL (bad command). cb fires
 * exactly once, from the loop. */
int64_t cluster_session_submit(struct cluster_session *cs, const struct proto_cmd *cmd,
			       session_cb cb, void *arg);
bool cluster_session_ready(const struct cluster_session *cs);
/* Calls cb(arg, seq, slot) whenever the session learns the slot that ordered one of its
 * commands (see session_io.ordered). */
typedef void (*cluster_order_cb)(void *arg, uint64_t seq, uint64_t slot);
void cluster_session_on_order(struct cluster_session *cs, cluster_order_cb cb, void *arg);

/* The same for a weak (causal) command (curpho/curpht; -EINVAL with curp). */
int64_t cluster_session_submit_weak(struct cluster_session *cs, const struct proto_cmd *cmd,
				    session_cb cb, void *arg);
/* The protocol session (for session_get_stats, session_inflight...), NULL until ready. */
struct session *cluster_session_get(struct cluster_session *cs);
/* Makes the session take a new client id from the master (session_new_id: 0, -EBUSY while
 * commands are pending, -EAGAIN if the session is not ready). Not from inside a completion
 * callback of the session. */
int cluster_session_new_id(struct cluster_session *cs);
/* The session's client id (0 until the master gave one; it changes when the session takes a new
 * one: client/session.h, session_io.need_id). */
uint64_t cluster_session_client_id(const struct cluster_session *cs);

/* ---- synchronous helpers (CLI, tests) ---------------------------------------------------- */

#define CLUSTER_STAT_NAME 48
#define CLUSTER_MAX_STATS PROTO_MAX_STATS /* every counter a STATS_REPLY can carry */

struct cluster_stats {
	uint32_t n;
	struct {
		char name[CLUSTER_STAT_NAME];
		uint64_t value;
	} v[CLUSTER_MAX_STATS];
};

/* Fetches STATS_REPLY from replica `replica_id` of conf (HELLO role admin + STATS_REQ; with a
 * secret, after the handshake) on a temporary loop of its own, waiting at most timeout_s.
 * Returns 0, or a negative errno with a message in err (NET_ERR_LEN bytes): -ECONNREFUSED and the
 * like, -ETIMEDOUT, -EINVAL, -EACCES (authentication failed). Thread: any thread that does not
 * run a libev default loop callback. */
int cluster_stats(const struct conf *conf, const struct conf_settings *s, int replica_id,
		  double timeout_s, struct cluster_stats *out, char *err);

/* The same from the process at addr:port of conf's cluster (a replica or the master: both answer
 * STATS_REQ). */
int cluster_stats_at(const struct conf *conf, const struct conf_settings *s, const char *addr,
		     uint16_t port, double timeout_s, struct cluster_stats *out, char *err);

/* Exit status of a command refused for authentication (CLI_AUTH of cli/cli.h). */
#define CLUSTER_EXIT_AUTH 4

/* `curpkv stats -config F [-alias A]`: prints every replica's counters ("replicaN" then
 * "  name value" lines) on stdout, or only A's (a replica, or the master: ready, view, leader,
 * view_changes...). Returns the exit status (CLUSTER_EXIT_AUTH if a process refused the
 * authentication, else non-zero if a process did not answer, or A is a client). */
int cluster_stats_main(const struct conf *conf, const struct conf_settings *s, const char *alias);

#endif
