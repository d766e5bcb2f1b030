#!/usr/bin/env bash
# Flink's /jars endpoints: upload a job library, list it, show its plan, run it, delete it.
# WordCount uploaded with curl runs at parallelism 2 on a session cluster and its output
# matches the coreutils oracle. Bad uploads (empty, not ELF, truncated, no entry point, an
# old API version, a path in the file name), bad ids, bad request bodies and parameters
# are refused with one error line; entry points that crash, abort, hang or print to stdout
# run in a child process and never take the JobManager down. With web.submit.enable:
# false every /jars endpoint answers 403. The default upload directory is made mode 0700
# and removed at shutdown; a configured one is kept.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster_lib.sh"

WORDCOUNT="$EXAMPLES/wordcount.so"
require_file "$WORDCOUNT" "$JOBS/no_entry.so" "$JOBS/bad_main.so" "$JOBS/version_mismatch.so"

# The JobManager makes its default upload directory under $TMPDIR: keep it in the test's.
export TMPDIR="$TMP/tmpdir"
mkdir -p "$TMPDIR"

# api METHOD PATH [CURL ARGS...]: calls the REST API; sets CODE (HTTP status, 000 when
# the call failed) and BODY.
CODE=
BODY=
api() {
	local method=$1 path=$2
	shift 2
	CODE=$(curl -s -o "$TMP/api.body" -w '%{http_code}' --max-time 60 -X "$method" "$@" \
		"http://$REST$path") || CODE=000
	BODY=$(cat "$TMP/api.body" 2>/dev/null || true)
}

# upload FILE [NAME]: POST /jars/upload with FILE as the `jarfile` part (sent as NAME).
upload() {
	local spec="jarfile=@$1"
	[ $# -lt 2 ] || spec="$spec;filename=\"$2\""
	api POST /jars/upload -H "Expect:" -F "$spec"
}

# post_json PATH JSON: POST with a JSON body.
post_json() {
	api POST "$1" -H 'Content-Type: application/json' --data-binary "$2"
}

# expect_code WANT WHAT: the last call answered WANT.
expect_code() {
	[ "$CODE" = "$1" ] || fail "$2: HTTP $CODE, expected $1: $BODY"
}

# expect_error WANT PATTERN WHAT: the last call answered WANT with Flink's error shape,
# {"errors":["<one line>"]}, the line matching the extended regex PATTERN.
expect_error() {
	expect_code "$1" "$3"
	jq -e '(keys == ["errors"]) and (.errors | length == 1) and (.errors[0] | type == "string")' \
		<<<"$BODY" >/dev/null 2>&1 || fail "$3: not {\"errors\":[\"...\"]}: $BODY"
	local msg
	msg=$(jq -r '.errors[0]' <<<"$BODY")
	[[ "$msg" != *$'\n'* ]] || fail "$3: the error is more than one line: $msg"
	grep -Eq -- "$2" <<<"$msg" || fail "$3: the error does not match /$2/: $msg"
}

# jm_alive WHAT: the JobManager process runs and answers.
jm_alive() {
	kill -0 "$JM_PID" 2>/dev/null || { cluster_dump; fail "$1: the JobManager died"; }
	rest_get /overview >/dev/null || { cluster_dump; fail "$1: the JobManager does not answer"; }
}

# jar_count: how many jars GET /jars lists.
jar_count() {
	rest_get /jars | jq '.files | length'
}

# wait_finished JOBID WHAT: the job reaches FINISHED (fails at once on FAILED/CANCELED).
job_ended_finished() {
	local s
	s=$(rest_get "/jobs/$1/status" | jq -r .status)
	case "$s" in
	FINISHED) return 0 ;;
	FAILED | CANCELED) fail "job $1 ended $s: $(rest_get "/jobs/$1/execution-result")" ;;
	*) return 1 ;;
	esac
}

# expect_wordcount OUTDIR INPUT WHAT: the part files hold WordCount's rolling updates.
expect_wordcount() {
	local out=$1 in=$2 what=$3
	[ -n "$(find "$out" -name 'part-*' -type f 2>/dev/null)" ] || fail "$what: no part files in $out"
	cat "$out"/part-* | sort >"$TMP/wc.actual"
	oracle_word_updates "$in" >"$TMP/wc.expected"
	expect_same "$TMP/wc.expected" "$TMP/wc.actual" "$what"
}

generate_text "$TMP/in.txt" 400 17
t0=$(date +%s%3N)
cluster_start 1 2

# An entry point that never returns: asked for first, answered (400, after the capture
# timeout of 30 s) while everything below runs, which shows that a hung entry point blocks
# neither the JobManager nor other requests.
upload "$JOBS/bad_main.so"
expect_code 200 "upload of bad_main.so"
BAD_ID=$(basename "$(jq -r .filename <<<"$BODY")")
curl -s -o "$TMP/hang.body" -w '%{http_code}' --max-time 120 -X POST \
	-H 'Content-Type: application/json' --data '{"programArgsList": ["--mode", "hang"]}' \
	"http://$REST/jars/$BAD_ID/run" >"$TMP/hang.code" 2>/dev/null &
HANG_PID=$!
BG_PIDS+=("$HANG_PID")

# ---- upload and list ------------------------------------------------------------------
note "upload and list"
upload "$WORDCOUNT"
expect_code 200 "upload of wordcount.so"
[ "$(jq -r .status <<<"$BODY")" = success ] || fail "upload status is not success: $BODY"
STORED=$(jq -r .filename <<<"$BODY")
ID=$(basename "$STORED")
UPLOAD_DIR=$(dirname "$STORED")
[[ "$ID" =~ ^[0-9a-f]{32}_wordcount\.so$ ]] || fail "unexpected jar id '$ID'"
[[ "$UPLOAD_DIR" == "$TMPDIR"/spate-web-* ]] || fail "upload directory '$UPLOAD_DIR' is not \$TMPDIR/spate-web-*"
[ "$(stat -c %a "$UPLOAD_DIR")" = 700 ] || fail "upload directory mode is $(stat -c %a "$UPLOAD_DIR"), expected 700"
cmp -s "$STORED" "$WORDCOUNT" || fail "the stored library differs from the uploaded one"
[ "$(stat -c %a "$STORED")" = 600 ] || fail "stored library mode is $(stat -c %a "$STORED"), expected 600"

api GET /jars
expect_code 200 "GET /jars"
t1=$(date +%s%3N)
jq -e --arg id "$ID" --arg addr "http://$REST" --argjson t0 "$t0" --argjson t1 "$t1" '
	.address == $addr and
	(.files | map(select(.id == $id)) | length == 1) and
	(.files[] | select(.id == $id) |
		.name == "wordcount.so" and .uploaded >= $t0 - 1000 and .uploaded <= $t1 + 1000 and
		.entry == [{"name": "spate_job_main", "description": null}])' <<<"$BODY" >/dev/null ||
	fail "GET /jars does not list $ID as expected: $BODY"

# Eight uploads at once: eight distinct ids, all listed, newest first.
n_before=$(jar_count)
pids=()
for i in 1 2 3 4 5 6 7 8; do
	curl -s --max-time 60 -H "Expect:" -F "jarfile=@$WORDCOUNT;filename=copy$i.so" \
		"http://$REST/jars/upload" >"$TMP/par$i.json" &
	pids+=($!)
done
for pid in "${pids[@]}"; do
	wait "$pid" || fail "a concurrent upload failed"
done
ids=$(cat "$TMP"/par*.json | jq -r .filename | xargs -n1 basename | sort -u | wc -l)
[ "$ids" -eq 8 ] || fail "8 concurrent uploads gave $ids distinct ids"
[ "$(jar_count)" -eq $((n_before + 8)) ] || fail "GET /jars lists $(jar_count) jars, expected $((n_before + 8))"
rest_get /jars | jq -e '[.files[].uploaded] as $u | $u == ($u | sort | reverse)' >/dev/null ||
	fail "GET /jars is not newest first: $(rest_get /jars)"
[ -z "$(find "$UPLOAD_DIR" -name '.*' -type f)" ] || fail "temporary files left in the upload directory"

# ---- plan ------------------------------------------------------------------------------
note "plan"
post_json "/jars/$ID/plan" "{\"parallelism\": 2, \"programArgsList\": [\"--input\", \"$TMP/in.txt\"]}"
expect_code 200 "POST plan"
jq -e '.plan.summary == {"jobVertices": 2, "subtasks": 4, "slotsNeeded": 2} and
	(.plan.jobGraph.nodes | length == 2) and
	([.plan.jobGraph.nodes[].parallelism] == [2, 2]) and
	([.plan.nodes[].parallelism] | all(. == 2))' <<<"$BODY" >/dev/null ||
	fail "unexpected plan for parallelism 2: $BODY"
# The same plan `spate info` prints for the same library and arguments (the job id aside).
jq -S 'del(.plan.jobGraph.jid) | .plan' <<<"$BODY" >"$TMP/plan.rest"
run_spate info info -p 2 "$WORDCOUNT" --input "$TMP/in.txt"
expect_rc info 0
sed -n '/^-* Execution Plan -*$/,/^-*$/p' "$TMP/info.out" | sed '1d;$d' |
	jq -S 'del(.jobGraph.jid)' >"$TMP/plan.info"
expect_same "$TMP/plan.info" "$TMP/plan.rest" "plan from /jars/:jarid/plan vs spate info"

# GET with query parameters (programArg is comma-separated, as in Flink).
api GET "/jars/$ID/plan?parallelism=3&programArg=--input,$TMP/in.txt&entry-class=spate_job_main"
expect_code 200 "GET plan with query parameters"
jq -e '.plan.summary.subtasks == 6 and ([.plan.jobGraph.nodes[].parallelism] == [3, 3])' \
	<<<"$BODY" >/dev/null || fail "unexpected plan for parallelism 3: $BODY"

# ---- run -------------------------------------------------------------------------------
note "run"
post_json "/jars/$ID/run" "{\"entryClass\": \"spate_job_main\", \"parallelism\": 2,
	\"programArgsList\": [\"--input\", \"$TMP/in.txt\", \"--output\", \"$TMP/out1\"],
	\"savepointPath\": null, \"allowNonRestoredState\": false}"
expect_code 200 "run"
JOB1=$(jq -r .jobid <<<"$BODY")
[[ "$JOB1" =~ ^[0-9a-f]{32}$ ]] || fail "run answered no job id: $BODY"
wait_until 60 "job $JOB1 FINISHED" job_ended_finished "$JOB1"
expect_wordcount "$TMP/out1" "$TMP/in.txt" "WordCount run through /jars at parallelism 2"
[ "$(find "$TMP/out1" -name 'part-*' -type f | wc -l)" -eq 2 ] || fail "expected 2 part files: $(ls "$TMP/out1")"

# Query parallelism, programArgs as one string (quotes keep a space in a path), a chosen
# job id; the dashboard sends nulls for what it leaves out.
mkdir -p "$TMP/with space"
cp "$TMP/in.txt" "$TMP/with space/in.txt"
WANT_ID=0123456789abcdef0123456789abcdef
post_json "/jars/$ID/run?parallelism=1" "{\"programArgs\": \"--input '$TMP/with space/in.txt' --output $TMP/out2\",
	\"jobId\": \"$WANT_ID\", \"entryClass\": null, \"parallelism\": null, \"programArgsList\": null}"
expect_code 200 "run with programArgs and jobId"
[ "$(jq -r .jobid <<<"$BODY")" = "$WANT_ID" ] || fail "run did not use the given jobId: $BODY"
wait_until 60 "job $WANT_ID FINISHED" job_ended_finished "$WANT_ID"
expect_wordcount "$TMP/out2" "$TMP/in.txt" "WordCount run with programArgs"
[ "$(find "$TMP/out2" -name 'part-*' -type f | wc -l)" -eq 1 ] || fail "parallelism=1 gave $(ls "$TMP/out2")"
post_json "/jars/$ID/run" "{\"jobId\": \"$WANT_ID\", \"programArgsList\": [\"--input\", \"$TMP/in.txt\"]}"
expect_error 409 "$WANT_ID" "run with a job id already taken"

# ---- bad uploads -----------------------------------------------------------------------
note "bad uploads"
n_files=$(find "$UPLOAD_DIR" -type f | wc -l)
: >"$TMP/empty.so"
upload "$TMP/empty.so"
expect_error 400 "'empty\.so' is empty" "zero-byte upload"
upload "$SPATE_SRC/README.md" notes.so
expect_error 400 "'notes\.so' is not a shared library \(no ELF header\)" "text upload"
head -c 300 "$WORDCOUNT" >"$TMP/truncated.so"
upload "$TMP/truncated.so"
expect_error 400 "'truncated\.so' is not a valid ELF file" "truncated ELF upload"
upload "$JOBS/no_entry.so"
expect_error 400 "'no_entry\.so' has no entry point .*spate_job_main" "upload without an entry point"
upload "$JOBS/version_mismatch.so"
expect_error 400 "API version 999" "upload built for another API version"
api POST /jars/upload -F "other=@$WORDCOUNT"
expect_error 400 "jarfile" "upload without a jarfile field"
api POST /jars/upload -H 'Content-Type: application/json' --data '{}'
expect_error 400 "jarfile" "upload that is not multipart"
[ "$(find "$UPLOAD_DIR" -type f | wc -l)" -eq "$n_files" ] || fail "a refused upload left a file: $(ls -a "$UPLOAD_DIR")"

# A path in the file name picks nothing: the library lands in the upload directory under a
# sanitised name (Flink's CVE-2020-17518).
for name in "../../x.so" "/etc/cron.d/y.so" "..\\..\\z.so" "a b;\$(id).so" ".."; do
	upload "$WORDCOUNT" "$name"
	expect_code 200 "upload named '$name'"
	stored=$(jq -r .filename <<<"$BODY")
	[ "$(dirname "$stored")" = "$UPLOAD_DIR" ] || fail "upload named '$name' stored outside the upload directory: $stored"
	[ -f "$stored" ] || fail "upload named '$name': '$stored' does not exist"
	[[ "$(basename "$stored")" =~ ^[0-9a-f]{32}_[A-Za-z0-9._-]+$ ]] || fail "unsanitised name: $stored"
done
[ ! -e "$UPLOAD_DIR/../../x.so" ] && [ ! -e /etc/cron.d/y.so ] ||
	fail "a traversal upload wrote outside the upload directory"
stray=$(find "$TMP" \( -name x.so -o -name y.so -o -name z.so -o -name '*id*.so' \) ! -path "$UPLOAD_DIR/*")
[ -z "$stray" ] || fail "an upload wrote outside the upload directory: $stray"
rest_get /jars | jq -e '[.files[].name] | index("x.so") and index("y.so") and index("job.so") and index("abid.so")' >/dev/null ||
	fail "sanitised names not listed: $(rest_get /jars | jq -c '[.files[].name]')"

# ---- bad ids and requests --------------------------------------------------------------
note "bad ids and requests"
UNKNOWN=ffffffffffffffffffffffffffffffff_nope.so
api DELETE "/jars/$UNKNOWN"
expect_error 404 "not found" "delete of an unknown jar"
post_json "/jars/$UNKNOWN/run" '{}'
expect_error 404 "not found" "run of an unknown jar"
api GET "/jars/$UNKNOWN/plan"
expect_error 404 "not found" "plan of an unknown jar"
for bad in .. abc "${ID%.so}" "%2e%2e" "..%2f..%2fetc%2fpasswd" "abc%00..%2fx" "${ID/_/\/}"; do
	# 400 or 404 from the handler; 405 when the path no longer names a /jars route at all
	api DELETE "/jars/$bad"
	[[ "$CODE" =~ ^40[045]$ ]] || fail "DELETE /jars/$bad answered $CODE: $BODY"
	post_json "/jars/$bad/run" '{}'
	[[ "$CODE" =~ ^40[045]$ ]] || fail "POST /jars/$bad/run answered $CODE: $BODY"
done
# An encoded NUL must not cut a bad id short into a good one.
api DELETE "/jars/$ID%00"
expect_code 400 "DELETE of the id followed by %00"
[ -f "$STORED" ] || fail "a bad id deleted the library"

post_json "/jars/$ID/run" '{"parallelism": '
expect_error 400 "bad request body" "malformed JSON"
post_json "/jars/$ID/run" '[1, 2]'
expect_error 400 "JSON object" "a JSON array as body"
for p in 0 -1 '"abc"' 1.5 true 40000; do
	post_json "/jars/$ID/run" "{\"parallelism\": $p}"
	expect_error 400 "bad parallelism" "parallelism $p in the body"
done
for p in 0 -1 abc; do
	post_json "/jars/$ID/plan?parallelism=$p" '{}'
	expect_error 400 "bad parallelism '$p'" "parallelism $p in the query"
done
post_json "/jars/$ID/run" '{"entryClass": "org.apache.flink.examples.WordCount"}'
expect_error 400 "entry point 'org\.apache\.flink\.examples\.WordCount' is not supported" "another entry class"
api POST "/jars/$ID/plan?entry-class=other_main"
expect_error 400 "'other_main' is not supported" "another entry class in the query"
post_json "/jars/$ID/run" '{"savepointPath": 7}'
expect_error 400 "savepointPath" "a savepointPath that is not a string"
post_json "/jars/$ID/run" '{"jobId": "XYZ"}'
expect_error 400 "bad jobId" "bad jobId"
post_json "/jars/$ID/run" '{"programArgsList": ["--input", 7]}'
expect_error 400 "programArgsList" "a number in programArgsList"
post_json "/jars/$ID/run" '{"programArgList": ["--input"]}'
expect_error 400 "unknown field 'programArgList'" "a misspelt field"
post_json "/jars/$ID/run" "{\"programArgsList\": [\"--input\", \"$TMP/missing.txt\"], \"flinkConfiguration\": {\"no.such.key\": \"1\"}}"
expect_error 400 "no\.such\.key" "an unknown configuration key"

# ---- entry points that misbehave ---------------------------------------------------------
note "entry points that misbehave"
for mode in segv abort; do
	post_json "/jars/$BAD_ID/run" "{\"programArgsList\": [\"--mode\", \"$mode\"]}"
	expect_code 400 "an entry point that does $mode"
	jm_alive "after an entry point that does $mode"
done
post_json "/jars/$BAD_ID/plan" '{"programArgsList": ["--mode", "none"]}'
expect_error 400 "did not call spate_env_execute" "an entry point that executes nothing"
# Prints to stdout (also from a constructor) and executes twice: the first graph counts.
post_json "/jars/$BAD_ID/plan" '{"programArgsList": ["--mode", "noisy"]}'
expect_code 200 "plan of a noisy entry point"
jq -e '.plan.jobGraph.name == "Noisy"' <<<"$BODY" >/dev/null || fail "noisy plan: $BODY"
post_json "/jars/$BAD_ID/run" '{"programArgsList": ["--mode", "noisy"]}'
expect_code 200 "run of a noisy entry point"
wait_until 60 "the noisy job FINISHED" job_ended_finished "$(jq -r .jobid <<<"$BODY")"

# ---- delete ------------------------------------------------------------------------------
note "delete"
api DELETE "/jars/$ID"
expect_code 200 "delete"
[ "$BODY" = "{}" ] || fail "delete answered $BODY"
[ ! -e "$STORED" ] || fail "the deleted library is still on disk"
rest_get /jars | jq -e --arg id "$ID" '[.files[].id] | index($id) == null' >/dev/null ||
	fail "GET /jars still lists the deleted jar"
api DELETE "/jars/$ID"
expect_error 404 "not found" "second delete"
post_json "/jars/$ID/run" '{}'
expect_error 404 "not found" "run of a deleted jar"

# ---- the hung entry point ------------------------------------------------------------------
note "the hung entry point"
wait_until 90 "the hung entry point's answer" test -s "$TMP/hang.code"
wait "$HANG_PID" || true
CODE=$(cat "$TMP/hang.code")
BODY=$(cat "$TMP/hang.body")
expect_error 400 "did not build a job within 30 s" "an entry point that hangs"
# Every child was reaped: the JobManager has no child processes (zombies included).
[ -z "$(ps -o pid= --ppid "$JM_PID")" ] || fail "the JobManager has children left: $(ps -o pid,stat,cmd --ppid "$JM_PID")"

# ---- a normal job still runs -----------------------------------------------------------------
note "a normal job still runs"
jm_alive "after all of it"
upload "$WORDCOUNT"
expect_code 200 "upload after all of it"
ID2=$(basename "$(jq -r .filename <<<"$BODY")")
post_json "/jars/$ID2/run" "{\"parallelism\": 2, \"programArgsList\": [\"--input\", \"$TMP/in.txt\", \"--output\", \"$TMP/out3\"]}"
expect_code 200 "run after all of it"
wait_until 60 "the last job FINISHED" job_ended_finished "$(jq -r .jobid <<<"$BODY")"
expect_wordcount "$TMP/out3" "$TMP/in.txt" "WordCount after all of it"
run_spate cli run -m "$REST" -p 2 "$WORDCOUNT" --input "$TMP/in.txt" --output "$TMP/out4"
expect_rc cli 0
expect_wordcount "$TMP/out4" "$TMP/in.txt" "WordCount through spate run after all of it"

cluster_finish
[ ! -e "$UPLOAD_DIR" ] || fail "the default upload directory '$UPLOAD_DIR' was not removed at shutdown"

# ---- web.submit.enable: false ------------------------------------------------------------------
note "web.submit.enable: false"
jobmanager_start -D web.submit.enable=false
upload "$WORDCOUNT"
expect_error 403 "web\.submit\.enable" "upload with submission disabled"
api GET /jars
expect_error 403 "web\.submit\.enable" "list with submission disabled"
post_json "/jars/$ID/run" '{}'
expect_error 403 "web\.submit\.enable" "run with submission disabled"
api GET "/jars/$ID/plan"
expect_error 403 "web\.submit\.enable" "plan with submission disabled"
api DELETE "/jars/$ID"
expect_error 403 "web\.submit\.enable" "delete with submission disabled"
rest_get /config | jq -e '.features["web-submit"] == false' >/dev/null || fail "/config does not say web-submit false"
cluster_finish
[ -z "$(ls -A "$TMPDIR")" ] || fail "a JobManager with submission disabled left files in \$TMPDIR: $(ls -A "$TMPDIR")"

# ---- web.upload.dir: used as is, kept across restarts ------------------------------------------
note "web.upload.dir"
jobmanager_start -D web.upload.dir="$TMP/uploads/jars"
upload "$WORDCOUNT"
expect_code 200 "upload into web.upload.dir"
stored=$(jq -r .filename <<<"$BODY")
[ "$(dirname "$stored")" = "$TMP/uploads/jars" ] || fail "not stored in web.upload.dir: $stored"
cluster_finish
[ -f "$stored" ] || fail "the configured upload directory was emptied at shutdown"
jobmanager_start -D web.upload.dir="$TMP/uploads/jars"
rest_get /jars | jq -e --arg id "$(basename "$stored")" '[.files[].id] == [$id]' >/dev/null ||
	fail "a restarted JobManager does not list the stored jar: $(rest_get /jars)"
cluster_finish
