/* System tests, hostile input: random, truncated and oversized frames and malformed msgpack sent
 * to a live leader, follower and master (each keeps serving; a correct client still works), and
 * a flood of thousands of hostile connections against the leader while correct sessions run
 * checked operations (with and without a shared secret), on real processes (tests/env.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/rng.h"
#include "tests/cluster_env.h"

static int dial(uint16_t port)
{
	int fd = proc_dial(port);
	assert_true(fd >= 0);
	return fd;
}

/* Sends bytes and expects the peer to close the connection (bounded wait). */
static void send_expect_close(uint16_t port, const void *p, size_t len)
{
	int fd = dial(port);
	ssize_t w = send(fd, p, len, MSG_NOSIGNAL);
	(void)w;
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	bool closed = false;
	for (int i = 0; i < 100 && !closed; i++) {
		if (poll(&pfd, 1, 100) > 0) {
			char buf[256];
			ssize_t n = recv(fd, buf, sizeof buf, 0);
			closed = n <= 0;
		}
	}
	close(fd);
	assert_true(closed);
}

static void hostile_round(uint16_t port, struct common_rng *rng)
{
	/* the 15-byte msgpack bomb in a well-formed frame */
	const uint8_t bomb[] = {15, 0, 0, 0, 0xdd, 0xff, 0xff, 0xff, 0xff, 1,
				2,  3, 4, 5, 6,	   7,	 8,    9,    10};
	send_expect_close(port, bomb, sizeof bomb);
	/* an oversized length header */
	const uint8_t big[] = {0xff, 0xff, 0xff, 0x7f, 0x00};
	send_expect_close(port, big, sizeof big);
	/* random bytes, framed and unframed */
	uint8_t buf[512];
	for (int i = 0; i < 5; i++) {
		for (size_t k = 0; k < sizeof buf; k++)
			buf[k] = (uint8_t)common_rng_next(rng);
		buf[0] = 200; /* a 200-byte frame of garbage */
		buf[1] = buf[2] = buf[3] = 0;
		send_expect_close(port, buf, sizeof buf);
	}
	/* a truncated frame then EOF: the process must simply drop it */
	int fd = dial(port);
	const uint8_t trunc[] = {100, 0, 0, 0, 0x95, 0x01};
	ssize_t w = send(fd, trunc, sizeof trunc, MSG_NOSIGNAL);
	(void)w;
	close(fd);
}

/* ---- flood: many hostile connections while a correct client works ----------------------- */

struct flood {
	uint16_t port;
	int rounds;
	uint64_t seed;
	/* out */
	int garbage, oversized, truncated, idle, connect_failed;
};

/* The flooding thread: no cmocka calls here (counts only; the main thread asserts). */
static void *flood_main(void *arg)
{
	struct flood *f = arg;
	struct common_rng rng;
	common_rng_seed(&rng, f->seed);
	int idle[128];
	int nidle = 0;
	uint8_t buf[2048];
	for (int i = 0; i < f->rounds; i++) {
		int fd = proc_dial(f->port);
		if (fd < 0) {
			f->connect_failed++;
			continue;
		}
		uint64_t kind = common_rng_below(&rng, 5);
		size_t len = 0;
		if (kind == 0) { /* a frame of garbage, 1..2000 bytes */
			uint32_t body = 1 + (uint32_t)common_rng_below(&rng, 2000);
			memcpy(buf, &body, 4);
			for (uint32_t k = 0; k < body; k++)
				buf[4 + k] = (uint8_t)common_rng_next(&rng);
			len = 4 + body;
			f->garbage++;
		} else if (kind == 1) { /* a header declaring ~2 GiB */
			const uint8_t big[] = {0xff, 0xff, 0xff, 0x7f};
			memcpy(buf, big, 4);
			len = 4;
			f->oversized++;
		} else if (kind == 2) { /* a frame cut short, then EOF */
			const uint8_t t[] = {100, 0, 0, 0, 0x95, 0x01, 0x02};
			memcpy(buf, t, sizeof t);
			len = sizeof t;
			f->truncated++;
		}
		if (len) {
			ssize_t w = send(fd, buf, len, MSG_NOSIGNAL);
			(void)w;
			close(fd);
			continue;
		}
		/* idle, or slow (two bytes of a header and nothing more): kept open */
		if (kind == 4) {
			ssize_t w = send(fd, buf, 2, MSG_NOSIGNAL);
			(void)w;
		}
		f->idle++;
		if (nidle == (int)(sizeof idle / sizeof idle[0])) {
			close(idle[0]);
			memmove(idle, idle + 1, (size_t)(nidle - 1) * sizeof idle[0]);
			nidle--;
		}
		idle[nidle++] = fd;
	}
	for (int i = 0; i < nidle; i++)
		close(idle[i]);
	return NULL;
}

/* Thousands of garbage, oversized and truncated frames and idle or slow connections against the
 * leader, while 4 correct sessions run 2,000 operations each: every result checks out, nothing
 * times out, the leader's memory stays bounded, and it counts the frames it refused. With a
 * secret (extra), every hostile connection fails its handshake and is counted in auth_failed,
 * while the correct sessions authenticate. */
static void flood(const char *extra)
{
	struct cluster_env e;
	env_start(&e, 3, extra);
	uint64_t rss0 = proc_rss_kib(&e.replicas[0]);
	struct cluster_stats st;
	char err[256];
	assert_int_equal(cluster_stats(e.conf, &e.s, 0, 5.0, &st, err), 0);
	uint64_t rejected0 = env_stat(&st, "frames_rejected");
	uint64_t auth_failed0 = env_stat(&st, "auth_failed");
	struct flood f = {.port = e.base, .rounds = 4000, .seed = 1234};
	uint64_t t0 = ce_now_ns();
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, flood_main, &f), 0);
	struct ce_cfg cfg = ce_strong_cfg(2000, 79, &e, e.n);
	ce_run_free(ce_drive(e.conf, &e.s, &cfg));
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_true(proc_alive(&e.replicas[0]));
	uint64_t rss1 = proc_rss_kib(&e.replicas[0]);
	assert_int_equal(cluster_stats(e.conf, &e.s, 0, 5.0, &st, err), 0);
	uint64_t rejected = env_stat(&st, "frames_rejected") - rejected0;
	uint64_t auth_failed = env_stat(&st, "auth_failed") - auth_failed0;
	printf("# flood%s: %d garbage, %d oversized, %d truncated frames, %d idle/slow connections "
	       "(%d connects refused); leader rejected %llu frames, %llu failed handshakes; RSS "
	       "%llu -> %llu KiB; 8,000 correct operations checked\n",
	       extra ? " (with a secret)" : "", f.garbage, f.oversized, f.truncated, f.idle,
	       f.connect_failed, (unsigned long long)rejected, (unsigned long long)auth_failed,
	       (unsigned long long)rss0, (unsigned long long)rss1);
	assert_true(f.garbage + f.oversized > 1000);
	assert_true(rejected >= (uint64_t)(f.garbage + f.oversized) / 2);
	assert_true(rss1 < rss0 + 64 * 1024); /* bounded: no per-garbage growth */
	if (extra) {
		/* every garbage, oversized or truncated connection, and the idle ones closed by
		 * then, failed its handshake; the sessions' own handshakes did not */
		assert_true(auth_failed >= (uint64_t)(f.garbage + f.oversized + f.truncated));
		assert_int_equal(env_stat(&st, "auth"), 1);
		assert_true(env_stat(&st, "auth_ok") > 0);
		/* every hostile connection came from 127.0.0.1: one log line per minute at most */
		double minutes = (double)(ce_now_ns() - t0) / 60e9;
		char *log = env_slurp(e.replicas[0].log);
		assert_non_null(log);
		int lines = 0;
		for (const char *p = log; (p = strstr(p, "authentication failed from")); p++)
			lines++;
		free(log);
		printf("# %d authentication-failure lines logged in %.1f minutes\n", lines,
		       minutes);
		assert_true(lines >= 1 && lines <= 1 + (int)minutes);
	}
	env_stop(&e);
}

static void test_flood(void **state)
{
	(void)state;
	flood(NULL);
}

static void test_flood_auth(void **state)
{
	(void)state;
	flood("secret: flood-secret-0123456789\n");
}

static void test_hostile_input(void **state)
{
	(void)state;
	struct cluster_env e;
	env_start(&e, 3, NULL);
	struct common_rng rng;
	common_rng_seed(&rng, 99);
	hostile_round(e.base + 0, &rng); /* the leader */
	hostile_round(e.base + 1, &rng); /* a follower */
	hostile_round(e.base + 3, &rng); /* the master */
	for (int i = 0; i < 3; i++)
		assert_true(proc_alive(&e.replicas[i]));
	assert_true(proc_alive(&e.master));
	struct cluster_stats st;
	char err[256];
	assert_int_equal(cluster_stats(e.conf, &e.s, 0, 5.0, &st, err), 0);
	assert_true(env_stat(&st, "frames_rejected") >= 7);

	/* a correct client still works end to end */
	struct ce_cfg cfg = ce_strong_cfg(250, 77, &e, e.n);
	cfg.watchdog_s = 60.0;
	ce_run_free(ce_drive(e.conf, &e.s, &cfg));
	env_stop(&e);
}

int main(void)
{
	ce_main_init();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_hostile_input, env_teardown),
	    cmocka_unit_test_teardown(test_flood, env_teardown),
	    cmocka_unit_test_teardown(test_flood_auth, env_teardown),
	};
	return cmocka_run_group_tests_name("cluster_hostile", tests, NULL, NULL);
}
