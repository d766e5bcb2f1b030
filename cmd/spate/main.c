/*
 * spate - the command line: `spate run|info|list|cancel|savepoint|stop`, the daemons
 * `spate jobmanager` and `spate taskmanager`, and `spate cluster start|stop`. This file
 * parses arguments and wires modules together; the work is done in src/client, src/cluster
 * and below, except savepoint and stop, which follow their trigger id over REST here.
 *
 * Exit codes: 0 success; 1 an error (one line on stderr, "spate: <message>"); 2 a usage
 * error.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <jansson.h>

#include "checkpoint/checkpoint.h"
#include "client/client.h"
#include "client/cluster_client.h"
#include "client/http_client.h"
#include "cluster/cluster.h"
#include "cluster/jobmanager.h"
#include "config/config.h"
#include "core/alloc.h"
#include "core/log.h"
#include "rpc/rpc.h"
#include "runtime/local_job.h"

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
	           "  savepoint <id> Trigger a savepoint of a job (-d <path>: dispose of one)\n"
	           "  stop <id>      Stop a job with a savepoint\n"
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
	        "%s"
	        "  -D <key>=<value>        Set a configuration key (repeatable)\n"
	        "  -h, --help              Show this help\n",
	        cmd,
	        strcmp(cmd, "run") == 0
	            ? "Submits the job to the session cluster (with -m, or the one this\n"
	              "installation started) and follows it to its end; without a cluster it runs\n"
	              "attached on an embedded local cluster. Prints Flink's client lines.\n"
	            : "Prints the execution plan as JSON (Flink's plan shape) and a summary:\n"
	              "job vertices, subtasks and the slots the job needs.\n",
	        strcmp(cmd, "run") == 0
	            ? "  -s, --fromSavepoint <path>  Restore from this savepoint (or checkpoint)\n"
	              "  -n, --allowNonRestoredState  Skip savepoint state no operator takes\n"
	            : "");
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

/*
 * A path the user typed, as the JobManager should see it: "file:///x" and "file:/x" (Flink's
 * URIs) become "/x", and a relative path is made absolute against the current directory, since
 * the JobManager runs elsewhere. A new string, or NULL after printing why.
 */
static char *cli_path(const char *p)
{
	if (strncmp(p, "file://", 7) == 0)
		p += 7;
	else if (strncmp(p, "file:", 5) == 0)
		p += 5;
	if (!*p) {
		fprintf(stderr, "spate: empty path\n");
		return NULL;
	}
	if (p[0] == '/')
		return xstrdup(p);
	char cwd[4096];
	if (!getcwd(cwd, sizeof cwd)) {
		fprintf(stderr, "spate: cannot resolve '%s': %s\n", p, strerror(errno));
		return NULL;
	}
	return xasprintf("%s/%s", strcmp(cwd, "/") == 0 ? "" : cwd, p);
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
	char *restore = NULL; /* "execution.state-recovery.path=<path>", an override of -s */

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
		} else if (mode != CLIENT_INFO &&
		           (strcmp(a, "-s") == 0 || strcmp(a, "--fromSavepoint") == 0)) {
			if (i + 1 >= argc) {
				fprintf(stderr, "spate: option '%s' needs a savepoint path\n", a);
				rc = EXIT_USAGE;
				goto out;
			}
			/* Flink's -s sets execution.state-recovery.path; it travels in the
			 * job's configuration (see ship_job_config in client/executor.c). */
			char *path = cli_path(argv[++i]);
			if (!path)
				goto out;
			char *was = restore;
			restore = xasprintf("execution.state-recovery.path=%s", path);
			xfree(path);
			for (int k = 0; k < noverrides; k++) /* a second -s replaces the first */
				if (overrides[k] == was)
					overrides[k] = restore;
			if (!was)
				overrides[noverrides++] = restore;
			xfree(was);
		} else if (mode != CLIENT_INFO &&
		           (strcmp(a, "-n") == 0 || strcmp(a, "--allowNonRestoredState") == 0)) {
			overrides[noverrides++] =
			    "execution.state-recovery.ignore-unclaimed-state=true";
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
	xfree(restore);
	fflush(stdout);
	return rc;
}

static void usage_list(FILE *f)
{
	fprintf(f, "Usage: spate list [OPTIONS]\n"
	           "\n"
	           "Lists the session cluster's running and scheduled jobs (with -a also the\n"
	           "terminated ones) in Flink's format.\n"
	           "\n"
	           "Options:\n"
	           "  -r, --running           Show only running and restarting jobs\n"
	           "  -s, --scheduled         Show only scheduled jobs\n"
	           "  -a, --all               Show running, scheduled and terminated jobs\n"
	           "  -m, --jobmanager <host:port>  The JobManager's REST address (default: the\n"
	           "                          cluster started by `spate cluster start`)\n"
	           "  -D <key>=<value>        Set a configuration key (repeatable)\n"
	           "  -h, --help              Show this help\n");
}

static void usage_cancel(FILE *f)
{
	fprintf(f, "Usage: spate cancel [OPTIONS] <jobId>\n"
	           "\n"
	           "Cancels a job of the session cluster.\n"
	           "\n"
	           "Options:\n"
	           "  -m, --jobmanager <host:port>  The JobManager's REST address (default: the\n"
	           "                          cluster started by `spate cluster start`)\n"
	           "  -D <key>=<value>        Set a configuration key (repeatable)\n"
	           "  -h, --help              Show this help\n");
}

/* sub: "start", "stop" or NULL (both). */
static void usage_cluster(FILE *f, const char *sub)
{
	bool start = !sub || strcmp(sub, "start") == 0, stop = !sub || strcmp(sub, "stop") == 0;
	fprintf(f, "Usage:");
	if (start)
		fprintf(f, " spate cluster start [-D <key>=<value>]...\n");
	if (start && stop)
		fprintf(f, "      ");
	if (stop)
		fprintf(f, " spate cluster stop [-D <key>=<value>]...\n");
	fprintf(f, "\n");
	if (start)
		fprintf(f,
		        "%sStarts a JobManager and one TaskManager per line of conf/workers\n"
		        "(localhost entries; one without the file), taskmanager.numberOfTaskSlots\n"
		        "slots each, as Flink's start-cluster.sh does, and waits until the\n"
		        "JobManager reports all their slots. Logs and pid files go to env.log.dir\n"
		        "($SPATE_LOG_DIR, else log/ beside bin/).\n",
		        stop ? "start: " : "");
	if (stop)
		fprintf(f,
		        "%sStops the JobManager and TaskManagers that `spate cluster start`\n"
		        "started.\n",
		        start ? "stop: " : "");
	fprintf(f, "\n"
	           "Options:\n"
	           "  -D <key>=<value>        Set a configuration key, for every daemon too\n"
	           "                          (repeatable)\n"
	           "  -h, --help              Show this help\n");
}

static void usage_daemon(FILE *f, const char *cmd)
{
	bool jm = strcmp(cmd, "jobmanager") == 0;
	fprintf(f,
	        "Usage: spate %s [-D <key>=<value>]...\n"
	        "\n"
	        "%s"
	        "It runs until SIGTERM or SIGINT, logging to stderr (for systemd or containers).\n"
	        "\n"
	        "Options:\n"
	        "  -D <key>=<value>        Set a configuration key (repeatable)\n"
	        "  -h, --help              Show this help\n",
	        cmd,
	        jm ? "Runs a JobManager in the foreground: the ResourceManager on\n"
	             "jobmanager.rpc.port, the REST API and dashboard on rest.port. It writes\n"
	             "its addresses to jobmanager.address in the log directory.\n"
	           : "Runs a TaskManager in the foreground: it offers\n"
	             "taskmanager.numberOfTaskSlots slots to the JobManager at\n"
	             "jobmanager.rpc.address:jobmanager.rpc.port, retrying until it is there.\n");
}

/* What a cluster command (list, cancel, cluster, jobmanager, taskmanager) was asked.
 * Options and operands may mix, as in Flink's CLI. */
struct common_args {
	char **overrides; /* -D values (borrowed from argv), noverrides of them */
	int noverrides;
	const char *m_option;
	int list_which; /* LIST_* flags of -r, -s, -a */
	bool help;      /* -h or --help: nothing else is looked at */
	const char *operands[2];
	int noperands;
};

/* Parses -D, -m (when takes_m), list's flags (when is_list) and -h/--help. Returns 0, or -1
 * after printing a usage error. */
static int parse_common(int argc, char **argv, bool takes_m, bool is_list, struct common_args *a)
{
	for (int i = 1; i < argc; i++) {
		const char *o = argv[i];
		if (strcmp(o, "-h") == 0 || strcmp(o, "--help") == 0) {
			a->help = true;
			return 0;
		} else if (strcmp(o, "-D") == 0) {
			if (i + 1 >= argc) {
				fprintf(stderr, "spate: option '-D' needs key=value\n");
				return -1;
			}
			a->overrides[a->noverrides++] = argv[++i];
		} else if (strncmp(o, "-D", 2) == 0) {
			a->overrides[a->noverrides++] = (char *)o + 2;
		} else if (takes_m && (strcmp(o, "-m") == 0 || strcmp(o, "--jobmanager") == 0)) {
			if (i + 1 >= argc) {
				fprintf(stderr, "spate: option '%s' needs host:port\n", o);
				return -1;
			}
			a->m_option = argv[++i];
		} else if (is_list && (strcmp(o, "-r") == 0 || strcmp(o, "--running") == 0)) {
			a->list_which |= LIST_RUNNING;
		} else if (is_list && (strcmp(o, "-s") == 0 || strcmp(o, "--scheduled") == 0)) {
			a->list_which |= LIST_SCHEDULED;
		} else if (is_list && (strcmp(o, "-a") == 0 || strcmp(o, "--all") == 0)) {
			a->list_which |= LIST_ALL;
		} else if (o[0] == '-' && o[1] != '\0') {
			fprintf(stderr,
			        "spate: unknown option '%s' for '%s' (see spate %s --help)\n", o,
			        argv[0], argv[0]);
			return -1;
		} else if (a->noperands < 2) {
			a->operands[a->noperands++] = o;
		} else {
			fprintf(stderr, "spate: unexpected argument '%s'\n", o);
			return -1;
		}
	}
	return 0;
}

static int need_cluster(const struct config *cfg, const char *m_option, char *out, size_t cap)
{
	if (cluster_client_address(cfg, m_option, out, cap) == 0)
		return 0;
	fprintf(stderr, "spate: no JobManager to talk to: start a cluster with `spate cluster "
	                "start` or pass -m host:port\n");
	return -1;
}

/* `spate list|cancel|cluster|jobmanager|taskmanager`. */
static int cmd_cluster_tool(int argc, char **argv)
{
	const char *cmd = argv[0];
	struct common_args a = {.overrides = xcalloc((size_t)argc + 1, sizeof(char *))};
	int rc = 1;
	struct config *cfg = NULL;
	bool daemon = strcmp(cmd, "jobmanager") == 0 || strcmp(cmd, "taskmanager") == 0;
	bool is_cluster = strcmp(cmd, "cluster") == 0;
	bool is_list = strcmp(cmd, "list") == 0, is_cancel = strcmp(cmd, "cancel") == 0;
	if (parse_common(argc, argv, !daemon && !is_cluster, is_list, &a) < 0) {
		rc = EXIT_USAGE;
		goto out;
	}
	if (a.help) {
		if (is_list)
			usage_list(stdout);
		else if (is_cancel)
			usage_cancel(stdout);
		else if (is_cluster)
			usage_cluster(stdout,
			              a.noperands > 0 && (strcmp(a.operands[0], "start") == 0 ||
			                                  strcmp(a.operands[0], "stop") == 0)
			                  ? a.operands[0]
			                  : NULL);
		else
			usage_daemon(stdout, cmd);
		rc = 0;
		goto out;
	}
	if (is_cluster) {
		if (a.noperands != 1 ||
		    (strcmp(a.operands[0], "start") != 0 && strcmp(a.operands[0], "stop") != 0)) {
			if (a.noperands > 1)
				fprintf(stderr, "spate: unexpected argument '%s'\n", a.operands[1]);
			else
				fprintf(stderr,
				        "spate: usage: spate cluster start|stop [-D key=value]\n");
			rc = EXIT_USAGE;
			goto out;
		}
	} else if (a.noperands != (is_cancel ? 1 : 0)) {
		fprintf(stderr, "spate: usage: spate %s%s\n", cmd,
		        is_cancel ? " [-m host:port] <jobid>"
		        : is_list ? " [-r|-s|-a] [-m host:port]"
		                  : " [-D key=value ...]");
		rc = EXIT_USAGE;
		goto out;
	}
	cfg = load_config(a.overrides, a.noverrides, NULL);
	if (!cfg)
		goto out;
	struct spate_error err = {0};
	char address[256];
	if (strcmp(cmd, "jobmanager") == 0) {
		rc = jobmanager_main(cfg);
	} else if (strcmp(cmd, "taskmanager") == 0) {
		rc = taskmanager_main(cfg);
	} else if (is_cluster && strcmp(a.operands[0], "start") == 0) {
		rc = cluster_start(cfg, a.overrides, a.noverrides);
	} else if (is_cluster) {
		rc = cluster_stop(cfg);
	} else if (need_cluster(cfg, a.m_option, address, sizeof address) < 0) {
		rc = 1;
	} else if (is_list) {
		int which = a.list_which ? a.list_which : LIST_RUNNING | LIST_SCHEDULED;
		rc = cluster_client_list(address, which, &err) < 0 ? 1 : 0;
	} else if (!job_id_is_valid(a.operands[0])) {
		fprintf(stderr, "spate: bad job id '%s': expected 32 lowercase hex characters\n",
		        a.operands[0]);
		rc = 1;
	} else {
		rc = cluster_client_cancel(address, a.operands[0], &err) < 0 ? 1 : 0;
	}
	if (rc != 0 && err.code)
		fprintf(stderr, "spate: %s\n", err.msg);
out:
	config_free(cfg);
	xfree(a.overrides);
	fflush(stdout);
	return rc;
}

/* ---- savepoint and stop (Flink's CliFrontend.savepoint / .stop) -------------------------- */

static void usage_savepoint(FILE *f)
{
	fprintf(f,
	        "Usage: spate savepoint [OPTIONS] <jobId> [targetDirectory]\n"
	        "       spate savepoint -d <savepointPath>\n"
	        "\n"
	        "Triggers a savepoint of a running job and waits for it (Flink's client lines).\n"
	        "Without targetDirectory it goes to execution.checkpointing.savepoint-dir.\n"
	        "\n"
	        "Options:\n"
	        "  -d, --dispose <path>    Dispose of (remove) the savepoint at path, on this\n"
	        "                          machine's file system\n"
	        "  -detached               Trigger and print the trigger id without waiting\n"
	        "  -type <canonical|native>  Savepoint format (Spate writes one format)\n"
	        "  -m, --jobmanager <host:port>  The JobManager's REST address\n"
	        "  -D <key>=<value>        Set a configuration key (repeatable)\n"
	        "  -h, --help              Show this help\n");
}

static void usage_stop(FILE *f)
{
	fprintf(f, "Usage: spate stop [OPTIONS] <jobId>\n"
	           "\n"
	           "Stops a running job with a savepoint (stop-with-savepoint): the sources stop\n"
	           "after the savepoint and the job finishes.\n"
	           "\n"
	           "Options:\n"
	           "  -p, --savepointPath <dir>  Where the savepoint goes (default:\n"
	           "                          execution.checkpointing.savepoint-dir)\n"
	           "  -d, --drain             Drain the job before stopping (Spate has no event\n"
	           "                          time: the same as a plain stop)\n"
	           "  -detached               Trigger and print the trigger id without waiting\n"
	           "  -type <canonical|native>  Savepoint format (Spate writes one format)\n"
	           "  -m, --jobmanager <host:port>  The JobManager's REST address\n"
	           "  -D <key>=<value>        Set a configuration key (repeatable)\n"
	           "  -h, --help              Show this help\n");
}

/* What `spate savepoint` and `spate stop` were asked. */
struct savepoint_args {
	char **overrides; /* -D values (borrowed from argv), noverrides of them */
	int noverrides;
	const char *m_option;
	const char *dispose; /* savepoint -d */
	const char *target;  /* stop -p */
	bool drain;
	bool detached;
	const char *operands[3];
	int noperands;
};

/* Parses the options of savepoint (stop false) or stop. Options and operands may mix, as
 * in Flink's CLI. Returns 0, 1 for --help (printed), or EXIT_USAGE after printing why. */
static int parse_savepoint_args(int argc, char **argv, bool stop, struct savepoint_args *a)
{
	const char *cmd = argv[0];
	for (int i = 1; i < argc; i++) {
		const char *o = argv[i];
		bool takes_value =
		    strcmp(o, "-D") == 0 || strcmp(o, "-m") == 0 ||
		    strcmp(o, "--jobmanager") == 0 || strcmp(o, "-type") == 0 ||
		    strcmp(o, "--type") == 0 ||
		    (!stop && (strcmp(o, "-d") == 0 || strcmp(o, "--dispose") == 0)) ||
		    (stop && (strcmp(o, "-p") == 0 || strcmp(o, "--savepointPath") == 0));
		if (takes_value && i + 1 >= argc) {
			fprintf(stderr, "spate: option '%s' needs a value (see spate %s --help)\n",
			        o, cmd);
			return EXIT_USAGE;
		}
		if (strcmp(o, "-h") == 0 || strcmp(o, "--help") == 0) {
			if (stop)
				usage_stop(stdout);
			else
				usage_savepoint(stdout);
			return 1;
		} else if (strcmp(o, "-D") == 0) {
			a->overrides[a->noverrides++] = argv[++i];
		} else if (strncmp(o, "-D", 2) == 0) {
			a->overrides[a->noverrides++] = (char *)o + 2;
		} else if (strcmp(o, "-m") == 0 || strcmp(o, "--jobmanager") == 0) {
			a->m_option = argv[++i];
		} else if (strcmp(o, "-type") == 0 || strcmp(o, "--type") == 0) {
			const char *t = argv[++i];
			if (strcasecmp(t, "canonical") != 0 && strcasecmp(t, "native") != 0) {
				fprintf(stderr,
				        "spate: bad savepoint format '%s': expected canonical or "
				        "native\n",
				        t);
				return EXIT_USAGE;
			}
		} else if (strcmp(o, "-detached") == 0 || strcmp(o, "--detached") == 0) {
			a->detached = true;
		} else if (!stop && (strcmp(o, "-d") == 0 || strcmp(o, "--dispose") == 0)) {
			a->dispose = argv[++i];
		} else if (stop && (strcmp(o, "-p") == 0 || strcmp(o, "--savepointPath") == 0)) {
			a->target = argv[++i];
		} else if (stop && (strcmp(o, "-d") == 0 || strcmp(o, "--drain") == 0)) {
			a->drain = true;
		} else if (o[0] == '-' && o[1] != '\0') {
			fprintf(stderr,
			        "spate: unknown option '%s' for '%s' (see spate %s --help)\n", o,
			        cmd, cmd);
			return EXIT_USAGE;
		} else if (a->noperands < 3) {
			a->operands[a->noperands++] = o;
		} else {
			fprintf(stderr, "spate: unexpected argument '%s'\n", o);
			return EXIT_USAGE;
		}
	}
	bool ok = stop         ? a->noperands == 1
	          : a->dispose ? a->noperands <= 1 /* Flink's example also names the job */
	                       : a->noperands >= 1 && a->noperands <= 2;
	if (!ok) {
		fprintf(stderr, "spate: usage: spate %s\n",
		        stop ? "stop [-p <dir>] [-d] [-m host:port] <jobId>"
		             : "savepoint [-m host:port] <jobId> [targetDirectory] | "
		               "savepoint -d <savepointPath>");
		return EXIT_USAGE;
	}
	return 0;
}

/*
 * Removes a savepoint (or retained checkpoint) directory: path is the directory or its
 * _metadata file. Refuses anything whose _metadata is not a Spate checkpoint's, so that a
 * typo cannot remove an unrelated tree. 0, or 1 after printing why.
 */
static int dispose_savepoint(const char *arg)
{
	char *dir = cli_path(arg);
	if (!dir)
		return 1;
	size_t n = strlen(dir);
	while (n > 1 && dir[n - 1] == '/')
		dir[--n] = '\0';
	const char *base = strrchr(dir, '/') ? strrchr(dir, '/') + 1 : dir;
	if (strcmp(base, CHECKPOINT_METADATA_NAME) == 0)
		dir[base - dir > 1 ? base - dir - 1 : 1] = '\0';
	char *meta = checkpoint_path_join(dir, CHECKPOINT_METADATA_NAME);
	int rc = 1;
	printf("Disposing savepoint '%s'.\n", arg);
	printf("Waiting for response...\n");
	fflush(stdout);
	char magic[sizeof CHECKPOINT_METADATA_MAGIC - 1];
	FILE *f = fopen(meta, "rb");
	size_t got = f ? fread(magic, 1, sizeof magic, f) : 0;
	if (!f) {
		fprintf(stderr, "spate: cannot dispose savepoint '%s': cannot open '%s': %s\n", arg,
		        meta, strerror(errno));
	} else if (got != sizeof magic || memcmp(magic, CHECKPOINT_METADATA_MAGIC, sizeof magic)) {
		fprintf(stderr,
		        "spate: cannot dispose savepoint '%s': '%s' is not a Spate checkpoint's "
		        "metadata\n",
		        arg, meta);
	} else {
		int r = checkpoint_remove_tree(dir);
		if (r < 0)
			fprintf(stderr, "spate: cannot dispose savepoint '%s': %s\n", arg,
			        strerror(-r));
		else {
			printf("Savepoint '%s' disposed.\n", arg);
			rc = 0;
		}
	}
	if (f)
		fclose(f);
	xfree(meta);
	xfree(dir);
	return rc;
}

/* The message of a failure-cause: its stack trace's first line, without the
 * CompletionException wrapper the REST answer adds. */
static void failure_text(json_t *cause, char *buf, size_t cap)
{
	const char *t = json_string_value(json_object_get(cause, "stack-trace"));
	static const char wrapper[] = "java.util.concurrent.CompletionException: ";
	if (!t)
		t = "the JobManager gave no reason";
	if (strncmp(t, wrapper, sizeof wrapper - 1) == 0)
		t += sizeof wrapper - 1;
	snprintf(buf, cap, "%.*s", (int)strcspn(t, "\n"), t);
}

/*
 * Triggers a savepoint (or a stop-with-savepoint) of job_id and, unless detached, polls
 * its trigger id until it completes, printing Flink's lines. target may be NULL. Returns
 * 0, or 1 after printing why.
 */
static int run_savepoint(const char *address, const char *job_id, const char *target, bool stop,
                         bool drain, bool detached, int64_t wait_ms)
{
	const char *what = stop ? "stop-with-savepoint" : "savepoint";
	if (detached)
		printf("Triggering %s in detached mode for job %s.\n", what, job_id);
	else
		printf("Triggering %s for job %s.\n", what, job_id);
	fflush(stdout);
	json_t *body =
	    stop ? json_pack("{s:o, s:b}", "targetDirectory",
	                     target ? json_string(target) : json_null(), "drain", drain)
	         : json_pack("{s:o, s:b}", "target-directory",
	                     target ? json_string(target) : json_null(), "cancel-job", false);
	char *text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	char path[160];
	snprintf(path, sizeof path, "/jobs/%s/%s", job_id, stop ? "stop" : "savepoints");
	struct spate_error err = {0};
	struct http_result r = {0};
	int rc = http_call(address, "POST", path, text, &r, &err);
	free(text);
	if (rc < 0) {
		fprintf(stderr, "spate: %s\n", err.msg);
		return 1;
	}
	char buf[512];
	json_t *o = r.status == 202 ? json_loads(r.body, 0, NULL) : NULL;
	const char *tid = json_string_value(json_object_get(o, "request-id"));
	if (!tid) {
		fprintf(stderr, "spate: cannot trigger a %s for job %s: %s\n", what, job_id,
		        r.status == 202 ? "the answer has no request-id"
		                        : http_error_text(&r, buf, sizeof buf));
		json_decref(o);
		http_result_release(&r);
		return 1;
	}
	char trigger[64];
	snprintf(trigger, sizeof trigger, "%s", tid);
	json_decref(o);
	http_result_release(&r);
	if (detached) {
		if (stop)
			printf("Successfully trigger stop-with-savepoint, triggerId: %s\n",
			       trigger);
		else
			printf("Successfully trigger manual savepoint, triggerId: %s\n", trigger);
		return 0;
	}
	printf("Waiting for response...\n");
	fflush(stdout);
	snprintf(path, sizeof path, "/jobs/%s/savepoints/%s", job_id, trigger);
	int64_t deadline = now_ms() + wait_ms;
	int pause_ms = 10;
	for (;;) {
		if (http_call(address, "GET", path, NULL, &r, &err) < 0) {
			fprintf(stderr, "spate: %s\n", err.msg);
			return 1;
		}
		o = r.status == 200 ? json_loads(r.body, 0, NULL) : NULL;
		if (!o) {
			fprintf(stderr, "spate: cannot follow the %s of job %s: %s\n", what, job_id,
			        r.status == 200 ? "the answer is not JSON"
			                        : http_error_text(&r, buf, sizeof buf));
			http_result_release(&r);
			return 1;
		}
		http_result_release(&r);
		const char *st =
		    json_string_value(json_object_get(json_object_get(o, "status"), "id"));
		if (st && strcmp(st, "COMPLETED") == 0)
			break;
		json_decref(o);
		if (now_ms() > deadline) {
			fprintf(
			    stderr,
			    "spate: the %s of job %s did not complete within %lld s (trigger id "
			    "%s)\n",
			    what, job_id, (long long)(wait_ms / 1000), trigger);
			return 1;
		}
		sleep_ms(pause_ms);
		pause_ms = pause_ms < 200 ? pause_ms * 2 : 200;
	}
	json_t *op = json_object_get(o, "operation");
	const char *location = json_string_value(json_object_get(op, "location"));
	if (!location) {
		failure_text(json_object_get(op, "failure-cause"), buf, sizeof buf);
		fprintf(stderr, "spate: %s of job %s failed: %s\n",
		        stop ? "stopping with a savepoint" : "triggering a savepoint", job_id, buf);
		json_decref(o);
		return 1;
	}
	printf("Savepoint completed. Path: %s\n", location);
	if (!stop)
		printf("You can resume your program from this savepoint with the run command.\n");
	json_decref(o);
	return 0;
}

/* `spate savepoint` and `spate stop`. */
static int cmd_savepoint(int argc, char **argv)
{
	bool stop = strcmp(argv[0], "stop") == 0;
	struct savepoint_args a = {.overrides = xcalloc((size_t)argc + 1, sizeof(char *))};
	struct config *cfg = NULL;
	char *target = NULL;
	int rc = parse_savepoint_args(argc, argv, stop, &a);
	if (rc != 0) {
		rc = rc == 1 ? 0 : rc;
		goto out;
	}
	rc = 1;
	if (a.dispose) {
		rc = dispose_savepoint(a.dispose);
		goto out;
	}
	const char *job_id = a.operands[0];
	const char *dir = stop ? a.target : a.noperands > 1 ? a.operands[1] : NULL;
	if (!job_id_is_valid(job_id)) {
		fprintf(stderr, "spate: bad job id '%s': expected 32 lowercase hex characters\n",
		        job_id);
		goto out;
	}
	if (dir && !(target = cli_path(dir)))
		goto out;
	cfg = load_config(a.overrides, a.noverrides, NULL);
	char address[256];
	if (!cfg || need_cluster(cfg, a.m_option, address, sizeof address) < 0)
		goto out;
	/* As long as the JobManager may take (the checkpoint timeout), and a minute more. */
	int64_t wait_ms =
	    config_get_duration_ms(cfg, "execution.checkpointing.timeout", 600000) + 60000;
	rc = run_savepoint(address, job_id, target, stop, a.drain, a.detached, wait_ms);
out:
	xfree(target);
	config_free(cfg);
	xfree(a.overrides);
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
	/* Hidden: `spate graph-capture [-p N] [-D k=v]... [-s path] [-n] <job.so> [args]`, the
	 * child the JobManager runs for /jars/:jarid/run and /plan (CLIENT_CAPTURE in client.h). */
	if (strcmp(cmd, "graph-capture") == 0)
		return client_capture_stdout() < 0 ? 1
		                                   : cmd_run(argc - 1, argv + 1, CLIENT_CAPTURE);
	if (strcmp(cmd, "savepoint") == 0 || strcmp(cmd, "stop") == 0)
		return cmd_savepoint(argc - 1, argv + 1);
	if (strcmp(cmd, "list") == 0 || strcmp(cmd, "cancel") == 0 || strcmp(cmd, "cluster") == 0 ||
	    strcmp(cmd, "jobmanager") == 0 || strcmp(cmd, "taskmanager") == 0)
		return cmd_cluster_tool(argc - 1, argv + 1);
	fprintf(stderr, "spate: unknown command '%s' (see spate --help)\n", cmd);
	return EXIT_USAGE;
}
