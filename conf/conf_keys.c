/* conf keys: the table of CONF.md section 2, typed parsing with ranges, printing. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf/conf_int.h"

#define OFF(f) offsetof(struct conf_settings, f)

static const struct conf_key keys[] = {
	{"protocol", CK_PROTOCOL, OFF(protocol), 0, 0, 0, NULL},
	{"masterPort", CK_PORT, OFF(master_port), 0, 1, 65535, NULL},
	{"maxDescRoutines", CK_U32, OFF(max_desc_routines), 0, 1, 10000000, NULL},
	{"batchDelayUs", CK_U32, OFF(batch_delay_us), 0, 0, 1000000, "us"},
	{"shards", CK_POW2, OFF(shards), 0, 1, 65536, NULL},
	{"replicaLoops", CK_U32, OFF(replica_loops), 0, 1, 64, NULL},
	{"noop", CK_BOOL, OFF(noop), 0, 0, 0, NULL},
	{"thrifty", CK_COMPAT, 0, 0, 0, 0, NULL},
	{"fast", CK_COMPAT, 0, 0, 0, 0, NULL},
	{"optread", CK_COMPAT, 0, 0, 0, 0, NULL},
	{"leaderless", CK_COMPAT, 0, 0, 0, 0, NULL},
	{"waitClosest", CK_COMPAT, 0, 0, 0, 0, NULL},
	{"reqs", CK_U64, OFF(reqs), 0, 0, UINT64_C(1) << 40, NULL},
	{"runTime", CK_DURATION, OFF(run_time_ms), 0, 0, 0, NULL},
	{"writes", CK_PCT, OFF(writes), 0, 0, 100, NULL},
	{"weakRatio", CK_PCT, OFF(weak_ratio), 0, 0, 100, NULL},
	{"weakWrites", CK_PCT, OFF(weak_writes), 0, 0, 100, NULL},
	{"conflicts", CK_PCT, OFF(conflicts), 0, 0, 100, NULL},
	{"key", CK_U64, OFF(key), 0, 0, UINT64_MAX, NULL},
	{"commandSize", CK_U32, OFF(command_size), 0, 0, 64u << 20, "bytes"},
	{"clientThreads", CK_U32, OFF(client_threads), 0, 0, 4096, NULL},
	{"clones", CK_U32, OFF(clones), 0, 0, 4095, NULL},
	{"pipeline", CK_BOOL, OFF(pipeline), 0, 0, 0, NULL},
	{"pendings", CK_U32, OFF(pendings), 0, 0, 1000000, NULL},
	{"keySpace", CK_U64, OFF(key_space), 0, 0, UINT64_MAX, NULL},
	{"zipfSkew", CK_DOUBLE, OFF(zipf_skew), 0, 0, 0, NULL},
	{"scanRatio", CK_PCT, OFF(scan_ratio), 0, 0, 100, NULL},
	{"scanCount", CK_U32, OFF(scan_count), 0, 0, 1000000, NULL},
	{"replyTimeout", CK_U32, OFF(reply_timeout_s), 0, 1, 86400, "s"},
	{"networkDelay", CK_U32, OFF(network_delay_ms), 0, 0, 60000, "ms"},
	{"heartbeatMs", CK_U32, OFF(heartbeat_ms), 0, 1, 600000, "ms"},
	{"leaderTimeoutMs", CK_U32, OFF(leader_timeout_ms), 0, 2, 3600000, "ms"},
	{"htEarlyWeakReply", CK_BOOL, OFF(ht_early_weak_reply), 0, 0, 0, NULL},
	{"maxFrameBytes", CK_SIZE, OFF(max_frame_bytes), 0, 1024, 1u << 30, NULL},
	{"maxKeyBytes", CK_SIZE, OFF(max_key_bytes), 0, 1, 1u << 20, NULL},
	{"maxValueBytes", CK_SIZE, OFF(max_value_bytes), 0, 0, 512u << 20, NULL},
	{"maxClients", CK_U32, OFF(max_clients), 0, 1, 1000000, NULL},
	{"secret", CK_STR, OFF(secret), sizeof(((struct conf_settings *)0)->secret), 0, 0, NULL},
	{"stateDir", CK_STR, OFF(state_dir), sizeof(((struct conf_settings *)0)->state_dir), 0, 0,
	 NULL},
	{"historyFile", CK_STR, OFF(history_file),
	 sizeof(((struct conf_settings *)0)->history_file), 0, 0, NULL},
	{"seed", CK_SEED, OFF(seed), 0, 0, UINT64_MAX, NULL},
};

const struct conf_key *conf_key_find(const char *name)
{
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		if (!strcasecmp(keys[i].name, name))
			return &keys[i];
	return NULL;
}

/* Strict unsigned decimal. */
static int parse_u64(const char *s, uint64_t *out)
{
	if (!isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_bool(const char *s, bool *out)
{
	static const char *const t[] = {"true", "1", "t", "yes", "on"};
	static const char *const f[] = {"false", "0", "f", "no", "off"};
	for (size_t i = 0; i < 5; i++) {
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

int conf_parse_duration_ms(const char *s, uint64_t *out_ms)
{
	if (!strcasecmp(s, "none")) {
		*out_ms = 0;
		return 0;
	}
	uint64_t total = 0;
	const char *p = s;
	if (*p == 0)
		return -EINVAL;
	/* a bare integer means seconds */
	uint64_t bare;
	if (parse_u64(s, &bare) == 0) {
		if (bare > UINT64_MAX / 1000)
			return -EINVAL;
		*out_ms = bare * 1000;
		return 0;
	}
	while (*p) {
		if (!isdigit((unsigned char)*p) && *p != '.')
			return -EINVAL;
		char *end;
		double v = strtod(p, &end);
		if (end == p || v < 0)
			return -EINVAL;
		p = end;
		double mult;
		if (!strncmp(p, "ms", 2)) {
			mult = 1;
			p += 2;
		} else if (!strncmp(p, "us", 2)) {
			mult = 0.001;
			p += 2;
		} else if (*p == 's') {
			mult = 1000;
			p++;
		} else if (*p == 'm') {
			mult = 60000;
			p++;
		} else if (*p == 'h') {
			mult = 3600000;
			p++;
		} else {
			return -EINVAL;
		}
		double ms = v * mult;
		if (ms > 1e15)
			return -EINVAL;
		total += (uint64_t)(ms + 0.5);
	}
	*out_ms = total;
	return 0;
}

static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	if (!isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	uint64_t mult = 1;
	if (*end == 0)
		mult = 1;
	else if (!strcasecmp(end, "k") || !strcasecmp(end, "kib") || !strcasecmp(end, "kb"))
		mult = 1024;
	else if (!strcasecmp(end, "m") || !strcasecmp(end, "mib") || !strcasecmp(end, "mb"))
		mult = 1024 * 1024;
	else
		return -EINVAL;
	if (v > UINT64_MAX / mult)
		return -EINVAL;
	*out = v * mult;
	return 0;
}

int conf_key_apply(const struct conf_key *k, const char *value, struct conf_settings *s,
		   struct conf_diags *d, const char *file, int line)
{
	char *base = (char *)s;
	uint64_t u;
	switch (k->type) {
	case CK_BOOL: {
		bool b;
		if (parse_bool(value, &b) != 0)
			goto bad_bool;
		*(bool *)(base + k->off) = b;
		return 0;
	}
	case CK_PCT:
		if (parse_u64(value, &u) != 0 || u > 100) {
			conf_diag_add(d, true, file, line, "%s: %s is not a percentage (0-100)",
				      k->name, value);
			return -EINVAL;
		}
		*(uint32_t *)(base + k->off) = (uint32_t)u;
		return 0;
	case CK_U32:
	case CK_PORT:
		if (parse_u64(value, &u) != 0 || u < k->min || u > k->max) {
			conf_diag_add(d, true, file, line,
				      "%s: %s is not an integer in %" PRIu64 "..%" PRIu64, k->name,
				      value, k->min, k->max);
			return -EINVAL;
		}
		if (k->type == CK_PORT)
			*(uint16_t *)(base + k->off) = (uint16_t)u;
		else
			*(uint32_t *)(base + k->off) = (uint32_t)u;
		return 0;
	case CK_U64:
	case CK_SEED:
		if (parse_u64(value, &u) != 0 || u < k->min || u > k->max) {
			conf_diag_add(d, true, file, line,
				      "%s: %s is not an integer in %" PRIu64 "..%" PRIu64, k->name,
				      value, k->min, k->max);
			return -EINVAL;
		}
		*(uint64_t *)(base + k->off) = u;
		if (k->type == CK_SEED)
			s->seed_set = true;
		return 0;
	case CK_POW2:
		if (parse_u64(value, &u) != 0 || u < k->min || u > k->max || (u & (u - 1)) != 0) {
			conf_diag_add(d, true, file, line,
				      "%s: %s is not a power of two in %" PRIu64 "..%" PRIu64,
				      k->name, value, k->min, k->max);
			return -EINVAL;
		}
		*(uint32_t *)(base + k->off) = (uint32_t)u;
		return 0;
	case CK_DOUBLE: {
		char *end;
		errno = 0;
		double v = strtod(value, &end);
		if (errno || *end || end == value || !isfinite(v) || v < 0 || v > 100) {
			conf_diag_add(d, true, file, line, "%s: %s is not a number in 0..100",
				      k->name, value);
			return -EINVAL;
		}
		*(double *)(base + k->off) = v;
		return 0;
	}
	case CK_DURATION:
		if (conf_parse_duration_ms(value, &u) != 0) {
			conf_diag_add(d, true, file, line,
				      "%s: %s is not a duration (none, 250ms, 30s, 5m, 1h, 1m30s)",
				      k->name, value);
			return -EINVAL;
		}
		*(uint64_t *)(base + k->off) = u;
		return 0;
	case CK_SIZE:
		if (parse_size(value, &u) != 0 || u < k->min || u > k->max) {
			conf_diag_add(d, true, file, line,
				      "%s: %s is not a size in %" PRIu64 "..%" PRIu64
				      " bytes (suffixes k, KiB, m, MiB)",
				      k->name, value, k->min, k->max);
			return -EINVAL;
		}
		*(uint32_t *)(base + k->off) = (uint32_t)u;
		return 0;
	case CK_STR:
		if (strlen(value) >= k->size) {
			conf_diag_add(d, true, file, line, "%s: value longer than %zu bytes", k->name,
				      k->size - 1);
			return -EINVAL;
		}
		if (!strcasecmp(value, "none"))
			((char *)(base + k->off))[0] = 0;
		else
			strcpy(base + k->off, value);
		return 0;
	case CK_PROTOCOL: {
		enum conf_protocol p;
		if (conf_protocol_parse(value, &p) != 0) {
			conf_diag_add(d, true, file, line,
				      "protocol: '%s' is not supported (curp, curpho, curpht)", value);
			return -EINVAL;
		}
		s->protocol = p;
		return 0;
	}
	case CK_COMPAT: {
		bool b;
		if (parse_bool(value, &b) != 0)
			goto bad_bool;
		conf_diag_add(d, false, file, line,
			      "%s is accepted for compatibility with the prototype and has no effect",
			      k->name);
		return 0;
	}
	}
	return -EINVAL;
bad_bool:
	conf_diag_add(d, true, file, line, "%s: %s is not a boolean (true/false)", k->name, value);
	return -EINVAL;
}

void conf_keys_print(const struct conf_settings *s, FILE *out)
{
	const char *base = (const char *)s;
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		const struct conf_key *k = &keys[i];
		fprintf(out, "  %s: ", k->name);
		switch (k->type) {
		case CK_BOOL:
			fprintf(out, "%s", *(const bool *)(base + k->off) ? "true" : "false");
			break;
		case CK_PCT:
		case CK_U32:
		case CK_POW2:
		case CK_SIZE:
			fprintf(out, "%" PRIu32, *(const uint32_t *)(base + k->off));
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
				fprintf(out, "none (from the clock)");
			break;
		case CK_DOUBLE:
			fprintf(out, "%g", *(const double *)(base + k->off));
			break;
		case CK_DURATION: {
			uint64_t ms = *(const uint64_t *)(base + k->off);
			if (ms == 0)
				fprintf(out, "none");
			else
				fprintf(out, "%" PRIu64 "ms", ms);
			break;
		}
		case CK_STR:
			if (k->off == OFF(secret)) /* never print the secret itself */
				fprintf(out, "%s", s->secret[0] ? "(set)" : "none");
			else
				fprintf(out, "%s", (base + k->off)[0] ? base + k->off : "none");
			break;
		case CK_PROTOCOL:
			fprintf(out, "%s", conf_protocol_name(s->protocol));
			break;
		case CK_COMPAT:
			fprintf(out, "(no effect)");
			break;
		}
		if (k->unit && k->type != CK_DURATION)
			fprintf(out, " %s", k->unit);
		fputc('\n', out);
	}
}
