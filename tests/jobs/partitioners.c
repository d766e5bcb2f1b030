/*
 * partitioners.c - routes the numbers 1..--count through one partitioner and tags each row
 * with the subtask that received it, for checking the exchange patterns.
 *
 * sequence "numbers" (parallelism --src-p) -> <--mode> -> map "tag" (parallelism --dst-p)
 * emitting (subtask index, value) -> print (chained to "tag").
 * Modes: forward, rebalance, rescale, shuffle, broadcast, global.
 */
#include <spate/spate.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int partitioners_tag(spate_ctx *ctx, const spate_row *in, spate_row_builder *out);

int partitioners_tag(spate_ctx *ctx, const spate_row *in, spate_row_builder *out)
{
	spate_row_set_i32(out, 0, spate_ctx_subtask_index(ctx));
	spate_row_set_i64(out, 1, spate_row_i64(in, 0));
	return 0;
}

static int partitioners_main(spate_env *env, int argc, char **argv)
{
	const char *mode = "rebalance";
	int src_p = 2, dst_p = 3;
	long long count = 1000;

	for (int i = 1; i < argc; i += 2) {
		if (i + 1 >= argc) {
			fprintf(stderr, "partitioners: missing value for '%s'\n", argv[i]);
			return 2;
		}
		if (strcmp(argv[i], "--mode") == 0)
			mode = argv[i + 1];
		else if (strcmp(argv[i], "--src-p") == 0)
			src_p = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--dst-p") == 0)
			dst_p = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--count") == 0)
			count = atoll(argv[i + 1]);
		else {
			fprintf(stderr, "partitioners: unknown argument '%s'\n", argv[i]);
			return 2;
		}
	}
	spate_stream *s = spate_stream_name(spate_env_from_sequence(env, 1, count), "numbers");
	s = spate_stream_set_parallelism(s, src_p);
	if (strcmp(mode, "forward") == 0)
		s = spate_stream_forward(s);
	else if (strcmp(mode, "rebalance") == 0)
		s = spate_stream_rebalance(s);
	else if (strcmp(mode, "rescale") == 0)
		s = spate_stream_rescale(s);
	else if (strcmp(mode, "shuffle") == 0)
		s = spate_stream_shuffle(s);
	else if (strcmp(mode, "broadcast") == 0)
		s = spate_stream_broadcast(s);
	else if (strcmp(mode, "global") == 0)
		s = spate_stream_global(s);
	else {
		fprintf(stderr, "partitioners: unknown mode '%s'\n", mode);
		return 2;
	}
	s = spate_stream_map(s, "subtask:int32,value:int64", partitioners_tag);
	s = spate_stream_set_parallelism(spate_stream_name(s, "tag"), dst_p);
	spate_stream_print(s);
	return spate_env_execute(env, "Partitioners", NULL);
}

SPATE_JOB_ENTRY(partitioners_main)
