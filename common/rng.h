/* common/rng: a small, fast, seedable PRNG (xoshiro256** seeded by splitmix64) for workloads and tests. */
#ifndef CURPKV_COMMON_RNG_H
#define CURPKV_COMMON_RNG_H

#include <stdbool.h>
#include <stdint.h>

/* Caller-owned generator state; one per thread (not thread-safe). */
struct common_rng {
	uint64_t s[4];
};

/* Seeds the generator deterministically from one 64-bit seed. */
void common_rng_seed(struct common_rng *r, uint64_t seed);

/* Returns the next 64 uniformly distributed bits. */
uint64_t common_rng_next(struct common_rng *r);

/* Returns a uniform integer in [0, n); n == 0 returns 0. Unbiased (rejection). */
uint64_t common_rng_below(struct common_rng *r, uint64_t n);

/* Returns true with probability pct/100 exactly (pct clamped to 0..100): the prototype's
 * coin was (pct+1)/100, this one is not. */
bool common_rng_coin(struct common_rng *r, unsigned pct);

/* Returns a uniform double in [0, 1). */
double common_rng_unit(struct common_rng *r);

#endif
