/*
 * graph_codec.h - a finalized StreamGraph to bytes and back: the job graph that the client
 * ships to the JobManager and the JobManager ships to TaskManagers (Flink ships its
 * JobGraph the same way; we ship the StreamGraph one step earlier, because chaining and
 * vertex ids are pure functions of it and the receivers build the JobGraph themselves).
 *
 * The wire format is protobuf (proto/graph.proto, message spate.graph.StreamGraphMsg).
 * Every field that matters for execution is sent, with the values stream_graph_finalize
 * resolved (parallelism, slot sharing group, partitioners); the decoder rebuilds the graph
 * node by node and edge by edge in id order, which reproduces the derived state
 * (in_edges/out_edges order, in_schema), so job_graph_build on the decoded graph yields
 * the same job vertices, vertex ids, names, chains and job edges as on the original.
 *
 * The bytes are untrusted (they come over the network): the decoder validates everything
 * the engine later relies on without checking again, and never asserts on input.
 */
#ifndef SPATE_GRAPH_GRAPH_CODEC_H
#define SPATE_GRAPH_GRAPH_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "graph/stream_graph.h"

/* StreamGraphMsg.format_version written by this code; the decoder accepts only this. */
#define GRAPH_CODEC_FORMAT_VERSION 1

/*
 * Serializes a finalized stream graph `g` (borrowed): the graph's job name, default and max
 * parallelism, chaining flag and buffer timeout; every node's kind, name, uid, parallelism,
 * max parallelism, non_parallel, chaining strategy, slot sharing groups (the user's and the
 * resolved one), output schema (as its canonical text), function names, keyed flag and key
 * spec, aggregation, path, host, port, from/to, count, rate, collection rows and count, and
 * params; every edge's source and target ids, partitioner (and whether the user chose it),
 * type number and key spec. Not sent, because the decoder derives them: in_schema, the
 * nodes' edge lists, vertex_index. Returns new bytes (free with xfree), *len set to their
 * count. Never fails (allocation failure aborts, as everywhere).
 */
uint8_t *stream_graph_encode(const struct stream_graph *g, size_t *len);

/*
 * Decodes `len` bytes at `buf` (borrowed) and validates them: the format version; every
 * node and edge id in order; edges naming existing nodes and going forward; enums in
 * range; parallelism 1..32768 and max parallelism -1 or 1..32768; schemas that parse; key
 * field indexes inside the input's schema and key schemas that match them; the strings
 * each operator kind needs non-empty (names, function symbols, paths, host); collection
 * rows that pass row_validate; then everything stream_graph_finalize checks, and that the
 * resolved slot sharing groups sent agree with the ones finalize resolves.
 *
 * Returns a new finalized graph (free with stream_graph_free) ready for job_graph_build,
 * or NULL with `err` set to one line naming the problem, e.g.
 * "bad job graph: edge 3 names unknown node 17": code SPATE_ECORRUPT when the bytes are
 * not a StreamGraphMsg of this format version, SPATE_EGRAPH when they are but the graph
 * is invalid.
 */
struct stream_graph *stream_graph_decode(const uint8_t *buf, size_t len, struct spate_error *err);

#endif
