/*
 * executor.c - what spate_env_execute() does in the client: translate the StreamGraph to a
 * JobGraph and an ExecutionGraph, then either print the plan (`spate info`) or run the job
 * attached on the embedded local cluster, printing Flink's client lines:
 *
 *   Job has been submitted with JobID <id>
 *   Program execution finished
 *   Job with JobID <id> has finished.
 *   Job Runtime: <N> ms
 */
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "api/result.h"
#include "client/client.h"
#include "client/cluster_client.h"
#include "core/alloc.h"
#include "core/log.h"
#include "graph/execution_graph.h"
#include "runtime/local_job.h"

struct exec_ctx {
	const struct client_options *opts;
	struct job_library *lib;
};

static void print_plan(const struct job_graph *jg)
{
	char *json = job_graph_plan_json(jg);
	printf("----------------------- Execution Plan -----------------------\n");
	printf("%s\n", json);
	printf("--------------------------------------------------------------\n\n");
	xfree(json);
	printf("Job vertices: %d\n", jg->nvertices);
	printf("Subtasks: %d\n", job_graph_subtask_count(jg));
	printf("Slots needed: %d\n", job_graph_slots_needed(jg));
	for (int i = 0; i < jg->nvertices; i++) {
		const struct job_vertex *v = jg->vertices[i];
		printf("  [%d] %s (parallelism %d, max parallelism %d, slot sharing group %s)\n", i,
		       v->name, v->parallelism, v->max_parallelism, v->slot_sharing_group);
	}
	fflush(stdout);
}

static int execute(void *arg, spate_env *env, struct stream_graph *g, spate_result **result)
{
	struct exec_ctx *x = arg;
	struct spate_error e = {0};
	struct job_graph *jg = NULL;
	struct execution_graph *eg = NULL;
	int rc = job_graph_build(g, &jg, &e);
	if (rc == 0)
		rc = execution_graph_build(jg, &eg, &e);
	if (rc < 0) {
		env_fail(env, rc, "%s", e.msg);
		goto out;
	}
	if (x->opts->mode == CLIENT_INFO) {
		print_plan(jg);
		goto out;
	}

	spate_result *r = result_new();
	memcpy(r->job_id, jg->job_id, sizeof r->job_id);
	if (x->opts->cluster) {
		for (int i = 0; i < g->nnodes; i++)
			if (g->nodes[i]->kind == OP_SINK_COLLECT) {
				rc = error_set(
				    &e, SPATE_EINVAL,
				    "operator '%s' collects results into the client, which "
				    "only the embedded local cluster supports",
				    g->nodes[i]->name);
				break;
			}
		if (rc == 0)
			rc = cluster_client_submit(x->opts->cluster, jg, x->lib->path,
			                           x->opts->detached, r, &e);
		if (rc < 0 && !(rc == SPATE_EJOBFAIL || rc == SPATE_ECANCELED)) {
			env_fail(env, rc, "%s", e.msg);
			spate_result_free(r);
			goto out;
		}
		if (rc == 0 && x->opts->detached) {
			spate_result_free(r);
			goto out;
		}
	} else {
		printf("Job has been submitted with JobID %s\n", jg->job_id);
		fflush(stdout);
		struct local_job *job =
		    local_job_new(jg, eg, x->lib ? x->lib->handle : NULL, x->opts->config, r);
		rc = local_job_run(job, &e);
		r->runtime_ms = job->end_ms - job->start_ms;
		local_job_free(job);
	}
	if (rc == 0) {
		if (!x->opts->cluster)
			log_info("Job %s reached terminal state FINISHED.", jg->job_id);
		printf("Program execution finished\n");
		printf("Job with JobID %s has finished.\n", jg->job_id);
		printf("Job Runtime: %lld ms\n", (long long)r->runtime_ms);
		fflush(stdout);
	} else {
		if (!x->opts->cluster)
			log_info("Job %s reached terminal state %s.", jg->job_id,
			         rc == SPATE_ECANCELED ? "CANCELED" : "FAILED");
		env_fail(env, rc, "job '%s' (%s) failed: %s", jg->job_name, jg->job_id, e.msg);
	}
	if (result)
		*result = r;
	else
		spate_result_free(r);
out:
	execution_graph_free(eg);
	job_graph_free(jg);
	return rc;
}

int client_run_job(struct job_library *lib, int argc, char **argv,
                   const struct client_options *opts, struct spate_error *err)
{
	struct exec_ctx x = {.opts = opts, .lib = lib};
	struct env_options eo = {
	    .cli_parallelism = opts->parallelism,
	    .have_config_file = opts->have_config_file,
	    .lib_handle = lib ? lib->handle : NULL,
	    .lib_path = lib ? lib->path : NULL,
	    .executor = execute,
	    .executor_arg = &x,
	};
	spate_env *env = env_new(opts->config, &eo);
	int rc = lib->main(env, argc, argv);
	if (env->err.code) {
		error_set(err, env->err.code, "%s", env->err.msg);
		rc = env->err.code;
	} else if (rc != 0) {
		error_set(err, SPATE_EUSER, "job entry point of '%s' returned %d", lib->path, rc);
		rc = SPATE_EUSER;
	} else if (env->nexecuted == 0) {
		error_set(err, SPATE_EGRAPH,
		          "job library '%s' did not call spate_env_execute(): nothing was run",
		          lib->path);
		rc = SPATE_EGRAPH;
	}
	env_free(env);
	return rc;
}
