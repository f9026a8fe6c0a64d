/* workload: the load generator's operation mix (CONF.md 2): reproducible from a seed. */
#ifndef CURPKV_WORKLOAD_H
#define CURPKV_WORKLOAD_H

#include <stdbool.h>
#include <stdint.h>

#include "common/rng.h"
#include "conf/conf.h"

/* Zipf(s) over ranks [0, n): P(k) proportional to (k+1)^-s; rank 0 is the hottest key.
 * Rejection-inversion sampling: O(1) memory and time per draw (no per-thread tables). */
struct workload_zipf {
	uint64_t n;
	double s;
	double h_x1, h_n, q;
};

/* Prepares z for n > 0 keys and exponent s > 0. */
void workload_zipf_init(struct workload_zipf *z, uint64_t n, double s);
/* Draws a rank in [0, n). */
uint64_t workload_zipf_next(const struct workload_zipf *z, struct common_rng *r);

enum workload_class {
	WL_STRONG_WRITE = 0,
	WL_STRONG_READ,
	WL_WEAK_WRITE,
	WL_WEAK_READ,
	WL_CLASSES
};

/* One session's generator. */
struct workload {
	const struct conf_settings *s;
	uint64_t session;  /* global session index (process rank * threads + thread) */
	uint64_t counter;  /* unique-key counter (keySpace 0) */
	struct workload_zipf zipf;
	bool use_zipf;
	struct common_rng rng;
};

/* One generated operation; key bytes live in the op. */
struct workload_op {
	bool weak;
	bool write;
	bool del; /* a write that is a DEL (deletes% of the writes), not a PUT */
	uint64_t key;
	uint32_t scan_count; /* > 0: a SCAN of that many keys from key (a weak read) */
	enum workload_class cls;
};

/* Prepares a generator for session `session` with seed `seed` (each session's stream differs). */
void workload_init(struct workload *w, const struct conf_settings *s, uint64_t session,
		   uint64_t seed);
/* Draws the next operation. A weak read becomes a SCAN with probability scanRatio% when
 * scanCount > 0; its count is log-uniform over [1, scanCount] (ceil(exp(u * ln scanCount))), as
 * the prototype drew it. Scans are weak reads (WL_WEAK_READ). A write (strong or weak) becomes a
 * DEL with probability deletes%; that coin is drawn last and only when deletes > 0, so a seed
 * gives the same operations as before the key existed when deletes is 0. */
void workload_next(struct workload *w, struct workload_op *op);

/* Fills val (len bytes) with the value written by (session, seq): it starts with
 * "s<session>-<seq>-" so every written value is unique and a read names its write, then pads with
 * a repeating pattern. len below the prefix length gets a truncated prefix. */
void workload_value(uint8_t *val, uint32_t len, uint64_t session, uint64_t seq);

#endif
