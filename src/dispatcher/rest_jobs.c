/*
 * rest_jobs.c - REST endpoints about one job: its details, vertices and subtasks, plan,
 * configuration, exceptions, backpressure, checkpoints, accumulators and metrics (Flink's
 * paths and shapes, reference/flink-rest-v1-dispatcher.yml):
 *
 *   GET /jobs/:jobid                                   details, per-vertex I/O metrics
 *   GET /jobs/:jobid/plan, /config, /exceptions, /accumulators
 *   GET /jobs/:jobid/checkpoints, /checkpoints/config, /checkpoints/details/:checkpointid
 *       (and /subtasks/:vertexid)                      statistics, in Flink's shapes
 *   POST /jobs/:jobid/savepoints, /stop                 202 {"request-id"}
 *   GET /jobs/:jobid/savepoints/:triggerid             the savepoint's or stop's progress
 *   GET /jobs/:jobid/metrics                           numRestarts, checkpoint metrics
 *   GET /jobs/:jobid/jobmanager/config                 the job's effective configuration
 *   GET /jobs/:jobid/vertices/:vertexid                subtasks and their aggregate
 *   GET .../vertices/:vertexid/taskmanagers, /backpressure, /watermarks, /accumulators
 *   GET .../vertices/:vertexid/metrics                 "<subtask>.<metric>" ids
 *   GET .../vertices/:vertexid/subtasks/metrics        aggregated over subtasks (agg=)
 *   GET .../vertices/:vertexid/subtasks/accumulators
 *   GET .../vertices/:vertexid/subtasks/:subtaskindex  (and /attempts/:attempt, /metrics)
 *
 * DESIGN. Handlers run on the HTTP server's connection threads. Each takes jm->mu (through
 * rest_job_param), copies what it needs from the job into a new JSON value, drops the lock
 * and only then answers; nothing here blocks or does I/O while holding mu. The metric
 * values come from the latest sample each subtask's TaskManager reported (jm_task.metrics);
 * a subtask that has not reported yet has no metrics at all, as a subtask missing from
 * Flink's MetricStore: its values are absent from the metric endpoints and the I/O metrics
 * that include it are marked incomplete ("read-bytes-complete": false).
 *
 * The time spent in each ExecutionState ("status-duration") comes from the moments the
 * JobMaster saw each state entered (jm_task.state_ms); -1 for a state never entered.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "core/alloc.h"
#include "core/log.h"
#include "dispatcher/rest.h"
#include "runtime/local_job.h"

/* CheckpointCoordinatorConfiguration.DISABLED_CHECKPOINT_INTERVAL (Long.MAX_VALUE). */
#define CHECKPOINT_INTERVAL_DISABLED INT64_MAX
/* Exceptions listed when the request gives no maxExceptions. */
#define DEFAULT_MAX_EXCEPTIONS 20

/* ---- small helpers ------------------------------------------------------------------------ */

/* A real that jansson accepts (it refuses NaN and infinities). */
static json_t *jreal(double v)
{
	return json_real(isfinite(v) ? v : 0.0);
}

/* A JobVertexID: 32 hex characters (Flink accepts either case). */
static bool vertex_id_is_valid(const char *s)
{
	size_t n = 0;
	for (; s[n]; n++)
		if (!isxdigit((unsigned char)s[n]))
			return false;
	return n == 32;
}

/* A non-negative decimal int ("Positive integer value" in the spec). */
static bool parse_index(const char *s, int *out)
{
	if (!s || !*s)
		return false;
	long v = 0;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return false;
		v = v * 10 + (*p - '0');
		if (v > INT32_MAX)
			return false;
	}
	*out = (int)v;
	return true;
}

/* A job vertex and the index of its first subtask in jm_job.tasks. */
struct vertex_ref {
	struct job_vertex *jv;
	int base;
};

static bool find_vertex(const struct jm_job *job, const char *id, struct vertex_ref *out)
{
	int base = 0;
	for (int v = 0; v < job->jg->nvertices; v++) {
		struct job_vertex *jv = job->jg->vertices[v];
		if (strcasecmp(jv->id, id) == 0) {
			out->jv = jv;
			out->base = base;
			return true;
		}
		base += jv->parallelism;
	}
	return false;
}

/* The job and vertex named by the route's first two :params. Answers 400 (malformed id)
 * or 404 and returns NULL, or returns the job with jm->mu held and *v filled. */
static struct jm_job *vertex_param(struct jobmanager *jm, const struct http_request *req,
                                   struct http_response *resp, struct vertex_ref *v)
{
	const char *vid = req->nparams > 1 ? req->params[1] : "";
	if (!vertex_id_is_valid(vid)) {
		http_respond_error(
		    resp, 400, "bad job vertex id '%s': expected 32 hexadecimal characters", vid);
		return NULL;
	}
	struct jm_job *job = rest_job_param(jm, req, resp);
	if (!job)
		return NULL;
	if (!find_vertex(job, vid, v)) {
		pthread_mutex_unlock(&jm->mu);
		http_respond_error(resp, 404, "JobVertex %s not found in job %s", vid,
		                   req->params[0]);
		return NULL;
	}
	return job;
}

/* As vertex_param, plus the subtask index in the third :param (400 if malformed, 404 if
 * out of range); *k gets the subtask's index in jm_job.tasks. */
static struct jm_job *subtask_param(struct jobmanager *jm, const struct http_request *req,
                                    struct http_response *resp, struct vertex_ref *v, int *k)
{
	const char *s = req->nparams > 2 ? req->params[2] : "";
	int index;
	if (!parse_index(s, &index)) {
		http_respond_error(resp, 400,
		                   "bad subtask index '%s': expected a non-negative integer", s);
		return NULL;
	}
	struct jm_job *job = vertex_param(jm, req, resp, v);
	if (!job)
		return NULL;
	if (index >= v->jv->parallelism) {
		pthread_mutex_unlock(&jm->mu);
		http_respond_error(resp, 404, "Invalid subtask index %d for job vertex %s", index,
		                   req->params[1]);
		return NULL;
	}
	*k = v->base + index;
	return job;
}

/* Flink's ExecutionJobVertex.getAggregateJobVertexState. */
static enum execution_state aggregate_state(const int counts[EXEC_STATE_COUNT], int n)
{
	if (counts[EXEC_FAILED] > 0)
		return EXEC_FAILED;
	if (counts[EXEC_CANCELING] > 0)
		return EXEC_CANCELING;
	if (counts[EXEC_CANCELED] > 0)
		return EXEC_CANCELED;
	if (counts[EXEC_INITIALIZING] > 0)
		return EXEC_INITIALIZING;
	if (counts[EXEC_RUNNING] > 0)
		return EXEC_RUNNING;
	if (counts[EXEC_FINISHED] > 0)
		return counts[EXEC_FINISHED] == n ? EXEC_FINISHED : EXEC_RUNNING;
	return EXEC_CREATED;
}

/* Start, end and duration of a set of subtasks as Flink's JobDetailsHandler computes them:
 * the earliest start; the latest end once all are terminal (else -1, and the duration runs
 * to now); all -1 before any started. */
struct span {
	int64_t start, end, duration;
};

struct span_acc {
	int64_t start, end;
	bool all_terminal;
};

static void span_init(struct span_acc *a)
{
	a->start = INT64_MAX;
	a->end = 0;
	a->all_terminal = true;
}

static void span_add(struct span_acc *a, const struct jm_task *t)
{
	if (t->start_ms > 0 && t->start_ms < a->start)
		a->start = t->start_ms;
	a->all_terminal &= execution_state_is_terminal(t->state);
	if (t->end_ms > a->end)
		a->end = t->end_ms;
}

static struct span span_get(const struct span_acc *a, int64_t now)
{
	if (a->start == INT64_MAX)
		return (struct span){-1, -1, -1};
	if (a->all_terminal)
		return (struct span){a->start, a->end, a->end - a->start};
	return (struct span){a->start, -1, now - a->start};
}

/* "host:dataPort" of a subtask's TaskManager, or Flink's "(unassigned)". */
static void task_endpoint(const struct jm_task *t, char *buf, size_t cap)
{
	if (t->tm)
		snprintf(buf, cap, "%s:%d", t->tm->host, t->tm->data_port);
	else
		snprintf(buf, cap, "(unassigned)");
}

static const char *task_tm_id(const struct jm_task *t)
{
	return t->tm ? t->tm->resource_id : "(unassigned)";
}

/* Whether the subtask's TaskManager reported a sample (Flink: in the MetricStore). */
static bool task_has_metrics(const struct jm_task *t)
{
	return t->metrics.updated_ms != 0;
}

/* Whether the subtask's I/O counts are known: once reported, and trivially (all zero) for a
 * subtask that ended without ever running. */
static bool task_metrics_complete(const struct jm_task *t)
{
	return task_has_metrics(t) || (execution_state_is_terminal(t->state) && t->start_ms == 0);
}

/* ---- I/O metrics (Flink's IOMetricsInfo) -------------------------------------------------- */

struct io_metrics {
	int64_t read_bytes, write_bytes, read_records, write_records;
	int64_t backpressured_ms, idle_ms;
	double busy_ms;
	bool complete; /* every subtask added had a sample */
};

static void io_init(struct io_metrics *io)
{
	memset(io, 0, sizeof *io);
	io->complete = true;
}

static void io_add(struct io_metrics *io, const struct jm_task *t)
{
	if (!task_metrics_complete(t))
		io->complete = false;
	if (!task_has_metrics(t))
		return;
	const struct task_metrics *m = &t->metrics;
	io->read_bytes += m->bytes_in;
	io->write_bytes += m->bytes_out;
	io->read_records += m->records_in;
	io->write_records += m->records_out;
	io->backpressured_ms += m->backpressured_ms;
	io->idle_ms += m->idle_ms;
	io->busy_ms += (double)m->busy_ms;
}

static json_t *io_json(const struct io_metrics *io)
{
	json_t *o = json_object();
	json_object_set_new(o, "read-bytes", json_integer(io->read_bytes));
	json_object_set_new(o, "read-bytes-complete", json_boolean(io->complete));
	json_object_set_new(o, "write-bytes", json_integer(io->write_bytes));
	json_object_set_new(o, "write-bytes-complete", json_boolean(io->complete));
	json_object_set_new(o, "read-records", json_integer(io->read_records));
	json_object_set_new(o, "read-records-complete", json_boolean(io->complete));
	json_object_set_new(o, "write-records", json_integer(io->write_records));
	json_object_set_new(o, "write-records-complete", json_boolean(io->complete));
	json_object_set_new(o, "accumulated-backpressured-time",
	                    json_integer(io->backpressured_ms));
	json_object_set_new(o, "accumulated-idle-time", json_integer(io->idle_ms));
	json_object_set_new(o, "accumulated-busy-time", jreal(io->busy_ms));
	return o;
}

/* ---- aggregated task details (Flink's AggregatedTaskDetailsInfo) -------------------------- */

/* The states whose durations Flink reports, in its order. */
static const enum execution_state duration_states[] = {EXEC_CREATED, EXEC_SCHEDULED, EXEC_DEPLOYING,
                                                       EXEC_INITIALIZING, EXEC_RUNNING};
#define NDURATION_STATES (sizeof duration_states / sizeof *duration_states)

/* Milliseconds subtask t spent in duration_states[i]: until the next state of the progression
 * it entered, or until now while it is still there; -1 for a state it never entered. */
static int64_t state_duration(const struct jm_task *t, size_t i, int64_t now)
{
	int64_t from = t->state_ms[duration_states[i]];
	if (!from)
		return -1;
	for (size_t j = i + 1; j < NDURATION_STATES; j++)
		if (t->state_ms[duration_states[j]])
			return t->state_ms[duration_states[j]] - from;
	for (int s = 0; s < EXEC_STATE_COUNT; s++) /* left for a terminal state */
		if (execution_state_is_terminal((enum execution_state)s) && t->state_ms[s])
			return t->state_ms[s] - from;
	return t->state == duration_states[i] ? now - from : -1;
}

/* Milliseconds spent in each state, as Flink's "status-duration". */
static json_t *status_duration_json(const struct jm_task *t)
{
	json_t *o = json_object();
	int64_t now = now_ms();
	for (size_t i = 0; i < NDURATION_STATES; i++)
		json_object_set_new(o, execution_state_name(duration_states[i]),
		                    json_integer(state_duration(t, i, now)));
	return o;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* commons-math3 Percentile (its default estimation) of p percent, on sorted values; 0 for
 * no values (where commons-math answers NaN, which JSON cannot carry). */
static double percentile_real(const int64_t *sorted, int n, double p)
{
	if (n == 0)
		return 0;
	if (n == 1)
		return (double)sorted[0];
	double pos = p * (n + 1) / 100.0;
	double fpos = floor(pos);
	int ipos = (int)fpos;
	if (pos < 1)
		return (double)sorted[0];
	if (pos >= n)
		return (double)sorted[n - 1];
	double lower = (double)sorted[ipos - 1], upper = (double)sorted[ipos];
	return lower + (pos - fpos) * (upper - lower);
}

/* The same cast to long, as Flink's MetricsStatistics does. */
static int64_t percentile(const int64_t *sorted, int n, double p)
{
	return (int64_t)percentile_real(sorted, n, p);
}

/* {"min","max","avg","sum","median","p25","p75","p95"} of n values (sorted in place). */
static json_t *stats_json(int64_t *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_i64);
	int64_t sum = 0;
	for (int i = 0; i < n; i++)
		sum += v[i];
	json_t *o = json_object();
	json_object_set_new(o, "min", json_integer(n ? v[0] : 0));
	json_object_set_new(o, "max", json_integer(n ? v[n - 1] : 0));
	json_object_set_new(o, "avg", json_integer(n ? sum / n : 0));
	json_object_set_new(o, "sum", json_integer(sum));
	json_object_set_new(o, "median", json_integer(percentile(v, n, 50)));
	json_object_set_new(o, "p25", json_integer(percentile(v, n, 25)));
	json_object_set_new(o, "p75", json_integer(percentile(v, n, 75)));
	json_object_set_new(o, "p95", json_integer(percentile(v, n, 95)));
	return o;
}

/* The aggregate over the subtasks tasks[idx[0..n)]: statistics of their I/O metrics and of
 * their state durations. Caller holds mu. */
static json_t *aggregated_json(const struct jm_job *job, const int *idx, int n)
{
	static const char *const names[] = {"read-bytes",
	                                    "write-bytes",
	                                    "read-records",
	                                    "write-records",
	                                    "accumulated-backpressured-time",
	                                    "accumulated-busy-time",
	                                    "accumulated-idle-time"};
	enum { NNAMES = sizeof names / sizeof *names };
	int64_t *v = xcalloc((size_t)NNAMES * (size_t)(n > 0 ? n : 1), sizeof *v);
	for (int i = 0; i < n; i++) {
		struct io_metrics io;
		io_init(&io);
		io_add(&io, &job->tasks[idx[i]]);
		const int64_t row[NNAMES] = {
		    io.read_bytes,       io.write_bytes,      io.read_records, io.write_records,
		    io.backpressured_ms, (int64_t)io.busy_ms, io.idle_ms};
		for (int m = 0; m < NNAMES; m++)
			v[m * n + i] = row[m];
	}
	json_t *metrics = json_object();
	for (int m = 0; m < NNAMES; m++)
		json_object_set_new(metrics, names[m], stats_json(v + m * n, n));
	json_t *durations = json_object();
	int64_t now = now_ms();
	for (size_t s = 0; s < NDURATION_STATES; s++) {
		for (int i = 0; i < n; i++)
			v[i] = state_duration(&job->tasks[idx[i]], s, now);
		json_object_set_new(durations, execution_state_name(duration_states[s]),
		                    stats_json(v, n));
	}
	xfree(v);
	return json_pack("{s:o, s:o}", "metrics", metrics, "status-duration", durations);
}

/* ---- subtasks ----------------------------------------------------------------------------- */

/* Flink's SubtaskExecutionAttemptDetailsInfo of subtask `index` (tasks[k]). Caller holds mu. */
static json_t *subtask_json(const struct jm_job *job, int k, int index, int64_t now)
{
	const struct jm_task *t = &job->tasks[k];
	char endpoint[96];
	task_endpoint(t, endpoint, sizeof endpoint);
	int64_t start = t->start_ms > 0 ? t->start_ms : -1;
	int64_t end = execution_state_is_terminal(t->state) && t->end_ms > 0 ? t->end_ms : -1;
	int64_t duration = start > 0 ? (end > 0 ? end : now) - start : -1;
	struct io_metrics io;
	io_init(&io);
	io_add(&io, t);
	json_t *o = json_object();
	json_object_set_new(o, "subtask", json_integer(index));
	json_object_set_new(o, "status", json_string(execution_state_name(t->state)));
	json_object_set_new(o, "attempt", json_integer(t->attempt));
	json_object_set_new(o, "endpoint", json_string(endpoint));
	json_object_set_new(o, "start-time", json_integer(start));
	json_object_set_new(o, "end-time", json_integer(end));
	json_object_set_new(o, "duration", json_integer(duration));
	json_object_set_new(o, "metrics", io_json(&io));
	json_object_set_new(o, "taskmanager-id", json_string(task_tm_id(t)));
	json_object_set_new(o, "status-duration", status_duration_json(t));
	return o;
}

/* ---- metric values ------------------------------------------------------------------------ */

/*
 * Formats v as Java's Double.toString (Float.toString when single): the shortest digits
 * that read back to the same value, plain between 1e-3 and 1e7 with at least one fraction
 * digit ("0.0", "12.5"), else "1.0E7" / "1.5E-4". Flink's metric values are those strings.
 */
void rest_java_number(char *buf, size_t cap, double v, bool single)
{
	if (isnan(v)) {
		snprintf(buf, cap, "NaN");
		return;
	}
	if (isinf(v)) {
		snprintf(buf, cap, v > 0 ? "Infinity" : "-Infinity");
		return;
	}
	if (v == 0) {
		snprintf(buf, cap, signbit(v) ? "-0.0" : "0.0");
		return;
	}
	if (single)
		v = (float)v; /* the digits of the float's own value */
	char sci[40];
	for (int p = 1; p <= 17; p++) {
		snprintf(sci, sizeof sci, "%.*e", p - 1, v);
		double back = strtod(sci, NULL);
		if (single ? (float)back == (float)v : back == v)
			break;
	}
	/* sci is "[-]d[.ddd]e[+-]xx": split into sign, digits and exponent. */
	const char *p = sci;
	bool neg = *p == '-';
	if (neg)
		p++;
	char digits[24];
	int nd = 0;
	for (; *p && *p != 'e'; p++)
		if (*p != '.' && nd < (int)sizeof digits - 1)
			digits[nd++] = *p;
	digits[nd] = '\0';
	int exp10 = *p == 'e' ? atoi(p + 1) : 0;
	while (nd > 1 && digits[nd - 1] == '0')
		digits[--nd] = '\0';
	double a = fabs(v);
	size_t o = 0;
#define PUT(c)                          \
	do {                            \
		if (o + 1 < cap)        \
			buf[o++] = (c); \
	} while (0)
	if (neg)
		PUT('-');
	if (a >= 1e-3 && a < 1e7) {
		int point = exp10 + 1; /* digits before the decimal point */
		if (point <= 0) {
			PUT('0');
			PUT('.');
			for (int i = 0; i < -point; i++)
				PUT('0');
			for (int i = 0; i < nd; i++)
				PUT(digits[i]);
		} else {
			for (int i = 0; i < point; i++)
				PUT(i < nd ? digits[i] : '0');
			PUT('.');
			if (point >= nd)
				PUT('0');
			for (int i = point; i < nd; i++)
				PUT(digits[i]);
		}
		buf[o] = '\0';
	} else {
		PUT(digits[0]);
		PUT('.');
		if (nd == 1)
			PUT('0');
		for (int i = 1; i < nd; i++)
			PUT(digits[i]);
		buf[o] = '\0';
		snprintf(buf + o, cap - o, "E%d", exp10);
	}
#undef PUT
}

/*
 * The task metrics Spate keeps, under Flink's names (a subtask's metric group), and how
 * Flink's MetricStore spells their values: a long for counters and for the TimerGauges
 * (idle and backpressured time per second), Double.toString for rates and busy time,
 * Float.toString for buffer pool usage.
 */
enum metric_format { FMT_LONG, FMT_DOUBLE, FMT_FLOAT };

static const struct metric_def {
	const char *name;
	enum metric_format format;
	size_t offset;  /* of the field in struct task_metrics */
	bool int_field; /* the field is an int64_t (else a double) */
} metric_defs[] = {
#define M(name, format, field, is_int)                                     \
	{                                                                  \
		name, format, offsetof(struct task_metrics, field), is_int \
	}
    M("numRecordsIn", FMT_LONG, records_in, true),
    M("numRecordsOut", FMT_LONG, records_out, true),
    M("numBytesIn", FMT_LONG, bytes_in, true),
    M("numBytesOut", FMT_LONG, bytes_out, true),
    M("numRecordsInPerSecond", FMT_DOUBLE, records_in_per_s, false),
    M("numRecordsOutPerSecond", FMT_DOUBLE, records_out_per_s, false),
    M("numBytesInPerSecond", FMT_DOUBLE, bytes_in_per_s, false),
    M("numBytesOutPerSecond", FMT_DOUBLE, bytes_out_per_s, false),
    M("busyTimeMsPerSecond", FMT_DOUBLE, busy_ms_per_s, false),
    M("idleTimeMsPerSecond", FMT_LONG, idle_ms_per_s, false),
    M("backPressuredTimeMsPerSecond", FMT_LONG, backpressured_ms_per_s, false),
    M("accumulatedBusyTimeMs", FMT_LONG, busy_ms, true),
    M("accumulatedIdleTimeMs", FMT_LONG, idle_ms, true),
    M("accumulatedBackPressuredTimeMs", FMT_LONG, backpressured_ms, true),
    M("buffers.inPoolUsage", FMT_FLOAT, in_pool_usage, false),
    M("buffers.outPoolUsage", FMT_FLOAT, out_pool_usage, false),
#undef M
};
#define NMETRICS (sizeof metric_defs / sizeof *metric_defs)

/* The value of metric `name` in a sample: its string in buf and its number in *num; false
 * for a name Spate does not keep. */
static bool metric_value(const struct task_metrics *m, const char *name, char *buf, size_t cap,
                         double *num)
{
	const struct metric_def *d = NULL;
	for (size_t i = 0; i < NMETRICS && !d; i++)
		if (strcmp(metric_defs[i].name, name) == 0)
			d = &metric_defs[i];
	if (!d)
		return false;
	const char *field = (const char *)m + d->offset;
	double v;
	if (d->int_field) {
		int64_t x;
		memcpy(&x, field, sizeof x);
		v = (double)x;
	} else {
		memcpy(&v, field, sizeof v);
	}
	if (d->format == FMT_LONG) {
		v = round(v);
		snprintf(buf, cap, "%lld", (long long)v);
	} else {
		rest_java_number(buf, cap, v, d->format == FMT_FLOAT);
	}
	*num = v;
	return true;
}

/* Splits a comma-separated query value into its non-empty items (new array of new strings,
 * free with rest_free_list). */
int rest_split_list(const char *s, char ***out)
{
	int n = 0;
	char **items = NULL;
	while (s && *s) {
		const char *comma = strchr(s, ',');
		size_t len = comma ? (size_t)(comma - s) : strlen(s);
		if (len > 0) {
			items = xrealloc(items, (size_t)(n + 1) * sizeof *items);
			items[n++] = xstrndup(s, len);
		}
		s = comma ? comma + 1 : NULL;
	}
	*out = items;
	return n;
}

void rest_free_list(char **items, int n)
{
	for (int i = 0; i < n; i++)
		xfree(items[i]);
	xfree(items);
}

/* The MetricCollectionResponseBody of one component: with `get`, [{"id","value"}] for the
 * requested metrics it has (unknown names are absent); without, [{"id"}] of all it has.
 * prefix is prepended to every id ("3." for a vertex's subtask 3). Appends to arr. */
static void metrics_collect(json_t *arr, const struct task_metrics *m, const char *prefix,
                            char **get, int nget)
{
	char id[160], value[64];
	double num;
	if (nget == 0) {
		for (size_t i = 0; i < NMETRICS; i++) {
			snprintf(id, sizeof id, "%s%s", prefix, metric_defs[i].name);
			json_array_append_new(arr, json_pack("{s:s}", "id", id));
		}
		return;
	}
	size_t plen = strlen(prefix);
	for (int i = 0; i < nget; i++) {
		if (strncmp(get[i], prefix, plen) != 0)
			continue;
		if (metric_value(m, get[i] + plen, value, sizeof value, &num))
			json_array_append_new(
			    arr, json_pack("{s:s, s:s}", "id", get[i], "value", value));
	}
}

/* ---- GET /jobs/:jobid --------------------------------------------------------------------- */

static void h_job(void *arg, const struct http_request *req, struct http_response *resp)
{
	struct jobmanager *jm = arg;
	struct jm_job *job = rest_job_param(jm, req, resp);
	if (!job)
		return;
	int64_t now = now_ms();
	json_t *o = rest_job_overview_json(job);
	json_object_del(o, "tasks");
	json_object_del(o, "last-modification"); /* /jobs/overview fields, not JobDetailsInfo's */
	json_object_del(o, "jobType");
	json_object_set_new(o, "isStoppable", json_false());
	json_object_set_new(o, "now", json_integer(now));
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
		struct span_acc acc;
		span_init(&acc);
		struct io_metrics io;
		io_init(&io);
		for (int k = base; k < base + jv->parallelism && k < job->ntasks; k++) {
			span_add(&acc, &job->tasks[k]);
			io_add(&io, &job->tasks[k]);
		}
		struct span sp = span_get(&acc, now);
		for (int s = 0; s < EXEC_STATE_COUNT; s++)
			all[s] += counts[s];
		if (jv->max_parallelism > maxp)
			maxp = jv->max_parallelism;
		json_t *vo = json_object();
		json_object_set_new(vo, "id", json_string(jv->id));
		json_object_set_new(vo, "name", json_string(jv->name));
		json_object_set_new(vo, "maxParallelism", json_integer(jv->max_parallelism));
		json_object_set_new(vo, "parallelism", json_integer(jv->parallelism));
		json_object_set_new(
		    vo, "status",
		    json_string(execution_state_name(aggregate_state(counts, jv->parallelism))));
		json_object_set_new(vo, "start-time", json_integer(sp.start));
		json_object_set_new(vo, "end-time", json_integer(sp.end));
		json_object_set_new(vo, "duration", json_integer(sp.duration));
		json_object_set_new(vo, "tasks", rest_tasks_json(counts, false));
		json_object_set_new(vo, "metrics", io_json(&io));
		json_object_set_new(vo, "slotSharingGroupId", json_string(jv->slot_sharing_group));
		json_array_append_new(vertices, vo);
		base += jv->parallelism;
	}
	json_object_set_new(o, "maxParallelism", json_integer(maxp));
	json_object_set_new(o, "vertices", vertices);
	json_object_set_new(o, "status-counts", rest_tasks_json(all, false));
	json_object_set_new(o, "pending-operators", json_integer(0));
	char *plan = job_graph_plan_json(job->jg);
	pthread_mutex_unlock(&jm->mu);
	json_t *pj = plan ? json_loads(plan, 0, NULL) : NULL;
	xfree(plan);
	json_t *jp = json_object_get(pj, "jobGraph");
	if (jp)
		json_object_set(o, "plan", jp);
	json_decref(pj);
	http_respond_json(resp, 200, o);
}

/* ---- GET /jobs/:jobid/plan ---------------------------------------------------------------- */

static void h_plan(void *arg, const struct http_request *req, struct http_response *resp)
{
	struct jobmanager *jm = arg;
	struct jm_job *job = rest_job_param(jm, req, resp);
	if (!job)
		return;
	char *plan = job_graph_plan_json(job->jg);
	pthread_mutex_unlock(&jm->mu);
	json_t *pj = plan ? json_loads(plan, 0, NULL) : NULL;
	xfree(plan);
	json_t *jp = json_object_get(pj, "jobGraph");
	if (!jp) {
		json_decref(pj);
		http_respond_error(resp, 500, "cannot build the plan of the job");
		return;
	}
	json_t *o = json_pack("{s:O}", "plan", jp);
	json_decref(pj);
	http_respond_json(resp, 200, o);
}

/* ---- GET /jobs/:jobid/config -------------------------------------------------------------- */

static void h_config(void *arg, const struct http_request *req, struct http_response *resp)
{
	struct jobmanager *jm = arg;
	struct jm_job *job = rest_job_param(jm, req, resp);
	if (!job)
		return;
	/* A Spate job sets no restart strategy of its own, so Flink's description of that case
	 * (RestartStrategyDescriptionUtils) applies. */
	json_t *o = json_pack("{s:s, s:s, s:{s:s, s:s, s:i, s:b, s:{}}}", "jid", job->id, "name",
	                      job->name, "execution-config", "execution-mode", "PIPELINED",
	                      "restart-strategy", "Cluster level default restart strategy",
	                      "job-parallelism", job->sg ? job->sg->default_parallelism : 1,
	                      "object-reuse-mode", false, "user-config");
	pthread_mutex_unlock(&jm->mu);
	http_respond_json(resp, 200, o);
}

/* ---- GET /jobs/:jobid/exceptions ---------------------------------------------------------- */

/* Splits a failure string into Flink's exceptionName and stacktrace: a message that starts
 * with a class name ("NoResourceAvailableException: ...") keeps it; any other is reported
 * as a JobException, as /execution-result does. */
static json_t *exception_json(const char *failure, int64_t timestamp)
{
	static const char *const fallback = "org.apache.flink.runtime.JobException";
	size_t n = strspn(failure, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                           "0123456789_.$");
	bool named = n > 0 && strncmp(failure + n, ": ", 2) == 0 &&
	             ((n >= 9 && strncmp(failure + n - 9, "Exception", 9) == 0) ||
	              (n >= 5 && strncmp(failure + n - 5, "Error", 5) == 0));
	char *name = named ? xstrndup(failure, n) : xstrdup(fallback);
	char *trace = named ? xstrdup(failure) : xasprintf("%s: %s", fallback, failure);
	json_t *o = json_pack("{s:s, s:s, s:I, s:{}}", "exceptionName", name, "stacktrace", trace,
	                      "timestamp", (json_int_t)timestamp, "failureLabels");
	xfree(name);
	xfree(trace);
	return o;
}

/* Adds the subtask's name "<vertex> (i/n)", endpoint and TaskManager id to an entry. */
static void exception_add_task(json_t *e, const struct jm_job *job, int k)
{
	int v = 0, base = 0;
	while (v < job->jg->nvertices && base + job->jg->vertices[v]->parallelism <= k)
		base += job->jg->vertices[v++]->parallelism;
	const struct job_vertex *jv = job->jg->vertices[v];
	char name[512], endpoint[96];
	snprintf(name, sizeof name, "%s (%d/%d)", jv->name, k - base + 1, jv->parallelism);
	task_endpoint(&job->tasks[k], endpoint, sizeof endpoint);
	json_object_set_new(e, "taskName", json_string(name));
	json_object_set_new(e, "endpoint", json_string(endpoint));
	json_object_set_new(e, "taskManagerId", json_string(task_tm_id(&job->tasks[k])));
}

/* One entry of the JobMaster's exception history (RootExceptionInfo): a task's failure
 * names the task, its TaskManager's endpoint and id; a global one (a lost TaskManager seen
 * by no task, too many failed checkpoints) names none. */
json_t *rest_exception_entry_json(const struct jm_exception *x)
{
	json_t *e = exception_json(x->message ? x->message : "unknown failure", x->timestamp_ms);
	if (x->task_name)
		json_object_set_new(e, "taskName", json_string(x->task_name));
	if (x->endpoint)
		json_object_set_new(e, "endpoint", json_string(x->endpoint));
	if (x->tm_id)
		json_object_set_new(e, "taskManagerId", json_string(x->tm_id));
	json_object_set_new(e, "concurrentExceptions", json_array());
	return e;
}

/*
 * The job's exception history, newest first as Flink lists it: every failure the JobMaster
 * handled, whether the job restarted after it or failed. A job that failed without its
 * JobMaster recording anything (it could not start) gets one entry, its failure, naming the
 * subtask it came from when a deployed subtask failed with that cause first; the other
 * deployed subtasks that failed are its concurrentExceptions. Caller holds mu.
 */
static json_t *exception_entries(const struct jm_job *job)
{
	json_t *entries = json_array();
	if (job->nexceptions > 0) {
		for (int i = job->nexceptions - 1; i >= 0; i--)
			json_array_append_new(entries,
			                      rest_exception_entry_json(&job->exceptions[i]));
		return entries;
	}
	if (!job->failure)
		return entries;
	int root = -1;
	for (int k = 0; k < job->ntasks; k++) {
		const struct jm_task *t = &job->tasks[k];
		if (t->tm && t->failure && strcmp(t->failure, job->failure) == 0 &&
		    (root < 0 || t->end_ms < job->tasks[root].end_ms))
			root = k;
	}
	int64_t ts = root >= 0                          ? job->tasks[root].end_ms
	             : job->timestamps[JOB_FAILING] > 0 ? job->timestamps[JOB_FAILING]
	             : job->end_ms > 0                  ? job->end_ms
	                                                : now_ms();
	json_t *e = exception_json(job->failure, ts);
	if (root >= 0)
		exception_add_task(e, job, root);
	json_t *concurrent = json_array();
	for (int k = 0; k < job->ntasks; k++) {
		const struct jm_task *t = &job->tasks[k];
		if (k == root || !t->tm || !t->failure || t->state != EXEC_FAILED)
			continue;
		json_t *c = exception_json(t->failure, t->end_ms);
		exception_add_task(c, job, k);
		json_array_append_new(concurrent, c);
	}
	json_object_set_new(e, "concurrentExceptions", concurrent);
	json_array_append_new(entries, e);
	return entries;
}

static void h_exceptions(void *arg, const struct http_request *req, struct http_response *resp)
{
	struct jobmanager *jm = arg;
	const char *max_s = http_query(req, "maxExceptions");
	const char *filter = http_query(req, "failureLabelFilter");
	int max = DEFAULT_MAX_EXCEPTIONS;
	if (max_s && !parse_index(max_s, &max)) {
		http_respond_error(
		    resp, 400, "bad maxExceptions '%s': expected a non-negative integer", max_s);
		return;
	}
	char **labels = NULL;
	int nlabels = rest_split_list(filter, &labels);
	for (int i = 0; i < nlabels; i++) {
		const char *colon = strchr(labels[i], ':');
		if (!colon || colon == labels[i] || !colon[1]) {
			http_respond_error(resp, 400,
			                   "bad failureLabelFilter '%s': expected key:value pairs",
			                   labels[i]);
			rest_free_list(labels, nlabels);
			return;
		}
	}
	rest_free_list(labels, nlabels);
	struct jm_job *job = rest_job_param(jm, req, resp);
	if (!job)
		return;
	json_t *entries = exception_entries(job);
	pthread_mutex_unlock(&jm->mu);
	/* Spate attaches no failure labels, so a label filter matches no entry. */
	if (nlabels > 0)
		json_array_clear(entries);
	bool truncated = false;
	while (json_array_size(entries) > (size_t)max) {
		json_array_remove(entries, json_array_size(entries) - 1);
		truncated = true;
	}
	http_respond_json(resp, 200,
	                  json_pack("{s:{s:o, s:b}}", "exceptionHistory", "entries", entries,
	                            "truncated", truncated));
}

/* ---- checkpoints (Flink's CheckpointingStatistics and friends) ---------------------------- */

/* The job's checkpoint coordinator, or NULL (a job whose JobMaster never made one). */
static struct checkpoint_coordinator *coordinator_of(const struct jm_job *job)
{
	return job->coordinator;
}

json_t *rest_stats_summary_json(int64_t *v, int n)
{
	if (n > 0)
		qsort(v, (size_t)n, sizeof *v, cmp_i64);
	int64_t sum = 0;
	for (int i = 0; i < n; i++)
		sum += v[i];
	json_t *o = json_object();
	json_object_set_new(o, "min", json_integer(n ? v[0] : 0));
	json_object_set_new(o, "max", json_integer(n ? v[n - 1] : 0));
	json_object_set_new(o, "avg", json_integer(n ? sum / n : 0));
	json_object_set_new(o, "p50", jreal(percentile_real(v, n, 50)));
	json_object_set_new(o, "p90", jreal(percentile_real(v, n, 90)));
	json_object_set_new(o, "p95", jreal(percentile_real(v, n, 95)));
	json_object_set_new(o, "p99", jreal(percentile_real(v, n, 99)));
	json_object_set_new(o, "p999", jreal(percentile_real(v, n, 99.9)));
	return o;
}

/* AbstractCheckpointStats.getLatestAckTimestamp: -1 before any acknowledgement. */
static int64_t latest_ack(int64_t ms)
{
	return ms > 0 ? ms : -1;
}

/* Flink's end_to_end_duration: to the failure for a failed checkpoint, else to the latest
 * acknowledgement (-1 before any). */
static int64_t end_to_end(const struct checkpoint_stats *s)
{
	int64_t to = s->status == CKPT_FAILED && s->end_ms > 0 ? s->end_ms : s->latest_ack_ms;
	if (to <= 0)
		return -1;
	return to > s->trigger_ms ? to - s->trigger_ms : 0;
}

/* The fields TaskCheckpointStatistics and its WithSubtaskDetails form share. */
static json_t *task_checkpoint_json(const struct checkpoint_stats *s,
                                    const struct checkpoint_vertex_stats *v)
{
	int64_t ack = latest_ack(v->latest_ack_ms);
	json_t *o = json_object();
	json_object_set_new(o, "id", json_integer(s->id));
	json_object_set_new(o, "status", json_string(checkpoint_status_name(s->status)));
	json_object_set_new(o, "latest_ack_timestamp", json_integer(ack));
	json_object_set_new(o, "checkpointed_size", json_integer(v->checkpointed_size));
	json_object_set_new(o, "state_size", json_integer(v->state_size));
	json_object_set_new(
	    o, "end_to_end_duration",
	    json_integer(ack > 0 ? (ack > s->trigger_ms ? ack - s->trigger_ms : 0) : -1));
	json_object_set_new(o, "alignment_buffered", json_integer(0));
	json_object_set_new(o, "processed_data", json_integer(v->processed_bytes));
	json_object_set_new(o, "persisted_data", json_integer(0));
	json_object_set_new(o, "num_subtasks", json_integer(v->num_subtasks));
	json_object_set_new(o, "num_acknowledged_subtasks", json_integer(v->num_acked));
	return o;
}

static const char *checkpoint_class_name(enum checkpoint_status s)
{
	return s == CKPT_COMPLETED ? "completed" : s == CKPT_FAILED ? "failed" : "in_progress";
}

json_t *rest_checkpoint_json(const struct checkpoint_stats *s, const char *const *vertex_ids,
                             int nvertex_ids)
{
	bool savepoint = checkpoint_kind_is_savepoint(s->kind);
	json_t *o = json_object();
	json_object_set_new(o, "className", json_string(checkpoint_class_name(s->status)));
	json_object_set_new(o, "id", json_integer(s->id));
	json_object_set_new(o, "status", json_string(checkpoint_status_name(s->status)));
	json_object_set_new(o, "is_savepoint", json_boolean(savepoint));
	/* Spate writes one savepoint format, its canonical one. */
	json_object_set_new(o, "savepointFormat",
	                    savepoint ? json_string("CANONICAL") : json_null());
	json_object_set_new(o, "trigger_timestamp", json_integer(s->trigger_ms));
	json_object_set_new(o, "latest_ack_timestamp", json_integer(latest_ack(s->latest_ack_ms)));
	json_object_set_new(o, "checkpointed_size", json_integer(s->checkpointed_size));
	json_object_set_new(o, "state_size", json_integer(s->state_size));
	json_object_set_new(o, "end_to_end_duration", json_integer(end_to_end(s)));
	/* Flink reports 0 since alignment stopped buffering; persisted data is what unaligned
	 * checkpoints write of in-flight buffers, which Spate does not take. */
	json_object_set_new(o, "alignment_buffered", json_integer(0));
	json_object_set_new(o, "processed_data", json_integer(s->processed_bytes));
	json_object_set_new(o, "persisted_data", json_integer(0));
	json_object_set_new(o, "num_subtasks", json_integer(s->num_subtasks));
	json_object_set_new(o, "num_acknowledged_subtasks", json_integer(s->num_acked));
	json_object_set_new(o, "checkpoint_type", json_string(checkpoint_kind_name(s->kind)));
	json_t *tasks = json_object();
	for (int v = 0; vertex_ids && v < s->nvertices && v < nvertex_ids; v++)
		json_object_set_new(tasks, vertex_ids[v], task_checkpoint_json(s, &s->vertices[v]));
	json_object_set_new(o, "tasks", tasks);
	if (s->status == CKPT_COMPLETED) {
		json_object_set_new(o, "external_path",
		                    s->external_path ? json_string(s->external_path) : json_null());
		json_object_set_new(o, "discarded", json_boolean(s->discarded));
	} else if (s->status == CKPT_FAILED) {
		json_object_set_new(o, "failure_timestamp", json_integer(s->end_ms));
		json_object_set_new(o, "failure_message",
		                    s->failure ? json_string(s->failure) : json_null());
	}
	return o;
}

json_t *rest_checkpoints_json(const struct rest_checkpoint_view *v)
{
	const struct checkpoint_counts *c = &v->counts;
	json_t *counts =
	    json_pack("{s:I, s:I, s:I, s:I, s:I}", "restored", (json_int_t)c->restored, "total",
	              (json_int_t)c->total, "in_progress", (json_int_t)c->in_progress, "completed",
	              (json_int_t)c->completed, "failed", (json_int_t)c->failed);

	/* The summary: over the completed checkpoints (savepoints included) in the history. */
	enum { S_CHECKPOINTED, S_STATE, S_E2E, S_ALIGN, S_PROCESSED, S_PERSISTED, NSUMMARY };
	static const char *const names[NSUMMARY] = {"checkpointed_size",   "state_size",
	                                            "end_to_end_duration", "alignment_buffered",
	                                            "processed_data",      "persisted_data"};
	int n = 0;
	int64_t *vals =
	    xcalloc((size_t)NSUMMARY * (size_t)(v->nhistory > 0 ? v->nhistory : 1), sizeof *vals);
	for (int i = 0; i < v->nhistory; i++) {
		const struct checkpoint_stats *s = v->history[i];
		if (s->status != CKPT_COMPLETED)
			continue;
		const int64_t row[NSUMMARY] = {
		    s->checkpointed_size, s->state_size, end_to_end(s), 0, s->processed_bytes, 0};
		for (int k = 0; k < NSUMMARY; k++)
			vals[k * v->nhistory + n] = row[k];
		n++;
	}
	json_t *summary = json_object();
	for (int k = 0; k < NSUMMARY; k++)
		json_object_set_new(summary, names[k],
		                    rest_stats_summary_json(vals + k * v->nhistory, n));
	xfree(vals);

	json_t *restored = json_null();
	if (v->restored && v->restored->id > 0)
		restored =
		    json_pack("{s:I, s:I, s:b, s:o}", "id", (json_int_t)v->restored->id,
		              "restore_timestamp", (json_int_t)v->restored->restore_ms,
		              "is_savepoint", v->restored->is_savepoint, "external_path",
		              v->restored->external_path ? json_string(v->restored->external_path)
		                                         : json_null());
	json_t *latest = json_object();
	json_object_set_new(latest, "completed",
	                    v->latest_completed ? rest_checkpoint_json(v->latest_completed, NULL, 0)
	                                        : json_null());
	json_object_set_new(latest, "savepoint",
	                    v->latest_savepoint ? rest_checkpoint_json(v->latest_savepoint, NULL, 0)
	                                        : json_null());
	json_object_set_new(latest, "failed",
	                    v->latest_failed ? rest_checkpoint_json(v->latest_failed, NULL, 0)
	                                     : json_null());
	json_object_set_new(latest, "restored", restored);

	/* As Flink's handler: the history without per-task statistics (those are in
	 * /checkpoints/details/:checkpointid). */
	json_t *history = json_array();
	for (int i = 0; i < v->nhistory; i++)
		json_array_append_new(history, rest_checkpoint_json(v->history[i], NULL, 0));
	return json_pack("{s:o, s:o, s:o, s:o}", "counts", counts, "summary", summary, "latest",
	                 latest, "history", history);
}

/* The view of the job's coordinator (all zero without one). Caller holds mu; the view
 * borrows from the coordinator until mu is released. */
static void checkpoint_view(const struct jm_job *job, struct rest_checkpoint_view *v)
{
	memset(v, 0, sizeof *v);
	const struct checkpoint_coordinator *co = coordinator_of(job);
	if (!co)
		return;
	coordinator_counts(co, &v->counts);
	v->nhistory = coordinator_history(co, &v->history);
	v->latest_completed = coordinator_latest_completed(co);
	v->latest_savepoint = coordinator_latest_savepoint(co);
	v->latest_failed = coordinator_latest_failed(co);
	v->restored = coordinator_restored(co);
}

static void h_checkpoints(void *arg, const struct http_request *req, struct http_response *resp)
{
	struct jobmanager *jm = arg;
	struct jm_job *job = rest_job_param(jm, req, resp);
	if (!job)
		return;
	struct rest_checkpoint_view v;
	checkpoint_view(job, &v);
	json_t *o = rest_checkpoints_json(&v);
	pthread_mutex_unlock(&jm->mu);
	http_respond_json(resp, 200, o);
}

/* The job vertices' ids in job graph order (the order of checkpoint_stats.vertices): a new
 * array of borrowed strings, valid while the job is. Caller holds mu. */
static const char **vertex_ids(const struct jm_job *job)
{
	const char **ids = xcalloc((size_t)job->jg->nvertices + 1, sizeof *ids);
	for (int v = 0; v < job->jg->nvertices; v++)
		ids[v] = job->jg->vertices[v]->id;
	return ids;
}

/* The :checkpointid param (a non-negative long); answers 400 and returns false if bad. */
static bool checkpoint_id_param(const struct http_request *req, struct http_response *resp,
                                int64_t *id)
{
	const char *s = req->nparams > 1 ? req->params[1] : "";
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (!*s || *end || errno || v < 0 || !isdigit((unsigned char)*s)) {
		http_respond_error(resp, 400,
		                   "bad checkpoint id '%s': expected a non-negative integer", s);
		return false;
	}
	*id = v;
	return true;
}

/* The checkpoint named by :checkpointid with jm->mu held, or answers 400/404 and returns
 * NULL. */
static const struct checkpoint_stats *checkpoint_param(struct jobmanager *jm,
                                                       const struct http_request *req,
                                                       struct http_response *resp,
                                                       struct jm_job **job)
{
	int64_t id;
	if (!checkpoint_id_param(req, resp, &id))
		return NULL;
	*job = rest_job_param(jm, req, resp);
	if (!*job)
		return NULL;
	const struct checkpoint_coordinator *co = coordinator_of(*job);
	const struct checkpoint_stats *s = co ? coordinator_find(co, id) : NULL;
	if (!s) {
		pthread_mutex_unlock(&jm->mu);
		http_respond_error(resp, 404,
		                   "Could not find checkpointing statistics for checkpoint %lld.",
		                   (long long)id);
	}
	return s;
}

/* GET /jobs/:jobid/checkpoints/details/:checkpointid: one checkpoint with its tasks. */
static void h_checkpoint_details(void *arg, const struct http_request *req,
                                 struct http_response *resp)
{
	struct jobmanager *jm = arg;
	struct jm_job *job;
	const struct checkpoint_stats *s = checkpoint_param(jm, req, resp, &job);
	if (!s)
		return;
	const char **ids = vertex_ids(job);
	json_t *o = rest_checkpoint_json(s, ids, job->jg->nvertices);
	pthread_mutex_unlock(&jm->mu);
	xfree(ids);
	http_respond_json(resp, 200, o);
}

/* {"max": v}: of the subtasks' values the JobMaster keeps only the largest. */
static json_t *max_only(int64_t v)
{
	return json_pack("{s:I}", "max", (json_int_t)v);
}

json_t *rest_task_checkpoint_details_json(const struct checkpoint_stats *s, int vertex)
{
	const struct checkpoint_vertex_stats *v = &s->vertices[vertex];
	json_t *o = task_checkpoint_json(s, v);
	json_object_set_new(o, "summary",
	                    json_pack("{s:{s:o, s:o}, s:{s:o}}", "checkpoint_duration", "sync",
	                              max_only(v->sync_ms_max), "async", max_only(v->async_ms_max),
	                              "alignment", "duration", max_only(v->alignment_ms_max)));
	/* Which subtasks acknowledged is known only when all or none did. */
	json_t *subtasks = json_array();
	bool all = v->num_acked == v->num_subtasks, none = v->num_acked == 0;
	for (int i = 0; (all || none) && i < v->num_subtasks; i++)
		json_array_append_new(subtasks,
		                      json_pack("{s:s, s:i, s:s}", "className",
		                                all ? "completed" : "pending", "index", i, "status",
		                                all ? "completed" : "pending_or_failed"));
	json_object_set_new(o, "subtasks", subtasks);
	return o;
}

/* GET .../checkpoints/details/:checkpointid/subtasks/:vertexid. */
static void h_checkpoint_task(void *arg, const struct http_request *req, struct http_response *resp)
{
	struct jobmanager *jm = arg;
	const char *vid = req->nparams > 2 ? req->params[2] : "";
	if (!vertex_id_is_valid(vid)) {
		http_respond_error(
		    resp, 400, "bad job vertex id '%s': expected 32 hexadecimal characters", vid);
		return;
	}
	struct jm_job *job;
	const struct checkpoint_stats *s = checkpoint_param(jm, req, resp, &job);
	if (!s)
		return;
	int v = 0;
	while (v < job->jg->nvertices && strcasecmp(job->jg->vertices[v]->id, vid) != 0)
		v++;
	if (v >= job->jg->nvertices || v >= s->nvertices) {
		pthread_mutex_unlock(&jm->mu);
		http_respond_error(resp, 404, "There is no checkpoint statistics for task %s.",
		                   vid);
		return;
	}
	json_t *o = rest_task_checkpoint_details_json(s, v);
	pthread_mutex_unlock(&jm->mu);
	http_respond_json(resp, 200, o);
}

/* The job's configuration as the JobMaster applies it: the cluster's, then the job's own
 * (shipped in its StreamGraph), which wins; the JobMaster's copy once it made one. A new
 * config (config_free). Caller holds mu. */
static struct config *job_effective_config(const struct jobmanager *jm, const struct jm_job *job)
{
	if (job->config)
		return config_clone(job->config);
	struct config *c = config_clone(jm->config);
	for (int i = 0; job->sg && i < job->sg->njob_config; i++)
		config_set(c, job->sg->job_config[i].key, job->sg->job_config[i].value, NULL);
	return c;
}

json_t *rest_checkpoint_config_json(const struct checkpoint_config *cc, const struct config *c)
{
	const char *retention =
	    config_get(c, "execution.checkpointing.externalized-checkpoint-retention");
	bool externalized = retention && strcasecmp(retention, "NO_EXTERNALIZED_CHECKPOINTS") != 0;
	bool delete_on_cancel = !retention || strcasecmp(retention, "RETAIN_ON_CANCELLATION") != 0;
	json_t *o = json_object();
	json_object_set_new(o, "mode",
	                    json_string(cc->exactly_once ? "exactly_once" : "at_least_once"));
	json_object_set_new(
	    o, "interval",
	    json_integer(cc->enabled ? cc->interval_ms : CHECKPOINT_INTERVAL_DISABLED));
	json_object_set_new(o, "timeout", json_integer(cc->timeout_ms));
	json_object_set_new(o, "min_pause", json_integer(cc->min_pause_ms));
	json_object_set_new(o, "max_concurrent", json_integer(cc->max_concurrent));
	json_object_set_new(o, "externalization",
	                    json_pack("{s:b, s:b}", "enabled", externalized,
	                              "delete_on_cancellation", delete_on_cancel));
	json_object_set_new(o, "state_backend",
	                    json_string(strcmp(cc->backend, "rocksdb") == 0
	                                    ? "EmbeddedRocksDBStateBackend"
	                                    : "HashMapStateBackend"));
	json_object_set_new(
	    o, "checkpoint_storage",
	    json_string(cc->dir ? "FileSystemCheckpointStorage" : "JobManagerCheckpointStorage"));
	json_object_set_new(o, "unaligned_checkpoints", json_false());
	json_object_set_new(o, "tolerable_failed_checkpoints",
	                    json_integer(cc->tolerable_failures));
	json_object_set_new(o, "aligned_checkpoint_timeout", json_integer(0));
	json_object_set_new(o, "checkpoints_after_tasks_finish", json_true());
	json_object_set_new(o, "state_changelog_enabled", json_false());
	json_object_set_new(o, "changelog_periodic_materialization_interval", json_integer(600000));
	json_object_set_new(o, "changelog_storage", json_string("memory"));
	return o;
}

/* What checkpoint_config_load reads, leniently: for a job without a coordinator, whose
 * configuration may be one the JobMaster refused (an interval without a directory). */
static void lenient_checkpoint_config(const struct config *c, struct checkpoint_config *cc)
{
	memset(cc, 0, sizeof *cc);
	int64_t interval = config_get_duration_ms(c, "execution.checkpointing.interval", -1);
	cc->enabled = config_is_set(c, "execution.checkpointing.interval") && interval > 0;
	cc->interval_ms = cc->enabled ? interval : CHECKPOINT_INTERVAL_DISABLED;
	const char *mode = config_get(c, "execution.checkpointing.mode");
	cc->exactly_once = !mode || strcasecmp(mode, "AT_LEAST_ONCE") != 0;
	cc->timeout_ms = config_get_duration_ms(c, "execution.checkpointing.timeout", 600000);
	cc->min_pause_ms = config_get_duration_ms(c, "execution.checkpointing.min-pause", 0);
	cc->max_concurrent =
	    (int)config_get_int(c, "execution.checkpointing.max-concurrent-checkpoints", 1);
	cc->tolerable_failures =
	    (int)config_get_int(c, "execution.checkpointing.tolerable-failed-checkpoints", 0);
	const char *dir = config_get(c, "execution.checkpointing.dir");
	cc->dir = dir ? xstrdup(dir) : NULL;
	const char *backend = config_get(c, "state.backend.type");
	snprintf(cc->backend, sizeof cc->backend, "%s", backend ? backend : "hashmap");
}

/*
 * GET /jobs/:jobid/checkpoints/config. A streaming job always has a checkpoint coordinator
 * configuration in Flink; with checkpointing off its interval is Long.MAX_VALUE, which the
 * dashboard shows as "Periodic checkpoints disabled". The values are the coordinator's when
 * the job has one, else the job's configuration over the cluster's.
 */
static void h_checkpoint_config(void *arg, const struct http_request *req,
                                struct http_response *resp)
{
	struct jobmanager *jm = arg;
	struct jm_job *job = rest_job_param(jm, req, resp);
	if (!job)
		return;
	struct config *c = job_effective_config(jm, job);
	const struct checkpoint_coordinator *co = coordinator_of(job);
	json_t *o;
	if (co) {
		o = rest_checkpoint_config_json(coordinator_config(co), c);
	} else {
		struct checkpoint_config cc;
		lenient_checkpoint_config(c, &cc);
		o = rest_checkpoint_config_json(&cc, c);
		xfree(cc.dir);
	}
	pthread_mutex_unlock(&jm->mu);
	config_free(c);
	http_respond_json(resp, 200, o);
}

/* GET /jobs/:jobid/jobmanager/config: the job's effective configuration, the cluster's with
 * the job's own values (shipped in its StreamGraph) over it. */
static void h_job_jm_config(void *arg, const struct http_request *req, struct http_response *resp)
{
	struct jobmanager *jm = arg;
	struct jm_job *job = rest_job_param(jm, req, resp);
	if (!job)
		return;
	struct config *c = job_effective_config(jm, job);
	pthread_mutex_unlock(&jm->mu);
	json_t *o = rest_config_entries_json(c);
	config_free(c);
	http_respond_json(resp, 200, o);
}

/* ---- savepoints and stop-with-savepoint --------------------------------------------------- */

/* A 32-character hexadecimal trigger id (Flink's TriggerId, either case). */
static bool trigger_id_is_valid(const char *s)
{
	return vertex_id_is_valid(s);
}

/* What a savepoint or stop request asks for. */
struct savepoint_body {
	const char *target_dir; /* borrowed from the parsed body, or NULL */
	bool stop;
	const char *trigger_id; /* borrowed, or NULL */
};

/*
 * Parses Flink's SavepointTriggerRequestBody {target-directory, cancel-job, formatType,
 * triggerId} (stop false) or StopWithSavepointRequestBody {targetDirectory, drain,
 * formatType, triggerId} (stop true) into b, borrowing from *root (json_decref it). An
 * empty body asks for the defaults. Returns false with err set on a malformed body.
 */
static bool parse_savepoint_body(const struct http_request *req, bool stop, json_t **root,
                                 struct savepoint_body *b, struct spate_error *err)
{
	memset(b, 0, sizeof *b);
	b->stop = stop;
	*root = NULL;
	size_t i = 0;
	while (i < req->body_len && strchr(" \t\r\n", req->body[i]))
		i++;
	if (i == req->body_len)
		return true;
	json_error_t je;
	json_t *o = json_loadb((const char *)req->body, req->body_len, 0, &je);
	*root = o;
	if (!o || !json_is_object(o)) {
		if (o)
			error_set(err, SPATE_EINVAL, "bad request body: expected a JSON object");
		else
			error_set(err, SPATE_EINVAL, "bad request body: %s (line %d, column %d)",
			          je.text, je.line, je.column);
		return false;
	}
	const char *dir_key = stop ? "targetDirectory" : "target-directory";
	const char *key;
	json_t *v;
	json_object_foreach(o, key, v)
	{
		if (json_is_null(v))
			continue;
		if (strcmp(key, dir_key) == 0) {
			if (!json_is_string(v) || !json_string_value(v)[0]) {
				error_set(err, SPATE_EINVAL, "bad %s: expected a directory name",
				          dir_key);
				return false;
			}
			b->target_dir = json_string_value(v);
		} else if (strcmp(key, stop ? "drain" : "cancel-job") == 0) {
			if (!json_is_boolean(v)) {
				error_set(err, SPATE_EINVAL, "bad %s: expected true or false", key);
				return false;
			}
			/* cancel-job (Flink's deprecated cancel-with-savepoint) ends the job
			 * after its savepoint as stop does. drain emits Long.MAX_VALUE
			 * watermarks first in Flink; Spate has no event time, so a drained stop
			 * and a plain one are the same. */
			if (!stop)
				b->stop = json_is_true(v);
		} else if (strcmp(key, "formatType") == 0) {
			const char *f = json_string_value(v);
			if (!f ||
			    (strcasecmp(f, "CANONICAL") != 0 && strcasecmp(f, "NATIVE") != 0)) {
				error_set(err, SPATE_EINVAL,
				          "bad formatType: expected CANONICAL or NATIVE");
				return false;
			}
		} else if (strcmp(key, "triggerId") == 0) {
			const char *t = json_string_value(v);
			if (!t || !trigger_id_is_valid(t)) {
				error_set(err, SPATE_EINVAL,
				          "bad triggerId: expected 32 hexadecimal characters");
				return false;
			}
			b->trigger_id = t;
		} else {
			error_set(err, SPATE_EINVAL, "unknown field '%.100s' in the request body",
			          key);
			return false;
		}
	}
	return true;
}

/* POST /jobs/:jobid/savepoints and POST /jobs/:jobid/stop: 202 {"request-id"}. */
static void trigger_savepoint(struct jobmanager *jm, const struct http_request *req,
                              struct http_response *resp, bool stop)
{
	struct spate_error err = {0};
	json_t *root;
	struct savepoint_body b;
	if (!parse_savepoint_body(req, stop, &root, &b, &err)) {
		json_decref(root);
		http_respond_error(resp, 400, "%s", err.msg);
		return;
	}
	struct jm_job *job = rest_job_param(jm, req, resp);
	if (!job) {
		json_decref(root);
		return;
	}
	struct checkpoint_coordinator *co = coordinator_of(job);
	char tid[33] = "";
	int status = 202;
	if (b.trigger_id) {
		/* Flink's idempotent triggering: the same trigger id is the same operation. */
		if (co && coordinator_savepoint_status(co, b.trigger_id)) {
			snprintf(tid, sizeof tid, "%s", b.trigger_id);
		} else {
			status = 400;
			error_set(&err, SPATE_EINVAL,
			          "triggerId %s: choosing the trigger id of a new operation is not "
			          "supported; leave it out and use the request-id of the answer",
			          b.trigger_id);
		}
	} else if (job->status != JOB_RUNNING) {
		status = 409;
		error_set(&err, SPATE_EINVAL,
		          "job %s is not running (%s): a savepoint needs a RUNNING job", job->id,
		          job_status_name(job->status));
	} else if (!co) {
		status = 409;
		error_set(&err, SPATE_EINVAL,
		          "job %s has no checkpoint coordinator: its JobMaster did not start one",
		          job->id);
	} else if (!b.target_dir && !coordinator_config(co)->savepoint_dir) {
		/* Flink's SavepointHandlers answer this before triggering anything. */
		status = 400;
		error_set(&err, SPATE_EINVAL,
		          "Config key [execution.checkpointing.savepoint-dir] is not set. Property "
		          "[%s] must be provided.",
		          stop ? "targetDirectory" : "target-directory");
	} else if (coordinator_request_savepoint(co, b.target_dir, b.stop, tid, &err) < 0) {
		status = 400;
	} else {
		log_info("Triggering %s for job %s (trigger id %s).",
		         b.stop ? "stop-with-savepoint" : "savepoint", job->id, tid);
		pthread_cond_broadcast(&jm->cond); /* the JobMaster triggers it */
	}
	pthread_mutex_unlock(&jm->mu);
	json_decref(root);
	if (status != 202) {
		http_respond_error(resp, status, "%s", err.msg);
		return;
	}
	http_respond_json(resp, 202, json_pack("{s:s}", "request-id", tid));
}

static void h_savepoint_trigger(void *arg, const struct http_request *req,
                                struct http_response *resp)
{
	trigger_savepoint(arg, req, resp, false);
}

static void h_stop(void *arg, const struct http_request *req, struct http_response *resp)
{
	trigger_savepoint(arg, req, resp, true);
}

/* Flink's SerializedThrowable as its REST serializer writes it: the class, the stack trace
 * and the Java-serialized exception (here the stack trace's text, base64-encoded: a client
 * that cannot deserialize Java objects still gets the message). */
static json_t *failure_cause_json(const char *failure)
{
	static const char *const cls = "java.util.concurrent.CompletionException";
	char *trace = xasprintf("%s: %s", cls, failure);
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t n = strlen(trace);
	char *enc = xmalloc(4 * ((n + 2) / 3) + 1);
	size_t o = 0;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t w = (uint32_t)(unsigned char)trace[i] << 16;
		if (i + 1 < n)
			w |= (uint32_t)(unsigned char)trace[i + 1] << 8;
		if (i + 2 < n)
			w |= (uint32_t)(unsigned char)trace[i + 2];
		enc[o++] = b64[(w >> 18) & 63];
		enc[o++] = b64[(w >> 12) & 63];
		enc[o++] = i + 1 < n ? b64[(w >> 6) & 63] : '=';
		enc[o++] = i + 2 < n ? b64[w & 63] : '=';
	}
	enc[o] = '\0';
	json_t *j = json_pack("{s:s, s:s, s:s}", "class", cls, "stack-trace", trace,
	                      "serialized-throwable", enc);
	xfree(trace);
	xfree(enc);
	return j;
}

json_t *rest_savepoint_status_json(const struct savepoint_request *r)
{
	if (!r->done)
		return json_pack("{s:{s:s}}", "status", "id", "IN_PROGRESS");
	json_t *op;
	if (r->location && !r->failure)
		op = json_pack("{s:s}", "location", r->location);
	else
		op =
		    json_pack("{s:o}", "failure-cause",
		              failure_cause_json(r->failure ? r->failure : "the savepoint failed"));
	return json_pack("{s:{s:s}, s:o}", "status", "id", "COMPLETED", "operation", op);
}

/* GET /jobs/:jobid/savepoints/:triggerid: a savepoint's or a stop's progress. */
static void h_savepoint_status(void *arg, const struct http_request *req,
                               struct http_response *resp)
{
	struct jobmanager *jm = arg;
	const char *tid = req->nparams > 1 ? req->params[1] : "";
	if (!trigger_id_is_valid(tid)) {
		http_respond_error(resp, 400,
		                   "bad trigger id '%s': expected 32 hexadecimal characters", tid);
		return;
	}
	struct jm_job *job = rest_job_param(jm, req, resp);
	if (!job)
		return;
	const struct checkpoint_coordinator *co = coordinator_of(job);
	const struct savepoint_request *r = co ? coordinator_savepoint_status(co, tid) : NULL;
	json_t *o = r ? rest_savepoint_status_json(r) : NULL;
	pthread_mutex_unlock(&jm->mu);
	if (!o) {
		http_respond_error(
		    resp, 404,
		    "Operation not found under key: AsynchronousJobOperationKey{triggerId=%s, "
		    "jobId=%s}",
		    tid, req->params[0]);
		return;
	}
	http_respond_json(resp, 200, o);
}

/* ---- job metrics (Flink's JobManager job scope) ------------------------------------------- */

/* How often the job restarted (Flink's numRestarts). */
static int64_t job_num_restarts(const struct jm_job *job)
{
	return job->num_restarts;
}

void rest_job_metrics(const struct jm_job *job, struct rest_metric m[REST_JOB_METRICS])
{
	struct rest_checkpoint_view v;
	checkpoint_view(job, &v);
	const struct checkpoint_stats *last = v.latest_completed;
	int i = 0;
	m[i++] = (struct rest_metric){"numRestarts", (double)job_num_restarts(job), false};
	m[i++] = (struct rest_metric){"totalNumberOfCheckpoints", (double)v.counts.total, false};
	m[i++] = (struct rest_metric){"numberOfInProgressCheckpoints", (double)v.counts.in_progress,
	                              false};
	m[i++] =
	    (struct rest_metric){"numberOfCompletedCheckpoints", (double)v.counts.completed, false};
	m[i++] = (struct rest_metric){"numberOfFailedCheckpoints", (double)v.counts.failed, false};
	m[i++] = (struct rest_metric){"lastCheckpointDuration",
	                              last ? (double)end_to_end(last) : -1, false};
	m[i++] = (struct rest_metric){"lastCheckpointSize",
	                              last ? (double)last->checkpointed_size : -1, false};
	m[i++] = (struct rest_metric){"lastCheckpointFullSize",
	                              last ? (double)last->state_size : -1, false};
	m[i++] = (struct rest_metric){"lastCheckpointAlignmentTime",
	                              last ? (double)last->alignment_ms_max : -1, false};
	m[i++] = (struct rest_metric){
	    "lastCheckpointRestoreTimestamp",
	    v.restored && v.restored->id > 0 ? (double)v.restored->restore_ms : -1, false};
}

/* GET /jobs/:jobid/metrics[?get=a,b]. */
static void h_job_metrics(void *arg, const struct http_request *req, struct http_response *resp)
{
	struct jobmanager *jm = arg;
	struct jm_job *job = rest_job_param(jm, req, resp);
	if (!job)
		return;
	struct rest_metric m[REST_JOB_METRICS];
	rest_job_metrics(job, m);
	pthread_mutex_unlock(&jm->mu);
	http_respond_json(resp, 200,
	                  rest_metric_list_json(m, REST_JOB_METRICS, http_query(req, "get")));
}

/* ---- accumulators ------------------------------------------------------------------------ */

/* Spate has no accumulators: Flink's answer for a job without any. */
static void h_accumulators(void *arg, const struct http_request *req, struct http_response *resp)
{
	struct jobmanager *jm = arg;
	const char *ser = http_query(req, "includeSerializedValue");
	if (ser && strcasecmp(ser, "true") != 0 && strcasecmp(ser, "false") != 0) {
		http_respond_error(resp, 400,
		                   "bad includeSerializedValue '%s': expected true or false", ser);
		return;
	}
	struct jm_job *job = rest_job_param(jm, req, resp);
	if (!job)
		return;
	pthread_mutex_unlock(&jm->mu);
	http_respond_json(resp, 200,
	                  json_pack("{s:[], s:[], s:{}}", "job-accumulators",
	                            "user-task-accumulators", "serialized-user-task-accumulators"));
}

/* ---- GET /jobs/:jobid/vertices/:vertexid[/...] -------------------------------------------- */

static void h_vertex(void *arg, const struct http_request *req, struct http_response *resp)
{
	struct jobmanager *jm = arg;
	struct vertex_ref v;
	struct jm_job *job = vertex_param(jm, req, resp, &v);
	if (!job)
		return;
	int64_t now = now_ms();
	int n = v.jv->parallelism;
	int *idx = xcalloc((size_t)n, sizeof *idx);
	json_t *subtasks = json_array();
	for (int i = 0; i < n; i++) {
		idx[i] = v.base + i;
		json_array_append_new(subtasks, subtask_json(job, v.base + i, i, now));
	}
	json_t *o = json_object();
	json_object_set_new(o, "id", json_string(v.jv->id));
	json_object_set_new(o, "name", json_string(v.jv->name));
	json_object_set_new(o, "parallelism", json_integer(n));
	json_object_set_new(o, "maxParallelism", json_integer(v.jv->max_parallelism));
	json_object_set_new(o, "now", json_integer(now));
	json_object_set_new(o, "subtasks", subtasks);
	json_object_set_new(o, "aggregated", aggregated_json(job, idx, n));
	pthread_mutex_unlock(&jm->mu);
	xfree(idx);
	http_respond_json(resp, 200, o);
}

static void h_subtask(void *arg, const struct http_request *req, struct http_response *resp)
{
	struct jobmanager *jm = arg;
	struct vertex_ref v;
	int k;
	struct jm_job *job = subtask_param(jm, req, resp, &v, &k);
	if (!job)
		return;
	json_t *o = subtask_json(job, k, k - v.base, now_ms());
	pthread_mutex_unlock(&jm->mu);
	http_respond_json(resp, 200, o);
}

/* Only the current attempt is kept (Spate does not restart subtasks). */
static void h_subtask_attempt(void *arg, const struct http_request *req, struct http_response *resp)
{
	struct jobmanager *jm = arg;
	const char *a = req->nparams > 3 ? req->params[3] : "";
	int attempt;
	if (!parse_index(a, &attempt)) {
		http_respond_error(resp, 400, "bad attempt '%s': expected a non-negative integer",
		                   a);
		return;
	}
	struct vertex_ref v;
	int k;
	struct jm_job *job = subtask_param(jm, req, resp, &v, &k);
	if (!job)
		return;
	if (attempt != job->tasks[k].attempt) {
		int current = job->tasks[k].attempt;
		pthread_mutex_unlock(&jm->mu);
		http_respond_error(resp, 404,
		                   "Attempt %d of subtask %d not found (the current attempt is %d)",
		                   attempt, k - v.base, current);
		return;
	}
	json_t *o = subtask_json(job, k, k - v.base, now_ms());
	pthread_mutex_unlock(&jm->mu);
	http_respond_json(resp, 200, o);
}

/* Per TaskManager: the vertex's subtasks there (Flink's JobVertexTaskManagersHandler). */
static void h_vertex_taskmanagers(void *arg, const struct http_request *req,
                                  struct http_response *resp)
{
	struct jobmanager *jm = arg;
	struct vertex_ref v;
	struct jm_job *job = vertex_param(jm, req, resp, &v);
	if (!job)
		return;
	int64_t now = now_ms();
	int n = v.jv->parallelism;
	int *idx = xcalloc((size_t)n, sizeof *idx);
	bool *done = xcalloc((size_t)n, sizeof *done);
	json_t *tms = json_array();
	for (int i = 0; i < n; i++) {
		if (done[i])
			continue;
		const struct tm_entry *tm = job->tasks[v.base + i].tm;
		int m = 0, counts[EXEC_STATE_COUNT] = {0};
		struct span_acc acc;
		span_init(&acc);
		struct io_metrics io;
		io_init(&io);
		for (int j = i; j < n; j++) {
			const struct jm_task *t = &job->tasks[v.base + j];
			if (done[j] || t->tm != tm)
				continue;
			done[j] = true;
			idx[m++] = v.base + j;
			counts[t->state]++;
			span_add(&acc, t);
			io_add(&io, t);
		}
		struct span sp = span_get(&acc, now);
		char endpoint[96];
		task_endpoint(&job->tasks[v.base + i], endpoint, sizeof endpoint);
		json_t *o = json_object();
		json_object_set_new(o, "endpoint", json_string(endpoint));
		json_object_set_new(o, "status",
		                    json_string(execution_state_name(aggregate_state(counts, m))));
		json_object_set_new(o, "start-time", json_integer(sp.start));
		json_object_set_new(o, "end-time", json_integer(sp.end));
		json_object_set_new(o, "duration", json_integer(sp.duration));
		json_object_set_new(o, "metrics", io_json(&io));
		json_object_set_new(o, "status-counts", rest_tasks_json(counts, false));
		json_object_set_new(o, "taskmanager-id",
		                    json_string(task_tm_id(&job->tasks[v.base + i])));
		json_object_set_new(o, "aggregated", aggregated_json(job, idx, m));
		json_array_append_new(tms, o);
	}
	json_t *o = json_pack("{s:s, s:s, s:I, s:o}", "id", v.jv->id, "name", v.jv->name, "now",
	                      (json_int_t)now, "taskmanagers", tms);
	pthread_mutex_unlock(&jm->mu);
	xfree(idx);
	xfree(done);
	http_respond_json(resp, 200, o);
}

/* Flink's JobVertexBackPressureHandler.getBackPressureLevel. */
static const char *backpressure_level(double ratio)
{
	if (ratio <= 0.10)
		return "ok";
	if (ratio <= 0.5)
		return "low";
	return "high";
}

/*
 * From the subtasks' backPressured/idle/busy time per second. Like Flink, only subtasks with
 * metrics are listed, the vertex level is the highest subtask ratio, and a vertex none of
 * whose subtasks has reported yet answers {"status":"deprecated"}. "attempt-number" is
 * left out, as Flink does when a subtask has a single attempt.
 */
static void h_backpressure(void *arg, const struct http_request *req, struct http_response *resp)
{
	struct jobmanager *jm = arg;
	struct vertex_ref v;
	struct jm_job *job = vertex_param(jm, req, resp, &v);
	if (!job)
		return;
	json_t *subtasks = json_array();
	double max_ratio = 0;
	int64_t updated = 0;
	for (int i = 0; i < v.jv->parallelism; i++) {
		const struct jm_task *t = &job->tasks[v.base + i];
		if (!task_has_metrics(t))
			continue;
		const struct task_metrics *m = &t->metrics;
		double ratio = m->backpressured_ms_per_s / 1000.0;
		if (ratio > max_ratio || json_array_size(subtasks) == 0)
			max_ratio = ratio;
		if (m->updated_ms > updated)
			updated = m->updated_ms;
		json_t *s = json_object();
		json_object_set_new(s, "subtask", json_integer(i));
		json_object_set_new(s, "backpressureLevel", json_string(backpressure_level(ratio)));
		json_object_set_new(s, "ratio", jreal(ratio));
		json_object_set_new(s, "idleRatio", jreal(m->idle_ms_per_s / 1000.0));
		json_object_set_new(s, "busyRatio", jreal(m->busy_ms_per_s / 1000.0));
		json_array_append_new(subtasks, s);
	}
	pthread_mutex_unlock(&jm->mu);
	if (json_array_size(subtasks) == 0) {
		json_decref(subtasks);
		http_respond_json(resp, 200, json_pack("{s:s}", "status", "deprecated"));
		return;
	}
	http_respond_json(resp, 200,
	                  json_pack("{s:s, s:s, s:I, s:o}", "status", "ok", "backpressureLevel",
	                            backpressure_level(max_ratio), "end-timestamp",
	                            (json_int_t)updated, "subtasks", subtasks));
}

/* GET .../vertices/:vertexid/metrics[?get=<subtask>.<name>,...]. */
static void h_vertex_metrics(void *arg, const struct http_request *req, struct http_response *resp)
{
	struct jobmanager *jm = arg;
	struct vertex_ref v;
	struct jm_job *job = vertex_param(jm, req, resp, &v);
	if (!job)
		return;
	char **get;
	int nget = rest_split_list(http_query(req, "get"), &get);
	json_t *arr = json_array();
	for (int i = 0; i < v.jv->parallelism; i++) {
		const struct jm_task *t = &job->tasks[v.base + i];
		if (!task_has_metrics(t))
			continue;
		char prefix[16];
		snprintf(prefix, sizeof prefix, "%d.", i);
		metrics_collect(arr, &t->metrics, prefix, get, nget);
	}
	pthread_mutex_unlock(&jm->mu);
	rest_free_list(get, nget);
	http_respond_json(resp, 200, arr);
}

/* GET .../subtasks/:subtaskindex/metrics[?get=...]. */
static void h_subtask_metrics(void *arg, const struct http_request *req, struct http_response *resp)
{
	struct jobmanager *jm = arg;
	struct vertex_ref v;
	int k;
	struct jm_job *job = subtask_param(jm, req, resp, &v, &k);
	if (!job)
		return;
	char **get;
	int nget = rest_split_list(http_query(req, "get"), &get);
	json_t *arr = json_array();
	if (task_has_metrics(&job->tasks[k]))
		metrics_collect(arr, &job->tasks[k].metrics, "", get, nget);
	pthread_mutex_unlock(&jm->mu);
	rest_free_list(get, nget);
	http_respond_json(resp, 200, arr);
}

/* Parses Flink's subtask ranges "1,3,5-9" into sel[0..n) (true = selected). False if
 * malformed. */
static bool parse_subtask_ranges(const char *s, bool *sel, int n)
{
	char **items;
	int nitems = rest_split_list(s, &items);
	bool ok = nitems > 0;
	for (int i = 0; ok && i < nitems; i++) {
		char *dash = strchr(items[i], '-');
		int lo, hi;
		if (dash) {
			*dash = '\0';
			ok = parse_index(items[i], &lo) && parse_index(dash + 1, &hi) && lo <= hi;
		} else {
			ok = parse_index(items[i], &lo);
			hi = lo;
		}
		for (int j = lo; ok && j <= hi && j < n; j++)
			sel[j] = true;
	}
	rest_free_list(items, nitems);
	return ok;
}

enum { MAGG_MIN = 1, MAGG_MAX = 2, MAGG_AVG = 4, MAGG_SUM = 8, MAGG_SKEW = 16 };

/* Flink's DoubleDataSkew: mean absolute deviation over the mean, in percent, at most 100. */
static double skew_of(const double *v, int n)
{
	double sum = 0;
	for (int i = 0; i < n; i++)
		sum += v[i];
	double avg = sum / n;
	if (avg == 0.0)
		return 0.0;
	double dev = 0;
	for (int i = 0; i < n; i++)
		dev += fabs(avg - v[i]);
	double s = dev / n / avg * 100.0;
	return s < 100.0 ? s : 100.0;
}

/*
 * GET .../subtasks/metrics[?get=a,b&agg=min,max,sum,avg,skew&subtasks=0-2]. Without get:
 * the ids the selected subtasks have. With get: per metric {"id", <agg>: number} over the
 * selected subtasks that have it. As in Flink, a requested metric no selected subtask has
 * makes the whole answer empty, and no agg means all five.
 */
static void h_subtasks_metrics(void *arg, const struct http_request *req,
                               struct http_response *resp)
{
	struct jobmanager *jm = arg;
	static const struct {
		const char *name;
		int bit;
	} aggs[] = {{"min", MAGG_MIN},
	            {"max", MAGG_MAX},
	            {"avg", MAGG_AVG},
	            {"sum", MAGG_SUM},
	            {"skew", MAGG_SKEW}};
	enum { NAGGS = sizeof aggs / sizeof *aggs };
	char **items;
	int nitems = rest_split_list(http_query(req, "agg"), &items);
	int want = nitems == 0 ? MAGG_MIN | MAGG_MAX | MAGG_AVG | MAGG_SUM | MAGG_SKEW : 0;
	for (int i = 0; i < nitems; i++) {
		int a = 0;
		while (a < NAGGS && strcasecmp(items[i], aggs[a].name) != 0)
			a++;
		if (a == NAGGS) {
			http_respond_error(resp, 400,
			                   "bad agg '%s': expected a comma-separated list of min, "
			                   "max, sum, avg, skew",
			                   items[i]);
			rest_free_list(items, nitems);
			return;
		}
		want |= aggs[a].bit;
	}
	rest_free_list(items, nitems);
	const char *ranges = http_query(req, "subtasks");
	struct vertex_ref v;
	struct jm_job *job = vertex_param(jm, req, resp, &v);
	if (!job)
		return;
	int n = v.jv->parallelism;
	bool *sel = xcalloc((size_t)n, sizeof *sel);
	if (ranges && *ranges) {
		if (!parse_subtask_ranges(ranges, sel, n)) {
			pthread_mutex_unlock(&jm->mu);
			xfree(sel);
			http_respond_error(
			    resp, 400,
			    "bad subtasks '%s': expected comma-separated indexes and "
			    "ranges such as 1,3,5-9",
			    ranges);
			return;
		}
	} else {
		for (int i = 0; i < n; i++)
			sel[i] = true;
	}
	char **get;
	int nget = rest_split_list(http_query(req, "get"), &get);
	json_t *arr = json_array();
	bool any = false;
	for (int i = 0; i < n; i++)
		any |= sel[i] && task_has_metrics(&job->tasks[v.base + i]);
	if (nget == 0 && any) {
		for (size_t m = 0; m < NMETRICS; m++)
			json_array_append_new(arr, json_pack("{s:s}", "id", metric_defs[m].name));
	}
	double *vals = xcalloc((size_t)n, sizeof *vals);
	for (int g = 0; g < nget; g++) {
		int nv = 0;
		for (int i = 0; i < n; i++) {
			const struct jm_task *t = &job->tasks[v.base + i];
			char buf[64];
			if (sel[i] && task_has_metrics(t) &&
			    metric_value(&t->metrics, get[g], buf, sizeof buf, &vals[nv]))
				nv++;
		}
		if (nv == 0) {
			json_array_clear(arr);
			break;
		}
		double mn = vals[0], mx = vals[0], sum = 0;
		for (int i = 0; i < nv; i++) {
			mn = vals[i] < mn ? vals[i] : mn;
			mx = vals[i] > mx ? vals[i] : mx;
			sum += vals[i];
		}
		json_t *o = json_pack("{s:s}", "id", get[g]);
		if (want & MAGG_MIN)
			json_object_set_new(o, "min", jreal(mn));
		if (want & MAGG_MAX)
			json_object_set_new(o, "max", jreal(mx));
		if (want & MAGG_AVG)
			json_object_set_new(o, "avg", jreal(sum / nv));
		if (want & MAGG_SUM)
			json_object_set_new(o, "sum", jreal(sum));
		if (want & MAGG_SKEW)
			json_object_set_new(o, "skew", jreal(skew_of(vals, nv)));
		json_array_append_new(arr, o);
	}
	pthread_mutex_unlock(&jm->mu);
	xfree(vals);
	xfree(sel);
	rest_free_list(get, nget);
	http_respond_json(resp, 200, arr);
}

/* Spate has no watermarks (no event time): no currentInputWatermark metrics to list. */
static void h_watermarks(void *arg, const struct http_request *req, struct http_response *resp)
{
	struct jobmanager *jm = arg;
	struct vertex_ref v;
	if (!vertex_param(jm, req, resp, &v))
		return;
	pthread_mutex_unlock(&jm->mu);
	http_respond_json(resp, 200, json_array());
}

static void h_vertex_accumulators(void *arg, const struct http_request *req,
                                  struct http_response *resp)
{
	struct jobmanager *jm = arg;
	struct vertex_ref v;
	if (!vertex_param(jm, req, resp, &v))
		return;
	json_t *o = json_pack("{s:s, s:[]}", "id", v.jv->id, "user-accumulators");
	pthread_mutex_unlock(&jm->mu);
	http_respond_json(resp, 200, o);
}

static void h_subtasks_accumulators(void *arg, const struct http_request *req,
                                    struct http_response *resp)
{
	struct jobmanager *jm = arg;
	struct vertex_ref v;
	struct jm_job *job = vertex_param(jm, req, resp, &v);
	if (!job)
		return;
	json_t *subtasks = json_array();
	for (int i = 0; i < v.jv->parallelism; i++) {
		const struct jm_task *t = &job->tasks[v.base + i];
		char endpoint[96];
		task_endpoint(t, endpoint, sizeof endpoint);
		json_array_append_new(subtasks, json_pack("{s:i, s:i, s:s, s:[]}", "subtask", i,
		                                          "attempt", t->attempt, "endpoint",
		                                          endpoint, "user-accumulators"));
	}
	json_t *o = json_pack("{s:s, s:i, s:o}", "id", v.jv->id, "parallelism", v.jv->parallelism,
	                      "subtasks", subtasks);
	pthread_mutex_unlock(&jm->mu);
	http_respond_json(resp, 200, o);
}

/* GET .../subtasktimes: when each subtask entered each state it went through. */
static void h_subtask_times(void *arg, const struct http_request *req, struct http_response *resp)
{
	struct jobmanager *jm = arg;
	struct vertex_ref v;
	struct jm_job *job = vertex_param(jm, req, resp, &v);
	if (!job)
		return;
	int64_t now = now_ms();
	json_t *subtasks = json_array();
	for (int i = 0; i < v.jv->parallelism; i++) {
		const struct jm_task *t = &job->tasks[v.base + i];
		json_t *ts = json_object();
		for (int s = 0; s < EXEC_STATE_COUNT; s++)
			if (t->state_ms[s])
				json_object_set_new(ts,
				                    execution_state_name((enum execution_state)s),
				                    json_integer(t->state_ms[s]));
		char endpoint[96];
		task_endpoint(t, endpoint, sizeof endpoint);
		int64_t start = t->state_ms[EXEC_CREATED];
		int64_t end = t->end_ms ? t->end_ms : now;
		json_array_append_new(
		    subtasks, json_pack("{s:i, s:s, s:s, s:I, s:o}", "subtask", i, "host", endpoint,
		                        "endpoint", endpoint, "duration",
		                        (json_int_t)(start ? end - start : -1), "timestamps", ts));
	}
	json_t *o = json_pack("{s:s, s:s, s:I, s:o}", "id", v.jv->id, "name", v.jv->name, "now",
	                      (json_int_t)now, "subtasks", subtasks);
	pthread_mutex_unlock(&jm->mu);
	http_respond_json(resp, 200, o);
}

void rest_jobs_register(struct jobmanager *jm, struct http_server *s)
{
	static const struct {
		const char *path;
		http_handler h;
	} routes[] = {
	    {"/jobs/:jobid", h_job},
	    {"/jobs/:jobid/plan", h_plan},
	    {"/jobs/:jobid/config", h_config},
	    {"/jobs/:jobid/exceptions", h_exceptions},
	    {"/jobs/:jobid/accumulators", h_accumulators},
	    {"/jobs/:jobid/checkpoints", h_checkpoints},
	    {"/jobs/:jobid/checkpoints/config", h_checkpoint_config},
	    {"/jobs/:jobid/checkpoints/details/:checkpointid", h_checkpoint_details},
	    {"/jobs/:jobid/checkpoints/details/:checkpointid/subtasks/:vertexid",
	     h_checkpoint_task},
	    {"/jobs/:jobid/savepoints/:triggerid", h_savepoint_status},
	    {"/jobs/:jobid/metrics", h_job_metrics},
	    {"/jobs/:jobid/jobmanager/config", h_job_jm_config},
	    {"/jobs/:jobid/vertices/:vertexid", h_vertex},
	    {"/jobs/:jobid/vertices/:vertexid/taskmanagers", h_vertex_taskmanagers},
	    {"/jobs/:jobid/vertices/:vertexid/backpressure", h_backpressure},
	    {"/jobs/:jobid/vertices/:vertexid/subtasktimes", h_subtask_times},
	    {"/jobs/:jobid/vertices/:vertexid/metrics", h_vertex_metrics},
	    {"/jobs/:jobid/vertices/:vertexid/watermarks", h_watermarks},
	    {"/jobs/:jobid/vertices/:vertexid/accumulators", h_vertex_accumulators},
	    {"/jobs/:jobid/vertices/:vertexid/subtasks/metrics", h_subtasks_metrics},
	    {"/jobs/:jobid/vertices/:vertexid/subtasks/accumulators", h_subtasks_accumulators},
	    {"/jobs/:jobid/vertices/:vertexid/subtasks/:subtaskindex", h_subtask},
	    {"/jobs/:jobid/vertices/:vertexid/subtasks/:subtaskindex/metrics", h_subtask_metrics},
	    {"/jobs/:jobid/vertices/:vertexid/subtasks/:subtaskindex/attempts/:attempt",
	     h_subtask_attempt},
	};
	for (size_t i = 0; i < sizeof routes / sizeof *routes; i++)
		http_server_route(s, "GET", routes[i].path, routes[i].h, jm);
	http_server_route(s, "POST", "/jobs/:jobid/savepoints", h_savepoint_trigger, jm);
	http_server_route(s, "POST", "/jobs/:jobid/stop", h_stop, jm);
}
