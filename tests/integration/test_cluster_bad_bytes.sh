#!/usr/bin/env bash
# Bad bytes on the JobManager's RPC port and on a TaskManager's data port never take a daemon
# down: garbage, a frame announcing 4 GB, a truncated frame, an unknown message after a valid
# handshake, a handshake with another protocol version, and a peer that says nothing. For
# each the daemon closes the connection within a bound and logs a WARN line naming the
# problem; afterwards both daemons are alive, the cluster still has its TaskManager and
# slots, and a real job's output equals the oracle's.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster_lib.sh"

RAW="$TOOLS/raw_peer"
require_file "$RAW" "$JOBS/cluster_probe.so"
# heartbeat.timeout 3 s: the JobManager's handshake timeout is min(heartbeat.timeout, 10 s).
cluster_start 1 2 -D heartbeat.timeout=3000 -D heartbeat.interval=500
JM_LOG="$CL_DIR/jobmanager.log"
TM_LOG="$CL_DIR/taskmanager-0.log"

DATA_PORT=$(rest_get /taskmanagers | jq -r '.taskmanagers[0].dataPort')
# The TaskManager's own log line must agree with what the JobManager reports.
LOGGED_PORT=$(sed -nE 's/.*Starting TaskManager .* data port ([0-9]+) .*/\1/p' "$TM_LOG" | head -n 1)
[[ "$DATA_PORT" =~ ^[0-9]+$ ]] || fail "no data port in GET /taskmanagers: $(rest_get /taskmanagers)"
[ "$DATA_PORT" = "$LOGGED_PORT" ] ||
	fail "data port: /taskmanagers says $DATA_PORT, the TaskManager log says '$LOGGED_PORT'"
note "RPC port $RPC_PORT, data port $DATA_PORT"

# new_warn LOG FROM_LINE PATTERN: a WARN line after line FROM_LINE of LOG matches PATTERN.
new_warn() {
	tail -n +"$(($2 + 1))" "$1" | grep -Eq " WARN +\[[^]]*\] .*($3)"
}

# both_alive: neither daemon has exited.
both_alive() {
	kill -0 "$JM_PID" 2>/dev/null || { cluster_dump; fail "$1: the JobManager died"; }
	kill -0 "${TM_PIDS[0]}" 2>/dev/null || { cluster_dump; fail "$1: the TaskManager died"; }
}

PEER_MS=0
# bad_peer WHAT LOG PORT PATTERN [raw_peer args...]: a raw connection to PORT sends the
# bytes (with --half-close it then ends its sending side: the daemon reads end of stream);
# the daemon must close the connection within 15 s and log a WARN line matching PATTERN.
# Sets PEER_MS (how long the daemon took to close).
bad_peer() {
	local what=$1 log=$2 port=$3 pattern=$4
	shift 4
	local before rc=0 out
	before=$(wc -l <"$log")
	out=$(timeout -k 5 30 "$RAW" "$port" --timeout-ms 15000 "$@") || rc=$?
	case $rc in
	0) ;;
	3) cluster_dump; fail "$what: the daemon kept the connection open for 15 s ($out)" ;;
	*) fail "$what: raw_peer failed (exit $rc): $out" ;;
	esac
	PEER_MS=0
	if [[ "$out" =~ ^closed\ (eof|reset)\ after\ ([0-9]+)\ ms ]]; then
		PEER_MS=${BASH_REMATCH[2]}
	fi
	wait_until 20 "$what: a WARN line matching /$pattern/ in $(basename "$log")" \
		new_warn "$log" "$before" "$pattern"
	both_alive "$what"
	note "$what: $out; logged: $(tail -n +"$((before + 1))" "$log" |
		grep -E " WARN " | grep -Eo "($pattern).*" | head -n 1)"
}

# Random bytes: whatever they happen to say, the daemon must close the connection and say
# why (most often a frame length above the limit, else an undecodable or unexpected message).
head -c 4096 /dev/urandom >"$TMP/garbage"

# ---- the JobManager's RPC port ---------------------------------------------------------
RPC_CLOSE="Closing RPC connection from 127\\.0\\.0\\.1:[0-9]+: "
HELLO_V1="00 00 00 07 0a 05 08 01 12 01 78"  # Envelope{hello{version: 1, role: "x"}}
HELLO_V99="00 00 00 07 0a 05 08 63 12 01 78" # Envelope{hello{version: 99, role: "x"}}
UNKNOWN_FIELD="00 00 00 03 a0 06 01"         # Envelope with only field 100 = 1

bad_peer "rpc: random garbage" "$JM_LOG" "$RPC_PORT" "$RPC_CLOSE" --file "$TMP/garbage"
bad_peer "rpc: 4 GB frame header" "$JM_LOG" "$RPC_PORT" \
	"${RPC_CLOSE}frame length 4294967295 exceeds the limit" --hex "ff ff ff ff 01 02 03 04"
bad_peer "rpc: truncated frame" "$JM_LOG" "$RPC_PORT" "${RPC_CLOSE}truncated frame" \
	--hex "00 00 00 64 0a 05 08 01 12 01 78 78 78 78" --half-close
bad_peer "rpc: unknown message after a valid Hello" "$JM_LOG" "$RPC_PORT" \
	"${RPC_CLOSE}unknown message type" --hex "$HELLO_V1 $UNKNOWN_FIELD"
bad_peer "rpc: Hello with protocol version 99" "$JM_LOG" "$RPC_PORT" \
	"${RPC_CLOSE}protocol version 99 is not supported" --hex "$HELLO_V99"
bad_peer "rpc: empty frame after a valid Hello" "$JM_LOG" "$RPC_PORT" \
	"${RPC_CLOSE}(unknown message type|expected a registration)" --hex "$HELLO_V1 00 00 00 00"
bad_peer "rpc: silent peer" "$JM_LOG" "$RPC_PORT" "${RPC_CLOSE}no message within 3000 ms"
# The handshake timeout is 3 s: the close comes after it (not at once), and within 15 s.
[ "$PEER_MS" -ge 2500 ] || fail "rpc: silent peer closed after $PEER_MS ms, before the 3 s handshake timeout"

# ---- the TaskManager's data port -------------------------------------------------------
DATA_CLOSE="data connection from 127\\.0\\.0\\.1:[0-9]+ closed: "
D_HELLO="00 00 00 09 01 53 50 44 54 00 00 00 01"     # HELLO magic "SPDT" version 1
D_HELLO_V99="00 00 00 09 01 53 50 44 54 00 00 00 63" # version 99
D_BAD_MAGIC="00 00 00 09 01 de ad be ef 00 00 00 01"

bad_peer "data: random garbage" "$TM_LOG" "$DATA_PORT" "$DATA_CLOSE" --file "$TMP/garbage"
bad_peer "data: 4 GB frame header" "$TM_LOG" "$DATA_PORT" "${DATA_CLOSE}frame length too large" \
	--hex "$D_HELLO ff ff ff ff 02 00 00 00"
bad_peer "data: 4 GB frame header before the handshake" "$TM_LOG" "$DATA_PORT" \
	"${DATA_CLOSE}(frame length too large|expected handshake)" --hex "ff ff ff ff 01 00 00 00"
bad_peer "data: truncated frame" "$TM_LOG" "$DATA_PORT" "${DATA_CLOSE}truncated frame" \
	--hex "$D_HELLO 00 00 00 64 02 00 00 00 00 00 00 00 00 00" --half-close
bad_peer "data: unknown frame type after the handshake" "$TM_LOG" "$DATA_PORT" \
	"${DATA_CLOSE}unknown frame type" --hex "$D_HELLO 00 00 00 01 09"
bad_peer "data: credit for an unknown receiver" "$TM_LOG" "$DATA_PORT" \
	"${DATA_CLOSE}credit for unknown receiver 7" --hex "$D_HELLO 00 00 00 09 04 00 00 00 07 00 00 00 01"
bad_peer "data: handshake with protocol version 99" "$TM_LOG" "$DATA_PORT" \
	"${DATA_CLOSE}protocol version 99" --hex "$D_HELLO_V99"
bad_peer "data: handshake with a bad magic" "$TM_LOG" "$DATA_PORT" \
	"${DATA_CLOSE}bad handshake magic" --hex "$D_BAD_MAGIC"
bad_peer "data: silent peer" "$TM_LOG" "$DATA_PORT" "${DATA_CLOSE}no handshake within [0-9]+ ms"

# ---- the cluster is unharmed -----------------------------------------------------------
both_alive "after all bad peers"
[ "$(overview taskmanagers)" = 1 ] || fail "after the bad bytes /overview reports $(overview taskmanagers) TaskManagers, expected 1"
[ "$(overview slots-total)" = 2 ] || fail "after the bad bytes /overview reports $(overview slots-total) slots, expected 2"
wait_until 20 "2 free slots" overview_is slots-available 2
# The TaskManager never lost its registration (its connection is not one of the bad ones).
if grep -Eq "TaskManager tm-0 .* is lost" "$JM_LOG"; then
	cluster_dump
	fail "the TaskManager was unregistered while bad peers were served"
fi

mkdir -p "$TMP/ok"
run_spate ok run -m "$REST" -p 2 "$JOBS/cluster_probe.so" --n 100000 --k 50 --out "$TMP/ok"
expect_rc ok 0
cat "$TMP/ok"/part-* | sort >"$TMP/ok.actual"
probe_oracle 100000 50 >"$TMP/ok.expected"
expect_same "$TMP/ok.expected" "$TMP/ok.actual" "probe job after the bad bytes"
both_alive "after the job"
