/*
 * rest_jars.c - REST endpoints for job libraries uploaded through the API or the dashboard
 * (Flink's /jars, flink-facts.md §6):
 *
 *   POST   /jars/upload          multipart field `jarfile` -> {filename, status}
 *   GET    /jars                 {address, files: [{id, name, uploaded, entry}]}, newest first
 *   DELETE /jars/:jarid          {}
 *   GET    /jars/:jarid/plan     {plan} (also POST): the plan JSON `spate info` prints
 *   POST   /jars/:jarid/run      {jobid}; savepointPath and allowNonRestoredState become the
 *                                job's execution.state-recovery.path and
 *                                execution.state-recovery.ignore-unclaimed-state
 *
 * DESIGN. Handlers run on the HTTP server's connection threads, several at once. The
 * uploaded libraries are the state, kept in the upload directory and nowhere else: a
 * listing reads the directory, so what it shows is what is on disk. The directory is
 * `web.upload.dir` when set (created if missing, never removed), else
 * $TMPDIR/spate-web-XXXXXX (or /tmp), created mode 0700 at the first upload and removed
 * when the process exits. Its name is the only thing guarded by a lock (jars->mu). A
 * library is stored under a name the server chooses, `<32 random hex>_<sanitised
 * basename>` (that name is the jar id): the client's file name never picks a directory
 * (Flink's CVE-2020-17518). It is written to a hidden temporary file, fsynced and renamed,
 * so a listing never shows a half-written library.
 *
 * The job's entry point is user code and never runs in the JobManager: run and plan start
 * this program again as `spate graph-capture` (CLIENT_CAPTURE in client/client.h; the
 * parent side is client_capture_graph) in its own process group. The child loads the
 * library, runs the entry point and writes the StreamGraph its first spate_env_execute()
 * builds to a descriptor nothing else writes to; the handler reads it (at most
 * CAPTURE_MAX_GRAPH_BYTES) for at most CAPTURE_TIMEOUT_MS, then reaps the child, killing
 * its group on expiry. A child that fails, crashes or hangs is a 400 naming why, and the
 * JobManager carries on. A handler may block on file I/O and on its child that long, never
 * while holding a lock; so a JobManager asked to stop while an entry point hangs stops
 * when the timeout has killed it.
 *
 * With web.submit.enable: false every /jars endpoint answers 403. Flink does not register
 * its /jars handlers then, so it answers 404 "Not found"; a 403 that names the key tells
 * the user why, as web.cancel.enable does for cancelling (dispatcher.c).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/client.h"
#include "cluster/cluster.h"
#include "core/alloc.h"
#include "core/log.h"
#include "dispatcher/rest.h"
#include "graph/graph_codec.h"
#include "graph/job_graph.h"

#define JAR_HEX_LEN 32                             /* the random part of a jar id */
#define JAR_NAME_MAX 128                           /* bytes of the sanitised file name kept */
#define ENTRY_POINT "spate_job_main"               /* the only entry point a library has */
#define CAPTURE_TIMEOUT_MS 30000                   /* entry point's time to build its graph */
#define CAPTURE_MAX_GRAPH_BYTES ((size_t)64 << 20) /* an encoded StreamGraph */
#define MAX_PROGRAM_ARGS 4096                      /* arguments passed to the entry point */
#define MAX_PROGRAM_ARG_BYTES ((size_t)1 << 20)    /* their total size */

struct jars {
	struct jobmanager *jm; /* borrowed; outlives the server */
	pthread_mutex_t mu;
	char *dir;           /* guarded by: mu; the upload directory, NULL until known */
	bool dir_exists;     /* guarded by: mu; dir was made or found (web.upload.dir) */
	bool remove_at_exit; /* guarded by: mu; dir is the default one this process made */
	struct jars *next;   /* in the exit list, guarded by: exit_mu */
};

/* Every jars state of the process, for removing the default directories at exit. */
static pthread_mutex_t exit_mu = PTHREAD_MUTEX_INITIALIZER;
static struct jars *exit_list; /* guarded by: exit_mu */
static pthread_once_t exit_once = PTHREAD_ONCE_INIT;

/* ---- the upload directory ------------------------------------------------------------- */

static bool is_jar_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-';
}

static bool all_dots(const char *s)
{
	for (; *s; s++)
		if (*s != '.')
			return false;
	return true;
}

/* The name a jar id carries after its random part: [A-Za-z0-9._-]{1,JAR_NAME_MAX}, not
 * only dots. */
static bool jar_name_is_valid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > JAR_NAME_MAX || all_dots(s))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_jar_name_char(s[i]))
			return false;
	return true;
}

/* A name this server could have created: <32 lowercase hex>_<valid name>. So no '/', no
 * "..", no NUL, nothing starting with a dot. */
static bool jar_id_is_valid(const char *id)
{
	for (int i = 0; i < JAR_HEX_LEN; i++)
		if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
			return false;
	return id[JAR_HEX_LEN] == '_' && jar_name_is_valid(id + JAR_HEX_LEN + 1);
}

/* The client's file name reduced to its last path component and to [A-Za-z0-9._-], at
 * most JAR_NAME_MAX bytes; "job.so" when nothing usable is left. New string (xfree). */
static char *sanitise_name(const char *filename)
{
	const char *base = filename ? filename : "";
	for (const char *c = base; *c; c++)
		if (*c == '/' || *c == '\\')
			base = c + 1;
	char *out = xmalloc(JAR_NAME_MAX + 1);
	size_t n = 0;
	for (const char *c = base; *c && n < JAR_NAME_MAX; c++)
		if (is_jar_name_char(*c))
			out[n++] = *c;
	out[n] = '\0';
	if (n == 0 || all_dots(out)) {
		xfree(out);
		return xstrdup("job.so");
	}
	return out;
}

/* Removes the default upload directories this process created; runs at exit, after
 * jobmanager_main has stopped the HTTP server, so no handler uses them any more. */
static void remove_upload_dirs(void)
{
	pthread_mutex_lock(&exit_mu);
	while (exit_list) {
		struct jars *j = exit_list;
		exit_list = j->next;
		if (j->dir && j->remove_at_exit) {
			DIR *d = opendir(j->dir);
			struct dirent *de;
			while (d && (de = readdir(d)))
				if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
					unlinkat(dirfd(d), de->d_name, 0);
			if (d)
				closedir(d);
			if (rmdir(j->dir) < 0)
				log_warn("cannot remove the upload directory '%s': %s", j->dir,
				         strerror(errno));
		}
		pthread_mutex_destroy(&j->mu);
		xfree(j->dir);
		xfree(j);
	}
	pthread_mutex_unlock(&exit_mu);
}

static void register_exit_handler(void)
{
	atexit(remove_upload_dirs);
}

/* mkdir -p with mode 0700 for the directories it creates. 0, or -1 with errno. */
static int make_dirs(const char *path)
{
	char *p = xstrdup(path);
	int rc = 0;
	for (char *c = p + 1; rc == 0; c++) {
		if (*c != '/' && *c != '\0')
			continue;
		char was = *c;
		*c = '\0';
		if (mkdir(p, 0700) < 0 && errno != EEXIST)
			rc = -1;
		*c = was;
		if (was == '\0')
			break;
	}
	xfree(p);
	if (rc == 0) {
		struct stat st;
		if (stat(path, &st) < 0)
			return -1;
		if (!S_ISDIR(st.st_mode)) {
			errno = ENOTDIR;
			return -1;
		}
	}
	return rc;
}

/*
 * The upload directory as a new string (xfree), creating it when `create`; NULL when it
 * does not exist yet and create is false, or with err set when it cannot be made.
 */
static char *upload_dir(struct jars *j, bool create, struct spate_error *err)
{
	char *out = NULL;
	pthread_mutex_lock(&j->mu);
	const char *conf = config_get(j->jm->config, "web.upload.dir");
	if (!j->dir && conf && conf[0]) {
		j->dir = xstrdup(conf);
	} else if (!j->dir && create) {
		const char *tmp = getenv("TMPDIR");
		char *tmpl = xasprintf("%s/spate-web-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
		if (mkdtemp(tmpl)) {
			j->dir = tmpl;
			j->dir_exists = true;
			j->remove_at_exit = true;
			log_info("Using directory %s for web frontend JAR file uploads.", j->dir);
		} else {
			error_set(err, SPATE_EIO, "cannot create an upload directory '%s': %s",
			          tmpl, strerror(errno));
			xfree(tmpl);
		}
	}
	if (j->dir && create && !j->dir_exists) {
		if (make_dirs(j->dir) == 0)
			j->dir_exists = true;
		else
			error_set(err, SPATE_EIO, "cannot create the upload directory '%s': %s",
			          j->dir, strerror(errno));
	}
	if (j->dir && (!create || j->dir_exists))
		out = xstrdup(j->dir);
	pthread_mutex_unlock(&j->mu);
	return out;
}

/* ---- helpers ------------------------------------------------------------------------- */

static struct jars *jars_of(void *arg)
{
	return arg;
}

/* Answers 403 and returns false when web submission is disabled. */
static bool submit_enabled(struct jars *j, struct http_response *resp)
{
	if (config_get_bool(j->jm->config, "web.submit.enable", true))
		return true;
	http_respond_error(resp, 403,
	                   "web submission is disabled on this JobManager (web.submit.enable: "
	                   "false)");
	return false;
}

/* A user-given id made safe to quote in a message: printable ASCII, at most 80 bytes. */
static void quote_id(const char *id, char out[81])
{
	size_t n = 0;
	for (; id[n] && n < 80; n++)
		out[n] = id[n] >= 0x20 && id[n] < 0x7f ? id[n] : '?';
	out[n] = '\0';
}

/* Checks the route's :jarid; answers 400 and returns NULL when it cannot be one of ours. */
static const char *jar_param(const struct http_request *req, struct http_response *resp)
{
	const char *id = req->nparams > 0 ? req->params[0] : "";
	if (!jar_id_is_valid(id)) {
		char q[81];
		quote_id(id, q);
		http_respond_error(resp, 400,
		                   "bad jar id '%s': expected the id /jars/upload returned "
		                   "(<32 hex>_<file name>)",
		                   q);
		return NULL;
	}
	return id;
}

/* Reads the jar `id` of directory `dir` whole (xmalloc'd). NULL with errno set
 * (ENOENT also when it is not a regular file). */
static uint8_t *read_jar(const char *dir, const char *id, size_t *len)
{
	char *path = xasprintf("%s/%s", dir, id);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	xfree(path);
	if (fd < 0) {
		if (errno == ELOOP)
			errno = ENOENT;
		return NULL;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		errno = ENOENT;
		return NULL;
	}
	size_t cap = (size_t)st.st_size, n = 0;
	uint8_t *buf = xmalloc(cap + 1);
	while (n < cap) {
		ssize_t r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			int e = r < 0 ? errno : EIO;
			close(fd);
			xfree(buf);
			errno = e;
			return NULL;
		}
		n += (size_t)r;
	}
	close(fd);
	*len = n;
	return buf;
}

/* Writes data to a hidden temporary file in dir, fsyncs it, renames it to `name` and
 * fsyncs the directory. 0, or -1 with errno (nothing is left behind). */
static int store_file(const char *dir, const char *name, const uint8_t *data, size_t len)
{
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -1;
	char *tmp = xasprintf(".upload-%s.tmp", name);
	int e = 0;
	int fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		e = errno;
		goto out;
	}
	for (size_t off = 0; off < len && !e;) {
		ssize_t w = write(fd, data + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			e = w < 0 ? errno : EIO;
		else
			off += (size_t)w;
	}
	if (!e && fsync(fd) < 0)
		e = errno;
	if (close(fd) < 0 && !e)
		e = errno;
	if (!e && renameat(dfd, tmp, dfd, name) < 0)
		e = errno;
	if (e)
		unlinkat(dfd, tmp, 0);
	else if (fsync(dfd) < 0)
		e = errno;
out:
	xfree(tmp);
	close(dfd);
	errno = e;
	return e ? -1 : 0;
}

/* ---- POST /jars/upload ----------------------------------------------------------------- */

static void h_upload(void *arg, const struct http_request *req, struct http_response *resp)
{
	struct jars *j = jars_of(arg);
	if (!submit_enabled(j, resp))
		return;
	const struct http_part *part = NULL;
	int nfiles = 0;
	for (int i = 0; i < req->nparts; i++)
		if (strcmp(req->parts[i].name, "jarfile") == 0) {
			part = part ? part : &req->parts[i];
			nfiles++;
		}
	if (nfiles != 1) {
		http_respond_error(resp, 400,
		                   "an upload needs exactly one file in the multipart field "
		                   "'jarfile', got %d",
		                   nfiles);
		return;
	}
	char *name = sanitise_name(part->filename);
	char *dir = NULL, *path = NULL;
	struct spate_error err = {0};
	if (job_library_check_image(part->data, part->len, name, &err) < 0) {
		http_respond_error(resp, 400, "%s", err.msg);
		goto out;
	}
	if (!rest_is_shared_library(part->data, part->len)) {
		http_respond_error(resp, 400, "'%s' is not an ELF shared library", name);
		goto out;
	}
	dir = upload_dir(j, true, &err);
	if (!dir) {
		http_respond_error(resp, 500, "%s", err.msg);
		goto out;
	}
	char hex[33];
	if (random_job_id(hex, &err) < 0) {
		http_respond_error(resp, 500, "%s", err.msg);
		goto out;
	}
	char *id = xasprintf("%s_%s", hex, name);
	path = xasprintf("%s/%s", dir, id);
	if (store_file(dir, id, part->data, part->len) < 0) {
		http_respond_error(resp, 500, "cannot store the uploaded job library '%s': %s",
		                   path, strerror(errno));
		xfree(id);
		goto out;
	}
	log_info("Uploaded job library '%s' (%zu bytes) as %s.", name, part->len, id);
	xfree(id);
	http_respond_json(resp, 200,
	                  json_pack("{s:s, s:s}", "filename", path, "status", "success"));
out:
	xfree(path);
	xfree(dir);
	xfree(name);
}

/* ---- GET /jars ------------------------------------------------------------------------- */

struct jar_file {
	char *id; /* owned */
	int64_t uploaded_ms;
};

static int newest_first(const void *a, const void *b)
{
	const struct jar_file *x = a, *y = b;
	if (x->uploaded_ms != y->uploaded_ms)
		return x->uploaded_ms < y->uploaded_ms ? 1 : -1;
	return strcmp(x->id, y->id);
}

static void h_list(void *arg, const struct http_request *req, struct http_response *resp)
{
	struct jars *j = jars_of(arg);
	(void)req;
	if (!submit_enabled(j, resp))
		return;
	struct jar_file *files = NULL;
	size_t n = 0, cap = 0;
	char *dir = upload_dir(j, false, NULL);
	DIR *d = dir ? opendir(dir) : NULL;
	struct dirent *de;
	while (d && (de = readdir(d))) {
		struct stat st;
		if (!jar_id_is_valid(de->d_name) ||
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 16;
			files = xrealloc(files, cap * sizeof *files);
		}
		files[n].id = xstrdup(de->d_name);
		files[n].uploaded_ms =
		    (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
		n++;
	}
	if (d)
		closedir(d);
	if (n > 1)
		qsort(files, n, sizeof *files, newest_first);
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++) {
		json_t *entry = json_pack("[{s:s, s:n}]", "name", ENTRY_POINT, "description");
		json_array_append_new(arr,
		                      json_pack("{s:s, s:s, s:I, s:o}", "id", files[i].id, "name",
		                                files[i].id + JAR_HEX_LEN + 1, "uploaded",
		                                (json_int_t)files[i].uploaded_ms, "entry", entry));
		xfree(files[i].id);
	}
	xfree(files);
	xfree(dir);
	/* The REST address as the JobManager published it for clients (jobmanager.address).
	 * The server's own port is the fallback only: http_server_start writes it after its
	 * threads run, with nothing ordering a handler's read after that write. */
	char hostport[256], address[320];
	if (cluster_read_address(j->jm->config, "rest", hostport, sizeof hostport) < 0)
		snprintf(hostport, sizeof hostport, "%s:%d", cluster_rest_host(j->jm->config),
		         http_server_port(j->jm->rest));
	snprintf(address, sizeof address, "http://%s", hostport);
	http_respond_json(resp, 200, json_pack("{s:s, s:o}", "address", address, "files", arr));
}

/* ---- DELETE /jars/:jarid --------------------------------------------------------------- */

static void h_delete(void *arg, const struct http_request *req, struct http_response *resp)
{
	struct jars *j = jars_of(arg);
	if (!submit_enabled(j, resp))
		return;
	const char *id = jar_param(req, resp);
	if (!id)
		return;
	char *dir = upload_dir(j, false, NULL);
	int e = ENOENT;
	if (dir) {
		int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		struct stat st;
		if (dfd >= 0 && fstatat(dfd, id, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISREG(st.st_mode))
			e = unlinkat(dfd, id, 0) == 0 ? 0 : errno;
		if (dfd >= 0)
			close(dfd);
	}
	if (e == ENOENT)
		http_respond_error(resp, 404, "jar %s not found", id);
	else if (e)
		http_respond_error(resp, 500, "cannot delete jar %s: %s", id, strerror(e));
	else {
		log_info("Deleted uploaded job library %s.", id);
		http_respond_json(resp, 200, json_object());
	}
	xfree(dir);
}

/* ---- run and plan: the request ---------------------------------------------------------- */

/* What a run or plan request asks for (Flink's JarRunRequestBody / JarPlanRequestBody). */
struct jar_request {
	int parallelism; /* 1..32768, or -1: not given */
	char job_id[33]; /* "" when not given */
	char **args;     /* owned: the entry point's arguments after argv[0] */
	int nargs;
	size_t args_bytes; /* their total length */
	char **conf;       /* owned: "key=value" from flinkConfiguration */
	int nconf;
	char *savepoint_path;    /* owned: savepointPath, or NULL */
	bool allow_non_restored; /* allowNonRestoredState */
};

static void jar_request_release(struct jar_request *r)
{
	for (int i = 0; i < r->nargs; i++)
		xfree(r->args[i]);
	xfree(r->args);
	for (int i = 0; i < r->nconf; i++)
		xfree(r->conf[i]);
	xfree(r->conf);
	xfree(r->savepoint_path);
	memset(r, 0, sizeof *r);
}

static void args_clear(struct jar_request *r)
{
	for (int i = 0; i < r->nargs; i++)
		xfree(r->args[i]);
	xfree(r->args);
	r->args = NULL;
	r->nargs = 0;
	r->args_bytes = 0;
}

/* Appends one argument; SPATE_ERANGE with err set past the limits. */
static int args_add(struct jar_request *r, const char *s, size_t len, struct spate_error *err)
{
	if (r->nargs >= MAX_PROGRAM_ARGS || len > MAX_PROGRAM_ARG_BYTES - r->args_bytes)
		return error_set(err, SPATE_ERANGE,
		                 "too many program arguments: at most %d, %zu bytes in all",
		                 MAX_PROGRAM_ARGS, MAX_PROGRAM_ARG_BYTES);
	r->args = xrealloc(r->args, (size_t)(r->nargs + 1) * sizeof *r->args);
	r->args[r->nargs++] = xstrndup(s, len);
	r->args_bytes += len;
	return 0;
}

/* Splits on commas (the `programArg` query parameter); empty items are dropped. */
static int args_split_commas(struct jar_request *r, const char *s, struct spate_error *err)
{
	args_clear(r);
	while (*s) {
		size_t len = strcspn(s, ",");
		if (len > 0 && args_add(r, s, len, err) < 0)
			return SPATE_ERANGE;
		s += len + (s[len] == ',');
	}
	return 0;
}

/* Splits on white space, with "..." and '...' keeping spaces (and losing the quotes), as
 * Flink's JarHandlerUtils.tokenizeArguments does for `programArgs`. */
static int args_split_spaces(struct jar_request *r, const char *s, struct spate_error *err)
{
	args_clear(r);
	for (;;) {
		while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
			s++;
		if (!*s)
			return 0;
		const char *end;
		if ((*s == '"' || *s == '\'') && (end = strchr(s + 1, *s)) && end > s + 1) {
			if (args_add(r, s + 1, (size_t)(end - s - 1), err) < 0)
				return SPATE_ERANGE;
			s = end + 1;
			continue;
		}
		size_t len = strcspn(s, " \t\r\n");
		if (args_add(r, s, len, err) < 0)
			return SPATE_ERANGE;
		s += len;
	}
}

static int parse_parallelism_text(const char *s, int *out, struct spate_error *err)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v <= 0 || v > 32768)
		return error_set(err, SPATE_EINVAL,
		                 "bad parallelism '%.64s': expected an integer in 1..32768", s);
	*out = (int)v;
	return 0;
}

static int check_entry_class(const char *s, struct spate_error *err)
{
	if (s[0] && strcmp(s, ENTRY_POINT) != 0)
		return error_set(
		    err, SPATE_EINVAL,
		    "entry point '%.200s' is not supported: a Spate job library has one "
		    "entry point, '" ENTRY_POINT "'",
		    s);
	return 0;
}

static int check_job_id(const char *s, struct jar_request *r, struct spate_error *err)
{
	if (!job_id_is_valid(s))
		return error_set(err, SPATE_EINVAL,
		                 "bad jobId '%.64s': expected 32 lowercase hex characters", s);
	memcpy(r->job_id, s, 33);
	return 0;
}

/* The savepoint or retained checkpoint to restore from ("" is none, as absent). Whether it
 * exists is the JobMaster's to find out when it restores, as in Flink. */
static void set_savepoint(struct jar_request *r, const char *s)
{
	xfree(r->savepoint_path);
	r->savepoint_path = s[0] ? xstrdup(s) : NULL;
}

static int parse_bool_text(const char *name, const char *s, bool *out, struct spate_error *err)
{
	if (config_parse_bool(s, out) < 0)
		return error_set(err, SPATE_EINVAL, "bad %s '%.64s': expected true or false", name,
		                 s);
	return 0;
}

/* Flink's RecoveryClaimMode. Spate never deletes what it restored from, so every mode acts
 * as NO_CLAIM (Flink's default). */
static int check_claim_mode(const char *name, const char *s, struct spate_error *err)
{
	if (strcasecmp(s, "CLAIM") != 0 && strcasecmp(s, "NO_CLAIM") != 0 &&
	    strcasecmp(s, "LEGACY") != 0)
		return error_set(err, SPATE_EINVAL,
		                 "bad %s '%.64s': expected CLAIM, NO_CLAIM or LEGACY", name, s);
	return 0;
}

/* The query parameters; the body, parsed after them, overrides what both give. */
static int parse_query(const struct http_request *req, struct jar_request *r,
                       struct spate_error *err)
{
	const char *v;
	if ((v = http_query(req, "entry-class")) && check_entry_class(v, err) < 0)
		return SPATE_EINVAL;
	if ((v = http_query(req, "entryClass")) && check_entry_class(v, err) < 0)
		return SPATE_EINVAL;
	if ((v = http_query(req, "parallelism")) && v[0] &&
	    parse_parallelism_text(v, &r->parallelism, err) < 0)
		return SPATE_EINVAL;
	if ((v = http_query(req, "jobId")) && v[0] && check_job_id(v, r, err) < 0)
		return SPATE_EINVAL;
	if ((v = http_query(req, "savepointPath")))
		set_savepoint(r, v);
	if ((v = http_query(req, "allowNonRestoredState")) && v[0] &&
	    parse_bool_text("allowNonRestoredState", v, &r->allow_non_restored, err) < 0)
		return SPATE_EINVAL;
	if ((v = http_query(req, "claimMode")) && v[0] && check_claim_mode("claimMode", v, err) < 0)
		return SPATE_EINVAL;
	if ((v = http_query(req, "programArgs")) && args_split_spaces(r, v, err) < 0)
		return SPATE_ERANGE;
	if ((v = http_query(req, "programArg")) && args_split_commas(r, v, err) < 0)
		return SPATE_ERANGE;
	return 0;
}

/* The JSON body (Flink's JarRunRequestBody; JSON nulls count as absent). */
static int parse_body(const struct http_request *req, bool run, struct jar_request *r,
                      struct spate_error *err)
{
	size_t i = 0;
	while (i < req->body_len && strchr(" \t\r\n", req->body[i]))
		i++;
	if (i == req->body_len)
		return 0;
	json_error_t je;
	json_t *o = json_loadb((const char *)req->body, req->body_len, 0, &je);
	if (!o || !json_is_object(o)) {
		if (o)
			error_set(err, SPATE_EINVAL, "bad request body: expected a JSON object");
		else
			error_set(err, SPATE_EINVAL, "bad request body: %s (line %d, column %d)",
			          je.text, je.line, je.column);
		json_decref(o);
		return SPATE_EINVAL;
	}
	int rc = 0;
	const char *key;
	json_t *v;
	json_object_foreach(o, key, v)
	{
		if (json_is_null(v))
			continue;
		bool is_str = json_is_string(v);
		const char *s = is_str ? json_string_value(v) : NULL;
		if (strcmp(key, "entryClass") == 0) {
			rc = is_str ? check_entry_class(s, err)
			            : error_set(err, SPATE_EINVAL,
			                        "bad entryClass: expected a string");
		} else if (strcmp(key, "parallelism") == 0) {
			if (json_is_integer(v) && json_integer_value(v) >= 1 &&
			    json_integer_value(v) <= 32768)
				r->parallelism = (int)json_integer_value(v);
			else if (is_str)
				rc = parse_parallelism_text(s, &r->parallelism, err);
			else {
				char *t = json_dumps(v, JSON_ENCODE_ANY);
				rc = error_set(
				    err, SPATE_EINVAL,
				    "bad parallelism '%.64s': expected an integer in 1..32768",
				    t ? t : "?");
				free(t);
			}
		} else if (strcmp(key, "jobId") == 0) {
			rc = is_str ? check_job_id(s, r, err)
			            : error_set(err, SPATE_EINVAL, "bad jobId: expected a string");
		} else if (strcmp(key, "programArgsList") == 0) {
			size_t k;
			json_t *a;
			if (!json_is_array(v))
				rc = error_set(err, SPATE_EINVAL,
				               "bad programArgsList: expected an array of strings");
			json_array_foreach(v, k, a)
			{
				if (rc == 0 && !json_is_string(a))
					rc = error_set(
					    err, SPATE_EINVAL,
					    "bad programArgsList: item %zu is not a string", k);
			}
		} else if (strcmp(key, "programArgs") == 0) {
			if (!is_str)
				rc = error_set(err, SPATE_EINVAL,
				               "bad programArgs: expected a string");
		} else if (strcmp(key, "savepointPath") == 0) {
			if (is_str)
				set_savepoint(r, s);
			else
				rc = error_set(err, SPATE_EINVAL,
				               "bad savepointPath: expected a string");
		} else if (strcmp(key, "allowNonRestoredState") == 0) {
			if (json_is_boolean(v))
				r->allow_non_restored = json_is_true(v);
			else
				rc = error_set(err, SPATE_EINVAL,
				               "bad allowNonRestoredState: expected true or false");
		} else if (run &&
		           (strcmp(key, "claimMode") == 0 || strcmp(key, "restoreMode") == 0)) {
			rc = is_str
			         ? check_claim_mode(key, s, err)
			         : error_set(err, SPATE_EINVAL, "bad %s: expected a string", key);
		} else if (strcmp(key, "flinkConfiguration") == 0) {
			const char *ck;
			json_t *cv;
			if (!json_is_object(v)) {
				rc = error_set(
				    err, SPATE_EINVAL,
				    "bad flinkConfiguration: expected an object of strings");
				break;
			}
			json_object_foreach(v, ck, cv)
			{
				if (!json_is_string(cv) || !ck[0] || strchr(ck, '=')) {
					rc = error_set(
					    err, SPATE_EINVAL,
					    "bad flinkConfiguration entry '%.100s': expected "
					    "\"key\": \"value\"",
					    ck);
					break;
				}
				r->conf =
				    xrealloc(r->conf, (size_t)(r->nconf + 1) * sizeof *r->conf);
				r->conf[r->nconf++] = xasprintf("%s=%s", ck, json_string_value(cv));
			}
		} else {
			rc = error_set(err, SPATE_EINVAL,
			               "unknown field '%.100s' in the request body", key);
		}
		if (rc < 0)
			break;
	}
	/* Arguments: programArgsList when it has items (Flink's rule), else programArgs. */
	json_t *list = json_object_get(o, "programArgsList");
	json_t *str = json_object_get(o, "programArgs");
	if (rc == 0 && json_array_size(list) > 0) {
		size_t k;
		json_t *a;
		args_clear(r);
		json_array_foreach(list, k, a)
		{
			if (rc == 0)
				rc = args_add(r, json_string_value(a), json_string_length(a), err);
		}
	} else if (rc == 0 && json_is_string(str)) {
		rc = args_split_spaces(r, json_string_value(str), err);
	}
	json_decref(o);
	return rc < 0 ? SPATE_EINVAL : 0;
}

/* ---- run and plan: the child that runs the entry point ---------------------------------- */

struct capture_argv {
	char **v; /* owned array; the strings marked owned[] are owned too */
	bool *owned;
	int n, cap;
};

static void argv_add(struct capture_argv *a, char *s, bool owned)
{
	if (a->n + 1 >= a->cap) {
		a->cap = a->cap ? 2 * a->cap : 32;
		a->v = xrealloc(a->v, (size_t)a->cap * sizeof *a->v);
		a->owned = xrealloc(a->owned, (size_t)a->cap * sizeof *a->owned);
	}
	a->owned[a->n] = owned;
	a->v[a->n++] = s;
	a->v[a->n] = NULL;
}

static void argv_free(struct capture_argv *a)
{
	for (int i = 0; i < a->n; i++)
		if (a->owned[i])
			xfree(a->v[i]);
	xfree(a->v);
	xfree(a->owned);
}

/*
 * The JobManager's settings (file or -D) of the keys that shape a job, as -D for the
 * child, so the entry point sees what it would see in a client with the JobManager's
 * configuration. Only these: the child reads the same config.yaml itself, and a command
 * line is readable by every local user, so keys such as rest.auth.token stay out of it.
 */
static const char *const job_config_prefixes[] = {"parallelism.", "pipeline.", "execution.",
                                                  "state.", "restart-strategy."};

struct config_args {
	const struct config *config;
	struct capture_argv *argv;
};

static void add_config_arg(void *arg, const char *key, const char *value)
{
	struct config_args *c = arg;
	if (!config_is_set(c->config, key))
		return;
	for (size_t i = 0; i < sizeof job_config_prefixes / sizeof *job_config_prefixes; i++)
		if (strncmp(key, job_config_prefixes[i], strlen(job_config_prefixes[i])) == 0) {
			argv_add(c->argv, "-D", false);
			argv_add(c->argv, xasprintf("%s=%s", key, value), true);
			return;
		}
}

/*
 * Runs the library's entry point in a `spate graph-capture` child and returns the encoded
 * StreamGraph it built (xmalloc'd, *len bytes), or NULL with err set to one line.
 */
static uint8_t *capture_graph(struct jars *j, const char *lib_path, const char *name,
                              const struct jar_request *r, size_t *len, struct spate_error *err)
{
	struct capture_argv a = {0};
	struct config_args ca = {j->jm->config, &a};
	config_foreach(j->jm->config, add_config_arg, &ca);
	for (int i = 0; i < r->nconf; i++) {
		argv_add(&a, "-D", false);
		argv_add(&a, r->conf[i], false);
	}
	/* The restore settings travel in the job's configuration (the child ships
	 * execution.state-recovery.* with the graph), as `spate run -s/-n` sends them. */
	if (r->savepoint_path) {
		argv_add(&a, "-D", false);
		argv_add(&a, xasprintf("execution.state-recovery.path=%s", r->savepoint_path),
		         true);
	}
	if (r->allow_non_restored) {
		argv_add(&a, "-D", false);
		argv_add(&a, "execution.state-recovery.ignore-unclaimed-state=true", false);
	}
	if (r->parallelism > 0) {
		argv_add(&a, "-p", false);
		argv_add(&a, xasprintf("%d", r->parallelism), true);
	} else if (config_is_set(j->jm->config, "parallelism.default")) {
		argv_add(&a, "-p", false);
		argv_add(&a, xstrdup(config_get(j->jm->config, "parallelism.default")), true);
	}
	argv_add(&a, (char *)lib_path, false);
	for (int i = 0; i < r->nargs; i++)
		argv_add(&a, r->args[i], false);
	uint8_t *graph =
	    client_capture_graph(a.v, name, CAPTURE_TIMEOUT_MS, CAPTURE_MAX_GRAPH_BYTES, len, err);
	argv_free(&a);
	return graph;
}

/* ---- run and plan: the handlers --------------------------------------------------------- */

/*
 * What run and plan share: checks the id, reads the library, parses the request and
 * captures the job's graph. Returns the graph (xmalloc'd) and sets *lib (xmalloc'd) and
 * r, or answers the error and returns NULL.
 */
static uint8_t *prepare(struct jars *j, const struct http_request *req, bool run,
                        struct http_response *resp, struct jar_request *r, uint8_t **lib,
                        size_t *lib_len, size_t *graph_len)
{
	*lib = NULL;
	memset(r, 0, sizeof *r);
	r->parallelism = -1;
	if (!submit_enabled(j, resp))
		return NULL;
	const char *id = jar_param(req, resp);
	if (!id)
		return NULL;
	struct spate_error err = {0};
	if (parse_query(req, r, &err) < 0 || parse_body(req, run, r, &err) < 0) {
		http_respond_error(resp, 400, "%s", err.msg);
		return NULL;
	}
	char *dir = upload_dir(j, false, NULL);
	*lib = dir ? read_jar(dir, id, lib_len) : NULL;
	if (!*lib) {
		if (!dir || errno == ENOENT)
			http_respond_error(resp, 404, "jar %s not found", id);
		else
			http_respond_error(resp, 500, "cannot read jar %s: %s", id,
			                   strerror(errno));
		xfree(dir);
		return NULL;
	}
	char *path = xasprintf("%s/%s", dir, id);
	xfree(dir);
	uint8_t *graph = capture_graph(j, path, id + JAR_HEX_LEN + 1, r, graph_len, &err);
	xfree(path);
	if (!graph) {
		/* The client gets the message; this is a request failing, not a state change. */
		log_debug("Running the entry point of jar %s failed: %s", id, err.msg);
		http_respond_error(resp, err.code == SPATE_EIO ? 500 : 400, "%s", err.msg);
		xfree(*lib);
		*lib = NULL;
	}
	return graph;
}

static void h_plan(void *arg, const struct http_request *req, struct http_response *resp)
{
	struct jars *j = jars_of(arg);
	struct jar_request r;
	uint8_t *lib;
	size_t lib_len = 0, glen = 0;
	uint8_t *graph = prepare(j, req, false, resp, &r, &lib, &lib_len, &glen);
	if (!graph) {
		jar_request_release(&r);
		return;
	}
	struct spate_error err = {0};
	struct job_graph *jg = NULL;
	struct execution_graph *eg = NULL;
	struct stream_graph *sg = stream_graph_decode(graph, glen, &err);
	if (!sg || job_graph_build(sg, &jg, &err) < 0 || execution_graph_build(jg, &eg, &err) < 0) {
		http_respond_error(resp, 400, "%s", err.msg);
		goto out;
	}
	if (r.job_id[0])
		memcpy(jg->job_id, r.job_id, 33);
	char *text = job_graph_plan_json(jg);
	json_t *plan = text ? json_loads(text, 0, NULL) : NULL;
	xfree(text);
	if (!plan)
		http_respond_error(resp, 500, "cannot render the plan");
	else
		http_respond_json(resp, 200, json_pack("{s:o}", "plan", plan));
out:
	execution_graph_free(eg);
	job_graph_free(jg);
	stream_graph_free(sg);
	xfree(graph);
	xfree(lib);
	jar_request_release(&r);
}

static void h_run(void *arg, const struct http_request *req, struct http_response *resp)
{
	struct jars *j = jars_of(arg);
	struct jar_request r;
	uint8_t *lib;
	size_t lib_len = 0, glen = 0;
	uint8_t *graph = prepare(j, req, true, resp, &r, &lib, &lib_len, &glen);
	if (!graph) {
		jar_request_release(&r);
		return;
	}
	struct spate_error err = {0};
	char id[33];
	int rc = dispatcher_submit(j->jm, graph, glen, lib, lib_len, r.job_id, id, &err);
	if (rc < 0)
		http_respond_error(resp, dispatcher_http_status(rc), "%s", err.msg);
	else
		http_respond_json(resp, 200, json_pack("{s:s}", "jobid", id));
	xfree(graph);
	xfree(lib);
	jar_request_release(&r);
}

void rest_jars_register(struct jobmanager *jm, struct http_server *s)
{
	struct jars *j = xcalloc(1, sizeof *j);
	j->jm = jm;
	pthread_mutex_init(&j->mu, NULL);
	pthread_once(&exit_once, register_exit_handler);
	pthread_mutex_lock(&exit_mu);
	j->next = exit_list;
	exit_list = j;
	pthread_mutex_unlock(&exit_mu);
	http_server_route(s, "GET", "/jars", h_list, j);
	http_server_route(s, "POST", "/jars/upload", h_upload, j);
	http_server_route(s, "DELETE", "/jars/:jarid", h_delete, j);
	http_server_route(s, "GET", "/jars/:jarid/plan", h_plan, j);
	http_server_route(s, "POST", "/jars/:jarid/plan", h_plan, j);
	http_server_route(s, "POST", "/jars/:jarid/run", h_run, j);
}
