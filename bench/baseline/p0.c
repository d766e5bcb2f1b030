/*
 * p0.c - COST baseline of workload P0: G's records, value = value * 3 + 1, keep the even
 * values, sum them.
 *
 * Usage: baseline_p0 N K. Prints "RESULT out=<records kept> sum=<sum of their values>" and
 * "Runtime: <ms> ms".
 */
#include <inttypes.h>
#include <stdio.h>

#include "bench_clock.h"
#include "bench_gen.h"

int main(int argc, char **argv)
{
	int64_t n = argc > 2 ? bench_parse_count(argv[1]) : -1;
	int64_t k = argc > 2 ? bench_parse_count(argv[2]) : -1;
	uint64_t out = 0, t0;
	int64_t sum = 0;

	if (n < 0 || k < 1) {
		fprintf(stderr, "usage: baseline_p0 N K\n");
		return 2;
	}
	t0 = bench_now_ns();
	for (uint64_t i = 0; i < (uint64_t)n; i++) {
		struct bench_record r;
		bench_record_make(i, (uint64_t)k, &r);
		r.value = bench_p0_map(r.value);
		if (!bench_p0_keep(r.value))
			continue;
		out++;
		sum += r.value;
	}
	double ms = (double)(bench_now_ns() - t0) / 1e6;
	printf("RESULT out=%" PRIu64 " sum=%" PRId64 "\n", out, sum);
	printf("Runtime: %.3f ms\n", ms);
	return 0;
}
