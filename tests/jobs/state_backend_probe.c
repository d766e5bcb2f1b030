/*
 * state_backend_probe.c - which keyed state backend a job's operators got, seen from user
 * code without asking the engine.
 *
 * The numbers 1..N (one source subtask) are keyed by v % K; the keyed process function
 * "probe" keeps each key's running sum in value state and emits for every number
 *
 *   (key, v, sum, rocksdb)
 *
 * where rocksdb is 1 when the RocksDB backend's module (spate-rocksdb.so, loaded only when
 * an operator's state backend is a RocksDB one) is mapped into the process, as the
 * kernel's /proc/self/maps says, else 0. A keyed operator's backend exists before its
 * first record, so the flag is settled by then.
 *
 * Oracle: awk -v n=N -v k=K -v r=R 'BEGIN { for (v = 1; v <= n; v++) { s[v % k] += v;
 *             printf "(%d,%d,%.0f,%d)\n", v % k, v, s[v % k], r } }'
 *
 * Usage: spate run [-p P] state_backend_probe.so [--count N] [--keys K]
 */
#include <spate/spate.h>

#include "count_keys_args.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int probe_add_key(spate_ctx *ctx, const spate_row *in, spate_row_builder *out);
int probe_process(spate_ctx *ctx, const spate_row *in, spate_collector *out);

/* 1 if a mapping of the process names spate-rocksdb.so, 0 if none does, -1 on error. */
static int rocksdb_mapped(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	if (!f)
		return -1;
	char line[4096];
	int found = 0;
	while (!found && fgets(line, sizeof line, f))
		found = strstr(line, "/spate-rocksdb.so") != NULL;
	fclose(f);
	return found;
}

int probe_add_key(spate_ctx *ctx, const spate_row *in, spate_row_builder *out)
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

int probe_process(spate_ctx *ctx, const spate_row *in, spate_collector *out)
{
	spate_value_state *sum_state = spate_ctx_value_state(ctx, "sum");
	SPATE_ASSERT(ctx, sum_state != NULL);
	int64_t sum = 0, v = spate_row_i64(in, 1);
	if (spate_value_get_i64(sum_state, &sum) < 0)
		return spate_ctx_fail(ctx, "cannot read the state of key %lld",
		                      (long long)spate_row_i64(in, 0));
	sum += v;
	if (spate_value_put_i64(sum_state, sum) < 0)
		return spate_ctx_fail(ctx, "cannot update the state of key %lld",
		                      (long long)spate_row_i64(in, 0));
	int mapped = rocksdb_mapped();
	if (mapped < 0)
		return spate_ctx_fail(ctx, "cannot read /proc/self/maps");
	spate_row_builder *b = spate_collect_begin(out);
	spate_row_set_i64(b, 0, spate_row_i64(in, 0));
	spate_row_set_i64(b, 1, v);
	spate_row_set_i64(b, 2, sum);
	spate_row_set_i64(b, 3, mapped);
	return spate_collect_emit(out);
}

static int probe_main(spate_env *env, int argc, char **argv)
{
	long long n, k;
	char keys[32];
	int rc = parse_count_keys("state_backend_probe", argc, argv, &n, &k, keys, sizeof keys);
	if (rc)
		return rc;
	spate_stream *keyed =
	    probe_keyed_rows(env, n, keys, false, "key:int64,value:int64", probe_add_key);
	spate_stream *probe = spate_stream_process(
	    keyed, "key:int64,value:int64,sum:int64,rocksdb:int64", probe_process);
	spate_stream_print(spate_stream_name(probe, "probe"));
	return spate_env_execute(env, "StateBackendProbe", NULL);
}

SPATE_JOB_ENTRY(probe_main)
