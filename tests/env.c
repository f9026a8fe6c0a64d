/* tests/env: real curpkv processes for the system tests (see tests/env.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "tests/env.h"

char env_live_dir[256];
const char *env_protocol = "curp";
bool env_spread = false;
bool env_xlog = false;
bool env_state = false;

void env_start_replica(struct cluster_env *e, int i, int run)
{
	char bin[512], log[600], alias[32];
	proc_curpkv_path(bin, sizeof bin);
	snprintf(alias, sizeof alias, "replica%d", i);
	if (run > 0)
		snprintf(log, sizeof log, "%s/%s.run%d.log", e->dir, alias, run);
	else
		snprintf(log, sizeof log, "%s/%s.log", e->dir, alias);
	char xlog[600];
	if (run > 0)
		snprintf(xlog, sizeof xlog, "%s/%s.run%d.xlog", e->dir, alias, run);
	else
		snprintf(xlog, sizeof xlog, "%s/%s.xlog", e->dir, alias);
	char *argv[10] = {bin, "-run", "server", "-config", e->conf_path, "-alias", alias};
	int k = 7;
	if (env_xlog) {
		argv[k++] = "-xlog";
		argv[k++] = xlog;
	}
	argv[k] = NULL;
	assert_int_equal(proc_start(&e->replicas[i], alias, log, argv), 0);
}

void env_start_master(struct cluster_env *e, int run)
{
	char bin[512], log[600];
	proc_curpkv_path(bin, sizeof bin);
	if (run > 0)
		snprintf(log, sizeof log, "%s/master.run%d.log", e->dir, run);
	else
		snprintf(log, sizeof log, "%s/master.log", e->dir);
	char *argv[] = {bin, "-run", "master", "-config", e->conf_path, "-alias", "master0", NULL};
	assert_int_equal(proc_start(&e->master, "master0", log, argv), 0);
}

void env_expect_log(struct cluster_env *e, const struct proc *p, const char *needle, int ms)
{
	if (proc_wait_log(p, needle, ms))
		return;
	fprintf(stderr, "%s never logged \"%s\"; the logs:\n", p->name, needle);
	char cmd[700];
	snprintf(cmd, sizeof cmd, "tail -n 20 %s/*.log >&2", e->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "(no logs)\n");
	fail();
}

void env_prepare(struct cluster_env *e, int n, const char *extra)
{
	memset(e, 0, sizeof *e);
	e->n = n;
	assert_int_equal(proc_tmpdir(e->dir), 0);
	snprintf(env_live_dir, sizeof env_live_dir, "%s", e->dir);
	e->base = proc_free_ports(n + 1, (uint64_t)n * 7919);
	assert_true(e->base != 0);
	snprintf(e->conf_path, sizeof e->conf_path, "%s/cluster.conf", e->dir);
	FILE *f = fopen(e->conf_path, "w");
	assert_non_null(f);
	fprintf(f, "-- Replicas --\n");
	for (int i = 0; i < n; i++)
		fprintf(f, "replica%d 127.0.0.%d:%u\n", i, env_spread ? 10 + i : 1,
			(unsigned)(e->base + i));
	fprintf(f, "-- Clients --\nclient0 127.0.0.1\n-- Master --\nmaster0 127.0.0.1\n");
	fprintf(f, "masterPort: %u\nprotocol: %s\nshards: 64\nmaxDescRoutines: 1000\n",
		(unsigned)(e->base + n), env_protocol);
	if (env_state) {
		char sd[300];
		snprintf(sd, sizeof sd, "%s/state", e->dir);
		assert_int_equal(mkdir(sd, 0700), 0);
		fprintf(f, "stateDir: %s\n", sd);
	}
	/* last: extra may end with Apply-to sections */
	fprintf(f, "%s", extra ? extra : "");
	fclose(f);
	struct conf_diags diags = {0};
	int rc = conf_load(e->conf_path, &e->conf, &diags);
	if (rc == 0)
		rc = conf_settings_for(e->conf, "client0", &e->s, &diags);
	if (rc != 0)
		conf_diags_print(&diags, stderr);
	conf_diags_free(&diags);
	assert_int_equal(rc, 0);
}

void env_start(struct cluster_env *e, int n, const char *extra)
{
	env_prepare(e, n, extra);
	/* Replicas first, master last: start order must not matter. */
	for (int i = 0; i < n; i++)
		env_start_replica(e, i, 0);
	env_start_master(e, 0);
	env_expect_log(e, &e->master, "cluster ready", 30000);
	/* the master is ready with a majority; the last replicas join a moment later */
	for (int i = 0; i < n; i++)
		env_expect_log(e, &e->replicas[i], "serving: view", 30000);
}

void env_stop(struct cluster_env *e)
{
	for (int i = 0; i < e->n; i++) {
		int st = proc_stop(&e->replicas[i], 10000);
		if (st != 0) {
			fprintf(stderr, "replica%d exit status %d; its log:\n", i, st);
			char cmd[700];
			snprintf(cmd, sizeof cmd, "tail -n 30 %s >&2", e->replicas[i].log);
			if (system(cmd) != 0)
				fprintf(stderr, "(no log)\n");
		}
		assert_int_equal(st, 0); /* SIGTERM stops a replica cleanly */
	}
	int st = proc_stop(&e->master, 10000);
	if (st != 0) {
		fprintf(stderr, "master exit status %d; its log:\n", st);
		char cmd[700];
		snprintf(cmd, sizeof cmd, "tail -n 30 %s >&2", e->master.log);
		if (system(cmd) != 0)
			fprintf(stderr, "(no log)\n");
	}
	assert_int_equal(st, 0); /* and the master */
	conf_free(e->conf);
	proc_rmdir(e->dir);
	env_live_dir[0] = 0;
}

uint64_t env_stat(const struct cluster_stats *st, const char *name)
{
	for (uint32_t i = 0; i < st->n; i++)
		if (strcmp(st->v[i].name, name) == 0)
			return st->v[i].value;
	fail_msg("stat %s missing", name);
	return 0;
}

bool env_until(int timeout_ms, int period_ms, bool (*cond)(void *arg), void *arg)
{
	for (int waited = 0;; waited += period_ms) {
		if (cond(arg))
			return true;
		if (waited >= timeout_ms)
			return false;
		poll(NULL, 0, period_ms);
	}
}

struct converge_arg {
	struct cluster_env *e;
	const struct env_converge *x;
	struct cluster_stats *st;
};

/* True if st holds stat name (a replica that does not serve yet sends only a few). */
static bool has_stat(const struct cluster_stats *st, const char *name)
{
	for (uint32_t i = 0; i < st->n; i++)
		if (strcmp(st->v[i].name, name) == 0)
			return true;
	return false;
}

static bool converged(void *arg)
{
	struct converge_arg *a = arg;
	const struct env_converge *x = a->x;
	char err[256];
	int first = -1;
	for (int i = 0; i < a->e->n; i++) {
		if (x->skip & (1u << i))
			continue;
		struct cluster_stats *st = &a->st[i];
		if (cluster_stats(a->e->conf, &a->e->s, i, 5.0, st, err) != 0 ||
		    !has_stat(st, "exec_index") || !has_stat(st, "view_active"))
			return false; /* (a restarted replica not listening, or serving, yet) */
		if (first < 0)
			first = i;
		const struct cluster_stats *f = &a->st[first];
		/* the leader too: its stats are read before the followers', and a client completes
		 * on the fast path before the leader executes, so a leader read one slot short
		 * while the followers were read done failed a check made after the wait (seen once
		 * in test_follower_paused under ASan: 3999 != 4000) */
		if ((x->exec >= 0 && env_stat(st, "exec_index") != (uint64_t)x->exec) ||
		    env_stat(st, "exec_index") != env_stat(f, "exec_index") ||
		    env_stat(st, "digest") != env_stat(f, "digest") ||
		    (x->view >= 0 && (env_stat(st, "view") != (uint64_t)x->view ||
				      env_stat(st, "view_active") != 1)) ||
		    (x->serving &&
		     (env_stat(st, "ready") != 1 || env_stat(st, "rejoining") != 0)) ||
		    (x->active && env_stat(st, "view_active") != 1) ||
		    (x->same_keys && env_stat(st, "keys") != env_stat(f, "keys")))
			return false;
	}
	return true;
}

bool env_wait_converged(struct cluster_env *e, const struct env_converge *x, int timeout_ms,
			struct cluster_stats *st)
{
	struct converge_arg a = {.e = e, .x = x, .st = st};
	return env_until(timeout_ms, 50, converged, &a);
}

void env_wait_identical(struct cluster_env *e, uint64_t expect, int attempts,
			struct cluster_stats *st)
{
	struct env_converge x = {.exec = (int64_t)expect, .view = -1};
	env_wait_converged(e, &x, (attempts - 1) * 50, st);
	char err[256];
	for (int i = 0; i < e->n; i++) {
		assert_int_equal(cluster_stats(e->conf, &e->s, i, 5.0, &st[i], err), 0);
		assert_int_equal(env_stat(&st[i], "exec_index"), expect);
		assert_int_equal(env_stat(&st[i], "digest"), env_stat(&st[0], "digest"));
	}
}

char *env_slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *b = malloc((size_t)n + 1);
	size_t got = fread(b, 1, (size_t)n, f);
	b[got] = 0;
	fclose(f);
	return b;
}

int env_cli(struct cluster_env *e, const char *dir, char *const *args, char **out)
{
	char bin[512], log[600];
	proc_curpkv_path(bin, sizeof bin);
	snprintf(log, sizeof log, "%s/cli.log", dir);
	char *argv[8] = {bin};
	int n = 1;
	argv[n++] = args[0];
	argv[n++] = "-config";
	argv[n++] = e->conf_path;
	for (int i = 1; args[i] && n < 7; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	struct proc c;
	assert_int_equal(proc_start(&c, "cli", log, argv), 0);
	int st = proc_wait(&c, 30000);
	*out = env_slurp(log);
	return st;
}

void env_cli_expect(struct cluster_env *e, char *const *args, int status, const char *want)
{
	char *out;
	assert_int_equal(env_cli(e, e->dir, args, &out), status);
	if (want)
		assert_string_equal(out, want);
	free(out);
}

void env_send_msg(int fd, const struct proto_msg *m)
{
	struct proto_buf b;
	proto_buf_init(&b, 1u << 20);
	assert_int_equal(proto_encode(&b, m, 1u << 20), 0);
	assert_int_equal(send(fd, b.data, b.len, MSG_NOSIGNAL), (ssize_t)b.len);
	proto_buf_free(&b);
}

/* Reads exactly n bytes within ms. Returns 1, 0 (EOF or reset) or -1 (timeout). */
static int read_full(int fd, uint8_t *p, size_t n, int ms)
{
	size_t got = 0;
	while (got < n) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		if (poll(&pfd, 1, ms) <= 0)
			return -1;
		ssize_t r = recv(fd, p + got, n - got, 0);
		if (r <= 0)
			return 0;
		got += (size_t)r;
	}
	return 1;
}

int env_recv_msg(int fd, struct proto_msg *m, uint8_t *frame, size_t cap, int ms,
		 const struct proto_limits *lim)
{
	int rc = read_full(fd, frame, PROTO_FRAME_HEADER, ms);
	if (rc <= 0)
		return rc;
	uint32_t body = (uint32_t)frame[0] | (uint32_t)frame[1] << 8 | (uint32_t)frame[2] << 16 |
			(uint32_t)frame[3] << 24;
	if (body > cap - PROTO_FRAME_HEADER)
		return -1;
	rc = read_full(fd, frame + PROTO_FRAME_HEADER, body, ms);
	if (rc <= 0)
		return rc;
	return proto_decode(frame + PROTO_FRAME_HEADER, body, lim, m) == 0 ? 1 : -1;
}

int env_teardown(void **state)
{
	(void)state;
	proc_kill_all();
	proc_rmdir(env_live_dir);
	env_live_dir[0] = 0;
	return 0;
}
