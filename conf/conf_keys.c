/* conf keys: the table of CONF.md section 2 (names, types, ranges), typed value parsing with
 * file:line errors, and printing of effective values. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf/conf_int.h"

#define OFF(f)	 offsetof(struct conf_settings, f)
#define STRSZ(f) sizeof(((struct conf_settings *)0)->f)
#define KIB	 1024u
#define MIB	 (1024u * 1024u)

/* In CONF.md order: conf_print lists them so. Ranges are per value; relations between keys are
 * checked by conf_validate. */
static const struct conf_key keys[] = {
    {"protocol", CK_PROTOCOL, OFF(protocol), 0, 0, 0, NULL},
    {"masterPort", CK_PORT, OFF(master_port), 0, 1, 65535, NULL},
    {"maxDescRoutines", CK_U32, OFF(max_desc_routines), 0, 1, 10000000, NULL},
    {"batchDelayUs", CK_U32, OFF(batch_delay_us), 0, 0, 1000000, NULL},
    {"shards", CK_POW2, OFF(shards), 0, 1, 65536, NULL},
    {"replicaLoops", CK_U32, OFF(replica_loops), 0, 1, 64, NULL},
    {"noop", CK_BOOL, OFF(noop), 0, 0, 0, NULL},
    {"schedBatch", CK_BOOL, OFF(sched_batch), 0, 0, 0, "SCHED_BATCH: no wake-up preemption"},
    {"localSockets", CK_BOOL, OFF(local_sockets), 0, 0, 0, "same-host peers over Unix sockets"},
    {"thrifty", CK_COMPAT, 0, 0, 0, 0, NULL},
    {"fast", CK_COMPAT, 0, 0, 0, 0, NULL},
    {"optread", CK_COMPAT, 0, 0, 0, 0, NULL},
    {"leaderless", CK_COMPAT, 0, 0, 0, 0, NULL},
    {"waitClosest", CK_COMPAT, 0, 0, 0, 0, NULL},
    {"reqs", CK_U64, OFF(reqs), 0, 0, UINT64_C(1) << 40, "per client thread"},
    {"runTime", CK_DURATION, OFF(run_time_ms), 0, 0, 0, NULL},
    {"writes", CK_PCT, OFF(writes), 0, 0, 100, "% of strong ops"},
    {"weakRatio", CK_PCT, OFF(weak_ratio), 0, 0, 100, "% of ops"},
    {"weakWrites", CK_PCT, OFF(weak_writes), 0, 0, 100, "% of weak ops"},
    {"conflicts", CK_PCT, OFF(conflicts), 0, 0, 100, "% of ops on the hot key"},
    {"key", CK_U64, OFF(key), 0, 0, UINT64_MAX, NULL},
    {"commandSize", CK_SIZE, OFF(command_size), 0, 0, 512 * MIB, "value bytes"},
    {"clientThreads", CK_U32, OFF(client_threads), 0, 0, 4096, NULL},
    {"clones", CK_U32, OFF(clones), 0, 0, 4095, NULL},
    {"pipeline", CK_BOOL, OFF(pipeline), 0, 0, 0, NULL},
    {"pendings", CK_U32, OFF(pendings), 0, 0, 100000, NULL},
    {"clientLoops", CK_U32, OFF(client_loops), 0, 0, 4096, "0 = min(threads, CPUs)"},
    {"keySpace", CK_U64, OFF(key_space), 0, 0, UINT64_MAX, NULL},
    {"zipfSkew", CK_DOUBLE, OFF(zipf_skew), 0, 0, 100, NULL},
    {"scanRatio", CK_PCT, OFF(scan_ratio), 0, 0, 100, "% of weak reads"},
    {"scanCount", CK_U32, OFF(scan_count), 0, 0, 1000000, NULL},
    {"appends", CK_BOOL, OFF(appends), 0, 0, 0, "strong writes are APPENDs (curp)"},
    {"deletes", CK_PCT, OFF(deletes), 0, 0, 100, "% of writes that are DELs"},
    {"replyTimeout", CK_U32, OFF(reply_timeout_s), 0, 1, 86400, "seconds"},
    {"networkDelay", CK_U32, OFF(network_delay_ms), 0, 0, 60000, "ms, one way"},
    {"heartbeatMs", CK_U32, OFF(heartbeat_ms), 0, 1, 600000, NULL},
    {"leaderTimeoutMs", CK_U32, OFF(leader_timeout_ms), 0, 2, 3600000, NULL},
    {"clientLeaseMs", CK_U32, OFF(client_lease_ms), 0, 0, 86400000, "0 = never expire"},
    {"htEarlyWeakReply", CK_BOOL, OFF(ht_early_weak_reply), 0, 0, 0, NULL},
    {"maxFrameBytes", CK_SIZE, OFF(max_frame_bytes), 0, KIB, 1024 * MIB, NULL},
    {"maxKeyBytes", CK_SIZE, OFF(max_key_bytes), 0, 8, MIB, NULL},
    {"maxValueBytes", CK_SIZE, OFF(max_value_bytes), 0, 1, 512 * MIB, NULL},
    {"maxClients", CK_U32, OFF(max_clients), 0, 1, 1000000, NULL},
    {"snapChunkBytes", CK_SIZE, OFF(snap_chunk_bytes), 0, 1, 64 * MIB, "state-transfer chunks"},
    /* min: a shorter secret is refused (auth/auth.h AUTH_SECRET_MIN) */
    {"secret", CK_STR, OFF(secret), STRSZ(secret), 16, 0, NULL},
    {"secretFile", CK_STR, OFF(secret_file), STRSZ(secret_file), 0, 0, NULL},
    {"stateDir", CK_STR, OFF(state_dir), STRSZ(state_dir), 0, 0, NULL},
    {"fsync", CK_STR, OFF(fsync), STRSZ(fsync), 0, 0, "always|everysec|no (with stateDir)"},
    {"snapshotEntries", CK_U64, OFF(snapshot_entries), 0, 0, UINT64_C(1) << 40, "0 = never"},
    {"historyFile", CK_STR, OFF(history_file), STRSZ(history_file), 0, 0, NULL},
    {"seed", CK_SEED, OFF(seed), 0, 0, UINT64_MAX, NULL},
};

#define N_KEYS (sizeof keys / sizeof keys[0])
_Static_assert(N_KEYS <= CONF_KEY_SLOTS, "raise CONF_KEY_SLOTS in conf.h");

const struct conf_key *conf_key_find(const char *name)
{
	for (size_t i = 0; i < N_KEYS; i++)
		if (!strcasecmp(keys[i].name, name))
			return &keys[i];
	return NULL;
}

int conf_key_index(const struct conf_key *k)
{
	return (int)(k - keys);
}

int conf_key_line(const struct conf *c, const char *name)
{
	const struct conf_key *k = conf_key_find(name);
	return k ? c->key_line[conf_key_index(k)] : 0;
}

/* ---- value parsers ------------------------------------------------------------------------- */

/* Strict unsigned decimal: digits only, no sign, no overflow. */
static int parse_u64(const char *s, uint64_t *out)
{
	if (!isdigit((unsigned char)s[0]))
		return -EINVAL;
	uint64_t v = 0;
	for (; *s; s++) {
		if (!isdigit((unsigned char)*s))
			return -EINVAL;
		unsigned d = (unsigned)(*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

static int parse_bool(const char *s, bool *out)
{
	static const char *const t[] = {"true", "1", "t", "yes", "y", "on"};
	static const char *const f[] = {"false", "0", "f", "no", "n", "off"};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		if (!strcasecmp(s, t[i])) {
			*out = true;
			return 0;
		}
		if (!strcasecmp(s, f[i])) {
			*out = false;
			return 0;
		}
	}
	return -EINVAL;
}

/* A plain decimal number: digits with at most one '.', at least one digit. Sets *end. */
static int parse_decimal(const char *s, double *out, const char **end)
{
	const char *p = s;
	bool digits = false, dot = false;
	double v = 0, scale = 1;
	for (;; p++) {
		if (isdigit((unsigned char)*p)) {
			digits = true;
			if (dot) {
				scale /= 10;
				v += (*p - '0') * scale;
			} else {
				v = v * 10 + (*p - '0');
			}
		} else if (*p == '.' && !dot) {
			dot = true;
		} else {
			break;
		}
		if (v > 1e18)
			return -EINVAL;
	}
	if (!digits)
		return -EINVAL;
	*out = v;
	*end = p;
	return 0;
}

int conf_parse_duration_us(const char *s, bool bare_is_seconds, uint64_t *out_us)
{
	if (!strcasecmp(s, "none")) {
		*out_us = 0;
		return 0;
	}
	uint64_t bare;
	if (parse_u64(s, &bare) == 0) {
		if (bare == 0) {
			*out_us = 0;
			return 0;
		}
		if (!bare_is_seconds || bare > UINT64_MAX / 1000000 / 2)
			return -EINVAL;
		*out_us = bare * 1000000;
		return 0;
	}
	static const struct {
		const char *name;
		double us;
	} units[] = {
	    /* longest names first: "ms" before "m" */
	    {"ms", 1e3},  {"us", 1},  {"\xc2\xb5s", 1}, {"ns", 1e-3},
	    {"h", 3.6e9}, {"m", 6e7}, {"s", 1e6},
	};
	double total = 0;
	const char *p = s;
	if (*p == 0)
		return -EINVAL;
	while (*p) {
		double v;
		if (parse_decimal(p, &v, &p) != 0)
			return -EINVAL;
		size_t u;
		for (u = 0; u < sizeof units / sizeof units[0]; u++) {
			size_t n = strlen(units[u].name);
			if (!strncasecmp(p, units[u].name, n))
				break;
		}
		if (u == sizeof units / sizeof units[0])
			return -EINVAL; /* a number without a unit, or an unknown unit */
		p += strlen(units[u].name);
		total += v * units[u].us;
		if (total > 1e18)
			return -EINVAL;
	}
	*out_us = (uint64_t)ceil(total);
	return 0;
}

int conf_parse_duration_ms(const char *s, uint64_t *out_ms)
{
	uint64_t us;
	int rc = conf_parse_duration_us(s, true, &us);
	if (rc != 0)
		return rc;
	/* round up: a positive duration never becomes "none" */
	*out_ms = us / 1000 + (us % 1000 != 0);
	return 0;
}

/* Bytes, or a number with a binary suffix (k, KiB, m, MiB, g, GiB; "kb"/"mb" too). */
static int parse_size(const char *s, uint64_t *out)
{
	static const struct {
		const char *suffix;
		uint64_t mult;
	} sfx[] = {
	    {"", 1},
	    {"b", 1},
	    {"k", KIB},
	    {"kb", KIB},
	    {"kib", KIB},
	    {"m", MIB},
	    {"mb", MIB},
	    {"mib", MIB},
	    {"g", 1024ull * MIB},
	    {"gb", 1024ull * MIB},
	    {"gib", 1024ull * MIB},
	};
	if (!isdigit((unsigned char)s[0]))
		return -EINVAL;
	const char *p = s;
	while (isdigit((unsigned char)*p))
		p++;
	size_t nd = (size_t)(p - s);
	if (nd > 19)
		return -EINVAL;
	char digits[20];
	memcpy(digits, s, nd);
	digits[nd] = 0;
	uint64_t v;
	if (parse_u64(digits, &v) != 0)
		return -EINVAL;
	for (size_t i = 0; i < sizeof sfx / sizeof sfx[0]; i++) {
		if (strcasecmp(p, sfx[i].suffix))
			continue;
		if (v > UINT64_MAX / sfx[i].mult)
			return -EINVAL;
		*out = v * sfx[i].mult;
		return 0;
	}
	return -EINVAL;
}

static int parse_double(const char *s, double *out)
{
	/* no sign, no "inf"/"nan", no hex: what a conf writer means by a number */
	if (!isdigit((unsigned char)s[0]) && s[0] != '.')
		return -EINVAL;
	for (const char *p = s; *p; p++)
		if (!isdigit((unsigned char)*p) && *p != '.' && *p != 'e' && *p != 'E' &&
		    *p != '-' && *p != '+')
			return -EINVAL;
	errno = 0;
	char *end;
	double v = strtod(s, &end);
	if (errno || *end || end == s || !isfinite(v))
		return -EINVAL;
	*out = v;
	return 0;
}

/* ---- applying a value --------------------------------------------------------------------------
 */

int conf_key_apply(const struct conf_key *k, const char *value, struct conf_settings *s,
		   struct conf_diags *d, const char *file, int line)
{
	char *base = (char *)s;
	uint64_t u;
	switch (k->type) {
	case CK_BOOL:
	case CK_COMPAT: {
		bool b;
		if (parse_bool(value, &b) != 0) {
			conf_diag_error(d, file, line,
					"%s: '%.64s' is not a boolean (true/false, yes/no, 1/0)",
					k->name, value);
			return -EINVAL;
		}
		if (k->type == CK_BOOL)
			*(bool *)(base + k->off) = b;
		return 0;
	}
	case CK_PCT:
		if (parse_u64(value, &u) != 0 || u > 100) {
			conf_diag_error(d, file, line, "%s: %.64s is not a percentage (0-100)",
					k->name, value);
			return -EINVAL;
		}
		*(uint32_t *)(base + k->off) = (uint32_t)u;
		return 0;
	case CK_U32:
	case CK_PORT:
	case CK_U64:
		if (parse_u64(value, &u) != 0 || u < k->min || u > k->max) {
			if (k->type == CK_PORT)
				conf_diag_error(d, file, line, "%s: %.64s is not a port (1-65535)",
						k->name, value);
			else
				conf_diag_error(d, file, line,
						"%s: %.64s is not an integer in %" PRIu64
						"..%" PRIu64,
						k->name, value, k->min, k->max);
			return -EINVAL;
		}
		if (k->type == CK_PORT)
			*(uint16_t *)(base + k->off) = (uint16_t)u;
		else if (k->type == CK_U32)
			*(uint32_t *)(base + k->off) = (uint32_t)u;
		else
			*(uint64_t *)(base + k->off) = u;
		return 0;
	case CK_SEED:
		if (!strcasecmp(value, "none")) {
			s->seed = 0;
			s->seed_set = false;
			return 0;
		}
		if (parse_u64(value, &u) != 0) {
			conf_diag_error(d, file, line,
					"%s: %.64s is not an unsigned 64-bit integer (or none)",
					k->name, value);
			return -EINVAL;
		}
		s->seed = u;
		s->seed_set = true;
		return 0;
	case CK_POW2:
		if (parse_u64(value, &u) != 0 || u < k->min || u > k->max || (u & (u - 1)) != 0) {
			conf_diag_error(d, file, line,
					"%s: %.64s is not a power of two in %" PRIu64 "..%" PRIu64,
					k->name, value, k->min, k->max);
			return -EINVAL;
		}
		*(uint32_t *)(base + k->off) = (uint32_t)u;
		return 0;
	case CK_DOUBLE: {
		double v;
		if (parse_double(value, &v) != 0 || v < (double)k->min || v > (double)k->max) {
			conf_diag_error(d, file, line,
					"%s: %.64s is not a number in %" PRIu64 "..%" PRIu64,
					k->name, value, k->min, k->max);
			return -EINVAL;
		}
		*(double *)(base + k->off) = v;
		return 0;
	}
	case CK_DURATION:
		if (conf_parse_duration_ms(value, &u) != 0) {
			conf_diag_error(d, file, line,
					"%s: '%.64s' is not a duration (none, 250ms, 30s, 5m, 1h, "
					"1m30s; a bare number is seconds)",
					k->name, value);
			return -EINVAL;
		}
		*(uint64_t *)(base + k->off) = u;
		return 0;
	case CK_SIZE:
		if (parse_size(value, &u) != 0 || u < k->min || u > k->max) {
			conf_diag_error(d, file, line,
					"%s: %.64s is not a size in %" PRIu64 "..%" PRIu64
					" bytes (a number, or with k/KiB, m/MiB)",
					k->name, value, k->min, k->max);
			return -EINVAL;
		}
		*(uint32_t *)(base + k->off) = (uint32_t)u;
		return 0;
	case CK_STR:
		if (strlen(value) >= k->size) {
			conf_diag_error(d, file, line, "%s: value longer than %zu bytes", k->name,
					k->size - 1);
			return -EINVAL;
		}
		if (!strcasecmp(value, "none")) {
			((char *)(base + k->off))[0] = 0;
		} else if (strlen(value) < k->min) {
			/* the length only, never the value: diagnostics are printed */
			conf_diag_error(d, file, line,
					"%s: %zu bytes is too short (at least %" PRIu64
					"; 32 random bytes, e.g. `head -c 32 /dev/urandom | "
					"base64`, are recommended)",
					k->name, strlen(value), k->min);
			return -EINVAL;
		} else {
			memcpy(base + k->off, value, strlen(value) + 1);
		}
		return 0;
	case CK_PROTOCOL: {
		enum conf_protocol p;
		if (conf_protocol_parse(value, &p) != 0) {
			conf_diag_error(
			    d, file, line,
			    "protocol: '%.64s' is not supported (accepted: curp, curpho, "
			    "curpht)",
			    value);
			return -EINVAL;
		}
		s->protocol = p;
		return 0;
	}
	}
	return -EINVAL;
}

/* ---- printing ------------------------------------------------------------------------------ */

/* Prints a duration in a form conf_parse_duration_ms reads back ("1m30s", "250ms", "none"). */
static void print_duration(uint64_t ms, FILE *out)
{
	if (ms == 0) {
		fputs("none", out);
		return;
	}
	static const struct {
		const char *unit;
		uint64_t ms;
	} parts[] = {{"h", 3600000}, {"m", 60000}, {"s", 1000}, {"ms", 1}};
	for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
		if (ms >= parts[i].ms) {
			fprintf(out, "%" PRIu64 "%s", ms / parts[i].ms, parts[i].unit);
			ms %= parts[i].ms;
		}
	}
}

/* Prints a size in a form parse_size reads back ("1MiB", "64KiB", "100"). */
static void print_size(uint32_t v, FILE *out)
{
	if (v >= MIB && v % MIB == 0)
		fprintf(out, "%" PRIu32 "MiB", v / MIB);
	else if (v >= KIB && v % KIB == 0)
		fprintf(out, "%" PRIu32 "KiB", v / KIB);
	else
		fprintf(out, "%" PRIu32, v);
}

void conf_keys_print(const struct conf_settings *s, FILE *out)
{
	const char *base = (const char *)s;
	for (size_t i = 0; i < N_KEYS; i++) {
		const struct conf_key *k = &keys[i];
		fprintf(out, "  %s: ", k->name);
		switch (k->type) {
		case CK_BOOL:
			fputs(*(const bool *)(base + k->off) ? "true" : "false", out);
			break;
		case CK_PCT:
		case CK_U32:
		case CK_POW2:
			fprintf(out, "%" PRIu32, *(const uint32_t *)(base + k->off));
			break;
		case CK_SIZE:
			print_size(*(const uint32_t *)(base + k->off), out);
			break;
		case CK_PORT:
			fprintf(out, "%u", (unsigned)*(const uint16_t *)(base + k->off));
			break;
		case CK_U64:
			fprintf(out, "%" PRIu64, *(const uint64_t *)(base + k->off));
			break;
		case CK_SEED:
			if (s->seed_set)
				fprintf(out, "%" PRIu64, s->seed);
			else
				fputs("none // from the clock", out);
			break;
		case CK_DOUBLE:
			fprintf(out, "%g", *(const double *)(base + k->off));
			break;
		case CK_DURATION:
			print_duration(*(const uint64_t *)(base + k->off), out);
			break;
		case CK_STR:
			if (k->off == OFF(secret)) /* never print the secret itself */
				fputs(s->secret[0] ? "(set, not shown)" : "none", out);
			else
				fputs((base + k->off)[0] ? base + k->off : "none", out);
			break;
		case CK_PROTOCOL:
			fputs(conf_protocol_name(s->protocol), out);
			break;
		case CK_COMPAT:
			fputs("(no effect)", out);
			break;
		}
		if (k->unit)
			fprintf(out, " // %s", k->unit);
		if (k->off == OFF(clones) && k->type == CK_U32)
			fprintf(out, " // threads per client process: %" PRIu32,
				conf_settings_threads(s));
		if (k->off == OFF(pendings) && k->type == CK_U32)
			fprintf(out, " // window per thread: %" PRIu32, conf_settings_window(s));
		fputc('\n', out);
	}
}
