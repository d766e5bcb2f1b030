#!/usr/bin/env bash
# A user function that fails (spate_ctx_fail, SPATE_ASSERT) fails the job: exit status 1,
# the job switches to FAILED in the log, and the last stderr line names the job, the
# operator, the subtask and the user's message.
. "$(dirname "$0")/lib.sh"

require_file "$JOBS/user_fail.so" "$JOBS/assert_fail.so"

# check_failed_run NAME JOBNAME: stdout shows the submission but no successful end, and the
# log shows the job ending FAILED.
check_failed_run() {
	local out="$TMP/$1.out" err="$TMP/$1.err"
	local first
	first=$(head -n 1 "$out")
	[[ "$first" =~ ^Job\ has\ been\ submitted\ with\ JobID\ ([0-9a-f]{32})$ ]] ||
		{ show "$out"; fail "$1: first stdout line is not the submission line: $first"; }
	local id=${BASH_REMATCH[1]}
	! grep -q '^Program execution finished' "$out" || fail "$1: a failed job printed 'Program execution finished'"
	grep -Eq "Job $2 \($id\) switched from state [A-Z]+ to FAILED\.$" "$err" ||
		{ show "$err" 60; fail "$1: log lacks 'Job $2 ($id) switched from state ... to FAILED.'"; }
	grep -q "spate: job '$2' ($id) failed: " "$err" || fail "$1: the failure line does not carry the job id $id"
	grep -Eq '\) switched from RUNNING to FAILED' "$err" ||
		{ show "$err" 60; fail "$1: no task switched from RUNNING to FAILED in the log"; }
}

run_spate user_fail run "$JOBS/user_fail.so"
expect_job_failure user_fail UserFail \
	"failed: operator 'failing-map' \(subtask 2/2\) failed: refusing value [0-9]+ on purpose$"
check_failed_run user_fail UserFail

run_spate assert_fail run "$JOBS/assert_fail.so"
expect_job_failure assert_fail AssertFail \
	"failed: operator 'checked-filter' \(subtask 1/1\) failed: assertion failed: value < 50 \(.*assert_fail\.c:[0-9]+\)$"
check_failed_run assert_fail AssertFail
# Whatever got printed before the failure passed the filter: values below 50 only.
awk 'NR > 1 && /^[0-9]+$/ && ($1 < 1 || $1 >= 50) { print; bad = 1 } END { exit bad }' \
	"$TMP/assert_fail.out" || fail "assert_fail: a value >= 50 was printed"

# Failing jobs under -D log.level=warn still end with the one failure line.
run_spate user_fail_quiet run -D log.level=warn "$JOBS/user_fail.so"
expect_job_failure user_fail_quiet UserFail "operator 'failing-map' \(subtask 2/2\) failed: refusing value"
! grep -q ' INFO ' "$TMP/user_fail_quiet.err" || fail "user_fail_quiet: INFO lines with log.level=warn"
