/*
 * Shared pieces of the console: option parsing helpers, the passphrase,
 * progress lines and output escaping. Commands live in cmd_*.c.
 */
#ifndef COFFER_CONSOLE_CONSOLE_H
#define COFFER_CONSOLE_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "crypto/pkey.h"
#include "repo/repo.h"

/* Exit codes. */
#define EXIT_OK 0
#define EXIT_FAIL 1
#define EXIT_USAGE 2
#define EXIT_PARTIAL 3 /* finished, but some source files could not be read */

/* Options every repository command takes. */
struct common_opts {
	const char *repo;
	const char *dataset;     /* --dataset NAME: appliance mode, instead of --repo */
	const char *state_dir;   /* --state-dir, else $COFFER_STATE_DIR, else /var/lib/coffer */
	const char *config_dir;  /* --config-dir, else $COFFER_CONFIG_DIR, else /etc/coffer */
	const char *run_dir;     /* --run-dir: go through the daemons there (daemon.h) */
	const char *passphrase_file;
	bool json;
	bool quiet;
};

/*
 * Reads the passphrase: --passphrase-file, else $COFFER_PASSPHRASE_FILE,
 * else a prompt on the terminal (twice when confirm). Never from an
 * argument. A single trailing newline is removed. Returns 0 and a
 * secmem-allocated string (free with passphrase_free), or -1 after
 * printing why.
 */
int passphrase_get(const struct common_opts *c, bool confirm, char **pass, size_t *len);
void passphrase_free(char *pass, size_t len);

/*
 * Opens the repository named by c: --repo asks for its passphrase;
 * --dataset opens the dataset's repository with its key set from the
 * unlocked keystore (appliance.c). NULL on error, after saying why.
 */
struct repo *console_open_repo(const struct common_opts *c);

/* Appliance mode (appliance.c). */
struct keystore;
/* The absolute state / configuration directory chosen by c (static storage). */
const char *console_state_dir(const struct common_opts *c);
const char *console_config_dir(const struct common_opts *c);
/*
 * Opens the keystore and unlocks it: the session cache first (coffer
 * keystore unlock), else the passphrase. -1 after saying why.
 */
int console_keystore_unlocked(const struct common_opts *c, struct keystore **out);
/*
 * Reads a PEM public key file (another site's or an approver's) for use;
 * what names it in messages ("recipient key"). -1 after saying why.
 */
int console_load_public_key(const char *path, enum pkey_use use, const char *what,
			    struct pkey **out);
/* Opens dataset c->dataset's repository with its key set; NULL after saying why. */
struct repo *console_open_dataset(const struct common_opts *c);

/*
 * Creates the audit trail in state_dir (cmd_audit.c) and hands out K(0):
 * written to key_out (a new file, mode 0600), else printed once. -1
 * after saying why.
 */
struct audit_params;
int console_audit_init(const char *state_dir, uint32_t suite, const struct audit_params *p,
		       const char *key_out, bool quiet);

/* True when progress lines should be shown (stderr is a terminal). */
bool progress_enabled(const struct common_opts *c);
/*
 * Prints one progress line in place: "what: N units, bytes, rate" and the
 * ETA when total is known.
 */
void progress_line(const char *what, uint64_t count, const char *unit, uint64_t bytes,
		   uint64_t total, uint64_t errors, uint64_t start_ns);
void progress_clear(void);
uint64_t console_now_ns(void);

/* Human-readable byte counts ("1.5 GiB"); buf of at least 32 bytes. */
const char *fmt_bytes(uint64_t n, char *buf, size_t size);
/* Local time "2026-11-22 06:21:55". */
const char *fmt_time(int64_t sec, char *buf, size_t size);
/* Prints bytes escaping control characters and invalid UTF-8 as \xNN. */
void print_escaped(FILE *f, const uint8_t *p, size_t n);
/* Prints a JSON string literal (quotes included) for arbitrary bytes. */
void json_string(FILE *f, const uint8_t *p, size_t n);
void json_cstr(FILE *f, const char *s);
void json_hex(FILE *f, const uint8_t *p, size_t n);

/* Parses a non-negative decimal option value; -1 after printing on error. */
int parse_uint(const char *opt, const char *s, unsigned *out);
/* Parses --threads N (1..256, as backup and restore take it); -1 after printing. */
int parse_threads(const char *s, unsigned *out);
/* --suite NAME: "international" or "national"; an unknown name is named. */
int parse_suite(const char *name, uint32_t *out);

/* Commands: argc/argv start at the command name. Return an exit code. */
int cmd_init(int argc, char **argv);
int cmd_backup(int argc, char **argv);
int cmd_snapshots(int argc, char **argv);
int cmd_ls(int argc, char **argv);
int cmd_restore(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_forget(int argc, char **argv);
int cmd_prune(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_keystore(int argc, char **argv);
int cmd_dataset(int argc, char **argv);
int cmd_audit(int argc, char **argv);
/* Through the daemons only (daemon.h). */
int cmd_status(int argc, char **argv);
int cmd_jobs(int argc, char **argv);
int cmd_job(int argc, char **argv);
int cmd_policy(int argc, char **argv);
int cmd_approver(int argc, char **argv);
int cmd_erase(int argc, char **argv);
int cmd_up(int argc, char **argv);
int cmd_down(int argc, char **argv);

/* getopt_long entries shared by all repository commands, and their handler. */
#define COMMON_LONGOPTS                                            \
	{ "repo", required_argument, NULL, 'r' },                  \
	{ "passphrase-file", required_argument, NULL, 'P' },       \
	{ "passphrase", required_argument, NULL, 'X' },            \
	{ "json", no_argument, NULL, 'j' },                        \
	{ "quiet", no_argument, NULL, 'q' },                       \
	{ "dataset", required_argument, NULL, 'D' },               \
	{ "state-dir", required_argument, NULL, 'S' },             \
	{ "config-dir", required_argument, NULL, 'C' },            \
	{ "run-dir", required_argument, NULL, 'U' },               \
	{ "help", no_argument, NULL, 'h' }
/*
 * Handles a common option; returns 1 if handled, 0 if not ours. An option
 * that tries to pass the passphrase itself is refused (0, after saying why,
 * so the command prints its usage and exits 2) without echoing it: "--passphrase" is listed only so getopt does not take it, or
 * "--pass", for an abbreviation of --passphrase-file.
 */
int common_opt(struct common_opts *c, int opt, const char *arg);
/* Checks that --repo was given; prints usage hint otherwise. */
int common_require_repo(const struct common_opts *c, const char *cmd);
/* Checks that exactly one of --repo and --dataset was given. */
int common_require_target(const struct common_opts *c, const char *cmd);
/* Resolves SNAP and loads the snapshot; prints why on failure. */
int console_load_snapshot(struct repo *r, const char *spec, uint8_t id[32],
			  struct snapshot *s);

#endif
