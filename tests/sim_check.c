/* tests/sim_check: the checks of one simulated run's history and replicas (tests/sim.h).
 *
 * The white-box checks use the slot where the replicas executed each command (every replica
 * reports each execution, and a command executes at one slot everywhere: checked as it runs),
 * which makes them exact: no search. A SCAN is checked as what it is, a read of every key of
 * the range it covered (from its first key to the last one it returned, or to the last key
 * when it returned fewer than it asked for: then it saw every live key from its first on). */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/sim.h"
#include "verify/verify.h"

bool sim_failf(struct sim *s, const char *fmt, ...)
{
	if (s->why[0] == 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(s->why, sizeof s->why, fmt, ap);
		va_end(ap);
	}
	return false;
}

static bool is_write(const struct sim_op *o)
{
	return o->op == PROTO_OP_PUT || o->op == PROTO_OP_DEL || o->op == PROTO_OP_APPEND;
}

static bool is_read(const struct sim_op *o)
{
	return o->op == PROTO_OP_GET || o->op == PROTO_OP_SCAN;
}

static bool akey(const struct sim *s, uint64_t key)
{
	return key == s->cfg.nkeys; /* (only curp writes it) */
}

static bool ok_result(const struct sim_op *o)
{
	return o->done && (o->res == SESSION_OK || o->res == SESSION_NOT_FOUND);
}

/* ---- SCAN results ------------------------------------------------------------------------ */

#define SIM_SCAN_MAX 64 /* pairs a SCAN result may hold here (its count is at most 16) */

struct pair {
	uint64_t key;
	const char *val; /* into the op's result */
	uint32_t vlen;
};

/* The highest key of the run. */
static uint64_t last_key(const struct sim *s)
{
	return s->cfg.protocol == CONF_PROTO_CURP ? s->cfg.nkeys : s->cfg.nkeys - 1;
}

/* Decodes a SCAN's result into p[] (*np pairs). Returns NULL, or what is wrong with it: keys
 * of 8 bytes, ascending, from the SCAN's key on and among the run's, no more than it asked
 * for. */
static const char *scan_decode(const struct sim *s, const struct sim_op *o, struct pair *p, int *np)
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
		if (*np >= (int)o->count || *np >= SIM_SCAN_MAX)
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
static uint64_t scan_end(const struct sim *s, const struct sim_op *o, const struct pair *p, int np)
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

void sim_scan_text(const struct sim *s, const struct sim_op *o, char *out, size_t cap)
{
	struct pair p[SIM_SCAN_MAX];
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
	const struct sim_op *o;
	uint64_t key;
	bool write;		 /* o writes key */
	const struct sim_op *rf; /* a read: the PUT whose value it returned (NULL: none) */
};

struct ck {
	struct sim *s;
	const struct sim_op **puts; /* sorted by value: what a read returned comes from */
	int nputs;
	/* per key, its writes in slot order (every write has a slot once the run passed the
	 * first checks) */
	const struct sim_op **kw[SIM_MAX_KEYS + 1];
	int nkw[SIM_MAX_KEYS + 1];
	const struct sim_op **writes; /* every write in slot order */
	int nwrites;
	struct obs *obs;
	int nobs;
	int *kobs[SIM_MAX_KEYS + 1]; /* per key, the indexes of its obs, ascending */
	int nkobs[SIM_MAX_KEYS + 1];
	char *list; /* scratch: the append key's list */
	size_t list_cap;
};

/* What the read of a value no write produced points at (distinct from any op and from NULL). */
static const struct sim_op never_written;

static int put_cmp(const void *a, const void *b)
{
	return strcmp((*(const struct sim_op *const *)a)->val,
		      (*(const struct sim_op *const *)b)->val);
}

static int slot_cmp(const void *a, const void *b)
{
	uint64_t x = (*(const struct sim_op *const *)a)->slot;
	uint64_t y = (*(const struct sim_op *const *)b)->slot;
	return x < y ? -1 : x > y;
}

/* The PUT of key whose value a read returned: NULL if it found nothing, &never_written if no
 * PUT of that key wrote it (values are unique in a run). */
static const struct sim_op *read_from(const struct ck *c, uint64_t key, bool found, const char *v,
				      uint32_t vlen)
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

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);
	if (p == NULL)
		abort(); /* (a test) */
	return p;
}

static void ck_init(struct ck *c, struct sim *s)
{
	memset(c, 0, sizeof *c);
	c->s = s;
	c->puts = xcalloc((size_t)s->nops, sizeof *c->puts);
	c->writes = xcalloc((size_t)s->nops, sizeof *c->writes);
	for (int i = 0; i < s->nops; i++) {
		const struct sim_op *o = &s->ops[i];
		if (o->op == PROTO_OP_PUT)
			c->puts[c->nputs++] = o;
		if (is_write(o) && o->key <= SIM_MAX_KEYS) {
			c->writes[c->nwrites++] = o;
			c->nkw[o->key]++;
		}
	}
	qsort(c->puts, (size_t)c->nputs, sizeof *c->puts, put_cmp);
	qsort(c->writes, (size_t)c->nwrites, sizeof *c->writes, slot_cmp);
	int fill[SIM_MAX_KEYS + 1] = {0};
	for (int k = 0; k <= SIM_MAX_KEYS; k++)
		c->kw[k] = xcalloc((size_t)c->nkw[k], sizeof *c->kw[k]);
	for (int i = 0; i < c->nwrites; i++) /* (in slot order: so is each key's list) */
		c->kw[c->writes[i]->key][fill[c->writes[i]->key]++] = c->writes[i];
	c->list_cap = SIM_ELEM * (size_t)c->nkw[s->cfg.nkeys] + 1;
	c->list = xcalloc(c->list_cap, 1);
}

static void ck_free(struct ck *c)
{
	free(c->puts);
	free(c->writes);
	for (int k = 0; k <= SIM_MAX_KEYS; k++) {
		free(c->kw[k]);
		free(c->kobs[k]);
	}
	free(c->obs);
	free(c->list);
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
		const struct sim_op *d = c->kw[key][i];
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
		for (int i = 0; i < n; i++)
			memcpy(c->list + SIM_ELEM * i, c->kw[key][i]->val, SIM_ELEM);
		c->list[SIM_ELEM * n] = 0;
		*v = c->list;
		*vlen = (uint32_t)(SIM_ELEM * n);
		return n > 0;
	}
	if (n == 0 || c->kw[key][n - 1]->op != PROTO_OP_PUT)
		return false;
	*v = c->kw[key][n - 1]->val;
	*vlen = (uint32_t)strlen(*v);
	return true;
}

/* Does the SCAN o's result p[np] equal the SCAN of the state just before slot `before`? */
static bool scan_matches(struct ck *c, const struct sim_op *o, const struct pair *p, int np,
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
static void scan_want_text(struct ck *c, const struct sim_op *o, uint64_t before, char *out,
			   size_t cap)
{
	struct pair p[SIM_SCAN_MAX];
	int np = 0;
	for (uint64_t key = o->key;
	     key <= last_key(c->s) && np < (int)o->count && np < SIM_SCAN_MAX; key++) {
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
	struct sim *s = c->s;
	size_t nobs = 0; /* one per op, a SCAN's one per key it may cover */
	for (int i = 0; i < s->nops; i++)
		nobs += s->ops[i].op == PROTO_OP_SCAN ? last_key(s) + 1 : 1;
	c->obs = xcalloc(nobs, sizeof *c->obs);
	for (int i = 0; i < s->nops; i++) {
		const struct sim_op *o = &s->ops[i];
		const struct sim_op *rf = NULL;
		if (o->op == PROTO_OP_GET && !akey(s, o->key)) {
			rf = read_from(c, o->key, o->found, o->result, o->found ? o->rlen : 0);
			if (rf == &never_written)
				return sim_failf(s,
						 "read of a value never written: session %d seq "
						 "%" PRIu64 " got '%s'",
						 o->sess, o->seq, o->result);
		}
		if (o->op == PROTO_OP_SCAN) {
			struct pair p[SIM_SCAN_MAX];
			int np;
			const char *bad = scan_decode(s, o, p, &np);
			if (bad)
				return sim_failf(s,
						 "SCAN session %d seq %" PRIu64
						 " (from key %" PRIu64 ", %" PRIu32
						 " keys) returned %s",
						 o->sess, o->seq, o->key, o->count, bad);
			uint64_t end = scan_end(s, o, p, np);
			int j = 0;
			for (uint64_t key = o->key; key <= end; key++) {
				while (j < np && p[j].key < key)
					j++;
				bool found = j < np && p[j].key == key;
				if (akey(s, key))
					continue; /* (list semantics: the certificate's) */
				const struct sim_op *w = read_from(
				    c, key, found, found ? p[j].val : NULL, found ? p[j].vlen : 0);
				if (w == &never_written)
					return sim_failf(
					    s,
					    "SCAN session %d seq %" PRIu64 " returned key %" PRIu64
					    " = '%.*s', never written to it",
					    o->sess, o->seq, key, (int)p[j].vlen, p[j].val);
				c->obs[c->nobs++] = (struct obs){.o = o, .key = key, .rf = w};
			}
		} else {
			c->obs[c->nobs++] =
			    (struct obs){.o = o, .key = o->key, .write = is_write(o), .rf = rf};
		}
		bool slotted = !o->weak || !is_read(o);
		if (slotted && !o->has_slot)
			return sim_failf(s, "session %d seq %" PRIu64 " completed without a slot",
					 o->sess, o->seq);
		for (int j = i + 1; slotted && j < s->nops; j++)
			if (s->ops[j].has_slot && s->ops[j].slot == o->slot)
				return sim_failf(s, "two commands at slot %" PRIu64, o->slot);
	}
	return true;
}

/* The certificate: a strong read returns exactly what the writes ordered before it left (the
 * latest write of its key; of the append key, its appends in slot order), and a strong SCAN
 * exactly the live keys from its key on in that state. */
static bool check_certificate(struct ck *c)
{
	struct sim *s = c->s;
	for (int i = 0; i < s->nops; i++) {
		const struct sim_op *a = &s->ops[i];
		if (a->weak || a->op != PROTO_OP_GET)
			continue;
		const char *v = "";
		uint32_t vlen = 0;
		if (akey(s, a->key)) {
			value_before(c, a->key, a->slot, &v, &vlen);
			if (strcmp(v, a->found ? a->result : ""))
				return sim_failf(
				    s,
				    "strong read session %d seq %" PRIu64 " (slot %" PRIu64
				    ") of the append key returned '%s', the appends before "
				    "it make '%s'",
				    a->sess, a->seq, a->slot, a->found ? a->result : "", v);
			continue;
		}
		int n = writes_before(c, a->key, a->slot);
		const struct sim_op *want = n ? c->kw[a->key][n - 1] : NULL;
		bool want_found = want && want->op == PROTO_OP_PUT;
		if (a->found != want_found || (a->found && strcmp(a->result, want->val) != 0))
			return sim_failf(
			    s,
			    "strong read session %d seq %" PRIu64 " (slot %" PRIu64
			    ") returned '%s', the latest write before it left '%s' (slot %" PRIu64
			    ")",
			    a->sess, a->seq, a->slot, a->found ? a->result : "",
			    want_found ? want->val : "", want ? want->slot : 0);
	}
	for (int i = 0; i < s->nops; i++) {
		const struct sim_op *a = &s->ops[i];
		if (a->weak || a->op != PROTO_OP_SCAN)
			continue;
		struct pair p[SIM_SCAN_MAX];
		int np;
		scan_decode(s, a, p, &np); /* (well formed: check_results) */
		if (!scan_matches(c, a, p, np, a->slot)) {
			char got[160], want[160];
			pairs_text(p, np, got, sizeof got);
			scan_want_text(c, a, a->slot, want, sizeof want);
			return sim_failf(s,
					 "strong SCAN session %d seq %" PRIu64 " (slot %" PRIu64
					 ", from key %" PRIu64 ", %" PRIu32
					 " keys) returned '%s', the writes before it leave '%s'",
					 a->sess, a->seq, a->slot, a->key, a->count, got, want);
		}
		s->scans_strong++;
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
	struct sim *s = c->s;
	for (int i = 0; i < s->nops; i++) {
		const struct sim_op *a = &s->ops[i];
		if (!a->weak || a->op != PROTO_OP_SCAN)
			continue;
		struct pair p[SIM_SCAN_MAX];
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
			return sim_failf(s,
					 "weak SCAN session %d seq %" PRIu64 " (from key %" PRIu64
					 ", %" PRIu32
					 " keys) returned '%s': no prefix of the log executed by "
					 "its completion leaves that (the latest, %d writes: '%s')",
					 a->sess, a->seq, a->key, a->count, got, hi, want);
		}
		s->scans_weak++;
	}
	return true;
}

/* Real time between conflicting strong operations; per session and key: monotonic writes,
 * read-your-writes, monotonic reads, writes-follow-reads (weak operations and each key a SCAN
 * covered included). */
static bool check_sessions(struct ck *c)
{
	struct sim *s = c->s;
	int fill[SIM_MAX_KEYS + 1] = {0};
	for (int i = 0; i < c->nobs; i++)
		c->nkobs[c->obs[i].key]++;
	for (int k = 0; k <= SIM_MAX_KEYS; k++)
		c->kobs[k] = xcalloc((size_t)c->nkobs[k], sizeof *c->kobs[k]);
	for (int i = 0; i < c->nobs; i++)
		c->kobs[c->obs[i].key][fill[c->obs[i].key]++] = i;
	/* (pairs in the order of a loop over every i, then every j: the same first failure) */
	for (int i = 0; i < c->nobs; i++) {
		const struct obs *A = &c->obs[i];
		const struct sim_op *a = A->o;
		for (int jj = 0; jj < c->nkobs[A->key]; jj++) {
			int j = c->kobs[A->key][jj];
			const struct obs *B = &c->obs[j];
			const struct sim_op *b = B->o;
			if (i == j || a->complete >= b->invoke)
				continue; /* a completed before b was invoked, on one key */
			char note[48] = "";
			if (a->op == PROTO_OP_SCAN || b->op == PROTO_OP_SCAN)
				snprintf(note, sizeof note, " (key %" PRIu64 " of a SCAN)", A->key);
			/* per key, for conflicting commands (linearizability is local, and reads
			 * commute: a view change may replay commands that completed on the fast
			 * path in another order, but never two that conflict) */
			if (!a->weak && !b->weak && (A->write || B->write) && a->slot > b->slot)
				return sim_failf(s,
						 "real time: slot %" PRIu64
						 " completed before slot %" PRIu64 " was invoked%s",
						 a->slot, b->slot, note);
			if (a->sess != b->sess || akey(s, A->key))
				continue; /* (the append key: its certificate says it all) */
			bool aw = A->write, bw = B->write;
			const struct sim_op *ra = aw ? NULL : A->rf;
			if (aw && bw && a->slot > b->slot)
				return sim_failf(s,
						 "monotonic writes: session %d seq %" PRIu64
						 " ordered before seq %" PRIu64,
						 a->sess, b->seq, a->seq);
			if (!aw && bw && ra && ra->slot > b->slot)
				return sim_failf(s,
						 "writes follow reads: session %d seq %" PRIu64
						 " ordered before the write seq %" PRIu64 " read%s",
						 a->sess, b->seq, a->seq, note);
			if (bw)
				continue;
			/* b is a read: it must not go behind what the session wrote or saw */
			const struct sim_op *rb = B->rf;
			uint64_t floor = aw ? a->slot : ra ? ra->slot : 0;
			bool floor_found = aw ? a->op == PROTO_OP_PUT : ra != NULL;
			uint64_t limit = b->weak ? UINT64_MAX : b->slot;
			if (!aw && ra == NULL)
				continue; /* a found nothing: no floor */
			bool behind = rb ? rb->slot < floor
					 : (floor_found && !del_between(c, A->key, floor, limit));
			if (behind)
				return sim_failf(
				    s,
				    "session %d: read seq %" PRIu64 " returned '%s' (slot %" PRIu64
				    "), behind its seq %" PRIu64 " (slot %" PRIu64 ")%s",
				    a->sess, b->seq, rb ? rb->val : "nothing", rb ? rb->slot : 0,
				    a->seq, floor, note);
		}
	}
	return true;
}

/* The white-box checks (the order decides which failure a run reports: kept as it was). */
static bool check_slots(struct sim *s)
{
	struct ck c;
	ck_init(&c, s);
	bool ok = check_results(&c) && check_certificate(&c) && check_weak_scans(&c) &&
		  check_sessions(&c);
	ck_free(&c);
	return ok;
}

static bool check_verified(struct sim *s);

bool sim_check_history(struct sim *s)
{
	/* every op completed with a real answer (no leader faults: nothing may time out) */
	for (int i = 0; i < s->nops; i++)
		if (!ok_result(&s->ops[i]))
			return sim_failf(s, "op %d (session %d seq %" PRIu64 ") ended %d", i + 1,
					 s->ops[i].sess, s->ops[i].seq, s->ops[i].res);
#ifndef CURPKV_SIM_BLACKBOX
	if (!check_slots(s))
		return false;
#else
	(void)check_slots;
#endif
	return check_verified(s);
}

/* The bytes of a NUL-terminated string in lowercase hex (the history's format), allocated. */
static char *hexdup(const char *b)
{
	static const char digits[] = "0123456789abcdef";
	size_t n = strlen(b);
	char *x = malloc(2 * n + 1);
	if (x == NULL)
		abort();
	for (size_t k = 0; k < n; k++) {
		x[2 * k] = digits[(unsigned char)b[k] >> 4];
		x[2 * k + 1] = digits[(unsigned char)b[k] & 15];
	}
	x[2 * n] = 0;
	return x;
}

static struct verify_op history_op(const struct sim_op *o, int line)
{
	struct verify_op v = {.session = (uint64_t)o->sess,
			      .seq = o->seq,
			      .kind = o->op == PROTO_OP_GET	 ? VERIFY_GET
				      : o->op == PROTO_OP_PUT	 ? VERIFY_PUT
				      : o->op == PROTO_OP_APPEND ? VERIFY_APPEND
								 : VERIFY_DEL,
			      .invoke_ns = o->invoke,
			      .complete_ns = o->complete,
			      .status = VERIFY_OK,
			      .line = line}; /* the checkers' "line": the -v listing's op */
	char hex[40];
	snprintf(hex, sizeof hex, "%016" PRIx64, o->key);
	v.key = strdup(hex);
	if (v.key == NULL)
		abort();
	if (o->op == PROTO_OP_PUT || o->op == PROTO_OP_APPEND)
		v.value = hexdup(o->val);
	if (o->op == PROTO_OP_GET && o->found)
		v.result = hexdup(o->result);
	return v;
}

/* The checks of the recorded history alone (verify/): what a user's history file gets. SCANs
 * are not in it (the checkers are per key: check_slots checks them). */
static bool check_verified(struct sim *s)
{
	/* per-key linearizability of the strong ops and the weak writes (each taking effect
	 * between its invocation and the moment its slot was known) */
	struct verify_history vh = {0};
	for (int i = 0; i < s->nops; i++) {
		const struct sim_op *o = &s->ops[i];
		if ((o->weak && o->op == PROTO_OP_GET) || o->op == PROTO_OP_SCAN)
			continue;
		struct verify_op v = history_op(o, i + 1);
		if (o->weak)
			v.complete_ns = o->ordered_at;
		if (verify_add(&vh, &v) != 0)
			abort();
	}
	struct verify_result vr;
	enum verify_status st = verify_linearizable(&vh, 2000000, &vr);
	struct verify_append_result ar;
	enum verify_status ast = verify_appends(&vh, &ar);
	verify_free(&vh);
	if (st == VERIFY_FAIL)
		return sim_failf(s, "not linearizable: %s", vr.first_violation);
	if (ast != VERIFY_OK)
		return sim_failf(s, "appends: %s", ar.first_violation);
	s->appends += ar.appends;
	s->append_reads += ar.reads;
	s->lin_unknown += vr.keys_unknown;
	/* the causal checker over every operation, when sessions ran one at a time (it cannot
	 * order a pipelined session's overlapping operations: those runs keep the per-key
	 * session checks of check_sessions); not for curpht, whose guarantees are per key
	 * (docs/protocols.md, "curpht") */
	if (s->cfg.window == 1 && s->cfg.protocol != CONF_PROTO_CURPHT) {
		for (int i = 0; i < s->nops; i++) {
			const struct sim_op *o = &s->ops[i];
			if (akey(s, o->key) || o->op == PROTO_OP_SCAN)
				continue; /* (list semantics: the append check's; SCANs: above) */
			struct verify_op v = history_op(o, i + 1);
			v.weak = o->weak;
			if (verify_add(&vh, &v) != 0)
				abort();
		}
		struct verify_causal_result cr;
		enum verify_status cs = verify_causal(&vh, &cr);
		verify_free(&vh);
		if (cs != VERIFY_OK)
			return sim_failf(s, "causal check: %s", cr.first_violation);
		s->causal_checked++;
	}
	return true;
}

bool sim_check_replicas(struct sim *s)
{
	struct core_stats lst;
	int L = s->h.leader;
	core_get_stats(s->h.cores[L], &lst);
#ifdef CURPKV_SIM_BLACKBOX
	return true; /* (the histories only) */
#endif
	/* exactly once: nothing executes more often than it was submitted */
	uint64_t slotted = 0;
	for (int i = 0; i < s->nops; i++)
		slotted += !(s->ops[i].weak && is_read(&s->ops[i]));
	if (lst.executed > slotted)
		return sim_failf(s, "%" PRIu64 " executions of %" PRIu64 " commands", lst.executed,
				 slotted);
	uint64_t d = core_digest(s->h.cores[L]);
	for (int r = 0; r < s->cfg.n; r++) {
		struct core_stats st;
		core_get_stats(s->h.cores[r], &st);
		if (core_digest(s->h.cores[r]) != d || st.exec_index != lst.exec_index)
			return sim_failf(s,
					 "replica %d diverged: exec %" PRIu64 " vs %" PRIu64
					 ", digest %016" PRIx64 " vs %016" PRIx64,
					 r, st.exec_index, lst.exec_index,
					 core_digest(s->h.cores[r]), d);
		if (st.expire_floor != lst.expire_floor) /* (client leases: the same EXPIREs) */
			return sim_failf(s,
					 "replica %d diverged: expired-client floor %" PRIu64
					 " vs %" PRIu64,
					 r, st.expire_floor, lst.expire_floor);
	}
	return true;
}
