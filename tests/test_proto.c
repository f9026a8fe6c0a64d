/* Unit tests for proto/: round trips of every message type, framing, buffer limits, and
 * hostile input (msgpack bombs, truncation, wrong types, random mutations). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"
#include "proto/proto.h"

static const struct proto_limits LIM = {.max_frame = 1u << 20, .max_key = 1024,
					.max_value = 65536};

/* Encodes m alone into a fresh buffer and decodes it back into *out (whose byte fields point
 * into *keep, which the caller frees). */
static void roundtrip(const struct proto_msg *m, struct proto_msg *out, struct proto_buf *keep)
{
	proto_buf_init(keep, 4u << 20);
	assert_int_equal(proto_encode(keep, m, LIM.max_frame), 0);
	long fl = proto_frame_peek(keep->data, keep->len, LIM.max_frame);
	assert_int_equal(fl, (long)keep->len);
	assert_int_equal(proto_decode(keep->data + 4, keep->len - 4, &LIM, out), 0);
	assert_int_equal(out->type, m->type);
	assert_int_equal(out->view, m->view);
}

/* Byte fields must point inside the frame (they do not outlive it, and never into a freed zone). */
static void assert_inside(const struct proto_buf *b, const void *p, uint32_t len)
{
	if (len == 0)
		return;
	const uint8_t *q = p;
	assert_true(q >= b->data && q + len <= b->data + b->len);
}

static void test_roundtrip_all_types(void **state)
{
	(void)state;
	struct proto_msg m, o;
	struct proto_buf b;
	uint8_t key[1024], val[65536];
	for (size_t i = 0; i < sizeof key; i++)
		key[i] = (uint8_t)(i * 7); /* includes NUL bytes */
	for (size_t i = 0; i < sizeof val; i++)
		val[i] = (uint8_t)(i * 13);

	memset(&m, 0, sizeof m);
	m = (struct proto_msg){.type = PROTO_HELLO, .view = 3, .role = PROTO_ROLE_REPLICA,
			       .node_id = 4, .client_id = 77};
	roundtrip(&m, &o, &b);
	assert_int_equal(o.role, PROTO_ROLE_REPLICA);
	assert_int_equal(o.node_id, 4);
	assert_int_equal(o.client_id, 77);
	proto_buf_free(&b);

	m = (struct proto_msg){.type = PROTO_REGISTER, .view = 0, .node_id = 2, .addr = "127.0.0.1",
			       .addr_len = 9, .port = 7072};
	roundtrip(&m, &o, &b);
	assert_int_equal(o.node_id, 2);
	assert_int_equal(o.port, 7072);
	assert_int_equal(o.addr_len, 9);
	assert_memory_equal(o.addr, "127.0.0.1", 9);
	assert_inside(&b, o.addr, o.addr_len);
	proto_buf_free(&b);

	m = (struct proto_msg){.type = PROTO_CLUSTER_REQ, .view = 1, .role = PROTO_ROLE_CLIENT,
			       .node_id = -1};
	roundtrip(&m, &o, &b);
	assert_int_equal(o.role, PROTO_ROLE_CLIENT);
	assert_int_equal(o.node_id, -1);
	proto_buf_free(&b);

	memset(&m, 0, sizeof m);
	m.type = PROTO_CLUSTER_INFO;
	m.view = 9;
	m.ready = true;
	m.leader = 2;
	m.node_id = -1;
	m.client_id = 0x1234567890ull;
	m.n_replicas = PROTO_MAX_REPLICAS;
	char addrs[PROTO_MAX_REPLICAS][16];
	for (int i = 0; i < PROTO_MAX_REPLICAS; i++) {
		snprintf(addrs[i], sizeof addrs[i], "10.0.0.%d", i);
		m.replicas[i] = (struct proto_replica_addr){.id = i, .port = (uint16_t)(7070 + i),
							    .addr = addrs[i],
							    .addr_len = (uint32_t)strlen(addrs[i])};
	}
	roundtrip(&m, &o, &b);
	assert_true(o.ready);
	assert_int_equal(o.leader, 2);
	assert_int_equal(o.client_id, 0x1234567890ull);
	assert_int_equal(o.n_replicas, PROTO_MAX_REPLICAS);
	for (int i = 0; i < PROTO_MAX_REPLICAS; i++) {
		assert_int_equal(o.replicas[i].id, i);
		assert_int_equal(o.replicas[i].port, 7070 + i);
		assert_memory_equal(o.replicas[i].addr, addrs[i], strlen(addrs[i]));
	}
	proto_buf_free(&b);

	m = (struct proto_msg){.type = PROTO_HEARTBEAT, .view = 5, .node_id = 1, .commit = 99,
			       .slot = 100};
	roundtrip(&m, &o, &b);
	assert_int_equal(o.commit, 99);
	assert_int_equal(o.slot, 100);
	proto_buf_free(&b);

	m = (struct proto_msg){.type = PROTO_PROPOSE, .view = 2, .cid = {UINT64_MAX, 5},
			       .low_seq = 3};
	m.cmd = (struct proto_cmd){.op = PROTO_OP_PUT, .key = key, .klen = 1024, .val = val,
				   .vlen = 65536};
	roundtrip(&m, &o, &b);
	assert_int_equal(o.cid.client, UINT64_MAX);
	assert_int_equal(o.cid.seq, 5);
	assert_int_equal(o.low_seq, 3);
	assert_int_equal(o.cmd.op, PROTO_OP_PUT);
	assert_int_equal(o.cmd.klen, 1024);
	assert_memory_equal(o.cmd.key, key, 1024);
	assert_int_equal(o.cmd.vlen, 65536);
	assert_memory_equal(o.cmd.val, val, 65536);
	assert_inside(&b, o.cmd.key, o.cmd.klen);
	assert_inside(&b, o.cmd.val, o.cmd.vlen);
	proto_buf_free(&b);

	m.cmd = (struct proto_cmd){.op = PROTO_OP_SCAN, .key = key, .klen = 8, .scan_count = 1000};
	roundtrip(&m, &o, &b);
	assert_int_equal(o.cmd.op, PROTO_OP_SCAN);
	assert_int_equal(o.cmd.scan_count, 1000);
	assert_int_equal(o.cmd.vlen, 0);
	proto_buf_free(&b);

	m = (struct proto_msg){.type = PROTO_REPLY, .view = 1, .cid = {7, 8}, .slot = 42, .ok = true,
			       .status = PROTO_ST_NOT_FOUND, .value = val, .vlen = 100};
	roundtrip(&m, &o, &b);
	assert_int_equal(o.slot, 42);
	assert_true(o.ok);
	assert_int_equal(o.status, PROTO_ST_NOT_FOUND);
	assert_int_equal(o.vlen, 100);
	assert_memory_equal(o.value, val, 100);
	proto_buf_free(&b);

	m = (struct proto_msg){.type = PROTO_RECORD_ACK, .view = 1, .cid = {7, 8}, .ok = false};
	roundtrip(&m, &o, &b);
	assert_false(o.ok);
	assert_int_equal(o.cid.seq, 8);
	proto_buf_free(&b);

	m = (struct proto_msg){.type = PROTO_SYNC, .view = 1, .cid = {7, 8}, .low_seq = 8};
	roundtrip(&m, &o, &b);
	assert_int_equal(o.low_seq, 8);
	proto_buf_free(&b);

	m = (struct proto_msg){.type = PROTO_SYNC_REPLY, .view = 1, .cid = {7, 8}, .slot = 3,
			       .status = PROTO_ST_OK, .value = NULL, .vlen = 0};
	roundtrip(&m, &o, &b);
	assert_int_equal(o.status, PROTO_ST_OK);
	assert_int_equal(o.vlen, 0);
	proto_buf_free(&b);

	m = (struct proto_msg){.type = PROTO_ACCEPT, .view = 4, .slot = 1000, .cid = {7, 8},
			       .commit = 999};
	m.cmd = (struct proto_cmd){.op = PROTO_OP_DEL, .key = key, .klen = 3};
	roundtrip(&m, &o, &b);
	assert_int_equal(o.slot, 1000);
	assert_int_equal(o.commit, 999);
	assert_int_equal(o.cmd.op, PROTO_OP_DEL);
	proto_buf_free(&b);

	/* a no-op slot (recovery fills holes with them) */
	m = (struct proto_msg){.type = PROTO_ACCEPT, .view = 4, .slot = 5, .cid = {0, 0}};
	m.cmd = (struct proto_cmd){.op = PROTO_OP_NONE};
	roundtrip(&m, &o, &b);
	assert_int_equal(o.cmd.op, PROTO_OP_NONE);
	proto_buf_free(&b);

	m = (struct proto_msg){.type = PROTO_ACK, .view = 4, .slot = 10, .slot_hi = 20};
	roundtrip(&m, &o, &b);
	assert_int_equal(o.slot_hi, 20);
	proto_buf_free(&b);

	m = (struct proto_msg){.type = PROTO_COMMIT, .view = 4, .commit = 77};
	roundtrip(&m, &o, &b);
	assert_int_equal(o.commit, 77);
	proto_buf_free(&b);

	m = (struct proto_msg){.type = PROTO_STATS_REQ, .view = 0};
	roundtrip(&m, &o, &b);
	proto_buf_free(&b);

	memset(&m, 0, sizeof m);
	m.type = PROTO_STATS_REPLY;
	m.n_stats = 48;
	char names[48][16];
	for (int i = 0; i < 48; i++) {
		snprintf(names[i], sizeof names[i], "counter_%d", i);
		m.stats[i].name = names[i];
		m.stats[i].name_len = (uint32_t)strlen(names[i]);
		m.stats[i].value = (uint64_t)i * 1000000007ull;
	}
	roundtrip(&m, &o, &b);
	assert_int_equal(o.n_stats, 48);
	for (int i = 0; i < 48; i++) {
		assert_memory_equal(o.stats[i].name, names[i], strlen(names[i]));
		assert_int_equal(o.stats[i].value, (uint64_t)i * 1000000007ull);
	}
	proto_buf_free(&b);
	assert_string_equal(proto_type_name(PROTO_PROPOSE), "PROPOSE");
	assert_string_equal(proto_type_name(999), "?");
}

static void test_buffer_limits_and_frames(void **state)
{
	(void)state;
	struct proto_buf b;
	proto_buf_init(&b, 64);
	struct proto_msg m = {.type = PROTO_COMMIT, .view = 1, .commit = 5};
	int n = 0;
	while (proto_encode(&b, &m, 1024) == 0)
		n++;
	assert_true(n >= 3);
	size_t len = b.len;
	assert_int_equal(proto_encode(&b, &m, 1024), -ENOBUFS);
	assert_int_equal(b.len, len); /* unchanged */
	/* several frames back to back */
	size_t off = 0;
	int frames = 0;
	long fl;
	while ((fl = proto_frame_peek(b.data + off, b.len - off, 1024)) > 0) {
		struct proto_msg o;
		assert_int_equal(proto_decode(b.data + off + 4, (size_t)fl - 4, &LIM, &o), 0);
		assert_int_equal(o.commit, 5);
		off += (size_t)fl;
		frames++;
	}
	assert_int_equal(frames, n);
	/* partial header / body */
	assert_int_equal(proto_frame_peek(b.data, 3, 1024), 0);
	fl = proto_frame_peek(b.data, b.len, 1024);
	assert_int_equal(proto_frame_peek(b.data, (size_t)fl - 1, 1024), 0);
	proto_buf_consume(&b, (size_t)fl);
	assert_int_equal(b.len, len - (size_t)fl);
	proto_buf_free(&b);
	/* oversized header refused at the header */
	uint8_t big[4] = {0x01, 0x00, 0x10, 0x00}; /* 1 MiB + 1 */
	assert_int_equal(proto_frame_peek(big, 4, 1u << 20), -EMSGSIZE);
	uint8_t huge[4] = {0xff, 0xff, 0xff, 0xff};
	assert_int_equal(proto_frame_peek(huge, 4, 1u << 20), -EMSGSIZE);
	/* a message larger than max_frame is refused by the encoder */
	proto_buf_init(&b, 1u << 20);
	uint8_t val[2000] = {0};
	struct proto_msg p = {.type = PROTO_PROPOSE, .view = 0, .cid = {1, 1}, .low_seq = 1};
	p.cmd = (struct proto_cmd){.op = PROTO_OP_PUT, .key = val, .klen = 8, .val = val,
				   .vlen = 2000};
	assert_int_equal(proto_encode(&b, &p, 1000), -EMSGSIZE);
	assert_int_equal(b.len, 0);
	proto_buf_free(&b);
	/* unknown type cannot be encoded */
	proto_buf_init(&b, 1024);
	struct proto_msg bad = {.type = 99};
	assert_int_equal(proto_encode(&b, &bad, 1024), -EINVAL);
	proto_buf_free(&b);
}

static void expect_bad(const uint8_t *p, size_t len)
{
	struct proto_msg o;
	assert_int_equal(proto_decode(p, len, &LIM, &o), -EBADMSG);
}

/* msgpack bombs: declared sizes far beyond the bytes present must be refused before msgpack-c's
 * unpacker sees them (it would try to allocate them). */
static void test_bombs(void **state)
{
	(void)state;
	const uint8_t arr32[] = {0xdd, 0xff, 0xff, 0xff, 0xff, 0x01, 0x02, 0x03,
				 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a};
	expect_bad(arr32, sizeof arr32); /* the 15-byte, ~4G-element array */
	const uint8_t map32[] = {0xdf, 0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
	expect_bad(map32, sizeof map32);
	const uint8_t str32[] = {0x92, 0x01, 0xdb, 0xff, 0xff, 0xff, 0xf0, 'a', 'b'};
	expect_bad(str32, sizeof str32);
	const uint8_t bin32[] = {0x92, 0x01, 0xc6, 0x7f, 0xff, 0xff, 0xff, 'a'};
	expect_bad(bin32, sizeof bin32);
	const uint8_t nested_arr[] = {0x91, 0x91, 0xdd, 0x10, 0x00, 0x00, 0x00, 0x01};
	expect_bad(nested_arr, sizeof nested_arr);
	/* deep nesting */
	uint8_t deep[64];
	memset(deep, 0x91, sizeof deep);
	deep[63] = 0x01;
	expect_bad(deep, sizeof deep);
	/* ext types and the reserved byte */
	const uint8_t ext[] = {0x92, 0x01, 0xd4, 0x01, 0x02};
	expect_bad(ext, sizeof ext);
	const uint8_t c1[] = {0xc1};
	expect_bad(c1, sizeof c1);
	expect_bad(c1, 0);
}

static void encode_one(struct proto_buf *b, const struct proto_msg *m)
{
	proto_buf_init(b, 1u << 22);
	assert_int_equal(proto_encode(b, m, LIM.max_frame), 0);
}

/* Every proper prefix of a valid body fails cleanly; trailing bytes fail too. */
static void test_truncation_and_trailing(void **state)
{
	(void)state;
	uint8_t key[16] = "k";
	struct proto_msg m = {.type = PROTO_PROPOSE, .view = 1, .cid = {3, 4}, .low_seq = 2};
	m.cmd = (struct proto_cmd){.op = PROTO_OP_PUT, .key = key, .klen = 16,
				   .val = (const uint8_t *)"value", .vlen = 5};
	struct proto_buf b;
	encode_one(&b, &m);
	size_t blen = b.len - 4;
	for (size_t n = 0; n < blen; n++) {
		uint8_t *copy = malloc(n ? n : 1); /* exact-size copy: ASan sees any over-read */
		memcpy(copy, b.data + 4, n);
		expect_bad(copy, n);
		free(copy);
	}
	uint8_t *longer = malloc(blen + 1);
	memcpy(longer, b.data + 4, blen);
	longer[blen] = 0x00;
	expect_bad(longer, blen + 1);
	free(longer);
	proto_buf_free(&b);
}

/* Hand-built bodies with valid msgpack but invalid fields. */
static void test_field_checks(void **state)
{
	(void)state;
	struct proto_limits small = {.max_frame = 1u << 20, .max_key = 8, .max_value = 4};
	struct proto_msg o;
	uint8_t k9[9] = {0};
	struct proto_buf b;

	/* key longer than max_key */
	struct proto_msg m = {.type = PROTO_PROPOSE, .view = 1, .cid = {3, 4}, .low_seq = 4};
	m.cmd = (struct proto_cmd){.op = PROTO_OP_GET, .key = k9, .klen = 9};
	encode_one(&b, &m);
	assert_int_equal(proto_decode(b.data + 4, b.len - 4, &small, &o), -EBADMSG);
	proto_buf_free(&b);
	/* value longer than max_value */
	m.cmd = (struct proto_cmd){.op = PROTO_OP_PUT, .key = k9, .klen = 8,
				   .val = (const uint8_t *)"12345", .vlen = 5};
	encode_one(&b, &m);
	assert_int_equal(proto_decode(b.data + 4, b.len - 4, &small, &o), -EBADMSG);
	proto_buf_free(&b);
	/* low_seq above seq; seq 0; client 0 */
	m.cmd = (struct proto_cmd){.op = PROTO_OP_GET, .key = k9, .klen = 8};
	m.low_seq = 5;
	encode_one(&b, &m);
	expect_bad(b.data + 4, b.len - 4);
	proto_buf_free(&b);
	m.low_seq = 0;
	m.cid.seq = 0;
	encode_one(&b, &m);
	expect_bad(b.data + 4, b.len - 4);
	proto_buf_free(&b);
	m.cid = (struct proto_cid){0, 1};
	encode_one(&b, &m);
	expect_bad(b.data + 4, b.len - 4);
	proto_buf_free(&b);
	/* PROPOSE of a no-op; ACK with hi < lo */
	m.cid = (struct proto_cid){1, 1};
	m.cmd.op = PROTO_OP_NONE;
	encode_one(&b, &m);
	expect_bad(b.data + 4, b.len - 4);
	proto_buf_free(&b);
	struct proto_msg a = {.type = PROTO_ACK, .view = 0, .slot = 5, .slot_hi = 4};
	encode_one(&b, &a);
	expect_bad(b.data + 4, b.len - 4);
	proto_buf_free(&b);

	/* raw bodies: PUT without a value, wrong field type, bad op, bad type, bad role */
	const uint8_t put_nil[] = {0x96, 0x06, 0x00, 0x01, 0x01, 0x01,
				   0x94, 0x02, 0xc4, 0x01, 'k', 0xc0, 0x00};
	expect_bad(put_nil, sizeof put_nil);
	const uint8_t get_ok[] = {0x96, 0x06, 0x00, 0x01, 0x01, 0x01,
				  0x94, 0x01, 0xc4, 0x01, 'k', 0xc0, 0x00};
	assert_int_equal(proto_decode(get_ok, sizeof get_ok, &LIM, &o), 0);
	const uint8_t bad_op[] = {0x96, 0x06, 0x00, 0x01, 0x01, 0x01,
				  0x94, 0x09, 0xc4, 0x01, 'k', 0xc0, 0x00};
	expect_bad(bad_op, sizeof bad_op);
	const uint8_t key_as_str[] = {0x96, 0x06, 0x00, 0x01, 0x01, 0x01,
				      0x94, 0x01, 0xa1, 'k', 0xc0, 0x00};
	expect_bad(key_as_str, sizeof key_as_str);
	const uint8_t bad_type[] = {0x92, 0x63, 0x00};
	expect_bad(bad_type, sizeof bad_type);
	const uint8_t neg_view[] = {0x92, 0x0e, 0xff};
	expect_bad(neg_view, sizeof neg_view);
	const uint8_t stats_req[] = {0x92, 0x0e, 0x00};
	assert_int_equal(proto_decode(stats_req, sizeof stats_req, &LIM, &o), 0);
	const uint8_t bad_role[] = {0x95, 0x01, 0x00, 0x07, 0x00, 0x00};
	expect_bad(bad_role, sizeof bad_role);
	const uint8_t wrong_count[] = {0x93, 0x0e, 0x00, 0x00};
	expect_bad(wrong_count, sizeof wrong_count);
	const uint8_t not_array[] = {0x81, 0x01, 0x02};
	expect_bad(not_array, sizeof not_array);
}

/* Random mutations of valid messages: the decoder answers 0 or -EBADMSG, never crashes (ASan
 * checks every access); anything it accepts re-encodes and decodes to the same message. */
static void test_mutation_robustness(void **state)
{
	(void)state;
	struct common_rng r;
	common_rng_seed(&r, 2026);
	uint8_t key[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	struct proto_msg seeds[6];
	memset(seeds, 0, sizeof seeds);
	seeds[0] = (struct proto_msg){.type = PROTO_PROPOSE, .view = 3, .cid = {9, 10}, .low_seq = 2};
	seeds[0].cmd = (struct proto_cmd){.op = PROTO_OP_PUT, .key = key, .klen = 8,
					  .val = (const uint8_t *)"abcdef", .vlen = 6};
	seeds[1] = (struct proto_msg){.type = PROTO_REPLY, .view = 1, .cid = {9, 10}, .slot = 7,
				      .ok = true, .value = key, .vlen = 8};
	seeds[2] = (struct proto_msg){.type = PROTO_ACCEPT, .view = 1, .slot = 3, .cid = {9, 10},
				      .commit = 2};
	seeds[2].cmd = (struct proto_cmd){.op = PROTO_OP_GET, .key = key, .klen = 8};
	seeds[3] = (struct proto_msg){.type = PROTO_REGISTER, .node_id = 1, .addr = "h",
				      .addr_len = 1, .port = 1};
	seeds[4] = (struct proto_msg){.type = PROTO_ACK, .slot = 1, .slot_hi = 9};
	seeds[5].type = PROTO_CLUSTER_INFO;
	seeds[5].n_replicas = 2;
	seeds[5].replicas[0] = (struct proto_replica_addr){.id = 0, .port = 7070, .addr = "a",
							    .addr_len = 1};
	seeds[5].replicas[1] = (struct proto_replica_addr){.id = 1, .port = 7071, .addr = "b",
							    .addr_len = 1};
	uint64_t accepted = 0, rejected = 0;
	for (int iter = 0; iter < 200000; iter++) {
		struct proto_buf b;
		encode_one(&b, &seeds[iter % 6]);
		size_t len = b.len - 4;
		uint8_t *body = malloc(len + 8);
		memcpy(body, b.data + 4, len);
		proto_buf_free(&b);
		int nmut = 1 + (int)common_rng_below(&r, 4);
		for (int k = 0; k < nmut; k++) {
			switch (common_rng_below(&r, 4)) {
			case 0: /* bit flip */
				body[common_rng_below(&r, len)] ^= (uint8_t)(1u << common_rng_below(&r, 8));
				break;
			case 1: /* byte change */
				body[common_rng_below(&r, len)] = (uint8_t)common_rng_next(&r);
				break;
			case 2: /* truncate */
				if (len > 1)
					len = 1 + common_rng_below(&r, len - 1);
				break;
			default: /* insert a byte */
				if (len < 64 + 8) {
					size_t at = common_rng_below(&r, len + 1);
					memmove(body + at + 1, body + at, len - at);
					body[at] = (uint8_t)common_rng_next(&r);
					len++;
				}
				break;
			}
		}
		uint8_t *exact = malloc(len ? len : 1);
		memcpy(exact, body, len);
		free(body);
		struct proto_msg o;
		int rc = proto_decode(exact, len, &LIM, &o);
		assert_true(rc == 0 || rc == -EBADMSG);
		if (rc == 0) {
			accepted++;
			struct proto_buf b2;
			proto_buf_init(&b2, 1u << 22);
			assert_int_equal(proto_encode(&b2, &o, LIM.max_frame), 0);
			struct proto_msg o2;
			assert_int_equal(proto_decode(b2.data + 4, b2.len - 4, &LIM, &o2), 0);
			assert_int_equal(o2.type, o.type);
			assert_int_equal(o2.view, o.view);
			assert_int_equal(o2.cid.seq, o.cid.seq);
			proto_buf_free(&b2);
		} else {
			rejected++;
		}
		free(exact);
	}
	assert_true(rejected > 0);
	assert_true(accepted > 0); /* some mutations (e.g. of a value byte) stay valid */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_all_types),
		cmocka_unit_test(test_buffer_limits_and_frames),
		cmocka_unit_test(test_bombs),
		cmocka_unit_test(test_truncation_and_trailing),
		cmocka_unit_test(test_field_checks),
		cmocka_unit_test(test_mutation_robustness),
	};
	return cmocka_run_group_tests_name("proto", tests, NULL, NULL);
}
