/* tests/failalloc: a failing allocator, so that out-of-memory paths really run in tests, and a
 * count of live blocks, so that they are seen to leak nothing.
 *
 * A test program linked with $(FAILALLOC_FLAGS) (Makefile.am: -Wl,--wrap=malloc and the
 * same for calloc, realloc, aligned_alloc, posix_memalign, strdup, strndup and free) sends every
 * such call made by its own objects and by the project's static libraries it links here; calls
 * made inside shared libraries (libc itself, cmocka, msgpack-c's unpacker) do not come here.
 * Unarmed, each call goes straight to the real allocator (and is counted by failalloc_live).
 *
 * State is process-wide (an allocator has no context argument to carry it). Arming is not
 * thread-safe: arm it only while one thread allocates. The live count is atomic. A forked child
 * inherits both. */
#ifndef CURPKV_TESTS_FAILALLOC_H
#define CURPKV_TESTS_FAILALLOC_H

#include <stdbool.h>
#include <stdint.h>

/* The n-th allocation from now (n >= 1) fails, once; then the allocator is unarmed again. */
void failalloc_nth(uint64_t n);
/* Every allocation from the n-th from now on (n >= 1) fails, until failalloc_off. */
void failalloc_from(uint64_t n);
/* Disarms; the counters below keep their values until the next arming. */
void failalloc_off(void);
/* Allocations seen since the last failalloc_nth/failalloc_from (made or failed). */
uint64_t failalloc_seen(void);
/* Allocations failed since the last failalloc_nth/failalloc_from. */
uint64_t failalloc_failed(void);
/* Blocks returned by the wrapped allocators minus non-NULL pointers given to the wrapped free,
 * since the program started (armed or not). Only its change across a call means something: a
 * block that libc allocated and this program frees (getline's buffer) counts -1. A realloc that
 * moves a block keeps the count; realloc(p, 0) is not counted as a free. */
int64_t failalloc_live(void);

#endif
