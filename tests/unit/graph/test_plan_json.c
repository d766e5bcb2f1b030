/*
 * test_plan_json.c - the plan JSON: Flink's StreamGraph plan ("nodes"), Flink's REST plan
 * of the job graph ("jobGraph") and the summary. The produced text is parsed back with
 * jansson and checked field by field.
 */
#include "graph_fixtures.h"

#include <jansson.h>

static json_t *plan_of(struct job_graph *jg)
{
	json_error_t jerr;
	char *text = job_graph_plan_json(jg);
	json_t *root;

	assert_non_null(text);
	root = json_loads(text, 0, &jerr);
	if (!root)
		fail_msg("plan is not JSON: %s at line %d", jerr.text, jerr.line);
	/* JSON_INDENT(2): pretty-printed, two spaces. */
	assert_non_null(strstr(text, "{\n  \"nodes\": ["));
	xfree(text);
	return root;
}

static const char *str_at(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	if (!json_is_string(v))
		fail_msg("\"%s\" is not a string", key);
	return json_string_value(v);
}

static json_int_t int_at(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	if (!json_is_integer(v))
		fail_msg("\"%s\" is not an integer", key);
	return json_integer_value(v);
}

static void assert_predecessor(json_t *node, size_t k, int id, const char *ship)
{
	json_t *preds = json_object_get(node, "predecessors");
	json_t *p;

	assert_true(json_is_array(preds));
	p = json_array_get(preds, k);
	assert_non_null(p);
	assert_int_equal(int_at(p, "id"), id);
	assert_string_equal(str_at(p, "ship_strategy"), ship);
	assert_string_equal(str_at(p, "side"), "second");
}

static void test_wordcount_stream_nodes(void **state)
{
	struct stream_graph *g = fx_wordcount(2);
	struct job_graph *jg = fx_build(g);
	json_t *root = plan_of(jg);
	json_t *nodes = json_object_get(root, "nodes");
	json_t *n;

	assert_int_equal(json_array_size(nodes), 4);

	n = json_array_get(nodes, 0);
	assert_int_equal(int_at(n, "id"), 1);
	assert_string_equal(str_at(n, "type"), "Source: in-memory-input");
	assert_string_equal(str_at(n, "pact"), "Data Source");
	assert_string_equal(str_at(n, "contents"), "Source: in-memory-input");
	assert_int_equal(int_at(n, "parallelism"), 2);
	assert_true(json_is_null(json_object_get(n, "uid")));
	assert_null(json_object_get(n, "predecessors")); /* only nodes with inputs */

	n = json_array_get(nodes, 1);
	assert_int_equal(int_at(n, "id"), 2);
	assert_string_equal(str_at(n, "type"), "tokenizer");
	assert_string_equal(str_at(n, "pact"), "Operator");
	assert_string_equal(str_at(n, "contents"), "tokenizer");
	assert_int_equal(int_at(n, "parallelism"), 2);
	assert_predecessor(n, 0, 1, "FORWARD");

	n = json_array_get(nodes, 2);
	assert_int_equal(int_at(n, "id"), 3);
	assert_string_equal(str_at(n, "contents"), "counter");
	assert_string_equal(str_at(n, "pact"), "Operator");
	assert_int_equal(int_at(n, "parallelism"), 2);
	assert_int_equal(json_array_size(json_object_get(n, "predecessors")), 1);
	assert_predecessor(n, 0, 2, "HASH");

	n = json_array_get(nodes, 3);
	assert_int_equal(int_at(n, "id"), 4);
	assert_string_equal(str_at(n, "type"), "Sink: Print to Std. Out");
	assert_string_equal(str_at(n, "pact"), "Data Sink");
	assert_int_equal(int_at(n, "parallelism"), 1);
	assert_predecessor(n, 0, 3, "REBALANCE");

	json_decref(root);
	job_graph_free(jg);
	stream_graph_free(g);
}

static void test_wordcount_job_graph_and_summary(void **state)
{
	struct stream_graph *g = fx_wordcount(2);
	struct job_graph *jg = fx_build(g);
	json_t *root = plan_of(jg);
	json_t *job = json_object_get(root, "jobGraph");
	json_t *vertices = json_object_get(job, "nodes");
	json_t *summary = json_object_get(root, "summary");
	json_t *v, *inputs, *in;

	assert_string_equal(str_at(job, "jid"), jg->job_id);
	assert_string_equal(str_at(job, "name"), "WordCount");
	assert_string_equal(str_at(job, "type"), "STREAMING");
	assert_int_equal(json_array_size(vertices), 3);

	v = json_array_get(vertices, 0);
	assert_string_equal(str_at(v, "id"), jg->vertices[0]->id);
	assert_int_equal(int_at(v, "parallelism"), 2);
	assert_string_equal(str_at(v, "operator"), "Source: in-memory-input -> tokenizer");
	assert_string_equal(str_at(v, "description"), "Source: in-memory-input -> tokenizer");
	assert_string_equal(str_at(v, "operator_strategy"), "");
	assert_string_equal(str_at(v, "slotSharingGroup"), "default");
	assert_int_equal(int_at(v, "maxParallelism"), 128);
	assert_null(json_object_get(v, "inputs"));

	v = json_array_get(vertices, 1);
	assert_string_equal(str_at(v, "operator"), "counter");
	inputs = json_object_get(v, "inputs");
	assert_int_equal(json_array_size(inputs), 1);
	in = json_array_get(inputs, 0);
	assert_int_equal(int_at(in, "num"), 0);
	assert_string_equal(str_at(in, "id"), jg->vertices[0]->id);
	assert_string_equal(str_at(in, "ship_strategy"), "HASH");
	assert_string_equal(str_at(in, "exchange"), "pipelined_bounded");

	v = json_array_get(vertices, 2);
	assert_string_equal(str_at(v, "operator"), "Sink: Print to Std. Out");
	assert_int_equal(int_at(v, "parallelism"), 1);
	in = json_array_get(json_object_get(v, "inputs"), 0);
	assert_string_equal(str_at(in, "id"), jg->vertices[1]->id);
	assert_string_equal(str_at(in, "ship_strategy"), "REBALANCE");

	assert_int_equal(int_at(summary, "jobVertices"), 3);
	assert_int_equal(int_at(summary, "subtasks"), 5);
	assert_int_equal(int_at(summary, "slotsNeeded"), 2);

	json_decref(root);
	job_graph_free(jg);
	stream_graph_free(g);
}

static void test_wordcount_p9_summary(void **state)
{
	struct stream_graph *g = fx_wordcount(9);
	struct job_graph *jg = fx_build(g);
	json_t *root = plan_of(jg);
	json_t *summary = json_object_get(root, "summary");

	assert_int_equal(int_at(summary, "jobVertices"), 3);
	assert_int_equal(int_at(summary, "subtasks"), 19);
	assert_int_equal(int_at(summary, "slotsNeeded"), 9);
	json_decref(root);
	job_graph_free(jg);
	stream_graph_free(g);
}

/*
 * Flink's JSONGenerator lists sinks after every other node. Here a sink (id 2) is added
 * before a map (id 3) and a second sink (id 4): the order is 1, 3, 2, 4. A union node's
 * predecessors come in edge order, all marked "second" as Flink does.
 */
static void test_sinks_last_and_union_predecessors(void **state)
{
	struct stream_graph *g = stream_graph_new();
	struct stream_node *src = fx_node(g, OP_SOURCE_GENERATOR, "Source: gen", 2);
	struct stream_node *early = fx_node(g, OP_SINK_COLLECT, "Sink: early", 2);
	struct stream_node *map = fx_node(g, OP_MAP, "Map", 3);
	struct stream_node *late = fx_node(g, OP_SINK_PRINT, "Sink: late", 3);
	struct job_graph *jg;
	json_t *root, *nodes;

	src->uid = xstrdup("the-source");
	fx_edge(g, src, early, PART_UNSPECIFIED);
	fx_edge(g, src, map, PART_RESCALE);
	fx_edge(g, src, late, PART_BROADCAST);
	fx_edge(g, map, late, PART_UNSPECIFIED);
	jg = fx_build(g);
	root = plan_of(jg);
	nodes = json_object_get(root, "nodes");

	assert_int_equal(json_array_size(nodes), 4);
	assert_int_equal(int_at(json_array_get(nodes, 0), "id"), 1);
	assert_int_equal(int_at(json_array_get(nodes, 1), "id"), 3);
	assert_int_equal(int_at(json_array_get(nodes, 2), "id"), 2);
	assert_int_equal(int_at(json_array_get(nodes, 3), "id"), 4);
	assert_string_equal(str_at(json_array_get(nodes, 0), "uid"), "the-source");
	assert_predecessor(json_array_get(nodes, 1), 0, 1, "RESCALE");
	assert_predecessor(json_array_get(nodes, 2), 0, 1, "FORWARD");
	assert_int_equal(json_array_size(json_object_get(json_array_get(nodes, 3), "predecessors")),
	                 2);
	assert_predecessor(json_array_get(nodes, 3), 0, 1, "BROADCAST");
	assert_predecessor(json_array_get(nodes, 3), 1, 3, "FORWARD");

	/* Job graph: "Source: gen -> Sink: early" (2), "Map" (3), "Sink: late" (3). */
	json_t *summary = json_object_get(root, "summary");
	assert_int_equal(int_at(summary, "jobVertices"), 3);
	assert_int_equal(int_at(summary, "subtasks"), 8);
	assert_int_equal(int_at(summary, "slotsNeeded"), 3);
	json_t *vertices = json_object_get(json_object_get(root, "jobGraph"), "nodes");
	assert_string_equal(str_at(json_array_get(vertices, 0), "operator"),
	                    "Source: gen -> Sink: early");
	json_t *late_inputs = json_object_get(json_array_get(vertices, 2), "inputs");
	assert_int_equal(json_array_size(late_inputs), 2);
	assert_int_equal(int_at(json_array_get(late_inputs, 1), "num"), 1);
	assert_string_equal(str_at(json_array_get(late_inputs, 0), "ship_strategy"), "BROADCAST");
	assert_string_equal(str_at(json_array_get(late_inputs, 1), "ship_strategy"), "FORWARD");

	json_decref(root);
	job_graph_free(jg);
	stream_graph_free(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_wordcount_stream_nodes),
	    cmocka_unit_test(test_wordcount_job_graph_and_summary),
	    cmocka_unit_test(test_wordcount_p9_summary),
	    cmocka_unit_test(test_sinks_last_and_union_predecessors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
