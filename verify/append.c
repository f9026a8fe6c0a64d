/* verify/append: the exactly-once checker of an append workload (`appends: true`).
 *
 * Every APPEND adds a unique element (its value) to a key's list; every strong GET of the key
 * returns the whole list (the concatenation of the elements, all of one width). Because reads
 * reveal the order of the appends, the check needs no search:
 *   - every element read was appended, by an append that did not fail, and appears once in a
 *     read (twice: the command was executed twice, the exactly-once violation);
 *   - all reads are prefixes of the longest one (one order of execution);
 *   - real time: an append acknowledged before a read was invoked is in it (else it was lost);
 *     a read holds no element whose append was invoked after the read completed; a read that
 *     completed before another was invoked is not longer than it; an append acknowledged
 *     before another was invoked comes before it in the order.
 * Together these say the key's history is linearizable with list semantics: the longest read's
 * order, reads placed by their length, and the unread appends at the end is a linearization.
 * Keys whose appends are mixed with puts or deletes, of different widths or with repeated values
 * are not checked (reported as unsupported). Weak reads are not used. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "verify/verify.h"

struct akey {
	const struct verify_history *h;
	const size_t *idx; /* the key's operations */
	size_t n;
	size_t *app; /* its appends, by value */
	size_t napp;
	size_t w; /* element width in hex characters */
	const char *longest;
	long *pos; /* per append (as in app): position in the longest read, -1 if absent */
};

static int cmp_value(const void *a, const void *b, void *arg)
{
	const struct verify_history *h = arg;
	return strcmp(h->ops[*(const size_t *)a].value, h->ops[*(const size_t *)b].value);
}

/* The append (index into k->app) whose value is the w characters at s, or -1. */
static long find_elem(const struct akey *k, const char *s)
{
	size_t lo = 0, hi = k->napp;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strncmp(k->h->ops[k->app[mid]].value, s, k->w);
		if (c == 0)
			return (long)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

__attribute__((format(printf, 2, 3)))
static bool violation(struct verify_append_result *r, const char *fmt, ...)
{
	if (!r->first_violation[0]) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(r->first_violation, sizeof r->first_violation, fmt, ap);
		va_end(ap);
	}
	return false;
}

#define OPN(o) (unsigned long long)(o)->session, (unsigned long long)(o)->seq, (o)->line

/* A running maximum over operations sorted by completion: best[i] is the largest `val` among
 * the first i + 1, at[i] which one. */
struct runmax {
	uint64_t *t; /* completion times, ascending */
	long *best;
	size_t *at;
	size_t n;
};

struct tv {
	uint64_t t;
	long v;
	size_t who;
};

static int cmp_tv(const void *a, const void *b)
{
	const struct tv *x = a, *y = b;
	return x->t < y->t ? -1 : x->t > y->t;
}

static int runmax_build(struct runmax *m, struct tv *items, size_t n)
{
	qsort(items, n, sizeof *items, cmp_tv);
	m->t = malloc((n ? n : 1) * sizeof *m->t);
	m->best = malloc((n ? n : 1) * sizeof *m->best);
	m->at = malloc((n ? n : 1) * sizeof *m->at);
	m->n = n;
	if (!m->t || !m->best || !m->at)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		m->t[i] = items[i].t;
		bool take = i == 0 || items[i].v > m->best[i - 1];
		m->best[i] = take ? items[i].v : m->best[i - 1];
		m->at[i] = take ? items[i].who : m->at[i - 1];
	}
	return 0;
}

/* The maximum over the operations that completed strictly before t: false if none. */
static bool runmax_before(const struct runmax *m, uint64_t t, long *best, size_t *at)
{
	size_t lo = 0, hi = m->n; /* first index with t[i] >= t */
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (m->t[mid] < t)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return false;
	*best = m->best[lo - 1];
	*at = m->at[lo - 1];
	return true;
}

static void runmax_free(struct runmax *m)
{
	free(m->t);
	free(m->best);
	free(m->at);
}

/* Checks one key. Returns VERIFY_OK, VERIFY_FAIL, or VERIFY_UNKNOWN (unsupported / memory). */
static enum verify_status check_key(struct akey *k, struct verify_append_result *r)
{
	const struct verify_history *h = k->h;
	enum verify_status st = VERIFY_OK;
	size_t nreads = 0;
	for (size_t i = 0; i < k->n; i++) {
		const struct verify_op *o = &h->ops[k->idx[i]];
		if (o->kind == VERIFY_APPEND)
			k->app[k->napp++] = k->idx[i];
		else if (o->kind != VERIFY_GET)
			return VERIFY_UNKNOWN; /* puts or deletes too: not an append key */
		else if (!o->weak && o->status == VERIFY_OK)
			nreads++;
	}
	qsort_r(k->app, k->napp, sizeof *k->app, cmp_value, (void *)h);
	k->w = strlen(h->ops[k->app[0]].value);
	for (size_t i = 0; i < k->napp; i++) {
		const char *v = h->ops[k->app[i]].value;
		if (strlen(v) != k->w || k->w == 0 || (i > 0 && !strcmp(v, h->ops[k->app[i - 1]].value)))
			return VERIFY_UNKNOWN;
	}
	r->appends += k->napp;
	size_t *reads = malloc((nreads ? nreads : 1) * sizeof *reads);
	uint32_t *stamp = calloc(k->napp, sizeof *stamp);
	k->pos = malloc(k->napp * sizeof *k->pos);
	struct tv *items = malloc((k->napp + nreads + 1) * sizeof *items);
	struct runmax ma = {0}, mr = {0};
	if (!reads || !stamp || !k->pos || !items) {
		st = VERIFY_UNKNOWN;
		goto out;
	}
	nreads = 0;
	k->longest = "";
	for (size_t i = 0; i < k->n; i++) {
		const struct verify_op *o = &h->ops[k->idx[i]];
		if (o->kind == VERIFY_GET && !o->weak && o->status == VERIFY_OK) {
			reads[nreads++] = k->idx[i];
			if (o->result && strlen(o->result) > strlen(k->longest))
				k->longest = o->result;
		}
	}
	r->reads += nreads;
	/* the elements of each read */
	for (size_t i = 0; i < nreads && st == VERIFY_OK; i++) {
		const struct verify_op *o = &h->ops[reads[i]];
		const char *res = o->result ? o->result : "";
		size_t len = strlen(res);
		if (len % k->w) {
			st = VERIFY_FAIL;
			violation(r,
				  "key %s: read (session %llu seq %llu, line %d) returned %zu hex "
				  "characters, not a list of %zu-character elements",
				  o->key, OPN(o), len, k->w);
			break;
		}
		for (size_t p = 0; p < len; p += k->w) {
			r->elements++;
			long a = find_elem(k, res + p);
			if (a < 0) {
				st = VERIFY_FAIL;
				violation(r,
					  "key %s: read (session %llu seq %llu, line %d) returned the "
					  "element %.*s at position %zu, which no append wrote",
					  o->key, OPN(o), (int)k->w, res + p, p / k->w);
				break;
			}
			const struct verify_op *ao = &h->ops[k->app[a]];
			if (ao->status == VERIFY_FAIL) {
				st = VERIFY_FAIL;
				violation(r,
					  "key %s: read (session %llu seq %llu, line %d) returned the "
					  "element of an append that failed (session %llu seq %llu, "
					  "line %d)",
					  o->key, OPN(o), OPN(ao));
				break;
			}
			if (stamp[a] == i + 1) {
				st = VERIFY_FAIL;
				r->duplicates++;
				violation(r,
					  "key %s: exactly once: the append of session %llu seq %llu "
					  "(line %d) appears twice in the read of session %llu seq "
					  "%llu (line %d): it was executed twice",
					  o->key, OPN(ao), OPN(o));
				break;
			}
			stamp[a] = (uint32_t)(i + 1);
			if (ao->invoke_ns >= o->complete_ns) {
				st = VERIFY_FAIL;
				violation(r,
					  "key %s: the read of session %llu seq %llu (line %d) returned "
					  "the element of an append invoked after it completed (session "
					  "%llu seq %llu, line %d)",
					  o->key, OPN(o), OPN(ao));
				break;
			}
		}
	}
	if (st != VERIFY_OK)
		goto out;
	/* one order: every read is a prefix of the longest */
	for (size_t i = 0; i < nreads; i++) {
		const struct verify_op *o = &h->ops[reads[i]];
		const char *res = o->result ? o->result : "";
		if (strncmp(res, k->longest, strlen(res)) != 0) {
			size_t p = 0;
			while (res[p] == k->longest[p])
				p++;
			st = VERIFY_FAIL;
			violation(r,
				  "key %s: the read of session %llu seq %llu (line %d) disagrees with "
				  "the longest read on the order at element %zu",
				  o->key, OPN(o), p / k->w);
			goto out;
		}
	}
	size_t nlong = strlen(k->longest) / k->w;
	for (size_t a = 0; a < k->napp; a++)
		k->pos[a] = -1;
	for (size_t p = 0; p < nlong; p++)
		k->pos[find_elem(k, k->longest + p * k->w)] = (long)p;
	/* real time. ma: acknowledged appends by completion, valued by position (absent: after
	 * everything); mr: reads by completion, valued by length */
	size_t ni = 0;
	for (size_t a = 0; a < k->napp; a++) {
		const struct verify_op *ao = &h->ops[k->app[a]];
		if (ao->status == VERIFY_OK)
			items[ni++] = (struct tv){.t = ao->complete_ns,
						  .v = k->pos[a] < 0 ? LONG_MAX : k->pos[a],
						  .who = a};
	}
	if (runmax_build(&ma, items, ni) != 0) {
		st = VERIFY_UNKNOWN;
		goto out;
	}
	for (size_t i = 0; i < nreads; i++) {
		const struct verify_op *o = &h->ops[reads[i]];
		items[i] = (struct tv){.t = o->complete_ns,
				       .v = (long)((o->result ? strlen(o->result) : 0) / k->w),
				       .who = i};
	}
	if (runmax_build(&mr, items, nreads) != 0) {
		st = VERIFY_UNKNOWN;
		goto out;
	}
	for (size_t i = 0; i < nreads; i++) {
		const struct verify_op *o = &h->ops[reads[i]];
		long len = (long)((o->result ? strlen(o->result) : 0) / k->w);
		long best;
		size_t at;
		if (runmax_before(&ma, o->invoke_ns, &best, &at) && best >= len) {
			const struct verify_op *ao = &h->ops[k->app[at]];
			st = VERIFY_FAIL;
			r->lost++;
			violation(r,
				  "key %s: the append of session %llu seq %llu (line %d) was "
				  "acknowledged before the read of session %llu seq %llu (line %d) was "
				  "invoked, and the read does not hold it: lost",
				  o->key, OPN(ao), OPN(o));
			goto out;
		}
		if (runmax_before(&mr, o->invoke_ns, &best, &at) && best > len) {
			const struct verify_op *po = &h->ops[reads[at]];
			st = VERIFY_FAIL;
			violation(r,
				  "key %s: the read of session %llu seq %llu (line %d) holds %ld "
				  "elements, fewer than the %ld of a read that completed before it was "
				  "invoked (session %llu seq %llu, line %d)",
				  o->key, OPN(o), len, best, OPN(po));
			goto out;
		}
	}
	for (size_t a = 0; a < k->napp; a++) {
		const struct verify_op *ao = &h->ops[k->app[a]];
		long best;
		size_t at;
		if (k->pos[a] >= 0 && runmax_before(&ma, ao->invoke_ns, &best, &at) &&
		    best > k->pos[a]) {
			const struct verify_op *po = &h->ops[k->app[at]];
			st = VERIFY_FAIL;
			violation(r,
				  "key %s: the append of session %llu seq %llu (line %d) was "
				  "acknowledged before the append of session %llu seq %llu (line %d) "
				  "was invoked, but the reads order it %s",
				  ao->key, OPN(po), OPN(ao),
				  best == LONG_MAX ? "nowhere (it was lost)" : "after it");
			goto out;
		}
	}
out:
	runmax_free(&ma);
	runmax_free(&mr);
	free(reads);
	free(stamp);
	free(items);
	free(k->pos);
	k->pos = NULL;
	return st;
}

static int cmp_key(const void *a, const void *b, void *arg)
{
	const struct verify_history *h = arg;
	return strcmp(h->ops[*(const size_t *)a].key, h->ops[*(const size_t *)b].key);
}

enum verify_status verify_appends(const struct verify_history *h, struct verify_append_result *out)
{
	memset(out, 0, sizeof *out);
	size_t *idx = malloc((h->n ? h->n : 1) * sizeof *idx);
	size_t *app = malloc((h->n ? h->n : 1) * sizeof *app);
	if (idx == NULL || app == NULL) {
		free(idx);
		free(app);
		snprintf(out->first_violation, sizeof out->first_violation, "out of memory");
		return VERIFY_UNKNOWN;
	}
	for (size_t i = 0; i < h->n; i++)
		idx[i] = i;
	qsort_r(idx, h->n, sizeof *idx, cmp_key, (void *)h);
	enum verify_status all = VERIFY_OK;
	for (size_t i = 0; i < h->n;) {
		size_t j = i;
		bool any = false;
		while (j < h->n && !strcmp(h->ops[idx[j]].key, h->ops[idx[i]].key))
			any |= h->ops[idx[j++]].kind == VERIFY_APPEND;
		if (any) {
			out->keys++;
			struct akey k = {.h = h, .idx = idx + i, .n = j - i, .app = app};
			enum verify_status st = check_key(&k, out);
			if (st == VERIFY_OK) {
				out->keys_ok++;
			} else if (st == VERIFY_FAIL) {
				out->keys_violated++;
				all = VERIFY_FAIL;
			} else {
				out->keys_unsupported++;
				if (all == VERIFY_OK)
					all = VERIFY_UNKNOWN;
			}
		}
		i = j;
	}
	free(idx);
	free(app);
	return all;
}

void verify_appends_print(FILE *out, const struct verify_append_result *r)
{
	if (r->keys == 0) {
		fprintf(out, "appends: none in this history\n");
		return;
	}
	fprintf(out,
		"appends: %zu keys, %zu appends, %zu reads of %zu elements checked: %zu keys ok, "
		"%zu violated (%zu executed twice, %zu lost), %zu not checked (puts or deletes "
		"too, mixed widths or repeated values)\n",
		r->keys, r->appends, r->reads, r->elements, r->keys_ok, r->keys_violated,
		r->duplicates, r->lost, r->keys_unsupported);
	if (r->first_violation[0])
		fprintf(out, "first violation: %s\n", r->first_violation);
}
