/*
 * test_network.c - result partitions, buffer pools and input gates on real threads:
 * rows arrive complete and in per-channel order, rows larger than a buffer are split and
 * reassembled, end-of-partition arrives after the data, and a producer whose consumer does
 * not read blocks once its bounded pool is used up (backpressure) instead of allocating.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "runtime/network.h"
#include "types/row.h"

static atomic_bool canceled;

struct producer {
	struct result_partition rp;
	int id;
	int64_t nrows;
	size_t str_len; /* bytes of the string field per row */
	atomic_llong emitted;
};

static void *produce(void *arg)
{
	struct producer *p = arg;
	struct spate_error e = {0};
	struct schema *s = schema_parse("src:int64,seq:int64,pad:string", &e);
	struct spate_row_builder b;
	row_builder_init(&b, s);
	char *pad = xmalloc(p->str_len + 1);
	memset(pad, 'a' + p->id, p->str_len);
	for (int64_t i = 0; i < p->nrows; i++) {
		row_builder_begin(&b);
		spate_row_set_i64(&b, 0, p->id);
		spate_row_set_i64(&b, 1, i);
		spate_row_set_str(&b, 2, pad, p->str_len);
		if (result_partition_emit(&p->rp, row_builder_finish(&b, &e)) < 0)
			break;
		atomic_fetch_add(&p->emitted, 1);
	}
	result_partition_finish(&p->rp);
	xfree(pad);
	row_builder_release(&b);
	schema_free(s);
	return NULL;
}

static void check_row(const spate_row *row, int64_t *next_seq, size_t str_len)
{
	int64_t src = spate_row_i64(row, 0);
	assert_in_range(src, 0, 3);
	assert_int_equal(spate_row_i64(row, 1), next_seq[src]);
	next_seq[src]++;
	size_t len;
	const char *str = spate_row_str(row, 2, &len);
	assert_int_equal(len, str_len);
	for (size_t k = 0; k < len; k += 997)
		assert_int_equal(str[k], 'a' + src);
}

/* Reassembly of one channel's row split over SPAN buffers. */
struct span {
	uint8_t *buf;
	size_t len;
	size_t need;
};

/* Consumes everything from `g`, reassembling spans per channel (spans of different channels
 * interleave in the gate); returns rows seen. */
static int64_t consume(struct input_gate *g, int64_t *next_seq, size_t str_len)
{
	int64_t rows = 0;
	struct span spans[4] = {0};
	while (g->nended < g->nchannels) {
		bool woken;
		struct buffer *b = input_gate_take(g, &woken);
		assert_non_null(b);
		if (b->kind == BUF_END_OF_PARTITION) {
			g->channels[b->channel].ended = true;
			g->nended++;
		} else if (b->kind == BUF_SPAN) {
			struct span *sp = &spans[b->channel];
			if (sp->need == 0) {
				sp->need = row_size_of(b->data);
				sp->buf = xrealloc(sp->buf, sp->need);
				sp->len = 0;
			}
			assert_true(sp->len + b->size <= sp->need);
			memcpy(sp->buf + sp->len, b->data, b->size);
			sp->len += b->size;
			if (sp->len == sp->need) {
				assert_int_equal(row_validate(sp->buf, sp->len), 0);
				check_row((const spate_row *)sp->buf, next_seq, str_len);
				rows++;
				sp->need = 0;
			}
		} else {
			uint32_t off = 0;
			while (off < b->size) {
				const spate_row *row = (const spate_row *)(b->data + off);
				assert_int_equal(row_validate(row, row_size_of(row)), 0);
				check_row(row, next_seq, str_len);
				off += row_size_of(row);
				rows++;
			}
		}
		buffer_recycle(b);
	}
	for (int i = 0; i < 4; i++)
		xfree(spans[i].buf);
	return rows;
}

static void run_producers(int nprod, int64_t nrows, size_t str_len)
{
	struct input_gate gate;
	input_gate_init(&gate, nprod, &canceled);
	struct producer *ps = xcalloc((size_t)nprod, sizeof *ps);
	pthread_t th[4];
	for (int i = 0; i < nprod; i++) {
		ps[i].id = i;
		ps[i].nrows = nrows;
		ps[i].str_len = str_len;
		assert_int_equal(result_partition_init(&ps[i].rp, PART_FORWARD, 1, 4, &canceled),
		                 0);
		ps[i].rp.subs[0].gate = &gate;
		ps[i].rp.subs[0].channel = i;
		pthread_create(&th[i], NULL, produce, &ps[i]);
	}
	int64_t next_seq[4] = {0};
	int64_t rows = consume(&gate, next_seq, str_len);
	for (int i = 0; i < nprod; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(next_seq[i], nrows);
	}
	assert_int_equal(rows, nrows * nprod);
	input_gate_release(&gate);
	for (int i = 0; i < nprod; i++)
		result_partition_release(&ps[i].rp);
	xfree(ps);
}

static void test_rows_arrive_in_channel_order(void **unused)
{
	run_producers(3, 200000, 10);
}

static void test_rows_larger_than_a_buffer_are_reassembled(void **unused)
{
	run_producers(2, 50, 100 * 1024); /* each row spans 4 buffers */
}

static void test_producer_blocks_when_pool_is_exhausted(void **unused)
{
	/* Nobody reads the gate: the producer must stop once its 4 buffers are queued. */
	struct input_gate gate;
	input_gate_init(&gate, 1, &canceled);
	struct producer p = {.id = 0, .nrows = 1000000, .str_len = 100};
	assert_int_equal(result_partition_init(&p.rp, PART_FORWARD, 1, 4, &canceled), 0);
	p.rp.subs[0].gate = &gate;
	pthread_t th;
	pthread_create(&th, NULL, produce, &p);
	/* Wait (bounded) until the pool is empty: the producer has used every buffer. */
	int nfree = -1;
	for (int spin = 0; spin < 2000000; spin++) {
		pthread_mutex_lock(&p.rp.pool.mu);
		nfree = p.rp.pool.nfree;
		pthread_mutex_unlock(&p.rp.pool.mu);
		if (nfree == 0 && atomic_load(&p.emitted) > 0)
			break;
		sched_yield();
	}
	assert_int_equal(nfree, 0);
	/* Rows per 32 KiB buffer: 8 + 8 + 24 + 104 = 144 bytes each, so at most 4 buffers'
	 * worth plus the one row being written can have been emitted. */
	long long bound = 4 * (BUFFER_SIZE / 144) + 1;
	long long before = atomic_load(&p.emitted);
	assert_true(before <= bound);
	/* Cancel unblocks the producer; nothing more was allocated meanwhile. */
	atomic_store(&canceled, true);
	buffer_pool_wake(&p.rp.pool);
	pthread_join(th, NULL);
	assert_true(atomic_load(&p.emitted) <= bound);
	atomic_store(&canceled, false);
	input_gate_release(&gate);
	result_partition_release(&p.rp);
}

/* A producer that found its pool empty sleeps until low_water buffers are back: fewer do
 * not wake it, the low_water-th does. 16 buffers on one channel: low_water is 4. The pool
 * counts its wake-ups, so "not woken" is read off the pool, not timed; every figure is
 * taken before the producer is stopped and checked after it was joined. */
static void test_blocked_producer_wakes_at_low_water(void **unused)
{
	struct input_gate gate;
	input_gate_init(&gate, 1, &canceled);
	struct producer p = {.id = 0, .nrows = 1000000, .str_len = 100};
	assert_int_equal(result_partition_init(&p.rp, PART_FORWARD, 1, 16, &canceled), 0);
	assert_int_equal(p.rp.pool.low_water, 4);
	p.rp.subs[0].gate = &gate;
	pthread_t th;
	pthread_create(&th, NULL, produce, &p);
	int waiting = 0;
	for (int spin = 0; spin < 2000000 && !waiting; spin++) {
		pthread_mutex_lock(&p.rp.pool.mu);
		waiting = p.rp.pool.nwaiting;
		pthread_mutex_unlock(&p.rp.pool.mu);
		if (!waiting)
			sched_yield();
	}
	/* Three buffers back (each recycle is done when the call returns): no wake-up. */
	bool woken, taken = true;
	for (int i = 0; i < 3 && waiting; i++) {
		struct buffer *b = input_gate_take(&gate, &woken);
		taken &= b != NULL;
		if (b)
			buffer_recycle(b);
	}
	pthread_mutex_lock(&p.rp.pool.mu);
	int64_t wakeups3 = p.rp.pool.wakeups;
	int nfree3 = p.rp.pool.nfree, waiting3 = p.rp.pool.nwaiting;
	pthread_mutex_unlock(&p.rp.pool.mu);
	/* The fourth wakes it, and it goes on emitting. */
	long long before = atomic_load(&p.emitted);
	struct buffer *b = waiting ? input_gate_take(&gate, &woken) : NULL;
	taken &= b != NULL;
	if (b)
		buffer_recycle(b);
	pthread_mutex_lock(&p.rp.pool.mu);
	int64_t wakeups4 = p.rp.pool.wakeups;
	pthread_mutex_unlock(&p.rp.pool.mu);
	for (int spin = 0; spin < 2000000 && atomic_load(&p.emitted) == before; spin++)
		sched_yield();
	long long after = atomic_load(&p.emitted);
	atomic_store(&canceled, true);
	buffer_pool_wake(&p.rp.pool);
	pthread_join(th, NULL);
	atomic_store(&canceled, false);
	input_gate_release(&gate);
	result_partition_release(&p.rp);

	assert_int_equal(waiting, 1);
	assert_true(taken);
	assert_int_equal(wakeups3, 0);
	assert_int_equal(nfree3, 3);
	assert_int_equal(waiting3, 1);
	assert_int_equal(wakeups4, 1);
	assert_true(after > before);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rows_arrive_in_channel_order),
	    cmocka_unit_test(test_rows_larger_than_a_buffer_are_reassembled),
	    cmocka_unit_test(test_producer_blocks_when_pool_is_exhausted),
	    cmocka_unit_test(test_blocked_producer_wakes_at_low_water),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
