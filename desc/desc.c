/* desc: a fixed-capacity pool of in-flight command descriptors with generation-checked ids.
 *
 * Layout: `slots` is one allocation of `capacity` payload slots, each the caller's payload size
 * rounded up to a cache line (at least one line), so every payload starts on a line boundary and
 * two descriptors never share a line. The per-slot generations live in their own array `gen`
 * (odd: held, even: free). Free slots form a LIFO stack of indices (O(1) push and pop; the slot
 * released last is reused first, while its lines are still warm) guarded by a spinlock (FAS with
 * exponential backoff) held for a few instructions; the payload memset and the wake-up hook run
 * outside it.
 *
 * Synchronization: every write to `gen`, `free_stack`, `nfree`, `starved`, the hook and
 * `exhausted` happens under `lock`. The fields read without the lock (`gen[i]` by desc_lookup,
 * `nfree` and the counters by the readers) are written with ck_pr stores and read with ck_pr
 * loads so they never tear; they carry no ordering of their own: a thread that looks up an id it
 * did not acquire learned it through some channel (a ring, a lock) that already orders the
 * acquisition before the lookup.
 */
#include "desc/desc.h"
#include "common/tsan.h"

#include <ck_pr.h>
#include <ck_spinlock.h>
#include <errno.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#define DESC_LINE	  64
#define DESC_MAX_CAPACITY (UINT32_C(1) << 31)

struct desc_pool {
	/* Immutable after creation and read by every call: never written, so this line stays
	 * shared in every core's cache while the lock's line moves. */
	uint32_t capacity;
	uint32_t reserve;
	size_t payload_size;
	size_t slot_size;     /* payload_size rounded up to DESC_LINE, at least DESC_LINE */
	uint8_t *slots;	      /* capacity * slot_size bytes, DESC_LINE aligned */
	uint32_t *gen;	      /* per slot: odd while held, even while free */
	uint32_t *free_stack; /* indices of the free slots; the top is free_stack[nfree - 1] */

	/* Guarded by lock. */
	alignas(DESC_LINE) ck_spinlock_t lock;
	uint32_t nfree;	    /* stored with ck_pr_store_32: desc_in_use loads it unlocked */
	uint32_t low_water; /* effective value, 1..capacity - reserve */
	bool starved;	    /* an acquisition was refused and the episode has not ended */
	void (*wake_fn)(void *arg);
	void *wake_arg;
	uint64_t exhausted; /* stored with ck_pr_store_64: desc_exhausted_count loads it unlocked */

	/* Bumped by desc_lookup without the lock: on its own line so a burst of stale lookups does
	 * not bounce the lock's line. */
	alignas(DESC_LINE) uint64_t stale;
};

/* The pool lock, declared to ThreadSanitizer (common/tsan.h): ck's inline assembly is invisible
 * to it, so without these every access the lock orders would look like a race. A waiter backs off
 * exponentially instead of hammering the lock's line: with 2 threads on one pool this measured
 * ~20M pairs/s against ~8M/s for the plain FAS spin, at no cost uncontended (docs/desc.md). */
static inline void pool_lock(struct desc_pool *p)
{
	common_tsan_pre_lock(&p->lock, false);
	ck_spinlock_lock_eb(&p->lock);
	common_tsan_post_lock(&p->lock, false);
}

static inline void pool_unlock(struct desc_pool *p)
{
	common_tsan_pre_unlock(&p->lock, false);
	ck_spinlock_unlock(&p->lock);
	common_tsan_post_unlock(&p->lock, false);
}

static inline void *slot_payload(const struct desc_pool *p, uint32_t idx)
{
	return p->slots + (size_t)idx * p->slot_size;
}

static inline desc_id make_id(uint32_t gen, uint32_t idx)
{
	/* idx < 2^31, so idx + 1 is never 0 and neither is the id, whatever the generation. */
	return ((uint64_t)gen << 32) | ((uint64_t)idx + 1);
}

static inline uint32_t id_gen(desc_id id)
{
	return (uint32_t)(id >> 32);
}

/* Decodes the slot index of an id that could name a held descriptor: index part in
 * 1..capacity and an odd (held) generation. Returns false for anything else, including 0. */
static inline bool id_index(const struct desc_pool *p, desc_id id, uint32_t *idx)
{
	uint32_t idx1 = (uint32_t)id;
	if (idx1 == 0 || idx1 > p->capacity || (id_gen(id) & 1u) == 0)
		return false;
	*idx = idx1 - 1;
	return true;
}

int desc_pool_create(uint32_t capacity, uint32_t reserve, size_t payload_size,
		     struct desc_pool **out)
{
	if (capacity == 0 || capacity > DESC_MAX_CAPACITY || reserve >= capacity)
		return -EINVAL;
	if (payload_size > SIZE_MAX - DESC_LINE)
		return -ENOMEM;
	size_t slot_size =
	    payload_size == 0 ? DESC_LINE : (payload_size + DESC_LINE - 1) / DESC_LINE * DESC_LINE;
	if (slot_size > SIZE_MAX / capacity)
		return -ENOMEM;

	void *mem;
	if (posix_memalign(&mem, DESC_LINE, sizeof(struct desc_pool)) != 0)
		return -ENOMEM;
	struct desc_pool *p = mem;
	memset(p, 0, sizeof *p);
	p->capacity = capacity;
	p->reserve = reserve;
	p->payload_size = payload_size;
	p->slot_size = slot_size;
	/* Payloads are not zeroed here: desc_acquire zeroes each one as it hands it out, and
	 * untouched pages of a large pool stay unbacked until first used. */
	if (posix_memalign(&mem, DESC_LINE, (size_t)capacity * slot_size) != 0)
		goto err_after_pool;
	p->slots = mem;
	p->gen = calloc(capacity, sizeof *p->gen); /* generation 0: free, first id has 1 */
	if (p->gen == NULL)
		goto err_after_slots;
	p->free_stack = malloc((size_t)capacity * sizeof *p->free_stack);
	if (p->free_stack == NULL)
		goto err_after_gen;
	/* Pop order 0, 1, 2...: push in reverse. */
	for (uint32_t i = 0; i < capacity; i++)
		p->free_stack[i] = capacity - 1 - i;
	p->nfree = capacity;
	p->low_water = 1;
	ck_spinlock_init(&p->lock);
	common_tsan_lock_create(&p->lock);
	*out = p;
	return 0;

err_after_gen:
	free(p->gen);
err_after_slots:
	free(p->slots);
err_after_pool:
	free(p);
	return -ENOMEM;
}

void desc_pool_destroy(struct desc_pool *p)
{
	if (p == NULL)
		return;
	common_tsan_lock_destroy(&p->lock);
	free(p->free_stack);
	free(p->gen);
	free(p->slots);
	free(p);
}

int desc_acquire(struct desc_pool *p, bool reserved, desc_id *id, void **payload)
{
	uint32_t floor = reserved ? 0 : p->reserve;
	pool_lock(p);
	uint32_t nfree = p->nfree;
	if (nfree <= floor) {
		p->starved = true;
		/* Written only under the lock, so load + store is an increment; the store is atomic
		 * for the unlocked ck_pr_load_64 in desc_exhausted_count. */
		ck_pr_store_64(&p->exhausted, p->exhausted + 1);
		pool_unlock(p);
		return -EAGAIN;
	}
	uint32_t idx = p->free_stack[nfree - 1];
	/* Pairs with the unlocked ck_pr_load_32 in desc_in_use (atomicity only). */
	ck_pr_store_32(&p->nfree, nfree - 1);
	/* Even (free) + 1 = odd (held); 0xffffffff is odd, so the wrap happens on release. Pairs
	 * with the unlocked ck_pr_load_32 in desc_lookup (atomicity only, see the file comment). */
	uint32_t gen = p->gen[idx] + 1;
	ck_pr_store_32(&p->gen[idx], gen);
	pool_unlock(p);

	/* Outside the lock: the slot is ours alone from here until we hand out its id. */
	void *pl = slot_payload(p, idx);
	memset(pl, 0, p->payload_size);
	*id = make_id(gen, idx);
	*payload = pl;
	return 0;
}

int desc_release(struct desc_pool *p, desc_id id)
{
	uint32_t idx;
	if (!id_index(p, id, &idx))
		goto stale; /* forged: no need for the lock */
	pool_lock(p);
	/* Plain read: every write to gen happens under the lock we hold. */
	if (p->gen[idx] != id_gen(id)) {
		pool_unlock(p);
		goto stale;
	}
	/* Odd + 1 = even (free), wrapping 0xffffffff to 0. From this store on desc_lookup of this
	 * id fails; pairs with its unlocked ck_pr_load_32 (atomicity only). */
	ck_pr_store_32(&p->gen[idx], id_gen(id) + 1);
	uint32_t nfree = p->nfree + 1;
	p->free_stack[nfree - 1] = idx;
	/* Pairs with the unlocked ck_pr_load_32 in desc_in_use (atomicity only). */
	ck_pr_store_32(&p->nfree, nfree);
	void (*fn)(void *) = NULL;
	void *arg = NULL;
	/* reserve + low_water <= capacity (desc_set_wakeup clamps it): no overflow, and an episode
	 * always ends once every descriptor is back. */
	if (p->starved && nfree >= p->reserve + p->low_water) {
		p->starved = false;
		fn = p->wake_fn;
		arg = p->wake_arg;
	}
	pool_unlock(p);
	if (fn != NULL)
		fn(arg); /* outside the lock: the hook may call back into the pool */
	return 0;

stale:
	ck_pr_inc_64(&p->stale); /* pairs with ck_pr_load_64 in desc_stale_count */
	return -ESTALE;
}

void *desc_lookup(struct desc_pool *p, desc_id id)
{
	uint32_t idx;
	/* Pairs with the ck_pr_store_32 of gen[idx] in desc_acquire/desc_release. */
	if (id_index(p, id, &idx) && ck_pr_load_32(&p->gen[idx]) == id_gen(id))
		return slot_payload(p, idx);
	ck_pr_inc_64(&p->stale); /* pairs with ck_pr_load_64 in desc_stale_count */
	return NULL;
}

uint32_t desc_in_use(const struct desc_pool *p)
{
	/* Pairs with the ck_pr_store_32 of nfree in desc_acquire/desc_release. */
	return p->capacity - ck_pr_load_32(&p->nfree);
}

uint32_t desc_capacity(const struct desc_pool *p)
{
	return p->capacity;
}

uint64_t desc_exhausted_count(const struct desc_pool *p)
{
	/* Pairs with the ck_pr_store_64 in desc_acquire. */
	return ck_pr_load_64(&p->exhausted);
}

uint64_t desc_stale_count(const struct desc_pool *p)
{
	/* Pairs with the ck_pr_inc_64 in desc_release/desc_lookup. */
	return ck_pr_load_64(&p->stale);
}

void desc_set_wakeup(struct desc_pool *p, uint32_t low_water, void (*fn)(void *arg), void *arg)
{
	uint32_t max = p->capacity - p->reserve; /* >= 1: reserve < capacity */
	if (low_water == 0)
		low_water = 1;
	if (low_water > max)
		low_water = max;
	pool_lock(p);
	p->wake_fn = fn;
	p->wake_arg = arg;
	p->low_water = low_water;
	pool_unlock(p);
}

int desc_debug_set_generation(struct desc_pool *p, uint32_t index, uint32_t gen)
{
	if (index >= p->capacity || (gen & 1u) != 0)
		return -EINVAL;
	int rc = 0;
	pool_lock(p);
	if ((p->gen[index] & 1u) != 0)
		rc = -EBUSY;
	else
		ck_pr_store_32(&p->gen[index], gen); /* pairs with desc_lookup's ck_pr_load_32 */
	pool_unlock(p);
	return rc;
}
