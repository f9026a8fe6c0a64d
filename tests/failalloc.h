/* tests/failalloc: a failing allocator, so that out-of-memory paths really run in tests.
 *
 * A test program linked with $(FAILALLOC_FLAGS) (Makefile.am: -Wl,--wrap=malloc and the
 * same for calloc, realloc, aligned_alloc, posix_memalign and strdup) sends every such call made
 * by its own objects and by the project's static libraries it links here; calls made inside
 * shared libraries (libc itself, cmocka, msgpack-c's unpacker) do not come here. Unarmed, each
 * call goes straight to the real allocator.
 *
 * State is process-wide (an allocator has no context argument to carry it) and not thread-safe:
 * arm it only while one thread allocates. A forked child inherits it. */
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

#endif
