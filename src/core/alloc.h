/*
 * alloc.h - allocation wrappers. Every allocation in Spate goes through these so that
 * out-of-memory is handled in one place (log the size, abort) and tests can fail the Nth
 * allocation (alloc_fail_after). try_ variants return NULL instead, where failure is normal.
 */
#ifndef SPATE_CORE_ALLOC_H
#define SPATE_CORE_ALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);               /* returns new; never NULL */
void *xcalloc(size_t count, size_t n); /* returns new, zeroed; never NULL */
void *xrealloc(void *p, size_t n);     /* takes p, returns new; never NULL */
char *xstrdup(const char *s);          /* returns new; xstrdup(NULL) is NULL */
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* returns new, zeroed, aligned to `align` (a power of two, a multiple of sizeof(void *));
 * never NULL; release with xfree */
void *xaligned_zalloc(size_t align, size_t n);
void *try_malloc(size_t n); /* NULL on failure */
void xfree(void *p);        /* free(); NULL is a no-op */

/* Test hook: the Nth allocation from now (1-based) fails; 0 disables. Applies to try_malloc
 * (which returns NULL) and to x* (which abort, as on real exhaustion). */
void alloc_fail_after(long n);

#endif
