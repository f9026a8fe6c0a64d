/* desc: a fixed-capacity pool of in-flight command descriptors with generation-checked ids. */
#ifndef CURPKV_DESC_H
#define CURPKV_DESC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * A descriptor id is (generation << 32 | index + 1), so 0 is never a valid id. A slot's
 * generation is odd while it is held and even while it is free; acquire and release each bump
 * it by one (wrapping from 2^32 - 1 to 0), so a late message carrying the id of a released or
 * recycled descriptor is detected (desc_lookup returns NULL, desc_release returns -ESTALE). An
 * old id can only match again after its slot has been reused 2^31 times.
 *
 * Capacity is fixed at creation (maxDescRoutines). `reserve` of them can only be taken by
 * acquisitions marked reserved (peer messages for slots already assigned: PROTOCOL.md 4), so
 * client traffic can never starve the replication path.
 *
 * Thread safety: all functions may be called from any thread, except desc_pool_destroy. An
 * internal spinlock guards the free list for a few instructions; desc_lookup and the readers
 * (desc_in_use, the counters) take no lock. The wake-up hook runs on the releasing thread,
 * outside the lock, and must not block (typically ev_async_send).
 */

struct desc_pool;
typedef uint64_t desc_id;

/* Creates a pool of `capacity` descriptors (1..2^31), each with payload_size bytes of caller
 * payload (0 is allowed) starting on a 64-byte boundary; `reserve` < capacity of them are kept
 * for reserved acquisitions. All memory is allocated here, once. The caller owns *out and frees
 * it with desc_pool_destroy. Returns 0, -EINVAL (capacity or reserve out of range) or -ENOMEM
 * (including sizes whose total does not fit in a size_t). */
int desc_pool_create(uint32_t capacity, uint32_t reserve, size_t payload_size,
		     struct desc_pool **out);

/* Frees the pool and every payload (descriptors still held are discarded). No other thread may
 * be using the pool. NULL is a no-op. */
void desc_pool_destroy(struct desc_pool *p);

/* Takes a free descriptor in O(1). Sets *id and *payload (zeroed, owned by the pool, valid until
 * the descriptor is released). An unreserved acquisition only succeeds while more than `reserve`
 * descriptors are free; a reserved one while any is. Returns 0, or -EAGAIN when no descriptor
 * is available to this class (counted; starts an exhaustion episode for the wake-up hook; never
 * blocks, never allocates). */
int desc_acquire(struct desc_pool *p, bool reserved, desc_id *id, void **payload);

/* Returns the descriptor to the pool in O(1); its id and payload pointer become invalid. Runs
 * the wake-up hook (after dropping the lock) if this release ends an exhaustion episode.
 * Returns 0, or -ESTALE (counted) for a stale, already free or invalid id. */
int desc_release(struct desc_pool *p, desc_id id);

/* Returns the payload of a held descriptor, or NULL (counted as stale) if id is stale, free or
 * invalid. Lock-free. The pointer is only meaningful while the descriptor stays held: a lookup
 * racing with the release of the same id is the caller's bug. */
void *desc_lookup(struct desc_pool *p, desc_id id);

/* Readers: any thread, lock-free; the value may be outdated by the time it is used. */
uint32_t desc_in_use(const struct desc_pool *p);
uint32_t desc_capacity(const struct desc_pool *p);
/* Counters: acquisitions refused with -EAGAIN; ids rejected by desc_lookup or desc_release
 * (stale, already free or forged). */
uint64_t desc_exhausted_count(const struct desc_pool *p);
uint64_t desc_stale_count(const struct desc_pool *p);

/* Registers the back-pressure hook. An exhaustion episode starts when an acquisition (of either
 * class) is refused and ends at the first release after which the free unreserved descriptors
 * (free minus reserve) number at least `low_water`; that release calls fn(arg) once, on the
 * releasing thread, after the lock is dropped (fn may call desc_* functions). low_water 0 counts
 * as 1, and a value above capacity - reserve counts as capacity - reserve, so every episode
 * ends once all descriptors are back. Without a hook an episode still ends, silently. fn NULL
 * removes the hook; a release already past the lock may still call the previous one once. */
void desc_set_wakeup(struct desc_pool *p, uint32_t low_water, void (*fn)(void *arg), void *arg);

/* Tests only: sets the generation of the free descriptor at `index` (0-based) to `gen`, which
 * must be even (free), so generation wrap-around can be exercised without 2^31 reuses.
 * Returns 0, -EINVAL (index out of range, odd gen) or -EBUSY (descriptor held). */
int desc_debug_set_generation(struct desc_pool *p, uint32_t index, uint32_t gen);

#endif
