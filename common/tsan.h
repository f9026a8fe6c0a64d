/* common/tsan: ThreadSanitizer annotations for locks built on Concurrency Kit.
 *
 * ck's atomics are inline assembly that TSan cannot see, so every access a ck lock orders looks
 * like a race to it. Code that guards data with a ck lock calls these around lock and unlock;
 * under TSan they declare the lock as a mutex, otherwise they compile to nothing. */
#ifndef CURPKV_COMMON_TSAN_H
#define CURPKV_COMMON_TSAN_H

#include <stdbool.h>

#if defined(__SANITIZE_THREAD__)
#define COMMON_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define COMMON_TSAN 1
#endif
#endif

#ifdef COMMON_TSAN
#include <sanitizer/tsan_interface.h>
static inline void common_tsan_lock_create(void *l)
{
	__tsan_mutex_create(l, __tsan_mutex_not_static);
}
static inline void common_tsan_lock_destroy(void *l)
{
	__tsan_mutex_destroy(l, __tsan_mutex_not_static);
}
static inline void common_tsan_pre_lock(void *l, bool read)
{
	__tsan_mutex_pre_lock(l, read ? __tsan_mutex_read_lock : 0);
}
static inline void common_tsan_post_lock(void *l, bool read)
{
	__tsan_mutex_post_lock(l, read ? __tsan_mutex_read_lock : 0, 0);
}
static inline void common_tsan_pre_unlock(void *l, bool read)
{
	(void)__tsan_mutex_pre_unlock(l, read ? __tsan_mutex_read_lock : 0);
}
static inline void common_tsan_post_unlock(void *l, bool read)
{
	__tsan_mutex_post_unlock(l, read ? __tsan_mutex_read_lock : 0);
}
/* An object handed to another thread through a ck ring: release before enqueue, acquire after
 * dequeue (the ring's own fences are invisible to TSan). */
static inline void common_tsan_release(void *p)
{
	__tsan_release(p);
}
static inline void common_tsan_acquire(void *p)
{
	__tsan_acquire(p);
}
#else
static inline void common_tsan_release(void *p)
{
	(void)p;
}
static inline void common_tsan_acquire(void *p)
{
	(void)p;
}
static inline void common_tsan_lock_create(void *l)
{
	(void)l;
}
static inline void common_tsan_lock_destroy(void *l)
{
	(void)l;
}
static inline void common_tsan_pre_lock(void *l, bool read)
{
	(void)l;
	(void)read;
}
static inline void common_tsan_post_lock(void *l, bool read)
{
	(void)l;
	(void)read;
}
static inline void common_tsan_pre_unlock(void *l, bool read)
{
	(void)l;
	(void)read;
}
static inline void common_tsan_post_unlock(void *l, bool read)
{
	(void)l;
	(void)read;
}
#endif

#endif
