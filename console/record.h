/*
 * Records of commands run in direct mode in the audit trail of the
 * state directory, when it has one (docs/format/audit.md).
 */
#ifndef COFFER_CONSOLE_RECORD_H
#define COFFER_CONSOLE_RECORD_H

#include "console.h"

/* Called by common_opt: the directories and target the command uses. */
void record_note_opts(const struct common_opts *c);
/* Called on connecting to a daemon: the daemon records the requests. */
void record_note_daemon(void);
/* Around the command: keeps its first error for the outcome. */
void record_begin(void);
void record_end(int argc, char **argv, int exit_code);

#endif
