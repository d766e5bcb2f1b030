#!/usr/bin/env bash
# 50 submissions of the same small job in a row leave the TaskManager flat: its resident
# set grows by at most 2 MiB (4 under TSan) between run 10 (after warm-up: allocator arenas, thread
# stacks) and run 50, no job library stays mapped (each is dlclose'd) or on disk in its
# work directory, and the JobManager's blob store holds the library once.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster_lib.sh"

require_file "$JOBS/cluster_probe.so"
case "$SPATE_BUILD" in
*asan*)
	# ASan keeps freed memory in a quarantine (256 MiB by default), which grows the RSS
	# with every run whether or not anything leaks: turn it off for the daemons.
	export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0:thread_local_quarantine_size_kb=0"
	;;
esac
LIMIT_KB=2048
case "$SPATE_BUILD" in
*tsan*)
	# Under TSan the TaskManager grows by about 2.5 MiB over runs 11..50 (its allocator and
	# shadow memory; the plain build grows by 12 KiB and LeakSanitizer finds nothing):
	# the TSan build checks for runaway growth only.
	LIMIT_KB=4096
	;;
esac
cluster_start 1 2
TM=${TM_PIDS[0]}
RUNS=50
WARMUP=10

# job_libs_mapped PID: lines of the process's maps naming a job library file.
job_libs_mapped() {
	grep -c 'job-[0-9a-f]*\.so' "/proc/$1/maps" || true
}

# The TaskManager's work directory (/tmp/spate-taskmanager-XXXXXX, where it writes the job
# libraries it fetches): seen in its memory maps while a job runs.
submit_detached probe -p 2 "$JOBS/cluster_probe.so" --n -1 --rate 1000
wait_until 30 "job $JOB_ID RUNNING" job_status_is "$JOB_ID" RUNNING
wait_until 30 "the job library of $JOB_ID mapped by the TaskManager" \
	grep -q "/job-$JOB_ID\.so" "/proc/$TM/maps"
WORK_DIR=$(grep -o "/[^ ]*/job-$JOB_ID\.so" "/proc/$TM/maps" | head -n 1)
WORK_DIR=${WORK_DIR%/*}
[[ "$WORK_DIR" == /tmp/spate-taskmanager-* ]] && [ -d "$WORK_DIR" ] ||
	fail "unexpected TaskManager work directory '$WORK_DIR'"
note "TaskManager work directory: $WORK_DIR"
run_spate cancel cancel -m "$REST" "$JOB_ID"
expect_rc cancel 0
wait_until 30 "2 free slots after the cancel" overview_is slots-available 2

rss_warm=
for ((i = 1; i <= RUNS; i++)); do
	run_spate "j$i" run -m "$REST" -p 2 "$JOBS/cluster_probe.so" --n 20000 --k 10 --pad 64
	expect_rc "j$i" 0
	check_run_frame "j$i"
	if [ "$i" -eq "$WARMUP" ] || [ "$i" -eq "$RUNS" ]; then
		wait_until 30 "2 free slots after run $i" overview_is slots-available 2
		# The slots are free once the TaskManager released the job; its job thread unmaps
		# the library just before, so poll for the mapping to go too.
		wait_until 30 "no job library mapped after run $i" test "$(job_libs_mapped "$TM")" -eq 0
		rss=$(rss_kb "$TM")
		[[ "$rss" =~ ^[0-9]+$ ]] || fail "cannot read the TaskManager's RSS (pid $TM)"
		note "TaskManager RSS after run $i: $rss KiB (peak $(hwm_kb "$TM") KiB)"
		if [ "$i" -eq "$WARMUP" ]; then
			rss_warm=$rss
		fi
	fi
done
rss_end=$(rss_kb "$TM")
growth=$((rss_end - rss_warm))
note "RSS after run $WARMUP: $rss_warm KiB, after run $RUNS: $rss_end KiB, growth $growth KiB (limit $LIMIT_KB)"
[ "$growth" -le "$LIMIT_KB" ] ||
	fail "the TaskManager's RSS grew by $growth KiB over runs $((WARMUP + 1))..$RUNS ($rss_warm -> $rss_end KiB), more than $LIMIT_KB KiB"

kill -0 "$TM" 2>/dev/null || fail "the TaskManager died"
kill -0 "$JM_PID" 2>/dev/null || fail "the JobManager died"

# No job library left mapped (dlclose'd), open, or on disk in the work directory.
[ "$(job_libs_mapped "$TM")" -eq 0 ] || {
	grep 'job-[0-9a-f]*\.so' "/proc/$TM/maps" >&2
	fail "job libraries are still mapped by the TaskManager after $RUNS runs"
}
[ -d "$WORK_DIR" ] || fail "the TaskManager's work directory $WORK_DIR is gone while it runs"
leftover=$(ls -A "$WORK_DIR")
[ -z "$leftover" ] || fail "leftover files in the TaskManager's work directory $WORK_DIR: $leftover"
for fd in "/proc/$TM/fd"/*; do
	target=$(readlink "$fd" 2>/dev/null || true)
	case "$target" in
	*/job-*.so*) fail "the TaskManager still holds a job library open: $fd -> $target" ;;
	esac
done

# The blob store holds the library once: 50 identical uploads, one content-addressed blob.
shopt -s nullglob
stores=("$CL_DIR"/blobs/blobStore-*)
[ "${#stores[@]}" -eq 1 ] || fail "expected one blob store directory under $CL_DIR/blobs, found ${#stores[@]}"
nblobs=$(find "${stores[0]}" -maxdepth 1 -type f | grep -Ec '/[0-9a-f]{32}$' || true)
nother=$(find "${stores[0]}" -maxdepth 1 -type f | grep -Evc '/[0-9a-f]{32}$' || true)
[ "$nblobs" -eq 1 ] || { ls -la "${stores[0]}" >&2; fail "expected 1 blob for $RUNS identical submissions, found $nblobs"; }
[ "$nother" -eq 0 ] || { ls -la "${stores[0]}" >&2; fail "the blob store holds $nother other files (temporary leftovers?)"; }
# It is the library's bytes.
blob=$(find "${stores[0]}" -maxdepth 1 -type f | grep -E '/[0-9a-f]{32}$')
cmp -s "$blob" "$JOBS/cluster_probe.so" || fail "the stored blob differs from cluster_probe.so"

# The TaskManager stops cleanly on SIGTERM (under ASan, LeakSanitizer checks it at exit).
# exited PID: the process is gone or a zombie (a child of this shell until `wait`).
exited() {
	[ ! -r "/proc/$1/stat" ] || [ "$(sed -E 's/^.*\) ([A-Z]).*$/\1/' "/proc/$1/stat")" = Z ]
}
kill -TERM "$TM"
wait_until 60 "the TaskManager to exit on SIGTERM" exited "$TM"
rc=0
wait "$TM" || rc=$?
keep=()
for pid in "${BG_PIDS[@]}"; do
	[ "$pid" = "$TM" ] || keep+=("$pid")
done
BG_PIDS=("${keep[@]}") # reaped: the cleanup must not signal its pid again
[ "$rc" -eq 0 ] || { cluster_dump; fail "the TaskManager exited with status $rc on SIGTERM"; }
if grep -Eq 'ERROR: (LeakSanitizer|AddressSanitizer)|WARNING: ThreadSanitizer' "$CL_DIR/taskmanager-0.log"; then
	grep -E -A 30 'ERROR: (LeakSanitizer|AddressSanitizer)|WARNING: ThreadSanitizer' "$CL_DIR/taskmanager-0.log" | head -n 60 >&2
	fail "the sanitizer reported a problem in the TaskManager"
fi
[ ! -e "$WORK_DIR" ] || fail "the TaskManager left its work directory $WORK_DIR behind"
