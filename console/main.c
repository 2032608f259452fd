/*
 * coffer: the operator's console. Argument parsing and printing only; the
 * work is done by the core libraries (standalone mode) and, later, by the
 * daemons.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "console.h"
#include "record.h"
#include "io/engine.h"
#include "util/log.h"

static const struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
} commands[] = {
	{ "init", cmd_init, "create a repository" },
	{ "backup", cmd_backup, "back up paths or an archive stream" },
	{ "snapshots", cmd_snapshots, "list snapshots" },
	{ "ls", cmd_ls, "list the files of a snapshot" },
	{ "restore", cmd_restore, "restore a snapshot into a directory or an archive" },
	{ "check", cmd_check, "verify the repository's structure (and data)" },
	{ "forget", cmd_forget, "remove snapshots by a retention policy" },
	{ "prune", cmd_prune, "remove data no snapshot needs" },
	{ "stats", cmd_stats, "sizes, deduplication and compression" },
	{ "keystore", cmd_keystore, "the appliance keystore: init, split, unlock, lock, rotate" },
	{ "dataset", cmd_dataset, "datasets: create, list, show, rotate-key" },
	{ "status", cmd_status, "which daemons run, and your roles" },
	{ "jobs", cmd_jobs, "list the daemons' jobs" },
	{ "job", cmd_job, "one job: show, cancel, watch" },
	{ "policy", cmd_policy, "a dataset's policy: set, show" },
	{ "audit", cmd_audit, "the audit trail: init, show, verify, export, checkpoint" },
	{ "approver", cmd_approver, "destruction approvers: add, list, revoke" },
	{ "erase", cmd_erase, "destruction: request, show, approve, list" },
	{ "up", cmd_up, "start every daemon under a directory (--dev)" },
	{ "down", cmd_down, "stop the daemons started by 'up' (--dev)" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: coffer COMMAND [OPTIONS]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\nRun 'coffer COMMAND --help' for a command's options.\n"
		   "The passphrase comes from --passphrase-file FILE, $COFFER_PASSPHRASE_FILE\n"
		   "or a prompt on the terminal.\n"
		   "Exit codes: 0 success, 1 failure, 2 usage error, 3 finished but some\n"
		   "source files could not be read.\n");
}

/* Deep trees hold one directory fd per level while walking. */
static void raise_fd_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int main(int argc, char **argv)
{
	log_init("coffer", LOG_LVL_INFO);
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return EXIT_OK;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("coffer %s\n", COFFER_VERSION);
		return EXIT_OK;
	}
	raise_fd_limit();
	/* A forced but unusable COFFER_IO_ENGINE is one clear error here, not
	 * every file failing later. */
	if (io_engine_init() != 0)
		return EXIT_FAIL;
	/* A reader that goes away (coffer restore --to-archive - | head) must
	 * give a write error that is reported, not a silent death. */
	signal(SIGPIPE, SIG_IGN);
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (strcmp(argv[1], commands[i].name) == 0) {
			record_begin();
			int rc = commands[i].run(argc - 1, argv + 1);
			record_end(argc - 1, argv + 1, rc);
			return rc;
		}
	log_errorx("unknown command '%s' (try 'coffer --help')", argv[1]);
	return EXIT_USAGE;
}
