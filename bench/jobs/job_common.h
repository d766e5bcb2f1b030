/*
 * job_common.h - helpers shared by the benchmark jobs (static inline: functions handed to
 * the Spate API must be non-static and are defined in each job's own file).
 *
 * Sinks report through stdout at end of input, one line per subtask:
 * "RESULT subtask=<i> name=value ...". The harness adds the values of all subtasks up, so
 * every reported value must be additive over subtasks (counts, sums, sums of per-key
 * finals over disjoint key sets).
 */
#ifndef BENCH_JOB_COMMON_H
#define BENCH_JOB_COMMON_H

#include <spate/spate.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_gen.h"

/*
 * The key space K of the generator, from the source's parameter "k", parsed once per
 * subtask. It is kept in the source's user-data slot as an integer (K >= 1, so non-NULL
 * means parsed) rather than in an allocation, because a source has no end-of-input hook
 * where it could be freed. Returns 0 if the parameter is missing or bad.
 */
static __attribute__((noinline, cold)) uint64_t job_param_k_parse(spate_ctx *ctx, void **ud)
{
	const char *s = spate_ctx_param(ctx, "k");
	int64_t k = s ? bench_parse_count(s) : -1;

	if (k < 1)
		return 0;
	*ud = (void *)(uintptr_t)k;
	return (uint64_t)k;
}

/* (The parse is out of line, so that the per-record path saves no registers for it.) */
static inline uint64_t job_param_k(spate_ctx *ctx)
{
	void **ud = spate_ctx_user_data(ctx);

	if (__builtin_expect(*ud != NULL, 1))
		return (uint64_t)(uintptr_t)*ud;
	return job_param_k_parse(ctx, ud);
}

/*
 * The functions G, P0, P1 and the latency job share. Each job is its own library, so each
 * gets its own exported copy (the engine finds user functions by name in the job's library).
 */
int bench_record_gen(spate_ctx *ctx, int64_t index, spate_row_builder *out);
int bench_p0_map_fn(spate_ctx *ctx, const spate_row *in, spate_row_builder *out);
int bench_p0_filter_fn(spate_ctx *ctx, const spate_row *in);

/*
 * The rows are {key, value, ts}, three int64 fields: the functions read and write them as
 * struct bench_record through Spate's typed row views (a struct member per field).
 */
static inline int job_bad_row(spate_ctx *ctx, const char *fn)
{
	return spate_ctx_fail(ctx, "%s: expected rows of three non-null int64 fields", fn);
}

/* Record `index` of the workloads' source: {key, value, ts} by bench_record_make. */
int bench_record_gen(spate_ctx *ctx, int64_t index, spate_row_builder *out)
{
	uint64_t k = job_param_k(ctx);
	struct bench_record *r;

	if (!k)
		return spate_ctx_fail(ctx, "generator: missing or bad parameter 'k'");
	r = spate_row_builder_view(out, 3);
	if (!r)
		return job_bad_row(ctx, "generator");
	bench_record_make((uint64_t)index, k, r);
	return 0;
}

/* P0's map: value = value * 3 + 1. */
int bench_p0_map_fn(spate_ctx *ctx, const spate_row *in, spate_row_builder *out)
{
	const struct bench_record *r = spate_row_view(in, 3);
	struct bench_record *o = spate_row_builder_view(out, 3);

	if (!r || !o)
		return job_bad_row(ctx, "map");
	o->key = r->key;
	o->value = bench_p0_map(r->value);
	o->ts = r->ts;
	return 0;
}

/* P0's filter: keep even values. */
int bench_p0_filter_fn(spate_ctx *ctx, const spate_row *in)
{
	const struct bench_record *r = spate_row_view(in, 3);

	if (!r)
		return job_bad_row(ctx, "filter");
	return bench_p0_keep(r->value);
}

/* Reports a usage error from the job's main function (before the graph is built). */
static inline int job_usage(const char *job, const char *usage)
{
	fprintf(stderr, "%s: bad arguments (usage: spate run [-p N] %s.so %s)\n", job, job, usage);
	return 2;
}

/* Runs the built graph; on failure prints the engine's message. */
static inline int job_execute(spate_env *env, const char *name)
{
	int rc = spate_env_execute(env, name, NULL);

	if (rc < 0)
		fprintf(stderr, "%s: job failed: %s\n", name,
		        spate_env_error(env) ? spate_env_error(env) : spate_strerror(rc));
	return rc;
}

#endif /* BENCH_JOB_COMMON_H */
