/*
 * spate - the command line: `spate run` and `spate info` for now (the cluster commands come
 * with the cluster runtime). This file parses arguments and wires modules together; the
 * work is done in src/client and below.
 *
 * Exit codes: 0 success; 1 an error (one line on stderr, "spate: <message>"); 2 a usage
 * error.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client.h"
#include "config/config.h"
#include "core/alloc.h"
#include "core/log.h"

#define EXIT_USAGE 2

static void usage_main(FILE *f)
{
	fprintf(f, "Usage: spate <command> [options]\n"
	           "\n"
	           "Commands:\n"
	           "  run    Run a job (on the embedded local cluster)\n"
	           "  info   Show the job's execution plan\n"
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
	        "  -D <key>=<value>        Set a configuration key (repeatable)\n"
	        "  -h, --help              Show this help\n",
	        cmd,
	        strcmp(cmd, "run") == 0
	            ? "Runs the job attached on an embedded local cluster and prints its\n"
	              "results, Flink's client lines and the job runtime.\n"
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

static int cmd_run(int argc, char **argv, enum client_mode mode)
{
	const char *cmd = argv[0];
	int parallelism = -1;
	char **overrides = xcalloc((size_t)argc, sizeof *overrides);
	int noverrides = 0, i, rc = 1;
	struct config *cfg = NULL;
	char *dir = NULL, *path = NULL;
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
	cfg = config_new();
	dir = config_find_dir();
	bool have_file = false;
	if (dir) {
		path = xasprintf("%s/config.yaml", dir);
		int lrc = config_load_file(cfg, path, &err);
		if (lrc == 0)
			have_file = true;
		else if (lrc != SPATE_ENOENT) {
			fprintf(stderr, "spate: %s\n", err.msg);
			goto out;
		}
	}
	for (int k = 0; k < noverrides; k++)
		if (config_set_override(cfg, overrides[k], &err) < 0) {
			fprintf(stderr, "spate: %s\n", err.msg);
			goto out;
		}
	const char *lvl = config_get(cfg, "log.level");
	if (lvl && log_level_parse(lvl) >= 0)
		log_set_level(log_level_parse(lvl));

	if (job_library_open(argv[i], &lib, &err) < 0) {
		fprintf(stderr, "spate: %s\n", err.msg);
		goto out;
	}
	struct client_options opts = {
	    .mode = mode,
	    .parallelism = parallelism,
	    .have_config_file = have_file,
	    .config = cfg,
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
	xfree(dir);
	xfree(path);
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
	fprintf(stderr, "spate: unknown command '%s' (see spate --help)\n", cmd);
	return EXIT_USAGE;
}
