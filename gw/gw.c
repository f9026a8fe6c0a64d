/* gw: the gateway's loop, listener and connections (docs/gateway.md).
 *
 * One libev loop holds the cluster handle and every client connection. Each connection gets its
 * own client session (cluster_session_open), so its commands keep the session's order and its
 * replies come back in request order: a connection keeps its requests as a FIFO of jobs; a job
 * holds the cluster operations of one request and its reply; completions only mark ops done
 * (they come from inside the cluster library); the loop's prepare watcher, once per iteration,
 * moves the finished replies at the head of each dirty connection to its output, submits what
 * the session's window now takes, parses more input, and writes. Nothing here blocks: sockets
 * are non-blocking, a full window or a session not ready yet stops the connection's reading
 * (back-pressure), and a connection whose unwritten output passes out_cap is closed.
 */
#include "gw/gw_int.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "net/net.h"

static void conn_free(struct gw_conn *c);

static void mark_dirty(struct gw_conn *c)
{
	if (c->dirty || c->closing)
		return;
	c->dirty = true;
	c->dirty_next = c->g->dirty;
	c->g->dirty = c;
}

/* ---- jobs ----------------------------------------------------------------------------------- */

int gw_job_add_op(struct gw_job *j, uint8_t op, const struct resp_arg *key,
		  const struct resp_arg *val, uint32_t scan_count, bool weak)
{
	if (j->nops == j->cap_ops) {
		uint32_t cap = j->cap_ops ? j->cap_ops * 2 : 2;
		struct gw_op *n = realloc(j->ops, cap * sizeof *n);
		if (n == NULL)
			return -ENOMEM;
		j->ops = n;
		j->cap_ops = cap;
	}
	struct gw_op *o = &j->ops[j->nops++];
	memset(o, 0, sizeof *o);
	o->job = j;
	o->cmd.op = op;
	o->cmd.key = key->p;
	o->cmd.klen = key->len;
	if (val) {
		o->cmd.val = val->p;
		o->cmd.vlen = val->len;
	}
	o->cmd.scan_count = scan_count;
	o->weak = weak;
	return 0;
}

static void job_free(struct gw_job *j)
{
	for (uint32_t i = 0; i < j->nops; i++)
		free(j->ops[i].val);
	free(j->ops);
	free(j->own);
	resp_buf_free(&j->reply);
	free(j);
}

/* A job for the parsed request (its arguments copied into the job's own allocation). */
static struct gw_job *job_new(struct gw_conn *c, const struct resp_parser *p)
{
	size_t bytes = 0;
	for (uint32_t i = 0; i < p->argc; i++)
		bytes += p->argv[i].len + 1; /* NUL-terminated: handlers may parse numbers */
	struct gw_job *j = calloc(1, sizeof *j + p->argc * sizeof(struct resp_arg) + bytes);
	if (j == NULL)
		return NULL;
	j->c = c;
	j->argc = p->argc;
	j->argv = (struct resp_arg *)(j + 1);
	uint8_t *at = (uint8_t *)(j->argv + p->argc);
	for (uint32_t i = 0; i < p->argc; i++) {
		if (p->argv[i].len > 0) /* (an empty argument may have no bytes) */
			memcpy(at, p->argv[i].p, p->argv[i].len);
		at[p->argv[i].len] = 0;
		j->argv[i] = (struct resp_arg){.p = at, .len = p->argv[i].len};
		at += p->argv[i].len + 1;
	}
	j->since_ns = common_now_ns();
	return j;
}

static void job_append(struct gw_conn *c, struct gw_job *j)
{
	if (c->tail)
		c->tail->next = j;
	else
		c->head = j;
	c->tail = j;
	c->njobs++;
	if (c->submit_at == NULL && j->nsubmitted < j->nops)
		c->submit_at = j;
}

/* A job whose reply is the error text (a protocol error, an unknown command, a wrong arity). */
static int reply_now(struct gw_conn *c, bool close_after, const char *text)
{
	struct gw_job *j = calloc(1, sizeof *j);
	if (j == NULL || resp_add_error(&j->reply, "%s", text) != 0) {
		free(j);
		return -ENOMEM;
	}
	j->c = c;
	j->ready = true;
	j->close_after = close_after;
	c->g->st.errors++;
	job_append(c, j);
	return 0;
}

/* The reply once every op completed: the first failed op's error, else the command's. */
static void job_finish(struct gw_job *j)
{
	int rc = 0;
	const struct gw_op *bad = NULL;
	for (uint32_t i = 0; i < j->nops && bad == NULL; i++)
		if (j->ops[i].res != SESSION_OK && j->ops[i].res != SESSION_NOT_FOUND)
			bad = &j->ops[i];
	if (bad)
		rc = gw_reply_op_error(j, bad);
	else if (j->cmd && j->cmd->finish)
		rc = j->cmd->finish(j);
	if (rc != 0) {
		j->reply.off = j->reply.len = 0;
		(void)resp_add_error(&j->reply, "ERR out of memory");
	}
	if (resp_buf_live(&j->reply) && resp_buf_data(&j->reply)[0] == '-')
		j->c->g->st.errors++;
	j->ready = true;
}

static void op_done(void *arg, uint64_t seq, enum session_result res, enum session_path path,
		    const uint8_t *value, uint32_t vlen)
{
	struct gw_op *o = arg;
	struct gw_job *j = o->job;
	struct gw_conn *c = j->c;
	(void)seq;
	(void)path;
	o->done = true;
	o->res = res;
	if (o->weak)
		c->inflight_weak--;
	else
		c->inflight_strong--;
	if ((res == SESSION_OK || res == SESSION_FAILED) && vlen > 0 && !c->closing) {
		o->val = malloc(vlen);
		if (o->val == NULL) {
			o->res = SESSION_FAILED;
		} else {
			memcpy(o->val, value, vlen);
			o->vlen = vlen;
		}
	}
	if (++j->ndone == j->nops && !c->closing)
		job_finish(j);
	mark_dirty(c);
}

/* Submits the ops of the jobs in order, as far as the session takes them. A weak op waits for
 * the connection's strong ops in flight, and a strong op for its weak ones: the session orders a
 * connection's strong commands among themselves, but a weak read pipelined behind a strong
 * write could miss it (or read a later one): docs/gateway.md "Order". */
static void pump(struct gw_conn *c)
{
	if (!c->session_ready)
		return;
	while (c->submit_at) {
		struct gw_job *j = c->submit_at;
		while (j->nsubmitted < j->nops) {
			struct gw_op *o = &j->ops[j->nsubmitted];
			if ((o->weak && c->inflight_strong) || (!o->weak && c->inflight_weak))
				return;
			int64_t rc = o->weak
					 ? cluster_session_submit_weak(c->cs, &o->cmd, op_done, o)
					 : cluster_session_submit(c->cs, &o->cmd, op_done, o);
			if (rc == -EAGAIN)
				return; /* the window is full: a completion calls us again */
			j->nsubmitted++;
			o->submitted = true;
			if (rc < 0) {
				/* refused by the session itself (-EINVAL: a command it cannot send)
				 */
				o->done = true;
				o->res = SESSION_FAILED;
				if (++j->ndone == j->nops)
					job_finish(j);
				continue;
			}
			if (o->weak)
				c->inflight_weak++;
			else
				c->inflight_strong++;
		}
		do
			c->submit_at = c->submit_at->next;
		while (c->submit_at && c->submit_at->nsubmitted == c->submit_at->nops);
	}
}

/* Parses and starts the requests in c->in while the connection takes more. Returns 0, 1 if it
 * stopped at GW_MAX_JOBS with bytes left in c->in (the caller parses again once replies made
 * room: no read or completion may come to do it), or -ENOMEM. */
static int parse_input(struct gw_conn *c)
{
	while (!c->stop_reading && c->submit_at == NULL && c->njobs < GW_MAX_JOBS) {
		size_t used = 0;
		int rc =
		    resp_parse(&c->parser, resp_buf_data(&c->in), resp_buf_live(&c->in), &used);
		if (rc == -EPROTO) {
			/* the stream cannot be framed any more: answer after the replies before it,
			 * then close */
			c->g->st.protocol_errors++;
			LOG_INFO(c->g->lg, "client %llu (%s): %s", (unsigned long long)c->id,
				 c->peer, c->parser.err);
			c->stop_reading = true;
			char text[RESP_ERR_LEN + 8];
			snprintf(text, sizeof text, "ERR %s", c->parser.err);
			return reply_now(c, true, text);
		}
		if (rc < 0)
			return rc;
		resp_buf_consume(&c->in, used);
		if (rc == 0)
			return 0;
		c->cmds++;
		c->g->st.commands++;
		const struct resp_arg *a0 = &c->parser.argv[0];
		const struct gw_cmd *cmd = gw_cmd_find(a0->p, a0->len);
		if (cmd == NULL) {
			/* Redis's text, with the first arguments (at most 40 bytes each) */
			char text[400];
			int n = snprintf(text, sizeof text,
					 "ERR unknown command '%.*s', with args "
					 "beginning with: ",
					 (int)(a0->len < 100 ? a0->len : 100), (const char *)a0->p);
			for (uint32_t i = 1; i < c->parser.argc && n > 0 && (size_t)n < 300; i++)
				n += snprintf(
				    text + n, sizeof text - (size_t)n, "'%.*s' ",
				    (int)(c->parser.argv[i].len < 40 ? c->parser.argv[i].len : 40),
				    (const char *)c->parser.argv[i].p);
			rc = reply_now(c, false, text);
			if (rc != 0)
				return rc;
			continue;
		}
		if ((cmd->arity > 0 && c->parser.argc != (uint32_t)cmd->arity) ||
		    (cmd->arity < 0 && c->parser.argc < (uint32_t)-cmd->arity)) {
			char text[96];
			snprintf(text, sizeof text,
				 "ERR wrong number of arguments for '%s' command", cmd->name);
			rc = reply_now(c, false, text);
			if (rc != 0)
				return rc;
			continue;
		}
		if (c->g->s.secret[0] && !c->authed && strstr(cmd->flags, "no-auth") == NULL) {
			/* with a secret, nothing but AUTH, HELLO and QUIT before AUTH (Redis's rule
			 * with requirepass) */
			rc = reply_now(c, false, "NOAUTH Authentication required.");
			if (rc != 0)
				return rc;
			continue;
		}
		struct gw_job *j = job_new(c, &c->parser);
		if (j == NULL)
			return -ENOMEM;
		j->cmd = cmd;
		rc = cmd->start(j);
		if (rc != 0) {
			job_free(j);
			return rc;
		}
		if (j->nops == 0)
			j->ready = true;
		if (resp_buf_live(&j->reply) && resp_buf_data(&j->reply)[0] == '-')
			c->g->st.errors++;
		if (j->close_after)
			c->stop_reading = true;
		job_append(c, j);
		pump(c);
	}
	return c->njobs >= GW_MAX_JOBS && !c->stop_reading && c->submit_at == NULL &&
	       resp_buf_live(&c->in) > 0;
}

/* Moves the finished replies at the head of the FIFO to the output. Returns true if the
 * connection is to close once its output is written (QUIT, a protocol error). */
static bool collect_replies(struct gw_conn *c)
{
	bool close_after = false;
	while (c->head && c->head->ready) {
		struct gw_job *j = c->head;
		if (resp_buf_add(&c->out, resp_buf_data(&j->reply), resp_buf_live(&j->reply)) != 0)
			return true; /* out of memory: the connection goes */
		close_after |= j->close_after;
		c->head = j->next;
		if (c->head == NULL)
			c->tail = NULL;
		c->njobs--;
		job_free(j);
	}
	return close_after;
}

/* Writes what the socket takes. Returns 0, or -1 if the connection is to close. */
static int write_out(struct gw_conn *c)
{
	while (resp_buf_live(&c->out)) {
		ssize_t n = write(c->fd, resp_buf_data(&c->out), resp_buf_live(&c->out));
		if (n > 0) {
			resp_buf_consume(&c->out, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		return -1;
	}
	if (resp_buf_live(&c->out)) {
		if (resp_buf_live(&c->out) > c->g->out_cap) {
			c->g->st.output_cap_closes++;
			LOG_INFO(
			    c->g->lg,
			    "client %llu (%s): %zu reply bytes unread (the cap is %zu): closed",
			    (unsigned long long)c->id, c->peer, resp_buf_live(&c->out),
			    c->g->out_cap);
			return -1;
		}
		ev_io_start(c->g->loop, &c->wio);
	} else {
		ev_io_stop(c->g->loop, &c->wio);
	}
	return 0;
}

/* Everything a connection does once per loop iteration. Returns 0, or -1 if it is to close. */
static int conn_process(struct gw_conn *c)
{
	bool close_after = collect_replies(c);
	pump(c);
	/* Requests already in c->in past the job cap get no read event: parse them as soon as
	 * their replies moved out. Until 2026-12-07 they waited for the next read or completion,
	 * and a client that pipelined more than 1,024 PINGs in its last write got no reply to the
	 * rest, for ever (tests/test_gateway.sh "queue"). Bounded: c->in does not grow here. */
	for (bool more = !close_after; more;) {
		int rc = parse_input(c);
		if (rc < 0)
			return -1;
		close_after |= collect_replies(c);
		more = rc == 1 && !close_after && c->njobs < GW_MAX_JOBS;
	}
	if (write_out(c) != 0)
		return -1;
	if (close_after && resp_buf_live(&c->out) == 0)
		return -1;
	/* read more only when the requests read so far could all be started */
	bool want =
	    !c->stop_reading && !close_after && c->submit_at == NULL && c->njobs < GW_MAX_JOBS;
	if (want)
		ev_io_start(c->g->loop, &c->rio);
	else
		ev_io_stop(c->g->loop, &c->rio);
	return 0;
}

static void prepare_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
	struct gw *g = w->data;
	(void)loop;
	(void)revents;
	while (g->dirty) {
		struct gw_conn *c = g->dirty;
		g->dirty = c->dirty_next;
		c->dirty = false;
		if (conn_process(c) != 0)
			conn_free(c);
	}
}

static void read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct gw_conn *c = w->data;
	(void)loop;
	(void)revents;
	if (resp_buf_reserve(&c->in, 16384) != 0) {
		conn_free(c);
		return;
	}
	ssize_t n = read(c->fd, c->in.p + c->in.len, c->in.cap - c->in.len);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR && errno != EWOULDBLOCK)) {
		conn_free(c); /* the client went: its session goes with it */
		return;
	}
	if (n > 0)
		c->in.len += (size_t)n;
	mark_dirty(c);
}

static void write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct gw_conn *c = w->data;
	(void)loop;
	(void)revents;
	mark_dirty(c);
}

/* ---- sessions ------------------------------------------------------------------------------ */

static void session_ready(struct cluster_session *cs, void *arg)
{
	struct gw_conn *c = arg;
	(void)cs;
	c->session_ready = true;
	mark_dirty(c);
}

static void open_session(struct gw_conn *c)
{
	if (c->cs || !cluster_is_ready(c->g->cl))
		return;
	int rc = cluster_session_open(c->g->cl, session_ready, c, &c->cs);
	if (rc != 0) {
		c->cs = NULL; /* -EAGAIN: the cluster's ready callback tries again */
		if (rc != -EAGAIN)
			LOG_WARN(c->g->lg, "client %llu: no session: %s", (unsigned long long)c->id,
				 strerror(-rc));
	}
}

static void cluster_ready(struct cluster *cl, void *arg)
{
	struct gw *g = arg;
	(void)cl;
	LOG_INFO(g->lg, "the cluster is ready (view %llu, leader replica%d)",
		 (unsigned long long)cluster_view(cl), cluster_leader(cl));
	for (struct gw_conn *c = g->conns; c; c = c->next)
		open_session(c);
}

/* ---- connections ---------------------------------------------------------------------------- */

static void conn_free(struct gw_conn *c)
{
	struct gw *g = c->g;
	c->closing = true;
	if (c->cs) {
		struct session *s = cluster_session_get(c->cs);
		if (s) {
			struct session_stats st;
			session_get_stats(s, &st);
			g->st.fast += st.fast;
			g->st.slow += st.slow;
			g->st.retry += st.retry;
			g->st.weak += st.weak;
		}
		cluster_session_close(c->cs); /* pending ops complete (closing: only recorded) */
	}
	if (c->dirty) { /* unlink from the dirty list */
		struct gw_conn **pp = &g->dirty;
		while (*pp != c)
			pp = &(*pp)->dirty_next;
		*pp = c->dirty_next;
	}
	while (c->head) {
		struct gw_job *j = c->head;
		c->head = j->next;
		job_free(j);
	}
	ev_io_stop(g->loop, &c->rio);
	ev_io_stop(g->loop, &c->wio);
	close(c->fd);
	if (c->prev)
		c->prev->next = c->next;
	else
		g->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	g->nconns--;
	resp_buf_free(&c->in);
	resp_buf_free(&c->out);
	resp_parser_free(&c->parser);
	free(c);
}

static void accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct gw *g = w->data;
	(void)revents;
	for (int k = 0; k < 64; k++) {
		struct sockaddr_storage sa;
		socklen_t salen = sizeof sa;
		int fd = accept(g->lfd, (struct sockaddr *)&sa, &salen);
		if (fd < 0)
			return; /* EAGAIN, or out of descriptors: the next readiness tries again */
		char err[NET_ERR_LEN];
		if (net_set_nonblock(fd, err) != 0) {
			close(fd);
			continue;
		}
		(void)net_set_nodelay(fd, err);
		if (g->nconns >= g->s.max_clients) {
			static const char full[] = "-ERR max number of clients reached\r\n";
			g->st.rejected++;
			(void)!write(fd, full, sizeof full - 1);
			close(fd);
			continue;
		}
		struct gw_conn *c = calloc(1, sizeof *c);
		if (c == NULL) {
			close(fd);
			continue;
		}
		c->g = g;
		c->fd = fd;
		c->id = ++g->next_id;
		c->readonly = g->weak;
		net_format_addr((struct sockaddr *)&sa, c->peer, sizeof c->peer);
		struct resp_limits lim = {.max_bulk = g->s.max_value_bytes,
					  .max_args = GW_MAX_ARGS,
					  .max_request = 4u * g->s.max_value_bytes + (1u << 20)};
		resp_parser_init(&c->parser, &lim);
		ev_io_init(&c->rio, read_cb, fd, EV_READ);
		ev_io_init(&c->wio, write_cb, fd, EV_WRITE);
		c->rio.data = c->wio.data = c;
		ev_io_start(loop, &c->rio);
		c->next = g->conns;
		if (g->conns)
			g->conns->prev = c;
		g->conns = c;
		g->nconns++;
		g->st.connections++;
		open_session(c);
	}
}

/* Every 100 ms: requests that waited longer than replyTimeout for a session (the cluster is not
 * ready, or has no master) get -CLUSTERDOWN rather than a wait without end. Commands already
 * submitted are bounded by the session's own reply timeout (SESSION_TIMEOUT: -TRYAGAIN). */
static void tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct gw *g = w->data;
	(void)loop;
	(void)revents;
	uint64_t now = common_now_ns(), limit = (uint64_t)g->s.reply_timeout_s * 1000000000ull;
	for (struct gw_conn *c = g->conns; c; c = c->next) {
		if (c->session_ready)
			continue;
		open_session(c);
		for (struct gw_job *j = c->head; j; j = j->next) {
			if (j->ready || j->nsubmitted > 0 || now - j->since_ns < limit)
				continue;
			/* never submitted: nothing was applied */
			j->reply.off = j->reply.len = 0;
			(void)resp_add_error(&j->reply,
					     "CLUSTERDOWN the cluster is not ready (no session "
					     "within replyTimeout, %u s)",
					     g->s.reply_timeout_s);
			g->st.errors++;
			j->nsubmitted = j->ndone = j->nops;
			j->ready = true;
			if (c->submit_at == j)
				c->submit_at = j->next;
			mark_dirty(c);
		}
	}
}

static void signal_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)revents;
	(void)w;
	ev_break(loop, EVBREAK_ALL);
}

/* "HOST:PORT" (or "[v6]:PORT") into host and port. Returns 0 or -EINVAL. */
static int split_listen(const char *s, char *host, size_t hlen, uint16_t *port)
{
	const char *colon = strrchr(s, ':');
	if (colon == NULL || colon == s)
		return -EINVAL;
	const char *h = s;
	size_t n = (size_t)(colon - s);
	if (h[0] == '[' && n >= 2 && h[n - 1] == ']') {
		h++;
		n -= 2;
	}
	char *end;
	unsigned long p = strtoul(colon + 1, &end, 10);
	if (*end || end == colon + 1 || p > 65535 || n + 1 > hlen)
		return -EINVAL;
	memcpy(host, h, n);
	host[n] = 0;
	*port = (uint16_t)p;
	return 0;
}

int gw_main(const struct conf *conf, const struct conf_settings *s, const char *alias,
	    const char *listen, bool weak, const struct common_logger *lg)
{
	struct gw *g = calloc(1, sizeof *g);
	if (g == NULL)
		return 1;
	int status = 1;
	g->conf = conf;
	g->s = *s;
	g->lg = lg;
	g->lfd = -1;
	g->weak = weak;
	/* Redis's default hard limit for pubsub clients is 32 MiB; a normal client's is none, but
	 * one reply is at most maxValueBytes (or a SCAN/MGET's few), so 64 replies of the largest
	 * size or 32 MiB, whichever is more, is what a client that reads is never near */
	g->out_cap = 64u * (size_t)s->max_value_bytes;
	if (g->out_cap < (32u << 20))
		g->out_cap = 32u << 20;
	snprintf(g->listen, sizeof g->listen, "%s", listen ? listen : GW_DEFAULT_LISTEN);
	g->start_s = (double)common_now_ns() / 1e9;
	signal(SIGPIPE, SIG_IGN);
	g->loop = ev_default_loop(EVFLAG_AUTO);
	if (g->loop == NULL) {
		LOG_ERROR(lg, "no event loop");
		goto err_after_alloc;
	}
	char host[80], err[NET_ERR_LEN];
	uint16_t port, bound;
	if (split_listen(g->listen, host, sizeof host, &port) != 0) {
		LOG_ERROR(lg, "-listen %s: not HOST:PORT", g->listen);
		goto err_after_alloc;
	}
	bool any;
	int rc = net_tcp_listen(host, port, 511, &g->lfd, &bound, &any, err);
	if (rc != 0) {
		LOG_ERROR(lg, "cannot listen on %s: %s", g->listen, err);
		goto err_after_alloc;
	}
	struct cluster_options opt = {.log = lg, .on_ready = cluster_ready, .arg = g};
	rc = cluster_open(g->loop, conf, s, alias, &opt, &g->cl);
	if (rc != 0) {
		LOG_ERROR(lg, "cannot open the cluster of %s: %s", conf->path, strerror(-rc));
		goto err_after_listen;
	}
	ev_io_init(&g->accept_io, accept_cb, g->lfd, EV_READ);
	g->accept_io.data = g;
	ev_io_start(g->loop, &g->accept_io);
	ev_prepare_init(&g->prepare, prepare_cb);
	g->prepare.data = g;
	ev_prepare_start(g->loop, &g->prepare);
	ev_timer_init(&g->tick, tick_cb, 0.1, 0.1);
	g->tick.data = g;
	ev_timer_start(g->loop, &g->tick);
	ev_signal_init(&g->sigint, signal_cb, SIGINT);
	ev_signal_init(&g->sigterm, signal_cb, SIGTERM);
	ev_signal_start(g->loop, &g->sigint);
	ev_signal_start(g->loop, &g->sigterm);
	LOG_INFO(lg, "gateway: RESP2 on %s:%u, up to %u clients, protocol %s%s", host, bound,
		 s->max_clients, conf_protocol_name(s->protocol),
		 weak ? ", connections start READONLY (--weak)" : "");
	ev_run(g->loop, 0);
	LOG_INFO(lg, "gateway: stopping (%llu connections served, %llu commands)",
		 (unsigned long long)g->st.connections, (unsigned long long)g->st.commands);
	status = 0;
	while (g->conns)
		conn_free(g->conns);
	ev_signal_stop(g->loop, &g->sigint);
	ev_signal_stop(g->loop, &g->sigterm);
	ev_timer_stop(g->loop, &g->tick);
	ev_prepare_stop(g->loop, &g->prepare);
	ev_io_stop(g->loop, &g->accept_io);
	cluster_close(g->cl);
err_after_listen:
	close(g->lfd);
err_after_alloc:
	free(g);
	return status;
}
