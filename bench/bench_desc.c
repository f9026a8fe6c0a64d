/* bench_desc: acquire/release pairs per second on one desc pool, single-threaded and with 2
 * threads, CSV on stdout. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "desc/desc.h"

enum { CAPACITY = 10000, PAYLOAD = 64, MAX_HELD = 64, STOP_CHECK = 1024 };

static const char usage[] =
    "usage: bench_desc [-d seconds] [-h]\n"
    "Measures desc_acquire + desc_release pairs per second on one pool of 10000 descriptors\n"
    "with 64-byte payloads (unreserved acquisitions, no reserve). Cases, one CSV line each:\n"
    "  pair    each thread releases a descriptor right after acquiring it (the LIFO free list\n"
    "          hands the same slot back: the cheapest path)\n"
    "  window  each thread keeps 16 descriptors held and releases the oldest after each\n"
    "          acquisition (slots rotate, as in a replica with commands in flight)\n"
    "each with 1 and then 2 threads on the same pool. pairs_per_sec is the sum over threads.\n"
    "  -d seconds   duration of each case (default 1)\n"
    "  -h           this help\n";

struct worker {
	struct desc_pool *p;
	pthread_barrier_t *start;
	uint64_t ns;
	unsigned held; /* descriptors kept in flight (0: release at once) */
	uint64_t pairs;
	uint64_t refused;
	uint64_t elapsed_ns;
};

static void *run(void *arg)
{
	struct worker *w = arg;
	desc_id ring[MAX_HELD];
	unsigned head = 0, n = 0;
	void *pl;
	pthread_barrier_wait(w->start);
	uint64_t t0 = common_now_ns();
	uint64_t end = t0 + w->ns, now;
	do {
		for (int i = 0; i < STOP_CHECK; i++) {
			desc_id id;
			if (desc_acquire(w->p, false, &id, &pl) != 0) {
				w->refused++;
				continue;
			}
			if (w->held == 0) {
				desc_release(w->p, id);
				w->pairs++;
				continue;
			}
			ring[(head + n) % MAX_HELD] = id;
			if (++n > w->held) {
				desc_release(w->p, ring[head]);
				head = (head + 1) % MAX_HELD;
				n--;
				w->pairs++;
			}
		}
		now = common_now_ns();
	} while (now < end);
	w->elapsed_ns = now - t0;
	for (; n > 0; n--, head = (head + 1) % MAX_HELD)
		desc_release(w->p, ring[head]);
	return NULL;
}

/* Runs one case; returns pairs per second (summed over threads) or -1 on error. */
static double measure(unsigned threads, unsigned held, double seconds)
{
	struct desc_pool *p;
	int rc = desc_pool_create(CAPACITY, 0, PAYLOAD, &p);
	if (rc != 0) {
		fprintf(stderr, "bench_desc: desc_pool_create: %s\n", strerror(-rc));
		return -1;
	}
	pthread_t th[2];
	struct worker w[2];
	pthread_barrier_t start;
	pthread_barrier_init(&start, NULL, threads);
	for (unsigned i = 0; i < threads; i++) {
		w[i] = (struct worker){
		    .p = p, .start = &start, .ns = (uint64_t)(seconds * 1e9), .held = held};
		if ((rc = pthread_create(&th[i], NULL, run, &w[i])) != 0) {
			/* the started threads wait at the barrier forever: give up */
			fprintf(stderr, "bench_desc: pthread_create: %s\n", strerror(rc));
			exit(1);
		}
	}
	double rate = 0;
	uint64_t refused = 0;
	for (unsigned i = 0; i < threads; i++) {
		pthread_join(th[i], NULL);
		rate += (double)w[i].pairs / ((double)w[i].elapsed_ns / 1e9);
		refused += w[i].refused;
	}
	pthread_barrier_destroy(&start);
	if (desc_in_use(p) != 0 || refused != 0) {
		fprintf(stderr, "bench_desc: %u in use, %llu refused at the end\n", desc_in_use(p),
			(unsigned long long)refused);
		rate = -1;
	}
	desc_pool_destroy(p);
	return rate;
}

int main(int argc, char **argv)
{
	double seconds = 1.0;
	int c;
	while ((c = getopt(argc, argv, "d:h")) != -1) {
		char *end = NULL;
		switch (c) {
		case 'd':
			errno = 0;
			seconds = strtod(optarg, &end);
			if (errno != 0 || end == optarg || *end != '\0' ||
			    !(seconds > 0 && seconds <= 3600)) {
				fprintf(stderr, "bench_desc: bad value for -d: %s\n", optarg);
				return 2;
			}
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fputs(usage, stderr);
		return 2;
	}
	static const struct {
		const char *name;
		unsigned held;
	} cases[] = {{"pair", 0}, {"window", 16}};
	printf("case,threads,held_per_thread,capacity,seconds,pairs_per_sec\n");
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		for (unsigned t = 1; t <= 2; t++) {
			double r = measure(t, cases[k].held, seconds);
			if (r < 0)
				return 1;
			printf("%s,%u,%u,%u,%g,%.0f\n", cases[k].name, t, cases[k].held, CAPACITY,
			       seconds, r);
			fflush(stdout);
		}
	}
	return 0;
}
