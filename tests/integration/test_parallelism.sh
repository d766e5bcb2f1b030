#!/usr/bin/env bash
# Parallelism precedence, as Flink's: operator > environment (code) > -p > parallelism.default
# (-D over the config file) > number of CPUs when there is no config. Read from the plan of
# `spate info` on tests/jobs/parallelism.so (numbers -> double -> print), then one real run.
. "$(dirname "$0")/lib.sh"

require_file "$JOBS/parallelism.so"
command -v jq >/dev/null || fail "jq is needed (scripts/install-deps.sh installs it)"

HEADER='----------------------- Execution Plan -----------------------'
FOOTER='--------------------------------------------------------------'

# plan NAME SPATE-INFO-ARGS...: runs spate info, leaves the plan JSON in $TMP/NAME.json.
plan() {
	local name=$1
	shift
	run_spate "$name" info "$@"
	expect_rc "$name" 0
	awk -v h="$HEADER" -v f="$FOOTER" '$0 == h { on = 1; next } $0 == f { exit } on' \
		"$TMP/$name.out" >"$TMP/$name.json"
	jq -e . "$TMP/$name.json" >/dev/null 2>&1 || { show "$TMP/$name.out"; fail "$name: no plan JSON"; }
}

# expect_p NAME NODE WANT: the plan node whose contents match NODE has parallelism WANT.
expect_p() {
	local got
	got=$(jq -r --arg re "$2" '[.nodes[] | select(.contents | test($re))] | first | .parallelism' "$TMP/$1.json")
	[ "$got" = "$3" ] || { jq -c '.nodes[] | {contents, parallelism}' "$TMP/$1.json" >&2; fail "$1: '$2' has parallelism $got, expected $3"; }
}

J="$JOBS/parallelism.so"

plan config_default "$J"
expect_p config_default double 1 # build/conf/config.yaml: parallelism.default: 1

plan cli -p 3 "$J"
expect_p cli double 3
expect_p cli numbers 3

plan env -p 3 "$J" --env-p 2
expect_p env double 2
expect_p env numbers 2

plan op -p 3 "$J" --env-p 2 --op-p 4
expect_p op double 4
expect_p op numbers 2
# The print sink takes the environment's parallelism, not its input's.
expect_p op '[Pp]rint' 2

plan dyn -D parallelism.default=6 "$J"
expect_p dyn double 6
plan cli_over_dyn -p 3 -D parallelism.default=6 "$J"
expect_p cli_over_dyn double 3

# A config dir of our own (SPATE_CONF_DIR).
mkdir -p "$TMP/conf5" "$TMP/noconf"
printf 'parallelism:\n  default: 5\n' >"$TMP/conf5/config.yaml"
export SPATE_CONF_DIR="$TMP/conf5"
plan file "$J"
expect_p file double 5
plan file_cli -p 3 "$J"
expect_p file_cli double 3
plan file_dyn -D parallelism.default=7 "$J"
expect_p file_dyn double 7
printf 'parallelism.default: 4\n' >"$TMP/conf5/config.yaml" # flat dotted keys work too
plan flat "$J"
expect_p flat double 4

# No config at all: one subtask per CPU.
export SPATE_CONF_DIR="$TMP/noconf"
plan nocpu "$J"
expect_p nocpu double "$(nproc)"
unset SPATE_CONF_DIR

# The default max parallelism (key groups) follows Flink's formula.
plan maxp3 -p 3 "$J"
jq -e 'all(.jobGraph.nodes[]; .maxParallelism == 128)' "$TMP/maxp3.json" >/dev/null ||
	fail "maxp3: default max parallelism at p=3 is not 128: $(jq -c '[.jobGraph.nodes[].maxParallelism]' "$TMP/maxp3.json")"
plan maxp100 -p 100 "$J"
jq -e 'all(.jobGraph.nodes[]; .maxParallelism == 256)' "$TMP/maxp100.json" >/dev/null ||
	fail "maxp100: default max parallelism at p=100 is not 256"

# A real run at -p 2: the rows arrive, prefixed by the sink subtask.
run_spate run2 run -p 2 "$J" --count 100
expect_rc run2 0
check_run_frame run2
seq 2 2 200 | sort >"$TMP/expected"
sink_lines run2 | grep -Eq '^[12]> ' || fail "run2: print sink at p=2 without '1> '/'2> ' prefixes"
sink_lines run2 | strip_subtask_prefix | sort >"$TMP/actual"
expect_same "$TMP/expected" "$TMP/actual" "parallelism job at p=2"
