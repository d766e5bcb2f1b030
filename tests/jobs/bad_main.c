/*
 * bad_main.c - an entry point that misbehaves around spate_env_execute(), for the
 * JobManager's /jars endpoints, which must run entry points in a child process and survive
 * whatever they do (--mode picks what):
 *   segv     dereferences NULL before building anything
 *   abort    calls abort()
 *   hang     never returns
 *   none     returns 0 without calling spate_env_execute()
 *   noisy    prints to stdout (as does a constructor run when the library is loaded), then
 *            builds a small job, executes it twice and prints again: the graph must still
 *            reach the JobManager intact, and only the first execute counts
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <spate/spate.h>

__attribute__((constructor)) static void bad_main_loaded(void)
{
	printf("bad_main: loaded, writing to stdout from a constructor\n");
	fflush(stdout);
}

static int bad_main(spate_env *env, int argc, char **argv)
{
	const char *mode = "noisy";
	for (int i = 1; i + 1 < argc; i++)
		if (strcmp(argv[i], "--mode") == 0)
			mode = argv[i + 1];
	if (strcmp(mode, "segv") == 0) {
		volatile int *p = NULL;
		*p = 1;
	} else if (strcmp(mode, "abort") == 0) {
		abort();
	} else if (strcmp(mode, "hang") == 0) {
		for (;;)
			pause();
	} else if (strcmp(mode, "none") == 0) {
		return 0;
	}
	for (int i = 0; i < 1000; i++)
		printf("bad_main: noise line %d before execute\n", i);
	fflush(stdout);
	spate_stream_print(spate_env_from_sequence(env, 1, 10));
	int rc = spate_env_execute(env, "Noisy", NULL);
	printf("bad_main: after the first execute (rc %d)\n", rc);
	spate_stream_print(spate_env_from_sequence(env, 1, 20));
	rc = spate_env_execute(env, "Noisy twice", NULL);
	printf("bad_main: after the second execute (rc %d)\n", rc);
	return rc;
}

SPATE_JOB_ENTRY(bad_main)
