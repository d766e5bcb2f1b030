/*
 * test_coordinator.c - the CheckpointCoordinator on a temporary directory, driven as the
 * JobMaster drives it (trigger, acknowledgements, `_metadata` written, finalize) with a fake
 * clock. Retention: with num-retained 2 and incremental checkpoints sharing files
 * (chk-1: a b, chk-2: b c, chk-3: c d, chk-4: d), completing chk-3 must remove chk-1 and a
 * (b is still used by chk-2), completing chk-4 must remove chk-2 and b; an aborted checkpoint
 * loses its directory but no shared file; a savepoint is never removed; a checkpoint restored
 * from is never removed. Also: the configuration, tolerable failures, declines, expiry, end
 * of input, savepoint requests and the statistics.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "../graph/graph_fixtures.h"
#include "checkpoint/coordinator.h"
#include "checkpoint/metadata.h"

#define JOB "0123456789abcdef0123456789abcdef"

static char tmp[256];

static int setup(void **state)
{
	snprintf(tmp, sizeof tmp, "/tmp/spate-test-coordinator-XXXXXX");
	return mkdtemp(tmp) ? 0 : -1;
}

static int teardown(void **state)
{
	checkpoint_remove_tree(tmp);
	return 0;
}

static bool exists(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static bool exists(const char *fmt, ...)
{
	char path[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(path, sizeof path, fmt, ap);
	va_end(ap);
	struct stat st;
	return stat(path, &st) == 0;
}

static void write_file(const char *path, const char *content)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		fail_msg("cannot create '%s'", path);
	fputs(content, f);
	fclose(f);
}

/* src (uid src) -> keyBy -> counter (uid cnt) -> sink, parallelism 1: two subtasks, the
 * source's first (its vertex comes first), then counter -> sink. */
struct program {
	struct stream_graph *sg;
	struct job_graph *jg;
	int par[2];
};

static struct program program(void)
{
	struct program pr;
	struct stream_graph *g = stream_graph_new();
	g->job_name = xstrdup("coordinator");
	g->default_parallelism = 1;
	struct stream_node *src = fx_node(g, OP_SOURCE_GENERATOR, "Source: gen", 1);
	src->uid = xstrdup("src");
	struct stream_node *cnt = fx_node(g, OP_AGGREGATE, "counter", 1);
	cnt->uid = xstrdup("cnt");
	struct stream_node *sink = fx_node(g, OP_SINK_PRINT, "Sink: Print to Std. Out", 1);
	fx_key_by(g, src, cnt);
	fx_edge(g, cnt, sink, PART_UNSPECIFIED);
	pr.sg = g;
	pr.jg = fx_build(g);
	assert_int_equal(pr.jg->nvertices, 2);
	assert_string_equal(pr.jg->vertices[0]->operators[0]->name, "Source: gen");
	pr.par[0] = pr.par[1] = 1;
	return pr;
}

static void program_free(struct program *pr)
{
	job_graph_free(pr->jg);
	stream_graph_free(pr->sg);
}

static struct checkpoint_config config(int num_retained, int tolerable)
{
	struct checkpoint_config cc = {0};
	cc.enabled = true;
	cc.interval_ms = 1000;
	cc.exactly_once = true;
	cc.timeout_ms = 60000;
	cc.max_concurrent = 1;
	cc.tolerable_failures = tolerable;
	cc.num_retained = num_retained;
	cc.dir = xasprintf("%s/ck", tmp);
	cc.savepoint_dir = NULL;
	cc.incremental = true;
	snprintf(cc.backend, sizeof cc.backend, "rocksdb");
	return cc;
}

/* Acknowledges subtask `task` with keyed state of "cnt" made of `files` (relative paths). */
static void ack(struct checkpoint_coordinator *co, int task, int64_t id, const char *const *files,
                int nfiles, int64_t now)
{
	Spate__Ckpt__StateFileMsg f[8], *fp[8];
	for (int i = 0; i < nfiles; i++) {
		spate__ckpt__state_file_msg__init(&f[i]);
		f[i].path = (char *)files[i];
		f[i].size = 1;
		fp[i] = &f[i];
	}
	Spate__Ckpt__KeyedStateHandleMsg h = SPATE__CKPT__KEYED_STATE_HANDLE_MSG__INIT;
	h.backend = "rocksdb";
	h.key_group_last = 127;
	h.files = fp;
	h.n_files = (size_t)nfiles;
	Spate__Ckpt__OperatorSubtaskStateMsg s = SPATE__CKPT__OPERATOR_SUBTASK_STATE_MSG__INIT;
	s.operator_id = "cnt";
	s.keyed = &h;
	Spate__Ckpt__OperatorSubtaskStateMsg *sp = &s;
	Spate__Rpc__AcknowledgeCheckpoint a = SPATE__RPC__ACKNOWLEDGE_CHECKPOINT__INIT;
	a.checkpoint_id = id;
	a.operators = nfiles ? &sp : NULL;
	a.n_operators = nfiles ? 1 : 0;
	a.state_size = 100;
	a.checkpointed_size = 10;
	a.alignment_ms = task + 1;
	assert_true(coordinator_ack(co, task, &a, now));
}

/* What the JobMaster does with a READY checkpoint. */
static void finalize(struct checkpoint_coordinator *co, const struct job_graph *jg, int64_t now,
                     struct checkpoint_outcome *out)
{
	assert_int_equal(coordinator_pending_action(co, now, NULL, NULL), PENDING_READY);
	size_t len;
	char *path;
	uint8_t *bytes = coordinator_finalize_begin(co, jg, &len, &path);
	struct spate_error err = {0};
	assert_int_equal(checkpoint_write_file(path, bytes, len, &err), 0);
	struct checkpoint_trash trash = {0};
	coordinator_finalize_end(co, now, &err, &trash, out);
	checkpoint_trash_empty(&trash);
	xfree(bytes);
	xfree(path);
}

/* Triggers, writes the files a task would, acknowledges and completes checkpoint `id`,
 * whose "cnt" state is cnt.state plus the given shared files. */
static void complete_checkpoint(struct checkpoint_coordinator *co, const struct program *pr,
                                int64_t id, const char *const *shared, int nshared, int64_t now)
{
	struct checkpoint_barrier b;
	struct spate_error err = {0};
	assert_int_equal(coordinator_trigger(co, CKPT_KIND_CHECKPOINT, NULL, now, &b, &err), 0);
	assert_int_equal(b.id, id);
	char expect[600];
	snprintf(expect, sizeof expect, "%s/ck/%s/chk-%lld", tmp, JOB, (long long)id);
	assert_string_equal(b.target_dir, expect);
	snprintf(expect, sizeof expect, "%s/ck/%s/shared", tmp, JOB);
	assert_string_equal(b.shared_dir, expect);
	char path[2200];
	snprintf(path, sizeof path, "%s/cnt.state", b.target_dir);
	write_file(path, "x");
	const char *files[8] = {"cnt.state"};
	char rel[8][64];
	for (int i = 0; i < nshared; i++) {
		snprintf(path, sizeof path, "%s/%s", b.shared_dir, shared[i]);
		write_file(path, "x");
		snprintf(rel[i], sizeof rel[i], "../shared/%s", shared[i]);
		files[i + 1] = rel[i];
	}
	assert_int_equal(coordinator_pending_action(co, now, NULL, NULL), PENDING_WAITING);
	ack(co, 0, id, NULL, 0, now + 1);
	assert_int_equal(coordinator_pending_action(co, now + 1, NULL, NULL), PENDING_WAITING);
	ack(co, 1, id, files, nshared + 1, now + 2);
	struct checkpoint_outcome out;
	finalize(co, pr->jg, now + 3, &out);
	assert_int_equal(out.id, id);
	assert_true(out.completed);
	assert_false(out.stop);
}

static void test_retention_removes_what_no_retained_checkpoint_uses(void **unused)
{
	struct program pr = program();
	struct checkpoint_config cc = config(2, 0);
	struct checkpoint_coordinator *co = coordinator_new(JOB, &cc, 2, pr.par);
	const char *s1[] = {"a", "b"}, *s2[] = {"b", "c"}, *s3[] = {"c", "d"}, *s4[] = {"d"};
	char job[600];
	snprintf(job, sizeof job, "%s/ck/%s", tmp, JOB);

	complete_checkpoint(co, &pr, 1, s1, 2, 10000);
	complete_checkpoint(co, &pr, 2, s2, 2, 20000);
	assert_true(exists("%s/chk-1/_metadata", job));
	assert_true(exists("%s/shared/a", job));

	complete_checkpoint(co, &pr, 3, s3, 2, 30000);
	assert_false(exists("%s/chk-1", job));
	assert_false(exists("%s/shared/a", job));
	assert_true(exists("%s/shared/b", job)); /* chk-2 still uses it */
	assert_true(exists("%s/chk-2/_metadata", job));

	complete_checkpoint(co, &pr, 4, s4, 1, 40000);
	assert_false(exists("%s/chk-2", job));
	assert_false(exists("%s/shared/b", job));
	assert_true(exists("%s/shared/c", job));
	assert_true(exists("%s/shared/d", job));
	assert_true(exists("%s/chk-3/cnt.state", job));
	assert_true(exists("%s/chk-4/_metadata", job));

	/* failover candidates: newest first */
	int n;
	char **c = coordinator_restore_candidates(co, &n);
	assert_int_equal(n, 2);
	char expect[700];
	snprintf(expect, sizeof expect, "%s/chk-4", job);
	assert_string_equal(c[0], expect);
	snprintf(expect, sizeof expect, "%s/chk-3", job);
	assert_string_equal(c[1], expect);
	coordinator_strings_free(c, n);

	/* the metadata: one operator per stream node, cnt's state as acknowledged */
	checkpoint_metadata *md;
	struct spate_error err = {0};
	snprintf(expect, sizeof expect, "%s/chk-4", job);
	assert_int_equal(checkpoint_metadata_read(expect, &md, NULL, &err), 0);
	assert_int_equal(md->checkpoint_id, 4);
	assert_int_equal(md->timestamp, 40000);
	assert_string_equal(md->job_id, JOB);
	assert_int_equal(md->n_operators, 3);
	assert_string_equal(md->operators[0]->operator_id, "src");
	assert_int_equal(md->operators[0]->n_subtasks, 0);
	assert_string_equal(md->operators[1]->operator_id, "cnt");
	assert_string_equal(md->operators[1]->name, "counter");
	assert_int_equal(md->operators[1]->max_parallelism, 128);
	assert_int_equal(md->operators[1]->n_subtasks, 1);
	assert_int_equal(md->operators[1]->subtasks[0]->keyed->n_files, 2);
	assert_string_equal(md->operators[1]->subtasks[0]->keyed->files[1]->path, "../shared/d");
	assert_string_equal(md->operators[2]->operator_id, "node-3");
	checkpoint_metadata_free(md);

	/* an aborted checkpoint: its directory goes, shared files stay */
	struct checkpoint_barrier b;
	assert_int_equal(coordinator_trigger(co, CKPT_KIND_CHECKPOINT, NULL, 50000, &b, &err), 0);
	assert_int_equal(b.id, 5);
	assert_true(exists("%s/chk-5", job));
	struct checkpoint_trash trash = {0};
	struct checkpoint_outcome out;
	coordinator_abort(co, "Checkpoint was declined (test).", true, 50001, &trash, &out);
	assert_int_equal(out.id, 5);
	assert_false(out.completed);
	checkpoint_trash_empty(&trash);
	assert_false(exists("%s/chk-5", job));
	assert_true(exists("%s/shared/c", job));
	assert_true(exists("%s/shared/d", job));

	/* statistics */
	struct checkpoint_counts counts;
	coordinator_counts(co, &counts);
	assert_int_equal(counts.total, 5);
	assert_int_equal(counts.completed, 4);
	assert_int_equal(counts.failed, 1);
	assert_int_equal(counts.in_progress, 0);
	const struct checkpoint_stats *const *h;
	assert_int_equal(coordinator_history(co, &h), 5);
	for (int i = 0; i < 5; i++)
		assert_int_equal(h[i]->id, 5 - i);
	assert_int_equal(h[0]->status, CKPT_FAILED);
	assert_string_equal(h[0]->failure, "Checkpoint was declined (test).");
	assert_true(h[3]->discarded && h[4]->discarded);
	assert_false(h[1]->discarded || h[2]->discarded);
	assert_int_equal(h[1]->status, CKPT_COMPLETED);
	assert_int_equal(h[1]->num_acked, 2);
	assert_int_equal(h[1]->state_size, 200);
	assert_int_equal(h[1]->alignment_ms_max, 2);
	assert_int_equal(h[1]->vertices[1].alignment_ms_max, 2);
	assert_int_equal(h[1]->vertices[0].num_acked, 1);
	assert_int_equal(h[1]->vertices[1].subtasks[0].alignment_ms, 2);
	assert_int_equal(h[1]->vertices[1].subtasks[0].ack_ms, 40002);
	assert_int_equal(h[1]->vertices[0].subtasks[0].ack_ms, 40001);
	assert_int_equal(coordinator_latest_completed(co)->vertices[1].subtasks[0].state_size, 100);
	assert_int_equal(h[1]->end_ms, 40003);
	assert_int_equal(coordinator_latest_completed(co)->id, 4);
	assert_int_equal(coordinator_latest_failed(co)->id, 5);
	assert_null(coordinator_latest_savepoint(co));
	assert_non_null(coordinator_find(co, 3));
	assert_null(coordinator_find(co, 99));

	coordinator_free(co);
	checkpoint_config_release(&cc);
	program_free(&pr);
}

static void test_savepoints_are_never_removed(void **unused)
{
	struct program pr = program();
	struct checkpoint_config cc = config(1, 0);
	struct checkpoint_coordinator *co = coordinator_new(JOB, &cc, 2, pr.par);
	complete_checkpoint(co, &pr, 1, NULL, 0, 1000);

	char target[600], tid[33];
	snprintf(target, sizeof target, "file://%s/sp", tmp);
	struct spate_error err = {0};
	assert_int_equal(coordinator_request_savepoint(co, target, false, tid, &err), 0);
	assert_int_equal(strlen(tid), 32);
	struct savepoint_request *req = coordinator_next_savepoint_request(co);
	assert_non_null(req);
	assert_string_equal(req->trigger_id, tid);
	struct checkpoint_barrier b;
	assert_int_equal(coordinator_trigger(co, CKPT_KIND_SAVEPOINT, req, 2000, &b, &err), 0);
	assert_null(coordinator_next_savepoint_request(co));
	char prefix[700];
	snprintf(prefix, sizeof prefix, "%s/sp/savepoint-012345-", tmp);
	assert_int_equal(strncmp(b.target_dir, prefix, strlen(prefix)), 0);
	const char *rnd = b.target_dir + strlen(prefix);
	assert_int_equal(strlen(rnd), 12);
	assert_int_equal(strspn(rnd, "0123456789abcdef"), 12);
	assert_string_equal(b.shared_dir, "");
	assert_int_equal(b.id, 2);
	ack(co, 0, 2, NULL, 0, 2001);
	const char *files[] = {"cnt.state"};
	char path[2200];
	snprintf(path, sizeof path, "%s/cnt.state", b.target_dir);
	write_file(path, "x");
	ack(co, 1, 2, files, 1, 2002);
	struct checkpoint_outcome out;
	finalize(co, pr.jg, 2003, &out);
	assert_true(out.completed);
	const struct savepoint_request *st = coordinator_savepoint_status(co, tid);
	assert_true(st->done);
	assert_null(st->failure);
	assert_string_equal(st->location, b.target_dir);
	assert_int_equal(coordinator_latest_savepoint(co)->id, 2);

	/* two more checkpoints with num-retained 1: chk-1 and chk-3 go, the savepoint stays */
	complete_checkpoint(co, &pr, 3, NULL, 0, 3000);
	complete_checkpoint(co, &pr, 4, NULL, 0, 4000);
	assert_true(exists("%s/_metadata", b.target_dir));
	assert_true(exists("%s/cnt.state", b.target_dir));
	assert_false(exists("%s/ck/%s/chk-1", tmp, JOB));
	assert_false(exists("%s/ck/%s/chk-3", tmp, JOB));
	assert_true(exists("%s/ck/%s/chk-4", tmp, JOB));
	int n;
	char **c = coordinator_restore_candidates(co, &n);
	assert_int_equal(n, 1); /* a savepoint is no failover candidate */
	coordinator_strings_free(c, n);

	/* stop-with-savepoint into the configured directory... which is not configured */
	assert_int_equal(coordinator_request_savepoint(co, NULL, true, tid, &err), 0);
	st = coordinator_savepoint_status(co, tid);
	assert_true(st->done);
	assert_string_equal(
	    st->failure, "No savepoint directory configured. You can either specify a directory "
	                 "while stopping via --savepointPath :targetDirectory or configure a "
	                 "cluster-wide default via key 'execution.checkpointing.savepoint-dir'.");
	assert_null(coordinator_next_savepoint_request(co));

	/* a stop-with-savepoint that completes stops periodic checkpoints */
	assert_int_equal(coordinator_request_savepoint(co, target, true, tid, &err), 0);
	req = coordinator_next_savepoint_request(co);
	assert_true(req->stop);
	assert_int_equal(
	    coordinator_trigger(co, CKPT_KIND_SAVEPOINT_TERMINATE, req, 5000, &b, &err), 0);
	ack(co, 0, 5, NULL, 0, 5001);
	ack(co, 1, 5, NULL, 0, 5002);
	finalize(co, pr.jg, 5003, &out);
	assert_true(out.completed && out.stop);
	assert_true(coordinator_periodic_due_ms(co) == INT64_MAX);

	coordinator_free(co);
	checkpoint_config_release(&cc);
	program_free(&pr);
}

static void test_tolerable_failures_decline_and_expiry(void **unused)
{
	struct program pr = program();
	struct checkpoint_config cc = config(1, 1);
	struct checkpoint_coordinator *co = coordinator_new(JOB, &cc, 2, pr.par);
	struct checkpoint_barrier b;
	struct spate_error err = {0};
	struct checkpoint_trash trash = {0};
	struct checkpoint_outcome out;
	const char *reason;
	int64_t deadline;

	/* a decline: the first failure is tolerated */
	assert_int_equal(coordinator_trigger(co, CKPT_KIND_CHECKPOINT, NULL, 1000, &b, &err), 0);
	Spate__Rpc__AcknowledgeCheckpoint a = SPATE__RPC__ACKNOWLEDGE_CHECKPOINT__INIT;
	a.checkpoint_id = 1;
	a.declined = true;
	a.decline_reason = "alignment failed";
	assert_true(coordinator_ack(co, 1, &a, 1001));
	assert_int_equal(coordinator_pending_action(co, 1002, NULL, &reason), PENDING_DECLINED);
	assert_string_equal(reason, "Checkpoint was declined (alignment failed).");
	coordinator_abort(co, reason, true, 1002, &trash, &out);
	assert_false(coordinator_take_failure_exceeded(co));

	/* an ack for an old checkpoint is not taken */
	assert_int_equal(coordinator_trigger(co, CKPT_KIND_CHECKPOINT, NULL, 2000, &b, &err), 0);
	a.declined = false;
	assert_false(coordinator_ack(co, 1, &a, 2001));
	/* expiry at trigger + timeout: the second consecutive failure is one too many */
	assert_int_equal(coordinator_pending_action(co, 61999, &deadline, NULL), PENDING_WAITING);
	assert_int_equal(deadline, 62000);
	assert_int_equal(coordinator_pending_action(co, 62000, NULL, &reason), PENDING_EXPIRED);
	assert_string_equal(reason, "Checkpoint expired before completing.");
	coordinator_abort(co, reason, true, 62000, &trash, &out);
	assert_true(coordinator_take_failure_exceeded(co));
	assert_false(coordinator_take_failure_exceeded(co));

	/* not counted (a failover, an end of input), then a success resets the count */
	assert_int_equal(coordinator_trigger(co, CKPT_KIND_CHECKPOINT, NULL, 63000, &b, &err), 0);
	coordinator_abort(co, "FailoverRegion is restarting.", false, 63001, &trash, &out);
	assert_false(coordinator_take_failure_exceeded(co));
	complete_checkpoint(co, &pr, 4, NULL, 0, 64000);
	assert_int_equal(coordinator_trigger(co, CKPT_KIND_CHECKPOINT, NULL, 65000, &b, &err), 0);
	coordinator_abort(co, "x", true, 65001, &trash, &out);
	assert_false(coordinator_take_failure_exceeded(co));
	checkpoint_trash_empty(&trash);

	struct checkpoint_counts counts;
	coordinator_counts(co, &counts);
	assert_int_equal(counts.failed, 4);
	assert_int_equal(counts.completed, 1);
	coordinator_free(co);
	checkpoint_config_release(&cc);
	program_free(&pr);
}

static void test_periodic_schedule(void **unused)
{
	struct program pr = program();
	struct checkpoint_config cc = config(1, 0);
	cc.min_pause_ms = 5000;
	struct checkpoint_coordinator *co = coordinator_new(JOB, &cc, 2, pr.par);
	coordinator_start_periodic(co, 100000);
	assert_true(coordinator_periodic_due_ms(co) == 101000);
	/* completed at 102003: min-pause 5 s wins over the interval */
	complete_checkpoint(co, &pr, 1, NULL, 0, 102000);
	assert_true(coordinator_periodic_due_ms(co) == 107003);
	coordinator_free(co);
	checkpoint_config_release(&cc);

	cc = config(1, 0);
	cc.enabled = false;
	cc.interval_ms = INT64_MAX;
	co = coordinator_new(JOB, &cc, 2, pr.par);
	coordinator_start_periodic(co, 100000);
	assert_true(coordinator_periodic_due_ms(co) == INT64_MAX);
	coordinator_free(co);
	checkpoint_config_release(&cc);
	program_free(&pr);
}

static void test_end_of_input(void **unused)
{
	struct program pr = program();
	struct checkpoint_config cc = config(1, 0);
	struct checkpoint_coordinator *co = coordinator_new(JOB, &cc, 2, pr.par);
	coordinator_start_periodic(co, 0);
	struct checkpoint_barrier b;
	struct spate_error err = {0};
	const char *reason;
	assert_int_equal(coordinator_trigger(co, CKPT_KIND_CHECKPOINT, NULL, 1000, &b, &err), 0);
	ack(co, 0, 1, NULL, 0, 1001);
	/* the source already acknowledged: its end of input does not matter to checkpoint 1 */
	coordinator_end_of_input(co, 0);
	assert_int_equal(coordinator_pending_action(co, 1002, NULL, NULL), PENDING_WAITING);
	assert_true(coordinator_periodic_due_ms(co) == INT64_MAX);
	/* the counter's does */
	coordinator_end_of_input(co, 1);
	assert_int_equal(coordinator_pending_action(co, 1003, NULL, &reason), PENDING_ABORT);
	assert_string_equal(reason, "Checkpoint was declined (task is closing).");
	struct checkpoint_trash trash = {0};
	struct checkpoint_outcome out;
	coordinator_abort(co, reason, false, 1003, &trash, &out);
	checkpoint_trash_empty(&trash);
	assert_false(coordinator_take_failure_exceeded(co));
	/* the final checkpoint: end of input does not abort it */
	assert_int_equal(coordinator_trigger(co, CKPT_KIND_FINAL, NULL, 2000, &b, &err), 0);
	assert_string_equal(b.shared_dir, ""); /* a final checkpoint is self-contained */
	coordinator_end_of_input(co, 1);
	ack(co, 0, 2, NULL, 0, 2001);
	ack(co, 1, 2, NULL, 0, 2002);
	finalize(co, pr.jg, 2003, &out);
	assert_true(out.completed);
	assert_int_equal(out.kind, CKPT_KIND_FINAL);
	assert_int_equal(coordinator_latest_completed(co)->id, 2);
	coordinator_free(co);
	checkpoint_config_release(&cc);
	program_free(&pr);
}

static void test_restored_checkpoint_is_never_removed(void **unused)
{
	struct program pr = program();
	struct checkpoint_config cc = config(1, 0);
	struct checkpoint_coordinator *co = coordinator_new(JOB, &cc, 2, pr.par);
	/* another job's chk-41 */
	char old[600];
	snprintf(old, sizeof old, "%s/ck/ffffffffffffffffffffffffffffffff/chk-41", tmp);
	assert_int_equal(checkpoint_mkdirs(old), 0);
	Spate__Ckpt__CheckpointMetadataMsg md = SPATE__CKPT__CHECKPOINT_METADATA_MSG__INIT;
	md.job_id = "ffffffffffffffffffffffffffffffff";
	md.checkpoint_id = 41;
	struct spate_error err = {0};
	assert_int_equal(checkpoint_metadata_write(old, &md, &err), 0);
	coordinator_restored_from(co, &md, old, true, 500);
	const struct checkpoint_restored *r = coordinator_restored(co);
	assert_int_equal(r->id, 41);
	assert_false(r->is_savepoint);
	assert_string_equal(r->external_path, old);
	int n;
	char **c = coordinator_restore_candidates(co, &n);
	assert_int_equal(n, 1);
	assert_string_equal(c[0], old);
	coordinator_strings_free(c, n);
	/* ids continue after it; completing 42 with num-retained 1 forgets 41 but keeps it */
	complete_checkpoint(co, &pr, 42, NULL, 0, 1000);
	assert_true(exists("%s/_metadata", old));
	c = coordinator_restore_candidates(co, &n);
	assert_int_equal(n, 1);
	assert_non_null(strstr(c[0], "/chk-42"));
	coordinator_strings_free(c, n);
	struct checkpoint_counts counts;
	coordinator_counts(co, &counts);
	assert_int_equal(counts.restored, 1);
	coordinator_free(co);
	checkpoint_config_release(&cc);
	program_free(&pr);
}

static void test_config_load(void **unused)
{
	struct config *c = config_new();
	struct spate_error err = {0};
	struct checkpoint_config cc;
	assert_int_equal(checkpoint_config_load(&cc, c, &err), 0);
	assert_false(cc.enabled);
	assert_true(cc.interval_ms == INT64_MAX);
	assert_true(cc.exactly_once);
	assert_int_equal(cc.timeout_ms, 600000);
	assert_int_equal(cc.num_retained, 1);
	assert_string_equal(cc.backend, "hashmap");
	assert_null(cc.dir);
	checkpoint_config_release(&cc);

	assert_int_equal(config_set(c, "execution.checkpointing.interval", "5 s", &err), 0);
	assert_int_equal(checkpoint_config_load(&cc, c, &err), SPATE_ECONFIG);
	assert_string_equal(err.msg, "Checkpointing is enabled (execution.checkpointing.interval) "
	                             "but no checkpoint directory is set: set "
	                             "execution.checkpointing.dir");
	error_clear(&err);
	assert_int_equal(config_set(c, "state.checkpoints.dir", "file:///data/ck/", &err), 0);
	assert_int_equal(config_set(c, "execution.checkpointing.mode", "at_least_once", &err), 0);
	assert_int_equal(config_set(c, "state.backend.type", "rocksdb", &err), 0);
	assert_int_equal(config_set(c, "execution.checkpointing.incremental", "true", &err), 0);
	assert_int_equal(checkpoint_config_load(&cc, c, &err), 0);
	assert_true(cc.enabled);
	assert_int_equal(cc.interval_ms, 5000);
	assert_string_equal(cc.dir, "/data/ck");
	assert_false(cc.exactly_once);
	assert_string_equal(cc.backend, "rocksdb");
	assert_true(cc.incremental);
	checkpoint_config_release(&cc);
	config_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_retention_removes_what_no_retained_checkpoint_uses),
	    cmocka_unit_test(test_savepoints_are_never_removed),
	    cmocka_unit_test(test_tolerable_failures_decline_and_expiry),
	    cmocka_unit_test(test_periodic_schedule),
	    cmocka_unit_test(test_end_of_input),
	    cmocka_unit_test(test_restored_checkpoint_is_never_removed),
	    cmocka_unit_test(test_config_load),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
