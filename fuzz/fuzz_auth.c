/* Fuzz target: the handshake of auth/ (AUTH_HELLO, AUTH_CHALLENGE, AUTH_PROOF, AUTH_OK, AUTH_FAIL)
 * fed hostile messages through the real codec. The input is used three ways:
 *  1. as one message body, given to a fresh acceptor and to a fresh connector;
 *  2. as a stream of frames capped at NET_AUTH_MAX_FRAME (what net/ reads before a handshake
 *     completes), given in order to one acceptor and to one connector;
 *  3. as edits of an honest handshake: byte 0 picks the connector's role, then each triple
 *     (message 0..3, position, xor mask) changes a byte of that message's encoded body.
 * Properties (a failure aborts):
 *  - hostile messages never complete a handshake (that would be a forged MAC);
 *  - every reply is a handshake message whose frame fits NET_AUTH_MAX_FRAME; an acceptor answers
 *    AUTH_CHALLENGE at most once, and AUTH_OK only when it completes;
 *  - after a side failed, every later message fails;
 *  - an honest handshake whose four messages arrive with the same meaning (type, role, node id,
 *    nonce or MAC as sent) completes on both sides with the identities claimed; one where any of
 *    them arrives changed never completes on both sides.
 * Nonces come from libsodium's randombytes (fresh per run): no property depends on their value. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "fuzz/fuzz.h"
#include "net/net.h"
#include "proto/proto.h"

static const struct proto_limits lim = {.max_frame = 1u << 16, .max_key = 1024, .max_value = 4096};

static void check(int ok)
{
	if (!ok)
		abort();
}

/* The cluster's keys, made once. */
static const struct auth_key *key(void)
{
	static struct auth_key k;
	static bool made;
	if (!made) {
		struct conf *c = NULL;
		check(conf_load_string("fuzz.conf",
				       "-- Replicas --\nreplica0 127.0.0.1:7000\nreplica1 "
				       "127.0.0.1:7001\nreplica2 127.0.0.1:7002\n-- Master --\n"
				       "master0 127.0.0.1\n",
				       &c, NULL) == 0);
		const char *secret = "fuzz-secret-0123456789";
		check(auth_key_init(&k, secret, strlen(secret), c) == 0);
		conf_free(c);
		made = true;
	}
	return &k;
}

/* A reply must be a handshake message that goes out in one frame under the cap. */
static void check_reply(const struct proto_msg *reply)
{
	check(auth_is_handshake_type(reply->type));
	struct proto_buf b;
	proto_buf_init(&b, 1u << 16);
	check(proto_encode(&b, reply, lim.max_frame) == 0);
	check(b.len - PROTO_FRAME_HEADER <= NET_AUTH_MAX_FRAME);
	proto_buf_free(&b);
}

/* One side fed hostile messages one by one. */
struct side {
	struct auth_hs hs;
	bool failed;
	int challenges;
};

static void feed(struct side *s, const struct proto_msg *m)
{
	struct proto_msg reply;
	bool has = false;
	int rc = auth_hs_step(&s->hs, m, &reply, &has);
	check(rc != AUTH_DONE); /* no secret behind these messages */
	check(!s->failed || rc == AUTH_FAILED);
	if (rc == AUTH_FAILED) {
		s->failed = true;
		check(!has && s->hs.state == AUTH_HS_FAILED && s->hs.why != NULL);
		return;
	}
	if (has) {
		check_reply(&reply);
		if (s->hs.acceptor) {
			check(reply.type == PROTO_AUTH_CHALLENGE && ++s->challenges == 1);
			check(reply.role == PROTO_ROLE_REPLICA && reply.node_id == 0);
		} else {
			check(reply.type == PROTO_AUTH_PROOF);
		}
	}
}

static void sides_init(struct side *a, struct side *c)
{
	memset(a, 0, sizeof *a);
	memset(c, 0, sizeof *c);
	auth_hs_accept(&a->hs, key(), PROTO_ROLE_REPLICA, 0);
	struct proto_msg hello;
	auth_hs_connect(&c->hs, key(), PROTO_ROLE_CLIENT, -1, 0, -1, &hello);
	check_reply(&hello);
}

/* The fields a handshake message carries, by type: what its receiver may use. */
static bool same_meaning(const struct proto_msg *x, const struct proto_msg *y)
{
	if (x->type != y->type)
		return false;
	switch (x->type) {
	case PROTO_AUTH_HELLO:
	case PROTO_AUTH_CHALLENGE:
		return x->role == y->role && x->node_id == y->node_id &&
		       memcmp(x->nonce, y->nonce, PROTO_AUTH_BYTES) == 0;
	case PROTO_AUTH_PROOF:
	case PROTO_AUTH_OK:
		return memcmp(x->mac, y->mac, PROTO_AUTH_BYTES) == 0;
	default:
		return true;
	}
}

#define MAX_EDITS 16

/* Part 3: an honest connector and acceptor whose messages go through the codec with the input's
 * edits applied to their encoded bodies. */
static void edited_handshake(const uint8_t *data, size_t size)
{
	uint8_t role = (uint8_t)(PROTO_ROLE_CLIENT + (size ? data[0] % 3 : 0)); /* client..admin */
	int32_t node = role == PROTO_ROLE_REPLICA ? 1 + (size ? data[0] / 3 % 2 : 0) : -1;
	struct auth_hs c, a;
	struct proto_msg out, in, reply;
	bool has;
	auth_hs_accept(&a, key(), PROTO_ROLE_REPLICA, 0);
	auth_hs_connect(&c, key(), role, node, PROTO_ROLE_REPLICA, 0, &out);
	struct proto_buf b;
	proto_buf_init(&b, 1u << 16);
	bool changed = false, c_done = false, a_done = false;
	for (int step = 0; step < 4; step++) {
		b.len = 0;
		check(proto_encode(&b, &out, lim.max_frame) == 0);
		uint8_t *body = b.data + PROTO_FRAME_HEADER;
		size_t blen = b.len - PROTO_FRAME_HEADER;
		for (size_t i = 1; i + 2 < size && i < 1 + 3 * MAX_EDITS; i += 3)
			if (data[i] % 4 == step)
				body[data[i + 1] % blen] ^= data[i + 2];
		int rc = proto_decode(body, blen, &lim, &in);
		if (rc != 0) {
			check(rc == -EBADMSG || rc == -ENOMEM);
			changed = true; /* net/ closes the connection: no completion */
			break;
		}
		if (!same_meaning(&in, &out))
			changed = true;
		struct auth_hs *to = step % 2 == 0 ? &a : &c;
		rc = auth_hs_step(to, &in, &reply, &has);
		if (rc == AUTH_DONE)
			*(to == &a ? &a_done : &c_done) = true;
		if (rc == AUTH_FAILED || !has)
			break;
		check_reply(&reply);
		out = reply;
	}
	if (!changed) {
		check(a_done && c_done);
		check(a.peer_role == role && a.peer_node == node);
		check(c.peer_role == PROTO_ROLE_REPLICA && c.peer_node == 0);
	} else {
		check(!(a_done && c_done));
	}
	proto_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proto_msg *m = malloc(sizeof *m);
	if (m == NULL)
		return 0;
	struct side a, c;
	/* 1. the input as one body */
	sides_init(&a, &c);
	int rc = proto_decode(data, size, &lim, m);
	check(rc == 0 || rc == -EBADMSG || rc == -ENOMEM);
	if (rc == 0) {
		feed(&a, m);
		feed(&c, m);
	}
	/* 2. the input as frames under the pre-handshake cap, to one acceptor and one connector */
	sides_init(&a, &c);
	size_t off = 0;
	for (int i = 0; i < 64 && off < size; i++) {
		long n = proto_frame_peek(data + off, size - off, NET_AUTH_MAX_FRAME);
		if (n <= 0)
			break; /* more bytes needed, or refused at the header: net/ closes */
		check((size_t)n <= size - off &&
		      (size_t)n - PROTO_FRAME_HEADER <= NET_AUTH_MAX_FRAME);
		rc = proto_decode(data + off + PROTO_FRAME_HEADER, (size_t)n - PROTO_FRAME_HEADER,
				  &lim, m);
		check(rc == 0 || rc == -EBADMSG || rc == -ENOMEM);
		if (rc != 0)
			break; /* net/ closes */
		feed(&a, m);
		feed(&c, m);
		off += (size_t)n;
	}
	free(m);
	/* 3. an honest handshake with the input's edits */
	edited_handshake(data, size);
	return 0;
}
