/*
 * rest_cluster.c - REST endpoints about the cluster's processes: /jobmanager/..., /taskmanagers/..., and the Prometheus text at /metrics.
 */
#include "dispatcher/rest.h"

void rest_cluster_register(struct jobmanager *jm, struct http_server *s)
{
	(void)jm;
	(void)s;
}
