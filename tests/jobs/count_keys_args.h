/*
 * count_keys_args.h - the "[--count N] [--keys K]" arguments of the test jobs that key the
 * numbers 1..N by v % K (state_backend_probe, reduce_probe, agg_probe), and the string keys
 * of the last two. Included by each job's own file (each job is its own library).
 */
#ifndef TEST_JOBS_COUNT_KEYS_ARGS_H
#define TEST_JOBS_COUNT_KEYS_ARGS_H

#include <spate/spate.h>

#include <stdint.h>
#include <stdbool.h>
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

/*
 * The string key of row `in`'s number v, as the probes key it: id = v % K (K from the
 * job's "keys" parameter), the key "key-<id>" padded with 'x' to 70 bytes when
 * id % 3 == 0 (longer than the engine encodes in its batches), else to 8 + id % 40 bytes.
 * Sets *v, *id, key (80 bytes) and *len; returns 0, or the failure from spate_ctx_fail.
 */
static inline int probe_string_key(spate_ctx *ctx, const spate_row *in, int64_t *v, int64_t *id,
                                   char key[80], size_t *len)
{
	const char *keys = spate_ctx_param(ctx, "keys");
	int64_t k = keys ? strtoll(keys, NULL, 10) : 0;
	if (k <= 0)
		return spate_ctx_fail(ctx, "missing or bad parameter 'keys'");
	*v = spate_row_i64(in, 0);
	*id = *v % k;
	int n = snprintf(key, 80, "key-%lld", (long long)*id);
	/* parameter "short": no 70-byte keys, so every key of a batch is one the engine encodes */
	bool all_short = spate_ctx_param(ctx, "short") != NULL;
	*len = *id % 3 == 0 && !all_short ? 70 : 8 + (size_t)(*id % 40);
	if (n <= 0 || (size_t)n > *len || *len >= 80)
		return spate_ctx_fail(ctx, "cannot make the key of %lld", (long long)*id);
	memset(key + n, 'x', *len - (size_t)n);
	return 0;
}

/* The probes' input: the numbers 1..n from one source subtask, mapped by add_key (one
 * subtask, its "keys" parameter set to keys, "short" when short_keys) to rows of `schema`,
 * keyed by their "key". */
static inline spate_stream *probe_keyed_rows(spate_env *env, long long n, const char *keys,
                                             bool short_keys, const char *schema,
                                             spate_map_fn add_key)
{
	spate_stream *numbers = spate_stream_set_parallelism(spate_env_from_sequence(env, 1, n), 1);
	spate_stream *rows =
	    spate_stream_set_parallelism(spate_stream_map(numbers, schema, add_key), 1);
	spate_stream_set_param(rows, "keys", keys);
	if (short_keys)
		spate_stream_set_param(rows, "short", "1");
	return spate_stream_key_by(rows, "key");
}

#endif
