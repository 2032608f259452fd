/*
 * A job's parameters as kept in its `params` text (jobstore.h): one
 * "KEY VALUE" line each, readable by people in `coffer job show` and
 * read back exactly by the daemon that runs the job. In VALUE a
 * backslash is written "\\" and a newline "\n", so any path survives.
 */
#ifndef COFFER_JOBS_PARAMS_H
#define COFFER_JOBS_PARAMS_H

#include <stddef.h>

/* Appends a line; -E2BIG (params unchanged) if it does not fit size bytes with its NUL. */
int job_param_add(char *params, size_t size, const char *key, const char *value);

/*
 * Calls fn for each line, oldest first, with the value unescaped; stops at
 * and returns fn's nonzero. -EINVAL for a line without a space or a bad
 * escape, -ENAMETOOLONG for a value over 4096 bytes.
 */
int job_params_each(const char *params, int (*fn)(const char *key, const char *value, void *arg),
		    void *arg);

#endif
