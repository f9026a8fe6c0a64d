/* Unit tests for the load generator's pieces: workload mix and keys, Zipf shape, values,
 * percentiles and the report's exact line shapes (the prototype's scripts parse them). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <regex.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loadgen/loadgen.h"
#include "report/report.h"
#include "workload/workload.h"

static void test_mix_exact(void **state)
{
	(void)state;
	struct conf_settings s;
	conf_settings_default(&s);
	s.writes = 5;
	s.weak_ratio = 50;
	s.weak_writes = 0; /* 0 means 0 */
	s.key_space = 1000;
	struct workload w;
	workload_init(&w, &s, 3, 42);
	uint64_t n = 200000, weak = 0, sw = 0, strong = 0, ww = 0;
	for (uint64_t i = 0; i < n; i++) {
		struct workload_op op;
		workload_next(&w, &op);
		assert_true(op.key < 1000);
		if (op.weak) {
			weak++;
			ww += op.write;
		} else {
			strong++;
			sw += op.write;
		}
	}
	assert_in_range(weak, n / 2 - 1500, n / 2 + 1500);
	assert_int_equal(ww, 0);
	/* 5% of strong ops, not 6% (the prototype's coin was off by one) */
	assert_in_range(sw * 1000 / strong, 45, 55);
}

/* scanRatio% of weak reads become SCANs (exactly, within sampling error), nothing else does, and
 * counts are log-uniform over [1, scanCount]: about half of them are at most sqrt(scanCount). */
static void test_scan_mix(void **state)
{
	(void)state;
	struct conf_settings s;
	conf_settings_default(&s);
	s.writes = 20;
	s.weak_ratio = 95;
	s.weak_writes = 0;
	s.scan_ratio = 44;
	s.scan_count = 1000;
	s.key_space = 1000;
	struct workload w;
	workload_init(&w, &s, 1, 9);
	uint64_t n = 200000, wr = 0, scans = 0, small = 0, ones = 0, max = 0;
	for (uint64_t i = 0; i < n; i++) {
		struct workload_op op;
		workload_next(&w, &op);
		if (op.scan_count) {
			assert_true(op.weak && !op.write);
			assert_int_equal(op.cls, WL_WEAK_READ);
			assert_in_range(op.scan_count, 1, 1000);
			scans++;
			small += op.scan_count <=
				 32; /* ceil(exp(u ln 1000)) <= 32 iff u <= ln 32/ln 1000 */
			ones += op.scan_count <= 2; /* u <= ln 2 / ln 1000: about 10% */
			if (op.scan_count > max)
				max = op.scan_count;
		}
		wr += op.weak && !op.write;
	}
	assert_in_range(scans * 1000 / wr, 430, 450);
	assert_in_range(small * 1000 / scans, 490, 513); /* ln 32 / ln 1000 = 0.5017 */
	assert_in_range(ones * 1000 / scans, 85, 115);
	assert_true(max > 900);
	/* scanCount 0 (or scanRatio 0): no scans, and the stream of other draws is unchanged */
	s.scan_count = 0;
	struct workload a, b;
	workload_init(&a, &s, 1, 9);
	s.scan_ratio = 0;
	workload_init(&b, &s, 1, 9);
	for (int i = 0; i < 1000; i++) {
		struct workload_op x, y;
		workload_next(&a, &x);
		workload_next(&b, &y);
		assert_int_equal(x.scan_count, 0);
		assert_int_equal(x.key, y.key);
		assert_int_equal(x.cls, y.cls);
	}
}

static void test_keys_hot_and_unique(void **state)
{
	(void)state;
	struct conf_settings s;
	conf_settings_default(&s);
	s.conflicts = 100;
	s.key = 42;
	struct workload w;
	workload_init(&w, &s, 0, 1);
	struct workload_op op;
	workload_next(&w, &op);
	assert_int_equal(op.key, 42);
	/* keySpace 0: unique keys per session, never shared across sessions */
	s.conflicts = 0;
	struct workload a, b;
	workload_init(&a, &s, 1, 1);
	workload_init(&b, &s, 2, 1);
	uint64_t ka[100], kb[100];
	for (int i = 0; i < 100; i++) {
		workload_next(&a, &op);
		ka[i] = op.key;
		workload_next(&b, &op);
		kb[i] = op.key;
	}
	for (int i = 0; i < 100; i++)
		for (int j = 0; j < 100; j++) {
			assert_true(ka[i] != kb[j]);
			if (i != j)
				assert_true(ka[i] != ka[j]);
		}
	/* the same seed replays the same stream; another seed does not */
	struct workload c1, c2, c3;
	s.key_space = 1000000;
	workload_init(&c1, &s, 5, 7);
	workload_init(&c2, &s, 5, 7);
	workload_init(&c3, &s, 5, 8);
	int same = 0;
	for (int i = 0; i < 100; i++) {
		struct workload_op o1, o2, o3;
		workload_next(&c1, &o1);
		workload_next(&c2, &o2);
		workload_next(&c3, &o3);
		assert_int_equal(o1.key, o2.key);
		same += o1.key == o3.key;
	}
	assert_true(same < 5);
}

/* FNV-1a over what a stream of n operations draws (weak, write, key, scan count). */
static uint64_t stream_digest(const struct conf_settings *s, uint64_t session, uint64_t seed, int n)
{
	struct workload w;
	workload_init(&w, s, session, seed);
	uint64_t h = 1469598103934665603ull;
	for (int i = 0; i < n; i++) {
		struct workload_op op;
		workload_next(&w, &op);
		assert_false(op.del && s->deletes == 0);
		uint64_t v[4] = {op.weak, op.write, op.key, op.scan_count};
		for (int j = 0; j < 4; j++) {
			h ^= v[j];
			h *= 1099511628211ull;
		}
	}
	return h;
}

/* deletes% of the writes, strong and weak, are DELs (reads never are); and with deletes 0 a
 * seed draws exactly the stream it drew before the key existed: the digest below was computed
 * with the workload of the commit before `deletes` (51c5a35), so drawing the DEL coin when
 * deletes is 0 (or anywhere but last) fails here. */
static void test_deletes_mix(void **state)
{
	(void)state;
	struct conf_settings s;
	conf_settings_default(&s);
	s.writes = 30;
	s.weak_ratio = 40;
	s.weak_writes = 60;
	s.key_space = 1000;
	s.zipf_skew = 0.9;
	s.conflicts = 5;
	s.key = 7;
	s.scan_ratio = 20;
	s.scan_count = 50;
	assert_true(stream_digest(&s, 3, 42, 2000) == 0xcebb4fb790e78041ull);
	s.deletes = 50;
	assert_true(stream_digest(&s, 3, 42, 2000) != 0xcebb4fb790e78041ull);
	struct workload w;
	workload_init(&w, &s, 3, 42);
	uint64_t n = 200000, sw = 0, sd = 0, ww = 0, wd = 0;
	for (uint64_t i = 0; i < n; i++) {
		struct workload_op op;
		workload_next(&w, &op);
		if (!op.write) {
			assert_false(op.del);
			continue;
		}
		assert_int_equal(op.scan_count, 0);
		assert_int_equal(op.cls, op.weak ? WL_WEAK_WRITE : WL_STRONG_WRITE);
		if (op.weak) {
			ww++;
			wd += op.del;
		} else {
			sw++;
			sd += op.del;
		}
	}
	assert_in_range(sd * 1000 / sw, 485, 515);
	assert_in_range(wd * 1000 / ww, 485, 515);
	/* 100: every write */
	s.deletes = 100;
	workload_init(&w, &s, 1, 5);
	for (int i = 0; i < 10000; i++) {
		struct workload_op op;
		workload_next(&w, &op);
		assert_int_equal(op.del, op.write);
	}
}

static void test_zipf_shape(void **state)
{
	(void)state;
	struct common_rng r;
	common_rng_seed(&r, 9);
	static uint32_t hist[1000];
	for (double sk = 0.5; sk < 1.6; sk += 0.49) {
		memset(hist, 0, sizeof hist);
		struct workload_zipf z;
		workload_zipf_init(&z, 1000, sk);
		int n = 400000;
		for (int i = 0; i < n; i++) {
			uint64_t k = workload_zipf_next(&z, &r);
			assert_true(k < 1000);
			hist[k]++;
		}
		/* P(0)/P(1) = 2^s and P(0)/P(3) = 4^s, within sampling noise */
		double r01 = (double)hist[0] / hist[1], r03 = (double)hist[0] / hist[3];
		assert_true(r01 > 0.9 * pow(2, sk) && r01 < 1.1 * pow(2, sk));
		assert_true(r03 > 0.85 * pow(4, sk) && r03 < 1.15 * pow(4, sk));
		assert_true(hist[0] > hist[10] && hist[10] > hist[500]);
	}
}

static void test_values_unique(void **state)
{
	(void)state;
	uint8_t a[100], b[100];
	workload_value(a, 100, 3, 17);
	workload_value(b, 100, 31, 7);
	assert_memory_equal(a, "s3-17-", 6);
	assert_memory_equal(b, "s31-7-", 6);
	assert_true(memcmp(a, b, 100) != 0);
	uint8_t tiny[3];
	workload_value(tiny, 3, 3, 17);
	assert_memory_equal(tiny, "s3-", 3);
}

static void test_percentiles(void **state)
{
	(void)state;
	double v[100];
	for (int i = 0; i < 100; i++)
		v[i] = i + 1;
	assert_true(report_percentile(v, 100, 50) == 50);
	assert_true(report_percentile(v, 100, 99) == 99);
	assert_true(report_percentile(v, 100, 99.9) == 100);
	assert_true(report_percentile(v, 100, 0) == 1);
	assert_true(report_percentile(v, 0, 50) == 0);
	assert_true(report_percentile(v, 1, 99.9) == 1);
}

static bool matches(const char *text, const char *re, double *num)
{
	regex_t rx;
	regmatch_t m[2];
	assert_int_equal(regcomp(&rx, re, REG_EXTENDED | REG_NEWLINE), 0);
	bool ok = regexec(&rx, text, 2, m, 0) == 0;
	if (ok && num)
		*num = strtod(text + m[1].rm_so, NULL);
	regfree(&rx);
	return ok;
}

/* The line shapes of CONF.md 4, checked with the regular expressions users' scripts use. */
static void test_report_format(void **state)
{
	(void)state;
	struct report_lat l;
	memset(&l, 0, sizeof l);
	for (int i = 0; i < 1000; i++) {
		report_add(&l, WL_STRONG_READ, 0.2 + i * 0.001);
		if (i < 100)
			report_add(&l, WL_STRONG_WRITE, 0.5);
	}
	report_sort(&l);
	struct report_totals t = {.duration_s = 2.0, .fast = 1090, .slow = 10};
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	report_print(f, &l, &t);
	fclose(f);
	double x;
	assert_true(matches(buf, "^Total operations: ([0-9]+)$", &x) && x == 1100);
	assert_true(matches(buf, "^Duration: ([0-9]+\\.[0-9]{2})s$", &x) && x == 2.0);
	assert_true(matches(buf, "Throughput: ([0-9.]+) ops/sec", &x) && x == 550.0);
	assert_true(matches(buf, "^Strong Operations: ([0-9]+) \\(100\\.0%\\)$", &x) && x == 1100);
	assert_true(matches(buf, "^  Writes: 100 \\| Reads: 1000$", NULL));
	assert_true(matches(buf, "Median: ([0-9.]+)ms", &x));
	assert_true(matches(buf, "P99: ([0-9.]+)ms", &x));
	assert_true(matches(buf, "P99\\.9: ([0-9.]+)ms", &x));
	assert_true(
	    matches(buf,
		    "^  Strong Write: Avg: 0\\.50ms \\| Median: 0\\.50ms \\| P99: 0\\.50ms \\| "
		    "P99\\.9: 0\\.50ms$",
		    NULL));
	assert_true(matches(buf, "^  Strong Read:  Avg: ([0-9.]+)ms", &x));
	assert_false(matches(buf, "Weak Operations", NULL)); /* empty group: not printed */
	assert_true(
	    matches(buf, "^Strong paths: fast 1090 \\(99\\.1%\\) \\| slow 10 \\| retry 0$", NULL));
	assert_true(matches(buf, "^Errors: 0 \\| Timeouts: 0$", NULL));
	assert_false(matches(buf, "Deletes", NULL)); /* deletes 0: the reference's lines only */
	free(buf);
	/* deletes > 0: one more line, DELs among the writes counted above */
	t.deletes = true;
	t.dels_strong = 40;
	t.dels_weak = 2;
	f = open_memstream(&buf, &len);
	report_print(f, &l, &t);
	fclose(f);
	assert_true(matches(buf, "^  Writes: 100 \\| Reads: 1000$", NULL));
	assert_true(matches(buf, "^Deletes: 42 of 100 writes \\(strong 40 \\| weak 2\\)$", NULL));
	free(buf);
	/* a weak protocol: 1,024 sessions, the first 256 listed one by one, and every one counted
	 * per replica (until 2026-12-07 the list was the only line: 1,024 sessions showed as 256) */
	t.weak_protocol = true;
	t.n_replicas = 3;
	for (uint32_t i = 0; i < 1024; i++) {
		if (i < REPORT_MAX_BOUND) {
			t.bound[i] = (int)(i % 3);
			t.bound_rtt_ms[i] = 0.05;
			t.n_bound++;
		}
		t.bound_per[i % 3]++;
		t.n_sessions++;
	}
	f = open_memstream(&buf, &len);
	report_print(f, &l, &t);
	fclose(f);
	assert_true(matches(buf, "^Bound replicas \\(session: replica, rtt\\): 0:replica0,0\\.05ms .* "
				 "255:replica0,0\\.05ms$",
			    NULL));
	assert_true(matches(buf,
			    "^Sessions per bound replica \\(1024 sessions, 256 listed above\\): "
			    "replica0 342 \\| replica1 341 \\| replica2 341$",
			    NULL));
	free(buf);
	report_free(&l);
}

/* ---- thread start failure ------------------------------------------------------------------ */

/* A thread creation that succeeds `allowed` times, then fails with EAGAIN; each thread it
 * created records when its start routine has returned. */
struct start_probe {
	int allowed, created;
	struct probe_thread {
		void *(*fn)(void *);
		void *arg;
		atomic_bool returned;
	} t[8];
};

static void *probe_thread_main(void *arg)
{
	struct probe_thread *pt = arg;
	pt->fn(pt->arg);
	atomic_store(&pt->returned, true);
	return NULL;
}

static int probe_create(void *ctx, pthread_t *th, void *(*fn)(void *), void *arg)
{
	struct start_probe *p = ctx;
	if (p->created == p->allowed)
		return EAGAIN;
	struct probe_thread *pt = &p->t[p->created++];
	pt->fn = fn;
	pt->arg = arg;
	return pthread_create(th, NULL, probe_thread_main, pt);
}

/* A thread that cannot be created: the run is refused (status 1), and by then every thread
 * already created has returned (joined). Until 2026-12 loadgen_main freed their loops, sessions
 * and cluster handles while they ran. No cluster is needed: they never reach it. */
static void test_thread_start_failure(void **state)
{
	(void)state;
	static const char text[] = "-- Replicas --\nreplica0 127.0.0.1:7601\n-- Clients --\n"
				   "client0 127.0.0.1\n-- Master --\nmaster0 127.0.0.1:7600\n"
				   "clientThreads: 4\nclientLoops: 4\nreqs: 10\n";
	struct conf *conf;
	assert_int_equal(conf_load_string("start.conf", text, &conf, NULL), 0);
	struct conf_settings set;
	assert_int_equal(conf_settings_for(conf, "client0", &set, NULL), 0);
	struct common_logger log;
	common_logger_init(&log, stderr, COMMON_LOG_ERROR, "client0");
	for (int allowed = 0; allowed < 4; allowed++) {
		struct start_probe p = {.allowed = allowed};
		struct loadgen_hooks hooks = {.thread_create = probe_create, .ctx = &p};
		assert_int_equal(loadgen_run(conf, &set, "client0", &log, &hooks), 1);
		assert_int_equal(p.created, allowed);
		for (int i = 0; i < p.created; i++)
			assert_true(atomic_load(&p.t[i].returned));
	}
	conf_free(conf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_mix_exact),
	    cmocka_unit_test(test_scan_mix),
	    cmocka_unit_test(test_keys_hot_and_unique),
	    cmocka_unit_test(test_zipf_shape),
	    cmocka_unit_test(test_values_unique),
	    cmocka_unit_test(test_percentiles),
	    cmocka_unit_test(test_report_format),
	    cmocka_unit_test(test_deletes_mix),
	    cmocka_unit_test(test_thread_start_failure),
	};
	return cmocka_run_group_tests_name("loadgen", tests, NULL, NULL);
}
