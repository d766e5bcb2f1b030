#!/usr/bin/env bash
# A mapper that fails once, after a checkpoint with real state has completed
# (ckpt_fail_once: generator -> fail-once map -> keyBy -> rolling count/sum -> file sink).
# The test creates the marker file only once REST shows a completed checkpoint; one subtask
# of the map then fails, the job restarts from that checkpoint and finishes. Exactly-once:
# the committed rolling updates "key,count,sum" equal, as a sorted multiset, those of the
# failure-free run (computed by awk). Every other source subtask stalls now and then
# (--stall-ms), so at p=4 the barriers reach a rolling subtask at different times on its
# four channels and alignment matters (in AT_LEAST_ONCE mode this test fails). Matrix: state.backend.type hashmap and rocksdb x
# parallelism 1 and 4 x local channels (one TaskManager) and remote ones (two TaskManagers,
# the keyed operator in its own slot sharing group so that it needs the other
# TaskManager's slots; REST must show the job's subtasks on both).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster_lib.sh"
. "$(dirname "$0")/ckpt_lib.sh"

require_file "$JOBS/ckpt_fail_once.so"

K=40
M=$((150 * CKPT_SLOW))
RATE=3000 # 6000 rows: about 2 s of input (6 s under sanitizers)
oracle_rolling "$K" "$M" >"$TMP/expected"

# run_case CHANNELS P BACKEND: one job with one failure; checks and reports.
run_case() {
	local channels=$1 p=$2 backend=$3
	local name="$channels-p$p-$backend"
	local out="$TMP/out-$name" ckpt="$TMP/ckpt-$name"
	local marker="$TMP/marker-$name" failed="$TMP/failed-$name"
	mkdir -p "$out" "$ckpt"
	local extra=()
	[ "$channels" = remote ] && extra=(--keyed-group keyed)
	wait_until 30 "$name: every slot free" overview_is slots-available "$(overview slots-total)"
	submit_detached "$name" -p "$p" \
		-D execution.checkpointing.interval=200ms -D execution.checkpointing.dir="$ckpt" \
		-D state.backend.type="$backend" "${FAST_RESTART[@]}" \
		"$JOBS/ckpt_fail_once.so" --keys "$K" --per-key "$M" --rate "$RATE" --src-p "$p" \
		--out "$out" --marker "$marker" --failed "$failed" --stall-ms 150 --stall-every 200 \
		"${extra[@]+"${extra[@]}"}"
	local job=$JOB_ID
	wait_until 30 "$name: job running" job_all_running "$job"
	local tms
	tms=$(job_tms "$job" | wc -l)
	if [ "$channels" = remote ]; then
		[ "$tms" -eq 2 ] || { job_subtasks "$job" >&2; fail "$name: the job's subtasks run on $tms TaskManager(s), expected 2"; }
	else
		[ "$tms" -eq 1 ] || { job_subtasks "$job" >&2; fail "$name: the job's subtasks run on $tms TaskManagers, expected 1"; }
	fi
	local want_backend=HashMapStateBackend
	[ "$backend" = rocksdb ] && want_backend=EmbeddedRocksDBStateBackend
	local got_backend
	got_backend=$(rest_get "/jobs/$job/checkpoints/config" | jq -r .state_backend)
	[ "$got_backend" = "$want_backend" ] || fail "$name: checkpoints/config state_backend is '$got_backend', expected $want_backend"
	# two checkpoints: the first may come before any source has stalled
	wait_ckpt_gt 30 "$job" 1
	local ckpts
	ckpts=$(ckpt_completed "$job")
	[ "$(job_state "$job")" = RUNNING ] || fail "$name: job is $(job_state "$job") before the failure (input too short?)"
	: >"$marker"
	wait_job_state 60 "$job" FINISHED
	[ -e "$failed" ] || fail "$name: the job finished without the fail-once map failing"
	logs_have "fail-once: failing on purpose" || { cluster_dump; fail "$name: no log line shows the fail-once failure"; }
	if logs_have 'rolling: key'; then
		logs_show 'rolling: key'
		fail "$name: the rolling operator saw a key's seq out of step with its restored count"
	fi
	local restored
	restored=$(ckpt_json "$job" | jq -r '.latest.restored.id // 0')
	[ "$restored" -ge 1 ] || note "$name: latest.restored is empty after the restart (REST /checkpoints)"
	committed_lines "$out" | sort >"$TMP/actual-$name"
	note "$name: failed after $ckpts completed checkpoint(s), restored from $restored; $(multiset_report "$TMP/expected" "$TMP/actual-$name")"
	expect_same "$TMP/expected" "$TMP/actual-$name" "$name: committed rolling updates"
	# the marker stays: later cases use their own
}

for p in 1 4; do
	# local: one TaskManager with p slots runs everything
	CL_DIR="$TMP/cluster-local-p$p"
	cluster_start 1 "$p"
	for backend in hashmap rocksdb; do
		run_case local "$p" "$backend"
	done
	expect_daemons_alive
	cluster_finish

	# remote: two TaskManagers with p slots each; the job needs 2p slots
	CL_DIR="$TMP/cluster-remote-p$p"
	cluster_start 2 "$p"
	for backend in hashmap rocksdb; do
		run_case remote "$p" "$backend"
	done
	expect_daemons_alive
	cluster_finish
done
