/* Unit tests for oset/: order (bytewise, prefixes first), insert/remove/seek against a sorted
 * model under a long random sequence, and iteration after removals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"
#include "oset/oset.h"

struct mkey {
	uint8_t b[6];
	size_t n;
};

static int mkey_cmp(const void *a, const void *b)
{
	const struct mkey *x = a, *y = b;
	size_t m = x->n < y->n ? x->n : y->n;
	int c = m ? memcmp(x->b, y->b, m) : 0;
	if (c)
		return c;
	return x->n < y->n ? -1 : x->n > y->n;
}

static void test_order(void **state)
{
	(void)state;
	struct oset *s;
	assert_int_equal(oset_create(1, &s), 0);
	assert_null(oset_seek(s, "", 0));
	const char *keys[] = {"b", "ab", "a", "", "abc", "\xff", "a\x00"};
	size_t lens[] = {1, 2, 1, 0, 3, 1, 2};
	for (int i = 0; i < 7; i++)
		assert_int_equal(oset_insert(s, keys[i], lens[i]), 1);
	assert_int_equal(oset_insert(s, "ab", 2), 0); /* present */
	assert_int_equal(oset_size(s), 7);
	/* expected order: "" < "a" < "a\0" < "ab" < "abc" < "b" < "\xff" */
	const char *want[] = {"", "a", "a\x00", "ab", "abc", "b", "\xff"};
	size_t wl[] = {0, 1, 2, 2, 3, 1, 1};
	const struct oset_node *n = oset_seek(s, "", 0);
	for (int i = 0; i < 7; i++) {
		assert_non_null(n);
		size_t kl;
		const uint8_t *k = oset_key(n, &kl);
		assert_int_equal(kl, wl[i]);
		if (kl)
			assert_memory_equal(k, want[i], kl);
		n = oset_next(n);
	}
	assert_null(n);
	/* seek lands on the first key >= the probe, present or not */
	size_t kl;
	n = oset_seek(s, "aa", 2);
	assert_memory_equal(oset_key(n, &kl), "ab", 2);
	n = oset_seek(s, "abc", 3);
	assert_memory_equal(oset_key(n, &kl), "abc", 3);
	assert_null(oset_seek(s, "\xff\x00", 2));
	assert_true(oset_remove(s, "a", 1));
	assert_false(oset_remove(s, "a", 1));
	assert_false(oset_contains(s, "a", 1));
	assert_true(oset_contains(s, "a\x00", 2));
	assert_int_equal(oset_size(s), 6);
	oset_destroy(s);
	oset_destroy(NULL);
}

static void test_against_model(void **state)
{
	(void)state;
	enum { SPACE = 400, STEPS = 60000 };
	struct mkey all[SPACE];
	struct common_rng r;
	common_rng_seed(&r, 7);
	/* a key space with shared prefixes and the empty key: lengths 0..5 over 3 letters */
	for (int i = 0; i < SPACE; i++) {
		all[i].n = i == 0 ? 0 : 1 + common_rng_below(&r, 5);
		for (size_t j = 0; j < all[i].n; j++)
			all[i].b[j] = (uint8_t)("a\x00z"[common_rng_below(&r, 3)]);
	}
	qsort(all, SPACE, sizeof all[0], mkey_cmp);
	int u = 1; /* dedupe: the model works on distinct keys */
	for (int i = 1; i < SPACE; i++)
		if (mkey_cmp(&all[i], &all[u - 1]) != 0)
			all[u++] = all[i];
	bool in[SPACE] = {false};
	size_t count = 0;
	struct oset *s;
	assert_int_equal(oset_create(99, &s), 0);
	for (int step = 0; step < STEPS; step++) {
		int k = (int)common_rng_below(&r, (uint64_t)u);
		uint64_t what = common_rng_below(&r, 10);
		if (what < 5) {
			assert_int_equal(oset_insert(s, all[k].b, all[k].n), in[k] ? 0 : 1);
			count += !in[k];
			in[k] = true;
		} else if (what < 8) {
			assert_int_equal(oset_remove(s, all[k].b, all[k].n), in[k]);
			count -= in[k];
			in[k] = false;
		} else {
			/* seek from k: the model's next present key at or after k, then 5 more */
			const struct oset_node *n = oset_seek(s, all[k].b, all[k].n);
			int j = k;
			for (int walked = 0; walked < 6; walked++) {
				while (j < u && !in[j])
					j++;
				if (j == u) {
					assert_null(n);
					break;
				}
				assert_non_null(n);
				size_t kl;
				const uint8_t *kb = oset_key(n, &kl);
				assert_int_equal(kl, all[j].n);
				if (kl)
					assert_memory_equal(kb, all[j].b, kl);
				n = oset_next(n);
				j++;
			}
		}
		assert_int_equal(oset_size(s), count);
		assert_int_equal(oset_contains(s, all[k].b, all[k].n), in[k]);
	}
	oset_destroy(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_order),
	    cmocka_unit_test(test_against_model),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
