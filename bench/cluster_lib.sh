# shellcheck shell=bash
# cluster_lib.sh - helpers shared by the benchmark scripts that run a session cluster
# (checkpoint.sh, cluster.sh). Source it after setting SCRIPT (the name in messages) and
# PIDS=() (children to kill on exit).

# die MESSAGE...: one line naming the script, then exit 1.
die() {
	echo "$SCRIPT: $*" >&2
	exit 1
}

# deadline_wait SECONDS WHAT CMD...: polls CMD every 10 ms until it succeeds.
deadline_wait() {
	local secs=$1 what=$2
	shift 2
	local end=$((SECONDS + secs))
	until "$@"; do
		((SECONDS < end)) || die "timed out after ${secs}s waiting for $what"
		sleep 0.01
	done
}

# kill_children: kill -9 and reap every pid in PIDS.
kill_children() {
	local p
	for p in "${PIDS[@]}"; do
		kill -9 "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
}

# median: the median of the numbers on stdin, one per line.
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
