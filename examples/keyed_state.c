/*
 * keyed_state.c - keyed state in a process function: per-key counters in value state and a
 * set of seen digits in map state.
 *
 * The job reads the numbers 1..N (spate_env_from_sequence, one source subtask so that every
 * key sees its values in increasing order), adds the key value % K in a map ("add-key"),
 * keys the stream by it, and the process function "stats" emits for every number v
 * emits one row
 *
 *   (key, v, count, sum, digits, same_digit)
 *
 * where, over the values of this key seen so far including v:
 *   count       how many values the key has seen            (value state "count")
 *   sum         their sum                                    (value state "sum")
 *   digits      how many distinct last digits (v % 10) it has seen   (map state "digits")
 *   same_digit  how many of them share v's last digit        (the map's value for v % 10)
 *
 * An independent oracle is a few lines of awk:
 *
 *   awk -v n=N -v k=K 'BEGIN { for (v = 1; v <= n; v++) { key = v % k; d = v % 10;
 *       c[key]++; s[key] += v; if (!((key, d) in m)) nd[key]++; m[key, d]++;
 *       printf "(%d,%d,%d,%.0f,%d,%d)\n", key, v, c[key], s[key], nd[key], m[key, d] } }'
 *
 * Usage: spate run [-p P] keyed_state.so [--count N] [--keys K] [--output DIR]
 *   defaults N = 1000, K = 7; prints the rows unless --output is given.
 */
#include <spate/spate.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* User functions are non-static so that the engine can name them for shipping. */
int keyed_state_add_key(spate_ctx *ctx, const spate_row *in, spate_row_builder *out);
int keyed_state_process(spate_ctx *ctx, const spate_row *in, spate_collector *out);

/* (value) -> (key, value) with key = value % K; K is the operator parameter "keys". */
int keyed_state_add_key(spate_ctx *ctx, const spate_row *in, spate_row_builder *out)
{
	const char *keys = spate_ctx_param(ctx, "keys");
	SPATE_ASSERT(ctx, keys != NULL);
	int64_t k = strtoll(keys, NULL, 10);
	SPATE_ASSERT(ctx, k > 0);
	int64_t v = spate_row_i64(in, 0);
	spate_row_set_i64(out, 0, v % k);
	spate_row_set_i64(out, 1, v);
	return 0;
}

int keyed_state_process(spate_ctx *ctx, const spate_row *in, spate_collector *out)
{
	int64_t v = spate_row_i64(in, 1);
	int64_t count = 0, sum = 0, same = 0;
	const spate_row *key = spate_ctx_current_key(ctx);
	spate_value_state *count_state = spate_ctx_value_state(ctx, "count");
	spate_value_state *sum_state = spate_ctx_value_state(ctx, "sum");
	spate_map_state *digits = spate_ctx_map_state(ctx, "digits");
	int rc;

	SPATE_ASSERT(ctx,
	             key != NULL && count_state != NULL && sum_state != NULL && digits != NULL);
	int64_t k = spate_row_i64(key, 0);
	SPATE_ASSERT(ctx, k == spate_row_i64(in, 0)); /* the engine's key is the row's key */

	if (spate_value_get_i64(count_state, &count) < 0 ||
	    spate_value_get_i64(sum_state, &sum) < 0)
		return spate_ctx_fail(ctx, "cannot read the state of key %lld", (long long)k);
	count++;
	sum += v;
	if (spate_value_put_i64(count_state, count) < 0 || spate_value_put_i64(sum_state, sum) < 0)
		return spate_ctx_fail(ctx, "cannot update the state of key %lld", (long long)k);

	/* The map's user key is the digit as one byte; its value the int64 occurrence count. */
	unsigned char digit = (unsigned char)(v % 10);
	const void *val;
	size_t len;
	rc = spate_map_get(digits, &digit, 1, &val, &len);
	if (rc < 0)
		return spate_ctx_fail(ctx, "cannot read map state of key %lld", (long long)k);
	if (rc == 1) {
		SPATE_ASSERT(ctx, len == sizeof(same));
		memcpy(&same, val, sizeof(same));
	}
	same++;
	if (spate_map_put(digits, &digit, 1, &same, sizeof(same)) < 0)
		return spate_ctx_fail(ctx, "cannot update map state of key %lld", (long long)k);

	spate_row_builder *b = spate_collect_begin(out);
	spate_row_set_i64(b, 0, k);
	spate_row_set_i64(b, 1, v);
	spate_row_set_i64(b, 2, count);
	spate_row_set_i64(b, 3, sum);
	spate_row_set_i64(b, 4, (int64_t)spate_map_size(digits));
	spate_row_set_i64(b, 5, same);
	return spate_collect_emit(out);
}

static int parse_positive(const char *s, long long *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v <= 0)
		return -1;
	*out = v;
	return 0;
}

static int usage_error(const char *what, const char *arg)
{
	fprintf(stderr,
	        "keyed_state: %s '%s' (usage: keyed_state.so [--count N] [--keys K] "
	        "[--output DIR])\n",
	        what, arg);
	return 2;
}

static int keyed_state_main(spate_env *env, int argc, char **argv)
{
	long long n = 1000, k = 7;
	const char *output = NULL;

	for (int i = 1; i < argc; i++) {
		const char *opt = argv[i];
		if (strcmp(opt, "--count") != 0 && strcmp(opt, "--keys") != 0 &&
		    strcmp(opt, "--output") != 0)
			return usage_error("unknown argument", opt);
		if (i + 1 >= argc)
			return usage_error("missing value for", opt);
		const char *val = argv[++i];
		if (strcmp(opt, "--output") == 0)
			output = val;
		else if (parse_positive(val, strcmp(opt, "--count") == 0 ? &n : &k) < 0)
			return usage_error("expected a positive integer, got", val);
	}
	char keys[32];
	snprintf(keys, sizeof(keys), "%lld", k);

	/* One source subtask, and the map chained to it, so each key sees increasing values. */
	spate_stream *numbers = spate_stream_name(
	    spate_stream_set_parallelism(spate_env_from_sequence(env, 1, n), 1), "numbers");
	spate_stream *with_key = spate_stream_set_parallelism(
	    spate_stream_map(numbers, "key:int64,value:int64", keyed_state_add_key), 1);
	spate_stream_set_param(spate_stream_name(with_key, "add-key"), "keys", keys);
	spate_stream *stats = spate_stream_process(
	    spate_stream_key_by(with_key, "key"),
	    "key:int64,value:int64,count:int64,sum:int64,digits:int64,same_digit:int64",
	    keyed_state_process);
	spate_stream_name(stats, "stats");
	if (output != NULL)
		spate_stream_write_text(stats, output);
	else
		spate_stream_print(stats);
	return spate_env_execute(env, "KeyedState", NULL);
}

SPATE_JOB_ENTRY(keyed_state_main)
