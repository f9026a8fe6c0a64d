/* tests/cluster_env: the client side of the system tests on real processes
 * (tests/test_cluster_*.c, over a cluster tests/env.c started): one driver of client-library
 * sessions that records every operation, checks each session's results against its model when
 * its keys are its own, and injects one fault during the run (a pause, a kill, connections
 * killed, a partition); and the replicas' checks after a run. Assertions are cmocka's: call
 * from a test body only. */
#ifndef CURPKV_TESTS_CLUSTER_ENV_H
#define CURPKV_TESTS_CLUSTER_ENV_H

#include <stdbool.h>
#include <stdint.h>

#include <ev.h>

#include "cluster/cluster.h"
#include "common/rng.h"
#include "tests/env.h"

#define CE_MAX_SESSIONS 64

/* One operation of a run, as recorded. Values are "v<id>", id = the operation's index + 1:
 * unique in the run. */
struct ce_op {
	int sess;
	uint64_t seq;
	uint8_t op; /* PROTO_OP_PUT, PROTO_OP_DEL or PROTO_OP_GET */
	bool weak, done;
	bool after_fault; /* submitted after the run's kill (ce_fault.kill9), or after its first
			   * round of connections killed (kill_port) */
	uint32_t key;	  /* 0..keys-1 */
	uint32_t val;	  /* PUT: its id; GET: the id read (0: nothing, UINT32_MAX: not a value of
			   * the run) */
	int res;	  /* enum session_result */
	int path;	  /* enum session_path */
	uint64_t invoke_ns, complete_ns;
	uint64_t slot;	  /* the slot the session learned (UINT64_MAX: none) */
	uint64_t slot_ns; /* when it learned it */
	bool moved;	  /* a view change executed it at another slot (test_cluster_hybrid) */
};

/* One fault during a run: SIGSTOP of p at at_s seconds, or once at_ops operations completed
 * (both set: whichever comes first, once), SIGCONT for_s later; or, instead: SIGKILL of p (kill9); every TCP connection of kill_port
 * killed kill_times times, for_s apart (ss -K); on_cmd run, off_cmd for_s later (a partition).
 * A process still stopped, or a partition still on, when the run ends is undone then. */
struct ce_fault {
	struct proc *p;
	double at_s, for_s;
	uint64_t at_ops;
	bool kill9;
	uint16_t kill_port;
	int kill_times;
	const char *on_cmd, *off_cmd;
};

/* A workload: `sessions` sessions (window 1) of per_session operations each on `keys` keys,
 * each session's own keys or all shared; weak_pct % of the operations weak; put_pct % PUTs,
 * del_pct % DELs, the rest GETs. */
struct ce_cfg {
	int sessions;
	uint64_t per_session;
	uint32_t keys;
	bool shared_keys;
	uint32_t weak_pct, put_pct, del_pct;
	uint64_t seed;
	/* mixed into every key: runs against one cluster with other salts use other keys (a
	 * session's model starts empty) */
	uint64_t key_salt;
	double watchdog_s;	/* the run fails if it has not completed by then */
	double connect_grace_s; /* cluster_options (0: the library's) */
	struct proc *probe;	/* replicas whose RSS is sampled after 1000 operations */
	int nprobe;
	const struct ce_fault *fault; /* NULL: none */
	/* after the last completion, wait until every write's slot is known (a curpho weak write
	 * is reported executed after it completed) */
	bool drain_slots;
};

/* The strong workload of the runs and fault tests: 4 sessions on 256 keys of their own, 45% PUTs,
 * 5% DELs, 50% GETs, a 120 s watchdog; the RSS of e's first nprobe replicas sampled. */
#define CE_STRONG_SESSIONS 4
struct ce_cfg ce_strong_cfg(uint64_t per_session, uint64_t seed, struct cluster_env *e, int nprobe);

struct ce_sess {
	struct ce_run *r;
	int id;
	struct cluster_session *cs;
	uint64_t submitted, completed;
	uint32_t *by_seq; /* session seq -> operation index */
	uint32_t *model;  /* own keys: each key's value id as this session left it (0: none) */
	struct common_rng rng;
	bool pending; /* the next operation was refused (-EAGAIN): submitted again */
	uint32_t pend_idx;
	uint64_t stalls; /* refusals */
	ev_timer retry;
};

/* When a run takes the probed replicas' early RSS (ce_run.rss_early): after this many completed
 * operations. Past the allocator's warm-up: under AddressSanitizer a replica's RSS still grew
 * by 4.4 MiB from 1,000 operations to 10,000 and then no more (the same at 40,000), once the
 * decoder stopped allocating a zone per frame (2026-12-07: the allocator's free lists fill more
 * slowly); the release build grows 0.2 MiB. */
#define CE_RSS_EARLY_OPS 3000

struct ce_run {
	struct ce_cfg cfg;
	struct ev_loop *loop;
	struct cluster *cl;
	struct common_logger lg; /* the cluster keeps a pointer to it: lives as long as the run */
	struct ce_sess s[CE_MAX_SESSIONS];
	struct ce_op *ops;
	uint32_t n_ops;
	uint64_t done_total, errors;
	bool failed, draining;
	ev_timer watchdog, drain;
	uint64_t rss_early[ENV_MAX_N]; /* the probed replicas' RSS (KiB) after CE_RSS_EARLY_OPS */
	bool early_taken;
	/* the fault */
	ev_timer fault_t;
	bool stopped; /* p stopped, or the partition on */
	int kills;    /* faults that took effect (kill, connections killed, partition) */
	int kill_rounds;
	bool fault_started; /* the fault's first step was taken (at_s or at_ops) */
	uint64_t killed_ns;	  /* when p was killed (kill9), or connections first were */
	uint64_t first_after_ns;  /* the first completion of an operation submitted after it */
	uint64_t submitted_after; /* operations submitted after it */
};

/* Runs cfg's workload against the cluster of conf (as client0) until every operation completed
 * (and, with drain_slots, every write's slot is known); fails the test if the watchdog fires,
 * a result is not OK/NOT_FOUND, or (own keys) a GET does not return the session's last write of
 * its key. The caller checks more, then calls ce_run_free. */
struct ce_run *ce_drive(const struct conf *conf, const struct conf_settings *set,
			const struct ce_cfg *cfg);
void ce_run_free(struct ce_run *r);
/* The sessions' statistics, summed. */
void ce_session_stats(struct ce_run *r, struct session_stats *sum);
/* Monotonic time in ns (the clock of ce_op's times). */
uint64_t ce_now_ns(void);

/* The start of a system test program's main: processes it started are killed at exit (and
 * after a failed test: env_teardown), SIGPIPE is ignored, AddressSanitizer's quarantine of the
 * processes it starts is kept small (1 MiB instead of 256: it would hide or fake a replica's
 * RSS growth), and CLUSTER_TESTS=pattern runs only the matching tests (cmocka's filter). */
void ce_main_init(void);

/* Waits (at most 10 s) until every replica executed expect_exec slots, then asserts that they
 * did, that their digests are equal, and that their tables are back to their idle bounds (no
 * descriptor or witness record held, a bounded log and result cache). */
void ce_check_replicas(struct cluster_env *e, uint64_t expect_exec);

#endif
