/*
 * cluster.h - the standalone session cluster's process plumbing: where logs and pid files
 * live, how the JobManager's addresses are published, and `spate cluster start|stop`.
 */
#ifndef SPATE_CLUSTER_CLUSTER_H
#define SPATE_CLUSTER_CLUSTER_H

#include <stdbool.h>

#include "config/config.h"

/* env.log.dir, else $SPATE_LOG_DIR, else <dir of the executable>/../log (xfree). */
char *cluster_log_dir(const struct config *c);
/* The host clients use for the REST endpoint: rest.address, else jobmanager.rpc.address,
 * else "localhost" (borrowed). */
const char *cluster_rest_host(const struct config *c);
/* Writes a small file atomically (temp + rename). 0 or -1 with errno. */
int cluster_write_file(const char *path, const char *content);
/* Reads "<key>=host:port" from <log dir>/jobmanager.address into out; 0 or -1. */
int cluster_read_address(const struct config *c, const char *key, char *out, size_t cap);

/* A plain file name safe to open in a log directory: 1 to 255 bytes of [A-Za-z0-9._+@-],
 * not starting with '.' (no ".", "..", or hidden files). Everything else, '/', '\\', '%',
 * NUL, spaces, control and non-ASCII bytes included, is refused. */
bool cluster_log_name_ok(const char *name);
/* A read-only descriptor of the regular file this process's stdfd (1 or 2) writes to,
 * reopened through /proc (the descriptor itself is write-only); -1 when it is not a
 * regular file. */
int cluster_open_std_file(int stdfd);

/* `spate cluster start|stop`: overrides are the -D assignments to pass to every daemon.
 * Return the process exit code. */
int cluster_start(const struct config *c, char **overrides, int noverrides);
int cluster_stop(const struct config *c);

int taskmanager_main(struct config *config);

#endif
