/* oset: a skip list of byte-string keys (p = 1/4, at most OSET_LEVELS levels). */
#include "oset/oset.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define OSET_LEVELS 24 /* 4^24 keys before the top level stops helping: plenty */

struct oset_node {
	uint32_t klen;
	uint32_t level;
	struct oset_node *next[]; /* level pointers, then the key bytes */
};

struct oset {
	struct oset_node *head[OSET_LEVELS];
	uint32_t level; /* levels in use, 1..OSET_LEVELS */
	size_t n;
	uint64_t rng;
};

static uint8_t *node_key(const struct oset_node *n)
{
	return (uint8_t *)&n->next[n->level];
}

static int cmp(const struct oset_node *n, const void *key, size_t klen)
{
	size_t m = n->klen < klen ? n->klen : klen;
	int c = m ? memcmp(node_key(n), key, m) : 0;
	if (c != 0)
		return c;
	return n->klen < klen ? -1 : n->klen > klen ? 1 : 0;
}

static uint32_t random_level(struct oset *s)
{
	/* xorshift64*: two bits per level, so each level holds a quarter of the one below */
	s->rng ^= s->rng >> 12;
	s->rng ^= s->rng << 25;
	s->rng ^= s->rng >> 27;
	uint64_t r = s->rng * 0x2545f4914f6cdd1dull;
	uint32_t lvl = 1;
	while (lvl < OSET_LEVELS && (r & 3) == 0) {
		lvl++;
		r >>= 2;
	}
	return lvl;
}

int oset_create(uint64_t seed, struct oset **out)
{
	struct oset *s = calloc(1, sizeof *s);
	if (s == NULL)
		return -ENOMEM;
	s->level = 1;
	s->rng = seed ? seed : 0x9e3779b97f4a7c15ull; /* xorshift must not start at 0 */
	*out = s;
	return 0;
}

void oset_destroy(struct oset *s)
{
	if (s == NULL)
		return;
	struct oset_node *n = s->head[0];
	while (n) {
		struct oset_node *nx = n->next[0];
		free(n);
		n = nx;
	}
	free(s);
}

/* Fills prev[l] with the last node < key at each level in use (NULL: the head). */
static void find(const struct oset *s, const void *key, size_t klen, struct oset_node **prev)
{
	struct oset_node *p = NULL;
	for (int l = (int)s->level - 1; l >= 0; l--) {
		struct oset_node *n = p ? p->next[l] : s->head[l];
		while (n && cmp(n, key, klen) < 0) {
			p = n;
			n = n->next[l];
		}
		prev[l] = p;
	}
}

static struct oset_node *after(struct oset *s, struct oset_node *p, uint32_t l)
{
	return p ? p->next[l] : s->head[l];
}

int oset_insert(struct oset *s, const void *key, size_t klen)
{
	if (klen > UINT32_MAX)
		return -ENOMEM;
	struct oset_node *prev[OSET_LEVELS];
	find(s, key, klen, prev);
	struct oset_node *at = after(s, prev[0], 0);
	if (at && cmp(at, key, klen) == 0)
		return 0;
	uint32_t lvl = random_level(s);
	struct oset_node *n = malloc(sizeof *n + lvl * sizeof(struct oset_node *) + klen);
	if (n == NULL)
		return -ENOMEM;
	n->klen = (uint32_t)klen;
	n->level = lvl;
	if (klen)
		memcpy(node_key(n), key, klen);
	for (uint32_t l = s->level; l < lvl; l++)
		prev[l] = NULL;
	if (lvl > s->level)
		s->level = lvl;
	for (uint32_t l = 0; l < lvl; l++) {
		n->next[l] = after(s, prev[l], l);
		if (prev[l])
			prev[l]->next[l] = n;
		else
			s->head[l] = n;
	}
	s->n++;
	return 1;
}

bool oset_remove(struct oset *s, const void *key, size_t klen)
{
	struct oset_node *prev[OSET_LEVELS];
	find(s, key, klen, prev);
	struct oset_node *n = after(s, prev[0], 0);
	if (n == NULL || cmp(n, key, klen) != 0)
		return false;
	for (uint32_t l = 0; l < n->level; l++) {
		if (prev[l])
			prev[l]->next[l] = n->next[l];
		else
			s->head[l] = n->next[l];
	}
	while (s->level > 1 && s->head[s->level - 1] == NULL)
		s->level--;
	free(n);
	s->n--;
	return true;
}

const struct oset_node *oset_seek(const struct oset *s, const void *key, size_t klen)
{
	struct oset_node *prev[OSET_LEVELS];
	find(s, key, klen, prev);
	return prev[0] ? prev[0]->next[0] : s->head[0];
}

bool oset_contains(const struct oset *s, const void *key, size_t klen)
{
	const struct oset_node *n = oset_seek(s, key, klen);
	return n && cmp(n, key, klen) == 0;
}

size_t oset_size(const struct oset *s)
{
	return s->n;
}

const struct oset_node *oset_next(const struct oset_node *n)
{
	return n->next[0];
}

const uint8_t *oset_key(const struct oset_node *n, size_t *klen)
{
	*klen = n->klen;
	return node_key(n);
}
