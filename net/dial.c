/* net: the listener (accepting sockets) and the dialer (a connection kept up with backoff). */
#include "net/net_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define NET_ACCEPT_BATCH    64	/* accepts per callback */
#define NET_ACCEPT_PAUSE    0.1 /* s without accepting after running out of descriptors */
#define NET_CONNECT_TIMEOUT 2.0 /* s before a connect attempt is abandoned */

/* ---- listener ---------------------------------------------------------------------------- */

/* Accepts on w's socket: the TCP one (l->io) or the Unix one (l->uio, whose peers are printed
 * "local": net_format_addr). */
static void listener_accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct net_listener *l = w->data;
	(void)revents;
	for (int i = 0; i < NET_ACCEPT_BATCH && l->fd >= 0; i++) {
		struct sockaddr_storage sa;
		socklen_t salen = sizeof sa;
		int fd = accept4(w->fd, (struct sockaddr *)&sa, &salen, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				/* Level-triggered: without a pause this would spin. */
				ev_io_stop(loop, &l->io);
				if (l->ufd >= 0)
					ev_io_stop(loop, &l->uio);
				ev_timer_set(&l->pause, NET_ACCEPT_PAUSE, 0.);
				ev_timer_start(loop, &l->pause);
			}
			return; /* EAGAIN, ECONNABORTED, EINTR...: next time */
		}
		char peer[64];
		net_format_addr((struct sockaddr *)&sa, peer, sizeof peer);
		l->on_accept(l, fd, peer, l->arg);
	}
}

static void listener_pause_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct net_listener *l = w->data;
	(void)revents;
	if (l->fd < 0)
		return;
	ev_io_start(loop, &l->io);
	if (l->ufd >= 0)
		ev_io_start(loop, &l->uio);
}

/* localSockets: the Unix socket named after the address l is bound to (none on the wildcard). */
static int listener_open_local(struct net_listener *l, char *err)
{
	if (!l->nl->cfg.local_sockets || l->any)
		return 0;
	struct sockaddr_storage sa;
	socklen_t salen = sizeof sa;
	if (getsockname(l->fd, (struct sockaddr *)&sa, &salen) < 0) {
		int rc = -errno;
		snprintf(err, NET_ERR_LEN, "getsockname: %s", strerror(-rc));
		return rc;
	}
	int rc = net_local_listen((struct sockaddr *)&sa, 512, &l->ufd, err);
	if (rc != 0)
		return rc;
	ev_io_init(&l->uio, listener_accept_cb, l->ufd, EV_READ);
	l->uio.data = l;
	ev_io_start(l->nl->loop, &l->uio);
	return 0;
}

int net_listener_open(struct net_listener *l, struct net_loop *nl, const char *addr, uint16_t port,
		      net_accept_fn on_accept, void *arg, char *err)
{
	memset(l, 0, sizeof *l);
	l->fd = -1;
	l->ufd = -1;
	/* Bound, then the Unix name, then listening: once TCP accepts, the name is there, so a
	 * dialer of this host never falls back to TCP for a listener that has one. */
	int rc = net_tcp_bind(addr, port, &l->fd, &l->port, &l->any, err);
	if (rc != 0)
		return rc;
	l->nl = nl;
	l->on_accept = on_accept;
	l->arg = arg;
	ev_io_init(&l->io, listener_accept_cb, l->fd, EV_READ);
	l->io.data = l;
	ev_timer_init(&l->pause, listener_pause_cb, 0., 0.);
	l->pause.data = l;
	rc = listener_open_local(l, err);
	if (rc == 0 && listen(l->fd, 512) < 0) {
		rc = -errno;
		snprintf(err, NET_ERR_LEN, "listen: %s", strerror(-rc));
	}
	if (rc != 0) {
		net_listener_close(l);
		return rc;
	}
	ev_io_start(nl->loop, &l->io);
	return 0;
}

void net_listener_close(struct net_listener *l)
{
	if (l->nl == NULL || l->fd < 0)
		return;
	ev_io_stop(l->nl->loop, &l->io);
	ev_timer_stop(l->nl->loop, &l->pause);
	close(l->fd);
	l->fd = -1;
	if (l->ufd >= 0) {
		ev_io_stop(l->nl->loop, &l->uio);
		close(l->ufd);
		l->ufd = -1;
	}
}

/* ---- dialer ------------------------------------------------------------------------------ */

static void dialer_conn_msg(struct net_conn *c, const struct proto_msg *m, void *arg)
{
	struct net_dialer *d = arg;
	d->cbs->on_msg(d, c, m, d->arg);
}

static void dialer_schedule(struct net_dialer *d, double after)
{
	struct ev_loop *loop = d->nl->loop;
	ev_timer_stop(loop, &d->retry);
	ev_timer_set(&d->retry, after, 0.);
	ev_timer_start(loop, &d->retry);
}

/* Schedules the next attempt after the current backoff, which then doubles (capped). */
static void dialer_back_off(struct net_dialer *d)
{
	dialer_schedule(d, d->backoff);
	d->backoff *= 2;
	if (d->backoff > d->backoff_max)
		d->backoff = d->backoff_max;
}

static void dialer_conn_close(struct net_conn *c, int reason, void *arg)
{
	struct net_dialer *d = arg;
	bool was_up = d->up;
	if (!was_up) /* the handshake did not complete: say why (the local view only) */
		snprintf(d->err, sizeof d->err, "%.200s:%u: %s (%s)", d->host, d->port,
			 net_close_reason_name(reason),
			 net_conn_auth_why(c) ? net_conn_auth_why(c) : "no reason");
	d->conn = NULL;
	d->up = false;
	if (d->cbs->on_down)
		d->cbs->on_down(d, reason, d->arg);
	if (!d->running)
		return;
	if (was_up) {
		d->backoff = d->backoff_min;
		dialer_schedule(d, d->backoff_min);
	} else {
		dialer_back_off(d); /* refused: no tight loop of handshakes */
	}
}

/* The connection is usable: connected and, with a secret, authenticated. */
static void dialer_up(struct net_dialer *d, struct net_conn *c)
{
	d->up = true;
	d->backoff = d->backoff_min;
	d->err[0] = '\0';
	d->cbs->on_up(d, c, d->arg);
}

static void dialer_conn_auth(struct net_conn *c, void *arg)
{
	dialer_up(arg, c);
}

static const struct net_conn_cbs dialer_conn_cbs = {
    .on_msg = dialer_conn_msg,
    .on_close = dialer_conn_close,
    .on_auth = dialer_conn_auth,
};

/* The attempt failed with err (a negative errno; d->err says why): count it, try again after
 * the (doubling, capped) backoff, and tell the owner (last: it may stop d). */
static void dialer_failed(struct net_dialer *d, int err)
{
	d->failures++;
	d->nl->st.connect_failures++;
	dialer_back_off(d);
	if (d->cbs->on_fail)
		d->cbs->on_fail(d, err, d->arg);
}

static void dialer_connected(struct net_dialer *d, int fd)
{
	char peer[300];
	snprintf(peer, sizeof peer, "%.200s:%u", d->host, d->port);
	ev_timer_stop(d->nl->loop, &d->retry);
	struct net_conn *c;
	int rc = net_conn_create_as(d->nl, fd, peer, &dialer_conn_cbs, d, NET_MODE_CONNECT,
				    d->expect_role, d->expect_node, &c);
	if (rc != 0) {
		snprintf(d->err, sizeof d->err, "%.200s: %s", peer, strerror(-rc));
		dialer_failed(d, rc);
		return;
	}
	net_conn_set_delay_us(c, d->delay_us);
	d->conn = c;
	d->up = false;
	if (d->nl->cfg.auth == NULL)
		dialer_up(d, c); /* else once authenticated (dialer_conn_auth) */
}

static void dialer_abort_attempt(struct net_dialer *d)
{
	if (d->fd < 0)
		return;
	ev_io_stop(d->nl->loop, &d->cio);
	close(d->fd);
	d->fd = -1;
}

static void dialer_connect_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct net_dialer *d = w->data;
	(void)loop;
	(void)revents;
	int soerr = 0;
	socklen_t len = sizeof soerr;
	if (getsockopt(d->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
		soerr = errno;
	if (soerr == EINPROGRESS || soerr == EALREADY)
		return; /* spurious wake-up */
	int fd = d->fd;
	ev_io_stop(d->nl->loop, &d->cio);
	d->fd = -1;
	if (soerr != 0) {
		snprintf(d->err, sizeof d->err, "connect %.200s:%u: %s", d->host, d->port,
			 strerror(soerr));
		close(fd);
		dialer_failed(d, -soerr);
		return;
	}
	dialer_connected(d, fd);
}

static void dialer_attempt(struct net_dialer *d)
{
	int fd = -1;
	if (d->local) {
		int rc = net_local_connect((struct sockaddr *)&d->sa, &fd, d->err);
		bool first = rc == -ECONNREFUSED && !d->unix_refused;
		d->unix_refused = rc == -ECONNREFUSED;
		if (first) {
			/* The peer may be starting right now: it binds its name before it listens
			 * on TCP, so a TCP connect a moment later could reach it. Not an attempt
			 * yet (nothing failed, no on_fail): the name again in a moment. */
			dialer_schedule(d, NET_DIAL_BACKOFF_MIN);
			return;
		}
		d->attempts++;
		if (rc == 0) {
			dialer_connected(d, fd);
			return;
		}
		if (rc != -ECONNREFUSED) { /* -EAGAIN: its backlog is full */
			dialer_failed(d, rc);
			return;
		}
		/* refused again: nothing listens on the name (a peer on the wildcard address or
		 * without localSockets, or not up): TCP says which */
	} else {
		d->attempts++;
	}
	int rc = net_tcp_connect((struct sockaddr *)&d->sa, d->salen, (struct sockaddr *)&d->src,
				 d->srclen, &fd, d->err);
	if (rc == 0) {
		dialer_connected(d, fd);
	} else if (rc == -EINPROGRESS) {
		d->fd = fd;
		ev_io_init(&d->cio, dialer_connect_cb, fd, EV_WRITE);
		d->cio.data = d;
		ev_io_start(d->nl->loop, &d->cio);
		dialer_schedule(d, NET_CONNECT_TIMEOUT); /* the retry timer bounds the attempt */
	} else {
		dialer_failed(d, rc);
	}
}

static void dialer_retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct net_dialer *d = w->data;
	(void)loop;
	(void)revents;
	if (!d->running || d->conn)
		return;
	if (d->fd >= 0) { /* the attempt in progress timed out */
		snprintf(d->err, sizeof d->err, "connect %.200s:%u: timed out", d->host, d->port);
		dialer_abort_attempt(d);
		dialer_failed(d, -ETIMEDOUT);
		return;
	}
	dialer_attempt(d);
}

int net_dialer_start(struct net_dialer *d, struct net_loop *nl, const char *host, uint16_t port,
		     const struct net_dialer_cbs *cbs, void *arg)
{
	memset(d, 0, sizeof *d);
	d->fd = -1;
	d->nl = nl;
	d->port = port;
	d->cbs = cbs;
	d->arg = arg;
	d->backoff_min = NET_DIAL_BACKOFF_MIN;
	d->backoff_max = NET_DIAL_BACKOFF_MAX;
	d->backoff = d->backoff_min;
	d->expect_node = -1;
	snprintf(d->host, sizeof d->host, "%s", host);
	int rc = net_resolve(host, port, &d->sa, &d->salen, d->err);
	if (rc != 0)
		return rc;
	if (nl->cfg.local_sockets) {
		char err[NET_ERR_LEN];
		/* else (or on an error) TCP only */
		d->local = net_sockaddr_local((struct sockaddr *)&d->sa, d->salen, err) == 1;
	}
	ev_timer_init(&d->retry, dialer_retry_cb, 0., 0.);
	d->retry.data = d;
	d->running = true;
	/* First attempt from the loop, so on_up never runs inside this call. */
	dialer_schedule(d, 0.);
	return 0;
}

int net_dialer_set_source(struct net_dialer *d, const char *host)
{
	struct sockaddr_storage sa;
	socklen_t salen;
	char err[NET_ERR_LEN];
	if (net_resolve(host, 0, &sa, &salen, err) != 0 || sa.ss_family != d->sa.ss_family)
		return -EINVAL;
	d->src = sa;
	d->srclen = salen;
	return 0;
}

void net_dialer_expect(struct net_dialer *d, uint8_t role, int32_t node)
{
	d->expect_role = role;
	d->expect_node = node;
}

void net_dialer_stop(struct net_dialer *d)
{
	if (d->nl == NULL || !d->running)
		return;
	d->running = false;
	ev_timer_stop(d->nl->loop, &d->retry);
	dialer_abort_attempt(d);
	if (d->conn) {
		net_conn_abandon(d->conn);
		d->conn = NULL;
	}
	d->up = false;
}

void net_dialer_set_delay_us(struct net_dialer *d, uint32_t delay_us)
{
	d->delay_us = delay_us;
	if (d->conn)
		net_conn_set_delay_us(d->conn, delay_us);
}
