/*
 * task.h - a running subtask (one operator chain, one thread) and its operators.
 *
 * DESIGN. A task is one execution vertex of the ExecutionGraph: the operator chain of its
 * job vertex, an input gate (unless the chain starts with a source) and one result partition
 * per job edge leaving the vertex. The task's thread is the only one that runs its operators
 * (Flink's mailbox rule), so operator code, keyed state and the user's functions are never
 * entered by two threads. Chained operators call each other directly with a pointer to the
 * row; only at a result partition are rows copied into network buffers.
 *
 * Other threads touch a task only through atomics: the job's cancel flag and the
 * flush_requested flag set by the buffer-timeout flusher (the gate is woken so a blocked
 * task sees it). The state field is written by the task's thread, and by the job while no
 * thread runs; it is read under job->mu for logging and completion.
 */
#ifndef SPATE_RUNTIME_TASK_H
#define SPATE_RUNTIME_TASK_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

#include "graph/execution_graph.h"
#include "graph/status.h"
#include "metrics/metrics.h"
#include "runtime/network.h"
#include "runtime/state_backend.h"
#include "types/row.h"

struct task;
struct local_job;
struct operator;
struct key_extractor;

struct spate_ctx {
	struct operator* op;
};

struct spate_collector {
	struct operator* op;
};

enum state_kind { STATE_VALUE, STATE_MAP, STATE_LIST, STATE_REDUCING };

/* spate_value_state, spate_map_state, spate_list_state and spate_reducing_state are all
 * this struct. */
struct state_handle {
	struct operator* op;
	char *name;  /* owned */
	uint32_t id; /* from the name (stable across restarts: checkpoints refer to it) */
	enum state_kind kind;
	void *reduce_fn; /* STATE_REDUCING: the user's reduce function */
};

struct operator
{
	struct spate_ctx ctx;             /* ctx.op == this */
	struct spate_collector collector; /* collector.op == this */
	struct task *task;                /* borrowed */
	struct stream_node *node;         /* borrowed */
	void *fn;                         /* the user function, resolved by name */
	spate_end_fn end_fn;              /* or NULL */
	struct spate_row_builder out;     /* builds this operator's output rows */
	bool out_open;                    /* a collector row was begun and not yet emitted */

	struct operator** chained; /* owned array of borrowed: chained successors */
	int nchained;
	struct result_partition **partitions; /* owned array of borrowed: network outputs */
	int npartitions;

	/* keyed operators */
	struct keyed_state_backend *state;    /* owned */
	struct spate_row_builder key_builder; /* builds the key row of the current input */
	spate_key_fn key_fn;                  /* selector, or NULL for field keys */
	struct state_key cur;                 /* current key: key group and state key bytes */
	const spate_row *cur_key;   /* key row (key_builder); field keys build it on demand */
	const spate_row *cur_input; /* the input row the current key belongs to */
	uint8_t *key_buf;           /* owned: the encoded field key of the current row */
	size_t key_cap;
	struct key_extractor **extractors; /* owned: selector keys of outgoing HASH partitions */
	int nextractors;
	struct state_handle **states; /* owned */
	int nstates;

	void *user_data; /* spate_ctx_user_data */
	int (*process)(struct operator* op, const spate_row *row);
	void *sink; /* sink-specific state (owned) */
	int64_t records_in;
};

struct task {
	struct local_job *job;       /* borrowed */
	struct execution_vertex *ev; /* borrowed */
	char *name;                  /* "<vertex name> (i/n)" (owned) */
	char attempt_id[120];        /* <eg id>_<vertex id>_<subtask>_<attempt> */
	pthread_t thread;
	bool thread_started;
	enum execution_state state; /* see DESIGN above */
	struct operator* ops;       /* owned, noperators entries, chain order (head first) */
	int nops;
	struct input_gate gate; /* used when has_gate */
	bool has_gate;
	struct result_partition *partitions; /* owned, one per job vertex output */
	int npartitions;
	atomic_int flush_requested; /* set by the flusher thread */
	char *failure;              /* why it failed (owned), first wins */
	char *user_msg;             /* message from spate_ctx_fail, pending (owned) */
	/* Written only by the task's thread (records and bytes in; idle and backpressured
	 * time through the gate's and the partitions' pools' pointers); any thread reads. */
	struct io_counters io;
};

/* A consistent-enough reading of a task's counters, taken by any thread. */
struct task_counters {
	int64_t records_in, records_out, bytes_in, bytes_out;
	int64_t busy_ns, idle_ns, backpressured_ns; /* since the task started running */
	double in_pool_usage, out_pool_usage;       /* 0..1 */
	int64_t buffers_total, buffers_free;        /* of the task's output pools */
};
/* Reads t's counters. Any thread, while the task exists (its thread may run). */
void task_read_counters(struct task *t, struct task_counters *c);

/* The state handle `name` of the operator running ctx, created on first use. NULL (with
 * the failure message recorded through spate_ctx_fail) outside a keyed stream or when the
 * name is used with another kind. */
struct state_handle *op_state_handle(spate_ctx *ctx, const char *name, enum state_kind kind);
/* The state key of state `id` for the operator's current key. */
struct state_key op_state_key(struct operator* op, uint32_t id);

/* Emits a row from `op` to its chained successors and its result partitions. */
int op_emit(struct operator* op, const spate_row *row);
/* A user function of `op` returned rc < 0: records the task's failure with the message from
 * spate_ctx_fail (consumed) or, without one, "<what> function '<fn_name>' returned <rc>".
 * Returns SPATE_EUSER (SPATE_ECANCELED passes through). */
int op_user_failed(struct operator* op, int rc, const char *what, const char *fn_name);
/* Prepares the operators of a task (resolve functions, builders, state). */
int task_setup_operators(struct task *t, void *lib_handle);
void task_release_operators(struct task *t);
/* The task thread's body. */
void *task_main(void *arg);
/* Checks cancel and flush requests; returns SPATE_ECANCELED if the job is canceled. Cheap:
 * call it per record in sources. */
int task_poll(struct task *t);
/* Flushes all output (result partitions and sinks' buffers). */
void task_flush(struct task *t);
/* Records the task's failure (first wins) for operator op (may be NULL) from code rc. */
void task_fail(struct task *t, struct operator* op, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Sources (sources.c): run the head operator's source loop until end of input. */
int source_run(struct operator* op);
/* Sinks (sinks.c). */
int sink_open(struct operator* op);
int sink_process(struct operator* op, const spate_row *row);
int sink_flush(struct operator* op);
int sink_finish(struct operator* op); /* end of input: commit */
void sink_abort(struct operator* op); /* failure/cancel: discard */

#endif
