/* Job parameter lines (params.h). */
#include "jobs/params.h"

#include <errno.h>
#include <string.h>

#define KEY_MAX 32
#define VALUE_MAX 4096

int job_param_add(char *params, size_t size, const char *key, const char *value)
{
	size_t len = strnlen(params, size), klen = strlen(key);
	if (len >= size || klen == 0 || klen > KEY_MAX || strpbrk(key, " \n\\") != NULL)
		return -EINVAL;
	size_t need = len + klen + 1 + 1; /* "KEY " and the newline */
	for (const char *v = value; *v; v++)
		need += *v == '\\' || *v == '\n' ? 2 : 1;
	if (need + 1 > size)
		return -E2BIG;
	char *p = params + len;
	memcpy(p, key, klen);
	p += klen;
	*p++ = ' ';
	for (const char *v = value; *v; v++) {
		if (*v == '\\' || *v == '\n') {
			*p++ = '\\';
			*p++ = *v == '\n' ? 'n' : '\\';
		} else {
			*p++ = *v;
		}
	}
	*p++ = '\n';
	*p = 0;
	return 0;
}

int job_params_each(const char *params, int (*fn)(const char *key, const char *value, void *arg),
		    void *arg)
{
	char key[KEY_MAX + 1], value[VALUE_MAX + 1];
	const char *p = params;
	while (*p) {
		const char *nl = strchr(p, '\n');
		const char *end = nl != NULL ? nl : p + strlen(p);
		const char *sp = memchr(p, ' ', (size_t)(end - p));
		if (sp == NULL || sp == p || (size_t)(sp - p) > KEY_MAX)
			return -EINVAL;
		memcpy(key, p, (size_t)(sp - p));
		key[sp - p] = 0;
		size_t n = 0;
		for (const char *v = sp + 1; v < end; v++) {
			char c = *v;
			if (c == '\\') {
				if (++v == end || (*v != 'n' && *v != '\\'))
					return -EINVAL;
				c = *v == 'n' ? '\n' : '\\';
			}
			if (n == VALUE_MAX)
				return -ENAMETOOLONG;
			value[n++] = c;
		}
		value[n] = 0;
		int r = fn(key, value, arg);
		if (r != 0)
			return r;
		p = nl != NULL ? nl + 1 : end;
	}
	return 0;
}
