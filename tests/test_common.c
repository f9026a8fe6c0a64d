/* Unit tests for common/: rng ranges and determinism, coin exactness, hash stability, the
 * scheduling policy. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "common/clock.h"
#include "common/hash.h"
#include "common/rng.h"
#include "common/sched.h"

static void test_rng_deterministic(void **state)
{
	(void)state;
	struct common_rng a, b, c;
	common_rng_seed(&a, 42);
	common_rng_seed(&b, 42);
	common_rng_seed(&c, 43);
	int differ = 0;
	for (int i = 0; i < 1000; i++) {
		uint64_t x = common_rng_next(&a);
		assert_int_equal(x, common_rng_next(&b));
		differ += x != common_rng_next(&c);
	}
	assert_true(differ > 990);
}

static void test_rng_below_range(void **state)
{
	(void)state;
	struct common_rng r;
	common_rng_seed(&r, 7);
	unsigned hist[10] = {0};
	for (int i = 0; i < 100000; i++) {
		uint64_t v = common_rng_below(&r, 10);
		assert_true(v < 10);
		hist[v]++;
	}
	for (int i = 0; i < 10; i++) /* expected 10000 each; 5 sigma is ~475 */
		assert_in_range(hist[i], 9400, 10600);
	assert_int_equal(common_rng_below(&r, 0), 0);
}

/* The prototype's coin fired with probability (p+1)/100; ours must be exact. */
static void test_rng_coin_exact(void **state)
{
	(void)state;
	struct common_rng r;
	common_rng_seed(&r, 1);
	int n = 200000, hits5 = 0, hits0 = 0, hits100 = 0;
	for (int i = 0; i < n; i++) {
		hits5 += common_rng_coin(&r, 5);
		hits0 += common_rng_coin(&r, 0);
		hits100 += common_rng_coin(&r, 100);
	}
	assert_int_equal(hits0, 0);
	assert_int_equal(hits100, n);
	/* 5% of 200000 = 10000, sd ~97; 6% would be 12000 */
	assert_in_range(hits5, 9500, 10500);
}

static void test_rng_unit(void **state)
{
	(void)state;
	struct common_rng r;
	common_rng_seed(&r, 3);
	double sum = 0;
	for (int i = 0; i < 10000; i++) {
		double u = common_rng_unit(&r);
		assert_true(u >= 0.0 && u < 1.0);
		sum += u;
	}
	assert_true(sum > 4800 && sum < 5200);
}

static void test_hash_stable_and_sensitive(void **state)
{
	(void)state;
	const char *a = "replica-key-0001";
	uint64_t h1 = common_hash64(a, strlen(a), 0);
	assert_int_equal(h1, common_hash64(a, strlen(a), 0));
	assert_int_not_equal(h1, common_hash64(a, strlen(a), 1));
	assert_int_not_equal(h1, common_hash64(a, strlen(a) - 1, 0));
	/* Keys that share their low 32 bits must not collide (the prototype truncated keys). */
	uint64_t k1 = 0x0000000100000005ull, k2 = 0x0000000200000005ull;
	assert_int_not_equal(common_hash64(&k1, 8, 0), common_hash64(&k2, 8, 0));
	/* Seed and data must not combine linearly: (seed 0, word 2) vs (seed 1, word 3) collided
	 * when they were XORed together (found by the history checker's memo table). */
	uint64_t w2 = 2, w3 = 3;
	assert_int_not_equal(common_hash64(&w2, 8, 0), common_hash64(&w3, 8, 1));
	for (uint64_t sd = 0; sd < 64; sd++)
		for (uint64_t w = 0; w < 64; w++) {
			uint64_t x = w ^ sd ^ 1;
			if (w != x)
				assert_int_not_equal(common_hash64(&w, 8, sd), common_hash64(&x, 8, sd ^ 1));
		}
	/* Empty input is valid. */
	assert_int_equal(common_hash64("", 0, 9), common_hash64(NULL, 0, 9));
}

static void test_clock_monotonic(void **state)
{
	(void)state;
	uint64_t a = common_now_ns();
	uint64_t b = common_now_ns();
	assert_true(b >= a);
	assert_true(common_wall_ns() > 1600000000ull * 1000000000ull);
}

static void *report_batch(void *arg)
{
	*(bool *)arg = common_sched_is_batch();
	return NULL;
}

/* schedBatch: the calling thread goes under SCHED_BATCH, a thread it starts afterwards inherits
 * it (the process sets it before it starts any), and it comes back to SCHED_OTHER. */
static void test_sched_batch(void **state)
{
	(void)state;
	assert_false(common_sched_is_batch());
	int rc = common_sched_batch(true);
	if (rc == -EPERM)
		skip(); /* a seccomp filter forbids sched_setscheduler here */
	assert_int_equal(rc, 0);
	assert_true(common_sched_is_batch());
	bool child = false;
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, report_batch, &child), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_true(child);
	assert_int_equal(common_sched_batch(false), 0);
	assert_false(common_sched_is_batch());
	child = true;
	assert_int_equal(pthread_create(&th, NULL, report_batch, &child), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_false(child);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rng_deterministic),
		cmocka_unit_test(test_rng_below_range),
		cmocka_unit_test(test_rng_coin_exact),
		cmocka_unit_test(test_rng_unit),
		cmocka_unit_test(test_hash_stable_and_sensitive),
		cmocka_unit_test(test_clock_monotonic),
		cmocka_unit_test(test_sched_batch),
	};
	return cmocka_run_group_tests_name("common", tests, NULL, NULL);
}
