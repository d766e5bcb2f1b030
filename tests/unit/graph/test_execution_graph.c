/*
 * test_execution_graph.c - subtasks, key-group ranges and the subtask-level wiring of each
 * partitioner (flink-facts.md §3). The pointwise cases are worked out by hand from Flink's
 * VertexInputInfoComputationUtils formulas and written as literals.
 */
#include "graph_fixtures.h"

/* A source at parallelism s feeding an operator at parallelism t through partitioner p. */
struct two_vertices {
	struct stream_graph *g;
	struct job_graph *jg;
	struct job_edge *edge;
};

static struct two_vertices two_vertices(int s, int t, enum partitioner p)
{
	struct two_vertices tv;
	struct stream_node *src, *op;

	tv.g = stream_graph_new();
	src = fx_node(tv.g, OP_SOURCE_SEQUENCE, "Source: s", s);
	op = fx_node(tv.g, OP_PROCESS, "op", t);
	if (p == PART_HASH)
		fx_key_by(tv.g, src, op);
	else
		fx_edge(tv.g, src, op, p);
	tv.g->chaining_enabled = false; /* keep a forward edge physical */
	tv.jg = fx_build(tv.g);
	assert_int_equal(tv.jg->nedges, 1);
	tv.edge = tv.jg->edges[0];
	return tv;
}

static void two_vertices_free(struct two_vertices *tv)
{
	job_graph_free(tv->jg);
	stream_graph_free(tv->g);
}

/* Asserts consumers(i) == [first, first + n) on the edge. */
static void assert_consumers(const struct job_edge *e, int i, int first, int n)
{
	int got_first = -1;
	int got_n = execution_edge_consumers(e, i, &got_first);
	assert_int_equal(got_n, n);
	assert_int_equal(got_first, first);
}

static void assert_producers(const struct job_edge *e, int j, int first, int n)
{
	int got_first = -1;
	int got_n = execution_edge_producers(e, j, &got_first);
	assert_int_equal(got_n, n);
	assert_int_equal(got_first, first);
}

static void test_forward_is_one_to_one(void **state)
{
	struct two_vertices tv = two_vertices(3, 3, PART_FORWARD);

	for (int i = 0; i < 3; i++) {
		assert_consumers(tv.edge, i, i, 1);
		assert_producers(tv.edge, i, i, 1);
	}
	two_vertices_free(&tv);
}

static void test_rescale_4_to_2(void **state)
{
	struct two_vertices tv = two_vertices(4, 2, PART_RESCALE);

	/* Consumer 0 reads producers 0,1; consumer 1 reads 2,3. */
	assert_producers(tv.edge, 0, 0, 2);
	assert_producers(tv.edge, 1, 2, 2);
	assert_consumers(tv.edge, 0, 0, 1);
	assert_consumers(tv.edge, 1, 0, 1);
	assert_consumers(tv.edge, 2, 1, 1);
	assert_consumers(tv.edge, 3, 1, 1);
	two_vertices_free(&tv);
}

static void test_rescale_2_to_4(void **state)
{
	struct two_vertices tv = two_vertices(2, 4, PART_RESCALE);

	/* Producer 0 feeds consumers 0,1; producer 1 feeds 2,3. */
	assert_consumers(tv.edge, 0, 0, 2);
	assert_consumers(tv.edge, 1, 2, 2);
	assert_producers(tv.edge, 0, 0, 1);
	assert_producers(tv.edge, 1, 0, 1);
	assert_producers(tv.edge, 2, 1, 1);
	assert_producers(tv.edge, 3, 1, 1);
	two_vertices_free(&tv);
}

static void test_rescale_3_to_2(void **state)
{
	struct two_vertices tv = two_vertices(3, 2, PART_RESCALE);

	/* S >= T: consumer j reads [j*3/2, (j+1)*3/2 - 1]: j=0 -> [0,0], j=1 -> [1,2]. */
	assert_producers(tv.edge, 0, 0, 1);
	assert_producers(tv.edge, 1, 1, 2);
	assert_consumers(tv.edge, 0, 0, 1);
	assert_consumers(tv.edge, 1, 1, 1);
	assert_consumers(tv.edge, 2, 1, 1);
	two_vertices_free(&tv);
}

static void test_rescale_2_to_3(void **state)
{
	struct two_vertices tv = two_vertices(2, 3, PART_RESCALE);

	/* S < T: producer i feeds [(3i+1)/2, (3(i+1)+1)/2 - 1]: i=0 -> [0,1], i=1 -> [2,2]. */
	assert_consumers(tv.edge, 0, 0, 2);
	assert_consumers(tv.edge, 1, 2, 1);
	assert_producers(tv.edge, 0, 0, 1);
	assert_producers(tv.edge, 1, 0, 1);
	assert_producers(tv.edge, 2, 1, 1);
	two_vertices_free(&tv);
}

static void test_rescale_7_to_3(void **state)
{
	struct two_vertices tv = two_vertices(7, 3, PART_RESCALE);

	/* j=0: [0, 7/3-1=1]; j=1: [7/3=2, 14/3-1=3]; j=2: [14/3=4, 21/3-1=6]. */
	assert_producers(tv.edge, 0, 0, 2);
	assert_producers(tv.edge, 1, 2, 2);
	assert_producers(tv.edge, 2, 4, 3);
	const int consumer_of[7] = {0, 0, 1, 1, 2, 2, 2};
	for (int i = 0; i < 7; i++)
		assert_consumers(tv.edge, i, consumer_of[i], 1);
	two_vertices_free(&tv);
}

static void test_all_to_all_partitioners(void **state)
{
	const enum partitioner parts[] = {PART_REBALANCE, PART_SHUFFLE, PART_BROADCAST, PART_GLOBAL,
	                                  PART_HASH};

	for (size_t k = 0; k < sizeof parts / sizeof *parts; k++) {
		struct two_vertices tv = two_vertices(3, 5, parts[k]);
		for (int i = 0; i < 3; i++)
			assert_consumers(tv.edge, i, 0, 5);
		for (int j = 0; j < 5; j++)
			assert_producers(tv.edge, j, 0, 3);
		two_vertices_free(&tv);

		tv = two_vertices(4, 4, parts[k]);
		for (int i = 0; i < 4; i++) {
			assert_consumers(tv.edge, i, 0, 4);
			assert_producers(tv.edge, i, 0, 4);
		}
		two_vertices_free(&tv);
	}
}

/*
 * Over many (S, T), the wiring agrees with Flink's two formulas, restated here
 * independently: every consumer's producers and every producer's consumers are the same
 * relation, and every producer and consumer is connected.
 */
static void test_rescale_matches_flink_formulas(void **state)
{
	for (int s = 1; s <= 12; s++) {
		for (int t = 1; t <= 12; t++) {
			struct two_vertices tv = two_vertices(s, t, PART_RESCALE);
			bool link[12][12] = {{false}};

			if (s >= t) {
				for (int j = 0; j < t; j++)
					for (int i = j * s / t; i <= (j + 1) * s / t - 1; i++)
						link[i][j] = true;
			} else {
				for (int i = 0; i < s; i++)
					for (int j = (i * t + s - 1) / s;
					     j <= ((i + 1) * t + s - 1) / s - 1; j++)
						link[i][j] = true;
			}
			for (int i = 0; i < s; i++) {
				int first, n = execution_edge_consumers(tv.edge, i, &first);
				assert_true(n >= 1);
				for (int j = 0; j < t; j++)
					assert_int_equal(link[i][j], j >= first && j < first + n);
			}
			for (int j = 0; j < t; j++) {
				int first, n = execution_edge_producers(tv.edge, j, &first);
				assert_true(n >= 1);
				for (int i = 0; i < s; i++)
					assert_int_equal(link[i][j], i >= first && i < first + n);
			}
			two_vertices_free(&tv);
		}
	}
}

static void test_key_group_ranges_128_over_3(void **state)
{
	struct spate_error err = {0};
	struct two_vertices tv;
	struct execution_graph *eg;
	struct execution_vertex *op;

	tv.g = stream_graph_new();
	struct stream_node *src = fx_node(tv.g, OP_SOURCE_SEQUENCE, "Source: s", 1);
	struct stream_node *red = fx_node(tv.g, OP_REDUCE, "r", 3);
	red->max_parallelism = 128;
	fx_key_by(tv.g, src, red);
	tv.jg = fx_build(tv.g);

	assert_int_equal(execution_graph_build(tv.jg, &eg, &err), 0);
	assert_int_equal(eg->nsubtasks, 4);
	op = eg->by_vertex[red->vertex_index];
	assert_int_equal(op[0].key_group_first, 0);
	assert_int_equal(op[0].key_group_last, 42);
	assert_int_equal(op[1].key_group_first, 43);
	assert_int_equal(op[1].key_group_last, 85);
	assert_int_equal(op[2].key_group_first, 86);
	assert_int_equal(op[2].key_group_last, 127);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(op[i].subtask, i);
		assert_ptr_equal(op[i].job_vertex, tv.jg->vertices[red->vertex_index]);
	}
	/* The source at parallelism 1 with the default max (128) owns every group. */
	assert_int_equal(eg->by_vertex[src->vertex_index][0].key_group_first, 0);
	assert_int_equal(eg->by_vertex[src->vertex_index][0].key_group_last, 127);
	execution_graph_free(eg);
	two_vertices_free(&tv);
}

static void test_key_group_ranges_default_max_for_100(void **state)
{
	struct spate_error err = {0};
	struct two_vertices tv = two_vertices(1, 100, PART_HASH);
	struct execution_graph *eg;
	struct job_vertex *v = tv.edge->target;
	struct execution_vertex *op;

	/* computeDefaultMaxParallelism(100) = roundUpToPowerOfTwo(150) = 256. */
	assert_int_equal(v->max_parallelism, 256);
	assert_int_equal(execution_graph_build(tv.jg, &eg, &err), 0);
	assert_int_equal(eg->nsubtasks, 101);
	op = eg->by_vertex[v->index];
	/* [(i*256 + 99)/100, ((i+1)*256 - 1)/100] */
	assert_int_equal(op[0].key_group_first, 0);
	assert_int_equal(op[0].key_group_last, 2);
	assert_int_equal(op[1].key_group_first, 3);
	assert_int_equal(op[1].key_group_last, 5);
	assert_int_equal(op[99].key_group_first, 254);
	assert_int_equal(op[99].key_group_last, 255);
	/* Contiguous, no gaps, nothing shared. */
	for (int i = 1; i < 100; i++)
		assert_int_equal(op[i].key_group_first, op[i - 1].key_group_last + 1);
	execution_graph_free(eg);
	two_vertices_free(&tv);
}

static void test_subtasks_of_wordcount(void **state)
{
	struct spate_error err = {0};
	struct stream_graph *g = fx_wordcount(9);
	struct job_graph *jg = fx_build(g);
	struct execution_graph *eg;

	assert_int_equal(execution_graph_build(jg, &eg, &err), 0);
	assert_ptr_equal(eg->job_graph, jg);
	assert_int_equal(eg->nsubtasks, 19);
	for (int v = 0; v < jg->nvertices; v++)
		for (int i = 0; i < jg->vertices[v]->parallelism; i++) {
			assert_ptr_equal(eg->by_vertex[v][i].job_vertex, jg->vertices[v]);
			assert_int_equal(eg->by_vertex[v][i].subtask, i);
		}
	/* Freeing the execution graph does not need the job graph any more. */
	job_graph_free(jg);
	execution_graph_free(eg);
	execution_graph_free(NULL);
	stream_graph_free(g);
}

static void test_parallelism_above_vertex_max_is_rejected(void **state)
{
	struct spate_error err = {0};
	struct two_vertices tv = two_vertices(2, 2, PART_REBALANCE);
	struct execution_graph *eg = (struct execution_graph *)1;

	/* Only reachable if someone edits the job graph after building it. */
	tv.jg->vertices[1]->max_parallelism = 1;
	assert_int_equal(execution_graph_build(tv.jg, &eg, &err), SPATE_EGRAPH);
	assert_null(eg);
	assert_string_equal(err.msg, "job vertex 'op' has parallelism 2, which must be between 1 "
	                             "and its max parallelism 1 (at most 32768)");
	two_vertices_free(&tv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_forward_is_one_to_one),
	    cmocka_unit_test(test_rescale_4_to_2),
	    cmocka_unit_test(test_rescale_2_to_4),
	    cmocka_unit_test(test_rescale_3_to_2),
	    cmocka_unit_test(test_rescale_2_to_3),
	    cmocka_unit_test(test_rescale_7_to_3),
	    cmocka_unit_test(test_all_to_all_partitioners),
	    cmocka_unit_test(test_rescale_matches_flink_formulas),
	    cmocka_unit_test(test_key_group_ranges_128_over_3),
	    cmocka_unit_test(test_key_group_ranges_default_max_for_100),
	    cmocka_unit_test(test_subtasks_of_wordcount),
	    cmocka_unit_test(test_parallelism_above_vertex_max_is_rejected),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
