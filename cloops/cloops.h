/* cloops: the extra event-loop threads that carry a replica's client connections
 * (replicaLoops > 1), and the hand-off of messages between them and the core's loop. */
#ifndef CURPKV_CLOOPS_H
#define CURPKV_CLOOPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ev.h>

#include "net/net.h"
#include "proto/proto.h"

/*
 * Each client loop is a thread running its own libev loop and net_loop; it owns the client
 * connections handed to it, reads, decodes and checks their frames (hostile input stops there),
 * and writes the replies. Messages cross threads only through ck SPSC rings — one ring per
 * direction per client loop — plus ev_async_send; the receiving side drains a bounded batch
 * (CLOOPS_BATCH) into a local array first and then processes it. A full ring never blocks: the
 * producer keeps the overflow in a private FIFO and retries at its next flush point.
 *
 * Connection ids given to the core are (loop index + 1) << 56 | the loop's net_conn id, so the
 * core's loop can route replies without asking anyone.
 *
 * Threading: every function is called on the core's loop thread (the "main" loop), except what
 * runs inside the client loops themselves.
 */

#define CLOOPS_BATCH 128
#define CLOOPS_MAX 64

struct cloops;

/* Called on the main loop for each client message, in per-connection order. m and its byte
 * fields are valid only during the call. */
typedef void (*cloops_msg_fn)(void *ctx, uint64_t conn, const struct proto_msg *m);

/* Starts n (2..CLOOPS_MAX) client loops. main is the core's loop. ncfg's limits are used; its
 * secret is not: the connections handed over are authenticated already. Returns 0 or -errno. */
int cloops_create(int n, struct ev_loop *main, const struct net_config *ncfg, cloops_msg_fn fn,
		  void *ctx, struct cloops **out);
/* Stops and joins every client loop, closing their connections, and frees everything. */
void cloops_destroy(struct cloops *cl);

/* Hands a client connection (a detached socket and the bytes already read from it) to the loop
 * with the fewest live connections. Takes fd and rest (malloc'd, may be NULL). Returns 0, or
 * -ENOMEM (fd closed, rest freed). */
int cloops_adopt(struct cloops *cl, int fd, uint8_t *rest, size_t rest_len, const char *peer,
		 uint32_t delay_us);

/* True if conn names a connection of a client loop. */
static inline bool cloops_owns(uint64_t conn)
{
	return (conn >> 56) != 0;
}

/* Sends m to conn (encoded here, written by its loop). Returns 0, -EINVAL (not encodable or not a
 * client-loop id) or -ENOMEM. A closed connection drops it. */
int cloops_send(struct cloops *cl, uint64_t conn, const struct proto_msg *m);

/* With on, cloops_send only queues: nothing reaches a client loop before the next cloops_flush
 * (a replica with a write-ahead log commits the records its answers depend on in between:
 * docs/durability.md). Main side, before the first send. */
void cloops_set_deferred(struct cloops *cl, bool on);

/* Opens or closes client intake (back-pressure): the loops pause or resume reading. */
void cloops_set_intake(struct cloops *cl, bool open);

/* Pushes queued messages (overflow of full rings) towards the client loops: call at the main
 * loop's flush point. */
void cloops_flush(struct cloops *cl);

/* Live connections over all client loops, frames they rejected, and connections they closed for
 * a message type a client may not send (auth_may_send) (approximate: read without stopping the
 * loops). */
uint32_t cloops_conns(const struct cloops *cl);
uint64_t cloops_frames_rejected(const struct cloops *cl);
uint64_t cloops_role_violations(const struct cloops *cl);

#endif
