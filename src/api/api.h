/*
 * api.h - internals of the DataStream API: what an environment and a stream handle hold.
 *
 * The environment collects the user's calls into a StreamGraph; spate_env_execute()
 * finalizes the graph and hands it to the executor the client installed (run it on the
 * embedded cluster, or only print the plan for `spate info`). Graph-building errors are
 * sticky: the first one is kept and every later call becomes a no-op.
 *
 * One thread (the one running the job's entry point) uses an environment.
 */
#ifndef SPATE_API_API_H
#define SPATE_API_API_H

#include "config/config.h"
#include "core/error.h"
#include "graph/stream_graph.h"
#include "spate/spate.h"

struct stream_graph;

/* What the client runs when the job calls spate_env_execute(). It takes the finalized
 * graph (borrowed) and may set *result. Returns 0 when the job finished. */
typedef int (*env_executor_fn)(void *arg, spate_env *env, struct stream_graph *g,
                               spate_result **result);

struct env_options {
	int cli_parallelism;      /* -p, or -1 */
	bool have_config_file;    /* a config.yaml was found (else parallelism = CPUs) */
	void *lib_handle;         /* dlopen handle of the job library, NULL = this program */
	const char *lib_path;     /* for messages (borrowed) */
	env_executor_fn executor; /* required */
	void *executor_arg;
};

/* One input of the next operator: a producing node and how it is read. */
struct stream_input {
	struct stream_node *node; /* borrowed from the graph */
	enum partitioner partitioner;
	bool explicit_partitioner;
	struct key_spec key; /* owned; for PART_HASH */
};

struct spate_stream {
	spate_env *env;
	struct stream_node *node;    /* the operator that produced it, NULL for union/partitioned */
	struct stream_input *inputs; /* owned, ninputs entries */
	int ninputs;
	bool keyed;
	const struct schema *schema; /* borrowed from the producing node(s) */
	int generation;              /* env->nexecuted when created: older streams are stale */
};

struct spate_env {
	const struct config *config; /* borrowed */
	struct env_options opts;
	struct stream_graph *graph; /* being built (owned) */
	struct spate_error err;
	int parallelism;     /* spate_env_set_parallelism, or -1 */
	int max_parallelism; /* spate_env_set_max_parallelism, or -1 */
	bool chaining_disabled;
	struct spate_stream **streams; /* owned handles, freed with the environment */
	int nstreams;
	int nexecuted;     /* how many times execute ran */
	char *error_owned; /* copy of err.msg returned by spate_env_error */
};

spate_env *env_new(const struct config *config, const struct env_options *opts);
void env_free(spate_env *env);
/* The parallelism used for operators without their own: env > -p > config > CPUs. */
int env_default_parallelism(const spate_env *env);
/* Records an error on the environment (first wins); returns code. */
int env_fail(spate_env *env, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
