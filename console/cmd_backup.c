/* coffer backup (--repo DIR | --dataset NAME) [--tag T]... (PATH... | --from-archive FILE|-) */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backup/backup.h"
#include "console.h"
#include "daemon.h"
#include "util/hex.h"
#include "util/log.h"

struct backup_ui {
	uint64_t start;
	bool shown;
};

static void backup_show_progress(const struct backup_progress *p, void *arg)
{
	struct backup_ui *ui = arg;
	ui->shown = true;
	/* The parent's size is the ETA's guess of the total. */
	progress_line("backup", p->files, "files", p->bytes_done, p->bytes_total_hint,
		      p->errors, ui->start);
}

static void backup_usage(void)
{
	fprintf(stderr, "usage: coffer backup (--repo DIR | --dataset NAME) [--tag TAG]... [--threads N] PATH...\n"
			"       coffer backup (--repo DIR | --dataset NAME) [--tag TAG]... [--threads N] --from-archive FILE|-\n"
			"       coffer backup --dataset NAME [--run-dir DIR] [--detach] [--tag TAG]... [PATH...]\n"
			"--threads: compression and encryption workers (default: the number of cores)\n"
			"Through the daemons (--run-dir or COFFER_RUN_DIR), the paths default to the\n"
			"dataset policy's sources and --detach returns once the job is queued.\n");
}

/*
 * The backup as a job of coffer-backupd: queued, then followed with live
 * progress until it ends (unless detach). Exit 3 when it ran but some
 * source items could not be read.
 */
static int backup_via_daemon(const struct common_opts *c, char **paths, size_t n_paths,
			     char **tags, size_t n_tags, bool detach)
{
	struct ipc_client *cl = console_connect(c, "backupd");
	struct ipc_writer w;
	int rc = EXIT_FAIL;
	char abs[PATH_MAX];
	if (cl == NULL)
		return EXIT_FAIL;
	ipc_writer_init(&w, IPC_BACKUP, ipc_next_reqid(cl));
	ipc_put_str(&w, c->dataset);
	ipc_put_list(&w, (uint32_t)n_paths);
	for (size_t i = 0; i < n_paths; i++) {
		/* The daemon reads the path as it is; relative means relative to here. */
		if (realpath(paths[i], abs) == NULL) {
			log_errorx("cannot back up %s: %s", paths[i], strerror(errno));
			goto out;
		}
		ipc_put_str(&w, abs);
	}
	ipc_put_list(&w, (uint32_t)n_tags);
	for (size_t i = 0; i < n_tags; i++)
		ipc_put_str(&w, tags[i]);
	ipc_put_str(&w, "");
	ipc_put_u32(&w, 1);
	ipc_put_u8(&w, !detach);
	struct job_end end = { "", "", "" };
	rc = console_run_job(cl, "backupd", &w, "backup", c, detach, &end);
	if (rc == EXIT_OK && strstr(end.message, "could not be read") != NULL)
		rc = EXIT_PARTIAL;
out:
	ipc_writer_fini(&w);
	ipc_close(cl);
	return rc;
}

static void print_result(const struct common_opts *c, const struct backup_result *res)
{
	const struct snapshot_stats *s = &res->stats;
	char id[65], b1[32], b2[32], b3[32];
	hex_encode(res->snapshot_id, 32, id);
	if (c->json) {
		printf("{\"snapshot\":\"%s\",\"parent\":", id);
		if (res->has_parent)
			json_hex(stdout, res->parent, 32);
		else
			printf("null");
		printf(",\"files\":%llu,\"dirs\":%llu,\"others\":%llu,\"bytes\":%llu,"
		       "\"bytes_read\":%llu,\"blobs_added\":%llu,\"bytes_added\":%llu,"
		       "\"stored_added\":%llu,\"errors\":%llu,\"duration_s\":%.3f}\n",
		       (unsigned long long)s->files, (unsigned long long)s->dirs,
		       (unsigned long long)s->others, (unsigned long long)s->bytes,
		       (unsigned long long)s->bytes_read, (unsigned long long)s->blobs_added,
		       (unsigned long long)s->bytes_added, (unsigned long long)s->stored_added,
		       (unsigned long long)s->errors, (double)s->duration_ns / 1e9);
		return;
	}
	if (c->quiet)
		return;
	printf("snapshot %s saved\n", id);
	printf("  %llu files, %llu directories, %llu other, %s in all\n",
	       (unsigned long long)s->files, (unsigned long long)s->dirs,
	       (unsigned long long)s->others, fmt_bytes(s->bytes, b1, sizeof b1));
	printf("  read %s, added %s of new data (%s stored) in %.1f s\n",
	       fmt_bytes(s->bytes_read, b2, sizeof b2), fmt_bytes(s->bytes_added, b1, sizeof b1),
	       fmt_bytes(s->stored_added, b3, sizeof b3), (double)s->duration_ns / 1e9);
	if (s->errors)
		printf("  %llu items could not be read (named above)\n",
		       (unsigned long long)s->errors);
}

int cmd_backup(int argc, char **argv)
{
	static const struct option longopts[] = {
		COMMON_LONGOPTS,
		{ "tag", required_argument, NULL, 't' },
		{ "from-archive", required_argument, NULL, 'A' },
		{ "threads", required_argument, NULL, 'T' },
		{ "detach", no_argument, NULL, 'd' },
		{ NULL, 0, NULL, 0 },
	};
	struct common_opts c = { 0 };
	char **tags = NULL;
	size_t n_tags = 0;
	const char *archive = NULL;
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned threads = cores > 0 ? (unsigned)cores : 1;
	int opt, rc = EXIT_FAIL;
	bool detach = false;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (common_opt(&c, opt, optarg))
			continue;
		switch (opt) {
		case 't': {
			char **nt = realloc(tags, (n_tags + 1) * sizeof *nt);
			if (nt == NULL) {
				free(tags);
				return EXIT_FAIL;
			}
			tags = nt;
			tags[n_tags++] = optarg;
			break;
		}
		case 'A': archive = optarg; break;
		case 'd': detach = true; break;
		case 'T':
			if (parse_threads(optarg, &threads) != 0) {
				free(tags);
				return EXIT_USAGE;
			}
			break;
		case 'h': backup_usage(); free(tags); return EXIT_OK;
		default: backup_usage(); free(tags); return EXIT_USAGE;
		}
	}
	int n_paths = argc - optind;
	if (c.dataset != NULL && c.repo == NULL && console_run_dir(&c) != NULL) {
		if (archive != NULL) {
			log_errorx("--from-archive is not taken by the daemons yet; run it in direct "
				   "mode (without --run-dir)");
			free(tags);
			return EXIT_USAGE;
		}
		rc = backup_via_daemon(&c, argv + optind, (size_t)n_paths, tags, n_tags, detach);
		free(tags);
		return rc;
	}
	if (common_require_target(&c, "backup") != 0 ||
	    (archive == NULL && n_paths == 0) || (archive != NULL && n_paths != 0)) {
		backup_usage();
		free(tags);
		return EXIT_USAGE;
	}
	struct repo *r = console_open_repo(&c);
	if (r == NULL) {
		free(tags);
		return EXIT_FAIL;
	}
	struct backup_ui ui = { .start = console_now_ns() };
	struct backup_opts o = { .tags = tags, .n_tags = n_tags };
	struct backup_result res = { 0 };
	if (progress_enabled(&c)) {
		o.progress = backup_show_progress;
		o.progress_arg = &ui;
	}
	/* Workers compress and encrypt while this thread reads, chunks and
	 * computes IDs. */
	int e = repo_set_threads(r, threads);
	if (e != 0) {
		log_errorx("cannot start %u threads: %s", threads, coffer_strerror(e));
		goto out;
	}
	e = repo_load_index(r);
	if (e == -EBADMSG) {
		/* Damaged index files only cost deduplication; check names them. */
		log_warnx("some index files are damaged; run 'coffer check'");
		e = 0;
	}
	if (e != 0) {
		log_errorx("cannot load the index: %s", coffer_strerror(e));
		goto out;
	}
	if (archive != NULL) {
		int fd = strcmp(archive, "-") == 0 ? STDIN_FILENO
						  : open(archive, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			log_errorx("cannot open %s: %s", archive, strerror(errno));
			goto out;
		}
		e = backup_archive(r, fd, archive, &o, &res);
		if (fd != STDIN_FILENO)
			close(fd);
	} else {
		e = backup_paths(r, argv + optind, (size_t)n_paths, &o, &res);
	}
	if (ui.shown)
		progress_clear();
	if (e != 0)
		goto out;
	print_result(&c, &res);
	rc = res.stats.errors ? EXIT_PARTIAL : EXIT_OK;
out:
	repo_close(r);
	free(tags);
	return rc;
}
