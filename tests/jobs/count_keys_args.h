/*
 * count_keys_args.h - the "[--count N] [--keys K]" arguments of the test jobs that key the
 * numbers 1..N by v % K (state_backend_probe, reduce_probe). Included by each job's own
 * file (each job is its own library).
 */
#ifndef TEST_JOBS_COUNT_KEYS_ARGS_H
#define TEST_JOBS_COUNT_KEYS_ARGS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parses the arguments into *n and *k (defaults 100 and 7) and writes K in decimal to keys
 * (the job's "keys" parameter). Returns 0, or 2 after a usage error naming the job. */
static inline int parse_count_keys(const char *job, int argc, char **argv, long long *n,
                                   long long *k, char *keys, size_t keys_size)
{
	*n = 100;
	*k = 7;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--count") == 0)
			*n = atoll(argv[i + 1]);
		else if (strcmp(argv[i], "--keys") == 0)
			*k = atoll(argv[i + 1]);
	}
	if (*n <= 0 || *k <= 0) {
		fprintf(stderr, "%s: --count and --keys must be positive\n", job);
		return 2;
	}
	snprintf(keys, keys_size, "%lld", *k);
	return 0;
}

#endif
