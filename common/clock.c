#include "common/clock.h"

#include <time.h>

static uint64_t read_clock(clockid_t id)
{
	struct timespec ts;
	/* clock_gettime on these clocks cannot fail with a valid id and pointer. */
	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t common_now_ns(void)
{
	return read_clock(CLOCK_MONOTONIC);
}

uint64_t common_wall_ns(void)
{
	return read_clock(CLOCK_REALTIME);
}
