/*
 * rpc.c - framing, handshake and socket helpers for the control plane (see rpc.h).
 */
#include "rpc/rpc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/log.h"
#include "runtime/local_job.h"

static void set_peer_name(struct rpc_conn *c)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof sa;
	if (getpeername(c->fd, (struct sockaddr *)&sa, &len) == 0 && sa.sin_family == AF_INET) {
		char ip[INET_ADDRSTRLEN];
		inet_ntop(AF_INET, &sa.sin_addr, ip, sizeof ip);
		snprintf(c->peer, sizeof c->peer, "%s:%u", ip, ntohs(sa.sin_port));
	} else {
		snprintf(c->peer, sizeof c->peer, "fd %d", c->fd);
	}
}

struct rpc_conn *rpc_conn_new(int fd)
{
	struct rpc_conn *c = xcalloc(1, sizeof *c);
	c->fd = fd;
	pthread_mutex_init(&c->write_mu, NULL);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	set_peer_name(c);
	return c;
}

void rpc_shutdown(struct rpc_conn *c)
{
	if (!atomic_exchange(&c->closed, true))
		shutdown(c->fd, SHUT_RDWR);
}

void rpc_conn_free(struct rpc_conn *c)
{
	if (!c)
		return;
	close(c->fd);
	pthread_mutex_destroy(&c->write_mu);
	xfree(c);
}

/* Resolves host (IPv4) into sa; "localhost" and names go through getaddrinfo. */
static int resolve(const char *host, int port, struct sockaddr_in *sa)
{
	memset(sa, 0, sizeof *sa);
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	if (!host || !*host || strcmp(host, "0.0.0.0") == 0) {
		sa->sin_addr.s_addr = htonl(INADDR_ANY);
		return 0;
	}
	if (inet_pton(AF_INET, host, &sa->sin_addr) == 1)
		return 0;
	struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res;
	if (getaddrinfo(host, NULL, &hints, &res) != 0)
		return -1;
	sa->sin_addr = ((struct sockaddr_in *)res->ai_addr)->sin_addr;
	freeaddrinfo(res);
	return 0;
}

struct rpc_conn *rpc_connect(const char *host, int port, int timeout_ms, struct spate_error *err)
{
	struct sockaddr_in sa;
	if (port < 1 || port > 65535) {
		error_set(err, SPATE_EINVAL, "cannot connect to %s:%d: bad port", host, port);
		return NULL;
	}
	if (resolve(host, port, &sa) < 0) {
		error_set(err, SPATE_EIO, "cannot connect to %s:%d: unknown host", host, port);
		return NULL;
	}
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		error_set(err, SPATE_EIO, "cannot connect to %s:%d: %s", host, port,
		          strerror(errno));
		return NULL;
	}
	int rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
	if (rc < 0 && errno == EINPROGRESS) {
		struct pollfd p = {.fd = fd, .events = POLLOUT};
		rc = poll(&p, 1, timeout_ms);
		if (rc == 0) {
			errno = ETIMEDOUT;
			rc = -1;
		} else if (rc > 0) {
			int e = 0;
			socklen_t len = sizeof e;
			getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len);
			errno = e;
			rc = e ? -1 : 0;
		}
	}
	if (rc < 0) {
		error_set(err, SPATE_EIO, "cannot connect to %s:%d: %s", host, port,
		          strerror(errno));
		close(fd);
		return NULL;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	return rpc_conn_new(fd);
}

int rpc_listen(const char *host, int port, int *bound, struct spate_error *err)
{
	struct sockaddr_in sa;
	if (port < 0 || port > 65535)
		return error_set(err, SPATE_EINVAL, "cannot listen on %s:%d: bad port", host, port);
	if (resolve(host, port, &sa) < 0)
		return error_set(err, SPATE_EIO, "cannot listen on %s:%d: unknown host", host,
		                 port);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return error_set(err, SPATE_EIO, "cannot listen on %s:%d: %s", host, port,
		                 strerror(errno));
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 128) < 0) {
		int e = errno;
		close(fd);
		return error_set(err, SPATE_EIO, "cannot listen on %s:%d: %s", host, port,
		                 strerror(e));
	}
	socklen_t len = sizeof sa;
	getsockname(fd, (struct sockaddr *)&sa, &len);
	*bound = ntohs(sa.sin_port);
	return fd;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int rpc_send(struct rpc_conn *c, const rpc_msg *m)
{
	size_t n = protobuf_c_message_get_packed_size(&m->base);
	if (n > RPC_MAX_FRAME)
		return SPATE_EINVAL;
	uint8_t *buf = xmalloc(n + 4);
	buf[0] = (uint8_t)(n >> 24);
	buf[1] = (uint8_t)(n >> 16);
	buf[2] = (uint8_t)(n >> 8);
	buf[3] = (uint8_t)n;
	protobuf_c_message_pack(&m->base, buf + 4);
	pthread_mutex_lock(&c->write_mu);
	int rc = atomic_load(&c->closed) ? -1 : write_all(c->fd, buf, n + 4);
	pthread_mutex_unlock(&c->write_mu);
	xfree(buf);
	return rc < 0 ? SPATE_EIO : 0;
}

int rpc_send_body(struct rpc_conn *c, Spate__Rpc__Envelope__BodyCase which, void *body)
{
	rpc_msg m = SPATE__RPC__ENVELOPE__INIT;
	m.body_case = which;
	switch (which) {
	case SPATE__RPC__ENVELOPE__BODY_HELLO:
		m.hello = body;
		break;
	case SPATE__RPC__ENVELOPE__BODY_REGISTER_TM:
		m.register_tm = body;
		break;
	case SPATE__RPC__ENVELOPE__BODY_REGISTRATION_REPLY:
		m.registration_reply = body;
		break;
	case SPATE__RPC__ENVELOPE__BODY_HEARTBEAT:
		m.heartbeat = body;
		break;
	case SPATE__RPC__ENVELOPE__BODY_DEPLOY:
		m.deploy = body;
		break;
	case SPATE__RPC__ENVELOPE__BODY_TASK_STATE:
		m.task_state = body;
		break;
	case SPATE__RPC__ENVELOPE__BODY_CANCEL_JOB:
		m.cancel_job = body;
		break;
	case SPATE__RPC__ENVELOPE__BODY_JOB_RELEASED:
		m.job_released = body;
		break;
	case SPATE__RPC__ENVELOPE__BODY_BLOB_REQUEST:
		m.blob_request = body;
		break;
	case SPATE__RPC__ENVELOPE__BODY_BLOB_REPLY:
		m.blob_reply = body;
		break;
	case SPATE__RPC__ENVELOPE__BODY_METRIC_REPORT:
		m.metric_report = body;
		break;
	case SPATE__RPC__ENVELOPE__BODY_LOG_REQUEST:
		m.log_request = body;
		break;
	case SPATE__RPC__ENVELOPE__BODY_LOG_REPLY:
		m.log_reply = body;
		break;
	case SPATE__RPC__ENVELOPE__BODY_TRIGGER_CHECKPOINT:
		m.trigger_checkpoint = body;
		break;
	case SPATE__RPC__ENVELOPE__BODY_NOTIFY_CHECKPOINT:
		m.notify_checkpoint = body;
		break;
	case SPATE__RPC__ENVELOPE__BODY_ACK_CHECKPOINT:
		m.ack_checkpoint = body;
		break;
	case SPATE__RPC__ENVELOPE__BODY_END_OF_INPUT:
		m.end_of_input = body;
		break;
	default:
		return SPATE_EINVAL;
	}
	return rpc_send(c, &m);
}

rpc_msg *rpc_decode(const uint8_t *buf, size_t len, char *why, size_t why_cap)
{
	rpc_msg *m = spate__rpc__envelope__unpack(NULL, len, buf);
	if (!m) {
		snprintf(why, why_cap, "undecodable message of %zu bytes", len);
		return NULL;
	}
	if (m->body_case == SPATE__RPC__ENVELOPE__BODY__NOT_SET) {
		snprintf(why, why_cap, "unknown message type");
		spate__rpc__envelope__free_unpacked(m, NULL);
		return NULL;
	}
	/* Our peers write canonical encodings; protobuf-c accepts some invalid ones (a field
	 * number 0 in a two-byte key) that would not survive re-encoding. */
	if (protobuf_c_message_get_packed_size(&m->base) != len) {
		snprintf(why, why_cap, "non-canonical message encoding of %zu bytes", len);
		spate__rpc__envelope__free_unpacked(m, NULL);
		return NULL;
	}
	return m;
}

void rpc_msg_free(rpc_msg *m)
{
	if (m)
		spate__rpc__envelope__free_unpacked(m, NULL);
}

/* Reads exactly n bytes before deadline_ms (< 0: no deadline); 1 ok, 0 closed, -1 error or
 * timeout. The deadline covers the whole read, so a peer trickling bytes cannot hold it. */
static int read_exact(struct rpc_conn *c, uint8_t *p, size_t n, int64_t deadline_ms, int timeout_ms,
                      char *why, size_t why_cap, bool first)
{
	size_t got = 0;
	while (got < n) {
		if (deadline_ms >= 0) {
			int64_t left = deadline_ms - now_ms();
			struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
			int r = left > 0 ? poll(&pfd, 1, (int)left) : 0;
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0) {
				snprintf(why, why_cap, "%s", strerror(errno));
				return -1;
			}
			if (r == 0) {
				snprintf(why, why_cap, "no message within %d ms", timeout_ms);
				return -1;
			}
		}
		ssize_t r = recv(c->fd, p + got, n - got, 0);
		if (r == 0) {
			if (got == 0 && first)
				snprintf(why, why_cap, "connection closed");
			else
				snprintf(why, why_cap, "truncated frame (connection closed)");
			return 0;
		}
		if (r < 0) {
			if (errno == EINTR)
				continue;
			snprintf(why, why_cap, "%s", strerror(errno));
			return -1;
		}
		got += (size_t)r;
	}
	return 1;
}

static rpc_msg *recv_limited(struct rpc_conn *c, int timeout_ms, uint32_t max, char *why,
                             size_t why_cap)
{
	int64_t deadline = timeout_ms >= 0 ? now_ms() + timeout_ms : -1;
	uint8_t hdr[4];
	if (read_exact(c, hdr, 4, deadline, timeout_ms, why, why_cap, true) <= 0)
		return NULL;
	uint32_t n =
	    (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
	if (n > max) {
		snprintf(why, why_cap, "frame length %u exceeds the limit of %u bytes", n, max);
		return NULL;
	}
	uint8_t *buf = xmalloc(n ? n : 1);
	if (read_exact(c, buf, n, deadline, timeout_ms, why, why_cap, false) <= 0) {
		xfree(buf);
		return NULL;
	}
	rpc_msg *m = rpc_decode(buf, n, why, why_cap);
	xfree(buf);
	return m;
}

rpc_msg *rpc_recv(struct rpc_conn *c, int timeout_ms, char *why, size_t why_cap)
{
	return recv_limited(c, timeout_ms, RPC_MAX_FRAME, why, why_cap);
}

int rpc_handshake(struct rpc_conn *c, const char *role, const char *name, int timeout_ms,
                  char *peer_name, size_t peer_cap, char *why, size_t why_cap)
{
	Spate__Rpc__Hello h = SPATE__RPC__HELLO__INIT;
	h.version = RPC_PROTOCOL_VERSION;
	h.role = (char *)role;
	h.name = (char *)name;
	if (rpc_send_body(c, SPATE__RPC__ENVELOPE__BODY_HELLO, &h) < 0) {
		snprintf(why, why_cap, "cannot send the handshake");
		return -1;
	}
	/* Before the handshake a peer is unknown: no large allocations on its word. */
	rpc_msg *m = recv_limited(c, timeout_ms, RPC_HANDSHAKE_MAX_FRAME, why, why_cap);
	if (!m)
		return -1;
	int rc = 0;
	if (m->body_case != SPATE__RPC__ENVELOPE__BODY_HELLO) {
		snprintf(why, why_cap, "expected a handshake, got message type %d", m->body_case);
		rc = -1;
	} else if (m->hello->version != RPC_PROTOCOL_VERSION) {
		snprintf(why, why_cap, "protocol version %u is not supported (this is %d)",
		         m->hello->version, RPC_PROTOCOL_VERSION);
		rc = -1;
	} else if (peer_name) {
		snprintf(peer_name, peer_cap, "%s", m->hello->name ? m->hello->name : "");
	}
	rpc_msg_free(m);
	return rc;
}

bool job_id_is_valid(const char *s)
{
	return s && strlen(s) == 32 && strspn(s, "0123456789abcdef") == 32;
}

void job_id_to_bytes(const char hex[33], uint8_t out[16])
{
	memset(out, 0, 16);
	if (strnlen(hex, 33) != 32)
		return;
	for (int i = 0; i < 16; i++) {
		unsigned v = 0;
		sscanf(hex + 2 * i, "%2x", &v);
		out[i] = (uint8_t)v;
	}
}

int job_id_from_bytes(ProtobufCBinaryData b, char out[33])
{
	if (b.len != 16)
		return -1;
	for (int i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", b.data[i]);
	return 0;
}
