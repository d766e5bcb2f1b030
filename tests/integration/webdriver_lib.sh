# webdriver_lib.sh - drives headless Chromium through chromedriver's WebDriver HTTP API with
# curl and jq (sourced after lib.sh). One browser session per test:
#
#   wd_start                      start chromedriver on a free port and open a session
#   wd_navigate URL               load a page
#   wd_exec JS [ARGS_JSON]        run `JS` (a function body; arguments[i] from ARGS_JSON)
#                                 in the page and print its return value as compact JSON
#   wd_js JS [ARGS_JSON]          the same, printing a string result raw (jq -r)
#   wd_find CSS                   print the element reference of the first match
#   wd_click CSS                  a real (WebDriver) click on the first match
#   wd_text CSS                   the visible text of the first match ("" if none)
#   wd_type CSS TEXT              clear an input and type TEXT
#   wd_send_file CSS PATH         choose PATH (absolute) in an <input type=file>
#   wd_wait SECS WHAT JS_COND     poll until the page-side expression is truthy (bounded;
#                                 WD_FAIL_IF can end it early)
#   wd_screenshot NAME            save $WD_SHOTS/NAME.png
#
# Screenshots live under the test's $TMP, which lib.sh removes at exit; when the test fails
# (or SPATE_WEB_SCREENSHOTS names a directory) they are copied to
# ${SPATE_WEB_SCREENSHOTS:-$SPATE_BUILD/Testing/<test name>-screenshots} first.
#
# Every call has a timeout and every wait is a bounded poll. The session is deleted and
# chromedriver (with the browser it started) is stopped when the test exits: wd_start
# installs an EXIT trap that does that before lib.sh's own cleanup.

WD_URL=
WD_SESSION=
WD_PID=
WD_ERR=
WD_SHOTS="$TMP/screenshots"
WD_ELEMENT_KEY="element-6066-11e4-a52e-4f735466cecf"
WD_CALL_TIMEOUT=${WD_CALL_TIMEOUT:-30}

# wd_available: chromium and chromedriver are installed.
wd_available() {
	[ -x /usr/bin/chromium ] && command -v chromedriver >/dev/null 2>&1 &&
		command -v jq >/dev/null 2>&1
}

# wd_call METHOD PATH [JSON]: one WebDriver command (PATH relative to the session, or
# absolute when it starts with /session or /status). Prints the response's "value" as
# compact JSON; returns 1 and sets WD_ERR when the driver answered an error.
wd_call() {
	local method=$1 path=$2 body=${3:-}
	local url
	case "$path" in
	/session* | /status) url="$WD_URL$path" ;;
	*) url="$WD_URL/session/$WD_SESSION$path" ;;
	esac
	local out rc=0
	if [ -n "$body" ]; then
		out=$(curl -s --max-time "$WD_CALL_TIMEOUT" -X "$method" -H 'Content-Type: application/json' \
			--data-binary "$body" "$url") || rc=$?
	else
		out=$(curl -s --max-time "$WD_CALL_TIMEOUT" -X "$method" "$url") || rc=$?
	fi
	if [ "$rc" -ne 0 ]; then
		WD_ERR="curl exit $rc for $method $path"
		return 1
	fi
	if jq -e '.value | type == "object" and has("error")' <<<"$out" >/dev/null 2>&1; then
		WD_ERR=$(jq -r '.value.error + ": " + (.value.message | split("\n")[0])' <<<"$out")
		return 1
	fi
	WD_ERR=
	jq -c '.value' <<<"$out"
}

# wd_must METHOD PATH [JSON]: wd_call, failing the test on an error.
wd_must() {
	wd_call "$@" || fail "WebDriver $1 $2: $WD_ERR"
}

wd_port_in_use() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

wd_status_ready() {
	curl -s --max-time 2 "$WD_URL/status" | jq -e '.value.ready == true' >/dev/null 2>&1
}

# wd_start: starts chromedriver and a headless Chromium session (sets WD_SESSION).
wd_start() {
	wd_available || fail "chromium and chromedriver are not installed (scripts/install-deps.sh installs them)"
	mkdir -p "$WD_SHOTS"
	trap 'wd_stop $?; cleanup' EXIT
	local try port
	for try in 1 2 3 4 5; do
		port=$((20000 + RANDOM % 40000))
		wd_port_in_use "$port" && continue
		WD_URL="http://127.0.0.1:$port"
		# setsid: chromedriver leads its own process group, so stopping the group also
		# stops every browser process it started.
		setsid chromedriver --port="$port" --log-path="$TMP/chromedriver.log" </dev/null \
			>/dev/null 2>&1 &
		WD_PID=$!
		local deadline=$((SECONDS + 20))
		while kill -0 "$WD_PID" 2>/dev/null && ! wd_status_ready; do
			[ "$SECONDS" -lt "$deadline" ] || break
			sleep 0.05
		done
		wd_status_ready && break
		wd_kill_driver
	done
	[ -n "$WD_PID" ] || { show "$TMP/chromedriver.log" 40; fail "chromedriver did not start"; }
	local profile
	profile=$(mktemp -d "$TMP/chromium-profile.XXXXXX")
	local caps
	caps=$(jq -nc --arg profile "$profile" '{capabilities: {alwaysMatch: {
		browserName: "chrome",
		"goog:chromeOptions": {binary: "/usr/bin/chromium", args: [
			"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
			"--disable-background-networking", "--disable-component-update",
			"--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
			"--window-size=1400,1000", ("--user-data-dir=" + $profile)]}}}}')
	local v
	v=$(WD_CALL_TIMEOUT=60 wd_call POST /session "$caps") ||
		{ show "$TMP/chromedriver.log" 40; fail "cannot open a browser session: $WD_ERR"; }
	WD_SESSION=$(jq -r '.sessionId' <<<"$v")
	[ -n "$WD_SESSION" ] && [ "$WD_SESSION" != null ] || fail "no session id in: $v"
	wd_must POST /timeouts '{"script": 20000, "pageLoad": 30000, "implicit": 0}' >/dev/null
}

wd_kill_driver() {
	if [ -n "$WD_PID" ]; then
		kill -TERM -- "-$WD_PID" 2>/dev/null || true
		local deadline=$((SECONDS + 5))
		while kill -0 "$WD_PID" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do
			sleep 0.05
		done
		kill -KILL -- "-$WD_PID" 2>/dev/null || true
		wait "$WD_PID" 2>/dev/null || true
	fi
	WD_PID=
}

# wd_stop [EXIT_STATUS]: deletes the session and stops chromedriver (idempotent); keeps the
# screenshots when the test failed.
wd_stop() {
	local status=${1:-0}
	if [ "$status" -ne 0 ] || [ -n "${SPATE_WEB_SCREENSHOTS:-}" ]; then
		local keep=${SPATE_WEB_SCREENSHOTS:-$SPATE_BUILD/Testing/$TEST_NAME-screenshots}
		if compgen -G "$WD_SHOTS/*.png" >/dev/null && mkdir -p "$keep" 2>/dev/null; then
			cp "$WD_SHOTS"/*.png "$keep"/ 2>/dev/null && echo "[$TEST_NAME] screenshots kept in $keep" >&2
		fi
	fi
	if [ -n "$WD_SESSION" ]; then
		WD_CALL_TIMEOUT=10 wd_call DELETE "/session/$WD_SESSION" >/dev/null 2>&1 || true
		WD_SESSION=
	fi
	wd_kill_driver
}

wd_navigate() {
	wd_must POST /url "$(jq -nc --arg u "$1" '{url: $u}')" >/dev/null
}

# wd_exec JS [ARGS_JSON]: runs JS in the page; prints the result as JSON.
wd_exec() {
	local args=${2:-[]}
	wd_must POST /execute/sync "$(jq -nc --arg s "$1" --argjson a "$args" '{script: $s, args: $a}')"
}

# wd_js JS [ARGS_JSON]: like wd_exec, printing a string result without quotes.
wd_js() {
	wd_exec "$@" | jq -r 'if type == "string" then . else tostring end'
}

# wd_find CSS: prints the WebDriver reference of the first element matching CSS.
wd_find() {
	wd_call POST /element "$(jq -nc --arg c "$1" '{using: "css selector", value: $c}')" |
		jq -r --arg k "$WD_ELEMENT_KEY" '.[$k]'
}

# wd_click CSS: clicks the first match; retries while the element is missing, stale (the
# page redrew it) or covered, for up to 10 s.
wd_click() {
	local css=$1 el deadline=$((SECONDS + 10))
	while :; do
		if el=$(wd_find "$css") && [ -n "$el" ] &&
			wd_call POST "/element/$el/click" '{}' >/dev/null; then
			return 0
		fi
		if [ "$SECONDS" -ge "$deadline" ]; then
			wd_screenshot "click-failed"
			fail "cannot click '$css': ${WD_ERR:-not found}"
		fi
		sleep 0.1
	done
}

# wd_text CSS: the visible text of the first match, "" when nothing matches.
wd_text() {
	wd_js 'const e = document.querySelector(arguments[0]);
		return e ? (e.innerText === undefined ? e.textContent : e.innerText).trim() : "";' \
		"$(jq -nc --arg c "$1" '[$c]')"
}

# wd_type CSS TEXT: clears the input and types TEXT into it.
wd_type() {
	local el
	el=$(wd_find "$1") && [ -n "$el" ] || fail "no element '$1' to type into: $WD_ERR"
	wd_must POST "/element/$el/clear" '{}' >/dev/null
	wd_must POST "/element/$el/value" "$(jq -nc --arg t "$2" '{text: $t}')" >/dev/null
}

# wd_send_file CSS PATH: selects the file PATH (absolute) in a file input.
wd_send_file() {
	local el
	el=$(wd_find "$1") && [ -n "$el" ] || fail "no file input '$1': $WD_ERR"
	wd_must POST "/element/$el/value" "$(jq -nc --arg t "$2" '{text: $t}')" >/dev/null
}

# WD_FAIL_IF: an optional page-side expression giving a non-empty string when waiting is
# pointless (the page shows why the awaited thing cannot come); wd_wait then fails at once
# with that string.
WD_FAIL_IF=${WD_FAIL_IF:-}

# wd_poll_script JS_EXPR: the script one poll runs: "FAIL:<why>", true or false.
wd_poll_script() {
	local bad='""'
	[ -n "$WD_FAIL_IF" ] && bad="$WD_FAIL_IF"
	printf 'try { const why = (%s); if (why) return "FAIL:" + why; } catch (e) {}\ntry { return !!(%s); } catch (e) { return false; }' \
		"$bad" "$1"
}

# wd_wait SECS WHAT JS_EXPR [ARGS_JSON]: polls until the page-side expression JS_EXPR is
# truthy; on timeout (or WD_FAIL_IF) saves a screenshot and fails the test.
wd_wait() {
	local secs=$1 what=$2 expr=$3 args=${4:-[]}
	local deadline=$((SECONDS + secs)) v script
	script=$(wd_poll_script "$expr")
	while :; do
		v=$(wd_call POST /execute/sync "$(jq -nc --arg s "$script" --argjson a "$args" \
			'{script: $s, args: $a}')") || v=false
		[ "$v" = true ] && return 0
		if [[ "$v" == '"FAIL:'* ]]; then
			wd_screenshot "fail-$(tr -c 'A-Za-z0-9' '-' <<<"$what" | cut -c1-60)"
			fail "while waiting in the browser for: $what: $(jq -r '.[5:]' <<<"$v")"
		fi
		if [ "$SECONDS" -ge "$deadline" ]; then
			wd_screenshot "timeout-$(tr -c 'A-Za-z0-9' '-' <<<"$what" | cut -c1-60)"
			note "page error banner: $(wd_text '#error-banner' 2>/dev/null || true)"
			fail "timed out after ${secs}s waiting in the browser for: $what"
		fi
		sleep 0.1
	done
}

# wd_screenshot NAME: saves the page as $WD_SHOTS/NAME.png.
wd_screenshot() {
	[ -n "$WD_SESSION" ] || return 0
	local v
	v=$(wd_call GET /screenshot) || return 0
	jq -r . <<<"$v" | base64 -d >"$WD_SHOTS/$1.png" 2>/dev/null || true
}
