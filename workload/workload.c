#include "workload/workload.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- Zipf by rejection-inversion (Hörmann & Derflinger), ranks 1..n internally ---------- */

/* log1p(x)/x, stable near 0 */
static double helper1(double x)
{
	return fabs(x) > 1e-8 ? log1p(x) / x : 1 - x * (0.5 - x * (1.0 / 3 - 0.25 * x));
}

/* (exp(x)-1)/x, stable near 0 */
static double helper2(double x)
{
	return fabs(x) > 1e-8 ? expm1(x) / x : 1 + x * 0.5 * (1 + x * (1.0 / 3) * (1 + 0.25 * x));
}

/* H(x) = integral of h(t) = t^-s: ((x^(1-s)) - 1) / (1 - s), written stably. */
static double h_integral(double x, double s)
{
	double lx = log(x);
	return helper2((1 - s) * lx) * lx;
}

static double h(double x, double s)
{
	return exp(-s * log(x));
}

static double h_integral_inv(double x, double s)
{
	double t = x * (1 - s);
	if (t < -1)
		t = -1; /* numerical guard */
	return exp(helper1(t) * x);
}

void workload_zipf_init(struct workload_zipf *z, uint64_t n, double s)
{
	z->n = n;
	z->s = s;
	z->h_x1 = h_integral(1.5, s) - 1;
	z->h_n = h_integral((double)n + 0.5, s);
	z->q = 2 - h_integral_inv(h_integral(2.5, s) - h(2, s), s);
}

uint64_t workload_zipf_next(const struct workload_zipf *z, struct common_rng *r)
{
	for (;;) {
		double u = z->h_n + common_rng_unit(r) * (z->h_x1 - z->h_n);
		double x = h_integral_inv(u, z->s);
		double kd = floor(x + 0.5);
		if (kd < 1)
			kd = 1;
		if (kd > (double)z->n)
			kd = (double)z->n;
		if (kd - x <= z->q || u >= h_integral(kd + 0.5, z->s) - h(kd, z->s))
			return (uint64_t)kd - 1;
	}
}

/* ---- operations ------------------------------------------------------------------------ */

void workload_init(struct workload *w, const struct conf_settings *s, uint64_t session,
		   uint64_t seed)
{
	memset(w, 0, sizeof *w);
	w->s = s;
	w->session = session;
	common_rng_seed(&w->rng, seed ^ (0x9e3779b97f4a7c15ull * (session + 1)));
	w->use_zipf = s->key_space > 0 && s->zipf_skew >= 0.01;
	if (w->use_zipf)
		workload_zipf_init(&w->zipf, s->key_space, s->zipf_skew);
}

void workload_next(struct workload *w, struct workload_op *op)
{
	const struct conf_settings *s = w->s;
	op->weak = common_rng_coin(&w->rng, s->weak_ratio);
	op->write = common_rng_coin(&w->rng, op->weak ? s->weak_writes : s->writes);
	if (common_rng_coin(&w->rng, s->conflicts))
		op->key = s->key;
	else if (s->key_space > 0)
		op->key = w->use_zipf ? workload_zipf_next(&w->zipf, &w->rng)
				      : common_rng_below(&w->rng, s->key_space);
	else
		op->key = (w->session << 40) | (w->counter++ & ((1ull << 40) - 1)); /* unique */
	op->scan_count = 0;
	if (op->weak && !op->write && s->scan_ratio > 0 && s->scan_count > 0 &&
	    common_rng_coin(&w->rng, s->scan_ratio)) {
		double c = ceil(exp(common_rng_unit(&w->rng) * log((double)s->scan_count)));
		op->scan_count = c < 1 ? 1 : c > s->scan_count ? s->scan_count : (uint32_t)c;
	}
	/* last, and only when asked for: with deletes 0 the stream of draws is the one seeded runs
	 * made before this key existed */
	op->del = op->write && s->deletes > 0 && common_rng_coin(&w->rng, s->deletes);
	op->cls = op->weak ? (op->write ? WL_WEAK_WRITE : WL_WEAK_READ)
			   : (op->write ? WL_STRONG_WRITE : WL_STRONG_READ);
}

void workload_value(uint8_t *val, uint32_t len, uint64_t session, uint64_t seq)
{
	char prefix[48];
	int n = snprintf(prefix, sizeof prefix, "s%llu-%llu-", (unsigned long long)session,
			 (unsigned long long)seq);
	for (uint32_t i = 0; i < len; i++)
		val[i] = i < (uint32_t)n ? (uint8_t)prefix[i] : (uint8_t)('a' + (i % 26));
}
