/*
 * job_graph.c - StreamGraph -> JobGraph: operator chaining, job vertices and job edges,
 * slot accounting, and the plan JSON that `spate info` and the REST API show.
 *
 * This follows Flink's StreamingJobGraphGenerator (flink-facts.md §1): a depth-first walk
 * from every source, in node id order, that follows chainable edges inside the current
 * chain and starts a new chain at the target of every other edge. Matching Flink here is
 * what users see: the vertex names in the UI and logs, how many tasks and threads a job
 * has, and how many slots it needs all come from this walk.
 *
 * Where we differ from Flink, and why:
 *   - A chain lists its operators head first (pre-order); Flink records them post-order
 *     and reverses later. The runtime wants the head first, so we store it that way.
 *   - Vertex ids are a hash of the chain's operators (their uids, or else their ids)
 *     rather than Flink's StreamGraphHasherV2 digest of the topology; they are equally
 *     deterministic for a given graph, which is what restore and the UI need.
 */
#include "graph/job_graph.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <jansson.h>
#include <xxhash.h>

#include "core/alloc.h"
#include "types/keygroup.h"

/* Used when the job was executed without a name (Flink's is "Flink Streaming Job"). */
#define DEFAULT_JOB_NAME "Spate Streaming Job"

/* Two seeds give 128 bits of vertex id from xxhash64, the width of Flink's JobVertexID. */
#define VERTEX_ID_SEED_HI 0x5370617465ULL /* "Spate" */
#define VERTEX_ID_SEED_LO 0x9e3779b97f4a7c15ULL

struct chain_builder {
	struct stream_graph *sg;
	struct job_graph *jg;
	char **names;  /* chained name of each node (index id-1), built bottom-up */
	bool *chained; /* per stream edge (index id-1): inside one vertex */
};

/*
 * Flink's isChainable (the default allowChainWithDefaultParallelism=false variant), with
 * the parts Spate has: one input only (so unions never chain and the "union on the same
 * input" rule is implied), chaining enabled, same slot sharing group, strategies allow it,
 * same parallelism, and a forward partitioner. Max parallelism may differ (Flink's default
 * for pipeline.operator-chaining.chain-operators-with-different-max-parallelism).
 */
static bool is_chainable(const struct stream_graph *sg, const struct stream_edge *e)
{
	const struct stream_node *up = e->source;
	const struct stream_node *down = e->target;

	return down->nin == 1 && sg->chaining_enabled &&
	       strcmp(up->slot_sharing_group, down->slot_sharing_group) == 0 &&
	       up->chaining != CHAIN_NEVER && down->chaining == CHAIN_ALWAYS &&
	       up->parallelism == down->parallelism && e->partitioner == PART_FORWARD;
}

static struct job_vertex *vertex_new(struct chain_builder *b, struct stream_node *head)
{
	struct job_graph *jg = b->jg;
	struct job_vertex *v = xcalloc(1, sizeof *v);

	v->index = jg->nvertices;
	v->head = head;
	v->parallelism = head->parallelism;
	if (head->max_parallelism > 0)
		v->max_parallelism = head->max_parallelism;
	else if (b->sg->max_parallelism > 0)
		v->max_parallelism = b->sg->max_parallelism;
	else
		v->max_parallelism = key_group_default_max_parallelism(head->parallelism);
	v->slot_sharing_group = head->slot_sharing_group;
	head->vertex_index = v->index;
	jg->vertices = xrealloc(jg->vertices, sizeof *jg->vertices * (size_t)(jg->nvertices + 1));
	jg->vertices[jg->nvertices++] = v;
	return v;
}

/*
 * Flink's createChainedName: the operator's own name, then its chained outputs' names,
 * bare for one output and in parentheses for several. The outputs' names are complete by
 * the time this runs because the walk finishes a node's chained successors first.
 */
static char *chained_name(struct chain_builder *b, const struct stream_node *n)
{
	size_t len = strlen(n->name);
	int nchained = 0;
	char *s;
	char *p;

	for (int i = 0; i < n->nout; i++) {
		const struct stream_edge *e = n->out_edges[i];
		if (!b->chained[e->id - 1])
			continue;
		len += strlen(b->names[e->target->id - 1]) + 2; /* the output's name and its ", " */
		nchained++;
	}
	if (nchained == 0)
		return xstrdup(n->name);
	len += 4 + 2 + 1; /* " -> ", "(" ")", NUL */
	s = xmalloc(len);
	p = s;
	p += sprintf(p, "%s -> %s", n->name, nchained > 1 ? "(" : "");
	for (int i = 0, k = 0; i < n->nout; i++) {
		const struct stream_edge *e = n->out_edges[i];
		if (!b->chained[e->id - 1])
			continue;
		p += sprintf(p, "%s%s", k++ ? ", " : "", b->names[e->target->id - 1]);
	}
	if (nchained > 1)
		strcpy(p, ")");
	return s;
}

/*
 * Flink's createChain: adds `n` to vertex `v`, follows chainable outputs inside the chain,
 * then starts a new chain at the target of each other output unless that target's chain
 * exists already (a node with several inputs is reached more than once). Chainable
 * outputs are walked before the others, as in Flink, which fixes the order in which new
 * vertices are numbered.
 */
static void create_chain(struct chain_builder *b, struct stream_node *n, struct job_vertex *v)
{
	n->vertex_index = v->index;
	v->operators = xrealloc(v->operators, sizeof *v->operators * (size_t)(v->noperators + 1));
	v->operators[v->noperators++] = n;

	for (int i = 0; i < n->nout; i++) {
		struct stream_edge *e = n->out_edges[i];
		if (is_chainable(b->sg, e)) {
			b->chained[e->id - 1] = true;
			create_chain(b, e->target, v);
		}
	}
	for (int i = 0; i < n->nout; i++) {
		struct stream_edge *e = n->out_edges[i];
		if (b->chained[e->id - 1] || e->target->vertex_index >= 0)
			continue;
		create_chain(b, e->target, vertex_new(b, e->target));
	}
	b->names[n->id - 1] = chained_name(b, n);
}

/*
 * The vertex id: 128 bits of xxhash64 over the chain's operators, each as its uid when the
 * user gave one (so the id survives unrelated changes to the job, as Flink's uid-based
 * operator ids do) or else its id, NUL-separated so that no two chains collide by
 * concatenation.
 */
static void vertex_compute_id(struct job_vertex *v)
{
	size_t cap = 64;
	size_t len = 0;
	char *buf = xmalloc(cap);

	for (int i = 0; i < v->noperators; i++) {
		const struct stream_node *n = v->operators[i];
		char idbuf[32];
		const char *part;
		size_t plen;

		if (n->uid) {
			part = n->uid;
			plen = strlen(n->uid) + 1;
		} else {
			snprintf(idbuf, sizeof idbuf, "#%d", n->id);
			part = idbuf;
			plen = strlen(idbuf) + 1;
		}
		if (len + plen + 1 > cap) {
			cap = (len + plen + 1) * 2;
			buf = xrealloc(buf, cap);
		}
		buf[len++] = n->uid ? 'u' : 'n';
		memcpy(buf + len, part, plen);
		len += plen;
	}
	snprintf(v->id, sizeof v->id, "%016" PRIx64 "%016" PRIx64,
	         (uint64_t)XXH64(buf, len, VERTEX_ID_SEED_HI),
	         (uint64_t)XXH64(buf, len, VERTEX_ID_SEED_LO));
	xfree(buf);
}

int random_job_id(char out[33], struct spate_error *err)
{
	unsigned char raw[16];
	size_t got = 0;

	while (got < sizeof raw) {
		ssize_t n = getrandom(raw + got, sizeof raw - got, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		got += (size_t)n;
	}
	if (got < sizeof raw) {
		/* Kernels without getrandom(2): fall back to the device. */
		int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
		got = 0;
		while (fd >= 0 && got < sizeof raw) {
			ssize_t n = read(fd, raw + got, sizeof raw - got);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			got += (size_t)n;
		}
		if (fd >= 0)
			close(fd);
		if (got < sizeof raw)
			return error_set(err, SPATE_EIO,
			                 "cannot generate a job id: no random source available");
	}
	for (size_t i = 0; i < sizeof raw; i++)
		snprintf(out + 2 * i, 3, "%02x", raw[i]);
	return 0;
}

/* job_graph_build needs what finalize resolves; catch a caller that skipped it. */
static int check_finalized(const struct stream_graph *sg, struct spate_error *err)
{
	if (sg->nnodes == 0)
		return error_set(err, SPATE_EGRAPH,
		                 "no operators defined in streaming topology: cannot execute");
	for (int i = 0; i < sg->nnodes; i++) {
		const struct stream_node *n = sg->nodes[i];
		if (n->parallelism < 1 || !n->slot_sharing_group)
			return error_set(
			    err, SPATE_EINVAL,
			    "stream graph is not finalized: operator '%s' has no resolved "
			    "parallelism or slot sharing group",
			    n->name);
	}
	for (int i = 0; i < sg->nedges; i++)
		if (sg->edges[i]->partitioner == PART_UNSPECIFIED)
			return error_set(err, SPATE_EINVAL,
			                 "stream graph is not finalized: edge into '%s' has no "
			                 "partitioner",
			                 sg->edges[i]->target->name);
	return 0;
}

static void job_edge_add(struct job_graph *jg, struct stream_edge *se)
{
	struct job_edge *e = xcalloc(1, sizeof *e);
	struct job_vertex *src = jg->vertices[se->source->vertex_index];
	struct job_vertex *dst = jg->vertices[se->target->vertex_index];

	e->source = src;
	e->target = dst;
	e->stream_edge = se;
	e->partitioner = se->partitioner;
	e->source_output = src->noutputs;
	e->target_input = dst->ninputs;
	src->outputs = xrealloc(src->outputs, sizeof *src->outputs * (size_t)(src->noutputs + 1));
	src->outputs[src->noutputs++] = e;
	dst->inputs = xrealloc(dst->inputs, sizeof *dst->inputs * (size_t)(dst->ninputs + 1));
	dst->inputs[dst->ninputs++] = e;
	jg->edges = xrealloc(jg->edges, sizeof *jg->edges * (size_t)(jg->nedges + 1));
	jg->edges[jg->nedges++] = e;
}

int job_graph_build(struct stream_graph *sg, struct job_graph **out, struct spate_error *err)
{
	struct chain_builder b = {0};
	struct job_graph *jg;
	int nsources = 0;
	int rc;

	*out = NULL;
	rc = check_finalized(sg, err);
	if (rc)
		return rc;

	jg = xcalloc(1, sizeof *jg);
	rc = random_job_id(jg->job_id, err);
	if (rc) {
		xfree(jg);
		return rc;
	}
	jg->job_name = xstrdup(sg->job_name ? sg->job_name : DEFAULT_JOB_NAME);
	jg->stream_graph = sg;
	for (int i = 0; i < sg->nnodes; i++)
		sg->nodes[i]->vertex_index = -1;

	b.sg = sg;
	b.jg = jg;
	b.names = xcalloc((size_t)sg->nnodes, sizeof *b.names);
	b.chained = xcalloc((size_t)(sg->nedges ? sg->nedges : 1), sizeof *b.chained);

	/*
	 * As Flink does, every source gets its chain (and so its vertex index) before the walk
	 * starts, so sources' chains come first; the walk then numbers the others.
	 */
	for (int i = 0; i < sg->nnodes; i++)
		if (sg->nodes[i]->nin == 0) {
			vertex_new(&b, sg->nodes[i]);
			nsources++;
		}
	for (int i = 0; i < nsources; i++)
		create_chain(&b, jg->vertices[i]->head, jg->vertices[i]);

	for (int i = 0; i < jg->nvertices; i++) {
		struct job_vertex *v = jg->vertices[i];
		v->name = b.names[v->head->id - 1];
		b.names[v->head->id - 1] = NULL;
		vertex_compute_id(v);
	}
	/* Every edge that did not chain is a physical edge; edge id order fixes input order. */
	for (int i = 0; i < sg->nedges; i++)
		if (!b.chained[i])
			job_edge_add(jg, sg->edges[i]);

	for (int i = 0; i < sg->nnodes; i++)
		xfree(b.names[i]);
	xfree(b.names);
	xfree(b.chained);
	*out = jg;
	return 0;
}

void job_graph_free(struct job_graph *jg)
{
	if (!jg)
		return;
	for (int i = 0; i < jg->nvertices; i++) {
		struct job_vertex *v = jg->vertices[i];
		xfree(v->name);
		xfree(v->operators);
		xfree(v->inputs);
		xfree(v->outputs);
		xfree(v);
	}
	xfree(jg->vertices);
	for (int i = 0; i < jg->nedges; i++)
		xfree(jg->edges[i]);
	xfree(jg->edges);
	xfree(jg->job_name);
	xfree(jg);
}

/*
 * Flink puts at most one subtask of each vertex into a slot and shares slots across the
 * vertices of a slot sharing group, so a group needs as many slots as its widest vertex
 * and groups never share (flink-facts.md §2).
 */
int job_graph_slots_needed(const struct job_graph *jg)
{
	int total = 0;

	for (int i = 0; i < jg->nvertices; i++) {
		const char *group = jg->vertices[i]->slot_sharing_group;
		int widest = 0;
		bool seen = false;

		for (int k = 0; k < i && !seen; k++)
			seen = strcmp(jg->vertices[k]->slot_sharing_group, group) == 0;
		if (seen)
			continue;
		for (int k = i; k < jg->nvertices; k++)
			if (strcmp(jg->vertices[k]->slot_sharing_group, group) == 0 &&
			    jg->vertices[k]->parallelism > widest)
				widest = jg->vertices[k]->parallelism;
		total += widest;
	}
	return total;
}

int job_graph_subtask_count(const struct job_graph *jg)
{
	int total = 0;

	for (int i = 0; i < jg->nvertices; i++)
		total += jg->vertices[i]->parallelism;
	return total;
}

struct job_edge *job_graph_find_edge(const struct job_graph *jg, const struct stream_edge *e)
{
	for (int i = 0; i < jg->nedges; i++)
		if (jg->edges[i]->stream_edge == e)
			return jg->edges[i];
	return NULL;
}

/* The StreamOperator class Flink would run for the node, for the plan's "operator". */
static const char *operator_class(const struct stream_node *n)
{
	switch (n->kind) {
	case OP_SOURCE_COLLECTION:
	case OP_SOURCE_TEXT_FILE:
	case OP_SOURCE_SEQUENCE:
	case OP_SOURCE_GENERATOR:
	case OP_SOURCE_SOCKET:
		return "SourceOperator";
	case OP_MAP:
		return "StreamMap";
	case OP_FLAT_MAP:
		return "StreamFlatMap";
	case OP_FILTER:
		return "StreamFilter";
	case OP_REDUCE:
	case OP_AGGREGATE:
		return "StreamGroupedReduceOperator";
	case OP_PROCESS:
		return n->keyed ? "KeyedProcessOperator" : "ProcessOperator";
	case OP_SINK_PRINT:
	case OP_SINK_TEXT:
	case OP_SINK_COLLECT:
	case OP_SINK_FUNCTION:
		return "StreamSink";
	}
	return "StreamOperator";
}

static const char *pact_of(const struct stream_node *n)
{
	if (op_kind_is_source(n->kind))
		return "Data Source";
	if (op_kind_is_sink(n->kind))
		return "Data Sink";
	return "Operator";
}

/* One node of Flink's StreamGraph plan (JSONGenerator.decorateNode + its in-edges). */
static json_t *plan_stream_node(const struct stream_node *n)
{
	json_t *o = json_object();

	json_object_set_new(o, "id", json_integer(n->id));
	json_object_set_new(o, "type", json_string(n->name));
	json_object_set_new(o, "pact", json_string(pact_of(n)));
	json_object_set_new(o, "contents", json_string(n->name));
	json_object_set_new(o, "parallelism", json_integer(n->parallelism));
	json_object_set_new(o, "operator", json_string(operator_class(n)));
	json_object_set_new(o, "uid", n->uid ? json_string(n->uid) : json_null());
	if (n->nin > 0) {
		json_t *preds = json_array();
		/* in_edges are in creation order, which is edge id order. */
		for (int i = 0; i < n->nin; i++) {
			const struct stream_edge *e = n->in_edges[i];
			json_t *p = json_object();
			json_object_set_new(p, "id", json_integer(e->source->id));
			json_object_set_new(p, "ship_strategy",
			                    json_string(partitioner_name(e->partitioner)));
			/* Flink tests the array's size after adding to it, so it is always
			 * "second". */
			json_object_set_new(p, "side", json_string("second"));
			json_array_append_new(preds, p);
		}
		json_object_set_new(o, "predecessors", preds);
	}
	return o;
}

/* One node of Flink's REST plan (JsonPlanGenerator) for a job vertex. */
static json_t *plan_job_vertex(const struct job_vertex *v)
{
	json_t *o = json_object();

	json_object_set_new(o, "id", json_string(v->id));
	json_object_set_new(o, "parallelism", json_integer(v->parallelism));
	json_object_set_new(o, "operator", json_string(v->name));
	json_object_set_new(o, "operator_strategy", json_string(""));
	json_object_set_new(o, "description", json_string(v->name));
	if (v->ninputs > 0) {
		json_t *inputs = json_array();
		for (int i = 0; i < v->ninputs; i++) {
			const struct job_edge *e = v->inputs[i];
			json_t *in = json_object();
			json_object_set_new(in, "num", json_integer(i));
			json_object_set_new(in, "id", json_string(e->source->id));
			json_object_set_new(in, "ship_strategy",
			                    json_string(partitioner_name(e->partitioner)));
			json_object_set_new(in, "exchange", json_string("pipelined_bounded"));
			json_array_append_new(inputs, in);
		}
		json_object_set_new(o, "inputs", inputs);
	}
	json_object_set_new(o, "optimizer_properties", json_object());
	json_object_set_new(o, "slotSharingGroup", json_string(v->slot_sharing_group));
	json_object_set_new(o, "maxParallelism", json_integer(v->max_parallelism));
	return o;
}

char *job_graph_plan_json(const struct job_graph *jg)
{
	const struct stream_graph *sg = jg->stream_graph;
	json_t *root = json_object();
	json_t *nodes = json_array();
	json_t *jobg = json_object();
	json_t *vertices = json_array();
	json_t *summary = json_object();
	char *text;

	/* Flink's JSONGenerator lists the sinks last, each group in id order. */
	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < sg->nnodes; i++)
			if (op_kind_is_sink(sg->nodes[i]->kind) == (pass == 1))
				json_array_append_new(nodes, plan_stream_node(sg->nodes[i]));
	json_object_set_new(root, "nodes", nodes);

	json_object_set_new(jobg, "jid", json_string(jg->job_id));
	json_object_set_new(jobg, "name", json_string(jg->job_name));
	json_object_set_new(jobg, "type", json_string("STREAMING"));
	for (int i = 0; i < jg->nvertices; i++)
		json_array_append_new(vertices, plan_job_vertex(jg->vertices[i]));
	json_object_set_new(jobg, "nodes", vertices);
	json_object_set_new(root, "jobGraph", jobg);

	json_object_set_new(summary, "jobVertices", json_integer(jg->nvertices));
	json_object_set_new(summary, "subtasks", json_integer(job_graph_subtask_count(jg)));
	json_object_set_new(summary, "slotsNeeded", json_integer(job_graph_slots_needed(jg)));
	json_object_set_new(root, "summary", summary);

	text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(root);
	return text;
}
