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
 * Decoding: the URL path is percent-decoded exactly once, then split on '/' into segments,
 * so a :param never holds a '/' (an encoded "%2f" separates segments like '/') and a
 * double-encoded "%252f" reaches the handler as the three characters "%2f". A handler that
 * uses a :param as a file name must still reject "..", '%' and the like.
 *
 * Limits, each answered with an error rather than a hang or a crash:
 *   - a request target longer than HTTP_SERVER_MAX_URL_BYTES: 414; one too long for the
 *     connection's memory (HTTP_SERVER_MEMORY_BYTES, request line and headers together) is
 *     answered 414 or 431 by libmicrohttpd itself;
 *   - a request target holding an encoded NUL ("%00") or a raw NUL byte, or a request line
 *     that is not HTTP/1.0 or HTTP/1.1: 400, so no handler sees a path or query value cut
 *     short at a NUL;
 *   - more than HTTP_SERVER_MAX_HEADERS header lines: 431;
 *   - a request body (raw, or the whole multipart body) larger than max_body_bytes: 413,
 *     without being buffered past the limit; a multipart body that does not parse or
 *     holds no part: 400;
 *   - a connection silent for HTTP_SERVER_TIMEOUT_S (http_server_set_timeout) is closed;
 *     that is also how a peer sending bytes MHD skips as blank lines (a leading NUL) is
 *     dropped;
 *   - a request whose headers have not all arrived HTTP_SERVER_HEADER_TIMEOUT_S after the
 *     connection opened or its previous request ended gets 408 and is closed, however
 *     steadily it trickles bytes (slowloris);
 *   - at most HTTP_SERVER_MAX_CONNECTIONS connections (each one a thread), and at most
 *     HTTP_SERVER_MAX_CONNECTIONS_PER_IP from one client address, so one client cannot take
 *     every thread; a connection over a limit is closed at once.
 * A method the path has no route for is 405 with an Allow header when the path has routes
 * for other methods, else 404 (or the fallback's answer for GET and HEAD).
 *
 * Authentication: with a token set (http_server_set_auth_token), every request (except GET
 * and HEAD of paths declared public with http_server_set_public), whatever
 * its path and method, must carry "Authorization: Bearer <token>"; any other request gets
 * 401 with "WWW-Authenticate: Bearer" before it is routed and before its body is read
 * (a small body is read and dropped, so that a client still sending it sees the 401).
 */
#ifndef SPATE_REST_HTTP_SERVER_H
#define SPATE_REST_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/error.h"

#define HTTP_SERVER_TIMEOUT_S 30              /* a connection idle this long is closed */
#define HTTP_SERVER_HEADER_TIMEOUT_S 10       /* a request's headers must be in by then */
#define HTTP_SERVER_BODY_TIMEOUT_S 60         /* and its body this long after them */
#define HTTP_SERVER_MAX_URL_BYTES 8192        /* request target (path and query), raw */
#define HTTP_SERVER_MAX_HEADERS 100           /* header lines per request */
#define HTTP_SERVER_MEMORY_BYTES (32 * 1024)  /* per connection: request line and headers */
#define HTTP_SERVER_MAX_CONNECTIONS 512       /* concurrent connections (= threads) */
#define HTTP_SERVER_MAX_CONNECTIONS_PER_IP 64 /* concurrent connections from one address */

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
 * with a body means "text/plain; charset=UTF-8". A file is streamed instead of body when
 * set with http_respond_file (the two fields after content_type are for it only).
 */
struct http_response {
	int status;               /* HTTP status code */
	char *body;               /* owned, xmalloc'd; may be NULL */
	size_t body_len;          /* bytes; for a file, the bytes to stream */
	const char *content_type; /* static string, e.g. HTTP_JSON */
	bool has_file;            /* private: file_fd is set */
	int file_fd;              /* private: owned; streamed from offset 0, body_len bytes */
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

/*
 * Requires "Authorization: Bearer <token>" on every request (see the top of this file);
 * NULL or "" requires nothing (the default). The token is copied. Only before
 * http_server_start().
 */
void http_server_set_auth_token(struct http_server *s, const char *token);

/* GET and HEAD requests for paths is_public(path) accepts are served without the token
 * (the dashboard's own files, which hold no data: the data comes from the API, which still
 * needs it). Only before http_server_start(). */
void http_server_set_public(struct http_server *s, bool (*is_public)(const char *path));

/* Gives each request's headers timeout_s seconds (default HTTP_SERVER_HEADER_TIMEOUT_S)
 * from the connection's start or its previous request's end; 0 means no limit. Only before
 * http_server_start(). */
void http_server_set_header_timeout(struct http_server *s, unsigned int timeout_s);

/* Gives each request's body timeout_s seconds after its headers (default
 * HTTP_SERVER_BODY_TIMEOUT_S) before the connection is closed with a 408, so a client
 * trickling a body cannot hold a thread; 0 means no limit. Only before http_server_start(). */
void http_server_set_body_timeout(struct http_server *s, unsigned int timeout_s);

/* Caps concurrent connections in all (default HTTP_SERVER_MAX_CONNECTIONS, also taken for
 * 0) and from one client address (default HTTP_SERVER_MAX_CONNECTIONS_PER_IP, 0 = no
 * per-address cap). Only before http_server_start(). */
void http_server_set_connection_limits(struct http_server *s, unsigned int max_connections,
                                       unsigned int max_per_ip);

/* A handler for GET (and HEAD) paths no route matches (the dashboard's static files);
 * optional. Without one such paths get 404 {"errors":["Not found: <path>"]}. */
void http_server_fallback(struct http_server *s, http_handler h, void *arg);

/*
 * Binds and starts serving. Returns 0, or SPATE_EIO with err = "cannot listen on
 * 127.0.0.1:8081: Address already in use" (or "cannot resolve ..." for an unknown host).
 */
int http_server_start(struct http_server *s, struct spate_error *err);

/* Names the server in its "<what> listening at ..." log line (default "Rest endpoint");
 * what must outlive the server (a string literal). Only before http_server_start(). */
void http_server_set_name(struct http_server *s, const char *what);

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

/*
 * Streams size_bytes of the open file fd (takes ownership: the server closes it, also when
 * a later call replaces this response) from offset 0, with content_type (static; NULL is
 * text/plain). Replaces any body set.
 */
void http_respond_file(struct http_response *r, int status, int fd, uint64_t size_bytes,
                       const char *content_type);

/*
 * The raw body parsed as a JSON object (returns new: json_decref it), or NULL after
 * answering 400 {"errors":["malformed JSON body: ..."]} when the body is empty, is not
 * JSON, or is JSON but not an object.
 */
json_t *http_request_json_object(const struct http_request *req, struct http_response *resp);

/* Sets status and Flink's error body {"errors":["<message>"]}. Replaces any body set. */
void http_respond_error(struct http_response *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
