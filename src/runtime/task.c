/*
 * task.c - the body of a task's thread (see task.h for the design): initialize the chain,
 * run the source loop or consume the input gate, propagate end of input through the chain
 * (end functions, sink commits, end-of-partition to consumers), and report the outcome.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
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

int task_poll(struct task *t)
{
	if (atomic_load_explicit(&t->job->canceled, memory_order_relaxed))
		return SPATE_ECANCELED;
	if (atomic_load_explicit(&t->flush_requested, memory_order_relaxed)) {
		atomic_store_explicit(&t->flush_requested, 0, memory_order_relaxed);
		task_flush(t);
	}
	return 0;
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

/* Hands every row of a data buffer to the head operator, in place. */
static int process_buffer(struct task *t, const struct buffer *b)
{
	struct operator* head = & t->ops[0];
	uint32_t off = 0;
	counter_add(&t->io.bytes_in, b->size);
	while (off < b->size) {
		const spate_row *row = (const spate_row *)(b->data + off);
		uint32_t size = row_size_of(row);
		if (size < ROW_HEADER_BYTES || size > b->size - off || size % 8) {
			task_fail(t, NULL, SPATE_ECORRUPT, "corrupt row of %u bytes at offset %u",
			          size, off);
			return SPATE_ECORRUPT;
		}
		head->records_in++;
		counter_add(&t->io.records_in, 1);
		int rc = head->process(head, row);
		if (rc < 0)
			return rc;
		off += size;
	}
	return 0;
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

static int consume_input(struct task *t)
{
	struct input_gate *g = &t->gate;
	while (g->nended < g->nchannels) {
		bool woken;
		struct buffer *b = input_gate_take(g, &woken);
		if (!b) {
			if (!woken)
				return SPATE_ECANCELED;
			int rc = task_poll(t);
			if (rc < 0)
				return rc;
			continue;
		}
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
			}
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
	for (int i = 0; i < t->nops; i++) {
		struct operator* op = & t->ops[i];
		if (op->end_fn) {
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
		if (rc == 0)
			rc = end_of_input(t);
	}
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
