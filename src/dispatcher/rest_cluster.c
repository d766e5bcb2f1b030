/*
 * rest_cluster.c - REST endpoints about the cluster's processes (Flink's paths and shapes):
 *
 *   GET /jobmanager/config               [{key, value}], secrets masked
 *   GET /jobmanager/metrics[?get=a,b]    the JobManager's metrics
 *   GET /taskmanagers                    every registered TaskManager
 *   GET /taskmanagers/:tmid              one, with its slots and the subtasks in them
 *   GET /taskmanagers/:tmid/metrics[?get=a,b]
 *   GET /taskmanagers/:tmid/logs         {logs: [{name, size}]} (asked of the TaskManager)
 *   GET /taskmanagers/:tmid/logs/:name   the tail of one file, text
 *   GET /taskmanagers/:tmid/log, /stdout its own .log and .out files
 *   GET /metrics                         the JobManager's metrics and its running jobs'
 *                                        (checkpoints, restarts) as Prometheus text
 *
 * TaskManager metrics are the latest MetricReport each TaskManager pushed; log files are
 * read by the TaskManager itself (a LogRequest over its RPC connection), since it may run
 * on another host.
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "cluster/cluster.h"
#include "core/alloc.h"
#include "dispatcher/rest.h"
#include "runtime/local_job.h"

#define LOG_TAIL_BYTES (8 << 20) /* the most of one log file sent */
#define LOG_TIMEOUT_MS 5000

/* ---- metric lists (Flink's /metrics?get= protocol) ------------------------------------------ */

json_t *rest_metric_list_json(const struct rest_metric *m, int n, const char *get)
{
	json_t *arr = json_array();
	if (!get) {
		for (int i = 0; i < n; i++)
			json_array_append_new(arr, json_pack("{s:s}", "id", m[i].id));
		return arr;
	}
	char **names;
	int nget = rest_split_list(get, &names);
	for (int g = 0; g < nget; g++)
		for (int i = 0; i < n; i++) {
			if (strcmp(names[g], m[i].id) != 0)
				continue;
			char v[64];
			if (m[i].real)
				rest_java_number(v, sizeof v, m[i].value, false);
			else
				snprintf(v, sizeof v, "%lld", (long long)m[i].value);
			json_array_append_new(arr,
			                      json_pack("{s:s, s:s}", "id", m[i].id, "value", v));
			break;
		}
	rest_free_list(names, nget);
	return arr;
}

/* ---- the JobManager ---------------------------------------------------------------------- */

static bool is_sensitive(const char *key)
{
	static const char *const words[] = {"password",   "secret",      "token",
	                                    "apikey",     "auth-params", "service-key",
	                                    "basic-auth", "jaas.config"};
	char lower[256];
	size_t i = 0;
	for (; key[i] && i < sizeof lower - 1; i++)
		lower[i] = (char)(key[i] >= 'A' && key[i] <= 'Z' ? key[i] + 32 : key[i]);
	lower[i] = '\0';
	for (size_t w = 0; w < sizeof words / sizeof *words; w++)
		if (strstr(lower, words[w]))
			return true;
	return false;
}

static void add_config_entry(void *arg, const char *key, const char *value)
{
	json_array_append_new(arg, json_pack("{s:s, s:s}", "key", key, "value",
	                                     is_sensitive(key) ? "******" : value));
}

json_t *rest_config_entries_json(const struct config *c)
{
	json_t *arr = json_array();
	config_foreach(c, add_config_entry, arr);
	return arr;
}

static void h_jm_config(void *arg, const struct http_request *req, struct http_response *resp)
{
	struct jobmanager *jm = arg;
	(void)req;
	http_respond_json(resp, 200, rest_config_entries_json(jm->config));
}

enum { JM_METRICS = 11 };

/* The JobManager's metrics, and its jobs by status (by may be NULL); takes jm->mu. */
static void jm_metrics(struct jobmanager *jm, struct rest_metric m[JM_METRICS],
                       int by_status[JOB_STATUS_COUNT])
{
	struct proc_sample now;
	proc_sample_read(&now);
	int by[JOB_STATUS_COUNT] = {0};
	pthread_mutex_lock(&jm->mu);
	double load = proc_cpu_load(&jm->last_sample, &now);
	if (now.wall_ns - jm->last_sample.wall_ns >= 1000000000 || !jm->last_sample.wall_ns)
		jm->last_sample = now; /* load over at least the last second */
	for (struct jm_job *j = jm->jobs; j; j = j->next)
		by[j->status]++;
	int running = 0;
	for (int s = 0; s < JOB_STATUS_COUNT; s++)
		if (!job_status_is_globally_terminal((enum job_status)s))
			running += by[s];
	int tms = rm_count_tms(jm), total = rm_total_slots(jm), avail = rm_free_slots(jm);
	pthread_mutex_unlock(&jm->mu);
	if (by_status)
		memcpy(by_status, by, sizeof by);
	int i = 0;
	m[i++] = (struct rest_metric){"numRegisteredTaskManagers", tms, false};
	m[i++] = (struct rest_metric){"taskSlotsTotal", total, false};
	m[i++] = (struct rest_metric){"taskSlotsAvailable", avail, false};
	m[i++] = (struct rest_metric){"numRunningJobs", running, false};
	m[i++] = (struct rest_metric){"numFinishedJobs", by[JOB_FINISHED], false};
	m[i++] = (struct rest_metric){"numCanceledJobs", by[JOB_CANCELED], false};
	m[i++] = (struct rest_metric){"numFailedJobs", by[JOB_FAILED], false};
	m[i++] = (struct rest_metric){"Status.CPU.Load", load, true};
	m[i++] = (struct rest_metric){"Status.CPU.Time", (double)(now.cpu_ns / 1000000), false};
	m[i++] = (struct rest_metric){"Status.Memory.RSS", (double)now.rss_bytes, false};
	m[i++] = (struct rest_metric){"Status.Hardware.CpuCores", now.cpu_cores, false};
}

static void h_jm_metrics(void *arg, const struct http_request *req, struct http_response *resp)
{
	struct rest_metric m[JM_METRICS];
	jm_metrics(arg, m, NULL);
	http_respond_json(resp, 200, rest_metric_list_json(m, JM_METRICS, http_query(req, "get")));
}

/* What each job metric is, for # HELP; in rest_job_metrics' order. */
static const struct {
	const char *type, *help;
} job_metric_help[REST_JOB_METRICS] = {
    {"gauge", "Restarts of the job since it was submitted"},
    {"gauge", "Checkpoints triggered (completed, failed and in progress)"},
    {"gauge", "Checkpoints in progress"},
    {"gauge", "Checkpoints completed"},
    {"gauge", "Checkpoints failed"},
    {"gauge", "Milliseconds from trigger to last acknowledgement of the latest completed "
              "checkpoint (-1: none yet)"},
    {"gauge", "Bytes the latest completed checkpoint wrote (-1: none yet)"},
    {"gauge", "Bytes of state the latest completed checkpoint holds (-1: none yet)"},
    {"gauge", "Longest barrier alignment, in milliseconds, of the latest completed checkpoint "
              "(-1: none yet)"},
    {"gauge", "When the job last restored from a checkpoint or savepoint, epoch milliseconds "
              "(-1: never)"},
};

/* The metrics of the jobs that are not globally terminal (Flink drops a job's metric group
 * when the job ends), as spate_jobmanager_job_<name>{job_id,job_name}. Caller holds mu. */
static void prom_jobs(struct prom_buf *b, struct jobmanager *jm)
{
	int njobs = 0;
	for (struct jm_job *j = jm->jobs; j; j = j->next)
		njobs += !job_status_is_globally_terminal(j->status);
	if (njobs == 0)
		return;
	struct rest_metric(*m)[REST_JOB_METRICS] = xcalloc((size_t)njobs, sizeof *m);
	struct jm_job **jobs = xcalloc((size_t)njobs, sizeof *jobs);
	int n = 0;
	for (struct jm_job *j = jm->jobs; j; j = j->next)
		if (!job_status_is_globally_terminal(j->status)) {
			jobs[n] = j;
			rest_job_metrics(j, m[n++]);
		}
	for (int k = 0; k < REST_JOB_METRICS; k++) {
		char name[128];
		snprintf(name, sizeof name, "spate_jobmanager_job_%s", m[0][k].id);
		prom_family(b, name, job_metric_help[k].type, job_metric_help[k].help);
		for (int i = 0; i < n; i++) {
			const char *l[] = {"job_id", jobs[i]->id, "job_name", jobs[i]->name, NULL};
			prom_sample(b, name, l, m[i][k].value);
		}
	}
	xfree(m);
	xfree(jobs);
}

/* GET /metrics: Prometheus text. Names follow Flink's reporter: scope and metric joined
 * with '_', prefixed with "spate_". */
static void h_prometheus(void *arg, const struct http_request *req, struct http_response *resp)
{
	struct jobmanager *jm = arg;
	(void)req;
	struct rest_metric m[JM_METRICS];
	int by[JOB_STATUS_COUNT];
	jm_metrics(jm, m, by);
	struct prom_buf b = {0};
	for (int i = 0; i < JM_METRICS; i++) {
		char name[128];
		snprintf(name, sizeof name, "spate_jobmanager_%s", m[i].id);
		for (char *c = name; *c; c++)
			if (*c == '.')
				*c = '_';
		bool counter = strcmp(m[i].id, "Status.CPU.Time") == 0;
		prom_family(&b, name, counter ? "counter" : "gauge", m[i].id);
		prom_sample(&b, name, NULL, m[i].value);
	}
	/* jobs by state, and per-TaskManager liveness as the JobManager sees it */
	prom_family(&b, "spate_jobmanager_jobs", "gauge", "Jobs by status");
	for (int s = 0; s < JOB_STATUS_COUNT; s++) {
		const char *l[] = {"status", job_status_name((enum job_status)s), NULL};
		prom_sample(&b, "spate_jobmanager_jobs", l, by[s]);
	}
	prom_family(&b, "spate_jobmanager_taskmanager_timeSinceLastHeartbeat", "gauge",
	            "Milliseconds since the TaskManager was last heard from");
	pthread_mutex_lock(&jm->mu);
	int64_t now = now_ms();
	for (struct tm_entry *tm = jm->tms; tm; tm = tm->next) {
		const char *l[] = {"tm_id", tm->resource_id, NULL};
		prom_sample(&b, "spate_jobmanager_taskmanager_timeSinceLastHeartbeat", l,
		            (double)(now - tm->last_heartbeat_ms));
	}
	prom_jobs(&b, jm);
	pthread_mutex_unlock(&jm->mu);
	resp->status = 200;
	resp->body = b.data ? b.data : xstrdup("");
	resp->body_len = b.len;
	resp->content_type = PROMETHEUS_CONTENT_TYPE;
}

/* ---- TaskManagers ------------------------------------------------------------------------ */

static int free_slots(const struct tm_entry *tm)
{
	int n = 0;
	for (int s = 0; s < tm->nslots; s++)
		n += tm->slot_job[s] == NULL;
	return n;
}

static json_t *resource_json(int cores)
{
	return json_pack("{s:f, s:i, s:i, s:i, s:i, s:{}}", "cpuCores", (double)cores,
	                 "taskHeapMemory", 0, "taskOffHeapMemory", 0, "managedMemory", 0,
	                 "networkMemory", 0, "extendedResources");
}

/* The /taskmanagers entry of tm. Caller holds mu. */
static json_t *tm_json(const struct tm_entry *tm)
{
	char path[128];
	snprintf(path, sizeof path, "tcp://%s:%d", tm->host, tm->data_port);
	const struct tm_metrics *m = &tm->metrics;
	int nfree = free_slots(tm);
	return json_pack(
	    "{s:s, s:s, s:i, s:i, s:I, s:i, s:i, s:o, s:o, s:{s:i, s:I, s:I, s:I}, s:{s:I, s:I}, "
	    "s:b, s:i}",
	    "id", tm->resource_id, "path", path, "dataPort", tm->data_port, "jmxPort", -1,
	    "timeSinceLastHeartbeat", (json_int_t)(now_ms() - tm->last_heartbeat_ms), "slotsNumber",
	    tm->nslots, "freeSlots", nfree, "totalResource", resource_json(tm->nslots),
	    "freeResource", resource_json(nfree), "hardware", "cpuCores", m->cpu_cores,
	    "physicalMemory", (json_int_t)m->physical_memory, "freeMemory",
	    (json_int_t)m->free_memory, "managedMemory", (json_int_t)0, "memoryConfiguration",
	    "networkMemory", (json_int_t)(m->net_buffers_total * 32768), "totalProcessMemory",
	    (json_int_t)m->rss_bytes, "blocked", false, "prometheusPort", m->prometheus_port);
}

static void h_tms(void *arg, const struct http_request *req, struct http_response *resp)
{
	struct jobmanager *jm = arg;
	(void)req;
	json_t *arr = json_array();
	pthread_mutex_lock(&jm->mu);
	for (struct tm_entry *tm = jm->tms; tm; tm = tm->next)
		json_array_append_new(arr, tm_json(tm));
	pthread_mutex_unlock(&jm->mu);
	http_respond_json(resp, 200, json_pack("{s:o}", "taskmanagers", arr));
}

/* The registered TaskManager named by the first :param, with mu held; or answers 404. */
static struct tm_entry *tm_param(struct jobmanager *jm, const struct http_request *req,
                                 struct http_response *resp)
{
	const char *id = req->nparams > 0 ? req->params[0] : "";
	pthread_mutex_lock(&jm->mu);
	for (struct tm_entry *tm = jm->tms; tm; tm = tm->next)
		if (strcmp(tm->resource_id, id) == 0)
			return tm;
	pthread_mutex_unlock(&jm->mu);
	http_respond_error(resp, 404, "TaskManager %s not found", id);
	return NULL;
}

enum { TM_METRICS = 10 };

static void tm_metric_values(const struct tm_entry *tm, struct rest_metric m[TM_METRICS])
{
	const struct tm_metrics *x = &tm->metrics;
	int i = 0;
	m[i++] = (struct rest_metric){"Status.CPU.Load", x->cpu_load, true};
	m[i++] = (struct rest_metric){"Status.CPU.Time", (double)x->cpu_time_ms, false};
	m[i++] = (struct rest_metric){"Status.Memory.RSS", (double)x->rss_bytes, false};
	m[i++] = (struct rest_metric){"Status.Hardware.CpuCores", x->cpu_cores, false};
	m[i++] = (struct rest_metric){"Status.Hardware.PhysicalMemory", (double)x->physical_memory,
	                              false};
	m[i++] = (struct rest_metric){"Status.Hardware.FreeMemory", (double)x->free_memory, false};
	m[i++] = (struct rest_metric){"Status.Shuffle.Netty.TotalMemorySegments",
	                              (double)x->net_buffers_total, false};
	m[i++] = (struct rest_metric){"Status.Shuffle.Netty.AvailableMemorySegments",
	                              (double)x->net_buffers_available, false};
	m[i++] = (struct rest_metric){"Status.Slots.Total", tm->nslots, false};
	m[i++] = (struct rest_metric){"Status.Slots.Free", free_slots(tm), false};
}

static void h_tm(void *arg, const struct http_request *req, struct http_response *resp)
{
	struct jobmanager *jm = arg;
	struct tm_entry *tm = tm_param(jm, req, resp);
	if (!tm)
		return;
	json_t *o = tm_json(tm);
	/* slots: which job holds each, and which of its subtasks run in it */
	json_t *slots = json_array();
	for (int s = 0; s < tm->nslots; s++) {
		struct jm_job *job = tm->slot_job[s];
		json_t *tasks = json_array();
		if (job) {
			int k = 0;
			for (int v = 0; v < job->jg->nvertices; v++) {
				struct job_vertex *jv = job->jg->vertices[v];
				for (int i = 0; i < jv->parallelism; i++, k++)
					if (job->tasks[k].tm == tm && job->tasks[k].slot == s)
						json_array_append_new(
						    tasks,
						    json_pack(
						        "{s:s, s:s, s:i, s:s}", "vertexId", jv->id,
						        "vertexName", jv->name, "subtask", i,
						        "status",
						        execution_state_name(job->tasks[k].state)));
			}
		}
		json_array_append_new(slots, json_pack("{s:i, s:o, s:o, s:o}", "index", s, "jobId",
		                                       job ? json_string(job->id) : json_null(),
		                                       "resource", resource_json(1),
		                                       "assignedTasks", tasks));
	}
	json_object_set_new(o, "allocatedSlots", slots);
	struct rest_metric m[TM_METRICS];
	tm_metric_values(tm, m);
	json_t *metrics = json_object();
	json_object_set_new(metrics, "cpuLoad", json_real(tm->metrics.cpu_load));
	json_object_set_new(metrics, "rss", json_integer(tm->metrics.rss_bytes));
	json_object_set_new(metrics, "networkBuffersTotal",
	                    json_integer(tm->metrics.net_buffers_total));
	json_object_set_new(metrics, "networkBuffersAvailable",
	                    json_integer(tm->metrics.net_buffers_available));
	json_object_set_new(metrics, "updated", json_integer(tm->metrics.updated_ms));
	json_object_set_new(o, "metrics", metrics);
	pthread_mutex_unlock(&jm->mu);
	http_respond_json(resp, 200, o);
}

static void h_tm_metrics(void *arg, const struct http_request *req, struct http_response *resp)
{
	struct jobmanager *jm = arg;
	struct tm_entry *tm = tm_param(jm, req, resp);
	if (!tm)
		return;
	struct rest_metric m[TM_METRICS];
	tm_metric_values(tm, m);
	pthread_mutex_unlock(&jm->mu);
	http_respond_json(resp, 200, rest_metric_list_json(m, TM_METRICS, http_query(req, "get")));
}

/* Asks the TaskManager for a listing or a file and answers with it. */
static void tm_log(struct jobmanager *jm, const struct http_request *req,
                   struct http_response *resp, const char *name, const char *special)
{
	const char *id = req->params[0];
	if (name && !cluster_log_name_ok(name)) {
		http_respond_error(resp, 400, "bad log file name: a plain file name is expected");
		return;
	}
	struct log_result r;
	int rc = rm_fetch_log(jm, id, name, special, LOG_TAIL_BYTES, LOG_TIMEOUT_MS, &r);
	if (rc == SPATE_ENOENT) {
		http_respond_error(resp, 404, "TaskManager %s not found", id);
		return;
	}
	if (rc < 0) {
		http_respond_error(resp, 503, "TaskManager %s did not answer in time", id);
		return;
	}
	if (r.error) {
		http_respond_error(resp, 404, "%s", r.error);
	} else if (!name && !special) {
		json_t *arr = json_array();
		for (int i = 0; i < r.nfiles; i++)
			json_array_append_new(
			    arr, json_pack("{s:s, s:I, s:I}", "name", r.files[i].name, "size",
			                   (json_int_t)r.files[i].size, "mtime", (json_int_t)-1));
		http_respond_json(resp, 200, json_pack("{s:o}", "logs", arr));
	} else {
		resp->status = 200;
		resp->body = (char *)r.data;
		resp->body_len = r.len;
		resp->content_type = "text/plain; charset=UTF-8";
		r.data = NULL;
		if (!resp->body)
			resp->body = xstrdup("");
	}
	log_result_free(&r);
}

static void h_tm_logs(void *arg, const struct http_request *req, struct http_response *resp)
{
	tm_log(arg, req, resp, NULL, NULL);
}

static void h_tm_log_file(void *arg, const struct http_request *req, struct http_response *resp)
{
	tm_log(arg, req, resp, req->params[1], NULL);
}

static void h_tm_log(void *arg, const struct http_request *req, struct http_response *resp)
{
	tm_log(arg, req, resp, NULL, "log");
}

static void h_tm_stdout(void *arg, const struct http_request *req, struct http_response *resp)
{
	tm_log(arg, req, resp, NULL, "stdout");
}

void rest_cluster_register(struct jobmanager *jm, struct http_server *s)
{
	http_server_route(s, "GET", "/jobmanager/config", h_jm_config, jm);
	http_server_route(s, "GET", "/jobmanager/metrics", h_jm_metrics, jm);
	http_server_route(s, "GET", "/metrics", h_prometheus, jm);
	http_server_route(s, "GET", "/taskmanagers", h_tms, jm);
	http_server_route(s, "GET", "/taskmanagers/:taskmanagerid", h_tm, jm);
	http_server_route(s, "GET", "/taskmanagers/:taskmanagerid/metrics", h_tm_metrics, jm);
	http_server_route(s, "GET", "/taskmanagers/:taskmanagerid/logs", h_tm_logs, jm);
	http_server_route(s, "GET", "/taskmanagers/:taskmanagerid/logs/:name", h_tm_log_file, jm);
	http_server_route(s, "GET", "/taskmanagers/:taskmanagerid/log", h_tm_log, jm);
	http_server_route(s, "GET", "/taskmanagers/:taskmanagerid/stdout", h_tm_stdout, jm);
}
