/*
 * test_stream_graph.c - building a StreamGraph and stream_graph_finalize(): parallelism,
 * partitioner and slot sharing group resolution and their errors, as Flink resolves them.
 */
#include "graph_fixtures.h"

#include "types/row.h"

static void test_new_has_flink_defaults(void **state)
{
	struct stream_graph *g = stream_graph_new();

	assert_int_equal(g->default_parallelism, 1);
	assert_int_equal(g->max_parallelism, -1);
	assert_true(g->chaining_enabled);
	assert_int_equal(g->buffer_timeout_ms, 100);
	assert_int_equal(g->nnodes, 0);
	assert_int_equal(g->nedges, 0);
	stream_graph_free(g);
	stream_graph_free(NULL);
}

static void test_add_node_and_edge_ids(void **state)
{
	struct stream_graph *g = stream_graph_new();
	struct stream_node *a = stream_graph_add_node(g, OP_SOURCE_SEQUENCE, "Source: Sequence");
	struct stream_node *b = stream_graph_add_node(g, OP_MAP, "Map");
	struct stream_node *c = stream_graph_add_node(g, OP_SINK_PRINT, "Sink: Print to Std. Out");
	struct stream_edge *e1 = fx_edge(g, a, b, PART_UNSPECIFIED);
	struct stream_edge *e2 = fx_edge(g, b, c, PART_REBALANCE);

	assert_int_equal(g->nnodes, 3);
	for (int i = 0; i < g->nnodes; i++)
		assert_int_equal(g->nodes[i]->id, i + 1);
	assert_ptr_equal(g->nodes[1], b);
	assert_string_equal(b->name, "Map");
	assert_int_equal(b->parallelism, -1);
	assert_int_equal(b->max_parallelism, -1);
	assert_int_equal(b->chaining, CHAIN_ALWAYS);
	assert_null(b->slot_sharing_group_user);

	assert_int_equal(g->nedges, 2);
	assert_int_equal(e1->id, 1);
	assert_int_equal(e2->id, 2);
	assert_ptr_equal(g->edges[1], e2);
	assert_false(e1->partitioner_explicit);
	assert_true(e2->partitioner_explicit);
	assert_int_equal(a->nout, 1);
	assert_int_equal(a->nin, 0);
	assert_ptr_equal(a->out_edges[0], e1);
	assert_int_equal(b->nin, 1);
	assert_ptr_equal(b->in_edges[0], e1);
	assert_ptr_equal(b->out_edges[0], e2);
	assert_ptr_equal(c->in_edges[0], e2);
	assert_ptr_equal(e2->source, b);
	assert_ptr_equal(e2->target, c);
	stream_graph_free(g);
}

static void test_partitioner_names_and_pointwise(void **state)
{
	assert_string_equal(partitioner_name(PART_FORWARD), "FORWARD");
	assert_string_equal(partitioner_name(PART_REBALANCE), "REBALANCE");
	assert_string_equal(partitioner_name(PART_RESCALE), "RESCALE");
	assert_string_equal(partitioner_name(PART_SHUFFLE), "SHUFFLE");
	assert_string_equal(partitioner_name(PART_BROADCAST), "BROADCAST");
	assert_string_equal(partitioner_name(PART_GLOBAL), "GLOBAL");
	assert_string_equal(partitioner_name(PART_HASH), "HASH");

	assert_true(partitioner_is_pointwise(PART_FORWARD));
	assert_true(partitioner_is_pointwise(PART_RESCALE));
	assert_false(partitioner_is_pointwise(PART_REBALANCE));
	assert_false(partitioner_is_pointwise(PART_SHUFFLE));
	assert_false(partitioner_is_pointwise(PART_BROADCAST));
	assert_false(partitioner_is_pointwise(PART_GLOBAL));
	assert_false(partitioner_is_pointwise(PART_HASH));
}

static void test_op_kinds(void **state)
{
	assert_true(op_kind_is_source(OP_SOURCE_COLLECTION));
	assert_true(op_kind_is_source(OP_SOURCE_TEXT_FILE));
	assert_true(op_kind_is_source(OP_SOURCE_SEQUENCE));
	assert_true(op_kind_is_source(OP_SOURCE_GENERATOR));
	assert_true(op_kind_is_source(OP_SOURCE_SOCKET));
	assert_false(op_kind_is_source(OP_MAP));
	assert_false(op_kind_is_source(OP_SINK_PRINT));

	assert_true(op_kind_is_sink(OP_SINK_PRINT));
	assert_true(op_kind_is_sink(OP_SINK_TEXT));
	assert_true(op_kind_is_sink(OP_SINK_COLLECT));
	assert_true(op_kind_is_sink(OP_SINK_FUNCTION));
	assert_false(op_kind_is_sink(OP_PROCESS));
	assert_false(op_kind_is_sink(OP_SOURCE_SOCKET));
}

static void test_key_spec_copy_is_deep(void **state)
{
	struct spate_error err = {0};
	int fields[] = {2, 0};
	struct key_spec src = {.nfields = 2, .fields = fields, .selector_fn = "my_key"};
	struct key_spec dst;

	src.key_schema = schema_parse("word:string,n:int64", &err);
	assert_non_null(src.key_schema);
	key_spec_copy(&dst, &src);
	assert_int_equal(dst.nfields, 2);
	assert_ptr_not_equal(dst.fields, fields);
	assert_int_equal(dst.fields[0], 2);
	assert_int_equal(dst.fields[1], 0);
	assert_ptr_not_equal(dst.selector_fn, src.selector_fn);
	assert_string_equal(dst.selector_fn, "my_key");
	assert_non_null(dst.key_schema);
	assert_ptr_not_equal(dst.key_schema, src.key_schema);
	assert_int_equal(dst.key_schema->nfields, 2);
	schema_free(src.key_schema);

	key_spec_release(&dst);
	assert_int_equal(dst.nfields, 0);
	assert_null(dst.fields);
	assert_null(dst.selector_fn);
	assert_null(dst.key_schema);

	key_spec_copy(&dst, NULL);
	assert_int_equal(dst.nfields, 0);
	assert_null(dst.fields);
	key_spec_release(&dst);
}

/* Everything a node and edge can own is released by stream_graph_free (ASan checks). */
static void test_free_releases_everything(void **state)
{
	struct spate_error err = {0};
	struct stream_graph *g = stream_graph_new();
	struct stream_node *src = fx_node(g, OP_SOURCE_COLLECTION, "Source: Collection Source", -1);
	struct stream_node *red = fx_node(g, OP_REDUCE, "Reduce", -1);
	struct stream_node *sink = fx_node(g, OP_SINK_TEXT, "Sink: Text", -1);
	int field = 0;
	struct key_spec key = {.nfields = 1, .fields = &field};

	g->job_name = xstrdup("everything");
	src->uid = xstrdup("src-uid");
	src->out_schema = schema_parse("word:string", &err);
	src->data = xmalloc(64);
	src->data_len = 64;
	src->params = xcalloc(2, sizeof *src->params);
	src->nparams = 2;
	src->params[0].key = xstrdup("a");
	src->params[0].value = xstrdup("1");
	src->params[1].key = xstrdup("b");
	src->params[1].value = xstrdup("2");
	key.key_schema = schema_parse("word:string", &err);
	stream_graph_add_edge(g, src, red, PART_HASH, true, 0, &key);
	key_spec_copy(&red->key, &key);
	red->keyed = true;
	red->fn_name = xstrdup("reduce_fn");
	red->end_fn_name = xstrdup("on_end_fn");
	red->out_schema = schema_clone(src->out_schema);
	fx_set_group(red, "other");
	sink->path = xstrdup("/tmp/out");
	fx_edge(g, red, sink, PART_UNSPECIFIED);
	schema_free(key.key_schema);

	assert_int_equal(stream_graph_finalize(g, &err), 0);
	assert_ptr_equal(red->in_schema, src->out_schema);
	assert_ptr_equal(sink->in_schema, red->out_schema);
	assert_null(src->in_schema);
	stream_graph_free(g);
}

static void test_parallelism_resolution(void **state)
{
	struct spate_error err = {0};
	struct stream_graph *g = stream_graph_new();
	struct stream_node *sock, *seq, *map, *sink;

	g->default_parallelism = 4;
	sock = fx_node(g, OP_SOURCE_SOCKET, "Source: Socket Stream", -1);
	sock->non_parallel = true;
	seq = fx_node(g, OP_SOURCE_SEQUENCE, "Source: Sequence", -1);
	map = fx_node(g, OP_MAP, "Map", 7);
	sink = fx_node(g, OP_SINK_PRINT, "Sink: Print to Std. Out", -1);
	fx_edge(g, sock, map, PART_UNSPECIFIED);
	fx_edge(g, seq, map, PART_UNSPECIFIED);
	fx_edge(g, map, sink, PART_UNSPECIFIED);

	assert_int_equal(stream_graph_finalize(g, &err), 0);
	assert_int_equal(err.code, 0);
	assert_int_equal(sock->parallelism, 1); /* non-parallel */
	assert_int_equal(seq->parallelism, 4);  /* the default */
	assert_int_equal(map->parallelism, 7);  /* its own */
	assert_int_equal(sink->parallelism, 4);
	stream_graph_free(g);
}

static void test_non_parallel_source_allows_explicit_one(void **state)
{
	struct spate_error err = {0};
	struct stream_graph *g = stream_graph_new();
	struct stream_node *sock = fx_node(g, OP_SOURCE_SOCKET, "Source: Socket Stream", 1);
	struct stream_node *sink = fx_node(g, OP_SINK_PRINT, "Sink: Print to Std. Out", -1);

	sock->non_parallel = true;
	g->default_parallelism = 3;
	fx_edge(g, sock, sink, PART_UNSPECIFIED);
	assert_int_equal(stream_graph_finalize(g, &err), 0);
	assert_int_equal(sock->parallelism, 1);
	assert_int_equal(sink->parallelism, 3);
	stream_graph_free(g);
}

static void test_non_parallel_source_rejects_four(void **state)
{
	struct spate_error err = {0};
	struct stream_graph *g = stream_graph_new();
	struct stream_node *sock = fx_node(g, OP_SOURCE_SOCKET, "Source: Socket Stream", 4);

	sock->non_parallel = true;
	assert_int_equal(stream_graph_finalize(g, &err), SPATE_EGRAPH);
	assert_int_equal(err.code, SPATE_EGRAPH);
	assert_string_equal(err.msg, "operator 'Source: Socket Stream' is non-parallel: "
	                             "parallelism must be 1, not 4");
	stream_graph_free(g);
}

/* Finalizes a source -> "Map" -> sink graph with the given map settings; returns rc. */
static int finalize_map(int graph_default, int graph_max, int map_p, int map_max,
                        struct spate_error *err)
{
	struct stream_graph *g = stream_graph_new();
	struct stream_node *src = fx_node(g, OP_SOURCE_SEQUENCE, "Source: Sequence", 1);
	struct stream_node *map = fx_node(g, OP_MAP, "Map", map_p);
	struct stream_node *sink = fx_node(g, OP_SINK_PRINT, "Sink: Print to Std. Out", 1);
	int rc;

	g->default_parallelism = graph_default;
	g->max_parallelism = graph_max;
	map->max_parallelism = map_max;
	fx_edge(g, src, map, PART_UNSPECIFIED);
	fx_edge(g, map, sink, PART_UNSPECIFIED);
	rc = stream_graph_finalize(g, err);
	stream_graph_free(g);
	return rc;
}

static void test_parallelism_zero_is_an_error(void **state)
{
	struct spate_error err = {0};

	assert_int_equal(finalize_map(1, -1, 0, -1, &err), SPATE_EGRAPH);
	assert_string_equal(err.msg, "parallelism 0 of operator 'Map' is out of range: must be "
	                             "between 1 and 32768");
}

static void test_parallelism_above_upper_bound_is_an_error(void **state)
{
	struct spate_error err = {0};

	assert_int_equal(finalize_map(1, -1, 32769, -1, &err), SPATE_EGRAPH);
	assert_string_equal(err.msg, "parallelism 32769 of operator 'Map' is out of range: must "
	                             "be between 1 and 32768");
	error_clear(&err);
	/* 32768 itself is allowed (Flink's bound is inclusive). */
	assert_int_equal(finalize_map(1, -1, 32768, -1, &err), 0);
}

static void test_bad_default_parallelism_names_the_first_operator(void **state)
{
	struct spate_error err = {0};

	/* The source and sink set 1; the map takes the broken default. */
	assert_int_equal(finalize_map(0, -1, -1, -1, &err), SPATE_EGRAPH);
	assert_string_equal(err.msg, "parallelism 0 of operator 'Map' is out of range: must be "
	                             "between 1 and 32768");
}

static void test_parallelism_above_operator_max_parallelism(void **state)
{
	struct spate_error err = {0};

	assert_int_equal(finalize_map(1, -1, 200, 128, &err), SPATE_EGRAPH);
	assert_string_equal(err.msg, "parallelism 200 of operator 'Map' exceeds its max "
	                             "parallelism 128");
	error_clear(&err);
	assert_int_equal(finalize_map(1, -1, 128, 128, &err), 0);
}

static void test_parallelism_above_graph_max_parallelism(void **state)
{
	struct spate_error err = {0};

	/* The environment's max applies to every operator without its own. */
	assert_int_equal(finalize_map(1, 64, 100, -1, &err), SPATE_EGRAPH);
	assert_string_equal(err.msg, "parallelism 100 of operator 'Map' exceeds its max "
	                             "parallelism 64");
	error_clear(&err);
	/* ... and the operator's own max overrides it. */
	assert_int_equal(finalize_map(1, 64, 100, 256, &err), 0);
}

static void test_max_parallelism_out_of_range(void **state)
{
	struct spate_error err = {0};

	assert_int_equal(finalize_map(1, -1, 1, 0, &err), SPATE_EGRAPH);
	assert_string_equal(err.msg, "max parallelism 0 of operator 'Map' is out of range: must "
	                             "be between 1 and 32768");
	error_clear(&err);
	assert_int_equal(finalize_map(1, -1, 1, 32769, &err), SPATE_EGRAPH);
	assert_string_equal(err.msg, "max parallelism 32769 of operator 'Map' is out of range: "
	                             "must be between 1 and 32768");
	error_clear(&err);
	assert_int_equal(finalize_map(1, 40000, 1, -1, &err), SPATE_EGRAPH);
	assert_string_equal(err.msg, "max parallelism 40000 of operator 'Source: Sequence' is out "
	                             "of range: must be between 1 and 32768");
}

static void test_unspecified_partitioner_resolution(void **state)
{
	struct spate_error err = {0};
	struct stream_graph *g = stream_graph_new();
	struct stream_node *src = fx_node(g, OP_SOURCE_SEQUENCE, "Source: Sequence", 2);
	struct stream_node *map = fx_node(g, OP_MAP, "Map", 2);
	struct stream_node *filt = fx_node(g, OP_FILTER, "Filter", 3);
	struct stream_node *sink = fx_node(g, OP_SINK_PRINT, "Sink: Print to Std. Out", 3);
	struct stream_edge *same = fx_edge(g, src, map, PART_UNSPECIFIED);
	struct stream_edge *change = fx_edge(g, map, filt, PART_UNSPECIFIED);
	struct stream_edge *shuffle = fx_edge(g, filt, sink, PART_SHUFFLE);

	assert_int_equal(stream_graph_finalize(g, &err), 0);
	assert_int_equal(same->partitioner, PART_FORWARD);
	assert_int_equal(change->partitioner, PART_REBALANCE);
	assert_int_equal(shuffle->partitioner, PART_SHUFFLE);
	assert_false(same->partitioner_explicit);
	stream_graph_free(g);
}

static void test_forward_across_parallelism_change_fails_like_flink(void **state)
{
	struct spate_error err = {0};
	struct stream_graph *g = stream_graph_new();
	struct stream_node *src = fx_node(g, OP_SOURCE_SEQUENCE, "Source: Sequence", -1);
	struct stream_node *map = fx_node(g, OP_MAP, "Map", -1);
	struct stream_node *sink = fx_node(g, OP_SINK_PRINT, "Sink: Print to Std. Out", 1);

	g->default_parallelism = 2;
	fx_edge(g, src, map, PART_UNSPECIFIED);
	fx_edge(g, map, sink, PART_FORWARD);
	assert_int_equal(stream_graph_finalize(g, &err), SPATE_EGRAPH);
	assert_string_equal(err.msg,
	                    "Forward partitioning does not allow change of parallelism. Upstream "
	                    "operation: Map-2 parallelism: 2, downstream operation: Sink: Print to "
	                    "Std. Out-3 parallelism: 1 You must use another partitioning strategy, "
	                    "such as broadcast, rebalance, shuffle or global.");
	stream_graph_free(g);
}

static void test_explicit_forward_with_equal_parallelism_is_fine(void **state)
{
	struct spate_error err = {0};
	struct stream_graph *g = stream_graph_new();
	struct stream_node *src = fx_node(g, OP_SOURCE_SEQUENCE, "Source: Sequence", 3);
	struct stream_node *map = fx_node(g, OP_MAP, "Map", 3);
	struct stream_edge *e = fx_edge(g, src, map, PART_FORWARD);

	assert_int_equal(stream_graph_finalize(g, &err), 0);
	assert_int_equal(e->partitioner, PART_FORWARD);
	assert_true(e->partitioner_explicit);
	stream_graph_free(g);
}

static void test_hash_edge_needs_a_key(void **state)
{
	struct spate_error err = {0};
	struct stream_graph *g = stream_graph_new();
	struct stream_node *src = fx_node(g, OP_SOURCE_SEQUENCE, "Source: Sequence", -1);
	struct stream_node *red = fx_node(g, OP_REDUCE, "Reduce", -1);

	fx_edge(g, src, red, PART_HASH);
	assert_int_equal(stream_graph_finalize(g, &err), SPATE_EGRAPH);
	assert_string_equal(err.msg, "keyed edge from 'Source: Sequence' to 'Reduce' has no key: "
	                             "set key fields or a key selector");
	stream_graph_free(g);
}

static void test_empty_graph_is_an_error(void **state)
{
	struct spate_error err = {0};
	struct stream_graph *g = stream_graph_new();

	assert_int_equal(stream_graph_finalize(g, &err), SPATE_EGRAPH);
	assert_string_equal(err.msg, "no operators defined in streaming topology: cannot execute");
	stream_graph_free(g);
}

static void test_operator_without_input_is_an_error(void **state)
{
	struct spate_error err = {0};
	struct stream_graph *g = stream_graph_new();

	fx_node(g, OP_SOURCE_SEQUENCE, "Source: Sequence", -1);
	fx_node(g, OP_MAP, "Map", -1);
	assert_int_equal(stream_graph_finalize(g, &err), SPATE_EGRAPH);
	assert_string_equal(err.msg, "operator 'Map' has no input");
	stream_graph_free(g);
}

static void test_slot_sharing_group_rules(void **state)
{
	struct spate_error err = {0};
	struct stream_graph *g = stream_graph_new();
	struct stream_node *s1 = fx_node(g, OP_SOURCE_SEQUENCE, "Source: One", -1);
	struct stream_node *s2 = fx_node(g, OP_SOURCE_SEQUENCE, "Source: Two", -1);
	struct stream_node *m1 = fx_node(g, OP_MAP, "m1", -1);
	struct stream_node *m2 = fx_node(g, OP_MAP, "m2", -1);
	struct stream_node *u = fx_node(g, OP_PROCESS, "union of both", -1);
	struct stream_node *u2 = fx_node(g, OP_PROCESS, "union, same group", -1);
	struct stream_node *sink = fx_node(g, OP_SINK_PRINT, "Sink: Print to Std. Out", -1);

	fx_set_group(s2, "src-group");
	fx_set_group(m1, "other");
	fx_edge(g, s1, m1, PART_UNSPECIFIED); /* m1: user's "other" */
	fx_edge(g, m1, m2, PART_UNSPECIFIED); /* m2: inherits "other" */
	fx_edge(g, m2, u, PART_UNSPECIFIED);  /* u: "other" and "src-group" disagree */
	fx_edge(g, s2, u, PART_UNSPECIFIED);
	fx_edge(g, m1, u2, PART_UNSPECIFIED); /* u2: both inputs "other": inherit */
	fx_edge(g, m2, u2, PART_UNSPECIFIED);
	fx_edge(g, u2, sink, PART_UNSPECIFIED);

	assert_int_equal(stream_graph_finalize(g, &err), 0);
	assert_string_equal(s1->slot_sharing_group, "default");
	assert_string_equal(s2->slot_sharing_group, "src-group");
	assert_string_equal(m1->slot_sharing_group, "other");
	assert_string_equal(m2->slot_sharing_group, "other");
	assert_string_equal(u->slot_sharing_group, "default");
	assert_string_equal(u2->slot_sharing_group, "other");
	assert_string_equal(sink->slot_sharing_group, "other");
	stream_graph_free(g);
}

static void test_finalize_twice_is_harmless(void **state)
{
	struct spate_error err = {0};
	struct stream_graph *g = fx_wordcount(2);

	assert_int_equal(stream_graph_finalize(g, &err), 0);
	assert_int_equal(stream_graph_finalize(g, &err), 0);
	assert_int_equal(g->nodes[0]->parallelism, 2);
	assert_int_equal(g->nodes[3]->parallelism, 1);
	assert_int_equal(g->edges[2]->partitioner, PART_REBALANCE);
	assert_string_equal(g->nodes[3]->slot_sharing_group, "default");
	stream_graph_free(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_new_has_flink_defaults),
	    cmocka_unit_test(test_add_node_and_edge_ids),
	    cmocka_unit_test(test_partitioner_names_and_pointwise),
	    cmocka_unit_test(test_op_kinds),
	    cmocka_unit_test(test_key_spec_copy_is_deep),
	    cmocka_unit_test(test_free_releases_everything),
	    cmocka_unit_test(test_parallelism_resolution),
	    cmocka_unit_test(test_non_parallel_source_allows_explicit_one),
	    cmocka_unit_test(test_non_parallel_source_rejects_four),
	    cmocka_unit_test(test_parallelism_zero_is_an_error),
	    cmocka_unit_test(test_parallelism_above_upper_bound_is_an_error),
	    cmocka_unit_test(test_bad_default_parallelism_names_the_first_operator),
	    cmocka_unit_test(test_parallelism_above_operator_max_parallelism),
	    cmocka_unit_test(test_parallelism_above_graph_max_parallelism),
	    cmocka_unit_test(test_max_parallelism_out_of_range),
	    cmocka_unit_test(test_unspecified_partitioner_resolution),
	    cmocka_unit_test(test_forward_across_parallelism_change_fails_like_flink),
	    cmocka_unit_test(test_explicit_forward_with_equal_parallelism_is_fine),
	    cmocka_unit_test(test_hash_edge_needs_a_key),
	    cmocka_unit_test(test_empty_graph_is_an_error),
	    cmocka_unit_test(test_operator_without_input_is_an_error),
	    cmocka_unit_test(test_slot_sharing_group_rules),
	    cmocka_unit_test(test_finalize_twice_is_harmless),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
