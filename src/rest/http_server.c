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
 * client sending more than DRAIN_CAP_BYTES past the limit is cut off. A request rejected on
 * its head (URL, header count, missing or wrong bearer token) is answered at once when it
 * has no body or a large one, else after its body is read and dropped.
 *
 * Each request's state is created by the URI log callback, which sees the raw request
 * target before MHD splits and percent-decodes it (so its length and any "%00" are checked
 * there), and is freed by the completion callback.
 *
 * Slow clients. MHD's connection timeout counts idle time, so a client sending a header
 * byte now and then would keep its connection, and thread, forever. A watchdog thread
 * therefore tracks every connection (MHD's connection notifications, on the listening and
 * connection threads) and shuts down the socket of any that has not delivered a request's
 * headers within header_timeout_s; the connection's own thread then sees the close and ends.
 * watch_mu guards the list; it is a leaf lock. MHD calls the "closed" notification, which
 * unlinks the entry under watch_mu, before it closes the socket, so the watchdog never shuts
 * down a descriptor number that has been reused.
 */
#include "rest/http_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "core/alloc.h"
#include "core/log.h"

#define POST_BUFFER_BYTES (16 * 1024)              /* MHD's post processor header buffer */
#define DRAIN_CAP_BYTES ((uint64_t)64 << 20)       /* body bytes read and dropped past the limit */
#define REJECT_DRAIN_CAP_BYTES ((uint64_t)1 << 20) /* body bytes dropped for a rejected head */
#define WATCH_PERIOD_MS 200                        /* how often the watchdog looks */
#define AUTH_WARN_INTERVAL_MS 10000                /* at most one 401 warning per this */
#define TEXT_PLAIN "text/plain; charset=UTF-8"
#define WWW_AUTHENTICATE "Bearer realm=\"spate\""

struct route {
	char *method; /* owned */
	char **segs;  /* owned; ":name" for a parameter */
	int nsegs;
	http_handler h;
	void *arg;
};

/* One open connection, as the watchdog sees it. */
struct conn_watch {
	int fd;                         /* the connection's socket; -1 if MHD did not say */
	int64_t waiting_since_ms;       /* guarded by: watch_mu; monotonic, when the wait began */
	bool in_request;                /* guarded by: watch_mu; headers in, a request is served */
	bool body_done;                 /* guarded by: watch_mu; its body is in (or none) */
	int64_t request_since_ms;       /* guarded by: watch_mu; when its headers were in */
	bool expired;                   /* guarded by: watch_mu; the watchdog shut it down */
	unsigned int requests;          /* guarded by: watch_mu; requests completed on it */
	struct conn_watch *prev, *next; /* guarded by: watch_mu */
};

struct http_server {
	char *bind_address;            /* owned; as given, for messages */
	_Atomic int port;              /* requested, then bound (handlers may read it) */
	const char *what;              /* for the log line: "Rest endpoint" (static) */
	size_t max_body_bytes;         /* raw or multipart body limit */
	unsigned int timeout_s;        /* idle connection timeout, 0 = none */
	unsigned int header_timeout_s; /* a request's headers must arrive within, 0 = none */
	unsigned int body_timeout_s;   /* and its body within this after them, 0 = none */
	unsigned int max_connections, max_per_ip; /* connection limits, 0 per IP = none */
	char *auth_token;                         /* owned; NULL = no authentication */
	size_t auth_token_len;                    /* bytes */
	struct route *routes;                     /* written before start only */
	int nroutes, routes_cap;
	http_handler fallback;
	void *fallback_arg;
	bool (*is_public)(const char *path); /* GET/HEAD paths served without the token */
	struct MHD_Daemon *daemon;           /* NULL when not running */

	pthread_mutex_t watch_mu;   /* a leaf lock: nothing else is taken while holding it */
	pthread_cond_t watch_cond;  /* signalled to stop the watchdog */
	struct conn_watch *watches; /* guarded by: watch_mu */
	bool watch_stop;            /* guarded by: watch_mu */
	bool watch_started;         /* the watchdog thread runs (start and free only) */
	pthread_t watchdog;
	_Atomic int64_t auth_warned_ms; /* monotonic time of the last 401 warning, 0 = never */
	atomic_long auth_rejected;      /* 401s since that warning */
};

/* One request; lives on its connection's thread from the first access call to completion. */
struct request_state {
	struct http_server *server;
	bool started;                 /* the access handler has seen the headers */
	bool uri_too_long;            /* the raw request target is over the limit */
	bool uri_has_nul;             /* the raw request target holds "%00" */
	uintptr_t uri_at;             /* where MHD's raw target was (compared, never read) */
	size_t uri_len;               /* its strlen(), bytes */
	struct http_response reject;  /* status set: the answer once the body is dropped */
	bool reject_auth;             /* the rejection is a 401: add WWW-Authenticate */
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

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void request_state_free(struct request_state *st)
{
	if (!st)
		return;
	if (st->pp)
		MHD_destroy_post_processor(st->pp);
	xfree(st->reject.body);
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

/* Drops whatever the response holds: its body, or its file. */
static void response_clear(struct http_response *r)
{
	xfree(r->body);
	r->body = NULL;
	r->body_len = 0;
	if (r->has_file)
		close(r->file_fd);
	r->has_file = false;
	r->file_fd = -1;
}

static void response_set_body(struct http_response *r, int status, const char *content_type,
                              char *body)
{
	response_clear(r);
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

void http_respond_file(struct http_response *r, int status, int fd, uint64_t size_bytes,
                       const char *content_type)
{
	response_clear(r);
	r->status = status;
	r->content_type = content_type;
	r->has_file = true;
	r->file_fd = fd;
	r->body_len = (size_t)size_bytes;
}

json_t *http_request_json_object(const struct http_request *req, struct http_response *resp)
{
	if (req->body_len == 0) {
		http_respond_error(resp, 400, "malformed JSON body: the request has no body");
		return NULL;
	}
	json_error_t je;
	json_t *j = json_loadb((const char *)req->body, req->body_len, JSON_DECODE_ANY, &je);
	if (!j) {
		http_respond_error(resp, 400, "malformed JSON body: %s (line %d, column %d)",
		                   je.text, je.line, je.column);
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		http_respond_error(resp, 400, "malformed JSON body: expected a JSON object");
		return NULL;
	}
	return j;
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

/* Queues resp (its body or file passes to MHD) with the optional Allow and WWW-Authenticate
 * headers. */
static enum MHD_Result send_response(struct MHD_Connection *conn, struct http_response *resp,
                                     const char *allow, const char *www_authenticate)
{
	struct MHD_Response *r;
	if (resp->has_file && resp->body_len > 0) {
		r = MHD_create_response_from_fd64(resp->body_len, resp->file_fd);
		if (r)
			resp->has_file = false; /* the MHD response closes it */
	} else if (resp->body) {
		r = MHD_create_response_from_buffer_with_free_callback(resp->body_len, resp->body,
		                                                       xfree);
		if (r)
			resp->body = NULL; /* the MHD response frees it */
	} else {
		r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	}
	response_clear(resp);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
	                        resp->content_type ? resp->content_type : TEXT_PLAIN);
	if (allow)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
	if (www_authenticate)
		MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, www_authenticate);
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

/* ---- slow clients: the watchdog ------------------------------------------------------ */

/* The connection's watch entry (NULL once it is closed). */
static struct conn_watch *watch_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return ci ? ci->socket_context : NULL;
}

/* MHD's connection notifications: STARTED on the listening thread, CLOSED before the
 * socket is closed. */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
	struct http_server *s = cls;
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci =
		    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		struct conn_watch *w = xcalloc(1, sizeof *w);
		w->fd = ci ? ci->connect_fd : -1;
		pthread_mutex_lock(&s->watch_mu);
		w->waiting_since_ms = mono_ms();
		w->next = s->watches;
		if (s->watches)
			s->watches->prev = w;
		s->watches = w;
		pthread_mutex_unlock(&s->watch_mu);
		*socket_context = w;
		return;
	}
	struct conn_watch *w = *socket_context;
	if (!w)
		return;
	pthread_mutex_lock(&s->watch_mu);
	if (w->prev)
		w->prev->next = w->next;
	else
		s->watches = w->next;
	if (w->next)
		w->next->prev = w->prev;
	pthread_mutex_unlock(&s->watch_mu);
	*socket_context = NULL;
	xfree(w);
}

/* A request's headers are in (in_request) or it has ended (a new wait begins). */
static void watch_set_in_request(struct http_server *s, struct MHD_Connection *conn, bool in)
{
	struct conn_watch *w = watch_of(conn);
	if (!w)
		return;
	pthread_mutex_lock(&s->watch_mu);
	if (!in && w->in_request) {
		w->requests++;
		w->waiting_since_ms = mono_ms();
	}
	if (in) {
		w->request_since_ms = mono_ms();
		w->body_done = false;
	}
	w->in_request = in;
	pthread_mutex_unlock(&s->watch_mu);
}

/* The request's body is complete: the body deadline no longer applies. */
static void watch_body_done(struct http_server *s, struct MHD_Connection *conn)
{
	struct conn_watch *w = watch_of(conn);
	if (!w)
		return;
	pthread_mutex_lock(&s->watch_mu);
	w->body_done = true;
	pthread_mutex_unlock(&s->watch_mu);
}

/* Ends a connection whose headers (or body) are late. Caller holds watch_mu. A client that has not
 * completed a request on it gets a 408 first; an idle keep-alive connection is closed
 * silently, as its client may be about to reuse it and would read the 408 as its answer. */
static void watch_expire(struct http_server *s, struct conn_watch *w, bool body_late)
{
	w->expired = true;
	if (w->requests == 0 || body_late) {
		char msg[256];
		int body = snprintf(msg, sizeof msg,
		                    "{\"errors\":[\"request %s not received within %u s\"]}",
		                    body_late ? "body" : "headers",
		                    body_late ? s->body_timeout_s : s->header_timeout_s);
		char out[512];
		int n = snprintf(out, sizeof out,
		                 "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n"
		                 "Content-Type: " HTTP_JSON "\r\nContent-Length: %d\r\n\r\n%s",
		                 body, msg);
		/* Best effort: MHD has written nothing on a connection still reading headers. */
		if (send(w->fd, out, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
			log_debug("http server: cannot send 408: %s", strerror(errno));
	}
	shutdown(w->fd, SHUT_RDWR);
	log_debug("http server: closed a connection whose request headers took over %u s",
	          s->header_timeout_s);
}

static void *watchdog_main(void *arg)
{
	struct http_server *s = arg;
	log_set_thread_name("rest-watchdog");
	int64_t limit_ms = (int64_t)s->header_timeout_s * 1000;
	int64_t body_limit_ms = (int64_t)s->body_timeout_s * 1000;
	pthread_mutex_lock(&s->watch_mu);
	while (!s->watch_stop) {
		int64_t now = mono_ms();
		for (struct conn_watch *w = s->watches; w; w = w->next)
			if (w->expired || w->fd < 0)
				continue;
			else if (!w->in_request && limit_ms > 0 &&
			         now - w->waiting_since_ms >= limit_ms)
				watch_expire(s, w, false);
			else if (w->in_request && !w->body_done && body_limit_ms > 0 &&
			         now - w->request_since_ms >= body_limit_ms)
				watch_expire(s, w, true);
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += (long)WATCH_PERIOD_MS * 1000000;
		ts.tv_sec += ts.tv_nsec / 1000000000;
		ts.tv_nsec %= 1000000000;
		pthread_cond_timedwait(&s->watch_cond, &s->watch_mu, &ts);
	}
	pthread_mutex_unlock(&s->watch_mu);
	return NULL;
}

/* ---- the request's head: URL, headers, authentication -------------------------------- */

/* MHD's URI log callback, before it splits and decodes the target: creates the request's
 * state (MHD passes it back as *con_cls and calls on_completed for it). */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct request_state *st = xcalloc(1, sizeof *st);
	st->server = cls;
	st->reject.file_fd = -1;
	size_t n = strlen(uri);
	st->uri_at = (uintptr_t)uri;
	st->uri_len = n;
	st->uri_too_long = n > HTTP_SERVER_MAX_URL_BYTES;
	for (size_t i = 0; !st->uri_too_long && i + 2 < n; i++)
		if (uri[i] == '%' && uri[i + 1] == '0' && uri[i + 2] == '0')
			st->uri_has_nul = true;
	return st;
}

/* The same result whatever the bytes of given and wherever they differ: the time depends
 * only on the length of the expected token. */
static bool token_equal(const char *expected, size_t expected_len, const char *given)
{
	size_t given_len = strlen(given);
	unsigned int diff = given_len != expected_len;
	for (size_t i = 0; i < expected_len; i++) {
		unsigned char g = i < given_len ? (unsigned char)given[i] : 0;
		diff |= (unsigned char)expected[i] ^ g;
	}
	return diff == 0;
}

/* "Authorization: Bearer <token>" (the scheme is case-insensitive, RFC 7235). */
static bool authorized(const struct http_server *s, struct MHD_Connection *conn)
{
	if (!s->auth_token)
		return true;
	const char *v =
	    MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	if (!v || strncasecmp(v, "Bearer", 6) != 0 || (v[6] != ' ' && v[6] != '\t'))
		return false;
	v += 6;
	while (*v == ' ' || *v == '\t')
		v++;
	return token_equal(s->auth_token, s->auth_token_len, v);
}

static void peer_address(struct MHD_Connection *conn, char *out, size_t cap)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	snprintf(out, cap, "?");
	if (!ci || !ci->client_addr)
		return;
	const struct sockaddr *sa = ci->client_addr;
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out,
		          (socklen_t)cap);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out,
		          (socklen_t)cap);
}

/* Warns about rejected requests, at most once per AUTH_WARN_INTERVAL_MS, so a flood of
 * them cannot flood the log. */
static void auth_warn(struct http_server *s, struct MHD_Connection *conn, const char *method,
                      const char *url)
{
	atomic_fetch_add(&s->auth_rejected, 1);
	int64_t now = mono_ms(), last = atomic_load(&s->auth_warned_ms);
	if (last && now - last < AUTH_WARN_INTERVAL_MS)
		return;
	if (!atomic_compare_exchange_strong(&s->auth_warned_ms, &last, now))
		return;
	long n = atomic_exchange(&s->auth_rejected, 0);
	char ip[64], what[160];
	peer_address(conn, ip, sizeof ip);
	snprintf(what, sizeof what, "%.20s %s", method, url);
	for (char *c = what; *c; c++) /* the URL is the client's: no control bytes in our log */
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
	log_warn("REST request from %s without a valid bearer token (rest.auth.token): %s; "
	         "%ld such request(s) since the last warning",
	         ip, what, n);
}

/*
 * True if the request target held a raw NUL byte. MHD splits the request line in place and
 * hands its pieces on as C strings, so such a target reaches us cut at the NUL: the path a
 * handler would see is a prefix of the one sent. In place, the version follows the target
 * right after the space MHD overwrote; more bytes between them are the hidden rest. When
 * MHD did not parse in place (url is not where the raw target was), nothing can be told.
 */
static bool uri_has_raw_nul(const struct request_state *st, const char *url, const char *version)
{
	uintptr_t u = (uintptr_t)url, v = (uintptr_t)version;
	return u == st->uri_at && v > u && v - u > st->uri_len + 1 &&
	       v - u <= (uintptr_t)HTTP_SERVER_MEMORY_BYTES;
}

/* Checks the request's head; on failure fills st->reject. */
static void check_head(struct http_server *s, struct MHD_Connection *conn, const char *url,
                       const char *method, const char *version, struct request_state *st)
{
	if ((strcmp(version, MHD_HTTP_VERSION_1_1) != 0 &&
	     strcmp(version, MHD_HTTP_VERSION_1_0) != 0) ||
	    uri_has_raw_nul(st, url, version)) {
		http_respond_error(&st->reject, 400,
		                   "malformed request line: expected 'METHOD TARGET HTTP/1.x' "
		                   "without NUL bytes");
	} else if (st->uri_too_long) {
		http_respond_error(&st->reject, MHD_HTTP_URI_TOO_LONG,
		                   "request URL is longer than %d bytes",
		                   HTTP_SERVER_MAX_URL_BYTES);
	} else if (st->uri_has_nul) {
		http_respond_error(&st->reject, 400,
		                   "malformed request URL: it holds an encoded NUL byte (%%00)");
	} else if (MHD_get_connection_values(conn, MHD_HEADER_KIND, NULL, NULL) >
	           HTTP_SERVER_MAX_HEADERS) {
		http_respond_error(&st->reject, MHD_HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE,
		                   "request has more than %d header fields",
		                   HTTP_SERVER_MAX_HEADERS);
	} else if (!authorized(s, conn) && !(s->is_public &&
	                                     (strcmp(method, MHD_HTTP_METHOD_GET) == 0 ||
	                                      strcmp(method, MHD_HTTP_METHOD_HEAD) == 0) &&
	                                     s->is_public(url))) {
		http_respond_error(&st->reject, 401,
		                   "authentication required: send 'Authorization: Bearer <token>' "
		                   "with the token set in rest.auth.token");
		st->reject_auth = true;
		auth_warn(s, conn, method, url);
	}
}

/* First call of a request: its headers are in. Decides how the body will be read. */
static enum MHD_Result on_headers(struct http_server *s, struct MHD_Connection *conn,
                                  const char *url, const char *method, const char *version,
                                  struct request_state *st)
{
	const char *cl =
	    MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	const char *ct =
	    MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
	const char *te =
	    MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
	uint64_t declared = cl ? strtoull(cl, NULL, 10) : 0;

	check_head(s, conn, url, method, version, st);
	if (st->reject.status) {
		/* No body, or too much to read and drop: answer now; MHD closes afterwards
		 * if a body was coming. */
		if ((declared == 0 && !te) || declared > REJECT_DRAIN_CAP_BYTES) {
			st->responded = true;
			return send_response(conn, &st->reject, NULL,
			                     st->reject_auth ? WWW_AUTHENTICATE : NULL);
		}
		return MHD_YES;
	}

	if (declared > s->max_body_bytes) {
		st->too_large = true;
		if (declared - s->max_body_bytes > DRAIN_CAP_BYTES) {
			/* Too much to read and drop: answer now; MHD closes afterwards. */
			struct http_response resp = {.file_fd = -1};
			http_respond_error(&resp, 413, "request body is larger than %zu bytes",
			                   s->max_body_bytes);
			st->responded = true;
			return send_response(conn, &resp, NULL, NULL);
		}
		return MHD_YES;
	}
	if (ct && strncasecmp(ct, MHD_HTTP_POST_ENCODING_MULTIPART_FORMDATA,
	                      strlen(MHD_HTTP_POST_ENCODING_MULTIPART_FORMDATA)) == 0) {
		st->multipart = true;
		st->pp = MHD_create_post_processor(conn, POST_BUFFER_BYTES, on_part_data, st);
		if (!st->pp)
			st->malformed = true; /* e.g. no boundary */
	} else if (declared > 0) {
		st->body = xmalloc(declared + 1);
		st->body_cap = declared + 1;
	}
	return MHD_YES;
}

/* ---- the access handler -------------------------------------------------------------- */

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
	struct http_server *s = cls;
	struct request_state *st = *con_cls;

	if (!st) /* MHD calls the URI log callback first; this is only a safety net */
		st = *con_cls = on_uri(s, "", conn);
	if (!st->started) {
		st->started = true;
		log_set_thread_name("rest-handler");
		enum MHD_Result r = on_headers(s, conn, url, method, version, st);
		/* A rejected request (401, 414, ...) whose small body is being drained stays
		 * under the header watchdog: a client trickling that body is cut off like a
		 * slow header, not kept for as long as it keeps sending. */
		if (!st->reject.status)
			watch_set_in_request(s, conn, true);
		return r;
	}

	if (*upload_data_size > 0) {
		size_t n = *upload_data_size;
		*upload_data_size = 0;
		if (st->responded)
			return MHD_YES;
		st->received += n;
		if (st->reject.status) /* read and dropped, up to a cap */
			return st->received > REJECT_DRAIN_CAP_BYTES ? MHD_NO : MHD_YES;
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
	st->responded = true;
	watch_body_done(s, conn);
	if (st->reject.status)
		return send_response(conn, &st->reject, NULL,
		                     st->reject_auth ? WWW_AUTHENTICATE : NULL);
	struct http_response resp = {.file_fd = -1};
	char *allow = NULL;
	if (st->multipart && st->pp && !st->too_large) {
		/* MHD takes a body without any boundary for an empty form; no handler wants
		 * one, and it is most likely the wrong boundary. */
		if (MHD_destroy_post_processor(st->pp) != MHD_YES || st->nparts == 0)
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
	enum MHD_Result ret = send_response(conn, &resp, allow, NULL);
	xfree(allow);
	return ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
	struct http_server *s = cls;
	request_state_free(*con_cls);
	*con_cls = NULL;
	watch_set_in_request(s, conn, false);
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
	atomic_store(&s->port, port);
	s->what = "Rest endpoint";
	s->max_body_bytes = max_body_bytes;
	s->timeout_s = HTTP_SERVER_TIMEOUT_S;
	s->header_timeout_s = HTTP_SERVER_HEADER_TIMEOUT_S;
	s->body_timeout_s = HTTP_SERVER_BODY_TIMEOUT_S;
	s->max_connections = HTTP_SERVER_MAX_CONNECTIONS;
	s->max_per_ip = HTTP_SERVER_MAX_CONNECTIONS_PER_IP;
	pthread_mutex_init(&s->watch_mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->watch_cond, &ca);
	pthread_condattr_destroy(&ca);
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

void http_server_set_public(struct http_server *s, bool (*is_public)(const char *path))
{
	s->is_public = is_public;
}

void http_server_set_auth_token(struct http_server *s, const char *token)
{
	xfree(s->auth_token);
	s->auth_token = token && *token ? xstrdup(token) : NULL;
	s->auth_token_len = s->auth_token ? strlen(s->auth_token) : 0;
}

void http_server_set_header_timeout(struct http_server *s, unsigned int timeout_s)
{
	s->header_timeout_s = timeout_s;
}

void http_server_set_body_timeout(struct http_server *s, unsigned int timeout_s)
{
	s->body_timeout_s = timeout_s;
}

void http_server_set_connection_limits(struct http_server *s, unsigned int max_connections,
                                       unsigned int max_per_ip)
{
	s->max_connections = max_connections ? max_connections : HTTP_SERVER_MAX_CONNECTIONS;
	s->max_per_ip = max_per_ip;
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
	int port = atomic_load(&s->port);
	if (port < 0 || port > 65535)
		return error_set(err, SPATE_EINVAL, "cannot listen on %s:%d: invalid port",
		                 s->bind_address, port);
	sa.sin_port = htons((uint16_t)port);

	unsigned int flags = MHD_USE_AUTO | MHD_USE_INTERNAL_POLLING_THREAD |
	                     MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG;
	bool watch = s->header_timeout_s > 0 || s->body_timeout_s > 0;
	s->daemon = MHD_start_daemon(
	    flags, 0, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
	    MHD_OPTION_CONNECTION_TIMEOUT, s->timeout_s, MHD_OPTION_CONNECTION_LIMIT,
	    s->max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT, s->max_per_ip,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_SERVER_MEMORY_BYTES,
	    MHD_OPTION_URI_LOG_CALLBACK, on_uri, s, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
	    MHD_OPTION_NOTIFY_CONNECTION, on_connection, s, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log,
	    s, MHD_OPTION_END);
	if (!s->daemon) {
		int e = probe_bind_errno(&sa);
		if (e)
			return error_set(err, SPATE_EIO, "cannot listen on %s:%d: %s",
			                 s->bind_address, port, strerror(e));
		return error_set(err, SPATE_EIO,
		                 "cannot listen on %s:%d: the HTTP server failed to start",
		                 s->bind_address, port);
	}
	if (watch) {
		rc = pthread_create(&s->watchdog, NULL, watchdog_main, s);
		if (rc != 0) {
			MHD_stop_daemon(s->daemon);
			s->daemon = NULL;
			return error_set(err, SPATE_EIO,
			                 "cannot start the HTTP server's watchdog thread: %s",
			                 strerror(rc));
		}
		s->watch_started = true;
	}
	const union MHD_DaemonInfo *info =
	    MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
	if (info && info->port)
		atomic_store(&s->port, info->port);
	char ip[INET_ADDRSTRLEN] = "?";
	inet_ntop(AF_INET, &sa.sin_addr, ip, sizeof ip);
	if (strcmp(ip, s->bind_address) == 0)
		log_info("%s listening at %s:%d", s->what, s->bind_address, atomic_load(&s->port));
	else
		log_info("%s listening at %s:%d (bound to %s)", s->what, s->bind_address,
		         atomic_load(&s->port), ip);
	return 0;
}

int http_server_port(const struct http_server *s)
{
	return atomic_load(&s->port);
}

void http_server_set_name(struct http_server *s, const char *what)
{
	s->what = what;
}

void http_server_free(struct http_server *s)
{
	if (!s)
		return;
	if (s->daemon)
		MHD_stop_daemon(s->daemon); /* closes every connection: the watch list empties */
	if (s->watch_started) {
		pthread_mutex_lock(&s->watch_mu);
		s->watch_stop = true;
		pthread_cond_signal(&s->watch_cond);
		pthread_mutex_unlock(&s->watch_mu);
		pthread_join(s->watchdog, NULL);
	}
	pthread_cond_destroy(&s->watch_cond);
	pthread_mutex_destroy(&s->watch_mu);
	xfree(s->auth_token);
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
