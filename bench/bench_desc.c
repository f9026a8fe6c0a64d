/* bench_desc: acquire/release pairs per second, single-threaded and with 2 threads on one pool. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "desc/desc.h"

struct worker {
	struct desc_pool *p;
	double seconds;
	uint64_t pairs;
};

static void *run(void *arg)
{
	struct worker *w = arg;
	uint64_t end = common_now_ns() + (uint64_t)(w->seconds * 1e9);
	uint64_t n = 0;
	while (1) {
		for (int i = 0; i < 1024; i++) {
			desc_id id;
			void *pl;
			if (desc_acquire(w->p, false, &id, &pl) == 0) {
				desc_release(w->p, id);
				n++;
			}
		}
		if (common_now_ns() >= end)
			break;
	}
	w->pairs = n;
	return NULL;
}

static double measure(int threads, double seconds)
{
	struct desc_pool *p;
	if (desc_pool_create(10000, 0, 64, &p) != 0)
		exit(1);
	pthread_t th[8];
	struct worker w[8];
	uint64_t t0 = common_now_ns();
	for (int i = 0; i < threads; i++) {
		w[i] = (struct worker){.p = p, .seconds = seconds};
		pthread_create(&th[i], NULL, run, &w[i]);
	}
	uint64_t total = 0;
	for (int i = 0; i < threads; i++) {
		pthread_join(th[i], NULL);
		total += w[i].pairs;
	}
	double el = (double)(common_now_ns() - t0) / 1e9;
	desc_pool_destroy(p);
	return (double)total / el;
}

int main(int argc, char **argv)
{
	double seconds = 1.0;
	int c;
	while ((c = getopt(argc, argv, "d:h")) != -1) {
		if (c == 'd') {
			seconds = atof(optarg);
		} else {
			printf("usage: bench_desc [-d seconds]\n"
			       "Prints acquire/release pairs per second on one pool (capacity 10000).\n");
			return c == 'h' ? 0 : 2;
		}
	}
	printf("threads,pairs_per_sec\n");
	printf("1,%.0f\n", measure(1, seconds));
	printf("2,%.0f\n", measure(2, seconds));
	return 0;
}
