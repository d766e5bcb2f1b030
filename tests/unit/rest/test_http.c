/*
 * test_http.c - the REST server's router and limits and the CLI's HTTP client, against each
 * other: a real server on 127.0.0.1 (ephemeral port) called by the real client, plus a raw
 * TCP peer where the client cannot say what is needed (garbage bytes, headers, malformed
 * multipart). Expected values come from the test's own data, never from the server.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "client/http_client.h"
#include "core/alloc.h"
#include "rest/http_server.h"

#define MAX_BODY ((size_t)2 << 20) /* the test server's body limit, bytes */

/* What the upload handler saw, copied out of the request for the test thread to check. */
struct captured_part {
	char *name, *filename;
	uint8_t *data;
	size_t len;
};

struct fixture {
	struct http_server *server;
	char base[64]; /* "127.0.0.1:<port>" */
	int port;
	pthread_mutex_t mu;
	struct captured_part parts[4]; /* guarded by: mu */
	int nparts;                    /* guarded by: mu */
};

/* ---- handlers ------------------------------------------------------------------------ */

static void h_jobs(void *arg, const struct http_request *req, struct http_response *resp)
{
	http_respond_json(resp, 200, json_pack("{s:s}", "route", "jobs"));
}

static void h_overview(void *arg, const struct http_request *req, struct http_response *resp)
{
	http_respond_json(resp, 200, json_pack("{s:s}", "route", "overview"));
}

static void h_job(void *arg, const struct http_request *req, struct http_response *resp)
{
	http_respond_json(resp, 200,
	                  json_pack("{s:s,s:s,s:i}", "route", "job", "jobid", req->params[0],
	                            "nparams", req->nparams));
}

static void h_vertex(void *arg, const struct http_request *req, struct http_response *resp)
{
	const char *q = http_query(req, "parallelism");
	http_respond_json(resp, 200,
	                  json_pack("{s:s,s:s,s:s?,s:i}", "jobid", req->params[0], "vertexid",
	                            req->params[1], "parallelism", q, "nparams", req->nparams));
}

static void h_patch(void *arg, const struct http_request *req, struct http_response *resp)
{
	const char *mode = http_query(req, "mode");
	http_respond_json(resp, 202,
	                  json_pack("{s:s,s:s,s:s?}", "method", req->method, "jobid",
	                            req->params[0], "mode", mode));
}

static void h_delete(void *arg, const struct http_request *req, struct http_response *resp)
{
	http_respond_json(resp, 200,
	                  json_pack("{s:s,s:s}", "method", req->method, "jobid", req->params[0]));
}

/* Echoes the raw body with its length. */
static void h_echo(void *arg, const struct http_request *req, struct http_response *resp)
{
	http_respond_json(resp, 200,
	                  json_pack("{s:s%,s:I,s:i,s:b}", "body", (const char *)req->body,
	                            req->body_len, "len", (json_int_t)req->body_len, "nparts",
	                            req->nparts, "nul", req->body[req->body_len] == '\0'));
}

static void h_upload(void *arg, const struct http_request *req, struct http_response *resp)
{
	struct fixture *f = arg;
	pthread_mutex_lock(&f->mu);
	for (int i = 0; i < req->nparts && f->nparts < 4; i++) {
		struct captured_part *c = &f->parts[f->nparts++];
		c->name = xstrdup(req->parts[i].name);
		c->filename = xstrdup(req->parts[i].filename);
		c->data = xmalloc(req->parts[i].len + 1);
		memcpy(c->data, req->parts[i].data, req->parts[i].len);
		c->len = req->parts[i].len;
	}
	pthread_mutex_unlock(&f->mu);
	http_respond_json(
	    resp, 200,
	    json_pack("{s:i,s:I}", "nparts", req->nparts, "body_len", (json_int_t)req->body_len));
}

static void h_nothing(void *arg, const struct http_request *req, struct http_response *resp)
{
}

static void h_fallback(void *arg, const struct http_request *req, struct http_response *resp)
{
	resp->status = 200;
	resp->content_type = "text/html; charset=UTF-8";
	resp->body = xasprintf("<p>%s</p>", req->path);
	resp->body_len = strlen(resp->body);
}

/* ---- fixture ------------------------------------------------------------------------- */

static struct fixture *fixture_start(bool with_fallback, unsigned int timeout_s)
{
	struct fixture *f = xcalloc(1, sizeof *f);
	struct spate_error err = {0};
	pthread_mutex_init(&f->mu, NULL);
	f->server = http_server_new("127.0.0.1", 0, MAX_BODY);
	/* Registered param-first, so literal precedence does not come from the order. */
	http_server_route(f->server, "GET", "/jobs/:jobid", h_job, f);
	http_server_route(f->server, "GET", "/jobs/overview", h_overview, f);
	http_server_route(f->server, "GET", "/jobs", h_jobs, f);
	http_server_route(f->server, "GET", "/jobs/:jobid/vertices/:vertexid", h_vertex, f);
	http_server_route(f->server, "PATCH", "/jobs/:jobid", h_patch, f);
	http_server_route(f->server, "DELETE", "/jobs/:jobid", h_delete, f);
	http_server_route(f->server, "POST", "/echo", h_echo, f);
	http_server_route(f->server, "POST", "/jars/upload", h_upload, f);
	http_server_route(f->server, "GET", "/broken", h_nothing, f);
	if (with_fallback)
		http_server_fallback(f->server, h_fallback, f);
	if (timeout_s)
		http_server_set_timeout(f->server, timeout_s);
	int rc = http_server_start(f->server, &err);
	if (rc != 0)
		fail_msg("http_server_start: %s", err.msg);
	f->port = http_server_port(f->server);
	assert_true(f->port > 0 && f->port < 65536);
	snprintf(f->base, sizeof f->base, "127.0.0.1:%d", f->port);
	return f;
}

static int setup(void **state)
{
	*state = fixture_start(false, 0);
	return 0;
}

/* A short idle timeout, so a peer MHD keeps waiting on is dropped within the test. */
static int setup_short_timeout(void **state)
{
	*state = fixture_start(false, 2);
	return 0;
}

static int setup_fallback(void **state)
{
	*state = fixture_start(true, 0);
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	http_server_free(f->server);
	for (int i = 0; i < f->nparts; i++) {
		xfree(f->parts[i].name);
		xfree(f->parts[i].filename);
		xfree(f->parts[i].data);
	}
	pthread_mutex_destroy(&f->mu);
	xfree(f);
	return 0;
}

/* Calls and parses the JSON answer; fails the test on a transport error. */
static json_t *call_json(struct fixture *f, const char *method, const char *path, const char *body,
                         long *status)
{
	struct http_result res;
	struct spate_error err = {0};
	int rc = http_call(f->base, method, path, body, &res, &err);
	if (rc != 0)
		fail_msg("%s %s: %s", method, path, err.msg);
	*status = res.status;
	json_error_t jerr;
	json_t *j = json_loadb(res.body, res.len, 0, &jerr);
	if (!j)
		fail_msg("%s %s: not JSON (%s): %s", method, path, jerr.text, res.body);
	http_result_release(&res);
	return j;
}

static const char *jstr(json_t *j, const char *key)
{
	const char *s = json_string_value(json_object_get(j, key));
	return s ? s : "(missing)";
}

static const char *first_error(json_t *j)
{
	const char *s = json_string_value(json_array_get(json_object_get(j, "errors"), 0));
	return s ? s : "(missing)";
}

/* Connects to the server and sends raw bytes; returns the socket. */
static int raw_send(int port, const void *req, size_t len)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	struct timeval tv = {.tv_sec = 10};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	assert_int_equal(send(fd, req, len, MSG_NOSIGNAL), (ssize_t)len);
	return fd;
}

#define RAW_RESET (-1)   /* the server reset the connection before answering */
#define RAW_TIMEOUT (-2) /* neither an answer nor a close within 10 s */

/* Reads until the server closes; returns the bytes read, RAW_RESET or RAW_TIMEOUT. Closes fd. */
static ssize_t raw_read_all(int fd, char *out, size_t cap)
{
	size_t got = 0;
	ssize_t ret;
	for (;;) {
		ssize_t n = recv(fd, out + got, cap - 1 - got, 0);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			ret = RAW_TIMEOUT;
			break;
		}
		if (n < 0 && errno == ECONNRESET) {
			ret = got ? (ssize_t)got : RAW_RESET;
			break;
		}
		if (n <= 0 || (got += (size_t)n) == cap - 1) {
			ret = (ssize_t)got;
			break;
		}
	}
	out[got] = '\0';
	close(fd);
	return ret;
}

static ssize_t raw_exchange(int port, const void *req, size_t len, char *out, size_t cap)
{
	return raw_read_all(raw_send(port, req, len), out, cap);
}

static void fill_pattern(uint8_t *p, size_t n, uint32_t seed)
{
	/* xorshift: every byte value, NULs and CR/LF included, in a non-repeating order */
	uint32_t x = seed ? seed : 1;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (uint8_t)x;
	}
}

/* ---- tests --------------------------------------------------------------------------- */

static void test_get_params_and_query(void **state)
{
	struct fixture *f = *state;
	long status;
	json_t *j =
	    call_json(f, "GET", "/jobs/abc123/vertices/v-7?parallelism=4&other=x", NULL, &status);
	assert_int_equal(status, 200);
	assert_string_equal(jstr(j, "jobid"), "abc123");
	assert_string_equal(jstr(j, "vertexid"), "v-7");
	assert_string_equal(jstr(j, "parallelism"), "4");
	assert_int_equal(json_integer_value(json_object_get(j, "nparams")), 2);
	json_decref(j);

	/* Absent query argument: NULL. Percent-encoded path: decoded in the param. */
	j = call_json(f, "GET", "/jobs/a%20b/vertices/v1", NULL, &status);
	assert_int_equal(status, 200);
	assert_string_equal(jstr(j, "jobid"), "a b");
	assert_true(json_is_null(json_object_get(j, "parallelism")));
	json_decref(j);
}

static void test_literal_beats_param(void **state)
{
	struct fixture *f = *state;
	long status;
	json_t *j = call_json(f, "GET", "/jobs/overview", NULL, &status);
	assert_int_equal(status, 200);
	assert_string_equal(jstr(j, "route"), "overview");
	json_decref(j);

	j = call_json(f, "GET", "/jobs/overview2", NULL, &status);
	assert_int_equal(status, 200);
	assert_string_equal(jstr(j, "route"), "job");
	assert_string_equal(jstr(j, "jobid"), "overview2");
	assert_int_equal(json_integer_value(json_object_get(j, "nparams")), 1);
	json_decref(j);

	j = call_json(f, "GET", "/jobs", NULL, &status);
	assert_int_equal(status, 200);
	assert_string_equal(jstr(j, "route"), "jobs");
	json_decref(j);
}

static void test_not_found(void **state)
{
	struct fixture *f = *state;
	struct http_result res;
	struct spate_error err = {0};
	assert_int_equal(http_call(f->base, "GET", "/foo", NULL, &res, &err), 0);
	assert_int_equal(res.status, 404);
	assert_string_equal(res.body, "{\"errors\":[\"Not found: /foo\"]}");
	char buf[64];
	assert_string_equal(http_error_text(&res, buf, sizeof buf), "Not found: /foo");
	http_result_release(&res);

	/* Too many segments for any route, and POST to an unknown path, also 404. */
	long status;
	json_t *j = call_json(f, "GET", "/jobs/a/vertices", NULL, &status);
	assert_int_equal(status, 404);
	assert_string_equal(first_error(j), "Not found: /jobs/a/vertices");
	json_decref(j);
	j = call_json(f, "POST", "/nothing/here", "{}", &status);
	assert_int_equal(status, 404);
	json_decref(j);
}

static void test_method_not_allowed(void **state)
{
	struct fixture *f = *state;
	long status;
	json_t *j = call_json(f, "PUT", "/jobs", "{}", &status);
	assert_int_equal(status, 405);
	assert_string_equal(first_error(j), "method PUT is not allowed on /jobs");
	json_decref(j);

	/* The raw answer carries Allow with every method of the path, and the JSON type. */
	const char req[] = "POST /jobs/j1 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
	                   "Connection: close\r\n\r\n";
	char out[4096];
	ssize_t n = raw_exchange(f->port, req, sizeof req - 1, out, sizeof out);
	assert_true(n > 0);
	assert_non_null(strstr(out, "HTTP/1.1 405"));
	assert_non_null(strstr(out, "Allow: GET, PATCH, DELETE\r\n"));
	assert_non_null(strstr(out, "Content-Type: application/json; charset=UTF-8\r\n"));
	assert_null(strstr(out, "Access-Control-Allow-Origin"));
	assert_non_null(strstr(out, "{\"errors\":[\"method POST is not allowed on /jobs/j1\"]}"));
}

static void test_patch_and_delete(void **state)
{
	struct fixture *f = *state;
	long status;
	json_t *j = call_json(f, "PATCH", "/jobs/j42?mode=cancel", NULL, &status);
	assert_int_equal(status, 202);
	assert_string_equal(jstr(j, "method"), "PATCH");
	assert_string_equal(jstr(j, "jobid"), "j42");
	assert_string_equal(jstr(j, "mode"), "cancel");
	json_decref(j);

	j = call_json(f, "PATCH", "/jobs/j43", "{\"x\":1}", &status);
	assert_int_equal(status, 202);
	assert_string_equal(jstr(j, "jobid"), "j43");
	json_decref(j);

	j = call_json(f, "DELETE", "/jobs/j44", NULL, &status);
	assert_int_equal(status, 200);
	assert_string_equal(jstr(j, "method"), "DELETE");
	assert_string_equal(jstr(j, "jobid"), "j44");
	json_decref(j);
}

static void test_raw_body(void **state)
{
	struct fixture *f = *state;
	long status;
	const char *body = "{\"entryClass\":\"wordcount\",\"parallelism\":3}";
	json_t *j = call_json(f, "POST", "/echo", body, &status);
	assert_int_equal(status, 200);
	assert_string_equal(jstr(j, "body"), body);
	assert_int_equal(json_integer_value(json_object_get(j, "len")), strlen(body));
	assert_int_equal(json_integer_value(json_object_get(j, "nparts")), 0);
	assert_true(json_is_true(json_object_get(j, "nul")));
	json_decref(j);

	/* An empty POST: body "" with length 0. */
	j = call_json(f, "POST", "/echo", NULL, &status);
	assert_int_equal(status, 200);
	assert_string_equal(jstr(j, "body"), "");
	assert_int_equal(json_integer_value(json_object_get(j, "len")), 0);
	json_decref(j);
}

static void test_oversize_json_body(void **state)
{
	struct fixture *f = *state;
	size_t n = MAX_BODY + 1;
	char *big = xmalloc(n + 1);
	memset(big, ' ', n);
	big[0] = '[';
	big[n - 1] = ']';
	big[n] = '\0';
	long status;
	json_t *j = call_json(f, "POST", "/echo", big, &status);
	assert_int_equal(status, 413);
	char want[128];
	snprintf(want, sizeof want, "request body is larger than %zu bytes", MAX_BODY);
	assert_string_equal(first_error(j), want);
	json_decref(j);

	/* Exactly at the limit is fine, and the server keeps serving. */
	big[n - 2] = ']';
	big[n - 1] = '\0';
	j = call_json(f, "POST", "/echo", big, &status);
	assert_int_equal(status, 200);
	assert_int_equal(json_integer_value(json_object_get(j, "len")), MAX_BODY);
	json_decref(j);
	xfree(big);

	j = call_json(f, "GET", "/jobs", NULL, &status);
	assert_int_equal(status, 200);
	json_decref(j);
}

static void test_multipart_upload_exact(void **state)
{
	struct fixture *f = *state;
	size_t n = (size_t)1 << 20;
	uint8_t *jar = xmalloc(n);
	fill_pattern(jar, n, 12345);
	const char *field = "{\"entryClass\":\"x\",\"programArgs\":\"--input a\\r\\n--b\"}";
	struct http_upload parts[2] = {
	    {.name = "jarfile",
	     .filename = "job.so",
	     .data = jar,
	     .len = n,
	     .content_type = "application/x-sharedlib"},
	    {.name = "request",
	     .data = field,
	     .len = strlen(field),
	     .content_type = "application/json"},
	};
	struct http_result res;
	struct spate_error err = {0};
	int rc = http_post_multipart(f->base, "/jars/upload", parts, 2, &res, &err);
	if (rc != 0)
		fail_msg("upload: %s", err.msg);
	assert_int_equal(res.status, 200);
	http_result_release(&res);

	pthread_mutex_lock(&f->mu);
	assert_int_equal(f->nparts, 2);
	assert_string_equal(f->parts[0].name, "jarfile");
	assert_string_equal(f->parts[0].filename, "job.so");
	assert_int_equal(f->parts[0].len, n);
	assert_int_equal(memcmp(f->parts[0].data, jar, n), 0);
	assert_string_equal(f->parts[1].name, "request");
	assert_null(f->parts[1].filename);
	assert_int_equal(f->parts[1].len, strlen(field));
	assert_memory_equal(f->parts[1].data, field, strlen(field));
	pthread_mutex_unlock(&f->mu);
	xfree(jar);
}

static void test_oversize_multipart(void **state)
{
	struct fixture *f = *state;
	size_t n = MAX_BODY + (MAX_BODY / 2);
	uint8_t *jar = xmalloc(n);
	fill_pattern(jar, n, 99);
	struct http_upload part = {.name = "jarfile", .filename = "big.so", .data = jar, .len = n};
	struct http_result res;
	struct spate_error err = {0};
	int rc = http_post_multipart(f->base, "/jars/upload", &part, 1, &res, &err);
	if (rc != 0)
		fail_msg("upload: %s", err.msg);
	assert_int_equal(res.status, 413);
	char buf[128], want[128];
	snprintf(want, sizeof want, "request body is larger than %zu bytes", MAX_BODY);
	assert_string_equal(http_error_text(&res, buf, sizeof buf), want);
	http_result_release(&res);
	xfree(jar);

	pthread_mutex_lock(&f->mu);
	assert_int_equal(f->nparts, 0); /* the handler never ran */
	pthread_mutex_unlock(&f->mu);

	long status;
	json_t *j = call_json(f, "GET", "/jobs/after", NULL, &status);
	assert_int_equal(status, 200);
	assert_string_equal(jstr(j, "jobid"), "after");
	json_decref(j);
}

static void test_malformed_multipart(void **state)
{
	struct fixture *f = *state;
	char out[4096];
	/* No boundary parameter. */
	const char a[] = "POST /jars/upload HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
	                 "Content-Type: multipart/form-data\r\nContent-Length: 5\r\n\r\nhello";
	ssize_t n = raw_exchange(f->port, a, sizeof a - 1, out, sizeof out);
	assert_true(n > 0);
	assert_non_null(strstr(out, "HTTP/1.1 400"));
	assert_non_null(strstr(out, "malformed multipart/form-data body"));

	/* A part that never ends. */
	const char *body = "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nabcde";
	char b[512];
	int blen = snprintf(b, sizeof b,
	                    "POST /jars/upload HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
	                    "Content-Type: multipart/form-data; boundary=XyZ\r\n"
	                    "Content-Length: %zu\r\n\r\n%s",
	                    strlen(body), body);
	n = raw_exchange(f->port, b, (size_t)blen, out, sizeof out);
	assert_true(n > 0);
	assert_non_null(strstr(out, "HTTP/1.1 400"));
	assert_non_null(strstr(out, "malformed multipart/form-data body"));

	pthread_mutex_lock(&f->mu);
	assert_int_equal(f->nparts, 0);
	pthread_mutex_unlock(&f->mu);
}

static void test_handler_sets_nothing(void **state)
{
	struct fixture *f = *state;
	long status;
	json_t *j = call_json(f, "GET", "/broken", NULL, &status);
	assert_int_equal(status, 500);
	assert_string_equal(first_error(j), "internal error");
	json_decref(j);
}

static void test_fallback(void **state)
{
	struct fixture *f = *state;
	struct http_result res;
	struct spate_error err = {0};
	assert_int_equal(http_call(f->base, "GET", "/web/index.html", NULL, &res, &err), 0);
	assert_int_equal(res.status, 200);
	assert_string_equal(res.body, "<p>/web/index.html</p>");
	http_result_release(&res);

	/* Routes still win, and non-GET unknown paths still get 404. */
	long status;
	json_t *j = call_json(f, "GET", "/jobs/overview", NULL, &status);
	assert_string_equal(jstr(j, "route"), "overview");
	json_decref(j);
	j = call_json(f, "POST", "/web/index.html", "{}", &status);
	assert_int_equal(status, 404);
	assert_string_equal(first_error(j), "Not found: /web/index.html");
	json_decref(j);
}

static void test_connection_refused(void **state)
{
	/* A port nothing listens on: bound once, then closed. */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t sl = sizeof sa;
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	int port = ntohs(sa.sin_port);
	close(fd);

	char base[64], want[128];
	snprintf(base, sizeof base, "127.0.0.1:%d", port);
	snprintf(want, sizeof want,
	         "cannot reach the JobManager at 127.0.0.1:%d: Connection refused", port);
	struct http_result res;
	struct spate_error err = {0};
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int rc = http_call(base, "GET", "/overview", NULL, &res, &err);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_int_equal(rc, SPATE_ECONNECT);
	assert_int_equal(err.code, SPATE_ECONNECT);
	assert_string_equal(err.msg, want);
	assert_null(res.body);
	assert_true(t1.tv_sec - t0.tv_sec < 3); /* refused fails fast, not at a timeout */

	struct http_upload part = {.name = "f", .filename = "x", .data = "x", .len = 1};
	error_clear(&err);
	snprintf(base, sizeof base, "http://127.0.0.1:%d/", port);
	assert_int_equal(http_post_multipart(base, "/jars/upload", &part, 1, &res, &err),
	                 SPATE_ECONNECT);
	assert_non_null(strstr(err.msg, "Connection refused"));
}

static void test_listen_conflict(void **state)
{
	struct fixture *f = *state;
	struct http_server *s = http_server_new("localhost", f->port, 1024);
	struct spate_error err = {0};
	assert_int_equal(http_server_start(s, &err), SPATE_EIO);
	char want[128];
	snprintf(want, sizeof want, "cannot listen on localhost:%d: Address already in use",
	         f->port);
	assert_string_equal(err.msg, want);
	http_server_free(s);

	s = http_server_new("no-such-host.invalid", 0, 1024);
	error_clear(&err);
	assert_int_not_equal(http_server_start(s, &err), 0);
	assert_non_null(strstr(err.msg, "no-such-host.invalid"));
	http_server_free(s);
}

static void test_garbage_peer(void **state)
{
	struct fixture *f = *state;
	static const char g0[] = "\x00\xff garbage\r\n\r\n", g1[] = "\xff\xfe garbage\r\n\r\n";
	const char *garbage[] = {g0, g1};
	size_t glen[] = {sizeof g0 - 1, sizeof g1 - 1};
	for (int g = 0; g < 2; g++) {
		int fd = raw_send(f->port, garbage[g], glen[g]);

		/* The server answers others while the garbage connection is open. */
		long status;
		json_t *j = call_json(f, "GET", "/jobs/still-alive", NULL, &status);
		assert_int_equal(status, 200);
		assert_string_equal(jstr(j, "jobid"), "still-alive");
		json_decref(j);

		/* The garbage gets a 400 or a closed connection (MHD skips a line starting with
		 * NUL as blank, so that one is closed by the 2 s idle timeout), never a hang. */
		char out[4096];
		ssize_t n = raw_read_all(fd, out, sizeof out);
		assert_int_not_equal(n, RAW_TIMEOUT);
		if (n > 0)
			assert_memory_equal(out, "HTTP/1.1 400", 12);
	}

	long status;
	json_t *j = call_json(f, "GET", "/jobs", NULL, &status);
	assert_int_equal(status, 200);
	json_decref(j);
}

struct worker {
	struct fixture *f;
	int id;
	atomic_int *ok;
	char failure[256];
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	for (int i = 0; i < 20; i++) {
		char path[128], jobid[32], vertex[32], par[16];
		snprintf(jobid, sizeof jobid, "job-%d", w->id);
		snprintf(vertex, sizeof vertex, "v%d", i);
		snprintf(par, sizeof par, "%d", w->id * 100 + i);
		snprintf(path, sizeof path, "/jobs/%s/vertices/%s?parallelism=%s", jobid, vertex,
		         par);
		struct http_result res;
		struct spate_error err = {0};
		if (http_call(w->f->base, "GET", path, NULL, &res, &err) != 0) {
			snprintf(w->failure, sizeof w->failure, "%.100s: %.150s", path, err.msg);
			continue;
		}
		json_t *j = json_loadb(res.body, res.len, 0, NULL);
		if (res.status == 200 && j && strcmp(jstr(j, "jobid"), jobid) == 0 &&
		    strcmp(jstr(j, "vertexid"), vertex) == 0 &&
		    strcmp(jstr(j, "parallelism"), par) == 0)
			atomic_fetch_add(w->ok, 1);
		else
			snprintf(w->failure, sizeof w->failure, "%.100s: %ld %.100s", path,
			         res.status, res.body);
		json_decref(j);
		http_result_release(&res);
	}
	return NULL;
}

static void test_concurrent_clients(void **state)
{
	struct fixture *f = *state;
	enum { NTHREADS = 20 };
	atomic_int ok = 0;
	struct worker w[NTHREADS];
	pthread_t t[NTHREADS];
	for (int i = 0; i < NTHREADS; i++) {
		w[i] = (struct worker){.f = f, .id = i, .ok = &ok};
		assert_int_equal(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
	}
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < NTHREADS; i++)
		if (w[i].failure[0])
			print_error("worker %d: %s\n", i, w[i].failure);
	assert_int_equal(atomic_load(&ok), NTHREADS * 20);
}

static void test_error_text(void **state)
{
	char buf[16];
	struct http_result r = {.status = 502, .body = "line one\nline two", .len = 17};
	assert_string_equal(http_error_text(&r, buf, sizeof buf), "line one");
	r = (struct http_result){.status = 400, .body = "{\"errors\":[\"a very long message\"]}"};
	r.len = strlen(r.body);
	assert_string_equal(http_error_text(&r, buf, sizeof buf), "a very long mes");
	r = (struct http_result){.status = 503, .body = "", .len = 0};
	assert_string_equal(http_error_text(&r, buf, sizeof buf), "HTTP status 503");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_get_params_and_query, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_literal_beats_param, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_not_found, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_method_not_allowed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_patch_and_delete, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_raw_body, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_oversize_json_body, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_multipart_upload_exact, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_oversize_multipart, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_malformed_multipart, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_handler_sets_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fallback, setup_fallback, teardown),
	    cmocka_unit_test(test_connection_refused),
	    cmocka_unit_test_setup_teardown(test_listen_conflict, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_garbage_peer, setup_short_timeout, teardown),
	    cmocka_unit_test_setup_teardown(test_concurrent_clients, setup, teardown),
	    cmocka_unit_test(test_error_text),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
