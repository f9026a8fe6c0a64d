/* cmap: a concurrent hash map split into independently locked shards (the replica core's maps). */
#ifndef CURPKV_CMAP_H
#define CURPKV_CMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Ownership rule: a value is an opaque pointer. cmap_put and cmap_update hand the value to the
 * map; from then on the map owns it and frees it with the map's val_free (if not NULL) when it is
 * replaced, deleted or the map is destroyed — unless the caller asks for the old value back
 * (cmap_put/cmap_del with a non-NULL `old`), in which case ownership returns to the caller.
 * A value is only ever touched by callbacks that run under its shard's lock: cmap_get's reader
 * under the shard's read lock (it must not keep the pointer after returning), cmap_update's and
 * cmap_foreach's callbacks under the write/read lock as documented. Keys are copied.
 *
 * Thread safety: every function except cmap_create/cmap_destroy may be called from any thread
 * concurrently. Callbacks run holding exactly one shard lock (never two); val_free runs with no
 * lock held (except from cmap_destroy). Callbacks must be short, must not call back into the same
 * map (cmap_size and cmap_shards excepted: they take no lock), and must not block.
 * Exception: a map created with CMAP_LOCK_NONE is single-owner (see there): one thread only.
 */

struct cmap;

typedef void (*cmap_free_fn)(void *val);
/* Called under the shard read lock with the current value. */
typedef void (*cmap_read_fn)(const void *key, size_t klen, void *val, void *arg);
/* Called under the shard write lock. *val is the current value (NULL if the key is absent).
 * The callback may modify the pointed-to object in place, or store a new pointer into *val
 * (the old one then belongs to the callback). Return CMAP_KEEP to keep/insert *val (a NULL
 * *val keeps nothing), CMAP_DELETE to remove the entry (the map does NOT free *val then: the
 * callback owns it). */
enum cmap_update_result { CMAP_KEEP = 0, CMAP_DELETE = 1 };
typedef enum cmap_update_result (*cmap_update_fn)(const void *key, size_t klen, void **val,
						  void *arg);
/* Iteration callback under the shard read lock; return non-zero to stop. */
typedef int (*cmap_iter_fn)(const void *key, size_t klen, void *val, void *arg);

/* Creates a map with `shards` shards (a power of two, 1..65536) and the default shard lock.
 * val_free may be NULL. Returns 0, -EINVAL (bad shard count) or -ENOMEM; *out is set only on 0. */
int cmap_create(uint32_t shards, cmap_free_fn val_free, struct cmap **out);

/* Shard lock implementations. CMAP_LOCK_DEFAULT is the one chosen by measurement (see
 * docs/cmap.md); the others are kept so that the choice can be re-measured side by side
 * (bench/bench_cmap -l). All give the same semantics, except CMAP_LOCK_NONE, which is not a
 * lock but the single-owner mode. */
enum cmap_lock_kind {
	/* = CMAP_LOCK_PERCPU_RW */
	CMAP_LOCK_DEFAULT = 0,
	/* Reader-writer lock on ck_pr atomics with one reader count per CPU: a read writes no
	 * cache line that readers on other CPUs write. Waiters spin briefly, then sched_yield. */
	CMAP_LOCK_PERCPU_RW,
	/* The ck_rwlock protocol (one shared reader count); spin briefly, then sched_yield. */
	CMAP_LOCK_RW_YIELD,
	/* ck_rwlock_read_lock / ck_rwlock_write_lock as shipped: pure spinning. */
	CMAP_LOCK_RW_SPIN,
	/* ck_spinlock_fas_lock_eb (exponential backoff); readers exclude each other. */
	CMAP_LOCK_SPIN_EB,
	/* ck_spinlock_fas; spin briefly, then sched_yield; readers exclude each other. */
	CMAP_LOCK_SPIN_YIELD,
	/* pthread_rwlock_t (futex: waiters sleep in the kernel). */
	CMAP_LOCK_PTHREAD_RW,
	/* No lock: the single-owner map, for state that one thread alone ever touches (the
	 * replica core's tables, a loop's private index). An operation takes no lock, does no
	 * atomic read-modify-write and never calls sched_getcpu(). Contract: the first thread that
	 * calls a function other than cmap_create, cmap_destroy, cmap_size and cmap_shards owns
	 * the map, and no other thread may call those functions on it afterwards. cmap_size and
	 * cmap_shards stay callable from any thread, cmap_destroy once the owner is done with the
	 * map (e.g. after a join). assert() checks the owner (every build without NDEBUG): a call
	 * from another thread aborts. Otherwise the same semantics as the locked kinds. */
	CMAP_LOCK_NONE,
	CMAP_LOCK_KINDS
};
/* Like cmap_create with an explicit lock kind. Returns 0, -EINVAL (bad shard count or lock
 * kind) or -ENOMEM. */
int cmap_create_lock(uint32_t shards, cmap_free_fn val_free, enum cmap_lock_kind lock,
		     struct cmap **out);
/* Returns a static lower-case name of a lock kind ("percpu_rw", ..., "none"), or NULL if out of
 * range; cmap_lock_parse is the inverse (returns the kind, or -EINVAL). Any thread. */
const char *cmap_lock_name(enum cmap_lock_kind lock);
int cmap_lock_parse(const char *name);
/* Frees every entry (with val_free) and the map. No other thread may use it concurrently. */
void cmap_destroy(struct cmap *m);

/* Inserts or replaces key -> val (the map takes val). If old is not NULL it receives the
 * replaced value (or NULL) and the caller owns it; otherwise the replaced value is freed (after
 * the shard lock is released; never when it is val itself). key may be NULL if klen is 0.
 * Returns 0, -EINVAL (val NULL) or -ENOMEM (val not taken, map unchanged, *old NULL). */
int cmap_put(struct cmap *m, const void *key, size_t klen, void *val, void **old);

/* Runs fn on key's value under the read lock (fn may be NULL: a presence test).
 * Returns 0, or -ENOENT if absent (fn not called). */
int cmap_get(struct cmap *m, const void *key, size_t klen, cmap_read_fn fn, void *arg);

/* Returns true if key is present. */
bool cmap_contains(struct cmap *m, const void *key, size_t klen);

/* Removes key. If old is not NULL it receives the value (caller owns it; NULL if absent);
 * otherwise the value is freed after the shard lock is released. Returns 0 or -ENOENT. */
int cmap_del(struct cmap *m, const void *key, size_t klen, void **old);

/* Atomic insert-or-modify: runs fn exactly once under the shard write lock (see
 * cmap_update_fn; fn receives the caller's key). A callback result other than CMAP_DELETE counts
 * as CMAP_KEEP. Returns the result (CMAP_KEEP/CMAP_DELETE), or -ENOMEM when the key is absent
 * and no room for the entry could be allocated: that is detected before the callback runs, so
 * fn was not called and nothing changed. */
int cmap_update(struct cmap *m, const void *key, size_t klen, cmap_update_fn fn, void *arg);
/* cmap_update for a key that is only ever changed or removed, never inserted: fn runs (as there)
 * only if key is present. Returns its result, or -ENOENT: the key is absent, fn was not called,
 * nothing was allocated and nothing changed. One lookup where cmap_contains then cmap_update
 * would take two. */
int cmap_update_present(struct cmap *m, const void *key, size_t klen, cmap_update_fn fn,
			void *arg);

/* Visits every entry, shard by shard (each shard under its read lock; entries inserted
 * concurrently into a shard not yet visited may or may not be seen). Returns the first non-zero
 * callback result, or 0. */
int cmap_foreach(struct cmap *m, cmap_iter_fn fn, void *arg);

/* Number of entries (a sum of per-shard counters, O(shards); exact when no writer runs
 * concurrently). Takes no lock, so unlike the other functions it may be called from a
 * callback, even on the same map. */
size_t cmap_size(struct cmap *m);
/* Returns the shard count given at creation. Takes no lock. */
uint32_t cmap_shards(const struct cmap *m);

/* 8-byte key fast paths (the load generator's keys): same semantics, key given by value. The
 * key is the 8 bytes of the uint64_t in host byte order: cmap_get_u64(m, k, ...) and
 * cmap_get(m, &k, sizeof k, ...) name the same entry. */
int cmap_put_u64(struct cmap *m, uint64_t key, void *val, void **old);
int cmap_get_u64(struct cmap *m, uint64_t key, cmap_read_fn fn, void *arg);
int cmap_del_u64(struct cmap *m, uint64_t key, void **old);
int cmap_update_u64(struct cmap *m, uint64_t key, cmap_update_fn fn, void *arg);

#endif
