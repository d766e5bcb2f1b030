/*
 * resource_manager.c - the ResourceManager: the one registry of TaskManagers and their
 * slots. An acceptor thread takes connections on jobmanager.rpc.port; each gets a reader
 * thread that checks the handshake, registers the TaskManager, then serves its messages
 * (heartbeat replies, task state updates, checkpoint acknowledgements and end-of-input
 * notices, job releases, blob requests). A heartbeat thread asks every TaskManager for a
 * heartbeat each heartbeat.interval. A TaskManager is lost when its connection closes
 * (noticed at once) or when nothing arrives from it for heartbeat.timeout; its slots
 * disappear and its jobs' JobMasters are told.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cluster/jobmanager.h"
#include "core/alloc.h"
#include "core/log.h"
#include "runtime/local_job.h"

#define HANDSHAKE_TIMEOUT_MS 10000

int rm_total_slots(const struct jobmanager *jm)
{
	int n = 0;
	for (const struct tm_entry *tm = jm->tms; tm; tm = tm->next)
		n += tm->nslots;
	return n;
}

int rm_free_slots(const struct jobmanager *jm)
{
	int n = 0;
	for (const struct tm_entry *tm = jm->tms; tm; tm = tm->next)
		for (int s = 0; s < tm->nslots; s++)
			n += tm->slot_job[s] == NULL;
	return n;
}

int rm_count_tms(const struct jobmanager *jm)
{
	int n = 0;
	for (const struct tm_entry *tm = jm->tms; tm; tm = tm->next)
		n++;
	return n;
}

/* Removes tm from the registry (caller holds mu); the entry stays allocated on jm->dead
 * because jobs still point at it. */
static void unregister_locked(struct jobmanager *jm, struct tm_entry *tm, const char *reason)
{
	if (!tm->registered)
		return;
	struct tm_entry **pp = &jm->tms;
	while (*pp && *pp != tm)
		pp = &(*pp)->next;
	if (*pp)
		*pp = tm->next;
	tm->registered = false;
	tm->next = jm->dead;
	jm->dead = tm;
	log_info("TaskManager %s @ %s (dataPort=%d) is lost: %s. Its %d slots are removed.",
	         tm->resource_id, tm->host, tm->data_port, reason, tm->nslots);
	jobmaster_tm_lost(jm, tm, reason);
	rpc_shutdown(tm->conn);
	pthread_cond_broadcast(&jm->cond);
}

void log_result_free(struct log_result *r)
{
	xfree(r->error);
	for (int i = 0; i < r->nfiles; i++)
		xfree(r->files[i].name);
	xfree(r->files);
	xfree(r->data);
	memset(r, 0, sizeof *r);
}

int rm_fetch_log(struct jobmanager *jm, const char *tm_id, const char *name, const char *special,
                 int64_t max_bytes, int64_t timeout_ms, struct log_result *out)
{
	memset(out, 0, sizeof *out);
	pthread_mutex_lock(&jm->mu);
	struct tm_entry *tm = jm->tms;
	while (tm && strcmp(tm->resource_id, tm_id) != 0)
		tm = tm->next;
	if (!tm) {
		pthread_mutex_unlock(&jm->mu);
		return SPATE_ENOENT;
	}
	struct log_wait w = {.id = ++jm->next_log_request, .tm = tm, .next = jm->log_waits};
	jm->log_waits = &w;
	Spate__Rpc__LogRequest req = SPATE__RPC__LOG_REQUEST__INIT;
	req.request_id = w.id;
	req.name = (char *)(name ? name : "");
	req.max_bytes = max_bytes;
	req.special = (char *)(special ? special : "");
	int rc = rpc_send_body(tm->conn, SPATE__RPC__ENVELOPE__BODY_LOG_REQUEST, &req);
	int64_t deadline = now_ms() + timeout_ms;
	while (rc == 0 && !w.done && tm->registered && !atomic_load(&jm->stopping)) {
		int64_t left = deadline - now_ms();
		if (left <= 0)
			break;
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		int64_t ns = ts.tv_nsec + (left > 200 ? 200 : left) * 1000000;
		ts.tv_sec += ns / 1000000000;
		ts.tv_nsec = ns % 1000000000;
		pthread_cond_timedwait(&jm->cond, &jm->mu, &ts);
	}
	for (struct log_wait **pp = &jm->log_waits; *pp; pp = &(*pp)->next)
		if (*pp == &w) {
			*pp = w.next;
			break;
		}
	pthread_mutex_unlock(&jm->mu);
	if (!w.done) {
		log_result_free(&w.result);
		return SPATE_EAGAIN;
	}
	*out = w.result;
	return 0;
}

void rm_log_reply(struct jobmanager *jm, const struct tm_entry *from, const Spate__Rpc__LogReply *r)
{
	pthread_mutex_lock(&jm->mu);
	struct log_wait *w = jm->log_waits;
	while (w && (w->id != r->request_id || w->tm != from))
		w = w->next;
	if (w && !w->done) {
		struct log_result *res = &w->result;
		if (r->error && *r->error)
			res->error = xstrdup(r->error);
		res->nfiles = (int)r->n_files;
		res->files = xcalloc(r->n_files ? r->n_files : 1, sizeof *res->files);
		for (size_t i = 0; i < r->n_files; i++) {
			res->files[i].name = xstrdup(r->files[i]->name ? r->files[i]->name : "");
			res->files[i].size = r->files[i]->size;
		}
		if (r->data.len) {
			res->data = xmalloc(r->data.len);
			memcpy(res->data, r->data.data, r->data.len);
			res->len = r->data.len;
		}
		w->done = true;
		pthread_cond_broadcast(&jm->cond);
	}
	pthread_mutex_unlock(&jm->mu);
}

static int serve_blob(struct jobmanager *jm, struct rpc_conn *c, const char *key)
{
	size_t len = 0;
	uint8_t *data = blob_get(jm->blob_dir, key, &len);
	Spate__Rpc__BlobReply r = SPATE__RPC__BLOB_REPLY__INIT;
	r.key = (char *)key;
	if (data) {
		r.data.data = data;
		r.data.len = len;
	} else {
		r.error = "no such blob";
	}
	int rc = rpc_send_body(c, SPATE__RPC__ENVELOPE__BODY_BLOB_REPLY, &r);
	xfree(data);
	return rc;
}

/* Handles one message from a registered TaskManager. Returns -1 on a protocol violation. */
static int handle(struct jobmanager *jm, struct tm_entry *tm, const rpc_msg *m, char *why,
                  size_t why_cap)
{
	char job_id[33];
	switch (m->body_case) {
	case SPATE__RPC__ENVELOPE__BODY_HEARTBEAT:
		if (!m->heartbeat->is_reply) {
			Spate__Rpc__Heartbeat h = SPATE__RPC__HEARTBEAT__INIT;
			h.sent_ms = m->heartbeat->sent_ms;
			h.is_reply = true;
			rpc_send_body(tm->conn, SPATE__RPC__ENVELOPE__BODY_HEARTBEAT, &h);
		}
		return 0;
	case SPATE__RPC__ENVELOPE__BODY_TASK_STATE: {
		const Spate__Rpc__TaskStateUpdate *u = m->task_state;
		int to = execution_state_parse(u->state);
		if (job_id_from_bytes(u->job_id, job_id) < 0 || to < 0) {
			snprintf(why, why_cap, "malformed task state update");
			return -1;
		}
		pthread_mutex_lock(&jm->mu);
		if (u->final_metrics)
			jobmaster_task_metrics(jm, tm, u->final_metrics, true);
		jobmaster_task_state(jm, tm, job_id, (int)u->vertex, (int)u->subtask,
		                     (int)u->attempt, (enum execution_state)to, u->failure);
		pthread_mutex_unlock(&jm->mu);
		return 0;
	}
	case SPATE__RPC__ENVELOPE__BODY_JOB_RELEASED:
		if (job_id_from_bytes(m->job_released->job_id, job_id) < 0) {
			snprintf(why, why_cap, "malformed job release");
			return -1;
		}
		pthread_mutex_lock(&jm->mu);
		jobmaster_released(jm, tm, job_id);
		pthread_mutex_unlock(&jm->mu);
		return 0;
	case SPATE__RPC__ENVELOPE__BODY_ACK_CHECKPOINT:
		pthread_mutex_lock(&jm->mu);
		jobmaster_ack_checkpoint(jm, tm, m->ack_checkpoint);
		pthread_mutex_unlock(&jm->mu);
		return 0;
	case SPATE__RPC__ENVELOPE__BODY_END_OF_INPUT:
		pthread_mutex_lock(&jm->mu);
		jobmaster_end_of_input(jm, tm, m->end_of_input);
		pthread_mutex_unlock(&jm->mu);
		return 0;
	case SPATE__RPC__ENVELOPE__BODY_BLOB_REQUEST:
		serve_blob(jm, tm->conn, m->blob_request->key ? m->blob_request->key : "");
		return 0;
	case SPATE__RPC__ENVELOPE__BODY_METRIC_REPORT: {
		const Spate__Rpc__MetricReport *r = m->metric_report;
		pthread_mutex_lock(&jm->mu);
		struct tm_metrics *tmm = &tm->metrics;
		tmm->cpu_load = r->cpu_load;
		tmm->cpu_time_ms = r->cpu_time_ms;
		tmm->rss_bytes = r->rss_bytes;
		tmm->physical_memory = r->physical_memory;
		tmm->free_memory = r->free_memory;
		tmm->cpu_cores = (int)r->cpu_cores;
		tmm->net_buffers_total = r->net_buffers_total;
		tmm->net_buffers_available = r->net_buffers_available;
		tmm->prometheus_port = r->prometheus_port <= 65535 ? (int)r->prometheus_port : 0;
		tmm->updated_ms = now_ms();
		for (size_t i = 0; i < r->n_tasks; i++)
			jobmaster_task_metrics(jm, tm, r->tasks[i], false);
		pthread_mutex_unlock(&jm->mu);
		return 0;
	}
	case SPATE__RPC__ENVELOPE__BODY_LOG_REPLY:
		rm_log_reply(jm, tm, m->log_reply);
		return 0;
	default:
		snprintf(why, why_cap, "unexpected message type %d from a TaskManager",
		         m->body_case);
		return -1;
	}
}

static struct tm_entry *register_tm(struct jobmanager *jm, struct rpc_conn *c,
                                    const Spate__Rpc__RegisterTaskManager *r, char *why,
                                    size_t why_cap)
{
	if (!r->resource_id || !*r->resource_id || strlen(r->resource_id) >= 80 ||
	    r->num_slots < 1 || r->num_slots > 4096 || r->data_port == 0 || r->data_port > 65535) {
		snprintf(why, why_cap, "malformed registration");
		return NULL;
	}
	struct tm_entry *tm = xcalloc(1, sizeof *tm);
	snprintf(tm->resource_id, sizeof tm->resource_id, "%s", r->resource_id);
	snprintf(tm->host, sizeof tm->host, "%s", r->host && *r->host ? r->host : "localhost");
	tm->data_port = (int)r->data_port;
	tm->nslots = (int)r->num_slots;
	tm->slot_job = xcalloc((size_t)tm->nslots, sizeof *tm->slot_job);
	tm->conn = c;
	tm->registered_ms = tm->last_heartbeat_ms = now_ms();
	tm->metrics.prometheus_port = r->metrics_port <= 65535 ? (int)r->metrics_port : 0;

	pthread_mutex_lock(&jm->mu);
	for (struct tm_entry *old = jm->tms; old; old = old->next)
		if (strcmp(old->resource_id, tm->resource_id) == 0) {
			unregister_locked(jm, old, "it registered again");
			break;
		}
	tm->registered = true;
	struct tm_entry **pp = &jm->tms; /* registration order */
	while (*pp)
		pp = &(*pp)->next;
	*pp = tm;
	log_info("Registering TaskManager with ResourceID %s (%s:%d, %d slots) at "
	         "ResourceManager",
	         tm->resource_id, tm->host, tm->data_port, tm->nslots);
	Spate__Rpc__RegistrationReply reply = SPATE__RPC__REGISTRATION_REPLY__INIT;
	reply.accepted = true;
	reply.heartbeat_interval_ms = jm->heartbeat_interval_ms;
	reply.heartbeat_timeout_ms = jm->heartbeat_timeout_ms;
	reply.jobmanager_id = jm->id;
	rpc_send_body(c, SPATE__RPC__ENVELOPE__BODY_REGISTRATION_REPLY, &reply);
	pthread_cond_broadcast(&jm->cond);
	pthread_mutex_unlock(&jm->mu);
	return tm;
}

static void *reader_main(void *arg)
{
	struct jobmanager *jm = ((void **)arg)[0];
	struct rpc_conn *c = ((void **)arg)[1];
	xfree(arg);
	log_set_thread_name("ResourceManager");
	char why[256] = "", peer[80] = "";
	struct tm_entry *tm = NULL;
	int hs_timeout = jm->heartbeat_timeout_ms < HANDSHAKE_TIMEOUT_MS
	                     ? (int)jm->heartbeat_timeout_ms
	                     : HANDSHAKE_TIMEOUT_MS;
	if (rpc_handshake(c, "jobmanager", jm->id, hs_timeout, peer, sizeof peer, why, sizeof why) <
	    0) {
		log_warn("Closing RPC connection from %s: %s", c->peer, why);
		goto out;
	}
	rpc_msg *m = rpc_recv(c, hs_timeout, why, sizeof why);
	if (!m) {
		log_warn("Closing RPC connection from %s: %s", c->peer, why);
		goto out;
	}
	if (m->body_case != SPATE__RPC__ENVELOPE__BODY_REGISTER_TM) {
		log_warn("Closing RPC connection from %s: expected a registration, got message "
		         "type %d",
		         c->peer, m->body_case);
		rpc_msg_free(m);
		goto out;
	}
	tm = register_tm(jm, c, m->register_tm, why, sizeof why);
	rpc_msg_free(m);
	if (!tm) {
		log_warn("Closing RPC connection from %s: %s", c->peer, why);
		goto out;
	}
	for (;;) {
		m = rpc_recv(c, (int)jm->heartbeat_timeout_ms, why, sizeof why);
		if (!m) {
			if (strncmp(why, "no message", 10) == 0)
				snprintf(why, sizeof why, "heartbeat of TaskManager %s timed out",
				         tm->resource_id);
			else if (strcmp(why, "connection closed") == 0 ||
			         strstr(why, "Connection reset by peer"))
				/* a killed process's kernel resets the connection instead of
				 * closing it when messages to it were still unread */
				snprintf(why, sizeof why, "connection to TaskManager %s was lost",
				         tm->resource_id);
			break;
		}
		pthread_mutex_lock(&jm->mu);
		tm->last_heartbeat_ms = now_ms();
		pthread_mutex_unlock(&jm->mu);
		int rc = handle(jm, tm, m, why, sizeof why);
		rpc_msg_free(m);
		if (rc < 0) {
			log_warn("Closing RPC connection from %s: %s", c->peer, why);
			break;
		}
	}
out:
	pthread_mutex_lock(&jm->mu);
	if (tm)
		unregister_locked(jm, tm,
		                  atomic_load(&jm->stopping) ? "JobManager shutting down" : why);
	else
		rpc_conn_free(c);
	jm->readers--;
	pthread_cond_broadcast(&jm->cond);
	pthread_mutex_unlock(&jm->mu);
	return NULL;
}

static void *acceptor_main(void *arg)
{
	struct jobmanager *jm = arg;
	log_set_thread_name("rpc-acceptor");
	while (!atomic_load(&jm->stopping)) {
		int fd = accept4(jm->rpc_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (atomic_load(&jm->stopping))
				break;
			log_warn("accept on the RPC port failed: %s", strerror(errno));
			struct timespec ts = {0, 50 * 1000000};
			nanosleep(&ts, NULL); /* out of descriptors: back off, keep serving */
			continue;
		}
		void **arg2 = xmalloc(2 * sizeof *arg2);
		arg2[0] = jm;
		arg2[1] = rpc_conn_new(fd);
		pthread_t th;
		pthread_mutex_lock(&jm->mu);
		jm->readers++;
		pthread_mutex_unlock(&jm->mu);
		if (pthread_create(&th, NULL, reader_main, arg2) != 0) {
			rpc_conn_free(arg2[1]);
			xfree(arg2);
			pthread_mutex_lock(&jm->mu);
			jm->readers--;
			pthread_mutex_unlock(&jm->mu);
			continue;
		}
		pthread_detach(th);
	}
	return NULL;
}

static void *heartbeat_main(void *arg)
{
	struct jobmanager *jm = arg;
	log_set_thread_name("heartbeat");
	pthread_mutex_lock(&jm->mu);
	while (!atomic_load(&jm->stopping)) {
		Spate__Rpc__Heartbeat h = SPATE__RPC__HEARTBEAT__INIT;
		h.sent_ms = now_ms();
		for (struct tm_entry *tm = jm->tms; tm; tm = tm->next)
			rpc_send_body(tm->conn, SPATE__RPC__ENVELOPE__BODY_HEARTBEAT, &h);
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		int64_t ns = ts.tv_nsec + jm->heartbeat_interval_ms * 1000000;
		ts.tv_sec += ns / 1000000000;
		ts.tv_nsec = ns % 1000000000;
		while (!atomic_load(&jm->stopping) &&
		       pthread_cond_timedwait(&jm->cond, &jm->mu, &ts) != ETIMEDOUT) {
		}
	}
	pthread_mutex_unlock(&jm->mu);
	return NULL;
}

int rm_start(struct jobmanager *jm, struct spate_error *err)
{
	const char *host = config_get(jm->config, "jobmanager.bind-host");
	if (!host)
		host = config_get(jm->config, "jobmanager.rpc.address");
	if (!host)
		host = "localhost";
	snprintf(jm->rpc_host, sizeof jm->rpc_host, "%s", host);
	int port = (int)config_get_int(jm->config, "jobmanager.rpc.port", 6123);
	jm->rpc_fd = rpc_listen(host, port, &jm->rpc_port, err);
	if (jm->rpc_fd < 0)
		return jm->rpc_fd;
	log_info("Starting RPC endpoint for the ResourceManager at %s:%d", host, jm->rpc_port);
	if (pthread_create(&jm->acceptor, NULL, acceptor_main, jm) != 0 ||
	    pthread_create(&jm->heartbeater, NULL, heartbeat_main, jm) != 0)
		return error_set(err, SPATE_EIO, "cannot start the ResourceManager's threads");
	return 0;
}

void rm_stop(struct jobmanager *jm)
{
	atomic_store(&jm->stopping, true);
	shutdown(jm->rpc_fd, SHUT_RDWR);
	pthread_mutex_lock(&jm->mu);
	pthread_cond_broadcast(&jm->cond);
	for (struct tm_entry *tm = jm->tms; tm; tm = tm->next)
		rpc_shutdown(tm->conn);
	pthread_mutex_unlock(&jm->mu);
	pthread_join(jm->acceptor, NULL);
	pthread_join(jm->heartbeater, NULL);
	close(jm->rpc_fd);
	pthread_mutex_lock(&jm->mu);
	while (jm->readers > 0)
		pthread_cond_wait(&jm->cond, &jm->mu);
	pthread_mutex_unlock(&jm->mu);
}

void rm_free(struct jobmanager *jm)
{
	while (jm->dead) {
		struct tm_entry *tm = jm->dead;
		jm->dead = tm->next;
		rpc_conn_free(tm->conn);
		xfree(tm->slot_job);
		xfree(tm);
	}
}
