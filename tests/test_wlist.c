/* Unit tests of one key's witness records (replica/core_wlist.c): random pushes and takes checked
 * against a plain array after every step (order, counts, latest weak record, the cid set), and
 * the long list of a lagging witness emptied in arrival order. The module's own test of internal
 * functions: it includes replica/core_int.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "replica/core_int.h"

#define MODEL_MAX 4096

/* The plain array the list must equal. */
struct model {
	struct wrec r[MODEL_MAX];
	uint32_t n;
};

static uint64_t rnd_state = 0x2545f4914f6cdd1dull;
static uint64_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

static void check_equal(const struct wlist *l, const struct model *m)
{
	if (m->n == 0) {
		assert_true(l == NULL || l->n == l->head);
		return;
	}
	assert_non_null(l);
	assert_int_equal(l->n - l->head, m->n);
	uint32_t weak = 0, write = 0, weak_write = 0;
	const struct wrec *last_weak = NULL;
	for (uint32_t i = 0; i < m->n; i++) {
		const struct wrec *a = &l->r[l->head + i], *b = &m->r[i];
		assert_int_equal(a->cid.client, b->cid.client);
		assert_int_equal(a->cid.seq, b->cid.seq);
		assert_int_equal(a->arr, b->arr);
		assert_int_equal(a->weak, b->weak);
		assert_int_equal(a->write, b->write);
		weak += b->weak;
		write += b->write;
		weak_write += b->weak && b->write;
		if (b->weak)
			last_weak = b;
	}
	assert_int_equal(l->n_weak, weak);
	assert_int_equal(l->n_write, write);
	assert_int_equal(l->n_weak_write, weak_write);
	const struct wrec *lw = core_wlist_last_weak(l);
	if (last_weak == NULL) {
		assert_null(lw);
	} else {
		assert_non_null(lw);
		assert_int_equal(lw->arr, last_weak->arr);
	}
	/* every cid held is found, at its first record; a cid never pushed is not (no false
	 * "absent") */
	for (uint32_t i = 0; i < m->n; i++) {
		assert_true(core_wlist_may_hold(l, &m->r[i].cid));
		uint32_t first = 0;
		while (m->r[first].cid.client != m->r[i].cid.client ||
		       m->r[first].cid.seq != m->r[i].cid.seq)
			first++;
		assert_int_equal(core_wlist_find(l, &m->r[i].cid), l->head + first);
	}
	struct proto_cid never = {.client = 99, .seq = 1};
	assert_int_equal(core_wlist_find(l, &never), UINT32_MAX);
}

/* Random pushes (cids from a small space, so a cid comes back after its record left, and
 * sometimes twice at once) and takes (mostly near the front, as execution does, sometimes
 * anywhere), through lengths that build, fill, rebuild and drop the cid set. */
static void test_wlist_model(void **state)
{
	(void)state;
	static struct model m;
	struct wlist *l = NULL;
	uint64_t arr = 0;
	m.n = 0;
	for (int step = 0; step < 200000; step++) {
		uint32_t phase = (uint32_t)(step / 20000) % 4; /* grow, drain, grow long, drain */
		bool push = m.n == 0 || (m.n < MODEL_MAX && rnd() % 100 < (phase % 2 ? 30u : 70u));
		if (push) {
			struct wrec r = {.cid = {.client = 1 + rnd() % 7, .seq = rnd() % 1500},
					 .arr = arr++,
					 .weak = rnd() % 4 == 0,
					 .write = rnd() % 2 == 0};
			assert_int_equal(core_wlist_push(&l, &r), 0);
			m.r[m.n++] = r;
		} else {
			uint32_t k = rnd() % 4 ? (uint32_t)(rnd() % (m.n < 3 ? m.n : 3))
					       : (uint32_t)(rnd() % m.n);
			assert_int_equal(l->r[l->head + k].arr, m.r[k].arr);
			core_wlist_take(l, l->head + k);
			memmove(&m.r[k], &m.r[k + 1], (m.n - k - 1) * sizeof m.r[0]);
			m.n--;
		}
		if (step % 97 == 0 || m.n < 40)
			check_equal(l, &m);
	}
	check_equal(l, &m);
	core_wlist_free(l);
}

/* A lagging witness of a hot key: 100,000 records of one key, then emptied in arrival order;
 * the cid set answers a new cid without a walk all along, and a held one with its record. */
static void test_wlist_long_hot_key(void **state)
{
	(void)state;
	enum { N = 100000 };
	struct wlist *l = NULL;
	for (uint32_t i = 0; i < N; i++) {
		struct wrec r = {.cid = {.client = 1 + i % 50, .seq = i}, .arr = i, .write = true};
		assert_int_equal(core_wlist_push(&l, &r), 0);
	}
	assert_int_equal(l->n - l->head, N);
	assert_int_equal(l->n_write, N);
	assert_non_null(l->idx); /* a long list has its cid set */
	struct proto_cid absent = {.client = 1, .seq = N + 1};
	assert_false(core_wlist_may_hold(l, &absent));
	for (uint32_t i = 0; i < N; i++) {
		struct proto_cid cid = {.client = 1 + i % 50, .seq = i};
		assert_true(core_wlist_may_hold(l, &cid));
		assert_int_equal(l->r[l->head].cid.seq, i); /* arrival order kept */
		core_wlist_take(l, l->head);
		assert_false(core_wlist_may_hold(l, &cid) && l->idx != NULL);
	}
	assert_int_equal(l->n, l->head);
	assert_null(l->idx);
	core_wlist_free(l);
}

/* A bulk edit (the view change's keep_cb) followed by rebuild recounts and re-indexes. */
static void test_wlist_rebuild(void **state)
{
	(void)state;
	struct wlist *l = NULL;
	for (uint32_t i = 0; i < 100; i++) {
		struct wrec r = {.cid = {.client = 9, .seq = i}, .arr = i, .weak = i % 2, .write = true};
		assert_int_equal(core_wlist_push(&l, &r), 0);
	}
	core_wlist_take(l, l->head); /* head moves */
	uint32_t kept = 0;
	for (uint32_t i = l->head; i < l->n; i++)
		if (l->r[i].cid.seq % 10 == 0)
			l->r[kept++] = l->r[i];
	l->head = 0;
	l->n = kept;
	core_wlist_rebuild(l);
	assert_int_equal(l->n, 9); /* seqs 10, 20, ..., 90 */
	assert_int_equal(l->n_weak, 0);
	assert_int_equal(l->n_write, 9);
	assert_null(core_wlist_last_weak(l));
	assert_null(l->idx); /* short again */
	struct proto_cid held = {.client = 9, .seq = 90};
	assert_true(core_wlist_may_hold(l, &held));
	assert_int_equal(l->r[8].cid.seq, 90);
	core_wlist_free(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_wlist_model),
	    cmocka_unit_test(test_wlist_long_hot_key),
	    cmocka_unit_test(test_wlist_rebuild),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
