/*
 * parallelism.c - a small job whose parallelism settings come from its arguments, for the
 * precedence tests (operator > environment > -p > parallelism.default > CPUs) and the
 * bad-parallelism errors.
 *
 * Pipeline: sequence 1..--count "numbers" -> map "double" (x -> 2x) -> print.
 * Arguments (all optional):
 *   --env-p N     spate_env_set_parallelism(env, N)
 *   --op-p N      spate_stream_set_parallelism on "double"
 *   --op-max-p N  spate_stream_set_max_parallelism on "double"
 *   --count N     how many numbers (default 10)
 * Numbers may be zero or negative on purpose: the engine must reject them cleanly.
 */
#include <spate/spate.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int parallelism_double(spate_ctx *ctx, const spate_row *in, spate_row_builder *out);

int parallelism_double(spate_ctx *ctx, const spate_row *in, spate_row_builder *out)
{
	spate_row_set_i64(out, 0, 2 * spate_row_i64(in, 0));
	return 0;
}

static int parallelism_main(spate_env *env, int argc, char **argv)
{
	int env_p = 0, op_p = 0, op_max_p = 0;
	bool has_env_p = false, has_op_p = false, has_op_max_p = false;
	long long count = 10;

	for (int i = 1; i < argc; i++) {
		if (i + 1 >= argc) {
			fprintf(stderr, "parallelism: missing value for '%s'\n", argv[i]);
			return 2;
		}
		const char *opt = argv[i], *val = argv[++i];
		if (strcmp(opt, "--env-p") == 0) {
			env_p = atoi(val);
			has_env_p = true;
		} else if (strcmp(opt, "--op-p") == 0) {
			op_p = atoi(val);
			has_op_p = true;
		} else if (strcmp(opt, "--op-max-p") == 0) {
			op_max_p = atoi(val);
			has_op_max_p = true;
		} else if (strcmp(opt, "--count") == 0) {
			count = atoll(val);
		} else {
			fprintf(stderr, "parallelism: unknown argument '%s'\n", opt);
			return 2;
		}
	}
	if (has_env_p)
		spate_env_set_parallelism(env, env_p);
	spate_stream *s = spate_stream_name(spate_env_from_sequence(env, 1, count), "numbers");
	s = spate_stream_name(spate_stream_map(s, "value:int64", parallelism_double), "double");
	if (has_op_max_p)
		spate_stream_set_max_parallelism(s, op_max_p);
	if (has_op_p)
		spate_stream_set_parallelism(s, op_p);
	spate_stream_print(s);
	return spate_env_execute(env, "Parallelism", NULL);
}

SPATE_JOB_ENTRY(parallelism_main)
