#!/usr/bin/env bash
# The installed tree works on its own: `make install PREFIX=<dir>` (here the install step it
# runs, `cmake --install <build> --prefix <dir>`, so that the test never rebuilds the tree it
# is testing) puts the binary, library, header, pkg-config file, config and examples under
# <dir>; a job compiled with `cc ... $(pkg-config --cflags --libs spate)` runs with
# <dir>/bin/spate and gives the oracle's answer; the installed binary reads <dir>/conf.
. "$(dirname "$0")/lib.sh"

command -v cc >/dev/null || fail "no C compiler (cc)"
command -v pkg-config >/dev/null || fail "no pkg-config"

prefix="$TMP/prefix"
timeout 120 cmake --install "$SPATE_BUILD" --prefix "$prefix" >"$TMP/install.log" 2>&1 ||
	{ show "$TMP/install.log"; fail "cmake --install failed"; }

for f in bin/spate conf/config.yaml include/spate/spate.h lib/pkgconfig/spate.pc \
	share/spate/examples/wordcount.so share/spate/examples/socket_wordcount.so \
	share/spate/examples/keyed_state.so share/spate/examples/data/hamlet.txt; do
	[ -e "$prefix/$f" ] || { find "$prefix" >&2; fail "not installed: $f"; }
done
ls "$prefix"/lib/libspate.so* >/dev/null 2>&1 || fail "libspate.so is not installed under lib/"

# The installed binary finds the installed library, not the build tree's.
ldd "$prefix/bin/spate" >"$TMP/ldd" 2>&1 || true
libpath=$(awk '/libspate/ { print $3 }' "$TMP/ldd")
[ -n "$libpath" ] && [ "$(realpath "$(dirname "$libpath")")" = "$(realpath "$prefix/lib")" ] ||
	{ cat "$TMP/ldd" >&2; fail "installed spate does not load libspate from $prefix/lib"; }

cflags=$(PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --cflags --libs spate) ||
	fail "pkg-config does not know spate"
grep -q -- "-I$prefix/include" <<<"$cflags" ||
	fail "pkg-config --cflags does not point into the install prefix: '$cflags' (spate.pc must follow the prefix it is installed to)"

cat >"$TMP/squares.c" <<'JOB'
/* Squares of 1..100, even ones only. */
#include <spate/spate.h>

int squares_map(spate_ctx *ctx, const spate_row *in, spate_row_builder *out);
int squares_even(spate_ctx *ctx, const spate_row *in);

int squares_map(spate_ctx *ctx, const spate_row *in, spate_row_builder *out)
{
	int64_t v = spate_row_i64(in, 0);
	spate_row_set_i64(out, 0, v * v);
	return 0;
}

int squares_even(spate_ctx *ctx, const spate_row *in)
{
	return spate_row_i64(in, 0) % 2 == 0;
}

static int squares_main(spate_env *env, int argc, char **argv)
{
	spate_stream *s = spate_env_from_sequence(env, 1, 100);
	s = spate_stream_map(s, "square:int64", squares_map);
	s = spate_stream_filter(s, squares_even);
	spate_stream_print(s);
	return spate_env_execute(env, "Squares", NULL);
}

SPATE_JOB_ENTRY(squares_main)
JOB
# shellcheck disable=SC2086 # word splitting of the flags is intended
timeout 120 cc -shared -fPIC "$TMP/squares.c" $cflags -o "$TMP/squares.so" 2>"$TMP/cc.err" ||
	{ show "$TMP/cc.err"; fail "cannot compile a job against the installed header and library"; }

SPATE="$prefix/bin/spate"
seq 1 100 | awk '{ x = $1 * $1; if (x % 2 == 0) print x }' >"$TMP/expected"
run_spate squares run "$TMP/squares.so"
expect_rc squares 0
check_run_frame squares
sink_lines squares >"$TMP/actual"
# The installed config sets parallelism.default: 1, so the rows come in order, unprefixed.
expect_same "$TMP/expected" "$TMP/actual" "installed job"

# The installed example runs too.
oracle_word_updates "$HAMLET" >"$TMP/expected.updates"
run_spate wordcount run "$prefix/share/spate/examples/wordcount.so"
expect_rc wordcount 0
sink_lines wordcount | sort >"$TMP/actual.updates"
expect_same "$TMP/expected.updates" "$TMP/actual.updates" "installed wordcount"

# The installed binary reads <prefix>/conf/config.yaml: raise parallelism.default there.
sed -i 's/^\( *default:\) *1 *$/\1 3/' "$prefix/conf/config.yaml"
grep -q 'default: 3' "$prefix/conf/config.yaml" || fail "cannot edit the installed config"
run_spate info3 info "$TMP/squares.so"
expect_rc info3 0
# sequence -> map -> filter -> print all chain: one vertex of 3 subtasks.
grep -qx 'Subtasks: 3' "$TMP/info3.out" && grep -qx 'Slots needed: 3' "$TMP/info3.out" ||
	{ show "$TMP/info3.out" 80; fail "installed spate ignored parallelism.default: 3 in $prefix/conf"; }
