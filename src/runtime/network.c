/*
 * network.c - buffer pools, result partitions and input gates (see network.h for the
 * design and the threading rules).
 */
#include "runtime/network.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "types/keygroup.h"
#include "types/row.h"

/* ---- buffer pool ---------------------------------------------------------------------- */

int buffer_pool_init(struct buffer_pool *p, int capacity, const atomic_bool *canceled)
{
	memset(p, 0, sizeof *p);
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cond, NULL);
	p->capacity = capacity;
	p->low_water = 1; /* result_partition_init raises it */
	p->canceled = canceled;
	p->all = xcalloc((size_t)capacity, sizeof *p->all);
	if (posix_memalign((void **)&p->memory, 64, (size_t)capacity * BUFFER_SIZE) != 0)
		return SPATE_ENOMEM;
	for (int i = 0; i < capacity; i++) {
		struct buffer *b = &p->all[i];
		b->pool = p;
		b->data = p->memory + (size_t)i * BUFFER_SIZE;
		b->next = p->free;
		p->free = b;
	}
	p->nfree = capacity;
	return 0;
}

void buffer_pool_release(struct buffer_pool *p)
{
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cond);
	xfree(p->all);
	free(p->memory);
	p->all = NULL;
	p->memory = NULL;
}

struct buffer *buffer_pool_request(struct buffer_pool *p)
{
	struct buffer *b = NULL;
	int64_t t0 = 0; /* when this request began to wait, timed only if it does */
	pthread_mutex_lock(&p->mu);
	if (!p->free) {
		p->nwaiting++;
		while (p->nfree < p->low_water &&
		       !atomic_load_explicit(p->canceled, memory_order_acquire)) {
			if (p->wait && !t0) {
				t0 = metrics_now_ns();
				wait_clock_begin(p->wait, t0);
			}
			pthread_cond_wait(&p->cond, &p->mu);
		}
		p->nwaiting--;
	}
	if (t0)
		wait_clock_end(p->wait, metrics_now_ns());
	if (p->free) {
		b = p->free;
		p->free = b->next;
		p->nfree--;
	}
	pthread_mutex_unlock(&p->mu);
	if (b) {
		b->next = NULL;
		b->size = 0;
		b->kind = BUF_DATA;
	}
	return b;
}

void buffer_recycle(struct buffer *b)
{
	struct buffer_pool *p = b->pool;
	if (p->recycle_hook) {
		p->recycle_hook(p, b);
		return;
	}
	pthread_mutex_lock(&p->mu);
	b->next = p->free;
	p->free = b;
	p->nfree++;
	if (p->nwaiting && p->nfree >= p->low_water) {
		p->wakeups++;
		pthread_cond_broadcast(&p->cond);
	}
	pthread_mutex_unlock(&p->mu);
}

void buffer_pool_wake(struct buffer_pool *p)
{
	pthread_mutex_lock(&p->mu);
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->mu);
}

/* ---- input gate ----------------------------------------------------------------------- */

void input_gate_init(struct input_gate *g, int nchannels, const atomic_bool *canceled)
{
	memset(g, 0, sizeof *g);
	pthread_mutex_init(&g->mu, NULL);
	pthread_cond_init(&g->cond, NULL);
	g->nchannels = nchannels;
	g->channels = xcalloc((size_t)(nchannels ? nchannels : 1), sizeof *g->channels);
	g->canceled = canceled;
}

void input_gate_release(struct input_gate *g)
{
	/* Buffers still queued (after a cancel) go back to their pools. */
	struct buffer *b = g->head;
	while (b) {
		struct buffer *next = b->next;
		buffer_recycle(b);
		b = next;
	}
	g->head = g->tail = NULL;
	for (int i = 0; i < g->nchannels; i++)
		xfree(g->channels[i].span);
	xfree(g->channels);
	pthread_mutex_destroy(&g->mu);
	pthread_cond_destroy(&g->cond);
}

void input_gate_push(struct input_gate *g, struct buffer *b, int channel)
{
	b->channel = channel;
	b->next = NULL;
	pthread_mutex_lock(&g->mu);
	if (g->tail)
		g->tail->next = b;
	else
		g->head = b;
	g->tail = b;
	atomic_fetch_add_explicit(&g->queued, 1, memory_order_relaxed);
	pthread_cond_signal(&g->cond);
	pthread_mutex_unlock(&g->mu);
}

/* Polls (without the lock) until something is queued or requested, or spin_ns passed. */
static void gate_spin(struct input_gate *g)
{
	int64_t end = metrics_now_ns() + g->spin_ns;
	for (int i = 0;; i++) {
		if (atomic_load_explicit(&g->queued, memory_order_relaxed) ||
		    atomic_load_explicit(&g->wakeups, memory_order_relaxed) ||
		    atomic_load_explicit(g->canceled, memory_order_relaxed))
			return;
		if ((i & 63) == 63 && metrics_now_ns() > end)
			return;
#if defined(__x86_64__) || defined(__i386__)
		__builtin_ia32_pause();
#endif
	}
}

struct buffer *input_gate_take(struct input_gate *g, bool *woken)
{
	struct buffer *b = NULL;
	int64_t t0 = 0; /* when the consumer began to wait, timed only if it does */
	bool spun = g->spin_ns <= 0;
	*woken = false;
	pthread_mutex_lock(&g->mu);
	for (;;) {
		if (g->head) {
			b = g->head;
			g->head = b->next;
			if (!g->head)
				g->tail = NULL;
			atomic_fetch_sub_explicit(&g->queued, 1, memory_order_relaxed);
			break;
		}
		if (atomic_load_explicit(g->canceled, memory_order_acquire))
			break;
		if (atomic_exchange_explicit(&g->wakeups, 0, memory_order_acq_rel)) {
			*woken = true;
			break;
		}
		if (g->idle && !t0) {
			t0 = metrics_now_ns();
			wait_clock_begin(g->idle, t0);
		}
		if (!spun) {
			spun = true;
			pthread_mutex_unlock(&g->mu);
			gate_spin(g);
			pthread_mutex_lock(&g->mu);
			continue;
		}
		pthread_cond_wait(&g->cond, &g->mu);
	}
	pthread_mutex_unlock(&g->mu);
	if (t0)
		wait_clock_end(g->idle, metrics_now_ns());
	return b;
}

void input_gate_wake(struct input_gate *g)
{
	atomic_store_explicit(&g->wakeups, 1, memory_order_release);
	pthread_mutex_lock(&g->mu);
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->mu);
}

struct buffer *input_gate_steal(struct input_gate *g,
                                bool (*match)(const struct buffer *b, void *arg), void *arg)
{
	struct buffer *stolen = NULL, **stolen_tail = &stolen;
	pthread_mutex_lock(&g->mu);
	struct buffer **link = &g->head;
	g->tail = NULL;
	while (*link) {
		struct buffer *b = *link;
		if (match(b, arg)) {
			*link = b->next;
			b->next = NULL;
			atomic_fetch_sub_explicit(&g->queued, 1, memory_order_relaxed);
			*stolen_tail = b;
			stolen_tail = &b->next;
		} else {
			g->tail = b;
			link = &b->next;
		}
	}
	pthread_mutex_unlock(&g->mu);
	return stolen;
}

/* ---- result partition ------------------------------------------------------------------ */

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

int result_partition_init(struct result_partition *rp, enum partitioner p, int nsubs,
                          int pool_buffers, const atomic_bool *canceled)
{
	memset(rp, 0, sizeof *rp);
	rp->partitioner = p;
	rp->nsubs = nsubs;
	rp->subs = xcalloc((size_t)nsubs, sizeof *rp->subs);
	rp->next = -1;
	rp->rng = (uint64_t)(uintptr_t)rp ^ 0x5deece66dull;
	if (p == PART_REBALANCE)
		rp->next = (int)(splitmix(&rp->rng) % (uint64_t)nsubs);
	int rc = buffer_pool_init(&rp->pool, pool_buffers, canceled);
	/* A producer that found its pool empty sleeps until a few buffers are back, not one:
	 * the consumers then wake it once per few buffers. A wake-up is a futex call by a
	 * consumer that, when this happens, is the bottleneck; one per buffer cost a keyed
	 * task about 5 % of its time. The producer holds at most one partly filled buffer per
	 * subpartition, and none for the subpartition it is asking for (it has just handed
	 * that one over), so at least pool_buffers - nsubs + 1 come back: the mark stays at
	 * half of pool_buffers - nsubs at most. */
	int spare = pool_buffers - nsubs;
	rp->pool.low_water = spare >= 8 ? 4 : spare >= 2 ? spare / 2 : 1;
	return rc;
}

void result_partition_release(struct result_partition *rp)
{
	for (int i = 0; i < rp->nsubs; i++)
		if (rp->subs[i].current)
			buffer_recycle(rp->subs[i].current);
	xfree(rp->subs);
	buffer_pool_release(&rp->pool);
}

static int hand_over(struct subpartition *sp)
{
	struct buffer *b = sp->current;
	sp->current = NULL;
	if (sp->held) {
		sp->held = false;
		(*sp->held_count)--;
	}
	if (sp->remote_push)
		sp->remote_push(sp->remote_arg, b);
	else
		input_gate_push(sp->gate, b, sp->channel);
	return 0;
}

/* Writes a row larger than a buffer as a run of SPAN buffers. */
static int write_spanning(struct result_partition *rp, struct subpartition *sp, const uint8_t *row,
                          size_t size)
{
	size_t off = 0;
	while (off < size) {
		struct buffer *b = buffer_pool_request(&rp->pool);
		if (!b)
			return SPATE_ECANCELED;
		size_t n = size - off < BUFFER_SIZE ? size - off : BUFFER_SIZE;
		memcpy(b->data, row + off, n);
		b->size = (uint32_t)n;
		b->kind = BUF_SPAN;
		off += n;
		sp->current = b;
		hand_over(sp);
	}
	return 0;
}

static int write_row_slow(struct result_partition *rp, struct subpartition *sp, const uint8_t *row,
                          uint32_t size)
{
	struct buffer *b = sp->current;
	if (b && b->size + size <= BUFFER_SIZE) {
		row_copy_small(b->data + b->size, row, size);
		b->size += size;
	} else {
		if (b)
			hand_over(sp);
		if (size > BUFFER_SIZE)
			return write_spanning(rp, sp, row, size);
		b = buffer_pool_request(&rp->pool);
		if (!b)
			return SPATE_ECANCELED;
		memcpy(b->data, row, size);
		b->size = size;
		sp->current = b;
	}
	/* Buffer timeout 0: the row goes to the consumer now if it has caught up (its gate
	 * holds no buffer). If it has not, it would not look at the row before it is through
	 * its queue anyway, so the row waits in the buffer with the ones that follow, marked
	 * held: the task hands it over as soon as the consumer caught up (it checks per record,
	 * or per batch of generated rows, in sources, per input buffer otherwise:
	 * task_release_held), or when it goes idle
	 * (task_flush_idle). So the consumer is fed the moment it can take more, and a busy
	 * consumer gets full buffers instead of one buffer per row. A remote consumer's queue
	 * is not visible here: every row is handed to the network. */
	if (rp->flush_always) {
		if (sp->remote_push ||
		    !atomic_load_explicit(&sp->gate->queued, memory_order_relaxed))
			hand_over(sp);
		else if (!sp->held && sp->held_count) {
			sp->held = true;
			(*sp->held_count)++;
		}
	}
	return 0;
}

/* Appends a row to its channel's buffer: inline for the usual case, a row that fits the
 * current buffer with the buffer timeout above 0; write_row_slow does the rest. */
static inline int write_row(struct result_partition *rp, struct subpartition *sp,
                            const uint8_t *row, uint32_t size)
{
	struct buffer *b = sp->current;
	if (b && b->size + size <= BUFFER_SIZE && !rp->flush_always) {
		row_copy_small(b->data + b->size, row, size);
		b->size += size;
		return 0;
	}
	return write_row_slow(rp, sp, row, size);
}

void result_partition_release_held(struct result_partition *rp)
{
	for (int i = 0; i < rp->nsubs; i++) {
		struct subpartition *sp = &rp->subs[i];
		if (sp->held && sp->current &&
		    !atomic_load_explicit(&sp->gate->queued, memory_order_relaxed))
			hand_over(sp);
	}
}

/* The channel of a HASH partition for a key hashing to h: Flink's key group, then the
 * consumer subtask that owns it. */
static inline int hash_channel(const struct result_partition *rp, int32_t h)
{
	int kg = key_group_for_hash(h, rp->consumer_max_parallelism);
	return key_group_operator_index(rp->consumer_max_parallelism, rp->consumer_parallelism,
	                                kg) -
	       rp->first_consumer;
}

/* The channel of a HASH partition keyed by fields (no selector function); inline, with the
 * one-int64-field key hashed in place, as it runs once per record. */
static inline int field_key_channel(const struct result_partition *rp, const spate_row *row)
{
	const struct key_spec *k = rp->key;
	if (rp->consumer_parallelism == 1)
		return 0; /* one consumer owns every key group: no hash can pick another */
	const unsigned char *slot =
	    k->nfields == 1 ? spate__row_slot(row, k->fields[0], SPATE_INT64) : NULL;
	if (slot) {
		int64_t v;
		memcpy(&v, slot, sizeof v);
		return hash_channel(rp, java_hash_i64(v));
	}
	return hash_channel(rp, key_hash_fields(row, k->fields, k->nfields));
}

static int select_channel(struct result_partition *rp, const spate_row *row, int *out)
{
	int n = rp->nsubs;
	switch (rp->partitioner) {
	case PART_FORWARD:
	case PART_GLOBAL:
		*out = 0;
		return 0;
	case PART_RESCALE:
		if (++rp->next >= n)
			rp->next = 0;
		*out = rp->next;
		return 0;
	case PART_REBALANCE:
		rp->next = (rp->next + 1) % n;
		*out = rp->next;
		return 0;
	case PART_SHUFFLE:
		*out = (int)(splitmix(&rp->rng) % (uint64_t)n);
		return 0;
	case PART_HASH: {
		int32_t h;
		if (!rp->key->selector_fn) {
			*out = field_key_channel(rp, row);
			return 0;
		}
		int rc = rp->key_hash(rp->key_hash_arg, row, &h);
		if (rc < 0)
			return rc;
		*out = hash_channel(rp, h);
		return 0;
	}
	default:
		*out = 0;
		return 0;
	}
}

int result_partition_emit_batch(struct result_partition *rp, const spate_row *const *rows, int n)
{
	/* A keyed exchange by fields picks its channels without select_channel's switch; the
	 * rest goes one row at a time. */
	if (rp->partitioner != PART_HASH || rp->key->selector_fn) {
		for (int r = 0; r < n; r++) {
			int rc = result_partition_emit(rp, rows[r]);
			if (rc < 0)
				return rc;
		}
		return 0;
	}
	/* counted once per batch: stores to the counters could not stay in registers across
	 * the row copies */
	int64_t bytes = 0;
	int r, rc = 0;
	for (r = 0; r < n && rc >= 0; r++) {
		uint32_t size = row_size_of(rows[r]);
		bytes += size;
		rc = write_row(rp, &rp->subs[field_key_channel(rp, rows[r])],
		               (const uint8_t *)rows[r], size);
	}
	counter_add(&rp->records_out, r);
	counter_add(&rp->bytes_out, bytes);
	return rc < 0 ? rc : 0;
}

int result_partition_emit(struct result_partition *rp, const spate_row *row)
{
	const uint8_t *bytes = (const uint8_t *)row;
	uint32_t size = row_size_of(row);
	int rc;
	counter_add(&rp->records_out, 1);
	if (rp->partitioner == PART_BROADCAST) {
		for (int i = 0; i < rp->nsubs; i++) {
			rc = write_row(rp, &rp->subs[i], bytes, size);
			if (rc < 0)
				return rc;
			counter_add(&rp->bytes_out, size);
		}
		return 0;
	}
	int ch;
	rc = select_channel(rp, row, &ch);
	if (rc < 0)
		return rc;
	counter_add(&rp->bytes_out, size);
	return write_row(rp, &rp->subs[ch], bytes, size);
}

int result_partition_flush(struct result_partition *rp)
{
	for (int i = 0; i < rp->nsubs; i++)
		if (rp->subs[i].current && rp->subs[i].current->size > 0)
			hand_over(&rp->subs[i]);
	return 0;
}

int result_partition_emit_event(struct result_partition *rp, enum buffer_kind kind,
                                const void *data, uint32_t len)
{
	result_partition_flush(rp);
	for (int i = 0; i < rp->nsubs; i++) {
		struct buffer *b = rp->subs[i].current;
		if (!b) {
			b = buffer_pool_request(&rp->pool);
			if (!b)
				return SPATE_ECANCELED;
			rp->subs[i].current = b;
		}
		b->kind = kind;
		if (len)
			memcpy(b->data, data, len);
		b->size = len;
		hand_over(&rp->subs[i]);
	}
	return 0;
}

int result_partition_finish(struct result_partition *rp)
{
	return result_partition_emit_event(rp, BUF_END_OF_PARTITION, NULL, 0);
}
