/* coffer check, coffer forget, coffer prune. */
#include <errno.h>
#include <getopt.h>
#include <string.h>

#include "console.h"
#include "repo/maint.h"
#include "util/log.h"

struct check_ui {
	uint64_t start, last;
	bool shown;
};

/* At most four lines a second: a pack can take milliseconds. */
static void check_show_progress(uint64_t packs_done, uint64_t packs_total,
				uint64_t bytes_done, uint64_t bytes_total, void *arg)
{
	struct check_ui *ui = arg;
	uint64_t t = console_now_ns();
	if (packs_done != packs_total && t - ui->last < 250000000ull)
		return;
	ui->last = t;
	ui->shown = true;
	progress_line("check", packs_done, "packs", bytes_done, bytes_total, 0, ui->start);
}

static void check_usage(void)
{
	fprintf(stderr, "usage: coffer check (--repo DIR | --dataset NAME) [--read-data] [--json]\n");
}

int cmd_check(int argc, char **argv)
{
	static const struct option longopts[] = {
		COMMON_LONGOPTS,
		{ "read-data", no_argument, NULL, 'd' },
		{ NULL, 0, NULL, 0 },
	};
	struct common_opts c = { 0 };
	struct check_opts o = { 0 };
	int opt;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (common_opt(&c, opt, optarg))
			continue;
		if (opt == 'd') {
			o.read_data = true;
			continue;
		}
		check_usage();
		return opt == 'h' ? EXIT_OK : EXIT_USAGE;
	}
	if (common_require_target(&c, "check") != 0 || optind != argc) {
		check_usage();
		return EXIT_USAGE;
	}
	struct repo *r = console_open_repo(&c);
	if (r == NULL)
		return EXIT_FAIL;
	struct check_result res = { 0 };
	struct check_ui ui = { .start = console_now_ns() };
	if (progress_enabled(&c)) {
		o.progress = check_show_progress;
		o.progress_arg = &ui;
	}
	int e = repo_check(r, &o, &res);
	if (ui.shown)
		progress_clear();
	repo_close(r);
	if (e != 0 && e != -EBADMSG) {
		log_errorx("check could not run: %s", coffer_strerror(e));
		return EXIT_FAIL;
	}
	if (c.json) {
		printf("{\"ok\":%s,\"snapshots\":%llu,\"trees\":%llu,\"data_blobs\":%llu,"
		       "\"packs\":%llu,\"packs_read\":%llu,\"errors\":%llu,"
		       "\"damaged_packs\":%llu,\"affected_files\":%llu,\"orphan_packs\":%llu}\n",
		       res.errors ? "false" : "true", (unsigned long long)res.snapshots,
		       (unsigned long long)res.trees, (unsigned long long)res.data_blobs,
		       (unsigned long long)res.packs, (unsigned long long)res.packs_read,
		       (unsigned long long)res.errors, (unsigned long long)res.damaged_packs,
		       (unsigned long long)res.affected_files, (unsigned long long)res.orphan_packs);
	} else if (!c.quiet) {
		printf("checked %llu snapshots, %llu trees, %llu data blobs in %llu packs",
		       (unsigned long long)res.snapshots, (unsigned long long)res.trees,
		       (unsigned long long)res.data_blobs, (unsigned long long)res.packs);
		if (o.read_data)
			printf(" (%llu packs read)", (unsigned long long)res.packs_read);
		printf("\n");
		if (res.orphan_packs)
			printf("%llu unreferenced packs (left by an interrupted backup; "
			       "'coffer prune' removes them)\n", (unsigned long long)res.orphan_packs);
		if (res.errors)
			printf("%llu errors: %llu damaged packs, %llu affected files\n",
			       (unsigned long long)res.errors, (unsigned long long)res.damaged_packs,
			       (unsigned long long)res.affected_files);
		else
			printf("no errors found\n");
	}
	return res.errors ? EXIT_FAIL : EXIT_OK;
}

static int run_prune(struct repo *r, const struct common_opts *c)
{
	struct prune_result res = { 0 };
	int e = repo_prune(r, &res);
	if (e != 0) {
		log_errorx("prune failed: %s", coffer_strerror(e));
		return EXIT_FAIL;
	}
	char b1[32], b2[32];
	if (c->json)
		printf("{\"packs_before\":%llu,\"packs_after\":%llu,\"packs_deleted\":%llu,"
		       "\"packs_rewritten\":%llu,\"blobs_removed\":%llu,\"bytes_before\":%llu,"
		       "\"bytes_after\":%llu}\n",
		       (unsigned long long)res.packs_before, (unsigned long long)res.packs_after,
		       (unsigned long long)res.packs_deleted, (unsigned long long)res.packs_rewritten,
		       (unsigned long long)res.blobs_removed, (unsigned long long)res.bytes_before,
		       (unsigned long long)res.bytes_after);
	else if (!c->quiet)
		printf("prune: removed %llu blobs; %llu packs deleted, %llu rewritten; "
		       "%s -> %s\n", (unsigned long long)res.blobs_removed,
		       (unsigned long long)res.packs_deleted, (unsigned long long)res.packs_rewritten,
		       fmt_bytes(res.bytes_before, b1, sizeof b1),
		       fmt_bytes(res.bytes_after, b2, sizeof b2));
	return EXIT_OK;
}

int cmd_prune(int argc, char **argv)
{
	static const struct option longopts[] = { COMMON_LONGOPTS, { NULL, 0, NULL, 0 } };
	struct common_opts c = { 0 };
	int opt;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (!common_opt(&c, opt, optarg)) {
			fprintf(stderr, "usage: coffer prune (--repo DIR | --dataset NAME)\n");
			return opt == 'h' ? EXIT_OK : EXIT_USAGE;
		}
	}
	if (common_require_target(&c, "prune") != 0 || optind != argc) {
		fprintf(stderr, "usage: coffer prune (--repo DIR | --dataset NAME)\n");
		return EXIT_USAGE;
	}
	struct repo *r = console_open_repo(&c);
	if (r == NULL)
		return EXIT_FAIL;
	int rc = run_prune(r, &c);
	repo_close(r);
	return rc;
}

static void forget_usage(void)
{
	fprintf(stderr, "usage: coffer forget (--repo DIR | --dataset NAME) [--keep-last N] [--keep-daily N]\n"
			"       [--keep-weekly N] [--keep-monthly N] [--keep-yearly N] [--prune]\n");
}

int cmd_forget(int argc, char **argv)
{
	static const struct option longopts[] = {
		COMMON_LONGOPTS,
		{ "keep-last", required_argument, NULL, 'l' },
		{ "keep-daily", required_argument, NULL, 'd' },
		{ "keep-weekly", required_argument, NULL, 'w' },
		{ "keep-monthly", required_argument, NULL, 'm' },
		{ "keep-yearly", required_argument, NULL, 'y' },
		{ "prune", no_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	struct common_opts c = { 0 };
	struct forget_policy p = { 0 };
	bool prune = false;
	int opt;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (common_opt(&c, opt, optarg))
			continue;
		unsigned *slot = NULL;
		const char *name = NULL;
		switch (opt) {
		case 'l': slot = &p.keep_last; name = "keep-last"; break;
		case 'd': slot = &p.keep_daily; name = "keep-daily"; break;
		case 'w': slot = &p.keep_weekly; name = "keep-weekly"; break;
		case 'm': slot = &p.keep_monthly; name = "keep-monthly"; break;
		case 'y': slot = &p.keep_yearly; name = "keep-yearly"; break;
		case 'p': prune = true; continue;
		case 'h': forget_usage(); return EXIT_OK;
		default: forget_usage(); return EXIT_USAGE;
		}
		if (parse_uint(name, optarg, slot))
			return EXIT_USAGE;
	}
	if (common_require_target(&c, "forget") != 0 || optind != argc) {
		forget_usage();
		return EXIT_USAGE;
	}
	if (forget_policy_empty(&p)) {
		/* Removing every snapshot is never what an operator means by default. */
		log_errorx("forget: give at least one --keep-* rule");
		return EXIT_USAGE;
	}
	struct repo *r = console_open_repo(&c);
	if (r == NULL)
		return EXIT_FAIL;
	struct forget_result res = { 0 };
	int rc = EXIT_OK;
	int e = repo_forget(r, &p, c.quiet || c.json, &res);
	if (e != 0) {
		log_errorx("forget failed: %s", coffer_strerror(e));
		rc = EXIT_FAIL;
	} else {
		if (c.json && !prune)
			printf("{\"kept\":%llu,\"removed\":%llu}\n", (unsigned long long)res.kept,
			       (unsigned long long)res.removed);
		else if (!c.quiet && !c.json)
			printf("kept %llu snapshots, removed %llu\n", (unsigned long long)res.kept,
			       (unsigned long long)res.removed);
		if (prune)
			rc = run_prune(r, &c);
	}
	repo_close(r);
	return rc;
}
