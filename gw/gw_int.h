/* gw: the gateway's private structures, shared by its connection layer (gw.c) and its command
 * table (gw_cmd.c). Not included from outside gw/. */
#ifndef CURPKV_GW_INT_H
#define CURPKV_GW_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <ev.h>

#include "cluster/cluster.h"
#include "gw/gw.h"
#include "resp/resp.h"

/* A connection stops reading while this many of its requests wait for their replies. */
#define GW_MAX_JOBS 1024
/* SCAN's COUNT when none is given (Redis's), and the most one SCAN asks the cluster for. */
#define GW_SCAN_DEFAULT 10
#define GW_SCAN_MAX	1000
/* The most arguments of one request. */
#define GW_MAX_ARGS 4096

struct gw;
struct gw_conn;
struct gw_job;

/* One cluster operation of a request. */
struct gw_op {
	struct gw_job *job;
	struct proto_cmd cmd; /* key and value point into the job's arguments (or j->own) */
	bool weak;
	bool submitted, done;
	enum session_result res;
	/* a copy of the result (GET, SCAN, INCR, APPEND, GETDEL, SETX; a refused INCR's why),
	 * owned */
	uint8_t *val;
	uint32_t vlen;
};

/* A command: Redis's arity rule (n > 0: exactly n arguments, the name included; n < 0: at least
 * -n). start either writes the whole reply into job->reply (and returns 0) or adds operations
 * (gw_job_add_op) whose results finish reads when they all completed. */
struct gw_cmd {
	const char *name; /* lowercase */
	int arity;
	const char *flags;		 /* COMMAND's flags, space-separated */
	int first_key, last_key, step;	 /* COMMAND's key positions */
	const char *summary;		 /* COMMAND DOCS */
	int (*start)(struct gw_job *j);	 /* 0 or -ENOMEM */
	int (*finish)(struct gw_job *j); /* 0 or -ENOMEM; NULL: none (no ops) */
};

struct gw_job {
	struct gw_job *next;
	struct gw_conn *c;
	const struct gw_cmd *cmd;
	uint32_t argc;
	struct resp_arg *argv; /* copies, in the same allocation as the job */
	struct gw_op *ops;
	uint32_t nops, cap_ops, nsubmitted, ndone;
	struct resp_buf reply;
	bool ready;	    /* reply complete */
	bool close_after;   /* QUIT, or a protocol error: close once the reply is written */
	uint64_t since_ns;  /* when it was parsed (the bounded wait for a ready session) */
	long long aux;	    /* the command's own (SCAN: COUNT) */
	const uint8_t *pat; /* SCAN MATCH */
	uint32_t patlen;
	uint8_t num[PROTO_INT_MAX_LEN]; /* DECRBY: the increment, negated (an op's value) */
	uint8_t *own; /* an op's value the command built (SET's options: SETX), owned */
};

struct gw_conn {
	struct gw *g;
	struct gw_conn *prev, *next; /* g->conns */
	struct gw_conn *dirty_next;
	bool dirty;
	int fd;
	uint64_t id;
	char peer[64];
	char name[128];
	ev_io rio, wio;
	struct resp_buf in, out;
	struct resp_parser parser;
	struct cluster_session *cs;
	bool session_ready;
	bool readonly;	   /* READONLY: GET, MGET, STRLEN, EXISTS weak (curpho, curpht) */
	bool authed;	   /* AUTH (or HELLO AUTH) gave the conf's secret */
	bool stop_reading; /* QUIT or a protocol error was read: nothing more is */
	bool closing;	   /* being freed: completions only record */
	struct gw_job *head, *tail, *submit_at; /* submit_at: the first job with ops to submit */
	uint32_t njobs;
	uint32_t inflight_strong, inflight_weak;
	uint64_t cmds; /* requests parsed */
};

struct gw_stats {
	uint64_t connections, rejected, commands, protocol_errors, output_cap_closes;
	uint64_t fast, slow, retry, weak; /* completion paths of closed sessions */
	uint64_t errors;		  /* error replies */
	uint64_t auth_failures;		  /* AUTH with a wrong password */
};

struct gw {
	struct ev_loop *loop;
	const struct conf *conf;
	struct conf_settings s;
	const struct common_logger *lg;
	struct cluster *cl;
	int lfd;
	char listen[96];
	ev_io accept_io;
	ev_prepare prepare;
	ev_timer tick;
	ev_signal sigint, sigterm;
	struct gw_conn *conns;
	struct gw_conn *dirty;
	uint32_t nconns;
	uint64_t next_id;
	size_t out_cap;
	bool weak; /* --weak: connections start READONLY */
	double start_s;
	struct gw_stats st;
};

/* Adds a cluster operation to j (key and val must stay valid while j lives: its arguments).
 * Returns 0 or -ENOMEM. */
int gw_job_add_op(struct gw_job *j, uint8_t op, const struct resp_arg *key,
		  const struct resp_arg *val, uint32_t scan_count, bool weak);
/* Looks the command up by name (any case); NULL if unknown. */
const struct gw_cmd *gw_cmd_find(const uint8_t *name, uint32_t len);
/* The command table (COMMAND): *n entries. */
const struct gw_cmd *gw_cmd_table(size_t *n);
/* The reply of a job whose op failed (a session result other than OK/NOT_FOUND). */
int gw_reply_op_error(struct gw_job *j, const struct gw_op *op);
/* INFO's text into b (a bulk). */
int gw_info(struct gw_conn *c, const uint8_t *section, uint32_t len, struct resp_buf *b);

#endif
