/* bench_proto: what the codec costs in CPU, single-threaded, CSV on stdout: proto_encode and
 * proto_decode of the messages on a strong operation's path, one case per message type and
 * direction, each repeated and reported by its median. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proto/proto.h"

static const char usage[] =
    "usage: bench_proto [-d seconds] [-r reps] [-n ops] [-h]\n"
    "Measures proto_encode (into a reused buffer) and proto_decode (of the encoded body) of\n"
    "one message at a time. Messages: PROPOSE and ACCEPT of a PUT (16-byte key, 100-byte\n"
    "value), RECORD_ACK, REPLY of a GET (100-byte value), ACK, COMMIT, and VC_RECORD (the\n"
    "widest message). One CSV line per case (case,ops,ns_per_op_median,ns_per_op_min); the\n"
    "last two lines, encode_all and decode_all, sum the medians over the messages.\n"
    "Times are the thread's CPU time (CLOCK_THREAD_CPUTIME_ID): what other processes of a\n"
    "shared machine take does not count, their effect on the caches does.\n"
    "  -d seconds   duration of each repetition of each case (default 0.2)\n"
    "  -r reps      repetitions of each case (default 5); the median is reported\n"
    "  -n ops       ops operations (rounded up to 256) per repetition instead of -d (for an\n"
    "               instruction count under valgrind, which no timing disturbs)\n"
    "  -h           this help\n";

static const struct proto_limits lim = {.max_frame = 1u << 20, .max_key = 1024, .max_value = 65536};

enum { N_MSGS = 7, MAX_REPS = 99 };

static uint8_t key[16], val[100];

/* Fills m[N_MSGS] with the benchmarked messages. */
static void make_msgs(struct proto_msg *m)
{
	const struct proto_cmd put = {
	    .op = PROTO_OP_PUT, .key = key, .klen = sizeof key, .val = val, .vlen = sizeof val};
	const struct proto_cid cid = {.client = 0x6571a2b300000007ull, .seq = 123456};
	memset(m, 0, sizeof *m * N_MSGS);
	m[0] = (struct proto_msg){.type = PROTO_PROPOSE,
				  .view = 7,
				  .cid = cid,
				  .cmd = put,
				  .low_seq = 123400,
				  .dep = 123455,
				  .weak_dep = 123450};
	m[1] = (struct proto_msg){.type = PROTO_RECORD_ACK, .view = 7, .cid = cid, .ok = true};
	m[2] = (struct proto_msg){.type = PROTO_ACCEPT,
				  .view = 7,
				  .slot = 987654,
				  .cid = cid,
				  .cmd = put,
				  .commit = 987650};
	m[3] = (struct proto_msg){.type = PROTO_ACK, .view = 7, .slot = 987654, .slot_hi = 987660};
	m[4] = (struct proto_msg){.type = PROTO_COMMIT, .view = 7, .commit = 987661};
	m[5] = (struct proto_msg){.type = PROTO_REPLY,
				  .view = 7,
				  .cid = cid,
				  .slot = 987654,
				  .ok = true,
				  .value = val,
				  .vlen = sizeof val,
				  .ver = 987001};
	m[6] = (struct proto_msg){.type = PROTO_VC_RECORD,
				  .view = 8,
				  .cid = cid,
				  .eview = 7,
				  .ok = true,
				  .dep = 123455,
				  .bound = 1,
				  .cmd = put,
				  .slot = 31,
				  .read_dep = {5, 9},
				  .weak_dep = 123450,
				  .round = 3,
				  .slot_hi = 17};
}

/* This thread's CPU time. */
static uint64_t cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Runs one case reps times for `seconds` each (exactly `count` operations if count > 0);
 * returns the median ns per operation (the minimum in *min), or a negative value if an operation
 * failed. */
static double measure(const struct proto_msg *m, const uint8_t *body, size_t blen, bool encode,
		      double seconds, uint64_t count, int reps, double *min, uint64_t *total_ops)
{
	double ns_op[MAX_REPS];
	struct proto_buf b;
	proto_buf_init(&b, 1u << 20);
	struct proto_msg *out = malloc(sizeof *out);
	if (out == NULL)
		return -1;
	uint64_t budget = (uint64_t)(seconds * 1e9);
	*total_ops = 0;
	for (int r = 0; r < reps; r++) {
		uint64_t ops = 0, t0 = cpu_ns(), t;
		do {
			for (int i = 0; i < 256; i++, ops++) {
				int rc;
				if (encode) {
					b.len = 0;
					rc = proto_encode(&b, m, lim.max_frame);
				} else {
					rc = proto_decode(body, blen, &lim, out);
				}
				if (rc != 0) {
					free(out);
					proto_buf_free(&b);
					return -1;
				}
			}
		} while ((t = cpu_ns()) - t0 < budget && (count == 0 || ops < count));
		ns_op[r] = (double)(t - t0) / (double)ops;
		*total_ops += ops;
	}
	free(out);
	proto_buf_free(&b);
	qsort(ns_op, (size_t)reps, sizeof ns_op[0], cmp_double);
	*min = ns_op[0];
	return ns_op[reps / 2];
}

int main(int argc, char **argv)
{
	double secs = 0.2;
	int reps = 5, opt;
	uint64_t count = 0;
	while ((opt = getopt(argc, argv, "d:r:n:h")) != -1) {
		switch (opt) {
		case 'd':
			secs = atof(optarg);
			break;
		case 'r':
			reps = atoi(optarg);
			break;
		case 'n':
			count = strtoull(optarg, NULL, 10);
			secs = 1e9; /* the count ends each repetition */
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	if (secs <= 0 || reps < 1 || reps > MAX_REPS) {
		fputs(usage, stderr);
		return 2;
	}
	for (size_t i = 0; i < sizeof key; i++)
		key[i] = (uint8_t)(i * 7 + 1);
	for (size_t i = 0; i < sizeof val; i++)
		val[i] = (uint8_t)(i * 13 + 5);
	static struct proto_msg m[N_MSGS];
	make_msgs(m);
	printf("case,ops,ns_per_op_median,ns_per_op_min\n");
	double sum[2] = {0, 0};
	for (int dir = 0; dir < 2; dir++) {
		for (int i = 0; i < N_MSGS; i++) {
			struct proto_buf b;
			proto_buf_init(&b, 1u << 20);
			if (proto_encode(&b, &m[i], lim.max_frame) != 0) {
				fprintf(stderr, "bench_proto: cannot encode %s\n",
					proto_type_name(m[i].type));
				return 1;
			}
			double min;
			uint64_t ops;
			double med =
			    measure(&m[i], b.data + PROTO_FRAME_HEADER, b.len - PROTO_FRAME_HEADER,
				    dir == 0, secs, count, reps, &min, &ops);
			proto_buf_free(&b);
			if (med < 0) {
				fprintf(stderr, "bench_proto: %s of %s failed\n",
					dir == 0 ? "encode" : "decode", proto_type_name(m[i].type));
				return 1;
			}
			sum[dir] += med;
			printf("%s_%s,%llu,%.1f,%.1f\n", dir == 0 ? "encode" : "decode",
			       proto_type_name(m[i].type), (unsigned long long)ops, med, min);
		}
	}
	printf("encode_all,,%.1f,\ndecode_all,,%.1f,\n", sum[0], sum[1]);
	return 0;
}
