/*
 * The console's side of the daemons (docs/daemons.md, "Directories"):
 * whether a command goes to a daemon or runs in direct mode, and the
 * calls that send a request, print a refusal as the daemon worded it, and
 * follow a job's events with live progress.
 */
#ifndef COFFER_CONSOLE_DAEMON_H
#define COFFER_CONSOLE_DAEMON_H

#include <stdbool.h>
#include <stdint.h>

#include "console.h"
#include "ipc/client.h"
#include "ipc/ipc.h"

#define CALL_TIMEOUT_MS 60000

/*
 * The run directory when commands go through the daemons: --run-dir,
 * else COFFER_RUN_DIR, else /run/coffer if backupd's socket is there;
 * NULL for direct mode. (Static storage.)
 */
const char *console_run_dir(const struct common_opts *c);

/* Connects to daemon name ("backupd"); NULL after saying why. */
struct ipc_client *console_connect(const struct common_opts *c, const char *name);

/*
 * Sends w and waits for its reply into m (valid until the next call on
 * cl). A refusal is printed as "coffer: error: DAEMON: MESSAGE"; returns
 * 0, or the negative errno after printing.
 */
int console_call(struct ipc_client *cl, const char *name, struct ipc_writer *w,
		 struct ipc_msg *m);

/* Reads a dataset record (the DATASET fields of the protocol) into d. */
struct dataset;
void console_get_dataset(struct ipc_reader *rd, struct dataset *d);

/* What a watched job ended as. */
struct job_end {
	char state[17];
	char message[1025];
	char snapshot[65];
};

/*
 * Follows job's events on cl until it ends: log events are printed,
 * progress shown on a terminal (what names the work: "backup").
 * 0 with *end filled, or a negative errno (connection lost).
 */
int console_follow_job(struct ipc_client *cl, uint64_t job, const char *what,
		       const struct common_opts *c, struct job_end *end);

/* The exit code for a job that ended as state ("succeeded" 0, else 1). */
int console_job_exit(const struct job_end *end);

/*
 * Sends the job request w (whose reply is the job's ID) to daemon name on
 * cl, then either reports the queued job (detach) or follows it to its end
 * (what names the work on the progress line) and prints how it ended, as
 * JSON with --json. Returns the exit code; *end (may be NULL) receives the
 * end of a followed job.
 */
int console_run_job(struct ipc_client *cl, const char *name, struct ipc_writer *w,
		    const char *what, const struct common_opts *c, bool detach,
		    struct job_end *end);

/*
 * What HELLO and STATUS say about one daemon, for `coffer status` and
 * `coffer keystore status`: whether it runs, who the caller is as the
 * daemon sees it, and its state. A daemon that is not running is a state
 * here, not an error.
 */
enum probe_state {
	PROBE_DOWN,      /* no socket, or nobody listening */
	PROBE_UP,        /* HELLO and STATUS answered */
	PROBE_FAILED,    /* reachable, but something failed: error says what */
};
/* STATUS keystore field: what the daemon holds. */
enum probe_keystore { PROBE_KS_NONE = 0, PROBE_KS_ABSENT = 1, PROBE_KS_LOCKED = 2,
		      PROBE_KS_UNLOCKED = 3 };
struct daemon_probe {
	enum probe_state state;
	char error[1100];        /* PROBE_FAILED (and a refused STATUS): why */
	bool have_hello, have_status;
	/* HELLO reply */
	char daemon[33], version[33];
	uint32_t protocol, uid, gid, roles;
	char roles_text[257];
	bool dev_mode;
	/* STATUS reply */
	int64_t started;
	uint8_t keystore;        /* enum probe_keystore */
	uint32_t running, queued;
	char detail[1025];
};

/*
 * Sends HELLO then STATUS to daemon name under run_dir, waiting at most
 * timeout_ms for each answer, and fills *p. Never prints: the caller
 * reports. A refused STATUS (no role) leaves have_hello set and the
 * refusal in error.
 */
void console_probe(const char *run_dir, const char *name, int timeout_ms,
		   struct daemon_probe *p);
/* "holds no keys", "no keystore", "locked", "unlocked" (or "unknown"). */
const char *console_keystore_state(uint8_t keystore);

#endif
