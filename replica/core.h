/* replica/core: the CURP replica protocol as a state machine (witness, leader, follower). */
#ifndef CURPKV_REPLICA_CORE_H
#define CURPKV_REPLICA_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/protocol.h"
#include "proto/proto.h"

/*
 * The core never touches sockets, clocks or threads. Messages and ticks come in through
 * core_on_* calls; messages go out through struct core_io; time is whatever `now_ns` the
 * caller passes. Everything runs on ONE thread (the replica's core loop, or the simulation).
 *
 * Byte fields of incoming messages are copied by the core when kept; outgoing messages passed
 * to core_io are only valid during the call (the I/O layer encodes them immediately).
 *
 * Client connections are named by a 64-bit id chosen by the I/O layer (never 0). Sending to a
 * connection that has closed is the I/O layer's business (it drops the message).
 */

struct core;

struct core_io {
	void *ctx;
	/* Sends m to replica `to` (never self). */
	void (*to_peer)(void *ctx, int to, const struct proto_msg *m);
	/* Sends m to the client connection `conn`. */
	void (*to_client)(void *ctx, uint64_t conn, const struct proto_msg *m);
	/* Back-pressure: called with false when the core cannot take more client commands
	 * (descriptor pool exhausted) and with true when it can again. May be NULL. */
	void (*client_intake)(void *ctx, bool open);
	/* Bytes queued to replica `peer` and not written yet (a state transfer produces more only
	 * below cfg.snap_low_water); SIZE_MAX when that peer is not connected. May be NULL (no
	 * flow control). */
	size_t (*peer_backlog)(void *ctx, int peer);
	/* Observation hook (tests): cid executed here at slot. May be NULL. */
	void (*executed)(void *ctx, const struct proto_cid *cid, uint64_t slot);
	/* One line on a decision worth reading later: a summary (a view change decided: what it
	 * kept and replayed) or, with detail, each of its steps (every replayed command, where).
	 * The line is valid during the call only. May be NULL. */
	void (*note)(void *ctx, bool detail, const char *line);
	/* Durability (docs/durability.md): a record of this replica's durable state changed
	 * (type and bytes, valid during the call only), to append to its write-ahead log. The
	 * I/O layer makes every record handed over before a message durable before it writes that
	 * message anywhere. May be NULL (memory only). */
	void (*persist)(void *ctx, uint8_t type, const uint8_t *p, uint32_t len);
};

struct core_config {
	int self; /* this replica's id, 0..n-1 */
	int n;	  /* number of replicas (odd, >= 1) */
	enum conf_protocol protocol;
	uint32_t max_desc;    /* maxDescRoutines: in-flight commands (leader) */
	uint32_t shards;      /* cmap shards */
	uint32_t max_witness; /* witness records held at most (full -> ok=false) */
	uint32_t max_key, max_value;
	bool noop;		  /* do not execute (reads return empty) */
	uint64_t resend_after_ns; /* leader: re-send ACCEPTs not acknowledged after this long */
	bool ht_early_reply;	  /* curpht: answer a weak write at slot assignment, not commit */
	uint32_t max_parked;	  /* weak reads waiting for execution to reach their token */
	uint64_t park_ns;	  /* a parked weak read is answered WAIT after this long */
	/* PROTOCOL.md 7.3: this replica restarted and lost its witness records: it answers no
	 * strong PROPOSE ok=true (and takes no part in a view change) until `rejoin_grace_ns`
	 * has passed (for commands sent before it came back to reach the leader) and every slot
	 * the leader had assigned by then is committed and executed here */
	bool rejoin;
	uint64_t rejoin_grace_ns;
	uint32_t log_cap; /* log ring entries (a power of two; 0: from max_desc) */
	/* state transfers are sent in chunks of about snap_chunk_bytes, and only while less than
	 * snap_low_water bytes wait to go out to the receiver (at least CORE_MIN_LOW_WATER); the
	 * leader re-sends ACCEPTs to a peer under the same mark */
	uint32_t snap_chunk_bytes;
	uint32_t snap_low_water;
	/* clientLeaseMs (docs/recovery.md "Client leases"): the leader appends an EXPIRE entry for
	 * the clients it has not heard from for this long (since it installed its view), and every
	 * replica drops their records at that slot; 0 (the default here) = never */
	uint64_t lease_ns;
};

#define CORE_MIN_LOW_WATER 1024u

/* Fills cfg with defaults for replica `self` of `n` (callers then copy conf settings in). */
void core_config_default(struct core_config *cfg, int self, int n);

/* Creates a core in view 0 with `leader` as the leader. Returns 0, -EINVAL or -ENOMEM. */
int core_create(const struct core_config *cfg, int leader, const struct core_io *io,
		struct core **out);
void core_destroy(struct core *c);

/* The master (or the simulation) says `leader` leads view `view` (PROTOCOL.md 7.2). Everything
 * of older views is refused from now on (the fence); the new leader collects the state of a
 * majority (VC_REQ / VC_ENTRY / VC_RECORD / VC_DONE), decides the log, installs it and resumes;
 * a follower answers its VC_REQ and resumes at its first ACCEPT or COMMIT. Until then client
 * commands are answered BUSY (leader) or ok=false (witness). Ignored unless view is newer. A
 * replica that missed the change learns the view from the new leader's messages. */
void core_view_change(struct core *c, uint64_t view, int leader, uint64_t now_ns);

/* Handles a message from a client connection / from replica `from`. Malformed-but-decodable
 * protocol input is answered or ignored, never trusted. */
void core_on_client(struct core *c, uint64_t conn, const struct proto_msg *m, uint64_t now_ns);
void core_on_peer(struct core *c, int from, const struct proto_msg *m, uint64_t now_ns);

/* A client connection closed. Nothing to do today: entries and SYNC waiters keep the connection
 * id, a reply to a closed connection is dropped by the I/O layer, and a reconnecting client
 * re-sends on its new one (so the client loops of replicaLoops > 1 need not call it). */
void core_client_closed(struct core *c, uint64_t conn);
/* The connection to replica `peer` was (re-)established: the leader re-sends what it lacks. */
void core_peer_up(struct core *c, int peer, uint64_t now_ns);

/* Called once per loop iteration, before output is flushed: emits batched ACKs and COMMITs. */
void core_flush(struct core *c, uint64_t now_ns);
/* Periodic timer (e.g. every 10 ms): re-sends, housekeeping. */
void core_tick(struct core *c, uint64_t now_ns);

/* Catch-up (PROTOCOL.md 7.3): a follower that lacks slots the leader no longer holds (or that
 * restarted) sends CATCHUP with its execution index; the leader answers with VC_INSTALL, and,
 * when the follower is behind the leader's log window, a state transfer (SNAP_KV chunks of keys
 * sent as the connection drains, then SNAP_CLIENT, SNAP_RESULT..., SNAP_DONE: the executed state
 * at the leader's execution index, with the exactly-once tables), then re-sends its log from
 * there. A transfer that arrives incomplete is discarded and asked for again; meanwhile the
 * follower executes nothing and answers weak reads WAIT. */

/* Restart from a write-ahead log (docs/durability.md): on a core just created (nothing else
 * called yet), core_restore_begin, then core_restore for each record that core_io.persist handed
 * over before, in order, then core_restore_end. Nothing is sent meanwhile; afterwards the core is
 * in the view it logged last (a replica that led it leads no more: it waits for a view change).
 * Return 0, -ENOMEM, or -EINVAL with the reason in err (a record that is malformed or does not
 * fit the ones before it). */
int core_restore_begin(struct core *c);
int core_restore(struct core *c, uint8_t type, const uint8_t *p, uint32_t len, char *err,
		 size_t errlen);
int core_restore_end(struct core *c, char *err, size_t errlen);

/* Snapshot (docs/durability.md, "Snapshots"): hands fn this replica's whole durable state as
 * records that core_restore reads (the executed state as a state transfer's items, the log not
 * executed yet, the witness records, the view bookkeeping): a log that starts with them
 * rebuilds the replica as it is now, so every record logged before may go. Reads the state
 * only (a forked child may call it on its copy). Returns 0, -EBUSY (a state transfer is
 * arriving: later) or -ENOMEM. */
int core_snapshot(struct core *c,
		  void (*fn)(void *ctx, uint8_t type, const uint8_t *p, uint32_t len), void *ctx);

/* True while the core can take another client command (descriptor available). */
bool core_client_intake_open(const struct core *c);
/* True while this replica sends a state transfer (its chunks are produced in core_flush and
 * core_tick: the server measures those calls then). */
bool core_xfer_sending(const struct core *c);
/* True when the last core_flush left transfer work that its connection has room for (the
 * per-call budget ran out): call core_flush again soon, not only when an event comes. */
bool core_xfer_more(const struct core *c);

struct core_stats {
	uint64_t view;
	int32_t leader;
	uint64_t next_slot;    /* leader: next slot to assign; follower: highest accepted + 1 */
	uint64_t commit_index; /* slots < commit_index are committed */
	uint64_t exec_index;   /* slots < exec_index are executed */
	uint64_t proposals;    /* strong PROPOSEs received */
	uint64_t fast_ok;      /* leader REPLYs sent with ok=true */
	uint64_t slow_replies; /* SYNC_REPLYs sent */
	uint64_t conflicts;    /* witness ok=false answers (conflict or full table) */
	uint64_t duplicates;   /* PROPOSEs of a cid already known */
	uint64_t cid_reused;   /* commands refused (CID_REUSED): another command under their cid */
	uint64_t busy;	       /* commands refused for lack of descriptors */
	uint64_t stale_view;   /* messages of another view refused */
	uint64_t executed;     /* commands executed */
	uint64_t weak_writes;  /* weak writes received (HO: CAUSAL_PROPOSE, HT: WEAK_WRITE) */
	uint64_t weak_reads;   /* weak reads answered */
	uint64_t weak_parked;  /* weak reads that had to wait for execution */
	uint64_t weak_waits;   /* weak reads answered WAIT (parked too long, or no room) */
	uint64_t scans;	       /* SCANs answered (weak) or executed (strong) here */
	uint64_t desc_in_use;
	uint64_t witness_records;
	uint64_t log_entries;  /* log entries held in memory */
	uint64_t result_cache; /* cached results held */
	uint64_t keys;	       /* keys in the executed state */
	uint64_t digest;       /* order-independent digest of the executed state */
	bool view_active;      /* false while a view change runs here */
	uint64_t view_changes; /* views entered after the first */
	uint64_t vc_recovered; /* new leader: commands recovered from witness records */
	uint64_t vc_truncated; /* new leader: collected entries dropped after a hole */
	uint64_t vc_stuck;     /* new leader: decisions postponed (committed slots not covered) */
	uint64_t vc_dropped;   /* new leader: recovered commands left out (their session's
				* earlier weak write missing: the session re-sends them) */
	uint64_t vc_relaxed;   /* new leader: replayed with contradictory evidence relaxed */
	uint64_t vc_pulls;     /* new leader: executed states asked of a replica that executed
				* further than every collected log reaches (vc_stuck otherwise) */
	uint64_t vc_recollect; /* new leader: collections begun again, a replica not sending the
				* state it reported (lost since, or cut off) */
	uint64_t vc_last_us;   /* new leader: how long its last view change took (enter->install) */
	bool rejoining;	       /* 7.3 hold: restarted, witness answers ok=false until caught up */
	bool snap_open;	       /* a state transfer is arriving (the state is incomplete) */
	uint64_t catchups;     /* CATCHUP requests sent (follower) */
	uint64_t snap_sent;    /* state transfers sent (leader) */
	uint64_t snap_installed; /* state transfers installed (follower) */
	uint64_t snap_failed;	 /* state transfers discarded (incomplete) */
	uint64_t snap_dups; /* transfer items that came twice (ignored) or late, of an earlier
			     * transfer (ignored) */
	uint64_t snap_bytes;	/* chunk bytes of state transfers sent */
	uint64_t snap_chunks;	/* chunks of state transfers sent (SNAP_KV) */
	uint64_t snap_overflow; /* transfers restarted: more keys changed than XDELTA_MAX_BYTES */
	uint64_t snap_last_us;	/* the last transfer installed here: its first item to SNAP_DONE */
	uint64_t rejoin_us; /* restart -> hold released (the last rejoin here) */
	/* client leases (docs/recovery.md "Client leases") */
	uint64_t clients_live; /* client records held (watermark, executed seqs, cached results) */
	uint64_t clients_expired; /* client records dropped here by EXPIRE entries */
	uint64_t expire_skipped;  /* clients an EXPIRE named that executed a command since */
	uint64_t expire_entries;  /* leader: EXPIRE entries appended */
	uint64_t expired_refused; /* messages and commands refused EXPIRED (an expired client id) */
	uint64_t expire_floor; /* every id at or below it with nothing executed here is expired */
};

/* Fills st. */
void core_get_stats(const struct core *c, struct core_stats *st);

/* Returns an order-independent digest of the executed key-value state (same state, same
 * digest, on every replica). */
uint64_t core_digest(const struct core *c);

#endif
