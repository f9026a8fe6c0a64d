/* proto: message encoding (msgpack-c packer), framing and hostile-input-safe decoding.
 *
 * Decoding runs in two steps. First a walker checks the raw msgpack bytes: every declared
 * str/bin length and array/map element count must fit in the bytes that remain (an element
 * takes at least one byte), nesting depth and the total number of objects are bounded, ext
 * types and the reserved byte 0xc1 are refused, and nothing may follow the top-level object.
 * Only then does msgpack-c's unpacker see the body, so the zone it allocates holds at most one
 * msgpack_object per input byte and PROTO_MAX_OBJECTS in all (~100 KiB; msgpack-c trusts declared
 * sizes: a 15-byte input would make it try to allocate tens of GiB). Str/bin payloads are
 * referenced in place, not copied. Second, every field is checked for type and range, and the
 * message's checks are made (decode_fields).
 *
 * Encoding packs straight into the caller's proto_buf through a write callback, after a 4-byte
 * placeholder that is patched with the body length; any failure rolls the buffer back. An upper
 * bound of the frame (proto_encode_bound, from the lengths of its byte fields and arrays) is
 * reserved first, so that the callback, called once per primitive packed, is a bounded memcpy.
 *
 * Both follow the message table (PROTO_MESSAGES in proto.h): its vocabulary (F_U64...) becomes
 * entries (struct field) here, each kind of entry is encoded by put_field (sized by put_bound)
 * and decoded by get_field or check_ok, and each message's case in put_fields,
 * proto_encode_bound and get_fields is made from its row. No list of messages or fields is
 * written anywhere else.
 */
#include "proto/proto.h"

#include <errno.h>
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "common/hash.h"

/* The decoder's msgpack zone: its first chunk (bytes). */
#define PROTO_ZONE_CHUNK 2048

#define PROTO_MAX_DEPTH	  4
#define PROTO_MAX_OBJECTS 4096
#define PROTO_MAX_SCAN	  1000000u

/* A field's encoder or decoder (put_field, get_field, check_ok): inlined into every message's
 * case with a constant entry, whatever the compiler's size heuristics say, so that it folds into
 * the straight-line code a hand-written case would be. */
#define PROTO_HOT static inline __attribute__((always_inline))

/* ---- the message table's vocabulary ---------------------------------------------------------- */

/* What one entry of a row of PROTO_MESSAGES (proto.h) is: a field (one wire element; two for a
 * cid) or a check between decoded fields (no wire element). */
enum field_kind {
	K_U64 = 1,
	K_U8,
	K_U16,
	K_I32,
	K_BOOL,
	K_CID,
	K_CMD,
	K_BIN,
	K_ADDR,
	K_AUTH,
	K_REPLICAS,
	K_DEPS,
	K_STATS,
	K_LE,	   /* check: the u64 at off <= the u64 at off2 */
	K_LT,	   /* check: the u64 at off < the u64 at off2 */
	K_INTERNAL /* check: the command at off2 is the leader's own (the no-op or EXPIRE,
		    * proto_op_internal) exactly when the cid at off is {0, 0} */
};

/* K_BIN's bound (its entry's hi). */
enum bin_bound {
	BIN_VALUE,	/* <= lim->max_value */
	BIN_SNAP_CHUNK, /* <= lim->max_frame, and well-formed SNAP_KV items (proto_snap_next) */
	BIN_XBITS	/* <= PROTO_MAX_XBITS, whole 64-bit words */
};

/* K_CMD's op masks (its entry's hi): bit op set = op allowed. */
#define OP_BIT(op)	    (1u << (op))
#define OPS_ANY_OR_INTERNAL ((OP_BIT(PROTO_OP_MAX) << 1) - 1)
#define OPS_INTERNAL	    (OP_BIT(PROTO_OP_NONE) | OP_BIT(PROTO_OP_EXPIRE)) /* proto_op_internal */
#define OPS_ANY		    (OPS_ANY_OR_INTERNAL & ~OPS_INTERNAL)
#define OPS_WRITE	    (OP_BIT(PROTO_OP_PUT) | OP_BIT(PROTO_OP_DEL)) /* APPEND is strong only */
#define OPS_READ	    (OP_BIT(PROTO_OP_GET) | OP_BIT(PROTO_OP_SCAN))

/* One entry. off is the offset in struct proto_msg of the field (of a check's first operand);
 * off2 that of its length (K_BIN, K_ADDR), its element count (arrays) or a check's second
 * operand. lo..hi bound an integer; otherwise lo 1 means "not 0" (K_U64: the value; K_CID: both
 * halves; K_DEPS: each element) and hi is K_CMD's op mask, K_BIN's bound, a length or a count's
 * cap. */
struct field {
	uint8_t kind;
	uint8_t wire; /* msgpack elements it takes: 0 (a check), 1, or 2 (a cid) */
	uint16_t off, off2;
	int64_t lo;
	uint64_t hi;
};

struct msg_desc {
	const char *name; /* NULL: no such type */
	uint32_t n_wire;  /* msgpack elements after [type, view] */
};

_Static_assert(sizeof(struct proto_msg) <= UINT16_MAX, "field offsets fit in 16 bits");

/* The offset of member f of struct proto_msg, which must have type T (a compile error if not). */
#define MEMBER(f, T)                                                                               \
	((uint16_t)(offsetof(struct proto_msg, f) +                                                \
		    0 * sizeof(_Generic(((struct proto_msg *)0)->f, T : 1))))

/* The table's vocabulary (proto.h): each field is PF(kind, wire elements, off, off2, lo, hi),
 * each check PC(kind, off, off2). */
#define F_U64(f)	 PF(K_U64, 1, MEMBER(f, uint64_t), 0, 0, UINT64_MAX)
#define F_U64NZ(f)	 PF(K_U64, 1, MEMBER(f, uint64_t), 0, 1, UINT64_MAX)
#define F_U8(f, lo, hi)	 PF(K_U8, 1, MEMBER(f, uint8_t), 0, lo, hi)
#define F_U16(f, lo, hi) PF(K_U16, 1, MEMBER(f, uint16_t), 0, lo, hi)
#define F_I32(f, lo, hi) PF(K_I32, 1, MEMBER(f, int32_t), 0, lo, hi)
#define F_BOOL(f)	 PF(K_BOOL, 1, MEMBER(f, bool), 0, 0, 1)
#define F_CID(f)	 PF(K_CID, 2, MEMBER(f, struct proto_cid), 0, 1, 0)
#define F_CID0(f)	 PF(K_CID, 2, MEMBER(f, struct proto_cid), 0, 0, 0)
#define F_CMD(f, ops)	 PF(K_CMD, 1, MEMBER(f, struct proto_cmd), 0, 0, OPS_##ops)
#define F_BIN(p, len, bound)                                                                       \
	PF(K_BIN, 1, MEMBER(p, const uint8_t *), MEMBER(len, uint32_t), 0, BIN_##bound)
#define F_ADDR(p, len)                                                                             \
	PF(K_ADDR, 1, MEMBER(p, const char *), MEMBER(len, uint32_t), 0, PROTO_ADDR_MAX)
#define F_AUTH(p) PF(K_AUTH, 1, MEMBER(p, const uint8_t *), 0, 0, PROTO_AUTH_BYTES)
#define F_REPLICAS(a, n)                                                                           \
	PF(K_REPLICAS, 1, MEMBER(a, struct proto_replica_addr *), MEMBER(n, uint32_t), 0,          \
	   PROTO_MAX_REPLICAS)
#define F_DEPS(a, n) PF(K_DEPS, 1, MEMBER(a, uint64_t *), MEMBER(n, uint32_t), 1, PROTO_MAX_DEPS)
#define F_STATS(a, n)                                                                              \
	PF(K_STATS, 1, MEMBER(a, struct proto_stat *), MEMBER(n, uint32_t), 0, PROTO_MAX_STATS)
#define C_LE(a, b) PC(K_LE, MEMBER(a, uint64_t), MEMBER(b, uint64_t))
#define C_LT(a, b) PC(K_LT, MEMBER(a, uint64_t), MEMBER(b, uint64_t))
#define C_INTERNAL(cid, cmd)                                                                       \
	PC(K_INTERNAL, MEMBER(cid, struct proto_cid), MEMBER(cmd, struct proto_cmd))

/* A check in a fields column, or a field in a checks column, does not compile: */
#define PF(kind, wire, off, off2, lo, hi) a_field_in_the_checks_column
#define PC(kind, off, off2)
#define ROW_CHECKS(name, fields, checks) checks
PROTO_MESSAGES(ROW_CHECKS)
#undef ROW_CHECKS
#undef PC
#undef PF

/* Each row's name and wire elements (its fields' summed: a constant). The encoder and the
 * decoder read the rows themselves (put_fields, get_fields). */
#define PF(kind, wire, off, off2, lo, hi) +(wire)
#define PC(kind, off, off2)		  a_check_in_the_fields_column
#define ROW_DESC(name, fields, checks)	  [PROTO_##name] = {#name, 0 fields},
static const struct msg_desc msgs[PROTO_TYPE_MAX] = {PROTO_MESSAGES(ROW_DESC)};
#undef ROW_DESC
#undef PC
#undef PF

/* The description of a message type, NULL if unknown. */
static const struct msg_desc *desc_of(unsigned type)
{
	return type > 0 && type < PROTO_TYPE_MAX && msgs[type].name ? &msgs[type] : NULL;
}

/* The member of type T at offset off of m (an entry's field). AT_C reads a const message: it
 * adds const to T, so a member `const uint8_t *p` is AT_C(m, off, uint8_t *). */
#define AT(m, off, T)	((T *)((char *)(m) + (off)))
#define AT_C(m, off, T) ((const T *)((const char *)(m) + (off)))

const char *proto_type_name(int type)
{
	const struct msg_desc *d = type >= 0 ? desc_of((unsigned)type) : NULL;
	return d ? d->name : "?";
}

const char *proto_op_name(int op)
{
	static const char *const names[] = {
	    [PROTO_OP_NONE] = "NOOP",	  [PROTO_OP_GET] = "GET",   [PROTO_OP_PUT] = "PUT",
	    [PROTO_OP_DEL] = "DEL",	  [PROTO_OP_SCAN] = "SCAN", [PROTO_OP_APPEND] = "APPEND",
	    [PROTO_OP_EXPIRE] = "EXPIRE", [PROTO_OP_INCR] = "INCR", [PROTO_OP_GETDEL] = "GETDEL",
	    [PROTO_OP_SETX] = "SETX"};
	if (op < 0 || op > PROTO_OP_MAX)
		return "?";
	return names[op];
}

/* ---- buffers ------------------------------------------------------------------------- */

void proto_buf_init(struct proto_buf *b, size_t limit)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->limit = limit;
}

void proto_buf_free(struct proto_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

void proto_buf_consume(struct proto_buf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
}

/* Makes room for n more bytes. Returns 0 or -ENOBUFS (limit) / -ENOMEM. */
static int buf_reserve(struct proto_buf *b, size_t n)
{
	if (b->len + n <= b->cap)
		return 0;
	if (b->len + n > b->limit)
		return -ENOBUFS;
	size_t ncap = b->cap ? b->cap : 256;
	while (ncap < b->len + n)
		ncap *= 2;
	if (ncap > b->limit)
		ncap = b->limit;
	uint8_t *nd = realloc(b->data, ncap);
	if (nd == NULL)
		return -ENOMEM;
	b->data = nd;
	b->cap = ncap;
	return 0;
}

/* ---- encoding ------------------------------------------------------------------------- */

/* The packer's state: it writes at p, which has room bytes reserved after it in b. proto_encode
 * reserves an upper bound of the whole frame (proto_encode_bound) before packing, so enc_write is
 * a bounded memcpy; enc_grow grows b as it goes when that bound could not be reserved, or was
 * passed (it never is: test_encode_bound), and turns every write into a no-op after an error. */
struct enc {
	uint8_t *p;
	size_t room;
	struct proto_buf *b;
	int err; /* set: room is 0 and nothing more is written */
};

/* enc_write's slow path: no room left for len bytes. Writes them at the end of what was packed,
 * growing b (b->len is the packed length from then on). Returns 0, or -1 after an error (kept in
 * e->err, first error only). */
static __attribute__((noinline)) int enc_grow(struct enc *e, const char *buf, size_t len)
{
	if (e->err)
		return -1;
	struct proto_buf *b = e->b;
	b->len = (size_t)(e->p - b->data);
	int rc = buf_reserve(b, len);
	if (rc != 0) {
		e->err = rc;
		return -1;
	}
	memcpy(b->data + b->len, buf, len);
	b->len += len;
	e->p = b->data + b->len;
	e->room = b->cap - b->len;
	return 0;
}

/* Copies n bytes (1..16) from s to d as two copies of a fixed size that may overlap in the middle
 * (each compiles to a load and a store): the packer's primitives take 1 to 9 bytes, too few to
 * be worth a call to memcpy. Reads and writes nothing outside s[0..n) and d[0..n). */
static inline void copy_small(uint8_t *d, const char *s, size_t n)
{
#define COPY_OVERLAPPING(T)                                                                        \
	do {                                                                                       \
		T a, z;                                                                            \
		memcpy(&a, s, sizeof a);                                                           \
		memcpy(&z, s + n - sizeof z, sizeof z);                                            \
		memcpy(d, &a, sizeof a);                                                           \
		memcpy(d + n - sizeof z, &z, sizeof z);                                            \
	} while (0)
	if (n >= 8)
		COPY_OVERLAPPING(uint64_t);
	else if (n >= 4)
		COPY_OVERLAPPING(uint32_t);
	else if (n >= 2)
		COPY_OVERLAPPING(uint16_t);
	else
		d[0] = (uint8_t)s[0];
#undef COPY_OVERLAPPING
}

/* The packer's write callback, once per primitive it packs (msgpack-c never writes 0 bytes). */
static int enc_write(void *data, const char *buf, size_t len)
{
	struct enc *e = data;
	if (__builtin_expect(len > e->room, 0))
		return enc_grow(e, buf, len);
	uint8_t *p = e->p;
	e->p = p + len;
	e->room -= len;
	if (len <= 16)
		copy_small(p, buf, len);
	else
		memcpy(p, buf, len);
	return 0;
}

static void pack_bin(msgpack_packer *pk, const void *p, uint32_t len)
{
	msgpack_pack_bin(pk, len);
	if (len)
		msgpack_pack_bin_body(pk, p, len);
}

static void pack_str(msgpack_packer *pk, const char *p, uint32_t len)
{
	msgpack_pack_str(pk, len);
	if (len)
		msgpack_pack_str_body(pk, p, len);
}

static void pack_cmd(msgpack_packer *pk, const struct proto_cmd *c)
{
	msgpack_pack_array(pk, 4);
	msgpack_pack_uint8(pk, c->op);
	pack_bin(pk, c->key, c->klen);
	if (proto_op_has_val(c->op))
		pack_bin(pk, c->val, c->vlen);
	else
		msgpack_pack_nil(pk);
	msgpack_pack_uint32(pk, c->scan_count);
}

static void pack_bool(msgpack_packer *pk, bool v)
{
	if (v)
		msgpack_pack_true(pk);
	else
		msgpack_pack_false(pk);
}

/* A pointer may be NULL only when its length is 0 (the packer would read it otherwise). */
static bool bytes_ok(const void *p, uint32_t len)
{
	return p != NULL || len == 0;
}

static bool cmd_encodable(const struct proto_cmd *c)
{
	return c->op <= PROTO_OP_MAX && bytes_ok(c->key, c->klen) &&
	       (!proto_op_has_val(c->op) || bytes_ok(c->val, c->vlen));
}

/* Packs field f of m (nothing for a check) after checking what the encoder itself depends on:
 * the pointers it reads, counts that size the arrays it walks, caps the decoder could never
 * accept. Returns false (nothing packed) if f cannot be encoded. Semantic rules (seq >= 1, the
 * table's checks...) are left to the decoder of the receiving side. */
PROTO_HOT bool put_field(msgpack_packer *pk, const struct field *f, const struct proto_msg *m)
{
	switch (f->kind) {
	case K_U64:
		msgpack_pack_uint64(pk, *AT_C(m, f->off, uint64_t));
		return true;
	case K_U8:
		msgpack_pack_uint8(pk, *AT_C(m, f->off, uint8_t));
		return true;
	case K_U16:
		msgpack_pack_uint16(pk, *AT_C(m, f->off, uint16_t));
		return true;
	case K_I32:
		msgpack_pack_int32(pk, *AT_C(m, f->off, int32_t));
		return true;
	case K_BOOL:
		pack_bool(pk, *AT_C(m, f->off, bool));
		return true;
	case K_CID: {
		const struct proto_cid *cid = AT_C(m, f->off, struct proto_cid);
		msgpack_pack_uint64(pk, cid->client);
		msgpack_pack_uint64(pk, cid->seq);
		return true;
	}
	case K_CMD: {
		const struct proto_cmd *c = AT_C(m, f->off, struct proto_cmd);
		if (!cmd_encodable(c))
			return false;
		pack_cmd(pk, c);
		return true;
	}
	case K_BIN: {
		const uint8_t *p = *AT_C(m, f->off, uint8_t *);
		uint32_t len = *AT_C(m, f->off2, uint32_t);
		if (!bytes_ok(p, len) || (f->hi == BIN_XBITS && len > PROTO_MAX_XBITS))
			return false;
		pack_bin(pk, p, len);
		return true;
	}
	case K_ADDR: {
		const char *p = *AT_C(m, f->off, char *);
		uint32_t len = *AT_C(m, f->off2, uint32_t);
		if (len > f->hi || !bytes_ok(p, len))
			return false;
		pack_str(pk, p, len);
		return true;
	}
	case K_AUTH: {
		const uint8_t *p = *AT_C(m, f->off, uint8_t *);
		if (p == NULL) /* PROTO_AUTH_BYTES are read from it */
			return false;
		pack_bin(pk, p, PROTO_AUTH_BYTES);
		return true;
	}
	case K_REPLICAS: {
		uint32_t n = *AT_C(m, f->off2, uint32_t);
		const struct proto_replica_addr *r = AT_C(m, f->off, struct proto_replica_addr);
		if (n > f->hi)
			return false;
		for (uint32_t i = 0; i < n; i++)
			if (r[i].addr_len > PROTO_ADDR_MAX || !bytes_ok(r[i].addr, r[i].addr_len))
				return false;
		msgpack_pack_array(pk, n);
		for (uint32_t i = 0; i < n; i++) {
			msgpack_pack_array(pk, 3);
			msgpack_pack_int32(pk, r[i].id);
			pack_str(pk, r[i].addr, r[i].addr_len);
			msgpack_pack_uint16(pk, r[i].port);
		}
		return true;
	}
	case K_DEPS: {
		uint32_t n = *AT_C(m, f->off2, uint32_t);
		const uint64_t *v = AT_C(m, f->off, uint64_t);
		if (n > f->hi)
			return false;
		msgpack_pack_array(pk, n);
		for (uint32_t i = 0; i < n; i++)
			msgpack_pack_uint64(pk, v[i]);
		return true;
	}
	case K_STATS: {
		uint32_t n = *AT_C(m, f->off2, uint32_t);
		const struct proto_stat *st = AT_C(m, f->off, struct proto_stat);
		if (n > f->hi)
			return false;
		for (uint32_t i = 0; i < n; i++)
			if (st[i].name_len > PROTO_STAT_NAME_MAX ||
			    !bytes_ok(st[i].name, st[i].name_len))
				return false;
		msgpack_pack_array(pk, n);
		for (uint32_t i = 0; i < n; i++) {
			msgpack_pack_array(pk, 2);
			pack_str(pk, st[i].name, st[i].name_len);
			msgpack_pack_uint64(pk, st[i].value);
		}
		return true;
	}
	default: /* not a field */
		return false;
	}
}

/* Packs the fields of m as its row of the table says: each field is a put_field call on a
 * constant entry, which the compiler inlines and folds into straight-line packing per message
 * (as fast as the hand-written switch it replaced: bench/bench_proto). Returns false as soon as
 * a field cannot be encoded. */
static bool put_fields(msgpack_packer *pk, const struct proto_msg *m)
{
#define PF(kind, wire, off, off2, lo, hi)                                                          \
	if (!put_field(pk, &(const struct field){kind, wire, off, off2, lo, hi}, m))               \
		return false;
#define ROW_PUT(name, fields, checks)                                                              \
	case PROTO_##name:                                                                         \
		fields return true;
	switch (m->type) {
		PROTO_MESSAGES(ROW_PUT)
	default:
		return false;
	}
#undef ROW_PUT
#undef PF
}

/* The most bytes msgpack-c packs for each kind of element (the msgpack spec: a marker byte and
 * the widest payload): */
#define MP_U64_MAX  9 /* uint 64 */
#define MP_U32_MAX  5 /* uint 32 */
#define MP_U16_MAX  3 /* uint 16 */
#define MP_U8_MAX   2 /* uint 8 */
#define MP_I32_MAX  5 /* int 32 */
#define MP_BOOL	    1 /* true, false (and nil) */
#define MP_HDR_MAX  5 /* a bin, str or array header: bin 32, str 32, array 32 */
/* [type, view]'s array header and both */
#define MP_HEAD_MAX (MP_HDR_MAX + MP_U8_MAX + MP_U64_MAX)

/* The most bytes put_field packs for field f of m when it can be encoded (any value for a check,
 * and for what put_field refuses: it only sizes the room proto_encode reserves). */
PROTO_HOT size_t put_bound(const struct field *f, const struct proto_msg *m)
{
	switch (f->kind) {
	case K_U64:
		return MP_U64_MAX;
	case K_U8:
		return MP_U8_MAX;
	case K_U16:
		return MP_U16_MAX;
	case K_I32:
		return MP_I32_MAX;
	case K_BOOL:
		return MP_BOOL;
	case K_CID:
		return 2 * MP_U64_MAX;
	case K_CMD: {
		const struct proto_cmd *c = AT_C(m, f->off, struct proto_cmd);
		/* [op, key, value or nil, scan_count] */
		return MP_HDR_MAX + MP_U8_MAX + MP_HDR_MAX + c->klen + MP_HDR_MAX +
		       (proto_op_has_val(c->op) ? c->vlen : 0) + MP_U32_MAX;
	}
	case K_BIN:
	case K_ADDR:
		return MP_HDR_MAX + *AT_C(m, f->off2, uint32_t);
	case K_AUTH:
		return MP_HDR_MAX + PROTO_AUTH_BYTES;
	case K_REPLICAS: {
		uint32_t n = *AT_C(m, f->off2, uint32_t);
		const struct proto_replica_addr *r = AT_C(m, f->off, struct proto_replica_addr);
		size_t sz = MP_HDR_MAX;
		for (uint32_t i = 0; i < n && i < f->hi; i++) /* [id, addr, port] */
			sz += MP_HDR_MAX + MP_I32_MAX + MP_HDR_MAX + r[i].addr_len + MP_U16_MAX;
		return sz;
	}
	case K_DEPS:
		return MP_HDR_MAX + (size_t)*AT_C(m, f->off2, uint32_t) * MP_U64_MAX;
	case K_STATS: {
		uint32_t n = *AT_C(m, f->off2, uint32_t);
		const struct proto_stat *st = AT_C(m, f->off, struct proto_stat);
		size_t sz = MP_HDR_MAX;
		for (uint32_t i = 0; i < n && i < f->hi; i++) /* [name, value] */
			sz += MP_HDR_MAX + MP_HDR_MAX + st[i].name_len + MP_U64_MAX;
		return sz;
	}
	default: /* not a field */
		return 0;
	}
}

size_t proto_encode_bound(const struct proto_msg *m)
{
#define PF(kind, wire, off, off2, lo, hi)                                                          \
	+put_bound(&(const struct field){kind, wire, off, off2, lo, hi}, m)
#define ROW_BOUND(name, fields, checks)                                                            \
	case PROTO_##name:                                                                         \
		return MP_HEAD_MAX fields;
	switch (m->type) {
		PROTO_MESSAGES(ROW_BOUND)
	default:
		return 0;
	}
#undef ROW_BOUND
#undef PF
}

/* Flattened: put_fields and msgpack-c's packing functions are inlined here, so the packer's
 * callback is known to be enc_write at each call and inlined too: each message's case packs into
 * the room with no indirect call per primitive (bench_proto: 564 -> 395 instructions per message).
 * The cost is code: the encoder takes about 64 KiB instead of 11, about 2 KiB per message type, of
 * which a process runs the few types it sends. enc_grow stays out of line (noinline). */
__attribute__((flatten)) int proto_encode(struct proto_buf *b, const struct proto_msg *m,
					  uint32_t max_frame)
{
	const struct msg_desc *d = desc_of(m->type);
	if (d == NULL)
		return -EINVAL;
	size_t start = b->len;
	/* Room for the whole frame at once. A bound above max_frame is not reserved (the frame may
	 * still fit: its body is measured below), nor one above b's limit (-ENOBUFS): then only the
	 * header is, and enc_grow grows b as the packer writes. */
	size_t bound = proto_encode_bound(m);
	int rc = bound <= max_frame ? buf_reserve(b, PROTO_FRAME_HEADER + bound) : -ENOBUFS;
	if (rc == -ENOBUFS)
		rc = buf_reserve(b, PROTO_FRAME_HEADER);
	struct enc e = {.b = b, .err = rc};
	if (rc == 0) {
		e.p = b->data + start + PROTO_FRAME_HEADER;
		e.room = b->cap - start - PROTO_FRAME_HEADER;
	}
	msgpack_packer pk;
	msgpack_packer_init(&pk, &e, enc_write);
	msgpack_pack_array(&pk, 2 + d->n_wire);
	msgpack_pack_uint8(&pk, m->type);
	msgpack_pack_uint64(&pk, m->view);
	/* after an error (e.err, even at the header) packing goes on writing nothing, so that a
	 * field that cannot be encoded still answers -EINVAL */
	bool ok = put_fields(&pk, m);
	if (!ok || e.err) {
		b->len = start; /* roll back: the buffer is unchanged */
		return !ok ? -EINVAL : e.err;
	}
	size_t body = (size_t)(e.p - b->data) - start - PROTO_FRAME_HEADER;
	if (body > max_frame) {
		b->len = start;
		return -EMSGSIZE;
	}
	b->len = start + PROTO_FRAME_HEADER + body;
	uint8_t *h = b->data + start;
	h[0] = (uint8_t)body;
	h[1] = (uint8_t)(body >> 8);
	h[2] = (uint8_t)(body >> 16);
	h[3] = (uint8_t)(body >> 24);
	return 0;
}

long proto_frame_peek(const uint8_t *p, size_t len, uint32_t max_frame)
{
	if (len < PROTO_FRAME_HEADER)
		return 0;
	uint32_t body =
	    (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
	if (body > max_frame)
		return -EMSGSIZE;
	if (len - PROTO_FRAME_HEADER < body)
		return 0;
	return (long)(PROTO_FRAME_HEADER + body);
}

/* ---- structural pre-check ---------------------------------------------------------------- */

static inline uint64_t be(const uint8_t *p, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v = (v << 8) | p[i];
	return v;
}

/* Walks one complete msgpack object tree at p[0..len) without allocating. Returns 0 if it is
 * well-formed within the bounds (and exactly fills len), -EBADMSG otherwise. Invariant after it
 * returns 0: every declared length and element count fits in the input, so msgpack-c's unpacker
 * allocates at most PROTO_MAX_OBJECTS msgpack_objects for it, nested at most PROTO_MAX_DEPTH
 * containers deep (the root array is depth 1). */
static int precheck(const uint8_t *p, size_t len)
{
	uint64_t stack[PROTO_MAX_DEPTH + 1]; /* elements still expected at each open level */
	int depth = 0;
	stack[0] = 1;
	size_t off = 0;
	uint32_t objects = 0;
	while (depth >= 0) {
		if (stack[depth] == 0) {
			depth--;
			continue;
		}
		stack[depth]--;
		if (off >= len || ++objects > PROTO_MAX_OBJECTS)
			return -EBADMSG;
		uint8_t t = p[off++];
		size_t rem = len - off;
		uint64_t skip = 0;     /* payload bytes after the header */
		uint64_t children = 0; /* elements of a container */
		int hdr = 0;	       /* length-field bytes */
		bool container = false;
		if (t <= 0x7f || t >= 0xe0 || t == 0xc0 || t == 0xc2 || t == 0xc3) {
			/* fixint, nil, bool */
		} else if (t >= 0x80 && t <= 0x8f) {
			container = true;
			children = 2ull * (t & 0x0f);
		} else if (t >= 0x90 && t <= 0x9f) {
			container = true;
			children = t & 0x0f;
		} else if (t >= 0xa0 && t <= 0xbf) {
			skip = t & 0x1f;
		} else {
			/* clang-format off */
			switch (t) {
			case 0xc4: case 0xd9: hdr = 1; break;        /* bin8, str8 */
			case 0xc5: case 0xda: hdr = 2; break;        /* bin16, str16 */
			case 0xc6: case 0xdb: hdr = 4; break;        /* bin32, str32 */
			case 0xca: skip = 4; break;                  /* float32 */
			case 0xcb: skip = 8; break;                  /* float64 */
			case 0xcc: case 0xd0: skip = 1; break;       /* (u)int8 */
			case 0xcd: case 0xd1: skip = 2; break;
			case 0xce: case 0xd2: skip = 4; break;
			case 0xcf: case 0xd3: skip = 8; break;
			case 0xdc: container = true; hdr = 2; break; /* array16 */
			case 0xdd: container = true; hdr = 4; break; /* array32 */
			case 0xde: container = true; hdr = 2; break; /* map16 */
			case 0xdf: container = true; hdr = 4; break; /* map32 */
			default:
				return -EBADMSG; /* 0xc1, ext and fixext: never used by curpkv */
			}
			/* clang-format on */
			if (hdr) {
				if (rem < (size_t)hdr)
					return -EBADMSG;
				uint64_t n = be(p + off, hdr);
				off += (size_t)hdr;
				rem -= (size_t)hdr;
				if (!container)
					skip = n;
				else
					children = (t == 0xde || t == 0xdf) ? 2 * n : n;
			}
		}
		if (container) {
			/* every element needs at least one byte; empty containers count for depth
			 */
			if (children > rem || depth + 1 > PROTO_MAX_DEPTH)
				return -EBADMSG;
			if (children > 0)
				stack[++depth] = children;
		} else {
			if (skip > rem)
				return -EBADMSG;
			off += (size_t)skip;
		}
	}
	return off == len ? 0 : -EBADMSG; /* trailing bytes */
}

/* ---- field readers --------------------------------------------------------------------------- */

static bool get_u64(const msgpack_object *o, uint64_t *out)
{
	if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		return false;
	*out = o->via.u64;
	return true;
}

static bool get_u(const msgpack_object *o, uint64_t max, uint64_t *out)
{
	return get_u64(o, out) && *out <= max;
}

static bool get_i32(const msgpack_object *o, int64_t min, int64_t max, int32_t *out)
{
	int64_t v;
	if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
		if (o->via.u64 > (uint64_t)INT64_MAX)
			return false;
		v = (int64_t)o->via.u64;
	} else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
		v = o->via.i64;
	} else {
		return false;
	}
	if (v < min || v > max)
		return false;
	*out = (int32_t)v;
	return true;
}

static bool get_bool(const msgpack_object *o, bool *out)
{
	if (o->type != MSGPACK_OBJECT_BOOLEAN)
		return false;
	*out = o->via.boolean;
	return true;
}

static bool get_bin(const msgpack_object *o, uint32_t max, const uint8_t **p, uint32_t *len)
{
	if (o->type != MSGPACK_OBJECT_BIN || o->via.bin.size > max)
		return false;
	*p = (const uint8_t *)o->via.bin.ptr;
	*len = o->via.bin.size;
	return true;
}

static bool get_str(const msgpack_object *o, uint32_t max, const char **p, uint32_t *len)
{
	if (o->type != MSGPACK_OBJECT_STR || o->via.str.size > max)
		return false;
	*p = o->via.str.ptr;
	*len = o->via.str.size;
	return true;
}

/* A command whose op is in the mask ops (OP_BIT(op) set). */
static bool get_cmd(const msgpack_object *o, const struct proto_limits *lim, uint64_t ops,
		    struct proto_cmd *c)
{
	if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 4)
		return false;
	const msgpack_object *f = o->via.array.ptr;
	uint64_t op, scan;
	if (!get_u(&f[0], PROTO_OP_MAX, &op) || !(ops & OP_BIT(op)))
		return false;
	c->op = (uint8_t)op;
	if (!get_bin(&f[1], lim->max_key, &c->key, &c->klen))
		return false;
	if (proto_op_has_val((unsigned)op)) {
		uint64_t max = proto_cmd_max_val((unsigned)op, lim->max_value);
		if (!get_bin(&f[2], max > UINT32_MAX ? UINT32_MAX : (uint32_t)max, &c->val,
			     &c->vlen))
			return false;
	} else {
		if (f[2].type != MSGPACK_OBJECT_NIL)
			return false;
		c->val = NULL;
		c->vlen = 0;
	}
	if (!get_u(&f[3], PROTO_MAX_SCAN, &scan) || (op != PROTO_OP_SCAN && scan != 0))
		return false;
	if (op == PROTO_OP_EXPIRE && (c->klen != 0 || c->vlen % PROTO_EXPIRE_ITEM != 0))
		return false; /* no key; whole items */
	if (op == PROTO_OP_SETX && proto_setx_flags(c->val, c->vlen) < 0)
		return false; /* a flags byte: at least one flag, not both NX and XX */
	c->scan_count = (uint32_t)scan;
	return true;
}

static bool get_cid(const msgpack_object *f, bool allow_zero, struct proto_cid *cid)
{
	if (!get_u64(&f[0], &cid->client) || !get_u64(&f[1], &cid->seq))
		return false;
	if (allow_zero)
		return (cid->client == 0) == (cid->seq == 0);
	return cid->client != 0 && cid->seq != 0;
}

static bool get_replica(const msgpack_object *o, struct proto_replica_addr *r)
{
	if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 3)
		return false;
	const msgpack_object *f = o->via.array.ptr;
	uint64_t port;
	return get_i32(&f[0], 0, 65535, &r->id) &&
	       get_str(&f[1], PROTO_ADDR_MAX, &r->addr, &r->addr_len) &&
	       get_u(&f[2], 65535, &port) && port != 0 && ((r->port = (uint16_t)port), true);
}

/* A bin of exactly PROTO_AUTH_BYTES (a handshake nonce or MAC). */
static bool get_auth_bytes(const msgpack_object *o, const uint8_t **p)
{
	uint32_t len;
	return get_bin(o, PROTO_AUTH_BYTES, p, &len) && len == PROTO_AUTH_BYTES;
}

/* A SNAP_KV chunk: well-formed items, keys and values within the limits. */
static bool snap_items_ok(const uint8_t *buf, uint32_t len, const struct proto_limits *lim)
{
	uint32_t off = 0;
	struct proto_snap_item it;
	int rc;
	while ((rc = proto_snap_next(buf, len, &off, &it)) == 1)
		if (it.klen == 0 || it.klen > lim->max_key || it.vlen > lim->max_value)
			return false;
	return rc == 0;
}

/* The bytes of a K_BIN field: within its bound, and well-formed for its kind. */
static bool get_bin_field(const msgpack_object *o, const struct field *f,
			  const struct proto_limits *lim, const uint8_t **p, uint32_t *len)
{
	switch (f->hi) {
	case BIN_VALUE:
		return get_bin(o, lim->max_value, p, len);
	case BIN_SNAP_CHUNK:
		return get_bin(o, lim->max_frame, p, len) && snap_items_ok(*p, *len, lim);
	case BIN_XBITS:
		return get_bin(o, PROTO_MAX_XBITS, p, len) && *len % 8 == 0;
	default:
		return false;
	}
}

/* Reads the field f of m from its f->wire elements at o. Returns true if valid. */
PROTO_HOT bool get_field(const msgpack_object *o, const struct field *f,
			 const struct proto_limits *lim, struct proto_msg *m)
{
	uint64_t u;
	switch (f->kind) {
	case K_U64: {
		uint64_t *p = AT(m, f->off, uint64_t);
		return get_u64(o, p) && *p >= (uint64_t)f->lo;
	}
	case K_U8:
		if (!get_u(o, f->hi, &u) || u < (uint64_t)f->lo)
			return false;
		*AT(m, f->off, uint8_t) = (uint8_t)u;
		return true;
	case K_U16:
		if (!get_u(o, f->hi, &u) || u < (uint64_t)f->lo)
			return false;
		*AT(m, f->off, uint16_t) = (uint16_t)u;
		return true;
	case K_I32:
		return get_i32(o, f->lo, (int64_t)f->hi, AT(m, f->off, int32_t));
	case K_BOOL:
		return get_bool(o, AT(m, f->off, bool));
	case K_CID:
		return get_cid(o, f->lo == 0, AT(m, f->off, struct proto_cid));
	case K_CMD:
		return get_cmd(o, lim, f->hi, AT(m, f->off, struct proto_cmd));
	case K_BIN:
		return get_bin_field(o, f, lim, AT(m, f->off, const uint8_t *),
				     AT(m, f->off2, uint32_t));
	case K_ADDR:
		return get_str(o, (uint32_t)f->hi, AT(m, f->off, const char *),
			       AT(m, f->off2, uint32_t));
	case K_AUTH:
		return get_auth_bytes(o, AT(m, f->off, const uint8_t *));
	case K_REPLICAS: {
		if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size > f->hi)
			return false;
		uint32_t n = *AT(m, f->off2, uint32_t) = o->via.array.size;
		struct proto_replica_addr *r = AT(m, f->off, struct proto_replica_addr);
		for (uint32_t i = 0; i < n; i++)
			if (!get_replica(&o->via.array.ptr[i], &r[i]))
				return false;
		return true;
	}
	case K_DEPS: {
		if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size > f->hi)
			return false;
		uint32_t n = *AT(m, f->off2, uint32_t) = o->via.array.size;
		uint64_t *v = AT(m, f->off, uint64_t);
		for (uint32_t i = 0; i < n; i++)
			if (!get_u64(&o->via.array.ptr[i], &v[i]) || v[i] < (uint64_t)f->lo)
				return false;
		return true;
	}
	case K_STATS: {
		if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size > f->hi)
			return false;
		uint32_t n = *AT(m, f->off2, uint32_t) = o->via.array.size;
		struct proto_stat *st = AT(m, f->off, struct proto_stat);
		for (uint32_t i = 0; i < n; i++) {
			const msgpack_object *e = &o->via.array.ptr[i];
			if (e->type != MSGPACK_OBJECT_ARRAY || e->via.array.size != 2 ||
			    !get_str(&e->via.array.ptr[0], PROTO_STAT_NAME_MAX, &st[i].name,
				     &st[i].name_len) ||
			    !get_u64(&e->via.array.ptr[1], &st[i].value))
				return false;
		}
		return true;
	}
	default:
		return false;
	}
}

/* Makes the check f on the decoded fields of m. Returns true if it holds. */
PROTO_HOT bool check_ok(const struct field *f, const struct proto_msg *m)
{
	switch (f->kind) {
	case K_LE:
		return *AT_C(m, f->off, uint64_t) <= *AT_C(m, f->off2, uint64_t);
	case K_LT:
		return *AT_C(m, f->off, uint64_t) < *AT_C(m, f->off2, uint64_t);
	case K_INTERNAL:
		return proto_op_internal(AT_C(m, f->off2, struct proto_cmd)->op) ==
		       (AT_C(m, f->off, struct proto_cid)->client == 0);
	default:
		return false;
	}
}

/* Reads the fields of m (its type is set) from the elements at o, then makes its checks, as its
 * row of the table says: straight-line code per message, as put_fields. Returns true if every
 * field is valid and every check holds. */
static bool get_fields(const msgpack_object *o, const struct proto_limits *lim, struct proto_msg *m)
{
#define PF(kind, wire, off, off2, lo, hi)                                                          \
	if (!get_field(o, &(const struct field){kind, wire, off, off2, lo, hi}, lim, m))           \
		return false;                                                                      \
	o += (wire);
#define PC(kind, off, off2)                                                                        \
	if (!check_ok(&(const struct field){kind, 0, off, off2, 0, 0}, m))                         \
		return false;
#define ROW_GET(name, fields, checks)                                                              \
	case PROTO_##name:                                                                         \
		fields checks return true;
	switch (m->type) {
		PROTO_MESSAGES(ROW_GET)
	default:
		return false;
	}
#undef ROW_GET
#undef PC
#undef PF
}

/* Maps the checked object tree to m, as the message table's row says. Returns true if every
 * field is valid. */
static bool decode_fields(const msgpack_object *root, const struct proto_limits *lim,
			  struct proto_msg *m)
{
	if (root->type != MSGPACK_OBJECT_ARRAY || root->via.array.size < 2)
		return false;
	const msgpack_object *o = root->via.array.ptr;
	uint64_t type;
	if (!get_u(&o[0], PROTO_TYPE_MAX - 1, &type) || type == 0)
		return false;
	const struct msg_desc *d = desc_of((unsigned)type);
	if (d == NULL || root->via.array.size != 2 + d->n_wire)
		return false;
	m->type = (uint8_t)type;
	if (!get_u64(&o[1], &m->view))
		return false;
	return get_fields(o + 2, lim, m);
}

/* proto_decode's body over a zone the caller owns (empty on entry; left for the caller to
 * clear or destroy). */
static int decode_in(msgpack_zone *zone, const uint8_t *body, size_t len,
		     const struct proto_limits *lim, struct proto_msg *m)
{
	msgpack_object root;
	size_t off = 0;
	int rc = -EBADMSG;
	msgpack_unpack_return ur = msgpack_unpack((const char *)body, len, &off, zone, &root);
	if (ur == MSGPACK_UNPACK_NOMEM_ERROR) {
		rc = -ENOMEM;
	} else if (ur == MSGPACK_UNPACK_SUCCESS && off == len) {
		/* Byte fields point into body (msgpack-c references str/bin in place when the
		 * zone is given the input), so they outlive the zone. */
		proto_msg_init(m, PROTO_TYPE_NONE, 0); /* (type and view: decode_fields) */
		if (decode_fields(&root, lim, m))
			rc = 0;
	}
	return rc;
}

int proto_decode(const uint8_t *body, size_t len, const struct proto_limits *lim,
		 struct proto_msg *m)
{
	if (len == 0 || len > lim->max_frame || precheck(body, len) != 0)
		return -EBADMSG;
	/* The pre-check bounds every size, so the zone stays within PROTO_MAX_OBJECTS objects. */
	msgpack_zone zone;
	if (!msgpack_zone_init(&zone, PROTO_ZONE_CHUNK))
		return -ENOMEM;
	int rc = decode_in(&zone, body, len, lim, m);
	msgpack_zone_destroy(&zone);
	return rc;
}

int proto_decode_with(struct proto_decoder *d, const uint8_t *body, size_t len,
		      const struct proto_limits *lim, struct proto_msg *m)
{
	if (len == 0 || len > lim->max_frame || precheck(body, len) != 0)
		return -EBADMSG;
	if (d->zone == NULL && (d->zone = msgpack_zone_new(PROTO_ZONE_CHUNK)) == NULL)
		return -ENOMEM;
	int rc = decode_in(d->zone, body, len, lim, m);
	/* back to one empty chunk (any further one freed): as a fresh zone for the next frame */
	msgpack_zone_clear(d->zone);
	return rc;
}

void proto_decoder_free(struct proto_decoder *d)
{
	if (d->zone)
		msgpack_zone_free(d->zone);
	d->zone = NULL;
}

/* ---- INCR's integers ------------------------------------------------------------------------ */

int proto_int_parse(const uint8_t *p, uint32_t len, int64_t *v)
{
	if (len == 0 || len > PROTO_INT_MAX_LEN)
		return -EINVAL;
	if (len == 1 && p[0] == '0') {
		*v = 0;
		return 0;
	}
	bool neg = p[0] == '-';
	uint32_t i = neg;
	if (i == len || p[i] < '1' || p[i] > '9')
		return -EINVAL; /* "", "-", a leading zero, "-0", '+', a space */
	/* the magnitude, up to 2^63 (the most negative number's) */
	uint64_t m = 0;
	for (; i < len; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -EINVAL;
		unsigned d = p[i] - '0';
		if (m > (UINT64_C(1) << 63) / 10 || m * 10 > (UINT64_C(1) << 63) - d)
			return -EINVAL;
		m = m * 10 + d;
	}
	if (!neg && m > (uint64_t)INT64_MAX)
		return -EINVAL;
	*v = neg ? (int64_t)(0 - m) : (int64_t)m; /* (two's complement: 2^63 becomes INT64_MIN) */
	return 0;
}

uint32_t proto_int_format(int64_t v, uint8_t *out)
{
	uint8_t tmp[PROTO_INT_MAX_LEN];
	uint64_t m = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
	uint32_t n = 0, len = 0;
	do {
		tmp[n++] = (uint8_t)('0' + m % 10);
		m /= 10;
	} while (m);
	if (v < 0)
		out[len++] = '-';
	while (n)
		out[len++] = tmp[--n];
	return len;
}

int proto_incr(const uint8_t *old, uint32_t olen, const uint8_t *d, uint32_t dlen, uint8_t *out,
	       uint32_t *outlen)
{
	int64_t a = 0, b, sum;
	if ((old && proto_int_parse(old, olen, &a) != 0) || proto_int_parse(d, dlen, &b) != 0)
		return -EINVAL;
	if (__builtin_add_overflow(a, b, &sum))
		return -ERANGE;
	*outlen = proto_int_format(sum, out);
	return 0;
}

/* ---- command fingerprints ------------------------------------------------------------------ */

uint64_t proto_cmd_fp(const struct proto_cmd *c)
{
	/* the lengths go into the seeds, so no two (key, value) splits of the same bytes meet */
	uint64_t h = common_hash64(c->key, c->klen,
				   common_mix64((uint64_t)c->op << 32 ^ c->scan_count) ^ c->klen);
	if (proto_op_has_val(c->op))
		h = common_hash64(c->val, c->vlen, h ^ common_mix64(c->vlen + 1));
	return h ? h : 1; /* 0 means "no fingerprint" on the wire */
}

/* ---- SCAN results ---------------------------------------------------------------------- */

static void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

size_t proto_scan_put(uint8_t *p, const uint8_t *key, uint32_t klen, const uint8_t *val,
		      uint32_t vlen)
{
	put_le32(p, klen);
	if (klen)
		memcpy(p + 4, key, klen);
	put_le32(p + 4 + klen, vlen);
	if (vlen)
		memcpy(p + 8 + klen, val, vlen);
	return proto_scan_pair_size(klen, vlen);
}

size_t proto_snap_put(uint8_t *p, const uint8_t *key, uint32_t klen, const uint8_t *val,
		      uint32_t vlen, uint64_t ver, bool del)
{
	p[0] = del ? 1 : 0;
	for (int b = 0; b < 8; b++)
		p[1 + b] = (uint8_t)(ver >> (8 * b));
	return PROTO_SNAP_ITEM_HEAD +
	       proto_scan_put(p + PROTO_SNAP_ITEM_HEAD, key, klen, val, vlen);
}

int proto_snap_next(const uint8_t *buf, uint32_t len, uint32_t *off, struct proto_snap_item *it)
{
	uint32_t o = *off;
	if (o >= len)
		return 0;
	if (len - o < PROTO_SNAP_ITEM_HEAD || buf[o] > 1)
		return -EBADMSG;
	it->del = buf[o] == 1;
	it->ver = 0;
	for (int b = 0; b < 8; b++)
		it->ver |= (uint64_t)buf[o + 1 + b] << (8 * b);
	o += PROTO_SNAP_ITEM_HEAD;
	int rc = proto_scan_next(buf, len, &o, &it->key, &it->klen, &it->val, &it->vlen);
	if (rc != 1 || (it->del && it->vlen != 0))
		return -EBADMSG;
	*off = o;
	return 1;
}

int proto_scan_next(const uint8_t *buf, uint32_t len, uint32_t *off, const uint8_t **key,
		    uint32_t *klen, const uint8_t **val, uint32_t *vlen)
{
	uint32_t o = *off;
	if (o >= len)
		return 0;
	if (len - o < 4)
		return -EBADMSG;
	uint32_t kl = get_le32(buf + o);
	o += 4;
	if (kl > len - o || len - o - kl < 4)
		return -EBADMSG;
	*key = buf + o;
	*klen = kl;
	o += kl;
	uint32_t vl = get_le32(buf + o);
	o += 4;
	if (vl > len - o)
		return -EBADMSG;
	*val = buf + o;
	*vlen = vl;
	*off = o + vl;
	return 1;
}
