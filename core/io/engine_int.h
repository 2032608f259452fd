/*
 * Shared between the engine's modules: the plain-syscall engine, which the
 * io_uring one also uses for a thread that cannot get a ring, and the
 * io_uring engine's probe.
 */
#ifndef COFFER_IO_ENGINE_INT_H
#define COFFER_IO_ENGINE_INT_H

#include "io/engine.h"

extern const struct io_engine_ops io_sync_ops;
extern const struct io_engine_ops io_uring_ops;

/* Open flags of read_files; O_NOATIME is dropped on EPERM (not our file). */
#define IO_READ_FLAGS (O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)

/*
 * Sets up this thread's ring and checks that the kernel supports every
 * operation used. Returns 0, or -errno with *why naming the missing piece
 * (a static string).
 */
int io_uring_probe(const char **why);

/*
 * For read_stream: whether fd reads with O_DIRECT (*direct), checking that
 * off is aligned for it. Returns 0 or -EINVAL (misaligned), -EBADF.
 */
int io_stream_mode(int fd, uint64_t off, bool *direct);
/* n rounded up to IO_DIRECT_ALIGN. */
static inline size_t io_direct_round(size_t n)
{
	return (n + IO_DIRECT_ALIGN - 1) & ~(size_t)(IO_DIRECT_ALIGN - 1);
}

#endif
