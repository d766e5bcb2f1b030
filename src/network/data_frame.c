/*
 * data_frame.c - encoding and parsing of data-plane frames (see data_frame.h for the
 * layout). Parsing is pure and bounds-checked: these bytes come from the network.
 */
#include "network/data_frame.h"

#include <string.h>

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static uint8_t *put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
	return p + 4;
}

const char *data_frame_type_name(int type)
{
	switch (type) {
	case DATA_HELLO:
		return "HELLO";
	case DATA_BUFFER:
		return "BUFFER";
	case DATA_PARTITION_REQUEST:
		return "PARTITION_REQUEST";
	case DATA_ADD_CREDIT:
		return "ADD_CREDIT";
	case DATA_CANCEL_PARTITION:
		return "CANCEL_PARTITION";
	default:
		return "unknown";
	}
}

/* Body bytes (after the type) of each fixed-size frame; 0 for BUFFER, -1 for unknown. */
static int body_bytes(int type)
{
	switch (type) {
	case DATA_HELLO:
		return 8;
	case DATA_BUFFER:
		return 0;
	case DATA_PARTITION_REQUEST:
		return 4 + 16 + 16 + 4;
	case DATA_ADD_CREDIT:
		return 8;
	case DATA_CANCEL_PARTITION:
		return 4;
	default:
		return -1;
	}
}

static int fail(struct data_frame *out, const char *why)
{
	out->error = why;
	return SPATE_ECORRUPT;
}

int data_frame_parse(const uint8_t *buf, size_t len, struct data_frame *out, size_t *consumed)
{
	memset(out, 0, sizeof *out);
	*consumed = 0;
	if (len < 4)
		return SPATE_EAGAIN;
	uint32_t length = get_u32(buf);
	if (length == 0)
		return fail(out, "empty frame");
	if (length > DATA_FRAME_MAX_LENGTH)
		return fail(out, "frame length too large");
	if (len < 5)
		return SPATE_EAGAIN;
	int type = buf[4];
	int body = body_bytes(type);
	if (body < 0)
		return fail(out, "unknown frame type");
	if (type == DATA_BUFFER) {
		if (length < 1 + DATA_FRAME_BUFFER_FIXED)
			return fail(out, "buffer frame too short");
	} else if (length != 1 + (uint32_t)body) {
		return fail(out, "wrong frame length for its type");
	}
	if (len < 4 + (size_t)length)
		return SPATE_EAGAIN;

	const uint8_t *p = buf + 5;
	out->type = (enum data_frame_type)type;
	switch (type) {
	case DATA_HELLO:
		out->magic = get_u32(p);
		out->version = get_u32(p + 4);
		break;
	case DATA_BUFFER: {
		out->receiver = get_u32(p);
		uint8_t kind = p[4];
		out->backlog = get_u32(p + 5);
		out->payload = p + DATA_FRAME_BUFFER_FIXED;
		out->payload_len = length - 1 - DATA_FRAME_BUFFER_FIXED;
		if (kind > BUF_BARRIER)
			return fail(out, "unknown buffer kind");
		out->kind = (enum buffer_kind)kind;
		if (out->kind == BUF_END_OF_PARTITION && out->payload_len != 0)
			return fail(out, "end-of-partition with a payload");
		if ((out->kind == BUF_SPAN || out->kind == BUF_BARRIER) && out->payload_len == 0)
			return fail(out, out->kind == BUF_SPAN ? "empty span buffer"
			                                       : "empty barrier buffer");
		break;
	}
	case DATA_PARTITION_REQUEST:
		out->receiver = get_u32(p);
		memcpy(out->partition.job_id, p + 4, 16);
		out->partition.vertex = get_u32(p + 20);
		out->partition.subtask = get_u32(p + 24);
		out->partition.output = get_u32(p + 28);
		out->partition.subpartition = get_u32(p + 32);
		out->credit = get_u32(p + 36);
		break;
	case DATA_ADD_CREDIT:
		out->receiver = get_u32(p);
		out->credit = get_u32(p + 4);
		if (out->credit == 0)
			return fail(out, "zero credit");
		break;
	case DATA_CANCEL_PARTITION:
		out->receiver = get_u32(p);
		break;
	}
	*consumed = 4 + (size_t)length;
	return 0;
}

size_t data_frame_encode(const struct data_frame *f, uint8_t *out)
{
	uint8_t *p = out + 5;
	uint32_t length;
	switch (f->type) {
	case DATA_HELLO:
		p = put_u32(p, f->magic);
		p = put_u32(p, f->version);
		break;
	case DATA_BUFFER:
		p = put_u32(p, f->receiver);
		*p++ = (uint8_t)f->kind;
		p = put_u32(p, f->backlog);
		break;
	case DATA_PARTITION_REQUEST:
		p = put_u32(p, f->receiver);
		memcpy(p, f->partition.job_id, 16);
		p += 16;
		p = put_u32(p, f->partition.vertex);
		p = put_u32(p, f->partition.subtask);
		p = put_u32(p, f->partition.output);
		p = put_u32(p, f->partition.subpartition);
		p = put_u32(p, f->credit);
		break;
	case DATA_ADD_CREDIT:
		p = put_u32(p, f->receiver);
		p = put_u32(p, f->credit);
		break;
	case DATA_CANCEL_PARTITION:
		p = put_u32(p, f->receiver);
		break;
	}
	length = (uint32_t)(p - out - 4);
	if (f->type == DATA_BUFFER)
		length += f->payload_len;
	put_u32(out, length);
	out[4] = (uint8_t)f->type;
	return (size_t)(p - out);
}
