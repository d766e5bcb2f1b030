#!/usr/bin/env bash
# The command line: --help on every command prints usage on stdout and exits 0; usage
# errors (unknown option or command, missing job file) exit 2 and say what was wrong.
. "$(dirname "$0")/lib.sh"

require_file "$EXAMPLES/wordcount.so"

for cmd in "" run info; do
	name="help_${cmd:-top}"
	# shellcheck disable=SC2086 # an empty $cmd must vanish
	run_spate "$name" $cmd --help
	expect_rc "$name" 0
	grep -qi 'usage' "$TMP/$name.out" || { show "$TMP/$name.out"; fail "spate $cmd --help: no usage on stdout"; }
	[ ! -s "$TMP/$name.err" ] || { show "$TMP/$name.err"; fail "spate $cmd --help wrote to stderr"; }
done
grep -q -- '-p' "$TMP/help_run.out" && grep -q -- '-D' "$TMP/help_run.out" ||
	fail "spate run --help does not mention -p and -D"
grep -q 'run' "$TMP/help_top.out" && grep -q 'info' "$TMP/help_top.out" ||
	fail "spate --help does not list the run and info commands"

# usage NAME PATTERN ARGS...: exit status 2, stderr matches PATTERN, nothing ran.
usage() {
	local name=$1 pattern=$2
	shift 2
	run_spate "$name" "$@"
	expect_rc "$name" 2
	grep -Eqi -- "$pattern" "$TMP/$name.err" || { show "$TMP/$name.err"; fail "$name: stderr does not match /$pattern/"; }
	! grep -q 'Job has been submitted' "$TMP/$name.out" || fail "$name: a job was submitted"
}

usage unknown_option "bogus" run --bogus "$EXAMPLES/wordcount.so"
usage unknown_info_option "bogus" info --bogus "$EXAMPLES/wordcount.so"
usage missing_job "job|usage" run
usage missing_job_info "job|usage" info
usage missing_p_value "-p|parallelism|usage" run -p
usage missing_d_value "-D|usage" run -D
usage unknown_command "frobnicate" frobnicate
usage no_command "usage|command"

# Options after the job file belong to the job: wordcount sees '-p' and rejects it itself.
run_spate job_args run "$EXAMPLES/wordcount.so" -p 2
[ "$RC" -ne 0 ] || fail "job_args: wordcount accepted '-p' as a job argument"
grep -q "wordcount: unknown argument '-p'" "$TMP/job_args.err" ||
	{ show "$TMP/job_args.err"; fail "job_args: '-p' after the job file was not passed to the job"; }
