/*
 * rest.h - the JobManager's REST API, split by subject. dispatcher.c owns the server and
 * job submission; each rest_*.c file registers its own routes:
 *   rest_jobs.c     job details, vertices, plan, config, exceptions, backpressure,
 *                   checkpoints, savepoints and stop-with-savepoint, job and subtask
 *                   metrics
 *   rest_cluster.c  /jobmanager/..., /taskmanagers/..., /metrics (Prometheus text)
 *   rest_jars.c     /jars: upload, list, delete, plan, run
 *   rest_web.c      the dashboard's compiled-in files at / (the fallback handler)
 * Handlers take jm->mu to read shared state and never hold it while doing I/O.
 */
#ifndef SPATE_DISPATCHER_REST_H
#define SPATE_DISPATCHER_REST_H

#include <stdbool.h>

#include <jansson.h>

#include "checkpoint/coordinator.h"
#include "cluster/jobmanager.h"
#include "rest/http_server.h"

#define SPATE_VERSION_STRING "spate-0.1.0"

void rest_jobs_register(struct jobmanager *jm, struct http_server *s);
void rest_cluster_register(struct jobmanager *jm, struct http_server *s);
void rest_jars_register(struct jobmanager *jm, struct http_server *s);
void rest_web_register(struct jobmanager *jm, struct http_server *s);
void rest_logs_register(struct jobmanager *jm, struct http_server *s);

/* A metric value as Flink sends it: Java's Double.toString (Float.toString when single). */
void rest_java_number(char *buf, size_t cap, double v, bool single);
/* Splits a comma-separated query value into its non-empty items (a new array of new
 * strings; free with rest_free_list). Returns the count. */
int rest_split_list(const char *s, char ***out);
void rest_free_list(char **items, int n);
/* The /jobs/overview entry of a job. Caller holds mu. */
json_t *rest_job_overview_json(const struct jm_job *job);
/* The multipart part named `name`, or NULL. */
const struct http_part *rest_find_part(const struct http_request *req, const char *name);
/* An ELF shared object for this machine's word size. */
bool rest_is_shared_library(const uint8_t *p, size_t n);
/* Counts the ExecutionStates of subtasks [first, first+n) of a job. Caller holds mu. */
void rest_count_tasks(const struct jm_job *job, int counts[EXEC_STATE_COUNT], int first, int n);
/* {"CREATED": n, ...} (lower: "created") from counts. */
json_t *rest_tasks_json(const int counts[EXEC_STATE_COUNT], bool lower);
/* end - start (now - start while end is 0); -1 before the start. */
int64_t rest_duration(int64_t start, int64_t end);
/* The job named by the route's first :param; answers 400 (malformed id) or 404 and returns
 * NULL, or returns the job with jm->mu held. */
struct jm_job *rest_job_param(struct jobmanager *jm, const struct http_request *req,
                              struct http_response *resp);

/* [{key, value}] of every key with a value, sorted by key, secrets ("password", "token",
 * ...) masked as "******" (Flink's ConfigurationInfoEntry list). */
json_t *rest_config_entries_json(const struct config *c);

/* ---- metric lists (Flink's /metrics?get= protocol) ------------------------------------- */

struct rest_metric {
	const char *id; /* static */
	double value;
	bool real; /* a Double gauge ("0.25", "1.0"); else a Long ("4") */
};

/* Without get: [{"id"}...]. With get ("a,b"): [{"id","value"}] for the known names in the
 * order asked, values as strings (as Flink sends them); unknown names are absent. */
json_t *rest_metric_list_json(const struct rest_metric *m, int n, const char *get);

/* A job's metrics in Flink's JobManager job scope (numRestarts, the checkpoint counts,
 * lastCheckpointDuration/Size/FullSize/AlignmentTime/RestoreTimestamp; -1 where there is
 * no checkpoint or restore yet). Caller holds mu. */
enum { REST_JOB_METRICS = 10 };
void rest_job_metrics(const struct jm_job *job, struct rest_metric m[REST_JOB_METRICS]);

/* ---- checkpoint statistics in Flink's shapes (pure: for the handlers and tests) --------- */

/* StatsSummaryDto of n values: min, max, avg (sum / n, as Java's long division) and the
 * quantiles p50, p90, p95, p99, p999 as commons-math3 Percentile computes them; all 0 for
 * no values. Sorts v in place. */
json_t *rest_stats_summary_json(int64_t *v, int n);

/* CheckpointStatistics of one checkpoint, with the "className" discriminator ("completed",
 * "failed", "in_progress"). tasks holds TaskCheckpointStatistics per job vertex when
 * vertex_ids (the ids of s->vertices[0..], nvertex_ids of them) is given, else {}. */
json_t *rest_checkpoint_json(const struct checkpoint_stats *s, const char *const *vertex_ids,
                             int nvertex_ids);

/* What GET /jobs/:jobid/checkpoints shows; everything borrowed. */
struct rest_checkpoint_view {
	struct checkpoint_counts counts;
	const struct checkpoint_stats *const *history; /* newest first */
	int nhistory;
	const struct checkpoint_stats *latest_completed; /* or NULL, and so on */
	const struct checkpoint_stats *latest_savepoint;
	const struct checkpoint_stats *latest_failed;
	const struct checkpoint_restored *restored; /* NULL or id 0: never restored */
};

/* CheckpointingStatistics {counts, summary, latest, history}: the summary is over the
 * completed checkpoints in the history; the history has no per-task statistics. */
json_t *rest_checkpoints_json(const struct rest_checkpoint_view *v);

/* TaskCheckpointStatisticsWithSubtaskDetails of s->vertices[vertex], with what the
 * JobMaster keeps per vertex: the summary holds only maxima, and subtasks are listed only
 * when all or none acknowledged. */
json_t *rest_task_checkpoint_details_json(const struct checkpoint_stats *s, int vertex);

/* CheckpointConfigInfo of cc; c (the job's effective configuration) gives the
 * externalized-checkpoint retention. */
json_t *rest_checkpoint_config_json(const struct checkpoint_config *cc, const struct config *c);

/* RootExceptionInfo of one entry of the JobMaster's exception history: exceptionName (the
 * message's leading Java-style class name, else JobException), stacktrace, timestamp,
 * taskName / endpoint / taskManagerId when a task failed, failureLabels {},
 * concurrentExceptions []. */
json_t *rest_exception_entry_json(const struct jm_exception *x);

/* AsynchronousOperationResult of a savepoint request: {"status":{"id":"IN_PROGRESS"}}, or
 * COMPLETED with "operation" {"location"} or {"failure-cause"}. */
json_t *rest_savepoint_status_json(const struct savepoint_request *r);

#endif
