/*
 * roles.conf: parsing, and the roles of a peer (roles.h). The parser works
 * on a bounded copy of each line, as levels.c does, so any input yields
 * either a complete configuration or one message naming file, line and
 * rule. roles_of_groups() is pure; roles_of_peer() adds the lookups in the
 * system's user database.
 *
 * Those lookups go through NSS and block: with the files backend
 * (/etc/passwd, /etc/group) getpwuid_r, getgrouplist and getgrgid_r each
 * read and scan the files, tens of microseconds in all on a small system;
 * with LDAP or SSSD each may wait on the network or a daemon for
 * milliseconds, or seconds when a server is down. They also need the
 * files, the libnss_* modules (loaded on first use) and the sockets of
 * nscd or sssd, so they must run before a chroot or a seccomp filter takes
 * them away. Any lookup failure fails the whole request closed: a group
 * that could not be named might be the one that makes a separation
 * conflict.
 */
#include "conf/roles.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/escape.h"
#include "io/io.h"
#include "util/log.h"

#define LINE_MAX_LEN 4096
#define CONF_MAX_SIZE (1 << 20)
#define NSS_BUF_MAX (16u << 20)  /* largest passwd or group record we accept */
#define PEER_GROUPS_MAX 65536    /* NGROUPS_MAX on Linux */

const char roles_default_conf[] =
	"# Coffer roles: CONFIG_DIR/roles.conf (default /etc/coffer/roles.conf, or\n"
	"# --config-dir DIR / $COFFER_CONFIG_DIR). Who may ask the daemons for what.\n"
	"# See docs/daemons.md, \"Roles\".\n"
	"#\n"
	"# A request's identity is the unix uid and gid of the process that sent it.\n"
	"# Its roles come from the unix groups of that uid (its primary group, its\n"
	"# other groups and the gid it runs under), as mapped here:\n"
	"#\n"
	"# sysadmin = GROUP[, GROUP...]  datasets, policies, jobs, status.\n"
	"# secadmin = GROUP[, ...]       unlock and lock the keystore, keystore status.\n"
	"# auditor  = GROUP[, ...]       read and verify the audit trail, status.\n"
	"# operator = GROUP[, ...]       backups, restores, verifications, snapshots,\n"
	"#                               jobs, status.\n"
	"# approver = GROUP[, ...]       sign destruction requests.\n"
	"# daemon   = USER[, ...]        unix USER names (not groups) of the other\n"
	"#                               daemons, e.g. the scheduler's coffer-sched.\n"
	"# dev-single-user = UID         development mode only (coffer up --dev):\n"
	"#                               that one uid holds every role and nobody\n"
	"#                               else holds any. Never on an appliance.\n"
	"#\n"
	"# Names are 1-32 of a-z 0-9 _ - starting with a letter or _, optionally\n"
	"# ending in $, separated by commas. Comments take a line of their own. A\n"
	"# role left out is held by nobody; root holds only what its groups grant,\n"
	"# so that the audit trail names a person.\n"
	"#\n"
	"# sysadmin, secadmin and auditor are exclusive: no group may be mapped to\n"
	"# two of them, and a user whose groups grant two of them is refused every\n"
	"# request until the accounts are fixed.\n"
	"#\n"
	"# Unknown keys, keys given twice, empty lists and bad names are refused\n"
	"# with the file, line and rule named; nothing is applied from a bad file.\n"
	"# A file anyone may write is refused. Without this file the same mapping\n"
	"# is built in.\n"
	"\n"
	"sysadmin = coffer-sysadmin\n"
	"secadmin = coffer-secadmin\n"
	"auditor = coffer-auditor\n"
	"operator = coffer-operator\n"
	"approver = coffer-approver\n"
	"daemon = coffer-sched\n";

/* One name of one list: a group granting a role, or a daemon's user. */
struct roles_entry {
	char name[ROLES_NAME_MAX + 1];
	unsigned role;             /* one enum role; ROLE_DAEMON: a user name */
	unsigned line;             /* where it was listed */
};

struct roles_conf {
	struct roles_entry *v;     /* in file order */
	size_t n;
	bool dev;                  /* dev-single-user given */
	uid_t dev_uid;
};

/* The keys of roles.conf and the role each grants. */
static const struct {
	const char *key;
	unsigned role;             /* 0: dev-single-user */
} roles_keys[] = {
	{ "sysadmin", ROLE_SYSADMIN }, { "secadmin", ROLE_SECADMIN },
	{ "auditor", ROLE_AUDITOR },   { "operator", ROLE_OPERATOR },
	{ "approver", ROLE_APPROVER }, { "daemon", ROLE_DAEMON },
	{ "dev-single-user", 0 },
};
#define ROLES_NKEYS (sizeof roles_keys / sizeof roles_keys[0])

struct parser {
	const char *file;
	unsigned line;
	struct roles_conf *c;
	size_t cap;                       /* of c->v */
	unsigned key_line[ROLES_NKEYS];   /* where each key was given; 0: not yet */
};

static void bad(const struct parser *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void bad(const struct parser *p, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	log_errorx("%s:%u: %s", p->file, p->line, msg);
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
		s[--n] = 0;
	return s;
}

/* 1..ROLES_NAME_MAX of a-z 0-9 _ -, first a letter or _, optionally a final $. */
static bool valid_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > ROLES_NAME_MAX || !((s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
		return false;
	if (s[n - 1] == '$')
		n--;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
		      s[i] == '_' || s[i] == '-'))
			return false;
	return true;
}

/* The exclusive roles are bits 0..2: by[] in roles_of_groups() relies on it. */
_Static_assert(ROLES_EXCLUSIVE == 7u, "exclusive roles are the three lowest bits");

/* Index (0..31) of the lowest bit set in role. */
static unsigned role_index(unsigned role)
{
	unsigned i = 0;
	while (i < 31 && !(role & (1u << i)))
		i++;
	return i;
}

/*
 * Adds name to the list of role: refuses a bad name, a name listed twice
 * for one role, and a group mapped to two exclusive roles.
 */
static int role_add(struct parser *p, unsigned role, const char *name)
{
	const char *key = role_name((enum role)role);
	const char *what = role == ROLE_DAEMON ? "user" : "group";
	struct roles_conf *c = p->c;
	char shown[80];
	if (*name == 0) {
		bad(p, "empty name in the list for %s (names are separated by single commas)",
		    key);
		return -EINVAL;
	}
	if (!valid_name(name)) {
		bad(p,
		    "bad %s name '%s' for %s (expected 1 to 32 of a-z 0-9 _ -, starting with "
		    "a letter or _, optionally ending in $%s)",
		    what, escape_cstr(name, shown, sizeof shown), key,
		    strchr(name, '#') ? "; comments take a line of their own" : "");
		return -EINVAL;
	}
	for (size_t i = 0; i < c->n; i++) {
		const struct roles_entry *e = &c->v[i];
		/* Users (daemon) and groups are separate namespaces. */
		if ((e->role == ROLE_DAEMON) != (role == ROLE_DAEMON) ||
		    strcmp(e->name, name) != 0)
			continue;
		if (e->role == role) {
			bad(p, "%s '%s' is listed twice for %s", what, name, key);
			return -EINVAL;
		}
		if ((e->role & ROLES_EXCLUSIVE) && (role & ROLES_EXCLUSIVE)) {
			bad(p,
			    "group '%s' is mapped to both %s (line %u) and %s: sysadmin, "
			    "secadmin and auditor must be held by different people",
			    name, role_name((enum role)e->role), e->line, key);
			return -EINVAL;
		}
	}
	if (c->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 16;
		struct roles_entry *nv = realloc(c->v, cap * sizeof *nv);
		if (nv == NULL)
			return -ENOMEM;
		c->v = nv;
		p->cap = cap;
	}
	struct roles_entry *e = &c->v[c->n++];
	memset(e, 0, sizeof *e);
	memcpy(e->name, name, strlen(name));
	e->role = role;
	e->line = p->line;
	return 0;
}

/* "NAME[, NAME...]" for role. */
static int role_list(struct parser *p, unsigned role, char *val)
{
	if (*val == 0) {
		bad(p, "empty list for %s (name at least one %s, or leave the key out)",
		    role_name((enum role)role), role == ROLE_DAEMON ? "user" : "group");
		return -EINVAL;
	}
	for (char *s = val;;) {
		char *comma = strchr(s, ',');
		if (comma != NULL)
			*comma = 0;
		int e = role_add(p, role, trim(s));
		if (e != 0 || comma == NULL)
			return e;
		s = comma + 1;
	}
}

/* dev-single-user = UID: decimal, any uid but (uid_t)-1. */
static int parse_dev_uid(struct parser *p, const char *val)
{
	uint64_t v = 0;
	const uint64_t max = (uint64_t)(uid_t)-1 - 1;
	char shown[80];
	int ok = *val != 0;
	for (const char *s = val; ok && *s; s++) {
		ok = *s >= '0' && *s <= '9';
		v = v * 10 + (uint64_t)(*s - '0');
		ok = ok && v <= max;
	}
	if (!ok) {
		bad(p, "bad uid '%s' for dev-single-user (expected a decimal number, 0 to %llu)",
		    escape_cstr(val, shown, sizeof shown), (unsigned long long)max);
		return -EINVAL;
	}
	p->c->dev = true;
	p->c->dev_uid = (uid_t)v;
	return 0;
}

static int roles_line(struct parser *p, char *s)
{
	char *eq = strchr(s, '=');
	char shown[80];
	if (eq == NULL) {
		bad(p, "expected 'key = value'");
		return -EINVAL;
	}
	*eq = 0;
	char *key = trim(s), *val = trim(eq + 1);
	size_t k = 0;
	while (k < ROLES_NKEYS && strcmp(key, roles_keys[k].key) != 0)
		k++;
	if (k == ROLES_NKEYS) {
		bad(p,
		    "unknown key '%s' (expected sysadmin, secadmin, auditor, operator, "
		    "approver, daemon or dev-single-user)",
		    escape_cstr(key, shown, sizeof shown));
		return -EINVAL;
	}
	if (p->key_line[k] != 0) {
		bad(p, "'%s' given twice (first at line %u)", key, p->key_line[k]);
		return -EINVAL;
	}
	p->key_line[k] = p->line;
	if (roles_keys[k].role == 0)
		return parse_dev_uid(p, val);
	return role_list(p, roles_keys[k].role, val);
}

int roles_parse(const char *text, size_t len, const char *file, struct roles_conf **out)
{
	struct parser p = { .file = file };
	char *line = malloc(LINE_MAX_LEN + 1);
	int e = -ENOMEM;
	p.c = calloc(1, sizeof *p.c);
	if (p.c == NULL || line == NULL)
		goto out;
	size_t pos = 0;
	e = 0;
	while (pos < len && e == 0) {
		size_t end = pos;
		while (end < len && text[end] != '\n')
			end++;
		p.line++;
		if (end - pos > LINE_MAX_LEN) {
			bad(&p, "line longer than 4096 bytes");
			e = -EINVAL;
			break;
		}
		if (memchr(text + pos, 0, end - pos) != NULL) {
			bad(&p, "NUL byte in line");
			e = -EINVAL;
			break;
		}
		memcpy(line, text + pos, end - pos);
		line[end - pos] = 0;
		pos = end + 1;
		char *s = trim(line);
		if (*s == 0 || *s == '#' || *s == ';')
			continue;
		e = roles_line(&p, s);
	}
	if (e == 0) {
		*out = p.c;
		p.c = NULL;
	}
out:
	free(line);
	roles_free(p.c);
	return e;
}

int roles_load(const char *config_dir, struct roles_conf **out)
{
	char path[PATH_MAX];
	if ((size_t)snprintf(path, sizeof path, "%s/roles.conf", config_dir) >= sizeof path)
		return -ENAMETOOLONG;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return roles_parse(roles_default_conf, sizeof roles_default_conf - 1,
				   "(built-in roles.conf)", out);
	if (fd < 0) {
		int e = -errno;
		log_errorx("cannot read %s: %s", path, coffer_strerror(e));
		return e;
	}
	struct stat st;
	if (fstat(fd, &st) != 0) {
		int e = -errno;
		close(fd);
		log_errorx("cannot read %s: %s", path, coffer_strerror(e));
		return e;
	}
	if (st.st_mode & S_IWOTH) {
		close(fd);
		log_errorx("%s: refused: anyone may write it, and so give themselves every "
			   "role (chmod o-w)", path);
		return -EPERM;
	}
	struct buf text = { 0 };
	int e = io_read_fd(fd, &text, CONF_MAX_SIZE);
	close(fd);
	if (e != 0)
		log_errorx("cannot read %s: %s", path, coffer_strerror(e));
	else
		e = roles_parse((const char *)text.data, text.len, path, out);
	buf_fini(&text);
	return e;
}

void roles_free(struct roles_conf *c)
{
	if (c == NULL)
		return;
	free(c->v);
	free(c);
}

bool roles_dev_mode(const struct roles_conf *c, uid_t *uid)
{
	if (c->dev && uid != NULL)
		*uid = c->dev_uid;
	return c->dev;
}

/*
 * The -EPERM sentence for a peer holding the exclusive roles ex, granted
 * by the groups by[] (indexed by role bit).
 */
static void conflict_why(uid_t uid, const char *user, unsigned ex, const char *const *by,
			 char *why, size_t size)
{
	char shown[ROLES_NAME_MAX * 4 + 8], who[sizeof shown + 16];
	char held[3][ROLES_NAME_MAX + 32];
	unsigned k = 0;
	if (user != NULL)
		snprintf(who, sizeof who, "user %s", escape_cstr(user, shown, sizeof shown));
	else
		snprintf(who, sizeof who, "uid %lu", (unsigned long)uid);
	for (unsigned i = 0; i < 3; i++)
		if (ex & (1u << i))
			snprintf(held[k++], sizeof held[0], "%s (group %s)",
				 role_name((enum role)(1u << i)), by[i]);
	if (k == 2)
		snprintf(why, size, "%s holds both %s and %s", who, held[0], held[1]);
	else
		snprintf(why, size, "%s holds %s, %s and %s", who, held[0], held[1], held[2]);
	size_t used = strlen(why);
	snprintf(why + used, size - used,
		 ": the roles must be held by different people; no request is accepted "
		 "until the accounts are fixed");
}

int roles_of_groups(const struct roles_conf *c, uid_t uid, const char *user,
		    const char *const *group_names, size_t n, unsigned *roles, char *why,
		    size_t size)
{
	if (c->dev) {
		*roles = uid == c->dev_uid ? ROLES_ALL : 0;
		return 0;
	}
	unsigned r = 0;
	const char *by[3] = { NULL, NULL, NULL }; /* first group granting each exclusive role */
	for (size_t i = 0; i < n; i++) {
		if (group_names[i] == NULL)
			continue;
		for (size_t j = 0; j < c->n; j++) {
			const struct roles_entry *e = &c->v[j];
			if (e->role == ROLE_DAEMON || strcmp(e->name, group_names[i]) != 0)
				continue;
			r |= e->role;
			unsigned k = role_index(e->role); /* 0..2 for the exclusive roles */
			if (k < 3 && by[k] == NULL)
				by[k] = e->name;
		}
	}
	for (size_t j = 0; user != NULL && j < c->n; j++)
		if (c->v[j].role == ROLE_DAEMON && strcmp(c->v[j].name, user) == 0)
			r |= ROLE_DAEMON;
	unsigned ex = r & ROLES_EXCLUSIVE;
	if (ex & (ex - 1)) {
		if (size > 0)
			conflict_why(uid, user, ex, by, why, size);
		return -EPERM;
	}
	*roles = r;
	return 0;
}

/* A buffer size to start the *_r lookups with. */
static size_t nss_buf_start(int name)
{
	long n = sysconf(name);
	return n > 0 && n <= 65536 ? (size_t)n : 4096;
}

/*
 * getpwuid_r with a growing buffer. 0 with *found false when uid has no
 * entry; a positive errno when the user database fails.
 */
static int lookup_user(uid_t uid, struct passwd *pw, char **bufp, bool *found)
{
	size_t n = nss_buf_start(_SC_GETPW_R_SIZE_MAX);
	for (;;) {
		char *b = realloc(*bufp, n);
		if (b == NULL)
			return ENOMEM;
		*bufp = b;
		struct passwd *res = NULL;
		int rc = getpwuid_r(uid, pw, b, n, &res);
		if (rc == ERANGE && n < NSS_BUF_MAX) {
			n *= 2;
			continue;
		}
		if (rc == 0 || rc == ENOENT) {
			*found = rc == 0 && res != NULL;
			return 0;
		}
		return rc;
	}
}

void user_name(uid_t uid, char *out, size_t size)
{
	struct passwd pw;
	char *b = NULL;
	bool found = false;
	if (lookup_user(uid, &pw, &b, &found) == 0 && found)
		snprintf(out, size, "%s", pw.pw_name);
	else
		snprintf(out, size, "%u", (unsigned)uid);
	free(b);
}

/* The name of gid as a new string in *name, or NULL if it has none. */
static int lookup_group(gid_t gid, char **name)
{
	size_t n = nss_buf_start(_SC_GETGR_R_SIZE_MAX);
	char *b = NULL;
	int rc;
	*name = NULL;
	for (;;) {
		char *nb = realloc(b, n);
		if (nb == NULL) {
			rc = ENOMEM;
			break;
		}
		b = nb;
		struct group gr, *res = NULL;
		rc = getgrgid_r(gid, &gr, b, n, &res);
		if (rc == ERANGE && n < NSS_BUF_MAX) {
			n *= 2;
			continue;
		}
		if (rc == ENOENT || (rc == 0 && res == NULL)) {
			rc = 0;
		} else if (rc == 0 && (*name = strdup(gr.gr_name)) == NULL) {
			rc = ENOMEM;
		}
		break;
	}
	free(b);
	return rc;
}

static int gid_cmp(const void *a, const void *b)
{
	gid_t x = *(const gid_t *)a, y = *(const gid_t *)b;
	return (x > y) - (x < y);
}

/*
 * The gids of user (NULL: none known): primary, peer and getgrouplist,
 * sorted and without repeats, as a new array in *out (*n entries).
 */
static int peer_gids(const char *user, gid_t primary, gid_t peer, gid_t **out, size_t *n)
{
	int cap = 64, got = 0;
	gid_t *g = NULL;
	for (;;) {
		gid_t *ng = realloc(g, ((size_t)cap + 1) * sizeof *g);
		if (ng == NULL) {
			free(g);
			return ENOMEM;
		}
		g = ng;
		g[0] = peer;
		if (user == NULL) {
			got = 0;
			break;
		}
		int want = cap;
		got = getgrouplist(user, primary, g + 1, &want);
		if (got >= 0)
			break;
		/* Too small: glibc tells how many there are; never loop forever. */
		if (cap >= PEER_GROUPS_MAX) {
			free(g);
			return E2BIG;
		}
		cap = want > cap && want <= PEER_GROUPS_MAX ? want : cap * 2;
	}
	size_t total = (size_t)got + 1;
	qsort(g, total, sizeof *g, gid_cmp);
	size_t u = 0;
	for (size_t i = 0; i < total; i++)
		if (u == 0 || g[u - 1] != g[i])
			g[u++] = g[i];
	*out = g;
	*n = u;
	return 0;
}

int roles_of_peer(const struct roles_conf *c, uid_t uid, gid_t gid, unsigned *roles,
		  char *why, size_t size)
{
	if (c->dev)
		return roles_of_groups(c, uid, NULL, NULL, 0, roles, why, size);
	struct passwd pw;
	const char *user = NULL;  /* in pwbuf */
	char *pwbuf = NULL, **names = NULL;
	gid_t *gids = NULL;
	size_t n = 0;
	bool found = false;
	int e = 0, rc = lookup_user(uid, &pw, &pwbuf, &found);
	if (rc != 0) {
		snprintf(why, size, "cannot look up uid %lu in the user database: %s",
			 (unsigned long)uid, strerror(rc));
		goto out;
	}
	if (found)
		user = pw.pw_name;
	rc = peer_gids(user, found ? pw.pw_gid : gid, gid, &gids, &n);
	if (rc == 0 && (names = calloc(n, sizeof *names)) == NULL)
		rc = ENOMEM;
	if (rc != 0) {
		snprintf(why, size, "cannot list the groups of uid %lu: %s", (unsigned long)uid,
			 strerror(rc));
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		rc = lookup_group(gids[i], &names[i]);
		if (rc != 0) {
			snprintf(why, size, "cannot look up gid %lu (a group of uid %lu): %s",
				 (unsigned long)gids[i], (unsigned long)uid, strerror(rc));
			goto out;
		}
	}
	e = roles_of_groups(c, uid, user, (const char *const *)names, n, roles, why, size);
out:
	for (size_t i = 0; names != NULL && i < n; i++)
		free(names[i]);
	free(names);
	free(gids);
	free(pwbuf);
	return rc != 0 ? -rc : e;
}

const char *role_name(enum role r)
{
	switch (r) {
	case ROLE_SYSADMIN: return "sysadmin";
	case ROLE_SECADMIN: return "secadmin";
	case ROLE_AUDITOR: return "auditor";
	case ROLE_OPERATOR: return "operator";
	case ROLE_APPROVER: return "approver";
	case ROLE_DAEMON: return "daemon";
	default: return "unknown";
	}
}

void roles_describe(unsigned roles, char *buf, size_t size)
{
	static const enum role alpha[] = {
		ROLE_APPROVER, ROLE_AUDITOR, ROLE_DAEMON, ROLE_OPERATOR, ROLE_SECADMIN,
		ROLE_SYSADMIN,
	};
	size_t used = 0;
	if (size == 0)
		return;
	buf[0] = 0;
	for (size_t i = 0; i < sizeof alpha / sizeof alpha[0]; i++) {
		if (!(roles & alpha[i]))
			continue;
		int w = snprintf(buf + used, size - used, "%s%s", used ? ", " : "",
				 role_name(alpha[i]));
		if (w < 0 || (size_t)w >= size - used)
			return; /* truncated */
		used += (size_t)w;
	}
	if (used == 0)
		snprintf(buf, size, "no role");
}
