/*
 * http_client.c - blocking REST calls from the CLI to the JobManager over libcurl (see
 * http_client.h). Each call makes its own easy handle, so calls from several threads do not
 * share state; libcurl's global initialisation runs once, under pthread_once. Signals are
 * off (CURLOPT_NOSIGNAL) because the CLI may call from any thread, and an unreachable
 * JobManager fails within the connect timeout rather than hanging.
 */
#include "client/http_client.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "core/alloc.h"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc; /* written once under curl_once */

static void curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* The response body as it arrives. */
struct sink {
	char *buf;     /* xmalloc'd, NUL-terminated when not NULL */
	size_t len;    /* bytes */
	size_t cap;    /* bytes allocated */
	bool overflow; /* more than HTTP_CLIENT_MAX_RESPONSE_BYTES */
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct sink *s = arg;
	size_t n = size * nmemb;
	if (s->len + n > HTTP_CLIENT_MAX_RESPONSE_BYTES) {
		s->overflow = true;
		return 0; /* makes curl fail with CURLE_WRITE_ERROR */
	}
	if (s->len + n + 1 > s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 1024;
		while (cap < s->len + n + 1)
			cap *= 2;
		s->buf = xrealloc(s->buf, cap);
		s->cap = cap;
	}
	memcpy(s->buf + s->len, data, n);
	s->len += n;
	s->buf[s->len] = '\0';
	return n;
}

/* A borrowed upload buffer read by curl's mime machinery, without copying it. */
struct upload_src {
	const char *data;
	size_t len, pos; /* bytes */
};

static size_t on_upload_read(char *buf, size_t size, size_t nitems, void *arg)
{
	struct upload_src *u = arg;
	size_t n = size * nitems;
	if (n > u->len - u->pos)
		n = u->len - u->pos;
	memcpy(buf, u->data + u->pos, n);
	u->pos += n;
	return n;
}

static int on_upload_seek(void *arg, curl_off_t offset, int origin)
{
	struct upload_src *u = arg;
	if (origin != SEEK_SET || offset < 0 || (size_t)offset > u->len)
		return CURL_SEEKFUNC_CANTSEEK;
	u->pos = (size_t)offset;
	return CURL_SEEKFUNC_OK;
}

static char *auth_header; /* "Authorization: Bearer <token>", or NULL */

void http_client_set_token(const char *token)
{
	xfree(auth_header);
	auth_header = token && *token ? xasprintf("Authorization: Bearer %s", token) : NULL;
}

/* Appends the Authorization header when a token is set. false when out of memory. */
static bool add_auth(struct curl_slist **hdrs)
{
	if (!auth_header)
		return true;
	struct curl_slist *tmp = curl_slist_append(*hdrs, auth_header);
	if (tmp)
		*hdrs = tmp;
	return tmp != NULL;
}

static char *make_url(const char *base, const char *path)
{
	size_t n = strlen(base);
	while (n > 0 && base[n - 1] == '/')
		n--;
	return xasprintf("%s%.*s%s%s", strstr(base, "://") ? "" : "http://", (int)n, base,
	                 path[0] == '/' ? "" : "/", path);
}

/* Options every call shares. */
static int easy_setup(CURL *h, const char *url, struct sink *sink, char *errbuf)
{
	CURLcode rc = CURLE_OK;
#define SET(opt, val)                                       \
	do {                                                \
		if (rc == CURLE_OK)                         \
			rc = curl_easy_setopt(h, opt, val); \
	} while (0)
	SET(CURLOPT_URL, url);
	SET(CURLOPT_ERRORBUFFER, errbuf);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_CONNECTTIMEOUT_MS, HTTP_CLIENT_CONNECT_TIMEOUT_MS);
	SET(CURLOPT_TIMEOUT_MS, HTTP_CLIENT_TIMEOUT_MS);
	SET(CURLOPT_WRITEFUNCTION, on_body);
	SET(CURLOPT_WRITEDATA, sink);
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	/* A proxy from the environment must not stand between the CLI and a local cluster. */
	SET(CURLOPT_NOPROXY, "localhost,127.0.0.1,::1");
	SET(CURLOPT_USERAGENT, "spate-cli");
#undef SET
	return rc == CURLE_OK ? 0 : -1;
}

/* Runs the prepared call and turns the outcome into out or err. */
static int perform(CURL *h, const char *base, const char *method, const char *path,
                   struct sink *sink, const char *errbuf, struct http_result *out,
                   struct spate_error *err)
{
	CURLcode rc = curl_easy_perform(h);
	if (rc == CURLE_OK) {
		long status = 0;
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
		out->status = status;
		out->body = sink->buf ? sink->buf : xstrdup("");
		out->len = sink->len;
		sink->buf = NULL;
		return 0;
	}

	const char *reason = errbuf[0] ? errbuf : curl_easy_strerror(rc);
	char ebuf[128];
	long os_errno = 0;
	curl_off_t connect_us = 0;
	curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &os_errno);
	curl_easy_getinfo(h, CURLINFO_CONNECT_TIME_T, &connect_us);
	switch (rc) {
	case CURLE_COULDNT_CONNECT:
		/* curl's message names its own category; the system's reason is clearer. */
		if (os_errno)
			reason = strerror_r((int)os_errno, ebuf, sizeof ebuf);
		/* fall through */
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return error_set(err, SPATE_ECONNECT, "cannot reach the JobManager at %s: %s", base,
		                 reason);
	case CURLE_OPERATION_TIMEDOUT:
		if (connect_us == 0)
			return error_set(err, SPATE_ECONNECT,
			                 "cannot reach the JobManager at %s: %s", base, reason);
		return error_set(err, SPATE_EIO,
		                 "no answer to '%s %s' from the JobManager at %s within %ld s",
		                 method, path, base, HTTP_CLIENT_TIMEOUT_MS / 1000);
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
		return error_set(err, SPATE_EINVAL, "invalid JobManager address '%s': %s", base,
		                 reason);
	case CURLE_WRITE_ERROR:
		if (sink->overflow)
			return error_set(
			    err, SPATE_EIO,
			    "the answer to '%s %s' from the JobManager at %s is larger "
			    "than %zu bytes",
			    method, path, base, HTTP_CLIENT_MAX_RESPONSE_BYTES);
		/* fall through */
	default:
		return error_set(err, SPATE_EIO, "'%s %s' to the JobManager at %s failed: %s",
		                 method, path, base, reason);
	}
}

static int check_args(const char *base, const char *path, struct http_result *out,
                      struct spate_error *err)
{
	memset(out, 0, sizeof *out);
	pthread_once(&curl_once, curl_init);
	if (curl_init_rc != CURLE_OK)
		return error_set(err, SPATE_EIO, "cannot initialise libcurl: %s",
		                 curl_easy_strerror(curl_init_rc));
	if (!base || !*base)
		return error_set(err, SPATE_EINVAL, "invalid JobManager address ''");
	if (!path)
		return error_set(err, SPATE_EINVAL, "no REST path given");
	return 0;
}

int http_call(const char *base, const char *method, const char *path, const char *json_body,
              struct http_result *out, struct spate_error *err)
{
	int rc = check_args(base, path, out, err);
	if (rc < 0)
		return rc;
	char errbuf[CURL_ERROR_SIZE] = "";
	struct sink sink = {0};
	struct curl_slist *hdrs = NULL, *tmp;
	char *url = make_url(base, path);
	CURL *h = curl_easy_init();
	if (!h || easy_setup(h, url, &sink, errbuf) < 0) {
		rc = error_set(err, SPATE_ENOMEM, "cannot set up a call to the JobManager");
		goto out;
	}
	bool ok = (tmp = curl_slist_append(hdrs, "Accept: application/json")) != NULL;
	hdrs = ok ? tmp : hdrs;
	if (json_body) {
		if (ok && (tmp = curl_slist_append(hdrs, "Content-Type: application/json")))
			hdrs = tmp;
		else
			ok = false;
		/* No "Expect: 100-continue" round trip before the body. */
		if (ok && (tmp = curl_slist_append(hdrs, "Expect:")))
			hdrs = tmp;
		else
			ok = false;
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, json_body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(json_body));
		if (strcmp(method, "POST") != 0)
			curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	} else if (strcmp(method, "GET") == 0) {
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	} else if (strcmp(method, "HEAD") == 0) {
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	} else if (strcmp(method, "POST") == 0) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
	} else {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	}
	if (!ok || !add_auth(&hdrs)) {
		rc = error_set(err, SPATE_ENOMEM, "cannot set up a call to the JobManager");
		goto out;
	}
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	rc = perform(h, base, method, path, &sink, errbuf, out, err);
out:
	if (h)
		curl_easy_cleanup(h);
	curl_slist_free_all(hdrs);
	xfree(sink.buf);
	xfree(url);
	return rc;
}

int http_post_multipart(const char *base, const char *path, const struct http_upload *parts,
                        int nparts, struct http_result *out, struct spate_error *err)
{
	int rc = check_args(base, path, out, err);
	if (rc < 0)
		return rc;
	char errbuf[CURL_ERROR_SIZE] = "";
	struct sink sink = {0};
	struct curl_slist *hdrs = NULL, *tmp;
	curl_mime *mime = NULL;
	struct upload_src *srcs = xcalloc(nparts > 0 ? nparts : 1, sizeof *srcs);
	char *url = make_url(base, path);
	CURL *h = curl_easy_init();
	if (!h || easy_setup(h, url, &sink, errbuf) < 0 || !(mime = curl_mime_init(h)))
		goto setup_failed;
	for (int i = 0; i < nparts; i++) {
		curl_mimepart *p = curl_mime_addpart(mime);
		srcs[i] = (struct upload_src){.data = parts[i].data, .len = parts[i].len};
		if (!p || curl_mime_name(p, parts[i].name) != CURLE_OK ||
		    curl_mime_data_cb(p, (curl_off_t)parts[i].len, on_upload_read, on_upload_seek,
		                      NULL, &srcs[i]) != CURLE_OK ||
		    (parts[i].filename && curl_mime_filename(p, parts[i].filename) != CURLE_OK) ||
		    (parts[i].content_type && curl_mime_type(p, parts[i].content_type) != CURLE_OK))
			goto setup_failed;
	}
	if (!(tmp = curl_slist_append(hdrs, "Accept: application/json")))
		goto setup_failed;
	hdrs = tmp;
	/* No "Expect: 100-continue" round trip before the body. */
	if (!(tmp = curl_slist_append(hdrs, "Expect:")))
		goto setup_failed;
	hdrs = tmp;
	if (!add_auth(&hdrs))
		goto setup_failed;
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_MIMEPOST, mime);
	rc = perform(h, base, "POST", path, &sink, errbuf, out, err);
	goto out;
setup_failed:
	rc = error_set(err, SPATE_ENOMEM, "cannot set up an upload to the JobManager");
out:
	if (h)
		curl_easy_cleanup(h);
	curl_mime_free(mime);
	curl_slist_free_all(hdrs);
	xfree(sink.buf);
	xfree(srcs);
	xfree(url);
	return rc;
}

void http_result_release(struct http_result *r)
{
	if (!r)
		return;
	xfree(r->body);
	memset(r, 0, sizeof *r);
}

const char *http_error_text(const struct http_result *r, char *buf, size_t cap)
{
	if (!buf || cap == 0)
		return buf;
	const char *text = r->body;
	json_t *j = NULL;
	if (r->body && r->len > 0) {
		j = json_loadb(r->body, r->len, 0, NULL);
		json_t *first = json_array_get(json_object_get(j, "errors"), 0);
		if (json_is_string(first))
			text = json_string_value(first);
	}
	while (text && (*text == ' ' || *text == '\t' || *text == '\r' || *text == '\n'))
		text++;
	size_t n = text ? strcspn(text, "\r\n") : 0;
	if (n == 0) {
		snprintf(buf, cap, "HTTP status %ld", r->status);
	} else {
		if (n > cap - 1)
			n = cap - 1;
		memcpy(buf, text, n);
		buf[n] = '\0';
	}
	json_decref(j);
	return buf;
}
