/*
 * agg_probe.c - built-in keyed aggregations (sum and max_by) over string keys of mixed
 * length, with rows of mixed size: the engine folds a batch of rows at a time into their
 * accumulators and copies the results out before passing them on (see
 * process_aggregate_batch in src/runtime/operator.c).
 *
 * The numbers 1..N (one source subtask) get the key id = v % K and the string key
 * "key-<id>" padded with 'x' to 70 bytes when id % 3 == 0 (longer than the engine encodes
 * in its batch), else to 8 + id % 40 bytes, and a string "pad" of padlen(v) bytes:
 * 9000 when v % 499 == 0 (a row larger than the results' first buffer), else v % 50.
 *
 * sum of v per key: a result keeps the other fields of its key's first row, so it prints
 * (id, running sum, w and padlen of the key's first v). max_by of w = (v * 7919) % 1000 per key:
 * the row with the largest w so far, the earliest on ties, printed as (id, v of that row,
 * w, its padlen).
 *
 * Oracle (sum; max_by alike, see the test): awk -v n=N -v k=K 'BEGIN { for (v = 1; v <= n;
 *     v++) { id = v % k; if (!(id in f)) f[id] = v; s[id] += v; printf "(%d,%.0f,%d,%d)\n",
 *     id, s[id], (f[id] * 7919) % 1000, padlen(f[id]) } }'
 *
 * --short-keys: no key is padded to 70 bytes, so every batch takes the engine's path for
 * batches whose keys it all encodes (aggregate_batch_direct).
 *
 * --int-keys (sum only): rows of one fixed shape, (key = id, id, v, w) all int64, with v null
 * when v % 101 == 0, so that a batch with no null row has every row in one shape (the
 * engine's sum at a slot found once per batch) and one with a null row does not; keys whose
 * first v is null start with a null sum. A null v leaves the sum as it was; a sum that is
 * still null prints as 0 (padlen is 0). Oracle: as above with "if (v % 101) s[id] += v" and
 * padlen 0.
 *
 * Usage: spate run [-p P] agg_probe.so [--count N] [--keys K] [--max-by] [--short-keys]
 *        [--int-keys]
 */
#include <spate/spate.h>

#include "count_keys_args.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int aprobe_add_key(spate_ctx *ctx, const spate_row *in, spate_row_builder *out);
int aprobe_project(spate_ctx *ctx, const spate_row *in, spate_row_builder *out);
int aprobe_add_int_key(spate_ctx *ctx, const spate_row *in, spate_row_builder *out);
int aprobe_project_int(spate_ctx *ctx, const spate_row *in, spate_row_builder *out);

static size_t padlen(int64_t v)
{
	return v % 499 == 0 ? 9000 : (size_t)(v % 50);
}

int aprobe_add_key(spate_ctx *ctx, const spate_row *in, spate_row_builder *out)
{
	static char pad[9000];
	int64_t v = 0, id = 0;
	char key[80];
	size_t len = 0;
	int rc = probe_string_key(ctx, in, &v, &id, key, &len);
	if (rc < 0)
		return rc;
	if (!pad[0])
		memset(pad, 'p', sizeof pad);
	spate_row_set_str(out, 0, key, len);
	spate_row_set_i64(out, 1, id);
	spate_row_set_i64(out, 2, v);
	spate_row_set_i64(out, 3, (v * 7919) % 1000);
	spate_row_set_str(out, 4, pad, padlen(v));
	return 0;
}

int aprobe_project(spate_ctx *ctx, const spate_row *in, spate_row_builder *out)
{
	size_t len = 0;
	SPATE_ASSERT(ctx, spate_row_str(in, 4, &len) != NULL);
	spate_row_set_i64(out, 0, spate_row_i64(in, 1));
	spate_row_set_i64(out, 1, spate_row_i64(in, 2));
	spate_row_set_i64(out, 2, spate_row_i64(in, 3));
	spate_row_set_i64(out, 3, (int64_t)len);
	return 0;
}

int aprobe_add_int_key(spate_ctx *ctx, const spate_row *in, spate_row_builder *out)
{
	const char *keys = spate_ctx_param(ctx, "keys");
	int64_t k = keys ? strtoll(keys, NULL, 10) : 0;
	if (k <= 0)
		return spate_ctx_fail(ctx, "missing or bad parameter 'keys'");
	int64_t v = spate_row_i64(in, 0);
	spate_row_set_i64(out, 0, v % k);
	spate_row_set_i64(out, 1, v % k);
	if (v % 101 == 0)
		spate_row_set_null(out, 2);
	else
		spate_row_set_i64(out, 2, v);
	spate_row_set_i64(out, 3, (v * 7919) % 1000);
	return 0;
}

int aprobe_project_int(spate_ctx *ctx, const spate_row *in, spate_row_builder *out)
{
	spate_row_set_i64(out, 0, spate_row_i64(in, 1));
	spate_row_set_i64(out, 1, spate_row_i64(in, 2)); /* 0 while the sum is null */
	spate_row_set_i64(out, 2, spate_row_i64(in, 3));
	spate_row_set_i64(out, 3, 0);
	return 0;
}

static int aprobe_main(spate_env *env, int argc, char **argv)
{
	long long n, k;
	char keys[32];
	int max_by = 0, short_keys = 0, int_keys = 0;
	while (argc > 1) { /* trailing flags, in any order */
		if (strcmp(argv[argc - 1], "--max-by") == 0 && !max_by)
			max_by = 1;
		else if (strcmp(argv[argc - 1], "--short-keys") == 0 && !short_keys)
			short_keys = 1;
		else if (strcmp(argv[argc - 1], "--int-keys") == 0 && !int_keys)
			int_keys = 1;
		else
			break;
		argc--;
	}
	if (int_keys && max_by) {
		fprintf(stderr, "agg_probe: --int-keys is for the sum only\n");
		return 2;
	}
	int rc = parse_count_keys("agg_probe", argc, argv, &n, &k, keys, sizeof keys);
	if (rc)
		return rc;
	spate_stream *keyed =
	    int_keys ? probe_keyed_rows(env, n, keys, false, "key:int64,id:int64,v:int64,w:int64",
	                                aprobe_add_int_key)
	             : probe_keyed_rows(env, n, keys, short_keys,
	                                "key:string,id:int64,v:int64,w:int64,pad:string",
	                                aprobe_add_key);
	spate_stream *agg = max_by ? spate_stream_max_by(keyed, "w") : spate_stream_sum(keyed, "v");
	spate_stream *rows = spate_stream_map(spate_stream_name(agg, "aggregate"),
	                                      "id:int64,v:int64,w:int64,padlen:int64",
	                                      int_keys ? aprobe_project_int : aprobe_project);
	spate_stream_print(rows);
	return spate_env_execute(env, "AggProbe", NULL);
}

SPATE_JOB_ENTRY(aprobe_main)
