/* gw: the Redis gateway (`curpkv -run gateway`): RESP2 clients served over the cluster. */
#ifndef CURPKV_GW_H
#define CURPKV_GW_H

#include "common/log.h"
#include "conf/conf.h"

/* Runs the gateway until SIGINT or SIGTERM: listens on listen ("HOST:PORT"; NULL =
 * GW_DEFAULT_LISTEN), opens the cluster of conf as client `alias` (may be NULL), and serves up to
 * s->max_clients connections (docs/gateway.md); weak: every connection starts READONLY (its reads
 * weak under curpho/curpht until READWRITE), for clients that cannot send READONLY
 * (redis-benchmark). Returns the exit status: 0 after a signal, 1 if it could not start (said on
 * lg). Thread: the caller's, which the gateway's loop takes over. */
int gw_main(const struct conf *conf, const struct conf_settings *s, const char *alias,
	    const char *listen, bool weak, const struct common_logger *lg);

#define GW_DEFAULT_LISTEN "127.0.0.1:6380"

#endif
