/*
 * local_job.c - the embedded cluster's JobMaster part: wires the ExecutionGraph's subtasks
 * to each other (result partitions to input gates), starts one thread per subtask, tracks
 * ExecutionState and JobStatus with Flink's transitions and log lines, fails the job on the
 * first task failure (cancelling the rest), and frees everything at the end. See
 * local_job.h for the threading design.
 */
#include "runtime/local_job.h"

#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "core/alloc.h"
#include "core/log.h"

int64_t now_ms(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
	nanosleep(&ts, NULL);
}

static void set_job_status(struct local_job *job, enum job_status to)
{
	/* caller holds job->mu (or no other thread runs yet) */
	if (job->status == to)
		return;
	if (!job->local) /* in a TaskManager the JobMaster logs the job's states */
		log_info("Job %s (%s) switched from state %s to %s.", job->jg->job_name,
		         job->jg->job_id, job_status_name(job->status), job_status_name(to));
	job->status = to;
}

static void set_task_state_locked(struct local_job *job, struct task *t, enum execution_state to)
{
	if (t->state == to || execution_state_is_terminal(t->state))
		return;
	if (t->state == EXEC_CANCELING && !execution_state_is_terminal(to))
		return; /* a canceled task's thread still reporting progress */
	if (to == EXEC_FAILED && t->failure)
		log_info("%s (%s) switched from %s to %s on local @ localhost: %s", t->name,
		         t->attempt_id, execution_state_name(t->state), execution_state_name(to),
		         t->failure);
	else
		log_info("%s (%s) switched from %s to %s.", t->name, t->attempt_id,
		         execution_state_name(t->state), execution_state_name(to));
	t->state = to;
	if (job->state_hook)
		job->state_hook(job->state_hook_arg, t, to);
}

static void wake_all(struct local_job *job)
{
	for (int i = 0; i < job->ntasks; i++) {
		struct task *t = &job->tasks[i];
		if (t->has_gate)
			input_gate_wake(&t->gate);
		for (int j = 0; j < t->npartitions; j++)
			buffer_pool_wake(&t->partitions[j].pool);
		pthread_mutex_lock(&t->ckpt_mu); /* a task waiting for checkpoint mail */
		pthread_cond_broadcast(&t->ckpt_cond);
		pthread_mutex_unlock(&t->ckpt_mu);
	}
}

/* Caller holds job->mu. */
static void cancel_locked(struct local_job *job)
{
	atomic_store_explicit(&job->canceled, true, memory_order_release);
	for (int i = 0; i < job->ntasks; i++) {
		struct task *t = &job->tasks[i];
		if (execution_state_is_terminal(t->state))
			continue;
		if (t->state == EXEC_CREATED || t->state == EXEC_SCHEDULED)
			set_task_state_locked(job, t, EXEC_CANCELED);
		else
			set_task_state_locked(job, t, EXEC_CANCELING);
	}
	wake_all(job);
}

void local_job_cancel(struct local_job *job)
{
	pthread_mutex_lock(&job->mu);
	if (!job_status_is_globally_terminal(job->status) && job->status != JOB_FAILING) {
		set_job_status(job, JOB_CANCELLING);
		cancel_locked(job);
	}
	pthread_mutex_unlock(&job->mu);
}

void local_job_task_state(struct local_job *job, struct task *t, enum execution_state to)
{
	pthread_mutex_lock(&job->mu);
	if (to == EXEC_FAILED && !job->failure) {
		job->failure = xstrdup(t->failure ? t->failure : "unknown failure");
		set_task_state_locked(job, t, to);
		set_job_status(job, JOB_FAILING);
		cancel_locked(job);
	} else {
		set_task_state_locked(job, t, to);
	}
	if (execution_state_is_terminal(to)) {
		job->nterminal++;
		pthread_cond_broadcast(&job->cond);
	}
	pthread_mutex_unlock(&job->mu);
}

/* ---- construction --------------------------------------------------------------------- */

struct task *local_job_task(struct local_job *job, const struct job_vertex *jv, int subtask)
{
	int base = 0;
	for (int v = 0; v < jv->index; v++)
		base += job->jg->vertices[v]->parallelism;
	return &job->tasks[base + subtask];
}

/* Channel index in the consumer's gate of producer `i` on input edge `e`. */
int local_job_channel_index(const struct job_edge *e, int consumer, int producer)
{
	int off = 0;
	for (int k = 0; k < e->target->ninputs && e->target->inputs[k] != e; k++) {
		int first;
		off += execution_edge_producers(e->target->inputs[k], consumer, &first);
	}
	int first;
	execution_edge_producers(e, consumer, &first);
	return off + (producer - first);
}

struct local_job *local_job_new(struct job_graph *jg, struct execution_graph *eg, void *lib_handle,
                                const struct config *config, spate_result *result)
{
	return local_job_new_partial(jg, eg, lib_handle, config, result, NULL);
}

struct local_job *local_job_new_partial(struct job_graph *jg, struct execution_graph *eg,
                                        void *lib_handle, const struct config *config,
                                        spate_result *result, const struct local_job_options *opts)
{
	struct local_job *job = xcalloc(1, sizeof *job);
	job->jg = jg;
	job->eg = eg;
	job->lib_handle = lib_handle;
	job->result = result;
	pthread_mutex_init(&job->mu, NULL);
	pthread_cond_init(&job->cond, NULL);
	pthread_mutex_init(&job->print_mu, NULL);
	job->status = JOB_INITIALIZING;
	job->buffer_timeout_ms = jg->stream_graph->buffer_timeout_ms;
	job->buffers_per_channel =
	    (int)config_get_int(config, "taskmanager.network.memory.buffers-per-channel", 2);
	job->floating_buffers =
	    (int)config_get_int(config, "taskmanager.network.memory.floating-buffers-per-gate", 8);
	job->ntasks = eg->nsubtasks;
	job->tasks = xcalloc((size_t)job->ntasks, sizeof *job->tasks);
	if (opts && opts->local) {
		job->local = xcalloc((size_t)job->ntasks, sizeof *job->local);
		memcpy(job->local, opts->local, (size_t)job->ntasks * sizeof *job->local);
	}
	if (opts) {
		job->state_hook = opts->state_hook;
		job->state_hook_arg = opts->state_hook_arg;
		if (opts->ckpt) {
			job->ckpt = *opts->ckpt;
			job->ckpt.state_dir = xstrdup(opts->ckpt->state_dir);
		}
	}

	char egid[33];
	snprintf(egid, sizeof egid, "%.16s%.16s", jg->job_id + 16, jg->job_id);
	int k = 0;
	for (int v = 0; v < jg->nvertices; v++) {
		struct job_vertex *jv = jg->vertices[v];
		for (int i = 0; i < jv->parallelism; i++, k++) {
			struct task *t = &job->tasks[k];
			t->job = job;
			t->canceled = &job->canceled;
			t->ev = &eg->by_vertex[v][i];
			t->name = xasprintf("%s (%d/%d)", jv->name, i + 1, jv->parallelism);
			t->attempt = opts && opts->attempts ? opts->attempts[k] : 0;
			t->restore = opts && opts->restores ? opts->restores[k] : NULL;
			snprintf(t->attempt_id, sizeof t->attempt_id, "%s_%s_%d_%d", egid, jv->id,
			         i, t->attempt);
			t->state = EXEC_CREATED;
			pthread_mutex_init(&t->ckpt_mu, NULL);
			pthread_cond_init(&t->ckpt_cond, NULL);
			if (job->local && !job->local[k]) {
				/* runs in another TaskManager: terminal as far as this one cares */
				t->state = EXEC_FINISHED;
				job->nterminal++;
				continue;
			}
			t->nops = jv->noperators;
			t->ops = xcalloc((size_t)t->nops, sizeof *t->ops);
			for (int o = 0; o < t->nops; o++)
				t->ops[o].node = jv->operators[o];
			int nch = 0;
			for (int e = 0; e < jv->ninputs; e++) {
				int first;
				nch += execution_edge_producers(jv->inputs[e], i, &first);
			}
			if (jv->ninputs > 0) {
				t->has_gate = true;
				input_gate_init(&t->gate, nch, &job->canceled);
				t->gate.idle = &t->io.idle;
				if (job->buffer_timeout_ms == 0)
					t->gate.spin_ns = 200000; /* 0.2 ms */
				t->gate.capacity =
				    nch * job->buffers_per_channel + job->floating_buffers;
			}
		}
	}
	/* Result partitions, wired to the consumers' gates. */
	for (int v = 0; v < jg->nvertices; v++) {
		struct job_vertex *jv = jg->vertices[v];
		for (int i = 0; i < jv->parallelism; i++) {
			struct task *t = local_job_task(job, jv, i);
			if (job->local && !job->local[t - job->tasks])
				continue;
			t->npartitions = jv->noutputs;
			t->partitions = xcalloc((size_t)(jv->noutputs ? jv->noutputs : 1),
			                        sizeof *t->partitions);
			for (int o = 0; o < jv->noutputs; o++) {
				struct job_edge *e = jv->outputs[o];
				struct result_partition *rp = &t->partitions[o];
				int first, n = execution_edge_consumers(e, i, &first);
				result_partition_init(rp, e->partitioner, n,
				                      n * job->buffers_per_channel +
				                          job->floating_buffers,
				                      &job->canceled);
				rp->pool.wait = &t->io.backpressured;
				rp->first_consumer = first;
				rp->consumer_parallelism = e->target->parallelism;
				rp->consumer_max_parallelism = e->target->max_parallelism;
				rp->key = &e->stream_edge->key;
				rp->flush_always = job->buffer_timeout_ms == 0;
				t->flush_idle = rp->flush_always;
				for (int c = 0; c < n && rp->flush_always; c++)
					rp->subs[c].held_count = &t->held;
				for (int c = 0; c < n; c++) {
					struct task *ct = local_job_task(job, e->target, first + c);
					if (job->local && !job->local[ct - job->tasks])
						continue; /* remote: wired by the TaskManager */
					rp->subs[c].gate = &ct->gate;
					rp->subs[c].channel =
					    local_job_channel_index(e, first + c, i);
				}
			}
		}
	}
	return job;
}

void local_job_free(struct local_job *job)
{
	if (!job)
		return;
	for (int k = 0; k < job->ntasks; k++) {
		struct task *t = &job->tasks[k];
		task_release_operators(t);
		if (t->has_gate)
			input_gate_release(&t->gate);
	}
	/* Partitions after gates: releasing a gate recycles queued buffers into the pools. */
	for (int k = 0; k < job->ntasks; k++) {
		struct task *t = &job->tasks[k];
		for (int o = 0; o < t->npartitions; o++)
			result_partition_release(&t->partitions[o]);
		xfree(t->partitions);
		xfree(t->ops);
		xfree(t->name);
		xfree(t->failure);
		xfree(t->user_msg);
		while (t->notes) {
			struct ckpt_note *n = t->notes;
			t->notes = n->next;
			xfree(n);
		}
		xfree(t->barrier_seen);
		pthread_mutex_destroy(&t->ckpt_mu);
		pthread_cond_destroy(&t->ckpt_cond);
	}
	xfree(job->tasks);
	xfree(job->ckpt.state_dir);
	xfree(job->local);
	xfree(job->failure);
	pthread_mutex_destroy(&job->mu);
	pthread_cond_destroy(&job->cond);
	pthread_mutex_destroy(&job->print_mu);
	xfree(job);
}

/* ---- running ------------------------------------------------------------------------------ */

/* The buffer-timeout flusher: asks every task to flush its partly filled buffers. */
static void *flusher_main(void *arg)
{
	struct local_job *job = arg;
	log_set_thread_name("OutputFlusher");
	pthread_mutex_lock(&job->mu);
	while (job->nterminal < job->ntasks) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		int64_t ns = ts.tv_nsec + job->buffer_timeout_ms * 1000000;
		ts.tv_sec += ns / 1000000000;
		ts.tv_nsec = ns % 1000000000;
		pthread_cond_timedwait(&job->cond, &job->mu, &ts);
		for (int i = 0; i < job->ntasks; i++) {
			struct task *t = &job->tasks[i];
			if (execution_state_is_terminal(t->state))
				continue;
			atomic_fetch_or_explicit(&t->mail, TASK_MAIL_FLUSH, memory_order_relaxed);
			if (t->has_gate)
				input_gate_wake(&t->gate);
		}
	}
	pthread_mutex_unlock(&job->mu);
	return NULL;
}

int local_job_run(struct local_job *job, struct spate_error *err)
{
	pthread_t flusher;
	bool have_flusher = false;
	job->start_ms = now_ms();

	pthread_mutex_lock(&job->mu);
	if (!job->local) { /* in a TaskManager, the JobMaster owns these states */
		set_job_status(job, JOB_CREATED);
		set_job_status(job, JOB_RUNNING);
		for (int i = 0; i < job->ntasks; i++)
			set_task_state_locked(job, &job->tasks[i], EXEC_SCHEDULED);
		for (int i = 0; i < job->ntasks; i++)
			set_task_state_locked(job, &job->tasks[i], EXEC_DEPLOYING);
	} else {
		job->status = JOB_RUNNING;
		for (int i = 0; i < job->ntasks; i++)
			if (job->local[i])
				job->tasks[i].state = EXEC_DEPLOYING;
	}
	bool canceled_early = atomic_load(&job->canceled);
	pthread_mutex_unlock(&job->mu);

	int started = 0;
	for (int i = 0; i < job->ntasks && !canceled_early; i++) {
		struct task *t = &job->tasks[i];
		if (job->local && !job->local[i]) {
			started++;
			continue;
		}
		if (pthread_create(&t->thread, NULL, task_main, t) != 0) {
			t->failure = xstrdup("cannot start the task's thread");
			local_job_task_state(job, t, EXEC_FAILED);
			break;
		}
		t->thread_started = true;
		started++;
	}
	if (job->buffer_timeout_ms > 0 && pthread_create(&flusher, NULL, flusher_main, job) == 0)
		have_flusher = true;

	/* Tasks that never started count as terminal so the wait below ends. */
	pthread_mutex_lock(&job->mu);
	for (int i = started; i < job->ntasks; i++)
		if (!execution_state_is_terminal(job->tasks[i].state) &&
		    (!job->local || job->local[i])) {
			set_task_state_locked(job, &job->tasks[i], EXEC_CANCELED);
			job->nterminal++;
		}
	while (job->nterminal < job->ntasks)
		pthread_cond_wait(&job->cond, &job->mu);
	pthread_mutex_unlock(&job->mu);

	for (int i = 0; i < job->ntasks; i++)
		if (job->tasks[i].thread_started)
			pthread_join(job->tasks[i].thread, NULL);
	if (have_flusher)
		pthread_join(flusher, NULL);
	job->end_ms = now_ms();

	int rc = 0;
	pthread_mutex_lock(&job->mu);
	if (job->failure) {
		set_job_status(job, JOB_FAILED);
		error_set(err, SPATE_EJOBFAIL, "%s", job->failure);
		rc = SPATE_EJOBFAIL;
	} else if (job->status == JOB_CANCELLING) {
		set_job_status(job, JOB_CANCELED);
		error_set(err, SPATE_ECANCELED, "job was canceled");
		rc = SPATE_ECANCELED;
	} else {
		set_job_status(job, JOB_FINISHED);
	}
	pthread_mutex_unlock(&job->mu);
	return rc;
}
