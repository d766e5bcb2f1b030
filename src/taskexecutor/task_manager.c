/*
 * task_manager.c - the TaskManager process: offers taskmanager.numberOfTaskSlots slots to
 * the ResourceManager at jobmanager.rpc.address:port, runs the subtasks JobMasters deploy to
 * it (each on its own thread, through the same task and network code as the embedded
 * cluster), reports their state changes, and exchanges data with other TaskManagers over
 * its data port (network/netenv.c).
 *
 * DESIGN. The main thread keeps the JobManager connection: it connects (retrying with
 * back-off, so a TaskManager may start first and re-registers after a JobManager restart),
 * registers, then reads messages until the connection is lost or nothing arrives within
 * heartbeat.timeout. Each deployed job gets a thread of its own (job_main) that fetches
 * the job library from the blob server and checks its hash, loads it in its own dlopen
 * handle, rebuilds the graphs, wires local and remote channels, runs the local subtasks,
 * then unloads everything and tells the JobMaster the job's slots are free.
 * Checkpoints: the JobMaster's TriggerCheckpoint reaches the job's local source subtasks
 * (or, for the final checkpoint, every local subtask waiting at its end of input) through
 * their mailboxes; NotifyCheckpoint reaches every local subtask. A subtask hands its
 * snapshot to the checkpoint writer thread (ckpt_main), which writes the files and sends
 * AcknowledgeCheckpoint, so the task thread only ever does the quick part.
 * Locks: tm->mu (jobs list, blob replies) may be held while taking a job's local_job mu;
 * task state hooks run under that mu and take only tm->send_mu. Order: mu, job mu, send_mu.
 * tm->ckpt_mu guards the writer's queue only and nests inside nothing.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "checkpoint/checkpoint.h"
#include "cluster/cluster.h"
#include "cluster/jobmanager.h"
#include "core/alloc.h"
#include "core/log.h"
#include "graph/graph_codec.h"
#include "network/netenv.h"
#include "rpc/rpc.h"
#include "rest/http_server.h"
#include "runtime/local_job.h"
#include "runtime/state_backend.h"

struct taskmanager;

struct tm_job {
	char id[33];
	struct taskmanager *tm;
	rpc_msg *msg; /* the DeployTasks envelope (owned) */
	pthread_t thread;
	struct local_job *lj;     /* guarded by: tm->mu; set while the job runs */
	bool cancel;              /* guarded by: tm->mu */
	bool blob_done;           /* guarded by: tm->mu */
	rpc_msg *blob;            /* guarded by: tm->mu; the BlobReply envelope */
	bool finished;            /* guarded by: tm->mu; its thread may be joined */
	bool releasing;           /* guarded by: tm->mu; JobReleased is being sent: a new
	                             deployment of the same job is a new run */
	struct task_rates *rates; /* guarded by: tm->mu; per subtask of lj: the last sample */
	struct tm_job *next;
};

/* A subtask's counters at the last report and the rates derived then. */
struct task_rates {
	int64_t wall_ns; /* 0 = not sampled yet */
	struct task_counters c;
	double records_in, records_out, bytes_in, bytes_out; /* per second */
	double busy, idle, backpressured;                    /* ms per second */
};

struct taskmanager {
	struct config *config;
	char resource_id[80];
	char host[64];
	int nslots;
	struct netenv *net;
	char *work_dir; /* job libraries while their jobs run (owned) */
	pthread_mutex_t mu;
	pthread_cond_t cond;
	struct tm_job *jobs; /* guarded by: mu */
	pthread_mutex_t send_mu;
	struct rpc_conn *jm; /* guarded by: send_mu; NULL while disconnected */
	atomic_bool stopping;
	int64_t heartbeat_timeout_ms;
	/* metrics */
	int64_t report_interval_ms;
	pthread_t reporter;
	bool reporter_started;
	struct proc_sample proc_prev; /* guarded by: mu; the reporter's last process sample */
	double cpu_load;              /* guarded by: mu; from the last two samples */
	struct http_server *prom;     /* its Prometheus endpoint, or NULL */
	int prom_port;
	/* logs: the directory LogRequests list and read from */
	char *log_dir; /* owned, or NULL when unknown */
	/* checkpoint writer */
	pthread_t ckpt_thread;
	bool ckpt_started;
	pthread_mutex_t ckpt_mu;
	pthread_cond_t ckpt_cond;
	struct ckpt_work *ckpt_queue; /* guarded by: ckpt_mu; FIFO */
	bool ckpt_stop;               /* guarded by: ckpt_mu */
};

/* A task's snapshot waiting for the writer. */
struct ckpt_work {
	struct task_snapshot *snap;
	struct ckpt_work *next;
};

static int send_to_jm(struct taskmanager *tm, Spate__Rpc__Envelope__BodyCase which, void *body)
{
	pthread_mutex_lock(&tm->send_mu);
	int rc = tm->jm ? rpc_send_body(tm->jm, which, body) : SPATE_EIO;
	pthread_mutex_unlock(&tm->send_mu);
	return rc;
}

/* Fills a metric sample of task t from counters c and rates r (NULL: rates 0). The
 * sample borrows job_id (16 bytes). */
static void fill_sample(Spate__Rpc__TaskMetricsSample *s, uint8_t *job_id, const struct task *t,
                        const struct task_counters *c, const struct task_rates *r)
{
	spate__rpc__task_metrics_sample__init(s);
	s->job_id.data = job_id;
	s->job_id.len = 16;
	s->vertex = (uint32_t)t->ev->job_vertex->index;
	s->subtask = (uint32_t)t->ev->subtask;
	s->attempt = (uint32_t)t->attempt;
	s->records_in = c->records_in;
	s->records_out = c->records_out;
	s->bytes_in = c->bytes_in;
	s->bytes_out = c->bytes_out;
	s->busy_ms = c->busy_ns / 1000000;
	s->idle_ms = c->idle_ns / 1000000;
	s->backpressured_ms = c->backpressured_ns / 1000000;
	s->in_pool_usage = c->in_pool_usage;
	s->out_pool_usage = c->out_pool_usage;
	if (r) {
		s->records_in_per_s = r->records_in;
		s->records_out_per_s = r->records_out;
		s->bytes_in_per_s = r->bytes_in;
		s->bytes_out_per_s = r->bytes_out;
		s->busy_ms_per_s = r->busy;
		s->idle_ms_per_s = r->idle;
		s->backpressured_ms_per_s = r->backpressured;
	}
}

static void report_state(struct tm_job *j, int vertex, int subtask, int attempt,
                         enum execution_state to, const char *failure,
                         Spate__Rpc__TaskMetricsSample *final_metrics)
{
	Spate__Rpc__TaskStateUpdate u = SPATE__RPC__TASK_STATE_UPDATE__INIT;
	uint8_t id[16];
	job_id_to_bytes(j->id, id);
	u.job_id.data = id;
	u.job_id.len = 16;
	u.vertex = (uint32_t)vertex;
	u.subtask = (uint32_t)subtask;
	u.attempt = (uint32_t)attempt;
	u.state = (char *)execution_state_name(to);
	u.failure = (char *)(failure ? failure : "");
	u.final_metrics = final_metrics;
	send_to_jm(j->tm, SPATE__RPC__ENVELOPE__BODY_TASK_STATE, &u);
}

/* local_job's hook: every state change of a local task goes to the JobMaster. */
static void state_hook(void *arg, struct task *t, enum execution_state to)
{
	struct tm_job *j = arg;
	Spate__Rpc__TaskMetricsSample s, *final = NULL;
	uint8_t id[16];
	if (execution_state_is_terminal(to)) {
		/* The last counters travel with the terminal state, so the JobMaster never
		 * shows a finished task with stale numbers. Its rates are 0: it has stopped. */
		struct task_counters c;
		task_read_counters(t, &c);
		job_id_to_bytes(j->id, id);
		fill_sample(&s, id, t, &c, NULL);
		final = &s;
	}
	report_state(j, t->ev->job_vertex->index, t->ev->subtask, t->attempt, to,
	             to == EXEC_FAILED ? t->failure : NULL, final);
}

/* netenv's handler: a remote input channel broke (its producer's TaskManager went away or
 * sent bad data). The job cannot go on here: cancel its local subtasks; the JobMaster
 * learns the cause from the lost TaskManager or sees the unrequested cancel. */
static void channel_failed(void *arg, struct input_gate *g, int channel, const char *why)
{
	struct taskmanager *tm = arg;
	pthread_mutex_lock(&tm->mu);
	for (struct tm_job *j = tm->jobs; j; j = j->next) {
		if (!j->lj)
			continue;
		for (int k = 0; k < j->lj->ntasks; k++)
			if (j->lj->tasks[k].has_gate && &j->lj->tasks[k].gate == g) {
				log_warn(
				    "Input channel %d of %s failed: %s. Cancelling job %s here.",
				    channel, j->lj->tasks[k].name, why, j->id);
				local_job_cancel(j->lj);
			}
	}
	pthread_mutex_unlock(&tm->mu);
}

/* ---- checkpoints ---------------------------------------------------------------------------- */

/* local_job's hook, on a task's thread: the snapshot goes to the writer. */
static void snapshot_hook(void *arg, struct task_snapshot *snap)
{
	struct taskmanager *tm = ((struct tm_job *)arg)->tm;
	struct ckpt_work *w = xcalloc(1, sizeof *w);
	w->snap = snap;
	pthread_mutex_lock(&tm->ckpt_mu);
	struct ckpt_work **pp = &tm->ckpt_queue;
	while (*pp)
		pp = &(*pp)->next;
	*pp = w;
	pthread_cond_signal(&tm->ckpt_cond);
	pthread_mutex_unlock(&tm->ckpt_mu);
}

static void end_of_input_hook(void *arg, struct task *t)
{
	struct tm_job *j = arg;
	Spate__Rpc__TaskEndOfInput e = SPATE__RPC__TASK_END_OF_INPUT__INIT;
	uint8_t id[16];
	job_id_to_bytes(j->id, id);
	e.job_id.data = id;
	e.job_id.len = 16;
	e.vertex = (uint32_t)t->ev->job_vertex->index;
	e.subtask = (uint32_t)t->ev->subtask;
	e.attempt = (uint32_t)t->attempt;
	send_to_jm(j->tm, SPATE__RPC__ENVELOPE__BODY_END_OF_INPUT, &e);
}

static void decline(Spate__Rpc__AcknowledgeCheckpoint *a, char *reason)
{
	a->declined = true;
	a->decline_reason = reason;
}

/* Writes a task's snapshot (the part off the task thread) and acknowledges it. */
static void write_snapshot(struct taskmanager *tm, struct task_snapshot *s)
{
	int64_t t0 = metrics_now_ns();
	Spate__Rpc__AcknowledgeCheckpoint a = SPATE__RPC__ACKNOWLEDGE_CHECKPOINT__INIT;
	uint8_t id[16];
	job_id_to_bytes(s->job_id, id);
	a.job_id.data = id;
	a.job_id.len = 16;
	a.vertex = (uint32_t)s->vertex;
	a.subtask = (uint32_t)s->subtask;
	a.attempt = (uint32_t)s->attempt;
	a.checkpoint_id = s->barrier.id;
	Spate__Ckpt__OperatorSubtaskStateMsg *ops = xcalloc((size_t)s->nops + 1, sizeof *ops);
	Spate__Ckpt__OperatorSubtaskStateMsg **opp = xcalloc((size_t)s->nops + 1, sizeof *opp);
	ProtobufCBinaryData **entries = xcalloc((size_t)s->nops + 1, sizeof *entries);
	char reason[512] = "";
	if (s->declined)
		snprintf(reason, sizeof reason, "%s", s->decline_reason);
	const char *shared = s->barrier.shared_dir[0] ? s->barrier.shared_dir : NULL;
	int rc = checkpoint_mkdirs(s->barrier.target_dir);
	if (rc == 0 && shared)
		rc = checkpoint_mkdirs(shared);
	if (rc < 0 && !reason[0])
		snprintf(reason, sizeof reason, "cannot create '%.300s': %.100s",
		         s->barrier.target_dir, strerror(-rc));
	for (int i = 0; i < s->nops && !reason[0]; i++) {
		struct op_snapshot *o = &s->ops[i];
		Spate__Ckpt__OperatorSubtaskStateMsg *m = &ops[i];
		spate__ckpt__operator_subtask_state_msg__init(m);
		m->operator_id = o->operator_id;
		m->subtask = (uint32_t)s->subtask;
		m->finished = s->finished;
		if (o->keyed) {
			char name[64];
			snprintf(name, sizeof name, "op%d-%d", o->node_id, s->subtask);
			struct snapshot_target tg = {s->barrier.target_dir, shared, name};
			struct keyed_state_handle h = {0};
			struct spate_error err = {0};
			if (keyed_snapshot_write(o->keyed, &tg, &h, &err) < 0) {
				snprintf(reason, sizeof reason,
				         "cannot write the state of %.100s: %.380s", o->operator_id,
				         err.msg);
				keyed_state_handle_release(&h);
				break;
			}
			m->keyed = checkpoint_handle_to_msg(&h);
			a.state_size += h.state_size;
			a.checkpointed_size += h.incremental_size;
			keyed_state_handle_release(&h);
		}
		entries[i] = xcalloc((size_t)o->nentries + 1, sizeof *entries[i]);
		for (int e = 0; e < o->nentries; e++) {
			entries[i][e].data = o->entries[e];
			entries[i][e].len = o->entry_lens[e];
			a.state_size += (int64_t)o->entry_lens[e];
			a.checkpointed_size += (int64_t)o->entry_lens[e];
		}
		m->entries = entries[i];
		m->n_entries = (size_t)o->nentries;
		opp[i] = m;
		a.n_operators = (size_t)i + 1;
	}
	if (reason[0]) {
		decline(&a, reason);
		a.n_operators = 0;
		log_warn("Declining checkpoint %lld of %s subtask %d/%d: %s",
		         (long long)s->barrier.id, s->job_id, s->vertex, s->subtask, reason);
	}
	a.operators = opp;
	a.alignment_ms = s->alignment_ns / 1000000;
	a.sync_ms = s->sync_ns / 1000000;
	a.async_ms = (metrics_now_ns() - t0) / 1000000;
	a.processed_bytes = s->processed_bytes;
	int sent = send_to_jm(tm, SPATE__RPC__ENVELOPE__BODY_ACK_CHECKPOINT, &a);
	log_debug("Acknowledged checkpoint %lld of job %s subtask %d/%d (attempt %d, %zu "
	          "operators, %lld bytes)%s",
	          (long long)s->barrier.id, s->job_id, s->vertex, s->subtask, s->attempt,
	          a.n_operators, (long long)a.state_size, sent < 0 ? ": not connected" : "");
	for (int i = 0; i < s->nops; i++) {
		checkpoint_handle_msg_free(ops[i].keyed);
		xfree(entries[i]);
	}
	xfree(entries);
	xfree(opp);
	xfree(ops);
}

static void *ckpt_main(void *arg)
{
	struct taskmanager *tm = arg;
	log_set_thread_name("checkpoint-writer");
	pthread_mutex_lock(&tm->ckpt_mu);
	for (;;) {
		while (!tm->ckpt_queue && !tm->ckpt_stop)
			pthread_cond_wait(&tm->ckpt_cond, &tm->ckpt_mu);
		struct ckpt_work *w = tm->ckpt_queue;
		if (!w)
			break;
		tm->ckpt_queue = w->next;
		pthread_mutex_unlock(&tm->ckpt_mu);
		write_snapshot(tm, w->snap);
		task_snapshot_free(w->snap);
		xfree(w);
		pthread_mutex_lock(&tm->ckpt_mu);
	}
	pthread_mutex_unlock(&tm->ckpt_mu);
	return NULL;
}

/* The job's checkpoint settings, from the deployment's configuration. */
static void deploy_checkpointing(struct taskmanager *tm, struct tm_job *j,
                                 const Spate__Rpc__DeployTasks *d,
                                 struct local_job_checkpointing *ck)
{
	memset(ck, 0, sizeof *ck);
	ck->exactly_once = true;
	snprintf(ck->backend, sizeof ck->backend, "hashmap");
	for (size_t i = 0; i < d->n_config; i++) {
		const char *k = d->config[i]->key, *v = d->config[i]->value;
		if (!k || !v)
			continue;
		if (strcmp(k, "execution.checkpointing.interval") == 0)
			ck->enabled = true;
		else if (strcmp(k, "execution.checkpointing.mode") == 0)
			ck->exactly_once = strcasecmp(v, "AT_LEAST_ONCE") != 0;
		else if (strcmp(k, "state.backend.type") == 0 || strcmp(k, "state.backend") == 0)
			snprintf(ck->backend, sizeof ck->backend, "%s",
			         strcasecmp(v, "rocksdb") == 0 ? "rocksdb" : "hashmap");
	}
	ck->state_dir = xasprintf("%s/state-%s", tm->work_dir, j->id);
	ck->snapshot_hook = snapshot_hook;
	ck->end_of_input_hook = end_of_input_hook;
	ck->hook_arg = j;
}

/* ---- one job ------------------------------------------------------------------------------- */

/* Fetches the job library from the blob server and checks it; writes it to `path`. */
static int fetch_library(struct tm_job *j, const char *key, uint64_t size, const char *path,
                         struct spate_error *err)
{
	struct taskmanager *tm = j->tm;
	Spate__Rpc__BlobRequest req = SPATE__RPC__BLOB_REQUEST__INIT;
	req.key = (char *)key;
	if (send_to_jm(tm, SPATE__RPC__ENVELOPE__BODY_BLOB_REQUEST, &req) < 0)
		return error_set(err, SPATE_EIO, "cannot request blob %s: not connected", key);
	pthread_mutex_lock(&tm->mu);
	int64_t deadline = now_ms() + 60000;
	while (!j->blob_done && !j->cancel && !atomic_load(&tm->stopping) && now_ms() < deadline) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&tm->cond, &tm->mu, &ts);
	}
	rpc_msg *m = j->blob;
	j->blob = NULL;
	bool canceled = j->cancel;
	pthread_mutex_unlock(&tm->mu);
	int rc = 0;
	if (!m) {
		rc = error_set(err, canceled ? SPATE_ECANCELED : SPATE_EIO,
		               "blob %s did not arrive", key);
	} else if (m->blob_reply->error && *m->blob_reply->error) {
		rc = error_set(err, SPATE_EIO, "blob server: %s: %s", key, m->blob_reply->error);
	} else {
		char got[33];
		blob_key_of(m->blob_reply->data.data, m->blob_reply->data.len, got);
		if (strcmp(got, key) != 0 || m->blob_reply->data.len != size)
			rc = error_set(err, SPATE_ECORRUPT,
			               "blob %s failed verification: got %zu bytes hashing to %s",
			               key, m->blob_reply->data.len, got);
		else if (blob_write_file(path, m->blob_reply->data.data, m->blob_reply->data.len) <
		         0)
			rc = error_set(err, SPATE_EIO, "cannot write '%s': %s", path,
			               strerror(errno));
	}
	rpc_msg_free(m);
	return rc;
}

static void pid_of(const struct local_job *lj, const struct task *t, int output, int sub,
                   struct partition_id *pid)
{
	memset(pid, 0, sizeof *pid);
	job_id_to_bytes(lj->jg->job_id, pid->job_id);
	pid->vertex = (uint32_t)t->ev->job_vertex->index;
	pid->subtask = (uint32_t)t->ev->subtask;
	pid->output = (uint32_t)output;
	pid->subpartition = (uint32_t)sub;
}

/* Connects the channels that cross to other TaskManagers. */
static int wire_remote(struct taskmanager *tm, struct local_job *lj,
                       Spate__Rpc__SubtaskLocation **locs, struct spate_error *err)
{
	for (int k = 0; k < lj->ntasks; k++) {
		struct task *t = &lj->tasks[k];
		if (!lj->local[k])
			continue;
		struct job_vertex *jv = t->ev->job_vertex;
		/* producer side: subpartitions read by remote consumers */
		for (int o = 0; o < t->npartitions; o++) {
			struct result_partition *rp = &t->partitions[o];
			for (int c = 0; c < rp->nsubs; c++) {
				if (rp->subs[c].gate)
					continue;
				struct partition_id pid;
				pid_of(lj, t, o, c, &pid);
				if (netenv_register_subpartition(tm->net, &pid, rp, err) < 0)
					return SPATE_EIO;
			}
		}
		/* consumer side: channels fed by remote producers */
		for (int e = 0; e < jv->ninputs; e++) {
			struct job_edge *je = jv->inputs[e];
			int first, n = execution_edge_producers(je, t->ev->subtask, &first);
			for (int p = first; p < first + n; p++) {
				struct task *pt = local_job_task(lj, je->source, p);
				int pk = (int)(pt - lj->tasks);
				if (lj->local[pk])
					continue;
				int cfirst;
				execution_edge_consumers(je, p, &cfirst);
				struct partition_id pid;
				pid_of(lj, pt, je->source_output, t->ev->subtask - cfirst, &pid);
				int ch = local_job_channel_index(je, t->ev->subtask, p);
				if (netenv_connect_channel(tm->net, locs[pk]->host,
				                           (int)locs[pk]->data_port, &pid, &t->gate,
				                           ch, err) < 0)
					return SPATE_EIO;
			}
		}
	}
	return 0;
}

static void unwire_remote(struct taskmanager *tm, struct local_job *lj)
{
	for (int k = 0; k < lj->ntasks; k++) {
		struct task *t = &lj->tasks[k];
		if (!lj->local[k])
			continue;
		for (int o = 0; o < t->npartitions; o++) {
			struct result_partition *rp = &t->partitions[o];
			for (int c = 0; c < rp->nsubs; c++) {
				if (rp->subs[c].gate)
					continue;
				struct partition_id pid;
				pid_of(lj, t, o, c, &pid);
				netenv_unregister_subpartition(tm->net, &pid);
			}
		}
		if (t->has_gate)
			netenv_release_gate(tm->net, &t->gate);
	}
}

static void *job_main(void *arg)
{
	struct tm_job *j = arg;
	struct taskmanager *tm = j->tm;
	const Spate__Rpc__DeployTasks *d = j->msg->deploy;
	log_set_thread_name("job");
	struct spate_error err = {0};
	char *path = xasprintf("%s/job-%s.so", tm->work_dir, j->id);
	void *handle = NULL;
	struct stream_graph *sg = NULL;
	struct job_graph *jg = NULL;
	struct execution_graph *eg = NULL;
	struct local_job *lj = NULL;
	bool *local = NULL;
	int rc = fetch_library(j, d->blob_key, d->blob_size, path, &err);
	if (rc == 0) {
		handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
		if (!handle)
			rc = error_set(&err, SPATE_EIO, "cannot load the job library: %s",
			               dlerror());
	}
	if (rc == 0) {
		sg = stream_graph_decode(d->graph.data, d->graph.len, &err);
		rc = sg ? job_graph_build(sg, &jg, &err) : SPATE_EINVAL;
		if (rc == 0) {
			memcpy(jg->job_id, j->id, 33);
			rc = execution_graph_build(jg, &eg, &err);
		}
	}
	if (rc == 0 && (int)d->n_locations != eg->nsubtasks)
		rc = error_set(&err, SPATE_EINVAL, "deployment names %zu locations for %d subtasks",
		               d->n_locations, eg->nsubtasks);
	if (rc == 0) {
		local = xcalloc((size_t)eg->nsubtasks, sizeof *local);
		for (size_t i = 0; i < d->n_tasks; i++) {
			int v = (int)d->tasks[i]->vertex, s = (int)d->tasks[i]->subtask;
			if (v >= jg->nvertices || s >= jg->vertices[v]->parallelism) {
				rc = error_set(&err, SPATE_EINVAL,
				               "deployment names unknown subtask %d/%d", v, s);
				break;
			}
			int base = 0;
			for (int w = 0; w < v; w++)
				base += jg->vertices[w]->parallelism;
			local[base + s] = true;
		}
	}
	int *attempts = NULL;
	const Spate__Rpc__TaskRestore **restores = NULL;
	struct local_job_checkpointing ck = {0};
	if (rc == 0) {
		attempts = xcalloc((size_t)eg->nsubtasks, sizeof *attempts);
		restores = xcalloc((size_t)eg->nsubtasks, sizeof *restores);
		for (size_t i = 0; i < d->n_tasks; i++) {
			int v = (int)d->tasks[i]->vertex, base = 0;
			for (int w = 0; w < v; w++)
				base += jg->vertices[w]->parallelism;
			attempts[base + (int)d->tasks[i]->subtask] = (int)d->tasks[i]->attempt;
			restores[base + (int)d->tasks[i]->subtask] = d->tasks[i]->restore;
		}
		deploy_checkpointing(tm, j, d, &ck);
		struct local_job_options o = {.local = local,
		                              .state_hook = state_hook,
		                              .state_hook_arg = j,
		                              .attempts = attempts,
		                              .restores = restores,
		                              .ckpt = &ck};
		lj = local_job_new_partial(jg, eg, handle, tm->config, NULL, &o);
		rc = wire_remote(tm, lj, d->locations, &err);
	}
	if (rc == 0) {
		log_info("Running %zu subtasks of job %s (%s).", d->n_tasks, d->job_name, j->id);
		pthread_mutex_lock(&tm->mu);
		j->lj = lj;
		j->rates = xcalloc((size_t)lj->ntasks, sizeof *j->rates);
		if (j->cancel)
			local_job_cancel(lj);
		pthread_mutex_unlock(&tm->mu);
		struct spate_error jerr = {0};
		local_job_run(lj, &jerr);
		unwire_remote(tm, lj);
		pthread_mutex_lock(&tm->mu);
		j->lj = NULL;
		pthread_mutex_unlock(&tm->mu);
	} else {
		log_warn("Cannot run job %s: %s", j->id, err.msg);
		for (size_t i = 0; i < d->n_tasks; i++)
			report_state(j, (int)d->tasks[i]->vertex, (int)d->tasks[i]->subtask,
			             (int)d->tasks[i]->attempt,
			             j->cancel ? EXEC_CANCELED : EXEC_FAILED, err.msg, NULL);
		if (lj)
			unwire_remote(tm, lj);
	}
	local_job_free(lj);
	execution_graph_free(eg);
	job_graph_free(jg);
	stream_graph_free(sg);
	xfree(local);
	xfree(attempts);
	xfree(restores);
	if (ck.state_dir)
		checkpoint_remove_tree(ck.state_dir);
	xfree(ck.state_dir);
	if (handle)
		dlclose(handle);
	unlink(path);
	xfree(path);

	/* From here on a deployment of the same job is a new run (a restart). */
	pthread_mutex_lock(&tm->mu);
	j->releasing = true;
	pthread_mutex_unlock(&tm->mu);
	Spate__Rpc__JobReleased rel = SPATE__RPC__JOB_RELEASED__INIT;
	uint8_t id[16];
	job_id_to_bytes(j->id, id);
	rel.job_id.data = id;
	rel.job_id.len = 16;
	send_to_jm(tm, SPATE__RPC__ENVELOPE__BODY_JOB_RELEASED, &rel);
	log_info("Released job %s: its slots are free.", j->id);
	pthread_mutex_lock(&tm->mu);
	j->finished = true;
	pthread_cond_broadcast(&tm->cond);
	pthread_mutex_unlock(&tm->mu);
	return NULL;
}

/* Joins and frees jobs whose threads have ended. Caller holds tm->mu. */
static void reap_jobs(struct taskmanager *tm)
{
	struct tm_job **pp = &tm->jobs;
	while (*pp) {
		struct tm_job *j = *pp;
		if (j->finished) {
			*pp = j->next;
			pthread_join(j->thread, NULL);
			rpc_msg_free(j->msg);
			rpc_msg_free(j->blob);
			xfree(j->rates);
			xfree(j);
		} else {
			pp = &j->next;
		}
	}
}

static struct tm_job *find_job(struct taskmanager *tm, const char *id)
{
	for (struct tm_job *j = tm->jobs; j; j = j->next)
		if (strcmp(j->id, id) == 0 && !j->finished && !j->releasing)
			return j;
	return NULL;
}

static void cancel_job_locked(struct tm_job *j)
{
	j->cancel = true;
	if (j->lj)
		local_job_cancel(j->lj);
}

/* ---- metrics ------------------------------------------------------------------------------ */

/* One local subtask's reading, taken under tm->mu for a report or a scrape. */
struct task_reading {
	struct tm_job *job;
	struct task *task;
	struct task_counters c;
	struct task_rates r;
};

static double clamp_ms_per_s(double v)
{
	return v < 0 ? 0 : v > 1000 ? 1000 : v;
}

/* Reads every running local subtask; with `advance`, derives rates against the previous
 * reading and remembers this one (the reporter's tick). Caller holds tm->mu. Returns an
 * xmalloc'd array of *n readings. */
static struct task_reading *read_tasks(struct taskmanager *tm, bool advance, int *n)
{
	int cap = 0;
	for (struct tm_job *j = tm->jobs; j; j = j->next)
		if (j->lj)
			cap += j->lj->ntasks;
	struct task_reading *out = xcalloc((size_t)(cap ? cap : 1), sizeof *out);
	int64_t now = metrics_now_ns();
	*n = 0;
	for (struct tm_job *j = tm->jobs; j; j = j->next) {
		if (!j->lj)
			continue;
		for (int k = 0; k < j->lj->ntasks; k++) {
			if (!j->lj->local[k])
				continue;
			struct task_reading *x = &out[(*n)++];
			x->job = j;
			x->task = &j->lj->tasks[k];
			task_read_counters(x->task, &x->c);
			struct task_rates *prev = &j->rates[k];
			if (advance) {
				double dt = prev->wall_ns ? (double)(now - prev->wall_ns) / 1e9 : 0;
				struct task_rates r = {.wall_ns = now, .c = x->c};
				if (dt > 0) {
					r.records_in =
					    (double)(x->c.records_in - prev->c.records_in) / dt;
					r.records_out =
					    (double)(x->c.records_out - prev->c.records_out) / dt;
					r.bytes_in =
					    (double)(x->c.bytes_in - prev->c.bytes_in) / dt;
					r.bytes_out =
					    (double)(x->c.bytes_out - prev->c.bytes_out) / dt;
					r.busy =
					    (double)(x->c.busy_ns - prev->c.busy_ns) / 1e6 / dt;
					r.idle =
					    (double)(x->c.idle_ns - prev->c.idle_ns) / 1e6 / dt;
					r.backpressured = (double)(x->c.backpressured_ns -
					                           prev->c.backpressured_ns) /
					                  1e6 / dt;
				}
				/* busy is derived from the clock and the two waits, read at
				 * slightly different moments: keep each within a second */
				r.busy = clamp_ms_per_s(r.busy);
				r.idle = clamp_ms_per_s(r.idle);
				r.backpressured = clamp_ms_per_s(r.backpressured);
				*prev = r;
			}
			x->r = *prev;
		}
	}
	return out;
}

/* Every metrics.fetcher.update-interval: samples the process and the running subtasks and
 * sends a MetricReport to the JobManager. */
static void *reporter_main(void *arg)
{
	struct taskmanager *tm = arg;
	log_set_thread_name("metrics");
	pthread_mutex_lock(&tm->mu);
	int64_t next = now_ms();
	while (!atomic_load(&tm->stopping)) {
		if (now_ms() < next) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			int64_t left = next - now_ms();
			int64_t ns = ts.tv_nsec + (left > 0 ? left : 0) * 1000000;
			ts.tv_sec += ns / 1000000000;
			ts.tv_nsec = ns % 1000000000;
			pthread_cond_timedwait(&tm->cond, &tm->mu, &ts);
			continue;
		}
		next = now_ms() + tm->report_interval_ms;
		struct proc_sample ps;
		proc_sample_read(&ps);
		tm->cpu_load = proc_cpu_load(&tm->proc_prev, &ps);
		tm->proc_prev = ps;
		int n;
		struct task_reading *x = read_tasks(tm, true, &n);
		Spate__Rpc__TaskMetricsSample *samples =
		    xcalloc((size_t)(n ? n : 1), sizeof *samples);
		Spate__Rpc__TaskMetricsSample **ptrs = xcalloc((size_t)(n ? n : 1), sizeof *ptrs);
		uint8_t(*ids)[16] = xcalloc((size_t)(n ? n : 1), 16);
		Spate__Rpc__MetricReport r = SPATE__RPC__METRIC_REPORT__INIT;
		for (int i = 0; i < n; i++) {
			job_id_to_bytes(x[i].job->id, ids[i]);
			fill_sample(&samples[i], ids[i], x[i].task, &x[i].c, &x[i].r);
			ptrs[i] = &samples[i];
			r.net_buffers_total += x[i].c.buffers_total;
			r.net_buffers_available += x[i].c.buffers_free;
		}
		r.n_tasks = (size_t)n;
		r.tasks = ptrs;
		r.cpu_load = tm->cpu_load;
		r.cpu_time_ms = ps.cpu_ns / 1000000;
		r.rss_bytes = ps.rss_bytes;
		r.physical_memory = ps.phys_bytes;
		r.free_memory = ps.avail_bytes;
		r.cpu_cores = (uint32_t)ps.cpu_cores;
		r.prometheus_port = (uint32_t)tm->prom_port;
		pthread_mutex_unlock(&tm->mu);
		send_to_jm(tm, SPATE__RPC__ENVELOPE__BODY_METRIC_REPORT, &r);
		xfree(samples);
		xfree(ptrs);
		xfree(ids);
		xfree(x);
		pthread_mutex_lock(&tm->mu);
	}
	pthread_mutex_unlock(&tm->mu);
	return NULL;
}

/* GET /metrics on the Prometheus port: the TaskManager's and its subtasks' metrics. */
static void h_prometheus(void *arg, const struct http_request *req, struct http_response *resp)
{
	struct taskmanager *tm = arg;
	(void)req;
	struct prom_buf b = {0};
	struct proc_sample ps;
	proc_sample_read(&ps);
	pthread_mutex_lock(&tm->mu);
	int n;
	struct task_reading *x = read_tasks(tm, false, &n);
	double cpu_load = tm->cpu_load;
	int64_t total = 0, avail = 0;
	for (int i = 0; i < n; i++) {
		total += x[i].c.buffers_total;
		avail += x[i].c.buffers_free;
	}
	const char *tml[] = {"tm_id", tm->resource_id, NULL};
	prom_family(&b, "spate_taskmanager_Status_CPU_Load", "gauge",
	            "CPU time of the process over wall time in the last interval (1 = one core)");
	prom_sample(&b, "spate_taskmanager_Status_CPU_Load", tml, cpu_load);
	prom_family(&b, "spate_taskmanager_Status_CPU_Time", "counter",
	            "CPU time used by the process, in milliseconds");
	prom_sample(&b, "spate_taskmanager_Status_CPU_Time", tml, (double)(ps.cpu_ns / 1000000));
	prom_family(&b, "spate_taskmanager_Status_Memory_RSS", "gauge",
	            "Resident set size of the process, in bytes");
	prom_sample(&b, "spate_taskmanager_Status_Memory_RSS", tml, (double)ps.rss_bytes);
	prom_family(&b, "spate_taskmanager_Status_Slots_Total", "gauge", "Task slots offered");
	prom_sample(&b, "spate_taskmanager_Status_Slots_Total", tml, tm->nslots);
	prom_family(&b, "spate_taskmanager_Status_Shuffle_Netty_TotalMemorySegments", "gauge",
	            "Network buffers of the running subtasks' output pools");
	prom_sample(&b, "spate_taskmanager_Status_Shuffle_Netty_TotalMemorySegments", tml,
	            (double)total);
	prom_family(&b, "spate_taskmanager_Status_Shuffle_Netty_AvailableMemorySegments", "gauge",
	            "Free network buffers of the running subtasks' output pools");
	prom_sample(&b, "spate_taskmanager_Status_Shuffle_Netty_AvailableMemorySegments", tml,
	            (double)avail);
	static const struct {
		const char *name, *type, *help;
	} fams[] = {
	    {"numRecordsIn", "counter", "Records the subtask received"},
	    {"numRecordsOut", "counter", "Records the subtask sent to the network"},
	    {"numBytesIn", "counter", "Bytes the subtask received"},
	    {"numBytesOut", "counter", "Bytes the subtask sent to the network"},
	    {"numRecordsInPerSecond", "gauge", "Records received per second"},
	    {"numRecordsOutPerSecond", "gauge", "Records sent per second"},
	    {"numBytesInPerSecond", "gauge", "Bytes received per second"},
	    {"numBytesOutPerSecond", "gauge", "Bytes sent per second"},
	    {"busyTimeMsPerSecond", "gauge", "Milliseconds per second the subtask was busy"},
	    {"idleTimeMsPerSecond", "gauge", "Milliseconds per second it waited for input"},
	    {"backPressuredTimeMsPerSecond", "gauge",
	     "Milliseconds per second it waited for output buffers"},
	    {"buffers_inPoolUsage", "gauge", "Share of its input buffers in use"},
	    {"buffers_outPoolUsage", "gauge", "Share of its output buffers in use"},
	};
	for (size_t f = 0; f < sizeof fams / sizeof *fams; f++) {
		char name[128];
		snprintf(name, sizeof name, "spate_taskmanager_job_task_%s", fams[f].name);
		prom_family(&b, name, fams[f].type, fams[f].help);
		for (int i = 0; i < n; i++) {
			const struct task_counters *c = &x[i].c;
			const struct task_rates *r = &x[i].r;
			double v[] = {(double)c->records_in,
			              (double)c->records_out,
			              (double)c->bytes_in,
			              (double)c->bytes_out,
			              r->records_in,
			              r->records_out,
			              r->bytes_in,
			              r->bytes_out,
			              r->busy,
			              r->idle,
			              r->backpressured,
			              c->in_pool_usage,
			              c->out_pool_usage};
			char sub[16];
			snprintf(sub, sizeof sub, "%d", x[i].task->ev->subtask);
			const char *l[] = {"job_id",
			                   x[i].job->id,
			                   "job_name",
			                   x[i].job->msg->deploy->job_name,
			                   "task_name",
			                   x[i].task->ev->job_vertex->name,
			                   "subtask_index",
			                   sub,
			                   "task_attempt_num",
			                   "0",
			                   "tm_id",
			                   tm->resource_id,
			                   NULL};
			prom_sample(&b, name, l, v[f]);
		}
	}
	pthread_mutex_unlock(&tm->mu);
	xfree(x);
	resp->status = 200;
	resp->body = b.data ? b.data : xstrdup("");
	resp->body_len = b.len;
	resp->content_type = PROMETHEUS_CONTENT_TYPE;
}

/* Starts the Prometheus endpoint on metrics.reporter.prom.port: a port, a range "a-b" (the
 * first free one) or 0 (ephemeral). A port that cannot be bound is logged, not fatal. */
static void start_prometheus(struct taskmanager *tm, const char *bind)
{
	if (!config_get_bool(tm->config, "metrics.reporter.prom.enabled", true))
		return;
	const char *spec = config_get(tm->config, "metrics.reporter.prom.port");
	if (!spec)
		spec = "9249";
	int lo, hi;
	char dash;
	if (sscanf(spec, "%d %c %d", &lo, &dash, &hi) == 3 && dash == '-') {
	} else if (sscanf(spec, "%d", &lo) == 1) {
		hi = lo;
	} else {
		log_warn("Bad metrics.reporter.prom.port '%s': expected a port or a range a-b; "
		         "no Prometheus endpoint.",
		         spec);
		return;
	}
	struct spate_error err = {0};
	for (int port = lo; port <= hi && port >= 0 && port <= 65535; port++) {
		struct http_server *s = http_server_new(bind, port, 4096);
		http_server_route(s, "GET", "/metrics", h_prometheus, tm);
		http_server_set_name(s, "Prometheus endpoint");
		if (http_server_start(s, &err) == 0) {
			tm->prom = s;
			tm->prom_port = http_server_port(s);
			return;
		}
		http_server_free(s);
	}
	log_warn("No Prometheus endpoint: %s", err.msg);
}

/* ---- logs ---------------------------------------------------------------------------------- */

/* The directory whose files LogRequests list: env.log.dir, else the one the file stderr
 * writes to is in (where `spate cluster start` and the tests put the TaskManager's log). */
static void find_log_dir(struct taskmanager *tm)
{
	const char *dir = config_get(tm->config, "env.log.dir");
	char path[4096];
	struct stat st;
	ssize_t n;
	if (dir)
		tm->log_dir = xstrdup(dir);
	else if (fstat(STDERR_FILENO, &st) == 0 && S_ISREG(st.st_mode) &&
	         (n = readlink("/proc/self/fd/2", path, sizeof path - 1)) > 0) {
		path[n] = '\0';
		char *slash = strrchr(path, '/');
		if (slash)
			tm->log_dir = xasprintf("%.*s", (int)(slash - path), path);
	}
}

/* The log directory's regular files with plain names, as LogFile entries (new arrays:
 * the entries, pointers to them for the reply, and the names they borrow). */
static int list_logs(int dfd, Spate__Rpc__LogFile **files, Spate__Rpc__LogFile ***ptrs,
                     char ***names)
{
	DIR *d = fdopendir(dup(dfd));
	int cap = 0, nf = 0;
	struct dirent *e;
	*files = NULL;
	*names = NULL;
	while (d && (e = readdir(d))) {
		struct stat st;
		if (!cluster_log_name_ok(e->d_name) ||
		    fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
			continue;
		if (nf == cap) {
			cap = cap ? cap * 2 : 16;
			*files = xrealloc(*files, (size_t)cap * sizeof **files);
			*names = xrealloc(*names, (size_t)cap * sizeof **names);
		}
		spate__rpc__log_file__init(&(*files)[nf]);
		(*names)[nf] = xstrdup(e->d_name);
		(*files)[nf].name = (*names)[nf];
		(*files)[nf].size = st.st_size;
		nf++;
	}
	if (d)
		closedir(d);
	*ptrs = xcalloc((size_t)(nf ? nf : 1), sizeof **ptrs);
	for (int i = 0; i < nf; i++)
		(*ptrs)[i] = &(*files)[i];
	return nf;
}

/* Answers a LogRequest: the log directory's listing, the tail of one of its files, or the
 * tail of the TaskManager's own log or standard output (special "log" / "stdout"). */
static void serve_log(struct taskmanager *tm, const Spate__Rpc__LogRequest *q)
{
	Spate__Rpc__LogReply r = SPATE__RPC__LOG_REPLY__INIT;
	r.request_id = q->request_id;
	const char *name = q->name ? q->name : "";
	const char *special = q->special ? q->special : "";
	char errbuf[256] = "";
	Spate__Rpc__LogFile *files = NULL, **ptrs = NULL;
	char **names = NULL;
	uint8_t *data = NULL;
	int fd = -1;
	if (*special) {
		int stdfd = strcmp(special, "log") == 0      ? STDERR_FILENO
		            : strcmp(special, "stdout") == 0 ? STDOUT_FILENO
		                                             : -1;
		fd = stdfd < 0 ? -1 : cluster_open_std_file(stdfd);
		if (fd < 0)
			snprintf(errbuf, sizeof errbuf,
			         "this TaskManager does not write its %s to a file", special);
	} else if (*name && !cluster_log_name_ok(name)) {
		snprintf(errbuf, sizeof errbuf, "bad log file name");
	} else {
		int dfd = tm->log_dir ? open(tm->log_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
		if (dfd < 0)
			snprintf(errbuf, sizeof errbuf, "this TaskManager has no log directory");
		else if (!*name)
			r.n_files = (size_t)list_logs(dfd, &files, &ptrs, &names);
		else if ((fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)) <
		         0)
			snprintf(errbuf, sizeof errbuf, "no log file '%s'", name);
		if (dfd >= 0)
			close(dfd);
		r.files = ptrs;
	}
	struct stat st;
	if (fd >= 0 && (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))) {
		snprintf(errbuf, sizeof errbuf, "no log file '%s'", name);
	} else if (fd >= 0) {
		int64_t max =
		    q->max_bytes > 0 && q->max_bytes < (64 << 20) ? q->max_bytes : (64 << 20);
		int64_t off = st.st_size > max ? st.st_size - max : 0;
		size_t want = (size_t)(st.st_size - off);
		data = xmalloc(want ? want : 1);
		ssize_t got = pread(fd, data, want, off);
		r.data.data = data;
		r.data.len = got > 0 ? (size_t)got : 0;
	}
	if (fd >= 0)
		close(fd);
	r.error = errbuf;
	send_to_jm(tm, SPATE__RPC__ENVELOPE__BODY_LOG_REPLY, &r);
	for (size_t i = 0; i < r.n_files; i++)
		xfree(names[i]);
	xfree(names);
	xfree(files);
	xfree(ptrs);
	xfree(data);
}

/* ---- the JobManager connection ------------------------------------------------------------- */

/* TriggerCheckpoint: to the job's local sources, or (FINAL) to every local subtask. */
static void handle_trigger(struct taskmanager *tm, const Spate__Rpc__TriggerCheckpoint *tc)
{
	char id[33];
	struct checkpoint_barrier b = {0};
	if (job_id_from_bytes(tc->job_id, id) < 0 || tc->checkpoint_id <= 0 ||
	    tc->kind > CKPT_KIND_FINAL || !tc->target_dir || tc->target_dir[0] != '/' ||
	    strlen(tc->target_dir) >= sizeof b.target_dir ||
	    (tc->shared_dir && strlen(tc->shared_dir) >= sizeof b.shared_dir)) {
		log_warn("Ignoring a malformed checkpoint trigger");
		return;
	}
	b.id = tc->checkpoint_id;
	b.timestamp_ms = tc->timestamp;
	b.kind = (enum checkpoint_kind)tc->kind;
	snprintf(b.target_dir, sizeof b.target_dir, "%s", tc->target_dir);
	snprintf(b.shared_dir, sizeof b.shared_dir, "%s", tc->shared_dir ? tc->shared_dir : "");
	log_debug("Checkpoint %lld (%s) triggered for job %s", (long long)b.id,
	          checkpoint_kind_name(b.kind), id);
	pthread_mutex_lock(&tm->mu);
	struct tm_job *j = find_job(tm, id);
	if (j && j->lj)
		for (int k = 0; k < j->lj->ntasks; k++) {
			struct task *t = &j->lj->tasks[k];
			if (!j->lj->local[k] || !t->ops)
				continue;
			if (b.kind == CKPT_KIND_FINAL || op_kind_is_source(t->ops[0].node->kind))
				task_mail_trigger(t, &b);
		}
	pthread_mutex_unlock(&tm->mu);
}

/* Handles one message; m is consumed. Returns -1 on a protocol violation. */
static int handle(struct taskmanager *tm, rpc_msg *m, char *why, size_t why_cap)
{
	char id[33];
	switch (m->body_case) {
	case SPATE__RPC__ENVELOPE__BODY_HEARTBEAT:
		if (!m->heartbeat->is_reply) {
			Spate__Rpc__Heartbeat h = SPATE__RPC__HEARTBEAT__INIT;
			h.sent_ms = m->heartbeat->sent_ms;
			h.is_reply = true;
			send_to_jm(tm, SPATE__RPC__ENVELOPE__BODY_HEARTBEAT, &h);
		}
		rpc_msg_free(m);
		return 0;
	case SPATE__RPC__ENVELOPE__BODY_DEPLOY: {
		if (job_id_from_bytes(m->deploy->job_id, id) < 0 || !m->deploy->blob_key ||
		    strlen(m->deploy->blob_key) != 32) {
			rpc_msg_free(m);
			snprintf(why, why_cap, "malformed deployment");
			return -1;
		}
		pthread_mutex_lock(&tm->mu);
		reap_jobs(tm);
		if (find_job(tm, id)) {
			pthread_mutex_unlock(&tm->mu);
			log_warn("Ignoring a second deployment of job %s", id);
			rpc_msg_free(m);
			return 0;
		}
		struct tm_job *j = xcalloc(1, sizeof *j);
		memcpy(j->id, id, 33);
		j->tm = tm;
		j->msg = m;
		for (size_t i = 0; i < m->deploy->n_tasks; i++)
			log_info(
			    "Received task %s subtask %u of vertex %u (slot %u, allocation %s).",
			    m->deploy->job_name, m->deploy->tasks[i]->subtask,
			    m->deploy->tasks[i]->vertex, m->deploy->tasks[i]->slot,
			    m->deploy->tasks[i]->allocation_id);
		if (pthread_create(&j->thread, NULL, job_main, j) != 0) {
			pthread_mutex_unlock(&tm->mu);
			log_error("cannot start a thread for job %s", id);
			rpc_msg_free(m);
			xfree(j);
			return 0;
		}
		j->next = tm->jobs;
		tm->jobs = j;
		pthread_mutex_unlock(&tm->mu);
		return 0;
	}
	case SPATE__RPC__ENVELOPE__BODY_CANCEL_JOB:
		if (job_id_from_bytes(m->cancel_job->job_id, id) == 0) {
			pthread_mutex_lock(&tm->mu);
			struct tm_job *j = find_job(tm, id);
			if (j) {
				log_info("Cancelling job %s on request of the JobMaster.", id);
				cancel_job_locked(j);
				pthread_cond_broadcast(&tm->cond);
			}
			pthread_mutex_unlock(&tm->mu);
		}
		rpc_msg_free(m);
		return 0;
	case SPATE__RPC__ENVELOPE__BODY_BLOB_REPLY: {
		pthread_mutex_lock(&tm->mu);
		struct tm_job *j = tm->jobs;
		for (; j; j = j->next)
			if (!j->blob_done && m->blob_reply->key &&
			    strcmp(j->msg->deploy->blob_key, m->blob_reply->key) == 0)
				break;
		if (j) {
			j->blob = m;
			j->blob_done = true;
			pthread_cond_broadcast(&tm->cond);
		} else {
			rpc_msg_free(m);
		}
		pthread_mutex_unlock(&tm->mu);
		return 0;
	}
	case SPATE__RPC__ENVELOPE__BODY_TRIGGER_CHECKPOINT:
		handle_trigger(tm, m->trigger_checkpoint);
		rpc_msg_free(m);
		return 0;
	case SPATE__RPC__ENVELOPE__BODY_NOTIFY_CHECKPOINT:
		if (job_id_from_bytes(m->notify_checkpoint->job_id, id) == 0) {
			pthread_mutex_lock(&tm->mu);
			struct tm_job *j = find_job(tm, id);
			if (j && j->lj)
				for (int k = 0; k < j->lj->ntasks; k++)
					if (j->lj->local[k])
						task_mail_note(&j->lj->tasks[k],
						               m->notify_checkpoint->checkpoint_id,
						               m->notify_checkpoint->aborted);
			pthread_mutex_unlock(&tm->mu);
		}
		rpc_msg_free(m);
		return 0;
	case SPATE__RPC__ENVELOPE__BODY_LOG_REQUEST:
		serve_log(tm, m->log_request);
		rpc_msg_free(m);
		return 0;
	default:
		snprintf(why, why_cap, "unexpected message type %d from the JobManager",
		         m->body_case);
		rpc_msg_free(m);
		return -1;
	}
}

/* Connects, registers and serves one JobManager connection until it is lost. */
static void serve_jobmanager(struct taskmanager *tm, const char *host, int port, bool *logged)
{
	struct spate_error err = {0};
	struct rpc_conn *c = rpc_connect(host, port, 5000, &err);
	if (!c) {
		if (!*logged)
			log_info("Could not connect to the ResourceManager at %s:%d: %s. Retrying.",
			         host, port, err.msg);
		*logged = true;
		return;
	}
	char why[256] = "", jm_name[80] = "";
	if (rpc_handshake(c, "taskmanager", tm->resource_id, 10000, jm_name, sizeof jm_name, why,
	                  sizeof why) < 0) {
		log_warn("Handshake with the JobManager at %s:%d failed: %s", host, port, why);
		rpc_conn_free(c);
		return;
	}
	Spate__Rpc__RegisterTaskManager r = SPATE__RPC__REGISTER_TASK_MANAGER__INIT;
	r.resource_id = tm->resource_id;
	r.host = tm->host;
	r.data_port = (uint32_t)netenv_port(tm->net);
	r.num_slots = (uint32_t)tm->nslots;
	r.pid = (uint64_t)getpid();
	r.metrics_port = (uint32_t)tm->prom_port;
	rpc_send_body(c, SPATE__RPC__ENVELOPE__BODY_REGISTER_TM, &r);
	rpc_msg *m = rpc_recv(c, 10000, why, sizeof why);
	if (!m || m->body_case != SPATE__RPC__ENVELOPE__BODY_REGISTRATION_REPLY ||
	    !m->registration_reply->accepted) {
		log_warn("Registration at the ResourceManager %s:%d failed: %s", host, port,
		         m ? (m->body_case == SPATE__RPC__ENVELOPE__BODY_REGISTRATION_REPLY
		                  ? m->registration_reply->reason
		                  : "unexpected reply")
		           : why);
		rpc_msg_free(m);
		rpc_conn_free(c);
		return;
	}
	int64_t hb_timeout = m->registration_reply->heartbeat_timeout_ms > 0
	                         ? m->registration_reply->heartbeat_timeout_ms
	                         : tm->heartbeat_timeout_ms;
	log_info("Successful registration at resource manager %s:%d under registration id %s.",
	         host, port, m->registration_reply->jobmanager_id);
	rpc_msg_free(m);
	*logged = false;
	pthread_mutex_lock(&tm->send_mu);
	tm->jm = c;
	pthread_mutex_unlock(&tm->send_mu);

	while (!atomic_load(&tm->stopping)) {
		m = rpc_recv(c, (int)hb_timeout, why, sizeof why);
		if (!m) {
			if (strncmp(why, "no message", 10) == 0)
				snprintf(why, sizeof why, "heartbeat of the JobManager timed out");
			break;
		}
		if (handle(tm, m, why, sizeof why) < 0)
			break;
	}
	if (!atomic_load(&tm->stopping))
		log_warn("Connection to the JobManager at %s:%d lost: %s. Cancelling its jobs and "
		         "registering again.",
		         host, port, why);
	pthread_mutex_lock(&tm->send_mu);
	tm->jm = NULL;
	pthread_mutex_unlock(&tm->send_mu);
	pthread_mutex_lock(&tm->mu);
	for (struct tm_job *j = tm->jobs; j; j = j->next)
		cancel_job_locked(j);
	pthread_cond_broadcast(&tm->cond);
	pthread_mutex_unlock(&tm->mu);
	rpc_conn_free(c);
}

static struct taskmanager *g_tm; /* for the signal thread */

static void *signal_main(void *arg)
{
	sigset_t *set = arg;
	int sig = 0;
	sigwait(set, &sig);
	log_info("RECEIVED SIGNAL %d: %s. Shutting down as requested.", sig, strsignal(sig));
	atomic_store(&g_tm->stopping, true);
	pthread_mutex_lock(&g_tm->send_mu);
	if (g_tm->jm)
		rpc_shutdown(g_tm->jm);
	pthread_mutex_unlock(&g_tm->send_mu);
	pthread_mutex_lock(&g_tm->mu);
	pthread_cond_broadcast(&g_tm->cond);
	pthread_mutex_unlock(&g_tm->mu);
	return NULL;
}

int taskmanager_main(struct config *config)
{
	static sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	log_set_thread_name("taskmanager");
	/* Blocks of 256 KiB and more (state tables, snapshot images) get their own mappings,
	 * which go back to the system when a job frees them. Left to itself, glibc raises
	 * this threshold to the largest block freed so far, so that the next job's tables come
	 * from the task threads' arenas, which keep the pages: an idle TaskManager then held
	 * 16 MiB per arena after a few jobs with keyed state (68 MiB after five P1 jobs with
	 * 100 k keys, 3 MiB with this). */
	mallopt(M_MMAP_THRESHOLD, 256 * 1024);

	struct taskmanager *tm = xcalloc(1, sizeof *tm);
	g_tm = tm;
	tm->config = config;
	pthread_mutex_init(&tm->mu, NULL);
	pthread_cond_init(&tm->cond, NULL);
	pthread_mutex_init(&tm->send_mu, NULL);
	pthread_mutex_init(&tm->ckpt_mu, NULL);
	pthread_cond_init(&tm->ckpt_cond, NULL);
	tm->nslots = (int)config_get_int(config, "taskmanager.numberOfTaskSlots", 1);
	tm->heartbeat_timeout_ms = config_get_duration_ms(config, "heartbeat.timeout", 50000);
	const char *h = config_get(config, "taskmanager.host");
	snprintf(tm->host, sizeof tm->host, "%s", h ? h : "localhost");
	const char *bind = config_get(config, "taskmanager.bind-host");
	int exit_code = 1;
	struct spate_error err = {0};
	char tmpl[] = "/tmp/spate-taskmanager-XXXXXX";
	if (!mkdtemp(tmpl)) {
		fprintf(stderr, "spate: cannot create a work directory in /tmp: %s\n",
		        strerror(errno));
		goto out;
	}
	tm->work_dir = xstrdup(tmpl);
	tm->net = netenv_start(
	    bind ? bind : tm->host, (int)config_get_int(config, "taskmanager.data.port", 0),
	    (int)config_get_int(config, "taskmanager.network.memory.buffers-per-channel", 2),
	    (int)config_get_int(config, "taskmanager.network.memory.floating-buffers-per-gate", 8),
	    &err);
	if (!tm->net) {
		fprintf(stderr, "spate: %s\n", err.msg);
		goto out_dir;
	}
	netenv_set_failure_handler(tm->net, channel_failed, tm);
	const char *rid = config_get(config, "taskmanager.resource-id");
	if (rid)
		snprintf(tm->resource_id, sizeof tm->resource_id, "%s", rid);
	else
		snprintf(tm->resource_id, sizeof tm->resource_id, "%s:%d-%06x", tm->host,
		         netenv_port(tm->net), (unsigned)(getpid() & 0xffffff));
	log_info("Starting TaskManager %s with %d task slots, data port %d (pid %d).",
	         tm->resource_id, tm->nslots, netenv_port(tm->net), (int)getpid());

	find_log_dir(tm);
	start_prometheus(tm, bind ? bind : tm->host);
	tm->report_interval_ms =
	    config_get_duration_ms(config, "metrics.fetcher.update-interval", 1000);
	if (tm->report_interval_ms < 10)
		tm->report_interval_ms = 10;
	tm->reporter_started = pthread_create(&tm->reporter, NULL, reporter_main, tm) == 0;
	tm->ckpt_started = pthread_create(&tm->ckpt_thread, NULL, ckpt_main, tm) == 0;

	pthread_t sig_thread;
	pthread_create(&sig_thread, NULL, signal_main, &set);
	const char *jh = config_get(config, "jobmanager.rpc.address");
	int jp = (int)config_get_int(config, "jobmanager.rpc.port", 6123);
	bool logged = false;
	int backoff = 50;
	while (!atomic_load(&tm->stopping)) {
		int64_t t0 = now_ms();
		serve_jobmanager(tm, jh ? jh : "localhost", jp, &logged);
		if (atomic_load(&tm->stopping))
			break;
		backoff = now_ms() - t0 > 5000 ? 50 : (backoff * 2 > 2000 ? 2000 : backoff * 2);
		pthread_mutex_lock(&tm->mu);
		reap_jobs(tm);
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		int64_t ns = ts.tv_nsec + (int64_t)backoff * 1000000;
		ts.tv_sec += ns / 1000000000;
		ts.tv_nsec = ns % 1000000000;
		if (!atomic_load(&tm->stopping))
			pthread_cond_timedwait(&tm->cond, &tm->mu, &ts);
		pthread_mutex_unlock(&tm->mu);
	}
	pthread_join(sig_thread, NULL);
	if (tm->reporter_started)
		pthread_join(tm->reporter, NULL);
	http_server_free(tm->prom);
	tm->prom = NULL;
	pthread_mutex_lock(&tm->mu);
	for (struct tm_job *j = tm->jobs; j; j = j->next)
		cancel_job_locked(j);
	while (tm->jobs) {
		bool all = true;
		for (struct tm_job *j = tm->jobs; j; j = j->next)
			all = all && j->finished;
		if (all)
			break;
		pthread_cond_wait(&tm->cond, &tm->mu);
	}
	reap_jobs(tm);
	pthread_mutex_unlock(&tm->mu);
	if (tm->ckpt_started) {
		pthread_mutex_lock(&tm->ckpt_mu);
		tm->ckpt_stop = true;
		pthread_cond_signal(&tm->ckpt_cond);
		pthread_mutex_unlock(&tm->ckpt_mu);
		pthread_join(tm->ckpt_thread, NULL);
	}
	netenv_stop(tm->net);
	exit_code = 0;
out_dir:
	rmdir(tm->work_dir);
out:
	xfree(tm->work_dir);
	xfree(tm->log_dir);
	pthread_mutex_destroy(&tm->mu);
	pthread_cond_destroy(&tm->cond);
	pthread_mutex_destroy(&tm->send_mu);
	pthread_mutex_destroy(&tm->ckpt_mu);
	pthread_cond_destroy(&tm->ckpt_cond);
	xfree(tm);
	return exit_code;
}
