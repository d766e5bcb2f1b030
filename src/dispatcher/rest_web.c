/*
 * rest_web.c - the dashboard: compiled-in HTML, JavaScript and CSS served at /.
 *
 * The files under web/ are turned into a table of byte arrays at build time
 * (web/embed_assets.cmake writes <build>/gen/web_assets.c), so the JobManager needs no
 * web directory at run time and nothing is fetched from elsewhere. This file is the
 * server's fallback handler: a GET (or HEAD) path that no REST route matches is looked up
 * by exact name in that table; "/" is index.html. Because the lookup is an exact string
 * match against a fixed table, no request can name anything outside it (no path
 * traversal by construction). Unknown paths get Flink's 404 error body.
 *
 * Threads: runs on libmicrohttpd's connection threads; the table is constant, so no lock.
 */
#include "dispatcher/rest.h"

#include <string.h>

#include "core/alloc.h"
#include "web_assets.h"

/* The asset named by a URL path, or NULL. "/" is the dashboard's index.html. */
static const struct web_asset *web_asset_find(const char *path)
{
	if (path[0] != '/')
		return NULL;
	const char *name = path[1] ? path + 1 : "index.html";
	for (size_t i = 0; i < web_asset_count; i++)
		if (strcmp(web_assets[i].name, name) == 0)
			return &web_assets[i];
	return NULL;
}

static void h_web(void *arg, const struct http_request *req, struct http_response *resp)
{
	(void)arg;
	const struct web_asset *a = web_asset_find(req->path);
	if (!a) {
		http_respond_error(resp, 404, "Not found: %s", req->path);
		return;
	}
	/* The server frees the body after sending; the table is constant, so copy it. */
	resp->body = xmalloc(a->size_bytes + 1);
	memcpy(resp->body, a->data, a->size_bytes);
	resp->body[a->size_bytes] = '\0';
	resp->body_len = a->size_bytes;
	resp->content_type = a->content_type;
	resp->status = 200;
}

static bool web_is_public(const char *path)
{
	return web_asset_find(path) != NULL;
}

void rest_web_register(struct jobmanager *jm, struct http_server *s)
{
	(void)jm;
	http_server_fallback(s, h_web, NULL);
	http_server_set_public(s, web_is_public);
}
