/*
 * environment.c - the DataStream API: turns the job's calls into a StreamGraph.
 *
 * As in Flink, keyBy, union and the partitioners are not operators: a stream handle keeps a
 * list of inputs (producing node + partitioner + key), and the next real operator turns each
 * input into a StreamGraph edge. User functions are recorded by symbol name (found with
 * dladdr), never by address, so that the same graph can be shipped to another process; a
 * function without an exported name (a `static` one) is rejected here, at build time.
 */
#include "api/api.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/result.h"
#include "core/alloc.h"
#include "types/row.h"

int env_fail(spate_env *env, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	error_setv(&env->err, code, fmt, ap);
	va_end(ap);
	return code;
}

spate_env *env_new(const struct config *config, const struct env_options *opts)
{
	spate_env *env = xcalloc(1, sizeof *env);
	env->config = config;
	env->opts = *opts;
	env->graph = stream_graph_new();
	env->parallelism = -1;
	env->max_parallelism = -1;
	return env;
}

static void stream_free(struct spate_stream *s)
{
	for (int i = 0; i < s->ninputs; i++)
		key_spec_release(&s->inputs[i].key);
	xfree(s->inputs);
	xfree(s);
}

void env_free(spate_env *env)
{
	if (!env)
		return;
	for (int i = 0; i < env->nstreams; i++)
		stream_free(env->streams[i]);
	xfree(env->streams);
	stream_graph_free(env->graph);
	xfree(env->error_owned);
	xfree(env);
}

int env_default_parallelism(const spate_env *env)
{
	if (env->parallelism > 0)
		return env->parallelism;
	if (env->opts.cli_parallelism > 0)
		return env->opts.cli_parallelism;
	if (env->opts.have_config_file && env->config)
		return (int)config_get_int(env->config, "parallelism.default", 1);
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (int)n : 1;
}

/* ---- helpers ----------------------------------------------------------------------------- */

static bool failed(const spate_env *env)
{
	return env->err.code != 0;
}

static struct spate_stream *new_stream(spate_env *env, struct stream_node *node)
{
	struct spate_stream *s = xcalloc(1, sizeof *s);
	s->env = env;
	s->node = node;
	s->generation = env->nexecuted;
	if (node) {
		s->inputs = xcalloc(1, sizeof *s->inputs);
		s->ninputs = 1;
		s->inputs[0].node = node;
		s->inputs[0].partitioner = PART_UNSPECIFIED;
		s->schema = node->out_schema;
	}
	if (env->nstreams % 16 == 0)
		env->streams =
		    xrealloc(env->streams, (size_t)(env->nstreams + 16) * sizeof *env->streams);
	env->streams[env->nstreams++] = s;
	return s;
}

/* A copy of s's inputs, for a derived stream (partitioned, keyed, union). */
static struct spate_stream *derive(struct spate_stream *s)
{
	struct spate_stream *d = new_stream(s->env, NULL);
	d->inputs = xcalloc((size_t)s->ninputs, sizeof *d->inputs);
	d->ninputs = s->ninputs;
	for (int i = 0; i < s->ninputs; i++) {
		d->inputs[i] = s->inputs[i];
		memset(&d->inputs[i].key, 0, sizeof d->inputs[i].key);
		key_spec_copy(&d->inputs[i].key, &s->inputs[i].key);
	}
	d->keyed = s->keyed;
	d->schema = s->schema;
	return d;
}

static bool usable(struct spate_stream *s)
{
	if (!s)
		return false;
	if (failed(s->env))
		return false;
	if (s->generation != s->env->nexecuted) {
		env_fail(s->env, SPATE_EGRAPH, "stream belongs to a job that was already executed");
		return false;
	}
	return true;
}

/* Finds the exported symbol name of a user function, or records an error. */
static char *name_function(spate_env *env, const void *fn, const char *what)
{
	Dl_info info;
	void *fnp;
	memcpy(&fnp, &fn, sizeof fnp);
	if (!fn) {
		env_fail(env, SPATE_EINVAL, "%s function is NULL", what);
		return NULL;
	}
	if (!dladdr(fnp, &info) || !info.dli_sname || info.dli_saddr != fnp) {
		env_fail(env, SPATE_EGRAPH,
		         "%s function at %p has no exported symbol name (is it static?): user "
		         "functions must be non-static so that TaskManagers can find them by name",
		         what, fnp);
		return NULL;
	}
	void *h = env->opts.lib_handle ? env->opts.lib_handle : RTLD_DEFAULT;
	if (dlsym(h, info.dli_sname) != fnp) {
		env_fail(env, SPATE_EGRAPH,
		         "%s function '%s' is not exported by the job library '%s'", what,
		         info.dli_sname, env->opts.lib_path ? env->opts.lib_path : "(program)");
		return NULL;
	}
	return xstrdup(info.dli_sname);
}

static struct schema *parse_schema(spate_env *env, const char *text, const char *what)
{
	struct spate_error e = {0};
	if (!text) {
		env_fail(env, SPATE_EINVAL, "%s: output schema is NULL", what);
		return NULL;
	}
	struct schema *s = schema_parse(text, &e);
	if (!s)
		env_fail(env, SPATE_EINVAL, "%s: %s", what, e.msg);
	return s;
}

static struct stream_node *add_source(spate_env *env, enum op_kind kind, const char *name,
                                      const char *schema_text)
{
	struct stream_node *n = stream_graph_add_node(env->graph, kind, name);
	n->out_schema = parse_schema(env, schema_text, name);
	n->chaining = CHAIN_HEAD;
	return n;
}

/* Adds an operator reading stream `in`: one edge per input. */
static struct stream_node *add_operator(struct spate_stream *in, enum op_kind kind,
                                        const char *name)
{
	spate_env *env = in->env;
	struct stream_node *n = stream_graph_add_node(env->graph, kind, name);
	for (int i = 0; i < in->ninputs; i++) {
		struct stream_input *inp = &in->inputs[i];
		stream_graph_add_edge(env->graph, inp->node, n, inp->partitioner,
		                      inp->explicit_partitioner, 0,
		                      inp->partitioner == PART_HASH ? &inp->key : NULL);
	}
	n->in_schema = (struct schema *)in->schema;
	if (in->keyed) {
		n->keyed = true;
		key_spec_copy(&n->key, &in->inputs[0].key);
	}
	return n;
}

/* ---- environment ------------------------------------------------------------------------- */

void spate_env_set_parallelism(spate_env *env, int n)
{
	if (!env || failed(env))
		return;
	if (n <= 0) {
		env_fail(env, SPATE_EINVAL, "parallelism must be positive, not %d", n);
		return;
	}
	env->parallelism = n;
}

int spate_env_get_parallelism(const spate_env *env)
{
	return env ? env_default_parallelism(env) : 1;
}

void spate_env_set_max_parallelism(spate_env *env, int n)
{
	if (!env || failed(env))
		return;
	if (n <= 0 || n > 32768) {
		env_fail(env, SPATE_EINVAL, "max parallelism must be in 1..32768, not %d", n);
		return;
	}
	env->max_parallelism = n;
}

void spate_env_disable_operator_chaining(spate_env *env)
{
	if (env)
		env->chaining_disabled = true;
}

const char *spate_env_config(const spate_env *env, const char *key)
{
	return env && env->config && key ? config_get(env->config, key) : NULL;
}

const char *spate_env_error(const spate_env *env)
{
	return env && env->err.code ? env->err.msg : NULL;
}

int spate_env_execute(spate_env *env, const char *job_name, spate_result **result)
{
	if (result)
		*result = NULL;
	if (!env)
		return SPATE_EINVAL;
	if (failed(env))
		return env->err.code;
	struct stream_graph *g = env->graph;
	if (g->nnodes == 0)
		return env_fail(env, SPATE_EGRAPH,
		                "no operators defined in the job: nothing to execute");
	bool has_sink = false;
	for (int i = 0; i < g->nnodes; i++)
		has_sink |= op_kind_is_sink(g->nodes[i]->kind);
	if (!has_sink)
		return env_fail(env, SPATE_EGRAPH,
		                "the job defines no sink: add print, write_text, collect or sink");

	g->job_name = xstrdup(job_name && *job_name ? job_name : "Spate Streaming Job");
	g->default_parallelism = env_default_parallelism(env);
	g->max_parallelism = env->max_parallelism;
	if (g->max_parallelism <= 0 && env->config) {
		int64_t mp = config_get_int(env->config, "pipeline.max-parallelism", -1);
		g->max_parallelism = mp > 0 ? (int)mp : -1;
	}
	g->chaining_enabled =
	    !env->chaining_disabled &&
	    (!env->config ||
	     config_get_bool(env->config, "pipeline.operator-chaining.enabled", true));
	g->buffer_timeout_ms = 100;
	if (env->config) {
		if (!config_get_bool(env->config, "execution.buffer-timeout.enabled", true))
			g->buffer_timeout_ms = -1;
		else
			g->buffer_timeout_ms = config_get_duration_ms(
			    env->config, "execution.buffer-timeout.interval", 100);
	}
	struct spate_error e = {0};
	int rc = stream_graph_finalize(g, &e);
	if (rc < 0)
		return env_fail(env, rc, "%s", e.msg);

	rc = env->opts.executor(env->opts.executor_arg, env, g, result);
	env->nexecuted++;
	/* As in Flink, executing clears the graph: later calls build a new job. */
	env->graph = stream_graph_new();
	stream_graph_free(g);
	return rc;
}

/* ---- sources ----------------------------------------------------------------------------- */

static void add_collection_row(struct stream_node *n, const spate_row *row)
{
	size_t size = row_size_of(row);
	n->data = xrealloc(n->data, n->data_len + size);
	memcpy(n->data + n->data_len, row, size);
	n->data_len += size;
	n->data_count++;
}

/* A non-parallel source of n rows of one field, set by `set` from items[i]. */
static spate_stream *collection_source(spate_env *env, const char *what, const void *items,
                                       size_t n, const char *schema,
                                       void (*set)(spate_row_builder *, const void *, size_t))
{
	if (!env || failed(env))
		return NULL;
	if (!items && n > 0) {
		env_fail(env, SPATE_EINVAL, "%s: items is NULL", what);
		return NULL;
	}
	struct stream_node *node =
	    add_source(env, OP_SOURCE_COLLECTION, "Source: Collection Source", schema);
	node->non_parallel = true;
	if (failed(env))
		return NULL;
	struct spate_row_builder b;
	struct spate_error e = {0};
	row_builder_init(&b, node->out_schema);
	for (size_t i = 0; i < n; i++) {
		row_builder_begin(&b);
		set(&b, items, i);
		add_collection_row(node, row_builder_finish(&b, &e));
	}
	row_builder_release(&b);
	return new_stream(env, node);
}

static void set_string_item(spate_row_builder *b, const void *items, size_t i)
{
	const char *const *strs = items;
	if (strs[i]) /* a NULL item is a null field */
		spate_row_set_str(b, 0, strs[i], strlen(strs[i]));
}

static void set_int64_item(spate_row_builder *b, const void *items, size_t i)
{
	spate_row_set_i64(b, 0, ((const int64_t *)items)[i]);
}

spate_stream *spate_env_from_strings(spate_env *env, const char *const *items, size_t n)
{
	return collection_source(env, "from_strings", items, n, "f0:string", set_string_item);
}

spate_stream *spate_env_from_int64s(spate_env *env, const int64_t *items, size_t n)
{
	return collection_source(env, "from_int64s", items, n, "f0:int64", set_int64_item);
}

spate_stream *spate_env_read_text_file(spate_env *env, const char *paths)
{
	if (!env || failed(env))
		return NULL;
	if (!paths || !*paths) {
		env_fail(env, SPATE_EINVAL, "read_text_file: no path given");
		return NULL;
	}
	/* Check the inputs now, so that a typo is a clear error before anything runs. The
	 * source checks again when it opens them. */
	char *copy = xstrdup(paths), *save = NULL;
	for (char *p = strtok_r(copy, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
		struct stat st;
		if (stat(p, &st) != 0 || access(p, R_OK) != 0) {
			env_fail(env, SPATE_ENOENT, "cannot read input '%s': %s", p,
			         strerror(errno));
			xfree(copy);
			return NULL;
		}
		if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
			env_fail(env, SPATE_EINVAL, "input '%s' is not a file or directory", p);
			xfree(copy);
			return NULL;
		}
	}
	xfree(copy);
	struct stream_node *node =
	    add_source(env, OP_SOURCE_TEXT_FILE, "Source: File Source", "line:string");
	node->path = xstrdup(paths);
	return new_stream(env, node);
}

spate_stream *spate_env_from_sequence(spate_env *env, int64_t from, int64_t to)
{
	if (!env || failed(env))
		return NULL;
	if (to < from) {
		env_fail(env, SPATE_EINVAL, "from_sequence: 'to' (%lld) is less than 'from' (%lld)",
		         (long long)to, (long long)from);
		return NULL;
	}
	struct stream_node *node =
	    add_source(env, OP_SOURCE_SEQUENCE, "Source: Sequence Source", "value:int64");
	node->from = from;
	node->to = to;
	return new_stream(env, node);
}

spate_stream *spate_env_from_generator(spate_env *env, const char *schema, spate_gen_fn fn,
                                       int64_t count, double rate_per_sec)
{
	if (!env || failed(env))
		return NULL;
	char *name = name_function(env, (const void *)fn, "generator");
	if (!name)
		return NULL;
	if (rate_per_sec < 0) {
		xfree(name);
		env_fail(env, SPATE_EINVAL, "from_generator: negative rate %g", rate_per_sec);
		return NULL;
	}
	struct stream_node *node =
	    add_source(env, OP_SOURCE_GENERATOR, "Source: Generator Source", schema);
	node->fn_name = name;
	node->count = count;
	node->rate = rate_per_sec;
	return failed(env) ? NULL : new_stream(env, node);
}

spate_stream *spate_env_socket_text_stream(spate_env *env, const char *host, int port)
{
	if (!env || failed(env))
		return NULL;
	if (!host || !*host) {
		env_fail(env, SPATE_EINVAL, "socket_text_stream: no host given");
		return NULL;
	}
	if (port <= 0 || port > 65535) {
		env_fail(env, SPATE_EINVAL, "socket_text_stream: bad port %d", port);
		return NULL;
	}
	struct stream_node *node =
	    add_source(env, OP_SOURCE_SOCKET, "Source: Socket Stream", "line:string");
	node->non_parallel = true;
	node->host = xstrdup(host);
	node->port = port;
	return new_stream(env, node);
}

/* ---- transformations ----------------------------------------------------------------- */

static spate_stream *fn_operator(spate_stream *in, enum op_kind kind, const char *name,
                                 const char *schema, const void *fn, const char *what)
{
	if (!usable(in))
		return NULL;
	char *fname = name_function(in->env, fn, what);
	if (!fname)
		return NULL;
	struct schema *out = NULL;
	if (schema) {
		out = parse_schema(in->env, schema, what);
		if (!out) {
			xfree(fname);
			return NULL;
		}
	} else if (in->schema) {
		out = schema_clone(in->schema);
	}
	struct stream_node *n = add_operator(in, kind, name);
	n->fn_name = fname;
	n->out_schema = out;
	return new_stream(in->env, n);
}

spate_stream *spate_stream_map(spate_stream *in, const char *out_schema, spate_map_fn fn)
{
	return fn_operator(in, OP_MAP, "Map", out_schema, (const void *)fn, "map");
}

spate_stream *spate_stream_flat_map(spate_stream *in, const char *out_schema, spate_flat_map_fn fn)
{
	return fn_operator(in, OP_FLAT_MAP, "Flat Map", out_schema, (const void *)fn, "flat_map");
}

spate_stream *spate_stream_filter(spate_stream *in, spate_filter_fn fn)
{
	return fn_operator(in, OP_FILTER, "Filter", NULL, (const void *)fn, "filter");
}

static spate_stream *partitioned(spate_stream *in, enum partitioner p)
{
	if (!usable(in))
		return NULL;
	struct spate_stream *d = derive(in);
	for (int i = 0; i < d->ninputs; i++) {
		key_spec_release(&d->inputs[i].key);
		d->inputs[i].partitioner = p;
		d->inputs[i].explicit_partitioner = true;
	}
	d->keyed = false;
	return d;
}

spate_stream *spate_stream_forward(spate_stream *in)
{
	return partitioned(in, PART_FORWARD);
}
spate_stream *spate_stream_rebalance(spate_stream *in)
{
	return partitioned(in, PART_REBALANCE);
}
spate_stream *spate_stream_rescale(spate_stream *in)
{
	return partitioned(in, PART_RESCALE);
}
spate_stream *spate_stream_shuffle(spate_stream *in)
{
	return partitioned(in, PART_SHUFFLE);
}
spate_stream *spate_stream_broadcast(spate_stream *in)
{
	return partitioned(in, PART_BROADCAST);
}
spate_stream *spate_stream_global(spate_stream *in)
{
	return partitioned(in, PART_GLOBAL);
}

static spate_stream *keyed(spate_stream *in, const struct key_spec *key)
{
	struct spate_stream *d = partitioned(in, PART_HASH);
	if (!d)
		return NULL;
	for (int i = 0; i < d->ninputs; i++)
		key_spec_copy(&d->inputs[i].key, key);
	d->keyed = true;
	return d;
}

spate_stream *spate_stream_key_by(spate_stream *in, const char *fields)
{
	if (!usable(in))
		return NULL;
	spate_env *env = in->env;
	if (!fields || !*fields) {
		env_fail(env, SPATE_EINVAL, "key_by: no fields given");
		return NULL;
	}
	if (!in->schema) {
		env_fail(env, SPATE_EGRAPH, "key_by: the stream has no schema");
		return NULL;
	}
	struct key_spec k = {0};
	char *copy = xstrdup(fields), *save = NULL;
	char *schema_text = NULL;
	for (char *f = strtok_r(copy, ",", &save); f; f = strtok_r(NULL, ",", &save)) {
		while (*f == ' ')
			f++;
		char *end = f + strlen(f);
		while (end > f && end[-1] == ' ')
			*--end = '\0';
		int idx = schema_field_index(in->schema, f);
		if (idx < 0) {
			env_fail(env, SPATE_EINVAL, "key_by: no field '%s' in schema '%s'", f,
			         in->schema->text);
			goto fail;
		}
		k.fields = xrealloc(k.fields, (size_t)(k.nfields + 1) * sizeof *k.fields);
		k.fields[k.nfields++] = idx;
		char *next =
		    xasprintf("%s%s%s:%s", schema_text ? schema_text : "", schema_text ? "," : "",
		              f, type_name(in->schema->fields[idx].type));
		xfree(schema_text);
		schema_text = next;
	}
	struct spate_error e = {0};
	k.key_schema = schema_parse(schema_text, &e);
	if (!k.key_schema) {
		env_fail(env, SPATE_EINVAL, "key_by: %s", e.msg);
		goto fail;
	}
	spate_stream *d = keyed(in, &k);
	key_spec_release(&k);
	xfree(copy);
	xfree(schema_text);
	return d;
fail:
	key_spec_release(&k);
	xfree(copy);
	xfree(schema_text);
	return NULL;
}

spate_stream *spate_stream_key_by_selector(spate_stream *in, const char *key_schema,
                                           spate_key_fn fn)
{
	if (!usable(in))
		return NULL;
	struct key_spec k = {0};
	k.selector_fn = name_function(in->env, (const void *)fn, "key selector");
	if (!k.selector_fn)
		return NULL;
	k.key_schema = parse_schema(in->env, key_schema, "key_by_selector");
	if (!k.key_schema) {
		key_spec_release(&k);
		return NULL;
	}
	spate_stream *d = keyed(in, &k);
	key_spec_release(&k);
	return d;
}

static bool require_keyed(spate_stream *in, const char *what)
{
	if (!usable(in))
		return false;
	if (!in->keyed) {
		env_fail(in->env, SPATE_EGRAPH, "%s needs a keyed stream: call key_by first", what);
		return false;
	}
	return true;
}

spate_stream *spate_stream_reduce(spate_stream *in, spate_reduce_fn fn)
{
	if (!require_keyed(in, "reduce"))
		return NULL;
	return fn_operator(in, OP_REDUCE, "Keyed Reduce", NULL, (const void *)fn, "reduce");
}

static spate_stream *aggregate(spate_stream *in, enum agg_kind kind, const char *field,
                               const char *what)
{
	if (!require_keyed(in, what))
		return NULL;
	spate_env *env = in->env;
	int idx = field && in->schema ? schema_field_index(in->schema, field) : -1;
	if (idx < 0) {
		env_fail(env, SPATE_EINVAL, "%s: no field '%s' in schema '%s'", what,
		         field ? field : "(null)", in->schema ? in->schema->text : "");
		return NULL;
	}
	spate_type t = in->schema->fields[idx].type;
	if (t != SPATE_INT32 && t != SPATE_INT64 && t != SPATE_DOUBLE && t != SPATE_TIMESTAMP) {
		env_fail(env, SPATE_EINVAL, "%s: field '%s' is %s, not a number", what, field,
		         type_name(t));
		return NULL;
	}
	struct stream_node *n = add_operator(in, OP_AGGREGATE, "Keyed Aggregation");
	n->agg = kind;
	n->agg_field = idx;
	n->out_schema = schema_clone(in->schema);
	return new_stream(env, n);
}

spate_stream *spate_stream_sum(spate_stream *k, const char *field)
{
	return aggregate(k, AGG_SUM, field, "sum");
}
spate_stream *spate_stream_min(spate_stream *k, const char *field)
{
	return aggregate(k, AGG_MIN, field, "min");
}
spate_stream *spate_stream_max(spate_stream *k, const char *field)
{
	return aggregate(k, AGG_MAX, field, "max");
}
spate_stream *spate_stream_min_by(spate_stream *k, const char *field)
{
	return aggregate(k, AGG_MIN_BY, field, "min_by");
}
spate_stream *spate_stream_max_by(spate_stream *k, const char *field)
{
	return aggregate(k, AGG_MAX_BY, field, "max_by");
}

spate_stream *spate_stream_process(spate_stream *in, const char *out_schema, spate_process_fn fn)
{
	if (!usable(in))
		return NULL;
	return fn_operator(in, OP_PROCESS, in->keyed ? "KeyedProcess" : "Process", out_schema,
	                   (const void *)fn, "process");
}

spate_stream *spate_stream_union(spate_stream *a, spate_stream *b)
{
	if (!usable(a) || !usable(b))
		return NULL;
	if (a->env != b->env) {
		env_fail(a->env, SPATE_EGRAPH, "union: streams belong to different environments");
		return NULL;
	}
	if (!a->schema || !b->schema || strcmp(a->schema->text, b->schema->text) != 0) {
		env_fail(a->env, SPATE_EGRAPH, "union: schemas differ ('%s' and '%s')",
		         a->schema ? a->schema->text : "", b->schema ? b->schema->text : "");
		return NULL;
	}
	struct spate_stream *d = derive(a);
	d->inputs = xrealloc(d->inputs, (size_t)(a->ninputs + b->ninputs) * sizeof *d->inputs);
	for (int i = 0; i < b->ninputs; i++) {
		d->inputs[d->ninputs] = b->inputs[i];
		memset(&d->inputs[d->ninputs].key, 0, sizeof d->inputs[d->ninputs].key);
		key_spec_copy(&d->inputs[d->ninputs].key, &b->inputs[i].key);
		d->ninputs++;
	}
	d->keyed = false;
	return d;
}

/* ---- per-operator settings -------------------------------------------------------------- */

static struct stream_node *op_of(spate_stream *s, const char *what)
{
	if (!usable(s))
		return NULL;
	if (!s->node) {
		env_fail(s->env, SPATE_EGRAPH,
		         "%s applies to an operator, not to a keyed, partitioned or union stream",
		         what);
		return NULL;
	}
	return s->node;
}

spate_stream *spate_stream_set_parallelism(spate_stream *s, int n)
{
	struct stream_node *node = op_of(s, "set_parallelism");
	if (!node)
		return NULL;
	if (n <= 0 || n > 32768) {
		env_fail(s->env, SPATE_EINVAL,
		         "parallelism of operator '%s' must be in 1..32768, not %d", node->name, n);
		return NULL;
	}
	if (node->non_parallel && n != 1) {
		env_fail(s->env, SPATE_EGRAPH,
		         "operator '%s' is non-parallel: parallelism must be 1, not %d", node->name,
		         n);
		return NULL;
	}
	node->parallelism = n;
	return s;
}

spate_stream *spate_stream_set_max_parallelism(spate_stream *s, int n)
{
	struct stream_node *node = op_of(s, "set_max_parallelism");
	if (!node)
		return NULL;
	if (n <= 0 || n > 32768) {
		env_fail(s->env, SPATE_EINVAL,
		         "max parallelism of operator '%s' must be in 1..32768, not %d", node->name,
		         n);
		return NULL;
	}
	node->max_parallelism = n;
	return s;
}

spate_stream *spate_stream_name(spate_stream *s, const char *name)
{
	struct stream_node *node = op_of(s, "name");
	if (!node)
		return NULL;
	if (!name || !*name) {
		env_fail(s->env, SPATE_EINVAL, "operator name is empty");
		return NULL;
	}
	xfree(node->name);
	if (op_kind_is_source(node->kind))
		node->name = xasprintf("Source: %s", name);
	else if (op_kind_is_sink(node->kind))
		node->name = xasprintf("Sink: %s", name);
	else
		node->name = xstrdup(name);
	return s;
}

spate_stream *spate_stream_uid(spate_stream *s, const char *uid)
{
	struct stream_node *node = op_of(s, "uid");
	if (!node)
		return NULL;
	/* Checkpoints name operators by uid, in fixed-size fields of the runtime. */
	if (uid && strlen(uid) > 127) {
		env_fail(s->env, SPATE_EGRAPH, "uid '%.40s...' is longer than 127 characters", uid);
		return NULL;
	}
	for (int i = 0; i < s->env->graph->nnodes; i++) {
		struct stream_node *o = s->env->graph->nodes[i];
		if (o != node && o->uid && uid && strcmp(o->uid, uid) == 0) {
			env_fail(s->env, SPATE_EGRAPH, "uid '%s' is used by two operators", uid);
			return NULL;
		}
	}
	xfree(node->uid);
	node->uid = xstrdup(uid);
	return s;
}

spate_stream *spate_stream_disable_chaining(spate_stream *s)
{
	struct stream_node *node = op_of(s, "disable_chaining");
	if (node)
		node->chaining = CHAIN_NEVER;
	return node ? s : NULL;
}

spate_stream *spate_stream_start_new_chain(spate_stream *s)
{
	struct stream_node *node = op_of(s, "start_new_chain");
	if (node)
		node->chaining = CHAIN_HEAD;
	return node ? s : NULL;
}

spate_stream *spate_stream_slot_sharing_group(spate_stream *s, const char *group)
{
	struct stream_node *node = op_of(s, "slot_sharing_group");
	if (!node)
		return NULL;
	if (!group || !*group) {
		env_fail(s->env, SPATE_EINVAL, "slot sharing group name is empty");
		return NULL;
	}
	xfree(node->slot_sharing_group_user);
	node->slot_sharing_group_user = xstrdup(group);
	return s;
}

spate_stream *spate_stream_set_param(spate_stream *s, const char *key, const char *value)
{
	struct stream_node *node = op_of(s, "set_param");
	if (!node)
		return NULL;
	if (!key || !value) {
		env_fail(s->env, SPATE_EINVAL, "set_param: key and value are required");
		return NULL;
	}
	for (int i = 0; i < node->nparams; i++)
		if (strcmp(node->params[i].key, key) == 0) {
			xfree(node->params[i].value);
			node->params[i].value = xstrdup(value);
			return s;
		}
	node->params = xrealloc(node->params, (size_t)(node->nparams + 1) * sizeof *node->params);
	node->params[node->nparams].key = xstrdup(key);
	node->params[node->nparams].value = xstrdup(value);
	node->nparams++;
	return s;
}

spate_stream *spate_stream_on_end(spate_stream *s, spate_end_fn fn)
{
	struct stream_node *node = op_of(s, "on_end");
	if (!node)
		return NULL;
	if (op_kind_is_source(node->kind)) {
		env_fail(s->env, SPATE_EGRAPH, "on_end: '%s' is a source; sources have no input",
		         node->name);
		return NULL;
	}
	char *name = name_function(s->env, (const void *)fn, "on_end");
	if (!name)
		return NULL;
	xfree(node->end_fn_name);
	node->end_fn_name = name;
	return s;
}

/* ---- sinks -------------------------------------------------------------------------------- */

spate_stream *spate_stream_print(spate_stream *in)
{
	if (!usable(in))
		return NULL;
	struct stream_node *n = add_operator(in, OP_SINK_PRINT, "Sink: Print to Std. Out");
	return new_stream(in->env, n);
}

spate_stream *spate_stream_write_text(spate_stream *in, const char *dir)
{
	if (!usable(in))
		return NULL;
	if (!dir || !*dir) {
		env_fail(in->env, SPATE_EINVAL, "write_text: no directory given");
		return NULL;
	}
	struct stream_node *n = add_operator(in, OP_SINK_TEXT, "Sink: File Sink");
	n->path = xstrdup(dir);
	return new_stream(in->env, n);
}

spate_stream *spate_stream_collect(spate_stream *in, const char *name)
{
	if (!usable(in))
		return NULL;
	if (!name || !*name) {
		env_fail(in->env, SPATE_EINVAL, "collect: no name given");
		return NULL;
	}
	struct stream_node *n = add_operator(in, OP_SINK_COLLECT, "Sink: Collect Sink");
	n->path = xstrdup(name);
	return new_stream(in->env, n);
}

spate_stream *spate_stream_sink(spate_stream *in, spate_process_fn fn)
{
	if (!usable(in))
		return NULL;
	char *fname = name_function(in->env, (const void *)fn, "sink");
	if (!fname)
		return NULL;
	struct stream_node *n = add_operator(in, OP_SINK_FUNCTION, "Sink: Unnamed");
	n->fn_name = fname;
	return new_stream(in->env, n);
}
