#!/usr/bin/env bash
# WordCount on its built-in text (Flink's WordCountData.WORDS = examples/data/hamlet.txt):
# 287 rolling updates for 170 distinct words, every update (word,1..n) printed exactly once,
# stdout framed as Flink's client frames it, Flink-worded state changes in the log, and
# -D log.level=warn silencing INFO.
. "$(dirname "$0")/lib.sh"

require_file "$EXAMPLES/wordcount.so" "$HAMLET"

# The oracle: 287 tokens, 170 distinct words (flink-facts.md §11).
oracle_word_updates "$HAMLET" >"$TMP/expected.updates"
oracle_word_counts "$HAMLET" >"$TMP/expected.counts"
[ "$(wc -l <"$TMP/expected.updates")" -eq 287 ] || fail "oracle: expected 287 tokens in hamlet.txt"
[ "$(wc -l <"$TMP/expected.counts")" -eq 170 ] || fail "oracle: expected 170 distinct words"

run_spate default run "$EXAMPLES/wordcount.so"
expect_rc default 0
check_run_frame default
sink_lines default >"$TMP/printed"

n=$(wc -l <"$TMP/printed")
[ "$n" -eq 287 ] || fail "expected 287 printed updates, got $n"
# The default config sets parallelism.default: 1, so the print sink has no "N> " prefix.
if grep -Eq '^[0-9]+> ' "$TMP/printed"; then
	show "$TMP/printed"
	fail "print sink at parallelism 1 must not prefix lines with 'N> '"
fi
sort "$TMP/printed" >"$TMP/actual.updates"
expect_same "$TMP/expected.updates" "$TMP/actual.updates" "rolling updates"
final_counts_from_updates <"$TMP/printed" >"$TMP/actual.counts"
expect_same "$TMP/expected.counts" "$TMP/actual.counts" "final counts"
distinct=$(wc -l <"$TMP/actual.counts")
[ "$distinct" -eq 170 ] || fail "expected 170 distinct words, got $distinct"
grep -qx '(the,22)' "$TMP/printed" || fail "missing (the,22)"

# Each word's updates come out in order: (w,1) before (w,2) ...
awk '{ line = $0; sub(/^\(/, "", line); sub(/\)$/, "", line); split(line, f, ",")
       if (f[2] != last[f[1]] + 1) { print "out of order: " $0; bad = 1 }
       last[f[1]] = f[2] } END { exit bad }' "$TMP/printed" >"$TMP/order" ||
	{ show "$TMP/order"; fail "updates of a word were printed out of order"; }

# The log: Flink's state-change lines, with the job id from stdout.
err="$TMP/default.err"
grep -Eq "INFO +\[.*\] Job WordCount \($JOB_ID\) switched from state RUNNING to FINISHED\.$" "$err" ||
	{ show "$err" 60; fail "log lacks 'Job WordCount ($JOB_ID) switched from state RUNNING to FINISHED.'"; }
grep -Eq "INFO +\[.*\] Job WordCount \($JOB_ID\) switched from state CREATED to RUNNING\.$" "$err" ||
	{ show "$err" 60; fail "log lacks 'Job WordCount ($JOB_ID) switched from state CREATED to RUNNING.'"; }
grep -Eq '\] .*counter.* \(1/1\) \([^)]+\) switched from DEPLOYING to INITIALIZING\.$' "$err" ||
	{ show "$err" 60; fail "log lacks '<task> (1/1) (<attempt>) switched from DEPLOYING to INITIALIZING.' for the counter task"; }
grep -Eq '\] .*tokenizer.* \(1/1\) \([^)]+\) switched from RUNNING to FINISHED\.$' "$err" ||
	{ show "$err" 60; fail "log lacks the tokenizer task switching from RUNNING to FINISHED"; }
bad=$(non_log_lines "$err")
[ -z "$bad" ] || { show "$err" 60; fail "stderr has lines that are not log lines: $(head -n 1 <<<"$bad")"; }

# -D log.level=warn: no INFO lines, same output.
run_spate quiet run -D log.level=warn "$EXAMPLES/wordcount.so"
expect_rc quiet 0
check_run_frame quiet
if grep -q ' INFO ' "$TMP/quiet.err"; then
	show "$TMP/quiet.err"
	fail "-D log.level=warn still logs INFO lines"
fi
sink_lines quiet | sort >"$TMP/quiet.updates"
expect_same "$TMP/expected.updates" "$TMP/quiet.updates" "rolling updates with log.level=warn"

# A different job id per submission.
check_run_frame default
first_id=$JOB_ID
check_run_frame quiet
[ "$JOB_ID" != "$first_id" ] || fail "two submissions got the same job id $JOB_ID"

# Unknown job arguments: the job's own one-line usage error, non-zero exit, no crash.
run_spate badarg run "$EXAMPLES/wordcount.so" --bogus
[ "$RC" -ne 0 ] || fail "wordcount --bogus exited 0"
grep -q "unknown argument '--bogus'" "$TMP/badarg.err" ||
	{ show "$TMP/badarg.err"; fail "wordcount --bogus: no usage error naming the argument"; }
