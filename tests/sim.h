/* tests/sim: the deterministic simulation's run state (tests/sim.c drives the workload and the
 * faults, tests/sim_check.c checks the history of a run). */
#ifndef CURPKV_TESTS_SIM_H
#define CURPKV_TESTS_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tests/harness.h"

/* Two workloads ("profiles", both drawn from the seed):
 *  1. 4 sessions, windows 1-3, 40 operations each on 3 hot keys (the workload the regression
 *     seeds were found with: its draws never change);
 *  2. 8 sessions, windows 1-8, 100-200 operations each on 16-64 keys, with SCANs (weak in
 *     curpho/curpht, strong through the slow path) besides reads, writes and deletes.
 * Keys are 8-byte big-endian integers 0..nkeys-1, so a SCAN from k covers k, k+1, ... */
#define SIM_MAX_KEYS 64
#define SIM_MAX_OPS  4096
/* curp runs also APPEND to one more key, nkeys (the exactly-once workload): elements of
 * SIM_ELEM characters, "<session><seq>" */
#define SIM_ELEM 8

struct sim_op {
	int sess;
	uint64_t seq;
	uint64_t client, wseq; /* the cid it was sent under (client leases: ids change) */
	uint8_t op; /* PROTO_OP_GET / PUT / DEL / APPEND / SCAN */
	bool weak;
	uint64_t key;	/* SCAN: the first key */
	uint32_t count; /* SCAN: how many keys it asks for */
	char val[32];
	bool done;
	enum session_result res;
	char *result;  /* GET: the value, SCAN: the pairs (PROTO_SCAN); NUL-terminated, owned by
			* the run (freed at its end) */
	uint32_t rlen; /* bytes in result */
	bool found;
	uint64_t invoke, complete, ordered_at;
	uint64_t exec_at;	       /* when some replica first executed it (0: never) */
	uint64_t slot;		       /* where it executed (the same at every replica: checked) */
	bool has_slot;		       /* executed somewhere */
	uint8_t execs[H_MAX_REPLICAS]; /* executions per replica (exactly once: checked) */
};

struct sim_cfg {
	enum conf_protocol protocol;
	int profile; /* 1 or 2 (above) */
	int n;
	int nsess;
	uint32_t window;
	int ops_per_session;
	uint32_t nkeys;	     /* keys 0..nkeys-1; curp's append key is nkeys */
	uint32_t weak_pct;   /* curpho, curpht: weak operations */
	uint32_t append_pct; /* curp: operations on the append key */
	uint32_t scan_pct;   /* profile 2: SCANs of 1..max_scan keys */
	uint32_t max_scan;
	uint32_t loss_ppm, dup_ppm;
	uint32_t reset_ppm; /* peer connections break instead of losing frames (profile 2) */
	uint32_t crash_per_million_steps;
	uint32_t leader_crash_per_million_steps; /* the leader: a view change follows */
	uint32_t amnesia_pct; /* restarts that lose the replica's state (a new process) */
	uint32_t log_cap;     /* replicas' log ring (small: state transfers happen) */
	/* client leases (docs/recovery.md "Client leases"), a third of the runs (sim.c lease_run):
	 * the replicas' and sessions' lease (0: off), and idle sessions stopped past it now and
	 * then (per million steps) */
	uint64_t lease_ns;
	uint32_t pause_per_million_steps;
	/* restarts that keep the state come back from the replica's write-ahead-log records
	 * (core_restore, harness.h `durable`) instead of going on with the same core */
	bool durable;
};

struct sim {
	struct harness h;
	struct sim_cfg cfg;
	struct common_rng rng;
	struct sim_op ops[SIM_MAX_OPS];
	int nops;
	int by_seq[H_MAX_SESSIONS][SIM_MAX_OPS + 1]; /* session seq -> op index (+1; 0 = none) */
	int issued[H_MAX_SESSIONS], inflight[H_MAX_SESSIONS];
	int pend[SIM_MAX_OPS]; /* ops submitted and not yet reaped (completed), any order */
	int npend;
	uint64_t up_at[H_MAX_REPLICAS];	     /* replicas down (h.down) come back at this time */
	bool rejoin[H_MAX_REPLICAS];	     /* core_stats.rejoining of each replica, */
	uint64_t rejoin_gen[H_MAX_REPLICAS]; /* as of h.gen[r] + 1 (0: not read yet) */
	int ndown;
	uint64_t crashes;		  /* faults injected */
	uint64_t leader_crashes;	  /* of them, the leader's */
	uint64_t amnesia;		  /* restarts with the state lost */
	/* cfg.durable: when every replica stops at once (a power loss; 0: done or none), and
	 * which replicas it stopped (they come back with their state, from their records) */
	uint64_t power_at;
	bool powered_off[H_MAX_REPLICAS];
	uint64_t power_losses, restores;
	uint64_t isolations;		  /* leaders cut off from the replicas, not from clients */
	uint64_t snapshots;		  /* state transfers installed */
	uint64_t view;			  /* current view */
	uint64_t vc_at;			  /* a view change is due at this time (0: none) */
	uint64_t told_at[H_MAX_SESSIONS]; /* when each session learns the view (0: told) */
	uint64_t view_changes, recovered;
	uint64_t relaxed, left_out, pulls; /* replay orders relaxed, commands left out, pulls */
	char why[512];			   /* first failed check */
	int causal_checked;		   /* runs whose history also went through verify_causal */
	uint64_t appends, append_reads;	   /* checked by verify_appends */
	uint64_t scans_strong, scans_weak; /* SCAN results checked */
	uint64_t lin_unknown; /* keys beyond the linearizability search's budget (not failures) */
	/* client leases: a stream of their own (the other draws stay as they were), when each
	 * stopped session comes back (0: running), the id it had, and the PROPOSE of a command it
	 * completed under it (re-sent at its return: a late retry of an id that may have expired) */
	struct common_rng lrng;
	bool stopping[H_MAX_SESSIONS]; /* to be stopped once idle: issues nothing more */
	uint64_t resume_at[H_MAX_SESSIONS];
	uint64_t paused_id[H_MAX_SESSIONS];
	int last_done[H_MAX_SESSIONS]; /* 1 + the op index of its last completed strong write */
	uint64_t pauses, late_retries, expired, new_ids, refused;
	bool verbose;
};

/* Records the first failed check of a run in s->why (later ones are dropped). Returns false. */
bool sim_failf(struct sim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The checks of a finished run (every operation completed, the replicas caught up): the
 * history's (results, slots, the verify/ checkers), then the replicas' (exactly once,
 * identical digests). Each returns true, or false with s->why set. */
bool sim_check_history(struct sim *s);
bool sim_check_replicas(struct sim *s);
/* A SCAN op's result as "key=value ..." text in out (for listings and messages). */
void sim_scan_text(const struct sim *s, const struct sim_op *o, char *out, size_t cap);

#endif
