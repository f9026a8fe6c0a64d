#include "common/rng.h"

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

void common_rng_seed(struct common_rng *r, uint64_t seed)
{
	uint64_t x = seed;
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&x);
}

uint64_t common_rng_next(struct common_rng *r)
{
	uint64_t *s = r->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

uint64_t common_rng_below(struct common_rng *r, uint64_t n)
{
	if (n == 0)
		return 0;
	/* Reject the top partial bucket so every residue is equally likely. */
	uint64_t limit = UINT64_MAX - (UINT64_MAX % n);
	uint64_t x;
	do {
		x = common_rng_next(r);
	} while (x >= limit);
	return x % n;
}

bool common_rng_coin(struct common_rng *r, unsigned pct)
{
	if (pct == 0)
		return false;
	if (pct >= 100)
		return true;
	return common_rng_below(r, 100) < pct;
}

double common_rng_unit(struct common_rng *r)
{
	return (double)(common_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}
