#!/usr/bin/env bash
# Backpressure: a generator that can produce rows far faster than a sleeping sink consumes
# them pushes several times more bytes than the memory bound through a rebalance exchange.
# With bounded buffer pools the producer is slowed down instead of queueing: the process's
# peak RSS (wait4's ru_maxrss, via tests/tools/maxrss) stays under the bound, and the sink
# still sees every row exactly once (it checks count and id sum itself).
. "$(dirname "$0")/lib.sh"

require_file "$JOBS/slow_sink.so" "$TOOLS/maxrss"

ROWS=${SPATE_BP_ROWS:-1000000}
PAYLOAD=400            # bytes of payload per row
SLEEP_US=1000          # the sink sleeps 1 ms ...
EVERY=100              # ... every 100 rows: at most ~100k rows/s
BOUND_MIB=100
case "$SPATE_BUILD" in
*asan*)
	# ASan keeps freed memory in quarantine (256 MiB by default): keep that small so the
	# same bound holds.
	export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=16"
	;;
esac
total_bytes=$((ROWS * PAYLOAD))
# Far more data than the buffer pools (a few MiB) and than the bound of an uninstrumented
# build: a process that buffered it would blow the bound.
[ "$total_bytes" -gt $((300 * 1024 * 1024)) ] ||
	fail "the test pushes only $total_bytes bytes: not much more than the memory bound"

RC=0
start=$SECONDS
timeout -k 5 "$CMD_TIMEOUT" "$TOOLS/maxrss" "$TMP/rss" "$SPATE" run -D log.level=warn \
	"$JOBS/slow_sink.so" --count "$ROWS" --payload "$PAYLOAD" --sleep-us "$SLEEP_US" \
	--every "$EVERY" >"$TMP/bp.out" 2>"$TMP/bp.err" || RC=$?
elapsed=$((SECONDS - start))
[ "$RC" -ne 124 ] || fail "the slow-sink job did not finish within ${CMD_TIMEOUT}s"
expect_rc bp 0
check_run_frame bp
grep -qx "slow-sink: rows=$ROWS bytes=$total_bytes" "$TMP/bp.out" ||
	{ show "$TMP/bp.out"; fail "the sink did not report rows=$ROWS bytes=$total_bytes"; }

rss_kib=$(cat "$TMP/rss")
note "pushed $total_bytes payload bytes in ${elapsed}s; peak RSS $((rss_kib / 1024)) MiB (bound $BOUND_MIB MiB)"
[ "$rss_kib" -gt 0 ] || fail "no peak RSS measured"
[ "$rss_kib" -lt $((BOUND_MIB * 1024)) ] ||
	fail "peak RSS $((rss_kib / 1024)) MiB is above $BOUND_MIB MiB: the slow sink did not hold the source back"
