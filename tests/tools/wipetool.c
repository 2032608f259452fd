/*
 * wipetool: drives the overwrite engine and the device checks of
 * core/erase for the integration tests and bench/erase.sh, until the
 * console's `coffer erase device` (which goes through the approval
 * workflow) exists. Never installed.
 *
 *   wipetool probe DEV
 *       prints what device_probe found, one key=value a line
 *   wipetool device DEV zero|random|bmb21 [--pattern P] [--progress]
 *       probes, opens DEV exclusively and overwrites and verifies all of it
 *   wipetool purge DEV
 *       probes, opens, and runs device_purge (exit 3: not supported)
 *   wipetool file DIR NAME zero|random|bmb21 [--pattern P] [--progress]
 *       wipe_file_at: overwrite, verify, unlink, fsync DIR
 *
 * The result (struct wipe_result) is printed as key=value lines. Exit 0 on
 * success, 1 on failure or refusal (the reason on stderr), 2 on a usage
 * error, 3 when Purge is not supported.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "erase/device.h"
#include "erase/wipe.h"
#include "io/engine.h"
#include "util/log.h"

static int usage(void)
{
	fprintf(stderr, "usage: wipetool probe DEV\n"
			"       wipetool device DEV zero|random|bmb21 [--pattern P] [--progress]\n"
			"       wipetool purge DEV\n"
			"       wipetool file DIR NAME zero|random|bmb21 [--pattern P] [--progress]\n");
	return 2;
}

static void print_info(const struct device_info *d)
{
	printf("name=%s\ndisk=%s\ndevno=%u:%u\npartition=%s\nsize=%llu\n", d->name, d->disk,
	       d->major, d->minor, d->partition ? "yes" : "no", (unsigned long long)d->size);
	printf("logical_sector=%u\nphysical_sector=%u\nrotational=%d\ndiscard_max=%llu\n",
	       d->logical_sector, d->physical_sector, d->rotational,
	       (unsigned long long)d->discard_max);
	printf("secure_erase=%s\nnvme=%s\nmodel=%s\nserial=%s\n", d->secure_erase ? "yes" : "no",
	       d->nvme ? "yes" : "no", d->model, d->serial);
}

static void print_result(const struct wipe_result *r)
{
	printf("method=%s\nnist=%s\npattern=%s\ntarget=%s\nfs=%s\npasses=%u\npasses_done=%u\n",
	       r->method, r->nist, r->pattern, r->target, r->fs, r->passes, r->passes_done);
	printf("length=%llu\n", (unsigned long long)r->length);
	for (unsigned i = 0; i < r->passes && i < WIPE_MAX_PASSES; i++)
		printf("pass%u_bytes=%llu\n", i + 1, (unsigned long long)r->pass_bytes[i]);
	printf("direct_write=%s\nread_path=%s\nverify=%s\nverified_bytes=%llu\n",
	       r->direct_write ? "yes" : "no", wipe_read_path_name(r->read_path),
	       wipe_verify_name(r->verify), (unsigned long long)r->verified_bytes);
	if (r->verify == WIPE_VERIFY_MISMATCH)
		printf("mismatch_offset=%llu\n", (unsigned long long)r->mismatch_offset);
	printf("error=%d\nelapsed_ns=%llu\nverify_ns=%llu\nengine=%s\nnote=%s\n", r->error,
	       (unsigned long long)r->elapsed_ns, (unsigned long long)r->verify_ns,
	       io_engine()->name, r->note);
}

static void on_progress(void *arg, uint64_t done, uint64_t total, unsigned pass, unsigned passes)
{
	(void)arg;
	if (pass > passes)
		fprintf(stderr, "verifying: %llu / %llu MiB\n", (unsigned long long)(done >> 20),
			(unsigned long long)(total >> 20));
	else
		fprintf(stderr, "pass %u/%u: %llu / %llu MiB\n", pass, passes,
			(unsigned long long)(done >> 20), (unsigned long long)(total >> 20));
}

/* Method and options from argv[i...]. */
static int wipe_args(int argc, char **argv, int i, struct wipe_opts *o, struct wipe_pattern *pat)
{
	if (i >= argc || wipe_method_parse(argv[i], &o->method) != 0)
		return usage();
	for (i++; i < argc; i++) {
		if (strcmp(argv[i], "--progress") == 0) {
			o->progress = on_progress;
		} else if (strcmp(argv[i], "--pattern") == 0 && i + 1 < argc) {
			if (wipe_pattern_parse(argv[++i], pat) != 0) {
				fprintf(stderr, "wipetool: bad pattern '%s'\n", argv[i]);
				return 2;
			}
			o->pattern = pat;
		} else {
			return usage();
		}
	}
	return 0;
}

static int open_device(const char *path, struct device_info *d, int *fd)
{
	int e = device_probe(path, d);
	if (e != 0) {
		fprintf(stderr, "wipetool: refused: %s\n", d->why);
		return 1;
	}
	if ((e = device_open(d, fd)) != 0) {
		fprintf(stderr, "wipetool: %s: %s\n", path, strerror(-e));
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct device_info d;
	struct wipe_result r;
	struct wipe_opts o = { 0 };
	struct wipe_pattern pat;
	int fd, e, rc;

	log_init("wipetool", LOG_LVL_INFO);
	if (argc < 3)
		return usage();
	if (io_engine_init() != 0)
		return 1;
	if (strcmp(argv[1], "probe") == 0 && argc == 3) {
		if (device_probe(argv[2], &d) != 0) {
			fprintf(stderr, "wipetool: refused: %s\n", d.why);
			return 1;
		}
		print_info(&d);
		return 0;
	}
	if (strcmp(argv[1], "device") == 0) {
		if ((rc = wipe_args(argc, argv, 3, &o, &pat)) != 0)
			return rc;
		if ((rc = open_device(argv[2], &d, &fd)) != 0)
			return rc;
		e = wipe_fd_ex(fd, WIPE_WHOLE, &o, &r);
		close(fd);
	} else if (strcmp(argv[1], "purge") == 0 && argc == 3) {
		if ((rc = open_device(argv[2], &d, &fd)) != 0)
			return rc;
		e = device_purge(fd, &d, &r);
		close(fd);
	} else if (strcmp(argv[1], "file") == 0 && argc >= 5) {
		if ((rc = wipe_args(argc, argv, 4, &o, &pat)) != 0)
			return rc;
		int dfd = open(argv[2], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0) {
			fprintf(stderr, "wipetool: %s: %s\n", argv[2], strerror(errno));
			return 1;
		}
		e = wipe_file_at_ex(dfd, argv[3], &o, &r);
		close(dfd);
	} else {
		return usage();
	}
	print_result(&r);
	if (e != 0) {
		fprintf(stderr, "wipetool: %s: %s%s%s\n", argv[2], coffer_strerror(e),
			r.note[0] ? ": " : "", r.note);
		return e == -EOPNOTSUPP ? 3 : 1;
	}
	return 0;
}
