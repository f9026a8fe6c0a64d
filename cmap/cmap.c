/* cmap: a sharded concurrent hash map (contract in cmap.h, design and measurements in docs/). */
#include "cmap/cmap_int.h"

#include <assert.h>
#include <ck_backoff.h>
#include <ck_pr.h>
#include <errno.h>
#include <sched.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/hash.h"
#include "common/tsan.h"

/*
 * ThreadSanitizer cannot see Concurrency Kit's atomics (inline assembly), so with the ck-based
 * locks every access they order would look like a race. The shard locks are therefore described
 * to it as mutexes (common/tsan.h; no-ops without TSan): the lock words stay invisible, the
 * happens-before edges they create do not. The pthread lock kind needs nothing (TSan intercepts
 * pthread).
 */

/* Forces the per-operation code into each public entry point, so the 8-byte fast paths are
 * compiled with a constant key length (hash, compare and copy become single 64-bit ops). */
#define CMAP_HOT static inline __attribute__((always_inline))

/* Fixed, so hashes (and thus iteration order) are the same in every process. */
#define CMAP_SEED 0x2545f4914f6cdd1dull

/* ---- locks ------------------------------------------------------------------------------ */

/* One failed lock attempt: spin (pause) for the first CMAP_SPIN_LIMIT attempts, then give the
 * CPU away on every further one. On 2 cores with 8 threads the holder of a contended lock is
 * often preempted; spinning until it is scheduled again burns the rest of the time slice. */
static inline void lock_wait(unsigned *spins)
{
	if (*spins < CMAP_SPIN_LIMIT) {
		(*spins)++;
		ck_pr_stall();
	} else {
		sched_yield();
	}
}

/* ck_rwlock's read protocol (ck_rwlock_read_trylock), retried with lock_wait. */
static void rw_yield_read_lock(ck_rwlock_t *rw)
{
	unsigned spins = 0;

	/* ck_rwlock_read_trylock increments n_readers, then (ck_pr_fence_atomic_load) re-checks
	 * writer: this pairs with the fence in rw_yield_write_lock between its writer fas and its
	 * n_readers load, so a reader and a writer never both get in. On success it ends with
	 * ck_pr_fence_lock (acquire), pairing with ck_pr_fence_unlock in ck_rwlock_write_unlock. */
	while (!ck_rwlock_read_trylock(rw))
		lock_wait(&spins);
}

/* ck_rwlock_write_lock's protocol (writer flag first, then drain readers) with lock_wait in both
 * loops. Claiming the flag first keeps new readers out, so a writer is not starved by a steady
 * stream of readers; ck_rwlock_write_trylock in a loop would drop the flag and could be. */
static void rw_yield_write_lock(ck_rwlock_t *rw)
{
	unsigned spins = 0;

	/* fas first (one exclusive fetch of the line when uncontended), then waiters only read
	 * the line until it looks free. The fas is a full barrier on x86 but ck only promises an
	 * atomic: see the fence below. */
	while (ck_pr_fas_uint(&rw->writer, 1) != 0)
		while (ck_pr_load_uint(&rw->writer) != 0)
			lock_wait(&spins);
	/* Orders the writer store above before the n_readers loads below. Pairs with the
	 * ck_pr_fence_atomic_load in ck_rwlock_read_trylock (after its n_readers increment, before
	 * its writer re-check): either that reader sees writer == 1 and backs out, or we see its
	 * increment and wait for its unlock. */
	ck_pr_fence_atomic_load();
	while (ck_pr_load_uint(&rw->n_readers) != 0)
		lock_wait(&spins);
	/* Acquire: the critical section stays after the drain. Pairs with ck_pr_fence_load_atomic
	 * in ck_rwlock_read_unlock (the readers' loads precede their decrement) and with
	 * ck_pr_fence_unlock in ck_rwlock_write_unlock (the previous writer's stores). */
	ck_pr_fence_lock();
}

/* ck_spinlock_fas with lock_wait instead of a pure spin. */
static void fas_yield_lock(ck_spinlock_fas_t *l)
{
	unsigned spins = 0;

	/* ck_spinlock_fas_trylock ends with ck_pr_fence_lock (acquire), pairing with the
	 * ck_pr_fence_unlock in ck_spinlock_fas_unlock; after a failure, waiters only read the
	 * line until it looks free. */
	while (!ck_spinlock_fas_trylock(l))
		while (ck_spinlock_fas_locked(l))
			lock_wait(&spins);
}

/* The reader stripe of the calling thread: the CPU it runs on now (sched_getcpu reads the rseq
 * area, ~2 ns). Migrating later is harmless: the unlock decrements the stripe it incremented. */
static inline unsigned cur_stripe(const struct cmap *m)
{
	int cpu = sched_getcpu();

	return cpu < 0 ? 0 : (unsigned)cpu & m->rmask;
}

/*
 * CMAP_LOCK_PERCPU_RW. Shard i has one word per reader stripe c (pcpu_word): bit 31
 * (PCPU_WRITER) says a writer holds or is taking the shard, bits 0-30 count the readers that
 * entered through stripe c. A reader does one atomic add on its own CPU's word, on a line that
 * only readers on that CPU and writers of that shard (of those shards, when packed) write; the
 * shard's own cache line (table header) is not written by the lock at all, and a read writes
 * nothing that another CPU's reader writes. Without that, every read moved a cache line between
 * the CPUs (~200 ns here) and two threads read slower than one (docs/cmap.md). A writer sets
 * PCPU_WRITER in every stripe's word of the shard (stripe 0 first: that bit is also the
 * writer-writer mutex), then waits for every count to drain. Since flag and count share a word,
 * each reader's add and each writer's bit set are ordered by the word's atomic modification order:
 * a reader whose add returns no PCPU_WRITER is in and is counted, one that sees the bit backs out.
 */
#define PCPU_WRITER_BIT 31
#define PCPU_WRITER	(1u << PCPU_WRITER_BIT)
#define PCPU_COUNT	(PCPU_WRITER - 1)

static inline unsigned *pcpu_word(const struct cmap *m, unsigned c, uint32_t i)
{
	return &m->readers[(size_t)c * m->rstride + (size_t)i * m->rspread];
}

/* Returns the stripe whose count this reader holds (the token for percpu_read_unlock). */
static unsigned percpu_read_lock(struct cmap *m, uint32_t i)
{
	unsigned spins = 0;

	for (;;) {
		unsigned c = cur_stripe(m);
		unsigned *w = pcpu_word(m, c, i);
		/* Atomic with respect to the writer's ck_pr_bts_uint/ck_pr_or_uint on this word. */
		if ((ck_pr_faa_uint(w, 1) & PCPU_WRITER) == 0) {
			/* Acquire: the critical section stays after the add. Pairs with the
			 * ck_pr_fence_unlock in percpu_write_unlock (the last writer's stores). */
			ck_pr_fence_lock();
			return c;
		}
		/* A writer is in or coming: back out (it waits for this count) and wait. */
		ck_pr_dec_uint(w);
		while ((ck_pr_load_uint(w) & PCPU_WRITER) != 0)
			lock_wait(&spins);
	}
}

static void percpu_read_unlock(struct cmap *m, uint32_t i, unsigned c)
{
	/* Release: the critical section's loads (and a reader callback's stores) complete before
	 * the count drops. Pairs with ck_pr_fence_lock at the end of percpu_write_lock. */
	ck_pr_fence_unlock();
	ck_pr_dec_uint(pcpu_word(m, c, i));
}

static void percpu_write_lock(struct cmap *m, uint32_t i)
{
	unsigned *w0 = pcpu_word(m, 0, i);
	unsigned spins = 0;

	/* Stripe 0's bit is the writer-writer mutex. bts first: uncontended, that is one
	 * exclusive fetch of the line where a test-and-test-and-set would need two (shared, then
	 * exclusive), at ~200 ns each between these CPUs. Waiting writers then only read it. */
	while (ck_pr_bts_uint(w0, PCPU_WRITER_BIT))
		while ((ck_pr_load_uint(w0) & PCPU_WRITER) != 0)
			lock_wait(&spins);
	/* Only the mutex holder sets the other stripes' bits, so a plain atomic or suffices. */
	for (unsigned c = 1; c <= m->rmask; c++)
		ck_pr_or_uint(pcpu_word(m, c, i), PCPU_WRITER);
	/* Orders the bit sets before the count loads below. (Each load reads the word its own
	 * RMW just wrote, so coherence alone orders them; the fence keeps this true on weakly
	 * ordered targets for the loads of the other words.) Pairs with the readers' faa. */
	ck_pr_fence_atomic_load();
	for (unsigned c = 0; c <= m->rmask; c++)
		while ((ck_pr_load_uint(pcpu_word(m, c, i)) & PCPU_COUNT) != 0)
			lock_wait(&spins);
	/* Acquire: pairs with ck_pr_fence_unlock in percpu_read_unlock (the readers are done)
	 * and in percpu_write_unlock (the previous writer's stores). */
	ck_pr_fence_lock();
}

static void percpu_write_unlock(struct cmap *m, uint32_t i)
{
	/* Release: the critical section's stores are visible before any bit clears. Pairs with
	 * ck_pr_fence_lock in percpu_read_lock / percpu_write_lock. */
	ck_pr_fence_unlock();
	for (unsigned c = m->rmask; c >= 1; c--)
		ck_pr_and_uint(pcpu_word(m, c, i), ~PCPU_WRITER);
	/* Orders the clears above before the mutex release below, so the next writer finds the
	 * other stripes' bits clear before it sets them. Pairs with that writer's bts. */
	ck_pr_fence_atomic();
	ck_pr_btr_uint(pcpu_word(m, 0, i), PCPU_WRITER_BIT);
}

/* CMAP_LOCK_NONE: the single-owner contract (cmap.h), checked where a lock would be taken.
 * pthread_self() only reads the thread pointer: cheap next to the lock it replaces. */
static inline void owner_check(struct cmap *m)
{
#ifndef NDEBUG
	pthread_t self = pthread_self();

	if (!m->owned) {
		m->owner = self;
		m->owned = true;
	}
	assert(pthread_equal(m->owner, self) && "cmap: a CMAP_LOCK_NONE map used by two threads");
#else
	(void)m;
#endif
}

/* shard_lock for every kind but CMAP_LOCK_NONE. Not inlined: it is large, and the replica
 * core's tables (single-owner) should not pay a call for it. */
static __attribute__((noinline)) unsigned shard_lock_kind(struct cmap *m, uint32_t i, bool read)
{
	struct cmap_shard *s = &m->shards[i];
	unsigned token = 0;

	if (m->lock == CMAP_LOCK_PTHREAD_RW) {
		if (read)
			(void)pthread_rwlock_rdlock(&m->plocks[i].rw);
		else
			(void)pthread_rwlock_wrlock(&m->plocks[i].rw);
		return 0;
	}
	common_tsan_pre_lock(&s->lock, read);
	switch (m->lock) {
	case CMAP_LOCK_RW_YIELD:
		if (read)
			rw_yield_read_lock(&s->lock.rw);
		else
			rw_yield_write_lock(&s->lock.rw);
		break;
	case CMAP_LOCK_RW_SPIN:
		if (read)
			ck_rwlock_read_lock(&s->lock.rw);
		else
			ck_rwlock_write_lock(&s->lock.rw);
		break;
	case CMAP_LOCK_SPIN_EB:
		ck_spinlock_fas_lock_eb(&s->lock.fas);
		break;
	case CMAP_LOCK_SPIN_YIELD:
		fas_yield_lock(&s->lock.fas);
		break;
	default: /* CMAP_LOCK_PERCPU_RW (cmap_create_lock maps CMAP_LOCK_DEFAULT to it) */
		if (read)
			token = percpu_read_lock(m, i);
		else
			percpu_write_lock(m, i);
		break;
	}
	common_tsan_post_lock(&s->lock, read);
	return token;
}

/* Locks shard i for reading or writing. Returns a token for shard_unlock (the reader stripe).
 * The single-owner kind is handled here, inlined into every operation: no lock, no call, no
 * TSan annotation either (with no lock, ThreadSanitizer should see and report a second
 * thread). */
static inline unsigned shard_lock(struct cmap *m, uint32_t i, bool read)
{
	if (m->lock == CMAP_LOCK_NONE) {
		owner_check(m);
		return 0;
	}
	return shard_lock_kind(m, i, read);
}

/* shard_unlock for every kind but CMAP_LOCK_NONE (see shard_lock_kind). */
static __attribute__((noinline)) void shard_unlock_kind(struct cmap *m, uint32_t i, bool read,
							unsigned token)
{
	struct cmap_shard *s = &m->shards[i];

	if (m->lock == CMAP_LOCK_PTHREAD_RW) {
		(void)pthread_rwlock_unlock(&m->plocks[i].rw);
		return;
	}
	common_tsan_pre_unlock(&s->lock, read);
	switch (m->lock) {
	case CMAP_LOCK_SPIN_EB:
	case CMAP_LOCK_SPIN_YIELD:
		/* Release (ck_pr_fence_unlock inside): pairs with the acquire fence of the next
		 * ck_spinlock_fas_trylock / ck_spinlock_fas_lock_eb. */
		ck_spinlock_fas_unlock(&s->lock.fas);
		break;
	case CMAP_LOCK_RW_YIELD:
	case CMAP_LOCK_RW_SPIN:
		if (read)
			/* ck_pr_fence_load_atomic, then decrement: pairs with the drain loop of
			 * the next writer (rw_yield_write_lock / ck_rwlock_write_lock). */
			ck_rwlock_read_unlock(&s->lock.rw);
		else
			/* ck_pr_fence_unlock, then writer = 0: pairs with the acquire at the
			 * end of the next reader's or writer's lock. */
			ck_rwlock_write_unlock(&s->lock.rw);
		break;
	default: /* CMAP_LOCK_PERCPU_RW */
		if (read)
			percpu_read_unlock(m, i, token);
		else
			percpu_write_unlock(m, i);
		break;
	}
	common_tsan_post_unlock(&s->lock, read);
}

static inline void shard_unlock(struct cmap *m, uint32_t i, bool read, unsigned token)
{
	if (m->lock != CMAP_LOCK_NONE)
		shard_unlock_kind(m, i, read, token);
}

/* ---- hashing and slots ------------------------------------------------------------------ */

/* 8-byte keys (both APIs) take one mix of the word; other lengths the general hash. The high bits
 * pick the shard and the low bits the slot, and both are well mixed by common_mix64. */
CMAP_HOT uint64_t key_hash(const void *key, size_t klen)
{
	if (klen == 8) {
		uint64_t w;
		memcpy(&w, key, 8);
		return common_mix64(w ^ CMAP_SEED);
	}
	return common_hash64(key, klen, CMAP_SEED);
}

CMAP_HOT uint32_t shard_index(const struct cmap *m, uint64_t h)
{
	/* Top shard_bits bits; two shifts so that shard_bits == 0 never shifts by 64. */
	return (uint32_t)((h >> 32) >> (32 - m->shard_bits));
}

static inline struct cmap_xkey *slot_xkey(const struct cmap_slot *sl)
{
	struct cmap_xkey *x = NULL;

	if (sl->kb[CMAP_INLINE_MAX] == CMAP_KLEN_EXT)
		memcpy(&x, sl->kb, sizeof x);
	return x;
}

static inline const void *slot_key(const struct cmap_slot *sl, size_t *klen)
{
	struct cmap_xkey *x = slot_xkey(sl);

	if (x != NULL) {
		*klen = x->klen;
		return x->key;
	}
	*klen = sl->kb[CMAP_INLINE_MAX];
	return sl->kb;
}

CMAP_HOT bool slot_match(const struct cmap_slot *sl, uint64_t h, const void *key, size_t klen)
{
	if (sl->hash != h)
		return false;
	if (klen <= CMAP_INLINE_MAX)
		return sl->kb[CMAP_INLINE_MAX] == klen &&
		       (klen == 0 || memcmp(sl->kb, key, klen) == 0);
	struct cmap_xkey *x = slot_xkey(sl);
	return x != NULL && x->klen == klen && memcmp(x->key, key, klen) == 0;
}

/* Starts the cache miss on key's home slot before the shard lock is taken, so that it overlaps
 * the lock's own atomic operation (a locked instruction does not wait for a prefetch). Reads
 * the table without the lock: ck_pr loads, paired with the ck_pr stores in shard_resize. A
 * stale table or mask only prefetches a useless (or freed: prefetches never fault) address;
 * the address is computed in integers so that no out-of-bounds pointer is ever formed. */
CMAP_HOT void slot_prefetch(const struct cmap_shard *s, uint64_t h, bool write)
{
	const struct cmap_slot *t = ck_pr_load_ptr(&s->slots);
	uint64_t mask = ck_pr_load_64(&s->mask);

	if (t == NULL)
		return;
	const void *p = (const void *)((uintptr_t)t + (h & mask) * sizeof *t);
	if (write)
		ck_pr_rfo(p); /* prefetchw: fetch it exclusive, so the store will not stall */
	else
		__builtin_prefetch(p, 0, 3);
}

/* Looks key up (shard lock held). Returns its slot, or NULL; then, if pos is not NULL and the
 * shard has a table, *pos is the empty slot that ends the probe (where the key would go). */
CMAP_HOT struct cmap_slot *shard_find(const struct cmap_shard *s, uint64_t h, const void *key,
				      size_t klen, size_t *pos)
{
	if (s->slots == NULL)
		return NULL;
	for (size_t i = h & s->mask;; i = (i + 1) & s->mask) {
		struct cmap_slot *sl = &s->slots[i];
		if (sl->val == NULL) {
			if (pos != NULL)
				*pos = i;
			return NULL;
		}
		if (slot_match(sl, h, key, klen))
			return sl;
	}
}

/* Moves every entry into a new table of cap slots (a power of two >= CMAP_MIN_CAP); write lock
 * held. Returns 0 or -ENOMEM (then the shard is unchanged). */
static int shard_resize(struct cmap_shard *s, size_t cap)
{
	if (cap > SIZE_MAX / sizeof(struct cmap_slot))
		return -ENOMEM;
	size_t bytes = cap * sizeof(struct cmap_slot); /* a multiple of the cache line */
	struct cmap_slot *t = aligned_alloc(CMAP_CACHELINE, bytes);
	if (t == NULL)
		return -ENOMEM;
	memset(t, 0, bytes);
	size_t mask = cap - 1;
	if (s->slots != NULL) {
		for (size_t i = 0; i <= s->mask; i++) {
			const struct cmap_slot *o = &s->slots[i];
			if (o->val == NULL)
				continue;
			size_t j = o->hash & mask;
			while (t[j].val != NULL)
				j = (j + 1) & mask;
			t[j] = *o;
		}
		free(s->slots);
	}
	/* Atomic stores: slot_prefetch reads these two without the lock (ck_pr loads, no
	 * ordering between them needed: a mismatched pair only prefetches a useless address). */
	ck_pr_store_ptr(&s->slots, t);
	ck_pr_store_64(&s->mask, mask);
	s->grow_at = cap - cap / 4;
	return 0;
}

/* Makes room for one absent key (write lock held): grows the table if needed (then recomputes
 * *pos) and allocates the out-of-line key copy (*x, NULL for an inline key). Everything that
 * can fail for an insert happens here, before any callback. Returns 0 or -ENOMEM (a grown
 * table is kept; nothing else changed). */
CMAP_HOT int shard_prepare(struct cmap_shard *s, uint64_t h, const void *key, size_t klen,
			   size_t *pos, struct cmap_xkey **x)
{
	*x = NULL;
	if (s->slots == NULL || s->count >= s->grow_at) {
		size_t cap = s->slots == NULL ? CMAP_MIN_CAP : (s->mask + 1) * 2;
		if (cap < CMAP_MIN_CAP) /* doubling overflowed */
			return -ENOMEM;
		if (shard_resize(s, cap) != 0)
			return -ENOMEM;
		size_t i = h & s->mask;
		while (s->slots[i].val != NULL)
			i = (i + 1) & s->mask;
		*pos = i;
	}
	if (klen > CMAP_INLINE_MAX) {
		if (klen > SIZE_MAX - sizeof(struct cmap_xkey))
			return -ENOMEM;
		*x = malloc(sizeof(struct cmap_xkey) + klen);
		if (*x == NULL)
			return -ENOMEM;
		(*x)->klen = klen;
		memcpy((*x)->key, key, klen);
	}
	return 0;
}

/* Stores a prepared entry into the empty slot pos (write lock held). Cannot fail. */
CMAP_HOT void shard_commit(struct cmap_shard *s, size_t pos, uint64_t h, const void *key,
			   size_t klen, struct cmap_xkey *x, void *val)
{
	struct cmap_slot *sl = &s->slots[pos];

	sl->hash = h;
	sl->val = val;
	if (x != NULL) {
		memcpy(sl->kb, &x, sizeof x);
		sl->kb[CMAP_INLINE_MAX] = CMAP_KLEN_EXT;
	} else {
		if (klen > 0)
			memcpy(sl->kb, key, klen);
		sl->kb[CMAP_INLINE_MAX] = (unsigned char)klen;
	}
	/* Unlocked readers: cmap_size's ck_pr_load_64 (atomicity only, no ordering needed). */
	ck_pr_store_64(&s->count, s->count + 1);
}

/* Empties slot i (write lock held) by backward-shift deletion, so no tombstones accumulate, and
 * halves the table when it is less than 1/8 full. The caller frees the slot's out-of-line key
 * (read it first) and disposes of its value. */
static void shard_remove(struct cmap_shard *s, size_t i)
{
	size_t mask = s->mask;

	for (size_t j = (i + 1) & mask; s->slots[j].val != NULL; j = (j + 1) & mask) {
		size_t home = s->slots[j].hash & mask;
		/* The entry at j may fill the hole at i unless its home lies cyclically in (i, j]:
		 * then it would end up before its home and lookups would stop short of it. */
		if (((j - home) & mask) >= ((j - i) & mask)) {
			s->slots[i] = s->slots[j];
			i = j;
		}
	}
	memset(&s->slots[i], 0, sizeof s->slots[i]);
	/* Pairs with cmap_size's ck_pr_load_64, as in shard_commit. */
	ck_pr_store_64(&s->count, s->count - 1);
	size_t cap = mask + 1;
	if (cap > CMAP_MIN_CAP && s->count < cap / 8)
		(void)shard_resize(s, cap / 2); /* on -ENOMEM the larger table simply stays */
}

/* ---- create / destroy ------------------------------------------------------------------- */

static const char *const lock_names[CMAP_LOCK_KINDS] = {
    [CMAP_LOCK_DEFAULT] = "default",	   [CMAP_LOCK_PERCPU_RW] = "percpu_rw",
    [CMAP_LOCK_RW_YIELD] = "rw_yield",	   [CMAP_LOCK_RW_SPIN] = "rw_spin",
    [CMAP_LOCK_SPIN_EB] = "spin_eb",	   [CMAP_LOCK_SPIN_YIELD] = "spin_yield",
    [CMAP_LOCK_PTHREAD_RW] = "pthread_rw", [CMAP_LOCK_NONE] = "none",
};

const char *cmap_lock_name(enum cmap_lock_kind lock)
{
	if ((unsigned)lock >= CMAP_LOCK_KINDS)
		return NULL;
	return lock_names[lock];
}

int cmap_lock_parse(const char *name)
{
	for (int i = 0; name != NULL && i < CMAP_LOCK_KINDS; i++)
		if (strcmp(name, lock_names[i]) == 0)
			return i;
	return -EINVAL;
}

int cmap_create_lock(uint32_t shards, cmap_free_fn val_free, enum cmap_lock_kind lock,
		     struct cmap **out)
{
	if (out == NULL || shards == 0 || shards > 65536 || (shards & (shards - 1)) != 0 ||
	    (unsigned)lock >= CMAP_LOCK_KINDS)
		return -EINVAL;

	struct cmap *m = malloc(sizeof *m);
	if (m == NULL)
		return -ENOMEM;
	m->nshards = shards;
	m->shard_bits = (unsigned)__builtin_ctz(shards);
	m->val_free = val_free;
	m->lock = lock == CMAP_LOCK_DEFAULT ? CMAP_LOCK_PERCPU_RW : lock;
	m->plocks = NULL;
	m->readers = NULL;
	m->rstride = 0;
	m->rspread = 0;
	m->rmask = 0;
#ifndef NDEBUG
	m->owned = false;
#endif
	m->shards = aligned_alloc(CMAP_CACHELINE, (size_t)shards * sizeof *m->shards);
	if (m->shards == NULL)
		goto err_after_map;
	/* All-zero is the unlocked state of both ck lock words and an empty shard. */
	memset(m->shards, 0, (size_t)shards * sizeof *m->shards);
	if (m->lock == CMAP_LOCK_PERCPU_RW) {
		/* Stripes: the CPU count rounded up to a power of two, at most CMAP_MAX_STRIPES. */
		long cpus = sysconf(_SC_NPROCESSORS_CONF);
		unsigned stripes = 1;
		while (stripes < CMAP_MAX_STRIPES && (long)stripes < cpus)
			stripes *= 2;
		m->rmask = stripes - 1;
		size_t per_line = CMAP_CACHELINE / sizeof *m->readers;
		/* A word per cache line when that costs at most CMAP_PCPU_PAD_BUDGET bytes: then a
		 * reader on another CPU touching a different shard never steals the line from a
		 * writer in the middle of its critical section. Else packed, per_line per line. */
		m->rspread = (size_t)stripes * shards * CMAP_CACHELINE <= CMAP_PCPU_PAD_BUDGET
				 ? per_line
				 : 1;
		m->rstride = ((size_t)shards * m->rspread + per_line - 1) / per_line * per_line;
		size_t bytes = stripes * m->rstride * sizeof *m->readers;
		m->readers = aligned_alloc(CMAP_CACHELINE, bytes);
		if (m->readers == NULL)
			goto err_after_shards;
		memset(m->readers, 0, bytes);
	}
	if (m->lock == CMAP_LOCK_PTHREAD_RW) {
		m->plocks = aligned_alloc(CMAP_CACHELINE, (size_t)shards * sizeof *m->plocks);
		if (m->plocks == NULL)
			goto err_after_shards;
		for (uint32_t i = 0; i < shards; i++) {
			if (pthread_rwlock_init(&m->plocks[i].rw, NULL) != 0) {
				while (i-- > 0)
					pthread_rwlock_destroy(&m->plocks[i].rw);
				goto err_after_plocks;
			}
		}
	} else if (m->lock != CMAP_LOCK_NONE) {
		for (uint32_t i = 0; i < shards; i++)
			common_tsan_lock_create(&m->shards[i].lock);
	}
	/* Publishing m to other threads is the caller's job (and its synchronization). */
	*out = m;
	return 0;

err_after_plocks:
	free(m->plocks);
err_after_shards:
	free(m->readers);
	free(m->shards);
err_after_map:
	free(m);
	return -ENOMEM;
}

int cmap_create(uint32_t shards, cmap_free_fn val_free, struct cmap **out)
{
	return cmap_create_lock(shards, val_free, CMAP_LOCK_DEFAULT, out);
}

void cmap_destroy(struct cmap *m)
{
	if (m == NULL)
		return;
	for (uint32_t i = 0; i < m->nshards; i++) {
		struct cmap_shard *s = &m->shards[i];
		for (size_t j = 0; s->slots != NULL && j <= s->mask; j++) {
			struct cmap_slot *sl = &s->slots[j];
			if (sl->val == NULL)
				continue;
			if (m->val_free != NULL)
				m->val_free(sl->val);
			free(slot_xkey(sl));
		}
		free(s->slots);
		if (m->lock == CMAP_LOCK_PTHREAD_RW)
			pthread_rwlock_destroy(&m->plocks[i].rw);
		else if (m->lock != CMAP_LOCK_NONE)
			common_tsan_lock_destroy(&s->lock);
	}
	free(m->readers);
	free(m->plocks);
	free(m->shards);
	free(m);
}

/* ---- operations ------------------------------------------------------------------------- */

CMAP_HOT int do_put(struct cmap *m, const void *key, size_t klen, void *val, void **old)
{
	if (old != NULL)
		*old = NULL;
	if (val == NULL)
		return -EINVAL;
	uint64_t h = key_hash(key, klen);
	uint32_t si = shard_index(m, h);
	struct cmap_shard *s = &m->shards[si];
	void *prev = NULL;
	size_t pos = 0;
	int rc = 0;

	slot_prefetch(s, h, true);
	(void)shard_lock(m, si, false);
	struct cmap_slot *sl = shard_find(s, h, key, klen, &pos);
	if (sl != NULL) {
		prev = sl->val;
		sl->val = val;
	} else {
		struct cmap_xkey *x;
		rc = shard_prepare(s, h, key, klen, &pos, &x);
		if (rc == 0)
			shard_commit(s, pos, h, key, klen, x, val);
	}
	shard_unlock(m, si, false, 0);

	if (rc != 0)
		return rc;
	if (old != NULL)
		*old = prev;
	else if (prev != NULL && prev != val && m->val_free != NULL)
		m->val_free(prev);
	return 0;
}

CMAP_HOT int do_get(struct cmap *m, const void *key, size_t klen, cmap_read_fn fn, void *arg)
{
	uint64_t h = key_hash(key, klen);
	uint32_t si = shard_index(m, h);
	const struct cmap_shard *s = &m->shards[si];

	slot_prefetch(s, h, false);
	unsigned token = shard_lock(m, si, true);
	const struct cmap_slot *sl = shard_find(s, h, key, klen, NULL);
	bool found = sl != NULL;
	if (found && fn != NULL)
		fn(key, klen, sl->val, arg);
	shard_unlock(m, si, true, token);
	return found ? 0 : -ENOENT;
}

CMAP_HOT int do_del(struct cmap *m, const void *key, size_t klen, void **old)
{
	if (old != NULL)
		*old = NULL;
	uint64_t h = key_hash(key, klen);
	uint32_t si = shard_index(m, h);
	struct cmap_shard *s = &m->shards[si];
	void *v = NULL;
	struct cmap_xkey *x = NULL;

	slot_prefetch(s, h, true);
	(void)shard_lock(m, si, false);
	struct cmap_slot *sl = shard_find(s, h, key, klen, NULL);
	if (sl != NULL) {
		v = sl->val;
		x = slot_xkey(sl);
		shard_remove(s, (size_t)(sl - s->slots));
	}
	shard_unlock(m, si, false, 0);

	if (v == NULL)
		return -ENOENT;
	free(x);
	if (old != NULL)
		*old = v;
	else if (m->val_free != NULL)
		m->val_free(v);
	return 0;
}

/* present_only: an absent key is left alone (-ENOENT, fn not called): cmap_update_present. */
CMAP_HOT int do_update(struct cmap *m, const void *key, size_t klen, cmap_update_fn fn, void *arg,
		       bool present_only)
{
	uint64_t h = key_hash(key, klen);
	uint32_t si = shard_index(m, h);
	struct cmap_shard *s = &m->shards[si];
	struct cmap_xkey *x = NULL;
	enum cmap_update_result r;
	size_t pos = 0;

	slot_prefetch(s, h, true);
	(void)shard_lock(m, si, false);
	struct cmap_slot *sl = shard_find(s, h, key, klen, &pos);
	if (sl != NULL) {
		void *v = sl->val;
		r = fn(key, klen, &v, arg);
		if (r == CMAP_DELETE || v == NULL) {
			/* The callback owns the value now (cmap_update_fn): not freed here. */
			x = slot_xkey(sl);
			shard_remove(s, (size_t)(sl - s->slots));
		} else if (v != sl->val) {
			/* Only when it changed: an in-place update then leaves the slot's cache
			 * line clean (shared with other CPUs' readers, not stolen from them). */
			sl->val = v;
		}
	} else if (present_only) {
		shard_unlock(m, si, false, 0);
		return -ENOENT;
	} else {
		if (shard_prepare(s, h, key, klen, &pos, &x) != 0) {
			shard_unlock(m, si, false, 0);
			return -ENOMEM;
		}
		void *v = NULL;
		r = fn(key, klen, &v, arg);
		if (r != CMAP_DELETE && v != NULL) {
			shard_commit(s, pos, h, key, klen, x, v);
			x = NULL;
		}
	}
	shard_unlock(m, si, false, 0);

	free(x);
	return r == CMAP_DELETE ? CMAP_DELETE : CMAP_KEEP;
}

int cmap_put(struct cmap *m, const void *key, size_t klen, void *val, void **old)
{
	return do_put(m, key, klen, val, old);
}

int cmap_get(struct cmap *m, const void *key, size_t klen, cmap_read_fn fn, void *arg)
{
	return do_get(m, key, klen, fn, arg);
}

bool cmap_contains(struct cmap *m, const void *key, size_t klen)
{
	return do_get(m, key, klen, NULL, NULL) == 0;
}

int cmap_del(struct cmap *m, const void *key, size_t klen, void **old)
{
	return do_del(m, key, klen, old);
}

int cmap_update(struct cmap *m, const void *key, size_t klen, cmap_update_fn fn, void *arg)
{
	return do_update(m, key, klen, fn, arg, false);
}

int cmap_update_present(struct cmap *m, const void *key, size_t klen, cmap_update_fn fn, void *arg)
{
	return do_update(m, key, klen, fn, arg, true);
}

int cmap_put_u64(struct cmap *m, uint64_t key, void *val, void **old)
{
	return do_put(m, &key, sizeof key, val, old);
}

int cmap_get_u64(struct cmap *m, uint64_t key, cmap_read_fn fn, void *arg)
{
	return do_get(m, &key, sizeof key, fn, arg);
}

int cmap_del_u64(struct cmap *m, uint64_t key, void **old)
{
	return do_del(m, &key, sizeof key, old);
}

int cmap_update_u64(struct cmap *m, uint64_t key, cmap_update_fn fn, void *arg)
{
	return do_update(m, &key, sizeof key, fn, arg, false);
}

int cmap_foreach(struct cmap *m, cmap_iter_fn fn, void *arg)
{
	int rc = 0;

	for (uint32_t i = 0; i < m->nshards && rc == 0; i++) {
		const struct cmap_shard *s = &m->shards[i];
		unsigned token = shard_lock(m, i, true);
		for (size_t j = 0; s->slots != NULL && j <= s->mask && rc == 0; j++) {
			const struct cmap_slot *sl = &s->slots[j];
			if (sl->val == NULL)
				continue;
			size_t klen;
			const void *key = slot_key(sl, &klen);
			rc = fn(key, klen, sl->val, arg);
		}
		shard_unlock(m, i, true, token);
	}
	return rc;
}

size_t cmap_size(struct cmap *m)
{
	uint64_t n = 0;

	for (uint32_t i = 0; i < m->nshards; i++)
		/* Pairs with the ck_pr_store_64 in shard_commit/shard_remove (atomicity only). */
		n += ck_pr_load_64(&m->shards[i].count);
	return (size_t)n;
}

uint32_t cmap_shards(const struct cmap *m)
{
	return m->nshards;
}
