/*
 * What every Coffer daemon does the same way at start (docs/daemons.md):
 * its command line, logging to syslog (and stderr in the foreground), a
 * group-shared umask (007), and the directories it works in.
 *
 *   coffer-NAME [-f] [-n] [-d] [--state-dir DIR] [--run-dir DIR]
 *               [--config-dir DIR] [--clock-file FILE] [--passphrase-file FILE]
 *
 * -f stays in the foreground (systemd runs daemons so; so does `coffer
 * up`), -n checks the configuration and exits, -d logs debug messages
 * (every request, secrets elided). Directories default to the
 * environment (COFFER_STATE_DIR, COFFER_RUN_DIR, COFFER_CONFIG_DIR), then
 * to /var/lib/coffer, /run/coffer and /etc/coffer.
 */
#ifndef COFFER_DAEMON_DAEMON_H
#define COFFER_DAEMON_DAEMON_H

#include <stdbool.h>
#include <stdint.h>

struct daemon_args {
	const char *name;            /* "backupd", "restored", "scheduler" */
	char state_dir[4096], run_dir[4096], config_dir[4096];
	const char *clock_file;      /* scheduler: read "now" from here (tests) */
	const char *passphrase_file; /* unlock the keystore at start (development mode) */
	bool foreground, check_only, debug;
};

/*
 * Parses argv into a. Returns -1 to go on, or an exit code (0 after
 * --help, 2 after a usage error, which is printed).
 */
int daemon_args_parse(int argc, char **argv, const char *name, struct daemon_args *a);

/*
 * Logging (syslog, plus stderr with -f), umask 007, the run directory
 * created (0755) if absent. Returns 0 or a negative errno after saying why.
 */
int daemon_setup(const struct daemon_args *a);

/* Unix seconds now: the system clock, or the clock file when one is given. */
int64_t daemon_now(const struct daemon_args *a);

#endif
