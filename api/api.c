/* api: the public synchronous API of include/curpkv.h over the client library. */
#include "curpkv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>

#include "cluster/cluster.h"
#include "conf/conf.h"
#include "proto/proto.h"

struct curpkv_client {
	struct ev_loop *loop;
	struct conf *conf;
	struct conf_settings set;
	struct cluster *cl;
	struct cluster_session *cs;
	bool ready;
	/* the operation in progress */
	bool done;
	enum session_result res;
	void *buf;
	size_t cap, vlen;
	ev_timer timer;
	bool timed_out;
	bool auth_failed; /* a connection was refused for authentication */
};

const char *curpkv_version(void)
{
	return PACKAGE_VERSION;
}

static void session_ready(struct cluster_session *cs, void *arg)
{
	struct curpkv_client *c = arg;
	(void)cs;
	c->ready = true;
	ev_break(c->loop, EVBREAK_ALL);
}

static void cluster_ready(struct cluster *cl, void *arg)
{
	struct curpkv_client *c = arg;
	if (cluster_session_open(cl, session_ready, c, &c->cs) != 0)
		ev_break(c->loop, EVBREAK_ALL);
}

/* Refused for authentication: curpkv_open gives up at once (-EACCES). */
static void auth_failed_cb(struct cluster *cl, void *arg)
{
	struct curpkv_client *c = arg;
	(void)cl;
	c->auth_failed = true;
	if (!c->ready)
		ev_break(c->loop, EVBREAK_ALL);
}

static void timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct curpkv_client *c = w->data;
	(void)revents;
	c->timed_out = true;
	ev_break(loop, EVBREAK_ALL);
}

/* Runs the loop until ev_break, bounded by replyTimeout. Returns false on timeout. */
static bool run_bounded(struct curpkv_client *c)
{
	c->timed_out = false;
	ev_timer_set(&c->timer, c->set.reply_timeout_s, 0.);
	ev_timer_start(c->loop, &c->timer);
	ev_run(c->loop, 0);
	ev_timer_stop(c->loop, &c->timer);
	return !c->timed_out;
}

int curpkv_open(const char *conf_path, const char *alias, curpkv_client **out)
{
	*out = NULL;
	struct curpkv_client *c = calloc(1, sizeof *c);
	if (c == NULL)
		return -ENOMEM;
	struct conf_diags d = {0};
	int rc = conf_load(conf_path, &c->conf, &d);
	if (rc == 0)
		rc = conf_settings_for(c->conf, alias, &c->set, &d);
	if (d.n_errors)
		conf_diags_print(&d, stderr);
	conf_diags_free(&d);
	if (rc != 0)
		goto err;
	c->loop = ev_loop_new(EVFLAG_AUTO);
	if (c->loop == NULL) {
		rc = -ENOMEM;
		goto err;
	}
	ev_timer_init(&c->timer, timeout_cb, 0., 0.);
	c->timer.data = c;
	struct cluster_options opt = {
	    .on_ready = cluster_ready, .on_auth_failed = auth_failed_cb, .arg = c, .window = 1};
	rc = cluster_open(c->loop, c->conf, &c->set, alias, &opt, &c->cl);
	if (rc != 0)
		goto err;
	if (!run_bounded(c) || !c->ready) {
		rc = c->auth_failed ? -EACCES : -ETIMEDOUT;
		goto err;
	}
	*out = c;
	return 0;
err:
	curpkv_close(c);
	return rc;
}

void curpkv_close(curpkv_client *c)
{
	if (c == NULL)
		return;
	if (c->cl)
		cluster_close(c->cl);
	if (c->loop)
		ev_loop_destroy(c->loop);
	conf_free(c->conf);
	free(c);
}

static void op_done(void *arg, uint64_t seq, enum session_result res, enum session_path path,
		    const uint8_t *value, uint32_t vlen)
{
	struct curpkv_client *c = arg;
	(void)seq;
	(void)path;
	c->done = true;
	c->res = res;
	c->vlen = vlen;
	if (res == SESSION_OK && c->buf && vlen)
		memcpy(c->buf, value, vlen < c->cap ? vlen : c->cap);
	ev_break(c->loop, EVBREAK_ALL);
}

static int run_op(struct curpkv_client *c, const struct proto_cmd *cmd, void *buf, size_t cap)
{
	if (cmd->klen > c->set.max_key_bytes || cmd->vlen > c->set.max_value_bytes)
		return -EINVAL;
	c->done = false;
	c->buf = buf;
	c->cap = cap;
	c->vlen = 0;
	int64_t seq = cluster_session_submit(c->cs, cmd, op_done, c);
	if (seq == -EAGAIN) {
		/* the session is taking a new client id (its lease ran out while the caller was
		 * away): wait for it, bounded by replyTimeout */
		ev_tstamp until = ev_now(c->loop) + c->set.reply_timeout_s;
		while (seq == -EAGAIN && ev_now(c->loop) < until) {
			ev_run(c->loop, EVRUN_ONCE);
			seq = cluster_session_submit(c->cs, cmd, op_done, c);
		}
		if (seq == -EAGAIN)
			return -ETIMEDOUT;
	}
	if (seq <= 0)
		return -EIO;
	if (!run_bounded(c) || !c->done)
		return -ETIMEDOUT; /* the session completes the command later, with nobody waiting
				    */
	switch (c->res) {
	case SESSION_OK:
		return 0;
	case SESSION_NOT_FOUND:
		return cmd->op == PROTO_OP_GET ? -ENOENT : 0;
	case SESSION_TIMEOUT:
		return -ETIMEDOUT;
	case SESSION_EXPIRED:
		return -ESTALE; /* not applied: the client id had expired (a new one is in use) */
	default:
		return -EIO;
	}
}

int curpkv_put(curpkv_client *c, const void *key, size_t klen, const void *val, size_t vlen)
{
	if (klen > UINT32_MAX || vlen > UINT32_MAX)
		return -EINVAL;
	struct proto_cmd cmd = {.op = PROTO_OP_PUT,
				.key = key,
				.klen = (uint32_t)klen,
				.val = val,
				.vlen = (uint32_t)vlen};
	return run_op(c, &cmd, NULL, 0);
}

int curpkv_append(curpkv_client *c, const void *key, size_t klen, const void *val, size_t vlen)
{
	if (klen > UINT32_MAX || vlen > UINT32_MAX)
		return -EINVAL;
	if (c->set.protocol != CONF_PROTO_CURP)
		return -EINVAL;
	struct proto_cmd cmd = {.op = PROTO_OP_APPEND,
				.key = key,
				.klen = (uint32_t)klen,
				.val = val,
				.vlen = (uint32_t)vlen};
	return run_op(c, &cmd, NULL, 0);
}

int curpkv_get(curpkv_client *c, const void *key, size_t klen, void *buf, size_t cap, size_t *vlen)
{
	if (klen > UINT32_MAX)
		return -EINVAL;
	struct proto_cmd cmd = {.op = PROTO_OP_GET, .key = key, .klen = (uint32_t)klen};
	int rc = run_op(c, &cmd, buf, cap);
	if (rc == 0 && vlen)
		*vlen = c->vlen;
	return rc;
}

int curpkv_del(curpkv_client *c, const void *key, size_t klen)
{
	if (klen > UINT32_MAX)
		return -EINVAL;
	struct proto_cmd cmd = {.op = PROTO_OP_DEL, .key = key, .klen = (uint32_t)klen};
	return run_op(c, &cmd, NULL, 0);
}

int curpkv_scan(curpkv_client *c, const void *key, size_t klen, unsigned count, void *buf,
		size_t cap, size_t *len)
{
	if (klen > UINT32_MAX || count < 1 || count > 1000000)
		return -EINVAL;
	struct proto_cmd cmd = {
	    .op = PROTO_OP_SCAN, .key = key, .klen = (uint32_t)klen, .scan_count = count};
	int rc = run_op(c, &cmd, buf, cap);
	if (rc == 0 && len)
		*len = c->vlen;
	return rc;
}

int curpkv_scan_next(const void *buf, size_t len, size_t *off, const void **key, size_t *klen,
		     const void **val, size_t *vlen)
{
	if (len > UINT32_MAX || *off > len)
		return -EBADMSG;
	uint32_t o = (uint32_t)*off, kl, vl;
	const uint8_t *k, *v;
	int rc = proto_scan_next(buf, (uint32_t)len, &o, &k, &kl, &v, &vl);
	if (rc == 1) {
		*key = k;
		*klen = kl;
		*val = v;
		*vlen = vl;
		*off = o;
	}
	return rc;
}
