#!/usr/bin/env bash
# Metrics end to end: subtask counters reach the JobManager's REST API with exact values
# (the source wrote N rows, the keyed vertex read N rows: N is the test's own number), a
# slow sink shows up as backpressure on the source, every TaskManager serves Prometheus
# text, and a real Prometheus server scrapes the JobManager and both TaskManagers.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster_lib.sh"

require_file "$JOBS/cluster_probe.so"
command -v prometheus >/dev/null || fail "prometheus is not installed (scripts/install-deps.sh)"
cluster_start 2 2 -D metrics.fetcher.update-interval=200ms

# job_id_of NAME: the JobID an attached `spate run` printed first.
job_id_of() {
	sed -n 's/^Job has been submitted with JobID \([0-9a-f]\{32\}\)$/\1/p' "$TMP/$1.out" | head -n 1
}

# vmetric JOB VERTEX_INDEX FIELD: one field of a vertex's metrics in GET /jobs/:id.
vmetric() {
	rest_get "/jobs/$1" | jq -r ".vertices[$2].metrics.\"$3\""
}

# 1. Exact counts of a finished job. Source (p=2) -> keyBy -> sum + sink (p=2).
N=250000
mkdir -p "$TMP/out"
run_spate exact run -m "$REST" -p 2 "$SPATE_BUILD/tests/jobs/cluster_probe.so" --n $N --k 101 --out "$TMP/out"
expect_rc exact 0
ID=$(job_id_of exact)
[ -n "$ID" ] || fail "no job id in the output of the exact run"
[ "$(vmetric "$ID" 0 write-records)" = "$N" ] || fail "source write-records: $(vmetric "$ID" 0 write-records), expected $N"
[ "$(vmetric "$ID" 1 read-records)" = "$N" ] || fail "sum read-records: $(vmetric "$ID" 1 read-records), expected $N"
[ "$(vmetric "$ID" 0 read-records)" = 0 ] || fail "a source read records"
wb=$(vmetric "$ID" 0 write-bytes)
rb=$(vmetric "$ID" 1 read-bytes)
# each row carries at least its two 8-byte fields
[ "$wb" -ge $((N * 16)) ] || fail "source write-bytes $wb < $((N * 16))"
[ "$wb" = "$rb" ] || fail "bytes written by the sources ($wb) differ from bytes read by the sums ($rb)"
note "finished job: $N records, $wb bytes across the keyed exchange"

# 2. A running job with a slow sink (2 ms every 100 rows): the source is backpressured.
run_spate_bg() { # NAME ARGS...: an attached run in the background
	local name=$1
	shift
	timeout "$CMD_TIMEOUT" "$SPATE" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" &
	BG_PIDS+=($!)
}
mkdir -p "$TMP/slow"
run_spate_bg slow run -m "$REST" -p 1 "$SPATE_BUILD/tests/jobs/cluster_probe.so" --n -1 --k 11 \
	--pad 200 --sleep-us 2000 --sink-parallelism 1 --out "$TMP/slow"
has_id() { [ -n "$(job_id_of "$1")" ]; }
wait_until 30 "the slow job's id" has_id slow
SLOW=$(job_id_of slow)
wait_until 30 "the slow job RUNNING" job_status_is "$SLOW" RUNNING
source_backpressured() {
	local bp
	bp=$(rest_get "/jobs/$SLOW" | jq -r '.vertices[0].metrics."accumulated-backpressured-time"')
	[ "$bp" -gt 500 ]
}
wait_until 30 "backpressured time on the slow job's source" source_backpressured

# 3. Each TaskManager's Prometheus endpoint.
PORTS=$(rest_get /taskmanagers | jq -r '.taskmanagers[].prometheusPort')
[ "$(echo "$PORTS" | grep -c '^[1-9][0-9]*$')" = 2 ] || fail "TaskManager Prometheus ports: $PORTS"
records_out_total() { # the sum of numRecordsOut over both TaskManagers
	local p
	for p in $PORTS; do
		curl -sf --max-time 10 "http://127.0.0.1:$p/metrics"
	done | awk '/^spate_taskmanager_job_task_numRecordsOut\{/ { s += $NF } END { printf "%d\n", s }'
}
r1=$(records_out_total)
grows() { [ "$(records_out_total)" -gt "$r1" ]; }
wait_until 30 "numRecordsOut to grow on the TaskManagers' /metrics" grows
for p in $PORTS; do
	curl -sf --max-time 10 "http://127.0.0.1:$p/metrics" >"$TMP/tm-$p.prom"
	grep -q '^# TYPE spate_taskmanager_Status_Memory_RSS gauge$' "$TMP/tm-$p.prom" ||
		fail "no RSS gauge on port $p"
done
curl -sf --max-time 10 "http://$REST/metrics" >"$TMP/jm.prom"
grep -qx 'spate_jobmanager_taskSlotsTotal 4' "$TMP/jm.prom" || fail "JobManager /metrics: $(head -c 600 "$TMP/jm.prom")"
grep -qx 'spate_jobmanager_jobs{status="FINISHED"} 1' "$TMP/jm.prom" || fail "jobs by status missing"

# 4. A real Prometheus server scrapes all three every second.
PROM_PORT=$(free_port) || fail "no free port for Prometheus"
targets="\"$REST\""
for p in $PORTS; do targets="$targets, \"127.0.0.1:$p\""; done
cat >"$TMP/prometheus.yml" <<CFG
global:
  scrape_interval: 1s
  scrape_timeout: 900ms
scrape_configs:
  - job_name: spate
    metrics_path: /metrics
    static_configs:
      - targets: [$targets]
CFG
prometheus --config.file="$TMP/prometheus.yml" --storage.tsdb.path="$TMP/prom-data" \
	--web.listen-address="127.0.0.1:$PROM_PORT" >"$TMP/prometheus.log" 2>&1 &
BG_PIDS+=($!)
promql() { # QUERY: the first result's value
	curl -sf --max-time 5 -G "http://127.0.0.1:$PROM_PORT/api/v1/query" --data-urlencode "query=$1" |
		jq -r '.data.result[0].value[1] // empty'
}
targets_up() { [ "$(promql 'sum(up{job="spate"})')" = 3 ]; }
wait_until 60 "Prometheus to scrape all three targets" targets_up
slots_seen() { [ "$(promql 'spate_jobmanager_taskSlotsTotal')" = 4 ]; }
wait_until 30 "spate_jobmanager_taskSlotsTotal in Prometheus" slots_seen
first=
records_in_prometheus() {
	local v
	v=$(promql 'sum(spate_taskmanager_job_task_numRecordsOut)')
	[ -n "$v" ] || return 1
	if [ -z "$first" ]; then
		first=$v
		return 1
	fi
	awk -v a="$first" -v b="$v" 'BEGIN { exit !(b > a) }'
}
wait_until 30 "numRecordsOut rising in Prometheus" records_in_prometheus
note "Prometheus scraped 3 targets; numRecordsOut rose from $first"

# 5. The processes' own endpoints while the slow job runs (p=1: its three subtasks share
#    one slot of one TaskManager).
rest_get /taskmanagers >"$TMP/tms.json"
TM_OF=$(rest_get "/jobs/$SLOW/vertices/$(rest_get "/jobs/$SLOW" | jq -r '.vertices[0].id')" | jq -r '.subtasks[0]."taskmanager-id"')
rest_get "/taskmanagers/$TM_OF" >"$TMP/tm.json"
jq -e --arg j "$SLOW" '.slotsNumber == 2 and (.allocatedSlots | length == 2) and
	([.allocatedSlots[] | select(.jobId == $j) | .assignedTasks | length] == [3]) and
	([.allocatedSlots[] | select(.jobId == null)] | length == 1) and .hardware.cpuCores >= 1 and
	.metrics.rss > 0' "$TMP/tm.json" >/dev/null || fail "TaskManager $TM_OF details: $(cat "$TMP/tm.json")"
[ "$(rest_get "/jobmanager/metrics?get=taskSlotsTotal,numRunningJobs" | jq -c 'map({(.id): .value}) | add')" = \
	'{"taskSlotsTotal":"4","numRunningJobs":"1"}' ] || fail "/jobmanager/metrics: $(rest_get "/jobmanager/metrics?get=taskSlotsTotal,numRunningJobs")"
# CPU load is a Double gauge: Java's Double.toString, as Flink sends it ("0.0", "0.25").
rest_get "/jobmanager/metrics?get=Status.CPU.Load" | jq -e '.[0].value | test("^[0-9]+\\.[0-9]+(E-?[0-9]+)?$")' >/dev/null ||
	fail "JobManager CPU load: $(rest_get "/jobmanager/metrics?get=Status.CPU.Load")"
rest_get "/taskmanagers/tm-0/metrics?get=Status.Slots.Total" | jq -e '.[0].value == "2"' >/dev/null ||
	fail "/taskmanagers/tm-0/metrics: $(rest_get "/taskmanagers/tm-0/metrics")"
# Logs are read by the TaskManager itself: its stderr goes to $CL_DIR/taskmanager-1.log.
rest_get /taskmanagers/tm-1/logs | jq -e '[.logs[].name] | index("taskmanager-1.log") != null' >/dev/null ||
	fail "tm-1 log list: $(rest_get /taskmanagers/tm-1/logs)"
rest_get /taskmanagers/tm-1/log >"$TMP/tm1.log"
grep -q "Starting TaskManager tm-1 with 2 task slots" "$TMP/tm1.log" || fail "tm-1's own log"
rest_get /taskmanagers/tm-1/logs/taskmanager-1.log >"$TMP/tm1-by-name.log"
grep -q "Starting TaskManager tm-1" "$TMP/tm1-by-name.log" || fail "tm-1 log by name"
for bad in ..%2Fetc%2Fpasswd .hidden %252e%252e; do
	c=$(curl -s -o "$TMP/bad.body" -w '%{http_code}' --path-as-is "http://$REST/taskmanagers/tm-1/logs/$bad")
	[ "$c" = 400 ] || [ "$c" = 404 ] || fail "TaskManager log name '$bad' answered $c"
	jq -e '.errors | length == 1' "$TMP/bad.body" >/dev/null || fail "log name '$bad': $(head -c 300 "$TMP/bad.body")"
done
c=$(curl -s -o /dev/null -w '%{http_code}' "http://$REST/taskmanagers/tm-1/logs/no-such.log")
[ "$c" = 404 ] || fail "a missing TaskManager log answered $c"
c=$(curl -s -o /dev/null -w '%{http_code}' "http://$REST/taskmanagers/tm-9/logs")
[ "$c" = 404 ] || fail "an unknown TaskManager's logs answered $c"

run_spate cancel cancel -m "$REST" "$SLOW"
expect_rc cancel 0
wait_until 30 "the slow job CANCELED" job_status_is "$SLOW" CANCELED
cluster_finish
