/*
 * http_server.h - the HTTP plumbing under the JobManager's REST API: a small router over
 * libmicrohttpd. Routes are patterns such as "/jobs/:jobid/vertices/:vertexid"; a handler
 * gets the decoded :params, the query, and the whole request body (raw, or split into
 * multipart/form-data parts), and fills a response. Error bodies follow Flink's REST shape,
 * {"errors":["..."]}.
 *
 * Threads: handlers run on libmicrohttpd's threads, one thread per connection, so several
 * handlers may run at once and a handler may block (take a lock, wait on a mailbox reply).
 * A handler must not call http_server_free() on its own server. Routes and the fallback are
 * registered before http_server_start() and never change afterwards, so handlers read the
 * route table without a lock.
 *
 * Limits: a request body (raw, or the whole multipart body) larger than max_body_bytes is
 * answered with 413 without being buffered past the limit; a connection silent for
 * HTTP_SERVER_TIMEOUT_S (http_server_set_timeout) is closed;
 * that is also how a peer sending bytes MHD skips as blank lines (such as a leading NUL)
 * is dropped.
 */
#ifndef SPATE_REST_HTTP_SERVER_H
#define SPATE_REST_HTTP_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/error.h"

#define HTTP_SERVER_TIMEOUT_S 30 /* a connection idle this long is closed */

/* One part of a multipart/form-data body: a file part (filename set) or a plain field. */
struct http_part {
	char *name;         /* the form field name, "" when the part names none */
	char *filename;     /* NULL for a plain field */
	char *content_type; /* the part's Content-Type, NULL when it sends none */
	uint8_t *data;      /* len bytes, followed by a NUL not counted in len */
	size_t len;         /* bytes */
};

/* A request as a handler sees it. Everything is borrowed and valid only during the call. */
struct http_request {
	const char *method;      /* "GET", "POST", "PATCH", "DELETE", ... */
	const char *path;        /* URL path, percent-decoded, without the query string */
	char **params;           /* values of the route's :params, in pattern order */
	int nparams;             /* 0 for the fallback handler */
	const uint8_t *body;     /* raw body (non-multipart), NUL-terminated; "" when empty */
	size_t body_len;         /* bytes, not counting the NUL */
	struct http_part *parts; /* multipart parts (files and plain fields), in body order */
	int nparts;
	void *impl; /* private: for http_query */
};

/*
 * What a handler fills. body is owned by the response (xmalloc'd; the server frees it).
 * A status left at 0 is answered with 500 {"errors":["internal error"]}. content_type NULL
 * with a body means "text/plain; charset=UTF-8".
 */
struct http_response {
	int status;               /* HTTP status code */
	char *body;               /* owned, xmalloc'd; may be NULL */
	size_t body_len;          /* bytes */
	const char *content_type; /* static string, e.g. HTTP_JSON */
};

#define HTTP_JSON "application/json; charset=UTF-8"

/* Runs on a connection thread (see above). arg is the pointer given at registration. */
typedef void (*http_handler)(void *arg, const struct http_request *req, struct http_response *resp);

/*
 * Returns a new, not yet listening server (free with http_server_free). bind_address is an
 * IPv4 dotted quad or a host name resolved to IPv4 ("localhost" is 127.0.0.1, NULL or ""
 * is every interface); port 0 picks an ephemeral port. Both strings are copied.
 */
struct http_server *http_server_new(const char *bind_address, int port, size_t max_body_bytes);

/*
 * Routes method + pattern to h. pattern is split on '/'; a segment ":name" matches any one
 * segment and is passed in req->params. Where several patterns match a path, a literal
 * segment beats a :param at the first position where they differ; between equal patterns
 * the first registered wins. Only before http_server_start(). method and pattern are copied.
 */
void http_server_route(struct http_server *s, const char *method, const char *pattern,
                       http_handler h, void *arg);

/* Closes connections idle for timeout_s seconds (default HTTP_SERVER_TIMEOUT_S); 0 means
 * never. Only before http_server_start(). */
void http_server_set_timeout(struct http_server *s, unsigned int timeout_s);

/* A handler for GET (and HEAD) paths no route matches (the dashboard's static files);
 * optional. Without one such paths get 404 {"errors":["Not found: <path>"]}. */
void http_server_fallback(struct http_server *s, http_handler h, void *arg);

/*
 * Binds and starts serving. Returns 0, or SPATE_EIO with err = "cannot listen on
 * 127.0.0.1:8081: Address already in use" (or "cannot resolve ..." for an unknown host).
 */
int http_server_start(struct http_server *s, struct spate_error *err);

/* The bound port (the chosen one when asked for port 0); the requested port before start. */
int http_server_port(const struct http_server *s);

/* Stops serving (waits for running handlers to return) and frees; NULL is a no-op; safe
 * after a failed or without a start. */
void http_server_free(struct http_server *s);

/* The query argument `name` (percent-decoded), or NULL; borrowed for the handler's call. */
const char *http_query(const struct http_request *r, const char *name);

/* Sets status and a JSON body (compact) with Content-Type HTTP_JSON. Steals body (a NULL
 * body gives "{}"). Replaces any body already set. */
void http_respond_json(struct http_response *r, int status, json_t *body);

/* Sets status and Flink's error body {"errors":["<message>"]}. Replaces any body set. */
void http_respond_error(struct http_response *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
