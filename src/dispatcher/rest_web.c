/*
 * rest_web.c - the dashboard: compiled-in HTML, JavaScript and CSS served at /.
 */
#include "dispatcher/rest.h"

void rest_web_register(struct jobmanager *jm, struct http_server *s)
{
	(void)jm;
	(void)s;
}
