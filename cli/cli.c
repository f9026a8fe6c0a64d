#include "cli/cli.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>

#include "cluster/cluster.h"

struct cli_run {
	struct ev_loop *loop;
	struct proto_cmd cmd;
	int status;
	bool done;
	bool weak;
	bool hex; /* arguments and output in hex */
	struct cluster_session *cs;
	ev_timer timer;
	ev_timer settle; /* curpho weak write: wait until it is reported executed */
};

static void settle_cb(struct ev_loop *loop, ev_timer *w, int revents);

/* Prints bytes as they are, or in lowercase hex. */
static void print_bytes(const uint8_t *p, uint32_t n, bool hex)
{
	if (!hex) {
		fwrite(p, 1, n, stdout);
		return;
	}
	for (uint32_t i = 0; i < n; i++)
		printf("%02x", p[i]);
}

/* Decodes hex text (an even number of hex digits) into a new buffer. Returns its length, or -1. */
static long unhex(const char *text, uint8_t **out)
{
	size_t n = strlen(text);
	*out = NULL;
	if (n % 2)
		return -1;
	uint8_t *b = malloc(n / 2 + 1);
	if (b == NULL)
		return -1;
	for (size_t i = 0; i < n / 2; i++) {
		unsigned v;
		if (!isxdigit((unsigned char)text[2 * i]) ||
		    !isxdigit((unsigned char)text[2 * i + 1]) ||
		    sscanf(text + 2 * i, "%2x", &v) != 1) {
			free(b);
			return -1;
		}
		b[i] = (uint8_t)v;
	}
	*out = b;
	return (long)(n / 2);
}

/* Prints a SCAN result as "key<TAB>value" lines; CLI_ERROR if it does not decode. */
static int print_scan(const uint8_t *value, uint32_t vlen, bool hex)
{
	uint32_t off = 0, kl, vl;
	const uint8_t *k, *v;
	int rc;
	while ((rc = proto_scan_next(value, vlen, &off, &k, &kl, &v, &vl)) == 1) {
		print_bytes(k, kl, hex);
		fputc('\t', stdout);
		print_bytes(v, vl, hex);
		fputc('\n', stdout);
	}
	if (rc < 0) {
		fprintf(stderr, "curpkv: the scan result is malformed\n");
		return CLI_ERROR;
	}
	return CLI_OK;
}

static void op_done(void *arg, uint64_t seq, enum session_result res, enum session_path path,
		    const uint8_t *value, uint32_t vlen)
{
	struct cli_run *r = arg;
	(void)seq;
	(void)path;
	r->done = true;
	switch (res) {
	case SESSION_OK:
		r->status = CLI_OK;
		if (r->cmd.op == PROTO_OP_GET) {
			print_bytes(value, vlen, r->hex);
			fputc('\n', stdout);
		} else if (r->cmd.op == PROTO_OP_SCAN) {
			r->status = print_scan(value, vlen, r->hex);
		}
		break;
	case SESSION_NOT_FOUND:
		r->status = r->cmd.op == PROTO_OP_GET ? CLI_NOT_FOUND : CLI_OK;
		break;
	case SESSION_CID_REUSED:
		fprintf(stderr, "curpkv: the operation was refused and not applied: the replicas "
				"hold another command under its id (the master handed out this "
				"client id twice)\n");
		r->status = CLI_ERROR;
		break;
	case SESSION_EXPIRED:
		fprintf(stderr,
			"curpkv: the operation was refused and not applied: this client's id "
			"had expired at the replicas (silent longer than clientLeaseMs)\n");
		r->status = CLI_ERROR;
		break;
	default:
		fprintf(stderr, "curpkv: the operation %s\n",
			res == SESSION_TIMEOUT
			    ? "got no answer (it may or may not have been applied)"
			    : "was refused");
		r->status = CLI_ERROR;
		break;
	}
	/* A curpho weak write completes on the bound replica; stay until a replica reports it
	 * executed (bounded by the reply timeout), so exiting cannot lose it. */
	if (r->weak && r->cmd.op != PROTO_OP_GET && r->cmd.op != PROTO_OP_SCAN &&
	    r->status == CLI_OK) {
		ev_timer_init(&r->settle, settle_cb, 0.001, 0.005);
		r->settle.data = r;
		ev_timer_start(r->loop, &r->settle);
		return;
	}
	ev_break(r->loop, EVBREAK_ALL);
}

static void settle_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct cli_run *r = w->data;
	(void)revents;
	struct session *s = cluster_session_get(r->cs);
	if (s == NULL || session_unsettled(s) == 0) {
		ev_timer_stop(loop, w);
		ev_break(loop, EVBREAK_ALL);
	}
}

static void session_ready(struct cluster_session *cs, void *arg)
{
	struct cli_run *r = arg;
	r->cs = cs;
	int64_t rc = r->weak ? cluster_session_submit_weak(cs, &r->cmd, op_done, r)
			     : cluster_session_submit(cs, &r->cmd, op_done, r);
	if (rc <= 0) {
		fprintf(stderr, "curpkv: cannot submit the operation\n");
		r->status = CLI_ERROR;
		ev_break(r->loop, EVBREAK_ALL);
	}
}

static void cluster_ready(struct cluster *cl, void *arg)
{
	struct cli_run *r = arg;
	struct cluster_session *cs;
	if (cluster_session_open(cl, session_ready, r, &cs) != 0) {
		r->status = CLI_ERROR;
		ev_break(r->loop, EVBREAK_ALL);
	}
}

_Static_assert(CLI_AUTH == CLUSTER_EXIT_AUTH, "one exit status for authentication failures");

static void auth_failed(struct cluster *cl, void *arg)
{
	struct cli_run *r = arg;
	(void)cl;
	fprintf(stderr, "curpkv: authentication failed: the cluster refused this conf's secret, or "
			"it has a secret and this conf none, or the other way round (secret, "
			"secretFile)\n");
	if (r->done)
		return; /* the operation itself went through (a replica refused later) */
	r->status = CLI_AUTH;
	ev_break(r->loop, EVBREAK_ALL);
}

/* Nothing answers at the master's address: say so at once rather than after the reply timeout
 * (which stays for a cluster that is up but does not answer). */
static void unreachable(struct cluster *cl, const char *host, uint16_t port, int err, void *arg)
{
	struct cli_run *r = arg;
	(void)cl;
	char why[128];
	snprintf(why, sizeof why, "%s", strerror(-err));
	why[0] = (char)tolower((unsigned char)why[0]); /* "connection refused" */
	fprintf(stderr, "curpkv: cannot reach the master at %s:%u: %s\n", host, port, why);
	r->status = CLI_ERROR;
	ev_break(r->loop, EVBREAK_ALL);
}

static void timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct cli_run *r = w->data;
	(void)revents;
	if (!r->done) {
		fprintf(stderr, "curpkv: no answer from the cluster within the reply timeout\n");
		r->status = CLI_ERROR;
	} else if (ev_is_active(&r->settle)) {
		fprintf(stderr,
			"curpkv: the weak write was acknowledged but no replica reported it "
			"executed within the reply timeout\n");
		r->status = CLI_ERROR;
	}
	ev_break(loop, EVBREAK_ALL);
}

int cli_main(const struct conf *conf, const struct conf_settings *s, const char *op, int argc,
	     char **argv, bool weak, bool hex)
{
	struct cli_run r;
	memset(&r, 0, sizeof r);
	r.status = CLI_ERROR;
	size_t want = !strcmp(op, "put") || !strcmp(op, "append") || !strcmp(op, "scan") ? 2 : 1;
	if (!strcmp(op, "get"))
		r.cmd.op = PROTO_OP_GET;
	else if (!strcmp(op, "put"))
		r.cmd.op = PROTO_OP_PUT;
	else if (!strcmp(op, "del"))
		r.cmd.op = PROTO_OP_DEL;
	else if (!strcmp(op, "scan"))
		r.cmd.op = PROTO_OP_SCAN;
	else if (!strcmp(op, "append"))
		r.cmd.op = PROTO_OP_APPEND;
	else {
		return CLI_USAGE;
	}
	if ((size_t)argc != want) {
		fprintf(stderr, "usage: curpkv %s -config FILE KEY%s\n", op,
			r.cmd.op == PROTO_OP_SCAN ? " COUNT"
			: want == 2		  ? " VALUE"
						  : "");
		return CLI_USAGE;
	}
	if (r.cmd.op == PROTO_OP_SCAN) {
		char *end;
		errno = 0;
		unsigned long long n = strtoull(argv[1], &end, 10);
		if (errno || *end || end == argv[1] || argv[1][0] == '-' || n < 1 ||
		    n > CLI_SCAN_MAX) {
			fprintf(stderr, "curpkv: scan COUNT must be 1..%u\n", CLI_SCAN_MAX);
			return CLI_USAGE;
		}
		r.cmd.scan_count = (uint32_t)n;
		want = 1; /* COUNT is not a value */
	}
	if (weak && s->protocol == CONF_PROTO_CURP) {
		fprintf(stderr,
			"curpkv: --weak: protocol curp has no weak operations (use curpho or "
			"curpht)\n");
		return CLI_USAGE;
	}
	if (r.cmd.op == PROTO_OP_APPEND && (weak || s->protocol != CONF_PROTO_CURP)) {
		fprintf(stderr, "curpkv: append is a strong operation of protocol curp only\n");
		return CLI_USAGE;
	}
	r.weak = weak;
	r.hex = hex;
	uint8_t *hkey = NULL, *hval = NULL; /* the decoded arguments with `hex` */
	size_t klen = strlen(argv[0]);
	size_t vlen = want == 2 ? strlen(argv[1]) : 0;
	int status = CLI_USAGE;
	if (hex) {
		long kl = unhex(argv[0], &hkey);
		long vl = want == 2 ? unhex(argv[1], &hval) : 0;
		if (kl < 0 || vl < 0) {
			fprintf(stderr,
				"curpkv: --hex: KEY%s must be an even number of hex digits\n",
				want == 2 ? " and VALUE" : "");
			goto out;
		}
		klen = (size_t)kl;
		vlen = (size_t)vl;
	}
	if (klen > s->max_key_bytes || vlen > s->max_value_bytes) {
		fprintf(stderr, "curpkv: key or value longer than maxKeyBytes/maxValueBytes\n");
		goto out;
	}
	r.cmd.key = hex ? hkey : (const uint8_t *)argv[0];
	r.cmd.klen = (uint32_t)klen;
	if (want == 2) {
		r.cmd.val = hex ? hval : (const uint8_t *)argv[1];
		r.cmd.vlen = (uint32_t)vlen;
	}
	status = CLI_ERROR;
	r.loop = ev_loop_new(EVFLAG_AUTO);
	if (r.loop == NULL)
		goto out;
	struct cluster *cl = NULL;
	struct cluster_options opt = {.on_ready = cluster_ready,
				      .on_auth_failed = auth_failed,
				      .on_unreachable = unreachable,
				      .arg = &r,
				      .window = 1};
	if (cluster_open(r.loop, conf, s, NULL, &opt, &cl) != 0) {
		fprintf(stderr, "curpkv: cannot reach the master of %s\n", conf->path);
		ev_loop_destroy(r.loop);
		goto out;
	}
	ev_timer_init(&r.timer, timeout_cb, s->reply_timeout_s, 0.);
	r.timer.data = &r;
	ev_timer_start(r.loop, &r.timer);
	ev_run(r.loop, 0);
	ev_timer_stop(r.loop, &r.timer);
	ev_timer_stop(r.loop, &r.settle);
	cluster_close(cl);
	ev_loop_destroy(r.loop);
	status = r.status;
out:
	free(hkey);
	free(hval);
	return status;
}
