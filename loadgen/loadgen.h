/* loadgen: the load generator (`curpkv -run client`): sessions, workload, report. */
#ifndef CURPKV_LOADGEN_H
#define CURPKV_LOADGEN_H

#include <pthread.h>

#include "common/log.h"
#include "conf/conf.h"

/*
 * Runs conf_settings_threads(s) sessions (one client id each) on min(sessions, online CPUs)
 * event-loop threads, each loop with its own cluster handle (one connection per replica, shared
 * by that loop's sessions). Every
 * session first completes one warm-up request (not measured), then keeps its window
 * (conf_settings_window) full until it issued `reqs` requests or `runTime` elapsed.
 * At the end it prints the report of CONF.md section 4 on stdout (plus the strong-path and
 * error lines), writes latencies-<alias>.json in the working directory, and, with historyFile,
 * one JSON line per operation. Once a second it prints a progress line on stderr.
 *
 * Returns the process exit status: 0; CLUSTER_EXIT_AUTH (4) if the cluster refused the
 * authentication (a wrong or missing secret); or 1 if any request failed or timed out, the
 * cluster never became ready, or the workload cannot run (the reason is logged).
 */
int loadgen_main(const struct conf *conf, const struct conf_settings *s, const char *alias,
		 const struct common_logger *log);

/* What a test may replace in loadgen_run. thread_create creates a thread as pthread_create(th,
 * NULL, fn, arg) does and returns 0 or an errno value; NULL: pthread_create. ctx is passed to
 * it. */
struct loadgen_hooks {
	int (*thread_create)(void *ctx, pthread_t *th, void *(*fn)(void *), void *arg);
	void *ctx;
};

/* loadgen_main with hooks (NULL: none, as loadgen_main). If a thread cannot be created, the run
 * is refused (logged, status 1) once every thread already created has returned: none has
 * touched the cluster by then. Thread: any; it creates and joins its own threads. */
int loadgen_run(const struct conf *conf, const struct conf_settings *s, const char *alias,
		const struct common_logger *log, const struct loadgen_hooks *hooks);

#endif
