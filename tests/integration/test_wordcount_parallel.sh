#!/usr/bin/env bash
# WordCount at -p 1, 2 and 4 on a few MB of generated text read from files (--input given
# as a directory, a comma-separated list and repeated), printed and written with --output:
# every rolling update (word,1..n) appears exactly once, so the final count of each word (the
# largest printed) equals the oracle's.
. "$(dirname "$0")/lib.sh"

require_file "$EXAMPLES/wordcount.so"

mkdir -p "$TMP/in"
generate_text "$TMP/in/a.txt" 45000 7
generate_text "$TMP/in/b.txt" 3000 11
generate_text "$TMP/c.txt" 2000 13
printf 'no newline at the end: The END' >>"$TMP/c.txt"
size=$(cat "$TMP/in/a.txt" "$TMP/in/b.txt" "$TMP/c.txt" | wc -c)
[ "$size" -gt 2000000 ] || fail "generated text is only $size bytes"

oracle_word_updates "$TMP/in/a.txt" "$TMP/in/b.txt" "$TMP/c.txt" >"$TMP/expected.updates"
oracle_word_counts "$TMP/in/a.txt" "$TMP/in/b.txt" "$TMP/c.txt" >"$TMP/expected.counts"
note "$size bytes, $(wc -l <"$TMP/expected.updates") tokens, $(wc -l <"$TMP/expected.counts") words"

for p in 1 2 4; do
	# Printed, inputs as a directory plus a file.
	run_spate "print$p" run -p "$p" "$EXAMPLES/wordcount.so" --input "$TMP/in" --input "$TMP/c.txt"
	expect_rc "print$p" 0
	check_run_frame "print$p"
	sink_lines "print$p" >"$TMP/printed$p"
	if [ "$p" -eq 1 ]; then
		! grep -Eq '^[0-9]+> ' "$TMP/printed$p" || fail "p=1: print sink lines have a subtask prefix"
	else
		# Every line carries "<subtask+1>> " with 1 <= subtask+1 <= p.
		awk -v p="$p" '{ if (match($0, /^[0-9]+> /) == 0) { print "no prefix: " $0; bad = 1; exit }
		                 n = substr($0, 1, RLENGTH - 2) + 0
		                 if (n < 1 || n > p) { print "bad prefix: " $0; bad = 1; exit }
		                 seen[n] = 1 }
		     END { for (i = 1; i <= p; i++) if (!(i in seen)) { print "no line from subtask " i; bad = 1 }
		           exit bad }' "$TMP/printed$p" >"$TMP/prefix$p" ||
			fail "p=$p: print sink prefixes: $(cat "$TMP/prefix$p")"
	fi
	strip_subtask_prefix <"$TMP/printed$p" | sort >"$TMP/actual$p.updates"
	expect_same "$TMP/expected.updates" "$TMP/actual$p.updates" "p=$p printed updates"
	strip_subtask_prefix <"$TMP/printed$p" | final_counts_from_updates >"$TMP/actual$p.counts"
	expect_same "$TMP/expected.counts" "$TMP/actual$p.counts" "p=$p printed final counts"

	# Written to files, inputs as a comma-separated list plus a repeated --input.
	out="$TMP/out$p"
	run_spate "file$p" run -p "$p" "$EXAMPLES/wordcount.so" \
		--input "$TMP/in/a.txt,$TMP/in/b.txt" --input "$TMP/c.txt" --output "$out"
	expect_rc "file$p" 0
	check_run_frame "file$p"
	[ -z "$(sink_lines "file$p")" ] || fail "p=$p: --output still printed rows on stdout"
	[ -d "$out" ] || fail "p=$p: output directory '$out' was not created"
	# One finished part file per sink subtask, nothing left in progress.
	parts=$(find "$out" -mindepth 1 -maxdepth 1 -name 'part-*' -type f | wc -l)
	others=$(find "$out" -mindepth 1 ! -name 'part-*' | wc -l)
	[ "$parts" -eq "$p" ] || { ls -la "$out" >&2; fail "p=$p: expected $p part files, found $parts"; }
	[ "$others" -eq 0 ] || { ls -la "$out" >&2; fail "p=$p: unexpected files in the output directory"; }
	for ((i = 0; i < p; i++)); do
		[ -f "$out/part-$i" ] || { ls -la "$out" >&2; fail "p=$p: no file part-$i for sink subtask $i"; }
	done
	cat "$out"/part-* | sort >"$TMP/file$p.updates"
	expect_same "$TMP/expected.updates" "$TMP/file$p.updates" "p=$p written updates"
	cat "$out"/part-* | final_counts_from_updates >"$TMP/file$p.counts"
	expect_same "$TMP/expected.counts" "$TMP/file$p.counts" "p=$p written final counts"
done

# Many small files, some empty or without a final newline, at more subtasks than some files
# have bytes.
mkdir -p "$TMP/small"
for i in 1 2 3 4 5 6 7; do
	generate_text "$TMP/small/f$i" "$i" "$((100 + i))"
done
: >"$TMP/small/empty"
printf 'x' >"$TMP/small/one-byte"
printf 'Tail without newline' >>"$TMP/small/f3"
oracle_word_updates "$TMP"/small/* >"$TMP/small.expected"
run_spate small run -p 4 "$EXAMPLES/wordcount.so" --input "$TMP/small"
expect_rc small 0
check_run_frame small
sink_lines small | strip_subtask_prefix | sort >"$TMP/small.actual"
expect_same "$TMP/small.expected" "$TMP/small.actual" "p=4 on a directory of small files"
