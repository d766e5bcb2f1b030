#!/usr/bin/env bash
# Buffer timeout: rows that do not fill a 32 KiB buffer still reach the next task while the
# stream is open, flushed every execution.buffer-timeout.interval. A socket source reads a
# few lines from a line server that then keeps the connection open; a sink in another task
# (tests/jobs/flush_probe) creates a marker file once it has seen them all, and only then
# does the server close the stream. Without flushing (buffer-timeout.enabled: false) the
# rows wait in the partly filled buffer until end of input, and the marker never appears
# while the stream is open.
. "$(dirname "$0")/lib.sh"

require_file "$JOBS/flush_probe.so" "$TOOLS/line_server"

seq 1 40 | awk '{ print "line " $1 }' >"$TMP/lines"

# probe NAME HOLD_SECONDS SPATE-OPTIONS...: runs the probe; SERVER_RC is the line server's
# status (0: the marker appeared while the stream was open, 3: it did not).
probe() {
	local name=$1 hold=$2
	shift 2
	local marker="$TMP/$name.marker"
	timeout 120 "$TOOLS/line_server" "$TMP/lines" --hold-until "$marker" "$hold" \
		>"$TMP/$name.port" 2>"$TMP/$name.server" &
	local server=$!
	BG_PIDS+=("$server")
	poll_until 10 grep -q '^[0-9][0-9]*$' "$TMP/$name.port" || fail "$name: line_server did not report its port"
	run_spate "$name" run "$@" "$JOBS/flush_probe.so" --port "$(head -n 1 "$TMP/$name.port")" \
		--expect 40 --marker "$marker"
	SERVER_RC=0
	wait "$server" || SERVER_RC=$?
}

start=$SECONDS
probe default 30
expect_rc default 0
[ "$SERVER_RC" -eq 0 ] || { cat "$TMP/default.server" >&2; fail "default: the sink did not see the rows while the stream was open (no buffer timeout flush)"; }
note "default buffer timeout: rows flushed, run took $((SECONDS - start))s"

probe per_row 30 -D execution.buffer-timeout.interval=0
expect_rc per_row 0
[ "$SERVER_RC" -eq 0 ] || fail "interval 0: rows were not flushed while the stream was open"

# The control: with flushing disabled the rows are held until the end of input, so the
# server gives up waiting (after 2 s) and closes; then the job finishes normally.
probe disabled 2 -D execution.buffer-timeout.enabled=false
expect_rc disabled 0
[ "$SERVER_RC" -eq 3 ] || fail "buffer-timeout.enabled=false: rows reached the sink before end of input (server status $SERVER_RC)"
[ -e "$TMP/disabled.marker" ] || fail "buffer-timeout.enabled=false: the sink never saw all rows"

# Interval 0 with a source that never goes idle: an unbounded generator whose chained filter
# passes only its first 10 rows, so the rows after the first wait in a partly filled buffer
# while the source keeps running. They must reach the sink task while the job runs: the
# job is unbounded, so without the hand-over they would never arrive.
"$SPATE" run -D execution.buffer-timeout.interval=0 "$JOBS/flush_probe.so" --busy \
	--expect 10 --marker "$TMP/busy.marker" >"$TMP/busy.out" 2>"$TMP/busy.err" </dev/null &
BG_PIDS+=($!)
poll_until 30 test -e "$TMP/busy.marker" ||
	fail "interval 0, busy source: the sink did not see its 10 rows while the source ran ($(tail -n 2 "$TMP/busy.err"))"
note "interval 0, busy source: held rows handed over while the source runs"
