/*
 * test_http.c - the REST server's router and limits and the CLI's HTTP client, against each
 * other: a real server on 127.0.0.1 (ephemeral port) called by the real client, plus a raw
 * TCP peer where the client cannot say what is needed (garbage bytes, headers, malformed
 * multipart, bearer tokens, long URLs, slow or many connections). Expected values come from
 * the test's own data, never from the server.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
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
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "client/http_client.h"
#include "core/alloc.h"
#include "rest/http_server.h"

#define MAX_BODY ((size_t)2 << 20)   /* the test server's body limit, bytes */
#define TOKEN "t0k3n-Abc.123"        /* the bearer token of the authenticated fixture */
#define FILE_BYTES ((size_t)3 << 20) /* the file GET /file streams, bytes */

/* What the upload handler saw, copied out of the request for the test thread to check. */
struct captured_part {
	char *name, *filename;
	uint8_t *data;
	size_t len;
};

/* How a fixture's server is set up; zero is the default server. */
struct fixture_opts {
	bool fallback;
	unsigned int timeout_s;                   /* 0: the default */
	unsigned int header_timeout_s;            /* 0: the default */
	unsigned int body_timeout_s;              /* 0: the default */
	const char *token;                        /* NULL: no authentication */
	unsigned int max_connections, max_per_ip; /* 0 and 0: the defaults */
};

struct fixture {
	struct http_server *server;
	char base[64]; /* "127.0.0.1:<port>" */
	int port;
	char file_path[64]; /* guarded by: mu; the file GET /file streams, "" until made */
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

/* Answers {"got": <the body>} for a JSON object body; 400 otherwise (http_request_json_object). */
static void h_json(void *arg, const struct http_request *req, struct http_response *resp)
{
	json_t *j = http_request_json_object(req, resp);
	if (j)
		http_respond_json(resp, 200, json_pack("{s:o}", "got", j));
}

/* Streams the fixture's file; ?then=error replaces that with a 404 (the file is closed). */
static void h_file(void *arg, const struct http_request *req, struct http_response *resp)
{
	struct fixture *f = arg;
	pthread_mutex_lock(&f->mu);
	int fd = open(f->file_path, O_RDONLY | O_CLOEXEC);
	pthread_mutex_unlock(&f->mu);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0) {
		http_respond_error(resp, 500, "cannot open the test file");
		return;
	}
	http_respond_file(resp, 200, fd, (uint64_t)st.st_size, "application/octet-stream");
	const char *then = http_query(req, "then");
	if (then && strcmp(then, "error") == 0)
		http_respond_error(resp, 404, "replaced");
}

static void h_fallback(void *arg, const struct http_request *req, struct http_response *resp)
{
	resp->status = 200;
	resp->content_type = "text/html; charset=UTF-8";
	resp->body = xasprintf("<p>%s</p>", req->path);
	resp->body_len = strlen(resp->body);
}

/* ---- fixture ------------------------------------------------------------------------- */

static struct fixture *fixture_start_opts(const struct fixture_opts *o)
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
	http_server_route(f->server, "POST", "/json", h_json, f);
	http_server_route(f->server, "GET", "/file", h_file, f);
	if (o->fallback)
		http_server_fallback(f->server, h_fallback, f);
	if (o->timeout_s)
		http_server_set_timeout(f->server, o->timeout_s);
	if (o->header_timeout_s)
		http_server_set_header_timeout(f->server, o->header_timeout_s);
	if (o->body_timeout_s)
		http_server_set_body_timeout(f->server, o->body_timeout_s);
	if (o->token)
		http_server_set_auth_token(f->server, o->token);
	if (o->max_connections)
		http_server_set_connection_limits(f->server, o->max_connections, o->max_per_ip);
	int rc = http_server_start(f->server, &err);
	if (rc != 0)
		fail_msg("http_server_start: %s", err.msg);
	f->port = http_server_port(f->server);
	assert_true(f->port > 0 && f->port < 65536);
	snprintf(f->base, sizeof f->base, "127.0.0.1:%d", f->port);
	return f;
}

static struct fixture *fixture_start(bool with_fallback, unsigned int timeout_s)
{
	struct fixture_opts o = {.fallback = with_fallback, .timeout_s = timeout_s};
	return fixture_start_opts(&o);
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

/* Every request needs "Authorization: Bearer TOKEN"; the fallback is there too. */
static int setup_auth(void **state)
{
	struct fixture_opts o = {.fallback = true, .token = TOKEN};
	*state = fixture_start_opts(&o);
	return 0;
}

/* Request headers must arrive within 2 s. */
static int setup_header_timeout(void **state)
{
	struct fixture_opts o = {.header_timeout_s = 2};
	*state = fixture_start_opts(&o);
	return 0;
}

/* Request bodies must arrive within 2 s of their headers. */
static int setup_body_timeout(void **state)
{
	struct fixture_opts o = {.body_timeout_s = 2};
	*state = fixture_start_opts(&o);
	return 0;
}

/* At most 3 connections from one address, 8 in all. */
static int setup_small_limits(void **state)
{
	struct fixture_opts o = {.max_connections = 8, .max_per_ip = 3};
	*state = fixture_start_opts(&o);
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	http_server_free(f->server);
	if (f->file_path[0])
		unlink(f->file_path);
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

/* ---- hardening: raw helpers ---------------------------------------------------------- */

/* Connects to the server from source address src ("127.0.0.2"); returns the socket, or -1
 * when src cannot be bound here. */
static int raw_connect_from(int port, const char *src)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	struct sockaddr_in me = {.sin_family = AF_INET};
	assert_int_equal(inet_pton(AF_INET, src, &me.sin_addr), 1);
	if (bind(fd, (struct sockaddr *)&me, sizeof me) != 0) {
		close(fd);
		return -1;
	}
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	struct timeval tv = {.tv_sec = 10};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	return fd;
}

/* The status code of a raw answer, 0 when there is none. */
static int raw_status_of(const char *out, ssize_t n)
{
	int status = 0;
	if (n >= 12 && sscanf(out, "HTTP/1.1 %d", &status) == 1)
		return status;
	return 0;
}

/* Sends a request made of head (request line and headers, "\r\n"-separated, without the
 * blank line) plus "Connection: close" and returns the status; out gets the answer. */
static int raw_request(int port, const char *head, char *out, size_t cap)
{
	size_t n = strlen(head) + 64;
	char *req = xmalloc(n);
	int len = snprintf(req, n, "%s\r\nConnection: close\r\n\r\n", head);
	ssize_t got = raw_exchange(port, req, (size_t)len, out, cap);
	xfree(req);
	assert_int_not_equal(got, RAW_TIMEOUT);
	return raw_status_of(out, got);
}

/* The server still answers a normal request. */
static void assert_serving(struct fixture *f)
{
	long status;
	json_t *j = call_json(f, "GET", "/jobs/still-serving", NULL, &status);
	assert_int_equal(status, 200);
	assert_string_equal(jstr(j, "jobid"), "still-serving");
	json_decref(j);
}

static int64_t elapsed_ms(const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (int64_t)(t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

/* ---- hardening: authentication ------------------------------------------------------- */

static void test_auth_rejects_without_token(void **state)
{
	struct fixture *f = *state;
	char out[4096];
	/* Every kind of request: a route, a :param route, a 405, a 404, the fallback. */
	const char *heads[] = {
	    "GET /jobs HTTP/1.1\r\nHost: x",
	    "GET /jobs/j1/vertices/v1?parallelism=2 HTTP/1.1\r\nHost: x",
	    "PUT /jobs HTTP/1.1\r\nHost: x",
	    "POST /nothing/here HTTP/1.1\r\nHost: x",
	    "GET /web/index.html HTTP/1.1\r\nHost: x",
	    "HEAD /jobs HTTP/1.1\r\nHost: x",
	    "BREW /jobs HTTP/1.1\r\nHost: x",
	};
	for (size_t i = 0; i < sizeof heads / sizeof *heads; i++) {
		int status = raw_request(f->port, heads[i], out, sizeof out);
		if (status != 401)
			fail_msg("'%s': status %d, expected 401:\n%s", heads[i], status, out);
		assert_non_null(strstr(out, "\r\nWWW-Authenticate: Bearer"));
		if (strncmp(heads[i], "HEAD", 4) != 0)
			assert_non_null(strstr(out, "{\"errors\":[\"authentication required"));
		assert_null(strstr(out, "route"));
		assert_null(strstr(out, "<p>"));
	}

	/* The CLI's client, which sends no token, gets the 401 as a status. */
	struct http_result res;
	struct spate_error err = {0};
	assert_int_equal(http_call(f->base, "GET", "/jobs", NULL, &res, &err), 0);
	assert_int_equal(res.status, 401);
	http_result_release(&res);
}

static void test_auth_wrong_tokens(void **state)
{
	struct fixture *f = *state;
	const char *values[] = {
	    "Bearer",
	    "Bearer ",
	    "Bearer t0k3n-Abc.12",   /* a prefix */
	    "Bearer t0k3n-Abc.1234", /* longer */
	    "Bearer t0k3n-Abc.124",  /* last byte differs */
	    "Bearer T0k3n-Abc.123",  /* first byte differs: tokens are case-sensitive */
	    "Bearer t0k3n-Abc.123 x",
	    "Basic t0k3n-Abc.123",
	    "Bearert0k3n-Abc.123",
	    "t0k3n-Abc.123",
	    "",
	};
	char head[256], out[4096];
	for (size_t i = 0; i < sizeof values / sizeof *values; i++) {
		snprintf(head, sizeof head, "GET /jobs HTTP/1.1\r\nHost: x\r\nAuthorization: %s",
		         values[i]);
		int status = raw_request(f->port, head, out, sizeof out);
		if (status != 401)
			fail_msg("Authorization '%s': status %d, expected 401", values[i], status);
	}
}

static void test_auth_accepts_token(void **state)
{
	struct fixture *f = *state;
	char out[4096];
	const char *heads[] = {
	    "GET /jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " TOKEN,
	    "GET /jobs HTTP/1.1\r\nHost: x\r\nAuthorization: bearer " TOKEN,
	    "GET /jobs HTTP/1.1\r\nHost: x\r\nAuthorization: BEARER   " TOKEN,
	};
	for (size_t i = 0; i < sizeof heads / sizeof *heads; i++) {
		int status = raw_request(f->port, heads[i], out, sizeof out);
		if (status != 200)
			fail_msg("'%s': status %d, expected 200:\n%s", heads[i], status, out);
		assert_non_null(strstr(out, "{\"route\":\"jobs\"}"));
		assert_null(strstr(out, "WWW-Authenticate"));
	}
	/* With the token, routing is as without authentication: 404, 405, the fallback. */
	int status = raw_request(
	    f->port, "POST /nothing HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " TOKEN, out,
	    sizeof out);
	assert_int_equal(status, 404);
	status =
	    raw_request(f->port, "PUT /jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " TOKEN,
	                out, sizeof out);
	assert_int_equal(status, 405);
	assert_non_null(strstr(out, "Allow: GET\r\n"));
	status = raw_request(f->port,
	                     "GET /web/a.js HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " TOKEN,
	                     out, sizeof out);
	assert_int_equal(status, 200);
	assert_non_null(strstr(out, "<p>/web/a.js</p>"));
}

static void test_auth_body_never_reaches_handler(void **state)
{
	struct fixture *f = *state;
	/* A multipart upload without the token: 401, and the handler never runs. */
	uint8_t data[3000];
	fill_pattern(data, sizeof data, 5);
	struct http_upload part = {
	    .name = "jarfile", .filename = "x.so", .data = data, .len = sizeof data};
	struct http_result res;
	struct spate_error err = {0};
	int rc = http_post_multipart(f->base, "/jars/upload", &part, 1, &res, &err);
	if (rc != 0)
		fail_msg("upload: %s", err.msg);
	assert_int_equal(res.status, 401);
	http_result_release(&res);

	/* A body larger than the body limit: 401 (not 413: nothing is said before auth). */
	size_t n = MAX_BODY + 10;
	char *big = xmalloc(n + 1);
	memset(big, 'x', n);
	big[n] = '\0';
	/* The server answers before the body is in and closes; the client, still sending, may
	 * see the reset before it reads the 401. Either way no 413 and no handler. */
	if (http_call(f->base, "POST", "/echo", big, &res, &err) == 0) {
		assert_int_equal(res.status, 401);
		http_result_release(&res);
	}
	xfree(big);

	pthread_mutex_lock(&f->mu);
	assert_int_equal(f->nparts, 0);
	pthread_mutex_unlock(&f->mu);

	/* A small raw body: read and dropped, then the 401. */
	char out[4096];
	const char req[] = "POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
	                   "Content-Length: 5\r\n\r\nhello";
	ssize_t got = raw_exchange(f->port, req, sizeof req - 1, out, sizeof out);
	assert_int_equal(raw_status_of(out, got), 401);
}

static void test_no_auth_by_default(void **state)
{
	struct fixture *f = *state;
	char out[4096];
	/* Without a token set, an Authorization header is ignored. */
	int status =
	    raw_request(f->port, "GET /jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer whatever",
	                out, sizeof out);
	assert_int_equal(status, 200);
}

/* ---- hardening: URL, headers, NUL ---------------------------------------------------- */

/* "GET /jobs/<pad> HTTP/1.1" with a path of total_len bytes. */
static char *long_url_request(size_t path_len)
{
	char *req = xmalloc(path_len + 128);
	int n = snprintf(req, 128, "GET /jobs/");
	memset(req + n, 'a', path_len - 6);
	snprintf(req + n + path_len - 6, 128, " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
	return req;
}

static void test_long_url(void **state)
{
	struct fixture *f = *state;
	char out[8192];
	/* Exactly at the limit: routed (one :param of 8186 bytes). */
	char *req = long_url_request(HTTP_SERVER_MAX_URL_BYTES);
	ssize_t n = raw_exchange(f->port, req, strlen(req), out, sizeof out);
	assert_int_equal(raw_status_of(out, n), 200);
	assert_non_null(strstr(out, "\"route\":\"job\""));
	xfree(req);

	/* One byte over: 414 with Flink's error body. */
	req = long_url_request(HTTP_SERVER_MAX_URL_BYTES + 1);
	n = raw_exchange(f->port, req, strlen(req), out, sizeof out);
	assert_int_equal(raw_status_of(out, n), 414);
	char want[128];
	snprintf(want, sizeof want, "{\"errors\":[\"request URL is longer than %d bytes\"]}",
	         HTTP_SERVER_MAX_URL_BYTES);
	assert_non_null(strstr(out, want));
	xfree(req);

	/* Larger than the connection's memory: an error status or a close, never a hang. */
	req = long_url_request(HTTP_SERVER_MEMORY_BYTES + 1000);
	n = raw_exchange(f->port, req, strlen(req), out, sizeof out);
	assert_int_not_equal(n, RAW_TIMEOUT);
	if (n > 0) {
		int st = raw_status_of(out, n);
		if (st != 414 && st != 431)
			fail_msg("a %d byte URL: status %d:\n%.200s",
			         HTTP_SERVER_MEMORY_BYTES + 1000, st, out);
	}
	xfree(req);
	assert_serving(f);
}

static void test_too_many_headers(void **state)
{
	struct fixture *f = *state;
	/* Host and Connection (added by raw_request) plus extra X- headers. */
	char *head = xmalloc(64 * 1024);
	char out[4096];
	for (int extra = HTTP_SERVER_MAX_HEADERS - 2; extra <= HTTP_SERVER_MAX_HEADERS - 1;
	     extra++) {
		int len = snprintf(head, 64, "GET /jobs HTTP/1.1\r\nHost: x");
		for (int i = 0; i < extra; i++)
			len += snprintf(head + len, 64, "\r\nX-h%d: %d", i, i);
		int status = raw_request(f->port, head, out, sizeof out);
		int want = extra + 2 <= HTTP_SERVER_MAX_HEADERS ? 200 : 431;
		if (status != want)
			fail_msg("%d headers: status %d, expected %d", extra + 2, status, want);
	}
	assert_non_null(strstr(out, "request has more than 100 header fields"));

	/* One header larger than the connection's memory: 431 or a close, never a hang. */
	int len = snprintf(head, 64, "GET /jobs HTTP/1.1\r\nHost: x\r\nX-big: ");
	memset(head + len, 'b', 40 * 1024);
	head[len + 40 * 1024] = '\0';
	int status = raw_request(f->port, head, out, sizeof out);
	assert_true(status == 431 || status == 0);
	xfree(head);
	assert_serving(f);
}

static void test_encoded_nul(void **state)
{
	struct fixture *f = *state;
	char out[4096];
	const char *heads[] = {
	    "GET /jobs/abc%00def HTTP/1.1\r\nHost: x",
	    "GET /jobs/abc%00 HTTP/1.1\r\nHost: x",
	    "GET /jobs/j1/vertices/v1?parallelism=4%00x HTTP/1.1\r\nHost: x",
	    "GET /%00/jobs HTTP/1.1\r\nHost: x",
	};
	for (size_t i = 0; i < sizeof heads / sizeof *heads; i++) {
		int status = raw_request(f->port, heads[i], out, sizeof out);
		if (status != 400)
			fail_msg("'%s': status %d, expected 400:\n%s", heads[i], status, out);
		assert_non_null(strstr(out, "encoded NUL byte"));
	}
	/* A raw NUL byte inside the request line: 400, not the route of the part before it. */
	const char raw[] = "GET /jobs/ab\0cd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	ssize_t n = raw_exchange(f->port, raw, sizeof raw - 1, out, sizeof out);
	assert_int_equal(raw_status_of(out, n), 400);
	assert_non_null(strstr(out, "malformed request line"));
	/* Not HTTP/1.x: 400 from us or 505 from MHD, never the route. */
	const char *versions[] = {"GET /jobs HTTP/2.0\r\nHost: x", "GET /jobs HTTQ/1.1\r\nHost: x",
	                          "GET /jobs\r\nHost: x"};
	for (size_t i = 0; i < sizeof versions / sizeof *versions; i++) {
		int status = raw_request(f->port, versions[i], out, sizeof out);
		if (status != 400 && status != 505)
			fail_msg("'%s': status %d, expected 400 or 505", versions[i], status);
	}
	assert_serving(f);
}

static void test_decoded_once(void **state)
{
	struct fixture *f = *state;
	long status;
	/* A double-encoded slash is decoded once: the param holds "%2f", not '/'. */
	json_t *j = call_json(f, "GET", "/jobs/..%252f..%252fetc%252fpasswd", NULL, &status);
	assert_int_equal(status, 200);
	assert_string_equal(jstr(j, "jobid"), "..%2f..%2fetc%2fpasswd");
	json_decref(j);
	/* An encoded slash separates segments like '/', so no :param ever holds one. */
	j = call_json(f, "GET", "/jobs/..%2f..%2fetc%2fpasswd", NULL, &status);
	assert_int_equal(status, 404);
	json_decref(j);
	j = call_json(f, "GET", "/jobs/a%2Fb/vertices/c", NULL, &status);
	assert_int_equal(status, 404);
	json_decref(j);
	/* "%2e%2e" is "..", passed as a plain segment: the handler must judge it. */
	j = call_json(f, "GET", "/jobs/%2e%2e", NULL, &status);
	assert_int_equal(status, 200);
	assert_string_equal(jstr(j, "jobid"), "..");
	json_decref(j);
}

/* ---- hardening: methods -------------------------------------------------------------- */

static void test_unknown_methods(void **state)
{
	struct fixture *f = *state;
	char out[4096];
	struct {
		const char *head;
		int status;
		const char *allow; /* expected Allow header, NULL for none */
	} cases[] = {
	    {"BREW /jobs HTTP/1.1\r\nHost: x", 405, "Allow: GET\r\n"},
	    {"get /jobs HTTP/1.1\r\nHost: x", 405, "Allow: GET\r\n"},
	    {"OPTIONS /jobs/j1 HTTP/1.1\r\nHost: x", 405, "Allow: GET, PATCH, DELETE\r\n"},
	    {"TRACE /jobs/j1 HTTP/1.1\r\nHost: x", 405, "Allow: GET, PATCH, DELETE\r\n"},
	    {"BREW /nothing HTTP/1.1\r\nHost: x", 404, NULL},
	    {"DELETE /jobs HTTP/1.1\r\nHost: x", 405, "Allow: GET\r\n"},
	    {"HEAD /jobs HTTP/1.1\r\nHost: x", 200, NULL},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		int status = raw_request(f->port, cases[i].head, out, sizeof out);
		if (status != cases[i].status)
			fail_msg("'%s': status %d, expected %d:\n%s", cases[i].head, status,
			         cases[i].status, out);
		if (cases[i].allow)
			assert_non_null(strstr(out, cases[i].allow));
		else
			assert_null(strstr(out, "Allow:"));
	}
	/* HEAD answers GET's headers without the body. */
	raw_request(f->port, "HEAD /jobs HTTP/1.1\r\nHost: x", out, sizeof out);
	assert_null(strstr(out, "route"));
	/* A very long method name is just another unknown method. */
	char head[2048];
	memset(head, 'M', 1000);
	snprintf(head + 1000, sizeof head - 1000, " /jobs HTTP/1.1\r\nHost: x");
	assert_int_equal(raw_request(f->port, head, out, sizeof out), 405);
	assert_serving(f);
}

/* ---- hardening: bodies --------------------------------------------------------------- */

/* Sends a multipart request with the given Content-Type value and body; returns the status
 * (0 for a close without an answer). */
static int raw_multipart(int port, const char *content_type, const char *body, size_t body_len,
                         size_t declared_len)
{
	char head[512], out[4096];
	int hlen = snprintf(head, sizeof head,
	                    "POST /jars/upload HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
	                    "Content-Type: %s\r\nContent-Length: %zu\r\n\r\n",
	                    content_type, declared_len);
	char *req = xmalloc((size_t)hlen + body_len);
	memcpy(req, head, (size_t)hlen);
	memcpy(req + hlen, body, body_len);
	int fd = raw_send(port, req, (size_t)hlen + body_len);
	xfree(req);
	if (declared_len > body_len)
		shutdown(fd, SHUT_WR); /* the rest of the body never comes */
	ssize_t n = raw_read_all(fd, out, sizeof out);
	assert_int_not_equal(n, RAW_TIMEOUT);
	return raw_status_of(out, n);
}

static void test_malformed_multipart_more(void **state)
{
	struct fixture *f = *state;
	const char *part = "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nabc\r\n";
	const char *whole =
	    "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nabc\r\n--XyZ--\r\n";
	struct {
		const char *what, *ct, *body;
		int status; /* 0: a close without an answer is expected */
	} cases[] = {
	    {"empty boundary", "multipart/form-data; boundary=", whole, 400},
	    {"boundary never closed", "multipart/form-data; boundary=XyZ", part, 400},
	    {"no part at all", "multipart/form-data; boundary=XyZ", "just some bytes\r\n", 400},
	    {"other boundary", "multipart/form-data; boundary=Other", whole, 400},
	    {"no part, only the closing boundary", "multipart/form-data; boundary=XyZ",
	     "--XyZ--\r\n", 400},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		size_t len = strlen(cases[i].body);
		int status = raw_multipart(f->port, cases[i].ct, cases[i].body, len, len);
		if (status != cases[i].status)
			fail_msg("%s: status %d, expected %d", cases[i].what, status,
			         cases[i].status);
	}
	/* A part header longer than the post processor's buffer. */
	size_t big = 64 * 1024;
	char *body = xmalloc(big + 256);
	int n = snprintf(body, 64, "--XyZ\r\nContent-Disposition: form-data; name=\"");
	memset(body + n, 'n', big);
	n += (int)big;
	n += snprintf(body + n, 128, "\"\r\n\r\nabc\r\n--XyZ--\r\n");
	int status =
	    raw_multipart(f->port, "multipart/form-data; boundary=XyZ", body, (size_t)n, (size_t)n);
	assert_true(status == 400 || status == 200);
	xfree(body);

	/* A truncated body: the client stops sending and half-closes. A close, not a hang. */
	status =
	    raw_multipart(f->port, "multipart/form-data; boundary=XyZ", whole, 20, strlen(whole));
	assert_true(status == 0 || status == 400);

	pthread_mutex_lock(&f->mu);
	for (int i = 0; i < f->nparts; i++) /* only the well-formed (empty) case may arrive */
		assert_true(f->parts[i].len == 0 || strcmp(f->parts[i].name, "n") != 0);
	pthread_mutex_unlock(&f->mu);
	assert_serving(f);
}

static void test_malformed_json(void **state)
{
	struct fixture *f = *state;
	struct {
		const char *body, *error; /* error NULL: accepted */
	} cases[] = {
	    {"{\"a\":1}", NULL},
	    {"{bad", "malformed JSON body: "},
	    {"[1,2]", "malformed JSON body: expected a JSON object"},
	    {"\"text\"", "malformed JSON body: expected a JSON object"},
	    {"{\"a\":1} trailing", "malformed JSON body: "},
	    {"{\"a\":\"\\u0000\"}", "malformed JSON body: "},
	    {"\xff\xfe{}", "malformed JSON body: "},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		long status;
		json_t *j = call_json(f, "POST", "/json", cases[i].body, &status);
		if (!cases[i].error) {
			assert_int_equal(status, 200);
			assert_int_equal(
			    json_integer_value(json_object_get(json_object_get(j, "got"), "a")), 1);
		} else {
			if (status != 400)
				fail_msg("body '%s': status %ld, expected 400", cases[i].body,
				         status);
			if (strncmp(first_error(j), cases[i].error, strlen(cases[i].error)) != 0)
				fail_msg("body '%s': error '%s', expected '%s...'", cases[i].body,
				         first_error(j), cases[i].error);
		}
		json_decref(j);
	}
	/* No body at all. */
	long status;
	json_t *j = call_json(f, "POST", "/json", NULL, &status);
	assert_int_equal(status, 400);
	assert_string_equal(first_error(j), "malformed JSON body: the request has no body");
	json_decref(j);

	/* Nesting deeper than the parser allows: 400, no stack overflow. */
	size_t depth = 200000;
	char *deep = xmalloc(2 * depth + 1);
	memset(deep, '[', depth);
	memset(deep + depth, ']', depth);
	deep[2 * depth] = '\0';
	j = call_json(f, "POST", "/json", deep, &status);
	assert_int_equal(status, 400);
	json_decref(j);
	xfree(deep);
	assert_serving(f);
}

/* ---- hardening: slow and many connections -------------------------------------------- */

static void test_slowloris(void **state)
{
	struct fixture *f = *state;
	/* A client that sends one header line every 300 ms: never idle, never done. */
	int fd = raw_send(f->port, "GET /jobs HTTP/1.1\r\nHost: x\r\n", 28);
	struct timeval tv = {.tv_sec = 0, .tv_usec = 1000};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	char out[4096];
	ssize_t got = 0;
	bool closed = false;
	for (int i = 0; !closed && elapsed_ms(&t0) < 10000; i++) {
		char line[32];
		int len = snprintf(line, sizeof line, "X-slow-%d: x\r\n", i);
		if (send(fd, line, (size_t)len, MSG_NOSIGNAL) < 0)
			closed = true;
		/* Others are served meanwhile. */
		assert_serving(f);
		ssize_t n = recv(fd, out + got, sizeof out - 1 - (size_t)got, 0);
		if (n > 0)
			got += n;
		else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
			closed = true;
		if (!closed)
			usleep(300 * 1000); /* the client's pace, not a wait for the server */
	}
	int64_t ms = elapsed_ms(&t0);
	close(fd);
	out[got] = '\0';
	if (!closed)
		fail_msg("a slowloris client kept its connection for %lld ms", (long long)ms);
	/* Not before the 2 s header timeout, and not much after it. */
	assert_true(ms >= 1500);
	assert_true(ms < 8000);
	if (got > 0) {
		assert_int_equal(raw_status_of(out, got), 408);
		assert_non_null(strstr(out, "request headers not received within 2 s"));
	}
	assert_serving(f);
}

/* A client that sends its headers at once, then its body one byte every 300 ms: never idle,
 * never done. The body deadline ends it with a 408 while others are served. */
static void test_slow_body(void **state)
{
	struct fixture *f = *state;
	const char *head = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
	                   "Content-Length: 100000\r\n\r\n";
	int fd = raw_send(f->port, head, strlen(head));
	struct timeval tv = {.tv_sec = 0, .tv_usec = 1000};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	char out[4096];
	ssize_t got = 0;
	bool closed = false;
	while (!closed && elapsed_ms(&t0) < 10000) {
		if (send(fd, "b", 1, MSG_NOSIGNAL) < 0)
			closed = true;
		assert_serving(f);
		ssize_t n = recv(fd, out + got, sizeof out - 1 - (size_t)got, 0);
		if (n > 0)
			got += n;
		else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
			closed = true;
		if (!closed)
			usleep(300 * 1000); /* the client's pace, not a wait for the server */
	}
	int64_t ms = elapsed_ms(&t0);
	close(fd);
	out[got] = '\0';
	if (!closed)
		fail_msg("a client trickling its body kept its connection for %lld ms",
		         (long long)ms);
	assert_true(ms >= 1500);
	assert_true(ms < 8000);
	if (got > 0) {
		assert_int_equal(raw_status_of(out, got), 408);
		assert_non_null(strstr(out, "request body not received within 2 s"));
	}
	assert_serving(f);
}

static void test_idle_keepalive_closed_quietly(void **state)
{
	struct fixture *f = *state;
	/* One complete request on a keep-alive connection, then silence: the server answers it
	 * and, after the header timeout, closes without a 408 the client could misread. */
	const char req[] = "GET /jobs HTTP/1.1\r\nHost: x\r\n\r\n";
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	char out[4096];
	ssize_t n = raw_exchange(f->port, req, sizeof req - 1, out, sizeof out);
	assert_true(n > 0);
	assert_int_equal(raw_status_of(out, n), 200);
	assert_null(strstr(out, "408"));
	assert_true(elapsed_ms(&t0) >= 1500);
}

static void test_per_ip_limit(void **state)
{
	struct fixture *f = *state;
	/* Three idle connections from 127.0.0.2 take its whole share. */
	int held[3];
	for (int i = 0; i < 3; i++) {
		held[i] = raw_connect_from(f->port, "127.0.0.2");
		if (held[i] < 0) {
			for (int k = 0; k < i; k++)
				close(held[k]);
			skip(); /* 127.0.0.2 cannot be bound on this machine */
		}
	}
	/* A fourth from the same address is closed at once, with no answer. */
	int fd = raw_connect_from(f->port, "127.0.0.2");
	assert_true(fd >= 0);
	const char req[] = "GET /jobs HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	send(fd, req, sizeof req - 1, MSG_NOSIGNAL);
	char out[4096];
	ssize_t n = raw_read_all(fd, out, sizeof out);
	assert_true(n == 0 || n == RAW_RESET);

	/* Another address is served meanwhile. */
	assert_serving(f);

	/* Once they go, 127.0.0.2 is served again (bounded poll: MHD notices the closes). */
	for (int i = 0; i < 3; i++)
		close(held[i]);
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int status = 0;
	while (status != 200 && elapsed_ms(&t0) < 5000) {
		fd = raw_connect_from(f->port, "127.0.0.2");
		send(fd, req, sizeof req - 1, MSG_NOSIGNAL);
		n = raw_read_all(fd, out, sizeof out);
		status = raw_status_of(out, n);
		if (status != 200)
			usleep(20 * 1000);
	}
	assert_int_equal(status, 200);
}

static void test_connection_limit(void **state)
{
	struct fixture *f = *state;
	/* Eight idle connections from three addresses fill the server... */
	const char *srcs[] = {"127.0.0.3", "127.0.0.4", "127.0.0.5"};
	int held[8];
	for (int i = 0; i < 8; i++) {
		held[i] = raw_connect_from(f->port, srcs[i % 3]);
		if (held[i] < 0) {
			for (int k = 0; k < i; k++)
				close(held[k]);
			skip();
		}
	}
	/* ...so a ninth is refused an answer (closed, or left waiting in the backlog). */
	int fd =
	    raw_send(f->port, "GET /jobs HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 48);
	struct timeval tv = {.tv_sec = 1};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	char out[4096];
	ssize_t n = raw_read_all(fd, out, sizeof out);
	assert_true(n == 0 || n == RAW_RESET || n == RAW_TIMEOUT);
	for (int i = 0; i < 8; i++)
		close(held[i]);
	/* Served again once they are gone. */
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int status = 0;
	while (status != 200 && elapsed_ms(&t0) < 5000) {
		status = raw_request(f->port, "GET /jobs HTTP/1.1\r\nHost: x", out, sizeof out);
		if (status != 200)
			usleep(20 * 1000);
	}
	assert_int_equal(status, 200);
}

/* ---- files --------------------------------------------------------------------------- */

static int count_open_fds(void)
{
	int n = 0;
	for (int fd = 0; fd < 4096; fd++)
		if (fcntl(fd, F_GETFD) != -1)
			n++;
	return n;
}

static void test_respond_file(void **state)
{
	struct fixture *f = *state;
	pthread_mutex_lock(&f->mu);
	snprintf(f->file_path, sizeof f->file_path, "/tmp/spate-test-http-XXXXXX");
	int fd = mkstemp(f->file_path);
	pthread_mutex_unlock(&f->mu);
	assert_true(fd >= 0);
	uint8_t *data = xmalloc(FILE_BYTES);
	fill_pattern(data, FILE_BYTES, 777);
	assert_int_equal(write(fd, data, FILE_BYTES), (ssize_t)FILE_BYTES);
	close(fd);
	xfree(data);

	struct http_result res;
	struct spate_error err = {0};
	assert_int_equal(http_call(f->base, "GET", "/file", NULL, &res, &err), 0);
	assert_int_equal(res.status, 200);
	assert_int_equal(res.len, FILE_BYTES);
	uint8_t *want = xmalloc(FILE_BYTES);
	fill_pattern(want, FILE_BYTES, 777);
	assert_int_equal(memcmp(res.body, want, FILE_BYTES), 0);
	xfree(want);
	http_result_release(&res);

	/* A response that replaces the file closes it: no descriptor is left behind. */
	int before = count_open_fds();
	for (int i = 0; i < 20; i++) {
		assert_int_equal(http_call(f->base, "GET", "/file?then=error", NULL, &res, &err),
		                 0);
		assert_int_equal(res.status, 404);
		http_result_release(&res);
	}
	assert_true(count_open_fds() <= before + 2);
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
	    cmocka_unit_test_setup_teardown(test_auth_rejects_without_token, setup_auth, teardown),
	    cmocka_unit_test_setup_teardown(test_auth_wrong_tokens, setup_auth, teardown),
	    cmocka_unit_test_setup_teardown(test_auth_accepts_token, setup_auth, teardown),
	    cmocka_unit_test_setup_teardown(test_auth_body_never_reaches_handler, setup_auth,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_no_auth_by_default, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_long_url, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_too_many_headers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_encoded_nul, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_decoded_once, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unknown_methods, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_malformed_multipart_more, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_malformed_json, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_slowloris, setup_header_timeout, teardown),
	    cmocka_unit_test_setup_teardown(test_slow_body, setup_body_timeout, teardown),
	    cmocka_unit_test_setup_teardown(test_idle_keepalive_closed_quietly,
	                                    setup_header_timeout, teardown),
	    cmocka_unit_test_setup_teardown(test_per_ip_limit, setup_small_limits, teardown),
	    cmocka_unit_test_setup_teardown(test_connection_limit, setup_small_limits, teardown),
	    cmocka_unit_test_setup_teardown(test_respond_file, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
