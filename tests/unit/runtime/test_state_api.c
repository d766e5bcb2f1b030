/*
 * test_state_api.c - the public list and reducing state calls (state_api.c) on both
 * backends, driven through a keyed operator set up by hand (a zeroed task and stream node:
 * all the state calls need), against a plain model: per key, the list's elements in an
 * array and the reduced sum in an integer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "graph/stream_graph.h"
/* task.h names RPC types without including their header (yet). */
#include "proto/rpc.pb-c.h"
#include "runtime/task.h"

#define NKEYS 64
#define MAX_ELEMS 40
#define MAX_ELEM 300

static uint64_t rng = 4711;
static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* ---- a keyed operator by hand --------------------------------------------------------------- */

struct fixture {
	struct task task;
	struct stream_node node;
	struct operator op;
	char key[32];
	char *dir;
};

static char tmp_root[64];
static int ndirs;

static struct fixture *fixture_new(const char *type)
{
	struct fixture *f = xcalloc(1, sizeof *f);
	f->node.keyed = true;
	f->node.name = (char *)"test";
	f->op.node = &f->node;
	f->op.task = &f->task;
	f->op.ctx.op = &f->op;
	f->dir = xasprintf("%s/local-%d", tmp_root, ndirs++);
	struct spate_error err = {0};
	f->op.state = state_backend_new(type, 0, 127, f->dir, &err);
	if (!f->op.state)
		fail_msg("cannot create a %s backend: %s", type, err.msg);
	return f;
}

static void fixture_free(struct fixture *f)
{
	f->op.state->ops->free(f->op.state);
	for (int i = 0; i < f->op.nstates; i++) {
		xfree(f->op.states[i]->name);
		xfree(f->op.states[i]);
	}
	xfree(f->op.states);
	xfree(f->task.user_msg);
	xfree(f->dir);
	xfree(f);
}

/* Makes key i the current key, as the operator does for each record. */
static void set_key(struct fixture *f, int i)
{
	int n = snprintf(f->key, sizeof f->key, "key-%d", i);
	f->op.cur.key = f->key;
	f->op.cur.key_len = (size_t)n;
	f->op.cur.key_group = (i * 13) % 128;
}

static int setup_root(void **state)
{
	snprintf(tmp_root, sizeof tmp_root, "/tmp/spate-state-api-XXXXXX");
	assert_non_null(mkdtemp(tmp_root));
	return 0;
}

static int teardown_root(void **state)
{
	assert_int_equal(checkpoint_remove_tree(tmp_root), 0);
	return 0;
}

/* ---- the model ------------------------------------------------------------------------------- */

struct model {
	int n[NKEYS];
	size_t len[NKEYS][MAX_ELEMS];
	uint8_t el[NKEYS][MAX_ELEMS][MAX_ELEM];
	bool has_sum[NKEYS];
	int64_t sum[NKEYS];
};

int sum_i64(spate_ctx *ctx, void *acc, const void *in, size_t len);
int sum_i64(spate_ctx *ctx, void *acc, const void *in, size_t len)
{
	int64_t a, b;
	if (len != sizeof a)
		return spate_ctx_fail(ctx, "sum_i64: %zu bytes", len);
	memcpy(&a, acc, sizeof a);
	memcpy(&b, in, sizeof b);
	a += b;
	memcpy(acc, &a, sizeof a);
	return 0;
}

struct walk {
	const struct model *m;
	int key;
	int seen;
	int stop_after; /* 0: never */
};

static int list_visit(void *arg, const void *uk, size_t uklen, const void *val, size_t len)
{
	struct walk *w = arg;
	assert_null(uk);
	assert_int_equal(uklen, 0);
	assert_true(w->seen < w->m->n[w->key]);
	assert_int_equal(len, w->m->len[w->key][w->seen]);
	assert_memory_equal(val, w->m->el[w->key][w->seen], len);
	w->seen++;
	return w->stop_after && w->seen == w->stop_after ? 7 : 0;
}

static void check_key(struct fixture *f, const struct model *m, int i)
{
	set_key(f, i);
	spate_list_state *ls = spate_ctx_list_state(&f->op.ctx, "events");
	spate_reducing_state *rs = spate_ctx_reducing_state(&f->op.ctx, "total", sum_i64);
	assert_non_null(ls);
	assert_non_null(rs);
	assert_int_equal(spate_list_size(ls), m->n[i]);
	struct walk w = {.m = m, .key = i};
	assert_int_equal(spate_list_iterate(ls, list_visit, &w), 0);
	assert_int_equal(w.seen, m->n[i]);
	const void *v;
	size_t len;
	int found = spate_reducing_get(rs, &v, &len);
	assert_int_equal(found, m->has_sum[i]);
	if (found) {
		int64_t s;
		assert_int_equal(len, sizeof s);
		memcpy(&s, v, sizeof s);
		assert_true(s == m->sum[i]);
	}
}

/* ---- tests ----------------------------------------------------------------------------------- */

static void test_list_and_reducing_match_model(void **state)
{
	const char *type = *state;
	struct fixture *f = fixture_new(type);
	struct model *m = xcalloc(1, sizeof *m);
	for (int step = 0; step < 6000; step++) {
		int i = (int)(next_rand() % NKEYS);
		set_key(f, i);
		spate_list_state *ls = spate_ctx_list_state(&f->op.ctx, "events");
		spate_reducing_state *rs = spate_ctx_reducing_state(&f->op.ctx, "total", sum_i64);
		int what = (int)(next_rand() % 10);
		if (what < 5) {
			if (m->n[i] == MAX_ELEMS)
				continue;
			/* Lengths from 0 (an empty element is an element) past the stack buffer. */
			size_t len = (size_t)(next_rand() % MAX_ELEM);
			uint8_t *e = m->el[i][m->n[i]];
			for (size_t b = 0; b < len; b++)
				e[b] = (uint8_t)next_rand();
			m->len[i][m->n[i]++] = len;
			assert_int_equal(spate_list_add(ls, e, len), 0);
		} else if (what < 6) {
			m->n[i] = 0;
			assert_int_equal(spate_list_clear(ls), 0);
		} else if (what < 9) {
			int64_t d = (int64_t)(next_rand() % 2001) - 1000;
			m->sum[i] = m->has_sum[i] ? m->sum[i] + d : d;
			m->has_sum[i] = true;
			assert_int_equal(spate_reducing_add(rs, &d, sizeof d), 0);
		} else {
			m->has_sum[i] = false;
			assert_int_equal(spate_reducing_clear(rs), 0);
		}
	}
	for (int i = 0; i < NKEYS; i++)
		check_key(f, m, i);

	/* Through a checkpoint, into either backend. */
	char *dir = xasprintf("%s/chk-%d", tmp_root, ndirs++);
	struct keyed_snapshot *s;
	struct spate_error err = {0};
	assert_int_equal(f->op.state->ops->snapshot(f->op.state, &s, &err), 0);
	struct snapshot_target t = {.dir = dir, .name = "op-1-0"};
	struct keyed_state_handle h;
	assert_int_equal(keyed_snapshot_write(s, &t, &h, &err), 0);
	keyed_snapshot_free(s);
	const char *types[2] = {"hashmap", "rocksdb"};
	for (int b = 0; b < 2; b++) {
		struct fixture *r = fixture_new(types[b]);
		int rc = r->op.state->ops->restore(r->op.state, dir, &h, 1, &err);
		if (rc)
			fail_msg("restore: %s", err.msg);
		for (int i = 0; i < NKEYS; i++)
			check_key(r, m, i);
		fixture_free(r);
	}
	keyed_state_handle_release(&h);
	xfree(dir);
	xfree(m);
	fixture_free(f);
}

static void test_list_iterate_stops_early(void **state)
{
	struct fixture *f = fixture_new(*state);
	struct model *m = xcalloc(1, sizeof *m);
	set_key(f, 3);
	spate_list_state *ls = spate_ctx_list_state(&f->op.ctx, "l");
	for (int e = 0; e < 5; e++) {
		m->el[3][e][0] = (uint8_t)e;
		m->len[3][e] = 1;
		assert_int_equal(spate_list_add(ls, &m->el[3][e][0], 1), 0);
	}
	m->n[3] = 5;
	struct walk w = {.m = m, .key = 3, .stop_after = 2};
	assert_int_equal(spate_list_iterate(ls, list_visit, &w), 7);
	assert_int_equal(w.seen, 2);
	/* Another key's list is separate and empty. */
	set_key(f, 4);
	assert_int_equal(spate_list_size(ls), 0);
	w = (struct walk){.m = m, .key = 4};
	assert_int_equal(spate_list_iterate(ls, list_visit, &w), 0);
	assert_int_equal(w.seen, 0);
	xfree(m);
	fixture_free(f);
}

/* The callback may use state, even add to the list it walks: it walks the list as it was. */
struct grow_walk {
	spate_list_state *ls;
	spate_value_state *vs;
	int seen;
};

static int grow_visit(void *arg, const void *uk, size_t uklen, const void *val, size_t len)
{
	struct grow_walk *g = arg;
	int64_t v;
	assert_int_equal(len, sizeof v);
	memcpy(&v, val, sizeof v);
	assert_true(v == g->seen);
	g->seen++;
	int64_t more = 1000 + v;
	assert_int_equal(spate_list_add(g->ls, &more, sizeof more), 0);
	assert_int_equal(spate_value_put_i64(g->vs, v), 0);
	return 0;
}

static void test_list_iterate_with_state_calls(void **state)
{
	struct fixture *f = fixture_new(*state);
	set_key(f, 9);
	struct grow_walk g = {.ls = spate_ctx_list_state(&f->op.ctx, "l"),
	                      .vs = spate_ctx_value_state(&f->op.ctx, "v")};
	for (int64_t v = 0; v < 100; v++)
		assert_int_equal(spate_list_add(g.ls, &v, sizeof v), 0);
	assert_int_equal(spate_list_iterate(g.ls, grow_visit, &g), 0);
	assert_int_equal(g.seen, 100);
	assert_int_equal(spate_list_size(g.ls), 200);
	int64_t last;
	assert_int_equal(spate_value_get_i64(g.vs, &last), 1);
	assert_true(last == 99);
	fixture_free(f);
}

static void test_reducing_length_mismatch_fails(void **state)
{
	struct fixture *f = fixture_new(*state);
	set_key(f, 1);
	spate_reducing_state *rs = spate_ctx_reducing_state(&f->op.ctx, "sum", sum_i64);
	int64_t v = 5;
	int32_t small = 1;
	assert_int_equal(spate_reducing_add(rs, &v, sizeof v), 0);
	assert_int_equal(spate_reducing_add(rs, &small, sizeof small), SPATE_EUSER);
	assert_non_null(f->task.user_msg);
	assert_non_null(strstr(f->task.user_msg, "reducing state 'sum'"));
	/* The state is unchanged. */
	const void *p;
	size_t len;
	assert_int_equal(spate_reducing_get(rs, &p, &len), 1);
	assert_int_equal(len, sizeof v);
	assert_memory_equal(p, &v, sizeof v);
	fixture_free(f);
}

int fail_reduce(spate_ctx *ctx, void *acc, const void *in, size_t len);
int fail_reduce(spate_ctx *ctx, void *acc, const void *in, size_t len)
{
	return spate_ctx_fail(ctx, "no reducing today");
}

static void test_reduce_function_failure_passes_through(void **state)
{
	struct fixture *f = fixture_new(*state);
	set_key(f, 2);
	spate_reducing_state *rs = spate_ctx_reducing_state(&f->op.ctx, "r", fail_reduce);
	int64_t v = 1;
	assert_int_equal(spate_reducing_add(rs, &v, sizeof v), 0); /* first: stored as is */
	assert_int_equal(spate_reducing_add(rs, &v, sizeof v), SPATE_EUSER);
	assert_string_equal(f->task.user_msg, "no reducing today");
	fixture_free(f);
}

static void test_kind_mismatch_and_bad_arguments(void **state)
{
	struct fixture *f = fixture_new(*state);
	set_key(f, 0);
	assert_non_null(spate_ctx_list_state(&f->op.ctx, "x"));
	assert_null(spate_ctx_reducing_state(&f->op.ctx, "x", sum_i64));
	assert_non_null(strstr(f->task.user_msg, "two kinds"));
	assert_null(spate_ctx_reducing_state(&f->op.ctx, "y", NULL));
	assert_int_equal(spate_list_add(NULL, "a", 1), SPATE_EINVAL);
	assert_int_equal(spate_list_iterate(NULL, list_visit, NULL), SPATE_EINVAL);
	assert_int_equal(spate_list_size(NULL), 0);
	assert_int_equal(spate_reducing_add(NULL, "a", 1), SPATE_EINVAL);
	const void *p;
	assert_int_equal(spate_reducing_get(NULL, &p, NULL), SPATE_EINVAL);
	fixture_free(f);
}

#define BOTH(fn)                                          \
	cmocka_unit_test_prestate(fn, (void *)"hashmap"), \
	    cmocka_unit_test_prestate(fn, (void *)"rocksdb")

int main(void)
{
	const struct CMUnitTest tests[] = {
	    BOTH(test_list_and_reducing_match_model),
	    BOTH(test_list_iterate_stops_early),
	    BOTH(test_list_iterate_with_state_calls),
	    BOTH(test_reducing_length_mismatch_fails),
	    BOTH(test_reduce_function_failure_passes_through),
	    BOTH(test_kind_mismatch_and_bad_arguments),
	};
	return cmocka_run_group_tests(tests, setup_root, teardown_root);
}
