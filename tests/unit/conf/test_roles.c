/*
 * roles.conf and the roles of a peer (conf/roles.h): valid files parse;
 * each broken rule is refused with its line; the built-in default matches
 * etc/roles.conf; roles are the union of what the groups grant, a
 * separation conflict refuses everything, development mode gives one uid
 * every role; and the real current user resolves through the system's
 * user database.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

#include "conf/roles.h"
#include "util/log.h"

static int parse(const char *text, struct roles_conf **out)
{
	return roles_parse(text, strlen(text), "test.conf", out);
}

/* Roles of uid 1000 (user "u") in the given groups; asserts success. */
static unsigned roles_in(const struct roles_conf *c, const char *user,
			 const char *const *groups, size_t n)
{
	unsigned r = 0xdead;
	char why[256];
	assert_int_equal(roles_of_groups(c, 1000, user, groups, n, &r, why, sizeof why), 0);
	assert_int_not_equal(r, 0xdead);
	return r;
}

static void test_default(void **state)
{
	(void)state;
	struct roles_conf *c = NULL;
	assert_int_equal(parse(roles_default_conf, &c), 0);
	assert_false(roles_dev_mode(c, NULL));
	static const struct {
		const char *group;
		unsigned role;
	} map[] = {
		{ "coffer-sysadmin", ROLE_SYSADMIN }, { "coffer-secadmin", ROLE_SECADMIN },
		{ "coffer-auditor", ROLE_AUDITOR },   { "coffer-operator", ROLE_OPERATOR },
		{ "coffer-approver", ROLE_APPROVER }, { "coffer-sched", 0 }, /* a user, not a group */
		{ "users", 0 },
	};
	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
		const char *g[] = { map[i].group };
		assert_int_equal(roles_in(c, "alice", g, 1), map[i].role);
	}
	/* daemon names a user. */
	assert_int_equal(roles_in(c, "coffer-sched", NULL, 0), ROLE_DAEMON);
	assert_int_equal(roles_in(c, "alice", NULL, 0), 0);
	assert_int_equal(roles_in(c, NULL, NULL, 0), 0);
	roles_free(c);
	roles_free(NULL);
}

/* The built-in text is etc/roles.conf, byte for byte. */
static void test_default_is_etc(void **state)
{
	(void)state;
	char path[4096];
	const char *src = __FILE__; /* .../tests/unit/conf/test_roles.c */
	const char *cut = strstr(src, "tests/unit/conf/test_roles.c");
	if (src[0] != '/' || cut == NULL)
		skip(); /* built from a relative path: cannot find the source tree */
	snprintf(path, sizeof path, "%.*setc/roles.conf", (int)(cut - src), src);
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	static char text[65536];
	size_t n = fread(text, 1, sizeof text - 1, f);
	fclose(f);
	text[n] = 0;
	assert_string_equal(text, roles_default_conf);
}

static void test_good(void **state)
{
	(void)state;
	struct roles_conf *c = NULL;
	const char *text = "# top\n"
			   "\n"
			   "  ; also a comment\n"
			   "sysadmin=admins , ops-lead\r\n"
			   "\tsecadmin =  keyholders\t\n"
			   "auditor = _audit\n"
			   "operator = ops, admins, host$\n"
			   "approver = abcdefghijklmnopqrstuvwxyz012345\n"
			   "daemon = coffer-sched, admins\n";
	assert_int_equal(parse(text, &c), 0);
	assert_false(roles_dev_mode(c, NULL));
	const char *g1[] = { "admins" };
	assert_int_equal(roles_in(c, "x", g1, 1), ROLE_SYSADMIN | ROLE_OPERATOR);
	const char *g2[] = { "ops-lead" };
	assert_int_equal(roles_in(c, "x", g2, 1), ROLE_SYSADMIN);
	const char *g3[] = { "keyholders" };
	assert_int_equal(roles_in(c, "x", g3, 1), ROLE_SECADMIN);
	const char *g4[] = { "_audit" };
	assert_int_equal(roles_in(c, "x", g4, 1), ROLE_AUDITOR);
	const char *g5[] = { "host$" };
	assert_int_equal(roles_in(c, "x", g5, 1), ROLE_OPERATOR);
	const char *g6[] = { "abcdefghijklmnopqrstuvwxyz012345" };
	assert_int_equal(roles_in(c, "x", g6, 1), ROLE_APPROVER);
	/* Users and groups are separate: "admins" the user is a daemon only. */
	assert_int_equal(roles_in(c, "admins", NULL, 0), ROLE_DAEMON);
	/* Exact match: no prefix, no case folding. */
	const char *g7[] = { "admin", "Admins", "admins2", "host" };
	assert_int_equal(roles_in(c, "coffer-sche", g7, 4), 0);
	roles_free(c);

	/* An empty file, or only comments: valid, nobody holds anything. */
	assert_int_equal(parse("", &c), 0);
	assert_int_equal(roles_in(c, "coffer-sched", g1, 1), 0);
	roles_free(c);
	assert_int_equal(parse("# nothing\n\n", &c), 0);
	roles_free(c);
	/* No final newline. */
	assert_int_equal(parse("operator = ops", &c), 0);
	assert_int_equal(roles_in(c, "x", (const char *const[]){ "ops" }, 1), ROLE_OPERATOR);
	roles_free(c);
	/* Not NUL-terminated: only len bytes are read. */
	const char buf[] = "operator = ops\nauditor = zz";
	assert_int_equal(roles_parse(buf, 14, "test.conf", &c), 0);
	assert_int_equal(roles_in(c, "x", (const char *const[]){ "zz" }, 1), 0);
	roles_free(c);
}

/* Each refusal: -EINVAL, *out untouched, "test.conf:LINE:" and the rule. */
static void test_refused(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		unsigned line;
		const char *rule;
	} bad[] = {
		{ "colour = red\n", 1, "unknown key 'colour'" },
		{ "operator = a\n\nSysadmin = b\n", 3, "unknown key 'Sysadmin'" },
		{ "dev_single_user = 1\n", 1, "unknown key" },
		{ "operator =\n", 1, "empty list for operator" },
		{ "# x\ndaemon = \t\n", 2, "empty list for daemon (name at least one user" },
		{ "operator = a\nsysadmin = b\noperator = c\n", 3,
		  "'operator' given twice (first at line 1)" },
		{ "dev-single-user = 1\ndev-single-user = 1\n", 2, "given twice" },
		{ "sysadmin = a\nauditor = b, a\n", 2,
		  "group 'a' is mapped to both sysadmin (line 1) and auditor" },
		{ "secadmin = k\n#\nsysadmin = k\n", 3,
		  "group 'k' is mapped to both secadmin (line 1) and sysadmin" },
		{ "auditor = x\nsecadmin = y,x\n", 2, "must be held by different people" },
		{ "operator = a, b, a\n", 1, "group 'a' is listed twice for operator" },
		{ "daemon = s, s\n", 1, "user 's' is listed twice for daemon" },
		{ "operator = a,,b\n", 1, "empty name in the list for operator" },
		{ "operator = a,\n", 1, "empty name" },
		{ "operator = ,a\n", 1, "empty name" },
		{ "operator = Ops\n", 1, "bad group name 'Ops' for operator" },
		{ "operator = 1ops\n", 1, "bad group name '1ops'" },
		{ "operator = -ops\n", 1, "bad group name" },
		{ "operator = o$s\n", 1, "bad group name" },
		{ "operator = $\n", 1, "bad group name" },
		{ "operator = a b\n", 1, "bad group name 'a b'" },
		{ "operator = a.b\n", 1, "bad group name" },
		{ "operator = abcdefghijklmnopqrstuvwxyz0123456\n", 1, "1 to 32" },
		{ "daemon = Sched\n", 1, "bad user name 'Sched' for daemon" },
		{ "operator = ops # the operators\n", 1, "comments take a line of their own" },
		{ "operator ops\n", 1, "expected 'key = value'" },
		{ "= ops\n", 1, "unknown key ''" },
		{ "dev-single-user =\n", 1, "bad uid '' for dev-single-user" },
		{ "dev-single-user = alice\n", 1, "bad uid 'alice'" },
		{ "dev-single-user = -1\n", 1, "bad uid '-1'" },
		{ "dev-single-user = 1 2\n", 1, "bad uid" },
		{ "dev-single-user = 4294967295\n", 1, "0 to 4294967294" },
		{ "dev-single-user = 99999999999999999999999\n", 1, "bad uid" },
		{ "operator = a\nauditor = b\x01\n", 2, "bad group name 'b\\x01'" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct roles_conf *c = (struct roles_conf *)0x1;
		char want[64];
		testutil_stderr_begin();
		int e = parse(bad[i].text, &c);
		const char *msg = testutil_stderr_end();
		if (e != -EINVAL)
			fail_msg("accepted case %zu: %s", i, bad[i].text);
		assert_ptr_equal(c, (struct roles_conf *)0x1);
		snprintf(want, sizeof want, "test.conf:%u: ", bad[i].line);
		if (strstr(msg, want) == NULL || strstr(msg, bad[i].rule) == NULL)
			fail_msg("case %zu: want '%s' and '%s' in: %s", i, want, bad[i].rule, msg);
		/* One message: the first rule broken, nothing after it. */
		assert_ptr_equal(strchr(msg, '\n'), msg + strlen(msg) - 1);
	}

	/* A NUL byte and an over-long line. */
	struct roles_conf *c = (struct roles_conf *)0x1;
	testutil_stderr_begin();
	int e = roles_parse("operator = a\nx\0y\n", 17, "test.conf", &c);
	const char *msg = testutil_stderr_end();
	assert_int_equal(e, -EINVAL);
	assert_non_null(strstr(msg, "test.conf:2: NUL byte"));
	static char longline[5000];
	memset(longline, 'a', sizeof longline - 1);
	memcpy(longline, "operator = ", 11);
	testutil_stderr_begin();
	e = parse(longline, &c);
	msg = testutil_stderr_end();
	assert_int_equal(e, -EINVAL);
	assert_non_null(strstr(msg, "test.conf:1: line longer than 4096 bytes"));
	assert_ptr_equal(c, (struct roles_conf *)0x1);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
}

static void test_load(void **state)
{
	(void)state;
	char dir[] = "/tmp/coffer-roles.XXXXXX", path[256];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/roles.conf", dir);
	struct roles_conf *c = NULL;

	/* No file: the built-in default. */
	assert_int_equal(roles_load(dir, &c), 0);
	assert_int_equal(roles_in(c, "x", (const char *const[]){ "coffer-auditor" }, 1),
			 ROLE_AUDITOR);
	assert_int_equal(roles_in(c, "coffer-sched", NULL, 0), ROLE_DAEMON);
	roles_free(c);

	/* A file replaces the default entirely. */
	write_file(path, "operator = staff\n", 0644);
	assert_int_equal(roles_load(dir, &c), 0);
	assert_int_equal(roles_in(c, "x", (const char *const[]){ "staff" }, 1), ROLE_OPERATOR);
	assert_int_equal(roles_in(c, "x", (const char *const[]){ "coffer-auditor" }, 1), 0);
	assert_int_equal(roles_in(c, "coffer-sched", NULL, 0), 0);
	roles_free(c);

	/* A bad file is refused with its path and line. */
	c = (struct roles_conf *)0x1;
	write_file(path, "operator = staff\nsysadmin = staff, \n", 0644);
	testutil_stderr_begin();
	int e = roles_load(dir, &c);
	const char *msg = testutil_stderr_end();
	assert_int_equal(e, -EINVAL);
	char want[300];
	snprintf(want, sizeof want, "%s:2: empty name", path);
	assert_non_null(strstr(msg, want));
	assert_ptr_equal(c, (struct roles_conf *)0x1);

	/* A file anyone may write is refused, however good its content. */
	write_file(path, "operator = staff\n", 0666);
	testutil_stderr_begin();
	e = roles_load(dir, &c);
	msg = testutil_stderr_end();
	assert_int_equal(e, -EPERM);
	assert_non_null(strstr(msg, "anyone may write it"));
	assert_ptr_equal(c, (struct roles_conf *)0x1);

	/* Something that is not a readable file. */
	unlink(path);
	assert_int_equal(mkdir(path, 0755), 0);
	testutil_stderr_begin();
	e = roles_load(dir, &c);
	(void)testutil_stderr_end();
	assert_int_equal(e, -EISDIR);
	rmdir(path);
	rmdir(dir);
}

static void test_union(void **state)
{
	(void)state;
	struct roles_conf *c = NULL;
	assert_int_equal(parse("sysadmin = admins\noperator = ops, night\n"
			       "approver = board\ndaemon = coffer-sched\n", &c), 0);
	const char *g[] = { "users", "ops", NULL, "board", "admins", "night", "ops" };
	assert_int_equal(roles_in(c, "bob", g, 7), ROLE_SYSADMIN | ROLE_OPERATOR | ROLE_APPROVER);
	assert_int_equal(roles_in(c, "coffer-sched", g, 2), ROLE_OPERATOR | ROLE_DAEMON);
	assert_int_equal(roles_in(c, "bob", g, 0), 0);
	/* Root holds nothing of its own, only what its groups grant. */
	unsigned r = 0xdead;
	char why[256];
	assert_int_equal(roles_of_groups(c, 0, "root", (const char *const[]){ "root" }, 1, &r, why,
					 sizeof why), 0);
	assert_int_equal(r, 0);
	assert_int_equal(roles_of_groups(c, 0, "root", (const char *const[]){ "root", "ops" }, 2,
					 &r, why, sizeof why), 0);
	assert_int_equal(r, ROLE_OPERATOR);
	roles_free(c);
}

static void test_separation(void **state)
{
	(void)state;
	struct roles_conf *c = NULL;
	assert_int_equal(parse("sysadmin = coffer-sysadmin\nsecadmin = keys\n"
			       "auditor = coffer-auditor\noperator = ops\n", &c), 0);
	unsigned r = 0xdead;
	char why[512];
	const char *g[] = { "ops", "coffer-auditor", "coffer-sysadmin" };
	assert_int_equal(roles_of_groups(c, 1000, "alice", g, 3, &r, why, sizeof why), -EPERM);
	assert_int_equal(r, 0xdead);
	assert_string_equal(why, "user alice holds both sysadmin (group coffer-sysadmin) and "
				 "auditor (group coffer-auditor): the roles must be held by "
				 "different people; no request is accepted until the accounts "
				 "are fixed");
	/* All three, and no user name: the uid is named. */
	const char *g3[] = { "keys", "coffer-auditor", "coffer-sysadmin" };
	assert_int_equal(roles_of_groups(c, 4242, NULL, g3, 3, &r, why, sizeof why), -EPERM);
	assert_non_null(strstr(why, "uid 4242 holds sysadmin (group coffer-sysadmin), secadmin "
				    "(group keys) and auditor (group coffer-auditor): "));
	/* A user name from the user database is shown escaped. */
	assert_int_equal(roles_of_groups(c, 1, "ev\nil", g3, 2, &r, why, sizeof why), -EPERM);
	assert_null(strchr(why, '\n'));
	/* A short buffer is cut, still terminated; size 0 is not written. */
	char small[16];
	memset(small, 'x', sizeof small);
	assert_int_equal(roles_of_groups(c, 1000, "alice", g, 3, &r, small, sizeof small), -EPERM);
	assert_int_equal(strlen(small), sizeof small - 1);
	assert_int_equal(roles_of_groups(c, 1000, "alice", g, 3, &r, NULL, 0), -EPERM);
	assert_int_equal(r, 0xdead);
	/* One exclusive role with anything else is fine. */
	const char *g2[] = { "ops", "keys" };
	assert_int_equal(roles_in(c, "alice", g2, 2), ROLE_SECADMIN | ROLE_OPERATOR);
	roles_free(c);
}

static void test_dev_mode(void **state)
{
	(void)state;
	struct roles_conf *c = NULL;
	/* The default mapping plus the development line, as coffer up --dev writes it. */
	char text[4096];
	snprintf(text, sizeof text, "%sdev-single-user = 1000\n", roles_default_conf);
	assert_int_equal(parse(text, &c), 0);
	uid_t uid = 0;
	assert_true(roles_dev_mode(c, &uid));
	assert_int_equal(uid, 1000);
	assert_true(roles_dev_mode(c, NULL));
	/* That uid holds every role, separation included, without any group. */
	assert_int_equal(roles_in(c, NULL, NULL, 0), ROLES_ALL);
	unsigned r = 0xdead;
	char why[256];
	/* Everyone else holds nothing, whatever their groups. */
	const char *g[] = { "coffer-operator", "coffer-sysadmin", "coffer-auditor" };
	assert_int_equal(roles_of_groups(c, 1001, "coffer-sched", g, 3, &r, why, sizeof why), 0);
	assert_int_equal(r, 0);
	/* roles_of_peer looks nothing up: a uid without an entry works. */
	assert_int_equal(roles_of_peer(c, 1000, 4000000000u, &r, why, sizeof why), 0);
	assert_int_equal(r, ROLES_ALL);
	assert_int_equal(roles_of_peer(c, 0, 0, &r, why, sizeof why), 0);
	assert_int_equal(r, 0);
	roles_free(c);

	/* uid 0 may be the development user (the demo may run as root). */
	assert_int_equal(parse("dev-single-user = 0\n", &c), 0);
	assert_true(roles_dev_mode(c, &uid));
	assert_int_equal(uid, 0);
	assert_int_equal(roles_of_peer(c, 0, 0, &r, why, sizeof why), 0);
	assert_int_equal(r, ROLES_ALL);
	roles_free(c);
	assert_int_equal(parse("dev-single-user = 4294967294\n", &c), 0);
	assert_true(roles_dev_mode(c, &uid));
	assert_int_equal(uid, 4294967294u);
	roles_free(c);
}

static void test_describe(void **state)
{
	(void)state;
	char buf[128];
	roles_describe(0, buf, sizeof buf);
	assert_string_equal(buf, "no role");
	roles_describe(ROLE_SYSADMIN | ROLE_OPERATOR, buf, sizeof buf);
	assert_string_equal(buf, "operator, sysadmin");
	roles_describe(ROLES_ALL, buf, sizeof buf);
	assert_string_equal(buf, "approver, auditor, daemon, operator, secadmin, sysadmin");
	roles_describe(ROLE_DAEMON | (1u << 20), buf, sizeof buf);
	assert_string_equal(buf, "daemon");
	roles_describe(1u << 20, buf, sizeof buf);
	assert_string_equal(buf, "no role");
	char small[6];
	roles_describe(ROLE_OPERATOR | ROLE_AUDITOR, small, sizeof small);
	assert_string_equal(small, "audit");
	roles_describe(ROLE_OPERATOR, buf, 0); /* nothing written, no crash */

	assert_string_equal(role_name(ROLE_SYSADMIN), "sysadmin");
	assert_string_equal(role_name(ROLE_SECADMIN), "secadmin");
	assert_string_equal(role_name(ROLE_AUDITOR), "auditor");
	assert_string_equal(role_name(ROLE_OPERATOR), "operator");
	assert_string_equal(role_name(ROLE_APPROVER), "approver");
	assert_string_equal(role_name(ROLE_DAEMON), "daemon");
	assert_string_equal(role_name((enum role)(ROLE_SYSADMIN | ROLE_AUDITOR)), "unknown");
	assert_string_equal(role_name((enum role)0), "unknown");
}

/* A uid with no entry in the user database, or (uid_t)-1 if none is found. */
static uid_t unused_uid(void)
{
	for (uid_t u = 3999999000u; u < 3999999100u; u++)
		if (getpwuid(u) == NULL)
			return u;
	return (uid_t)-1;
}

/* The real current user, through getpwuid_r, getgrouplist and getgrgid_r. */
static void test_peer_real(void **state)
{
	(void)state;
	uid_t uid = getuid();
	gid_t gid = getgid();
	struct group *gr = getgrgid(gid);
	if (gr == NULL)
		skip(); /* the primary group has no name here */
	char mine[256], text[600], why[512];
	snprintf(mine, sizeof mine, "%s", gr->gr_name);
	struct roles_conf *c = NULL;
	unsigned r = 0xdead;

	snprintf(text, sizeof text, "operator = %s\n", mine);
	assert_int_equal(parse(text, &c), 0);
	assert_int_equal(roles_of_peer(c, uid, gid, &r, why, sizeof why), 0);
	assert_int_equal(r, ROLE_OPERATOR);
	/* A uid without a user entry keeps the peer's gid only. */
	uid_t ghost = unused_uid();
	if (ghost != (uid_t)-1) {
		r = 0xdead;
		assert_int_equal(roles_of_peer(c, ghost, gid, &r, why, sizeof why), 0);
		assert_int_equal(r, ROLE_OPERATOR);
	}
	roles_free(c);

	/* A group the user is not in grants nothing. */
	assert_int_equal(parse("operator = coffer-no-such-group\n", &c), 0);
	assert_int_equal(roles_of_peer(c, uid, gid, &r, why, sizeof why), 0);
	assert_int_equal(r, 0);
	roles_free(c);

	/*
	 * The peer's gid counts as one of its groups: with the primary group
	 * mapped to sysadmin and another named group given as the peer's gid
	 * mapped to auditor, the request is refused naming both.
	 */
	struct group *other = NULL;
	setgrent();
	while ((other = getgrent()) != NULL)
		if (other->gr_gid != gid && strlen(other->gr_name) <= ROLES_NAME_MAX)
			break;
	char oname[256] = "";
	gid_t ogid = 0;
	if (other != NULL) {
		snprintf(oname, sizeof oname, "%s", other->gr_name);
		ogid = other->gr_gid;
	}
	endgrent();
	if (oname[0] == 0)
		return;
	snprintf(text, sizeof text, "sysadmin = %s\nauditor = %s\n", mine, oname);
	if (parse(text, &c) != 0)
		return; /* a group name roles.conf cannot spell */
	r = 0xdead;
	assert_int_equal(roles_of_peer(c, uid, ogid, &r, why, sizeof why), -EPERM);
	assert_int_equal(r, 0xdead);
	char want[600];
	snprintf(want, sizeof want, "sysadmin (group %s) and auditor (group %s)", mine, oname);
	assert_non_null(strstr(why, want));
	roles_free(c);
}

int main(void)
{
	log_init("test_roles", LOG_LVL_ERROR);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default),    cmocka_unit_test(test_default_is_etc),
		cmocka_unit_test(test_good),       cmocka_unit_test(test_refused),
		cmocka_unit_test(test_load),       cmocka_unit_test(test_union),
		cmocka_unit_test(test_separation), cmocka_unit_test(test_dev_mode),
		cmocka_unit_test(test_describe),   cmocka_unit_test(test_peer_real),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
