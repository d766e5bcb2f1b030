/*
 * static_fn.c - passes a static function to spate_stream_map. The engine cannot name it on
 * a TaskManager, so building the graph must fail with one line that says so.
 */
#include <spate/spate.h>

static int hidden_double(spate_ctx *ctx, const spate_row *in, spate_row_builder *out)
{
	spate_row_set_i64(out, 0, 2 * spate_row_i64(in, 0));
	return 0;
}

static int static_fn_main(spate_env *env, int argc, char **argv)
{
	spate_stream *s = spate_env_from_sequence(env, 1, 10);
	s = spate_stream_name(spate_stream_map(s, "value:int64", hidden_double), "hidden-double");
	spate_stream_print(s);
	return spate_env_execute(env, "StaticFunction", NULL);
}

SPATE_JOB_ENTRY(static_fn_main)
