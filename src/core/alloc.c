/*
 * alloc.c - allocation wrappers (see alloc.h). Out-of-memory in the engine is not
 * recoverable in general, so x* functions log the size and abort; code that can degrade
 * (network pools, uploads) uses try_malloc.
 */
#include "core/alloc.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static atomic_long fail_countdown; /* 0 = off */

void alloc_fail_after(long n)
{
	atomic_store_explicit(&fail_countdown, n, memory_order_relaxed);
}

static int should_fail(void)
{
	long c = atomic_load_explicit(&fail_countdown, memory_order_relaxed);
	if (c <= 0)
		return 0;
	return atomic_fetch_sub_explicit(&fail_countdown, 1, memory_order_relaxed) == 1;
}

static void oom(size_t n)
{
	fprintf(stderr, "spate: out of memory allocating %zu bytes\n", n);
	abort();
}

void *try_malloc(size_t n)
{
	if (should_fail())
		return NULL;
	return malloc(n ? n : 1);
}

void *xaligned_zalloc(size_t align, size_t n)
{
	void *p = NULL;
	if (should_fail() || posix_memalign(&p, align, n ? n : 1) != 0)
		oom(n);
	memset(p, 0, n);
	return p;
}

void *xmalloc(size_t n)
{
	void *p = try_malloc(n);
	if (!p)
		oom(n);
	return p;
}

void *xcalloc(size_t count, size_t n)
{
	void *p = should_fail() ? NULL : calloc(count ? count : 1, n ? n : 1);
	if (!p)
		oom(count * n);
	return p;
}

void *xrealloc(void *p, size_t n)
{
	void *q = should_fail() ? NULL : realloc(p, n ? n : 1);
	if (!q)
		oom(n);
	return q;
}

char *xstrndup(const char *s, size_t n)
{
	char *p;
	if (!s)
		return NULL;
	p = xmalloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *xstrdup(const char *s)
{
	return s ? xstrndup(s, strlen(s)) : NULL;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap, aq;
	int n;
	char *p;
	va_start(ap, fmt);
	va_copy(aq, ap);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	p = xmalloc((size_t)n + 1);
	vsnprintf(p, (size_t)n + 1, fmt, aq);
	va_end(aq);
	return p;
}

void xfree(void *p)
{
	free(p);
}
