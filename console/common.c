/* Console helpers shared by the commands; see console.h. */
#include "console.h"
#include "record.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "io/io.h"
#include "util/escape.h"
#include "util/hex.h"
#include "util/log.h"
#include "util/mem.h"

#define PASS_MAX 4096

static int common_opt_one(struct common_opts *c, int opt, const char *arg)
{
	switch (opt) {
	case 'r': c->repo = arg; return 1;
	case 'P': c->passphrase_file = arg; return 1;
	case 'j': c->json = true; return 1;
	case 'q': c->quiet = true; return 1;
	case 'D': c->dataset = arg; return 1;
	case 'S': c->state_dir = arg; return 1;
	case 'C': c->config_dir = arg; return 1;
	case 'U': c->run_dir = arg; return 1;
	case 'X':
		log_errorx("the passphrase is never taken from the command line (it would "
			   "show in the process list and shell history); use "
			   "--passphrase-file FILE or COFFER_PASSPHRASE_FILE");
		return 0; /* not an option: the command prints its usage */
	default: return 0;
	}
}

int common_require_repo(const struct common_opts *c, const char *cmd)
{
	if (c->repo != NULL)
		return 0;
	log_errorx("%s: --repo DIR is required", cmd);
	return -1;
}

int common_require_target(const struct common_opts *c, const char *cmd)
{
	if ((c->repo != NULL) != (c->dataset != NULL))
		return 0;
	if (c->repo != NULL)
		log_errorx("%s: give --repo DIR or --dataset NAME, not both", cmd);
	else
		log_errorx("%s: --repo DIR or --dataset NAME is required", cmd);
	return -1;
}

static int pass_from_file(const char *path, char *out, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		log_errorx("cannot read passphrase file %s: %s", path, strerror(errno));
		return -1;
	}
	size_t got;
	int e = io_read_up_to(fd, out, PASS_MAX, &got);
	close(fd);
	if (e != 0 || got == PASS_MAX) {
		log_errorx("cannot read passphrase file %s: %s", path,
			   e ? coffer_strerror(e) : "longer than 4095 bytes");
		return -1;
	}
	*len = got;
	return 0;
}

static int pass_prompt(const char *prompt, char *out, size_t *len)
{
	int fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		log_errorx("no passphrase: give --passphrase-file FILE or set "
			   "COFFER_PASSPHRASE_FILE (no terminal to ask on)");
		return -1;
	}
	struct termios old, noecho;
	bool tty = tcgetattr(fd, &old) == 0;
	if (tty) {
		noecho = old;
		noecho.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(fd, TCSAFLUSH, &noecho);
	}
	(void)io_write_all(fd, prompt, strlen(prompt));
	size_t n = 0;
	char ch;
	while (n < PASS_MAX - 1 && read(fd, &ch, 1) == 1 && ch != '\n')
		out[n++] = ch;
	if (tty)
		tcsetattr(fd, TCSAFLUSH, &old);
	(void)io_write_all(fd, "\n", 1);
	close(fd);
	*len = n;
	return 0;
}

int passphrase_get(const struct common_opts *c, bool confirm, char **pass, size_t *len)
{
	char *p = secmem_alloc(PASS_MAX + 1);
	size_t n = 0;
	if (p == NULL)
		return -1;
	const char *file = c->passphrase_file ? c->passphrase_file : getenv("COFFER_PASSPHRASE_FILE");
	int e;
	if (file != NULL && *file) {
		e = pass_from_file(file, p, &n);
		if (e == 0 && n > 0 && p[n - 1] == '\n')
			n--;
		if (e == 0 && n > 0 && p[n - 1] == '\r')
			n--;
	} else {
		e = pass_prompt("Passphrase: ", p, &n);
		if (e == 0 && confirm) {
			char *again = secmem_alloc(PASS_MAX + 1);
			size_t m = 0;
			e = again ? pass_prompt("Passphrase again: ", again, &m) : -1;
			if (e == 0 && (m != n || memcmp(again, p, n) != 0)) {
				log_errorx("the passphrases do not match");
				e = -1;
			}
			secmem_free(again, PASS_MAX + 1);
		}
	}
	if (e == 0 && n == 0) {
		log_errorx("the passphrase is empty");
		e = -1;
	}
	if (e != 0) {
		secmem_free(p, PASS_MAX + 1);
		return -1;
	}
	p[n] = 0;
	*pass = p;
	*len = n;
	return 0;
}

void passphrase_free(char *pass, size_t len)
{
	secmem_free(pass, PASS_MAX + 1);
}

struct repo *console_open_repo(const struct common_opts *c)
{
	char *pass;
	size_t len;
	struct repo *r = NULL;
	if (c->dataset != NULL)
		return console_open_dataset(c);
	/* A repository this program cannot read is refused before any prompt. */
	if (repo_probe(c->repo) != 0)
		return NULL;
	if (passphrase_get(c, false, &pass, &len) != 0)
		return NULL;
	int e = repo_open(c->repo, pass, len, &r);
	passphrase_free(pass, len);
	return e == 0 ? r : NULL;
}

int console_load_snapshot(struct repo *r, const char *spec, uint8_t id[32],
			  struct snapshot *s)
{
	int e = repo_snapshot_resolve(r, spec, id);
	if (e == -ENOENT)
		log_errorx("no snapshot matches '%s'", spec);
	else if (e == -ENOTUNIQ)
		log_errorx("snapshot prefix '%s' is ambiguous: give more digits", spec);
	else if (e == -EINVAL)
		log_errorx("'%s' is not a snapshot ID, prefix or 'latest'", spec);
	else if (e != 0)
		log_errorx("cannot list snapshots: %s", coffer_strerror(e));
	if (e != 0)
		return e;
	e = repo_snapshot_load(r, id, s);
	if (e != 0) {
		char hex[65];
		hex_encode(id, 32, hex);
		log_errorx("snapshot %s cannot be read: %s", hex, coffer_strerror(e));
	}
	return e;
}

uint64_t console_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

bool progress_enabled(const struct common_opts *c)
{
	return !c->quiet && !c->json && isatty(STDERR_FILENO);
}

const char *fmt_bytes(uint64_t n, char *buf, size_t size)
{
	static const char *units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	double v = (double)n;
	int u = 0;
	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, size, "%llu B", (unsigned long long)n);
	else
		snprintf(buf, size, "%.1f %s", v, units[u]);
	return buf;
}

const char *fmt_time(int64_t sec, char *buf, size_t size)
{
	time_t t = (time_t)sec;
	struct tm tm;
	if (localtime_r(&t, &tm) == NULL || strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		snprintf(buf, size, "%lld", (long long)sec);
	return buf;
}

void progress_line(const char *what, uint64_t count, const char *unit, uint64_t bytes,
		   uint64_t total, uint64_t errors, uint64_t start_ns)
{
	double secs = (double)(console_now_ns() - start_ns) / 1e9;
	double rate = secs > 0 ? (double)bytes / secs : 0;
	char b1[32], b2[32], eta[32] = "";
	if (total > bytes && rate > 0) {
		unsigned long s = (unsigned long)((double)(total - bytes) / rate);
		snprintf(eta, sizeof eta, ", ETA %lu:%02lu", s / 60, s % 60);
	}
	fprintf(stderr, "\r\033[K%s: %llu %s, %s, %s/s%s%s", what,
		(unsigned long long)count, unit, fmt_bytes(bytes, b1, sizeof b1),
		fmt_bytes((uint64_t)rate, b2, sizeof b2), eta,
		errors ? ", errors" : "");
	fflush(stderr);
}

void progress_clear(void)
{
	fprintf(stderr, "\r\033[K");
	fflush(stderr);
}

void print_escaped(FILE *f, const uint8_t *p, size_t n)
{
	struct buf b = { 0 };
	if (escape_append(&b, p, n) == 0 && b.len > 0)
		fwrite(b.data, 1, b.len, f);
	buf_fini(&b);
}

/*
 * JSON strings must be Unicode; bytes that are not valid UTF-8 are written
 * as the six characters "\\xNN" (an escaped backslash then xNN), and a
 * literal backslash as "\\\\", so the original bytes can be recovered.
 */
void json_string(FILE *f, const uint8_t *p, size_t n)
{
	fputc('"', f);
	for (size_t i = 0; i < n;) {
		size_t l = utf8_seq_len(p + i, n - i);
		if (l == 0) {
			fprintf(f, "\\\\x%02x", p[i]);
			l = 1;
		} else if (l == 1 && (p[i] == '"' || p[i] == '\\')) {
			fprintf(f, p[i] == '"' ? "\\\"" : "\\\\\\\\");
		} else if (l == 1 && (p[i] < 0x20 || p[i] == 0x7f)) {
			fprintf(f, "\\u%04x", p[i]);
		} else {
			fwrite(p + i, 1, l, f);
		}
		i += l;
	}
	fputc('"', f);
}

void json_cstr(FILE *f, const char *s)
{
	json_string(f, (const uint8_t *)s, strlen(s));
}

void json_hex(FILE *f, const uint8_t *p, size_t n)
{
	char hex[129];
	hex_encode(p, n > 64 ? 64 : n, hex);
	fprintf(f, "\"%s\"", hex);
}

int parse_uint(const char *opt, const char *s, unsigned *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno != 0 || *s == 0 || *end != 0 || s[0] == '-' || v > 1000000000ul) {
		log_errorx("--%s needs a non-negative number, not '%s'", opt, s);
		return -1;
	}
	*out = (unsigned)v;
	return 0;
}

int parse_threads(const char *s, unsigned *out)
{
	unsigned v;
	if (parse_uint("threads", s, &v) != 0 || v < 1 || v > 256) {
		log_errorx("--threads must be between 1 and 256");
		return -1;
	}
	*out = v;
	return 0;
}

int parse_suite(const char *name, uint32_t *out)
{
	const struct suite *s = suite_by_name(name);
	if (s == NULL) {
		log_errorx("unknown suite '%s' (use international or national)", name);
		return -1;
	}
	*out = suite_id(s);
	return 0;
}

int common_opt(struct common_opts *c, int opt, const char *arg)
{
	int r = common_opt_one(c, opt, arg);
	if (r)
		record_note_opts(c);
	return r;
}
