/*
 * test_engine.c - jobs built with the public API and run on the embedded engine inside
 * this process, checked against plain C computations of the same results (never against
 * the engine's own output). The functions handed to the API are non-static and the test is
 * linked with -rdynamic, as a job library's would be exported.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "client/client.h"
#include "config/config.h"
#include "core/log.h"

/* ---- harness: run a job function as if it were a job library's entry point ---------- */

static spate_result *last_result;
static int (*job_body)(spate_env *env);

int test_entry(spate_env *env, int argc, char **argv);
int test_entry(spate_env *env, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return job_body(env);
}

static int run_job(int (*body)(spate_env *), int parallelism, struct spate_error *err)
{
	struct config *cfg = config_new();
	struct job_library lib = {.handle = NULL, .path = (char *)"test", .main = test_entry};
	struct client_options opts = {.mode = CLIENT_RUN,
	                              .parallelism = parallelism,
	                              .have_config_file = true,
	                              .config = cfg};
	char *argv[] = {(char *)"test", NULL};
	spate_result_free(last_result);
	last_result = NULL;
	job_body = body;
	memset(err, 0, sizeof *err);
	int rc = client_run_job(&lib, 1, argv, &opts, err);
	config_free(cfg);
	return rc;
}

static int execute_collecting(spate_env *env)
{
	return spate_env_execute(env, "test", &last_result);
}

/* ---- rolling aggregations vs a plain loop ------------------------------------------- */

#define N 20000
#define K 37

int gen_kv(spate_ctx *ctx, int64_t i, spate_row_builder *out);
int gen_kv(spate_ctx *ctx, int64_t i, spate_row_builder *out)
{
	(void)ctx;
	/* Deterministic but scrambled values, some negative. */
	uint64_t x = (uint64_t)i * 0x9E3779B97F4A7C15ull;
	x ^= x >> 29;
	spate_row_set_i64(out, 0, (int64_t)(x % K));
	spate_row_set_i64(out, 1, (int64_t)(x >> 40) % 1000 - 500);
	spate_row_set_i64(out, 2, i);
	return 0;
}

static const char *agg_kind;

static int agg_job(spate_env *env)
{
	spate_stream *s = spate_env_from_generator(env, "k:int64,v:int64,seq:int64", gen_kv, N, 0);
	s = spate_stream_set_parallelism(s, 1); /* in order, so the rolling output is defined */
	s = spate_stream_key_by(s, "k");
	if (strcmp(agg_kind, "sum") == 0)
		s = spate_stream_sum(s, "v");
	else if (strcmp(agg_kind, "min") == 0)
		s = spate_stream_min(s, "v");
	else if (strcmp(agg_kind, "max") == 0)
		s = spate_stream_max(s, "v");
	else if (strcmp(agg_kind, "min_by") == 0)
		s = spate_stream_min_by(s, "v");
	else
		s = spate_stream_max_by(s, "v");
	spate_stream_collect(spate_stream_set_parallelism(s, 1), "out");
	return execute_collecting(env);
}

/* Flink semantics: sum/min/max keep the first row's other fields; *_by emit the row that
 * holds the extreme (the earliest on ties). One output row per input; with everything at
 * parallelism 1 the output order is the input order, so every row is checked. */
static void check_aggregation(const char *kind)
{
	struct spate_error err;
	agg_kind = kind;
	assert_int_equal(run_job(agg_job, 1, &err), 0);
	assert_int_equal(spate_result_count(last_result, "out"), N);
	int64_t acc_v[K], acc_seq[K];
	int seen[K] = {0};
	for (int64_t i = 0; i < N; i++) {
		uint64_t x = (uint64_t)i * 0x9E3779B97F4A7C15ull;
		x ^= x >> 29;
		int k = (int)(x % K);
		int64_t v = (int64_t)(x >> 40) % 1000 - 500;
		if (!seen[k]) {
			seen[k] = 1;
			acc_v[k] = v;
			acc_seq[k] = i;
		} else if (strcmp(kind, "sum") == 0) {
			acc_v[k] += v;
		} else if (strcmp(kind, "min") == 0) {
			acc_v[k] = v < acc_v[k] ? v : acc_v[k];
		} else if (strcmp(kind, "max") == 0) {
			acc_v[k] = v > acc_v[k] ? v : acc_v[k];
		} else if (strcmp(kind, "min_by") == 0 ? v < acc_v[k] : v > acc_v[k]) {
			acc_v[k] = v;
			acc_seq[k] = i;
		}
		const spate_row *r = spate_result_row(last_result, "out", (size_t)i);
		assert_int_equal(spate_row_i64(r, 0), k);
		assert_true(spate_row_i64(r, 1) == acc_v[k]);
		assert_true(spate_row_i64(r, 2) == acc_seq[k]);
	}
}

static void test_sum(void **u)
{
	check_aggregation("sum");
}
static void test_min(void **u)
{
	check_aggregation("min");
}
static void test_max(void **u)
{
	check_aggregation("max");
}
static void test_min_by(void **u)
{
	check_aggregation("min_by");
}
static void test_max_by(void **u)
{
	check_aggregation("max_by");
}

/* ---- keyed process function with value and map state --------------------------------- */

int count_distinct(spate_ctx *ctx, const spate_row *in, spate_collector *out);
int count_distinct(spate_ctx *ctx, const spate_row *in, spate_collector *out)
{
	/* The current key is the row's "k" field (built on demand for field keys). */
	const spate_row *key = spate_ctx_current_key(ctx);
	if (!key || spate_row_field_count(key) != 1 ||
	    spate_row_i64(key, 0) != spate_row_i64(in, 0))
		return spate_ctx_fail(ctx, "current key does not match the row's key field");
	spate_value_state *cnt = spate_ctx_value_state(ctx, "count");
	spate_map_state *seen = spate_ctx_map_state(ctx, "seen");
	int64_t c = 0, v = spate_row_i64(in, 1) % 10;
	spate_value_get_i64(cnt, &c);
	spate_value_put_i64(cnt, c + 1);
	const void *val;
	if (!spate_map_get(seen, &v, sizeof v, &val, NULL))
		spate_map_put(seen, &v, sizeof v, "", 0);
	spate_row_builder *b = spate_collect_begin(out);
	spate_row_set_i64(b, 0, spate_row_i64(in, 0));
	spate_row_set_i64(b, 1, c + 1);
	spate_row_set_i64(b, 2, (int64_t)spate_map_size(seen));
	return spate_collect_emit(out);
}

static int state_job(spate_env *env)
{
	spate_stream *s = spate_env_from_generator(env, "k:int64,v:int64,seq:int64", gen_kv, N, 0);
	s = spate_stream_key_by(s, "k");
	s = spate_stream_process(s, "k:int64,count:int64,distinct:int64", count_distinct);
	spate_stream_collect(s, "out");
	return execute_collecting(env);
}

static void test_keyed_state_at_parallelism_3(void **u)
{
	struct spate_error err;
	assert_int_equal(run_job(state_job, 3, &err), 0);
	assert_int_equal(spate_result_count(last_result, "out"), N);
	int64_t count[K] = {0};
	int digits[K][19] = {{0}}; /* v % 10 in C is -9..9 */
	int64_t distinct[K] = {0};
	for (int64_t i = 0; i < N; i++) {
		uint64_t x = (uint64_t)i * 0x9E3779B97F4A7C15ull;
		x ^= x >> 29;
		int k = (int)(x % K);
		int64_t v = (int64_t)(x >> 40) % 1000 - 500;
		count[k]++;
		if (!digits[k][v % 10 + 9]) {
			digits[k][v % 10 + 9] = 1;
			distinct[k]++;
		}
	}
	/* Rows of one key come from one subtask in input order: the last is the final one. */
	int64_t last_count[K] = {0}, last_distinct[K] = {0};
	for (size_t i = 0; i < N; i++) {
		const spate_row *r = spate_result_row(last_result, "out", i);
		int k = (int)spate_row_i64(r, 0);
		assert_int_equal(spate_row_i64(r, 1), last_count[k] + 1);
		last_count[k] = spate_row_i64(r, 1);
		last_distinct[k] = spate_row_i64(r, 2);
	}
	for (int k = 0; k < K; k++) {
		assert_true(last_count[k] == count[k]);
		assert_true(last_distinct[k] == distinct[k]);
	}
}

/* ---- partitioners: which subtask receives what -------------------------------------- */

int tag_subtask(spate_ctx *ctx, const spate_row *in, spate_row_builder *out);
int tag_subtask(spate_ctx *ctx, const spate_row *in, spate_row_builder *out)
{
	spate_row_set_i64(out, 0, spate_row_i64(in, 0));
	spate_row_set_i64(out, 1, spate_ctx_subtask_index(ctx));
	return 0;
}

static const char *part_kind;
static int part_src_p, part_dst_p;

static int partition_job(spate_env *env)
{
	spate_stream *s = spate_env_from_sequence(env, 0, 9999);
	s = spate_stream_set_parallelism(s, part_src_p);
	if (strcmp(part_kind, "rebalance") == 0)
		s = spate_stream_rebalance(s);
	else if (strcmp(part_kind, "broadcast") == 0)
		s = spate_stream_broadcast(s);
	else if (strcmp(part_kind, "global") == 0)
		s = spate_stream_global(s);
	else if (strcmp(part_kind, "rescale") == 0)
		s = spate_stream_rescale(s);
	else if (strcmp(part_kind, "shuffle") == 0)
		s = spate_stream_shuffle(s);
	else if (strcmp(part_kind, "key") == 0)
		s = spate_stream_key_by(s, "value");
	s = spate_stream_map(s, "v:int64,subtask:int64", tag_subtask);
	s = spate_stream_set_parallelism(s, part_dst_p);
	spate_stream_collect(s, "out");
	return execute_collecting(env);
}

static void count_per_subtask(int64_t *per, int n)
{
	memset(per, 0, (size_t)n * sizeof *per);
	size_t total = spate_result_count(last_result, "out");
	for (size_t i = 0; i < total; i++) {
		int64_t st = spate_row_i64(spate_result_row(last_result, "out", i), 1);
		assert_in_range(st, 0, n - 1);
		per[st]++;
	}
}

static void run_partition(const char *kind, int src, int dst)
{
	struct spate_error err;
	part_kind = kind;
	part_src_p = src;
	part_dst_p = dst;
	assert_int_equal(run_job(partition_job, 1, &err), 0);
}

static void test_rebalance_is_round_robin(void **u)
{
	int64_t per[4];
	run_partition("rebalance", 1, 4);
	count_per_subtask(per, 4);
	for (int i = 0; i < 4; i++)
		assert_int_equal(per[i], 2500); /* 10000 rows, one producer, strict rotation */
}

static void test_broadcast_reaches_every_subtask(void **u)
{
	int64_t per[3];
	run_partition("broadcast", 2, 3);
	count_per_subtask(per, 3);
	for (int i = 0; i < 3; i++)
		assert_int_equal(per[i], 10000);
}

static void test_global_goes_to_subtask_0(void **u)
{
	int64_t per[3];
	run_partition("global", 2, 3);
	count_per_subtask(per, 3);
	assert_int_equal(per[0], 10000);
	assert_int_equal(per[1] + per[2], 0);
}

static void test_rescale_is_pointwise(void **u)
{
	/* S=4 -> T=2: consumer 0 reads producers 0,1 = values 0..4999 (the sequence is split
	 * into 4 contiguous ranges of 2500). */
	run_partition("rescale", 4, 2);
	size_t total = spate_result_count(last_result, "out");
	assert_int_equal(total, 10000);
	for (size_t i = 0; i < total; i++) {
		const spate_row *r = spate_result_row(last_result, "out", i);
		assert_int_equal(spate_row_i64(r, 1), spate_row_i64(r, 0) < 5000 ? 0 : 1);
	}
}

static void test_shuffle_delivers_everything(void **u)
{
	int64_t per[3];
	run_partition("shuffle", 2, 3);
	count_per_subtask(per, 3);
	assert_int_equal(per[0] + per[1] + per[2], 10000);
	for (int i = 0; i < 3; i++)
		assert_true(per[i] > 2500); /* uniform: about 3333 each */
}

/* Flink's test vectors (flink-facts.md §3): int keys at maxP=128, p=4. An int64 key hashes
 * as Long.hashCode, which equals the int's for small non-negative values. */
static void test_key_by_routes_by_key_group(void **u)
{
	run_partition("key", 1, 4);
	static const struct {
		int64_t key;
		int op;
	} vec[] = {{0, 2}, {1, 2}, {2, 3}, {3, 3}, {42, 0}};
	size_t total = spate_result_count(last_result, "out");
	assert_int_equal(total, 10000);
	for (size_t i = 0; i < total; i++) {
		const spate_row *r = spate_result_row(last_result, "out", i);
		for (size_t j = 0; j < sizeof vec / sizeof *vec; j++)
			if (spate_row_i64(r, 0) == vec[j].key)
				assert_int_equal(spate_row_i64(r, 1), vec[j].op);
	}
}

/* ---- key selector functions ------------------------------------------------------- */

int mod5_key(spate_ctx *ctx, const spate_row *in, spate_row_builder *key);
int mod5_key(spate_ctx *ctx, const spate_row *in, spate_row_builder *key)
{
	(void)ctx;
	spate_row_set_i64(key, 0, spate_row_i64(in, 0) % 5);
	return 0;
}

int dup_value(spate_ctx *ctx, const spate_row *in, spate_row_builder *out);
int dup_value(spate_ctx *ctx, const spate_row *in, spate_row_builder *out)
{
	(void)ctx;
	spate_row_set_i64(out, 0, spate_row_i64(in, 0));
	spate_row_set_i64(out, 1, spate_row_i64(in, 0));
	return 0;
}

int tag_sum(spate_ctx *ctx, const spate_row *in, spate_row_builder *out);
int tag_sum(spate_ctx *ctx, const spate_row *in, spate_row_builder *out)
{
	spate_row_set_i64(out, 0, spate_row_i64(in, 0));
	spate_row_set_i64(out, 1, spate_row_i64(in, 1));
	spate_row_set_i64(out, 2, spate_ctx_subtask_index(ctx));
	return 0;
}

static int selector_job(spate_env *env)
{
	spate_stream *s = spate_env_from_sequence(env, 0, 9999);
	s = spate_stream_map(s, "a:int64,value:int64", dup_value);
	s = spate_stream_key_by_selector(s, "k:int64", mod5_key);
	s = spate_stream_map(spate_stream_sum(s, "value"), "a:int64,sum:int64,subtask:int64",
	                     tag_sum);
	spate_stream_collect(s, "out");
	return execute_collecting(env);
}

/* keyBy(a % 5) with a selector function across a network edge at parallelism 3. The sum
 * keeps the first row's `a`, so a % 5 names the class in the output. Values are
 * non-negative, so a class's largest running sum is its final one: the sum of v in 0..9999
 * with v % 5 == r, which is 9995000 + 2000 r. All rows of a class are summed in one
 * subtask. */
static void test_key_selector_partitions_and_aggregates(void **u)
{
	struct spate_error err;
	assert_int_equal(run_job(selector_job, 3, &err), 0);
	assert_int_equal(spate_result_count(last_result, "out"), 10000);
	int64_t final[5] = {0}, subtask[5] = {-1, -1, -1, -1, -1};
	for (size_t i = 0; i < 10000; i++) {
		const spate_row *r = spate_result_row(last_result, "out", i);
		int c = (int)(spate_row_i64(r, 0) % 5);
		if (spate_row_i64(r, 1) > final[c])
			final[c] = spate_row_i64(r, 1);
		if (subtask[c] < 0)
			subtask[c] = spate_row_i64(r, 2);
		assert_int_equal(spate_row_i64(r, 2), subtask[c]);
	}
	for (int c = 0; c < 5; c++)
		assert_true(final[c] == 9995000 + 2000 * (int64_t)c);
}

/* ---- collection sources ------------------------------------------------------------ */

static int collections_job(spate_env *env)
{
	static const int64_t nums[] = {5, -3, INT64_MAX, INT64_MIN};
	static const char *const strs[] = {"alpha", NULL, ""};
	/* Sinks at parallelism 1 chain to the non-parallel sources, so order is kept. */
	spate_stream_set_parallelism(
	    spate_stream_collect(spate_env_from_int64s(env, nums, 4), "nums"), 1);
	spate_stream_set_parallelism(
	    spate_stream_collect(spate_env_from_strings(env, strs, 3), "strs"), 1);
	return execute_collecting(env);
}

static void test_collection_sources_keep_values_and_order(void **u)
{
	struct spate_error err;
	assert_int_equal(run_job(collections_job, 4, &err), 0);
	static const int64_t nums[] = {5, -3, INT64_MAX, INT64_MIN};
	assert_int_equal(spate_result_count(last_result, "nums"), 4);
	for (size_t i = 0; i < 4; i++)
		assert_true(spate_row_i64(spate_result_row(last_result, "nums", i), 0) == nums[i]);
	assert_int_equal(spate_result_count(last_result, "strs"), 3);
	assert_string_equal(spate_row_str(spate_result_row(last_result, "strs", 0), 0, NULL),
	                    "alpha");
	assert_true(spate_row_is_null(spate_result_row(last_result, "strs", 1), 0));
	assert_string_equal(spate_row_str(spate_result_row(last_result, "strs", 2), 0, NULL), "");
}

/* ---- failures ------------------------------------------------------------------------- */

int fail_at_500(spate_ctx *ctx, const spate_row *in, spate_row_builder *out);
int fail_at_500(spate_ctx *ctx, const spate_row *in, spate_row_builder *out)
{
	if (spate_row_i64(in, 0) == 500)
		return spate_ctx_fail(ctx, "value %lld is not allowed", (long long)500);
	spate_row_set_i64(out, 0, spate_row_i64(in, 0));
	return 0;
}

static int failing_job(spate_env *env)
{
	spate_stream *s = spate_env_from_sequence(env, 0, 1000000);
	s = spate_stream_name(spate_stream_map(s, "v:int64", fail_at_500), "checker");
	spate_stream_collect(spate_stream_rebalance(s), "out");
	return execute_collecting(env);
}

static void test_failure_names_operator_and_subtask(void **u)
{
	struct spate_error err;
	int rc = run_job(failing_job, 2, &err);
	assert_int_equal(rc, SPATE_EJOBFAIL);
	/* 0..500 is in subtask 1's range [0, 500000] of 2. */
	assert_non_null(strstr(err.msg, "operator 'checker' (subtask 1/2) failed: value 500 is "
	                                "not allowed"));
}

static int static_fn_used;
static int static_map(spate_ctx *ctx, const spate_row *in, spate_row_builder *out)
{
	static_fn_used++;
	return 0;
}

static int static_job(spate_env *env)
{
	spate_stream *s = spate_env_from_sequence(env, 0, 10);
	spate_stream_collect(spate_stream_map(s, "v:int64", static_map), "out");
	return execute_collecting(env);
}

static void test_static_function_is_rejected(void **u)
{
	struct spate_error err;
	assert_int_equal(run_job(static_job, 1, &err), SPATE_EGRAPH);
	assert_non_null(strstr(err.msg, "is it static?"));
	assert_int_equal(static_fn_used, 0);
}

static int forward_job(spate_env *env)
{
	spate_stream *s = spate_env_from_sequence(env, 0, 10);
	s = spate_stream_set_parallelism(s, 2);
	s = spate_stream_map(spate_stream_forward(s), "v:int64,subtask:int64", tag_subtask);
	spate_stream_collect(spate_stream_set_parallelism(s, 3), "out");
	return execute_collecting(env);
}

static void test_forward_across_parallelism_change_is_rejected(void **u)
{
	struct spate_error err;
	assert_int_equal(run_job(forward_job, 1, &err), SPATE_EGRAPH);
	assert_non_null(
	    strstr(err.msg, "Forward partitioning does not allow change of parallelism"));
}

int main(void)
{
	log_set_level(LOG_WARN);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sum),
	    cmocka_unit_test(test_min),
	    cmocka_unit_test(test_max),
	    cmocka_unit_test(test_min_by),
	    cmocka_unit_test(test_max_by),
	    cmocka_unit_test(test_keyed_state_at_parallelism_3),
	    cmocka_unit_test(test_rebalance_is_round_robin),
	    cmocka_unit_test(test_broadcast_reaches_every_subtask),
	    cmocka_unit_test(test_global_goes_to_subtask_0),
	    cmocka_unit_test(test_rescale_is_pointwise),
	    cmocka_unit_test(test_shuffle_delivers_everything),
	    cmocka_unit_test(test_key_by_routes_by_key_group),
	    cmocka_unit_test(test_key_selector_partitions_and_aggregates),
	    cmocka_unit_test(test_collection_sources_keep_values_and_order),
	    cmocka_unit_test(test_failure_names_operator_and_subtask),
	    cmocka_unit_test(test_static_function_is_rejected),
	    cmocka_unit_test(test_forward_across_parallelism_change_is_rejected),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	spate_result_free(last_result);
	return rc;
}
