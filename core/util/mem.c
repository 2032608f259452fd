/* Memory helpers; see mem.h. */
#include "util/mem.h"

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

void mem_wipe(void *p, size_t n)
{
	if (p != NULL && n)
		explicit_bzero(p, n);
}

/* Secrets get whole pages so that madvise and mlock apply to them alone. */
static size_t secmem_span(size_t n)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	return (n + page - 1) / page * page;
}

void *secmem_alloc(size_t n)
{
	if (n == 0)
		n = 1;
	size_t span = secmem_span(n);
	void *p = mmap(NULL, span, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	(void)madvise(p, span, MADV_DONTDUMP);
	(void)mlock(p, span); /* best effort: RLIMIT_MEMLOCK may refuse */
	return p;
}

void secmem_free(void *p, size_t n)
{
	if (p == NULL)
		return;
	if (n == 0)
		n = 1;
	size_t span = secmem_span(n);
	explicit_bzero(p, span);
	(void)munlock(p, span);
	munmap(p, span);
}
