/*
 * rpc.h - the control plane's connections: length-prefixed protobuf frames over TCP.
 *
 * A frame is a 4-byte big-endian length followed by one Envelope (proto/rpc.proto). Frames
 * longer than RPC_MAX_FRAME are refused before anything is allocated. Both peers start with
 * a Hello carrying RPC_PROTOCOL_VERSION; a peer that sends anything else first, another
 * version, or nothing within the handshake timeout is disconnected with one log line.
 *
 * Threads: one thread reads a connection (rpc_recv); any thread may send (rpc_send takes
 * the connection's write mutex, so frames never interleave). rpc_shutdown() may be called
 * from any thread to make a blocked reader return; the fd is closed by rpc_conn_free, after
 * the reader has stopped.
 */
#ifndef SPATE_RPC_RPC_H
#define SPATE_RPC_RPC_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "proto/rpc.pb-c.h"

#define RPC_PROTOCOL_VERSION 1
#define RPC_MAX_FRAME (256u << 20)          /* job libraries travel in one frame */
#define RPC_HANDSHAKE_MAX_FRAME (64u << 10) /* the first frame, from a peer not yet known */

typedef Spate__Rpc__Envelope rpc_msg;

struct rpc_conn {
	int fd;
	char peer[64]; /* "127.0.0.1:40312", for log lines */
	pthread_mutex_t write_mu;
	atomic_bool closed;
};

/* Wraps a connected socket (takes ownership of fd). */
struct rpc_conn *rpc_conn_new(int fd);
void rpc_conn_free(struct rpc_conn *c);
/* Makes a reader blocked in rpc_recv return (shutdown(2)); idempotent, any thread. */
void rpc_shutdown(struct rpc_conn *c);

/* Connects to host:port (timeout in ms). NULL with err "cannot connect to host:port: why". */
struct rpc_conn *rpc_connect(const char *host, int port, int timeout_ms, struct spate_error *err);
/* Listens on host:port (port 0 = ephemeral); returns the fd, *bound gets the port. */
int rpc_listen(const char *host, int port, int *bound, struct spate_error *err);

/* Sends one envelope; 0 or a negative code (the peer is gone). */
int rpc_send(struct rpc_conn *c, const rpc_msg *m);
/* Receives one envelope (free with rpc_msg_free). timeout_ms < 0 waits forever; otherwise
 * the whole frame must arrive within it. Returns NULL on close, timeout or a bad frame,
 * with `why` saying which. */
rpc_msg *rpc_recv(struct rpc_conn *c, int timeout_ms, char *why, size_t why_cap);
void rpc_msg_free(rpc_msg *m);

/* Decodes one frame's payload (pure, fuzzed): NULL with `why` on bad bytes, an envelope
 * with no known body, or an encoding that is not canonical (re-encoding would differ). */
rpc_msg *rpc_decode(const uint8_t *buf, size_t len, char *why, size_t why_cap);

/* Handshake: sends our Hello, expects the peer's within timeout_ms. 0, or -1 with why. */
int rpc_handshake(struct rpc_conn *c, const char *role, const char *name, int timeout_ms,
                  char *peer_name, size_t peer_cap, char *why, size_t why_cap);

/* Convenience: sends an envelope with one body case set. */
int rpc_send_body(struct rpc_conn *c, Spate__Rpc__Envelope__BodyCase which, void *body);

/* Job ids: 16 bytes <-> 32 lowercase hex chars. */
bool job_id_is_valid(const char *s);
void job_id_to_bytes(const char hex[33], uint8_t out[16]);
int job_id_from_bytes(ProtobufCBinaryData b, char out[33]);

#endif
