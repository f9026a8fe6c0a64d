/* desc: a fixed-capacity pool of in-flight command descriptors with generation-checked ids. */
#ifndef CURPKV_DESC_H
#define CURPKV_DESC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * A descriptor id is (generation << 32 | index + 1); 0 is never a valid id. Releasing a
 * descriptor bumps its generation, so a late message carrying an old id is detected
 * (desc_lookup returns NULL, desc_release returns -ESTALE).
 *
 * Capacity is fixed at creation (maxDescRoutines). `reserve` of them can only be taken by
 * acquisitions marked reserved (peer messages for slots already assigned: PROTOCOL.md 4), so
 * client traffic can never starve the replication path.
 *
 * Thread safety: all functions may be called from any thread (an internal spinlock guards
 * the free list; critical sections are a few instructions). The wake-up hook runs on the
 * releasing thread, outside the lock, and must not block (typically ev_async_send).
 */

struct desc_pool;
typedef uint64_t desc_id;

/* Creates a pool of `capacity` descriptors (1..2^31) each with payload_size bytes of zeroed
 * caller payload; `reserve` < capacity of them are kept for reserved acquisitions.
 * Returns 0, -EINVAL or -ENOMEM. */
int desc_pool_create(uint32_t capacity, uint32_t reserve, size_t payload_size,
		     struct desc_pool **out);
void desc_pool_destroy(struct desc_pool *p);

/* Takes a free descriptor in O(1). Sets *id and *payload (zeroed). Returns 0 or -EAGAIN when
 * no descriptor is available to this class (never blocks, never allocates). */
int desc_acquire(struct desc_pool *p, bool reserved, desc_id *id, void **payload);

/* Returns the descriptor to the pool in O(1). Returns 0, or -ESTALE for a stale/free/invalid id. */
int desc_release(struct desc_pool *p, desc_id id);

/* Returns the payload of a live descriptor, or NULL if id is stale, free or invalid. */
void *desc_lookup(struct desc_pool *p, desc_id id);

uint32_t desc_in_use(const struct desc_pool *p);
uint32_t desc_capacity(const struct desc_pool *p);
/* Counters: acquisitions refused with -EAGAIN, stale ids detected. */
uint64_t desc_exhausted_count(const struct desc_pool *p);
uint64_t desc_stale_count(const struct desc_pool *p);

/* Registers a hook called (once per exhaustion episode) when, after an acquisition was refused,
 * the number of free unreserved descriptors climbs back to `low_water` (>= 1). fn NULL removes it. */
void desc_set_wakeup(struct desc_pool *p, uint32_t low_water, void (*fn)(void *arg), void *arg);

#endif
