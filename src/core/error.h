/*
 * error.h - errors a person reads (config, graph validation, CLI, job failure). Fallible
 * functions return 0 or a negative SPATE_E* code; where a person will read the problem
 * they also fill a struct spate_error. The first error set wins: later calls to
 * error_set() on an already-set error are ignored, so the root cause is what is reported.
 */
#ifndef SPATE_CORE_ERROR_H
#define SPATE_CORE_ERROR_H

#include "spate/spate.h"

struct spate_error {
	int code;       /* SPATE_E*, 0 when no error */
	char msg[1024]; /* one line, lower case, what failed first, subject quoted */
};

/* Sets code and message if no error is set yet; returns code (so callers can return it). */
int error_set(struct spate_error *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int error_setv(struct spate_error *e, int code, const char *fmt, va_list ap);
void error_clear(struct spate_error *e);

#endif
