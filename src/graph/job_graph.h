/*
 * job_graph.h - the JobGraph: operators chained into job vertices by Flink's rules
 * (flink-facts.md §1), physical job edges between them, and slot sharing groups (§2).
 *
 * Chaining: an edge up -> down chains when all hold: chaining is enabled for the graph;
 * down has exactly one input edge; same slot sharing group; up's strategy is not NEVER;
 * down's strategy is ALWAYS; same parallelism; the partitioner is FORWARD. Chains are built
 * by a depth-first walk from every source, in node id order. A vertex is named after its
 * chain: "a -> b" for one chained output, "a -> (b, c)" for several.
 */
#ifndef SPATE_GRAPH_JOB_GRAPH_H
#define SPATE_GRAPH_JOB_GRAPH_H

#include "graph/stream_graph.h"

struct job_edge;

struct job_vertex {
	int index;   /* position in job_graph.vertices (sources' chains first,
	                in the order the DFS creates them; this is not always a
	                topological order when a node has several inputs) */
	char id[33]; /* 32 lowercase hex chars, deterministic for the graph */
	char *name;  /* chained name (owned) */
	int parallelism;
	int max_parallelism;            /* the head's, else the graph's, else the default computed
	                                   from parallelism (key_group_default_max_parallelism) */
	const char *slot_sharing_group; /* borrowed from the head node */
	struct stream_node *head;       /* borrowed */
	struct stream_node **operators; /* owned array: the chain's nodes, head first (DFS order) */
	int noperators;
	struct job_edge **inputs; /* owned array of borrowed edges, in stream edge id order */
	int ninputs;
	struct job_edge **outputs; /* owned array: one result partition per output */
	int noutputs;
};

struct job_edge {
	struct job_vertex *source;       /* borrowed */
	struct job_vertex *target;       /* borrowed */
	struct stream_edge *stream_edge; /* borrowed: the physical edge */
	enum partitioner partitioner;    /* resolved (never UNSPECIFIED) */
	int source_output;               /* index in source->outputs */
	int target_input;                /* index in target->inputs */
};

struct job_graph {
	char job_id[33];                   /* 32 lowercase hex chars */
	char *job_name;                    /* owned */
	struct stream_graph *stream_graph; /* borrowed; must outlive the job graph */
	struct job_vertex **vertices;      /* owned */
	int nvertices;
	struct job_edge **edges; /* owned */
	int nedges;
};

/* Builds the job graph from a finalized stream graph (SPATE_EINVAL if it is not). Sets
 * every node's vertex_index. The job id is random; a graph without a job_name gets
 * "Spate Streaming Job". On success *out is new (free with job_graph_free). */
int job_graph_build(struct stream_graph *sg, struct job_graph **out, struct spate_error *err);
void job_graph_free(struct job_graph *jg);
/* A random id, like Flink's JobID: 16 random bytes as 32 lowercase hex chars. 0 or
 * SPATE_EIO with err set. */
int random_job_id(char out[33], struct spate_error *err);
/* Slots the job needs: the sum over slot sharing groups of the largest parallelism in it. */
int job_graph_slots_needed(const struct job_graph *jg);
/* Total subtasks: the sum of the vertices' parallelism. */
int job_graph_subtask_count(const struct job_graph *jg);
/* The job edge whose stream edge is `e`, or NULL if e is chained (inside one vertex). */
struct job_edge *job_graph_find_edge(const struct job_graph *jg, const struct stream_edge *e);

/*
 * The plan as JSON (new string, free with xfree): Flink's StreamGraph plan shape
 *   {"nodes":[{"id":1,"type":"Source: ...","pact":"Data Source"|"Operator"|"Data Sink",
 *    "contents":"...","parallelism":2,"operator":"...","uid":...,
 *    "predecessors":[{"id":1,"ship_strategy":"HASH","side":"second"}]}],
 *   plus "jobGraph": Flink's REST plan shape {"jid","name","type":"STREAMING","nodes":[{
 *    "id":"<hex>","parallelism":2,"operator":"<chained name>","operator_strategy":"",
 *    "description":"...","inputs":[{"num":0,"id":"<hex>","ship_strategy":"HASH",
 *    "exchange":"pipelined_bounded"}],"slotSharingGroup":"default","maxParallelism":128}]},
 *   and "summary": {"jobVertices":N,"subtasks":N,"slotsNeeded":N}.
 * Details: "nodes" lists non-sink nodes by id, then sinks by id (Flink's JSONGenerator);
 * "type" and "contents" are the node's name; "operator" is the Flink StreamOperator class
 * the node corresponds to ("SourceOperator", "StreamMap", "StreamFlatMap", "StreamFilter",
 * "StreamGroupedReduceOperator", "ProcessOperator"/"KeyedProcessOperator", "StreamSink");
 * "uid" is a string or null. "jobGraph" nodes are in vertex index order, "inputs" only on
 * vertices with inputs, and each also has Flink's empty "optimizer_properties":{}.
 * Returns NULL only if jansson fails to allocate.
 */
char *job_graph_plan_json(const struct job_graph *jg);

#endif
