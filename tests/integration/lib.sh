# lib.sh - shared helpers for the integration tests (sourced, not run).
#
# Every test is a bash script run by ctest with SPATE_SRC (source tree) and SPATE_BUILD (build
# tree, e.g. build or build-asan) in its environment. A test sources this file, runs Spate
# with run_spate (every command under `timeout`), and compares what it printed with what an
# independent oracle (tr, sort, uniq, awk, arithmetic) says, never with Spate's own output.
# A test fails by calling `fail`, which prints the reason and exits 1; it passes by reaching
# its end. Waiting is done by polling a condition in a bounded loop, never by sleeping a
# fixed time and hoping.

set -euo pipefail
export LC_ALL=C
# RocksDB (Debian's build is not instrumented) synchronises through C++ atomics TSan cannot
# see: its internal races are suppressed, ours are not.
export TSAN_OPTIONS="suppressions=${SPATE_SRC:-.}/tests/integration/tsan.supp${TSAN_OPTIONS:+ $TSAN_OPTIONS}"

: "${SPATE_SRC:?SPATE_SRC must name the source tree}"
: "${SPATE_BUILD:?SPATE_BUILD must name the build tree}"
SPATE_SRC=$(cd "$SPATE_SRC" && pwd)
SPATE_BUILD=$(cd "$SPATE_BUILD" && pwd)

SPATE="$SPATE_BUILD/bin/spate"
EXAMPLES="$SPATE_BUILD/examples"
JOBS="$SPATE_BUILD/tests/jobs"
TOOLS="$SPATE_BUILD/tests/tools"
HAMLET="$SPATE_SRC/examples/data/hamlet.txt"
TEST_NAME=$(basename "$0" .sh)

# Seconds a single spate command may take before `timeout` kills it. Sanitizer builds are
# several times slower, so they get more room.
case "$SPATE_BUILD" in
*asan* | *tsan*) CMD_TIMEOUT=${SPATE_TEST_TIMEOUT:-240} ;;
*) CMD_TIMEOUT=${SPATE_TEST_TIMEOUT:-90} ;;
esac

TMP=$(mktemp -d "${TMPDIR:-/tmp}/spate-$TEST_NAME.XXXXXX")
BG_PIDS=()

cleanup() {
	local pid
	for pid in "${BG_PIDS[@]+"${BG_PIDS[@]}"}"; do
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$TMP"
}
trap cleanup EXIT

# fail MESSAGE...: the test failed; say why and stop.
fail() {
	echo "FAIL [$TEST_NAME]: $*" >&2
	exit 1
}

# note MESSAGE...: progress output (shown by ctest --output-on-failure).
note() {
	echo "[$TEST_NAME] $*" >&2
}

# show FILE [LINES]: prints the head of a file for a failure report.
show() {
	local lines=${2:-20}
	echo "----- $1 (first $lines lines) -----" >&2
	head -n "$lines" "$1" >&2 || true
	echo "-----" >&2
}

# require_file PATH...: fail unless every path exists.
require_file() {
	local f
	for f in "$@"; do
		[ -e "$f" ] || fail "missing '$f' (is the build complete?)"
	done
}

require_file "$SPATE"

# run_spate NAME [ARGS...]: runs `spate ARGS...` under timeout, stdout to $TMP/NAME.out,
# stderr to $TMP/NAME.err, exit status in RC. Never fails by itself: the test checks RC.
# A timeout (RC 124) or a death by signal (RC >= 128) fails the test at once.
RC=0
run_spate() {
	local name=$1
	shift
	RC=0
	timeout -k 5 "$CMD_TIMEOUT" "$SPATE" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" </dev/null ||
		RC=$?
	if [ "$RC" -eq 124 ] || [ "$RC" -eq 137 ]; then
		show "$TMP/$name.err"
		fail "'spate $*' did not finish within ${CMD_TIMEOUT}s"
	fi
	if [ "$RC" -ge 128 ]; then
		show "$TMP/$name.err" 40
		fail "'spate $*' died with signal $((RC - 128)) (exit $RC)"
	fi
	return 0
}

# expect_rc NAME WANT: the last run_spate NAME exited with WANT.
expect_rc() {
	if [ "$RC" -ne "$2" ]; then
		show "$TMP/$1.out"
		show "$TMP/$1.err" 40
		fail "$1: exit status $RC, expected $2"
	fi
}

# Lines written by the engine's log: "<ISO time> LEVEL [thread] message".
LOG_LINE_RE='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z? +(DEBUG|INFO|WARN|ERROR) +\['

# non_log_lines FILE: the lines of FILE that are not engine log lines.
non_log_lines() {
	grep -Ev "$LOG_LINE_RE" "$1" || true
}

# expect_cli_error NAME PATTERN [WANT_RC]: the last run failed cleanly: exit status 1..127
# (WANT_RC if given), nothing on stdout but at most usage, and stderr holds exactly one
# line besides log lines; it starts with "spate: " (unless WANT_RC is 2: usage errors may
# show usage), is the last line, and matches the extended regex PATTERN (case-insensitive).
expect_cli_error() {
	local name=$1 pattern=$2 want=${3:-}
	local err="$TMP/$name.err"
	if [ "$RC" -eq 0 ] || [ "$RC" -ge 128 ]; then
		show "$TMP/$name.out"
		show "$err" 40
		fail "$name: exit status $RC, expected a clean failure (1..127)"
	fi
	if [ -n "$want" ] && [ "$RC" -ne "$want" ]; then
		show "$err" 40
		fail "$name: exit status $RC, expected $want"
	fi
	local lines
	lines=$(non_log_lines "$err" | wc -l)
	if [ "$lines" -ne 1 ]; then
		show "$err" 40
		fail "$name: expected exactly one error line on stderr (besides log lines), got $lines"
	fi
	local last
	last=$(tail -n 1 "$err")
	if [ "$want" != 2 ] && [[ "$last" != "spate: "* ]]; then
		show "$err" 40
		fail "$name: the last stderr line does not start with 'spate: ': $last"
	fi
	if ! grep -Eqi -- "$pattern" <<<"$last"; then
		show "$err" 40
		fail "$name: the error line does not match /$pattern/: $last"
	fi
	if grep -Eqi 'segmentation|sanitizer|abort|assert.*failed|core dumped' "$err"; then
		show "$err" 40
		fail "$name: stderr shows a crash"
	fi
}

# expect_job_failure NAME JOBNAME PATTERN: the last run was a job that ended FAILED: exit
# status 1 and the last stderr line is
#   spate: job '<JOBNAME>' (<32 hex>) failed: <reason matching PATTERN>
expect_job_failure() {
	local name=$1 job=$2 pattern=$3
	local err="$TMP/$name.err"
	expect_rc "$name" 1
	local last
	last=$(tail -n 1 "$err")
	if ! grep -Eq "^spate: job '$job' \([0-9a-f]{32}\) failed: " <<<"$last"; then
		show "$err" 40
		fail "$name: the last stderr line is not \"spate: job '$job' (<id>) failed: ...\": $last"
	fi
	if ! grep -Eq -- "$pattern" <<<"$last"; then
		show "$err" 40
		fail "$name: the failure reason does not match /$pattern/: $last"
	fi
}

JOB_ID=
# check_run_frame NAME: stdout of a finished attached run is framed as Flink's client
# prints it: first "Job has been submitted with JobID <id>", last the three lines of the
# execution result with the same id. Sets JOB_ID.
check_run_frame() {
	local out="$TMP/$1.out"
	local first
	first=$(head -n 1 "$out")
	if ! [[ "$first" =~ ^Job\ has\ been\ submitted\ with\ JobID\ ([0-9a-f]{32})$ ]]; then
		show "$out"
		fail "$1: first stdout line is not 'Job has been submitted with JobID <32 hex>': $first"
	fi
	JOB_ID=${BASH_REMATCH[1]}
	local tail3
	tail3=$(tail -n 3 "$out")
	local re="^Program execution finished
Job with JobID $JOB_ID has finished\\.
Job Runtime: [0-9]+ ms\$"
	if ! [[ "$tail3" =~ $re ]]; then
		echo "$tail3" >&2
		fail "$1: stdout does not end with the execution result of job $JOB_ID"
	fi
}

# sink_lines NAME: the print-sink lines of a run's stdout (the frame removed).
sink_lines() {
	local out="$TMP/$1.out"
	local n
	n=$(wc -l <"$out")
	if [ "$n" -le 4 ]; then
		return 0
	fi
	sed -n "2,$((n - 3))p" "$out"
}

# strip_subtask_prefix: removes the "<subtask+1>> " prefix of a print sink with p > 1.
strip_subtask_prefix() {
	sed -E 's/^[0-9]+> //'
}

# ---- oracles -------------------------------------------------------------------------

# oracle_tokens FILE...: the words of the text as Flink's WordCount tokenizer sees them, one
# per line: lower-cased, split on [^A-Za-z0-9_], empty tokens dropped. Each file is read on
# its own (`awk 1` ends every file's last line), as a file source does.
oracle_tokens() {
	awk 1 "$@" | tr 'A-Z' 'a-z' | tr -c 'a-z0-9_' '\n' | grep -v '^$' || true
}

# oracle_word_counts FILE...: "word count" lines, sorted by word: the final counts.
oracle_word_counts() {
	oracle_tokens "$@" | sort | uniq -c | awk '{ print $2, $1 }' | sort
}

# oracle_word_updates FILE...: every rolling update "(word,i)" for i = 1..count(word),
# sorted: the multiset of lines a streaming WordCount prints.
oracle_word_updates() {
	oracle_word_counts "$@" | awk '{ for (i = 1; i <= $2; i++) printf "(%s,%d)\n", $1, i }' |
		sort
}

# final_counts_from_updates: reads "(word,count)" lines and prints "word max(count)" sorted
# by word: the final count of each word is the largest count printed for it.
final_counts_from_updates() {
	awk '{
		line = $0
		if (line !~ /^\([a-z0-9_]+,[0-9]+\)$/) { printf "bad line: %s\n", line; next }
		sub(/^\(/, "", line); sub(/\)$/, "", line)
		split(line, f, ",")
		if (!(f[1] in max) || f[2] + 0 > max[f[1]]) max[f[1]] = f[2] + 0
	} END { for (w in max) print w, max[w] }' | sort
}

# expect_same EXPECTED ACTUAL WHAT: the two files are identical, else fail with a diff.
expect_same() {
	if ! cmp -s "$1" "$2"; then
		echo "----- diff expected actual ($3) -----" >&2
		diff "$1" "$2" | head -n 30 >&2 || true
		fail "$3: output differs from the oracle ($(wc -l <"$1") expected lines, $(wc -l <"$2") actual)"
	fi
}

# generate_text FILE LINES SEED: a deterministic pseudo-random English-like text with mixed
# case, digits, underscores and punctuation (made by awk, not by Spate).
generate_text() {
	awk -v lines="$2" -v seed="$3" 'BEGIN {
		srand(seed)
		nv = split("the quick brown fox jumps over lazy dog stream flink spate river " \
		           "data window state key group slot task chain buffer Apache Hamlet " \
		           "To be or not that is question whether tis nobler mind suffer " \
		           "x_1 y2k 42 007 snake_case CamelCase UPPER lower MiXeD", vocab, " ")
		np = split(" |, |. |--|: |; |! |? | (|) | \"|\" | '\''|-|  ", punct, "|")
		for (l = 0; l < lines; l++) {
			n = 1 + int(rand() * 14)
			s = ""
			for (w = 0; w < n; w++) {
				r = rand()
				if (r < 0.7) word = vocab[1 + int(rand() * nv)]
				else if (r < 0.9) word = sprintf("w%d", int(rand() * 3000))
				else word = sprintf("%s%d", vocab[1 + int(rand() * nv)], int(rand() * 50))
				s = s word punct[1 + int(rand() * np)]
			}
			print s
		}
	}' >"$1"
}

# poll_until SECONDS COMMAND...: runs COMMAND until it succeeds or SECONDS pass (bounded
# polling; returns 1 on timeout).
poll_until() {
	local limit=$1
	shift
	local deadline=$((SECONDS + limit))
	while ! "$@"; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			return 1
		fi
		sleep 0.05
	done
	return 0
}
