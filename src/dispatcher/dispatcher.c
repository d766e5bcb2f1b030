/*
 * dispatcher.c - the Dispatcher: accepts job submissions over REST, stores the job's library
 * in the blob store, starts one JobMaster per job, keeps terminated jobs for `list`, and
 * serves the REST endpoints the CLI needs (Flink's paths and shapes):
 *
 *   POST  /jobs                         multipart: request (JSON), jobgraph, library
 *   GET   /jobs, /jobs/overview, /jobs/:jobid, /jobs/:jobid/status,
 *         /jobs/:jobid/execution-result, /overview, /taskmanagers, /config
 *   PATCH /jobs/:jobid?mode=cancel
 *
 * Handlers run on the HTTP server's threads and take jm->mu to read or change state.
 */
#include <elf.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "cluster/jobmanager.h"
#include "core/alloc.h"
#include "core/log.h"
#include "graph/graph_codec.h"
#include "rest/http_server.h"
#include "runtime/local_job.h"
#include "dispatcher/rest.h"

#define MAX_SUBMISSION (256u << 20)

struct jm_job *dispatcher_find(struct jobmanager *jm, const char *id)
{
	for (struct jm_job *j = jm->jobs; j; j = j->next)
		if (strcmp(j->id, id) == 0)
			return j;
	return NULL;
}

const struct http_part *rest_find_part(const struct http_request *req, const char *name)
{
	for (int i = 0; i < req->nparts; i++)
		if (strcmp(req->parts[i].name, name) == 0)
			return &req->parts[i];
	return NULL;
}

/* An ELF shared object for this machine's word size. */
bool rest_is_shared_library(const uint8_t *p, size_t n)
{
	if (n < sizeof(Elf64_Ehdr) || memcmp(p, ELFMAG, SELFMAG) != 0 || p[EI_CLASS] != ELFCLASS64)
		return false;
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)p;
	return eh->e_type == ET_DYN;
}

void rest_count_tasks(const struct jm_job *job, int counts[EXEC_STATE_COUNT], int first, int n)
{
	memset(counts, 0, sizeof(int) * EXEC_STATE_COUNT);
	for (int k = first; k < first + n && k < job->ntasks; k++)
		counts[job->tasks[k].state]++;
}

json_t *rest_tasks_json(const int counts[EXEC_STATE_COUNT], bool lower)
{
	json_t *o = json_object();
	for (int s = 0; s < EXEC_STATE_COUNT; s++) {
		char name[32];
		snprintf(name, sizeof name, "%s", execution_state_name((enum execution_state)s));
		if (lower)
			for (char *c = name; *c; c++)
				*c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
		json_object_set_new(o, name, json_integer(counts[s]));
	}
	return o;
}

int64_t rest_duration(int64_t start, int64_t end)
{
	if (start <= 0)
		return -1;
	return (end > 0 ? end : now_ms()) - start;
}

json_t *rest_job_overview_json(const struct jm_job *job)
{
	int counts[EXEC_STATE_COUNT];
	rest_count_tasks(job, counts, 0, job->ntasks);
	int64_t last = 0;
	for (int s = 0; s < JOB_STATUS_COUNT; s++)
		if (job->timestamps[s] > last)
			last = job->timestamps[s];
	json_t *tasks = rest_tasks_json(counts, true);
	json_object_set_new(tasks, "total", json_integer(job->ntasks));
	return json_pack(
	    "{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:o, s:s, s:s}", "jid", job->id, "name", job->name,
	    "state", job_status_name(job->status), "start-time", (json_int_t)job->start_ms,
	    "end-time", (json_int_t)(job->end_ms ? job->end_ms : -1), "duration",
	    (json_int_t)rest_duration(job->start_ms, job->end_ms), "last-modification",
	    (json_int_t)last, "tasks", tasks, "jobType", "STREAMING", "schedulerType", "Default");
}

static struct jobmanager *jm_of(void *arg)
{
	return arg;
}

/* ---- handlers ----------------------------------------------------------------------------- */

int dispatcher_submit(struct jobmanager *jm, const uint8_t *graph, size_t graph_len,
                      const uint8_t *lib, size_t lib_len, const char *job_id, char out_id[33],
                      struct spate_error *err)
{
	if (!rest_is_shared_library(lib, lib_len))
		return error_set(err, SPATE_EINVAL, "the job library is not an ELF shared library");
	struct jm_job *job = xcalloc(1, sizeof *job);
	job->sg = stream_graph_decode(graph, graph_len, err);
	if (!job->sg || job_graph_build(job->sg, &job->jg, err) < 0 ||
	    execution_graph_build(job->jg, &job->eg, err) < 0) {
		jm_job_free(job);
		return SPATE_EINVAL;
	}
	if (job_id && job_id[0])
		memcpy(job->jg->job_id, job_id, 33);
	memcpy(job->id, job->jg->job_id, 33);
	job->name = xstrdup(job->jg->job_name);
	job->graph = xmalloc(graph_len);
	memcpy(job->graph, graph, graph_len);
	job->graph_len = graph_len;
	job->ntasks = job->eg->nsubtasks;
	job->tasks = xcalloc((size_t)job->ntasks, sizeof *job->tasks);
	for (int k = 0; k < job->ntasks; k++)
		job->tasks[k].state_ms[EXEC_CREATED] = now_ms();
	job->nslots_needed = job_graph_slots_needed(job->jg);
	job->status = JOB_INITIALIZING;
	job->start_ms = now_ms();
	job->timestamps[JOB_INITIALIZING] = job->start_ms;
	if (blob_put(jm->blob_dir, lib, lib_len, job->blob_key, err) < 0) {
		jm_job_free(job);
		return SPATE_EIO;
	}
	job->blob_size = lib_len;

	pthread_mutex_lock(&jm->mu);
	if (dispatcher_find(jm, job->id)) {
		pthread_mutex_unlock(&jm->mu);
		error_set(err, SPATE_EEXIST, "job %s was already submitted", job->id);
		jm_job_free(job);
		return SPATE_EEXIST;
	}
	if (atomic_load(&jm->stopping)) {
		pthread_mutex_unlock(&jm->mu);
		error_set(err, SPATE_EBUSY, "the JobManager is shutting down");
		jm_job_free(job);
		return SPATE_EBUSY;
	}
	log_info("Received JobGraph submission '%s' (%s).", job->name, job->id);
	job->next = jm->jobs;
	jm->jobs = job;
	log_info("Submitting job '%s' (%s).", job->name, job->id);
	struct spate_error serr = {0};
	if (jobmaster_start(jm, job, &serr) < 0) {
		job->failure = xstrdup(serr.msg);
		job->status = JOB_FAILED;
		job->end_ms = now_ms();
	}
	memcpy(out_id, job->id, 33);
	pthread_mutex_unlock(&jm->mu);
	return 0;
}

int dispatcher_http_status(int rc)
{
	switch (rc) {
	case SPATE_EEXIST:
		return 409;
	case SPATE_EBUSY:
		return 503;
	case SPATE_EIO:
		return 500;
	default:
		return 400;
	}
}

static void h_submit(void *arg, const struct http_request *req, struct http_response *resp)
{
	struct jobmanager *jm = jm_of(arg);
	const struct http_part *reqp = rest_find_part(req, "request");
	const struct http_part *graph = rest_find_part(req, "jobgraph");
	const struct http_part *lib = rest_find_part(req, "library");
	if (!graph || !lib) {
		http_respond_error(resp, 400,
		                   "a job submission needs the multipart fields 'jobgraph' and "
		                   "'library' (and optionally 'request')");
		return;
	}
	char job_id[33] = "";
	if (reqp) {
		json_error_t je;
		json_t *r = json_loadb((const char *)reqp->data, reqp->len, 0, &je);
		if (!r || !json_is_object(r)) {
			json_decref(r);
			http_respond_error(resp, 400, "bad 'request' field: not a JSON object");
			return;
		}
		const char *id = json_string_value(json_object_get(r, "jobId"));
		if (id && !job_id_is_valid(id)) {
			json_decref(r);
			http_respond_error(resp, 400,
			                   "bad jobId: expected 32 lowercase hex characters");
			return;
		}
		if (id)
			snprintf(job_id, sizeof job_id, "%s", id);
		json_decref(r);
	}
	struct spate_error err = {0};
	char id[33];
	int rc =
	    dispatcher_submit(jm, graph->data, graph->len, lib->data, lib->len, job_id, id, &err);
	if (rc < 0) {
		http_respond_error(resp, dispatcher_http_status(rc), "%s", err.msg);
		return;
	}
	char url[64];
	snprintf(url, sizeof url, "/jobs/%s", id);
	http_respond_json(resp, 202, json_pack("{s:s}", "jobUrl", url));
}

static void h_jobs(void *arg, const struct http_request *req, struct http_response *resp)
{
	struct jobmanager *jm = jm_of(arg);
	json_t *arr = json_array();
	pthread_mutex_lock(&jm->mu);
	for (struct jm_job *j = jm->jobs; j; j = j->next)
		json_array_append_new(arr, json_pack("{s:s, s:s}", "id", j->id, "status",
		                                     job_status_name(j->status)));
	pthread_mutex_unlock(&jm->mu);
	http_respond_json(resp, 200, json_pack("{s:o}", "jobs", arr));
}

static void h_jobs_overview(void *arg, const struct http_request *req, struct http_response *resp)
{
	struct jobmanager *jm = jm_of(arg);
	json_t *arr = json_array();
	pthread_mutex_lock(&jm->mu);
	for (struct jm_job *j = jm->jobs; j; j = j->next)
		json_array_append_new(arr, rest_job_overview_json(j));
	pthread_mutex_unlock(&jm->mu);
	http_respond_json(resp, 200, json_pack("{s:o}", "jobs", arr));
}

/* Looks the job up; answers 404 (or 400 for a malformed id) and returns NULL if absent.
 * On success returns with jm->mu held. */
struct jm_job *rest_job_param(struct jobmanager *jm, const struct http_request *req,
                              struct http_response *resp)
{
	const char *id = req->nparams > 0 ? req->params[0] : "";
	if (!job_id_is_valid(id)) {
		http_respond_error(resp, 400,
		                   "bad job id '%s': expected 32 lowercase hex characters", id);
		return NULL;
	}
	pthread_mutex_lock(&jm->mu);
	struct jm_job *job = dispatcher_find(jm, id);
	if (!job) {
		pthread_mutex_unlock(&jm->mu);
		http_respond_error(resp, 404, "Job %s not found", id);
	}
	return job;
}

static void h_job_status(void *arg, const struct http_request *req, struct http_response *resp)
{
	struct jobmanager *jm = jm_of(arg);
	struct jm_job *job = rest_job_param(jm, req, resp);
	if (!job)
		return;
	json_t *o = json_pack("{s:s}", "status", job_status_name(job->status));
	pthread_mutex_unlock(&jm->mu);
	http_respond_json(resp, 200, o);
}

static void h_job_result(void *arg, const struct http_request *req, struct http_response *resp)
{
	struct jobmanager *jm = jm_of(arg);
	struct jm_job *job = rest_job_param(jm, req, resp);
	if (!job)
		return;
	json_t *o;
	if (!job_status_is_globally_terminal(job->status)) {
		o = json_pack("{s:{s:s}}", "status", "id", "IN_PROGRESS");
	} else {
		json_t *r =
		    json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:b, s:{}}", "jobId", job->id,
		              "jobName", job->name, "jobStatus", job_status_name(job->status),
		              "netRuntime", (json_int_t)(job->end_ms - job->start_ms), "startTime",
		              (json_int_t)job->start_ms, "endTime", (json_int_t)job->end_ms,
		              "success", job->status == JOB_FINISHED, "accumulatorResults");
		if (job->failure)
			json_object_set_new(r, "failure-cause",
			                    json_pack("{s:s, s:s}", "class",
			                              "org.apache.flink.runtime.JobException",
			                              "stack-trace", job->failure));
		o = json_pack("{s:{s:s}, s:o}", "status", "id", "COMPLETED", "job-execution-result",
		              r);
	}
	pthread_mutex_unlock(&jm->mu);
	http_respond_json(resp, 200, o);
}

static void h_job_patch(void *arg, const struct http_request *req, struct http_response *resp)
{
	struct jobmanager *jm = jm_of(arg);
	const char *mode = http_query(req, "mode");
	if (mode && strcmp(mode, "cancel") != 0) {
		http_respond_error(resp, 400, "bad mode '%s': only 'cancel' is supported", mode);
		return;
	}
	if (!config_get_bool(jm->config, "web.cancel.enable", true)) {
		http_respond_error(resp, 403, "cancelling jobs is disabled (web.cancel.enable)");
		return;
	}
	struct jm_job *job = rest_job_param(jm, req, resp);
	if (!job)
		return;
	log_info("Cancelling job %s.", job->id);
	jobmaster_cancel(jm, job);
	pthread_mutex_unlock(&jm->mu);
	http_respond_json(resp, 202, json_object());
}

static void h_overview(void *arg, const struct http_request *req, struct http_response *resp)
{
	struct jobmanager *jm = jm_of(arg);
	int running = 0, finished = 0, canceled = 0, failed = 0;
	pthread_mutex_lock(&jm->mu);
	for (struct jm_job *j = jm->jobs; j; j = j->next) {
		if (j->status == JOB_FINISHED)
			finished++;
		else if (j->status == JOB_CANCELED)
			canceled++;
		else if (j->status == JOB_FAILED)
			failed++;
		else
			running++;
	}
	json_t *o = json_pack("{s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:s, s:s}",
	                      "taskmanagers", rm_count_tms(jm), "slots-total", rm_total_slots(jm),
	                      "slots-available", rm_free_slots(jm), "slots-free-and-blocked", 0,
	                      "taskmanagers-blocked", 0, "jobs-running", running, "jobs-finished",
	                      finished, "jobs-cancelled", canceled, "jobs-failed", failed,
	                      "flink-version", SPATE_VERSION_STRING, "flink-commit", "");
	pthread_mutex_unlock(&jm->mu);
	http_respond_json(resp, 200, o);
}

static void h_config(void *arg, const struct http_request *req, struct http_response *resp)
{
	struct jobmanager *jm = jm_of(arg);
	json_t *o =
	    json_pack("{s:I, s:s, s:i, s:s, s:s, s:{s:b, s:b, s:b, s:b}}", "refresh-interval",
	              (json_int_t)config_get_int(jm->config, "web.refresh-interval", 3000),
	              "timezone-name", "Coordinated Universal Time", "timezone-offset", 0,
	              "flink-version", SPATE_VERSION_STRING, "flink-revision", "", "features",
	              "web-submit", config_get_bool(jm->config, "web.submit.enable", true),
	              "web-cancel", config_get_bool(jm->config, "web.cancel.enable", true),
	              "web-rescale", false, "web-history", false);
	http_respond_json(resp, 200, o);
}

int dispatcher_start(struct jobmanager *jm, struct spate_error *err)
{
	const char *addr = config_get(jm->config, "rest.bind-address");
	if (!addr)
		addr = config_get(jm->config, "rest.address");
	if (!addr)
		addr = "localhost";
	int port = (int)config_get_int(jm->config, "rest.port", 8081);
	const char *bp = config_get(jm->config, "rest.bind-port");
	if (bp)
		port = atoi(bp);
	jm->rest = http_server_new(addr, port, MAX_SUBMISSION);
	http_server_set_auth_token(jm->rest, config_get(jm->config, "rest.auth.token"));
	http_server_route(jm->rest, "POST", "/jobs", h_submit, jm);
	http_server_route(jm->rest, "GET", "/jobs", h_jobs, jm);
	http_server_route(jm->rest, "GET", "/jobs/overview", h_jobs_overview, jm);
	http_server_route(jm->rest, "PATCH", "/jobs/:jobid", h_job_patch, jm);
	http_server_route(jm->rest, "GET", "/jobs/:jobid/status", h_job_status, jm);
	http_server_route(jm->rest, "GET", "/jobs/:jobid/execution-result", h_job_result, jm);
	http_server_route(jm->rest, "GET", "/overview", h_overview, jm);
	http_server_route(jm->rest, "GET", "/config", h_config, jm);
	rest_jobs_register(jm, jm->rest);
	rest_cluster_register(jm, jm->rest);
	rest_jars_register(jm, jm->rest);
	rest_web_register(jm, jm->rest);
	rest_logs_register(jm, jm->rest);
	return http_server_start(jm->rest, err); /* logs "Rest endpoint listening at ..." */
}

void dispatcher_stop(struct jobmanager *jm)
{
	http_server_free(jm->rest);
	jm->rest = NULL;
}
