/*
 * levels.conf: parsing and validation (levels.h). The parser works on a
 * bounded copy of each line, so any input, however damaged, yields either
 * a complete table of levels or one message naming file, line and rule.
 */
#include "conf/levels.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "io/io.h"
#include "util/log.h"

#define LINE_MAX_LEN 4096
#define CONF_MAX_SIZE (1 << 20)

const char levels_default_conf[] =
	"[level 1]\n"
	"name = internal\n"
	"suite = international\n"
	"replication = optional\n"
	"retention = 90d\n"
	"drill = 180d\n"
	"pool = pools/internal\n"
	"\n"
	"[level 2]\n"
	"name = sensitive\n"
	"suite = any\n"
	"replication = optional\n"
	"retention = 365d\n"
	"drill = 90d\n"
	"pool = pools/sensitive\n"
	"\n"
	"[level 3]\n"
	"name = important\n"
	"suite = national\n"
	"replication = required\n"
	"retention = 1095d\n"
	"drill = 30d\n"
	"pool = pools/important\n"
	"erase_approvals = 3\n";

/* Which keys a level has set, to refuse a key given twice. */
enum {
	SEEN_NAME = 1, SEEN_SUITE = 2, SEEN_REPL = 4, SEEN_RET = 8, SEEN_DRILL = 16,
	SEEN_POOL = 32, SEEN_CONC = 64, SEEN_ERASE_APPROVALS = 128, SEEN_ERASE_EXPIRY = 256,
	SEEN_DATASET_RETENTION = 512,
};

struct parser {
	const char *file;
	const char *state_dir;
	unsigned line;
	struct levels *l;
	struct level *cur;
	unsigned seen;
};

static void bad(const struct parser *p, unsigned line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void bad(const struct parser *p, unsigned line, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	log_errorx("%s:%u: %s", p->file, line, msg);
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

/* Decimal 1..max without sign, leading zeros allowed; -EINVAL otherwise. */
static int parse_num(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	if (*s == 0)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > max)
			return -EINVAL;
	}
	*out = v;
	return 0;
}

/* "N" + one of s m h d w, at most 100 years; 0 is refused (omit the key). */
static int parse_duration(const char *s, uint64_t *out)
{
	static const struct { char c; uint64_t mul; } units[] = {
		{ 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', 86400 }, { 'w', 604800 },
	};
	const uint64_t limit = 100ull * 366 * 86400;
	size_t n = strlen(s);
	char num[24];
	if (n < 2 || n - 1 >= sizeof num)
		return -EINVAL;
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
		if (s[n - 1] != units[i].c)
			continue;
		memcpy(num, s, n - 1);
		num[n - 1] = 0;
		uint64_t v;
		if (parse_num(num, limit / units[i].mul, &v) != 0 || v == 0)
			return -EINVAL;
		*out = v * units[i].mul;
		return 0;
	}
	return -EINVAL;
}

static int valid_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > LEVEL_NAME_MAX)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-' ||
		      *s == '_'))
			return 0;
	return 1;
}

/*
 * The absolute pool path for value v: joined to the state directory when
 * relative, with repeated and trailing slashes removed. "." and ".."
 * components are refused so that two spellings cannot name one place.
 */
static int pool_path(const char *state_dir, const char *v, char **out)
{
	size_t n = strlen(state_dir) + strlen(v) + 2;
	char *raw = malloc(n), *res = malloc(n);
	int e = -ENOMEM;
	if (raw == NULL || res == NULL)
		goto out;
	if (v[0] == '/')
		snprintf(raw, n, "%s", v);
	else
		snprintf(raw, n, "%s/%s", state_dir, v);
	size_t o = 0;
	e = -EINVAL;
	for (const char *s = raw; *s;) {
		while (*s == '/')
			s++;
		const char *c = s;
		while (*s && *s != '/')
			s++;
		size_t cl = (size_t)(s - c);
		if (cl == 0)
			break;
		if ((cl == 1 && c[0] == '.') || (cl == 2 && c[0] == '.' && c[1] == '.'))
			goto out;
		res[o++] = '/';
		memcpy(res + o, c, cl);
		o += cl;
	}
	if (o == 0 || o >= PATH_MAX)
		goto out; /* the root directory, or too long */
	res[o] = 0;
	*out = res;
	res = NULL;
	e = 0;
out:
	free(raw);
	free(res);
	return e;
}

/* a and b are normalised: equal, or one a directory prefix of the other. */
static int pools_overlap(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t n = la < lb ? la : lb;
	if (strncmp(a, b, n) != 0)
		return 0;
	return la == lb || (la < lb ? b[la] == '/' : a[lb] == '/');
}

static int level_section(struct parser *p, char *s)
{
	size_t n = strlen(s);
	if (s[n - 1] != ']') {
		bad(p, p->line, "a section header must end with ']'");
		return -EINVAL;
	}
	s[n - 1] = 0;
	s = trim(s + 1);
	if (strncmp(s, "level", 5) != 0 || (s[5] != ' ' && s[5] != '\t')) {
		bad(p, p->line, "unknown section '[%s]' (only [level N] exists)", s);
		return -EINVAL;
	}
	uint64_t num;
	if (parse_num(trim(s + 5), LEVEL_MAX, &num) != 0 || num == 0) {
		bad(p, p->line, "level number '%s' is not 1..255", trim(s + 5));
		return -EINVAL;
	}
	for (size_t i = 0; i < p->l->n; i++) {
		if (p->l->v[i].number == num) {
			bad(p, p->line, "duplicate level %u (first at line %u)", (unsigned)num,
			    p->l->v[i].line);
			return -EINVAL;
		}
	}
	struct level *nv = realloc(p->l->v, (p->l->n + 1) * sizeof *nv);
	if (nv == NULL)
		return -ENOMEM;
	p->l->v = nv;
	p->cur = &nv[p->l->n++];
	memset(p->cur, 0, sizeof *p->cur);
	p->cur->number = (unsigned)num;
	p->cur->concurrency = 1;
	p->cur->erase_approvals = LEVEL_ERASE_APPROVALS_DEFAULT;
	p->cur->erase_expiry_s = LEVEL_ERASE_EXPIRY_DEFAULT_S;
	p->cur->line = p->line;
	p->seen = 0;
	return 0;
}

static int level_key(struct parser *p, char *s)
{
	char *eq = strchr(s, '=');
	if (eq == NULL) {
		bad(p, p->line, "expected 'key = value'");
		return -EINVAL;
	}
	*eq = 0;
	char *key = trim(s), *val = trim(eq + 1);
	if (p->cur == NULL) {
		bad(p, p->line, "'%s' outside a [level N] section", key);
		return -EINVAL;
	}
	struct level *lv = p->cur;
	unsigned bit;
	int ok = 1;
	if (strcmp(key, "name") == 0) {
		bit = SEEN_NAME;
		ok = valid_name(val);
		if (ok)
			snprintf(lv->name, sizeof lv->name, "%s", val);
	} else if (strcmp(key, "suite") == 0) {
		bit = SEEN_SUITE;
		if (strcmp(val, "national") == 0)
			lv->suite = SUITE_NATIONAL;
		else if (strcmp(val, "international") == 0)
			lv->suite = SUITE_INTERNATIONAL;
		else if (strcmp(val, "any") == 0)
			lv->suite = LEVEL_SUITE_ANY;
		else
			ok = 0;
	} else if (strcmp(key, "replication") == 0) {
		bit = SEEN_REPL;
		if (strcmp(val, "required") == 0)
			lv->replication_required = true;
		else if (strcmp(val, "optional") == 0)
			lv->replication_required = false;
		else
			ok = 0;
	} else if (strcmp(key, "retention") == 0) {
		bit = SEEN_RET;
		ok = parse_duration(val, &lv->retention_s) == 0;
	} else if (strcmp(key, "drill") == 0) {
		bit = SEEN_DRILL;
		ok = parse_duration(val, &lv->drill_s) == 0;
	} else if (strcmp(key, "concurrency") == 0) {
		bit = SEEN_CONC;
		char *end;
		errno = 0;
		unsigned long v = strtoul(val, &end, 10);
		ok = *val >= '0' && *val <= '9' && *end == 0 && errno == 0 && v >= 1 && v <= 64;
		if (ok)
			lv->concurrency = (unsigned)v;
	} else if (strcmp(key, "erase_approvals") == 0) {
		bit = SEEN_ERASE_APPROVALS;
		uint64_t v;
		ok = parse_num(val, LEVEL_ERASE_APPROVALS_MAX, &v) == 0 && v >= 1;
		if (ok)
			lv->erase_approvals = (unsigned)v;
	} else if (strcmp(key, "erase_expiry") == 0) {
		bit = SEEN_ERASE_EXPIRY;
		ok = parse_duration(val, &lv->erase_expiry_s) == 0 &&
		     lv->erase_expiry_s <= LEVEL_ERASE_EXPIRY_MAX_S;
	} else if (strcmp(key, "dataset_retention") == 0) {
		bit = SEEN_DATASET_RETENTION;
		ok = parse_duration(val, &lv->dataset_retention_s) == 0;
	} else if (strcmp(key, "pool") == 0) {
		bit = SEEN_POOL;
		if (p->seen & bit)
			goto twice;
		int e = *val ? pool_path(p->state_dir, val, &lv->pool) : -EINVAL;
		if (e == -ENOMEM)
			return e;
		ok = e == 0;
	} else {
		bad(p, p->line, "unknown key '%s'", key);
		return -EINVAL;
	}
	if (p->seen & bit)
		goto twice;
	if (!ok) {
		static const char *const rules[] = {
			"1 to 32 of a-z 0-9 - _",
			"national, international or any",
			"required or optional",
			"N followed by s, m, h, d or w (N > 0, at most 100 years)",
			"a directory other than /, without . or .. components",
			"a whole number from 1 to 64",
			"a whole number from 1 to 16 (approvers, besides the supervisor)",
			"N followed by s, m, h, d or w, at most 90 days",
		};
		const char *rule = bit == SEEN_NAME ? rules[0] : bit == SEEN_SUITE ? rules[1] :
				   bit == SEEN_REPL ? rules[2] : bit == SEEN_POOL ? rules[4] :
				   bit == SEEN_CONC ? rules[5] :
				   bit == SEEN_ERASE_APPROVALS ? rules[6] :
				   bit == SEEN_ERASE_EXPIRY ? rules[7] : rules[3];
		bad(p, p->line, "bad value for %s (expected %s)", key, rule);
		return -EINVAL;
	}
	p->seen |= bit;
	return 0;
twice:
	bad(p, p->line, "'%s' given twice in one level", key);
	return -EINVAL;
}

/* Checks across levels once the whole file is read. */
static int levels_finish(struct parser *p)
{
	struct levels *l = p->l;
	if (l->n == 0) {
		bad(p, p->line ? p->line : 1, "no [level N] section: at least one level is needed");
		return -EINVAL;
	}
	for (size_t i = 0; i < l->n; i++) {
		if (l->v[i].name[0] == 0) {
			bad(p, l->v[i].line, "level has no 'name'");
			return -EINVAL;
		}
		if (l->v[i].pool == NULL) {
			bad(p, l->v[i].line, "level %s has no 'pool'", l->v[i].name);
			return -EINVAL;
		}
		for (size_t j = 0; j < i; j++) {
			if (strcmp(l->v[i].name, l->v[j].name) == 0) {
				bad(p, l->v[i].line, "level name '%s' is also used by level %u",
				    l->v[i].name, l->v[j].number);
				return -EINVAL;
			}
			if (pools_overlap(l->v[i].pool, l->v[j].pool)) {
				bad(p, l->v[i].line,
				    "pool of level %u shares or nests with the pool of level %u "
				    "(levels must not share storage)",
				    l->v[i].number, l->v[j].number);
				return -EINVAL;
			}
		}
	}
	/* Sorted by number: listings and lookups need no further order. */
	for (size_t i = 1; i < l->n; i++) {
		for (size_t j = i; j > 0 && l->v[j - 1].number > l->v[j].number; j--) {
			struct level t = l->v[j];
			l->v[j] = l->v[j - 1];
			l->v[j - 1] = t;
		}
	}
	return 0;
}

int levels_parse(const char *text, size_t len, const char *file, const char *state_dir,
		 struct levels **out)
{
	struct parser p = { .file = file, .state_dir = state_dir };
	char *line = malloc(LINE_MAX_LEN + 1);
	int e = -ENOMEM;
	p.l = calloc(1, sizeof *p.l);
	if (p.l == NULL || line == NULL)
		goto out;
	if (state_dir == NULL || state_dir[0] != '/') {
		log_errorx("%s: the state directory must be an absolute path", file);
		e = -EINVAL;
		goto out;
	}
	size_t pos = 0;
	e = 0;
	while (pos < len && e == 0) {
		size_t end = pos;
		while (end < len && text[end] != '\n')
			end++;
		p.line++;
		if (end - pos > LINE_MAX_LEN) {
			bad(&p, p.line, "line longer than 4096 bytes");
			e = -EINVAL;
			break;
		}
		if (memchr(text + pos, 0, end - pos) != NULL) {
			bad(&p, p.line, "NUL byte in line");
			e = -EINVAL;
			break;
		}
		memcpy(line, text + pos, end - pos);
		line[end - pos] = 0;
		pos = end + 1;
		char *s = trim(line);
		if (*s == 0 || *s == '#' || *s == ';')
			continue;
		e = *s == '[' ? level_section(&p, s) : level_key(&p, s);
	}
	if (e == 0)
		e = levels_finish(&p);
	if (e == 0) {
		*out = p.l;
		p.l = NULL;
	}
out:
	free(line);
	levels_free(p.l);
	return e;
}

int levels_load(const char *config_dir, const char *state_dir, struct levels **out)
{
	char path[PATH_MAX];
	if ((size_t)snprintf(path, sizeof path, "%s/levels.conf", config_dir) >= sizeof path)
		return -ENAMETOOLONG;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return levels_parse(levels_default_conf, sizeof levels_default_conf - 1,
				    "(built-in levels.conf)", state_dir, out);
	if (fd < 0) {
		int e = -errno;
		log_errorx("cannot read %s: %s", path, coffer_strerror(e));
		return e;
	}
	struct buf text = { 0 };
	int e = io_read_fd(fd, &text, CONF_MAX_SIZE);
	close(fd);
	if (e != 0)
		log_errorx("cannot read %s: %s", path, coffer_strerror(e));
	else
		e = levels_parse((const char *)text.data, text.len, path, state_dir, out);
	buf_fini(&text);
	return e;
}

void levels_free(struct levels *l)
{
	if (l == NULL)
		return;
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].pool);
	free(l->v);
	free(l);
}

const struct level *levels_find(const struct levels *l, unsigned n)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].number == n)
			return &l->v[i];
	return NULL;
}

const char *level_suite_rule_name(uint32_t suite)
{
	switch (suite) {
	case LEVEL_SUITE_ANY: return "any";
	case SUITE_NATIONAL: return "national";
	case SUITE_INTERNATIONAL: return "international";
	default: return "unknown";
	}
}

int level_allows_suite(const struct level *lv, uint32_t suite, char *why, size_t size)
{
	if (lv->suite == LEVEL_SUITE_ANY || lv->suite == suite)
		return 0;
	snprintf(why, size,
		 "level %u (%s) requires the %s suite (rule 'suite = %s'); %s was asked for",
		 lv->number, lv->name, level_suite_rule_name(lv->suite),
		 level_suite_rule_name(lv->suite), level_suite_rule_name(suite));
	return -EPERM;
}
