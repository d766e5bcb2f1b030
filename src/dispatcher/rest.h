/*
 * rest.h - the JobManager's REST API, split by subject. dispatcher.c owns the server and
 * job submission; each rest_*.c file registers its own routes:
 *   rest_jobs.c     job details, vertices, plan, config, exceptions, backpressure,
 *                   checkpoints, job and subtask metrics
 *   rest_cluster.c  /jobmanager/..., /taskmanagers/..., /metrics (Prometheus text)
 *   rest_jars.c     /jars: upload, list, delete, plan, run
 *   rest_web.c      the dashboard's compiled-in files at / (the fallback handler)
 * Handlers take jm->mu to read shared state and never hold it while doing I/O.
 */
#ifndef SPATE_DISPATCHER_REST_H
#define SPATE_DISPATCHER_REST_H

#include <stdbool.h>

#include <jansson.h>

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

#endif
