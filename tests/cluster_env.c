/* tests/cluster_env: the session driver and the replicas' checks of the system tests (see
 * tests/cluster_env.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/rng.h"
#include "tests/cluster_env.h"

uint64_t ce_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t total_ops(const struct ce_run *r)
{
	return r->cfg.per_session * (uint64_t)r->cfg.sessions;
}

/* The key's 8 bytes: the salt, the session's own range (own keys), the key. */
static uint64_t key_bytes(const struct ce_run *r, int sess, uint32_t key)
{
	uint64_t owner = r->cfg.shared_keys ? 0 : (uint64_t)sess + 1;
	return r->cfg.key_salt << 48 | owner << 32 | key;
}

/* ---- the fault ----------------------------------------------------------------------------- */

static void fault_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct ce_run *r = w->data;
	const struct ce_fault *f = r->cfg.fault;
	(void)revents;
	if (!r->fault_started) {
		/* the first step, by at_s or by at_ops: the other one no longer starts it */
		r->fault_started = true;
		ev_timer_stop(loop, w);
	}
	if (f->kill9) {
		r->killed_ns = ce_now_ns();
		proc_signal(f->p, SIGKILL);
		r->kills++;
		return;
	}
	if (f->kill_port) {
		char cmd[160];
		snprintf(cmd, sizeof cmd, "ss -K '( sport = :%u or dport = :%u )' >/dev/null 2>&1",
			 (unsigned)f->kill_port, (unsigned)f->kill_port);
		if (system(cmd) == 0 && r->kills++ == 0)
			r->killed_ns = ce_now_ns();
		if (++r->kill_rounds < f->kill_times) {
			ev_timer_set(w, f->for_s, 0.0);
			ev_timer_start(loop, w);
		}
		return;
	}
	if (!r->stopped) {
		if (f->on_cmd) {
			if (system(f->on_cmd) == 0)
				r->kills++;
		} else {
			proc_signal(f->p, SIGSTOP);
		}
		r->stopped = true;
		ev_timer_set(w, f->for_s, 0.0);
		ev_timer_start(loop, w);
		return;
	}
	if (f->on_cmd) {
		if (system(f->off_cmd) != 0)
			fprintf(stderr, "partition: '%s' failed\n", f->off_cmd);
	} else {
		proc_signal(f->p, SIGCONT);
	}
	r->stopped = false;
}

/* The run ended first: never leave a process stopped or a partition on. */
static void fault_undo(struct ce_run *r)
{
	const struct ce_fault *f = r->cfg.fault;
	ev_timer_stop(r->loop, &r->fault_t);
	if (r->stopped && f->on_cmd) {
		if (system(f->off_cmd) != 0)
			fprintf(stderr, "partition: '%s' failed\n", f->off_cmd);
	} else if (r->stopped) {
		proc_signal(f->p, SIGCONT);
	}
	r->stopped = false;
}

/* ---- the sessions ------------------------------------------------------------------------- */

static void next(struct ce_sess *s);

static void done_cb(void *arg, uint64_t seq, enum session_result res, enum session_path path,
		    const uint8_t *value, uint32_t vlen)
{
	struct ce_sess *s = arg;
	struct ce_run *r = s->r;
	struct ce_op *o = &r->ops[s->by_seq[seq]];
	o->complete_ns = ce_now_ns();
	o->done = true;
	o->res = (int)res;
	o->path = (int)path;
	s->completed++;
	r->done_total++;
	if (o->after_fault && r->first_after_ns == 0)
		r->first_after_ns = o->complete_ns;
	if (res != SESSION_OK && res != SESSION_NOT_FOUND) {
		r->errors++;
		fprintf(stderr, "session %d seq %llu: result %d\n", s->id, (unsigned long long)seq,
			res);
	} else if (o->op == PROTO_OP_GET) {
		unsigned id = 0;
		char buf[32];
		if (res == SESSION_OK) {
			id = UINT32_MAX;
			if (vlen > 0 && vlen < sizeof buf) {
				memcpy(buf, value, vlen);
				buf[vlen] = 0;
				if (sscanf(buf, "v%u", &id) != 1 || id == 0)
					id = UINT32_MAX;
			}
		}
		o->val = id;
		/* own keys, one operation at a time: the session's last write of the key */
		if (!r->cfg.shared_keys && id != s->model[o->key]) {
			r->errors++;
			fprintf(stderr, "session %d key %u: got '%.*s', want v%u\n", s->id, o->key,
				(int)vlen, value ? (const char *)value : "", s->model[o->key]);
		}
	} else if (!r->cfg.shared_keys) {
		s->model[o->key] = o->op == PROTO_OP_PUT ? o->val : 0;
	}
	const struct ce_fault *f = r->cfg.fault;
	if (f && f->at_ops && r->done_total == f->at_ops && !r->fault_started)
		fault_cb(r->loop, &r->fault_t, 0);
	if (!r->early_taken && r->done_total >= CE_RSS_EARLY_OPS) {
		for (int i = 0; i < r->cfg.nprobe; i++)
			r->rss_early[i] = proc_rss_kib(&r->cfg.probe[i]);
		r->early_taken = true;
	}
	next(s);
	if (r->done_total == total_ops(r))
		ev_break(r->loop, EVBREAK_ALL);
}

static void ordered_cb(void *arg, uint64_t seq, uint64_t slot)
{
	struct ce_sess *s = arg;
	if (seq == 0 || seq > s->submitted)
		return;
	struct ce_op *o = &s->r->ops[s->by_seq[seq]];
	if (o->slot == UINT64_MAX) {
		o->slot = slot;
		o->slot_ns = ce_now_ns();
	} else if (o->slot != slot) {
		fprintf(stderr, "session %d seq %llu ordered twice: slots %llu and %llu\n", s->id,
			(unsigned long long)seq, (unsigned long long)o->slot,
			(unsigned long long)slot);
		s->r->errors++;
	}
}

/* Submits the session's next operation (drawn now, or the one it refused last time). */
static void next(struct ce_sess *s)
{
	struct ce_run *r = s->r;
	if (s->submitted >= r->cfg.per_session)
		return;
	if (!s->pending) {
		uint32_t idx = r->n_ops++;
		struct ce_op *o = &r->ops[idx];
		o->sess = s->id;
		o->key = (uint32_t)common_rng_below(&s->rng, r->cfg.keys);
		o->weak = r->cfg.weak_pct && common_rng_below(&s->rng, 100) < r->cfg.weak_pct;
		uint64_t coin = common_rng_below(&s->rng, 100);
		o->op = coin < r->cfg.put_pct			 ? PROTO_OP_PUT
			: coin < r->cfg.put_pct + r->cfg.del_pct ? PROTO_OP_DEL
								 : PROTO_OP_GET;
		o->val = o->op == PROTO_OP_PUT ? idx + 1 : 0;
		o->slot = UINT64_MAX;
		s->pending = true;
		s->pend_idx = idx;
	}
	uint32_t idx = s->pend_idx;
	struct ce_op *o = &r->ops[idx];
	char val[24];
	snprintf(val, sizeof val, "v%u", idx + 1);
	uint64_t key = key_bytes(r, s->id, o->key);
	struct proto_cmd c = {.op = o->op, .key = (const uint8_t *)&key, .klen = 8};
	if (o->op == PROTO_OP_PUT) {
		c.val = (const uint8_t *)val;
		c.vlen = (uint32_t)strlen(val);
	}
	o->invoke_ns = ce_now_ns();
	o->after_fault = r->killed_ns != 0;
	int64_t seq = o->weak ? cluster_session_submit_weak(s->cs, &c, done_cb, s)
			      : cluster_session_submit(s->cs, &c, done_cb, s);
	if (seq == -EAGAIN) {
		/* (curpho: a write the session read is not ordered yet) the same operation again
		 * in a millisecond */
		s->stalls++;
		ev_timer_set(&s->retry, 0.001, 0.0);
		ev_timer_start(r->loop, &s->retry);
		return;
	}
	s->pending = false;
	if (seq <= 0) {
		fprintf(stderr, "session %d: submit failed: %lld\n", s->id, (long long)seq);
		r->failed = true;
		ev_break(r->loop, EVBREAK_ALL);
		return;
	}
	r->submitted_after += o->after_fault;
	o->seq = (uint64_t)seq;
	s->by_seq[seq] = idx;
	s->submitted++;
}

static void retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	next(w->data);
}

static void session_ready(struct cluster_session *cs, void *arg)
{
	struct ce_sess *s = arg;
	cluster_session_on_order(cs, ordered_cb, s);
	next(s);
}

static void cluster_ready(struct cluster *cl, void *arg)
{
	struct ce_run *r = arg;
	for (int i = 0; i < r->cfg.sessions; i++) {
		int rc = cluster_session_open(cl, session_ready, &r->s[i], &r->s[i].cs);
		if (rc != 0) {
			fprintf(stderr, "session open failed: %d\n", rc);
			r->failed = true;
			ev_break(r->loop, EVBREAK_ALL);
			return;
		}
	}
}

static void watchdog_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct ce_run *r = w->data;
	(void)revents;
	fprintf(stderr, "watchdog: %llu of %llu operations done (draining %d)\n",
		(unsigned long long)r->done_total, (unsigned long long)total_ops(r), r->draining);
	for (uint32_t i = 0; i < r->n_ops && r->cfg.drain_slots; i++) {
		const struct ce_op *o = &r->ops[i];
		if (o->op != PROTO_OP_GET && o->slot == UINT64_MAX)
			fprintf(stderr,
				"  not ordered: op %u session %d seq %llu %s write, done %d\n", i,
				o->sess, (unsigned long long)o->seq, o->weak ? "weak" : "strong",
				o->done);
	}
	r->failed = true;
	ev_break(loop, EVBREAK_ALL);
}

/* After the last completion (drain_slots): every write's slot known. */
static void drain_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct ce_run *r = w->data;
	(void)revents;
	for (uint32_t i = 0; i < r->n_ops; i++)
		if (r->ops[i].op != PROTO_OP_GET && r->ops[i].slot == UINT64_MAX)
			return;
	ev_break(loop, EVBREAK_ALL);
}

struct ce_cfg ce_strong_cfg(uint64_t per_session, uint64_t seed, struct cluster_env *e, int nprobe)
{
	return (struct ce_cfg){.sessions = CE_STRONG_SESSIONS,
			       .per_session = per_session,
			       .keys = 256,
			       .put_pct = 45,
			       .del_pct = 5,
			       .seed = seed,
			       .watchdog_s = 120.0,
			       .probe = e->replicas,
			       .nprobe = nprobe};
}

struct ce_run *ce_drive(const struct conf *conf, const struct conf_settings *set,
			const struct ce_cfg *cfg)
{
	assert_true(cfg->sessions >= 1 && cfg->sessions <= CE_MAX_SESSIONS);
	assert_true(cfg->keys >= 1 && cfg->put_pct + cfg->del_pct <= 100);
	struct ce_run *r = calloc(1, sizeof *r);
	assert_non_null(r);
	r->cfg = *cfg;
	r->loop = ev_loop_new(EVFLAG_AUTO);
	assert_non_null(r->loop);
	r->ops = calloc(total_ops(r), sizeof *r->ops);
	assert_non_null(r->ops);
	for (int i = 0; i < cfg->sessions; i++) {
		struct ce_sess *s = &r->s[i];
		s->r = r;
		s->id = i;
		s->by_seq = calloc(cfg->per_session + 2, sizeof *s->by_seq);
		s->model = calloc(cfg->keys, sizeof *s->model);
		assert_true(s->by_seq && s->model);
		common_rng_seed(&s->rng, cfg->seed + (uint64_t)i);
		ev_timer_init(&s->retry, retry_cb, 0.001, 0.0);
		s->retry.data = s;
	}
	common_logger_init(&r->lg, stderr, COMMON_LOG_INFO, "test-client");
	struct cluster_options opt = {.on_ready = cluster_ready,
				      .arg = r,
				      .window = 1,
				      .log = &r->lg,
				      .connect_grace_s = cfg->connect_grace_s};
	assert_int_equal(cluster_open(r->loop, conf, set, "client0", &opt, &r->cl), 0);
	ev_timer_init(&r->watchdog, watchdog_cb, cfg->watchdog_s, 0.0);
	r->watchdog.data = r;
	ev_timer_start(r->loop, &r->watchdog);
	if (cfg->fault) {
		ev_timer_init(&r->fault_t, fault_cb, cfg->fault->at_s, 0.0);
		r->fault_t.data = r;
		if (cfg->fault->at_ops == 0 || cfg->fault->at_s > 0)
			ev_timer_start(r->loop, &r->fault_t);
	}
	ev_run(r->loop, 0);
	if (cfg->drain_slots && !r->failed) {
		r->draining = true;
		ev_timer_init(&r->drain, drain_cb, 0.01, 0.01);
		r->drain.data = r;
		ev_timer_start(r->loop, &r->drain);
		ev_run(r->loop, 0);
		ev_timer_stop(r->loop, &r->drain);
	}
	ev_timer_stop(r->loop, &r->watchdog);
	for (int i = 0; i < cfg->sessions; i++)
		ev_timer_stop(r->loop, &r->s[i].retry);
	if (cfg->fault)
		fault_undo(r);
	assert_false(r->failed);
	assert_int_equal(r->errors, 0);
	for (int i = 0; i < cfg->sessions; i++)
		assert_int_equal(r->s[i].completed, cfg->per_session);
	return r;
}

void ce_session_stats(struct ce_run *r, struct session_stats *sum)
{
	memset(sum, 0, sizeof *sum);
	for (int i = 0; i < r->cfg.sessions; i++) {
		struct session_stats st;
		session_get_stats(cluster_session_get(r->s[i].cs), &st);
		sum->fast += st.fast;
		sum->slow += st.slow;
		sum->retry += st.retry;
		sum->timeouts += st.timeouts;
		sum->failures += st.failures;
		sum->conflicts += st.conflicts;
		sum->resends += st.resends;
		sum->weak += st.weak;
		sum->weak_waits += st.weak_waits;
		sum->ho_check_failed += st.ho_check_failed;
	}
}

void ce_run_free(struct ce_run *r)
{
	cluster_close(r->cl);
	ev_loop_destroy(r->loop);
	for (int i = 0; i < r->cfg.sessions; i++) {
		free(r->s[i].by_seq);
		free(r->s[i].model);
	}
	free(r->ops);
	free(r);
}

void ce_main_init(void)
{
	atexit(proc_kill_all);
	signal(SIGPIPE, SIG_IGN);
	const char *asan = getenv("ASAN_OPTIONS");
	char opts[1024];
	snprintf(opts, sizeof opts, "%s%squarantine_size_mb=1", asan ? asan : "", asan ? " " : "");
	setenv("ASAN_OPTIONS", opts, 1);
	if (getenv("CLUSTER_TESTS"))
		cmocka_set_test_filter(getenv("CLUSTER_TESTS"));
}

/* ---- the replicas after a run -------------------------------------------------------------- */

void ce_check_replicas(struct cluster_env *e, uint64_t expect_exec)
{
	struct cluster_stats st[ENV_MAX_N];
	struct env_converge x = {.exec = (int64_t)expect_exec, .view = -1};
	assert_true(env_wait_converged(e, &x, 10000, st));
	for (int i = 0; i < e->n; i++) {
		/* bounded tables once idle */
		assert_int_equal(env_stat(&st[i], "desc_in_use"), 0);
		assert_int_equal(env_stat(&st[i], "witness_records"), 0);
		assert_true(env_stat(&st[i], "log_entries") <= 4096);
		/* (64 per session of the 4-session runs; the 8-session hybrid runs stay below) */
		assert_true(env_stat(&st[i], "result_cache") <= 256);
		(void)env_stat(&st[i], "dropped_to_client"); /* the last counter sent: all fit */
	}
}
