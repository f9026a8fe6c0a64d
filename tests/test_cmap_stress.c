/* Stress test for cmap/: 6 threads of mixed operations, each checked against a private model of
 * the keys it owns, plus shared counters incremented under cmap_update, at 1, 16 and 512 shards
 * and under every lock kind; the single-owner map (CMAP_LOCK_NONE) runs the same workload on one
 * thread, the test's own. Bounded op counts, no sleeps: meant to run under TSan too. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmap/cmap.h"
#include "common/rng.h"

enum {
	NTHREADS = 6,
	KEYS_PER_THREAD = 256, /* each thread's private key range */
	SHARED_KEYS = 8,       /* counters every thread increments */
	OPS_PER_THREAD = 50000,
	SCAN_EVERY = 1000, /* thread 0 runs foreach + size this often */
	SHARED_OWNER = 0xffff,
	KEYBUF = 48,
};

/* Every stored value; owner/idx say which key it belongs to (checked by the scans). */
struct sval {
	uint64_t v;
	uint32_t owner;
	uint32_t idx;
};

struct worker {
	struct cmap *m;
	pthread_barrier_t *start;
	unsigned id;
	uint64_t seed;
	unsigned ops;
	uint64_t model[KEYS_PER_THREAD]; /* 0: absent, else the value's v */
	uint64_t next_val;
	uint64_t shared_incs;
	uint64_t scans;
	unsigned failures;
	char msg[160]; /* the first failure */
};

static void worker_fail(struct worker *w, int line, const char *what)
{
	if (w->failures++ == 0)
		snprintf(w->msg, sizeof w->msg, "thread %u, line %d: %s", w->id, line, what);
}

/* cmocka's asserts longjmp and must stay on the main thread; workers record failures. */
#define CHECK(w, cond)                                                                             \
	do {                                                                                       \
		if (!(cond))                                                                       \
			worker_fail((w), __LINE__, #cond);                                         \
	} while (0)

/* Key idx of thread t: an 8-byte word (idx even), a 16+ byte string (out of line, idx % 4 == 1)
 * or a short string (inline, idx % 4 == 3). Returns the length. */
static size_t make_key(unsigned t, unsigned idx, unsigned char *buf)
{
	if (idx % 2 == 0) {
		uint64_t k = ((uint64_t)(t + 1) << 40) | idx;
		memcpy(buf, &k, sizeof k);
		return sizeof k;
	}
	int n = snprintf((char *)buf, KEYBUF,
			 idx % 4 == 1 ? "own:%u:%u:an-out-of-line-key" : "o%u.%u", t, idx);
	return (size_t)n;
}

static uint64_t shared_key(unsigned j)
{
	return 0xffff000000000000ull | j;
}

static struct sval *sval_new(uint64_t v, uint32_t owner, uint32_t idx)
{
	struct sval *s = malloc(sizeof *s);
	if (s != NULL)
		*s = (struct sval){.v = v, .owner = owner, .idx = idx};
	return s;
}

/* ---- operations through either API -------------------------------------------------------- */

struct key {
	unsigned char b[KEYBUF];
	size_t len;
	bool u64; /* use the _u64 calls (only for 8-byte keys) */
};

static uint64_t key_word(const struct key *k)
{
	uint64_t w;
	memcpy(&w, k->b, sizeof w);
	return w;
}

struct read_out {
	uint64_t v;
	uint32_t owner, idx;
};

static void read_cb(const void *key, size_t klen, void *val, void *arg)
{
	(void)key;
	(void)klen;
	const struct sval *s = val;
	struct read_out *o = arg;
	o->v = s->v;
	o->owner = s->owner;
	o->idx = s->idx;
}

static int k_get(struct cmap *m, const struct key *k, struct read_out *o)
{
	return k->u64 ? cmap_get_u64(m, key_word(k), read_cb, o)
		      : cmap_get(m, k->b, k->len, read_cb, o);
}

static int k_put(struct cmap *m, const struct key *k, void *v, void **old)
{
	return k->u64 ? cmap_put_u64(m, key_word(k), v, old) : cmap_put(m, k->b, k->len, v, old);
}

static int k_del(struct cmap *m, const struct key *k, void **old)
{
	return k->u64 ? cmap_del_u64(m, key_word(k), old) : cmap_del(m, k->b, k->len, old);
}

static int k_update(struct cmap *m, const struct key *k, cmap_update_fn fn, void *arg)
{
	return k->u64 ? cmap_update_u64(m, key_word(k), fn, arg)
		      : cmap_update(m, k->b, k->len, fn, arg);
}

/* Owned keys: insert nv when absent; delete when the current value is a multiple of 5 (the
 * callback then owns and frees it); otherwise overwrite in place with nv. */
struct own_upd {
	uint64_t nv;
	uint32_t owner, idx;
	int calls;
	bool existed, inserted, deleted;
	uint64_t prev;
};

static enum cmap_update_result own_upd_cb(const void *key, size_t klen, void **val, void *arg)
{
	(void)key;
	(void)klen;
	struct own_upd *a = arg;
	struct sval *s = *val;
	a->calls++;
	if (s == NULL) {
		s = sval_new(a->nv, a->owner, a->idx);
		if (s == NULL)
			return CMAP_KEEP; /* nothing inserted */
		*val = s;
		a->inserted = true;
		return CMAP_KEEP;
	}
	a->existed = true;
	a->prev = s->v;
	if (s->v % 5 == 0) {
		free(s);
		*val = NULL;
		a->deleted = true;
		return CMAP_DELETE;
	}
	s->v = a->nv;
	return CMAP_KEEP;
}

struct inc_arg {
	bool failed;
};

static enum cmap_update_result shared_inc_cb(const void *key, size_t klen, void **val, void *arg)
{
	(void)klen;
	struct inc_arg *a = arg;
	struct sval *s = *val;
	if (s == NULL) {
		uint64_t k;
		memcpy(&k, key, sizeof k);
		s = sval_new(0, SHARED_OWNER, (uint32_t)(k & 0xffff));
		if (s == NULL) {
			a->failed = true;
			return CMAP_KEEP;
		}
		*val = s;
	}
	s->v++;
	return CMAP_KEEP;
}

/* ---- thread 0's scans ----------------------------------------------------------------------- */

struct scan {
	struct worker *w;
	uint64_t own;	 /* entries of w's range seen */
	uint64_t total;	 /* entries seen */
	uint64_t shared; /* shared counters seen */
};

static int scan_cb(const void *key, size_t klen, void *val, void *arg)
{
	struct scan *sc = arg;
	struct worker *w = sc->w;
	const struct sval *s = val;
	sc->total++;
	if (s->owner == SHARED_OWNER) {
		uint64_t k;
		CHECK(w, klen == sizeof k);
		memcpy(&k, key, sizeof k);
		CHECK(w, k == shared_key(s->idx));
		CHECK(w, s->v > 0);
		sc->shared++;
		return 0;
	}
	CHECK(w, s->owner < NTHREADS && s->idx < KEYS_PER_THREAD);
	if (s->owner >= NTHREADS || s->idx >= KEYS_PER_THREAD)
		return 0;
	/* The stored key is the one this value was inserted under. */
	unsigned char kb[KEYBUF];
	size_t len = make_key(s->owner, s->idx, kb);
	CHECK(w, len == klen && memcmp(kb, key, len) == 0);
	CHECK(w, s->v != 0);
	if (s->owner == w->id) {
		/* Only w changes its own keys, and it is busy scanning: exact. */
		CHECK(w, w->model[s->idx] == s->v);
		sc->own++;
	}
	return 0;
}

static void scan(struct worker *w)
{
	struct scan sc = {.w = w};
	CHECK(w, cmap_foreach(w->m, scan_cb, &sc) == 0);
	uint64_t present = 0;
	for (unsigned i = 0; i < KEYS_PER_THREAD; i++)
		present += w->model[i] != 0;
	CHECK(w, sc.own == present);
	CHECK(w, sc.shared <= SHARED_KEYS);
	CHECK(w, sc.total <= (uint64_t)NTHREADS * KEYS_PER_THREAD + SHARED_KEYS);
	size_t size = cmap_size(w->m);
	CHECK(w, size <= (size_t)NTHREADS * KEYS_PER_THREAD + SHARED_KEYS);
	w->scans++;
}

/* ---- the worker ----------------------------------------------------------------------------- */

static void one_op(struct worker *w, struct common_rng *r)
{
	unsigned idx = (unsigned)common_rng_below(r, KEYS_PER_THREAD);
	struct key k;
	k.len = make_key(w->id, idx, k.b);
	k.u64 = k.len == 8 && common_rng_coin(r, 50);
	uint64_t *model = &w->model[idx];
	bool want_old = common_rng_coin(r, 50);
	unsigned roll = (unsigned)common_rng_below(r, 100);

	if (roll < 30) { /* get */
		struct read_out o = {0};
		int rc = k_get(w->m, &k, &o);
		if (*model == 0) {
			CHECK(w, rc == -ENOENT);
		} else {
			CHECK(w, rc == 0);
			CHECK(w, o.v == *model && o.owner == w->id && o.idx == idx);
		}
	} else if (roll < 50) { /* put */
		uint64_t nv = w->next_val++;
		struct sval *s = sval_new(nv, w->id, idx);
		CHECK(w, s != NULL);
		if (s == NULL)
			return;
		void *old = NULL;
		int rc = k_put(w->m, &k, s, want_old ? &old : NULL);
		CHECK(w, rc == 0);
		if (rc != 0) {
			free(s);
			return;
		}
		if (want_old) {
			if (*model == 0) {
				CHECK(w, old == NULL);
			} else {
				CHECK(w, old != NULL && ((struct sval *)old)->v == *model);
			}
			free(old);
		}
		*model = nv;
	} else if (roll < 62) { /* del */
		void *old = NULL;
		int rc = k_del(w->m, &k, want_old ? &old : NULL);
		if (*model == 0) {
			CHECK(w, rc == -ENOENT && old == NULL);
		} else {
			CHECK(w, rc == 0);
			if (want_old) {
				CHECK(w, old != NULL && ((struct sval *)old)->v == *model);
				free(old);
			}
		}
		*model = 0;
	} else if (roll < 80) { /* update */
		struct own_upd a = {.nv = w->next_val++, .owner = w->id, .idx = idx};
		int rc = k_update(w->m, &k, own_upd_cb, &a);
		CHECK(w, a.calls == 1);
		if (*model == 0) {
			CHECK(w, !a.existed && rc == CMAP_KEEP);
			CHECK(w, a.inserted);
			if (a.inserted)
				*model = a.nv;
		} else {
			CHECK(w, a.existed && a.prev == *model);
			if (a.deleted) {
				CHECK(w, rc == CMAP_DELETE);
				*model = 0;
			} else {
				CHECK(w, rc == CMAP_KEEP);
				*model = a.nv;
			}
		}
	} else if (roll < 90) { /* contains */
		bool c = k.u64 ? cmap_get_u64(w->m, key_word(&k), NULL, NULL) == 0
			       : cmap_contains(w->m, k.b, k.len);
		CHECK(w, c == (*model != 0));
	} else { /* shared counter */
		struct inc_arg a = {0};
		unsigned j = (unsigned)common_rng_below(r, SHARED_KEYS);
		int rc = cmap_update_u64(w->m, shared_key(j), shared_inc_cb, &a);
		CHECK(w, rc == CMAP_KEEP && !a.failed);
		if (rc == CMAP_KEEP && !a.failed)
			w->shared_incs++;
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct common_rng r;
	common_rng_seed(&r, w->seed);
	w->next_val = 1;
	pthread_barrier_wait(w->start);
	for (unsigned i = 0; i < w->ops; i++) {
		one_op(w, &r);
		if (w->id == 0 && i % SCAN_EVERY == SCAN_EVERY / 2)
			scan(w);
	}
	return NULL;
}

/* ---- the driver ----------------------------------------------------------------------------- */

static void read_shared(const void *key, size_t klen, void *val, void *arg)
{
	(void)key;
	(void)klen;
	*(uint64_t *)arg += ((const struct sval *)val)->v;
}

/* nthreads workers (1..NTHREADS); a single-owner map gets one, run on this thread, which then
 * owns the map for the final checks. */
static void run(uint32_t shards, enum cmap_lock_kind lock, unsigned nthreads, unsigned ops,
		uint64_t seed)
{
	assert_true(nthreads >= 1 && nthreads <= NTHREADS);
	assert_true(lock != CMAP_LOCK_NONE || nthreads == 1);
	struct cmap *m;
	assert_int_equal(cmap_create_lock(shards, free, lock, &m), 0);
	struct worker *ws = calloc(NTHREADS, sizeof *ws);
	assert_non_null(ws);
	pthread_barrier_t start;
	assert_int_equal(pthread_barrier_init(&start, NULL, nthreads), 0);
	pthread_t tids[NTHREADS];
	for (unsigned t = 0; t < nthreads; t++) {
		ws[t] = (struct worker){
		    .m = m, .start = &start, .id = t, .ops = ops, .seed = seed * 1000003u + t};
		if (lock == CMAP_LOCK_NONE)
			(void)worker_main(&ws[t]);
		else
			assert_int_equal(pthread_create(&tids[t], NULL, worker_main, &ws[t]), 0);
	}
	for (unsigned t = 0; lock != CMAP_LOCK_NONE && t < nthreads; t++)
		assert_int_equal(pthread_join(tids[t], NULL), 0);
	pthread_barrier_destroy(&start);

	uint64_t incs = 0, present = 0;
	for (unsigned t = 0; t < nthreads; t++) {
		struct worker *w = &ws[t];
		if (w->failures != 0)
			fail_msg("shards=%u lock=%s: %u failures, first: %s", shards,
				 cmap_lock_name(lock), w->failures, w->msg);
		incs += w->shared_incs;
		/* Final state equals every model. */
		for (unsigned i = 0; i < KEYS_PER_THREAD; i++) {
			struct key k;
			k.len = make_key(t, i, k.b);
			k.u64 = false;
			struct read_out o = {0};
			int rc = k_get(m, &k, &o);
			if (w->model[i] == 0) {
				assert_int_equal(rc, -ENOENT);
			} else {
				assert_int_equal(rc, 0);
				assert_int_equal(o.v, w->model[i]);
				present++;
			}
		}
	}
	assert_true(ws[0].scans > 0);
	/* Every increment counted exactly once. */
	uint64_t sum = 0, nshared = 0;
	for (unsigned j = 0; j < SHARED_KEYS; j++)
		nshared += cmap_get_u64(m, shared_key(j), read_shared, &sum) == 0;
	assert_int_equal(sum, incs);
	assert_true(incs > 0);
	assert_int_equal(cmap_size(m), present + nshared);
	free(ws);
	cmap_destroy(m); /* frees every value: ASan checks for leaks */
}

static void test_stress_1(void **state)
{
	(void)state;
	run(1, CMAP_LOCK_DEFAULT, NTHREADS, OPS_PER_THREAD, 1);
}

static void test_stress_16(void **state)
{
	(void)state;
	run(16, CMAP_LOCK_DEFAULT, NTHREADS, OPS_PER_THREAD, 2);
}

static void test_stress_512(void **state)
{
	(void)state;
	run(512, CMAP_LOCK_DEFAULT, NTHREADS, OPS_PER_THREAD, 3);
}

/* The alternative lock kinds (kept for measurement) must be correct too: fewer ops, 4 shards. */
static void test_stress_lock_kinds(void **state)
{
	(void)state;
	for (int k = 1; k < CMAP_LOCK_KINDS; k++)
		if (k != CMAP_LOCK_NONE)
			run(4, (enum cmap_lock_kind)k, NTHREADS, OPS_PER_THREAD / 6,
			    10 + (uint64_t)k);
}

/* The single-owner map, one thread against its model (the same mix of operations, scans
 * included), at 1 and 512 shards. */
static void test_stress_single_owner(void **state)
{
	(void)state;
	run(1, CMAP_LOCK_NONE, 1, OPS_PER_THREAD * 2, 20);
	run(512, CMAP_LOCK_NONE, 1, OPS_PER_THREAD * 2, 21);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_stress_1),
	    cmocka_unit_test(test_stress_16),
	    cmocka_unit_test(test_stress_512),
	    cmocka_unit_test(test_stress_lock_kinds),
	    cmocka_unit_test(test_stress_single_owner),
	};
	return cmocka_run_group_tests_name("cmap_stress", tests, NULL, NULL);
}
