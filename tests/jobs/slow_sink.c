/*
 * slow_sink.c - backpressure: a fast generator feeding a deliberately slow sink.
 *
 * generator "fast-source" (parallelism 1) emits --count rows (id, payload of --payload
 * bytes) as fast as it can; a rebalance exchange carries them to sink "slow-sink"
 * (parallelism 1, another thread), which sleeps --sleep-us microseconds every --every rows
 * (nanosleep per row is at least the timer slack, ~50 us, so the sleeps are batched). The
 * source is many times faster than the sink, so without backpressure the rows would pile up
 * in memory; with bounded buffer pools the process stays small however much data flows.
 *
 * At the end of input the sink checks that it saw every row exactly once (count and sum of
 * ids), fails the job if not, and prints "slow-sink: rows=N bytes=B" on stdout, B being the
 * payload bytes it received.
 */
#include <spate/spate.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int slow_sink_generate(spate_ctx *ctx, int64_t index, spate_row_builder *out);
int slow_sink_consume(spate_ctx *ctx, const spate_row *in, spate_collector *out);
int slow_sink_end(spate_ctx *ctx, spate_collector *out);

#define MAX_PAYLOAD 4096

static const char payload[MAX_PAYLOAD] = {[0 ... MAX_PAYLOAD - 1] = 'x'};

struct sink_totals {
	long long rows;
	long long id_sum;
	long long bytes;
	long long sleep_us;
	long long every;
};

int slow_sink_generate(spate_ctx *ctx, int64_t index, spate_row_builder *out)
{
	const char *p = spate_ctx_param(ctx, "payload");
	size_t n = p ? (size_t)atoll(p) : 100;
	SPATE_ASSERT(ctx, n <= MAX_PAYLOAD);
	spate_row_set_i64(out, 0, index);
	spate_row_set_str(out, 1, payload, n);
	return 0;
}

static struct sink_totals *totals(spate_ctx *ctx)
{
	void **slot = spate_ctx_user_data(ctx);
	if (*slot == NULL) {
		struct sink_totals *t = calloc(1, sizeof(*t));
		if (t == NULL)
			return NULL;
		const char *s = spate_ctx_param(ctx, "sleep-us");
		const char *e = spate_ctx_param(ctx, "every");
		t->sleep_us = s ? atoll(s) : 1000;
		t->every = e ? atoll(e) : 100;
		if (t->every <= 0)
			t->every = 1;
		*slot = t;
	}
	return *slot;
}

int slow_sink_consume(spate_ctx *ctx, const spate_row *in, spate_collector *out)
{
	struct sink_totals *t = totals(ctx);
	size_t len = 0;
	if (t == NULL)
		return spate_ctx_fail(ctx, "out of memory");
	spate_row_str(in, 1, &len);
	t->rows++;
	t->id_sum += spate_row_i64(in, 0);
	t->bytes += (long long)len;
	if (t->sleep_us > 0 && t->rows % t->every == 0) {
		struct timespec ts = {t->sleep_us / 1000000, (t->sleep_us % 1000000) * 1000};
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
	}
	return 0;
}

int slow_sink_end(spate_ctx *ctx, spate_collector *out)
{
	struct sink_totals *t = totals(ctx);
	const char *c = spate_ctx_param(ctx, "count");
	long long count = c ? atoll(c) : -1;
	if (t == NULL)
		return spate_ctx_fail(ctx, "out of memory");
	long long rows = t->rows, id_sum = t->id_sum, bytes = t->bytes;
	free(t);
	*spate_ctx_user_data(ctx) = NULL;
	printf("slow-sink: rows=%lld bytes=%lld\n", rows, bytes);
	fflush(stdout);
	if (rows != count || id_sum != count * (count - 1) / 2)
		return spate_ctx_fail(ctx,
		                      "expected %lld rows with id sum %lld, got %lld with %lld",
		                      count, count * (count - 1) / 2, rows, id_sum);
	return 0;
}

static int slow_sink_main(spate_env *env, int argc, char **argv)
{
	const char *count = "2000000", *payload_bytes = "100", *sleep_us = "1000", *every = "100";

	for (int i = 1; i < argc; i++) {
		if (i + 1 >= argc) {
			fprintf(stderr, "slow_sink: missing value for '%s'\n", argv[i]);
			return 2;
		}
		const char *opt = argv[i], *val = argv[++i];
		if (strcmp(opt, "--count") == 0)
			count = val;
		else if (strcmp(opt, "--payload") == 0)
			payload_bytes = val;
		else if (strcmp(opt, "--sleep-us") == 0)
			sleep_us = val;
		else if (strcmp(opt, "--every") == 0)
			every = val;
		else {
			fprintf(stderr, "slow_sink: unknown argument '%s'\n", opt);
			return 2;
		}
	}
	if (atoll(payload_bytes) < 0 || atoll(payload_bytes) > MAX_PAYLOAD) {
		fprintf(stderr, "slow_sink: --payload must be 0..%d\n", MAX_PAYLOAD);
		return 2;
	}

	spate_stream *s = spate_env_from_generator(env, "id:int64,payload:string",
	                                           slow_sink_generate, atoll(count), 0);
	s = spate_stream_set_parallelism(spate_stream_name(s, "fast-source"), 1);
	spate_stream_set_param(s, "payload", payload_bytes);
	spate_stream *sink = spate_stream_sink(spate_stream_rebalance(s), slow_sink_consume);
	sink = spate_stream_set_parallelism(spate_stream_name(sink, "slow-sink"), 1);
	spate_stream_on_end(sink, slow_sink_end);
	spate_stream_set_param(sink, "sleep-us", sleep_us);
	spate_stream_set_param(sink, "every", every);
	spate_stream_set_param(sink, "count", count);
	return spate_env_execute(env, "SlowSink", NULL);
}

SPATE_JOB_ENTRY(slow_sink_main)
