#!/usr/bin/env bash
# Built-in keyed aggregations (sum, max_by) over string keys, a third of them longer than
# the engine encodes in its batch, with rows from a few bytes to 9 KB: the engine folds a
# batch at a time and copies each result out (its buffer grows past 8 KiB for the large
# rows and is passed on when full). Every result must come out as awk computes it, at
# p = 1, 2 and 3: with 6000 keys (the table grows while a batch is in flight) and with 7
# (every batch repeats its keys, so a result shared with a later row of the batch would
# show that row's sum). The sum runs again with short keys only, so that every batch is
# looked up at once (aggregate_batch_direct), and with int64 keys over rows of one shape
# whose summed field is sometimes null (the sum at a slot found once per batch, and the
# batches and accumulators that must not take it). See the header of tests/jobs/agg_probe.c.
. "$(dirname "$0")/lib.sh"

require_file "$JOBS/agg_probe.so"

# probe_matches LABEL EXPECTED WHAT P ARGS...: runs agg_probe ARGS at parallelism P; its sink
# lines, sorted, must equal EXPECTED (the awk oracle's).
probe_matches() {
	local label=$1 expected=$2 what=$3 par=$4
	shift 4
	run_spate "$label" run -p "$par" "$JOBS/agg_probe.so" "$@"
	expect_rc "$label" 0
	check_run_frame "$label"
	sink_lines "$label" | strip_subtask_prefix | sort >"$TMP/actual_$label"
	expect_same "$expected" "$TMP/actual_$label" "agg_probe $what"
}

N=30000
for K in 6000 7; do
	awk -v n="$N" -v k="$K" 'function padlen(v) { return v % 499 == 0 ? 9000 : v % 50 }
	BEGIN {
		for (v = 1; v <= n; v++) {
			id = v % k; w = (v * 7919) % 1000
			if (!(id in f)) f[id] = v
			s[id] += v
			printf "(%d,%.0f,%d,%d)\n", id, s[id], (f[id] * 7919) % 1000, padlen(f[id])
		}
	}' | sort >"$TMP/expected_sum$K"
	awk -v n="$N" -v k="$K" 'function padlen(v) { return v % 499 == 0 ? 9000 : v % 50 }
	BEGIN {
		for (v = 1; v <= n; v++) {
			id = v % k; w = (v * 7919) % 1000
			if (!(id in bw) || w > bw[id]) { bw[id] = w; bv[id] = v }
			printf "(%d,%d,%d,%d)\n", id, bv[id], bw[id], padlen(bv[id])
		}
	}' | sort >"$TMP/expected_max_by$K"
	awk -v n="$N" -v k="$K" 'BEGIN {
		for (v = 1; v <= n; v++) {
			id = v % k
			if (!(id in f)) f[id] = v
			if (v % 101) s[id] += v
			printf "(%d,%.0f,%d,0)\n", id, s[id], (f[id] * 7919) % 1000
		}
	}' | sort >"$TMP/expected_isum$K"
	[ "$(wc -l <"$TMP/expected_sum$K")" -eq "$N" ] || fail "the sum oracle printed the wrong number of lines"

	for p in 1 2 3; do
		probe_matches "sum$K-$p" "$TMP/expected_sum$K" "sum with K=$K at p=$p" "$p" --count "$N" --keys "$K"
		# every key short: whole batches through one batch lookup (aggregate_batch_direct)
		probe_matches "ssum$K-$p" "$TMP/expected_sum$K" "sum, short keys, with K=$K at p=$p" \
			"$p" --count "$N" --keys "$K" --short-keys
		probe_matches "maxby$K-$p" "$TMP/expected_max_by$K" "max_by with K=$K at p=$p" \
			"$p" --count "$N" --keys "$K" --max-by
		# int64 keys, rows of one shape but for null sums: the sum at one slot per batch
		probe_matches "isum$K-$p" "$TMP/expected_isum$K" "sum, int64 keys and nulls, with K=$K at p=$p" \
			"$p" --count "$N" --keys "$K" --int-keys
	done
done
