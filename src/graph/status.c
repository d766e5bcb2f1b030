/* status.c - names of job and task states, as Flink spells them. */
#include "graph/status.h"

const char *job_status_name(enum job_status s)
{
	static const char *const names[] = {"INITIALIZING", "CREATED",    "RUNNING",    "FAILING",
	                                    "FAILED",       "CANCELLING", "CANCELED",   "FINISHED",
	                                    "RESTARTING",   "SUSPENDED",  "RECONCILING"};
	return (unsigned)s < sizeof names / sizeof *names ? names[s] : "UNKNOWN";
}

bool job_status_is_globally_terminal(enum job_status s)
{
	return s == JOB_FAILED || s == JOB_CANCELED || s == JOB_FINISHED;
}

const char *execution_state_name(enum execution_state s)
{
	static const char *const names[] = {"CREATED",     "SCHEDULED",   "DEPLOYING", "RUNNING",
	                                    "FINISHED",    "CANCELING",   "CANCELED",  "FAILED",
	                                    "RECONCILING", "INITIALIZING"};
	return (unsigned)s < sizeof names / sizeof *names ? names[s] : "UNKNOWN";
}

bool execution_state_is_terminal(enum execution_state s)
{
	return s == EXEC_FINISHED || s == EXEC_CANCELED || s == EXEC_FAILED;
}

#include <string.h>

int execution_state_parse(const char *name)
{
	for (int i = 0; name && i < EXEC_STATE_COUNT; i++)
		if (strcmp(name, execution_state_name((enum execution_state)i)) == 0)
			return i;
	return -1;
}

int job_status_parse(const char *name)
{
	for (int i = 0; name && i < JOB_STATUS_COUNT; i++)
		if (strcmp(name, job_status_name((enum job_status)i)) == 0)
			return i;
	return -1;
}
