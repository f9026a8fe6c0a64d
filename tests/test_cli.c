/* System test of the CLI's first error (issue 22 item 7) on the real curpkv binary: with nothing
 * listening at the master's address, `curpkv get` stops at once and names the address and the
 * reason; a master that accepts the connection but never answers still gets the reply timeout.
 * No cluster is started: the "master" is a socket of this test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tests/proc.h"

/* A TCP socket bound to 127.0.0.1 on a port the kernel picks (*port), listening (backlog 8,
 * never accepted: connections complete and are never answered) or not (connections are
 * refused, and no other process can take the port while it is bound). */
static int fake_master(bool listening, uint16_t *port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	struct sockaddr_in a = {.sin_family = AF_INET};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof a;
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	if (listening)
		assert_int_equal(listen(fd, 8), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

/* The file's contents (NUL-terminated; the caller frees). */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	char *buf = calloc(1, 65537);
	assert_non_null(buf);
	size_t n = fread(buf, 1, 65536, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Runs `curpkv get -config <conf> foo` against a cluster whose master is 127.0.0.1:port, with
 * replyTimeout reply_s; waits at most wait_ms for it. Returns its exit status (-ETIMEDOUT: still
 * running) and its output in *out, its run time in *ms. */
static int cli_get(uint16_t port, int reply_s, int wait_ms, char **out, uint64_t *ms)
{
	char dir[256], conf[300], log[300], bin[512];
	assert_int_equal(proc_tmpdir(dir), 0);
	snprintf(conf, sizeof conf, "%s/cluster.conf", dir);
	snprintf(log, sizeof log, "%s/cli.log", dir);
	FILE *f = fopen(conf, "w");
	assert_non_null(f);
	/* the replicas are never dialed: the master tells the client where they are */
	fprintf(f,
		"-- Replicas --\nreplica0 127.0.0.1:1\nreplica1 127.0.0.1:2\nreplica2 127.0.0.1:3\n"
		"-- Clients --\nclient0 127.0.0.1\n-- Master --\nmaster0 127.0.0.1:%u\n"
		"protocol: curp\nreplyTimeout: %d\n",
		port, reply_s);
	assert_int_equal(fclose(f), 0);
	char *argv[] = {
	    (char *)proc_curpkv_path(bin, sizeof bin), "get", "-config", conf, "foo", NULL};
	struct proc p;
	uint64_t t0 = now_ms();
	assert_int_equal(proc_start(&p, "cli", log, argv), 0);
	int st = proc_wait(&p, wait_ms);
	*ms = now_ms() - t0;
	if (st == -ETIMEDOUT)
		proc_stop(&p, 1000);
	*out = slurp(log);
	proc_rmdir(dir);
	return st;
}

/* Nothing listens at the master's address: exit 3 at once (well within replyTimeout, 30 s here:
 * a CLI that waited for it would still run when the 20 s wait ends), with the address and the
 * reason. Until 2026-12 it waited the whole reply timeout and said "no answer from the cluster
 * within the reply timeout". */
static void test_master_unreachable(void **state)
{
	(void)state;
	uint16_t port;
	int fd = fake_master(false, &port);
	char *out;
	uint64_t ms;
	int st = cli_get(port, 30, 20000, &out, &ms);
	char want[128];
	snprintf(want, sizeof want, "curpkv: cannot reach the master at 127.0.0.1:%u: %s\n", port,
		 "connection refused");
	print_message("# exit %d after %llu ms: %s", st, (unsigned long long)ms, out);
	assert_int_equal(st, 3);
	assert_string_equal(out, want);
	free(out);
	close(fd);
}

/* A master that accepts the connection and never answers: the reply timeout (1 s) still ends
 * the command, with its own message. */
static void test_master_silent(void **state)
{
	(void)state;
	uint16_t port;
	int fd = fake_master(true, &port);
	char *out;
	uint64_t ms;
	int st = cli_get(port, 1, 20000, &out, &ms);
	print_message("# exit %d after %llu ms: %s", st, (unsigned long long)ms, out);
	assert_int_equal(st, 3);
	assert_non_null(strstr(out, "no answer from the cluster within the reply timeout"));
	assert_null(strstr(out, "cannot reach the master"));
	assert_true(ms >= 1000); /* not before the reply timeout */
	free(out);
	close(fd);
}

static int teardown(void **state)
{
	(void)state;
	proc_kill_all();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_master_unreachable, teardown),
	    cmocka_unit_test_teardown(test_master_silent, teardown),
	};
	return cmocka_run_group_tests_name("cli", tests, NULL, NULL);
}
