/*
 * version_two.c - a job library as built for API version 2, the oldest this engine still
 * runs (SPATE_API_VERSION_MIN): it defines the two symbols of SPATE_JOB_ENTRY by hand with
 * version 2, and, as version 2's header did, reaches its user data through the exported
 * spate_ctx_user_data (SPATE_NO_INLINE_ROWS turns the inline forms off). It maps 1..3 to
 * v * 10 + (calls so far on this subtask), counted in the user data.
 */
#define SPATE_NO_INLINE_ROWS
#include <spate/spate.h>

#include <stdint.h>

SPATE_EXPORT const int spate_job_api_version = 2;
SPATE_EXPORT int spate_job_main(spate_env *env, int argc, char **argv);
int v2_map(spate_ctx *ctx, const spate_row *in, spate_row_builder *out);

int v2_map(spate_ctx *ctx, const spate_row *in, spate_row_builder *out)
{
	void **ud = spate_ctx_user_data(ctx);
	uintptr_t calls = (uintptr_t)*ud;
	*ud = (void *)(calls + 1);
	spate_row_set_i64(out, 0, spate_row_i64(in, 0) * 10 + (int64_t)calls);
	return 0;
}

SPATE_EXPORT int spate_job_main(spate_env *env, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	spate_stream *s = spate_stream_set_parallelism(spate_env_from_sequence(env, 1, 3), 1);
	s = spate_stream_set_parallelism(spate_stream_map(s, "v:int64", v2_map), 1);
	spate_stream_print(s);
	return spate_env_execute(env, "VersionTwo", NULL);
}
