#!/usr/bin/env bash
# run.sh - runs the COST benchmarks of issue 6: every workload as a plain C baseline and as a
# Spate job, alternately, several rounds, and prints a table of medians.
#
# Usage: bash bench/run.sh [--smoke] BUILD_DIR
#
#   (full)    correctness runs first (untimed), then BENCH_ROUNDS rounds of each pair
#             (baseline, then Spate), medians of each figure; prints a Markdown table and
#             writes bench/results/latest.json and bench/results/latest.md (partial.* when
#             BENCH_ONLY selects some workloads).
#   --smoke   every workload once with tiny inputs; checks every result against the baseline
#             and times nothing (this is what CI and `ctest -R bench/smoke` run).
#
# Environment (full mode): BENCH_ROUNDS (3), BENCH_N (100m records for G/P0/P1), BENCH_NX_N
# (10m Nexmark events), BENCH_TEXT_BYTES (100m), BENCH_LAT_SECONDS (10), BENCH_LAT_RATE (half
# of P1's measured Spate throughput), BENCH_TIMEOUT (900 seconds per run), BENCH_ONLY (a
# regex: only workloads whose id matches, e.g. 'p1|wc').
#
# Figures: Spate records/s = records / the job's own "Job Runtime" (graph submission to job
# end, not process start-up); baseline records/s = records / the loop's own time. "cores" is
# the process CPU time (user + sys, from wait4) over its wall time; per core = records/s /
# cores. Peak RSS is the process's ru_maxrss. Latency is measured by the latency job itself.
set -euo pipefail

SMOKE=0
if [[ ${1:-} == --smoke ]]; then
	SMOKE=1
	shift
fi
if [[ $# -ne 1 ]]; then
	echo "usage: bash bench/run.sh [--smoke] BUILD_DIR" >&2
	exit 2
fi
BUILD=$(cd "$1" && pwd) || {
	echo "run.sh: no build directory '$1'" >&2
	exit 2
}
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
B=$BUILD/bench
SPATE=$BUILD/bin/spate
for f in "$SPATE" "$B/runstat" "$B/textgen" "$B/baseline_p1" "$B/p1.so"; do
	[[ -x $f || -f $f ]] || {
		echo "run.sh: '$f' is missing: build first (make, or cmake --build $BUILD)" >&2
		exit 2
	}
done

if ((SMOKE)); then
	# The correctness runs take more records than the timed ones (10 k): enough distinct
	# keys (about 95 k with K = 1M, 31 k words in the 1 MB text) that the keyed operators
	# leave their small-state path (4 k entries, see operator.c's PREFETCH_MIN_ENTRIES).
	ROUNDS=1 N=10k CHECK_N=200k NX_N=10k TEXT_BYTES=1m LAT_SECONDS=0 TIMEOUT=120
	WORK=$B/smoke
else
	ROUNDS=${BENCH_ROUNDS:-3} N=${BENCH_N:-100m} NX_N=${BENCH_NX_N:-10m}
	TEXT_BYTES=${BENCH_TEXT_BYTES:-100m} LAT_SECONDS=${BENCH_LAT_SECONDS:-10}
	TIMEOUT=${BENCH_TIMEOUT:-900}
	CHECK_N=$N
	WORK=$B/work
fi
ONLY=${BENCH_ONLY:-.}
RESULTS=$SRC/bench/results
rm -rf "$WORK"
mkdir -p "$WORK" "$B/data"

FAILURES=0
fail() {
	echo "FAIL: $*" >&2
	FAILURES=$((FAILURES + 1))
}
note() { echo "== $*" >&2; }

# Converts 10k / 100m / 1g (powers of 1000) to a plain number.
count() {
	awk -v s="$1" 'BEGIN {
		m = 1; u = substr(s, length(s)); n = s
		if (u == "k" || u == "K") m = 1e3; else if (u == "m" || u == "M") m = 1e6;
		else if (u == "g" || u == "G") m = 1e9
		if (m > 1) n = substr(s, 1, length(s) - 1)
		printf "%.0f\n", n * m }'
}
N_NUM=$(count "$N")
NX_NUM=$(count "$NX_N")

# ---- running one command ------------------------------------------------------------------

# run LABEL CMD...: runs CMD under runstat with a timeout; stdout to $WORK/LABEL.out, stderr
# to $WORK/LABEL.err, "wall_ms= user_ms= sys_ms= maxrss_kb= exit=" to $WORK/LABEL.stat.
# Returns non-zero (and reports) if the command failed.
run() {
	local label=$1
	shift
	local rc=0
	timeout -k 10 "$TIMEOUT" "$B/runstat" "$WORK/$label.stat" "$@" \
		>"$WORK/$label.out" 2>"$WORK/$label.err" </dev/null || rc=$?
	if ((rc != 0)); then
		fail "$label: exit status $rc ($*)"
		tail -n 5 "$WORK/$label.err" | sed 's/^/    /' >&2
		return 1
	fi
	return 0
}

# rstat LABEL FIELD: a field of the runstat line.
rstat() {
	tr ' ' '\n' <"$WORK/$1.stat" | awk -F= -v f="$2" '$1 == f { print $2 }'
}

# result LABEL FIELD: FIELD summed over every "RESULT" line (one per sink subtask), or NA.
# The values stay below 2^53, where awk's doubles are exact.
result() {
	awk -v f="$2" '$1 == "RESULT" { for (i = 2; i <= NF; i++) { split($i, kv, "=");
		if (kv[1] == f) { s += kv[2]; seen = 1 } } }
		END { if (seen) printf "%.0f\n", s; else print "NA" }' "$WORK/$1.out"
}

# result_first LABEL FIELD: FIELD of the first RESULT line, as printed (for quantiles).
result_first() {
	awk -v f="$2" '$1 == "RESULT" { for (i = 2; i <= NF; i++) { split($i, kv, "=");
		if (kv[1] == f) { print kv[2]; exit } } }' "$WORK/$1.out"
}

# runtime_ms LABEL: the program's own runtime ("Job Runtime: N ms" or "Runtime: X ms").
runtime_ms() {
	awk '/^Job Runtime: / { v = $3 } /^Runtime: / { v = $2 } END { print (v == "" ? "NA" : v) }' \
		"$WORK/$1.out"
}

# same WHAT LABEL_A LABEL_B FIELD...: checks that both runs report the same FIELDs.
same() {
	local what=$1 a=$2 b=$3 f va vb ok=0
	shift 3
	for f in "$@"; do
		va=$(result "$a" "$f")
		vb=$(result "$b" "$f")
		if [[ $va == NA || $va != "$vb" ]]; then
			fail "$what: $f differs: baseline $va, Spate $vb"
			ok=1
		fi
	done
	return $ok
}

# expect WHAT LABEL FIELD=VALUE...: checks fixed expected figures.
expect() {
	local what=$1 label=$2 kv v ok=0
	shift 2
	for kv in "$@"; do
		v=$(result "$label" "${kv%%=*}")
		if [[ $v != "${kv#*=}" ]]; then
			fail "$what: ${kv%%=*} is $v, expected ${kv#*=}"
			ok=1
		fi
	done
	return $ok
}

median() {
	printf '%s\n' "$@" | grep -v '^NA$' | sort -g |
		awk '{ a[NR] = $1 } END { if (NR == 0) print "NA"; else if (NR % 2) print a[(NR + 1) / 2];
			else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

# calc EXPR: floating-point arithmetic; NA if any operand is NA.
calc() {
	[[ $* == *NA* ]] && {
		echo NA
		return
	}
	local v
	v=$(awk "BEGIN { printf \"%.6g\n\", $* }" 2>/dev/null) || v=NA
	[[ $v == *inf* || $v == *nan* || -z $v ]] && v=NA
	echo "$v"
}

# ---- the workloads --------------------------------------------------------------------------

# Each workload: an id, a display name, Spate's parallelism, the records it counts, the
# baseline and Spate command lines, the RESULT fields both must agree on, and a target.
ROWS=()    # JSON objects, one per workload
MDROWS=()  # Markdown table rows

# pair ID NAME P RECORDS FIELDS TARGET -- BASELINE_CMD... -- SPATE_JOB_ARGS...
# TARGET: "ratio>=0.5", "percore>=2e6" or "-".
pair() {
	local id=$1 name=$2 p=$3 records=$4 fields=$5 target=$6
	shift 6
	[[ $1 == -- ]] && shift
	local base=() job=()
	while [[ $1 != -- ]]; do
		base+=("$1")
		shift
	done
	shift
	job=("$@")
	[[ $id =~ $ONLY ]] || return 0
	note "$name (p=$p)"
	local r bt=() st=() sc=() br=() sr=() bl sl bad=0
	for ((r = 1; r <= ROUNDS; r++)); do
		bl=$id.base.$r
		sl=$id.spate.$r
		run "$bl" "${base[@]}" || bad=1
		run "$sl" "$SPATE" run -p "$p" "${job[@]}" || bad=1
		((bad)) && break
		# shellcheck disable=SC2086
		same "$name" "$bl" "$sl" $fields || bad=1
		((SMOKE)) && continue
		local rec=$records
		[[ $rec == words ]] && rec=$(result "$bl" words)
		bt+=("$(calc "$rec / ($(runtime_ms "$bl") / 1000)")")
		st+=("$(calc "$rec / ($(runtime_ms "$sl") / 1000)")")
		sc+=("$(calc "($(rstat "$sl" user_ms) + $(rstat "$sl" sys_ms)) / $(rstat "$sl" wall_ms)")")
		br+=("$(rstat "$bl" maxrss_kb)")
		sr+=("$(rstat "$sl" maxrss_kb)")
	done
	((SMOKE)) && return 0
	local b s c pc ratio met="-"
	b=$(median "${bt[@]}")
	s=$(median "${st[@]}")
	c=$(median "${sc[@]}")
	pc=$(calc "$s / $c")
	ratio=$(calc "$s / $b")
	case $target in
	ratio*) met=$(awk -v v="$ratio" -v t="${target#ratio>=}" 'BEGIN { print (v != "NA" && v >= t) ? "yes" : "no" }') ;;
	percore*) met=$(awk -v v="$pc" -v t="${target#percore>=}" 'BEGIN { print (v != "NA" && v >= t) ? "yes" : "no" }') ;;
	esac
	((bad)) && met="FAILED"
	add_row "$id" "$name" "$p" "$s" "$pc" "$c" "$b" "$ratio" "NA" "NA" "NA" \
		"$(median "${sr[@]}")" "$(median "${br[@]}")" "$target" "$met"
	LAST_SPATE_RPS=$s
}

# add_row ID NAME P SPATE PERCORE CORES BASE RATIO P50 P99 P999 SPATE_RSS BASE_RSS TARGET MET
add_row() {
	local f
	ROWS+=("$(printf '{"id":"%s","workload":"%s","parallelism":%s,"spate_records_per_s":%s,"spate_records_per_s_per_core":%s,"spate_cores_used":%s,"baseline_records_per_s":%s,"ratio":%s,"p50_us":%s,"p99_us":%s,"p999_us":%s,"spate_peak_rss_kb":%s,"baseline_peak_rss_kb":%s,"target":"%s","target_met":"%s"}' \
		"$1" "$2" "$3" "$(js "$4")" "$(js "$5")" "$(js "$6")" "$(js "$7")" "$(js "$8")" \
		"$(js "$9")" "$(js "${10}")" "$(js "${11}")" "$(js "${12}")" "$(js "${13}")" "${14}" "${15}")")
	MDROWS+=("| $2 | $3 | $(mrps "$4") | $(mrps "$5") | $(fix "$6" 2) | $(mrps "$7") | $(fix "$8" 2) | $(lat "$9" "${10}" "${11}") | $(mb "${12}") | $(mb "${13}") | ${14} | ${15} |")
}
js() { [[ $1 == NA || -z $1 ]] && echo null || echo "$1"; }
mrps() { [[ $1 == NA ]] && echo "-" || awk -v v="$1" 'BEGIN { printf "%.2f M", v / 1e6 }'; }
fix() { [[ $1 == NA ]] && echo "-" || awk -v v="$1" -v d="$2" 'BEGIN { printf "%.*f", d, v }'; }
mb() { [[ $1 == NA ]] && echo "-" || awk -v v="$1" 'BEGIN { printf "%.0f MB", v / 1024 }'; }
lat() { [[ $1 == NA ]] && echo "-" || echo "$1 / $2 / $3 µs"; }

# ---- correctness runs (untimed) ----------------------------------------------------------

TEXT=$B/data/text-$TEXT_BYTES.txt
if [[ ! -s $TEXT || $B/textgen -nt $TEXT ]]; then
	note "generating $TEXT"
	"$B/textgen" "$TEXT" "$TEXT_BYTES" 42
fi

# The 1-minute load average lags: after `make` it takes a minute or two to fall, so wait up to
# two minutes for it before warning that the machine is busy.
if ((!SMOKE)); then
	for ((i = 0; i < 24; i++)); do
		load=$(cut -d' ' -f1 /proc/loadavg)
		awk -v l="$load" 'BEGIN { exit !(l > 0.5) }' || break
		sleep 5
	done
	awk -v l="$load" 'BEGIN { exit !(l > 0.5) }' &&
		echo "run.sh: warning: load average is $load; the machine is not idle" >&2
fi

note "correctness: P1 final per-key sums (p=1 and p=2), WordCount per-word counts"
for k in 10k 1m; do
	[[ p1-k$k =~ $ONLY ]] || continue
	if run "check.p1.$k.base" "$B/baseline_p1" "$CHECK_N" "$k"; then
		if [[ $(count "$CHECK_N") == 100000000 && $k == 10k ]]; then
			expect "P1 baseline vs issue 6" "check.p1.$k.base" out=50006252 \
				finalsum=76854441890 checksum=192238795397488 || true
		fi
		for p in 1 2; do
			run "check.p1.$k.p$p" "$SPATE" run -p $p "$B/p1.so" "$CHECK_N" "$k" verify || continue
			if ((p == 1)); then
				same "P1 K=$k p=1 (verify)" "check.p1.$k.base" "check.p1.$k.p$p" \
					out checksum finalsum keys || true
			else
				same "P1 K=$k p=2 (verify)" "check.p1.$k.base" "check.p1.$k.p$p" \
					out finalsum keys || true
			fi
		done
	fi
done

if [[ "wc" =~ $ONLY ]]; then
	if run check.wc.base "$B/baseline_wordcount" "$TEXT" "$WORK/wc.base.txt"; then
		LC_ALL=C sort "$WORK/wc.base.txt" >"$WORK/wc.base.sorted"
		for p in 1 2; do
			rm -f "$WORK"/wc.spate.txt.*
			run "check.wc.p$p" "$SPATE" run -p $p "$B/wordcount.so" "$TEXT" "$WORK/wc.spate.txt" ||
				continue
			cat "$WORK"/wc.spate.txt.* | LC_ALL=C sort >"$WORK/wc.spate.sorted"
			if ! cmp -s "$WORK/wc.base.sorted" "$WORK/wc.spate.sorted"; then
				fail "WordCount p=$p: per-word counts differ from the baseline's" \
					"(diff $WORK/wc.base.sorted $WORK/wc.spate.sorted)"
			fi
			same "WordCount p=$p (verify)" check.wc.base "check.wc.p$p" words distinct checksum ||
				true
		done
	fi
fi

# ---- timed pairs ----------------------------------------------------------------------------

LAST_SPATE_RPS=NA
pair g "G" 1 "$N_NUM" "out checksum" - \
	-- "$B/baseline_g" "$N" 10k -- "$B/g.so" "$N" 10k
pair p0 "P0" 1 "$N_NUM" "out sum" "ratio>=0.5" \
	-- "$B/baseline_p0" "$N" 10k -- "$B/p0.so" "$N" 10k
P1_RPS=NA
LAST_SPATE_RPS=NA
pair p1-k10k "P1 K=10k" 1 "$N_NUM" "out checksum" "ratio>=0.5" \
	-- "$B/baseline_p1" "$N" 10k -- "$B/p1.so" "$N" 10k
P1_RPS=$LAST_SPATE_RPS
pair p1-k10k-p2 "P1 K=10k" 2 "$N_NUM" "out" "ratio>=0.8" \
	-- "$B/baseline_p1" "$N" 10k -- "$B/p1.so" "$N" 10k
pair p1-k1m "P1 K=1M" 1 "$N_NUM" "out checksum" "ratio>=0.5" \
	-- "$B/baseline_p1" "$N" 1m -- "$B/p1.so" "$N" 1m
pair p1-k1m-p2 "P1 K=1M" 2 "$N_NUM" "out" "ratio>=0.8" \
	-- "$B/baseline_p1" "$N" 1m -- "$B/p1.so" "$N" 1m
pair wc "WordCount" 1 words "words distinct checksum" "ratio>=0.5" \
	-- "$B/baseline_wordcount" "$TEXT" -- "$B/wordcount.so" "$TEXT"
pair wc-p2 "WordCount" 2 words "words distinct checksum" - \
	-- "$B/baseline_wordcount" "$TEXT" -- "$B/wordcount.so" "$TEXT"
for q in 0 1 2 3; do
	t="percore>=2e6"
	((q == 3)) && t="percore>=1e6"
	pair "nexmark-q$q" "Nexmark q$q" 1 "$NX_NUM" "out checksum" "$t" \
		-- "$B/baseline_nexmark" "q$q" "$NX_N" -- "$B/nexmark.so" "q$q" "$NX_N"
done

# Latency: P1 (K=10k, p=1) at half its measured throughput (or BENCH_LAT_RATE), for
# LAT_SECONDS seconds, with buffer timeout 0 and with the default; the smoke run just checks
# the job works. The latency is measured from the moment the generator makes a record, so
# the source's achieved rate is reported too: a source that cannot keep the requested rate
# (it falls behind its schedule) does not show that lag as latency. A run that reaches less
# than 90 % of the requested rate is not repeated.
if [[ latency =~ $ONLY ]]; then
	if ((SMOKE)); then
		rate=400000
		lat_n=$CHECK_N
	else
		rate=${BENCH_LAT_RATE:-$(awk -v r="$P1_RPS" 'BEGIN { printf "%.0f", (r == "NA" ? 2e6 : r / 2) }')}
		rate=$(count "$rate")
		lat_n=$((rate * LAT_SECONDS))
	fi
	for bt in 0 default; do
		opts=()
		[[ $bt == 0 ]] && opts=(-D execution.buffer-timeout.interval=0)
		note "latency: P1 at $rate records/s, buffer timeout $bt"
		p50=() p99=() p999=() rss=() achieved=() cores=() bad=0
		for ((r = 1; r <= ROUNDS; r++)); do
			l=latency.$bt.$r
			run "$l" "$SPATE" run -p 1 "${opts[@]}" "$B/latency.so" "$lat_n" 10k "$rate" || {
				bad=1
				break
			}
			out=$(result "$l" out)
			if [[ $(count "$CHECK_N") == "$(count "$lat_n")" && -f $WORK/check.p1.10k.base.out ]]; then
				want=$(result check.p1.10k.base out)
				[[ $out == "$want" ]] || fail "latency: out is $out, expected $want"
			fi
			# one row in 16 is stamped: at least a few must have been measured
			(($(result "$l" sampled) * 32 >= out)) ||
				fail "latency: only $(result "$l" sampled) of $out rows were measured"
			((SMOKE)) && continue
			p50+=("$(result_first "$l" p50_us)")
			p99+=("$(result_first "$l" p99_us)")
			p999+=("$(result_first "$l" p999_us)")
			rss+=("$(rstat "$l" maxrss_kb)")
			a=$(calc "$lat_n / ($(runtime_ms "$l") / 1000)")
			achieved+=("$a")
			cores+=("$(calc "($(rstat "$l" user_ms) + $(rstat "$l" sys_ms)) / $(rstat "$l" wall_ms)")")
			if awk -v a="$a" -v r="$rate" 'BEGIN { exit !(a == "NA" || a < 0.9 * r) }'; then
				note "latency: the source reached only $(mrps "$a")/s of $(mrps "$rate")/s; not repeating"
				break
			fi
		done
		((SMOKE)) && continue
		met="-"
		t="-"
		a=$(median "${achieved[@]}")
		if [[ $bt == 0 ]]; then
			t="p99<=1000us"
			met=$(awk -v v="$(median "${p99[@]}")" -v a="$a" -v r="$rate" \
				'BEGIN { print (v == "NA") ? "no" : (a < 0.9 * r) ? "no (rate not reached)" : (v <= 1000) ? "yes" : "no" }')
		fi
		((bad)) && met=FAILED
		add_row "latency-$bt" "Latency P1 @ $(mrps "$rate")/s requested, buffer timeout $bt" 1 "$a" \
			"$(calc "$a / $(median "${cores[@]}")")" "$(median "${cores[@]}")" NA NA \
			"$(median "${p50[@]}")" "$(median "${p99[@]}")" "$(median "${p999[@]}")" \
			"$(median "${rss[@]}")" NA "$t" "$met"
	done
fi

# Start-up and footprint: `spate run` of a tiny job (G, 1000 records).
if [[ startup =~ $ONLY ]]; then
	note "start-up: spate run of G with 1000 records"
	walls=() rss=() jr=()
	for ((r = 1; r <= ROUNDS; r++)); do
		run "startup.$r" "$SPATE" run -p 1 "$B/g.so" 1000 10 || break
		expect "start-up job" "startup.$r" out=1000 || true
		walls+=("$(rstat "startup.$r" wall_ms)")
		rss+=("$(rstat "startup.$r" maxrss_kb)")
		jr+=("$(runtime_ms "startup.$r")")
	done
	if ((!SMOKE)); then
		STARTUP_WALL=$(median "${walls[@]}")
		STARTUP_JOB=$(median "${jr[@]}")
		STARTUP_RSS=$(median "${rss[@]}")
		ROWS+=("$(printf '{"id":"startup","workload":"spate run, tiny job (G, 1000 records)","wall_ms":%s,"job_runtime_ms":%s,"peak_rss_kb":%s}' \
			"$(js "$STARTUP_WALL")" "$(js "$STARTUP_JOB")" "$(js "$STARTUP_RSS")")")
	fi
fi

# ---- checkpoints (their own script: they need a session cluster) ---------------------------

if [[ ckpt =~ $ONLY ]]; then
	note "checkpoint cost and recovery (bench/checkpoint.sh)"
	if ((SMOKE)); then
		bash "$SRC/bench/checkpoint.sh" --smoke "$BUILD" || fail "bench/checkpoint.sh --smoke failed"
	else
		bash "$SRC/bench/checkpoint.sh" "$BUILD" || fail "bench/checkpoint.sh failed"
	fi
fi

# ---- cluster figures (their own script: exchange, footprint, start-up on a session cluster) ----

if [[ cluster =~ $ONLY ]]; then
	note "exchange, footprint and start-up on a session cluster (bench/cluster.sh)"
	if ((SMOKE)); then
		bash "$SRC/bench/cluster.sh" --smoke "$BUILD" || fail "bench/cluster.sh --smoke failed"
	else
		bash "$SRC/bench/cluster.sh" "$BUILD" || fail "bench/cluster.sh failed"
	fi
fi

# ---- report -------------------------------------------------------------------------------

if ((SMOKE)); then
	if ((FAILURES)); then
		echo "bench smoke: $FAILURES failure(s); outputs in $WORK" >&2
		exit 1
	fi
	echo "bench smoke: all workloads ran and agree with their baselines"
	exit 0
fi

mkdir -p "$RESULTS"
# A partial run (BENCH_ONLY) must not replace the last full table.
outname=latest
[[ $ONLY == . ]] || outname=partial
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
mem=$(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
machine="$cpu, $(nproc) cores, $mem, Linux $(uname -r), $(gcc -dumpfullversion 2>/dev/null | sed 's/^/gcc /')"
commit=$(git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo unknown)
date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
{
	echo "Spate benchmarks, $date, commit $commit, $ROUNDS rounds (medians), N = $N, Nexmark N = $NX_N, text = $TEXT_BYTES bytes"
	echo "Machine: $machine"
	echo
	echo "| workload | p | Spate rec/s | per core | cores used | baseline rec/s | ratio | p50 / p99 / p999 | Spate peak RSS | baseline peak RSS | target | met |"
	echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
	printf '%s\n' "${MDROWS[@]}"
	if [[ -n ${STARTUP_WALL:-} ]]; then
		echo
		echo "Start-up: \`spate run\` of a tiny job (G, 1000 records): wall $(fix "$STARTUP_WALL" 1) ms (Job Runtime $STARTUP_JOB ms), peak RSS $(mb "$STARTUP_RSS")."
	fi
	echo "Exchange, cluster footprint and start-up: bench/results/cluster.md (bench/cluster.sh)."
	echo "Correctness: $([[ $FAILURES == 0 ]] && echo "all checks passed" || echo "$FAILURES check(s) FAILED")."
} | tee "$RESULTS/$outname.md"
{
	printf '{"date":"%s","commit":"%s","machine":"%s","rounds":%s,"n":%s,"nexmark_n":%s,"text_bytes":"%s","failures":%s,"results":[' \
		"$date" "$commit" "$machine" "$ROUNDS" "$N_NUM" "$NX_NUM" "$TEXT_BYTES" "$FAILURES"
	(
		IFS=,
		printf '%s' "${ROWS[*]}"
	)
	printf ']}\n'
} >"$RESULTS/$outname.json"
echo "results: $RESULTS/$outname.json, $RESULTS/$outname.md" >&2
((FAILURES == 0))
