/* conf latency: the -latency file ("uniform <rtt>" or "<addrA> <addrB> <rtt>" rows). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf/conf_int.h"

static int rtt_us(const char *tok, uint32_t *out)
{
	/* durations in ms resolution are too coarse for loopback: accept us too */
	uint64_t ms;
	size_t n = strlen(tok);
	if (n > 2 && !strcasecmp(tok + n - 2, "us")) {
		char *end;
		unsigned long long v = strtoull(tok, &end, 10);
		if (end != tok + n - 2 || !isdigit((unsigned char)tok[0]) || v > 3600000000ull)
			return -EINVAL;
		*out = (uint32_t)v;
		return 0;
	}
	if (conf_parse_duration_ms(tok, &ms) != 0 || ms > 3600000)
		return -EINVAL;
	*out = (uint32_t)(ms * 1000);
	return 0;
}

int conf_latency_load(const char *path, struct conf_latency *out, struct conf_diags *d)
{
	memset(out, 0, sizeof *out);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return -errno;
	char line[CONF_MAX_LINE + 2];
	int lineno = 0;
	size_t cap = 0;
	int rc = 0;
	while (fgets(line, sizeof line, f)) {
		lineno++;
		if (strchr(line, '\n') == NULL && !feof(f)) {
			conf_diag_add(d, true, path, lineno, "line longer than %d bytes", CONF_MAX_LINE);
			rc = -EINVAL;
			int ch;
			while ((ch = fgetc(f)) != EOF && ch != '\n')
				;
			continue;
		}
		char *tok[4];
		int n = 0;
		for (char *t = strtok(line, " \t\r\n"); t && n < 4; t = strtok(NULL, " \t\r\n")) {
			if (t[0] == '#' || (t[0] == '/' && t[1] == '/'))
				break;
			tok[n++] = t;
		}
		if (n == 0 || out->uniform)
			continue;
		if (!strcasecmp(tok[0], "uniform")) {
			if (n != 2 || rtt_us(tok[1], &out->uniform_rtt_us) != 0) {
				conf_diag_add(d, true, path, lineno, "expected 'uniform <rtt>' (e.g. 50ms)");
				rc = -EINVAL;
				continue;
			}
			out->uniform = true;
			continue;
		}
		uint32_t us;
		if (n != 3 || strlen(tok[0]) >= CONF_ADDR_MAX || strlen(tok[1]) >= CONF_ADDR_MAX ||
		    rtt_us(tok[2], &us) != 0) {
			conf_diag_add(d, true, path, lineno, "expected '<addrA> <addrB> <rtt>' (e.g. "
							     "10.0.0.1 10.0.0.2 40ms)");
			rc = -EINVAL;
			continue;
		}
		if (out->n_rows == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			if (ncap > 1000000) {
				conf_diag_add(d, true, path, lineno, "too many rows");
				rc = -EINVAL;
				break;
			}
			struct conf_latency_row *nr = realloc(out->rows, ncap * sizeof *nr);
			if (nr == NULL) {
				rc = -ENOMEM;
				break;
			}
			out->rows = nr;
			cap = ncap;
		}
		struct conf_latency_row *r = &out->rows[out->n_rows++];
		snprintf(r->a, sizeof r->a, "%s", tok[0]);
		snprintf(r->b, sizeof r->b, "%s", tok[1]);
		r->rtt_us = us;
	}
	fclose(f);
	if (rc != 0)
		conf_latency_free(out);
	return rc;
}

void conf_latency_free(struct conf_latency *l)
{
	free(l->rows);
	memset(l, 0, sizeof *l);
}

uint32_t conf_latency_oneway_us(const struct conf_latency *l, const char *a, const char *b)
{
	if (l == NULL || !strcasecmp(a, b))
		return 0;
	if (l->uniform)
		return l->uniform_rtt_us / 2;
	uint32_t back = UINT32_MAX;
	for (size_t i = 0; i < l->n_rows; i++) {
		const struct conf_latency_row *r = &l->rows[i];
		if (!strcasecmp(r->a, a) && !strcasecmp(r->b, b))
			return r->rtt_us / 2;
		if (!strcasecmp(r->a, b) && !strcasecmp(r->b, a))
			back = r->rtt_us / 2;
	}
	return back == UINT32_MAX ? 0 : back;
}
