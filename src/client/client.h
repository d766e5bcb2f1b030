/*
 * client.h - the client side of `spate run` / `spate info`: load a job library, run its
 * entry point with an environment, and execute what it builds (on the embedded local
 * cluster, or only print the plan).
 */
#ifndef SPATE_CLIENT_CLIENT_H
#define SPATE_CLIENT_CLIENT_H

#include "config/config.h"
#include "core/error.h"

struct job_library {
	void *handle; /* dlopen handle */
	char *path;   /* owned */
	spate_job_main_fn main;
};

/*
 * Opens a job library and checks its entry point and API version. Errors (err filled):
 * missing or unreadable file, not a shared library, no entry point, API version mismatch.
 */
int job_library_open(const char *path, struct job_library *lib, struct spate_error *err);
void job_library_close(struct job_library *lib);

enum client_mode { CLIENT_RUN, CLIENT_INFO };

struct client_options {
	enum client_mode mode;
	int parallelism; /* -p, or -1 */
	bool have_config_file;
	const struct config *config;
	const char *cluster; /* REST address of a session cluster, or NULL: embedded */
	bool detached;       /* -d: submit and return */
};

/*
 * Runs the job library's entry point with argv (argv[0] = library path). In RUN mode each
 * spate_env_execute() runs the job attached on the embedded cluster, printing Flink's
 * client lines; in INFO mode it prints the plan instead. Returns 0 on success; otherwise
 * err holds the one-line reason.
 */
int client_run_job(struct job_library *lib, int argc, char **argv,
                   const struct client_options *opts, struct spate_error *err);

#endif
