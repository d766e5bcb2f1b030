#!/usr/bin/env bash
# Corrupted and missing checkpoint files. ckpt_fail_once (generator -> fail-once map ->
# keyBy -> rolling count/sum -> file sink) with checkpoints every 1.5 s (at least 1 s after
# the previous one completed, so none completes between a corruption and the failure):
#   A. num-retained=2: after 2 completed checkpoints the latest chk-N/_metadata is
#      truncated, then the fail-once marker makes a task fail: the restart must fall back to
#      chk-(N-1) (REST latest.restored), the JobManager log must name the bad file, and the
#      job must finish with every rolling update committed and none wrong (rows between
#      N-1 and N were committed by checkpoint N and are replayed: duplicates are counted,
#      not failed).
#   B. num-retained=2, one of the latest checkpoint's state files deleted: same fallback.
#   C. num-retained=1, the only checkpoint's _metadata has its first byte flipped: the job
#      ends FAILED with an error naming the file (REST exceptions or the JobManager log);
#      no daemon crashes.
#   D. `spate run -s <copy of a checkpoint with a corrupted _metadata>`: a clean failure with
#      one message line naming the file.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster_lib.sh"
. "$(dirname "$0")/ckpt_lib.sh"

require_file "$JOBS/ckpt_fail_once.so"

K=20
M=$((300 * CKPT_SLOW))
RATE=1200 # 6000 rows: about 5 s of input (15 s under sanitizers)
oracle_rolling "$K" "$M" >"$TMP/expected"

cluster_start 2 2

# start_case NAME RETAINED: submits the job (p=2, sources at 2); sets JOB, CKPT, OUT,
# MARKER.
start_case() {
	local name=$1 retained=$2
	CKPT="$TMP/ckpt-$name"
	OUT="$TMP/out-$name"
	MARKER="$TMP/marker-$name"
	mkdir -p "$CKPT" "$OUT"
	wait_until 30 "$name: every slot free" overview_is slots-available "$(overview slots-total)"
	submit_detached "$name" -p 2 \
		-D execution.checkpointing.interval=1500ms -D execution.checkpointing.min-pause=1s \
		-D execution.checkpointing.dir="$CKPT" \
		-D execution.checkpointing.num-retained="$retained" "${FAST_RESTART[@]}" \
		"$JOBS/ckpt_fail_once.so" --keys "$K" --per-key "$M" --rate "$RATE" --src-p 2 \
		--out "$OUT" --marker "$MARKER" --failed "$TMP/failed-$name"
	JOB=$JOB_ID
	wait_until 30 "$name: job running" job_all_running "$JOB"
}

# latest_after NAME N: waits for more than N completed checkpoints; sets LATEST_ID and
# LATEST_DIR (latest.completed) and PREV_ID (the completed one before it, from the history).
latest_after() {
	wait_ckpt_gt 30 "$JOB" "$2"
	local j
	j=$(ckpt_json "$JOB")
	LATEST_ID=$(jq -r '.latest.completed.id' <<<"$j")
	LATEST_DIR=$(jq -r '.latest.completed.external_path | sub("^file:"; "")' <<<"$j")
	PREV_ID=$(jq -r --argjson l "$LATEST_ID" '[.history[] | select(.status == "COMPLETED" and .id < $l) | .id] | max // empty' <<<"$j")
	# how far apart the two were triggered: what a fallback may replay into duplicates
	GAP_MS=$(jq -r --argjson l "$LATEST_ID" '[.history[] | select(.status == "COMPLETED" and .id <= $l) | .trigger_timestamp] | sort | if length >= 2 then .[-1] - .[-2] else 0 end' <<<"$j")
	[ -d "$LATEST_DIR" ] || fail "$1: latest completed checkpoint directory '$LATEST_DIR' does not exist"
	[ "$(basename "$LATEST_DIR")" = "chk-$LATEST_ID" ] || fail "$1: latest checkpoint directory is '$LATEST_DIR', expected .../chk-$LATEST_ID"
	[ -s "$LATEST_DIR/_metadata" ] || fail "$1: '$LATEST_DIR/_metadata' is missing or empty"
}

# finish_fallback NAME BADFILE: the job restored from PREV_ID, logged BADFILE, finished, and
# committed every rolling update (duplicates allowed, wrong lines not).
finish_fallback() {
	local name=$1 bad=$2
	wait_job_state 60 "$JOB" FINISHED
	local restored
	restored=$(ckpt_json "$JOB" | jq -r '.latest.restored.id // empty')
	[ "$restored" = "$PREV_ID" ] ||
		fail "$name: restored from checkpoint '${restored:-none}', expected the previous one ($PREV_ID; $LATEST_ID was corrupted)"
	grep -qF -- "$bad" "$CL_DIR/jobmanager.log" ||
		{ cluster_dump; fail "$name: the JobManager log does not name '$bad'"; }
	note "$name: JobManager log: $(grep -F -- "$bad" "$CL_DIR/jobmanager.log" | head -n 1)"
	if logs_have 'rolling: key'; then
		logs_show 'rolling: key'
		fail "$name: the rolling operator saw a key's seq out of step with its restored count"
	fi
	committed_lines "$OUT" | sort >"$TMP/actual-$name"
	local report
	report=$(multiset_report "$TMP/expected" "$TMP/actual-$name")
	note "$name: $report (duplicates: rows committed by the corrupted checkpoint, replayed)"
	[[ "$report" == missing=0\ * ]] || fail "$name: rolling updates lost after the fallback: $report"
	[[ "$report" == *unexpected=0 ]] || fail "$name: wrong rolling updates after the fallback: $report"
	# the replay starts at the previous checkpoint, not at the beginning: at most the rows
	# between the two checkpoints' barriers come twice (with room for pacing jitter)
	local dups limit
	dups=$(sed -E 's/.*duplicates=([0-9]+).*/\1/' <<<"$report")
	limit=$((GAP_MS * RATE * 13 / 10000 + 100))
	[ "$dups" -le "$limit" ] ||
		fail "$name: $dups duplicates, more than the $limit rows between checkpoints $PREV_ID and $LATEST_ID (${GAP_MS} ms apart at $RATE rows/s): the replay started earlier than checkpoint $PREV_ID"
}

# ---- A. truncated _metadata, num-retained=2 -----------------------------------------------
start_case trunc 2
latest_after trunc 1
[ -n "$PREV_ID" ] || fail "trunc: no earlier completed checkpoint in the history"
[ -f "$CKPT/$JOB/chk-$PREV_ID/_metadata" ] || fail "trunc: num-retained=2 but chk-$PREV_ID/_metadata is gone"
corrupt_truncate "$LATEST_DIR/_metadata"
: >"$MARKER"
finish_fallback trunc "$LATEST_DIR/_metadata"

# ---- B. a state file of the latest checkpoint deleted, num-retained=2 ----------------------
start_case nofile 2
latest_after nofile 1
# a file the metadata refers to (its relative name is a string in _metadata)
victim=
for f in $(find "$LATEST_DIR" -type f ! -name _metadata | sort); do
	if grep -aqF -- "$(basename "$f")" "$LATEST_DIR/_metadata"; then
		victim=$f
		break
	fi
done
if [ -z "$victim" ]; then
	note "nofile: SKIPPED: chk-$LATEST_ID holds no state file besides _metadata ($(ls "$LATEST_DIR" | tr '\n' ' '))"
	: >"$MARKER"
	wait_job_state 60 "$JOB" FINISHED
else
	rm -f "$victim"
	: >"$MARKER"
	finish_fallback nofile "$victim"
fi

# ---- C. num-retained=1, flipped first byte: the job fails cleanly ------------------------
start_case flip 1
latest_after flip 0
# keep an intact copy of this checkpoint for D (its files are relative to the directory)
cp -r "$LATEST_DIR" "$TMP/copy-chk"
[ -f "$TMP/copy-chk/_metadata" ] || fail "flip: could not copy the checkpoint"
corrupt_flip "$LATEST_DIR/_metadata"
: >"$MARKER"
wait_job_state 60 "$JOB" FAILED
cause=$(rest_get "/jobs/$JOB/exceptions" | jq -r '.exceptionHistory.entries[0].stacktrace // empty')
note "flip: failure cause: $(head -n 1 <<<"$cause")"
if ! grep -qF -- "$LATEST_DIR/_metadata" <<<"$cause"; then
	grep -qF -- "$LATEST_DIR/_metadata" "$CL_DIR/jobmanager.log" ||
		{ cluster_dump; fail "flip: neither the job's failure cause nor the JobManager log names '$LATEST_DIR/_metadata'"; }
	note "flip: the failure cause does not name the file, the JobManager log does"
fi
expect_daemons_alive

# ---- D. spate run -s with a corrupted _metadata ------------------------------------------
corrupt_flip "$TMP/copy-chk/_metadata"
mkdir -p "$TMP/out-d"
run_spate bad-s run -m "$REST" -s "$TMP/copy-chk" -p 2 \
	-D execution.checkpointing.interval=300ms -D execution.checkpointing.dir="$TMP/ckpt-d" \
	"$JOBS/ckpt_fail_once.so" --keys "$K" --per-key "$M" --src-p 2 --out "$TMP/out-d"
[ "$RC" -ne 0 ] || { show "$TMP/bad-s.out"; fail "run -s with a corrupted _metadata exited 0"; }
last=$(tail -n 1 "$TMP/bad-s.err")
nlines=$(non_log_lines "$TMP/bad-s.err" | wc -l)
[ "$nlines" -eq 1 ] || { show "$TMP/bad-s.err" 40; fail "run -s: expected one message line on stderr (besides log lines), got $nlines"; }
[[ "$last" == spate:* ]] || { show "$TMP/bad-s.err" 40; fail "run -s: the last stderr line is not a 'spate: ' message: $last"; }
grep -qF -- "$TMP/copy-chk/_metadata" <<<"$last" ||
	{ show "$TMP/bad-s.err" 40; fail "run -s: the message does not name '$TMP/copy-chk/_metadata': $last"; }
if grep -Eqi 'segmentation|sanitizer|abort|core dumped' "$TMP/bad-s.err"; then
	show "$TMP/bad-s.err" 40
	fail "run -s: stderr shows a crash"
fi
note "run -s with a corrupted _metadata: $last"
[ "$(committed_lines "$TMP/out-d" | wc -l)" -eq 0 ] || fail "run -s with a corrupted _metadata committed output"

expect_daemons_alive
cluster_finish
