/* Command line, logging and directories of every daemon (daemon.h). */
#include "daemon/daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/log.h"

static void usage(FILE *f, const char *name)
{
	fprintf(f,
		"usage: coffer-%s [-f] [-n] [-d] [--state-dir DIR] [--run-dir DIR]\n"
		"       [--config-dir DIR] [--clock-file FILE] [--passphrase-file FILE]\n"
		"  -f  stay in the foreground, log to stderr too\n"
		"  -n  check the configuration and exit\n"
		"  -d  log debug messages (every request; secrets are never shown)\n",
		name);
}

/* dir (option, else environment, else fallback) made absolute into out. */
static int pick_dir(const char *opt, const char *env, const char *fallback, char *out,
		    size_t size)
{
	const char *d = opt;
	if (d == NULL || *d == 0)
		d = getenv(env);
	if (d == NULL || *d == 0)
		d = fallback;
	char cwd[PATH_MAX];
	int n;
	if (d[0] == '/' || getcwd(cwd, sizeof cwd) == NULL)
		n = snprintf(out, size, "%s", d);
	else
		n = snprintf(out, size, "%s/%s", cwd, d);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int daemon_args_parse(int argc, char **argv, const char *name, struct daemon_args *a)
{
	static const struct option longopts[] = {
		{ "state-dir", required_argument, NULL, 'S' },
		{ "run-dir", required_argument, NULL, 'R' },
		{ "config-dir", required_argument, NULL, 'C' },
		{ "clock-file", required_argument, NULL, 'K' },
		{ "passphrase-file", required_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *state = NULL, *run = NULL, *config = NULL;
	int opt;
	memset(a, 0, sizeof *a);
	a->name = name;
	while ((opt = getopt_long(argc, argv, "fndh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'f': a->foreground = true; break;
		case 'n': a->check_only = true; break;
		case 'd': a->debug = true; break;
		case 'S': state = optarg; break;
		case 'R': run = optarg; break;
		case 'C': config = optarg; break;
		case 'K': a->clock_file = optarg; break;
		case 'P': a->passphrase_file = optarg; break;
		case 'h': usage(stdout, name); return 0;
		default: usage(stderr, name); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr, name);
		return 2;
	}
	if (pick_dir(state, "COFFER_STATE_DIR", "/var/lib/coffer", a->state_dir,
		     sizeof a->state_dir) != 0 ||
	    pick_dir(run, "COFFER_RUN_DIR", "/run/coffer", a->run_dir, sizeof a->run_dir) != 0 ||
	    pick_dir(config, "COFFER_CONFIG_DIR", "/etc/coffer", a->config_dir,
		     sizeof a->config_dir) != 0) {
		fprintf(stderr, "coffer-%s: a directory name is too long\n", name);
		return 2;
	}
	return -1;
}

int daemon_setup(const struct daemon_args *a)
{
	static char ident[48];
	snprintf(ident, sizeof ident, "coffer-%s", a->name);
	log_init(ident, a->debug ? LOG_LVL_DEBUG : LOG_LVL_INFO);
	/* -n prints its findings to the terminal only. */
	if (!a->check_only)
		log_use_syslog(ident, a->foreground);
	/*
	 * The daemons run as different users sharing the group that owns the
	 * state directory: backupd writes repositories that restored reads,
	 * both write jobs.db. Others get nothing; secrets (the keystore) are
	 * created 0600 explicitly.
	 */
	umask(007);
	if (!a->check_only && mkdir(a->run_dir, 0755) != 0 && errno != EEXIST) {
		log_errorx("cannot create the run directory %s: %s", a->run_dir, strerror(errno));
		return -errno;
	}
	return 0;
}

int64_t daemon_now(const struct daemon_args *a)
{
	if (a->clock_file != NULL) {
		char buf[32] = "";
		int fd = open(a->clock_file, O_RDONLY | O_CLOEXEC);
		ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
		if (fd >= 0)
			close(fd);
		if (n > 0) {
			buf[n] = 0;
			char *end;
			long long v = strtoll(buf, &end, 10);
			if (end != buf && v >= 0)
				return v;
		}
		log_warnx("clock file %s unreadable; using the system clock", a->clock_file);
	}
	return (int64_t)time(NULL);
}
