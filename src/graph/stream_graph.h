/*
 * stream_graph.h - the StreamGraph: one node per operator, edges carry the partitioner.
 *
 * Built by the DataStream API (src/api) while the job's entry point runs; keyBy, union and
 * the partitioners are not nodes (as in Flink they are virtual): they set the partitioner
 * and key of the edges into the next operator. stream_graph_finalize() then resolves
 * defaults exactly as Flink does (flink-facts.md §1-§3):
 *   - parallelism: operator's own, else the graph's default (environment > -p > config >
 *     CPUs, resolved by the caller into default_parallelism); non-parallel sources get 1;
 *   - partitioner of an edge without one: FORWARD if both sides have the same parallelism,
 *     else REBALANCE; an explicit FORWARD across a parallelism change is an error with
 *     Flink's message;
 *   - slot sharing group: the user's, else inherited when all inputs agree, else "default".
 * Ownership: the graph owns its nodes and edges and every string in them.
 */
#ifndef SPATE_GRAPH_STREAM_GRAPH_H
#define SPATE_GRAPH_STREAM_GRAPH_H

#include <stdbool.h>
#include <stdint.h>

#include "core/error.h"
#include "types/row.h"

enum partitioner {
	PART_UNSPECIFIED = 0, /* resolved by finalize to FORWARD or REBALANCE */
	PART_FORWARD,
	PART_REBALANCE,
	PART_RESCALE,
	PART_SHUFFLE,
	PART_BROADCAST,
	PART_GLOBAL,
	PART_HASH, /* keyBy */
};
/* Flink's toString(): "FORWARD", "REBALANCE", "RESCALE", "SHUFFLE", "BROADCAST", "GLOBAL",
 * "HASH". */
const char *partitioner_name(enum partitioner p);
/* FORWARD and RESCALE are wired pointwise; the rest all-to-all. */
bool partitioner_is_pointwise(enum partitioner p);

enum chaining_strategy { CHAIN_ALWAYS = 0, CHAIN_HEAD, CHAIN_NEVER };

enum op_kind {
	OP_SOURCE_COLLECTION,
	OP_SOURCE_TEXT_FILE,
	OP_SOURCE_SEQUENCE,
	OP_SOURCE_GENERATOR,
	OP_SOURCE_SOCKET,
	OP_MAP,
	OP_FLAT_MAP,
	OP_FILTER,
	OP_REDUCE,
	OP_AGGREGATE,
	OP_PROCESS,
	OP_SINK_PRINT,
	OP_SINK_TEXT,
	OP_SINK_COLLECT,
	OP_SINK_FUNCTION, /* spate_stream_sink: a user function per row */
};
bool op_kind_is_source(enum op_kind k);
bool op_kind_is_sink(enum op_kind k);

enum agg_kind { AGG_SUM, AGG_MIN, AGG_MAX, AGG_MIN_BY, AGG_MAX_BY };

/* How a keyed edge / keyed operator extracts its key. */
struct key_spec {
	int nfields;               /* > 0: key is these fields of the row */
	int *fields;               /* owned, nfields entries */
	char *selector_fn;         /* or: a key selector function symbol (owned) */
	struct schema *key_schema; /* the key row's schema (owned); set in both cases */
};

struct param {
	char *key;   /* owned */
	char *value; /* owned */
};

struct stream_edge {
	int id;                     /* 1-based creation order */
	struct stream_node *source; /* borrowed */
	struct stream_node *target; /* borrowed */
	enum partitioner partitioner;
	bool partitioner_explicit; /* set by the user (forward/rescale/... or keyBy) */
	int type_number;           /* which input of the target (0 for one-input operators) */
	struct key_spec key;       /* for PART_HASH */
};

struct stream_node {
	int id; /* 1-based creation order, as Flink's transformation ids */
	enum op_kind kind;
	char *name;          /* shown name: "Source: Collection Source", "Map", user's name */
	char *uid;           /* NULL unless set */
	int parallelism;     /* -1 = unset until finalize */
	int max_parallelism; /* -1 = unset (then the default is computed per job vertex) */
	bool non_parallel;   /* a source that can only run with parallelism 1 */
	enum chaining_strategy chaining;
	char *slot_sharing_group_user; /* as set by the user, or NULL */
	char *slot_sharing_group;      /* resolved by finalize, never NULL after it */
	struct schema *out_schema;     /* NULL for sinks */
	struct schema *in_schema; /* borrowed from the first input's out_schema; NULL for sources */

	/* operator configuration (which fields apply depends on kind) */
	char *fn_name;       /* user function symbol (map, flat_map, filter, reduce, process,
	                        generator), else NULL */
	char *end_fn_name;   /* end-of-input function symbol (spate_stream_on_end) or NULL */
	bool keyed;          /* runs on a keyed stream: key below is valid */
	struct key_spec key; /* the key of the input (copied from the hash edge) */
	enum agg_kind agg;
	int agg_field; /* field index for OP_AGGREGATE */
	char *path;    /* text file source paths, text sink directory, collect name */
	char *host;    /* socket source */
	int port;
	int64_t from, to; /* sequence source, inclusive */
	int64_t count;    /* generator: number of records, < 0 unbounded */
	double rate;      /* generator: records per second in total, 0 = unlimited */
	uint8_t *data;    /* collection source: rows back to back (owned) */
	size_t data_len;
	size_t data_count;
	struct param *params; /* owned, nparams entries */
	int nparams;

	struct stream_edge **in_edges; /* owned array of borrowed pointers */
	int nin;
	struct stream_edge **out_edges; /* owned array of borrowed pointers */
	int nout;

	int vertex_index; /* set by job_graph_build: the job vertex holding this node */
};

struct stream_graph {
	char *job_name;          /* owned */
	int default_parallelism; /* resolved default for nodes without their own (>= 1) */
	int max_parallelism;     /* environment's max parallelism, or -1 */
	bool chaining_enabled;
	int64_t
	    buffer_timeout_ms; /* execution.buffer-timeout.interval; -1 = flush only when full */
	struct stream_node **nodes; /* owned; index i holds id i+1 */
	int nnodes;
	struct stream_edge **edges; /* owned; index i holds id i+1 */
	int nedges;
	/* The job's own configuration values (checkpointing, state, restarts, recovery),
	 * which win over the cluster's for this job: owned, njob_config entries. */
	struct param *job_config;
	int njob_config;
};

struct stream_graph *stream_graph_new(void);
void stream_graph_free(struct stream_graph *g);
/* Adds a node with defaults (parallelism -1, max -1, CHAIN_ALWAYS); name is copied. */
struct stream_node *stream_graph_add_node(struct stream_graph *g, enum op_kind kind,
                                          const char *name);
/* Adds an edge; the key (if any) is copied from `key` (may be NULL). */
struct stream_edge *stream_graph_add_edge(struct stream_graph *g, struct stream_node *source,
                                          struct stream_node *target, enum partitioner p,
                                          bool explicit_partitioner, int type_number,
                                          const struct key_spec *key);
/* Sets a job configuration value (copied; replaces an earlier one of the same key). */
void stream_graph_set_job_config(struct stream_graph *g, const char *key, const char *value);
/* The operator's id for checkpoints: its uid, or "node-<id>" without one. */
void stream_node_operator_id(const struct stream_node *n, char *out, size_t cap);
void key_spec_copy(struct key_spec *dst, const struct key_spec *src);
void key_spec_release(struct key_spec *k);
/*
 * Resolves defaults and validates (see the top of this file); SPATE_EGRAPH with `err`
 * naming the operator on failure. Parallelism -1 means unset; any other value is the
 * user's and must be 1..32768 and at most the max parallelism (the node's, else the
 * graph's, when set; itself 1..32768). Also rejects an empty graph, a source with inputs,
 * a non-source without inputs, a sink with outputs, an edge to a lower id, and a HASH
 * edge without a key. Sets in_schema. Meant to run once, after the default parallelism
 * is final: a node's resolved parallelism is not re-resolved by a second call.
 */
int stream_graph_finalize(struct stream_graph *g, struct spate_error *err);

#endif
