/*
 * coffer up --dev DIR / coffer down --dev DIR: development mode (docs/
 * daemons.md, "Development mode"). Every daemon runs as the current user
 * under DIR with an embedded default configuration; `up` prints the
 * shell lines that reach them, `down` stops them and waits until they are
 * gone. On an appliance systemd starts the daemons instead (etc/systemd).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "conf/levels.h"
#include "conf/roles.h"
#include "console.h"
#include "io/io.h"
#include "audit/audit.h"
#include "crypto/crypto.h"
#include "keys/keystore.h"
#include "util/log.h"

#define START_WAIT_MS 15000
#define STOP_WAIT_MS 60000

static const struct {
	const char *name;     /* socket and pid file name */
	const char *subdir;   /* its directory in a build tree */
	int keys;             /* unlocked at start */
} daemons[] = {
	{ "backupd", "backupd", 1 },
	{ "restored", "restore", 1 },
	{ "erased", "erase", 1 },
	{ "scheduler", "scheduler", 0 },
};
#define N_DAEMONS (sizeof daemons / sizeof daemons[0])

struct up_args {
	const char *dev;
	const char *clock_file;
	unsigned kdf_cost;
	bool quiet;
};

static void up_usage(const char *cmd)
{
	fprintf(stderr,
		"usage: coffer %s --dev DIR%s\n"
		"Development mode: all daemons as the current user under DIR.\n",
		cmd, strcmp(cmd, "up") == 0 ? " [--kdf-cost N] [--clock-file FILE]" : "");
}

static int parse(int argc, char **argv, const char *cmd, struct up_args *a)
{
	static const struct option longopts[] = {
		{ "dev", required_argument, NULL, 'd' },
		{ "clock-file", required_argument, NULL, 'k' },
		{ "kdf-cost", required_argument, NULL, 'c' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 'd': a->dev = optarg; break;
		case 'k': a->clock_file = optarg; break;
		case 'c':
			if (parse_uint("kdf-cost", optarg, &a->kdf_cost) || a->kdf_cost < 10 ||
			    a->kdf_cost > 22) {
				log_errorx("--kdf-cost must be between 10 and 22");
				return EXIT_USAGE;
			}
			break;
		case 'q': a->quiet = true; break;
		case 'h': up_usage(cmd); return EXIT_OK;
		default: up_usage(cmd); return EXIT_USAGE;
		}
	}
	if (optind != argc || a->dev == NULL) {
		if (a->dev == NULL)
			log_errorx("coffer %s needs --dev DIR: on an appliance systemd runs the "
				   "daemons (see etc/systemd)", cmd);
		up_usage(cmd);
		return EXIT_USAGE;
	}
	return -1;
}

/* DIR/sub, made absolute. */
static int path_in(const char *dir, const char *sub, char *out, size_t size)
{
	char cwd[PATH_MAX];
	int n;
	if (dir[0] == '/')
		n = snprintf(out, size, "%s%s%s", dir, sub[0] ? "/" : "", sub);
	else if (getcwd(cwd, sizeof cwd) != NULL)
		n = snprintf(out, size, "%s/%s%s%s", cwd, dir, sub[0] ? "/" : "", sub);
	else
		return -errno;
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* a/b into out; -ENAMETOOLONG if it does not fit. */
static int pjoin(char *out, size_t size, const char *a, const char *b)
{
	int n = snprintf(out, size, "%s/%s", a, b);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

static int mkdir_p(const char *path)
{
	char tmp[PATH_MAX];
	snprintf(tmp, sizeof tmp, "%s", path);
	for (char *p = tmp + 1;; p++) {
		if (*p != '/' && *p != 0)
			continue;
		char c = *p;
		*p = 0;
		if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
			return -errno;
		*p = c;
		if (c == 0)
			return 0;
	}
}

/* Writes text to path unless it exists (the operator's edits are kept). */
static int write_default(const char *path, const char *text)
{
	if (access(path, F_OK) == 0)
		return 0;
	int e = io_replace_file_at(AT_FDCWD, path, text, strlen(text), 0644);
	if (e != 0)
		log_errorx("cannot write %s: %s", path, coffer_strerror(e));
	return e;
}

/*
 * The passphrase file: COFFER_PASSPHRASE_FILE if set, else DIR/passphrase,
 * made with 24 random characters (printed once) if absent.
 */
static int passphrase_file(const char *dir, char *out, size_t size, bool *made)
{
	const char *env = getenv("COFFER_PASSPHRASE_FILE");
	*made = false;
	if (env != NULL && *env != 0) {
		if (access(env, R_OK) != 0) {
			log_errorx("COFFER_PASSPHRASE_FILE %s: %s", env, strerror(errno));
			return -errno;
		}
		return path_in(env, "", out, size);
	}
	int e = path_in(dir, "passphrase", out, size);
	if (e != 0 || access(out, F_OK) == 0)
		return e;
	static const char alphabet[] = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
	uint8_t raw[24];
	char pass[sizeof raw + 2];
	if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw)
		return -EIO;
	for (size_t i = 0; i < sizeof raw; i++)
		pass[i] = alphabet[raw[i] % (sizeof alphabet - 1)];
	pass[sizeof raw] = '\n';
	pass[sizeof raw + 1] = 0;
	e = io_replace_file_at(AT_FDCWD, out, pass, sizeof raw + 1, 0600);
	explicit_bzero(raw, sizeof raw);
	explicit_bzero(pass, sizeof pass);
	if (e == 0)
		*made = true;
	return e;
}

/* The daemon binary: $COFFER_DAEMON_DIR, beside coffer, or in a build tree's subdir. */
static int daemon_path(size_t i, char *out, size_t size)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n < 0)
		return -errno;
	self[n] = 0;
	char *slash = strrchr(self, '/');
	*slash = 0;
	const char *env = getenv("COFFER_DAEMON_DIR");
	const char *tries[3] = { env, self, NULL };
	char build[PATH_MAX], up[PATH_MAX], exe[64];
	snprintf(exe, sizeof exe, "coffer-%s", daemons[i].name);
	if (pjoin(up, sizeof up, self, "..") == 0 && pjoin(build, sizeof build, up, daemons[i].subdir) == 0)
		tries[2] = build;
	for (size_t t = 0; t < 3; t++) {
		if (tries[t] == NULL || *tries[t] == 0)
			continue;
		if (pjoin(out, size, tries[t], exe) == 0 && access(out, X_OK) == 0)
			return 0;
	}
	log_errorx("cannot find coffer-%s (beside %s, in %s, or in $COFFER_DAEMON_DIR)",
		   daemons[i].name, self, build);
	return -ENOENT;
}

/* The PID in RUN/NAME.pid if that process is alive and is coffer-NAME; else 0. */
static pid_t running_pid(const char *run, const char *name)
{
	char path[PATH_MAX], buf[32] = "", exe[PATH_MAX], want[64];
	snprintf(path, sizeof path, "%s/%s.pid", run, name);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	long pid = strtol(buf, NULL, 10);
	if (pid <= 0)
		return 0;
	/* A stale pid file may name a PID since reused: the executable must match. */
	snprintf(path, sizeof path, "/proc/%ld/exe", pid);
	n = readlink(path, exe, sizeof exe - 1);
	if (n < 0)
		return 0;
	exe[n] = 0;
	snprintf(want, sizeof want, "/coffer-%s", name);
	size_t wl = strlen(want), el = strlen(exe);
	const char *del = " (deleted)";
	if (el > strlen(del) && strcmp(exe + el - strlen(del), del) == 0)
		el -= strlen(del);
	if (el < wl || strncmp(exe + el - wl, want, wl) != 0)
		return 0;
	return (pid_t)pid;
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Starts daemon i detached (its own session), logging to LOG/NAME.log. */
static int spawn(size_t i, const char *bin, const char *dir, const char *pass,
		 const struct up_args *a, pid_t *out)
{
	char state[PATH_MAX], run[PATH_MAX], etc[PATH_MAX], log[PATH_MAX], name[64];
	snprintf(name, sizeof name, "log/%s.log", daemons[i].name);
	if (path_in(dir, "state", state, sizeof state) != 0 ||
	    path_in(dir, "run", run, sizeof run) != 0 || path_in(dir, "etc", etc, sizeof etc) != 0 ||
	    pjoin(log, sizeof log, dir, name) != 0)
		return -ENAMETOOLONG;
	const char *argv[16];
	size_t n = 0;
	argv[n++] = bin;
	argv[n++] = "-f";
	argv[n++] = "--state-dir";
	argv[n++] = state;
	argv[n++] = "--run-dir";
	argv[n++] = run;
	argv[n++] = "--config-dir";
	argv[n++] = etc;
	if (daemons[i].keys) {
		argv[n++] = "--passphrase-file";
		argv[n++] = pass;
	}
	if (a->clock_file != NULL && strcmp(daemons[i].name, "scheduler") == 0) {
		argv[n++] = "--clock-file";
		argv[n++] = a->clock_file;
	}
	argv[n] = NULL;
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (fd < 0 || nul < 0 || dup2(nul, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
			_exit(127);
		(void)setsid();
		signal(SIGPIPE, SIG_DFL);
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	*out = pid;
	return 0;
}

static int cmd_up_dev(const struct up_args *a)
{
	char dir[PATH_MAX], sub[PATH_MAX], run[PATH_MAX], state[PATH_MAX], etc[PATH_MAX];
	char pass[PATH_MAX];
	bool made = false;
	int e = path_in(a->dev, "", dir, sizeof dir);
	static const char *const subs[] = { "etc", "state", "run", "log" };
	for (size_t i = 0; e == 0 && i < 4; i++) {
		path_in(dir, subs[i], sub, sizeof sub);
		if ((e = mkdir_p(sub)) != 0)
			log_errorx("cannot create %s: %s", sub, coffer_strerror(e));
	}
	if (e != 0)
		return EXIT_FAIL;
	path_in(dir, "run", run, sizeof run);
	path_in(dir, "state", state, sizeof state);
	path_in(dir, "etc", etc, sizeof etc);
	char roles[256], f[PATH_MAX];
	snprintf(roles, sizeof roles,
		 "# Development mode (coffer up --dev): this uid holds every role.\n"
		 "# Never on an appliance: see etc/roles.conf in the sources.\n"
		 "dev-single-user = %u\n", (unsigned)getuid());
	if (pjoin(f, sizeof f, etc, "roles.conf") != 0 || write_default(f, roles) != 0)
		return EXIT_FAIL;
	if (pjoin(f, sizeof f, etc, "levels.conf") != 0 || write_default(f, levels_default_conf) != 0)
		return EXIT_FAIL;
	if (passphrase_file(dir, pass, sizeof pass, &made) != 0) {
		log_errorx("cannot make a passphrase file in %s", dir);
		return EXIT_FAIL;
	}
	if (pjoin(f, sizeof f, state, "keystore/root") != 0)
		return EXIT_FAIL;
	if (access(f, F_OK) != 0) {
		struct buf pw = { 0 };
		struct keystore_init_opts o;
		keystore_init_opts_default(&o);
		if (a->kdf_cost)
			o.scrypt_n = 1ull << a->kdf_cost;
		e = io_read_file_at(AT_FDCWD, pass, &pw, 4096);
		size_t len = pw.len;
		if (len > 0 && pw.data[len - 1] == '\n')
			len--;
		if (e == 0)
			e = keystore_init(state, (const char *)pw.data, len, &o);
		buf_fini(&pw);
		if (e != 0)
			return EXIT_FAIL; /* keystore_init said why */
		if (!a->quiet)
			fprintf(stderr, "created a keystore in %s/keystore\n", state);
	}
	/* The daemons do not run unaudited. */
	if (pjoin(f, sizeof f, state, "audit/trail") != 0)
		return EXIT_FAIL;
	if (access(f, F_OK) != 0) {
		char key[PATH_MAX];
		struct audit_params ap;
		audit_params_default(&ap);
		if (path_in(dir, "audit-initial.key", key, sizeof key) != 0 ||
		    console_audit_init(state, SUITE_INTERNATIONAL, &ap, key, a->quiet) != 0)
			return EXIT_FAIL;
	}
	if (made)
		fprintf(stderr, "the keystore's passphrase is in %s (mode 0600): keep it, it "
				"is the only way to unlock the keystore\n", pass);
	pid_t pids[N_DAEMONS] = { 0 };
	char bins[N_DAEMONS][PATH_MAX];
	/* Every binary found before any is started: all or none. */
	for (size_t i = 0; i < N_DAEMONS; i++)
		if (daemon_path(i, bins[i], sizeof bins[i]) != 0)
			return EXIT_FAIL;
	int rc = EXIT_OK;
	for (size_t i = 0; i < N_DAEMONS; i++) {
		const char *bin = bins[i];
		if (running_pid(run, daemons[i].name) != 0) {
			if (!a->quiet)
				fprintf(stderr, "coffer-%s is already running\n", daemons[i].name);
			continue;
		}
		char pidname[64];
		snprintf(pidname, sizeof pidname, "%s.pid", daemons[i].name);
		if (pjoin(f, sizeof f, run, pidname) == 0)
			(void)unlink(f); /* stale: its process is gone */
		if ((e = spawn(i, bin, dir, pass, a, &pids[i])) != 0) {
			log_errorx("cannot start coffer-%s: %s", daemons[i].name, coffer_strerror(e));
			rc = EXIT_FAIL;
			break;
		}
	}
	/* Ready when each writes its pid file (after its socket listens). */
	int64_t deadline = mono_ms() + START_WAIT_MS;
	for (size_t i = 0; rc == EXIT_OK && i < N_DAEMONS; i++) {
		while (pids[i] != 0 && running_pid(run, daemons[i].name) != pids[i]) {
			int st;
			if (waitpid(pids[i], &st, WNOHANG) == pids[i] || mono_ms() > deadline) {
				log_errorx("coffer-%s did not start; see %s/log/%s.log", daemons[i].name,
					   dir, daemons[i].name);
				rc = EXIT_FAIL;
				break;
			}
			usleep(20000);
		}
		if (pids[i] != 0 && rc == EXIT_OK && !a->quiet)
			fprintf(stderr, "coffer-%s started (pid %ld)\n", daemons[i].name, (long)pids[i]);
	}
	if (rc != EXIT_OK) {
		/* Half an appliance is no use: stop what this call started. */
		for (size_t i = 0; i < N_DAEMONS; i++)
			if (pids[i] != 0 && kill(pids[i], SIGTERM) == 0)
				(void)waitpid(pids[i], NULL, 0);
		return rc;
	}
	printf("export COFFER_RUN_DIR=%s COFFER_STATE_DIR=%s COFFER_CONFIG_DIR=%s\n", run, state,
	       etc);
	return EXIT_OK;
}

static int cmd_down_dev(const struct up_args *a)
{
	char dir[PATH_MAX], run[PATH_MAX];
	if (path_in(a->dev, "", dir, sizeof dir) != 0 || path_in(dir, "run", run, sizeof run) != 0)
		return EXIT_FAIL;
	pid_t pids[N_DAEMONS] = { 0 };
	size_t n = 0;
	/* The scheduler first, so it submits nothing to daemons that are leaving. */
	for (size_t k = N_DAEMONS; k-- > 0;) {
		pids[k] = running_pid(run, daemons[k].name);
		if (pids[k] != 0 && kill(pids[k], SIGTERM) == 0)
			n++;
		else
			pids[k] = 0;
	}
	int64_t deadline = mono_ms() + STOP_WAIT_MS;
	int rc = EXIT_OK;
	for (size_t k = N_DAEMONS; k-- > 0;) {
		while (pids[k] != 0 && kill(pids[k], 0) == 0 && running_pid(run, daemons[k].name) == pids[k]) {
			if (mono_ms() > deadline) {
				log_errorx("coffer-%s (pid %ld) did not stop within %d s", daemons[k].name,
					   (long)pids[k], STOP_WAIT_MS / 1000);
				rc = EXIT_FAIL;
				break;
			}
			usleep(20000);
		}
		if (pids[k] != 0 && rc == EXIT_OK && !a->quiet)
			fprintf(stderr, "coffer-%s stopped\n", daemons[k].name);
	}
	if (n == 0 && !a->quiet)
		fprintf(stderr, "no daemon was running under %s\n", dir);
	return rc;
}

int cmd_up(int argc, char **argv)
{
	struct up_args a = { 0 };
	int rc = parse(argc, argv, "up", &a);
	return rc >= 0 ? rc : cmd_up_dev(&a);
}

int cmd_down(int argc, char **argv)
{
	struct up_args a = { 0 };
	int rc = parse(argc, argv, "down", &a);
	return rc >= 0 ? rc : cmd_down_dev(&a);
}
