/*
 * assert_fail.c - a filter whose SPATE_ASSERT does not hold for value 50. The job must end
 * FAILED with a reason naming operator 'checked-filter', subtask 1/1 and the condition.
 */
#include <spate/spate.h>

int assert_fail_filter(spate_ctx *ctx, const spate_row *in);

int assert_fail_filter(spate_ctx *ctx, const spate_row *in)
{
	int64_t value = spate_row_i64(in, 0);
	SPATE_ASSERT(ctx, value < 50);
	return 1;
}

static int assert_fail_main(spate_env *env, int argc, char **argv)
{
	spate_env_set_parallelism(env, 1);
	spate_stream *s = spate_env_from_sequence(env, 1, 100);
	s = spate_stream_name(spate_stream_filter(s, assert_fail_filter), "checked-filter");
	spate_stream_print(s);
	return spate_env_execute(env, "AssertFail", NULL);
}

SPATE_JOB_ENTRY(assert_fail_main)
