#!/usr/bin/env bash
# The web dashboard, driven in headless Chromium against a live cluster (a JobManager and 2
# TaskManagers x 2 slots, separate processes):
#   - the static files are served from the binary: /, /app.js, /app.css with their types,
#     unknown paths (and traversal attempts) answered 404 with Flink's error body;
#   - the overview shows 2 TaskManagers and 4 slots, and the slots a running job takes;
#   - the job page draws the job graph of a running keyed job: its vertices (names,
#     operators, parallelism) and edges (ship strategies) as the job was written, record
#     counters that grow between two reads, subtasks in the vertex drawer, the exceptions,
#     checkpoints and configuration tabs;
#   - Cancel on the job page cancels the job (checked with curl, not through the page);
#   - the TaskManager and JobManager pages (slots, data port, configuration, logs);
#   - Submit: uploading WordCount's .so, showing its plan and running it from the page
#     runs a job whose output equals the awk/sort oracle's; deleting the library;
#   - with web.submit.enable and web.cancel.enable false, the page hides both.
# Expected values come from the test's own knowledge (the cluster it started, the job it
# wrote), never from the page. Checks are grouped in sections; a failing section is
# reported and the test fails at the end, after the other sections ran.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster_lib.sh"
. "$(dirname "$0")/webdriver_lib.sh"

require_file "$JOBS/cluster_probe.so" "$EXAMPLES/wordcount.so"
command -v jq >/dev/null || fail "jq is not installed"
wd_available || fail "chromium and chromedriver are not installed (scripts/install-deps.sh installs them)"

NTM=2
SLOTS=2
REFRESH_MS=400
FAILED=()

# section NAME FUNCTION: runs one group of checks in a subshell; a failure is recorded
# (with a screenshot) and the next section runs.
section() {
	local name=$1 rc
	shift
	note "section: $name"
	set +e
	(
		set -e
		"$@"
	)
	rc=$?
	set -e
	if [ "$rc" -ne 0 ]; then
		FAILED+=("$name")
		wd_screenshot "failed-$name"
	fi
}

# page PATH_AND_FRAGMENT: loads the dashboard afresh at http://$REST/PATH_AND_FRAGMENT
# (through about:blank: a URL differing only in its fragment would not reload the page).
page() {
	wd_navigate "about:blank"
	wd_navigate "http://$REST/$1"
}

# A wait fails at once when the page shows that the REST server has no route for a path
# it asked for ("GET /x (404): Not found: /x", the router's answer), in the banner or in a
# section's inline error: the awaited data cannot come. missing_route SELECTOR builds that
# expression over the elements SELECTOR matches (their text and data-backpressure-error).
missing_route() {
	printf '%s' '[...document.querySelectorAll('"'$1'"')].map(e => (e.hidden ? "" : e.textContent) + " " + (e.getAttribute("data-backpressure-error") || "")).map(t => (/[A-Z]+ \/\S+ \(404\): Not found: \/\S*/.exec(t) || [""])[0]).filter(Boolean).map(t => "endpoint missing: " + t)[0] || ""'
}
WD_FAIL_IF=$(missing_route "#error-banner, .error")

# js_str STRING: a JSON argument list holding STRING.
js_str() {
	jq -nc --arg s "$1" '[$s]'
}

cluster_start "$NTM" "$SLOTS" -D web.refresh-interval=$REFRESH_MS
wd_start

# ---- static files ----------------------------------------------------------------------
static_files() {
	local ct
	ct=$(curl -s --max-time 10 -o "$TMP/index.html" -w '%{http_code} %{content_type}' "http://$REST/")
	[ "$ct" = "200 text/html; charset=UTF-8" ] || fail "GET /: $ct"
	grep -q '<script src="app.js"></script>' "$TMP/index.html" || fail "GET / is not the dashboard"
	cmp -s "$TMP/index.html" "$SPATE_SRC/web/index.html" || fail "GET / differs from web/index.html"
	for f in app.js app.css; do
		curl -s --max-time 10 -o "$TMP/$f" "http://$REST/$f" || fail "GET /$f failed"
		cmp -s "$TMP/$f" "$SPATE_SRC/web/$f" || fail "GET /$f differs from web/$f"
	done
	ct=$(curl -s --max-time 10 -o /dev/null -w '%{http_code} %{content_type}' "http://$REST/app.js")
	[ "$ct" = "200 text/javascript; charset=UTF-8" ] || fail "GET /app.js: $ct"
	ct=$(curl -s --max-time 10 -o /dev/null -w '%{http_code} %{content_type}' "http://$REST/app.css")
	[ "$ct" = "200 text/css; charset=UTF-8" ] || fail "GET /app.css: $ct"
	ct=$(curl -s --max-time 10 -I -o /dev/null -w '%{http_code}' "http://$REST/app.js")
	[ "$ct" = 200 ] || fail "HEAD /app.js: $ct"
	local p
	for p in /nope.js /index.htm /web/app.js /../web/app.js /%2e%2e/CMakeLists.txt /app.js/ \
		'/..%2f..%2fetc%2fpasswd' /embed_assets.cmake; do
		ct=$(curl -s --path-as-is --max-time 10 -o "$TMP/404.json" -w '%{http_code}' "http://$REST$p")
		[ "$ct" = 404 ] || fail "GET $p: status $ct, expected 404"
		jq -e '.errors | length == 1' "$TMP/404.json" >/dev/null || fail "GET $p: not Flink's error body: $(cat "$TMP/404.json")"
	done
	# REST routes still win over the dashboard.
	[ "$(rest_get /overview | jq -r '."slots-total"')" = $((NTM * SLOTS)) ] || fail "GET /overview broken"
}
section static-files static_files

# ---- overview --------------------------------------------------------------------------
overview_idle() {
	page ""
	wd_wait 20 "the overview" 'document.getElementById("tm-count")'
	wd_wait 20 "$NTM TaskManagers on the overview" \
		'document.getElementById("tm-count").textContent === arguments[0]' "[\"$NTM\"]"
	wd_wait 10 "$((NTM * SLOTS)) slots in total" \
		'document.getElementById("slots-total").textContent === arguments[0]' "[\"$((NTM * SLOTS))\"]"
	wd_wait 10 "$((NTM * SLOTS)) available slots" \
		'document.getElementById("slots-available").textContent === arguments[0]' "[\"$((NTM * SLOTS))\"]"
	wd_wait 10 "no running jobs" \
		'document.querySelectorAll("#running-jobs tr[data-job-id]").length === 0'
	[ "$(wd_text '#error-banner')" = "" ] || fail "error banner: $(wd_text '#error-banner')"
	wd_screenshot overview-idle
}
section overview-idle overview_idle

# A running keyed job: source (p=2) -HASH-> sum (p=2) -REBALANCE-> sink (p=1); with slot
# sharing it takes 2 slots.
submit_detached probe -p 2 "$JOBS/cluster_probe.so" --n -1 --rate 1000 --sink-parallelism 1
PROBE=$JOB_ID
wait_until 20 "job $PROBE RUNNING" job_status_is "$PROBE" RUNNING

overview_running() {
	page "#/overview"
	wd_wait 20 "2 available slots while the probe runs" \
		'document.getElementById("slots-available").textContent === "2"'
	wd_wait 10 "the probe in the running list" \
		'document.querySelector("#running-jobs tr[data-job-id=\"" + arguments[0] + "\"]")' "$(js_str "$PROBE")"
	wd_wait 10 "the probe RUNNING in the list" \
		'document.querySelector("#running-jobs tr[data-job-id=\"" + arguments[0] + "\"]").dataset.jobState === "RUNNING"' \
		"$(js_str "$PROBE")"
	local name
	name=$(wd_text "#running-jobs tr[data-job-id=\"$PROBE\"] td:first-child")
	[ "$name" = cluster-probe ] || fail "job name in the list: '$name'"
	[ "$(wd_text '#jobs-running')" = 1 ] || fail "running jobs count: $(wd_text '#jobs-running')"
	# Clicking the row opens the job page.
	wd_click "#running-jobs tr[data-job-id=\"$PROBE\"] td:nth-child(2)"
	wd_wait 10 "the job page after a click" 'location.hash === "#/job/" + arguments[0]' "$(js_str "$PROBE")"
}
section overview-running overview_running

# ---- job graph -------------------------------------------------------------------------
# The boxes as JSON lines "name|parallelism|op1;op2" sorted, and the edges
# "from-name>to-name|strategy" sorted.
graph_boxes() {
	wd_exec 'return [...document.querySelectorAll(arguments[0] + " g.vertex")].map(g =>
		g.dataset.name + "|" + g.dataset.parallelism + "|" +
		[...g.querySelectorAll("text.op")].map(t => t.textContent).join(";"));' "$(js_str "$1")" |
		jq -r '.[]' | sort
}
graph_edges() {
	wd_exec 'const svg = document.querySelector(arguments[0]);
		const name = id => svg.querySelector("g.vertex[data-vertex-id=\"" + id + "\"]").dataset.name;
		return [...svg.querySelectorAll("path.edge")].map(p =>
			name(p.dataset.from) + ">" + name(p.dataset.to) + "|" + p.dataset.shipStrategy);' \
		"$(js_str "$1")" | jq -r '.[]' | sort
}

job_graph() {
	page "#/job/$PROBE"
	wd_wait 20 "the job graph with 3 vertices" 'document.querySelectorAll("#job-graph g.vertex").length === 3'
	wd_wait 10 "job state RUNNING" 'document.getElementById("job-state").textContent === "RUNNING"'
	[ "$(wd_text '#job-name')" = cluster-probe ] || fail "job name: $(wd_text '#job-name')"
	graph_boxes "#job-graph" >"$TMP/boxes.actual"
	printf '%s\n' "Sink: probe-sink|1|Sink: probe-sink" "Source: probe-source|2|Source: probe-source" \
		"probe-sum|2|probe-sum" | sort >"$TMP/boxes.expected"
	expect_same "$TMP/boxes.expected" "$TMP/boxes.actual" "job graph vertices"
	graph_edges "#job-graph" >"$TMP/edges.actual"
	printf '%s\n' "Source: probe-source>probe-sum|HASH" "probe-sum>Sink: probe-sink|REBALANCE" |
		sort >"$TMP/edges.expected"
	expect_same "$TMP/edges.expected" "$TMP/edges.actual" "job graph edges"
	# Left to right: source, sum, sink.
	local xs
	xs=$(wd_exec 'const x = n => document.querySelector("#job-graph g.vertex[data-name=\"" + n + "\"]")
			.transform.baseVal.getItem(0).matrix.e;
		return x("Source: probe-source") < x("probe-sum") && x("probe-sum") < x("Sink: probe-sink");')
	[ "$xs" = true ] || fail "the graph is not laid out source -> sum -> sink from left to right"
	# The vertex table lists the same vertices.
	[ "$(wd_exec 'return document.querySelectorAll("#vertex-table tr[data-vertex-id]").length')" = 3 ] ||
		fail "vertex table rows"
	# Cancel is offered for a running job when web-cancel is on (the default).
	wd_wait 10 "the cancel button" '!document.getElementById("cancel-job").hidden'
	wd_screenshot job-graph
}
section job-graph job_graph

# ---- record counters -------------------------------------------------------------------
# vertex_metric NAME FIELD: the source box's data-<FIELD> as the page shows it.
vertex_metric() {
	wd_js 'const g = document.querySelector("#job-graph g.vertex[data-name=\"" + arguments[0] + "\"]");
		return g ? (g.getAttribute(arguments[1]) || "") : "";' "$(jq -nc --arg n "$1" --arg f "$2" '[$n, $f]')"
}
record_counters() {
	page "#/job/$PROBE"
	wd_wait 20 "the job graph" 'document.querySelectorAll("#job-graph g.vertex").length === 3'
	wd_wait 20 "records sent by the source on the page" \
		'Number(document.querySelector("#job-graph g.vertex[data-name=\"Source: probe-source\"]").getAttribute("data-write-records")) > 0'
	local first second
	first=$(vertex_metric "Source: probe-source" data-write-records)
	# The page refreshes itself every REFRESH_MS; at 1000 rows/s the count must grow.
	wd_wait 30 "the source's records sent to grow past $first" \
		'Number(document.querySelector("#job-graph g.vertex[data-name=\"Source: probe-source\"]").getAttribute("data-write-records")) > Number(arguments[0])' \
		"$(js_str "$first")"
	second=$(vertex_metric "Source: probe-source" data-write-records)
	note "source records sent: $first, then $second"
	wd_wait 30 "records received by the sum to grow" \
		'Number(document.querySelector("#job-graph g.vertex[data-name=\"probe-sum\"]").getAttribute("data-read-records")) > 0'
	local text
	text=$(wd_text '#job-graph g.vertex[data-name="Source: probe-source"] text[data-field="records-out"]')
	[[ "$text" =~ ^Records\ out:\ [0-9,]+$ ]] || fail "records out text: '$text'"
}
section record-counters record_counters

# ---- backpressure colour ---------------------------------------------------------------
backpressure() {
	WD_FAIL_IF=$(missing_route "#error-banner, .error, [data-backpressure-error]")
	page "#/job/$PROBE"
	wd_wait 30 "a backpressure level on every box" \
		'[...document.querySelectorAll("#job-graph g.vertex")].length === 3 && [...document.querySelectorAll("#job-graph g.vertex")].every(g => ["ok", "low", "high"].includes(g.dataset.backpressure))'
	local fill
	fill=$(wd_js 'const g = document.querySelector("#job-graph g.vertex[data-name=\"probe-sum\"]");
		return g.dataset.backpressure + " " + getComputedStyle(g.querySelector("rect.box")).fill;')
	note "probe-sum backpressure and fill: $fill"
	# A fast sink at 1000 rows/s is not backpressured.
	[[ "$fill" == "ok rgb(230, 244, 231)" ]] || fail "probe-sum box: '$fill', expected ok and its colour"
}
section backpressure backpressure

# ---- vertex drawer (subtasks) ----------------------------------------------------------
vertex_drawer() {
	page "#/job/$PROBE"
	wd_wait 20 "the job graph" 'document.querySelectorAll("#job-graph g.vertex").length === 3'
	wd_click '#job-graph g.vertex[data-name="probe-sum"] rect.box'
	wd_wait 10 "the drawer" '!document.getElementById("drawer").hidden'
	wd_wait 20 "2 subtasks in the drawer" 'document.querySelectorAll("#subtask-table tr[data-subtask]").length === 2'
	wd_wait 20 "both subtasks RUNNING" \
		'[...document.querySelectorAll("#subtask-table tr[data-subtask]")].every(r => r.dataset.status === "RUNNING")'
	local idx tms
	idx=$(wd_exec 'return [...document.querySelectorAll("#subtask-table tr[data-subtask]")].map(r => r.dataset.subtask).sort().join(",")')
	[ "$idx" = '"0,1"' ] || fail "subtask indexes: $idx"
	tms=$(wd_exec 'return [...document.querySelectorAll("#subtask-table tr[data-subtask]")].map(r => r.dataset.taskmanagerId).every(t => /^tm-[01]$/.test(t))')
	[ "$tms" = true ] || fail "subtasks do not name TaskManagers tm-0/tm-1"
	wd_wait 20 "subtask records received" \
		'[...document.querySelectorAll("#subtask-table tr[data-subtask] td:nth-child(6)")].some(td => /^[0-9,]+$/.test(td.textContent) && td.textContent !== "0")'
	wd_wait 20 "a backpressure level in the drawer" \
		'["ok", "low", "high"].includes((document.getElementById("vertex-backpressure-level") || {dataset: {}}).dataset.backpressure)'
	wd_screenshot vertex-drawer
	wd_click '#drawer-close'
	wd_wait 5 "the drawer closed" 'document.getElementById("drawer").hidden'
}
section vertex-drawer vertex_drawer

# ---- tabs ------------------------------------------------------------------------------
job_tabs() {
	page "#/job/$PROBE/checkpoints"
	wd_wait 20 "the checkpoints tab" \
		'document.getElementById("checkpoints-empty") || document.getElementById("checkpoint-history")'
	[ "$(wd_text '#checkpoints-empty')" = "No checkpoints yet" ] ||
		fail "checkpoints tab: '$(wd_text '#job-panel-checkpoints')'"
	wd_click '#tab-exceptions'
	wd_wait 20 "the exceptions tab" 'document.getElementById("exception-list")'
	[ "$(wd_text '#exceptions-empty')" = "No exceptions" ] || fail "exceptions: $(wd_text '#job-panel-exceptions')"
	wd_click '#tab-configuration'
	wd_wait 20 "the configuration tab" 'document.getElementById("job-config-table")'
	wd_wait 10 "the job's id in its configuration" \
		'document.getElementById("job-config-table").innerText.includes(arguments[0])' "$(js_str "$PROBE")"
}
section job-tabs job_tabs

# ---- cancel from the page --------------------------------------------------------------
cancel_from_page() {
	page "#/job/$PROBE"
	wd_wait 20 "the cancel button" '!document.getElementById("cancel-job").hidden'
	wd_click '#cancel-job'
	wd_wait 5 "the confirmation" '!document.getElementById("cancel-confirm").hidden'
	job_status_is "$PROBE" RUNNING || fail "the job stopped before the confirmation"
	wd_click '#cancel-confirm'
	wait_until 30 "job $PROBE CANCELED after Cancel on the page" job_status_is "$PROBE" CANCELED
	wd_wait 20 "the page to show CANCELED" 'document.getElementById("job-state").textContent === "CANCELED"'
	wd_wait 10 "the cancel button hidden" 'document.getElementById("cancel-job").hidden'
	wait_until 20 "all slots free" overview_is slots-available $((NTM * SLOTS))
	page "#/overview"
	wd_wait 20 "the probe among the completed jobs, CANCELED" \
		'(document.querySelector("#completed-jobs tr[data-job-id=\"" + arguments[0] + "\"]") || {dataset: {}}).dataset.jobState === "CANCELED"' \
		"$(js_str "$PROBE")"
	wd_wait 10 "1 canceled job counted" 'document.getElementById("jobs-cancelled").textContent === "1"'
	wd_wait 10 "all slots available again" \
		'document.getElementById("slots-available").textContent === arguments[0]' "[\"$((NTM * SLOTS))\"]"
}
section cancel cancel_from_page

# ---- errors are shown, refreshing goes on ----------------------------------------------
error_banner() {
	local bogus=0123456789abcdef0123456789abcdef
	page "#/job/$bogus"
	wd_wait 20 "the error banner for an unknown job" \
		'!document.getElementById("error-banner").hidden && document.getElementById("error-banner").textContent.includes("not found")'
	wd_screenshot error-banner
	page "#/overview"
	wd_wait 20 "the banner gone on a good page" 'document.getElementById("error-banner").hidden'
}
section error-banner error_banner

# ---- TaskManagers ----------------------------------------------------------------------
taskmanagers() {
	page "#/taskmanagers"
	wd_wait 20 "$NTM TaskManagers listed" 'document.querySelectorAll("#tm-table tr[data-tm-id]").length === 2'
	local ids
	ids=$(wd_exec 'return [...document.querySelectorAll("#tm-table tr[data-tm-id]")].map(r => r.dataset.tmId + ":" + r.dataset.slots).join(" ")')
	[ "$ids" = '"tm-0:2 tm-1:2"' ] || fail "TaskManagers: $ids"
	local port
	port=$(rest_get /taskmanagers | jq -r '.taskmanagers[] | select(.id == "tm-1") | .dataPort')
	wd_click '#tm-table tr[data-tm-id="tm-1"] td:nth-child(2)'
	wd_wait 20 "the tm-1 page" 'document.getElementById("tm-id") && document.getElementById("tm-id").textContent === "tm-1"'
	[ "$(wd_text '#tm-slots')" = "$SLOTS" ] || fail "tm-1 slots: $(wd_text '#tm-slots')"
	[ "$(wd_text '#tm-data-port')" = "$port" ] || fail "tm-1 data port: $(wd_text '#tm-data-port'), REST says $port"
	wd_wait 20 "tm-1's log list" 'document.querySelectorAll("#tm-logs tr[data-log-name]").length > 0'
	wd_wait 20 "tm-1 memory or CPU metrics" \
		'document.querySelectorAll("#tm-metrics tr[data-config-key]").length > 0 || /[0-9]/.test(document.getElementById("tm-cpu-cores").textContent)'
	wd_screenshot taskmanager
	wd_click '#tm-logs tr[data-log-name] a'
	wd_wait 20 "a TaskManager log" 'document.getElementById("log-content") && document.getElementById("log-content").textContent.length > 0'
}
section taskmanagers taskmanagers

# ---- JobManager ------------------------------------------------------------------------
jobmanager_config() {
	WD_FAIL_IF=$(missing_route "#error-banner")
	page "#/jobmanager"
	wd_wait 20 "the JobManager configuration" \
		'document.querySelector("#jm-config tr[data-config-key=\"jobmanager.rpc.address\"]")'
	local v
	v=$(wd_text '#jm-config tr[data-config-key="jobmanager.rpc.address"] td:nth-child(2)')
	[ "$v" = 127.0.0.1 ] || fail "jobmanager.rpc.address on the page: '$v'"
	v=$(wd_text '#jm-config tr[data-config-key="web.refresh-interval"] td:nth-child(2)')
	[ "$v" = "$REFRESH_MS" ] || fail "web.refresh-interval on the page: '$v'"
}
section jobmanager-config jobmanager_config

jobmanager_logs() {
	page "#/jobmanager"
	wd_wait 20 "the JobManager's log list" 'document.querySelectorAll("#jm-logs tr[data-log-name]").length > 0'
	wd_click '#jm-logs tr[data-log-name] a'
	wd_wait 20 "a JobManager log" 'document.getElementById("log-content") && document.getElementById("log-content").textContent.length > 0'
}
section jobmanager-logs jobmanager_logs

# ---- submit from the page --------------------------------------------------------------
submit_from_page() {
	generate_text "$TMP/in.txt" 3000 11
	oracle_word_counts "$TMP/in.txt" >"$TMP/wc.expected"
	mkdir -p "$TMP/ui-out"
	page "#/submit"
	wd_wait 20 "the upload field" 'document.getElementById("jar-file") && !document.getElementById("nav-submit").hidden'
	wd_send_file '#jar-file' "$EXAMPLES/wordcount.so"
	wd_wait 30 "wordcount.so uploaded and listed" \
		'document.querySelector("#jar-list tr[data-jar-name=\"wordcount.so\"]")'
	local jar
	jar=$(wd_js 'return document.querySelector("#jar-list tr[data-jar-name=\"wordcount.so\"]").dataset.jarId')
	rest_get /jars | jq -e --arg id "$jar" '.files | map(.id) | index($id) != null' >/dev/null ||
		fail "GET /jars does not list the uploaded '$jar'"
	wd_click "#jar-list tr[data-jar-id=\"$jar\"] td:first-child"
	wd_wait 10 "the run form" '!document.getElementById("jar-form").hidden'
	wd_type '#jar-parallelism' 2
	wd_type '#jar-args' "--input $TMP/in.txt --output $TMP/ui-out"
	wd_click '#jar-plan'
	wd_wait 20 "the plan graph" 'document.querySelectorAll("#jar-plan-graph g.vertex").length > 0'
	graph_boxes "#jar-plan-graph" >"$TMP/plan.actual"
	printf '%s\n' "Source: file-input -> tokenizer|2|Source: file-input;tokenizer" \
		"counter -> Sink: file-sink|2|counter;Sink: file-sink" | sort >"$TMP/plan.expected"
	expect_same "$TMP/plan.expected" "$TMP/plan.actual" "WordCount plan on the submit page"
	wd_click '#jar-run'
	wd_wait 30 "the new job's page" '/^#\/job\/[0-9a-f]{32}$/.test(location.hash)'
	local jid
	jid=$(wd_js 'return location.hash.slice(6)')
	wait_until 60 "WordCount $jid FINISHED" job_status_is "$jid" FINISHED
	local parts=("$TMP/ui-out"/part-*)
	[ "${#parts[@]}" -eq 2 ] && [ -e "${parts[0]}" ] || fail "expected 2 part files, got: $(ls "$TMP/ui-out")"
	cat "$TMP/ui-out"/part-* | final_counts_from_updates >"$TMP/wc.actual"
	expect_same "$TMP/wc.expected" "$TMP/wc.actual" "WordCount submitted from the page"
	wd_wait 20 "the page to show FINISHED" 'document.getElementById("job-state").textContent === "FINISHED"'
	wd_wait 20 "the WordCount graph" 'document.querySelectorAll("#job-graph g.vertex").length === 2'
	graph_boxes "#job-graph" >"$TMP/wcgraph.actual"
	expect_same "$TMP/plan.expected" "$TMP/wcgraph.actual" "WordCount job graph"
	wd_wait 10 "no cancel button on a finished job" 'document.getElementById("cancel-job").hidden'
	wd_screenshot wordcount-job
	# Delete the library from the page.
	page "#/submit"
	wd_wait 20 "the library listed" 'document.querySelector("#jar-list tr[data-jar-id=\"" + arguments[0] + "\"]")' "$(js_str "$jar")"
	wd_click "#jar-list tr[data-jar-id=\"$jar\"] td:first-child"
	wd_wait 10 "the run form" '!document.getElementById("jar-form").hidden'
	wd_click '#jar-delete'
	wd_wait 20 "the library gone from the list" '!document.querySelector("#jar-list tr[data-jar-id=\"" + arguments[0] + "\"]")' "$(js_str "$jar")"
	rest_get /jars | jq -e --arg id "$jar" '.files | map(.id) | index($id) == null' >/dev/null ||
		fail "GET /jars still lists '$jar' after Delete"
}
section submit submit_from_page

cluster_finish

# ---- features off: no submit, no cancel ------------------------------------------------
cluster_start 1 1 -D web.refresh-interval=$REFRESH_MS -D web.submit.enable=false -D web.cancel.enable=false
features_off() {
	page "#/overview"
	wd_wait 20 "the overview" 'document.getElementById("tm-count").textContent === "1"'
	[ "$(wd_exec 'return document.getElementById("nav-submit").hidden')" = true ] ||
		fail "the Submit link is shown with web.submit.enable=false"
	page "#/submit"
	wd_wait 20 "submission disabled" 'document.getElementById("submit-disabled")'
	[ "$(wd_exec 'return !!document.getElementById("jar-file")')" = false ] || fail "upload field shown"
	# A short job: the page must show it RUNNING without a cancel button.
	submit_detached short -p 1 "$JOBS/cluster_probe.so" --n 8000 --rate 1000
	page "#/job/$JOB_ID"
	wd_wait 20 "the short job RUNNING on the page" 'document.getElementById("job-state").textContent === "RUNNING"'
	[ "$(wd_exec 'return document.getElementById("cancel-job").hidden')" = true ] ||
		fail "the cancel button is shown with web.cancel.enable=false"
	wait_until 60 "the short job FINISHED" job_status_is "$JOB_ID" FINISHED
}
section features-off features_off
cluster_finish

if [ "${#FAILED[@]}" -gt 0 ]; then
	fail "failed sections: ${FAILED[*]}"
fi
