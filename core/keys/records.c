/*
 * The keystore's records file: one line per event that changed which key
 * material exists (split, rotate, key-set rotation, export, import,
 * shred), "TIME<TAB>OP<TAB>DATASET<TAB>DETAIL<LF>", appended with O_APPEND
 * and fsync'd. It holds no secret. The audit trail (a later issue) is the
 * tamper-evident record; this one lets the keystore answer "was this
 * dataset shredded, and where did copies of its keys go" by itself.
 */
#include "keys/keystore_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "io/io.h"

#define RECORDS_MAX (64u << 20)

/*
 * A line torn by a crash (the last bytes without their newline) is cut
 * off before appending, or the next record would join it into one
 * malformed line. A line is under 1024 bytes, so a torn one lies within
 * the last 1024; a file whose tail has no newline there is damaged.
 */
static int cut_torn_line(int fd)
{
	struct stat st;
	char tail[1024];
	if (fstat(fd, &st) != 0)
		return -errno;
	if (st.st_size == 0)
		return 0;
	size_t n = st.st_size < (off_t)sizeof tail ? (size_t)st.st_size : sizeof tail;
	off_t start = st.st_size - (off_t)n;
	int e = io_pread_all(fd, tail, n, start);
	if (e != 0 || tail[n - 1] == '\n')
		return e;
	const char *nl = NULL;
	for (size_t i = n; i-- > 0;)
		if (tail[i] == '\n') {
			nl = tail + i;
			break;
		}
	if (nl == NULL && start != 0)
		return -EBADMSG;
	off_t keep = nl == NULL ? 0 : start + (nl - tail) + 1;
	if (ftruncate(fd, keep) != 0)
		return -errno;
	return 0;
}

static bool field_ok(const char *f, size_t max, bool may_be_empty)
{
	size_t n = strlen(f);
	return (may_be_empty || n > 0) && n <= max && strpbrk(f, "\t\n") == NULL;
}

int keystore_record(struct keystore *ks, const char *op, const char *dataset,
		    const char *detail)
{
	if (!field_ok(op, KEYSTORE_OP_MAX, false) ||
	    !field_ok(dataset, KEYSTORE_DATASET_MAX, false) ||
	    !field_ok(detail, KEYSTORE_DETAIL_MAX, true))
		return -EINVAL;
	char line[1024];
	int n = snprintf(line, sizeof line, "%lld\t%s\t%s\t%s\n", (long long)time(NULL), op,
			 dataset, detail);
	if (n < 0 || (size_t)n >= sizeof line)
		return -EINVAL;
	int fd = openat(ks->dfd, "records", O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	int e = cut_torn_line(fd);
	if (e == 0)
		e = io_write_all(fd, line, (size_t)n);
	if (e == 0 && fsync(fd) != 0)
		e = -errno;
	close(fd);
	return e == 0 ? io_fsync_dir(ks->dfd) : e;
}

int keystore_records_read(struct keystore *ks, struct buf *out)
{
	int e = io_read_file_at(ks->dfd, "records", out, RECORDS_MAX);
	return e == -ENOENT ? 0 : e;
}

/* Copies the field [p, end) into out (size bytes); -EBADMSG if too long or empty. */
static int field(const char *p, const char *end, char *out, size_t size)
{
	size_t n = (size_t)(end - p);
	if (n == 0 || n >= size || memchr(p, '\0', n) != NULL)
		return -EBADMSG;
	memcpy(out, p, n);
	out[n] = 0;
	return 0;
}

int keystore_records_parse(const char *text, size_t len,
			   int (*fn)(const struct keystore_record *rec, void *arg), void *arg)
{
	struct keystore_record rec;
	const char *p = text, *end = text + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			return 0; /* torn last line */
		const char *t1 = memchr(p, '\t', (size_t)(nl - p));
		const char *t2 = t1 ? memchr(t1 + 1, '\t', (size_t)(nl - t1 - 1)) : NULL;
		const char *t3 = t2 ? memchr(t2 + 1, '\t', (size_t)(nl - t2 - 1)) : NULL;
		char num[24];
		if (t3 == NULL || field(p, t1, num, sizeof num) != 0 ||
		    field(t1 + 1, t2, rec.op, sizeof rec.op) != 0 ||
		    field(t2 + 1, t3, rec.dataset, sizeof rec.dataset) != 0)
			return -EBADMSG;
		if (t3 + 1 == nl)
			rec.detail[0] = 0;
		else if (field(t3 + 1, nl, rec.detail, sizeof rec.detail) != 0 ||
			 memchr(rec.detail, '\t', strlen(rec.detail)) != NULL)
			return -EBADMSG;
		char *e;
		errno = 0;
		long long t = strtoll(num, &e, 10);
		if (*e != 0 || errno != 0 || t < 0)
			return -EBADMSG;
		rec.time = t;
		int r = fn(&rec, arg);
		if (r != 0)
			return r;
		p = nl + 1;
	}
	return 0;
}
