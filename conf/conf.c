/* conf: the cluster file parser (CONF.md 1-2), validation, effective settings, printing. */
#include "conf/conf.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf/conf_int.h"

#define MAX_FILE_BYTES (16u << 20)

/* ---- diagnostics ----------------------------------------------------------------------- */

void conf_diag_add(struct conf_diags *d, bool error, const char *file, int line, const char *fmt,
		   ...)
{
	if (d == NULL)
		return;
	if (d->n >= CONF_MAX_DIAGS) {
		if (d->n == CONF_MAX_DIAGS && d->cap > d->n) {
			struct conf_diag *g = &d->v[d->n++];
			memset(g, 0, sizeof *g);
			g->error = true;
			snprintf(g->file, sizeof g->file, "%s", file);
			snprintf(g->msg, sizeof g->msg, "too many diagnostics; giving up listing them");
			d->n_errors++;
		}
		if (error)
			d->n_errors++;
		return;
	}
	if (d->n == d->cap) {
		size_t ncap = d->cap ? d->cap * 2 : 16;
		if (ncap > CONF_MAX_DIAGS + 1)
			ncap = CONF_MAX_DIAGS + 1;
		struct conf_diag *nv = realloc(d->v, ncap * sizeof *nv);
		if (nv == NULL) {
			if (error)
				d->n_errors++;
			return;
		}
		d->v = nv;
		d->cap = ncap;
	}
	struct conf_diag *g = &d->v[d->n++];
	memset(g, 0, sizeof *g);
	g->error = error;
	snprintf(g->file, sizeof g->file, "%s", file ? file : "");
	g->line = line;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(g->msg, sizeof g->msg, fmt, ap);
	va_end(ap);
	if (error)
		d->n_errors++;
	else
		d->n_warnings++;
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
		if (g->line > 0)
			fprintf(out, "%s:%d: %s: %s\n", g->file, g->line,
				g->error ? "error" : "warning", g->msg);
		else
			fprintf(out, "%s: %s: %s\n", g->file, g->error ? "error" : "warning", g->msg);
	}
}

/* ---- protocol names --------------------------------------------------------------------- */

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

/* ---- settings --------------------------------------------------------------------------- */

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
	s->max_frame_bytes = 1u << 20;
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

/* ---- small string helpers ---------------------------------------------------------------- */

static void lower(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

static bool starts_comment(const char *t)
{
	return t[0] == '#' || (t[0] == '/' && t[1] == '/');
}

/* Splits line (modified in place) into at most max tokens, stopping at a comment token. */
static int tokenize(char *line, char **tok, int max)
{
	int n = 0;
	char *p = line;
	while (*p) {
		while (*p && isspace((unsigned char)*p))
			p++;
		if (!*p)
			break;
		char *start = p;
		while (*p && !isspace((unsigned char)*p))
			p++;
		if (*p)
			*p++ = 0;
		if (starts_comment(start))
			break;
		if (n < max)
			tok[n++] = start;
		else
			n++;
	}
	return n;
}

/* Replica id from the digits at the end of an alias; -1 if none or too large. */
static int alias_id(const char *alias)
{
	size_t len = strlen(alias), i = len;
	while (i > 0 && isdigit((unsigned char)alias[i - 1]))
		i--;
	if (i == len || len - i > 5)
		return -1;
	long v = strtol(alias + i, NULL, 10);
	return v > 65535 ? -1 : (int)v;
}

/* Splits "addr[:port]", "[v6]:port" or a bare IPv6 address. Returns 0, or -EINVAL. */
static int split_addr(const char *in, char *addr, size_t alen, int *port)
{
	*port = -1;
	const char *colon = strrchr(in, ':');
	if (in[0] == '[') {
		const char *end = strchr(in, ']');
		if (end == NULL || end == in + 1)
			return -EINVAL;
		size_t n = (size_t)(end - in - 1);
		if (n >= alen)
			return -EINVAL;
		memcpy(addr, in + 1, n);
		addr[n] = 0;
		if (end[1] == 0)
			return 0;
		if (end[1] != ':')
			return -EINVAL;
		colon = end + 1;
	} else if (colon && strchr(in, ':') != colon) {
		/* several colons without brackets: a bare IPv6 address */
		if (strlen(in) >= alen)
			return -EINVAL;
		strcpy(addr, in);
		return 0;
	} else {
		size_t n = colon ? (size_t)(colon - in) : strlen(in);
		if (n == 0 || n >= alen)
			return -EINVAL;
		memcpy(addr, in, n);
		addr[n] = 0;
		if (colon == NULL)
			return 0;
	}
	char *end;
	long p = strtol(colon + 1, &end, 10);
	if (*end || colon[1] == 0 || p < 1 || p > 65535)
		return -EINVAL;
	*port = (int)p;
	return 0;
}

/* ---- the parser ------------------------------------------------------------------------ */

enum section { SEC_NONE, SEC_REPLICAS, SEC_CLIENTS, SEC_MASTER, SEC_PROXY, SEC_APPLY };

struct proxy_line {
	char replica[CONF_ALIAS_MAX]; /* current server_alias */
	char client[CONF_ALIAS_MAX];
	bool local;
	int line;
};

struct parser {
	struct conf *c;
	struct conf_diags *d;
	const char *file;
	enum section sec;
	bool hosts_open;
	char apply_alias[CONF_ALIAS_MAX];
	char proxy_replica[CONF_ALIAS_MAX];
	int proxy_replica_line;
	struct proxy_line *proxy;
	size_t n_proxy, cap_proxy;
	int master_line;
	size_t cap_replicas, cap_clients, cap_overrides;
};

static int grow(void **v, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return 0;
	size_t ncap = *cap ? *cap * 2 : 8;
	void *nv = realloc(*v, ncap * size);
	if (nv == NULL)
		return -ENOMEM;
	*v = nv;
	*cap = ncap;
	return 0;
}

static void host_line(struct parser *p, int line, char **tok, int ntok)
{
	struct conf *c = p->c;
	if (strlen(tok[0]) >= CONF_ALIAS_MAX) {
		conf_diag_add(p->d, true, p->file, line, "alias '%.40s...' is too long", tok[0]);
		return;
	}
	if (ntok < 2) {
		conf_diag_add(p->d, true, p->file, line, "host '%s' has no address", tok[0]);
		return;
	}
	if (ntok > 2)
		conf_diag_add(p->d, false, p->file, line, "extra text after host '%s' ignored", tok[0]);
	struct conf_host h;
	memset(&h, 0, sizeof h);
	snprintf(h.alias, sizeof h.alias, "%s", tok[0]);
	lower(h.alias);
	h.line = line;
	h.proxy_replica = -1;
	int port;
	if (split_addr(tok[1], h.addr, sizeof h.addr, &port) != 0) {
		conf_diag_add(p->d, true, p->file, line, "host '%s': bad address '%.100s'", h.alias,
			      tok[1]);
		return;
	}
	h.port_explicit = port > 0;
	if (port > 0)
		h.port = (uint16_t)port;
	if (c->n_replicas + c->n_clients >= CONF_MAX_HOSTS) {
		conf_diag_add(p->d, true, p->file, line, "more than %d hosts", CONF_MAX_HOSTS);
		return;
	}
	switch (p->sec) {
	case SEC_REPLICAS:
		h.id = alias_id(h.alias);
		if (h.id < 0) {
			conf_diag_add(p->d, true, p->file, line,
				      "replica alias '%s' does not end with its id (e.g. replica0)",
				      h.alias);
			return;
		}
		if (!h.port_explicit) {
			if (CONF_DEFAULT_REPLICA_PORT + h.id > 65535) {
				conf_diag_add(p->d, true, p->file, line,
					      "replica id %d gives port %d, out of range", h.id,
					      CONF_DEFAULT_REPLICA_PORT + h.id);
				return;
			}
			h.port = (uint16_t)(CONF_DEFAULT_REPLICA_PORT + h.id);
		}
		if (grow((void **)&c->replicas, &p->cap_replicas, c->n_replicas, sizeof h) != 0)
			return;
		c->replicas[c->n_replicas++] = h;
		break;
	case SEC_CLIENTS:
		h.id = (int)c->n_clients;
		if (grow((void **)&c->clients, &p->cap_clients, c->n_clients, sizeof h) != 0)
			return;
		c->clients[c->n_clients++] = h;
		break;
	case SEC_MASTER:
		if (c->has_master)
			conf_diag_add(p->d, false, p->file, line,
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

static void key_line(struct parser *p, int line, char **tok, int ntok)
{
	char key[64];
	const char *value = NULL;
	char *colon = strchr(tok[0], ':');
	if (colon) {
		*colon = 0;
		if (colon[1])
			value = colon + 1;
	}
	if (strlen(tok[0]) >= sizeof key) {
		conf_diag_add(p->d, false, p->file, line, "unknown key '%.40s...' ignored", tok[0]);
		return;
	}
	snprintf(key, sizeof key, "%s", tok[0]);
	int vi = value ? 1 : 2;
	if (value == NULL && ntok >= 2)
		value = tok[1];
	if (ntok > vi)
		conf_diag_add(p->d, false, p->file, line, "extra text after the value of '%s' ignored",
			      key);
	const struct conf_key *k = conf_key_find(key);
	if (k == NULL) {
		conf_diag_add(p->d, false, p->file, line, "unknown key '%s' ignored", key);
		return;
	}
	if (value == NULL) {
		conf_diag_add(p->d, true, p->file, line, "%s: missing value", k->name);
		return;
	}
	if (p->sec == SEC_APPLY) {
		struct conf_settings scratch;
		conf_settings_default(&scratch);
		if (conf_key_apply(k, value, &scratch, p->d, p->file, line) != 0)
			return;
		struct conf *c = p->c;
		if (grow((void **)&c->overrides, &p->cap_overrides, c->n_overrides,
			 sizeof *c->overrides) != 0)
			return;
		struct conf_override *o = &c->overrides[c->n_overrides++];
		memset(o, 0, sizeof *o);
		snprintf(o->alias, sizeof o->alias, "%s", p->apply_alias);
		snprintf(o->key, sizeof o->key, "%s", k->name);
		snprintf(o->value, sizeof o->value, "%s", value);
		o->line = line;
		return;
	}
	conf_key_apply(k, value, &p->c->settings, p->d, p->file, line);
}

static void proxy_line(struct parser *p, int line, char **tok, int ntok)
{
	if (!strcasecmp(tok[0], "server_alias")) {
		if (ntok < 2) {
			conf_diag_add(p->d, true, p->file, line, "server_alias needs a replica alias");
			return;
		}
		snprintf(p->proxy_replica, sizeof p->proxy_replica, "%s", tok[1]);
		lower(p->proxy_replica);
		p->proxy_replica_line = line;
		return;
	}
	if (p->proxy_replica[0] == 0) {
		conf_diag_add(p->d, true, p->file, line,
			      "client '%s' before any server_alias line in the Proxy section",
			      tok[0]);
		return;
	}
	if (grow((void **)&p->proxy, &p->cap_proxy, p->n_proxy, sizeof *p->proxy) != 0)
		return;
	struct proxy_line *pl = &p->proxy[p->n_proxy++];
	memset(pl, 0, sizeof *pl);
	snprintf(pl->replica, sizeof pl->replica, "%s", p->proxy_replica);
	snprintf(pl->client, sizeof pl->client, "%s", tok[0]);
	lower(pl->client);
	pl->line = line;
	if (ntok >= 2) {
		char t1[64];
		snprintf(t1, sizeof t1, "%s", tok[1]);
		lower(t1);
		if (strstr(t1, "local"))
			pl->local = true;
		else
			conf_diag_add(p->d, false, p->file, line,
				      "'%s %s': the address is ignored (the client is served by "
				      "%s, not co-located)",
				      pl->client, tok[1], pl->replica);
	}
}

static void header_line(struct parser *p, int line, char **tok, int ntok)
{
	/* "-- Name words --" */
	char name[128] = "";
	int last = ntok;
	if (ntok >= 2 && !strcmp(tok[ntok - 1], "--"))
		last = ntok - 1;
	for (int i = 1; i < last; i++) {
		if (strlen(name) + strlen(tok[i]) + 2 >= sizeof name)
			break;
		if (i > 1)
			strcat(name, " ");
		strcat(name, tok[i]);
	}
	p->hosts_open = false;
	if (!strcasecmp(name, "replicas")) {
		p->sec = SEC_REPLICAS;
		p->hosts_open = true;
	} else if (!strcasecmp(name, "clients")) {
		p->sec = SEC_CLIENTS;
		p->hosts_open = true;
	} else if (!strcasecmp(name, "master")) {
		p->sec = SEC_MASTER;
		p->hosts_open = true;
	} else if (!strcasecmp(name, "proxy")) {
		p->sec = SEC_PROXY;
		p->proxy_replica[0] = 0;
	} else if (last >= 4 && !strcasecmp(tok[1], "apply") && !strcasecmp(tok[2], "to")) {
		p->sec = SEC_APPLY;
		snprintf(p->apply_alias, sizeof p->apply_alias, "%s", tok[3]);
		lower(p->apply_alias);
	} else {
		conf_diag_add(p->d, true, p->file, line,
			      "unknown section '%s' (Replicas, Clients, Master, Proxy, Apply to "
			      "<alias>)",
			      name[0] ? name : "(empty)");
		p->sec = SEC_NONE;
	}
}

static int cmp_replica(const void *a, const void *b)
{
	const struct conf_host *x = a, *y = b;
	return (x->id > y->id) - (x->id < y->id);
}

static void resolve_proxy(struct parser *p)
{
	struct conf *c = p->c;
	for (size_t i = 0; i < p->n_proxy; i++) {
		struct proxy_line *pl = &p->proxy[i];
		const struct conf_host *r = conf_find_replica(c, pl->replica);
		struct conf_host *cl = (struct conf_host *)conf_find_client(c, pl->client);
		if (r == NULL) {
			conf_diag_add(p->d, true, p->file, pl->line,
				      "Proxy: server_alias '%s' is not a replica", pl->replica);
			continue;
		}
		if (cl == NULL) {
			conf_diag_add(p->d, true, p->file, pl->line, "Proxy: '%s' is not a client",
				      pl->client);
			continue;
		}
		cl->proxy_replica = r->id;
		cl->proxy_local = pl->local;
	}
}

int conf_load_string(const char *name, const char *text, struct conf **out,
		     struct conf_diags *diags)
{
	*out = NULL;
	struct conf *c = calloc(1, sizeof *c);
	if (c == NULL)
		return -ENOMEM;
	snprintf(c->path, sizeof c->path, "%s", name);
	conf_settings_default(&c->settings);
	struct conf_diags local = {0};
	struct conf_diags *d = diags ? diags : &local;
	size_t errors_before = d->n_errors;
	struct parser p = {.c = c, .d = d, .file = name, .sec = SEC_NONE};

	size_t len = strlen(text);
	char *buf = malloc(CONF_MAX_LINE + 2);
	if (buf == NULL) {
		free(c);
		return -ENOMEM;
	}
	size_t off = 0;
	int line = 0;
	while (off < len) {
		line++;
		const char *nl = memchr(text + off, '\n', len - off);
		size_t ll = nl ? (size_t)(nl - (text + off)) : len - off;
		const char *ls = text + off;
		off += ll + (nl ? 1 : 0);
		if (ll > CONF_MAX_LINE) {
			conf_diag_add(d, true, name, line, "line longer than %d bytes",
				      CONF_MAX_LINE);
			continue;
		}
		memcpy(buf, ls, ll);
		buf[ll] = 0;
		if (ll && buf[ll - 1] == '\r')
			buf[ll - 1] = 0;
		char *tok[16];
		int ntok = tokenize(buf, tok, 16);
		if (ntok > 16)
			ntok = 16;
		if (ntok == 0)
			continue;
		if (!strcmp(tok[0], "---")) {
			if (p.sec == SEC_PROXY)
				p.sec = SEC_NONE;
			continue;
		}
		if (!strcmp(tok[0], "--")) {
			header_line(&p, line, tok, ntok);
			continue;
		}
		if (p.sec == SEC_PROXY) {
			proxy_line(&p, line, tok, ntok);
			continue;
		}
		char first[64];
		snprintf(first, sizeof first, "%s", tok[0]);
		char *colon = strchr(first, ':');
		if (colon)
			*colon = 0;
		bool is_key = conf_key_find(first) != NULL;
		if (p.hosts_open && !is_key) {
			if (tok[0][strlen(tok[0]) - 1] == ':') {
				/* "netwrkDelay: 25" right after hosts: a misspelled key, not a host */
				conf_diag_add(d, false, name, line, "unknown key '%s' ignored", first);
				continue;
			}
			host_line(&p, line, tok, ntok);
			continue;
		}
		p.hosts_open = false;
		key_line(&p, line, tok, ntok);
	}
	free(buf);
	if (c->n_replicas > 1)
		qsort(c->replicas, c->n_replicas, sizeof *c->replicas, cmp_replica);
	/* master port from masterPort unless explicit */
	if (c->has_master && !c->master.port_explicit)
		c->master.port = c->settings.master_port;
	resolve_proxy(&p);
	free(p.proxy);
	conf_validate(c, d);
	*out = c;
	int rc = d->n_errors > errors_before ? -EINVAL : 0;
	if (d == &local)
		conf_diags_free(&local);
	return rc;
}

int conf_load(const char *path, struct conf **out, struct conf_diags *diags)
{
	*out = NULL;
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return -errno;
	char *text = malloc(MAX_FILE_BYTES + 1);
	if (text == NULL) {
		fclose(f);
		return -ENOMEM;
	}
	size_t n = fread(text, 1, MAX_FILE_BYTES + 1, f);
	int rerr = ferror(f);
	fclose(f);
	if (rerr) {
		free(text);
		return -EIO;
	}
	if (n > MAX_FILE_BYTES) {
		free(text);
		conf_diag_add(diags, true, path, 0, "file larger than %u bytes", MAX_FILE_BYTES);
		return -EFBIG;
	}
	text[n] = 0;
	if (strlen(text) != n) {
		/* embedded NUL: treat the rest as garbage but still report it */
		conf_diag_add(diags, true, path, 0, "file contains NUL bytes");
		free(text);
		return -EINVAL;
	}
	int rc = conf_load_string(path, text, out, diags);
	free(text);
	return rc;
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

/* ---- validation ----------------------------------------------------------------------- */

int conf_validate(const struct conf *c, struct conf_diags *d)
{
	struct conf_diags local = {0};
	if (d == NULL)
		d = &local;
	size_t before = d->n_errors;
	const char *f = c->path;
	const struct conf_settings *s = &c->settings;
	if (c->n_replicas == 0)
		conf_diag_add(d, true, f, 0, "no replicas (a -- Replicas -- section with hosts)");
	else if (c->n_replicas % 2 == 0)
		conf_diag_add(d, true, f, 0,
			      "%zu replicas: the CURP protocols need an odd number (3, 5, ...)",
			      c->n_replicas);
	if (c->n_replicas > CONF_MAX_REPLICAS)
		conf_diag_add(d, true, f, 0, "%zu replicas: at most %d are supported", c->n_replicas,
			      CONF_MAX_REPLICAS);
	for (size_t i = 0; i < c->n_replicas; i++) {
		for (size_t j = i + 1; j < c->n_replicas; j++) {
			const struct conf_host *a = &c->replicas[i], *b = &c->replicas[j];
			if (a->id == b->id)
				conf_diag_add(d, true, f, b->line,
					      "replica '%s' has id %d, like '%s' on line %d", b->alias,
					      b->id, a->alias, a->line);
			else if (a->port == b->port && !strcasecmp(a->addr, b->addr))
				conf_diag_add(d, true, f, b->line,
					      "replica '%s' uses %s:%u, like '%s' on line %d",
					      b->alias, b->addr, b->port, a->alias, a->line);
		}
	}
	/* ids must be 0..n-1 so that quorums and the leader index work */
	for (size_t i = 0; i < c->n_replicas; i++)
		if ((size_t)c->replicas[i].id >= c->n_replicas)
			conf_diag_add(d, true, f, c->replicas[i].line,
				      "replica '%s' has id %d; with %zu replicas ids must be 0..%zu",
				      c->replicas[i].alias, c->replicas[i].id, c->n_replicas,
				      c->n_replicas - 1);
	for (size_t i = 0; i < c->n_clients; i++)
		for (size_t j = i + 1; j < c->n_clients; j++)
			if (!strcmp(c->clients[i].alias, c->clients[j].alias))
				conf_diag_add(d, true, f, c->clients[j].line,
					      "client alias '%s' already used on line %d",
					      c->clients[j].alias, c->clients[i].line);
	for (size_t i = 0; i < c->n_replicas; i++)
		for (size_t j = 0; j < c->n_clients; j++)
			if (!strcmp(c->replicas[i].alias, c->clients[j].alias))
				conf_diag_add(d, false, f, c->clients[j].line,
					      "client alias '%s' is also a replica alias",
					      c->clients[j].alias);
	if (!c->has_master)
		conf_diag_add(d, true, f, 0, "no master (a -- Master -- section with one host)");
	if (s->pendings > 100000)
		conf_diag_add(d, true, f, 0, "pendings %u is above the limit 100000", s->pendings);
	if (s->command_size > s->max_value_bytes)
		conf_diag_add(d, true, f, 0, "commandSize %u exceeds maxValueBytes %u",
			      s->command_size, s->max_value_bytes);
	if (s->max_key_bytes < 8)
		conf_diag_add(d, true, f, 0, "maxKeyBytes %u: at least 8 (the load generator's keys)",
			      s->max_key_bytes);
	if ((uint64_t)s->max_frame_bytes < (uint64_t)s->max_value_bytes + s->max_key_bytes + 1024)
		conf_diag_add(d, true, f, 0,
			      "maxFrameBytes %u cannot carry maxValueBytes + maxKeyBytes + 1024",
			      s->max_frame_bytes);
	if (s->reqs == 0 && s->run_time_ms == 0)
		conf_diag_add(d, true, f, 0, "reqs is 0 and no runTime: clients would do nothing");
	if (s->protocol == CONF_PROTO_CURP && s->weak_ratio > 0)
		conf_diag_add(d, false, f, 0,
			      "weakRatio %u with protocol curp: forced to 0 (curp has no weak "
			      "operations)",
			      s->weak_ratio);
	if (s->leader_timeout_ms <= s->heartbeat_ms)
		conf_diag_add(d, true, f, 0, "leaderTimeoutMs %u must exceed heartbeatMs %u",
			      s->leader_timeout_ms, s->heartbeat_ms);
	int rc = d->n_errors > before ? -EINVAL : 0;
	conf_diags_free(&local);
	return rc;
}

int conf_settings_for(const struct conf *c, const char *alias, struct conf_settings *out,
		      struct conf_diags *diags)
{
	*out = c->settings;
	int rc = 0;
	for (size_t i = 0; alias && i < c->n_overrides; i++) {
		const struct conf_override *o = &c->overrides[i];
		if (strcasecmp(o->alias, alias))
			continue;
		const struct conf_key *k = conf_key_find(o->key);
		if (k == NULL || conf_key_apply(k, o->value, out, diags, c->path, o->line) != 0)
			rc = -EINVAL;
	}
	if (out->protocol == CONF_PROTO_CURP)
		out->weak_ratio = 0;
	return rc;
}

/* ---- lookups -------------------------------------------------------------------------- */

const struct conf_host *conf_find_replica(const struct conf *c, const char *alias)
{
	for (size_t i = 0; i < c->n_replicas; i++)
		if (!strcasecmp(c->replicas[i].alias, alias))
			return &c->replicas[i];
	return NULL;
}

const struct conf_host *conf_find_client(const struct conf *c, const char *alias)
{
	for (size_t i = 0; i < c->n_clients; i++)
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

/* ---- printing ------------------------------------------------------------------------- */

void conf_print(const struct conf *c, const struct conf_settings *s, FILE *out)
{
	fprintf(out, "conf: %s\n", c->path);
	fprintf(out, "protocol: %s\n", conf_protocol_name(s->protocol));
	fprintf(out, "replicas: %zu (f=%zu)\n", c->n_replicas,
		c->n_replicas ? (c->n_replicas - 1) / 2 : 0);
	for (size_t i = 0; i < c->n_replicas; i++)
		fprintf(out, "  %s %s:%u (id %d)\n", c->replicas[i].alias, c->replicas[i].addr,
			c->replicas[i].port, c->replicas[i].id);
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
	if (c->has_master)
		fprintf(out, "master: %s %s:%u\n", c->master.alias, c->master.addr, c->master.port);
	else
		fprintf(out, "master: (none)\n");
	fprintf(out, "settings:\n");
	conf_keys_print(s, out);
}
