#!/usr/bin/env bash
# `spate cluster start` succeeds only once the JobManager reports every slot it started
# (TaskManagers x taskmanager.numberOfTaskSlots), not as soon as the number of
# registered TaskManagers looks right. The setup makes the two differ for certain: a
# leftover one-slot TaskManager (started by the test before the cluster, pointed at the
# cluster's fixed RPC port; it retries until the JobManager is there) holds the data port
# the configuration gives the cluster's own two-slot TaskManager, which therefore cannot
# start. The JobManager then counts 1 TaskManager, as many as conf/workers names, but 1 of
# the 2 slots: the start must fail after its 15 s with one line saying so. Then, without
# the intruder, a start of 2 workers x 3 slots reports 6 slots, which /overview confirms
# at once.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster_lib.sh"

RPC=$(free_port) || fail "no free port for the JobManager"
DATA=$(free_port) || fail "no free port for the data plane"
[ "$RPC" != "$DATA" ] || DATA=$(free_port) || fail "no second free port"
[ "$RPC" != "$DATA" ] || fail "could not find two distinct free ports"

mkdir -p "$TMP/conf"
cat >"$TMP/conf/config.yaml" <<CFG
rest.port: 0
rest.address: 127.0.0.1
jobmanager.rpc.address: 127.0.0.1
jobmanager.rpc.port: $RPC
taskmanager.host: 127.0.0.1
taskmanager.numberOfTaskSlots: 2
taskmanager.data.port: $DATA
metrics.reporter.prom.port: 0
CFG
printf 'localhost\n' >"$TMP/conf/workers"
export SPATE_CONF_DIR="$TMP/conf"
export SPATE_LOG_DIR="$TMP/log"
mkdir -p "$SPATE_LOG_DIR"

# The daemons `cluster start` spawns are detached (setsid): stop them by the pids it wrote
# when the test ends, whatever happened.
stop_started() {
	local f pid
	for f in "$SPATE_LOG_DIR"/spate-jobmanager.pid "$SPATE_LOG_DIR"/spate-taskmanager.pid; do
		[ -f "$f" ] || continue
		while read -r pid; do
			[ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "^$SPATE " &&
				kill "$pid" 2>/dev/null || true
		done <"$f"
	done
	cleanup
}
trap stop_started EXIT

# The intruder: one slot, the data port the workers are configured with.
"$SPATE" taskmanager -D taskmanager.numberOfTaskSlots=1 -D taskmanager.resource-id=intruder \
	>"$TMP/intruder.out" 2>"$TMP/intruder.log" </dev/null &
INTRUDER=$!
BG_PIDS+=("$INTRUDER")
intruder_up() { grep -q "Starting TaskManager intruder with 1 task slots, data port $DATA" "$TMP/intruder.log"; }
poll_until 30 intruder_up || { show "$TMP/intruder.log"; fail "the intruding TaskManager did not start on data port $DATA"; }

run_spate short cluster start
expect_cli_error short "only 1 of 2 slots registered within 15 s \(1 TaskManagers x taskmanager\.numberOfTaskSlots 2\)" 1
grep -q '^Cluster started' "$TMP/short.out" && fail "cluster start reported success with a slot missing: $(tail -n 1 "$TMP/short.out")"
# It was the slots that were missing, not the TaskManager count: the JobManager knows 1
# TaskManager (the intruder) with 1 slot.
REST=$(sed -n 's/^rest=//p' "$SPATE_LOG_DIR/jobmanager.address")
[ -n "$REST" ] || fail "no REST address in $SPATE_LOG_DIR/jobmanager.address"
[ "$(overview taskmanagers)" = 1 ] && [ "$(overview slots-total)" = 1 ] ||
	fail "/overview: $(overview taskmanagers) TaskManagers, $(overview slots-total) slots; expected 1 and 1"
grep -q "Registering TaskManager with ResourceID intruder " "$SPATE_LOG_DIR"/spate-*-jobmanager-0-*.log ||
	fail "the JobManager's log does not show the intruder registering"

run_spate stop1 cluster stop
expect_rc stop1 0
kill "$INTRUDER"
wait "$INTRUDER" 2>/dev/null || true

# Without the intruder: 2 workers x 3 slots. The start line and /overview, read right after
# the start returned, both count all 6.
printf 'localhost\nlocalhost\n' >"$TMP/conf/workers"
sed -i -e '/^taskmanager.data.port:/d' -e 's/^jobmanager.rpc.port:.*/jobmanager.rpc.port: 0/' "$TMP/conf/config.yaml"
run_spate full cluster start -D taskmanager.numberOfTaskSlots=3
expect_rc full 0
last=$(tail -n 1 "$TMP/full.out")
re='^Cluster started in [0-9]+ ms: 1 JobManager, 2 TaskManagers, 6 slots\. REST endpoint: http://(127\.0\.0\.1:[0-9]+)$'
[[ "$last" =~ $re ]] || fail "cluster start: unexpected last line: $last"
REST=${BASH_REMATCH[1]}
[ "$(overview slots-total)" = 6 ] || fail "/overview right after the start: $(overview slots-total) slots, expected 6"
run_spate stop2 cluster stop
expect_rc stop2 0
