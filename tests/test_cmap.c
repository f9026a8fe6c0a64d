/* Unit tests for cmap/: single-thread semantics, ownership (val_free counts), key edge cases,
 * growth and shrink, and the out-of-memory paths (tests/failalloc: allocations fail on demand),
 * each on the default (concurrent) map and on the single-owner map (CMAP_LOCK_NONE); then the
 * single-owner contract itself (tests/child: a second thread aborts the process). */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "cmap/cmap.h"
#include "tests/child.h"
#include "tests/failalloc.h"

/* ---- the map kind under test ---------------------------------------------------------------
 * The behaviour tests run once per kind (main: BOTH_KINDS), which arrives as cmocka's initial
 * state: the single-owner map must behave exactly like the concurrent one on one thread. */
static enum cmap_lock_kind kind_default = CMAP_LOCK_DEFAULT, kind_none = CMAP_LOCK_NONE;

static enum cmap_lock_kind kind(void **state)
{
	return *(enum cmap_lock_kind *)*state;
}

/* cmap_create_lock with the kind under test. */
static int create(void **state, uint32_t shards, cmap_free_fn val_free, struct cmap **out)
{
	return cmap_create_lock(shards, val_free, kind(state), out);
}

/* ---- test values ---------------------------------------------------------------------------
 * A heap value that counts its own destruction, so the map's val_free calls can be counted
 * without globals. */
struct tval {
	unsigned *frees;
	uint64_t v;
};

static void tval_free(void *p)
{
	struct tval *t = p;
	(*t->frees)++;
	free(t);
}

static struct tval *tval_new(unsigned *frees, uint64_t v)
{
	struct tval *t = malloc(sizeof *t);
	assert_non_null(t);
	t->frees = frees;
	t->v = v;
	return t;
}

/* Maps created with val_free == NULL store small integers disguised as pointers. */
static void *pv(uint64_t v)
{
	return (void *)(uintptr_t)v;
}

static void read_ptr(const void *key, size_t klen, void *val, void *arg)
{
	(void)key;
	(void)klen;
	*(void **)arg = val;
}

static void read_tval(const void *key, size_t klen, void *val, void *arg)
{
	(void)key;
	(void)klen;
	*(uint64_t *)arg = ((struct tval *)val)->v;
}

static uint64_t get_tval(struct cmap *m, const void *k, size_t klen)
{
	uint64_t v = 0;
	assert_int_equal(cmap_get(m, k, klen, read_tval, &v), 0);
	return v;
}

static void *get_ptr(struct cmap *m, const void *k, size_t klen)
{
	void *v = NULL;
	if (cmap_get(m, k, klen, read_ptr, &v) != 0)
		return NULL;
	return v;
}

static void *get_ptr_u64(struct cmap *m, uint64_t k)
{
	void *v = NULL;
	if (cmap_get_u64(m, k, read_ptr, &v) != 0)
		return NULL;
	return v;
}

/* ---- creation ------------------------------------------------------------------------------ */

static void test_create_validation(void **state)
{
	struct cmap *m = NULL;
	static const uint32_t bad[] = {0, 3, 6, 100, 65537, 131072, 1u << 31, UINT32_MAX};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(create(state, bad[i], NULL, &m), -EINVAL);
		assert_null(m);
	}
	static const uint32_t good[] = {1, 2, 16, 512, 32768, 65536};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		assert_int_equal(create(state, good[i], NULL, &m), 0);
		assert_non_null(m);
		assert_int_equal(cmap_shards(m), good[i]);
		assert_int_equal(cmap_size(m), 0);
		assert_int_equal(cmap_put_u64(m, 7, pv(1), NULL), 0);
		assert_ptr_equal(get_ptr_u64(m, 7), pv(1));
		cmap_destroy(m);
		m = NULL;
	}
	assert_int_equal(create(state, 16, NULL, NULL), -EINVAL);
	/* cmap_create is cmap_create_lock with the default kind. */
	assert_int_equal(cmap_create(16, NULL, NULL), -EINVAL);
	assert_int_equal(cmap_create(3, NULL, &m), -EINVAL);
	assert_int_equal(cmap_create(16, NULL, &m), 0);
	assert_int_equal(cmap_shards(m), 16);
	cmap_destroy(m);
	m = NULL;
	assert_int_equal(cmap_create_lock(16, NULL, CMAP_LOCK_KINDS, &m), -EINVAL);
	assert_int_equal(cmap_create_lock(16, NULL, (enum cmap_lock_kind)(CMAP_LOCK_KINDS + 1), &m),
			 -EINVAL);
	assert_null(m);
	cmap_destroy(NULL); /* harmless */
}

static void test_lock_names(void **state)
{
	(void)state;
	for (int k = 0; k < CMAP_LOCK_KINDS; k++) {
		const char *n = cmap_lock_name((enum cmap_lock_kind)k);
		assert_non_null(n);
		assert_int_equal(cmap_lock_parse(n), k);
	}
	assert_null(cmap_lock_name(CMAP_LOCK_KINDS));
	assert_int_equal(cmap_lock_parse("nope"), -EINVAL);
	assert_int_equal(cmap_lock_parse(NULL), -EINVAL);
}

/* ---- put / get / del ------------------------------------------------------------------------ */

static void test_put_get_replace(void **state)
{
	unsigned frees = 0;
	struct cmap *m;
	assert_int_equal(create(state, 16, tval_free, &m), 0);

	assert_int_equal(cmap_get(m, "a", 1, read_tval, NULL), -ENOENT);
	assert_false(cmap_contains(m, "a", 1));
	void *old = pv(99);
	assert_int_equal(cmap_put(m, "a", 1, tval_new(&frees, 1), &old), 0);
	assert_null(old); /* fresh insert */
	assert_true(cmap_contains(m, "a", 1));
	assert_int_equal(get_tval(m, "a", 1), 1);
	assert_int_equal(cmap_size(m), 1);

	/* Replace, asking for the old value: the caller owns it, nothing freed. */
	assert_int_equal(cmap_put(m, "a", 1, tval_new(&frees, 2), &old), 0);
	assert_non_null(old);
	assert_int_equal(((struct tval *)old)->v, 1);
	assert_int_equal(frees, 0);
	tval_free(old);
	assert_int_equal(frees, 1);
	assert_int_equal(get_tval(m, "a", 1), 2);

	/* Replace without old: the map frees the replaced value. */
	assert_int_equal(cmap_put(m, "a", 1, tval_new(&frees, 3), NULL), 0);
	assert_int_equal(frees, 2);
	assert_int_equal(get_tval(m, "a", 1), 3);
	assert_int_equal(cmap_size(m), 1);

	/* Putting the stored pointer again must not free it. */
	struct tval *same = tval_new(&frees, 4);
	assert_int_equal(cmap_put(m, "b", 1, same, NULL), 0);
	assert_int_equal(cmap_put(m, "b", 1, same, NULL), 0);
	assert_int_equal(frees, 2);
	assert_int_equal(get_tval(m, "b", 1), 4);

	/* A NULL value is refused and not taken. */
	assert_int_equal(cmap_put(m, "c", 1, NULL, &old), -EINVAL);
	assert_null(old);
	assert_false(cmap_contains(m, "c", 1));

	/* get with a NULL reader is a presence test. */
	assert_int_equal(cmap_get(m, "b", 1, NULL, NULL), 0);
	assert_int_equal(cmap_get(m, "c", 1, NULL, NULL), -ENOENT);

	assert_int_equal(cmap_size(m), 2);
	cmap_destroy(m);
	assert_int_equal(frees, 4); /* "a"=3 and "b"=4 freed by destroy */
}

static void test_del(void **state)
{
	unsigned frees = 0;
	struct cmap *m;
	assert_int_equal(create(state, 4, tval_free, &m), 0);
	assert_int_equal(cmap_put(m, "k1", 2, tval_new(&frees, 1), NULL), 0);
	assert_int_equal(cmap_put(m, "k2", 2, tval_new(&frees, 2), NULL), 0);

	void *old = pv(5);
	assert_int_equal(cmap_del(m, "k3", 2, &old), -ENOENT);
	assert_null(old);
	assert_int_equal(cmap_del(m, "k3", 2, NULL), -ENOENT);

	assert_int_equal(cmap_del(m, "k1", 2, &old), 0);
	assert_int_equal(((struct tval *)old)->v, 1);
	assert_int_equal(frees, 0);
	tval_free(old);
	assert_false(cmap_contains(m, "k1", 2));
	assert_int_equal(cmap_del(m, "k1", 2, NULL), -ENOENT);

	assert_int_equal(cmap_del(m, "k2", 2, NULL), 0);
	assert_int_equal(frees, 2);
	assert_int_equal(cmap_size(m), 0);

	/* Re-insert after delete works. */
	assert_int_equal(cmap_put(m, "k1", 2, tval_new(&frees, 7), NULL), 0);
	assert_int_equal(get_tval(m, "k1", 2), 7);
	cmap_destroy(m);
	assert_int_equal(frees, 3);
}

/* ---- update ------------------------------------------------------------------------------- */

struct upd {
	unsigned *frees;
	int calls;
	void *seen;  /* *val as the callback saw it */
	int action;  /* see upd_cb */
	uint64_t v;  /* value to insert / add */
	void *taken; /* a value the callback took ownership of */
};

enum { UPD_ADD, UPD_REPLACE, UPD_DELETE, UPD_KEEP_NULL, UPD_DELETE_NEW };

/* UPD_ADD: insert v if absent, else add v in place. UPD_REPLACE: store a new value (old one
 * taken). UPD_DELETE: delete (value taken). UPD_KEEP_NULL: set *val = NULL and KEEP (value
 * taken). UPD_DELETE_NEW: allocate a value, store it and return DELETE (nothing inserted; the
 * callback still owns it). */
static enum cmap_update_result upd_cb(const void *key, size_t klen, void **val, void *arg)
{
	(void)key;
	(void)klen;
	struct upd *u = arg;
	struct tval *t = *val;
	u->calls++;
	u->seen = t;
	switch (u->action) {
	case UPD_ADD:
		if (t == NULL)
			*val = tval_new(u->frees, u->v);
		else
			t->v += u->v;
		return CMAP_KEEP;
	case UPD_REPLACE:
		u->taken = t;
		*val = tval_new(u->frees, u->v);
		return CMAP_KEEP;
	case UPD_DELETE:
		u->taken = t;
		return CMAP_DELETE;
	case UPD_KEEP_NULL:
		u->taken = t;
		*val = NULL;
		return CMAP_KEEP;
	default:
		u->taken = tval_new(u->frees, u->v);
		*val = u->taken;
		return CMAP_DELETE;
	}
}

static void test_update_insert_modify_delete(void **state)
{
	unsigned frees = 0;
	struct cmap *m;
	assert_int_equal(create(state, 8, tval_free, &m), 0);

	/* Insert when absent. */
	struct upd u = {.frees = &frees, .action = UPD_ADD, .v = 5};
	assert_int_equal(cmap_update(m, "x", 1, upd_cb, &u), CMAP_KEEP);
	assert_int_equal(u.calls, 1);
	assert_null(u.seen);
	assert_int_equal(get_tval(m, "x", 1), 5);
	assert_int_equal(cmap_size(m), 1);

	/* Modify in place. */
	u.v = 10;
	assert_int_equal(cmap_update(m, "x", 1, upd_cb, &u), CMAP_KEEP);
	assert_int_equal(u.calls, 2);
	assert_non_null(u.seen);
	assert_int_equal(get_tval(m, "x", 1), 15);

	/* Replace the pointer: the old value belongs to the callback, the map frees nothing. */
	u.action = UPD_REPLACE;
	u.v = 100;
	assert_int_equal(cmap_update(m, "x", 1, upd_cb, &u), CMAP_KEEP);
	assert_int_equal(frees, 0);
	assert_int_equal(((struct tval *)u.taken)->v, 15);
	tval_free(u.taken);
	assert_int_equal(get_tval(m, "x", 1), 100);

	/* Delete: removed, not freed by the map. */
	u.action = UPD_DELETE;
	assert_int_equal(cmap_update(m, "x", 1, upd_cb, &u), CMAP_DELETE);
	assert_false(cmap_contains(m, "x", 1));
	assert_int_equal(cmap_size(m), 0);
	assert_int_equal(frees, 1);
	assert_int_equal(((struct tval *)u.taken)->v, 100);
	tval_free(u.taken);

	/* Absent + KEEP with *val still NULL: nothing inserted. */
	u.action = UPD_KEEP_NULL;
	u.calls = 0;
	assert_int_equal(cmap_update(m, "y", 1, upd_cb, &u), CMAP_KEEP);
	assert_int_equal(u.calls, 1);
	assert_null(u.taken);
	assert_false(cmap_contains(m, "y", 1));
	/* Absent + DELETE: nothing inserted even though the callback set a value. */
	u.action = UPD_DELETE_NEW;
	u.v = 1;
	assert_int_equal(cmap_update(m, "y", 1, upd_cb, &u), CMAP_DELETE);
	assert_false(cmap_contains(m, "y", 1));
	tval_free(u.taken);
	/* cmap_update_present: absent -> -ENOENT, the callback not called, nothing inserted */
	u.action = UPD_ADD;
	u.calls = 0;
	u.v = 7;
	assert_int_equal(cmap_update_present(m, "z", 1, upd_cb, &u), -ENOENT);
	assert_int_equal(u.calls, 0);
	assert_false(cmap_contains(m, "z", 1));
	assert_int_equal(cmap_size(m), 0);
	/* present -> as cmap_update: modified in place, then deleted (value taken) */
	assert_int_equal(cmap_update(m, "z", 1, upd_cb, &u), CMAP_KEEP);
	u.calls = 0;
	assert_int_equal(cmap_update_present(m, "z", 1, upd_cb, &u), CMAP_KEEP);
	assert_int_equal(u.calls, 1);
	assert_non_null(u.seen);
	assert_int_equal(get_tval(m, "z", 1), 14);
	u.action = UPD_DELETE;
	assert_int_equal(cmap_update_present(m, "z", 1, upd_cb, &u), CMAP_DELETE);
	assert_int_equal(u.calls, 2);
	assert_false(cmap_contains(m, "z", 1));
	assert_int_equal(cmap_size(m), 0);
	tval_free(u.taken);
	/* Absent + DELETE with nothing: nothing happens. */
	u.action = UPD_DELETE;
	assert_int_equal(cmap_update(m, "y", 1, upd_cb, &u), CMAP_DELETE);
	assert_null(u.taken);
	assert_int_equal(cmap_size(m), 0);

	/* Present + KEEP with *val set to NULL: the entry goes, the callback took the value. */
	assert_int_equal(cmap_put(m, "z", 1, tval_new(&frees, 3), NULL), 0);
	u.action = UPD_KEEP_NULL;
	assert_int_equal(cmap_update(m, "z", 1, upd_cb, &u), CMAP_KEEP);
	assert_false(cmap_contains(m, "z", 1));
	assert_int_equal(((struct tval *)u.taken)->v, 3);
	tval_free(u.taken);

	/* Long key (out of line) through update: insert, modify, delete. */
	char longk[300];
	memset(longk, 'q', sizeof longk);
	u = (struct upd){.frees = &frees, .action = UPD_ADD, .v = 1};
	for (int i = 0; i < 3; i++)
		assert_int_equal(cmap_update(m, longk, sizeof longk, upd_cb, &u), CMAP_KEEP);
	assert_int_equal(get_tval(m, longk, sizeof longk), 3);
	u.action = UPD_DELETE;
	assert_int_equal(cmap_update(m, longk, sizeof longk, upd_cb, &u), CMAP_DELETE);
	tval_free(u.taken);

	assert_int_equal(cmap_size(m), 0);
	unsigned before = frees;
	cmap_destroy(m);
	assert_int_equal(frees, before);
}

/* Unknown callback results count as CMAP_KEEP. */
static enum cmap_update_result odd_cb(const void *key, size_t klen, void **val, void *arg)
{
	(void)key;
	(void)klen;
	*val = arg;
	return (enum cmap_update_result)7;
}

static void test_update_odd_result(void **state)
{
	struct cmap *m;
	assert_int_equal(create(state, 1, NULL, &m), 0);
	assert_int_equal(cmap_update_u64(m, 1, odd_cb, pv(3)), CMAP_KEEP);
	assert_ptr_equal(get_ptr_u64(m, 1), pv(3));
	cmap_destroy(m);
}

/* The callback receives the caller's key bytes. */
static enum cmap_update_result key_check_cb(const void *key, size_t klen, void **val, void *arg)
{
	assert_int_equal(klen, strlen(arg));
	assert_memory_equal(key, arg, klen);
	if (*val == NULL)
		*val = pv(1);
	return CMAP_KEEP;
}

static void test_update_key_passed(void **state)
{
	struct cmap *m;
	assert_int_equal(create(state, 2, NULL, &m), 0);
	const char *k = "a-key-that-is-longer-than-inline";
	assert_int_equal(cmap_update(m, k, strlen(k), key_check_cb, (void *)k), CMAP_KEEP);
	assert_int_equal(cmap_update(m, k, strlen(k), key_check_cb, (void *)k), CMAP_KEEP);
	assert_int_equal(cmap_update(m, "short", 5, key_check_cb, "short"), CMAP_KEEP);
	assert_int_equal(cmap_size(m), 2);
	cmap_destroy(m);
}

/* cmap_size takes no lock, so a callback may call it on its own map (replica/core.c does). */
static enum cmap_update_result size_cb(const void *key, size_t klen, void **val, void *arg)
{
	(void)key;
	(void)klen;
	struct cmap *m = arg;
	if (*val == NULL)
		*val = pv(cmap_size(m) + 1);
	return CMAP_KEEP;
}

static void test_size_in_callback(void **state)
{
	struct cmap *m;
	assert_int_equal(create(state, 1, NULL, &m), 0);
	for (uint64_t k = 0; k < 5; k++)
		assert_int_equal(cmap_update_u64(m, k, size_cb, m), CMAP_KEEP);
	for (uint64_t k = 0; k < 5; k++)
		assert_ptr_equal(get_ptr_u64(m, k), pv(k + 1));
	cmap_destroy(m);
}

/* ---- foreach / size ------------------------------------------------------------------------ */

struct visit {
	unsigned char *seen; /* per key index */
	size_t n;
	size_t calls;
	size_t stop_after; /* 0: never stop */
};

static int visit_cb(const void *key, size_t klen, void *val, void *arg)
{
	struct visit *v = arg;
	uint64_t k;
	assert_int_equal(klen, sizeof k);
	memcpy(&k, key, sizeof k);
	assert_true(k < v->n);
	assert_ptr_equal(val, pv(k + 1)); /* value matches its key */
	v->seen[k]++;
	v->calls++;
	if (v->stop_after != 0 && v->calls == v->stop_after)
		return 42;
	return 0;
}

static void test_foreach_once(void **state)
{
	static const uint32_t shard_counts[] = {1, 16, 4096};
	for (size_t si = 0; si < sizeof shard_counts / sizeof shard_counts[0]; si++) {
		struct cmap *m;
		const size_t n = 5000;
		assert_int_equal(create(state, shard_counts[si], NULL, &m), 0);
		for (uint64_t k = 0; k < n; k++)
			assert_int_equal(cmap_put_u64(m, k, pv(k + 1), NULL), 0);
		/* Delete a third so the tables have had backward shifts. */
		for (uint64_t k = 0; k < n; k += 3)
			assert_int_equal(cmap_del_u64(m, k, NULL), 0);
		unsigned char *seen = calloc(n, 1);
		assert_non_null(seen);
		struct visit v = {.seen = seen, .n = n};
		assert_int_equal(cmap_foreach(m, visit_cb, &v), 0);
		for (uint64_t k = 0; k < n; k++)
			assert_int_equal(seen[k], k % 3 == 0 ? 0 : 1);
		assert_int_equal(v.calls, cmap_size(m));
		assert_int_equal(cmap_size(m), n - (n + 2) / 3);

		/* A non-zero callback result stops the walk and is returned. */
		memset(seen, 0, n);
		v = (struct visit){.seen = seen, .n = n, .stop_after = 10};
		assert_int_equal(cmap_foreach(m, visit_cb, &v), 42);
		assert_int_equal(v.calls, 10);
		free(seen);
		cmap_destroy(m);
	}
	/* Empty map: callback never called. */
	struct cmap *m;
	assert_int_equal(create(state, 8, NULL, &m), 0);
	struct visit v = {.n = 0};
	assert_int_equal(cmap_foreach(m, visit_cb, &v), 0);
	assert_int_equal(v.calls, 0);
	cmap_destroy(m);
}

static void test_size(void **state)
{
	struct cmap *m;
	assert_int_equal(create(state, 32, NULL, &m), 0);
	for (uint64_t k = 1; k <= 1000; k++) {
		assert_int_equal(cmap_put_u64(m, k, pv(k), NULL), 0);
		assert_int_equal(cmap_size(m), k);
	}
	for (uint64_t k = 1; k <= 1000; k++) /* replacing does not count */
		assert_int_equal(cmap_put_u64(m, k, pv(k + 1), NULL), 0);
	assert_int_equal(cmap_size(m), 1000);
	for (uint64_t k = 1; k <= 1000; k++) {
		assert_int_equal(cmap_del_u64(m, k, NULL), 0);
		assert_int_equal(cmap_size(m), 1000 - k);
	}
	cmap_destroy(m);
}

/* ---- keys ---------------------------------------------------------------------------------- */

static void test_long_keys(void **state)
{
	enum { KLEN = 1024, N = 64 };
	struct cmap *m;
	assert_int_equal(create(state, 4, NULL, &m), 0);
	unsigned char *keys = malloc((size_t)N * KLEN);
	assert_non_null(keys);
	/* Keys that differ only in the last byte, or only in the first byte. */
	for (int i = 0; i < N; i++) {
		unsigned char *k = keys + (size_t)i * KLEN;
		memset(k, 0xab, KLEN);
		if (i < N / 2)
			k[KLEN - 1] = (unsigned char)i;
		else
			k[0] = (unsigned char)i;
	}
	for (int i = 0; i < N; i++)
		assert_int_equal(cmap_put(m, keys + (size_t)i * KLEN, KLEN, pv(i + 1), NULL), 0);
	assert_int_equal(cmap_size(m), N);
	for (int i = 0; i < N; i++)
		assert_ptr_equal(get_ptr(m, keys + (size_t)i * KLEN, KLEN), pv(i + 1));
	/* A prefix of a stored key is a different key. */
	assert_false(cmap_contains(m, keys, KLEN - 1));
	/* The map copied the keys: scribbling over ours changes nothing. */
	unsigned char probe[KLEN];
	memcpy(probe, keys, KLEN);
	memset(keys, 0, (size_t)N * KLEN);
	assert_ptr_equal(get_ptr(m, probe, KLEN), pv(1));
	free(keys);
	cmap_destroy(m); /* ASan: the out-of-line key copies are freed */
}

static void test_binary_keys(void **state)
{
	struct cmap *m;
	assert_int_equal(create(state, 1, NULL, &m), 0);
	static const struct {
		const char *k;
		size_t len;
	} keys[] = {
	    {"a", 1},
	    {"a\0", 2},
	    {"a\0b", 3},
	    {"a\0c", 3},
	    {"\0", 1},
	    {"\0\0", 2},
	    {"\0\0\0\0\0\0\0\0", 8},
	    {"\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 17},
	    {"\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\1", 18},
	    {"\xff\xfe\0\x01", 4},
	};
	size_t n = sizeof keys / sizeof keys[0];
	for (size_t i = 0; i < n; i++)
		assert_int_equal(cmap_put(m, keys[i].k, keys[i].len, pv(i + 1), NULL), 0);
	assert_int_equal(cmap_size(m), n);
	for (size_t i = 0; i < n; i++)
		assert_ptr_equal(get_ptr(m, keys[i].k, keys[i].len), pv(i + 1));
	for (size_t i = 0; i < n; i += 2)
		assert_int_equal(cmap_del(m, keys[i].k, keys[i].len, NULL), 0);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(cmap_contains(m, keys[i].k, keys[i].len), i % 2 == 1);
	cmap_destroy(m);
}

/* Every length from 0 to 64 (across the inline/out-of-line boundary at 15/16), same bytes:
 * all distinct keys. */
static void test_key_lengths(void **state)
{
	struct cmap *m;
	assert_int_equal(create(state, 2, NULL, &m), 0);
	unsigned char buf[64];
	memset(buf, 'z', sizeof buf);
	for (size_t len = 0; len <= sizeof buf; len++)
		assert_int_equal(cmap_put(m, buf, len, pv(len + 1), NULL), 0);
	assert_int_equal(cmap_size(m), sizeof buf + 1);
	for (size_t len = 0; len <= sizeof buf; len++)
		assert_ptr_equal(get_ptr(m, buf, len), pv(len + 1));
	for (size_t len = 0; len <= sizeof buf; len += 2)
		assert_int_equal(cmap_del(m, buf, len, NULL), 0);
	for (size_t len = 0; len <= sizeof buf; len++)
		assert_ptr_equal(get_ptr(m, buf, len), len % 2 ? pv(len + 1) : NULL);
	cmap_destroy(m);
}

/* Keys that agree in their low 32 bits (or low bytes) must stay distinct: no truncation. */
static void test_high_bits(void **state)
{
	static const uint32_t shard_counts[] = {1, 512, 65536};
	for (size_t si = 0; si < sizeof shard_counts / sizeof shard_counts[0]; si++) {
		struct cmap *m;
		assert_int_equal(create(state, shard_counts[si], NULL, &m), 0);
		uint64_t keys[64 + 32];
		size_t n = 0;
		for (int b = 0; b < 64; b++)
			keys[n++] = 1ull << b; /* one bit each: includes 1<<32 .. 1<<63 */
		for (uint64_t hi = 1; hi <= 32; hi++)
			keys[n++] = (hi << 32) | 0x5; /* same low word */
		for (size_t i = 0; i < n; i++)
			assert_int_equal(cmap_put_u64(m, keys[i], pv(i + 1), NULL), 0);
		assert_int_equal(cmap_put_u64(m, 0x5, pv(1000), NULL), 0);
		assert_int_equal(cmap_size(m), n + 1);
		for (size_t i = 0; i < n; i++)
			assert_ptr_equal(get_ptr_u64(m, keys[i]), pv(i + 1));
		assert_ptr_equal(get_ptr_u64(m, 0x5), pv(1000));
		assert_null(get_ptr_u64(m, 0));
		/* Byte keys differing only in their last bytes (beyond 4 bytes, beyond 8). */
		unsigned char a[12] = "abcdefghijk", b[12] = "abcdefghijk";
		b[11] = 1;
		assert_int_equal(cmap_put(m, a, sizeof a, pv(1), NULL), 0);
		assert_int_equal(cmap_put(m, b, sizeof b, pv(2), NULL), 0);
		assert_ptr_equal(get_ptr(m, a, sizeof a), pv(1));
		assert_ptr_equal(get_ptr(m, b, sizeof b), pv(2));
		cmap_destroy(m);
	}
}

static void test_empty_key(void **state)
{
	unsigned frees = 0;
	struct cmap *m;
	assert_int_equal(create(state, 16, tval_free, &m), 0);
	assert_false(cmap_contains(m, NULL, 0));
	assert_int_equal(cmap_put(m, NULL, 0, tval_new(&frees, 1), NULL), 0);
	assert_true(cmap_contains(m, "", 0)); /* same key, any pointer */
	assert_int_equal(get_tval(m, NULL, 0), 1);
	assert_int_equal(cmap_put(m, "ignored", 0, tval_new(&frees, 2), NULL), 0);
	assert_int_equal(frees, 1);
	assert_int_equal(get_tval(m, "", 0), 2);
	assert_int_equal(cmap_size(m), 1);
	/* The empty key is not the one-byte NUL key. */
	assert_false(cmap_contains(m, "", 1));
	struct upd u = {.frees = &frees, .action = UPD_ADD, .v = 3};
	assert_int_equal(cmap_update(m, NULL, 0, upd_cb, &u), CMAP_KEEP);
	assert_int_equal(get_tval(m, NULL, 0), 5);
	assert_int_equal(cmap_del(m, NULL, 0, NULL), 0);
	assert_int_equal(frees, 2);
	assert_int_equal(cmap_size(m), 0);
	cmap_destroy(m);
}

/* The u64 calls name the same entries as the byte calls with the uint64_t's 8 bytes. */
static void test_u64_equivalence(void **state)
{
	unsigned frees = 0;
	struct cmap *m;
	assert_int_equal(create(state, 64, tval_free, &m), 0);
	for (uint64_t i = 0; i < 500; i++) {
		uint64_t k = i * 0x9e3779b97f4a7c15ull;
		if (i % 2)
			assert_int_equal(cmap_put_u64(m, k, tval_new(&frees, i), NULL), 0);
		else
			assert_int_equal(cmap_put(m, &k, sizeof k, tval_new(&frees, i), NULL), 0);
	}
	for (uint64_t i = 0; i < 500; i++) {
		uint64_t k = i * 0x9e3779b97f4a7c15ull, v = 0;
		assert_int_equal(cmap_get(m, &k, sizeof k, read_tval, &v), 0);
		assert_int_equal(v, i);
		v = 0;
		assert_int_equal(cmap_get_u64(m, k, read_tval, &v), 0);
		assert_int_equal(v, i);
		assert_true(cmap_contains(m, &k, sizeof k));
	}
	struct upd u = {.frees = &frees, .action = UPD_ADD, .v = 1000};
	uint64_t k7 = 7 * 0x9e3779b97f4a7c15ull;
	assert_int_equal(cmap_update_u64(m, k7, upd_cb, &u), CMAP_KEEP);
	assert_int_equal(get_tval(m, &k7, sizeof k7), 1007);
	assert_int_equal(cmap_update(m, &k7, sizeof k7, upd_cb, &u), CMAP_KEEP);
	uint64_t v = 0;
	assert_int_equal(cmap_get_u64(m, k7, read_tval, &v), 0);
	assert_int_equal(v, 2007);
	/* Cross deletes. */
	for (uint64_t i = 0; i < 500; i++) {
		uint64_t k = i * 0x9e3779b97f4a7c15ull;
		if (i % 2)
			assert_int_equal(cmap_del(m, &k, sizeof k, NULL), 0);
		else
			assert_int_equal(cmap_del_u64(m, k, NULL), 0);
	}
	assert_int_equal(frees, 500);
	assert_int_equal(cmap_size(m), 0);
	/* Old values through the u64 API. */
	void *old = NULL;
	assert_int_equal(cmap_put_u64(m, 1, tval_new(&frees, 1), &old), 0);
	assert_null(old);
	assert_int_equal(cmap_put_u64(m, 1, tval_new(&frees, 2), &old), 0);
	assert_int_equal(((struct tval *)old)->v, 1);
	tval_free(old);
	assert_int_equal(cmap_del_u64(m, 1, &old), 0);
	assert_int_equal(((struct tval *)old)->v, 2);
	tval_free(old);
	assert_int_equal(cmap_del_u64(m, 1, &old), -ENOENT);
	assert_null(old);
	cmap_destroy(m);
}

/* ---- growth and memory --------------------------------------------------------------------- */

static void test_growth_200k(void **state)
{
	static const uint32_t shard_counts[] = {1, 16};
	const uint64_t n = 200000;
	for (size_t si = 0; si < sizeof shard_counts / sizeof shard_counts[0]; si++) {
		struct cmap *m;
		assert_int_equal(create(state, shard_counts[si], NULL, &m), 0);
		for (uint64_t k = 0; k < n; k++)
			assert_int_equal(cmap_put_u64(m, k, pv(k + 1), NULL), 0);
		assert_int_equal(cmap_size(m), n);
		for (uint64_t k = 0; k < n; k++)
			assert_ptr_equal(get_ptr_u64(m, k), pv(k + 1));
		assert_null(get_ptr_u64(m, n));
		for (uint64_t k = 0; k < n; k++) {
			assert_int_equal(cmap_del_u64(m, k, NULL), 0);
			/* Spot-check that the survivors stay reachable while tables shrink. */
			if (k % 20000 == 0)
				for (uint64_t j = k + 1; j < n; j += 997)
					assert_ptr_equal(get_ptr_u64(m, j), pv(j + 1));
		}
		assert_int_equal(cmap_size(m), 0);
		assert_null(get_ptr_u64(m, 0));
		/* And it grows again. */
		for (uint64_t k = 0; k < 1000; k++)
			assert_int_equal(cmap_put_u64(m, k, pv(k + 1), NULL), 0);
		assert_int_equal(cmap_size(m), 1000);
		cmap_destroy(m);
	}
}

static void test_destroy_frees(void **state)
{
	unsigned frees = 0;
	struct cmap *m;
	assert_int_equal(create(state, 8, tval_free, &m), 0);
	char key[40];
	for (unsigned i = 0; i < 300; i++) {
		/* Short (inline) and long (out-of-line) keys. */
		int len =
		    snprintf(key, sizeof key, i % 2 ? "k%u" : "a-rather-long-key-number-%u", i);
		assert_int_equal(cmap_put(m, key, (size_t)len, tval_new(&frees, i), NULL), 0);
	}
	cmap_destroy(m);
	assert_int_equal(frees, 300); /* and ASan's leak check sees no key copy left */
}

/* ---- out of memory ------------------------------------------------------------------------- */

static enum cmap_update_result must_not_run(const void *key, size_t klen, void **val, void *arg)
{
	(void)key;
	(void)klen;
	(void)val;
	(void)arg;
	fail_msg("update callback ran although the map failed to allocate");
	return CMAP_KEEP;
}

static void test_enomem(void **state)
{
	struct cmap *m = NULL;

	/* Creation: each of its allocations failing leaves nothing behind (ASan checks leaks):
	 * the map, the shards, and for the default kind the per-CPU reader counts. The
	 * single-owner map allocates no lock words at all. */
	long allocs = kind(state) == CMAP_LOCK_NONE ? 2 : 3;
	for (long n = 1; n <= allocs; n++) {
		failalloc_nth(n);
		assert_int_equal(create(state, 16, NULL, &m), -ENOMEM);
		assert_int_equal(failalloc_failed(), 1);
		assert_null(m);
	}
	failalloc_nth(allocs + 1);
	assert_int_equal(create(state, 16, NULL, &m), 0);
	assert_int_equal(failalloc_seen(), allocs);
	assert_int_equal(failalloc_failed(), 0);
	cmap_destroy(m);
	m = NULL;
	for (long n = 1; n <= 3; n++) { /* map, shards, pthread locks */
		failalloc_nth(n);
		assert_int_equal(cmap_create_lock(16, NULL, CMAP_LOCK_PTHREAD_RW, &m), -ENOMEM);
		assert_null(m);
	}
	failalloc_off();

	unsigned frees = 0;
	assert_int_equal(create(state, 1, tval_free, &m), 0);

	/* First insert into a shard allocates its table: failure leaves val with the caller. */
	struct tval *v = tval_new(&frees, 1);
	void *old = pv(1);
	failalloc_nth(1);
	assert_int_equal(cmap_put_u64(m, 1, v, &old), -ENOMEM);
	assert_null(old);
	assert_int_equal(cmap_size(m), 0);
	assert_false(cmap_contains(m, NULL, 0));
	/* update on an absent key: the failure is reported before the callback runs. */
	failalloc_nth(1);
	assert_int_equal(cmap_update_u64(m, 1, must_not_run, NULL), -ENOMEM);
	assert_int_equal(cmap_size(m), 0);

	assert_int_equal(cmap_put_u64(m, 1, v, NULL), 0);
	/* Fill to the growth threshold of the smallest table (3 of 4 slots). */
	assert_int_equal(cmap_put_u64(m, 2, tval_new(&frees, 2), NULL), 0);
	assert_int_equal(cmap_put_u64(m, 3, tval_new(&frees, 3), NULL), 0);
	/* The next insert must grow: make that fail, for put and update. */
	v = tval_new(&frees, 4);
	failalloc_nth(1);
	assert_int_equal(cmap_put_u64(m, 4, v, NULL), -ENOMEM);
	failalloc_nth(1);
	assert_int_equal(cmap_update_u64(m, 4, must_not_run, NULL), -ENOMEM);
	assert_int_equal(cmap_size(m), 3);
	for (uint64_t k = 1; k <= 3; k++)
		assert_int_equal(get_tval(m, &k, sizeof k), k);
	/* A present key needs no allocation: update and put work while allocation fails. */
	struct upd u = {.frees = &frees, .action = UPD_ADD, .v = 10};
	failalloc_nth(1);
	assert_int_equal(cmap_update_u64(m, 2, upd_cb, &u), CMAP_KEEP);
	assert_int_equal(cmap_put_u64(m, 3, v, NULL), 0); /* replaces 3, frees it */
	assert_int_equal(failalloc_seen(), 0);
	failalloc_off();
	assert_int_equal(frees, 1);
	uint64_t k2 = 2, k3 = 3;
	assert_int_equal(get_tval(m, &k2, sizeof k2), 12);
	assert_int_equal(get_tval(m, &k3, sizeof k3), 4);

	/* A long key's copy is the allocation that fails (after a successful growth). */
	char longk[100];
	memset(longk, 'L', sizeof longk);
	assert_int_equal(cmap_put(m, "s", 1, tval_new(&frees, 5), NULL), 0); /* grows: 4/8 */
	failalloc_nth(1);
	assert_int_equal(cmap_update(m, longk, sizeof longk, must_not_run, NULL), -ENOMEM);
	v = tval_new(&frees, 6);
	failalloc_nth(1);
	assert_int_equal(cmap_put(m, longk, sizeof longk, v, NULL), -ENOMEM);
	failalloc_off();
	assert_false(cmap_contains(m, longk, sizeof longk));
	assert_int_equal(cmap_put(m, longk, sizeof longk, v, NULL), 0);
	assert_int_equal(get_tval(m, longk, sizeof longk), 6);
	assert_int_equal(cmap_size(m), 5);

	/* A failing shrink keeps the larger table; deletes still succeed. */
	for (uint64_t k = 100; k < 200; k++)
		assert_int_equal(cmap_put_u64(m, k, tval_new(&frees, k), NULL), 0);
	failalloc_from(1); /* every shrink attempt fails */
	for (uint64_t k = 100; k < 200; k++)
		assert_int_equal(cmap_del_u64(m, k, NULL), 0);
	assert_true(failalloc_failed() > 0);
	failalloc_off();
	assert_int_equal(cmap_size(m), 5);
	assert_int_equal(get_tval(m, longk, sizeof longk), 6);
	cmap_destroy(m);
	assert_int_equal(frees, 1 + 100 + 5);
}

/* ---- lock kinds ---------------------------------------------------------------------------- */

static void test_lock_kinds(void **state)
{
	(void)state;
	for (int k = 0; k < CMAP_LOCK_KINDS; k++) {
		unsigned frees = 0;
		struct cmap *m;
		assert_int_equal(cmap_create_lock(4, tval_free, (enum cmap_lock_kind)k, &m), 0);
		for (uint64_t i = 0; i < 100; i++)
			assert_int_equal(cmap_put_u64(m, i, tval_new(&frees, i), NULL), 0);
		struct upd u = {.frees = &frees, .action = UPD_ADD, .v = 1};
		for (uint64_t i = 0; i < 100; i++)
			assert_int_equal(cmap_update_u64(m, i, upd_cb, &u), CMAP_KEEP);
		for (uint64_t i = 0; i < 100; i++) {
			uint64_t v = 0;
			assert_int_equal(cmap_get_u64(m, i, read_tval, &v), 0);
			assert_int_equal(v, i + 1);
		}
		for (uint64_t i = 0; i < 100; i += 2)
			assert_int_equal(cmap_del_u64(m, i, NULL), 0);
		assert_int_equal(cmap_size(m), 50);
		cmap_destroy(m);
		assert_int_equal(frees, 100);
	}
}

/* ---- the single-owner contract ------------------------------------------------------------- */

/* Work for a thread that is not the creator: every kind of call on a CMAP_LOCK_NONE map.
 * cmocka's assertions must stay on the main thread, so failures are counted. */
struct owner_run {
	struct cmap *m;
	unsigned failures;
};

static int count_cb(const void *key, size_t klen, void *val, void *arg)
{
	(void)key;
	(void)klen;
	(void)val;
	(*(size_t *)arg)++;
	return 0;
}

static enum cmap_update_result bump_cb(const void *key, size_t klen, void **val, void *arg)
{
	(void)key;
	(void)klen;
	(void)arg;
	*val = pv((uintptr_t)*val + 1);
	return CMAP_KEEP;
}

static void *owner_main(void *arg)
{
	struct owner_run *o = arg;
	for (uint64_t k = 0; k < 100; k++)
		o->failures += cmap_put_u64(o->m, k, pv(k + 1), NULL) != 0;
	for (uint64_t k = 0; k < 100; k++)
		o->failures += cmap_update_u64(o->m, k, bump_cb, NULL) != CMAP_KEEP;
	for (uint64_t k = 0; k < 100; k += 2)
		o->failures += cmap_del(o->m, &k, sizeof k, NULL) != 0;
	for (uint64_t k = 1; k < 100; k += 2)
		o->failures += get_ptr_u64(o->m, k) != pv(k + 2);
	size_t n = 0;
	o->failures += cmap_foreach(o->m, count_cb, &n) != 0 || n != 50;
	return NULL;
}

/* The owner is the first thread that uses the map, not its creator; after a join, any thread
 * may read its size and destroy it. */
static void test_single_owner_handoff(void **state)
{
	(void)state;
	struct cmap *m;
	assert_int_equal(cmap_create_lock(8, NULL, CMAP_LOCK_NONE, &m), 0);
	struct owner_run o = {.m = m};
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, owner_main, &o), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(o.failures, 0);
	assert_int_equal(cmap_size(m), 50);
	assert_int_equal(cmap_shards(m), 8);
	cmap_destroy(m);
}

/* In a child: the main thread uses a single-owner map (and owns it), then a second thread calls
 * `op` on it. */
enum second_op { SECOND_GET, SECOND_PUT, SECOND_FOREACH, SECOND_SIZE_ONLY };

struct second {
	struct cmap *m;
	enum second_op op;
};

static void *second_main(void *arg)
{
	struct second *o = arg;
	size_t n = 0;
	switch (o->op) {
	case SECOND_GET:
		(void)cmap_get_u64(o->m, 1, NULL, NULL);
		break;
	case SECOND_PUT:
		(void)cmap_put_u64(o->m, 2, pv(2), NULL);
		break;
	case SECOND_FOREACH:
		(void)cmap_foreach(o->m, count_cb, &n);
		break;
	case SECOND_SIZE_ONLY: /* allowed from any thread */
		n = cmap_size(o->m) + cmap_shards(o->m);
		break;
	}
	return (void *)(uintptr_t)n;
}

static void second_thread_child(void *arg)
{
	struct cmap *m;
	if (cmap_create_lock(4, NULL, CMAP_LOCK_NONE, &m) != 0 ||
	    cmap_put_u64(m, 1, pv(1), NULL) != 0)
		_exit(2);
	struct second o = {.m = m, .op = (enum second_op)(uintptr_t)arg};
	pthread_t th;
	void *ret;
	if (pthread_create(&th, NULL, second_main, &o) != 0 || pthread_join(th, &ret) != 0)
		_exit(2);
	/* Only SECOND_SIZE_ONLY gets here: 1 entry + 4 shards. */
	_exit((uintptr_t)ret == 5 ? 0 : 3);
}

static void test_single_owner_second_thread_aborts(void **state)
{
	(void)state;
#ifdef NDEBUG
	skip(); /* the owner check is an assert() */
#else
	static const enum second_op aborting[] = {SECOND_GET, SECOND_PUT, SECOND_FOREACH};
	char err[1024];
	for (size_t i = 0; i < sizeof aborting / sizeof aborting[0]; i++) {
		int status = child_run(second_thread_child, (void *)(uintptr_t)aborting[i], 20, err,
				       sizeof err);
		assert_true(WIFSIGNALED(status));
		assert_int_equal(WTERMSIG(status), SIGABRT);
		assert_non_null(strstr(err, "used by two threads"));
	}
	int status = child_run(second_thread_child, (void *)(uintptr_t)SECOND_SIZE_ONLY, 20, err,
			       sizeof err);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
#endif
}

/* Each behaviour test on the default map, then on the single-owner map. */
#define KIND_TEST(f, suffix, k)                                                                    \
	{                                                                                          \
		.name = #f suffix, .test_func = f, .initial_state = &(k)                           \
	}
#define BOTH_KINDS(f) KIND_TEST(f, "", kind_default), KIND_TEST(f, "_single_owner", kind_none)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    BOTH_KINDS(test_create_validation),
	    cmocka_unit_test(test_lock_names),
	    BOTH_KINDS(test_put_get_replace),
	    BOTH_KINDS(test_del),
	    BOTH_KINDS(test_update_insert_modify_delete),
	    BOTH_KINDS(test_update_odd_result),
	    BOTH_KINDS(test_update_key_passed),
	    BOTH_KINDS(test_size_in_callback),
	    BOTH_KINDS(test_foreach_once),
	    BOTH_KINDS(test_size),
	    BOTH_KINDS(test_long_keys),
	    BOTH_KINDS(test_binary_keys),
	    BOTH_KINDS(test_key_lengths),
	    BOTH_KINDS(test_high_bits),
	    BOTH_KINDS(test_empty_key),
	    BOTH_KINDS(test_u64_equivalence),
	    BOTH_KINDS(test_growth_200k),
	    BOTH_KINDS(test_destroy_frees),
	    BOTH_KINDS(test_enomem),
	    cmocka_unit_test(test_lock_kinds),
	    cmocka_unit_test(test_single_owner_handoff),
	    cmocka_unit_test(test_single_owner_second_thread_aborts),
	};
	return cmocka_run_group_tests_name("cmap", tests, NULL, NULL);
}
