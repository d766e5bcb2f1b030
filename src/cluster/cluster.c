/*
 * cluster.c - `spate cluster start|stop` and the files a standalone cluster keeps in its
 * log directory: daemon logs (spate-<user>-<daemon>-<n>-<host>.log and .out), pid files,
 * and jobmanager.address (written by the JobManager once its ports are bound, so ephemeral
 * ports work and clients find the cluster).
 */
#include "cluster/cluster.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client/http_client.h"
#include "core/alloc.h"
#include "runtime/local_job.h"

bool cluster_log_name_ok(const char *name)
{
	if (!name || !name[0] || name[0] == '.')
		return false;
	size_t n = 0;
	for (const char *c = name; *c; c++, n++) {
		bool ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		          (*c >= '0' && *c <= '9') || *c == '.' || *c == '_' || *c == '-' ||
		          *c == '+' || *c == '@';
		if (!ok || n >= 255)
			return false;
	}
	return true;
}

int cluster_open_std_file(int stdfd)
{
	struct stat want, st;
	char path[32];
	snprintf(path, sizeof path, "/proc/self/fd/%d", stdfd);
	if (fstat(stdfd, &want) != 0 || !S_ISREG(want.st_mode))
		return -1;
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd >= 0 &&
	    (fstat(fd, &st) != 0 || st.st_dev != want.st_dev || st.st_ino != want.st_ino)) {
		close(fd);
		fd = -1;
	}
	return fd;
}

char *cluster_log_dir(const struct config *c)
{
	const char *d = config_get(c, "env.log.dir");
	if (d)
		return xstrdup(d);
	d = getenv("SPATE_LOG_DIR");
	if (d && *d)
		return xstrdup(d);
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n <= 0)
		return xstrdup("log");
	exe[n] = '\0';
	char *slash = strrchr(exe, '/');
	if (slash)
		*slash = '\0';
	return xasprintf("%s/../log", exe);
}

const char *cluster_rest_host(const struct config *c)
{
	const char *h = config_get(c, "rest.address");
	if (!h)
		h = config_get(c, "jobmanager.rpc.address");
	return h ? h : "localhost";
}

int cluster_write_file(const char *path, const char *content)
{
	char *tmp = xasprintf("%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	int rc = -1;
	if (f) {
		bool ok = fputs(content, f) >= 0;
		if (fclose(f) == 0 && ok && rename(tmp, path) == 0)
			rc = 0;
	}
	if (rc < 0)
		unlink(tmp);
	xfree(tmp);
	return rc;
}

int cluster_read_address(const struct config *c, const char *key, char *out, size_t cap)
{
	char *dir = cluster_log_dir(c);
	char *path = xasprintf("%s/jobmanager.address", dir);
	xfree(dir);
	FILE *f = fopen(path, "r");
	xfree(path);
	if (!f)
		return -1;
	char line[256];
	int rc = -1;
	size_t klen = strlen(key);
	while (fgets(line, sizeof line, f))
		if (strncmp(line, key, klen) == 0 && line[klen] == '=') {
			line[strcspn(line, "\r\n")] = '\0';
			snprintf(out, cap, "%s", line + klen + 1);
			rc = 0;
			break;
		}
	fclose(f);
	return rc;
}

static const char *user_name(void)
{
	struct passwd *pw = getpwuid(getuid());
	return pw ? pw->pw_name : "user";
}

static void host_name(char *out, size_t cap)
{
	if (gethostname(out, cap) != 0)
		snprintf(out, cap, "localhost");
	out[cap - 1] = '\0';
}

/* Starts `spate <daemon> -D ...` detached from this process; returns its pid or -1. */
static pid_t spawn_daemon(const char *daemon, int index, const char *logdir, char **extra,
                          int nextra, char **overrides, int noverrides)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n <= 0)
		return -1;
	exe[n] = '\0';
	char host[128];
	host_name(host, sizeof host);
	char *logf =
	    xasprintf("%s/spate-%s-%s-%d-%s.log", logdir, user_name(), daemon, index, host);
	char *outf =
	    xasprintf("%s/spate-%s-%s-%d-%s.out", logdir, user_name(), daemon, index, host);
	char **argv = xcalloc((size_t)(3 + 2 * (nextra + noverrides) + 1), sizeof *argv);
	int a = 0;
	argv[a++] = exe;
	argv[a++] = (char *)daemon;
	for (int i = 0; i < nextra; i++) {
		argv[a++] = "-D";
		argv[a++] = extra[i];
	}
	for (int i = 0; i < noverrides; i++) {
		argv[a++] = "-D";
		argv[a++] = overrides[i];
	}
	pid_t pid = fork();
	if (pid == 0) {
		setsid();
		int lfd = open(logf, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		int ofd = open(outf, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		int nfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (lfd < 0 || ofd < 0 || nfd < 0)
			_exit(127);
		dup2(nfd, 0);
		dup2(ofd, 1);
		dup2(lfd, 2);
		execv(exe, argv);
		_exit(127);
	}
	xfree(argv);
	xfree(logf);
	xfree(outf);
	return pid;
}

/* Running (a zombie that nobody has reaped yet counts as gone). */
static bool alive(pid_t pid)
{
	if (pid <= 0 || (kill(pid, 0) != 0 && errno != EPERM))
		return false;
	char path[64], buf[256];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return true;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	const char *p = strrchr(buf, ')');
	return !(p && p[1] == ' ' && p[2] == 'Z');
}

static int read_pids(const char *path, pid_t *pids, int cap)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	int n = 0;
	long v;
	while (n < cap && fscanf(f, "%ld", &v) == 1)
		pids[n++] = (pid_t)v;
	fclose(f);
	return n;
}

static bool is_local_host(const char *h)
{
	return strcmp(h, "localhost") == 0 || strncmp(h, "127.", 4) == 0 || strcmp(h, "::1") == 0;
}

int cluster_start(const struct config *c, char **overrides, int noverrides)
{
	char *logdir = cluster_log_dir(c);
	char *jm_pidf = xasprintf("%s/spate-jobmanager.pid", logdir);
	char *tm_pidf = xasprintf("%s/spate-taskmanager.pid", logdir);
	char *addrf = xasprintf("%s/jobmanager.address", logdir);
	char host[128];
	host_name(host, sizeof host);
	int rc = 1;
	pid_t pids[256];
	int64_t t0 = now_ms();

	mkdir(logdir, 0755);
	if (read_pids(jm_pidf, pids, 1) == 1 && alive(pids[0])) {
		fprintf(stderr,
		        "spate: a JobManager of this installation is already running (pid %d); run "
		        "`spate cluster stop` first\n",
		        (int)pids[0]);
		goto out;
	}
	unlink(addrf);
	printf("Starting cluster.\n");
	printf("Starting standalonesession daemon on host %s.\n", host);
	fflush(stdout);
	pid_t jm = spawn_daemon("jobmanager", 0, logdir, NULL, 0, overrides, noverrides);
	if (jm < 0) {
		fprintf(stderr, "spate: cannot start the JobManager: %s\n", strerror(errno));
		goto out;
	}
	char buf[64];
	snprintf(buf, sizeof buf, "%d\n", (int)jm);
	cluster_write_file(jm_pidf, buf);

	/* Wait for its addresses (the ports may be ephemeral). */
	char rpc[128] = "", rest[128] = "";
	int64_t deadline = now_ms() + 15000;
	while (now_ms() < deadline) {
		int status;
		if (waitpid(jm, &status, WNOHANG) == jm) {
			fprintf(stderr,
			        "spate: the JobManager exited at start-up; see %s/spate-%s-"
			        "jobmanager-0-%s.log\n",
			        logdir, user_name(), host);
			unlink(jm_pidf);
			goto out;
		}
		if (cluster_read_address(c, "rpc", rpc, sizeof rpc) == 0 &&
		    cluster_read_address(c, "rest", rest, sizeof rest) == 0)
			break;
		sleep_ms(5);
	}
	if (!rpc[0]) {
		fprintf(stderr,
		        "spate: the JobManager did not publish its addresses within 15 s\n");
		goto out;
	}
	char *colon = strrchr(rpc, ':');
	*colon = '\0';
	char *jm_addr = xasprintf("jobmanager.rpc.address=%s", rpc);
	char *jm_port = xasprintf("jobmanager.rpc.port=%s", colon + 1);
	char *extra[] = {jm_addr, jm_port};

	char *confdir = config_find_dir();
	char *workers = confdir ? xasprintf("%s/workers", confdir) : NULL;
	FILE *wf = workers ? fopen(workers, "r") : NULL;
	char line[256];
	int ntm = 0;
	FILE *pf = fopen(tm_pidf, "w");
	bool ok = true;
	while (ok) {
		const char *w = NULL;
		if (wf) {
			if (!fgets(line, sizeof line, wf))
				break;
			char *s = line + strspn(line, " \t");
			s[strcspn(s, " \t\r\n#")] = '\0';
			if (!*s)
				continue;
			w = s;
		} else {
			if (ntm > 0)
				break;
			w = "localhost";
		}
		if (!is_local_host(w)) {
			fprintf(stderr,
			        "spate: skipping worker '%s': only local workers are started\n", w);
			continue;
		}
		printf("Starting taskexecutor daemon on host %s.\n", host);
		fflush(stdout);
		pid_t tm =
		    spawn_daemon("taskmanager", ntm, logdir, extra, 2, overrides, noverrides);
		if (tm < 0) {
			fprintf(stderr, "spate: cannot start a TaskManager: %s\n", strerror(errno));
			ok = false;
			break;
		}
		if (pf)
			fprintf(pf, "%d\n", (int)tm);
		ntm++;
	}
	if (pf)
		fclose(pf);
	if (wf)
		fclose(wf);
	xfree(workers);
	xfree(confdir);
	xfree(jm_addr);
	xfree(jm_port);
	if (!ok)
		goto out;

	/* Wait until every TaskManager has registered and the JobManager counts all their
	 * slots (slots-total of /overview): a job submitted right after must find them all,
	 * not only the TaskManagers. The TaskManagers read the same configuration, so each
	 * offers this taskmanager.numberOfTaskSlots. */
	long long per_tm = config_get_int(c, "taskmanager.numberOfTaskSlots", 1);
	long long want_slots = ntm * per_tm;
	deadline = now_ms() + 15000;
	int tms = -1;
	long long slots = 0;
	while (now_ms() < deadline) {
		struct http_result r = {0};
		struct spate_error err = {0};
		if (http_call(rest, "GET", "/overview", NULL, &r, &err) == 0 && r.status == 200) {
			json_t *o = json_loads(r.body, 0, NULL);
			tms = (int)json_integer_value(json_object_get(o, "taskmanagers"));
			slots = (long long)json_integer_value(json_object_get(o, "slots-total"));
			json_decref(o);
		}
		http_result_release(&r);
		if (tms >= ntm && slots >= want_slots)
			break;
		sleep_ms(5);
	}
	if (tms < ntm) {
		fprintf(stderr,
		        "spate: only %d of %d TaskManagers registered within 15 s; see the logs in "
		        "%s (the daemons still run: 'spate cluster stop' ends them)\n",
		        tms < 0 ? 0 : tms, ntm, logdir);
		goto out;
	}
	if (slots < want_slots) {
		fprintf(
		    stderr,
		    "spate: only %lld of %lld slots registered within 15 s (%d TaskManagers x "
		    "taskmanager.numberOfTaskSlots %lld); see the logs in %s (the daemons still "
		    "run: 'spate cluster stop' ends them)\n",
		    slots, want_slots, ntm, per_tm, logdir);
		goto out;
	}
	printf("Cluster started in %lld ms: 1 JobManager, %d TaskManagers, %lld slots. REST "
	       "endpoint: http://%s\n",
	       (long long)(now_ms() - t0), ntm, slots, rest);
	rc = 0;
out:
	fflush(stdout);
	xfree(logdir);
	xfree(jm_pidf);
	xfree(tm_pidf);
	xfree(addrf);
	return rc;
}

static int stop_pids(const char *pidf, const char *what, const char *host)
{
	pid_t pids[256];
	int n = read_pids(pidf, pids, 256);
	if (n == 0) {
		printf("No %s daemon to stop on host %s.\n", what, host);
		return 0;
	}
	for (int i = 0; i < n; i++)
		if (alive(pids[i])) {
			printf("Stopping %s daemon (pid: %d) on host %s.\n", what, (int)pids[i],
			       host);
			kill(pids[i], SIGTERM);
		}
	fflush(stdout);
	int64_t deadline = now_ms() + 10000;
	for (int i = 0; i < n; i++) {
		while (alive(pids[i]) && now_ms() < deadline) {
			waitpid(pids[i], NULL, WNOHANG);
			sleep_ms(5);
		}
		if (alive(pids[i])) {
			fprintf(stderr, "spate: %s (pid %d) did not stop within 10 s: killing it\n",
			        what, (int)pids[i]);
			kill(pids[i], SIGKILL);
		}
	}
	unlink(pidf);
	return 0;
}

int cluster_stop(const struct config *c)
{
	char *logdir = cluster_log_dir(c);
	char *jm_pidf = xasprintf("%s/spate-jobmanager.pid", logdir);
	char *tm_pidf = xasprintf("%s/spate-taskmanager.pid", logdir);
	char host[128];
	host_name(host, sizeof host);
	stop_pids(tm_pidf, "taskexecutor", host);
	stop_pids(jm_pidf, "standalonesession", host);
	char *addrf = xasprintf("%s/jobmanager.address", logdir);
	unlink(addrf);
	xfree(addrf);
	xfree(logdir);
	xfree(jm_pidf);
	xfree(tm_pidf);
	return 0;
}
