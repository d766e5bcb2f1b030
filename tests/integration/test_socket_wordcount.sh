#!/usr/bin/env bash
# socket_wordcount reads lines from a TCP server (tests/tools/line_server, which serves a
# file to its first client and closes) and prints rolling word counts; the job ends when the
# server closes. A port nobody listens on fails cleanly, naming the address.
. "$(dirname "$0")/lib.sh"

require_file "$EXAMPLES/socket_wordcount.so" "$TOOLS/line_server"

# start_server FILE: starts a line server for FILE; sets PORT.
start_server() {
	local portfile="$TMP/port.$RANDOM"
	: >"$portfile"
	timeout 120 "$TOOLS/line_server" "$1" >"$portfile" &
	BG_PIDS+=($!)
	poll_until 10 grep -q '^[0-9][0-9]*$' "$portfile" || fail "line_server did not report its port"
	PORT=$(head -n 1 "$portfile")
}

cp "$HAMLET" "$TMP/text"
generate_text "$TMP/more" 3000 5
cat "$TMP/more" >>"$TMP/text"
printf 'a Final line without its newline' >>"$TMP/text" # still a line when the server closes
oracle_word_updates "$TMP/text" >"$TMP/expected.updates"
oracle_word_counts "$TMP/text" >"$TMP/expected.counts"

start_server "$TMP/text"
run_spate ip run "$EXAMPLES/socket_wordcount.so" --hostname 127.0.0.1 --port "$PORT"
expect_rc ip 0
check_run_frame ip
sink_lines ip | sort >"$TMP/actual.updates"
expect_same "$TMP/expected.updates" "$TMP/actual.updates" "socket wordcount updates"
sink_lines ip | final_counts_from_updates >"$TMP/actual.counts"
expect_same "$TMP/expected.counts" "$TMP/actual.counts" "socket wordcount final counts"

# The default hostname is localhost; at -p 2 the source stays non-parallel.
start_server "$TMP/text"
run_spate localhost run -p 2 "$EXAMPLES/socket_wordcount.so" --port "$PORT"
expect_rc localhost 0
check_run_frame localhost
sink_lines localhost | strip_subtask_prefix | sort >"$TMP/actual2.updates"
expect_same "$TMP/expected.updates" "$TMP/actual2.updates" "socket wordcount updates at p=2 via localhost"

# Nobody listens: a clean failure whose last line names the problem and the address.
free=$(timeout 10 "$TOOLS/line_server" --free-port)
run_spate refused run "$EXAMPLES/socket_wordcount.so" --hostname 127.0.0.1 --port "$free"
[ "$RC" -ge 1 ] && [ "$RC" -le 127 ] || { show "$TMP/refused.err"; fail "refused: exit status $RC, expected 1..127"; }
last=$(tail -n 1 "$TMP/refused.err")
[[ "$last" == "spate: "* ]] || { show "$TMP/refused.err"; fail "refused: last stderr line is not 'spate: ...': $last"; }
grep -Eqi "connect" <<<"$last" || fail "refused: the error does not say it cannot connect: $last"
grep -q "$free" <<<"$last" || fail "refused: the error does not name port $free: $last"
[ "$(non_log_lines "$TMP/refused.err" | wc -l)" -eq 1 ] ||
	{ show "$TMP/refused.err"; fail "refused: more than one non-log line on stderr"; }

# --port is required and checked by the job itself.
run_spate noport run "$EXAMPLES/socket_wordcount.so"
[ "$RC" -ne 0 ] || fail "socket_wordcount without --port exited 0"
grep -q -- "--port" "$TMP/noport.err" || { show "$TMP/noport.err"; fail "no usage error naming --port"; }
