/*
 * Fuzz harness for the roles.conf parser: any bytes must give either a
 * configuration that keeps three-role separation, or -EINVAL; never a
 * crash, a leak or a read outside the input. A configuration that parses
 * is then asked for the roles of a few synthetic identities.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf/roles.h"
#include "util/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const names[] = {
	"coffer-sysadmin", "coffer-secadmin", "coffer-auditor", "coffer-operator",
	"coffer-approver", "coffer-sched", "a", "b", "c", "_x", "host$", "root", "", NULL,
};
#define NNAMES (sizeof names / sizeof names[0])
#define MAX_WORDS 512

/* Bytes a group or user name may hold. */
static bool word_byte(uint8_t b)
{
	return (b >= 'a' && b <= 'z') || (b >= '0' && b <= '9') || b == '_' || b == '-' ||
	       b == '$';
}

static bool two_exclusive(unsigned r)
{
	unsigned ex = r & ROLES_EXCLUSIVE;
	return (ex & (ex - 1)) != 0;
}

/* Roles granted by the single group g (or, with user set, by that user alone). */
static unsigned one(const struct roles_conf *c, uid_t uid, const char *user, const char *g)
{
	unsigned r = 0;
	char why[128];
	const char *gs[] = { g };
	/* One group never grants two exclusive roles: the parser refused that. */
	if (roles_of_groups(c, uid, user, gs, g ? 1 : 0, &r, why, sizeof why) != 0)
		abort();
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct roles_conf *c = NULL;
	log_init("fuzz", LOG_LVL_SILENT);
	if (roles_parse((const char *)data, size, "fuzz", &c) != 0)
		return 0;
	uid_t dev_uid = 0;
	bool dev = roles_dev_mode(c, &dev_uid);
	/*
	 * Every word of the input is tried as a group, so every name the
	 * configuration holds is: none may grant two exclusive roles.
	 */
	static char words[MAX_WORDS][ROLES_NAME_MAX + 1];
	const char *gs[NNAMES + MAX_WORDS];
	size_t n = 0;
	for (size_t i = 0; i < NNAMES; i++)
		gs[n++] = names[i];
	for (size_t i = 0; i < size && n < NNAMES + MAX_WORDS;) {
		size_t j = i;
		while (j < size && word_byte(data[j]))
			j++;
		if (j > i && j - i <= ROLES_NAME_MAX) {
			char *w = words[n - NNAMES];
			memcpy(w, data + i, j - i);
			w[j - i] = 0;
			gs[n++] = w;
		}
		i = j + 1;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned r = one(c, 1000, NULL, gs[i]);
		if (dev && r != (dev_uid == 1000 ? ROLES_ALL : 0u))
			abort();
		if (!dev && (two_exclusive(r) || (r & ROLE_DAEMON)))
			abort(); /* one group, one exclusive role; daemon is a user's */
		if (gs[i] != NULL)
			(void)one(c, 1000, gs[i], NULL);
	}
	/* Every group at once: either a union or a refusal with a sentence. */
	unsigned r = 0xdead;
	char why[256] = "";
	int e = roles_of_groups(c, 0, "root", gs, n, &r, why, sizeof why);
	if (e == 0) {
		char desc[128];
		roles_describe(r, desc, sizeof desc);
		if ((!dev && two_exclusive(r)) || desc[0] == 0)
			abort();
	} else if (e != -EPERM || r != 0xdead || strstr(why, "holds") == NULL) {
		abort();
	}
	if (dev && (roles_of_groups(c, dev_uid, NULL, NULL, 0, &r, why, sizeof why) != 0 ||
		    r != ROLES_ALL))
		abort();
	roles_free(c);
	return 0;
}
