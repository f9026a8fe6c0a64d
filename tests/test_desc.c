/* Unit tests for desc/: creation limits, id layout, exhaustion and reserve, stale, double and
 * forged ids, generation wrap-around, payload zeroing and alignment, the wake-up hook, and a
 * multi-threaded ownership check (run under TSan in CI). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "common/rng.h"
#include "desc/desc.h"

#define ID(gen, idx1) (((uint64_t)(gen) << 32) | (uint64_t)(idx1))

static uint32_t id_index(desc_id id)
{
	return (uint32_t)id - 1;
}

static void test_create_validation(void **state)
{
	(void)state;
	struct desc_pool *p = NULL;
	assert_int_equal(desc_pool_create(0, 0, 8, &p), -EINVAL);
	assert_int_equal(desc_pool_create(4, 4, 8, &p), -EINVAL);
	assert_int_equal(desc_pool_create(4, 5, 8, &p), -EINVAL);
	assert_int_equal(desc_pool_create((UINT32_C(1) << 31) + 1, 0, 8, &p), -EINVAL);
	assert_int_equal(desc_pool_create(UINT32_MAX, 0, 8, &p), -EINVAL);
	/* sizes that do not fit in a size_t are refused before anything is allocated */
	assert_int_equal(desc_pool_create(1, 0, SIZE_MAX, &p), -ENOMEM);
	assert_int_equal(desc_pool_create(4, 0, SIZE_MAX / 2, &p), -ENOMEM);
	assert_null(p);
	assert_int_equal(desc_pool_create(4, 3, 0, &p), 0);
	assert_int_equal(desc_capacity(p), 4);
	assert_int_equal(desc_in_use(p), 0);
	assert_int_equal(desc_exhausted_count(p), 0);
	assert_int_equal(desc_stale_count(p), 0);
	desc_pool_destroy(p);
	assert_int_equal(desc_pool_create(1, 0, 1, &p), 0);
	desc_pool_destroy(p);
	desc_pool_destroy(NULL);
}

/* The id layout is part of the contract (desc.h): generation << 32 | index + 1. */
static void test_id_layout(void **state)
{
	(void)state;
	struct desc_pool *p;
	assert_int_equal(desc_pool_create(3, 0, 8, &p), 0);
	desc_id a, b;
	void *pa, *pb;
	assert_int_equal(desc_acquire(p, false, &a, &pa), 0);
	assert_int_equal(desc_acquire(p, false, &b, &pb), 0);
	assert_int_equal(a, ID(1, 1));
	assert_int_equal(b, ID(1, 2));
	assert_int_equal(desc_release(p, a), 0);
	assert_int_equal(desc_acquire(p, false, &a, &pa), 0); /* LIFO: the same slot */
	assert_int_equal(a, ID(3, 1));
	assert_int_equal(desc_release(p, a), 0);
	assert_int_equal(desc_release(p, b), 0);
	desc_pool_destroy(p);
}

static void test_exhaustion_and_reserve(void **state)
{
	(void)state;
	struct desc_pool *p;
	assert_int_equal(desc_pool_create(8, 2, 16, &p), 0);
	desc_id ids[8], extra;
	void *pl;
	/* exactly capacity - reserve unreserved acquisitions */
	for (int i = 0; i < 6; i++)
		assert_int_equal(desc_acquire(p, false, &ids[i], &pl), 0);
	assert_int_equal(desc_in_use(p), 6);
	assert_int_equal(desc_acquire(p, false, &extra, &pl), -EAGAIN);
	assert_int_equal(desc_acquire(p, false, &extra, &pl), -EAGAIN);
	assert_int_equal(desc_exhausted_count(p), 2);
	assert_int_equal(desc_in_use(p), 6);
	/* reserved acquisitions take the reserve */
	assert_int_equal(desc_acquire(p, true, &ids[6], &pl), 0);
	assert_int_equal(desc_acquire(p, true, &ids[7], &pl), 0);
	assert_int_equal(desc_in_use(p), 8);
	/* then nothing for anyone */
	assert_int_equal(desc_acquire(p, true, &extra, &pl), -EAGAIN);
	assert_int_equal(desc_acquire(p, false, &extra, &pl), -EAGAIN);
	assert_int_equal(desc_exhausted_count(p), 4);
	for (int i = 0; i < 8; i++)
		for (int j = i + 1; j < 8; j++)
			assert_true(ids[i] != ids[j]);
	/* one free: reserve territory, closed to unreserved callers */
	assert_int_equal(desc_release(p, ids[0]), 0);
	assert_int_equal(desc_in_use(p), 7);
	assert_int_equal(desc_acquire(p, false, &extra, &pl), -EAGAIN);
	assert_int_equal(desc_acquire(p, true, &ids[0], &pl), 0);
	/* three free: one above the reserve, so one unreserved acquisition fits */
	for (int i = 0; i < 3; i++)
		assert_int_equal(desc_release(p, ids[i]), 0);
	assert_int_equal(desc_acquire(p, false, &ids[0], &pl), 0);
	assert_int_equal(desc_acquire(p, false, &extra, &pl), -EAGAIN);
	assert_int_equal(desc_exhausted_count(p), 6);
	assert_int_equal(desc_acquire(p, true, &ids[1], &pl), 0);
	assert_int_equal(desc_acquire(p, true, &ids[2], &pl), 0);
	assert_int_equal(desc_in_use(p), 8);
	for (int i = 0; i < 8; i++)
		assert_int_equal(desc_release(p, ids[i]), 0);
	assert_int_equal(desc_in_use(p), 0);
	assert_int_equal(desc_stale_count(p), 0);
	desc_pool_destroy(p);
}

/* With no reserve, reserved and unreserved acquisitions see the same capacity. */
static void test_no_reserve(void **state)
{
	(void)state;
	struct desc_pool *p;
	assert_int_equal(desc_pool_create(3, 0, 8, &p), 0);
	desc_id ids[3], extra;
	void *pl;
	assert_int_equal(desc_acquire(p, true, &ids[0], &pl), 0);
	assert_int_equal(desc_acquire(p, false, &ids[1], &pl), 0);
	assert_int_equal(desc_acquire(p, false, &ids[2], &pl), 0);
	assert_int_equal(desc_acquire(p, false, &extra, &pl), -EAGAIN);
	assert_int_equal(desc_acquire(p, true, &extra, &pl), -EAGAIN);
	assert_int_equal(desc_release(p, ids[1]), 0);
	assert_int_equal(desc_acquire(p, false, &ids[1], &pl), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(desc_release(p, ids[i]), 0);
	assert_int_equal(desc_exhausted_count(p), 2);
	desc_pool_destroy(p);
}

static void test_stale_after_release(void **state)
{
	(void)state;
	struct desc_pool *p;
	assert_int_equal(desc_pool_create(2, 0, 8, &p), 0);
	desc_id a, b;
	void *pa, *pb;
	assert_int_equal(desc_acquire(p, false, &a, &pa), 0);
	assert_ptr_equal(desc_lookup(p, a), pa);
	assert_int_equal(desc_stale_count(p), 0);
	assert_int_equal(desc_release(p, a), 0);
	assert_null(desc_lookup(p, a));
	assert_int_equal(desc_stale_count(p), 1);
	assert_int_equal(desc_release(p, a), -ESTALE);
	assert_int_equal(desc_stale_count(p), 2);
	/* reusing the slot yields a different id; the old one stays stale */
	assert_int_equal(desc_acquire(p, false, &b, &pb), 0);
	assert_ptr_equal(pb, pa);
	assert_int_equal(id_index(b), id_index(a));
	assert_true(a != b);
	assert_null(desc_lookup(p, a));
	assert_int_equal(desc_release(p, a), -ESTALE);
	assert_int_equal(desc_stale_count(p), 4);
	assert_ptr_equal(desc_lookup(p, b), pb);
	assert_int_equal(desc_in_use(p), 1);
	assert_int_equal(desc_release(p, b), 0);
	assert_int_equal(desc_stale_count(p), 4);
	assert_int_equal(desc_in_use(p), 0);
	desc_pool_destroy(p);
}

/* A double release must not push the slot twice: afterwards the pool still hands out
 * capacity distinct slots and no more. */
static void test_double_release(void **state)
{
	(void)state;
	struct desc_pool *p;
	assert_int_equal(desc_pool_create(4, 0, 8, &p), 0);
	desc_id a, b, ids[4], extra;
	void *pl;
	assert_int_equal(desc_acquire(p, false, &a, &pl), 0);
	assert_int_equal(desc_acquire(p, false, &b, &pl), 0);
	assert_int_equal(desc_release(p, a), 0);
	assert_int_equal(desc_release(p, a), -ESTALE);
	assert_int_equal(desc_release(p, a), -ESTALE);
	assert_int_equal(desc_stale_count(p), 2);
	assert_int_equal(desc_in_use(p), 1);
	assert_int_equal(desc_release(p, b), 0);
	assert_int_equal(desc_release(p, b), -ESTALE);
	assert_int_equal(desc_in_use(p), 0);
	bool seen[4] = {false};
	for (int i = 0; i < 4; i++) {
		assert_int_equal(desc_acquire(p, false, &ids[i], &pl), 0);
		assert_false(seen[id_index(ids[i])]);
		seen[id_index(ids[i])] = true;
	}
	assert_int_equal(desc_acquire(p, false, &extra, &pl), -EAGAIN);
	for (int i = 0; i < 4; i++)
		assert_int_equal(desc_release(p, ids[i]), 0);
	desc_pool_destroy(p);
}

static void test_forged_ids(void **state)
{
	(void)state;
	struct desc_pool *p;
	assert_int_equal(desc_pool_create(2, 0, 8, &p), 0);
	desc_id a;
	void *pa;
	assert_int_equal(desc_acquire(p, false, &a, &pa), 0); /* slot 0; slot 1 never used */
	const desc_id forged[] = {
	    0,
	    ID(1, 0),	       /* index part 0 */
	    ID(1, 3),	       /* index out of range */
	    ID(1, UINT32_MAX), /* index far out of range */
	    a + ID(2, 0),      /* held slot, wrong (odd) generation */
	    a + ID(1, 0),      /* held slot, even generation */
	    a - ID(1, 0),      /* held slot, the free generation before it */
	    ID(1, 2),	       /* a slot never acquired */
	    ID(0, 2),	       /* a free slot's current (even) generation */
	    ID(UINT32_MAX, 1), /* held slot, far generation */
	};
	const uint64_t n = sizeof forged / sizeof forged[0];
	for (uint64_t i = 0; i < n; i++) {
		assert_null(desc_lookup(p, forged[i]));
		assert_int_equal(desc_release(p, forged[i]), -ESTALE);
	}
	assert_int_equal(desc_stale_count(p), 2 * n);
	/* nothing was corrupted: a is still held, exactly one slot remains */
	assert_ptr_equal(desc_lookup(p, a), pa);
	assert_int_equal(desc_in_use(p), 1);
	desc_id b, extra;
	void *pl;
	assert_int_equal(desc_acquire(p, false, &b, &pl), 0);
	assert_int_equal(b, ID(1, 2));
	assert_int_equal(desc_acquire(p, false, &extra, &pl), -EAGAIN);
	assert_int_equal(desc_release(p, a), 0);
	assert_int_equal(desc_release(p, b), 0);
	desc_pool_destroy(p);
}

static void test_generation_wrap(void **state)
{
	(void)state;
	struct desc_pool *p;
	assert_int_equal(desc_pool_create(2, 0, 8, &p), 0);
	assert_int_equal(desc_debug_set_generation(p, 0, UINT32_MAX), -EINVAL); /* odd */
	assert_int_equal(desc_debug_set_generation(p, 2, 0), -EINVAL);
	assert_int_equal(desc_debug_set_generation(p, 0, UINT32_MAX - 1), 0);
	desc_id a, b, c;
	void *pl;
	assert_int_equal(desc_acquire(p, false, &a, &pl), 0);
	assert_int_equal(a, ID(UINT32_MAX, 1));
	assert_int_equal(desc_debug_set_generation(p, 0, 0), -EBUSY);
	assert_ptr_equal(desc_lookup(p, a), pl);
	assert_int_equal(desc_release(p, a), 0); /* generation wraps to 0 (free) */
	assert_int_equal(desc_acquire(p, false, &b, &pl), 0);
	assert_int_equal(b, ID(1, 1));
	assert_true(b != 0 && b != a);
	assert_null(desc_lookup(p, a));
	assert_int_equal(desc_release(p, a), -ESTALE);
	assert_int_equal(desc_release(p, b), 0);
	assert_int_equal(desc_acquire(p, false, &c, &pl), 0);
	assert_int_equal(c, ID(3, 1));
	assert_int_equal(desc_release(p, b), -ESTALE);
	assert_int_equal(desc_release(p, c), 0);
	assert_int_equal(desc_in_use(p), 0);
	desc_pool_destroy(p);
}

static void test_payload_zeroed_and_aligned(void **state)
{
	(void)state;
	const size_t sizes[] = {0, 1, 63, 64, 65, 100, 4096};
	for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
		size_t sz = sizes[s];
		struct desc_pool *p;
		assert_int_equal(desc_pool_create(3, 1, sz, &p), 0);
		desc_id ids[3];
		uint8_t *pl[3];
		for (int i = 0; i < 3; i++) {
			assert_int_equal(desc_acquire(p, i == 2, &ids[i], (void **)&pl[i]), 0);
			assert_int_equal((uintptr_t)pl[i] % 64, 0);
			for (size_t j = 0; j < sz; j++)
				assert_int_equal(pl[i][j], 0);
			memset(pl[i], 0xab, sz);
		}
		/* distinct, non-overlapping payloads, even of size 0 */
		for (int i = 0; i < 3; i++)
			for (int j = 0; j < 3; j++)
				if (i != j)
					assert_true(pl[i] + (sz ? sz : 1) <= pl[j] ||
						    pl[j] + (sz ? sz : 1) <= pl[i]);
		for (int i = 0; i < 3; i++) {
			assert_int_equal(desc_release(p, ids[i]), 0);
			uint8_t *again;
			desc_id id;
			assert_int_equal(desc_acquire(p, true, &id, (void **)&again), 0);
			assert_ptr_equal(again, pl[i]); /* LIFO: the slot just released */
			for (size_t j = 0; j < sz; j++)
				assert_int_equal(again[j], 0);
			assert_int_equal(desc_release(p, id), 0);
		}
		desc_pool_destroy(p);
	}
}

struct wake_ctx {
	struct desc_pool *p;
	int calls;
	uint32_t in_use_seen; /* desc_in_use at the call */
	bool acquire_in_hook; /* the hook takes a descriptor itself (re-entry, no deadlock) */
	int hook_rc;
	desc_id hook_id;
};

static void wake_cb(void *arg)
{
	struct wake_ctx *w = arg;
	w->calls++;
	w->in_use_seen = desc_in_use(w->p);
	if (w->acquire_in_hook) {
		void *pl;
		w->hook_rc = desc_acquire(w->p, false, &w->hook_id, &pl);
	}
}

/* Takes n descriptors of one class into ids; each acquisition must succeed. */
static void take(struct desc_pool *p, bool reserved, desc_id *ids, int n)
{
	void *pl;
	for (int i = 0; i < n; i++)
		assert_int_equal(desc_acquire(p, reserved, &ids[i], &pl), 0);
}

static void refuse(struct desc_pool *p, bool reserved)
{
	desc_id id;
	void *pl;
	assert_int_equal(desc_acquire(p, reserved, &id, &pl), -EAGAIN);
}

static void test_wakeup_low_water(void **state)
{
	(void)state;
	struct desc_pool *p;
	assert_int_equal(desc_pool_create(8, 2, 8, &p), 0);
	struct wake_ctx w = {.p = p};
	desc_set_wakeup(p, 3, wake_cb, &w);
	desc_id ids[8];

	/* episode 1: several refusals, one call, exactly when 3 unreserved are free again */
	take(p, false, ids, 6);
	refuse(p, false);
	refuse(p, false);
	refuse(p, false);
	assert_int_equal(desc_release(p, ids[0]), 0);
	assert_int_equal(desc_release(p, ids[1]), 0);
	assert_int_equal(w.calls, 0); /* 2 free unreserved < 3 */
	assert_int_equal(desc_release(p, ids[2]), 0);
	assert_int_equal(w.calls, 1);
	assert_int_equal(w.in_use_seen, 3);
	for (int i = 3; i < 6; i++)
		assert_int_equal(desc_release(p, ids[i]), 0);
	assert_int_equal(w.calls, 1);

	/* acquisitions that succeed, and dips below low water, start nothing */
	take(p, false, ids, 6);
	for (int i = 0; i < 6; i++)
		assert_int_equal(desc_release(p, ids[i]), 0);
	assert_int_equal(w.calls, 1);

	/* episode 2: the next exhaustion fires again */
	take(p, false, ids, 6);
	refuse(p, false);
	for (int i = 0; i < 6; i++)
		assert_int_equal(desc_release(p, ids[i]), 0);
	assert_int_equal(w.calls, 2);

	/* episode 3, started by a refused reserved acquisition: releasing the reserve (0 free
	 * unreserved) does not end it, three more do */
	take(p, false, ids, 6);
	take(p, true, ids + 6, 2);
	refuse(p, true);
	assert_int_equal(desc_release(p, ids[6]), 0);
	assert_int_equal(desc_release(p, ids[7]), 0);
	assert_int_equal(desc_release(p, ids[0]), 0);
	assert_int_equal(desc_release(p, ids[1]), 0);
	assert_int_equal(w.calls, 2);
	assert_int_equal(desc_release(p, ids[2]), 0);
	assert_int_equal(w.calls, 3);
	for (int i = 3; i < 6; i++)
		assert_int_equal(desc_release(p, ids[i]), 0);
	assert_int_equal(w.calls, 3);

	/* stale releases never fire it */
	take(p, false, ids, 6);
	refuse(p, false);
	assert_int_equal(desc_release(p, ids[0]), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(desc_release(p, ids[0]), -ESTALE);
	assert_int_equal(w.calls, 3);
	for (int i = 1; i < 6; i++)
		assert_int_equal(desc_release(p, ids[i]), 0);
	assert_int_equal(w.calls, 4);
	desc_pool_destroy(p);
}

static void test_wakeup_needs_exhaustion(void **state)
{
	(void)state;
	struct desc_pool *p;
	assert_int_equal(desc_pool_create(4, 1, 8, &p), 0);
	struct wake_ctx w = {.p = p};
	desc_set_wakeup(p, 1, wake_cb, &w);
	desc_id ids[4];
	for (int round = 0; round < 5; round++) {
		take(p, false, ids, 3);
		take(p, true, ids + 3, 1);
		for (int i = 0; i < 4; i++)
			assert_int_equal(desc_release(p, ids[i]), 0);
	}
	assert_int_equal(w.calls, 0);
	assert_int_equal(desc_exhausted_count(p), 0);
	desc_pool_destroy(p);
}

/* low_water is clamped to 1..capacity - reserve so an episode always ends. */
static void test_wakeup_clamped(void **state)
{
	(void)state;
	struct desc_pool *p;
	assert_int_equal(desc_pool_create(4, 1, 8, &p), 0);
	struct wake_ctx w = {.p = p};
	desc_id ids[4];

	desc_set_wakeup(p, 100, wake_cb, &w); /* counts as 3 */
	take(p, false, ids, 3);
	refuse(p, false);
	assert_int_equal(desc_release(p, ids[0]), 0);
	assert_int_equal(desc_release(p, ids[1]), 0);
	assert_int_equal(w.calls, 0);
	assert_int_equal(desc_release(p, ids[2]), 0);
	assert_int_equal(w.calls, 1);

	desc_set_wakeup(p, 0, wake_cb, &w); /* counts as 1 */
	take(p, false, ids, 3);
	refuse(p, false);
	assert_int_equal(desc_release(p, ids[0]), 0);
	assert_int_equal(w.calls, 2);
	assert_int_equal(desc_release(p, ids[1]), 0);
	assert_int_equal(desc_release(p, ids[2]), 0);
	assert_int_equal(w.calls, 2);
	desc_pool_destroy(p);
}

/* The hook runs outside the lock: it may acquire (here it takes the descriptor just freed). */
static void test_wakeup_reentrant(void **state)
{
	(void)state;
	struct desc_pool *p;
	assert_int_equal(desc_pool_create(2, 0, 8, &p), 0);
	struct wake_ctx w = {.p = p, .acquire_in_hook = true, .hook_rc = 1};
	desc_set_wakeup(p, 1, wake_cb, &w);
	desc_id ids[2];
	take(p, false, ids, 2);
	refuse(p, false);
	assert_int_equal(desc_release(p, ids[0]), 0);
	assert_int_equal(w.calls, 1);
	assert_int_equal(w.hook_rc, 0);
	assert_ptr_not_equal(desc_lookup(p, w.hook_id), NULL);
	assert_int_equal(desc_in_use(p), 2);
	assert_int_equal(desc_release(p, w.hook_id), 0);
	assert_int_equal(desc_release(p, ids[1]), 0);
	assert_int_equal(w.calls, 1);
	desc_pool_destroy(p);
}

/* Without a hook an episode still ends (silently); a hook registered later does not fire for
 * it, only for the next one. */
static void test_wakeup_removed(void **state)
{
	(void)state;
	struct desc_pool *p;
	assert_int_equal(desc_pool_create(2, 0, 8, &p), 0);
	struct wake_ctx w = {.p = p};
	desc_id ids[2];
	desc_set_wakeup(p, 1, wake_cb, &w);
	desc_set_wakeup(p, 1, NULL, NULL);
	take(p, false, ids, 2);
	refuse(p, false);
	assert_int_equal(desc_release(p, ids[0]), 0);
	assert_int_equal(desc_release(p, ids[1]), 0);
	desc_set_wakeup(p, 1, wake_cb, &w);
	take(p, false, ids, 2);
	assert_int_equal(desc_release(p, ids[0]), 0);
	assert_int_equal(desc_release(p, ids[1]), 0);
	assert_int_equal(w.calls, 0);
	take(p, false, ids, 2);
	refuse(p, false);
	assert_int_equal(desc_release(p, ids[0]), 0);
	assert_int_equal(w.calls, 1);
	assert_int_equal(desc_release(p, ids[1]), 0);
	desc_pool_destroy(p);
}

/* Multi-threaded: 4 threads acquire (some reserved), look up and release on one small pool so
 * that it runs dry often. Ownership is checked twice: a shared table of holders per slot
 * (compare-and-swap from 0, so two simultaneous holders of a slot are caught at once) and the
 * holder's thread id written into the payload and checked before release. Each released id is
 * checked stale right away, while the other threads churn the pool. */
enum { MT_THREADS = 4, MT_CAP = 16, MT_RESERVE = 2, MT_HOLD = 8, MT_ITERS = 100000 };

struct mt_payload {
	uint32_t owner;
	uint32_t pad;
	desc_id id;
};

struct mt_shared {
	struct desc_pool *p;
	atomic_uint holder[MT_CAP];
	atomic_ulong wakes;
};

struct mt_arg {
	struct mt_shared *sh;
	uint32_t tid;
	uint64_t errors;
	uint64_t acquired, refused, stale_checks, max_in_use;
};

static void mt_wake(void *arg)
{
	struct mt_shared *sh = arg;
	atomic_fetch_add(&sh->wakes, 1);
}

static void mt_release(struct mt_arg *a, desc_id id, struct mt_payload *mine)
{
	struct desc_pool *p = a->sh->p;
	struct mt_payload *pl = desc_lookup(p, id);
	if (pl != mine || pl->owner != a->tid || pl->id != id)
		a->errors++; /* another holder had the same descriptor */
	unsigned expect = a->tid;
	if (!atomic_compare_exchange_strong(&a->sh->holder[id_index(id)], &expect, 0))
		a->errors++;
	if (desc_release(p, id) != 0)
		a->errors++;
	/* stale at once, even if another thread already took the slot again */
	if (desc_lookup(p, id) != NULL || desc_release(p, id) != -ESTALE)
		a->errors++;
	a->stale_checks += 2;
}

static void *mt_worker(void *argp)
{
	struct mt_arg *a = argp;
	struct desc_pool *p = a->sh->p;
	struct common_rng r;
	common_rng_seed(&r, a->tid);
	desc_id held[MT_HOLD];
	struct mt_payload *pls[MT_HOLD];
	int nheld = 0;
	for (int i = 0; i < MT_ITERS; i++) {
		if (nheld < MT_HOLD && (nheld == 0 || common_rng_coin(&r, 55))) {
			desc_id id;
			void *v;
			bool reserved = common_rng_coin(&r, 10);
			int rc = desc_acquire(p, reserved, &id, &v);
			if (rc == -EAGAIN) {
				a->refused++;
				continue;
			}
			struct mt_payload *pl = v;
			uint32_t idx = id_index(id);
			if (rc != 0 || id == 0 || idx >= MT_CAP || ((id >> 32) & 1) == 0) {
				a->errors++;
				continue;
			}
			unsigned expect = 0;
			if (!atomic_compare_exchange_strong(&a->sh->holder[idx], &expect, a->tid))
				a->errors++; /* handed to two holders at once */
			if (pl->owner != 0 || pl->id != 0)
				a->errors++; /* payload must be zeroed */
			pl->owner = a->tid;
			pl->id = id;
			a->acquired++;
			held[nheld] = id;
			pls[nheld++] = pl;
			uint32_t in_use = desc_in_use(p);
			if (in_use > a->max_in_use)
				a->max_in_use = in_use;
		} else {
			/* release a random one of ours, not always the newest */
			int k = (int)common_rng_below(&r, (uint64_t)nheld);
			mt_release(a, held[k], pls[k]);
			held[k] = held[--nheld];
			pls[k] = pls[nheld];
		}
	}
	while (nheld > 0) {
		nheld--;
		mt_release(a, held[nheld], pls[nheld]);
	}
	return NULL;
}

static void test_multithreaded(void **state)
{
	(void)state;
	static struct mt_shared sh; /* static: a few KiB off the test's stack */
	memset(&sh, 0, sizeof sh);
	assert_int_equal(desc_pool_create(MT_CAP, MT_RESERVE, sizeof(struct mt_payload), &sh.p), 0);
	for (int i = 0; i < MT_CAP; i++)
		atomic_init(&sh.holder[i], 0);
	atomic_init(&sh.wakes, 0);
	desc_set_wakeup(sh.p, 4, mt_wake, &sh);
	pthread_t th[MT_THREADS];
	struct mt_arg args[MT_THREADS];
	for (int i = 0; i < MT_THREADS; i++) {
		args[i] = (struct mt_arg){.sh = &sh, .tid = (uint32_t)i + 1};
		assert_int_equal(pthread_create(&th[i], NULL, mt_worker, &args[i]), 0);
	}
	uint64_t acquired = 0, refused = 0, stale = 0;
	for (int i = 0; i < MT_THREADS; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(args[i].errors, 0);
		assert_true(args[i].max_in_use <= MT_CAP);
		acquired += args[i].acquired;
		refused += args[i].refused;
		stale += args[i].stale_checks;
	}
	assert_int_equal(desc_in_use(sh.p), 0);
	assert_int_equal(desc_exhausted_count(sh.p), refused);
	assert_int_equal(desc_stale_count(sh.p), stale);
	assert_true(acquired > 0);
	/* every episode ended (all descriptors are back) with one call, and each one started with
	 * at least one refusal */
	unsigned long wakes = atomic_load(&sh.wakes);
	if (refused > 0)
		assert_true(wakes >= 1);
	assert_true(wakes <= refused);
	print_message("# multithreaded: %llu acquired, %llu refused, %lu wake-ups\n",
		      (unsigned long long)acquired, (unsigned long long)refused, wakes);
	desc_pool_destroy(sh.p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_create_validation),
	    cmocka_unit_test(test_id_layout),
	    cmocka_unit_test(test_exhaustion_and_reserve),
	    cmocka_unit_test(test_no_reserve),
	    cmocka_unit_test(test_stale_after_release),
	    cmocka_unit_test(test_double_release),
	    cmocka_unit_test(test_forged_ids),
	    cmocka_unit_test(test_generation_wrap),
	    cmocka_unit_test(test_payload_zeroed_and_aligned),
	    cmocka_unit_test(test_wakeup_low_water),
	    cmocka_unit_test(test_wakeup_needs_exhaustion),
	    cmocka_unit_test(test_wakeup_clamped),
	    cmocka_unit_test(test_wakeup_reentrant),
	    cmocka_unit_test(test_wakeup_removed),
	    cmocka_unit_test(test_multithreaded),
	};
	return cmocka_run_group_tests_name("desc", tests, NULL, NULL);
}
