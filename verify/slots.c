/* verify/slots: the slot certificate (verify.h, "The slot certificate"). Every operation carries
 * the slot where the replicas executed it, which makes the checks exact: no search. A SCAN is
 * checked as what it is, a read of every key of the range it covered (from its first key to the
 * last one it returned, or to the last key when it returned fewer than it asked for: then it saw
 * every live key from its first on). Written for the deterministic simulation
 * (tests/sim_check.c), which knows each execution's slot, and used by the system tests too,
 * which read it from the replicas' execution logs (tests/test_hybrid.c). */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"
#include "verify/verify.h"

static bool is_write(const struct verify_sop *o)
{
	return o->op == PROTO_OP_PUT || o->op == PROTO_OP_DEL || o->op == PROTO_OP_APPEND;
}

static bool is_read(const struct verify_sop *o)
{
	return o->op == PROTO_OP_GET || o->op == PROTO_OP_SCAN;
}

static bool akey(const struct verify_slots_run *s, uint64_t key)
{
	return s->appends && key == s->nkeys;
}

/* ---- SCAN results ------------------------------------------------------------------------ */

struct pair {
	uint64_t key;
	const char *val; /* into the op's result */
	uint32_t vlen;
};

/* The highest key of the run. */
static uint64_t last_key(const struct verify_slots_run *s)
{
	return s->appends ? s->nkeys : s->nkeys - 1;
}

/* Decodes a SCAN's result into p[] (*np pairs). Returns NULL, or what is wrong with it: keys
 * of 8 bytes, ascending, from the SCAN's key on and among the run's, no more than it asked
 * for. */
static const char *scan_decode(const struct verify_slots_run *s, const struct verify_sop *o,
			       struct pair *p, int *np)
{
	uint32_t off = 0;
	*np = 0;
	for (;;) {
		const uint8_t *k, *v;
		uint32_t kl, vl;
		int rc =
		    proto_scan_next((const uint8_t *)o->result, o->rlen, &off, &k, &kl, &v, &vl);
		if (rc == 0)
			return NULL;
		if (rc < 0)
			return "a truncated pair";
		if (kl != 8)
			return "a key that is not 8 bytes";
		if (*np >= (int)o->count || *np >= VERIFY_SCAN_MAX)
			return "more pairs than it asked for";
		uint64_t key = 0;
		for (int i = 0; i < 8; i++)
			key = key << 8 | k[i];
		if (key < o->key || (*np > 0 && key <= p[*np - 1].key))
			return "keys out of order or before its first key";
		if (key > last_key(s))
			return "a key no operation wrote";
		p[*np] = (struct pair){.key = key, .val = (const char *)v, .vlen = vl};
		(*np)++;
	}
}

/* The last key a SCAN covered (see the top). */
static uint64_t scan_end(const struct verify_slots_run *s, const struct verify_sop *o,
			 const struct pair *p, int np)
{
	return np > 0 && np == (int)o->count ? p[np - 1].key : last_key(s);
}

static void pairs_text(const struct pair *p, int np, char *out, size_t cap)
{
	size_t n = 0;
	out[0] = 0;
	for (int i = 0; i < np && n < cap; i++) {
		int w = snprintf(out + n, cap - n, "%s%" PRIu64 "=%.*s", i ? " " : "", p[i].key,
				 (int)(p[i].vlen > 64 ? 64 : p[i].vlen), p[i].val);
		if (w < 0)
			return;
		n += (size_t)w;
	}
	if (n >= cap && cap > 4)
		memcpy(out + cap - 4, "...", 4);
}

void verify_sop_scan_text(const struct verify_slots_run *s, const struct verify_sop *o, char *out,
			  size_t cap)
{
	struct pair p[VERIFY_SCAN_MAX];
	int np;
	const char *bad = o->result ? scan_decode(s, o, p, &np) : "no result";
	if (bad)
		snprintf(out, cap, "(%s)", bad);
	else
		pairs_text(p, np, out, cap);
}

/* ---- the run's indexes ------------------------------------------------------------------- */

/* A read of one key as the checks see it: a GET, or a SCAN's view of one key it covered. */
struct obs {
	const struct verify_sop *o;
	uint64_t key;
	bool write;		     /* o writes key */
	const struct verify_sop *rf; /* a read: the PUT whose value it returned (NULL: none) */
};

struct ck {
	const struct verify_slots_run *s;
	struct verify_slots_result *res;
	const struct verify_sop **puts; /* sorted by value: what a read returned comes from */
	int nputs;
	/* per key, its writes in slot order (every write has a slot once the run passed the
	 * first checks) */
	const struct verify_sop ***kw; /* [last_key + 1] */
	int *nkw;
	const struct verify_sop **writes; /* every write in slot order */
	int nwrites;
	struct obs *obs;
	int nobs;
	int **kobs; /* per key, the indexes of its obs, ascending */
	int *nkobs;
	int *fill;  /* scratch, per key */
	char *list; /* scratch: the append key's list */
	size_t list_cap;
};

/* Records the first failed check in c->res (later ones are dropped). Returns false. */
__attribute__((format(printf, 2, 3))) static bool failf(struct ck *c, const char *fmt, ...)
{
	if (c->res->first_violation[0] == 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(c->res->first_violation, sizeof c->res->first_violation, fmt, ap);
		va_end(ap);
	}
	return false;
}

static bool nomem(struct ck *c)
{
	c->res->nomem = true;
	return failf(c, "out of memory");
}

/* What the read of a value no write produced points at (distinct from any op and from NULL). */
static const struct verify_sop never_written;

static int put_cmp(const void *a, const void *b)
{
	return strcmp((*(const struct verify_sop *const *)a)->val,
		      (*(const struct verify_sop *const *)b)->val);
}

static int slot_cmp(const void *a, const void *b)
{
	uint64_t x = (*(const struct verify_sop *const *)a)->slot;
	uint64_t y = (*(const struct verify_sop *const *)b)->slot;
	return x < y ? -1 : x > y;
}

/* The PUT of key whose value a read returned: NULL if it found nothing, &never_written if no
 * PUT of that key wrote it (values are unique in a run). */
static const struct verify_sop *read_from(const struct ck *c, uint64_t key, bool found,
					  const char *v, uint32_t vlen)
{
	if (!found)
		return NULL;
	int lo = 0, hi = c->nputs;
	while (lo < hi) {
		int mid = (lo + hi) / 2;
		const char *w = c->puts[mid]->val;
		int cmp = strncmp(w, v, vlen);
		if (cmp == 0 && w[vlen] != 0)
			cmp = 1;
		if (cmp == 0)
			return c->puts[mid]->key == key ? c->puts[mid] : &never_written;
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return &never_written;
}

/* calloc that never returns NULL for n = 0 (NULL is out of memory). */
static void *zcalloc(size_t n, size_t size)
{
	return calloc(n ? n : 1, size);
}

static void ck_free(struct ck *c)
{
	free(c->puts);
	free(c->writes);
	for (uint64_t k = 0; k <= last_key(c->s); k++) {
		if (c->kw)
			free(c->kw[k]);
		if (c->kobs)
			free(c->kobs[k]);
	}
	free(c->kw);
	free(c->nkw);
	free(c->kobs);
	free(c->nkobs);
	free(c->fill);
	free(c->obs);
	free(c->list);
}

/* Builds the indexes. Returns 0 or -ENOMEM (c is then freed). */
static int ck_init(struct ck *c, const struct verify_slots_run *s, struct verify_slots_result *res)
{
	memset(c, 0, sizeof *c);
	c->s = s;
	c->res = res;
	size_t nk = (size_t)last_key(s) + 1;
	c->puts = zcalloc(s->n, sizeof *c->puts);
	c->writes = zcalloc(s->n, sizeof *c->writes);
	c->kw = zcalloc(nk, sizeof *c->kw);
	c->nkw = zcalloc(nk, sizeof *c->nkw);
	c->kobs = zcalloc(nk, sizeof *c->kobs);
	c->nkobs = zcalloc(nk, sizeof *c->nkobs);
	c->fill = zcalloc(nk, sizeof *c->fill);
	if (!c->puts || !c->writes || !c->kw || !c->nkw || !c->kobs || !c->nkobs || !c->fill)
		goto err;
	for (size_t i = 0; i < s->n; i++) {
		const struct verify_sop *o = &s->ops[i];
		if (o->op == PROTO_OP_PUT)
			c->puts[c->nputs++] = o;
		if (is_write(o)) {
			c->writes[c->nwrites++] = o;
			c->nkw[o->key]++;
		}
	}
	qsort(c->puts, (size_t)c->nputs, sizeof *c->puts, put_cmp);
	qsort(c->writes, (size_t)c->nwrites, sizeof *c->writes, slot_cmp);
	for (size_t k = 0; k < nk; k++)
		if ((c->kw[k] = zcalloc((size_t)c->nkw[k], sizeof *c->kw[k])) == NULL)
			goto err;
	for (int i = 0; i < c->nwrites; i++) /* (in slot order: so is each key's list) */
		c->kw[c->writes[i]->key][c->fill[c->writes[i]->key]++] = c->writes[i];
	c->list_cap = s->appends ? s->elem * (size_t)c->nkw[s->nkeys] + 1 : 1;
	if ((c->list = zcalloc(c->list_cap, 1)) == NULL)
		goto err;
	return 0;
err:
	ck_free(c);
	return -ENOMEM;
}

/* Key's writes ordered before slot `before`: how many. */
static int writes_before(const struct ck *c, uint64_t key, uint64_t before)
{
	int lo = 0, hi = c->nkw[key];
	while (lo < hi) {
		int mid = (lo + hi) / 2;
		if (c->kw[key][mid]->slot < before)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* A delete of key ordered after slot `after` and before `before`: what can explain a read that
 * found nothing where an earlier write left a value. */
static bool del_between(const struct ck *c, uint64_t key, uint64_t after, uint64_t before)
{
	for (int i = writes_before(c, key, after + 1); i < c->nkw[key]; i++) {
		const struct verify_sop *d = c->kw[key][i];
		if (d->slot >= before)
			return false;
		if (d->op == PROTO_OP_DEL)
			return true;
	}
	return false;
}

/* Key's value just before slot `before` (the writes ordered before it): false if it is not
 * live. The append key's is its appends in slot order, in c->list. */
static bool value_before(struct ck *c, uint64_t key, uint64_t before, const char **v,
			 uint32_t *vlen)
{
	int n = writes_before(c, key, before);
	if (akey(c->s, key)) {
		size_t elem = c->s->elem;
		for (int i = 0; i < n; i++)
			memcpy(c->list + elem * (size_t)i, c->kw[key][i]->val, elem);
		c->list[elem * (size_t)n] = 0;
		*v = c->list;
		*vlen = (uint32_t)(elem * (size_t)n);
		return n > 0;
	}
	if (n == 0 || c->kw[key][n - 1]->op != PROTO_OP_PUT)
		return false;
	*v = c->kw[key][n - 1]->val;
	*vlen = (uint32_t)strlen(*v);
	return true;
}

/* Does the SCAN o's result p[np] equal the SCAN of the state just before slot `before`? */
static bool scan_matches(struct ck *c, const struct verify_sop *o, const struct pair *p, int np,
			 uint64_t before)
{
	uint64_t last = last_key(c->s);
	int got = 0;
	for (uint64_t key = o->key; key <= last && got < (int)o->count; key++) {
		const char *v;
		uint32_t vlen;
		if (!value_before(c, key, before, &v, &vlen))
			continue;
		if (got >= np || p[got].key != key || p[got].vlen != vlen ||
		    memcmp(p[got].val, v, vlen) != 0)
			return false;
		got++;
	}
	return got == np;
}

/* The expected SCAN before slot `before`, as text (for messages). */
static void scan_want_text(struct ck *c, const struct verify_sop *o, uint64_t before, char *out,
			   size_t cap)
{
	struct pair p[VERIFY_SCAN_MAX];
	int np = 0;
	for (uint64_t key = o->key;
	     key <= last_key(c->s) && np < (int)o->count && np < VERIFY_SCAN_MAX; key++) {
		const char *v;
		uint32_t vlen;
		if (value_before(c, key, before, &v, &vlen))
			p[np++] = (struct pair){.key = key, .val = v, .vlen = vlen};
	}
	pairs_text(p, np, out, cap);
}

/* ---- the checks --------------------------------------------------------------------------- */

/* Reads return written values, SCAN results are well formed; writes and strong operations
 * have unique slots. Builds c->obs (each GET, each write, each key a SCAN covered, in op
 * order). */
static bool check_results(struct ck *c)
{
	const struct verify_slots_run *s = c->s;
	size_t nobs = 0; /* one per op, a SCAN's one per key it may cover */
	for (int i = 0; i < (int)s->n; i++)
		nobs += s->ops[i].op == PROTO_OP_SCAN ? last_key(s) + 1 : 1;
	if ((c->obs = zcalloc(nobs, sizeof *c->obs)) == NULL)
		return nomem(c);
	for (int i = 0; i < (int)s->n; i++) {
		const struct verify_sop *o = &s->ops[i];
		const struct verify_sop *rf = NULL;
		if (o->op == PROTO_OP_GET && !akey(s, o->key)) {
			rf = read_from(c, o->key, o->found, o->result, o->found ? o->rlen : 0);
			if (rf == &never_written)
				return failf(c,
					     "read of a value never written: session %" PRIu64
					     " seq "
					     "%" PRIu64 " got '%s'",
					     o->session, o->seq, o->result);
		}
		if (o->op == PROTO_OP_SCAN) {
			struct pair p[VERIFY_SCAN_MAX];
			int np;
			const char *bad = scan_decode(s, o, p, &np);
			if (bad)
				return failf(c,
					     "SCAN session %" PRIu64 " seq %" PRIu64
					     " (from key %" PRIu64 ", %" PRIu32
					     " keys) returned %s",
					     o->session, o->seq, o->key, o->count, bad);
			uint64_t end = scan_end(s, o, p, np);
			int j = 0;
			for (uint64_t key = o->key; key <= end; key++) {
				while (j < np && p[j].key < key)
					j++;
				bool found = j < np && p[j].key == key;
				if (akey(s, key))
					continue; /* (list semantics: the certificate's) */
				const struct verify_sop *w = read_from(
				    c, key, found, found ? p[j].val : NULL, found ? p[j].vlen : 0);
				if (w == &never_written)
					return failf(c,
						     "SCAN session %" PRIu64 " seq %" PRIu64
						     " returned key %" PRIu64
						     " = '%.*s', never written to it",
						     o->session, o->seq, key, (int)p[j].vlen,
						     p[j].val);
				c->obs[c->nobs++] = (struct obs){.o = o, .key = key, .rf = w};
			}
		} else {
			c->obs[c->nobs++] =
			    (struct obs){.o = o, .key = o->key, .write = is_write(o), .rf = rf};
		}
		bool slotted = !o->weak || !is_read(o);
		if (slotted && !o->has_slot)
			return failf(c,
				     "session %" PRIu64 " seq %" PRIu64 " completed without a slot",
				     o->session, o->seq);
		for (int j = i + 1; slotted && j < (int)s->n; j++)
			if (s->ops[j].has_slot && s->ops[j].slot == o->slot)
				return failf(c, "two commands at slot %" PRIu64, o->slot);
	}
	return true;
}

/* The certificate: a strong read returns exactly what the writes ordered before it left (the
 * latest write of its key; of the append key, its appends in slot order), and a strong SCAN
 * exactly the live keys from its key on in that state. */
static bool check_certificate(struct ck *c)
{
	const struct verify_slots_run *s = c->s;
	for (int i = 0; i < (int)s->n; i++) {
		const struct verify_sop *a = &s->ops[i];
		if (a->weak || a->op != PROTO_OP_GET)
			continue;
		const char *v = "";
		uint32_t vlen = 0;
		if (akey(s, a->key)) {
			value_before(c, a->key, a->slot, &v, &vlen);
			if (strcmp(v, a->found ? a->result : ""))
				return failf(
				    c,
				    "strong read session %" PRIu64 " seq %" PRIu64 " (slot %" PRIu64
				    ") of the append key returned '%s', the appends before "
				    "it make '%s'",
				    a->session, a->seq, a->slot, a->found ? a->result : "", v);
			continue;
		}
		int n = writes_before(c, a->key, a->slot);
		const struct verify_sop *want = n ? c->kw[a->key][n - 1] : NULL;
		bool want_found = want && want->op == PROTO_OP_PUT;
		if (a->found != want_found || (a->found && strcmp(a->result, want->val) != 0))
			return failf(
			    c,
			    "strong read session %" PRIu64 " seq %" PRIu64 " (slot %" PRIu64
			    ") returned '%s', the latest write before it left '%s' (slot %" PRIu64
			    ")",
			    a->session, a->seq, a->slot, a->found ? a->result : "",
			    want_found ? want->val : "", want ? want->slot : 0);
	}
	for (int i = 0; i < (int)s->n; i++) {
		const struct verify_sop *a = &s->ops[i];
		if (a->weak || a->op != PROTO_OP_SCAN)
			continue;
		struct pair p[VERIFY_SCAN_MAX];
		int np;
		scan_decode(s, a, p, &np); /* (well formed: check_results) */
		if (!scan_matches(c, a, p, np, a->slot)) {
			char got[160], want[160];
			pairs_text(p, np, got, sizeof got);
			scan_want_text(c, a, a->slot, want, sizeof want);
			return failf(c,
				     "strong SCAN session %" PRIu64 " seq %" PRIu64
				     " (slot %" PRIu64 ", from key %" PRIu64 ", %" PRIu32
				     " keys) returned '%s', the writes before it leave '%s'",
				     a->session, a->seq, a->slot, a->key, a->count, got, want);
		}
		c->res->scans_strong++;
	}
	return true;
}

/* A weak SCAN is answered from the executed state of one replica: the state of a prefix of the
 * log, which that replica had executed when it answered. So its result must be the SCAN of
 * the state after some prefix of the writes in slot order whose last write some replica had
 * executed by the time the SCAN completed (a replica executes in slot order, so the first
 * executions of the writes come in slot order too). How far behind it may be is the session
 * guarantees' business (check_sessions, per key). */
static bool check_weak_scans(struct ck *c)
{
	const struct verify_slots_run *s = c->s;
	for (int i = 0; i < (int)s->n; i++) {
		const struct verify_sop *a = &s->ops[i];
		if (!a->weak || a->op != PROTO_OP_SCAN)
			continue;
		struct pair p[VERIFY_SCAN_MAX];
		int np;
		scan_decode(s, a, p, &np);
		/* the prefixes reachable by a's completion: after writes[0..w), w <= hi */
		int hi = 0;
		for (int w = 0; w < c->nwrites; w++)
			if (c->writes[w]->exec_at && c->writes[w]->exec_at <= a->complete)
				hi = w + 1;
		bool match = false;
		/* newest first (where a weak SCAN usually is); a prefix ending with a write
		 * before the SCAN's first key leaves its keys as the one before */
		for (int w = hi; w >= 0 && !match; w--)
			if (w == 0 || w == hi || c->writes[w - 1]->key >= a->key)
				match =
				    scan_matches(c, a, p, np, w ? c->writes[w - 1]->slot + 1 : 0);
		if (!match) {
			char got[160], want[160];
			pairs_text(p, np, got, sizeof got);
			scan_want_text(c, a, hi ? c->writes[hi - 1]->slot + 1 : 0, want,
				       sizeof want);
			return failf(c,
				     "weak SCAN session %" PRIu64 " seq %" PRIu64
				     " (from key %" PRIu64 ", %" PRIu32
				     " keys) returned '%s': no prefix of the log executed by "
				     "its completion leaves that (the latest, %d writes: '%s')",
				     a->session, a->seq, a->key, a->count, got, hi, want);
		}
		c->res->scans_weak++;
	}
	return true;
}

/* Real time between conflicting strong operations; per session and key: monotonic writes,
 * read-your-writes, monotonic reads, writes-follow-reads (weak operations and each key a SCAN
 * covered included). */
static bool check_sessions(struct ck *c)
{
	const struct verify_slots_run *s = c->s;
	for (int i = 0; i < c->nobs; i++)
		c->nkobs[c->obs[i].key]++;
	for (uint64_t k = 0; k <= last_key(s); k++) {
		if ((c->kobs[k] = zcalloc((size_t)c->nkobs[k], sizeof *c->kobs[k])) == NULL)
			return nomem(c);
		c->fill[k] = 0;
	}
	for (int i = 0; i < c->nobs; i++)
		c->kobs[c->obs[i].key][c->fill[c->obs[i].key]++] = i;
	/* (pairs in the order of a loop over every i, then every j: the same first failure) */
	for (int i = 0; i < c->nobs; i++) {
		const struct obs *A = &c->obs[i];
		const struct verify_sop *a = A->o;
		for (int jj = 0; jj < c->nkobs[A->key]; jj++) {
			int j = c->kobs[A->key][jj];
			const struct obs *B = &c->obs[j];
			const struct verify_sop *b = B->o;
			if (i == j || a->complete >= b->invoke)
				continue; /* a completed before b was invoked, on one key */
			char note[48] = "";
			if (a->op == PROTO_OP_SCAN || b->op == PROTO_OP_SCAN)
				snprintf(note, sizeof note, " (key %" PRIu64 " of a SCAN)", A->key);
			/* per key, for conflicting commands (linearizability is local, and reads
			 * commute: a view change may replay commands that completed on the fast
			 * path in another order, but never two that conflict) */
			if (!a->weak && !b->weak && (A->write || B->write) && a->slot > b->slot)
				return failf(c,
					     "real time: slot %" PRIu64
					     " completed before slot %" PRIu64 " was invoked%s",
					     a->slot, b->slot, note);
			if (a->session != b->session || akey(s, A->key))
				continue; /* (the append key: its certificate says it all) */
			bool aw = A->write, bw = B->write;
			const struct verify_sop *ra = aw ? NULL : A->rf;
			if (aw && bw && a->slot > b->slot)
				return failf(c,
					     "monotonic writes: session %" PRIu64 " seq %" PRIu64
					     " ordered before seq %" PRIu64,
					     a->session, b->seq, a->seq);
			if (!aw && bw && ra && ra->slot > b->slot)
				return failf(c,
					     "writes follow reads: session %" PRIu64 " seq %" PRIu64
					     " ordered before the write seq %" PRIu64 " read%s",
					     a->session, b->seq, a->seq, note);
			if (bw)
				continue;
			/* b is a read: it must not go behind what the session wrote or saw */
			const struct verify_sop *rb = B->rf;
			uint64_t floor = aw ? a->slot : ra ? ra->slot : 0;
			bool floor_found = aw ? a->op == PROTO_OP_PUT : ra != NULL;
			uint64_t limit = b->weak ? UINT64_MAX : b->slot;
			if (!aw && ra == NULL)
				continue; /* a found nothing: no floor */
			bool behind = rb ? rb->slot < floor
					 : (floor_found && !del_between(c, A->key, floor, limit));
			if (behind)
				return failf(c,
					     "session %" PRIu64 ": read seq %" PRIu64
					     " returned '%s' (slot %" PRIu64
					     "), behind its seq %" PRIu64 " (slot %" PRIu64 ")%s",
					     a->session, b->seq, rb ? rb->val : "nothing",
					     rb ? rb->slot : 0, a->seq, floor, note);
		}
	}
	return true;
}

/* ---- stricter checks, for runs that allow them (verify_slots_run) ------------------------- */

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static bool slotted(const struct verify_sop *o)
{
	return !o->weak || !is_read(o);
}

/* Every slot from 0 to the highest holds one of the run's operations (nothing acknowledged was
 * lost, and no slot went to something else). */
static bool check_dense(struct ck *c)
{
	const struct verify_slots_run *s = c->s;
	uint64_t *slots = zcalloc(s->n, sizeof *slots);
	if (slots == NULL)
		return nomem(c);
	size_t ns = 0;
	for (size_t i = 0; i < s->n; i++)
		if (slotted(&s->ops[i]))
			slots[ns++] = s->ops[i].slot;
	qsort(slots, ns, sizeof *slots, u64_cmp);
	bool ok = true;
	for (size_t i = 0; i < ns && ok; i++)
		if (slots[i] != i)
			ok = failf(
			    c,
			    "slots are not dense: no operation at slot %zu (the next is at %" PRIu64
			    ")",
			    i, slots[i]);
	free(slots);
	return ok;
}

static int by_session_cmp(const void *a, const void *b)
{
	const struct verify_sop *x = *(const struct verify_sop *const *)a;
	const struct verify_sop *y = *(const struct verify_sop *const *)b;
	if (x->session != y->session)
		return x->session < y->session ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Each session's slotted operations are ordered in the order it issued them, whatever their
 * keys. */
static bool check_session_order(struct ck *c)
{
	const struct verify_slots_run *s = c->s;
	const struct verify_sop **v = zcalloc(s->n, sizeof *v);
	if (v == NULL)
		return nomem(c);
	size_t nv = 0;
	for (size_t i = 0; i < s->n; i++)
		if (slotted(&s->ops[i]))
			v[nv++] = &s->ops[i];
	qsort(v, nv, sizeof *v, by_session_cmp);
	bool ok = true;
	for (size_t i = 1; i < nv && ok; i++)
		if (v[i]->session == v[i - 1]->session && v[i]->slot <= v[i - 1]->slot)
			ok = failf(c,
				   "session %" PRIu64 ": seq %" PRIu64 " ordered at slot %" PRIu64
				   ", before an earlier command of the session (seq %" PRIu64
				   ", slot %" PRIu64 ")",
				   v[i]->session, v[i]->seq, v[i]->slot, v[i - 1]->seq,
				   v[i - 1]->slot);
	free(v);
	return ok;
}

struct tev {
	uint64_t t;
	const struct verify_sop *o;
};

static int tev_cmp(const void *a, const void *b)
{
	const struct tev *x = a, *y = b;
	return x->t < y->t ? -1 : x->t > y->t;
}

/* Strong operations of any keys: one that completed before another was invoked is ordered
 * before it. Not those a view change moved: commands that completed on the fast path and
 * commute (other keys, other sessions) may be replayed in another order, as linearizability,
 * which is local (per key), allows. */
static bool check_real_time_all(struct ck *c)
{
	const struct verify_slots_run *s = c->s;
	struct tev *inv = zcalloc(s->n, sizeof *inv), *cmp = zcalloc(s->n, sizeof *cmp);
	if (inv == NULL || cmp == NULL) {
		free(inv);
		free(cmp);
		return nomem(c);
	}
	size_t m = 0;
	for (size_t i = 0; i < s->n; i++)
		if (!s->ops[i].weak && !s->ops[i].moved) {
			inv[m] = (struct tev){s->ops[i].invoke, &s->ops[i]};
			cmp[m] = (struct tev){s->ops[i].complete, &s->ops[i]};
			m++;
		}
	qsort(inv, m, sizeof *inv, tev_cmp);
	qsort(cmp, m, sizeof *cmp, tev_cmp);
	uint64_t max_before = 0;
	bool any = false, ok = true;
	for (size_t a = 0, b = 0; a < m && ok; a++) {
		for (; b < m && cmp[b].t < inv[a].t; b++) {
			if (!any || cmp[b].o->slot > max_before)
				max_before = cmp[b].o->slot;
			any = true;
		}
		if (any && inv[a].o->slot <= max_before)
			ok = failf(c,
				   "real time: session %" PRIu64 " seq %" PRIu64 " (slot %" PRIu64
				   ") ordered before an operation that completed before it was "
				   "invoked (slot %" PRIu64 ")",
				   inv[a].o->session, inv[a].o->seq, inv[a].o->slot, max_before);
	}
	free(inv);
	free(cmp);
	return ok;
}

/* ---- the certificate ---------------------------------------------------------------------- */

enum verify_status verify_slots(const struct verify_slots_run *run, struct verify_slots_result *out)
{
	memset(out, 0, sizeof *out);
	if (run->nkeys == 0)
		return VERIFY_OK; /* (no key: no operation) */
	for (size_t i = 0; i < run->n; i++)
		if (run->ops[i].key > last_key(run)) {
			snprintf(out->first_violation, sizeof out->first_violation,
				 "operation %zu: key %" PRIu64 " is not one of the run's", i,
				 run->ops[i].key);
			return VERIFY_FAIL;
		}
	struct ck c;
	if (ck_init(&c, run, out) != 0) {
		out->nomem = true;
		snprintf(out->first_violation, sizeof out->first_violation, "out of memory");
		return VERIFY_UNKNOWN;
	}
	/* (the order decides which failure a run reports: the simulation's regression seeds name
	 * theirs) */
	bool ok = check_results(&c) && check_certificate(&c) && check_weak_scans(&c) &&
		  check_sessions(&c) && (!run->dense || check_dense(&c)) &&
		  (!run->session_order || check_session_order(&c)) &&
		  (!run->real_time_all_keys || check_real_time_all(&c));
	ck_free(&c);
	if (ok)
		return VERIFY_OK;
	return out->nomem ? VERIFY_UNKNOWN : VERIFY_FAIL;
}
