/* conf diagnostics ("file:line: error|warning: msg", capped) and the line/token helpers shared by
 * the cluster, latency and quorum file readers. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf_int.h"

/* ---- diagnostics -------------------------------------------------------------------------- */

/* Replaces control bytes (a fuzzed or binary file) so that printing a message is harmless. */
static void sanitize(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

/* The last listed entry, which counts the dropped ones; created when the first one is dropped. */
static void note_dropped(struct conf_diags *d, bool error, const char *file)
{
	d->n_dropped++;
	struct conf_diag *g;
	if (d->n == CONF_MAX_DIAGS) {
		if (d->cap <= d->n)
			return; /* the list could not grow: counted only */
		g = &d->v[d->n++];
		memset(g, 0, sizeof *g);
		snprintf(g->file, sizeof g->file, "%s", file ? file : "");
	} else {
		g = &d->v[d->n - 1];
	}
	g->error = g->error || error;
	snprintf(g->msg, sizeof g->msg, "too many diagnostics: %zu more not listed", d->n_dropped);
}

void conf_diag_vadd(struct conf_diags *d, bool error, const char *file, int line, const char *fmt,
		    va_list ap)
{
	if (d == NULL)
		return;
	if (error)
		d->n_errors++;
	else
		d->n_warnings++;
	if (d->n >= CONF_MAX_DIAGS) {
		note_dropped(d, error, file);
		return;
	}
	if (d->n == d->cap) {
		/* room for CONF_MAX_DIAGS entries plus the "too many" note */
		size_t ncap = d->cap ? d->cap * 2 : 16;
		if (ncap > CONF_MAX_DIAGS + 1)
			ncap = CONF_MAX_DIAGS + 1;
		struct conf_diag *nv = realloc(d->v, ncap * sizeof *nv);
		if (nv == NULL) {
			d->n_dropped++; /* out of memory: still counted */
			return;
		}
		d->v = nv;
		d->cap = ncap;
	}
	struct conf_diag *g = &d->v[d->n++];
	memset(g, 0, sizeof *g);
	g->error = error;
	snprintf(g->file, sizeof g->file, "%s", file ? file : "");
	g->line = line > 0 ? line : 0;
	vsnprintf(g->msg, sizeof g->msg, fmt, ap);
	sanitize(g->file);
	sanitize(g->msg);
}

void conf_diag_add(struct conf_diags *d, bool error, const char *file, int line, const char *fmt,
		   ...)
{
	va_list ap;
	va_start(ap, fmt);
	conf_diag_vadd(d, error, file, line, fmt, ap);
	va_end(ap);
}

void conf_diag_error(struct conf_diags *d, const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	conf_diag_vadd(d, true, file, line, fmt, ap);
	va_end(ap);
}

void conf_diag_warn(struct conf_diags *d, const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	conf_diag_vadd(d, false, file, line, fmt, ap);
	va_end(ap);
}

void conf_diags_free(struct conf_diags *d)
{
	if (d == NULL)
		return;
	free(d->v);
	memset(d, 0, sizeof *d);
}

void conf_diags_print(const struct conf_diags *d, FILE *out)
{
	if (d == NULL)
		return;
	for (size_t i = 0; i < d->n; i++) {
		const struct conf_diag *g = &d->v[i];
		const char *kind = g->error ? "error" : "warning";
		if (g->line > 0)
			fprintf(out, "%s:%d: %s: %s\n", g->file, g->line, kind, g->msg);
		else
			fprintf(out, "%s: %s: %s\n", g->file, kind, g->msg);
	}
}

/* ---- reading files ------------------------------------------------------------------------- */

int conf_read_file(const char *path, char **text, size_t *len)
{
	*text = NULL;
	*len = 0;
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return -errno;
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap + 1);
	if (buf == NULL) {
		fclose(f);
		return -ENOMEM;
	}
	int rc = 0;
	for (;;) {
		if (n == cap) {
			if (cap == CONF_MAX_FILE) {
				/* full: an error only if there is more */
				if (fgetc(f) != EOF)
					rc = -EFBIG;
				else if (ferror(f))
					rc = -EIO;
				break;
			}
			size_t ncap = cap * 2 > CONF_MAX_FILE ? CONF_MAX_FILE : cap * 2;
			char *nb = realloc(buf, ncap + 1);
			if (nb == NULL) {
				rc = -ENOMEM;
				break;
			}
			buf = nb;
			cap = ncap;
		}
		size_t want = cap - n;
		size_t got = fread(buf + n, 1, want, f);
		n += got;
		if (got < want) { /* end of file or error */
			if (ferror(f))
				rc = -EIO;
			break;
		}
	}
	fclose(f);
	if (rc != 0) {
		free(buf);
		return rc;
	}
	buf[n] = 0;
	*text = buf;
	*len = n;
	return 0;
}

/* ---- lines and tokens ---------------------------------------------------------------------- */

void conf_lines_init(struct conf_lines *it, const char *text, size_t len)
{
	it->p = text;
	it->end = text + len;
	it->lineno = 0;
}

int conf_next_line(struct conf_lines *it, char *buf, bool *too_long)
{
	*too_long = false;
	if (it->p >= it->end)
		return 0;
	const char *s = it->p;
	const char *nl = memchr(s, '\n', (size_t)(it->end - s));
	const char *e = nl ? nl : it->end;
	it->p = nl ? nl + 1 : it->end;
	it->lineno++;
	size_t n = (size_t)(e - s);
	if (n > 0 && s[n - 1] == '\r')
		n--;
	if (n > CONF_MAX_LINE) {
		*too_long = true;
		buf[0] = 0;
		return 1;
	}
	memcpy(buf, s, n);
	buf[n] = 0;
	/* a NUL inside the line would silently cut it: make it a visible, invalid byte instead */
	for (size_t i = 0; i < n; i++)
		if (buf[i] == 0)
			buf[i] = '\x7f';
	return 1;
}

bool conf_is_comment(const char *t)
{
	return t[0] == '#' || (t[0] == '/' && t[1] == '/');
}

int conf_tokenize(char *line, char **tok, int max)
{
	int n = 0;
	char *p = line;
	for (;;) {
		while (*p && isspace((unsigned char)*p))
			p++;
		if (*p == 0)
			break;
		char *start = p;
		while (*p && !isspace((unsigned char)*p))
			p++;
		if (*p)
			*p++ = 0;
		if (conf_is_comment(start))
			break;
		if (n < max)
			tok[n] = start;
		n++;
	}
	return n;
}

void conf_lower(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}
