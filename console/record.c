/*
 * The console's own audit records (record.h): one per command that ran in
 * direct mode, written when the command ends, with the first error it
 * reported as the outcome. A command that reached a daemon is recorded
 * by the daemon instead, request by request.
 */
#include "record.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "audit/audit.h"
#include "conf/roles.h"
#include "crypto/crypto.h"
#include "util/log.h"

static struct common_opts noted;   /* copies: the commands free theirs */
static bool daemon_used;
static char first_error[400];

void record_note_opts(const struct common_opts *c)
{
	noted = *c;
}

void record_note_daemon(void)
{
	daemon_used = true;
}

static void keep_first_error(enum log_level lvl, const char *msg, void *arg)
{
	(void)arg;
	if (lvl == LOG_LVL_ERROR && first_error[0] == 0)
		snprintf(first_error, sizeof first_error, "%s", log_untag(msg));
}

void record_begin(void)
{
	log_set_thread_sink(keep_first_error, NULL);
}

/* "console dataset create": the command and its subcommand word, if any. */
static void op_name(int argc, char **argv, char *out, size_t size)
{
	if (argc >= 2 && argv[1][0] != '-')
		snprintf(out, size, "console %.24s %.24s", argv[0], argv[1]);
	else
		snprintf(out, size, "console %.48s", argv[0]);
}

/*
 * The digest of the arguments. A passphrase given as an argument is
 * refused by common_opt, but it is in argv all the same: it and its
 * value are left out, so no record depends on a secret.
 */
static void hash_arguments(uint32_t suite, int argc, char **argv, uint8_t out[32])
{
	char joined[4096];
	size_t n = 0;
	for (int i = 0; i < argc; i++) {
		const char *s = argv[i];
		if (strncmp(s, "--pass", 6) == 0 && strncmp(s, "--passphrase-file", 17) != 0) {
			if (strchr(s, '=') == NULL)
				i++; /* its value is the next argument */
			continue;
		}
		size_t l = strlen(s) + 1;
		if (l > sizeof joined - n)
			break;
		memcpy(joined + n, s, l);
		n += l;
	}
	(void)suite_hash(suite_by_id(suite), joined, n, out);
}

static void roles_text(char *out, size_t size)
{
	struct roles_conf *rc = NULL;
	unsigned roles = 0;
	char why[256];
	if (roles_load(console_config_dir(&noted), &rc) == 0 &&
	    roles_of_peer(rc, getuid(), getgid(), &roles, why, sizeof why) == 0)
		roles_describe(roles, out, size);
	else
		snprintf(out, size, "unknown");
	roles_free(rc);
}

void record_end(int argc, char **argv, int exit_code)
{
	log_set_thread_sink(NULL, NULL);
	if (daemon_used)
		return;
	struct audit *a = NULL;
	const char *dir = console_state_dir(&noted);
	int e = audit_open(dir, &a);
	if (e == -ENOENT)
		return; /* not an appliance's state directory: nothing to record into */
	if (e != 0) {
		log_warnx("this command is not recorded in the audit trail in %s: %s", dir,
			  coffer_strerror(e));
		return;
	}
	char op[64], role[129], name[65], outcome[512], target[257];
	uint8_t params[32] = { 0 };
	user_name(getuid(), name, sizeof name);
	op_name(argc, argv, op, sizeof op);
	roles_text(role, sizeof role);
	snprintf(target, sizeof target, "%s",
		 noted.dataset ? noted.dataset : noted.repo ? noted.repo : "");
	if (exit_code == 0)
		snprintf(outcome, sizeof outcome, "ok");
	else
		snprintf(outcome, sizeof outcome, "%s (exit %d)%s%s",
			 exit_code == 2 ? "refused" : exit_code == 3 ? "partial" : "failed",
			 exit_code, first_error[0] ? ": " : "", first_error);
	hash_arguments(audit_suite(a), argc, argv, params);
	struct audit_record r = { .uid = (uint32_t)getuid(), .actor = name, .role = role,
				  .op = op, .target = target, .outcome = outcome,
				  .origin = "console" };
	memcpy(r.params, params, 32);
	if ((e = audit_append(a, &r)) != 0)
		log_warnx("this command is not recorded in the audit trail: %s",
			  coffer_strerror(e));
	audit_close(a);
}
