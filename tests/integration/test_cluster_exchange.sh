#!/usr/bin/env bash
# Remote exchange: a keyed job across two TaskManagers (one slot each), so about half of
# its rows cross between the processes over TCP. More than 200 MB move, and the per-key
# results equal the oracle's. Then a slow consumer: memory stays bounded on both sides
# while several times that memory's worth of rows flows.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster_lib.sh"

require_file "$JOBS/cluster_probe.so"
cluster_start 2 1

# lo_bytes: bytes received on the loopback interface so far (all TCP between the
# processes; the REST polling adds a few KB).
lo_bytes() {
	awk -F'[: ]+' '$2 == "lo" { print $3 }' /proc/net/dev
}

N=1200000
K=1009
before=$(lo_bytes)
mkdir -p "$TMP/out"
run_spate big run -m "$REST" -p 2 "$JOBS/cluster_probe.so" --n $N --k $K --pad 400 --out "$TMP/out"
expect_rc big 0
moved=$(($(lo_bytes) - before))
note "loopback traffic during the job: $((moved / 1000000)) MB"
[ "$moved" -ge 200000000 ] || fail "only $moved bytes crossed between the TaskManagers"
for i in 0 1; do
	grep -q "Running 2 subtasks of job cluster-probe" "$CL_DIR/taskmanager-$i.log" ||
		fail "tm-$i did not run its share of the job"
done
cat "$TMP/out"/part-* | sort >"$TMP/actual"
probe_oracle $N $K >"$TMP/expected"
expect_same "$TMP/expected" "$TMP/actual" "per-key sums across two TaskManagers"
wait_until 30 "both slots free" overview_is slots-available 2

# Slow consumer: the sinks sleep 2 ms every 100 rows while the sources could go far faster.
base0=$(rss_kb "${TM_PIDS[0]}")
base1=$(rss_kb "${TM_PIDS[1]}")
N2=200000
mkdir -p "$TMP/slow"
run_spate slow run -m "$REST" -p 2 "$JOBS/cluster_probe.so" --n $N2 --k 101 --pad 1500 \
	--sleep-us 2000 --out "$TMP/slow"
expect_rc slow 0
cat "$TMP/slow"/part-* | sort >"$TMP/slow.actual"
probe_oracle $N2 101 >"$TMP/slow.expected"
expect_same "$TMP/slow.expected" "$TMP/slow.actual" "per-key sums with a slow consumer"
for i in 0 1; do
	pid=${TM_PIDS[$i]}
	base=$([ "$i" = 0 ] && echo "$base0" || echo "$base1")
	hwm=$(hwm_kb "$pid")
	note "tm-$i: RSS before $base KiB, peak $hwm KiB, while ~$((N2 * 1530 / 1000000)) MB flowed"
	# The rows generated (~300 MB) would not fit; bounded pools keep the peak far below.
	[ "$hwm" -lt $((base + 65536)) ] || fail "tm-$i peaked at $hwm KiB (started at $base KiB)"
done

cluster_finish
