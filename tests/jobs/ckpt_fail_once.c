/*
 * ckpt_fail_once.c - a keyed rolling count/sum behind a mapper that fails once, for the
 * checkpoint failover, savepoint and corruption tests.
 *
 *   generator "fo-source" (uid "fo-source", parallelism B): K keys x M sequence numbers,
 *       N = K * M rows (key:int64, seq:int64, value:int64) at R rows/s in total, with
 *       value = (31 * key + 7 * seq) % 1000
 *     -> map "fail-once" (uid "fail-once", chained to the source): passes rows through.
 *        When --marker FILE exists and --failed FILE can be created (O_CREAT|O_EXCL, so
 *        only one subtask of one attempt wins), the subtask fails with
 *        "fail-once: failing on purpose at key <k> seq <s>". The test creates the marker
 *        only once a checkpoint with real state has completed.
 *     -> keyBy key
 *     -> process "rolling" (uid "rolling", the job's parallelism): value states "count" and
 *        "sum"; checks seq == count (each key's rows arrive in order, see below) and fails
 *        with "rolling: key <k> expected seq <c>, got <s>" otherwise; emits
 *        line:string = "<key>,<count>,<sum>" after the update.
 *        With --no-rolling the job has instead a stateless process "passthrough" (uid
 *        "passthrough") emitting "<key>,<seq>" (a program without the stateful operator,
 *        for --allowNonRestoredState).
 *     -> file sink "fo-sink" (uid "fo-sink") into DIR.
 *
 * Index i -> (key, seq) as in ckpt_sequence.c: B blocks of K / B keys, so each key's rows
 * come from one source subtask in order. An oracle for the rolling lines is a few lines of
 * awk: for each key k and c = 1..M, sum += (31k + 7(c-1)) % 1000, print "k,c,sum".
 *
 * --stall-ms S [--stall-every E]: the source subtasks of odd blocks sleep S ms every E
 * (default 500) of their rows, so that the barriers of a checkpoint reach the rolling
 * subtasks at different times on their channels (see ckpt_sequence.c).
 *
 * Usage: ckpt_fail_once.so --keys K --per-key M --out DIR [--rate R] [--src-p B]
 *        [--marker FILE --failed FILE] [--keyed-group NAME] [--no-chain] [--no-rolling]
 *        [--stall-ms S] [--stall-every E]
 * --keyed-group puts the keyed operator and the sink into their own slot sharing group (so
 * that they need slots of their own, possibly on another TaskManager); --no-chain disables
 * operator chaining.
 */
#include <spate/spate.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int ckpt_fo_generate(spate_ctx *ctx, int64_t index, spate_row_builder *out);
int ckpt_fo_map(spate_ctx *ctx, const spate_row *in, spate_row_builder *out);
int ckpt_fo_rolling(spate_ctx *ctx, const spate_row *in, spate_collector *out);
int ckpt_fo_passthrough(spate_ctx *ctx, const spate_row *in, spate_collector *out);

static int64_t param_i64(spate_ctx *ctx, const char *name)
{
	const char *v = spate_ctx_param(ctx, name);
	return v ? strtoll(v, NULL, 10) : -1;
}

int ckpt_fo_generate(spate_ctx *ctx, int64_t index, spate_row_builder *out)
{
	int64_t k = param_i64(ctx, "keys"), m = param_i64(ctx, "per-key");
	int64_t b = param_i64(ctx, "blocks");
	SPATE_ASSERT(ctx, k > 0 && m > 0 && b > 0 && k % b == 0);
	int64_t kb = k / b;
	int64_t block = index / (kb * m), j = index % (kb * m);
	SPATE_ASSERT(ctx, block < b);
	int64_t key = block * kb + j % kb, seq = j / kb;
	int64_t stall = param_i64(ctx, "stall-ms"), every = param_i64(ctx, "stall-every");
	if (stall > 0 && every > 0 && block % 2 == 1 && j > 0 && j % every == 0) {
		struct timespec ts = {stall / 1000, (stall % 1000) * 1000000};
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
	}
	spate_row_set_i64(out, 0, key);
	spate_row_set_i64(out, 1, seq);
	spate_row_set_i64(out, 2, (31 * key + 7 * seq) % 1000);
	return 0;
}

int ckpt_fo_map(spate_ctx *ctx, const spate_row *in, spate_row_builder *out)
{
	const char *marker = spate_ctx_param(ctx, "marker");
	const char *failed = spate_ctx_param(ctx, "failed");
	if (marker && failed && access(marker, F_OK) == 0) {
		int fd = open(failed, O_WRONLY | O_CREAT | O_EXCL, 0644);
		if (fd >= 0) {
			close(fd);
			return spate_ctx_fail(
			    ctx, "fail-once: failing on purpose at key %lld seq %lld",
			    (long long)spate_row_i64(in, 0), (long long)spate_row_i64(in, 1));
		}
		if (errno != EEXIST)
			return spate_ctx_fail(ctx, "fail-once: cannot create '%s': %s", failed,
			                      strerror(errno));
	}
	spate_row_copy(out, in);
	return 0;
}

int ckpt_fo_rolling(spate_ctx *ctx, const spate_row *in, spate_collector *out)
{
	int64_t key = spate_row_i64(in, 0), seq = spate_row_i64(in, 1);
	int64_t value = spate_row_i64(in, 2);
	spate_value_state *cs = spate_ctx_value_state(ctx, "count");
	spate_value_state *ss = spate_ctx_value_state(ctx, "sum");
	SPATE_ASSERT(ctx, cs != NULL && ss != NULL);
	int64_t count = 0, sum = 0;
	int rc1 = spate_value_get_i64(cs, &count), rc2 = spate_value_get_i64(ss, &sum);
	if (rc1 < 0 || rc2 < 0)
		return spate_ctx_fail(ctx, "rolling: cannot read the state of key %lld",
		                      (long long)key);
	if (rc1 == 0)
		count = 0;
	if (rc2 == 0)
		sum = 0;
	if (seq != count)
		return spate_ctx_fail(ctx, "rolling: key %lld expected seq %lld, got %lld",
		                      (long long)key, (long long)count, (long long)seq);
	count++;
	sum += value;
	if (spate_value_put_i64(cs, count) < 0 || spate_value_put_i64(ss, sum) < 0)
		return spate_ctx_fail(ctx, "rolling: cannot update the state of key %lld",
		                      (long long)key);
	char line[96];
	int n = snprintf(line, sizeof line, "%lld,%lld,%lld", (long long)key, (long long)count,
	                 (long long)sum);
	spate_row_builder *b = spate_collect_begin(out);
	spate_row_set_str(b, 0, line, (size_t)n);
	return spate_collect_emit(out);
}

int ckpt_fo_passthrough(spate_ctx *ctx, const spate_row *in, spate_collector *out)
{
	char line[64];
	int n = snprintf(line, sizeof line, "%lld,%lld", (long long)spate_row_i64(in, 0),
	                 (long long)spate_row_i64(in, 1));
	spate_row_builder *b = spate_collect_begin(out);
	spate_row_set_str(b, 0, line, (size_t)n);
	return spate_collect_emit(out);
}

static int usage(const char *msg, const char *arg)
{
	fprintf(stderr,
	        "ckpt_fail_once: %s '%s' (usage: ckpt_fail_once.so --keys K --per-key M --out DIR "
	        "[--rate R] [--src-p B] [--marker FILE --failed FILE] [--keyed-group NAME] "
	        "[--no-chain] [--no-rolling] [--stall-ms S] [--stall-every E])\n",
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

static int ckpt_fail_once_main(spate_env *env, int argc, char **argv)
{
	long long k = 0, m = 0, b = 1;
	const char *rate = "0", *out = NULL, *marker = NULL, *failed = NULL, *group = NULL;
	const char *stall = NULL, *every = "500";
	bool no_chain = false, no_rolling = false;
	for (int i = 1; i < argc; i++) {
		const char *opt = argv[i];
		if (strcmp(opt, "--no-chain") == 0) {
			no_chain = true;
			continue;
		}
		if (strcmp(opt, "--no-rolling") == 0) {
			no_rolling = true;
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
		} else if (strcmp(opt, "--stall-ms") == 0 || strcmp(opt, "--stall-every") == 0) {
			long long v;
			if (positive(val, &v))
				return usage("expected a positive integer, got", val);
			if (strcmp(opt, "--stall-ms") == 0)
				stall = val;
			else
				every = val;
		} else if (strcmp(opt, "--rate") == 0) {
			rate = val;
		} else if (strcmp(opt, "--out") == 0) {
			out = val;
		} else if (strcmp(opt, "--marker") == 0) {
			marker = val;
		} else if (strcmp(opt, "--failed") == 0) {
			failed = val;
		} else if (strcmp(opt, "--keyed-group") == 0) {
			group = val;
		} else {
			return usage("unknown argument", opt);
		}
	}
	if (!k || !m || !out)
		return usage("need --keys, --per-key and --out", "");
	if (k % b)
		return usage("--keys must be a multiple of --src-p", argv[0]);
	if (!marker != !failed)
		return usage("--marker and --failed go together", marker ? marker : failed);
	char ks[32], ms[32], bs[32];
	snprintf(ks, sizeof ks, "%lld", k);
	snprintf(ms, sizeof ms, "%lld", m);
	snprintf(bs, sizeof bs, "%lld", b);
	if (no_chain)
		spate_env_disable_operator_chaining(env);

	spate_stream *s = spate_env_from_generator(env, "key:int64,seq:int64,value:int64",
	                                           ckpt_fo_generate, (int64_t)(k * m), atof(rate));
	s = spate_stream_uid(spate_stream_name(s, "fo-source"), "fo-source");
	spate_stream_set_parallelism(s, (int)b);
	spate_stream_set_param(s, "keys", ks);
	spate_stream_set_param(s, "per-key", ms);
	spate_stream_set_param(s, "blocks", bs);
	if (stall) {
		spate_stream_set_param(s, "stall-ms", stall);
		spate_stream_set_param(s, "stall-every", every);
	}
	s = spate_stream_map(s, "key:int64,seq:int64,value:int64", ckpt_fo_map);
	s = spate_stream_uid(spate_stream_name(s, "fail-once"), "fail-once");
	spate_stream_set_parallelism(s, (int)b);
	if (marker) {
		spate_stream_set_param(s, "marker", marker);
		spate_stream_set_param(s, "failed", failed);
	}
	s = spate_stream_key_by(s, "key");
	if (no_rolling) {
		s = spate_stream_process(s, "line:string", ckpt_fo_passthrough);
		s = spate_stream_uid(spate_stream_name(s, "passthrough"), "passthrough");
	} else {
		s = spate_stream_process(s, "line:string", ckpt_fo_rolling);
		s = spate_stream_uid(spate_stream_name(s, "rolling"), "rolling");
	}
	if (group)
		spate_stream_slot_sharing_group(s, group);
	spate_stream *sink = spate_stream_write_text(s, out);
	sink = spate_stream_uid(spate_stream_name(sink, "fo-sink"), "fo-sink");
	if (group)
		spate_stream_slot_sharing_group(sink, group);
	/* the client reports a failed job itself */
	return spate_env_execute(env, "ckpt-fail-once", NULL) < 0 ? 1 : 0;
}

SPATE_JOB_ENTRY(ckpt_fail_once_main)
