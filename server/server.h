/* server: the replica process: sockets, the master, peers and clients around the core. */
#ifndef CURPKV_SERVER_H
#define CURPKV_SERVER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <ev.h>

#include "common/log.h"
#include "conf/conf.h"

/*
 * A server listens on its conf address:port and, at once, dials the master (retrying until it is
 * up) and every other replica. Connections carry HELLO first:
 *   - to the master: HELLO(role replica, node_id self) + REGISTER(self, addr, port);
 *   - to each peer j (the server's OUTGOING connection to j, the only one it sends to j on):
 *     HELLO(role replica, node_id self); messages from j arrive on the connection j dialed;
 *   - from clients: HELLO(role client, client_id, node_id = the replica the client is co-located
 *     with or -1), up to maxClients connections (beyond: closed and counted);
 *   - from tools: HELLO(role admin), then STATS_REQ.
 * With a secret (conf secret/secretFile) every connection first completes the handshake of
 * auth/auth.h (net/ runs it), unauthenticated connections count against maxClients, HELLO must
 * carry the proven role (and a replica its proven id, from its conf address when that address is
 * local here); without one a warning is logged at start. On every connection, a message type its
 * role may not send (auth_may_send) closes it (role_violations).
 * Once the master reports the cluster ready, the server creates the core (replica/core.h) with the
 * leader from CLUSTER_INFO and starts reading peer and client connections (until then they are
 * paused after their HELLO). STATS_REQ on any connection is answered with STATS_REPLY: every
 * core_stats field and the net counters.
 *
 * One libev loop (replicaLoops > 1 is not implemented yet: a warning is logged). Everything runs
 * on the thread of the loop given to server_create.
 */

struct server;

struct server_options {
	const struct conf *conf;	      /* not owned; must outlive the server */
	const struct conf_settings *settings; /* copied */
	int self;			      /* this replica's id */
	const struct conf_latency *latency;   /* -latency file, NULL if none; not owned */
	const struct common_logger *log;      /* not owned; may be NULL */
	FILE
	    *xlog; /* the execution log (-xlog), or NULL; not owned, written on the loop's thread */
};

/* Creates the server on loop: listens, starts dialing the master and the peers. Returns 0 and
 * *out, -EINVAL (self not in the conf, replica ids not 0..n-1), or a negative errno from
 * listening (reported on the log). Thread: loop's. */
int server_create(struct ev_loop *loop, const struct server_options *opt, struct server **out);
/* Closes every connection, destroys the core and frees s. Thread: loop's. */
void server_destroy(struct server *s);

/* True once the core exists (the master reported the cluster ready). */
bool server_ready(const struct server *s);
/* The port actually listened on. */
uint16_t server_port(const struct server *s);

/* `curpkv -run server|replica`: runs replica `alias` on the default loop until SIGINT/SIGTERM.
 * latency_path, quorum_path and xlog_path may be NULL (the leader comes from the master; a
 * quorum file only produces a warning if it disagrees). xlog_path: the execution log, truncated,
 * one line "<slot> <client> <seq>" per command executed here (a testing aid: docs/testing.md).
 * Returns the process exit status. Thread: main. */
int server_main(const struct conf *conf, const struct conf_settings *s, const char *alias,
		const char *latency_path, const char *quorum_path, const char *xlog_path,
		const struct common_logger *log);

#endif
