/* Unit tests for desc/: capacity and reserve, exhaustion, stale ids, reuse, wake-up hook, and a
 * multi-threaded ownership check (run under TSan in CI). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "common/rng.h"
#include "desc/desc.h"

static void test_create_validation(void **state)
{
	(void)state;
	struct desc_pool *p;
	assert_int_equal(desc_pool_create(0, 0, 8, &p), -EINVAL);
	assert_int_equal(desc_pool_create(4, 4, 8, &p), -EINVAL);
	assert_int_equal(desc_pool_create(4, 5, 8, &p), -EINVAL);
	assert_int_equal(desc_pool_create(4, 3, 0, &p), 0);
	assert_int_equal(desc_capacity(p), 4);
	desc_pool_destroy(p);
}

static void test_exhaustion_and_reserve(void **state)
{
	(void)state;
	struct desc_pool *p;
	assert_int_equal(desc_pool_create(8, 2, 16, &p), 0);
	desc_id ids[8];
	void *pl;
	for (int i = 0; i < 6; i++)
		assert_int_equal(desc_acquire(p, false, &ids[i], &pl), 0);
	assert_int_equal(desc_acquire(p, false, &ids[6], &pl), -EAGAIN); /* reserve kept */
	assert_int_equal(desc_acquire(p, true, &ids[6], &pl), 0);
	assert_int_equal(desc_acquire(p, true, &ids[7], &pl), 0);
	assert_int_equal(desc_acquire(p, true, &ids[7], &pl), -EAGAIN);
	assert_int_equal(desc_in_use(p), 8);
	assert_int_equal(desc_exhausted_count(p), 2);
	/* all ids distinct */
	for (int i = 0; i < 8; i++)
		for (int j = i + 1; j < 8; j++)
			assert_true(ids[i] != ids[j]);
	assert_int_equal(desc_release(p, ids[0]), 0);
	assert_int_equal(desc_in_use(p), 7);
	/* one free, but it is reserve territory for unreserved callers */
	assert_int_equal(desc_acquire(p, false, &ids[0], &pl), -EAGAIN);
	assert_int_equal(desc_acquire(p, true, &ids[0], &pl), 0);
	for (int i = 0; i < 8; i++)
		assert_int_equal(desc_release(p, ids[i]), 0);
	assert_int_equal(desc_in_use(p), 0);
	desc_pool_destroy(p);
}

static void test_stale_ids(void **state)
{
	(void)state;
	struct desc_pool *p;
	assert_int_equal(desc_pool_create(2, 0, 8, &p), 0);
	desc_id a, b;
	void *pa, *pb;
	assert_int_equal(desc_acquire(p, false, &a, &pa), 0);
	assert_ptr_equal(desc_lookup(p, a), pa);
	assert_int_equal(desc_release(p, a), 0);
	assert_null(desc_lookup(p, a));
	assert_int_equal(desc_release(p, a), -ESTALE); /* double release */
	/* the slot is reused with a different id */
	assert_int_equal(desc_acquire(p, false, &b, &pb), 0);
	assert_ptr_equal(pb, pa);
	assert_true(a != b);
	assert_null(desc_lookup(p, a));
	assert_ptr_equal(desc_lookup(p, b), pb);
	/* forged ids */
	assert_null(desc_lookup(p, 0));
	assert_int_equal(desc_release(p, 0), -ESTALE);
	assert_null(desc_lookup(p, ((uint64_t)1 << 32) | 3)); /* index out of range */
	assert_null(desc_lookup(p, b + ((uint64_t)2 << 32))); /* wrong generation */
	assert_null(desc_lookup(p, b + ((uint64_t)1 << 32))); /* even generation = free */
	assert_true(desc_stale_count(p) >= 6);
	assert_int_equal(desc_release(p, b), 0);
	desc_pool_destroy(p);
}

static void test_payload_zeroed(void **state)
{
	(void)state;
	struct desc_pool *p;
	assert_int_equal(desc_pool_create(1, 0, 100, &p), 0);
	desc_id a;
	uint8_t *pl;
	assert_int_equal(desc_acquire(p, false, &a, (void **)&pl), 0);
	assert_int_equal((uintptr_t)pl % 64, 0);
	memset(pl, 0xab, 100);
	desc_release(p, a);
	assert_int_equal(desc_acquire(p, false, &a, (void **)&pl), 0);
	for (int i = 0; i < 100; i++)
		assert_int_equal(pl[i], 0);
	desc_release(p, a);
	desc_pool_destroy(p);
}

static void wake_cb(void *arg)
{
	(*(int *)arg)++;
}

static void test_wakeup_hook(void **state)
{
	(void)state;
	struct desc_pool *p;
	int wakes = 0;
	assert_int_equal(desc_pool_create(4, 0, 8, &p), 0);
	desc_set_wakeup(p, 2, wake_cb, &wakes);
	desc_id ids[4];
	void *pl;
	/* no exhaustion -> no wake-up */
	assert_int_equal(desc_acquire(p, false, &ids[0], &pl), 0);
	desc_release(p, ids[0]);
	assert_int_equal(wakes, 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(desc_acquire(p, false, &ids[i], &pl), 0);
	desc_id extra;
	assert_int_equal(desc_acquire(p, false, &extra, &pl), -EAGAIN);
	assert_int_equal(desc_acquire(p, false, &extra, &pl), -EAGAIN);
	desc_release(p, ids[0]);
	assert_int_equal(wakes, 0); /* 1 free < low water 2 */
	desc_release(p, ids[1]);
	assert_int_equal(wakes, 1); /* once per episode */
	desc_release(p, ids[2]);
	desc_release(p, ids[3]);
	assert_int_equal(wakes, 1);
	desc_pool_destroy(p);
}

struct mt_arg {
	struct desc_pool *p;
	uint32_t tid;
	int errors;
	uint64_t ops;
};

static void *mt_worker(void *argp)
{
	struct mt_arg *a = argp;
	struct common_rng r;
	common_rng_seed(&r, a->tid);
	desc_id held[8];
	int nheld = 0;
	for (int i = 0; i < 100000; i++) {
		if (nheld < 8 && (nheld == 0 || common_rng_coin(&r, 50))) {
			void *pl;
			if (desc_acquire(a->p, false, &held[nheld], &pl) == 0) {
				uint32_t *owner = pl;
				if (*owner != 0)
					a->errors++; /* payload must be zeroed and unshared */
				*owner = a->tid;
				nheld++;
			}
		} else if (nheld > 0) {
			desc_id id = held[--nheld];
			uint32_t *owner = desc_lookup(a->p, id);
			if (owner == NULL || *owner != a->tid)
				a->errors++; /* another holder had the same descriptor */
			if (desc_release(a->p, id) != 0)
				a->errors++;
		}
		a->ops++;
	}
	while (nheld > 0)
		desc_release(a->p, held[--nheld]);
	return NULL;
}

static void test_multithreaded(void **state)
{
	(void)state;
	struct desc_pool *p;
	assert_int_equal(desc_pool_create(16, 0, sizeof(uint32_t), &p), 0);
	pthread_t th[4];
	struct mt_arg args[4];
	for (int i = 0; i < 4; i++) {
		args[i] = (struct mt_arg){.p = p, .tid = (uint32_t)i + 1};
		assert_int_equal(pthread_create(&th[i], NULL, mt_worker, &args[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(args[i].errors, 0);
		assert_int_equal(args[i].ops, 100000);
	}
	assert_int_equal(desc_in_use(p), 0);
	desc_pool_destroy(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_validation), cmocka_unit_test(test_exhaustion_and_reserve),
		cmocka_unit_test(test_stale_ids),	  cmocka_unit_test(test_payload_zeroed),
		cmocka_unit_test(test_wakeup_hook),	  cmocka_unit_test(test_multithreaded),
	};
	return cmocka_run_group_tests_name("desc", tests, NULL, NULL);
}
