/* resp: RESP2 request parsing and reply encoding (see resp.h). */
#include "resp/resp.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- byte buffer -------------------------------------------------------------------------- */

int resp_buf_reserve(struct resp_buf *b, size_t n)
{
	if (b->off > 0 && b->cap - b->len < n) {
		memmove(b->p, b->p + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
	}
	if (b->cap - b->len >= n)
		return 0;
	size_t cap = b->cap ? b->cap : 512;
	while (cap - b->len < n) {
		if (cap > SIZE_MAX / 2)
			return -ENOMEM;
		cap *= 2;
	}
	uint8_t *np = realloc(b->p, cap);
	if (np == NULL)
		return -ENOMEM;
	b->p = np;
	b->cap = cap;
	return 0;
}

int resp_buf_add(struct resp_buf *b, const void *p, size_t n)
{
	if (n == 0)
		return 0;
	int rc = resp_buf_reserve(b, n);
	if (rc != 0)
		return rc;
	memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

void resp_buf_consume(struct resp_buf *b, size_t n)
{
	b->off += n;
	if (b->off >= b->len)
		b->off = b->len = 0; /* empty: start over at the front */
}

void resp_buf_free(struct resp_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof *b);
}

/* ---- request parser ------------------------------------------------------------------------ */

void resp_parser_init(struct resp_parser *p, const struct resp_limits *lim)
{
	memset(p, 0, sizeof *p);
	p->lim = *lim;
}

void resp_parser_free(struct resp_parser *p)
{
	free(p->argv);
	free(p->scratch);
	memset(p, 0, sizeof *p);
}

static int proto_err(struct resp_parser *p, const char *what)
{
	snprintf(p->err, sizeof p->err, "Protocol error: %s", what);
	return -EPROTO;
}

static int push_arg(struct resp_parser *p, const uint8_t *a, size_t n)
{
	if (p->argc >= p->lim.max_args)
		return proto_err(p, "too many arguments");
	if (p->argc == p->cap) {
		uint32_t cap = p->cap ? p->cap * 2 : 8;
		struct resp_arg *na = realloc(p->argv, cap * sizeof *na);
		if (na == NULL)
			return -ENOMEM;
		p->argv = na;
		p->cap = cap;
	}
	p->argv[p->argc++] = (struct resp_arg){.p = a, .len = (uint32_t)n};
	return 0;
}

/* A strict decimal (Redis's string2ll): optional '-', digits, no leading zero but "0", at most
 * 18 digits (lengths far beyond any limit are refused by the caller anyway). */
static bool parse_len(const uint8_t *s, size_t n, long long *out)
{
	bool neg = n > 0 && s[0] == '-';
	size_t i = neg ? 1 : 0;
	if (n == i || n - i > 18 || (s[i] == '0' && n - i > 1))
		return false;
	long long v = 0;
	for (; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = neg ? -v : v;
	return true;
}

/* A header line "<c><digits>\r\n" at buf[pos..len): 1 with *v and *next (after its LF), 0 if
 * incomplete, -EPROTO (too long, no LF after CR, not a number). */
static int header(struct resp_parser *p, const uint8_t *buf, size_t len, size_t pos, long long *v,
		  size_t *next, const char *what)
{
	size_t avail = len - pos;
	size_t scan = avail < RESP_INLINE_MAX ? avail : RESP_INLINE_MAX;
	const uint8_t *cr = memchr(buf + pos, '\r', scan);
	if (cr == NULL) {
		if (avail >= RESP_INLINE_MAX)
			return proto_err(p, what[0] == 'm' ? "too big mbulk count string"
							   : "too big bulk count string");
		return 0;
	}
	size_t crpos = (size_t)(cr - buf);
	if (crpos + 1 >= len)
		return 0;
	if (buf[crpos + 1] != '\n' || !parse_len(buf + pos + 1, crpos - pos - 1, v))
		return proto_err(p, what[0] == 'm' ? "invalid multibulk length"
						   : "invalid bulk length");
	*next = crpos + 2;
	return 1;
}

static int parse_multibulk(struct resp_parser *p, const uint8_t *buf, size_t len, size_t start,
			   size_t *end)
{
	long long n;
	size_t pos;
	int rc = header(p, buf, len, start, &n, &pos, "mbulk");
	if (rc <= 0)
		return rc;
	if (n <= 0) {
		*end = pos;
		return 2; /* an empty request: skipped */
	}
	if ((unsigned long long)n > p->lim.max_args)
		return proto_err(p, "too many arguments");
	for (long long i = 0; i < n; i++) {
		if (pos >= len)
			return 0;
		if (buf[pos] != '$') {
			char what[48];
			if (isprint(buf[pos]))
				snprintf(what, sizeof what, "expected '$', got '%c'", buf[pos]);
			else
				snprintf(what, sizeof what, "expected '$', got byte 0x%02x",
					 buf[pos]);
			return proto_err(p, what);
		}
		long long blen;
		rc = header(p, buf, len, pos, &blen, &pos, "bulk");
		if (rc <= 0)
			return rc;
		if (blen < 0 || (unsigned long long)blen > p->lim.max_bulk)
			return proto_err(p, "invalid bulk length");
		/* the whole request's size is checked on what it declares, so the caller never
		 * buffers more than max_request (plus a header) waiting for it */
		if (pos - start + (size_t)blen + 2 > p->lim.max_request)
			return proto_err(p, "request too large");
		if (len - pos < (size_t)blen + 2)
			return 0;
		if (buf[pos + blen] != '\r' || buf[pos + blen + 1] != '\n')
			return proto_err(p, "bulk not terminated by CRLF");
		rc = push_arg(p, buf + pos, (size_t)blen);
		if (rc != 0)
			return rc;
		pos += (size_t)blen + 2;
	}
	*end = pos;
	return 1;
}

static int hexval(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (uint8_t)tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Splits an inline line into arguments as redis-server does (sdssplitargs): blanks separate
 * them; "..." takes \xHH, \n, \r, \t, \b, \a and \<c>; '...' takes \'; a closing quote must
 * be followed by a blank or the end. Unquoted bytes go to p->scratch (never longer than the
 * line). */
static int split_inline(struct resp_parser *p, const uint8_t *s, size_t n)
{
	if (p->scratch_cap < n + 1) {
		uint8_t *ns = realloc(p->scratch, n + 1);
		if (ns == NULL)
			return -ENOMEM;
		p->scratch = ns;
		p->scratch_cap = n + 1;
	}
	uint8_t *out = p->scratch;
	size_t i = 0;
	for (;;) {
		while (i < n && isspace(s[i]))
			i++;
		if (i == n)
			return 0;
		uint8_t *arg = out;
		char q = 0;
		for (;;) {
			if (i == n) {
				if (q)
					return proto_err(p, "unbalanced quotes in request");
				break;
			}
			uint8_t c = s[i];
			if (q == '"' && c == '\\' && i + 3 < n && s[i + 1] == 'x' &&
			    hexval(s[i + 2]) >= 0 && hexval(s[i + 3]) >= 0) {
				*out++ = (uint8_t)(hexval(s[i + 2]) * 16 + hexval(s[i + 3]));
				i += 4;
			} else if (q == '"' && c == '\\' && i + 1 < n) {
				static const char from[] = "nrtba", to[] = "\n\r\t\b\a";
				const char *k = memchr(from, s[i + 1], 5);
				*out++ = k ? (uint8_t)to[k - from] : s[i + 1];
				i += 2;
			} else if (q == '\'' && c == '\\' && i + 1 < n && s[i + 1] == '\'') {
				*out++ = '\'';
				i += 2;
			} else if (q && c == (uint8_t)q) {
				i++;
				if (i < n && !isspace(s[i]))
					return proto_err(p, "unbalanced quotes in request");
				break;
			} else if (!q && (c == '"' || c == '\'') && out == arg) {
				q = (char)c;
				i++;
			} else if (!q && isspace(c)) {
				break;
			} else {
				*out++ = c;
				i++;
			}
		}
		int rc = push_arg(p, arg, (size_t)(out - arg));
		if (rc != 0)
			return rc;
	}
}

static int parse_inline(struct resp_parser *p, const uint8_t *buf, size_t len, size_t start,
			size_t *end)
{
	size_t avail = len - start;
	const uint8_t *nl =
	    memchr(buf + start, '\n', avail < RESP_INLINE_MAX + 1 ? avail : RESP_INLINE_MAX + 1);
	if (nl == NULL)
		return avail > RESP_INLINE_MAX ? proto_err(p, "too big inline request") : 0;
	size_t n = (size_t)(nl - (buf + start));
	*end = start + n + 1;
	if (n > 0 && buf[start + n - 1] == '\r')
		n--;
	int rc = split_inline(p, buf + start, n);
	if (rc != 0)
		return rc;
	return p->argc ? 1 : 2; /* a blank line: skipped */
}

int resp_parse(struct resp_parser *p, const uint8_t *buf, size_t len, size_t *used)
{
	size_t pos = 0;
	*used = 0;
	p->err[0] = 0;
	while (pos < len) {
		size_t end = pos;
		p->argc = 0;
		p->inline_req = buf[pos] != '*';
		int rc = p->inline_req ? parse_inline(p, buf, len, pos, &end)
				       : parse_multibulk(p, buf, len, pos, &end);
		if (rc < 0) {
			p->argc = 0;
			return rc;
		}
		if (rc == 0)
			break;
		pos = end;
		if (rc == 1) {
			*used = pos;
			return 1;
		}
		*used = pos; /* rc == 2: an empty request, consumed */
	}
	p->argc = 0;
	return 0;
}

/* ---- reply encoder ------------------------------------------------------------------------- */

int resp_add_simple(struct resp_buf *b, const char *s)
{
	size_t n = strlen(s);
	int rc = resp_buf_reserve(b, n + 3);
	if (rc != 0)
		return rc;
	b->p[b->len++] = '+';
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len++] = '\r';
	b->p[b->len++] = '\n';
	return 0;
}

int resp_add_error(struct resp_buf *b, const char *fmt, ...)
{
	char text[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(text + 1, sizeof text - 3, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n > sizeof text - 4)
		n = (int)(sizeof text - 4); /* truncated */
	text[0] = '-';
	for (int i = 1; i <= n; i++)
		if (text[i] == '\r' || text[i] == '\n')
			text[i] = ' ';
	text[n + 1] = '\r';
	text[n + 2] = '\n';
	return resp_buf_add(b, text, (size_t)n + 3);
}

static int add_prefixed(struct resp_buf *b, char c, long long v)
{
	char s[32];
	int n = snprintf(s, sizeof s, "%c%lld\r\n", c, v);
	return resp_buf_add(b, s, (size_t)n);
}

int resp_add_int(struct resp_buf *b, long long v)
{
	return add_prefixed(b, ':', v);
}

int resp_add_bulk(struct resp_buf *b, const void *p, size_t n)
{
	char s[32];
	int h = snprintf(s, sizeof s, "$%zu\r\n", n);
	int rc = resp_buf_reserve(b, (size_t)h + n + 2);
	if (rc != 0)
		return rc;
	memcpy(b->p + b->len, s, (size_t)h);
	if (n)
		memcpy(b->p + b->len + h, p, n);
	b->len += (size_t)h + n;
	b->p[b->len++] = '\r';
	b->p[b->len++] = '\n';
	return 0;
}

int resp_add_nil(struct resp_buf *b)
{
	return resp_buf_add(b, "$-1\r\n", 5);
}

int resp_add_array(struct resp_buf *b, long long n)
{
	return add_prefixed(b, '*', n);
}
