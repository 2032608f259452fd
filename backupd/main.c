/*
 * coffer-backupd: datasets, policies, backup and retention jobs (docs/
 * daemons.md). The keystore is opened locked; a secadmin unlocks it over
 * the socket (`coffer keystore unlock`), or, in development mode,
 * `coffer up` passes --passphrase-file.
 */
#include <unistd.h>

#include "backupd/backupd.h"

int main(int argc, char **argv)
{
	struct backupd b = { 0 };
	int rc = daemon_args_parse(argc, argv, "backupd", &b.c.a);
	if (rc >= 0)
		return rc;
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	b.job_threads = cores > 0 ? (unsigned)cores : 1;
	b.c.holds_keys = true;
	struct runner_conf jobs = {
		.daemon = "backupd", .threads = 2, .run = backupd_run_job,
		.limit = daemon_pool_limit, .done = daemon_job_done, .arg = &b,
	};
	return daemon_serve(&b.c, backupd_handlers, backupd_n_handlers, &jobs);
}
