#include "common/sched.h"

#include <errno.h>
#include <sched.h>

int common_sched_batch(bool batch)
{
	struct sched_param p = {.sched_priority = 0};
	if (sched_setscheduler(0, batch ? SCHED_BATCH : SCHED_OTHER, &p) != 0)
		return -errno;
	return 0;
}

bool common_sched_is_batch(void)
{
	return sched_getscheduler(0) == SCHED_BATCH;
}
