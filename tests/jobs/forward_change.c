/*
 * forward_change.c - an explicit forward edge across a parallelism change (2 -> 3), which
 * Flink rejects ("Forward partitioning does not allow change of parallelism").
 */
#include <spate/spate.h>

int forward_change_identity(spate_ctx *ctx, const spate_row *in, spate_row_builder *out);

int forward_change_identity(spate_ctx *ctx, const spate_row *in, spate_row_builder *out)
{
	spate_row_copy(out, in);
	return 0;
}

static int forward_change_main(spate_env *env, int argc, char **argv)
{
	spate_stream *s = spate_stream_set_parallelism(spate_env_from_sequence(env, 1, 100), 2);
	s = spate_stream_map(spate_stream_forward(s), "value:int64", forward_change_identity);
	s = spate_stream_set_parallelism(spate_stream_name(s, "identity"), 3);
	spate_stream_print(s);
	return spate_env_execute(env, "ForwardChange", NULL);
}

SPATE_JOB_ENTRY(forward_change_main)
