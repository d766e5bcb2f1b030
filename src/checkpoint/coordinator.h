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
	bool enabled;                 /* interval set */
	int64_t interval_ms;          /* INT64_MAX when disabled (Flink's Long.MAX_VALUE) */
	bool exactly_once;            /* mode EXACTLY_ONCE (else AT_LEAST_ONCE) */
	int64_t timeout_ms;           /* default 10 min */
	int64_t min_pause_ms;         /* default 0 */
	int max_concurrent;           /* default 1 */
	int tolerable_failures;       /* default 0 */
	int num_retained;             /* default 1 */
	char *dir;                    /* execution.checkpointing.dir (owned) or NULL */
	char *savepoint_dir;          /* execution.checkpointing.savepoint-dir (owned) or NULL */
	bool incremental;             /* execution.checkpointing.incremental */
	char backend[16];             /* state.backend.type: "hashmap" or "rocksdb" */
	bool externalized_retain;     /* RETAIN_ON_CANCELLATION */
	char *restore_path;           /* execution.state-recovery.path (-s) (owned) or NULL */
	bool allow_non_restored;      /* execution.state-recovery.ignore-unclaimed-state (-n) */
};

/* Reads the configuration; SPATE_ECONFIG with err set when a value is unusable (for
 * example an interval without execution.checkpointing.dir). */
int checkpoint_config_load(struct checkpoint_config *cc, const struct config *c,
                           struct spate_error *err);
void checkpoint_config_release(struct checkpoint_config *cc);

enum checkpoint_status { CKPT_IN_PROGRESS, CKPT_COMPLETED, CKPT_FAILED };
const char *checkpoint_status_name(enum checkpoint_status s); /* Flink's: "IN_PROGRESS" ... */

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
	char *external_path;  /* owned: the chk-N or savepoint directory */
	char *failure;        /* owned: why it failed, or NULL */
	bool discarded;       /* its files were removed (retention) */
	struct checkpoint_vertex_stats *vertices; /* owned, one per job vertex */
	int nvertices;
};

/* A savepoint asked for through REST or the CLI. */
struct savepoint_request {
	char trigger_id[33]; /* 32 hex */
	bool stop;           /* stop-with-savepoint */
	bool done;
	char *location;      /* owned: the savepoint's directory, when done and successful */
	char *failure;       /* owned: when done and failed */
	int64_t checkpoint_id; /* 0 until triggered */
	char *target_dir;    /* owned: the directory asked for, or NULL (savepoint-dir) */
	int64_t created_ms;
	struct savepoint_request *next;
};

struct checkpoint_coordinator;

/* A new coordinator for job `job_id` with `nvertices` vertices of the given parallelisms. */
struct checkpoint_coordinator *coordinator_new(const char *job_id, const struct checkpoint_config *cc,
                                               int nvertices, const int *parallelism);
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
const struct checkpoint_stats *coordinator_latest_completed(const struct checkpoint_coordinator *co);
const struct checkpoint_stats *coordinator_latest_savepoint(const struct checkpoint_coordinator *co);
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
const struct checkpoint_stats *coordinator_find(const struct checkpoint_coordinator *co, int64_t id);

/* ---- savepoints (caller holds jm->mu) ---------------------------------------------------- */

/* Files a savepoint request; the JobMaster's thread triggers it. target_dir may be NULL
 * (then execution.checkpointing.savepoint-dir; neither: the request fails at once with
 * Flink's message). Fills trigger_id. */
int coordinator_request_savepoint(struct checkpoint_coordinator *co, const char *target_dir,
                                  bool stop, char trigger_id[33], struct spate_error *err);
const struct savepoint_request *coordinator_savepoint_status(const struct checkpoint_coordinator *co,
                                                             const char *trigger_id);

#endif
