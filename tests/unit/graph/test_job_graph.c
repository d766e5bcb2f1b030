/*
 * test_job_graph.c - operator chaining, job vertices, slot sharing and slot counts.
 *
 * The expected shapes come from Flink's rules (flink-facts.md §1, §2) and from the
 * examples in the seeds: the source/map/keyBy-window/sink job of Flink's "Tasks and
 * Operator Chains" figure (5 subtasks, 2 slots; 13 subtasks and 6 slots at parallelism 6)
 * and WordCount at parallelism 1, 2 and 9.
 */
#include "graph_fixtures.h"

#include <ctype.h>

static void assert_hex32(const char *id)
{
	assert_int_equal(strlen(id), 32);
	for (int i = 0; i < 32; i++)
		assert_true(isxdigit((unsigned char)id[i]) && !isupper((unsigned char)id[i]));
}

/*
 * The job in Flink's chaining figure: source -> map, keyBy, window/apply, then a sink
 * whose parallelism is set to 1; everything else takes the default.
 */
static struct stream_graph *seed_job(int default_parallelism)
{
	struct stream_graph *g = stream_graph_new();
	struct stream_node *src, *map, *win, *sink;

	g->default_parallelism = default_parallelism;
	src = fx_node(g, OP_SOURCE_SOCKET, "Source: Socket Stream", -1);
	map = fx_node(g, OP_MAP, "Map", -1);
	win = fx_node(g, OP_PROCESS, "Window(apply)", -1);
	sink = fx_node(g, OP_SINK_TEXT, "Sink: Text", 1);
	fx_edge(g, src, map, PART_UNSPECIFIED);
	fx_key_by(g, map, win);
	fx_edge(g, win, sink, PART_UNSPECIFIED);
	return g;
}

static void test_seed_example_parallelism_2(void **state)
{
	struct stream_graph *g = seed_job(2);
	struct job_graph *jg = fx_build(g);

	assert_int_equal(jg->nvertices, 3);
	assert_string_equal(jg->vertices[0]->name, "Source: Socket Stream -> Map");
	assert_int_equal(jg->vertices[0]->parallelism, 2);
	assert_string_equal(jg->vertices[1]->name, "Window(apply)");
	assert_int_equal(jg->vertices[1]->parallelism, 2);
	assert_string_equal(jg->vertices[2]->name, "Sink: Text");
	assert_int_equal(jg->vertices[2]->parallelism, 1);
	assert_int_equal(jg->nedges, 2);
	assert_int_equal(jg->edges[0]->partitioner, PART_HASH);
	assert_int_equal(jg->edges[1]->partitioner, PART_REBALANCE);
	assert_int_equal(job_graph_subtask_count(jg), 5);
	assert_int_equal(job_graph_slots_needed(jg), 2);
	job_graph_free(jg);
	stream_graph_free(g);
}

static void test_seed_example_parallelism_6(void **state)
{
	struct stream_graph *g = seed_job(6);
	struct job_graph *jg = fx_build(g);

	assert_int_equal(jg->nvertices, 3);
	assert_int_equal(jg->vertices[0]->parallelism, 6);
	assert_int_equal(jg->vertices[1]->parallelism, 6);
	assert_int_equal(jg->vertices[2]->parallelism, 1);
	assert_int_equal(job_graph_subtask_count(jg), 13);
	assert_int_equal(job_graph_slots_needed(jg), 6);
	job_graph_free(jg);
	stream_graph_free(g);
}

static void test_wordcount_parallelism_1(void **state)
{
	struct stream_graph *g = fx_wordcount(1);
	struct job_graph *jg = fx_build(g);

	/* At parallelism 1 the counter and the sink chain too (forward, same parallelism). */
	assert_int_equal(jg->nvertices, 2);
	assert_string_equal(jg->vertices[0]->name, "Source: in-memory-input -> tokenizer");
	assert_string_equal(jg->vertices[1]->name, "counter -> Sink: Print to Std. Out");
	assert_int_equal(jg->nedges, 1);
	assert_int_equal(jg->edges[0]->partitioner, PART_HASH);
	assert_int_equal(g->edges[2]->partitioner, PART_FORWARD);
	assert_int_equal(job_graph_subtask_count(jg), 2);
	assert_int_equal(job_graph_slots_needed(jg), 1);
	assert_string_equal(jg->job_name, "WordCount");
	job_graph_free(jg);
	stream_graph_free(g);
}

static void test_wordcount_parallelism_2(void **state)
{
	struct stream_graph *g = fx_wordcount(2);
	struct job_graph *jg = fx_build(g);

	assert_int_equal(jg->nvertices, 3);
	assert_string_equal(jg->vertices[0]->name, "Source: in-memory-input -> tokenizer");
	assert_int_equal(jg->vertices[0]->parallelism, 2);
	assert_string_equal(jg->vertices[1]->name, "counter");
	assert_int_equal(jg->vertices[1]->parallelism, 2);
	assert_string_equal(jg->vertices[2]->name, "Sink: Print to Std. Out");
	assert_int_equal(jg->vertices[2]->parallelism, 1);
	assert_int_equal(jg->nedges, 2);
	assert_int_equal(jg->edges[0]->partitioner, PART_HASH);
	assert_int_equal(jg->edges[1]->partitioner, PART_REBALANCE);
	assert_int_equal(job_graph_subtask_count(jg), 5);
	assert_int_equal(job_graph_slots_needed(jg), 2);
	job_graph_free(jg);
	stream_graph_free(g);
}

static void test_wordcount_parallelism_9(void **state)
{
	struct stream_graph *g = fx_wordcount(9);
	struct job_graph *jg = fx_build(g);

	assert_int_equal(jg->nvertices, 3);
	assert_int_equal(fx_vertex(jg, "Source: in-memory-input -> tokenizer")->parallelism, 9);
	assert_int_equal(fx_vertex(jg, "counter")->parallelism, 9);
	assert_int_equal(fx_vertex(jg, "Sink: Print to Std. Out")->parallelism, 1);
	assert_int_equal(job_graph_subtask_count(jg), 19);
	assert_int_equal(job_graph_slots_needed(jg), 9);
	job_graph_free(jg);
	stream_graph_free(g);
}

static void test_vertex_structure_and_edges(void **state)
{
	struct stream_graph *g = fx_wordcount(2);
	struct job_graph *jg = fx_build(g);
	struct job_vertex *head = jg->vertices[0];
	struct job_vertex *counter = jg->vertices[1];
	struct job_vertex *sink = jg->vertices[2];

	for (int i = 0; i < jg->nvertices; i++)
		assert_int_equal(jg->vertices[i]->index, i);
	assert_int_equal(head->noperators, 2);
	assert_ptr_equal(head->operators[0], g->nodes[0]);
	assert_ptr_equal(head->operators[1], g->nodes[1]);
	assert_ptr_equal(head->head, g->nodes[0]);
	assert_ptr_equal(counter->head, g->nodes[2]);
	assert_int_equal(g->nodes[0]->vertex_index, 0);
	assert_int_equal(g->nodes[1]->vertex_index, 0);
	assert_int_equal(g->nodes[2]->vertex_index, 1);
	assert_int_equal(g->nodes[3]->vertex_index, 2);

	assert_int_equal(head->ninputs, 0);
	assert_int_equal(head->noutputs, 1);
	assert_int_equal(counter->ninputs, 1);
	assert_int_equal(counter->noutputs, 1);
	assert_int_equal(sink->ninputs, 1);
	assert_int_equal(sink->noutputs, 0);
	assert_ptr_equal(head->outputs[0], jg->edges[0]);
	assert_ptr_equal(counter->inputs[0], jg->edges[0]);
	assert_ptr_equal(jg->edges[0]->source, head);
	assert_ptr_equal(jg->edges[0]->target, counter);
	assert_ptr_equal(jg->edges[0]->stream_edge, g->edges[1]);
	assert_int_equal(jg->edges[0]->source_output, 0);
	assert_int_equal(jg->edges[0]->target_input, 0);

	/* The chained edge source -> tokenizer has no job edge. */
	assert_null(job_graph_find_edge(jg, g->edges[0]));
	assert_ptr_equal(job_graph_find_edge(jg, g->edges[1]), jg->edges[0]);
	assert_ptr_equal(job_graph_find_edge(jg, g->edges[2]), jg->edges[1]);
	job_graph_free(jg);
	stream_graph_free(g);
}

static void test_ids_are_hex_deterministic_and_distinct(void **state)
{
	struct stream_graph *g1 = fx_wordcount(2);
	struct stream_graph *g2 = fx_wordcount(2);
	struct job_graph *a = fx_build(g1);
	struct job_graph *b = fx_build(g2);

	assert_hex32(a->job_id);
	assert_hex32(b->job_id);
	assert_string_not_equal(a->job_id, b->job_id); /* random */
	for (int i = 0; i < a->nvertices; i++) {
		assert_hex32(a->vertices[i]->id);
		assert_string_equal(a->vertices[i]->id, b->vertices[i]->id);
		for (int k = 0; k < i; k++)
			assert_string_not_equal(a->vertices[i]->id, a->vertices[k]->id);
	}
	job_graph_free(a);
	job_graph_free(b);

	/* A uid changes the id of the vertex that holds it, and only that one. */
	struct stream_graph *g3 = fx_wordcount(2);
	g3->nodes[2]->uid = xstrdup("counter-uid");
	struct job_graph *c = fx_build(g3);
	a = fx_build(g1);
	assert_string_equal(c->vertices[0]->id, a->vertices[0]->id);
	assert_string_not_equal(c->vertices[1]->id, a->vertices[1]->id);
	assert_string_equal(c->vertices[2]->id, a->vertices[2]->id);
	job_graph_free(a);
	job_graph_free(c);
	stream_graph_free(g1);
	stream_graph_free(g2);
	stream_graph_free(g3);
}

static void test_default_job_name(void **state)
{
	struct stream_graph *g = fx_wordcount(1);
	struct job_graph *jg;

	xfree(g->job_name);
	g->job_name = NULL;
	jg = fx_build(g);
	assert_string_equal(jg->job_name, "Spate Streaming Job");
	job_graph_free(jg);
	stream_graph_free(g);
}

static void test_max_parallelism_of_vertices(void **state)
{
	struct stream_graph *g = stream_graph_new();
	struct stream_node *src = fx_node(g, OP_SOURCE_SEQUENCE, "Source: Sequence", 1);
	struct stream_node *a = fx_node(g, OP_MAP, "a", 100);
	struct stream_node *b = fx_node(g, OP_MAP, "b", 100);
	struct stream_node *c = fx_node(g, OP_MAP, "c", 86);
	struct stream_node *d = fx_node(g, OP_MAP, "d", 85);
	struct job_graph *jg;

	fx_edge(g, src, a, PART_REBALANCE);
	fx_edge(g, a, b, PART_REBALANCE);
	fx_edge(g, b, c, PART_REBALANCE);
	fx_edge(g, c, d, PART_REBALANCE);
	b->max_parallelism = 1000;
	jg = fx_build(g);
	/* Default: roundUpToPowerOfTwo(p + p/2) clamped to [128, 32768]. */
	assert_int_equal(fx_vertex(jg, "Source: Sequence")->max_parallelism, 128);
	assert_int_equal(fx_vertex(jg, "a")->max_parallelism, 256);  /* 100 + 50 -> 256 */
	assert_int_equal(fx_vertex(jg, "b")->max_parallelism, 1000); /* its own */
	assert_int_equal(fx_vertex(jg, "c")->max_parallelism, 256);  /* 86 + 43 = 129 -> 256 */
	assert_int_equal(fx_vertex(jg, "d")->max_parallelism, 128);  /* 85 + 42 = 127 -> 128 */
	job_graph_free(jg);

	/* The environment's max applies where the head has none of its own. */
	g->max_parallelism = 512;
	jg = fx_build(g);
	assert_int_equal(fx_vertex(jg, "a")->max_parallelism, 512);
	assert_int_equal(fx_vertex(jg, "b")->max_parallelism, 1000);
	assert_int_equal(fx_vertex(jg, "Source: Sequence")->max_parallelism, 512);
	job_graph_free(jg);
	stream_graph_free(g);
}

/*
 * Slot sharing groups: source and map at parallelism 3 in "default"; a keyed operator at 4
 * and a sink at 2 in "other". Slots: max(3) + max(4, 2) = 7.
 */
static void test_two_slot_sharing_groups(void **state)
{
	struct stream_graph *g = stream_graph_new();
	struct stream_node *src = fx_node(g, OP_SOURCE_SEQUENCE, "Source: Sequence", 3);
	struct stream_node *map = fx_node(g, OP_MAP, "Map", 3);
	struct stream_node *red = fx_node(g, OP_REDUCE, "Reduce", 4);
	struct stream_node *sink = fx_node(g, OP_SINK_PRINT, "Sink: Print to Std. Out", 2);
	struct job_graph *jg;

	fx_edge(g, src, map, PART_UNSPECIFIED);
	fx_key_by(g, map, red);
	fx_set_group(red, "other");
	fx_edge(g, red, sink, PART_UNSPECIFIED);
	jg = fx_build(g);

	assert_string_equal(sink->slot_sharing_group, "other"); /* inherited */
	assert_int_equal(jg->nvertices, 3);
	assert_string_equal(fx_vertex(jg, "Source: Sequence -> Map")->slot_sharing_group,
	                    "default");
	assert_string_equal(fx_vertex(jg, "Reduce")->slot_sharing_group, "other");
	assert_string_equal(fx_vertex(jg, "Sink: Print to Std. Out")->slot_sharing_group, "other");
	assert_int_equal(job_graph_subtask_count(jg), 9);
	assert_int_equal(job_graph_slots_needed(jg), 7);
	job_graph_free(jg);
	stream_graph_free(g);
}

/* A union of inputs from different groups falls back to "default" and shares with it. */
static void test_union_of_groups_goes_to_default(void **state)
{
	struct stream_graph *g = stream_graph_new();
	struct stream_node *s1 = fx_node(g, OP_SOURCE_SEQUENCE, "Source: One", 2);
	struct stream_node *s2 = fx_node(g, OP_SOURCE_SEQUENCE, "Source: Two", 5);
	struct stream_node *u = fx_node(g, OP_PROCESS, "Process", 3);
	struct job_graph *jg;

	fx_set_group(s2, "other");
	fx_edge(g, s1, u, PART_UNSPECIFIED);
	fx_edge(g, s2, u, PART_UNSPECIFIED);
	jg = fx_build(g);
	assert_string_equal(u->slot_sharing_group, "default");
	/* default: max(2, 3) = 3; other: 5. */
	assert_int_equal(job_graph_slots_needed(jg), 8);
	assert_int_equal(job_graph_subtask_count(jg), 10);
	job_graph_free(jg);
	stream_graph_free(g);
}

/* source -> a -> b -> c -> sink, all at parallelism 2, to test chain breaking. */
static struct stream_graph *pipeline(void)
{
	struct stream_graph *g = stream_graph_new();
	struct stream_node *n[5];

	g->default_parallelism = 2;
	n[0] = fx_node(g, OP_SOURCE_SEQUENCE, "Source: s", -1);
	n[1] = fx_node(g, OP_MAP, "a", -1);
	n[2] = fx_node(g, OP_MAP, "b", -1);
	n[3] = fx_node(g, OP_MAP, "c", -1);
	n[4] = fx_node(g, OP_SINK_PRINT, "Sink: k", -1);
	for (int i = 0; i < 4; i++)
		fx_edge(g, n[i], n[i + 1], PART_UNSPECIFIED);
	return g;
}

static void test_full_chain_by_default(void **state)
{
	struct stream_graph *g = pipeline();
	struct job_graph *jg = fx_build(g);

	assert_int_equal(jg->nvertices, 1);
	assert_string_equal(jg->vertices[0]->name, "Source: s -> a -> b -> c -> Sink: k");
	assert_int_equal(jg->vertices[0]->noperators, 5);
	for (int i = 0; i < 5; i++)
		assert_ptr_equal(jg->vertices[0]->operators[i], g->nodes[i]);
	assert_int_equal(jg->nedges, 0);
	assert_int_equal(job_graph_slots_needed(jg), 2);
	job_graph_free(jg);
	stream_graph_free(g);
}

static void test_chaining_disabled_for_job(void **state)
{
	struct stream_graph *g = pipeline();
	struct job_graph *jg;

	g->chaining_enabled = false;
	jg = fx_build(g);
	assert_int_equal(jg->nvertices, 5);
	assert_string_equal(jg->vertices[0]->name, "Source: s");
	assert_string_equal(jg->vertices[1]->name, "a");
	assert_string_equal(jg->vertices[2]->name, "b");
	assert_string_equal(jg->vertices[3]->name, "c");
	assert_string_equal(jg->vertices[4]->name, "Sink: k");
	assert_int_equal(jg->nedges, 4);
	for (int i = 0; i < 4; i++)
		assert_int_equal(jg->edges[i]->partitioner, PART_FORWARD);
	assert_int_equal(job_graph_subtask_count(jg), 10);
	assert_int_equal(job_graph_slots_needed(jg), 2);
	job_graph_free(jg);
	stream_graph_free(g);
}

static void test_disable_chaining_splits_both_sides(void **state)
{
	struct stream_graph *g = pipeline();
	struct job_graph *jg;

	g->nodes[2]->chaining = CHAIN_NEVER; /* b.disableChaining() */
	jg = fx_build(g);
	assert_int_equal(jg->nvertices, 3);
	assert_string_equal(jg->vertices[0]->name, "Source: s -> a");
	assert_string_equal(jg->vertices[1]->name, "b");
	assert_string_equal(jg->vertices[2]->name, "c -> Sink: k");
	job_graph_free(jg);
	stream_graph_free(g);
}

static void test_start_new_chain_splits_before_only(void **state)
{
	struct stream_graph *g = pipeline();
	struct job_graph *jg;

	g->nodes[2]->chaining = CHAIN_HEAD; /* b.startNewChain() */
	jg = fx_build(g);
	assert_int_equal(jg->nvertices, 2);
	assert_string_equal(jg->vertices[0]->name, "Source: s -> a");
	assert_string_equal(jg->vertices[1]->name, "b -> c -> Sink: k");
	job_graph_free(jg);
	stream_graph_free(g);
}

static void test_slot_sharing_group_breaks_chain(void **state)
{
	struct stream_graph *g = pipeline();
	struct job_graph *jg;

	fx_set_group(g->nodes[2], "other"); /* b and (inherited) c, sink in "other" */
	jg = fx_build(g);
	assert_int_equal(jg->nvertices, 2);
	assert_string_equal(jg->vertices[0]->name, "Source: s -> a");
	assert_string_equal(jg->vertices[1]->name, "b -> c -> Sink: k");
	assert_string_equal(jg->vertices[1]->slot_sharing_group, "other");
	assert_int_equal(jg->edges[0]->partitioner, PART_FORWARD);
	assert_int_equal(job_graph_slots_needed(jg), 4);
	job_graph_free(jg);
	stream_graph_free(g);
}

static void test_parallelism_change_breaks_chain_with_rebalance(void **state)
{
	struct stream_graph *g = pipeline();
	struct job_graph *jg;

	g->nodes[2]->parallelism = 3; /* b at 3; c and the sink stay at the default 2 */
	jg = fx_build(g);
	assert_int_equal(jg->nvertices, 3);
	assert_string_equal(jg->vertices[0]->name, "Source: s -> a");
	assert_string_equal(jg->vertices[1]->name, "b");
	assert_string_equal(jg->vertices[2]->name, "c -> Sink: k");
	assert_int_equal(jg->nedges, 2);
	assert_int_equal(jg->edges[0]->partitioner, PART_REBALANCE);
	assert_int_equal(jg->edges[1]->partitioner, PART_REBALANCE);
	assert_int_equal(job_graph_subtask_count(jg), 7);
	assert_int_equal(job_graph_slots_needed(jg), 3);
	job_graph_free(jg);
	stream_graph_free(g);
}

/* Any partitioner other than forward keeps the operators apart, even at equal parallelism. */
static void test_explicit_partitioners_never_chain(void **state)
{
	const enum partitioner parts[] = {PART_REBALANCE, PART_RESCALE, PART_SHUFFLE,
	                                  PART_BROADCAST, PART_GLOBAL,  PART_HASH};

	for (size_t i = 0; i < sizeof parts / sizeof *parts; i++) {
		struct stream_graph *g = stream_graph_new();
		struct stream_node *src = fx_node(g, OP_SOURCE_SEQUENCE, "Source: s", 2);
		struct stream_node *map = fx_node(g, OP_MAP, "m", 2);
		struct job_graph *jg;

		if (parts[i] == PART_HASH)
			fx_key_by(g, src, map);
		else
			fx_edge(g, src, map, parts[i]);
		jg = fx_build(g);
		assert_int_equal(jg->nvertices, 2);
		assert_int_equal(jg->nedges, 1);
		assert_int_equal(jg->edges[0]->partitioner, parts[i]);
		assert_string_equal(jg->vertices[0]->name, "Source: s");
		assert_string_equal(jg->vertices[1]->name, "m");
		job_graph_free(jg);
		stream_graph_free(g);
	}
}

/* A union (two inputs into one operator) goes through the network, never chained. */
static void test_union_never_chains(void **state)
{
	struct stream_graph *g = stream_graph_new();
	struct stream_node *s1 = fx_node(g, OP_SOURCE_SEQUENCE, "Source: One", 2);
	struct stream_node *s2 = fx_node(g, OP_SOURCE_SEQUENCE, "Source: Two", 2);
	struct stream_node *m = fx_node(g, OP_MAP, "m", 2);
	struct stream_node *sink = fx_node(g, OP_SINK_PRINT, "Sink: k", 2);
	struct stream_edge *e1 = fx_edge(g, s1, m, PART_UNSPECIFIED);
	struct stream_edge *e2 = fx_edge(g, s2, m, PART_UNSPECIFIED);
	struct job_graph *jg;

	fx_edge(g, m, sink, PART_UNSPECIFIED);
	jg = fx_build(g);
	assert_int_equal(jg->nvertices, 3);
	/* Both sources' chains come first, in id order, then the walk's. */
	assert_string_equal(jg->vertices[0]->name, "Source: One");
	assert_string_equal(jg->vertices[1]->name, "Source: Two");
	assert_string_equal(jg->vertices[2]->name, "m -> Sink: k");
	assert_int_equal(jg->nedges, 2);
	assert_int_equal(jg->vertices[2]->ninputs, 2);
	/* Inputs in stream edge id order. */
	assert_ptr_equal(jg->vertices[2]->inputs[0]->stream_edge, e1);
	assert_ptr_equal(jg->vertices[2]->inputs[1]->stream_edge, e2);
	assert_int_equal(jg->vertices[2]->inputs[1]->target_input, 1);
	assert_int_equal(jg->edges[0]->partitioner, PART_FORWARD);
	assert_int_equal(job_graph_slots_needed(jg), 2);
	assert_int_equal(job_graph_subtask_count(jg), 6);
	job_graph_free(jg);
	stream_graph_free(g);
}

static void test_chained_name_with_two_outputs(void **state)
{
	struct stream_graph *g = stream_graph_new();
	struct stream_node *a = fx_node(g, OP_SOURCE_SEQUENCE, "a", -1);
	struct stream_node *b = fx_node(g, OP_MAP, "b", -1);
	struct stream_node *c = fx_node(g, OP_MAP, "c", -1);
	struct job_graph *jg;

	fx_edge(g, a, b, PART_UNSPECIFIED);
	fx_edge(g, a, c, PART_UNSPECIFIED);
	jg = fx_build(g);
	assert_int_equal(jg->nvertices, 1);
	assert_string_equal(jg->vertices[0]->name, "a -> (b, c)");
	assert_int_equal(jg->vertices[0]->noperators, 3);
	job_graph_free(jg);
	stream_graph_free(g);
}

/* Flink's createChainedName is recursive: each output contributes its own chained name. */
static void test_chained_name_nested(void **state)
{
	struct stream_graph *g = stream_graph_new();
	struct stream_node *src = fx_node(g, OP_SOURCE_SEQUENCE, "Source: s", -1);
	struct stream_node *a = fx_node(g, OP_MAP, "a", -1);
	struct stream_node *b = fx_node(g, OP_MAP, "b", -1);
	struct stream_node *c = fx_node(g, OP_MAP, "c", -1);
	struct stream_node *d = fx_node(g, OP_FILTER, "d", -1);
	struct stream_node *e = fx_node(g, OP_SINK_PRINT, "Sink: e", -1);
	struct stream_node *f = fx_node(g, OP_SINK_PRINT, "Sink: f", -1);
	struct stream_node *r = fx_node(g, OP_REDUCE, "r", -1);
	struct job_graph *jg;

	fx_edge(g, src, a, PART_UNSPECIFIED);
	fx_edge(g, a, b, PART_UNSPECIFIED);
	fx_edge(g, a, c, PART_UNSPECIFIED);
	fx_edge(g, b, d, PART_UNSPECIFIED);
	fx_edge(g, d, e, PART_UNSPECIFIED);
	fx_edge(g, c, f, PART_UNSPECIFIED);
	fx_key_by(g, a, r); /* not chained: its own vertex */
	jg = fx_build(g);
	assert_int_equal(jg->nvertices, 2);
	assert_string_equal(jg->vertices[0]->name,
	                    "Source: s -> a -> (b -> d -> Sink: e, c -> Sink: f)");
	assert_string_equal(jg->vertices[1]->name, "r");
	/* Head first, then depth first through the chained outputs in edge order. */
	assert_int_equal(jg->vertices[0]->noperators, 7);
	assert_ptr_equal(jg->vertices[0]->operators[0], src);
	assert_ptr_equal(jg->vertices[0]->operators[1], a);
	assert_ptr_equal(jg->vertices[0]->operators[2], b);
	assert_ptr_equal(jg->vertices[0]->operators[3], d);
	assert_ptr_equal(jg->vertices[0]->operators[4], e);
	assert_ptr_equal(jg->vertices[0]->operators[5], c);
	assert_ptr_equal(jg->vertices[0]->operators[6], f);
	assert_int_equal(r->vertex_index, 1);
	job_graph_free(jg);
	stream_graph_free(g);
}

/*
 * Vertex numbering follows the walk: chainable outputs first, then each non-chainable
 * target as it is reached. Here the source's only output is chained (map), the map has
 * two non-chained outputs (x at parallelism 3, then y keyed), and x feeds z.
 */
static void test_vertex_order_follows_the_walk(void **state)
{
	struct stream_graph *g = stream_graph_new();
	struct stream_node *src = fx_node(g, OP_SOURCE_SEQUENCE, "Source: s", 2);
	struct stream_node *map = fx_node(g, OP_MAP, "map", 2);
	struct stream_node *x = fx_node(g, OP_MAP, "x", 3);
	struct stream_node *y = fx_node(g, OP_REDUCE, "y", 2);
	struct stream_node *z = fx_node(g, OP_SINK_PRINT, "Sink: z", 1);
	struct job_graph *jg;

	fx_edge(g, src, map, PART_UNSPECIFIED);
	fx_edge(g, map, x, PART_UNSPECIFIED);
	fx_key_by(g, map, y);
	fx_edge(g, x, z, PART_UNSPECIFIED);
	jg = fx_build(g);
	assert_int_equal(jg->nvertices, 4);
	assert_string_equal(jg->vertices[0]->name, "Source: s -> map");
	assert_string_equal(jg->vertices[1]->name, "x");
	assert_string_equal(jg->vertices[2]->name, "Sink: z");
	assert_string_equal(jg->vertices[3]->name, "y");
	/* Job edges in stream edge id order: map->x, map->y, x->z. */
	assert_ptr_equal(jg->edges[0]->target, jg->vertices[1]);
	assert_ptr_equal(jg->edges[1]->target, jg->vertices[3]);
	assert_ptr_equal(jg->edges[2]->target, jg->vertices[2]);
	assert_int_equal(jg->vertices[0]->noutputs, 2);
	assert_int_equal(jg->edges[1]->source_output, 1);
	assert_int_equal(job_graph_subtask_count(jg), 8);
	assert_int_equal(job_graph_slots_needed(jg), 3);
	job_graph_free(jg);
	stream_graph_free(g);
}

static void test_unfinalized_graph_is_rejected(void **state)
{
	struct stream_graph *g = fx_wordcount(2);
	struct spate_error err = {0};
	struct job_graph *jg = (struct job_graph *)1;

	assert_int_equal(job_graph_build(g, &jg, &err), SPATE_EINVAL);
	assert_null(jg);
	assert_string_equal(err.msg, "stream graph is not finalized: operator "
	                             "'Source: in-memory-input' has no resolved parallelism or "
	                             "slot sharing group");
	stream_graph_free(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_seed_example_parallelism_2),
	    cmocka_unit_test(test_seed_example_parallelism_6),
	    cmocka_unit_test(test_wordcount_parallelism_1),
	    cmocka_unit_test(test_wordcount_parallelism_2),
	    cmocka_unit_test(test_wordcount_parallelism_9),
	    cmocka_unit_test(test_vertex_structure_and_edges),
	    cmocka_unit_test(test_ids_are_hex_deterministic_and_distinct),
	    cmocka_unit_test(test_default_job_name),
	    cmocka_unit_test(test_max_parallelism_of_vertices),
	    cmocka_unit_test(test_two_slot_sharing_groups),
	    cmocka_unit_test(test_union_of_groups_goes_to_default),
	    cmocka_unit_test(test_full_chain_by_default),
	    cmocka_unit_test(test_chaining_disabled_for_job),
	    cmocka_unit_test(test_disable_chaining_splits_both_sides),
	    cmocka_unit_test(test_start_new_chain_splits_before_only),
	    cmocka_unit_test(test_slot_sharing_group_breaks_chain),
	    cmocka_unit_test(test_parallelism_change_breaks_chain_with_rebalance),
	    cmocka_unit_test(test_explicit_partitioners_never_chain),
	    cmocka_unit_test(test_union_never_chains),
	    cmocka_unit_test(test_chained_name_with_two_outputs),
	    cmocka_unit_test(test_chained_name_nested),
	    cmocka_unit_test(test_vertex_order_follows_the_walk),
	    cmocka_unit_test(test_unfinalized_graph_is_rejected),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
