#!/usr/bin/env bash
# The keyed_state example (value state and map state in a keyed process function) at
# several parallelisms against an awk re-implementation of the same per-key arithmetic.
. "$(dirname "$0")/lib.sh"

require_file "$EXAMPLES/keyed_state.so"

# oracle N K: every row the job emits, sorted (see the header of examples/keyed_state.c).
oracle() {
	awk -v n="$1" -v k="$2" 'BEGIN {
		for (v = 1; v <= n; v++) {
			key = v % k; d = v % 10
			c[key]++; s[key] += v
			if (!((key, d) in m)) nd[key]++
			m[key, d]++
			printf "(%d,%d,%d,%.0f,%d,%d)\n", key, v, c[key], s[key], nd[key], m[key, d]
		}
	}' | sort
}

oracle 20 3 >"$TMP/expected.small"
run_spate small run "$EXAMPLES/keyed_state.so" --count 20 --keys 3
expect_rc small 0
check_run_frame small
sink_lines small | sort >"$TMP/actual.small"
expect_same "$TMP/expected.small" "$TMP/actual.small" "keyed_state --count 20 --keys 3"

oracle 20000 13 >"$TMP/expected"
for p in 1 2 3; do
	run_spate "print$p" run -p "$p" "$EXAMPLES/keyed_state.so" --count 20000 --keys 13
	expect_rc "print$p" 0
	check_run_frame "print$p"
	sink_lines "print$p" | strip_subtask_prefix | sort >"$TMP/actual$p"
	expect_same "$TMP/expected" "$TMP/actual$p" "keyed_state at p=$p (printed)"

	run_spate "file$p" run -p "$p" "$EXAMPLES/keyed_state.so" --count 20000 --keys 13 --output "$TMP/out$p"
	expect_rc "file$p" 0
	cat "$TMP/out$p"/part-* | sort >"$TMP/written$p"
	expect_same "$TMP/expected" "$TMP/written$p" "keyed_state at p=$p (written)"
done

# With more keys than rows per key the map state stays small; with one key it sees every
# digit.
oracle 1000 1 >"$TMP/expected.one"
run_spate one run -p 2 "$EXAMPLES/keyed_state.so" --count 1000 --keys 1
expect_rc one 0
sink_lines one | strip_subtask_prefix | sort >"$TMP/actual.one"
expect_same "$TMP/expected.one" "$TMP/actual.one" "keyed_state with one key"
grep -qx '(0,1000,1000,500500,10,100)' "$TMP/actual.one" || fail "one key: last row is not (0,1000,1000,500500,10,100)"

run_spate badarg run "$EXAMPLES/keyed_state.so" --keys 0
[ "$RC" -ne 0 ] || fail "keyed_state --keys 0 exited 0"
grep -q "keyed_state: expected a positive integer, got '0'" "$TMP/badarg.err" ||
	{ show "$TMP/badarg.err"; fail "keyed_state --keys 0: no usage error"; }
