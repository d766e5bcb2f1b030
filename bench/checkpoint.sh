#!/usr/bin/env bash
# checkpoint.sh - what checkpoints cost and how fast a job recovers (issue 5), on a real
# session cluster of this build: one JobManager and TaskManager processes on 127.0.0.1.
#
# Usage: bash bench/checkpoint.sh [--smoke] BUILD_DIR
#
#   1. P1 (K = 10k) attached, alternately without checkpoints and with a checkpoint every
#      second: p = 1 with hashmap and with rocksdb, p = 2 with hashmap (there the keyed
#      subtasks align two channels); BENCH_ROUNDS rounds; records/s from the job's own "Job
#      Runtime"; the ratio of the medians; from REST, the checkpoints' count, their median
#      end-to-end duration and the longest alignment of any subtask.
#      Every run's RESULT lines (out, checksum) must equal the run without checkpoints.
#   2. Recovery: P1 (10^9 records, cancelled once measured) on one TaskManager with a spare one, checkpointing every
#      second and the default restart strategy (exponential-delay, 1 s initial backoff); kill
#      -9 of the TaskManager running it; time until every task is RUNNING again (REST polled
#      every 10 ms), BENCH_KILLS times.
# --smoke: tiny inputs, one round, one kill, nothing timed (CI).
# Writes bench/results/checkpoint.md (not in smoke mode) and prints it.
set -euo pipefail

SMOKE=0
if [[ ${1:-} == --smoke ]]; then
	SMOKE=1
	shift
fi
[[ $# -eq 1 ]] || {
	echo "usage: bash bench/checkpoint.sh [--smoke] BUILD_DIR" >&2
	exit 2
}
BUILD=$(cd "$1" && pwd)
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SPATE=$BUILD/bin/spate
P1=$BUILD/bench/p1.so
for f in "$SPATE" "$P1"; do
	[[ -e $f ]] || {
		echo "checkpoint.sh: '$f' is missing: build first" >&2
		exit 2
	}
done
if ((SMOKE)); then
	ROUNDS=1 N=200k KILLS=1
else
	ROUNDS=${BENCH_ROUNDS:-3} N=${BENCH_CKPT_N:-100m} KILLS=${BENCH_KILLS:-3}
fi
WORK=$(mktemp -d /tmp/spate-bench-ckpt.XXXXXX)
PIDS=()
SCRIPT=checkpoint.sh
. "$SRC/bench/cluster_lib.sh"
cleanup() {
	kill_children
	rm -rf "$WORK"
}
trap cleanup EXIT

start_jm() {
	"$SPATE" jobmanager -D env.log.dir="$WORK" -D rest.port=0 -D jobmanager.rpc.port=0 \
		-D rest.address=127.0.0.1 -D jobmanager.rpc.address=127.0.0.1 \
		-D blob.storage.directory="$WORK/blobs" >"$WORK/jm.out" 2>"$WORK/jm.log" </dev/null &
	PIDS+=($!)
	deadline_wait 20 "the JobManager" test -s "$WORK/jobmanager.address"
	REST=$(sed -n 's/^rest=//p' "$WORK/jobmanager.address")
	RPC=$(sed -n 's/^rpc=.*://p' "$WORK/jobmanager.address")
}

# start_tm NAME SLOTS: starts a TaskManager; its pid in TM_PID[NAME].
declare -A TM_PID
start_tm() {
	"$SPATE" taskmanager -D jobmanager.rpc.address=127.0.0.1 -D jobmanager.rpc.port="$RPC" \
		-D taskmanager.numberOfTaskSlots="$2" -D taskmanager.host=127.0.0.1 \
		-D taskmanager.resource-id="$1" -D metrics.reporter.prom.port=0 \
		>"$WORK/$1.out" 2>"$WORK/$1.log" </dev/null &
	TM_PID[$1]=$!
	PIDS+=($!)
}

slots_free() { [[ $(curl -sf "http://$REST/overview" | jq -r '."slots-available"') == "$1" ]]; }

start_jm
start_tm tm-a 4
deadline_wait 20 "4 free slots" slots_free 4

CKPT=(-D execution.checkpointing.interval=1s -D execution.checkpointing.dir="$WORK/ckpt")
# run_p1 LABEL P -D...: P1 attached at parallelism P; prints records/s; keeps the output in
# WORK/LABEL.out, the checkpoint statistics in WORK/LABEL.ckpt.json and the longest
# alignment (ms) in WORK/LABEL.align.
run_p1() {
	local label=$1 p=$2
	shift 2
	# The sink prints its RESULT line in the TaskManager's stdout: keep what this run added.
	local before
	before=$(wc -l <"$WORK/tm-a.out")
	"$SPATE" run -m "$REST" -p "$p" "$@" "$P1" "${RUN_N:-$N}" 10k >"$WORK/$label.out" 2>"$WORK/$label.err" ||
		die "$label failed: $(tail -n 3 "$WORK/$label.err")"
	local id ms n
	id=$(sed -n 's/^Job has been submitted with JobID \([0-9a-f]*\)$/\1/p' "$WORK/$label.out")
	ms=$(awk '/^Job Runtime: / { print $3 }' "$WORK/$label.out")
	n=$(numfmt --from=si "$(tr a-z A-Z <<<"${RUN_N:-$N}")")
	curl -sf "http://$REST/jobs/$id/checkpoints" >"$WORK/$label.ckpt.json"
	local align=0 cid vid a
	for cid in $(jq -r '.history[] | select(.status == "COMPLETED") | .id' "$WORK/$label.ckpt.json"); do
		for vid in $(curl -sf "http://$REST/jobs/$id" | jq -r '.vertices[].id'); do
			a=$(curl -sf "http://$REST/jobs/$id/checkpoints/details/$cid/subtasks/$vid" |
				jq -r '.summary.alignment.duration.max // 0')
			((a > align)) && align=$a
		done
	done
	echo "$align" >"$WORK/$label.align"
	local end=$((SECONDS + 10))
	until tail -n +$((before + 1)) "$WORK/tm-a.out" | grep -q '^RESULT'; do
		((SECONDS < end)) || die "$label: no RESULT line in the TaskManager's output"
		sleep 0.01
	done
	# out and the final sums do not depend on how keys are spread over subtasks
	tail -n +$((before + 1)) "$WORK/tm-a.out" | grep '^RESULT' |
		awk '{ for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == "out" || kv[1] == "finalsum") s[kv[1]] += kv[2] } }
			END { printf "out=%.0f finalsum=%.0f\n", s["out"], s["finalsum"] }' >"$WORK/$label.result"
	awk -v n="$n" -v ms="$ms" 'BEGIN { printf "%.0f\n", n / (ms / 1000) }'
}

declare -A RATES ALIGN
# name, its baseline, parallelism, records, options. RocksDB does about 0.2 M rec/s on this
# pipeline (a get and a put per record), so its pair runs a tenth of the records.
NR=$(awk -v n="$(numfmt --from=si "$(tr a-z A-Z <<<"$N")")" 'BEGIN { printf "%.0f", n / 10 }')
CASES=("p1-hashmap off1 1 $N -D state.backend.type=hashmap"
	"p1-rocksdb offr 1 $NR -D state.backend.type=rocksdb"
	"p2-hashmap off2 2 $N -D state.backend.type=hashmap")
for ((r = 1; r <= ROUNDS; r++)); do
	RATES[off1]+="$(run_p1 off1-$r 1) "
	RATES[off2]+="$(run_p1 off2-$r 2) "
	RATES[offr]+="$(RUN_N=$NR run_p1 offr-$r 1 -D state.backend.type=rocksdb) "
	for c in "${CASES[@]}"; do
		read -r name base p n opts <<<"$c"
		# shellcheck disable=SC2086 # opts is a list of words
		RATES[$name]+="$(RUN_N=$n run_p1 "$name-$r" "$p" "${CKPT[@]}" $opts) "
		ALIGN[$name]+="$(cat "$WORK/$name-$r.align") "
		cmp -s "$WORK/$base-$r.result" "$WORK/$name-$r.result" ||
			die "$name-$r: results differ from the run without checkpoints: $(cat "$WORK/$name-$r.result") vs $(cat "$WORK/$base-$r.result")"
	done
done

row() {
	local name=$1 basename=$2 med base
	med=$(tr ' ' '\n' <<<"${RATES[$name]}" | grep . | median)
	base=$(tr ' ' '\n' <<<"${RATES[$basename]}" | grep . | median)
	local j=$WORK/$name-$ROUNDS.ckpt.json
	local cnt e2e align
	cnt=$(jq -r .counts.completed "$j")
	e2e=$(jq -r '[.history[] | select(.status == "COMPLETED") | .end_to_end_duration] | sort | if length == 0 then "-" else .[length / 2 | floor] end' "$j")
	align=$(tr ' ' '\n' <<<"${ALIGN[$name]}" | grep . | sort -g | tail -n 1)
	awk -v b="$name" -v m="$med" -v base="$base" -v c="$cnt" -v e="$e2e" -v a="$align" \
		'BEGIN { printf "| P1 K=10k, %s | %.2f M | %.2f M | %.3f | %s | %s ms | %s ms |\n", b, m / 1e6, base / 1e6, m / base, c, e, a }'
}

# ---- recovery ---------------------------------------------------------------------------

start_tm tm-b 4
deadline_wait 20 "8 free slots" slots_free 8
RECOVERY=()
for ((k = 1; k <= KILLS; k++)); do
	"$SPATE" run -d -m "$REST" -p 1 "${CKPT[@]}" -D execution.checkpointing.interval=500ms \
		"$P1" 1000000000 10k >"$WORK/rec-$k.out" 2>"$WORK/rec-$k.err" ||
		die "recovery job failed to start: $(tail -n 3 "$WORK/rec-$k.err")"
	id=$(sed -n 's/^Job has been submitted with JobID \([0-9a-f]*\)$/\1/p' "$WORK/rec-$k.out")
	all_running() {
		curl -sf "http://$REST/jobs/$id" | jq -e '.state == "RUNNING" and ([.vertices[].status] | all(. == "RUNNING"))' >/dev/null
	}
	one_checkpoint() { [[ $(curl -sf "http://$REST/jobs/$id/checkpoints" | jq -r .counts.completed) -ge 1 ]]; }
	deadline_wait 60 "job $id running" all_running
	deadline_wait 60 "a completed checkpoint" one_checkpoint
	tm=$(curl -sf "http://$REST/jobs/$id/vertices/$(curl -sf "http://$REST/jobs/$id" | jq -r '.vertices[0].id')" |
		jq -r '.subtasks[0]."taskmanager-id"')
	[[ -n ${TM_PID[$tm]:-} ]] || die "cannot tell which TaskManager runs the job ($tm)"
	t0=$(date +%s%N)
	kill -9 "${TM_PID[$tm]}"
	wait "${TM_PID[$tm]}" 2>/dev/null || true
	not_running() { ! all_running; }
	deadline_wait 10 "the job to notice the loss" not_running
	deadline_wait 60 "all tasks RUNNING again" all_running
	t1=$(date +%s%N)
	RECOVERY+=($(((t1 - t0) / 1000000)))
	curl -sf -X PATCH "http://$REST/jobs/$id?mode=cancel" >/dev/null
	start_tm "$tm" 4 # a fresh TaskManager under the same name
	deadline_wait 30 "8 free slots" slots_free 8
done

if ((SMOKE)); then
	echo "bench checkpoint smoke: results agree with and without checkpoints; recovery ran (${RECOVERY[*]} ms)"
	exit 0
fi
OUT=$SRC/bench/results/checkpoint.md
{
	echo "Checkpoint cost and recovery, $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo '?'), $ROUNDS rounds (medians), N = $N"
	echo "Machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"
	echo
	echo "| workload | with checkpoints every 1 s | without | ratio | checkpoints (last round) | median end-to-end | longest alignment (any subtask, any round) |"
	echo "|---|---|---|---|---|---|---|"
	row p1-hashmap off1
	row p1-rocksdb offr
	row p2-hashmap off2
	echo
	echo "Recovery after kill -9 of the TaskManager running the job (spare slots on another TaskManager, default restart strategy: exponential-delay, 1 s initial backoff): ${RECOVERY[*]} ms (kill to every task RUNNING)."
} >"$OUT"
cat "$OUT"
