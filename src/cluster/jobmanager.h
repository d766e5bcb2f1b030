/*
 * jobmanager.h - the JobManager process: Dispatcher, ResourceManager, one JobMaster per job
 * and the blob store, and the state they share.
 *
 * DESIGN. Each component runs on threads of its own:
 *   - the ResourceManager has an acceptor thread for the RPC port, one reader thread per
 *     TaskManager connection and a heartbeat thread (resource_manager.c);
 *   - the Dispatcher serves the REST API on the HTTP server's threads (dispatcher.c);
 *   - every JobMaster is a thread that lives from submission to the job's terminal state
 *     and the release of its slots (job_master.c).
 * They share one registry guarded by jm->mu: the TaskManagers with their slots and the
 * jobs with their subtasks. jm->cond is broadcast on every change a JobMaster may wait for
 * (slots freed or registered, task states, TaskManagers lost, cancel requests). Holding
 * jm->mu, code may send RPC messages (a connection's write mutex nests inside jm->mu);
 * nothing waits for a network reply while holding it.
 */
#ifndef SPATE_CLUSTER_JOBMANAGER_H
#define SPATE_CLUSTER_JOBMANAGER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "checkpoint/restart.h"
#include "config/config.h"
#include "graph/execution_graph.h"
#include "graph/status.h"
#include "metrics/metrics.h"
#include "rpc/rpc.h"

struct jm_job;
struct checkpoint_coordinator;

/* A registered TaskManager (ResourceManager's registry). */
struct tm_entry {
	char resource_id[80];
	char host[64];
	int data_port;
	int nslots;
	struct jm_job **slot_job; /* per slot: the job holding it, or NULL (free) */
	struct rpc_conn *conn;
	int64_t registered_ms;
	int64_t last_heartbeat_ms;
	bool registered;           /* in jm->tms; false once lost or unregistered */
	struct tm_metrics metrics; /* the latest MetricReport */
	struct tm_entry *next;
};

/* One subtask as the JobMaster tracks it. */
struct jm_task {
	enum execution_state state;
	int attempt;
	struct tm_entry *tm; /* where it runs (NULL before deployment) */
	int slot;
	char *failure; /* owned */
	int64_t start_ms, end_ms;
	int64_t state_ms[EXEC_STATE_COUNT]; /* when each state was entered (0 = never) */
	struct task_metrics metrics;        /* the latest MetricReport of this attempt */
	bool end_of_input; /* this attempt processed its whole input (TaskEndOfInput) */
};

/* One failure the JobMaster handled (REST /jobs/:id/exceptions): a task's failure, a lost
 * TaskManager, or a global one (checkpoint failures beyond the tolerable number, no slots). */
struct jm_exception {
	int64_t timestamp_ms; /* epoch ms */
	char *message;        /* owned: the failure's message */
	char *task_name;      /* owned: "<vertex name> (i/n)", or NULL for a global failure */
	char *endpoint;       /* owned: "<host>:<dataPort>" of the task's TaskManager, or NULL */
	char *tm_id;          /* owned: its TaskManager's resource id, or NULL */
	int attempt;          /* the failed attempt (task failures), else 0 */
	bool restarted;       /* the job restarted after it (else it failed the job) */
};

#define JM_EXCEPTION_HISTORY 16 /* Flink's web.exception-history-size */

struct jm_job {
	char id[33];
	char *name;
	enum job_status status;
	int64_t timestamps[JOB_STATUS_COUNT]; /* when each status was entered (0 = never) */
	int64_t start_ms, end_ms;
	uint8_t *graph; /* the encoded StreamGraph (owned) */
	size_t graph_len;
	char blob_key[33];
	uint64_t blob_size;
	struct stream_graph *sg;    /* owned */
	struct job_graph *jg;       /* owned */
	struct execution_graph *eg; /* owned */
	struct jm_task *tasks;      /* owned: all subtasks, vertex by vertex */
	int ntasks;
	int nslots_needed;
	struct tm_entry **involved; /* TaskManagers it deployed to (owned array) */
	bool *released;             /* per involved TaskManager: JobReleased received */
	int ninvolved;
	char *failure; /* root cause (owned), first wins; set only when the job fails for good */
	bool cancel_requested;
	bool slots_freed;
	/* checkpoints and failover (job_master.c; all guarded by jm->mu) */
	struct config *config; /* the job's effective configuration: the cluster's, then the
	                          job's own values (owned; NULL until its JobMaster ran) */
	struct checkpoint_coordinator *coordinator; /* owned; NULL until its JobMaster ran */
	struct restart_strategy restart;
	int64_t restart_at_ms; /* RESTARTING: when the tasks are deployed again (epoch ms) */
	int num_restarts;      /* Flink's numRestarts (fullRestarts) */
	int64_t next_final_ms; /* a failed final checkpoint is retried from then (epoch ms) */
	/* Failures, oldest first, at most JM_EXCEPTION_HISTORY (the oldest are dropped). */
	struct jm_exception exceptions[JM_EXCEPTION_HISTORY];
	int nexceptions;
	pthread_t master;
	struct jm_job *next;
};

/* A REST handler waiting for a TaskManager's LogReply (see rm_fetch_log). */
struct log_file_info {
	char *name; /* owned */
	int64_t size;
};

struct log_result {
	char *error;                 /* owned; NULL on success */
	struct log_file_info *files; /* owned, nfiles entries (a listing) */
	int nfiles;
	uint8_t *data; /* owned (a file's content), len bytes */
	size_t len;
};

struct log_wait {
	uint64_t id;
	const struct tm_entry *tm; /* the TaskManager asked: only its reply counts */
	bool done;
	struct log_result result;
	struct log_wait *next;
};

struct jobmanager {
	struct config *config;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	struct tm_entry *tms;           /* guarded by: mu; registered TaskManagers */
	struct jm_job *jobs;            /* guarded by: mu; newest first */
	int readers;                    /* guarded by: mu; live TaskManager reader threads */
	struct tm_entry *dead;          /* guarded by: mu; lost entries, freed at shutdown */
	struct log_wait *log_waits;     /* guarded by: mu; REST handlers waiting for a LogReply */
	uint64_t next_log_request;      /* guarded by: mu */
	struct proc_sample last_sample; /* guarded by: mu; for the JobManager's CPU load */
	atomic_bool stopping;
	int rpc_fd;
	int rpc_port;
	char rpc_host[64];
	pthread_t acceptor, heartbeater;
	struct http_server *rest;
	char *blob_dir;     /* owned */
	char *address_file; /* owned: where the REST and RPC addresses were written */
	int64_t heartbeat_interval_ms;
	int64_t heartbeat_timeout_ms;
	int64_t slot_request_timeout_ms;
	char id[33];
};

/* Runs a JobManager in the foreground until SIGTERM/SIGINT. Returns the process exit code. */
int jobmanager_main(struct config *config);

/* ResourceManager (resource_manager.c). */
int rm_start(struct jobmanager *jm, struct spate_error *err);
/* Stops the ResourceManager's threads; every TaskManager ends up in jm->dead. JobMasters may
 * still hold pointers to those entries: rm_free releases them once the JobMasters ended. */
void rm_stop(struct jobmanager *jm);
void rm_free(struct jobmanager *jm);
int rm_total_slots(const struct jobmanager *jm); /* caller holds mu */
int rm_free_slots(const struct jobmanager *jm);  /* caller holds mu */
int rm_count_tms(const struct jobmanager *jm);   /* caller holds mu */
/* Asks TaskManager tm_id for the list of its log files (name NULL) or the last max_bytes of
 * one (special "log" or "stdout": its own files, name NULL); waits up to timeout_ms for the answer.
 * Returns 0 with *out filled (out->error set when the TaskManager refused), SPATE_ENOENT for an
 * unknown TaskManager, SPATE_EAGAIN on timeout or loss. Free *out with log_result_free. Takes
 * jm->mu itself. */
int rm_fetch_log(struct jobmanager *jm, const char *tm_id, const char *name, const char *special,
                 int64_t max_bytes, int64_t timeout_ms, struct log_result *out);
void rm_log_reply(struct jobmanager *jm, const struct tm_entry *from,
                  const Spate__Rpc__LogReply *r); /* reader thread */
void log_result_free(struct log_result *r);

/* Blob store (blob_store.c): content-addressed job libraries. */
int blob_put(const char *dir, const void *data, size_t len, char key[33], struct spate_error *err);
/* Reads a blob (xmalloc'd) or NULL. */
uint8_t *blob_get(const char *dir, const char *key, size_t *len);
void blob_key_of(const void *data, size_t len, char key[33]);
/* Writes data to path (mode 0600) and fsyncs it. 0, or -1 with errno. */
int blob_write_file(const char *path, const void *data, size_t len);

/* JobMaster (job_master.c). Caller holds mu for all but start. */
int jobmaster_start(struct jobmanager *jm, struct jm_job *job, struct spate_error *err);
void jobmaster_task_state(struct jobmanager *jm, struct tm_entry *tm, const char *job_id,
                          int vertex, int subtask, int attempt, enum execution_state to,
                          const char *failure);
/* Stores a subtask's metric sample from TaskManager tm (ignored unless it runs there, and,
 * unless final (sent with its terminal state), once the subtask has ended). */
void jobmaster_task_metrics(struct jobmanager *jm, struct tm_entry *tm,
                            const Spate__Rpc__TaskMetricsSample *s, bool final);
void jobmaster_released(struct jobmanager *jm, struct tm_entry *tm, const char *job_id);
/* A subtask's acknowledgement or decline of a checkpoint (ignored unless it is the current
 * attempt running on tm and the job's pending checkpoint). */
void jobmaster_ack_checkpoint(struct jobmanager *jm, struct tm_entry *tm,
                              const Spate__Rpc__AcknowledgeCheckpoint *a);
/* A subtask processed its whole input and waits for the final checkpoint (same checks). */
void jobmaster_end_of_input(struct jobmanager *jm, struct tm_entry *tm,
                            const Spate__Rpc__TaskEndOfInput *e);
void jobmaster_tm_lost(struct jobmanager *jm, struct tm_entry *tm, const char *reason);
void jobmaster_cancel(struct jobmanager *jm, struct jm_job *job);
void jm_job_free(struct jm_job *job);

/* Dispatcher (dispatcher.c). */
int dispatcher_start(struct jobmanager *jm, struct spate_error *err);
void dispatcher_stop(struct jobmanager *jm);
struct jm_job *dispatcher_find(struct jobmanager *jm, const char *id); /* caller holds mu */
/* Submits a job: graph is an encoded StreamGraph, lib the job library's bytes, job_id a
 * wanted id or NULL/"". On success out_id gets the job's id and its JobMaster runs.
 * Errors: SPATE_EINVAL (bad graph or library), SPATE_EEXIST (id taken), SPATE_EBUSY
 * (shutting down), SPATE_EIO (blob store); dispatcher_http_status maps them to 400, 409,
 * 503 and 500. Takes jm->mu itself. */
int dispatcher_submit(struct jobmanager *jm, const uint8_t *graph, size_t graph_len,
                      const uint8_t *lib, size_t lib_len, const char *job_id, char out_id[33],
                      struct spate_error *err);
int dispatcher_http_status(int rc);

#endif
