/* Unit tests for conf/: every compat conf key by key, broken files with their file:line
 * messages, warning cases, the grammar's variants, Apply-to, validation, printing, latency and
 * quorum files, limits, and random input. Data: $CURPKV_SRCDIR/tests/data (default "."). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/rng.h"
#include "conf/conf.h"
#include "tests/failalloc.h"

/* Three replicas and a master on lines 1-6: a key appended to it is on line 7. */
#define BASE                                                                                       \
	"-- Replicas --\nreplica0 127.0.0.1\nreplica1 127.0.0.1\nreplica2 127.0.0.1\n"             \
	"-- Master --\nmaster0 127.0.0.1\n"

/* ---- helpers ------------------------------------------------------------------------------- */

static const char *data_path(const char *rel, char *buf, size_t len)
{
	const char *src = getenv("CURPKV_SRCDIR");
	snprintf(buf, len, "%s/tests/data/%s", src && *src ? src : ".", rel);
	return buf;
}

/* Writes content to a new temporary file whose name is put in path (PATH_MAX-sized). */
static void write_temp(char *path, size_t plen, const void *content, size_t len)
{
	snprintf(path, plen, "/tmp/curpkv-test-conf-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, len), (ssize_t)len);
	close(fd);
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
	assert_int_equal(a->sched_batch, e->sched_batch);
	assert_int_equal(a->local_sockets, e->local_sockets);
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
	assert_int_equal(a->client_loops, e->client_loops);
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
	assert_int_equal(a->client_lease_ms, e->client_lease_ms);
	assert_int_equal(a->ht_early_weak_reply, e->ht_early_weak_reply);
	assert_int_equal(a->max_frame_bytes, e->max_frame_bytes);
	assert_int_equal(a->max_key_bytes, e->max_key_bytes);
	assert_int_equal(a->max_value_bytes, e->max_value_bytes);
	assert_int_equal(a->max_clients, e->max_clients);
	assert_string_equal(a->secret, e->secret);
	assert_string_equal(a->secret_file, e->secret_file);
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

static void assert_proxy(const struct conf *c, const char *client, int replica, bool local)
{
	const struct conf_host *h = conf_find_client(c, client);
	assert_non_null(h);
	assert_int_equal(h->proxy_replica, replica);
	assert_int_equal(h->proxy_local, local);
}

/* Count of diagnostics of that kind, at that line (-1: any), whose message contains frag. */
static int count_diag(const struct conf_diags *d, bool error, int line, const char *frag)
{
	int n = 0;
	for (size_t i = 0; i < d->n; i++)
		if (d->v[i].error == error && (line < 0 || d->v[i].line == line) &&
		    strstr(d->v[i].msg, frag))
			n++;
	return n;
}

static bool has_diag(const struct conf_diags *d, bool error, int line, const char *frag)
{
	return count_diag(d, error, line, frag) > 0;
}

/* Loads a compat file that must parse without error. */
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
	assert_non_null(c);
	return c;
}

/* Every compat cluster file but aws.conf warns exactly about thrifty and fast (once each). */
static void assert_compat_warnings(const struct conf_diags *d, int thrifty_line, int fast_line,
				   size_t extra)
{
	assert_int_equal(d->n_warnings, 2 + extra);
	assert_int_equal(d->n, 2 + extra);
	assert_true(has_diag(d, false, thrifty_line,
			     "thrifty: accepted for compatibility with the prototype, no effect"));
	assert_true(has_diag(d, false, fast_line, "fast: accepted for compatibility"));
}

/* Text of everything conf_print writes (caller frees). Not inlined: GCC's -Wdangling-pointer
 * misreads open_memstream's out-parameter once it is inlined into the caller. */
__attribute__((noinline)) static char *print_to_string(const struct conf *c, const struct conf_settings *s)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	assert_non_null(m);
	conf_print(c, s, m);
	fclose(m);
	return buf;
}

__attribute__((noinline)) static char *diags_to_string(const struct conf_diags *d)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	assert_non_null(m);
	conf_diags_print(d, m);
	fclose(m);
	return buf;
}

/* ---- the compat files, key by key ----------------------------------------------------------- */

static void test_compat_local(void **state)
{
	(void)state;
	struct conf_diags d;
	struct conf *c = load_ok("compat/local.conf", &d);
	assert_compat_warnings(&d, 18, 19, 0);
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
	for (int i = 0; i < 3; i++)
		assert_false(c->replicas[i].port_explicit);
	assert_int_equal(c->n_clients, 1);
	assert_host(&c->clients[0], "client0", "127.0.0.4", 0, 0);
	assert_proxy(c, "client0", 0, true);
	assert_true(c->has_master);
	assert_host(&c->master, "master0", "127.0.0.1", 7087, 0);
	assert_int_equal(c->n_overrides, 0);
	struct conf_settings s;
	assert_int_equal(conf_settings_for(c, "client0", &s, &d), 0);
	assert_settings_equal(&s, &e);
	assert_int_equal(conf_settings_threads(&s), 1);
	assert_int_equal(conf_settings_window(&s), 1);
	conf_diags_free(&d);
	conf_free(c);
}

static void test_compat_eval_local(void **state)
{
	(void)state;
	struct conf_diags d;
	struct conf *c = load_ok("compat/eval-local.conf", &d);
	assert_compat_warnings(&d, 22, 23, 0);
	struct conf_settings e;
	conf_settings_default(&e);
	e.protocol = CONF_PROTO_CURPHT;
	e.master_port = 7087;
	e.max_desc_routines = 500;
	e.batch_delay_us = 150;
	e.noop = false;
	e.reqs = 5000;
	e.writes = 5;
	e.conflicts = 0;
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
	assert_int_equal(c->n_replicas, 3);
	assert_host(&c->replicas[0], "replica0", "127.0.0.1", 7070, 0);
	assert_host(&c->replicas[1], "replica1", "127.0.0.2", 7071, 1);
	assert_host(&c->replicas[2], "replica2", "127.0.0.3", 7072, 2);
	assert_int_equal(c->n_clients, 3);
	for (int i = 0; i < 3; i++) {
		char alias[16], addr[16];
		snprintf(alias, sizeof alias, "client%d", i);
		snprintf(addr, sizeof addr, "127.0.0.%d", 4 + i);
		assert_host(&c->clients[i], alias, addr, 0, i);
		assert_proxy(c, alias, i, true);
	}
	assert_host(&c->master, "master0", "127.0.0.1", 7087, 0);
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
	assert_compat_warnings(&d, 34, 35, 0);
	struct conf_settings e;
	conf_settings_default(&e);
	e.protocol = proto;
	e.master_port = 7087;
	e.max_desc_routines = 500;
	e.batch_delay_us = 150;
	e.noop = false;
	e.reqs = 10000;
	e.writes = writes;
	e.conflicts = 0;
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
	/* the commented-out 127.0.0.x hosts are not hosts */
	assert_int_equal(c->n_clients, 3);
	assert_host(&c->clients[0], "client0", "130.245.173.103", 0, 0);
	assert_host(&c->clients[1], "client1", "130.245.173.104", 0, 1);
	assert_host(&c->clients[2], "client2", "130.245.173.101", 0, 2);
	assert_proxy(c, "client0", 1, true);
	assert_proxy(c, "client1", 2, true);
	assert_proxy(c, "client2", 0, true);
	assert_host(&c->master, "master0", "130.245.173.103", 7087, 0);
	conf_diags_free(&d);
	conf_free(c);
}

static void test_compat_multi_client(void **state)
{
	(void)state;
	check_multi_client("compat/multi-client.conf", CONF_PROTO_CURPHT, 5, 50, 5);
}

static void test_compat_multi_client_curp(void **state)
{
	(void)state;
	/* weakRatio 0 with curp: nothing to force, no warning */
	check_multi_client("compat/multi-client-curp.conf", CONF_PROTO_CURP, 10, 0, 0);
}

static void test_compat_benchmark_5r(void **state)
{
	(void)state;
	struct conf_diags d;
	struct conf *c = load_ok("compat/benchmark-5r.conf", &d);
	assert_compat_warnings(&d, 29, 30, 0);
	struct conf_settings e;
	conf_settings_default(&e);
	e.protocol = CONF_PROTO_CURPHT;
	e.master_port = 7087;
	e.max_desc_routines = 500;
	e.batch_delay_us = 150;
	e.noop = false;
	e.reqs = 10000;
	e.writes = 5;
	e.conflicts = 0;
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
	static const char *const raddr[] = {"130.245.173.101", "130.245.173.101", "130.245.173.103",
					    "130.245.173.104", "130.245.173.104"};
	assert_int_equal(c->n_replicas, 5);
	assert_int_equal(c->n_clients, 5);
	for (int i = 0; i < 5; i++) {
		char alias[16];
		snprintf(alias, sizeof alias, "replica%d", i);
		/* two replicas per machine: distinct ports 7070+id */
		assert_host(&c->replicas[i], alias, raddr[i], 7070u + (unsigned)i, i);
		snprintf(alias, sizeof alias, "client%d", i);
		assert_host(&c->clients[i], alias, raddr[i], 0, i);
		assert_proxy(c, alias, i, true);
	}
	assert_host(&c->master, "master0", "130.245.173.103", 7087, 0);
	assert_int_equal(conf_settings_threads(&c->settings), 32);
	assert_int_equal(conf_settings_window(&c->settings), 15);
	conf_diags_free(&d);
	conf_free(c);
}

/* The three configs/exp*.conf files share their hosts and most keys. */
static void check_exp(const char *rel, const struct conf_settings *e)
{
	struct conf_diags d;
	struct conf *c = load_ok(rel, &d);
	int thrifty = strstr(rel, "tao") ? 42 : 32;
	int proxy0 = strstr(rel, "tao") ? 62 : 52;
	/* thrifty, fast, and the three "clientN <address>" Proxy lines (served by, not
	 * co-located: the address is ignored, with a warning) */
	assert_compat_warnings(&d, thrifty, thrifty + 1, 3);
	for (int i = 0; i < 3; i++)
		assert_true(has_diag(&d, false, proxy0 + 2 * i, "the address is ignored"));
	assert_settings_equal(&c->settings, e);
	static const char *const raddr[] = {"34.236.191.149", "18.221.173.128", "16.147.240.15",
					    "108.130.8.61", "35.183.203.84"};
	static const char *const caddr[] = {"54.161.47.1", "3.16.31.48", "35.91.202.195"};
	assert_int_equal(c->n_replicas, 5);
	for (int i = 0; i < 5; i++) {
		char alias[16];
		snprintf(alias, sizeof alias, "replica%d", i);
		assert_host(&c->replicas[i], alias, raddr[i], 7070u + (unsigned)i, i);
	}
	assert_int_equal(c->n_clients, 3);
	for (int i = 0; i < 3; i++) {
		char alias[16];
		snprintf(alias, sizeof alias, "client%d", i);
		assert_host(&c->clients[i], alias, caddr[i], 0, i);
		assert_proxy(c, alias, i, false);
	}
	assert_host(&c->master, "master0", "18.221.173.128", 7087, 0);
	conf_diags_free(&d);
	conf_free(c);
}

static void exp_common(struct conf_settings *e)
{
	conf_settings_default(e);
	e->master_port = 7087;
	e->max_desc_routines = 500;
	e->batch_delay_us = 150;
	e->noop = false;
	e->command_size = 100;
	e->client_threads = 32;
	e->pipeline = true;
	e->pendings = 15;
	e->network_delay_ms = 0;
	e->key_space = 1000000;
}

static void test_compat_exp3_1(void **state)
{
	(void)state;
	struct conf_settings e;
	exp_common(&e);
	e.protocol = CONF_PROTO_CURPHO;
	e.weak_ratio = 50;
	e.writes = 5;
	e.weak_writes = 5;
	e.reqs = 3000;
	e.zipf_skew = 0;
	check_exp("compat/configs_exp3.1-base.conf", &e);
}

static void test_compat_exp3_2(void **state)
{
	(void)state;
	struct conf_settings e;
	exp_common(&e);
	e.protocol = CONF_PROTO_CURPHT;
	e.weak_ratio = 50;
	e.writes = 50;
	e.weak_writes = 50;
	e.reqs = 5000;
	e.zipf_skew = 0.99;
	check_exp("compat/configs_exp3.2-base.conf", &e);
}

static void test_compat_exp_tao(void **state)
{
	(void)state;
	struct conf_settings e;
	exp_common(&e);
	e.protocol = CONF_PROTO_CURPHO;
	e.writes = 20;
	e.weak_ratio = 95;
	e.weak_writes = 0; /* 0 means 0: no silent 50 */
	e.scan_ratio = 44;
	e.scan_count = 1000;
	e.reqs = 5000;
	e.zipf_skew = 0.8;
	check_exp("compat/configs_exp-tao.conf", &e);
}

/* aws.conf is the upstream SwiftPaxos example: its protocol is not ours and its region aliases
 * give colliding replica ids. It must fail with exactly those errors, yet expose what it
 * parsed. */
static void test_compat_aws(void **state)
{
	(void)state;
	char path[512];
	struct conf_diags d = {0};
	struct conf *c = NULL;
	assert_int_equal(conf_load(data_path("compat/aws.conf", path, sizeof path), &c, &d),
			 -EINVAL);
	assert_non_null(c);
	assert_int_equal(d.n_errors, 4);
	assert_true(has_diag(&d, true, 32,
			     "protocol: 'SwiftPaxos' is not supported (accepted: curp, curpho, "
			     "curpht)"));
	assert_true(has_diag(&d, true, 5,
			     "replica 'ap-northeast-1' has id 1, like 'ap-south-1' on "
			     "line 4"));
	assert_true(has_diag(&d, true, 7,
			     "replica 'us-west-1' has id 1, like 'ap-south-1' on "
			     "line 4"));
	assert_true(has_diag(&d, true, 8,
			     "replica 'af-south-1' has id 1, like 'ap-south-1' on "
			     "line 4"));
	/* thrifty, optread, leaderless, fast, and waitClosest once for its two Apply-to lines */
	assert_int_equal(d.n_warnings, 5);
	assert_true(has_diag(&d, false, 36, "thrifty: accepted"));
	assert_true(has_diag(&d, false, 37, "optread: accepted"));
	assert_true(has_diag(&d, false, 38, "leaderless: accepted"));
	assert_true(has_diag(&d, false, 39, "fast: accepted"));
	assert_true(has_diag(&d, false, 61, "waitClosest: accepted"));
	assert_false(has_diag(&d, false, 64, "waitClosest"));

	struct conf_settings e;
	conf_settings_default(&e); /* protocol stays the default: SwiftPaxos was refused */
	e.master_port = 7087;
	e.noop = false;
	e.reqs = 1000;
	e.run_time_ms = 0; /* "none" */
	e.writes = 100;
	e.conflicts = 2;
	e.command_size = 1000;
	e.clones = 99;
	e.key = 42;
	e.pipeline = false;
	e.pendings = 10000;
	assert_settings_equal(&c->settings, &e);
	assert_int_equal(conf_settings_threads(&c->settings), 100);
	assert_int_equal(conf_settings_window(&c->settings), 1);

	/* sorted by id, then by line */
	assert_int_equal(c->n_replicas, 5);
	assert_host(&c->replicas[0], "ap-south-1", "0.0.0.1", 7071, 1);
	assert_host(&c->replicas[1], "ap-northeast-1", "0.0.0.2", 7071, 1);
	assert_host(&c->replicas[2], "us-west-1", "0.0.0.4", 7071, 1);
	assert_host(&c->replicas[3], "af-south-1", "0.0.0.5", 7071, 1);
	assert_host(&c->replicas[4], "eu-west-3", "0.0.0.3", 7073, 3);
	static const char *const clients[] = {
	    "ap-east-1", "ap-northeast-1", "ap-southeast-2", "eu-west-1", "ca-central-1",
	    "sa-east-1", "us-east-1",	   "us-east-2",	     "us-west-1", "us-west-2"};
	assert_int_equal(c->n_clients, 10);
	for (int i = 0; i < 10; i++) {
		char addr[16];
		snprintf(addr, sizeof addr, "0.0.1.%d", i + 1);
		assert_host(&c->clients[i], clients[i], addr, 0, i);
	}
	assert_host(&c->master, "us-west-1", "0.0.2.1", 7087, 0);

	/* the two Apply-to sections */
	assert_int_equal(c->n_overrides, 2);
	assert_string_equal(c->overrides[0].alias, "ap-northeast-1");
	assert_string_equal(c->overrides[0].key, "waitClosest");
	assert_string_equal(c->overrides[0].value, "true");
	assert_int_equal(c->overrides[0].line, 61);
	assert_string_equal(c->overrides[1].alias, "us-west-1");
	assert_string_equal(c->overrides[1].key, "waitClosest");
	assert_int_equal(c->overrides[1].line, 64);
	struct conf_settings s;
	assert_int_equal(conf_settings_for(c, "US-WEST-1", &s, NULL), 0);
	assert_settings_equal(&s, &e); /* waitClosest has no effect */

	/* Proxy: groups of ap-northeast-1 (id 1), eu-west-3 (id 3) and us-west-1 (id 1) */
	assert_proxy(c, "ap-east-1", 1, false);
	assert_proxy(c, "ap-northeast-1", 1, true);
	assert_proxy(c, "ap-southeast-2", 1, false);
	assert_proxy(c, "eu-west-1", 3, false);
	assert_proxy(c, "ca-central-1", 1, false);
	assert_proxy(c, "sa-east-1", 1, false);
	assert_proxy(c, "us-east-1", 1, false);
	assert_proxy(c, "us-east-2", 1, false);
	assert_proxy(c, "us-west-1", 1, true);
	assert_proxy(c, "us-west-2", 1, false);
	conf_diags_free(&d);
	conf_free(c);
}

static void test_compat_latency(void **state)
{
	(void)state;
	char path[512];
	struct conf_latency l;
	struct conf_diags d = {0};
	assert_int_equal(
	    conf_latency_load(data_path("compat/latency.conf", path, sizeof path), &l, &d), 0);
	assert_int_equal(d.n, 0);
	assert_false(l.uniform);
	assert_int_equal(l.n_rows, 225); /* the full 15 x 15 matrix of aws.conf's addresses */
	assert_string_equal(l.rows[0].a, "0.0.0.1");
	assert_string_equal(l.rows[0].b, "0.0.0.1");
	assert_int_equal(l.rows[0].rtt_us, 0);
	assert_string_equal(l.rows[1].a, "0.0.0.1");
	assert_string_equal(l.rows[1].b, "0.0.0.2");
	assert_int_equal(l.rows[1].rtt_us, 128000);
	assert_int_equal(l.rows[224].rtt_us, 0); /* 0.0.1.10 0.0.1.10 */
	assert_int_equal(conf_latency_oneway_us(&l, "0.0.0.1", "0.0.0.2"), 64000);
	assert_int_equal(conf_latency_oneway_us(&l, "0.0.0.2", "0.0.0.1"), 64000);
	assert_int_equal(conf_latency_oneway_us(&l, "0.0.0.1", "0.0.0.4"), 115500); /* 231ms */
	assert_int_equal(conf_latency_oneway_us(&l, "0.0.1.9", "0.0.0.5"), 172000); /* 344ms */
	assert_int_equal(conf_latency_oneway_us(&l, "0.0.1.10", "0.0.1.2"), 27000); /* 54ms */
	assert_int_equal(conf_latency_oneway_us(&l, "0.0.0.2", "0.0.1.3"), 0);	    /* listed 0ms */
	assert_int_equal(conf_latency_oneway_us(&l, "0.0.0.1", "0.0.0.1"), 0);
	assert_int_equal(conf_latency_oneway_us(&l, "9.9.9.9", "0.0.0.1"), 0);
	conf_latency_free(&l);
}

/* quorum.conf names ap-south-1, ap-northeast-1 and "l us-west-1" (the leader). */
static void test_compat_quorum(void **state)
{
	(void)state;
	char path[512], qpath[512];
	data_path("compat/quorum.conf", qpath, sizeof qpath);
	int leader = -5;

	/* against aws.conf itself: it has errors (id collisions), but its aliases resolve */
	struct conf *c = NULL;
	struct conf_diags d = {0};
	assert_int_equal(conf_load(data_path("compat/aws.conf", path, sizeof path), &c, &d),
			 -EINVAL);
	conf_diags_free(&d);
	assert_int_equal(conf_quorum_load(qpath, c, &leader, &d), 0);
	assert_int_equal(leader, 1);
	assert_int_equal(d.n, 0);
	conf_free(c);

	/* a valid aws-like conf cannot hold all three of its aliases (they all end in 1), so it
	 * is rejected for the collision, yet the quorum still resolves... */
	const char *aws_like = "-- Replicas --\n"
			       "ap-south-1 10.0.0.1\nap-northeast-1 10.0.0.2\nus-west-1 10.0.0.3\n"
			       "-- Master --\nm0 10.0.0.1\n";
	assert_int_equal(conf_load_string("aws-like.conf", aws_like, &c, &d), -EINVAL);
	assert_int_equal(d.n_errors, 2); /* the two collisions */
	conf_diags_free(&d);
	conf_free(c);

	/* ...while a valid one whose leader is us-west-1 (id 1) gives that leader */
	const char *valid = "-- Replicas --\n"
			    "ap-south-0 10.0.0.1\nus-west-1 10.0.0.3\neu-west-2 10.0.0.2\n"
			    "-- Master --\nm0 10.0.0.1\n";
	assert_int_equal(conf_load_string("aws-valid.conf", valid, &c, &d), 0);
	const char *q = "ap-south-0\neu-west-2\nl us-west-1\n";
	write_temp(path, sizeof path, q, strlen(q));
	assert_int_equal(conf_quorum_load(path, c, &leader, &d), 0);
	assert_int_equal(leader, 1);
	assert_string_equal(conf_replica_by_id(c, leader)->alias, "us-west-1");
	unlink(path);
	/* the shipped file against it: ap-south-1 and ap-northeast-1 are not its replicas */
	assert_int_equal(conf_quorum_load(qpath, c, &leader, &d), -EINVAL);
	assert_true(has_diag(&d, true, 1, "'ap-south-1' is not a replica of aws-valid.conf"));
	assert_true(has_diag(&d, true, 2, "'ap-northeast-1' is not a replica"));
	assert_int_equal(leader, 1);
	conf_diags_free(&d);
	conf_free(c);
}

/* ---- broken files -----------------------------------------------------------------------------
 */

enum bad_kind { BAD_CONF, BAD_LATENCY, BAD_QUORUM };

struct bad_case {
	enum bad_kind kind;
	const char *file; /* under tests/data */
	int line;	  /* 0: a whole-file message */
	const char *frag;
};

static void test_bad_file(void **state)
{
	const struct bad_case *b = *state;
	char path[512];
	data_path(b->file, path, sizeof path);
	struct conf_diags d = {0};
	struct conf *c = NULL;
	int rc;
	switch (b->kind) {
	case BAD_CONF:
		rc = conf_load(path, &c, &d);
		assert_non_null(c); /* still there for inspection */
		break;
	case BAD_LATENCY: {
		struct conf_latency l;
		rc = conf_latency_load(path, &l, &d);
		assert_int_equal(l.n_rows, 0);
		assert_null(l.rows);
		break;
	}
	case BAD_QUORUM: {
		assert_int_equal(conf_load_string("q.conf", BASE, &c, NULL), 0);
		int leader;
		rc = conf_quorum_load(path, c, &leader, &d);
		break;
	}
	default:
		rc = 0;
	}
	if (rc != -EINVAL || !has_diag(&d, true, b->line, b->frag)) {
		fprintf(stderr, "%s: wanted an error at line %d containing '%s'; got %d:\n",
			b->file, b->line, b->frag, rc);
		conf_diags_print(&d, stderr);
	}
	assert_int_equal(rc, -EINVAL);
	assert_true(d.n_errors >= 1);
	assert_true(has_diag(&d, true, b->line, b->frag));
	/* the printed form names file:line */
	char *text = diags_to_string(&d);
	char where[700];
	if (b->line > 0)
		snprintf(where, sizeof where, "%s:%d: error: ", path, b->line);
	else
		snprintf(where, sizeof where, "%s: error: ", path);
	assert_non_null(strstr(text, where));
	assert_non_null(strstr(text, b->frag));
	free(text);
	conf_diags_free(&d);
	conf_free(c);
}

#define BAD_CASES(X)                                                                               \
	X(BAD_CONF, "bad/bad-percent.conf", 7, "writes: 150 is not a percentage (0-100)")          \
	X(BAD_CONF, "bad/bad-bool.conf", 7, "pipeline: 'maybe' is not a boolean")                  \
	X(BAD_CONF, "bad/bad-duration.conf", 7, "runTime: '10parsecs' is not a duration")          \
	X(BAD_CONF, "bad/bad-protocol.conf", 7,                                                    \
	  "protocol: 'paxos' is not supported (accepted: curp, curpho, curpht)")                   \
	X(BAD_CONF, "bad/even-replicas.conf", 0,                                                   \
	  "2 replicas: the CURP protocols need an odd number")                                     \
	X(BAD_CONF, "bad/duplicate-id.conf", 4,                                                    \
	  "replica 'node1' has id 1, like 'replica1' on line 3")                                   \
	X(BAD_CONF, "bad/alias-no-digits.conf", 4,                                                 \
	  "replica alias 'leader' does not end with its id")                                       \
	X(BAD_CONF, "bad/port-range.conf", 2,                                                      \
	  "host 'replica0': port 70000 is out of range (1-65535)")                                 \
	X(BAD_CONF, "bad/shards-not-pow2.conf", 7,                                                 \
	  "shards: 100 is not a power of two in 1..65536")                                         \
	X(BAD_CONF, "bad/shards-too-large.conf", 7,                                                \
	  "shards: 131072 is not a power of two in 1..65536")                                      \
	X(BAD_CONF, "bad/missing-value.conf", 7, "reqs: missing value")                            \
	X(BAD_CONF, "bad/missing-value-comment.conf", 7, "reqs: missing value")                    \
	X(BAD_CONF, "bad/unknown-section.conf", 7, "unknown section 'Servers'")                    \
	X(BAD_CONF, "bad/proxy-before-server.conf", 10,                                            \
	  "Proxy: client 'client0' before any server_alias line")                                  \
	X(BAD_CONF, "bad/proxy-unknown-replica.conf", 10,                                          \
	  "Proxy: server_alias 'replica9' is not a replica")                                       \
	X(BAD_CONF, "bad/proxy-unknown-client.conf", 11, "Proxy: 'client7' is not a client")       \
	X(BAD_CONF, "bad/proxy-conflict.conf", 13,                                                 \
	  "client 'client0' is already served by 'replica0' (line 11)")                            \
	X(BAD_CONF, "bad/overlong-line.conf", 7, "line longer than 4096 bytes")                    \
	X(BAD_CONF, "bad/no-master.conf", 0, "no master: the cluster cannot start")                \
	X(BAD_CONF, "bad/no-replicas.conf", 0, "no replicas")                                      \
	X(BAD_CONF, "bad/bad-zipf.conf", 7, "zipfSkew: -1 is not a number in 0..100")              \
	X(BAD_CONF, "bad/bad-apply.conf", 8, "writes: 101 is not a percentage (0-100)")            \
	X(BAD_CONF, "bad/bad-apply-header.conf", 7,                                                \
	  "'-- Apply to <alias> --' needs exactly one alias")                                      \
	X(BAD_CONF, "bad/bad-size.conf", 7, "maxValueBytes: 12X is not a size in 1..536870912")    \
	X(BAD_CONF, "bad/replica-loops-range.conf", 7,                                             \
	  "replicaLoops: 65 is not an integer in 1..64")                                           \
	X(BAD_CONF, "bad/master-port-range.conf", 7, "masterPort: 0 is not a port (1-65535)")      \
	X(BAD_CONF, "bad/command-size-limit.conf", 7,                                              \
	  "commandSize: 100000 is larger than maxValueBytes (65536)")                              \
	X(BAD_CONF, "bad/frame-too-small.conf", 7,                                                 \
	  "maxFrameBytes: 65536 cannot carry maxValueBytes + maxKeyBytes + 1024 = 67584")          \
	X(BAD_CONF, "bad/reqs-zero.conf", 7, "reqs: 0 without runTime")                            \
	X(BAD_CONF, "bad/heartbeat-order.conf", 8,                                                 \
	  "leaderTimeoutMs: 400 must exceed heartbeatMs (500)")                                    \
	X(BAD_CONF, "bad/lease-too-short.conf", 7,                                                 \
	  "clientLeaseMs: 99 is below 100 ms (0 = never expire)")                                  \
	X(BAD_CONF, "bad/bad-seed.conf", 7, "seed: -3 is not an unsigned 64-bit integer")          \
	X(BAD_CONF, "bad/same-addr-port.conf", 3,                                                  \
	  "replica 'replica1' listens on 127.0.0.1:7070, like 'replica0' on line 2")               \
	X(BAD_CONF, "bad/master-port-clash.conf", 6,                                               \
	  "master 'master0' listens on 127.0.0.1:7071, like replica 'replica1' on line 3")         \
	X(BAD_CONF, "bad/bad-address.conf", 3, "host 'replica1': bad address '127.0.0.300'")       \
	X(BAD_CONF, "bad/bad-alias.conf", 6, "alias 'client(0)': only letters, digits")            \
	X(BAD_CONF, "bad/duplicate-client.conf", 8,                                                \
	  "client alias 'client0' is already used on line 6")                                      \
	X(BAD_CONF, "bad/id-gap.conf", 4,                                                          \
	  "replica 'replica5' has id 5: with 3 replicas the ids must be 0..2")                     \
	X(BAD_CONF, "bad/too-many-replicas.conf", 0, "17 replicas: at most 15 are supported")      \
	X(BAD_CONF, "bad/nul-byte.conf", 7, "NUL byte in the file")                                \
	X(BAD_LATENCY, "bad/bad-latency.lat", 2, "expected '<addrA> <addrB> <rtt>'")               \
	X(BAD_LATENCY, "bad/bad-latency-unit.lat", 2, "'40' is not an RTT")                        \
	X(BAD_QUORUM, "bad/bad-quorum.quorum", 2, "'replica7' is not a replica of q.conf")         \
	X(BAD_QUORUM, "bad/bad-quorum-tokens.quorum", 2, "expected '<alias>' or '<marker> <alias>'")

/* ---- warnings: the file is used anyway --------------------------------------------------------
 */

static void test_warn_unknown_keys(void **state)
{
	(void)state;
	struct conf_diags d;
	struct conf *c = load_ok("warn/unknown-key.conf", &d);
	assert_int_equal(d.n_warnings, 4);
	assert_int_equal(d.n, 4);
	/* key-shaped lines among hosts are misspelled keys, never hosts */
	assert_true(has_diag(&d, false, 5, "unknown key 'netwrkDelay' ignored"));
	assert_true(has_diag(&d, false, 8, "unknown key 'batchSize' ignored"));
	assert_true(has_diag(&d, false, 13, "unknown key 'pipline' ignored"));
	/* a host line after a key line of its section is not a host either */
	assert_true(has_diag(&d, false, 14,
			     "unknown key 'master1' ignored (host lines must come "
			     "before the first key line of their section)"));
	assert_int_equal(c->n_replicas, 3);
	assert_int_equal(c->n_clients, 2); /* the host list stayed open after the unknown keys */
	assert_host(&c->clients[0], "client0", "127.0.0.4", 0, 0);
	assert_host(&c->clients[1], "client1", "127.0.0.5", 0, 1);
	assert_null(conf_find_client(c, "netwrkdelay:"));
	assert_null(conf_find_client(c, "batchsize"));
	assert_host(&c->master, "master0", "127.0.0.1", 7087, 0);
	assert_int_equal(c->settings.reqs, 500);
	assert_int_equal(c->settings.network_delay_ms, 0);
	assert_false(c->settings.pipeline);
	char *text = diags_to_string(&d);
	assert_non_null(
	    strstr(text, "unknown-key.conf:13: warning: unknown key 'pipline' ignored\n"));
	free(text);
	conf_diags_free(&d);
	conf_free(c);
}

static void test_warn_comments(void **state)
{
	(void)state;
	/* '#' and '//' comment lines and trailing comments, CRLF line ends: no diagnostics, and
	 * no host named '#' (the prototype made one) */
	struct conf_diags d;
	struct conf *c = load_ok("warn/comments.conf", &d);
	assert_int_equal(d.n, 0);
	assert_int_equal(c->n_replicas, 3);
	assert_host(&c->replicas[0], "replica0", "127.0.0.1", 7070, 0);
	assert_host(&c->replicas[1], "replica1", "127.0.0.2", 7071, 1);
	assert_host(&c->replicas[2], "replica2", "127.0.0.3", 7072, 2);
	assert_int_equal(c->n_clients, 1);
	assert_host(&c->clients[0], "client0", "127.0.0.4", 0, 0);
	assert_null(conf_find_client(c, "#"));
	assert_null(conf_replica_by_id(c, 9));
	assert_proxy(c, "client0", 0, true);
	assert_host(&c->master, "master0", "127.0.0.1", 7087, 0);
	assert_int_equal(c->settings.writes, 15);
	assert_int_equal(c->settings.weak_ratio, 20);
	assert_int_equal(c->settings.reqs, 70);
	conf_diags_free(&d);
	conf_free(c);
}

static void test_warn_compat_once(void **state)
{
	(void)state;
	struct conf_diags d;
	struct conf *c = load_ok("warn/compat-keys.conf", &d);
	/* one warning per key and file, at its first line, Apply-to sections included */
	assert_int_equal(d.n_warnings, 5);
	assert_true(has_diag(&d, false, 5, "thrifty: accepted for compatibility"));
	assert_true(has_diag(&d, false, 6, "fast: accepted"));
	assert_true(has_diag(&d, false, 8, "optread: accepted"));
	assert_true(has_diag(&d, false, 9, "leaderless: accepted"));
	assert_true(has_diag(&d, false, 12, "waitClosest: accepted"));
	assert_int_equal(count_diag(&d, false, -1, "thrifty"), 1);
	assert_int_equal(count_diag(&d, false, -1, "waitClosest"), 1);
	assert_int_equal(c->n_overrides, 2);
	struct conf_settings s, e;
	conf_settings_default(&e);
	assert_settings_equal(&c->settings, &e); /* no effect */
	assert_int_equal(conf_settings_for(c, "replica0", &s, &d), 0);
	assert_settings_equal(&s, &e);
	assert_int_equal(d.n_warnings, 5); /* applying the overrides does not warn again */
	conf_diags_free(&d);
	conf_free(c);
}

/* ---- grammar ------------------------------------------------------------------------------------
 */

static void test_key_forms(void **state)
{
	(void)state;
	const char *text = BASE "writes: 1\n"		 /* 7 */
				"weakRatio 2\n"		 /* 8 */
				"weakWrites:3\n"	 /* 9 */
				"conflicts : 4\n"	 /* 10 */
				"scanRatio :5\n"	 /* 11 */
				"SCANCOUNT: 6\n"	 /* 12 */
				"  \t keySpace:\t7   \n" /* 13 */
				"reqs: 8 9\n"		 /* 14: extra text */
				"\n"
				"   \n";
	struct conf_diags d = {0};
	struct conf *c = NULL;
	assert_int_equal(conf_load_string("forms.conf", text, &c, &d), 0);
	assert_int_equal(c->settings.writes, 1);
	assert_int_equal(c->settings.weak_ratio, 2);
	assert_int_equal(c->settings.weak_writes, 3);
	assert_int_equal(c->settings.conflicts, 4);
	assert_int_equal(c->settings.scan_ratio, 5);
	assert_int_equal(c->settings.scan_count, 6);
	assert_int_equal(c->settings.key_space, 7);
	assert_int_equal(c->settings.reqs, 8);
	assert_int_equal(d.n, 1);
	assert_true(has_diag(&d, false, 14, "reqs: extra text after the value ignored"));
	conf_diags_free(&d);
	conf_free(c);

	/* headers: case, spacing, dashes */
	text =
	    "--REPLICAS--\nreplica0 a\n--   clients   --\nc0 b\n-- MaStEr\nm0 a\n---- Proxy ----\n"
	    "server_alias REPLICA0\nC0 (LOCAL)\n-----\nwrites: 9\n";
	assert_int_equal(conf_load_string("headers.conf", text, &c, &d), 0);
	assert_int_equal(d.n, 0);
	assert_int_equal(c->n_replicas, 1);
	assert_int_equal(c->n_clients, 1);
	assert_true(c->has_master);
	assert_proxy(c, "c0", 0, true);
	assert_int_equal(c->settings.writes, 9);
	conf_diags_free(&d);
	conf_free(c);

	/* keys before any section are global; keys may sit in any host section after its hosts */
	text = "writes: 3\n-- Replicas --\nreplica0 a\nreqs: 5\n-- Master --\nm0 a\npendings 7\n";
	assert_int_equal(conf_load_string("order.conf", text, &c, &d), 0);
	assert_int_equal(c->settings.writes, 3);
	assert_int_equal(c->settings.reqs, 5);
	assert_int_equal(c->settings.pendings, 7);
	conf_diags_free(&d);
	conf_free(c);

	/* an unknown section is an error; known keys below it still count, other lines are
	 * not reported one by one */
	text = BASE "-- Servers --\nserver0 10.0.0.1\nwrites: 4\n";
	assert_int_equal(conf_load_string("unk.conf", text, &c, &d), -EINVAL);
	assert_int_equal(d.n, 1);
	assert_true(has_diag(&d, true, 7,
			     "unknown section 'Servers' (Replicas, Clients, Master, "
			     "Proxy, Apply to <alias>)"));
	assert_int_equal(c->settings.writes, 4);
	conf_diags_free(&d);
	conf_free(c);

	/* a header without a name */
	assert_int_equal(conf_load_string("h.conf", BASE "-- --\n", &c, &d), -EINVAL);
	assert_true(has_diag(&d, true, 7, "section header without a name"));
	conf_diags_free(&d);
	conf_free(c);

	/* more than 16 tokens on a line */
	assert_int_equal(conf_load_string("t.conf",
					  BASE "writes: 1 2 3 4 5 6 7 8 9 10 11 12 13 "
					       "14 15 16 17\n",
					  &c, &d),
			 0);
	assert_true(has_diag(&d, false, 7, "more than 16 tokens"));
	assert_int_equal(c->settings.writes, 1);
	conf_diags_free(&d);
	conf_free(c);

	/* a line that is only a colon, or starts with one */
	assert_int_equal(conf_load_string("t.conf", BASE ": 5\n", &c, &d), 0);
	assert_true(has_diag(&d, false, 7, "is not a key line; ignored"));
	conf_diags_free(&d);
	conf_free(c);
}

static void test_hosts(void **state)
{
	(void)state;
	const char *text = "-- REPLICAS --\n"
			   "Replica2 [::1]:9002\n"
			   "replica0 10.1.2.3\n"
			   "replica1 node-1.example.com:9001\n"
			   "-- Clients --\n"
			   "client0 ::1\n"
			   "client1 [fe80::1%eth0]\n"
			   "client2 host_2\n"
			   "client3 10.0.0.9:5000\n"
			   "-- master --\n"
			   "Master0 localhost:9999\n"
			   "masterPort: 7000\n";
	struct conf_diags d = {0};
	struct conf *c = NULL;
	assert_int_equal(conf_load_string("hosts.conf", text, &c, &d), 0);
	assert_int_equal(d.n, 0);
	/* sorted by id, aliases lower-cased, brackets removed */
	assert_int_equal(c->n_replicas, 3);
	assert_host(&c->replicas[0], "replica0", "10.1.2.3", 7070, 0);
	assert_false(c->replicas[0].port_explicit);
	assert_int_equal(c->replicas[0].line, 3);
	assert_host(&c->replicas[1], "replica1", "node-1.example.com", 9001, 1);
	assert_true(c->replicas[1].port_explicit);
	assert_host(&c->replicas[2], "replica2", "::1", 9002, 2);
	assert_int_equal(c->replicas[2].line, 2);
	assert_int_equal(c->n_clients, 4);
	assert_host(&c->clients[0], "client0", "::1", 0, 0);
	assert_host(&c->clients[1], "client1", "fe80::1%eth0", 0, 1);
	assert_host(&c->clients[2], "client2", "host_2", 0, 2);
	assert_host(&c->clients[3], "client3", "10.0.0.9", 5000, 3);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(c->clients[i].proxy_replica, -1);
		assert_false(c->clients[i].proxy_local);
	}
	/* an explicit master port wins over masterPort */
	assert_host(&c->master, "master0", "localhost", 9999, 0);
	assert_true(c->master.port_explicit);
	assert_int_equal(c->settings.master_port, 7000);
	/* lookups, case-insensitive */
	assert_ptr_equal(conf_find_replica(c, "REPLICA2"), &c->replicas[2]);
	assert_ptr_equal(conf_replica_by_id(c, 1), &c->replicas[1]);
	assert_null(conf_replica_by_id(c, 3));
	assert_ptr_equal(conf_find_client(c, "Client1"), &c->clients[1]);
	assert_null(conf_find_client(c, "replica0"));
	assert_null(conf_find_replica(c, "client0"));
	assert_null(conf_find_replica(c, NULL));
	conf_diags_free(&d);
	conf_free(c);

	/* masterPort applies to a master without a port, wherever the key is */
	text = "masterPort: 7100\n-- Replicas --\nreplica0 a\n-- Master --\nm0 b\n";
	assert_int_equal(conf_load_string("m.conf", text, &c, &d), 0);
	assert_host(&c->master, "m0", "b", 7100, 0);
	conf_diags_free(&d);
	conf_free(c);

	/* a second master line replaces the first, with a warning; extra host text warns */
	text = "-- Replicas --\nreplica0 a x\n-- Master --\nm0 a\nm1 b\n";
	assert_int_equal(conf_load_string("m.conf", text, &c, &d), 0);
	assert_true(has_diag(&d, false, 2, "extra text after host 'replica0' ignored"));
	assert_true(has_diag(&d, false, 5, "a second master line replaces the one on line 4"));
	assert_host(&c->master, "m1", "b", 7087, 0);
	conf_diags_free(&d);
	conf_free(c);

	/* bad host lines */
	static const struct {
		const char *line;
		const char *frag;
	} bad[] = {
	    {"replica3", "host 'replica3' has no address"},
	    {"replica3 1.2.3", "bad address '1.2.3'"},
	    {"replica3 [::1", "bad address '[::1'"},
	    {"replica3 []:70", "bad address '[]:70'"},
	    {"replica3 [::1]x", "bad address"},
	    {"replica3 a:b", "bad address 'a:b'"},
	    {"replica3 a:", "bad address 'a:'"},
	    {"replica3 a:0", "port 0 is out of range (1-65535)"},
	    {"replica3 a:99999999999", "port 99999999999 is out of range (1-65535)"},
	    {"replica3 gg::1", "bad address 'gg::1'"},
	    {"replica3 -host", "bad address '-host'"},
	    {"replica3 ho$t", "bad address 'ho$t'"},
	    {"replica99999 a", "replica alias 'replica99999': id too large"},
	    {"replica65500 a", "default port 7070+65500 is out of range"},
	    {"re/plica3 a", "alias 're/plica3': only letters"},
	    {"replica3xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx3 a",
	     "is longer than 63 bytes"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char buf[512];
		snprintf(buf, sizeof buf, "-- Replicas --\nreplica0 a\n%s\n-- Master --\nm a\n",
			 bad[i].line);
		assert_int_equal(conf_load_string("bad.conf", buf, &c, &d), -EINVAL);
		if (!has_diag(&d, true, 3, bad[i].frag)) {
			fprintf(stderr, "'%s': wanted '%s'\n", bad[i].line, bad[i].frag);
			conf_diags_print(&d, stderr);
		}
		assert_true(has_diag(&d, true, 3, bad[i].frag));
		assert_int_equal(c->n_replicas, 1);
		conf_diags_free(&d);
		conf_free(c);
	}
}

/* One key line appended to BASE (line 7): accepted with the value read back, or refused with
 * a message fragment. */
enum vkind { V_U16, V_U32, V_U64, V_BOOL, V_DBL, V_STR, V_PROTO, V_SEED };

struct vcase {
	const char *line;
	const char *err; /* NULL: accepted */
	enum vkind kind;
	size_t off;
	uint64_t u;
	double dbl;
	const char *str;
};

#define OK_U16(l, f, v)                                                                            \
	{                                                                                          \
		l, NULL, V_U16, offsetof(struct conf_settings, f), v, 0, NULL                      \
	}
#define OK_U32(l, f, v)                                                                            \
	{                                                                                          \
		l, NULL, V_U32, offsetof(struct conf_settings, f), v, 0, NULL                      \
	}
#define OK_U64(l, f, v)                                                                            \
	{                                                                                          \
		l, NULL, V_U64, offsetof(struct conf_settings, f), v, 0, NULL                      \
	}
#define OK_BOOL(l, f, v)                                                                           \
	{                                                                                          \
		l, NULL, V_BOOL, offsetof(struct conf_settings, f), v, 0, NULL                     \
	}
#define OK_DBL(l, f, v)                                                                            \
	{                                                                                          \
		l, NULL, V_DBL, offsetof(struct conf_settings, f), 0, v, NULL                      \
	}
#define OK_STR(l, f, v)                                                                            \
	{                                                                                          \
		l, NULL, V_STR, offsetof(struct conf_settings, f), 0, 0, v                         \
	}
#define OK_PROTO(l, v)                                                                             \
	{                                                                                          \
		l, NULL, V_PROTO, 0, v, 0, NULL                                                    \
	}
#define OK_SEED(l, set, v)                                                                         \
	{                                                                                          \
		l, NULL, V_SEED, 0, v, set, NULL                                                   \
	}
#define BAD(l, e)                                                                                  \
	{                                                                                          \
		l, e, V_U32, 0, 0, 0, NULL                                                         \
	}

static const struct vcase value_cases[] = {
    OK_PROTO("protocol: curp", CONF_PROTO_CURP),
    OK_PROTO("protocol: CURPHO", CONF_PROTO_CURPHO),
    OK_PROTO("Protocol CurpHT", CONF_PROTO_CURPHT),
    BAD("protocol: SwiftPaxos",
	"protocol: 'SwiftPaxos' is not supported (accepted: curp, curpho, curpht)"),
    BAD("protocol: curp-ht", "is not supported"),
    OK_U16("masterPort: 1", master_port, 1),
    OK_U16("masterPort: 65535", master_port, 65535),
    BAD("masterPort: 0", "masterPort: 0 is not a port (1-65535)"),
    BAD("masterPort: 65536", "masterPort: 65536 is not a port"),
    OK_U32("maxDescRoutines: 1", max_desc_routines, 1),
    BAD("maxDescRoutines: 0", "maxDescRoutines: 0 is not an integer in 1..10000000"),
    OK_U32("batchDelayUs: 150", batch_delay_us, 150),
    BAD("batchDelayUs: 1000001", "is not an integer in 0..1000000"),
    OK_U32("shards: 1", shards, 1),
    OK_U32("shards: 64", shards, 64),
    OK_U32("shards: 65536", shards, 65536),
    BAD("shards: 0", "shards: 0 is not a power of two in 1..65536"),
    BAD("shards: 3", "shards: 3 is not a power of two"),
    BAD("shards: 131072", "shards: 131072 is not a power of two in 1..65536"),
    OK_U32("clientLoops: 0", client_loops, 0),
    OK_U32("clientLoops: 4096", client_loops, 4096),
    BAD("clientLoops: 4097", "clientLoops: 4097 is not an integer in 0..4096"),
    OK_U32("replicaLoops: 1", replica_loops, 1),
    OK_U32("replicaLoops: 64", replica_loops, 64),
    BAD("replicaLoops: 0", "replicaLoops: 0 is not an integer in 1..64"),
    BAD("replicaLoops: 65", "replicaLoops: 65 is not an integer in 1..64"),
    OK_BOOL("noop: true", noop, 1),
    OK_BOOL("noop: TRUE", noop, 1),
    OK_BOOL("noop: 1", noop, 1),
    OK_BOOL("noop: t", noop, 1),
    OK_BOOL("noop: yes", noop, 1),
    OK_BOOL("noop: on", noop, 1),
    OK_BOOL("schedBatch: true", sched_batch, 1),
    OK_BOOL("schedBatch: off", sched_batch, 0),
    OK_BOOL("localSockets: true", local_sockets, 1),
    OK_BOOL("localSockets: no", local_sockets, 0),
    OK_BOOL("pipeline: false", pipeline, 0),
    OK_BOOL("pipeline: 0", pipeline, 0),
    OK_BOOL("pipeline: F", pipeline, 0),
    OK_BOOL("pipeline: no", pipeline, 0),
    OK_BOOL("htEarlyWeakReply: yes", ht_early_weak_reply, 1),
    BAD("pipeline: 2", "pipeline: '2' is not a boolean (true/false, yes/no, 1/0)"),
    BAD("noop: truee", "noop: 'truee' is not a boolean"),
    BAD("thrifty: maybe", "thrifty: 'maybe' is not a boolean"),
    OK_U64("reqs: 1099511627776", reqs, UINT64_C(1) << 40),
    BAD("reqs: 1099511627777", "reqs: 1099511627777 is not an integer in 0..1099511627776"),
    BAD("reqs: -1", "reqs: -1 is not an integer"),
    BAD("reqs: 1e3", "reqs: 1e3 is not an integer"),
    BAD("reqs: +5", "is not an integer"),
    OK_U64("runTime: 30s", run_time_ms, 30000),
    OK_U64("runTime: 1m30s", run_time_ms, 90000),
    OK_U64("runTime: 250ms", run_time_ms, 250),
    OK_U64("runTime: 2h", run_time_ms, 7200000),
    OK_U64("runTime: 45", run_time_ms, 45000),
    OK_U64("runTime: none", run_time_ms, 0),
    OK_U64("runTime: NONE", run_time_ms, 0),
    BAD("runTime: 5min", "runTime: '5min' is not a duration"),
    BAD("runTime: -5s", "is not a duration"),
    OK_U32("writes: 0", writes, 0),
    OK_U32("writes: 100", writes, 100),
    OK_U32("weakRatio: 50", weak_ratio, 50),
    OK_U32("weakWrites: 0", weak_writes, 0),
    OK_U32("conflicts: 100", conflicts, 100),
    OK_U32("scanRatio: 44", scan_ratio, 44),
    BAD("writes: 101", "writes: 101 is not a percentage (0-100)"),
    BAD("weakRatio: -1", "weakRatio: -1 is not a percentage (0-100)"),
    BAD("conflicts: 5%", "conflicts: 5% is not a percentage"),
    BAD("scanRatio: 2.5", "scanRatio: 2.5 is not a percentage"),
    OK_U64("key: 18446744073709551615", key, UINT64_MAX),
    BAD("key: 18446744073709551616", "key: 18446744073709551616 is not an integer"),
    OK_U32("commandSize: 1000", command_size, 1000),
    OK_U32("commandSize: 4k", command_size, 4096),
    OK_U32("commandSize: 1KiB", command_size, 1024),
    OK_U32("commandSize: 64KiB", command_size, 65536),
    BAD("commandSize: 1.5k", "commandSize: 1.5k is not a size"),
    OK_U32("clientThreads: 16", client_threads, 16),
    BAD("clientThreads: 4097", "clientThreads: 4097 is not an integer in 0..4096"),
    OK_U32("clones: 3", clones, 3),
    OK_U32("pendings: 100000", pendings, 100000),
    BAD("pendings: 100001", "pendings: 100001 is not an integer in 0..100000"),
    OK_U64("keySpace: 1000000", key_space, 1000000),
    OK_DBL("zipfSkew: 0.99", zipf_skew, 0.99),
    OK_DBL("zipfSkew: 1.5", zipf_skew, 1.5),
    OK_DBL("zipfSkew: .5", zipf_skew, 0.5),
    OK_DBL("zipfSkew: 0", zipf_skew, 0),
    OK_DBL("zipfSkew: 1e-1", zipf_skew, 0.1),
    BAD("zipfSkew: -0.1", "zipfSkew: -0.1 is not a number in 0..100"),
    BAD("zipfSkew: nan", "zipfSkew: nan is not a number"),
    BAD("zipfSkew: inf", "zipfSkew: inf is not a number"),
    BAD("zipfSkew: 0x10", "zipfSkew: 0x10 is not a number"),
    BAD("zipfSkew: 101", "zipfSkew: 101 is not a number in 0..100"),
    BAD("zipfSkew: 1,5", "zipfSkew: 1,5 is not a number"),
    OK_U32("scanCount: 1000", scan_count, 1000),
    OK_U32("replyTimeout: 30", reply_timeout_s, 30),
    BAD("replyTimeout: 0", "replyTimeout: 0 is not an integer in 1..86400"),
    OK_U32("networkDelay: 25", network_delay_ms, 25),
    BAD("networkDelay: 60001", "networkDelay: 60001 is not an integer in 0..60000"),
    OK_U32("heartbeatMs: 50", heartbeat_ms, 50),
    OK_U32("leaderTimeoutMs: 500", leader_timeout_ms, 500),
    OK_U32("clientLeaseMs: 2000", client_lease_ms, 2000),
    OK_U32("clientLeaseMs: 0", client_lease_ms, 0),
    OK_U32("clientLeaseMs: 100", client_lease_ms, 100),
    BAD("clientLeaseMs: 86400001", "clientLeaseMs: 86400001 is not an integer in 0..86400000"),
    OK_U32("maxFrameBytes: 2MiB", max_frame_bytes, 2u << 20),
    OK_U32("maxFrameBytes: 4m", max_frame_bytes, 4u << 20),
    OK_U32("maxFrameBytes: 1G", max_frame_bytes, 1u << 30),
    OK_U32("maxFrameBytes: 1048576", max_frame_bytes, 1u << 20),
    BAD("maxFrameBytes: 2G", "maxFrameBytes: 2G is not a size in 1024..1073741824 bytes"),
    BAD("maxFrameBytes: 99999999999999999999", "is not a size"),
    OK_U32("maxKeyBytes: 8", max_key_bytes, 8),
    BAD("maxKeyBytes: 7", "maxKeyBytes: 7 is not a size in 8..1048576"),
    OK_U32("maxValueBytes: 32KiB", max_value_bytes, 32768),
    BAD("maxValueBytes: 64KB!", "is not a size"),
    OK_U32("maxClients: 5", max_clients, 5),
    BAD("maxClients: 0", "maxClients: 0 is not an integer in 1..1000000"),
    OK_STR("secret: s3cr3t-0123456789", secret, "s3cr3t-0123456789"),
    OK_STR("secret: 0123456789abcdef", secret, "0123456789abcdef"),
    BAD("secret: 0123456789abcde", "secret: 15 bytes is too short (at least 16"),
    BAD("secret: s3cr3t", "secret: 6 bytes is too short"),
    OK_STR("secret: none", secret, ""),
    OK_STR("secretFile: /etc/curpkv/secret", secret_file, "/etc/curpkv/secret"),
    OK_STR("stateDir: /var/lib/curpkv", state_dir, "/var/lib/curpkv"),
    OK_STR("historyFile: h.jsonl", history_file, "h.jsonl"),
    OK_SEED("seed: 0", true, 0),
    OK_SEED("seed: 18446744073709551615", true, UINT64_MAX),
    OK_SEED("seed: none", false, 0),
    BAD("seed: x", "seed: x is not an unsigned 64-bit integer (or none)"),
    BAD("writes", "writes: missing value"),
    BAD("writes:", "writes: missing value"),
    BAD("writes: // 5", "writes: missing value"),
    BAD("writes # 5", "writes: missing value"),
};

static void test_values(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof value_cases / sizeof value_cases[0]; i++) {
		const struct vcase *v = &value_cases[i];
		char text[1024];
		snprintf(text, sizeof text, BASE "%s\n", v->line);
		struct conf_diags d = {0};
		struct conf *c = NULL;
		int rc = conf_load_string("v.conf", text, &c, &d);
		bool ok = v->err ? rc == -EINVAL && has_diag(&d, true, 7, v->err) : rc == 0;
		if (!ok) {
			fprintf(stderr, "'%s': rc %d, wanted %s\n", v->line, rc,
				v->err ? v->err : "success");
			conf_diags_print(&d, stderr);
		}
		assert_true(ok);
		assert_non_null(c);
		const char *base = (const char *)&c->settings;
		if (v->err == NULL) {
			switch (v->kind) {
			case V_U16:
				assert_int_equal(*(const uint16_t *)(base + v->off), v->u);
				break;
			case V_U32:
				assert_int_equal(*(const uint32_t *)(base + v->off), v->u);
				break;
			case V_U64:
				assert_int_equal(*(const uint64_t *)(base + v->off), v->u);
				break;
			case V_BOOL:
				assert_int_equal(*(const bool *)(base + v->off), v->u);
				break;
			case V_DBL:
				assert_true(*(const double *)(base + v->off) == v->dbl);
				break;
			case V_STR:
				assert_string_equal(base + v->off, v->str);
				break;
			case V_PROTO:
				assert_int_equal(c->settings.protocol, v->u);
				break;
			case V_SEED:
				assert_int_equal(c->settings.seed_set, v->dbl != 0);
				assert_int_equal(c->settings.seed, v->u);
				break;
			}
		} else {
			/* a refused value leaves the default */
			struct conf_settings e;
			conf_settings_default(&e);
			assert_settings_equal(&c->settings, &e);
		}
		conf_diags_free(&d);
		conf_free(c);
	}
	/* reqs: 0 without runTime */
	struct conf *c = NULL;
	struct conf_diags d = {0};
	assert_int_equal(conf_load_string("v.conf", BASE "reqs: 0\n", &c, &d), -EINVAL);
	assert_true(has_diag(&d, true, 7, "reqs: 0 without runTime: clients would issue nothing"));
	conf_diags_free(&d);
	conf_free(c);
}

static void test_durations(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		int rc;
		uint64_t ms;
	} durs[] = {
	    {"none", 0, 0},
	    {"NONE", 0, 0},
	    {"0", 0, 0},
	    {"250ms", 0, 250},
	    {"30s", 0, 30000},
	    {"5m", 0, 300000},
	    {"1h", 0, 3600000},
	    {"1m30s", 0, 90000},
	    {"1h30m", 0, 5400000},
	    {"2H", 0, 7200000},
	    {"10", 0, 10000},
	    {"1.5s", 0, 1500},
	    {"0.5ms", 0, 1},
	    {"100us", 0, 1},
	    {"1500us", 0, 2},
	    {"1s500ms", 0, 1500},
	    {"0s", 0, 0},
	    {".5s", 0, 500},
	    {"", -EINVAL, 0},
	    {"s", -EINVAL, 0},
	    {"ms", -EINVAL, 0},
	    {"10x", -EINVAL, 0},
	    {"-5s", -EINVAL, 0},
	    {"5min", -EINVAL, 0},
	    {"1m30", -EINVAL, 0},
	    {"1..5s", -EINVAL, 0},
	    {".s", -EINVAL, 0},
	    {"1e3s", -EINVAL, 0},
	    {" 5s", -EINVAL, 0},
	    {"5 s", -EINVAL, 0},
	    {"18446744073709551615", -EINVAL, 0},
	    {"99999999999999999999h", -EINVAL, 0},
	    {"nones", -EINVAL, 0},
	};
	for (size_t i = 0; i < sizeof durs / sizeof durs[0]; i++) {
		uint64_t ms = 12345;
		int rc = conf_parse_duration_ms(durs[i].in, &ms);
		if (rc != durs[i].rc)
			fprintf(stderr, "'%s': rc %d\n", durs[i].in, rc);
		assert_int_equal(rc, durs[i].rc);
		if (durs[i].rc == 0)
			assert_int_equal(ms, durs[i].ms);
		else
			assert_int_equal(ms, 12345); /* untouched on error */
	}
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
	s.pendings = 15;
	assert_int_equal(conf_settings_window(&s), 1); /* pipeline false: pendings ignored */
	s.pipeline = true;
	assert_int_equal(conf_settings_window(&s), 15);
	s.pendings = 0;
	assert_int_equal(conf_settings_window(&s), 1000);
	enum conf_protocol p;
	assert_int_equal(conf_protocol_parse("CurpHO", &p), 0);
	assert_int_equal(p, CONF_PROTO_CURPHO);
	assert_int_equal(conf_protocol_parse("curp", &p), 0);
	assert_int_equal(p, CONF_PROTO_CURP);
	assert_int_equal(conf_protocol_parse("curpht", &p), 0);
	assert_int_equal(p, CONF_PROTO_CURPHT);
	assert_int_equal(conf_protocol_parse("raft", &p), -EINVAL);
	assert_int_equal(conf_protocol_parse("", &p), -EINVAL);
	assert_string_equal(conf_protocol_name(CONF_PROTO_CURP), "curp");
	assert_string_equal(conf_protocol_name(CONF_PROTO_CURPHO), "curpho");
	assert_string_equal(conf_protocol_name(CONF_PROTO_CURPHT), "curpht");
}

/* ---- Apply to
 * ------------------------------------------------------------------------------------ */

static void test_apply_to(void **state)
{
	(void)state;
	const char *text = BASE "-- Clients --\n" /* 7 */
				"client0 127.0.0.2\n"
				"client1 127.0.0.3\n"
				"writes: 10\n" /* 10 */
				"weakRatio: 40\n"
				"protocol: curpht\n"
				"-- Apply to CLIENT0 --\n" /* 13 */
				"writes: 20\n"
				"pipeline: true\n"
				"PENDINGS: 0\n"
				"-- Apply to replica1 --\n" /* 17 */
				"shards: 64\n"
				"protocol: curp\n"
				"-- Apply to client1 --\n" /* 20 */
				"weakRatio: 30\n"
				"writes: 30\n"
				"writes: 31\n"		  /* the later one wins */
				"-- Apply to ghost7 --\n" /* 24 */
				"reqs: 5\n"
				"-- Proxy --\n" /* 26: ends the Apply-to section */
				"server_alias replica1\n"
				"client1\n"
				"---\n"
				"conflicts: 3\n"; /* 30: global again */
	struct conf_diags d = {0};
	struct conf *c = NULL;
	assert_int_equal(conf_load_string("apply.conf", text, &c, &d), 0);
	assert_int_equal(d.n, 1);
	assert_true(has_diag(&d, false, 24,
			     "Apply to 'ghost7': no replica, client or master has "
			     "this alias"));
	assert_int_equal(c->n_overrides, 9);
	assert_string_equal(c->overrides[0].alias, "client0");
	assert_string_equal(c->overrides[0].key, "writes");
	assert_string_equal(c->overrides[0].value, "20");
	assert_int_equal(c->overrides[0].line, 14);
	assert_string_equal(c->overrides[2].key, "pendings"); /* canonical name */
	/* globals untouched */
	assert_int_equal(c->settings.writes, 10);
	assert_int_equal(c->settings.weak_ratio, 40);
	assert_int_equal(c->settings.conflicts, 3);
	assert_int_equal(c->settings.shards, 512);

	struct conf_settings s;
	assert_int_equal(conf_settings_for(c, "client0", &s, &d), 0);
	assert_int_equal(s.writes, 20);
	assert_true(s.pipeline);
	assert_int_equal(conf_settings_window(&s), 1000);
	assert_int_equal(s.weak_ratio, 40);
	assert_int_equal(s.conflicts, 3);
	assert_int_equal(conf_settings_for(c, "Client0", &s, &d), 0);
	assert_int_equal(s.writes, 20);

	assert_int_equal(conf_settings_for(c, "client1", &s, &d), 0);
	assert_int_equal(s.weak_ratio, 30);
	assert_int_equal(s.writes, 31);
	assert_false(s.pipeline);

	/* replica1 runs curp: its weakRatio (40, global) is forced to 0, with a warning */
	assert_int_equal(d.n, 1);
	assert_int_equal(conf_settings_for(c, "replica1", &s, &d), 0);
	assert_int_equal(s.shards, 64);
	assert_int_equal(s.protocol, CONF_PROTO_CURP);
	assert_int_equal(s.weak_ratio, 0);
	assert_true(has_diag(&d, false, 19,
			     "weakRatio: 40 for 'replica1' with protocol curp is "
			     "forced to 0"));

	struct conf_settings g;
	assert_int_equal(conf_settings_for(c, "replica0", &g, NULL), 0);
	assert_settings_equal(&g, &c->settings);
	assert_int_equal(conf_settings_for(c, NULL, &g, NULL), 0);
	assert_settings_equal(&g, &c->settings);
	conf_diags_free(&d);
	conf_free(c);

	/* an override that breaks a relation between keys: only that process fails */
	text = BASE "-- Apply to replica0 --\ncommandSize: 100000\n";
	assert_int_equal(conf_load_string("apply.conf", text, &c, &d), 0);
	assert_int_equal(conf_settings_for(c, "replica0", &s, &d), -EINVAL);
	assert_true(has_diag(&d, true, 8,
			     "commandSize: 100000 is larger than maxValueBytes "
			     "(65536)"));
	assert_int_equal(conf_settings_for(c, "replica1", &s, NULL), 0);
	conf_diags_free(&d);
	conf_free(c);

	/* checked at parse time: bad values, unknown keys, too long values */
	char big[400];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = 0;
	char buf[1024];
	snprintf(buf, sizeof buf,
		 BASE "-- Apply to replica0 --\nwrites: 101\nfoo: 1\nstateDir: %s\nreqs\n", big);
	assert_int_equal(conf_load_string("apply.conf", buf, &c, &d), -EINVAL);
	assert_true(has_diag(&d, true, 8, "writes: 101 is not a percentage (0-100)"));
	assert_true(has_diag(&d, false, 9, "unknown key 'foo' ignored"));
	assert_true(has_diag(&d, true, 10,
			     "stateDir: value longer than 255 bytes in an Apply-to "
			     "section"));
	assert_true(has_diag(&d, true, 11, "reqs: missing value"));
	assert_int_equal(c->n_overrides, 0);
	conf_diags_free(&d);
	conf_free(c);

	/* a hand-made bad override is refused by conf_settings_for, not applied */
	assert_int_equal(
	    conf_load_string("apply.conf", BASE "-- Apply to replica0 --\nwrites: 5\n", &c, NULL),
	    0);
	snprintf(c->overrides[0].value, sizeof c->overrides[0].value, "500");
	assert_int_equal(conf_settings_for(c, "replica0", &s, &d), -EINVAL);
	assert_true(has_diag(&d, true, 8, "writes: 500 is not a percentage"));
	snprintf(c->overrides[0].key, sizeof c->overrides[0].key, "nokey");
	assert_int_equal(conf_settings_for(c, "replica0", &s, &d), -EINVAL);
	assert_true(has_diag(&d, true, 8, "unknown key 'nokey'"));
	conf_diags_free(&d);
	conf_free(c);
}

/* ---- validation ---------------------------------------------------------------------------------
 */

static void test_validation(void **state)
{
	(void)state;
	struct conf_diags d = {0};
	struct conf *c = NULL;

	/* weakRatio > 0 with curp: a warning, forced to 0 for the processes */
	assert_int_equal(conf_load_string("w.conf", BASE "weakRatio: 50\nprotocol: curp\n", &c, &d),
			 0);
	assert_int_equal(d.n_warnings, 1);
	assert_true(has_diag(&d, false, 8,
			     "weakRatio: 50 with protocol curp is forced to 0 (curp "
			     "has no weak operations)"));
	assert_int_equal(c->settings.weak_ratio, 50); /* as written */
	struct conf_settings s;
	assert_int_equal(conf_settings_for(c, NULL, &s, NULL), 0);
	assert_int_equal(s.weak_ratio, 0);
	assert_int_equal(conf_settings_for(c, "replica0", &s, NULL), 0);
	assert_int_equal(s.weak_ratio, 0);
	conf_diags_free(&d);
	conf_free(c);

	/* deletes: a percentage of the writes, with every protocol; not with appends (the line
	 * named is the later of the two) */
	assert_int_equal(conf_load_string("d.conf", BASE "deletes: 50\nprotocol: curpht\n", &c, &d),
			 0);
	assert_int_equal(d.n, 0);
	assert_int_equal(c->settings.deletes, 50);
	conf_free(c);
	assert_int_equal(conf_load_string("d.conf", BASE "deletes: 101\n", &c, &d), -EINVAL);
	assert_true(has_diag(&d, true, 7, "deletes: 101 is not a percentage (0-100)"));
	conf_diags_free(&d);
	conf_free(c);
	assert_int_equal(conf_load_string("d.conf",
					  BASE "appends: true\ncommandSize: 24\ndeletes: 10\n", &c,
					  &d),
			 -EINVAL);
	assert_int_equal(d.n_errors, 1);
	assert_true(has_diag(&d, true, 9, "deletes: 10 with appends: true"));
	conf_diags_free(&d);
	conf_free(c);
	/* deletes 0 with appends is fine; an Apply-to deletes breaks it for that process only */
	assert_int_equal(conf_load_string("d.conf",
					  BASE "appends: true\ncommandSize: 24\ndeletes: 0\n"
					       "-- Apply to replica1 --\ndeletes: 5\n",
					  &c, &d),
			 0);
	assert_int_equal(conf_settings_for(c, "replica0", &s, NULL), 0);
	assert_int_equal(conf_settings_for(c, "replica1", &s, &d), -EINVAL);
	assert_true(has_diag(&d, true, 11, "deletes: 5 with appends: true"));
	conf_diags_free(&d);
	conf_free(c);

	/* reqs: 0 is fine with a runTime */
	assert_int_equal(conf_load_string("r.conf", BASE "reqs: 0\nrunTime: 30s\n", &c, &d), 0);
	conf_diags_free(&d);
	conf_free(c);

	/* 1 and 5 replicas are fine, any file order */
	assert_int_equal(
	    conf_load_string("one.conf", "-- Replicas --\nr0 h\n-- Master --\nm h\n", &c, &d), 0);
	assert_int_equal(d.n, 0);
	conf_free(c);
	assert_int_equal(conf_load_string("five.conf",
					  "-- Replicas --\nr4 h\nr2 h\nr0 h\nr3 h\nr1 h\n"
					  "-- Master --\nm h\n",
					  &c, &d),
			 0);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(c->replicas[i].id, i);
		assert_int_equal(c->replicas[i].port, 7070 + i);
	}
	conf_free(c);
	/* same address, different explicit ports: fine; same alias twice: an error */
	assert_int_equal(conf_load_string("ports.conf",
					  "-- Replicas --\nr0 [::1]:9000\nr1 ::1\nr2 [::1]:9002\n"
					  "-- Master --\nm ::1\n",
					  &c, &d),
			 0);
	conf_free(c);
	assert_int_equal(conf_load_string("dup.conf",
					  "-- Replicas --\nr0 a\nr1 b\nR1 c\n-- Master --\nm a\n",
					  &c, &d),
			 -EINVAL);
	assert_true(has_diag(&d, true, 4, "replica alias 'r1' is already used on line 3"));
	conf_diags_free(&d);
	conf_free(c);

	/* conf_validate on a conf changed by hand */
	assert_int_equal(conf_load_string("v.conf", BASE, &c, NULL), 0);
	assert_int_equal(conf_validate(c, NULL), 0);
	assert_int_equal(conf_validate(c, &d), 0);
	assert_int_equal(d.n, 0);
	c->settings.pendings = 200000;
	c->settings.max_key_bytes = 4;
	assert_int_equal(conf_validate(c, &d), -EINVAL);
	assert_true(has_diag(&d, true, 0, "pendings: 200000 is above the limit 100000"));
	assert_true(has_diag(&d, true, 0, "maxKeyBytes: 4 is below 8"));
	assert_int_equal(conf_validate(c, NULL), -EINVAL);
	conf_diags_free(&d);
	conf_free(c);

	/* each collision is reported once, against the first replica with that id */
	assert_int_equal(
	    conf_load_string("ids.conf", "-- Replicas --\na1 h1\nb1 h2\nc1 h3\n-- Master --\nm h\n",
			     &c, &d),
	    -EINVAL);
	assert_int_equal(d.n_errors, 2);
	assert_true(has_diag(&d, true, 3, "replica 'b1' has id 1, like 'a1' on line 2"));
	assert_true(has_diag(&d, true, 4, "replica 'c1' has id 1, like 'a1' on line 2"));
	conf_diags_free(&d);
	conf_free(c);

	/* an empty file: no replicas, no master; still a conf to look at */
	assert_int_equal(conf_load_string("empty.conf", "", &c, &d), -EINVAL);
	assert_non_null(c);
	assert_int_equal(d.n_errors, 2);
	assert_true(has_diag(&d, true, 0, "no replicas"));
	assert_true(has_diag(&d, true, 0, "no master"));
	conf_diags_free(&d);
	conf_free(c);

	/* diags may be NULL */
	assert_int_equal(conf_load_string("empty.conf", "", &c, NULL), -EINVAL);
	conf_free(c);
}

/* ---- Proxy
 * ----------------------------------------------------------------------------------------- */

static void test_proxy(void **state)
{
	(void)state;
	/* the Proxy section may come before the Clients it names */
	const char *text = "-- Replicas --\nreplica0 a\nreplica1 b\nreplica2 c\n" /* 1-4 */
			   "-- Proxy --\n"					  /* 5 */
			   "SERVER_ALIAS Replica1\n"				  /* 6 */
			   "Client0 (Local)\n"					  /* 7 */
			   "client1\n"						  /* 8 */
			   "client2 10.0.0.9\n"	     /* 9: address ignored */
			   "client3 local\n"	     /* 10 */
			   "reqs: 77\n"		     /* 11: a key inside the section */
			   "server_alias replica2\n" /* 12 */
			   "server_alias replica0\n" /* 13: a group without clients */
			   "client1\n"		     /* 14: same client, other group */
			   "---\n"		     /* 15 */
			   "-- Clients --\n"
			   "client0 a\nclient1 b\nclient2 c\nclient3 d\nclient4 e\n"
			   "-- Master --\nm a\n";
	struct conf_diags d = {0};
	struct conf *c = NULL;
	assert_int_equal(conf_load_string("proxy.conf", text, &c, &d), -EINVAL);
	assert_int_equal(d.n_errors, 1);
	assert_true(has_diag(&d, true, 14,
			     "Proxy: client 'client1' is already served by 'replica1' "
			     "(line 8)"));
	assert_true(has_diag(&d, false, 9,
			     "Proxy: 'client2 10.0.0.9': the address is ignored "
			     "('client2' is served by replica1, not co-located"));
	assert_true(has_diag(&d, false, 11,
			     "key line inside the Proxy section (end the section "
			     "with '---')"));
	assert_int_equal(c->settings.reqs, 77);
	assert_proxy(c, "client0", 1, true);
	assert_proxy(c, "client1", 1, false);
	assert_proxy(c, "client2", 1, false);
	assert_proxy(c, "client3", 1, true);
	assert_proxy(c, "client4", -1, false);
	conf_diags_free(&d);
	conf_free(c);

	/* twice under one replica: a warning; "(local)" on either line counts */
	text =
	    BASE "-- Clients --\nc0 a\n-- Proxy --\nserver_alias replica2\nc0\nc0 (local)\n---\n";
	assert_int_equal(conf_load_string("proxy.conf", text, &c, &d), 0);
	assert_true(has_diag(&d, false, 12, "Proxy: client 'c0' is listed twice under 'replica2'"));
	assert_proxy(c, "c0", 2, true);
	conf_diags_free(&d);
	conf_free(c);

	/* errors: no server_alias yet (no crash), server_alias without alias, unknown aliases */
	text = BASE "-- Clients --\nc0 a\n-- Proxy --\n"
		    "c0 (local)\n"	      /* 10 */
		    "server_alias\n"	      /* 11 */
		    "c0\n"		      /* 12: still no group */
		    "server_alias replica7\n" /* 13 */
		    "c0\n"		      /* 14: under an unknown replica: reported at 13 */
		    "server_alias replica0\n" /* 15 */
		    "c9 (local)\n"	      /* 16 */
		    "---\n";
	assert_int_equal(conf_load_string("proxy.conf", text, &c, &d), -EINVAL);
	assert_int_equal(d.n_errors, 5);
	assert_true(has_diag(&d, true, 10, "Proxy: client 'c0' before any server_alias line"));
	assert_true(has_diag(&d, true, 11, "Proxy: server_alias needs a replica alias"));
	assert_true(has_diag(&d, true, 12, "Proxy: client 'c0' before any server_alias line"));
	assert_true(has_diag(&d, true, 13, "Proxy: server_alias 'replica7' is not a replica"));
	assert_true(has_diag(&d, true, 16, "Proxy: 'c9' is not a client"));
	assert_proxy(c, "c0", -1, false);
	conf_diags_free(&d);
	conf_free(c);

	/* a Proxy section left open at the end of the file is fine (local.conf has "---" without a
	 * line end) */
	text = BASE "-- Clients --\nc0 a\n-- Proxy --\nserver_alias replica0\nc0 (local)";
	assert_int_equal(conf_load_string("proxy.conf", text, &c, &d), 0);
	assert_proxy(c, "c0", 0, true);
	conf_diags_free(&d);
	conf_free(c);
}

/* ---- diagnostics
 * ----------------------------------------------------------------------------------- */

static void test_diag_cap(void **state)
{
	(void)state;
	/* 3000 unknown keys: 1000 listed, then one entry for the rest; counts stay exact */
	size_t cap = 3000 * 8 + sizeof BASE;
	char *text = malloc(cap);
	assert_non_null(text);
	size_t n = (size_t)snprintf(text, cap, "%s", BASE);
	for (int i = 0; i < 3000; i++)
		n += (size_t)snprintf(text + n, cap - n, "foo: 1\n");
	struct conf_diags d = {0};
	struct conf *c = NULL;
	assert_int_equal(conf_load_string("cap.conf", text, &c, &d), 0); /* warnings only */
	assert_int_equal(d.n, 1001);
	assert_int_equal(d.n_warnings, 3000);
	assert_int_equal(d.n_errors, 0);
	assert_int_equal(d.n_dropped, 2000);
	assert_false(d.v[1000].error);
	assert_string_equal(d.v[1000].msg, "too many diagnostics: 2000 more not listed");
	assert_int_equal(d.v[999].line, 1006);
	conf_diags_free(&d);
	conf_free(c);

	/* errors beyond the cap still make the file fail, and mark the last entry an error */
	n = (size_t)snprintf(text, cap, "%s", BASE);
	for (int i = 0; i < 1000; i++)
		n += (size_t)snprintf(text + n, cap - n, "foo: 1\n");
	n += (size_t)snprintf(text + n, cap - n, "writes: 101\n");
	assert_int_equal(conf_load_string("cap.conf", text, &c, &d), -EINVAL);
	assert_int_equal(d.n, 1001);
	assert_int_equal(d.n_errors, 1);
	assert_true(d.v[1000].error);
	assert_string_equal(d.v[1000].msg, "too many diagnostics: 1 more not listed");
	conf_diags_free(&d);
	conf_free(c);
	free(text);
	conf_diags_free(NULL);
	conf_diags_print(NULL, stderr);
}

static void test_diag_print(void **state)
{
	(void)state;
	struct conf_diags d = {0};
	struct conf *c = NULL;
	assert_int_equal(
	    conf_load_string("p.conf", "-- Replicas --\nreplica0 a\nfoo: \x01\x7f\n", &c, &d),
	    -EINVAL);
	char *text = diags_to_string(&d);
	assert_string_equal(text,
			    "p.conf:3: warning: unknown key 'foo' ignored\n"
			    "p.conf: error: no master: the cluster cannot start (add a '-- Master "
			    "--' section with one line like 'master0 127.0.0.1')\n");
	free(text);
	conf_diags_free(&d);
	conf_free(c);
	/* control bytes in a message are shown as '?' */
	assert_int_equal(conf_load_string("p.conf", BASE "fo\x01o: 1\n", &c, &d), 0);
	assert_true(has_diag(&d, false, 7, "unknown key 'fo?o' ignored"));
	conf_diags_free(&d);
	conf_free(c);
}

/* ---- printing
 * ---------------------------------------------------------------------------------------- */

/* secretFile: the secret comes from a private regular file (owner only, 16..255 bytes after
 * trailing white space); every refusal names the secretFile line, none shows the secret. */
static void check_secret_file(const char *text, const char *alias, const char *want_secret,
			      int line, const char *frag)
{
	struct conf *c = NULL;
	struct conf_diags d = {0};
	assert_int_equal(conf_load_string("sf.conf", text, &c, &d), 0);
	struct conf_settings st;
	int rc = conf_settings_for(c, alias, &st, &d);
	if (want_secret) {
		if (rc != 0)
			conf_diags_print(&d, stderr);
		assert_int_equal(rc, 0);
		assert_string_equal(st.secret, want_secret);
	} else {
		if (rc != -EINVAL || !has_diag(&d, true, line, frag)) {
			fprintf(stderr, "wanted line %d '%s':\n", line, frag);
			conf_diags_print(&d, stderr);
		}
		assert_int_equal(rc, -EINVAL);
		assert_true(has_diag(&d, true, line, frag));
		assert_string_equal(st.secret, ""); /* never a refused secret */
		for (size_t i = 0; i < d.n; i++)
			assert_null(strstr(d.v[i].msg, "0123456789")); /* never its bytes */
	}
	conf_diags_free(&d);
	conf_free(c);
}

static void test_secret_file(void **state)
{
	(void)state;
	char dir[] = "/tmp/curpkv-test-secret-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[300], text[1024];
	snprintf(path, sizeof path, "%s/secret", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("0123456789abcdef-xyz \r\n", f); /* trailing white space and line end dropped */
	fclose(f);
	assert_int_equal(chmod(path, 0600), 0);
	snprintf(text, sizeof text, BASE "secretFile: %s\n", path);
	check_secret_file(text, NULL, "0123456789abcdef-xyz", 0, NULL);
	check_secret_file(text, "replica1", "0123456789abcdef-xyz", 0, NULL);
	assert_int_equal(chmod(path, 0400), 0);
	check_secret_file(text, NULL, "0123456789abcdef-xyz", 0, NULL);
	/* group or others: any permission bit refuses it */
	assert_int_equal(chmod(path, 0640), 0);
	check_secret_file(text, NULL, NULL, 7, "has mode 0640: group or others may access it");
	assert_int_equal(chmod(path, 0602), 0);
	check_secret_file(text, NULL, NULL, 7, "has mode 0602");
	assert_int_equal(chmod(path, 0610), 0);
	check_secret_file(text, NULL, NULL, 7, "has mode 0610");
	assert_int_equal(chmod(path, 0600), 0);
	/* another owner (only root can give a file away: checked when the test runs as root) */
	if (geteuid() == 0) {
		assert_int_equal(chown(path, 4242, (gid_t)-1), 0);
		check_secret_file(text, NULL, NULL, 7, "is owned by uid 4242, not by this user");
		assert_int_equal(chown(path, 0, (gid_t)-1), 0);
	}
	/* too short, too long, a NUL byte */
	f = fopen(path, "w");
	fputs("0123456789abcde\n", f);
	fclose(f);
	check_secret_file(text, NULL, NULL, 7, "holds 15 bytes: too short a secret");
	f = fopen(path, "w");
	for (int i = 0; i < 256; i++)
		fputc('a', f);
	fclose(f);
	check_secret_file(text, NULL, NULL, 7, "holds more than 255 bytes");
	f = fopen(path, "w");
	fwrite("0123456789\0abcdefgh", 1, 20, f);
	fclose(f);
	check_secret_file(text, NULL, NULL, 7, "holds a NUL byte");
	/* not a regular file: a directory, a FIFO (refused without blocking), nothing */
	snprintf(text, sizeof text, BASE "secretFile: %s\n", dir);
	check_secret_file(text, NULL, NULL, 7, "is not a regular file");
	char fifo[300];
	snprintf(fifo, sizeof fifo, "%s/fifo", dir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	snprintf(text, sizeof text, BASE "secretFile: %s\n", fifo);
	check_secret_file(text, NULL, NULL, 7, "is not a regular file");
	snprintf(text, sizeof text, BASE "secretFile: %s/missing\n", dir);
	check_secret_file(text, NULL, NULL, 7, "cannot open");
	/* an Apply-to secretFile: its own line */
	snprintf(text, sizeof text,
		 BASE "-- Clients --\nclient0 127.0.0.1\n-- Apply to client0 --\nsecretFile: "
		      "%s/missing\n",
		 dir);
	check_secret_file(text, "client0", NULL, 10, "cannot open");
	check_secret_file(text, "replica0", "", 0, NULL); /* the others have no secret */
	/* secret and secretFile together: the file is refused with the conf */
	snprintf(text, sizeof text, BASE "secret: 0123456789abcdef\nsecretFile: %s\n", path);
	struct conf *c = NULL;
	struct conf_diags d = {0};
	assert_int_equal(conf_load_string("sf.conf", text, &c, &d), -EINVAL);
	assert_true(has_diag(&d, true, 8, "secret and secretFile are both set"));
	conf_diags_free(&d);
	conf_free(c);
	assert_int_equal(unlink(fifo), 0);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
}

static void test_print(void **state)
{
	(void)state;
	struct conf_diags d;
	struct conf *c = load_ok("compat/local.conf", &d);
	struct conf_settings s;
	assert_int_equal(conf_settings_for(c, "client0", &s, NULL), 0);
	char *out = print_to_string(c, &s);
	/* the shape scripts/run-local.sh and run-multi-client.sh read */
	static const char *const want[] = {
	    "protocol: curpht\n",
	    "replicas: 3 (f=1)\n  replica0 127.0.0.1:7070 (id 0)\n"
	    "  replica1 127.0.0.2:7071 (id 1)\n  replica2 127.0.0.3:7072 (id 2)\n"
	    "clients: 1\n  client0 127.0.0.4 (co-located with replica0)\n"
	    "master: master0 127.0.0.1:7087\nsettings:\n",
	    "  protocol: curpht\n",
	    "  writes: 10 // % of strong ops\n",
	    "  runTime: none\n",
	    "  maxFrameBytes: 1MiB\n",
	    "  maxValueBytes: 64KiB\n",
	    "  commandSize: 100 // value bytes\n",
	    "  thrifty: (no effect)\n",
	    "  secret: none\n",
	    "  seed: none // from the clock\n",
	    "  clones: 0 // threads per client process: 1\n",
	    "  pendings: 0 // window per thread: 1\n",
	    "  clientLeaseMs: 300000 // 0 = never expire\n", /* (the default: -check shows it) */
	};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		if (strstr(out, want[i]) == NULL)
			fprintf(stderr, "missing '%s' in:\n%s", want[i], out);
		assert_non_null(strstr(out, want[i]));
	}
	/* every key, in CONF.md's order */
	static const char *const order[] = {
	    "protocol",
	    "masterPort",
	    "maxDescRoutines",
	    "batchDelayUs",
	    "shards",
	    "replicaLoops",
	    "noop",
	    "thrifty",
	    "fast",
	    "optread",
	    "leaderless",
	    "waitClosest",
	    "reqs",
	    "runTime",
	    "writes",
	    "weakRatio",
	    "weakWrites",
	    "conflicts",
	    "key",
	    "commandSize",
	    "clientThreads",
	    "clones",
	    "pipeline",
	    "pendings",
	    "clientLoops",
	    "keySpace",
	    "zipfSkew",
	    "scanRatio",
	    "scanCount",
	    "replyTimeout",
	    "networkDelay",
	    "heartbeatMs",
	    "leaderTimeoutMs",
	    "clientLeaseMs",
	    "htEarlyWeakReply",
	    "maxFrameBytes",
	    "maxKeyBytes",
	    "maxValueBytes",
	    "maxClients",
	    "secret",
	    "secretFile",
	    "stateDir",
	    "historyFile",
	    "seed",
	};
	const char *at = strstr(out, "settings:\n");
	for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
		char k[64];
		snprintf(k, sizeof k, "\n  %s: ", order[i]);
		const char *p = strstr(at, k);
		assert_non_null(p);
		at = p + 1;
	}
	free(out);
	conf_diags_free(&d);
	conf_free(c);

	/* the settings block reads back as a conf (less the no-effect keys and the secret, which
	 * is never shown), IPv6 hosts are bracketed, overrides listed without secrets */
	const char *text =
	    "-- Replicas --\nreplica0 ::1\n-- Master --\nm0 [::1]:9000\n"
	    "-- Clients --\nc0 ::1\n"
	    "runTime: 1m30s\nmaxFrameBytes: 2MiB\ncommandSize: 1000\nzipfSkew: 0.99\n"
	    "seed: 17\nsecret: hunter2-hunter2-hunter2\nstateDir: /tmp/x\npipeline: true\n"
	    "pendings: 15\nmaxValueBytes: 100000\nnoop: yes\nshards: 64\n"
	    "networkDelay: 25\nkey: 9\nprotocol: curp\n"
	    "-- Apply to c0 --\nsecret: other-other-other-1\nwrites: 5\n";
	assert_int_equal(conf_load_string("print.conf", text, &c, &d), 0);
	assert_int_equal(conf_settings_for(c, NULL, &s, NULL), 0);
	out = print_to_string(c, &s);
	assert_null(strstr(out, "hunter2"));
	assert_null(strstr(out, "other-other"));
	assert_non_null(strstr(out, "  replica0 [::1]:7070 (id 0)\n"));
	assert_non_null(strstr(out, "master: m0 [::1]:9000\n"));
	assert_non_null(strstr(out, "overrides: 2\n  c0: secret: (not shown) // line 23\n"
				    "  c0: writes: 5 // line 24\n"));
	assert_non_null(strstr(out, "  secret: (set, not shown)\n"));
	assert_non_null(strstr(out, "  runTime: 1m30s\n"));
	char *again = malloc(strlen(out) + 128);
	assert_non_null(again);
	strcpy(again, "-- Replicas --\nreplica0 ::1\n-- Master --\nm0 [::1]:9000\n");
	for (char *line = strstr(out, "settings:\n") + 10; *line;) {
		char *nl = strchr(line, '\n');
		assert_non_null(nl);
		*nl = 0;
		if (!strstr(line, "(no effect)") && !strstr(line, "secret:")) {
			strcat(again, line);
			strcat(again, "\n");
		}
		line = nl + 1;
	}
	struct conf *c2 = NULL;
	struct conf_diags d2 = {0};
	assert_int_equal(conf_load_string("again.conf", again, &c2, &d2), 0);
	assert_int_equal(d2.n, 0);
	struct conf_settings e = s;
	e.secret[0] = 0;
	assert_settings_equal(&c2->settings, &e);
	free(again);
	free(out);
	conf_diags_free(&d2);
	conf_free(c2);
	conf_diags_free(&d);

	/* no master, no clients, served-by clients */
	conf_free(c);
	assert_int_equal(conf_load_string("x.conf",
					  BASE "-- Clients --\nc0 h\n-- Proxy --\nserver_alias "
					       "replica1\nc0\n---\n",
					  &c, NULL),
			 0);
	c->has_master = false;
	out = print_to_string(c, &c->settings);
	assert_non_null(strstr(out, "  c0 h (served by replica1)\n"));
	assert_non_null(strstr(out, "master: (none)\n"));
	free(out);
	conf_free(c);
}

/* ---- latency and quorum files
 * ------------------------------------------------------------------------ */

static int load_latency_text(const char *text, struct conf_latency *l, struct conf_diags *d)
{
	char path[64];
	write_temp(path, sizeof path, text, strlen(text));
	int rc = conf_latency_load(path, l, d);
	unlink(path);
	return rc;
}

static void test_latency(void **state)
{
	(void)state;
	struct conf_latency l;
	struct conf_diags d = {0};
	/* uniform: the first one wins and ends the file */
	assert_int_equal(load_latency_text("# emulated WAN\nuniform 50ms\n1.1.1.1 2.2.2.2 10ms\n"
					   "uniform 10ms\n",
					   &l, &d),
			 0);
	assert_true(l.uniform);
	assert_int_equal(l.uniform_rtt_us, 50000);
	assert_int_equal(l.n_rows, 0);
	assert_int_equal(d.n, 1);
	assert_true(has_diag(&d, false, 3, "ignored: the 'uniform' line 2 applies to every pair"));
	assert_int_equal(conf_latency_oneway_us(&l, "a", "b"), 25000);
	assert_int_equal(conf_latency_oneway_us(&l, "a", "A"), 0);
	conf_latency_free(&l);
	conf_diags_free(&d);

	/* rows: any white space, comments, sub-millisecond units, the direction listed wins */
	assert_int_equal(load_latency_text("// rows\n\n10.0.0.1\t10.0.0.2   40ms  # comment\r\n"
					   "10.0.0.2 10.0.0.3 250us\n"
					   "10.0.0.3 10.0.0.1 0.5ms\n"
					   "10.0.0.1 10.0.0.3 1s\n"
					   "10.0.0.4 10.0.0.5 0\n",
					   &l, &d),
			 0);
	assert_int_equal(d.n, 0);
	assert_int_equal(l.n_rows, 5);
	assert_int_equal(conf_latency_oneway_us(&l, "10.0.0.1", "10.0.0.2"), 20000);
	assert_int_equal(conf_latency_oneway_us(&l, "10.0.0.2", "10.0.0.1"), 20000);
	assert_int_equal(conf_latency_oneway_us(&l, "10.0.0.2", "10.0.0.3"), 125);
	assert_int_equal(conf_latency_oneway_us(&l, "10.0.0.3", "10.0.0.2"), 125);
	assert_int_equal(conf_latency_oneway_us(&l, "10.0.0.3", "10.0.0.1"), 250);
	assert_int_equal(conf_latency_oneway_us(&l, "10.0.0.1", "10.0.0.3"), 500000);
	assert_int_equal(conf_latency_oneway_us(&l, "10.0.0.4", "10.0.0.5"), 0);
	assert_int_equal(conf_latency_oneway_us(&l, "10.0.0.1", "10.0.0.9"), 0);
	assert_int_equal(conf_latency_oneway_us(NULL, "a", "b"), 0);
	conf_latency_free(&l);
	conf_latency_free(&l); /* idempotent */

	/* an empty file: no delay at all */
	assert_int_equal(load_latency_text("", &l, &d), 0);
	assert_false(l.uniform);
	assert_int_equal(l.n_rows, 0);
	conf_latency_free(&l);

	/* bad lines: every one reported with its line, nothing kept */
	assert_int_equal(load_latency_text("a b 10ms\na b\na b 40\nuniform\nuniform 5\n"
					   "a b c d\na b -5ms\na b 2h\n",
					   &l, &d),
			 -EINVAL);
	assert_int_equal(d.n_errors, 7);
	assert_true(has_diag(&d, true, 2,
			     "expected '<addrA> <addrB> <rtt>' (e.g. 10.0.0.1 "
			     "10.0.0.2 40ms), got 2 tokens"));
	assert_true(has_diag(&d, true, 3, "'40' is not an RTT"));
	assert_true(has_diag(&d, true, 4, "expected 'uniform <rtt>' with a unit"));
	assert_true(has_diag(&d, true, 5, "expected 'uniform <rtt>'"));
	assert_true(has_diag(&d, true, 6, "got 4 tokens"));
	assert_true(has_diag(&d, true, 7, "'-5ms' is not an RTT"));
	assert_true(has_diag(&d, true, 8, "'2h' is not an RTT"));
	assert_int_equal(l.n_rows, 0);
	assert_null(l.rows);
	conf_diags_free(&d);

	assert_int_equal(conf_latency_load("/nonexistent/curpkv/lat", &l, &d), -ENOENT);
	assert_int_equal(d.n, 0);
}

static int load_quorum_text(const char *text, const struct conf *c, int *leader,
			    struct conf_diags *d)
{
	char path[64];
	write_temp(path, sizeof path, text, strlen(text));
	int rc = conf_quorum_load(path, c, leader, d);
	unlink(path);
	return rc;
}

static void test_quorum(void **state)
{
	(void)state;
	struct conf *c = NULL;
	assert_int_equal(conf_load_string("q.conf", BASE, &c, NULL), 0);
	struct conf_diags d = {0};
	int leader = 9;
	/* later quorums after "---" are ignored */
	assert_int_equal(
	    load_quorum_text("replica0\nreplica1\nl replica2\n---\nl replica0\n", c, &leader, &d),
	    0);
	assert_int_equal(leader, 2);
	/* no leader line: -1; "3/4" flags skipped */
	assert_int_equal(load_quorum_text("replica0\n3/4\nreplica1\n", c, &leader, &d), 0);
	assert_int_equal(leader, -1);
	/* case-insensitive, comments */
	assert_int_equal(
	    load_quorum_text("# q\nREPLICA1 // member\nleader Replica1\n", c, &leader, &d), 0);
	assert_int_equal(leader, 1);
	assert_int_equal(d.n, 0);
	/* two leaders: the first is used, with a warning */
	assert_int_equal(load_quorum_text("l replica1\nl replica2\n", c, &leader, &d), 0);
	assert_int_equal(leader, 1);
	assert_true(has_diag(&d, false, 2, "a second leader line: the one on line 1 is used"));
	conf_diags_free(&d);
	/* unknown aliases are errors */
	assert_int_equal(load_quorum_text("replica0\nl replica9\nreplica8\n", c, &leader, &d),
			 -EINVAL);
	assert_int_equal(d.n_errors, 2);
	assert_true(has_diag(&d, true, 2, "'replica9' is not a replica of q.conf"));
	assert_true(has_diag(&d, true, 3, "'replica8' is not a replica"));
	assert_int_equal(leader, -1);
	conf_diags_free(&d);
	assert_int_equal(conf_quorum_load("/nonexistent/curpkv/q", c, &leader, &d), -ENOENT);
	conf_free(c);
}

/* ---- limits
 * --------------------------------------------------------------------------------------------- */

static void test_limits(void **state)
{
	(void)state;
	struct conf_diags d = {0};
	struct conf *c = NULL;
	/* CONF_MAX_HOSTS replicas + clients */
	size_t cap = 64 * 1200;
	char *text = malloc(cap);
	assert_non_null(text);
	size_t n = (size_t)snprintf(text, cap, "-- Replicas --\nreplica0 a\n-- Clients --\n");
	for (int i = 0; i < 1100; i++)
		n += (size_t)snprintf(text + n, cap - n, "client%d h\n", i);
	snprintf(text + n, cap - n, "-- Master --\nm a\n");
	assert_int_equal(conf_load_string("hosts.conf", text, &c, &d), -EINVAL);
	assert_int_equal(c->n_clients, CONF_MAX_HOSTS - 1);
	assert_true(has_diag(&d, true, 3 + CONF_MAX_HOSTS, "more than 1024 hosts"));
	conf_diags_free(&d);
	conf_free(c);

	/* a line of 4096 bytes is fine, 4097 is not */
	memset(text, ' ', 5000);
	memcpy(text, "reqs: 5", 7);
	text[4096] = '\n';
	memcpy(text + 4097, BASE, sizeof BASE);
	assert_int_equal(conf_load_string("long.conf", text, &c, &d), 0);
	assert_int_equal(c->settings.reqs, 5);
	conf_free(c);
	memset(text, ' ', 5000);
	memcpy(text, "reqs: 5", 7);
	text[4097] = '\n';
	memcpy(text + 4098, BASE, sizeof BASE);
	assert_int_equal(conf_load_string("long.conf", text, &c, &d), -EINVAL);
	assert_true(has_diag(&d, true, 1, "line longer than 4096 bytes"));
	assert_int_equal(c->settings.reqs, 1000);
	assert_int_equal(c->n_replicas, 3); /* the rest of the file still read */
	conf_diags_free(&d);
	conf_free(c);
	free(text);

	/* files that cannot be read */
	assert_int_equal(conf_load("/nonexistent/curpkv.conf", &c, &d), -ENOENT);
	assert_null(c);
	assert_true(conf_load("/tmp", &c, &d) < 0);
	assert_null(c);
	/* larger than 16 MiB */
	char path[64];
	snprintf(path, sizeof path, "/tmp/curpkv-test-conf-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (16 << 20) + 1), 0);
	close(fd);
	assert_int_equal(conf_load(path, &c, &d), -EFBIG);
	assert_null(c);
	assert_true(has_diag(&d, true, 0, "file larger than 16777216 bytes"));
	conf_diags_free(&d);
	unlink(path);
	conf_free(NULL);
}

/* ---- random input: never a crash, always 0 or -EINVAL
 * ----------------------------------------------- */

static const char *const vocab[] = {
    "--",
    "-- Replicas --",
    "-- Clients --",
    "-- Master --",
    "-- Proxy --",
    "---",
    "-- Apply to",
    "replica0",
    "replica1",
    "replica2",
    "client0",
    "master0",
    "server_alias",
    "(local)",
    "127.0.0.1",
    "[::1]:7070",
    "::1",
    "h:99999",
    "writes:",
    "shards",
    "runTime:",
    "1m30s",
    "64KiB",
    "protocol",
    "curp",
    "#",
    "//",
    ":",
    "0",
    "100",
    "-1",
    "true",
    "maybe",
    "maxFrameBytes:",
    "commandSize",
    "seed",
    "zipfSkew",
    "1e308",
    "pendings:",
    "\t",
    "secret:",
    "x",
};

static void check_random_conf(const char *buf)
{
	struct conf *c = NULL;
	struct conf_diags d = {0};
	int rc = conf_load_string("fuzz.conf", buf, &c, &d);
	assert_true(rc == 0 || rc == -EINVAL);
	assert_non_null(c);
	assert_int_equal(rc == -EINVAL, d.n_errors > 0);
	assert_true(c->n_replicas + c->n_clients <= CONF_MAX_HOSTS);
	for (size_t i = 1; i < c->n_replicas; i++)
		assert_true(c->replicas[i - 1].id <= c->replicas[i].id);
	FILE *null = fopen("/dev/null", "w");
	assert_non_null(null);
	struct conf_settings s;
	conf_settings_for(c, NULL, &s, &d);
	conf_print(c, &s, null);
	for (size_t i = 0; i < c->n_clients && i < 4; i++) {
		conf_settings_for(c, c->clients[i].alias, &s, &d);
		conf_print(c, &s, null);
	}
	for (size_t i = 0; i < c->n_overrides && i < 4; i++)
		conf_settings_for(c, c->overrides[i].alias, &s, &d);
	conf_validate(c, &d);
	conf_diags_print(&d, null);
	fclose(null);
	conf_diags_free(&d);
	conf_free(c);
}

static void test_random_input(void **state)
{
	(void)state;
	static const char *const seeds[] = {
	    "compat/local.conf",	   "compat/aws.conf",	 "compat/multi-client.conf",
	    "compat/configs_exp-tao.conf", "warn/comments.conf", "warn/unknown-key.conf"};
	char base[6][4096];
	size_t blen[6];
	for (int i = 0; i < 6; i++) {
		char path[512];
		FILE *f = fopen(data_path(seeds[i], path, sizeof path), "r");
		assert_non_null(f);
		blen[i] = fread(base[i], 1, sizeof base[i] - 1, f);
		fclose(f);
		base[i][blen[i]] = 0;
	}
	struct common_rng r;
	common_rng_seed(&r, 7);
	static const char alphabet[] = "-: \n\t#/abcdeprlkyx0123456789()[].,%";
	enum { BUF = 8192 };
	char *buf = malloc(BUF);
	assert_non_null(buf);
	for (int iter = 0; iter < 4000; iter++) {
		size_t len = 0;
		switch (iter % 4) {
		case 0: /* random bytes */
			len = common_rng_below(&r, 700);
			for (size_t k = 0; k < len; k++)
				buf[k] = (char)(1 + common_rng_below(&r, 255));
			break;
		case 1: { /* a real file with bytes replaced */
			int s = (int)common_rng_below(&r, 6);
			len = blen[s];
			memcpy(buf, base[s], len);
			for (int k = 0; k < 1 + (int)common_rng_below(&r, 20); k++)
				buf[common_rng_below(&r, len)] =
				    alphabet[common_rng_below(&r, sizeof alphabet - 1)];
			break;
		}
		case 2: /* lines of plausible tokens */
			for (int l = 0; l < (int)common_rng_below(&r, 40); l++) {
				int nt = (int)common_rng_below(&r, 5);
				for (int t = 0; t < nt && len < BUF - 64; t++) {
					const char *w = vocab[common_rng_below(
					    &r, sizeof vocab / sizeof vocab[0])];
					len += (size_t)snprintf(buf + len, BUF - len, "%s%s",
								t ? " " : "", w);
				}
				if (len < BUF - 1)
					buf[len++] = '\n';
			}
			break;
		default: { /* two real files spliced at random points */
			int a = (int)common_rng_below(&r, 6), b = (int)common_rng_below(&r, 6);
			size_t ca = common_rng_below(&r, blen[a] + 1);
			size_t cb = common_rng_below(&r, blen[b] + 1);
			memcpy(buf, base[a], ca);
			memcpy(buf + ca, base[b] + cb, blen[b] - cb);
			len = ca + blen[b] - cb;
			break;
		}
		}
		buf[len] = 0;
		check_random_conf(buf);
	}
	/* a very long line and a line of 4096 tokens */
	memset(buf, 'a', BUF - 1);
	buf[BUF - 1] = 0;
	check_random_conf(buf);
	for (int i = 0; i < BUF - 1; i++)
		buf[i] = i % 2 ? ' ' : 'x';
	check_random_conf(buf);

	/* the latency and quorum readers on random text */
	struct conf *c = NULL;
	assert_int_equal(conf_load_string("q.conf", BASE, &c, NULL), 0);
	for (int iter = 0; iter < 200; iter++) {
		size_t len = common_rng_below(&r, 300);
		for (size_t k = 0; k < len; k++)
			buf[k] = iter % 2 ? (char)(1 + common_rng_below(&r, 255))
					  : alphabet[common_rng_below(&r, sizeof alphabet - 1)];
		buf[len] = 0;
		struct conf_latency l;
		struct conf_diags d = {0};
		int rc = load_latency_text(buf, &l, &d);
		assert_true(rc == 0 || rc == -EINVAL);
		conf_latency_oneway_us(&l, "a", "b");
		conf_latency_free(&l);
		int leader;
		rc = load_quorum_text(buf, c, &leader, &d);
		assert_true(rc == 0 || rc == -EINVAL);
		assert_true(leader >= -1 && leader <= 2);
		conf_diags_free(&d);
	}
	conf_free(c);
	free(buf);
}

/* ---- out of memory (tests/failalloc) ------------------------------------------------------- */

/* Each allocation of a load failing in turn: the load is refused (-ENOMEM, or -EINVAL with its
 * first error saying "out of memory"), or, when only a diagnostic could not be listed, it is the
 * same conf with that diagnostic still counted; never a conf with something missing. */
static void test_out_of_memory(void **state)
{
	(void)state;
	const char *text = BASE "-- Clients --\nclient0 127.0.0.1\nclient1 127.0.0.1\n"
				"writes: 50\nreqs: 20\nnoSuchKey: 1\n"
				"-- Apply to client1 --\nwrites: 10\npipeline: true\n";
	struct conf *ref = NULL;
	struct conf_diags rd = {0};
	assert_int_equal(conf_load_string("oom.conf", text, &ref, &rd), 0);
	assert_int_equal(rd.n_warnings, 1); /* noSuchKey */
	struct conf_settings rs;
	assert_int_equal(conf_settings_for(ref, "client1", &rs, NULL), 0);
	char *want = print_to_string(ref, &rs);
	uint64_t refused = 0, absorbed = 0, n;
	for (n = 1; n < 100000; n++) {
		struct conf *c = NULL;
		struct conf_diags d = {0};
		failalloc_nth(n);
		int rc = conf_load_string("oom.conf", text, &c, &d);
		failalloc_off();
		if (failalloc_failed() == 0) { /* past the load's last allocation */
			assert_int_equal(rc, 0);
			conf_free(c);
			conf_diags_free(&d);
			break;
		}
		if (rc == 0) {
			absorbed++;
			assert_int_equal(d.n_warnings, rd.n_warnings);
			assert_int_equal(d.n_errors, 0);
			struct conf_settings cs;
			assert_int_equal(conf_settings_for(c, "client1", &cs, NULL), 0);
			char *got = print_to_string(c, &cs);
			assert_string_equal(got, want);
			free(got);
		} else {
			refused++;
			if (rc == -EINVAL) {
				/* the first error says so (those it caused may follow: a replica
				 * missing makes the count even) */
				size_t i = 0;
				while (i < d.n && !d.v[i].error)
					i++;
				assert_true(i < d.n);
				assert_string_equal(d.v[i].msg, "out of memory");
			} else {
				assert_int_equal(rc, -ENOMEM);
				assert_null(c);
			}
		}
		conf_free(c);
		conf_diags_free(&d);
	}
	assert_true(n < 100000);
	assert_true(refused > 0);
	print_message("conf: %llu allocations: %llu refused, %llu absorbed\n",
		      (unsigned long long)n - 1, (unsigned long long)refused,
		      (unsigned long long)absorbed);
	free(want);
	conf_free(ref);
	conf_diags_free(&rd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_out_of_memory),
	    cmocka_unit_test(test_compat_local),
	    cmocka_unit_test(test_compat_eval_local),
	    cmocka_unit_test(test_compat_multi_client),
	    cmocka_unit_test(test_compat_multi_client_curp),
	    cmocka_unit_test(test_compat_benchmark_5r),
	    cmocka_unit_test(test_compat_exp3_1),
	    cmocka_unit_test(test_compat_exp3_2),
	    cmocka_unit_test(test_compat_exp_tao),
	    cmocka_unit_test(test_compat_aws),
	    cmocka_unit_test(test_compat_latency),
	    cmocka_unit_test(test_compat_quorum),
#define BAD_TEST(kind, file, line, frag)                                                           \
	{file, test_bad_file, NULL, NULL, &(struct bad_case){kind, file, line, frag}},
	    BAD_CASES(BAD_TEST)
#undef BAD_TEST
		cmocka_unit_test(test_warn_unknown_keys),
	    cmocka_unit_test(test_warn_comments),
	    cmocka_unit_test(test_warn_compat_once),
	    cmocka_unit_test(test_key_forms),
	    cmocka_unit_test(test_hosts),
	    cmocka_unit_test(test_values),
	    cmocka_unit_test(test_durations),
	    cmocka_unit_test(test_derived),
	    cmocka_unit_test(test_apply_to),
	    cmocka_unit_test(test_validation),
	    cmocka_unit_test(test_proxy),
	    cmocka_unit_test(test_diag_cap),
	    cmocka_unit_test(test_diag_print),
	    cmocka_unit_test(test_print),
	    cmocka_unit_test(test_secret_file),
	    cmocka_unit_test(test_latency),
	    cmocka_unit_test(test_quorum),
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_random_input),
	};
	return cmocka_run_group_tests_name("conf", tests, NULL, NULL);
}
