/*
 * coordinator.h - the CheckpointCoordinator of one job (lives in its JobMaster), its
 * configuration, its statistics (what REST /jobs/:id/checkpoints shows) and savepoint
 * requests (REST /jobs/:id/savepoints and /stop).
 *
 * DESIGN. All fields are guarded by jm->mu (the JobManager's registry lock), like the rest
 * of struct jm_job. The JobMaster's thread drives the coordinator: it triggers periodic
 * checkpoints, expires pending ones past their timeout, and finalizes a checkpoint whose
 * acknowledgements are all in (writes `_metadata` with jm->mu released, then notifies the
 * TaskManagers). RPC reader threads only record acknowledgements, declines and end-of-input
 * notices (coordinator_ack, coordinator_decline, coordinator_end_of_input) and broadcast
 * jm->cond. REST handlers read the statistics and file savepoint requests.
 */
#ifndef SPATE_CHECKPOINT_COORDINATOR_H
#define SPATE_CHECKPOINT_COORDINATOR_H

#include <stdbool.h>
#include <stdint.h>

#include "checkpoint/checkpoint.h"
#include "config/config.h"
#include "proto/rpc.pb-c.h"

/* execution.checkpointing.* and state.backend.* as they apply to one job (the job's own
 * configuration over the cluster's). */
struct checkpoint_config {
	bool enabled;             /* interval set */
	int64_t interval_ms;      /* INT64_MAX when disabled (Flink's Long.MAX_VALUE) */
	bool exactly_once;        /* mode EXACTLY_ONCE (else AT_LEAST_ONCE) */
	int64_t timeout_ms;       /* default 10 min */
	int64_t min_pause_ms;     /* default 0 */
	int max_concurrent;       /* default 1 */
	int tolerable_failures;   /* default 0 */
	int num_retained;         /* default 1 */
	char *dir;                /* execution.checkpointing.dir (owned) or NULL */
	char *savepoint_dir;      /* execution.checkpointing.savepoint-dir (owned) or NULL */
	bool incremental;         /* execution.checkpointing.incremental */
	char backend[16];         /* state.backend.type: "hashmap" or "rocksdb" */
	bool externalized_retain; /* RETAIN_ON_CANCELLATION */
	char *restore_path;       /* execution.state-recovery.path (-s) (owned) or NULL */
	bool allow_non_restored;  /* execution.state-recovery.ignore-unclaimed-state (-n) */
};

/* Reads the configuration; SPATE_ECONFIG with err set when a value is unusable (for
 * example an interval without execution.checkpointing.dir). */
int checkpoint_config_load(struct checkpoint_config *cc, const struct config *c,
                           struct spate_error *err);
void checkpoint_config_release(struct checkpoint_config *cc);

enum checkpoint_status { CKPT_IN_PROGRESS, CKPT_COMPLETED, CKPT_FAILED };
const char *checkpoint_status_name(enum checkpoint_status s); /* Flink's: "IN_PROGRESS" ... */

/* Per subtask, for /jobs/:id/checkpoints/details/:cid/subtasks/:vid. */
struct checkpoint_subtask_stats {
	int64_t ack_ms; /* epoch ms, 0 = not acknowledged */
	int64_t state_size;
	int64_t checkpointed_size;
	int64_t alignment_ms;
	int64_t sync_ms;
	int64_t async_ms;
	int64_t processed_bytes;
};

/* Per job vertex, for /jobs/:id/checkpoints/details/:cid. */
struct checkpoint_vertex_stats {
	int num_subtasks;
	int num_acked;
	int64_t latest_ack_ms; /* epoch ms, 0 = none */
	int64_t state_size;
	int64_t checkpointed_size;
	int64_t alignment_ms_max;
	int64_t sync_ms_max;
	int64_t async_ms_max;
	int64_t processed_bytes;
	struct checkpoint_subtask_stats *subtasks; /* owned, num_subtasks entries */
};

/* One entry of the history (pending, completed or failed). */
struct checkpoint_stats {
	int64_t id;
	enum checkpoint_status status;
	enum checkpoint_kind kind;
	int64_t trigger_ms;    /* epoch ms */
	int64_t latest_ack_ms; /* epoch ms, 0 = none */
	int64_t end_ms;        /* completion or failure, 0 while in progress */
	int num_subtasks;
	int num_acked;
	int64_t state_size;
	int64_t checkpointed_size;
	int64_t alignment_ms_max;
	int64_t processed_bytes;
	char *external_path;                      /* owned: the chk-N or savepoint directory */
	char *failure;                            /* owned: why it failed, or NULL */
	bool discarded;                           /* its files were removed (retention) */
	struct checkpoint_vertex_stats *vertices; /* owned, one per job vertex */
	int nvertices;
};

/* A savepoint asked for through REST or the CLI. */
struct savepoint_request {
	char trigger_id[33]; /* 32 hex */
	bool stop;           /* stop-with-savepoint */
	bool done;
	char *location;        /* owned: the savepoint's directory, when done and successful */
	char *failure;         /* owned: when done and failed */
	int64_t checkpoint_id; /* 0 until triggered */
	char *target_dir;      /* owned: the directory asked for, or NULL (savepoint-dir) */
	int64_t created_ms;
	struct savepoint_request *next;
};

struct checkpoint_coordinator;

/* A new coordinator for job `job_id` with `nvertices` vertices of the given parallelisms. */
struct checkpoint_coordinator *coordinator_new(const char *job_id,
                                               const struct checkpoint_config *cc, int nvertices,
                                               const int *parallelism);
void coordinator_free(struct checkpoint_coordinator *co);
const struct checkpoint_config *coordinator_config(const struct checkpoint_coordinator *co);

/* ---- statistics, for REST (caller holds jm->mu) ------------------------------------------ */

struct checkpoint_counts {
	int64_t restored, total, in_progress, completed, failed;
};
void coordinator_counts(const struct checkpoint_coordinator *co, struct checkpoint_counts *out);
/* The history, newest first (at most web.checkpoints.history, default 10, entries). */
int coordinator_history(const struct checkpoint_coordinator *co,
                        const struct checkpoint_stats *const **out);
/* The latest completed checkpoint, savepoint and failed one, or NULL. */
const struct checkpoint_stats *
coordinator_latest_completed(const struct checkpoint_coordinator *co);
const struct checkpoint_stats *
coordinator_latest_savepoint(const struct checkpoint_coordinator *co);
const struct checkpoint_stats *coordinator_latest_failed(const struct checkpoint_coordinator *co);
/* What the job was last restored from: id 0 when never. */
struct checkpoint_restored {
	int64_t id;
	int64_t restore_ms; /* epoch ms */
	bool is_savepoint;
	char *external_path; /* owned by the coordinator */
};
const struct checkpoint_restored *coordinator_restored(const struct checkpoint_coordinator *co);
/* Finds a history entry by id, or NULL. */
const struct checkpoint_stats *coordinator_find(const struct checkpoint_coordinator *co,
                                                int64_t id);

/* ---- savepoints (caller holds jm->mu) ---------------------------------------------------- */

/* Files a savepoint request; the JobMaster's thread triggers it. target_dir may be NULL
 * (then execution.checkpointing.savepoint-dir; neither: the request fails at once with
 * Flink's message). Fills trigger_id. */
int coordinator_request_savepoint(struct checkpoint_coordinator *co, const char *target_dir,
                                  bool stop, char trigger_id[33], struct spate_error *err);
const struct savepoint_request *
coordinator_savepoint_status(const struct checkpoint_coordinator *co, const char *trigger_id);

/* ---- the JobMaster's side ----------------------------------------------------------------
 *
 * Caller holds jm->mu. Only the JobMaster's thread triggers, finalizes and aborts; RPC reader
 * threads only record (coordinator_ack, coordinator_end_of_input), REST threads only file
 * savepoint requests. So a pending checkpoint never disappears under the JobMaster's thread
 * while it writes `_metadata` with jm->mu released.
 *
 * Subtasks are numbered vertex by vertex, as struct jm_job's tasks.
 */

/* Paths to remove once jm->mu is released (retention, aborted checkpoints). */
struct checkpoint_trash {
	char **paths; /* owned, n entries */
	int n;
};
/* Appends a copy of path. */
void checkpoint_trash_add(struct checkpoint_trash *t, const char *path);
/* Removes every path (checkpoint_remove_tree; failures logged) and empties the list. Call
 * without jm->mu: this is disk I/O. */
void checkpoint_trash_empty(struct checkpoint_trash *t);

/* When the next periodic checkpoint is due (epoch ms), given the interval since the last
 * trigger and min-pause since the last completion; INT64_MAX when periodic checkpoints are
 * off or stopped (a subtask reached its end of input, a stop-with-savepoint completed). */
int64_t coordinator_periodic_due_ms(const struct checkpoint_coordinator *co);
/* The tasks were (re)deployed: periodic checkpoints resume, the first one interval after
 * now_ms. */
void coordinator_start_periodic(struct checkpoint_coordinator *co, int64_t now_ms);

/* What the pending checkpoint needs from the JobMaster's thread. */
enum pending_action {
	PENDING_NONE,     /* no checkpoint is pending */
	PENDING_WAITING,  /* acknowledgements are missing; *deadline_ms is when it expires */
	PENDING_READY,    /* every acknowledgement is in: finalize it */
	PENDING_DECLINED, /* a subtask declined it: abort it (counted) */
	PENDING_EXPIRED,  /* its timeout passed: abort it (counted) */
	PENDING_ABORT,    /* a subtask it waits for reached its end of input: abort it (not
	                     counted) */
};
/* *reason (may be NULL) gets the failure message for DECLINED, EXPIRED and ABORT, borrowed
 * until the next call that changes the coordinator. */
enum pending_action coordinator_pending_action(const struct checkpoint_coordinator *co,
                                               int64_t now_ms, int64_t *deadline_ms,
                                               const char **reason);
/* The pending checkpoint's id and kind (0 when none). */
int64_t coordinator_pending_id(const struct checkpoint_coordinator *co, enum checkpoint_kind *kind);

/* The oldest savepoint request not yet triggered, or NULL. */
struct savepoint_request *coordinator_next_savepoint_request(struct checkpoint_coordinator *co);
/* Fails every request not yet done with `why` (the job ended, or cannot take it). */
void coordinator_fail_savepoint_requests(struct checkpoint_coordinator *co, const char *why);

/*
 * Starts checkpoint <last id + 1> of `kind` (req: the savepoint request it serves, or NULL):
 * creates its directory (<dir>/<job id>/chk-N, or savepoint-<6 of job id>-<12 hex> in the
 * request's or the configured savepoint directory) and fills *b with what TriggerCheckpoint
 * carries. Returns 0, or a negative code with err set: the attempt is then recorded as
 * failed (counted for a checkpoint; the request failed for a savepoint).
 */
int coordinator_trigger(struct checkpoint_coordinator *co, enum checkpoint_kind kind,
                        struct savepoint_request *req, int64_t now_ms, struct checkpoint_barrier *b,
                        struct spate_error *err);

/* RPC reader threads (the caller has checked the job, the subtask and its attempt): subtask
 * `task`'s acknowledgement or decline. The operator states are copied. Returns true if it
 * concerned the pending checkpoint (then broadcast jm->cond). */
bool coordinator_ack(struct checkpoint_coordinator *co, int task,
                     const Spate__Rpc__AcknowledgeCheckpoint *a, int64_t now_ms);
/* RPC reader threads: subtask `task` declined checkpoint `checkpoint_id` (reason may be NULL):
 * the pending checkpoint becomes PENDING_DECLINED. coordinator_ack calls it for an
 * AcknowledgeCheckpoint with `declined` set. Returns true if it concerned the pending one. */
bool coordinator_decline(struct checkpoint_coordinator *co, int task, int64_t checkpoint_id,
                         const char *reason);
/* RPC reader threads: subtask `task` processed its whole input. Stops periodic checkpoints;
 * a pending checkpoint (not the final one) still waiting for that subtask becomes
 * PENDING_ABORT. */
void coordinator_end_of_input(struct checkpoint_coordinator *co, int task);

/* Finalizing a PENDING_READY checkpoint, step 1 (mu held): the bytes of its `_metadata`
 * (returns new, xfree; one OperatorStateMsg per stream node of jg) and the file's path in
 * *path (new string). Write them with jm->mu released (checkpoint_write_file). */
struct job_graph;
uint8_t *coordinator_finalize_begin(struct checkpoint_coordinator *co, const struct job_graph *jg,
                                    size_t *len, char **path);

/* How a pending checkpoint ended. */
struct checkpoint_outcome {
	int64_t id; /* 0: nothing was pending */
	enum checkpoint_kind kind;
	bool completed;
	bool stop; /* a stop-with-savepoint completed: the sources end after the notification */
};

/* Step 2 (mu held again): write_err is the result of writing `_metadata` (code 0: written).
 * On success the checkpoint is COMPLETED, savepoint requests are done and retention
 * (num-retained) puts what it discards into trash; on failure it FAILED ("Failure to finalize
 * checkpoint."). Either way notify the TaskManagers (aborted unless out->completed). */
void coordinator_finalize_end(struct checkpoint_coordinator *co, int64_t now_ms,
                              const struct spate_error *write_err, struct checkpoint_trash *trash,
                              struct checkpoint_outcome *out);

/* Aborts the pending checkpoint, if any: FAILED with `reason`, its directory into trash,
 * counted towards tolerable-failed-checkpoints when `counted` (savepoints never are), its
 * savepoint request failed. Notify the TaskManagers (aborted) when out->id != 0. */
void coordinator_abort(struct checkpoint_coordinator *co, const char *reason, bool counted,
                       int64_t now_ms, struct checkpoint_trash *trash,
                       struct checkpoint_outcome *out);

/* True once more consecutive checkpoints failed than tolerable-failed-checkpoints (then
 * fail the job with "Exceeded checkpoint tolerable failure threshold."); the count starts
 * again at 0. */
bool coordinator_take_failure_exceeded(struct checkpoint_coordinator *co);

/* ---- restore (caller holds jm->mu) --------------------------------------------------------- */

/* The directories of the retained completed checkpoints, newest first, to restore from after
 * a failure (returns a new array of new strings: free with coordinator_strings_free). */
char **coordinator_restore_candidates(const struct checkpoint_coordinator *co, int *n);
void coordinator_strings_free(char **s, int n);

/* The job was restored from md (read from dir). Checkpoint ids continue after its id. With
 * `initial` (execution.state-recovery.path) it also becomes a retained checkpoint that is
 * never deleted (Flink's NO_CLAIM mode), so a failure before the first new checkpoint
 * restores from it again. */
void coordinator_restored_from(struct checkpoint_coordinator *co,
                               const Spate__Ckpt__CheckpointMetadataMsg *md, const char *dir,
                               bool initial, int64_t now_ms);

#endif
