/*
 * cluster_client.h - the client against a session cluster, over the JobManager's REST API:
 * submit a job (POST /jobs with the encoded StreamGraph and the job library), follow it to
 * its end (attached) or return at once (detached), list jobs and cancel one, printing
 * Flink's CLI lines.
 */
#ifndef SPATE_CLIENT_CLUSTER_CLIENT_H
#define SPATE_CLIENT_CLUSTER_CLIENT_H

#include <stdbool.h>

#include "api/result.h"
#include "config/config.h"
#include "core/error.h"
#include "graph/job_graph.h"

/*
 * Finds the JobManager's REST address: `-m host:port` if given, else the address the
 * running cluster of this installation published in <log dir>/jobmanager.address (written
 * by the JobManager, removed when it stops). Returns 0 with out filled, or -1 when there is
 * no cluster to talk to (then `spate run` uses the embedded local cluster).
 */
int cluster_client_address(const struct config *c, const char *m_option, char *out, size_t cap);

/* Submits jg (built from sg) with the library at lib_path. Attached: follows the job and
 * returns 0 only if it FINISHED (err names the cause otherwise). Fills r->runtime_ms. */
int cluster_client_submit(const char *address, struct job_graph *jg, const char *lib_path,
                          bool detached, spate_result *r, struct spate_error *err);

enum { LIST_RUNNING = 1, LIST_SCHEDULED = 2, LIST_ALL = 4 };
int cluster_client_list(const char *address, int which, struct spate_error *err);
int cluster_client_cancel(const char *address, const char *job_id, struct spate_error *err);

#endif
