/* proto: curpkv's messages, their msgpack encoding and length-prefixed framing (PROTOCOL.md 2). */
#ifndef CURPKV_PROTO_H
#define CURPKV_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/*
 * Wire format. A frame is a 4-byte little-endian body length followed by the body, one msgpack
 * array per message: [type, view, field...] with the fields of each type in the fixed order of
 * the message table below (docs/wire.md describes the same, with each field's meaning). Frames
 * larger than the receiver's maxFrameBytes are refused at the header. Decoding checks every field
 * (type, range, length) and never trusts a declared size: msgpack lengths are checked against the
 * bytes that remain and the nesting depth is bounded before msgpack-c's unpacker sees the body.
 *
 * Decoded byte fields (key, value, addr...) point INTO the frame buffer: they are valid until
 * the caller consumes the frame, and whoever keeps them must copy them.
 */

#define PROTO_FRAME_HEADER  4u
#define PROTO_MAX_REPLICAS  15
#define PROTO_MAX_DEPS	    64 /* HO causal_deps carried in one RECORD_ACK */
#define PROTO_ADDR_MAX	    256
#define PROTO_MAX_STATS	    128	 /* name/value pairs in one STATS_REPLY */
#define PROTO_STAT_NAME_MAX 64	 /* bytes of one stat name */
#define PROTO_MAX_XBITS	    8192 /* bytes of one SNAP_CLIENT executed-seq bitmap */
#define PROTO_AUTH_BYTES    32	 /* bytes of a handshake nonce and of a handshake MAC */

/*
 * The message table: every message, in the order of its type code (HELLO = 1, REGISTER = 2...),
 * each with its fields in wire order after [type, view] and the checks its decoder makes. It is
 * the only list of messages and fields: the enum below, the type names, and proto.c's field
 * count, encodability check, encoder, encoder's bound and decoder are all made from it, so a new
 * message is one row here (plus the members of struct proto_msg it needs, if new). Appending
 * keeps the codes of the others; a row moved or removed changes codes on the wire
 * (tests/data/proto catches it).
 *
 * A row is X(NAME, fields, checks). Fields follow one another (no commas between them), each
 * naming a member of struct proto_msg (proto.c checks the member's C type at compile time):
 *   F_U64(f)             u64                    F_U64NZ(f)       u64 != 0
 *   F_U8(f, lo, hi)      uint8_t in lo..hi      F_U16(f, lo, hi) uint16_t in lo..hi
 *   F_I32(f, lo, hi)     int32_t in lo..hi      F_BOOL(f)        msgpack true/false
 *   F_CID(f)             two u64, both != 0     F_CID0(f)        two u64, both 0 or both != 0
 *   F_CMD(f, OPS)        [op, key, value or nil, scan_count]; OPS: the ops allowed, ANY (a
 *                        client's: not the leader's own, proto_op_internal), ANY_OR_INTERNAL
 *                        (also the no-op and EXPIRE), WRITE (PUT, DEL) or READ (GET, SCAN)
 *   F_BIN(p, len, B)     bin; B: VALUE (<= maxValueBytes), SNAP_CHUNK (<= maxFrameBytes, items
 *                        as proto_snap_next reads them), XBITS (<= PROTO_MAX_XBITS, whole u64s)
 *   F_ADDR(p, len)       str <= PROTO_ADDR_MAX  F_AUTH(p)        bin of PROTO_AUTH_BYTES
 *   F_REPLICAS(a, n)     array <= PROTO_MAX_REPLICAS of [id (0..65535), addr, port (1..65535)]
 *   F_DEPS(a, n)         array <= PROTO_MAX_DEPS of u64 != 0
 *   F_STATS(a, n)        array <= PROTO_MAX_STATS of [name (str <= PROTO_STAT_NAME_MAX), u64]
 * Checks, made once every field decoded, compare u64 fields: C_LE(a, b) a <= b, C_LT(a, b)
 * a < b, and C_INTERNAL(cid, cmd): the command is the leader's own (the no-op or EXPIRE,
 * proto_op_internal) exactly when the cid is {0, 0}.
 * The encoder writes every integer in its shortest msgpack form and checks only what it reads
 * (pointers, array counts, constant caps); the decoder checks everything listed.
 */
// clang-format off
#define PROTO_MESSAGES(X)                                                                          \
	/* connection set-up: any -> replica/master: who is connecting */                          \
	X(HELLO, F_U8(role, 1, PROTO_ROLE_ADMIN) F_I32(node_id, -1, 65535) F_U64(client_id), )    \
	/* master control plane */                                                                 \
	/* replica -> master: slot = its exec index, client_id = the highest client id it has     \
	 * seen; view = its current view */                                                        \
	X(REGISTER, F_I32(node_id, 0, 65535) F_ADDR(addr, addr_len) F_U16(port, 1, 65535)          \
		    F_I32(leader, -1, 65535) F_U64(slot) F_BOOL(live) F_U64(client_id)             \
			F_BOOL(restored), )                                                        \
	/* client/replica -> master: asks for the cluster */                                       \
	X(CLUSTER_REQ, F_U8(role, 1, PROTO_ROLE_ADMIN) F_I32(node_id, -1, 65535), )                \
	/* master -> all */                                                                        \
	X(CLUSTER_INFO, F_BOOL(ready) F_I32(leader, -1, 65535) F_I32(node_id, -1, 65535)           \
			F_U64(client_id) F_REPLICAS(replicas, n_replicas) F_BOOL(rejoin), )        \
	/* master <-> replica: slot = exec index */                                                \
	X(HEARTBEAT, F_I32(node_id, -1, 65535) F_U64(commit) F_U64(slot), )                        \
	/* strong operations */                                                                    \
	/* client -> every replica */                                                              \
	X(PROPOSE, F_CID(cid) F_U64(low_seq) F_U64(dep) F_CMD(cmd, ANY) F_U64(weak_dep),           \
		   C_LE(low_seq, cid.seq) C_LT(dep, cid.seq) C_LE(weak_dep, dep))                  \
	/* leader -> client */                                                                     \
	X(REPLY, F_CID(cid) F_U64(slot) F_BOOL(ok) F_U8(status, 0, PROTO_ST_MAX)                   \
		 F_BIN(value, vlen, VALUE) F_CID0(read_dep) F_U64(ver), )                          \
	/* witness -> client */                                                                    \
	X(RECORD_ACK, F_CID(cid) F_BOOL(ok) F_CID0(read_dep) F_DEPS(deps, n_deps) F_U64(dep_exec), \
		      C_LT(dep_exec, cid.seq))                                                     \
	/* client -> replica: asks for the post-execution result */                                \
	X(SYNC, F_CID(cid) F_U64(low_seq) F_U64(fp), C_LE(low_seq, cid.seq))                       \
	/* replica -> client */                                                                    \
	X(SYNC_REPLY, F_CID(cid) F_U64(slot) F_U8(status, 0, PROTO_ST_MAX)                         \
		      F_BIN(value, vlen, VALUE) F_U64(ver), )                                      \
	/* replication */                                                                          \
	/* leader -> follower */                                                                   \
	/* (the no-op and EXPIRE, the leader's own entries, without a cid) */                      \
	X(ACCEPT, F_U64(slot) F_CID0(cid) F_CMD(cmd, ANY_OR_INTERNAL) F_U64(commit),               \
		  C_INTERNAL(cid, cmd))                                                            \
	/* follower -> leader: slot..slot_hi accepted */                                           \
	X(ACK, F_U64(slot) F_U64(slot_hi), C_LE(slot, slot_hi))                                    \
	/* leader -> follower: commit index */                                                     \
	X(COMMIT, F_U64(commit), )                                                                 \
	/* observability */                                                                        \
	/* anyone -> replica */                                                                    \
	X(STATS_REQ, , )                                                                           \
	/* replica -> requester: counters */                                                       \
	X(STATS_REPLY, F_STATS(stats, n_stats), )                                                  \
	/* weak operations (PROTOCOL.md 5-6) */                                                    \
	/* HO client -> every replica */                                                           \
	X(CAUSAL_PROPOSE, F_CID(cid) F_U64(low_seq) F_U64(dep)                                     \
			  F_I32(bound, 0, PROTO_MAX_REPLICAS - 1) F_CMD(cmd, WRITE),               \
			  C_LE(low_seq, cid.seq) C_LT(dep, cid.seq))                               \
	/* HO replica -> client: ok = executed */                                                  \
	X(CAUSAL_REPLY, F_CID(cid) F_U64(slot) F_BOOL(ok) F_U8(status, 0, PROTO_ST_MAX), )         \
	/* HT client -> leader */                                                                  \
	X(WEAK_WRITE, F_CID(cid) F_U64(low_seq) F_U64(dep) F_CMD(cmd, WRITE),                      \
		      C_LE(low_seq, cid.seq) C_LT(dep, cid.seq))                                   \
	/* client -> bound/closest replica */                                                      \
	X(WEAK_READ, F_CID(cid) F_U64(token) F_U64(dep) F_CMD(cmd, READ), C_LT(dep, cid.seq))      \
	/* replica -> client */                                                                    \
	X(WEAK_REPLY, F_CID(cid) F_U64(slot) F_U64(commit) F_U8(status, 0, PROTO_ST_MAX)           \
		      F_BIN(value, vlen, VALUE), )                                                 \
	/* round-trip probes (binding to the closest replica) */                                   \
	/* client -> replica: slot = nonce, client_id = the session's (0 = none): renews its lease \
	 * at the leader (docs/recovery.md "Client leases") */                                     \
	X(PING, F_U64(slot) F_U64(client_id), )                                                    \
	/* replica -> client: slot = the nonce, client_id = PING's, echoed (it names the session \
	 * on a shared connection) */                                                              \
	X(PONG, F_U64(slot) F_U64(client_id), )                                                    \
	/* view change (PROTOCOL.md 7.2); view = the new view */                                   \
	/* new leader -> replica: send your state from slot on (slot_hi: the first item wanted) */ \
	X(VC_REQ, F_U64(slot) F_U64(round) F_U64(slot_hi), )                                       \
	/* replica -> new leader: one accepted entry */                                            \
	X(VC_ENTRY, F_U64(slot) F_U64(eview) F_CID0(cid) F_CMD(cmd, ANY_OR_INTERNAL) F_U64(round)  \
		    F_U64(slot_hi),                                                                \
		    C_INTERNAL(cid, cmd))                                                          \
	/* replica -> new leader: one witness record (eview: the view it was recorded in) */       \
	X(VC_RECORD, F_CID(cid) F_U64(eview) F_BOOL(ok) F_BOOL(weak) F_U64(dep)                    \
		     F_I32(bound, 0, PROTO_MAX_REPLICAS - 1) F_CMD(cmd, ANY) F_U64(slot)           \
		     F_CID0(read_dep) F_U64(weak_dep) F_U64(round) F_U64(slot_hi)                  \
			 F_U64(low_seq),                                                           \
		     C_LT(dep, cid.seq) C_LE(weak_dep, dep))                                       \
	/* replica -> new leader: slot = exec index, slot_hi = the VC_ENTRY, VC_RECORD and        \
	 * VC_DECIDED frames sent before it since the last VC_DONE, eview and cut = the last view  \
	 * installed here and where its log was cut, dview and dhole = the latest decision known  \
	 * here (VC_DECIDED: the older ones) */                                                    \
	X(VC_DONE, F_U64(commit) F_U64(slot) F_U64(slot_hi) F_U64(eview) F_U64(cut) F_U64(dview)   \
		   F_U64(dhole) F_U64(round),                                                      \
		   C_LE(eview, dview))                                                             \
	/* new leader -> replica: cut = the decided log ends there */                              \
	X(VC_INSTALL, F_U64(cut) F_U64(commit) F_U64(slot), C_LE(slot, cut))                       \
	/* catch-up by state transfer (PROTOCOL.md 7.3); view = the current view */                \
	/* follower -> leader: slot = its exec index, ok = send the state even if the log reaches \
	 * back there: send what I lack */                                                         \
	X(CATCHUP, F_U64(slot) F_BOOL(ok) F_U64(round), )                                          \
	/* leader -> follower: value = a chunk of keys (proto_snap_next), part of the executed     \
	 * state */                                                                                \
	X(SNAP_KV, F_BIN(value, vlen, SNAP_CHUNK) F_U64(round) F_U64(slot_hi), )                   \
	/* leader -> follower: slot = xfloor, dep = highest weak write executed, value =           \
	 * executed-seq bitmap */                                                                  \
	X(SNAP_CLIENT, F_U64NZ(cid.client) F_U64(low_seq) F_U64(slot) F_U64(dep)                   \
		       F_BIN(value, vlen, XBITS) F_U64(round) F_U64(slot_hi), )                    \
	/* leader -> follower: one cached result (SYNC_REPLY's fields, and fp) */                  \
	X(SNAP_RESULT, F_CID(cid) F_U64(slot) F_U8(status, 0, PROTO_ST_MAX)                        \
		       F_BIN(value, vlen, VALUE) F_U64(ver) F_U64(fp) F_U64(round) F_U64(slot_hi), \
		       )                                                                           \
	/* leader -> follower: slot = the exec index the state is at, slot_hi = SNAP_* frames      \
	 * before it, eview and cut as VC_DONE, ver = the version of absent keys, client_id = the  \
	 * expired-client floor (docs/recovery.md "Client leases") */                              \
	X(SNAP_DONE, F_U64(commit) F_U64(slot) F_U64(slot_hi) F_U64(eview) F_U64(cut)              \
		     F_U64(round) F_U64(ver) F_U64(client_id), )                                   \
	/* the handshake that opens every connection when the conf has a secret (auth/auth.h,     \
	 * docs/wire.md "Handshake"); handled by net/, never delivered to a connection's owner */  \
	/* connector -> acceptor: nonce = the connector's */                                       \
	X(AUTH_HELLO, F_U8(role, 1, PROTO_ROLE_MASTER) F_I32(node_id, -1, 65535) F_AUTH(nonce), )  \
	/* acceptor -> connector: nonce = the acceptor's */                                        \
	X(AUTH_CHALLENGE, F_U8(role, 1, PROTO_ROLE_MASTER) F_I32(node_id, -1, 65535)               \
			  F_AUTH(nonce), )                                                         \
	/* connector -> acceptor: mac = the connector's proof */                                   \
	X(AUTH_PROOF, F_AUTH(mac), )                                                               \
	/* acceptor -> connector: mac = the acceptor's proof */                                    \
	X(AUTH_OK, F_AUTH(mac), )                                                                  \
	/* either way: refused (the same answer whatever the reason) */                            \
	X(AUTH_FAIL, , )                                                                           \
	/* view change, added after the handshake (type numbers never change) */                   \
	/* replica -> new leader: one decision it keeps other than the latest (VC_DONE carries     \
	 * that one): dview and dhole = that view and where its leader's collected entries ended, \
	 * slot_hi = its index in the answer */                                                    \
	X(VC_DECIDED, F_U64NZ(dview) F_U64(dhole) F_U64(round) F_U64(slot_hi), )
// clang-format on

#define PROTO_TYPE_ENUM_(name, fields, checks) PROTO_##name,
enum proto_type {
	PROTO_TYPE_NONE = 0, /* not a message: codes start at 1 */
	PROTO_MESSAGES(PROTO_TYPE_ENUM_) PROTO_TYPE_MAX
};
#undef PROTO_TYPE_ENUM_

/* Roles in HELLO and CLUSTER_REQ (1..3); the handshake's AUTH_HELLO/AUTH_CHALLENGE also name the
 * master (4), which only ever accepts connections. */
enum proto_role {
	PROTO_ROLE_CLIENT = 1,
	PROTO_ROLE_REPLICA = 2,
	PROTO_ROLE_ADMIN = 3,
	PROTO_ROLE_MASTER = 4
};

/* APPEND: the value becomes the old value (empty if none) followed by the command's value; a
 * `curp` operation only (docs/protocols.md, "APPEND"), for the exactly-once workload. */
enum proto_op {
	PROTO_OP_NONE = 0,
	PROTO_OP_GET = 1,
	PROTO_OP_PUT,
	PROTO_OP_DEL,
	PROTO_OP_SCAN,
	PROTO_OP_APPEND,
	/* a log entry the leader makes, never a client's command (docs/recovery.md "Client
	 * leases"): its value lists the clients whose records every replica drops at its slot,
	 * PROTO_EXPIRE_ITEM bytes each (proto_expire_get); client = seq = 0 */
	PROTO_OP_EXPIRE,
	/* INCR: the value, a decimal signed 64-bit integer (a missing key counts as 0), plus the
	 * command's value, the increment in the same form (proto_incr); the result is the new
	 * value. A `curp` operation only, like APPEND (docs/protocols.md, "INCR") */
	PROTO_OP_INCR,
	/* GETDEL: deletes the key; the result is its old value (status OK) or status NOT_FOUND
	 * (the key did not exist). `curp` only (docs/protocols.md, "GETDEL and SETX") */
	PROTO_OP_GETDEL,
	/* SETX: a conditional SET. The value is one byte of PROTO_SETX_* flags (at least one; not
	 * both NX and XX) followed by the new value (proto_setx_flags). The result says whether the
	 * key existed before: status OK (with PROTO_SETX_GET, its old value) or NOT_FOUND; whether
	 * it was set follows from that and the flags (proto_setx_applies). `curp` only */
	PROTO_OP_SETX
};
#define PROTO_OP_MAX PROTO_OP_SETX
/* The ops that carry a value. */
static inline bool proto_op_has_val(unsigned op)
{
	return op == PROTO_OP_PUT || op == PROTO_OP_APPEND || op == PROTO_OP_EXPIRE ||
	       op == PROTO_OP_INCR || op == PROTO_OP_SETX;
}
/* The strong read-modify-writes: executed once in the state machine, `curp` only. */
static inline bool proto_op_rmw(unsigned op)
{
	return op == PROTO_OP_APPEND || op == PROTO_OP_INCR || op == PROTO_OP_GETDEL ||
	       op == PROTO_OP_SETX;
}
/* SETX's flags (the value's first byte): set only if the key does not exist (Redis's NX), only
 * if it exists (XX); the result carries the old value (GET). */
#define PROTO_SETX_NX  0x01u
#define PROTO_SETX_XX  0x02u
#define PROTO_SETX_GET 0x04u
/* The flags byte before a SETX's new value: a SETX's value may be one byte longer than
 * maxValueBytes, so that any value a PUT takes can be set conditionally (proto_cmd_max_val). */
#define PROTO_SETX_HDR 1u
/* A SETX's flags, or -1 if its value (len bytes at v) has no valid flags byte: none, an unknown
 * bit, no flag at all (that SETX would be a PUT), or both NX and XX. Pure function: any thread. */
static inline int proto_setx_flags(const uint8_t *v, uint32_t len)
{
	if (len < PROTO_SETX_HDR)
		return -1;
	unsigned f = v[0];
	if (f == 0 || (f & ~(PROTO_SETX_NX | PROTO_SETX_XX | PROTO_SETX_GET)) != 0 ||
	    (f & (PROTO_SETX_NX | PROTO_SETX_XX)) == (PROTO_SETX_NX | PROTO_SETX_XX))
		return -1;
	return (int)f;
}
/* Whether a SETX of these flags sets the key, given whether the key existed before it. */
static inline bool proto_setx_applies(unsigned flags, bool existed)
{
	return !((flags & PROTO_SETX_NX) && existed) && !((flags & PROTO_SETX_XX) && !existed);
}
/* The longest value a command of op may carry with the limit max_value (maxValueBytes). */
static inline uint64_t proto_cmd_max_val(unsigned op, uint32_t max_value)
{
	return (uint64_t)max_value + (op == PROTO_OP_SETX ? PROTO_SETX_HDR : 0);
}
/* The longest decimal signed 64-bit integer ("-9223372036854775808"). */
#define PROTO_INT_MAX_LEN 20
/* An INCR refused at its execution completes with status INVALID and one of these as its value
 * (nothing changed): the key's value, or the increment, is not a decimal signed 64-bit integer
 * (Redis's "value is not an integer or out of range"), or the sum would overflow. */
#define PROTO_INCR_NOT_INT  "not an integer"
#define PROTO_INCR_OVERFLOW "overflow"
/* The ops only the leader puts in the log (ACCEPT, VC_ENTRY), with client = seq = 0: the no-op
 * that fills a hole, and EXPIRE. A client message carrying one does not decode. */
static inline bool proto_op_internal(unsigned op)
{
	return op == PROTO_OP_NONE || op == PROTO_OP_EXPIRE;
}
/* EXPIRE's value: items of a client id and the summary of its executed seqs the leader saw when
 * it decided (both 8 bytes, little-endian). */
#define PROTO_EXPIRE_ITEM 16u
/* Writes item i of an EXPIRE value at p. Pure function: any thread. */
static inline void proto_expire_put(uint8_t *p, uint64_t client, uint64_t summary)
{
	for (int b = 0; b < 8; b++) {
		p[b] = (uint8_t)(client >> (8 * b));
		p[8 + b] = (uint8_t)(summary >> (8 * b));
	}
}
/* Reads the item at p (PROTO_EXPIRE_ITEM bytes). Pure function: any thread. */
static inline void proto_expire_get(const uint8_t *p, uint64_t *client, uint64_t *summary)
{
	*client = *summary = 0;
	for (int b = 0; b < 8; b++) {
		*client |= (uint64_t)p[b] << (8 * b);
		*summary |= (uint64_t)p[8 + b] << (8 * b);
	}
}

/* Result status carried in REPLY / SYNC_REPLY. Protocol outcomes, not C errors. */
enum proto_status {
	PROTO_ST_OK = 0,	/* value is the result (GET of an existing key, PUT/DEL done) */
	PROTO_ST_NOT_FOUND = 1, /* GET of a missing key (value empty) */
	PROTO_ST_STALE_VIEW,	/* sender's view is older than the receiver's */
	PROTO_ST_NOT_LEADER,	/* the receiver is not the leader of the view */
	PROTO_ST_BUSY,		/* descriptor pool / table full: retry later */
	PROTO_ST_TOO_OLD,	/* cid below the client's watermark: result was collected */
	PROTO_ST_INVALID,	/* malformed command (limits) */
	PROTO_ST_WAIT,		/* weak read: the replica has not executed up to the token yet */
	PROTO_ST_CID_REUSED,	/* the replica holds another command under this cid (a client id
				 * handed out twice): refused, nothing applied for it */
	PROTO_ST_EXPIRED,	/* the client id expired (silent past clientLeaseMs: its records
				 * were dropped): refused, and never executed under that id from
				 * now on (docs/recovery.md "Client leases") */
};
#define PROTO_ST_MAX PROTO_ST_EXPIRED

struct proto_cid {
	uint64_t client; /* unique cluster-wide, assigned by the master; 0 = none */
	uint64_t seq;	 /* per session, from 1; 0 = none */
};

struct proto_cmd {
	uint8_t op; /* enum proto_op */
	const uint8_t *key;
	uint32_t klen;
	const uint8_t *val; /* PUT and APPEND only */
	uint32_t vlen;
	uint32_t scan_count; /* SCAN only */
};

struct proto_replica_addr {
	int32_t id;
	uint16_t port;
	const char *addr; /* not NUL-terminated on decode: use addr_len */
	uint32_t addr_len;
};

/* One message; only the fields of its type are meaningful (see enum proto_type). */
struct proto_msg {
	uint8_t type;
	uint64_t view;

	/* HELLO, CLUSTER_REQ, AUTH_HELLO, AUTH_CHALLENGE */
	uint8_t role;	 /* enum proto_role */
	int32_t node_id; /* HELLO/CLUSTER_REQ (replica id, -1 = none), REGISTER, CLUSTER_INFO (your
			  * id, -1 = none), HEARTBEAT, AUTH_HELLO/AUTH_CHALLENGE (the sender's) */
	/* AUTH_HELLO, AUTH_CHALLENGE: the sender's fresh nonce; AUTH_PROOF, AUTH_OK: its MAC. Both
	 * PROTO_AUTH_BYTES long (the decoder refuses any other length) */
	const uint8_t *nonce;
	const uint8_t *mac;
	/* REGISTER (also: view, leader, slot = its exec index, client_id = the highest client id
	 * it has seen) */
	uint16_t port;
	const char *addr;
	uint32_t addr_len;
	bool live; /* REGISTER: the replica already serves a cluster (a master made it start
		    * before): not a fresh process */
	/* REGISTER: a new process that rebuilt its state from its write-ahead log (not live, yet
	 * not a fresh process that lost its state); view and leader: those it logged last */
	bool restored;
	/* CLUSTER_INFO */
	bool ready;
	bool rejoin;	/* CLUSTER_INFO to a replica: it registered before (restarted): it lost its
			 * witness records (PROTOCOL.md 7.3) */
	int32_t leader; /* CLUSTER_INFO; REGISTER: the leader of its view, -1 if not serving */
	uint32_t n_replicas;
	struct proto_replica_addr replicas[PROTO_MAX_REPLICAS];
	/* CLUSTER_INFO: assigned client id (0 for replicas); HELLO, PING, PONG: client id;
	 * REGISTER: the highest client id the replica has seen (0: none); SNAP_DONE: the
	 * expired-client floor (docs/recovery.md "Client leases") */
	uint64_t client_id;

	/* PROPOSE / REPLY / RECORD_ACK / SYNC / SYNC_REPLY / ACCEPT */
	struct proto_cid cid;
	struct proto_cmd cmd; /* PROPOSE, ACCEPT */
	uint64_t low_seq;     /* PROPOSE, SYNC: lowest seq the session still waits for */
	uint64_t slot;	      /* REPLY, SYNC_REPLY, ACCEPT, ACK (first), HEARTBEAT (exec index),
			       * VC_REQ (first slot wanted), VC_ENTRY, VC_DONE (exec index) */
	uint64_t slot_hi;     /* ACK: last slot of the accepted range; VC_ENTRY, VC_RECORD,
			       * SNAP_KV, SNAP_CLIENT, SNAP_RESULT: the item's index in its answer
			       * (0, 1, ...); VC_DONE, SNAP_DONE: how many items; VC_REQ: the first
			       * item wanted (an answer resumed after a lost one) */
	/* VC_REQ, CATCHUP: which request of the sender's (a counter); VC_ENTRY, VC_RECORD,
	 * VC_DONE, SNAP_*: the request they answer (answers to an earlier one are ignored) */
	uint64_t round;
	/* SYNC, SNAP_RESULT: the command's fingerprint (proto_cmd_fp; 0 = not given) */
	uint64_t fp;
	/* ACCEPT, COMMIT, HEARTBEAT: commit index (slots < commit are committed) */
	uint64_t commit;
	bool ok;	      /* REPLY, RECORD_ACK */
	uint8_t status;	      /* REPLY, SYNC_REPLY: enum proto_status */
	const uint8_t *value; /* REPLY, SYNC_REPLY: result bytes */
	uint32_t vlen;

	/* PROPOSE, CAUSAL_PROPOSE, WEAK_WRITE: seq of the session's previous weak write (0 = none);
	 * the leader orders nothing of the session before that write is in its log. WEAK_READ
	 * (HO): the session's latest weak write; the replica answers only once it holds that
	 * write's record or has executed it */
	uint64_t dep;
	/* PROPOSE, VC_RECORD: the session's previous weak write (<= dep: a curpho strong
	 * command's dep is its previous write, weak or strong); a fast-path completion needs it
	 * recorded at its witnesses, so a view change replays no command without it */
	uint64_t weak_dep;
	int32_t bound;	/* CAUSAL_PROPOSE: the replica the session is bound to (answers it) */
	uint64_t token; /* WEAK_READ: answer only once every slot below token is executed */
	/* REPLY, SYNC_REPLY: 1 + the slot of the write whose value (or deletion) a GET returns, 0
	 * if no write is known; SNAP_DONE: 1 + the slot of the latest DEL executed (the version of
	 * every absent key) */
	uint64_t ver;
	/* HO: RECORD_ACK, REPLY (strong GET): latest pending weak write on the key, or {0,0} */
	struct proto_cid read_dep;
	/* HO: RECORD_ACK: seqs of the session's weak writes pending at this witness */
	uint32_t n_deps;
	/* HO: RECORD_ACK: highest seq of the session's weak writes executed at this witness (they
	 * execute in session order, so every earlier one executed too; 0 = none) */
	uint64_t dep_exec;
	/* VC_ENTRY: the view the entry was accepted in; VC_RECORD: the view it was recorded in;
	 * VC_DONE: the last view installed at the sender */
	uint64_t eview;
	uint64_t cut; /* VC_DONE, VC_INSTALL: the slot where that view's decided log ended */
	/* VC_DONE: the latest view whose leader's decision the sender knows (its VC_INSTALL came,
	 * installed or not; >= eview), and that decision's hole (VC_INSTALL's: where the entries
	 * its leader collected ended and its replayed commands began; nothing of an older view
	 * at or after it was committed) */
	uint64_t dview, dhole;
	bool weak;    /* VC_RECORD: the record is weak (HO) */

	/* STATS_REPLY: name/value pairs */
	uint32_t n_stats;
	struct proto_stat {
		const char *name;
		uint32_t name_len;
		uint64_t value;
	} stats[PROTO_MAX_STATS];
	uint64_t deps[PROTO_MAX_DEPS]; /* RECORD_ACK: the first n_deps are meaningful */
};

/* Limits applied while decoding (from the conf: maxFrameBytes, maxKeyBytes, maxValueBytes). */
struct proto_limits {
	uint32_t max_frame;
	uint32_t max_key;
	uint32_t max_value;
};

/* Makes m an empty message of type `type` in view `view`, as `struct proto_msg m = {.type =
 * type, .view = view}` would, but without zeroing the arrays at its end (stats, deps: 3.5 KiB of
 * the 4.2): their counts (n_stats, n_deps) are zeroed, and nothing reads an element beyond its
 * count. For the messages built once or more per command (a designated initializer's 4 KiB
 * `rep stos` was half of the client's send_propose, issue 21). Fields set after it are set as
 * usual; an array is filled element by element with its count. */
static inline void proto_msg_init(struct proto_msg *m, uint8_t type, uint64_t view)
{
	memset(m, 0, offsetof(struct proto_msg, stats));
	m->type = type;
	m->view = view;
}

/* A growable output buffer with a hard cap; owned by its connection. */
struct proto_buf {
	uint8_t *data;
	size_t len, cap, limit;
};

/* Initializes an empty buffer that refuses to grow beyond limit bytes (nothing is allocated
 * until the first encode). A buffer is used by one thread at a time. */
void proto_buf_init(struct proto_buf *b, size_t limit);
/* Frees b's storage; b is then empty and may be reused. */
void proto_buf_free(struct proto_buf *b);
/* Drops the first n bytes (after they were written to a socket); n >= len empties b. */
void proto_buf_consume(struct proto_buf *b, size_t n);

/* Appends one framed message to b. Returns 0, -EINVAL (unknown type, or a field that cannot be
 * encoded: more than PROTO_MAX_REPLICAS replicas or PROTO_MAX_STATS stats, an addr longer than
 * PROTO_ADDR_MAX or a stat name longer than PROTO_STAT_NAME_MAX, an op beyond PROTO_OP_MAX, a
 * NULL pointer with a non-zero length), -EMSGSIZE (the body would exceed max_frame), -ENOBUFS
 * (b's limit reached) or -ENOMEM; on any error b is unchanged. Semantic rules the decoder enforces
 * (seq >= 1, slot <= slot_hi, key/value limits...) are the sender's business and not re-checked
 * here. Called by the thread that owns b. */
int proto_encode(struct proto_buf *b, const struct proto_msg *m, uint32_t max_frame);
/* Returns an upper bound of the body proto_encode writes for m (without the header) when m can
 * be encoded: a constant per message type plus the lengths of its keys, values, addresses, stat
 * names and arrays; 0 for an unknown type. proto_encode reserves it at once (when it is within
 * max_frame and the buffer's limit) and packs into that room. Pure function: any thread. */
size_t proto_encode_bound(const struct proto_msg *m);

/* Looks at the start of a byte stream: returns the total frame length (header + body) when a
 * whole frame is present, 0 when more bytes are needed, -EMSGSIZE when the header declares a
 * body larger than max_frame (the connection must be closed). A 0-length body is returned as a
 * frame (PROTO_FRAME_HEADER): proto_decode refuses it. Pure function: any thread. */
long proto_frame_peek(const uint8_t *p, size_t len, uint32_t max_frame);

/* Decodes the body of one frame (without its header) into m (byte fields point into body).
 * Returns 0, -EBADMSG (malformed: wrong types, out-of-range values, lengths beyond limits,
 * trailing bytes, unknown message type, len 0 or above lim->max_frame...) or -ENOMEM (the
 * bounded scratch could not be allocated). On success every field the message does not carry is
 * 0 and the arrays hold their first n_stats / n_deps elements (the rest is left as it was, as
 * proto_msg_init leaves it); on failure m's contents are unspecified. Never allocates
 * more than a small bounded scratch, never reads outside body[0..len). Reentrant: any thread. */
int proto_decode(const uint8_t *body, size_t len, const struct proto_limits *lim,
		 struct proto_msg *m);

/* A decoder's reusable scratch, for a loop that decodes frame after frame: proto_decode_with
 * keeps its msgpack zone from one frame to the next instead of allocating and freeing one per
 * frame. Zero-initialize it (nothing is allocated until the first decode); proto_decoder_free
 * releases it (and leaves it zeroed). One thread at a time. */
struct proto_decoder {
	void *zone; /* msgpack_zone *, NULL until first used */
};
/* proto_decode with d's scratch: the same results, the same rules. */
int proto_decode_with(struct proto_decoder *d, const uint8_t *body, size_t len,
		      const struct proto_limits *lim, struct proto_msg *m);
void proto_decoder_free(struct proto_decoder *d);

/* Returns a 64-bit fingerprint of a command (op, key, value of the ops that carry one, scan
 * count), never 0. Replicas keep it with what they hold under a cid (an in-flight entry, a cached
 * result) to tell a re-sent command from a different command under the same cid (a client id
 * handed out twice): docs/recovery.md, "Client ids". Pure function: any thread. */
uint64_t proto_cmd_fp(const struct proto_cmd *c);

/* Returns a static name for a message type ("PROPOSE"...), "?" if unknown. */
const char *proto_type_name(int type);
/* Returns a static name for an operation ("GET"...), "?" if unknown. Pure function: any thread. */
const char *proto_op_name(int op);
/* Parses p[0..len) as Redis does a decimal signed 64-bit integer: an optional '-', no '+', no
 * spaces, no leading zero (but "0"; "-0" is not one), at most PROTO_INT_MAX_LEN bytes, in range.
 * Returns 0 (*v set) or -EINVAL. Pure function: any thread. */
int proto_int_parse(const uint8_t *p, uint32_t len, int64_t *v);
/* Writes v in decimal at out (PROTO_INT_MAX_LEN bytes of room, no NUL); returns its length.
 * Pure function: any thread. */
uint32_t proto_int_format(int64_t v, uint8_t *out);
/* INCR's outcome: old (olen bytes; NULL: the key is missing, 0) plus the increment d (dlen
 * bytes), in decimal into out (PROTO_INT_MAX_LEN bytes of room; *outlen its length). Returns 0,
 * -EINVAL (old or d is not an integer: PROTO_INCR_NOT_INT) or -ERANGE (the sum overflows:
 * PROTO_INCR_OVERFLOW). Pure function: any thread; every replica decides the same from the
 * same state. */
int proto_incr(const uint8_t *old, uint32_t olen, const uint8_t *d, uint32_t dlen, uint8_t *out,
	       uint32_t *outlen);

/*
 * SCAN results. The value of a SCAN's REPLY / SYNC_REPLY / WEAK_REPLY is a sequence of pairs in
 * ascending key order, each: key length (4 bytes, little-endian), key, value length (4 bytes,
 * little-endian), value. The whole is bounded like any value (maxValueBytes), so a SCAN returns
 * fewer than its count when the next pair would not fit; the caller continues after the last
 * key. Pure functions: any thread.
 */
#define PROTO_SCAN_PAIR_OVERHEAD 8u
/* Bytes one pair takes. */
static inline size_t proto_scan_pair_size(uint32_t klen, uint32_t vlen)
{
	return PROTO_SCAN_PAIR_OVERHEAD + (size_t)klen + vlen;
}
/* Writes one pair at p (proto_scan_pair_size bytes, the caller's room); returns that size. */
size_t proto_scan_put(uint8_t *p, const uint8_t *key, uint32_t klen, const uint8_t *val,
		      uint32_t vlen);
/* Reads the pair at *off of buf[0..len) (pointers into buf) and advances *off. Returns 1 (a pair),
 * 0 (the end) or -EBADMSG (a truncated or overlong pair). */
int proto_scan_next(const uint8_t *buf, uint32_t len, uint32_t *off, const uint8_t **key,
		    uint32_t *klen, const uint8_t **val, uint32_t *vlen);

/*
 * State-transfer chunks. A SNAP_KV's value is a sequence of items, each: flags (1 byte: 1 = the
 * key was deleted), the version (8 bytes, little-endian: the slot of the write that left the
 * value), then a SCAN pair (key, value; a deleted key's value is empty). A chunk holds as many
 * items as fit the sender's chunk size. Pure functions: any thread.
 */
#define PROTO_SNAP_ITEM_HEAD 9u
struct proto_snap_item {
	const uint8_t *key, *val; /* into the chunk */
	uint32_t klen, vlen;
	uint64_t ver;
	bool del;
};
/* Bytes one item takes. */
static inline size_t proto_snap_item_size(uint32_t klen, uint32_t vlen)
{
	return PROTO_SNAP_ITEM_HEAD + proto_scan_pair_size(klen, vlen);
}
/* Writes one item at p (proto_snap_item_size bytes, the caller's room); returns that size. */
size_t proto_snap_put(uint8_t *p, const uint8_t *key, uint32_t klen, const uint8_t *val,
		      uint32_t vlen, uint64_t ver, bool del);
/* Reads the item at *off of buf[0..len) (pointers into buf) and advances *off. Returns 1 (an
 * item), 0 (the end) or -EBADMSG (truncated, overlong, bad flags, a deleted key with a value). */
int proto_snap_next(const uint8_t *buf, uint32_t len, uint32_t *off, struct proto_snap_item *it);

#endif
