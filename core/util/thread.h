/*
 * Scheduling of helper threads: the threads that read ahead, read small
 * files or seal blobs for a thread that walks or streams in order.
 */
#ifndef COFFER_UTIL_THREAD_H
#define COFFER_UTIL_THREAD_H

/*
 * Puts the calling thread in the SCHED_BATCH policy (best effort; returns
 * 0 or -errno, and callers may ignore it). It keeps its fair share of the
 * CPU, but waking it no longer preempts the thread that woke it: the
 * walker of a backup wakes its helpers thousands of times a second, and
 * on two cores each wake-up otherwise took the CPU from the walker, which
 * is the one everything waits for. Measured in docs/backup.md.
 */
int thread_as_helper(void);

#endif
