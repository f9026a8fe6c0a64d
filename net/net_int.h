/* net: private parts shared by the module's files (never included from outside net/). */
#ifndef CURPKV_NET_INT_H
#define CURPKV_NET_INT_H

#include "auth/auth.h"
#include "net/net.h"

#define NET_RBUF_MIN	 (16u << 10)  /* initial read buffer and minimum free space per read */
#define NET_RBUF_KEEP	 (256u << 10) /* read buffers above this are shrunk when empty */
#define NET_OBUF_KEEP	 (1u << 20)   /* output buffers above this are released when empty */
#define NET_FLUSH_ROUNDS 8	      /* close/flush passes per prepare before deferring */

/* A queue of frames waiting for their emulated delivery time: records of
 * [double due][uint32 body length][body] in one byte buffer, consumed from `head`. */
struct net_delayq {
	uint8_t *data;
	size_t head, len, cap; /* live bytes are data[head..len) */
	size_t frames;
};

struct net_conn {
	struct net_loop *nl;
	int fd;
	uint64_t id;
	ev_io rio, wio;
	ev_timer dtimer; /* delivers delayed frames */
	uint8_t *rbuf;	 /* bytes read and not yet delivered (or queued) */
	size_t rlen, rcap;
	struct proto_buf out;
	struct net_delayq dq;
	double delay; /* seconds; 0 = deliver at once */
	double hold;  /* seconds output may wait to be batched; 0 = write at the flush point */
	double hold_since; /* ev_now when the oldest unwritten byte was queued (hold > 0) */
	ev_timer htimer;   /* writes held output when its hold expires */
	const struct net_conn_cbs *cbs;
	void *arg;
	bool closed; /* no more I/O; on the dead list until on_close ran */
	bool notify; /* call on_close (false once abandoned) */
	bool paused;
	bool dirty;
	bool read_blocked; /* reading stopped because the delay queue is full */
	/* the handshake (loops with a secret): hs_active until it completes or fails; no frame
	 * is delivered to the owner, queued for delay or sent by the owner before authed */
	bool hs_active;
	bool authed;
	bool local; /* a Unix socket (net_conn_is_local) */
	struct auth_hs hs;
	ev_timer atimer; /* the handshake's deadline */
	int reason;	 /* why it closed */
	struct net_conn *dirty_next;
	struct net_conn *dead_next;
	struct net_conn *all_prev, *all_next;
	char peer[64];
};

/* Closes c now for I/O with reason and queues its on_close (net.c). */
void net_conn_shutdown(struct net_conn *c, int reason);

/* How a new connection starts (net_conn_create_as). */
enum net_conn_mode { NET_MODE_ACCEPT, NET_MODE_CONNECT };
/* net_conn_create, as the acceptor or the connector of the handshake when the loop has a
 * secret (a connector sends its AUTH_HELLO at once; expect_role/expect_node as in
 * net_dialer_expect). Same returns. */
int net_conn_create_as(struct net_loop *nl, int fd, const char *peer,
		       const struct net_conn_cbs *cbs, void *arg, enum net_conn_mode mode,
		       uint8_t expect_role, int32_t expect_node, struct net_conn **out);

#endif
