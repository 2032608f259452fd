/*
 * Repository locks. A lock is a sealed object in locks/ naming its holder
 * (host, pid, process start time) and whether it is exclusive. Backups take
 * shared locks and run side by side; prune and erase take an exclusive one.
 *
 * Protocol: write our lock first, then list the others. Two processes that
 * race both see each other's lock, so at worst both back off; never can
 * both proceed with conflicting locks. Locks of processes on this host that
 * no longer exist (pid gone, or reused by a process with another start
 * time) are stale and removed.
 */
#include "repo/repo_int.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/hex.h"
#include "util/log.h"

#define LOCK_VERSION 1

struct lock_info {
	uint8_t exclusive;
	uint32_t pid;
	uint64_t start;   /* process start time in clock ticks since boot */
	uint64_t time;    /* seconds since the epoch when taken */
	char *host;
};

/*
 * Start time of a process (field 22 of /proc/PID/stat), 0 if unknown, and
 * whether it is a zombie (it has exited; only its parent has not reaped it).
 */
static uint64_t proc_start_time(pid_t pid, bool *zombie)
{
	char path[64], line[1024];
	*zombie = false;
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "re");
	if (f == NULL)
		return 0;
	size_t n = fread(line, 1, sizeof line - 1, f);
	fclose(f);
	line[n] = 0;
	/* The command name may hold spaces and parentheses: skip to the last ')'. */
	char *p = strrchr(line, ')');
	if (p == NULL || p[1] != ' ')
		return 0;
	char state = p[2];
	*zombie = state == 'Z' || state == 'X';
	unsigned long long v = 0;
	/* After ") " come fields 3..; start time is field 22. */
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d "
			  "%*d %*d %*d %*d %llu", &v) != 1)
		return 0;
	return v;
}

static int lock_encode(const struct lock_info *l, struct buf *out)
{
	int e = buf_put_u32(out, LOCK_VERSION);
	if (e == 0) e = buf_put_u8(out, l->exclusive);
	if (e == 0) e = buf_put_u32(out, l->pid);
	if (e == 0) e = buf_put_u64(out, l->start);
	if (e == 0) e = buf_put_u64(out, l->time);
	if (e == 0) e = buf_put_str(out, l->host);
	return e;
}

static int lock_decode(const uint8_t *p, size_t len, struct lock_info *l)
{
	struct rbuf rb;
	uint32_t v;
	rbuf_init(&rb, p, len);
	int e = rbuf_get_u32(&rb, &v);
	if (e == 0 && v != LOCK_VERSION) e = -ENOTSUP;
	if (e == 0) e = rbuf_get_u8(&rb, &l->exclusive);
	if (e == 0 && l->exclusive > 1) e = -EBADMSG;
	if (e == 0) e = rbuf_get_u32(&rb, &l->pid);
	if (e == 0) e = rbuf_get_u64(&rb, &l->start);
	if (e == 0) e = rbuf_get_u64(&rb, &l->time);
	if (e == 0) e = rbuf_get_str(&rb, 256, &l->host);
	if (e == 0 && (e = rbuf_end(&rb)) != 0) {
		free(l->host);
		l->host = NULL;
	}
	return e;
}

int repo_lock_decode(const uint8_t *p, size_t len, bool *exclusive, uint32_t *pid,
		     char **host)
{
	struct lock_info l = { 0 };
	int e = lock_decode(p, len, &l);
	if (e != 0)
		return e;
	*exclusive = l.exclusive != 0;
	*pid = l.pid;
	*host = l.host;
	return 0;
}

static bool lock_is_stale(const struct lock_info *l, const char *host)
{
	if (strcmp(l->host, host) != 0)
		return false; /* cannot tell for another host: assume alive */
	if (kill((pid_t)l->pid, 0) != 0 && errno == ESRCH)
		return true;
	bool zombie;
	uint64_t st = proc_start_time((pid_t)l->pid, &zombie);
	return zombie || (st != 0 && l->start != 0 && st != l->start);
}

struct lock_scan {
	struct repo *r;
	bool exclusive;
	char host[256];
	int conflict; /* -EBUSY once one is found */
};

static int lock_check_one(const char *name, uint64_t size, void *arg)
{
	struct lock_scan *ls = arg;
	struct repo *r = ls->r;
	if (strcmp(name, r->lock_name) == 0)
		return 0;
	struct buf raw = { 0 }, pt = { 0 };
	struct lock_info l = { 0 };
	int e = store_get(r->store, STORE_LOCK, name, &raw);
	if (e == -ENOENT)
		goto out; /* released meanwhile */
	if (e == 0)
		e = repo_meta_open(r, STORE_LOCK, raw.data, raw.len, &pt);
	if (e == 0)
		e = lock_decode(pt.data, pt.len, &l);
	if (e != 0) {
		/* An unreadable lock must not block forever, nor be ignored silently. */
		log_warnx("lock %s is unreadable (%s); treating it as held", name,
			  coffer_strerror(e));
		if (ls->exclusive)
			ls->conflict = -EBUSY;
		goto out;
	}
	if (lock_is_stale(&l, ls->host)) {
		log_info("removing stale lock of process %u on %s", l.pid, l.host);
		(void)store_remove(r->store, STORE_LOCK, name);
		goto out;
	}
	if (ls->exclusive || l.exclusive) {
		log_errorx("repository is locked %s by process %u on %s since %llu; "
			   "try again when it has finished",
			   l.exclusive ? "exclusively" : "(shared)", l.pid, l.host,
			   (unsigned long long)l.time);
		ls->conflict = -EBUSY;
	}
out:
	free(l.host);
	buf_fini(&raw);
	buf_fini(&pt);
	return 0;
}

int repo_lock(struct repo *r, bool exclusive)
{
	if (r->lock_name[0])
		return -EALREADY;
	struct lock_scan ls = { .r = r, .exclusive = exclusive };
	bool zombie;
	if (gethostname(ls.host, sizeof ls.host - 1) != 0)
		strcpy(ls.host, "unknown");
	struct lock_info me = { .exclusive = exclusive, .pid = (uint32_t)getpid(),
				.start = proc_start_time(getpid(), &zombie),
				.time = (uint64_t)time(NULL), .host = ls.host };
	struct buf pt = { 0 }, sealed = { 0 };
	uint8_t rnd[16];
	int e = lock_encode(&me, &pt);
	if (e == 0)
		e = repo_meta_seal(r, STORE_LOCK, pt.data, pt.len, &sealed);
	if (e == 0)
		e = crypto_random(rnd, sizeof rnd);
	if (e != 0)
		goto out;
	hex_encode(rnd, sizeof rnd, r->lock_name);
	if ((e = store_put(r->store, STORE_LOCK, r->lock_name, sealed.data, sealed.len)) != 0) {
		r->lock_name[0] = 0;
		goto out;
	}
	e = store_list(r->store, STORE_LOCK, lock_check_one, &ls);
	if (e == 0)
		e = ls.conflict;
	if (e != 0)
		repo_unlock(r);
out:
	buf_fini(&pt);
	buf_fini(&sealed);
	return e;
}

void repo_unlock(struct repo *r)
{
	if (!r->lock_name[0])
		return;
	int e = store_remove(r->store, STORE_LOCK, r->lock_name);
	if (e != 0 && e != -ENOENT)
		log_warnx("cannot remove lock %s: %s", r->lock_name, coffer_strerror(e));
	r->lock_name[0] = 0;
}
