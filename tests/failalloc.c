/* tests/failalloc: the link-time wrappers of the failing allocator (tests/failalloc.h). */
#include "tests/failalloc.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* Armed when fail_at > 0: the allocation numbered fail_at (counting from 1 at the arming) fails,
 * and with sticky every later one too. */
static struct {
	uint64_t seen, failed, fail_at;
	bool sticky;
} fa;

void failalloc_nth(uint64_t n)
{
	fa = (typeof(fa)){.fail_at = n};
}

void failalloc_from(uint64_t n)
{
	fa = (typeof(fa)){.fail_at = n, .sticky = true};
}

void failalloc_off(void)
{
	fa.fail_at = 0;
	fa.sticky = false;
}

uint64_t failalloc_seen(void)
{
	return fa.seen;
}

uint64_t failalloc_failed(void)
{
	return fa.failed;
}

/* Counts one allocation; true if it must fail (errno is then ENOMEM, as the real ones set it). */
static bool should_fail(void)
{
	if (fa.fail_at == 0)
		return false;
	fa.seen++;
	if (fa.seen < fa.fail_at)
		return false;
	if (!fa.sticky)
		fa.fail_at = 0;
	fa.failed++;
	errno = ENOMEM;
	return true;
}

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void *__real_aligned_alloc(size_t align, size_t n);
int __real_posix_memalign(void **out, size_t align, size_t n);
char *__real_strdup(const char *s);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
void *__wrap_aligned_alloc(size_t align, size_t n);
int __wrap_posix_memalign(void **out, size_t align, size_t n);
char *__wrap_strdup(const char *s);

void *__wrap_malloc(size_t n)
{
	return should_fail() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
	return should_fail() ? NULL : __real_calloc(n, size);
}

/* A failed realloc leaves p as it was (the caller still owns it). */
void *__wrap_realloc(void *p, size_t n)
{
	return should_fail() ? NULL : __real_realloc(p, n);
}

void *__wrap_aligned_alloc(size_t align, size_t n)
{
	return should_fail() ? NULL : __real_aligned_alloc(align, n);
}

int __wrap_posix_memalign(void **out, size_t align, size_t n)
{
	return should_fail() ? ENOMEM : __real_posix_memalign(out, align, n);
}

char *__wrap_strdup(const char *s)
{
	return should_fail() ? NULL : __real_strdup(s);
}
