/* bench_auth: what authentication costs in CPU, single-threaded, CSV on stdout: complete
 * handshakes per second (both sides' state machines, every message encoded and decoded as on the
 * wire), and role checks per second (auth_may_send, once per message after the handshake). */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/auth.h"
#include "common/clock.h"
#include "conf/conf.h"
#include "proto/proto.h"

static const char usage[] =
    "usage: bench_auth [-d seconds] [-h]\n"
    "Cases, one CSV line each (case,ops,seconds,ops_per_sec,ns_per_op):\n"
    "  handshake   a connector and an acceptor (replica 0) complete the four-message handshake\n"
    "              of auth/; each message is encoded and decoded (proto) as on the wire; both\n"
    "              sides' work is counted (one connection's CPU cost, excluding system calls)\n"
    "  role_check  auth_may_send for a client's PROPOSE (done once per message received)\n"
    "  -d seconds   duration of each case (default 1)\n"
    "  -h           this help\n";

static const struct proto_limits lim = {.max_frame = 1u << 20, .max_key = 1024, .max_value = 65536};

/* One handshake through the codec; returns 0 when both sides completed. */
static int handshake(const struct auth_key *k, struct proto_buf *b, struct proto_msg *in)
{
	struct auth_hs c, a;
	struct proto_msg out, reply;
	bool has;
	int done = 0;
	auth_hs_accept(&a, k, PROTO_ROLE_REPLICA, 0);
	auth_hs_connect(&c, k, PROTO_ROLE_CLIENT, -1, PROTO_ROLE_REPLICA, 0, &out);
	for (int step = 0; step < 4; step++) {
		b->len = 0;
		if (proto_encode(b, &out, lim.max_frame) != 0 ||
		    proto_decode(b->data + PROTO_FRAME_HEADER, b->len - PROTO_FRAME_HEADER, &lim,
				 in) != 0)
			return -EIO;
		int rc = auth_hs_step(step % 2 == 0 ? &a : &c, in, &reply, &has);
		if (rc == AUTH_FAILED)
			return -EACCES;
		done += rc == AUTH_DONE;
		if (!has)
			break;
		out = reply;
	}
	return done == 2 ? 0 : -EPROTO;
}

static void line(const char *name, uint64_t ops, uint64_t ns)
{
	double s = (double)ns / 1e9;
	printf("%s,%llu,%.3f,%.0f,%.1f\n", name, (unsigned long long)ops, s, (double)ops / s,
	       (double)ns / (double)ops);
}

int main(int argc, char **argv)
{
	double secs = 1.0;
	int opt;
	while ((opt = getopt(argc, argv, "d:h")) != -1) {
		if (opt == 'd' && atof(optarg) > 0) {
			secs = atof(optarg);
		} else {
			fputs(usage, opt == 'h' ? stdout : stderr);
			return opt == 'h' ? 0 : 2;
		}
	}
	struct conf *conf = NULL;
	if (conf_load_string("bench.conf",
			     "-- Replicas --\nreplica0 127.0.0.1\nreplica1 127.0.0.1\nreplica2 "
			     "127.0.0.1\n-- Master --\nmaster0 127.0.0.1\n",
			     &conf, NULL) != 0)
		return 1;
	struct auth_key k;
	const char *secret = "bench-secret-0123456789";
	int rc = auth_key_init(&k, secret, strlen(secret), conf);
	conf_free(conf);
	if (rc != 0) {
		fprintf(stderr, "bench_auth: auth_key_init: %s\n", strerror(-rc));
		return 1;
	}
	struct proto_buf b;
	proto_buf_init(&b, 1u << 16);
	struct proto_msg *in = malloc(sizeof *in);
	if (in == NULL)
		return 1;
	printf("case,ops,seconds,ops_per_sec,ns_per_op\n");
	uint64_t budget = (uint64_t)(secs * 1e9), t0 = common_now_ns(), t, ops = 0;
	do {
		for (int i = 0; i < 64; i++, ops++) {
			rc = handshake(&k, &b, in);
			if (rc != 0) {
				fprintf(stderr, "bench_auth: handshake failed: %s\n",
					strerror(-rc));
				return 1;
			}
		}
	} while ((t = common_now_ns()) - t0 < budget);
	line("handshake", ops, t - t0);
	volatile uint64_t allowed = 0;
	ops = 0;
	t0 = common_now_ns();
	do {
		for (int i = 0; i < 4096; i++, ops++)
			allowed += auth_may_send(AUTH_TO_REPLICA, PROTO_ROLE_CLIENT,
						 PROTO_PROPOSE + (int)(ops & 1));
	} while ((t = common_now_ns()) - t0 < budget);
	line("role_check", ops, t - t0);
	free(in);
	proto_buf_free(&b);
	auth_key_wipe(&k);
	return allowed > 0 ? 0 : 1;
}
