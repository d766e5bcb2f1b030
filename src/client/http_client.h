/*
 * http_client.h - the CLI's side of the REST API: one blocking HTTP call to the JobManager
 * per function call, over libcurl. Thread-safe: each call uses its own connection.
 *
 * An HTTP error status is not an error here: it comes back in out->status for the caller
 * to explain (http_error_text gives Flink's {"errors":[...]} message). The functions fail
 * only when no HTTP answer arrived: SPATE_ECONNECT when the JobManager cannot be reached
 * ("cannot reach the JobManager at 127.0.0.1:8081: Connection refused"), SPATE_EIO when the
 * exchange broke off or timed out, SPATE_EINVAL for a malformed address.
 */
#ifndef SPATE_CLIENT_HTTP_CLIENT_H
#define SPATE_CLIENT_HTTP_CLIENT_H

#include <stddef.h>

#include "core/error.h"

#define HTTP_CLIENT_CONNECT_TIMEOUT_MS 5000L /* give up connecting after this */
#define HTTP_CLIENT_TIMEOUT_MS 120000L       /* give up on the whole call after this */
#define HTTP_CLIENT_MAX_RESPONSE_BYTES ((size_t)256 << 20) /* larger answers are an error */

struct http_result {
	long status; /* HTTP status code */
	char *body;  /* owned, NUL-terminated (never NULL after a successful call) */
	size_t len;  /* bytes, not counting the NUL */
};

/* One multipart/form-data part. All pointers are borrowed for the duration of the call. */
struct http_upload {
	const char *name;         /* form field name */
	const char *filename;     /* NULL for a plain field */
	const void *data;         /* len bytes */
	size_t len;               /* bytes */
	const char *content_type; /* NULL for curl's default */
};

/*
 * Sends method path to the JobManager at base ("127.0.0.1:8081" or "http://host:port"),
 * with json_body (borrowed; sent as application/json) unless it is NULL. On success returns
 * 0 and fills out (release with http_result_release); on failure returns a negative SPATE_E*
 * code, fills err, and leaves out empty.
 */
/* Sends "Authorization: Bearer <token>" with every later call (rest.auth.token); NULL or
 * "" stops sending it. Call before any call is in flight (the CLI does at start-up). */
void http_client_set_token(const char *token);

int http_call(const char *base, const char *method, const char *path, const char *json_body,
              struct http_result *out, struct spate_error *err);

/* POSTs parts (borrowed) to path as multipart/form-data; otherwise as http_call. */
int http_post_multipart(const char *base, const char *path, const struct http_upload *parts,
                        int nparts, struct http_result *out, struct spate_error *err);

/* Frees the body and zeroes r; a zeroed or released result is fine. */
void http_result_release(struct http_result *r);

/*
 * For error reporting: the first entry of a Flink {"errors":[...]} body, else the raw body,
 * else "HTTP status N"; cut at the first line break and to cap bytes (NUL included). Writes
 * buf and returns it.
 */
const char *http_error_text(const struct http_result *r, char *buf, size_t cap);

#endif
