/* conf internals: the key table, value parsers, line reading and diagnostics helpers
 * (not for use outside conf/). */
#ifndef CURPKV_CONF_INT_H
#define CURPKV_CONF_INT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "conf/conf.h"

#define CONF_MAX_DIAGS	  1000	      /* listed diagnostics; later ones are only counted */
#define CONF_MAX_LINE	  4096	      /* bytes per line, without the line end */
#define CONF_MAX_REPLICAS 15	      /* the replica core's limit */
#define CONF_MAX_FILE	  (16u << 20) /* bytes per conf, latency or quorum file */
#define CONF_MAX_TOKENS	  16	      /* tokens kept per line (more are counted, not kept) */

enum conf_key_type {
	CK_BOOL,
	CK_U32,	     /* min..max */
	CK_U64,	     /* min..max */
	CK_PCT,	     /* 0..100 */
	CK_PORT,     /* 1..65535 into uint16_t */
	CK_DOUBLE,   /* finite, min..max */
	CK_DURATION, /* into uint64_t milliseconds */
	CK_SIZE,     /* bytes with k/K/KiB/m/M/MiB suffixes, min..max, into uint32_t */
	CK_STR,	     /* into char[size], at least min bytes; "none" clears */
	CK_PROTOCOL,
	CK_POW2,   /* power of two within min..max */
	CK_COMPAT, /* a prototype boolean accepted for compatibility, no effect */
	CK_SEED,   /* u64 plus seed_set */
};

struct conf_key {
	const char *name; /* as documented (camelCase); matched case-insensitively */
	enum conf_key_type type;
	size_t off;  /* offset in struct conf_settings (unused for CK_COMPAT) */
	size_t size; /* CK_STR: buffer size */
	uint64_t min, max;
	const char *unit; /* printed as a comment after the value; NULL for none */
};

/* Returns the key named name (case-insensitive), or NULL. */
const struct conf_key *conf_key_find(const char *name);
/* Returns the index of k in the table (CONF.md order), < CONF_KEY_SLOTS. */
int conf_key_index(const struct conf_key *k);
/* Returns the line of the last global assignment of the key called name in c, 0 if none. */
int conf_key_line(const struct conf *c, const char *name);
/* Parses value for k into s. Returns 0, or -EINVAL after adding an error naming file:line, the
 * key and the reason to d (d may be NULL). CK_COMPAT keys are checked, never warned about here:
 * the parser warns once per key and file. */
int conf_key_apply(const struct conf_key *k, const char *value, struct conf_settings *s,
		   struct conf_diags *d, const char *file, int line);
/* Prints every key "  name: value" in CONF.md order (the secret is never printed). */
void conf_keys_print(const struct conf_settings *s, FILE *out);

/* Parses a duration into microseconds: decimal numbers each followed by a unit (h, m, s, ms,
 * us), e.g. "1m30s", "0.5ms"; "none" is 0; a bare integer is seconds when bare_is_seconds, else
 * refused (except "0"). Returns 0 or -EINVAL. */
int conf_parse_duration_us(const char *s, bool bare_is_seconds, uint64_t *out_us);

/* Diagnostics. d may be NULL (nothing is recorded). The message is printf-style; bytes that are
 * not printable are shown as '?'. After CONF_MAX_DIAGS entries one last entry says how many more
 * were dropped; n_errors/n_warnings still count every diagnostic. */
void conf_diag_add(struct conf_diags *d, bool error, const char *file, int line, const char *fmt,
		   ...) __attribute__((format(printf, 5, 6)));
void conf_diag_vadd(struct conf_diags *d, bool error, const char *file, int line, const char *fmt,
		    va_list ap) __attribute__((format(printf, 5, 0)));
void conf_diag_error(struct conf_diags *d, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void conf_diag_warn(struct conf_diags *d, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Reads a whole file (at most CONF_MAX_FILE bytes) into a NUL-terminated buffer the caller frees;
 * *len excludes the terminator (the text may hold NUL bytes). Returns 0, -EFBIG or -errno. */
int conf_read_file(const char *path, char **text, size_t *len);

/* Line iterator over a buffer: conf_next_line copies the next line (without "\n" or "\r\n")
 * into buf (CONF_MAX_LINE + 1 bytes) and returns 1, or 0 at the end; *too_long is set when the
 * line was longer than CONF_MAX_LINE (buf then holds nothing useful). */
struct conf_lines {
	const char *p, *end;
	int lineno;
};
void conf_lines_init(struct conf_lines *it, const char *text, size_t len);
int conf_next_line(struct conf_lines *it, char *buf, bool *too_long);

/* Splits line in place into white-space separated tokens, stopping at a token that starts a
 * comment ("#" or "//"). Keeps at most max pointers in tok; returns the number of tokens seen,
 * which may exceed max. */
int conf_tokenize(char *line, char **tok, int max);
/* True for a token that starts a comment ("#..." or "//..."). */
bool conf_is_comment(const char *tok);
/* Lower-cases s in place (ASCII). */
void conf_lower(char *s);

#endif
