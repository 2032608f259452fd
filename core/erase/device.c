/*
 * Block device probing, refusals and Purge (see device.h).
 *
 * What the kernel knows about a device is read from sysfs
 * (/sys/dev/block/MAJ:MIN, a partition's queue/ being its disk's) and
 * ioctls on a read-only descriptor. Whether secure erase is supported is
 * asked with a BLKSECDISCARD of an invalid range (length 1): the kernel
 * answers -EOPNOTSUPP before it looks at the range when the device has
 * none, and -EINVAL (nothing done) when it has one. That needs a
 * descriptor open for writing, which is opened exclusively, after the
 * mount checks, so it is also the kernel's own check that nothing holds
 * the device.
 */
#include "erase/device.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "io/engine.h"

/* Blocks device_purge samples, and their size. */
#define PURGE_SAMPLES 64
#define PURGE_SAMPLE_LEN 4096u
/* BLKSECDISCARD in pieces of this size (so a failure says where). */
#define PURGE_PIECE ((uint64_t)1 << 30)

static int why(struct device_info *d, int e, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int why(struct device_info *d, int e, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(d->why, sizeof d->why, fmt, ap);
	va_end(ap);
	return e;
}

/* The first line of a sysfs file, without its newline; -errno if unreadable. */
static int sysfs_read(const char *dir, const char *file, char *buf, size_t cap)
{
	char path[PATH_MAX];
	if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, file) >= sizeof path)
		return -ENAMETOOLONG;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, cap - 1);
	int e = n < 0 ? -errno : 0;
	close(fd);
	if (e != 0)
		return e;
	buf[n] = 0;
	buf[strcspn(buf, "\n")] = 0;
	/* Trailing blanks (SCSI model strings are padded). */
	for (size_t k = strlen(buf); k > 0 && buf[k - 1] == ' '; k--)
		buf[k - 1] = 0;
	return 0;
}

static int sysfs_u64(const char *dir, const char *file, uint64_t *out)
{
	char b[32], *end;
	int e = sysfs_read(dir, file, b, sizeof b);
	if (e != 0)
		return e;
	errno = 0;
	unsigned long long v = strtoull(b, &end, 10);
	if (errno != 0 || end == b)
		return -EINVAL;
	*out = v;
	return 0;
}

static bool exists_at(const char *dir, const char *file)
{
	char path[PATH_MAX];
	if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, file) >= sizeof path)
		return false;
	return access(path, F_OK) == 0;
}

/* "MAJ:MIN" into a dev_t. */
static int parse_devno(const char *s, dev_t *out)
{
	unsigned ma, mi;
	char tail;
	if (sscanf(s, "%u:%u%c", &ma, &mi, &tail) != 2)
		return -EINVAL;
	*out = makedev(ma, mi);
	return 0;
}

/* Whether path names a block device whose number is dev. */
static bool is_blockdev(const char *path, dev_t dev)
{
	struct stat st;
	return path[0] == '/' && stat(path, &st) == 0 && S_ISBLK(st.st_mode) && st.st_rdev == dev;
}

/*
 * Whether a filesystem on dev is mounted (in this mount namespace): its
 * mountinfo line has dev as major:minor, or dev as its source (btrfs
 * reports an anonymous device number). *at gets the mount point.
 */
static int mounted_at(dev_t dev, char *at, size_t cap)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	if (f == NULL)
		return -errno;
	char *line = NULL;
	size_t lcap = 0;
	int found = 0;
	while (!found && getline(&line, &lcap, f) > 0) {
		/* ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [TAGS...] - TYPE SOURCE SUPER */
		char *save = NULL, *tok[5] = { NULL };
		char *p = strtok_r(line, " \n", &save);
		for (int i = 0; i < 5 && p != NULL; i++, p = strtok_r(NULL, " \n", &save))
			tok[i] = p;
		if (tok[4] == NULL)
			continue;
		char *source = NULL;
		for (; p != NULL; p = strtok_r(NULL, " \n", &save)) {
			if (strcmp(p, "-") == 0) {
				(void)strtok_r(NULL, " \n", &save); /* type */
				source = strtok_r(NULL, " \n", &save);
				break;
			}
		}
		dev_t d;
		if ((parse_devno(tok[2], &d) == 0 && d == dev) ||
		    (source != NULL && is_blockdev(source, dev))) {
			snprintf(at, cap, "%s", tok[4]);
			found = 1;
		}
	}
	free(line);
	fclose(f);
	return found;
}

/* Whether dev is active swap. */
static bool swap_on(dev_t dev)
{
	FILE *f = fopen("/proc/swaps", "re");
	if (f == NULL)
		return false;
	char path[4096];
	bool found = false;
	int c;
	while ((c = fgetc(f)) != EOF && c != '\n') /* header line */
		;
	while (!found && fscanf(f, "%4095s%*[^\n]", path) == 1)
		found = is_blockdev(path, dev);
	fclose(f);
	return found;
}

/* The first entry of sysdir/holders, if any, into name. */
static bool held_by(const char *sysdir, char *name, size_t cap)
{
	char path[PATH_MAX];
	if ((size_t)snprintf(path, sizeof path, "%s/holders", sysdir) >= sizeof path)
		return false;
	DIR *d = opendir(path);
	if (d == NULL)
		return false;
	struct dirent *e;
	bool found = false;
	while (!found && (e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(name, cap, "%s", e->d_name);
		found = true;
	}
	closedir(d);
	return found;
}

/* The refusals for one device (the probed one or a partition of it). */
static int check_free(struct device_info *d, const char *sysdir, const char *name, dev_t dev,
		      bool part_of)
{
	char at[256], holder[NAME_MAX + 1];
	const char *what = part_of ? "its partition " : "";
	int m = mounted_at(dev, at, sizeof at);
	if (m < 0)
		return why(d, m, "%s: cannot read /proc/self/mountinfo: %s", d->path,
			   strerror(-m));
	if (m > 0)
		return why(d, -EBUSY, "%s: %s%s (%u:%u) is mounted at %s", d->path, what, name,
			   major(dev), minor(dev), at);
	if (swap_on(dev))
		return why(d, -EBUSY, "%s: %s%s (%u:%u) is active swap", d->path, what, name,
			   major(dev), minor(dev));
	if (held_by(sysdir, holder, sizeof holder))
		return why(d, -EBUSY, "%s: %s%s is in use by %s (device-mapper, md or LVM)",
			   d->path, what, name, holder);
	return 0;
}

/* Each partition of the whole disk at sysdir must be free too. */
static int check_partitions(struct device_info *d, const char *sysdir)
{
	DIR *dir = opendir(sysdir);
	if (dir == NULL)
		return why(d, -errno, "%s: cannot list %s: %s", d->path, sysdir, strerror(errno));
	struct dirent *e;
	int r = 0;
	while (r == 0 && (e = readdir(dir)) != NULL) {
		char sub[PATH_MAX], devno[32];
		dev_t pd;
		if (e->d_name[0] == '.')
			continue;
		if ((size_t)snprintf(sub, sizeof sub, "%s/%s", sysdir, e->d_name) >= sizeof sub)
			continue;
		if (!exists_at(sub, "partition") || sysfs_read(sub, "dev", devno, sizeof devno) != 0 ||
		    parse_devno(devno, &pd) != 0)
			continue;
		r = check_free(d, sub, e->d_name, pd, true);
	}
	closedir(dir);
	return r;
}

int device_probe(const char *path, struct device_info *out)
{
	struct device_info d = { 0 };
	char sysdir[PATH_MAX], link[64], diskdir[PATH_MAX];
	struct stat st;
	int e, fd = -1;

	snprintf(d.path, sizeof d.path, "%s", path);
	if (stat(path, &st) != 0) {
		e = why(&d, -errno, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISBLK(st.st_mode)) {
		e = why(&d, -ENOTBLK, "%s is not a block device (%s)", path,
			S_ISREG(st.st_mode)   ? "a regular file"
			: S_ISDIR(st.st_mode) ? "a directory"
			: S_ISCHR(st.st_mode) ? "a character device"
					      : "not a device");
		goto out;
	}
	d.major = major(st.st_rdev);
	d.minor = minor(st.st_rdev);
	snprintf(link, sizeof link, "/sys/dev/block/%u:%u", d.major, d.minor);
	if (realpath(link, sysdir) == NULL) {
		e = why(&d, -errno, "%s: no sysfs entry %s: %s", path, link, strerror(errno));
		goto out;
	}
	snprintf(d.name, sizeof d.name, "%s", strrchr(sysdir, '/') + 1);
	d.partition = exists_at(sysdir, "partition");
	snprintf(diskdir, sizeof diskdir, "%s", sysdir);
	if (d.partition)
		*strrchr(diskdir, '/') = 0;
	snprintf(d.disk, sizeof d.disk, "%s", strrchr(diskdir, '/') + 1);
	d.nvme = strncmp(d.disk, "nvme", 4) == 0;

	if ((e = check_free(&d, sysdir, d.name, st.st_rdev, false)) != 0)
		goto out;
	if (!d.partition && (e = check_partitions(&d, sysdir)) != 0)
		goto out;

	/* The kernel's own check, and a descriptor to probe secure erase with. */
	fd = open(path, O_WRONLY | O_EXCL | O_CLOEXEC);
	if (fd < 0) {
		e = errno == EBUSY ? why(&d, -EBUSY, "%s is in use: the kernel refuses to open it "
						    "exclusively (mounted in another mount "
						    "namespace, or held open exclusively)", path)
				   : why(&d, -errno, "%s: %s", path, strerror(errno));
		goto out;
	}
	int ss = 0, ps = 0;
	if (ioctl(fd, BLKGETSIZE64, &d.size) != 0 || ioctl(fd, BLKSSZGET, &ss) != 0 ||
	    ioctl(fd, BLKPBSZGET, &ps) != 0) {
		e = why(&d, -errno, "%s: size ioctls: %s", path, strerror(errno));
		goto out;
	}
	if (d.size == 0) {
		e = why(&d, -ENOMEDIUM, "%s has no media (size 0)", path);
		goto out;
	}
	d.logical_sector = (unsigned)ss;
	d.physical_sector = (unsigned)ps;
	uint64_t rot;
	d.rotational = sysfs_u64(diskdir, "queue/rotational", &rot) == 0 ? rot != 0 : -1;
	if (sysfs_u64(diskdir, "queue/discard_max_bytes", &d.discard_max) != 0)
		d.discard_max = 0;
	uint64_t range[2] = { 0, 1 }; /* invalid length: refused before anything is done */
	d.secure_erase = ioctl(fd, BLKSECDISCARD, range) != 0 && errno == EINVAL;
	(void)sysfs_read(diskdir, "device/model", d.model, sizeof d.model);
	(void)sysfs_read(diskdir, "device/serial", d.serial, sizeof d.serial);
	e = 0;
out:
	if (fd >= 0)
		close(fd);
	if (e != 0) {
		snprintf(out->why, sizeof out->why, "%s", d.why);
		return e;
	}
	*out = d;
	return 0;
}

int device_open(const struct device_info *info, int *fd)
{
	struct stat st;
	int f = open(info->path, O_RDWR | O_EXCL | O_CLOEXEC);
	if (f < 0)
		return -errno;
	if (fstat(f, &st) != 0 || !S_ISBLK(st.st_mode) ||
	    st.st_rdev != makedev(info->major, info->minor)) {
		close(f);
		return -ESTALE;
	}
	*fd = f;
	return 0;
}

static void purge_note(struct wipe_result *out, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void purge_note(struct wipe_result *out, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(out->note, sizeof out->note, fmt, ap);
	va_end(ap);
}

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The sampled blocks' offsets: the first, the last, and evenly between. */
static uint64_t sample_off(const struct device_info *info, unsigned i)
{
	uint64_t blocks = info->size / PURGE_SAMPLE_LEN;
	if (blocks <= PURGE_SAMPLES)
		return (uint64_t)(i % (blocks ? blocks : 1)) * PURGE_SAMPLE_LEN;
	return (blocks - 1) * i / (PURGE_SAMPLES - 1) * PURGE_SAMPLE_LEN;
}

/* Reads the samples from the device (O_DIRECT, else after BLKFLSBUF). */
static int read_samples(int fd, const struct device_info *info, uint8_t *buf,
			enum wipe_read_path *how)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return -errno;
	bool direct = (fl & O_DIRECT) || fcntl(fd, F_SETFL, fl | O_DIRECT) == 0;
	if (!direct && ioctl(fd, BLKFLSBUF, 0) != 0)
		return -errno;
	*how = direct ? WIPE_READ_DIRECT : WIPE_READ_FLUSHED;
	int e = 0;
	for (unsigned i = 0; e == 0 && i < PURGE_SAMPLES; i++)
		e = io_engine_pread_all(fd, buf + (size_t)i * PURGE_SAMPLE_LEN, PURGE_SAMPLE_LEN,
					(off_t)sample_off(info, i));
	if (!(fl & O_DIRECT) && direct)
		(void)fcntl(fd, F_SETFL, fl);
	return e;
}

static bool uniform(const uint8_t *p, size_t n)
{
	return n == 0 || (p[0] == p[n - 1] && memcmp(p, p + 1, n - 1) == 0);
}

int device_purge(int fd, const struct device_info *info, struct wipe_result *out)
{
	uint64_t t0 = mono_ns();
	uint8_t *before = NULL, *after = NULL;
	int e;

	memset(out, 0, sizeof *out);
	snprintf(out->method, sizeof out->method, "secure-erase");
	snprintf(out->target, sizeof out->target, "block device");
	snprintf(out->pattern, sizeof out->pattern, "device-defined (BLKSECDISCARD)");
	out->length = info->size;
	if (!info->secure_erase) {
		if (info->nvme)
			purge_note(out, "%s: NVMe Sanitize (Block Erase, Crypto Erase) and Format NVM "
					"with Secure Erase are not implemented; the device has no "
					"BLKSECDISCARD: Purge unavailable, Clear only", info->name);
		else
			purge_note(out, "%s has no secure erase (BLKSECDISCARD: Operation not "
					"supported): Purge unavailable, Clear only", info->name);
		e = -EOPNOTSUPP;
		goto out;
	}
	if (info->size < PURGE_SAMPLE_LEN) {
		e = -EINVAL;
		goto out;
	}
	before = aligned_alloc(IO_DIRECT_ALIGN, (size_t)PURGE_SAMPLES * PURGE_SAMPLE_LEN);
	after = aligned_alloc(IO_DIRECT_ALIGN, (size_t)PURGE_SAMPLES * PURGE_SAMPLE_LEN);
	if (before == NULL || after == NULL) {
		e = -ENOMEM;
		goto out;
	}
	if ((e = read_samples(fd, info, before, &out->read_path)) != 0)
		goto out;
	out->passes = 1;
	for (uint64_t off = 0; off < info->size; off += PURGE_PIECE) {
		uint64_t range[2] = { off, info->size - off < PURGE_PIECE ? info->size - off
									   : PURGE_PIECE };
		if (ioctl(fd, BLKSECDISCARD, range) != 0) {
			e = -errno;
			purge_note(out, "BLKSECDISCARD failed at offset %llu: %s",
				   (unsigned long long)off, strerror(errno));
			goto out;
		}
		out->pass_bytes[0] = off + range[1];
	}
	out->passes_done = 1;
	snprintf(out->nist, sizeof out->nist, "Purge");
	if ((e = read_samples(fd, info, after, &out->read_path)) != 0) {
		out->verify = WIPE_VERIFY_READ_ERROR;
		goto out;
	}
	unsigned informative = 0;
	out->verify = WIPE_VERIFY_PASSED;
	for (unsigned i = 0; i < PURGE_SAMPLES; i++) {
		const uint8_t *b = before + (size_t)i * PURGE_SAMPLE_LEN;
		if (uniform(b, PURGE_SAMPLE_LEN))
			continue; /* blank before: its state after proves nothing */
		informative++;
		if (memcmp(b, after + (size_t)i * PURGE_SAMPLE_LEN, PURGE_SAMPLE_LEN) == 0) {
			out->verify = WIPE_VERIFY_MISMATCH;
			out->mismatch_offset = sample_off(info, i);
			e = -EBADMSG;
			break;
		}
		out->verified_bytes += PURGE_SAMPLE_LEN;
	}
	if (e == 0)
		purge_note(out, "sampled verification: %u blocks of %u bytes, %u of them held data "
				"before and none reads as before", PURGE_SAMPLES, PURGE_SAMPLE_LEN,
			   informative);
out:
	free(before);
	free(after);
	out->error = e;
	out->elapsed_ns = mono_ns() - t0;
	return e;
}
