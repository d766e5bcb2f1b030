/*
 * sinks.c - the sink operators.
 *
 * print: formats rows as Flink's print sink does ("(a,b)", prefixed "N> " when the sink
 * runs with parallelism > 1) into a per-subtask buffer that is written to stdout in whole
 * lines (under the job's print lock, so subtasks never interleave within a line) when it
 * fills, on every buffer-timeout flush and at the end.
 * text: one file per subtask, written as "<dir>/.part-<i>.inprogress" and renamed to
 * "<dir>/part-<i>" only after the last row is written and synced, so no half-written file
 * ever carries the final name; on failure the in-progress file is removed.
 * With checkpointing on, the text sink is exactly-once by two-phase commit instead: rows go
 * to "<dir>/.part-<token>-<i>-<n>.inprogress"; at a checkpoint the file is synced and
 * renamed to ".pending" (prepare) and recorded in the sink's operator state; when the
 * checkpoint completes it is renamed to "<dir>/part-<token>-<i>-<n>" (commit). A restore
 * commits the pending files of the checkpoint it restores (they belong to a completed
 * checkpoint), tolerating those already committed, so commits are idempotent. Files of
 * checkpoints that never completed stay hidden (dot names) and are never committed.
 * The token is random per task run, so names never collide across restarts.
 * collect: copies rows into the job result. function: calls the user's function per row.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/result.h"
#include "core/alloc.h"
#include "core/log.h"
#include "runtime/local_job.h"
#include "runtime/task.h"

#define PRINT_BUF (64 * 1024)

struct text_sink {
	char *buf; /* pending output (owned) */
	size_t len;
	size_t cap;
	char prefix[16];  /* "N> " or "" */
	FILE *file;       /* text sink */
	char *tmp_path;   /* owned */
	char *final_path; /* owned */
	/* two-phase commit (checkpointing on) */
	bool two_phase;
	int file_no;                  /* number of the current/next file */
	struct pending_file *pending; /* owned, npending entries, oldest first */
	int npending;
};

int sink_open(struct operator* op)
{
	struct task *t = op->task;
	int p = t->ev->job_vertex->parallelism;
	if (op->node->kind == OP_SINK_COLLECT && !t->job->result) {
		task_fail(t, op, SPATE_EINVAL,
		          "collect sinks run only on the embedded local cluster (no client to "
		          "collect into)");
		return SPATE_EINVAL;
	}
	switch (op->node->kind) {
	case OP_SINK_PRINT:
	case OP_SINK_TEXT: {
		struct text_sink *s = xcalloc(1, sizeof *s);
		op->sink = s;
		s->cap = PRINT_BUF;
		s->buf = xmalloc(s->cap);
		if (op->node->kind == OP_SINK_PRINT && p > 1)
			snprintf(s->prefix, sizeof s->prefix, "%d> ", t->ev->subtask + 1);
		if (op->node->kind == OP_SINK_TEXT) {
			const char *dir = op->node->path;
			int rc = checkpoint_mkdirs(dir);
			if (rc < 0) {
				task_fail(t, op, SPATE_EIO,
				          "cannot create output directory '%s': %s", dir,
				          strerror(-rc));
				return SPATE_EIO;
			}
			if (t->job->ckpt.enabled) {
				s->two_phase = true;
				return 0; /* files are opened as rows come */
			}
			s->tmp_path = xasprintf("%s/.part-%d.inprogress", dir, t->ev->subtask);
			s->final_path = xasprintf("%s/part-%d", dir, t->ev->subtask);
			s->file = fopen(s->tmp_path, "we");
			if (!s->file) {
				task_fail(t, op, SPATE_EIO, "cannot create output file '%s': %s",
				          s->tmp_path, strerror(errno));
				return SPATE_EIO;
			}
		}
		return 0;
	}
	default:
		return 0;
	}
}

/* Two-phase: opens the next in-progress file. */
static int open_part(struct operator* op, struct text_sink *s)
{
	struct task *t = op->task;
	xfree(s->tmp_path);
	xfree(s->final_path);
	s->tmp_path = xasprintf("%s/.part-%s-%d-%d.inprogress", op->node->path, t->sink_token,
	                        t->ev->subtask, s->file_no);
	s->final_path = xasprintf("%s/part-%s-%d-%d", op->node->path, t->sink_token, t->ev->subtask,
	                          s->file_no);
	s->file = fopen(s->tmp_path, "we");
	if (!s->file) {
		task_fail(t, op, SPATE_EIO, "cannot create output file '%s': %s", s->tmp_path,
		          strerror(errno));
		return SPATE_EIO;
	}
	return 0;
}

static int write_out(struct operator* op, struct text_sink *s)
{
	if (s->len == 0)
		return 0;
	if (s->two_phase && !s->file) {
		int rc = open_part(op, s);
		if (rc < 0)
			return rc;
	}
	if (s->file) {
		if (fwrite(s->buf, 1, s->len, s->file) != s->len) {
			task_fail(op->task, op, SPATE_EIO, "cannot write '%s': %s", s->tmp_path,
			          strerror(errno));
			return SPATE_EIO;
		}
	} else {
		struct local_job *job = op->task->job;
		pthread_mutex_lock(&job->print_mu);
		size_t off = 0;
		while (off < s->len) {
			ssize_t w = write(1, s->buf + off, s->len - off);
			if (w < 0) {
				if (errno == EINTR)
					continue;
				break; /* stdout closed (e.g. `| head`): drop, as print sinks do */
			}
			off += (size_t)w;
		}
		pthread_mutex_unlock(&job->print_mu);
	}
	s->len = 0;
	return 0;
}

static int format_row(struct operator* op, struct text_sink *s, const spate_row *row)
{
	size_t plen = strlen(s->prefix);
	for (;;) {
		size_t room = s->cap - s->len;
		if (room > plen + 1) {
			size_t n = spate_row_format(row, s->buf + s->len + plen, room - plen - 1);
			if (n + plen + 1 < room) {
				memcpy(s->buf + s->len, s->prefix, plen);
				s->len += plen + n;
				s->buf[s->len++] = '\n';
				if (s->len > s->cap - 256)
					return write_out(op, s);
				return 0;
			}
			if (s->len == 0) { /* a row larger than the buffer: grow it */
				s->cap = n + plen + 2;
				s->buf = xrealloc(s->buf, s->cap);
				continue;
			}
		}
		int rc = write_out(op, s);
		if (rc < 0)
			return rc;
	}
}

int sink_process(struct operator* op, const spate_row *row)
{
	switch (op->node->kind) {
	case OP_SINK_PRINT:
	case OP_SINK_TEXT:
		return format_row(op, op->sink, row);
	case OP_SINK_COLLECT:
		result_add_row(op->task->job->result, op->node->path, row);
		return 0;
	case OP_SINK_FUNCTION:
		return sink_function_process(op, row);
	default:
		return 0;
	}
}

int sink_function_process(struct operator* op, const spate_row *row)
{
	int rc = ((spate_process_fn)op->fn)(&op->ctx, row, NULL);
	return rc < 0 ? op_user_failed(op, rc, "sink", op->node->fn_name) : 0;
}

int sink_function_batch(struct operator* op, const spate_row *const *rows, int n)
{
	spate_process_fn fn =
	    (spate_process_fn)op->fn; /* the call of sink_function_process, inlined */
	for (int r = 0; r < n; r++) {
		int rc = fn(&op->ctx, rows[r], NULL);
		if (rc < 0)
			return op_user_failed(op, rc, "sink", op->node->fn_name);
	}
	return 0;
}

int sink_flush(struct operator* op)
{
	if (op->node->kind == OP_SINK_PRINT)
		return write_out(op, op->sink);
	return 0;
}

int sink_finish(struct operator* op)
{
	struct text_sink *s = op->sink;
	if (!s)
		return 0;
	int rc = write_out(op, s);
	if (rc < 0 || s->two_phase) /* two-phase: the final checkpoint commits the rest */
		return rc;
	if (s->file) {
		if (fflush(s->file) != 0 || fsync(fileno(s->file)) != 0) {
			task_fail(op->task, op, SPATE_EIO, "cannot write '%s': %s", s->tmp_path,
			          strerror(errno));
			return SPATE_EIO;
		}
		fclose(s->file);
		s->file = NULL;
		if (rename(s->tmp_path, s->final_path) != 0) {
			task_fail(op->task, op, SPATE_EIO, "cannot rename '%s' to '%s': %s",
			          s->tmp_path, s->final_path, strerror(errno));
			return SPATE_EIO;
		}
	}
	return 0;
}

/* ---- two-phase commit ------------------------------------------------------------------ */

static void pending_free(struct pending_file *f)
{
	xfree(f->pending_path);
	xfree(f->final_path);
}

/* Commits one file: pending -> final. Idempotent: a file already committed is fine. On a
 * restore (restoring), a file that is in neither place is only warned about, as Flink's
 * committer does: someone removed committed output, and failing would make every restore
 * fail again. */
static int commit_file(struct operator* op, const char *pending_path, const char *final_path,
                       bool restoring)
{
	if (rename(pending_path, final_path) == 0)
		return 0;
	int e = errno;
	struct stat st;
	if (e == ENOENT && stat(final_path, &st) == 0)
		return 0; /* committed before (a restore repeating the commit) */
	if (e == ENOENT && restoring) {
		log_warn("%s: pending file '%s' of the restored checkpoint is gone and '%s' does "
		         "not exist: its rows are not in the output",
		         op->task->name, pending_path, final_path);
		return 0;
	}
	task_fail(op->task, op, SPATE_EIO, "cannot commit '%s' to '%s': %s", pending_path,
	          final_path, strerror(e));
	return SPATE_EIO;
}

/* Entry layout: i64 checkpoint id (big-endian), pending path, NUL, final path. */
static void add_entry(struct op_snapshot *o, const struct pending_file *f)
{
	size_t a = strlen(f->pending_path), b = strlen(f->final_path);
	uint8_t *e = xmalloc(8 + a + 1 + b);
	checkpoint_put_u64(e, (uint64_t)f->checkpoint_id);
	memcpy(e + 8, f->pending_path, a + 1);
	memcpy(e + 9 + a, f->final_path, b);
	o->entries = xrealloc(o->entries, (size_t)(o->nentries + 1) * sizeof *o->entries);
	o->entry_lens = xrealloc(o->entry_lens, (size_t)(o->nentries + 1) * sizeof *o->entry_lens);
	o->entries[o->nentries] = e;
	o->entry_lens[o->nentries] = 8 + a + 1 + b;
	o->nentries++;
}

int sink_snapshot(struct operator* op, int64_t checkpoint_id, struct op_snapshot *o)
{
	struct text_sink *s = op->sink;
	if (!s || !s->two_phase)
		return 0;
	/* Prepare: everything written so far becomes one pending file of this checkpoint. */
	int rc = write_out(op, s);
	if (rc < 0)
		return rc;
	if (s->file) {
		if (fflush(s->file) != 0 || fsync(fileno(s->file)) != 0) {
			task_fail(op->task, op, SPATE_EIO, "cannot write '%s': %s", s->tmp_path,
			          strerror(errno));
			return SPATE_EIO;
		}
		fclose(s->file);
		s->file = NULL;
		char *pend = xstrdup(s->tmp_path);
		strcpy(pend + strlen(pend) - strlen(".inprogress"), ".pending");
		if (rename(s->tmp_path, pend) != 0) {
			task_fail(op->task, op, SPATE_EIO, "cannot rename '%s': %s", s->tmp_path,
			          strerror(errno));
			xfree(pend);
			return SPATE_EIO;
		}
		checkpoint_fsync_dir(op->node->path);
		s->pending = xrealloc(s->pending, (size_t)(s->npending + 1) * sizeof *s->pending);
		s->pending[s->npending++] =
		    (struct pending_file){checkpoint_id, pend, xstrdup(s->final_path)};
		s->file_no++;
	}
	for (int i = 0; i < s->npending; i++)
		add_entry(o, &s->pending[i]);
	return 0;
}

int sink_notify_complete(struct operator* op, int64_t checkpoint_id)
{
	struct text_sink *s = op->sink;
	if (!s || !s->two_phase)
		return 0;
	int kept = 0, rc = 0;
	for (int i = 0; i < s->npending; i++) {
		struct pending_file *f = &s->pending[i];
		/* A file whose commit failed stays listed: the next snapshot still carries it. */
		if (f->checkpoint_id <= checkpoint_id && rc == 0 &&
		    (rc = commit_file(op, f->pending_path, f->final_path, false)) == 0) {
			pending_free(f);
		} else {
			s->pending[kept++] = *f;
		}
	}
	s->npending = kept;
	return rc;
}

int sink_restore(struct operator* op)
{
	const Spate__Rpc__OperatorRestore *r = op->restore;
	if (!r)
		return 0;
	for (size_t i = 0; i < r->n_entries; i++) {
		const uint8_t *e = r->entries[i].data;
		size_t len = r->entries[i].len;
		const uint8_t *nul = len > 8 ? memchr(e + 8, 0, len - 8) : NULL;
		if (!nul || nul == e + len - 1 || memchr(nul + 1, 0, (size_t)(e + len - nul - 1))) {
			task_fail(op->task, op, SPATE_ECORRUPT,
			          "restored pending file %zu is corrupt", i);
			return SPATE_ECORRUPT;
		}
		char *final = xstrndup((const char *)nul + 1, (size_t)(e + len - nul - 1));
		int rc = commit_file(op, (const char *)e + 8, final, true);
		xfree(final);
		if (rc < 0)
			return rc;
	}
	return 0;
}

void sink_abort(struct operator* op)
{
	struct text_sink *s = op->sink;
	if (!s)
		return;
	for (int i = 0; i < s->npending; i++)
		pending_free(&s->pending[i]); /* stay pending: a restore may commit them */
	xfree(s->pending);
	if (s->file) {
		fclose(s->file);
		s->file = NULL;
		unlink(s->tmp_path);
	}
	xfree(s->buf);
	xfree(s->tmp_path);
	xfree(s->final_path);
	xfree(s);
	op->sink = NULL;
}
