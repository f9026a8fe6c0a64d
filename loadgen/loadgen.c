/* loadgen: the load generator: threads of sessions driving the cluster, the report. */
#include "loadgen/loadgen.h"

#include <ck_pr.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>

#include "cluster/cluster.h"
#include "common/clock.h"
#include "report/report.h"
#include "workload/workload.h"

#define HIST_BUCKETS 256 /* log2 buckets of 1/8 octave over microseconds: 1 us .. ~2^32 us */

struct lg;
struct lg_thread;

struct lg_op {
	struct lg_session *sess;
	bool used;
	bool warmup;
	enum workload_class cls;
	bool del; /* a write that is a DEL */
	uint64_t key;
	uint32_t scan_count; /* > 0: a SCAN */
	uint64_t local_seq;
	uint64_t t0;
};

/* A weak write's history line waits here until its session learned the slot that ordered it
 * (curpho learns it after completion: `ordered_ns` in the line, docs/conf.md), and an ordering
 * time learned before the completion waits for it. Indexed by cid seq: a session keeps fewer than
 * LG_ORDER_RING seqs outstanding (client/session.c's ring). */
#define LG_ORDER_RING 1024

struct lg_hrec {
	enum workload_class cls;
	bool del;
	uint64_t key;
	uint32_t scan_count;
	uint64_t local_seq;
	uint64_t t0, t1;
	enum session_result res;
};

struct lg_order {
	uint64_t seq;	     /* cid seq, 0 = free */
	uint64_t ordered_ns; /* 0 = not learned yet */
	bool waiting;	     /* rec is a completed weak write's line, not written yet */
	struct lg_hrec rec;
};

struct lg_session {
	struct lg_thread *t;
	struct cluster_session *cs;
	struct workload wl;
	uint64_t global; /* session index in the process */
	uint64_t issued; /* measured requests issued */
	bool warm;	 /* warm-up completed */
	bool done;	 /* stopped issuing and nothing in flight */
	bool stalled;	 /* the session refused a command (-EAGAIN): retry on the timer */
	uint32_t inflight;
	struct lg_op *ops;	/* window slots */
	uint8_t *val;		/* value buffer (commandSize) */
	struct lg_order *order; /* LG_ORDER_RING entries, with historyFile only */
};

struct lg_thread {
	struct lg *g;
	int idx;
	pthread_t th;
	struct ev_loop *loop;
	struct cluster *cl;
	struct lg_session *sess;
	int nsess;
	int ndone;
	struct report_lat lat;
	ev_timer watchdog; /* the cluster must become ready within replyTimeout */
	ev_timer progress; /* thread 0 only */
	ev_timer unstall;  /* re-issues for stalled sessions */
	ev_timer settle;   /* at the end: until curpho weak writes are reported executed */
	uint64_t settle_deadline_ns;
	uint64_t completed; /* ck_pr: measured completions */
	uint64_t first_ns, last_ns;
	uint64_t errors, timeouts;
	uint64_t unordered; /* weak writes whose line went out without ordered_ns */
	uint64_t paths[3];  /* measured strong completions by path (fast, slow, retry) */
	uint64_t dels[2];   /* measured DEL completions: strong, weak */
	bool failed;
	bool auth_failed; /* refused for authentication: the process exits CLI_AUTH */
	char why[256];
	struct common_logger log;
};

struct lg {
	const struct conf *conf;
	struct conf_settings s;
	const char *alias;
	const struct common_logger *log;
	uint32_t window;
	uint64_t seed;
	uint64_t deadline_ns; /* runTime: stop issuing after this (0 = reqs) */
	int nthreads;
	struct lg_thread *th;
	FILE *history;
	pthread_mutex_t history_lock;
	uint64_t hist[HIST_BUCKETS]; /* ck_pr: latency histogram for the progress line */
	uint64_t last_completed;
	/* The start gate: threads wait at it until every thread was created (GATE_OPEN: run), or
	 * one could not be (GATE_ABORT: return at once), so that none runs while the state they
	 * share is freed after a failed start. */
	pthread_mutex_t gate_lock;
	pthread_cond_t gate_cond;
	enum { GATE_WAIT, GATE_OPEN, GATE_ABORT } gate;
};

/* ---- latency histogram (progress line only; the report uses exact samples) ------------- */

static unsigned hist_bucket(double us)
{
	if (us < 1)
		return 0;
	double b = 8 * log2(us);
	return b >= HIST_BUCKETS - 1 ? HIST_BUCKETS - 1 : (unsigned)b;
}

static double hist_median_ms(uint64_t *hist)
{
	uint64_t total = 0, seen = 0;
	for (int i = 0; i < HIST_BUCKETS; i++)
		total += ck_pr_load_64(&hist[i]);
	if (total == 0)
		return 0;
	for (int i = 0; i < HIST_BUCKETS; i++) {
		seen += ck_pr_load_64(&hist[i]);
		if (seen * 2 >= total)
			return pow(2, (i + 0.5) / 8) / 1000.0;
	}
	return 0;
}

/* ---- history ---------------------------------------------------------------------------- */

/* The 8 key bytes of a workload key: big-endian, so byte order (a SCAN's order) is numeric
 * order and a SCAN of n keys from K covers K, K+1, ... as in the prototype. */
static void key_bytes(uint64_t k, uint8_t out[8])
{
	for (int i = 7; i >= 0; i--) {
		out[i] = (uint8_t)k;
		k >>= 8;
	}
}

static void hexs(FILE *f, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%02x", p[i]);
}

/* One line (CONF.md 5); ordered_ns > 0 adds the time a weak write's slot was learned. */
static void history_line(struct lg *g, struct lg_session *s, const struct lg_hrec *o,
			 const uint8_t *value, uint32_t vlen, uint64_t ordered_ns)
{
	enum session_result res = o->res;
	bool write = o->cls == WL_STRONG_WRITE || o->cls == WL_WEAK_WRITE;
	bool weak = o->cls == WL_WEAK_WRITE || o->cls == WL_WEAK_READ;
	bool failed = res == SESSION_FAILED || res == SESSION_CID_REUSED ||
		      res == SESSION_EXPIRED; /* not applied */
	const char *status = res == SESSION_TIMEOUT ? "unknown" : failed ? "fail" : "ok";
	uint8_t key[8];
	key_bytes(o->key, key);
	pthread_mutex_lock(&g->history_lock);
	FILE *f = g->history;
	fprintf(f, "{\"session\":%llu,\"seq\":%llu,\"op\":\"%s\",\"cons\":\"%s\",",
		(unsigned long long)s->global, (unsigned long long)o->local_seq,
		o->del			? "del"
		: write && g->s.appends ? "append"
		: write			? "put"
		: o->scan_count		? "scan"
					: "get",
		weak ? "weak" : "strong");
	if (o->scan_count)
		fprintf(f, "\"count\":%u,", o->scan_count);
	fputs("\"key\":\"", f);
	hexs(f, key, 8);
	fputs("\",\"value\":\"", f);
	if (write && !o->del) {
		workload_value(s->val, g->s.command_size, s->global, o->local_seq);
		hexs(f, s->val, g->s.command_size);
	}
	fputs("\",\"result\":", f);
	if (write || res == SESSION_TIMEOUT || failed) {
		fputs("\"\"", f);
	} else if (res == SESSION_NOT_FOUND) {
		fputs("null", f);
	} else {
		fputc('"', f);
		hexs(f, value, vlen);
		fputc('"', f);
	}
	fprintf(f, ",\"invoke_ns\":%llu,\"complete_ns\":%llu,\"status\":\"%s\"",
		(unsigned long long)o->t0, (unsigned long long)o->t1, status);
	if (ordered_ns)
		fprintf(f, ",\"ordered_ns\":%llu", (unsigned long long)ordered_ns);
	fputs("}\n", f);
	pthread_mutex_unlock(&g->history_lock);
}

/* Writes a waiting weak write's line (without ordered_ns when never learned) and frees e. */
static void order_flush(struct lg_session *s, struct lg_order *e)
{
	if (e->waiting) {
		if (e->ordered_ns == 0)
			s->t->unordered++;
		history_line(s->t->g, s, &e->rec, NULL, 0, e->ordered_ns);
	}
	memset(e, 0, sizeof *e);
}

/* cluster_order_cb: the session learned the slot of its command seq. */
static void on_order(void *arg, uint64_t seq, uint64_t slot)
{
	struct lg_session *s = arg;
	(void)slot;
	struct lg_order *e = &s->order[seq % LG_ORDER_RING];
	if (e->seq != seq)
		order_flush(s, e); /* (an older seq's waiting line, never ordered) */
	if (e->ordered_ns == 0) {
		e->seq = seq;
		e->ordered_ns = common_now_ns();
	}
	if (e->waiting)
		order_flush(s, e);
}

/* The history line of a completed operation: a weak write's waits for its ordering time. */
static void history_done(struct lg_session *s, const struct lg_hrec *rec, uint64_t seq,
			 const uint8_t *value, uint32_t vlen)
{
	if (rec->cls != WL_WEAK_WRITE || rec->res != SESSION_OK) {
		history_line(s->t->g, s, rec, value, vlen, 0);
		return;
	}
	struct lg_order *e = &s->order[seq % LG_ORDER_RING];
	if (e->seq != seq)
		order_flush(s, e);
	e->seq = seq;
	e->rec = *rec;
	e->waiting = true;
	if (e->ordered_ns)
		order_flush(s, e);
}

/* ---- one session ---------------------------------------------------------------------- */

static void issue(struct lg_session *s);

static uint32_t thread_unsettled(struct lg_thread *t)
{
	uint32_t n = 0;
	for (int i = 0; i < t->nsess; i++) {
		struct session *ps = t->sess[i].cs ? cluster_session_get(t->sess[i].cs) : NULL;
		if (ps)
			n += session_unsettled(ps);
	}
	return n;
}

/* Every session is done: curpho weak writes completed on one replica are re-sent until a replica
 * reports them executed, so the loop runs on until then (at most replyTimeout), as the CLI does:
 * closing earlier could lose them. */
static void settle_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct lg_thread *t = w->data;
	(void)revents;
	uint32_t n = thread_unsettled(t);
	if (n && common_now_ns() < t->settle_deadline_ns)
		return;
	if (n && !t->failed) {
		t->failed = true;
		snprintf(t->why, sizeof t->why,
			 "%u weak write(s) acknowledged but not reported executed within "
			 "replyTimeout",
			 n);
	}
	ev_timer_stop(loop, w);
	ev_break(loop, EVBREAK_ALL);
}

static void thread_session_done(struct lg_thread *t)
{
	if (++t->ndone < t->nsess)
		return;
	t->settle_deadline_ns = common_now_ns() + t->g->s.reply_timeout_s * 1000000000ull;
	ev_timer_init(&t->settle, settle_cb, 0., 0.005);
	t->settle.data = t;
	ev_timer_start(t->loop, &t->settle);
}

static void op_done(void *arg, uint64_t seq, enum session_result res, enum session_path path,
		    const uint8_t *value, uint32_t vlen)
{
	struct lg_op *o = arg;
	struct lg_session *s = o->sess;
	struct lg_thread *t = s->t;
	struct lg *g = t->g;
	uint64_t t1 = common_now_ns();
	o->used = false;
	s->inflight--;
	if (res == SESSION_TIMEOUT || res == SESSION_FAILED || res == SESSION_CID_REUSED ||
	    res == SESSION_EXPIRED) {
		if (res == SESSION_TIMEOUT)
			t->timeouts++;
		else
			t->errors++;
		if (!t->failed) {
			t->failed = true;
			snprintf(t->why, sizeof t->why, "session %llu: a request %s",
				 (unsigned long long)s->global,
				 res == SESSION_TIMEOUT	     ? "got no reply within replyTimeout"
				 : res == SESSION_CID_REUSED ? "was refused: its client id was "
							       "handed out twice (cid reused)"
				 : res == SESSION_EXPIRED    ? "was refused: its client id had "
							       "expired (clientLeaseMs)"
							     : "failed");
		}
	}
	if (o->warmup) {
		s->warm = true;
	} else {
		double ms = (double)(t1 - o->t0) / 1e6;
		if (res == SESSION_OK || res == SESSION_NOT_FOUND) {
			report_add(&t->lat, o->cls, ms);
			if (o->del)
				t->dels[o->cls == WL_WEAK_WRITE]++;
			if (path <= SESSION_PATH_RETRY)
				t->paths[path]++;
			ck_pr_inc_64(&g->hist[hist_bucket(ms * 1000)]);
			ck_pr_inc_64(&t->completed);
			t->last_ns = t1;
		}
		if (g->history) {
			struct lg_hrec rec = {.cls = o->cls,
					      .del = o->del,
					      .key = o->key,
					      .scan_count = o->scan_count,
					      .local_seq = o->local_seq,
					      .t0 = o->t0,
					      .t1 = t1,
					      .res = res};
			history_done(s, &rec, seq, value, vlen);
		}
	}
	if (t->failed && !s->done && s->inflight == 0) {
		s->done = true; /* a failed run stops issuing */
		thread_session_done(t);
		return;
	}
	issue(s);
}

static bool more_to_issue(const struct lg_session *s)
{
	const struct lg *g = s->t->g;
	if (s->t->failed)
		return false;
	if (g->deadline_ns)
		return common_now_ns() < g->deadline_ns;
	return s->issued < g->s.reqs;
}

static void submit(struct lg_session *s, struct lg_op *o, const struct workload_op *op)
{
	struct lg *g = s->t->g;
	uint8_t key[8];
	key_bytes(op->key, key);
	struct proto_cmd c = {.op = op->del	? PROTO_OP_DEL
				    : op->write ? PROTO_OP_PUT
						: PROTO_OP_GET,
			      .key = key,
			      .klen = 8};
	if (op->scan_count) {
		c.op = PROTO_OP_SCAN;
		c.scan_count = op->scan_count;
	}
	if (op->write && g->s.appends && !op->weak)
		c.op = PROTO_OP_APPEND; /* the exactly-once workload: a unique element */
	if (op->write && !op->del) {
		workload_value(s->val, g->s.command_size, s->global, o->local_seq);
		c.val = s->val;
		c.vlen = g->s.command_size;
	}
	o->used = true;
	o->cls = op->cls;
	o->del = op->del;
	o->key = op->key;
	o->scan_count = op->scan_count;
	o->t0 = common_now_ns();
	s->inflight++;
	int64_t rc = op->weak ? cluster_session_submit_weak(s->cs, &c, op_done, o)
			      : cluster_session_submit(s->cs, &c, op_done, o);
	if (rc == -EAGAIN && !o->warmup) {
		/* the session's window is full (HO weak writes not yet reported executed): not an
		 * error; this operation is dropped before it was issued and issuing resumes on the
		 * thread's timer */
		o->used = false;
		s->inflight--;
		s->issued--;
		s->stalled = true;
		if (!ev_is_active(&s->t->unstall))
			ev_timer_again(s->t->loop, &s->t->unstall);
		return;
	}
	if (rc <= 0) {
		o->used = false;
		s->inflight--;
		struct lg_thread *t = s->t;
		if (!t->failed) {
			t->failed = true;
			snprintf(t->why, sizeof t->why, "session %llu: submit failed (%lld)",
				 (unsigned long long)s->global, (long long)rc);
		}
	}
}

static void issue(struct lg_session *s)
{
	struct lg_thread *t = s->t;
	struct lg *g = t->g;
	if (!s->warm)
		return;
	while (s->inflight < g->window && more_to_issue(s)) {
		struct lg_op *o = NULL;
		for (uint32_t i = 0; i < g->window; i++)
			if (!s->ops[i].used) {
				o = &s->ops[i];
				break;
			}
		if (o == NULL)
			break;
		struct workload_op op;
		workload_next(&s->wl, &op);
		o->warmup = false;
		o->local_seq = ++s->issued;
		if (t->first_ns == 0)
			t->first_ns = common_now_ns();
		submit(s, o, &op);
		if (t->failed || s->stalled)
			break;
	}
	if (!s->done && s->inflight == 0 && !more_to_issue(s)) {
		s->done = true;
		thread_session_done(t);
	}
}

static void session_ready(struct cluster_session *cs, void *arg)
{
	struct lg_session *s = arg;
	(void)cs;
	/* Warm-up: one strong read, not measured (it pays for connection set-up). */
	struct workload_op op = {.weak = false, .write = false, .key = 0, .cls = WL_STRONG_READ};
	struct lg_op *o = &s->ops[0];
	o->warmup = true;
	o->local_seq = 0;
	submit(s, o, &op);
}

static void cluster_ready(struct cluster *cl, void *arg)
{
	struct lg_thread *t = arg;
	ev_timer_stop(t->loop, &t->watchdog);
	for (int i = 0; i < t->nsess; i++) {
		int rc = cluster_session_open(cl, session_ready, &t->sess[i], &t->sess[i].cs);
		if (rc == 0 && t->g->history)
			cluster_session_on_order(t->sess[i].cs, on_order, &t->sess[i]);
		if (rc != 0) {
			t->failed = true;
			snprintf(t->why, sizeof t->why, "cannot open a session: %s", strerror(-rc));
			ev_break(t->loop, EVBREAK_ALL);
			return;
		}
	}
}

static void auth_failed_cb(struct cluster *cl, void *arg)
{
	struct lg_thread *t = arg;
	(void)cl;
	t->failed = true;
	t->auth_failed = true;
	snprintf(t->why, sizeof t->why,
		 "authentication failed: check that secret/secretFile are the cluster's");
	ev_break(t->loop, EVBREAK_ALL);
}

static void watchdog_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct lg_thread *t = w->data;
	(void)revents;
	t->failed = true;
	snprintf(t->why, sizeof t->why, "the cluster did not become ready within %u s",
		 t->g->s.reply_timeout_s);
	ev_break(loop, EVBREAK_ALL);
}

static void progress_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct lg *g = w->data;
	(void)loop;
	(void)revents;
	uint64_t total = 0;
	for (int i = 0; i < g->nthreads; i++)
		total += ck_pr_load_64(&g->th[i].completed);
	fprintf(stderr, "progress: %llu ops in the last second, %llu total, median %.2fms\n",
		(unsigned long long)(total - g->last_completed), (unsigned long long)total,
		hist_median_ms(g->hist));
	g->last_completed = total;
}

static void unstall_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct lg_thread *t = w->data;
	bool any = false;
	for (int i = 0; i < t->nsess; i++) {
		struct lg_session *s = &t->sess[i];
		if (!s->stalled)
			continue;
		s->stalled = false;
		issue(s);
		if (s->stalled)
			any = true;
	}
	if (!any)
		ev_timer_stop(loop, w);
}

/* Waits at the start gate; true if the thread is to run. */
static bool gate_pass(struct lg *g)
{
	pthread_mutex_lock(&g->gate_lock);
	while (g->gate == GATE_WAIT)
		pthread_cond_wait(&g->gate_cond, &g->gate_lock);
	bool run = g->gate == GATE_OPEN;
	pthread_mutex_unlock(&g->gate_lock);
	return run;
}

/* Opens (GATE_OPEN) or aborts (GATE_ABORT) the start gate for every thread waiting at it. */
static void gate_set(struct lg *g, int state)
{
	pthread_mutex_lock(&g->gate_lock);
	g->gate = state;
	pthread_cond_broadcast(&g->gate_cond);
	pthread_mutex_unlock(&g->gate_lock);
}

static void *thread_main(void *arg)
{
	struct lg_thread *t = arg;
	struct lg *g = t->g;
	if (!gate_pass(g))
		return NULL; /* another thread could not start: nothing was done */
	struct cluster_options opt = {.on_ready = cluster_ready,
				      .on_auth_failed = auth_failed_cb,
				      .arg = t,
				      .log = &t->log,
				      .window = g->window};
	int rc = cluster_open(t->loop, g->conf, &g->s, g->alias, &opt, &t->cl);
	if (rc != 0) {
		t->failed = true;
		snprintf(t->why, sizeof t->why, "cannot reach the master: %s", strerror(-rc));
		return NULL;
	}
	ev_timer_init(&t->watchdog, watchdog_cb, g->s.reply_timeout_s, 0.);
	t->watchdog.data = t;
	ev_init(&t->unstall, unstall_cb);
	t->unstall.repeat = 0.001;
	t->unstall.data = t;
	ev_timer_start(t->loop, &t->watchdog);
	if (t->idx == 0) {
		ev_timer_init(&t->progress, progress_cb, 1.0, 1.0);
		t->progress.data = g;
		ev_timer_start(t->loop, &t->progress);
	}
	ev_run(t->loop, 0);
	ev_timer_stop(t->loop, &t->watchdog);
	ev_timer_stop(t->loop, &t->progress);
	ev_timer_stop(t->loop, &t->unstall);
	ev_timer_stop(t->loop, &t->settle);
	for (int i = 0; g->history && i < t->nsess; i++)
		for (int k = 0; k < LG_ORDER_RING; k++)
			order_flush(&t->sess[i], &t->sess[i].order[k]);
	return NULL;
}

/* ---- the process ------------------------------------------------------------------------ */

static int online_cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (int)n : 1;
}

/* Refuses settings the workload cannot run with (the reason is logged). Returns 0 or -EINVAL. */
static int check_settings(const struct conf_settings *set, const struct common_logger *log)
{
	if (set->command_size > set->max_value_bytes) {
		LOG_ERROR(log, "commandSize %u exceeds maxValueBytes %u", set->command_size,
			  set->max_value_bytes);
		return -EINVAL;
	}
	if (set->appends && set->protocol != CONF_PROTO_CURP) {
		LOG_ERROR(log,
			  "appends: APPEND is an operation of protocol curp only (docs/conf.md)");
		return -EINVAL;
	}
	if (set->appends && set->deletes > 0) {
		LOG_ERROR(log, "deletes: %u with appends: true: set one of them (docs/conf.md)",
			  set->deletes);
		return -EINVAL;
	}
	if (set->appends && set->command_size < CONF_APPEND_MIN) {
		LOG_ERROR(log, "appends: commandSize %u is below %d", set->command_size,
			  CONF_APPEND_MIN);
		return -EINVAL;
	}
	return 0;
}

/* Sets up thread i of g: its logger, loop and sessions (`sessions` in the process, which is
 * the rank-th client of the conf). Returns 0 or -ENOMEM (lg_free frees what was made). */
static int thread_init(struct lg *g, int i, uint32_t sessions, uint64_t rank)
{
	struct lg_thread *t = &g->th[i];
	t->g = g;
	t->idx = i;
	common_logger_init(&t->log, g->log->out, g->log->level, g->log->name);
	t->nsess = (int)(sessions / (uint32_t)g->nthreads +
			 ((uint32_t)i < sessions % (uint32_t)g->nthreads ? 1 : 0));
	t->sess = calloc((size_t)t->nsess, sizeof *t->sess);
	t->loop = ev_loop_new(EVFLAG_AUTO);
	if (t->sess == NULL || t->loop == NULL)
		return -ENOMEM;
	for (int k = 0; k < t->nsess; k++) {
		struct lg_session *s = &t->sess[k];
		s->t = t;
		s->global = rank * sessions + (uint64_t)(i + k * g->nthreads);
		workload_init(&s->wl, &g->s, s->global, g->seed);
		s->ops = calloc(g->window, sizeof *s->ops);
		s->val = malloc(g->s.command_size ? g->s.command_size : 1);
		if (g->history)
			s->order = calloc(LG_ORDER_RING, sizeof *s->order);
		if (s->ops == NULL || s->val == NULL || (g->history && s->order == NULL))
			return -ENOMEM;
		for (uint32_t w = 0; w < g->window; w++)
			s->ops[w].sess = s;
	}
	return 0;
}

/* Fills g for a run of conf_settings_threads(set) sessions on min(sessions, clientLoops or
 * online CPUs) threads, opening the history file if any. Returns 0 or a negative errno (logged;
 * lg_free frees what was made). */
static int lg_init(struct lg *g, const struct conf *conf, const struct conf_settings *set,
		   const char *alias, const struct common_logger *log)
{
	g->conf = conf;
	g->s = *set;
	g->alias = alias ? alias : "client0";
	g->log = log;
	g->window = conf_settings_window(set);
	g->seed = set->seed_set ? set->seed : common_wall_ns();
	pthread_mutex_init(&g->history_lock, NULL);
	pthread_mutex_init(&g->gate_lock, NULL);
	pthread_cond_init(&g->gate_cond, NULL);
	uint32_t sessions = conf_settings_threads(set);
	/* clientLoops, or by default one loop per CPU (measured: docs/benchmarks.md, "Client
	 * loops"); never more loops than sessions */
	uint32_t loops = set->client_loops ? set->client_loops : (uint32_t)online_cpus();
	g->nthreads = (int)(sessions < loops ? sessions : loops);
	/* Process rank among the conf's clients keeps session keys disjoint across processes. */
	uint64_t rank = 0;
	const struct conf_host *me = conf_find_client(conf, g->alias);
	if (me)
		rank = (uint64_t)me->id;
	if (set->history_file[0]) {
		g->history = fopen(set->history_file, "w");
		if (g->history == NULL) {
			int rc = -errno;
			LOG_ERROR(log, "historyFile %s: %s", set->history_file, strerror(-rc));
			return rc;
		}
	}
	g->th = calloc((size_t)g->nthreads, sizeof *g->th);
	if (g->th == NULL)
		return -ENOMEM;
	for (int i = 0; i < g->nthreads; i++) {
		int rc = thread_init(g, i, sessions, rank);
		if (rc != 0)
			return rc;
	}
	LOG_INFO(log, "%s: %u sessions on %d loops, window %u, %s", g->alias, sessions, g->nthreads,
		 g->window, g->s.run_time_ms ? "timed run" : "request count");
	return 0;
}

/* Frees everything lg_init made (whatever it got to). No thread of g may be running. */
static void lg_free(struct lg *g)
{
	for (int i = 0; g->th && i < g->nthreads; i++) {
		struct lg_thread *t = &g->th[i];
		if (t->cl)
			cluster_close(t->cl);
		for (int k = 0; t->sess && k < t->nsess; k++) {
			free(t->sess[k].ops);
			free(t->sess[k].val);
			free(t->sess[k].order);
		}
		free(t->sess);
		report_free(&t->lat);
		if (t->loop)
			ev_loop_destroy(t->loop);
	}
	free(g->th);
	if (g->history)
		fclose(g->history);
	pthread_cond_destroy(&g->gate_cond);
	pthread_mutex_destroy(&g->gate_lock);
	pthread_mutex_destroy(&g->history_lock);
}

static int create_thread(void *ctx, pthread_t *th, void *(*fn)(void *), void *arg)
{
	(void)ctx;
	return pthread_create(th, NULL, fn, arg);
}

/* Starts g's threads and waits until every one has returned. They wait at the start gate until
 * all of them were created; if one cannot be (logged), the gate sends those already started
 * back at once, and they are joined too: no thread is left running when the caller frees g
 * (until 2026-12 a failed pthread_create freed the state of running threads under them).
 * Returns 0, or a thread creation's error (a negative errno). */
static int run_threads(struct lg *g, const struct loadgen_hooks *hooks)
{
	int (*create)(void *, pthread_t *, void *(*)(void *), void *) =
	    hooks && hooks->thread_create ? hooks->thread_create : create_thread;
	void *ctx = hooks ? hooks->ctx : NULL;
	int started = 0, rc = 0;
	if (g->s.run_time_ms)
		g->deadline_ns = common_now_ns() + g->s.run_time_ms * 1000000ull;
	for (; started < g->nthreads; started++) {
		int err = create(ctx, &g->th[started].th, thread_main, &g->th[started]);
		if (err != 0) {
			rc = -err;
			LOG_ERROR(g->log, "cannot start load thread %d of %d: %s", started + 1,
				  g->nthreads, strerror(err));
			break;
		}
	}
	gate_set(g, rc == 0 ? GATE_OPEN : GATE_ABORT);
	for (int i = 0; i < started; i++)
		pthread_join(g->th[i].th, NULL);
	return rc;
}

/* Merges the threads' figures, prints the report on stdout and writes
 * latencies-<alias>.json. Returns the exit status (loadgen_main's). */
static int report(struct lg *g)
{
	struct report_lat all;
	memset(&all, 0, sizeof all);
	struct report_totals tot;
	memset(&tot, 0, sizeof tot);
	uint64_t first = UINT64_MAX, last = 0;
	bool failed = false, auth = false;
	uint64_t unordered = 0;
	for (int i = 0; i < g->nthreads; i++) {
		struct lg_thread *t = &g->th[i];
		report_merge(&all, &t->lat);
		if (t->first_ns && t->first_ns < first)
			first = t->first_ns;
		if (t->last_ns > last)
			last = t->last_ns;
		tot.errors += t->errors;
		unordered += t->unordered;
		tot.timeouts += t->timeouts;
		/* the measured operations only (not the warm-up), so the paths add up to the
		 * strong operations of the report */
		tot.fast += t->paths[SESSION_PATH_FAST];
		tot.slow += t->paths[SESSION_PATH_SLOW];
		tot.retry += t->paths[SESSION_PATH_RETRY];
		tot.dels_strong += t->dels[0];
		tot.dels_weak += t->dels[1];
		for (int k = 0; k < t->nsess; k++) {
			struct session *ps =
			    t->sess[k].cs ? cluster_session_get(t->sess[k].cs) : NULL;
			if (ps) {
				struct session_stats st;
				session_get_stats(ps, &st);
				tot.weak += st.weak;
				tot.weak_waits += st.weak_waits;
				tot.ho_check_failed += st.ho_check_failed;
				tot.rebinds += st.rebinds;
				int b = session_bound(ps);
				tot.n_sessions++;
				if (b >= 0 && b < REPORT_MAX_REPLICAS)
					tot.bound_per[b]++;
				if (tot.n_bound < REPORT_MAX_BOUND) {
					tot.bound[tot.n_bound] = b;
					tot.bound_rtt_ms[tot.n_bound] =
					    (double)session_rtt_ns(ps, b) / 1e6;
					tot.n_bound++;
				}
			}
		}
		if (t->failed) {
			failed = true;
			auth = auth || t->auth_failed;
			LOG_ERROR(g->log, "%s", t->why);
		}
	}
	if (unordered)
		LOG_INFO(g->log,
			 "history: %llu weak write(s) whose slot was never learned (no ordered_ns)",
			 (unsigned long long)unordered);
	tot.duration_s = last > first ? (double)(last - first) / 1e9 : 0;
	tot.weak_protocol = g->s.protocol != CONF_PROTO_CURP;
	tot.n_replicas = (uint32_t)g->conf->n_replicas;
	tot.deletes = g->s.deletes > 0;
	report_sort(&all);
	report_print(stdout, &all, &tot);
	fflush(stdout);
	char path[300];
	snprintf(path, sizeof path, "latencies-%s.json", g->alias);
	int rc = report_write_json(path, &all);
	if (rc != 0)
		LOG_ERROR(g->log, "cannot write %s: %s", path, strerror(-rc));
	report_free(&all);
	return auth ? CLUSTER_EXIT_AUTH : failed || rc != 0 ? 1 : 0;
}

int loadgen_run(const struct conf *conf, const struct conf_settings *set, const char *alias,
		const struct common_logger *log, const struct loadgen_hooks *hooks)
{
	if (check_settings(set, log) != 0)
		return 1;
	struct lg g;
	memset(&g, 0, sizeof g);
	int status = 1;
	if (lg_init(&g, conf, set, alias, log) == 0 && run_threads(&g, hooks) == 0)
		status = report(&g);
	lg_free(&g);
	return status;
}

int loadgen_main(const struct conf *conf, const struct conf_settings *set, const char *alias,
		 const struct common_logger *log)
{
	return loadgen_run(conf, set, alias, log, NULL);
}
