/*
 * Block devices for sanitization (coffer erase device): what a device is
 * (size, sectors, rotational, discard and secure erase, NVMe), the
 * refusals that keep a device in use from being overwritten, and Purge
 * where the device offers it. Clear (the overwrite with verification) is
 * wipe_fd on the descriptor device_open returns.
 *
 * Refused, each with a reason naming what was found:
 *   - anything that is not a block device (-ENOTBLK);
 *   - a device that is mounted (in /proc/self/mountinfo by major:minor,
 *     or as the source of a mount), a whole disk one of whose partitions
 *     is mounted, a device or partition that is active swap or is held by
 *     another block device (device-mapper, md, LVM: sysfs holders/), and
 *     one the kernel will not open exclusively (in use elsewhere, e.g.
 *     mounted in another mount namespace): -EBUSY;
 *   - a device of size 0 (no media, an unattached loop device): -ENOMEDIUM.
 *
 * NIST SP 800-88 Rev. 2 / IEEE 2883 labels: wipe_fd is always "Clear";
 * device_purge is "Purge" only when the device's secure erase ran.
 */
#ifndef COFFER_ERASE_DEVICE_H
#define COFFER_ERASE_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "erase/wipe.h"

struct device_info {
	char path[256];       /* as given */
	char name[64];        /* kernel name: "loop0", "sda1", "nvme0n1" */
	char disk[64];        /* the whole disk's name (== name unless a partition) */
	unsigned major, minor;
	bool partition;
	uint64_t size;            /* bytes (BLKGETSIZE64) */
	unsigned logical_sector;  /* BLKSSZGET */
	unsigned physical_sector; /* BLKPBSZGET */
	int rotational;           /* 1, 0, or -1 unknown (sysfs queue/rotational) */
	uint64_t discard_max;     /* sysfs queue/discard_max_bytes; 0: no discard */
	bool secure_erase;        /* BLKSECDISCARD accepted (probed harmlessly) */
	bool nvme;
	char model[64], serial[64]; /* sysfs, "" if unknown (for the certificate) */
	char why[256];            /* on failure only: the reason, naming the device */
};

/*
 * Probes the block device at path and checks that it may be overwritten
 * (see above). Returns 0 with *out filled; -ENOTBLK, -EBUSY or another
 * -errno with out->why set (and nothing else in *out to rely on).
 */
int device_probe(const char *path, struct device_info *out);

/*
 * Opens the probed device read-write and exclusively (O_EXCL: the kernel
 * refuses while it is mounted or held, and mounting fails while we hold
 * it). -ESTALE if path no longer names the probed device. *fd is the
 * caller's to close.
 */
int device_open(const struct device_info *info, int *fd);

/*
 * Purge: the device's secure erase (BLKSECDISCARD) over its whole range,
 * then a sampled verification: 64 blocks spread over the device, read
 * before and after from the device itself, none of those that held data
 * (not one repeated byte) may read as before. Returns 0 when done and
 * verified, -EBADMSG if a sampled block is unchanged (mismatch_offset),
 * -EOPNOTSUPP with the reason in out->note when the device has no secure
 * erase Coffer can issue (NVMe Sanitize and Format with Secure Erase are
 * not implemented), else the ioctl's -errno. fd from device_open.
 */
int device_purge(int fd, const struct device_info *info, struct wipe_result *out);

#endif
