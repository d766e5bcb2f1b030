#!/usr/bin/env bash
# `spate info`: the execution plan of WordCount as Flink's client prints it (a header line,
# the plan JSON, a closing line, then the summary), with Flink's chaining and slot rules:
#   p=1 (config default): Source -> tokenizer | counter -> sink: 2 vertices, 2 subtasks, 1 slot
#   p=2, built-in text: the collection source is non-parallel (1), so source | tokenizer(2) |
#        counter -> sink(2): 3 vertices, 5 subtasks, 2 slots
#   p=2, --input file (parallel source): source -> tokenizer(2) | counter -> sink(2):
#        2 vertices, 4 subtasks, 2 slots
. "$(dirname "$0")/lib.sh"

require_file "$EXAMPLES/wordcount.so"
command -v jq >/dev/null || fail "jq is needed (scripts/install-deps.sh installs it)"

HEADER='----------------------- Execution Plan -----------------------'
FOOTER='--------------------------------------------------------------'

# info_check NAME VERTICES SUBTASKS SLOTS: checks the frame, the JSON and the summary of the
# last `spate info` run NAME; leaves the plan in $TMP/NAME.json.
info_check() {
	local name=$1 v=$2 s=$3 slots=$4
	local out="$TMP/$name.out"
	expect_rc "$name" 0
	[ "$(head -n 1 "$out")" = "$HEADER" ] || { show "$out"; fail "$name: first line is not the Execution Plan header"; }
	grep -qx -- "$FOOTER" "$out" || { show "$out"; fail "$name: no closing line of 62 dashes"; }
	awk -v h="$HEADER" -v f="$FOOTER" '$0 == h { on = 1; next } $0 == f { exit } on' "$out" >"$TMP/$name.json"
	jq -e . "$TMP/$name.json" >/dev/null 2>&1 || { show "$TMP/$name.json"; fail "$name: the plan is not valid JSON"; }
	# The summary lines after the closing line, in this order.
	local summary
	summary=$(awk -v f="$FOOTER" 'seen && /^(Job vertices|Subtasks|Slots needed): /; $0 == f { seen = 1 }' "$out")
	local want="Job vertices: $v
Subtasks: $s
Slots needed: $slots"
	[ "$summary" = "$want" ] || { show "$out" 80; fail "$name: summary is '$summary', expected '$want'"; }
	# The same numbers in the JSON.
	jq -e --argjson v "$v" --argjson s "$s" --argjson slots "$slots" \
		'.summary.jobVertices == $v and .summary.subtasks == $s and .summary.slotsNeeded == $slots' \
		"$TMP/$name.json" >/dev/null || fail "$name: JSON summary $(jq -c .summary "$TMP/$name.json") disagrees"
	jq -e --argjson v "$v" '.jobGraph.nodes | length == $v' "$TMP/$name.json" >/dev/null ||
		fail "$name: jobGraph has $(jq '.jobGraph.nodes | length' "$TMP/$name.json") nodes, expected $v"
	# Flink's StreamGraph plan shape: every node has these fields; ids are unique;
	# predecessors name existing nodes.
	jq -e '(.nodes | length) == 4 and
	       all(.nodes[]; has("id") and has("type") and has("pact") and has("contents") and
	                     (.parallelism | type) == "number")' "$TMP/$name.json" >/dev/null ||
		{ jq . "$TMP/$name.json" | head -n 60 >&2; fail "$name: nodes lack Flink's plan fields (or are not 4)"; }
	jq -e '[.nodes[].id] as $ids | all(.nodes[]; all((.predecessors // [])[];
	           .id as $p | ($ids | index($p)) != null and has("ship_strategy") and has("side")))' \
		"$TMP/$name.json" >/dev/null || fail "$name: a predecessor is malformed or unknown"
	# The subtasks are the sum of the vertices' parallelism.
	jq -e --argjson s "$s" '[.jobGraph.nodes[].parallelism] | add == $s' "$TMP/$name.json" >/dev/null ||
		fail "$name: the job vertices' parallelism does not add up to $s"
	# Nothing ran.
	! grep -q 'Job has been submitted' "$out" || fail "$name: info submitted the job"
	! grep -Eq '^([0-9]+> )?\(the,' "$out" || fail "$name: info ran the job"
}

# node_field NAME CONTENTS_REGEX JQ: JQ applied to the plan node whose contents match.
node_field() {
	jq -r --arg re "$2" "[.nodes[] | select(.contents | test(\$re))] | first | $3" "$TMP/$1.json"
}

run_spate info1 info "$EXAMPLES/wordcount.so"
info_check info1 2 2 1
[ "$(node_field info1 counter '.predecessors[0].ship_strategy')" = HASH ] ||
	fail "info1: the edge into the counter is not HASH"
[ "$(node_field info1 tokenizer '.predecessors[0].ship_strategy')" = FORWARD ] ||
	fail "info1: the edge into the tokenizer is not FORWARD"
[ "$(node_field info1 in-memory-input '.pact')" = "Data Source" ] || fail "info1: source pact is not 'Data Source'"
[ "$(node_field info1 tokenizer '.pact')" = "Operator" ] || fail "info1: tokenizer pact is not 'Operator'"
[ "$(node_field info1 print-sink '.pact')" = "Data Sink" ] || fail "info1: sink pact is not 'Data Sink'"
# Chained vertex names as Flink builds them.
jq -r '.jobGraph.nodes[].operator' "$TMP/info1.json" | grep -q 'in-memory-input.* -> tokenizer' ||
	fail "info1: no job vertex 'Source: in-memory-input -> tokenizer'"

run_spate info2 info -p 2 "$EXAMPLES/wordcount.so"
info_check info2 3 5 2
[ "$(node_field info2 in-memory-input '.parallelism')" = 1 ] || fail "info2: the collection source is not at parallelism 1"
[ "$(node_field info2 tokenizer '.parallelism')" = 2 ] || fail "info2: tokenizer parallelism is not 2"
[ "$(node_field info2 tokenizer '.predecessors[0].ship_strategy')" = REBALANCE ] ||
	fail "info2: the edge into the tokenizer (parallelism 1 -> 2) is not REBALANCE"
[ "$(node_field info2 counter '.predecessors[0].ship_strategy')" = HASH ] || fail "info2: the edge into the counter is not HASH"
[ "$(node_field info2 print-sink '.predecessors[0].ship_strategy')" = FORWARD ] || fail "info2: the edge into the sink is not FORWARD"
[ "$(node_field info2 print-sink '.parallelism')" = 2 ] || fail "info2: sink parallelism is not 2"

run_spate info3 info -p 2 "$EXAMPLES/wordcount.so" --input "$HAMLET"
info_check info3 2 4 2
[ "$(node_field info3 file-input '.parallelism')" = 2 ] || fail "info3: the file source is not at parallelism 2"
[ "$(node_field info3 counter '.predecessors[0].ship_strategy')" = HASH ] || fail "info3: the edge into the counter is not HASH"
jq -e '[.jobGraph.nodes[].inputs // [] | .[].ship_strategy] == ["HASH"]' "$TMP/info3.json" >/dev/null ||
	fail "info3: expected exactly one physical job edge, HASH: $(jq -c '[.jobGraph.nodes[].inputs]' "$TMP/info3.json")"

# -D log.level=warn keeps stdout the same and stderr free of INFO lines.
run_spate info4 info -p 2 -D log.level=warn "$EXAMPLES/wordcount.so" --input "$HAMLET"
info_check info4 2 4 2
! grep -q ' INFO ' "$TMP/info4.err" || fail "info with log.level=warn logs INFO"
