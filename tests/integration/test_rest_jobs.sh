#!/usr/bin/env bash
# The job-level REST endpoints (Flink's paths and JSON shapes) on a real cluster: 2
# TaskManagers x 3 slots.
#
#   - An endless probe job at -p 2 with probe-sum at 3 and the sink at 1: three job vertices
#     ("Source: probe-source" p2 -HASH-> "probe-sum" p3 -REBALANCE-> "Sink: probe-sink" p1),
#     6 subtasks. Every endpoint's shape is checked, and every value the test knows on its
#     own: vertex count, names, parallelism, subtask indexes and states, the TaskManager ids
#     and data ports /taskmanagers lists, plan node ids = vertex ids, the ship strategies,
#     the job parallelism, empty checkpoint statistics, 400s and 404s.
#   - Metrics: the I/O counters the TaskManagers report. Once the job is cancelled they stop
#     changing, and the numbers each endpoint gives (job details, vertex details, vertex
#     metrics, aggregated subtask metrics with min/max/avg/sum/skew) must agree with one
#     another and with jq/awk arithmetic on the per-subtask values.
#   - Backpressure: a job whose sink sleeps shows its source "high" and the sink "ok".
#   - Failures: a job failing in subtask 2/2 (user_fail) has one exception naming the
#     subtask, its TaskManager and message; a job without enough slots fails with a global
#     NoResourceAvailableException entry that names no subtask.
#
# SPATE_TEST_EXPECT_METRICS=0 skips the checks that need TaskManagers to report metrics
# (default 1: they must arrive within a bounded wait).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster_lib.sh"

require_file "$JOBS/cluster_probe.so" "$JOBS/user_fail.so"
EXPECT_METRICS=${SPATE_TEST_EXPECT_METRICS:-1}

# get NAME PATH: GET PATH must answer 200 with JSON; the body goes to $TMP/NAME.json.
get() {
	local code
	code=$(curl -s --max-time 10 -o "$TMP/$1.json" -w '%{http_code}' "http://$REST$2") ||
		fail "GET $2: curl failed"
	[ "$code" = 200 ] || { show "$TMP/$1.json" 5; fail "GET $2: HTTP $code, expected 200"; }
	jq -e . "$TMP/$1.json" >/dev/null 2>&1 || { show "$TMP/$1.json" 5; fail "GET $2: not JSON"; }
}

# check NAME WHAT FILTER [JQ ARGS...]: the jq FILTER holds on $TMP/NAME.json.
check() {
	local name=$1 what=$2 filter=$3
	shift 3
	if ! jq -e "$@" "$filter" "$TMP/$name.json" >/dev/null; then
		echo "----- $TMP/$name.json -----" >&2
		head -c 3000 "$TMP/$name.json" >&2 || true
		echo >&2
		fail "$name: $what"
	fi
}

# expect_error CODE PATH: GET PATH answers CODE with Flink's {"errors":["..."]}.
expect_error() {
	local want=$1 path=$2 code
	code=$(curl -s --max-time 10 -o "$TMP/err.json" -w '%{http_code}' "http://$REST$path") ||
		fail "GET $path: curl failed"
	[ "$code" = "$want" ] || { show "$TMP/err.json" 5; fail "GET $path: HTTP $code, expected $want"; }
	jq -e '.errors | type == "array" and length == 1 and (.[0] | type == "string" and length > 0)' \
		"$TMP/err.json" >/dev/null || { show "$TMP/err.json" 5; fail "GET $path: not an error body"; }
}

# Flink's names for the states and for the I/O metrics of a vertex, subtask or TaskManager.
JOB_STATES='["CANCELED","CANCELLING","CREATED","FAILED","FAILING","FINISHED","INITIALIZING","RECONCILING","RESTARTING","RUNNING","SUSPENDED"]'
EXEC_STATES='["CANCELED","CANCELING","CREATED","DEPLOYING","FAILED","FINISHED","INITIALIZING","RECONCILING","RUNNING","SCHEDULED"]'
IO_KEYS='["accumulated-backpressured-time","accumulated-busy-time","accumulated-idle-time","read-bytes","read-bytes-complete","read-records","read-records-complete","write-bytes","write-bytes-complete","write-records","write-records-complete"]'
# jq: an I/O metrics object of the right shape.
IO_OK='(keys == $io) and ([.["read-bytes","write-bytes","read-records","write-records","accumulated-backpressured-time","accumulated-idle-time"]] | all(type == "number" and . >= 0 and . == floor)) and (.["accumulated-busy-time"] | type == "number") and ([.["read-bytes-complete","write-bytes-complete","read-records-complete","write-records-complete"]] | all(type == "boolean"))'
STATS_KEYS='["avg","max","median","min","p25","p75","p95","sum"]'
AGG_OK='(keys == ["metrics","status-duration"]) and (.metrics | keys == (["read-bytes","write-bytes","read-records","write-records","accumulated-backpressured-time","accumulated-busy-time","accumulated-idle-time"] | sort)) and (.metrics | all(keys == $stats)) and (."status-duration" | keys == (["CREATED","SCHEDULED","DEPLOYING","INITIALIZING","RUNNING"] | sort)) and (."status-duration" | all(keys == $stats))'
# The task metrics every subtask must have, under Flink's names.
METRIC_NAMES='["numRecordsIn","numRecordsOut","numBytesIn","numBytesOut","numRecordsInPerSecond","numRecordsOutPerSecond","numBytesInPerSecond","numBytesOutPerSecond","busyTimeMsPerSecond","idleTimeMsPerSecond","backPressuredTimeMsPerSecond","buffers.inPoolUsage","buffers.outPoolUsage"]'
SUBTASK_KEYS='["attempt","duration","end-time","endpoint","metrics","start-time","status","status-duration","subtask","taskmanager-id"]'

cluster_start 2 3 -D slot.request.timeout=2000

# The TaskManagers as the cluster lists them: id -> "127.0.0.1:<dataPort>".
get tms /taskmanagers
jq -c '[.taskmanagers[] | {key: .id, value: "127.0.0.1:\(.dataPort)"}] | from_entries' \
	"$TMP/tms.json" >"$TMP/tm_endpoints.json"
[ "$(jq length "$TMP/tm_endpoints.json")" = 2 ] || fail "expected 2 TaskManagers: $(cat "$TMP/tms.json")"
TM_EP=$(cat "$TMP/tm_endpoints.json")

# ---- the probe job ---------------------------------------------------------------------
submit_detached probe -p 2 "$JOBS/cluster_probe.so" --n -1 --rate 2000 \
	--sum-parallelism 3 --sink-parallelism 1
J=$JOB_ID
wait_until 30 "job $J RUNNING" job_status_is "$J" RUNNING
all_running() {
	rest_get "/jobs/$J" | jq -e '."status-counts".RUNNING == 6'
}
wait_until 30 "all 6 subtasks of $J RUNNING" all_running

# GET /jobs/:jobid
get job "/jobs/$J"
check job "identity and state" '.jid == $j and .name == "cluster-probe" and .state == "RUNNING" and
	.isStoppable == false and ."job-type" == "STREAMING" and ."pending-operators" == 0 and
	."end-time" == -1 and .now >= ."start-time" and .duration >= 0 and .maxParallelism == 128' --arg j "$J"
check job "timestamps are keyed by JobStatus" '(.timestamps | keys) == $s and .timestamps.RUNNING > 0 and
	.timestamps.FAILED == 0' --argjson s "$JOB_STATES"
check job "three vertices with the expected names and parallelism" \
	'[.vertices[] | [.name, .parallelism]] == [["Source: probe-source", 2], ["probe-sum", 3], ["Sink: probe-sink", 1]]'
check job "vertex fields" 'all(.vertices[]; (keys == ["duration","end-time","id","maxParallelism","metrics","name","parallelism","slotSharingGroupId","start-time","status","tasks"]) and
	(.id | test("^[0-9a-f]{32}$")) and .status == "RUNNING" and .tasks.RUNNING == .parallelism and
	((.tasks | keys) == $e) and ."start-time" > 0 and ."end-time" == -1 and .duration >= 0 and
	(.metrics | '"$IO_OK"'))' --argjson e "$EXEC_STATES" --argjson io "$IO_KEYS"
check job "status-counts" '(."status-counts" | keys) == $e and ."status-counts".RUNNING == 6 and
	([."status-counts"[]] | add) == 6' --argjson e "$EXEC_STATES"
check job "plan node ids are the vertex ids" '[.plan.nodes[].id] == [.vertices[].id] and .plan.jid == .jid'
SRC=$(jq -r '.vertices[0].id' "$TMP/job.json")
SUM=$(jq -r '.vertices[1].id' "$TMP/job.json")
SINK=$(jq -r '.vertices[2].id' "$TMP/job.json")
VERTICES="$SRC:2 $SUM:3 $SINK:1"

# GET /jobs/:jobid/plan
get plan "/jobs/$J/plan"
check plan "plan shape and wiring" '(keys == ["plan"]) and .plan.jid == $j and .plan.name == "cluster-probe" and
	.plan.type == "STREAMING" and [.plan.nodes[] | [.id, .parallelism]] == [[$src, 2], [$sum, 3], [$sink, 1]] and
	all(.plan.nodes[]; (.operator | type == "string") and (.description | type == "string") and
		.operator_strategy == "" and .optimizer_properties == {}) and
	(.plan.nodes[0] | has("inputs") | not) and
	.plan.nodes[1].inputs == [{num: 0, id: $src, ship_strategy: "HASH", exchange: "pipelined_bounded"}] and
	.plan.nodes[2].inputs == [{num: 0, id: $sum, ship_strategy: "REBALANCE", exchange: "pipelined_bounded"}]' \
	--arg j "$J" --arg src "$SRC" --arg sum "$SUM" --arg sink "$SINK"

# GET /jobs/:jobid/config
get config "/jobs/$J/config"
check config "job configuration" '(keys == ["execution-config","jid","name"]) and .jid == $j and .name == "cluster-probe" and
	."execution-config"."job-parallelism" == 2 and ."execution-config"."object-reuse-mode" == false and
	."execution-config"."user-config" == {} and (."execution-config"."restart-strategy" | type == "string" and length > 0)' \
	--arg j "$J"

# GET /jobs/:jobid/exceptions, /accumulators, /checkpoints, /checkpoints/config
get exc "/jobs/$J/exceptions"
check exc "no exceptions while running" '. == {exceptionHistory: {entries: [], truncated: false}}'
get acc "/jobs/$J/accumulators"
check acc "no accumulators" '. == {"job-accumulators": [], "user-task-accumulators": [], "serialized-user-task-accumulators": {}}'
get acc2 "/jobs/$J/accumulators?includeSerializedValue=true"
get cps "/jobs/$J/checkpoints"
check cps "empty checkpoint statistics" '.counts == {restored: 0, total: 0, in_progress: 0, completed: 0, failed: 0} and
	.latest == {completed: null, savepoint: null, failed: null, restored: null} and .history == [] and
	(.summary | keys) == ["alignment_buffered","checkpointed_size","end_to_end_duration","persisted_data","processed_data","state_size"] and
	all(.summary[]; keys == ["avg","max","min","p50","p90","p95","p99","p999"] and all(.[]; . == 0))'
get cpc "/jobs/$J/checkpoints/config"
check cpc "checkpoint configuration shape" '.mode == "exactly_once" and .timeout == 600000 and .min_pause == 0 and
	.max_concurrent == 1 and .externalization == {enabled: false, delete_on_cancellation: true} and
	.unaligned_checkpoints == false and .tolerable_failed_checkpoints == 0 and (.state_backend | type == "string") and
	(.checkpoint_storage | type == "string")'
# Checkpointing is off: Flink's DISABLED_CHECKPOINT_INTERVAL, Long.MAX_VALUE (jq would round it).
grep -q '"interval":9223372036854775807[,}]' "$TMP/cpc.json" || fail "checkpoint interval is not Long.MAX_VALUE: $(cat "$TMP/cpc.json")"

# Per vertex: details, subtasks, TaskManagers, backpressure, watermarks, accumulators.
for vp in $VERTICES; do
	V=${vp%:*} P=${vp#*:}
	get "v$V" "/jobs/$J/vertices/$V"
	check "v$V" "vertex details" '(keys == ["aggregated","id","maxParallelism","name","now","parallelism","subtasks"]) and
		.id == $v and .parallelism == $p and .maxParallelism == 128 and .now > 0 and
		[.subtasks[].subtask] == [range($p)] and
		all(.subtasks[]; (keys == $sk) and .status == "RUNNING" and .attempt == 0 and
			$tms[."taskmanager-id"] == .endpoint and ."start-time" > 0 and ."end-time" == -1 and
			.duration >= 0 and (.metrics | '"$IO_OK"') and
			(."status-duration" | keys == (["CREATED","SCHEDULED","DEPLOYING","INITIALIZING","RUNNING"] | sort)) and
			(."status-duration" | all(.[]; . >= 0))) and
		(.aggregated | '"$AGG_OK"')' \
		--arg v "$V" --argjson p "$P" --argjson sk "$SUBTASK_KEYS" --argjson tms "$TM_EP" \
		--argjson io "$IO_KEYS" --argjson stats "$STATS_KEYS"
	# Per-state timestamps: every subtask went CREATED -> SCHEDULED -> DEPLOYING ->
	# INITIALIZING -> RUNNING, in that order of time.
	get "st$V" "/jobs/$J/vertices/$V/subtasktimes"
	check "st$V" "subtask times" '.id == $v and [.subtasks[].subtask] == [range($p)] and
		all(.subtasks[]; .timestamps as $t |
			($t | keys == (["CREATED","SCHEDULED","DEPLOYING","INITIALIZING","RUNNING"] | sort)) and
			$t.CREATED <= $t.SCHEDULED and $t.SCHEDULED <= $t.DEPLOYING and
			$t.DEPLOYING <= $t.INITIALIZING and $t.INITIALIZING <= $t.RUNNING and .duration >= 0)' \
		--arg v "$V" --argjson p "$P"
	# Vertex ids are hex: either case names the same vertex.
	get "vu$V" "/jobs/$J/vertices/$(tr a-f A-F <<<"$V")"
	check "vu$V" "upper-case vertex id" '.id == $v' --arg v "$V"

	# Each subtask on its own, and its current attempt, agree with the vertex details.
	for ((i = 0; i < P; i++)); do
		get "s$V$i" "/jobs/$J/vertices/$V/subtasks/$i"
		jq -c --argjson i "$i" '.subtasks[$i] | del(.duration, .metrics, ."status-duration")' "$TMP/v$V.json" >"$TMP/want.json"
		check "s$V$i" "subtask $i equals the vertex's entry" 'del(.duration, .metrics, ."status-duration") == $w[0]' --slurpfile w "$TMP/want.json"
		get "sa$V$i" "/jobs/$J/vertices/$V/subtasks/$i/attempts/0"
		check "sa$V$i" "attempt 0 is the current one" '.subtask == $i and .attempt == 0' --argjson i "$i"
	done
	expect_error 404 "/jobs/$J/vertices/$V/subtasks/$P"
	expect_error 404 "/jobs/$J/vertices/$V/subtasks/0/attempts/1"
	expect_error 400 "/jobs/$J/vertices/$V/subtasks/x"
	expect_error 400 "/jobs/$J/vertices/$V/subtasks/0/attempts/-1"

	# Per TaskManager: the subtasks grouped by where they run.
	get "tm$V" "/jobs/$J/vertices/$V/taskmanagers"
	jq -c '[.subtasks[] | ."taskmanager-id"] | group_by(.) | map({key: .[0], value: length}) | from_entries' \
		"$TMP/v$V.json" >"$TMP/per_tm.json"
	check "tm$V" "subtasks grouped by TaskManager" '.id == $v and .now > 0 and
		([.taskmanagers[] | {key: ."taskmanager-id", value: ."status-counts".RUNNING}] | from_entries) == $per[0] and
		all(.taskmanagers[]; $tms[."taskmanager-id"] == .endpoint and .status == "RUNNING" and
			((."status-counts" | keys) == $e) and ([."status-counts"[]] | add) == ."status-counts".RUNNING and
			."start-time" > 0 and ."end-time" == -1 and (.metrics | '"$IO_OK"') and (.aggregated | '"$AGG_OK"'))' \
		--arg v "$V" --slurpfile per "$TMP/per_tm.json" --argjson tms "$TM_EP" --argjson e "$EXEC_STATES" \
		--argjson io "$IO_KEYS" --argjson stats "$STATS_KEYS"

	get "bp$V" "/jobs/$J/vertices/$V/backpressure"
	check "bp$V" "backpressure shape" '. == {status: "deprecated"} or (.status == "ok" and
		(.backpressureLevel | IN("ok", "low", "high")) and ."end-timestamp" > 0 and
		([.subtasks[].subtask] | . == unique and all(. >= 0 and . < $p)) and
		all(.subtasks[]; (keys == ["backpressureLevel","busyRatio","idleRatio","ratio","subtask"])))' --argjson p "$P"

	get "wm$V" "/jobs/$J/vertices/$V/watermarks"
	check "wm$V" "no watermarks" '. == []'
	get "va$V" "/jobs/$J/vertices/$V/accumulators"
	check "va$V" "vertex accumulators" '. == {id: $v, "user-accumulators": []}' --arg v "$V"
	get "sacc$V" "/jobs/$J/vertices/$V/subtasks/accumulators"
	check "sacc$V" "subtask accumulators" '.id == $v and .parallelism == $p and [.subtasks[].subtask] == [range($p)] and
		all(.subtasks[]; .attempt == 0 and ."user-accumulators" == [] and (.endpoint | IN($tms[])))' \
		--arg v "$V" --argjson p "$P" --argjson tms "$TM_EP"

	# Metric ids: "<subtask>.<name>" at the vertex, bare names per subtask.
	get "vm$V" "/jobs/$J/vertices/$V/metrics"
	check "vm$V" "vertex metric ids" 'all(.[]; keys == ["id"] and (.id | test("^[0-9]+\\.[A-Za-z.]+$")) and
		((.id | split(".")[0] | tonumber) < $p))' --argjson p "$P"
	get "vmx$V" "/jobs/$J/vertices/$V/metrics?get=0.noSuchMetric,noSuchMetric"
	check "vmx$V" "unknown metrics are absent" '. == []'
	get "smx$V" "/jobs/$J/vertices/$V/subtasks/0/metrics?get=noSuchMetric"
	check "smx$V" "unknown metrics are absent" '. == []'
	get "agx$V" "/jobs/$J/vertices/$V/subtasks/metrics?get=noSuchMetric&agg=min"
	check "agx$V" "unknown metrics are absent" '. == []'
	expect_error 400 "/jobs/$J/vertices/$V/subtasks/metrics?get=numRecordsIn&agg=median"
	expect_error 400 "/jobs/$J/vertices/$V/subtasks/metrics?subtasks=1-x"
	expect_error 404 "/jobs/$J/vertices/$V/subtasks/$P/metrics"
done

# Unknown and malformed ids.
NOJOB=0123456789abcdef0123456789abcdef
for p in "" /plan /config /exceptions /accumulators /checkpoints /checkpoints/config "/vertices/$SRC" \
	"/vertices/$SRC/backpressure" "/vertices/$SRC/metrics" "/vertices/$SRC/subtasks/metrics" \
	"/vertices/$SRC/subtasks/0" "/vertices/$SRC/subtasks/0/metrics" "/vertices/$SRC/taskmanagers"; do
	expect_error 404 "/jobs/$NOJOB$p"
	expect_error 400 "/jobs/not-a-job-id$p"
done
for p in "" /backpressure /metrics /subtasks/metrics /subtasks/0 /taskmanagers /watermarks; do
	expect_error 404 "/jobs/$J/vertices/$NOJOB$p"
	expect_error 400 "/jobs/$J/vertices/0123$p"
done
expect_error 400 "/jobs/$J/exceptions?maxExceptions=many"
expect_error 400 "/jobs/$J/exceptions?failureLabelFilter=nocolon"
expect_error 400 "/jobs/$J/accumulators?includeSerializedValue=perhaps"

# ---- metrics ---------------------------------------------------------------------------
# metrics_flowing: every subtask has reported and records moved: the source wrote, probe-sum
# read and wrote, the sink read.
metrics_flowing() {
	rest_get "/jobs/$J" | jq -e '[.vertices[].metrics] as $m |
		all($m[]; ."read-records-complete" and ."write-records-complete" and ."read-bytes-complete" and ."write-bytes-complete") and
		$m[0]."write-records" > 0 and $m[1]."read-records" > 0 and $m[1]."write-records" > 0 and $m[2]."read-records" > 0'
}
if [ "$EXPECT_METRICS" = 1 ]; then
	wait_until 30 "every subtask's metrics reported, with records flowing (SPATE_TEST_EXPECT_METRICS=0 skips)" metrics_flowing
	get jobm "/jobs/$J"
	check jobm "records and bytes move where the graph says" '[.vertices[].metrics] as $m |
		$m[0]."read-records" == 0 and $m[0]."read-bytes" == 0 and $m[0]."write-bytes" > 0 and
		$m[1]."read-bytes" > 0 and $m[1]."write-bytes" > 0 and $m[2]."write-records" == 0 and $m[2]."write-bytes" == 0'
	# Every subtask has the full set of metrics; the per-second times are ratios of a second.
	for vp in $VERTICES; do
		V=${vp%:*} P=${vp#*:}
		get "vm$V" "/jobs/$J/vertices/$V/metrics"
		check "vm$V" "every subtask lists Flink's task metrics" '[.[].id] as $ids |
			all(range($p) as $i | $names[] | "\($i).\(.)"; IN($ids[]))' --argjson p "$P" --argjson names "$METRIC_NAMES"
		get "bpm$V" "/jobs/$J/vertices/$V/backpressure"
		check "bpm$V" "backpressure of every subtask, levels by Flink's thresholds" '.status == "ok" and
			[.subtasks[].subtask] == [range($p)] and
			all(.subtasks[]; .ratio >= 0 and .ratio <= 1 and .idleRatio >= 0 and
				(.ratio + .idleRatio + .busyRatio) > 0.9 and (.ratio + .idleRatio + .busyRatio) < 1.1 and
				.backpressureLevel == (if .ratio <= 0.1 then "ok" elif .ratio <= 0.5 then "low" else "high" end)) and
			.backpressureLevel == ([.subtasks[].ratio] | max | if . <= 0.1 then "ok" elif . <= 0.5 then "low" else "high" end)' \
			--argjson p "$P"
	done
else
	note "SKIP: metric values (SPATE_TEST_EXPECT_METRICS=$EXPECT_METRICS)"
fi

# ---- backpressure: a slow sink holds back its source -------------------------------------
if [ "$EXPECT_METRICS" = 1 ]; then
	submit_detached slow -p 1 "$JOBS/cluster_probe.so" --n -1 --rate 0 --sleep-us 20000
	S=$JOB_ID
	wait_until 30 "job $S RUNNING" job_status_is "$S" RUNNING
	get slow "/jobs/$S"
	check slow "two vertices" '[.vertices[].name] == ["Source: probe-source", "probe-sum -> Sink: probe-sink"]'
	SSRC=$(jq -r '.vertices[0].id' "$TMP/slow.json")
	SSINK=$(jq -r '.vertices[1].id' "$TMP/slow.json")
	source_high() {
		rest_get "/jobs/$S/vertices/$SSRC/backpressure" | jq -e '.backpressureLevel == "high" and .subtasks[0].ratio > 0.5'
	}
	wait_until 30 "the slow sink's source backpressured (high)" source_high
	get slowsink "/jobs/$S/vertices/$SSINK/backpressure"
	check slowsink "the sink itself is not backpressured" '.status == "ok" and .backpressureLevel == "ok" and
		.subtasks[0].ratio <= 0.1 and .subtasks[0].busyRatio > 0.5'
	run_spate cancelslow cancel -m "$REST" "$S"
	expect_rc cancelslow 0
fi

# ---- after cancelling: final states and metrics that agree across endpoints -------------------
run_spate cancel cancel -m "$REST" "$J"
expect_rc cancel 0
job_status_is "$J" CANCELED || fail "job $J is $(rest_get "/jobs/$J/status")"
# Once every TaskManager released the jobs (their slots are free) no sample can arrive any
# more: the metrics below stay put between requests.
wait_until 30 "all 6 slots free" overview_is slots-available 6
get jobc "/jobs/$J"
check jobc "canceled vertices" '.state == "CANCELED" and ."end-time" >= ."start-time" and
	all(.vertices[]; .status == "CANCELED" and .tasks.CANCELED == .parallelism and
		."end-time" >= ."start-time" and .duration == ."end-time" - ."start-time")'
for vp in $VERTICES; do
	V=${vp%:*} P=${vp#*:}
	get "vc$V" "/jobs/$J/vertices/$V"
	check "vc$V" "canceled subtasks" 'all(.subtasks[]; .status == "CANCELED" and ."end-time" >= ."start-time" and
		.duration == ."end-time" - ."start-time")'
	# The vertex's I/O metrics are the sums of its subtasks'.
	jq -c --arg v "$V" '.vertices[] | select(.id == $v) | .metrics' "$TMP/jobc.json" >"$TMP/vsum.json"
	check "vc$V" "vertex metrics = sum over subtasks" '[.subtasks[].metrics] as $s | $w[0] as $v |
		all("read-bytes", "write-bytes", "read-records", "write-records", "accumulated-idle-time",
			"accumulated-backpressured-time", "accumulated-busy-time"; . as $k | ([$s[][$k]] | add) == $v[$k]) and
		.aggregated.metrics."read-records".sum == $v."read-records" and
		.aggregated.metrics."write-bytes".max == ([$s[]."write-bytes"] | max) and
		.aggregated.metrics."write-bytes".min == ([$s[]."write-bytes"] | min)' --slurpfile w "$TMP/vsum.json"
	[ "$EXPECT_METRICS" = 1 ] || continue

	# The same counters through the metric endpoints: per subtask, at the vertex and
	# aggregated; the aggregates recomputed with awk from the per-subtask values.
	ids=$(for ((i = 0; i < P; i++)); do printf '%d.numRecordsIn,%d.numBytesOut,' "$i" "$i"; done)
	get "vmv$V" "/jobs/$J/vertices/$V/metrics?get=${ids%,}"
	check "vmv$V" "vertex metric values are strings of counters" 'length == 2 * $p and
		all(.[]; keys == ["id","value"] and (.value | test("^[0-9]+$")))' --argjson p "$P"
	for ((i = 0; i < P; i++)); do
		get "sm$V$i" "/jobs/$J/vertices/$V/subtasks/$i/metrics?get=numRecordsIn,numBytesOut,noSuchMetric"
		jq -r --argjson i "$i" '.subtasks[$i].metrics | "\(."read-records") \(."write-bytes")"' "$TMP/vc$V.json" >"$TMP/want.txt"
		jq -r 'map({key: .id, value: .value}) | from_entries | "\(.numRecordsIn) \(.numBytesOut)"' "$TMP/sm$V$i.json" >"$TMP/got.txt"
		expect_same "$TMP/want.txt" "$TMP/got.txt" "subtask $i of $V: metric values = I/O metrics"
		jq -r --argjson i "$i" 'map({key: .id, value: .value}) | from_entries |
			"\(.["\($i).numRecordsIn"]) \(.["\($i).numBytesOut"])"' "$TMP/vmv$V.json" >"$TMP/got.txt"
		expect_same "$TMP/want.txt" "$TMP/got.txt" "subtask $i of $V: vertex metric values = I/O metrics"
	done
	jq -r '.subtasks[].metrics."read-records"' "$TMP/vc$V.json" >"$TMP/values.txt"
	awk '{ v[NR] = $1; s += $1 } END {
		n = NR; avg = s / n; min = v[1]; max = v[1]
		for (i = 1; i <= n; i++) { if (v[i] < min) min = v[i]; if (v[i] > max) max = v[i]; d += (v[i] > avg ? v[i] - avg : avg - v[i]) }
		skew = (avg == 0) ? 0 : d / n / avg * 100; if (skew > 100) skew = 100
		printf "%.6f %.6f %.6f %.6f %.6f\n", min, max, avg, s, skew }' "$TMP/values.txt" >"$TMP/want.txt"
	get "ag$V" "/jobs/$J/vertices/$V/subtasks/metrics?get=numRecordsIn"
	check "ag$V" "all five aggregations by default" 'length == 1 and (.[0] | keys) == ["avg","id","max","min","skew","sum"]'
	jq -r '.[0] | "\(.min) \(.max) \(.avg) \(.sum) \(.skew)"' "$TMP/ag$V.json" |
		awk '{ printf "%.6f %.6f %.6f %.6f %.6f\n", $1, $2, $3, $4, $5 }' >"$TMP/got.txt"
	expect_same "$TMP/want.txt" "$TMP/got.txt" "aggregated numRecordsIn of $V"
	get "ag2$V" "/jobs/$J/vertices/$V/subtasks/metrics?get=numRecordsIn,numBytesOut&agg=SUM,max"
	check "ag2$V" "only the requested aggregations" '[.[] | keys] == [["id","max","sum"], ["id","max","sum"]] and
		.[0].id == "numRecordsIn" and .[0].sum == ($w | map(.metrics."read-records") | add) and
		.[1].max == ($w | map(.metrics."write-bytes") | max)' --argjson w "$(jq -c .subtasks "$TMP/vc$V.json")"
	get "ag3$V" "/jobs/$J/vertices/$V/subtasks/metrics?get=numRecordsIn&agg=sum&subtasks=0,$((P - 1))-$((P + 5))"
	check "ag3$V" "subtask selection" '.[0].sum == ([$w[0], $w[-1]] | unique_by(.subtask) | map(.metrics."read-records") | add)' \
		--argjson w "$(jq -c .subtasks "$TMP/vc$V.json")"
done

# ---- a job failing in subtask 2/2 -------------------------------------------------------------
run_spate fail run -m "$REST" "$JOBS/user_fail.so"
expect_job_failure fail UserFail "refusing value [0-9]+ on purpose"
F=$(sed -n 's/^Job has been submitted with JobID //p' "$TMP/fail.out")
[ -n "$F" ] || { show "$TMP/fail.out"; fail "no job id for the failing job"; }
get fjob "/jobs/$F"
check fjob "failed job and vertex" '.state == "FAILED" and (.vertices | length) == 1 and .vertices[0].status == "FAILED" and
	.vertices[0].tasks.FAILED == 1'
FV=$(jq -r '.vertices[0].id' "$TMP/fjob.json")
FNAME=$(jq -r '.vertices[0].name' "$TMP/fjob.json")
get fv "/jobs/$F/vertices/$FV"
check fv "subtask 2/2 failed" '.subtasks[1].status == "FAILED" and .subtasks[1]."end-time" > 0'
FTM=$(jq -r '.subtasks[1]."taskmanager-id"' "$TMP/fv.json")
get fexc "/jobs/$F/exceptions"
check fexc "one exception naming subtask 2/2 and its message" '.exceptionHistory.truncated == false and
	(.exceptionHistory.entries | length) == 1 and (.exceptionHistory.entries[0] |
		(keys == ["concurrentExceptions","endpoint","exceptionName","failureLabels","stacktrace","taskManagerId","taskName","timestamp"]) and
		(.stacktrace | test("refusing value [0-9]+ on purpose")) and (.exceptionName | length > 0) and
		.taskName == "\($name) (2/2)" and .taskManagerId == $tm and .endpoint == $tms[$tm] and
		.failureLabels == {} and .concurrentExceptions == [] and
		.timestamp >= $job."start-time" and .timestamp <= $job."end-time")' \
	--arg name "$FNAME" --arg tm "$FTM" --argjson tms "$TM_EP" --argjson job "$(cat "$TMP/fjob.json")"
get fexc0 "/jobs/$F/exceptions?maxExceptions=0"
check fexc0 "maxExceptions=0 truncates" '.exceptionHistory == {entries: [], truncated: true}'
get fexc1 "/jobs/$F/exceptions?maxExceptions=1"
check fexc1 "maxExceptions=1 keeps it" '(.exceptionHistory.entries | length) == 1 and .exceptionHistory.truncated == false'
get fexcl "/jobs/$F/exceptions?failureLabelFilter=type:user"
check fexcl "no entry carries failure labels" '.exceptionHistory.entries == []'

# ---- a job that cannot get its slots: a global failure names no subtask ---------------------
run_spate big run -m "$REST" -p 7 "$JOBS/cluster_probe.so" --n 1000
expect_job_failure big cluster-probe "NoResourceAvailableException"
B=$(sed -n 's/^Job has been submitted with JobID //p' "$TMP/big.out")
get bexc "/jobs/$B/exceptions"
check bexc "a global root exception" '(.exceptionHistory.entries | length) == 1 and (.exceptionHistory.entries[0] |
	(keys == ["concurrentExceptions","exceptionName","failureLabels","stacktrace","timestamp"]) and
	(.exceptionName | test("NoResourceAvailableException$")) and (.stacktrace | test("needs 7 slots")) and
	.timestamp > 0 and .concurrentExceptions == [])'
get bv "/jobs/$B"
check bv "never-deployed subtasks are unassigned" 'all(.vertices[]; .status == "FAILED" and ."start-time" == -1)'
BV=$(jq -r '.vertices[0].id' "$TMP/bv.json")
get bvd "/jobs/$B/vertices/$BV"
check bvd "unassigned subtasks" 'all(.subtasks[]; .endpoint == "(unassigned)" and ."taskmanager-id" == "(unassigned)" and
	."start-time" == -1 and .duration == -1 and .status == "FAILED")'

cluster_finish
