/*
 * execution_graph.c - JobGraph -> ExecutionGraph: each job vertex split into its parallel
 * subtasks, each subtask given its key-group range, and the subtask-level wiring of each
 * job edge.
 *
 * The wiring is not stored per subtask pair: it is a pure function of the edge's
 * partitioner and the two parallelisms (Flink's VertexInputInfoComputationUtils,
 * flink-facts.md §3), so the scheduler, the task deployment descriptors and the network
 * stack all ask execution_edge_consumers/producers and always agree. An all-to-all edge
 * between two vertices of parallelism 1000 would otherwise cost a million entries.
 */
#include "graph/execution_graph.h"

#include "core/alloc.h"
#include "types/keygroup.h"

int execution_graph_build(struct job_graph *jg, struct execution_graph **out,
                          struct spate_error *err)
{
	struct execution_graph *eg;

	*out = NULL;
	for (int i = 0; i < jg->nvertices; i++) {
		const struct job_vertex *v = jg->vertices[i];
		/* Key groups cannot be split: each subtask needs at least one. */
		if (v->parallelism < 1 || v->parallelism > v->max_parallelism ||
		    v->max_parallelism > KEY_GROUP_UPPER_BOUND)
			return error_set(
			    err, SPATE_EGRAPH,
			    "job vertex '%s' has parallelism %d, which must be between 1 "
			    "and its max parallelism %d (at most %d)",
			    v->name, v->parallelism, v->max_parallelism, KEY_GROUP_UPPER_BOUND);
	}

	eg = xcalloc(1, sizeof *eg);
	eg->job_graph = jg;
	eg->nvertices = jg->nvertices;
	eg->by_vertex = xcalloc((size_t)(jg->nvertices ? jg->nvertices : 1), sizeof *eg->by_vertex);
	for (int i = 0; i < jg->nvertices; i++) {
		struct job_vertex *v = jg->vertices[i];
		struct execution_vertex *subtasks =
		    xcalloc((size_t)v->parallelism, sizeof *subtasks);

		for (int k = 0; k < v->parallelism; k++) {
			subtasks[k].job_vertex = v;
			subtasks[k].subtask = k;
			key_group_range(v->max_parallelism, v->parallelism, k,
			                &subtasks[k].key_group_first, &subtasks[k].key_group_last);
		}
		eg->by_vertex[v->index] = subtasks;
		eg->nsubtasks += v->parallelism;
	}
	*out = eg;
	return 0;
}

void execution_graph_free(struct execution_graph *eg)
{
	if (!eg)
		return;
	for (int i = 0; i < eg->nvertices; i++)
		xfree(eg->by_vertex[i]);
	xfree(eg->by_vertex);
	xfree(eg);
}

/*
 * Pointwise wiring, inverted where needed. Flink states it per consumer when S >= T
 * (consumer j reads [j*S/T, (j+1)*S/T - 1]) and per producer when S < T (producer i feeds
 * [(i*T + S - 1)/S, ((i+1)*T + S - 1)/S - 1]). In the first case each producer feeds one
 * consumer: the last j whose range starts at or before i, i.e. the largest j with
 * j*S/T <= i, which is ((i+1)*T - 1)/S. In the second each consumer reads one producer: the
 * largest i with ceil(i*T/S) <= j, which is j*S/T. 64-bit products keep 32768 * 32768 exact.
 */
int execution_edge_consumers(const struct job_edge *e, int i, int *first)
{
	int64_t s = e->source->parallelism;
	int64_t t = e->target->parallelism;

	if (!partitioner_is_pointwise(e->partitioner)) {
		*first = 0;
		return (int)t;
	}
	if (s >= t) {
		*first = (int)(((i + 1) * t - 1) / s);
		return 1;
	}
	int64_t lo = (i * t + s - 1) / s;
	int64_t hi = ((i + 1) * t + s - 1) / s; /* exclusive */
	*first = (int)lo;
	return (int)(hi - lo);
}

int execution_edge_producers(const struct job_edge *e, int j, int *first)
{
	int64_t s = e->source->parallelism;
	int64_t t = e->target->parallelism;

	if (!partitioner_is_pointwise(e->partitioner)) {
		*first = 0;
		return (int)s;
	}
	if (s >= t) {
		int64_t lo = j * s / t;
		int64_t hi = (j + 1) * s / t; /* exclusive */
		*first = (int)lo;
		return (int)(hi - lo);
	}
	*first = (int)(j * s / t);
	return 1;
}
