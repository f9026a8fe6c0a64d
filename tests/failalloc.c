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

/* failalloc_live: updated with relaxed atomics, as threads of the program may allocate. */
static int64_t live;

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

int64_t failalloc_live(void)
{
	return __atomic_load_n(&live, __ATOMIC_RELAXED);
}

/* Counts a block an allocation returned (p may be NULL: nothing to count). */
static void *counted(void *p)
{
	if (p)
		__atomic_add_fetch(&live, 1, __ATOMIC_RELAXED);
	return p;
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
char *__real_strndup(const char *s, size_t n);
void __real_free(void *p);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
void *__wrap_aligned_alloc(size_t align, size_t n);
int __wrap_posix_memalign(void **out, size_t align, size_t n);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);
void __wrap_free(void *p);

void *__wrap_malloc(size_t n)
{
	return should_fail() ? NULL : counted(__real_malloc(n));
}

void *__wrap_calloc(size_t n, size_t size)
{
	return should_fail() ? NULL : counted(__real_calloc(n, size));
}

/* A failed realloc leaves p as it was (the caller still owns it). A block moved is still one
 * block: only realloc(NULL, n) adds one. */
void *__wrap_realloc(void *p, size_t n)
{
	if (should_fail())
		return NULL;
	void *np = __real_realloc(p, n);
	return p == NULL ? counted(np) : np;
}

void *__wrap_aligned_alloc(size_t align, size_t n)
{
	return should_fail() ? NULL : counted(__real_aligned_alloc(align, n));
}

int __wrap_posix_memalign(void **out, size_t align, size_t n)
{
	if (should_fail())
		return ENOMEM;
	int rc = __real_posix_memalign(out, align, n);
	if (rc == 0)
		counted(*out);
	return rc;
}

char *__wrap_strdup(const char *s)
{
	return should_fail() ? NULL : counted(__real_strdup(s));
}

char *__wrap_strndup(const char *s, size_t n)
{
	return should_fail() ? NULL : counted(__real_strndup(s, n));
}

void __wrap_free(void *p)
{
	if (p)
		__atomic_sub_fetch(&live, 1, __ATOMIC_RELAXED);
	__real_free(p);
}
