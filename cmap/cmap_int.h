/* cmap internals: shard, slot and lock layout (private to cmap/; never include from outside). */
#ifndef CURPKV_CMAP_INT_H
#define CURPKV_CMAP_INT_H

#include <ck_rwlock.h>
#include <ck_spinlock.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cmap/cmap.h"

#define CMAP_CACHELINE 64

/* Keys up to this many bytes live inside the slot; longer ones in one cmap_xkey allocation. */
#define CMAP_INLINE_MAX 15
/* Value of the slot's length byte for an out-of-line key. */
#define CMAP_KLEN_EXT 0xff

/* Smallest per-shard table (slots); a shard allocates it on its first insert. */
#define CMAP_MIN_CAP 4

/* Failed lock attempts that spin (pause) before the waiter starts calling sched_yield: a few
 * times the longest ordinary critical section (a lookup plus a slot write), so a lock still
 * held after that most likely belongs to a preempted thread, and the CPU is better given to it
 * than burnt. Overridable (-DCMAP_SPIN_LIMIT=n) for the measurements in docs/cmap.md. */
#ifndef CMAP_SPIN_LIMIT
#define CMAP_SPIN_LIMIT 64
#endif

/* Upper bound on reader stripes of CMAP_LOCK_PERCPU_RW (CPUs beyond it share stripes). */
#define CMAP_MAX_STRIPES 16
/* CMAP_LOCK_PERCPU_RW gives each shard's lock word a cache line of its own per stripe while that
 * costs at most this many bytes (e.g. 2 stripes x 8192 shards), and packs them beyond. */
#ifndef CMAP_PCPU_PAD_BUDGET
#define CMAP_PCPU_PAD_BUDGET (1u << 20)
#endif

/* An out-of-line key (klen > CMAP_INLINE_MAX). */
struct cmap_xkey {
	size_t klen;
	unsigned char key[];
};

/*
 * One open-addressing (linear probing) slot, 32 bytes, two per cache line. A slot is empty iff
 * val == NULL (the map never stores a NULL value). kb[CMAP_INLINE_MAX] is the key length: 0..15
 * for a key stored in kb[0..len), CMAP_KLEN_EXT for a key in the cmap_xkey whose pointer is
 * stored (memcpy) in kb[0..8). hash is the key's full 64-bit hash: compared before the key bytes,
 * and reused to rehash without touching the keys.
 */
struct cmap_slot {
	uint64_t hash;
	void *val;
	unsigned char kb[CMAP_INLINE_MAX + 1];
};

/* The lock word(s) of a shard for the ck-based lock kinds. */
union cmap_lockword {
	ck_rwlock_t rw;
	ck_spinlock_fas_t fas;
};

/*
 * A shard: its lock and the table it protects share one cache line, so an uncontended
 * operation moves one line for the lock and the table header; no two shards share a line.
 * Invariants (under the write lock): count <= grow_at < mask + 1 when slots != NULL, so a probe
 * always meets an empty slot; slots == NULL implies count == 0 and mask == 0.
 */
struct cmap_shard {
	_Alignas(CMAP_CACHELINE) union cmap_lockword lock;
	/* slots and mask change only in shard_resize, under the write lock, with ck_pr stores:
	 * slot_prefetch reads them without the lock (ck_pr loads) to start the slot's cache miss
	 * early. Everything else reads them under the lock. */
	struct cmap_slot *slots;
	uint64_t mask;	/* capacity - 1 */
	size_t grow_at; /* the table doubles before count exceeds this (3/4 load) */
	/* Live entries. Written with ck_pr_store_64 under the write lock, read with ck_pr_load_64
	 * by cmap_size without any lock: atomicity only, no ordering (a statistic). */
	uint64_t count;
};

_Static_assert(sizeof(struct cmap_shard) == CMAP_CACHELINE, "one shard per cache line");
_Static_assert(sizeof(struct cmap_slot) == 32, "two slots per cache line");

/* CMAP_LOCK_PTHREAD_RW keeps its locks beside the shards, one per cache line. */
struct cmap_plock {
	_Alignas(CMAP_CACHELINE) pthread_rwlock_t rw;
};

struct cmap {
	struct cmap_shard *shards;
	struct cmap_plock *plocks; /* only for CMAP_LOCK_PTHREAD_RW */
	/*
	 * Only for CMAP_LOCK_PERCPU_RW (the shard's own lock word is then unused): the lock words,
	 * readers[c * rstride + i * rspread] for shard i and stripe c = (CPU the reader ran on
	 * when it locked) & rmask; each holds a writer bit and that stripe's reader count
	 * (cmap.c). Each stripe starts on its own cache line, so readers on different CPUs write
	 * different lines.
	 */
	unsigned *readers;
	size_t rstride; /* words between stripes (a multiple of a cache line) */
	size_t rspread; /* words between shards within a stripe: 1 (packed) or a cache line */
	unsigned rmask;
	cmap_free_fn val_free;
	uint32_t nshards;
	unsigned shard_bits; /* log2(nshards) */
	enum cmap_lock_kind lock;
#ifndef NDEBUG
	/* Only for CMAP_LOCK_NONE: the thread that owns the map (the first one that locked a
	 * shard), checked on every later shard_lock. Plain fields: only the owner touches them,
	 * and two threads racing for the first use are the very misuse ThreadSanitizer reports. */
	bool owned;
	pthread_t owner;
#endif
};

#endif
