/*
 * spate - the command line: `spate run|info|list|cancel`, the daemons `spate jobmanager` and
 * `spate taskmanager`, and `spate cluster start|stop`. This file parses arguments and wires
 * modules together; the work is done in src/client, src/cluster and below.
 *
 * Exit codes: 0 success; 1 an error (one line on stderr, "spate: <message>"); 2 a usage
 * error.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client.h"
#include "client/cluster_client.h"
#include "client/http_client.h"
#include "cluster/cluster.h"
#include "cluster/jobmanager.h"
#include "config/config.h"
#include "core/alloc.h"
#include "core/log.h"

#define EXIT_USAGE 2

static void usage_main(FILE *f)
{
	fprintf(f, "Usage: spate <command> [options]\n"
	           "\n"
	           "Commands:\n"
	           "  run            Run a job (on the session cluster, else embedded)\n"
	           "  info           Show the job's execution plan\n"
	           "  list           List the cluster's jobs\n"
	           "  cancel <id>    Cancel a job\n"
	           "  cluster start  Start a JobManager and the TaskManagers of conf/workers\n"
	           "  cluster stop   Stop them\n"
	           "  jobmanager     Run a JobManager in the foreground\n"
	           "  taskmanager    Run a TaskManager in the foreground\n"
	           "\n"
	           "Options:\n"
	           "  --help       Show this help (also: spate <command> --help)\n"
	           "  --version    Show the version\n");
}

static void usage_run(FILE *f, const char *cmd)
{
	fprintf(f,
	        "Usage: spate %s [OPTIONS] <job.so> [job arguments]\n"
	        "\n"
	        "%s"
	        "\n"
	        "Options:\n"
	        "  -p, --parallelism <n>   Parallelism for operators without their own; overrides\n"
	        "                          parallelism.default\n"
	        "  -m, --jobmanager <host:port>  The JobManager's REST address (default: the\n"
	        "                          cluster started by `spate cluster start`, if any)\n"
	        "  -d, --detached          Submit and return without waiting for the job\n"
	        "  -D <key>=<value>        Set a configuration key (repeatable)\n"
	        "  -h, --help              Show this help\n",
	        cmd,
	        strcmp(cmd, "run") == 0
	            ? "Submits the job to the session cluster (with -m, or the one this\n"
	              "installation started) and follows it to its end; without a cluster it runs\n"
	              "attached on an embedded local cluster. Prints Flink's client lines.\n"
	            : "Prints the execution plan as JSON (Flink's plan shape) and a summary:\n"
	              "job vertices, subtasks and the slots the job needs.\n");
}

static int parse_parallelism(const char *s, int *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v <= 0 || v > 32768) {
		fprintf(stderr, "spate: bad parallelism '%s': expected an integer in 1..32768\n",
		        s);
		return -1;
	}
	*out = (int)v;
	return 0;
}

/* Loads conf/config.yaml (if any) and applies -D overrides; NULL after printing the error. */
static struct config *load_config(char **overrides, int noverrides, bool *have_file)
{
	struct spate_error err = {0};
	struct config *cfg = config_new();
	char *dir = config_find_dir();
	if (dir) {
		char *path = xasprintf("%s/config.yaml", dir);
		int lrc = config_load_file(cfg, path, &err);
		xfree(path);
		if (lrc == 0 && have_file)
			*have_file = true;
		else if (lrc < 0 && lrc != SPATE_ENOENT) {
			fprintf(stderr, "spate: %s\n", err.msg);
			xfree(dir);
			config_free(cfg);
			return NULL;
		}
	}
	xfree(dir);
	for (int k = 0; k < noverrides; k++)
		if (config_set_override(cfg, overrides[k], &err) < 0) {
			fprintf(stderr, "spate: %s\n", err.msg);
			config_free(cfg);
			return NULL;
		}
	const char *lvl = config_get(cfg, "log.level");
	if (lvl && log_level_parse(lvl) >= 0)
		log_set_level(log_level_parse(lvl));
	http_client_set_token(config_get(cfg, "rest.auth.token"));
	return cfg;
}

static int cmd_run(int argc, char **argv, enum client_mode mode)
{
	const char *cmd = argv[0];
	int parallelism = -1;
	const char *m_option = NULL;
	bool detached = false;
	char **overrides = xcalloc((size_t)argc, sizeof *overrides);
	int noverrides = 0, i, rc = 1;
	struct config *cfg = NULL;
	struct job_library lib = {0};

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage_run(stdout, cmd);
			rc = 0;
			goto out;
		} else if (strcmp(a, "-p") == 0 || strcmp(a, "--parallelism") == 0) {
			if (i + 1 >= argc) {
				fprintf(stderr, "spate: option '%s' needs a value\n", a);
				rc = EXIT_USAGE;
				goto out;
			}
			if (parse_parallelism(argv[++i], &parallelism) < 0)
				goto out;
		} else if (mode == CLIENT_RUN &&
		           (strcmp(a, "-m") == 0 || strcmp(a, "--jobmanager") == 0)) {
			if (i + 1 >= argc) {
				fprintf(stderr, "spate: option '%s' needs host:port\n", a);
				rc = EXIT_USAGE;
				goto out;
			}
			m_option = argv[++i];
		} else if (mode == CLIENT_RUN &&
		           (strcmp(a, "-d") == 0 || strcmp(a, "--detached") == 0)) {
			detached = true;
		} else if (strcmp(a, "-D") == 0) {
			if (i + 1 >= argc) {
				fprintf(stderr, "spate: option '-D' needs key=value\n");
				rc = EXIT_USAGE;
				goto out;
			}
			overrides[noverrides++] = argv[++i];
		} else if (strncmp(a, "-D", 2) == 0) {
			overrides[noverrides++] = (char *)a + 2;
		} else if (a[0] == '-' && a[1] != '\0') {
			fprintf(stderr,
			        "spate: unknown option '%s' for '%s' (see spate %s --help)\n", a,
			        cmd, cmd);
			rc = EXIT_USAGE;
			goto out;
		} else {
			break;
		}
	}
	if (i >= argc) {
		fprintf(stderr,
		        "spate: no job library given (usage: spate %s [OPTIONS] <job.so>)\n", cmd);
		rc = EXIT_USAGE;
		goto out;
	}

	struct spate_error err = {0};
	bool have_file = false;
	cfg = load_config(overrides, noverrides, &have_file);
	if (!cfg)
		goto out;
	char cluster[256];
	bool have_cluster = false;
	if (mode == CLIENT_RUN) {
		have_cluster = cluster_client_address(cfg, m_option, cluster, sizeof cluster) == 0;
		if (detached && !have_cluster) {
			fprintf(stderr,
			        "spate: detached mode needs a session cluster: start one with "
			        "`spate cluster start` or pass -m host:port\n");
			goto out;
		}
	}

	if (job_library_open(argv[i], &lib, &err) < 0) {
		fprintf(stderr, "spate: %s\n", err.msg);
		goto out;
	}
	struct client_options opts = {
	    .mode = mode,
	    .parallelism = parallelism,
	    .have_config_file = have_file,
	    .config = cfg,
	    .cluster = have_cluster ? cluster : NULL,
	    .detached = detached,
	};
	/* The job sees its library path as argv[0] and its own arguments after it. */
	if (client_run_job(&lib, argc - i, argv + i, &opts, &err) < 0) {
		fprintf(stderr, "spate: %s\n", err.msg);
		goto out;
	}
	rc = 0;
out:
	job_library_close(&lib);
	config_free(cfg);
	xfree(overrides);
	fflush(stdout);
	return rc;
}

/* Parses the options shared by the cluster commands: -D, -m and flags in `flags` (letters
 * that take no value, recorded in *seen). Returns the index of the first operand, or -1
 * (usage error printed). */
static int parse_common(int argc, char **argv, char **overrides, int *noverrides,
                        const char **m_option, const char *flags, char *seen)
{
	int i;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "-D") == 0) {
			if (i + 1 >= argc) {
				fprintf(stderr, "spate: option '-D' needs key=value\n");
				return -1;
			}
			overrides[(*noverrides)++] = argv[++i];
		} else if (strncmp(a, "-D", 2) == 0) {
			overrides[(*noverrides)++] = (char *)a + 2;
		} else if (m_option && (strcmp(a, "-m") == 0 || strcmp(a, "--jobmanager") == 0)) {
			if (i + 1 >= argc) {
				fprintf(stderr, "spate: option '%s' needs host:port\n", a);
				return -1;
			}
			*m_option = argv[++i];
		} else if (a[0] == '-' && a[1] && !a[2] && flags && strchr(flags, a[1])) {
			seen[strlen(seen)] = a[1];
		} else if (strcmp(a, "--running") == 0 && flags && strchr(flags, 'r')) {
			seen[strlen(seen)] = 'r';
		} else if (strcmp(a, "--scheduled") == 0 && flags && strchr(flags, 's')) {
			seen[strlen(seen)] = 's';
		} else if (strcmp(a, "--all") == 0 && flags && strchr(flags, 'a')) {
			seen[strlen(seen)] = 'a';
		} else if (a[0] == '-' && a[1] != '\0') {
			fprintf(stderr, "spate: unknown option '%s' for '%s'\n", a, argv[0]);
			return -1;
		} else {
			break;
		}
	}
	return i;
}

static int need_cluster(const struct config *cfg, const char *m_option, char *out, size_t cap)
{
	if (cluster_client_address(cfg, m_option, out, cap) == 0)
		return 0;
	fprintf(stderr, "spate: no JobManager to talk to: start a cluster with `spate cluster "
	                "start` or pass -m host:port\n");
	return -1;
}

static int cmd_cluster_tool(int argc, char **argv)
{
	const char *cmd = argv[0];
	char **overrides = xcalloc((size_t)argc + 1, sizeof *overrides);
	int noverrides = 0, rc = 1;
	const char *m_option = NULL;
	char seen[16] = "";
	struct config *cfg = NULL;
	bool daemon = strcmp(cmd, "jobmanager") == 0 || strcmp(cmd, "taskmanager") == 0;
	bool is_cluster = strcmp(cmd, "cluster") == 0;
	int first = parse_common(argc, argv, overrides, &noverrides,
	                         daemon || is_cluster ? NULL : &m_option,
	                         strcmp(cmd, "list") == 0 ? "rsa" : NULL, seen);
	if (first < 0) {
		rc = EXIT_USAGE;
		goto out;
	}
	int nargs = argc - first;
	if (is_cluster) {
		if (nargs < 1 ||
		    (strcmp(argv[first], "start") != 0 && strcmp(argv[first], "stop") != 0)) {
			fprintf(stderr, "spate: usage: spate cluster start|stop [-D key=value]\n");
			rc = EXIT_USAGE;
			goto out;
		}
		/* -D may also follow start|stop */
		int more = parse_common(argc - first, argv + first, overrides, &noverrides, NULL,
		                        NULL, seen);
		if (more < 0 || more < argc - first) {
			if (more >= 0)
				fprintf(stderr, "spate: unexpected argument '%s'\n",
				        argv[first + more]);
			rc = EXIT_USAGE;
			goto out;
		}
	} else if ((strcmp(cmd, "cancel") == 0 && nargs != 1) ||
	           (strcmp(cmd, "cancel") != 0 && nargs != 0)) {
		fprintf(stderr, "spate: usage: spate %s%s\n", cmd,
		        strcmp(cmd, "cancel") == 0 ? " [-m host:port] <jobid>"
		        : strcmp(cmd, "list") == 0 ? " [-r|-s|-a] [-m host:port]"
		                                   : " [-D key=value ...]");
		rc = EXIT_USAGE;
		goto out;
	}
	cfg = load_config(overrides, noverrides, NULL);
	if (!cfg)
		goto out;
	struct spate_error err = {0};
	char address[256];
	if (strcmp(cmd, "jobmanager") == 0) {
		rc = jobmanager_main(cfg);
	} else if (strcmp(cmd, "taskmanager") == 0) {
		rc = taskmanager_main(cfg);
	} else if (is_cluster && strcmp(argv[first], "start") == 0) {
		rc = cluster_start(cfg, overrides, noverrides);
	} else if (is_cluster) {
		rc = cluster_stop(cfg);
	} else if (need_cluster(cfg, m_option, address, sizeof address) < 0) {
		rc = 1;
	} else if (strcmp(cmd, "list") == 0) {
		int which = 0;
		which |= strchr(seen, 'r') ? LIST_RUNNING : 0;
		which |= strchr(seen, 's') ? LIST_SCHEDULED : 0;
		which |= strchr(seen, 'a') ? LIST_ALL : 0;
		if (!which)
			which = LIST_RUNNING | LIST_SCHEDULED;
		rc = cluster_client_list(address, which, &err) < 0 ? 1 : 0;
	} else if (!job_id_is_valid(argv[first])) {
		fprintf(stderr, "spate: bad job id '%s': expected 32 lowercase hex characters\n",
		        argv[first]);
		rc = 1;
	} else {
		rc = cluster_client_cancel(address, argv[first], &err) < 0 ? 1 : 0;
	}
	if (rc != 0 && err.code)
		fprintf(stderr, "spate: %s\n", err.msg);
out:
	config_free(cfg);
	xfree(overrides);
	fflush(stdout);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage_main(stderr);
		return EXIT_USAGE;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
		usage_main(stdout);
		return 0;
	}
	if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
		printf("spate %s (API version %d)\n", "0.1.0", SPATE_API_VERSION);
		return 0;
	}
	if (strcmp(cmd, "run") == 0)
		return cmd_run(argc - 1, argv + 1, CLIENT_RUN);
	if (strcmp(cmd, "info") == 0)
		return cmd_run(argc - 1, argv + 1, CLIENT_INFO);
	/* Hidden: `spate graph-capture [-p N] [-D k=v]... <job.so> [args]`, the child the
	 * JobManager runs for /jars/:jarid/run and /plan (CLIENT_CAPTURE in client.h). */
	if (strcmp(cmd, "graph-capture") == 0)
		return client_capture_stdout() < 0 ? 1
		                                   : cmd_run(argc - 1, argv + 1, CLIENT_CAPTURE);
	if (strcmp(cmd, "list") == 0 || strcmp(cmd, "cancel") == 0 || strcmp(cmd, "cluster") == 0 ||
	    strcmp(cmd, "jobmanager") == 0 || strcmp(cmd, "taskmanager") == 0)
		return cmd_cluster_tool(argc - 1, argv + 1);
	fprintf(stderr, "spate: unknown command '%s' (see spate --help)\n", cmd);
	return EXIT_USAGE;
}
