#!/usr/bin/env bash
# Buffer timeout across TaskManagers: a socket source on one TaskManager, the sink in its
# own slot sharing group on the other (one slot each), so every row crosses a remote channel.
# Rows that do not fill a 32 KiB buffer reach the sink while the stream is still open
# (flushed by execution.buffer-timeout.interval and sent at once over the data connection);
# with flushing disabled they wait for end of input. See test_buffer_timeout.sh for the probe.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster_lib.sh"

require_file "$JOBS/flush_probe.so" "$TOOLS/line_server"
cluster_start 2 1
seq 1 40 | awk '{ print "line " $1 }' >"$TMP/lines"

probe() {
	local name=$1 hold=$2
	shift 2
	local marker="$TMP/$name.marker"
	timeout 120 "$TOOLS/line_server" "$TMP/lines" --hold-until "$marker" "$hold" \
		>"$TMP/$name.port" 2>"$TMP/$name.server" &
	local server=$!
	BG_PIDS+=("$server")
	wait_until 10 "$name: line_server's port" grep -q '^[0-9][0-9]*$' "$TMP/$name.port"
	run_spate "$name" run -m "$REST" "$@" "$JOBS/flush_probe.so" --port "$(head -n 1 "$TMP/$name.port")" \
		--expect 40 --marker "$marker" --sink-group sink
	SERVER_RC=0
	wait "$server" || SERVER_RC=$?
	expect_rc "$name" 0
	# source and sink ran in different TaskManagers
	grep -q "Running 1 subtasks of job FlushProbe" "$CL_DIR/taskmanager-0.log" &&
		grep -q "Running 1 subtasks of job FlushProbe" "$CL_DIR/taskmanager-1.log" ||
		fail "$name: the source and the sink did not run in different TaskManagers"
	wait_until 30 "$name: slots free" overview_is slots-available 2
}

probe default 30
[ "$SERVER_RC" -eq 0 ] || fail "default: rows did not cross to the sink while the stream was open"
probe per_row 30 -D execution.buffer-timeout.interval=0
[ "$SERVER_RC" -eq 0 ] || fail "interval 0: rows did not cross while the stream was open"
probe disabled 2 -D execution.buffer-timeout.enabled=false
[ "$SERVER_RC" -eq 3 ] || fail "buffer-timeout.enabled=false: rows crossed before end of input (server status $SERVER_RC)"
[ -e "$TMP/disabled.marker" ] || fail "buffer-timeout.enabled=false: the sink never saw all rows"
cluster_finish
