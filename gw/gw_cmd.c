/* gw: the command table and each command's mapping onto curpkv's operations
 * (docs/gateway.md lists every command's semantics and what is refused and why). */
#include "gw/gw_int.h"

#include <ctype.h>
#include <stdarg.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "auth/auth.h"
#include "common/clock.h"

static bool arg_is(const struct resp_arg *a, const char *s)
{
	size_t n = strlen(s);
	return a->len == n && strncasecmp((const char *)a->p, s, n) == 0;
}

/* A strict decimal (the arguments are NUL-terminated copies). */
static bool arg_ll(const struct resp_arg *a, long long *v)
{
	char *end;
	if (a->len == 0 || a->len > 20 || isspace(a->p[0]))
		return false;
	errno = 0;
	*v = strtoll((const char *)a->p, &end, 10);
	return errno == 0 && *end == 0;
}

static struct conf_settings *settings(struct gw_job *j)
{
	return &j->c->g->s;
}

/* Reads are weak on a READONLY connection of curpho/curpht. */
static bool weak_reads(struct gw_job *j)
{
	return j->c->readonly && settings(j)->protocol != CONF_PROTO_CURP;
}

/* -ERR for a key beyond maxKeyBytes; 1 if so (the reply is written), 0 if fine, -ENOMEM. */
static int key_too_long(struct gw_job *j, const struct resp_arg *k)
{
	if (k->len <= settings(j)->max_key_bytes)
		return 0;
	int rc = resp_add_error(&j->reply, "ERR key longer than maxKeyBytes (%u bytes)",
				settings(j)->max_key_bytes);
	return rc ? rc : 1;
}

/* Adds a GET of each of keys argv[from..argc) (weak on a READONLY connection). */
static int add_gets(struct gw_job *j, uint32_t from)
{
	for (uint32_t i = from; i < j->argc; i++) {
		int rc = key_too_long(j, &j->argv[i]);
		if (rc == 0)
			rc = gw_job_add_op(j, PROTO_OP_GET, &j->argv[i], NULL, 0, weak_reads(j));
		if (rc != 0) {
			j->nops = 0; /* nothing submitted yet: the error alone answers */
			return rc < 0 ? rc : 0;
		}
	}
	return 0;
}

int gw_reply_op_error(struct gw_job *j, const struct gw_op *op)
{
	switch (op->res) {
	case SESSION_TIMEOUT:
		return resp_add_error(&j->reply,
				      "TRYAGAIN no answer from the cluster within replyTimeout (%u "
				      "s): a write may or may not have been applied",
				      settings(j)->reply_timeout_s);
	case SESSION_CID_REUSED:
	case SESSION_EXPIRED:
		return resp_add_error(&j->reply,
				      "TRYAGAIN the cluster refused the command under this "
				      "connection's client id; it was not applied, retry");
	case SESSION_FAILED:
		if (op->cmd.op == PROTO_OP_INCR && op->val) {
			/* refused at its execution, nothing changed (PROTO_INCR_*) */
			bool over = op->vlen == strlen(PROTO_INCR_OVERFLOW) &&
				    memcmp(op->val, PROTO_INCR_OVERFLOW, op->vlen) == 0;
			return resp_add_error(&j->reply,
					      over ? "ERR increment or decrement would overflow"
						   : "ERR value is not an integer or out of range");
		}
		/* fall through */
	default:
		return resp_add_error(&j->reply,
				      "ERR the cluster refused the %s (invalid for it: an "
				      "operation protocol %s lacks, or a limit)",
				      proto_op_name(op->cmd.op),
				      conf_protocol_name(settings(j)->protocol));
	}
}

/* ---- connection commands ------------------------------------------------------------------ */

static int cmd_ping(struct gw_job *j)
{
	if (j->argc > 2)
		return resp_add_error(&j->reply,
				      "ERR wrong number of arguments for 'ping' command");
	if (j->argc == 2)
		return resp_add_bulk(&j->reply, j->argv[1].p, j->argv[1].len);
	return resp_add_simple(&j->reply, "PONG");
}

static int cmd_echo(struct gw_job *j)
{
	return resp_add_bulk(&j->reply, j->argv[1].p, j->argv[1].len);
}

static int cmd_quit(struct gw_job *j)
{
	j->close_after = true;
	return resp_add_simple(&j->reply, "OK");
}

/* AUTH's check (and HELLO's AUTH option): the conf's secret, user "default" or none (Redis's
 * words). Adds an error reply, or marks the connection authenticated and adds nothing. */
static int check_password(struct gw_job *j, const struct resp_arg *user,
			  const struct resp_arg *pass)
{
	struct gw *g = j->c->g;
	size_t slen = strlen(g->s.secret);
	if (slen == 0)
		return resp_add_error(&j->reply,
				      "ERR AUTH <password> called without any password configured "
				      "for the default user. Are you sure your configuration is "
				      "correct?");
	if ((user != NULL && !(user->len == 7 && memcmp(user->p, "default", 7) == 0)) ||
	    !auth_password_ok(g->s.secret, slen, pass->p, pass->len)) {
		g->st.auth_failures++;
		LOG_INFO(g->lg, "client %llu (%s): AUTH failed", (unsigned long long)j->c->id,
			 j->c->peer);
		return resp_add_error(
		    &j->reply, "WRONGPASS invalid username-password pair or user is disabled.");
	}
	j->c->authed = true;
	return 0;
}

/* AUTH [username] password */
static int cmd_auth(struct gw_job *j)
{
	if (j->argc > 3)
		return resp_add_error(&j->reply, "ERR syntax error");
	size_t before = resp_buf_live(&j->reply);
	int rc = check_password(j, j->argc == 3 ? &j->argv[1] : NULL, &j->argv[j->argc - 1]);
	if (rc != 0 || resp_buf_live(&j->reply) != before)
		return rc;
	return resp_add_simple(&j->reply, "OK");
}

static int cmd_select(struct gw_job *j)
{
	long long db;
	if (!arg_ll(&j->argv[1], &db))
		return resp_add_error(&j->reply, "ERR value is not an integer or out of range");
	if (db != 0)
		return resp_add_error(&j->reply, "ERR DB index is out of range");
	return resp_add_simple(&j->reply, "OK");
}

static int cmd_readonly(struct gw_job *j)
{
	j->c->readonly = arg_is(&j->argv[0], "readonly");
	return resp_add_simple(&j->reply, "OK");
}

static bool valid_name(const struct resp_arg *a)
{
	for (uint32_t i = 0; i < a->len; i++)
		if (a->p[i] < '!' || a->p[i] > '~')
			return false;
	return true;
}

static int set_name(struct gw_job *j, const struct resp_arg *a)
{
	if (!valid_name(a) || a->len >= sizeof j->c->name)
		return resp_add_error(&j->reply, "ERR Client names cannot contain spaces, newlines "
						 "or special characters.");
	memcpy(j->c->name, a->p, a->len);
	j->c->name[a->len] = 0;
	return 0;
}

static int cmd_client(struct gw_job *j)
{
	const struct resp_arg *sub = &j->argv[1];
	int rc;
	if (arg_is(sub, "setname") && j->argc == 3) {
		size_t before = resp_buf_live(&j->reply);
		rc = set_name(j, &j->argv[2]);
		if (rc == 0 && resp_buf_live(&j->reply) == before)
			rc = resp_add_simple(&j->reply, "OK");
		return rc;
	}
	if (arg_is(sub, "getname") && j->argc == 2)
		return j->c->name[0] ? resp_add_cstr(&j->reply, j->c->name)
				     : resp_add_nil(&j->reply);
	if (arg_is(sub, "id") && j->argc == 2)
		return resp_add_int(&j->reply, (long long)j->c->id);
	if (arg_is(sub, "setname") || arg_is(sub, "getname") || arg_is(sub, "id"))
		return resp_add_error(&j->reply,
				      "ERR wrong number of arguments for 'client|%s' "
				      "command",
				      (const char *)sub->p);
	return resp_add_error(&j->reply, "ERR unknown subcommand '%s'. Try CLIENT HELP.",
			      (const char *)sub->p);
}

/* HELLO [protover [AUTH user pass] [SETNAME name]]: RESP2 only. */
static int cmd_hello(struct gw_job *j)
{
	if (j->argc >= 2) {
		long long v;
		if (!arg_ll(&j->argv[1], &v))
			return resp_add_error(
			    &j->reply, "ERR Protocol version is not an integer or out of range");
		if (v != 2)
			return resp_add_error(
			    &j->reply, "NOPROTO sorry, this protocol version is not supported");
	}
	for (uint32_t i = 2; i < j->argc; i++) {
		if (arg_is(&j->argv[i], "setname") && i + 1 < j->argc) {
			size_t before = resp_buf_live(&j->reply);
			int rc = set_name(j, &j->argv[++i]);
			if (rc != 0 || resp_buf_live(&j->reply) != before)
				return rc;
		} else if (arg_is(&j->argv[i], "auth") && i + 2 < j->argc) {
			size_t before = resp_buf_live(&j->reply);
			int rc = check_password(j, &j->argv[i + 1], &j->argv[i + 2]);
			if (rc != 0 || resp_buf_live(&j->reply) != before)
				return rc;
			i += 2;
		} else {
			return resp_add_error(&j->reply, "ERR Syntax error in HELLO option '%s'",
					      (const char *)j->argv[i].p);
		}
	}
	struct resp_buf *b = &j->reply;
	int rc = resp_add_array(b, 14);
	/* version: the Redis whose commands and replies the gateway follows */
	rc = rc ?: resp_add_cstr(b, "server");
	rc = rc ?: resp_add_cstr(b, "redis");
	rc = rc ?: resp_add_cstr(b, "version");
	rc = rc ?: resp_add_cstr(b, "7.0.0");
	rc = rc ?: resp_add_cstr(b, "proto");
	rc = rc ?: resp_add_int(b, 2);
	rc = rc ?: resp_add_cstr(b, "id");
	rc = rc ?: resp_add_int(b, (long long)j->c->id);
	rc = rc ?: resp_add_cstr(b, "mode");
	rc = rc ?: resp_add_cstr(b, "standalone");
	rc = rc ?: resp_add_cstr(b, "role");
	rc = rc ?: resp_add_cstr(b, "master");
	rc = rc ?: resp_add_cstr(b, "modules");
	rc = rc ?: resp_add_array(b, 0);
	return rc;
}

/* Redis's glob (stringmatchlen): *, ?, [set] with ranges and ^, \ escapes. */
static bool glob_match(const uint8_t *p, size_t pn, const uint8_t *s, size_t sn, int depth)
{
	if (depth > 64)
		return false; /* a pathological pattern: no match rather than deep recursion */
	while (pn > 0) {
		switch (p[0]) {
		case '*':
			while (pn > 1 && p[1] == '*') {
				p++;
				pn--;
			}
			if (pn == 1)
				return true;
			for (size_t k = 0; k <= sn; k++)
				if (glob_match(p + 1, pn - 1, s + k, sn - k, depth + 1))
					return true;
			return false;
		case '?':
			if (sn == 0)
				return false;
			s++;
			sn--;
			break;
		case '[': {
			if (sn == 0)
				return false;
			p++;
			pn--;
			bool neg = pn > 0 && p[0] == '^', hit = false;
			if (neg) {
				p++;
				pn--;
			}
			while (pn > 0 && p[0] != ']') {
				if (p[0] == '\\' && pn >= 2) {
					hit |= p[1] == s[0];
					p += 2;
					pn -= 2;
				} else if (pn >= 3 && p[1] == '-') {
					uint8_t lo = p[0] < p[2] ? p[0] : p[2];
					uint8_t hi = p[0] < p[2] ? p[2] : p[0];
					hit |= s[0] >= lo && s[0] <= hi;
					p += 3;
					pn -= 3;
				} else {
					hit |= p[0] == s[0];
					p++;
					pn--;
				}
			}
			if (pn > 0)
				pn--, p++; /* the ']' */
			if (hit == neg)
				return false;
			s++;
			sn--;
			continue;
		}
		case '\\':
			if (pn >= 2) {
				p++;
				pn--;
			}
			/* fall through */
		default:
			if (sn == 0 || p[0] != s[0])
				return false;
			s++;
			sn--;
			break;
		}
		p++;
		pn--;
	}
	return sn == 0;
}

/* CONFIG GET's parameters: what clients ask for (redis-benchmark: save, appendonly). */
static int config_get(struct gw_job *j)
{
	const struct gw *g = j->c->g;
	char maxclients[16], bulk[16], port[8] = "6380";
	snprintf(maxclients, sizeof maxclients, "%u", g->s.max_clients);
	snprintf(bulk, sizeof bulk, "%u", g->s.max_value_bytes);
	const char *colon = strrchr(g->listen, ':');
	if (colon)
		snprintf(port, sizeof port, "%s", colon + 1);
	const char *params[][2] = {
	    {"save", ""},		  /* no RDB snapshots: the replicas' own log decides */
	    {"appendonly", "no"},	  /* no Redis AOF */
	    {"databases", "1"},		  /* SELECT 0 only */
	    {"maxclients", maxclients},	  /* the conf's maxClients */
	    {"proto-max-bulk-len", bulk}, /* the conf's maxValueBytes */
	    {"port", port},
	    {"timeout", "0"},
	};
	size_t n = sizeof params / sizeof params[0];
	bool want[sizeof params / sizeof params[0]] = {0};
	long long hits = 0;
	for (uint32_t a = 2; a < j->argc; a++)
		for (size_t i = 0; i < n; i++)
			if (!want[i] &&
			    glob_match(j->argv[a].p, j->argv[a].len, (const uint8_t *)params[i][0],
				       strlen(params[i][0]), 0)) {
				want[i] = true;
				hits++;
			}
	int rc = resp_add_array(&j->reply, 2 * hits);
	for (size_t i = 0; i < n && rc == 0; i++)
		if (want[i]) {
			rc = resp_add_cstr(&j->reply, params[i][0]);
			rc = rc ?: resp_add_cstr(&j->reply, params[i][1]);
		}
	return rc;
}

static int cmd_config(struct gw_job *j)
{
	if (arg_is(&j->argv[1], "get")) {
		if (j->argc < 3)
			return resp_add_error(&j->reply, "ERR wrong number of arguments for "
							 "'config|get' command");
		return config_get(j);
	}
	if (arg_is(&j->argv[1], "set") || arg_is(&j->argv[1], "rewrite") ||
	    arg_is(&j->argv[1], "resetstat"))
		return resp_add_error(&j->reply,
				      "ERR CONFIG %s is not supported by the curpkv "
				      "gateway: its settings are the conf file's",
				      (const char *)j->argv[1].p);
	return resp_add_error(&j->reply, "ERR unknown subcommand '%s'. Try CONFIG HELP.",
			      (const char *)j->argv[1].p);
}

/* ---- COMMAND ----------------------------------------------------------------------------------
 */

static int command_entry(struct resp_buf *b, const struct gw_cmd *c)
{
	int rc = resp_add_array(b, 10);
	rc = rc ?: resp_add_cstr(b, c->name);
	rc = rc ?: resp_add_int(b, c->arity);
	long long nflags = 0;
	for (const char *f = c->flags; *f; f++)
		nflags += (f == c->flags || f[-1] == ' ') && *f != ' ';
	rc = rc ?: resp_add_array(b, nflags);
	for (const char *f = c->flags; *f && rc == 0;) {
		size_t len = strcspn(f, " ");
		if (len)
			rc = resp_buf_add(b, "+", 1) ?: resp_buf_add(b, f, len)
						    ?: resp_buf_add(b, "\r\n", 2);
		f += len;
		f += *f == ' ';
	}
	rc = rc ?: resp_add_int(b, c->first_key);
	rc = rc ?: resp_add_int(b, c->last_key);
	rc = rc ?: resp_add_int(b, c->step);
	for (int k = 0; k < 4; k++) /* ACL categories, tips, key specs, subcommands */
		rc = rc ?: resp_add_array(b, 0);
	return rc;
}

static int command_docs(struct resp_buf *b, const struct gw_cmd *c)
{
	int rc = resp_add_cstr(b, c->name);
	rc = rc ?: resp_add_array(b, 8);
	rc = rc ?: resp_add_cstr(b, "summary");
	rc = rc ?: resp_add_cstr(b, c->summary);
	rc = rc ?: resp_add_cstr(b, "since");
	rc = rc ?: resp_add_cstr(b, "1.0.0");
	rc = rc ?: resp_add_cstr(b, "group");
	rc = rc
		 ?: resp_add_cstr(b, strstr(c->flags, "fast") && c->first_key ? "string"
									      : "connection");
	rc = rc ?: resp_add_cstr(b, "arguments");
	rc = rc ?: resp_add_array(b, 0);
	return rc;
}

static int cmd_command(struct gw_job *j)
{
	size_t n;
	const struct gw_cmd *t = gw_cmd_table(&n);
	struct resp_buf *b = &j->reply;
	if (j->argc == 1) {
		int rc = resp_add_array(b, (long long)n);
		for (size_t i = 0; i < n && rc == 0; i++)
			rc = command_entry(b, &t[i]);
		return rc;
	}
	const struct resp_arg *sub = &j->argv[1];
	if (arg_is(sub, "count") && j->argc == 2)
		return resp_add_int(b, (long long)n);
	if (arg_is(sub, "docs")) {
		/* all, or the named ones that exist (a map as a flat array in RESP2) */
		long long m = 0;
		for (size_t i = 0; i < n; i++)
			for (uint32_t a = 2; a < j->argc || (j->argc == 2 && a == 2); a++)
				if (j->argc == 2 || arg_is(&j->argv[a], t[i].name)) {
					m++;
					break;
				}
		int rc = resp_add_array(b, 2 * m);
		for (size_t i = 0; i < n && rc == 0; i++)
			for (uint32_t a = 2; a < j->argc || (j->argc == 2 && a == 2); a++)
				if (j->argc == 2 || arg_is(&j->argv[a], t[i].name)) {
					rc = command_docs(b, &t[i]);
					break;
				}
		return rc;
	}
	if (arg_is(sub, "info")) {
		int rc = resp_add_array(b, (long long)j->argc - 2);
		for (uint32_t a = 2; a < j->argc && rc == 0; a++) {
			const struct gw_cmd *c = gw_cmd_find(j->argv[a].p, j->argv[a].len);
			rc = c ? command_entry(b, c) : resp_add_array(b, -1);
		}
		return rc;
	}
	return resp_add_error(b,
			      "ERR unknown subcommand or wrong number of arguments for '%s'. "
			      "Try COMMAND HELP.",
			      (const char *)sub->p);
}

static int cmd_info(struct gw_job *j)
{
	struct resp_buf text = {0};
	int rc = gw_info(j->c, j->argc > 1 ? j->argv[1].p : NULL, j->argc > 1 ? j->argv[1].len : 0,
			 &text);
	if (rc == 0)
		rc = resp_add_bulk(&j->reply, resp_buf_data(&text), resp_buf_live(&text));
	resp_buf_free(&text);
	return rc;
}

/* ---- keys ------------------------------------------------------------------------------------ */

static int cmd_get(struct gw_job *j)
{
	return add_gets(j, 1);
}

static int fin_get(struct gw_job *j)
{
	const struct gw_op *o = &j->ops[0];
	if (o->res == SESSION_NOT_FOUND)
		return resp_add_nil(&j->reply);
	return resp_add_bulk(&j->reply, o->val, o->vlen);
}

/* -ERR for an operation of protocol curp only (docs/protocols.md) under another protocol; 1 if
 * so (the reply is written), 0 if the protocol is curp, -ENOMEM. */
static int curp_only(struct gw_job *j, const char *what)
{
	if (settings(j)->protocol == CONF_PROTO_CURP)
		return 0;
	int rc = resp_add_error(
	    &j->reply, "ERR %s is an operation of protocol curp only (docs/protocols.md)", what);
	return rc ? rc : 1;
}

/* Adds one strong SETX of key argv[1] to argv[2] with the flags (PROTO_SETX_*): its value is
 * the flags byte and the new value, in the job's own buffer. */
static int add_setx(struct gw_job *j, unsigned flags)
{
	const struct resp_arg *v = &j->argv[2];
	j->own = malloc(PROTO_SETX_HDR + (size_t)v->len);
	if (j->own == NULL)
		return -ENOMEM;
	j->own[0] = (uint8_t)flags;
	if (v->len > 0)
		memcpy(j->own + PROTO_SETX_HDR, v->p, v->len);
	struct resp_arg val = {.p = j->own, .len = PROTO_SETX_HDR + v->len};
	return gw_job_add_op(j, PROTO_OP_SETX, &j->argv[1], &val, 0, false);
}

/* SET key value [NX | XX] [GET]: without options a strong PUT; with them one SETX, the
 * condition checked and the old value read where the write executes (docs/protocols.md
 * "GETDEL and SETX"; curp only). Redis 7's parse: NX and XX exclude each other, either may
 * repeat, GET goes with either. */
static int cmd_set(struct gw_job *j)
{
	unsigned flags = 0;
	const char *first = NULL; /* the first option, for the refusal under curpho/curpht */
	for (uint32_t i = 3; i < j->argc; i++) {
		static const char *const ttl[] = {"ex", "px", "exat", "pxat", "keepttl"};
		const struct resp_arg *a = &j->argv[i];
		unsigned f = arg_is(a, "nx") && !(flags & PROTO_SETX_XX)   ? PROTO_SETX_NX
			     : arg_is(a, "xx") && !(flags & PROTO_SETX_NX) ? PROTO_SETX_XX
			     : arg_is(a, "get")				   ? PROTO_SETX_GET
									   : 0;
		if (f) {
			if (first == NULL)
				first = f == PROTO_SETX_NX   ? "SET NX"
					: f == PROTO_SETX_XX ? "SET XX"
							     : "SET GET";
			flags |= f;
			continue;
		}
		for (size_t k = 0; k < 5; k++)
			if (arg_is(a, ttl[k]))
				return resp_add_error(
				    &j->reply,
				    "ERR SET %s is not supported: curpkv keeps no "
				    "TTLs (docs/gateway.md)",
				    (const char *)a->p);
		return resp_add_error(&j->reply, "ERR syntax error");
	}
	int rc = flags ? curp_only(j, first) : 0;
	if (rc == 0)
		rc = key_too_long(j, &j->argv[1]);
	if (rc != 0)
		return rc < 0 ? rc : 0;
	if (flags)
		return add_setx(j, flags);
	return gw_job_add_op(j, PROTO_OP_PUT, &j->argv[1], &j->argv[2], 0, false);
}

/* SET's reply: OK for a PUT; a SETX's from the key's old state: with GET the old value (nil if
 * the key did not exist), else OK if it set the key, nil if its condition failed. */
static int fin_set(struct gw_job *j)
{
	const struct gw_op *o = &j->ops[0];
	if (o->cmd.op != PROTO_OP_SETX)
		return resp_add_simple(&j->reply, "OK");
	unsigned flags = o->cmd.val[0];
	bool existed = o->res == SESSION_OK;
	if (flags & PROTO_SETX_GET)
		return existed ? resp_add_bulk(&j->reply, o->val, o->vlen)
			       : resp_add_nil(&j->reply);
	return proto_setx_applies(flags, existed) ? resp_add_simple(&j->reply, "OK")
						  : resp_add_nil(&j->reply);
}

/* SETNX key value (SET NX's reply as an integer) and GETSET key value (SET GET): one SETX. */
static int cmd_setnx_getset(struct gw_job *j)
{
	bool nx = arg_is(&j->argv[0], "setnx");
	int rc = curp_only(j, nx ? "SETNX" : "GETSET");
	if (rc == 0)
		rc = key_too_long(j, &j->argv[1]);
	if (rc != 0)
		return rc < 0 ? rc : 0;
	return add_setx(j, nx ? PROTO_SETX_NX : PROTO_SETX_GET);
}

static int fin_setnx(struct gw_job *j)
{
	return resp_add_int(&j->reply, j->ops[0].res == SESSION_NOT_FOUND);
}

/* GETDEL key: one strong GETDEL (curp only); the old value, or nil. */
static int cmd_getdel(struct gw_job *j)
{
	int rc = curp_only(j, "GETDEL");
	if (rc == 0)
		rc = key_too_long(j, &j->argv[1]);
	if (rc != 0)
		return rc < 0 ? rc : 0;
	return gw_job_add_op(j, PROTO_OP_GETDEL, &j->argv[1], NULL, 0, false);
}

/* DEL: under curp one strong GETDEL per key, which answers whether the key existed: the count
 * is exact. curpho and curpht have no GETDEL: per key a strong GET then a strong DEL, in order
 * (a DEL's answer does not say whether the key existed), counting the keys the GETs found
 * (docs/gateway.md "DEL"). */
static int cmd_del(struct gw_job *j)
{
	bool curp = settings(j)->protocol == CONF_PROTO_CURP;
	for (uint32_t i = 1; i < j->argc; i++) {
		int rc = key_too_long(j, &j->argv[i]);
		if (rc == 0)
			rc = gw_job_add_op(j, curp ? PROTO_OP_GETDEL : PROTO_OP_GET, &j->argv[i],
					   NULL, 0, false);
		if (rc == 0 && !curp)
			rc = gw_job_add_op(j, PROTO_OP_DEL, &j->argv[i], NULL, 0, false);
		if (rc != 0) {
			j->nops = 0;
			return rc < 0 ? rc : 0;
		}
	}
	return 0;
}

/* The number of ops that found their key (EXISTS's GETs; DEL's GETDELs, or GETs). */
static int fin_count_found(struct gw_job *j)
{
	long long n = 0;
	for (uint32_t i = 0; i < j->nops; i++)
		n += (j->ops[i].cmd.op == PROTO_OP_GET || j->ops[i].cmd.op == PROTO_OP_GETDEL) &&
		     j->ops[i].res == SESSION_OK;
	return resp_add_int(&j->reply, n);
}

static int fin_strlen(struct gw_job *j)
{
	return resp_add_int(&j->reply, j->ops[0].res == SESSION_OK ? j->ops[0].vlen : 0);
}

static int fin_mget(struct gw_job *j)
{
	int rc = resp_add_array(&j->reply, j->nops);
	for (uint32_t i = 0; i < j->nops && rc == 0; i++)
		rc = j->ops[i].res == SESSION_OK
			 ? resp_add_bulk(&j->reply, j->ops[i].val, j->ops[i].vlen)
			 : resp_add_nil(&j->reply);
	return rc;
}

/* APPEND: one strong APPEND, whose result is Redis's reply, the length after it (curp only:
 * docs/protocols.md "APPEND"). */
static int cmd_append(struct gw_job *j)
{
	int rc = curp_only(j, "APPEND");
	if (rc == 0)
		rc = key_too_long(j, &j->argv[1]);
	if (rc != 0)
		return rc < 0 ? rc : 0;
	return gw_job_add_op(j, PROTO_OP_APPEND, &j->argv[1], &j->argv[2], 0, false);
}

/* The reply of a job whose one operation's result is an integer in decimal (APPEND: the length
 * after it; INCR: the new value). */
static int fin_int_result(struct gw_job *j, const char *op)
{
	int64_t v;
	const struct gw_op *o = &j->ops[0];
	if (proto_int_parse(o->val, o->vlen, &v) != 0)
		return resp_add_error(&j->reply, "ERR the cluster's %s result is malformed", op);
	return resp_add_int(&j->reply, (long long)v);
}

static int fin_append(struct gw_job *j)
{
	return fin_int_result(j, "APPEND");
}

/* INCR, DECR, INCRBY, DECRBY: one strong INCR, executed once in the replicated state machine
 * (docs/protocols.md "INCR"; curp only); the reply is the new value. */
static int cmd_incr(struct gw_job *j)
{
	int rc = curp_only(j, arg_is(&j->argv[0], "incr")     ? "INCR"
			      : arg_is(&j->argv[0], "decr")   ? "DECR"
			      : arg_is(&j->argv[0], "incrby") ? "INCRBY"
							      : "DECRBY");
	if (rc == 0)
		rc = key_too_long(j, &j->argv[1]);
	if (rc != 0)
		return rc < 0 ? rc : 0;
	struct resp_arg by = {.p = (const uint8_t *)"1", .len = 1};
	if (arg_is(&j->argv[0], "decr")) {
		by = (struct resp_arg){.p = (const uint8_t *)"-1", .len = 2};
	} else if (j->argc == 3) {
		int64_t n;
		if (proto_int_parse(j->argv[2].p, j->argv[2].len, &n) != 0)
			return resp_add_error(&j->reply,
					      "ERR value is not an integer or out of range");
		if (arg_is(&j->argv[0], "decrby")) {
			if (n == INT64_MIN)
				return resp_add_error(&j->reply, "ERR decrement would overflow");
			by = (struct resp_arg){.p = j->num, .len = proto_int_format(-n, j->num)};
		} else {
			by = j->argv[2];
		}
	}
	return gw_job_add_op(j, PROTO_OP_INCR, &j->argv[1], &by, 0, false);
}

static int fin_incr(struct gw_job *j)
{
	return fin_int_result(j, "INCR");
}

static int cmd_refused(struct gw_job *j)
{
	const char *why = "";
	if (arg_is(&j->argv[0], "mset") || arg_is(&j->argv[0], "msetnx"))
		why = "writes of several keys cannot be atomic in curpkv";
	else if (arg_is(&j->argv[0], "dbsize"))
		why = "the gateway keeps no exact key count";
	else
		why = "not built";
	char name[32];
	snprintf(name, sizeof name, "%s", j->cmd->name);
	for (char *p = name; *p; p++)
		*p = (char)toupper((unsigned char)*p);
	return resp_add_error(&j->reply,
			      "ERR %s is not supported by the curpkv gateway: %s "
			      "(docs/gateway.md)",
			      name, why);
}

/* ---- SCAN ------------------------------------------------------------------------------------ */

/* A cursor is the next key to scan from, as the decimal digits of the big-endian number
 * 0x01 || key (so clients that parse cursors as integers, of any size, keep it; "0" is the
 * start and the end). */
static int cursor_encode(const uint8_t *key, uint32_t klen, struct resp_buf *b)
{
	size_t n = (size_t)klen + 1;
	uint8_t *num = malloc(n);
	char *dig = malloc(n * 3 + 2);
	int rc = -ENOMEM;
	if (num == NULL || dig == NULL)
		goto out;
	num[0] = 1;
	if (klen > 0)
		memcpy(num + 1, key, klen);
	size_t nd = 0, start = 0;
	while (start < n) {
		unsigned rem = 0;
		for (size_t i = start; i < n; i++) {
			unsigned cur = rem * 256 + num[i];
			num[i] = (uint8_t)(cur / 10);
			rem = cur % 10;
		}
		dig[nd++] = (char)('0' + rem);
		while (start < n && num[start] == 0)
			start++;
	}
	for (size_t i = 0; i < nd / 2; i++) {
		char t = dig[i];
		dig[i] = dig[nd - 1 - i];
		dig[nd - 1 - i] = t;
	}
	rc = resp_add_bulk(b, dig, nd);
out:
	free(num);
	free(dig);
	return rc;
}

/* Decodes a cursor into *key (malloc'd, *klen bytes; NULL/0 for "0"). Returns 0, -EINVAL (not a
 * cursor of ours) or -ENOMEM. */
static int cursor_decode(const struct resp_arg *a, uint32_t max_key, uint8_t **key, uint32_t *klen)
{
	*key = NULL;
	*klen = 0;
	if (a->len == 1 && a->p[0] == '0')
		return 0;
	size_t cap = (size_t)max_key + 2;
	if (a->len == 0 || a->len > cap * 3)
		return -EINVAL;
	uint8_t *num = calloc(cap, 1); /* big-endian, right-aligned */
	if (num == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < a->len; i++) {
		if (a->p[i] < '0' || a->p[i] > '9') {
			free(num);
			return -EINVAL;
		}
		unsigned carry = a->p[i] - '0';
		for (size_t k = cap; k-- > 0;) {
			unsigned cur = num[k] * 10u + carry;
			num[k] = (uint8_t)cur;
			carry = cur >> 8;
		}
		if (carry) {
			free(num);
			return -EINVAL;
		}
	}
	size_t s = 0;
	while (s < cap && num[s] == 0)
		s++;
	if (s == cap || num[s] != 1 || cap - s - 1 > max_key) {
		free(num);
		return -EINVAL;
	}
	*klen = (uint32_t)(cap - s - 1);
	memmove(num, num + s + 1, *klen);
	*key = num;
	return 0;
}

static int cmd_scan(struct gw_job *j)
{
	long long count = GW_SCAN_DEFAULT;
	for (uint32_t i = 2; i < j->argc; i += 2) {
		if (i + 1 >= j->argc)
			return resp_add_error(&j->reply, "ERR syntax error");
		if (arg_is(&j->argv[i], "match")) {
			j->pat = j->argv[i + 1].p;
			j->patlen = j->argv[i + 1].len;
		} else if (arg_is(&j->argv[i], "count")) {
			if (!arg_ll(&j->argv[i + 1], &count))
				return resp_add_error(
				    &j->reply, "ERR value is not an integer or out of range");
			if (count < 1)
				return resp_add_error(&j->reply, "ERR syntax error");
			if (count > GW_SCAN_MAX)
				count = GW_SCAN_MAX;
		} else if (arg_is(&j->argv[i], "type")) {
			if (!arg_is(&j->argv[i + 1], "string"))
				j->pat = NULL, j->patlen = 0, count = 0; /* only strings exist */
		} else {
			return resp_add_error(&j->reply, "ERR syntax error");
		}
	}
	uint8_t *key;
	uint32_t klen;
	int rc = cursor_decode(&j->argv[1], settings(j)->max_key_bytes, &key, &klen);
	if (rc == -EINVAL)
		return resp_add_error(&j->reply, "ERR invalid cursor");
	if (rc != 0)
		return rc;
	if (count == 0) { /* TYPE other than string */
		free(key);
		rc = resp_add_array(&j->reply, 2);
		rc = rc ?: resp_add_cstr(&j->reply, "0");
		return rc ?: resp_add_array(&j->reply, 0);
	}
	/* the start key lives in the job's own memory: put it in the cursor argument */
	if (klen <= j->argv[1].len) {
		if (klen > 0) /* (cursor 0: no key, key is NULL) */
			memcpy((uint8_t *)j->argv[1].p, key, klen);
		j->argv[1].len = klen;
	} else {
		free(key);
		return resp_add_error(&j->reply, "ERR invalid cursor");
	}
	free(key);
	j->aux = count;
	/* one more than asked: its key is the next cursor */
	return gw_job_add_op(j, PROTO_OP_SCAN, &j->argv[1], NULL, (uint32_t)count + 1,
			     weak_reads(j));
}

static int fin_scan(struct gw_job *j)
{
	const struct gw_op *o = &j->ops[0];
	const uint8_t *k, *v, *last = NULL, *next = NULL;
	uint32_t off = 0, kl, vl, lastlen = 0, nextlen = 0, got = 0;
	long long match = 0;
	int rc;
	/* first pass: count the matches and find the cursor */
	while ((rc = proto_scan_next(o->val, o->vlen, &off, &k, &kl, &v, &vl)) == 1) {
		if (got == j->aux) {
			next = k;
			nextlen = kl;
			break;
		}
		got++;
		last = k;
		lastlen = kl;
		match += j->pat == NULL || glob_match(j->pat, j->patlen, k, kl, 0);
	}
	if (rc < 0)
		return resp_add_error(&j->reply, "ERR the cluster's SCAN result is malformed");
	struct resp_buf *b = &j->reply;
	rc = resp_add_array(b, 2);
	if (next) {
		rc = rc ?: cursor_encode(next, nextlen, b);
	} else if (got > 0) {
		/* fewer than asked: the end, or the result reached maxValueBytes; go on after the
		 * last key (its successor: the key followed by a zero byte); a later empty page
		 * ends the scan */
		uint8_t *succ = malloc((size_t)lastlen + 1);
		if (succ == NULL)
			return -ENOMEM;
		memcpy(succ, last, lastlen);
		succ[lastlen] = 0;
		rc = rc
			 ?: lastlen + 1 <= settings(j)->max_key_bytes
			    ? cursor_encode(succ, lastlen + 1, b)
			    : resp_add_cstr(b, "0");
		free(succ);
	} else {
		rc = rc ?: resp_add_cstr(b, "0");
	}
	rc = rc ?: resp_add_array(b, match);
	off = 0;
	for (uint32_t i = 0; i < got && rc == 0; i++) {
		(void)proto_scan_next(o->val, o->vlen, &off, &k, &kl, &v, &vl);
		if (j->pat == NULL || glob_match(j->pat, j->patlen, k, kl, 0))
			rc = resp_add_bulk(b, k, kl);
	}
	return rc;
}

/* ---- the table --------------------------------------------------------------------------------
 */

static const struct gw_cmd table[] = {
    {"append", 3, "write denyoom", 1, 1, 1, "Appends a string to the value of a key (curp).",
     cmd_append, fin_append},
    {"auth", -2, "noscript loading stale fast no-auth", 0, 0, 0,
     "AUTH [default] password: the conf's secret.", cmd_auth, NULL},
    {"client", -2, "admin noscript loading stale", 0, 0, 0, "SETNAME, GETNAME, ID.", cmd_client,
     NULL},
    {"command", -1, "loading stale", 0, 0, 0, "COMMAND, COMMAND COUNT, DOCS, INFO.", cmd_command,
     NULL},
    {"config", -2, "admin noscript loading stale", 0, 0, 0, "CONFIG GET.", cmd_config, NULL},
    {"dbsize", 1, "readonly fast", 0, 0, 0, "Refused: no exact count.", cmd_refused, NULL},
    {"decr", 2, "write denyoom fast", 1, 1, 1, "Decrements a key's integer by one (curp).",
     cmd_incr, fin_incr},
    {"decrby", 3, "write denyoom fast", 1, 1, 1, "Decrements a key's integer by a number (curp).",
     cmd_incr, fin_incr},
    {"del", -2, "write", 1, -1, 1, "Deletes keys; returns how many existed.", cmd_del,
     fin_count_found},
    {"echo", 2, "fast", 0, 0, 0, "Returns the given string.", cmd_echo, NULL},
    {"exists", -2, "readonly fast", 1, -1, 1, "Counts the given keys that exist.", cmd_get,
     fin_count_found},
    {"get", 2, "readonly fast", 1, 1, 1, "Returns the value of a key.", cmd_get, fin_get},
    {"getdel", 2, "write fast", 1, 1, 1, "Returns a key's value and deletes it (curp).", cmd_getdel,
     fin_get},
    {"getset", 3, "write denyoom fast", 1, 1, 1, "Sets a key's value, returns the old one (curp).",
     cmd_setnx_getset, fin_get},
    {"hello", -1, "noscript loading stale fast no-auth", 0, 0, 0,
     "RESP2 handshake (RESP3: NOPROTO).", cmd_hello, NULL},
    {"incr", 2, "write denyoom fast", 1, 1, 1, "Increments a key's integer by one (curp).",
     cmd_incr, fin_incr},
    {"incrby", 3, "write denyoom fast", 1, 1, 1, "Increments a key's integer by a number (curp).",
     cmd_incr, fin_incr},
    {"info", -1, "loading stale", 0, 0, 0, "Server, clients, stats, curpkv sections.", cmd_info,
     NULL},
    {"mget", -2, "readonly fast", 1, -1, 1, "Returns the values of keys (not one snapshot).",
     cmd_get, fin_mget},
    {"mset", -3, "write denyoom", 1, -1, 2, "Refused: not atomic in curpkv.", cmd_refused, NULL},
    {"ping", -1, "fast", 0, 0, 0, "Returns PONG, or the given message.", cmd_ping, NULL},
    {"quit", -1, "fast no-auth", 0, 0, 0, "Closes the connection.", cmd_quit, NULL},
    {"readonly", 1, "fast", 0, 0, 0, "Makes this connection's reads weak (curpho, curpht).",
     cmd_readonly, NULL},
    {"readwrite", 1, "fast", 0, 0, 0, "Makes this connection's reads strong again.", cmd_readonly,
     NULL},
    {"scan", -2, "readonly", 0, 0, 0, "Iterates the keys in order (cursor: the next key).",
     cmd_scan, fin_scan},
    {"select", 2, "loading stale fast", 0, 0, 0, "SELECT 0 only.", cmd_select, NULL},
    {"set", -3, "write denyoom", 1, 1, 1, "Sets a key's value (NX, XX, GET: curp).", cmd_set,
     fin_set},
    {"setnx", 3, "write denyoom fast", 1, 1, 1, "Sets a key's value if it is missing (curp).",
     cmd_setnx_getset, fin_setnx},
    {"strlen", 2, "readonly fast", 1, 1, 1, "Returns the length of a key's value.", cmd_get,
     fin_strlen},
};

const struct gw_cmd *gw_cmd_table(size_t *n)
{
	*n = sizeof table / sizeof table[0];
	return table;
}

const struct gw_cmd *gw_cmd_find(const uint8_t *name, uint32_t len)
{
	size_t lo = 0, hi = sizeof table / sizeof table[0];
	char low[16];
	if (len == 0 || len >= sizeof low)
		return NULL;
	for (uint32_t i = 0; i < len; i++)
		low[i] = (char)tolower(name[i]);
	low[len] = 0;
	while (lo < hi) { /* the table is sorted by name */
		size_t mid = (lo + hi) / 2;
		int c = strcmp(low, table[mid].name);
		if (c == 0)
			return &table[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/* ---- INFO ------------------------------------------------------------------------------------ */

static int info_line(struct resp_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int info_line(struct resp_buf *b, const char *fmt, ...)
{
	char line[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof line - 2, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	if ((size_t)n > sizeof line - 3)
		n = (int)sizeof line - 3;
	line[n++] = '\r';
	line[n++] = '\n';
	return resp_buf_add(b, line, (size_t)n);
}

int gw_info(struct gw_conn *c, const uint8_t *section, uint32_t len, struct resp_buf *b)
{
	struct gw *g = c->g;
	struct resp_arg sec = {.p = section, .len = len};
	bool all = section == NULL || arg_is(&sec, "all") || arg_is(&sec, "default") ||
		   arg_is(&sec, "everything");
	int rc = 0;
	if (all || arg_is(&sec, "server")) {
		rc = rc ?: info_line(b, "# Server");
		rc = rc ?: info_line(b, "redis_version:7.0.0");
		rc = rc ?: info_line(b, "curpkv_version:%s", PACKAGE_VERSION);
		rc = rc ?: info_line(b, "redis_mode:standalone");
		rc = rc ?: info_line(b, "process_id:%ld", (long)getpid());
		rc = rc ?: info_line(b, "listen:%s", g->listen);
		rc = rc
			 ?: info_line(b, "uptime_in_seconds:%.0f",
				      (double)common_now_ns() / 1e9 - g->start_s);
		rc = rc ?: info_line(b, "%s", "");
	}
	if (all || arg_is(&sec, "clients")) {
		rc = rc ?: info_line(b, "# Clients");
		rc = rc ?: info_line(b, "connected_clients:%u", g->nconns);
		rc = rc ?: info_line(b, "maxclients:%u", g->s.max_clients);
		rc = rc ?: info_line(b, "%s", "");
	}
	if (all || arg_is(&sec, "stats")) {
		rc = rc ?: info_line(b, "# Stats");
		rc = rc
			 ?: info_line(b, "total_connections_received:%llu",
				      (unsigned long long)g->st.connections);
		rc = rc
			 ?: info_line(b, "total_commands_processed:%llu",
				      (unsigned long long)g->st.commands);
		rc = rc
			 ?: info_line(b, "rejected_connections:%llu",
				      (unsigned long long)g->st.rejected);
		rc = rc
			 ?: info_line(b, "total_error_replies:%llu",
				      (unsigned long long)g->st.errors);
		rc = rc
			 ?: info_line(b, "protocol_errors:%llu",
				      (unsigned long long)g->st.protocol_errors);
		rc = rc
			 ?: info_line(b, "output_cap_disconnections:%llu",
				      (unsigned long long)g->st.output_cap_closes);
		rc = rc
			 ?: info_line(b, "auth_failures:%llu",
				      (unsigned long long)g->st.auth_failures);
		rc = rc ?: info_line(b, "%s", "");
	}
	if (all || arg_is(&sec, "curpkv")) {
		uint64_t fast = g->st.fast, slow = g->st.slow, retry = g->st.retry,
			 weak = g->st.weak;
		for (struct gw_conn *k = g->conns; k; k = k->next) {
			struct session *s = k->cs ? cluster_session_get(k->cs) : NULL;
			if (s == NULL)
				continue;
			struct session_stats st;
			session_get_stats(s, &st);
			fast += st.fast;
			slow += st.slow;
			retry += st.retry;
			weak += st.weak;
		}
		uint64_t strong = fast + slow + retry;
		rc = rc ?: info_line(b, "# Curpkv");
		rc = rc ?: info_line(b, "protocol:%s", conf_protocol_name(g->s.protocol));
		rc = rc ?: info_line(b, "cluster_ready:%d", cluster_is_ready(g->cl) ? 1 : 0);
		rc = rc ?: info_line(b, "view:%llu", (unsigned long long)cluster_view(g->cl));
		rc = rc ?: info_line(b, "leader:replica%d", cluster_leader(g->cl));
		rc = rc ?: info_line(b, "replicas:%d", cluster_n_replicas(g->cl));
		rc = rc ?: info_line(b, "strong_fast:%llu", (unsigned long long)fast);
		rc = rc ?: info_line(b, "strong_slow:%llu", (unsigned long long)slow);
		rc = rc ?: info_line(b, "strong_retry:%llu", (unsigned long long)retry);
		rc = rc ?: info_line(b, "weak:%llu", (unsigned long long)weak);
		rc = rc
			 ?: info_line(b, "fast_path_share:%.4f",
				      strong ? (double)fast / (double)strong : 0.0);
		rc = rc ?: info_line(b, "%s", "");
	}
	return rc;
}
