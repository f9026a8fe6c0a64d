/* report: latency samples and the load generator's report (CONF.md 4). */
#ifndef CURPKV_REPORT_H
#define CURPKV_REPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "workload/workload.h"

/* Latency samples in milliseconds per class; one per thread, merged at the end. Not thread-safe. */
struct report_lat {
	double *v[WL_CLASSES];
	size_t n[WL_CLASSES], cap[WL_CLASSES];
};

/* Adds one sample. Returns 0 or -ENOMEM. */
int report_add(struct report_lat *l, enum workload_class cls, double ms);
/* Moves every sample of src into dst (src is emptied). Returns 0 or -ENOMEM. */
int report_merge(struct report_lat *dst, struct report_lat *src);
/* Sorts every class (before printing). */
void report_sort(struct report_lat *l);
void report_free(struct report_lat *l);

/* Nearest-rank percentile p (0..100) of a sorted array; 0 when empty. */
double report_percentile(const double *sorted, size_t n, double p);

#define REPORT_MAX_BOUND 256 /* sessions listed one by one; all are counted per replica */
#define REPORT_MAX_REPLICAS 15 /* (PROTO_MAX_REPLICAS) */

struct report_totals {
	double duration_s;
	uint64_t fast, slow, retry;  /* strong completions per path */
	uint64_t errors, timeouts;
	uint64_t weak;              /* weak completions (one replica) */
	uint64_t weak_waits;        /* weak reads a replica asked to repeat */
	uint64_t ho_check_failed;   /* HO witness answers refused by the causal_deps/read_dep checks */
	uint64_t rebinds;           /* changes of a session's bound replica, summed */
	bool weak_protocol;         /* curpho/curpht: print the weak and binding lines */
	bool deletes;               /* deletes > 0: print the Deletes line */
	uint64_t dels_strong, dels_weak; /* measured DELs completed (counted among the writes) */
	uint32_t n_bound;           /* sessions listed in bound[] (the first REPORT_MAX_BOUND) */
	int bound[REPORT_MAX_BOUND]; /* replica each session bound to */
	double bound_rtt_ms[REPORT_MAX_BOUND];
	uint32_t n_sessions;                        /* every session, listed or not */
	uint32_t bound_per[REPORT_MAX_REPLICAS];    /* sessions bound to each replica */
	uint32_t n_replicas;                        /* replicas to print bound_per for */
};

/* Prints the report of CONF.md section 4 (groups only when non-empty) and the path and error
 * lines after it, then, when t->deletes, how many of the writes were DELs. l must be sorted. */
void report_print(FILE *out, const struct report_lat *l, const struct report_totals *t);

/* Writes {"strong_write":[...],"strong_read":[...],"weak_write":[...],"weak_read":[...]} (ms,
 * sorted). Returns 0 or -errno. */
int report_write_json(const char *path, const struct report_lat *l);

#endif
