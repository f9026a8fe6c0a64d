/* replica/core_lease: client leases (docs/recovery.md "Client leases"): the leader forgets the
 * clients it has not heard from for clientLeaseMs by appending an EXPIRE entry to the log, and
 * every replica drops their exactly-once records at that slot.
 *
 * Invariants:
 *  - the decision is in the log: every replica drops the same records at the same slot, and
 *    skips a client that executed a command between the leader's decision and that slot (the
 *    entry carries, per client, the summary of its executed seqs the leader saw: any execution
 *    changes it);
 *  - exp_floor only grows, with the log (an EXPIRE raises it to the highest id it names) and is
 *    carried by a state transfer; a client id at or below it that has executed nothing here
 *    (no executed-seq set) is expired for good: refused (EXPIRED) at every replica and never
 *    executed: a command of it reaching execution (a retry ordered from witness records by a
 *    view change) is refused there too, the same way everywhere. Ids below an expired one were
 *    handed out before it by the master (epoch << 32 | counter, docs/recovery.md "Client ids"),
 *    so more than a lease before the decision; a session that executed nothing under its id for
 *    half a lease takes a new one (client/session.c), so no live session sits below the floor
 *    without records;
 *  - the leader orders nothing of a client an unexecuted EXPIRE names, nor of one that would be
 *    at or below the floor those EXPIREs make with nothing executed (BUSY until the EXPIRE
 *    executes): so a command it answers ok=true is never refused at its execution;
 *  - the leader's clock for a client starts at the later of its last message and the moment
 *    the leader installed its view: a new leader expires no one for a lease after installing.
 * Out of memory (docs/design.md "Out of memory"): an EXPIRE the leader cannot build or note is
 * not appended (the next tick tries again); a new leader that cannot note the EXPIREs of the log
 * it installs stops (core_oom), as for its other in-flight indexes; executing an EXPIRE only
 * removes or changes entries that exist, and allocates nothing.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "replica/core_int.h"

#define LEASE_BATCH_MAX	 4096u /* clients one EXPIRE names at most */
#define LEASE_CLEAR_STEP 256u  /* pending clients forgotten per pass (no allocation) */

int core_lease_create(struct core *c)
{
	return cmap_create(16, NULL, &c->exp_pending);
}

void core_lease_destroy(struct core *c)
{
	if (c->exp_pending)
		cmap_destroy(c->exp_pending);
}

/* The summary of a client's executed seqs: its floor plus the seqs executed above it. Every
 * execution adds one (a bit set; the floor moving past a set bit clears it; giving up on the
 * oldest unexecuted seq moves the floor past a clear one), so it changes whenever the client
 * executes a command; 0 for a record with nothing executed (a watermark only). The same on every
 * replica that executed the same slots (and in a state transfer, which carries the set). */
uint64_t core_lease_summary(const struct client_rec *cr)
{
	if (cr->xfloor == 0)
		return 0;
	uint64_t n = cr->xfloor;
	for (uint32_t w = 0; w < cr->xwords; w++)
		n += (uint64_t)__builtin_popcountll(cr->xbits[w]);
	return n;
}

static void read_xfloor_cb(const void *key, size_t klen, void *val, void *arg)
{
	(void)key;
	(void)klen;
	*(uint64_t *)arg = ((const struct client_rec *)val)->xfloor;
}

/* True if client executed nothing here (no record, or a watermark only). */
static bool executed_nothing(struct core *c, uint64_t client)
{
	if (MUTANT_NO_EXPIRY_REFUSAL)
		return false; /* the records go, the id lives on (the simulation must catch it) */
	uint64_t xfloor = 0;
	cmap_get_u64(c->clients, client, read_xfloor_cb, &xfloor);
	return xfloor == 0;
}

/* Returns true if `client` is expired for good here (at or below the floor, nothing executed):
 * whatever this replica's role, that is final (its executed state is committed). */
bool core_lease_expired(struct core *c, uint64_t client)
{
	if (client == 0 || client > c->exp_floor || c->snap_open)
		return false; /* (a transfer fills the tables: nothing can be told meanwhile) */
	return executed_nothing(c, client);
}

/* Leader: true if a command of `client` must not be ordered now (answered BUSY): an unexecuted
 * EXPIRE names it, or the floor those make will cover it while it executed nothing. Once they
 * execute, the client is either expired for good (core_lease_expired) or skipped and served. */
bool core_lease_pending(struct core *c, uint64_t client)
{
	if (client == 0)
		return false;
	if (cmap_contains(c->exp_pending, &client, sizeof client))
		return true;
	return client <= c->exp_decided && executed_nothing(c, client);
}

/* Answers m (PROPOSE, SYNC, CAUSAL_PROPOSE, WEAK_WRITE) if its client is expired for good:
 * the leader with status EXPIRED, a witness with RECORD_ACK ok=false (nothing recorded). Returns
 * true when it did (the caller goes no further: no record of the client is created). */
bool core_lease_refused(struct core *c, uint64_t conn, const struct proto_msg *m)
{
	if (!core_lease_expired(c, m->cid.client))
		return false;
	c->st.expired_refused++;
	struct proto_msg r = {
	    .view = c->view, .cid = m->cid, .status = PROTO_ST_EXPIRED, .commit = c->exec_index};
	switch (m->type) {
	case PROTO_PROPOSE:
		r.type = is_leader(c) ? PROTO_REPLY : PROTO_RECORD_ACK;
		if (!is_leader(c))
			r.status = PROTO_ST_OK; /* (RECORD_ACK has no status: ok=false) */
		break;
	case PROTO_SYNC:
		r.type = is_leader(c) ? PROTO_SYNC_REPLY : PROTO_REPLY;
		if (!is_leader(c))
			r.status = PROTO_ST_NOT_LEADER;
		break;
	case PROTO_CAUSAL_PROPOSE:
		if (m->bound != c->cfg.self && !is_leader(c))
			return true; /* only the bound replica and the leader answer */
		r.type = PROTO_CAUSAL_REPLY;
		break;
	case PROTO_WEAK_WRITE:
		r.type = PROTO_WEAK_REPLY;
		if (!is_leader(c))
			r.status = PROTO_ST_NOT_LEADER;
		break;
	default:
		c->st.expired_refused--;
		return false;
	}
	c->io.to_client(c->io.ctx, conn, &r);
	return true;
}

static enum cmap_update_result heard_cb(const void *key, size_t klen, void **val, void *arg)
{
	(void)key;
	(void)klen;
	struct client_rec *cr = *val;
	if (cr != NULL)
		cr->heard_ns = *(const uint64_t *)arg; /* (no record: nothing to expire) */
	return CMAP_KEEP;
}

/* Leader: a message of `client` came (a weak read, a keep-alive PING; commands note it with
 * their watermark). */
void core_lease_heard(struct core *c, uint64_t client, uint64_t now_ns)
{
	if (client != 0 && is_leader(c) && c->cfg.lease_ns != 0)
		core_update_present_u64(c->clients, client, heard_cb, &now_ns);
}

/* The silent clients one scan collects into an EXPIRE's value. */
struct silent_arg {
	struct core *c;
	uint64_t now_ns;
	uint8_t *v;
	uint32_t n, max;
};

static int silent_cb(const void *key, size_t klen, void *val, void *arg)
{
	struct silent_arg *a = arg;
	const struct client_rec *cr = val;
	uint64_t client;
	if (klen != sizeof client)
		return 0;
	memcpy(&client, key, sizeof client);
	uint64_t since = cr->heard_ns > a->c->lease_since_ns ? cr->heard_ns : a->c->lease_since_ns;
	if (a->now_ns - since < a->c->cfg.lease_ns ||
	    cmap_contains(a->c->exp_pending, &client, sizeof client))
		return 0;
	proto_expire_put(a->v + (size_t)a->n * PROTO_EXPIRE_ITEM, client, core_lease_summary(cr));
	return ++a->n == a->max;
}

/* Removes a client's pending mark if it is the EXPIRE's at 1 + *arg (a later EXPIRE naming the
 * client too keeps it). Changes or removes an existing entry only. */
static enum cmap_update_result unmark_cb(const void *key, size_t klen, void **val, void *arg)
{
	(void)key;
	(void)klen;
	if (*val == NULL || (uintptr_t)*val != *(const uintptr_t *)arg)
		return CMAP_KEEP;
	*val = NULL;
	return CMAP_DELETE;
}

/* Leader: notes that the EXPIRE value v at `slot` names its clients: none of their commands is
 * ordered until it executes (core_lease_pending). Returns 0, or -ENOMEM with the clients it
 * did note still noted (the caller undoes them: lease_unnote, or stops). */
static int lease_note(struct core *c, const uint8_t *v, uint32_t vlen, uint64_t slot)
{
	for (uint32_t off = 0; off + PROTO_EXPIRE_ITEM <= vlen; off += PROTO_EXPIRE_ITEM) {
		uint64_t client, summary;
		proto_expire_get(v + off, &client, &summary);
		if (cmap_put_u64(c->exp_pending, client, (void *)(uintptr_t)(slot + 1), NULL) != 0)
			return -ENOMEM;
	}
	return 0;
}

/* Undoes lease_note(v, vlen, slot) (allocates nothing). */
static void lease_unnote(struct core *c, const uint8_t *v, uint32_t vlen, uint64_t slot)
{
	uintptr_t slot1 = (uintptr_t)(slot + 1);
	for (uint32_t off = 0; off + PROTO_EXPIRE_ITEM <= vlen; off += PROTO_EXPIRE_ITEM) {
		uint64_t client, summary;
		proto_expire_get(v + off, &client, &summary);
		core_update_present_u64(c->exp_pending, client, unmark_cb, &slot1);
	}
}

/* The floor the leader's unexecuted EXPIREs make: raised to the highest id v names. */
static void lease_decided(struct core *c, const uint8_t *v, uint32_t vlen)
{
	for (uint32_t off = 0; off + PROTO_EXPIRE_ITEM <= vlen; off += PROTO_EXPIRE_ITEM) {
		uint64_t client, summary;
		proto_expire_get(v + off, &client, &summary);
		if (client > c->exp_decided)
			c->exp_decided = client;
	}
}

/* New leader: e, an EXPIRE of the log it installs (not executed), names its clients: none of
 * their commands is ordered until it executes. Stops the process without the memory to note
 * them (the view is being installed: nothing to refuse; a client not noted could have a command
 * answered ok and then refused at its execution). */
void core_lease_led(struct core *c, const struct entry *e)
{
	if (lease_note(c, entry_val(e), e->vlen, e->slot) != 0)
		core_oom(c, "the leader's index of expiring clients");
	lease_decided(c, entry_val(e), e->vlen);
}

/* Leader, every tick: once in a while (an eighth of the lease), names in one EXPIRE entry the
 * clients it has not heard from for a lease (since it installed its view), up to a batch. */
void core_lease_tick(struct core *c, uint64_t now_ns)
{
	if (c->cfg.lease_ns == 0 || !is_leader(c) || !c->active)
		return;
	uint64_t gap = c->lease_tick_ns ? now_ns - c->lease_tick_ns : 0;
	c->lease_tick_ns = now_ns;
	if (c->lease_since_ns == 0 || gap > c->cfg.lease_ns / 8)
		/* the first leader of view 0 (from its first tick), or a leader that did not run
		 * for a while (stopped, starved): what its clients sent meanwhile may still wait
		 * in its connections, so its clock starts again rather than expire them */
		c->lease_since_ns = now_ns;
	uint64_t period = c->cfg.lease_ns / 8;
	if (now_ns - c->lease_since_ns < c->cfg.lease_ns ||
	    (c->lease_scan_ns != 0 && now_ns - c->lease_scan_ns < period))
		return;
	c->lease_scan_ns = now_ns;
	uint32_t max = c->cfg.max_value / PROTO_EXPIRE_ITEM;
	if (max > LEASE_BATCH_MAX)
		max = LEASE_BATCH_MAX;
	if (max == 0 || cmap_size(c->clients) == 0)
		return;
	struct silent_arg a = {.c = c, .now_ns = now_ns, .max = max};
	a.v = malloc((size_t)max * PROTO_EXPIRE_ITEM);
	if (a.v == NULL)
		return; /* the next scan tries again */
	cmap_foreach(c->clients, silent_cb, &a);
	struct entry *e = NULL;
	uint32_t vlen = a.n * PROTO_EXPIRE_ITEM;
	/* its clients are noted first, at the slot it takes (core_log_append's next_slot), so that
	 * a failure changes nothing: no memory, no room, then neither the entry nor the marks */
	uint64_t slot = c->next_slot;
	if (a.n > 0 && lease_note(c, a.v, vlen, slot) == 0) {
		struct proto_msg m = {.cmd = {.op = PROTO_OP_EXPIRE, .val = a.v, .vlen = vlen}};
		e = core_log_append(c, 0, &m, EK_STRONG); /* copies the value */
	}
	if (a.n > 0 && e == NULL)
		lease_unnote(c, a.v, vlen, slot);
	free(a.v);
	if (a.n == max || (a.n > 0 && e == NULL))
		c->lease_scan_ns = now_ns - period; /* more to do (or no room): the next tick */
	if (e == NULL)
		return;
	assert(e->slot == slot);
	lease_decided(c, entry_val(e), e->vlen);
	c->st.expire_entries++;
	core_replicate(c, e, now_ns);
}

/* What an EXPIRE does to one client's record. */
struct drop_arg {
	uint64_t summary;
	struct client_rec *taken; /* out: the record, now the caller's */
	bool skipped;		  /* out: it executed something since the decision */
};

static enum cmap_update_result drop_cb(const void *key, size_t klen, void **val, void *arg)
{
	(void)key;
	(void)klen;
	struct drop_arg *a = arg;
	struct client_rec *cr = *val;
	if (cr == NULL)
		return CMAP_KEEP;
	if (core_lease_summary(cr) != a->summary) {
		a->skipped = true;
		return CMAP_KEEP;
	}
	a->taken = cr;
	*val = NULL;
	return CMAP_DELETE;
}

/* Executes an EXPIRE (every replica, at its slot): drops each named client's records (its
 * executed-seq set, watermark, cached results, curpho pending-write index) unless it executed
 * a command since the leader decided, and raises the floor to the highest id named. */
void core_lease_execute(struct core *c, const struct entry *e)
{
	for (uint32_t off = 0; off + PROTO_EXPIRE_ITEM <= e->vlen; off += PROTO_EXPIRE_ITEM) {
		uint64_t client;
		struct drop_arg a = {0};
		proto_expire_get(entry_val(e) + off, &client, &a.summary);
		if (client == 0)
			continue;
		core_update_present_u64(c->clients, client, drop_cb, &a);
		if (a.taken) {
			struct client_rec *cr = a.taken;
			for (uint32_t i = 0; i < cr->n; i++) {
				struct proto_cid cid = {client, cr->seqs[(cr->head + i) % cr->cap]};
				uint8_t k[16];
				cid_key(&cid, k);
				cmap_del(c->results, k, 16, NULL);
			}
			core_free_client_rec(cr);
			cmap_del_u64(c->pending_writes, client, NULL);
			c->st.clients_expired++;
		}
		c->st.expire_skipped += a.skipped;
		if (client > c->exp_floor)
			c->exp_floor = client;
		if (is_leader(c)) {
			/* its commands may be ordered again, unless a later EXPIRE names it too */
			uintptr_t slot1 = (uintptr_t)(e->slot + 1);
			core_update_present_u64(c->exp_pending, client, unmark_cb, &slot1);
		}
	}
	if (c->exp_floor > c->exp_decided)
		c->exp_decided = c->exp_floor;
}

static int pending_key_cb(const void *key, size_t klen, void *val, void *arg)
{
	(void)val;
	uint64_t *keys = arg;
	if (klen == sizeof(uint64_t) && keys[0] < LEASE_CLEAR_STEP)
		memcpy(&keys[1 + keys[0]++], key, sizeof(uint64_t));
	return keys[0] == LEASE_CLEAR_STEP;
}

/* A view is entered: what this replica noted as leader goes (a new leader notes again the
 * EXPIREs of the log it installs: core_vc.c register_led). */
void core_lease_view_enter(struct core *c)
{
	uint64_t keys[1 + LEASE_CLEAR_STEP];
	do {
		keys[0] = 0;
		cmap_foreach(c->exp_pending, pending_key_cb, keys);
		for (uint64_t i = 0; i < keys[0]; i++)
			cmap_del_u64(c->exp_pending, keys[1 + i], NULL);
	} while (keys[0] > 0);
	c->exp_decided = c->exp_floor;
	c->lease_since_ns = 0;
	c->lease_scan_ns = 0;
	c->lease_tick_ns = 0;
}

/* A new leader installed its view: its clock for every client starts now (what it heard as a
 * follower, or before, counts for nothing: no expiry from stale data). */
void core_lease_installed(struct core *c, uint64_t now_ns)
{
	c->lease_since_ns = now_ns ? now_ns : 1;
	c->lease_scan_ns = 0;
}
