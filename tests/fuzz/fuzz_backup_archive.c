/*
 * Fuzzes backup_archive: the input is handed over as an archive (through a
 * memfd, so it looks like a regular file and the seeking zip reader runs
 * too) and ingested into a real repository made once in a temporary
 * directory. Whatever the input, the call must return (0 or a negative
 * errno), never crash or leak, and a snapshot it reports must load.
 *
 * To keep the disk and the in-memory index small over millions of runs,
 * snapshots are removed again and the repository is remade every
 * FUZZ_REMAKE runs.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "backup/backup.h"
#include "util/log.h"

#define FUZZ_REMAKE 256

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char fuzz_dir[64];
static char fuzz_repo_dir[96];
static struct repo *fuzz_repo;
static unsigned fuzz_runs;

static void fuzz_rm_repo(void)
{
	char cmd[160];

	if (fuzz_dir[0] == '\0')
		return;
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", fuzz_repo_dir);
	if (system(cmd) != 0)
		abort();
}

static void fuzz_cleanup(void)
{
	repo_close(fuzz_repo);
	fuzz_repo = NULL;
	fuzz_rm_repo();
	if (fuzz_dir[0] != '\0')
		rmdir(fuzz_dir);
}

static void fuzz_make_repo(void)
{
	struct repo_init_opts o;

	repo_init_opts_default(&o);
	o.scrypt_n = 1024;
	o.chunk_min = 256;
	o.chunk_avg = 1024;
	o.chunk_max = 4096;
	if (repo_init(fuzz_repo_dir, "fuzz", 4, &o) != 0 ||
	    repo_open(fuzz_repo_dir, "fuzz", 4, &fuzz_repo) != 0 ||
	    repo_load_index(fuzz_repo) != 0)
		abort();
}

static void fuzz_init(void)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(fuzz_dir, sizeof fuzz_dir, "%s/coffer-fuzz-XXXXXX",
		 tmp != NULL && strlen(tmp) < 30 ? tmp : "/tmp");
	if (mkdtemp(fuzz_dir) == NULL)
		abort();
	snprintf(fuzz_repo_dir, sizeof fuzz_repo_dir, "%s/repo", fuzz_dir);
	/* Every malformed input is reported: keep only errors. */
	log_init("fuzz", LOG_LVL_ERROR);
	fuzz_make_repo();
	atexit(fuzz_cleanup);
}

/*
 * libarchive 3.6 sizes a read-ahead buffer from a header field before it
 * knows the input holds that much: a cpio name may claim 4 GiB (fixed
 * upstream by "cpio: reject oversized pathnames before read-ahead"). The
 * memory is only reserved, never touched, and the read then fails as
 * truncated; so libFuzzer's malloc limit is raised above 4 GiB here while
 * its RSS limit stays. A -malloc_limit_mb given on the command line still
 * wins (it comes later). The replay driver does not call this.
 */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static char flag[] = "-malloc_limit_mb=8192";
	static char *args[256];
	int n = *argc;

	if (n < 1 || n + 2 > (int)(sizeof args / sizeof args[0]))
		return 0;
	args[0] = (*argv)[0];
	args[1] = flag;
	for (int i = 1; i < n; i++)
		args[i + 1] = (*argv)[i];
	args[n + 1] = NULL;
	*argc = n + 1;
	*argv = args;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct backup_result res;
	int fd, r;

	if (fuzz_repo == NULL)
		fuzz_init();
	if (++fuzz_runs % FUZZ_REMAKE == 0) {
		repo_close(fuzz_repo);
		fuzz_repo = NULL;
		fuzz_rm_repo();
		fuzz_make_repo();
	}
	fd = memfd_create("archive", MFD_CLOEXEC);
	if (fd < 0)
		abort();
	if (size > 0 && write(fd, data, size) != (ssize_t)size)
		abort();
	if (lseek(fd, 0, SEEK_SET) != 0)
		abort();

	memset(&res, 0, sizeof res);
	r = backup_archive(fuzz_repo, fd, "fuzz.tar", NULL, &res);
	close(fd);
	if (r > 0)
		abort();
	if (r == 0) {
		struct snapshot s;

		snapshot_init(&s);
		if (repo_snapshot_load(fuzz_repo, res.snapshot_id, &s) != 0)
			abort();
		snapshot_fini(&s);
		if (repo_snapshot_remove(fuzz_repo, res.snapshot_id) != 0)
			abort();
	}
	return 0;
}
