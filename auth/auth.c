/* auth: keys (BLAKE2b + crypto_kdf), the handshake state machine (HMAC-SHA-512-256 over both
 * nonces), the role table and the failure-log limiter. No cryptography is written here: every
 * primitive is libsodium's. */
#include "auth/auth.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

/* Bumped if the transcript ever changes: a process of another version then fails cleanly. */
static const char TRANSCRIPT_LABEL[16] = "curpkv-auth-v1";
/* crypto_kdf context (exactly crypto_kdf_CONTEXTBYTES = 8 characters). */
static const char KDF_CONTEXT[8] = {'c', 'u', 'r', 'p', 'k', 'v', 'h', 's'};
/* Keys BLAKE2b when it turns the secret into the 32-byte master key (domain separation). */
static const char SECRET_LABEL[] = "curpkv shared secret v1";

enum { KDF_CONNECT = 1, KDF_ACCEPT = 2 };

#define TRANSCRIPT_BYTES (16 + AUTH_KEY_BYTES + 2 * 5 + 2 * PROTO_AUTH_BYTES)

_Static_assert(crypto_auth_BYTES == PROTO_AUTH_BYTES, "a MAC fills an AUTH_PROOF");
_Static_assert(crypto_auth_KEYBYTES == AUTH_KEY_BYTES, "MAC keys are 32 bytes");
_Static_assert(crypto_kdf_KEYBYTES == AUTH_KEY_BYTES, "the master key is 32 bytes");
_Static_assert(crypto_generichash_BYTES_MIN <= AUTH_KEY_BYTES &&
		   AUTH_KEY_BYTES <= crypto_generichash_BYTES_MAX,
	       "BLAKE2b output size");

/* ---- keys ------------------------------------------------------------------------------- */

void auth_cluster_id(const struct conf *conf, uint8_t id[AUTH_KEY_BYTES])
{
	crypto_generichash_state st;
	crypto_generichash_init(&st, NULL, 0, AUTH_KEY_BYTES);
	char line[CONF_ADDR_MAX + 64];
	/* replicas are kept sorted by id (conf.h) */
	for (size_t i = 0; i < conf->n_replicas; i++) {
		const struct conf_host *h = &conf->replicas[i];
		int n =
		    snprintf(line, sizeof line, "%d %s %u\n", h->id, h->addr, (unsigned)h->port);
		if (n > 0)
			crypto_generichash_update(&st, (const unsigned char *)line,
						  (size_t)n < sizeof line ? (size_t)n
									  : sizeof line - 1);
	}
	crypto_generichash_final(&st, id, AUTH_KEY_BYTES);
}

int auth_key_init(struct auth_key *k, const char *secret, size_t len, const struct conf *conf)
{
	if (len < AUTH_SECRET_MIN)
		return -EINVAL;
	if (sodium_init() < 0)
		return -EIO;
	uint8_t master[crypto_kdf_KEYBYTES];
	crypto_generichash(master, sizeof master, (const unsigned char *)secret, len,
			   (const unsigned char *)SECRET_LABEL, sizeof SECRET_LABEL - 1);
	crypto_kdf_derive_from_key(k->connect, sizeof k->connect, KDF_CONNECT, KDF_CONTEXT, master);
	crypto_kdf_derive_from_key(k->accept, sizeof k->accept, KDF_ACCEPT, KDF_CONTEXT, master);
	sodium_memzero(master, sizeof master);
	auth_cluster_id(conf, k->cluster);
	return 0;
}

void auth_key_wipe(struct auth_key *k)
{
	sodium_memzero(k, sizeof *k);
}

bool auth_password_ok(const char *secret, size_t slen, const uint8_t *given, size_t glen)
{
	if (sodium_init() < 0)
		return false;
	uint8_t a[crypto_generichash_BYTES], b[crypto_generichash_BYTES];
	crypto_generichash(a, sizeof a, (const uint8_t *)secret, slen, NULL, 0);
	crypto_generichash(b, sizeof b, given, glen, NULL, 0);
	bool same = slen > 0 && sodium_memcmp(a, b, sizeof a) == 0;
	sodium_memzero(a, sizeof a);
	sodium_memzero(b, sizeof b);
	return same;
}

/* ---- the handshake ---------------------------------------------------------------------- */

static void put_i32(uint8_t *p, int32_t v)
{
	uint32_t u = (uint32_t)v;
	p[0] = (uint8_t)u;
	p[1] = (uint8_t)(u >> 8);
	p[2] = (uint8_t)(u >> 16);
	p[3] = (uint8_t)(u >> 24);
}

/* The bytes both proofs cover: who connected to whom, in which cluster, with which nonces. */
static void transcript(const struct auth_hs *hs, uint8_t t[TRANSCRIPT_BYTES])
{
	uint8_t role_c = hs->acceptor ? hs->peer_role : hs->role;
	int32_t node_c = hs->acceptor ? hs->peer_node : hs->node;
	uint8_t role_a = hs->acceptor ? hs->role : hs->peer_role;
	int32_t node_a = hs->acceptor ? hs->node : hs->peer_node;
	uint8_t *p = t;
	memcpy(p, TRANSCRIPT_LABEL, sizeof TRANSCRIPT_LABEL);
	p += sizeof TRANSCRIPT_LABEL;
	memcpy(p, hs->key->cluster, AUTH_KEY_BYTES);
	p += AUTH_KEY_BYTES;
	*p++ = role_c;
	put_i32(p, node_c);
	p += 4;
	*p++ = role_a;
	put_i32(p, node_a);
	p += 4;
	memcpy(p, hs->nonce_c, PROTO_AUTH_BYTES);
	p += PROTO_AUTH_BYTES;
	memcpy(p, hs->nonce_a, PROTO_AUTH_BYTES);
}

/* Computes our MAC into hs->mac (key: ours by side). */
static void sign(struct auth_hs *hs)
{
	uint8_t t[TRANSCRIPT_BYTES];
	transcript(hs, t);
	crypto_auth(hs->mac, t, sizeof t, hs->acceptor ? hs->key->accept : hs->key->connect);
}

/* Checks the peer's MAC in constant time (crypto_auth_verify). */
static bool verify(const struct auth_hs *hs, const uint8_t *mac)
{
	uint8_t t[TRANSCRIPT_BYTES];
	transcript(hs, t);
	return crypto_auth_verify(mac, t, sizeof t,
				  hs->acceptor ? hs->key->connect : hs->key->accept) == 0;
}

void auth_hs_connect(struct auth_hs *hs, const struct auth_key *key, uint8_t role, int32_t node,
		     uint8_t expect_role, int32_t expect_node, struct proto_msg *hello)
{
	memset(hs, 0, sizeof *hs);
	hs->key = key;
	hs->role = role;
	hs->node = node;
	hs->peer_node = -1;
	hs->expect_role = expect_role;
	hs->expect_node = expect_node;
	randombytes_buf(hs->nonce_c, sizeof hs->nonce_c);
	hs->state = AUTH_HS_WAIT_CHALLENGE;
	memset(hello, 0, sizeof *hello);
	hello->type = PROTO_AUTH_HELLO;
	hello->role = role;
	hello->node_id = node;
	hello->nonce = hs->nonce_c;
}

void auth_hs_accept(struct auth_hs *hs, const struct auth_key *key, uint8_t role, int32_t node)
{
	memset(hs, 0, sizeof *hs);
	hs->key = key;
	hs->acceptor = true;
	hs->role = role;
	hs->node = node;
	hs->peer_node = -1;
	hs->state = AUTH_HS_WAIT_HELLO;
}

static int fail(struct auth_hs *hs, const char *why)
{
	hs->state = AUTH_HS_FAILED;
	hs->why = why;
	return AUTH_FAILED;
}

int auth_hs_step(struct auth_hs *hs, const struct proto_msg *m, struct proto_msg *reply,
		 bool *has_reply)
{
	*has_reply = false;
	if (m->type == PROTO_AUTH_FAIL)
		return fail(hs, "refused by the peer");
	switch (hs->state) {
	case AUTH_HS_WAIT_HELLO:
		if (m->type != PROTO_AUTH_HELLO)
			return fail(hs, "no handshake (a peer without the secret?)");
		/* who may connect: a client, a tool, or a replica with a replica id */
		if (m->role != PROTO_ROLE_CLIENT && m->role != PROTO_ROLE_ADMIN &&
		    !(m->role == PROTO_ROLE_REPLICA && m->node_id >= 0 &&
		      m->node_id < PROTO_MAX_REPLICAS))
			return fail(hs, "a role that cannot connect");
		hs->peer_role = m->role;
		hs->peer_node = m->node_id;
		memcpy(hs->nonce_c, m->nonce, PROTO_AUTH_BYTES);
		randombytes_buf(hs->nonce_a, sizeof hs->nonce_a);
		memset(reply, 0, sizeof *reply);
		reply->type = PROTO_AUTH_CHALLENGE;
		reply->role = hs->role;
		reply->node_id = hs->node;
		reply->nonce = hs->nonce_a;
		*has_reply = true;
		hs->state = AUTH_HS_WAIT_PROOF;
		return AUTH_MORE;
	case AUTH_HS_WAIT_PROOF:
		if (m->type != PROTO_AUTH_PROOF || !verify(hs, m->mac))
			return fail(hs, "wrong proof (another secret, or a replayed handshake?)");
		sign(hs);
		memset(reply, 0, sizeof *reply);
		reply->type = PROTO_AUTH_OK;
		reply->mac = hs->mac;
		*has_reply = true;
		hs->state = AUTH_HS_DONE;
		return AUTH_DONE;
	case AUTH_HS_WAIT_CHALLENGE:
		if (m->type != PROTO_AUTH_CHALLENGE)
			return fail(hs, "no challenge (the peer has no secret?)");
		if (m->role != PROTO_ROLE_REPLICA && m->role != PROTO_ROLE_MASTER)
			return fail(hs, "the peer claims a role that does not accept connections");
		if (hs->expect_role != 0 &&
		    (m->role != hs->expect_role || m->node_id != hs->expect_node))
			return fail(hs, "not the process this connection was meant for");
		hs->peer_role = m->role;
		hs->peer_node = m->node_id;
		memcpy(hs->nonce_a, m->nonce, PROTO_AUTH_BYTES);
		sign(hs);
		memset(reply, 0, sizeof *reply);
		reply->type = PROTO_AUTH_PROOF;
		reply->mac = hs->mac;
		*has_reply = true;
		hs->state = AUTH_HS_WAIT_OK;
		return AUTH_MORE;
	case AUTH_HS_WAIT_OK:
		if (m->type != PROTO_AUTH_OK || !verify(hs, m->mac))
			return fail(hs, "the peer's proof does not verify (another secret?)");
		hs->state = AUTH_HS_DONE;
		return AUTH_DONE;
	default:
		return fail(hs, "a message after the handshake ended");
	}
}

const char *auth_role_name(int role)
{
	switch (role) {
	case PROTO_ROLE_CLIENT:
		return "client";
	case PROTO_ROLE_REPLICA:
		return "replica";
	case PROTO_ROLE_ADMIN:
		return "admin";
	case PROTO_ROLE_MASTER:
		return "master";
	default:
		return "unidentified";
	}
}

bool auth_is_handshake_type(int type)
{
	return type >= PROTO_AUTH_HELLO && type <= PROTO_AUTH_FAIL;
}

/* ---- roles ------------------------------------------------------------------------------ */

#define BIT(t) (UINT64_C(1) << (t))
_Static_assert(PROTO_TYPE_MAX <= 64, "the role table holds one bit per message type");

/* What each role may send to a replica and to the master. Everything else closes the
 * connection (counted in role_violations). */
static const uint64_t may_send[2][PROTO_ROLE_MASTER + 1] =
    {
	[AUTH_TO_REPLICA] =
	    {
		[PROTO_ROLE_CLIENT] = BIT(PROTO_HELLO) | BIT(PROTO_PROPOSE) | BIT(PROTO_SYNC) |
				      BIT(PROTO_CAUSAL_PROPOSE) | BIT(PROTO_WEAK_WRITE) |
				      BIT(PROTO_WEAK_READ) | BIT(PROTO_PING) | BIT(PROTO_STATS_REQ),
		[PROTO_ROLE_REPLICA] =
		    BIT(PROTO_HELLO) | BIT(PROTO_ACCEPT) | BIT(PROTO_ACK) | BIT(PROTO_COMMIT) |
		    BIT(PROTO_VC_REQ) | BIT(PROTO_VC_ENTRY) | BIT(PROTO_VC_RECORD) |
		    BIT(PROTO_VC_DONE) | BIT(PROTO_VC_DECIDED) | BIT(PROTO_VC_INSTALL) |
		    BIT(PROTO_CATCHUP) | BIT(PROTO_SNAP_KV) | BIT(PROTO_SNAP_CLIENT) |
		    BIT(PROTO_SNAP_RESULT) | BIT(PROTO_SNAP_DONE) | BIT(PROTO_STATS_REQ),
		[PROTO_ROLE_ADMIN] = BIT(PROTO_HELLO) | BIT(PROTO_STATS_REQ),
	    },
	[AUTH_TO_MASTER] =
	    {
		[PROTO_ROLE_CLIENT] =
		    BIT(PROTO_HELLO) | BIT(PROTO_CLUSTER_REQ) | BIT(PROTO_STATS_REQ),
		[PROTO_ROLE_REPLICA] = BIT(PROTO_HELLO) | BIT(PROTO_REGISTER) |
				       BIT(PROTO_HEARTBEAT) | BIT(PROTO_CLUSTER_REQ) |
				       BIT(PROTO_STATS_REQ),
		[PROTO_ROLE_ADMIN] =
		    BIT(PROTO_HELLO) | BIT(PROTO_CLUSTER_REQ) | BIT(PROTO_STATS_REQ),
	    },
};

bool auth_may_send(enum auth_service to, int role, int type)
{
	if ((unsigned)to > AUTH_TO_MASTER || role < 0 || role > PROTO_ROLE_MASTER || type <= 0 ||
	    type >= PROTO_TYPE_MAX)
		return false;
	return (may_send[to][role] & BIT(type)) != 0;
}

/* ---- failure logs ----------------------------------------------------------------------- */

bool auth_limiter_allow(struct auth_limiter *l, const char *addr, double now)
{
	char ip[sizeof l->slot[0].ip];
	snprintf(ip, sizeof ip, "%s", addr);
	int free_slot = -1;
	for (int i = 0; i < AUTH_LOG_SLOTS; i++) {
		bool used = l->slot[i].ip[0] != '\0';
		bool recent = used && now - l->slot[i].at < AUTH_LOG_PERIOD_S;
		if (used && strcmp(l->slot[i].ip, ip) == 0) {
			if (recent) {
				l->suppressed++;
				return false;
			}
			l->slot[i].at = now;
			return true;
		}
		if (!recent && free_slot < 0)
			free_slot = i;
	}
	if (free_slot < 0) {
		l->suppressed++; /* every slot holds an address logged in the last period */
		return false;
	}
	memcpy(l->slot[free_slot].ip, ip, sizeof ip);
	l->slot[free_slot].at = now;
	return true;
}
