#!/usr/bin/env bash
# Two jobs at once in one session cluster, each with its own JobMaster: an endless one and
# a bounded one. Cancelling the first leaves the second running to a correct finish. A job
# that needs more slots than exist fails after slot.request.timeout with Flink's
# NoResourceAvailable reason and the slot counts; the cluster stays healthy and the next
# job runs.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster_lib.sh"

require_file "$JOBS/cluster_probe.so"
cluster_start 2 2 -D slot.request.timeout=2000

# Job A: endless, 2 slots.
submit_detached a -p 2 "$JOBS/cluster_probe.so" --n -1 --rate 1000
A=$JOB_ID
wait_until 30 "job A running" job_status_is "$A" RUNNING
wait_until 30 "job A holds 2 slots" overview_is slots-available 2

# Job B: bounded, rate-limited so that it is still running when A is cancelled.
mkdir -p "$TMP/b"
timeout -k 5 "$CMD_TIMEOUT" "$SPATE" run -m "$REST" -p 2 "$JOBS/cluster_probe.so" \
	--n 30000 --k 31 --rate 15000 --out "$TMP/b" >"$TMP/b.out" 2>"$TMP/b.err" &
B_PID=$!
BG_PIDS+=("$B_PID")
wait_until 30 "job B submitted" grep -q "^Job has been submitted with JobID" "$TMP/b.out"
B=$(sed -n 's/^Job has been submitted with JobID //p' "$TMP/b.out")
wait_until 30 "job B running" job_status_is "$B" RUNNING
[ "$(overview jobs-running)" = 2 ] || fail "expected 2 running jobs, /overview: $(rest_get /overview)"
wait_until 30 "all slots taken by A and B" overview_is slots-available 0

# Each job has its own JobMaster: each went CREATED -> RUNNING in its own log line.
for id in "$A" "$B"; do
	grep -q "Job cluster-probe ($id) switched from state CREATED to RUNNING\.$" "$CL_DIR/jobmanager.log" ||
		fail "no JobMaster state line for $id"
done

run_spate cancel cancel -m "$REST" "$A"
expect_rc cancel 0
job_status_is "$A" CANCELED || fail "A is not CANCELED"
job_status_is "$B" RUNNING || fail "B stopped when A was cancelled: $(rest_get "/jobs/$B/status")"

RC=0
wait "$B_PID" || RC=$?
expect_rc b 0
tail -n 2 "$TMP/b.out" | head -n 1 | grep -qx "Job with JobID $B has finished." || { show "$TMP/b.out"; fail "B did not finish"; }
cat "$TMP/b"/part-* | sort >"$TMP/b.actual"
probe_oracle 30000 31 >"$TMP/b.expected"
expect_same "$TMP/b.expected" "$TMP/b.actual" "job B's per-key sums"
wait_until 30 "all 4 slots free" overview_is slots-available 4

# More slots than exist: 5 > 4.
t0=$SECONDS
run_spate big run -m "$REST" -p 5 "$JOBS/cluster_probe.so" --n 1000
expect_job_failure big cluster-probe "NoResourceAvailableException.*needs 5 slots, the cluster has 4 slots on 2 TaskManagers, 4 of them free"
[ $((SECONDS - t0)) -lt 30 ] || fail "the slot request took $((SECONDS - t0)) s to fail (timeout 2 s)"
grep -q "slot.request.timeout (2000 ms)" "$TMP/big.err" || fail "the failure does not name slot.request.timeout"

# The cluster is healthy: every slot free and the next job runs correctly.
overview_is slots-available 4 || fail "slots not free after the failed job: $(rest_get /overview)"
mkdir -p "$TMP/next"
run_spate next run -m "$REST" -p 4 "$JOBS/cluster_probe.so" --n 50000 --k 13 --out "$TMP/next"
expect_rc next 0
cat "$TMP/next"/part-* | sort >"$TMP/next.actual"
probe_oracle 50000 13 >"$TMP/next.expected"
expect_same "$TMP/next.expected" "$TMP/next.actual" "the job after the failed one"

cluster_finish
