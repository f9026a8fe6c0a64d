/* verify: checkers for recorded histories (CONF.md 5): linearizability of strong operations per
 * key (Wing-Gong/Lowe search with memoization, bounded by a step budget), and causal consistency
 * of weak and strong operations together (verify/causal.c). */
#ifndef CURPKV_VERIFY_H
#define CURPKV_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum verify_status { VERIFY_OK = 0, VERIFY_FAIL = 1, VERIFY_UNKNOWN = 2 };
enum verify_kind { VERIFY_GET = 1, VERIFY_PUT, VERIFY_DEL, VERIFY_APPEND };

/* One operation of a history. Strings are owned by the history. */
struct verify_op {
	uint64_t session, seq;
	enum verify_kind kind;
	bool weak;
	char *key;    /* lowercase hex */
	char *value;  /* put, append: hex; else NULL */
	char *result; /* get: hex, or NULL for a missing key */
	uint64_t invoke_ns, complete_ns;
	/* weak write: when its session learned the slot that ordered it (the optional history
	 * field "ordered_ns"; 0 = never learned) */
	uint64_t ordered_ns;
	enum verify_status status; /* ok (completed), fail (not applied), unknown (may apply) */
	int line;
};

struct verify_history {
	struct verify_op *ops;
	size_t n, cap;
};

/* Reads a history file (one JSON object per line, CONF.md 5). Lines that are not operations are
 * errors naming the line; scans are skipped (this checker is per key). Returns 0, -EINVAL (a
 * malformed line: its number in *bad_line) or a negative errno. */
int verify_load(const char *path, struct verify_history *h, int *bad_line);
/* Several histories checked as one (`curpkv check-history A B`: a run before a whole-cluster
 * crash and a reading run after the restart): each file is added with verify_load_more, its
 * line numbers continuing those of the files before it (line_base: the lines already read; a
 * violation's "line N" is then a line of the concatenation) and its session ids offset by
 * session_base, so that the sessions of different processes stay distinct sessions even when
 * their ids are equal (a load generator numbers its sessions from its rank in the conf's
 * clients, the same in two runs of one alias; the causal check must not take them for one
 * session). The times must come from one clock: the load generator's are CLOCK_MONOTONIC,
 * which is one system-wide clock on a machine (not per process) and so comparable across
 * processes there, but not across machines or a reboot. *lines receives the file's line count.
 * Returns 0, -EINVAL (a malformed line: its number in the file in *bad_line), -ERANGE (a session
 * id of session_base or more with session_base > 0: it could collide; *bad_line) or a negative
 * errno. */
#define VERIFY_FILE_SESSIONS 1000000000000ull /* session_base step per file (10^12) */
int verify_load_more(const char *path, struct verify_history *h, int line_base,
		     uint64_t session_base, int *lines, int *bad_line);
/* Parses one line into op (strings allocated). Returns 0, VERIFY_SKIP_SCAN (a well-formed scan
 * line; op is left empty) or -EINVAL. */
#define VERIFY_SKIP_SCAN 1
int verify_parse_line(const char *line, struct verify_op *op);
/* Appends op (takes its strings). Returns 0 or -ENOMEM. */
int verify_add(struct verify_history *h, struct verify_op *op);
void verify_free(struct verify_history *h);

struct verify_result {
	size_t keys, ops_checked;
	size_t keys_ok, keys_violated, keys_unknown;
	size_t values_never_written; /* reads of a value no put wrote */
	size_t append_keys;	     /* keys with appends: verify_appends checks them */
	char first_violation[256];   /* a description of the first violating key */
};

/* Checks the strong operations and the weak writes of h, key by key: a key is linearizable if its
 * completed operations can be ordered consistently with real time (an operation that completed
 * before another was invoked comes first) and with register semantics, where `unknown` operations
 * may take effect at any time after their invocation or not at all and `fail` operations never
 * do. A weak write takes effect between its invocation and its ordered_ns (once its session
 * learned its slot, every strong operation invoked later is ordered after it), or, without
 * ordered_ns, like an unknown write; weak reads are the causal check's. Each key gets at most
 * budget search steps: beyond it the key is reported unknown, never as a violation.
 * Returns VERIFY_OK, VERIFY_FAIL (some key violated) or VERIFY_UNKNOWN (no violation, but some
 * key exceeded the budget). */
enum verify_status verify_linearizable(const struct verify_history *h, uint64_t budget,
				       struct verify_result *out);

/* Prints a one-paragraph summary of r. */
void verify_print(FILE *out, const struct verify_result *r);

struct verify_append_result {
	size_t keys, appends, reads, elements;
	size_t keys_ok, keys_violated, keys_unsupported;
	size_t duplicates; /* elements read twice: an append executed twice */
	size_t lost;	   /* acknowledged appends missing from a later read */
	char first_violation[320];
};

/* The exactly-once check of an append workload (verify/append.c), for every key with appends:
 * each element read was appended once (never twice, never by a failed append), all strong reads
 * are prefixes of one order, and that order agrees with real time (an acknowledged append is in
 * every later read, and so on). Keys that mix appends with puts or deletes, elements of different
 * widths or repeated values are reported unsupported. Returns VERIFY_OK, VERIFY_FAIL or
 * VERIFY_UNKNOWN (unsupported keys, no violation). */
enum verify_status verify_appends(const struct verify_history *h, struct verify_append_result *out);
void verify_appends_print(FILE *out, const struct verify_append_result *r);

struct verify_causal_result {
	size_t ops_checked, sessions, reads_checked, violations;
	size_t keys;	  /* verify_causal_per_key: the keys checked (0: one check over all keys) */
	bool unsupported; /* not checked (overlapping operations in a session, memory) */
	char first_violation[320]; /* or why it was not checked */
};

/* Checks that h (weak and strong operations; scans are not in it) is causally consistent, which
 * implies read-your-writes, monotonic reads, monotonic writes and writes-follow-reads for every
 * session: causal order is session order plus reads-from (values are unique), it must be acyclic,
 * and no read may return a value that a write in its causal past had overwritten, nor nothing
 * when a put of the key is in its causal past and no delete could have followed it. Completed
 * operations and unknown writes take part; failed writes never do (reading one is a violation).
 * Sessions must run one operation at a time (else VERIFY_UNKNOWN, `unsupported`); a history
 * with appends is not checked (VERIFY_UNKNOWN, `unsupported`: verify_appends is). Cost: vector
 * clocks of one word per session per operation, and per read a scan of the key's writes.
 * Returns VERIFY_OK, VERIFY_FAIL or VERIFY_UNKNOWN. */
enum verify_status verify_causal(const struct verify_history *h, struct verify_causal_result *out);
/* verify_causal on each key's operations alone (session order restricted to the key): the
 * per-key session guarantees that `curpht` gives (docs/protocols.md), not causality across keys.
 * The counts are summed over keys; `sessions` is the largest count of one key. */
enum verify_status verify_causal_per_key(const struct verify_history *h,
					 struct verify_causal_result *out);
void verify_causal_print(FILE *out, const struct verify_causal_result *r);

/* ---- the slot certificate (verify/slots.c) -------------------------------------------------
 * For a run in which the slot where the replicas executed each operation is known (the
 * deterministic simulation; the system tests read it from the replicas' execution logs): exact
 * checks, no search. Keys are indexes; values are unique in the run. */

#define VERIFY_SCAN_MAX 64 /* the pairs a SCAN may ask for (its count) */

/* One operation. Strings are the caller's. */
struct verify_sop {
	uint64_t session, seq;
	uint8_t op; /* PROTO_OP_GET, _PUT, _DEL, _APPEND or _SCAN (proto/proto.h) */
	bool weak;
	uint64_t key;	    /* 0..nkeys-1 (nkeys: the append key); SCAN: its first key */
	uint32_t count;	    /* SCAN: the keys it asked for (at most VERIFY_SCAN_MAX) */
	const char *val;    /* PUT, APPEND: the value written, NUL-terminated */
	bool found;	    /* GET: it returned a value */
	const char *result; /* GET: that value, NUL-terminated; SCAN: PROTO_SCAN pairs of 8-byte
			     * big-endian keys */
	uint32_t rlen;	    /* bytes in result */
	uint64_t invoke, complete; /* when it was invoked and completed (any one clock) */
	uint64_t exec_at; /* a write: when some replica first executed it (0: never), for the
			   * weak SCAN check */
	uint64_t slot;	  /* where it executed (writes and strong operations) */
	bool has_slot;
	bool moved; /* a view change's replay put it elsewhere than the slot its session was told:
		     * the replay keeps real time per key and per session (docs/recovery.md
		     * "Replay order", rule 2), not across keys, so real_time_all_keys skips it */
};

struct verify_slots_run {
	const struct verify_sop *ops;
	size_t n;
	uint64_t nkeys; /* registers 0..nkeys-1 (at least 1) */
	bool appends;	/* key nkeys is a list of APPENDed elements of elem bytes */
	uint32_t elem;
	/* Stricter checks for runs that allow them: every slot up to the highest holds one of
	 * ops (nothing else was executed); each session's slotted operations ordered as it
	 * issued them, any keys (sessions one operation at a time); strong operations ordered
	 * consistently with real time across keys too (not just per key), except those a view
	 * change moved (verify_sop.moved). */
	bool dense, session_order, real_time_all_keys;
};

struct verify_slots_result {
	uint64_t scans_strong, scans_weak; /* SCAN results checked */
	bool nomem;
	char first_violation[512];
};

/* Checks, in this order: reads return values written to their key and SCAN results are well
 * formed (8-byte keys, ascending from the first, no more than asked for); every write and
 * strong operation has a slot, one per slot; a strong read returns what the writes ordered
 * before it left (the latest write of its key; of the append key, its appends in slot order),
 * a strong SCAN exactly the live keys from its key on in that state; a weak SCAN the state of
 * some prefix of the log that a replica had executed by its completion; per key, conflicting
 * strong operations ordered consistently with real time; per session and key, monotonic
 * writes, writes-follow-reads, read-your-writes and monotonic reads; then the stricter checks
 * asked for. Returns VERIFY_OK, VERIFY_FAIL (the first failure in first_violation) or
 * VERIFY_UNKNOWN (out of memory). */
enum verify_status verify_slots(const struct verify_slots_run *run,
				struct verify_slots_result *out);
/* A SCAN's result as "key=value ..." text in out, or "(what is wrong with it)". */
void verify_sop_scan_text(const struct verify_slots_run *run, const struct verify_sop *o, char *out,
			  size_t cap);

#endif
