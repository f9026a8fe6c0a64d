/* conf: the cluster file parser (prototype-compatible grammar, CONF.md 1-2), latency and quorum
 * files.
 *
 * Every function is reentrant: it touches only its arguments. A loaded struct conf is read-only
 * afterwards and may be shared by threads; a struct conf_diags belongs to one thread at a time.
 * User-facing description: docs/conf.md. */
#ifndef CURPKV_CONF_H
#define CURPKV_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/protocol.h"

#define CONF_ALIAS_MAX		  64
#define CONF_ADDR_MAX		  256
#define CONF_MAX_HOSTS		  1024
#define CONF_DEFAULT_REPLICA_PORT 7070
#define CONF_DEFAULT_MASTER_PORT  7087
#define CONF_KEY_SLOTS		  64 /* >= the number of keys in CONF.md section 2 */

/* Returns "curp", "curpho" or "curpht". */
const char *conf_protocol_name(enum conf_protocol p);
/* Parses a protocol name (case-insensitive). Returns 0 or -EINVAL. */
int conf_protocol_parse(const char *s, enum conf_protocol *out);

/* One diagnostic: an error (the file is unusable) or a warning (it is used anyway). */
struct conf_diag {
	bool error;
	char file[256];
	int line; /* 0 when the message is about the file as a whole */
	char msg[256];
};

/* A growable list of diagnostics; owned by the caller (start it zeroed: "= {0}"), freed with
 * conf_diags_free. At most 1000 are listed, then one entry says how many more were dropped;
 * n_errors and n_warnings count every diagnostic, listed or not. Not thread-safe. */
struct conf_diags {
	struct conf_diag *v;
	size_t n, cap;
	size_t n_errors, n_warnings;
	size_t n_dropped; /* diagnostics counted but not listed */
};
/* Frees the list and zeroes d (d may be NULL). */
void conf_diags_free(struct conf_diags *d);
/* Prints every listed diagnostic as "file:line: error|warning: msg" ("file: error|warning: msg"
 * when line is 0) to out, one per line. d may be NULL. */
void conf_diags_print(const struct conf_diags *d, FILE *out);

/* Every key of CONF.md section 2 with its value; defaults from conf_settings_default(). */
struct conf_settings {
	enum conf_protocol protocol;
	uint16_t master_port;	    /* masterPort, 7087 */
	uint32_t max_desc_routines; /* maxDescRoutines, 10000 */
	uint32_t batch_delay_us;    /* batchDelayUs, 0 */
	uint32_t shards;	    /* shards, 512, power of two 1..65536 */
	uint32_t replica_loops;	    /* replicaLoops, 1 */
	bool noop;		    /* noop, false */
	bool sched_batch;	    /* schedBatch, false */
	bool local_sockets;	    /* localSockets, false */
	uint64_t reqs;		    /* reqs, 1000 */
	uint64_t run_time_ms;	    /* runTime, 0 = none */
	uint32_t writes;	    /* writes %, 0 */
	uint32_t weak_ratio;	    /* weakRatio %, 0 */
	uint32_t weak_writes;	    /* weakWrites %, 0 (0 means 0) */
	uint32_t conflicts;	    /* conflicts %, 0 */
	uint64_t key;		    /* key, 0 (the hot key) */
	uint32_t command_size;	    /* commandSize bytes, 100 */
	uint32_t client_threads;    /* clientThreads, 0 */
	uint32_t clones;	    /* clones, 0 */
	uint32_t client_loops;	    /* clientLoops, 0 = min(threads, online CPUs) */
	bool pipeline;		    /* pipeline, false */
	uint32_t pendings;	    /* pendings, 0 */
	uint64_t key_space;	    /* keySpace, 0 = unique per-thread keys */
	double zipf_skew;	    /* zipfSkew, 0 */
	uint32_t scan_ratio;	    /* scanRatio %, 0 */
	uint32_t scan_count;	    /* scanCount, 0 */
	bool appends; /* appends, false: strong writes are APPENDs (curpkv's exactly-once workload) */
	uint32_t deletes; /* deletes %, 0: of the writes (strong and weak), DELs instead of PUTs */
	uint32_t reply_timeout_s;   /* replyTimeout seconds, 10 */
	uint32_t network_delay_ms;  /* networkDelay one-way ms, 0 */
	uint32_t heartbeat_ms;	    /* heartbeatMs, 100 */
	uint32_t leader_timeout_ms; /* leaderTimeoutMs, 1000 */
	/* clientLeaseMs, 300000: a client silent that long is forgotten by the replicas (its
	 * exactly-once records dropped, its id refused from then on); 0 = never (docs/recovery.md
	 * "Client leases") */
	uint32_t client_lease_ms;
	bool ht_early_weak_reply;  /* htEarlyWeakReply, false */
	uint32_t max_frame_bytes;  /* maxFrameBytes, 1 MiB */
	uint32_t max_key_bytes;	   /* maxKeyBytes, 1 KiB */
	uint32_t max_value_bytes;  /* maxValueBytes, 64 KiB */
	uint32_t max_clients;	   /* maxClients, 1024 */
	uint32_t snap_chunk_bytes; /* snapChunkBytes, 256 KiB: state transfers go in chunks of it */
	char secret[256];	   /* secret, "" = none (or secretFile's) */
	char secret_file[512];	   /* secretFile, "" = none */
	char state_dir[512];	   /* stateDir, "" = none */
	char fsync[16]; /* fsync: "always" (the default, "" here), "everysec" or "no" */
	uint64_t snapshot_entries; /* snapshotEntries: executed entries between snapshots */
	char history_file[512];	   /* historyFile, "" = none */
	uint64_t seed; /* seed, 0 = derive from time (curpkv addition for reproducible workloads) */
	bool seed_set;
};

/* The shortest clientLeaseMs but 0: a session renews its lease every quarter of it. */
#define CONF_LEASE_MIN_MS 100

/* With `appends`, commandSize is at least this: every element appended is unique (it starts with
 * "s<session>-<seq>-", at most 21 bytes for the load generator's sessions and seqs). */
#define CONF_APPEND_MIN 24

/* Fills s with the defaults of CONF.md section 2. */
void conf_settings_default(struct conf_settings *s);

/* Threads per client process: clientThreads if > 0, else clones + 1. */
uint32_t conf_settings_threads(const struct conf_settings *s);
/* In-flight window per thread: 1 without pipeline; pendings, or 1000 when pendings is 0, with it.
 */
uint32_t conf_settings_window(const struct conf_settings *s);

struct conf_host {
	char alias[CONF_ALIAS_MAX]; /* lower-cased */
	char addr[CONF_ADDR_MAX];   /* host name or address, without port, brackets removed */
	uint16_t
	    port; /* replicas: explicit or 7070+id; master: explicit or masterPort; clients: 0 */
	bool port_explicit;
	int id; /* replicas: number at the end of the alias; others: index in file order */
	int line;
	int proxy_replica; /* clients: replica id from the Proxy section, -1 if none */
	bool proxy_local;  /* clients: co-located with proxy_replica ("(local)") */
};

/* One key line under "-- Apply to <alias> --", kept raw and applied by conf_settings_for(). */
struct conf_override {
	char alias[CONF_ALIAS_MAX];
	char key[64];
	char value[CONF_ADDR_MAX];
	int line;
};

/* A parsed cluster file. Owned by the caller; free with conf_free. */
struct conf {
	char path[512];
	struct conf_host *replicas; /* sorted by id */
	size_t n_replicas;
	struct conf_host *clients; /* file order */
	size_t n_clients;
	struct conf_host master;
	bool has_master;
	struct conf_settings settings; /* global keys (outside Apply to sections) */
	struct conf_override *overrides;
	size_t n_overrides;
	/* line of the last global assignment of each key (CONF.md order), 0 = default; lets whole-
	 * file checks name the line to fix */
	int key_line[CONF_KEY_SLOTS];
};

/* Parses the file at path. Returns 0 and sets *out when there is no error (warnings may be in
 * diags); returns -EINVAL when diags holds at least one error (and *out is still set, with every
 * value that did parse, so callers and tests can look at it), or another negative errno when the
 * file cannot be read (*out NULL; -EFBIG above 16 MiB, also reported in diags). A NUL byte in
 * the file is an error. diags may be NULL. The caller owns *out (conf_free). */
int conf_load(const char *path, struct conf **out, struct conf_diags *diags);
/* Same, from a NUL-terminated buffer (not kept); name is used in diagnostics and as c->path. */
int conf_load_string(const char *name, const char *text, struct conf **out,
		     struct conf_diags *diags);
/* Frees c and everything it holds; c may be NULL. */
void conf_free(struct conf *c);

/* Whole-file validation (CONF.md: >= 1 and at most 15 replicas, an odd count for the CURP
 * protocols, unique replica ids 0..N-1 and aliases, no two replicas or the master on one
 * address:port, a master, relations between keys such as commandSize <= maxValueBytes), appended
 * to diags (may be NULL); weakRatio > 0 with curp is a warning. Returns 0 or -EINVAL.
 * conf_load already runs it. */
int conf_validate(const struct conf *c, struct conf_diags *diags);

/* Effective settings for the process named alias (NULL = none): the globals plus its Apply-to
 * keys (case-insensitive alias), in file order; weak_ratio is 0 for protocol curp. With
 * secretFile, the secret is read from that file into out->secret: a regular file owned by this
 * user, without any permission for group or others, holding 16..255 bytes (trailing white space
 * and line ends dropped); anything else is an error naming the secretFile line. Returns 0, or
 * -EINVAL when an override is bad, breaks a relation between keys or the secret file is refused
 * (reported in diags, which may be NULL; out is still filled, never with a refused secret). */
int conf_settings_for(const struct conf *c, const char *alias, struct conf_settings *out,
		      struct conf_diags *diags);

/* Lookups by alias (case-insensitive); NULL when absent. */
const struct conf_host *conf_find_replica(const struct conf *c, const char *alias);
const struct conf_host *conf_find_client(const struct conf *c, const char *alias);
const struct conf_host *conf_replica_by_id(const struct conf *c, int id);

/* Prints c with the effective settings s (from conf_settings_for) to out, in the shape scripts
 * parse: "conf: <path>", "protocol: <p>", "replicas: N (f=F)" then "  <alias> <addr>:<port> (id
 * N)" lines, "clients: N" then "  <alias> <addr>[ (co-located with|served by <replica>)]",
 * "master: <alias> <addr>:<port>", "overrides: N" (only if any), then "settings:" and every key
 * "  name: value" in CONF.md order (IPv6 addresses bracketed, the secret never shown). */
void conf_print(const struct conf *c, const struct conf_settings *s, FILE *out);

/* Latency file: "uniform <dur>" or rows "<addrA> <addrB> <rtt>". */
struct conf_latency_row {
	char a[CONF_ADDR_MAX];
	char b[CONF_ADDR_MAX];
	uint32_t rtt_us;
};
struct conf_latency {
	bool uniform;
	uint32_t uniform_rtt_us;
	struct conf_latency_row *rows;
	size_t n_rows;
};
/* Loads a latency file: blank lines and comments allowed, any white space; RTTs need a unit
 * ("40ms", "0.5ms", "250us"; "0" alone is fine), at most 1h; the first "uniform" line applies to
 * every pair and ends the file. Returns 0, -EINVAL (every bad line reported in diags with its
 * line; *out left empty) or a negative errno (unreadable file). The caller frees *out with
 * conf_latency_free. */
int conf_latency_load(const char *path, struct conf_latency *out, struct conf_diags *diags);
/* Frees the rows and zeroes l; safe to call twice. */
void conf_latency_free(struct conf_latency *l);
/* Returns the emulated one-way delay (half the RTT) between two addresses, in microseconds: the
 * row listed in this direction, else the reverse one; 0 for unknown pairs, for a == b and for
 * l NULL. */
uint32_t conf_latency_oneway_us(const struct conf_latency *l, const char *a, const char *b);

/* Quorum file: one replica alias per line, a two-token line "<anything> <alias>" marks the
 * leader (the first one wins; another is a warning); lines after "---" (later quorums) and "3/4"
 * flags are SwiftPaxos' and ignored. Sets *leader_id to the leader's replica id, or -1 if none is
 * marked. Returns 0, -EINVAL (unknown alias or malformed line: in diags with file:line) or a
 * negative errno (unreadable file). */
int conf_quorum_load(const char *path, const struct conf *c, int *leader_id,
		     struct conf_diags *diags);

/* Parses a duration token ("none", "250ms", "30s", "5m", "1h", "1m30s", "1.5s", a bare integer =
 * seconds; units h, m, s, ms, us, case-insensitive) into milliseconds, rounded up so that a
 * positive duration never becomes 0; "none" gives 0. Returns 0 or -EINVAL (*out_ms untouched). */
int conf_parse_duration_ms(const char *s, uint64_t *out_ms);

#endif
