/*
 * reduce_probe.c - a keyed reduce on string keys of mixed length whose function also keeps
 * value state of its own, with enough keys that the engine takes its batch path for keyed
 * state (prefetch and reused hashes, from 4096 keys on).
 *
 * The numbers 1..N (one source subtask) get the key id = v % K and the string key
 * "key-<id>" padded with 'x' to 70 bytes when id % 3 == 0 (longer than the engine
 * prefetches), else to 8 + id % 40 bytes. The reduce over (key, id, v, sum, calls) adds v
 * to sum and sets calls from its own value state "calls", which counts its invocations for
 * the key; the first row of a key passes unchanged (sum = v, calls = 0). The job prints
 * (id, v, sum, calls) for every number.
 *
 * Oracle: awk -v n=N -v k=K 'BEGIN { for (v = 1; v <= n; v++) { id = v % k; c[id]++;
 *             s[id] += v; printf "(%d,%d,%.0f,%d)\n", id, v, s[id], c[id] - 1 } }'
 *
 * Usage: spate run [-p P] reduce_probe.so [--count N] [--keys K]
 */
#include <spate/spate.h>

#include "count_keys_args.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int rprobe_add_key(spate_ctx *ctx, const spate_row *in, spate_row_builder *out);
int rprobe_reduce(spate_ctx *ctx, const spate_row *acc, const spate_row *in,
                  spate_row_builder *out);
int rprobe_project(spate_ctx *ctx, const spate_row *in, spate_row_builder *out);

int rprobe_add_key(spate_ctx *ctx, const spate_row *in, spate_row_builder *out)
{
	int64_t v = 0, id = 0;
	char key[80];
	size_t len = 0;
	int rc = probe_string_key(ctx, in, &v, &id, key, &len);
	if (rc < 0)
		return rc;
	spate_row_set_str(out, 0, key, len);
	spate_row_set_i64(out, 1, id);
	spate_row_set_i64(out, 2, v);
	spate_row_set_i64(out, 3, v);
	spate_row_set_i64(out, 4, 0);
	return 0;
}

int rprobe_reduce(spate_ctx *ctx, const spate_row *acc, const spate_row *in, spate_row_builder *out)
{
	spate_value_state *calls = spate_ctx_value_state(ctx, "calls");
	SPATE_ASSERT(ctx, calls != NULL);
	int64_t n = 0;
	if (spate_value_get_i64(calls, &n) < 0 || spate_value_put_i64(calls, n + 1) < 0)
		return spate_ctx_fail(ctx, "cannot use the value state of key id %lld",
		                      (long long)spate_row_i64(in, 1));
	size_t len = 0;
	const char *key = spate_row_str(in, 0, &len);
	SPATE_ASSERT(ctx, key != NULL);
	spate_row_set_str(out, 0, key, len);
	spate_row_set_i64(out, 1, spate_row_i64(in, 1));
	spate_row_set_i64(out, 2, spate_row_i64(in, 2));
	spate_row_set_i64(out, 3, spate_row_i64(acc, 3) + spate_row_i64(in, 2));
	spate_row_set_i64(out, 4, n + 1);
	return 0;
}

int rprobe_project(spate_ctx *ctx, const spate_row *in, spate_row_builder *out)
{
	(void)ctx;
	for (int i = 0; i < 4; i++)
		spate_row_set_i64(out, i, spate_row_i64(in, i + 1));
	return 0;
}

static int rprobe_main(spate_env *env, int argc, char **argv)
{
	long long n, k;
	char keys[32];
	int rc = parse_count_keys("reduce_probe", argc, argv, &n, &k, keys, sizeof keys);
	if (rc)
		return rc;
	spate_stream *keyed =
	    probe_keyed_rows(env, n, keys, false,
	                     "key:string,id:int64,v:int64,sum:int64,calls:int64", rprobe_add_key);
	spate_stream *sums = spate_stream_reduce(keyed, rprobe_reduce);
	spate_stream *rows =
	    spate_stream_map(spate_stream_name(sums, "reduce"),
	                     "id:int64,v:int64,sum:int64,calls:int64", rprobe_project);
	spate_stream_print(rows);
	return spate_env_execute(env, "ReduceProbe", NULL);
}

SPATE_JOB_ENTRY(rprobe_main)
