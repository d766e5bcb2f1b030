# ckpt_lib.sh - helpers for the checkpoint tests (sourced after lib.sh and cluster_lib.sh):
# reading a job's checkpoint statistics and subtasks over REST, killing the TaskManager
# that runs a job's tasks, measuring the recovery, and the oracles of the ckpt_* job
# libraries (tests/jobs/ckpt_sequence.c and ckpt_fail_once.c), computed by awk.

# A restart strategy that retries quickly, for jobs that are made to fail on purpose.
FAST_RESTART=(-D restart-strategy.type=fixed-delay -D restart-strategy.fixed-delay.attempts=10
	-D restart-strategy.fixed-delay.delay=100ms)

# Sanitizer builds run several times slower: jobs that must outlive a series of failures get
# proportionally more rows (the rate is wall-clock, the work around it is not).
case "$SPATE_BUILD" in
*asan* | *tsan*) CKPT_SLOW=3 ;;
*) CKPT_SLOW=1 ;;
esac

# ckpt_json JOB: GET /jobs/JOB/checkpoints.
ckpt_json() {
	rest_get "/jobs/$1/checkpoints"
}

# ckpt_completed JOB: counts.completed (0 when the endpoint has no number yet).
ckpt_completed() {
	local n
	n=$(ckpt_json "$1" 2>/dev/null | jq -r '.counts.completed // 0' 2>/dev/null) || n=0
	[[ "$n" =~ ^[0-9]+$ ]] || n=0
	echo "$n"
}

ckpt_completed_gt() {
	[ "$(ckpt_completed "$1")" -gt "$2" ]
}

# wait_ckpt_gt SECS JOB N: waits until more than N checkpoints of JOB have completed; fails
# the test after SECS (or when the job ended first).
wait_ckpt_gt() {
	local secs=$1 job=$2 n=$3
	local deadline=$((SECONDS + secs)) st
	until ckpt_completed_gt "$job" "$n"; do
		st=$(job_state "$job")
		case "$st" in
		FINISHED | FAILED | CANCELED)
			cluster_dump
			fail "job $job ended ($st) while waiting for checkpoint $((n + 1)) to complete"
			;;
		esac
		if [ "$SECONDS" -ge "$deadline" ]; then
			ckpt_json "$job" | jq -c '{counts, latest: {failed: .latest.failed}}' >&2 || true
			cluster_dump
			fail "timed out after ${secs}s waiting for more than $n completed checkpoints of job $job"
		fi
		sleep 0.02
	done
}

# ckpt_latest_path JOB / ckpt_latest_id JOB: latest.completed.{external_path,id}.
ckpt_latest_path() {
	ckpt_json "$1" | jq -r '.latest.completed.external_path // empty'
}
ckpt_latest_id() {
	ckpt_json "$1" | jq -r '.latest.completed.id // empty'
}

# job_state JOB: the job's status (or "?" when REST does not answer).
job_state() {
	rest_get "/jobs/$1/status" 2>/dev/null | jq -r '.status // "?"' 2>/dev/null || echo "?"
}

# wait_job_state SECS JOB STATE: fails after SECS, or at once when the job reached another
# terminal state.
wait_job_state() {
	local secs=$1 job=$2 want=$3
	local deadline=$((SECONDS + secs)) st
	while :; do
		st=$(job_state "$job")
		[ "$st" = "$want" ] && return 0
		case "$st" in
		FINISHED | FAILED | CANCELED)
			rest_get "/jobs/$job/exceptions" 2>/dev/null | jq -c '.exceptionHistory.entries[0] | {exceptionName, stacktrace, taskName}' >&2 || true
			cluster_dump
			fail "job $job ended $st, expected $want"
			;;
		esac
		if [ "$SECONDS" -ge "$deadline" ]; then
			cluster_dump
			fail "timed out after ${secs}s waiting for job $job to be $want (it is $st)"
		fi
		sleep 0.05
	done
}

# job_vertex_ids JOB: the job's vertex ids, one a line.
job_vertex_ids() {
	rest_get "/jobs/$1" | jq -r '.vertices[].id'
}

# job_subtasks JOB: "<vertex> <subtask> <status> <attempt> <taskmanager-id>" per subtask.
job_subtasks() {
	local v
	for v in $(job_vertex_ids "$1"); do
		rest_get "/jobs/$1/vertices/$v" |
			jq -r --arg v "$v" '.subtasks[] | "\($v) \(.subtask) \(.status) \(.attempt) \(.["taskmanager-id"])"'
	done
}

# job_tms JOB: the TaskManager ids that run RUNNING subtasks of the job, sorted, one a line.
job_tms() {
	job_subtasks "$1" | awk '$3 == "RUNNING" { print $5 }' | sort -u
}

# job_all_running JOB: the job is RUNNING and so is every subtask of every vertex.
job_all_running() {
	rest_get "/jobs/$1" | jq -e '.state == "RUNNING" and
		([.vertices[] | (.tasks.RUNNING // 0) == .parallelism] | all)' >/dev/null
}

# job_max_attempt JOB / job_min_attempt JOB: over all subtasks.
job_max_attempt() {
	job_subtasks "$1" | awk 'BEGIN { m = -1 } $4 > m { m = $4 } END { print m }'
}
job_min_attempt() {
	job_subtasks "$1" | awk 'BEGIN { m = -1 } m < 0 || $4 < m { m = $4 } END { print m }'
}

# tm_index ID: "tm-3" -> 3 (cluster_lib names TaskManager N "tm-N").
tm_index() {
	[[ "$1" =~ ^tm-([0-9]+)$ ]] || fail "unexpected TaskManager id '$1'"
	echo "${BASH_REMATCH[1]}"
}

# now_ms: wall-clock milliseconds.
now_ms() {
	echo $(($(date +%s%N) / 1000000))
}

KILLED_TM=
# kill_job_tm JOB: kill -9 of a TaskManager that runs subtasks of JOB (the first by id);
# sets KILLED_TM ("tm-N") and KILL_MS (when).
kill_job_tm() {
	local tms
	tms=$(job_tms "$1")
	[ -n "$tms" ] || { cluster_dump; fail "no TaskManager runs subtasks of job $1"; }
	KILLED_TM=$(head -n 1 <<<"$tms")
	local idx pid
	idx=$(tm_index "$KILLED_TM")
	pid=${TM_PIDS[$idx]}
	kill -0 "$pid" 2>/dev/null || fail "$KILLED_TM (pid $pid) runs subtasks of job $1 but is not alive"
	KILL_MS=$(now_ms)
	kill -9 "$pid"
}

RECOVERY_MS=
# wait_recovered SECS JOB OLD_MAX_ATTEMPT: polls /jobs/JOB every ~20 ms until the job and
# every subtask are RUNNING again after a failure: either a not-all-running state was seen
# first, or every subtask's attempt is past OLD_MAX_ATTEMPT (a restart faster than one
# poll). Sets RECOVERY_MS = now - KILL_MS.
wait_recovered() {
	local secs=$1 job=$2 old=$3
	local deadline=$((SECONDS + secs)) seen_down=0 t
	while :; do
		if job_all_running "$job"; then
			t=$(now_ms)
			if [ "$seen_down" -eq 1 ] || [ "$(job_min_attempt "$job")" -gt "$old" ]; then
				RECOVERY_MS=$((t - KILL_MS))
				return 0
			fi
		else
			seen_down=1
			case "$(job_state "$job")" in
			FINISHED | FAILED | CANCELED)
				rest_get "/jobs/$job/exceptions" | jq -c '.exceptionHistory.entries[0] | {stacktrace}' >&2 || true
				cluster_dump
				fail "job $job ended ($(job_state "$job")) instead of recovering"
				;;
			esac
		fi
		if [ "$SECONDS" -ge "$deadline" ]; then
			job_subtasks "$job" >&2 || true
			cluster_dump
			fail "job $job did not recover within ${secs}s (all subtasks RUNNING again)"
		fi
		sleep 0.02
	done
}

# logs_have PATTERN: some daemon log (or stdout) matches the extended regex PATTERN.
logs_have() {
	grep -Eq -- "$1" "$CL_DIR"/*.log "$CL_DIR"/*.out 2>/dev/null
}

# logs_show PATTERN: the matching daemon log lines (at most 10), for reports.
logs_show() {
	grep -hE -- "$1" "$CL_DIR"/*.log "$CL_DIR"/*.out 2>/dev/null | head -n 10 >&2 || true
}

# expect_daemons_alive: the JobManager and every TaskManager not killed on purpose still run.
# Arguments: the indexes of TaskManagers killed on purpose.
expect_daemons_alive() {
	kill -0 "$JM_PID" 2>/dev/null || { cluster_dump; fail "the JobManager died"; }
	local i skip k
	for i in "${!TM_PIDS[@]}"; do
		skip=0
		for k in "$@"; do [ "$k" = "$i" ] && skip=1; done
		[ "$skip" -eq 1 ] && continue
		kill -0 "${TM_PIDS[$i]}" 2>/dev/null || { cluster_dump; fail "tm-$i died"; }
	done
}

# committed_lines DIR: every line of the file sink's committed files (part-*, never the
# dot-named in-progress or pending ones).
committed_lines() {
	local f
	for f in "$1"/part-*; do
		[ -f "$f" ] && cat "$f"
	done
	return 0
}

# ---- oracles -------------------------------------------------------------------------

# oracle_seq K M: "key,seq" for every key 0..K-1 and seq 0..M-1, sorted.
oracle_seq() {
	awk -v k="$1" -v m="$2" 'BEGIN { for (i = 0; i < k; i++) for (s = 0; s < m; s++) print i "," s }' | sort
}

# oracle_rolling K M: "key,count,sum" for every rolling update of ckpt_fail_once (value of
# seq s of key k is (31k + 7s) % 1000), sorted.
oracle_rolling() {
	awk -v k="$1" -v m="$2" 'BEGIN {
		for (i = 0; i < k; i++) { sum = 0
			for (s = 0; s < m; s++) { sum += (31 * i + 7 * s) % 1000; print i "," s + 1 "," sum } }
	}' | sort
}

# multiset_report EXPECTED ACTUAL: prints "missing=<n> duplicates=<n> unexpected=<n>" for
# two sorted files of lines (the expected lines are distinct).
multiset_report() {
	awk 'NR == FNR { want[$0] = 1; next }
	     { seen[$0]++ }
	     END {
		for (l in want) if (!(l in seen)) missing++
		for (l in seen) { if (!(l in want)) unexpected += seen[l]; else if (seen[l] > 1) dup += seen[l] - 1 }
		printf "missing=%d duplicates=%d unexpected=%d\n", missing, dup, unexpected
	     }' "$1" "$2"
}

# corrupt_flip FILE: flips every bit of the file's first byte (its magic).
corrupt_flip() {
	local b
	b=$(od -An -tu1 -N1 "$1" | tr -d ' ')
	# shellcheck disable=SC2059 # the format is the byte's octal escape
	printf "$(printf '\\%03o' $((255 - b)))" | dd of="$1" bs=1 seek=0 count=1 conv=notrunc status=none
}

# corrupt_truncate FILE: keeps the first half of the file.
corrupt_truncate() {
	local n
	n=$(stat -c %s "$1")
	truncate -s $((n / 2)) "$1"
}
