/*
 * user_fail.c - a map function that fails with spate_ctx_fail in its second subtask.
 * The job runs at parallelism 2; the numbers 1..1000 are split between two source subtasks
 * chained to the map, so subtask 2/2 sees rows and fails on its first one. The job must end
 * FAILED, with a reason naming operator 'failing-map' and subtask 2/2.
 */
#include <spate/spate.h>

int user_fail_map(spate_ctx *ctx, const spate_row *in, spate_row_builder *out);

int user_fail_map(spate_ctx *ctx, const spate_row *in, spate_row_builder *out)
{
	int64_t v = spate_row_i64(in, 0);
	if (spate_ctx_subtask_index(ctx) == 1)
		return spate_ctx_fail(ctx, "refusing value %lld on purpose", (long long)v);
	spate_row_set_i64(out, 0, v);
	return 0;
}

static int user_fail_main(spate_env *env, int argc, char **argv)
{
	spate_env_set_parallelism(env, 2);
	spate_stream *s = spate_env_from_sequence(env, 1, 1000);
	s = spate_stream_name(spate_stream_map(s, "value:int64", user_fail_map), "failing-map");
	spate_stream_print(s);
	return spate_env_execute(env, "UserFail", NULL);
}

SPATE_JOB_ENTRY(user_fail_main)
