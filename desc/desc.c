/* desc: a fixed-capacity pool of in-flight command descriptors with generation-checked ids.
 *
 * Layout: `slots` is one allocation of capacity fixed-size slots (a header + the caller's payload,
 * each rounded up to a cache line). Free slots form a LIFO stack of indices (O(1) push/pop) under
 * a spinlock held for a few instructions. A slot's generation is bumped on every release, so the id
 * handed out for the previous occupant no longer matches.
 */
#include "desc/desc.h"
#include "common/tsan.h"

#include <ck_pr.h>
#include <ck_spinlock.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define DESC_LINE 64u

struct slot_hdr {
	uint32_t gen;  /* current generation (odd: in use, even: free) */
	uint32_t pad;
};

struct desc_pool {
	ck_spinlock_t lock;
	uint32_t capacity;
	uint32_t reserve;
	uint32_t nfree; /* free descriptors (guarded by lock; read with ck_pr_load_32 elsewhere) */
	uint32_t *free_stack;
	size_t slot_size;
	size_t payload_size;
	uint8_t *slots;
	uint64_t exhausted; /* ck_pr atomics */
	uint64_t stale;
	/* back-pressure hook */
	void (*wake_fn)(void *arg);
	void *wake_arg;
	uint32_t low_water;
	bool starved; /* an unreserved acquisition was refused and the hook has not fired yet */
};

/* The pool lock, declared to ThreadSanitizer (common/tsan.h). */
static inline void pool_lock(struct desc_pool *p)
{
	common_tsan_pre_lock(&p->lock, false);
	ck_spinlock_lock(&p->lock);
	common_tsan_post_lock(&p->lock, false);
}

static inline void pool_unlock(struct desc_pool *p)
{
	common_tsan_pre_unlock(&p->lock, false);
	ck_spinlock_unlock(&p->lock);
	common_tsan_post_unlock(&p->lock, false);
}

static inline struct slot_hdr *slot_at(const struct desc_pool *p, uint32_t idx)
{
	return (struct slot_hdr *)(p->slots + (size_t)idx * p->slot_size);
}

static inline void *payload_of(struct slot_hdr *h)
{
	return (uint8_t *)h + DESC_LINE;
}

static inline desc_id make_id(uint32_t gen, uint32_t idx)
{
	return ((uint64_t)gen << 32) | (uint64_t)(idx + 1);
}

int desc_pool_create(uint32_t capacity, uint32_t reserve, size_t payload_size,
		     struct desc_pool **out)
{
	if (capacity == 0 || capacity > (1u << 31) || reserve >= capacity ||
	    payload_size > (1u << 20))
		return -EINVAL;
	struct desc_pool *p = calloc(1, sizeof *p);
	if (p == NULL)
		return -ENOMEM;
	p->capacity = capacity;
	p->reserve = reserve;
	p->payload_size = payload_size;
	p->slot_size = DESC_LINE + ((payload_size + DESC_LINE - 1) / DESC_LINE) * DESC_LINE;
	p->free_stack = malloc((size_t)capacity * sizeof *p->free_stack);
	if (p->free_stack == NULL ||
	    posix_memalign((void **)&p->slots, DESC_LINE, (size_t)capacity * p->slot_size) != 0) {
		free(p->free_stack);
		free(p);
		return -ENOMEM;
	}
	memset(p->slots, 0, (size_t)capacity * p->slot_size);
	/* Pop order 0, 1, 2...: push in reverse. */
	for (uint32_t i = 0; i < capacity; i++)
		p->free_stack[i] = capacity - 1 - i;
	p->nfree = capacity;
	ck_spinlock_init(&p->lock);
	common_tsan_lock_create(&p->lock);
	*out = p;
	return 0;
}

void desc_pool_destroy(struct desc_pool *p)
{
	if (p == NULL)
		return;
	common_tsan_lock_destroy(&p->lock);
	free(p->free_stack);
	free(p->slots);
	free(p);
}

int desc_acquire(struct desc_pool *p, bool reserved, desc_id *id, void **payload)
{
	pool_lock(p);
	uint32_t floor = reserved ? 0 : p->reserve;
	if (p->nfree <= floor) {
		if (!reserved)
			p->starved = true;
		pool_unlock(p);
		ck_pr_inc_64(&p->exhausted);
		return -EAGAIN;
	}
	uint32_t idx = p->free_stack[--p->nfree];
	struct slot_hdr *h = slot_at(p, idx);
	/* Free generations are even; in use is odd. Skipping 0 keeps ids non-zero even after the
	 * 32-bit generation wraps (idx + 1 is never 0 anyway). */
	uint32_t gen = h->gen + 1;
	ck_pr_store_32(&h->gen, gen); /* pairs with the load in desc_lookup/desc_release */
	pool_unlock(p);
	memset(payload_of(h), 0, p->payload_size);
	*id = make_id(gen, idx);
	*payload = payload_of(h);
	return 0;
}

/* Returns the slot of a live id, or NULL. */
static struct slot_hdr *live_slot(struct desc_pool *p, desc_id id)
{
	uint32_t idx1 = (uint32_t)(id & 0xffffffffu);
	uint32_t gen = (uint32_t)(id >> 32);
	if (idx1 == 0 || idx1 > p->capacity || (gen & 1u) == 0)
		return NULL;
	struct slot_hdr *h = slot_at(p, idx1 - 1);
	return ck_pr_load_32(&h->gen) == gen ? h : NULL;
}

int desc_release(struct desc_pool *p, desc_id id)
{
	uint32_t idx1 = (uint32_t)(id & 0xffffffffu);
	uint32_t gen = (uint32_t)(id >> 32);
	bool wake = false;
	pool_lock(p);
	struct slot_hdr *h = (idx1 == 0 || idx1 > p->capacity || (gen & 1u) == 0)
				     ? NULL
				     : slot_at(p, idx1 - 1);
	if (h == NULL || h->gen != gen) {
		pool_unlock(p);
		ck_pr_inc_64(&p->stale);
		return -ESTALE;
	}
	ck_pr_store_32(&h->gen, gen + 1); /* even: free; stale ids stop matching from here */
	p->free_stack[p->nfree++] = idx1 - 1;
	if (p->starved && p->wake_fn && p->nfree >= p->reserve + p->low_water) {
		p->starved = false;
		wake = true;
	}
	void (*fn)(void *) = p->wake_fn;
	void *arg = p->wake_arg;
	pool_unlock(p);
	if (wake)
		fn(arg); /* outside the lock: the hook may acquire */
	return 0;
}

void *desc_lookup(struct desc_pool *p, desc_id id)
{
	struct slot_hdr *h = live_slot(p, id);
	if (h == NULL) {
		ck_pr_inc_64(&p->stale);
		return NULL;
	}
	return payload_of(h);
}

uint32_t desc_in_use(const struct desc_pool *p)
{
	return p->capacity - ck_pr_load_32(&((struct desc_pool *)p)->nfree);
}

uint32_t desc_capacity(const struct desc_pool *p)
{
	return p->capacity;
}

uint64_t desc_exhausted_count(const struct desc_pool *p)
{
	return ck_pr_load_64(&((struct desc_pool *)p)->exhausted);
}

uint64_t desc_stale_count(const struct desc_pool *p)
{
	return ck_pr_load_64(&((struct desc_pool *)p)->stale);
}

void desc_set_wakeup(struct desc_pool *p, uint32_t low_water, void (*fn)(void *arg), void *arg)
{
	pool_lock(p);
	p->wake_fn = fn;
	p->wake_arg = arg;
	p->low_water = low_water ? low_water : 1;
	pool_unlock(p);
}
