/*
 * task.c - the body of a task's thread (see task.h for the design): initialize the chain,
 * run the source loop or consume the input gate, propagate end of input through the chain
 * (end functions, sink commits, end-of-partition to consumers), and report the outcome.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "runtime/state_backend.h"
#include "core/log.h"
#include "runtime/local_job.h"
#include "runtime/task.h"

void task_fail(struct task *t, struct operator* op, int rc, const char *fmt, ...)
{
	if (t->failure)
		return;
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	int p = t->ev->job_vertex->parallelism;
	if (op)
		t->failure = xasprintf("operator '%s' (subtask %d/%d) failed: %s", op->node->name,
		                       t->ev->subtask + 1, p, msg);
	else
		t->failure = xasprintf("task '%s' failed: %s", t->name, msg);
	(void)rc;
}

void task_flush(struct task *t)
{
	for (int i = 0; i < t->npartitions; i++)
		result_partition_flush(&t->partitions[i]);
	for (int i = 0; i < t->nops; i++)
		if (t->ops[i].node->kind == OP_SINK_PRINT)
			sink_flush(&t->ops[i]);
}

static int handle_ckpt_mail(struct task *t);

void task_release_held(struct task *t)
{
	for (int i = 0; i < t->npartitions && t->held; i++)
		if (t->partitions[i].flush_always)
			result_partition_release_held(&t->partitions[i]);
}

int task_poll_slow(struct task *t)
{
	if (t->held)
		task_release_held(t);
	if (atomic_load_explicit(&t->job->canceled, memory_order_relaxed))
		return SPATE_ECANCELED;
	if (atomic_load_explicit(&t->mail, memory_order_relaxed)) {
		unsigned m = atomic_exchange_explicit(&t->mail, 0, memory_order_acquire);
		if (m & TASK_MAIL_FLUSH)
			task_flush(t);
		if (m & TASK_MAIL_CKPT)
			return handle_ckpt_mail(t);
	}
	return 0;
}

/* ---- checkpoints: mailbox ------------------------------------------------------------------ */

static void mail_wake(struct task *t)
{
	atomic_fetch_or_explicit(&t->mail, TASK_MAIL_CKPT, memory_order_release);
	if (t->has_gate)
		input_gate_wake(&t->gate);
}

void task_mail_trigger(struct task *t, const struct checkpoint_barrier *b)
{
	pthread_mutex_lock(&t->ckpt_mu);
	t->trigger = *b;
	t->has_trigger = true;
	pthread_cond_broadcast(&t->ckpt_cond);
	pthread_mutex_unlock(&t->ckpt_mu);
	mail_wake(t);
}

void task_mail_note(struct task *t, int64_t id, bool aborted)
{
	struct ckpt_note *n = xcalloc(1, sizeof *n);
	n->id = id;
	n->aborted = aborted;
	pthread_mutex_lock(&t->ckpt_mu);
	struct ckpt_note **pp = &t->notes;
	while (*pp)
		pp = &(*pp)->next;
	*pp = n;
	pthread_cond_broadcast(&t->ckpt_cond);
	pthread_mutex_unlock(&t->ckpt_mu);
	mail_wake(t);
}

/* Takes the pending trigger (if any) and notes. */
static bool take_mail(struct task *t, struct checkpoint_barrier *b, struct ckpt_note **notes)
{
	pthread_mutex_lock(&t->ckpt_mu);
	bool has = t->has_trigger;
	if (has)
		*b = t->trigger;
	t->has_trigger = false;
	*notes = t->notes;
	t->notes = NULL;
	pthread_mutex_unlock(&t->ckpt_mu);
	return has;
}

void task_snapshot_free(struct task_snapshot *s)
{
	if (!s)
		return;
	for (int i = 0; i < s->nops; i++) {
		struct op_snapshot *o = &s->ops[i];
		keyed_snapshot_free(o->keyed);
		for (int e = 0; e < o->nentries; e++)
			xfree(o->entries[e]);
		xfree(o->entries);
		xfree(o->entry_lens);
	}
	xfree(s->ops);
	xfree(s);
}

static bool is_two_phase_sink(const struct operator* op)
{
	return op->node->kind == OP_SINK_TEXT && op->task->job->ckpt.enabled;
}

static bool was_savepoint(const struct task *t, int64_t id)
{
	for (int i = 0; i < TASK_SAVEPOINT_IDS; i++)
		if (t->savepoint_ids[i] == id)
			return true;
	return false;
}

/*
 * Applies completion notices: what a completed checkpoint covers is committed (file
 * sinks). A savepoint commits nothing (as Flink since 1.15): recovery restores from
 * checkpoints only, so output committed by a savepoint would be written again by a replay;
 * its prepared files are committed by the next checkpoint, or by a job restored from it.
 * An aborted stop-with-savepoint lets this task drain again. Returns the first error.
 */
static int apply_notes(struct task *t, struct ckpt_note *n)
{
	int rc = 0;
	while (n) {
		struct ckpt_note *next = n->next;
		if (n->aborted && t->terminating && n->id == t->terminate_id)
			t->terminating = false;
		if (!n->aborted && !was_savepoint(t, n->id))
			for (int i = 0; i < t->nops && rc == 0; i++)
				if (is_two_phase_sink(&t->ops[i]))
					rc = sink_notify_complete(&t->ops[i], n->id);
		xfree(n);
		n = next;
	}
	return rc;
}

/*
 * Takes this task's part of checkpoint b: the barrier goes on to every output first (in
 * order after every row emitted before it), then each operator's state is captured (keyed
 * state: the backend's quick synchronous part; sources: their splits; file sinks: the
 * files the checkpoint covers) and handed to the snapshot hook, which writes it out and
 * acknowledges on another thread. Nothing in between processes a record, so the state is
 * exactly that of the stream before the barrier.
 */
static int take_checkpoint(struct task *t, const struct checkpoint_barrier *b, int64_t align_ns,
                           int64_t align_bytes)
{
	int64_t t0 = metrics_now_ns();
	if (!t->end_of_input) {
		uint8_t buf[CHECKPOINT_BARRIER_MAX];
		size_t len = checkpoint_barrier_encode(b, buf);
		for (int i = 0; i < t->npartitions; i++) {
			int rc = result_partition_emit_event(&t->partitions[i], BUF_BARRIER, buf,
			                                     (uint32_t)len);
			if (rc < 0)
				return rc;
		}
	}
	if (b->kind == CKPT_KIND_SAVEPOINT_TERMINATE) {
		t->terminating = true;
		t->terminate_id = b->id;
	}
	if (checkpoint_kind_is_savepoint(b->kind))
		t->savepoint_ids[t->nsavepoints++ % TASK_SAVEPOINT_IDS] = b->id;
	t->last_barrier = b->id > t->last_barrier ? b->id : t->last_barrier;
	struct task_snapshot *s = xcalloc(1, sizeof *s);
	s->barrier = *b;
	memcpy(s->job_id, t->job->jg->job_id, sizeof s->job_id);
	s->vertex = t->ev->job_vertex->index;
	s->subtask = t->ev->subtask;
	s->attempt = t->attempt;
	s->finished = t->end_of_input || t->finished_state;
	s->nops = t->nops;
	s->ops = xcalloc((size_t)t->nops, sizeof *s->ops);
	for (int i = 0; i < t->nops && !s->declined; i++) {
		struct operator* op = & t->ops[i];
		struct op_snapshot *o = &s->ops[i];
		snprintf(o->operator_id, sizeof o->operator_id, "%s", op->operator_id);
		o->node_id = op->node->id;
		struct spate_error err = {0};
		if (op->state && op->state->ops->snapshot &&
		    op->state->ops->snapshot(op->state, &o->keyed, &err) < 0) {
			s->declined = true;
			snprintf(s->decline_reason, sizeof s->decline_reason,
			         "snapshot of operator '%.40s' failed: %.150s", op->node->name,
			         err.msg);
		}
		if (op_kind_is_source(op->node->kind))
			source_encode_splits(op, o);
		if (is_two_phase_sink(op) && sink_snapshot(op, b->id, o) < 0 && !s->declined) {
			s->declined = true;
			snprintf(s->decline_reason, sizeof s->decline_reason,
			         "the file sink '%.40s' could not prepare its file",
			         op->node->name);
		}
	}
	s->sync_ns = metrics_now_ns() - t0;
	s->alignment_ns = align_ns;
	s->processed_bytes = align_bytes;
	if (t->job->ckpt.snapshot_hook)
		t->job->ckpt.snapshot_hook(t->job->ckpt.hook_arg, s);
	else
		task_snapshot_free(s);
	return 0;
}

/*
 * Waits for checkpoint mail while the task has nothing else to do: a stopping source for
 * the outcome of its stop-with-savepoint (want > 0), a task at its end of input for the
 * final checkpoint's trigger and completion (want == 0). Returns 0 when `want` completed
 * (or, for want == 0, the final checkpoint did), 1 when `want` was aborted, or
 * SPATE_ECANCELED.
 */
static int wait_mail(struct task *t, int64_t want)
{
	int64_t final_id = 0;
	for (;;) {
		pthread_mutex_lock(&t->ckpt_mu);
		while (!t->has_trigger && !t->notes &&
		       !atomic_load_explicit(&t->job->canceled, memory_order_acquire))
			pthread_cond_wait(&t->ckpt_cond, &t->ckpt_mu);
		pthread_mutex_unlock(&t->ckpt_mu);
		if (atomic_load_explicit(&t->job->canceled, memory_order_acquire))
			return SPATE_ECANCELED;
		struct checkpoint_barrier b;
		struct ckpt_note *notes;
		bool has = take_mail(t, &b, &notes);
		int outcome = -1; /* 0 completed, 1 aborted */
		for (struct ckpt_note *n = notes; n; n = n->next) {
			int64_t id = want ? want : final_id;
			if (id && n->id == id)
				outcome = n->aborted ? 1 : 0;
		}
		int rc = apply_notes(t, notes);
		if (rc < 0)
			return rc;
		if (outcome == 0 || (outcome == 1 && want)) {
			if (has) { /* not ours to take: the task's next poll sees it */
				pthread_mutex_lock(&t->ckpt_mu);
				if (!t->has_trigger) { /* unless a newer one came meanwhile */
					t->trigger = b;
					t->has_trigger = true;
				}
				pthread_mutex_unlock(&t->ckpt_mu);
				mail_wake(t);
			}
			return outcome;
		}
		if (has && !want && b.kind == CKPT_KIND_FINAL) {
			if ((rc = take_checkpoint(t, &b, 0, 0)) < 0)
				return rc;
			final_id = b.id;
		}
	}
}

static int handle_ckpt_mail(struct task *t)
{
	struct checkpoint_barrier b;
	struct ckpt_note *notes;
	bool has = take_mail(t, &b, &notes);
	int rc = apply_notes(t, notes);
	if (rc < 0)
		return rc;
	if (!has || b.kind == CKPT_KIND_FINAL || !op_kind_is_source(t->ops[0].node->kind))
		return 0; /* triggers start at sources; FINAL ones wait for the end of input */
	rc = take_checkpoint(t, &b, 0, 0);
	if (rc < 0 || b.kind != CKPT_KIND_SAVEPOINT_TERMINATE)
		return rc;
	/* Stop-with-savepoint: nothing more leaves this source until the savepoint's fate is
	 * known; completed, the source ends (without draining); aborted, it goes on. */
	rc = wait_mail(t, b.id);
	if (rc == 1) {
		t->terminating = false;
		return 0;
	}
	return rc == 0 ? SPATE_ESTOPPED : rc;
}

void task_read_counters(struct task *t, struct task_counters *c)
{
	memset(c, 0, sizeof *c);
	c->records_in = counter_get(&t->io.records_in);
	c->bytes_in = counter_get(&t->io.bytes_in);
	int64_t start = counter_get(&t->io.start_ns), end = counter_get(&t->io.end_ns);
	int64_t now = end ? end : metrics_now_ns();
	c->idle_ns = wait_clock_read(&t->io.idle, now);
	c->backpressured_ns = wait_clock_read(&t->io.backpressured, now);
	if (start) {
		int64_t busy = now - start - c->idle_ns - c->backpressured_ns;
		c->busy_ns = busy > 0 ? busy : 0;
	}
	for (int i = 0; i < t->npartitions; i++) {
		struct result_partition *rp = &t->partitions[i];
		c->records_out += counter_get(&rp->records_out);
		c->bytes_out += counter_get(&rp->bytes_out);
		pthread_mutex_lock(&rp->pool.mu);
		c->buffers_free += rp->pool.nfree;
		pthread_mutex_unlock(&rp->pool.mu);
		c->buffers_total += rp->pool.capacity;
	}
	if (c->buffers_total > 0)
		c->out_pool_usage =
		    (double)(c->buffers_total - c->buffers_free) / (double)c->buffers_total;
	if (t->has_gate && t->gate.capacity > 0) {
		int q = atomic_load_explicit(&t->gate.queued, memory_order_relaxed);
		c->in_pool_usage = q >= t->gate.capacity ? 1.0 : (double)q / t->gate.capacity;
	}
}

/* Hands n rows to the head operator in one batch. */
static int process_rows(struct task *t, const spate_row *const *rows, int n)
{
	struct operator* head = & t->ops[0];
	if (n == 0)
		return 0;
	head->records_in += n;
	counter_add(&t->io.records_in, n);
	return head->process_batch(head, rows, n);
}

/* Hands every row of a data buffer to the head operator, in place, in batches. */
static int process_buffer(struct task *t, const struct buffer *b)
{
	const spate_row *rows[OP_BATCH];
	uint32_t off = 0;
	int n = 0, rc;
	counter_add(&t->io.bytes_in, b->size);
	while (off < b->size) {
		const spate_row *row = (const spate_row *)(b->data + off);
		/* The producer's core wrote the buffer: each line comes from its cache, slowly
		 * unless asked for ahead; 2 KiB ahead (a batch of P1's rows is 2.5 KiB) was
		 * faster than 512 bytes: P1 100 M records 1441 -> 1396 ms, medians of 11 pairs. */
		if (off + 2048 < b->size)
			__builtin_prefetch(b->data + off + 2048);
		uint32_t size = row_size_of(row);
		if (size < ROW_HEADER_BYTES || size > b->size - off || size % 8) {
			/* the rows before it are processed first, as one at a time would */
			if ((rc = process_rows(t, rows, n)) < 0)
				return rc;
			task_fail(t, NULL, SPATE_ECORRUPT, "corrupt row of %u bytes at offset %u",
			          size, off);
			return SPATE_ECORRUPT;
		}
		rows[n++] = row;
		if (n == OP_BATCH) {
			if ((rc = process_rows(t, rows, n)) < 0)
				return rc;
			n = 0;
		}
		off += size;
	}
	return process_rows(t, rows, n);
}

/* Gathers a row that was split over SPAN buffers; processes it once complete. */
static int process_span(struct task *t, const struct buffer *b)
{
	struct input_channel *ch = &t->gate.channels[b->channel];
	if (ch->span_need == 0) {
		if (b->size < 4) {
			task_fail(t, NULL, SPATE_ECORRUPT, "corrupt span buffer");
			return SPATE_ECORRUPT;
		}
		ch->span_need = row_size_of(b->data);
		ch->span_len = 0;
		if (ch->span_cap < ch->span_need) {
			xfree(ch->span);
			ch->span = xmalloc(ch->span_need);
			ch->span_cap = ch->span_need;
		}
	}
	if (ch->span_len + b->size > ch->span_need) {
		task_fail(t, NULL, SPATE_ECORRUPT, "corrupt span buffer");
		return SPATE_ECORRUPT;
	}
	counter_add(&t->io.bytes_in, b->size);
	memcpy(ch->span + ch->span_len, b->data, b->size);
	ch->span_len += b->size;
	if (ch->span_len < ch->span_need)
		return 0;
	ch->span_need = 0;
	struct operator* head = & t->ops[0];
	head->records_in++;
	counter_add(&t->io.records_in, 1);
	return head->process(head, (const spate_row *)ch->span);
}

/* ---- checkpoints: barrier alignment ----------------------------------------------------- */

static void list_push(struct buffer **head, struct buffer **tail, struct buffer *b)
{
	b->next = NULL;
	if (*tail)
		(*tail)->next = b;
	else
		*head = b;
	*tail = b;
}

/* Alignment is over: the buffers held back go first, before what is still to replay
 * (they arrived earlier) and before the gate. */
static void release_stash(struct task *t)
{
	if (!t->stash)
		return;
	t->stash_tail->next = t->replay;
	if (!t->replay)
		t->replay_tail = t->stash_tail;
	t->replay = t->stash;
	t->stash = t->stash_tail = NULL;
}

static struct buffer *next_buffer(struct task *t, bool *woken)
{
	if (t->replay) {
		struct buffer *b = t->replay;
		t->replay = b->next;
		if (!t->replay)
			t->replay_tail = NULL;
		b->next = NULL;
		*woken = false;
		return b;
	}
	return input_gate_take(&t->gate, woken);
}

/* Completes the alignment once every channel delivered the barrier or has ended. */
static int maybe_aligned(struct task *t)
{
	struct input_gate *g = &t->gate;
	if (!t->align_id)
		return 0;
	for (int c = 0; c < g->nchannels; c++)
		if (!t->barrier_seen[c] && !g->channels[c].ended)
			return 0;
	int64_t align_ns = metrics_now_ns() - t->align_start_ns;
	struct checkpoint_barrier b = t->align_barrier;
	t->align_id = 0;
	int rc = take_checkpoint(t, &b, align_ns, t->align_bytes);
	release_stash(t);
	return rc;
}

static int on_barrier(struct task *t, const struct buffer *buf)
{
	struct checkpoint_barrier b;
	if (checkpoint_barrier_decode(buf->data, buf->size, &b) < 0) {
		task_fail(t, NULL, SPATE_ECORRUPT, "corrupt checkpoint barrier on channel %d",
		          buf->channel);
		return SPATE_ECORRUPT;
	}
	if (b.id <= t->last_barrier || (t->align_id && b.id < t->align_id))
		return 0; /* a checkpoint already taken or given up */
	if (t->align_id && b.id > t->align_id) {
		/* A newer checkpoint overtook the one being aligned (it was aborted upstream):
		 * give the old one up and let its held-back buffers through. */
		t->last_barrier = t->align_id;
		t->align_id = 0;
		release_stash(t);
	}
	struct input_gate *g = &t->gate;
	if (!t->align_id) {
		t->align_id = b.id;
		t->align_barrier = b;
		t->align_start_ns = metrics_now_ns();
		t->align_bytes = 0;
		if (!t->barrier_seen)
			t->barrier_seen = xcalloc((size_t)g->nchannels, sizeof *t->barrier_seen);
		memset(t->barrier_seen, 0, (size_t)g->nchannels * sizeof *t->barrier_seen);
	}
	t->barrier_seen[buf->channel] = true;
	return maybe_aligned(t);
}

static int consume_input(struct task *t)
{
	struct input_gate *g = &t->gate;
	bool exactly_once = !t->job->ckpt.enabled || t->job->ckpt.exactly_once;
	while (g->nended < g->nchannels || t->replay) {
		bool woken;
		if (t->flush_idle && !t->replay &&
		    !atomic_load_explicit(&g->queued, memory_order_relaxed))
			task_flush(t); /* about to wait for input */
		else if (t->held)
			task_release_held(t); /* per input buffer */
		struct buffer *b = next_buffer(t, &woken);
		if (!b) {
			if (!woken)
				return SPATE_ECANCELED;
			int rc = task_poll(t);
			if (rc < 0)
				return rc;
			continue;
		}
		bool aligned_channel = t->align_id && t->barrier_seen[b->channel];
		if (aligned_channel && exactly_once && b->kind != BUF_END_OF_PARTITION) {
			/* Exactly-once: this channel already delivered the barrier being aligned;
			 * what follows it waits until every other channel delivered it too. */
			list_push(&t->stash, &t->stash_tail, b);
			continue;
		}
		if (aligned_channel)
			t->align_bytes += b->size;
		int rc = 0;
		switch (b->kind) {
		case BUF_DATA:
			rc = process_buffer(t, b);
			break;
		case BUF_SPAN:
			rc = process_span(t, b);
			break;
		case BUF_END_OF_PARTITION:
			if (!g->channels[b->channel].ended) {
				g->channels[b->channel].ended = true;
				g->nended++;
				rc = maybe_aligned(t);
			}
			break;
		case BUF_BARRIER:
			rc = on_barrier(t, b);
			break;
		}
		buffer_recycle(b);
		if (rc < 0)
			return rc;
		if ((rc = task_poll(t)) < 0)
			return rc;
	}
	return 0;
}

/* End of input: end functions run head to tail, so that what an operator emits at its end
 * still reaches the operators after it before they end themselves. */
static int end_of_input(struct task *t)
{
	bool drain = !t->terminating && !t->finished_state;
	for (int i = 0; i < t->nops; i++) {
		struct operator* op = & t->ops[i];
		if (op->end_fn && drain) {
			int rc = op->end_fn(
			    &op->ctx, op_kind_is_sink(op->node->kind) ? NULL : &op->collector);
			if (rc < 0)
				return op_user_failed(op, rc, "end", op->node->end_fn_name);
		}
		if (op_kind_is_sink(op->node->kind)) {
			int rc = sink_finish(op);
			if (rc < 0)
				return rc;
		}
	}
	for (int i = 0; i < t->npartitions; i++) {
		int rc = result_partition_finish(&t->partitions[i]);
		if (rc < 0)
			return rc;
	}
	return 0;
}

void *task_main(void *arg)
{
	struct task *t = arg;
	struct local_job *job = t->job;
	char tname[16];
	snprintf(tname, sizeof tname, "task-%d.%d", t->ev->job_vertex->index, t->ev->subtask);
	log_set_thread_name(t->name);
	pthread_setname_np(pthread_self(), tname);

	local_job_task_state(job, t, EXEC_INITIALIZING);
	int rc = task_setup_operators(t, job->lib_handle);
	if (rc == 0) {
		atomic_store_explicit(&t->io.start_ns, metrics_now_ns(), memory_order_relaxed);
		local_job_task_state(job, t, EXEC_RUNNING);
		if (op_kind_is_source(t->ops[0].node->kind))
			rc = source_run(&t->ops[0]);
		else
			rc = consume_input(t);
		if (rc == SPATE_ESTOPPED)
			rc = 0; /* stop-with-savepoint: ends as if its input ended */
		if (rc == 0)
			rc = end_of_input(t);
		if (rc == 0 && job->ckpt.enabled) {
			/* Everything this task will ever emit is out; what it wrote is committed
			 * by the final checkpoint, which the JobMaster starts once every task got
			 * here. */
			t->end_of_input = true;
			if (job->ckpt.end_of_input_hook)
				job->ckpt.end_of_input_hook(job->ckpt.hook_arg, t);
			rc = wait_mail(t, 0);
		}
	}
	/* Buffers held back by an alignment go back to their pools. */
	release_stash(t);
	while (t->replay) {
		struct buffer *b = t->replay;
		t->replay = b->next;
		buffer_recycle(b);
	}
	t->replay_tail = NULL;
	if (atomic_load_explicit(&t->io.start_ns, memory_order_relaxed))
		atomic_store_explicit(&t->io.end_ns, metrics_now_ns(), memory_order_relaxed);
	for (int i = 0; i < t->nops; i++)
		if (op_kind_is_sink(t->ops[i].node->kind))
			sink_abort(&t->ops[i]); /* after a successful finish this only frees */
	if (rc == 0)
		local_job_task_state(job, t, EXEC_FINISHED);
	else if (rc == SPATE_ECANCELED && !t->failure)
		local_job_task_state(job, t, EXEC_CANCELED);
	else {
		if (!t->failure)
			task_fail(t, NULL, rc, "%s", spate_strerror(rc));
		local_job_task_state(job, t, EXEC_FAILED);
	}
	return NULL;
}
