#!/usr/bin/env bash
# The user-facing cluster commands, as a user types them (no -m: the cluster is found
# through $SPATE_LOG_DIR/jobmanager.address): `spate cluster start` with conf/workers naming
# two workers, a second start refused, run -d / list / cancel / attached run against it,
# savepoint and stop refused for bad, unknown and finished jobs,
# `spate cluster stop` stopping every daemon and removing its files, the embedded fallback
# after the stop, and clean one-line errors for an unreachable JobManager, bad daemon
# configuration and bad job ids.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster_lib.sh"

require_file "$EXAMPLES/wordcount.so" "$JOBS/cluster_probe.so"

mkdir "$TMP/conf"
printf 'rest.port: 0\njobmanager.rpc.port: 0\nrest.address: 127.0.0.1\njobmanager.rpc.address: 127.0.0.1\ntaskmanager.host: 127.0.0.1\ntaskmanager.numberOfTaskSlots: 2\n' >"$TMP/conf/config.yaml"
printf 'localhost\nlocalhost\n' >"$TMP/conf/workers"
export SPATE_CONF_DIR="$TMP/conf"
export SPATE_LOG_DIR="$TMP/log"
LOGD="$SPATE_LOG_DIR"
HOST=$(uname -n)
USER_NAME=$(id -un)
JM_PIDF="$LOGD/spate-jobmanager.pid"
TM_PIDF="$LOGD/spate-taskmanager.pid"

# is_spate_daemon PID: PID runs this build's spate (not a reused pid).
is_spate_daemon() {
	[ -r "/proc/$1/cmdline" ] && tr '\0' ' ' <"/proc/$1/cmdline" | grep -q "^$SPATE "
}

# gone PID: the process has exited (a zombie nobody reaped yet counts as gone: `cluster
# start` exits, so the daemons are reparented).
gone() {
	[ -r "/proc/$1/stat" ] || return 0
	[ "$(sed -E 's/^.*\) ([A-Z]).*$/\1/' "/proc/$1/stat" 2>/dev/null)" = Z ]
}

# The daemons are detached (setsid): if the test fails before `cluster stop`, stop them
# here, by the pids this test's cluster wrote.
DAEMON_PIDS=()
stop_leftovers() {
	local pid
	for pid in "${DAEMON_PIDS[@]+"${DAEMON_PIDS[@]}"}"; do
		if ! gone "$pid" && is_spate_daemon "$pid"; then
			kill "$pid" 2>/dev/null || true
		fi
	done
	cleanup
}
trap stop_leftovers EXIT

# ---- spate cluster start ---------------------------------------------------------------
run_spate start cluster start
expect_rc start 0
[ "$(wc -l <"$TMP/start.out")" -eq 5 ] || { show "$TMP/start.out"; fail "cluster start: expected 5 lines on stdout"; }
printf 'Starting cluster.\nStarting standalonesession daemon on host %s.\nStarting taskexecutor daemon on host %s.\nStarting taskexecutor daemon on host %s.\n' \
	"$HOST" "$HOST" "$HOST" >"$TMP/start.expected"
head -n 4 "$TMP/start.out" >"$TMP/start.head"
expect_same "$TMP/start.expected" "$TMP/start.head" "cluster start: first lines"
last=$(tail -n 1 "$TMP/start.out")
re='^Cluster started in [0-9]+ ms: 1 JobManager, 2 TaskManagers, 4 slots\. REST endpoint: http://127\.0\.0\.1:([0-9]+)$'
[[ "$last" =~ $re ]] || fail "cluster start: unexpected last line: $last"
REST="127.0.0.1:${BASH_REMATCH[1]}"
note "cluster at $REST"

# Its files: pid files (1 JobManager, 2 TaskManagers), logs named as Flink names them, the
# address file naming the same REST endpoint.
for f in "$JM_PIDF" "$TM_PIDF" "$LOGD/jobmanager.address" \
	"$LOGD/spate-$USER_NAME-jobmanager-0-$HOST.log" \
	"$LOGD/spate-$USER_NAME-taskmanager-0-$HOST.log" \
	"$LOGD/spate-$USER_NAME-taskmanager-1-$HOST.log"; do
	[ -f "$f" ] || { ls -la "$LOGD" >&2; fail "cluster start: missing $f"; }
done
mapfile -t JM_PIDS_F <"$JM_PIDF"
mapfile -t TM_PIDS_F <"$TM_PIDF"
DAEMON_PIDS=("${JM_PIDS_F[@]}" "${TM_PIDS_F[@]}")
[ "${#JM_PIDS_F[@]}" -eq 1 ] || fail "cluster start: $JM_PIDF holds ${#JM_PIDS_F[@]} pids, expected 1"
[ "${#TM_PIDS_F[@]}" -eq 2 ] || fail "cluster start: $TM_PIDF holds ${#TM_PIDS_F[@]} pids, expected 2"
for pid in "${DAEMON_PIDS[@]}"; do
	[[ "$pid" =~ ^[0-9]+$ ]] && is_spate_daemon "$pid" && ! gone "$pid" ||
		fail "cluster start: pid '$pid' of the pid files is not a running spate daemon"
done
grep -q "jobmanager" "/proc/${JM_PIDS_F[0]}/cmdline" || fail "pid ${JM_PIDS_F[0]} is not the JobManager"
[ "$(sed -n 's/^rest=//p' "$LOGD/jobmanager.address")" = "$REST" ] ||
	fail "jobmanager.address names $(cat "$LOGD/jobmanager.address"), the start line $REST"
[ "$(overview taskmanagers)" = 2 ] || fail "/overview: $(overview taskmanagers) TaskManagers, expected 2"
[ "$(overview slots-total)" = 4 ] || fail "/overview: $(overview slots-total) slots, expected 4"
wait_until 30 "4 free slots" overview_is slots-available 4

# A second start while one runs: refused with one line, nothing new started.
run_spate start2 cluster start
expect_cli_error start2 "already running" 1
[ "$(cat "$JM_PIDF" "$TM_PIDF" | tr '\n' ' ')" = "${DAEMON_PIDS[*]} " ] ||
	fail "a refused second start changed the pid files: $(cat "$JM_PIDF" "$TM_PIDF" | tr '\n' ' ')"
grep -q "Starting" "$TMP/start2.out" && fail "a refused second start printed: $(cat "$TMP/start2.out")"

# ---- run -d, list, cancel without -m -------------------------------------------------------
t0=$(date +%s%N)
run_spate detached run -d -p 2 "$JOBS/cluster_probe.so" --n -1 --rate 1000
ms=$((($(date +%s%N) - t0) / 1000000))
expect_rc detached 0
[ "$(wc -l <"$TMP/detached.out")" -eq 1 ] || { show "$TMP/detached.out"; fail "run -d: expected one line on stdout"; }
line=$(cat "$TMP/detached.out")
[[ "$line" =~ ^Job\ has\ been\ submitted\ with\ JobID\ ([0-9a-f]{32})$ ]] || fail "run -d: unexpected output: $line"
JOB_ID=${BASH_REMATCH[1]}
note "run -d returned in $ms ms"
[ "$ms" -lt 30000 ] || fail "run -d took $ms ms to return for an endless job"
wait_until 30 "job $JOB_ID RUNNING on the cluster" job_status_is "$JOB_ID" RUNNING

run_spate list list
expect_rc list 0
[ "$(wc -l <"$TMP/list.out")" -eq 5 ] || { show "$TMP/list.out"; fail "list: expected 5 lines"; }
printf '%s\n' "Waiting for response..." \
	"------------------ Running/Restarting Jobs -------------------" \
	"JOB" \
	"--------------------------------------------------------------" \
	"No scheduled jobs." >"$TMP/list.expected"
sed '3s/.*/JOB/' "$TMP/list.out" >"$TMP/list.masked"
expect_same "$TMP/list.expected" "$TMP/list.masked" "list: Flink's block layout"
job_line=$(sed -n 3p "$TMP/list.out")
re="^([0-9]{2})\.([0-9]{2})\.([0-9]{4}) ([0-9]{2}:[0-9]{2}:[0-9]{2}) : $JOB_ID : cluster-probe \(RUNNING\)$"
[[ "$job_line" =~ $re ]] || fail "list: unexpected job line: $job_line"
# The start time is local time, a moment ago.
started=$(date -d "${BASH_REMATCH[3]}-${BASH_REMATCH[2]}-${BASH_REMATCH[1]} ${BASH_REMATCH[4]}" +%s)
age=$(($(date +%s) - started))
[ "$age" -ge -2 ] && [ "$age" -le 300 ] || fail "list: start time '$job_line' is $age s from now"

run_spate cancel cancel "$JOB_ID"
expect_rc cancel 0
printf 'Cancelling job %s.\nCancelled job %s.\n' "$JOB_ID" "$JOB_ID" >"$TMP/cancel.expected"
expect_same "$TMP/cancel.expected" "$TMP/cancel.out" "cancel output"
job_status_is "$JOB_ID" CANCELED || fail "job $JOB_ID is $(rest_get "/jobs/$JOB_ID/status") after cancel"
wait_until 30 "4 free slots after the cancel" overview_is slots-available 4

# ---- attached WordCount without -m ---------------------------------------------------------
generate_text "$TMP/in.txt" 5000 17
oracle_word_counts "$TMP/in.txt" >"$TMP/expected.counts"
run_spate wc run -p 2 "$EXAMPLES/wordcount.so" --input "$TMP/in.txt" --output "$TMP/wc"
expect_rc wc 0
check_run_frame wc
# It ran on the cluster (not embedded): the JobManager knows the job as FINISHED.
job_status_is "$JOB_ID" FINISHED || fail "WordCount $JOB_ID is not a FINISHED job of the cluster: $(rest_get "/jobs/$JOB_ID/status" || true)"
cat "$TMP/wc"/part-* | final_counts_from_updates >"$TMP/wc.counts"
expect_same "$TMP/expected.counts" "$TMP/wc.counts" "WordCount on the cluster started by cluster start"
wait_until 30 "4 free slots after WordCount" overview_is slots-available 4

# ---- bad job ids -------------------------------------------------------------------------
run_spate cancel_bad cancel -m "$REST" 0123
expect_cli_error cancel_bad "0123.*(job id|jobid)|(job id|jobid).*0123" 1
UNKNOWN=0123456789abcdef0123456789abcdef
run_spate cancel_unknown cancel "$UNKNOWN"
expect_cli_error cancel_unknown "$UNKNOWN.*not found|not found.*$UNKNOWN" 1
for cmd in savepoint stop; do
	run_spate "${cmd}_bad" "$cmd" 0123
	expect_cli_error "${cmd}_bad" "0123.*(job id|jobid)|(job id|jobid).*0123" 1
	run_spate "${cmd}_unknown" "$cmd" "$UNKNOWN"
	expect_cli_error "${cmd}_unknown" "$UNKNOWN.*not found|not found.*$UNKNOWN" 1
	# A job that already ended (the WordCount above) takes no savepoint: REST answers 409
	# naming its state, before any checkpoint is involved.
	run_spate "${cmd}_finished" "$cmd" "$JOB_ID"
	expect_cli_error "${cmd}_finished" "$JOB_ID.*not running \(FINISHED\)" 1
	first="Triggering savepoint for job $JOB_ID."
	[ "$cmd" = stop ] && first="Triggering stop-with-savepoint for job $JOB_ID."
	[ "$(cat "$TMP/${cmd}_finished.out")" = "$first" ] ||
		{ show "$TMP/${cmd}_finished.out"; fail "$cmd of a finished job: stdout is not '$first'"; }
done

# ---- spate cluster stop --------------------------------------------------------------------
run_spate stop cluster stop
expect_rc stop 0
{
	for pid in "${TM_PIDS_F[@]}"; do
		echo "Stopping taskexecutor daemon (pid: $pid) on host $HOST."
	done
	echo "Stopping standalonesession daemon (pid: ${JM_PIDS_F[0]}) on host $HOST."
} >"$TMP/stop.expected"
expect_same "$TMP/stop.expected" "$TMP/stop.out" "cluster stop output"
for pid in "${DAEMON_PIDS[@]}"; do
	wait_until 30 "daemon $pid to exit after cluster stop" gone "$pid"
done
for f in "$JM_PIDF" "$TM_PIDF" "$LOGD/jobmanager.address"; do
	[ ! -e "$f" ] || fail "cluster stop left $f behind"
done
# The REST endpoint is gone too.
if curl -sf --max-time 5 "http://$REST/overview" >/dev/null 2>&1; then
	fail "the REST endpoint $REST still answers after cluster stop"
fi

# ---- without a cluster: embedded ------------------------------------------------------------
run_spate embedded run -p 2 "$EXAMPLES/wordcount.so" --input "$TMP/in.txt"
expect_rc embedded 0
check_run_frame embedded
sink_lines embedded | strip_subtask_prefix | final_counts_from_updates >"$TMP/embedded.counts"
expect_same "$TMP/expected.counts" "$TMP/embedded.counts" "WordCount on the embedded cluster after stop"

# ---- errors: one line, fast --------------------------------------------------------------
# expect_fast_error NAME PATTERN ARGS...: `spate ARGS` fails with one clean line matching
# PATTERN in well under 5 s.
expect_fast_error() {
	local name=$1 pattern=$2
	shift 2
	local t0 ms
	t0=$(date +%s%N)
	run_spate "$name" "$@"
	ms=$((($(date +%s%N) - t0) / 1000000))
	expect_cli_error "$name" "$pattern" 1
	note "$name: failed in $ms ms: $(tail -n 1 "$TMP/$name.err")"
	[ "$ms" -lt 5000 ] || fail "$name: took $ms ms to fail"
}
expect_fast_error run_unreachable '127\.0\.0\.1:1([^0-9]|$)' run -m 127.0.0.1:1 "$EXAMPLES/wordcount.so"
expect_fast_error list_unreachable '127\.0\.0\.1:1([^0-9]|$)' list -m 127.0.0.1:1
expect_fast_error stop_unreachable '127\.0\.0\.1:1([^0-9]|$)' stop -m 127.0.0.1:1 0123456789abcdef0123456789abcdef
expect_fast_error jm_bad_key 'no\.such\.key' jobmanager -D no.such.key=1
expect_fast_error tm_bad_value 'taskmanager\.numberOfTaskSlots' taskmanager -D taskmanager.numberOfTaskSlots=zero
# Those daemons did not leave files behind either.
[ ! -e "$LOGD/jobmanager.address" ] || fail "a JobManager with a bad key wrote jobmanager.address"
