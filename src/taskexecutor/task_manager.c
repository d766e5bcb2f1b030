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
 * Locks: tm->mu (jobs list, blob replies) may be held while taking a job's local_job mu;
 * task state hooks run under that mu and take only tm->send_mu. Order: mu, job mu, send_mu.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cluster/cluster.h"
#include "cluster/jobmanager.h"
#include "core/alloc.h"
#include "core/log.h"
#include "graph/graph_codec.h"
#include "network/netenv.h"
#include "rpc/rpc.h"
#include "runtime/local_job.h"

struct taskmanager;

struct tm_job {
	char id[33];
	struct taskmanager *tm;
	rpc_msg *msg; /* the DeployTasks envelope (owned) */
	pthread_t thread;
	struct local_job *lj; /* guarded by: tm->mu; set while the job runs */
	bool cancel;          /* guarded by: tm->mu */
	bool blob_done;       /* guarded by: tm->mu */
	rpc_msg *blob;        /* guarded by: tm->mu; the BlobReply envelope */
	bool finished;        /* guarded by: tm->mu; its thread may be joined */
	struct tm_job *next;
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
};

static int send_to_jm(struct taskmanager *tm, Spate__Rpc__Envelope__BodyCase which, void *body)
{
	pthread_mutex_lock(&tm->send_mu);
	int rc = tm->jm ? rpc_send_body(tm->jm, which, body) : SPATE_EIO;
	pthread_mutex_unlock(&tm->send_mu);
	return rc;
}

static void report_state(struct tm_job *j, int vertex, int subtask, enum execution_state to,
                         const char *failure)
{
	Spate__Rpc__TaskStateUpdate u = SPATE__RPC__TASK_STATE_UPDATE__INIT;
	uint8_t id[16];
	job_id_to_bytes(j->id, id);
	u.job_id.data = id;
	u.job_id.len = 16;
	u.vertex = (uint32_t)vertex;
	u.subtask = (uint32_t)subtask;
	u.attempt = 0;
	u.state = (char *)execution_state_name(to);
	u.failure = (char *)(failure ? failure : "");
	send_to_jm(j->tm, SPATE__RPC__ENVELOPE__BODY_TASK_STATE, &u);
}

/* local_job's hook: every state change of a local task goes to the JobMaster. */
static void state_hook(void *arg, struct task *t, enum execution_state to)
{
	report_state(arg, t->ev->job_vertex->index, t->ev->subtask, to,
	             to == EXEC_FAILED ? t->failure : NULL);
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
	if (rc == 0) {
		struct local_job_options o = {
		    .local = local, .state_hook = state_hook, .state_hook_arg = j};
		lj = local_job_new_partial(jg, eg, handle, tm->config, NULL, &o);
		rc = wire_remote(tm, lj, d->locations, &err);
	}
	if (rc == 0) {
		log_info("Running %zu subtasks of job %s (%s).", d->n_tasks, d->job_name, j->id);
		pthread_mutex_lock(&tm->mu);
		j->lj = lj;
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
			             j->cancel ? EXEC_CANCELED : EXEC_FAILED, err.msg);
		if (lj)
			unwire_remote(tm, lj);
	}
	local_job_free(lj);
	execution_graph_free(eg);
	job_graph_free(jg);
	stream_graph_free(sg);
	xfree(local);
	if (handle)
		dlclose(handle);
	unlink(path);
	xfree(path);

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
			xfree(j);
		} else {
			pp = &j->next;
		}
	}
}

static struct tm_job *find_job(struct taskmanager *tm, const char *id)
{
	for (struct tm_job *j = tm->jobs; j; j = j->next)
		if (strcmp(j->id, id) == 0 && !j->finished)
			return j;
	return NULL;
}

static void cancel_job_locked(struct tm_job *j)
{
	j->cancel = true;
	if (j->lj)
		local_job_cancel(j->lj);
}

/* ---- the JobManager connection ------------------------------------------------------------- */

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

	struct taskmanager *tm = xcalloc(1, sizeof *tm);
	g_tm = tm;
	tm->config = config;
	pthread_mutex_init(&tm->mu, NULL);
	pthread_cond_init(&tm->cond, NULL);
	pthread_mutex_init(&tm->send_mu, NULL);
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
	netenv_stop(tm->net);
	exit_code = 0;
out_dir:
	rmdir(tm->work_dir);
out:
	xfree(tm->work_dir);
	pthread_mutex_destroy(&tm->mu);
	pthread_cond_destroy(&tm->cond);
	pthread_mutex_destroy(&tm->send_mu);
	xfree(tm);
	return exit_code;
}
