/*
 * ckpt_sequence.c - per-key sequence numbers for the checkpoint tests: every key must see
 * its sequence 0, 1, 2, ... with no gap and (exactly-once) no repetition, across failures.
 *
 *   generator "seq-source" (uid "seq-source", parallelism B): K keys x M sequence numbers,
 *       N = K * M rows (key:int64, seq:int64) at R rows/s in total
 *     -> keyBy key
 *     -> process "seq-check" (uid "seq-check", the job's parallelism): value state "last"
 *        (the last seq seen for the key, absent = -1). Strict mode fails the subtask with
 *        "seq-check: key <k> expected seq <last+1>, got <seq>" unless seq == last + 1.
 *        Lenient mode (at-least-once) accepts a repeated seq (<= last) and fails only on a
 *        gap ("seq-check: key <k> gap: expected seq <= <last+1>, got <seq>"). Emits one row
 *        per input, line:string = "<key>,<seq>".
 *     -> file sink "seq-sink" (uid "seq-sink") into DIR.
 *
 * Index i -> (key, seq) so that each key's rows come from one source subtask whatever the
 * generator's contiguous split: with B blocks of Kb = K / B keys each, block b = i / (Kb*M)
 * holds keys b*Kb .. b*Kb+Kb-1 and, within it, j = i % (Kb*M) is key b*Kb + j % Kb and seq
 * j / Kb. The split of N rows over B subtasks cuts at multiples of N / B = Kb * M, so a key
 * never spans two subtasks and its rows keep their order along one channel. B = 1 is the
 * plain i -> (i % K, i / K).
 *
 * --stall-ms S: the source subtasks of odd blocks sleep S ms in the generator every E of
 * their rows (--stall-every E, default 500; a slow source): the barriers of a checkpoint then reach
 * each seq-check subtask at different times on its two channels, so alignment (EXACTLY_ONCE) really
 * holds one channel back, and AT_LEAST_ONCE lets rows past the barrier into the snapshot.
 *
 * Usage: ckpt_sequence.so --keys K --per-key M [--rate R] [--src-p B] [--stall-ms S]
 *        [--stall-every E] [--lenient] --out DIR
 */
#include <spate/spate.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int ckpt_seq_generate(spate_ctx *ctx, int64_t index, spate_row_builder *out);
int ckpt_seq_check(spate_ctx *ctx, const spate_row *in, spate_collector *out);

static int64_t param_i64(spate_ctx *ctx, const char *name)
{
	const char *v = spate_ctx_param(ctx, name);
	return v ? strtoll(v, NULL, 10) : -1;
}

int ckpt_seq_generate(spate_ctx *ctx, int64_t index, spate_row_builder *out)
{
	int64_t k = param_i64(ctx, "keys"), m = param_i64(ctx, "per-key");
	int64_t b = param_i64(ctx, "blocks");
	SPATE_ASSERT(ctx, k > 0 && m > 0 && b > 0 && k % b == 0);
	int64_t kb = k / b;
	int64_t block = index / (kb * m), j = index % (kb * m);
	SPATE_ASSERT(ctx, block < b);
	int64_t stall = param_i64(ctx, "stall-ms"), every = param_i64(ctx, "stall-every");
	if (stall > 0 && every > 0 && block % 2 == 1 && j > 0 && j % every == 0) {
		struct timespec ts = {stall / 1000, (stall % 1000) * 1000000};
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
	}
	spate_row_set_i64(out, 0, block * kb + j % kb);
	spate_row_set_i64(out, 1, j / kb);
	return 0;
}

int ckpt_seq_check(spate_ctx *ctx, const spate_row *in, spate_collector *out)
{
	int64_t key = spate_row_i64(in, 0), seq = spate_row_i64(in, 1);
	bool lenient = spate_ctx_param(ctx, "lenient") != NULL;
	spate_value_state *st = spate_ctx_value_state(ctx, "last");
	SPATE_ASSERT(ctx, st != NULL);
	int64_t last = -1;
	int rc = spate_value_get_i64(st, &last);
	if (rc < 0)
		return spate_ctx_fail(ctx, "seq-check: cannot read the state of key %lld",
		                      (long long)key);
	if (rc == 0)
		last = -1;
	if (!lenient && seq != last + 1)
		return spate_ctx_fail(ctx, "seq-check: key %lld expected seq %lld, got %lld",
		                      (long long)key, (long long)(last + 1), (long long)seq);
	if (lenient && seq > last + 1)
		return spate_ctx_fail(ctx,
		                      "seq-check: key %lld gap: expected seq <= %lld, got %lld",
		                      (long long)key, (long long)(last + 1), (long long)seq);
	if (seq > last && spate_value_put_i64(st, seq) < 0)
		return spate_ctx_fail(ctx, "seq-check: cannot update the state of key %lld",
		                      (long long)key);
	char line[64];
	int n = snprintf(line, sizeof line, "%lld,%lld", (long long)key, (long long)seq);
	spate_row_builder *b = spate_collect_begin(out);
	spate_row_set_str(b, 0, line, (size_t)n);
	return spate_collect_emit(out);
}

static int usage(const char *msg, const char *arg)
{
	fprintf(stderr,
	        "ckpt_sequence: %s '%s' (usage: ckpt_sequence.so --keys K --per-key M "
	        "[--rate R] [--src-p B] [--stall-ms S] [--stall-every E] [--lenient] --out DIR)\n",
	        msg, arg);
	return 2;
}

static int positive(const char *s, long long *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v <= 0)
		return -1;
	*out = v;
	return 0;
}

static int ckpt_sequence_main(spate_env *env, int argc, char **argv)
{
	long long k = 0, m = 0, b = 1;
	const char *rate = "0", *out = NULL, *stall = NULL, *every = "500";
	bool lenient = false;
	for (int i = 1; i < argc; i++) {
		const char *opt = argv[i];
		if (strcmp(opt, "--lenient") == 0) {
			lenient = true;
			continue;
		}
		if (i + 1 >= argc)
			return usage("missing value for", opt);
		const char *val = argv[++i];
		if (strcmp(opt, "--keys") == 0) {
			if (positive(val, &k))
				return usage("expected a positive integer, got", val);
		} else if (strcmp(opt, "--per-key") == 0) {
			if (positive(val, &m))
				return usage("expected a positive integer, got", val);
		} else if (strcmp(opt, "--src-p") == 0) {
			if (positive(val, &b))
				return usage("expected a positive integer, got", val);
		} else if (strcmp(opt, "--stall-ms") == 0) {
			long long v;
			if (positive(val, &v))
				return usage("expected a positive integer, got", val);
			stall = val;
		} else if (strcmp(opt, "--stall-every") == 0) {
			long long v;
			if (positive(val, &v))
				return usage("expected a positive integer, got", val);
			every = val;
		} else if (strcmp(opt, "--rate") == 0) {
			rate = val;
		} else if (strcmp(opt, "--out") == 0) {
			out = val;
		} else {
			return usage("unknown argument", opt);
		}
	}
	if (!k || !m || !out)
		return usage("need --keys, --per-key and --out", "");
	if (k % b)
		return usage("--keys must be a multiple of --src-p", argv[0]);
	char ks[32], ms[32], bs[32];
	snprintf(ks, sizeof ks, "%lld", k);
	snprintf(ms, sizeof ms, "%lld", m);
	snprintf(bs, sizeof bs, "%lld", b);

	spate_stream *s = spate_env_from_generator(env, "key:int64,seq:int64", ckpt_seq_generate,
	                                           (int64_t)(k * m), atof(rate));
	s = spate_stream_uid(spate_stream_name(s, "seq-source"), "seq-source");
	spate_stream_set_parallelism(s, (int)b);
	spate_stream_set_param(s, "keys", ks);
	spate_stream_set_param(s, "per-key", ms);
	spate_stream_set_param(s, "blocks", bs);
	if (stall) {
		spate_stream_set_param(s, "stall-ms", stall);
		spate_stream_set_param(s, "stall-every", every);
	}
	s = spate_stream_process(spate_stream_key_by(s, "key"), "line:string", ckpt_seq_check);
	s = spate_stream_uid(spate_stream_name(s, "seq-check"), "seq-check");
	if (lenient)
		spate_stream_set_param(s, "lenient", "1");
	spate_stream *sink = spate_stream_write_text(s, out);
	spate_stream_uid(spate_stream_name(sink, "seq-sink"), "seq-sink");
	/* the client reports a failed job itself */
	return spate_env_execute(env, "ckpt-sequence", NULL) < 0 ? 1 : 0;
}

SPATE_JOB_ENTRY(ckpt_sequence_main)
