/* bench_cmap: cmap throughput (ops/s) over threads x shards x read ratio, CSV on stdout. */
#include <ck_pr.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmap/cmap.h"
#include "common/clock.h"
#include "common/hash.h"
#include "common/rng.h"

enum { MAX_LIST = 16, MAX_REPS = 101, STOP_CHECK = 64 };

static const char usage[] =
    "usage: bench_cmap [-d seconds] [-r reps] [-t threads] [-s shards] [-p read_pcts]\n"
    "                  [-k keys] [-l locks] [-B] [-h]\n"
    "Measures cmap operations per second on a pre-populated map of `keys` uniformly random\n"
    "8-byte keys: every thread picks a key uniformly and does a cmap_get_u64 (read) or a\n"
    "cmap_put_u64 replacing its value (write). Prints CSV (threads,shards,read_pct,ops_per_sec;\n"
    "a leading lock column when several locks are given), each cell the median of `reps` runs\n"
    "(repetitions are interleaved over the whole grid, so slow phases of a noisy machine spread\n"
    "over all cells), then the acceptance checks at shards=512, read=95%, then the reference.\n"
    "The reference runs the same loop (key choice, hashing, read ratio) on a plain array shaped\n"
    "like the map's slots, with no map and no locks (relaxed loads, plain stores), at 1 and 2\n"
    "threads, interleaved with the grid: the scaling this machine allows for that access mix at\n"
    "the time of the run (a shared VM's ceiling moves). Per-run values go to stderr.\n"
    "  -d seconds   duration of one run of one cell (default 0.5)\n"
    "  -r reps      repetitions per cell, median reported (default 1, at most 101)\n"
    "  -t list      thread counts, comma separated (default 1,2,4,8)\n"
    "  -s list      shard counts, powers of two 1..65536 (default 1,16,512,32768)\n"
    "  -p list      read percentages 0..100 (default 50,95)\n"
    "  -k keys      key space, all inserted before a run (default 100000)\n"
    "  -l list      shard lock kinds: default,percpu_rw,rw_yield,rw_spin,spin_eb,spin_yield,\n"
    "               pthread_rw, none (default: default); none is the single-owner map\n"
    "               (no lock, one thread only): only with -t 1\n"
    "  -B           skip the reference runs\n"
    "  -h           this help\n"
    "Exit status: 0, 3 if an acceptance check failed, 1 or 2 on errors.\n";

struct opts {
	bool no_reference;
	double secs;
	unsigned reps;
	unsigned threads[MAX_LIST], nthreads;
	unsigned shards[MAX_LIST], nshards;
	unsigned reads[MAX_LIST], nreads;
	unsigned locks[MAX_LIST], nlocks;
	uint64_t keys;
};

/* One worker's state on its own cache lines (the benchmark must not add false sharing). */
struct worker {
	_Alignas(64) struct cmap *m;
	uint64_t *ref; /* reference mode: 4 words per slot, no map */
	uint64_t ref_mask;
	const int *stop;
	pthread_barrier_t *start;
	uint64_t seed;
	uint64_t keys;
	unsigned read_pct;
	bool populate;	/* a single-owner map: this (only) worker fills it before the start */
	bool failed;	/* out: populating ran out of memory */
	uint64_t ops;	/* out */
	uintptr_t sink; /* out: keeps the reads from being optimized away */
};

static uint64_t bench_key(uint64_t i)
{
	/* A bijection: distinct, uniformly spread 64-bit keys. */
	return common_mix64(i ^ 0x3c6ef372fe94f82bull);
}

static void read_cb(const void *key, size_t klen, void *val, void *arg)
{
	(void)key;
	(void)klen;
	*(uintptr_t *)arg ^= (uintptr_t)val;
}

/* Inserts the key space (keys bench_key(0 .. keys-1)). Returns 0 or -ENOMEM. */
static int populate(struct cmap *m, uint64_t keys)
{
	for (uint64_t i = 0; i < keys; i++)
		if (cmap_put_u64(m, bench_key(i), (void *)(uintptr_t)(i + 1), NULL) != 0)
			return -ENOMEM;
	return 0;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct common_rng r;
	uint64_t ops = 0;
	uintptr_t sink = 0;

	common_rng_seed(&r, w->seed);
	/* Before the barrier, so outside the measured interval. On failure the worker still
	 * runs (the barrier needs everyone); run_once discards the result. */
	if (w->populate && populate(w->m, w->keys) != 0)
		w->failed = true;
	pthread_barrier_wait(w->start);
	if (w->ref != NULL) {
		/* The same choices and hashing as below, on bare memory: a slot's value word is
		 * loaded or stored (ck_pr: relaxed atomics, no race in C terms), nothing else. */
		while (ck_pr_load_int(w->stop) == 0) {
			for (int i = 0; i < STOP_CHECK; i++) {
				uint64_t k = bench_key(common_rng_below(&r, w->keys));
				uint64_t *val = &w->ref[(common_mix64(k) & w->ref_mask) * 4 + 1];
				if (common_rng_coin(&r, w->read_pct))
					sink ^= (uintptr_t)ck_pr_load_64(val);
				else
					ck_pr_store_64(val, ops + 1);
				ops++;
			}
		}
		w->ops = ops;
		w->sink = sink;
		return NULL;
	}
	/* Relaxed: the stop flag only needs to be seen eventually; pairs with the
	 * ck_pr_store_int in run_once. Checked every STOP_CHECK operations. */
	while (ck_pr_load_int(w->stop) == 0) {
		for (int i = 0; i < STOP_CHECK; i++) {
			uint64_t idx = common_rng_below(&r, w->keys);
			uint64_t k = bench_key(idx);
			if (common_rng_coin(&r, w->read_pct))
				(void)cmap_get_u64(w->m, k, read_cb, &sink);
			else
				(void)cmap_put_u64(w->m, k, (void *)(uintptr_t)(ops + 1), NULL);
			ops++;
		}
	}
	w->ops = ops;
	w->sink = sink;
	return NULL;
}

/* One run of one cell (shards == 0: the reference array); returns ops/s, or < 0 on error. */
static double run_once(const struct opts *o, unsigned threads, unsigned shards, unsigned read_pct,
		       unsigned lock, uint64_t seed)
{
	struct cmap *m = NULL;
	uint64_t *ref = NULL, ref_mask = 0;
	if (shards == 0) {
		/* Slots of 32 bytes at <= 1/2 load, like a shard table between two doublings. */
		uint64_t cap = 1;
		while (cap < o->keys * 2)
			cap *= 2;
		ref = aligned_alloc(64, cap * 32);
		if (ref == NULL)
			return -1;
		memset(ref, 0, cap * 32);
		ref_mask = cap - 1;
	} else {
		int rc = cmap_create_lock(shards, NULL, (enum cmap_lock_kind)lock, &m);
		if (rc != 0) {
			fprintf(stderr, "cmap_create_lock: %s\n", strerror(-rc));
			return -1;
		}
		/* A single-owner map must be filled by the thread that runs on it (the only
		 * worker: main checks -t 1); the others are filled here. */
		if (lock != CMAP_LOCK_NONE && populate(m, o->keys) != 0) {
			fprintf(stderr, "populate: out of memory\n");
			cmap_destroy(m);
			return -1;
		}
	}

	struct worker *ws = aligned_alloc(64, threads * sizeof *ws);
	pthread_t *tids = malloc(threads * sizeof *tids);
	pthread_barrier_t start;
	int stop = 0;
	double result = -1;
	if (ws == NULL || tids == NULL || pthread_barrier_init(&start, NULL, threads + 1) != 0)
		goto out;
	unsigned started = 0;
	for (; started < threads; started++) {
		ws[started] = (struct worker){.m = m,
					      .ref = ref,
					      .ref_mask = ref_mask,
					      .stop = &stop,
					      .start = &start,
					      .seed = seed * 7919 + started,
					      .keys = o->keys,
					      .read_pct = read_pct,
					      .populate = m != NULL && lock == CMAP_LOCK_NONE};
		if (pthread_create(&tids[started], NULL, worker_main, &ws[started]) != 0)
			break;
	}
	if (started < threads) {
		/* Cannot release the barrier without everyone: give up loudly. */
		fprintf(stderr, "pthread_create failed\n");
		exit(1);
	}
	pthread_barrier_wait(&start);
	uint64_t t0 = common_now_ns();
	uint64_t ns = (uint64_t)(o->secs * 1e9);
	struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000u),
			      .tv_nsec = (long)(ns % 1000000000u)};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
	/* Pairs with the workers' ck_pr_load_int (no ordering needed: join synchronizes). */
	ck_pr_store_int(&stop, 1);
	uint64_t t1 = common_now_ns();
	uint64_t ops = 0;
	bool failed = false;
	for (unsigned t = 0; t < threads; t++) {
		pthread_join(tids[t], NULL);
		ops += ws[t].ops;
		failed |= ws[t].failed;
	}
	pthread_barrier_destroy(&start);
	if (failed)
		fprintf(stderr, "populate: out of memory\n");
	else
		result = (double)ops / ((double)(t1 - t0) / 1e9);
out:
	free(tids);
	free(ws);
	cmap_destroy(m);
	free(ref);
	return result;
}

static int parse_list(const char *s, unsigned *out, unsigned *n, bool locks)
{
	char buf[256];
	if (strlen(s) >= sizeof buf)
		return -EINVAL;
	strcpy(buf, s);
	*n = 0;
	for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		if (*n == MAX_LIST)
			return -EINVAL;
		if (locks) {
			int k = cmap_lock_parse(tok);
			if (k < 0)
				return -EINVAL;
			out[(*n)++] = (unsigned)k;
		} else {
			char *end;
			unsigned long v = strtoul(tok, &end, 10);
			if (*end != '\0' || end == tok || v > 1000000)
				return -EINVAL;
			out[(*n)++] = (unsigned)v;
		}
	}
	return *n > 0 ? 0 : -EINVAL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *v, unsigned n)
{
	qsort(v, n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int index_of(const unsigned *list, unsigned n, unsigned v)
{
	for (unsigned i = 0; i < n; i++)
		if (list[i] == v)
			return (int)i;
	return -1;
}

int main(int argc, char **argv)
{
	struct opts o = {.secs = 0.5,
			 .reps = 1,
			 .threads = {1, 2, 4, 8},
			 .nthreads = 4,
			 .shards = {1, 16, 512, 32768},
			 .nshards = 4,
			 .reads = {50, 95},
			 .nreads = 2,
			 .locks = {CMAP_LOCK_DEFAULT},
			 .nlocks = 1,
			 .keys = 100000};
	int c;
	while ((c = getopt(argc, argv, "d:r:t:s:p:k:l:Bh")) != -1) {
		int rc = 0;
		char *end = NULL;
		switch (c) {
		case 'B':
			o.no_reference = true;
			break;
		case 'd':
			o.secs = strtod(optarg, &end);
			rc = *end != '\0' || !(o.secs > 0 && o.secs <= 3600) ? -EINVAL : 0;
			break;
		case 'r':
			o.reps = (unsigned)strtoul(optarg, &end, 10);
			rc = *end != '\0' || o.reps < 1 || o.reps > MAX_REPS ? -EINVAL : 0;
			break;
		case 't':
			rc = parse_list(optarg, o.threads, &o.nthreads, false);
			for (unsigned i = 0; rc == 0 && i < o.nthreads; i++)
				if (o.threads[i] < 1 || o.threads[i] > 1024)
					rc = -EINVAL;
			break;
		case 's':
			rc = parse_list(optarg, o.shards, &o.nshards, false);
			for (unsigned i = 0; rc == 0 && i < o.nshards; i++)
				if (o.shards[i] == 0)
					rc = -EINVAL; /* cmap_create_lock checks the rest */
			break;
		case 'p':
			rc = parse_list(optarg, o.reads, &o.nreads, false);
			for (unsigned i = 0; rc == 0 && i < o.nreads; i++)
				if (o.reads[i] > 100)
					rc = -EINVAL;
			break;
		case 'k':
			o.keys = strtoull(optarg, &end, 10);
			rc = *end != '\0' || o.keys < 1 ? -EINVAL : 0;
			break;
		case 'l':
			rc = parse_list(optarg, o.locks, &o.nlocks, true);
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fputs(usage, stderr);
			return 2;
		}
		if (rc != 0) {
			fprintf(stderr, "bench_cmap: bad value for -%c: %s\n", c, optarg);
			return 2;
		}
	}
	if (optind != argc) {
		fputs(usage, stderr);
		return 2;
	}
	/* A CMAP_LOCK_NONE map shared by several threads is a data race, not a measurement. */
	for (unsigned l = 0; l < o.nlocks; l++)
		for (unsigned t = 0; t < o.nthreads; t++)
			if (o.locks[l] == CMAP_LOCK_NONE && o.threads[t] != 1) {
				fprintf(stderr,
					"bench_cmap: -l none needs -t 1 (a single-owner map)\n");
				return 2;
			}

	size_t ncells = (size_t)o.nlocks * o.nshards * o.nreads * o.nthreads;
	double *res = calloc(ncells * o.reps, sizeof *res);
	if (res == NULL)
		return 1;
#define CELL(l, s, p, t) ((((size_t)(l)*o.nshards + (s)) * o.nreads + (p)) * o.nthreads + (t))
	fprintf(stderr, "# bench_cmap: keys=%llu duration=%.3fs reps=%u cpus=%ld\n",
		(unsigned long long)o.keys, o.secs, o.reps, sysconf(_SC_NPROCESSORS_ONLN));
	fprintf(stderr, "# rep,lock,threads,shards,read_pct,ops_per_sec\n");
	static double ref[MAX_LIST][2][MAX_REPS]; /* [read pct][threads - 1][rep] */
	for (unsigned rep = 0; rep < o.reps; rep++) {
		for (unsigned p = 0; !o.no_reference && p < o.nreads; p++)
			for (unsigned t = 0; t < 2; t++) {
				double v = run_once(&o, t + 1, 0, o.reads[p], 0,
						    rep * 1000003u + 999983u + p * 2 + t);
				if (v < 0)
					return 1;
				ref[p][t][rep] = v;
				fprintf(stderr, "# %u,reference,%u,-,%u,%.0f\n", rep, t + 1,
					o.reads[p], v);
			}
		for (unsigned l = 0; l < o.nlocks; l++)
			for (unsigned s = 0; s < o.nshards; s++)
				for (unsigned p = 0; p < o.nreads; p++)
					for (unsigned t = 0; t < o.nthreads; t++) {
						double v = run_once(
						    &o, o.threads[t], o.shards[s], o.reads[p],
						    o.locks[l], rep * 1000003u + CELL(l, s, p, t));
						if (v < 0)
							return 1;
						res[CELL(l, s, p, t) * o.reps + rep] = v;
						fprintf(stderr, "# %u,%s,%u,%u,%u,%.0f\n", rep,
							cmap_lock_name(o.locks[l]), o.threads[t],
							o.shards[s], o.reads[p], v);
					}
	}

	double *med = calloc(ncells, sizeof *med);
	if (med == NULL)
		return 1;
	bool lockcol = o.nlocks > 1;
	printf("%sthreads,shards,read_pct,ops_per_sec\n", lockcol ? "lock," : "");
	for (unsigned l = 0; l < o.nlocks; l++)
		for (unsigned s = 0; s < o.nshards; s++)
			for (unsigned p = 0; p < o.nreads; p++)
				for (unsigned t = 0; t < o.nthreads; t++) {
					size_t cell = CELL(l, s, p, t);
					med[cell] = median(&res[cell * o.reps], o.reps);
					if (lockcol)
						printf("%s,", cmap_lock_name(o.locks[l]));
					printf("%u,%u,%u,%.0f\n", o.threads[t], o.shards[s],
					       o.reads[p], med[cell]);
				}

	/* Acceptance checks on the medians at shards=512, read=95%. */
	int fails = 0;
	printf("\n");
	for (unsigned l = 0; l < o.nlocks; l++) {
		const char *ln = lockcol ? cmap_lock_name(o.locks[l]) : NULL;
		int s = index_of(o.shards, o.nshards, 512), p = index_of(o.reads, o.nreads, 95);
		int t1 = index_of(o.threads, o.nthreads, 1),
		    t2 = index_of(o.threads, o.nthreads, 2);
		int t8 = index_of(o.threads, o.nthreads, 8);
		if (s < 0 || p < 0 || t1 < 0 || t2 < 0 || t8 < 0) {
			printf("# check%s%s: SKIP (needs -s 512, -p 95 and -t 1,2,8 in the grid)\n",
			       ln ? " " : "", ln ? ln : "");
			continue;
		}
		double v1 = med[CELL(l, s, p, t1)], v2 = med[CELL(l, s, p, t2)];
		double v8 = med[CELL(l, s, p, t8)], best = 0;
		unsigned best_t = 0;
		for (unsigned t = 0; t < o.nthreads; t++) {
			if (med[CELL(l, s, p, t)] > best) {
				best = med[CELL(l, s, p, t)];
				best_t = o.threads[t];
			}
		}
		bool ok1 = v2 / v1 >= 1.5, ok2 = v8 >= 0.8 * best;
		fails += !ok1 + !ok2;
		printf("# check%s%s shards=512 read=95%%: threads2/threads1 = %.2f (need >= 1.50) "
		       "%s\n",
		       ln ? " lock=" : "", ln ? ln : "", v2 / v1, ok1 ? "PASS" : "FAIL");
		printf("# check%s%s shards=512 read=95%%: threads8/best(threads%u) = %.2f "
		       "(need >= 0.80) %s\n",
		       ln ? " lock=" : "", ln ? ln : "", best_t, v8 / best, ok2 ? "PASS" : "FAIL");
	}
	/* Per repetition, the same ratios from runs taken seconds apart: on a shared VM whose
	 * ceiling moves for tens of seconds at a time this shows which repetitions fell into a
	 * slow phase (compare the reference's ratio of the same repetition). */
	int sc = index_of(o.shards, o.nshards, 512), pc = index_of(o.reads, o.nreads, 95);
	int t1c = index_of(o.threads, o.nthreads, 1), t2c = index_of(o.threads, o.nthreads, 2);
	for (unsigned l = 0; sc >= 0 && pc >= 0 && t1c >= 0 && t2c >= 0 && l < o.nlocks; l++) {
		printf("# per repetition%s%s shards=512 read=95%%: threads2/threads1 =",
		       lockcol ? " lock=" : "", lockcol ? cmap_lock_name(o.locks[l]) : "");
		for (unsigned rep = 0; rep < o.reps; rep++)
			printf(" %.2f", res[CELL(l, sc, pc, t2c) * o.reps + rep] /
					    res[CELL(l, sc, pc, t1c) * o.reps + rep]);
		if (!o.no_reference) {
			printf(" (reference:");
			for (unsigned rep = 0; rep < o.reps; rep++)
				printf(" %.2f", ref[pc][1][rep] / ref[pc][0][rep]);
			printf(")");
		}
		printf("\n");
	}
	for (unsigned p = 0; !o.no_reference && p < o.nreads; p++) {
		double r1 = median(ref[p][0], o.reps), r2 = median(ref[p][1], o.reps);
		printf("# reference (plain array, no map, no locks) read=%u%%: threads2/threads1 = "
		       "%.2f (threads1 %.0f, threads2 %.0f ops/s)\n",
		       o.reads[p], r2 / r1, r1, r2);
	}
	free(med);
	free(res);
	return fails ? 3 : 0;
}
