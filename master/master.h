/* master: the configuration manager (replica registry, readiness, client ids, heartbeats). */
#ifndef CURPKV_MASTER_H
#define CURPKV_MASTER_H

#include <stdbool.h>
#include <stdint.h>

#include <ev.h>

#include "common/log.h"
#include "conf/conf.h"

/*
 * The master listens on masterPort. Replicas connect, send HELLO(role replica, node_id) and
 * REGISTER(node_id, addr, port, and what they serve: view, leader, exec index, live, the highest
 * client id seen), and get CLUSTER_INFO back: ready=false until a majority of the conf's
 * replicas has registered; then the master takes the highest view a serving replica reports
 * (never below the one recorded in stateDir), and pushes CLUSTER_INFO ready=true (view, leader,
 * replica list, rejoin for a fresh process joining a running cluster) to every registered
 * replica and every client still waiting; the others join later. Clients send HELLO(role
 * client) and CLUSTER_REQ; every CLUSTER_REQ from a client is answered with a fresh client id
 * (never 0, never one handed out before: docs/recovery.md "Client ids") in client_id, in
 * request order, once the id epoch is known (at once with stateDir/master.epoch, else when
 * ready); pushes carry client_id 0, so a client matches answers to its requests in FIFO order.
 * The master heartbeats replicas every heartbeatMs, marks a replica down after leaderTimeoutMs
 * of silence (a replica that never registered, from the moment it became ready) and, when that
 * is the leader, starts the next view (docs/recovery.md). It is never on the data path.
 *
 * With a secret (conf secret/secretFile) every connection first completes the handshake of
 * auth/auth.h; a replica must REGISTER as the replica id it proved (from its conf address when
 * that address is local here); unauthenticated connections are capped at maxClients. On every
 * connection a message type its role may not send (auth_may_send) closes it.
 *
 * Everything runs on the thread of the loop given to master_create.
 */

struct master;

struct master_options {
	const struct conf *conf;	      /* not owned; must outlive the master */
	const struct conf_settings *settings; /* copied */
	int leader;			      /* initial leader (quorum file); -1 = replica 0 */
	const struct common_logger *log;      /* not owned; may be NULL */
};

/* Counters (STATS_REQ to the master answers them too). */
struct master_stats {
	uint64_t registrations;	 /* REGISTER messages accepted */
	uint64_t clients_served; /* CLUSTER_REQ answered */
	uint64_t ids_assigned;
	uint64_t heartbeats_sent;
	uint64_t replicas_down;	  /* replica-down events (silence beyond leaderTimeoutMs) */
	uint64_t protocol_errors; /* connections closed for a message out of place */
	uint64_t role_violations; /* connections closed for a message their role may not send, or
				   * an identity other than the handshake proved */
	uint64_t view_changes;	  /* views started by this master (leader silent) */
	uint64_t id_epoch;	  /* the epoch of the client ids handed out (0: not known yet) */
};

/* Creates a master on loop and starts listening on the conf's master address and port.
 * Returns 0 and *out, -EINVAL (conf unusable: replica ids not 0..n-1, n too large, bad leader),
 * or a negative errno from listening (reported on the log). Thread: loop's. */
int master_create(struct ev_loop *loop, const struct master_options *opt, struct master **out);
/* Closes every connection and frees m. Thread: loop's. */
void master_destroy(struct master *m);

/* True once a majority of the replicas has registered (the view is known). */
bool master_ready(const struct master *m);
/* The port actually listened on. */
uint16_t master_port(const struct master *m);
void master_get_stats(const struct master *m, struct master_stats *st);

/* `curpkv -run master`: runs a master on the default loop until SIGINT/SIGTERM. quorum_path may be
 * NULL. Returns the process exit status (0 after a clean stop). Thread: main. */
int master_main(const struct conf *conf, const struct conf_settings *s, const char *quorum_path,
		const struct common_logger *log);

#endif
