/*
 * wordcount.c - WordCount as a Spate job, for the benchmark: read a text file -> flat_map
 * into lower-cased words (maximal runs of ASCII letters, the tokenizer shared with the
 * baseline) -> keyBy word -> rolling sum of count -> a sink.
 *
 * Usage: spate run [-p P] wordcount.so FILE [OUT]. Each sink subtask prints "RESULT
 * subtask=<i> words=<rows> distinct=<rows whose running count is 1> checksum=<sum of running
 * counts>": all three are independent of the order in which the words arrive, and equal
 * baseline_wordcount's words, distinct and sum of c(c+1)/2. With OUT (correctness runs
 * only: it adds a hash map to the sink), each subtask also writes the final count of every
 * word it saw as "word count" lines to OUT.<subtask> for the harness to compare with the
 * baseline's.
 */
#include "bench_map.h"
#include "bench_text.h"
#include "job_common.h"

int bench_wc_tokenize(spate_ctx *ctx, const spate_row *in, spate_collector *out);
int bench_wc_sink(spate_ctx *ctx, const spate_row *in, spate_collector *out);
int bench_wc_end(spate_ctx *ctx, spate_collector *out);

struct wc_sink {
	uint64_t words, distinct, checksum;
	const char *out_path; /* borrowed from the operator's parameters, or NULL */
	struct strmap finals; /* word -> last running count, with out_path */
};

int bench_wc_tokenize(spate_ctx *ctx, const spate_row *in, spate_collector *out)
{
	size_t len = 0;
	const char *line = spate_row_str(in, 0, &len), *p, *start;
	char small[256], *word = small;
	size_t cap = sizeof(small);
	int rc = 0;

	if (!line)
		return 0;
	p = line;
	while ((p = bench_word_next(p, line + len, &start)) != NULL) {
		size_t n = (size_t)(p - start);
		if (n > cap) {
			char *bigger = malloc(n);
			if (!bigger) {
				rc = spate_ctx_fail(ctx, "tokenizer: cannot allocate %zu bytes", n);
				break;
			}
			if (word != small)
				free(word);
			word = bigger;
			cap = n;
		}
		bench_word_lower(start, n, word);
		spate_row_builder *b = spate_collect_begin(out);
		spate_row_set_str(b, 0, word, n);
		spate_row_set_i64(b, 1, 1);
		if ((rc = spate_collect_emit(out)) < 0)
			break;
	}
	if (word != small)
		free(word);
	return rc;
}

int bench_wc_sink(spate_ctx *ctx, const spate_row *in, spate_collector *out)
{
	void **ud = spate_ctx_user_data(ctx);
	struct wc_sink *s = *ud;
	int64_t count = spate_row_i64(in, 1);

	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s)
			return spate_ctx_fail(ctx, "sink: out of memory");
		s->out_path = spate_ctx_param(ctx, "out");
		if (s->out_path)
			strmap_init(&s->finals, 1 << 16);
		*ud = s;
	}
	s->words++;
	s->distinct += count == 1;
	s->checksum += (uint64_t)count;
	if (s->out_path) {
		size_t len = 0;
		const char *w = spate_row_str(in, 0, &len);
		*strmap_upsert(&s->finals, w, len) = count;
	}
	return 0;
}

int bench_wc_end(spate_ctx *ctx, spate_collector *out)
{
	void **ud = spate_ctx_user_data(ctx);
	struct wc_sink *s = *ud;
	struct wc_sink empty = {0};
	int sub = spate_ctx_subtask_index(ctx), rc = 0;

	if (!s)
		s = &empty;
	printf("RESULT subtask=%d words=%llu distinct=%llu checksum=%llu\n", sub,
	       (unsigned long long)s->words, (unsigned long long)s->distinct,
	       (unsigned long long)s->checksum);
	fflush(stdout);
	if (s->out_path) {
		char path[4096];
		snprintf(path, sizeof(path), "%s.%d", s->out_path, sub);
		if (strmap_write(&s->finals, path))
			rc = spate_ctx_fail(ctx, "cannot write '%s'", path);
		strmap_release(&s->finals);
	}
	if (s != &empty)
		free(s);
	*ud = NULL;
	return rc;
}

static int wordcount_main(spate_env *env, int argc, char **argv)
{
	spate_stream *s;

	if (argc < 2 || argc > 3)
		return job_usage("wordcount", "FILE [OUT]");
	s = spate_stream_name(spate_env_read_text_file(env, argv[1]), "file-input");
	s = spate_stream_flat_map(s, "word:string,count:int64", bench_wc_tokenize);
	s = spate_stream_key_by(spate_stream_name(s, "tokenizer"), "word");
	s = spate_stream_name(spate_stream_sum(s, "count"), "counter");
	s = spate_stream_name(spate_stream_sink(s, bench_wc_sink), "count-sink");
	if (argc > 2)
		s = spate_stream_set_param(s, "out", argv[2]);
	spate_stream_on_end(s, bench_wc_end);
	return job_execute(env, "WordCount");
}

SPATE_JOB_ENTRY(wordcount_main)
