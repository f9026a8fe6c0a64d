/* conf internals: the key table and diagnostics helpers (not for use outside conf/). */
#ifndef CURPKV_CONF_INT_H
#define CURPKV_CONF_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "conf/conf.h"

#define CONF_MAX_DIAGS 1000
#define CONF_MAX_LINE 4096
#define CONF_MAX_REPLICAS 15

enum conf_key_type {
	CK_BOOL,
	CK_U32,      /* min..max */
	CK_U64,
	CK_PCT,      /* 0..100 */
	CK_PORT,     /* 1..65535 into uint16_t */
	CK_DOUBLE,   /* >= 0 */
	CK_DURATION, /* into uint64_t milliseconds */
	CK_SIZE,     /* bytes with k/K/KiB/m/M/MiB suffixes, into uint32_t */
	CK_STR,      /* into char[size] */
	CK_PROTOCOL,
	CK_POW2,     /* power of two within min..max */
	CK_COMPAT,   /* accepted for compatibility, no effect */
	CK_SEED,     /* u64 plus seed_set */
};

struct conf_key {
	const char *name; /* as documented (camelCase); matched case-insensitively */
	enum conf_key_type type;
	size_t off;       /* offset in struct conf_settings (unused for CK_COMPAT) */
	size_t size;      /* CK_STR: buffer size */
	uint64_t min, max;
	const char *unit; /* for printing */
};

/* Returns the key named name (case-insensitive), or NULL. */
const struct conf_key *conf_key_find(const char *name);
/* Parses value for k into s. Returns 0, or -EINVAL after adding an error to d. */
int conf_key_apply(const struct conf_key *k, const char *value, struct conf_settings *s,
		   struct conf_diags *d, const char *file, int line);
/* Prints every key "  name: value" in CONF.md order. */
void conf_keys_print(const struct conf_settings *s, FILE *out);

/* Appends a diagnostic (printf-style message). d may be NULL. */
void conf_diag_add(struct conf_diags *d, bool error, const char *file, int line, const char *fmt,
		   ...) __attribute__((format(printf, 5, 6)));

#endif
