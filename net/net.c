/* net: the per-loop flush point and the framed, buffered connection. */
#include "net/net_int.h"

#include "common/clock.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void conn_process(struct net_conn *c);
static void conn_deliver_due(struct net_conn *c);

const char *net_close_reason_name(int reason)
{
	switch (reason) {
	case NET_CLOSE_LOCAL:
		return "closed locally";
	case NET_CLOSE_EOF:
		return "closed by peer";
	case NET_CLOSE_ERROR:
		return "socket error";
	case NET_CLOSE_BAD_FRAME:
		return "malformed frame";
	case NET_CLOSE_OVERSIZED:
		return "oversized frame";
	case NET_CLOSE_OVERFLOW:
		return "output buffer full";
	case NET_CLOSE_AUTH:
		return "authentication failed";
	case NET_CLOSE_AUTH_TIMEOUT:
		return "authentication timed out";
	default:
		return "?";
	}
}

/* ---- dead and dirty lists ---------------------------------------------------------------- */

static void dirty_unlink(struct net_loop *nl, struct net_conn *c)
{
	for (struct net_conn **pp = &nl->dirty; *pp; pp = &(*pp)->dirty_next) {
		if (*pp == c) {
			*pp = c->dirty_next;
			break;
		}
	}
	c->dirty = false;
	c->dirty_next = NULL;
}

static void conn_free(struct net_conn *c)
{
	struct net_loop *nl = c->nl;
	if (c->all_prev)
		c->all_prev->all_next = c->all_next;
	else
		nl->all = c->all_next;
	if (c->all_next)
		c->all_next->all_prev = c->all_prev;
	free(c->rbuf);
	free(c->dq.data);
	proto_buf_free(&c->out);
	free(c);
}

void net_conn_shutdown(struct net_conn *c, int reason)
{
	struct net_loop *nl = c->nl;
	if (c->closed)
		return;
	c->closed = true;
	c->reason = reason;
	if (c->hs_active) {
		/* closed before its handshake completed: an accepted connection always counts (a
		 * visitor that never proved anything), a dialed one when it was refused */
		if (c->hs.acceptor || reason == NET_CLOSE_AUTH || reason == NET_CLOSE_AUTH_TIMEOUT)
			nl->st.auth_failed++;
		if (c->hs.acceptor)
			nl->unauth--;
		if (c->hs.why == NULL)
			c->hs.why = net_close_reason_name(reason);
		c->hs_active = false;
	}
	ev_io_stop(nl->loop, &c->rio);
	ev_io_stop(nl->loop, &c->wio);
	ev_timer_stop(nl->loop, &c->dtimer);
	ev_timer_stop(nl->loop, &c->htimer);
	ev_timer_stop(nl->loop, &c->atimer);
	close(c->fd);
	c->fd = -1;
	/* Unsent output is dropped now; the buffer struct stays valid (empty) for late sends. */
	proto_buf_free(&c->out);
	proto_buf_init(&c->out, nl->cfg.out_cap);
	nl->st.conns_closed++;
	c->dead_next = nl->dead;
	nl->dead = c;
	/* The flush point reaps it; make sure one comes even if nothing else wakes the loop. */
	ev_idle_start(nl->loop, &nl->idle);
}

/* Runs the pending on_close callbacks and frees those connections. */
static void reap_dead(struct net_loop *nl)
{
	struct net_conn *c;
	while ((c = nl->dead) != NULL) {
		nl->dead = c->dead_next;
		if (c->notify && c->cbs && c->cbs->on_close)
			c->cbs->on_close(c, c->reason, c->arg);
		if (c->dirty)
			dirty_unlink(nl, c);
		conn_free(c);
	}
}

/* ---- output ------------------------------------------------------------------------------ */

/* Writes as much of c's output as the socket takes; the write watcher finishes the rest. */
static void conn_flush(struct net_conn *c)
{
	struct net_loop *nl = c->nl;
	size_t off = 0;
	if (nl->pre_write && c->out.len > 0)
		nl->pre_write(nl->pre_write_arg);
	while (off < c->out.len) {
		ssize_t n = send(c->fd, c->out.data + off, c->out.len - off, MSG_NOSIGNAL);
		if (n > 0) {
			off += (size_t)n;
			nl->st.bytes_out += (uint64_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			proto_buf_consume(&c->out, off);
			ev_io_start(nl->loop, &c->wio);
			return;
		}
		net_conn_shutdown(c, NET_CLOSE_ERROR);
		return;
	}
	proto_buf_consume(&c->out, off);
	ev_io_stop(nl->loop, &c->wio);
	if (c->out.cap > NET_OBUF_KEEP) {
		/* Give a burst's memory back instead of holding the peak per connection. */
		proto_buf_free(&c->out);
		proto_buf_init(&c->out, nl->cfg.out_cap);
	}
}

static void conn_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct net_conn *c = w->data;
	(void)loop;
	(void)revents;
	if (!c->closed)
		conn_flush(c);
}

static void conn_hold_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct net_conn *c = w->data;
	(void)loop;
	(void)revents;
	if (!c->closed && !ev_is_active(&c->wio))
		conn_flush(c);
}

static void flush_dirty(struct net_loop *nl)
{
	struct net_conn *c;
	bool wrote = nl->dirty != NULL;
	while ((c = nl->dirty) != NULL) {
		nl->dirty = c->dirty_next;
		c->dirty = false;
		c->dirty_next = NULL;
		if (c->hold > 0 && !c->closed) {
			/* Batching: write when the oldest queued byte has waited `hold`. */
			double left = c->hold_since + c->hold - ev_now(nl->loop);
			if (left > 0) {
				if (!ev_is_active(&c->htimer)) {
					ev_timer_set(&c->htimer, left, 0.);
					ev_timer_start(nl->loop, &c->htimer);
				}
				continue;
			}
			ev_timer_stop(nl->loop, &c->htimer);
		}
		/* With the write watcher active the socket is full: it writes when it drains. */
		if (!c->closed && !ev_is_active(&c->wio))
			conn_flush(c);
	}
	if (wrote)
		nl->st.flushes++;
}

/* Encodes m onto c's output (net_conn_send without the handshake checks). */
static int conn_send(struct net_conn *c, const struct proto_msg *m)
{
	struct net_loop *nl = c->nl;
	if (c->closed)
		return -EPIPE;
	bool was_empty = c->out.len == 0;
	int rc = proto_encode(&c->out, m, nl->cfg.lim.max_frame);
	if (rc == -ENOBUFS) {
		nl->st.overflow_disconnects++;
		net_conn_shutdown(c, NET_CLOSE_OVERFLOW);
		return rc;
	}
	if (rc != 0)
		return rc;
	nl->st.frames_out++;
	if (was_empty)
		c->hold_since = ev_now(nl->loop);
	if (!c->dirty) {
		c->dirty = true;
		c->dirty_next = nl->dirty;
		nl->dirty = c;
		/* Normally the next prepare flushes this before the loop blocks. But a callback
		 * that runs after this iteration's prepare (libev invokes events fed during the
		 * prepare phase after it) would leave the output waiting for an unrelated wake-up:
		 * an active idle watcher makes the coming poll non-blocking. The flush stops it. */
		ev_idle_start(nl->loop, &nl->idle);
	}
	return 0;
}

int net_conn_send(struct net_conn *c, const struct proto_msg *m)
{
	if (c->closed)
		return -EPIPE;
	if (c->hs_active)
		return -ENOTCONN; /* nothing of the owner's leaves before the handshake ends */
	if (auth_is_handshake_type(m->type))
		return -EINVAL; /* the handshake is net's alone */
	return conn_send(c, m);
}

/* ---- the flush point --------------------------------------------------------------------- */

static void flush_point(struct net_loop *nl)
{
	nl->again = false;
	for (int round = 0; round < NET_FLUSH_ROUNDS; round++) {
		if (nl->pre_flush)
			nl->pre_flush(nl->pre_flush_arg);
		flush_dirty(nl);
		if (nl->dead == NULL)
			break;
		reap_dead(nl); /* on_close callbacks may send or close more: go round again */
		if (nl->dirty == NULL && nl->dead == NULL)
			break;
	}
	/* Work left over (a storm of closes, the hook's): keep the loop from blocking until it is
	 * done. */
	if (nl->dirty || nl->dead || nl->again)
		ev_idle_start(nl->loop, &nl->idle);
	else
		ev_idle_stop(nl->loop, &nl->idle);
}

static void prepare_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
	(void)loop;
	(void)revents;
	flush_point(w->data);
}

uint64_t net_loop_now_refresh(struct net_loop *nl)
{
	uint64_t t = common_now_ns();
	if (t > nl->now_ns)
		nl->now_ns = t;
	return nl->now_ns;
}

static void check_cb(struct ev_loop *loop, ev_check *w, int revents)
{
	(void)loop;
	(void)revents;
	(void)net_loop_now_refresh(w->data);
}

static void idle_cb(struct ev_loop *loop, ev_idle *w, int revents)
{
	/* Nothing to do: an active idle watcher only makes the loop poll without blocking, so the
	 * prepare watcher runs again soon. */
	(void)loop;
	(void)w;
	(void)revents;
}

int net_loop_init(struct net_loop *nl, struct ev_loop *loop, const struct net_config *cfg)
{
	if (cfg->lim.max_frame == 0 || cfg->lim.max_key == 0 || cfg->lim.max_value == 0)
		return -EINVAL;
	memset(nl, 0, sizeof *nl);
	nl->loop = loop;
	nl->cfg = *cfg;
	if (nl->cfg.out_cap == 0)
		nl->cfg.out_cap = NET_DEFAULT_OUT_CAP;
	ev_prepare_init(&nl->prepare, prepare_cb);
	nl->prepare.data = nl;
	ev_prepare_start(loop, &nl->prepare);
	/* The flush point must not keep ev_run alive by itself. */
	ev_unref(loop);
	/* The clock first among the iteration's events (check watchers run right after the poll,
	 * before the events of their priority and below). */
	nl->now_ns = common_now_ns();
	ev_check_init(&nl->check, check_cb);
	nl->check.data = nl;
	ev_set_priority(&nl->check, EV_MAXPRI);
	ev_check_start(loop, &nl->check);
	ev_unref(loop);
	ev_idle_init(&nl->idle, idle_cb);
	nl->idle.data = nl;
	return 0;
}

void net_loop_set_pre_write(struct net_loop *nl, void (*fn)(void *arg), void *arg)
{
	nl->pre_write = fn;
	nl->pre_write_arg = arg;
}

void net_loop_set_pre_flush(struct net_loop *nl, void (*fn)(void *arg), void *arg)
{
	nl->pre_flush = fn;
	nl->pre_flush_arg = arg;
}

void net_loop_again(struct net_loop *nl)
{
	nl->again = true;
}

void net_loop_flush(struct net_loop *nl)
{
	flush_point(nl);
}

void net_loop_count_refused(struct net_loop *nl)
{
	nl->st.conns_refused++;
}

void net_loop_destroy(struct net_loop *nl)
{
	if (nl->loop == NULL)
		return;
	/* Every connection, live or awaiting its on_close, is on the `all` list. */
	while (nl->all) {
		struct net_conn *c = nl->all;
		if (!c->closed) {
			ev_io_stop(nl->loop, &c->rio);
			ev_io_stop(nl->loop, &c->wio);
			ev_timer_stop(nl->loop, &c->dtimer);
			ev_timer_stop(nl->loop, &c->htimer);
			ev_timer_stop(nl->loop, &c->atimer);
			close(c->fd);
		}
		conn_free(c);
	}
	nl->dirty = NULL;
	nl->dead = NULL;
	ev_ref(nl->loop);
	ev_prepare_stop(nl->loop, &nl->prepare);
	ev_ref(nl->loop);
	ev_check_stop(nl->loop, &nl->check);
	ev_idle_stop(nl->loop, &nl->idle);
	proto_decoder_free(&nl->dec);
	nl->loop = NULL;
}

/* ---- the handshake ------------------------------------------------------------------------ */

/* Ends c for an authentication failure: with `tell`, AUTH_FAIL is written at once (best
 * effort: the close drops unsent output), then c closes with reason. */
static void conn_auth_fail(struct net_conn *c, int reason, bool tell)
{
	if (c->closed)
		return;
	if (tell) {
		struct proto_msg f = {.type = PROTO_AUTH_FAIL};
		if (conn_send(c, &f) == 0)
			conn_flush(c);
	}
	if (!c->closed)
		net_conn_shutdown(c, reason);
}

/* One handshake message (c->hs_active). */
static void conn_auth_step(struct net_conn *c, const struct proto_msg *m)
{
	struct net_loop *nl = c->nl;
	struct proto_msg reply;
	bool has_reply;
	int rc = auth_hs_step(&c->hs, m, &reply, &has_reply);
	if (rc == AUTH_FAILED) {
		/* the acceptor answers, the same whatever the reason (not an AUTH_FAIL with one) */
		conn_auth_fail(c, NET_CLOSE_AUTH, c->hs.acceptor && m->type != PROTO_AUTH_FAIL);
		return;
	}
	if (has_reply && conn_send(c, &reply) != 0) {
		if (!c->closed)
			net_conn_shutdown(c, NET_CLOSE_ERROR);
		return;
	}
	if (rc != AUTH_DONE)
		return;
	c->hs_active = false;
	c->authed = true;
	ev_timer_stop(nl->loop, &c->atimer);
	if (c->hs.acceptor)
		nl->unauth--;
	nl->st.auth_ok++;
	if (c->cbs && c->cbs->on_auth)
		c->cbs->on_auth(c, c->arg);
}

/* A handshake message outside a handshake: a peer refusing us (AUTH_FAIL), a peer with a
 * secret reaching a loop without one (AUTH_HELLO: answered AUTH_FAIL so that it knows), or a
 * stray one after authentication. Each closes c. */
static void conn_auth_stray(struct net_conn *c, const struct proto_msg *m)
{
	c->nl->st.auth_failed++;
	bool refused = m->type == PROTO_AUTH_FAIL;
	c->hs.why = refused ? "refused by the peer" : "a handshake message out of place";
	conn_auth_fail(c, NET_CLOSE_AUTH, !refused);
}

static void conn_auth_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct net_conn *c = w->data;
	(void)loop;
	(void)revents;
	if (c->closed || !c->hs_active)
		return;
	c->hs.why = "handshake timed out";
	conn_auth_fail(c, NET_CLOSE_AUTH_TIMEOUT, c->hs.acceptor);
}

/* ---- input ------------------------------------------------------------------------------- */

/* Decodes one frame body and hands it to the owner (or to the handshake); a bad frame closes
 * the connection. */
static void conn_deliver(struct net_conn *c, const uint8_t *body, size_t len)
{
	struct net_loop *nl = c->nl;
	/* (the decoder clears the message itself: proto_decode's contract) */
	if (proto_decode_with(&nl->dec, body, len, &nl->cfg.lim, &nl->msg) != 0) {
		nl->st.frames_rejected++;
		if (c->hs_active) {
			c->hs.why = "malformed frame";
			conn_auth_fail(c, NET_CLOSE_AUTH, c->hs.acceptor);
			return;
		}
		net_conn_shutdown(c, NET_CLOSE_BAD_FRAME);
		return;
	}
	nl->st.frames_in++;
	if (c->hs_active) {
		conn_auth_step(c, &nl->msg);
		return;
	}
	if (auth_is_handshake_type(nl->msg.type)) {
		conn_auth_stray(c, &nl->msg);
		return;
	}
	if (c->cbs && c->cbs->on_msg)
		c->cbs->on_msg(c, &nl->msg, c->arg);
}

static size_t dq_bytes(const struct net_delayq *q)
{
	return q->len - q->head;
}

/* Appends a frame body with its due time. Returns 0 or -ENOMEM. */
static int dq_push(struct net_delayq *q, double due, const uint8_t *body, uint32_t len)
{
	size_t rec = sizeof due + sizeof len + len;
	if (q->head > 0 && q->len + rec > q->cap) {
		memmove(q->data, q->data + q->head, q->len - q->head);
		q->len -= q->head;
		q->head = 0;
	}
	if (q->len + rec > q->cap) {
		size_t ncap = q->cap ? q->cap * 2 : NET_RBUF_MIN;
		while (ncap < q->len + rec)
			ncap *= 2;
		uint8_t *p = realloc(q->data, ncap);
		if (p == NULL)
			return -ENOMEM;
		q->data = p;
		q->cap = ncap;
	}
	memcpy(q->data + q->len, &due, sizeof due);
	memcpy(q->data + q->len + sizeof due, &len, sizeof len);
	memcpy(q->data + q->len + sizeof due + sizeof len, body, len);
	q->len += rec;
	q->frames++;
	return 0;
}

static void dq_arm(struct net_conn *c, double due)
{
	struct ev_loop *loop = c->nl->loop;
	double after = due - ev_now(loop);
	ev_timer_stop(loop, &c->dtimer);
	ev_timer_set(&c->dtimer, after > 0 ? after : 0., 0.);
	ev_timer_start(loop, &c->dtimer);
}

/* Delivers the delayed frames that are due, in order, and re-arms the timer for the next. */
static void conn_deliver_due(struct net_conn *c)
{
	struct net_loop *nl = c->nl;
	struct net_delayq *q = &c->dq;
	double now = ev_now(nl->loop);
	while (!c->closed && !c->paused && q->frames > 0) {
		double due;
		uint32_t len;
		memcpy(&due, q->data + q->head, sizeof due);
		memcpy(&len, q->data + q->head + sizeof due, sizeof len);
		if (due > now) {
			if (!ev_is_active(&c->dtimer))
				dq_arm(c, due);
			return;
		}
		const uint8_t *body = q->data + q->head + sizeof due + sizeof len;
		/* Pop before delivering: the owner's callback never appends to this queue (reads
		 * are not re-entered), so body stays valid during the call. */
		q->head += sizeof due + sizeof len + len;
		q->frames--;
		conn_deliver(c, body, len);
	}
	if (q->frames == 0)
		q->head = q->len = 0;
	if (!c->closed && c->read_blocked && dq_bytes(q) < nl->cfg.out_cap / 2) {
		c->read_blocked = false;
		if (!c->paused) {
			ev_io_start(nl->loop, &c->rio);
			ev_feed_event(nl->loop, &c->rio, EV_READ); /* frames left in rbuf */
		}
	}
}

static void conn_delay_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	conn_deliver_due(w->data);
}

/* Delivers (or queues, with a delay) every whole frame in the read buffer. */
static void conn_process(struct net_conn *c)
{
	struct net_loop *nl = c->nl;
	size_t off = 0;
	bool queued = false;
	while (!c->closed) {
		/* the handshake is never delayed (the emulated latency is for what follows it) */
		bool delayed = !c->hs_active && (c->delay > 0 || c->dq.frames > 0);
		if (c->paused && !delayed)
			break; /* frames wait in rbuf until net_conn_resume */
		uint32_t cap = c->hs_active ? NET_AUTH_MAX_FRAME : nl->cfg.lim.max_frame;
		long fl = proto_frame_peek(c->rbuf + off, c->rlen - off, cap);
		if (fl == 0)
			break;
		if (fl < 0) {
			nl->st.frames_rejected++;
			nl->st.frames_oversized++;
			if (c->hs_active) {
				c->hs.why = "oversized frame";
				conn_auth_fail(c, NET_CLOSE_AUTH, c->hs.acceptor);
				return;
			}
			net_conn_shutdown(c, NET_CLOSE_OVERSIZED);
			return;
		}
		const uint8_t *body = c->rbuf + off + PROTO_FRAME_HEADER;
		uint32_t blen = (uint32_t)((size_t)fl - PROTO_FRAME_HEADER);
		if (delayed) {
			if (dq_bytes(&c->dq) >= nl->cfg.out_cap) {
				/* Bounded: stop reading until the queue drains. */
				c->read_blocked = true;
				ev_io_stop(nl->loop, &c->rio);
				break;
			}
			if (dq_push(&c->dq, ev_now(nl->loop) + c->delay, body, blen) != 0) {
				net_conn_shutdown(c, NET_CLOSE_ERROR);
				return;
			}
			off += (size_t)fl;
			queued = true;
			continue;
		}
		off += (size_t)fl;
		conn_deliver(c, body, blen); /* may close or pause c */
	}
	if (off > 0) {
		memmove(c->rbuf, c->rbuf + off, c->rlen - off);
		c->rlen -= off;
	}
	if (c->rlen == 0 && c->rcap > NET_RBUF_KEEP) {
		uint8_t *p = realloc(c->rbuf, NET_RBUF_MIN);
		if (p) {
			c->rbuf = p;
			c->rcap = NET_RBUF_MIN;
		}
	}
	if (queued)
		conn_deliver_due(c);
}

/* Makes room for the next read: NET_RBUF_MIN free bytes, and room for the whole frame whose
 * header is already in. Returns 0 or -ENOMEM. */
static int rbuf_reserve(struct net_conn *c)
{
	size_t need = c->rlen + NET_RBUF_MIN;
	if (c->rlen >= PROTO_FRAME_HEADER) {
		uint32_t body = (uint32_t)c->rbuf[0] | (uint32_t)c->rbuf[1] << 8 |
				(uint32_t)c->rbuf[2] << 16 | (uint32_t)c->rbuf[3] << 24;
		if (body <= c->nl->cfg.lim.max_frame && (size_t)body + PROTO_FRAME_HEADER > need)
			need = (size_t)body + PROTO_FRAME_HEADER;
	}
	if (need <= c->rcap)
		return 0;
	size_t ncap = c->rcap ? c->rcap : NET_RBUF_MIN;
	while (ncap < need)
		ncap *= 2;
	uint8_t *p = realloc(c->rbuf, ncap);
	if (p == NULL)
		return -ENOMEM;
	c->rbuf = p;
	c->rcap = ncap;
	return 0;
}

static void conn_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct net_conn *c = w->data;
	struct net_loop *nl = c->nl;
	(void)loop;
	(void)revents;
	if (c->closed)
		return;
	if (!c->paused && !c->read_blocked) {
		if (rbuf_reserve(c) != 0) {
			net_conn_shutdown(c, NET_CLOSE_ERROR);
			return;
		}
		ssize_t n = read(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen);
		if (n == 0) {
			conn_process(c); /* deliver what did arrive, then close */
			net_conn_shutdown(c, NET_CLOSE_EOF);
			return;
		}
		if (n < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
				net_conn_shutdown(c, NET_CLOSE_ERROR);
				return;
			}
		} else {
			c->rlen += (size_t)n;
			nl->st.bytes_in += (uint64_t)n;
		}
	}
	conn_process(c);
}

/* ---- connection API ---------------------------------------------------------------------- */

int net_conn_create(struct net_loop *nl, int fd, const char *peer, const struct net_conn_cbs *cbs,
		    void *arg, struct net_conn **out)
{
	return net_conn_create_as(nl, fd, peer, cbs, arg, NET_MODE_ACCEPT, 0, -1, out);
}

int net_conn_create_as(struct net_loop *nl, int fd, const char *peer,
		       const struct net_conn_cbs *cbs, void *arg, enum net_conn_mode mode,
		       uint8_t expect_role, int32_t expect_node, struct net_conn **out)
{
	char err[NET_ERR_LEN];
	int rc = net_set_nonblock(fd, err);
	if (rc != 0)
		goto err_close;
	bool local = net_fd_is_local(fd); /* localSockets (tests' socketpairs too) */
	if (!local)
		(void)net_set_nodelay(fd, err); /* TCP; without it only slower */
	struct net_conn *c = calloc(1, sizeof *c);
	if (c == NULL) {
		rc = -ENOMEM;
		goto err_close;
	}
	c->local = local;
	c->rbuf = malloc(NET_RBUF_MIN);
	if (c->rbuf == NULL) {
		rc = -ENOMEM;
		goto err_free;
	}
	c->rcap = NET_RBUF_MIN;
	c->nl = nl;
	c->fd = fd;
	c->id = ++nl->next_id;
	c->cbs = cbs;
	c->arg = arg;
	c->notify = true;
	snprintf(c->peer, sizeof c->peer, "%s", peer ? peer : "?");
	proto_buf_init(&c->out, nl->cfg.out_cap);
	ev_io_init(&c->rio, conn_read_cb, fd, EV_READ);
	c->rio.data = c;
	ev_io_init(&c->wio, conn_write_cb, fd, EV_WRITE);
	c->wio.data = c;
	ev_timer_init(&c->dtimer, conn_delay_cb, 0., 0.);
	c->dtimer.data = c;
	ev_timer_init(&c->htimer, conn_hold_cb, 0., 0.);
	c->htimer.data = c;
	ev_timer_init(&c->atimer, conn_auth_timeout_cb, 0., 0.);
	c->atimer.data = c;
	c->all_next = nl->all;
	if (nl->all)
		nl->all->all_prev = c;
	nl->all = c;
	nl->st.conns_opened++;
	if (local)
		nl->st.conns_local++;
	if (nl->cfg.auth) {
		c->hs_active = true;
		double t = nl->cfg.auth_timeout_s > 0 ? nl->cfg.auth_timeout_s : NET_AUTH_TIMEOUT_S;
		ev_timer_set(&c->atimer, t, 0.);
		ev_timer_start(nl->loop, &c->atimer);
		if (mode == NET_MODE_ACCEPT) {
			auth_hs_accept(&c->hs, nl->cfg.auth, nl->cfg.role, nl->cfg.node_id);
			nl->unauth++;
		} else {
			struct proto_msg hello;
			auth_hs_connect(&c->hs, nl->cfg.auth, nl->cfg.role, nl->cfg.node_id,
					expect_role, expect_node, &hello);
			(void)conn_send(c, &hello); /* a fresh buffer: only an allocation fails */
		}
	}
	ev_io_start(nl->loop, &c->rio);
	*out = c;
	return 0;

err_free:
	free(c);
err_close:
	close(fd);
	return rc;
}

int net_conn_send_frame(struct net_conn *c, const uint8_t *frame, size_t len)
{
	if (c->closed)
		return -EPIPE;
	if (c->hs_active)
		return -ENOTCONN;
	if (len < PROTO_FRAME_HEADER)
		return -EINVAL;
	if (c->out.len + len > c->out.limit) {
		c->nl->st.overflow_disconnects++;
		net_conn_shutdown(c, NET_CLOSE_OVERFLOW);
		return -ENOBUFS;
	}
	if (c->out.len + len > c->out.cap) {
		size_t ncap = c->out.cap ? c->out.cap : 4096;
		while (ncap < c->out.len + len)
			ncap *= 2;
		if (ncap > c->out.limit)
			ncap = c->out.limit;
		uint8_t *nd = realloc(c->out.data, ncap);
		if (nd == NULL)
			return -ENOBUFS;
		c->out.data = nd;
		c->out.cap = ncap;
	}
	if (c->out.len == 0)
		c->hold_since = ev_now(c->nl->loop);
	memcpy(c->out.data + c->out.len, frame, len);
	c->out.len += len;
	c->nl->st.frames_out++;
	if (!c->dirty) {
		c->dirty = true;
		c->dirty_next = c->nl->dirty;
		c->nl->dirty = c;
	}
	return 0;
}

int net_conn_detach(struct net_conn *c, int *fd, uint8_t **rest, size_t *rest_len)
{
	struct net_loop *nl = c->nl;
	if (c->closed || !c->paused || c->hs_active || c->dq.frames > 0 || c->out.len > 0)
		return -EBUSY;
	ev_io_stop(nl->loop, &c->rio);
	ev_io_stop(nl->loop, &c->wio);
	ev_timer_stop(nl->loop, &c->dtimer);
	ev_timer_stop(nl->loop, &c->htimer);
	if (c->dirty)
		dirty_unlink(nl, c);
	*fd = c->fd;
	*rest = NULL;
	*rest_len = 0;
	if (c->rlen > 0) {
		*rest = c->rbuf; /* hand the buffer over as is */
		*rest_len = c->rlen;
		c->rbuf = NULL;
		c->rlen = c->rcap = 0;
	}
	c->fd = -1; /* the socket now belongs to the caller: shutdown's close(-1) is a no-op */
	c->notify = false;
	net_conn_shutdown(c, NET_CLOSE_LOCAL); /* freed at the flush point, without on_close */
	nl->st.conns_closed--; /* handed over, not closed */
	return 0;
}

int net_conn_inject(struct net_conn *c, const uint8_t *bytes, size_t len)
{
	if (len == 0 || c->closed)
		return 0;
	while (c->rcap - c->rlen < len) {
		size_t ncap = c->rcap ? c->rcap * 2 : NET_RBUF_MIN;
		uint8_t *p = realloc(c->rbuf, ncap);
		if (p == NULL)
			return -ENOMEM;
		c->rbuf = p;
		c->rcap = ncap;
	}
	memcpy(c->rbuf + c->rlen, bytes, len);
	c->rlen += len;
	c->nl->st.bytes_in += len;
	ev_feed_event(c->nl->loop, &c->rio, EV_READ);
	return 0;
}

void net_conn_set_cbs(struct net_conn *c, const struct net_conn_cbs *cbs, void *arg)
{
	c->cbs = cbs;
	c->arg = arg;
}

void net_conn_close(struct net_conn *c)
{
	net_conn_shutdown(c, NET_CLOSE_LOCAL);
}

void net_conn_abandon(struct net_conn *c)
{
	c->notify = false;
	net_conn_shutdown(c, NET_CLOSE_LOCAL);
}

void net_conn_pause(struct net_conn *c)
{
	if (c->paused)
		return;
	c->paused = true;
	if (!c->closed) {
		ev_io_stop(c->nl->loop, &c->rio);
		ev_timer_stop(c->nl->loop, &c->dtimer);
	}
}

void net_conn_resume(struct net_conn *c)
{
	struct ev_loop *loop = c->nl->loop;
	if (!c->paused)
		return;
	c->paused = false;
	if (c->closed)
		return;
	if (!c->read_blocked)
		ev_io_start(loop, &c->rio);
	/* Buffered frames are delivered from the loop, not from inside this call (the caller may
	 * be in the middle of handling a message). */
	if (c->rlen > 0)
		ev_feed_event(loop, &c->rio, EV_READ);
	if (c->dq.frames > 0) {
		double due;
		memcpy(&due, c->dq.data + c->dq.head, sizeof due);
		dq_arm(c, due);
	}
}

bool net_conn_paused(const struct net_conn *c)
{
	return c->paused;
}

void net_conn_set_hold_us(struct net_conn *c, uint32_t hold_us)
{
	c->hold = (double)hold_us / 1e6;
	if (c->hold == 0)
		ev_timer_stop(c->nl->loop, &c->htimer);
}

void net_conn_set_delay_us(struct net_conn *c, uint32_t delay_us)
{
	c->delay = (double)delay_us / 1e6;
}

bool net_conn_authenticated(const struct net_conn *c)
{
	return c->authed;
}

int net_conn_peer_role(const struct net_conn *c)
{
	return c->authed ? c->hs.peer_role : 0;
}

int32_t net_conn_peer_node(const struct net_conn *c)
{
	return c->authed ? c->hs.peer_node : -1;
}

const char *net_conn_auth_why(const struct net_conn *c)
{
	return c->hs.why;
}

uint64_t net_conn_id(const struct net_conn *c)
{
	return c->id;
}

const char *net_conn_peer(const struct net_conn *c)
{
	return c->peer;
}

bool net_conn_is_local(const struct net_conn *c)
{
	return c->local;
}

bool net_conn_is_open(const struct net_conn *c)
{
	return !c->closed;
}

size_t net_conn_out_pending(const struct net_conn *c)
{
	return c->out.len;
}

void *net_conn_arg(const struct net_conn *c)
{
	return c->arg;
}
