/*
 * client.h - the client side of `spate run` / `spate info`: load a job library, run its
 * entry point with an environment, and execute what it builds (on the embedded local
 * cluster, or only print the plan).
 */
#ifndef SPATE_CLIENT_CLIENT_H
#define SPATE_CLIENT_CLIENT_H

#include <stddef.h>
#include <stdint.h>

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

/*
 * Checks the bytes of a job library without loading it (for uploads: the bytes are
 * untrusted, so nothing of them is executed and every offset is bounds-checked): a 64-bit
 * ELF shared object for this machine whose dynamic symbol table exports the entry point
 * SPATE_JOB_ENTRY defines (spate_job_main and spate_job_api_version) and, where the
 * version's value can be read from the file, this API version. `p` (n bytes) and `name`
 * (for messages) are borrowed. Returns 0, or SPATE_ELOAD / SPATE_EVERSION with err set to
 * one line naming the problem.
 */
int job_library_check_image(const uint8_t *p, size_t n, const char *name, struct spate_error *err);

/*
 * CLIENT_CAPTURE is the hidden `spate graph-capture` command, the child process the
 * JobManager runs for POST /jars/:jarid/run and /plan so that user code never runs inside
 * the JobManager: the first spate_env_execute() writes the encoded, finalized StreamGraph
 * (graph_codec.h) to the descriptor client_capture_stdout() set aside and ends the process
 * with status 0 right there, as Flink's plan extraction aborts the program at execute();
 * the job's code after that call never runs. Errors end it with status 1 and one line on
 * stderr, as every command does.
 */
enum client_mode { CLIENT_RUN, CLIENT_INFO, CLIENT_CAPTURE };

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

/*
 * For CLIENT_CAPTURE, called first thing in the process: moves stdout to a private
 * descriptor that only the captured graph is written to, and points stdout at stderr, so
 * that nothing the job prints (in its entry point or in a constructor run by dlopen) can
 * mix with the graph's bytes. Returns 0, or -1 after printing the reason.
 */
int client_capture_stdout(void);

/*
 * The other side of CLIENT_CAPTURE, for a multi-threaded caller such as the JobManager:
 * runs this program as `spate graph-capture args...` (args: NULL-terminated, borrowed;
 * options, then the library path, then the job's arguments) in a process group of its own,
 * with stdin /dev/null, no other descriptor of the caller and default signals. Reads the
 * child's stdout (at most max_bytes) and stderr until both end, for at most timeout_ms in
 * all, then reaps it; on expiry it kills the group. Returns the encoded StreamGraph
 * (xmalloc'd, *len bytes), or NULL with err set to one line: SPATE_EIO when the child could
 * not be started or waited for, else SPATE_EUSER with the child's own error (its last
 * "spate: " line) or that it crashed, did not finish in time or wrote too much; `name`
 * names the library in those messages.
 */
uint8_t *client_capture_graph(char *const *args, const char *name, int timeout_ms, size_t max_bytes,
                              size_t *len, struct spate_error *err);

#endif
