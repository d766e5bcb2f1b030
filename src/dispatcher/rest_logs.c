/*
 * rest_logs.c - the JobManager's log files over REST (Flink's paths and shapes):
 *
 *   GET /jobmanager/logs          {"logs":[{"name":..., "size":..., "mtime":...}]}: the
 *                                 regular files directly in the log directory (env.log.dir)
 *   GET /jobmanager/logs/:name    one of them, as text/plain
 *   GET /jobmanager/log           the JobManager's own log (the file its stderr goes to)
 *   GET /jobmanager/stdout        its standard output (the file its stdout goes to)
 *
 * These read files on the JobManager's machine for whoever can reach the REST port, so
 * the name is the whole attack surface. Flink's CVE-2020-17519 read any file through
 * /jobmanager/logs/..%252f..%252fetc%252fpasswd: the path was decoded twice and the name
 * was joined to the directory as a path. Here the HTTP server decodes once and never hands
 * a '/' inside a :param (see http_server.h); cluster_log_name_ok() then admits only a plain
 * file name made of a small set of characters, not starting with '.', so "..", '%', '\',
 * NUL and the like never reach the file system. The file is opened relative to the log
 * directory's descriptor with O_NOFOLLOW (a symlink planted in the directory is refused)
 * and O_NONBLOCK (a FIFO cannot hang the handler), and must be a regular file. Files are
 * streamed, never loaded whole, so a large log costs no memory.
 *
 * Handlers run on the HTTP server's threads and touch no shared state but the read-only
 * configuration.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "cluster/cluster.h"
#include "core/alloc.h"
#include "core/log.h"
#include "dispatcher/rest.h"

#define LOG_LIST_MAX 10000 /* entries listed at most */

static struct jobmanager *jm_of(void *arg)
{
	return arg;
}

/* Answers with the open regular file fd (takes ownership) of st->st_size bytes. */
static void respond_log_file(struct http_response *resp, int fd, const struct stat *st)
{
	http_respond_file(resp, 200, fd, (uint64_t)st->st_size, "text/plain; charset=UTF-8");
}

struct log_entry {
	char *name; /* owned */
	int64_t size_bytes;
	int64_t mtime_ms;
};

static int log_entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct log_entry *)a)->name, ((const struct log_entry *)b)->name);
}

static void h_logs(void *arg, const struct http_request *req, struct http_response *resp)
{
	struct jobmanager *jm = jm_of(arg);
	char *dir = cluster_log_dir(jm->config);
	DIR *d = opendir(dir);
	if (!d) {
		log_debug("cannot list the log directory '%s': %s", dir, strerror(errno));
		xfree(dir);
		http_respond_error(resp, 404, "the JobManager's log directory is not available");
		return;
	}
	xfree(dir);
	struct log_entry *entries = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	while ((de = readdir(d)) && n < LOG_LIST_MAX) {
		struct stat st;
		if (!cluster_log_name_ok(de->d_name) ||
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			entries = xrealloc(entries, cap * sizeof *entries);
		}
		entries[n++] = (struct log_entry){
		    .name = xstrdup(de->d_name),
		    .size_bytes = (int64_t)st.st_size,
		    .mtime_ms = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000,
		};
	}
	closedir(d);
	if (n > 1)
		qsort(entries, n, sizeof *entries, log_entry_cmp);
	json_t *logs = json_array();
	for (size_t i = 0; i < n; i++) {
		json_array_append_new(logs, json_pack("{s:s, s:I, s:I}", "name", entries[i].name,
		                                      "size", (json_int_t)entries[i].size_bytes,
		                                      "mtime", (json_int_t)entries[i].mtime_ms));
		xfree(entries[i].name);
	}
	xfree(entries);
	http_respond_json(resp, 200, json_pack("{s:o}", "logs", logs));
}

static void h_log_file(void *arg, const struct http_request *req, struct http_response *resp)
{
	struct jobmanager *jm = jm_of(arg);
	const char *name = req->nparams > 0 ? req->params[0] : "";
	if (!cluster_log_name_ok(name)) {
		http_respond_error(resp, 400,
		                   "invalid log file name: expected a plain file name of the log "
		                   "directory (letters, digits, '.', '_', '-', '+', '@'; not "
		                   "starting with '.')");
		return;
	}
	char *dir = cluster_log_dir(jm->config);
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		log_debug("cannot open the log directory '%s': %s", dir, strerror(errno));
		xfree(dir);
		http_respond_error(resp, 404, "the JobManager's log directory is not available");
		return;
	}
	xfree(dir);
	int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	close(dfd);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		if (fd >= 0)
			close(fd);
		http_respond_error(resp, 404, "log file '%s' not found", name);
		return;
	}
	respond_log_file(resp, fd, &st);
}

/* Serves the file the JobManager's descriptor stdfd (1 or 2) writes to. */
static void respond_std_file(struct http_response *resp, int stdfd, const char *what)
{
	struct stat st;
	int fd = cluster_open_std_file(stdfd);
	if (fd < 0 || fstat(fd, &st) != 0) {
		if (fd >= 0)
			close(fd);
		http_respond_error(resp, 404, "the JobManager's %s is not written to a file", what);
		return;
	}
	respond_log_file(resp, fd, &st);
}

static void h_jobmanager_log(void *arg, const struct http_request *req, struct http_response *resp)
{
	respond_std_file(resp, STDERR_FILENO, "log");
}

static void h_jobmanager_stdout(void *arg, const struct http_request *req,
                                struct http_response *resp)
{
	respond_std_file(resp, STDOUT_FILENO, "standard output");
}

void rest_logs_register(struct jobmanager *jm, struct http_server *s)
{
	http_server_route(s, "GET", "/jobmanager/logs", h_logs, jm);
	http_server_route(s, "GET", "/jobmanager/logs/:name", h_log_file, jm);
	http_server_route(s, "GET", "/jobmanager/log", h_jobmanager_log, jm);
	http_server_route(s, "GET", "/jobmanager/stdout", h_jobmanager_stdout, jm);
}
