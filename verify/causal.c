/* verify/causal: causal consistency of a whole history (weak and strong operations), which
 * implies the four session guarantees: read-your-writes, monotonic reads, monotonic writes and
 * writes-follow-reads.
 *
 * Causal order: session order (each session's operations one at a time, in invocation order)
 * plus reads-from (a read follows the write whose value it returned; values are unique). It must
 * be acyclic. A read r of key k that returned write w' (or nothing) violates causality when
 * some write w of k is in r's causal past and w' is in w's causal past (w overwrote w' before r
 * could see it), or when it returned nothing although a put of k is in its causal past and no
 * delete of k could have come after that put. Causal pasts are vector clocks over sessions,
 * computed in a topological order of the causal graph. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/hash.h"
#include "verify/verify.h"

struct cop {
	size_t op;    /* index in the history */
	int sess;     /* dense session index */
	uint32_t idx; /* 1-based position in its session */
	long rf;      /* read: index (into cops) of the write it returned, -1 none */
	int key;      /* dense key index */
	uint32_t *vc; /* causal past: per session, the highest position included */
	int indeg;
	long next_in_sess; /* -1 none */
};

/* A string -> dense id table (open addressing). The strings are the history's: not copied, not
 * freed. */
struct ids {
	const char **k;
	int *v;
	size_t cap, n;
};

static int ids_get(struct ids *t, const char *s, bool add)
{
	if (t->n * 2 >= t->cap) {
		size_t ncap = t->cap ? t->cap * 2 : 1024;
		const char **nk = calloc(ncap, sizeof *nk);
		int *nv = calloc(ncap, sizeof *nv);
		if (nk == NULL || nv == NULL) {
			free(nk);
			free(nv);
			return -ENOMEM;
		}
		for (size_t i = 0; i < t->cap; i++)
			if (t->k[i]) {
				size_t j = common_hash64(t->k[i], strlen(t->k[i]), 7) & (ncap - 1);
				while (nk[j])
					j = (j + 1) & (ncap - 1);
				nk[j] = t->k[i];
				nv[j] = t->v[i];
			}
		free(t->k);
		free(t->v);
		t->k = nk;
		t->v = nv;
		t->cap = ncap;
	}
	size_t j = common_hash64(s, strlen(s), 7) & (t->cap - 1);
	while (t->k[j]) {
		if (strcmp(t->k[j], s) == 0)
			return t->v[j];
		j = (j + 1) & (t->cap - 1);
	}
	if (!add)
		return -ENOENT;
	t->k[j] = s;
	t->v[j] = (int)t->n;
	return (int)t->n++;
}

static void ids_free(struct ids *t)
{
	free(t->k);
	free(t->v);
	memset(t, 0, sizeof *t);
}

static int cmp_sess_invoke(const void *a, const void *b, void *h)
{
	const struct verify_op *ops = ((const struct verify_history *)h)->ops;
	const struct verify_op *x = &ops[*(const size_t *)a], *y = &ops[*(const size_t *)b];
	if (x->session != y->session)
		return x->session < y->session ? -1 : 1;
	if (x->invoke_ns != y->invoke_ns)
		return x->invoke_ns < y->invoke_ns ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static bool in_past(const struct cop *of, const struct cop *x)
{
	return of->vc[x->sess] >= x->idx;
}

/* One verify_causal run: what its steps share. Every pointer is owned and freed by causal_free;
 * keys and values are ids of strings of the history (not copied). */
struct causal {
	const struct verify_history *h;
	struct verify_causal_result *out;
	struct cop *c; /* the operations that take part, by session then invocation */
	size_t n;
	int nsess;
	struct ids keys, values;
	long *writer;  /* value id -> the cop that put it, -1: none */
	uint32_t *vcs; /* the vector clocks: nsess words per cop */
};

/* A step's outcome besides 0 (go on) and -ENOMEM: the verdict is reached (out says it). */
#define CAUSAL_DECIDED 1

static void causal_free(struct causal *s)
{
	ids_free(&s->keys);
	ids_free(&s->values);
	free(s->writer);
	free(s->vcs);
	free(s->c);
}

/* A history with appends is the append check's: not checked here. */
static int refuse_appends(struct causal *s)
{
	for (size_t i = 0; i < s->h->n; i++)
		if (s->h->ops[i].kind == VERIFY_APPEND) {
			snprintf(s->out->first_violation, sizeof s->out->first_violation,
				 "a history with appends (line %d): the append check covers it",
				 s->h->ops[i].line);
			s->out->unsupported = true;
			return CAUSAL_DECIDED;
		}
	return 0;
}

/* The operations that took part (completed ones, and unknown writes, which may have), in
 * session order then invocation order, into s->c. */
static int collect_ops(struct causal *s)
{
	const struct verify_history *h = s->h;
	size_t *order = malloc((h->n ? h->n : 1) * sizeof *order);
	s->c = calloc(h->n ? h->n : 1, sizeof *s->c);
	if (order == NULL || s->c == NULL) {
		free(order);
		return -ENOMEM;
	}
	for (size_t i = 0; i < h->n; i++) {
		const struct verify_op *o = &h->ops[i];
		if (o->status == VERIFY_OK ||
		    (o->status == VERIFY_UNKNOWN && o->kind != VERIFY_GET))
			order[s->n++] = i;
	}
	qsort_r(order, s->n, sizeof *order, cmp_sess_invoke, (void *)h);
	for (size_t i = 0; i < s->n; i++)
		s->c[i].op = order[i];
	free(order);
	return 0;
}

/* Numbers the operations: each session densely (a session's operations are consecutive, so its
 * index is its run's), each operation's place in its session with an edge from the one before
 * (which must have completed before it was invoked: else not checked), and dense key and value
 * ids. */
static int number_ops(struct causal *s)
{
	const struct verify_op *ops = s->h->ops;
	struct cop *c = s->c;
	for (size_t i = 0; i < s->n; i++) {
		const struct verify_op *o = &ops[c[i].op];
		bool same = i > 0 && ops[c[i - 1].op].session == o->session;
		if (!same)
			s->nsess++;
		c[i].sess = s->nsess - 1;
		c[i].idx = same ? c[i - 1].idx + 1 : 1;
		c[i].next_in_sess = -1;
		if (same) {
			const struct verify_op *p = &ops[c[i - 1].op];
			if (p->status != VERIFY_OK || p->complete_ns > o->invoke_ns) {
				/* overlapping operations of one session: no session order to check
				 */
				snprintf(
				    s->out->first_violation, sizeof s->out->first_violation,
				    "session %llu has overlapping operations (line %d): the causal "
				    "check needs one operation at a time per session",
				    (unsigned long long)o->session, o->line);
				s->out->unsupported = true;
				return CAUSAL_DECIDED;
			}
			c[i - 1].next_in_sess = (long)i;
			c[i].indeg++;
		}
		int kid = ids_get(&s->keys, o->key, true);
		if (kid < 0)
			return -ENOMEM;
		c[i].key = kid;
		c[i].rf = -1;
		if (o->kind == VERIFY_PUT && ids_get(&s->values, o->value, true) < 0)
			return -ENOMEM;
	}
	return 0;
}

/* Reads-from: each read that returned a value follows the put that wrote it (values are unique
 * in a checked history); a value no completed or pending put of the key wrote is a violation. */
static int link_reads(struct causal *s)
{
	const struct verify_op *ops = s->h->ops;
	struct cop *c = s->c;
	s->writer = malloc((s->values.n ? s->values.n : 1) * sizeof *s->writer);
	if (s->writer == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < s->values.n; i++)
		s->writer[i] = -1;
	for (size_t i = 0; i < s->n; i++)
		if (ops[c[i].op].kind == VERIFY_PUT)
			s->writer[ids_get(&s->values, ops[c[i].op].value, false)] = (long)i;
	for (size_t i = 0; i < s->n; i++) {
		const struct verify_op *o = &ops[c[i].op];
		if (o->kind != VERIFY_GET || o->result == NULL)
			continue;
		int vid = ids_get(&s->values, o->result, false);
		long w = vid >= 0 ? s->writer[vid] : -1;
		if (w < 0 || c[w].key != c[i].key) {
			s->out->violations++;
			if (!s->out->first_violation[0])
				snprintf(s->out->first_violation, sizeof s->out->first_violation,
					 "line %d: a read of a value no completed or pending put "
					 "of the key wrote",
					 o->line);
			continue;
		}
		c[i].rf = w;
		c[i].indeg++;
	}
	s->out->ops_checked = s->n;
	s->out->sessions = (size_t)s->nsess;
	return 0;
}

/* Merges the causal past of `from` into that of `to`. */
static void vc_merge(struct cop *to, const struct cop *from, int nsess)
{
	for (int k = 0; k < nsess; k++)
		if (from->vc[k] > to->vc[k])
			to->vc[k] = from->vc[k];
}

/* The causal past of every operation: vector clocks computed in a topological order of the
 * session and reads-from edges (Kahn). Operations left out of the order are in their own
 * causal past: a violation. */
static int vector_clocks(struct causal *s)
{
	struct cop *c = s->c;
	size_t n = s->n, nn = n ? n : 1;
	int nsess = s->nsess;
	s->vcs = calloc(n * (size_t)(nsess ? nsess : 1), sizeof *s->vcs);
	long *queue = malloc(nn * sizeof *queue);
	long *readers_head = malloc(nn * sizeof *readers_head);
	long *readers_next = malloc(nn * sizeof *readers_next);
	int rc = -ENOMEM;
	if (s->vcs == NULL || queue == NULL || readers_head == NULL || readers_next == NULL)
		goto out;
	for (size_t i = 0; i < n; i++) {
		c[i].vc = s->vcs + i * (size_t)nsess;
		readers_head[i] = -1;
	}
	for (size_t i = 0; i < n; i++)
		if (c[i].rf >= 0) {
			readers_next[i] = readers_head[c[i].rf];
			readers_head[c[i].rf] = (long)i;
		}
	size_t qh = 0, qt = 0;
	for (size_t i = 0; i < n; i++)
		if (c[i].indeg == 0)
			queue[qt++] = (long)i;
	while (qh < qt) {
		long i = queue[qh++];
		c[i].vc[c[i].sess] = c[i].idx;
		long nx = c[i].next_in_sess;
		if (nx >= 0) {
			vc_merge(&c[nx], &c[i], nsess);
			if (--c[nx].indeg == 0)
				queue[qt++] = nx;
		}
		for (long r = readers_head[i]; r >= 0; r = readers_next[r]) {
			vc_merge(&c[r], &c[i], nsess);
			if (--c[r].indeg == 0)
				queue[qt++] = r;
		}
	}
	rc = 0;
	if (qh < n) {
		s->out->violations++;
		snprintf(s->out->first_violation, sizeof s->out->first_violation,
			 "causality is cyclic: %zu operations are in their own causal past "
			 "(a read returned a write that depends on the read)",
			 n - qh);
		rc = CAUSAL_DECIDED;
	}
out:
	free(queue);
	free(readers_head);
	free(readers_next);
	return rc;
}

/* Does a write of r's key in r's causal past make r's answer (`seen`, NULL: nothing) wrong?
 * Returns that write, or NULL. kw_head/kw_next: the writes of each key. */
static const struct verify_op *read_culprit(const struct causal *s, const struct cop *r,
					    const long *kw_head, const long *kw_next)
{
	const struct cop *c = s->c;
	const struct verify_op *ops = s->h->ops;
	const struct cop *seen = r->rf >= 0 ? &c[r->rf] : NULL;
	for (long w = kw_head[r->key]; w >= 0; w = kw_next[w]) {
		const struct cop *cw = &c[w];
		if (cw == seen || !in_past(r, cw))
			continue;
		const struct verify_op *wo = &ops[cw->op];
		if (seen) {
			/* a write in r's past that overwrote what r returned */
			if (in_past(cw, seen))
				return wo;
		} else if (wo->kind == VERIFY_PUT) {
			/* nothing returned after a put in its past: only a delete of the key not
			 * before that put can explain it */
			bool explained = false;
			for (long d = kw_head[r->key]; d >= 0 && !explained; d = kw_next[d])
				explained = ops[c[d].op].kind == VERIFY_DEL && !in_past(cw, &c[d]);
			if (!explained)
				return wo;
		}
	}
	return NULL;
}

/* Checks every read against the writes of its key in its causal past. */
static int check_reads(struct causal *s)
{
	const struct verify_op *ops = s->h->ops;
	const struct cop *c = s->c;
	size_t n = s->n, nkeys = s->keys.n;
	struct verify_causal_result *out = s->out;
	long *kw_head = malloc((nkeys ? nkeys : 1) * sizeof *kw_head);
	long *kw_next = malloc((n ? n : 1) * sizeof *kw_next);
	if (kw_head == NULL || kw_next == NULL) {
		free(kw_head);
		free(kw_next);
		return -ENOMEM;
	}
	for (size_t k = 0; k < nkeys; k++)
		kw_head[k] = -1;
	for (size_t i = n; i-- > 0;)
		if (ops[c[i].op].kind != VERIFY_GET) {
			kw_next[i] = kw_head[c[i].key];
			kw_head[c[i].key] = (long)i;
		}
	for (size_t i = 0; i < n; i++) {
		const struct verify_op *o = &ops[c[i].op];
		if (o->kind != VERIFY_GET)
			continue;
		out->reads_checked++;
		const struct verify_op *culprit = read_culprit(s, &c[i], kw_head, kw_next);
		if (culprit == NULL)
			continue;
		out->violations++;
		if (out->first_violation[0])
			continue;
		bool seen = c[i].rf >= 0;
		snprintf(out->first_violation, sizeof out->first_violation,
			 "line %d (session %llu seq %llu): the read returned %s, but the write "
			 "of line %d (session %llu seq %llu), which came after %s, is in the "
			 "read's causal past",
			 o->line, (unsigned long long)o->session, (unsigned long long)o->seq,
			 seen ? "a value" : "nothing", culprit->line,
			 (unsigned long long)culprit->session, (unsigned long long)culprit->seq,
			 seen ? "that value's write" : "no delete");
	}
	free(kw_head);
	free(kw_next);
	return 0;
}

enum verify_status verify_causal(const struct verify_history *h, struct verify_causal_result *out)
{
	memset(out, 0, sizeof *out);
	struct causal s = {.h = h, .out = out};
	int rc = refuse_appends(&s);
	if (rc == 0)
		rc = collect_ops(&s);
	if (rc == 0)
		rc = number_ops(&s);
	if (rc == 0)
		rc = link_reads(&s);
	if (rc == 0)
		rc = vector_clocks(&s);
	if (rc == 0)
		rc = check_reads(&s);
	causal_free(&s);
	if (rc == -ENOMEM) {
		out->unsupported = true;
		snprintf(out->first_violation, sizeof out->first_violation, "out of memory");
	}
	if (out->unsupported)
		return VERIFY_UNKNOWN;
	return out->violations ? VERIFY_FAIL : VERIFY_OK;
}

static int cmp_op_key(const void *a, const void *b, void *h)
{
	const struct verify_op *ops = ((const struct verify_history *)h)->ops;
	int c = strcmp(ops[*(const size_t *)a].key, ops[*(const size_t *)b].key);
	if (c)
		return c;
	return *(const size_t *)a < *(const size_t *)b ? -1
						       : *(const size_t *)a > *(const size_t *)b;
}

enum verify_status verify_causal_per_key(const struct verify_history *h,
					 struct verify_causal_result *out)
{
	memset(out, 0, sizeof *out);
	size_t *idx = malloc((h->n ? h->n : 1) * sizeof *idx);
	/* each key's history shares the operations' strings: only its array is freed */
	struct verify_history sub = {.ops = malloc((h->n ? h->n : 1) * sizeof *sub.ops)};
	if (idx == NULL || sub.ops == NULL) {
		free(idx);
		free(sub.ops);
		out->unsupported = true;
		snprintf(out->first_violation, sizeof out->first_violation, "out of memory");
		return VERIFY_UNKNOWN;
	}
	for (size_t i = 0; i < h->n; i++)
		idx[i] = i;
	qsort_r(idx, h->n, sizeof *idx, cmp_op_key, (void *)h);
	enum verify_status all = VERIFY_OK;
	for (size_t i = 0; i < h->n;) {
		size_t j = i;
		sub.n = 0;
		while (j < h->n && !strcmp(h->ops[idx[j]].key, h->ops[idx[i]].key))
			sub.ops[sub.n++] = h->ops[idx[j++]];
		struct verify_causal_result r;
		enum verify_status st = verify_causal(&sub, &r);
		out->keys++;
		out->ops_checked += r.ops_checked;
		out->reads_checked += r.reads_checked;
		out->violations += r.violations;
		if (r.sessions > out->sessions)
			out->sessions = r.sessions;
		/* the first violation, else the first reason a key was not checked */
		if ((st == VERIFY_FAIL && all != VERIFY_FAIL) ||
		    (st == VERIFY_UNKNOWN && !out->first_violation[0]))
			snprintf(out->first_violation, sizeof out->first_violation, "%s",
				 r.first_violation);
		if (st == VERIFY_FAIL)
			all = VERIFY_FAIL;
		else if (st == VERIFY_UNKNOWN && all == VERIFY_OK)
			all = VERIFY_UNKNOWN;
		i = j;
	}
	free(idx);
	free(sub.ops);
	out->unsupported = all == VERIFY_UNKNOWN;
	return all;
}

void verify_causal_print(FILE *out, const struct verify_causal_result *r)
{
	if (r->unsupported) {
		fprintf(out, "causal%s: not checked: %s\n", r->keys ? " per key" : "",
			r->first_violation);
		return;
	}
	if (r->keys)
		fprintf(out,
			"causal per key: %zu keys, %zu operations, %zu reads checked: %zu "
			"violations\n",
			r->keys, r->ops_checked, r->reads_checked, r->violations);
	else
		fprintf(out,
			"causal: %zu operations of %zu sessions, %zu reads checked: %zu "
			"violations\n",
			r->ops_checked, r->sessions, r->reads_checked, r->violations);
	if (r->first_violation[0])
		fprintf(out, "first causal violation: %s\n", r->first_violation);
}
