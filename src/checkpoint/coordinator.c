/*
 * coordinator.c - the CheckpointCoordinator of one job (see coordinator.h): its configuration,
 * the pending checkpoint and its acknowledgements, completed checkpoints and their retention,
 * failure counting, savepoint requests and the statistics REST shows.
 *
 * DESIGN. Everything here is guarded by jm->mu and never blocks: the coordinator makes no
 * RPC calls and the only disk work under the lock is creating a checkpoint's directory. The
 * JobMaster's thread (job_master.c) drives it: it asks what the pending checkpoint needs
 * (coordinator_pending_action), sends the triggers and notifications, writes `_metadata` and
 * removes discarded files with the lock released. At most one checkpoint is pending
 * (max-concurrent-checkpoints 1).
 *
 * Retention: the num-retained newest completed checkpoints are kept (savepoints are the
 * user's and never counted or deleted). Discarding one removes its chk-N directory and the
 * files under <dir>/<job id>/shared that it referenced and no retained checkpoint still
 * references. A checkpoint restored from (-s) belongs to someone else: it is retained for
 * failover but never deleted.
 */
#include "checkpoint/coordinator.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "checkpoint/metadata.h"
#include "core/alloc.h"
#include "core/log.h"
#include "graph/job_graph.h"

#define HISTORY_SIZE 10 /* Flink's web.checkpoints.history */

struct task_ack {
	bool acked;
	Spate__Ckpt__OperatorSubtaskStateMsg **ops; /* owned copies, nops entries */
	size_t nops;
};

struct pending {
	int64_t id;
	enum checkpoint_kind kind;
	int64_t trigger_ms;
	int64_t all_acked_ms;
	char *dir;                         /* owned: chk-N or the savepoint directory */
	struct savepoint_request *request; /* borrowed from co->requests, or NULL */
	struct task_ack *acks;             /* owned, ntasks entries */
	int nacked;
	bool declined;
	char *decline_reason; /* owned */
	bool abort_end_of_input;
	struct checkpoint_stats *stats; /* the history's entry (owned by the history) */
};

struct retained {
	int64_t id;
	char *dir;     /* owned */
	bool owned;    /* false: restored from, never deleted */
	char **shared; /* owned: absolute paths of files outside dir it refers to */
	int nshared;
};

struct checkpoint_coordinator {
	char job_id[33];
	struct checkpoint_config cc; /* owned copy */
	int nvertices;
	int *parallelism; /* owned, per vertex */
	int *vertex_of;   /* owned, per task */
	int ntasks;
	char *shared_dir; /* owned: <dir>/<job id>/shared, or NULL */

	int64_t last_id;
	int64_t last_trigger_ms;
	int64_t last_completion_ms;
	bool periodic_stopped;
	struct pending *pending;
	int consecutive_failures;
	bool failure_exceeded;

	struct retained *retained; /* oldest first */
	int nretained;

	struct checkpoint_stats *history[HISTORY_SIZE]; /* newest first, owned */
	int nhistory;
	struct checkpoint_stats *latest_completed, *latest_savepoint, *latest_failed; /* copies */
	struct checkpoint_restored restored;
	struct checkpoint_counts counts;

	struct savepoint_request *requests; /* oldest first */
};

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- configuration ------------------------------------------------------------------------ */

/* A usable local path from a configured one: "file://" stripped (Flink users write URIs),
 * made absolute against the JobManager's working directory, trailing '/' removed. */
static char *local_path(const char *p)
{
	if (strncmp(p, "file://", 7) == 0)
		p += 7;
	else if (strncmp(p, "file:/", 6) == 0)
		p += 5;
	char *out;
	if (p[0] == '/') {
		out = xstrdup(p);
	} else {
		char cwd[4096];
		out = getcwd(cwd, sizeof cwd) ? xasprintf("%s/%s", cwd, p) : xstrdup(p);
	}
	size_t n = strlen(out);
	while (n > 1 && out[n - 1] == '/')
		out[--n] = '\0';
	return out;
}

int checkpoint_config_load(struct checkpoint_config *cc, const struct config *c,
                           struct spate_error *err)
{
	memset(cc, 0, sizeof *cc);
	cc->enabled = config_get(c, "execution.checkpointing.interval") != NULL;
	cc->interval_ms = cc->enabled
	                      ? config_get_duration_ms(c, "execution.checkpointing.interval", 0)
	                      : INT64_MAX;
	if (cc->enabled && cc->interval_ms < 10) {
		/* Flink's CheckpointConfig.MINIMAL_CHECKPOINT_TIME */
		return error_set(err, SPATE_ECONFIG,
		                 "Checkpoint interval must be larger than or equal to 10 ms "
		                 "(execution.checkpointing.interval is '%s')",
		                 config_get(c, "execution.checkpointing.interval"));
	}
	const char *mode = config_get(c, "execution.checkpointing.mode");
	cc->exactly_once = !mode || strcasecmp(mode, "AT_LEAST_ONCE") != 0;
	cc->timeout_ms = config_get_duration_ms(c, "execution.checkpointing.timeout", 600000);
	if (cc->timeout_ms < 10)
		return error_set(err, SPATE_ECONFIG,
		                 "Checkpoint timeout must be larger than or equal to 10 ms "
		                 "(execution.checkpointing.timeout)");
	cc->min_pause_ms = config_get_duration_ms(c, "execution.checkpointing.min-pause", 0);
	cc->max_concurrent =
	    (int)config_get_int(c, "execution.checkpointing.max-concurrent-checkpoints", 1);
	if (cc->max_concurrent > 1)
		log_warn(
		    "execution.checkpointing.max-concurrent-checkpoints is %d: Spate takes one "
		    "checkpoint at a time",
		    cc->max_concurrent);
	int64_t tol = config_get_int(c, "execution.checkpointing.tolerable-failed-checkpoints", 0);
	if (tol < 0 || tol > INT_MAX)
		return error_set(err, SPATE_ECONFIG,
		                 "The tolerable failure checkpoint number must be non-negative "
		                 "(execution.checkpointing.tolerable-failed-checkpoints is %lld)",
		                 (long long)tol);
	cc->tolerable_failures = (int)tol;
	int64_t nret = config_get_int(c, "execution.checkpointing.num-retained", 1);
	cc->num_retained = nret < 1 ? 1 : nret > 1000000 ? 1000000 : (int)nret;
	const char *dir = config_get(c, "execution.checkpointing.dir");
	cc->dir = dir && *dir ? local_path(dir) : NULL;
	const char *sdir = config_get(c, "execution.checkpointing.savepoint-dir");
	cc->savepoint_dir = sdir && *sdir ? local_path(sdir) : NULL;
	cc->incremental = config_get_bool(c, "execution.checkpointing.incremental", false);
	const char *backend = config_get(c, "state.backend.type");
	snprintf(cc->backend, sizeof cc->backend, "%s", backend ? backend : "hashmap");
	const char *ret =
	    config_get(c, "execution.checkpointing.externalized-checkpoint-retention");
	cc->externalized_retain = ret && strcasecmp(ret, "RETAIN_ON_CANCELLATION") == 0;
	const char *restore = config_get(c, "execution.state-recovery.path");
	cc->restore_path = restore && *restore ? local_path(restore) : NULL;
	cc->allow_non_restored =
	    config_get_bool(c, "execution.state-recovery.ignore-unclaimed-state", false);
	if (cc->enabled && !cc->dir) {
		/* Flink falls back to the JobManager's memory (JobManagerCheckpointStorage);
		 * Spate has no such storage: a checkpoint always goes to files. */
		checkpoint_config_release(cc);
		return error_set(
		    err, SPATE_ECONFIG,
		    "Checkpointing is enabled (execution.checkpointing.interval) but no "
		    "checkpoint directory is set: set execution.checkpointing.dir");
	}
	return 0;
}

void checkpoint_config_release(struct checkpoint_config *cc)
{
	xfree(cc->dir);
	xfree(cc->savepoint_dir);
	xfree(cc->restore_path);
	cc->dir = cc->savepoint_dir = cc->restore_path = NULL;
}

static void config_copy(struct checkpoint_config *dst, const struct checkpoint_config *src)
{
	*dst = *src;
	dst->dir = xstrdup(src->dir);
	dst->savepoint_dir = xstrdup(src->savepoint_dir);
	dst->restore_path = xstrdup(src->restore_path);
}

const char *checkpoint_status_name(enum checkpoint_status s)
{
	switch (s) {
	case CKPT_COMPLETED:
		return "COMPLETED";
	case CKPT_FAILED:
		return "FAILED";
	default:
		return "IN_PROGRESS";
	}
}

/* ---- life cycle --------------------------------------------------------------------------- */

struct checkpoint_coordinator *coordinator_new(const char *job_id,
                                               const struct checkpoint_config *cc, int nvertices,
                                               const int *parallelism)
{
	struct checkpoint_coordinator *co = xcalloc(1, sizeof *co);
	snprintf(co->job_id, sizeof co->job_id, "%s", job_id);
	config_copy(&co->cc, cc);
	co->nvertices = nvertices;
	co->parallelism = xcalloc((size_t)(nvertices ? nvertices : 1), sizeof *co->parallelism);
	for (int v = 0; v < nvertices; v++) {
		co->parallelism[v] = parallelism[v];
		co->ntasks += parallelism[v];
	}
	co->vertex_of = xcalloc((size_t)(co->ntasks ? co->ntasks : 1), sizeof *co->vertex_of);
	for (int v = 0, k = 0; v < nvertices; v++)
		for (int i = 0; i < parallelism[v]; i++)
			co->vertex_of[k++] = v;
	if (co->cc.dir)
		co->shared_dir =
		    xasprintf("%s/%s/%s", co->cc.dir, co->job_id, CHECKPOINT_SHARED_DIR);
	return co;
}

static void stats_free(struct checkpoint_stats *s)
{
	if (!s)
		return;
	xfree(s->external_path);
	xfree(s->failure);
	for (int v = 0; v < s->nvertices; v++)
		xfree(s->vertices[v].subtasks);
	xfree(s->vertices);
	xfree(s);
}

static struct checkpoint_subtask_stats *subtasks_new(int n)
{
	return xcalloc((size_t)(n ? n : 1), sizeof(struct checkpoint_subtask_stats));
}

static struct checkpoint_stats *stats_copy(const struct checkpoint_stats *s)
{
	struct checkpoint_stats *c = xmalloc(sizeof *c);
	*c = *s;
	c->external_path = xstrdup(s->external_path);
	c->failure = xstrdup(s->failure);
	c->vertices = xcalloc((size_t)(s->nvertices ? s->nvertices : 1), sizeof *c->vertices);
	memcpy(c->vertices, s->vertices, (size_t)s->nvertices * sizeof *c->vertices);
	for (int v = 0; v < s->nvertices; v++) {
		int n = s->vertices[v].num_subtasks;
		c->vertices[v].subtasks = subtasks_new(n);
		memcpy(c->vertices[v].subtasks, s->vertices[v].subtasks,
		       (size_t)n * sizeof *c->vertices[v].subtasks);
	}
	return c;
}

static void pending_free(struct checkpoint_coordinator *co, struct pending *p)
{
	if (!p)
		return;
	for (int k = 0; k < co->ntasks; k++) {
		for (size_t o = 0; o < p->acks[k].nops; o++)
			spate__ckpt__operator_subtask_state_msg__free_unpacked(p->acks[k].ops[o],
			                                                       NULL);
		xfree(p->acks[k].ops);
	}
	xfree(p->acks);
	xfree(p->dir);
	xfree(p->decline_reason);
	xfree(p);
}

static void retained_release(struct retained *r)
{
	xfree(r->dir);
	for (int i = 0; i < r->nshared; i++)
		xfree(r->shared[i]);
	xfree(r->shared);
}

static void request_free(struct savepoint_request *r)
{
	xfree(r->location);
	xfree(r->failure);
	xfree(r->target_dir);
	xfree(r);
}

void coordinator_free(struct checkpoint_coordinator *co)
{
	if (!co)
		return;
	pending_free(co, co->pending);
	for (int i = 0; i < co->nretained; i++)
		retained_release(&co->retained[i]);
	xfree(co->retained);
	for (int i = 0; i < co->nhistory; i++)
		stats_free(co->history[i]);
	stats_free(co->latest_completed);
	stats_free(co->latest_savepoint);
	stats_free(co->latest_failed);
	xfree(co->restored.external_path);
	while (co->requests) {
		struct savepoint_request *r = co->requests;
		co->requests = r->next;
		request_free(r);
	}
	checkpoint_config_release(&co->cc);
	xfree(co->parallelism);
	xfree(co->vertex_of);
	xfree(co->shared_dir);
	xfree(co);
}

const struct checkpoint_config *coordinator_config(const struct checkpoint_coordinator *co)
{
	return &co->cc;
}

/* ---- statistics --------------------------------------------------------------------------- */

void coordinator_counts(const struct checkpoint_coordinator *co, struct checkpoint_counts *out)
{
	*out = co->counts;
}

int coordinator_history(const struct checkpoint_coordinator *co,
                        const struct checkpoint_stats *const **out)
{
	*out = (const struct checkpoint_stats *const *)co->history;
	return co->nhistory;
}

const struct checkpoint_stats *coordinator_latest_completed(const struct checkpoint_coordinator *co)
{
	return co->latest_completed;
}

const struct checkpoint_stats *coordinator_latest_savepoint(const struct checkpoint_coordinator *co)
{
	return co->latest_savepoint;
}

const struct checkpoint_stats *coordinator_latest_failed(const struct checkpoint_coordinator *co)
{
	return co->latest_failed;
}

const struct checkpoint_restored *coordinator_restored(const struct checkpoint_coordinator *co)
{
	return &co->restored;
}

const struct checkpoint_stats *coordinator_find(const struct checkpoint_coordinator *co, int64_t id)
{
	for (int i = 0; i < co->nhistory; i++)
		if (co->history[i]->id == id)
			return co->history[i];
	return NULL;
}

static struct checkpoint_stats *history_push(struct checkpoint_coordinator *co, int64_t id,
                                             enum checkpoint_kind kind, int64_t now_ms)
{
	struct checkpoint_stats *s = xcalloc(1, sizeof *s);
	s->id = id;
	s->status = CKPT_IN_PROGRESS;
	s->kind = kind;
	s->trigger_ms = now_ms;
	s->num_subtasks = co->ntasks;
	s->nvertices = co->nvertices;
	s->vertices = xcalloc((size_t)(co->nvertices ? co->nvertices : 1), sizeof *s->vertices);
	for (int v = 0; v < co->nvertices; v++) {
		s->vertices[v].num_subtasks = co->parallelism[v];
		s->vertices[v].subtasks = subtasks_new(co->parallelism[v]);
	}
	if (co->nhistory == HISTORY_SIZE)
		stats_free(co->history[--co->nhistory]);
	memmove(co->history + 1, co->history, (size_t)co->nhistory * sizeof *co->history);
	co->history[0] = s;
	co->nhistory++;
	co->counts.total++;
	co->counts.in_progress++;
	return s;
}

static void set_latest(struct checkpoint_stats **slot, const struct checkpoint_stats *s)
{
	stats_free(*slot);
	*slot = stats_copy(s);
}

/* ---- trash -------------------------------------------------------------------------------- */

void checkpoint_trash_add(struct checkpoint_trash *t, const char *path)
{
	t->paths = xrealloc(t->paths, (size_t)(t->n + 1) * sizeof *t->paths);
	t->paths[t->n++] = xstrdup(path);
}

void checkpoint_trash_empty(struct checkpoint_trash *t)
{
	for (int i = 0; i < t->n; i++) {
		int rc = checkpoint_remove_tree(t->paths[i]);
		if (rc < 0)
			log_warn("cannot remove '%s': %s", t->paths[i], strerror(-rc));
		xfree(t->paths[i]);
	}
	xfree(t->paths);
	t->paths = NULL;
	t->n = 0;
}

/* ---- savepoint requests ------------------------------------------------------------------- */

static void request_fail(struct savepoint_request *r, const char *why)
{
	if (r->done)
		return;
	r->done = true;
	xfree(r->failure);
	r->failure = xstrdup(why);
}

int coordinator_request_savepoint(struct checkpoint_coordinator *co, const char *target_dir,
                                  bool stop, char trigger_id[33], struct spate_error *err)
{
	struct savepoint_request *r = xcalloc(1, sizeof *r);
	if (random_job_id(r->trigger_id, err) < 0) {
		xfree(r);
		return SPATE_EIO;
	}
	r->stop = stop;
	r->created_ms = wall_ms();
	r->target_dir = target_dir && *target_dir ? local_path(target_dir) : NULL;
	if (!r->target_dir && !co->cc.savepoint_dir)
		/* Flink's message (SchedulerBase), with the way to name a directory adapted */
		request_fail(r,
		             stop ? "No savepoint directory configured. You can either specify a "
		                    "directory while stopping via --savepointPath :targetDirectory "
		                    "or configure a cluster-wide default via key "
		                    "'execution.checkpointing.savepoint-dir'."
		                  : "No savepoint directory configured. You can either specify a "
		                    "directory while triggering the savepoint via 'spate savepoint "
		                    ":jobId :targetDirectory' or configure a cluster-wide default "
		                    "via key 'execution.checkpointing.savepoint-dir'.");
	struct savepoint_request **pp = &co->requests;
	while (*pp)
		pp = &(*pp)->next;
	*pp = r;
	memcpy(trigger_id, r->trigger_id, 33);
	return 0;
}

const struct savepoint_request *
coordinator_savepoint_status(const struct checkpoint_coordinator *co, const char *trigger_id)
{
	for (const struct savepoint_request *r = co->requests; r; r = r->next)
		if (strcasecmp(r->trigger_id, trigger_id) == 0)
			return r;
	return NULL;
}

struct savepoint_request *coordinator_next_savepoint_request(struct checkpoint_coordinator *co)
{
	for (struct savepoint_request *r = co->requests; r; r = r->next)
		if (!r->done && r->checkpoint_id == 0)
			return r;
	return NULL;
}

void coordinator_fail_savepoint_requests(struct checkpoint_coordinator *co, const char *why)
{
	for (struct savepoint_request *r = co->requests; r; r = r->next)
		request_fail(r, why);
}

/* ---- periodic triggering ------------------------------------------------------------------ */

int64_t coordinator_periodic_due_ms(const struct checkpoint_coordinator *co)
{
	if (!co->cc.enabled || co->periodic_stopped)
		return INT64_MAX;
	int64_t due = co->last_trigger_ms + co->cc.interval_ms;
	if (co->last_completion_ms > 0 && co->last_completion_ms + co->cc.min_pause_ms > due)
		due = co->last_completion_ms + co->cc.min_pause_ms;
	return due;
}

void coordinator_start_periodic(struct checkpoint_coordinator *co, int64_t now_ms)
{
	co->last_trigger_ms = now_ms;
	co->periodic_stopped = false;
}

/* ---- the pending checkpoint --------------------------------------------------------------- */

enum pending_action coordinator_pending_action(const struct checkpoint_coordinator *co,
                                               int64_t now_ms, int64_t *deadline_ms,
                                               const char **reason)
{
	const struct pending *p = co->pending;
	const char *dummy;
	if (!reason)
		reason = &dummy;
	*reason = NULL;
	if (deadline_ms)
		*deadline_ms = INT64_MAX;
	if (!p)
		return PENDING_NONE;
	if (p->declined) {
		*reason = p->decline_reason;
		return PENDING_DECLINED;
	}
	if (p->abort_end_of_input) {
		/* Flink's CheckpointFailureReason.CHECKPOINT_DECLINED_TASK_CLOSING */
		*reason = "Checkpoint was declined (task is closing).";
		return PENDING_ABORT;
	}
	if (p->nacked == co->ntasks)
		return PENDING_READY;
	if (now_ms >= p->trigger_ms + co->cc.timeout_ms) {
		*reason = "Checkpoint expired before completing.";
		return PENDING_EXPIRED;
	}
	if (deadline_ms)
		*deadline_ms = p->trigger_ms + co->cc.timeout_ms;
	return PENDING_WAITING;
}

int64_t coordinator_pending_id(const struct checkpoint_coordinator *co, enum checkpoint_kind *kind)
{
	if (kind)
		*kind = co->pending ? co->pending->kind : CKPT_KIND_CHECKPOINT;
	return co->pending ? co->pending->id : 0;
}

/* A checkpoint that ended without completing: statistics, counters, its request. */
static void record_failure(struct checkpoint_coordinator *co, struct checkpoint_stats *s,
                           enum checkpoint_kind kind, struct savepoint_request *req,
                           const char *reason, bool counted, int64_t now_ms)
{
	s->status = CKPT_FAILED;
	s->end_ms = now_ms;
	xfree(s->failure);
	s->failure = xstrdup(reason);
	co->counts.in_progress--;
	co->counts.failed++;
	set_latest(&co->latest_failed, s);
	if (req)
		request_fail(req, reason);
	if (counted && !checkpoint_kind_is_savepoint(kind)) {
		co->consecutive_failures++;
		if (co->consecutive_failures > co->cc.tolerable_failures) {
			co->failure_exceeded = true;
			co->consecutive_failures = 0;
		}
	}
	log_info("Failed to trigger or complete checkpoint %lld for job %s. (%d consecutive "
	         "failed attempts so far): %s",
	         (long long)s->id, co->job_id, co->consecutive_failures, reason);
}

bool coordinator_take_failure_exceeded(struct checkpoint_coordinator *co)
{
	bool e = co->failure_exceeded;
	co->failure_exceeded = false;
	return e;
}

/* 12 random lowercase hex characters (Flink's FileUtils.getRandomFilename alphabet). */
static void random_hex12(char out[13])
{
	char id[33];
	struct spate_error e = {0};
	if (random_job_id(id, &e) < 0)
		snprintf(id, sizeof id, "%016llx%016llx", (long long)wall_ms(),
		         (long long)getpid());
	memcpy(out, id, 12);
	out[12] = '\0';
}

int coordinator_trigger(struct checkpoint_coordinator *co, enum checkpoint_kind kind,
                        struct savepoint_request *req, int64_t now_ms, struct checkpoint_barrier *b,
                        struct spate_error *err)
{
	if (co->pending)
		return error_set(err, SPATE_EBUSY, "checkpoint %lld is still pending",
		                 (long long)co->pending->id);
	int64_t id = co->last_id + 1;
	co->last_id = id;
	co->last_trigger_ms = now_ms;
	struct checkpoint_stats *s = history_push(co, id, kind, now_ms);
	char *dir = NULL;
	int rc = 0;
	struct spate_error e = {0};
	if (checkpoint_kind_is_savepoint(kind)) {
		const char *base = req && req->target_dir ? req->target_dir : co->cc.savepoint_dir;
		if (!base) {
			rc =
			    error_set(&e, SPATE_ECONFIG,
			              "No savepoint directory configured. You can either specify a "
			              "directory while triggering the savepoint or configure a "
			              "cluster-wide default via key "
			              "'execution.checkpointing.savepoint-dir'.");
		} else {
			char rnd[13];
			random_hex12(rnd);
			dir = xasprintf("%s/savepoint-%.6s-%s", base, co->job_id, rnd);
		}
	} else if (!co->cc.dir) {
		rc = error_set(&e, SPATE_ECONFIG,
		               "Checkpointing is enabled (execution.checkpointing.interval) but no "
		               "checkpoint directory is set: set execution.checkpointing.dir");
	} else {
		dir = xasprintf("%s/%s/%s%lld", co->cc.dir, co->job_id, CHECKPOINT_DIR_PREFIX,
		                (long long)id);
	}
	bool shared = kind == CKPT_KIND_CHECKPOINT && co->cc.incremental && co->shared_dir;
	if (rc == 0) {
		const char *what = dir;
		int r = checkpoint_mkdirs(dir);
		if (r == 0 && shared) {
			what = co->shared_dir;
			r = checkpoint_mkdirs(co->shared_dir);
		}
		if (r < 0)
			rc = error_set(&e, SPATE_EIO, "cannot create checkpoint directory '%s': %s",
			               what, strerror(-r));
	}
	if (rc < 0) {
		if (req)
			req->checkpoint_id = id;
		/* Flink's CheckpointFailureReason.IO_EXCEPTION, with the cause */
		error_set(err, e.code, "%s", e.msg);
		char *why =
		    xasprintf("An Exception occurred while triggering the checkpoint. %s", e.msg);
		record_failure(co, s, kind, req, why, true, now_ms);
		xfree(why);
		xfree(dir);
		return rc;
	}
	struct pending *p = xcalloc(1, sizeof *p);
	p->id = id;
	p->kind = kind;
	p->trigger_ms = now_ms;
	p->dir = dir;
	p->request = req;
	p->acks = xcalloc((size_t)(co->ntasks ? co->ntasks : 1), sizeof *p->acks);
	p->stats = s;
	s->external_path = xstrdup(dir);
	co->pending = p;
	if (req)
		req->checkpoint_id = id;

	memset(b, 0, sizeof *b);
	b->id = id;
	b->timestamp_ms = now_ms;
	b->kind = kind;
	snprintf(b->target_dir, sizeof b->target_dir, "%s", dir);
	if (shared)
		snprintf(b->shared_dir, sizeof b->shared_dir, "%s", co->shared_dir);
	log_info("Triggering checkpoint %lld (type=%s) @ %lld for job %s.", (long long)id,
	         checkpoint_kind_name(kind), (long long)now_ms, co->job_id);
	return 0;
}

/* A deep copy of a decoded message (protobuf-c allocations; free_unpacked frees it). The
 * generic pack functions, unlike the generated ones, do not insist on this library's copy of
 * the descriptor (a test program has its own after a copy relocation). */
static Spate__Ckpt__OperatorSubtaskStateMsg *
copy_state(const Spate__Ckpt__OperatorSubtaskStateMsg *m)
{
	size_t n = protobuf_c_message_get_packed_size(&m->base);
	uint8_t *buf = xmalloc(n ? n : 1);
	protobuf_c_message_pack(&m->base, buf);
	Spate__Ckpt__OperatorSubtaskStateMsg *c =
	    spate__ckpt__operator_subtask_state_msg__unpack(NULL, n, buf);
	xfree(buf);
	return c;
}

static int64_t max64(int64_t a, int64_t b)
{
	return a > b ? a : b;
}

bool coordinator_decline(struct checkpoint_coordinator *co, int task, int64_t checkpoint_id,
                         const char *reason)
{
	struct pending *p = co->pending;
	if (!p || checkpoint_id != p->id || task < 0 || task >= co->ntasks || p->acks[task].acked ||
	    p->declined)
		return false;
	p->declined = true;
	/* Flink's CheckpointFailureReason.CHECKPOINT_DECLINED, with the task's reason */
	p->decline_reason = reason && *reason ? xasprintf("Checkpoint was declined (%s).", reason)
	                                      : xstrdup("Checkpoint was declined.");
	return true;
}

bool coordinator_ack(struct checkpoint_coordinator *co, int task,
                     const Spate__Rpc__AcknowledgeCheckpoint *a, int64_t now_ms)
{
	struct pending *p = co->pending;
	if (!p || a->checkpoint_id != p->id || task < 0 || task >= co->ntasks ||
	    p->acks[task].acked || p->declined)
		return false;
	if (a->declined)
		return coordinator_decline(co, task, a->checkpoint_id, a->decline_reason);
	struct task_ack *t = &p->acks[task];
	t->ops = xcalloc(a->n_operators ? a->n_operators : 1, sizeof *t->ops);
	for (size_t i = 0; i < a->n_operators; i++) {
		Spate__Ckpt__OperatorSubtaskStateMsg *c = copy_state(a->operators[i]);
		if (!c) {
			p->declined = true;
			p->decline_reason = xstrdup("Checkpoint was declined (out of memory).");
			return true;
		}
		t->ops[t->nops++] = c;
	}
	t->acked = true;
	p->nacked++;
	int v = co->vertex_of[task];
	int first = task;
	while (first > 0 && co->vertex_of[first - 1] == v)
		first--;
	for (size_t i = 0; i < t->nops; i++)
		t->ops[i]->subtask = (uint32_t)(task - first);
	if (p->nacked == co->ntasks)
		p->all_acked_ms = now_ms;

	struct checkpoint_stats *s = p->stats;
	s->num_acked++;
	s->latest_ack_ms = now_ms;
	s->state_size += a->state_size;
	s->checkpointed_size += a->checkpointed_size;
	s->alignment_ms_max = max64(s->alignment_ms_max, a->alignment_ms);
	s->processed_bytes += a->processed_bytes;
	struct checkpoint_vertex_stats *vs = &s->vertices[v];
	vs->num_acked++;
	vs->latest_ack_ms = now_ms;
	vs->state_size += a->state_size;
	vs->checkpointed_size += a->checkpointed_size;
	vs->alignment_ms_max = max64(vs->alignment_ms_max, a->alignment_ms);
	vs->sync_ms_max = max64(vs->sync_ms_max, a->sync_ms);
	vs->async_ms_max = max64(vs->async_ms_max, a->async_ms);
	vs->processed_bytes += a->processed_bytes;
	struct checkpoint_subtask_stats *ss = &vs->subtasks[task - first];
	ss->ack_ms = now_ms;
	ss->state_size = a->state_size;
	ss->checkpointed_size = a->checkpointed_size;
	ss->alignment_ms = a->alignment_ms;
	ss->sync_ms = a->sync_ms;
	ss->async_ms = a->async_ms;
	ss->processed_bytes = a->processed_bytes;
	return true;
}

void coordinator_end_of_input(struct checkpoint_coordinator *co, int task)
{
	co->periodic_stopped = true;
	struct pending *p = co->pending;
	if (p && p->kind != CKPT_KIND_FINAL && task >= 0 && task < co->ntasks &&
	    !p->acks[task].acked)
		p->abort_end_of_input = true;
}

/* ---- finalization ------------------------------------------------------------------------- */

uint8_t *coordinator_finalize_begin(struct checkpoint_coordinator *co, const struct job_graph *jg,
                                    size_t *len, char **path)
{
	struct pending *p = co->pending;
	Spate__Ckpt__CheckpointMetadataMsg md = SPATE__CKPT__CHECKPOINT_METADATA_MSG__INIT;
	md.job_id = co->job_id;
	md.checkpoint_id = p->id;
	md.timestamp = p->trigger_ms;
	md.kind = (uint32_t)p->kind;
	int nops = 0;
	for (int v = 0; v < jg->nvertices; v++)
		nops += jg->vertices[v]->noperators;
	Spate__Ckpt__OperatorStateMsg *ops = xcalloc((size_t)(nops ? nops : 1), sizeof *ops);
	Spate__Ckpt__OperatorStateMsg **opp = xcalloc((size_t)(nops ? nops : 1), sizeof *opp);
	char(*ids)[256] = xcalloc((size_t)(nops ? nops : 1), sizeof *ids);
	int o = 0, base = 0;
	for (int v = 0; v < jg->nvertices; v++) {
		const struct job_vertex *jv = jg->vertices[v];
		for (int n = 0; n < jv->noperators; n++, o++) {
			Spate__Ckpt__OperatorStateMsg *m = &ops[o];
			spate__ckpt__operator_state_msg__init(m);
			stream_node_operator_id(jv->operators[n], ids[o], sizeof ids[o]);
			m->operator_id = ids[o];
			m->name = jv->operators[n]->name;
			m->parallelism = (uint32_t)jv->parallelism;
			m->max_parallelism = (uint32_t)jv->max_parallelism;
			m->subtasks = xcalloc((size_t)jv->parallelism, sizeof *m->subtasks);
			for (int i = 0; i < jv->parallelism && base + i < co->ntasks; i++) {
				const struct task_ack *t = &p->acks[base + i];
				for (size_t x = 0; x < t->nops; x++)
					if (t->ops[x]->operator_id &&
					    strcmp(t->ops[x]->operator_id, ids[o]) == 0) {
						m->subtasks[m->n_subtasks++] = t->ops[x];
						break;
					}
			}
			opp[o] = m;
		}
		base += jv->parallelism;
	}
	md.operators = opp;
	md.n_operators = (size_t)nops;
	uint8_t *bytes = checkpoint_metadata_encode(&md, len);
	for (int i = 0; i < nops; i++)
		xfree(ops[i].subtasks);
	xfree(ops);
	xfree(opp);
	xfree(ids);
	*path = checkpoint_path_join(p->dir, CHECKPOINT_METADATA_NAME);
	return bytes;
}

/* dir + "/" + rel with "." and ".." resolved (dir is absolute). New string. */
static char *resolve(const char *dir, const char *rel)
{
	char *joined = xasprintf("%s/%s", dir, rel);
	size_t n = strlen(joined);
	char *out = xmalloc(n + 2);
	size_t o = 0;
	for (const char *s = joined; *s;) {
		while (*s == '/')
			s++;
		const char *e = s;
		while (*e && *e != '/')
			e++;
		size_t len = (size_t)(e - s);
		if (len == 0 || (len == 1 && s[0] == '.')) {
			/* nothing */
		} else if (len == 2 && s[0] == '.' && s[1] == '.') {
			while (o > 0 && out[o - 1] != '/')
				o--;
			if (o > 0)
				o--;
		} else {
			out[o++] = '/';
			memcpy(out + o, s, len);
			o += len;
		}
		s = e;
	}
	if (o == 0)
		out[o++] = '/';
	out[o] = '\0';
	xfree(joined);
	return out;
}

static bool under(const char *path, const char *dir)
{
	size_t n = strlen(dir);
	return strncmp(path, dir, n) == 0 && path[n] == '/';
}

static void add_shared(struct retained *r, const char *dir,
                       const Spate__Ckpt__KeyedStateHandleMsg *h)
{
	for (size_t f = 0; h && f < h->n_files; f++) {
		char *abs = resolve(dir, h->files[f]->path);
		if (under(abs, dir)) {
			xfree(abs);
			continue;
		}
		r->shared = xrealloc(r->shared, (size_t)(r->nshared + 1) * sizeof *r->shared);
		r->shared[r->nshared++] = abs;
	}
}

static bool referenced(const struct checkpoint_coordinator *co, const char *file)
{
	for (int i = 0; i < co->nretained; i++)
		for (int j = 0; j < co->retained[i].nshared; j++)
			if (strcmp(co->retained[i].shared[j], file) == 0)
				return true;
	return false;
}

static void mark_discarded(struct checkpoint_coordinator *co, int64_t id)
{
	for (int i = 0; i < co->nhistory; i++)
		if (co->history[i]->id == id)
			co->history[i]->discarded = true;
	if (co->latest_completed && co->latest_completed->id == id)
		co->latest_completed->discarded = true;
}

static void add_retained(struct checkpoint_coordinator *co, struct retained *r,
                         struct checkpoint_trash *trash)
{
	co->retained = xrealloc(co->retained, (size_t)(co->nretained + 1) * sizeof *co->retained);
	co->retained[co->nretained++] = *r;
	while (co->nretained > co->cc.num_retained) {
		struct retained old = co->retained[0];
		co->nretained--;
		memmove(co->retained, co->retained + 1,
		        (size_t)co->nretained * sizeof *co->retained);
		if (old.owned) {
			checkpoint_trash_add(trash, old.dir);
			mark_discarded(co, old.id);
			for (int j = 0; j < old.nshared; j++)
				if (co->shared_dir && under(old.shared[j], co->shared_dir) &&
				    !referenced(co, old.shared[j]))
					checkpoint_trash_add(trash, old.shared[j]);
		}
		retained_release(&old);
	}
}

void coordinator_finalize_end(struct checkpoint_coordinator *co, int64_t now_ms,
                              const struct spate_error *write_err, struct checkpoint_trash *trash,
                              struct checkpoint_outcome *out)
{
	struct pending *p = co->pending;
	memset(out, 0, sizeof *out);
	if (!p)
		return;
	out->id = p->id;
	out->kind = p->kind;
	co->pending = NULL;
	struct checkpoint_stats *s = p->stats;
	if (write_err && write_err->code != 0) {
		/* Flink's CheckpointFailureReason.FINALIZE_CHECKPOINT_FAILURE, with the cause */
		char *why = xasprintf("Failure to finalize checkpoint. %s", write_err->msg);
		record_failure(co, s, p->kind, p->request, why, true, now_ms);
		xfree(why);
		checkpoint_trash_add(trash, p->dir);
		pending_free(co, p);
		return;
	}
	out->completed = true;
	s->status = CKPT_COMPLETED;
	s->end_ms = now_ms;
	co->counts.in_progress--;
	co->counts.completed++;
	co->consecutive_failures = 0;
	co->last_completion_ms = now_ms;
	log_info("Completed checkpoint %lld for job %s (%lld bytes, checkpointDuration=%lld ms, "
	         "finalizationTime=%lld ms).",
	         (long long)p->id, co->job_id, (long long)s->state_size,
	         (long long)(now_ms - p->trigger_ms),
	         (long long)(p->all_acked_ms ? now_ms - p->all_acked_ms : 0));
	if (checkpoint_kind_is_savepoint(p->kind)) {
		set_latest(&co->latest_savepoint, s);
		if (p->request && !p->request->done) {
			p->request->done = true;
			p->request->location = xstrdup(p->dir);
		}
		if (p->kind == CKPT_KIND_SAVEPOINT_TERMINATE) {
			out->stop = true;
			co->periodic_stopped = true;
		}
	} else {
		set_latest(&co->latest_completed, s);
		struct retained r = {.id = p->id, .dir = xstrdup(p->dir), .owned = true};
		for (int k = 0; k < co->ntasks; k++)
			for (size_t o = 0; o < p->acks[k].nops; o++)
				add_shared(&r, p->dir, p->acks[k].ops[o]->keyed);
		add_retained(co, &r, trash);
	}
	pending_free(co, p);
}

void coordinator_abort(struct checkpoint_coordinator *co, const char *reason, bool counted,
                       int64_t now_ms, struct checkpoint_trash *trash,
                       struct checkpoint_outcome *out)
{
	struct pending *p = co->pending;
	memset(out, 0, sizeof *out);
	if (!p)
		return;
	out->id = p->id;
	out->kind = p->kind;
	co->pending = NULL;
	record_failure(co, p->stats, p->kind, p->request, reason, counted, now_ms);
	checkpoint_trash_add(trash, p->dir);
	pending_free(co, p);
}

/* ---- restore ------------------------------------------------------------------------------ */

char **coordinator_restore_candidates(const struct checkpoint_coordinator *co, int *n)
{
	char **out = xcalloc((size_t)(co->nretained ? co->nretained : 1), sizeof *out);
	for (int i = 0; i < co->nretained; i++)
		out[i] = xstrdup(co->retained[co->nretained - 1 - i].dir);
	*n = co->nretained;
	return out;
}

void coordinator_strings_free(char **s, int n)
{
	for (int i = 0; i < n; i++)
		xfree(s[i]);
	xfree(s);
}

void coordinator_restored_from(struct checkpoint_coordinator *co,
                               const Spate__Ckpt__CheckpointMetadataMsg *md, const char *dir,
                               bool initial, int64_t now_ms)
{
	co->restored.id = md->checkpoint_id;
	co->restored.restore_ms = now_ms;
	co->restored.is_savepoint = checkpoint_kind_is_savepoint((enum checkpoint_kind)md->kind);
	xfree(co->restored.external_path);
	co->restored.external_path = xstrdup(dir);
	co->counts.restored++;
	if (md->checkpoint_id > co->last_id) {
		co->last_id = md->checkpoint_id;
		log_info("Reset the checkpoint ID of job %s to %lld.", co->job_id,
		         (long long)(co->last_id + 1));
	}
	if (!initial)
		return;
	struct retained r = {.id = md->checkpoint_id, .dir = xstrdup(dir), .owned = false};
	for (size_t o = 0; o < md->n_operators; o++)
		for (size_t s = 0; s < md->operators[o]->n_subtasks; s++)
			add_shared(&r, dir, md->operators[o]->subtasks[s]->keyed);
	struct checkpoint_trash none = {0};
	add_retained(co, &r, &none); /* never owned: nothing to remove */
	checkpoint_trash_empty(&none);
}
