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
 * Other threads touch a task only through atomics and its mailbox: the job's cancel flag,
 * the mail bits (a flush asked by the buffer-timeout flusher, checkpoint mail waiting in
 * ckpt_mu's queue; the gate is woken so a blocked task sees them). The state field is written by
 * the task's thread, and by the job while no thread runs; it is read under job->mu for logging and
 * completion.
 */
#ifndef SPATE_RUNTIME_TASK_H
#define SPATE_RUNTIME_TASK_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

#include "checkpoint/checkpoint.h"
#include "graph/execution_graph.h"
#include "graph/status.h"
#include "metrics/metrics.h"
#include "proto/rpc.pb-c.h"
#include "runtime/network.h"
#include "runtime/state_backend.h"
#include "types/row.h"

struct task;
struct local_job;
struct operator;
struct key_extractor;

/* Mail bits (task.mail): what other threads ask of a task, seen at its next poll. */
#define TASK_MAIL_FLUSH 1u /* the buffer-timeout flusher: flush partly filled buffers */
#define TASK_MAIL_CKPT 2u  /* a checkpoint trigger or notification is waiting (ckpt_mail) */

/* A checkpoint notification from the JobMaster, queued for the task thread. */
struct ckpt_note {
	int64_t id;
	bool aborted;
	struct ckpt_note *next;
};

/* One operator's part of a task's snapshot. */
struct op_snapshot {
	char operator_id[160];
	int node_id;
	struct keyed_snapshot *keyed; /* owned, or NULL: no keyed state */
	uint8_t **entries;            /* owned: operator state entries */
	size_t *entry_lens;
	int nentries;
};

/* What a task hands over at a barrier once the part on its own thread is done: everything
 * the asynchronous part needs, with no pointer into the task (which may end first). */
struct task_snapshot {
	struct checkpoint_barrier barrier;
	char job_id[33];
	int vertex, subtask, attempt;
	bool finished;           /* a final snapshot: the task had processed its whole input */
	struct op_snapshot *ops; /* owned, nops entries */
	int nops;
	int64_t alignment_ns, sync_ns;
	int64_t processed_bytes; /* bytes processed during alignment (at-least-once) */
	bool declined;
	char decline_reason[256];
};
void task_snapshot_free(struct task_snapshot *s);

/* A file sink's file that is complete but waits for the checkpoint covering it. */
struct pending_file {
	int64_t checkpoint_id; /* committed once this checkpoint completes */
	char *pending_path;    /* owned: "<dir>/.part-....pending" */
	char *final_path;      /* owned: "<dir>/part-..." */
};

/* Operator state of a source: its splits and how far each got. */
struct source_split {
	int64_t next;   /* sequence/generator/collection: next index; text: next byte */
	int64_t end;    /* exclusive; INT64_MAX = unbounded */
	int64_t stride; /* generator index step */
	char *path;     /* text file (owned), else NULL */
	bool at_line;   /* text: next is the start of a line (else skip to the next one) */
};

struct spate_ctx {
	void *user_data; /* spate_ctx_user_data: first, as struct spate_ctx_head says */
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
	/* While process_keyed_batch processes hint_row (else NULL): the state backend's hint
	 * for value state 0 of its key (see prefetch in state_backend.h). */
	const spate_row *hint_row;
	uint32_t hint;
	uint8_t *key_buf; /* owned: the encoded field key of the current row */
	size_t key_cap;
	uint8_t *acc_copy; /* owned: a reduce's accumulator, copied for the user */
	size_t acc_cap;
	struct key_extractor **extractors; /* owned: selector keys of outgoing HASH partitions */
	int nextractors;
	struct state_handle **states; /* owned */
	int nstates;

	int (*process)(struct operator* op, const spate_row *row);
	/* The same for n <= OP_BATCH rows at once (op_emit_batch); every kind has one. */
	int (*process_batch)(struct operator* op, const spate_row *const *rows, int n);
	const spate_row **batch_rows; /* owned, OP_BATCH entries: the rows it passes on */
	uint8_t
	    *batch_buf;   /* owned: room for OP_BATCH output rows, if it builds fixed-width rows */
	uint8_t *agg_buf; /* owned: a built-in aggregation's results of one batch */
	size_t agg_cap;
	void *sink; /* sink-specific state (owned) */
	int64_t records_in;

	/* checkpoints */
	char operator_id[160];       /* stream_node_operator_id */
	struct source_split *splits; /* sources: owned, nsplits entries */
	int nsplits;
	const Spate__Rpc__OperatorRestore *restore; /* borrowed: its state, or NULL */
};

struct task {
	struct local_job *job;       /* borrowed */
	const atomic_bool *canceled; /* borrowed: &job->canceled, for the inline task_poll */
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
	bool flush_idle; /* buffer timeout 0: flush the outputs whenever the task goes idle */
	int held;        /* buffer timeout 0: output subpartitions holding rows (write_row) */
	struct result_partition *partitions; /* owned, one per job vertex output */
	int npartitions;
	char *failure;  /* why it failed (owned), first wins */
	char *user_msg; /* message from spate_ctx_fail, pending (owned) */
	/* Written only by the task's thread (records and bytes in; idle and backpressured
	 * time through the gate's and the partitions' pools' pointers); any thread reads. */
	struct io_counters io;

	int attempt;
	const Spate__Rpc__TaskRestore *restore; /* borrowed (the deployment), or NULL */
	atomic_uint mail;                       /* TASK_MAIL_* bits */
	/* Checkpoint mailbox, filled by other threads: */
	pthread_mutex_t ckpt_mu;
	pthread_cond_t ckpt_cond;
	struct checkpoint_barrier trigger; /* guarded by: ckpt_mu; valid if has_trigger */
	bool has_trigger;                  /* guarded by: ckpt_mu */
	struct ckpt_note *notes;           /* guarded by: ckpt_mu; FIFO */
	/* Task thread only: */
	int64_t align_id;     /* the checkpoint being aligned, 0 = none */
	int64_t last_barrier; /* the newest checkpoint id handled */
	bool *barrier_seen;   /* per input channel, for align_id */
	int nbarriers;        /* channels that delivered align_id's barrier */
	int64_t align_start_ns;
	int64_t align_bytes;
	struct checkpoint_barrier align_barrier; /* of align_id */
	struct buffer *stash, *stash_tail;       /* buffers of blocked channels, in order */
	struct buffer *replay, *replay_tail;     /* released after alignment, before the gate */
	bool terminating;     /* a stop-with-savepoint barrier passed: no end functions */
	int64_t terminate_id; /* that savepoint's id */
#define TASK_SAVEPOINT_IDS 8
	int64_t savepoint_ids[TASK_SAVEPOINT_IDS]; /* the latest savepoints taken (no commit) */
	int nsavepoints;
	bool end_of_input;   /* end functions ran: waiting for the final checkpoint */
	bool finished_state; /* restored from a final snapshot: input was already processed */
	char sink_token[9];  /* random per run: file sink names never collide */
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

/* Emits a row from `op` to its chained successors and its result partitions (inline: it
 * runs once per record and operator). */
static inline int op_emit(struct operator* op, const spate_row *row)
{
	for (int i = 0; i < op->nchained; i++) {
		struct operator* next = op->chained[i];
		next->records_in++;
		int rc = next->process(next, row);
		if (rc < 0)
			return rc;
	}
	for (int i = 0; i < op->npartitions; i++) {
		int rc = result_partition_emit(op->partitions[i], row);
		if (rc < 0)
			return rc;
	}
	return 0;
}
/*
 * Rows move through a chain in batches where they can: a generator makes up to OP_BATCH
 * rows, then each chained operator takes the whole batch in one call (its user function
 * still sees one row at a time, in order). That saves the per-row calls and checks between
 * operators. Checkpoint barriers and mail (watermarks, when they come) are seen between batches,
 * which never span a task_poll.
 */
#define OP_BATCH 64
static inline int op_emit_batch(struct operator* op, const spate_row *const *rows, int n)
{
	if (n == 0)
		return 0;
	for (int i = 0; i < op->nchained; i++) {
		struct operator* next = op->chained[i];
		next->records_in += n;
		int rc = next->process_batch(next, rows, n);
		if (rc < 0)
			return rc;
	}
	for (int i = 0; i < op->npartitions; i++) {
		int rc = result_partition_emit_batch(op->partitions[i], rows, n);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* A user function of `op` returned rc < 0: records the task's failure with the message from
 * spate_ctx_fail (consumed) or, without one, "<what> function '<fn_name>' returned <rc>".
 * Returns SPATE_EUSER (SPATE_ECANCELED passes through). */
int op_user_failed(struct operator* op, int rc, const char *what, const char *fn_name);
/* A row builder's setter failed (row_builder_done gave NULL): fails the task with the
 * builder's message, prefixed by `what` when not NULL; returns SPATE_EUSER. */
int op_builder_failed(struct operator* op, struct spate_row_builder *b, const char *what);

/* Building a batch of fixed-width rows (maps, generators) in batch_buf: op_batch_begin
 * points the builder at `at`, the next slot, and begins a row there; after the user function
 * returned rc, op_batch_end puts the row in batch_rows[r] and returns 0, or gives the
 * builder its own buffer back and fails the task ("<what> function ..."). Once the batch is
 * built, op_batch_restore gives the builder its buffer back. */
static inline void op_batch_begin(struct operator* op, uint8_t *at)
{
	row_builder_begin_fixed(&op->out, at);
}

static inline void op_batch_restore(struct operator* op, uint8_t *scratch)
{
	op->out.buf = scratch;
}

static inline int op_batch_end(struct operator* op, int r, int rc, uint8_t *scratch,
                               const char *what)
{
	const spate_row *row = rc < 0 ? NULL : row_builder_done_fixed(&op->out);
	if (row) {
		op->batch_rows[r] = row;
		return 0;
	}
	op_batch_restore(op, scratch); /* the failure is reported from the builder's buffer */
	return rc < 0 ? op_user_failed(op, rc, what, op->node->fn_name)
	              : op_builder_failed(op, &op->out, NULL);
}

/* Prepares the operators of a task (resolve functions, builders, state). */
int task_setup_operators(struct task *t, void *lib_handle);
void task_release_operators(struct task *t);
/* The task thread's body. */
void *task_main(void *arg);
/* Checks cancel, flush and checkpoint mail; returns SPATE_ECANCELED if the job is canceled,
 * SPATE_ESTOPPED when a stop-with-savepoint completed at this source. Cheap: call it per
 * record in sources (one relaxed load each for cancel and mail). */
/* Buffer timeout 0: hands partly filled output buffers over before the task waits (for
 * input, for its pacing, for a socket), so that no row waits for a task that is idle. */
void task_flush(struct task *t);
static inline void task_flush_idle(struct task *t)
{
	if (t->flush_idle)
		task_flush(t);
}
/* Buffer timeout 0: hands over the held output buffers whose consumers caught up. */
void task_release_held(struct task *t);
int task_poll_slow(struct task *t);
static inline int task_poll(struct task *t)
{
	if (!atomic_load_explicit(t->canceled, memory_order_relaxed) &&
	    !atomic_load_explicit(&t->mail, memory_order_relaxed) && !t->held)
		return 0;
	return task_poll_slow(t);
}
#define SPATE_ESTOPPED (-1100) /* internal: the source stops (stop-with-savepoint) */

/* Mailbox (any thread): asks a task to take checkpoint b (sources; or FINAL at a task
 * waiting at its end of input); tells it that a checkpoint completed or was aborted. */
void task_mail_trigger(struct task *t, const struct checkpoint_barrier *b);
void task_mail_note(struct task *t, int64_t id, bool aborted);

/* Sources' operator state (sources.c): the splits a source starts with, from its restored
 * entries or by splitting its input; and their encoding as entries. */
int source_init_splits(struct operator* op);
void source_encode_splits(struct operator* op, struct op_snapshot *s);
/* File sink's two-phase commit (sinks.c). */
int sink_snapshot(struct operator* op, int64_t checkpoint_id, struct op_snapshot *s);
int sink_notify_complete(struct operator* op, int64_t checkpoint_id);
int sink_restore(struct operator* op); /* commits the restored pending files */
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
/* Sinks with a user function, one row and a batch at a time. */
int sink_function_process(struct operator* op, const spate_row *row);
int sink_function_batch(struct operator* op, const spate_row *const *rows, int n);
int sink_flush(struct operator* op);
int sink_finish(struct operator* op); /* end of input: commit */
void sink_abort(struct operator* op); /* failure/cancel: discard */

#endif
