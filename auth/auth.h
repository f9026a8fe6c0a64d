/* auth: the shared-secret handshake that opens every connection when the conf has a secret
 * (keys, cluster identity, an I/O-free handshake state machine), the table of which message
 * types each role may send, and a rate limiter for failure logs. docs/wire.md "Handshake" and
 * docs/conf.md "Security" describe the protocol and what it protects against. */
#ifndef CURPKV_AUTH_H
#define CURPKV_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/conf.h"
#include "proto/proto.h"

/*
 * The handshake (four messages, then AUTH_FAIL on any failure):
 *   connector -> acceptor  AUTH_HELLO(role_c, node_c, nonce_c)
 *   acceptor  -> connector AUTH_CHALLENGE(role_a, node_a, nonce_a)
 *   connector -> acceptor  AUTH_PROOF(mac_c = HMAC(k_connect, T))
 *   acceptor  -> connector AUTH_OK(mac_a = HMAC(k_accept, T))
 * where T is the transcript: a version label, the cluster identity (a hash of the conf's
 * replica list), both roles and node ids, and both nonces (fresh random 32 bytes on each side).
 * The connector proves first, so a party without the secret learns no MAC by connecting; the
 * acceptor's nonce is fresh, so a recorded AUTH_PROOF never verifies again (no replay). The two
 * directions use different keys, so a MAC cannot be reflected. MACs are HMAC-SHA-512-256
 * (libsodium crypto_auth) and compared in constant time (crypto_auth_verify). The keys come from
 * the secret by BLAKE2b then crypto_kdf: knowing them is knowing the secret.
 *
 * Threading: an auth_key is read-only once made (any thread may use it); an auth_hs and an
 * auth_limiter belong to one thread. Pure functions otherwise.
 */

#define AUTH_SECRET_MIN 16 /* bytes: a shorter secret is refused (conf) */
#define AUTH_KEY_BYTES	32

/* The keys of one cluster: derived from its secret and its replica list. */
struct auth_key {
	uint8_t connect[AUTH_KEY_BYTES]; /* MAC key of the connector's proof */
	uint8_t accept[AUTH_KEY_BYTES];	 /* MAC key of the acceptor's proof */
	uint8_t cluster[AUTH_KEY_BYTES]; /* the cluster identity (not secret) */
};

/* Fills id with the cluster identity of conf: a BLAKE2b hash of its replicas (id, address, port,
 * in id order). Two processes reading the same conf agree; a conf naming other replicas
 * differs. */
void auth_cluster_id(const struct conf *conf, uint8_t id[AUTH_KEY_BYTES]);

/* Derives k from secret (len bytes) and conf's cluster identity. Returns 0, -EINVAL (secret
 * shorter than AUTH_SECRET_MIN) or -EIO (libsodium could not initialize). */
int auth_key_init(struct auth_key *k, const char *secret, size_t len, const struct conf *conf);
/* Overwrites k with zeros (libsodium's sodium_memzero: not optimized away). */
void auth_key_wipe(struct auth_key *k);
/* Is `given` (glen bytes) the secret (slen bytes, 0 = none: never)? Compared as BLAKE2b hashes
 * in constant time (sodium_memcmp), so neither the bytes nor the length leak through timing.
 * For a password typed in the clear (the Redis gateway's AUTH). */
bool auth_password_ok(const char *secret, size_t slen, const uint8_t *given, size_t glen);

/* ---- the handshake ---------------------------------------------------------------------- */

enum auth_hs_state {
	AUTH_HS_NONE = 0,
	AUTH_HS_WAIT_CHALLENGE, /* connector: AUTH_HELLO sent */
	AUTH_HS_WAIT_OK,	/* connector: AUTH_PROOF sent */
	AUTH_HS_WAIT_HELLO,	/* acceptor: nothing received yet */
	AUTH_HS_WAIT_PROOF,	/* acceptor: AUTH_CHALLENGE sent */
	AUTH_HS_DONE,		/* both proofs verified */
	AUTH_HS_FAILED,
};

/* One side of one connection's handshake. */
struct auth_hs {
	const struct auth_key *key;
	uint8_t state; /* enum auth_hs_state */
	bool acceptor;
	uint8_t role;	     /* ours (enum proto_role) */
	int32_t node;	     /* ours: a replica id, or -1 */
	uint8_t peer_role;   /* the peer's claim; proven once DONE */
	int32_t peer_node;   /* idem */
	uint8_t expect_role; /* connector: whom it meant to reach (0: anyone) */
	int32_t expect_node; /* idem (checked when expect_role is set) */
	const char *why;     /* FAILED: why, for the local log only (static text) */
	uint8_t nonce_c[PROTO_AUTH_BYTES], nonce_a[PROTO_AUTH_BYTES];
	uint8_t mac[PROTO_AUTH_BYTES]; /* the MAC of our last message (replies point at it) */
};

/* Starts a connector: fills *hello (the AUTH_HELLO to send; it points into hs, valid while hs
 * is). expect_role/expect_node name the process it dials (0: any). key must outlive hs. */
void auth_hs_connect(struct auth_hs *hs, const struct auth_key *key, uint8_t role, int32_t node,
		     uint8_t expect_role, int32_t expect_node, struct proto_msg *hello);
/* Starts an acceptor (role PROTO_ROLE_REPLICA or PROTO_ROLE_MASTER, with its node id). */
void auth_hs_accept(struct auth_hs *hs, const struct auth_key *key, uint8_t role, int32_t node);

enum auth_step { AUTH_MORE = 0, AUTH_DONE, AUTH_FAILED };

/* Feeds one received (decoded) message. Sets *has_reply and fills *reply (pointing into hs) when
 * a message must be sent back, then returns AUTH_MORE (wait for the next message), AUTH_DONE
 * (authenticated: peer_role and peer_node are proven; send the reply, if any, first) or
 * AUTH_FAILED (close; hs->why says why; an acceptor answers AUTH_FAIL). Any message out of
 * place, any claim that does not fit (a connector claiming the master, an acceptor that is not
 * the expected one) and any MAC that does not verify fails; after DONE or FAILED every message
 * fails. */
int auth_hs_step(struct auth_hs *hs, const struct proto_msg *m, struct proto_msg *reply,
		 bool *has_reply);

/* "client", "replica", "admin", "master", or "unidentified" (0 and anything else). */
const char *auth_role_name(int role);

/* True for the AUTH_* message types (handled below owners, by net/). */
bool auth_is_handshake_type(int type);

/* ---- roles ------------------------------------------------------------------------------ */

/* Which process a connection reaches. */
enum auth_service { AUTH_TO_REPLICA = 0, AUTH_TO_MASTER = 1 };

/* True if a connection of role `role` (its HELLO, proven by the handshake with a secret) may
 * send messages of `type` to `to`: the one table of what each role may send (docs/wire.md
 * "Roles"). HELLO is allowed to every role (owners refuse a second one). */
bool auth_may_send(enum auth_service to, int role, int type);

/* ---- failure logs ----------------------------------------------------------------------- */

#define AUTH_LOG_SLOTS	  64   /* addresses remembered */
#define AUTH_LOG_PERIOD_S 60.0 /* one line per address per period */

/* Remembers when a failure from each peer address was last logged. Zero it to start. */
struct auth_limiter {
	struct {
		char ip[48];
		double at;
	} slot[AUTH_LOG_SLOTS];
	uint64_t suppressed; /* failures not logged */
};

/* True if a failure about addr (an accepting side: the peer's address without its port, e.g.
 * net_peer_ip's; a dialing side: the destination host:port) may be logged at time now
 * (seconds): the first for that address in AUTH_LOG_PERIOD_S, and a free slot left (else counted
 * in suppressed: a scan from many addresses logs at most AUTH_LOG_SLOTS lines per period).
 * Addresses are compared on their first 47 bytes. */
bool auth_limiter_allow(struct auth_limiter *l, const char *addr, double now);

#endif
