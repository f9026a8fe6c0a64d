#include "common/hash.h"

#include <string.h>

uint64_t common_hash64(const void *p, size_t len, uint64_t seed)
{
	const unsigned char *b = p;
	/* The seed goes through the (bijective) finalizer before any data is combined with it:
	 * XORing seed and the first word directly made (seed, w) and (seed ^ d, w ^ d) collide. */
	uint64_t h = common_mix64(seed + 0x9e3779b97f4a7c15ull) ^ (0xc2b2ae3d27d4eb4full * (len + 1));
	while (len >= 8) {
		uint64_t w;
		memcpy(&w, b, 8);
		h = common_mix64(h ^ w) + 0x632be59bd9b4e019ull;
		b += 8;
		len -= 8;
	}
	if (len > 0) {
		uint64_t w = 0;
		memcpy(&w, b, len);
		h = common_mix64(h ^ w ^ ((uint64_t)len << 56));
	}
	return common_mix64(h);
}
