/*
 * data_frame.h - the wire format of the data plane: the frames two TaskManagers exchange
 * over their data connection (see netenv.h for who sends what when).
 *
 * Every frame is a 5-byte header followed by a body; integers are big-endian:
 *
 *   u32 length   bytes after this field (type + body), at most DATA_FRAME_MAX_LENGTH
 *   u8  type     enum data_frame_type
 *
 *   HELLO              u32 magic (DATA_PROTOCOL_MAGIC), u32 version          both ways, first
 *   BUFFER             u32 receiver, u8 kind (enum buffer_kind), u32 backlog,
 *                      payload (length - 10 bytes, at most BUFFER_SIZE)      producer -> consumer
 *   PARTITION_REQUEST  u32 receiver, partition_id (16-byte job id, u32 vertex, u32 subtask,
 *                      u32 output, u32 subpartition), u32 initial credit   consumer -> producer
 *   ADD_CREDIT         u32 receiver, u32 credit (> 0)                        consumer -> producer
 *   CANCEL_PARTITION   u32 receiver                                          consumer -> producer
 *
 * `receiver` names an input channel of the consumer on this connection (Flink's
 * InputChannelID): the consumer picks it in its partition request and the producer tags
 * every buffer of that subpartition with it.
 *
 * data_frame_parse is a pure function over untrusted bytes (tests/fuzz/fuzz_data_frame.c
 * drives it directly): it checks the structure of one frame (lengths, type, kind, sizes);
 * what a frame means on a connection (handshake first, credit, known receivers) is checked
 * by the connection (netenv.c).
 */
#ifndef SPATE_NETWORK_DATA_FRAME_H
#define SPATE_NETWORK_DATA_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/network.h"

#define DATA_PROTOCOL_MAGIC 0x53504454u /* "SPDT" */
#define DATA_PROTOCOL_VERSION 1u

#define DATA_FRAME_HEADER_BYTES 5 /* u32 length + u8 type */
#define DATA_FRAME_BUFFER_FIXED 9 /* receiver + kind + backlog, before the payload */
#define DATA_FRAME_CONTROL_MAX 64 /* bytes of the largest frame other than BUFFER */
#define DATA_FRAME_MAX_LENGTH (1 + DATA_FRAME_BUFFER_FIXED + BUFFER_SIZE)
#define DATA_FRAME_MAX_BYTES (4 + DATA_FRAME_MAX_LENGTH)

/* Names one subpartition of one job's result partition. */
struct partition_id {
	uint8_t job_id[16];
	uint32_t vertex;       /* producer job vertex index */
	uint32_t subtask;      /* producer subtask index */
	uint32_t output;       /* which result partition of the producer (job_vertex.outputs) */
	uint32_t subpartition; /* index in that result partition's subs[] */
};

enum data_frame_type {
	DATA_HELLO = 1,
	DATA_BUFFER = 2,
	DATA_PARTITION_REQUEST = 3,
	DATA_ADD_CREDIT = 4,
	DATA_CANCEL_PARTITION = 5,
};

struct data_frame {
	enum data_frame_type type;
	uint32_t receiver;             /* all but HELLO */
	uint32_t magic;                /* HELLO */
	uint32_t version;              /* HELLO */
	enum buffer_kind kind;         /* BUFFER */
	uint32_t backlog;              /* BUFFER: buffers queued behind this one */
	const uint8_t *payload;        /* BUFFER: borrowed from the parsed bytes */
	uint32_t payload_len;          /* BUFFER: bytes, <= BUFFER_SIZE */
	struct partition_id partition; /* PARTITION_REQUEST */
	uint32_t credit;               /* PARTITION_REQUEST (initial), ADD_CREDIT */
	const char *error;             /* set when parsing failed: a static message */
};

/*
 * Parses the frame at the start of buf[0..len). Returns 0 with *out filled and *consumed set
 * to the frame's size; SPATE_EAGAIN when buf holds only a prefix of a valid frame (read
 * more); SPATE_ECORRUPT when no bytes appended to buf can make it valid, with out->error
 * saying why. Never reads outside buf[0..len).
 */
int data_frame_parse(const uint8_t *buf, size_t len, struct data_frame *out, size_t *consumed);

/*
 * Encodes f into out (at least DATA_FRAME_CONTROL_MAX bytes); returns the bytes written.
 * For a BUFFER frame only the header and fixed fields are written: the frame's length
 * counts f->payload_len more bytes, which the caller sends right after (f->payload is not
 * read).
 */
size_t data_frame_encode(const struct data_frame *f, uint8_t *out);

const char *data_frame_type_name(int type);

#endif
