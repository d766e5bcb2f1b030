/*
 * cluster_client.c - `spate run|list|cancel` against a session cluster (see
 * cluster_client.h). Attached mode polls the job's status and prints each change it sees,
 * then Flink's closing lines; polling is what Flink's client does too.
 */
#include "client/cluster_client.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client/http_client.h"
#include "cluster/cluster.h"
#include "core/alloc.h"
#include "graph/graph_codec.h"
#include "graph/status.h"
#include "runtime/local_job.h"

int cluster_client_address(const struct config *c, const char *m_option, char *out, size_t cap)
{
	if (m_option) {
		snprintf(out, cap, "%s", m_option);
		return 0;
	}
	return cluster_read_address(c, "rest", out, cap);
}

static uint8_t *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	uint8_t *buf = NULL;
	size_t cap = 0, n = 0;
	for (;;) {
		if (n == cap) {
			cap = cap ? cap * 2 : 1 << 20;
			buf = xrealloc(buf, cap);
		}
		size_t r = fread(buf + n, 1, cap - n, f);
		n += r;
		if (r == 0)
			break;
	}
	bool bad = ferror(f);
	fclose(f);
	if (bad) {
		xfree(buf);
		return NULL;
	}
	*len = n;
	return buf;
}

/* GETs path and parses JSON; NULL with err on failure (HTTP errors included). */
static json_t *get_json(const char *address, const char *path, struct spate_error *err)
{
	struct http_result r = {0};
	if (http_call(address, "GET", path, NULL, &r, err) < 0)
		return NULL;
	json_t *o = NULL;
	if (r.status != 200) {
		char buf[512];
		error_set(err, SPATE_EIO, "GET %s at %s answered %ld: %s", path, address, r.status,
		          http_error_text(&r, buf, sizeof buf));
	} else if (!(o = json_loads(r.body, 0, NULL))) {
		error_set(err, SPATE_EIO, "GET %s at %s: the answer is not JSON", path, address);
	}
	http_result_release(&r);
	return o;
}

int cluster_client_submit(const char *address, struct job_graph *jg, const char *lib_path,
                          bool detached, spate_result *res, struct spate_error *err)
{
	size_t lib_len = 0;
	uint8_t *lib = read_all(lib_path, &lib_len);
	if (!lib)
		return error_set(err, SPATE_EIO, "cannot read job library '%s'", lib_path);
	size_t glen = 0;
	uint8_t *graph = stream_graph_encode(jg->stream_graph, &glen);
	char request[128];
	snprintf(request, sizeof request, "{\"jobId\":\"%s\"}", jg->job_id);
	const char *base = strrchr(lib_path, '/') ? strrchr(lib_path, '/') + 1 : lib_path;
	struct http_upload parts[] = {
	    {.name = "request",
	     .data = request,
	     .len = strlen(request),
	     .content_type = "application/json"},
	    {.name = "jobgraph",
	     .filename = "job.graph",
	     .data = graph,
	     .len = glen,
	     .content_type = "application/octet-stream"},
	    {.name = "library",
	     .filename = base,
	     .data = lib,
	     .len = lib_len,
	     .content_type = "application/octet-stream"},
	};
	struct http_result r = {0};
	int rc = http_post_multipart(address, "/jobs", parts, 3, &r, err);
	xfree(lib);
	xfree(graph);
	if (rc < 0)
		return rc;
	if (r.status != 202) {
		char buf[512];
		rc = error_set(err, SPATE_EIO, "the JobManager at %s refused the job (%ld): %s",
		               address, r.status, http_error_text(&r, buf, sizeof buf));
		http_result_release(&r);
		return rc;
	}
	http_result_release(&r);
	printf("Job has been submitted with JobID %s\n", jg->job_id);
	fflush(stdout);
	if (detached)
		return 0;

	char path[128];
	snprintf(path, sizeof path, "/jobs/%s/execution-result", jg->job_id);
	char spath[128];
	snprintf(spath, sizeof spath, "/jobs/%s/status", jg->job_id);
	char last[32] = "INITIALIZING";
	for (;;) {
		json_t *st = get_json(address, spath, err);
		if (!st)
			return SPATE_EIO;
		const char *s = json_string_value(json_object_get(st, "status"));
		if (s && strcmp(s, last) != 0) {
			printf("Job %s (%s) switched from state %s to %s.\n", jg->job_name,
			       jg->job_id, last, s);
			fflush(stdout);
			snprintf(last, sizeof last, "%s", s);
		}
		bool terminal = s && job_status_is_globally_terminal(job_status_parse(s));
		json_decref(st);
		if (terminal)
			break;
		sleep_ms(20);
	}
	json_t *o = get_json(address, path, err);
	if (!o)
		return SPATE_EIO;
	json_t *jr = json_object_get(o, "job-execution-result");
	const char *status = json_string_value(json_object_get(jr, "jobStatus"));
	res->runtime_ms = json_integer_value(json_object_get(jr, "netRuntime"));
	const char *cause =
	    json_string_value(json_object_get(json_object_get(jr, "failure-cause"), "stack-trace"));
	if (status && strcmp(status, "FINISHED") == 0)
		rc = 0;
	else if (status && strcmp(status, "CANCELED") == 0)
		rc = error_set(err, SPATE_ECANCELED, "job was canceled");
	else
		rc = error_set(err, SPATE_EJOBFAIL, "%s", cause ? cause : "job failed");
	json_decref(o);
	return rc;
}

static void print_job_line(json_t *j)
{
	time_t t = (time_t)(json_integer_value(json_object_get(j, "start-time")) / 1000);
	struct tm tm;
	localtime_r(&t, &tm);
	char when[32];
	strftime(when, sizeof when, "%d.%m.%Y %H:%M:%S", &tm);
	printf("%s : %s : %s (%s)\n", when, json_string_value(json_object_get(j, "jid")),
	       json_string_value(json_object_get(j, "name")),
	       json_string_value(json_object_get(j, "state")));
}

static int by_start(const void *a, const void *b)
{
	json_int_t x = json_integer_value(json_object_get(*(json_t *const *)a, "start-time"));
	json_int_t y = json_integer_value(json_object_get(*(json_t *const *)b, "start-time"));
	return x < y ? -1 : x > y;
}

static const char *const DASHES = "--------------------------------------------------------------";

int cluster_client_list(const char *address, int which, struct spate_error *err)
{
	printf("Waiting for response...\n");
	fflush(stdout);
	json_t *o = get_json(address, "/jobs/overview", err);
	if (!o)
		return SPATE_EIO;
	json_t *jobs = json_object_get(o, "jobs");
	size_t n = json_array_size(jobs);
	json_t **running = xcalloc(n + 1, sizeof *running),
	       **scheduled = xcalloc(n + 1, sizeof *running),
	       **terminated = xcalloc(n + 1, sizeof *running);
	size_t nr = 0, ns = 0, nt = 0;
	for (size_t i = 0; i < n; i++) {
		json_t *j = json_array_get(jobs, i);
		int s = job_status_parse(json_string_value(json_object_get(j, "state")));
		if (s == JOB_CREATED || s == JOB_INITIALIZING)
			scheduled[ns++] = j;
		else if (s >= 0 && job_status_is_globally_terminal((enum job_status)s))
			terminated[nt++] = j;
		else
			running[nr++] = j;
	}
	qsort(running, nr, sizeof *running, by_start);
	qsort(scheduled, ns, sizeof *scheduled, by_start);
	qsort(terminated, nt, sizeof *terminated, by_start);
	if (which & (LIST_RUNNING | LIST_ALL)) {
		if (nr == 0) {
			printf("No running jobs.\n");
		} else {
			printf("------------------ Running/Restarting Jobs -------------------\n");
			for (size_t i = 0; i < nr; i++)
				print_job_line(running[i]);
			printf("%s\n", DASHES);
		}
	}
	if (which & (LIST_SCHEDULED | LIST_ALL)) {
		if (ns == 0) {
			printf("No scheduled jobs.\n");
		} else {
			printf("----------------------- Scheduled Jobs -----------------------\n");
			for (size_t i = 0; i < ns; i++)
				print_job_line(scheduled[i]);
			printf("%s\n", DASHES);
		}
	}
	if ((which & LIST_ALL) && nt > 0) {
		printf("---------------------- Terminated Jobs -----------------------\n");
		for (size_t i = 0; i < nt; i++)
			print_job_line(terminated[i]);
		printf("%s\n", DASHES);
	}
	fflush(stdout);
	xfree(running);
	xfree(scheduled);
	xfree(terminated);
	json_decref(o);
	return 0;
}

int cluster_client_cancel(const char *address, const char *job_id, struct spate_error *err)
{
	printf("Cancelling job %s.\n", job_id);
	fflush(stdout);
	char path[128];
	snprintf(path, sizeof path, "/jobs/%s?mode=cancel", job_id);
	struct http_result r = {0};
	int rc = http_call(address, "PATCH", path, NULL, &r, err);
	if (rc < 0)
		return rc;
	if (r.status != 202) {
		char buf[512];
		rc = error_set(err, SPATE_EIO, "cannot cancel job %s: %s", job_id,
		               http_error_text(&r, buf, sizeof buf));
		http_result_release(&r);
		return rc;
	}
	http_result_release(&r);
	snprintf(path, sizeof path, "/jobs/%s/status", job_id);
	int64_t deadline = now_ms() + 60000;
	for (;;) {
		json_t *o = get_json(address, path, err);
		if (!o)
			return SPATE_EIO;
		int s = job_status_parse(json_string_value(json_object_get(o, "status")));
		json_decref(o);
		if (s >= 0 && job_status_is_globally_terminal((enum job_status)s))
			break;
		if (now_ms() > deadline)
			return error_set(err, SPATE_EIO, "job %s did not stop within 60 s", job_id);
		sleep_ms(20);
	}
	printf("Cancelled job %s.\n", job_id);
	fflush(stdout);
	return 0;
}
