/* verify: history parsing and the per-key linearizability search. */
#include "verify/verify.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/hash.h"

/* ---- parsing ------------------------------------------------------------------------------- */

/* Finds "name": in a flat JSON object line and copies its value: a string's contents, a number's
 * digits, or sets *is_null for null. Returns 0, or -ENOENT / -EINVAL. */
static int field(const char *line, const char *name, char **out, bool *is_null)
{
	char pat[64];
	snprintf(pat, sizeof pat, "\"%s\":", name);
	const char *p = strstr(line, pat);
	if (p == NULL)
		return -ENOENT;
	p += strlen(pat);
	while (*p == ' ')
		p++;
	*is_null = false;
	*out = NULL;
	if (!strncmp(p, "null", 4)) {
		*is_null = true;
		return 0;
	}
	const char *start, *end;
	if (*p == '"') {
		start = p + 1;
		end = strchr(start, '"');
		if (end == NULL)
			return -EINVAL;
		for (const char *q = start; q < end; q++)
			if (*q == '\\')
				return -EINVAL; /* histories carry hex and plain words only */
	} else {
		start = p;
		end = p;
		while (*end >= '0' && *end <= '9')
			end++;
		if (end == start)
			return -EINVAL;
	}
	*out = strndup(start, (size_t)(end - start));
	return *out ? 0 : -ENOMEM;
}

static int field_u64(const char *line, const char *name, uint64_t *v)
{
	char *s;
	bool null;
	int rc = field(line, name, &s, &null);
	if (rc != 0 || null)
		return rc ? rc : -EINVAL;
	char *end;
	*v = strtoull(s, &end, 10);
	rc = *end ? -EINVAL : 0;
	free(s);
	return rc;
}

int verify_parse_line(const char *line, struct verify_op *op)
{
	memset(op, 0, sizeof *op);
	char *s = NULL;
	bool null;
	if (field_u64(line, "session", &op->session) || field_u64(line, "seq", &op->seq) ||
	    field_u64(line, "invoke_ns", &op->invoke_ns) ||
	    field_u64(line, "complete_ns", &op->complete_ns))
		return -EINVAL;
	if (field(line, "op", &s, &null) || null)
		goto bad;
	if (!strcmp(s, "get"))
		op->kind = VERIFY_GET;
	else if (!strcmp(s, "put"))
		op->kind = VERIFY_PUT;
	else if (!strcmp(s, "del"))
		op->kind = VERIFY_DEL;
	else if (!strcmp(s, "append"))
		op->kind = VERIFY_APPEND;
	else if (!strcmp(s, "scan")) {
		free(s); /* multi-key: not this per-key checker's business */
		memset(op, 0, sizeof *op);
		return VERIFY_SKIP_SCAN;
	} else
		goto bad;
	free(s);
	if (field(line, "cons", &s, &null) || null)
		goto bad;
	op->weak = !strcmp(s, "weak");
	free(s);
	if (field(line, "status", &s, &null) || null)
		goto bad;
	if (!strcmp(s, "ok"))
		op->status = VERIFY_OK;
	else if (!strcmp(s, "fail"))
		op->status = VERIFY_FAIL;
	else if (!strcmp(s, "unknown"))
		op->status = VERIFY_UNKNOWN;
	else
		goto bad;
	free(s);
	s = NULL;
	if (field(line, "key", &op->key, &null) || null)
		goto bad;
	if ((op->kind == VERIFY_PUT || op->kind == VERIFY_APPEND) &&
	    (field(line, "value", &op->value, &null) || null))
		goto bad;
	if (op->kind == VERIFY_GET && op->status == VERIFY_OK) {
		if (field(line, "result", &op->result, &null))
			goto bad;
	}
	/* optional: a weak write's ordering time (the load generator's, docs/conf.md) */
	int orc = field_u64(line, "ordered_ns", &op->ordered_ns);
	if (orc != 0 && orc != -ENOENT)
		goto bad;
	return 0;
bad:
	free(s);
	free(op->key);
	free(op->value);
	free(op->result);
	memset(op, 0, sizeof *op);
	return -EINVAL;
}

int verify_add(struct verify_history *h, struct verify_op *op)
{
	if (h->n == h->cap) {
		size_t ncap = h->cap ? h->cap * 2 : 1024;
		struct verify_op *nv = realloc(h->ops, ncap * sizeof *nv);
		if (nv == NULL)
			return -ENOMEM;
		h->ops = nv;
		h->cap = ncap;
	}
	h->ops[h->n++] = *op;
	return 0;
}

int verify_load_more(const char *path, struct verify_history *h, int line_base,
		     uint64_t session_base, int *lines, int *bad_line)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return -errno;
	char *line = NULL;
	size_t cap = 0;
	int lineno = 0, rc = 0;
	while (getline(&line, &cap, f) > 0) {
		lineno++;
		if (line[0] == '\n')
			continue;
		struct verify_op op;
		int prc = verify_parse_line(line, &op);
		if (prc == VERIFY_SKIP_SCAN)
			continue;
		if (prc != 0) {
			*bad_line = lineno;
			rc = -EINVAL;
			break;
		}
		if (session_base > 0 && op.session >= session_base) {
			/* offsetting it could make it equal to a session of another file */
			free(op.key);
			free(op.value);
			free(op.result);
			*bad_line = lineno;
			rc = -ERANGE;
			break;
		}
		op.session += session_base;
		op.line = line_base + lineno;
		if ((rc = verify_add(h, &op)) != 0)
			break;
	}
	free(line);
	fclose(f);
	if (lines)
		*lines = lineno;
	return rc;
}

int verify_load(const char *path, struct verify_history *h, int *bad_line)
{
	return verify_load_more(path, h, 0, 0, NULL, bad_line);
}

void verify_free(struct verify_history *h)
{
	for (size_t i = 0; i < h->n; i++) {
		free(h->ops[i].key);
		free(h->ops[i].value);
		free(h->ops[i].result);
	}
	free(h->ops);
	memset(h, 0, sizeof *h);
}

/* ---- the search ----------------------------------------------------------------------------- */

struct ev {
	int op;	   /* index into the key's ops */
	bool call; /* call or return event */
	uint64_t t;
	int prev, next;
};

struct kop {
	enum verify_kind kind;
	int val;	     /* put: value id; get: expected state (0 = missing) */
	int call_ev, ret_ev; /* ret_ev -1: never returns (unknown) */
};

/* The configurations (linearized set, state) already explored: open addressing on a 64-bit
 * fingerprint, each slot keeping an exact copy so that a fingerprint collision can never prune a
 * branch (a false violation). */
struct memo_slot {
	uint64_t fp; /* 0 = empty */
	int state;
	uint64_t *set; /* `words` words */
};

struct memo {
	struct memo_slot *v;
	size_t cap, n, words;
};

static void memo_free(struct memo *m)
{
	for (size_t i = 0; i < m->cap; i++)
		free(m->v[i].set);
	free(m->v);
}

/* Returns true if (set, state) is new (and remembers it). */
static bool memo_add(struct memo *m, const uint64_t *set, int state)
{
	uint64_t h = common_hash64(set, m->words * 8, (uint64_t)state);
	if (h == 0)
		h = 1;
	if (m->n * 2 >= m->cap) {
		size_t ncap = m->cap ? m->cap * 2 : 1024;
		struct memo_slot *nv = calloc(ncap, sizeof *nv);
		if (nv == NULL)
			return true; /* cannot remember: keep searching (correct, only slower) */
		for (size_t i = 0; i < m->cap; i++)
			if (m->v[i].fp) {
				size_t j = m->v[i].fp & (ncap - 1);
				while (nv[j].fp)
					j = (j + 1) & (ncap - 1);
				nv[j] = m->v[i];
			}
		free(m->v);
		m->v = nv;
		m->cap = ncap;
	}
	size_t j = h & (m->cap - 1);
	while (m->v[j].fp) {
		if (m->v[j].fp == h && m->v[j].state == state &&
		    !memcmp(m->v[j].set, set, m->words * 8))
			return false;
		j = (j + 1) & (m->cap - 1);
	}
	uint64_t *copy = malloc(m->words * 8);
	if (copy == NULL)
		return true;
	memcpy(copy, set, m->words * 8);
	m->v[j] = (struct memo_slot){.fp = h, .state = state, .set = copy};
	m->n++;
	return true;
}

static int cmp_ev(const void *a, const void *b)
{
	const struct ev *x = a, *y = b;
	if (x->t != y->t)
		return x->t < y->t ? -1 : 1;
	/* at equal times calls come first: the operations overlap (the weaker constraint) */
	return (int)y->call - (int)x->call;
}

/* How an operation takes part in the search: a weak write completes when its slot was learned
 * (ordered_ns), and is unknown when that never happened; everything else as recorded. */
static enum verify_status eff_status(const struct verify_op *o)
{
	if (o->weak && o->status == VERIFY_OK && o->ordered_ns == 0)
		return VERIFY_UNKNOWN;
	return o->status;
}

static uint64_t eff_complete(const struct verify_op *o)
{
	if (!o->weak)
		return o->complete_ns;
	return o->ordered_ns > o->invoke_ns ? o->ordered_ns : o->invoke_ns;
}

/* Checks one key's operations. Returns VERIFY_OK/FAIL/UNKNOWN. */
static enum verify_status check_key(const struct verify_history *h, const size_t *idx, size_t n,
				    uint64_t budget, struct verify_result *r)
{
	/* value ids: 0 = missing, 1.. = distinct put values */
	const char **vals = calloc(n + 1, sizeof *vals);
	struct kop *ops = calloc(n, sizeof *ops);
	struct ev *evs = calloc(2 * n + 1, sizeof *evs);
	int nvals = 0, nops = 0, nev = 0;
	enum verify_status st = VERIFY_OK;
	if (!vals || !ops || !evs) {
		st = VERIFY_UNKNOWN;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const struct verify_op *o = &h->ops[idx[i]];
		if (o->kind == VERIFY_PUT && o->status != VERIFY_FAIL) {
			int id = 0;
			for (int k = 0; k < nvals && !id; k++)
				if (!strcmp(vals[k], o->value))
					id = k + 1;
			if (!id) {
				vals[nvals++] = o->value;
				id = nvals;
			}
		}
	}
	for (size_t i = 0; i < n; i++) {
		const struct verify_op *o = &h->ops[idx[i]];
		enum verify_status ost = eff_status(o);
		if (ost == VERIFY_FAIL || (o->kind == VERIFY_GET && ost != VERIFY_OK))
			continue; /* never applied, or a read whose answer nobody saw */
		struct kop *k = &ops[nops];
		k->kind = o->kind;
		if (o->kind == VERIFY_PUT || (o->kind == VERIFY_GET && o->result)) {
			const char *want = o->kind == VERIFY_PUT ? o->value : o->result;
			for (int v = 0; v < nvals && !k->val; v++)
				if (!strcmp(vals[v], want))
					k->val = v + 1;
			if (!k->val) {
				r->values_never_written++;
				snprintf(r->first_violation, sizeof r->first_violation,
					 "key %.64s: line %d read a value no put wrote", o->key,
					 o->line);
				st = VERIFY_FAIL;
				goto out;
			}
		}
		evs[nev] = (struct ev){.op = nops, .call = true, .t = o->invoke_ns};
		nev++;
		if (ost == VERIFY_OK) {
			evs[nev] = (struct ev){.op = nops, .call = false, .t = eff_complete(o)};
			nev++;
		}
		nops++;
	}
	r->ops_checked += (size_t)nops;
	qsort(evs, (size_t)nev, sizeof *evs, cmp_ev);
	for (int i = 0; i < nev; i++) {
		evs[i].prev = i - 1;
		evs[i].next = i + 1 < nev ? i + 1 : -1;
		ops[evs[i].op].ret_ev = -1;
	}
	for (int i = 0; i < nev; i++) {
		if (evs[i].call)
			ops[evs[i].op].call_ev = i;
		else
			ops[evs[i].op].ret_ev = i;
	}
	/* Wing-Gong/Lowe: linearize calls in list order; on reaching a return, backtrack. */
	int head = nev ? 0 : -1;
	size_t words = (size_t)nops / 64 + 1;
	uint64_t *lin = calloc(words, sizeof *lin);
	int *stack_ev = calloc((size_t)nops + 1, sizeof *stack_ev);
	int *stack_state = calloc((size_t)nops + 1, sizeof *stack_state);
	struct memo memo = {.words = words};
	int sp = 0, state = 0, e = head;
	uint64_t steps = 0;
	if (!lin || !stack_ev || !stack_state) {
		st = VERIFY_UNKNOWN;
		goto search_out;
	}
#define UNLINK(i)                                                                                  \
	do {                                                                                       \
		if (evs[i].prev >= 0)                                                              \
			evs[evs[i].prev].next = evs[i].next;                                       \
		else                                                                               \
			head = evs[i].next;                                                        \
		if (evs[i].next >= 0)                                                              \
			evs[evs[i].next].prev = evs[i].prev;                                       \
	} while (0)
#define RELINK(i)                                                                                  \
	do {                                                                                       \
		if (evs[i].prev >= 0)                                                              \
			evs[evs[i].prev].next = i;                                                 \
		else                                                                               \
			head = i;                                                                  \
		if (evs[i].next >= 0)                                                              \
			evs[evs[i].next].prev = i;                                                 \
	} while (0)
	while (e >= 0) {
		if (++steps > budget) {
			st = VERIFY_UNKNOWN;
			break;
		}
		if (evs[e].call) {
			struct kop *k = &ops[evs[e].op];
			int next_state = state;
			bool legal = true;
			if (k->kind == VERIFY_PUT)
				next_state = k->val;
			else if (k->kind == VERIFY_DEL)
				next_state = 0;
			else
				legal = state == k->val;
			if (legal) {
				lin[evs[e].op / 64] |= 1ull << (evs[e].op % 64);
				if (memo_add(&memo, lin, next_state)) {
					stack_ev[sp] = e;
					stack_state[sp] = state;
					sp++;
					state = next_state;
					UNLINK(e);
					if (k->ret_ev >= 0)
						UNLINK(k->ret_ev);
					e = head;
					continue;
				}
				lin[evs[e].op / 64] &= ~(1ull << (evs[e].op % 64));
			}
			e = evs[e].next;
		} else {
			/* a completed operation that cannot be linearized before this point */
			if (sp == 0) {
				st = VERIFY_FAIL;
				snprintf(r->first_violation, sizeof r->first_violation,
					 "key %.64s: no linearization (%d operations)",
					 h->ops[idx[0]].key, nops);
				break;
			}
			sp--;
			int ce = stack_ev[sp];
			struct kop *k = &ops[evs[ce].op];
			state = stack_state[sp];
			if (k->ret_ev >= 0)
				RELINK(k->ret_ev);
			RELINK(ce);
			lin[evs[ce].op / 64] &= ~(1ull << (evs[ce].op % 64));
			e = evs[ce].next;
		}
	}
#undef UNLINK
#undef RELINK
search_out:
	free(lin);
	free(stack_ev);
	free(stack_state);
	memo_free(&memo);
out:
	free(vals);
	free(ops);
	free(evs);
	return st;
}

static int cmp_key(const void *a, const void *b, void *arg)
{
	const struct verify_history *h = arg;
	const struct verify_op *x = &h->ops[*(const size_t *)a];
	const struct verify_op *y = &h->ops[*(const size_t *)b];
	return strcmp(x->key, y->key);
}

enum verify_status verify_linearizable(const struct verify_history *h, uint64_t budget,
				       struct verify_result *out)
{
	memset(out, 0, sizeof *out);
	size_t *idx = malloc((h->n ? h->n : 1) * sizeof *idx);
	if (idx == NULL)
		return VERIFY_UNKNOWN;
	size_t m = 0;
	for (size_t i = 0; i < h->n; i++)
		if (!h->ops[i].weak || h->ops[i].kind != VERIFY_GET)
			idx[m++] = i; /* strong operations and weak writes */
	qsort_r(idx, m, sizeof *idx, cmp_key, (void *)h);
	enum verify_status all = VERIFY_OK;
	for (size_t i = 0; i < m;) {
		size_t j = i;
		bool appends = false;
		while (j < m && !strcmp(h->ops[idx[j]].key, h->ops[idx[i]].key))
			appends |= h->ops[idx[j++]].kind == VERIFY_APPEND;
		if (appends) {
			out->append_keys++; /* list semantics: verify_appends */
			i = j;
			continue;
		}
		out->keys++;
		enum verify_status st = check_key(h, idx + i, j - i, budget, out);
		if (st == VERIFY_OK)
			out->keys_ok++;
		else if (st == VERIFY_FAIL)
			out->keys_violated++;
		else
			out->keys_unknown++;
		if (st == VERIFY_FAIL)
			all = VERIFY_FAIL;
		else if (st == VERIFY_UNKNOWN && all == VERIFY_OK)
			all = VERIFY_UNKNOWN;
		i = j;
	}
	free(idx);
	return all;
}

void verify_print(FILE *out, const struct verify_result *r)
{
	fprintf(out,
		"linearizability: %zu keys, %zu operations checked: %zu linearizable, %zu "
		"violations, %zu unknown (budget)\n",
		r->keys, r->ops_checked, r->keys_ok, r->keys_violated, r->keys_unknown);
	if (r->append_keys)
		fprintf(out, "(%zu keys with appends: checked by the append check)\n",
			r->append_keys);
	if (r->values_never_written)
		fprintf(out, "reads of values never written: %zu\n", r->values_never_written);
	if (r->first_violation[0])
		fprintf(out, "first violation: %s\n", r->first_violation);
}
