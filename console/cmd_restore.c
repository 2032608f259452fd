/*
 * coffer restore (--repo DIR | --dataset NAME) SNAP --target DIR [--include PATH]... [--threads N]
 * coffer restore (--repo DIR | --dataset NAME) SNAP --to-archive FILE|- [--format pax|cpio|zip]
 * coffer restore --dataset NAME [--run-dir DIR] [--detach] SNAP --target DIR [--include PATH]...
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "console.h"
#include "daemon.h"
#include "restore/restore.h"
#include "util/hex.h"
#include "util/log.h"

struct restore_ui {
	uint64_t start;
	bool shown;
};

static void restore_show_progress(const struct restore_progress *p, void *arg)
{
	struct restore_ui *ui = arg;
	ui->shown = true;
	progress_line("restore", p->files, "files", p->bytes_done, p->bytes_total, p->errors,
		      ui->start);
}

static void restore_usage(void)
{
	fprintf(stderr,
		"usage: coffer restore (--repo DIR | --dataset NAME) SNAP --target DIR [--include PATH]... [--threads N]\n"
		"       coffer restore (--repo DIR | --dataset NAME) SNAP --to-archive FILE|- [--format pax|cpio|zip]\n"
		"       coffer restore --dataset NAME [--run-dir DIR] [--detach] SNAP --target DIR [--include PATH]...\n"
		"SNAP is a snapshot ID, a unique prefix of one, or 'latest'.\n"
		"--threads: threads reading, decrypting and writing file content\n"
		"           (default: the number of cores; an archive is written by one)\n"
		"Through the daemons (--run-dir or COFFER_RUN_DIR), coffer-restored writes the\n"
		"target and --detach returns once the job is queued.\n");
}

/*
 * The absolute form of target for a daemon, which does not share our
 * working directory: the real path when it exists, else its parent's
 * real path and its last name (the restore creates it), else the path
 * joined to the working directory. 0, or -1 after saying why.
 */
static int absolute_target(const char *target, char out[PATH_MAX])
{
	char parent[PATH_MAX], base[PATH_MAX], real[PATH_MAX], cwd[PATH_MAX];
	if (realpath(target, out) != NULL)
		return 0;
	if (errno == ENOENT && strlen(target) < sizeof parent) {
		/* dirname and basename may modify their argument: one copy each. */
		snprintf(parent, sizeof parent, "%s", target);
		snprintf(base, sizeof base, "%s", target);
		const char *b = basename(base);
		if (strcmp(b, ".") != 0 && strcmp(b, "..") != 0 && strcmp(b, "/") != 0 &&
		    realpath(dirname(parent), real) != NULL &&
		    (size_t)snprintf(out, PATH_MAX, "%s/%s", strcmp(real, "/") == 0 ? "" : real,
				     b) < PATH_MAX)
			return 0;
	}
	if (target[0] == '/') {
		if (strlen(target) < PATH_MAX) {
			snprintf(out, PATH_MAX, "%s", target);
			return 0;
		}
	} else if (getcwd(cwd, sizeof cwd) != NULL &&
		   (size_t)snprintf(out, PATH_MAX, "%s/%s", cwd, target) < PATH_MAX) {
		return 0;
	}
	log_errorx("cannot make the target %s an absolute path: %s", target,
		   strlen(target) >= PATH_MAX ? "name too long" : strerror(errno));
	return -1;
}

/*
 * The restore as a job of coffer-restored: queued, then followed with
 * live progress until it ends (unless detach). Exit 0 only when every
 * item was restored.
 */
static int restore_via_daemon(const struct common_opts *c, const char *snap,
			      const char *target, char **includes, size_t n_inc, bool detach)
{
	struct ipc_client *cl;
	struct ipc_writer w;
	int rc;
	char abs[PATH_MAX];
	if (absolute_target(target, abs) != 0 || (cl = console_connect(c, "restored")) == NULL)
		return EXIT_FAIL;
	ipc_writer_init(&w, IPC_RESTORE, ipc_next_reqid(cl));
	ipc_put_str(&w, c->dataset);
	ipc_put_str(&w, snap);
	ipc_put_str(&w, abs);
	ipc_put_list(&w, (uint32_t)n_inc);
	for (size_t i = 0; i < n_inc; i++)
		ipc_put_str(&w, includes[i]);
	ipc_put_u8(&w, !detach);
	rc = console_run_job(cl, "restored", &w, "restore", c, detach, NULL);
	ipc_writer_fini(&w);
	ipc_close(cl);
	return rc;
}

/* Whether the arguments suit a restore through the daemons; says why not. */
static bool daemon_args_ok(const char *archive, bool threads_given, int n_args,
			   const char *target, char **includes, size_t n_inc)
{
	if (archive != NULL) {
		log_errorx("--to-archive is not taken by the daemons; run it in direct mode "
			   "(without --run-dir or COFFER_RUN_DIR)");
		return false;
	}
	if (threads_given) {
		log_errorx("--threads is for direct mode; coffer-restored chooses its own");
		return false;
	}
	if (n_args != 1 || target == NULL) {
		restore_usage();
		return false;
	}
	for (size_t i = 0; i < n_inc; i++)
		if (includes[i][0] != '/') {
			log_errorx("--include %s: give the path as stored, starting with '/'",
				   includes[i]);
			return false;
		}
	return true;
}

int cmd_restore(int argc, char **argv)
{
	static const struct option longopts[] = {
		COMMON_LONGOPTS,
		{ "target", required_argument, NULL, 'T' },
		{ "include", required_argument, NULL, 'i' },
		{ "to-archive", required_argument, NULL, 'A' },
		{ "format", required_argument, NULL, 'f' },
		{ "threads", required_argument, NULL, 'n' },
		{ "detach", no_argument, NULL, 'd' },
		{ NULL, 0, NULL, 0 },
	};
	struct common_opts c = { 0 };
	const char *target = NULL, *archive = NULL, *format = "pax";
	char **includes = NULL;
	size_t n_inc = 0;
	unsigned threads = 0; /* 0: restore_to_dir uses one per core */
	bool detach = false, threads_given = false;
	int opt;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (common_opt(&c, opt, optarg))
			continue;
		switch (opt) {
		case 'T': target = optarg; break;
		case 'A': archive = optarg; break;
		case 'f': format = optarg; break;
		case 'd': detach = true; break;
		case 'n':
			if (parse_threads(optarg, &threads) != 0) {
				free(includes);
				return EXIT_USAGE;
			}
			threads_given = true;
			break;
		case 'i': {
			char **ni = realloc(includes, (n_inc + 1) * sizeof *ni);
			if (ni == NULL) {
				free(includes);
				return EXIT_FAIL;
			}
			includes = ni;
			includes[n_inc++] = optarg;
			break;
		}
		case 'h': restore_usage(); free(includes); return EXIT_OK;
		default: restore_usage(); free(includes); return EXIT_USAGE;
		}
	}
	if (c.dataset != NULL && c.repo == NULL && console_run_dir(&c) != NULL) {
		int rc = EXIT_USAGE;
		if (daemon_args_ok(archive, threads_given, argc - optind, target, includes, n_inc))
			rc = restore_via_daemon(&c, argv[optind], target, includes, n_inc, detach);
		free(includes);
		return rc;
	}
	enum archive_fmt fmt;
	if (common_require_target(&c, "restore") != 0 || argc - optind != 1 ||
	    (target == NULL) == (archive == NULL)) {
		restore_usage();
		free(includes);
		return EXIT_USAGE;
	}
	if (archive_fmt_parse(format, &fmt) != 0) {
		log_errorx("unknown archive format '%s' (use pax, cpio or zip)", format);
		free(includes);
		return EXIT_USAGE;
	}
	for (size_t i = 0; i < n_inc; i++)
		if (includes[i][0] != '/') {
			log_errorx("--include %s: give the path as stored, starting with '/'",
				   includes[i]);
			free(includes);
			return EXIT_USAGE;
		}
	struct repo *r = console_open_repo(&c);
	if (r == NULL) {
		free(includes);
		return EXIT_FAIL;
	}
	int rc = EXIT_FAIL, fd = -1;
	struct snapshot s;
	uint8_t id[32];
	snapshot_init(&s);
	int e = repo_load_index(r);
	if (e == -EBADMSG)
		log_warnx("some index files are damaged; files whose data they list "
			  "cannot be restored");
	else if (e != 0)
		goto out;
	if (console_load_snapshot(r, argv[optind], id, &s) != 0)
		goto out;
	struct restore_ui ui = { .start = console_now_ns() };
	struct restore_opts o = { .includes = includes, .n_includes = n_inc, .threads = threads };
	struct restore_result res = { 0 };
	if (progress_enabled(&c) && !(archive && strcmp(archive, "-") == 0)) {
		o.progress = restore_show_progress;
		o.progress_arg = &ui;
	}
	if (target != NULL) {
		e = restore_to_dir(r, &s, target, &o, &res);
	} else {
		fd = strcmp(archive, "-") == 0
			     ? STDOUT_FILENO
			     : open(archive, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0) {
			log_errorx("cannot create %s: %s", archive, strerror(errno));
			goto out;
		}
		e = restore_to_archive(r, &s, fd, fmt, &o, &res);
	}
	if (ui.shown)
		progress_clear();
	if (e != 0) {
		log_errorx("restore failed: %s", coffer_strerror(e));
		goto out;
	}
	/* Summaries go to stderr when the archive itself goes to stdout. */
	FILE *out = fd == STDOUT_FILENO ? stderr : stdout;
	char hex[65], b[32];
	hex_encode(id, 32, hex);
	if (c.json)
		fprintf(out, "{\"snapshot\":\"%s\",\"files\":%llu,\"dirs\":%llu,\"others\":%llu,"
			     "\"bytes\":%llu,\"errors\":%llu}\n", hex,
			(unsigned long long)res.files, (unsigned long long)res.dirs,
			(unsigned long long)res.others, (unsigned long long)res.bytes,
			(unsigned long long)res.errors);
	else if (!c.quiet)
		fprintf(out, "restored snapshot %.8s: %llu files, %llu directories, %llu other, %s\n",
			hex, (unsigned long long)res.files, (unsigned long long)res.dirs,
			(unsigned long long)res.others, fmt_bytes(res.bytes, b, sizeof b));
	if (res.errors) {
		log_errorx("%llu items could not be restored (named above)",
			   (unsigned long long)res.errors);
		goto out;
	}
	rc = EXIT_OK;
out:
	if (fd >= 0 && fd != STDOUT_FILENO && close(fd) != 0 && rc == EXIT_OK) {
		log_errorx("cannot write %s: %s", archive, strerror(errno));
		rc = EXIT_FAIL;
	}
	snapshot_fini(&s);
	repo_close(r);
	free(includes);
	return rc;
}
