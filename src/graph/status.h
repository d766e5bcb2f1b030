/*
 * status.h - Flink's job and task state machines (flink-facts.md §7), with Flink's names.
 * Tasks use CANCELING (one L), jobs CANCELLING.
 */
#ifndef SPATE_GRAPH_STATUS_H
#define SPATE_GRAPH_STATUS_H

#include <stdbool.h>

enum job_status {
	JOB_INITIALIZING,
	JOB_CREATED,
	JOB_RUNNING,
	JOB_FAILING,
	JOB_FAILED,
	JOB_CANCELLING,
	JOB_CANCELED,
	JOB_FINISHED,
	JOB_RESTARTING,
	JOB_SUSPENDED,
	JOB_RECONCILING,
	JOB_STATUS_COUNT
};

enum execution_state {
	EXEC_CREATED,
	EXEC_SCHEDULED,
	EXEC_DEPLOYING,
	EXEC_RUNNING,
	EXEC_FINISHED,
	EXEC_CANCELING,
	EXEC_CANCELED,
	EXEC_FAILED,
	EXEC_RECONCILING,
	EXEC_INITIALIZING,
	EXEC_STATE_COUNT
};

const char *job_status_name(enum job_status s);
bool job_status_is_globally_terminal(enum job_status s);
const char *execution_state_name(enum execution_state s);
bool execution_state_is_terminal(enum execution_state s);
/* Parses a state name; -1 if unknown. */
int execution_state_parse(const char *name);
int job_status_parse(const char *name);

#endif
