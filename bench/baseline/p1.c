/*
 * p1.c - COST baseline of workload P1: P0, then a rolling sum of value per key kept in an
 * open-addressing hash map; the sink counts the emitted (key, running sum) rows and adds the
 * running sums into a checksum.
 *
 * Usage: baseline_p1 N K. Prints "RESULT out=<rows> checksum=<sum of running sums>
 * finalsum=<sum of the final per-key sums> keys=<distinct keys>" and "Runtime: <ms> ms".
 * For N = 100 M, K = 10 k issue 6 gives out = 50,006,252, finalsum = 76,854,441,890 and
 * checksum = 192,238,795,397,488.
 */
#include <inttypes.h>
#include <stdio.h>

#include "bench_clock.h"
#include "bench_gen.h"
#include "bench_map.h"

int main(int argc, char **argv)
{
	int64_t n = argc > 2 ? bench_parse_count(argv[1]) : -1;
	int64_t k = argc > 2 ? bench_parse_count(argv[2]) : -1;
	uint64_t out = 0, checksum = 0, t0;
	int64_t finalsum = 0;
	struct u64map sums;

	if (n < 0 || k < 1) {
		fprintf(stderr, "usage: baseline_p1 N K\n");
		return 2;
	}
	t0 = bench_now_ns();
	/* Sized for K up front, as a C programmer who knows K would; timed all the same. */
	u64map_init(&sums, (size_t)k);
	for (uint64_t i = 0; i < (uint64_t)n; i++) {
		struct bench_record r;
		bench_record_make(i, (uint64_t)k, &r);
		r.value = bench_p0_map(r.value);
		if (!bench_p0_keep(r.value))
			continue;
		int64_t *sum = u64map_upsert(&sums, r.key);
		*sum += r.value;
		out++;
		checksum += (uint64_t)*sum;
	}
	double ms = (double)(bench_now_ns() - t0) / 1e6;
	for (size_t i = 0; i < sums.cap; i++)
		if (sums.slots[i].key != BENCH_MAP_EMPTY)
			finalsum += sums.slots[i].value;
	printf("RESULT out=%" PRIu64 " checksum=%" PRIu64 " finalsum=%" PRId64 " keys=%zu\n", out,
	       checksum, finalsum, sums.count);
	printf("Runtime: %.3f ms\n", ms);
	u64map_release(&sums);
	return 0;
}
