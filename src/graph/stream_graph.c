/*
 * stream_graph.c - the StreamGraph: building it node by node and edge by edge, and
 * stream_graph_finalize(), which resolves the defaults Flink resolves while it turns
 * transformations into a StreamGraph (flink-facts.md §1-§3).
 *
 * Flink decides parallelism, partitioners and slot sharing groups one transformation at a
 * time as the graph grows. We let the API record only what the user said and resolve
 * everything here, in node id order, which gives the same result because a node's inputs
 * always have lower ids than the node itself (they had to exist before it could be built).
 * Doing it in one place keeps the rules next to each other and lets the client change the
 * default parallelism (-p on submit) after the job's entry point has run.
 */
#include "graph/stream_graph.h"

#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "types/keygroup.h"

/* Flink's StreamGraphGenerator.DEFAULT_SLOT_SHARING_GROUP. */
#define DEFAULT_SLOT_SHARING_GROUP "default"
/* Flink's StreamExecutionEnvironment default for execution.buffer-timeout.interval. */
#define DEFAULT_BUFFER_TIMEOUT_MS 100

const char *partitioner_name(enum partitioner p)
{
	switch (p) {
	case PART_UNSPECIFIED:
		return "UNSPECIFIED";
	case PART_FORWARD:
		return "FORWARD";
	case PART_REBALANCE:
		return "REBALANCE";
	case PART_RESCALE:
		return "RESCALE";
	case PART_SHUFFLE:
		return "SHUFFLE";
	case PART_BROADCAST:
		return "BROADCAST";
	case PART_GLOBAL:
		return "GLOBAL";
	case PART_HASH:
		return "HASH";
	}
	return "UNKNOWN";
}

bool partitioner_is_pointwise(enum partitioner p)
{
	return p == PART_FORWARD || p == PART_RESCALE;
}

bool op_kind_is_source(enum op_kind k)
{
	switch (k) {
	case OP_SOURCE_COLLECTION:
	case OP_SOURCE_TEXT_FILE:
	case OP_SOURCE_SEQUENCE:
	case OP_SOURCE_GENERATOR:
	case OP_SOURCE_SOCKET:
		return true;
	default:
		return false;
	}
}

bool op_kind_is_sink(enum op_kind k)
{
	switch (k) {
	case OP_SINK_PRINT:
	case OP_SINK_TEXT:
	case OP_SINK_COLLECT:
	case OP_SINK_FUNCTION:
		return true;
	default:
		return false;
	}
}

struct stream_graph *stream_graph_new(void)
{
	struct stream_graph *g = xcalloc(1, sizeof *g);
	g->default_parallelism = 1;
	g->max_parallelism = -1;
	g->chaining_enabled = true;
	g->buffer_timeout_ms = DEFAULT_BUFFER_TIMEOUT_MS;
	return g;
}

void key_spec_copy(struct key_spec *dst, const struct key_spec *src)
{
	memset(dst, 0, sizeof *dst);
	if (!src)
		return;
	dst->nfields = src->nfields;
	if (src->nfields > 0 && src->fields) {
		dst->fields = xmalloc(sizeof *dst->fields * (size_t)src->nfields);
		memcpy(dst->fields, src->fields, sizeof *dst->fields * (size_t)src->nfields);
	}
	dst->selector_fn = xstrdup(src->selector_fn);
	dst->key_schema = src->key_schema ? schema_clone(src->key_schema) : NULL;
}

void key_spec_release(struct key_spec *k)
{
	if (!k)
		return;
	xfree(k->fields);
	xfree(k->selector_fn);
	schema_free(k->key_schema);
	memset(k, 0, sizeof *k);
}

static void stream_node_free(struct stream_node *n)
{
	xfree(n->name);
	xfree(n->uid);
	xfree(n->slot_sharing_group_user);
	xfree(n->slot_sharing_group);
	schema_free(n->out_schema);
	/* in_schema is borrowed from the first input's out_schema. */
	xfree(n->fn_name);
	xfree(n->end_fn_name);
	key_spec_release(&n->key);
	xfree(n->path);
	xfree(n->host);
	xfree(n->data);
	for (int i = 0; i < n->nparams; i++) {
		xfree(n->params[i].key);
		xfree(n->params[i].value);
	}
	xfree(n->params);
	xfree(n->in_edges);
	xfree(n->out_edges);
	xfree(n);
}

void stream_graph_free(struct stream_graph *g)
{
	if (!g)
		return;
	for (int i = 0; i < g->nedges; i++) {
		key_spec_release(&g->edges[i]->key);
		xfree(g->edges[i]);
	}
	xfree(g->edges);
	for (int i = 0; i < g->nnodes; i++)
		stream_node_free(g->nodes[i]);
	xfree(g->nodes);
	for (int i = 0; i < g->njob_config; i++) {
		xfree(g->job_config[i].key);
		xfree(g->job_config[i].value);
	}
	xfree(g->job_config);
	xfree(g->job_name);
	xfree(g);
}

void stream_graph_set_job_config(struct stream_graph *g, const char *key, const char *value)
{
	for (int i = 0; i < g->njob_config; i++)
		if (strcmp(g->job_config[i].key, key) == 0) {
			xfree(g->job_config[i].value);
			g->job_config[i].value = xstrdup(value);
			return;
		}
	g->job_config =
	    xrealloc(g->job_config, (size_t)(g->njob_config + 1) * sizeof *g->job_config);
	g->job_config[g->njob_config].key = xstrdup(key);
	g->job_config[g->njob_config].value = xstrdup(value);
	g->njob_config++;
}

void stream_node_operator_id(const struct stream_node *n, char *out, size_t cap)
{
	if (n->uid && *n->uid)
		snprintf(out, cap, "%s", n->uid);
	else
		snprintf(out, cap, "node-%d", n->id);
}

struct stream_node *stream_graph_add_node(struct stream_graph *g, enum op_kind kind,
                                          const char *name)
{
	struct stream_node *n = xcalloc(1, sizeof *n);
	n->id = g->nnodes + 1;
	n->kind = kind;
	n->name = xstrdup(name ? name : "");
	n->parallelism = -1;
	n->max_parallelism = -1;
	n->chaining = CHAIN_ALWAYS;
	n->vertex_index = -1;
	g->nodes = xrealloc(g->nodes, sizeof *g->nodes * (size_t)(g->nnodes + 1));
	g->nodes[g->nnodes++] = n;
	return n;
}

/* Appends a borrowed edge pointer to one of a node's edge lists. */
static void edge_list_push(struct stream_edge ***list, int *n, struct stream_edge *e)
{
	*list = xrealloc(*list, sizeof **list * (size_t)(*n + 1));
	(*list)[(*n)++] = e;
}

struct stream_edge *stream_graph_add_edge(struct stream_graph *g, struct stream_node *source,
                                          struct stream_node *target, enum partitioner p,
                                          bool explicit_partitioner, int type_number,
                                          const struct key_spec *key)
{
	struct stream_edge *e = xcalloc(1, sizeof *e);
	e->id = g->nedges + 1;
	e->source = source;
	e->target = target;
	e->partitioner = p;
	e->partitioner_explicit = explicit_partitioner;
	e->type_number = type_number;
	key_spec_copy(&e->key, key);
	g->edges = xrealloc(g->edges, sizeof *g->edges * (size_t)(g->nedges + 1));
	g->edges[g->nedges++] = e;
	edge_list_push(&source->out_edges, &source->nout, e);
	edge_list_push(&target->in_edges, &target->nin, e);
	if (target->nin == 1)
		target->in_schema = source->out_schema;
	return e;
}

/*
 * Parallelism of one node (flink-facts.md §1, DESIGN.md "Parallelism"): the operator's own
 * setting wins; a non-parallel source runs with 1; everything else takes the graph's
 * default, which the caller has already resolved from environment, -p and config. The
 * bounds are Flink's: 1..32768 (Transformation.UPPER_BOUND_MAX_PARALLELISM), and not above
 * the max parallelism, since key groups cannot be split further.
 */
static int resolve_parallelism(struct stream_graph *g, struct stream_node *n,
                               struct spate_error *err)
{
	bool user_set = n->parallelism != -1;
	int p;
	int maxp;

	if (n->non_parallel) {
		if (user_set && n->parallelism != 1)
			return error_set(
			    err, SPATE_EGRAPH,
			    "operator '%s' is non-parallel: parallelism must be 1, not %d", n->name,
			    n->parallelism);
		p = 1;
	} else {
		p = user_set ? n->parallelism : g->default_parallelism;
	}
	if (p < 1 || p > KEY_GROUP_UPPER_BOUND)
		return error_set(
		    err, SPATE_EGRAPH,
		    "parallelism %d of operator '%s' is out of range: must be between 1 "
		    "and %d",
		    p, n->name, KEY_GROUP_UPPER_BOUND);

	maxp = n->max_parallelism != -1 ? n->max_parallelism : g->max_parallelism;
	if (maxp != -1) {
		if (maxp < 1 || maxp > KEY_GROUP_UPPER_BOUND)
			return error_set(
			    err, SPATE_EGRAPH,
			    "max parallelism %d of operator '%s' is out of range: must be "
			    "between 1 and %d",
			    maxp, n->name, KEY_GROUP_UPPER_BOUND);
		if (p > maxp)
			return error_set(
			    err, SPATE_EGRAPH,
			    "parallelism %d of operator '%s' exceeds its max parallelism %d", p,
			    n->name, maxp);
	}
	n->parallelism = p;
	return 0;
}

/*
 * Flink's StreamGraphGenerator.determineSlotSharingGroup: the user's group; else the inputs'
 * group when they all agree; else (inputs disagree, or no inputs) "default". Inputs are
 * resolved before this runs because they have lower ids.
 */
static void resolve_slot_sharing_group(struct stream_node *n)
{
	const char *group = NULL;

	if (n->slot_sharing_group_user) {
		group = n->slot_sharing_group_user;
	} else {
		for (int i = 0; i < n->nin; i++) {
			const char *in = n->in_edges[i]->source->slot_sharing_group;
			if (group && strcmp(group, in) != 0) {
				group = DEFAULT_SLOT_SHARING_GROUP;
				break;
			}
			group = in;
		}
		if (!group)
			group = DEFAULT_SLOT_SHARING_GROUP;
	}
	/* group may point into an input's string; duplicate before releasing ours. */
	char *copy = xstrdup(group);
	xfree(n->slot_sharing_group);
	n->slot_sharing_group = copy;
}

/*
 * Flink's StreamGraph.createActualEdge: no partitioner means FORWARD between equal
 * parallelisms and REBALANCE otherwise; a forward edge across a parallelism change cannot
 * be wired 1:1 and fails with Flink's own message, in which StreamNode.toString() renders
 * an operation as "<name>-<id>".
 */
static int resolve_partitioner(struct stream_edge *e, struct spate_error *err)
{
	struct stream_node *up = e->source;
	struct stream_node *down = e->target;

	if (e->partitioner == PART_UNSPECIFIED)
		e->partitioner =
		    up->parallelism == down->parallelism ? PART_FORWARD : PART_REBALANCE;
	if (e->partitioner == PART_FORWARD && up->parallelism != down->parallelism)
		return error_set(
		    err, SPATE_EGRAPH,
		    "Forward partitioning does not allow change of parallelism. "
		    "Upstream operation: %s-%d parallelism: %d, downstream operation: "
		    "%s-%d parallelism: %d You must use another partitioning strategy, "
		    "such as broadcast, rebalance, shuffle or global.",
		    up->name, up->id, up->parallelism, down->name, down->id, down->parallelism);
	if (e->partitioner == PART_HASH && e->key.nfields <= 0 && !e->key.selector_fn)
		return error_set(err, SPATE_EGRAPH,
		                 "keyed edge from '%s' to '%s' has no key: set key fields or a key "
		                 "selector",
		                 up->name, down->name);
	return 0;
}

/* Shape checks: the API builds the graph, so these catch its bugs, not users'. */
static int check_shape(const struct stream_graph *g, struct spate_error *err)
{
	for (int i = 0; i < g->nnodes; i++) {
		const struct stream_node *n = g->nodes[i];
		if (n->id != i + 1)
			return error_set(err, SPATE_EGRAPH,
			                 "operator '%s' has id %d at position %d", n->name, n->id,
			                 i + 1);
		if (op_kind_is_source(n->kind) && n->nin > 0)
			return error_set(err, SPATE_EGRAPH, "source '%s' cannot have inputs",
			                 n->name);
		if (!op_kind_is_source(n->kind) && n->nin == 0)
			return error_set(err, SPATE_EGRAPH, "operator '%s' has no input", n->name);
		if (op_kind_is_sink(n->kind) && n->nout > 0)
			return error_set(err, SPATE_EGRAPH, "sink '%s' cannot have outputs",
			                 n->name);
	}
	for (int i = 0; i < g->nedges; i++) {
		const struct stream_edge *e = g->edges[i];
		/* Inputs must be built first; everything below relies on it. */
		if (e->source->id >= e->target->id)
			return error_set(err, SPATE_EGRAPH,
			                 "edge from '%s' (%d) to '%s' (%d) does not go forward in "
			                 "operator order",
			                 e->source->name, e->source->id, e->target->name,
			                 e->target->id);
	}
	return 0;
}

int stream_graph_finalize(struct stream_graph *g, struct spate_error *err)
{
	int rc;

	if (g->nnodes == 0)
		return error_set(err, SPATE_EGRAPH,
		                 "no operators defined in streaming topology: cannot execute");
	rc = check_shape(g, err);
	if (rc)
		return rc;
	for (int i = 0; i < g->nnodes; i++) {
		struct stream_node *n = g->nodes[i];
		rc = resolve_parallelism(g, n, err);
		if (rc)
			return rc;
		resolve_slot_sharing_group(n);
		if (n->nin > 0)
			n->in_schema = n->in_edges[0]->source->out_schema;
	}
	for (int i = 0; i < g->nedges; i++) {
		rc = resolve_partitioner(g->edges[i], err);
		if (rc)
			return rc;
	}
	return 0;
}
