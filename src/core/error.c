/* error.c - first-error-wins error records and spate_strerror (see error.h). */
#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *spate_strerror(int err)
{
	switch (err) {
	case 0:
		return "success";
#define SPATE_ERR_CASE(name, val, msg) \
	case (val):                    \
		return msg;
		SPATE_ERRNO_MAP(SPATE_ERR_CASE)
#undef SPATE_ERR_CASE
	default:
		return "unknown error";
	}
}

int error_setv(struct spate_error *e, int code, const char *fmt, va_list ap)
{
	if (!e || e->code != 0)
		return code;
	e->code = code;
	vsnprintf(e->msg, sizeof e->msg, fmt, ap);
	return code;
}

int error_set(struct spate_error *e, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	error_setv(e, code, fmt, ap);
	va_end(ap);
	return code;
}

void error_clear(struct spate_error *e)
{
	e->code = 0;
	e->msg[0] = '\0';
}
