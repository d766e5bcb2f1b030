#!/usr/bin/env bash
# The command line: --help on every command prints usage on stdout and exits 0; usage
# errors (unknown option or command, missing job file) exit 2 and say what was wrong.
# Also what needs no cluster of `savepoint` and `stop` (bad ids, disposing of a savepoint
# directory) and the configuration a job carries in its graph (`graph-capture`).
. "$(dirname "$0")/lib.sh"

require_file "$EXAMPLES/wordcount.so"

# Every command, the cluster and daemon ones included, in both spellings; the help of
# `cluster start` and the daemons must not start anything (a private log directory shows
# it: nothing may appear there).
mkdir -p "$TMP/help-conf" "$TMP/help-log"
for cmd in "" run info savepoint stop list cancel cluster "cluster start" "cluster stop" \
	jobmanager taskmanager; do
	for opt in --help -h; do
		name="help_${cmd:-top}"
		name=${name// /_}
		[ "$opt" = -h ] && name="${name}_h"
		# shellcheck disable=SC2086 # an empty $cmd must vanish, "cluster start" split
		SPATE_CONF_DIR="$TMP/help-conf" SPATE_LOG_DIR="$TMP/help-log" run_spate "$name" $cmd "$opt"
		expect_rc "$name" 0
		grep -qi 'usage' "$TMP/$name.out" || { show "$TMP/$name.out"; fail "spate $cmd $opt: no usage on stdout"; }
		[ ! -s "$TMP/$name.err" ] || { show "$TMP/$name.err"; fail "spate $cmd $opt wrote to stderr"; }
	done
done
[ -z "$(ls -A "$TMP/help-log")" ] || fail "a --help started something: $(ls -A "$TMP/help-log")"
# Each names its own command and what it takes.
grep -q '^Usage: spate cancel .*<jobId>' "$TMP/help_cancel.out" && grep -q -- '--jobmanager' "$TMP/help_cancel.out" ||
	{ show "$TMP/help_cancel.out"; fail "spate cancel --help does not show 'spate cancel ... <jobId>' and -m"; }
grep -q '^Usage: spate list' "$TMP/help_list.out" && grep -q -- '--all' "$TMP/help_list.out" ||
	{ show "$TMP/help_list.out"; fail "spate list --help does not show 'spate list' and -a/--all"; }
grep -q 'spate cluster start' "$TMP/help_cluster_start.out" && grep -q 'workers' "$TMP/help_cluster_start.out" ||
	{ show "$TMP/help_cluster_start.out"; fail "spate cluster start --help does not describe the start"; }
! grep -q 'spate cluster stop' "$TMP/help_cluster_start.out" || fail "spate cluster start --help shows the stop usage"
grep -q 'spate cluster stop' "$TMP/help_cluster_stop.out" || fail "spate cluster stop --help does not show 'spate cluster stop'"
grep -q 'spate cluster start' "$TMP/help_cluster.out" && grep -q 'spate cluster stop' "$TMP/help_cluster.out" ||
	fail "spate cluster --help does not show both start and stop"
for d in jobmanager taskmanager; do
	grep -q "^Usage: spate $d" "$TMP/help_$d.out" && grep -q -- '-D' "$TMP/help_$d.out" ||
		{ show "$TMP/help_$d.out"; fail "spate $d --help does not show 'spate $d' and -D"; }
done
# --help wins wherever it stands among options and operands.
SPATE_CONF_DIR="$TMP/help-conf" SPATE_LOG_DIR="$TMP/help-log" run_spate help_cancel_late cancel -m 127.0.0.1:1 0123 --help
expect_rc help_cancel_late 0
cmp -s "$TMP/help_cancel.out" "$TMP/help_cancel_late.out" || fail "spate cancel <id> --help does not print cancel's usage"
grep -q -- '-p' "$TMP/help_run.out" && grep -q -- '-D' "$TMP/help_run.out" ||
	fail "spate run --help does not mention -p and -D"
grep -q 'run' "$TMP/help_top.out" && grep -q 'info' "$TMP/help_top.out" ||
	fail "spate --help does not list the run and info commands"
grep -q 'savepoint' "$TMP/help_top.out" && grep -q 'stop' "$TMP/help_top.out" ||
	fail "spate --help does not list the savepoint and stop commands"
grep -q -- '--fromSavepoint' "$TMP/help_run.out" && grep -q -- '--allowNonRestoredState' "$TMP/help_run.out" ||
	fail "spate run --help does not mention -s/--fromSavepoint and -n/--allowNonRestoredState"
grep -q -- '--dispose' "$TMP/help_savepoint.out" || fail "spate savepoint --help does not mention --dispose"
grep -q -- '--savepointPath' "$TMP/help_stop.out" && grep -q -- '--drain' "$TMP/help_stop.out" ||
	fail "spate stop --help does not mention --savepointPath and --drain"

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
usage cancel_unknown_option "'--bogus' for 'cancel'" cancel --bogus
usage cancel_no_job "usage" cancel
usage list_operand "usage" list extra
usage cluster_no_action "usage" cluster
usage cluster_bad_action "usage" cluster restart
usage cluster_extra_arg "unexpected argument 'now'" cluster stop now
usage cluster_start_unknown_option "'--bogus' for 'cluster'" cluster start --bogus
usage jobmanager_unknown_option "'--bogus' for 'jobmanager'" jobmanager --bogus
usage no_command "usage|command"
usage missing_s_value "-s|savepoint|usage" run -s
usage info_has_no_s "'-s'" info -s /tmp/sp "$EXAMPLES/wordcount.so"
JID=0123456789abcdef0123456789abcdef
usage savepoint_no_job "usage" savepoint
usage savepoint_three_args "usage" savepoint "$JID" /tmp/a /tmp/b
usage savepoint_unknown_option "bogus" savepoint --bogus "$JID"
usage savepoint_bad_type "format 'zip'" savepoint -type zip "$JID"
usage savepoint_dispose_no_path "dispose|value" savepoint -d
usage stop_no_job "usage" stop
usage stop_two_jobs "usage" stop "$JID" "$JID"
usage stop_p_no_dir "savepointPath|value" stop "$JID" --savepointPath

# A malformed job id: one line, exit 1, before any JobManager is looked for.
for cmd in savepoint stop; do
	run_spate "${cmd}_bad_id" "$cmd" -m 127.0.0.1:1 not-a-job-id
	expect_cli_error "${cmd}_bad_id" "bad job id 'not-a-job-id'" 1
	[ ! -s "$TMP/${cmd}_bad_id.out" ] || fail "$cmd with a bad job id printed: $(cat "$TMP/${cmd}_bad_id.out")"
done
# No JobManager at the address: one line naming it.
run_spate savepoint_unreachable savepoint -m 127.0.0.1:1 "$JID"
expect_cli_error savepoint_unreachable '127\.0\.0\.1:1([^0-9]|$)' 1

# ---- savepoint -d: disposing of a savepoint directory ------------------------------------
# A directory with Spate's metadata magic goes, with Flink's three lines; a path to its
# _metadata file names the same directory.
for how in dir file; do
	sp="$TMP/sp-$how/savepoint-012345-0123456789ab"
	mkdir -p "$sp/op"
	printf 'SPCK and the rest' >"$sp/_metadata"
	printf 'state' >"$sp/op/part-0"
	arg=$sp
	[ "$how" = file ] && arg="$sp/_metadata"
	run_spate "dispose_$how" savepoint -d "$arg"
	expect_rc "dispose_$how" 0
	printf "Disposing savepoint '%s'.\nWaiting for response...\nSavepoint '%s' disposed.\n" "$arg" "$arg" \
		>"$TMP/dispose_$how.expected"
	expect_same "$TMP/dispose_$how.expected" "$TMP/dispose_$how.out" "savepoint -d ($how) output"
	[ ! -e "$sp" ] || fail "savepoint -d ($how) left $sp behind"
	[ -d "$TMP/sp-$how" ] || fail "savepoint -d ($how) removed the parent directory"
done
# Anything else stays: a directory whose _metadata is not Spate's, and one without any.
mkdir -p "$TMP/not-sp" "$TMP/empty-dir"
printf 'PK\003\004 not a checkpoint' >"$TMP/not-sp/_metadata"
run_spate dispose_foreign savepoint -d "$TMP/not-sp"
expect_cli_error dispose_foreign "not a Spate checkpoint" 1
[ -f "$TMP/not-sp/_metadata" ] || fail "savepoint -d removed a directory that is not a savepoint"
run_spate dispose_missing savepoint -d "$TMP/empty-dir"
expect_cli_error dispose_missing "empty-dir/_metadata.*No such file" 1
[ -d "$TMP/empty-dir" ] || fail "savepoint -d removed a directory without _metadata"

# ---- the job's own configuration travels in its graph -------------------------------------
# The entry point's graph as the JobManager would get it (the hidden graph-capture command
# writes the encoded StreamGraph to stdout); protobuf keeps strings as they are, so grep
# finds them. Only checkpointing, state, restart and recovery keys set explicitly travel,
# under their current names; -s is made absolute.
mkdir -p "$TMP/conf-empty"
capture() {
	local name=$1
	shift
	SPATE_CONF_DIR="$TMP/conf-empty" timeout "$CMD_TIMEOUT" "$SPATE" graph-capture "$@" \
		>"$TMP/$name.graph" 2>"$TMP/$name.err" || { show "$TMP/$name.err"; fail "graph-capture $name failed"; }
}
has() { LC_ALL=C grep -aqF -- "$2" "$TMP/$1.graph"; }
capture plain "$EXAMPLES/wordcount.so"
! has plain "execution.checkpointing." || fail "a job without settings carries checkpointing keys"
capture shipped -D execution.checkpointing.interval=5s -D state.backend=rocksdb \
	-D restart-strategy.type=fixed-delay -D execution.savepoint.path=/sp/savepoint-1 \
	-D parallelism.default=3 -D web.cancel.enable=false "$EXAMPLES/wordcount.so"
for k in execution.checkpointing.interval state.backend.type restart-strategy.type \
	execution.state-recovery.path /sp/savepoint-1 rocksdb fixed-delay; do
	has shipped "$k" || fail "the job's graph does not carry '$k'"
done
for k in execution.savepoint.path parallelism.default web.cancel.enable; do
	! has shipped "$k" || fail "the job's graph carries '$k'"
done
(cd "$TMP" && capture restore -s rel/savepoint-2 -n "$EXAMPLES/wordcount.so")
has restore "$TMP/rel/savepoint-2" || fail "-s rel/savepoint-2 did not travel as $TMP/rel/savepoint-2"
has restore execution.state-recovery.ignore-unclaimed-state || fail "-n did not travel"

# Options after the job file belong to the job: wordcount sees '-p' and rejects it itself.
run_spate job_args run "$EXAMPLES/wordcount.so" -p 2
[ "$RC" -ne 0 ] || fail "job_args: wordcount accepted '-p' as a job argument"
grep -q "wordcount: unknown argument '-p'" "$TMP/job_args.err" ||
	{ show "$TMP/job_args.err"; fail "job_args: '-p' after the job file was not passed to the job"; }
