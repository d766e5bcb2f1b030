/*
 * rest_jobs.c - REST endpoints about one job: its details, vertices and subtasks, plan,
 * configuration, exceptions, backpressure, checkpoints and metrics (Flink's paths and
 * shapes, reference/flink-rest-v1-dispatcher.yml).
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "core/alloc.h"
#include "dispatcher/rest.h"
#include "runtime/local_job.h"

static void h_job(void *arg, const struct http_request *req, struct http_response *resp)
{
	struct jobmanager *jm = arg;
	struct jm_job *job = rest_job_param(jm, req, resp);
	if (!job)
		return;
	json_t *o = rest_job_overview_json(job);
	json_object_del(o, "tasks");
	json_object_set_new(o, "isStoppable", json_false());
	json_object_set_new(o, "now", json_integer(now_ms()));
	json_object_set_new(o, "job-type", json_string("STREAMING"));
	json_t *ts = json_object();
	for (int s = 0; s < JOB_STATUS_COUNT; s++)
		json_object_set_new(ts, job_status_name((enum job_status)s),
		                    json_integer(job->timestamps[s]));
	json_object_set_new(o, "timestamps", ts);
	json_t *vertices = json_array();
	int base = 0, maxp = 0;
	int all[EXEC_STATE_COUNT] = {0};
	for (int v = 0; v < job->jg->nvertices; v++) {
		struct job_vertex *jv = job->jg->vertices[v];
		int counts[EXEC_STATE_COUNT];
		rest_count_tasks(job, counts, base, jv->parallelism);
		int64_t start = -1, end = -1;
		for (int k = base; k < base + jv->parallelism; k++) {
			if (job->tasks[k].start_ms && (start < 0 || job->tasks[k].start_ms < start))
				start = job->tasks[k].start_ms;
			if (job->tasks[k].end_ms > end)
				end = job->tasks[k].end_ms;
		}
		/* A vertex's status: the "highest" of its subtasks' states, as Flink aggregates. */
		enum execution_state vs = EXEC_CREATED;
		static const enum execution_state order[] = {
		    EXEC_FAILED,    EXEC_CANCELING, EXEC_CANCELED, EXEC_RUNNING, EXEC_INITIALIZING,
		    EXEC_DEPLOYING, EXEC_SCHEDULED, EXEC_FINISHED, EXEC_CREATED};
		for (size_t i = 0; i < sizeof order / sizeof *order; i++)
			if (counts[order[i]] > 0) {
				vs = order[i];
				break;
			}
		for (int s = 0; s < EXEC_STATE_COUNT; s++)
			all[s] += counts[s];
		if (jv->max_parallelism > maxp)
			maxp = jv->max_parallelism;
		json_array_append_new(
		    vertices,
		    json_pack(
		        "{s:s, s:s, s:i, s:i, s:s, s:I, s:I, s:I, s:o, s:s}", "id", jv->id, "name",
		        jv->name, "parallelism", jv->parallelism, "maxParallelism",
		        jv->max_parallelism, "status", execution_state_name(vs), "start-time",
		        (json_int_t)start, "end-time",
		        (json_int_t)(vs == EXEC_FINISHED || vs == EXEC_CANCELED || vs == EXEC_FAILED
		                         ? end
		                         : -1),
		        "duration", (json_int_t)(start > 0 ? rest_duration(start, end) : -1), "tasks",
		        rest_tasks_json(counts, false), "slotSharingGroupId", jv->slot_sharing_group));
		base += jv->parallelism;
	}
	json_object_set_new(o, "maxParallelism", json_integer(maxp));
	json_object_set_new(o, "vertices", vertices);
	json_object_set_new(o, "status-counts", rest_tasks_json(all, false));
	char *plan = job_graph_plan_json(job->jg);
	pthread_mutex_unlock(&jm->mu);
	json_t *pj = json_loads(plan, 0, NULL);
	xfree(plan);
	if (pj)
		json_object_set_new(
		    o, "plan",
		    json_incref(json_object_get(pj, "plan") ? json_object_get(pj, "plan") : pj));
	json_decref(pj);
	http_respond_json(resp, 200, o);
}

void rest_jobs_register(struct jobmanager *jm, struct http_server *s)
{
	http_server_route(s, "GET", "/jobs/:jobid", h_job, jm);
}
