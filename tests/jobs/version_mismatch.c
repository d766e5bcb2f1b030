/*
 * version_mismatch.c - a job that claims an API version the engine does not speak.
 * Defines the two symbols of SPATE_JOB_ENTRY by hand, with version 999: the client must
 * refuse it before calling the entry point.
 */
#include <spate/spate.h>

#include <stdio.h>

SPATE_EXPORT const int spate_job_api_version = 999;
SPATE_EXPORT int spate_job_main(spate_env *env, int argc, char **argv);

SPATE_EXPORT int spate_job_main(spate_env *env, int argc, char **argv)
{
	/* Must never run: the version check comes first. */
	fprintf(stderr, "version_mismatch: the entry point ran\n");
	spate_stream_print(spate_env_from_sequence(env, 1, 3));
	return spate_env_execute(env, "VersionMismatch", NULL);
}
