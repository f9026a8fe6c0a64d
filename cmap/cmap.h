/* cmap: a concurrent hash map split into independently locked shards (replica shared state). */
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
 * concurrently. Callbacks must be short, must not call back into the same map, and must not block.
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

/* Creates a map with `shards` shards (a power of two, 1..65536). val_free may be NULL.
 * Returns 0, -EINVAL (bad shard count) or -ENOMEM. */
int cmap_create(uint32_t shards, cmap_free_fn val_free, struct cmap **out);
/* Frees every entry (with val_free) and the map. No other thread may use it concurrently. */
void cmap_destroy(struct cmap *m);

/* Inserts or replaces key -> val (the map takes val). If old is not NULL it receives the
 * replaced value (or NULL) and the caller owns it; otherwise the replaced value is freed.
 * Returns 0, -EINVAL (val NULL) or -ENOMEM (val not taken). */
int cmap_put(struct cmap *m, const void *key, size_t klen, void *val, void **old);

/* Runs fn on key's value under the read lock. Returns 0, or -ENOENT if absent (fn not called). */
int cmap_get(struct cmap *m, const void *key, size_t klen, cmap_read_fn fn, void *arg);

/* Returns true if key is present. */
bool cmap_contains(struct cmap *m, const void *key, size_t klen);

/* Removes key. If old is not NULL it receives the value (caller owns it); otherwise it is freed.
 * Returns 0 or -ENOENT. */
int cmap_del(struct cmap *m, const void *key, size_t klen, void **old);

/* Atomic insert-or-modify: runs fn under the shard write lock (see cmap_update_fn).
 * Returns the callback's result (CMAP_KEEP/CMAP_DELETE), or -ENOMEM when the key is absent and
 * no entry could be allocated: that is detected before the callback runs, so nothing changed. */
int cmap_update(struct cmap *m, const void *key, size_t klen, cmap_update_fn fn, void *arg);

/* Visits every entry, shard by shard (each shard under its read lock; entries inserted
 * concurrently into a shard not yet visited may or may not be seen). Returns the first non-zero
 * callback result, or 0. */
int cmap_foreach(struct cmap *m, cmap_iter_fn fn, void *arg);

/* Number of entries (a sum over shards; exact when no writer runs concurrently). */
size_t cmap_size(struct cmap *m);
uint32_t cmap_shards(const struct cmap *m);

/* 8-byte key fast paths (the load generator's keys): same semantics, key given by value. */
int cmap_put_u64(struct cmap *m, uint64_t key, void *val, void **old);
int cmap_get_u64(struct cmap *m, uint64_t key, cmap_read_fn fn, void *arg);
int cmap_del_u64(struct cmap *m, uint64_t key, void **old);
int cmap_update_u64(struct cmap *m, uint64_t key, cmap_update_fn fn, void *arg);

#endif
