/*
 * p1.c - workload P1 as a Spate job: P0's generator, map and filter, then keyBy(key) and a
 * rolling sum of value (Flink's sum: it emits the row with the running sum for every input),
 * into a sink that counts rows and adds the running sums into a checksum.
 *
 * Usage: spate run [-p P] p1.so N K [verify] [split]. Each sink subtask prints "RESULT
 * subtask=<i> out=<rows> checksum=<sum of running sums>"; with "verify" it also keeps the
 * last running sum per key (an extra hash map, so that mode is for correctness runs, not
 * timed ones) and adds "finalsum=<sum of final per-key sums> keys=<distinct keys>". The
 * sink subtasks hold disjoint key sets (the sink is chained behind the keyed sum), so
 * finalsum and keys add up across subtasks. checksum matches the baseline only with one
 * in-order source (p = 1).
 *
 * With "split" (the Exchange workload, bench/cluster.sh) the generator is in slot sharing
 * group "source" (map and filter inherit it, as in Flink: an operator without a group of its
 * own takes its input's) and the rolling sum in group "keyed" (the sink inherits it). At
 * parallelism P the job then needs 2 P slots, and on TaskManagers of one slot each the keyed
 * sum runs in another process than the source: every record crosses a remote channel.
 */
#include "bench_map.h"
#include "job_common.h"

int bench_p1_sink(spate_ctx *ctx, const spate_row *in, spate_collector *out);
int bench_p1_end(spate_ctx *ctx, spate_collector *out);

struct p1_sink {
	uint64_t out, checksum;
	int verify;           /* keep finals */
	struct u64map finals; /* key -> last running sum, when verifying */
};

/* The first row's set-up and the verify mode's map stay out of line: inlined, they made the
 * per-row function save six registers. */
static __attribute__((noinline, cold)) struct p1_sink *p1_sink_open(spate_ctx *ctx, void **ud)
{
	struct p1_sink *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->verify = spate_ctx_param(ctx, "verify") != NULL;
	if (s->verify)
		u64map_init(&s->finals, 1024);
	*ud = s;
	return s;
}

static __attribute__((noinline)) void p1_sink_keep(struct p1_sink *s, const struct bench_record *r)
{
	*u64map_upsert(&s->finals, r->key) = r->value;
}

int bench_p1_sink(spate_ctx *ctx, const spate_row *in, spate_collector *out)
{
	void **ud = spate_ctx_user_data(ctx);
	struct p1_sink *s = *ud;
	const struct bench_record *r = spate_row_view(in, 3);

	if (!r)
		return job_bad_row(ctx, "sink");
	if (__builtin_expect(!s, 0) && !(s = p1_sink_open(ctx, ud)))
		return spate_ctx_fail(ctx, "sink: out of memory");
	s->out++;
	s->checksum += (uint64_t)r->value;
	if (s->verify)
		p1_sink_keep(s, r);
	return 0;
}

int bench_p1_end(spate_ctx *ctx, spate_collector *out)
{
	void **ud = spate_ctx_user_data(ctx);
	struct p1_sink *s = *ud;
	int sub = spate_ctx_subtask_index(ctx);

	if (!s) {
		printf("RESULT subtask=%d out=0 checksum=0%s\n", sub,
		       spate_ctx_param(ctx, "verify") ? " finalsum=0 keys=0" : "");
	} else if (!s->verify) {
		printf("RESULT subtask=%d out=%llu checksum=%llu\n", sub,
		       (unsigned long long)s->out, (unsigned long long)s->checksum);
	} else {
		int64_t finalsum = 0;
		for (size_t i = 0; i < s->finals.cap; i++)
			if (s->finals.slots[i].key != BENCH_MAP_EMPTY)
				finalsum += s->finals.slots[i].value;
		printf("RESULT subtask=%d out=%llu checksum=%llu finalsum=%lld keys=%zu\n", sub,
		       (unsigned long long)s->out, (unsigned long long)s->checksum,
		       (long long)finalsum, s->finals.count);
		u64map_release(&s->finals);
	}
	fflush(stdout);
	free(s);
	*ud = NULL;
	return 0;
}

static int p1_main(spate_env *env, int argc, char **argv)
{
	int64_t n = argc > 2 ? bench_parse_count(argv[1]) : -1;
	int64_t k = argc > 2 ? bench_parse_count(argv[2]) : -1;
	int verify = 0, split = 0;
	spate_stream *s;

	for (int i = 3; i < argc; i++) {
		if (strcmp(argv[i], "verify") == 0)
			verify = 1;
		else if (strcmp(argv[i], "split") == 0)
			split = 1;
		else
			n = -1;
	}
	if (n < 0 || k < 1)
		return job_usage("p1", "N K [verify] [split]");
	s = spate_env_from_generator(env, "key:int64,value:int64,ts:int64", bench_record_gen, n, 0);
	s = spate_stream_set_param(spate_stream_name(s, "generator"), "k", argv[2]);
	if (split)
		s = spate_stream_slot_sharing_group(s, "source");
	s = spate_stream_map(s, "key:int64,value:int64,ts:int64", bench_p0_map_fn);
	s = spate_stream_filter(spate_stream_name(s, "map"), bench_p0_filter_fn);
	s = spate_stream_key_by(spate_stream_name(s, "filter"), "key");
	s = spate_stream_name(spate_stream_sum(s, "value"), "rolling-sum");
	if (split)
		s = spate_stream_slot_sharing_group(s, "keyed");
	s = spate_stream_name(spate_stream_sink(s, bench_p1_sink), "checksum-sink");
	if (verify)
		s = spate_stream_set_param(s, "verify", "1");
	spate_stream_on_end(s, bench_p1_end);
	return job_execute(env, split ? "Exchange" : "P1");
}

SPATE_JOB_ENTRY(p1_main)
