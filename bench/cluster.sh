#!/usr/bin/env bash
# cluster.sh - the cluster figures of issue 6, on a real session cluster of this build: one
# JobManager and two TaskManagers (one slot each) on 127.0.0.1, started with `spate cluster
# start` from a configuration of its own (SPATE_CONF_DIR, SPATE_LOG_DIR in a work directory).
#
# Usage: bash bench/cluster.sh [--smoke] BUILD_DIR
#
#   1. Exchange: bench/jobs/p1.c with "split" (P1 whose generator chain is in slot sharing group
#      "source" and whose keyed sum is in group "keyed") at p = 1, so the keyed sum runs in
#      the other TaskManager process and every row crosses a remote (TCP) channel; and,
#      alternately in the same cluster, plain P1 at p = 1 (one slot: both tasks in one
#      process, a local channel). N = BENCH_EXCHANGE_N (100m), K = 10k, BENCH_ROUNDS rounds.
#      records/s = N / the job's "Job Runtime"; row bytes/s = read-bytes of the keyed vertex
#      (REST /jobs/:id, the bytes of the rows the keyed task read) / Job Runtime. REST must
#      show the exchange job's two tasks on different TaskManagers and P1's on one. A run of
#      each with "verify" must give baseline_p1's out, checksum, finalsum and keys; every
#      timed run its out and checksum (p = 1: one in-order source).
#   2. Footprint and start-up, BENCH_ROUNDS times: `spate cluster start` until REST
#      /overview shows every slot registered (polled every millisecond or so over one
#      kept-alive connection); idle VmRSS of the JobManager and TaskManagers; `spate run -d`
#      of a small unbounded job (G) until REST's own timestamps say the job and every subtask
#      RUNNING;
#      cancel (REST PATCH) until CANCELED; the job's end (CANCELED, and FINISHED of a bounded
#      G of 1000 records) until /overview shows every slot free again.
# --smoke: N = 200k, one round, checks results and placement, times nothing (CI).
# Writes bench/results/cluster.md and cluster.json (not in smoke mode) and prints the table.
set -euo pipefail
export LC_ALL=C # byte counts in HTTP reads, '.' in EPOCHREALTIME

SMOKE=0
if [[ ${1:-} == --smoke ]]; then
	SMOKE=1
	shift
fi
[[ $# -eq 1 ]] || {
	echo "usage: bash bench/cluster.sh [--smoke] BUILD_DIR" >&2
	exit 2
}
BUILD=$(cd "$1" && pwd -P)
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SPATE=$BUILD/bin/spate
B=$BUILD/bench
for f in "$SPATE" "$B/p1.so" "$B/g.so" "$B/baseline_p1"; do
	[[ -e $f ]] || {
		echo "cluster.sh: '$f' is missing: build first" >&2
		exit 2
	}
done
for t in curl jq; do
	command -v "$t" >/dev/null || {
		echo "cluster.sh: needs $t" >&2
		exit 2
	}
done
if ((SMOKE)); then
	ROUNDS=1 N=200k
else
	ROUNDS=${BENCH_ROUNDS:-3} N=${BENCH_EXCHANGE_N:-100m}
fi
K=10k
TIMEOUT=${BENCH_TIMEOUT:-900} # seconds per attached job
NTM=2 NSLOTS=2                # the cluster: 2 TaskManagers of 1 slot
ROW_BYTES=40                  # a row of 3 int64 fields: 8 header + 8 tags + 3 * 8 (src/types/row.h)
N_NUM=$(numfmt --from=si "$(tr '[:lower:]' '[:upper:]' <<<"$N")")

WORK=$(mktemp -d /tmp/spate-bench-cluster.XXXXXX)
PIDS=() # children of this script
SCRIPT=cluster.sh
. "$SRC/bench/cluster_lib.sh"
# A daemon of ours: a pid from one of our clusters' pid files still running our binary (a
# pid of a stopped daemon may have been reused by then).
ours() { [[ $(readlink "/proc/$1/exe" 2>/dev/null) == "$SPATE" ]]; }
cleanup() {
	local f p
	for f in "$WORK"/cl-*/spate-*.pid; do
		[[ -e $f ]] || continue
		while read -r p; do
			if ours "$p"; then kill -9 "$p" 2>/dev/null || true; fi
		done <"$f"
	done
	kill_children
	rm -rf "$WORK"
}
trap cleanup EXIT

# forget PID: a child that has been waited for (its pid may be reused).
forget() {
	local p keep=()
	for p in "${PIDS[@]}"; do
		[[ $p == "$1" ]] || keep+=("$p")
	done
	PIDS=("${keep[@]}")
}

# The timing loops poll without forking: a read with a timeout on a pipe that never has data
# naps ~0.6 ms, and REST requests go over one kept-alive connection (/dev/tcp) in well under
# a millisecond, where a curl process costs several.
exec {NAP_FD}<> <(:)
nap() { read -r -t "$1" -u "$NAP_FD" _ || true; }

# fast_wait SECONDS WHAT CMD...: polls CMD every ~0.6 ms (plus CMD's own time) until it
# succeeds; adds the mean period between polls (µs) to FIG[poll] when it polled more than
# once (unless NO_POLL_STAT=1).
fast_wait() {
	local secs=$1 what=$2
	shift 2
	local end=$((SECONDS + secs)) n=0 t0=${EPOCHREALTIME/./}
	until "$@"; do
		((SECONDS < end)) || die "timed out after ${secs}s waiting for $what"
		nap 0.0005
		n=$((n + 1))
	done
	((n == 0 || ${NO_POLL_STAT:-0})) || FIG[poll]+="$(((${EPOCHREALTIME/./} - t0) / n)) "
}

HTTP_FD=
http_close() {
	if [[ -n $HTTP_FD ]]; then
		exec {HTTP_FD}>&-
		HTTP_FD=
	fi
}
http_open() {
	http_close
	{ exec {HTTP_FD}<>"/dev/tcp/${REST%:*}/${REST##*:}"; } 2>/dev/null || {
		HTTP_FD=
		return 1
	}
}
# http_req METHOD PATH: one request on the kept-alive connection; the body in BODY. Fails
# (and the caller reconnects) on anything but a 2xx answer with a Content-Length.
http_req() {
	local line len=-1 rc=0 req
	[[ -n $HTTP_FD ]] || return 1
	# One write: bash's printf writes a line at a time, and a request sent in several small
	# segments waits for the server's delayed ACK (Nagle): 40 ms a request.
	printf -v req '%s %s HTTP/1.1\r\nHost: %s\r\nContent-Length: 0\r\n\r\n' "$1" "$2" "$REST"
	trap '' PIPE # a connection the server closed: an error, not the end of this script
	{ echo -n "$req" >&"$HTTP_FD"; } 2>/dev/null || rc=1
	trap - PIPE
	((rc == 0)) || return 1
	IFS= read -r -t 5 line <&"$HTTP_FD" || return 1
	[[ $line == "HTTP/1."?" 2"* ]] || return 1
	while IFS= read -r -t 5 line <&"$HTTP_FD"; do
		line=${line%$'\r'}
		[[ -n $line ]] || break
		if [[ ${line,,} == content-length:* ]]; then
			len=${line#*:}
			len=${len// /}
		fi
	done
	((len >= 0)) || return 1
	BODY=
	((len == 0)) || IFS= read -r -t 5 -N "$len" BODY <&"$HTTP_FD" || return 1
}
# rest METHOD PATH: http_req, reconnecting once.
rest() {
	http_req "$1" "$2" && return 0
	http_open && http_req "$1" "$2"
}
# jint KEY: the integer after "KEY": in BODY, in VAL (fails if absent).
jint() {
	[[ $BODY =~ \"$1\":(-?[0-9]+) ]] || return 1
	VAL=${BASH_REMATCH[1]}
}
# overview: GET /overview; its counters in OV[...].
declare -A OV
overview() {
	rest GET /overview || return 1
	local k
	for k in taskmanagers slots-total slots-available jobs-finished jobs-cancelled; do
		jint "$k" || return 1
		OV[$k]=$VAL
	done
}
all_slots_registered() {
	overview && ((OV[taskmanagers] == NTM && OV[slots-total] == NSLOTS && OV[slots-available] == NSLOTS))
}
# all_free_after COUNTER BEFORE: COUNTER (jobs-finished or jobs-cancelled) went past BEFORE
# and every slot is free.
all_free_after() {
	overview && ((OV[$1] > $2 && OV[slots-available] == NSLOTS))
}

# ms_since T0_US T_MS: T_MS (epoch ms, the engine's clock) - T0_US (epoch µs), in ms.
ms_since() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f\n", b - a / 1000 }'; }
# us_diff T0_US T1_US: in ms.
us_diff() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f\n", (b - a) / 1000 }'; }

declare -A FIG # figure id -> its values, one per round, space-separated
add() { FIG[$1]+="$2 "; }
med() { tr ' ' '\n' <<<"${FIG[$1]:-}" | grep . | median; }
each() { sed 's/ $//; s/ /, /g' <<<"${FIG[$1]:-}"; }

# ---- the configuration -----------------------------------------------------------------

mkdir -p "$WORK/conf"
cat >"$WORK/conf/config.yaml" <<EOF
jobmanager.rpc.address: 127.0.0.1
jobmanager.rpc.port: 0
jobmanager.bind-host: 127.0.0.1
taskmanager.bind-host: 127.0.0.1
taskmanager.host: 127.0.0.1
taskmanager.numberOfTaskSlots: 1
rest.address: 127.0.0.1
rest.port: 0
metrics.reporter.prom.port: 0
blob.storage.directory: $WORK/blobs
EOF
printf 'localhost\nlocalhost\n' >"$WORK/conf/workers"
export SPATE_CONF_DIR=$WORK/conf

# ---- the cluster -----------------------------------------------------------------------

# start_cluster R: `spate cluster start` with its log directory WORK/cl-R; sets LOG, REST,
# JM_PID, TM_PIDS; records the start-up times and the idle RSS.
start_cluster() {
	LOG=$WORK/cl-$1
	mkdir -p "$LOG"
	local t0 t1 t2 rc
	t0=${EPOCHREALTIME/./}
	(
		exec {NAP_FD}<&- # not for the daemons
		rc=0
		SPATE_LOG_DIR=$LOG "$SPATE" cluster start >"$LOG.start" 2>&1 || rc=$?
		echo "${EPOCHREALTIME/./} $rc" >"$LOG.done"
	) &
	local cs=$!
	PIDS+=("$cs")
	NO_POLL_STAT=1 fast_wait 20 "the JobManager's address file" test -s "$LOG/jobmanager.address"
	local k v
	REST=
	while IFS='=' read -r k v; do
		[[ $k == rest ]] && REST=$v
	done <"$LOG/jobmanager.address"
	[[ -n $REST ]] || die "no REST address in $LOG/jobmanager.address"
	http_open || true
	fast_wait 20 "$NSLOTS registered slots" all_slots_registered
	t1=${EPOCHREALTIME/./}
	deadline_wait 30 "spate cluster start to return" test -s "$LOG.done"
	read -r t2 rc <"$LOG.done"
	wait "$cs" || true
	forget "$cs"
	((rc == 0)) || die "spate cluster start failed: $(tail -n 3 "$LOG.start")"
	JM_PID=$(<"$LOG/spate-jobmanager.pid")
	mapfile -t TM_PIDS <"$LOG/spate-taskmanager.pid"
	((${#TM_PIDS[@]} == NTM)) || die "expected $NTM TaskManagers, pid file lists ${#TM_PIDS[@]}"
	add start_slots "$(us_diff "$t0" "$t1")"
	add start_cli "$(us_diff "$t0" "$t2")"
	add start_self "$(sed -n 's/^Cluster started in \([0-9]*\) ms.*/\1/p' "$LOG.start")"
	record_rss idle
}

# rss_kb PID FIELD: VmRSS, RssAnon or RssFile in kB.
rss_kb() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"; }
# record_rss LABEL: the JobManager's and the larger TaskManager's, with their split.
record_rss() {
	local p v best=0 bp=
	ours "$JM_PID" || die "the JobManager (pid $JM_PID) is not running"
	add "$1_jm" "$(rss_kb "$JM_PID" VmRSS)"
	add "$1_jm_anon" "$(rss_kb "$JM_PID" RssAnon)"
	add "$1_jm_file" "$(rss_kb "$JM_PID" RssFile)"
	for p in "${TM_PIDS[@]}"; do
		ours "$p" || die "a TaskManager (pid $p) is not running"
		v=$(rss_kb "$p" VmRSS)
		((v > best)) && best=$v bp=$p
	done
	add "$1_tm" "$best"
	add "$1_tm_anon" "$(rss_kb "$bp" RssAnon)"
	add "$1_tm_file" "$(rss_kb "$bp" RssFile)"
}

stop_cluster() {
	http_close
	SPATE_LOG_DIR=$LOG timeout 30 "$SPATE" cluster stop >/dev/null 2>&1 || die "spate cluster stop failed"
	local p
	gone() { ! ours "$1"; }
	for p in "$JM_PID" "${TM_PIDS[@]}"; do
		deadline_wait 15 "pid $p to exit" gone "$p"
	done
}

# ---- P1 over a remote and a local channel ------------------------------------------------

# run_job LABEL JOB.so ARGS...: attached at p = 1; keeps WORK/LABEL.{out,err,json,result}
# and sets JOB_ID and JOB_MS. The sink prints its RESULT lines in its TaskManager's stdout:
# keep what this run added to any of them.
run_job() {
	local label=$1 so=$2 f
	shift 2
	local -A before=()
	for f in "$LOG"/spate-*-taskmanager-*.out; do
		before[$f]=$(wc -l <"$f")
	done
	timeout "$TIMEOUT" "$SPATE" run -m "$REST" -p 1 "$so" "$@" >"$WORK/$label.out" 2>"$WORK/$label.err" ||
		die "$label failed: $(tail -n 3 "$WORK/$label.err")"
	JOB_ID=$(sed -n 's/^Job has been submitted with JobID \([0-9a-f]*\)$/\1/p' "$WORK/$label.out")
	JOB_MS=$(awk '/^Job Runtime: / { print $3 }' "$WORK/$label.out")
	[[ -n $JOB_ID && -n $JOB_MS ]] || die "$label: no JobID or Job Runtime in its output"
	curl -sf --max-time 10 "http://$REST/jobs/$JOB_ID" >"$WORK/$label.json"
	collect() {
		: >"$WORK/$label.result"
		for f in "${!before[@]}"; do
			tail -n +$((before[$f] + 1)) "$f" | grep '^RESULT' >>"$WORK/$label.result" || true
		done
		[[ -s $WORK/$label.result ]]
	}
	deadline_wait 10 "$label's RESULT line in a TaskManager's output" collect
}

# result_of FILE FIELDS...: "f=v ..." with each field summed over the RESULT lines (bash
# arithmetic: the checksums do not fit a double's 53 bits for large N).
result_of() {
	local file=$1 f kv line
	shift
	local -A sum=()
	while read -r line; do
		for kv in $line; do
			[[ $kv == *=* ]] || continue
			sum[${kv%%=*}]=$((${sum[${kv%%=*}]:-0} + ${kv#*=}))
		done
	done < <(grep '^RESULT' "$file")
	local out=()
	for f in "$@"; do
		[[ -n ${sum[$f]:-} ]] || die "$file: no $f in its RESULT lines"
		out+=("$f=${sum[$f]}")
	done
	echo "${out[*]}"
}

# tms_of LABEL NAME_REGEX: the TaskManagers that ran the vertex of job JOB_ID whose name
# matches, comma-separated.
tms_of() {
	local vid
	vid=$(jq -r --arg re "$2" '.vertices[] | select(.name | test($re)) | .id' "$WORK/$1.json")
	[[ -n $vid ]] || die "$1: no vertex matching '$2'"
	curl -sf --max-time 10 "http://$REST/jobs/$JOB_ID/vertices/$vid" |
		jq -r '[.subtasks[]."taskmanager-id"] | unique | join(",")'
}

# check_placement LABEL remote|local: the generator chain and the keyed sum on different
# TaskManagers (remote) or on one (local).
check_placement() {
	local src keyed
	src=$(tms_of "$1" '^Source: generator')
	keyed=$(tms_of "$1" '^rolling-sum')
	[[ $src != *unassigned* && $keyed != *unassigned* && -n $src && -n $keyed ]] ||
		die "$1: tasks without a TaskManager (source on '$src', keyed sum on '$keyed')"
	if [[ $2 == remote ]]; then
		[[ $src != "$keyed" && $src != *,* && $keyed != *,* ]] ||
			die "$1: the source and the keyed sum ran on the same TaskManager ($src / $keyed): no remote channel"
	else
		[[ $src == "$keyed" ]] || die "$1: P1's tasks ran on different TaskManagers ($src / $keyed)"
	fi
}

# io_figures LABEL KIND: from the job's REST details, the keyed vertex's read-bytes and
# read-records, the keyed task's busy share and the source's backpressured share; records
# the figures under KIND.
io_figures() {
	local j=$WORK/$1.json
	local bytes recs complete busy bp
	read -r bytes recs complete busy bp < <(jq -r '
		(.vertices[] | select(.name | test("^rolling-sum"))) as $k
		| (.vertices[] | select(.name | test("^Source: generator"))) as $s
		| [$k.metrics."read-bytes", $k.metrics."read-records", $k.metrics."read-bytes-complete",
		   (if $k.duration > 0 then 100 * $k.metrics."accumulated-busy-time" / $k.duration else 0 end),
		   (if $s.duration > 0 then 100 * $s.metrics."accumulated-backpressured-time" / $s.duration else 0 end)]
		| @tsv' "$j")
	[[ $complete == true ]] || die "$1: the keyed vertex's read-bytes are incomplete in REST"
	local out
	out=$(result_of "$WORK/$1.result" out)
	[[ $recs == "${out#out=}" ]] || die "$1: the keyed vertex read $recs records but the sink counted ${out#out=}"
	((bytes == recs * ROW_BYTES)) || echo "cluster.sh: $1: read-bytes $bytes != $recs rows x $ROW_BYTES bytes" >&2
	add "$2_rate" "$(awk -v n="$N_NUM" -v ms="$JOB_MS" 'BEGIN { printf "%.0f", n / (ms / 1000) }')"
	add "$2_bps" "$(awk -v b="$bytes" -v ms="$JOB_MS" 'BEGIN { printf "%.0f", b / (ms / 1000) }')"
	add "$2_rows" "$recs"
	add "$2_busy" "$(printf '%.0f' "$busy")"
	add "$2_bp" "$(printf '%.0f' "$bp")"
}

"$B/baseline_p1" "$N" "$K" >"$WORK/base.out" || die "baseline_p1 failed"
BASE_ALL=$(result_of "$WORK/base.out" out checksum finalsum keys)
BASE_SUM=$(result_of "$WORK/base.out" out checksum)

# ---- rounds of cluster start ---------------------------------------------------------------

for ((r = 1; r <= ROUNDS; r++)); do
	start_cluster "$r"
	((r == ROUNDS)) || stop_cluster
done
# The last cluster stays up for the rest.

# ---- correctness: both jobs with verify against the baseline --------------------------------

run_job check-exchange "$B/p1.so" "$N" "$K" verify split
check_placement check-exchange remote
got=$(result_of "$WORK/check-exchange.result" out checksum finalsum keys)
[[ $got == "$BASE_ALL" ]] || die "exchange (verify): $got, baseline_p1: $BASE_ALL"
run_job check-p1 "$B/p1.so" "$N" "$K" verify
check_placement check-p1 local
got=$(result_of "$WORK/check-p1.result" out checksum finalsum keys)
[[ $got == "$BASE_ALL" ]] || die "p1 (verify): $got, baseline_p1: $BASE_ALL"

# ---- timed: exchange and P1 alternately -----------------------------------------------------

if ((!SMOKE)); then
	for ((r = 1; r <= ROUNDS; r++)); do
		for kind in exchange p1; do
			if [[ $kind == exchange ]]; then
				run_job "$kind-$r" "$B/p1.so" "$N" "$K" split
			else
				run_job "$kind-$r" "$B/p1.so" "$N" "$K"
			fi
			if [[ $kind == exchange ]]; then
				check_placement "$kind-$r" remote
			else
				check_placement "$kind-$r" local
			fi
			got=$(result_of "$WORK/$kind-$r.result" out checksum)
			[[ $got == "$BASE_SUM" ]] || die "$kind-$r: $got, baseline_p1: $BASE_SUM"
			io_figures "$kind-$r" "$kind"
		done
	done
fi

# ---- submit, cancel, slots free --------------------------------------------------------------

job_running() {
	curl -sf --max-time 10 "http://$REST/jobs/$1" |
		jq -e '.state == "RUNNING" and ([.vertices[].status] | all(. == "RUNNING"))' >/dev/null
}
for ((r = 1; r <= ROUNDS; r++)); do
	# an unbounded small job: G (generator -> sink, one task) with 10^12 records
	t0=${EPOCHREALTIME/./}
	timeout 60 "$SPATE" run -d -m "$REST" -p 1 "$B/g.so" 1000000000000 "$K" >"$WORK/submit-$r.out" 2>"$WORK/submit-$r.err" ||
		die "spate run -d failed: $(tail -n 3 "$WORK/submit-$r.err")"
	t1=${EPOCHREALTIME/./}
	id=$(sed -n 's/^Job has been submitted with JobID \([0-9a-f]*\)$/\1/p' "$WORK/submit-$r.out")
	[[ -n $id ]] || die "spate run -d printed no JobID"
	deadline_wait 30 "job $id RUNNING" job_running "$id"
	curl -sf --max-time 10 "http://$REST/jobs/$id" >"$WORK/submit-$r.json"
	sub_running=0
	for vid in $(jq -r '.vertices[].id' "$WORK/submit-$r.json"); do
		v=$(curl -sf --max-time 10 "http://$REST/jobs/$id/vertices/$vid/subtasktimes" | jq -r '[.subtasks[].timestamps.RUNNING] | max')
		((v > sub_running)) && sub_running=$v
	done
	read -r ts_init ts_run < <(jq -r '[.timestamps.INITIALIZING, .timestamps.RUNNING] | @tsv' "$WORK/submit-$r.json")
	add submit_job "$(ms_since "$t0" "$ts_run")"
	add submit_tasks "$(ms_since "$t0" "$sub_running")"
	add submit_engine "$((sub_running - ts_init))"
	add submit_cli "$(us_diff "$t0" "$t1")"

	# cancel it; poll /overview from the moment the request is answered
	overview || die "GET /overview failed"
	count0=${OV[jobs-cancelled]}
	t0=${EPOCHREALTIME/./}
	rest PATCH "/jobs/$id?mode=cancel" || die "PATCH /jobs/$id?mode=cancel failed"
	fast_wait 30 "the slots of job $id free" all_free_after jobs-cancelled "$count0"
	t1=${EPOCHREALTIME/./}
	ts_end=$(curl -sf --max-time 10 "http://$REST/jobs/$id" | jq -r .timestamps.CANCELED)
	((ts_end > 0)) || die "job $id has no CANCELED timestamp"
	add cancel "$(ms_since "$t0" "$ts_end")"
	add free_canceled "$(awk -v a="$ts_end" -v b="$t1" 'BEGIN { printf "%.1f", b / 1000 - a }')"

	# a bounded small job: G with 1000 records, submitted in the background while polling
	overview || die "GET /overview failed"
	count0=${OV[jobs-finished]}
	timeout 60 "$SPATE" run -d -m "$REST" -p 1 "$B/g.so" 1000 "$K" >"$WORK/bounded-$r.out" 2>"$WORK/bounded-$r.err" &
	bg=$!
	PIDS+=("$bg")
	fast_wait 30 "a bounded job to finish and free its slot" all_free_after jobs-finished "$count0"
	t1=${EPOCHREALTIME/./}
	ended() { ! kill -0 "$bg" 2>/dev/null; }
	deadline_wait 60 "spate run -d to return" ended
	rc=0
	wait "$bg" || rc=$?
	forget "$bg"
	((rc == 0)) || die "spate run -d (bounded) failed: $(tail -n 3 "$WORK/bounded-$r.err")"
	id=$(sed -n 's/^Job has been submitted with JobID \([0-9a-f]*\)$/\1/p' "$WORK/bounded-$r.out")
	ts_end=$(curl -sf --max-time 10 "http://$REST/jobs/$id" | jq -r .timestamps.FINISHED)
	((ts_end > 0)) || die "job $id has no FINISHED timestamp"
	add free_finished "$(awk -v a="$ts_end" -v b="$t1" 'BEGIN { printf "%.1f", b / 1000 - a }')"
done
record_rss after
stop_cluster

if ((SMOKE)); then
	echo "bench cluster smoke: exchange (source and keyed sum on different TaskManagers) and local P1 agree with baseline_p1 ($BASE_ALL); cluster start, submit, cancel and slot release ran"
	exit 0
fi

# ---- report ------------------------------------------------------------------------------

mb() { awk -v v="$1" 'BEGIN { printf "%.1f MiB", v / 1024 }'; }
M() { awk -v v="$1" 'BEGIN { printf "%.2f M", v / 1e6 }'; }
MBs() { awk -v v="$1" 'BEGIN { printf "%.0f MB/s", v / 1e6 }'; }
le() { awk -v v="$1" -v t="$2" 'BEGIN { print (v <= t ? "yes" : "no") }'; }
each_mb() { tr ' ' '\n' <<<"${FIG[$1]}" | grep . | awk '{ printf "%s%.1f", (NR > 1 ? ", " : ""), $1 / 1024 }'; }

OUT=$SRC/bench/results/cluster.md
JSON=$SRC/bench/results/cluster.json
mkdir -p "$SRC/bench/results"
date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
commit=$(git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo unknown)
machine="$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(nproc) cores"
load=$(cut -d' ' -f1-3 /proc/loadavg)
ex_bps=$(med exchange_bps)
POLL=$(awk -v v="$(med poll)" 'BEGIN { printf "%.1f", v / 1000 }') # median period of the REST polls
ex_met=$(awk -v v="$ex_bps" 'BEGIN { print (v >= 1e9 ? "yes" : "no") }')
# one footprint/start-up row: id, label, unit, target (or -), target value, source
frow() {
	local id=$1 label=$2 unit=$3 target=$4 tval=$5 source=$6 m vals met=-
	m=$(med "$id")
	if [[ $unit == MiB ]]; then
		vals=$(each_mb "$id")
		[[ $target == - ]] || met=$(le "$m" "$((tval * 1024))")
		m=$(mb "$m")
	else
		vals=$(each "$id")
		[[ $target == - ]] || met=$(le "$m" "$tval")
		m="$m ms"
	fi
	echo "| $label | $m | $vals | $target | $met | $source |"
	LABEL[$id]=$label TARGET[$id]=$target MET[$id]=$met
}
declare -A LABEL TARGET MET
LABEL[exchange_rate]="p1.so split, p = 1, remote channel: records/s"
LABEL[exchange_bps]="p1.so split, p = 1, remote channel: row bytes/s (keyed vertex read-bytes / Job Runtime)"
TARGET[exchange_bps]=">= 1 GB/s" MET[exchange_bps]=$ex_met
LABEL[p1_rate]="p1.so, p = 1, local channel: records/s"
LABEL[p1_bps]="p1.so, p = 1, local channel: row bytes/s (keyed vertex read-bytes / Job Runtime)"
LABEL[poll]="mean period of the REST polls of the timing loops"
rss_source() { echo "VmRSS, /proc/<pid>/status (medians: RssAnon $(mb "$(med "$1_anon")"), RssFile $(mb "$(med "$1_file")"))"; }
{
	echo "Spate cluster benchmarks (bench/cluster.sh), $date, commit $commit, $ROUNDS rounds (medians), exchange N = $N, K = $K"
	echo "Machine: $machine; load average at the end: $load. Cluster: 1 JobManager + $NTM TaskManagers of 1 slot, 127.0.0.1, \`spate cluster start\`."
	echo
	echo "| P1, p = 1 | channel | tasks on | Spate rec/s | row bytes/s | rows over the channel (x $ROW_BYTES B) | keyed task busy | source backpressured | target | met |"
	echo "|---|---|---|---|---|---|---|---|---|---|"
	echo "| p1.so split (source chain and keyed sum in 2 slot sharing groups) | remote (TCP) | 2 TaskManagers | $(M "$(med exchange_rate)") | $(MBs "$ex_bps") | $(M "$(med exchange_rows)") | $(med exchange_busy) % | $(med exchange_bp) % | >= 1 GB/s | $ex_met |"
	echo "| p1.so (one slot) | local | 1 TaskManager | $(M "$(med p1_rate)") | $(MBs "$(med p1_bps)") | $(M "$(med p1_rows)") | $(med p1_busy) % | $(med p1_bp) % | - | - |"
	echo
	echo "Records/s = N generated / the job's \"Job Runtime\"; row bytes/s = the keyed vertex's read-bytes (REST /jobs/:id, the engine's count of row bytes read from the channel) / Job Runtime. Busy and backpressured: the vertex's accumulated-busy-time and accumulated-backpressured-time over its duration (REST). Every run's RESULT lines (out, checksum) agree with baseline_p1, and with \"verify\" also finalsum and keys: $BASE_ALL."
	echo
	echo "| figure | median | each measurement | target | met | source |"
	echo "|---|---|---|---|---|---|"
	frow start_slots "\`spate cluster start\` until every slot is registered" ms "<= 200 ms" 200 "script clock from the launch; REST /overview polled every $POLL ms over a kept-alive connection"
	frow start_cli "\`spate cluster start\` until the command returns" ms - 0 "script clock (the command polls /overview every 5 ms)"
	frow start_self "\`spate cluster start\`'s own \"Cluster started in N ms\"" ms - 0 "the command's output"
	frow idle_jm "idle JobManager RSS, cluster just started" MiB "<= 20 MiB" 20 "$(rss_source idle_jm)"
	frow idle_tm "idle TaskManager RSS (the larger of $NTM), cluster just started" MiB "<= 10 MiB" 10 "$(rss_source idle_tm)"
	frow after_jm "idle JobManager RSS, after all the jobs above" MiB "<= 20 MiB" 20 "$(rss_source after_jm)"
	frow after_tm "idle TaskManager RSS (the larger), after all the jobs above" MiB "<= 10 MiB" 10 "$(rss_source after_tm)"
	frow submit_job "submit (\`spate run -d\` of G, client process included) until the job is RUNNING" ms "<= 50 ms" 50 "script clock at the launch; REST /jobs/:id timestamps.RUNNING"
	frow submit_tasks "submit (\`spate run -d\`, client included) until every subtask is RUNNING" ms "<= 50 ms" 50 "script clock at the launch; REST .../subtasktimes timestamps.RUNNING (latest)"
	frow submit_engine "job received (INITIALIZING) until every subtask is RUNNING" ms - 0 "REST timestamps only (engine clock)"
	frow submit_cli "\`spate run -d\` until the command returns" ms - 0 "script clock"
	frow cancel "cancel (REST PATCH sent) until CANCELED" ms - 0 "script clock; REST timestamps.CANCELED"
	frow free_canceled "job CANCELED until every slot is free" ms - 0 "REST timestamps.CANCELED; /overview polled every $POLL ms (the first poll that sees all free)"
	frow free_finished "bounded job (G, 1000 records) FINISHED until every slot is free" ms - 0 "REST timestamps.FINISHED; /overview polled every $POLL ms"
	echo
	echo "Times that mix the script's clock (EPOCHREALTIME) with the engine's REST timestamps use the same host clock; the engine's are whole milliseconds (truncated), so those figures carry about 1 ms of rounding."
} >"$OUT"

# JSON: every figure with its rounds and unit
unit() {
	case $1 in
	*_anon | *_file | *_jm | *_tm) echo kB ;;
	*_rate) echo records/s ;;
	*_bps) echo bytes/s ;;
	*_rows) echo rows ;;
	poll) echo us ;;
	*_busy | *_bp) echo percent ;;
	*) echo ms ;;
	esac
}
{
	jq -n --arg date "$date" --arg commit "$commit" --arg machine "$machine" --arg load "$load" \
		--argjson rounds "$ROUNDS" --argjson n "$N_NUM" --arg k "$K" --arg base "$BASE_ALL" \
		'{date: $date, commit: $commit, machine: $machine, load: $load, rounds: $rounds, n: $n, k: $k, baseline_result: $base}'
	for id in $(printf '%s\n' "${!FIG[@]}" | sort); do
		jq -n --arg id "$id" --arg unit "$(unit "$id")" --arg vals "${FIG[$id]}" --arg med "$(med "$id")" \
			--arg lbl "${LABEL[$id]:-}" --arg target "${TARGET[$id]:--}" --arg met "${MET[$id]:--}" \
			'{id: $id, "label": $lbl, unit: $unit, median: ($med | tonumber),
			  values: ($vals | split(" ") | map(select(. != "") | tonumber))}
			 + (if $target == "-" then {} else {target: $target, met: ($met == "yes")} end)'
	done
} | jq -s '.[0] + {figures: .[1:]}' >"$JSON"
cat "$OUT"
echo "results: $JSON, $OUT" >&2
