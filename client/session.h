/* client/session: one client session's protocol logic (CURP client) as a state machine. */
#ifndef CURPKV_CLIENT_SESSION_H
#define CURPKV_CLIENT_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/protocol.h"
#include "proto/proto.h"

/*
 * A session is one client thread's identity: its client id, its sequence numbers, its ordered
 * connection to every replica (owned by the I/O layer) and its in-flight commands. Each
 * command's reply state is its own (never a session-wide "current value").
 * Single-threaded: all calls on the thread that runs the session's loop (or the simulation).
 */

struct session;

enum session_path {
	SESSION_PATH_FAST = 0,  /* leader ok + Q-1 witness ok: one round trip */
	SESSION_PATH_SLOW = 1,  /* post-execution result (SYNC_REPLY) */
	SESSION_PATH_RETRY = 2, /* completed after the command was re-sent */
	SESSION_PATH_WEAK = 3,  /* a weak (causal) operation: one round trip to one replica */
};

enum session_result {
	SESSION_OK = 0,         /* value holds the result (empty for writes) */
	SESSION_NOT_FOUND,      /* GET of a missing key */
	SESSION_FAILED,         /* definitely not applied (e.g. invalid command) */
	SESSION_TIMEOUT,        /* no answer within the reply timeout: may or may not be applied */
	SESSION_CID_REUSED,     /* refused, not applied: the replicas hold another command under
				 * this command's id (the session's client id was handed out twice;
				 * docs/recovery.md, "Client ids") */
	SESSION_EXPIRED,        /* refused, not applied: the session's client id had expired at
				 * the replicas (silent longer than clientLeaseMs); the session takes
				 * a new id (a command sent more than once under the expired id ends
				 * SESSION_TIMEOUT instead: an earlier send may have been applied;
				 * docs/recovery.md, "Client leases") */
};

/* Completion callback: fires exactly once per submitted command. value is valid during the
 * call only. */
typedef void (*session_cb)(void *arg, uint64_t seq, enum session_result res,
			   enum session_path path, const uint8_t *value, uint32_t vlen);

struct session_io {
	void *ctx;
	/* Sends m to replica `to` on the session's ordered connection to it (one stream, perhaps
	 * shared with other sessions: the session's messages keep their order on it). */
	void (*send)(void *ctx, int to, const struct proto_msg *m);
	/* The session saw a newer view (or a NOT_LEADER answer): the I/O layer should ask the
	 * master for the cluster and call session_set_view. May be NULL. */
	void (*need_view)(void *ctx, uint64_t seen_view);
	/* The session learned the slot that ordered command `seq` (a strong completion, an HT weak
	 * write's reply, an HO weak write reported executed). For histories and tests. May be
	 * NULL. */
	void (*ordered)(void *ctx, uint64_t seq, uint64_t slot);
	/* The session needs a new client id (its lease may have run out, or its id expired): the
	 * I/O layer asks the master for one and calls session_set_client_id; until then the session
	 * takes no command (-EAGAIN). May be NULL (the session then keeps its id for good). */
	void (*need_id)(void *ctx);
};

struct session_config {
	uint64_t client_id;        /* from the master; never 0 */
	int n;                     /* replicas */
	enum conf_protocol protocol;
	uint32_t max_inflight;     /* window: submissions beyond it are refused (-EAGAIN) */
	uint64_t sync_after_ns;    /* ask the leader for the result if not done after this */
	uint64_t retry_after_ns;   /* re-send the command (same cid) after this */
	uint64_t timeout_ns;       /* give up (SESSION_TIMEOUT) after this */
	int preferred;             /* co-located replica from the Proxy section, -1 if none */
	uint64_t probe_ns;         /* RTT probes (PING) to every replica this often (the first
				    * SESSION_PROBE_QUICK rounds every probe_ns/64); a replica that
				    * has not answered a round when the next one goes out counts as
				    * not measured until it answers again */
	uint32_t cache_slots;      /* curpht: entries of the key -> (value, slot) cache */
	/* clientLeaseMs in ns (0 = leases off): the session renews its lease at the leader by its
	 * traffic or a keep-alive (PING to the leader) every quarter of it; after three quarters
	 * without an answer from the leader (since the send of the last command it answered) it
	 * gives up its pending commands and takes a new id; an id under which nothing executed is
	 * replaced after half a lease (docs/recovery.md "Client leases") */
	uint64_t lease_ns;
	/* when client_id was handed out (the session's clock; 0: at its first tick): the half-lease
	 * rule counts from there, not from the first command (a session that sent nothing for a
	 * while must not keep an id the replicas may refuse) */
	uint64_t id_ns;
};

void session_config_default(struct session_config *cfg, uint64_t client_id, int n);

int session_create(const struct session_config *cfg, uint64_t view, int leader,
		   const struct session_io *io, struct session **out);
/* Frees the session; pending commands are NOT called back (call session_fail_all first). */
void session_destroy(struct session *s);

/* Submits a strong command (bytes are copied). Returns the seq (>= 1) or -EAGAIN (window
 * full), -EINVAL (bad command). */
int64_t session_submit(struct session *s, const struct proto_cmd *cmd, session_cb cb, void *arg,
		       uint64_t now_ns);

/* Submits a weak (causal) command: GET or SCAN is a weak read, PUT/DEL a weak write (curpho: to every
 * replica, completed by the bound one; curpht: to the leader). Returns the seq, -EAGAIN (window
 * full), -EINVAL (bad command, or protocol curp: it has no weak operations). */
int64_t session_submit_weak(struct session *s, const struct proto_cmd *cmd, session_cb cb,
			    void *arg, uint64_t now_ns);

/* The replica the session is bound to (session_pick_bound), and the RTT measured to replica r
 * in ns: the lowest of its last SESSION_RTT_SAMPLES samples (0 = not measured yet, or r did not
 * answer the last probe round). */
int session_bound(const struct session *s);
uint64_t session_rtt_ns(const struct session *s, int r);

/* Binding tolerance (docs/protocols.md "Sessions and binding"): a replica is a candidate when its
 * RTT is within max(SESSION_BIND_TOL_PCT % of the best, SESSION_BIND_TOL_MIN_NS) of the best
 * measured one; one already a candidate stays one up to twice that. */
#define SESSION_BIND_TOL_PCT	20
#define SESSION_BIND_TOL_MIN_NS (1000ull * 1000)
#define SESSION_RTT_SAMPLES	4 /* an RTT is the lowest of this many recent samples */
#define SESSION_PROBE_QUICK	4 /* probe rounds at probe_ns/64 after the first tick */

/* The replica a session binds to. preferred >= 0 (the co-located replica of the conf's Proxy
 * section) always wins. Otherwise the candidates are the measured replicas (rtt[r] != 0, n
 * entries) within the tolerance of the best RTT, and a stable hash of client_id picks one of
 * them (Fibonacci hashing: consecutive ids, as the master hands them out, spread evenly over the
 * candidates). *cand (bit r: replica r) is the candidate set of the previous call, updated in
 * place: the hysteresis that keeps an RTT near the edge of the tolerance from moving sessions at
 * every probe. Returns current when no replica is measured. Pure; any thread. */
int session_pick_bound(const uint64_t *rtt, int n, int preferred, uint64_t client_id, int current,
		       uint32_t *cand);

/* Handles a message from replica `from`. */
void session_on_msg(struct session *s, int from, const struct proto_msg *m, uint64_t now_ns);
/* Periodic timer (SYNC after sync_after, re-send after retry_after, time out). */
void session_tick(struct session *s, uint64_t now_ns);
/* A new view/leader (from the master or a reply): in-flight commands are re-sent. */
void session_set_view(struct session *s, uint64_t view, int leader, uint64_t now_ns);
/* The connection to `replica` was re-established: re-send in-flight commands to it. */
void session_replica_up(struct session *s, int replica, uint64_t now_ns);
/* Completes every pending command with SESSION_TIMEOUT (shutdown). */
void session_fail_all(struct session *s);
/* The new client id the session asked for (session_io.need_id): from now on its commands go
 * under it, with seqs from 1 on the wire (the seqs submit returns and callbacks carry go on
 * growing: wire seq + session_seq_base). Returns 0, or -EINVAL (id 0, or the session did not
 * ask). */
int session_set_client_id(struct session *s, uint64_t client_id, uint64_t now_ns);
/* Drops the current client id for a new one (session_io.need_id), as if its lease ran out: a
 * gateway that serves many short-lived clients over one session. Returns 0 (submissions get
 * -EAGAIN until the id comes), -EBUSY (commands pending: wait for them) or -ENOTSUP (no
 * need_id hook). */
int session_new_id(struct session *s);
/* What to add to a wire seq of the current client id for the session's own seq. */
uint64_t session_seq_base(const struct session *s);
/* True while the session waits for a new client id, or drains its commands before it asks
 * for one (submissions then return -EAGAIN). */
bool session_renewing(const struct session *s);

uint32_t session_inflight(const struct session *s);
/* curpho: weak writes completed to the caller but not yet reported executed by a replica (the
 * write set). A process that exits should wait for 0, or the last writes may never be ordered. */
uint32_t session_unsettled(const struct session *s);
uint64_t session_client_id(const struct session *s);

struct session_stats {
	uint64_t fast, slow, retry;  /* completions per path */
	uint64_t timeouts, failures; /* failures: FAILED and CID_REUSED completions */
	uint64_t conflicts;          /* witness or leader ok=false seen */
	uint64_t resends;
	uint64_t weak;               /* weak operations completed */
	uint64_t weak_waits;         /* weak reads the replica asked to repeat (WAIT) */
	uint64_t ho_check_failed;    /* HO witness answers refused by the causal_deps/read_dep checks */
	uint64_t expired;            /* answers EXPIRED: the client id had expired at the replicas */
	uint64_t gave_up;            /* commands given up: no answer from the leader for 3/4 lease */
	uint64_t new_ids;            /* client ids taken after the first */
	uint64_t keepalives;         /* keep-alive PINGs sent to the leader */
	uint64_t rebinds;            /* changes of the bound replica (the first by RTT included) */
};
void session_get_stats(const struct session *s, struct session_stats *st);

/* Quorum sizes for n replicas: f, majority M = f+1, super quorum Q = f + ceil(f/2) + 1. */
int session_f(int n);
int session_majority(int n);
int session_superquorum(int n);

#endif
