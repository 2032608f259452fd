/*
 * coffer policy set NAME [--calendar SPEC] [--source PATH]... [--no-sources]
 *                        [--keep-last N] [--keep-daily N] [--keep-weekly N]
 *                        [--keep-monthly N] [--keep-yearly N] [--verify-days N]
 * coffer policy show NAME [--json]
 *
 * A dataset's policy (docs/daemons.md, "Policies") is kept by
 * coffer-backupd in the catalog. `set` sends exactly the settings given
 * (the request's mask), so the others keep their values; the daemon
 * checks them (a calendar that does not parse is refused naming why).
 * These exist only through the daemons.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "console.h"
#include "daemon.h"
#include "util/log.h"

/* The mask bits of POLICY_SET (backupd/handlers.c). */
enum {
	POL_CALENDAR = 1, POL_SOURCES = 2, POL_KEEP_LAST = 4, POL_KEEP_DAILY = 8,
	POL_KEEP_WEEKLY = 16, POL_KEEP_MONTHLY = 32, POL_KEEP_YEARLY = 64, POL_VERIFY = 128,
};
#define POLICY_SOURCES_MAX 256 /* the protocol's list maximum */
#define KEEP_N 5

static const char *const keep_names[KEEP_N] = { "last", "daily", "weekly", "monthly", "yearly" };

static void policy_usage(void)
{
	fprintf(stderr,
		"usage: coffer policy set NAME [--calendar SPEC] [--source PATH]... [--no-sources]\n"
		"                         [--keep-last N] [--keep-daily N] [--keep-weekly N]\n"
		"                         [--keep-monthly N] [--keep-yearly N] [--verify-days N]\n"
		"       coffer policy show NAME [--json]\n"
		"Only the settings given change. SPEC is a five-field cron line (minute hour day\n"
		"month weekday) or @hourly, @daily, @weekly, @monthly, @yearly; --calendar ''\n"
		"removes the schedule. --source replaces the sources (what 'coffer backup\n"
		"--dataset NAME' backs up without paths); --no-sources empties them.\n"
		"Both go through coffer-backupd (--run-dir DIR or COFFER_RUN_DIR).\n");
}

struct policy_args {
	struct common_opts c;
	const char *name;
	uint32_t mask;
	const char *calendar;
	char *sources[POLICY_SOURCES_MAX]; /* absolute, owned */
	size_t n_sources;
	unsigned keep[KEEP_N];
	unsigned verify_days;
};

static void policy_args_free(struct policy_args *a)
{
	for (size_t i = 0; i < a->n_sources; i++)
		free(a->sources[i]);
	free(a);
}

/*
 * The path as the daemon must get it, absolute: an absolute path as
 * given; a relative one resolved from here (realpath when it exists, else
 * joined to the working directory: a source may be made later).
 */
static char *absolute(const char *path)
{
	char buf[PATH_MAX], cwd[PATH_MAX];
	if (path[0] == '/')
		return strdup(path);
	if (realpath(path, buf) != NULL)
		return strdup(buf);
	if (getcwd(cwd, sizeof cwd) == NULL) {
		log_errorx("cannot make %s absolute: %s", path, strerror(errno));
		return NULL;
	}
	size_t n = strlen(cwd) + 1 + strlen(path) + 1;
	char *out = malloc(n);
	if (out != NULL)
		snprintf(out, n, "%s/%s", cwd, path);
	return out;
}

enum {
	OPT_CALENDAR = 256, OPT_SOURCE, OPT_NO_SOURCES, OPT_KEEP_LAST, OPT_KEEP_DAILY,
	OPT_KEEP_WEEKLY, OPT_KEEP_MONTHLY, OPT_KEEP_YEARLY, OPT_VERIFY,
};

/* -1 to go on, else an exit code. */
static int policy_parse(int argc, char **argv, struct policy_args *a, bool set)
{
	static const struct option longopts[] = {
		COMMON_LONGOPTS,
		{ "calendar", required_argument, NULL, OPT_CALENDAR },
		{ "source", required_argument, NULL, OPT_SOURCE },
		{ "no-sources", no_argument, NULL, OPT_NO_SOURCES },
		{ "keep-last", required_argument, NULL, OPT_KEEP_LAST },
		{ "keep-daily", required_argument, NULL, OPT_KEEP_DAILY },
		{ "keep-weekly", required_argument, NULL, OPT_KEEP_WEEKLY },
		{ "keep-monthly", required_argument, NULL, OPT_KEEP_MONTHLY },
		{ "keep-yearly", required_argument, NULL, OPT_KEEP_YEARLY },
		{ "verify-days", required_argument, NULL, OPT_VERIFY },
		{ NULL, 0, NULL, 0 },
	};
	bool no_sources = false;
	int opt;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (common_opt(&a->c, opt, optarg))
			continue;
		if (!set && opt >= OPT_CALENDAR) {
			log_errorx("policy show takes no settings (use 'coffer policy set')");
			return EXIT_USAGE;
		}
		switch (opt) {
		case OPT_CALENDAR:
			a->calendar = optarg;
			a->mask |= POL_CALENDAR;
			break;
		case OPT_SOURCE:
			if (a->n_sources == POLICY_SOURCES_MAX) {
				log_errorx("at most %d --source paths", POLICY_SOURCES_MAX);
				return EXIT_USAGE;
			}
			if ((a->sources[a->n_sources] = absolute(optarg)) == NULL)
				return EXIT_FAIL;
			a->n_sources++;
			a->mask |= POL_SOURCES;
			break;
		case OPT_NO_SOURCES:
			no_sources = true;
			a->mask |= POL_SOURCES;
			break;
		case OPT_KEEP_LAST: case OPT_KEEP_DAILY: case OPT_KEEP_WEEKLY:
		case OPT_KEEP_MONTHLY: case OPT_KEEP_YEARLY: {
			int i = opt - OPT_KEEP_LAST;
			char what[24];
			snprintf(what, sizeof what, "keep-%s", keep_names[i]);
			if (parse_uint(what, optarg, &a->keep[i]) != 0)
				return EXIT_USAGE;
			a->mask |= (uint32_t)POL_KEEP_LAST << i;
			break;
		}
		case OPT_VERIFY:
			if (parse_uint("verify-days", optarg, &a->verify_days) != 0)
				return EXIT_USAGE;
			a->mask |= POL_VERIFY;
			break;
		case 'h': policy_usage(); return EXIT_OK;
		default: policy_usage(); return EXIT_USAGE;
		}
	}
	/* NAME, or --dataset NAME as other commands take it. */
	if (argc - optind == 1 && a->c.dataset == NULL)
		a->name = argv[optind];
	else if (argc == optind && a->c.dataset != NULL)
		a->name = a->c.dataset;
	if (a->name == NULL || a->c.repo != NULL) {
		policy_usage();
		return EXIT_USAGE;
	}
	if (no_sources && a->n_sources > 0) {
		log_errorx("give --source PATH or --no-sources, not both");
		return EXIT_USAGE;
	}
	if (set && a->mask == 0) {
		log_errorx("policy set: nothing to change (give at least one setting)");
		policy_usage();
		return EXIT_USAGE;
	}
	if (console_run_dir(&a->c) == NULL) {
		log_errorx("policies are kept by coffer-backupd: give --run-dir DIR or set "
			   "COFFER_RUN_DIR (no daemons at /run/coffer)");
		return EXIT_USAGE;
	}
	return -1;
}

static int policy_set(struct policy_args *a)
{
	struct ipc_client *cl = console_connect(&a->c, "backupd");
	struct ipc_writer w;
	struct ipc_msg m;
	int rc = EXIT_FAIL;
	if (cl == NULL)
		return EXIT_FAIL;
	ipc_writer_init(&w, IPC_POLICY_SET, ipc_next_reqid(cl));
	ipc_put_str(&w, a->name);
	ipc_put_u32(&w, a->mask);
	ipc_put_str(&w, a->calendar);
	ipc_put_list(&w, (uint32_t)a->n_sources);
	for (size_t i = 0; i < a->n_sources; i++)
		ipc_put_str(&w, a->sources[i]);
	for (int i = 0; i < KEEP_N; i++)
		ipc_put_u32(&w, a->keep[i]);
	ipc_put_u32(&w, a->verify_days);
	if (w.err == -ENAMETOOLONG)
		log_errorx("a setting is longer than the protocol allows (calendar: 128 bytes, "
			   "source: 4096)");
	else if (console_call(cl, "backupd", &w, &m) == 0)
		rc = EXIT_OK;
	if (rc == EXIT_OK && !a->c.quiet)
		printf("policy of %s updated\n", a->name);
	ipc_writer_fini(&w);
	ipc_close(cl);
	return rc;
}

static int policy_show(struct policy_args *a)
{
	struct ipc_client *cl = console_connect(&a->c, "backupd");
	struct ipc_writer w;
	struct ipc_msg m;
	struct ipc_reader rd;
	char name[65] = "", calendar[129] = "";
	uint32_t n = 0, keep[KEEP_N] = { 0 }, verify = 0;
	int rc = EXIT_FAIL;
	if (cl == NULL)
		return EXIT_FAIL;
	ipc_writer_init(&w, IPC_POLICY_SHOW, ipc_next_reqid(cl));
	ipc_put_str(&w, a->name);
	if (console_call(cl, "backupd", &w, &m) != 0)
		goto out;
	ipc_reader_init(&rd, &m);
	(void)ipc_get_str(&rd, name, sizeof name);
	(void)ipc_get_str(&rd, calendar, sizeof calendar);
	(void)ipc_get_list(&rd, &n);
	/* The sources are read twice: the whole reply is checked before anything is printed. */
	struct ipc_reader sources = rd;
	const uint8_t *p = NULL;
	size_t len = 0;
	for (uint32_t i = 0; i < n; i++)
		(void)ipc_get_ref(&rd, &p, &len);
	for (int i = 0; i < KEEP_N; i++)
		(void)ipc_get_u32(&rd, &keep[i]);
	(void)ipc_get_u32(&rd, &verify);
	if (ipc_end(&rd) != 0) {
		log_errorx("malformed policy reply from coffer-backupd");
		goto out;
	}
	if (a->c.json) {
		printf("{\"dataset\":");
		json_cstr(stdout, name);
		printf(",\"calendar\":");
		json_cstr(stdout, calendar);
		printf(",\"sources\":[");
		for (uint32_t i = 0; i < n; i++) {
			(void)ipc_get_ref(&sources, &p, &len);
			if (i)
				printf(",");
			json_string(stdout, p, len);
		}
		printf("]");
		for (int i = 0; i < KEEP_N; i++)
			printf(",\"keep_%s\":%u", keep_names[i], keep[i]);
		printf(",\"verify_days\":%u}\n", verify);
		rc = EXIT_OK;
		goto out;
	}
	printf("%-10s %s\n%-10s ", "dataset", name, "calendar");
	if (calendar[0] != 0)
		print_escaped(stdout, (const uint8_t *)calendar, strlen(calendar));
	else
		printf("none (no scheduled backup)");
	printf("\n");
	for (uint32_t i = 0; i < n; i++) {
		(void)ipc_get_ref(&sources, &p, &len);
		printf("%-10s ", i == 0 ? "sources" : "");
		print_escaped(stdout, p, len);
		printf("\n");
	}
	if (n == 0)
		printf("%-10s none (backups need paths)\n", "sources");
	printf("%-10s ", "keep");
	bool any = false;
	for (int i = 0; i < KEEP_N; i++)
		if (keep[i] != 0) {
			printf("%s%s %u", any ? ", " : "", keep_names[i], keep[i]);
			any = true;
		}
	printf("%s\n", any ? "" : "everything (no retention rules)");
	if (verify != 0)
		printf("%-10s every pack once every %u day%s\n", "verify", verify,
		       verify == 1 ? "" : "s");
	else
		printf("%-10s never\n", "verify");
	rc = EXIT_OK;
out:
	ipc_writer_fini(&w);
	ipc_close(cl);
	return rc;
}

int cmd_policy(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0) {
		policy_usage();
		return argc < 2 ? EXIT_USAGE : EXIT_OK;
	}
	bool set = strcmp(argv[1], "set") == 0;
	if (!set && strcmp(argv[1], "show") != 0) {
		log_errorx("unknown policy command '%s'", argv[1]);
		policy_usage();
		return EXIT_USAGE;
	}
	struct policy_args *a = calloc(1, sizeof *a);
	if (a == NULL)
		return EXIT_FAIL;
	int rc = policy_parse(argc - 1, argv + 1, a, set);
	if (rc < 0)
		rc = set ? policy_set(a) : policy_show(a);
	policy_args_free(a);
	return rc;
}
