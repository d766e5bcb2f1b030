/*
 * result.h - what a finished job hands back to its entry point: the rows its collect sinks
 * gathered (copied) and its runtime. Collect sinks in several subtasks append concurrently,
 * so appends take the result's mutex (collect is for small results; it is not a hot path).
 */
#ifndef SPATE_API_RESULT_H
#define SPATE_API_RESULT_H

#include <pthread.h>
#include <stdint.h>

#include "spate/spate.h"

struct collected {
	char *name;     /* owned */
	uint8_t **rows; /* owned copies */
	size_t n;
	size_t cap;
};

struct spate_result {
	pthread_mutex_t mu;
	struct collected *sets; /* guarded by: mu */
	int nsets;              /* guarded by: mu */
	int64_t runtime_ms;
	char job_id[33];
};

spate_result *result_new(void);
/* Copies the row into the set `name`. Thread-safe. */
void result_add_row(spate_result *r, const char *name, const spate_row *row);

#endif
