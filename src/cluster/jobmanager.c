/*
 * jobmanager.c - the JobManager process: starts the ResourceManager (RPC port), the
 * Dispatcher (REST port) and the blob store, writes the chosen addresses to
 * <env.log.dir>/jobmanager.address (ports may be ephemeral), and runs until SIGTERM or
 * SIGINT, then stops every component and removes what it wrote.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cluster/cluster.h"
#include "cluster/jobmanager.h"
#include "core/alloc.h"
#include "core/log.h"
#include "rest/http_server.h"
#include "runtime/local_job.h"

/* Removes the blob directory: flat, files only. */
static void remove_blob_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	while (d && (de = readdir(d)))
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			unlinkat(dirfd(d), de->d_name, 0);
	if (d)
		closedir(d);
	rmdir(dir);
}

int jobmanager_main(struct config *config)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	log_set_thread_name("jobmanager");

	struct jobmanager *jm = xcalloc(1, sizeof *jm);
	jm->config = config;
	pthread_mutex_init(&jm->mu, NULL);
	pthread_cond_init(&jm->cond, NULL);
	jm->heartbeat_interval_ms = config_get_duration_ms(config, "heartbeat.interval", 10000);
	jm->heartbeat_timeout_ms = config_get_duration_ms(config, "heartbeat.timeout", 50000);
	jm->slot_request_timeout_ms =
	    config_get_duration_ms(config, "slot.request.timeout", 300000);
	int exit_code = 1;
	struct spate_error err = {0};
	if (random_job_id(jm->id, &err) < 0) {
		fprintf(stderr, "spate: %s\n", err.msg);
		goto out;
	}

	const char *bd = config_get(config, "blob.storage.directory");
	if (bd) {
		jm->blob_dir = xasprintf("%s/blobStore-%s", bd, jm->id);
		mkdir(bd, 0755);
		if (mkdir(jm->blob_dir, 0700) < 0) {
			fprintf(stderr, "spate: cannot create blob directory '%s': %s\n",
			        jm->blob_dir, strerror(errno));
			goto out;
		}
	} else {
		char tmpl[] = "/tmp/spate-blobStore-XXXXXX";
		if (!mkdtemp(tmpl)) {
			fprintf(stderr, "spate: cannot create a blob directory in /tmp: %s\n",
			        strerror(errno));
			goto out;
		}
		jm->blob_dir = xstrdup(tmpl);
	}
	log_info("Starting StandaloneSessionClusterEntrypoint (Spate JobManager, pid %d).",
	         (int)getpid());
	if (rm_start(jm, &err) < 0) {
		fprintf(stderr, "spate: %s\n", err.msg);
		goto out_blob;
	}
	if (dispatcher_start(jm, &err) < 0) {
		fprintf(stderr, "spate: %s\n", err.msg);
		rm_stop(jm);
		rm_free(jm);
		goto out_blob;
	}
	char *logdir = cluster_log_dir(config);
	jm->address_file = xasprintf("%s/jobmanager.address", logdir);
	xfree(logdir);
	{
		char content[256];
		snprintf(content, sizeof content, "rest=%s:%d\nrpc=%s:%d\n",
		         cluster_rest_host(config), http_server_port(jm->rest), jm->rpc_host,
		         jm->rpc_port);
		if (cluster_write_file(jm->address_file, content) < 0)
			log_warn("cannot write '%s': %s", jm->address_file, strerror(errno));
	}
	log_info("JobManager %s is up: REST %s:%d, RPC %s:%d", jm->id, cluster_rest_host(config),
	         http_server_port(jm->rest), jm->rpc_host, jm->rpc_port);

	int sig = 0;
	sigwait(&set, &sig);
	log_info("RECEIVED SIGNAL %d: %s. Shutting down as requested.", sig, strsignal(sig));
	dispatcher_stop(jm);
	rm_stop(jm);
	/* JobMasters end once stopping is set and the readers are gone. */
	pthread_mutex_lock(&jm->mu);
	for (struct jm_job *j = jm->jobs; j; j = j->next)
		jobmaster_cancel(jm, j);
	pthread_cond_broadcast(&jm->cond);
	pthread_mutex_unlock(&jm->mu);
	for (struct jm_job *j = jm->jobs; j; j = j->next)
		pthread_join(j->master, NULL);
	rm_free(jm);
	unlink(jm->address_file);
	exit_code = 0;
out_blob:
	remove_blob_dir(jm->blob_dir);
out:
	while (jm->jobs) {
		struct jm_job *j = jm->jobs;
		jm->jobs = j->next;
		jm_job_free(j);
	}
	xfree(jm->address_file);
	xfree(jm->blob_dir);
	pthread_mutex_destroy(&jm->mu);
	pthread_cond_destroy(&jm->cond);
	xfree(jm);
	return exit_code;
}
