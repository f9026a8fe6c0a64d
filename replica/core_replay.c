/* replica/core_replay: the order in which a new leader appends the commands it recovers from
 * witness records (PROTOCOL.md 7.2 step 3). docs/recovery.md "Replay order" gives the argument;
 * in short, the order must keep everything a client can have observed of those commands:
 *
 *  1. session order: a command after its session's earlier weak writes, a strong command also
 *     after its session's earlier strong writes (the old leader ordered nothing earlier);
 *  2. real time: x (strong, completed on the fast path) before every command sent after x
 *     completed, on x's key or of x's session;
 *  3. what a fast-path strong GET read: the latest write on its key before it is its read_dep R
 *     when R is recovered too, and none of the recovered writes when R is not.
 *
 * The witnesses of a fast-path command x (Q-1 of them, plus the old leader) recorded it before
 * anything sent after x completed, and each stored the read_dep it answered; at least
 * T = ceil(f/2)+1 of any majority are among them (the same count that makes x a candidate). So
 * "T holders of x recorded x first (or never saw y)" is taken as x -> y, and "T holders of GET
 * g agree on its read_dep" as g's read. Rules 1-3 become edges of a graph, rule 3 a gate per key
 * (after R no other recovered write of the key until the GETs that read R are placed), and the
 * order is a topological sort of it, ties broken by cid. Commands that never completed may give
 * evidence that contradicts the rest: then the command placed is the one that goes against the
 * evidence of the fewest commands (least_against; counted), never against session order.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "replica/core_int.h"

#define NONE  (-1) /* a GET that read nothing we can place (not a fast-path completion) */
#define START (-2) /* a GET that read no recovered write: before every recovered write */

struct rnode {
	uint32_t key; /* key group */
	bool get;     /* strong GET */
	bool write;   /* PUT, DEL, APPEND (weak or strong) */
	bool placed;
	bool dropped;
	uint32_t sess_lo; /* the first candidate of its session */
	uint32_t valid;	  /* strong: the replicas whose ok record is evidence (fast_holders) */
	int attach;	  /* GET: the candidate whose value it read, START or NONE */
	uint32_t npred;	  /* predecessors not placed yet (rules 1 and 3) */
	uint32_t nsoft;	  /* rule 2 predecessors not placed yet */
	uint32_t nget;	  /* write: attached GETs not placed yet */
	uint32_t e_lo, e_hi;
};

struct gate {
	int owner;     /* the last recovered write placed on the key (START before any) */
	uint32_t open; /* GETs attached to it not placed yet: no other write of the key before */
};

/* soft: a rule 2 edge. Arrival evidence is what a completion leaves, but not only completions
 * leave it (a command recorded first that completed later still counts): when the evidence
 * contradicts itself, these edges go first. */
struct edge {
	uint32_t from, to;
	bool soft;
};

static const struct vc_item *first(struct vc_item *const *rv, const struct replay_cand *x)
{
	return rv[x->lo];
}

static int key_cmp(const struct vc_item *a, const struct vc_item *b)
{
	if (a->klen != b->klen)
		return a->klen < b->klen ? -1 : 1;
	return memcmp(kvs_key(&a->kv, a->klen, a->vlen), kvs_key(&b->kv, b->klen, b->vlen),
		      a->klen);
}

/* x's record made at replica r (ok or not), NULL if r holds none. */
static const struct vc_item *record_at(struct vc_item *const *rv, const struct replay_cand *x,
				       int r)
{
	for (uint32_t i = x->lo; i < x->hi; i++)
		if (rv[i]->from == r)
			return rv[i];
	return NULL;
}

/* Rule 2's evidence: how many replicas of `valid` (those whose ok record of strong x could have
 * been a fast-path answer: fast_holders) recorded x before y, or hold no record of y. */
static int first_count(struct vc_item *const *rv, const struct replay_cand *x,
		       const struct replay_cand *y, uint32_t valid)
{
	int n = 0, last = -1;
	for (uint32_t i = x->lo; i < x->hi; i++) {
		const struct vc_item *rx = rv[i];
		if (!rx->ok || rx->from == last || !(valid & (1u << rx->from)))
			continue;
		last = rx->from;
		const struct vc_item *ry = record_at(rv, y, rx->from);
		if (ry == NULL || rx->slot < ry->slot)
			n++;
	}
	return n;
}

/* Rule 3: the read_dep that at least `threshold` ok holders of GET g answered with; found is
 * false if no value has that many (g cannot have completed on the fast path). */
static struct proto_cid agreed_read(struct vc_item *const *rv, const struct replay_cand *g,
				    int threshold, uint32_t valid, bool *found)
{
	*found = false;
	for (uint32_t i = g->lo; i < g->hi; i++) {
		if (!rv[i]->ok || !(valid & (1u << rv[i]->from)))
			continue;
		struct proto_cid d = rv[i]->read_dep;
		int n = 0, last = -1;
		for (uint32_t k = g->lo; k < g->hi; k++) {
			const struct vc_item *o = rv[k];
			bool counts = o->ok && (valid & (1u << o->from));
			if (counts && o->from != last && o->read_dep.client == d.client &&
			    o->read_dep.seq == d.seq)
				n++;
			if (counts)
				last = o->from;
		}
		if (n >= threshold) {
			*found = true;
			return d;
		}
	}
	return (struct proto_cid){0, 0};
}

/* The candidate of cid (cand sorted by cid), or -1. */
static int find_cand(struct vc_item *const *rv, const struct replay_cand *cand, uint32_t nc,
		     struct proto_cid cid)
{
	uint32_t lo = 0, hi = nc;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		const struct proto_cid *m = &first(rv, &cand[mid])->cid;
		if (m->client == cid.client && m->seq == cid.seq)
			return (int)mid;
		if (m->client < cid.client || (m->client == cid.client && m->seq < cid.seq))
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

static int edge_cmp(const void *a, const void *b)
{
	const struct edge *x = a, *y = b;
	if (x->from != y->from)
		return x->from < y->from ? -1 : 1;
	if (x->to != y->to)
		return x->to < y->to ? -1 : 1;
	return (int)x->soft - (int)y->soft; /* a hard edge first: it wins over a soft twin */
}

static int edge_to_cmp(const void *a, const void *b)
{
	const struct edge *x = a, *y = b;
	if (x->to != y->to)
		return x->to < y->to ? -1 : 1;
	return (x->from > y->from) - (x->from < y->from);
}

struct edges {
	struct edge *v;
	uint32_t n, cap;
	bool nomem;
};

static void add_edge(struct edges *e, uint32_t from, uint32_t to, bool soft)
{
	if (e->n == e->cap) {
		uint32_t ncap = e->cap ? e->cap * 2 : 64;
		struct edge *nv = realloc(e->v, ncap * sizeof *nv);
		if (nv == NULL) {
			e->nomem = true;
			return;
		}
		e->v = nv;
		e->cap = ncap;
	}
	e->v[e->n++] = (struct edge){from, to, soft};
}

/* Key groups: candidates of one key share an id. */
struct keyref {
	const struct vc_item *it;
	uint32_t idx;
};

static int keyref_cmp(const void *a, const void *b)
{
	const struct keyref *x = a, *y = b;
	int c = key_cmp(x->it, y->it);
	return c ? c : (x->idx > y->idx) - (x->idx < y->idx);
}

/* Rule 3: has GET i's session an earlier recovered write of i's key? */
static bool own_write_before(const struct rnode *nodes, const struct replay_cand *cand, uint32_t i)
{
	for (uint32_t k = nodes[i].sess_lo; k < i; k++)
		if (!nodes[k].dropped && nodes[k].write && nodes[k].key == nodes[i].key)
			return true;
	(void)cand;
	return false;
}

/* Rule 1: must candidate k (an earlier one of the same session) precede i? */
static bool session_pred(const struct rnode *nodes, const struct replay_cand *cand, uint32_t k,
			 uint32_t i)
{
	if (nodes[k].dropped || !nodes[k].write)
		return false;
	return cand[k].weak || !cand[i].weak;
}

/* The replicas whose ok record of strong candidate i could have been one of a fast-path
 * completion's answers (F4): the client completes only on answers that list every weak write of
 * its session it has not heard executed, and a recovered one was executed nowhere, so each
 * earlier recovered weak write of i's session must be recorded there before i. Only these
 * records are evidence (rules 2 and 3); the others are answers the client could not use. */
static uint32_t fast_holders(struct vc_item *const *rv, const struct replay_cand *cand,
			     const struct rnode *nodes, uint32_t i)
{
	uint32_t valid = 0;
	for (uint32_t h = cand[i].lo; h < cand[i].hi; h++) {
		const struct vc_item *rx = rv[h];
		if (!rx->ok || rx->from < 0 || rx->from >= 32)
			continue;
		bool covered = true;
		for (uint32_t k = nodes[i].sess_lo; k < i && covered; k++) {
			if (!cand[k].weak || nodes[k].dropped)
				continue;
			const struct vc_item *rk = record_at(rv, &cand[k], rx->from);
			covered = rk != NULL && rk->slot < rx->slot;
		}
		if (covered)
			valid |= 1u << rx->from;
	}
	return valid;
}

/* How strictly a candidate must be ready (relaxed only when nothing is). */
enum strict { ALL = 0, NO_SOFT, NO_LOOKAHEAD, NO_GATE, SESSION_ONLY };

/* Rule 3's lookahead for write w: would placing w now leave a GET that read it waiting for
 * another write of its key (directly or through its other predecessors)? That write would
 * then have to land between w and the GET, which the gate forbids. A depth-first walk over the
 * unplaced predecessors of w's GETs (rule 2's edges only at level ALL). */
struct walk {
	uint32_t *stack, *mark;
	uint32_t epoch;
	const uint32_t *pred_lo, *pred_hi;
	const struct edge *preds; /* edges sorted by target: preds[k].from -> preds[k].to */
};

static bool lookahead_ok(uint32_t w, const struct rnode *nodes, const struct edge *ev,
			 enum strict level, struct walk *wk)
{
	const struct rnode *x = &nodes[w];
	for (uint32_t e = x->e_lo; e < x->e_hi; e++) {
		const struct rnode *g = &nodes[ev[e].to];
		if (!g->get || g->attach != (int)w || g->placed || g->dropped)
			continue;
		wk->epoch++;
		uint32_t sp = 0;
		wk->stack[sp++] = ev[e].to;
		wk->mark[ev[e].to] = wk->epoch;
		while (sp > 0) {
			uint32_t v = wk->stack[--sp];
			for (uint32_t k = wk->pred_lo[v]; k < wk->pred_hi[v]; k++) {
				uint32_t u = wk->preds[k].from;
				if (u == w || nodes[u].placed || nodes[u].dropped ||
				    wk->mark[u] == wk->epoch || (wk->preds[k].soft && level != ALL))
					continue;
				if (nodes[u].write && nodes[u].key == x->key)
					return false;
				wk->mark[u] = wk->epoch;
				wk->stack[sp++] = u;
			}
		}
	}
	return true;
}

static bool ready(uint32_t i, const struct rnode *nodes, const struct replay_cand *cand,
		  const struct gate *gates, const struct edge *ev, enum strict level,
		  struct walk *wk)
{
	const struct rnode *x = &nodes[i];
	if (x->placed || x->dropped)
		return false;
	if (level == SESSION_ONLY) {
		for (uint32_t k = x->sess_lo; k < i; k++)
			if (!nodes[k].placed && session_pred(nodes, cand, k, i))
				return false;
		return true;
	}
	if (x->npred > 0 || (level == ALL && x->nsoft > 0))
		return false;
	if (!x->write || level >= NO_GATE)
		return true;
	if (gates[x->key].open > 0)
		return false;
	if (level >= NO_LOOKAHEAD)
		return true;
	/* a write some GETs read goes only when no write of their key must still come between
	 * it and them: then the gate it opens closes again (lookahead_ok) */
	return lookahead_ok(i, nodes, ev, level, wk);
}

/* The weight of going against the evidence of the commands placing i now would: its rule 2
 * predecessors not placed, the GETs its key's gate waits for and those the lookahead protects
 * (a write), its own read (a GET whose read edge is not satisfied). Each is then taken as a
 * command that did not complete on the fast path: 1 each, and more than all the others
 * together for one its session declared done (replay_cand.completed). */
static uint64_t against(uint32_t i, const struct rnode *nodes, const struct replay_cand *cand,
			uint32_t nc, const struct gate *gates, const struct edge *ev,
			struct walk *wk)
{
	const struct rnode *x = &nodes[i];
	bool protect = x->write && x->nget > 0 && !lookahead_ok(i, nodes, ev, ALL, wk);
	wk->epoch++; /* (after the lookahead's walk: marks below count each command once) */
	uint64_t n = 0;
#define AGAINST(o)                                                                                 \
	do {                                                                                       \
		if (wk->mark[o] != wk->epoch) {                                                    \
			wk->mark[o] = wk->epoch;                                                   \
			n += cand[o].completed ? (uint64_t)nc + 1 : 1;                             \
		}                                                                                  \
	} while (0)
	for (uint32_t k = wk->pred_lo[i]; k < wk->pred_hi[i]; k++) {
		uint32_t u = wk->preds[k].from;
		if (nodes[u].placed || nodes[u].dropped)
			continue;
		if (wk->preds[k].soft)
			AGAINST(u);
		else
			AGAINST(i); /* (session order is met: an unplaced hard edge is its read) */
	}
	if (x->write) {
		const struct gate *g = &gates[x->key];
		for (uint32_t k = 0; k < nc; k++) {
			const struct rnode *y = &nodes[k];
			if (!y->get || y->placed || y->dropped || y->key != x->key)
				continue;
			if ((g->open > 0 && y->attach == g->owner) ||
			    (protect && y->attach == (int)i))
				AGAINST(k);
		}
	}
#undef AGAINST
	return n;
}

/* Nothing can be placed: the evidence contradicts itself, so some of it was left by commands
 * that never completed (docs/recovery.md "Contradictions"). The command placed is the one
 * that goes against the evidence of the fewest commands (as few as possible are taken not to
 * have completed); on a tie the one that needs the least relaxation, in the order rule 2's
 * edges (left by any command recorded first), the lookahead, the gates, everything but
 * session order; then GETs first and the lowest cid. -1 when everything is placed. */
static int least_against(const struct rnode *nodes, const struct replay_cand *cand, uint32_t nc,
			 const struct gate *gates, const struct edge *ev, struct walk *wk)
{
	int best = -1;
	uint64_t best_n = 0;
	enum strict best_lv = ALL;
	for (uint32_t i = 0; i < nc; i++) {
		if (!ready(i, nodes, cand, gates, ev, SESSION_ONLY, wk))
			continue;
		enum strict lv = NO_SOFT;
		while (lv < SESSION_ONLY && !ready(i, nodes, cand, gates, ev, lv, wk))
			lv++;
		uint64_t n = against(i, nodes, cand, nc, gates, ev, wk);
		if (best < 0 || n < best_n || (n == best_n && lv < best_lv) ||
		    (n == best_n && lv == best_lv && nodes[i].get && !nodes[best].get)) {
			best = (int)i;
			best_n = n;
			best_lv = lv;
		}
	}
	return best;
}

static void place(struct rnode *nodes, uint32_t i, struct gate *gates, const struct edge *ev)
{
	struct rnode *x = &nodes[i];
	x->placed = true;
	for (uint32_t e = x->e_lo; e < x->e_hi; e++) {
		if (ev[e].soft)
			nodes[ev[e].to].nsoft--;
		else
			nodes[ev[e].to].npred--;
	}
	struct gate *g = &gates[x->key];
	if (x->write) {
		g->owner = (int)i;
		g->open = x->nget;
	} else if (x->get && x->attach != NONE) {
		if (x->attach >= 0)
			nodes[x->attach].nget--;
		if (g->owner == x->attach && g->open > 0)
			g->open--;
	}
}

int core_replay_order(struct vc_item *const *rv, const struct replay_cand *cand, uint32_t nc,
		      int threshold, bool ho, uint32_t *order, struct replay_stats *st)
{
	memset(st, 0, sizeof *st);
	if (nc == 0)
		return 0;
	int rc = -ENOMEM;
	uint32_t nout = 0, nkeys = 0;
	struct rnode *nodes = calloc(nc, sizeof *nodes);
	struct keyref *kr = calloc(nc, sizeof *kr);
	struct gate *gates = calloc(nc, sizeof *gates);
	struct edges E = {0};
	struct edge *preds = NULL;
	uint32_t *plo = NULL, *phi = NULL, *stack = NULL, *mark = NULL;
	if (nodes == NULL || kr == NULL || gates == NULL)
		goto out;

	/* key groups */
	for (uint32_t i = 0; i < nc; i++)
		kr[i] = (struct keyref){first(rv, &cand[i]), i};
	qsort(kr, nc, sizeof *kr, keyref_cmp);
	for (uint32_t i = 0; i < nc; i++) {
		if (i > 0 && key_cmp(kr[i - 1].it, kr[i].it) != 0)
			nkeys++;
		nodes[kr[i].idx].key = nkeys;
	}
	nkeys++;
	for (uint32_t k = 0; k < nkeys; k++)
		gates[k] = (struct gate){.owner = START};

	/* rule 1: session order. Sorted by cid, a session's candidates are adjacent, in seq
	 * order. The old leader ordered nothing of a session before its dep: for a weak write the
	 * session's previous weak write, for a strong command (curpho) its previous write, weak
	 * or strong. By induction every earlier weak write of the session went before any of its
	 * commands, and every earlier write before its strong commands: those are the edges.
	 * A command whose session's previous weak write (weak_dep) is neither recovered nor
	 * ordered already is left out: a fast-path completion needs that write recorded at its
	 * witnesses (the client's write-set check, PROTOCOL.md 5.3) and a completed weak write's
	 * chain reaches its witnesses before it, so it never completed; its session re-sends it,
	 * in order. A strong dep that is missing is a strong write that never completed (a
	 * completed one would be recovered or in the log): the command may go without it. */
	for (uint32_t i = 0; i < nc; i++) {
		const struct vc_item *x = first(rv, &cand[i]);
		struct rnode *n = &nodes[i];
		n->get = !cand[i].weak && x->op == PROTO_OP_GET;
		n->write = is_write_op(x->op);
		n->attach = NONE;
		n->sess_lo = i > 0 && first(rv, &cand[i - 1])->cid.client == x->cid.client
				 ? nodes[i - 1].sess_lo
				 : i;
		if (!ho || x->weak_dep == 0)
			continue;
		int d = find_cand(rv, cand, nc, (struct proto_cid){x->cid.client, x->weak_dep});
		if (d >= 0 ? nodes[d].dropped : !cand[i].weak_dep_known) {
			n->dropped = true;
			st->dropped++;
		}
	}
	for (uint32_t i = 0; i < nc; i++)
		for (uint32_t k = nodes[i].sess_lo; k < i && !nodes[i].dropped; k++)
			if (session_pred(nodes, cand, k, i))
				add_edge(&E, k, i, false);
	for (uint32_t i = 0; i < nc; i++)
		if (!cand[i].weak && !nodes[i].dropped)
			nodes[i].valid = fast_holders(rv, cand, nodes, i);
	/* rule 3: what each GET read (HO: weak writes are the only recovered writes a fast-path
	 * GET can have read; `curp` and `curpht` GETs read no recovered write) */
	for (uint32_t i = 0; i < nc; i++) {
		struct rnode *n = &nodes[i];
		if (!n->get || n->dropped)
			continue;
		bool found;
		struct proto_cid r = agreed_read(rv, &cand[i], threshold, n->valid, &found);
		if (!found)
			continue;
		int a = r.client ? find_cand(rv, cand, nc, r) : -1;
		if (a >= 0 && nodes[a].dropped) {
			n->dropped = true; /* it read a write that is not replayed: not fast */
			st->dropped++;
			continue;
		}
		if (a >= 0 && (!nodes[a].write || nodes[a].key != n->key))
			continue; /* not a write of its key: no completion reads that */
		if (a < 0 && own_write_before(nodes, cand, i))
			continue; /* its session wrote the key before: it read that, or later */
		n->attach = a >= 0 ? a : START;
		if (a >= 0) {
			nodes[a].nget++;
			add_edge(&E, (uint32_t)a, i, false);
		} else {
			gates[n->key].open++;
		}
	}
	/* rule 2: real time, on one key, and across keys within a session (forward only) */
	for (uint32_t i = 0; i < nc; i++) {
		if (cand[i].weak || nodes[i].dropped)
			continue;
		const struct vc_item *x = first(rv, &cand[i]);
		for (uint32_t k = 0; k < nc; k++) {
			if (k == i || nodes[k].dropped)
				continue;
			const struct vc_item *y = first(rv, &cand[k]);
			bool session = y->cid.client == x->cid.client;
			if (session ? y->cid.seq < x->cid.seq : nodes[k].key != nodes[i].key)
				continue;
			if (first_count(rv, &cand[i], &cand[k], nodes[i].valid) >= threshold)
				add_edge(&E, i, k, true);
		}
	}
	if (E.nomem)
		goto out;
	if (E.n)
		qsort(E.v, E.n, sizeof *E.v, edge_cmp);
	uint32_t ne = 0;
	for (uint32_t e = 0; e < E.n; e++)
		if (ne == 0 || E.v[ne - 1].from != E.v[e].from || E.v[ne - 1].to != E.v[e].to)
			E.v[ne++] = E.v[e];
	E.n = ne;
	for (uint32_t e = 0, i = 0; i < nc; i++) {
		nodes[i].e_lo = e;
		for (; e < E.n && E.v[e].from == i; e++) {
			if (E.v[e].soft)
				nodes[E.v[e].to].nsoft++;
			else
				nodes[E.v[e].to].npred++;
		}
		nodes[i].e_hi = e;
	}
	/* the same edges by target, for rule 3's lookahead */
	preds = malloc((E.n ? E.n : 1) * sizeof *preds);
	plo = calloc(nc, sizeof *plo);
	phi = calloc(nc, sizeof *phi);
	stack = malloc(nc * sizeof *stack);
	mark = calloc(nc, sizeof *mark);
	if (preds == NULL || plo == NULL || phi == NULL || stack == NULL || mark == NULL)
		goto out;
	if (E.n)
		memcpy(preds, E.v, E.n * sizeof *preds);
	if (E.n)
		qsort(preds, E.n, sizeof *preds, edge_to_cmp);
	for (uint32_t e = 0, i = 0; i < nc; i++) {
		plo[i] = e;
		while (e < E.n && preds[e].to == i)
			e++;
		phi[i] = e;
	}
	struct walk wk = {
	    .stack = stack, .mark = mark, .pred_lo = plo, .pred_hi = phi, .preds = preds};

	/* topological order: GETs first when ready (they clear gates), then the lowest cid */
	for (;;) {
		int best = -1;
		for (uint32_t i = 0; i < nc; i++) {
			if (!ready(i, nodes, cand, gates, E.v, ALL, &wk))
				continue;
			if (best < 0 || (nodes[i].get && !nodes[best].get))
				best = (int)i;
		}
		if (best < 0) {
			best = least_against(nodes, cand, nc, gates, E.v, &wk);
			if (best < 0)
				break; /* everything placed or dropped */
			st->relaxed++;
		}
		place(nodes, (uint32_t)best, gates, E.v);
		order[nout++] = (uint32_t)best;
	}
	rc = (int)nout;
out:
	free(mark);
	free(stack);
	free(phi);
	free(plo);
	free(preds);
	free(E.v);
	free(gates);
	free(kr);
	free(nodes);
	return rc;
}
