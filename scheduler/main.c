/*
 * coffer-scheduler: start-up. It ticks four times a second; the clock it
 * compares calendars with is the system's, or --clock-file's for tests.
 */
#include "scheduler/scheduler.h"
#include "util/log.h"

static void stop(struct daemon_ctx *c)
{
	(void)c;
	scheduler_disconnect();
}

int main(int argc, char **argv)
{
	struct scheduler s = { 0 };
	int rc = daemon_args_parse(argc, argv, "scheduler", &s.c.a);
	if (rc >= 0)
		return rc;
	s.c.tick = scheduler_tick;
	s.c.tick_ms = 250;
	s.c.stop = stop;
	if (!s.c.a.check_only && sched_db_open(s.c.a.state_dir, &s.db) != 0)
		return 1;
	rc = daemon_serve(&s.c, scheduler_handlers, scheduler_n_handlers, NULL);
	sched_db_close(s.db);
	return rc;
}
