/*
 * graph_fixtures.h - small builders shared by the graph unit tests, so that each test
 * reads as the job it describes (source -> map -> keyBy -> sink) rather than as calls.
 * The expected numbers in the tests are worked out by hand from Flink's rules; nothing
 * here computes them.
 */
#ifndef SPATE_TESTS_GRAPH_FIXTURES_H
#define SPATE_TESTS_GRAPH_FIXTURES_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "core/alloc.h"
#include "graph/execution_graph.h"
#include "graph/job_graph.h"
#include "graph/stream_graph.h"

/* A node with parallelism p (-1 = unset, take the default). */
static inline struct stream_node *fx_node(struct stream_graph *g, enum op_kind kind,
                                          const char *name, int p)
{
	struct stream_node *n = stream_graph_add_node(g, kind, name);
	n->parallelism = p;
	return n;
}

static inline void fx_set_group(struct stream_node *n, const char *group)
{
	xfree(n->slot_sharing_group_user);
	n->slot_sharing_group_user = xstrdup(group);
}

/* An edge as the API makes it: UNSPECIFIED means "the user said nothing". */
static inline struct stream_edge *fx_edge(struct stream_graph *g, struct stream_node *a,
                                          struct stream_node *b, enum partitioner p)
{
	return stream_graph_add_edge(g, a, b, p, p != PART_UNSPECIFIED, 0, NULL);
}

/* keyBy(field 0) into b. */
static inline struct stream_edge *fx_key_by(struct stream_graph *g, struct stream_node *a,
                                            struct stream_node *b)
{
	int field = 0;
	struct key_spec key = {.nfields = 1, .fields = &field};
	b->keyed = true;
	key_spec_copy(&b->key, &key);
	return stream_graph_add_edge(g, a, b, PART_HASH, true, 0, &key);
}

/*
 * Flink's streaming WordCount example: source "in-memory-input" -> flatMap "tokenizer"
 * -> keyBy(word) -> sum "counter" -> print(), here with the sink at parallelism 1.
 */
static inline struct stream_graph *fx_wordcount(int default_parallelism)
{
	struct stream_graph *g = stream_graph_new();
	struct stream_node *src, *tok, *cnt, *sink;

	g->job_name = xstrdup("WordCount");
	g->default_parallelism = default_parallelism;
	src = fx_node(g, OP_SOURCE_COLLECTION, "Source: in-memory-input", -1);
	tok = fx_node(g, OP_FLAT_MAP, "tokenizer", -1);
	cnt = fx_node(g, OP_AGGREGATE, "counter", -1);
	sink = fx_node(g, OP_SINK_PRINT, "Sink: Print to Std. Out", 1);
	fx_edge(g, src, tok, PART_UNSPECIFIED);
	fx_key_by(g, tok, cnt);
	fx_edge(g, cnt, sink, PART_UNSPECIFIED);
	return g;
}

/* Finalize and build, failing the test on any error. */
static inline struct job_graph *fx_build(struct stream_graph *g)
{
	struct spate_error err = {0};
	struct job_graph *jg = NULL;
	int rc = stream_graph_finalize(g, &err);
	if (rc)
		fail_msg("finalize failed: %s", err.msg);
	rc = job_graph_build(g, &jg, &err);
	if (rc)
		fail_msg("job_graph_build failed: %s", err.msg);
	return jg;
}

/* The vertex with this exact name, failing the test if there is none. */
static inline struct job_vertex *fx_vertex(const struct job_graph *jg, const char *name)
{
	for (int i = 0; i < jg->nvertices; i++)
		if (strcmp(jg->vertices[i]->name, name) == 0)
			return jg->vertices[i];
	fail_msg("no job vertex named '%s'", name);
	return NULL;
}

#endif
