/* conf: the cluster file parser (CONF.md 1-2), whole-file validation, effective settings per
 * process, lookups and printing. */
#include "conf/conf.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf/conf_int.h"

#define MAX_OVERRIDES 10000 /* Apply-to key lines per file */
#define MAX_APPLY     4096  /* Apply-to sections per file */
#define MAX_PROXY     (2 * CONF_MAX_HOSTS)
#define SECRET_MIN	16   /* bytes (auth/auth.h AUTH_SECRET_MIN) */
#define SECRET_FILE_MAX 4096 /* bytes read from a secretFile at most */

/* ---- protocol names ------------------------------------------------------------------------ */

const char *conf_protocol_name(enum conf_protocol p)
{
	switch (p) {
	case CONF_PROTO_CURP:
		return "curp";
	case CONF_PROTO_CURPHO:
		return "curpho";
	case CONF_PROTO_CURPHT:
		return "curpht";
	}
	return "?";
}

int conf_protocol_parse(const char *s, enum conf_protocol *out)
{
	if (!strcasecmp(s, "curp"))
		*out = CONF_PROTO_CURP;
	else if (!strcasecmp(s, "curpho"))
		*out = CONF_PROTO_CURPHO;
	else if (!strcasecmp(s, "curpht"))
		*out = CONF_PROTO_CURPHT;
	else
		return -EINVAL;
	return 0;
}

/* ---- settings ------------------------------------------------------------------------------ */

void conf_settings_default(struct conf_settings *s)
{
	memset(s, 0, sizeof *s);
	s->protocol = CONF_PROTO_CURPHO;
	s->master_port = CONF_DEFAULT_MASTER_PORT;
	s->max_desc_routines = 10000;
	s->batch_delay_us = 0;
	s->shards = 512;
	s->replica_loops = 1;
	s->reqs = 1000;
	s->command_size = 100;
	s->reply_timeout_s = 10;
	s->heartbeat_ms = 100;
	s->leader_timeout_ms = 1000;
	s->client_lease_ms = 300000;
	s->snapshot_entries = 100000;
	s->max_frame_bytes = 1u << 20;
	s->snap_chunk_bytes = 256u << 10;
	s->max_key_bytes = 1024;
	s->max_value_bytes = 64u << 10;
	s->max_clients = 1024;
}

uint32_t conf_settings_threads(const struct conf_settings *s)
{
	return s->client_threads > 0 ? s->client_threads : s->clones + 1;
}

uint32_t conf_settings_window(const struct conf_settings *s)
{
	if (!s->pipeline)
		return 1;
	return s->pendings > 0 ? s->pendings : 1000;
}

/* ---- hosts and addresses ------------------------------------------------------------------- */

/* Replica id from the digits at the end of an alias: -1 if there are none, -2 if too large. */
static int alias_id(const char *alias)
{
	size_t len = strlen(alias), i = len;
	while (i > 0 && isdigit((unsigned char)alias[i - 1]))
		i--;
	if (i == len)
		return -1;
	long v = 0;
	for (size_t j = i; j < len; j++) {
		v = v * 10 + (alias[j] - '0');
		if (v > 65535)
			return -2;
	}
	return (int)v;
}

/* Aliases name processes, log and result files: letters, digits, '.', '_' and '-'. */
static bool alias_ok(const char *a)
{
	if (*a == 0)
		return false;
	for (; *a; a++)
		if (!isalnum((unsigned char)*a) && *a != '.' && *a != '_' && *a != '-')
			return false;
	return true;
}

/* An IPv4 or IPv6 literal (checked), or a host name (letters, digits, '-', '_', '.'). */
static bool addr_ok(const char *a)
{
	if (*a == 0)
		return false;
	if (strchr(a, ':')) {
		char v6[CONF_ADDR_MAX];
		snprintf(v6, sizeof v6, "%s", a);
		char *zone = strchr(v6, '%');
		if (zone)
			*zone = 0;
		struct in6_addr x;
		return inet_pton(AF_INET6, v6, &x) == 1;
	}
	bool numeric = true;
	for (const char *p = a; *p; p++) {
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_' && *p != '.')
			return false;
		if (!isdigit((unsigned char)*p) && *p != '.')
			numeric = false;
	}
	if (numeric) {
		struct in_addr x;
		return inet_pton(AF_INET, a, &x) == 1;
	}
	return a[0] != '.' && a[0] != '-';
}

/* Splits "addr[:port]", "[v6]:port", "[v6]" or a bare IPv6 address. Returns 0, -EINVAL (bad
 * form) or -ERANGE (port out of range); *port is -1 when none is given. */
static int split_addr(const char *in, char *addr, size_t alen, long *port)
{
	*port = -1;
	const char *port_s = NULL;
	size_t n;
	if (in[0] == '[') {
		const char *end = strchr(in, ']');
		if (end == NULL || end == in + 1)
			return -EINVAL;
		n = (size_t)(end - in - 1);
		if (end[1] == ':')
			port_s = end + 2;
		else if (end[1] != 0)
			return -EINVAL;
		in++;
	} else {
		const char *colon = strchr(in, ':');
		if (colon && strchr(colon + 1, ':')) {
			n = strlen(in); /* several colons without brackets: a bare IPv6 address */
		} else {
			n = colon ? (size_t)(colon - in) : strlen(in);
			if (colon)
				port_s = colon + 1;
		}
	}
	if (n == 0 || n >= alen)
		return -EINVAL;
	memcpy(addr, in, n);
	addr[n] = 0;
	if (!addr_ok(addr))
		return -EINVAL;
	if (port_s == NULL)
		return 0;
	if (!isdigit((unsigned char)port_s[0]))
		return -EINVAL;
	long p = 0;
	for (const char *q = port_s; *q; q++) {
		if (!isdigit((unsigned char)*q))
			return -EINVAL;
		if (p <= 65535)
			p = p * 10 + (*q - '0'); /* saturates above the range */
	}
	*port = p;
	return p >= 1 && p <= 65535 ? 0 : -ERANGE;
}

/* ---- the parser ---------------------------------------------------------------------------- */

enum section { SEC_NONE, SEC_REPLICAS, SEC_CLIENTS, SEC_MASTER, SEC_PROXY, SEC_APPLY, SEC_UNKNOWN };

/* One Proxy line: a group opener (client empty) or a client of the current group. */
struct proxy_entry {
	char replica[CONF_ALIAS_MAX];
	char client[CONF_ALIAS_MAX];
	bool local;
	int line;
};

struct apply_header {
	char alias[CONF_ALIAS_MAX];
	int line;
};

struct parser {
	struct conf *c;
	struct conf_diags *d;
	const char *file;
	enum section sec;
	bool hosts_open; /* host lines are still accepted in this section */
	char apply_alias[CONF_ALIAS_MAX];
	char proxy_replica[CONF_ALIAS_MAX]; /* current server_alias; "" before the first */
	struct proxy_entry *proxy;
	size_t n_proxy, cap_proxy;
	struct apply_header *apply;
	size_t n_apply, cap_apply;
	int master_line;
	size_t cap_replicas, cap_clients, cap_overrides;
	bool compat_warned[CONF_KEY_SLOTS]; /* one warning per compatibility key and file */
	bool oom;
};

/* Makes room for one more element. Returns 0, or -ENOMEM (reported once). */
static int grow(struct parser *p, void **v, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return 0;
	size_t ncap = *cap ? *cap * 2 : 8;
	void *nv = realloc(*v, ncap * size);
	if (nv == NULL) {
		if (!p->oom)
			conf_diag_error(p->d, p->file, 0, "out of memory");
		p->oom = true;
		return -ENOMEM;
	}
	*v = nv;
	*cap = ncap;
	return 0;
}

static void host_line(struct parser *p, int line, char **tok, int ntok)
{
	struct conf *c = p->c;
	if (strlen(tok[0]) >= CONF_ALIAS_MAX) {
		conf_diag_error(p->d, p->file, line, "alias '%.40s...' is longer than %d bytes",
				tok[0], CONF_ALIAS_MAX - 1);
		return;
	}
	if (!alias_ok(tok[0])) {
		conf_diag_error(p->d, p->file, line,
				"alias '%s': only letters, digits, '.', '_' and '-' are allowed",
				tok[0]);
		return;
	}
	if (ntok < 2) {
		conf_diag_error(p->d, p->file, line, "host '%s' has no address", tok[0]);
		return;
	}
	if (ntok > 2)
		conf_diag_warn(p->d, p->file, line, "extra text after host '%s' ignored", tok[0]);
	struct conf_host h;
	memset(&h, 0, sizeof h);
	snprintf(h.alias, sizeof h.alias, "%s", tok[0]);
	conf_lower(h.alias);
	h.line = line;
	h.proxy_replica = -1;
	long port;
	int rc = split_addr(tok[1], h.addr, sizeof h.addr, &port);
	if (rc == -ERANGE) {
		conf_diag_error(p->d, p->file, line,
				"host '%s': port %.20s is out of range (1-65535)", h.alias,
				strrchr(tok[1], ':') + 1);
		return;
	}
	if (rc != 0) {
		conf_diag_error(p->d, p->file, line,
				"host '%s': bad address '%.100s' (IPv4, host name, [IPv6], "
				"optionally :port)",
				h.alias, tok[1]);
		return;
	}
	h.port_explicit = port > 0;
	if (port > 0)
		h.port = (uint16_t)port;
	if (p->sec != SEC_MASTER && c->n_replicas + c->n_clients >= CONF_MAX_HOSTS) {
		conf_diag_error(p->d, p->file, line, "more than %d hosts", CONF_MAX_HOSTS);
		return;
	}
	switch (p->sec) {
	case SEC_REPLICAS:
		h.id = alias_id(h.alias);
		if (h.id == -1) {
			conf_diag_error(
			    p->d, p->file, line,
			    "replica alias '%s' does not end with its id (e.g. replica0)", h.alias);
			return;
		}
		if (h.id < 0) {
			conf_diag_error(p->d, p->file, line, "replica alias '%s': id too large",
					h.alias);
			return;
		}
		if (!h.port_explicit) {
			if (CONF_DEFAULT_REPLICA_PORT + h.id > 65535) {
				conf_diag_error(
				    p->d, p->file, line,
				    "replica '%s': default port 7070+%d is out of range", h.alias,
				    h.id);
				return;
			}
			h.port = (uint16_t)(CONF_DEFAULT_REPLICA_PORT + h.id);
		}
		if (grow(p, (void **)&c->replicas, &p->cap_replicas, c->n_replicas, sizeof h))
			return;
		c->replicas[c->n_replicas++] = h;
		break;
	case SEC_CLIENTS:
		h.id = (int)c->n_clients;
		if (grow(p, (void **)&c->clients, &p->cap_clients, c->n_clients, sizeof h))
			return;
		c->clients[c->n_clients++] = h;
		break;
	case SEC_MASTER:
		if (c->has_master)
			conf_diag_warn(p->d, p->file, line,
				       "a second master line replaces the one on line %d",
				       p->master_line);
		h.id = 0;
		c->master = h;
		c->has_master = true;
		p->master_line = line;
		break;
	default:
		break;
	}
}

/* Splits a key line into its key name and value: "key: value", "key value", "key:value",
 * "key : value". Returns the index of the first token after the value. */
static int split_key(char **tok, int ntok, char *name, size_t nlen, const char **value)
{
	*value = NULL;
	char *colon = strchr(tok[0], ':');
	size_t n = colon ? (size_t)(colon - tok[0]) : strlen(tok[0]);
	if (n >= nlen)
		n = nlen - 1;
	memcpy(name, tok[0], n);
	name[n] = 0;
	if (colon && colon[1]) {
		*value = colon + 1;
		return 1;
	}
	if (ntok < 2)
		return ntok;
	if (!colon && !strcmp(tok[1], ":")) {
		if (ntok >= 3)
			*value = tok[2];
		return ntok >= 3 ? 3 : 2;
	}
	if (!colon && tok[1][0] == ':') {
		*value = tok[1] + 1;
		return 2;
	}
	*value = tok[1];
	return 2;
}

static bool host_section(enum section s)
{
	return s == SEC_REPLICAS || s == SEC_CLIENTS || s == SEC_MASTER;
}

static void key_line(struct parser *p, int line, char **tok, int ntok)
{
	char name[64];
	const char *value;
	int next = split_key(tok, ntok, name, sizeof name, &value);
	const struct conf_key *k = conf_key_find(name);
	if (k == NULL) {
		if (name[0] == 0)
			conf_diag_warn(p->d, p->file, line, "'%.40s' is not a key line; ignored",
				       tok[0]);
		else if (host_section(p->sec) && !strchr(tok[0], ':') && ntok == 2)
			conf_diag_warn(
			    p->d, p->file, line,
			    "unknown key '%.40s' ignored (host lines must come before the "
			    "first key line of their section)",
			    name);
		else
			conf_diag_warn(p->d, p->file, line, "unknown key '%.40s' ignored", name);
		return;
	}
	if (value == NULL || value[0] == 0) {
		conf_diag_error(p->d, p->file, line, "%s: missing value", k->name);
		return;
	}
	if (ntok > next)
		conf_diag_warn(p->d, p->file, line, "%s: extra text after the value ignored",
			       k->name);
	int idx = conf_key_index(k);
	struct conf *c = p->c;
	if (p->sec == SEC_APPLY) {
		/* checked now so that a bad value names its line; applied by conf_settings_for */
		struct conf_settings scratch;
		conf_settings_default(&scratch);
		if (conf_key_apply(k, value, &scratch, p->d, p->file, line) != 0)
			return;
		if (strlen(value) >= sizeof c->overrides[0].value) {
			conf_diag_error(p->d, p->file, line,
					"%s: value longer than %zu bytes in an Apply-to section",
					k->name, sizeof c->overrides[0].value - 1);
			return;
		}
		if (c->n_overrides >= MAX_OVERRIDES) {
			conf_diag_error(p->d, p->file, line, "more than %d Apply-to keys",
					MAX_OVERRIDES);
			return;
		}
		if (grow(p, (void **)&c->overrides, &p->cap_overrides, c->n_overrides,
			 sizeof *c->overrides))
			return;
		struct conf_override *o = &c->overrides[c->n_overrides++];
		memset(o, 0, sizeof *o);
		snprintf(o->alias, sizeof o->alias, "%s", p->apply_alias);
		snprintf(o->key, sizeof o->key, "%s", k->name);
		memcpy(o->value, value, strlen(value) + 1);
		o->line = line;
	} else if (conf_key_apply(k, value, &c->settings, p->d, p->file, line) == 0) {
		c->key_line[idx] = line;
	} else {
		return;
	}
	if (k->type == CK_COMPAT && !p->compat_warned[idx]) {
		p->compat_warned[idx] = true;
		conf_diag_warn(p->d, p->file, line,
			       "%s: accepted for compatibility with the prototype, no effect "
			       "(reported once)",
			       k->name);
	}
}

static void proxy_line(struct parser *p, int line, char **tok, int ntok)
{
	if (!strcasecmp(tok[0], "server_alias")) {
		if (ntok < 2) {
			conf_diag_error(p->d, p->file, line,
					"Proxy: server_alias needs a replica alias");
			p->proxy_replica[0] = 0;
			return;
		}
		if (ntok > 2)
			conf_diag_warn(p->d, p->file, line,
				       "Proxy: extra text after '%.40s' ignored", tok[1]);
		snprintf(p->proxy_replica, sizeof p->proxy_replica, "%s", tok[1]);
		conf_lower(p->proxy_replica);
	} else if (p->proxy_replica[0] == 0) {
		conf_diag_error(p->d, p->file, line,
				"Proxy: client '%.40s' before any server_alias line", tok[0]);
		return;
	}
	if (p->n_proxy >= MAX_PROXY) {
		conf_diag_error(p->d, p->file, line, "Proxy: more than %d lines", MAX_PROXY);
		return;
	}
	if (grow(p, (void **)&p->proxy, &p->cap_proxy, p->n_proxy, sizeof *p->proxy))
		return;
	struct proxy_entry *e = &p->proxy[p->n_proxy++];
	memset(e, 0, sizeof *e);
	snprintf(e->replica, sizeof e->replica, "%s", p->proxy_replica);
	e->line = line;
	if (!strcasecmp(tok[0], "server_alias"))
		return; /* a group opener: its alias is checked after the whole file is read */
	snprintf(e->client, sizeof e->client, "%s", tok[0]);
	conf_lower(e->client);
	if (ntok >= 2) {
		if (!strcasecmp(tok[1], "(local)") || !strcasecmp(tok[1], "local"))
			e->local = true;
		else
			conf_diag_warn(
			    p->d, p->file, line,
			    "Proxy: '%.40s %.60s': the address is ignored ('%s' is served "
			    "by %s, not co-located; write '(local)' for that)",
			    e->client, tok[1], e->client, e->replica);
		if (ntok > 2)
			conf_diag_warn(p->d, p->file, line,
				       "Proxy: extra text after '%.40s' ignored", tok[1]);
	}
}

/* "-- Name --", "--Name--", "-- Apply to alias --". tok[0] starts with "--". */
static void header_line(struct parser *p, int line, char **tok, int ntok)
{
	char *name[CONF_MAX_TOKENS];
	int n = 0;
	int kept = ntok < CONF_MAX_TOKENS ? ntok : CONF_MAX_TOKENS;
	for (int i = 0; i < kept; i++) {
		char *t = tok[i];
		if (i == 0)
			while (*t == '-')
				t++;
		if (i == kept - 1) {
			size_t len = strlen(t);
			while (len > 0 && t[len - 1] == '-')
				t[--len] = 0;
		}
		if (*t)
			name[n++] = t;
	}
	p->hosts_open = false;
	p->sec = SEC_UNKNOWN;
	if (n == 0) {
		conf_diag_error(p->d, p->file, line, "section header without a name");
		return;
	}
	if (n >= 2 && !strcasecmp(name[0], "apply") && !strcasecmp(name[1], "to")) {
		if (n != 3) {
			conf_diag_error(p->d, p->file, line,
					"'-- Apply to <alias> --' needs exactly one alias");
			return;
		}
		if (strlen(name[2]) >= CONF_ALIAS_MAX || !alias_ok(name[2])) {
			conf_diag_error(p->d, p->file, line, "Apply to: bad alias '%.40s'",
					name[2]);
			return;
		}
		p->sec = SEC_APPLY;
		snprintf(p->apply_alias, sizeof p->apply_alias, "%s", name[2]);
		conf_lower(p->apply_alias);
		if (p->n_apply < MAX_APPLY &&
		    grow(p, (void **)&p->apply, &p->cap_apply, p->n_apply, sizeof *p->apply) == 0) {
			struct apply_header *a = &p->apply[p->n_apply++];
			snprintf(a->alias, sizeof a->alias, "%s", p->apply_alias);
			a->line = line;
		}
		return;
	}
	if (n == 1 && !strcasecmp(name[0], "replicas")) {
		p->sec = SEC_REPLICAS;
	} else if (n == 1 && !strcasecmp(name[0], "clients")) {
		p->sec = SEC_CLIENTS;
	} else if (n == 1 && !strcasecmp(name[0], "master")) {
		p->sec = SEC_MASTER;
	} else if (n == 1 && !strcasecmp(name[0], "proxy")) {
		p->sec = SEC_PROXY;
		p->proxy_replica[0] = 0;
	} else {
		char full[128] = "";
		size_t used = 0;
		for (int i = 0; i < n && used < sizeof full - 1; i++)
			used += (size_t)snprintf(full + used, sizeof full - used, "%s%s",
						 i ? " " : "", name[i]);
		conf_diag_error(
		    p->d, p->file, line,
		    "unknown section '%.60s' (Replicas, Clients, Master, Proxy, Apply to "
		    "<alias>)",
		    full);
		return;
	}
	p->hosts_open = host_section(p->sec);
}

/* True for a line made only of dashes ("---"): the end of the Proxy section. */
static bool dash_line(char **tok, int ntok)
{
	if (ntok != 1 || strlen(tok[0]) < 3)
		return false;
	return strspn(tok[0], "-") == strlen(tok[0]);
}

static bool all_digits(const char *s)
{
	if (*s == 0)
		return false;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return false;
	return true;
}

static void parse_line(struct parser *p, int line, char *buf)
{
	char *tok[CONF_MAX_TOKENS];
	int ntok = conf_tokenize(buf, tok, CONF_MAX_TOKENS);
	if (ntok == 0)
		return;
	if (ntok > CONF_MAX_TOKENS) {
		conf_diag_warn(p->d, p->file, line, "more than %d tokens: the rest is ignored",
			       CONF_MAX_TOKENS);
		ntok = CONF_MAX_TOKENS;
	}
	if (dash_line(tok, ntok)) {
		if (p->sec == SEC_PROXY)
			p->sec = SEC_NONE;
		return;
	}
	if (!strncmp(tok[0], "--", 2)) {
		header_line(p, line, tok, ntok);
		return;
	}
	char name[64];
	const char *value;
	split_key(tok, ntok, name, sizeof name, &value);
	bool is_key = conf_key_find(name) != NULL;
	/* "key: value", "key:value" and "key : value" have the shape of a key line ("key :value"
	 * too, but only for a known key: "r1 ::1" is a host with a bare IPv6 address) */
	bool key_shaped = strchr(tok[0], ':') || (ntok >= 2 && !strcmp(tok[1], ":"));
	switch (p->sec) {
	case SEC_PROXY:
		if (is_key && key_shaped) {
			conf_diag_warn(p->d, p->file, line,
				       "key line inside the Proxy section (end the section with "
				       "'---')");
			key_line(p, line, tok, ntok);
		} else {
			proxy_line(p, line, tok, ntok);
		}
		return;
	case SEC_UNKNOWN:
		/* the header was reported; keys still count (as in the prototype), the rest is
		 * skipped rather than reported line by line */
		if (is_key)
			key_line(p, line, tok, ntok);
		return;
	default:
		break;
	}
	if (p->hosts_open) {
		if (is_key) {
			p->hosts_open = false; /* a known key line ends the host list */
		} else if (!key_shaped && !(ntok == 2 && all_digits(tok[1]))) {
			host_line(p, line, tok, ntok);
			return;
		}
		/* else "netwrkDelay: 25" or "netwrkDelay 25" among the hosts: a misspelled key
		 * (warned about by key_line), not a host as in the prototype */
	}
	key_line(p, line, tok, ntok);
}

static int cmp_replica(const void *a, const void *b)
{
	const struct conf_host *x = a, *y = b;
	if (x->id != y->id)
		return (x->id > y->id) - (x->id < y->id);
	return (x->line > y->line) - (x->line < y->line);
}

static void resolve_proxy(struct parser *p)
{
	struct conf *c = p->c;
	for (size_t i = 0; i < p->n_proxy; i++) {
		struct proxy_entry *e = &p->proxy[i];
		const struct conf_host *r = conf_find_replica(c, e->replica);
		if (e->client[0] == 0) {
			if (r == NULL)
				conf_diag_error(p->d, p->file, e->line,
						"Proxy: server_alias '%s' is not a replica",
						e->replica);
			continue;
		}
		if (r == NULL)
			continue; /* reported at its server_alias line */
		struct conf_host *cl = NULL;
		for (size_t j = 0; j < c->n_clients; j++)
			if (!strcmp(c->clients[j].alias, e->client))
				cl = &c->clients[j];
		if (cl == NULL) {
			conf_diag_error(p->d, p->file, e->line,
					"Proxy: '%s' is not a client (-- Clients --)", e->client);
			continue;
		}
		const struct proxy_entry *prev = NULL;
		for (size_t j = 0; j < i; j++)
			if (!strcmp(p->proxy[j].client, e->client) &&
			    conf_find_replica(c, p->proxy[j].replica))
				prev = &p->proxy[j];
		if (prev && strcmp(prev->replica, e->replica)) {
			conf_diag_error(p->d, p->file, e->line,
					"Proxy: client '%s' is already served by '%s' (line %d)",
					e->client, prev->replica, prev->line);
			continue;
		}
		if (prev)
			conf_diag_warn(p->d, p->file, e->line,
				       "Proxy: client '%s' is listed twice under '%s'", e->client,
				       e->replica);
		cl->proxy_replica = r->id;
		cl->proxy_local = cl->proxy_local || e->local;
	}
}

static bool alias_known(const struct conf *c, const char *alias)
{
	return conf_find_replica(c, alias) || conf_find_client(c, alias) ||
	       (c->has_master && !strcasecmp(c->master.alias, alias));
}

static int parse(const char *name, const char *text, size_t len, struct conf **out,
		 struct conf_diags *diags)
{
	*out = NULL;
	struct conf_diags local = {0};
	struct conf_diags *d = diags ? diags : &local;
	size_t errors_before = d->n_errors;
	struct conf *c = calloc(1, sizeof *c);
	char *buf = malloc(CONF_MAX_LINE + 1);
	if (c == NULL || buf == NULL) {
		free(c);
		free(buf);
		return -ENOMEM;
	}
	snprintf(c->path, sizeof c->path, "%s", name ? name : "");
	conf_settings_default(&c->settings);
	struct parser p;
	memset(&p, 0, sizeof p);
	p.c = c;
	p.d = d;
	p.file = c->path;
	p.sec = SEC_NONE;
	struct conf_lines it;
	conf_lines_init(&it, text, len);
	bool too_long;
	while (conf_next_line(&it, buf, &too_long)) {
		if (too_long)
			conf_diag_error(d, p.file, it.lineno, "line longer than %d bytes",
					CONF_MAX_LINE);
		else
			parse_line(&p, it.lineno, buf);
	}
	free(buf);
	if (c->n_replicas > 1)
		qsort(c->replicas, c->n_replicas, sizeof *c->replicas, cmp_replica);
	if (c->has_master && !c->master.port_explicit)
		c->master.port = c->settings.master_port;
	resolve_proxy(&p);
	for (size_t i = 0; i < p.n_apply; i++)
		if (!alias_known(c, p.apply[i].alias))
			conf_diag_warn(d, p.file, p.apply[i].line,
				       "Apply to '%s': no replica, client or master has this alias",
				       p.apply[i].alias);
	free(p.proxy);
	free(p.apply);
	conf_validate(c, d);
	*out = c;
	int rc = d->n_errors > errors_before ? -EINVAL : 0;
	conf_diags_free(&local);
	return rc;
}

int conf_load_string(const char *name, const char *text, struct conf **out,
		     struct conf_diags *diags)
{
	return parse(name, text, strlen(text), out, diags);
}

int conf_load(const char *path, struct conf **out, struct conf_diags *diags)
{
	*out = NULL;
	char *text;
	size_t len;
	int rc = conf_read_file(path, &text, &len);
	if (rc == -EFBIG)
		conf_diag_error(diags, path, 0, "file larger than %u bytes", CONF_MAX_FILE);
	if (rc != 0)
		return rc;
	const char *nul = memchr(text, 0, len);
	if (nul) {
		/* still parsed (the NULs become invalid bytes) so that *out can be inspected */
		int line = 1;
		for (const char *q = text; q < nul; q++)
			line += *q == '\n';
		conf_diag_error(diags, path, line, "NUL byte in the file (a binary file?)");
	}
	rc = parse(path, text, len, out, diags);
	free(text);
	return nul && rc == 0 ? -EINVAL : rc;
}

void conf_free(struct conf *c)
{
	if (c == NULL)
		return;
	free(c->replicas);
	free(c->clients);
	free(c->overrides);
	free(c);
}

/* ---- validation ---------------------------------------------------------------------------- */

/* The line that set key name for alias: its last Apply-to line if alias has one, else the
 * global line (0 when defaulted). */
static int line_of(const struct conf *c, const char *alias, const char *name)
{
	for (size_t i = c->n_overrides; alias && i-- > 0;)
		if (!strcasecmp(c->overrides[i].alias, alias) &&
		    !strcasecmp(c->overrides[i].key, name))
			return c->overrides[i].line;
	return conf_key_line(c, name);
}

static int max_line(int a, int b)
{
	return a > b ? a : b;
}

/* Relations between keys (ranges of single keys are checked as they are parsed). Errors go to
 * d; returns 0 or -EINVAL. */
static int check_settings(const struct conf *c, const char *alias, const struct conf_settings *s,
			  struct conf_diags *d)
{
	const char *f = c->path;
	size_t before = d->n_errors;
	if (s->pendings > 100000)
		conf_diag_error(d, f, line_of(c, alias, "pendings"),
				"pendings: %" PRIu32 " is above the limit 100000", s->pendings);
	if (s->command_size > s->max_value_bytes)
		conf_diag_error(
		    d, f,
		    max_line(line_of(c, alias, "commandSize"), line_of(c, alias, "maxValueBytes")),
		    "commandSize: %" PRIu32 " is larger than maxValueBytes (%" PRIu32 ")",
		    s->command_size, s->max_value_bytes);
	if (s->appends && s->command_size < CONF_APPEND_MIN)
		conf_diag_error(
		    d, f, max_line(line_of(c, alias, "appends"), line_of(c, alias, "commandSize")),
		    "appends: commandSize %" PRIu32 " is below %d (each appended element "
		    "must name its session and seq)",
		    s->command_size, CONF_APPEND_MIN);
	if (s->appends && s->deletes > 0)
		conf_diag_error(
		    d, f, max_line(line_of(c, alias, "appends"), line_of(c, alias, "deletes")),
		    "deletes: %" PRIu32 " with appends: true: the append workload's keys "
		    "are lists that are never deleted (the exactly-once check reads every "
		    "element back); set one of them",
		    s->deletes);
	if (s->max_key_bytes < 8)
		conf_diag_error(d, f, line_of(c, alias, "maxKeyBytes"),
				"maxKeyBytes: %" PRIu32
				" is below 8 (the load generator's keys are 8 bytes)",
				s->max_key_bytes);
	uint64_t need = (uint64_t)s->max_value_bytes + s->max_key_bytes + 1024;
	if (s->max_frame_bytes < need) {
		int l = line_of(c, alias, "maxFrameBytes");
		l = max_line(l, line_of(c, alias, "maxValueBytes"));
		l = max_line(l, line_of(c, alias, "maxKeyBytes"));
		conf_diag_error(d, f, l,
				"maxFrameBytes: %" PRIu32
				" cannot carry maxValueBytes + maxKeyBytes + 1024 = %" PRIu64,
				s->max_frame_bytes, need);
	}
	if (s->reqs == 0 && s->run_time_ms == 0)
		conf_diag_error(d, f, line_of(c, alias, "reqs"),
				"reqs: 0 without runTime: clients would issue nothing");
	if (s->leader_timeout_ms <= s->heartbeat_ms)
		conf_diag_error(d, f,
				max_line(line_of(c, alias, "leaderTimeoutMs"),
					 line_of(c, alias, "heartbeatMs")),
				"leaderTimeoutMs: %" PRIu32 " must exceed heartbeatMs (%" PRIu32
				")",
				s->leader_timeout_ms, s->heartbeat_ms);
	if (s->client_lease_ms > 0 && s->client_lease_ms < CONF_LEASE_MIN_MS)
		conf_diag_error(d, f, line_of(c, alias, "clientLeaseMs"),
				"clientLeaseMs: %" PRIu32 " is below %u ms (0 = never expire)",
				s->client_lease_ms, CONF_LEASE_MIN_MS);
	if (s->secret[0] && s->secret_file[0])
		conf_diag_error(
		    d, f, max_line(line_of(c, alias, "secret"), line_of(c, alias, "secretFile")),
		    "secret and secretFile are both set: keep one");
	if (s->fsync[0] && strcmp(s->fsync, "always") != 0 && strcmp(s->fsync, "everysec") != 0 &&
	    strcmp(s->fsync, "no") != 0)
		conf_diag_error(d, f, line_of(c, alias, "fsync"),
				"fsync: '%s' is not always, everysec or no", s->fsync);
	return d->n_errors > before ? -EINVAL : 0;
}

/* Reads the secret of s->secret_file into s->secret (docs/conf.md "Security"). Returns 0 or
 * -EINVAL after an error naming the secretFile line; the secret's bytes never appear in a
 * diagnostic. */
static int load_secret_file(const struct conf *c, const char *alias, struct conf_settings *s,
			    struct conf_diags *d)
{
	const char *path = s->secret_file;
	int line = line_of(c, alias, "secretFile");
	/* O_NONBLOCK: a FIFO or a device named by mistake must not block; it is refused below */
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		conf_diag_error(d, c->path, line, "secretFile: cannot open %.200s: %s", path,
				strerror(errno));
		return -EINVAL;
	}
	int rc = -EINVAL;
	struct stat st;
	char buf[SECRET_FILE_MAX + 1];
	ssize_t n = 0;
	if (fstat(fd, &st) != 0) {
		conf_diag_error(d, c->path, line, "secretFile: %.200s: %s", path, strerror(errno));
	} else if (!S_ISREG(st.st_mode)) {
		conf_diag_error(d, c->path, line, "secretFile: %.200s is not a regular file", path);
	} else if (st.st_uid != geteuid()) {
		conf_diag_error(d, c->path, line,
				"secretFile: %.200s is owned by uid %u, not by this user (uid %u)",
				path, (unsigned)st.st_uid, (unsigned)geteuid());
	} else if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		conf_diag_error(d, c->path, line,
				"secretFile: %.200s has mode %04o: group or others may access it "
				"(chmod 600 it)",
				path, (unsigned)(st.st_mode & 07777));
	} else if ((n = read(fd, buf, sizeof buf)) < 0) {
		conf_diag_error(d, c->path, line, "secretFile: cannot read %.200s: %s", path,
				strerror(errno));
	} else {
		size_t len = (size_t)n;
		while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' ||
				   buf[len - 1] == ' ' || buf[len - 1] == '\t'))
			len--;
		if ((size_t)n > SECRET_FILE_MAX || len >= sizeof s->secret)
			conf_diag_error(d, c->path, line,
					"secretFile: %.200s holds more than %zu bytes", path,
					sizeof s->secret - 1);
		else if (memchr(buf, '\0', len))
			conf_diag_error(d, c->path, line, "secretFile: %.200s holds a NUL byte",
					path);
		else if (len < SECRET_MIN)
			conf_diag_error(
			    d, c->path, line,
			    "secretFile: %.200s holds %zu bytes: too short a secret (at "
			    "least %d; 32 random bytes are recommended)",
			    path, len, SECRET_MIN);
		else {
			memcpy(s->secret, buf, len);
			s->secret[len] = '\0';
			rc = 0;
		}
	}
	explicit_bzero(buf, sizeof buf);
	close(fd);
	return rc;
}

static void check_replicas(const struct conf *c, struct conf_diags *d)
{
	const char *f = c->path;
	size_t n = c->n_replicas;
	if (n == 0) {
		conf_diag_error(d, f, 0,
				"no replicas (add a '-- Replicas --' section with lines like "
				"'replica0 127.0.0.1')");
		return;
	}
	if (n % 2 == 0)
		conf_diag_error(
		    d, f, 0, "%zu replicas: the CURP protocols need an odd number (1, 3, 5, ...)",
		    n);
	if (n > CONF_MAX_REPLICAS)
		conf_diag_error(d, f, 0, "%zu replicas: at most %d are supported", n,
				CONF_MAX_REPLICAS);
	bool dup_ids = false;
	/* replicas are sorted by (id, line): equal ids are neighbours, the first on the earliest
	 * line; each later one is reported against it */
	for (size_t i = 1, first = 0; i < n; i++) {
		const struct conf_host *a = &c->replicas[first], *b = &c->replicas[i];
		if (a->id != b->id) {
			first = i;
			continue;
		}
		dup_ids = true;
		if (!strcmp(a->alias, b->alias))
			conf_diag_error(d, f, b->line,
					"replica alias '%s' is already used on line %d", b->alias,
					a->line);
		else
			conf_diag_error(d, f, b->line,
					"replica '%s' has id %d, like '%s' on line %d (the id is "
					"the number at the end of the alias)",
					b->alias, b->id, a->alias, a->line);
	}
	/* replicas and the master find each other by id: 0..N-1, no gaps (reported only when
	 * there are no collisions, which already explain the gaps) */
	for (size_t i = 0; i < n && !dup_ids; i++)
		if ((size_t)c->replicas[i].id >= n)
			conf_diag_error(d, f, c->replicas[i].line,
					"replica '%s' has id %d: with %zu replicas the ids must be "
					"0..%zu",
					c->replicas[i].alias, c->replicas[i].id, n, n - 1);
	for (size_t i = 0; i < n; i++) {
		const struct conf_host *b = &c->replicas[i];
		for (size_t j = 0; j < n; j++) {
			const struct conf_host *a = &c->replicas[j];
			if (a->line < b->line && a->id != b->id && a->port == b->port &&
			    !strcasecmp(a->addr, b->addr)) {
				conf_diag_error(
				    d, f, b->line,
				    "replica '%s' listens on %s:%u, like '%s' on line %d", b->alias,
				    b->addr, b->port, a->alias, a->line);
				break;
			}
		}
		if (c->has_master && c->master.port == b->port &&
		    !strcasecmp(c->master.addr, b->addr))
			conf_diag_error(
			    d, f, c->master.line,
			    "master '%s' listens on %s:%u, like replica '%s' on line %d",
			    c->master.alias, b->addr, b->port, b->alias, b->line);
	}
}

int conf_validate(const struct conf *c, struct conf_diags *diags)
{
	struct conf_diags local = {0};
	struct conf_diags *d = diags ? diags : &local;
	size_t before = d->n_errors;
	const char *f = c->path;
	const struct conf_settings *s = &c->settings;
	check_replicas(c, d);
	for (size_t i = 0; i < c->n_clients; i++)
		for (size_t j = 0; j < i; j++)
			if (!strcasecmp(c->clients[i].alias, c->clients[j].alias)) {
				conf_diag_error(d, f, c->clients[i].line,
						"client alias '%s' is already used on line %d",
						c->clients[i].alias, c->clients[j].line);
				break;
			}
	if (!c->has_master)
		conf_diag_error(d, f, 0,
				"no master: the cluster cannot start (add a '-- Master --' section "
				"with one line like 'master0 127.0.0.1')");
	check_settings(c, NULL, s, d);
	if (s->protocol == CONF_PROTO_CURP && s->weak_ratio > 0)
		conf_diag_warn(
		    d, f, max_line(conf_key_line(c, "weakRatio"), conf_key_line(c, "protocol")),
		    "weakRatio: %" PRIu32 " with protocol curp is forced to 0 (curp has "
		    "no weak operations)",
		    s->weak_ratio);
	int rc = d->n_errors > before ? -EINVAL : 0;
	conf_diags_free(&local);
	return rc;
}

int conf_settings_for(const struct conf *c, const char *alias, struct conf_settings *out,
		      struct conf_diags *diags)
{
	struct conf_diags local = {0};
	struct conf_diags *d = diags ? diags : &local;
	*out = c->settings;
	int rc = 0;
	size_t applied = 0;
	bool weak_touched = false;
	for (size_t i = 0; alias && i < c->n_overrides; i++) {
		const struct conf_override *o = &c->overrides[i];
		if (strcasecmp(o->alias, alias))
			continue;
		const struct conf_key *k = conf_key_find(o->key);
		if (k == NULL) {
			conf_diag_error(d, c->path, o->line, "unknown key '%s'", o->key);
			rc = -EINVAL;
			continue;
		}
		if (conf_key_apply(k, o->value, out, d, c->path, o->line) != 0) {
			rc = -EINVAL;
			continue;
		}
		applied++;
		if (!strcasecmp(o->key, "weakRatio") || !strcasecmp(o->key, "protocol"))
			weak_touched = true;
	}
	if (applied > 0) {
		if (check_settings(c, alias, out, d) != 0)
			rc = -EINVAL;
		if (weak_touched && out->protocol == CONF_PROTO_CURP && out->weak_ratio > 0)
			conf_diag_warn(
			    d, c->path,
			    max_line(line_of(c, alias, "weakRatio"), line_of(c, alias, "protocol")),
			    "weakRatio: %" PRIu32 " for '%s' with protocol curp is forced "
			    "to 0",
			    out->weak_ratio, alias);
	}
	if (out->protocol == CONF_PROTO_CURP)
		out->weak_ratio = 0;
	/* both set is refused by check_settings; the file is read only when it is the one */
	if (out->secret_file[0] && !out->secret[0] && load_secret_file(c, alias, out, d) != 0)
		rc = -EINVAL;
	conf_diags_free(&local);
	return rc;
}

/* ---- lookups ------------------------------------------------------------------------------- */

const struct conf_host *conf_find_replica(const struct conf *c, const char *alias)
{
	for (size_t i = 0; alias && i < c->n_replicas; i++)
		if (!strcasecmp(c->replicas[i].alias, alias))
			return &c->replicas[i];
	return NULL;
}

const struct conf_host *conf_find_client(const struct conf *c, const char *alias)
{
	for (size_t i = 0; alias && i < c->n_clients; i++)
		if (!strcasecmp(c->clients[i].alias, alias))
			return &c->clients[i];
	return NULL;
}

const struct conf_host *conf_replica_by_id(const struct conf *c, int id)
{
	for (size_t i = 0; i < c->n_replicas; i++)
		if (c->replicas[i].id == id)
			return &c->replicas[i];
	return NULL;
}

/* ---- printing ------------------------------------------------------------------------------ */

static void print_hostport(const struct conf_host *h, FILE *out)
{
	if (strchr(h->addr, ':'))
		fprintf(out, "[%s]:%u", h->addr, h->port);
	else
		fprintf(out, "%s:%u", h->addr, h->port);
}

void conf_print(const struct conf *c, const struct conf_settings *s, FILE *out)
{
	fprintf(out, "conf: %s\n", c->path);
	fprintf(out, "protocol: %s\n", conf_protocol_name(s->protocol));
	fprintf(out, "replicas: %zu (f=%zu)\n", c->n_replicas,
		c->n_replicas ? (c->n_replicas - 1) / 2 : 0);
	for (size_t i = 0; i < c->n_replicas; i++) {
		const struct conf_host *h = &c->replicas[i];
		fprintf(out, "  %s ", h->alias);
		print_hostport(h, out);
		fprintf(out, " (id %d)\n", h->id);
	}
	fprintf(out, "clients: %zu\n", c->n_clients);
	for (size_t i = 0; i < c->n_clients; i++) {
		const struct conf_host *h = &c->clients[i];
		fprintf(out, "  %s %s", h->alias, h->addr);
		if (h->proxy_replica >= 0) {
			const struct conf_host *r = conf_replica_by_id(c, h->proxy_replica);
			fprintf(out, " (%s %s)", h->proxy_local ? "co-located with" : "served by",
				r ? r->alias : "?");
		}
		fputc('\n', out);
	}
	if (c->has_master) {
		fprintf(out, "master: %s ", c->master.alias);
		print_hostport(&c->master, out);
		fputc('\n', out);
	} else {
		fprintf(out, "master: (none)\n");
	}
	if (c->n_overrides > 0) {
		fprintf(out, "overrides: %zu\n", c->n_overrides);
		for (size_t i = 0; i < c->n_overrides; i++) {
			const struct conf_override *o = &c->overrides[i];
			bool secret = !strcasecmp(o->key, "secret");
			fprintf(out, "  %s: %s: %s // line %d\n", o->alias, o->key,
				secret ? "(not shown)" : o->value, o->line);
		}
	}
	fprintf(out, "settings:\n");
	conf_keys_print(s, out);
}
