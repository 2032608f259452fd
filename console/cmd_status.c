/*
 * coffer status [--json] [--quiet]: which daemons run, and who the caller
 * is to them. Each of coffer-backupd, coffer-restored and coffer-scheduler
 * gets HELLO (the caller's uid, roles as the daemon resolved them, and
 * whether development mode is on) and STATUS (version, start time,
 * keystore state, jobs). A daemon that does not run is a line of the
 * report, not an error. Exit 0 when backupd answers, 1 otherwise (the
 * appliance cannot take backups without it).
 */
#include <getopt.h>
#include <string.h>

#include "console.h"
#include "daemon.h"
#include "util/log.h"

#define STATUS_TIMEOUT_MS 5000

static const char *const daemons[] = { "backupd", "restored", "erased", "scheduler" };
#define N_DAEMONS (sizeof daemons / sizeof daemons[0])

static void status_usage(void)
{
	fprintf(stderr, "usage: coffer status [--run-dir DIR] [--json] [--quiet]\n"
			"Asks coffer-backupd, coffer-restored and coffer-scheduler how they are.\n"
			"Exit 0 when coffer-backupd answers, else 1; --quiet prints nothing.\n");
}

static const char *run_state(const struct daemon_probe *p)
{
	if (p->state == PROBE_DOWN)
		return "not running";
	if (p->state == PROBE_UP)
		return "running";
	return p->have_hello ? "running" : "unreachable";
}

/* The probe that says who the caller is: backupd's, else the first that answered. */
static const struct daemon_probe *identity(const struct daemon_probe *p)
{
	for (size_t i = 0; i < N_DAEMONS; i++)
		if (p[i].have_hello)
			return &p[i];
	return NULL;
}

static void print_json(const char *run, const struct daemon_probe *p)
{
	const struct daemon_probe *me = identity(p);
	printf("{\"run_dir\":");
	json_cstr(stdout, run);
	if (me != NULL) {
		printf(",\"uid\":%u,\"gid\":%u,\"roles\":", me->uid, me->gid);
		json_cstr(stdout, me->roles_text);
		printf(",\"role_bits\":%u,\"dev_mode\":%s", me->roles,
		       me->dev_mode ? "true" : "false");
	} else {
		printf(",\"uid\":null,\"gid\":null,\"roles\":null,\"role_bits\":null,"
		       "\"dev_mode\":null");
	}
	printf(",\"daemons\":[");
	for (size_t i = 0; i < N_DAEMONS; i++) {
		const struct daemon_probe *d = &p[i];
		printf("%s{\"name\":\"%s\",\"state\":\"%s\"", i ? "," : "", daemons[i], run_state(d));
		if (d->have_hello) {
			printf(",\"version\":");
			json_cstr(stdout, d->version);
			printf(",\"protocol\":%u", d->protocol);
		}
		if (d->have_status) {
			printf(",\"since\":%lld,\"keystore\":\"%s\",\"keystore_code\":%u,"
			       "\"jobs_running\":%u,\"jobs_queued\":%u",
			       (long long)d->started, console_keystore_state(d->keystore), d->keystore,
			       d->running, d->queued);
		}
		if (d->error[0] != 0) {
			printf(",\"error\":");
			json_cstr(stdout, d->error);
		}
		printf("}");
	}
	printf("]}\n");
}

static void print_human(const char *run, const struct daemon_probe *p)
{
	const struct daemon_probe *me = identity(p);
	printf("run directory  %s\n", run);
	if (me != NULL) {
		printf("you            uid %u (gid %u)\nroles          %s\n", me->uid, me->gid,
		       me->roles_text);
		printf("development    %s\n",
		       me->dev_mode ? "yes: one uid holds every role (never on an appliance)" : "no");
	} else {
		printf("you            unknown (no daemon answered)\n");
	}
	printf("\n%-10s  %-11s  %-10s  %-19s  %-13s  %7s  %6s\n", "DAEMON", "STATE", "VERSION",
	       "SINCE", "KEYSTORE", "RUNNING", "QUEUED");
	for (size_t i = 0; i < N_DAEMONS; i++) {
		const struct daemon_probe *d = &p[i];
		char since[32] = "-";
		if (d->have_status)
			fmt_time(d->started, since, sizeof since);
		printf("%-10s  %-11s  %-10.32s  %-19s  %-13s  ", daemons[i], run_state(d),
		       d->have_hello ? d->version : "-", since,
		       d->have_status ? console_keystore_state(d->keystore) : "-");
		if (d->have_status)
			printf("%7u  %6u\n", d->running, d->queued);
		else
			printf("%7s  %6s\n", "-", "-");
	}
	for (size_t i = 0; i < N_DAEMONS; i++)
		if (p[i].error[0] != 0)
			printf("%s: %s\n", daemons[i], p[i].error);
}

int cmd_status(int argc, char **argv)
{
	static const struct option longopts[] = { COMMON_LONGOPTS, { NULL, 0, NULL, 0 } };
	struct common_opts c = { 0 };
	int opt;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (common_opt(&c, opt, optarg))
			continue;
		status_usage();
		return opt == 'h' ? EXIT_OK : EXIT_USAGE;
	}
	if (optind != argc || c.repo != NULL || c.dataset != NULL) {
		status_usage();
		return EXIT_USAGE;
	}
	const char *run = console_run_dir(&c);
	if (run == NULL) {
		if (!c.quiet)
			log_errorx("no daemons to ask: give --run-dir DIR or set COFFER_RUN_DIR "
				   "(nothing listens at /run/coffer)");
		return EXIT_FAIL;
	}
	struct daemon_probe p[N_DAEMONS];
	for (size_t i = 0; i < N_DAEMONS; i++)
		console_probe(run, daemons[i], STATUS_TIMEOUT_MS, &p[i]);
	if (c.json)
		print_json(run, p);
	else if (!c.quiet)
		print_human(run, p);
	return p[0].have_hello ? EXIT_OK : EXIT_FAIL;
}
