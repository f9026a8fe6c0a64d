#include "report/report.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int report_add(struct report_lat *l, enum workload_class cls, double ms)
{
	if (l->n[cls] == l->cap[cls]) {
		size_t ncap = l->cap[cls] ? l->cap[cls] * 2 : 4096;
		double *nv = realloc(l->v[cls], ncap * sizeof *nv);
		if (nv == NULL)
			return -ENOMEM;
		l->v[cls] = nv;
		l->cap[cls] = ncap;
	}
	l->v[cls][l->n[cls]++] = ms;
	return 0;
}

int report_merge(struct report_lat *dst, struct report_lat *src)
{
	for (int c = 0; c < WL_CLASSES; c++) {
		for (size_t i = 0; i < src->n[c]; i++)
			if (report_add(dst, (enum workload_class)c, src->v[c][i]) != 0)
				return -ENOMEM;
		src->n[c] = 0;
	}
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

void report_sort(struct report_lat *l)
{
	for (int c = 0; c < WL_CLASSES; c++)
		if (l->n[c] > 1)
			qsort(l->v[c], l->n[c], sizeof(double), cmp_double);
}

void report_free(struct report_lat *l)
{
	for (int c = 0; c < WL_CLASSES; c++)
		free(l->v[c]);
	memset(l, 0, sizeof *l);
}

double report_percentile(const double *sorted, size_t n, double p)
{
	if (n == 0)
		return 0;
	size_t rank = (size_t)ceil(p / 100.0 * (double)n);
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return sorted[rank - 1];
}

static double mean(const double *v, size_t n)
{
	double s = 0;
	for (size_t i = 0; i < n; i++)
		s += v[i];
	return n ? s / (double)n : 0;
}

static void stats_line(FILE *out, const char *label, const double *v, size_t n)
{
	fprintf(out, "%sAvg: %.2fms | Median: %.2fms | P99: %.2fms | P99.9: %.2fms\n", label,
		mean(v, n), report_percentile(v, n, 50), report_percentile(v, n, 99),
		report_percentile(v, n, 99.9));
}

/* Merged, sorted copy of two sorted classes (for the group's own line). */
static double *merge2(const double *a, size_t na, const double *b, size_t nb)
{
	double *m = malloc((na + nb ? na + nb : 1) * sizeof *m);
	if (m == NULL)
		return NULL;
	size_t i = 0, j = 0, k = 0;
	while (i < na && j < nb)
		m[k++] = a[i] <= b[j] ? a[i++] : b[j++];
	while (i < na)
		m[k++] = a[i++];
	while (j < nb)
		m[k++] = b[j++];
	return m;
}

static void group(FILE *out, const char *name, const char *wlabel, const char *rlabel,
		  const struct report_lat *l, enum workload_class w, enum workload_class r,
		  size_t total)
{
	size_t n = l->n[w] + l->n[r];
	if (n == 0)
		return;
	fprintf(out, "\n%s Operations: %zu (%.1f%%)\n", name, n,
		total ? 100.0 * (double)n / (double)total : 0.0);
	fprintf(out, "  Writes: %zu | Reads: %zu\n", l->n[w], l->n[r]);
	double *all = merge2(l->v[w], l->n[w], l->v[r], l->n[r]);
	if (all) {
		stats_line(out, "  ", all, n);
		free(all);
	}
	if (l->n[w])
		stats_line(out, wlabel, l->v[w], l->n[w]);
	if (l->n[r])
		stats_line(out, rlabel, l->v[r], l->n[r]);
}

void report_print(FILE *out, const struct report_lat *l, const struct report_totals *t)
{
	size_t total = 0;
	for (int c = 0; c < WL_CLASSES; c++)
		total += l->n[c];
	fprintf(out, "Total operations: %zu\n", total);
	fprintf(out, "Duration: %.2fs\n", t->duration_s);
	fprintf(out, "Throughput: %.2f ops/sec\n",
		t->duration_s > 0 ? (double)total / t->duration_s : 0.0);
	group(out, "Strong", "  Strong Write: ", "  Strong Read:  ", l, WL_STRONG_WRITE,
	      WL_STRONG_READ, total);
	group(out, "Weak", "  Weak Write:  ", "  Weak Read:   ", l, WL_WEAK_WRITE, WL_WEAK_READ,
	      total);
	uint64_t strong = t->fast + t->slow + t->retry;
	fprintf(out, "\nStrong paths: fast %llu (%.1f%%) | slow %llu | retry %llu\n",
		(unsigned long long)t->fast,
		strong ? 100.0 * (double)t->fast / (double)strong : 0.0, (unsigned long long)t->slow,
		(unsigned long long)t->retry);
	fprintf(out, "Errors: %llu | Timeouts: %llu\n", (unsigned long long)t->errors,
		(unsigned long long)t->timeouts);
	/* DELs are writes in the groups above (the prototype's lines have no place for them) */
	if (t->deletes)
		fprintf(out, "Deletes: %llu of %zu writes (strong %llu | weak %llu)\n",
			(unsigned long long)(t->dels_strong + t->dels_weak),
			l->n[WL_STRONG_WRITE] + l->n[WL_WEAK_WRITE],
			(unsigned long long)t->dels_strong, (unsigned long long)t->dels_weak);
	if (!t->weak_protocol)
		return;
	fprintf(out,
		"Weak: %llu completed on one replica | read waits %llu | HO checks refused %llu | "
		"rebinds %llu\n",
		(unsigned long long)t->weak, (unsigned long long)t->weak_waits,
		(unsigned long long)t->ho_check_failed, (unsigned long long)t->rebinds);
	fprintf(out, "Bound replicas (session: replica, rtt):");
	for (uint32_t i = 0; i < t->n_bound; i++)
		fprintf(out, " %u:replica%d,%.2fms", i, t->bound[i], t->bound_rtt_ms[i]);
	fprintf(out, "\n");
	/* every session, the list above holding only the first REPORT_MAX_BOUND (until 2026-12-07
	 * the only line, so a run of 1,024 sessions showed 256 bound) */
	fprintf(out, "Sessions per bound replica (%u sessions, %u listed above):", t->n_sessions,
		t->n_bound);
	for (uint32_t r = 0; r < t->n_replicas && r < REPORT_MAX_REPLICAS; r++)
		fprintf(out, "%s replica%u %u", r ? " |" : "", r, t->bound_per[r]);
	fprintf(out, "\n");
}

int report_write_json(const char *path, const struct report_lat *l)
{
	static const char *const names[WL_CLASSES] = {"strong_write", "strong_read", "weak_write",
						      "weak_read"};
	FILE *f = fopen(path, "w");
	if (f == NULL)
		return -errno;
	fputc('{', f);
	for (int c = 0; c < WL_CLASSES; c++) {
		fprintf(f, "%s\"%s\":[", c ? "," : "", names[c]);
		for (size_t i = 0; i < l->n[c]; i++)
			fprintf(f, "%s%.4f", i ? "," : "", l->v[c][i]);
		fputc(']', f);
	}
	fputs("}\n", f);
	int rc = ferror(f) ? -EIO : 0;
	if (fclose(f) != 0 && rc == 0)
		rc = -errno;
	return rc;
}
