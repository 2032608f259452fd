/*
 * Restore engines: into a directory (restore.c) or into an archive stream
 * (archive_out.c). A damaged or missing blob fails only the files that need
 * it: each is named on stderr and counted, everything else is restored.
 */
#ifndef COFFER_RESTORE_RESTORE_H
#define COFFER_RESTORE_RESTORE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "repo/repo.h"

struct restore_progress {
	uint64_t files, dirs, bytes_done, bytes_total, errors;
	const char *current; /* may be NULL */
};
typedef void (*restore_progress_fn)(const struct restore_progress *p, void *arg);

struct restore_opts {
	/*
	 * Absolute paths as stored ("/srv/a"); when any are given, only those
	 * subtrees (and the directories leading to them) are restored.
	 */
	char *const *includes;
	size_t n_includes;
	restore_progress_fn progress; /* may be NULL */
	void *progress_arg;
	/*
	 * Threads that load and write file content (restore_to_dir only):
	 * 0 = one per online core, 1 = all on the calling thread. The
	 * progress callback is always called from the calling thread.
	 */
	size_t threads;
	/*
	 * May be NULL. Set by another thread, the restore stops at the next
	 * entry with -ECANCELED (restore_to_dir only); files being written are
	 * removed, directories made so far stay.
	 */
	const atomic_bool *cancel;
};

struct restore_result {
	uint64_t files, dirs, others, bytes;
	uint64_t errors; /* items not restored or restored incompletely */
};

/*
 * Re-creates the snapshot's tree under target (created if absent): a
 * stored /srv/a lands at TARGET/srv/a. Restores content (holes stay
 * holes), hard links as links, symlinks, FIFOs, devices (as root), owners,
 * modes incl. setuid/sticky, xattrs, ACLs and nanosecond times; directory
 * metadata is applied after its contents. Works for paths of any depth.
 * Returns 0 with res->errors > 0 if some items failed, negative errno if
 * the restore could not run at all.
 */
int restore_to_dir(struct repo *r, const struct snapshot *snap, const char *target,
		   const struct restore_opts *o, struct restore_result *res);

enum archive_fmt { ARCHIVE_PAX, ARCHIVE_CPIO, ARCHIVE_ZIP };

/* Parses "pax", "cpio" or "zip"; -EINVAL otherwise. */
int archive_fmt_parse(const char *s, enum archive_fmt *out);

/*
 * Writes the snapshot's tree as an archive to fd, with every path relative
 * ("srv/a/..."), carrying what the format can: pax keeps xattrs, ACLs,
 * sparse maps, hard links and nanosecond times; cpio and zip less (see
 * docs/archive.md). Same error rules as restore_to_dir.
 */
int restore_to_archive(struct repo *r, const struct snapshot *snap, int fd,
		       enum archive_fmt fmt, const struct restore_opts *o,
		       struct restore_result *res);

#endif
