/*
 * bench_hist.h - a log-linear latency histogram (the idea of HdrHistogram, much reduced):
 * values below 64 get a bucket each, and every power of two above is split into 32 equal
 * buckets, so a reported quantile is at most 1/32 (about 3 %) above the true value. 1920
 * buckets cover all of u64; recording is a count-leading-zeros and an increment.
 */
#ifndef BENCH_HIST_H
#define BENCH_HIST_H

#include <stdint.h>
#include <string.h>

#define BENCH_HIST_SUB_BITS 5
#define BENCH_HIST_BUCKETS (64 + 58 * 32)

struct bench_hist {
	uint64_t counts[BENCH_HIST_BUCKETS];
	uint64_t total;
	uint64_t max;
};

static inline void bench_hist_init(struct bench_hist *h)
{
	memset(h, 0, sizeof(*h));
}

static inline int bench_hist_index(uint64_t v)
{
	if (v < 64)
		return (int)v;
	int e = 63 - __builtin_clzll(v);                /* 6..63 */
	uint64_t mant = v >> (e - BENCH_HIST_SUB_BITS); /* 32..63 */
	return 64 + (e - 6) * 32 + (int)(mant - 32);
}

/* The largest value that falls in bucket i. */
static inline uint64_t bench_hist_upper(int i)
{
	if (i < 64)
		return (uint64_t)i;
	int e = (i - 64) / 32 + 6;
	uint64_t mant = (uint64_t)((i - 64) % 32) + 32;
	return ((mant + 1) << (e - BENCH_HIST_SUB_BITS)) - 1;
}

static inline void bench_hist_record(struct bench_hist *h, uint64_t v)
{
	h->counts[bench_hist_index(v)]++;
	h->total++;
	if (v > h->max)
		h->max = v;
}

/* The value at quantile q (0 < q <= 1), as the upper bound of its bucket; 0 if empty. */
static inline uint64_t bench_hist_quantile(const struct bench_hist *h, double q)
{
	uint64_t want = (uint64_t)(q * (double)h->total + 0.5), seen = 0;

	if (!h->total)
		return 0;
	if (want < 1)
		want = 1;
	for (int i = 0; i < BENCH_HIST_BUCKETS; i++) {
		seen += h->counts[i];
		if (seen >= want)
			return bench_hist_upper(i) < h->max ? bench_hist_upper(i) : h->max;
	}
	return h->max;
}

#endif /* BENCH_HIST_H */
