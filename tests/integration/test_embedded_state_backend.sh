#!/usr/bin/env bash
# state.backend.type on the embedded cluster (`spate run` without a session cluster): the
# keyed operators of a job get the backend it names, as they do on a cluster. The probe
# job reports from user code whether the RocksDB backend's module is mapped into the
# process (the kernel's /proc/self/maps, not the engine, says so) next to each key's
# running sum, which awk computes independently. RocksDB's working directory lives under
# $TMPDIR and is gone when the run ends; an unknown backend is refused with the same line
# as on the cluster path, before anything runs.
. "$(dirname "$0")/lib.sh"

require_file "$JOBS/state_backend_probe.so"

N=3000
K=13
# oracle ROCKSDB: every row the probe job emits, sorted.
oracle() {
	awk -v n="$N" -v k="$K" -v r="$1" 'BEGIN {
		for (v = 1; v <= n; v++) { s[v % k] += v; printf "(%d,%d,%.0f,%d)\n", v % k, v, s[v % k], r }
	}' | sort
}
oracle 0 >"$TMP/expected.hashmap"
oracle 1 >"$TMP/expected.rocksdb"

mkdir -p "$TMP/conf-empty" "$TMP/tmpdir"
export SPATE_CONF_DIR="$TMP/conf-empty"
export TMPDIR="$TMP/tmpdir"

# probe NAME WANT P [-D ...]: runs the probe at parallelism P; its rows must be the
# oracle's for backend WANT.
probe() {
	local name=$1 want=$2 p=$3
	shift 3
	run_spate "$name" run -p "$p" "$@" "$JOBS/state_backend_probe.so" --count "$N" --keys "$K"
	expect_rc "$name" 0
	check_run_frame "$name"
	sink_lines "$name" | strip_subtask_prefix | sort >"$TMP/$name.rows"
	expect_same "$TMP/expected.$want" "$TMP/$name.rows" "$name: state.backend.type $want"
	[ -z "$(ls -A "$TMPDIR")" ] || fail "$name: left behind in \$TMPDIR: $(ls -A "$TMPDIR")"
}

probe default hashmap 1
probe hashmap hashmap 2 -D state.backend.type=hashmap
probe rocksdb1 rocksdb 1 -D state.backend.type=rocksdb
probe rocksdb2 rocksdb 2 -D state.backend.type=rocksdb
# The deprecated key and another case, as Flink reads them.
probe rocksdb_old_key rocksdb 3 -D state.backend=RocksDB
# From the configuration file too.
mkdir -p "$TMP/conf-rocksdb"
printf 'state.backend.type: rocksdb\n' >"$TMP/conf-rocksdb/config.yaml"
SPATE_CONF_DIR="$TMP/conf-rocksdb" probe rocksdb_file rocksdb 2

# A backend that does not exist: one line, the same as on the cluster path (-m), and the
# job never starts.
run_spate bogus run -D state.backend.type=bogus "$JOBS/state_backend_probe.so"
expect_cli_error bogus "bad value 'bogus' for 'state.backend.type'" 1
! grep -q 'Job has been submitted' "$TMP/bogus.out" || fail "bogus: a job was submitted"
run_spate bogus_cluster run -m 127.0.0.1:1 -D state.backend.type=bogus "$JOBS/state_backend_probe.so"
expect_cli_error bogus_cluster "bad value 'bogus' for 'state.backend.type'" 1
[ "$(tail -n 1 "$TMP/bogus.err")" = "$(tail -n 1 "$TMP/bogus_cluster.err")" ] ||
	fail "the embedded error '$(tail -n 1 "$TMP/bogus.err")' differs from the cluster path's '$(tail -n 1 "$TMP/bogus_cluster.err")'"

# RocksDB's directory cannot be made: a clean error naming the place, no job.
TMPDIR="$TMP/no-such-dir" run_spate no_tmp run -D state.backend.type=rocksdb "$JOBS/state_backend_probe.so"
expect_cli_error no_tmp "rocksdb.*'$TMP/no-such-dir'" 1
! grep -q 'Job has been submitted' "$TMP/no_tmp.out" || fail "no_tmp: a job was submitted"
