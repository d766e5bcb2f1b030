/*
 * rest_jars.c - REST endpoints for job libraries uploaded through the API or the dashboard (Flink's /jars).
 */
#include "dispatcher/rest.h"

void rest_jars_register(struct jobmanager *jm, struct http_server *s)
{
	(void)jm;
	(void)s;
}
