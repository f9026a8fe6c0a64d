/* curpkv: the command-line front end. Parses the prototype's flags and dispatches to a role. */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/cli.h"
#include "cluster/cluster.h"
#include "common/log.h"
#include "common/sched.h"
#include "conf/conf.h"
#include "gw/gw.h"
#include "loadgen/loadgen.h"
#include "master/master.h"
#include "server/server.h"
#include "verify/verify.h"
#include "wal/snap.h"
#include "wal/wal.h"

struct cli_args {
	const char *run;      /* master | server | replica | client */
	const char *config;   /* -config F */
	const char *alias;    /* -alias A */
	const char *protocol; /* -protocol P (overrides the conf) */
	const char *latency;  /* -latency F */
	const char *quorum;   /* -quorum F */
	const char *log;      /* -log F */
	const char *xlog;     /* -xlog F (server) */
	const char *listen;   /* -listen HOST:PORT (gateway) */
	bool check;
	bool help;
	bool version;
	bool weak; /* --weak (get/put/del/scan) */
	bool hex;  /* --hex (get/put/del/scan/append): keys and values in hex */
	int npos;  /* positional arguments (subcommands only) */
	char *pos[4];
	bool allow_pos;
};

static void usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: curpkv -run master|server|replica|client -config FILE [-alias NAME]\n"
	    "              [-protocol curp|curpho|curpht] [-latency FILE] [-quorum FILE] [-log "
	    "FILE]\n"
	    "              [-xlog FILE]\n"
	    "       curpkv -run gateway -config FILE [-alias NAME] [-listen HOST:PORT] [--weak]\n"
	    "              a Redis (RESP2) front for the cluster, default 127.0.0.1:6380\n"
	    "              (--weak: every connection starts READONLY; docs/gateway.md)\n"
	    "       curpkv -check -config FILE [-alias NAME] [-protocol P]\n"
	    "       curpkv stats -config FILE [-alias NAME]   every replica's counters (or one\n"
	    "              replica's, or the master's)\n"
	    "       curpkv get|del -config FILE [--weak] [--hex] KEY\n"
	    "       curpkv put -config FILE [--weak] [--hex] KEY VALUE\n"
	    "       curpkv scan -config FILE [--weak] [--hex] KEY COUNT   (up to COUNT keys from "
	    "KEY)\n"
	    "       curpkv append -config FILE [--hex] KEY VALUE   append to KEY's value (curp "
	    "only)\n"
	    "              --hex: KEY and VALUE in hex, output in hex\n"
	    "              exit status: 0 done, 1 get of a missing key, 2 usage, 3 no answer,\n"
	    "              4 authentication failed (a wrong or missing secret; also stats and\n"
	    "              -run client)\n"
	    "       curpkv check-history [--causal-per-key] FILE... [STEPS]   check recorded "
	    "histories\n"
	    "              as one (linearizability, causal consistency (per key: curpht's\n"
	    "              guarantee), appends exactly once); with several FILEs, lines are "
	    "numbered\n"
	    "              across them and file i's sessions are offset by (i-1) x 10^12\n"
	    "              exit status: 0 linearizable, 1 violation, 3 undecided within STEPS per "
	    "key\n"
	    "       curpkv wal-check DIR [--truncate]   check a write-ahead log directory\n"
	    "              (stateDir/<alias>): its newest snapshot, per segment its LSNs, then\n"
	    "              ok or the first damage as file:offset: what, and whether the log\n"
	    "              reaches the snapshot's LSN; --truncate cuts the log at the first\n"
	    "              damage, never below the newest snapshot's LSN (it refuses instead)\n"
	    "              exit status: 0 ok (a torn tail too: a start truncates it), 1 damage\n"
	    "              (of the log or the snapshot, a log that ends before its snapshot, a\n"
	    "              refused --truncate), 2 usage or unreadable\n"
	    "       curpkv -h | -version\n"
	    "\n"
	    "  -run ROLE      process role: master, server (or replica), client, gateway\n"
	    "  -config FILE   cluster conf file (see docs/conf.md)\n"
	    "  -alias NAME    which host of the conf this process is (e.g. replica0, client0)\n"
	    "  -protocol P    override the conf's protocol\n"
	    "  -latency FILE  emulated latency file (\"uniform <rtt>\" or \"<addrA> <addrB> "
	    "<rtt>\" rows)\n"
	    "  -quorum FILE   quorum file (its leader line picks the initial leader)\n"
	    "  -log FILE      log to FILE (truncated) instead of stderr\n"
	    "  -xlog FILE     server: write \"<slot> <client> <seq>\" to FILE (truncated) for "
	    "every\n"
	    "                 command it executes (a testing aid; see docs/testing.md)\n"
	    "  -listen H:P    gateway: where RESP2 clients connect\n"
	    "                 (default " GW_DEFAULT_LISTEN ")\n"
	    "  -check         parse and validate the conf, print the effective settings, exit\n"
	    "  -version       print the version\n"
	    "Flags may be written -flag or --flag, with the value as the next argument or after "
	    "'='.\n");
}

/* Returns 0, or -EINVAL after printing why. */
static int parse_args(int argc, char **argv, struct cli_args *a)
{
	static const struct {
		const char *name;
		size_t off;
	} valued[] = {
	    {"run", offsetof(struct cli_args, run)},
	    {"config", offsetof(struct cli_args, config)},
	    {"alias", offsetof(struct cli_args, alias)},
	    {"protocol", offsetof(struct cli_args, protocol)},
	    {"latency", offsetof(struct cli_args, latency)},
	    {"quorum", offsetof(struct cli_args, quorum)},
	    {"log", offsetof(struct cli_args, log)},
	    {"xlog", offsetof(struct cli_args, xlog)},
	    {"listen", offsetof(struct cli_args, listen)},
	};
	bool allow_pos = a->allow_pos;
	memset(a, 0, sizeof *a);
	a->allow_pos = allow_pos;
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		if (arg[0] != '-' && a->allow_pos && a->npos < 4) {
			a->pos[a->npos++] = argv[i];
			continue;
		}
		if (arg[0] != '-') {
			fprintf(stderr, "curpkv: unexpected argument '%s'\n", arg);
			return -EINVAL;
		}
		const char *name = arg + (arg[1] == '-' ? 2 : 1);
		const char *eq = strchr(name, '=');
		size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
		if ((nlen == 1 && name[0] == 'h') || (nlen == 4 && !strncmp(name, "help", 4))) {
			a->help = true;
			continue;
		}
		if (nlen == 7 && !strncmp(name, "version", 7)) {
			a->version = true;
			continue;
		}
		if (nlen == 4 && !strncmp(name, "weak", 4)) {
			a->weak = true;
			continue;
		}
		if (nlen == 3 && !strncmp(name, "hex", 3)) {
			a->hex = true;
			continue;
		}
		if (nlen == 5 && !strncmp(name, "check", 5)) {
			a->check = true;
			continue;
		}
		bool found = false;
		for (size_t k = 0; k < sizeof valued / sizeof valued[0]; k++) {
			if (strlen(valued[k].name) != nlen || strncmp(valued[k].name, name, nlen))
				continue;
			const char *val = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
			if (val == NULL) {
				fprintf(stderr, "curpkv: flag -%s needs a value\n", valued[k].name);
				return -EINVAL;
			}
			*(const char **)((char *)a + valued[k].off) = val;
			found = true;
			break;
		}
		if (!found) {
			fprintf(stderr, "curpkv: unknown flag '%s' (try -h)\n", arg);
			return -EINVAL;
		}
	}
	return 0;
}

/* Loads the conf, prints diagnostics, applies -protocol and Apply-to keys for the alias.
 * Returns 0 or a negative errno (already reported). */
static int load_conf(const struct cli_args *a, struct conf **cp, struct conf_settings *s)
{
	struct conf_diags diags = {0};
	int rc = conf_load(a->config, cp, &diags);
	if (rc == 0 && a->alias) {
		bool is_master = (*cp)->has_master && !strcasecmp((*cp)->master.alias, a->alias);
		if (!conf_find_replica(*cp, a->alias) && !conf_find_client(*cp, a->alias) &&
		    !is_master) {
			fprintf(stderr, "curpkv: alias '%s' is not in %s\n", a->alias, a->config);
			rc = -EINVAL;
		}
	}
	if (rc == 0)
		rc = conf_settings_for(*cp, a->alias, s, &diags);
	if (rc == 0 && a->protocol) {
		enum conf_protocol p;
		if (conf_protocol_parse(a->protocol, &p) != 0) {
			fprintf(stderr, "curpkv: -protocol %s: not one of curp, curpho, curpht\n",
				a->protocol);
			rc = -EINVAL;
		} else {
			s->protocol = p;
			if (p == CONF_PROTO_CURP && s->weak_ratio > 0) {
				fprintf(stderr,
					"curpkv: warning: weakRatio %u forced to 0 for "
					"protocol curp\n",
					s->weak_ratio);
				s->weak_ratio = 0;
			}
		}
	}
	conf_diags_print(&diags, stderr);
	conf_diags_free(&diags);
	if (rc == -ENOENT || (rc < 0 && *cp == NULL))
		fprintf(stderr, "curpkv: cannot read %s: %s\n", a->config, strerror(-rc));
	return rc;
}

/* Runs a master or a replica with a logger on -log FILE (truncated) or stderr. */
static int run_role(const struct cli_args *a, const struct conf *c, const struct conf_settings *s)
{
	FILE *out = stderr;
	if (a->log) {
		out = fopen(a->log, "w");
		if (out == NULL) {
			fprintf(stderr, "curpkv: cannot open log %s: %s\n", a->log,
				strerror(errno));
			return 1;
		}
		setvbuf(out, NULL, _IOLBF, 0);
	}
	bool master = !strcasecmp(a->run, "master");
	bool client = !strcasecmp(a->run, "client");
	bool gateway = !strcasecmp(a->run, "gateway");
	int status;
	if ((a->listen || a->weak) && !gateway) {
		fprintf(stderr, "curpkv: -listen and --weak are for -run gateway\n");
		status = 2;
		goto out;
	}
	if (a->xlog && (master || client || gateway)) {
		fprintf(stderr, "curpkv: -xlog is for -run server\n");
		status = 2;
		goto out;
	}
	struct common_logger lg;
	common_logger_init(&lg, out, COMMON_LOG_INFO,
			   a->alias ? a->alias
				    : (master	 ? "master"
				       : client	 ? "client"
				       : gateway ? "gateway"
						 : "replica"));
	if (s->sched_batch) {
		/* before any thread starts: they inherit it (docs/conf.md, schedBatch) */
		int rc = common_sched_batch(true);
		if (rc != 0) {
			LOG_ERROR(&lg, "schedBatch: cannot run under SCHED_BATCH: %s", strerror(-rc));
			status = 1;
			goto out;
		}
		LOG_INFO(&lg, "schedBatch: threads run under SCHED_BATCH (no wake-up preemption)");
	}
	status = master	   ? master_main(c, s, a->quorum, &lg)
		 : client  ? loadgen_main(c, s, a->alias, &lg)
		 : gateway ? gw_main(c, s, a->alias, a->listen, a->weak, &lg)
			   : server_main(c, s, a->alias, a->latency, a->quorum, a->xlog, &lg);
out:
	if (out != stderr)
		fclose(out);
	return status;
}

/* `curpkv check-history [--causal-per-key] FILE... [STEPS]`: the linearizability checker (strong
 * operations and weak writes), the causal checker (every operation; sessions one operation at a
 * time; or each key alone) and the exactly-once append checker (keys with appends) on one or
 * more history files checked as one history (verify_load_more: lines numbered across the files,
 * the sessions of each file distinct). A trailing argument of digits only is STEPS (a file named
 * so is written ./NAME). */
static bool all_digits(const char *s)
{
	if (*s == 0)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

static int check_history(int argc, char **argv)
{
	/* --causal-per-key: session guarantees per key only (curpht's, docs/protocols.md) */
	bool per_key = argc > 0 && !strcmp(argv[0], "--causal-per-key");
	if (per_key) {
		argc--;
		argv++;
	}
	uint64_t budget = 10000000ull;
	if (argc >= 2 && all_digits(argv[argc - 1])) {
		budget = strtoull(argv[argc - 1], NULL, 10);
		argc--;
	}
	bool usage = argc < 1;
	for (int i = 0; i < argc; i++)
		usage |= argv[i][0] == '-';
	if (usage) {
		fprintf(stderr, "usage: curpkv check-history [--causal-per-key] FILE... [STEPS]\n");
		return 2;
	}
	struct verify_history h = {0};
	int base = 0;
	for (int i = 0; i < argc; i++) {
		int bad = 0, lines = 0;
		int rc = verify_load_more(argv[i], &h, base, (uint64_t)i * VERIFY_FILE_SESSIONS,
					  &lines, &bad);
		if (rc != 0) {
			if (rc == -EINVAL)
				fprintf(stderr, "%s:%d: not a history line\n", argv[i], bad);
			else if (rc == -ERANGE)
				fprintf(stderr,
					"%s:%d: a session id of %llu or more cannot be told from "
					"the sessions of another file\n",
					argv[i], bad, VERIFY_FILE_SESSIONS);
			else
				fprintf(stderr, "curpkv: %s: %s\n", argv[i], strerror(-rc));
			verify_free(&h);
			return 2;
		}
		/* with several files, say where each one's lines are: the checkers name lines of
		 * the concatenation, and sessions offset by the file's index times 10^12 */
		if (argc > 1)
			printf("history %d: %s: lines %d-%d, sessions + %llu\n", i + 1, argv[i],
			       base + 1, base + lines,
			       (unsigned long long)i * VERIFY_FILE_SESSIONS);
		base += lines;
	}
	struct verify_result r;
	enum verify_status st = verify_linearizable(&h, budget, &r);
	verify_print(stdout, &r);
	struct verify_causal_result cr;
	enum verify_status cst = per_key ? verify_causal_per_key(&h, &cr) : verify_causal(&h, &cr);
	verify_causal_print(stdout, &cr);
	struct verify_append_result ar;
	enum verify_status ast = verify_appends(&h, &ar);
	verify_appends_print(stdout, &ar);
	verify_free(&h);
	if (st == VERIFY_FAIL || cst == VERIFY_FAIL || ast == VERIFY_FAIL)
		return 1;
	return st == VERIFY_OK && ast != VERIFY_UNKNOWN ? 0 : 3;
}

/* wal-check's part for the newest snapshot of dir (wal/snap.h), read as a start reads it:
 * prints `snapshot NAME: N records, LSN L: ok` or its damage line. *lsn: its LSN (from the
 * name if damaged), 0 if there is none. Returns 0 (none or whole), 1 (damaged), 2 (unreadable,
 * said on stderr). */
static int wal_check_snapshot(const char *dir, uint64_t *lsn)
{
	char path[PATH_MAX], err[PATH_MAX + 200] = "";
	*lsn = 0;
	int rc = wal_snap_latest(dir, path, sizeof path, lsn);
	if (rc == -ENOENT)
		return 0; /* (a missing dir too: wal_open says so) */
	if (rc == 0) {
		uint64_t records = 0;
		rc = wal_snap_read(path, lsn, NULL, NULL, &records, err, sizeof err);
		if (rc == 0) {
			printf("snapshot %s: %llu records, LSN %llu: ok\n", strrchr(path, '/') + 1,
			       (unsigned long long)records, (unsigned long long)*lsn);
			return 0;
		}
		if (rc == -EBADMSG || rc == -EPROTONOSUPPORT) {
			printf("%s\n", err);
			return 1;
		}
	}
	if (err[0] == 0)
		snprintf(err, sizeof err, "%s: %s", dir, strerror(-rc));
	fprintf(stderr, "curpkv: wal-check: %s\n", err);
	return 2;
}

/* Whether `--truncate` may cut dir's log: a dry run (WAL_MODE_REPAIR_DRY) finds where REPAIR
 * would cut it; a cut that would end the log before its snapshot's LSN (slsn) is refused with
 * a line, as a start would refuse that log. Returns true if refused. An open or replay that
 * fails here is left to the real run, which reports it. */
static bool wal_check_cut_refused(const char *dir, uint64_t slsn)
{
	struct wal_opts o = {.fsync = WAL_FSYNC_NO, .mode = WAL_MODE_REPAIR_DRY};
	struct wal *w = NULL;
	char why[PATH_MAX + 500];
	bool refused = false;
	if (wal_open(dir, &o, &w, NULL, 0) == 0 && wal_replay(w, NULL, NULL, NULL, 0) == 0 &&
	    wal_dropped(w, why, sizeof why) && wal_next_lsn(w) < slsn) {
		printf(
		    "not truncated: --truncate would cut the log (%s) to end at LSN %llu, before "
		    "its snapshot (LSN %llu); move the snapshot away to cut it\n",
		    why, (unsigned long long)wal_next_lsn(w), (unsigned long long)slsn);
		refused = true;
	}
	wal_close(w);
	return refused;
}

/* `curpkv wal-check DIR [--truncate]`: reads a write-ahead log and its newest snapshot as a
 * start would (wal/wal.h, wal/snap.h) without changing them, or with --truncate cuts the log at
 * its first damage (WAL_MODE_REPAIR), unless that would end it before the snapshot's LSN or
 * the snapshot is damaged (a start needs both: the operator decides what to move away). */
static int wal_check(int argc, char **argv)
{
	const char *dir = NULL;
	bool truncate = false, bad = false;
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--truncate") || !strcmp(argv[i], "-truncate"))
			truncate = true;
		else if (argv[i][0] != '-' && dir == NULL)
			dir = argv[i];
		else
			bad = true;
	}
	if (dir == NULL || bad) {
		fprintf(stderr, "usage: curpkv wal-check DIR [--truncate]\n");
		return 2;
	}
	uint64_t slsn;
	int snap = wal_check_snapshot(dir, &slsn);
	if (snap == 2)
		return 2;
	bool refused = false;
	if (truncate && snap == 1) {
		printf(
		    "not truncated: the newest snapshot is damaged; move it away to truncate the "
		    "log without it\n");
		refused = true;
	} else if (truncate && slsn > 0) {
		refused = wal_check_cut_refused(dir, slsn);
	}
	struct common_logger lg;
	common_logger_init(&lg, stderr, COMMON_LOG_WARN, "wal-check");
	struct wal_opts o = {.fsync = WAL_FSYNC_NO,
			     .mode = truncate && !refused ? WAL_MODE_REPAIR : WAL_MODE_CHECK,
			     .log = &lg};
	struct wal *w = NULL;
	char err[PATH_MAX + 200];
	int rc = wal_open(dir, &o, &w, err, sizeof err);
	if (rc == 0)
		rc = wal_replay(w, NULL, NULL, err, sizeof err);
	if (rc != 0) {
		bool damage = rc == -EBADMSG || rc == -EPROTONOSUPPORT;
		fprintf(damage ? stdout : stderr, "%s%s\n",
			damage ? "" : "curpkv: wal-check: ", err);
		wal_close(w);
		return damage ? 1 : 2;
	}
	char why[PATH_MAX + 500];
	if (wal_dropped(w, why, sizeof why))
		printf(o.mode == WAL_MODE_REPAIR
			   ? "truncated: %s\n"
			   : "torn tail: %s; truncated there at the next start\n",
		       why);
	struct wal_seg_info si;
	uint64_t total = 0, first = 0;
	for (size_t i = 0; wal_segment(w, i, &si) == 0; i++) {
		if (si.records)
			printf("%s: LSN %llu..%llu, %llu records\n", si.name,
			       (unsigned long long)si.first_lsn,
			       (unsigned long long)(si.first_lsn + si.records - 1),
			       (unsigned long long)si.records);
		else
			printf("%s: LSN %llu, no records\n", si.name,
			       (unsigned long long)si.first_lsn);
		if (i == 0)
			first = si.first_lsn;
		total += si.records;
	}
	if (total)
		printf("ok: %llu records, LSN %llu..%llu\n", (unsigned long long)total,
		       (unsigned long long)first, (unsigned long long)(wal_next_lsn(w) - 1));
	else
		printf("ok: 0 records\n");
	/* a start reads the snapshot, then the log from the snapshot's LSN: the log must hold
	 * every LSN from there to its end (wal_truncate_before keeps the segment holding it) */
	bool gap = false;
	if (snap == 0 && slsn > 0) {
		uint64_t next = wal_next_lsn(w);
		gap = next < slsn || first > slsn; /* (first: 0 without segments) */
		if (next < slsn)
			printf("the log ends at LSN %llu, before its snapshot (LSN %llu)\n",
			       (unsigned long long)next, (unsigned long long)slsn);
		else if (gap)
			printf("the log starts at LSN %llu, after its snapshot (LSN %llu): LSN "
			       "%llu..%llu missing\n",
			       (unsigned long long)first, (unsigned long long)slsn,
			       (unsigned long long)slsn, (unsigned long long)(first - 1));
		else
			printf("the log reaches its snapshot (LSN %llu): next LSN %llu\n",
			       (unsigned long long)slsn, (unsigned long long)next);
	} else if (snap == 0 && first > 1) {
		/* segments go only behind a snapshot (wal_truncate_before) */
		printf("the log starts at LSN %llu without a snapshot: LSN 1..%llu missing\n",
		       (unsigned long long)first, (unsigned long long)(first - 1));
		gap = true;
	}
	wal_close(w);
	return snap == 1 || refused || gap ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct cli_args a;
	memset(&a, 0, sizeof a);
	if (argc > 1 && !strcmp(argv[1], "check-history"))
		return check_history(argc - 2, argv + 2);
	if (argc > 1 && !strcmp(argv[1], "wal-check"))
		return wal_check(argc - 2, argv + 2);
	/* Subcommand forms: `curpkv stats|get|put|del|scan -config F ...` (flags follow the word).
	 */
	const char *sub = NULL;
	static const char *const subs[] = {"stats", "get", "put", "del", "scan", "append"};
	for (size_t i = 0; argc > 1 && i < sizeof subs / sizeof subs[0]; i++)
		if (!strcmp(argv[1], subs[i]))
			sub = subs[i];
	bool stats = sub && !strcmp(sub, "stats");
	if (sub) {
		argv[1] = argv[0];
		argc--;
		argv++;
		a.allow_pos = !stats;
	}
	if (parse_args(argc, argv, &a) != 0)
		return 2;
	if (a.help) {
		usage(stdout);
		return 0;
	}
	if (a.version) {
		printf("curpkv %s\n", PACKAGE_VERSION);
		return 0;
	}
	if (a.config == NULL) {
		usage(stderr);
		fprintf(stderr, "curpkv: -config FILE is required\n");
		return 2;
	}
	struct conf *c = NULL;
	struct conf_settings s;
	int rc = load_conf(&a, &c, &s);
	if (rc != 0) {
		conf_free(c);
		return 1;
	}
	if (a.check) {
		conf_print(c, &s, stdout);
		/* what a crash keeps (docs/durability.md) */
		if (s.state_dir[0])
			printf("# durability: each replica keeps a write-ahead log in %s/<alias>, "
			       "fsync %s\n",
			       s.state_dir, s.fsync[0] ? s.fsync : "always");
		else
			printf("# durability: none (no stateDir): replicas keep their state in memory "
			       "only; a restart of every replica loses it\n");
		conf_free(c);
		return 0;
	}
	if (stats) {
		rc = cluster_stats_main(c, &s, a.alias);
		conf_free(c);
		return rc;
	}
	if (sub) {
		rc = cli_main(c, &s, sub, a.npos, a.pos, a.weak, a.hex);
		conf_free(c);
		return rc;
	}
	if (a.run == NULL) {
		usage(stderr);
		fprintf(stderr, "curpkv: -run ROLE (or -check) is required\n");
		conf_free(c);
		return 2;
	}
	if (strcasecmp(a.run, "master") && strcasecmp(a.run, "server") &&
	    strcasecmp(a.run, "replica") && strcasecmp(a.run, "client") &&
	    strcasecmp(a.run, "gateway")) {
		fprintf(stderr,
			"curpkv: -run %s: not one of master, server, replica, client, gateway\n",
			a.run);
		conf_free(c);
		return 2;
	}
	rc = run_role(&a, c, &s);
	conf_free(c);
	return rc;
}
