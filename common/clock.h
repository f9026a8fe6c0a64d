/* common/clock: monotonic and wall-clock readings for the I/O shells (never for protocol logic). */
#ifndef CURPKV_COMMON_CLOCK_H
#define CURPKV_COMMON_CLOCK_H

#include <stdint.h>

/* Returns CLOCK_MONOTONIC in nanoseconds. Any thread. */
uint64_t common_now_ns(void);

/* Returns CLOCK_REALTIME in nanoseconds (for log time stamps only). Any thread. */
uint64_t common_wall_ns(void);

#endif
