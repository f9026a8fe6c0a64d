/* bench/bench_churn: many short-lived clients (issue 17 item 3, scripts/client-churn.sh): each
 * logical client takes a client id from the master, writes once and is never heard from again.
 * K sessions run at once; a session serves its next client under a new id on the same
 * connections (a gateway), or, every R-th client, on new connections (a process that comes and
 * goes). Keys are few (64), so the replicas' memory is their client records, not the data.
 *
 *   bench/bench_churn -config FILE [-alias A] [-clients N] [-sessions K] [-reconnect R]
 *
 * Prints a line a second ("t=S clients D of N, ids I, rate C/s, errors E") and exits 0 once N
 * clients wrote, 1 on an error (a write refused or without an answer), 2 on a usage error. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>

#include "cluster/cluster.h"
#include "common/clock.h"
#include "common/log.h"
#include "conf/conf.h"

#define MAX_SESSIONS 1024

struct churn;

/* One session slot: it writes for one logical client, then moves on to the next. */
struct slot {
	struct churn *ch;
	struct cluster_session *cs;
	ev_timer kick;	 /* the next step, outside the session's callbacks */
	uint32_t served; /* clients served on the current connections */
	bool busy;	 /* a write in flight */
	bool fresh_id;	 /* asked for a new id (the next submit waits for it) */
	char key[16];
};

struct churn {
	struct ev_loop *loop;
	struct cluster *cl;
	uint64_t clients, started, done, errors, reconnects, new_ids;
	uint32_t nsess, reconnect;
	struct slot slots[MAX_SESSIONS];
	ev_timer report;
	uint64_t t0_ns, last_done;
	const struct common_logger *log;
};

static void slot_next(struct slot *s);

static void kick_soon(struct slot *s, double after)
{
	ev_timer_stop(s->ch->loop, &s->kick);
	ev_timer_set(&s->kick, after, 0.);
	ev_timer_start(s->ch->loop, &s->kick);
}

static void write_done(void *arg, uint64_t seq, enum session_result res, enum session_path path,
		       const uint8_t *value, uint32_t vlen)
{
	struct slot *s = arg;
	(void)seq;
	(void)path;
	(void)value;
	(void)vlen;
	s->busy = false;
	s->ch->done++;
	if (res != SESSION_OK) {
		s->ch->errors++;
		fprintf(stderr, "churn: a write ended %d (client %" PRIu64 ")\n", (int)res,
			cluster_session_client_id(s->cs));
	}
	kick_soon(s, 0.);
}

static void session_ready(struct cluster_session *cs, void *arg)
{
	struct slot *s = arg;
	(void)cs;
	kick_soon(s, 0.);
}

static void open_session(struct slot *s)
{
	s->served = 0;
	s->fresh_id = false;
	if (cluster_session_open(s->ch->cl, session_ready, s, &s->cs) != 0) {
		fprintf(stderr, "churn: cannot open a session\n");
		s->cs = NULL;
		kick_soon(s, 0.1);
	}
}

/* The next step of a slot: a new logical client (a new id, or new connections), then its one
 * write. */
static void slot_next(struct slot *s)
{
	struct churn *ch = s->ch;
	if (s->busy)
		return;
	if (s->cs == NULL) {
		open_session(s);
		return;
	}
	if (!cluster_session_ready(s->cs))
		return; /* (session_ready kicks it) */
	if (s->served > 0 && !s->fresh_id) {
		/* the previous client is done: it is never heard from again */
		if (ch->started >= ch->clients)
			return;
		if (ch->reconnect && s->served % ch->reconnect == 0) {
			cluster_session_close(s->cs);
			s->cs = NULL;
			ch->reconnects++;
			open_session(s);
			return;
		}
		int rc = cluster_session_new_id(s->cs);
		if (rc == -EBUSY || rc == -EAGAIN) {
			kick_soon(s, 0.001);
			return;
		}
		if (rc != 0) {
			fprintf(stderr, "churn: no new id: %s\n", strerror(-rc));
			ch->errors++;
			return;
		}
		ch->new_ids++;
		s->fresh_id = true;
	}
	if (ch->started >= ch->clients)
		return;
	snprintf(s->key, sizeof s->key, "churn-%02u", (unsigned)(ch->started % 64));
	static const char val[] = "a value of 32 bytes for a client";
	struct proto_cmd cmd = {.op = PROTO_OP_PUT,
				.key = (const uint8_t *)s->key,
				.klen = (uint32_t)strlen(s->key),
				.val = (const uint8_t *)val,
				.vlen = (uint32_t)(sizeof val - 1)};
	int64_t seq = cluster_session_submit(s->cs, &cmd, write_done, s);
	if (seq == -EAGAIN) {
		kick_soon(s, 0.001); /* the new id is on its way */
		return;
	}
	if (seq <= 0) {
		fprintf(stderr, "churn: submit: %s\n", strerror((int)-seq));
		ch->errors++;
		return;
	}
	s->busy = true;
	s->fresh_id = false;
	s->served++;
	ch->started++;
}

static void kick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	slot_next(w->data);
}

static void report_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct churn *ch = w->data;
	(void)revents;
	double t = (double)(common_now_ns() - ch->t0_ns) / 1e9;
	printf("t=%.0f clients %" PRIu64 " of %" PRIu64 ", %" PRIu64 " new ids, %" PRIu64
	       " reconnects, rate %" PRIu64 "/s, errors %" PRIu64 "\n",
	       t, ch->done, ch->clients, ch->new_ids, ch->reconnects, ch->done - ch->last_done,
	       ch->errors);
	fflush(stdout);
	ch->last_done = ch->done;
	if (ch->done >= ch->clients || ch->errors > 0)
		ev_break(loop, EVBREAK_ALL);
}

static void cluster_ready(struct cluster *cl, void *arg)
{
	struct churn *ch = arg;
	(void)cl;
	ch->t0_ns = common_now_ns();
	for (uint32_t i = 0; i < ch->nsess; i++)
		slot_next(&ch->slots[i]);
}

static int usage(const char *prog)
{
	fprintf(stderr,
		"usage: %s -config FILE [-alias A] [-clients N] [-sessions K] [-reconnect R]\n",
		prog);
	return 2;
}

int main(int argc, char **argv)
{
	const char *conf_path = NULL, *alias = NULL;
	static struct churn ch = {.clients = 100000, .nsess = 32, .reconnect = 10};
	for (int i = 1; i < argc; i++) {
		if (i + 1 >= argc)
			return usage(argv[0]);
		const char *v = argv[++i];
		if (!strcmp(argv[i - 1], "-config"))
			conf_path = v;
		else if (!strcmp(argv[i - 1], "-alias"))
			alias = v;
		else if (!strcmp(argv[i - 1], "-clients"))
			ch.clients = strtoull(v, NULL, 10);
		else if (!strcmp(argv[i - 1], "-sessions"))
			ch.nsess = (uint32_t)strtoul(v, NULL, 10);
		else if (!strcmp(argv[i - 1], "-reconnect"))
			ch.reconnect = (uint32_t)strtoul(v, NULL, 10);
		else
			return usage(argv[0]);
	}
	if (conf_path == NULL || ch.clients == 0 || ch.nsess == 0 || ch.nsess > MAX_SESSIONS)
		return usage(argv[0]);
	struct conf *conf = NULL;
	struct conf_diags d = {0};
	struct conf_settings set;
	int rc = conf_load(conf_path, &conf, &d);
	if (rc == 0)
		rc = conf_settings_for(conf, alias, &set, &d);
	conf_diags_print(&d, stderr);
	conf_diags_free(&d);
	if (rc != 0) {
		conf_free(conf);
		return 2;
	}
	ch.loop = ev_default_loop(0);
	for (uint32_t i = 0; i < ch.nsess; i++) {
		struct slot *s = &ch.slots[i];
		s->ch = &ch;
		ev_timer_init(&s->kick, kick_cb, 0., 0.);
		s->kick.data = s;
	}
	struct cluster_options opt = {.on_ready = cluster_ready, .arg = &ch, .window = 1};
	rc = cluster_open(ch.loop, conf, &set, alias, &opt, &ch.cl);
	if (rc != 0) {
		fprintf(stderr, "churn: cannot open the cluster: %s\n", strerror(-rc));
		conf_free(conf);
		return 1;
	}
	ev_timer_init(&ch.report, report_cb, 1., 1.);
	ch.report.data = &ch;
	ev_timer_start(ch.loop, &ch.report);
	ev_run(ch.loop, 0);
	for (uint32_t i = 0; i < ch.nsess; i++)
		ev_timer_stop(ch.loop, &ch.slots[i].kick);
	ev_timer_stop(ch.loop, &ch.report);
	cluster_close(ch.cl);
	conf_free(conf);
	return ch.errors > 0 || ch.done < ch.clients ? 1 : 0;
}
