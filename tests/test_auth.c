/* Tests of the shared-secret handshake and of roles (issue 19).
 *
 * Unit part: the handshake state machine of auth/ message by message through the real codec
 * (honest runs, wrong secret, another cluster, tampering, replay, false claims), the role table
 * and the log limiter.
 *
 * System part, on real processes (tests/env.c): every role authenticates with the right secret
 * (from a secretFile); a wrong or missing secret is refused for a client (CLI, C API, load
 * generator, stats), a replica and the master; the attacks that corrupted a follower and moved
 * the leadership (an injected ACCEPT/COMMIT, a forged REGISTER, a client-role connection sending
 * ACCEPT) change no digest, no executed index and no view, without a handshake and with a
 * replayed one (the same attacks succeed on a cluster without a secret: the control); an idle
 * unauthenticated connection is closed at the deadline and such connections count against
 * maxClients. AUTH_TESTS=pattern runs only the matching tests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "auth/auth.h"
#include "cluster/cluster.h"
#include "curpkv.h"
#include "net/net.h"
#include "proto/proto.h"
#include "tests/env.h"
#include "tests/proc.h"

#define SECRET	    "alpha-secret-0123456789"
#define WRONG	    "wrong-secret-9876543210"
#define WITH_SECRET "secret: " SECRET "\n"

static const struct proto_limits LIM = {.max_frame = 1u << 20, .max_key = 1024, .max_value = 65536};

/* ---- unit: the handshake state machine ---------------------------------------------------- */

static struct conf *load_conf(const char *replicas)
{
	char text[512];
	snprintf(text, sizeof text, "-- Replicas --\n%s-- Master --\nm0 127.0.0.1\n", replicas);
	struct conf *c = NULL;
	assert_int_equal(conf_load_string("u.conf", text, &c, NULL), 0);
	return c;
}

static void make_key(struct auth_key *k, const char *secret, const char *replicas)
{
	struct conf *c = load_conf(replicas);
	assert_int_equal(auth_key_init(k, secret, strlen(secret), c), 0);
	conf_free(c);
}

#define THREE "r0 127.0.0.1:7000\nr1 127.0.0.1:7001\nr2 127.0.0.1:7002\n"

/* What the peer's net would hand its state machine: m encoded, then decoded (into *out, whose
 * byte fields point into keep). The bytes are also appended to capture when given. */
static void wire(const struct proto_msg *m, struct proto_msg *out, struct proto_buf *keep,
		 struct proto_buf *capture)
{
	keep->len = 0;
	assert_int_equal(proto_encode(keep, m, LIM.max_frame), 0);
	assert_true(keep->len - PROTO_FRAME_HEADER <= NET_AUTH_MAX_FRAME); /* fits the cap */
	assert_int_equal(proto_decode(keep->data + PROTO_FRAME_HEADER,
				      keep->len - PROTO_FRAME_HEADER, &LIM, out),
			 0);
	if (capture) {
		assert_int_equal(proto_encode(capture, m, LIM.max_frame), 0);
	}
}

/* A connector and an acceptor (replica 0) talking; each side's last result is kept. */
struct hs_run {
	struct auth_hs c, a;
	int c_rc, a_rc;
	struct proto_buf keep;
};

/* Runs a handshake to its end. capture (may be NULL) gets the connector's frames. */
static void hs_run(struct hs_run *r, const struct auth_key *ck, const struct auth_key *ak,
		   uint8_t role, int32_t node, uint8_t expect_role, int32_t expect_node,
		   struct proto_buf *capture)
{
	memset(r, 0, sizeof *r);
	proto_buf_init(&r->keep, 1u << 16);
	struct proto_msg out, in, reply;
	bool has;
	auth_hs_accept(&r->a, ak, PROTO_ROLE_REPLICA, 0);
	auth_hs_connect(&r->c, ck, role, node, expect_role, expect_node, &out);
	r->c_rc = r->a_rc = AUTH_MORE;
	bool from_c = true;
	for (int i = 0; i < 8; i++) {
		wire(&out, &in, &r->keep, from_c ? capture : NULL);
		struct auth_hs *to = from_c ? &r->a : &r->c;
		int *rc = from_c ? &r->a_rc : &r->c_rc;
		*rc = auth_hs_step(to, &in, &reply, &has);
		if (!has || *rc == AUTH_FAILED)
			break;
		out = reply;
		from_c = !from_c;
	}
	proto_buf_free(&r->keep);
}

/* The gateway's AUTH: the secret itself, nothing else (a prefix, a longer string, the empty
 * string), and nothing at all when there is no secret. */
static void test_password(void **state)
{
	(void)state;
	const char *sec = "0123456789abcdef-secret";
	size_t n = strlen(sec);
	assert_true(auth_password_ok(sec, n, (const uint8_t *)sec, n));
	assert_false(auth_password_ok(sec, n, (const uint8_t *)sec, n - 1));
	assert_false(auth_password_ok(sec, n, (const uint8_t *)"0123456789abcdef-secreT", n));
	assert_false(auth_password_ok(sec, n, (const uint8_t *)"0123456789abcdef-secret!", n + 1));
	assert_false(auth_password_ok(sec, n, (const uint8_t *)"", 0));
	assert_false(auth_password_ok("", 0, (const uint8_t *)"", 0)); /* no secret */
}

static void test_hs_honest(void **state)
{
	(void)state;
	struct auth_key k;
	make_key(&k, SECRET, THREE);
	struct hs_run r;
	hs_run(&r, &k, &k, PROTO_ROLE_CLIENT, -1, PROTO_ROLE_REPLICA, 0, NULL);
	assert_int_equal(r.a_rc, AUTH_DONE);
	assert_int_equal(r.c_rc, AUTH_DONE);
	assert_int_equal(r.a.peer_role, PROTO_ROLE_CLIENT);
	assert_int_equal(r.a.peer_node, -1);
	assert_int_equal(r.c.peer_role, PROTO_ROLE_REPLICA);
	assert_int_equal(r.c.peer_node, 0);
	/* fresh nonces on both sides, and the two proofs differ (two keys) */
	assert_memory_not_equal(r.c.nonce_c, r.c.nonce_a, PROTO_AUTH_BYTES);
	assert_memory_not_equal(r.c.mac, r.a.mac, PROTO_AUTH_BYTES);
	struct hs_run r2;
	hs_run(&r2, &k, &k, PROTO_ROLE_REPLICA, 2, 0, -1, NULL);
	assert_int_equal(r2.a_rc, AUTH_DONE);
	assert_int_equal(r2.c_rc, AUTH_DONE);
	assert_int_equal(r2.a.peer_node, 2);
	assert_memory_not_equal(r.a.nonce_a, r2.a.nonce_a, PROTO_AUTH_BYTES);
	/* anything after the end fails */
	struct proto_msg reply, m = {.type = PROTO_AUTH_PROOF, .mac = r.c.mac};
	bool has;
	assert_int_equal(auth_hs_step(&r2.a, &m, &reply, &has), AUTH_FAILED);
}

static void test_hs_wrong_keys(void **state)
{
	(void)state;
	struct auth_key k, other, elsewhere;
	make_key(&k, SECRET, THREE);
	make_key(&other, WRONG, THREE);
	/* the same secret, another replica list: another cluster */
	make_key(&elsewhere, SECRET, "r0 127.0.0.1:7000\nr1 127.0.0.1:7001\nr2 127.0.0.1:7003\n");
	const struct auth_key *bad[] = {&other, &elsewhere};
	for (int i = 0; i < 2; i++) {
		struct hs_run r;
		hs_run(&r, bad[i], &k, PROTO_ROLE_CLIENT, -1, 0, -1, NULL);
		assert_int_equal(r.a_rc, AUTH_FAILED); /* at the connector's proof */
		assert_int_not_equal(r.c_rc, AUTH_DONE);
		assert_non_null(strstr(r.a.why, "wrong proof"));
		hs_run(&r, &k, bad[i], PROTO_ROLE_CLIENT, -1, 0, -1, NULL);
		assert_int_equal(r.a_rc, AUTH_FAILED);
	}
	/* a secret shorter than AUTH_SECRET_MIN makes no key */
	struct conf *c = load_conf(THREE);
	assert_int_equal(auth_key_init(&k, "0123456789abcde", 15, c), -EINVAL);
	conf_free(c);
}

/* A recorded AUTH_HELLO + AUTH_PROOF do not open another connection (its challenge is fresh);
 * a proof with any bit changed fails. */
static void test_hs_replay_and_tamper(void **state)
{
	(void)state;
	struct auth_key k;
	make_key(&k, SECRET, THREE);
	struct proto_buf cap;
	proto_buf_init(&cap, 1u << 16);
	struct hs_run r;
	hs_run(&r, &k, &k, PROTO_ROLE_REPLICA, 1, 0, -1, &cap);
	assert_int_equal(r.a_rc, AUTH_DONE);
	/* cap: AUTH_HELLO then AUTH_PROOF */
	long l1 = proto_frame_peek(cap.data, cap.len, LIM.max_frame);
	assert_true(l1 > 0 && (size_t)l1 < cap.len);
	struct proto_msg hello, proof, reply;
	assert_int_equal(proto_decode(cap.data + 4, (size_t)l1 - 4, &LIM, &hello), 0);
	assert_int_equal(proto_decode(cap.data + l1 + 4, cap.len - (size_t)l1 - 4, &LIM, &proof),
			 0);
	assert_int_equal(proof.type, PROTO_AUTH_PROOF);
	bool has;
	struct auth_hs a;
	auth_hs_accept(&a, &k, PROTO_ROLE_REPLICA, 0);
	assert_int_equal(auth_hs_step(&a, &hello, &reply, &has), AUTH_MORE);
	assert_true(has);
	assert_int_equal(reply.type, PROTO_AUTH_CHALLENGE);
	assert_memory_not_equal(reply.nonce, r.a.nonce_a, PROTO_AUTH_BYTES);
	assert_int_equal(auth_hs_step(&a, &proof, &reply, &has), AUTH_FAILED);
	assert_false(has);
	/* tampering: each byte of a genuine proof flipped in turn */
	for (int i = 0; i < PROTO_AUTH_BYTES; i++) {
		struct auth_hs c;
		struct proto_msg h, ch, pr;
		auth_hs_connect(&c, &k, PROTO_ROLE_CLIENT, -1, 0, -1, &h);
		auth_hs_accept(&a, &k, PROTO_ROLE_REPLICA, 0);
		assert_int_equal(auth_hs_step(&a, &h, &ch, &has), AUTH_MORE);
		assert_int_equal(auth_hs_step(&c, &ch, &pr, &has), AUTH_MORE);
		uint8_t mac[PROTO_AUTH_BYTES];
		memcpy(mac, pr.mac, sizeof mac);
		mac[i] ^= (uint8_t)(1u << (i % 8));
		pr.mac = mac;
		assert_int_equal(auth_hs_step(&a, &pr, &reply, &has), AUTH_FAILED);
	}
	/* a challenge altered on the way: the proof covers what the connector saw */
	{
		struct auth_hs c;
		struct proto_msg h, ch, pr;
		auth_hs_connect(&c, &k, PROTO_ROLE_CLIENT, -1, 0, -1, &h);
		auth_hs_accept(&a, &k, PROTO_ROLE_REPLICA, 0);
		assert_int_equal(auth_hs_step(&a, &h, &ch, &has), AUTH_MORE);
		uint8_t nonce[PROTO_AUTH_BYTES];
		memcpy(nonce, ch.nonce, sizeof nonce);
		nonce[5] ^= 0x40;
		ch.nonce = nonce;
		assert_int_equal(auth_hs_step(&c, &ch, &pr, &has), AUTH_MORE);
		assert_int_equal(auth_hs_step(&a, &pr, &reply, &has), AUTH_FAILED);
	}
	proto_buf_free(&cap);
}

/* Claims that cannot be true fail, and so does anything out of order. */
static void test_hs_claims(void **state)
{
	(void)state;
	struct auth_key k;
	make_key(&k, SECRET, THREE);
	struct hs_run r;
	/* a connector claiming to be the master, or replica 15 (PROTO_MAX_REPLICAS) */
	hs_run(&r, &k, &k, PROTO_ROLE_MASTER, -1, 0, -1, NULL);
	assert_int_equal(r.a_rc, AUTH_FAILED);
	hs_run(&r, &k, &k, PROTO_ROLE_REPLICA, PROTO_MAX_REPLICAS, 0, -1, NULL);
	assert_int_equal(r.a_rc, AUTH_FAILED);
	hs_run(&r, &k, &k, PROTO_ROLE_REPLICA, -1, 0, -1, NULL);
	assert_int_equal(r.a_rc, AUTH_FAILED);
	/* not the process the connector dialed */
	hs_run(&r, &k, &k, PROTO_ROLE_CLIENT, -1, PROTO_ROLE_REPLICA, 1, NULL);
	assert_int_equal(r.c_rc, AUTH_FAILED);
	assert_non_null(strstr(r.c.why, "not the process"));
	hs_run(&r, &k, &k, PROTO_ROLE_CLIENT, -1, PROTO_ROLE_MASTER, -1, NULL);
	assert_int_equal(r.c_rc, AUTH_FAILED);
	/* an acceptor claiming a role that does not accept connections */
	struct auth_hs c;
	struct proto_msg h, reply;
	bool has;
	auth_hs_connect(&c, &k, PROTO_ROLE_CLIENT, -1, 0, -1, &h);
	struct proto_msg ch = {.type = PROTO_AUTH_CHALLENGE,
			       .role = PROTO_ROLE_CLIENT,
			       .node_id = -1,
			       .nonce = c.nonce_c};
	assert_int_equal(auth_hs_step(&c, &ch, &reply, &has), AUTH_FAILED);
	/* out of order: a plain HELLO first, an AUTH_OK before the proof, AUTH_FAIL anywhere */
	struct auth_hs a;
	auth_hs_accept(&a, &k, PROTO_ROLE_REPLICA, 0);
	struct proto_msg plain = {.type = PROTO_HELLO, .role = PROTO_ROLE_REPLICA, .node_id = 1};
	assert_int_equal(auth_hs_step(&a, &plain, &reply, &has), AUTH_FAILED);
	assert_non_null(strstr(a.why, "no handshake"));
	auth_hs_connect(&c, &k, PROTO_ROLE_CLIENT, -1, 0, -1, &h);
	struct proto_msg ok = {.type = PROTO_AUTH_OK, .mac = c.nonce_c};
	assert_int_equal(auth_hs_step(&c, &ok, &reply, &has), AUTH_FAILED);
	auth_hs_accept(&a, &k, PROTO_ROLE_REPLICA, 0);
	assert_int_equal(auth_hs_step(&a, &h, &reply, &has), AUTH_MORE);
	struct proto_msg fail = {.type = PROTO_AUTH_FAIL};
	assert_int_equal(auth_hs_step(&a, &fail, &reply, &has), AUTH_FAILED);
	assert_false(has);
}

static void test_roles_table(void **state)
{
	(void)state;
	/* the attacks, refused by role */
	assert_false(auth_may_send(AUTH_TO_REPLICA, PROTO_ROLE_CLIENT, PROTO_ACCEPT));
	assert_false(auth_may_send(AUTH_TO_REPLICA, PROTO_ROLE_CLIENT, PROTO_COMMIT));
	assert_false(auth_may_send(AUTH_TO_MASTER, PROTO_ROLE_CLIENT, PROTO_REGISTER));
	assert_false(auth_may_send(AUTH_TO_MASTER, PROTO_ROLE_ADMIN, PROTO_HEARTBEAT));
	/* what each role does today */
	assert_true(auth_may_send(AUTH_TO_REPLICA, PROTO_ROLE_CLIENT, PROTO_PROPOSE));
	assert_true(auth_may_send(AUTH_TO_REPLICA, PROTO_ROLE_CLIENT, PROTO_WEAK_READ));
	assert_true(auth_may_send(AUTH_TO_REPLICA, PROTO_ROLE_REPLICA, PROTO_ACCEPT));
	assert_true(auth_may_send(AUTH_TO_REPLICA, PROTO_ROLE_REPLICA, PROTO_SNAP_DONE));
	assert_true(auth_may_send(AUTH_TO_MASTER, PROTO_ROLE_REPLICA, PROTO_REGISTER));
	assert_true(auth_may_send(AUTH_TO_MASTER, PROTO_ROLE_CLIENT, PROTO_CLUSTER_REQ));
	assert_false(auth_may_send(AUTH_TO_MASTER, PROTO_ROLE_REPLICA, PROTO_ACCEPT));
	assert_false(auth_may_send(AUTH_TO_REPLICA, PROTO_ROLE_REPLICA, PROTO_PROPOSE));
	for (int t = 1; t < PROTO_TYPE_MAX; t++) {
		/* a tool only asks for counters */
		bool admin_ok = t == PROTO_HELLO || t == PROTO_STATS_REQ;
		assert_int_equal(auth_may_send(AUTH_TO_REPLICA, PROTO_ROLE_ADMIN, t), admin_ok);
		/* replies and the handshake are never sent to a service */
		bool never = t == PROTO_REPLY || t == PROTO_SYNC_REPLY || t == PROTO_CLUSTER_INFO ||
			     t == PROTO_STATS_REPLY || t == PROTO_PONG || auth_is_handshake_type(t);
		for (int role = 0; role <= PROTO_ROLE_MASTER + 1 && never; role++) {
			assert_false(auth_may_send(AUTH_TO_REPLICA, role, t));
			assert_false(auth_may_send(AUTH_TO_MASTER, role, t));
		}
		/* no role at all (0) and the master (which never connects) send nothing */
		assert_false(auth_may_send(AUTH_TO_REPLICA, 0, t));
		assert_false(auth_may_send(AUTH_TO_MASTER, PROTO_ROLE_MASTER, t));
	}
	assert_false(auth_may_send(AUTH_TO_REPLICA, PROTO_ROLE_CLIENT, 0));
	assert_false(auth_may_send(AUTH_TO_REPLICA, PROTO_ROLE_CLIENT, PROTO_TYPE_MAX));
	assert_false(auth_may_send((enum auth_service)7, PROTO_ROLE_CLIENT, PROTO_PROPOSE));
}

static void test_log_limiter(void **state)
{
	(void)state;
	static struct auth_limiter l;
	memset(&l, 0, sizeof l);
	assert_true(auth_limiter_allow(&l, "10.0.0.1", 100.0));
	assert_false(auth_limiter_allow(&l, "10.0.0.1", 100.5));
	assert_false(auth_limiter_allow(&l, "10.0.0.1", 159.9));
	assert_true(auth_limiter_allow(&l, "10.0.0.2", 101.0));
	assert_true(auth_limiter_allow(&l, "10.0.0.1", 160.0)); /* a minute later */
	assert_int_equal(l.suppressed, 2);
	/* a scan from many addresses: at most AUTH_LOG_SLOTS lines per minute */
	int logged = 0;
	for (int i = 0; i < 1000; i++) {
		char ip[32];
		snprintf(ip, sizeof ip, "192.0.2.%d", i);
		logged += auth_limiter_allow(&l, ip, 200.0 + i * 0.01);
	}
	/* (10.0.0.1, logged at 160, still holds its slot at 200..210; 10.0.0.2's expired) */
	assert_int_equal(logged, AUTH_LOG_SLOTS - 1);
	/* slots free again after the period */
	assert_true(auth_limiter_allow(&l, "198.51.100.1", 300.0));
}

/* ---- system: raw connections ------------------------------------------------------------------
 */

/* Writes m's frame on fd (appended to capture too when given). */
static void raw_send(int fd, const struct proto_msg *m, struct proto_buf *capture)
{
	struct proto_buf b;
	proto_buf_init(&b, 1u << 16);
	assert_int_equal(proto_encode(&b, m, LIM.max_frame), 0);
	assert_int_equal(send(fd, b.data, b.len, MSG_NOSIGNAL), (ssize_t)b.len);
	if (capture)
		assert_int_equal(proto_encode(capture, m, LIM.max_frame), 0);
	proto_buf_free(&b);
}

/* Appends n bytes to b (which grows as needed, up to its limit). */
static void buf_append(struct proto_buf *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		assert_true(b->len + n <= b->limit);
		uint8_t *d = realloc(b->data, b->len + n);
		assert_non_null(d);
		b->data = d;
		b->cap = b->len + n;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

static void raw_send_bytes(int fd, const struct proto_buf *b)
{
	assert_int_equal(send(fd, b->data, b->len, MSG_NOSIGNAL), (ssize_t)b->len);
}

/* Reads one frame (AUTH_* and small messages only) into frame[] and decodes it into *m. Returns
 * 1, 0 (closed) or -1 (timeout or a frame that does not decode). */
static int raw_recv(int fd, struct proto_msg *m, uint8_t *frame, size_t cap, int ms)
{
	return env_recv_msg(fd, m, frame, cap, ms, &LIM);
}

/* Waits (10 s at most) until the process closes fd; *told: an AUTH_FAIL came first. Returns
 * true if it closed. */
static bool raw_closed(int fd, bool *told)
{
	*told = false;
	for (int i = 0; i < 100; i++) {
		struct proto_msg m;
		uint8_t frame[4096];
		int rc = raw_recv(fd, &m, frame, sizeof frame, 100);
		if (rc == 0)
			return true;
		if (rc == 1 && m.type == PROTO_AUTH_FAIL)
			*told = true;
	}
	return false;
}

/* The connector's side of a real handshake over fd (as role/node, with k). Returns true once
 * AUTH_OK verified. capture gets the frames this side sent. */
static bool raw_handshake(int fd, const struct auth_key *k, uint8_t role, int32_t node,
			  struct proto_buf *capture)
{
	struct auth_hs hs;
	struct proto_msg out, in;
	bool has;
	uint8_t frame[512];
	auth_hs_connect(&hs, k, role, node, 0, -1, &out);
	raw_send(fd, &out, capture);
	for (int i = 0; i < 2; i++) {
		if (raw_recv(fd, &in, frame, sizeof frame, 5000) != 1)
			return false;
		int rc = auth_hs_step(&hs, &in, &out, &has);
		if (rc == AUTH_FAILED)
			return false;
		if (has)
			raw_send(fd, &out, capture);
		if (rc == AUTH_DONE)
			return true;
	}
	return false;
}

/* ---- system: helpers ----------------------------------------------------------------------- */

static void stats_of(struct cluster_env *e, int replica, struct cluster_stats *st)
{
	char err[NET_ERR_LEN];
	int rc = cluster_stats(e->conf, &e->s, replica, 5.0, st, err);
	if (rc != 0)
		fprintf(stderr, "stats of replica%d: %s\n", replica, err);
	assert_int_equal(rc, 0);
}

static void master_stats(struct cluster_env *e, const struct conf_settings *s,
			 struct cluster_stats *st)
{
	char err[NET_ERR_LEN];
	int rc =
	    cluster_stats_at(e->conf, s, "127.0.0.1", (uint16_t)(e->base + e->n), 5.0, st, err);
	if (rc != 0)
		fprintf(stderr, "stats of the master: %s\n", err);
	assert_int_equal(rc, 0);
}

/* Writes a copy of e's conf with `from` replaced by `to` (to NULL: the line holding `from`
 * dropped) into dir/name; returns its path (static storage, one at a time). */
static const char *conf_variant(struct cluster_env *e, const char *name, const char *from,
				const char *to)
{
	static char path[600];
	char *text = env_slurp(e->conf_path);
	assert_non_null(text);
	snprintf(path, sizeof path, "%s/%s", e->dir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	char *at = strstr(text, from);
	assert_non_null(at);
	if (to) {
		fwrite(text, 1, (size_t)(at - text), f);
		fputs(to, f);
		fputs(at + strlen(from), f);
	} else {
		char *bol = at;
		while (bol > text && bol[-1] != '\n')
			bol--;
		char *eol = strchr(at, '\n');
		fwrite(text, 1, (size_t)(bol - text), f);
		fputs(eol ? eol + 1 : "", f);
	}
	fclose(f);
	free(text);
	return path;
}

/* Runs `curpkv args[0] -config conf args[1]...` to completion; returns its status and its
 * output in *out. */
static int run_cli(struct cluster_env *e, const char *conf, char *const *args, char **out)
{
	char saved[512];
	snprintf(saved, sizeof saved, "%s", e->conf_path);
	snprintf(e->conf_path, sizeof e->conf_path, "%s", conf);
	int st = env_cli(e, e->dir, args, out);
	snprintf(e->conf_path, sizeof e->conf_path, "%s", saved);
	return st;
}

/* Runs the load generator (`curpkv -run client -alias client0`) in e's directory with conf;
 * returns its exit status, its log in *out. */
static int run_loadgen(struct cluster_env *e, const char *conf, char **out)
{
	char bin[512], log[600];
	proc_curpkv_path(bin, sizeof bin);
	snprintf(log, sizeof log, "%s/loadgen.log", e->dir);
	char *argv[] = {bin, "-run", "client", "-config", (char *)conf, "-alias", "client0", NULL};
	struct proc p;
	assert_int_equal(proc_start_in(&p, "loadgen", log, NULL, e->dir, argv), 0);
	int st = proc_wait(&p, 60000);
	*out = env_slurp(log);
	return st;
}

/* No file of the scratch directory (logs, outputs) holds the secret's bytes. */
static void assert_secret_nowhere(struct cluster_env *e, const char *secret)
{
	char cmd[800];
	snprintf(cmd, sizeof cmd, "grep -r -l -F -e '%s' --exclude='*.conf' --exclude=secret %s",
		 secret, e->dir);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	char line[600];
	bool found = false;
	while (fgets(line, sizeof line, p)) {
		fprintf(stderr, "the secret is in %s", line);
		found = true;
	}
	pclose(p);
	assert_false(found);
}

static bool log_has(const struct proc *p, const char *needle)
{
	char *log = env_slurp(p->log);
	bool has = log && strstr(log, needle);
	free(log);
	return has;
}

/* Waits until the cluster is at rest: every replica executed the same index, and the leader
 * (replica 0: these tests change no view) has nothing ordered beyond it. Returns that index. */
static uint64_t settle(struct cluster_env *e)
{
	for (int attempt = 0; attempt < 400; attempt++) {
		struct cluster_stats st[3];
		for (int i = 0; i < 3; i++)
			stats_of(e, i, &st[i]);
		uint64_t x = env_stat(&st[0], "exec_index");
		bool rest = env_stat(&st[0], "next_slot") == x;
		for (int i = 1; i < 3; i++)
			rest = rest && env_stat(&st[i], "exec_index") == x;
		if (rest)
			return x;
		poll(NULL, 0, 25);
	}
	fail_msg("the cluster did not come to rest");
	return 0;
}

/* ---- system: every role gets in with the right secret ------------------------------------- */

static void test_every_role(void **state)
{
	(void)state;
	/* the secret from a secretFile (owner only) */
	char dir[256], path[300], extra[600];
	assert_int_equal(proc_tmpdir(dir), 0);
	snprintf(path, sizeof path, "%s/secret", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(SECRET "\n", f);
	fclose(f);
	assert_int_equal(chmod(path, 0600), 0);
	snprintf(extra, sizeof extra,
		 "secretFile: %s\nreqs: 300\nclientThreads: 2\nwrites: 50\nkeySpace: 100\n", path);
	env_protocol = "curp";
	struct cluster_env e;
	env_start(&e, 3, extra); /* replicas <-> replicas, replicas -> master */
	assert_string_equal(e.s.secret, SECRET);

	/* client: the C API */
	curpkv_client *c = NULL;
	assert_int_equal(curpkv_open(e.conf_path, "client0", &c), 0);
	assert_int_equal(curpkv_put(c, "api", 3, "1", 1), 0);
	char buf[16];
	size_t vlen = 0;
	assert_int_equal(curpkv_get(c, "api", 3, buf, sizeof buf, &vlen), 0);
	assert_int_equal(vlen, 1);
	curpkv_close(c);
	/* client: the command line */
	char *out = NULL;
	char *put[] = {"put", "cli", "2", NULL};
	env_cli_expect(&e, put, 0, NULL);
	char *get[] = {"get", "cli", NULL};
	env_cli_expect(&e, get, 0, "2\n");
	char *app[] = {"append", "cli", "3", NULL};
	env_cli_expect(&e, app, 0, NULL);
	/* client: the load generator (its own threads, each a cluster handle) */
	int st = run_loadgen(&e, e.conf_path, &out);
	if (st != 0)
		fprintf(stderr, "loadgen: %s\n", out ? out : "");
	assert_int_equal(st, 0);
	free(out);
	/* admin: curpkv stats, every replica and the master */
	char *stats[] = {"stats", NULL};
	assert_int_equal(env_cli(&e, e.dir, stats, &out), 0);
	assert_non_null(strstr(out, "replica2\n"));
	free(out);
	struct cluster_stats rs[3], ms;
	uint64_t exec = settle(&e);
	env_wait_identical(&e, exec, 1, rs);
	for (int i = 0; i < 3; i++) {
		/* every counter fits one STATS_REPLY: the last one a replica adds is there (the
		 * auth counters made 66 with main's state-transfer ones; 64 fitted) */
		assert_true(rs[i].n >= 1);
		assert_string_equal(rs[i].v[rs[i].n - 1].name, "dropped_to_client");
		assert_int_equal(env_stat(&rs[i], "auth"), 1);
		assert_int_equal(env_stat(&rs[i], "auth_failed"), 0);
		assert_int_equal(env_stat(&rs[i], "role_violations"), 0);
		assert_true(env_stat(&rs[i], "auth_ok") >= 4); /* 2 peers, 2 dials, clients */
	}
	master_stats(&e, &e.s, &ms);
	assert_int_equal(env_stat(&ms, "auth"), 1);
	assert_int_equal(env_stat(&ms, "auth_failed"), 0);
	assert_int_equal(env_stat(&ms, "role_violations"), 0);
	assert_true(env_stat(&ms, "auth_ok") >= 3);
	assert_true(exec >= 300);
	for (int i = 0; i < 3; i++)
		assert_false(log_has(&e.replicas[i], "no secret"));
	assert_false(log_has(&e.master, "no secret"));

	/* -check shows that a secret is set, never the secret */
	char *check[] = {"-check", NULL};
	assert_int_equal(env_cli(&e, e.dir, check, &out), 0);
	assert_non_null(strstr(out, "  secret: (set, not shown)\n"));
	assert_null(strstr(out, SECRET));
	free(out);
	/* a secretFile that group or others may read is refused, with its line */
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(env_cli(&e, e.dir, get, &out), 1);
	assert_non_null(strstr(out, "error: secretFile: "));
	assert_non_null(strstr(out, "has mode 0644: group or others may access it"));
	free(out);
	assert_int_equal(chmod(path, 0600), 0);
	assert_secret_nowhere(&e, SECRET);
	env_stop(&e);
	proc_rmdir(dir);
}

/* Without a secret: as before, plus one warning at start in every process that listens; a
 * client that has a secret is refused (it would otherwise believe it is talking to members). */
static void test_no_secret_warns(void **state)
{
	(void)state;
	env_protocol = "curp";
	struct cluster_env e;
	env_start(&e, 3, NULL);
	const char *warning = "no secret: any host that reaches this port can join the cluster";
	for (int i = 0; i < 3; i++)
		env_expect_log(&e, &e.replicas[i], warning, 5000);
	env_expect_log(&e, &e.master, warning, 5000);
	struct cluster_stats st;
	stats_of(&e, 0, &st);
	assert_int_equal(env_stat(&st, "auth"), 0);
	assert_int_equal(env_stat(&st, "auth_ok"), 0);
	/* a client with a secret is told that this cluster has none: authentication failed */
	char with[600];
	snprintf(with, sizeof with, "%s",
		 conf_variant(&e, "with.conf", "maxDescRoutines: 1000\n",
			      "maxDescRoutines: 1000\n" WITH_SECRET));
	char *out = NULL;
	char *put[] = {"put", "k", "v", NULL};
	assert_int_equal(run_cli(&e, with, put, &out), 4);
	assert_non_null(strstr(out, "authentication failed"));
	free(out);
	curpkv_client *c = NULL;
	assert_int_equal(curpkv_open(with, "client0", &c), -EACCES);
	env_stop(&e);
}

/* ---- system: a wrong or missing secret is refused ---------------------------------------- */

static void test_wrong_secret_client(void **state)
{
	(void)state;
	env_protocol = "curp";
	struct cluster_env e;
	env_start(&e, 3, WITH_SECRET "reqs: 10\n");
	struct cluster_stats ms0;
	master_stats(&e, &e.s, &ms0);
	char wrong[600], none[600];
	snprintf(wrong, sizeof wrong, "%s", conf_variant(&e, "wrong.conf", SECRET, WRONG));
	snprintf(none, sizeof none, "%s", conf_variant(&e, "none.conf", SECRET, NULL));
	const char *confs[] = {wrong, none};
	for (int i = 0; i < 2; i++) {
		char *out = NULL;
		char *put[] = {"put", "k", "v", NULL};
		int st = run_cli(&e, confs[i], put, &out);
		if (st != 4)
			fprintf(stderr, "put with %s: exit %d: %s\n", confs[i], st, out);
		assert_int_equal(st, 4); /* CLI_AUTH */
		assert_non_null(strstr(out, "authentication failed"));
		free(out);
		char *stats[] = {"stats", NULL};
		assert_int_equal(run_cli(&e, confs[i], stats, &out), 4);
		assert_non_null(strstr(out, "authentication failed"));
		free(out);
		curpkv_client *c = (curpkv_client *)1;
		assert_int_equal(curpkv_open(confs[i], "client0", &c), -EACCES);
		assert_null(c);
		assert_int_equal(run_loadgen(&e, confs[i], &out), 4);
		assert_non_null(strstr(out, "authentication failed"));
		free(out);
	}
	/* the processes counted the refusals, no refused client got an id, nothing was written */
	struct cluster_stats ms, rs;
	master_stats(&e, &e.s, &ms);
	assert_true(env_stat(&ms, "auth_failed") >= env_stat(&ms0, "auth_failed") + 6);
	assert_int_equal(env_stat(&ms, "ids_assigned"), env_stat(&ms0, "ids_assigned"));
	char *out = NULL;
	char *get[] = {"get", "k", NULL};
	assert_int_equal(env_cli(&e, e.dir, get, &out), 1); /* not found */
	free(out);
	stats_of(&e, 0, &rs);
	assert_true(env_stat(&rs, "auth_failed") >= 2); /* the stats fetches */
	assert_secret_nowhere(&e, SECRET);
	assert_secret_nowhere(&e, WRONG);
	env_stop(&e);
}

/* A replica with another secret, or none, joins nothing: the master and its peers refuse it,
 * the other two serve. A master with another secret: no replica registers, nothing is ready, a
 * client is refused. */
static void test_wrong_secret_peers(void **state)
{
	(void)state;
	env_protocol = "curp";
	struct cluster_env e;
	char *out = NULL;
	char *put[] = {"put", "k", "v", NULL};
	struct cluster_stats ms, rs;
	const char *replica2[] = {"secret: " WRONG "\n", "secret: none\n"};
	for (int v = 0; v < 2; v++) {
		char extra[300];
		snprintf(extra, sizeof extra, WITH_SECRET "-- Apply to replica2 --\n%s",
			 replica2[v]);
		env_prepare(&e, 3, extra);
		for (int i = 0; i < 3; i++)
			env_start_replica(&e, i, 0);
		env_start_master(&e, 0);
		env_expect_log(&e, &e.master, "cluster ready", 30000);
		for (int i = 0; i < 2; i++)
			env_expect_log(&e, &e.replicas[i], "serving: view", 30000);
		env_expect_log(&e, &e.replicas[2], "cannot authenticate to the master", 10000);
		env_expect_log(&e, &e.replicas[2], "cannot authenticate to replica0", 10000);
		assert_int_equal(env_cli(&e, e.dir, put, &out), 0); /* a majority serves */
		free(out);
		master_stats(&e, &e.s, &ms);
		assert_int_equal(env_stat(&ms, "registrations"), 2);
		assert_true(env_stat(&ms, "auth_failed") >= 1);
		for (int i = 0; i < 2; i++) {
			stats_of(&e, i, &rs);
			assert_true(env_stat(&rs, "auth_failed") >= 1); /* replica2 dialing it */
		}
		assert_false(log_has(&e.replicas[2], "serving: view"));
		assert_int_equal(log_has(&e.replicas[2], "no secret"), v == 1);
		assert_secret_nowhere(&e, WRONG);
		assert_secret_nowhere(&e, SECRET);
		env_stop(&e);
	}

	env_prepare(&e, 3, WITH_SECRET "-- Apply to master0 --\nsecret: " WRONG "\n");
	for (int i = 0; i < 3; i++)
		env_start_replica(&e, i, 0);
	env_start_master(&e, 0);
	for (int i = 0; i < 3; i++)
		env_expect_log(&e, &e.replicas[i], "cannot authenticate to the master", 10000);
	assert_int_equal(env_cli(&e, e.dir, put, &out), 4); /* the client has the replicas' */
	free(out);
	struct conf_settings mset;
	assert_int_equal(conf_settings_for(e.conf, "master0", &mset, NULL), 0);
	master_stats(&e, &mset, &ms);
	assert_int_equal(env_stat(&ms, "ready"), 0);
	assert_int_equal(env_stat(&ms, "registrations"), 0);
	assert_true(env_stat(&ms, "auth_failed") >= 3);
	assert_false(log_has(&e.master, "cluster ready"));
	env_stop(&e);
}

/* ---- system: the attacks of the issue ---------------------------------------------------------
 */

static const uint8_t PWNED[] = "pwned";

/* ACCEPT of k1 = "pwned" at slot `slot` by a made-up client, committed (ACCEPT's commit and a
 * COMMIT), as a leader would send it. */
static void forge_accept(struct proto_buf *b, uint64_t slot)
{
	struct proto_msg acc = {.type = PROTO_ACCEPT,
				.slot = slot,
				.cid = {999999, 1},
				.commit = slot + 1,
				.cmd = {.op = PROTO_OP_PUT,
					.key = (const uint8_t *)"k1",
					.klen = 2,
					.val = PWNED,
					.vlen = 5}};
	struct proto_msg com = {.type = PROTO_COMMIT, .commit = slot + 1};
	assert_int_equal(proto_encode(b, &acc, LIM.max_frame), 0);
	assert_int_equal(proto_encode(b, &com, LIM.max_frame), 0);
}

/* REGISTER(replica 0, a fresh process): what made the master move the leadership. */
static void forge_register(struct proto_buf *b, uint16_t port)
{
	struct proto_msg reg = {.type = PROTO_REGISTER,
				.node_id = 0,
				.addr = "127.0.0.1",
				.addr_len = 9,
				.port = port,
				.leader = -1};
	assert_int_equal(proto_encode(b, &reg, LIM.max_frame), 0);
}

/* HELLO as `role` (replica 0 when a replica). */
static void hello(struct proto_buf *b, uint8_t role)
{
	struct proto_msg h = {.type = PROTO_HELLO,
			      .role = role,
			      .node_id = role == PROTO_ROLE_REPLICA ? 0 : -1,
			      .client_id = role == PROTO_ROLE_CLIENT ? 424242 : 0};
	assert_int_equal(proto_encode(b, &h, LIM.max_frame), 0);
}

/* Sends prelude (raw bytes, may be empty) then payload on a new connection to port, and
 * expects the process to close it. Returns whether AUTH_FAIL came first. */
static bool attack(uint16_t port, const struct proto_buf *payload)
{
	int fd = proc_dial(port);
	assert_true(fd >= 0);
	raw_send_bytes(fd, payload);
	bool told;
	assert_true(raw_closed(fd, &told));
	close(fd);
	return told;
}

/* A recorded handshake (AUTH_HELLO, AUTH_PROOF of a genuine connection as `role`: replica 0, or a
 * client), replayed on a new connection to port, followed by payload: refused. Both the patient
 * replay (waiting for the new challenge) and the blind one (everything at once). */
static void replay_attack(uint16_t port, const struct auth_key *k, uint8_t role,
			  const struct proto_buf *payload)
{
	/* the recording: a genuine handshake, closed before saying anything */
	struct proto_buf cap;
	proto_buf_init(&cap, 1u << 16);
	int fd = proc_dial(port);
	assert_true(fd >= 0);
	assert_true(raw_handshake(fd, k, role, role == PROTO_ROLE_REPLICA ? 0 : -1, &cap));
	close(fd);
	long l1 = proto_frame_peek(cap.data, cap.len, LIM.max_frame);
	assert_true(l1 > 0 && (size_t)l1 < cap.len);
	/* patient */
	fd = proc_dial(port);
	assert_true(fd >= 0);
	assert_int_equal(send(fd, cap.data, (size_t)l1, MSG_NOSIGNAL), l1);
	struct proto_msg m;
	uint8_t frame[512];
	assert_int_equal(raw_recv(fd, &m, frame, sizeof frame, 5000), 1);
	assert_int_equal(m.type, PROTO_AUTH_CHALLENGE);
	struct proto_buf rest;
	proto_buf_init(&rest, 1u << 16);
	buf_append(&rest, cap.data + l1, cap.len - (size_t)l1);
	buf_append(&rest, payload->data, payload->len);
	raw_send_bytes(fd, &rest);
	bool told;
	assert_true(raw_closed(fd, &told));
	assert_true(told);
	close(fd);
	proto_buf_free(&rest);
	/* blind: the whole recording and the payload in one write */
	struct proto_buf all;
	proto_buf_init(&all, 1u << 16);
	buf_append(&all, cap.data, cap.len);
	buf_append(&all, payload->data, payload->len);
	assert_true(attack(port, &all));
	proto_buf_free(&all);
	proto_buf_free(&cap);
}

/* A genuine client-role connection (the secret known) that then sends the payload: closed for
 * its role. */
static void client_role_attack(uint16_t port, const struct auth_key *k,
			       const struct proto_buf *payload)
{
	int fd = proc_dial(port);
	assert_true(fd >= 0);
	if (k)
		assert_true(raw_handshake(fd, k, PROTO_ROLE_CLIENT, -1, NULL));
	struct proto_buf b;
	proto_buf_init(&b, 1u << 16);
	hello(&b, PROTO_ROLE_CLIENT);
	raw_send_bytes(fd, &b);
	raw_send_bytes(fd, payload);
	bool told;
	assert_true(raw_closed(fd, &told));
	assert_false(told); /* a role violation is not an authentication failure */
	close(fd);
	proto_buf_free(&b);
}

struct snapshot {
	uint64_t exec, digest, view, master_view, view_changes, role_violations[4], auth_failed[4];
};

/* The cluster at rest (every replica at the same executed index and digest) and its views. */
static void snapshot(struct cluster_env *e, uint64_t exec, struct snapshot *s)
{
	struct cluster_stats st[3], ms;
	env_wait_identical(e, exec, 200, st);
	s->exec = exec;
	s->digest = env_stat(&st[0], "digest");
	s->view = env_stat(&st[0], "view");
	for (int i = 0; i < 3; i++) {
		assert_int_equal(env_stat(&st[i], "view"), s->view);
		s->role_violations[i] = env_stat(&st[i], "role_violations");
		s->auth_failed[i] = env_stat(&st[i], "auth_failed");
	}
	master_stats(e, &e->s, &ms);
	s->master_view = env_stat(&ms, "view");
	s->view_changes = env_stat(&ms, "view_changes");
	s->role_violations[3] = env_stat(&ms, "role_violations");
	s->auth_failed[3] = env_stat(&ms, "auth_failed");
}

/* Writes n keys through the C API (and reads k1: absent); returns the executed index at rest. */
static uint64_t writes(struct cluster_env *e, int n)
{
	curpkv_client *c = NULL;
	assert_int_equal(curpkv_open(e->conf_path, "client0", &c), 0);
	for (int i = 0; i < n; i++) {
		char k[16];
		snprintf(k, sizeof k, "w%d", i);
		assert_int_equal(curpkv_put(c, k, strlen(k), "x", 1), 0);
	}
	char v[16];
	size_t vlen;
	int rc = curpkv_get(c, "k1", 2, v, sizeof v, &vlen);
	curpkv_close(c);
	assert_int_equal(rc, -ENOENT);
	return settle(e);
}

static void test_attacks(void **state)
{
	(void)state;
	env_protocol = "curp";
	struct cluster_env e;
	env_start(&e, 3, WITH_SECRET);
	struct auth_key k;
	assert_int_equal(auth_key_init(&k, SECRET, strlen(SECRET), e.conf), 0);
	uint64_t exec = writes(&e, 20);
	struct snapshot before, after;
	snapshot(&e, exec, &before);
	assert_int_equal(before.view, 0);
	uint16_t follower = (uint16_t)(e.base + 1), master = (uint16_t)(e.base + 3);

	struct proto_buf inject, reg, client_inject;
	proto_buf_init(&inject, 1u << 16);
	proto_buf_init(&reg, 1u << 16);
	proto_buf_init(&client_inject, 1u << 16);
	hello(&inject, PROTO_ROLE_REPLICA);
	forge_accept(&inject, exec);
	hello(&reg, PROTO_ROLE_REPLICA);
	forge_register(&reg, e.base);
	hello(&client_inject, PROTO_ROLE_CLIENT);
	forge_accept(&client_inject, exec);
	/* without any handshake: refused, told AUTH_FAIL */
	assert_true(attack(follower, &inject));
	assert_true(attack(master, &reg));
	assert_true(attack(follower, &client_inject));
	/* with a replayed handshake (of a replica; of a client for the client-role attack) */
	replay_attack(follower, &k, PROTO_ROLE_REPLICA, &inject);
	replay_attack(master, &k, PROTO_ROLE_REPLICA, &reg);
	replay_attack(follower, &k, PROTO_ROLE_CLIENT, &client_inject);
	/* a genuine client (the secret known) sending peer and master messages: its role */
	struct proto_buf acc_only, reg_only;
	proto_buf_init(&acc_only, 1u << 16);
	proto_buf_init(&reg_only, 1u << 16);
	forge_accept(&acc_only, exec);
	forge_register(&reg_only, e.base);
	client_role_attack(follower, &k, &acc_only);
	client_role_attack(master, &k, &reg_only);

	/* nothing changed: same executed index and digest everywhere, no view change */
	snapshot(&e, exec, &after);
	assert_int_equal(after.digest, before.digest);
	assert_int_equal(after.view, before.view);
	assert_int_equal(after.master_view, before.master_view);
	assert_int_equal(after.view_changes, 0);
	assert_false(log_has(&e.master, "changing the view"));
	/* each refusal counted where it happened: per attack 1 plain + 2 replays (+1 recording,
	 * which authenticated and left): two attacks at the follower, one at the master */
	assert_true(after.auth_failed[1] >= before.auth_failed[1] + 6);
	assert_true(after.auth_failed[3] >= before.auth_failed[3] + 3);
	assert_int_equal(after.role_violations[1], before.role_violations[1] + 1);
	assert_int_equal(after.role_violations[3], before.role_violations[3] + 1);
	assert_true(writes(&e, 1) > exec); /* k1 still absent; the cluster serves */
	proto_buf_free(&inject);
	proto_buf_free(&reg);
	proto_buf_free(&client_inject);
	proto_buf_free(&acc_only);
	proto_buf_free(&reg_only);
	auth_key_wipe(&k);
	env_stop(&e);
}

/* The control: the same frames against a cluster without a secret do what the issue reported
 * (the follower executes the injected write; the forged REGISTER moves the leadership), so the
 * test above fails if the protection goes. A client-role connection is refused by role even
 * without a secret. */
static void test_attacks_without_secret(void **state)
{
	(void)state;
	env_protocol = "curp";
	struct cluster_env e;
	env_start(&e, 3, NULL);
	uint64_t exec = writes(&e, 20);
	struct snapshot before;
	snapshot(&e, exec, &before);
	uint16_t follower = (uint16_t)(e.base + 1), master = (uint16_t)(e.base + 3);
	struct proto_buf b;
	proto_buf_init(&b, 1u << 16);
	forge_accept(&b, exec);
	client_role_attack(follower, NULL, &b);
	struct cluster_stats st;
	stats_of(&e, 1, &st);
	assert_int_equal(env_stat(&st, "exec_index"), exec);
	assert_int_equal(env_stat(&st, "role_violations"), before.role_violations[1] + 1);

	b.len = 0;
	hello(&b, PROTO_ROLE_REPLICA);
	forge_accept(&b, exec);
	int fd = proc_dial(follower);
	assert_true(fd >= 0);
	raw_send_bytes(fd, &b);
	bool executed = false;
	for (int i = 0; i < 200 && !executed; i++) {
		stats_of(&e, 1, &st);
		executed = env_stat(&st, "exec_index") == exec + 1;
		if (!executed)
			poll(NULL, 0, 25);
	}
	close(fd);
	assert_true(executed); /* corrupted: no other replica executed slot `exec` so */
	assert_int_not_equal(env_stat(&st, "digest"), before.digest);

	b.len = 0;
	hello(&b, PROTO_ROLE_REPLICA);
	forge_register(&b, e.base);
	fd = proc_dial(master);
	assert_true(fd >= 0);
	raw_send_bytes(fd, &b);
	env_expect_log(&e, &e.master, "replica0, the leader, restarted: changing the view", 10000);
	close(fd);
	proto_buf_free(&b);
	env_stop(&e);
}

/* ---- system: deadline and maxClients --------------------------------------------------------- */

static double mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_deadline_and_max_clients(void **state)
{
	(void)state;
	env_protocol = "curp";
	struct cluster_env e;
	env_start(&e, 3, WITH_SECRET "maxClients: 4\n");
	struct cluster_stats st0, st;
	stats_of(&e, 0, &st0);
	/* maxClients 4, with n - 1 = 2 slots kept for the peers: 6 unauthenticated connections
	 * fill replica0; the 7th is refused at once, without a word */
	int idle[6];
	double t0 = mono_s();
	for (int i = 0; i < 6; i++) {
		idle[i] = proc_dial(e.base);
		assert_true(idle[i] >= 0);
	}
	int extra = proc_dial(e.base);
	assert_true(extra >= 0);
	bool told;
	assert_true(raw_closed(extra, &told));
	assert_false(told);
	double refused_s = mono_s() - t0;
	close(extra);
	/* the idle ones are closed at the deadline (NET_AUTH_TIMEOUT_S), told AUTH_FAIL */
	for (int i = 0; i < 6; i++) {
		assert_true(raw_closed(idle[i], &told));
		assert_true(told);
		close(idle[i]);
	}
	double deadline_s = mono_s() - t0;
	printf("# 7th connection refused after %.3f s; idle ones closed after %.3f s\n", refused_s,
	       deadline_s);
	assert_true(deadline_s >= 2.0); /* not before the deadline (3 s), whatever the load */
	stats_of(&e, 0, &st);
	assert_true(env_stat(&st, "conns_refused") >= env_stat(&st0, "conns_refused") + 1);
	assert_true(env_stat(&st, "auth_failed") >= env_stat(&st0, "auth_failed") + 6);
	/* and a client still gets in */
	char *out = NULL;
	char *put[] = {"put", "k", "v", NULL};
	assert_int_equal(env_cli(&e, e.dir, put, &out), 0);
	free(out);
	env_stop(&e);
}

/* ---- the seed corpus of fuzz/fuzz_auth.c ------------------------------------------------------
 */

static int write_file(const char *dir, const char *name, const struct proto_buf *b)
{
	char path[600];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	if (f == NULL || fwrite(b->data, 1, b->len, f) != b->len) {
		perror(path);
		if (f)
			fclose(f);
		return 1;
	}
	return fclose(f) == 0 ? 0 : 1;
}

/* Writes frame streams of real handshakes (the nonces and MACs change at every run; the shapes
 * are what matters): what a connector and an acceptor send, and the attacks' prefixes.
 * tests/data/auth/ was written by: tests/test_auth --write-corpus tests/data/auth */
static int write_corpus(const char *dir)
{
	struct auth_key k;
	make_key(&k, SECRET, THREE);
	struct proto_buf conn, acc, b;
	proto_buf_init(&conn, 1u << 16);
	proto_buf_init(&acc, 1u << 16);
	proto_buf_init(&b, 1u << 16);
	struct auth_hs c, a;
	struct proto_msg out, in, reply;
	bool has;
	auth_hs_accept(&a, &k, PROTO_ROLE_REPLICA, 0);
	auth_hs_connect(&c, &k, PROTO_ROLE_REPLICA, 1, PROTO_ROLE_REPLICA, 0, &out);
	for (int step = 0; step < 4; step++) {
		struct proto_buf *sent = step % 2 == 0 ? &conn : &acc;
		wire(&out, &in, &b, sent);
		if (auth_hs_step(step % 2 == 0 ? &a : &c, &in, &reply, &has) == AUTH_FAILED || !has)
			break;
		out = reply;
	}
	int rc = write_file(dir, "connector-hello-proof.bin", &conn);
	rc |= write_file(dir, "acceptor-challenge-ok.bin", &acc);
	long l1 = proto_frame_peek(conn.data, conn.len, LIM.max_frame);
	b.len = 0;
	buf_append(&b, conn.data, (size_t)l1);
	rc |= write_file(dir, "hello.bin", &b);
	hello(&b, PROTO_ROLE_REPLICA);
	forge_accept(&b, 7);
	rc |= write_file(dir, "hello-then-accept.bin", &b);
	b.len = 0;
	struct proto_msg fail = {.type = PROTO_AUTH_FAIL};
	assert_int_equal(proto_encode(&b, &fail, LIM.max_frame), 0);
	rc |= write_file(dir, "fail.bin", &b);
	proto_buf_free(&conn);
	proto_buf_free(&acc);
	proto_buf_free(&b);
	auth_key_wipe(&k);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--write-corpus") == 0)
		return write_corpus(argv[2]);
	if (argc != 1) {
		fprintf(stderr, "usage: %s [--write-corpus DIR]\n", argv[0]);
		return 2;
	}
	atexit(proc_kill_all);
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_password),
	    cmocka_unit_test(test_hs_honest),
	    cmocka_unit_test(test_hs_wrong_keys),
	    cmocka_unit_test(test_hs_replay_and_tamper),
	    cmocka_unit_test(test_hs_claims),
	    cmocka_unit_test(test_roles_table),
	    cmocka_unit_test(test_log_limiter),
	    cmocka_unit_test_teardown(test_every_role, env_teardown),
	    cmocka_unit_test_teardown(test_no_secret_warns, env_teardown),
	    cmocka_unit_test_teardown(test_wrong_secret_client, env_teardown),
	    cmocka_unit_test_teardown(test_wrong_secret_peers, env_teardown),
	    cmocka_unit_test_teardown(test_attacks, env_teardown),
	    cmocka_unit_test_teardown(test_attacks_without_secret, env_teardown),
	    cmocka_unit_test_teardown(test_deadline_and_max_clients, env_teardown),
	};
	if (getenv("AUTH_TESTS"))
		cmocka_set_test_filter(getenv("AUTH_TESTS"));
	return cmocka_run_group_tests_name("auth", tests, NULL, NULL);
}
