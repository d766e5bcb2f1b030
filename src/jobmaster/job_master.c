/*
 * job_master.c - one JobMaster per job: requests slots from the ResourceManager honouring
 * slot sharing, deploys the subtasks to TaskManagers, tracks ExecutionState per subtask and
 * JobStatus per job with Flink's names, transitions and log lines, cancels, fails the job
 * when a task fails or a TaskManager is lost, and frees the slots when every TaskManager has
 * released the job. The JobMaster's thread runs master_main; the other entry points are
 * called by the ResourceManager's reader threads and the Dispatcher with jm->mu held.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

#include "cluster/jobmanager.h"
#include "core/alloc.h"
#include "core/log.h"
#include "graph/graph_codec.h"
#include "runtime/local_job.h"

static void set_status(struct jm_job *job, enum job_status to)
{
	if (job->status == to)
		return;
	log_info("Job %s (%s) switched from state %s to %s.", job->name, job->id,
	         job_status_name(job->status), job_status_name(to));
	job->status = to;
	job->timestamps[to] = now_ms();
	if (job_status_is_globally_terminal(to)) {
		job->end_ms = now_ms();
		log_info("Job %s reached terminal state %s.", job->id, job_status_name(to));
	}
}

/* Subtask k's vertex and index; its attempt id (Flink's
 * <execution graph id>_<vertex id>_<subtask>_<attempt>) in attempt (may be NULL). */
static struct job_vertex *locate_task(const struct jm_job *job, int k, int *subtask,
                                      char attempt[160])
{
	int v = 0, base = 0;
	while (v < job->jg->nvertices && base + job->jg->vertices[v]->parallelism <= k)
		base += job->jg->vertices[v++]->parallelism;
	struct job_vertex *jv = job->jg->vertices[v];
	*subtask = k - base;
	if (attempt)
		snprintf(attempt, 160, "%.16s%.16s_%s_%d_%d", job->id + 16, job->id, jv->id,
		         k - base, job->tasks[k].attempt);
	return jv;
}

/* "<vertex name> (i/n) (<attempt id>)", as Flink's task log lines name a subtask. */
static void task_name(const struct jm_job *job, int k, char *buf, size_t cap)
{
	int s;
	char attempt[160];
	struct job_vertex *jv = locate_task(job, k, &s, attempt);
	snprintf(buf, cap, "%s (%d/%d) (%s)", jv->name, s + 1, jv->parallelism, attempt);
}

static void set_task(struct jm_job *job, int k, enum execution_state to)
{
	struct jm_task *t = &job->tasks[k];
	if (t->state == to || execution_state_is_terminal(t->state))
		return;
	char name[512];
	task_name(job, k, name, sizeof name);
	if (to == EXEC_FAILED && t->tm)
		log_info("%s switched from %s to %s on %s @ %s (dataPort=%d).", name,
		         execution_state_name(t->state), execution_state_name(to),
		         t->tm->resource_id, t->tm->host, t->tm->data_port);
	else
		log_info("%s switched from %s to %s.", name, execution_state_name(t->state),
		         execution_state_name(to));
	t->state = to;
	t->state_ms[to] = now_ms();
	if (to == EXEC_RUNNING || to == EXEC_INITIALIZING)
		t->start_ms = t->start_ms ? t->start_ms : now_ms();
	if (execution_state_is_terminal(to))
		t->end_ms = now_ms();
}

static bool all_tasks_terminal(const struct jm_job *job)
{
	for (int k = 0; k < job->ntasks; k++)
		if (!execution_state_is_terminal(job->tasks[k].state))
			return false;
	return true;
}

static void send_cancel(struct jm_job *job)
{
	Spate__Rpc__CancelJob c = SPATE__RPC__CANCEL_JOB__INIT;
	uint8_t id[16];
	job_id_to_bytes(job->id, id);
	c.job_id.data = id;
	c.job_id.len = 16;
	for (int i = 0; i < job->ninvolved; i++)
		if (job->involved[i]->registered && !job->released[i])
			rpc_send_body(job->involved[i]->conn, SPATE__RPC__ENVELOPE__BODY_CANCEL_JOB,
			              &c);
}

/* Caller holds mu: the first failure wins; the job goes FAILING and the rest is canceled. */
static void fail_job(struct jm_job *job, const char *why)
{
	if (!job->failure)
		job->failure = xstrdup(why);
	if (job->status == JOB_RUNNING || job->status == JOB_CREATED ||
	    job->status == JOB_CANCELLING) {
		set_status(job, JOB_FAILING);
		for (int k = 0; k < job->ntasks; k++) {
			enum execution_state s = job->tasks[k].state;
			if (s == EXEC_CREATED || s == EXEC_SCHEDULED)
				set_task(job, k, EXEC_CANCELED);
			else if (!execution_state_is_terminal(s))
				set_task(job, k, EXEC_CANCELING);
		}
		send_cancel(job);
	}
}

void jobmaster_cancel(struct jobmanager *jm, struct jm_job *job)
{
	if (job_status_is_globally_terminal(job->status) || job->status == JOB_FAILING ||
	    job->status == JOB_CANCELLING)
		return;
	job->cancel_requested = true;
	if (job->status == JOB_RUNNING) {
		set_status(job, JOB_CANCELLING);
		for (int k = 0; k < job->ntasks; k++) {
			enum execution_state s = job->tasks[k].state;
			if (s == EXEC_CREATED || s == EXEC_SCHEDULED)
				set_task(job, k, EXEC_CANCELED);
			else if (!execution_state_is_terminal(s))
				set_task(job, k, EXEC_CANCELING);
		}
		send_cancel(job);
	}
	pthread_cond_broadcast(&jm->cond);
}

static int task_index(const struct jm_job *job, int vertex, int subtask)
{
	if (vertex < 0 || vertex >= job->jg->nvertices)
		return -1;
	if (subtask < 0 || subtask >= job->jg->vertices[vertex]->parallelism)
		return -1;
	int base = 0;
	for (int v = 0; v < vertex; v++)
		base += job->jg->vertices[v]->parallelism;
	return base + subtask;
}

void jobmaster_task_metrics(struct jobmanager *jm, struct tm_entry *tm,
                            const Spate__Rpc__TaskMetricsSample *s, bool final)
{
	char job_id[33];
	if (job_id_from_bytes(s->job_id, job_id) < 0)
		return;
	struct jm_job *job = dispatcher_find(jm, job_id);
	int k = job && job->jg ? task_index(job, (int)s->vertex, (int)s->subtask) : -1;
	if (k < 0 || job->tasks[k].tm != tm || job->tasks[k].attempt != (int)s->attempt)
		return; /* a stale sample (the job or attempt is gone): dropped */
	/* A periodic report read before the subtask ended may arrive after its final
	 * counters (which travel with the terminal state): the final ones stay. */
	if (!final && execution_state_is_terminal(job->tasks[k].state))
		return;
	struct task_metrics *m = &job->tasks[k].metrics;
	m->records_in = s->records_in;
	m->records_out = s->records_out;
	m->bytes_in = s->bytes_in;
	m->bytes_out = s->bytes_out;
	m->busy_ms = s->busy_ms;
	m->idle_ms = s->idle_ms;
	m->backpressured_ms = s->backpressured_ms;
	m->records_in_per_s = s->records_in_per_s;
	m->records_out_per_s = s->records_out_per_s;
	m->bytes_in_per_s = s->bytes_in_per_s;
	m->bytes_out_per_s = s->bytes_out_per_s;
	m->busy_ms_per_s = s->busy_ms_per_s;
	m->idle_ms_per_s = s->idle_ms_per_s;
	m->backpressured_ms_per_s = s->backpressured_ms_per_s;
	m->in_pool_usage = s->in_pool_usage;
	m->out_pool_usage = s->out_pool_usage;
	m->updated_ms = now_ms();
}

void jobmaster_task_state(struct jobmanager *jm, struct tm_entry *tm, const char *job_id,
                          int vertex, int subtask, int attempt, enum execution_state to,
                          const char *failure)
{
	struct jm_job *job = dispatcher_find(jm, job_id);
	int k = job && job->jg ? task_index(job, vertex, subtask) : -1;
	if (k < 0 || job->tasks[k].tm != tm || job->tasks[k].attempt != attempt) {
		log_warn("Ignoring a state update from %s for unknown task %s/%d/%d",
		         tm->resource_id, job_id, vertex, subtask);
		return;
	}
	struct jm_task *t = &job->tasks[k];
	if (execution_state_is_terminal(t->state))
		return;
	if (t->state == EXEC_CANCELING && !execution_state_is_terminal(to))
		return;
	if (to == EXEC_FAILED) {
		xfree(t->failure);
		t->failure = xstrdup(failure && *failure ? failure : "unknown failure");
	}
	set_task(job, k, to);
	if (to == EXEC_FAILED)
		fail_job(job, t->failure);
	pthread_cond_broadcast(&jm->cond);
}

void jobmaster_released(struct jobmanager *jm, struct tm_entry *tm, const char *job_id)
{
	struct jm_job *job = dispatcher_find(jm, job_id);
	if (!job)
		return;
	for (int i = 0; i < job->ninvolved; i++)
		if (job->involved[i] == tm)
			job->released[i] = true;
	pthread_cond_broadcast(&jm->cond);
}

void jobmaster_tm_lost(struct jobmanager *jm, struct tm_entry *tm, const char *reason)
{
	for (struct jm_job *job = jm->jobs; job; job = job->next) {
		for (int i = 0; i < job->ninvolved; i++)
			if (job->involved[i] == tm)
				job->released[i] = true;
		if (job_status_is_globally_terminal(job->status) || !job->tasks)
			continue;
		char *why = NULL;
		for (int k = 0; k < job->ntasks; k++) {
			struct jm_task *t = &job->tasks[k];
			if (t->tm != tm || execution_state_is_terminal(t->state))
				continue;
			if (!why)
				why = xasprintf("TaskManager %s @ %s (dataPort=%d) is lost: %s",
				                tm->resource_id, tm->host, tm->data_port, reason);
			xfree(t->failure);
			t->failure = xstrdup(why);
			set_task(job, k, EXEC_FAILED);
		}
		if (why)
			fail_job(job, why);
		xfree(why);
	}
	pthread_cond_broadcast(&jm->cond);
}

/* ---- the JobMaster's thread --------------------------------------------------------------- */

struct slot_ref {
	struct tm_entry *tm;
	int slot;
};

/* Takes `n` free slots, TaskManager by TaskManager in registration order. Caller holds mu
 * and has checked that enough are free. */
static void take_slots(struct jobmanager *jm, struct jm_job *job, struct slot_ref *out, int n)
{
	int got = 0;
	for (struct tm_entry *tm = jm->tms; tm && got < n; tm = tm->next)
		for (int s = 0; s < tm->nslots && got < n; s++)
			if (!tm->slot_job[s]) {
				tm->slot_job[s] = job;
				out[got].tm = tm;
				out[got].slot = s;
				got++;
			}
}

static void add_involved(struct jm_job *job, struct tm_entry *tm)
{
	for (int i = 0; i < job->ninvolved; i++)
		if (job->involved[i] == tm)
			return;
	job->involved =
	    xrealloc(job->involved, (size_t)(job->ninvolved + 1) * sizeof *job->involved);
	job->released =
	    xrealloc(job->released, (size_t)(job->ninvolved + 1) * sizeof *job->released);
	job->involved[job->ninvolved] = tm;
	job->released[job->ninvolved] = false;
	job->ninvolved++;
}

/* Maps subtasks to slots: subtask i of every vertex of slot sharing group g runs in the
 * group's i-th slot; the groups' slots follow each other in order of first appearance. */
static void assign(struct jm_job *job, const struct slot_ref *slots)
{
	struct job_graph *jg = job->jg;
	const char **groups = xcalloc((size_t)jg->nvertices, sizeof *groups);
	int *base = xcalloc((size_t)jg->nvertices, sizeof *base);
	int ngroups = 0, next = 0;
	for (int v = 0; v < jg->nvertices; v++) {
		int g = 0;
		while (g < ngroups && strcmp(groups[g], jg->vertices[v]->slot_sharing_group) != 0)
			g++;
		if (g == ngroups) {
			groups[ngroups] = jg->vertices[v]->slot_sharing_group;
			int maxp = 0;
			for (int w = v; w < jg->nvertices; w++)
				if (strcmp(jg->vertices[w]->slot_sharing_group, groups[ngroups]) ==
				        0 &&
				    jg->vertices[w]->parallelism > maxp)
					maxp = jg->vertices[w]->parallelism;
			base[ngroups++] = next;
			next += maxp;
		}
		for (int i = 0; i < jg->vertices[v]->parallelism; i++) {
			int k = task_index(job, v, i);
			job->tasks[k].tm = slots[base[g] + i].tm;
			job->tasks[k].slot = slots[base[g] + i].slot;
			add_involved(job, slots[base[g] + i].tm);
		}
	}
	xfree(groups);
	xfree(base);
}

static void allocation_id(const struct jm_job *job, const struct jm_task *t, char out[33])
{
	char seed[160];
	snprintf(seed, sizeof seed, "%s/%s/%d", job->id, t->tm->resource_id, t->slot);
	blob_key_of(seed, strlen(seed), out);
}

/* Sends every involved TaskManager its subtasks. Caller holds mu. */
static void deploy(struct jobmanager *jm, struct jm_job *job)
{
	uint8_t id[16];
	job_id_to_bytes(job->id, id);
	Spate__Rpc__SubtaskLocation *locs = xcalloc((size_t)job->ntasks, sizeof *locs);
	Spate__Rpc__SubtaskLocation **locp = xcalloc((size_t)job->ntasks, sizeof *locp);
	for (int k = 0; k < job->ntasks; k++) {
		spate__rpc__subtask_location__init(&locs[k]);
		locs[k].resource_id = job->tasks[k].tm->resource_id;
		locs[k].host = job->tasks[k].tm->host;
		locs[k].data_port = (uint32_t)job->tasks[k].tm->data_port;
		locp[k] = &locs[k];
	}
	Spate__Rpc__TaskDeployment *tds = xcalloc((size_t)job->ntasks, sizeof *tds);
	Spate__Rpc__TaskDeployment **tdp = xcalloc((size_t)job->ntasks, sizeof *tdp);
	char(*alloc_ids)[33] = xcalloc((size_t)job->ntasks, sizeof *alloc_ids);
	for (int i = 0; i < job->ninvolved; i++) {
		struct tm_entry *tm = job->involved[i];
		Spate__Rpc__DeployTasks d = SPATE__RPC__DEPLOY_TASKS__INIT;
		d.job_id.data = id;
		d.job_id.len = 16;
		d.job_name = job->name;
		d.graph.data = job->graph;
		d.graph.len = job->graph_len;
		d.blob_key = job->blob_key;
		d.blob_size = job->blob_size;
		d.locations = locp;
		d.n_locations = (size_t)job->ntasks;
		d.tasks = tdp;
		size_t n = 0;
		for (int k = 0; k < job->ntasks; k++) {
			struct jm_task *t = &job->tasks[k];
			if (t->tm != tm)
				continue;
			int s;
			char attempt_id[160];
			struct job_vertex *jv = locate_task(job, k, &s, attempt_id);
			allocation_id(job, t, alloc_ids[k]);
			spate__rpc__task_deployment__init(&tds[n]);
			tds[n].vertex = (uint32_t)jv->index;
			tds[n].subtask = (uint32_t)s;
			tds[n].attempt = (uint32_t)t->attempt;
			tds[n].slot = (uint32_t)t->slot;
			tds[n].allocation_id = alloc_ids[k];
			tdp[n] = &tds[n];
			n++;
			set_task(job, k, EXEC_DEPLOYING);
			log_info(
			    "Deploying %s (%d/%d) (attempt #%d) with attempt id %s and vertex id "
			    "%s_%d to %s @ %s (dataPort=%d) with allocation id %s",
			    jv->name, s + 1, jv->parallelism, t->attempt, attempt_id, jv->id, s,
			    tm->resource_id, tm->host, tm->data_port, alloc_ids[k]);
		}
		d.n_tasks = n;
		if (rpc_send_body(tm->conn, SPATE__RPC__ENVELOPE__BODY_DEPLOY, &d) < 0) {
			char *why = xasprintf("cannot deploy to TaskManager %s: connection lost",
			                      tm->resource_id);
			fail_job(job, why);
			xfree(why);
		}
	}
	xfree(alloc_ids);
	xfree(tds);
	xfree(tdp);
	xfree(locs);
	xfree(locp);
}

static bool all_released(const struct jm_job *job)
{
	for (int i = 0; i < job->ninvolved; i++)
		if (!job->released[i] && job->involved[i]->registered)
			return false;
	return true;
}

static void free_slots(struct jobmanager *jm, struct jm_job *job)
{
	for (struct tm_entry *tm = jm->tms; tm; tm = tm->next)
		for (int s = 0; s < tm->nslots; s++)
			if (tm->slot_job[s] == job)
				tm->slot_job[s] = NULL;
	job->slots_freed = true;
	pthread_cond_broadcast(&jm->cond);
}

static void timed_wait(struct jobmanager *jm, int64_t deadline_ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	int64_t wait = deadline_ms - now_ms();
	if (wait > 1000)
		wait = 1000;
	if (wait < 1)
		wait = 1;
	int64_t ns = ts.tv_nsec + wait * 1000000;
	ts.tv_sec += ns / 1000000000;
	ts.tv_nsec = ns % 1000000000;
	pthread_cond_timedwait(&jm->cond, &jm->mu, &ts);
}

static void *master_main(void *arg)
{
	struct jobmanager *jm = ((void **)arg)[0];
	struct jm_job *job = ((void **)arg)[1];
	xfree(arg);
	log_set_thread_name("JobMaster");
	pthread_mutex_lock(&jm->mu);
	set_status(job, JOB_CREATED);
	if (job->cancel_requested) {
		set_status(job, JOB_CANCELLING);
		for (int k = 0; k < job->ntasks; k++)
			set_task(job, k, EXEC_CANCELED);
		set_status(job, JOB_CANCELED);
		goto done;
	}
	set_status(job, JOB_RUNNING);
	for (int k = 0; k < job->ntasks; k++)
		set_task(job, k, EXEC_SCHEDULED);

	int64_t deadline = now_ms() + jm->slot_request_timeout_ms;
	while (!job->cancel_requested && !atomic_load(&jm->stopping) &&
	       rm_free_slots(jm) < job->nslots_needed && now_ms() < deadline)
		timed_wait(jm, deadline);
	if (job->cancel_requested || atomic_load(&jm->stopping)) {
		set_status(job, JOB_CANCELLING);
		for (int k = 0; k < job->ntasks; k++)
			set_task(job, k, EXEC_CANCELED);
		set_status(job, JOB_CANCELED);
		goto done;
	}
	if (rm_free_slots(jm) < job->nslots_needed) {
		char *why = xasprintf("NoResourceAvailableException: Could not acquire the minimum "
		                      "required resources "
		                      "within slot.request.timeout (%lld ms): the job needs %d "
		                      "slots, the cluster has "
		                      "%d slots on %d TaskManagers, %d of them free",
		                      (long long)jm->slot_request_timeout_ms, job->nslots_needed,
		                      rm_total_slots(jm), rm_count_tms(jm), rm_free_slots(jm));
		log_info("%s", why);
		for (int k = 0; k < job->ntasks; k++) {
			job->tasks[k].failure = xstrdup(why);
			set_task(job, k, EXEC_FAILED);
		}
		job->failure = why;
		set_status(job, JOB_FAILING);
		set_status(job, JOB_FAILED);
		goto done;
	}
	struct slot_ref *slots = xcalloc((size_t)job->nslots_needed, sizeof *slots);
	take_slots(jm, job, slots, job->nslots_needed);
	assign(job, slots);
	xfree(slots);
	deploy(jm, job);

	while (!all_tasks_terminal(job))
		pthread_cond_wait(&jm->cond, &jm->mu);
	/* A TaskManager cancels a job on its own only when something broke (its JobManager
	 * connection or a data connection): without a cancel request that is a failure. */
	for (int k = 0; k < job->ntasks && !job->failure && !job->cancel_requested; k++)
		if (job->tasks[k].state == EXEC_CANCELED) {
			char name[512];
			task_name(job, k, name, sizeof name);
			job->failure =
			    xasprintf("%s was canceled by TaskManager %s without a request "
			              "(a data connection failed)",
			              name, job->tasks[k].tm ? job->tasks[k].tm->resource_id : "?");
		}
	if (job->failure) {
		set_status(job, JOB_FAILING);
		set_status(job, JOB_FAILED);
	} else if (job->cancel_requested) {
		set_status(job, JOB_CANCELLING);
		set_status(job, JOB_CANCELED);
	} else {
		set_status(job, JOB_FINISHED);
	}
	if (job->status != JOB_FINISHED)
		send_cancel(job); /* TaskManagers that still hold the job drop it */
	while (!all_released(job) && !atomic_load(&jm->stopping))
		pthread_cond_wait(&jm->cond, &jm->mu);
done:
	free_slots(jm, job);
	pthread_mutex_unlock(&jm->mu);
	return NULL;
}

int jobmaster_start(struct jobmanager *jm, struct jm_job *job, struct spate_error *err)
{
	void **arg = xmalloc(2 * sizeof *arg);
	arg[0] = jm;
	arg[1] = job;
	if (pthread_create(&job->master, NULL, master_main, arg) != 0) {
		xfree(arg);
		return error_set(err, SPATE_EIO, "cannot start the JobMaster's thread");
	}
	return 0;
}

void jm_job_free(struct jm_job *job)
{
	if (!job)
		return;
	for (int k = 0; k < job->ntasks; k++)
		xfree(job->tasks[k].failure);
	xfree(job->tasks);
	execution_graph_free(job->eg);
	job_graph_free(job->jg);
	stream_graph_free(job->sg);
	xfree(job->graph);
	xfree(job->involved);
	xfree(job->released);
	xfree(job->failure);
	xfree(job->name);
	xfree(job);
}
