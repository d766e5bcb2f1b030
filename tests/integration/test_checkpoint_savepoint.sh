#!/usr/bin/env bash
# Savepoints. ckpt_fail_once (no failure; source at parallelism 1 so each key's rows keep
# their order whatever the keyed parallelism) with periodic checkpoints too rare to happen
# (1 h): the only checkpoints are the savepoints and the final one, so the committed output
# of a run up to its savepoint and that of a run restored from it add up, line for line,
# to the uninterrupted run's rolling updates (awk oracle).
#   1. savepoint at p=2 (`spate savepoint <id> <dir>`: Flink's four lines, <path>/_metadata,
#      Flink's directory name), cancel; restore with -p 3 and, from the same savepoint,
#      with -p 1 (keyed state redistributed by key-group ranges): each restored run plus
#      the first run's committed output equals the oracle.
#   2. `spate stop --savepointPath <dir> <id>`: Flink's lines, the job ends FINISHED, and a
#      run restored from that savepoint completes the output.
#   3. a program without the stateful operator "rolling": restoring fails with Flink's
#      "Cannot map checkpoint/savepoint state for operator ..." unless -n is given; with -n
#      the remaining rows (those after the savepoint) come through.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster_lib.sh"
. "$(dirname "$0")/ckpt_lib.sh"

require_file "$JOBS/ckpt_fail_once.so"

K=20
M=$((600 * CKPT_SLOW))
N=$((K * M))
RATE=2000 # the runs that get a savepoint: about 6 s of input (18 s under sanitizers)
CKPT="$TMP/ckpt"
SP_DIR="$TMP/savepoints"
mkdir -p "$CKPT" "$SP_DIR"
oracle_rolling "$K" "$M" >"$TMP/expected"

RARE=(-D execution.checkpointing.interval=1h -D execution.checkpointing.dir="$CKPT")
OFTEN=(-D execution.checkpointing.interval=300ms -D execution.checkpointing.dir="$CKPT")

cluster_start 2 4 -D metrics.fetcher.update-interval=200ms

# progressed JOB ROWS: the keyed vertex has read at least ROWS rows (metrics).
progressed() {
	rest_get "/jobs/$1" | jq -e --argjson n "$2" '[.vertices[].metrics["read-records"]] | add >= $n' >/dev/null
}

# start_slow NAME OUT: the job at p=2, rate-limited; waits until it has read 1000 rows.
start_slow() {
	mkdir -p "$2"
	submit_detached "$1" -p 2 "${RARE[@]}" "$JOBS/ckpt_fail_once.so" --keys "$K" --per-key "$M" \
		--rate "$RATE" --src-p 1 --out "$2"
	wait_until 30 "$1: job running" job_all_running "$JOB_ID"
	wait_until 30 "$1: 1000 rows read" progressed "$JOB_ID" 1000
	[ "$(job_state "$JOB_ID")" = RUNNING ] || fail "$1: job is $(job_state "$JOB_ID") before its savepoint (input too short?)"
}

SP_PATH=
# check_savepoint_output NAME JOB TRIGGER_LINE: stdout of `spate savepoint|stop` is Flink's;
# sets SP_PATH and checks the directory.
check_savepoint_output() {
	local name=$1 job=$2 first=$3
	local out="$TMP/$name.out"
	[ "$(sed -n 1p "$out")" = "$first" ] || { show "$out"; fail "$name: first line is not '$first'"; }
	[ "$(sed -n 2p "$out")" = "Waiting for response..." ] || { show "$out"; fail "$name: second line is not 'Waiting for response...'"; }
	local line
	line=$(sed -n 3p "$out")
	[[ "$line" =~ ^Savepoint\ completed\.\ Path:\ (file:)?(/.*)$ ]] || { show "$out"; fail "$name: third line is not 'Savepoint completed. Path: <path>': $line"; }
	SP_PATH=${BASH_REMATCH[2]}
	[[ "$(basename "$SP_PATH")" =~ ^savepoint-${job:0:6}-[0-9a-f]{12}$ ]] ||
		fail "$name: savepoint directory '$(basename "$SP_PATH")' is not savepoint-${job:0:6}-<12 hex>"
	[ -s "$SP_PATH/_metadata" ] || fail "$name: no '$SP_PATH/_metadata'"
}

# restore_run NAME SAVEPOINT P OUT [CLI_OPTION...] [-- JOB_ARG...]: an attached run
# restored from SAVEPOINT.
restore_run() {
	local name=$1 sp=$2 p=$3 out=$4
	shift 4
	local cli=() job=()
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		cli+=("$1")
		shift
	done
	[ $# -gt 0 ] && shift
	job=("$@")
	mkdir -p "$out"
	run_spate "$name" run -m "$REST" -s "$sp" -p "$p" "${OFTEN[@]}" "${cli[@]+"${cli[@]}"}" \
		"$JOBS/ckpt_fail_once.so" --keys "$K" --per-key "$M" --src-p 1 --out "$out" \
		"${job[@]+"${job[@]}"}"
}

# expect_restored NAME JOB SAVEPOINT: REST says the job was restored from the savepoint.
expect_restored() {
	local r
	r=$(ckpt_json "$2" | jq -c '.latest.restored')
	jq -e --arg sp "$3" '.is_savepoint == true and (.external_path | sub("^file:"; "") | rtrimstr("/")) == ($sp | rtrimstr("/"))' <<<"$r" >/dev/null ||
		fail "$1: latest.restored is $r, expected the savepoint $3"
}

# expect_union NAME DIR_BEFORE DIR_AFTER: the two runs' committed output together equals the
# oracle; each holds part of it (the savepoint was taken mid-run and really restored).
expect_union() {
	local name=$1 before=$2 after=$3
	local nb na
	nb=$(committed_lines "$before" | wc -l)
	na=$(committed_lines "$after" | wc -l)
	{ committed_lines "$before"; committed_lines "$after"; } | sort >"$TMP/union-$name"
	note "$name: $nb lines committed up to the savepoint + $na after the restore; $(multiset_report "$TMP/expected" "$TMP/union-$name")"
	[ "$nb" -gt 0 ] || fail "$name: nothing was committed up to the savepoint (its pending files were never committed)"
	[ "$na" -lt "$N" ] || fail "$name: the restored run emitted all $N rows again (it did not restore the source position)"
	expect_same "$TMP/expected" "$TMP/union-$name" "$name: output up to the savepoint + output of the restored run"
}

# ---- 1. savepoint at p=2, restore at p=3 and p=1 ------------------------------------------
start_slow run-a "$TMP/out-a"
JOB_A=$JOB_ID
run_spate sp-a savepoint -m "$REST" "$JOB_A" "$SP_DIR"
expect_rc sp-a 0
check_savepoint_output sp-a "$JOB_A" "Triggering savepoint for job $JOB_A."
SP_A=$SP_PATH
[ "$(sed -n 4p "$TMP/sp-a.out")" = "You can resume your program from this savepoint with the run command." ] ||
	{ show "$TMP/sp-a.out"; fail "sp-a: fourth line is not Flink's resume hint"; }
[[ "$SP_A" == "$SP_DIR"/* ]] || fail "savepoint '$SP_A' is not under the target directory '$SP_DIR'"
sp_id=$(ckpt_json "$JOB_A" | jq -r '.latest.savepoint.id // empty')
[ -n "$sp_id" ] || fail "REST /checkpoints of $JOB_A shows no latest savepoint"
run_spate cancel-a cancel -m "$REST" "$JOB_A"
expect_rc cancel-a 0
wait_job_state 30 "$JOB_A" CANCELED
[ -s "$SP_A/_metadata" ] || fail "the savepoint's _metadata went away with the cancelled job"

restore_run p3 "$SP_A" 3 "$TMP/out-p3"
expect_rc p3 0
check_run_frame p3
expect_restored p3 "$JOB_ID" "$SP_A"
expect_union "p2-to-p3" "$TMP/out-a" "$TMP/out-p3"

restore_run p1 "$SP_A" 1 "$TMP/out-p1"
expect_rc p1 0
check_run_frame p1
expect_restored p1 "$JOB_ID" "$SP_A"
expect_union "p2-to-p1" "$TMP/out-a" "$TMP/out-p1"

# ---- 2. stop-with-savepoint ---------------------------------------------------------------
start_slow run-c "$TMP/out-c"
JOB_C=$JOB_ID
run_spate stop-c stop -m "$REST" --savepointPath "$SP_DIR" "$JOB_C"
expect_rc stop-c 0
check_savepoint_output stop-c "$JOB_C" "Triggering stop-with-savepoint for job $JOB_C."
SP_C=$SP_PATH
wait_job_state 30 "$JOB_C" FINISHED
restore_run stop-p3 "$SP_C" 3 "$TMP/out-stop-p3"
expect_rc stop-p3 0
expect_union "stop-then-p3" "$TMP/out-c" "$TMP/out-stop-p3"

# ---- 3. a program without the operator "rolling" -------------------------------------------
restore_run nonrestored "$SP_A" 2 "$TMP/out-nr" -- --no-rolling
[ "$RC" -ne 0 ] || { show "$TMP/nonrestored.out"; fail "restoring into a program without operator 'rolling' succeeded without -n"; }
grep -q "Cannot map checkpoint/savepoint state for operator" "$TMP/nonrestored.err" ||
	{ show "$TMP/nonrestored.err" 40; fail "no \"Cannot map checkpoint/savepoint state for operator ...\" message"; }
grep -q -- "allowNonRestoredState" "$TMP/nonrestored.err" ||
	{ show "$TMP/nonrestored.err" 40; fail "the message does not point at --allowNonRestoredState"; }
note "without -n: $(grep -m 1 "Cannot map checkpoint/savepoint state" "$TMP/nonrestored.err")"
[ "$(committed_lines "$TMP/out-nr" | wc -l)" -eq 0 ] || fail "the refused restore committed output"

restore_run allow "$SP_A" 2 "$TMP/out-allow" -n -- --no-rolling
expect_rc allow 0
# the rows after the savepoint: every (key, seq) but those the first run committed
committed_lines "$TMP/out-a" | awk -F, '{ print $1 "," $2 - 1 }' | sort >"$TMP/before-a"
oracle_seq "$K" "$M" | comm -23 - "$TMP/before-a" >"$TMP/expected-allow"
committed_lines "$TMP/out-allow" | sort >"$TMP/actual-allow"
[ -s "$TMP/actual-allow" ] || fail "-n: the restored run committed nothing"
expect_same "$TMP/expected-allow" "$TMP/actual-allow" "-n: rows after the savepoint, without the rolling state"

expect_daemons_alive
cluster_finish
