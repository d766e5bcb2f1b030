/*
 * bench_gen.h - the record generator of the G, P0 and P1 workloads (issue 6), shared by the
 * plain C baselines and the Spate jobs so that both compute exactly the same records.
 *
 * Record i (0 <= i < N) is {key, value, ts}: x = splitmix64 finalizer of
 * (i + 0x9E3779B97F4A7C15); key = ((x & 0xffffffff) * K) >> 32 (uniform in [0, K) without a
 * division), value = (x >> 32) & 1023, ts = i. P0 then maps value to value * 3 + 1 and keeps
 * the even values; P1 adds a rolling sum of value per key on top of P0.
 *
 * Everything here is static inline so that each program gets its own copy to inline.
 */
#ifndef BENCH_GEN_H
#define BENCH_GEN_H

#include <stdint.h>

#define BENCH_GOLDEN_GAMMA 0x9E3779B97F4A7C15ull

struct bench_record {
	uint64_t key;
	int64_t value;
	uint64_t ts;
};

/* The splitmix64 output function (Steele, Lea, Flood 2014), without the state increment. */
static inline uint64_t bench_splitmix64_mix(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Fills *r with record i for a key space of k keys (k >= 1). */
static inline void bench_record_make(uint64_t i, uint64_t k, struct bench_record *r)
{
	uint64_t x = bench_splitmix64_mix(i + BENCH_GOLDEN_GAMMA);

	r->key = ((x & 0xffffffffull) * k) >> 32;
	r->value = (int64_t)((x >> 32) & 1023);
	r->ts = i;
}

/* P0's map and filter, shared so that baseline and job cannot drift apart. */
static inline int64_t bench_p0_map(int64_t value)
{
	return value * 3 + 1;
}

static inline int bench_p0_keep(int64_t value)
{
	return value % 2 == 0;
}

/* G's per-record checksum: it keeps the generator from being optimised away in the baseline
 * and checks that both sides generated the same records. */
static inline uint64_t bench_g_hash(uint64_t key, int64_t value)
{
	return key + (uint64_t)value;
}

/* Parses a decimal count with an optional k/m/g suffix (powers of 1000); -1 on error. */
static inline int64_t bench_parse_count(const char *s)
{
	int64_t v = 0;
	const char *p = s;

	if (!*p)
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (INT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (*p - '0');
	}
	if (p == s)
		return -1;
	switch (*p) {
	case '\0':
		return v;
	case 'k':
	case 'K':
		v *= 1000;
		break;
	case 'm':
	case 'M':
		v *= 1000000;
		break;
	case 'g':
	case 'G':
		v *= 1000000000;
		break;
	default:
		return -1;
	}
	return p[1] ? -1 : v;
}

#endif /* BENCH_GEN_H */
