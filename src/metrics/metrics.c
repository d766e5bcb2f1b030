/*
 * metrics.c - clocks and helpers shared by the metric producers and readers.
 */
#include <time.h>

#include "metrics/metrics.h"

int64_t metrics_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}
