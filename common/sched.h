/* common/sched: the scheduling policy of a curpkv process's threads (conf key schedBatch). */
#ifndef CURPKV_COMMON_SCHED_H
#define CURPKV_COMMON_SCHED_H

#include <stdbool.h>

/* Puts the calling thread under SCHED_BATCH (batch = true) or SCHED_OTHER (false), nice value
 * unchanged. Threads it creates afterwards inherit the policy, so a process calls it before it
 * starts any. Linux lets an unprivileged process move between these two policies. Returns 0 or
 * a negative errno (sched_setscheduler's: EPERM under a seccomp filter that forbids it). */
int common_sched_batch(bool batch);

/* True if the calling thread runs under SCHED_BATCH. */
bool common_sched_is_batch(void);

#endif
