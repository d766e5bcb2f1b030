/*
 * job_master.c - one JobMaster per job: requests slots from the ResourceManager honouring
 * slot sharing, deploys the subtasks to TaskManagers, tracks ExecutionState per subtask and
 * JobStatus per job with Flink's names, transitions and log lines, coordinates checkpoints
 * and savepoints, restores state, restarts the job after failures as its restart strategy
 * allows, cancels, and frees the slots when every TaskManager has released the job.
 *
 * DESIGN. The JobMaster's thread runs master_main: it owns the job's life cycle (start,
 * restore, deploy, checkpoint triggering and finalization, restarts, the end). The other
 * entry points (jobmaster_*) are called by the ResourceManager's reader threads, the
 * Dispatcher and REST with jm->mu held; they record what happened, decide failover at once
 * (a failure while RUNNING goes to RESTARTING or FAILING right there, so cancellation starts
 * without a thread hop) and broadcast jm->cond. The JobMaster's thread waits on jm->cond, with
 * a deadline for its timers (the next periodic checkpoint, a pending checkpoint's timeout,
 * the restart delay). It releases jm->mu only for disk work: reading and verifying a
 * checkpoint at restore, writing `_metadata`, removing discarded checkpoint files; after
 * relocking it looks at the whole job again before waiting.
 *
 * Failover (Flink 2.x's DefaultScheduler, full restart): RUNNING -> RESTARTING; the
 * remaining tasks are canceled; once every task is terminal and every live TaskManager
 * released the job, and the restart delay passed, the slots are returned and taken again,
 * every subtask gets a new attempt restored from the latest completed checkpoint, and the
 * job goes RESTARTING -> RUNNING.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "checkpoint/coordinator.h"
#include "checkpoint/metadata.h"
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

/* TaskManagers that still hold the job: involved, alive, not yet released. */
static bool tm_holds_job(const struct jm_job *job, int i)
{
	return job->involved[i]->registered && !job->released[i];
}

static void send_cancel(struct jm_job *job)
{
	Spate__Rpc__CancelJob c = SPATE__RPC__CANCEL_JOB__INIT;
	uint8_t id[16];
	job_id_to_bytes(job->id, id);
	c.job_id.data = id;
	c.job_id.len = 16;
	for (int i = 0; i < job->ninvolved; i++)
		if (tm_holds_job(job, i))
			rpc_send_body(job->involved[i]->conn, SPATE__RPC__ENVELOPE__BODY_CANCEL_JOB,
			              &c);
}

/* Every task not yet terminal is canceled: never started ones at once (Flink's
 * Execution.cancel() for CREATED and SCHEDULED), the others via their TaskManagers. */
static void cancel_tasks(struct jm_job *job)
{
	for (int k = 0; k < job->ntasks; k++) {
		enum execution_state s = job->tasks[k].state;
		if (s == EXEC_CREATED || s == EXEC_SCHEDULED)
			set_task(job, k, EXEC_CANCELED);
		else if (!execution_state_is_terminal(s))
			set_task(job, k, EXEC_CANCELING);
	}
	send_cancel(job);
}

/* Caller holds mu: the first failure wins; the job goes FAILING and the rest is canceled. */
static void fail_job(struct jm_job *job, const char *why)
{
	if (!job->failure)
		job->failure = xstrdup(why);
	if (job->status == JOB_RUNNING || job->status == JOB_CREATED ||
	    job->status == JOB_CANCELLING || job->status == JOB_RESTARTING) {
		set_status(job, JOB_FAILING);
		cancel_tasks(job);
	}
}

/* Appends a failure to the exception history (k: the failed subtask, or -1). */
static void record_exception(struct jm_job *job, int k, const char *why, bool restarted)
{
	if (job->nexceptions == JM_EXCEPTION_HISTORY) {
		struct jm_exception *old = &job->exceptions[0];
		xfree(old->message);
		xfree(old->task_name);
		xfree(old->endpoint);
		xfree(old->tm_id);
		memmove(job->exceptions, job->exceptions + 1,
		        (JM_EXCEPTION_HISTORY - 1) * sizeof *job->exceptions);
		job->nexceptions--;
	}
	struct jm_exception *e = &job->exceptions[job->nexceptions++];
	memset(e, 0, sizeof *e);
	e->timestamp_ms = now_ms();
	e->message = xstrdup(why);
	e->restarted = restarted;
	if (k >= 0) {
		int s;
		struct job_vertex *jv = locate_task(job, k, &s, NULL);
		const struct jm_task *t = &job->tasks[k];
		e->task_name = xasprintf("%s (%d/%d)", jv->name, s + 1, jv->parallelism);
		e->attempt = t->attempt;
		if (t->tm) {
			e->endpoint = xasprintf("%s:%d", t->tm->host, t->tm->data_port);
			e->tm_id = xstrdup(t->tm->resource_id);
		}
	}
}

/* Uniform in [0, 1), for the restart strategy's jitter (caller holds mu). */
static double jitter_unit(void)
{
	static uint64_t x;
	if (!x)
		x = (uint64_t)now_ms() * 0x9E3779B97F4A7C15ull ^ (uint64_t)getpid();
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return (double)(x >> 11) / 9007199254740992.0;
}

/*
 * Caller holds mu: a failure of subtask k (or of the whole job, k = -1). While RUNNING the
 * restart strategy decides: RESTARTING (the JobMaster's thread restarts the job once the
 * tasks are down and the delay passed) or FAILING. A failure while the job already restarts
 * or fails is one of the same cause and changes nothing.
 */
static void job_failure(struct jobmanager *jm, struct jm_job *job, int k, const char *why)
{
	if (job->status == JOB_RESTARTING || job->status == JOB_FAILING ||
	    job_status_is_globally_terminal(job->status))
		return;
	bool restart = false;
	int64_t delay = 0;
	if (job->status == JOB_RUNNING && !job->cancel_requested && !atomic_load(&jm->stopping)) {
		restart =
		    restart_strategy_on_failure(&job->restart, now_ms(), jitter_unit(), &delay);
		if (!restart) {
			char desc[512];
			restart_strategy_describe(&job->restart, desc, sizeof desc);
			log_info("Recovery is suppressed by %s", desc);
		}
	}
	if (job->status == JOB_RUNNING || job->status == JOB_CREATED)
		record_exception(job, k, why, restart);
	if (!restart) {
		fail_job(job, why);
		pthread_cond_broadcast(&jm->cond);
		return;
	}
	if (k >= 0) {
		int s;
		struct job_vertex *jv = locate_task(job, k, &s, NULL);
		log_info("%d tasks will be restarted to recover the failed task %s_%d.",
		         job->ntasks, jv->id, s);
	} else {
		log_info("Trying to recover from a global failure: %s", why);
	}
	set_status(job, JOB_RESTARTING);
	job->restart_at_ms = now_ms() + delay;
	cancel_tasks(job);
	pthread_cond_broadcast(&jm->cond);
}

void jobmaster_cancel(struct jobmanager *jm, struct jm_job *job)
{
	if (job_status_is_globally_terminal(job->status) || job->status == JOB_FAILING ||
	    job->status == JOB_CANCELLING)
		return;
	job->cancel_requested = true;
	if (job->status == JOB_RUNNING || job->status == JOB_RESTARTING) {
		set_status(job, JOB_CANCELLING);
		cancel_tasks(job);
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
	/* A TaskManager cancels a task on its own only when something broke (its JobManager
	 * connection or a data connection): without a cancel request that is a failure. */
	bool unrequested_cancel = to == EXEC_CANCELED && t->state != EXEC_CANCELING &&
	                          !job->cancel_requested && job->status == JOB_RUNNING;
	if (to == EXEC_FAILED) {
		xfree(t->failure);
		t->failure = xstrdup(failure && *failure ? failure : "unknown failure");
	}
	set_task(job, k, to);
	if (to == EXEC_FAILED) {
		job_failure(jm, job, k, t->failure);
	} else if (unrequested_cancel) {
		char name[512];
		task_name(job, k, name, sizeof name);
		char *why = xasprintf("%s was canceled by TaskManager %s without a request "
		                      "(a data connection failed)",
		                      name, tm->resource_id);
		job_failure(jm, job, k, why);
		xfree(why);
	}
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
		int first = -1;
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
			if (first < 0)
				first = k;
		}
		if (why)
			job_failure(jm, job, first, why);
		xfree(why);
	}
	pthread_cond_broadcast(&jm->cond);
}

/* The subtask a checkpoint message is about, if it is the current attempt on tm. */
static struct jm_job *checkpoint_task(struct jobmanager *jm, struct tm_entry *tm,
                                      ProtobufCBinaryData job_bytes, uint32_t vertex,
                                      uint32_t subtask, uint32_t attempt, int *k)
{
	char job_id[33];
	if (job_id_from_bytes(job_bytes, job_id) < 0)
		return NULL;
	struct jm_job *job = dispatcher_find(jm, job_id);
	if (!job || !job->jg || !job->coordinator)
		return NULL;
	*k = task_index(job, (int)vertex, (int)subtask);
	if (*k < 0 || job->tasks[*k].tm != tm || job->tasks[*k].attempt != (int)attempt)
		return NULL; /* stale: an earlier attempt, or a job that is gone */
	return job;
}

void jobmaster_ack_checkpoint(struct jobmanager *jm, struct tm_entry *tm,
                              const Spate__Rpc__AcknowledgeCheckpoint *a)
{
	int k;
	struct jm_job *job =
	    checkpoint_task(jm, tm, a->job_id, a->vertex, a->subtask, a->attempt, &k);
	if (!job)
		return;
	if (!coordinator_ack(job->coordinator, k, a, now_ms()))
		return;
	if (a->declined) {
		char name[512];
		task_name(job, k, name, sizeof name);
		log_info("Decline checkpoint %lld by task %s of job %s at %s @ %s (dataPort=%d).",
		         (long long)a->checkpoint_id, name, job->id, tm->resource_id, tm->host,
		         tm->data_port);
	}
	pthread_cond_broadcast(&jm->cond);
}

void jobmaster_end_of_input(struct jobmanager *jm, struct tm_entry *tm,
                            const Spate__Rpc__TaskEndOfInput *e)
{
	int k;
	struct jm_job *job =
	    checkpoint_task(jm, tm, e->job_id, e->vertex, e->subtask, e->attempt, &k);
	if (!job || job->tasks[k].end_of_input)
		return;
	job->tasks[k].end_of_input = true;
	coordinator_end_of_input(job->coordinator, k);
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
	snprintf(seed, sizeof seed, "%s/%s/%d/%d", job->id, t->tm->resource_id, t->slot,
	         t->attempt);
	blob_key_of(seed, strlen(seed), out);
}

/* The configuration a TaskManager needs to take part in checkpoints (DeployTasks.config). */
struct deploy_config {
	Spate__Rpc__DeployTasks__ConfigEntry entries[4];
	Spate__Rpc__DeployTasks__ConfigEntry *ptrs[4];
	char interval[32];
	size_t n;
};

static void deploy_config_add(struct deploy_config *dc, const char *key, const char *value)
{
	Spate__Rpc__DeployTasks__ConfigEntry *e = &dc->entries[dc->n];
	spate__rpc__deploy_tasks__config_entry__init(e);
	e->key = (char *)key;
	e->value = (char *)value;
	dc->ptrs[dc->n++] = e;
}

static void deploy_config_init(struct deploy_config *dc, const struct checkpoint_config *cc)
{
	memset(dc, 0, sizeof *dc);
	if (!cc)
		return;
	if (cc->enabled) {
		snprintf(dc->interval, sizeof dc->interval, "%lld", (long long)cc->interval_ms);
		deploy_config_add(dc, "execution.checkpointing.interval", dc->interval);
	}
	deploy_config_add(dc, "execution.checkpointing.mode",
	                  cc->exactly_once ? "EXACTLY_ONCE" : "AT_LEAST_ONCE");
	deploy_config_add(dc, "state.backend.type", cc->backend);
	deploy_config_add(dc, "execution.checkpointing.incremental",
	                  cc->incremental ? "true" : "false");
}

/* Sends every involved TaskManager its subtasks, with their state from plan (may be NULL).
 * Caller holds mu. A failure stops the deployment (the job is restarting or failing then);
 * TaskManagers that got nothing count as released. */
static void deploy(struct jobmanager *jm, struct jm_job *job, const struct restore_plan *plan)
{
	uint8_t id[16];
	job_id_to_bytes(job->id, id);
	struct deploy_config dc;
	deploy_config_init(&dc, job->coordinator ? coordinator_config(job->coordinator) : NULL);
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
		if (job->status != JOB_RUNNING) {
			job->released[i] = true; /* never got the job */
			continue;
		}
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
		d.config = dc.ptrs;
		d.n_config = dc.n;
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
			if (plan && k < plan->ntasks)
				tds[n].restore = &plan->tasks[k];
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
			job_failure(jm, job, -1, why);
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
		if (tm_holds_job(job, i))
			return false;
	return true;
}

static void free_slots(struct jobmanager *jm, struct jm_job *job)
{
	for (struct tm_entry *tm = jm->tms; tm; tm = tm->next)
		for (int s = 0; s < tm->nslots; s++)
			if (tm->slot_job[s] == job)
				tm->slot_job[s] = NULL;
	pthread_cond_broadcast(&jm->cond);
}

/* Waits on jm->cond until something changes or deadline_ms (epoch ms; INT64_MAX: no
 * deadline). */
static void timed_wait(struct jobmanager *jm, int64_t deadline_ms)
{
	if (deadline_ms == INT64_MAX) {
		pthread_cond_wait(&jm->cond, &jm->mu);
		return;
	}
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

/* Removes files with jm->mu released. */
static void empty_trash(struct jobmanager *jm, struct checkpoint_trash *trash)
{
	if (trash->n == 0)
		return;
	pthread_mutex_unlock(&jm->mu);
	checkpoint_trash_empty(trash);
	pthread_mutex_lock(&jm->mu);
}

/* ---- checkpoints ---------------------------------------------------------------------------- */

static void notify_checkpoint(struct jm_job *job, int64_t id, bool aborted)
{
	Spate__Rpc__NotifyCheckpoint n = SPATE__RPC__NOTIFY_CHECKPOINT__INIT;
	uint8_t jid[16];
	job_id_to_bytes(job->id, jid);
	n.job_id.data = jid;
	n.job_id.len = 16;
	n.checkpoint_id = id;
	n.aborted = aborted;
	for (int i = 0; i < job->ninvolved; i++)
		if (tm_holds_job(job, i))
			rpc_send_body(job->involved[i]->conn,
			              SPATE__RPC__ENVELOPE__BODY_NOTIFY_CHECKPOINT, &n);
}

static void check_tolerable(struct jobmanager *jm, struct jm_job *job)
{
	if (coordinator_take_failure_exceeded(job->coordinator))
		job_failure(jm, job, -1, "Exceeded checkpoint tolerable failure threshold.");
}

/* Aborts the pending checkpoint, if any (caller holds mu; may release it to remove files). */
static void abort_pending(struct jobmanager *jm, struct jm_job *job, const char *reason,
                          bool counted)
{
	struct checkpoint_trash trash = {0};
	struct checkpoint_outcome out;
	coordinator_abort(job->coordinator, reason, counted, now_ms(), &trash, &out);
	if (out.id)
		notify_checkpoint(job, out.id, true);
	check_tolerable(jm, job);
	empty_trash(jm, &trash);
}

static void trigger(struct jobmanager *jm, struct jm_job *job, enum checkpoint_kind kind,
                    struct savepoint_request *req)
{
	struct checkpoint_barrier b;
	struct spate_error err = {0};
	if (coordinator_trigger(job->coordinator, kind, req, now_ms(), &b, &err) < 0) {
		log_warn("Cannot trigger a checkpoint of job %s: %s", job->id, err.msg);
		check_tolerable(jm, job);
		return;
	}
	Spate__Rpc__TriggerCheckpoint t = SPATE__RPC__TRIGGER_CHECKPOINT__INIT;
	uint8_t jid[16];
	job_id_to_bytes(job->id, jid);
	t.job_id.data = jid;
	t.job_id.len = 16;
	t.checkpoint_id = b.id;
	t.timestamp = b.timestamp_ms;
	t.kind = (uint32_t)b.kind;
	t.target_dir = b.target_dir;
	t.shared_dir = b.shared_dir;
	for (int i = 0; i < job->ninvolved; i++)
		if (tm_holds_job(job, i))
			rpc_send_body(job->involved[i]->conn,
			              SPATE__RPC__ENVELOPE__BODY_TRIGGER_CHECKPOINT, &t);
}

/* Writes the pending checkpoint's `_metadata` (jm->mu released meanwhile), completes it and
 * tells the TaskManagers. */
static void finalize(struct jobmanager *jm, struct jm_job *job)
{
	size_t len;
	char *path;
	uint8_t *bytes = coordinator_finalize_begin(job->coordinator, job->jg, &len, &path);
	pthread_mutex_unlock(&jm->mu);
	struct spate_error err = {0};
	checkpoint_write_file(path, bytes, len, &err);
	pthread_mutex_lock(&jm->mu);
	xfree(bytes);
	xfree(path);
	struct checkpoint_trash trash = {0};
	struct checkpoint_outcome out;
	coordinator_finalize_end(job->coordinator, now_ms(), &err, &trash, &out);
	if (out.id)
		notify_checkpoint(job, out.id, !out.completed);
	if (out.completed && job->next_final_ms > 0 && out.kind == CKPT_KIND_FINAL)
		job->next_final_ms = 0;
	check_tolerable(jm, job);
	empty_trash(jm, &trash);
}

static int count_end_of_input(const struct jm_job *job)
{
	int n = 0;
	for (int k = 0; k < job->ntasks; k++)
		n += job->tasks[k].end_of_input;
	return n;
}

static bool all_tasks_running(const struct jm_job *job)
{
	for (int k = 0; k < job->ntasks; k++)
		if (job->tasks[k].state != EXEC_RUNNING)
			return false;
	return true;
}

/*
 * One step of checkpoint coordination while the job is RUNNING (caller holds mu). Returns
 * true if it did something (and may have released mu): the caller looks at the job again.
 * Otherwise *wake is lowered to the next timer.
 */
static bool checkpoint_step(struct jobmanager *jm, struct jm_job *job, int64_t *wake)
{
	struct checkpoint_coordinator *co = job->coordinator;
	const struct checkpoint_config *cc = coordinator_config(co);
	int64_t now = now_ms(), deadline;
	const char *reason;
	enum checkpoint_kind kind;
	switch (coordinator_pending_action(co, now, &deadline, &reason)) {
	case PENDING_READY:
		finalize(jm, job);
		return true;
	case PENDING_DECLINED:
		abort_pending(jm, job, reason, true);
		return true;
	case PENDING_EXPIRED:
		log_info("Checkpoint %lld of job %s expired before completing.",
		         (long long)coordinator_pending_id(co, &kind), job->id);
		abort_pending(jm, job, reason, true);
		return true;
	case PENDING_ABORT:
		abort_pending(jm, job, reason, false);
		return true;
	case PENDING_WAITING:
		if (deadline < *wake)
			*wake = deadline;
		return false;
	case PENDING_NONE:
		break;
	}
	int eoi = count_end_of_input(job);
	if (eoi > 0) {
		/* Savepoints need every task running; the final checkpoint once every task
		 * processed its input (retried an interval after a failed one). */
		coordinator_fail_savepoint_requests(co, "Not all required tasks are currently "
		                                        "running.");
		if (eoi < job->ntasks)
			return false;
		if (now < job->next_final_ms) {
			if (job->next_final_ms < *wake)
				*wake = job->next_final_ms;
			return false;
		}
		job->next_final_ms = now + (cc->enabled ? cc->interval_ms : 1000);
		trigger(jm, job, CKPT_KIND_FINAL, NULL);
		return true;
	}
	for (int k = 0; k < job->ntasks; k++)
		if (job->tasks[k].state == EXEC_FINISHED)
			coordinator_fail_savepoint_requests(co, "Not all required tasks are "
			                                        "currently running.");
	if (!all_tasks_running(job))
		return false; /* woken when a task changes state */
	struct savepoint_request *req = coordinator_next_savepoint_request(co);
	if (req) {
		trigger(jm, job, req->stop ? CKPT_KIND_SAVEPOINT_TERMINATE : CKPT_KIND_SAVEPOINT,
		        req);
		return true;
	}
	int64_t due = coordinator_periodic_due_ms(co);
	if (due == INT64_MAX)
		return false;
	if (now >= due) {
		trigger(jm, job, CKPT_KIND_CHECKPOINT, NULL);
		return true;
	}
	if (due < *wake)
		*wake = due;
	return false;
}

/* ---- restore ---------------------------------------------------------------------------- */

static const char *restore_type_name(uint32_t kind)
{
	switch (kind) {
	case CKPT_KIND_SAVEPOINT:
		return "Savepoint";
	case CKPT_KIND_SAVEPOINT_TERMINATE:
		return "Terminate Savepoint";
	default:
		return "Checkpoint";
	}
}

/* Reads, verifies and assigns a checkpoint or savepoint (no lock held: disk I/O). */
static int load_plan(const struct jm_job *job, const char *path, bool allow_non_restored,
                     struct restore_plan **plan, struct spate_error *err)
{
	checkpoint_metadata *md;
	char *dir;
	int rc = checkpoint_metadata_read(path, &md, &dir, err);
	if (rc < 0)
		return rc;
	rc = checkpoint_metadata_verify_files(md, dir, err);
	if (rc < 0)
		checkpoint_metadata_free(md);
	else
		rc = restore_plan_assign(md, dir, path, job->eg, allow_non_restored, plan, err);
	xfree(dir);
	return rc;
}

static void log_restoring(const struct jm_job *job, const struct restore_plan *plan)
{
	log_info("Restoring job %s from %s %lld @ %lld for %s located at %s.", job->id,
	         restore_type_name(plan->md->kind), (long long)plan->md->checkpoint_id,
	         (long long)plan->md->timestamp, plan->md->job_id, plan->base_dir);
}

/* After a failure: the plan from the newest retained checkpoint that verifies (older ones
 * when it does not), NULL when the job has none. Caller holds mu (released meanwhile).
 * Returns 0, or the error of the newest checkpoint when none is usable. */
static int restore_latest(struct jobmanager *jm, struct jm_job *job, struct restore_plan **plan,
                          struct spate_error *err)
{
	*plan = NULL;
	int n;
	char **dirs = coordinator_restore_candidates(job->coordinator, &n);
	if (n == 0) {
		coordinator_strings_free(dirs, n);
		return 0;
	}
	bool allow = coordinator_config(job->coordinator)->allow_non_restored;
	pthread_mutex_unlock(&jm->mu);
	int rc = SPATE_ENOENT;
	for (int i = 0; i < n; i++) {
		struct spate_error e = {0};
		rc = load_plan(job, dirs[i], allow, plan, &e);
		if (rc == 0)
			break;
		error_set(err, e.code, "%s", e.msg); /* the newest failure is reported */
		log_warn("Cannot restore job %s from checkpoint '%s': %s%s", job->id, dirs[i],
		         e.msg,
		         i + 1 < n ? ". Falling back to the previous retained checkpoint." : "");
	}
	pthread_mutex_lock(&jm->mu);
	coordinator_strings_free(dirs, n);
	if (rc < 0)
		return rc;
	error_clear(err);
	coordinator_restored_from(job->coordinator, (*plan)->md, (*plan)->base_dir, false,
	                          now_ms());
	log_restoring(job, *plan);
	return 0;
}

/* At start, with execution.state-recovery.path (-s). Caller holds mu (released meanwhile). */
static int restore_initial(struct jobmanager *jm, struct jm_job *job, struct restore_plan **plan,
                           struct spate_error *err)
{
	const struct checkpoint_config *cc = coordinator_config(job->coordinator);
	char *path = xstrdup(cc->restore_path);
	bool allow = cc->allow_non_restored;
	log_info("Starting job %s from savepoint %s", job->id, path);
	pthread_mutex_unlock(&jm->mu);
	int rc = load_plan(job, path, allow, plan, err);
	pthread_mutex_lock(&jm->mu);
	xfree(path);
	if (rc < 0)
		return rc;
	coordinator_restored_from(job->coordinator, (*plan)->md, (*plan)->base_dir, true, now_ms());
	log_restoring(job, *plan);
	return 0;
}

/* ---- the job's life cycle ----------------------------------------------------------------- */

/* The job fails before any task ran (bad configuration, unusable savepoint). */
static void fail_at_start(struct jm_job *job, const char *why)
{
	log_info("Job %s (%s) cannot start: %s", job->name, job->id, why);
	record_exception(job, -1, why, false);
	if (!job->failure)
		job->failure = xstrdup(why);
	set_status(job, JOB_FAILING);
	for (int k = 0; k < job->ntasks; k++)
		set_task(job, k, EXEC_CANCELED);
	set_status(job, JOB_FAILED);
}

/* The job's configuration, checkpoint coordinator and restart strategy. */
static int setup(struct jobmanager *jm, struct jm_job *job, struct spate_error *err)
{
	job->config = config_clone(jm->config);
	for (int i = 0; job->sg && i < job->sg->njob_config; i++)
		if (config_set(job->config, job->sg->job_config[i].key,
		               job->sg->job_config[i].value, err) < 0)
			return SPATE_ECONFIG;
	struct checkpoint_config cc;
	if (checkpoint_config_load(&cc, job->config, err) < 0)
		return SPATE_ECONFIG;
	int *par = xcalloc((size_t)(job->jg->nvertices ? job->jg->nvertices : 1), sizeof *par);
	for (int v = 0; v < job->jg->nvertices; v++)
		par[v] = job->jg->vertices[v]->parallelism;
	job->coordinator = coordinator_new(job->id, &cc, job->jg->nvertices, par);
	xfree(par);
	int rc = restart_strategy_load(&job->restart, job->config, cc.enabled, err);
	checkpoint_config_release(&cc);
	if (rc == 0) {
		char desc[512];
		restart_strategy_describe(&job->restart, desc, sizeof desc);
		log_info("Using restart back off time strategy %s for %s (%s).", desc, job->name,
		         job->id);
	}
	return rc;
}

/* Starts an attempt of every subtask (job RUNNING, tasks CREATED): waits for slots, then
 * deploys with the state in plan (may be NULL). */
static void start_attempt(struct jobmanager *jm, struct jm_job *job,
                          const struct restore_plan *plan)
{
	for (int k = 0; k < job->ntasks; k++)
		set_task(job, k, EXEC_SCHEDULED);
	int64_t deadline = now_ms() + jm->slot_request_timeout_ms;
	while (job->status == JOB_RUNNING && !atomic_load(&jm->stopping) &&
	       rm_free_slots(jm) < job->nslots_needed && now_ms() < deadline)
		timed_wait(jm, deadline);
	if (job->status != JOB_RUNNING)
		return; /* canceled meanwhile */
	if (atomic_load(&jm->stopping)) {
		jobmaster_cancel(jm, job);
		return;
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
			xfree(job->tasks[k].failure);
			job->tasks[k].failure = xstrdup(why);
			set_task(job, k, EXEC_FAILED);
		}
		job_failure(jm, job, -1, why);
		xfree(why);
		return;
	}
	struct slot_ref *slots = xcalloc((size_t)job->nslots_needed, sizeof *slots);
	take_slots(jm, job, slots, job->nslots_needed);
	assign(job, slots);
	xfree(slots);
	deploy(jm, job, plan);
	if (job->coordinator)
		coordinator_start_periodic(job->coordinator, now_ms());
}

/* Runs the attempt until every task is terminal or the job restarts. */
static void supervise(struct jobmanager *jm, struct jm_job *job)
{
	while (job->status != JOB_RESTARTING && !all_tasks_terminal(job)) {
		int64_t wake = INT64_MAX;
		if (job->coordinator) {
			enum checkpoint_kind kind;
			if (job->status == JOB_RUNNING) {
				if (checkpoint_step(jm, job, &wake))
					continue;
			} else if (coordinator_pending_id(job->coordinator, &kind)) {
				abort_pending(jm, job, "CheckpointCoordinator shutdown.", false);
				continue;
			}
		}
		timed_wait(jm, wake);
	}
}

/* Puts every subtask back to a fresh attempt on no slot. */
static void reset_tasks(struct jobmanager *jm, struct jm_job *job)
{
	free_slots(jm, job);
	xfree(job->involved);
	xfree(job->released);
	job->involved = NULL;
	job->released = NULL;
	job->ninvolved = 0;
	job->next_final_ms = 0;
	int64_t now = now_ms();
	for (int k = 0; k < job->ntasks; k++) {
		struct jm_task *t = &job->tasks[k];
		int attempt = t->attempt + 1;
		xfree(t->failure);
		memset(t, 0, sizeof *t);
		t->attempt = attempt;
		t->state = EXEC_CREATED;
		t->state_ms[EXEC_CREATED] = now;
	}
}

/* RESTARTING: waits for the tasks to be down and the restart delay, then brings the job
 * back to RUNNING with *plan the state to deploy. Returns false if the job ends instead
 * (canceled meanwhile, shutdown, or no usable checkpoint). */
static bool restart(struct jobmanager *jm, struct jm_job *job, struct restore_plan **plan)
{
	*plan = NULL;
	if (job->coordinator) {
		enum checkpoint_kind kind;
		if (coordinator_pending_id(job->coordinator, &kind))
			abort_pending(jm, job, "FailoverRegion is restarting.", false);
	}
	while (job->status == JOB_RESTARTING && !atomic_load(&jm->stopping) &&
	       !(all_tasks_terminal(job) && all_released(job)))
		pthread_cond_wait(&jm->cond, &jm->mu);
	while (job->status == JOB_RESTARTING && !atomic_load(&jm->stopping) &&
	       now_ms() < job->restart_at_ms)
		timed_wait(jm, job->restart_at_ms);
	if (atomic_load(&jm->stopping))
		jobmaster_cancel(jm, job);
	if (job->status != JOB_RESTARTING)
		return false;
	reset_tasks(jm, job);
	job->num_restarts++;
	if (job->coordinator) {
		struct spate_error err = {0};
		if (restore_latest(jm, job, plan, &err) < 0) {
			record_exception(job, -1, err.msg, false);
			fail_job(job, err.msg);
			return false;
		}
		if (job->status != JOB_RESTARTING) { /* canceled while reading */
			restore_plan_free(*plan);
			*plan = NULL;
			return false;
		}
	}
	set_status(job, JOB_RUNNING);
	return true;
}

/* Every task is terminal (or the JobManager stops): the job's final status. */
static void finish(struct jobmanager *jm, struct jm_job *job)
{
	while (!all_tasks_terminal(job) && !atomic_load(&jm->stopping))
		pthread_cond_wait(&jm->cond, &jm->mu);
	/* A TaskManager cancels a job on its own only when something broke (its JobManager
	 * connection or a data connection): without a cancel request that is a failure. */
	for (int k = 0; k < job->ntasks && !job->failure && !job->cancel_requested; k++)
		if (job->tasks[k].state == EXEC_CANCELED && job->tasks[k].tm) {
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
	if (job->coordinator) {
		enum checkpoint_kind kind;
		if (coordinator_pending_id(job->coordinator, &kind))
			abort_pending(jm, job, "CheckpointCoordinator shutdown.", false);
		coordinator_fail_savepoint_requests(job->coordinator,
		                                    "CheckpointCoordinator shutdown.");
	}
	if (job->status != JOB_FINISHED)
		send_cancel(job); /* TaskManagers that still hold the job drop it */
	while (!all_released(job) && !atomic_load(&jm->stopping))
		pthread_cond_wait(&jm->cond, &jm->mu);
}

static void *master_main(void *arg)
{
	struct jobmanager *jm = ((void **)arg)[0];
	struct jm_job *job = ((void **)arg)[1];
	xfree(arg);
	log_set_thread_name("JobMaster");
	pthread_mutex_lock(&jm->mu);
	set_status(job, JOB_CREATED);
	struct spate_error err = {0};
	struct restore_plan *plan = NULL;
	if (!job->cancel_requested && setup(jm, job, &err) < 0) {
		fail_at_start(job, err.msg);
		goto done;
	}
	if (!job->cancel_requested && coordinator_config(job->coordinator)->restore_path &&
	    restore_initial(jm, job, &plan, &err) < 0) {
		fail_at_start(job, err.msg);
		goto done;
	}
	if (job->cancel_requested || atomic_load(&jm->stopping)) {
		restore_plan_free(plan);
		set_status(job, JOB_CANCELLING);
		for (int k = 0; k < job->ntasks; k++)
			set_task(job, k, EXEC_CANCELED);
		set_status(job, JOB_CANCELED);
		goto done;
	}
	set_status(job, JOB_RUNNING);
	for (;;) {
		start_attempt(jm, job, plan);
		restore_plan_free(plan);
		plan = NULL;
		supervise(jm, job);
		if (job->status != JOB_RESTARTING || !restart(jm, job, &plan))
			break;
	}
	finish(jm, job);
done:
	free_slots(jm, job);
	job->slots_freed = true;
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
	for (int i = 0; i < job->nexceptions; i++) {
		xfree(job->exceptions[i].message);
		xfree(job->exceptions[i].task_name);
		xfree(job->exceptions[i].endpoint);
		xfree(job->exceptions[i].tm_id);
	}
	coordinator_free(job->coordinator);
	restart_strategy_release(&job->restart);
	config_free(job->config);
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
