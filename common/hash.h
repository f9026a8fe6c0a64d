/* common/hash: 64-bit hashing of byte strings (map shards, witness keys, state digests). */
#ifndef CURPKV_COMMON_HASH_H
#define CURPKV_COMMON_HASH_H

#include <stddef.h>
#include <stdint.h>

/* Returns a 64-bit hash of len bytes at p, mixed with seed. Deterministic across runs and
 * processes (digests compare between replicas). Never truncate it to decide equality. */
uint64_t common_hash64(const void *p, size_t len, uint64_t seed);

/* Returns a well-mixed 64-bit value of x (a bijection). */
static inline uint64_t common_mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

#endif
