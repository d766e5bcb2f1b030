#!/usr/bin/env bash
# The JobManager restarts: its TaskManagers notice (connection closed), cancel what they ran
# for it, and register with the new JobManager on the same RPC port by themselves; the new
# cluster then runs a job correctly.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster_lib.sh"

require_file "$JOBS/cluster_probe.so"
cluster_start 2 2

submit_detached endless -p 4 "$JOBS/cluster_probe.so" --n -1 --rate 1000
wait_until 30 "job running" job_status_is "$JOB_ID" RUNNING
wait_until 30 "all slots taken" overview_is slots-available 0

# Stop the JobManager (a clean shutdown), then start a new one on the same RPC port.
kill -TERM "$JM_PID"
RC=0
wait "$JM_PID" || RC=$?
[ "$RC" -eq 0 ] || fail "the JobManager exited with $RC on SIGTERM"
for i in 0 1; do
	wait_until 30 "tm-$i notices the lost JobManager" grep -q "Connection to the JobManager at .* lost" "$CL_DIR/taskmanager-$i.log"
done
old_port=$RPC_PORT
mv "$CL_DIR/jobmanager.log" "$CL_DIR/jobmanager-1.log.old"
jobmanager_start -D jobmanager.rpc.port="$old_port"
[ "$RPC_PORT" = "$old_port" ] || fail "the new JobManager is on port $RPC_PORT, not $old_port"
wait_until 30 "both TaskManagers registered again" overview_is slots-total 4
wait_until 30 "their slots free (the old job's subtasks are gone)" overview_is slots-available 4
for i in 0 1; do
	kill -0 "${TM_PIDS[$i]}" || fail "tm-$i died"
	[ "$(grep -c "Successful registration at resource manager" "$CL_DIR/taskmanager-$i.log")" -eq 2 ] ||
		fail "tm-$i did not register exactly twice"
done

mkdir -p "$TMP/out"
run_spate after run -m "$REST" -p 4 "$JOBS/cluster_probe.so" --n 60000 --k 23 --out "$TMP/out"
expect_rc after 0
cat "$TMP/out"/part-* | sort >"$TMP/actual"
probe_oracle 60000 23 >"$TMP/expected"
expect_same "$TMP/expected" "$TMP/actual" "job on the restarted JobManager"
cluster_finish
