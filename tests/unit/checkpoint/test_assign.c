/*
 * test_assign.c - state assignment at restore (restore_plan_assign). A job "src (uid src) ->
 * keyBy -> counter (uid cnt) -> sink" checkpointed at parallelism 2 is restored at 3, at 1
 * and at 2. The key-group ranges (max parallelism 128) are Flink's, worked out by hand:
 * p=2: [0,63] [64,127]; p=3: [0,42] [43,85] [86,127]; p=1: [0,127]. So the keyed handles a
 * new subtask gets are the old ones overlapping its range, and operator state entries
 * [a0 a1 | b0] are dealt round robin when the parallelism changes. Also: operators matched
 * by uid when node ids shift, state of a vanished operator refused (Flink's message) unless
 * allowed, a changed max parallelism refused, the finished flag.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../graph/graph_fixtures.h"
#include "checkpoint/metadata.h"

/* ---- the new program ------------------------------------------------------------------- */

struct program {
	struct stream_graph *sg;
	struct job_graph *jg;
	struct execution_graph *eg;
};

static struct program program(int p, bool extra_map)
{
	struct program pr = {0};
	struct stream_graph *g = stream_graph_new();
	g->job_name = xstrdup("assign");
	g->default_parallelism = p;
	struct stream_node *src = fx_node(g, OP_SOURCE_GENERATOR, "Source: gen", p);
	src->uid = xstrdup("src");
	struct stream_node *last = src;
	if (extra_map) {
		struct stream_node *m = fx_node(g, OP_MAP, "extra", p);
		fx_edge(g, src, m, PART_UNSPECIFIED);
		last = m;
	}
	struct stream_node *cnt = fx_node(g, OP_AGGREGATE, "counter", p);
	cnt->uid = xstrdup("cnt");
	struct stream_node *sink = fx_node(g, OP_SINK_PRINT, "Sink: Print to Std. Out", p);
	fx_key_by(g, last, cnt);
	fx_edge(g, cnt, sink, PART_UNSPECIFIED);
	pr.sg = g;
	pr.jg = fx_build(g);
	struct spate_error err = {0};
	if (execution_graph_build(pr.jg, &pr.eg, &err) < 0)
		fail_msg("execution_graph_build: %s", err.msg);
	return pr;
}

static void program_free(struct program *pr)
{
	execution_graph_free(pr->eg);
	job_graph_free(pr->jg);
	stream_graph_free(pr->sg);
}

/* The first subtask index (jm task numbering) of the vertex whose chain holds `op_name`. */
static int vertex_base(const struct program *pr, const char *op_name, int *vertex)
{
	int base = 0;
	*vertex = -1;
	for (int v = 0; v < pr->jg->nvertices; v++) {
		const struct job_vertex *jv = pr->jg->vertices[v];
		for (int n = 0; n < jv->noperators; n++)
			if (strcmp(jv->operators[n]->name, op_name) == 0) {
				*vertex = v;
				return base;
			}
		base += jv->parallelism;
	}
	fail_msg("no operator '%s'", op_name);
	return -1;
}

/* ---- the old checkpoint ------------------------------------------------------------------ */

struct old {
	Spate__Ckpt__KeyedStateHandleMsg h[2];
	Spate__Ckpt__OperatorSubtaskStateMsg cnt_sub[2], src_sub[2], sink_sub[2], gone_sub;
	Spate__Ckpt__OperatorSubtaskStateMsg *cnt_p[2], *src_p[2], *sink_p[2], *gone_p[1];
	ProtobufCBinaryData src0[2], src1[1], gone_entries[1];
	Spate__Ckpt__OperatorStateMsg ops[4];
	Spate__Ckpt__OperatorStateMsg *opp[4];
	checkpoint_metadata md;
};

static void old_init(struct old *o, bool with_gone)
{
	static const Spate__Ckpt__KeyedStateHandleMsg h_init =
	    SPATE__CKPT__KEYED_STATE_HANDLE_MSG__INIT;
	static const Spate__Ckpt__OperatorSubtaskStateMsg s_init =
	    SPATE__CKPT__OPERATOR_SUBTASK_STATE_MSG__INIT;
	static const Spate__Ckpt__OperatorStateMsg op_init = SPATE__CKPT__OPERATOR_STATE_MSG__INIT;
	static const checkpoint_metadata md_init = SPATE__CKPT__CHECKPOINT_METADATA_MSG__INIT;
	memset(o, 0, sizeof *o);
	for (int i = 0; i < 2; i++) {
		o->h[i] = h_init;
		o->h[i].backend = "hashmap";
		o->h[i].key_group_first = i ? 64 : 0;
		o->h[i].key_group_last = i ? 127 : 63;
		o->cnt_sub[i] = o->src_sub[i] = o->sink_sub[i] = s_init;
		o->cnt_sub[i].operator_id = "cnt";
		o->cnt_sub[i].subtask = (uint32_t)i;
		o->cnt_sub[i].keyed = &o->h[i];
		o->src_sub[i].operator_id = "src";
		o->src_sub[i].subtask = (uint32_t)i;
		o->sink_sub[i].operator_id = "node-3";
		o->sink_sub[i].subtask = (uint32_t)i;
		o->cnt_p[i] = &o->cnt_sub[i];
		o->src_p[i] = &o->src_sub[i];
		o->sink_p[i] = &o->sink_sub[i];
	}
	o->src0[0] = (ProtobufCBinaryData){2, (uint8_t *)"a0"};
	o->src0[1] = (ProtobufCBinaryData){2, (uint8_t *)"a1"};
	o->src1[0] = (ProtobufCBinaryData){2, (uint8_t *)"b0"};
	o->src_sub[0].entries = o->src0;
	o->src_sub[0].n_entries = 2;
	o->src_sub[1].entries = o->src1;
	o->src_sub[1].n_entries = 1;
	o->gone_sub = s_init;
	o->gone_sub.operator_id = "gone";
	o->gone_entries[0] = (ProtobufCBinaryData){5, (uint8_t *)"pos=9"};
	o->gone_sub.entries = o->gone_entries;
	o->gone_sub.n_entries = 1;
	o->gone_p[0] = &o->gone_sub;
	const char *ids[4] = {"src", "cnt", "node-3", "gone"};
	Spate__Ckpt__OperatorSubtaskStateMsg **subs[4] = {o->src_p, o->cnt_p, o->sink_p, o->gone_p};
	for (int i = 0; i < 4; i++) {
		o->ops[i] = op_init;
		o->ops[i].operator_id = (char *)ids[i];
		o->ops[i].name = (char *)ids[i];
		o->ops[i].parallelism = i == 3 ? 1 : 2;
		o->ops[i].max_parallelism = 128;
		o->ops[i].subtasks = subs[i];
		o->ops[i].n_subtasks = i == 3 ? 1 : 2;
		o->opp[i] = &o->ops[i];
	}
	o->md = md_init;
	o->md.job_id = "00000000000000000000000000000abc";
	o->md.checkpoint_id = 7;
	o->md.kind = CKPT_KIND_CHECKPOINT;
	o->md.operators = o->opp;
	o->md.n_operators = with_gone ? 4 : 3;
}

/* An owned (decoded) copy, as restore_plan_assign takes. */
static checkpoint_metadata *owned(const struct old *o)
{
	size_t n = protobuf_c_message_get_packed_size(&o->md.base);
	uint8_t *buf = xmalloc(n + 1);
	protobuf_c_message_pack(&o->md.base, buf);
	checkpoint_metadata *m = spate__ckpt__checkpoint_metadata_msg__unpack(NULL, n, buf);
	xfree(buf);
	assert_non_null(m);
	return m;
}

static const Spate__Rpc__OperatorRestore *find_op(const Spate__Rpc__TaskRestore *t, const char *id)
{
	const Spate__Rpc__OperatorRestore *found = NULL;
	for (size_t i = 0; i < t->n_operators; i++)
		if (strcmp(t->operators[i]->operator_id, id) == 0) {
			if (found)
				fail_msg("operator '%s' twice", id);
			found = t->operators[i];
		}
	return found;
}

/* The keyed handles' ranges as "first-last first-last". */
static void ranges(const Spate__Rpc__OperatorRestore *r, char *buf, size_t cap)
{
	buf[0] = '\0';
	for (size_t i = 0; i < r->n_keyed; i++)
		snprintf(buf + strlen(buf), cap - strlen(buf), "%s%d-%d", i ? " " : "",
		         r->keyed[i]->key_group_first, r->keyed[i]->key_group_last);
}

static void entries(const Spate__Rpc__OperatorRestore *r, char *buf, size_t cap)
{
	buf[0] = '\0';
	for (size_t i = 0; i < r->n_entries; i++)
		snprintf(buf + strlen(buf), cap - strlen(buf), "%s%.*s", i ? " " : "",
		         (int)r->entries[i].len, (const char *)r->entries[i].data);
}

struct expect {
	int kg_first, kg_last;  /* the new subtask's key groups (checks the oracle's premise) */
	const char *cnt_ranges; /* keyed handles of "cnt" */
	const char *src_entries;
};

static void check(int p, const struct expect *e)
{
	struct program pr = program(p, false);
	struct old o;
	old_init(&o, false);
	struct restore_plan *plan = NULL;
	struct spate_error err = {0};
	if (restore_plan_assign(owned(&o), "/ck/job/chk-7", "/ck/job/chk-7", pr.eg, false, &plan,
	                        &err) < 0)
		fail_msg("assign: %s", err.msg);
	assert_int_equal(plan->ntasks, 2 * p);
	assert_int_equal(plan->checkpoint_id, 7);
	int cv, sv;
	int cbase = vertex_base(&pr, "counter", &cv), sbase = vertex_base(&pr, "Source: gen", &sv);
	for (int i = 0; i < p; i++) {
		const struct execution_vertex *ev = &pr.eg->by_vertex[cv][i];
		assert_int_equal(ev->key_group_first, e[i].kg_first);
		assert_int_equal(ev->key_group_last, e[i].kg_last);
		const Spate__Rpc__TaskRestore *ct = &plan->tasks[cbase + i];
		const Spate__Rpc__TaskRestore *st = &plan->tasks[sbase + i];
		assert_int_equal(ct->checkpoint_id, 7);
		assert_string_equal(ct->base_dir, "/ck/job/chk-7");
		const Spate__Rpc__OperatorRestore *c = find_op(ct, "cnt");
		const Spate__Rpc__OperatorRestore *s = find_op(st, "src");
		assert_non_null(c);
		assert_non_null(s);
		/* the stateless sink of the old job is chained with cnt: restored, empty */
		const Spate__Rpc__OperatorRestore *k = find_op(ct, "node-3");
		assert_non_null(k);
		assert_int_equal(k->n_keyed + k->n_entries, 0);
		char buf[256];
		ranges(c, buf, sizeof buf);
		if (strcmp(buf, e[i].cnt_ranges) != 0)
			fail_msg("p=%d subtask %d: cnt handles '%s', expected '%s'", p, i, buf,
			         e[i].cnt_ranges);
		assert_int_equal(c->n_entries, 0);
		entries(s, buf, sizeof buf);
		if (strcmp(buf, e[i].src_entries) != 0)
			fail_msg("p=%d subtask %d: src entries '%s', expected '%s'", p, i, buf,
			         e[i].src_entries);
		assert_int_equal(s->n_keyed, 0);
		assert_false(s->finished);
	}
	restore_plan_free(plan);
	program_free(&pr);
}

static void test_two_to_three(void **unused)
{
	const struct expect e[] = {
	    {0, 42, "0-63", "a0"}, {43, 85, "0-63 64-127", "a1"}, {86, 127, "64-127", "b0"}};
	check(3, e);
}

static void test_two_to_one(void **unused)
{
	const struct expect e[] = {{0, 127, "0-63 64-127", "a0 a1 b0"}};
	check(1, e);
}

static void test_same_parallelism(void **unused)
{
	/* each new subtask gets exactly its old self's entries (not a round robin deal,
	 * which would give a0 b0 | a1) */
	const struct expect e[] = {{0, 63, "0-63", "a0 a1"}, {64, 127, "64-127", "b0"}};
	check(2, e);
}

static void test_round_robin_of_five_entries(void **unused)
{
	struct program pr = program(3, false);
	struct old o;
	old_init(&o, false);
	ProtobufCBinaryData five[3] = {
	    {2, (uint8_t *)"e0"}, {2, (uint8_t *)"e1"}, {2, (uint8_t *)"e2"}};
	ProtobufCBinaryData two[2] = {{2, (uint8_t *)"e3"}, {2, (uint8_t *)"e4"}};
	o.src_sub[0].entries = five;
	o.src_sub[0].n_entries = 3;
	o.src_sub[1].entries = two;
	o.src_sub[1].n_entries = 2;
	struct restore_plan *plan = NULL;
	struct spate_error err = {0};
	assert_int_equal(restore_plan_assign(owned(&o), "/d", "/d", pr.eg, false, &plan, &err), 0);
	int sv, sbase = vertex_base(&pr, "Source: gen", &sv);
	const char *expect[3] = {"e0 e3", "e1 e4", "e2"};
	for (int i = 0; i < 3; i++) {
		char buf[64];
		entries(find_op(&plan->tasks[sbase + i], "src"), buf, sizeof buf);
		assert_string_equal(buf, expect[i]);
	}
	restore_plan_free(plan);
	program_free(&pr);
}

static void test_operators_matched_by_uid(void **unused)
{
	/* An extra map after the source shifts the node ids (the sink becomes node-4), the
	 * uids stay: src and cnt find their state; the old sink's id matches nothing but has
	 * no state; the new map has none in the checkpoint. */
	struct program pr = program(2, true);
	struct old o;
	old_init(&o, false);
	struct restore_plan *plan = NULL;
	struct spate_error err = {0};
	if (restore_plan_assign(owned(&o), "/d", "/d", pr.eg, false, &plan, &err) < 0)
		fail_msg("assign: %s", err.msg);
	int cv, sv;
	int cbase = vertex_base(&pr, "counter", &cv), sbase = vertex_base(&pr, "Source: gen", &sv);
	assert_int_equal(pr.jg->vertices[sv]->noperators, 2); /* src -> extra */
	for (int i = 0; i < 2; i++) {
		assert_int_equal(plan->tasks[sbase + i].n_operators, 1);
		assert_non_null(find_op(&plan->tasks[sbase + i], "src"));
		assert_int_equal(plan->tasks[cbase + i].n_operators, 1);
		const Spate__Rpc__OperatorRestore *c = find_op(&plan->tasks[cbase + i], "cnt");
		assert_non_null(c);
		assert_int_equal(c->n_keyed, 1);
		assert_int_equal(c->keyed[0]->key_group_first, i ? 64 : 0);
	}
	restore_plan_free(plan);
	program_free(&pr);
}

static void test_non_restored_state(void **unused)
{
	struct program pr = program(2, false);
	struct old o;
	old_init(&o, true);
	struct restore_plan *plan = NULL;
	struct spate_error err = {0};
	assert_int_equal(restore_plan_assign(owned(&o), "/sp/savepoint-000000-abcdefabcdef",
	                                     "/sp/savepoint-000000-abcdefabcdef", pr.eg, false,
	                                     &plan, &err),
	                 SPATE_EINVAL);
	assert_null(plan);
	assert_string_equal(err.msg,
	                    "Failed to rollback to checkpoint/savepoint "
	                    "/sp/savepoint-000000-abcdefabcdef. Cannot map checkpoint/savepoint "
	                    "state for operator gone to the new program, because the operator is "
	                    "not available in the new program. If you want to allow to skip this, "
	                    "you can set the --allowNonRestoredState option on the CLI.");
	/* allowed: the rest is restored, "gone" nowhere */
	error_clear(&err);
	assert_int_equal(restore_plan_assign(owned(&o), "/sp", "/sp", pr.eg, true, &plan, &err), 0);
	for (int k = 0; k < plan->ntasks; k++)
		assert_null(find_op(&plan->tasks[k], "gone"));
	restore_plan_free(plan);
	program_free(&pr);
}

static void test_max_parallelism_change_refused(void **unused)
{
	struct program pr = program(2, false);
	struct old o;
	old_init(&o, false);
	o.ops[1].max_parallelism = 256;
	o.h[1].key_group_last = 255;
	struct restore_plan *plan = NULL;
	struct spate_error err = {0};
	assert_int_equal(restore_plan_assign(owned(&o), "/d", "/d", pr.eg, false, &plan, &err),
	                 SPATE_EINVAL);
	assert_non_null(strstr(err.msg, "operator cnt (counter)"));
	assert_non_null(strstr(err.msg, "(256)"));
	assert_non_null(strstr(err.msg, "(128)"));
	program_free(&pr);
}

static void test_finished_needs_every_old_subtask(void **unused)
{
	struct program pr = program(3, false);
	struct old o;
	old_init(&o, false);
	o.src_sub[0].finished = true;
	struct restore_plan *plan = NULL;
	struct spate_error err = {0};
	assert_int_equal(restore_plan_assign(owned(&o), "/d", "/d", pr.eg, false, &plan, &err), 0);
	int sv, sbase = vertex_base(&pr, "Source: gen", &sv);
	for (int i = 0; i < 3; i++)
		assert_false(find_op(&plan->tasks[sbase + i], "src")->finished);
	restore_plan_free(plan);
	o.src_sub[1].finished = true;
	assert_int_equal(restore_plan_assign(owned(&o), "/d", "/d", pr.eg, false, &plan, &err), 0);
	for (int i = 0; i < 3; i++)
		assert_true(find_op(&plan->tasks[sbase + i], "src")->finished);
	restore_plan_free(plan);
	program_free(&pr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_two_to_three),
	    cmocka_unit_test(test_two_to_one),
	    cmocka_unit_test(test_same_parallelism),
	    cmocka_unit_test(test_round_robin_of_five_entries),
	    cmocka_unit_test(test_operators_matched_by_uid),
	    cmocka_unit_test(test_non_restored_state),
	    cmocka_unit_test(test_max_parallelism_change_refused),
	    cmocka_unit_test(test_finished_needs_every_old_subtask),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
