#!/usr/bin/env bash
# A keyed reduce with 6000 string keys, a third of them longer than the engine prefetches
# and the rest of varied length, whose function keeps value state of its own: past 4096
# keys the engine looks the state up a batch at a time (a prefetch ahead, the hash reused
# for the row), and every row must still come out as awk's re-implementation says, at
# p = 1, 2 and 3 (see the header of tests/jobs/reduce_probe.c).
. "$(dirname "$0")/lib.sh"

require_file "$JOBS/reduce_probe.so"

N=30000
K=6000
awk -v n="$N" -v k="$K" 'BEGIN {
	for (v = 1; v <= n; v++) {
		id = v % k; c[id]++; s[id] += v
		printf "(%d,%d,%.0f,%d)\n", id, v, s[id], c[id] - 1
	}
}' | sort >"$TMP/expected"

for p in 1 2 3; do
	run_spate "p$p" run -p "$p" "$JOBS/reduce_probe.so" --count "$N" --keys "$K"
	expect_rc "p$p" 0
	check_run_frame "p$p"
	sink_lines "p$p" | strip_subtask_prefix | sort >"$TMP/actual$p"
	expect_same "$TMP/expected" "$TMP/actual$p" "reduce_probe at p=$p"
done
