/* tests/harness: N replica cores and S client sessions in one process, connected by FIFO
 * channels (one per directed connection) that carry encoded frames; a seeded scheduler picks
 * which channel delivers next, so order across connections varies with the seed while each
 * connection stays FIFO. Time is simulated. */
#ifndef CURPKV_TESTS_HARNESS_H
#define CURPKV_TESTS_HARNESS_H

#include <stdbool.h>
#include <stdint.h>

#include "client/session.h"
#include "common/rng.h"
#include "proto/proto.h"
#include "replica/core.h"

#define H_MAX_REPLICAS 7
#define H_MAX_SESSIONS 16
#define H_MAX_IDS      4096 /* client ids handed out in one run: 100 + s, then renewals */

enum h_chan_kind { H_PEER = 0, H_C2R = 1, H_R2C = 2 };

struct h_chan {
	struct proto_buf buf;
};

struct harness {
	int n, nsess, leader;
	uint64_t view;				      /* the last view h_view_change announced */
	void (*core_cfg_fn)(struct core_config *cfg); /* as given to h_init */
	uint32_t window;
	/* faults (h_step): frames lost or delivered twice, per million deliveries; replicas down
	 * (h_crash: its channels emptied, nothing to or from it until h_restart) */
	uint32_t loss_ppm, dup_ppm;
	/* peer connections reset instead (reset_ppm > 0): per million steps, one random replica
	 * pair loses what is in flight between them both ways and reconnects (core_peer_up at
	 * both ends), as TCP does; frames between replicas are then never lost one by one */
	uint32_t reset_ppm;
	uint64_t resets;
	bool down[H_MAX_REPLICAS];
	/* replicas cut off from the other replicas only (clients still reach them): frames
	 * between such a replica and any other replica are lost */
	bool cut[H_MAX_REPLICAS];
	uint64_t lost, duplicated;
	/* frames lost because the harness could not allocate for them (only in tests that make
	 * allocations fail: tests/failalloc.h) */
	uint64_t nomem_lost;
	/* called when a session learns the slot of one of its commands (the session's `ordered`
	 * hook), with the session index */
	void (*on_ordered)(struct harness *h, int sess, uint64_t seq, uint64_t slot);
	/* called when replica r executes a command of session sess (client id 100 + sess, or one
	 * it took later), with the session's own seq (session_seq_base added) */
	void (*on_executed)(struct harness *h, int r, int sess, uint64_t seq, uint64_t slot);
	/* client leases: the sessions' lease (0: none); a session that asks for a new client id
	 * (session_io.need_id) gets the next one, in increasing order as the master hands them out,
	 * at the next h_advance; paused sessions neither tick nor receive (a client process
	 * stopped: what replicas send it waits in its connection) */
	uint64_t lease_ns;
	uint64_t next_id;
	bool want_id[H_MAX_SESSIONS];
	bool paused[H_MAX_SESSIONS];
	int id_sess[H_MAX_IDS];	     /* id - 100 -> 1 + the session that took it (0: none) */
	uint64_t id_base[H_MAX_IDS]; /* id - 100 -> the session's seq base under it */
	uint64_t new_ids;
	void *user;
	bool trace; /* print the weak-read traffic of one command (debugging aid) */
	bool notes; /* print the cores' notes (view-change decisions) on stderr */
	/* durability (docs/durability.md): each replica's write-ahead-log records as its core
	 * handed them over (core_io.persist), every one durable at once (fsync always: nothing
	 * leaves a core before the entry point that made it ends); with `durable` set, h_restart
	 * makes a new core from them (core_restore) instead of going on with the old one */
	bool durable;
	struct h_wal {
		uint8_t *p;
		size_t n, cap;
		uint64_t records;
	} wal[H_MAX_REPLICAS];
	uint64_t restores;  /* cores rebuilt from their records */
	uint64_t snapshots; /* record lists replaced by a snapshot (h_snapshot) */
	uint64_t trace_client, trace_seq;
	int proto; /* enum conf_protocol of the cores, spoken by the sessions */
	struct core *cores[H_MAX_REPLICAS];
	struct session *sess[H_MAX_SESSIONS];
	struct h_chan peer[H_MAX_REPLICAS][H_MAX_REPLICAS];
	struct h_chan c2r[H_MAX_SESSIONS][H_MAX_REPLICAS];
	struct h_chan r2c[H_MAX_REPLICAS][H_MAX_SESSIONS];
	struct common_rng rng;
	uint64_t now;
	uint64_t delivered;
	/* bumped whenever the harness calls into replica r's core (a delivery, a tick, a flush, a
	 * view change, a restart): what a caller derived from that core's state is current while
	 * gen[r] has not moved (a caller that calls a core itself bumps it too) */
	uint64_t gen[H_MAX_REPLICAS];
	bool intake[H_MAX_REPLICAS];
	struct proto_limits lim;
	struct proto_msg msg; /* delivery scratch (large: kept off the stack) */
	/* the bytes of the frame h_deliver hands over, and of the frame h_take last returned */
	struct h_scratch {
		uint8_t *p;
		size_t cap;
	} deliver_buf, take_buf;
	/* per-replica I/O contexts */
	struct h_rctx {
		struct harness *h;
		int id;
	} rctx[H_MAX_REPLICAS];
	struct h_sctx {
		struct harness *h;
		int id;
	} sctx[H_MAX_SESSIONS];
};

/* Builds n cores (leader 0) and nsess sessions with window `window`. core_cfg_fn may adjust
 * each replica's config (NULL = defaults). */
void h_init(struct harness *h, int n, int nsess, uint32_t window, uint64_t seed,
	    void (*core_cfg_fn)(struct core_config *cfg));
void h_free(struct harness *h);
/* (Re)creates session s bound to replica r (its co-located replica; -1: none, the leader until
 * probes say otherwise). Call before the session sends anything. */
void h_bind(struct harness *h, int s, int r);
/* The same with another client id than session s's own (100 + s): two sessions under one id
 * (a client id handed out twice). */
void h_bind_id(struct harness *h, int s, int r, uint64_t client_id);

/* Delivers one frame from a randomly chosen non-empty channel (then flushes the receiver).
 * Returns false when every channel is empty. */
bool h_step(struct harness *h);
/* Steps until no frame is left (bounded); ticks every core and session along the way. */
void h_drain(struct harness *h);
/* Delivers replica-to-replica frames only (bounded), leaving client traffic queued. */
void h_drain_peers(struct harness *h);
/* Advances simulated time and ticks every core (that is up) and session. */
void h_advance(struct harness *h, uint64_t ns);
/* Tells every replica that is up that `leader` leads `view` (the master's role). */
void h_view_change(struct harness *h, uint64_t view, int leader);

/* Stops replica r: every frame queued to or from it is dropped, and until h_restart nothing is
 * delivered to it and nothing it would send is kept; its timers do not run. Its state is kept
 * (a process paused or cut off, not one that lost its memory). */
void h_crash(struct harness *h, int r);
void h_restart(struct harness *h, int r);
/* Restarts replica r as a new process: its state is gone; a fresh core (rejoining, PROTOCOL.md
 * 7.3) is told the current view and leader. */
void h_restart_fresh(struct harness *h, int r);
/* durable: replica r's records become a snapshot of its state (core_snapshot), as a server's
 * log truncated behind one. Returns false if the core could not take one now. */
bool h_snapshot(struct harness *h, int r);

/* Queues m on session s's connection to replica r, as if s had sent it (a late frame). */
void h_inject(struct harness *h, int s, int r, const struct proto_msg *m);

/* Frames waiting on one channel. */
uint32_t h_pending(struct harness *h, enum h_chan_kind k, int a, int b);
/* Delivers the first frame of one channel. Returns false if empty (a frame lost for want of
 * memory, nomem_lost, counts as delivered). */
bool h_deliver(struct harness *h, enum h_chan_kind k, int a, int b);
/* Removes the first frame of a channel and decodes it into *m for inspection; the frame's bytes
 * stay valid until the next h_take. Returns false if empty. */
bool h_take(struct harness *h, enum h_chan_kind k, int a, int b, struct proto_msg *m);

#endif
