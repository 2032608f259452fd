/* Scheduling of helper threads; see thread.h. */
#include "util/thread.h"

#include <pthread.h>
#include <sched.h>

int thread_as_helper(void)
{
	/* Leaving SCHED_OTHER for SCHED_BATCH needs no privilege. */
	struct sched_param sp = { .sched_priority = 0 };
	return -pthread_setschedparam(pthread_self(), SCHED_BATCH, &sp);
}
