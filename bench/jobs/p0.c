/*
 * p0.c - workload P0 as a Spate job: generator -> map (value = value * 3 + 1) -> filter
 * (even values) -> sink adding the values up.
 *
 * Usage: spate run [-p P] p0.so N K. Each sink subtask prints "RESULT subtask=<i>
 * out=<rows> sum=<sum of values>", the same figures as baseline_p0.
 */
#include "job_common.h"

int bench_p0_sink(spate_ctx *ctx, const spate_row *in, spate_collector *out);
int bench_p0_end(spate_ctx *ctx, spate_collector *out);

struct p0_sink {
	uint64_t out;
	int64_t sum;
};

int bench_p0_sink(spate_ctx *ctx, const spate_row *in, spate_collector *out)
{
	void **ud = spate_ctx_user_data(ctx);
	struct p0_sink *s = *ud;
	const struct bench_record *r = spate_row_view(in, 3);

	if (!r)
		return job_bad_row(ctx, "sink");
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s)
			return spate_ctx_fail(ctx, "sink: out of memory");
		*ud = s;
	}
	s->out++;
	s->sum += r->value;
	return 0;
}

int bench_p0_end(spate_ctx *ctx, spate_collector *out)
{
	void **ud = spate_ctx_user_data(ctx);
	struct p0_sink *s = *ud;

	printf("RESULT subtask=%d out=%llu sum=%lld\n", spate_ctx_subtask_index(ctx),
	       (unsigned long long)(s ? s->out : 0), (long long)(s ? s->sum : 0));
	fflush(stdout);
	free(s);
	*ud = NULL;
	return 0;
}

static int p0_main(spate_env *env, int argc, char **argv)
{
	int64_t n = argc > 2 ? bench_parse_count(argv[1]) : -1;
	int64_t k = argc > 2 ? bench_parse_count(argv[2]) : -1;
	spate_stream *s;

	if (n < 0 || k < 1)
		return job_usage("p0", "N K");
	s = spate_env_from_generator(env, "key:int64,value:int64,ts:int64", bench_record_gen, n, 0);
	s = spate_stream_set_param(spate_stream_name(s, "generator"), "k", argv[2]);
	s = spate_stream_map(s, "key:int64,value:int64,ts:int64", bench_p0_map_fn);
	s = spate_stream_filter(spate_stream_name(s, "map"), bench_p0_filter_fn);
	s = spate_stream_sink(spate_stream_name(s, "filter"), bench_p0_sink);
	spate_stream_on_end(spate_stream_name(s, "sum-sink"), bench_p0_end);
	return job_execute(env, "P0");
}

SPATE_JOB_ENTRY(p0_main)
