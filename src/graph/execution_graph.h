/*
 * execution_graph.h - the ExecutionGraph: every job vertex split into `parallelism`
 * subtasks (execution vertices), with key-group ranges, and the wiring of each job edge.
 *
 * Wiring (flink-facts.md §3): pointwise edges (FORWARD, RESCALE) connect producer i to a
 * contiguous range of consumers (S >= T: consumer j reads producers [j*S/T, (j+1)*S/T - 1];
 * S < T: producer i feeds consumers [(i*T + S - 1)/S, ((i+1)*T + S - 1)/S - 1]); all other
 * edges connect every producer to every consumer. Either way a producer's consumers and a
 * consumer's producers are contiguous ranges, and producer i's result partition for the
 * edge has one subpartition per consumer in its range, in order.
 */
#ifndef SPATE_GRAPH_EXECUTION_GRAPH_H
#define SPATE_GRAPH_EXECUTION_GRAPH_H

#include "graph/job_graph.h"

struct execution_vertex {
	struct job_vertex *job_vertex; /* borrowed */
	int subtask;                   /* 0-based index */
	int key_group_first;           /* key groups [first, last] owned by this subtask */
	int key_group_last;
};

struct execution_graph {
	struct job_graph *job_graph;         /* borrowed */
	struct execution_vertex **by_vertex; /* by_vertex[jv->index][subtask] (owned arrays) */
	int nsubtasks;                       /* total */
	int nvertices;                       /* entries in by_vertex (the job graph's count
	                                        when built, so freeing needs no job graph) */
};

int execution_graph_build(struct job_graph *jg, struct execution_graph **out,
                          struct spate_error *err);
void execution_graph_free(struct execution_graph *eg);

/* Consumers of producer `i` on edge e: returns the count, *first gets the first index. */
int execution_edge_consumers(const struct job_edge *e, int i, int *first);
/* Producers feeding consumer `j` on edge e: returns the count, *first gets the first. */
int execution_edge_producers(const struct job_edge *e, int j, int *first);

#endif
