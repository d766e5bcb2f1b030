# cluster_lib.sh - helpers for tests that run a real cluster: a JobManager and TaskManagers
# as separate processes talking TCP on 127.0.0.1 with ephemeral ports (sourced after
# lib.sh). Daemons run in the foreground of background jobs; their logs go to
# $CL_DIR/{jobmanager,taskmanager-N}.{log,out}. Every wait polls a condition in a bounded
# loop.

CL_DIR="$TMP/cluster"
# In ASan builds the daemons check for leaks when they shut down (see cluster_finish).
export LSAN_OPTIONS="suppressions=$SPATE_SRC/tests/integration/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
REST=
RPC_PORT=
JM_PID=
TM_PIDS=()

# wait_until SECONDS DESCRIPTION COMMAND...: polls COMMAND until it succeeds; fails the
# test after SECONDS.
wait_until() {
	local secs=$1 what=$2
	shift 2
	local deadline=$((SECONDS + secs))
	until "$@" >/dev/null 2>&1; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			cluster_dump
			fail "timed out after ${secs}s waiting for: $what"
		fi
		sleep 0.02
	done
}

# cluster_dump: the tail of every daemon log, for failure reports.
cluster_dump() {
	local f
	for f in "$CL_DIR"/*.log; do
		[ -f "$f" ] || continue
		echo "----- $f (last 30 lines) -----" >&2
		tail -n 30 "$f" >&2 || true
	done
}

# rest_get PATH: the JSON the JobManager answers for GET PATH.
rest_get() {
	curl -sf --max-time 10 "http://$REST$1"
}

# overview FIELD: one number from GET /overview.
overview() {
	rest_get /overview | jq -r ".\"$1\""
}

overview_is() {
	[ "$(overview "$1")" = "$2" ]
}

job_status_is() {
	[ "$(rest_get "/jobs/$1/status" | jq -r .status)" = "$2" ]
}

# jobmanager_start [-D k=v ...]: starts the JobManager and waits for its addresses.
jobmanager_start() {
	mkdir -p "$CL_DIR"
	rm -f "$CL_DIR/jobmanager.address"
	"$SPATE" jobmanager -D env.log.dir="$CL_DIR" -D rest.port=0 -D jobmanager.rpc.port=0 \
		-D rest.address=127.0.0.1 -D jobmanager.rpc.address=127.0.0.1 \
		-D blob.storage.directory="$CL_DIR/blobs" "$@" \
		>"$CL_DIR/jobmanager.out" 2>"$CL_DIR/jobmanager.log" </dev/null &
	JM_PID=$!
	BG_PIDS+=("$JM_PID")
	wait_until 20 "the JobManager's address file" test -s "$CL_DIR/jobmanager.address"
	REST=$(sed -n 's/^rest=//p' "$CL_DIR/jobmanager.address")
	RPC_PORT=$(sed -n 's/^rpc=.*://p' "$CL_DIR/jobmanager.address")
	[ -n "$REST" ] && [ -n "$RPC_PORT" ] || fail "bad address file: $(cat "$CL_DIR/jobmanager.address")"
}

# taskmanager_start SLOTS [-D k=v ...]: starts one more TaskManager; its pid is appended
# to TM_PIDS (index = its number).
taskmanager_start() {
	local slots=$1
	shift
	local n=${#TM_PIDS[@]}
	"$SPATE" taskmanager -D jobmanager.rpc.address=127.0.0.1 -D jobmanager.rpc.port="$RPC_PORT" \
		-D taskmanager.numberOfTaskSlots="$slots" -D taskmanager.host=127.0.0.1 \
		-D taskmanager.resource-id="tm-$n" -D metrics.reporter.prom.port=0 "$@" \
		>"$CL_DIR/taskmanager-$n.out" 2>"$CL_DIR/taskmanager-$n.log" </dev/null &
	TM_PIDS+=($!)
	BG_PIDS+=($!)
}

# cluster_start NTM SLOTS [-D k=v ...]: JobManager plus NTM TaskManagers with SLOTS slots
# each (the -D options go to every daemon); waits until all slots are registered.
cluster_start() {
	local ntm=$1 slots=$2
	shift 2
	jobmanager_start "$@"
	local i
	for ((i = 0; i < ntm; i++)); do
		taskmanager_start "$slots" "$@"
	done
	wait_until 20 "$ntm TaskManagers with $((ntm * slots)) slots" overview_is slots-total $((ntm * slots))
	wait_until 20 "$((ntm * slots)) free slots" overview_is slots-available $((ntm * slots))
}

# submit_detached NAME ARGS...: `spate run -d -m $REST ARGS...`; sets JOB_ID.
submit_detached() {
	local name=$1
	shift
	run_spate "$name" run -d -m "$REST" "$@"
	expect_rc "$name" 0
	local line
	line=$(head -n 1 "$TMP/$name.out")
	[[ "$line" =~ ^Job\ has\ been\ submitted\ with\ JobID\ ([0-9a-f]{32})$ ]] ||
		fail "$name: unexpected output: $line"
	JOB_ID=${BASH_REMATCH[1]}
}

# rss_kb PID: resident set size in KiB.
rss_kb() {
	awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}

# hwm_kb PID: peak resident set size in KiB.
hwm_kb() {
	awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"
}

# anon_kb PID: anonymous resident memory in KiB.
anon_kb() {
	awk '/^RssAnon:/ { print $2 }' "/proc/$1/status"
}

# probe_oracle N K: the "<key> <final running sum>" lines cluster_probe must write for N rows
# and K keys (key = i % K, value = i % 1000), sorted.
probe_oracle() {
	awk -v n="$1" -v k="$2" 'BEGIN { for (i = 0; i < n; i++) s[i % k] += i % 1000
	                                 for (key in s) print key, s[key] }' | sort
}

# cluster_finish: stops every daemon still running with SIGTERM (a clean shutdown), waits
# for each to exit, and fails if a daemon exited non-zero or its log shows a sanitizer
# report (ASan, LSan at exit, UBSan, TSan). Cluster tests call it last.
cluster_finish() {
	local pid i=0 rc bad=0
	for pid in "$JM_PID" "${TM_PIDS[@]}"; do
		[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${TM_PIDS[@]}" "$JM_PID"; do
		[ -n "$pid" ] || continue
		rc=0
		# bounded by the test's own timeout; a daemon that hangs on SIGTERM fails the test there
		wait "$pid" 2>/dev/null || rc=$?
		# 137/143 = killed by the test itself (kill -9 / SIGTERM before exit): not a shutdown failure
		if [ "$rc" -ne 0 ] && [ "$rc" -ne 137 ] && [ "$rc" -ne 143 ] && [ "$rc" -ne 127 ]; then
			note "daemon $pid exited with status $rc"
			bad=1
		fi
	done
	if grep -lE 'ERROR: (AddressSanitizer|LeakSanitizer)|WARNING: ThreadSanitizer|runtime error:' \
		"$CL_DIR"/*.log >/dev/null 2>&1; then
		grep -hE -A12 'ERROR: (AddressSanitizer|LeakSanitizer)|WARNING: ThreadSanitizer|runtime error:' \
			"$CL_DIR"/*.log | head -60 >&2
		fail "a daemon's log shows a sanitizer report"
	fi
	[ "$bad" -eq 0 ] || { cluster_dump; fail "a daemon did not shut down cleanly"; }
	JM_PID=
	TM_PIDS=()
}

# free_port: a TCP port nothing listens on now (a bounded random search), below the
# kernel's ephemeral range: a port in that range may be taken at any moment as the local
# port of some other test's outgoing connection, and then cannot be listened on.
free_port() {
	local p lo
	read -r lo _ </proc/sys/net/ipv4/ip_local_port_range
	((lo > 11000)) || lo=32768
	for p in $(seq 10000 37 $((lo - 1)) | shuf -n 40); do
		(echo >"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return 0; }
	done
	return 1
}
