/* replica/core_wlist: one key's witness records (struct wlist, core_int.h), owned by the witness
 * table (core_witness.c), with what keeps its checks cheap on a long list.
 *
 * A list is short almost always: records leave when their command executes here. It grows long
 * on a witness that lags behind its leader on a hot key (the records of commands it has not
 * executed yet pile up), and every check that walked the whole list made such a witness slower
 * the further it lagged, so it never caught up (2026-12-07: a follower 70,000 commands behind on
 * one key processed 300 a second, and stayed silent for seconds at a time; docs/recovery.md,
 * "A lagging witness"). So:
 *   - records leave from the front by advancing head, and from elsewhere by moving the shorter
 *     side: a list emptied in arrival order costs O(1) per record;
 *   - counts of weak and write records answer the conflict rule without a walk;
 *   - from WLIST_IDX_MIN records on, a counted set of the records' cids (idx) tells a new cid
 *     from a re-sent one without a walk. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "replica/core_int.h"

/* The index: open addressing, linear probing; a slot is empty, holds a cid with its count of
 * records, or is a tombstone (a cid whose records all left). Rebuilt, at twice the records,
 * when live and dead slots fill three quarters of it. */
enum { WIDX_EMPTY = 0, WIDX_LIVE, WIDX_DEAD };
struct widx_slot {
	struct proto_cid cid;
	uint32_t count;
	uint8_t state;
};
struct wlist_idx {
	uint32_t cap;  /* a power of two */
	uint32_t used; /* live and dead slots */
	struct widx_slot s[];
};

#define WLIST_IDX_MIN 32u /* records: the index is built at this length, dropped below 1/4 */

static uint32_t cid_hash(const struct proto_cid *cid)
{
	uint64_t h = cid->client * 0x9e3779b97f4a7c15ull ^ (cid->seq + 0x632be59bd9b4e019ull);
	h ^= h >> 31;
	h *= 0xbf58476d1ce4e5b9ull;
	h ^= h >> 29;
	return (uint32_t)h;
}

static bool cid_eq(const struct proto_cid *a, const struct proto_cid *b)
{
	return a->client == b->client && a->seq == b->seq;
}

/* Adds one record of cid (no room check: callers keep used below cap). */
static void idx_add(struct wlist_idx *x, const struct proto_cid *cid)
{
	uint32_t mask = x->cap - 1, i = cid_hash(cid) & mask, dead = UINT32_MAX;
	for (;; i = (i + 1) & mask) {
		struct widx_slot *s = &x->s[i];
		if (s->state == WIDX_LIVE && cid_eq(&s->cid, cid)) {
			s->count++;
			return;
		}
		if (s->state == WIDX_DEAD && dead == UINT32_MAX)
			dead = i;
		if (s->state == WIDX_EMPTY)
			break;
	}
	if (dead != UINT32_MAX)
		i = dead; /* (reused: used counts it already) */
	else
		x->used++;
	x->s[i] = (struct widx_slot){.cid = *cid, .count = 1, .state = WIDX_LIVE};
}

static struct widx_slot *idx_find(struct wlist_idx *x, const struct proto_cid *cid)
{
	uint32_t mask = x->cap - 1;
	for (uint32_t i = cid_hash(cid) & mask;; i = (i + 1) & mask) {
		struct widx_slot *s = &x->s[i];
		if (s->state == WIDX_EMPTY)
			return NULL;
		if (s->state == WIDX_LIVE && cid_eq(&s->cid, cid))
			return s;
	}
}

/* Builds l's index afresh for its records (none on a short list, or without memory: the walk
 * then serves, as on a short list). */
static void idx_build(struct wlist *l)
{
	uint32_t live = l->n - l->head;
	free(l->idx);
	l->idx = NULL;
	if (live < WLIST_IDX_MIN)
		return;
	uint32_t cap = 64;
	while (cap < 2 * live + 2)
		cap *= 2;
	struct wlist_idx *x = calloc(1, sizeof *x + (size_t)cap * sizeof x->s[0]);
	if (x == NULL)
		return;
	x->cap = cap;
	for (uint32_t i = l->head; i < l->n; i++)
		idx_add(x, &l->r[i].cid);
	l->idx = x;
}

static void counts_add(struct wlist *l, const struct wrec *r, int d)
{
	l->n_weak += r->weak ? d : 0;
	l->n_write += r->write ? d : 0;
	l->n_weak_write += r->weak && r->write ? d : 0;
}

void core_wlist_rebuild(struct wlist *l)
{
	l->n_weak = l->n_write = l->n_weak_write = 0;
	for (uint32_t i = l->head; i < l->n; i++)
		counts_add(l, &l->r[i], 1);
	idx_build(l);
}

int core_wlist_push(struct wlist **lp, const struct wrec *r)
{
	struct wlist *l = *lp;
	if (l != NULL && l->n == l->cap && l->head > 0 && l->head >= l->n - l->head) {
		/* half the array or more left at the front: move the records down */
		memmove(&l->r[0], &l->r[l->head], (l->n - l->head) * sizeof l->r[0]);
		l->n -= l->head;
		l->head = 0;
	}
	if (l == NULL || l->n == l->cap) {
		uint32_t ncap = l ? l->cap * 2 : 2;
		struct wlist *nl = realloc(l, sizeof *nl + ncap * sizeof nl->r[0]);
		if (nl == NULL)
			return -ENOMEM;
		if (l == NULL)
			*nl = (struct wlist){0};
		nl->cap = ncap;
		*lp = l = nl;
	}
	l->r[l->n++] = *r;
	counts_add(l, r, 1);
	if (l->idx != NULL && (l->idx->used + 1) * 4 <= l->idx->cap * 3)
		idx_add(l->idx, &r->cid);
	else if (l->idx != NULL || l->n - l->head >= WLIST_IDX_MIN)
		idx_build(l); /* the first time, or full (of tombstones, or grown) */
	return 0;
}

void core_wlist_take(struct wlist *l, uint32_t i)
{
	assert(i >= l->head && i < l->n);
	counts_add(l, &l->r[i], -1);
	if (l->idx != NULL) {
		struct widx_slot *s = idx_find(l->idx, &l->r[i].cid);
		assert(s != NULL);
		if (s != NULL && --s->count == 0)
			s->state = WIDX_DEAD;
	}
	/* keep arrival order (read_dep is "the latest" weak record): move the shorter side */
	if (i - l->head < l->n - i - 1) {
		memmove(&l->r[l->head + 1], &l->r[l->head], (i - l->head) * sizeof l->r[0]);
		l->head++;
	} else {
		memmove(&l->r[i], &l->r[i + 1], (l->n - i - 1) * sizeof l->r[0]);
		l->n--;
	}
	if (l->head == l->n)
		l->head = l->n = 0;
	if (l->idx != NULL && l->n - l->head < WLIST_IDX_MIN / 4) {
		free(l->idx);
		l->idx = NULL;
	}
}

bool core_wlist_may_hold(const struct wlist *l, const struct proto_cid *cid)
{
	return l->idx == NULL || idx_find(l->idx, cid) != NULL;
}

uint32_t core_wlist_find(const struct wlist *l, const struct proto_cid *cid)
{
	if (l == NULL || !core_wlist_may_hold(l, cid))
		return UINT32_MAX; /* (a new cid: no walk on a long list) */
	for (uint32_t i = l->head; i < l->n; i++)
		if (cid_eq(&l->r[i].cid, cid))
			return i;
	return UINT32_MAX;
}

const struct wrec *core_wlist_last_weak(const struct wlist *l)
{
	if (l->n_weak == 0)
		return NULL;
	for (uint32_t i = l->n; i > l->head; i--)
		if (l->r[i - 1].weak)
			return &l->r[i - 1];
	return NULL;
}

void core_wlist_free(struct wlist *l)
{
	if (l == NULL)
		return;
	for (uint32_t i = l->head; i < l->n; i++)
		free(l->r[i].val);
	free(l->idx);
	free(l);
}
