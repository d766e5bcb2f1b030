#!/usr/bin/env bash
# The JobManager's REST endpoint against hostile clients, on a real JobManager:
#   - it binds 127.0.0.1 by default (no rest.address): `ss` shows it, another local address
#     is refused;
#   - the log endpoints (/jobmanager/logs, /logs/:name, /log, /stdout) serve the log
#     directory's regular files and nothing else: every path traversal spelling (Flink's
#     CVE-2020-17519 among them), symlinks, FIFOs, directories and hidden files get 400 or
#     404, never a byte of the file outside;
#   - bad input gets its status: unknown methods 405/404, long URLs 414, many or huge
#     headers 431, NUL bytes 400, malformed multipart 400, oversized bodies 413;
#   - slow clients (slowloris) are cut off after the header timeout while others are
#     served, and one address cannot take every connection;
#   - with rest.auth.token every request needs the bearer token (401 otherwise);
# after each bad input the JobManager is alive and serving, and at the end a job runs and
# its output matches the oracle.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster_lib.sh"

require_file "$JOBS/cluster_probe.so"
command -v curl >/dev/null || fail "curl is needed"

HEADER_TIMEOUT_S=10 # HTTP_SERVER_HEADER_TIMEOUT_S
PER_IP_LIMIT=64     # HTTP_SERVER_MAX_CONNECTIONS_PER_IP
MARKER="secret-$RANDOM-$RANDOM-$$"

# jm_start_default DIR [-D k=v ...]: a JobManager with the REST address left to its
# default (no rest.address, no rest.bind-address); waits for its address file. Sets
# CL_DIR, JM_PID, REST (host:port), RPC_PORT and PORT.
jm_start_default() {
	CL_DIR=$1
	shift
	mkdir -p "$CL_DIR"
	"$SPATE" jobmanager -D env.log.dir="$CL_DIR" -D rest.port=0 -D jobmanager.rpc.port=0 \
		-D blob.storage.directory="$CL_DIR/blobs" "$@" \
		>"$CL_DIR/jobmanager.out" 2>"$CL_DIR/jobmanager.log" </dev/null &
	JM_PID=$!
	BG_PIDS+=("$JM_PID")
	wait_until 20 "the JobManager's address file" test -s "$CL_DIR/jobmanager.address"
	REST=$(sed -n 's/^rest=//p' "$CL_DIR/jobmanager.address")
	RPC_PORT=$(sed -n 's/^rpc=.*://p' "$CL_DIR/jobmanager.address")
	PORT=${REST##*:}
	[[ "$PORT" =~ ^[0-9]+$ ]] && [ -n "$RPC_PORT" ] ||
		fail "bad address file: $(cat "$CL_DIR/jobmanager.address")"
}

# code PATH [CURL ARGS...]: the status of PATH (sent as is: no ../ normalisation); the body
# goes to $TMP/body, the headers to $TMP/headers. "000" when no answer came.
code() {
	local path=$1
	shift
	curl -s --path-as-is --max-time 15 -o "$TMP/body" -D "$TMP/headers" -w '%{http_code}' \
		"$@" "http://127.0.0.1:$PORT$path" || true
}

# serving WHAT: the JobManager process is alive and answers a normal request.
serving() {
	kill -0 "$JM_PID" 2>/dev/null || { cluster_dump; fail "the JobManager died after: $1"; }
	local c
	c=$(curl -s --max-time 10 -o "$TMP/ok.json" -w '%{http_code}' "${AUTH[@]}" \
		"http://127.0.0.1:$PORT/overview" || true)
	[ "$c" = 200 ] && jq -e '."slots-total" >= 0' "$TMP/ok.json" >/dev/null ||
		{ cluster_dump; fail "the JobManager does not serve /overview after: $1 (status $c)"; }
}

# expect PATH WANT [CURL ARGS...]: GET PATH answers WANT (one of "400|404" style
# alternatives), never with the planted secret or /etc/passwd, and the JobManager serves
# on.
expect() {
	local path=$1 want=$2
	shift 2
	local c
	c=$(code "$path" "$@")
	[[ "$c" =~ ^($want)$ ]] || { show "$TMP/body" 5; fail "$path: status $c, expected $want"; }
	if grep -q -e "$MARKER" -e '^root:' "$TMP/body" 2>/dev/null; then
		fail "$path: the answer holds a file from outside the log directory"
	fi
	serving "$path"
}

# raw HEX-ESCAPED-REQUEST: sends the bytes (printf %b) on a fresh connection through bash's
# /dev/tcp and prints what the server answers until it closes (bounded by timeout).
raw() {
	timeout -k 2 20 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 99
		printf "%b" "$2" >&3; cat <&3' _ "$PORT" "$1" || true
}

AUTH=()

# ==== 1. the default bind address ======================================================
jm_start_default "$TMP/cluster"
taskmanager_start 2
wait_until 20 "2 slots" overview_is slots-total 2
note "JobManager on $REST (pid $JM_PID)"

grep -q "Rest endpoint listening at localhost:$PORT (bound to 127\.0\.0\.1)$" "$CL_DIR/jobmanager.log" ||
	{ show "$CL_DIR/jobmanager.log"; fail "no log line saying the REST endpoint is bound to 127.0.0.1"; }
if command -v ss >/dev/null; then
	listen=$(ss -Hltn "sport = :$PORT" | awk '{ print $4 }')
	[ "$listen" = "127.0.0.1:$PORT" ] || fail "ss shows the REST port listening on '$listen', expected 127.0.0.1:$PORT only"
else
	note "ss is not installed: listening address not checked with ss"
fi
OTHER_IP=$(hostname -I 2>/dev/null | tr ' ' '\n' | grep -E '^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$' | grep -v '^127\.' | head -n 1 || true)
if [ -n "$OTHER_IP" ]; then
	rc=0
	curl -s --max-time 5 -o /dev/null "http://$OTHER_IP:$PORT/overview" || rc=$?
	# 7: connection refused; 28: timed out (filtered). 0 would mean it answered.
	[ "$rc" -eq 7 ] || [ "$rc" -eq 28 ] || fail "the REST endpoint answered on $OTHER_IP:$PORT (curl exit $rc)"
	note "not reachable on $OTHER_IP:$PORT (curl exit $rc)"
else
	note "no non-loopback IPv4 address here: reachability from another address not checked"
fi
serving "bind checks"

# ==== 2. the log endpoints ==============================================================
# Planted: a secret next to the log directory (what ../ would reach), a symlink to it and a
# FIFO inside, a hidden file, a small and a large regular file with known content.
echo "$MARKER" >"$TMP/secret.txt"
ln -s "$TMP/secret.txt" "$CL_DIR/evil.txt"
ln -s /etc/passwd "$CL_DIR/passwd.txt"
mkfifo "$CL_DIR/pipe.fifo"
echo "$MARKER" >"$CL_DIR/.hidden"
generate_text "$CL_DIR/static.txt" 200 7
generate_text "$CL_DIR/big.dat" 150000 11 # ~7 MB: streamed, not loaded

expect /jobmanager/logs 200
jq -r '.logs[].name' "$TMP/body" | sort >"$TMP/names.actual"
(cd "$CL_DIR" && find . -maxdepth 1 -type f ! -name '.*' -printf '%f\n' | sort) >"$TMP/names.expected"
expect_same "$TMP/names.expected" "$TMP/names.actual" "the names /jobmanager/logs lists (regular files, no symlink, FIFO, directory or hidden file)"
for f in static.txt big.dat; do
	got=$(jq -r --arg n "$f" '.logs[] | select(.name == $n) | .size' "$TMP/body")
	[ "$got" = "$(wc -c <"$CL_DIR/$f")" ] || fail "/jobmanager/logs: size of $f is '$got', wc -c says $(wc -c <"$CL_DIR/$f")"
done

expect /jobmanager/logs/static.txt 200
cmp -s "$TMP/body" "$CL_DIR/static.txt" || fail "/jobmanager/logs/static.txt differs from the file"
grep -qi '^content-type: text/plain' "$TMP/headers" || fail "/jobmanager/logs/static.txt is not text/plain"
expect /jobmanager/logs/big.dat 200
cmp -s "$TMP/body" "$CL_DIR/big.dat" || fail "/jobmanager/logs/big.dat differs from the file"

# The JobManager's own .log and .out: a snapshot of the growing file, so compare prefixes.
expect /jobmanager/log 200
n=$(wc -c <"$TMP/body")
[ "$n" -gt 0 ] && cmp -s -n "$n" "$TMP/body" "$CL_DIR/jobmanager.log" || fail "/jobmanager/log is not the JobManager's log file"
expect /jobmanager/stdout 200
n=$(wc -c <"$TMP/body")
cmp -s -n "$n" "$TMP/body" "$CL_DIR/jobmanager.out" || fail "/jobmanager/stdout is not the JobManager's .out file"

# Every traversal spelling. Decoded once by the server: %2f becomes a separator (no route
# matches: 404), %252f reaches the handler as "%2f" (not a plain name: 400).
for p in \
	"/jobmanager/logs/../../etc/passwd 404" \
	"/jobmanager/logs/../secret.txt 404" \
	"/jobmanager/logs/..%2fsecret.txt 404" \
	"/jobmanager/logs/..%2f..%2f..%2fetc%2fpasswd 404" \
	"/jobmanager/logs/%2e%2e%2fsecret.txt 404" \
	"/jobmanager/logs/%2e%2e%2f 400" \
	"/jobmanager/logs/..%2f 400" \
	"/jobmanager/logs/%2e%2e 400" \
	"/jobmanager/logs/.. 400" \
	"/jobmanager/logs/. 400" \
	"/jobmanager/logs/..%252fsecret.txt 400" \
	"/jobmanager/logs/..%252f..%252f..%252f..%252f..%252f..%252fetc%252fpasswd 400" \
	"/jobmanager/logs/%252e%252e%252fsecret.txt 400" \
	"/jobmanager/logs/%252e%252e%252f 400" \
	"/jobmanager/logs/%2fetc%2fpasswd 404" \
	"/jobmanager/logs//etc/passwd 404" \
	"/jobmanager/logs/%2Fetc%2Fpasswd 404" \
	"/jobmanager/logs/..%5csecret.txt 400" \
	"/jobmanager/logs/..%5c..%5cetc%5cpasswd 400" \
	'/jobmanager/logs/..\secret.txt 400' \
	"/jobmanager/logs/%00 400" \
	"/jobmanager/logs/static.txt%00 400" \
	"/jobmanager/logs/static.txt%00.log 400" \
	"/jobmanager/logs/secret.txt%00/../x 400" \
	"/jobmanager/logs/a%20b.txt 400" \
	"/jobmanager/logs/.hidden 400" \
	"/jobmanager/logs/%2ehidden 400" \
	"/jobmanager/logs/evil.txt 404" \
	"/jobmanager/logs/passwd.txt 404" \
	"/jobmanager/logs/pipe.fifo 404" \
	"/jobmanager/logs/blobs 404" \
	"/jobmanager/logs/no-such.log 404" \
	"/jobmanager/log/../logs/..%252fsecret.txt 404" \
	"/jobmanager/logs/static.txt/.. 404"; do
	expect "${p% *}" "${p##* }"
	# A rejection is one Flink error line, naming no path outside.
	jq -e '.errors | length == 1' "$TMP/body" >/dev/null || { show "$TMP/body"; fail "${p% *}: not a {\"errors\":[...]} answer"; }
done
# The FIFO was refused without waiting for a writer (the request above returned), and the
# secret is untouched by all of it.
[ "$(cat "$TMP/secret.txt")" = "$MARKER" ] || fail "the secret file changed"

# A raw NUL byte inside the request line: the path must not be cut at it.
out=$(raw 'GET /jobmanager/logs/static.txt\0/../../secret.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' | head -c 4096 | tr -d '\0')
[[ "$out" == "HTTP/1.1 400"* ]] || fail "a NUL byte in the request line: expected 400, got: ${out:0:200}"
[[ "$out" != *"$MARKER"* ]] || fail "a NUL byte in the request line leaked the secret"
serving "a NUL byte in the request line"
out=$(raw '\0\0\0GET /jobmanager/logs HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' | head -c 4096 | tr -d '\0')
[ -z "$out" ] || [[ "$out" == "HTTP/1.1 400"* ]] || fail "NUL bytes before the request: expected 400 or a close, got: ${out:0:200}"
serving "NUL bytes before the request"

# ==== 3. methods, URL and header limits ================================================
expect /jobmanager/logs 405 -X BREW
grep -qi '^allow: GET' "$TMP/headers" || fail "BREW /jobmanager/logs: no 'Allow: GET' header"
expect /jobmanager/log 405 -X POST -d x
expect /jobs 405 -X DELETE
grep -qiE '^allow: (POST, GET|GET, POST)' "$TMP/headers" || fail "DELETE /jobs: Allow header is not GET and POST: $(grep -i '^allow' "$TMP/headers")"
expect /no/such/path 404 -X BREW
expect /jobs/overview 200 -I
grep -q '"jobs"' "$TMP/body" && fail "HEAD /jobs/overview sent a body"

long=$(head -c 9000 /dev/zero | tr '\0' a)
expect "/jobs/$long" 414
jq -e '.errors[0] | test("longer than 8192 bytes")' "$TMP/body" >/dev/null || fail "414 without the limit in its message"
huge=$(head -c 60000 /dev/zero | tr '\0' a)
expect "/jobs/$huge" "414|431|000"
hdrs=()
for i in $(seq 150); do hdrs+=(-H "X-Many-$i: $i"); done
expect /overview 431 "${hdrs[@]}"
expect /overview "431|000" -H "X-Huge: $huge"

# ==== 4. bodies =========================================================================
printf 'not a graph' >"$TMP/graph.bin"
expect /jobs 400 -X POST -H 'Content-Type: multipart/form-data' --data-binary 'hello'
expect /jobs 400 -X POST -H 'Content-Type: multipart/form-data; boundary=XyZ' \
	--data-binary $'--XyZ\r\nContent-Disposition: form-data; name="jobgraph"\r\n\r\nabc'
expect /jobs 400 -X POST -H 'Content-Type: multipart/form-data; boundary=XyZ' --data-binary 'no boundary here'
expect /jobs 400 -X POST -F 'request={bad json' -F "jobgraph=@$TMP/graph.bin" -F "library=@$JOBS/cluster_probe.so"
expect /jobs 400 -X POST -F "jobgraph=@$TMP/graph.bin" -F "library=@$TMP/graph.bin"
# A truncated body: the client sends 20 of 200 declared bytes and goes away.
timeout -k 2 10 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 99
	printf "POST /jobs HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: 200\r\n\r\n--XyZ\r\nContent-Dis" >&3' _ "$PORT" ||
	fail "cannot send a truncated body"
serving "a truncated multipart body"
# Declared far over the limit: 413 at once, nothing read.
out=$(raw 'POST /jobs HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: 1000000000\r\n\r\n' | head -c 4096)
[[ "$out" == "HTTP/1.1 413"* ]] || fail "a 1 GB declared body: expected 413, got: ${out:0:200}"
serving "a 1 GB declared body"

# ==== 5. slow and many clients =========================================================
# Twenty idle connections that never send a byte, plus a slowloris client that sends a
# header line every second: others are served all along, and the slow client is cut off
# after the header timeout (408), not kept for ever.
idle=()
for i in $(seq 20); do
	exec {fd}<>"/dev/tcp/127.0.0.1/$PORT"
	idle+=("$fd")
done
trap '' PIPE
exec {slow}<>"/dev/tcp/127.0.0.1/$PORT"
printf 'GET /overview HTTP/1.1\r\nHost: x\r\n' >&$slow
t0=$SECONDS
cut=""
while [ $((SECONDS - t0)) -lt $((HEADER_TIMEOUT_S + 15)) ]; do
	if ! printf 'X-Slow-%d: x\r\n' "$SECONDS" >&$slow 2>/dev/null; then
		cut="write failed"
		break
	fi
	serving "slow clients holding connections"
	line=""
	# The client's pace: up to 1 s for an answer before its next header line.
	if IFS= read -r -t 1 -u "$slow" line; then
		cut="answered: $line"
		break
	elif [ $? -le 128 ]; then
		cut="closed"
		break
	fi
done
took=$((SECONDS - t0))
exec {slow}>&-
[ -n "$cut" ] || fail "a slowloris client kept its connection for ${took}s"
[ "$took" -ge $((HEADER_TIMEOUT_S - 3)) ] || fail "the slow client was cut after ${took}s, before the ${HEADER_TIMEOUT_S}s header timeout"
[[ "$cut" != answered* ]] || [[ "$cut" == *"HTTP/1.1 408"* ]] || fail "the slow client got: $cut"
note "slowloris client cut off after ${took}s ($cut)"
for fd in "${idle[@]}"; do exec {fd}>&-; done
trap - PIPE
serving "slowloris"

# One address may hold PER_IP_LIMIT connections; the next one from it is closed at once
# while another address (127.0.0.2) is still served.
held=()
for i in $(seq "$PER_IP_LIMIT"); do
	exec {fd}<>"/dev/tcp/127.0.0.1/$PORT"
	held+=("$fd")
done
c=$(curl -s --max-time 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/overview" || true)
[ "$c" = 000 ] || fail "connection $((PER_IP_LIMIT + 1)) from 127.0.0.1 was served ($c): no per-address limit"
rc=0
c=$(curl -s --max-time 5 --interface 127.0.0.2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/overview") || rc=$?
if [ "$rc" -eq 45 ]; then
	note "127.0.0.2 cannot be bound here: the other address is not checked"
else
	[ "$c" = 200 ] || fail "another address was not served while 127.0.0.1 was at its limit ($c, curl exit $rc)"
fi
for fd in "${held[@]}"; do exec {fd}>&-; done
wait_until 10 "127.0.0.1 served again" curl -sf --max-time 5 -o /dev/null "http://127.0.0.1:$PORT/overview"
serving "the per-address connection limit"

# ==== 6. a correct job after all of it =================================================
mkdir -p "$TMP/ok"
run_spate ok run -m "$REST" -p 2 "$JOBS/cluster_probe.so" --n 20000 --k 17 --out "$TMP/ok"
expect_rc ok 0
cat "$TMP/ok"/part-* | sort >"$TMP/ok.actual"
probe_oracle 20000 17 >"$TMP/ok.expected"
expect_same "$TMP/ok.expected" "$TMP/ok.actual" "the job after the hostile requests"
rm -f "$CL_DIR/pipe.fifo" "$CL_DIR/evil.txt" "$CL_DIR/passwd.txt" "$CL_DIR/big.dat"
cluster_finish

# ==== 7. bearer token ==================================================================
TOKEN="tok-$RANDOM$RANDOM-x"
jm_start_default "$TMP/auth" -D rest.auth.token="$TOKEN"
AUTH=(-H "Authorization: Bearer $TOKEN")
serving "start with a token"
for p in "/overview GET" "/jobmanager/logs GET" "/jobmanager/log GET" "/jobs/overview GET" \
	"/no/such/path GET" "/jobs DELETE" "/jobs BREW" "/jobs POST" "/index.html POST"; do
	path=${p% *} method=${p#* }
	for hdr in "" "Authorization: Bearer wrong" "Authorization: Bearer ${TOKEN}x" \
		"Authorization: Bearer ${TOKEN:0:${#TOKEN}-1}" "Authorization: Basic $TOKEN" \
		"Authorization: $TOKEN"; do
		args=(-X "$method")
		[ -z "$hdr" ] || args+=(-H "$hdr")
		[ "$method" != POST ] || args+=(-F "jobgraph=@$TMP/graph.bin" -F "library=@$JOBS/cluster_probe.so")
		c=$(code "$path" "${args[@]}")
		[ "$c" = 401 ] || fail "$method $path with '$hdr': status $c, expected 401"
		grep -qi '^www-authenticate: Bearer' "$TMP/headers" || fail "$method $path: 401 without 'WWW-Authenticate: Bearer'"
		jq -e '.errors | length == 1' "$TMP/body" >/dev/null || fail "$method $path: 401 body is not {\"errors\":[...]}"
	done
	serving "$method $path without the token"
done
# The dashboard's own files carry no data and load without the token (the page then asks
# for it); everything they show comes from the API, which needs it.
expect / 200
expect /index.html 200
expect /app.js 200
expect /overview 200 "${AUTH[@]}"
expect /jobmanager/logs 200 "${AUTH[@]}"
expect /jobmanager/logs/..%252fsecret.txt 400 "${AUTH[@]}"
expect /no/such/path 404 "${AUTH[@]}"
expect /overview 200 -H "Authorization: bearer $TOKEN"
grep -q "without a valid bearer token" "$CL_DIR/jobmanager.log" || fail "no warning about requests without the token in the log"
! grep -q -- "$TOKEN" "$CL_DIR/jobmanager.log" || fail "the token appears in the JobManager's log"
cluster_finish
