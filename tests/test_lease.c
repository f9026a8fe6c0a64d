/* System test of client leases (issue 17 item 3, docs/recovery.md "Client leases") on real
 * processes: short-lived clients' records go away at every replica once their lease runs out
 * (curpkv stats), and a late retry from an expired client id gets the distinct status EXPIRED
 * and is not executed twice. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "net/net.h"
#include "tests/env.h"
#include "tests/proc.h"

#define CLIENTS 12 /* short-lived clients (one `curpkv append` process each) */

static const struct proto_limits LIM = {.max_frame = 1u << 20, .max_key = 1024, .max_value = 65536};

static void replica_stats(struct cluster_env *e, int r, struct cluster_stats *st)
{
	char err[NET_ERR_LEN];
	int rc = cluster_stats(e->conf, &e->s, r, 2.0, st, err);
	if (rc != 0)
		fprintf(stderr, "replica%d stats: %s\n", r, err);
	assert_int_equal(rc, 0);
}

static void sleep_ms(int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* Sends `m` on a raw client connection to replica r (HELLO as client `id` first) and returns the
 * first answer about m's cid (its type and status in *a). */
static void raw_ask(struct cluster_env *e, int r, uint64_t id, const struct proto_msg *m,
		    struct proto_msg *a)
{
	int fd = proc_dial(e->conf->replicas[r].port);
	assert_true(fd >= 0);
	struct proto_msg hello = {
	    .type = PROTO_HELLO, .role = PROTO_ROLE_CLIENT, .node_id = -1, .client_id = id};
	env_send_msg(fd, &hello);
	env_send_msg(fd, m);
	static uint8_t frame[1u << 17];
	int rc = 0;
	for (int i = 0; i < 100; i++) {
		rc = env_recv_msg(fd, a, frame, sizeof frame, 100, &LIM);
		if (rc == 0)
			break;
		if (rc == 1 && a->cid.client == m->cid.client && a->cid.seq == m->cid.seq)
			break;
		rc = 0;
	}
	close(fd);
	assert_int_equal(rc, 1);
}

/* Twelve `curpkv append list eNN` processes (a client id each, one command each, gone at once)
 * under clientLeaseMs 1000: every replica holds their records, then, within a few leases, none
 * (clients_live 0, result_cache 0, clients_expired 12, the same floor everywhere). Then the last
 * client's command arrives again from a raw connection under its id (seq 1, the same APPEND): the
 * leader answers REPLY status EXPIRED (9), a follower RECORD_ACK ok=false, and the list still holds
 * each element once (without the refusal the retry, its records gone, would append e12 again). */
static void test_lease_real(void **state)
{
	(void)state;
	struct cluster_env e;
	env_protocol = "curp";
	env_start(&e, 3, "clientLeaseMs: 1000\n");
	struct cluster_stats st;
	char want[CLIENTS * 3 + 2] = "";
	for (int i = 1; i <= CLIENTS; i++) {
		char el[8], *out = NULL;
		snprintf(el, sizeof el, "e%02d", i);
		strcat(want, el);
		char *args[] = {"append", "list", el, NULL};
		int rc = env_cli(&e, e.dir, args, &out);
		if (rc != 0)
			fprintf(stderr, "curpkv append list %s: exit %d: %s", el, rc,
				out ? out : "");
		free(out);
		assert_int_equal(rc, 0);
		if (i == 1) { /* its record is at the leader */
			replica_stats(&e, 0, &st);
			assert_true(env_stat(&st, "clients_live") >= 1);
			assert_true(env_stat(&st, "result_cache") >= 1);
		}
	}
	/* a few leases: every record goes, everywhere */
	bool gone = false;
	for (int k = 0; k < 100 && !gone; k++) {
		gone = true;
		for (int r = 0; r < 3; r++) {
			replica_stats(&e, r, &st);
			gone &= env_stat(&st, "clients_expired") >= CLIENTS &&
				env_stat(&st, "clients_live") == 0 &&
				env_stat(&st, "result_cache") == 0;
		}
		if (!gone)
			sleep_ms(100);
	}
	uint64_t floor = 0;
	for (int r = 0; r < 3; r++) {
		replica_stats(&e, r, &st);
		fprintf(stderr,
			"# replica%d: clients_live %" PRIu64 ", clients_expired %" PRIu64
			", result_cache %" PRIu64 ", expire_entries %" PRIu64 ", floor %#" PRIx64
			"\n",
			r, env_stat(&st, "clients_live"), env_stat(&st, "clients_expired"),
			env_stat(&st, "result_cache"), env_stat(&st, "expire_entries"),
			env_stat(&st, "expire_floor"));
		if (r == 0)
			floor = env_stat(&st, "expire_floor");
		assert_int_equal(env_stat(&st, "expire_floor"), floor);
	}
	assert_true(gone);
	replica_stats(&e, 0, &st);
	uint64_t view = env_stat(&st, "view"), executed = env_stat(&st, "executed");
	uint64_t refused = env_stat(&st, "expired_refused");
	assert_true(env_stat(&st, "expire_entries") >= 1);

	/* the last client (the highest id: the floor) sends its APPEND again */
	char last[8];
	snprintf(last, sizeof last, "e%02d", CLIENTS);
	struct proto_msg m = {.type = PROTO_PROPOSE,
			      .view = view,
			      .cid = {floor, 1},
			      .low_seq = 1,
			      .cmd = {.op = PROTO_OP_APPEND,
				      .key = (const uint8_t *)"list",
				      .klen = 4,
				      .val = (const uint8_t *)last,
				      .vlen = 3}};
	struct proto_msg a;
	raw_ask(&e, 0, floor, &m, &a);
	assert_int_equal(a.type, PROTO_REPLY);
	assert_int_equal(a.status, PROTO_ST_EXPIRED);
	assert_false(a.ok);
	raw_ask(&e, 1, floor, &m, &a);
	assert_int_equal(a.type, PROTO_RECORD_ACK);
	assert_false(a.ok);
	char *out = NULL, line[CLIENTS * 3 + 2];
	char *args[] = {"get", "list", NULL};
	assert_int_equal(env_cli(&e, e.dir, args, &out), 0);
	snprintf(line, sizeof line, "%s\n", want);
	assert_non_null(out);
	assert_string_equal(out, line); /* every element once: e12 not appended again */
	free(out);
	replica_stats(&e, 0, &st);
	assert_int_equal(env_stat(&st, "expired_refused"), refused + 1);
	assert_int_equal(env_stat(&st, "executed"), executed + 1); /* (the get) */
	env_stop(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_lease_real, env_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
