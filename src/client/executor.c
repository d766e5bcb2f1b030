/*
 * executor.c - what spate_env_execute() does in the client: translate the StreamGraph to a
 * JobGraph and an ExecutionGraph, then either print the plan (`spate info`) or run the job
 * attached on the embedded local cluster, printing Flink's client lines:
 *
 *   Job has been submitted with JobID <id>
 *   Program execution finished
 *   Job with JobID <id> has finished.
 *   Job Runtime: <N> ms
 *
 * It also serves the hidden `spate graph-capture` command (CLIENT_CAPTURE, see client.h):
 * the JobManager's child process that hands the StreamGraph a job library builds back to
 * the JobManager for POST /jars/:jarid/run and /plan.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "api/api.h"
#include "api/result.h"
#include "checkpoint/checkpoint.h"
#include "client/client.h"
#include "client/cluster_client.h"
#include "core/alloc.h"
#include "core/log.h"
#include "graph/execution_graph.h"
#include "graph/graph_codec.h"
#include "runtime/local_job.h"

#define CAPTURE_ERR_TAIL_BYTES 4096 /* the end of the child's stderr that is kept */

extern char **environ;

/* Where CLIENT_CAPTURE writes the graph: the process's original stdout, set aside by
 * client_capture_stdout(); -1 before. One per process, written once. */
static int capture_fd = -1;

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

/* ---- CLIENT_CAPTURE: the child's side ------------------------------------------------- */

int client_capture_stdout(void)
{
	int fd = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
	if (fd < 0 || dup2(STDERR_FILENO, STDOUT_FILENO) < 0) {
		fprintf(stderr, "spate: cannot set aside stdout for the job graph: %s\n",
		        strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	capture_fd = fd;
	return 0;
}

/* The operator that only the embedded local cluster can run (a collect sink), or NULL. */
static const struct stream_node *find_collect_sink(const struct stream_graph *g)
{
	for (int i = 0; i < g->nnodes; i++)
		if (g->nodes[i]->kind == OP_SINK_COLLECT)
			return g->nodes[i];
	return NULL;
}

/* CLIENT_CAPTURE: writes the encoded graph to capture_fd and ends the process (see
 * client.h), or returns an error code with e set. */
static int capture(const struct stream_graph *g, struct spate_error *e)
{
	const struct stream_node *collect = find_collect_sink(g);
	if (collect)
		return error_set(e, SPATE_EINVAL,
		                 "operator '%s' collects results into the client, which only the "
		                 "embedded local cluster supports",
		                 collect->name);
	if (capture_fd < 0)
		return error_set(e, SPATE_EIO, "no descriptor set aside for the job graph");
	size_t len = 0, off = 0;
	uint8_t *bytes = stream_graph_encode(g, &len);
	while (off < len) {
		ssize_t n = write(capture_fd, bytes + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int rc = error_set(e, SPATE_EIO, "cannot write the job graph: %s",
			                   n < 0 ? strerror(errno) : "short write");
			xfree(bytes);
			return rc;
		}
		off += (size_t)n;
	}
	xfree(bytes);
	if (close(capture_fd) < 0)
		return error_set(e, SPATE_EIO, "cannot write the job graph: %s", strerror(errno));
	/* The program's run ends at its first execute (Flink's ProgramAbortException): no
	 * exit handlers, nothing of the job's code after the call. */
	_exit(0);
}

/*
 * The client's configuration keys that travel with the job in its StreamGraph (the job
 * configuration, which wins over the cluster's for this job, as Flink's job configuration
 * does): checkpointing, state, restarts and what to restore from. Only keys set explicitly
 * (config.yaml or -D, after deprecated names are mapped) travel; a default stays the
 * cluster's to choose. A key the job set itself through the API is kept: in Flink the
 * program's own settings are applied after the configuration it was started with.
 */
static const char *const job_config_prefixes[] = {"execution.checkpointing.", "state.",
                                                  "restart-strategy.", "execution.state-recovery."};

struct ship_ctx {
	const struct config *config;
	struct stream_graph *g;
};

static bool job_config_has(const struct stream_graph *g, const char *key)
{
	for (int i = 0; i < g->njob_config; i++)
		if (strcmp(g->job_config[i].key, key) == 0)
			return true;
	return false;
}

static void ship_key(void *arg, const char *key, const char *value)
{
	struct ship_ctx *x = arg;
	if (!config_is_set(x->config, key) || job_config_has(x->g, key))
		return;
	for (size_t i = 0; i < sizeof job_config_prefixes / sizeof *job_config_prefixes; i++)
		if (strncmp(key, job_config_prefixes[i], strlen(job_config_prefixes[i])) == 0) {
			stream_graph_set_job_config(x->g, key, value);
			return;
		}
}

static void ship_job_config(struct stream_graph *g, const struct config *c)
{
	if (!c)
		return;
	struct ship_ctx x = {c, g};
	config_foreach(c, ship_key, &x);
}

/*
 * The embedded cluster's state settings, as a TaskManager takes them from its deployment:
 * state.backend.type picks the keyed state backend. RocksDB keeps its databases in a fresh
 * directory under $TMPDIR (else /tmp) that the caller removes after the job
 * (embedded_state_release). Checkpointing stays off: there is no coordinator. 0, or
 * SPATE_ECONFIG / SPATE_EIO with e set.
 */
static int embedded_state_config(const struct config *c, struct local_job_checkpointing *ck,
                                 struct spate_error *e)
{
	memset(ck, 0, sizeof *ck);
	const char *type = config_get(c, "state.backend.type");
	if (!type || strcasecmp(type, "hashmap") == 0) {
		snprintf(ck->backend, sizeof ck->backend, "hashmap");
		return 0;
	}
	/* The configuration module admits only known names; the same words as its error if
	 * another ever gets through. */
	if (strcasecmp(type, "rocksdb") != 0)
		return error_set(
		    e, SPATE_ECONFIG,
		    "bad value '%s' for 'state.backend.type': expected one of hashmap, "
		    "rocksdb",
		    type);
	snprintf(ck->backend, sizeof ck->backend, "rocksdb");
	const char *tmp = getenv("TMPDIR");
	if (!tmp || !*tmp)
		tmp = "/tmp";
	char *dir = xasprintf("%s/spate-local-XXXXXX", tmp);
	if (!mkdtemp(dir)) {
		int rc = error_set(e, SPATE_EIO,
		                   "cannot create a directory for the rocksdb state backend in "
		                   "'%s': %s",
		                   tmp, strerror(errno));
		xfree(dir);
		return rc;
	}
	ck->state_dir = dir;
	return 0;
}

static void embedded_state_release(struct local_job_checkpointing *ck)
{
	if (ck->state_dir) {
		int rc = checkpoint_remove_tree(ck->state_dir);
		if (rc < 0)
			log_warn("Cannot remove the state directory '%s': %s", ck->state_dir,
			         strerror(-rc));
	}
	xfree(ck->state_dir);
	ck->state_dir = NULL;
}

static int execute(void *arg, spate_env *env, struct stream_graph *g, spate_result **result)
{
	struct exec_ctx *x = arg;
	struct spate_error e = {0};
	struct job_graph *jg = NULL;
	struct execution_graph *eg = NULL;
	ship_job_config(g, x->opts->config);
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
	if (x->opts->mode == CLIENT_CAPTURE) {
		rc = capture(g, &e);
		env_fail(env, rc, "%s", e.msg);
		goto out;
	}

	spate_result *r = result_new();
	memcpy(r->job_id, jg->job_id, sizeof r->job_id);
	if (x->opts->cluster) {
		const struct stream_node *collect = find_collect_sink(g);
		if (collect)
			rc = error_set(&e, SPATE_EINVAL,
			               "operator '%s' collects results into the client, which only "
			               "the embedded local cluster supports",
			               collect->name);
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
		/* The embedded cluster has no checkpoint coordinator: restoring would silently
		 * start from scratch, so it is refused; periodic checkpoints are only noted. */
		const char *restore = config_get(x->opts->config, "execution.state-recovery.path");
		if (restore) {
			env_fail(
			    env, SPATE_ECONFIG,
			    "restoring from '%s' needs a session cluster (spate cluster start, "
			    "then spate run -m host:port -s ...): the embedded cluster has no "
			    "checkpoint coordinator",
			    restore);
			spate_result_free(r);
			goto out;
		}
		if (config_get(x->opts->config, "execution.checkpointing.interval"))
			log_warn(
			    "execution.checkpointing.interval is set, but the embedded cluster "
			    "does not checkpoint: run the job on a session cluster (-m) for "
			    "checkpoints and recovery");
		struct local_job_checkpointing ck;
		rc = embedded_state_config(x->opts->config, &ck, &e);
		if (rc < 0) {
			env_fail(env, rc, "%s", e.msg);
			spate_result_free(r);
			goto out;
		}
		printf("Job has been submitted with JobID %s\n", jg->job_id);
		fflush(stdout);
		struct local_job_options lo = {.ckpt = &ck};
		struct local_job *job = local_job_new_partial(
		    jg, eg, x->lib ? x->lib->handle : NULL, x->opts->config, r, &lo);
		rc = local_job_run(job, &e);
		r->runtime_ms = job->end_ms - job->start_ms;
		local_job_free(job);
		embedded_state_release(&ck);
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

/* ---- CLIENT_CAPTURE: the parent's side (client_capture_graph) ------------------------ */

/* "SEGV" for SIGSEGV, or NULL (strsignal is not thread-safe; this is). */
static const char *signal_name(int sig)
{
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
	return sigabbrev_np(sig);
#else
	(void)sig;
	return NULL;
#endif
}

static int64_t monotonic_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads what is there on fd into *buf (growing it up to `max` bytes; past that sets
 * *overflow and drops the bytes). Returns false at end of file or on an error. */
static bool drain(int fd, uint8_t **buf, size_t *len, size_t *cap, size_t max, bool *overflow)
{
	uint8_t chunk[16384];
	ssize_t r = read(fd, chunk, sizeof chunk);
	if (r < 0)
		return errno == EINTR || errno == EAGAIN;
	if (r == 0)
		return false;
	if (*len + (size_t)r > max) {
		*overflow = true;
		return true;
	}
	if (*len + (size_t)r + 1 > *cap) {
		*cap = (*len + (size_t)r + 1) * 2;
		*buf = xrealloc(*buf, *cap);
	}
	memcpy(*buf + *len, chunk, (size_t)r);
	*len += (size_t)r;
	(*buf)[*len] = 0;
	return true;
}

/* Keeps the last CAPTURE_ERR_TAIL_BYTES of the child's stderr. */
static bool drain_tail(int fd, char *tail, size_t *len)
{
	char chunk[4096];
	ssize_t r = read(fd, chunk, sizeof chunk);
	if (r < 0)
		return errno == EINTR || errno == EAGAIN;
	if (r == 0)
		return false;
	size_t n = (size_t)r;
	if (n >= CAPTURE_ERR_TAIL_BYTES) {
		memcpy(tail, chunk + n - CAPTURE_ERR_TAIL_BYTES, CAPTURE_ERR_TAIL_BYTES);
		*len = CAPTURE_ERR_TAIL_BYTES;
	} else {
		if (*len + n > CAPTURE_ERR_TAIL_BYTES) {
			size_t drop = *len + n - CAPTURE_ERR_TAIL_BYTES;
			memmove(tail, tail + drop, *len - drop);
			*len -= drop;
		}
		memcpy(tail + *len, chunk, n);
		*len += n;
	}
	tail[*len] = '\0';
	return true;
}

/* The child's own error: the last stderr line starting with "spate: " (without it), else
 * the last non-empty line; "" when there is none. Points into tail, which it changes. */
static const char *child_message(char *tail)
{
	const char *last = "", *last_spate = NULL;
	char *save = NULL;
	for (char *line = strtok_r(tail, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		line[strcspn(line, "\r")] = '\0';
		if (!line[0])
			continue;
		last = line;
		if (strncmp(line, "spate: ", 7) == 0)
			last_spate = line + 7;
	}
	return last_spate ? last_spate : last;
}

/* Starts `spate graph-capture args...` with stdout and stderr on two new pipes whose read
 * ends it returns in out_fd and err_fd. 0, or SPATE_EIO with e set. */
static int spawn_capture(char *const *args, pid_t *pid, int *out_fd, int *err_fd,
                         struct spate_error *e)
{
	int nargs = 0;
	while (args[nargs])
		nargs++;
	char **argv = xcalloc((size_t)nargs + 3, sizeof *argv);
	argv[0] = "spate";
	argv[1] = "graph-capture";
	memcpy(argv + 2, args, (size_t)nargs * sizeof *argv);
	int out[2] = {-1, -1}, errp[2] = {-1, -1}, rc = 0;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&attr);
	if (pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
		rc = error_set(e, SPATE_EIO, "cannot create a pipe: %s", strerror(errno));
		goto out;
	}
	/* The child gets /dev/null, the two pipes and nothing else of the caller's: no
	 * sockets, signals as a fresh process has them (the JobManager blocks SIGTERM and
	 * ignores SIGPIPE), and a process group of its own so a timeout kills whatever it
	 * started too. posix_spawn, not fork: the caller is multi-threaded. */
	posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], STDOUT_FILENO);
	posix_spawn_file_actions_adddup2(&fa, errp[1], STDERR_FILENO);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
	posix_spawn_file_actions_addclosefrom_np(&fa, STDERR_FILENO + 1);
#endif
	sigset_t none, defaults;
	sigemptyset(&none);
	sigemptyset(&defaults);
	sigaddset(&defaults, SIGPIPE);
	sigaddset(&defaults, SIGTERM);
	sigaddset(&defaults, SIGINT);
	sigaddset(&defaults, SIGCHLD);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &defaults);
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
	                                    POSIX_SPAWN_SETPGROUP);
	int src = posix_spawn(pid, "/proc/self/exe", &fa, &attr, argv, environ);
	if (src != 0) {
		rc = error_set(e, SPATE_EIO, "cannot start the entry point's process: %s",
		               strerror(src));
		goto out;
	}
	*out_fd = out[0];
	*err_fd = errp[0];
	out[0] = errp[0] = -1;
out:
	for (int i = 0; i < 2; i++) {
		if (out[i] >= 0)
			close(out[i]);
		if (errp[i] >= 0)
			close(errp[i]);
	}
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	xfree(argv);
	return rc;
}

/* What became of a capture child. */
struct capture_end {
	bool timed_out; /* the deadline passed: killed */
	bool overflow;  /* wrote more than max_bytes: killed */
	int status;     /* waitpid status otherwise */
};

/* Reads the child's two pipes until both end, then reaps it, all before deadline_ms
 * (monotonic); kills its group when the deadline passes or it writes too much. Closes
 * both descriptors. 0, or SPATE_EIO with e set (the child is reaped then too). */
static int collect_capture(pid_t pid, int out_fd, int err_fd, int64_t deadline_ms, size_t max_bytes,
                           uint8_t **graph, size_t *glen, char *tail, struct capture_end *end,
                           struct spate_error *e)
{
	size_t gcap = 0, elen = 0;
	int rc = 0;
	while ((out_fd >= 0 || err_fd >= 0) && !end->overflow) {
		int64_t left = deadline_ms - monotonic_ms();
		if (left <= 0) {
			end->timed_out = true;
			break;
		}
		struct pollfd p[2] = {{.fd = out_fd, .events = POLLIN},
		                      {.fd = err_fd, .events = POLLIN}};
		int pr = poll(p, 2, (int)(left < 1000 ? left : 1000));
		if (pr < 0 && errno != EINTR) {
			rc =
			    error_set(e, SPATE_EIO, "cannot wait for the entry point's process: %s",
			              strerror(errno));
			break;
		}
		if (pr <= 0)
			continue;
		if (p[0].revents && !drain(out_fd, graph, glen, &gcap, max_bytes, &end->overflow)) {
			close(out_fd);
			out_fd = -1;
		}
		if (p[1].revents && !drain_tail(err_fd, tail, &elen)) {
			close(err_fd);
			err_fd = -1;
		}
	}
	if (out_fd >= 0)
		close(out_fd);
	if (err_fd >= 0)
		close(err_fd);
	/* Both pipes ended, so the child is exiting: give it until the deadline. */
	pid_t w = 0;
	while (rc == 0 && !end->timed_out && !end->overflow &&
	       (w = waitpid(pid, &end->status, WNOHANG)) == 0) {
		if (monotonic_ms() >= deadline_ms) {
			end->timed_out = true;
			break;
		}
		struct timespec ts = {0, 5 * 1000000};
		nanosleep(&ts, NULL);
	}
	if (w <= 0) {
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
		while (waitpid(pid, &end->status, 0) < 0 && errno == EINTR)
			;
	}
	return rc;
}

uint8_t *client_capture_graph(char *const *args, const char *name, int timeout_ms, size_t max_bytes,
                              size_t *len, struct spate_error *err)
{
	struct spate_error e = {0};
	struct capture_end end = {0};
	uint8_t *graph = NULL;
	size_t glen = 0;
	char *tail = xcalloc(1, CAPTURE_ERR_TAIL_BYTES + 1);
	pid_t pid;
	int out_fd, err_fd;
	int64_t deadline = monotonic_ms() + timeout_ms;
	if (spawn_capture(args, &pid, &out_fd, &err_fd, &e) < 0 ||
	    collect_capture(pid, out_fd, err_fd, deadline, max_bytes, &graph, &glen, tail, &end,
	                    &e) < 0)
		goto out;
	int st = end.status;
	const char *sig = WIFSIGNALED(st) ? signal_name(WTERMSIG(st)) : NULL;
	if (end.timed_out)
		error_set(&e, SPATE_EUSER,
		          "the entry point of '%s' did not build a job within %d s and was killed",
		          name, timeout_ms / 1000);
	else if (end.overflow)
		error_set(&e, SPATE_EUSER, "the job graph of '%s' is larger than %zu MiB", name,
		          max_bytes >> 20);
	else if (WIFSIGNALED(st))
		error_set(&e, SPATE_EUSER, "the entry point of '%s' crashed (signal %d%s%s)", name,
		          WTERMSIG(st), sig ? ", SIG" : "", sig ? sig : "");
	else if (WIFEXITED(st) && WEXITSTATUS(st) == 0 && glen == 0)
		error_set(&e, SPATE_EUSER, "the entry point of '%s' ended without a job graph",
		          name);
	else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		const char *msg = child_message(tail);
		if (msg[0])
			error_set(&e, SPATE_EUSER, "%s", msg);
		else
			error_set(&e, SPATE_EUSER,
			          "the entry point of '%s' failed (exit status %d)", name,
			          WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	}
out:
	xfree(tail);
	if (e.code) {
		error_set(err, e.code, "%s", e.msg);
		xfree(graph);
		return NULL;
	}
	*len = glen;
	return graph;
}
