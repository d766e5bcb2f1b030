#!/usr/bin/env bash
# Exchanges between tasks behave as Flink's partitioners (flink-facts.md §3). Each row is
# tagged with the consumer subtask that received it (tests/jobs/partitioners), and awk checks
# the pattern: every row exactly once (broadcast: once per consumer), rebalance balanced,
# rescale and forward pointwise, global to subtask 0. keyBy follows Flink's key-group
# assignment exactly: the words of Flink's test vectors land on the subtasks Flink's
# murmur-hash formula gives.
. "$(dirname "$0")/lib.sh"

require_file "$JOBS/partitioners.so" "$EXAMPLES/wordcount.so"

N=6000
# route NAME MODE SRC_P DST_P: runs the job, leaves "subtask value" lines in $TMP/NAME.rows.
route() {
	run_spate "$1" run "$JOBS/partitioners.so" --mode "$2" --src-p "$3" --dst-p "$4" --count "$N"
	expect_rc "$1" 0
	check_run_frame "$1"
	sink_lines "$1" | strip_subtask_prefix | sed -E 's/^\(([0-9]+),([0-9]+)\)$/\1 \2/' >"$TMP/$1.rows"
	if grep -qv '^[0-9]* [0-9]*$' "$TMP/$1.rows"; then
		show "$TMP/$1.rows"
		fail "$1: unexpected output lines"
	fi
}

# once NAME DST_P: every value 1..N exactly once, on a subtask in 0..DST_P-1.
once() {
	awk -v n="$N" -v p="$2" '{ if ($1 < 0 || $1 >= p) { print "bad subtask: " $0; bad = 1 }
	                            c[$2]++ }
	     END { for (v = 1; v <= n; v++) if (c[v] != 1) { print "value " v " seen " c[v] + 0 " times"; bad = 1; break }
	           if (NR != n) { print NR " rows, expected " n; bad = 1 }
	           exit bad }' "$TMP/$1.rows" >"$TMP/$1.check" || fail "$1: $(head -n 3 "$TMP/$1.check")"
}

route rebalance rebalance 2 3
once rebalance 3
# Round-robin from each of the 2 producers: consumer counts differ by at most 2.
awk '{ c[$1]++ } END { min = -1; for (s in c) { if (min < 0 || c[s] < min) min = c[s]; if (c[s] > max) max = c[s] }
                       if (length(c) != 3 || max - min > 2) { print "counts per subtask:"; for (s in c) print s, c[s]; exit 1 } }' \
	"$TMP/rebalance.rows" >"$TMP/rebalance.check" || fail "rebalance is not round-robin: $(tr '\n' ' ' <"$TMP/rebalance.check")"

route shuffle shuffle 2 3
once shuffle 3
[ "$(cut -d' ' -f1 "$TMP/shuffle.rows" | sort -u | wc -l)" -eq 3 ] || fail "shuffle did not reach all 3 subtasks"

route global global 3 4
once global 4
[ "$(cut -d' ' -f1 "$TMP/global.rows" | sort -u)" = 0 ] || fail "global sent rows to a subtask other than 0"

route broadcast broadcast 2 3
awk -v n="$N" '{ c[$2]++; seen[$1 " " $2]++ }
     END { for (v = 1; v <= n; v++) if (c[v] != 3) { print "value " v " seen " c[v] + 0 " times"; exit 1 }
           for (k in seen) if (seen[k] != 1) { print "duplicate " k; exit 1 } }' \
	"$TMP/broadcast.rows" >"$TMP/broadcast.check" || fail "broadcast: $(cat "$TMP/broadcast.check")"

# Pointwise: the rows of one producer stay within its consumers. The sequence source gives
# each producer one contiguous range, so a consumer's values come from the ranges of its
# producers only: with 2 producers and 4 consumers, consumers {0,1} and {2,3} see disjoint
# halves; with 4 producers and 2 consumers, each consumer sees two whole neighbouring ranges.
route rescale_up rescale 2 4
once rescale_up 4
awk '{ g = ($1 < 2) ? 0 : 1; if (g == 0 && $2 > max0) max0 = $2; if (g == 1 && (min1 == "" || $2 < min1)) min1 = $2 }
     END { if (max0 >= min1) { print "consumers 0-1 got " max0 ", consumers 2-3 got " min1; exit 1 } }' \
	"$TMP/rescale_up.rows" >"$TMP/rescale_up.check" || fail "rescale 2->4 is not pointwise: $(cat "$TMP/rescale_up.check")"
route rescale_down rescale 4 2
once rescale_down 2
awk '{ if ($1 == 0 && $2 > max0) max0 = $2; if ($1 == 1 && (min1 == "" || $2 < min1)) min1 = $2 }
     END { if (max0 >= min1) { print "consumer 0 got " max0 ", consumer 1 got " min1; exit 1 } }' \
	"$TMP/rescale_down.rows" >"$TMP/rescale_down.check" || fail "rescale 4->2 is not pointwise: $(cat "$TMP/rescale_down.check")"

route forward forward 3 3
once forward 3
# Forward keeps each producer's contiguous range on one consumer.
sort -n -k2 "$TMP/forward.rows" | awk 'NR == 1 || $1 != last { runs++; last = $1 } END { if (runs != 3) { print runs " runs"; exit 1 } }' \
	>"$TMP/forward.check" || fail "forward mixed the producers' ranges: $(cat "$TMP/forward.check")"

# keyBy: Flink's key-group assignment (murmur hash of String.hashCode, maxP 128). From the
# test vectors of flink-facts.md §3, as "word p=3-subtask p=4-subtask" (0-based).
cat >"$TMP/vectors" <<'V'
a 1 2
to 2 2
the 1 2
hello 0 1
flink 2 3
sleep 1 1
V
awk '{ print $1 }' "$TMP/vectors" >"$TMP/words.txt"
for p in 3 4; do
	run_spate "hash$p" run -p "$p" "$EXAMPLES/wordcount.so" --input "$TMP/words.txt"
	expect_rc "hash$p" 0
	sink_lines "hash$p" >"$TMP/hash$p.lines"
	while read -r word want3 want4; do
		want=$((p == 3 ? want3 : want4))
		grep -qx "$((want + 1))> ($word,1)" "$TMP/hash$p.lines" ||
			{ show "$TMP/hash$p.lines"; fail "keyBy at p=$p: '$word' should go to subtask $((want + 1)) as in Flink"; }
	done <"$TMP/vectors"
done
