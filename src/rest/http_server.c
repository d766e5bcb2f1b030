/*
 * http_server.c - a router over libmicrohttpd for the REST API (see http_server.h).
 *
 * DESIGN. libmicrohttpd runs one listening thread and one thread per connection
 * (MHD_USE_THREAD_PER_CONNECTION), so a handler may block without stalling other clients.
 * Each request owns a struct request_state, created on the first call of the access handler
 * and freed in the completion callback, both on the connection's thread: nothing in it is
 * shared. The server's route table is written before start and only read afterwards, so
 * connection threads read it without a lock; http_server_free() stops the daemon (which
 * joins every connection thread) before freeing the table.
 *
 * Bodies are buffered whole (raw bytes, or multipart parts decoded by MHD's post processor)
 * and the handler runs once the request is complete. The body limit counts the bytes on the
 * wire; once it is passed, buffers are freed and the rest of the body is read and dropped,
 * then 413 is sent. Reading the rest, rather than answering at once and closing, keeps the
 * client from seeing a connection reset instead of the 413 while it is still sending; a
 * client sending more than DRAIN_CAP_BYTES past the limit is cut off.
 */
#include "rest/http_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "core/alloc.h"
#include "core/log.h"

#define POST_BUFFER_BYTES (16 * 1024)        /* MHD's post processor header buffer */
#define DRAIN_CAP_BYTES ((uint64_t)64 << 20) /* body bytes read and dropped past the limit */
#define CONNECTION_LIMIT 512                 /* concurrent connections (= threads) */
#define TEXT_PLAIN "text/plain; charset=UTF-8"

struct route {
	char *method; /* owned */
	char **segs;  /* owned; ":name" for a parameter */
	int nsegs;
	http_handler h;
	void *arg;
};

struct http_server {
	char *bind_address;     /* owned; as given, for messages */
	int port;               /* requested, then bound */
	size_t max_body_bytes;  /* raw or multipart body limit */
	unsigned int timeout_s; /* idle connection timeout, 0 = none */
	struct route *routes;   /* written before start only */
	int nroutes, routes_cap;
	http_handler fallback;
	void *fallback_arg;
	struct MHD_Daemon *daemon; /* NULL when not running */
};

/* One request; lives on its connection's thread from the first access call to completion. */
struct request_state {
	struct http_server *server;
	bool multipart;               /* Content-Type multipart/form-data */
	bool too_large;               /* more than max_body_bytes arrived */
	bool malformed;               /* the multipart body did not parse */
	bool responded;               /* a response was queued on the first call */
	uint64_t received;            /* body bytes read, dropped ones included */
	uint8_t *body;                /* raw body, NUL-terminated */
	size_t body_len, body_cap;    /* bytes */
	struct MHD_PostProcessor *pp; /* multipart only */
	struct http_part *parts;      /* multipart parts */
	int nparts, parts_cap;
	size_t part_cap; /* bytes allocated for parts[nparts - 1].data */
};

/* ---- helpers ------------------------------------------------------------------------- */

static bool is_param(const char *seg)
{
	return seg[0] == ':';
}

/* Splits path in place on '/', skipping empty segments; segs needs strlen(path)/2+1 slots. */
static int split_path(char *path, char **segs)
{
	int n = 0;
	char *save = NULL;
	for (char *t = strtok_r(path, "/", &save); t; t = strtok_r(NULL, "/", &save))
		segs[n++] = t;
	return n;
}

static bool route_matches(const struct route *r, char **segs, int nsegs)
{
	if (r->nsegs != nsegs)
		return false;
	for (int i = 0; i < nsegs; i++)
		if (!is_param(r->segs[i]) && strcmp(r->segs[i], segs[i]) != 0)
			return false;
	return true;
}

/* True if a beats b: a literal where b has a :param, at the first position they differ. */
static bool route_more_specific(const struct route *a, const struct route *b)
{
	for (int i = 0; i < a->nsegs && i < b->nsegs; i++) {
		bool pa = is_param(a->segs[i]), pb = is_param(b->segs[i]);
		if (pa != pb)
			return !pa;
	}
	return false;
}

static void request_state_free(struct request_state *st)
{
	if (!st)
		return;
	if (st->pp)
		MHD_destroy_post_processor(st->pp);
	xfree(st->body);
	for (int i = 0; i < st->nparts; i++) {
		xfree(st->parts[i].name);
		xfree(st->parts[i].filename);
		xfree(st->parts[i].content_type);
		xfree(st->parts[i].data);
	}
	xfree(st->parts);
	xfree(st);
}

/* Drops what was buffered once the body is known to be too large. */
static void request_state_drop_body(struct request_state *st)
{
	if (st->pp) {
		MHD_destroy_post_processor(st->pp);
		st->pp = NULL;
	}
	xfree(st->body);
	st->body = NULL;
	st->body_len = st->body_cap = 0;
	for (int i = 0; i < st->nparts; i++) {
		xfree(st->parts[i].name);
		xfree(st->parts[i].filename);
		xfree(st->parts[i].content_type);
		xfree(st->parts[i].data);
	}
	xfree(st->parts);
	st->parts = NULL;
	st->nparts = st->parts_cap = 0;
}

/* Grows *buf (capacity *cap) to hold need bytes, doubling but never past limit (>= need). */
static void grow(uint8_t **buf, size_t *cap, size_t need, size_t limit)
{
	if (need <= *cap)
		return;
	size_t c = *cap ? *cap * 2 : 4096;
	if (c < need)
		c = need;
	if (c > limit)
		c = limit > need ? limit : need;
	*buf = xrealloc(*buf, c);
	*cap = c;
}

static void body_append(struct request_state *st, const char *data, size_t n)
{
	/* received <= max_body_bytes here, so body_len + n + 1 <= max_body_bytes + 1. */
	grow(&st->body, &st->body_cap, st->body_len + n + 1, st->server->max_body_bytes + 1);
	memcpy(st->body + st->body_len, data, n);
	st->body_len += n;
	st->body[st->body_len] = '\0';
}

static bool same_str(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* MHD's post processor calls this for every piece of every part, off = offset in the part. */
static enum MHD_Result on_part_data(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *filename, const char *content_type,
                                    const char *transfer_encoding, const char *data, uint64_t off,
                                    size_t size)
{
	struct request_state *st = cls;
	struct http_part *p = st->nparts ? &st->parts[st->nparts - 1] : NULL;
	const char *name = key ? key : "";

	/* A part continues while the offsets line up; an empty first piece may precede the
	 * first data of a part, so "offset 0 after an empty piece of the same part" continues. */
	bool cont = p && off == p->len && off > 0;
	if (p && off == 0 && p->len == 0 && strcmp(p->name, name) == 0 &&
	    same_str(p->filename, filename))
		cont = true;
	if (!cont) {
		if (off != 0)
			return MHD_NO;
		if (st->nparts == st->parts_cap) {
			st->parts_cap = st->parts_cap ? st->parts_cap * 2 : 4;
			st->parts = xrealloc(st->parts, st->parts_cap * sizeof *st->parts);
		}
		p = &st->parts[st->nparts++];
		p->name = xstrdup(name);
		p->filename = xstrdup(filename);
		p->content_type = xstrdup(content_type);
		p->len = 0;
		st->part_cap = size + 1;
		p->data = xmalloc(st->part_cap);
		p->data[0] = '\0';
	}
	grow(&p->data, &st->part_cap, p->len + size + 1, st->server->max_body_bytes + 1);
	memcpy(p->data + p->len, data, size);
	p->len += size;
	p->data[p->len] = '\0';
	return MHD_YES;
}

/* ---- responses ----------------------------------------------------------------------- */

static void response_set_body(struct http_response *r, int status, const char *content_type,
                              char *body)
{
	xfree(r->body);
	r->status = status;
	r->content_type = content_type;
	r->body = body;
	r->body_len = body ? strlen(body) : 0;
}

void http_respond_json(struct http_response *r, int status, json_t *body)
{
	char *text = body ? json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
	json_decref(body);
	if (body && !text) {
		http_respond_error(r, 500, "internal error");
		return;
	}
	/* jansson allocates with malloc; copy so the response body is ours to xfree. */
	response_set_body(r, status, HTTP_JSON, xstrdup(text ? text : "{}"));
	free(text);
}

void http_respond_error(struct http_response *r, int status, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);

	json_t *s = json_string(msg);
	if (!s) {
		/* Not UTF-8 (a path with stray bytes): keep the message readable, not the bytes. */
		for (char *c = msg; *c; c++)
			if ((unsigned char)*c >= 0x80)
				*c = '?';
		s = json_string(msg);
	}
	json_t *errors = json_array();
	json_array_append_new(errors, s ? s : json_string("internal error"));
	json_t *o = json_object();
	json_object_set_new(o, "errors", errors);
	http_respond_json(r, status, o);
}

static enum MHD_Result send_response(struct MHD_Connection *conn, struct http_response *resp,
                                     const char *allow)
{
	struct MHD_Response *r;
	if (resp->body)
		r = MHD_create_response_from_buffer_with_free_callback(resp->body_len, resp->body,
		                                                       xfree);
	else
		r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	if (!r) {
		xfree(resp->body);
		return MHD_NO;
	}
	resp->body = NULL; /* the MHD response frees it */
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
	                        resp->content_type ? resp->content_type : TEXT_PLAIN);
	if (allow)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
	enum MHD_Result ret = MHD_queue_response(conn, (unsigned int)resp->status, r);
	MHD_destroy_response(r);
	return ret;
}

/* ---- dispatch ------------------------------------------------------------------------ */

/* Finds the route and runs its handler; fills resp, and *allow for a 405 (owned). */
static void dispatch(struct http_server *s, struct MHD_Connection *conn, const char *url,
                     const char *method, struct request_state *st, struct http_response *resp,
                     char **allow)
{
	size_t url_len = strlen(url);
	char *path = xstrndup(url, url_len);
	char **segs = xmalloc((url_len / 2 + 1) * sizeof *segs);
	int nsegs = split_path(path, segs);
	/* HEAD is answered as GET; MHD leaves the body out. */
	const char *m = strcmp(method, MHD_HTTP_METHOD_HEAD) == 0 ? MHD_HTTP_METHOD_GET : method;

	const struct route *best = NULL;
	size_t allow_len = 0;
	for (int i = 0; i < s->nroutes; i++) {
		const struct route *r = &s->routes[i];
		if (!route_matches(r, segs, nsegs))
			continue;
		if (strcmp(r->method, m) == 0) {
			if (!best || route_more_specific(r, best))
				best = r;
			continue;
		}
		/* Collect the other methods of this path for the Allow header, once each. */
		bool seen = false;
		for (int j = 0; j < i && !seen; j++)
			seen = strcmp(s->routes[j].method, r->method) == 0 &&
			       route_matches(&s->routes[j], segs, nsegs);
		if (seen)
			continue;
		size_t n = strlen(r->method);
		*allow = xrealloc(*allow, allow_len + n + 3);
		if (allow_len) {
			memcpy(*allow + allow_len, ", ", 2);
			allow_len += 2;
		}
		memcpy(*allow + allow_len, r->method, n + 1);
		allow_len += n;
	}

	struct http_request req = {
	    .method = method,
	    .path = url,
	    .body = st->body ? st->body : (const uint8_t *)"",
	    .body_len = st->body_len,
	    .parts = st->parts,
	    .nparts = st->nparts,
	    .impl = conn,
	};
	char **params = NULL;
	http_handler h = NULL;
	void *arg = NULL;
	if (best) {
		xfree(*allow);
		*allow = NULL;
		params = xmalloc((nsegs + 1) * sizeof *params);
		for (int i = 0; i < nsegs; i++)
			if (is_param(best->segs[i]))
				params[req.nparams++] = segs[i];
		req.params = params;
		h = best->h;
		arg = best->arg;
	} else if (*allow) {
		http_respond_error(resp, 405, "method %s is not allowed on %s", method, url);
	} else if (s->fallback && strcmp(m, MHD_HTTP_METHOD_GET) == 0) {
		h = s->fallback;
		arg = s->fallback_arg;
	} else {
		http_respond_error(resp, 404, "Not found: %s", url);
	}

	if (h) {
		h(arg, &req, resp);
		if (resp->status < 100 || resp->status > 599) {
			log_warn("REST handler for %s %s left no valid status (%d)", method, url,
			         resp->status);
			http_respond_error(resp, 500, "internal error");
		}
	}
	xfree(params);
	xfree(segs);
	xfree(path);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
	struct http_server *s = cls;
	struct request_state *st = *con_cls;

	if (!st) {
		/* First call: headers only. Decide how the body will be read. */
		st = xcalloc(1, sizeof *st);
		st->server = s;
		*con_cls = st;
		log_set_thread_name("rest-handler");
		const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
		                                             MHD_HTTP_HEADER_CONTENT_LENGTH);
		const char *ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
		                                             MHD_HTTP_HEADER_CONTENT_TYPE);
		uint64_t declared = cl ? strtoull(cl, NULL, 10) : 0;
		if (declared > s->max_body_bytes) {
			st->too_large = true;
			if (declared - s->max_body_bytes > DRAIN_CAP_BYTES) {
				/* Too much to read and drop: answer now; MHD closes afterwards. */
				struct http_response resp = {0};
				http_respond_error(&resp, 413,
				                   "request body is larger than %zu bytes",
				                   s->max_body_bytes);
				st->responded = true;
				return send_response(conn, &resp, NULL);
			}
			return MHD_YES;
		}
		if (ct && strncasecmp(ct, MHD_HTTP_POST_ENCODING_MULTIPART_FORMDATA,
		                      strlen(MHD_HTTP_POST_ENCODING_MULTIPART_FORMDATA)) == 0) {
			st->multipart = true;
			st->pp =
			    MHD_create_post_processor(conn, POST_BUFFER_BYTES, on_part_data, st);
			if (!st->pp)
				st->malformed = true; /* e.g. no boundary */
		} else if (declared > 0) {
			st->body = xmalloc(declared + 1);
			st->body_cap = declared + 1;
		}
		return MHD_YES;
	}

	if (*upload_data_size > 0) {
		size_t n = *upload_data_size;
		*upload_data_size = 0;
		if (st->responded)
			return MHD_YES;
		st->received += n;
		if (st->received > s->max_body_bytes) {
			if (!st->too_large) {
				st->too_large = true;
				request_state_drop_body(st);
			}
			return st->received - s->max_body_bytes > DRAIN_CAP_BYTES ? MHD_NO
			                                                          : MHD_YES;
		}
		if (st->too_large || st->malformed)
			return MHD_YES;
		if (!st->multipart)
			body_append(st, upload_data, n);
		else if (MHD_post_process(st->pp, upload_data, n) != MHD_YES)
			st->malformed = true;
		return MHD_YES;
	}

	if (st->responded)
		return MHD_YES;

	/* The request is complete. */
	struct http_response resp = {0};
	char *allow = NULL;
	if (st->multipart && st->pp && !st->too_large) {
		if (MHD_destroy_post_processor(st->pp) != MHD_YES)
			st->malformed = true;
		st->pp = NULL;
	}
	if (st->too_large)
		http_respond_error(&resp, 413, "request body is larger than %zu bytes",
		                   s->max_body_bytes);
	else if (st->malformed)
		http_respond_error(&resp, 400, "malformed multipart/form-data body");
	else
		dispatch(s, conn, url, method, st, &resp, &allow);
	st->responded = true;
	enum MHD_Result ret = send_response(conn, &resp, allow);
	xfree(allow);
	return ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
	request_state_free(*con_cls);
	*con_cls = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	if (log_min_level > LOG_DEBUG)
		return;
	char buf[512];
	vsnprintf(buf, sizeof buf, fmt, ap);
	size_t n = strlen(buf);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	log_debug("http server: %s", buf);
}

/* ---- lifecycle ----------------------------------------------------------------------- */

struct http_server *http_server_new(const char *bind_address, int port, size_t max_body_bytes)
{
	struct http_server *s = xcalloc(1, sizeof *s);
	s->bind_address = xstrdup(bind_address && *bind_address ? bind_address : "0.0.0.0");
	s->port = port;
	s->max_body_bytes = max_body_bytes;
	s->timeout_s = HTTP_SERVER_TIMEOUT_S;
	return s;
}

void http_server_route(struct http_server *s, const char *method, const char *pattern,
                       http_handler h, void *arg)
{
	if (s->nroutes == s->routes_cap) {
		s->routes_cap = s->routes_cap ? s->routes_cap * 2 : 16;
		s->routes = xrealloc(s->routes, s->routes_cap * sizeof *s->routes);
	}
	struct route *r = &s->routes[s->nroutes++];
	size_t len = strlen(pattern);
	char *copy = xstrndup(pattern, len);
	char **segs = xmalloc((len / 2 + 1) * sizeof *segs);
	r->nsegs = split_path(copy, segs);
	r->segs = xmalloc((r->nsegs + 1) * sizeof *r->segs);
	for (int i = 0; i < r->nsegs; i++)
		r->segs[i] = xstrdup(segs[i]);
	xfree(segs);
	xfree(copy);
	r->method = xstrdup(method);
	r->h = h;
	r->arg = arg;
}

void http_server_set_timeout(struct http_server *s, unsigned int timeout_s)
{
	s->timeout_s = timeout_s;
}

void http_server_fallback(struct http_server *s, http_handler h, void *arg)
{
	s->fallback = h;
	s->fallback_arg = arg;
}

static int resolve_ipv4(const char *host, struct sockaddr_in *sa, struct spate_error *err)
{
	memset(sa, 0, sizeof *sa);
	sa->sin_family = AF_INET;
	if (strcmp(host, "localhost") == 0)
		host = "127.0.0.1";
	if (inet_pton(AF_INET, host, &sa->sin_addr) == 1)
		return 0;
	struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
	struct addrinfo *res = NULL;
	int rc = getaddrinfo(host, NULL, &hints, &res);
	if (rc != 0 || !res)
		return error_set(err, SPATE_EIO, "cannot resolve the REST address '%s': %s", host,
		                 rc ? gai_strerror(rc) : "no IPv4 address");
	sa->sin_addr = ((const struct sockaddr_in *)res->ai_addr)->sin_addr;
	freeaddrinfo(res);
	return 0;
}

/* MHD does not say why it failed to start; binding the same address ourselves does. */
static int probe_bind_errno(const struct sockaddr_in *sa)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errno;
	int one = 1, e = 0;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(fd, (const struct sockaddr *)sa, sizeof *sa) < 0 || listen(fd, 1) < 0)
		e = errno;
	close(fd);
	return e;
}

int http_server_start(struct http_server *s, struct spate_error *err)
{
	struct sockaddr_in sa;
	int rc = resolve_ipv4(s->bind_address, &sa, err);
	if (rc < 0)
		return rc;
	if (s->port < 0 || s->port > 65535)
		return error_set(err, SPATE_EINVAL, "cannot listen on %s:%d: invalid port",
		                 s->bind_address, s->port);
	sa.sin_port = htons((uint16_t)s->port);

	unsigned int flags = MHD_USE_AUTO | MHD_USE_INTERNAL_POLLING_THREAD |
	                     MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG;
	s->daemon = MHD_start_daemon(
	    flags, 0, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
	    MHD_OPTION_CONNECTION_TIMEOUT, s->timeout_s, MHD_OPTION_CONNECTION_LIMIT,
	    (unsigned int)CONNECTION_LIMIT, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
	    MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s, MHD_OPTION_END);
	if (!s->daemon) {
		int e = probe_bind_errno(&sa);
		if (e)
			return error_set(err, SPATE_EIO, "cannot listen on %s:%d: %s",
			                 s->bind_address, s->port, strerror(e));
		return error_set(err, SPATE_EIO,
		                 "cannot listen on %s:%d: the HTTP server failed to start",
		                 s->bind_address, s->port);
	}
	const union MHD_DaemonInfo *info =
	    MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
	if (info && info->port)
		s->port = info->port;
	log_info("Rest endpoint listening at %s:%d", s->bind_address, s->port);
	return 0;
}

int http_server_port(const struct http_server *s)
{
	return s->port;
}

void http_server_free(struct http_server *s)
{
	if (!s)
		return;
	if (s->daemon)
		MHD_stop_daemon(s->daemon);
	for (int i = 0; i < s->nroutes; i++) {
		for (int j = 0; j < s->routes[i].nsegs; j++)
			xfree(s->routes[i].segs[j]);
		xfree(s->routes[i].segs);
		xfree(s->routes[i].method);
	}
	xfree(s->routes);
	xfree(s->bind_address);
	xfree(s);
}

const char *http_query(const struct http_request *r, const char *name)
{
	if (!r->impl)
		return NULL;
	return MHD_lookup_connection_value(r->impl, MHD_GET_ARGUMENT_KIND, name);
}
