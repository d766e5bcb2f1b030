/*
 * no_entry.c - a shared library without the job entry point (spate_job_main).
 * `spate run` must refuse it with one line naming the missing entry point.
 */
#include <spate/spate.h>

int not_a_job(int x);

int not_a_job(int x)
{
	return x + 1;
}
