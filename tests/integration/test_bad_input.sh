#!/usr/bin/env bash
# Bad input never crashes: every case below exits with a status in 1..127, prints nothing on
# stdout, and prints exactly one line on stderr (besides log lines), "spate: ...", that
# names the problem.
. "$(dirname "$0")/lib.sh"

require_file "$EXAMPLES/wordcount.so" "$JOBS/no_entry.so" "$JOBS/version_mismatch.so" "$JOBS/version_two.so" \
	"$JOBS/static_fn.so" "$JOBS/forward_change.so" "$JOBS/parallelism.so"

# bad NAME PATTERN SPATE-ARGS...: runs spate and checks for a clean one-line failure.
bad() {
	local name=$1 pattern=$2
	shift 2
	run_spate "$name" "$@"
	expect_cli_error "$name" "$pattern"
	if [ -s "$TMP/$name.out" ]; then
		show "$TMP/$name.out"
		fail "$name: printed on stdout although nothing ran"
	fi
	note "ok: $name: $(tail -n 1 "$TMP/$name.err")"
}

# The job library itself.
bad missing_file "'?$TMP/nope/job\.so'?.*(no such file|not found|does not exist)" run "$TMP/nope/job.so"
bad directory "$TMP" run "$TMP"
printf 'this is not a shared library\n' >"$TMP/text.so"
bad not_a_library "text\.so.*(shared|ELF|too short|load)" run "$TMP/text.so"
: >"$TMP/empty.so"
bad empty_library "empty\.so" run "$TMP/empty.so"
bad no_entry_point "spate_job_main|entry point" run "$JOBS/no_entry.so"
bad version_mismatch "version.*999|999.*version" run "$JOBS/version_mismatch.so"
! grep -q 'the entry point ran' "$TMP/version_mismatch.err" ||
	fail "version_mismatch: the entry point ran despite the version mismatch"
bad info_no_entry_point "spate_job_main|entry point" info "$JOBS/no_entry.so"

# A library built for API version 2 (SPATE_API_VERSION_MIN) still runs: its user data is
# reached through the exported spate_ctx_user_data, calls counted from 0.
run_spate version_two run "$JOBS/version_two.so"
expect_rc version_two 0
[ "$(sink_lines version_two | strip_subtask_prefix | tr '\n' ' ')" = "10 21 32 " ] ||
	fail "version_two: expected 10 21 32, got: $(sink_lines version_two | tr '\n' ' ')"

# Graph errors found while the entry point builds the graph.
bad static_function "static|export|cannot (be )?name" run "$JOBS/static_fn.so"
bad static_function_info "static|export|cannot (be )?name" info "$JOBS/static_fn.so"
bad forward_change "Forward partitioning does not allow change of parallelism" run "$JOBS/forward_change.so"
grep -q "parallelism: 2" "$TMP/forward_change.err" && grep -q "parallelism: 3" "$TMP/forward_change.err" ||
	fail "forward_change: the message does not give both parallelisms (2 and 3)"
bad forward_change_info "Forward partitioning does not allow change of parallelism" info "$JOBS/forward_change.so"

# Parallelism out of range, from every place it can be set.
bad op_parallelism_zero "parallelism" run "$JOBS/parallelism.so" --op-p 0
bad op_parallelism_negative "parallelism" run "$JOBS/parallelism.so" --op-p -4
bad env_parallelism_zero "parallelism" run "$JOBS/parallelism.so" --env-p 0
bad above_max_parallelism "parallelism.*max|max.*parallelism" run "$JOBS/parallelism.so" --op-max-p 4 --op-p 8
bad max_parallelism_too_big "max.*parallelism|parallelism.*32768" run "$JOBS/parallelism.so" --op-max-p 40000
bad cli_parallelism_zero "parallelism|-p" run -p 0 "$EXAMPLES/wordcount.so"
bad cli_parallelism_negative "parallelism|-p" run -p -2 "$EXAMPLES/wordcount.so"
bad cli_parallelism_word "parallelism|-p|abc" run -p abc "$EXAMPLES/wordcount.so"
bad info_parallelism_zero "parallelism|-p" info -p 0 "$EXAMPLES/wordcount.so"

# Configuration overrides.
bad unknown_key "unknown configuration key 'foo\.bar'" run -D foo.bar=1 "$EXAMPLES/wordcount.so"
bad bad_int "'abc'.*parallelism\.default|parallelism\.default.*'abc'" run -D parallelism.default=abc "$EXAMPLES/wordcount.so"
bad bad_zero "parallelism\.default" run -D parallelism.default=0 "$EXAMPLES/wordcount.so"
bad bad_duration "execution\.buffer-timeout\.interval" run -D execution.buffer-timeout.interval=soon "$EXAMPLES/wordcount.so"
bad bad_log_level "log\.level|loud" run -D log.level=loud "$EXAMPLES/wordcount.so"
bad no_equals "nokey" run -D nokey "$EXAMPLES/wordcount.so"
bad info_unknown_key "unknown configuration key 'foo\.bar'" info -D foo.bar=1 "$EXAMPLES/wordcount.so"

# A broken config file is named in the error.
mkdir -p "$TMP/conf"
printf 'parallelism:\n  default: [1, 2\n' >"$TMP/conf/config.yaml"
export SPATE_CONF_DIR="$TMP/conf"
bad broken_config "config\.yaml" run "$EXAMPLES/wordcount.so"
printf 'parallelism.default: -3\n' >"$TMP/conf/config.yaml"
bad bad_config_value "parallelism\.default" run "$EXAMPLES/wordcount.so"
unset SPATE_CONF_DIR
