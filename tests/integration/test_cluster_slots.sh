#!/usr/bin/env bash
# The seed's cluster: one JobManager and 3 TaskManagers x 3 slots = 9 slots, all separate
# processes on 127.0.0.1. Jobs occupy the slots Flink's slot sharing says (WordCount-shaped
# jobs at p=1 take 1 slot, at p=2 two, at p=9 with a sink at p=1 nine; two slot sharing
# groups take the sum of their maxima), every slot is free again after each job, and the
# outputs equal the oracle's.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster_lib.sh"

require_file "$EXAMPLES/wordcount.so" "$JOBS/cluster_probe.so"
cluster_start 3 3
[ "$(overview taskmanagers)" = 3 ] || fail "expected 3 TaskManagers, /overview says $(overview taskmanagers)"

# WordCount, attached, at p=1, 2 and 9: written output equals the oracle's counts.
generate_text "$TMP/in.txt" 20000 5
oracle_word_counts "$TMP/in.txt" >"$TMP/expected.counts"
for p in 1 2 9; do
	out="$TMP/wc$p"
	run_spate "wc$p" run -m "$REST" -p "$p" "$EXAMPLES/wordcount.so" --input "$TMP/in.txt" --output "$out"
	expect_rc "wc$p" 0
	grep -q "^Job has been submitted with JobID [0-9a-f]\{32\}$" "$TMP/wc$p.out" || fail "wc$p: no submission line"
	tail -n 3 "$TMP/wc$p.out" | head -n 1 | grep -qx "Program execution finished" || fail "wc$p: no result frame"
	ls "$out" | grep -c '^part-' | grep -qx "$p" || fail "wc$p: expected $p part files, got: $(ls "$out")"
	cat "$out"/part-* | final_counts_from_updates >"$TMP/wc$p.counts"
	expect_same "$TMP/expected.counts" "$TMP/wc$p.counts" "WordCount p=$p on the cluster"
	wait_until 20 "all 9 slots free after WordCount p=$p" overview_is slots-available 9
done

# occupancy SLOTS P JOB_ARGS...: an endless probe job at -p P holds SLOTS slots while it
# runs; `spate list` shows it running; cancelling it frees them all.
occupancy() {
	local want=$1 p=$2
	shift 2
	submit_detached "occ$want" -p "$p" "$JOBS/cluster_probe.so" --n -1 --rate 2000 "$@"
	wait_until 20 "job $JOB_ID RUNNING" job_status_is "$JOB_ID" RUNNING
	wait_until 20 "$want slots taken" overview_is slots-available $((9 - want))
	run_spate "list$want" list -m "$REST"
	expect_rc "list$want" 0
	grep -Eq "^[0-9]{2}\.[0-9]{2}\.[0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} : $JOB_ID : cluster-probe \(RUNNING\)$" \
		"$TMP/list$want.out" || { show "$TMP/list$want.out"; fail "list does not show $JOB_ID running"; }
	grep -qx -- "------------------ Running/Restarting Jobs -------------------" "$TMP/list$want.out" ||
		fail "list: no running block"
	run_spate "cancel$want" cancel -m "$REST" "$JOB_ID"
	expect_rc "cancel$want" 0
	printf 'Cancelling job %s.\nCancelled job %s.\n' "$JOB_ID" "$JOB_ID" >"$TMP/cancel.expected"
	expect_same "$TMP/cancel.expected" "$TMP/cancel$want.out" "cancel output"
	job_status_is "$JOB_ID" CANCELED || fail "job $JOB_ID is $(rest_get "/jobs/$JOB_ID/status")"
	wait_until 20 "all 9 slots free after cancelling $JOB_ID" overview_is slots-available 9
}
occupancy 1 1
occupancy 2 2
occupancy 9 9 --sink-parallelism 1
# Two slot sharing groups: source p=3 in "default", sum and sink p=2 in "other": 3 + 2.
occupancy 5 3 --sum-parallelism 2 --sink-group other

# Terminated jobs are listed with -a.
run_spate listall list -a -m "$REST"
expect_rc listall 0
grep -qx -- "---------------------- Terminated Jobs -----------------------" "$TMP/listall.out" ||
	fail "list -a: no terminated block"
[ "$(grep -c ': cluster-probe (CANCELED)$' "$TMP/listall.out")" -eq 4 ] || { show "$TMP/listall.out"; fail "list -a: expected 4 canceled probes"; }

# The two-group job, bounded, with its output checked against the oracle.
mkdir -p "$TMP/groups"
run_spate groups run -m "$REST" -p 3 "$JOBS/cluster_probe.so" --n 200000 --k 97 \
	--sum-parallelism 2 --sink-group other --out "$TMP/groups"
expect_rc groups 0
cat "$TMP/groups"/part-* | sort >"$TMP/groups.actual"
probe_oracle 200000 97 >"$TMP/groups.expected"
expect_same "$TMP/groups.expected" "$TMP/groups.actual" "two slot sharing groups: per-key sums"
wait_until 20 "all 9 slots free at the end" overview_is slots-available 9

cluster_finish
