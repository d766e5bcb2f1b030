#!/usr/bin/env bash
# AT_LEAST_ONCE: barriers are counted, not aligned, so a restore may replay rows whose
# effects were already in the snapshot; nothing may be lost. ckpt_sequence in lenient mode
# (a repeated seq is accepted, a gap fails the subtask) with two source subtasks, so every
# seq-check subtask has two input channels, and one of the two sources stalls now and then
# (--stall-ms), so the barriers arrive out of step. kill -9 of a
# TaskManager running the job after a completed checkpoint, twice. The job must end
# FINISHED and every (key, seq) must be in the committed output at least once; duplicates
# are allowed, counted and printed; a line that is no (key, seq) of the input fails.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster_lib.sh"
. "$(dirname "$0")/ckpt_lib.sh"

require_file "$JOBS/ckpt_sequence.so"

K=60
M=$((250 * CKPT_SLOW))
RATE=3000 # 15000 rows: about 5 s of input (15 s under sanitizers)
OUT="$TMP/out"
CKPT="$TMP/ckpt"
mkdir -p "$OUT" "$CKPT"

# 3 TaskManagers x 2 slots; the job needs 2 slots and survives two losses.
cluster_start 3 2
submit_detached alo -p 2 \
	-D execution.checkpointing.interval=200ms -D execution.checkpointing.dir="$CKPT" \
	-D execution.checkpointing.mode=AT_LEAST_ONCE "${FAST_RESTART[@]}" \
	"$JOBS/ckpt_sequence.so" --keys "$K" --per-key "$M" --rate "$RATE" --src-p 2 --stall-ms 150 --lenient \
	--out "$OUT"
JOB="$JOB_ID"
wait_until 30 "job $JOB running" job_all_running "$JOB"
mode=$(rest_get "/jobs/$JOB/checkpoints/config" | jq -r '.mode // empty')
[ "$mode" = at_least_once ] || fail "checkpoints/config mode is '$mode', expected at_least_once"

killed=()
done_ckpts=1 # the first kill after two checkpoints: the first may come before any stall
for round in 1 2; do
	wait_ckpt_gt 60 "$JOB" "$done_ckpts"
	done_ckpts=$(ckpt_completed "$JOB")
	old_attempt=$(job_max_attempt "$JOB")
	[ "$(job_state "$JOB")" = RUNNING ] || fail "round $round: job is $(job_state "$JOB") before the kill (input too short?)"
	kill_job_tm "$JOB"
	killed+=("$(tm_index "$KILLED_TM")")
	wait_recovered 60 "$JOB" "$old_attempt"
	note "kill -9 of $KILLED_TM after $done_ckpts completed checkpoints: recovered in $RECOVERY_MS ms"
done

wait_job_state 120 "$JOB" FINISHED
if logs_have 'seq-check: key .* gap'; then
	logs_show 'seq-check: key .* gap'
	fail "a seq-check subtask saw a gap in a key's sequence (an update was lost)"
fi

oracle_seq "$K" "$M" >"$TMP/expected"
committed_lines "$OUT" | sort >"$TMP/actual"
report=$(multiset_report "$TMP/expected" "$TMP/actual")
note "NOTE: AT_LEAST_ONCE after 2 TaskManager losses: $(wc -l <"$TMP/actual") committed lines for $(wc -l <"$TMP/expected") (key, seq) pairs: $report"
[[ "$report" == missing=0\ * ]] || {
	comm -23 "$TMP/expected" <(sort -u "$TMP/actual") | head -n 10 >&2
	fail "AT_LEAST_ONCE lost updates: $report"
}
[[ "$report" == *unexpected=0 ]] || fail "the output holds lines that are no (key, seq) of the input: $report"

expect_daemons_alive "${killed[@]}"
cluster_finish
