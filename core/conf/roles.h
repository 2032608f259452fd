/*
 * Roles, read from CONFIG_DIR/roles.conf (docs/daemons.md, "Roles"), and
 * the mapping from a peer's unix identity to its roles. The daemons take
 * the peer's uid and gid from SO_PEERCRED, ask roles_of_peer() what that
 * identity may be, and check the role an operation needs against it.
 *
 * The file is line based; each key at most once, each value a list of
 * names separated by commas:
 *
 *   # comment
 *   sysadmin = GROUP[, GROUP...]
 *   secadmin = GROUP[, ...]
 *   auditor  = GROUP[, ...]
 *   operator = GROUP[, ...]
 *   approver = GROUP[, ...]
 *   daemon   = USER[, ...]       (user names, not groups: the other daemons)
 *   dev-single-user = UID        (development mode only: UID holds every role)
 *
 * A name is 1 to 32 of a-z 0-9 _ -, starting with a letter or _, and may
 * end in $ (the $ counts in the 32). A key left out grants its role to
 * nobody.
 *
 * Three-role separation: sysadmin, secadmin and auditor are exclusive. The
 * file is refused if one group is mapped to two of them, and a user whose
 * groups grant two of them gets no role at all (-EPERM) until the accounts
 * are fixed. As in levels.conf, a malformed file is refused whole, with
 * one message naming the file, the line and the rule broken; nothing is
 * ever half applied.
 *
 * Root (uid 0) gets no role implicitly, only what its groups grant: root
 * can bypass the daemons anyway, and the appliance's people must use their
 * own accounts so that the audit trail names a person, not "root".
 */
#ifndef COFFER_CONF_ROLES_H
#define COFFER_CONF_ROLES_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

enum role {
	ROLE_SYSADMIN = 1u << 0,
	ROLE_SECADMIN = 1u << 1,
	ROLE_AUDITOR = 1u << 2,
	ROLE_OPERATOR = 1u << 3,
	ROLE_APPROVER = 1u << 4,
	ROLE_DAEMON = 1u << 5,
};

/* No one may hold two of these (three-role separation). */
#define ROLES_EXCLUSIVE (ROLE_SYSADMIN | ROLE_SECADMIN | ROLE_AUDITOR)
/* Every role: what dev-single-user holds. */
#define ROLES_ALL (ROLE_SYSADMIN | ROLE_SECADMIN | ROLE_AUDITOR | ROLE_OPERATOR | \
		   ROLE_APPROVER | ROLE_DAEMON)

#define ROLES_NAME_MAX 32    /* bytes of a group or user name, $ included */

struct roles_conf;

/*
 * Parses text (len bytes, need not be NUL-terminated); file names it in
 * messages. On success *out is a new configuration for roles_free().
 * -EINVAL after logging "FILE:LINE: why" for the first rule broken (*out
 * untouched); -ENOMEM.
 */
int roles_parse(const char *text, size_t len, const char *file, struct roles_conf **out);
/*
 * Reads config_dir/roles.conf; if the file does not exist the built-in
 * default (roles_default_conf, the text of etc/roles.conf) is used. A file
 * that anyone may write is refused (-EPERM): whoever can write it can give
 * themselves every role. -EINVAL for a malformed file, -errno when it
 * exists but cannot be read; each is logged.
 */
int roles_load(const char *config_dir, struct roles_conf **out);
void roles_free(struct roles_conf *c); /* accepts NULL */

/* True, and *uid (may be NULL) set, if dev-single-user is configured. */
bool roles_dev_mode(const struct roles_conf *c, uid_t *uid);

/*
 * The roles of a peer, a pure function of the configuration and what the
 * caller resolved: uid, its user name (NULL if it has none) and the names
 * of the groups it belongs to (n entries; NULL entries are skipped).
 *
 * In development mode the configured uid holds ROLES_ALL and every other
 * uid nothing, whatever its groups. Otherwise the result is the union of
 * the roles its groups are mapped to, plus ROLE_DAEMON if user is listed
 * under daemon. Returns 0 and sets *roles (possibly 0: no role). If the
 * union holds two or more of ROLES_EXCLUSIVE returns -EPERM, leaves *roles
 * untouched and writes into why (size bytes) a sentence naming the user,
 * the roles and the groups granting them. why is written only on error.
 */
int roles_of_groups(const struct roles_conf *c, uid_t uid, const char *user,
		    const char *const *group_names, size_t n, unsigned *roles, char *why,
		    size_t size);

/*
 * The roles of the peer uid/gid (from SO_PEERCRED): resolves uid's user
 * name (getpwuid_r) and groups (its primary group, the peer's gid and
 * getgrouplist), names each group (getgrgid_r), then roles_of_groups().
 * A uid without a user entry keeps only the peer's gid; a gid without a
 * name matches nothing. Blocks on the system's user database (NSS), see
 * the comment in roles.c. In development mode nothing is looked up.
 *
 * Returns 0 and sets *roles; -EPERM on a separation conflict; -ENOMEM; or
 * -errno when the user database fails (fail closed: a group that cannot
 * be named might hide a conflict). why is written on every error.
 */
int roles_of_peer(const struct roles_conf *c, uid_t uid, gid_t gid, unsigned *roles,
		  char *why, size_t size);

/*
 * The name of uid's user for records and messages, or its decimal uid
 * when it has no entry or the user database fails; always NUL-terminated
 * (truncated if short). Blocks on NSS as roles_of_peer does.
 */
void user_name(uid_t uid, char *out, size_t size);

/* "sysadmin", "secadmin", "auditor", "operator", "approver", "daemon";
 * "unknown" for anything else (several bits included). */
const char *role_name(enum role r);

/*
 * Writes the role names in roles, in alphabetical order and separated by
 * ", " ("operator, sysadmin"), or "no role", into buf (size bytes, always
 * NUL-terminated when size > 0, truncated if short). Unknown bits are
 * ignored.
 */
void roles_describe(unsigned roles, char *buf, size_t size);

/* The built-in default roles.conf: the same text as etc/roles.conf. */
extern const char roles_default_conf[];

#endif
