/*
 * metrics.h - what Spate measures and how it leaves the process.
 *
 * DESIGN. A task counts its own I/O in single-writer counters (struct io_counters): the
 * task's thread is the only writer and updates them with relaxed atomic loads and stores,
 * which compile to plain moves, so counting costs what `x++` costs; any other thread may
 * read them at any time without a lock. Time is measured only where a task blocks: waiting
 * in its input gate is idle time, waiting for an output buffer is backpressured time, the
 * rest of its wall time is busy time. Nothing is timed per record.
 *
 * A TaskManager's reporter thread samples the counters of its tasks every
 * metrics.fetcher.update-interval and sends them to the JobManager (a MetricReport RPC);
 * the JobManager keeps the latest sample per subtask and per TaskManager (struct
 * task_metrics, struct tm_metrics) and derives per-second rates from two consecutive
 * samples. The REST API and the Prometheus endpoints read those.
 */
#ifndef SPATE_METRICS_METRICS_H
#define SPATE_METRICS_METRICS_H

#include <stdatomic.h>
#include <stdint.h>

/* Time a task spends blocked in one place: the waits that ended, plus the one in progress
 * (so a task blocked for seconds shows it while it still waits). Single writer. */
struct wait_clock {
	_Atomic int64_t total_ns; /* waits that ended */
	_Atomic int64_t since_ns; /* start of the wait in progress, 0 = not waiting */
};

/* Marks the start and the end of a wait (the writer's thread only). */
void wait_clock_begin(struct wait_clock *w, int64_t now_ns);
void wait_clock_end(struct wait_clock *w, int64_t now_ns);
/* All the time waited up to now_ns, the wait in progress included. Any thread. */
int64_t wait_clock_read(struct wait_clock *w, int64_t now_ns);

/* Single-writer counters of one task (see DESIGN). */
struct io_counters {
	_Atomic int64_t records_in;
	_Atomic int64_t records_out;
	_Atomic int64_t bytes_in;
	_Atomic int64_t bytes_out;
	struct wait_clock idle;          /* blocked waiting for input */
	struct wait_clock backpressured; /* blocked waiting for an output buffer */
	_Atomic int64_t start_ns;        /* when the task started running (0 = not yet) */
	_Atomic int64_t end_ns;          /* when it stopped (0 = still running) */
};

/* The only writer adds n: a plain load, add and store (no lock prefix). */
static inline void counter_add(_Atomic int64_t *c, int64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
	                      memory_order_relaxed);
}

static inline int64_t counter_get(_Atomic int64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

/* Monotonic clock in nanoseconds. */
int64_t metrics_now_ns(void);

/* The latest sample of one subtask, as the JobManager keeps it. */
struct task_metrics {
	int64_t records_in, records_out, bytes_in, bytes_out;        /* accumulated */
	int64_t busy_ms, idle_ms, backpressured_ms;                  /* accumulated */
	double records_in_per_s, records_out_per_s;                  /* over the last interval */
	double bytes_in_per_s, bytes_out_per_s;                      /* over the last interval */
	double busy_ms_per_s, idle_ms_per_s, backpressured_ms_per_s; /* 0..1000 */
	double in_pool_usage, out_pool_usage;                        /* 0..1 */
	int64_t updated_ms; /* wall clock of the sample, 0 = never reported */
};

/* The latest sample of one TaskManager process. */
struct tm_metrics {
	double cpu_load;           /* CPU time / wall time over the last interval (1.0 = a core) */
	int64_t cpu_time_ms;       /* user + system, accumulated */
	int64_t rss_bytes;         /* resident set size */
	int64_t physical_memory;   /* bytes of RAM on the host */
	int64_t free_memory;       /* bytes available on the host */
	int cpu_cores;             /* online CPUs on the host */
	int64_t net_buffers_total; /* network buffers allocated by running tasks */
	int64_t net_buffers_available; /* of which free */
	int prometheus_port;           /* its /metrics endpoint, 0 = none */
	int64_t updated_ms;            /* 0 = never reported */
};

/* ---- process and host ------------------------------------------------------------------ */

struct proc_sample {
	int64_t wall_ns;     /* monotonic time of the sample */
	int64_t cpu_ns;      /* user + system CPU time of this process */
	int64_t rss_bytes;   /* resident set size */
	int64_t phys_bytes;  /* RAM on the host */
	int64_t avail_bytes; /* RAM available on the host (MemAvailable) */
	int cpu_cores;       /* online CPUs */
};

/* Samples this process and the host. Fields it cannot read are 0. */
void proc_sample_read(struct proc_sample *s);
/* CPU load between two samples: CPU time / wall time (1.0 = one core busy). */
double proc_cpu_load(const struct proc_sample *prev, const struct proc_sample *now);

/* ---- Prometheus text exposition format (version 0.0.4) --------------------------------- */

#define PROMETHEUS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* A growing text buffer (xrealloc'd). */
struct prom_buf {
	char *data;
	size_t len, cap;
};

/* "# HELP name help" and "# TYPE name type" (type: "gauge" or "counter"). Each metric
 * family once, before its samples. */
void prom_family(struct prom_buf *b, const char *name, const char *type, const char *help);
/* One sample: name{k1="v1",...} value. labels is a NULL-terminated array of alternating
 * keys and values (NULL for none); values are escaped as the format requires. */
void prom_sample(struct prom_buf *b, const char *name, const char *const *labels, double value);

#endif
