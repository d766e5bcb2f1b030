#!/usr/bin/env bash
# A TaskManager dies mid-job. kill -9: the JobManager sees the connection close at once;
# SIGSTOP (the process hangs, the connection stays open): heartbeat.timeout catches it. Each
# time the job goes FAILED with a reason naming the lost TaskManager, the dead TaskManager's
# slots leave the cluster, the others are freed, and the cluster runs the next job.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster_lib.sh"

require_file "$JOBS/cluster_probe.so"
cluster_start 2 2 -D heartbeat.interval=300 -D heartbeat.timeout=1500

# lose_tm INDEX SIGNAL REASON_RE: an endless job on all 4 slots, then SIGNAL to a TM.
lose_tm() {
	local idx=$1 sig=$2 reason=$3
	submit_detached "endless$idx" -p 4 "$JOBS/cluster_probe.so" --n -1 --rate 4000
	wait_until 30 "job $JOB_ID running" job_status_is "$JOB_ID" RUNNING
	wait_until 30 "all slots taken" overview_is slots-available 0
	# every subtask is RUNNING before the TaskManager goes
	wait_until 30 "all subtasks running" bash -c "curl -sf http://$REST/jobs/$JOB_ID | jq -e '[.vertices[].tasks.RUNNING] | add == 8'"
	local t0
	t0=$(date +%s%N)
	kill -"$sig" "${TM_PIDS[$idx]}"
	wait_until 30 "job $JOB_ID FAILED" job_status_is "$JOB_ID" FAILED
	local ms=$((($(date +%s%N) - t0) / 1000000))
	note "tm-$idx ($sig): job FAILED after $ms ms"
	local cause
	cause=$(rest_get "/jobs/$JOB_ID/execution-result" | jq -r '.["job-execution-result"]["failure-cause"]["stack-trace"]')
	grep -Eq "^TaskManager tm-$idx @ 127\.0\.0\.1 \(dataPort=[0-9]+\) is lost: $reason" <<<"$cause" ||
		fail "unexpected failure cause: $cause"
	grep -q "TaskManager tm-$idx @ 127.0.0.1 (dataPort=[0-9]*) is lost" "$CL_DIR/jobmanager.log" ||
		fail "no loss line in the JobManager's log"
	grep -q "Job $JOB_ID reached terminal state FAILED\.$" "$CL_DIR/jobmanager.log" ||
		fail "no terminal state line for $JOB_ID"
	LAST_MS=$ms
}

# 1. kill -9 of tm-1: detected by connection loss, well before the heartbeat timeout.
lose_tm 1 KILL "connection to TaskManager tm-1 was lost"
[ "$LAST_MS" -lt 1500 ] || fail "kill -9 took $LAST_MS ms to notice (heartbeat timeout is 1500 ms)"
wait_until 30 "tm-1's slots gone" overview_is slots-total 2
wait_until 30 "tm-0's slots free" overview_is slots-available 2
mkdir -p "$TMP/after1"
run_spate after1 run -m "$REST" -p 2 "$JOBS/cluster_probe.so" --n 40000 --k 17 --out "$TMP/after1"
expect_rc after1 0
cat "$TMP/after1"/part-* | sort >"$TMP/after1.actual"
probe_oracle 40000 17 >"$TMP/after1.expected"
expect_same "$TMP/after1.expected" "$TMP/after1.actual" "job after losing tm-1"

# 2. A hung TaskManager (SIGSTOP): only the heartbeat can tell.
taskmanager_start 2 -D heartbeat.interval=300 -D heartbeat.timeout=1500
wait_until 30 "tm-2 registered" overview_is slots-total 4
wait_until 30 "4 free slots" overview_is slots-available 4
lose_tm 2 STOP "heartbeat of TaskManager tm-2 timed out"
kill -KILL "${TM_PIDS[2]}"
wait_until 30 "tm-2's slots gone" overview_is slots-total 2
wait_until 30 "tm-0's slots free" overview_is slots-available 2
mkdir -p "$TMP/after2"
run_spate after2 run -m "$REST" -p 2 "$JOBS/cluster_probe.so" --n 40000 --k 19 --out "$TMP/after2"
expect_rc after2 0
cat "$TMP/after2"/part-* | sort >"$TMP/after2.actual"
probe_oracle 40000 19 >"$TMP/after2.expected"
expect_same "$TMP/after2.expected" "$TMP/after2.actual" "job after losing tm-2"
kill -0 "$JM_PID" || fail "the JobManager died"

cluster_finish
