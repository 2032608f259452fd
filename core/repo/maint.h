/*
 * Repository maintenance: check, forget policy, prune and statistics.
 * Each reports findings on stderr naming what is wrong (pack, snapshot,
 * path) and returns 0 or a negative errno.
 */
#ifndef COFFER_REPO_MAINT_H
#define COFFER_REPO_MAINT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "repo/repo.h"

struct check_opts {
	bool read_data; /* read every pack: hash, header, every blob's MAC */
	/*
	 * With read_data, called after each pack (may be NULL); packs_done is
	 * the position in the list of every pack, read or not (with a share,
	 * count the calls for the packs actually read).
	 */
	void (*progress)(uint64_t packs_done, uint64_t packs_total, uint64_t bytes_done,
			 uint64_t bytes_total, void *arg);
	void *progress_arg;
	/*
	 * With read_data and share_of > 0, only the packs whose ID's first
	 * four bytes (little-endian) are share_slot modulo share_of are read:
	 * share_of consecutive slots read every pack once (a verification
	 * cycle, docs/daemons.md). The structural checks cover every pack.
	 */
	uint32_t share_of, share_slot;
	/*
	 * May be NULL. Set by another thread, a read_data check stops before
	 * the next pack with -ECANCELED (a daemon stopping).
	 */
	const atomic_bool *cancel;
};

struct check_result {
	uint64_t snapshots, trees, data_blobs, packs;
	uint64_t packs_read;       /* with read_data */
	uint64_t errors;           /* problems found, all reported on stderr */
	uint64_t damaged_packs;    /* packs failing hash/header/blob checks */
	uint64_t affected_files;   /* files whose content lies in damaged or missing blobs */
	uint64_t orphan_packs;     /* packs no index lists (harmless; prune removes them) */
};

/*
 * Checks structure: config and keys (already, by opening), every index and
 * snapshot file decrypts and matches its name, every tree of every
 * snapshot loads, every blob referenced is indexed, every indexed pack
 * exists with a size consistent with its blobs. With read_data, also reads
 * every pack: SHA-256 against its name, header against the index, every
 * blob opened and its ID verified. Damaged packs are named, and so is every
 * file (snapshot ID prefix and path) that needs a damaged or missing blob.
 * Returns 0 when clean, -EBADMSG when res->errors > 0.
 */
int repo_check(struct repo *r, const struct check_opts *o, struct check_result *res);

struct forget_policy {
	unsigned keep_last, keep_daily, keep_weekly, keep_monthly, keep_yearly;
};

/* True when no keep rule is set (forget would remove everything). */
bool forget_policy_empty(const struct forget_policy *p);

/*
 * The GFS selection, a pure function: times[] of n snapshots of one group,
 * sorted oldest first; sets keep[i]. keep_last keeps the newest N;
 * keep_daily keeps the newest snapshot of each of the N newest days that
 * have one (local time), likewise weeks (ISO weeks), months and years.
 * A snapshot kept by any rule is kept.
 */
void forget_select(const struct ns_time *times, size_t n, const struct forget_policy *p,
		   bool *keep);

struct forget_result {
	uint64_t kept, removed;
};

/*
 * Applies the policy to each group of snapshots (same hostname, source,
 * dataset and paths), removing the ones not kept, and prints a table of
 * what is kept and removed (unless quiet). Takes an exclusive lock.
 */
int repo_forget(struct repo *r, const struct forget_policy *p, bool quiet,
		struct forget_result *res);

struct prune_result {
	uint64_t packs_before, packs_after;
	uint64_t packs_deleted, packs_rewritten;
	uint64_t blobs_removed;
	uint64_t bytes_before, bytes_after;
};

/*
 * Removes data no snapshot references. Takes an exclusive lock. Order,
 * so that a crash at any point leaves a valid repository: copy the
 * still-used blobs of partly used packs into new packs; write one index
 * file that lists every pack kept and supersedes all earlier index files;
 * delete the old index files; delete the packs no longer listed (and
 * orphan packs of crashed backups). Refuses to run (-EBADMSG) if any
 * snapshot or tree cannot be read, since the used set would be unknown.
 */
int repo_prune(struct repo *r, struct prune_result *res);

struct repo_stats {
	uint64_t snapshots;
	uint64_t logical_bytes;    /* sum over snapshots of their files' sizes */
	uint64_t unique_bytes;     /* plaintext of distinct data blobs referenced */
	uint64_t stored_bytes;     /* size of all pack files */
	uint64_t packs, data_blobs, tree_blobs;
	/*
	 * Delta blobs referenced by a snapshot (docs/format/delta.md), and
	 * what they save: for each, the length of the chunk it reconstructs
	 * (from the extents naming it) minus its stored length (from the
	 * index). data_blobs counts full data blobs and deltas alike.
	 */
	uint64_t delta_blobs, delta_saved_bytes;
	uint64_t index_files;
	double dedup_ratio;        /* logical / unique */
	double compression_ratio;  /* unique plaintext (data + trees) / stored blob bytes */
};

/* Computes the statistics (reads every tree of every snapshot). */
int repo_stats(struct repo *r, struct repo_stats *st);

#endif
