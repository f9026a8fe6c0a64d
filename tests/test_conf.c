/* Unit tests for conf/: every compat conf key by key, broken files with their file:line
 * messages, Apply-to, derived values, latency and quorum files, and random input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/rng.h"
#include "conf/conf.h"

static const char *data_path(const char *rel, char *buf, size_t len)
{
	const char *src = getenv("CURPKV_SRCDIR");
	snprintf(buf, len, "%s/tests/data/%s", src && *src ? src : ".", rel);
	return buf;
}

/* Compares every field: a key the file does not set must keep its default. */
static void assert_settings_equal(const struct conf_settings *a, const struct conf_settings *e)
{
	assert_int_equal(a->protocol, e->protocol);
	assert_int_equal(a->master_port, e->master_port);
	assert_int_equal(a->max_desc_routines, e->max_desc_routines);
	assert_int_equal(a->batch_delay_us, e->batch_delay_us);
	assert_int_equal(a->shards, e->shards);
	assert_int_equal(a->replica_loops, e->replica_loops);
	assert_int_equal(a->noop, e->noop);
	assert_int_equal(a->reqs, e->reqs);
	assert_int_equal(a->run_time_ms, e->run_time_ms);
	assert_int_equal(a->writes, e->writes);
	assert_int_equal(a->weak_ratio, e->weak_ratio);
	assert_int_equal(a->weak_writes, e->weak_writes);
	assert_int_equal(a->conflicts, e->conflicts);
	assert_int_equal(a->key, e->key);
	assert_int_equal(a->command_size, e->command_size);
	assert_int_equal(a->client_threads, e->client_threads);
	assert_int_equal(a->clones, e->clones);
	assert_int_equal(a->pipeline, e->pipeline);
	assert_int_equal(a->pendings, e->pendings);
	assert_int_equal(a->key_space, e->key_space);
	assert_true(a->zipf_skew == e->zipf_skew);
	assert_int_equal(a->scan_ratio, e->scan_ratio);
	assert_int_equal(a->scan_count, e->scan_count);
	assert_int_equal(a->reply_timeout_s, e->reply_timeout_s);
	assert_int_equal(a->network_delay_ms, e->network_delay_ms);
	assert_int_equal(a->heartbeat_ms, e->heartbeat_ms);
	assert_int_equal(a->leader_timeout_ms, e->leader_timeout_ms);
	assert_int_equal(a->ht_early_weak_reply, e->ht_early_weak_reply);
	assert_int_equal(a->max_frame_bytes, e->max_frame_bytes);
	assert_int_equal(a->max_key_bytes, e->max_key_bytes);
	assert_int_equal(a->max_value_bytes, e->max_value_bytes);
	assert_int_equal(a->max_clients, e->max_clients);
	assert_string_equal(a->secret, e->secret);
	assert_string_equal(a->state_dir, e->state_dir);
	assert_string_equal(a->history_file, e->history_file);
	assert_int_equal(a->seed_set, e->seed_set);
	assert_int_equal(a->seed, e->seed);
}

static void assert_host(const struct conf_host *h, const char *alias, const char *addr,
			unsigned port, int id)
{
	assert_string_equal(h->alias, alias);
	assert_string_equal(h->addr, addr);
	assert_int_equal(h->port, port);
	assert_int_equal(h->id, id);
}

/* Loads a compat file that must parse without error; returns it and its diagnostics. */
static struct conf *load_ok(const char *rel, struct conf_diags *d)
{
	char path[512];
	struct conf *c = NULL;
	memset(d, 0, sizeof *d);
	int rc = conf_load(data_path(rel, path, sizeof path), &c, d);
	if (rc != 0)
		conf_diags_print(d, stderr);
	assert_int_equal(rc, 0);
	assert_int_equal(d->n_errors, 0);
	return c;
}

static bool has_diag(const struct conf_diags *d, bool error, int line, const char *frag)
{
	for (size_t i = 0; i < d->n; i++)
		if (d->v[i].error == error && (line < 0 || d->v[i].line == line) &&
		    strstr(d->v[i].msg, frag))
			return true;
	return false;
}

static void test_compat_local(void **state)
{
	(void)state;
	struct conf_diags d;
	struct conf *c = load_ok("compat/local.conf", &d);
	/* thrifty and fast: accepted, one warning each, no effect */
	assert_int_equal(d.n_warnings, 2);
	assert_true(has_diag(&d, false, 18, "thrifty"));
	assert_true(has_diag(&d, false, 19, "fast"));
	struct conf_settings e;
	conf_settings_default(&e);
	e.protocol = CONF_PROTO_CURPHT;
	e.master_port = 7087;
	e.noop = false;
	e.reqs = 10000;
	e.writes = 10;
	e.conflicts = 0;
	e.command_size = 100;
	e.clones = 0;
	e.weak_ratio = 50;
	e.weak_writes = 10;
	assert_settings_equal(&c->settings, &e);
	assert_int_equal(c->n_replicas, 3);
	assert_host(&c->replicas[0], "replica0", "127.0.0.1", 7070, 0);
	assert_host(&c->replicas[1], "replica1", "127.0.0.2", 7071, 1);
	assert_host(&c->replicas[2], "replica2", "127.0.0.3", 7072, 2);
	assert_int_equal(c->n_clients, 1);
	assert_host(&c->clients[0], "client0", "127.0.0.4", 0, 0);
	assert_int_equal(c->clients[0].proxy_replica, 0);
	assert_true(c->clients[0].proxy_local);
	assert_true(c->has_master);
	assert_host(&c->master, "master0", "127.0.0.1", 7087, 0);
	assert_int_equal(conf_settings_threads(&c->settings), 1);
	assert_int_equal(conf_settings_window(&c->settings), 1);
	conf_diags_free(&d);
	conf_free(c);
}

static void test_compat_eval_local(void **state)
{
	(void)state;
	struct conf_diags d;
	struct conf *c = load_ok("compat/eval-local.conf", &d);
	struct conf_settings e;
	conf_settings_default(&e);
	e.protocol = CONF_PROTO_CURPHT;
	e.max_desc_routines = 500;
	e.batch_delay_us = 150;
	e.reqs = 5000;
	e.writes = 5;
	e.command_size = 100;
	e.client_threads = 2;
	e.pipeline = true;
	e.pendings = 15;
	e.weak_ratio = 50;
	e.weak_writes = 5;
	e.network_delay_ms = 50;
	e.key_space = 1000000;
	e.zipf_skew = 0.99;
	assert_settings_equal(&c->settings, &e);
	assert_int_equal(c->n_clients, 3);
	for (int i = 0; i < 3; i++) {
		char alias[16], addr[16];
		snprintf(alias, sizeof alias, "client%d", i);
		snprintf(addr, sizeof addr, "127.0.0.%d", 4 + i);
		assert_host(&c->clients[i], alias, addr, 0, i);
		assert_int_equal(c->clients[i].proxy_replica, i);
		assert_true(c->clients[i].proxy_local);
	}
	assert_int_equal(conf_settings_threads(&c->settings), 2);
	assert_int_equal(conf_settings_window(&c->settings), 15);
	conf_diags_free(&d);
	conf_free(c);
}

static void check_multi_client(const char *rel, enum conf_protocol proto, uint32_t writes,
			       uint32_t weak_ratio, uint32_t weak_writes)
{
	struct conf_diags d;
	struct conf *c = load_ok(rel, &d);
	struct conf_settings e;
	conf_settings_default(&e);
	e.protocol = proto;
	e.max_desc_routines = 500;
	e.batch_delay_us = 150;
	e.reqs = 10000;
	e.writes = writes;
	e.command_size = 100;
	e.client_threads = 2;
	e.pipeline = true;
	e.pendings = 15;
	e.weak_ratio = weak_ratio;
	e.weak_writes = weak_writes;
	e.network_delay_ms = 25;
	e.key_space = 1000000;
	e.zipf_skew = 0.99;
	assert_settings_equal(&c->settings, &e);
	assert_int_equal(c->n_replicas, 3);
	assert_host(&c->replicas[0], "replica0", "130.245.173.101", 7070, 0);
	assert_host(&c->replicas[1], "replica1", "130.245.173.103", 7071, 1);
	assert_host(&c->replicas[2], "replica2", "130.245.173.104", 7072, 2);
	/* commented-out hosts are not hosts */
	assert_int_equal(c->n_clients, 3);
	assert_host(&c->clients[0], "client0", "130.245.173.103", 0, 0);
	assert_host(&c->clients[1], "client1", "130.245.173.104", 0, 1);
	assert_host(&c->clients[2], "client2", "130.245.173.101", 0, 2);
	assert_int_equal(c->clients[0].proxy_replica, 1);
	assert_int_equal(c->clients[1].proxy_replica, 2);
	assert_int_equal(c->clients[2].proxy_replica, 0);
	for (int i = 0; i < 3; i++)
		assert_true(c->clients[i].proxy_local);
	assert_host(&c->master, "master0", "130.245.173.103", 7087, 0);
	conf_diags_free(&d);
	conf_free(c);
}

static void test_compat_multi_client(void **state)
{
	(void)state;
	check_multi_client("compat/multi-client.conf", CONF_PROTO_CURPHT, 5, 50, 5);
	check_multi_client("compat/multi-client-curp.conf", CONF_PROTO_CURP, 10, 0, 0);
}

static void test_compat_benchmark_5r(void **state)
{
	(void)state;
	struct conf_diags d;
	struct conf *c = load_ok("compat/benchmark-5r.conf", &d);
	struct conf_settings e;
	conf_settings_default(&e);
	e.protocol = CONF_PROTO_CURPHT;
	e.max_desc_routines = 500;
	e.batch_delay_us = 150;
	e.reqs = 10000;
	e.writes = 5;
	e.command_size = 100;
	e.client_threads = 32;
	e.pipeline = true;
	e.pendings = 15;
	e.weak_ratio = 50;
	e.weak_writes = 5;
	e.network_delay_ms = 25;
	e.key_space = 1000000;
	e.zipf_skew = 0;
	assert_settings_equal(&c->settings, &e);
	assert_int_equal(c->n_replicas, 5);
	assert_host(&c->replicas[1], "replica1", "130.245.173.101", 7071, 1);
	assert_host(&c->replicas[4], "replica4", "130.245.173.104", 7074, 4);
	assert_int_equal(c->n_clients, 5);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(c->clients[i].proxy_replica, i);
		assert_true(c->clients[i].proxy_local);
	}
	assert_host(&c->master, "master0", "130.245.173.103", 7087, 0);
	conf_diags_free(&d);
	conf_free(c);
}

static void check_exp(const char *rel, enum conf_protocol proto, uint32_t weak_ratio,
		      uint32_t writes, uint32_t weak_writes, uint64_t reqs, double zipf,
		      uint32_t scan_ratio, uint32_t scan_count)
{
	struct conf_diags d;
	struct conf *c = load_ok(rel, &d);
	struct conf_settings e;
	conf_settings_default(&e);
	e.protocol = proto;
	e.weak_ratio = weak_ratio;
	e.writes = writes;
	e.weak_writes = weak_writes;
	e.max_desc_routines = 500;
	e.batch_delay_us = 150;
	e.reqs = reqs;
	e.command_size = 100;
	e.client_threads = 32;
	e.pipeline = true;
	e.pendings = 15;
	e.network_delay_ms = 0;
	e.key_space = 1000000;
	e.zipf_skew = zipf;
	e.scan_ratio = scan_ratio;
	e.scan_count = scan_count;
	assert_settings_equal(&c->settings, &e);
	assert_int_equal(c->n_replicas, 5);
	assert_host(&c->replicas[0], "replica0", "34.236.191.149", 7070, 0);
	assert_host(&c->replicas[4], "replica4", "35.183.203.84", 7074, 4);
	assert_int_equal(c->n_clients, 3);
	assert_host(&c->master, "master0", "18.221.173.128", 7087, 0);
	/* "clientN <address>" Proxy lines: served by, not co-located, with a warning each */
	for (int i = 0; i < 3; i++) {
		assert_int_equal(c->clients[i].proxy_replica, i);
		assert_false(c->clients[i].proxy_local);
	}
	assert_true(has_diag(&d, false, -1, "the address is ignored"));
	conf_diags_free(&d);
	conf_free(c);
}

static void test_compat_exp(void **state)
{
	(void)state;
	check_exp("compat/configs_exp3.1-base.conf", CONF_PROTO_CURPHO, 50, 5, 5, 3000, 0, 0, 0);
	check_exp("compat/configs_exp3.2-base.conf", CONF_PROTO_CURPHT, 50, 50, 50, 5000, 0.99, 0,
		  0);
	check_exp("compat/configs_exp-tao.conf", CONF_PROTO_CURPHO, 95, 20, 0, 5000, 0.8, 44,
		  1000);
}

/* aws.conf is the upstream SwiftPaxos example: its protocol is not ours and its region aliases
 * give colliding replica ids. It must fail with those errors, yet expose what it parsed. */
static void test_compat_aws(void **state)
{
	(void)state;
	char path[512];
	struct conf_diags d = {0};
	struct conf *c = NULL;
	assert_int_equal(conf_load(data_path("compat/aws.conf", path, sizeof path), &c, &d), -EINVAL);
	assert_non_null(c);
	assert_true(has_diag(&d, true, 32, "'SwiftPaxos' is not supported"));
	assert_true(has_diag(&d, true, 5, "has id 1, like 'ap-south-1' on line 4"));
	assert_true(has_diag(&d, true, 8, "has id 1"));
	assert_int_equal(c->settings.clones, 99);
	assert_int_equal(c->settings.key, 42);
	assert_int_equal(c->settings.writes, 100);
	assert_int_equal(c->settings.command_size, 1000);
	assert_int_equal(c->settings.conflicts, 2);
	assert_int_equal(c->settings.pendings, 10000);
	assert_int_equal(c->settings.reqs, 1000);
	assert_int_equal(c->settings.run_time_ms, 0); /* "none" */
	assert_false(c->settings.pipeline);
	assert_int_equal(c->n_replicas, 5);
	assert_int_equal(c->n_clients, 10);
	assert_host(&c->master, "us-west-1", "0.0.2.1", 7087, 0);
	/* the two Apply-to sections (waitClosest: a compat key) */
	assert_int_equal(c->n_overrides, 2);
	assert_string_equal(c->overrides[0].alias, "ap-northeast-1");
	assert_string_equal(c->overrides[0].key, "waitClosest");
	assert_string_equal(c->overrides[1].alias, "us-west-1");
	/* Proxy: ap-northeast-1 (local) of replica ap-northeast-1 (id 1) */
	const struct conf_host *cl = conf_find_client(c, "ap-northeast-1");
	assert_non_null(cl);
	assert_true(cl->proxy_local);
	cl = conf_find_client(c, "ca-central-1");
	assert_non_null(cl);
	assert_false(cl->proxy_local);
	assert_int_equal(cl->proxy_replica, 1);
	conf_diags_free(&d);
	conf_free(c);
}

/* ---- broken files ----------------------------------------------------------------------- */

static void expect_error(const char *file, int line, const char *frag)
{
	char path[512];
	struct conf_diags d = {0};
	struct conf *c = NULL;
	int rc = conf_load(data_path(file, path, sizeof path), &c, &d);
	if (rc != -EINVAL || !has_diag(&d, true, line, frag)) {
		fprintf(stderr, "%s: wanted an error at line %d containing '%s'; got:\n", file,
			line, frag);
		conf_diags_print(&d, stderr);
	}
	assert_int_equal(rc, -EINVAL);
	assert_true(has_diag(&d, true, line, frag));
	/* the printed form names file:line */
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	conf_diags_print(&d, m);
	fclose(m);
	char where[600];
	if (line > 0)
		snprintf(where, sizeof where, "%s:%d: error:", path, line);
	else
		snprintf(where, sizeof where, "%s: error:", path);
	assert_non_null(strstr(buf, where));
	free(buf);
	conf_diags_free(&d);
	conf_free(c);
}

static void test_bad_files(void **state)
{
	(void)state;
	expect_error("bad/bad-percent.conf", 7, "writes: 150 is not a percentage (0-100)");
	expect_error("bad/bad-bool.conf", 7, "pipeline: maybe is not a boolean");
	expect_error("bad/bad-duration.conf", 7, "runTime: 10parsecs is not a duration");
	expect_error("bad/bad-protocol.conf", 7, "'paxos' is not supported (curp, curpho, curpht)");
	expect_error("bad/even-replicas.conf", 0, "need an odd number");
	expect_error("bad/duplicate-id.conf", 4, "has id 1, like 'replica1' on line 3");
	expect_error("bad/alias-no-digits.conf", 4, "does not end with its id");
	expect_error("bad/port-range.conf", 2, "bad address '127.0.0.1:70000'");
	expect_error("bad/shards-not-pow2.conf", 7, "shards: 100 is not a power of two");
	expect_error("bad/shards-too-large.conf", 7, "shards: 131072 is not a power of two in 1..65536");
	expect_error("bad/missing-value.conf", 7, "reqs: missing value");
	expect_error("bad/unknown-section.conf", 7, "unknown section 'Servers'");
	expect_error("bad/proxy-before-server.conf", 10, "before any server_alias");
	expect_error("bad/proxy-unknown-replica.conf", 11, "server_alias 'replica9' is not a replica");
	expect_error("bad/proxy-unknown-client.conf", 11, "'client7' is not a client");
	expect_error("bad/overlong-line.conf", 7, "line longer than 4096 bytes");
	expect_error("bad/no-master.conf", 0, "no master");
	expect_error("bad/bad-zipf.conf", 7, "zipfSkew: -1 is not a number");
	expect_error("bad/bad-apply.conf", 8, "writes: 101 is not a percentage");
}

static void test_latency_and_quorum_errors(void **state)
{
	(void)state;
	char path[512];
	struct conf_diags d = {0};
	struct conf_latency l;
	assert_int_equal(conf_latency_load(data_path("bad/bad-latency.lat", path, sizeof path), &l,
					   &d),
			 -EINVAL);
	assert_true(has_diag(&d, true, 2, "expected '<addrA> <addrB> <rtt>'"));
	conf_diags_free(&d);

	struct conf *c = NULL;
	assert_int_equal(conf_load_string("q.conf",
					  "-- Replicas --\nreplica0 h0\nreplica1 h1\nreplica2 h2\n"
					  "-- Master --\nm h0\n",
					  &c, NULL),
			 0);
	int leader = 9;
	assert_int_equal(conf_quorum_load(data_path("bad/bad-quorum.quorum", path, sizeof path), c,
					  &leader, &d),
			 -EINVAL);
	assert_true(has_diag(&d, true, 2, "'replica7' is not a replica"));
	conf_diags_free(&d);
	conf_free(c);
}

/* ---- grammar details ---------------------------------------------------------------------- */

static void test_comments_and_unknown_keys(void **state)
{
	(void)state;
	const char *text = "# a comment line\n"
			   "-- Replicas --\n"
			   "replica0 127.0.0.1   # trailing comment\n"
			   "# replica9 127.0.0.9\n"
			   "replica1 127.0.0.1:9001 // other trailing comment\n"
			   "replica2 [::1]:9002\n"
			   "-- Clients --\n"
			   "# client9 127.0.0.9\n"
			   "client0 ::1\n"
			   "netwrkDelay: 25\n"
			   "-- Master --\n"
			   "MASTER0 Localhost\n"
			   "WRITES 7\n"
			   "reqs:42\n"
			   "frobnicate 3\n"
			   "zipfSkew: 1.5 # hot\n"
			   "runTime: 1m30s\n"
			   "maxFrameBytes: 2MiB\n"
			   "seed 17\n"
			   "-- Apply to CLIENT0 --\n"
			   "writes: 9\n";
	struct conf_diags d = {0};
	struct conf *c = NULL;
	assert_int_equal(conf_load_string("t.conf", text, &c, &d), 0);
	assert_int_equal(c->n_replicas, 3);
	assert_host(&c->replicas[1], "replica1", "127.0.0.1", 9001, 1);
	assert_true(c->replicas[1].port_explicit);
	assert_host(&c->replicas[2], "replica2", "::1", 9002, 2);
	assert_int_equal(c->n_clients, 1); /* neither '#' nor 'netwrkdelay:' became a client */
	assert_host(&c->clients[0], "client0", "::1", 0, 0);
	assert_host(&c->master, "master0", "Localhost", 7087, 0);
	assert_true(has_diag(&d, false, 10, "unknown key 'netwrkDelay' ignored"));
	assert_true(has_diag(&d, false, 15, "unknown key 'frobnicate' ignored"));
	assert_int_equal(c->settings.writes, 7);
	assert_int_equal(c->settings.reqs, 42);
	assert_true(c->settings.zipf_skew == 1.5);
	assert_int_equal(c->settings.run_time_ms, 90000);
	assert_int_equal(c->settings.max_frame_bytes, 2u << 20);
	assert_true(c->settings.seed_set);
	assert_int_equal(c->settings.seed, 17);
	struct conf_settings s;
	assert_int_equal(conf_settings_for(c, "client0", &s, NULL), 0);
	assert_int_equal(s.writes, 9);
	assert_int_equal(conf_settings_for(c, "replica0", &s, NULL), 0);
	assert_int_equal(s.writes, 7);
	conf_diags_free(&d);
	conf_free(c);
}

static void test_curp_forces_weak_zero(void **state)
{
	(void)state;
	struct conf_diags d = {0};
	struct conf *c = NULL;
	assert_int_equal(conf_load_string("w.conf",
					  "-- Replicas --\nreplica0 a\n-- Master --\nm a\n"
					  "protocol: curp\nweakRatio: 50\n",
					  &c, &d),
			 0);
	assert_true(has_diag(&d, false, 0, "forced to 0"));
	struct conf_settings s;
	conf_settings_for(c, NULL, &s, NULL);
	assert_int_equal(s.weak_ratio, 0);
	conf_diags_free(&d);
	conf_free(c);
}

static void test_derived(void **state)
{
	(void)state;
	struct conf_settings s;
	conf_settings_default(&s);
	assert_int_equal(s.protocol, CONF_PROTO_CURPHO);
	assert_int_equal(s.weak_writes, 0); /* 0 means 0, never 50 */
	assert_int_equal(conf_settings_threads(&s), 1);
	s.clones = 3;
	assert_int_equal(conf_settings_threads(&s), 4);
	s.client_threads = 8;
	assert_int_equal(conf_settings_threads(&s), 8);
	assert_int_equal(conf_settings_window(&s), 1);
	s.pipeline = true;
	assert_int_equal(conf_settings_window(&s), 1000);
	s.pendings = 15;
	assert_int_equal(conf_settings_window(&s), 15);
	s.pipeline = false;
	assert_int_equal(conf_settings_window(&s), 1);
	static const struct {
		const char *in;
		int rc;
		uint64_t ms;
	} durs[] = {{"none", 0, 0},	    {"250ms", 0, 250}, {"30s", 0, 30000}, {"5m", 0, 300000},
		    {"1h", 0, 3600000},	    {"1m30s", 0, 90000}, {"10", 0, 10000}, {"1.5s", 0, 1500},
		    {"", -EINVAL, 0},	    {"s", -EINVAL, 0},  {"10x", -EINVAL, 0},
		    {"-5s", -EINVAL, 0}};
	for (size_t i = 0; i < sizeof durs / sizeof durs[0]; i++) {
		uint64_t ms = 12345;
		assert_int_equal(conf_parse_duration_ms(durs[i].in, &ms), durs[i].rc);
		if (durs[i].rc == 0)
			assert_int_equal(ms, durs[i].ms);
	}
	enum conf_protocol p;
	assert_int_equal(conf_protocol_parse("CurpHO", &p), 0);
	assert_int_equal(p, CONF_PROTO_CURPHO);
	assert_int_equal(conf_protocol_parse("raft", &p), -EINVAL);
}

static void test_latency_file(void **state)
{
	(void)state;
	char path[512];
	struct conf_latency l;
	assert_int_equal(conf_latency_load(data_path("compat/latency.conf", path, sizeof path), &l,
					   NULL),
			 0);
	assert_false(l.uniform);
	assert_int_equal(l.n_rows, 225);
	assert_int_equal(conf_latency_oneway_us(&l, "0.0.0.1", "0.0.0.2"), 64000);
	assert_int_equal(conf_latency_oneway_us(&l, "0.0.1.9", "0.0.0.5"), 172000);
	assert_int_equal(conf_latency_oneway_us(&l, "0.0.0.2", "0.0.1.3"), 0);
	assert_int_equal(conf_latency_oneway_us(&l, "0.0.0.1", "0.0.0.1"), 0);
	assert_int_equal(conf_latency_oneway_us(&l, "9.9.9.9", "0.0.0.1"), 0);
	conf_latency_free(&l);
}

static void test_quorum_file(void **state)
{
	(void)state;
	/* quorum.conf names ap-south-1, ap-northeast-1 and us-west-1 (leader): a conf whose
	 * replica aliases are those, with distinct ids, as aws.conf could not have */
	const char *text = "-- Replicas --\n"
			   "ap-south-0 10.0.0.1\nap-south-1 10.0.0.2\nap-northeast-1 10.0.0.3\n"
			   "-- Master --\nm 10.0.0.1\n";
	struct conf *c = NULL;
	struct conf_diags d = {0};
	/* ap-south-1 and ap-northeast-1 collide on id 1: the conf is rejected... */
	assert_int_equal(conf_load_string("q.conf", text, &c, &d), -EINVAL);
	conf_free(c);
	conf_diags_free(&d);
	/* ...so use aliases whose trailing numbers differ */
	text = "-- Replicas --\nap-south-1 10.0.0.1\nap-northeast-2 10.0.0.2\nus-west-0 10.0.0.3\n"
	       "-- Master --\nm 10.0.0.1\n";
	assert_int_equal(conf_load_string("q.conf", text, &c, NULL), 0);
	char dir[] = "/tmp/curpkv-conf-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char qpath[600];
	snprintf(qpath, sizeof qpath, "%s/q", dir);
	FILE *f = fopen(qpath, "w");
	fprintf(f, "ap-south-1\nap-northeast-2\nl us-west-0\n---\nl ap-south-1\n");
	fclose(f);
	int leader = -5;
	assert_int_equal(conf_quorum_load(qpath, c, &leader, NULL), 0);
	assert_int_equal(leader, 0); /* us-west-0 */
	remove(qpath);
	rmdir(dir);
	/* the shipped quorum.conf against a conf that has its aliases */
	char path[512];
	text = "-- Replicas --\nap-south-1 10.0.0.1\nap-northeast-1 10.0.0.2\nus-west-1 10.0.0.3\n";
	conf_free(c);
	c = NULL;
	struct conf_diags d2 = {0};
	conf_load_string("aws-like.conf", text, &c, &d2); /* ids collide: errors, still parsed */
	assert_int_equal(conf_quorum_load(data_path("compat/quorum.conf", path, sizeof path), c,
					  &leader, NULL),
			 0);
	assert_int_equal(leader, 1); /* us-west-1 */
	conf_diags_free(&d2);
	conf_free(c);
}

/* Random and mutated input: never a crash, always 0 or -EINVAL. */
static void test_random_input(void **state)
{
	(void)state;
	char path[512];
	FILE *f = fopen(data_path("compat/multi-client.conf", path, sizeof path), "r");
	assert_non_null(f);
	char base[4096];
	size_t blen = fread(base, 1, sizeof base - 1, f);
	fclose(f);
	base[blen] = 0;
	struct common_rng r;
	common_rng_seed(&r, 7);
	static const char alphabet[] = "-: \n\t#/abcdeprlkyx0123456789()[].,";
	for (int iter = 0; iter < 3000; iter++) {
		char buf[4200];
		size_t len;
		if (iter % 2) {
			len = blen;
			memcpy(buf, base, blen);
			for (int k = 0; k < 1 + (int)common_rng_below(&r, 20); k++)
				buf[common_rng_below(&r, len)] =
					alphabet[common_rng_below(&r, sizeof alphabet - 1)];
		} else {
			len = common_rng_below(&r, 600);
			for (size_t k = 0; k < len; k++)
				buf[k] = (char)(1 + common_rng_below(&r, 255));
		}
		buf[len] = 0;
		struct conf *c = NULL;
		struct conf_diags d = {0};
		int rc = conf_load_string("fuzz.conf", buf, &c, &d);
		assert_true(rc == 0 || rc == -EINVAL);
		if (rc == 0 || c) {
			struct conf_settings s;
			conf_settings_for(c, "client0", &s, &d);
			FILE *null = fopen("/dev/null", "w");
			conf_print(c, &s, null);
			conf_diags_print(&d, null);
			fclose(null);
		}
		conf_diags_free(&d);
		conf_free(c);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_compat_local),
		cmocka_unit_test(test_compat_eval_local),
		cmocka_unit_test(test_compat_multi_client),
		cmocka_unit_test(test_compat_benchmark_5r),
		cmocka_unit_test(test_compat_exp),
		cmocka_unit_test(test_compat_aws),
		cmocka_unit_test(test_bad_files),
		cmocka_unit_test(test_latency_and_quorum_errors),
		cmocka_unit_test(test_comments_and_unknown_keys),
		cmocka_unit_test(test_curp_forces_weak_zero),
		cmocka_unit_test(test_derived),
		cmocka_unit_test(test_latency_file),
		cmocka_unit_test(test_quorum_file),
		cmocka_unit_test(test_random_input),
	};
	return cmocka_run_group_tests_name("conf", tests, NULL, NULL);
}
