/*
 * network.h - buffers, buffer pools, result partitions and input gates: how rows move
 * between tasks.
 *
 * Rows leave a task through a result partition (one per job edge leaving its job vertex),
 * which has one subpartition per consuming subtask. A subpartition fills a 32 KiB buffer
 * with rows back to back (each row 8-byte aligned, as laid out by types/row.h) and hands
 * the full buffer to the consumer's input gate. Buffers come from the partition's bounded
 * pool; when it is empty the producer blocks (backpressure) until a consumer recycles a
 * buffer. Memory therefore never grows with the input: it is bounded by the pools.
 *
 * An input gate merges all channels into one consuming subtask into one FIFO, so buffers
 * are taken in arrival order while the order within each channel is kept. Events
 * (end-of-partition, checkpoint barriers; watermarks later) travel in-band as buffers of
 * their own kind, in order with the data. A row larger than one buffer is split over several
 * SPAN buffers and reassembled on the consumer side.
 *
 * A consumer in another process is reached through the data plane (network/netenv.h): a
 * subpartition with a remote_push hook hands its buffers to the network instead of a gate,
 * and the buffers of remote input channels come from pools with a recycle hook, so that
 * recycling one gives credit back to its producer. Both hooks are tested once per buffer;
 * the per-row path is the same for local and remote channels.
 *
 * Threads: a partition is written only by its producer task's thread; a gate is read only
 * by its consumer task's thread; they meet at the gate's queue and the pool's free list,
 * each guarded by its own mutex. Locks are taken per buffer, never per row.
 * Lock order: gate.mu and pool.mu are never held together. A recycle hook is called with
 * no lock of this file held.
 */
#ifndef SPATE_RUNTIME_NETWORK_H
#define SPATE_RUNTIME_NETWORK_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "graph/stream_graph.h"
#include "metrics/metrics.h"
#include "spate/spate.h"

#define BUFFER_SIZE (32 * 1024) /* taskmanager.memory.segment-size */

enum buffer_kind {
	BUF_DATA,             /* whole rows */
	BUF_SPAN,             /* a part of one row larger than a buffer (first part starts with
	                         the row's size header) */
	BUF_END_OF_PARTITION, /* the producer has finished this subpartition */
	BUF_BARRIER,          /* a checkpoint barrier (checkpoint_barrier_encode in data) */
};

struct buffer {
	struct buffer_pool *pool; /* where it returns to */
	struct buffer *next;      /* link in a free list or a gate queue */
	enum buffer_kind kind;
	uint32_t size; /* bytes used in data */
	int channel;   /* set when queued in a gate: the input channel index */
	uint8_t *data; /* BUFFER_SIZE bytes, 64-byte aligned */
};

struct buffer_pool {
	pthread_mutex_t mu;
	pthread_cond_t cond;         /* signalled when a buffer is recycled */
	struct buffer *free;         /* guarded by: mu */
	int nfree;                   /* guarded by: mu */
	int nwaiting;                /* requesters waiting for low_water free buffers; mu */
	int low_water;               /* free buffers that wake a waiting requester (>= 1) */
	int64_t wakeups;             /* how often recycling woke waiting requesters; mu */
	int capacity;                /* total buffers (fixed) */
	struct buffer *all;          /* owned array of capacity buffers */
	uint8_t *memory;             /* owned: capacity * BUFFER_SIZE bytes */
	const atomic_bool *canceled; /* borrowed: the job's cancel flag */
	/* Optional, set after init by the owner of the pool's buffers (remote input channels):
	 * buffer_recycle hands the buffer to this hook instead of the free list; the hook's
	 * owner then guards free/nfree with its own lock. NULL for ordinary pools. */
	void (*recycle_hook)(struct buffer_pool *p, struct buffer *b);
	void *hook_arg; /* borrowed: for the hook */
	/* Optional: where the time a requester spends waiting for a free buffer is added
	 * (the producing task's backpressured time). Set before use; NULL = not timed. */
	struct wait_clock *wait;
};

int buffer_pool_init(struct buffer_pool *p, int capacity, const atomic_bool *canceled);
void buffer_pool_release(struct buffer_pool *p);
/* Returns a free buffer. If there is none, blocks until low_water buffers are free (not
 * one: see result_partition_init), so the caller must hold fewer than capacity - low_water
 * buffers that no consumer will give back (a result partition holds at most one partly
 * filled buffer per subpartition). Returns NULL only when the job is canceled. */
struct buffer *buffer_pool_request(struct buffer_pool *p);
void buffer_recycle(struct buffer *b);
/* Wakes every waiter (used on cancel). */
void buffer_pool_wake(struct buffer_pool *p);

struct input_channel {
	bool ended;       /* consumer thread only */
	uint8_t *span;    /* reassembly area for a row split over SPAN buffers (owned) */
	size_t span_len;  /* bytes gathered */
	size_t span_need; /* total row size, 0 when no row is being reassembled */
	size_t span_cap;
};

struct input_gate {
	pthread_mutex_t mu;
	pthread_cond_t cond; /* signalled on enqueue and on wake-ups */
	struct buffer *head; /* guarded by: mu; FIFO of queued buffers */
	struct buffer *tail; /* guarded by: mu */
	atomic_int wakeups;  /* a wake-up was requested (flush tick, cancel) */
	int nchannels;
	int nended;                     /* consumer thread only */
	struct input_channel *channels; /* owned */
	const atomic_bool *canceled;    /* borrowed */
	atomic_int queued;              /* buffers queued now (metrics: inPoolUsage) */
	int capacity;                   /* buffers that can be queued at most (for usage) */
	/* Optional: where the consumer's time blocked in input_gate_take is added (its idle
	 * time). Set before use; NULL = not timed. */
	struct wait_clock *idle;
	/* Buffer timeout 0 (latency first): how long the consumer polls for a buffer before it
	 * sleeps, so that a row handed over within that time needs no wake-up (a futex call on
	 * the producer's side, and a sleeping CPU to wake on a virtual machine). 0 = sleep at
	 * once. Set before use. */
	int64_t spin_ns;
};

void input_gate_init(struct input_gate *g, int nchannels, const atomic_bool *canceled);
void input_gate_release(struct input_gate *g);
/* Producer side: queues a buffer for channel `channel`. */
void input_gate_push(struct input_gate *g, struct buffer *b, int channel);
/*
 * Consumer side: takes the next buffer. Blocks until one is queued, the job is canceled
 * (returns NULL), or a wake-up was requested (returns NULL with *woken = true).
 */
struct buffer *input_gate_take(struct input_gate *g, bool *woken);
/* Makes a blocked input_gate_take return (flush tick, cancel). Any thread. */
void input_gate_wake(struct input_gate *g);
/*
 * Unlinks every queued buffer for which match(b, arg) is true, keeping the order of the
 * rest; returns them as a list linked by next (returns new ownership of the buffers). Any
 * thread; match is called with gate.mu held and must not lock.
 */
struct buffer *input_gate_steal(struct input_gate *g,
                                bool (*match)(const struct buffer *b, void *arg), void *arg);

struct subpartition {
	struct input_gate *gate; /* borrowed: the consumer's gate */
	int channel;             /* our channel index in that gate */
	struct buffer *current;  /* partly filled buffer, or NULL */
	/* Set while the consumer is in another process (netenv_register_subpartition), before
	 * the producer starts and cleared after it ended: hand-overs go to remote_push (which
	 * takes ownership of the buffer) instead of gate. */
	void (*remote_push)(void *arg, struct buffer *b);
	void *remote_arg; /* borrowed: for remote_push */
	/* Buffer timeout 0: `current` holds rows the consumer could not take yet (write_row);
	 * counted in *held_count until handed over. */
	bool held;
	int *held_count; /* borrowed: the producing task's count of held subpartitions */
};

/* How a result partition picks subpartitions for a row. */
struct result_partition {
	enum partitioner partitioner;
	struct subpartition *subs; /* owned, nsubs entries: consumers first_consumer.. */
	int nsubs;
	int first_consumer;           /* subtask index of subs[0] among the consumers */
	int consumer_parallelism;     /* for HASH: the consumer vertex's parallelism */
	int consumer_max_parallelism; /* for HASH: the number of key groups */
	const struct key_spec *key;   /* for HASH (borrowed from the stream edge) */
	int next;                     /* round robin position */
	uint64_t rng;                 /* shuffle / rebalance start */
	bool flush_always;            /* buffer timeout 0: flush after every row the consumer
	                                 can take now (see write_row) */
	struct buffer_pool pool;
	_Atomic int64_t bytes_out;   /* row bytes written (metrics: single writer) */
	_Atomic int64_t records_out; /* rows written (metrics: single writer) */
	/* For key selector functions: computes the key hash of a row. Set by the task. */
	int (*key_hash)(void *arg, const spate_row *row, int32_t *hash);
	void *key_hash_arg;
};

int result_partition_init(struct result_partition *rp, enum partitioner p, int nsubs,
                          int pool_buffers, const atomic_bool *canceled);
void result_partition_release(struct result_partition *rp);
/* Writes a row to the subpartition(s) the partitioner selects. 0, or SPATE_ECANCELED. */
int result_partition_emit(struct result_partition *rp, const spate_row *row);
/* The same for n rows in order (a chain's batch, see op_emit_batch). */
int result_partition_emit_batch(struct result_partition *rp, const spate_row *const *rows, int n);
/* Hands every partly filled buffer to its consumer. */
int result_partition_flush(struct result_partition *rp);
/* Buffer timeout 0: hands over every held buffer whose consumer has caught up (its gate
 * holds no buffer). Producer thread; cheap when nothing is held. */
void result_partition_release_held(struct result_partition *rp);
/* Flushes and sends end-of-partition on every subpartition. */
int result_partition_finish(struct result_partition *rp);
/* Flushes, then sends an event buffer of `kind` holding data[0..len) (len <= BUFFER_SIZE)
 * on every subpartition, in order after the rows before it: how barriers travel. */
int result_partition_emit_event(struct result_partition *rp, enum buffer_kind kind,
                                const void *data, uint32_t len);

#endif
