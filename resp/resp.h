/* resp: Redis's RESP2 protocol without I/O: a request parser (multibulk and inline) and a reply
 * encoder into a growable byte buffer. Used by the gateway (gw/); pure, any thread. */
#ifndef CURPKV_RESP_H
#define CURPKV_RESP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Redis's own bound on an inline request line (and on a multibulk or bulk header line). */
#define RESP_INLINE_MAX (64u * 1024)
#define RESP_ERR_LEN	96

/* ---- byte buffer -------------------------------------------------------------------------- */

/* Bytes [off, len) of p are live; what precedes off was consumed. Owned by whoever embeds it. */
struct resp_buf {
	uint8_t *p;
	size_t off, len, cap;
};

/* Makes room for n more bytes at the end (compacting the consumed front first). Returns 0 or
 * -ENOMEM. */
int resp_buf_reserve(struct resp_buf *b, size_t n);
/* Appends n bytes. Returns 0 or -ENOMEM (nothing appended). */
int resp_buf_add(struct resp_buf *b, const void *p, size_t n);
/* Drops n bytes from the front (n <= live bytes). */
void resp_buf_consume(struct resp_buf *b, size_t n);
static inline size_t resp_buf_live(const struct resp_buf *b)
{
	return b->len - b->off;
}
static inline const uint8_t *resp_buf_data(const struct resp_buf *b)
{
	return b->p + b->off;
}
void resp_buf_free(struct resp_buf *b);

/* ---- request parser ------------------------------------------------------------------------ */

struct resp_limits {
	uint32_t max_bulk;  /* a bulk argument above this is a protocol error */
	uint32_t max_args;  /* more arguments than this is a protocol error */
	size_t max_request; /* a whole request above this many bytes is a protocol error */
};

struct resp_arg {
	const uint8_t *p;
	uint32_t len;
};

/* A parser keeps no state between requests but its argument array and the inline scratch
 * space: resp_parse parses the request at the start of its input again on every call, skipping
 * bulk payloads by their declared lengths (so a call costs O(arguments), not O(bytes), except
 * for an inline line, which is scanned for its end). */
struct resp_parser {
	struct resp_limits lim;
	struct resp_arg *argv; /* owned; argc entries valid after a request */
	uint32_t argc, cap;
	uint8_t *scratch; /* owned: the unquoted arguments of an inline request */
	size_t scratch_cap;
	bool inline_req;	/* the last request was inline */
	char err[RESP_ERR_LEN]; /* after -EPROTO: Redis's text, "Protocol error: ..." */
};

void resp_parser_init(struct resp_parser *p, const struct resp_limits *lim);
void resp_parser_free(struct resp_parser *p);

/* Parses one request at buf[0..len). Returns 1 with p->argc arguments in p->argv (pointing into
 * buf, or into p->scratch for an inline request: valid until the next call or buf changes) and
 * *used, the bytes the request took; 0 when buf holds no complete request yet (*used: leading
 * empty requests, which Redis skips: blank inline lines, "*0" and "*-1", that the caller may
 * consume); -EPROTO with p->err set (the caller answers -ERR p->err and closes the connection:
 * the rest of the stream cannot be framed); -ENOMEM. */
int resp_parse(struct resp_parser *p, const uint8_t *buf, size_t len, size_t *used);

/* ---- reply encoder ------------------------------------------------------------------------- */
/* Each returns 0 or -ENOMEM (nothing appended). */

/* "+s\r\n": s must hold no CR or LF. */
int resp_add_simple(struct resp_buf *b, const char *s);
/* "-<printf>\r\n": the text starts with its code ("ERR ...", "WRONGTYPE ..."); CR and LF in it
 * are replaced by spaces (an argument echoed in a message cannot break the framing). */
int resp_add_error(struct resp_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int resp_add_int(struct resp_buf *b, long long v);
int resp_add_bulk(struct resp_buf *b, const void *p, size_t n);
int resp_add_nil(struct resp_buf *b);		     /* "$-1\r\n", the null bulk */
int resp_add_array(struct resp_buf *b, long long n); /* "*n\r\n"; n = -1: the null array */

/* A NUL-terminated string as a bulk. */
static inline int resp_add_cstr(struct resp_buf *b, const char *s)
{
	return resp_add_bulk(b, s, strlen(s));
}

#endif
