/*
 * local_job.h - runs one job's ExecutionGraph on threads in this process: the embedded
 * local cluster behind `spate run` without a cluster address. It plays the JobMaster's part
 * (deploy, track ExecutionState and JobStatus with Flink's names and log lines, fail or
 * finish the job) over the same task, network and operator code that TaskManagers will run.
 *
 * DESIGN. local_job_run() is called on the client's thread and blocks until the job reaches
 * a globally terminal state. It starts one thread per subtask plus, when the buffer timeout
 * is positive, one flusher thread that asks every task to flush at that interval. Tasks
 * report state changes through local_job_task_state(), which takes job->mu; the first
 * failure cancels all other tasks (cancel flag + wake-ups) and the job ends FAILED.
 * Several jobs may run in one process at once: a job shares nothing with another.
 */
#ifndef SPATE_RUNTIME_LOCAL_JOB_H
#define SPATE_RUNTIME_LOCAL_JOB_H

#include <pthread.h>
#include <stdatomic.h>

#include "api/result.h"
#include "config/config.h"
#include "graph/execution_graph.h"
#include "graph/status.h"
#include "proto/rpc.pb-c.h"
#include "runtime/task.h"

/* How the job's tasks take part in checkpoints (a TaskManager's job; the embedded cluster
 * has no checkpoint coordinator and leaves this zeroed). */
struct local_job_checkpointing {
	bool enabled;      /* periodic checkpoints: tasks wait for the final one at their end */
	bool exactly_once; /* aligned barriers (else at-least-once: barriers only counted) */
	char backend[16];  /* state.backend.type: "hashmap" or "rocksdb" */
	char *state_dir;   /* owned: where RocksDB keeps this job's databases, or NULL */
	/* Called on a task's thread when its part of a snapshot is done: takes ownership. */
	void (*snapshot_hook)(void *arg, struct task_snapshot *s);
	/* Called on a task's thread when it has processed its whole input (enabled only). */
	void (*end_of_input_hook)(void *arg, struct task *t);
	void *hook_arg;
};

struct local_job {
	struct job_graph *jg;       /* borrowed */
	struct execution_graph *eg; /* borrowed */
	void *lib_handle;           /* borrowed: where user functions are looked up */
	spate_result *result;       /* borrowed: collect sinks add rows here */
	atomic_bool canceled;
	pthread_mutex_t mu;
	pthread_cond_t cond;    /* signalled on every task reaching a terminal state */
	enum job_status status; /* guarded by: mu */
	int nterminal;          /* guarded by: mu */
	char *failure;          /* guarded by: mu; root cause, first wins */
	struct task *tasks;     /* owned; all subtasks, vertex by vertex */
	int ntasks;
	int64_t buffer_timeout_ms;
	int buffers_per_channel;
	int floating_buffers;
	pthread_mutex_t print_mu; /* serializes the print sinks' writes to stdout */
	int64_t start_ms;
	int64_t end_ms;
	/* In a TaskManager the job runs only some subtasks (local[k]); the others run
	 * elsewhere and count as terminal here. Every state change of a local task is also
	 * passed to state_hook (called with mu held). NULL/false on the embedded cluster. */
	bool *local; /* owned, ntasks entries, or NULL = all local */
	void (*state_hook)(void *arg, struct task *t, enum execution_state to);
	void *state_hook_arg;
	struct local_job_checkpointing ckpt;
};

struct local_job_options {
	const bool *local; /* copied; NULL = every subtask runs here */
	void (*state_hook)(void *arg, struct task *t, enum execution_state to);
	void *state_hook_arg;
	const int *attempts; /* per subtask, or NULL (all 0) */
	/* per subtask: the state it starts from (borrowed; must outlive the job), or NULL */
	const Spate__Rpc__TaskRestore *const *restores;
	const struct local_job_checkpointing *ckpt; /* copied (state_dir too), or NULL */
};

struct local_job *local_job_new(struct job_graph *jg, struct execution_graph *eg, void *lib_handle,
                                const struct config *config, spate_result *result);
/* As local_job_new, for a TaskManager's share of a job. Subpartitions whose consumer is not
 * local are left without a gate (sub->gate == NULL) and gate channels whose producer is not
 * local get no producer: the caller connects both through the network before running. */
struct local_job *local_job_new_partial(struct job_graph *jg, struct execution_graph *eg,
                                        void *lib_handle, const struct config *config,
                                        spate_result *result, const struct local_job_options *opts);
/* The task of subtask `subtask` of job vertex `jv`. */
struct task *local_job_task(struct local_job *job, const struct job_vertex *jv, int subtask);
/* Channel index in the consumer's gate of producer `producer` on input edge `e`. */
int local_job_channel_index(const struct job_edge *e, int consumer, int producer);
void local_job_free(struct local_job *job);
/* Runs to a terminal state. Returns 0 if FINISHED, else SPATE_EJOBFAIL (err gets the
 * cause: "operator 'x' (subtask 1/2) failed: ...") or SPATE_ECANCELED. */
int local_job_run(struct local_job *job, struct spate_error *err);
/* Called by tasks: records and logs a state change. */
void local_job_task_state(struct local_job *job, struct task *t, enum execution_state to);
/* Cancels the job (idempotent). */
void local_job_cancel(struct local_job *job);

int64_t now_ms(void);
/* Sleeps ms milliseconds (the CLI's polling loops). */
void sleep_ms(int ms);

#endif
