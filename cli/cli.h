/* cli: one-shot operations from the shell (`curpkv get|put|del|scan`). */
#ifndef CURPKV_CLI_H
#define CURPKV_CLI_H

#include <stddef.h>

#include "conf/conf.h"

/* Exit statuses a script can rely on. */
enum cli_status {
	CLI_OK = 0,	   /* done (get: the value was printed) */
	CLI_NOT_FOUND = 1, /* get: the key does not exist */
	CLI_USAGE = 2,	   /* bad arguments */
	CLI_ERROR = 3,	   /* the master cannot be reached, the cluster did not answer in time,
			    * or it refused the command */
	CLI_AUTH = 4,	   /* authentication failed: a wrong or missing secret (either side) */
};

/* Largest COUNT of `curpkv scan` (the wire's scan_count limit). */
#define CLI_SCAN_MAX 1000000u

/* Runs op ("get", "put", "del", "scan", "append") with its positional arguments (key [value |
 * count]) as one operation of a fresh session (strong, or weak with `weak`), waiting at most the
 * conf's replyTimeout; when the first attempt to connect to the master fails (nothing listens
 * there...), it stops at once with "cannot reach the master at host:port: reason". get writes the
 * value's bytes and a newline to stdout; scan writes one "key<TAB>value" line per key, in key order
 * (up to count keys from key on, fewer when the result reaches maxValueBytes). With `hex`, key and
 * value arguments are lowercase or uppercase hex (any bytes, e.g. the load generator's 8-byte keys)
 * and keys and values are printed in lowercase hex. Returns an enum cli_status. Thread: any (own
 * loop). */
int cli_main(const struct conf *conf, const struct conf_settings *s, const char *op, int argc,
	     char **argv, bool weak, bool hex);

#endif
