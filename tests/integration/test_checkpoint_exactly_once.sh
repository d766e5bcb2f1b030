#!/usr/bin/env bash
# Exactly-once across TaskManager losses. A keyed job whose source emits per-key sequence
# numbers (ckpt_sequence: K keys x M seqs, two source subtasks, each key from one of them)
# checks in keyed state that each key's seq advances by exactly 1 and writes "key,seq"
# through the two-phase-commit file sink. After each of 3 completed checkpoints a
# TaskManager that runs tasks of the job is killed with kill -9; the job restarts from the
# latest completed checkpoint on the spare slots each time and must end FINISHED with every
# key's seqs 0..M-1 committed exactly once (awk oracle) and no sequence check failing on
# the way. The recovery time (kill -9 to every subtask RUNNING again, polled every ~20 ms)
# is printed as a NOTE and written to $SPATE_BUILD/tests/recovery_times.txt.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster_lib.sh"
. "$(dirname "$0")/ckpt_lib.sh"

require_file "$JOBS/ckpt_sequence.so"

K=100
M=$((480 * CKPT_SLOW))
RATE=4000 # rows/s in total: about 12 s of input (36 s under sanitizers)
OUT="$TMP/out"
CKPT="$TMP/ckpt"
mkdir -p "$OUT" "$CKPT"

# 4 TaskManagers x 2 slots; the job needs 2 slots (source at 2, seq-check + sink at 2,
# slot sharing), so the spare slots survive three losses.
cluster_start 4 2
submit_detached seq -p 2 \
	-D execution.checkpointing.interval=300ms -D execution.checkpointing.dir="$CKPT" \
	-D execution.checkpointing.mode=EXACTLY_ONCE "${FAST_RESTART[@]}" \
	"$JOBS/ckpt_sequence.so" --keys "$K" --per-key "$M" --rate "$RATE" --src-p 2 --stall-ms 150 --out "$OUT"
JOB="$JOB_ID"
wait_until 30 "job $JOB running" job_all_running "$JOB"

RESULTS="$SPATE_BUILD/tests/recovery_times.txt"
mkdir -p "$SPATE_BUILD/tests"
: >"$RESULTS.tmp"
killed=()
done_ckpts=0
for round in 1 2 3; do
	# a checkpoint completed since the job (re)started, so the failure comes after real state
	wait_ckpt_gt 60 "$JOB" "$done_ckpts"
	done_ckpts=$(ckpt_completed "$JOB")
	old_attempt=$(job_max_attempt "$JOB")
	[ "$(job_state "$JOB")" = RUNNING ] || fail "round $round: job is $(job_state "$JOB") before the kill (input too short?)"
	kill_job_tm "$JOB"
	killed+=("$(tm_index "$KILLED_TM")")
	wait_recovered 60 "$JOB" "$old_attempt"
	note "NOTE: recovery $round: kill -9 of $KILLED_TM after $done_ckpts completed checkpoints -> all subtasks RUNNING again in $RECOVERY_MS ms"
	if [ "$RECOVERY_MS" -gt 2000 ] && [ "$CKPT_SLOW" -eq 1 ]; then
		note "NOTE: recovery $round took $RECOVERY_MS ms, over the 2 s target of issue 5"
	fi
	echo "test_checkpoint_exactly_once kill=$round tm=$KILLED_TM checkpoints=$done_ckpts recovery_ms=$RECOVERY_MS" >>"$RESULTS.tmp"
	# the killed TaskManager's slots leave the cluster
	wait_until 30 "$KILLED_TM's slots gone" overview_is slots-total $((2 * (4 - round)))
done
mv "$RESULTS.tmp" "$RESULTS"

wait_job_state 120 "$JOB" FINISHED
restored=$(ckpt_json "$JOB" | jq -r '.counts.restored // 0')
[ "$restored" -ge 3 ] || note "counts.restored is $restored after 3 restarts (expected >= 3)"

# no sequence check failed on the way (a failure would have been hidden by a restart)
if logs_have 'seq-check: key'; then
	logs_show 'seq-check: key'
	fail "a seq-check subtask saw a sequence out of order (state and input out of step after a restore)"
fi

# committed files are part-<token>-<subtask>-<n>; anything else visible is a leak of the
# two-phase commit (in-progress and pending files are dot files)
bad=$(find "$OUT" -mindepth 1 -maxdepth 1 ! -name '.*' -printf '%f\n' | grep -Ev '^part-.+-[0-9]+-[0-9]+$' || true)
[ -z "$bad" ] || fail "unexpected visible files in the sink directory: $(head -n 5 <<<"$bad" | tr '\n' ' ')"

# the committed output: every (key, seq) exactly once
oracle_seq "$K" "$M" >"$TMP/expected"
committed_lines "$OUT" | sort >"$TMP/actual"
note "committed output: $(wc -l <"$TMP/actual") lines, $(multiset_report "$TMP/expected" "$TMP/actual")"
expect_same "$TMP/expected" "$TMP/actual" "committed output after 3 TaskManager losses"

expect_daemons_alive "${killed[@]}"
cluster_finish
