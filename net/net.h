/* net: libev TCP connections carrying proto frames (framing, decoding, capped output buffers
 * flushed once per loop iteration, emulated one-way latency), listeners and retrying dialers. */
#ifndef CURPKV_NET_H
#define CURPKV_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <ev.h>

#include "proto/proto.h"

/*
 * Threading: everything here belongs to the thread that runs the net_loop's ev_loop; no call is
 * thread-safe. One net_loop per ev_loop.
 *
 * Lifetime of a connection: net_conn_create() (or a dialer) makes it; it lives until it closes
 * (EOF, socket error, bad frame, full output buffer, or net_conn_close()). A close is immediate
 * for I/O (the socket is closed, sends fail with -EPIPE, no more messages are delivered) but the
 * owner's on_close callback runs later, from the loop's flush point, never from inside a net_*
 * call the owner made: owners may call net_conn_send()/net_conn_close() from any callback
 * without re-entering themselves. After on_close returns the connection is freed, so the owner
 * drops its pointer there. net_conn_abandon() closes without any callback (for teardown).
 *
 * Authentication: when net_config.auth is set, every connection of the loop opens with the
 * handshake of auth/auth.h before anything else: accepted connections (net_conn_create) as the
 * acceptor, a dialer's as the connector. Until it completes nothing is delivered to the owner
 * and net_conn_send refuses (-ENOTCONN); frames are capped at NET_AUTH_MAX_FRAME, and the
 * handshake must end within auth_timeout_s. Any failure closes the connection with
 * NET_CLOSE_AUTH (an acceptor first answers AUTH_FAIL, the same answer whatever went wrong) and
 * is counted in auth_failed. A dialer calls on_up only once authenticated. AUTH_* messages never
 * reach an owner: on a loop without a secret an AUTH_HELLO is answered AUTH_FAIL (so a client
 * with a secret hears why it cannot get in), and an AUTH_FAIL received closes with
 * NET_CLOSE_AUTH (so a client without a secret does too).
 *
 * Output: net_conn_send() encodes into the connection's buffer (capped, see net_config) and marks
 * the connection dirty; one ev_prepare watcher per net_loop writes every dirty connection once
 * per loop iteration (after an optional pre-flush hook, e.g. core_flush). If the socket would
 * block, an ev_io write watcher finishes later. A peer whose buffer reaches the cap is
 * disconnected, never waited for.
 */

#define NET_DEFAULT_OUT_CAP (64u << 20) /* bytes of unsent output per connection */
#define NET_ERR_LEN	    256		/* size of the error-text buffers of the socket helpers */
#define NET_AUTH_MAX_FRAME  128		/* bytes of body of a frame before authentication */
#define NET_AUTH_TIMEOUT_S  3.0		/* default handshake deadline */

/* Why a connection closed (passed to on_close). */
enum net_close_reason {
	NET_CLOSE_LOCAL = 0,	/* net_conn_close() */
	NET_CLOSE_EOF,		/* the peer closed */
	NET_CLOSE_ERROR,	/* read/write error (connection reset...) */
	NET_CLOSE_BAD_FRAME,	/* a frame failed to decode (counted in frames_rejected) */
	NET_CLOSE_OVERSIZED,	/* a frame header declared more than maxFrameBytes (counted too) */
	NET_CLOSE_OVERFLOW,	/* the output buffer reached its cap (overflow_disconnects) */
	NET_CLOSE_AUTH,		/* the handshake failed, or the peer refused ours (auth_failed) */
	NET_CLOSE_AUTH_TIMEOUT, /* the handshake did not end in time (auth_failed) */
};

/* Returns a static description of a close reason ("closed by peer"...). */
const char *net_close_reason_name(int reason);

/* Counters of one net_loop (read them directly; only the loop's thread writes them). */
struct net_stats {
	uint64_t conns_opened; /* connections created (accepted or dialed) */
	uint64_t conns_closed;
	uint64_t conns_refused; /* accepted sockets the owner refused (net_loop_count_refused) */
	uint64_t conns_local;	/* connections over a Unix socket (localSockets), of conns_opened */
	uint64_t frames_in, frames_out;
	uint64_t bytes_in, bytes_out;
	uint64_t frames_rejected;      /* malformed or oversized frames (their connection closed) */
	uint64_t frames_oversized;     /* subset of frames_rejected refused at the header */
	uint64_t overflow_disconnects; /* peers disconnected because their output buffer was full */
	uint64_t connect_failures;     /* dialer attempts that failed */
	uint64_t flushes;	       /* prepare-time flush passes that wrote something */
	uint64_t auth_ok;	       /* handshakes completed (either side) */
	uint64_t auth_failed;	       /* connections closed before their handshake completed:
					* failed, refused, timed out, or (accepted ones) gone */
};

struct net_conn;
struct net_loop;

struct auth_key;

/* Configuration of a net_loop (decode limits from the conf, output cap, authentication). */
struct net_config {
	struct proto_limits lim; /* maxFrameBytes, maxKeyBytes, maxValueBytes */
	size_t out_cap;		 /* 0 = NET_DEFAULT_OUT_CAP */
	/* the cluster's keys (auth/auth.h; not owned, must outlive the loop): every connection
	 * authenticates; NULL = no secret, no handshake */
	const struct auth_key *auth;
	uint8_t role;	       /* this process in handshakes (enum proto_role) */
	int32_t node_id;       /* its replica id, or -1 */
	double auth_timeout_s; /* handshake deadline; 0 = NET_AUTH_TIMEOUT_S */
	/* localSockets: listeners on an address of this host also accept on a Unix socket named
	 * after it (net_local_name), and dialers to such an address try that socket first, TCP
	 * when nothing listens on it */
	bool local_sockets;
};

/* Per-loop context: the flush point, the decode scratch and the counters. Embed it in the
 * owner; do not copy it after net_loop_init. */
struct net_loop {
	struct ev_loop *loop;
	struct net_config cfg;
	ev_prepare prepare;	/* the once-per-iteration flush point */
	ev_check check;		/* reads the clock once per iteration (now_ns) */
	uint64_t now_ns;	/* net_loop_now_ns */
	ev_idle idle;		/* keeps the loop spinning while work is left for the next flush */
	struct net_conn *dirty; /* connections with output to write (via dirty_next) */
	struct net_conn *dead;	/* closed connections whose on_close is pending */
	struct net_conn *all;	/* every connection not yet freed (for net_loop_destroy) */
	void (*pre_flush)(void *arg);
	void *pre_flush_arg;
	void (*pre_write)(void *arg); /* net_loop_set_pre_write */
	void *pre_write_arg;
	bool again; /* net_loop_again: the pre_flush hook has more to do next iteration */
	uint64_t next_id;
	uint32_t unauth;      /* accepted connections whose handshake has not completed */
	struct proto_msg msg; /* decode scratch (large: kept off the stack) */
	struct proto_decoder dec; /* the decoder's zone, kept from frame to frame */
	struct net_stats st;
};

/* Initializes nl on loop. Returns 0 or -EINVAL (a zero limit). Thread: loop's. */
int net_loop_init(struct net_loop *nl, struct ev_loop *loop, const struct net_config *cfg);
/* Sets a hook called before any connection of the loop writes (the flush point's writes, and
 * a write watcher's or a batching timer's later): the owner makes durable what the bytes about
 * to leave depend on (a replica's write-ahead log: docs/durability.md). May be NULL. */
void net_loop_set_pre_write(struct net_loop *nl, void (*fn)(void *arg), void *arg);

/* Sets a hook called at the flush point before output is written (e.g. core_flush), so that
 * what it sends goes out in the same write. fn may be NULL. */
void net_loop_set_pre_flush(struct net_loop *nl, void (*fn)(void *arg), void *arg);
/* Called by the pre_flush hook: it stopped with work left that no event will announce (a state
 * transfer that used its per-iteration budget): the loop polls without blocking once more. */
void net_loop_again(struct net_loop *nl);
/* Writes every dirty connection now (what the flush point does), e.g. before exiting. */
void net_loop_flush(struct net_loop *nl);
/* Counts a connection the owner refused (maxClients): stats only. */
void net_loop_count_refused(struct net_loop *nl);
/* Accepted connections still in their handshake (they count against maxClients). */
static inline uint32_t net_loop_unauth(const struct net_loop *nl)
{
	return nl->unauth;
}
/* The loop's clock: CLOCK_MONOTONIC in ns, read once per iteration right after the poll
 * returns (before any event of the iteration is handled) and at net_loop_init. Every event of
 * one iteration sees the same time, never less than the last iteration's: one clock read per
 * iteration instead of one per message (issue 21). For protocol timers and deadlines, not for
 * measuring how long something took. Thread: loop's. */
static inline uint64_t net_loop_now_ns(const struct net_loop *nl)
{
	return nl->now_ns;
}
/* Reads the clock now and moves the loop's clock up to it (never back): for a call made
 * outside the loop's events (a blocking API between two runs of the loop), which must not get
 * an old iteration's time. Returns the new net_loop_now_ns. Thread: loop's. */
uint64_t net_loop_now_refresh(struct net_loop *nl);
/* Frees every connection still held, WITHOUT callbacks (owners abandon or forget theirs first),
 * and stops the loop's watchers. The ev_loop itself is the caller's. */
void net_loop_destroy(struct net_loop *nl);

/* Callbacks of a connection; arg is the owner's. */
struct net_conn_cbs {
	/* One decoded message, in arrival order. m and every byte field it points to are valid
	 * only during the call (copy what you keep). */
	void (*on_msg)(struct net_conn *c, const struct proto_msg *m, void *arg);
	/* The connection closed for `reason` (enum net_close_reason). Called exactly once, from
	 * the flush point; c is freed when it returns. May be NULL. */
	void (*on_close)(struct net_conn *c, int reason, void *arg);
	/* The handshake completed (loops with a secret; the peer's identity is then known). May
	 * be NULL. */
	void (*on_auth)(struct net_conn *c, void *arg);
};

/* Wraps a connected socket (takes ownership of fd: it is closed on failure too), sets it
 * non-blocking with TCP_NODELAY and starts reading. peer is a printable name for logs (copied;
 * may be NULL). Returns 0 and *out, or -ENOMEM / a negative errno. */
int net_conn_create(struct net_loop *nl, int fd, const char *peer, const struct net_conn_cbs *cbs,
		    void *arg, struct net_conn **out);
/* Replaces the callbacks and their argument (e.g. when a connection changes owner). */
void net_conn_set_cbs(struct net_conn *c, const struct net_conn_cbs *cbs, void *arg);

/* Encodes m onto c's output buffer (sent at the next flush point). Returns 0, -EPIPE (c is
 * closed: the message is dropped), -ENOTCONN (its handshake has not completed), -ENOBUFS (the
 * buffer reached its cap: c is being closed and counted), -EMSGSIZE or -EINVAL (m cannot be
 * encoded, or is a handshake message; c stays open). */
int net_conn_send(struct net_conn *c, const struct proto_msg *m);

/* Closes c (idempotent): I/O stops now, on_close(NET_CLOSE_LOCAL) runs at the flush point. Unsent
 * output is dropped. */
void net_conn_close(struct net_conn *c);
/* Like net_conn_close, but on_close is never called: the caller forgets c at once. Also valid on a
 * connection that already closed and whose on_close has not run yet. */
void net_conn_abandon(struct net_conn *c);

/* Stops / resumes delivering messages (and reading the socket) for back-pressure. Frames already
 * read stay buffered and are delivered, in order, after net_conn_resume. Both are idempotent and
 * may be called from any callback. */
void net_conn_pause(struct net_conn *c);
void net_conn_resume(struct net_conn *c);
bool net_conn_paused(const struct net_conn *c);

/* Sets the emulated one-way delay of messages RECEIVED on c: each frame is delivered no earlier
 * than delay_us after it was read (ev_now), in FIFO order. 0 disables it (frames already queued
 * keep their order). */
void net_conn_set_delay_us(struct net_conn *c, uint32_t delay_us);

/* Appends an already encoded frame (4-byte header + body, e.g. made by proto_encode on another
 * thread) to c's output, like net_conn_send. Returns 0, -EPIPE, -ENOBUFS or -EINVAL (len is
 * shorter than a header). */
int net_conn_send_frame(struct net_conn *c, const uint8_t *frame, size_t len);

/* Detaches c from its loop for a hand-off to another loop: stops its watchers, hands over its
 * socket (*fd) and the bytes read but not yet delivered (*rest, malloc'd, *rest_len; NULL/0 if
 * none), and frees c without closing the socket and without on_close. Only for a connection that
 * is paused, has no delayed frames and no unsent output, and never from inside one of its own
 * callbacks (call it from the flush point, e.g. a pre-flush hook). Returns 0, or -EBUSY (the
 * conditions do not hold: nothing changed). */
int net_conn_detach(struct net_conn *c, int *fd, uint8_t **rest, size_t *rest_len);

/* Feeds bytes that were read from c's socket elsewhere (net_conn_detach's rest) into c, as if
 * just read: they are delivered from the loop. Returns 0 or -ENOMEM. */
int net_conn_inject(struct net_conn *c, const uint8_t *bytes, size_t len);

/* Lets c's output wait up to hold_us after its first unwritten message before it is written, so
 * more messages share one write (batchDelayUs); 0 (the default) writes at every flush point.
 * The loop's timers decide the real resolution (about a millisecond with epoll). */
void net_conn_set_hold_us(struct net_conn *c, uint32_t hold_us);

/* What the handshake proved: true once it completed (always false on a loop without a
 * secret), and then the peer's role (enum proto_role) and node id (a replica id, or -1). */
bool net_conn_authenticated(const struct net_conn *c);
int net_conn_peer_role(const struct net_conn *c);
int32_t net_conn_peer_node(const struct net_conn *c);
/* Why the handshake failed (static text for the local log, never sent), or NULL. */
const char *net_conn_auth_why(const struct net_conn *c);

/* Accessors. */
uint64_t net_conn_id(const struct net_conn *c); /* unique per net_loop, never 0 */
const char *net_conn_peer(const struct net_conn *c);
bool net_conn_is_local(const struct net_conn *c); /* over a Unix socket: a peer on this host */
bool net_conn_is_open(const struct net_conn *c);
size_t net_conn_out_pending(const struct net_conn *c); /* bytes not yet written */
void *net_conn_arg(const struct net_conn *c);

/* ---- listener --------------------------------------------------------------------------- */

struct net_listener;
/* A new connection: the owner takes fd (net_conn_create it, or close it and call
 * net_loop_count_refused). peer is a printable address, valid during the call. */
typedef void (*net_accept_fn)(struct net_listener *l, int fd, const char *peer, void *arg);

/* A listening socket on a loop. Embed it in its owner. */
struct net_listener {
	struct net_loop *nl;
	int fd;
	ev_io io;
	int ufd;	/* the Unix socket named after the address (localSockets), or -1 */
	ev_io uio;
	ev_timer pause; /* out of file descriptors: stop accepting for a moment */
	net_accept_fn on_accept;
	void *arg;
	uint16_t port; /* the bound port (useful with port 0) */
	bool any;      /* bound to the wildcard address because addr is not local */
};

/* Binds addr:port (SO_REUSEADDR; the wildcard address if addr is not an address of this host,
 * or if addr is NULL/empty) and starts accepting. On a loop with local_sockets, a listener bound
 * to its own address also accepts on the Unix socket net_local_name names after it (not on the
 * wildcard: no name then). Returns 0, or a negative errno with a message in err (NET_ERR_LEN
 * bytes; the name already taken is an error: another process would get this one's peers). */
int net_listener_open(struct net_listener *l, struct net_loop *nl, const char *addr, uint16_t port,
		      net_accept_fn on_accept, void *arg, char *err);
/* Stops accepting and closes the sockets (idempotent). */
void net_listener_close(struct net_listener *l);

/* ---- dialer ----------------------------------------------------------------------------- */

struct net_dialer;

struct net_dialer_cbs {
	/* Connected (again) and, with a secret, authenticated: c is the new connection, valid until
	 * on_down. Send the HELLO here. */
	void (*on_up)(struct net_dialer *d, struct net_conn *c, void *arg);
	/* A message on the current connection (see net_conn_cbs.on_msg). */
	void (*on_msg)(struct net_dialer *d, struct net_conn *c, const struct proto_msg *m,
		       void *arg);
	/* The connection closed (reason as in on_close); a retry is scheduled. May be NULL. */
	void (*on_down)(struct net_dialer *d, int reason, void *arg);
	/* An attempt failed before there was a connection: err is a negative errno
	 * (-ECONNREFUSED; -ETIMEDOUT for an attempt abandoned after 2 s...), d->err says why; the
	 * next attempt is scheduled. It may stop d (net_dialer_stop), not free it. May be NULL. */
	void (*on_fail)(struct net_dialer *d, int err, void *arg);
};

/* A connection that is (re)established forever with a capped exponential backoff: never a
 * blocking connect (EINPROGRESS + a write watcher), never a sleep. Embed it in its owner. */
struct net_dialer {
	struct net_loop *nl;
	char host[256];
	uint16_t port;
	struct sockaddr_storage sa;
	socklen_t salen;
	int fd;		/* connect in progress, -1 otherwise */
	ev_io cio;	/* connect completion */
	ev_timer retry; /* next attempt */
	double backoff; /* seconds before the next attempt after a failure */
	double backoff_min, backoff_max;
	uint32_t delay_us;     /* emulated receive delay for each new connection */
	struct net_conn *conn; /* current connection, NULL while down */
	const struct net_dialer_cbs *cbs;
	void *arg;
	bool running;
	uint64_t attempts, failures;
	char err[NET_ERR_LEN]; /* why the last attempt failed */
	struct sockaddr_storage src; /* local address to connect from (srclen 0: any) */
	socklen_t srclen;
	bool up;	     /* on_up was called for the current connection */
	uint8_t expect_role; /* with a secret: the process it must reach (0: any) */
	int32_t expect_node;
	bool local; /* localSockets and host is an address of this host: try its Unix socket */
	bool unix_refused; /* the last Unix connect was refused */
};

#define NET_DIAL_BACKOFF_MIN 0.01 /* s */
#define NET_DIAL_BACKOFF_MAX 0.25 /* s */

/* Resolves host:port and starts connecting at once (cbs and arg are kept, not copied: keep them
 * alive). On a loop with local_sockets, when host is an address of this host, each attempt
 * first connects to the Unix socket net_local_name names after host:port, and over TCP only
 * if nothing listened there twice in a row (a listener on the wildcard address, or without
 * localSockets): a first refusal is not yet an attempt (no on_fail; the peer may be starting),
 * the name is asked again NET_DIAL_BACKOFF_MIN later.
 * Returns 0, or a negative errno with a message in d->err (unresolvable host). */
int net_dialer_start(struct net_dialer *d, struct net_loop *nl, const char *host, uint16_t port,
		     const struct net_dialer_cbs *cbs, void *arg);
/* Connects from the local address host (numeric; its own port is left to the kernel) from the
 * next attempt on, so the peer sees this process's own address (a replica's conf address).
 * Call after net_dialer_start, before the loop runs. An address that cannot be bound (not local
 * here, e.g. a public address behind NAT) is ignored at connect time. Returns 0 or -EINVAL (not
 * a numeric address, or another family than the destination's). */
int net_dialer_set_source(struct net_dialer *d, const char *host);
/* With a secret: the handshake fails unless the peer proves to be role (enum proto_role) and
 * node (a replica id, or -1 for the master). Call after net_dialer_start, before the loop
 * runs. */
void net_dialer_expect(struct net_dialer *d, uint8_t role, int32_t node);
/* Stops for good: cancels attempts and abandons the connection (no on_down). Idempotent. */
void net_dialer_stop(struct net_dialer *d);
/* Sets the emulated receive delay of this dialer's connections (the current one too). */
void net_dialer_set_delay_us(struct net_dialer *d, uint32_t delay_us);
/* The current connection, NULL while down. */
static inline struct net_conn *net_dialer_conn(const struct net_dialer *d)
{
	return d->conn;
}

/* ---- socket helpers (anet style: error text for the caller, no logging) ----------------- */

/* Resolves host (numeric first, then the resolver: may block, call at start-up only) into *sa.
 * Returns 0 or a negative errno with a message in err. */
int net_resolve(const char *host, uint16_t port, struct sockaddr_storage *sa, socklen_t *salen,
		char *err);
/* Sets O_NONBLOCK / TCP_NODELAY on fd. Return 0 or a negative errno with a message in err. */
int net_set_nonblock(int fd, char *err);
int net_set_nodelay(int fd, char *err);
/* Creates a non-blocking TCP socket and starts connecting to sa, from the local address src when
 * srclen > 0 (if it can be bound; else from any). Returns 0 (connected at once) or -EINPROGRESS
 * with *fd set, or another negative errno (no socket left open) with err set. */
int net_tcp_connect(const struct sockaddr *sa, socklen_t salen, const struct sockaddr *src,
		    socklen_t srclen, int *fd, char *err);
/* Creates a non-blocking listening socket on host:port (see net_listener_open for the wildcard
 * rule; *any tells which). Returns 0 with *fd and *bound_port, or a negative errno with err. */
/* net_tcp_bind is its first half: the socket bound (the port is this process's), not yet
 * listening (a connect to it is refused). Same returns; listen(2) it to finish. */
int net_tcp_bind(const char *host, uint16_t port, int *fd, uint16_t *bound_port, bool *any,
		 char *err);
int net_tcp_listen(const char *host, uint16_t port, int backlog, int *fd, uint16_t *bound_port,
		   bool *any, char *err);
/* Formats sa as "addr:port" into out (NET_ERR_LEN bytes at most are needed: 64 is enough). */
void net_format_addr(const struct sockaddr *sa, char *out, size_t outlen);
/* Resolves host (as net_resolve: start-up only) and tells whether it is an address of this
 * machine (a socket can be bound to it). Returns 1 (local; *ip, iplen bytes, gets the address as
 * net_format_addr prints it, without the port), 0 (not local) or a negative errno with err. */
int net_addr_local(const char *host, char *ip, size_t iplen, char *err);
/* The same test for an address already resolved (its port is ignored). Returns 1, 0 or a
 * negative errno with err. */
int net_sockaddr_local(const struct sockaddr *sa, socklen_t salen, char *err);
/* localSockets: the abstract Unix socket name of the TCP address sa ("curpkv:addr:port" as
 * net_format_addr prints it, in Linux's abstract namespace: no file, gone with its socket, one
 * namespace per network namespace) into *un. Returns 0, or -EAFNOSUPPORT (not IPv4/IPv6). */
int net_local_name(const struct sockaddr *sa, struct sockaddr_un *un, socklen_t *unlen);
/* A non-blocking Unix listening socket with the name of sa. Returns 0 with *fd, or a negative
 * errno with err (-EADDRINUSE: the name is taken). */
int net_local_listen(const struct sockaddr *sa, int backlog, int *fd, char *err);
/* Connects a non-blocking Unix socket to the name of sa (a Unix connect completes at once).
 * Returns 0 with *fd, or a negative errno with err: -ECONNREFUSED when nothing listens on the
 * name, -EAGAIN when its backlog is full. */
int net_local_connect(const struct sockaddr *sa, int *fd, char *err);
/* Whether fd is a Unix socket. */
bool net_fd_is_local(int fd);
/* The address part of a peer name "addr:port" / "[addr6]:port" (as net_format_addr writes
 * them) into out. */
void net_peer_ip(const char *peer, char *out, size_t outlen);

#endif
