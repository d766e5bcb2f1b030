/*
 * metrics.c - clocks and helpers shared by the metric producers and readers.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"

#include "metrics/metrics.h"

int64_t metrics_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void wait_clock_begin(struct wait_clock *w, int64_t now_ns)
{
	atomic_store_explicit(&w->since_ns, now_ns, memory_order_relaxed);
}

void wait_clock_end(struct wait_clock *w, int64_t now_ns)
{
	int64_t since = atomic_load_explicit(&w->since_ns, memory_order_relaxed);
	/* Clear first: a reader in between misses this wait for a moment rather than
	 * counting it twice. */
	atomic_store_explicit(&w->since_ns, 0, memory_order_relaxed);
	counter_add(&w->total_ns, now_ns - since);
}

int64_t wait_clock_read(struct wait_clock *w, int64_t now_ns)
{
	int64_t since = atomic_load_explicit(&w->since_ns, memory_order_relaxed);
	int64_t total = counter_get(&w->total_ns);
	return total + (since && now_ns > since ? now_ns - since : 0);
}

/* ---- process and host ------------------------------------------------------------------ */

void proc_sample_read(struct proc_sample *s)
{
	memset(s, 0, sizeof *s);
	s->wall_ns = metrics_now_ns();
	struct timespec ts;
	if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) == 0)
		s->cpu_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	long page = sysconf(_SC_PAGESIZE);
	FILE *f = fopen("/proc/self/statm", "r");
	if (f) {
		long size, resident;
		if (fscanf(f, "%ld %ld", &size, &resident) == 2)
			s->rss_bytes = (int64_t)resident * page;
		fclose(f);
	}
	long pages = sysconf(_SC_PHYS_PAGES);
	if (pages > 0)
		s->phys_bytes = (int64_t)pages * page;
	f = fopen("/proc/meminfo", "r");
	if (f) {
		char line[128];
		long kb;
		while (fgets(line, sizeof line, f))
			if (sscanf(line, "MemAvailable: %ld kB", &kb) == 1) {
				s->avail_bytes = (int64_t)kb * 1024;
				break;
			}
		fclose(f);
	}
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	s->cpu_cores = n > 0 ? (int)n : 1;
}

double proc_cpu_load(const struct proc_sample *prev, const struct proc_sample *now)
{
	int64_t wall = now->wall_ns - prev->wall_ns;
	if (prev->wall_ns == 0 || wall <= 0)
		return 0;
	return (double)(now->cpu_ns - prev->cpu_ns) / (double)wall;
}

/* ---- Prometheus text ------------------------------------------------------------------- */

static void prom_put(struct prom_buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 4096;
		while (cap < b->len + n + 1)
			cap *= 2;
		b->data = xrealloc(b->data, cap);
		b->cap = cap;
	}
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

static void prom_puts(struct prom_buf *b, const char *s)
{
	prom_put(b, s, strlen(s));
}

void prom_family(struct prom_buf *b, const char *name, const char *type, const char *help)
{
	char line[512];
	int n = snprintf(line, sizeof line, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
	prom_put(b, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

void prom_sample(struct prom_buf *b, const char *name, const char *const *labels, double value)
{
	prom_puts(b, name);
	if (labels && labels[0]) {
		prom_puts(b, "{");
		for (int i = 0; labels[i] && labels[i + 1]; i += 2) {
			if (i)
				prom_puts(b, ",");
			prom_puts(b, labels[i]);
			prom_puts(b, "=\"");
			for (const char *c = labels[i + 1]; *c; c++) {
				if (*c == '\\')
					prom_puts(b, "\\\\");
				else if (*c == '"')
					prom_puts(b, "\\\"");
				else if (*c == '\n')
					prom_puts(b, "\\n");
				else
					prom_put(b, c, 1);
			}
			prom_puts(b, "\"");
		}
		prom_puts(b, "}");
	}
	char v[64];
	if (value == (double)(int64_t)value && value < 9e15 && value > -9e15)
		snprintf(v, sizeof v, " %lld\n", (long long)value);
	else
		snprintf(v, sizeof v, " %.17g\n", value);
	prom_puts(b, v);
}
