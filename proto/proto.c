/* proto: message encoding (msgpack-c packer), framing and hostile-input-safe decoding.
 *
 * Decoding runs in two steps. First a walker checks the raw msgpack bytes: every declared
 * str/bin length and array/map element count must fit in the bytes that remain (an element
 * takes at least one byte), nesting depth and the total number of objects are bounded, ext
 * types and the reserved byte 0xc1 are refused, and nothing may follow the top-level object.
 * Only then does msgpack-c's unpacker see the body, so the zone it allocates holds at most one
 * msgpack_object per input byte and PROTO_MAX_OBJECTS in all (~100 KiB; msgpack-c trusts declared
 * sizes: a 15-byte input would make it try to allocate tens of GiB). Str/bin payloads are
 * referenced in place, not copied. Second, every field is checked for type and range
 * (decode_fields).
 *
 * Encoding packs straight into the caller's proto_buf through a write callback, after a 4-byte
 * placeholder that is patched with the body length; any failure rolls the buffer back.
 */
#include "proto/proto.h"

#include <errno.h>
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "common/hash.h"

#define PROTO_MAX_DEPTH	  4
#define PROTO_MAX_OBJECTS 4096
#define PROTO_MAX_SCAN	  1000000u

static const char *const type_names[PROTO_TYPE_MAX] = {
    [PROTO_HELLO] = "HELLO",
    [PROTO_REGISTER] = "REGISTER",
    [PROTO_CLUSTER_REQ] = "CLUSTER_REQ",
    [PROTO_CLUSTER_INFO] = "CLUSTER_INFO",
    [PROTO_HEARTBEAT] = "HEARTBEAT",
    [PROTO_PROPOSE] = "PROPOSE",
    [PROTO_REPLY] = "REPLY",
    [PROTO_RECORD_ACK] = "RECORD_ACK",
    [PROTO_SYNC] = "SYNC",
    [PROTO_SYNC_REPLY] = "SYNC_REPLY",
    [PROTO_ACCEPT] = "ACCEPT",
    [PROTO_ACK] = "ACK",
    [PROTO_COMMIT] = "COMMIT",
    [PROTO_STATS_REQ] = "STATS_REQ",
    [PROTO_STATS_REPLY] = "STATS_REPLY",
    [PROTO_CAUSAL_PROPOSE] = "CAUSAL_PROPOSE",
    [PROTO_CAUSAL_REPLY] = "CAUSAL_REPLY",
    [PROTO_WEAK_WRITE] = "WEAK_WRITE",
    [PROTO_WEAK_READ] = "WEAK_READ",
    [PROTO_WEAK_REPLY] = "WEAK_REPLY",
    [PROTO_PING] = "PING",
    [PROTO_PONG] = "PONG",
    [PROTO_VC_REQ] = "VC_REQ",
    [PROTO_VC_ENTRY] = "VC_ENTRY",
    [PROTO_VC_RECORD] = "VC_RECORD",
    [PROTO_VC_DONE] = "VC_DONE",
    [PROTO_VC_INSTALL] = "VC_INSTALL",
    [PROTO_CATCHUP] = "CATCHUP",
    [PROTO_SNAP_KV] = "SNAP_KV",
    [PROTO_SNAP_CLIENT] = "SNAP_CLIENT",
    [PROTO_SNAP_RESULT] = "SNAP_RESULT",
    [PROTO_SNAP_DONE] = "SNAP_DONE",
    [PROTO_AUTH_HELLO] = "AUTH_HELLO",
    [PROTO_AUTH_CHALLENGE] = "AUTH_CHALLENGE",
    [PROTO_AUTH_PROOF] = "AUTH_PROOF",
    [PROTO_AUTH_OK] = "AUTH_OK",
    [PROTO_AUTH_FAIL] = "AUTH_FAIL",
};

const char *proto_type_name(int type)
{
	if (type <= 0 || type >= PROTO_TYPE_MAX || type_names[type] == NULL)
		return "?";
	return type_names[type];
}

const char *proto_op_name(int op)
{
	static const char *const names[] = {
	    [PROTO_OP_NONE] = "NOOP",	 [PROTO_OP_GET] = "GET",   [PROTO_OP_PUT] = "PUT",
	    [PROTO_OP_DEL] = "DEL",	 [PROTO_OP_SCAN] = "SCAN", [PROTO_OP_APPEND] = "APPEND",
	    [PROTO_OP_EXPIRE] = "EXPIRE"};
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

struct enc {
	struct proto_buf *b;
	int err;
};

static int enc_write(void *data, const char *buf, size_t len)
{
	struct enc *e = data;
	if (e->err)
		return -1;
	int rc = buf_reserve(e->b, len);
	if (rc != 0) {
		e->err = rc;
		return -1;
	}
	memcpy(e->b->data + e->b->len, buf, len);
	e->b->len += len;
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

static uint32_t field_count(uint8_t type)
{
	switch (type) {
	case PROTO_HELLO:
		return 3;
	case PROTO_REGISTER:
		return 7;
	case PROTO_CLUSTER_REQ:
		return 2;
	case PROTO_CLUSTER_INFO:
		return 6;
	case PROTO_HEARTBEAT:
		return 3;
	case PROTO_PROPOSE:
		return 6;
	case PROTO_REPLY:
		return 9;
	case PROTO_RECORD_ACK:
		return 7;
	case PROTO_SYNC:
		return 4;
	case PROTO_SYNC_REPLY:
		return 6;
	case PROTO_ACCEPT:
		return 5;
	case PROTO_ACK:
		return 2;
	case PROTO_COMMIT:
		return 1;
	case PROTO_STATS_REQ:
		return 0;
	case PROTO_STATS_REPLY:
		return 1;
	case PROTO_CAUSAL_PROPOSE:
		return 6;
	case PROTO_CAUSAL_REPLY:
		return 5;
	case PROTO_WEAK_WRITE:
		return 5;
	case PROTO_WEAK_READ:
		return 5;
	case PROTO_WEAK_REPLY:
		return 6;
	case PROTO_PING:
		return 2;
	case PROTO_PONG:
		return 1;
	case PROTO_VC_REQ:
		return 3;
	case PROTO_VC_ENTRY:
		return 7;
	case PROTO_VC_RECORD:
		return 14;
	case PROTO_VC_DONE:
		return 8;
	case PROTO_SNAP_DONE:
		return 8;
	case PROTO_VC_INSTALL:
		return 3;
	case PROTO_CATCHUP:
		return 3;
	case PROTO_SNAP_KV:
		return 3;
	case PROTO_SNAP_CLIENT:
		return 7;
	case PROTO_SNAP_RESULT:
		return 9;
	case PROTO_AUTH_HELLO:
	case PROTO_AUTH_CHALLENGE:
		return 3;
	case PROTO_AUTH_PROOF:
	case PROTO_AUTH_OK:
		return 1;
	case PROTO_AUTH_FAIL:
		return 0;
	default:
		return UINT32_MAX;
	}
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

/* Checks what the encoder itself depends on: counts that size the arrays it walks, pointers it
 * reads, caps the decoder could never accept. Semantic rules (seq >= 1...) are left to the
 * decoder of the receiving side. */
static bool encodable(const struct proto_msg *m)
{
	switch (m->type) {
	case PROTO_REGISTER:
		return m->addr_len <= PROTO_ADDR_MAX && bytes_ok(m->addr, m->addr_len);
	case PROTO_CLUSTER_INFO:
		if (m->n_replicas > PROTO_MAX_REPLICAS)
			return false;
		for (uint32_t i = 0; i < m->n_replicas; i++)
			if (m->replicas[i].addr_len > PROTO_ADDR_MAX ||
			    !bytes_ok(m->replicas[i].addr, m->replicas[i].addr_len))
				return false;
		return true;
	case PROTO_PROPOSE:
	case PROTO_ACCEPT:
	case PROTO_CAUSAL_PROPOSE:
	case PROTO_WEAK_WRITE:
	case PROTO_WEAK_READ:
	case PROTO_VC_ENTRY:
	case PROTO_VC_RECORD:
	case PROTO_SNAP_KV:
		return cmd_encodable(&m->cmd);
	case PROTO_SNAP_CLIENT:
		return m->vlen <= PROTO_MAX_XBITS && bytes_ok(m->value, m->vlen);
	case PROTO_REPLY:
	case PROTO_SYNC_REPLY:
	case PROTO_SNAP_RESULT:
	case PROTO_WEAK_REPLY:
		return bytes_ok(m->value, m->vlen);
	case PROTO_RECORD_ACK:
		return m->n_deps <= PROTO_MAX_DEPS;
	case PROTO_STATS_REPLY:
		if (m->n_stats > PROTO_MAX_STATS)
			return false;
		for (uint32_t i = 0; i < m->n_stats; i++)
			if (m->stats[i].name_len > PROTO_STAT_NAME_MAX ||
			    !bytes_ok(m->stats[i].name, m->stats[i].name_len))
				return false;
		return true;
	case PROTO_AUTH_HELLO:
	case PROTO_AUTH_CHALLENGE:
		return m->nonce != NULL; /* PROTO_AUTH_BYTES are read from it */
	case PROTO_AUTH_PROOF:
	case PROTO_AUTH_OK:
		return m->mac != NULL;
	default:
		return true;
	}
}

int proto_encode(struct proto_buf *b, const struct proto_msg *m, uint32_t max_frame)
{
	uint32_t nf = field_count(m->type);
	if (nf == UINT32_MAX || !encodable(m))
		return -EINVAL;
	size_t start = b->len;
	int rc = buf_reserve(b, PROTO_FRAME_HEADER);
	if (rc != 0)
		return rc;
	b->len += PROTO_FRAME_HEADER;
	struct enc e = {.b = b};
	msgpack_packer pk;
	msgpack_packer_init(&pk, &e, enc_write);
	msgpack_pack_array(&pk, 2 + nf);
	msgpack_pack_uint8(&pk, m->type);
	msgpack_pack_uint64(&pk, m->view);
	switch (m->type) {
	case PROTO_HELLO:
		msgpack_pack_uint8(&pk, m->role);
		msgpack_pack_int32(&pk, m->node_id);
		msgpack_pack_uint64(&pk, m->client_id);
		break;
	case PROTO_REGISTER:
		msgpack_pack_int32(&pk, m->node_id);
		pack_str(&pk, m->addr, m->addr_len);
		msgpack_pack_uint16(&pk, m->port);
		msgpack_pack_int32(&pk, m->leader);
		msgpack_pack_uint64(&pk, m->slot);
		pack_bool(&pk, m->live);
		msgpack_pack_uint64(&pk, m->client_id);
		break;
	case PROTO_CLUSTER_REQ:
		msgpack_pack_uint8(&pk, m->role);
		msgpack_pack_int32(&pk, m->node_id);
		break;
	case PROTO_CLUSTER_INFO:
		pack_bool(&pk, m->ready);
		msgpack_pack_int32(&pk, m->leader);
		msgpack_pack_int32(&pk, m->node_id);
		msgpack_pack_uint64(&pk, m->client_id);
		msgpack_pack_array(&pk, m->n_replicas);
		for (uint32_t i = 0; i < m->n_replicas; i++) {
			const struct proto_replica_addr *r = &m->replicas[i];
			msgpack_pack_array(&pk, 3);
			msgpack_pack_int32(&pk, r->id);
			pack_str(&pk, r->addr, r->addr_len);
			msgpack_pack_uint16(&pk, r->port);
		}
		pack_bool(&pk, m->rejoin);
		break;
	case PROTO_HEARTBEAT:
		msgpack_pack_int32(&pk, m->node_id);
		msgpack_pack_uint64(&pk, m->commit);
		msgpack_pack_uint64(&pk, m->slot);
		break;
	case PROTO_PROPOSE:
		msgpack_pack_uint64(&pk, m->cid.client);
		msgpack_pack_uint64(&pk, m->cid.seq);
		msgpack_pack_uint64(&pk, m->low_seq);
		msgpack_pack_uint64(&pk, m->dep);
		pack_cmd(&pk, &m->cmd);
		msgpack_pack_uint64(&pk, m->weak_dep);
		break;
	case PROTO_REPLY:
		msgpack_pack_uint64(&pk, m->cid.client);
		msgpack_pack_uint64(&pk, m->cid.seq);
		msgpack_pack_uint64(&pk, m->slot);
		pack_bool(&pk, m->ok);
		msgpack_pack_uint8(&pk, m->status);
		pack_bin(&pk, m->value, m->vlen);
		msgpack_pack_uint64(&pk, m->read_dep.client);
		msgpack_pack_uint64(&pk, m->read_dep.seq);
		msgpack_pack_uint64(&pk, m->ver);
		break;
	case PROTO_RECORD_ACK:
		msgpack_pack_uint64(&pk, m->cid.client);
		msgpack_pack_uint64(&pk, m->cid.seq);
		pack_bool(&pk, m->ok);
		msgpack_pack_uint64(&pk, m->read_dep.client);
		msgpack_pack_uint64(&pk, m->read_dep.seq);
		msgpack_pack_array(&pk, m->n_deps);
		for (uint32_t i = 0; i < m->n_deps; i++)
			msgpack_pack_uint64(&pk, m->deps[i]);
		msgpack_pack_uint64(&pk, m->dep_exec);
		break;
	case PROTO_SYNC:
		msgpack_pack_uint64(&pk, m->cid.client);
		msgpack_pack_uint64(&pk, m->cid.seq);
		msgpack_pack_uint64(&pk, m->low_seq);
		msgpack_pack_uint64(&pk, m->fp);
		break;
	case PROTO_SYNC_REPLY:
	case PROTO_SNAP_RESULT:
		msgpack_pack_uint64(&pk, m->cid.client);
		msgpack_pack_uint64(&pk, m->cid.seq);
		msgpack_pack_uint64(&pk, m->slot);
		msgpack_pack_uint8(&pk, m->status);
		pack_bin(&pk, m->value, m->vlen);
		msgpack_pack_uint64(&pk, m->ver);
		if (m->type == PROTO_SNAP_RESULT) {
			msgpack_pack_uint64(&pk, m->fp);
			msgpack_pack_uint64(&pk, m->round);
			msgpack_pack_uint64(&pk, m->slot_hi);
		}
		break;
	case PROTO_ACCEPT:
		msgpack_pack_uint64(&pk, m->slot);
		msgpack_pack_uint64(&pk, m->cid.client);
		msgpack_pack_uint64(&pk, m->cid.seq);
		pack_cmd(&pk, &m->cmd);
		msgpack_pack_uint64(&pk, m->commit);
		break;
	case PROTO_ACK:
		msgpack_pack_uint64(&pk, m->slot);
		msgpack_pack_uint64(&pk, m->slot_hi);
		break;
	case PROTO_COMMIT:
		msgpack_pack_uint64(&pk, m->commit);
		break;
	case PROTO_STATS_REQ:
		break;
	case PROTO_STATS_REPLY:
		msgpack_pack_array(&pk, m->n_stats);
		for (uint32_t i = 0; i < m->n_stats; i++) {
			msgpack_pack_array(&pk, 2);
			pack_str(&pk, m->stats[i].name, m->stats[i].name_len);
			msgpack_pack_uint64(&pk, m->stats[i].value);
		}
		break;
	case PROTO_CAUSAL_PROPOSE:
		msgpack_pack_uint64(&pk, m->cid.client);
		msgpack_pack_uint64(&pk, m->cid.seq);
		msgpack_pack_uint64(&pk, m->low_seq);
		msgpack_pack_uint64(&pk, m->dep);
		msgpack_pack_int32(&pk, m->bound);
		pack_cmd(&pk, &m->cmd);
		break;
	case PROTO_CAUSAL_REPLY:
		msgpack_pack_uint64(&pk, m->cid.client);
		msgpack_pack_uint64(&pk, m->cid.seq);
		msgpack_pack_uint64(&pk, m->slot);
		pack_bool(&pk, m->ok);
		msgpack_pack_uint8(&pk, m->status);
		break;
	case PROTO_WEAK_WRITE:
		msgpack_pack_uint64(&pk, m->cid.client);
		msgpack_pack_uint64(&pk, m->cid.seq);
		msgpack_pack_uint64(&pk, m->low_seq);
		msgpack_pack_uint64(&pk, m->dep);
		pack_cmd(&pk, &m->cmd);
		break;
	case PROTO_WEAK_READ:
		msgpack_pack_uint64(&pk, m->cid.client);
		msgpack_pack_uint64(&pk, m->cid.seq);
		msgpack_pack_uint64(&pk, m->token);
		msgpack_pack_uint64(&pk, m->dep);
		pack_cmd(&pk, &m->cmd);
		break;
	case PROTO_WEAK_REPLY:
		msgpack_pack_uint64(&pk, m->cid.client);
		msgpack_pack_uint64(&pk, m->cid.seq);
		msgpack_pack_uint64(&pk, m->slot);
		msgpack_pack_uint64(&pk, m->commit);
		msgpack_pack_uint8(&pk, m->status);
		pack_bin(&pk, m->value, m->vlen);
		break;
	case PROTO_PING:
	case PROTO_PONG:
		msgpack_pack_uint64(&pk, m->slot);
		if (m->type == PROTO_PING)
			msgpack_pack_uint64(&pk, m->client_id);
		break;
	case PROTO_VC_REQ:
		msgpack_pack_uint64(&pk, m->slot);
		msgpack_pack_uint64(&pk, m->round);
		msgpack_pack_uint64(&pk, m->slot_hi);
		break;
	case PROTO_CATCHUP:
		msgpack_pack_uint64(&pk, m->slot);
		pack_bool(&pk, m->ok);
		msgpack_pack_uint64(&pk, m->round);
		break;
	case PROTO_SNAP_KV:
		pack_bin(&pk, m->value, m->vlen);
		msgpack_pack_uint64(&pk, m->round);
		msgpack_pack_uint64(&pk, m->slot_hi);
		break;
	case PROTO_SNAP_CLIENT:
		msgpack_pack_uint64(&pk, m->cid.client);
		msgpack_pack_uint64(&pk, m->low_seq);
		msgpack_pack_uint64(&pk, m->slot);
		msgpack_pack_uint64(&pk, m->dep);
		pack_bin(&pk, m->value, m->vlen);
		msgpack_pack_uint64(&pk, m->round);
		msgpack_pack_uint64(&pk, m->slot_hi);
		break;
	case PROTO_VC_ENTRY:
		msgpack_pack_uint64(&pk, m->slot);
		msgpack_pack_uint64(&pk, m->eview);
		msgpack_pack_uint64(&pk, m->cid.client);
		msgpack_pack_uint64(&pk, m->cid.seq);
		pack_cmd(&pk, &m->cmd);
		msgpack_pack_uint64(&pk, m->round);
		msgpack_pack_uint64(&pk, m->slot_hi);
		break;
	case PROTO_VC_RECORD:
		msgpack_pack_uint64(&pk, m->cid.client);
		msgpack_pack_uint64(&pk, m->cid.seq);
		msgpack_pack_uint64(&pk, m->eview);
		pack_bool(&pk, m->ok);
		pack_bool(&pk, m->weak);
		msgpack_pack_uint64(&pk, m->dep);
		msgpack_pack_int32(&pk, m->bound);
		pack_cmd(&pk, &m->cmd);
		msgpack_pack_uint64(&pk, m->slot);
		msgpack_pack_uint64(&pk, m->read_dep.client);
		msgpack_pack_uint64(&pk, m->read_dep.seq);
		msgpack_pack_uint64(&pk, m->weak_dep);
		msgpack_pack_uint64(&pk, m->round);
		msgpack_pack_uint64(&pk, m->slot_hi);
		break;
	case PROTO_VC_DONE:
	case PROTO_SNAP_DONE:
		msgpack_pack_uint64(&pk, m->commit);
		msgpack_pack_uint64(&pk, m->slot);
		msgpack_pack_uint64(&pk, m->slot_hi);
		msgpack_pack_uint64(&pk, m->eview);
		msgpack_pack_uint64(&pk, m->cut);
		if (m->type == PROTO_VC_DONE) {
			msgpack_pack_uint64(&pk, m->dview);
			msgpack_pack_uint64(&pk, m->dhole);
		}
		msgpack_pack_uint64(&pk, m->round);
		if (m->type == PROTO_SNAP_DONE) {
			msgpack_pack_uint64(&pk, m->ver);
			msgpack_pack_uint64(&pk, m->client_id);
		}
		break;
	case PROTO_VC_INSTALL:
		msgpack_pack_uint64(&pk, m->cut);
		msgpack_pack_uint64(&pk, m->commit);
		msgpack_pack_uint64(&pk, m->slot);
		break;
	case PROTO_AUTH_HELLO:
	case PROTO_AUTH_CHALLENGE:
		msgpack_pack_uint8(&pk, m->role);
		msgpack_pack_int32(&pk, m->node_id);
		pack_bin(&pk, m->nonce, PROTO_AUTH_BYTES);
		break;
	case PROTO_AUTH_PROOF:
	case PROTO_AUTH_OK:
		pack_bin(&pk, m->mac, PROTO_AUTH_BYTES);
		break;
	case PROTO_AUTH_FAIL:
		break;
	}
	size_t body = b->len - start - PROTO_FRAME_HEADER;
	if (e.err || body > max_frame) {
		b->len = start; /* roll back: the buffer is unchanged */
		return e.err ? e.err : -EMSGSIZE;
	}
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

static bool get_cmd(const msgpack_object *o, const struct proto_limits *lim, bool allow_none,
		    struct proto_cmd *c)
{
	if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 4)
		return false;
	const msgpack_object *f = o->via.array.ptr;
	uint64_t op, scan;
	if (!get_u(&f[0], PROTO_OP_MAX, &op) || (proto_op_internal((unsigned)op) && !allow_none))
		return false;
	c->op = (uint8_t)op;
	if (!get_bin(&f[1], lim->max_key, &c->key, &c->klen))
		return false;
	if (proto_op_has_val((unsigned)op)) {
		if (!get_bin(&f[2], lim->max_value, &c->val, &c->vlen))
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
	c->scan_count = (uint32_t)scan;
	return true;
}

/* The writes a weak write or a state transfer carries (an APPEND is strong only). */
static bool is_write(uint8_t op)
{
	return op == PROTO_OP_PUT || op == PROTO_OP_DEL;
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

/* Maps the checked object tree to m. Returns true if every field is valid. */
static bool decode_fields(const msgpack_object *root, const struct proto_limits *lim,
			  struct proto_msg *m)
{
	if (root->type != MSGPACK_OBJECT_ARRAY || root->via.array.size < 2)
		return false;
	const msgpack_object *f = root->via.array.ptr;
	uint64_t type, u;
	if (!get_u(&f[0], PROTO_TYPE_MAX - 1, &type) || type == 0)
		return false;
	if (root->via.array.size != 2 + field_count((uint8_t)type))
		return false;
	m->type = (uint8_t)type;
	if (!get_u64(&f[1], &m->view))
		return false;
	f += 2;
	switch (m->type) {
	case PROTO_HELLO:
		if (!get_u(&f[0], PROTO_ROLE_ADMIN, &u) || u == 0)
			return false;
		m->role = (uint8_t)u;
		return get_i32(&f[1], -1, 65535, &m->node_id) && get_u64(&f[2], &m->client_id);
	case PROTO_REGISTER:
		return get_i32(&f[0], 0, 65535, &m->node_id) &&
		       get_str(&f[1], PROTO_ADDR_MAX, &m->addr, &m->addr_len) &&
		       get_u(&f[2], 65535, &u) && u != 0 && ((m->port = (uint16_t)u), true) &&
		       get_i32(&f[3], -1, 65535, &m->leader) && get_u64(&f[4], &m->slot) &&
		       get_bool(&f[5], &m->live) && get_u64(&f[6], &m->client_id);
	case PROTO_CLUSTER_REQ:
		if (!get_u(&f[0], PROTO_ROLE_ADMIN, &u) || u == 0)
			return false;
		m->role = (uint8_t)u;
		return get_i32(&f[1], -1, 65535, &m->node_id);
	case PROTO_CLUSTER_INFO:
		if (!get_bool(&f[0], &m->ready) || !get_i32(&f[1], -1, 65535, &m->leader) ||
		    !get_i32(&f[2], -1, 65535, &m->node_id) || !get_u64(&f[3], &m->client_id))
			return false;
		if (f[4].type != MSGPACK_OBJECT_ARRAY || f[4].via.array.size > PROTO_MAX_REPLICAS)
			return false;
		m->n_replicas = f[4].via.array.size;
		for (uint32_t i = 0; i < m->n_replicas; i++)
			if (!get_replica(&f[4].via.array.ptr[i], &m->replicas[i]))
				return false;
		return get_bool(&f[5], &m->rejoin);
	case PROTO_HEARTBEAT:
		return get_i32(&f[0], -1, 65535, &m->node_id) && get_u64(&f[1], &m->commit) &&
		       get_u64(&f[2], &m->slot);
	case PROTO_PROPOSE:
		return get_cid(f, false, &m->cid) && get_u64(&f[2], &m->low_seq) &&
		       m->low_seq <= m->cid.seq && get_u64(&f[3], &m->dep) && m->dep < m->cid.seq &&
		       get_cmd(&f[4], lim, false, &m->cmd) && get_u64(&f[5], &m->weak_dep) &&
		       m->weak_dep <= m->dep;
	case PROTO_REPLY:
		return get_cid(f, false, &m->cid) && get_u64(&f[2], &m->slot) &&
		       get_bool(&f[3], &m->ok) && get_u(&f[4], PROTO_ST_MAX, &u) &&
		       ((m->status = (uint8_t)u), true) &&
		       get_bin(&f[5], lim->max_value, &m->value, &m->vlen) &&
		       get_cid(f + 6, true, &m->read_dep) && get_u64(&f[8], &m->ver);
	case PROTO_RECORD_ACK:
		if (!get_cid(f, false, &m->cid) || !get_bool(&f[2], &m->ok) ||
		    !get_cid(f + 3, true, &m->read_dep))
			return false;
		if (f[5].type != MSGPACK_OBJECT_ARRAY || f[5].via.array.size > PROTO_MAX_DEPS)
			return false;
		m->n_deps = f[5].via.array.size;
		for (uint32_t i = 0; i < m->n_deps; i++)
			if (!get_u64(&f[5].via.array.ptr[i], &m->deps[i]) || m->deps[i] == 0)
				return false;
		return get_u64(&f[6], &m->dep_exec) && m->dep_exec < m->cid.seq;
	case PROTO_SYNC:
		return get_cid(f, false, &m->cid) && get_u64(&f[2], &m->low_seq) &&
		       m->low_seq <= m->cid.seq && get_u64(&f[3], &m->fp);
	case PROTO_SYNC_REPLY:
	case PROTO_SNAP_RESULT:
		return get_cid(f, false, &m->cid) && get_u64(&f[2], &m->slot) &&
		       get_u(&f[3], PROTO_ST_MAX, &u) && ((m->status = (uint8_t)u), true) &&
		       get_bin(&f[4], lim->max_value, &m->value, &m->vlen) &&
		       get_u64(&f[5], &m->ver) &&
		       (m->type != PROTO_SNAP_RESULT ||
			(get_u64(&f[6], &m->fp) && get_u64(&f[7], &m->round) &&
			 get_u64(&f[8], &m->slot_hi)));
	case PROTO_ACCEPT:
		return get_u64(&f[0], &m->slot) && get_cid(f + 1, true, &m->cid) &&
		       get_cmd(&f[3], lim, true, &m->cmd) && get_u64(&f[4], &m->commit) &&
		       proto_op_internal(m->cmd.op) == (m->cid.client == 0);
	case PROTO_ACK:
		return get_u64(&f[0], &m->slot) && get_u64(&f[1], &m->slot_hi) &&
		       m->slot_hi >= m->slot;
	case PROTO_COMMIT:
		return get_u64(&f[0], &m->commit);
	case PROTO_STATS_REQ:
		return true;
	case PROTO_STATS_REPLY:
		if (f[0].type != MSGPACK_OBJECT_ARRAY || f[0].via.array.size > PROTO_MAX_STATS)
			return false;
		m->n_stats = f[0].via.array.size;
		for (uint32_t i = 0; i < m->n_stats; i++) {
			const msgpack_object *e = &f[0].via.array.ptr[i];
			if (e->type != MSGPACK_OBJECT_ARRAY || e->via.array.size != 2 ||
			    !get_str(&e->via.array.ptr[0], PROTO_STAT_NAME_MAX, &m->stats[i].name,
				     &m->stats[i].name_len) ||
			    !get_u64(&e->via.array.ptr[1], &m->stats[i].value))
				return false;
		}
		return true;
	case PROTO_CAUSAL_PROPOSE:
		return get_cid(f, false, &m->cid) && get_u64(&f[2], &m->low_seq) &&
		       m->low_seq <= m->cid.seq && get_u64(&f[3], &m->dep) && m->dep < m->cid.seq &&
		       get_i32(&f[4], 0, PROTO_MAX_REPLICAS - 1, &m->bound) &&
		       get_cmd(&f[5], lim, false, &m->cmd) && is_write(m->cmd.op);
	case PROTO_CAUSAL_REPLY:
		return get_cid(f, false, &m->cid) && get_u64(&f[2], &m->slot) &&
		       get_bool(&f[3], &m->ok) && get_u(&f[4], PROTO_ST_MAX, &u) &&
		       ((m->status = (uint8_t)u), true);
	case PROTO_WEAK_WRITE:
		return get_cid(f, false, &m->cid) && get_u64(&f[2], &m->low_seq) &&
		       m->low_seq <= m->cid.seq && get_u64(&f[3], &m->dep) && m->dep < m->cid.seq &&
		       get_cmd(&f[4], lim, false, &m->cmd) && is_write(m->cmd.op);
	case PROTO_WEAK_READ:
		return get_cid(f, false, &m->cid) && get_u64(&f[2], &m->token) &&
		       get_u64(&f[3], &m->dep) && m->dep < m->cid.seq &&
		       get_cmd(&f[4], lim, false, &m->cmd) &&
		       (m->cmd.op == PROTO_OP_GET || m->cmd.op == PROTO_OP_SCAN);
	case PROTO_WEAK_REPLY:
		return get_cid(f, false, &m->cid) && get_u64(&f[2], &m->slot) &&
		       get_u64(&f[3], &m->commit) && get_u(&f[4], PROTO_ST_MAX, &u) &&
		       ((m->status = (uint8_t)u), true) &&
		       get_bin(&f[5], lim->max_value, &m->value, &m->vlen);
	case PROTO_PING:
		return get_u64(&f[0], &m->slot) && get_u64(&f[1], &m->client_id);
	case PROTO_PONG:
		return get_u64(&f[0], &m->slot);
	case PROTO_VC_REQ:
		return get_u64(&f[0], &m->slot) && get_u64(&f[1], &m->round) &&
		       get_u64(&f[2], &m->slot_hi);
	case PROTO_CATCHUP:
		return get_u64(&f[0], &m->slot) && get_bool(&f[1], &m->ok) &&
		       get_u64(&f[2], &m->round);
	case PROTO_SNAP_KV:
		return get_bin(&f[0], lim->max_frame, &m->value, &m->vlen) &&
		       snap_items_ok(m->value, m->vlen, lim) && get_u64(&f[1], &m->round) &&
		       get_u64(&f[2], &m->slot_hi);
	case PROTO_SNAP_CLIENT:
		return get_u64(&f[0], &m->cid.client) && m->cid.client != 0 &&
		       get_u64(&f[1], &m->low_seq) && get_u64(&f[2], &m->slot) &&
		       get_u64(&f[3], &m->dep) &&
		       get_bin(&f[4], PROTO_MAX_XBITS, &m->value, &m->vlen) && m->vlen % 8 == 0 &&
		       get_u64(&f[5], &m->round) && get_u64(&f[6], &m->slot_hi);
	case PROTO_VC_ENTRY:
		return get_u64(&f[0], &m->slot) && get_u64(&f[1], &m->eview) &&
		       get_cid(f + 2, true, &m->cid) && get_cmd(&f[4], lim, true, &m->cmd) &&
		       proto_op_internal(m->cmd.op) == (m->cid.client == 0) &&
		       get_u64(&f[5], &m->round) && get_u64(&f[6], &m->slot_hi);
	case PROTO_VC_RECORD:
		return get_cid(f, false, &m->cid) && get_u64(&f[2], &m->eview) &&
		       get_bool(&f[3], &m->ok) && get_bool(&f[4], &m->weak) &&
		       get_u64(&f[5], &m->dep) && m->dep < m->cid.seq &&
		       get_i32(&f[6], 0, PROTO_MAX_REPLICAS - 1, &m->bound) &&
		       get_cmd(&f[7], lim, false, &m->cmd) && get_u64(&f[8], &m->slot) &&
		       get_cid(f + 9, true, &m->read_dep) && get_u64(&f[11], &m->weak_dep) &&
		       m->weak_dep <= m->dep && get_u64(&f[12], &m->round) &&
		       get_u64(&f[13], &m->slot_hi);
	case PROTO_VC_DONE:
	case PROTO_SNAP_DONE:
		return get_u64(&f[0], &m->commit) && get_u64(&f[1], &m->slot) &&
		       get_u64(&f[2], &m->slot_hi) && get_u64(&f[3], &m->eview) &&
		       get_u64(&f[4], &m->cut) &&
		       (m->type == PROTO_VC_DONE
			    ? get_u64(&f[5], &m->dview) && get_u64(&f[6], &m->dhole) &&
				  m->dview >= m->eview && get_u64(&f[7], &m->round)
			    : get_u64(&f[5], &m->round) && get_u64(&f[6], &m->ver) &&
				  get_u64(&f[7], &m->client_id));
	case PROTO_VC_INSTALL:
		return get_u64(&f[0], &m->cut) && get_u64(&f[1], &m->commit) &&
		       get_u64(&f[2], &m->slot) && m->slot <= m->cut;
	case PROTO_AUTH_HELLO:
	case PROTO_AUTH_CHALLENGE:
		if (!get_u(&f[0], PROTO_ROLE_MASTER, &u) || u == 0)
			return false;
		m->role = (uint8_t)u;
		return get_i32(&f[1], -1, 65535, &m->node_id) && get_auth_bytes(&f[2], &m->nonce);
	case PROTO_AUTH_PROOF:
	case PROTO_AUTH_OK:
		return get_auth_bytes(&f[0], &m->mac);
	case PROTO_AUTH_FAIL:
		return true;
	default:
		return false;
	}
}

int proto_decode(const uint8_t *body, size_t len, const struct proto_limits *lim,
		 struct proto_msg *m)
{
	if (len == 0 || len > lim->max_frame || precheck(body, len) != 0)
		return -EBADMSG;
	/* The pre-check bounds every size, so the zone stays within PROTO_MAX_OBJECTS objects. */
	msgpack_zone zone;
	if (!msgpack_zone_init(&zone, 2048))
		return -ENOMEM;
	msgpack_object root;
	size_t off = 0;
	int rc = -EBADMSG;
	msgpack_unpack_return ur = msgpack_unpack((const char *)body, len, &off, &zone, &root);
	if (ur == MSGPACK_UNPACK_NOMEM_ERROR) {
		rc = -ENOMEM;
	} else if (ur == MSGPACK_UNPACK_SUCCESS && off == len) {
		/* Byte fields point into body (msgpack-c references str/bin in place when the
		 * zone is given the input), so they outlive the zone. */
		memset(m, 0, offsetof(struct proto_msg, stats));
		m->n_stats = 0;
		if (decode_fields(&root, lim, m))
			rc = 0;
	}
	msgpack_zone_destroy(&zone);
	return rc;
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
	return PROTO_SNAP_ITEM_HEAD + proto_scan_put(p + PROTO_SNAP_ITEM_HEAD, key, klen, val, vlen);
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
