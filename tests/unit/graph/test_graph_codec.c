/*
 * test_graph_codec.c - the StreamGraph wire format (graph_codec.h): round trips of real
 * graphs built through the public API, and the decoder's answers to bad bytes.
 *
 * A round trip is judged by what the receivers do with the graph: the JobGraph built from
 * the decoded graph must print the same plan JSON (vertex ids, names, chains, parallelism,
 * slot sharing groups, max parallelism, partitioners) as the one built from the original,
 * need the same slots, and every node and edge must carry the same fields. The expected
 * values are the original graph's, never the decoder's own output.
 *
 * The user functions below are non-static and the test is linked with -rdynamic, so the
 * API can name them by dladdr as it would in a job library. They never run.
 *
 * SPATE_GRAPH_CORPUS_OUT=<dir> makes the tests also write the encodings they use (valid_*
 * and invalid_*) into <dir>; that is how tests/fuzz/corpus/graph_decode was made.
 * test_corpus replays that folder, so CI runs the decoder over it on every build.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/api.h"
#include "core/alloc.h"
#include "graph/execution_graph.h"
#include "graph/graph_codec.h"
#include "graph/job_graph.h"
#include "proto/graph.pb-c.h"
#include "unit/corpus.h"

/* ---- user functions (named by the API, never called) ------------------------------------ */

int codec_tokenize(spate_ctx *ctx, const spate_row *in, spate_collector *out);
int codec_tokenize(spate_ctx *ctx, const spate_row *in, spate_collector *out)
{
	return 0;
}

int codec_map(spate_ctx *ctx, const spate_row *in, spate_row_builder *out);
int codec_map(spate_ctx *ctx, const spate_row *in, spate_row_builder *out)
{
	return 0;
}

int codec_filter(spate_ctx *ctx, const spate_row *in);
int codec_filter(spate_ctx *ctx, const spate_row *in)
{
	return 1;
}

int codec_key(spate_ctx *ctx, const spate_row *in, spate_row_builder *key);
int codec_key(spate_ctx *ctx, const spate_row *in, spate_row_builder *key)
{
	return 0;
}

int codec_reduce(spate_ctx *ctx, const spate_row *acc, const spate_row *in, spate_row_builder *out);
int codec_reduce(spate_ctx *ctx, const spate_row *acc, const spate_row *in, spate_row_builder *out)
{
	return 0;
}

int codec_process(spate_ctx *ctx, const spate_row *in, spate_collector *out);
int codec_process(spate_ctx *ctx, const spate_row *in, spate_collector *out)
{
	return 0;
}

int codec_end(spate_ctx *ctx, spate_collector *out);
int codec_end(spate_ctx *ctx, spate_collector *out)
{
	return 0;
}

int codec_gen(spate_ctx *ctx, int64_t index, spate_row_builder *out);
int codec_gen(spate_ctx *ctx, int64_t index, spate_row_builder *out)
{
	return 0;
}

/* ---- comparing graphs -------------------------------------------------------------------- */

static void assert_same_str(const char *a, const char *b, const char *what)
{
	if (!a || !b) {
		if (a != b)
			fail_msg("%s: '%s' vs '%s'", what, a ? a : "(null)", b ? b : "(null)");
		return;
	}
	if (strcmp(a, b) != 0)
		fail_msg("%s: '%s' vs '%s'", what, a, b);
}

static void assert_same_schema(const struct schema *a, const struct schema *b, const char *what)
{
	assert_same_str(a ? a->text : NULL, b ? b->text : NULL, what);
}

static void assert_same_key(const struct key_spec *a, const struct key_spec *b)
{
	assert_int_equal(a->nfields, b->nfields);
	for (int i = 0; i < a->nfields; i++)
		assert_int_equal(a->fields[i], b->fields[i]);
	assert_same_str(a->selector_fn, b->selector_fn, "key selector");
	assert_same_schema(a->key_schema, b->key_schema, "key schema");
}

static void assert_same_node(const struct stream_node *a, const struct stream_node *b)
{
	assert_int_equal(a->id, b->id);
	assert_int_equal(a->kind, b->kind);
	assert_same_str(a->name, b->name, "name");
	assert_same_str(a->uid, b->uid, "uid");
	assert_int_equal(a->parallelism, b->parallelism);
	assert_int_equal(a->max_parallelism, b->max_parallelism);
	assert_int_equal(a->non_parallel, b->non_parallel);
	assert_int_equal(a->chaining, b->chaining);
	assert_same_str(a->slot_sharing_group_user, b->slot_sharing_group_user, "user group");
	assert_same_str(a->slot_sharing_group, b->slot_sharing_group, "slot sharing group");
	assert_same_schema(a->out_schema, b->out_schema, "out_schema");
	assert_same_schema(a->in_schema, b->in_schema, "in_schema");
	assert_same_str(a->fn_name, b->fn_name, "fn_name");
	assert_same_str(a->end_fn_name, b->end_fn_name, "end_fn_name");
	assert_int_equal(a->keyed, b->keyed);
	assert_same_key(&a->key, &b->key);
	assert_int_equal(a->agg, b->agg);
	assert_int_equal(a->agg_field, b->agg_field);
	assert_same_str(a->path, b->path, "path");
	assert_same_str(a->host, b->host, "host");
	assert_int_equal(a->port, b->port);
	assert_int_equal(a->from, b->from);
	assert_int_equal(a->to, b->to);
	assert_int_equal(a->count, b->count);
	assert_true(a->rate == b->rate);
	assert_int_equal(a->data_len, b->data_len);
	assert_int_equal(a->data_count, b->data_count);
	if (a->data_len)
		assert_memory_equal(a->data, b->data, a->data_len);
	assert_int_equal(a->nparams, b->nparams);
	for (int i = 0; i < a->nparams; i++) {
		assert_string_equal(a->params[i].key, b->params[i].key);
		assert_string_equal(a->params[i].value, b->params[i].value);
	}
	assert_int_equal(a->nin, b->nin);
	for (int i = 0; i < a->nin; i++)
		assert_int_equal(a->in_edges[i]->id, b->in_edges[i]->id);
	assert_int_equal(a->nout, b->nout);
	for (int i = 0; i < a->nout; i++)
		assert_int_equal(a->out_edges[i]->id, b->out_edges[i]->id);
	assert_int_equal(a->vertex_index, b->vertex_index);
}

static void assert_same_edge(const struct stream_edge *a, const struct stream_edge *b)
{
	assert_int_equal(a->id, b->id);
	assert_int_equal(a->source->id, b->source->id);
	assert_int_equal(a->target->id, b->target->id);
	assert_int_equal(a->partitioner, b->partitioner);
	assert_int_equal(a->partitioner_explicit, b->partitioner_explicit);
	assert_int_equal(a->type_number, b->type_number);
	assert_same_key(&a->key, &b->key);
}

static struct job_graph *build_job_graph(struct stream_graph *g)
{
	struct spate_error err = {0};
	struct job_graph *jg = NULL;
	if (job_graph_build(g, &jg, &err) != 0)
		fail_msg("job_graph_build failed: %s", err.msg);
	return jg;
}

/*
 * Encodes the finalized graph `g`, decodes it, and checks that both build the same job
 * graph and execution graph and carry the same fields; then that the decoded graph encodes
 * to the same bytes (so no field is lost on the way back either).
 */
static void check_round_trip(struct stream_graph *g, uint8_t **out, size_t *out_len)
{
	struct spate_error err = {0};
	size_t len, len2;
	uint8_t *buf = stream_graph_encode(g, &len);
	struct stream_graph *d = stream_graph_decode(buf, len, &err);
	if (!d)
		fail_msg("decode of a valid encoding failed: %s", err.msg);

	struct job_graph *ja = build_job_graph(g);
	struct job_graph *jb = build_job_graph(d);
	memcpy(jb->job_id, ja->job_id, sizeof ja->job_id);
	char *pa = job_graph_plan_json(ja);
	char *pb = job_graph_plan_json(jb);
	assert_non_null(pa);
	assert_non_null(pb);
	assert_string_equal(pa, pb);
	assert_int_equal(job_graph_slots_needed(ja), job_graph_slots_needed(jb));
	assert_int_equal(job_graph_subtask_count(ja), job_graph_subtask_count(jb));
	assert_int_equal(ja->nvertices, jb->nvertices);
	for (int i = 0; i < ja->nvertices; i++) {
		assert_string_equal(ja->vertices[i]->id, jb->vertices[i]->id);
		assert_string_equal(ja->vertices[i]->name, jb->vertices[i]->name);
		assert_int_equal(ja->vertices[i]->max_parallelism,
		                 jb->vertices[i]->max_parallelism);
		assert_string_equal(ja->vertices[i]->slot_sharing_group,
		                    jb->vertices[i]->slot_sharing_group);
	}
	struct execution_graph *ea = NULL, *eb = NULL;
	assert_int_equal(execution_graph_build(ja, &ea, &err), 0);
	assert_int_equal(execution_graph_build(jb, &eb, &err), 0);
	assert_int_equal(ea->nsubtasks, eb->nsubtasks);
	for (int i = 0; i < ja->nvertices; i++)
		for (int k = 0; k < ja->vertices[i]->parallelism; k++) {
			assert_int_equal(ea->by_vertex[i][k].key_group_first,
			                 eb->by_vertex[i][k].key_group_first);
			assert_int_equal(ea->by_vertex[i][k].key_group_last,
			                 eb->by_vertex[i][k].key_group_last);
		}

	assert_same_str(g->job_name, d->job_name, "job_name");
	assert_int_equal(g->default_parallelism, d->default_parallelism);
	assert_int_equal(g->max_parallelism, d->max_parallelism);
	assert_int_equal(g->chaining_enabled, d->chaining_enabled);
	assert_int_equal(g->buffer_timeout_ms, d->buffer_timeout_ms);
	assert_int_equal(g->nnodes, d->nnodes);
	assert_int_equal(g->nedges, d->nedges);
	for (int i = 0; i < g->nnodes; i++)
		assert_same_node(g->nodes[i], d->nodes[i]);
	for (int i = 0; i < g->nedges; i++)
		assert_same_edge(g->edges[i], d->edges[i]);

	uint8_t *buf2 = stream_graph_encode(d, &len2);
	assert_int_equal(len, len2);
	assert_memory_equal(buf, buf2, len);

	xfree(buf2);
	execution_graph_free(ea);
	execution_graph_free(eb);
	xfree(pa);
	xfree(pb);
	job_graph_free(ja);
	job_graph_free(jb);
	stream_graph_free(d);
	*out = buf;
	*out_len = len;
}

/* ---- building graphs through the public API --------------------------------------------- */

struct captured {
	uint8_t *buf; /* the original graph's encoding (xfree) */
	size_t len;
	int nodes;
	int edges;
};

/* The executor spate_env_execute hands the finalized graph to: check and keep the bytes. */
static int capture_executor(void *arg, spate_env *env, struct stream_graph *g,
                            spate_result **result)
{
	struct captured *c = arg;
	check_round_trip(g, &c->buf, &c->len);
	c->nodes = g->nnodes;
	c->edges = g->nedges;
	return 0;
}

/* Writes bytes into $SPATE_GRAPH_CORPUS_OUT/<name> when that is set (see the top). */
static void corpus_store(const char *name, const uint8_t *buf, size_t len)
{
	const char *dir = getenv("SPATE_GRAPH_CORPUS_OUT");
	char path[PATH_MAX];
	FILE *f;

	if (!dir)
		return;
	snprintf(path, sizeof path, "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f)
		fail_msg("cannot write corpus file '%s'", path);
	if (len)
		assert_int_equal(fwrite(buf, 1, len, f), len);
	fclose(f);
}

/* Runs a job body with -p `parallelism` and returns its graph's encoding, also stored as
 * valid_<name> in the corpus being written, if any, unless name is NULL. */
static struct captured run_job(int (*body)(spate_env *), int parallelism, const char *name)
{
	struct captured c = {0};
	struct env_options opts = {
	    .cli_parallelism = parallelism,
	    .executor = capture_executor,
	    .executor_arg = &c,
	};
	spate_env *env = env_new(NULL, &opts);
	int rc = body(env);
	if (rc != 0)
		fail_msg("job '%s' failed: %s", name ? name : "-", spate_env_error(env));
	env_free(env);
	assert_non_null(c.buf);
	if (name) {
		char file[128];
		snprintf(file, sizeof file, "valid_%s", name);
		corpus_store(file, c.buf, c.len);
	}
	return c;
}

static bool wordcount_unchained;

/* Flink's WordCount: collection source -> flatMap -> keyBy(word) -> sum -> print(p=1). */
static int wordcount_job(spate_env *env)
{
	static const char *const lines[] = {"to be or not to be", NULL, "that is the question"};
	if (wordcount_unchained)
		spate_env_disable_operator_chaining(env);
	spate_stream *s = spate_env_from_strings(env, lines, 3);
	s = spate_stream_name(s, "in-memory-input");
	s = spate_stream_flat_map(s, "word:string,count:int64", codec_tokenize);
	s = spate_stream_uid(spate_stream_name(s, "tokenizer"), "tokenizer-uid");
	s = spate_stream_key_by(s, "word");
	s = spate_stream_sum(s, "count");
	s = spate_stream_name(s, "counter");
	s = spate_stream_set_param(s, "window", "10s");
	s = spate_stream_set_param(s, "empty", "");
	spate_stream_set_parallelism(spate_stream_print(s), 1);
	return spate_env_execute(env, "WordCount", NULL);
}

/*
 * A key selector, slot sharing groups, chaining switched off and on again, max parallelism
 * on the environment and on one operator, a generator with count and rate, a two-field
 * key, on_end hooks and a function sink.
 */
static int selector_job(spate_env *env)
{
	spate_env_set_max_parallelism(env, 256);
	spate_stream *s =
	    spate_env_from_generator(env, "k:int64,v:double,tag:string", codec_gen, 1000, 250.5);
	s = spate_stream_set_parallelism(s, 3);
	s = spate_stream_key_by_selector(s, "key:int64", codec_key);
	s = spate_stream_reduce(s, codec_reduce);
	s = spate_stream_slot_sharing_group(s, "heavy");
	s = spate_stream_set_max_parallelism(s, 64);
	s = spate_stream_uid(s, "reducer");
	s = spate_stream_disable_chaining(spate_stream_map(s, "k:int64,v:double", codec_map));
	s = spate_stream_start_new_chain(spate_stream_filter(s, codec_filter));
	s = spate_stream_key_by(s, "v, k");
	s = spate_stream_process(s, "k:int64,total:double", codec_process);
	s = spate_stream_slot_sharing_group(spate_stream_on_end(s, codec_end), "light");
	s = spate_stream_key_by(s, "k");
	s = spate_stream_min_by(s, "total");
	s = spate_stream_sink(s, codec_process);
	spate_stream_on_end(spate_stream_uid(s, "checker"), codec_end);
	return spate_env_execute(env, "Selector \"quoted\" job", NULL);
}

/* An unbounded generator with no rate limit, into a print sink, everything at default. */
static int unbounded_job(spate_env *env)
{
	spate_stream *s =
	    spate_env_from_generator(env, "ts:timestamp,b:bytes,ok:bool,i:int32", codec_gen, -1, 0);
	s = spate_stream_max(spate_stream_key_by(s, "b,ok"), "ts");
	spate_stream_print(s);
	return spate_env_execute(env, NULL, NULL);
}

/* ---- round trips ------------------------------------------------------------------------ */

static void test_round_trip_wordcount(void **state)
{
	struct captured c = run_job(wordcount_job, 2, "wordcount");
	assert_int_equal(c.nodes, 4);
	xfree(c.buf);
	c = run_job(wordcount_job, 9, "wordcount_p9");
	xfree(c.buf);
}

static void test_round_trip_wordcount_unchained(void **state)
{
	wordcount_unchained = true;
	struct captured c = run_job(wordcount_job, 3, "wordcount_unchained");
	wordcount_unchained = false;
	xfree(c.buf);
}

static void test_round_trip_selector(void **state)
{
	struct captured c = run_job(selector_job, 4, "selector");
	assert_int_equal(c.nodes, 7);
	xfree(c.buf);
}

/* Every partitioner, a union of a parallel and a non-parallel source, and the other
 * sources and sinks: sequence, int64s, socket, text file, write_text, collect, print. */
static int partitioners_ok_job(spate_env *env)
{
	static const int64_t items[] = {3, 1, 4, 1, 5};
	spate_stream *a = spate_env_from_sequence(env, -5, 1000);
	spate_stream *b = spate_env_from_int64s(env, items, 5);
	b = spate_stream_map(spate_stream_rebalance(b), "value:int64", codec_map);
	spate_stream *u = spate_stream_union(a, b);
	spate_stream *x = spate_stream_map(spate_stream_forward(u), NULL, codec_map);
	x = spate_stream_set_parallelism(spate_stream_map(spate_stream_rescale(x), NULL, codec_map),
	                                 2);
	x = spate_stream_map(spate_stream_shuffle(x), NULL, codec_map);
	x = spate_stream_map(spate_stream_broadcast(x), NULL, codec_map);
	x = spate_stream_set_parallelism(spate_stream_filter(spate_stream_global(x), codec_filter),
	                                 1);
	spate_stream_write_text(x, "/tmp/spate-codec-unused");

	spate_stream *sock = spate_env_socket_text_stream(env, "localhost", 9999);
	sock = spate_stream_flat_map(sock, "w:string,n:int32", codec_tokenize);
	sock = spate_stream_max(spate_stream_key_by(sock, "w"), "n");
	spate_stream_collect(spate_stream_rebalance(sock), "socket-out");
	spate_stream_print(spate_env_read_text_file(env, "."));
	return spate_env_execute(env, "Partitioners", NULL);
}

static void test_round_trip_every_partitioner(void **state)
{
	struct captured c = run_job(partitioners_ok_job, 4, "partitioners");
	xfree(c.buf);
}

static void test_round_trip_unbounded_generator(void **state)
{
	struct captured c = run_job(unbounded_job, 1, "unbounded");
	assert_int_equal(c.nodes, 3);
	xfree(c.buf);
}

/* ---- rejections ------------------------------------------------------------------------- */

/* Decodes, expecting failure with `code` and a message containing `want`. */
static void expect_reject(const uint8_t *buf, size_t len, int code, const char *want)
{
	struct spate_error err = {0};
	struct stream_graph *g = stream_graph_decode(buf, len, &err);
	if (g) {
		stream_graph_free(g);
		fail_msg("decode accepted bad input (wanted '%s')", want);
	}
	assert_int_equal(err.code, code);
	if (!strstr(err.msg, want))
		fail_msg("error '%s' does not contain '%s'", err.msg, want);
	assert_null(strchr(err.msg, '\n'));
}

typedef void (*mutate_fn)(Spate__Graph__StreamGraphMsg *m);

/* The encoding `c` with `fn` applied to its message; stored as invalid_<name>. */
static void expect_mutation_rejected(const struct captured *c, mutate_fn fn, const char *name,
                                     const char *want)
{
	Spate__Graph__StreamGraphMsg *m =
	    spate__graph__stream_graph_msg__unpack(NULL, c->len, c->buf);
	assert_non_null(m);
	fn(m);
	size_t len = spate__graph__stream_graph_msg__get_packed_size(m);
	uint8_t *buf = malloc(len ? len : 1);
	spate__graph__stream_graph_msg__pack(m, buf);
	spate__graph__stream_graph_msg__free_unpacked(m, NULL);
	char file[128];
	snprintf(file, sizeof file, "invalid_%s", name);
	corpus_store(file, buf, len);
	expect_reject(buf, len, SPATE_EGRAPH, want);
	free(buf);
}

static void edge_to_missing_node(Spate__Graph__StreamGraphMsg *m)
{
	m->edges[1]->target_id = 17;
}

static void key_field_out_of_range(Spate__Graph__StreamGraphMsg *m)
{
	m->edges[1]->key->fields[0] = 2; /* "word:string,count:int64" has fields 0 and 1 */
}

static void node_key_field_out_of_range(Spate__Graph__StreamGraphMsg *m)
{
	m->nodes[2]->key->fields[0] = 7;
}

static void key_type_mismatch(Spate__Graph__StreamGraphMsg *m)
{
	m->edges[1]->key->fields[0] = 1; /* count:int64 under key schema word:string */
}

static void parallelism_zero(Spate__Graph__StreamGraphMsg *m)
{
	m->nodes[1]->parallelism = 0;
}

static void parallelism_huge(Spate__Graph__StreamGraphMsg *m)
{
	m->nodes[1]->parallelism = 40000;
}

static void unknown_kind(Spate__Graph__StreamGraphMsg *m)
{
	m->nodes[3]->kind = (Spate__Graph__StreamOpKind)99;
}

static void unknown_partitioner(Spate__Graph__StreamGraphMsg *m)
{
	m->edges[0]->partitioner = (Spate__Graph__StreamPartitioner)42;
}

static void unresolved_partitioner(Spate__Graph__StreamGraphMsg *m)
{
	m->edges[0]->partitioner = SPATE__GRAPH__STREAM_PARTITIONER__STREAM_PART_UNSPECIFIED;
}

static void unknown_chaining(Spate__Graph__StreamGraphMsg *m)
{
	m->nodes[0]->chaining = (Spate__Graph__StreamChainingStrategy)3;
}

static void unknown_agg(Spate__Graph__StreamGraphMsg *m)
{
	m->nodes[2]->agg = (Spate__Graph__StreamAggKind)-1;
}

static void bad_schema(Spate__Graph__StreamGraphMsg *m)
{
	char *s = m->nodes[1]->out_schema; /* "word:string,count:int64" */
	s[strlen(s) - 1] = 'x';
}

static void no_fn_name(Spate__Graph__StreamGraphMsg *m)
{
	free(m->nodes[1]->fn_name);
	m->nodes[1]->fn_name = NULL;
}

static void empty_name(Spate__Graph__StreamGraphMsg *m)
{
	m->nodes[2]->name[0] = '\0';
}

static void wrong_group(Spate__Graph__StreamGraphMsg *m)
{
	m->nodes[2]->slot_sharing_group[0] = 'X';
}

static void node_id_gap(Spate__Graph__StreamGraphMsg *m)
{
	m->nodes[2]->id = 5;
}

static void edge_backwards(Spate__Graph__StreamGraphMsg *m)
{
	m->edges[0]->source_id = 3; /* a cycle 2 -> 3 -> 2, cutting off the source */
}

static void forward_across_parallelism(Spate__Graph__StreamGraphMsg *m)
{
	m->edges[2]->partitioner = SPATE__GRAPH__STREAM_PARTITIONER__STREAM_PART_FORWARD;
}

static void wrong_version(Spate__Graph__StreamGraphMsg *m)
{
	m->format_version = 2;
}

static void no_nodes(Spate__Graph__StreamGraphMsg *m)
{
	for (size_t i = 0; i < m->n_edges; i++)
		spate__graph__stream_edge_msg__free_unpacked(m->edges[i], NULL);
	for (size_t i = 0; i < m->n_nodes; i++)
		spate__graph__stream_node_msg__free_unpacked(m->nodes[i], NULL);
	m->n_nodes = m->n_edges = 0;
}

static void corrupt_row(Spate__Graph__StreamGraphMsg *m)
{
	m->nodes[0]->data.data[4] = 0xff; /* the first row's field count */
}

static void row_count_mismatch(Spate__Graph__StreamGraphMsg *m)
{
	m->nodes[0]->data_count = 4;
}

static void duplicate_uid(Spate__Graph__StreamGraphMsg *m)
{
	free(m->nodes[2]->uid);
	m->nodes[2]->uid = strdup(m->nodes[1]->uid);
}

static void aggregate_field_out_of_range(Spate__Graph__StreamGraphMsg *m)
{
	m->nodes[2]->agg_field = 2;
}

static void aggregate_string_field(Spate__Graph__StreamGraphMsg *m)
{
	m->nodes[2]->agg_field = 0; /* word:string */
}

static void default_parallelism_zero(Spate__Graph__StreamGraphMsg *m)
{
	m->default_parallelism = 0;
}

static void test_rejects_bad_graphs(void **state)
{
	struct captured c = run_job(wordcount_job, 2, NULL);
	/* nodes: 1 source(p1) 2 tokenizer 3 counter 4 sink(p1); edges 1:1->2 2:2->3 3:3->4 */
	expect_mutation_rejected(&c, edge_to_missing_node, "edge_to_missing_node",
	                         "bad job graph: edge 2 names unknown node 17");
	expect_mutation_rejected(&c, key_field_out_of_range, "key_field_out_of_range",
	                         "bad job graph: edge 2 key field index 2 is out of range");
	expect_mutation_rejected(&c, node_key_field_out_of_range, "node_key_field_out_of_range",
	                         "node 3 ('counter') key field index 7 is out of range");
	expect_mutation_rejected(&c, key_type_mismatch, "key_type_mismatch",
	                         "key schema 'word:string' does not match field 1");
	expect_mutation_rejected(&c, parallelism_zero, "parallelism_zero",
	                         "bad job graph: node 2 ('tokenizer') has parallelism 0");
	expect_mutation_rejected(&c, parallelism_huge, "parallelism_huge",
	                         "has parallelism 40000: must be between 1 and 32768");
	expect_mutation_rejected(&c, unknown_kind, "unknown_kind",
	                         "bad job graph: node 4 ('Sink: Print to Std. Out') has unknown "
	                         "kind 99");
	expect_mutation_rejected(&c, unknown_partitioner, "unknown_partitioner",
	                         "bad job graph: edge 1 has unknown partitioner 42");
	expect_mutation_rejected(&c, unresolved_partitioner, "unresolved_partitioner",
	                         "edge 1 has no resolved partitioner");
	expect_mutation_rejected(&c, unknown_chaining, "unknown_chaining",
	                         "has unknown chaining strategy 3");
	expect_mutation_rejected(&c, unknown_agg, "unknown_agg", "has unknown aggregation -1");
	expect_mutation_rejected(&c, bad_schema, "bad_schema",
	                         "node 2 ('tokenizer') output schema: bad schema");
	expect_mutation_rejected(&c, no_fn_name, "no_fn_name",
	                         "node 2 ('tokenizer') has no function name");
	expect_mutation_rejected(&c, empty_name, "empty_name", "bad job graph: node 3 has no name");
	expect_mutation_rejected(&c, wrong_group, "wrong_group",
	                         "was sent with slot sharing group 'Xefault' but resolves to "
	                         "'default'");
	expect_mutation_rejected(&c, node_id_gap, "node_id_gap",
	                         "node at position 3 has id 5, expected 3");
	expect_mutation_rejected(&c, edge_backwards, "edge_backwards",
	                         "does not go forward in operator order");
	expect_mutation_rejected(&c, forward_across_parallelism, "forward_across_parallelism",
	                         "Forward partitioning does not allow change of parallelism");
	expect_mutation_rejected(&c, no_nodes, "no_nodes", "bad job graph: no operators");
	expect_mutation_rejected(&c, corrupt_row, "corrupt_row", "collection row 1 is corrupt");
	expect_mutation_rejected(&c, row_count_mismatch, "row_count_mismatch",
	                         "has 3 collection rows but says 4");
	expect_mutation_rejected(&c, duplicate_uid, "duplicate_uid",
	                         "uid 'tokenizer-uid' is used by two operators");
	expect_mutation_rejected(&c, aggregate_field_out_of_range, "aggregate_field_out_of_range",
	                         "aggregates field 2, outside its input schema");
	expect_mutation_rejected(&c, aggregate_string_field, "aggregate_string_field",
	                         "aggregates field 0, which is string, not a number");
	expect_mutation_rejected(&c, default_parallelism_zero, "default_parallelism_zero",
	                         "bad job graph: default parallelism 0");

	/* The format version is checked before anything else, with its own code. */
	Spate__Graph__StreamGraphMsg *m =
	    spate__graph__stream_graph_msg__unpack(NULL, c.len, c.buf);
	wrong_version(m);
	size_t len = spate__graph__stream_graph_msg__get_packed_size(m);
	uint8_t *buf = malloc(len);
	spate__graph__stream_graph_msg__pack(m, buf);
	spate__graph__stream_graph_msg__free_unpacked(m, NULL);
	corpus_store("invalid_wrong_version", buf, len);
	expect_reject(buf, len, SPATE_ECORRUPT,
	              "bad job graph: format version 2 is not supported (expected 1)");
	free(buf);
	xfree(c.buf);
}

static void test_rejects_empty_and_garbage(void **state)
{
	static const uint8_t garbage[] = "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01";
	uint8_t one = 0;

	expect_reject(NULL, 0, SPATE_ECORRUPT, "bad job graph: empty buffer");
	expect_reject(&one, 0, SPATE_ECORRUPT, "bad job graph: empty buffer");
	expect_reject(garbage, sizeof garbage - 1, SPATE_ECORRUPT,
	              "bad job graph: 11 bytes do not parse as a StreamGraphMsg");
	/* A well-formed protobuf with nothing in it is not a graph of this format. */
	static const uint8_t version_only[] = {0x08, 0x01};
	expect_reject(version_only, sizeof version_only, SPATE_EGRAPH,
	              "bad job graph: default parallelism 0");
	corpus_store("invalid_garbage", garbage, sizeof garbage - 1);
	corpus_store("invalid_version_only", version_only, sizeof version_only);
}

/* ---- untrusted bytes: anything must decode to a usable graph or fail cleanly ------------- */

/*
 * What the fuzz driver checks, for inputs that are not expected to be valid: a failure has
 * a code and a one-line "bad job graph: " message; a success builds a job graph and
 * re-encodes to bytes that decode to the same encoding again. Returns whether it decoded.
 */
static bool exercise(const uint8_t *data, size_t len)
{
	struct spate_error err = {0};
	/* an exact-size copy, so reads past the end are caught by ASan */
	uint8_t *buf = malloc(len ? len : 1);
	if (len)
		memcpy(buf, data, len);
	struct stream_graph *g = stream_graph_decode(buf, len, &err);
	free(buf);
	if (!g) {
		assert_true(err.code == SPATE_ECORRUPT || err.code == SPATE_EGRAPH);
		if (strncmp(err.msg, "bad job graph: ", 15) != 0)
			fail_msg("error without the prefix: '%s'", err.msg);
		assert_null(strchr(err.msg, '\n'));
		return false;
	}
	struct job_graph *jg = build_job_graph(g);
	char *plan = job_graph_plan_json(jg);
	assert_non_null(plan);
	xfree(plan);
	job_graph_free(jg);
	size_t len1, len2;
	uint8_t *b1 = stream_graph_encode(g, &len1);
	struct stream_graph *g2 = stream_graph_decode(b1, len1, &err);
	if (!g2)
		fail_msg("re-encoding of a decoded graph does not decode: %s", err.msg);
	uint8_t *b2 = stream_graph_encode(g2, &len2);
	assert_int_equal(len1, len2);
	assert_memory_equal(b1, b2, len1);
	xfree(b1);
	xfree(b2);
	stream_graph_free(g2);
	stream_graph_free(g);
	return true;
}

static void test_every_prefix(void **state)
{
	int (*jobs[])(spate_env *) = {wordcount_job, selector_job, partitioners_ok_job};

	for (size_t j = 0; j < sizeof jobs / sizeof jobs[0]; j++) {
		struct captured c = run_job(jobs[j], 2, NULL);
		int decoded = 0;
		for (size_t n = 0; n < c.len; n++)
			decoded += exercise(c.buf, n);
		/* The last field of the last edge can be cut off (or dropped whole) and still
		 * leave a well-formed message; what must never decode is a cut inside a node. */
		assert_true(decoded < 8);
		assert_true(exercise(c.buf, c.len));
		xfree(c.buf);
	}
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	/* xorshift64*: deterministic, so a failure reproduces */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ull;
}

static void test_random_garbage_and_bit_flips(void **state)
{
	uint8_t buf[512];

	for (int i = 0; i < 3000; i++) {
		size_t len = 1 + rng() % sizeof buf;
		for (size_t k = 0; k < len; k++)
			buf[k] = (uint8_t)rng();
		exercise(buf, len);
	}
	struct captured c = run_job(selector_job, 2, NULL);
	uint8_t *copy = malloc(c.len);
	for (int i = 0; i < 5000; i++) {
		memcpy(copy, c.buf, c.len);
		int flips = 1 + (int)(rng() % 3);
		for (int k = 0; k < flips; k++)
			copy[rng() % c.len] ^= (uint8_t)(1u << (rng() % 8));
		exercise(copy, c.len);
	}
	free(copy);
	xfree(c.buf);
}

/* ---- the stored fuzz corpus --------------------------------------------------------------- */

/*
 * Replays tests/fuzz/corpus/graph_decode: valid_* seeds must decode, invalid_* seeds must
 * be refused, and whatever else the fuzzer adds must at least not crash or leak.
 */
static void check_seed(const char *name, enum corpus_kind kind, const uint8_t *data, size_t len)
{
	bool ok = exercise(data, len);
	if (kind == CORPUS_VALID && !ok)
		fail_msg("seed '%s' was rejected", name);
	if (kind == CORPUS_INVALID && ok)
		fail_msg("seed '%s' was accepted", name);
}

static void test_corpus(void **state)
{
	int counts[CORPUS_KINDS];
	corpus_replay("graph_decode", check_seed, counts);
	assert_true(counts[CORPUS_VALID] >= 3);
	assert_true(counts[CORPUS_INVALID] >= 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip_wordcount),
	    cmocka_unit_test(test_round_trip_wordcount_unchained),
	    cmocka_unit_test(test_round_trip_selector),
	    cmocka_unit_test(test_round_trip_every_partitioner),
	    cmocka_unit_test(test_round_trip_unbounded_generator),
	    cmocka_unit_test(test_rejects_bad_graphs),
	    cmocka_unit_test(test_rejects_empty_and_garbage),
	    cmocka_unit_test(test_every_prefix),
	    cmocka_unit_test(test_random_garbage_and_bit_flips),
	    cmocka_unit_test(test_corpus),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
