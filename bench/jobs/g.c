/*
 * g.c - workload G as a Spate job: the generator source straight into a counting sink.
 *
 * Usage: spate run [-p P] g.so N K. Each sink subtask prints "RESULT subtask=<i> out=<rows>
 * checksum=<sum of key + value>" at end of input, the same figures as baseline_g.
 */
#include "job_common.h"

int bench_g_sink(spate_ctx *ctx, const spate_row *in, spate_collector *out);
int bench_g_end(spate_ctx *ctx, spate_collector *out);

struct g_sink {
	uint64_t out, checksum;
};

int bench_g_sink(spate_ctx *ctx, const spate_row *in, spate_collector *out)
{
	void **ud = spate_ctx_user_data(ctx);
	struct g_sink *s = *ud;

	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s)
			return spate_ctx_fail(ctx, "sink: out of memory");
		*ud = s;
	}
	s->out++;
	s->checksum += bench_g_hash((uint64_t)spate_row_i64(in, 0), spate_row_i64(in, 1));
	return 0;
}

int bench_g_end(spate_ctx *ctx, spate_collector *out)
{
	void **ud = spate_ctx_user_data(ctx);
	struct g_sink *s = *ud;

	printf("RESULT subtask=%d out=%llu checksum=%llu\n", spate_ctx_subtask_index(ctx),
	       (unsigned long long)(s ? s->out : 0), (unsigned long long)(s ? s->checksum : 0));
	fflush(stdout);
	free(s);
	*ud = NULL;
	return 0;
}

static int g_main(spate_env *env, int argc, char **argv)
{
	int64_t n = argc > 2 ? bench_parse_count(argv[1]) : -1;
	int64_t k = argc > 2 ? bench_parse_count(argv[2]) : -1;
	spate_stream *s;

	if (n < 0 || k < 1)
		return job_usage("g", "N K");
	s = spate_env_from_generator(env, "key:int64,value:int64,ts:int64", bench_record_gen, n, 0);
	s = spate_stream_set_param(spate_stream_name(s, "generator"), "k", argv[2]);
	s = spate_stream_name(spate_stream_sink(s, bench_g_sink), "count-sink");
	spate_stream_on_end(s, bench_g_end);
	return job_execute(env, "G");
}

SPATE_JOB_ENTRY(g_main)
