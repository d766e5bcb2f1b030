/*
 * cluster_probe.c - a keyed job for the cluster tests, shaped by its arguments.
 *
 *   generator "probe-source" (env parallelism): row i = (key = i % K, value = i % 1000,
 *       pad = P bytes), N rows (N < 0: unbounded), at R rows/s in total (0 = unlimited)
 *     -> keyBy key -> rolling sum of value, "probe-sum"
 *     -> sink "probe-sink": keeps each key's latest running sum; optionally sleeps S us
 *        every 100 rows (a slow consumer); at end of input writes "<key> <sum>" lines to
 *        <out>/part-<subtask> (temp file, then rename).
 *
 * Usage: cluster_probe.so [--n N] [--k K] [--pad P] [--rate R] [--sleep-us S]
 *        [--sum-parallelism Q] [--sink-parallelism Q] [--sink-group NAME] [--out DIR]
 * With --sink-parallelism the sink runs at its own parallelism (not chained to the sum);
 * otherwise it runs at the sum's (chained).
 */
#include <spate/spate.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int probe_generate(spate_ctx *ctx, int64_t index, spate_row_builder *out);
int probe_consume(spate_ctx *ctx, const spate_row *in, spate_collector *out);
int probe_end(spate_ctx *ctx, spate_collector *out);

#define MAX_PAD 4096
static const char pad[MAX_PAD] = {[0 ... MAX_PAD - 1] = 'p'};

struct probe_state {
	int64_t k;
	int64_t *sums; /* per key, -1 = not seen */
	long long rows;
	long long sleep_us;
};

int probe_generate(spate_ctx *ctx, int64_t index, spate_row_builder *out)
{
	const char *k = spate_ctx_param(ctx, "k");
	const char *p = spate_ctx_param(ctx, "pad");
	size_t n = p ? (size_t)atoll(p) : 0;
	SPATE_ASSERT(ctx, n <= MAX_PAD);
	spate_row_set_i64(out, 0, index % atoll(k));
	spate_row_set_i64(out, 1, index % 1000);
	spate_row_set_str(out, 2, pad, n);
	return 0;
}

static struct probe_state *state(spate_ctx *ctx)
{
	void **slot = spate_ctx_user_data(ctx);
	if (!*slot) {
		struct probe_state *s = calloc(1, sizeof *s);
		if (!s)
			return NULL;
		s->k = atoll(spate_ctx_param(ctx, "k"));
		s->sums = malloc((size_t)s->k * sizeof *s->sums);
		if (!s->sums) {
			free(s);
			return NULL;
		}
		memset(s->sums, 0xff, (size_t)s->k * sizeof *s->sums);
		const char *us = spate_ctx_param(ctx, "sleep-us");
		s->sleep_us = us ? atoll(us) : 0;
		*slot = s;
	}
	return *slot;
}

int probe_consume(spate_ctx *ctx, const spate_row *in, spate_collector *out)
{
	struct probe_state *s = state(ctx);
	if (!s)
		return spate_ctx_fail(ctx, "out of memory");
	int64_t key = spate_row_i64(in, 0);
	if (key < 0 || key >= s->k)
		return spate_ctx_fail(ctx, "key %lld out of range", (long long)key);
	s->sums[key] = spate_row_i64(in, 1);
	if (s->sleep_us > 0 && ++s->rows % 100 == 0) {
		struct timespec ts = {s->sleep_us / 1000000, (s->sleep_us % 1000000) * 1000};
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
	}
	return 0;
}

int probe_end(spate_ctx *ctx, spate_collector *out)
{
	struct probe_state *s = state(ctx);
	const char *dir = spate_ctx_param(ctx, "out");
	if (!s)
		return spate_ctx_fail(ctx, "out of memory");
	int rc = 0;
	if (dir) {
		char tmp[4096], final[4096];
		snprintf(tmp, sizeof tmp, "%s/.part-%d.tmp", dir, spate_ctx_subtask_index(ctx));
		snprintf(final, sizeof final, "%s/part-%d", dir, spate_ctx_subtask_index(ctx));
		FILE *f = fopen(tmp, "w");
		if (!f) {
			rc = spate_ctx_fail(ctx, "cannot write '%s': %s", tmp, strerror(errno));
		} else {
			for (int64_t k = 0; k < s->k; k++)
				if (s->sums[k] >= 0)
					fprintf(f, "%lld %lld\n", (long long)k,
					        (long long)s->sums[k]);
			if (fclose(f) != 0 || rename(tmp, final) != 0)
				rc = spate_ctx_fail(ctx, "cannot write '%s'", final);
		}
	}
	free(s->sums);
	free(s);
	*spate_ctx_user_data(ctx) = NULL;
	return rc;
}

static int probe_main(spate_env *env, int argc, char **argv)
{
	const char *n = "1000", *k = "100", *padb = "0", *rate = "0", *sleep_us = "0";
	const char *out = NULL, *group = NULL;
	int sink_p = 0, sum_p = 0;
	for (int i = 1; i < argc; i++) {
		if (i + 1 >= argc) {
			fprintf(stderr, "cluster_probe: missing value for '%s'\n", argv[i]);
			return 2;
		}
		const char *opt = argv[i], *val = argv[++i];
		if (strcmp(opt, "--n") == 0)
			n = val;
		else if (strcmp(opt, "--k") == 0)
			k = val;
		else if (strcmp(opt, "--pad") == 0)
			padb = val;
		else if (strcmp(opt, "--rate") == 0)
			rate = val;
		else if (strcmp(opt, "--sleep-us") == 0)
			sleep_us = val;
		else if (strcmp(opt, "--out") == 0)
			out = val;
		else if (strcmp(opt, "--sink-group") == 0)
			group = val;
		else if (strcmp(opt, "--sink-parallelism") == 0)
			sink_p = atoi(val);
		else if (strcmp(opt, "--sum-parallelism") == 0)
			sum_p = atoi(val);
		else {
			fprintf(stderr, "cluster_probe: unknown argument '%s'\n", opt);
			return 2;
		}
	}
	if (atoll(k) < 1 || atoll(padb) < 0 || atoll(padb) > MAX_PAD) {
		fprintf(stderr, "cluster_probe: need --k >= 1 and --pad 0..%d\n", MAX_PAD);
		return 2;
	}
	spate_stream *s = spate_env_from_generator(env, "key:int64,value:int64,pad:string",
	                                           probe_generate, atoll(n), atof(rate));
	s = spate_stream_name(s, "probe-source");
	spate_stream_set_param(s, "k", k);
	spate_stream_set_param(s, "pad", padb);
	s = spate_stream_name(spate_stream_sum(spate_stream_key_by(s, "key"), "value"),
	                      "probe-sum");
	if (sum_p > 0)
		spate_stream_set_parallelism(s, sum_p);
	if (group)
		spate_stream_slot_sharing_group(s, group);
	if (sink_p > 0)
		s = spate_stream_rebalance(s);
	spate_stream *sink = spate_stream_name(spate_stream_sink(s, probe_consume), "probe-sink");
	if (sink_p > 0 || sum_p > 0) /* chained to the sum unless given its own */
		spate_stream_set_parallelism(sink, sink_p > 0 ? sink_p : sum_p);
	if (group)
		spate_stream_slot_sharing_group(sink, group);
	spate_stream_on_end(sink, probe_end);
	spate_stream_set_param(sink, "k", k);
	spate_stream_set_param(sink, "sleep-us", sleep_us);
	if (out)
		spate_stream_set_param(sink, "out", out);
	return spate_env_execute(env, "cluster-probe", NULL) < 0 ? 1 : 0;
}

SPATE_JOB_ENTRY(probe_main)
