/*
 * coffer-restored: restore and verification jobs (docs/daemons.md). The
 * keystore is opened locked; a secadmin unlocks it over the socket
 * (`coffer keystore unlock`), or, in development mode, `coffer up`
 * passes --passphrase-file.
 */
#include "restore/restored.h"

int main(int argc, char **argv)
{
	struct restored rs = { 0 };
	int rc = daemon_args_parse(argc, argv, "restored", &rs.c.a);
	if (rc >= 0)
		return rc;
	rs.c.holds_keys = true;
	struct runner_conf jobs = {
		.daemon = "restored", .threads = 2, .run = restored_run_job,
		.limit = daemon_pool_limit, .done = daemon_job_done, .arg = &rs,
	};
	return daemon_serve(&rs.c, restored_handlers, restored_n_handlers, &jobs);
}
