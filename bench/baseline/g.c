/*
 * g.c - COST baseline of workload G: generate N records and count them in one plain loop.
 *
 * Usage: baseline_g N K. Prints "RESULT out=<n> checksum=<sum of key + value>" and
 * "Runtime: <ms> ms" (the loop only, not process start-up). The checksum keeps the compiler
 * from deleting the generator and lets the harness check that the Spate job saw the same
 * records.
 */
#include <inttypes.h>
#include <stdio.h>

#include "bench_clock.h"
#include "bench_gen.h"

int main(int argc, char **argv)
{
	int64_t n = argc > 2 ? bench_parse_count(argv[1]) : -1;
	int64_t k = argc > 2 ? bench_parse_count(argv[2]) : -1;
	uint64_t out = 0, checksum = 0, t0;

	if (n < 0 || k < 1) {
		fprintf(stderr, "usage: baseline_g N K\n");
		return 2;
	}
	t0 = bench_now_ns();
	for (uint64_t i = 0; i < (uint64_t)n; i++) {
		struct bench_record r;
		bench_record_make(i, (uint64_t)k, &r);
		out++;
		checksum += bench_g_hash(r.key, r.value);
	}
	double ms = (double)(bench_now_ns() - t0) / 1e6;
	printf("RESULT out=%" PRIu64 " checksum=%" PRIu64 "\n", out, checksum);
	printf("Runtime: %.3f ms\n", ms);
	return 0;
}
