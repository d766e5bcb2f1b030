/*
 * graph_codec.c - the StreamGraph on the wire (see graph_codec.h and proto/graph.proto).
 *
 * Encoding maps each struct onto its protobuf message field by field, borrowing the graph's
 * strings and arrays, so nothing is copied until protobuf-c packs the message.
 *
 * Decoding goes the other way through the graph's own builders (stream_graph_add_node,
 * stream_graph_add_edge) in id order, which rebuilds exactly the derived state the
 * original had: each node's in/out edge lists in edge id order and its in_schema. It then
 * runs stream_graph_finalize once more. That is safe because finalize is idempotent on a
 * resolved graph: a parallelism other than -1 is kept (and re-checked against the bounds),
 * the slot sharing group is recomputed from the same user groups and inputs, and only
 * UNSPECIFIED partitioners would change (the decoder rejects those). Running it reuses its
 * shape checks (sources without inputs, edges going forward, no FORWARD across a
 * parallelism change, HASH edges with a key) instead of writing them twice. What finalize
 * does not check but the runtime relies on (key field indexes, schemas, function names,
 * collection rows) is checked here, before any of it reaches a TaskManager.
 *
 * Vertex ids in job_graph.c hash each chain's operator uids, else ids; both travel
 * unchanged, so the decoded graph's JobGraph has the same ids as the client's.
 */
#include "graph/graph_codec.h"

#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "proto/graph.pb-c.h"
#include "types/keygroup.h"
#include "types/row.h"

/* Key field indexes travel as repeated int32 and are borrowed from the graph as they are. */
_Static_assert(sizeof(int) == sizeof(int32_t), "key_spec.fields must be 32-bit");

/* ---- enums: C value <-> wire value ----------------------------------------------------- */

/*
 * The wire numbers are fixed by graph.proto and never change; the C enums may be reordered.
 * Each table maps one C enum to its wire enum; lookups are linear over a few entries.
 */
struct enum_map {
	int c;
	int wire;
};

#define WIRE_OP(x) SPATE__GRAPH__STREAM_OP_KIND__STREAM_##x
static const struct enum_map op_kind_map[] = {
    {OP_SOURCE_COLLECTION, WIRE_OP(OP_SOURCE_COLLECTION)},
    {OP_SOURCE_TEXT_FILE, WIRE_OP(OP_SOURCE_TEXT_FILE)},
    {OP_SOURCE_SEQUENCE, WIRE_OP(OP_SOURCE_SEQUENCE)},
    {OP_SOURCE_GENERATOR, WIRE_OP(OP_SOURCE_GENERATOR)},
    {OP_SOURCE_SOCKET, WIRE_OP(OP_SOURCE_SOCKET)},
    {OP_MAP, WIRE_OP(OP_MAP)},
    {OP_FLAT_MAP, WIRE_OP(OP_FLAT_MAP)},
    {OP_FILTER, WIRE_OP(OP_FILTER)},
    {OP_REDUCE, WIRE_OP(OP_REDUCE)},
    {OP_AGGREGATE, WIRE_OP(OP_AGGREGATE)},
    {OP_PROCESS, WIRE_OP(OP_PROCESS)},
    {OP_SINK_PRINT, WIRE_OP(OP_SINK_PRINT)},
    {OP_SINK_TEXT, WIRE_OP(OP_SINK_TEXT)},
    {OP_SINK_COLLECT, WIRE_OP(OP_SINK_COLLECT)},
    {OP_SINK_FUNCTION, WIRE_OP(OP_SINK_FUNCTION)},
};

#define WIRE_PART(x) SPATE__GRAPH__STREAM_PARTITIONER__STREAM_##x
static const struct enum_map partitioner_map[] = {
    {PART_UNSPECIFIED, WIRE_PART(PART_UNSPECIFIED)}, {PART_FORWARD, WIRE_PART(PART_FORWARD)},
    {PART_REBALANCE, WIRE_PART(PART_REBALANCE)},     {PART_RESCALE, WIRE_PART(PART_RESCALE)},
    {PART_SHUFFLE, WIRE_PART(PART_SHUFFLE)},         {PART_BROADCAST, WIRE_PART(PART_BROADCAST)},
    {PART_GLOBAL, WIRE_PART(PART_GLOBAL)},           {PART_HASH, WIRE_PART(PART_HASH)},
};

#define WIRE_CHAIN(x) SPATE__GRAPH__STREAM_CHAINING_STRATEGY__STREAM_##x
static const struct enum_map chaining_map[] = {
    {CHAIN_ALWAYS, WIRE_CHAIN(CHAIN_ALWAYS)},
    {CHAIN_HEAD, WIRE_CHAIN(CHAIN_HEAD)},
    {CHAIN_NEVER, WIRE_CHAIN(CHAIN_NEVER)},
};

#define WIRE_AGG(x) SPATE__GRAPH__STREAM_AGG_KIND__STREAM_##x
static const struct enum_map agg_map[] = {
    {AGG_SUM, WIRE_AGG(AGG_SUM)},       {AGG_MIN, WIRE_AGG(AGG_MIN)},
    {AGG_MAX, WIRE_AGG(AGG_MAX)},       {AGG_MIN_BY, WIRE_AGG(AGG_MIN_BY)},
    {AGG_MAX_BY, WIRE_AGG(AGG_MAX_BY)},
};

#define ENUM_MAP_LEN(m) (sizeof(m) / sizeof((m)[0]))

/* The wire value of C value c. Every C enumerator has an entry, so this cannot miss. */
static int to_wire(const struct enum_map *map, size_t n, int c)
{
	for (size_t i = 0; i < n; i++)
		if (map[i].c == c)
			return map[i].wire;
	abort(); /* a C enumerator without a wire number: a bug in the tables above */
}

/* The C value of wire value w, or -1 if the wire value is unknown. */
static int from_wire(const struct enum_map *map, size_t n, int w)
{
	for (size_t i = 0; i < n; i++)
		if (map[i].wire == w)
			return map[i].c;
	return -1;
}

/* ---- encode ----------------------------------------------------------------------------- */

static bool key_is_empty(const struct key_spec *k)
{
	return k->nfields <= 0 && !k->selector_fn && !k->key_schema;
}

/* Fills *m from k, borrowing k's arrays and strings. */
static void key_to_msg(const struct key_spec *k, Spate__Graph__StreamKeySpecMsg *m)
{
	spate__graph__stream_key_spec_msg__init(m);
	if (k->nfields > 0 && k->fields) {
		m->n_fields = (size_t)k->nfields;
		m->fields = (int32_t *)k->fields;
	}
	m->selector_fn = k->selector_fn;
	m->key_schema = k->key_schema ? k->key_schema->text : NULL;
}

/* Fills *m from node n, borrowing n's strings; `key` and `params` are storage for m's
 * sub-messages (params has n->nparams entries, and param_ptrs as many pointers). */
static void node_to_msg(const struct stream_node *n, Spate__Graph__StreamNodeMsg *m,
                        Spate__Graph__StreamKeySpecMsg *key, Spate__Graph__StreamParamMsg *params,
                        Spate__Graph__StreamParamMsg **param_ptrs)
{
	spate__graph__stream_node_msg__init(m);
	m->has_id = true;
	m->id = n->id;
	m->has_kind = true;
	m->kind = to_wire(op_kind_map, ENUM_MAP_LEN(op_kind_map), n->kind);
	m->name = n->name;
	m->uid = n->uid;
	m->has_parallelism = true;
	m->parallelism = n->parallelism;
	m->has_max_parallelism = true;
	m->max_parallelism = n->max_parallelism;
	m->has_non_parallel = true;
	m->non_parallel = n->non_parallel;
	m->has_chaining = true;
	m->chaining = to_wire(chaining_map, ENUM_MAP_LEN(chaining_map), n->chaining);
	m->slot_sharing_group_user = n->slot_sharing_group_user;
	m->slot_sharing_group = n->slot_sharing_group;
	m->out_schema = n->out_schema ? n->out_schema->text : NULL;
	m->fn_name = n->fn_name;
	m->end_fn_name = n->end_fn_name;
	m->has_keyed = true;
	m->keyed = n->keyed;
	if (n->keyed || !key_is_empty(&n->key)) {
		key_to_msg(&n->key, key);
		m->key = key;
	}
	m->has_agg = true;
	m->agg = to_wire(agg_map, ENUM_MAP_LEN(agg_map), n->agg);
	m->has_agg_field = true;
	m->agg_field = n->agg_field;
	m->path = n->path;
	m->host = n->host;
	m->has_port = true;
	m->port = n->port;
	m->has_from = true;
	m->from = n->from;
	m->has_to = true;
	m->to = n->to;
	m->has_count = true;
	m->count = n->count;
	m->has_rate = true;
	m->rate = n->rate;
	if (n->data) {
		m->has_data = true;
		m->data.len = n->data_len;
		m->data.data = n->data;
	}
	m->has_data_count = true;
	m->data_count = n->data_count;
	for (int i = 0; i < n->nparams; i++) {
		spate__graph__stream_param_msg__init(&params[i]);
		params[i].key = n->params[i].key;
		params[i].value = n->params[i].value;
		param_ptrs[i] = &params[i];
	}
	m->n_params = n->nparams > 0 ? (size_t)n->nparams : 0;
	m->params = n->nparams > 0 ? param_ptrs : NULL;
}

static void edge_to_msg(const struct stream_edge *e, Spate__Graph__StreamEdgeMsg *m,
                        Spate__Graph__StreamKeySpecMsg *key)
{
	spate__graph__stream_edge_msg__init(m);
	m->has_id = true;
	m->id = e->id;
	m->has_source_id = true;
	m->source_id = e->source->id;
	m->has_target_id = true;
	m->target_id = e->target->id;
	m->has_partitioner = true;
	m->partitioner = to_wire(partitioner_map, ENUM_MAP_LEN(partitioner_map), e->partitioner);
	m->has_partitioner_explicit = true;
	m->partitioner_explicit = e->partitioner_explicit;
	m->has_type_number = true;
	m->type_number = e->type_number;
	if (!key_is_empty(&e->key)) {
		key_to_msg(&e->key, key);
		m->key = key;
	}
}

uint8_t *stream_graph_encode(const struct stream_graph *g, size_t *len)
{
	Spate__Graph__StreamGraphMsg m = SPATE__GRAPH__STREAM_GRAPH_MSG__INIT;
	size_t nn = (size_t)g->nnodes, ne = (size_t)g->nedges, nparams = 0;

	for (int i = 0; i < g->nnodes; i++)
		nparams += (size_t)g->nodes[i]->nparams;
	/* One block of message structs per kind, all borrowed into m, all freed below. */
	Spate__Graph__StreamNodeMsg *nodes = xcalloc(nn, sizeof *nodes);
	Spate__Graph__StreamNodeMsg **node_ptrs = xcalloc(nn, sizeof *node_ptrs);
	Spate__Graph__StreamEdgeMsg *edges = xcalloc(ne, sizeof *edges);
	Spate__Graph__StreamEdgeMsg **edge_ptrs = xcalloc(ne, sizeof *edge_ptrs);
	Spate__Graph__StreamKeySpecMsg *keys = xcalloc(nn + ne, sizeof *keys);
	Spate__Graph__StreamParamMsg *params = xcalloc(nparams, sizeof *params);
	Spate__Graph__StreamParamMsg **param_ptrs = xcalloc(nparams, sizeof *param_ptrs);

	m.has_format_version = true;
	m.format_version = GRAPH_CODEC_FORMAT_VERSION;
	m.job_name = g->job_name;
	m.has_default_parallelism = true;
	m.default_parallelism = g->default_parallelism;
	m.has_max_parallelism = true;
	m.max_parallelism = g->max_parallelism;
	m.has_chaining_enabled = true;
	m.chaining_enabled = g->chaining_enabled;
	m.has_buffer_timeout_ms = true;
	m.buffer_timeout_ms = g->buffer_timeout_ms;

	size_t p = 0;
	for (size_t i = 0; i < nn; i++) {
		const struct stream_node *n = g->nodes[i];
		node_to_msg(n, &nodes[i], &keys[i], &params[p], &param_ptrs[p]);
		p += (size_t)n->nparams;
		node_ptrs[i] = &nodes[i];
	}
	for (size_t i = 0; i < ne; i++) {
		edge_to_msg(g->edges[i], &edges[i], &keys[nn + i]);
		edge_ptrs[i] = &edges[i];
	}
	Spate__Graph__StreamParamMsg *jc = xcalloc((size_t)g->njob_config + 1, sizeof *jc);
	Spate__Graph__StreamParamMsg **jcp = xcalloc((size_t)g->njob_config + 1, sizeof *jcp);
	for (int i = 0; i < g->njob_config; i++) {
		spate__graph__stream_param_msg__init(&jc[i]);
		jc[i].key = g->job_config[i].key;
		jc[i].value = g->job_config[i].value;
		jcp[i] = &jc[i];
	}
	m.n_job_config = (size_t)g->njob_config;
	m.job_config = jcp;
	m.n_nodes = nn;
	m.nodes = node_ptrs;
	m.n_edges = ne;
	m.edges = edge_ptrs;

	*len = spate__graph__stream_graph_msg__get_packed_size(&m);
	uint8_t *buf = xmalloc(*len);
	spate__graph__stream_graph_msg__pack(&m, buf);

	xfree(jcp);
	xfree(jc);
	xfree(param_ptrs);
	xfree(params);
	xfree(keys);
	xfree(edge_ptrs);
	xfree(edges);
	xfree(node_ptrs);
	xfree(nodes);
	return buf;
}

/* ---- decode: helpers -------------------------------------------------------------------- */

/*
 * protobuf-c allocates through this, so the decoder's memory goes through our wrappers
 * like everything else. protobuf-c checks every length prefix against the bytes left
 * before it allocates, so the total stays proportional to the input.
 */
static void *codec_alloc(void *data, size_t size)
{
	(void)data;
	return xmalloc(size);
}

static void codec_free(void *data, void *p)
{
	(void)data;
	xfree(p);
}

static ProtobufCAllocator codec_allocator = {
    .alloc = codec_alloc,
    .free = codec_free,
    .allocator_data = NULL,
};

/* Names in messages come from the wire; keep them short enough to leave room for the rest. */
#define NAME_FMT "%.200s"

/* "node 3 ('Map')": the subject of a node's messages. */
static void node_subject(char *buf, size_t size, int id, const char *name)
{
	snprintf(buf, size, "node %d ('" NAME_FMT "')", id, name ? name : "");
}

static bool empty(const char *s)
{
	return !s || !*s;
}

/* A wire string that must be absent or non-empty: "" means a sender bug or corruption. */
static int check_optional_string(const char *s, const char *subject, const char *what,
                                 struct spate_error *err)
{
	if (s && !*s)
		return error_set(err, SPATE_EGRAPH, "bad job graph: %s has an empty %s", subject,
		                 what);
	return 0;
}

/* Parses a schema's text from the wire into *out (new, or NULL when text is NULL). */
static int parse_schema(const char *text, const char *subject, const char *what,
                        struct schema **out, struct spate_error *err)
{
	struct spate_error e = {0};

	*out = NULL;
	if (!text)
		return 0;
	*out = schema_parse(text, &e);
	if (!*out)
		return error_set(err, SPATE_EGRAPH, "bad job graph: %s %s: %s", subject, what,
		                 e.msg);
	return 0;
}

/*
 * Decodes a key spec into dst (zeroed, owned by the graph, so a failure part way leaves
 * nothing to free here). Field indexes are checked against the input schema later, once
 * the edges say which schema that is.
 */
static int decode_key(const Spate__Graph__StreamKeySpecMsg *m, struct key_spec *dst,
                      const char *subject, struct spate_error *err)
{
	int rc;

	if (!m)
		return 0;
	if (m->n_fields > ROW_MAX_FIELDS)
		return error_set(err, SPATE_EGRAPH,
		                 "bad job graph: %s key has %zu fields: at most %d are allowed",
		                 subject, m->n_fields, ROW_MAX_FIELDS);
	for (size_t i = 0; i < m->n_fields; i++)
		if (m->fields[i] < 0)
			return error_set(err, SPATE_EGRAPH,
			                 "bad job graph: %s key field index %d is negative",
			                 subject, (int)m->fields[i]);
	if (m->n_fields > 0) {
		dst->fields = xmalloc(sizeof *dst->fields * m->n_fields);
		memcpy(dst->fields, m->fields, sizeof *dst->fields * m->n_fields);
		dst->nfields = (int)m->n_fields;
	}
	rc = check_optional_string(m->selector_fn, subject, "key selector function name", err);
	if (rc)
		return rc;
	dst->selector_fn = xstrdup(m->selector_fn);
	if (dst->nfields > 0 && dst->selector_fn)
		return error_set(err, SPATE_EGRAPH,
		                 "bad job graph: %s key has both key fields and a key selector",
		                 subject);
	rc = parse_schema(m->key_schema, subject, "key schema", &dst->key_schema, err);
	if (rc)
		return rc;
	/* The runtime builds key rows with key_schema, for field keys and selectors alike. */
	if ((dst->nfields > 0 || dst->selector_fn) && !dst->key_schema)
		return error_set(err, SPATE_EGRAPH, "bad job graph: %s key has no key schema",
		                 subject);
	if (dst->nfields > 0 && dst->key_schema->nfields != dst->nfields)
		return error_set(
		    err, SPATE_EGRAPH,
		    "bad job graph: %s key has %d fields but its key schema '%s' has %d", subject,
		    dst->nfields, dst->key_schema->text, dst->key_schema->nfields);
	return 0;
}

/*
 * Key fields must name fields of the rows the key is taken from, with the types the key
 * schema says: the runtime hashes and copies those fields without checking.
 */
static int check_key_fields(const struct key_spec *k, const struct schema *in, const char *subject,
                            struct spate_error *err)
{
	if (k->nfields <= 0)
		return 0;
	if (!in)
		return error_set(err, SPATE_EGRAPH,
		                 "bad job graph: %s has key fields but no input schema", subject);
	for (int i = 0; i < k->nfields; i++) {
		int f = k->fields[i];
		if (f >= in->nfields)
			return error_set(
			    err, SPATE_EGRAPH,
			    "bad job graph: %s key field index %d is out of range: input "
			    "schema '%s' has %d fields",
			    subject, f, in->text, in->nfields);
		if (k->key_schema->fields[i].type != in->fields[f].type)
			return error_set(
			    err, SPATE_EGRAPH,
			    "bad job graph: %s key schema '%s' does not match field %d "
			    "of input schema '%s'",
			    subject, k->key_schema->text, f, in->text);
	}
	return 0;
}

/*
 * Collection rows are emitted in place, so each must be a valid row of the source's
 * schema, back to back with nothing after the last, and as many as data_count says.
 */
static int check_rows(const struct stream_node *n, const char *subject, struct spate_error *err)
{
	size_t off = 0;
	uint64_t rows = 0;

	while (off < n->data_len) {
		const uint8_t *row = n->data + off;
		size_t left = n->data_len - off;
		uint32_t size;

		if (left < ROW_HEADER_BYTES)
			return error_set(err, SPATE_EGRAPH,
			                 "bad job graph: %s collection row %llu is truncated",
			                 subject, (unsigned long long)rows + 1);
		size = row_size_of(row);
		if (size > left || row_validate(row, size) != 0)
			return error_set(err, SPATE_EGRAPH,
			                 "bad job graph: %s collection row %llu is corrupt",
			                 subject, (unsigned long long)rows + 1);
		if (n->out_schema) {
			const struct schema *s = n->out_schema;
			int nf = spate_row_field_count((const spate_row *)row);
			bool match = nf == s->nfields;
			for (int i = 0; match && i < nf; i++) {
				uint8_t tag = row[ROW_HEADER_BYTES + i];
				match = (tag & ROW_TAG_NULL) ||
				        (spate_type)(tag & ROW_TAG_TYPE) == s->fields[i].type;
			}
			if (!match)
				return error_set(
				    err, SPATE_EGRAPH,
				    "bad job graph: %s collection row %llu does not match "
				    "schema '%s'",
				    subject, (unsigned long long)rows + 1, s->text);
		}
		off += size;
		rows++;
	}
	if (rows != n->data_count)
		return error_set(
		    err, SPATE_EGRAPH, "bad job graph: %s has %llu collection rows but says %llu",
		    subject, (unsigned long long)rows, (unsigned long long)n->data_count);
	return 0;
}

static bool kind_needs_fn(enum op_kind k)
{
	switch (k) {
	case OP_SOURCE_GENERATOR:
	case OP_MAP:
	case OP_FLAT_MAP:
	case OP_FILTER:
	case OP_REDUCE:
	case OP_PROCESS:
	case OP_SINK_FUNCTION:
		return true;
	default:
		return false;
	}
}

static bool kind_needs_path(enum op_kind k)
{
	return k == OP_SOURCE_TEXT_FILE || k == OP_SINK_TEXT || k == OP_SINK_COLLECT;
}

/* ---- decode: nodes, edges, graph ----------------------------------------------------- */

static int decode_params(const Spate__Graph__StreamNodeMsg *m, struct stream_node *n,
                         const char *subject, struct spate_error *err)
{
	if (m->n_params == 0)
		return 0;
	n->params = xcalloc(m->n_params, sizeof *n->params);
	for (size_t i = 0; i < m->n_params; i++) {
		const Spate__Graph__StreamParamMsg *p = m->params[i];
		if (!p->key || !p->value)
			return error_set(err, SPATE_EGRAPH,
			                 "bad job graph: %s param %zu has no key or no value",
			                 subject, i + 1);
		n->params[i].key = xstrdup(p->key);
		n->params[i].value = xstrdup(p->value);
		n->nparams++;
	}
	return 0;
}

/* The node-local fields: everything that does not depend on edges. */
static int decode_node(struct stream_graph *g, int pos, const Spate__Graph__StreamNodeMsg *m,
                       struct spate_error *err)
{
	char subject[256];
	struct stream_node *n;
	int kind, v, rc;

	if (!m->has_id || m->id != pos + 1)
		return error_set(err, SPATE_EGRAPH,
		                 "bad job graph: node at position %d has id %d, expected %d",
		                 pos + 1, m->has_id ? (int)m->id : 0, pos + 1);
	node_subject(subject, sizeof subject, pos + 1, m->name);
	if (!m->has_kind)
		return error_set(err, SPATE_EGRAPH, "bad job graph: %s has no kind", subject);
	kind = from_wire(op_kind_map, ENUM_MAP_LEN(op_kind_map), m->kind);
	if (kind < 0)
		return error_set(err, SPATE_EGRAPH, "bad job graph: %s has unknown kind %d",
		                 subject, (int)m->kind);
	if (empty(m->name))
		return error_set(err, SPATE_EGRAPH, "bad job graph: node %d has no name", pos + 1);

	n = stream_graph_add_node(g, (enum op_kind)kind, m->name); /* owned by g from here */
	if (m->uid && strlen(m->uid) > 127)
		return error_set(err, SPATE_EGRAPH,
		                 "bad job graph: %s has a uid longer than 127 characters", subject);
	n->uid = xstrdup(m->uid);
	if (!m->has_parallelism || m->parallelism < 1 || m->parallelism > KEY_GROUP_UPPER_BOUND)
		return error_set(err, SPATE_EGRAPH,
		                 "bad job graph: %s has parallelism %d: must be between 1 and %d",
		                 subject, m->has_parallelism ? (int)m->parallelism : 0,
		                 KEY_GROUP_UPPER_BOUND);
	n->parallelism = m->parallelism;
	n->max_parallelism = m->has_max_parallelism ? m->max_parallelism : -1;
	if (n->max_parallelism != -1 &&
	    (n->max_parallelism < 1 || n->max_parallelism > KEY_GROUP_UPPER_BOUND))
		return error_set(
		    err, SPATE_EGRAPH,
		    "bad job graph: %s has max parallelism %d: must be -1 or between 1 "
		    "and %d",
		    subject, n->max_parallelism, KEY_GROUP_UPPER_BOUND);
	n->non_parallel = m->non_parallel;
	v = from_wire(chaining_map, ENUM_MAP_LEN(chaining_map), m->chaining);
	if (v < 0)
		return error_set(err, SPATE_EGRAPH,
		                 "bad job graph: %s has unknown chaining strategy %d", subject,
		                 (int)m->chaining);
	n->chaining = (enum chaining_strategy)v;

	rc = check_optional_string(m->slot_sharing_group_user, subject, "slot sharing group", err);
	if (rc)
		return rc;
	n->slot_sharing_group_user = xstrdup(m->slot_sharing_group_user);
	if (empty(m->slot_sharing_group))
		return error_set(err, SPATE_EGRAPH,
		                 "bad job graph: %s has no resolved slot sharing group", subject);
	n->slot_sharing_group = xstrdup(m->slot_sharing_group);

	rc = parse_schema(m->out_schema, subject, "output schema", &n->out_schema, err);
	if (rc)
		return rc;
	if (!n->out_schema && !op_kind_is_sink(n->kind))
		return error_set(err, SPATE_EGRAPH, "bad job graph: %s has no output schema",
		                 subject);

	rc = check_optional_string(m->fn_name, subject, "function name", err);
	if (!rc)
		rc = check_optional_string(m->end_fn_name, subject, "end function name", err);
	if (rc)
		return rc;
	if (kind_needs_fn(n->kind) && !m->fn_name)
		return error_set(err, SPATE_EGRAPH, "bad job graph: %s has no function name",
		                 subject);
	n->fn_name = xstrdup(m->fn_name);
	n->end_fn_name = xstrdup(m->end_fn_name);

	n->keyed = m->keyed;
	rc = decode_key(m->key, &n->key, subject, err);
	if (rc)
		return rc;
	if (n->keyed && n->key.nfields <= 0 && !n->key.selector_fn)
		return error_set(err, SPATE_EGRAPH, "bad job graph: %s is keyed but has no key",
		                 subject);
	if ((n->kind == OP_REDUCE || n->kind == OP_AGGREGATE) && !n->keyed)
		return error_set(err, SPATE_EGRAPH, "bad job graph: %s needs a keyed input",
		                 subject);
	v = from_wire(agg_map, ENUM_MAP_LEN(agg_map), m->agg);
	if (v < 0)
		return error_set(err, SPATE_EGRAPH, "bad job graph: %s has unknown aggregation %d",
		                 subject, (int)m->agg);
	n->agg = (enum agg_kind)v;
	n->agg_field = m->agg_field;

	rc = check_optional_string(m->path, subject, "path", err);
	if (!rc)
		rc = check_optional_string(m->host, subject, "host", err);
	if (rc)
		return rc;
	if (kind_needs_path(n->kind) && !m->path)
		return error_set(err, SPATE_EGRAPH, "bad job graph: %s has no path", subject);
	n->path = xstrdup(m->path);
	n->host = xstrdup(m->host);
	n->port = m->port;
	if (n->kind == OP_SOURCE_SOCKET && (!n->host || n->port < 1 || n->port > 65535))
		return error_set(err, SPATE_EGRAPH,
		                 "bad job graph: %s needs a host and a port in 1..65535, not %d",
		                 subject, n->port);
	n->from = m->from;
	n->to = m->to;
	if (n->kind == OP_SOURCE_SEQUENCE && n->to < n->from)
		return error_set(err, SPATE_EGRAPH,
		                 "bad job graph: %s has 'to' (%lld) less than 'from' (%lld)",
		                 subject, (long long)n->to, (long long)n->from);
	n->count = m->count;
	n->rate = m->rate;
	if (isnan(n->rate) || n->rate < 0)
		return error_set(err, SPATE_EGRAPH, "bad job graph: %s has rate %g", subject,
		                 n->rate);
	if (m->has_data) {
		/* A copy of its own: rows are read in place and must be 8-byte aligned. */
		n->data = xmalloc(m->data.len);
		if (m->data.len)
			memcpy(n->data, m->data.data, m->data.len);
		n->data_len = m->data.len;
	}
	if ((uint64_t)(size_t)m->data_count != m->data_count)
		return error_set(err, SPATE_EGRAPH, "bad job graph: %s has too many rows", subject);
	n->data_count = (size_t)m->data_count;
	rc = check_rows(n, subject, err);
	if (rc)
		return rc;
	return decode_params(m, n, subject, err);
}

static int decode_edge(struct stream_graph *g, int pos, const Spate__Graph__StreamEdgeMsg *m,
                       struct spate_error *err)
{
	char subject[64];
	struct stream_edge *e;
	int p;

	if (!m->has_id || m->id != pos + 1)
		return error_set(err, SPATE_EGRAPH,
		                 "bad job graph: edge at position %d has id %d, expected %d",
		                 pos + 1, m->has_id ? (int)m->id : 0, pos + 1);
	snprintf(subject, sizeof subject, "edge %d", pos + 1);
	if (!m->has_source_id || !m->has_target_id)
		return error_set(err, SPATE_EGRAPH, "bad job graph: %s has no %s node", subject,
		                 m->has_source_id ? "target" : "source");
	if (m->source_id < 1 || m->source_id > g->nnodes)
		return error_set(err, SPATE_EGRAPH, "bad job graph: %s names unknown node %d",
		                 subject, (int)m->source_id);
	if (m->target_id < 1 || m->target_id > g->nnodes)
		return error_set(err, SPATE_EGRAPH, "bad job graph: %s names unknown node %d",
		                 subject, (int)m->target_id);
	if (!m->has_partitioner)
		return error_set(err, SPATE_EGRAPH, "bad job graph: %s has no partitioner",
		                 subject);
	p = from_wire(partitioner_map, ENUM_MAP_LEN(partitioner_map), m->partitioner);
	if (p < 0)
		return error_set(err, SPATE_EGRAPH, "bad job graph: %s has unknown partitioner %d",
		                 subject, (int)m->partitioner);
	if (p == PART_UNSPECIFIED)
		return error_set(err, SPATE_EGRAPH,
		                 "bad job graph: %s has no resolved partitioner (the stream graph "
		                 "was not finalized)",
		                 subject);
	if (m->type_number < 0)
		return error_set(err, SPATE_EGRAPH, "bad job graph: %s has type number %d", subject,
		                 (int)m->type_number);
	e = stream_graph_add_edge(g, g->nodes[m->source_id - 1], g->nodes[m->target_id - 1],
	                          (enum partitioner)p, m->partitioner_explicit, m->type_number,
	                          NULL);
	return decode_key(m->key, &e->key, subject, err);
}

static int compare_uid(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Two operators with one uid would give two vertices one identity (and one state). */
static int check_unique_uids(const struct stream_graph *g, struct spate_error *err)
{
	const char **uids = xcalloc((size_t)g->nnodes, sizeof *uids);
	int n = 0, rc = 0;

	for (int i = 0; i < g->nnodes; i++)
		if (g->nodes[i]->uid)
			uids[n++] = g->nodes[i]->uid;
	qsort(uids, (size_t)n, sizeof *uids, compare_uid);
	for (int i = 1; i < n && !rc; i++)
		if (strcmp(uids[i - 1], uids[i]) == 0)
			rc = error_set(err, SPATE_EGRAPH,
			               "bad job graph: uid '" NAME_FMT "' is used by two operators",
			               uids[i]);
	xfree(uids);
	return rc;
}

static bool is_numeric(spate_type t)
{
	return t == SPATE_INT32 || t == SPATE_INT64 || t == SPATE_DOUBLE || t == SPATE_TIMESTAMP;
}

/* Checks that need the wired, finalized graph: input schemas and resolved groups. */
static int check_finalized(const struct stream_graph *g, const Spate__Graph__StreamGraphMsg *m,
                           struct spate_error *err)
{
	char subject[256];
	int rc;

	for (int i = 0; i < g->nnodes; i++) {
		const struct stream_node *n = g->nodes[i];
		node_subject(subject, sizeof subject, n->id, n->name);
		if (strcmp(n->slot_sharing_group, m->nodes[i]->slot_sharing_group) != 0)
			return error_set(err, SPATE_EGRAPH,
			                 "bad job graph: %s was sent with slot sharing group "
			                 "'" NAME_FMT "' but resolves to '" NAME_FMT "'",
			                 subject, m->nodes[i]->slot_sharing_group,
			                 n->slot_sharing_group);
		rc = check_key_fields(&n->key, n->in_schema, subject, err);
		if (rc)
			return rc;
		if (n->kind == OP_AGGREGATE) {
			const struct schema *in = n->in_schema;
			if (!in || n->agg_field < 0 || n->agg_field >= in->nfields)
				return error_set(
				    err, SPATE_EGRAPH,
				    "bad job graph: %s aggregates field %d, outside its "
				    "input schema '%s'",
				    subject, n->agg_field, in ? in->text : "");
			if (!is_numeric(in->fields[n->agg_field].type))
				return error_set(
				    err, SPATE_EGRAPH,
				    "bad job graph: %s aggregates field %d, which is %s, "
				    "not a number",
				    subject, n->agg_field,
				    type_name(in->fields[n->agg_field].type));
		}
	}
	for (int i = 0; i < g->nedges; i++) {
		const struct stream_edge *e = g->edges[i];
		snprintf(subject, sizeof subject, "edge %d", e->id);
		rc = check_key_fields(&e->key, e->source->out_schema, subject, err);
		if (rc)
			return rc;
	}
	return check_unique_uids(g, err);
}

static int decode_graph(const Spate__Graph__StreamGraphMsg *m, struct stream_graph *g,
                        struct spate_error *err)
{
	struct spate_error fe = {0};
	int rc;

	if (!m->has_default_parallelism || m->default_parallelism < 1 ||
	    m->default_parallelism > KEY_GROUP_UPPER_BOUND)
		return error_set(err, SPATE_EGRAPH,
		                 "bad job graph: default parallelism %d: must be between 1 and %d",
		                 m->has_default_parallelism ? (int)m->default_parallelism : 0,
		                 KEY_GROUP_UPPER_BOUND);
	g->default_parallelism = m->default_parallelism;
	g->max_parallelism = m->has_max_parallelism ? m->max_parallelism : -1;
	if (g->max_parallelism != -1 &&
	    (g->max_parallelism < 1 || g->max_parallelism > KEY_GROUP_UPPER_BOUND))
		return error_set(
		    err, SPATE_EGRAPH,
		    "bad job graph: max parallelism %d: must be -1 or between 1 and %d",
		    g->max_parallelism, KEY_GROUP_UPPER_BOUND);
	if (m->has_chaining_enabled)
		g->chaining_enabled = m->chaining_enabled;
	if (m->has_buffer_timeout_ms) {
		if (m->buffer_timeout_ms < -1)
			return error_set(
			    err, SPATE_EGRAPH,
			    "bad job graph: buffer timeout %lld ms: must be -1 or more",
			    (long long)m->buffer_timeout_ms);
		g->buffer_timeout_ms = m->buffer_timeout_ms;
	}
	g->job_name = xstrdup(m->job_name);
	for (size_t i = 0; i < m->n_job_config; i++) {
		const Spate__Graph__StreamParamMsg *pm = m->job_config[i];
		if (!pm->key || !*pm->key || !pm->value)
			return error_set(
			    err, SPATE_EGRAPH,
			    "bad job graph: job configuration entry %zu has no key or value", i);
		stream_graph_set_job_config(g, pm->key, pm->value);
	}

	if (m->n_nodes == 0)
		return error_set(err, SPATE_EGRAPH, "bad job graph: no operators");
	/* Ids are ints; no real input comes near this, but the counts are the sender's. */
	if (m->n_nodes > INT_MAX / 2 || m->n_edges > INT_MAX / 2)
		return error_set(err, SPATE_EGRAPH, "bad job graph: too many operators or edges");
	for (size_t i = 0; i < m->n_nodes; i++) {
		rc = decode_node(g, (int)i, m->nodes[i], err);
		if (rc)
			return rc;
	}
	for (size_t i = 0; i < m->n_edges; i++) {
		rc = decode_edge(g, (int)i, m->edges[i], err);
		if (rc)
			return rc;
	}
	rc = stream_graph_finalize(g, &fe);
	if (rc)
		return error_set(err, rc, "bad job graph: %s", fe.msg);
	return check_finalized(g, m, err);
}

/* Messages must stay one line even when names from the wire hold control characters. */
static void one_line(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

struct stream_graph *stream_graph_decode(const uint8_t *buf, size_t len, struct spate_error *err)
{
	Spate__Graph__StreamGraphMsg *m;
	struct stream_graph *g;

	if (!buf || len == 0) {
		error_set(err, SPATE_ECORRUPT, "bad job graph: empty buffer");
		return NULL;
	}
	m = spate__graph__stream_graph_msg__unpack(&codec_allocator, len, buf);
	if (!m) {
		error_set(err, SPATE_ECORRUPT,
		          "bad job graph: %zu bytes do not parse as a StreamGraphMsg (truncated or "
		          "corrupt)",
		          len);
		return NULL;
	}
	if (!m->has_format_version || m->format_version != GRAPH_CODEC_FORMAT_VERSION) {
		error_set(err, SPATE_ECORRUPT,
		          "bad job graph: format version %u is not supported (expected %d)",
		          m->has_format_version ? m->format_version : 0,
		          GRAPH_CODEC_FORMAT_VERSION);
		spate__graph__stream_graph_msg__free_unpacked(m, &codec_allocator);
		return NULL;
	}
	g = stream_graph_new();
	if (decode_graph(m, g, err) != 0) {
		stream_graph_free(g);
		g = NULL;
		if (err)
			one_line(err->msg);
	}
	spate__graph__stream_graph_msg__free_unpacked(m, &codec_allocator);
	return g;
}
