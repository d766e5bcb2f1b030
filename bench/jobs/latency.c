/*
 * latency.c - the latency workload: P1 at a fixed input rate, measuring end-to-end latency
 * from the source to the sink.
 *
 * The generator stamps every LAT_SAMPLE_EVERY-th record's ts with CLOCK_MONOTONIC (ns) when
 * it makes the record, and the others' with 0; the sink records now - ts of each stamped
 * row in a log-linear histogram. Source and sink run in the same process (one clock). A
 * clock read on a VM costs about 20 ns, as much as the rest of a record's work in the
 * source, so reading it twice for every record capped the job below the rate it is meant
 * to run at (half of P1's); sampled records are made and carried exactly as the others, so
 * their latencies are a uniform sample of all records' (Flink's latency markers sample for
 * the same reason). The rolling sum is a reduce that carries the latest record's ts:
 * the built-in sum would keep the first record's ts for the key (Flink's sum semantics),
 * which would measure the age of the key instead of the record. The rate limit is the
 * engine's (spate_env_from_generator's rate_per_sec).
 *
 * Usage: spate run [-D execution.buffer-timeout.interval=0] latency.so N K RATE. Each sink
 * subtask prints "RESULT subtask=<i> out=<rows> sampled=<stamped rows> p50_us=... p99_us=...
 * p999_us=... max_us=..." (run it with p = 1: quantiles of several subtasks do not add up).
 */
#include "bench_clock.h"
#include "bench_hist.h"
#include "job_common.h"

#define LAT_SAMPLE_EVERY 16

struct lat_sink {
	uint64_t out;        /* every row */
	struct bench_hist h; /* the stamped ones */
};

int bench_lat_gen(spate_ctx *ctx, int64_t index, spate_row_builder *out);
int bench_lat_reduce_fn(spate_ctx *ctx, const spate_row *acc, const spate_row *in,
                        spate_row_builder *out);
int bench_lat_sink(spate_ctx *ctx, const spate_row *in, spate_collector *out);
int bench_lat_end(spate_ctx *ctx, spate_collector *out);

int bench_lat_gen(spate_ctx *ctx, int64_t index, spate_row_builder *out)
{
	struct bench_record *r = spate_row_builder_view(out, 3);
	uint64_t k = job_param_k(ctx);

	if (!k)
		return spate_ctx_fail(ctx, "generator: missing or bad parameter 'k'");
	if (!r)
		return job_bad_row(ctx, "generator");
	bench_record_make((uint64_t)index, k, r);
	r->ts = index % LAT_SAMPLE_EVERY == 0 ? bench_now_ns() : 0;
	return 0;
}

int bench_lat_reduce_fn(spate_ctx *ctx, const spate_row *acc, const spate_row *in,
                        spate_row_builder *out)
{
	const struct bench_record *a = spate_row_view(acc, 3), *r = spate_row_view(in, 3);
	struct bench_record *o = spate_row_builder_view(out, 3);

	if (!a || !r || !o)
		return job_bad_row(ctx, "reduce");
	o->key = r->key;
	o->value = a->value + r->value;
	o->ts = r->ts;
	return 0;
}

int bench_lat_sink(spate_ctx *ctx, const spate_row *in, spate_collector *out)
{
	void **ud = spate_ctx_user_data(ctx);
	struct lat_sink *s = *ud;
	const struct bench_record *r = spate_row_view(in, 3);

	if (!r)
		return job_bad_row(ctx, "sink");
	if (!s) {
		s = malloc(sizeof(*s));
		if (!s)
			return spate_ctx_fail(ctx, "sink: out of memory");
		s->out = 0;
		bench_hist_init(&s->h);
		*ud = s;
	}
	s->out++;
	if (r->ts) {
		uint64_t now = bench_now_ns();
		bench_hist_record(&s->h, now > r->ts ? now - r->ts : 0);
	}
	return 0;
}

int bench_lat_end(spate_ctx *ctx, spate_collector *out)
{
	void **ud = spate_ctx_user_data(ctx);
	struct lat_sink *s = *ud;
	struct lat_sink empty;
	struct bench_hist *h;

	if (!s) {
		empty.out = 0;
		bench_hist_init(&empty.h);
		s = &empty;
	}
	h = &s->h;
	printf("RESULT subtask=%d out=%llu sampled=%llu p50_us=%.1f p99_us=%.1f p999_us=%.1f "
	       "max_us=%.1f\n",
	       spate_ctx_subtask_index(ctx), (unsigned long long)s->out,
	       (unsigned long long)h->total, (double)bench_hist_quantile(h, 0.50) / 1e3,
	       (double)bench_hist_quantile(h, 0.99) / 1e3,
	       (double)bench_hist_quantile(h, 0.999) / 1e3, (double)h->max / 1e3);
	fflush(stdout);
	if (s != &empty)
		free(s);
	*ud = NULL;
	return 0;
}

static int latency_main(spate_env *env, int argc, char **argv)
{
	int64_t n = argc > 3 ? bench_parse_count(argv[1]) : -1;
	int64_t k = argc > 3 ? bench_parse_count(argv[2]) : -1;
	int64_t rate = argc > 3 ? bench_parse_count(argv[3]) : -1;
	spate_stream *s;

	if (n < 0 || k < 1 || rate < 1)
		return job_usage("latency", "N K RATE");
	s = spate_env_from_generator(env, "key:int64,value:int64,ts:int64", bench_lat_gen, n,
	                             (double)rate);
	s = spate_stream_set_param(spate_stream_name(s, "generator"), "k", argv[2]);
	s = spate_stream_map(s, "key:int64,value:int64,ts:int64", bench_p0_map_fn);
	s = spate_stream_filter(spate_stream_name(s, "map"), bench_p0_filter_fn);
	s = spate_stream_key_by(spate_stream_name(s, "filter"), "key");
	s = spate_stream_name(spate_stream_reduce(s, bench_lat_reduce_fn), "rolling-sum");
	s = spate_stream_name(spate_stream_sink(s, bench_lat_sink), "latency-sink");
	spate_stream_on_end(s, bench_lat_end);
	return job_execute(env, "P1 latency");
}

SPATE_JOB_ENTRY(latency_main)
