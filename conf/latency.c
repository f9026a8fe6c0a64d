/* conf latency: the -latency file, "uniform <rtt>" or "<addrA> <addrB> <rtt>" rows; half the RTT
 * is applied per direction. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf/conf_int.h"

#define MAX_ROWS   1000000
#define MAX_RTT_US (3600ull * 1000000) /* one hour */

/* An RTT needs a unit ("40ms", "0.5ms", "250us", "1s"); only "0" may go without one. */
static int parse_rtt(const char *tok, uint32_t *out)
{
	uint64_t us;
	if (conf_parse_duration_us(tok, false, &us) != 0 || us > MAX_RTT_US)
		return -EINVAL;
	*out = (uint32_t)us;
	return 0;
}

static int add_row(struct conf_latency *l, size_t *cap, const char *a, const char *b, uint32_t us)
{
	if (l->n_rows == *cap) {
		size_t ncap = *cap ? *cap * 2 : 64;
		struct conf_latency_row *nr = realloc(l->rows, ncap * sizeof *nr);
		if (nr == NULL)
			return -ENOMEM;
		l->rows = nr;
		*cap = ncap;
	}
	struct conf_latency_row *r = &l->rows[l->n_rows++];
	snprintf(r->a, sizeof r->a, "%s", a);
	snprintf(r->b, sizeof r->b, "%s", b);
	r->rtt_us = us;
	return 0;
}

int conf_latency_load(const char *path, struct conf_latency *out, struct conf_diags *d)
{
	memset(out, 0, sizeof *out);
	char *text;
	size_t len;
	int rc = conf_read_file(path, &text, &len);
	if (rc == -EFBIG)
		conf_diag_error(d, path, 0, "file larger than %u bytes", CONF_MAX_FILE);
	if (rc != 0)
		return rc;
	char *buf = malloc(CONF_MAX_LINE + 1);
	if (buf == NULL) {
		free(text);
		return -ENOMEM;
	}
	struct conf_lines it;
	conf_lines_init(&it, text, len);
	size_t cap = 0;
	int uniform_line = 0;
	bool too_long, told_ignored = false;
	while (rc != -ENOMEM && conf_next_line(&it, buf, &too_long)) {
		int line = it.lineno;
		if (too_long) {
			conf_diag_error(d, path, line, "line longer than %d bytes", CONF_MAX_LINE);
			rc = -EINVAL;
			continue;
		}
		char *tok[4];
		int n = conf_tokenize(buf, tok, 4);
		if (n == 0)
			continue;
		if (uniform_line) {
			/* as in the prototype, the first uniform line ends the file */
			if (!told_ignored)
				conf_diag_warn(
				    d, path, line,
				    "ignored: the 'uniform' line %d applies to every pair",
				    uniform_line);
			told_ignored = true;
			continue;
		}
		if (!strcasecmp(tok[0], "uniform")) {
			if (n != 2 || parse_rtt(tok[1], &out->uniform_rtt_us) != 0) {
				conf_diag_error(
				    d, path, line,
				    "expected 'uniform <rtt>' with a unit (e.g. uniform "
				    "50ms)");
				rc = -EINVAL;
				continue;
			}
			out->uniform = true;
			uniform_line = line;
			continue;
		}
		uint32_t us;
		if (n != 3) {
			conf_diag_error(d, path, line,
					"expected '<addrA> <addrB> <rtt>' (e.g. 10.0.0.1 10.0.0.2 "
					"40ms), got %d token%s",
					n, n == 1 ? "" : "s");
			rc = -EINVAL;
			continue;
		}
		if (strlen(tok[0]) >= CONF_ADDR_MAX || strlen(tok[1]) >= CONF_ADDR_MAX) {
			conf_diag_error(d, path, line, "address longer than %d bytes",
					CONF_ADDR_MAX - 1);
			rc = -EINVAL;
			continue;
		}
		if (parse_rtt(tok[2], &us) != 0) {
			conf_diag_error(d, path, line,
					"'%.40s' is not an RTT (a duration with a unit, e.g. 40ms, "
					"0.5ms, 250us; at most 1h)",
					tok[2]);
			rc = -EINVAL;
			continue;
		}
		if (out->n_rows >= MAX_ROWS) {
			conf_diag_error(d, path, line, "more than %d rows", MAX_ROWS);
			rc = -EINVAL;
			break;
		}
		if (add_row(out, &cap, tok[0], tok[1], us) != 0)
			rc = -ENOMEM;
	}
	free(buf);
	free(text);
	if (rc != 0)
		conf_latency_free(out);
	return rc;
}

void conf_latency_free(struct conf_latency *l)
{
	if (l == NULL)
		return;
	free(l->rows);
	memset(l, 0, sizeof *l);
}

uint32_t conf_latency_oneway_us(const struct conf_latency *l, const char *a, const char *b)
{
	if (l == NULL || a == NULL || b == NULL || !strcasecmp(a, b))
		return 0;
	if (l->uniform)
		return l->uniform_rtt_us / 2;
	/* the row in this direction wins; else the reverse one (the matrix is symmetric) */
	const struct conf_latency_row *back = NULL;
	for (size_t i = 0; i < l->n_rows; i++) {
		const struct conf_latency_row *r = &l->rows[i];
		if (!strcasecmp(r->a, a) && !strcasecmp(r->b, b))
			return r->rtt_us / 2;
		if (back == NULL && !strcasecmp(r->a, b) && !strcasecmp(r->b, a))
			back = r;
	}
	return back ? back->rtt_us / 2 : 0;
}
