/*
 * data_frame_exercise.h - runs data_frame_parse over a byte string the way a connection's
 * reader does (frame after frame until it needs more bytes or fails) and checks its
 * promises: a parsed frame stays inside the input, encodes back to exactly the bytes it was
 * parsed from, and every proper prefix of it asks for more; a failure always has a message.
 *
 * Shared by the libFuzzer driver (fuzz_data_frame.c) and the corpus replay in
 * tests/unit/network/test_remote.c, so that CI runs the same checks without libFuzzer.
 * A broken promise calls abort(), which both harnesses report as a failure.
 */
#ifndef SPATE_TESTS_DATA_FRAME_EXERCISE_H
#define SPATE_TESTS_DATA_FRAME_EXERCISE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "network/data_frame.h"

static void data_frame_check(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "data_frame_exercise: %s\n", what);
		abort();
	}
}

struct data_frame_outcome {
	int frames;  /* frames parsed */
	int last_rc; /* 0 (input ended on a frame boundary), SPATE_EAGAIN or SPATE_ECORRUPT */
	size_t used; /* bytes consumed by the parsed frames */
};

static struct data_frame_outcome data_frame_exercise(const uint8_t *data, size_t len)
{
	struct data_frame_outcome o = {0, 0, 0};
	static uint8_t enc[DATA_FRAME_MAX_BYTES];
	while (o.used < len) {
		struct data_frame f, g;
		size_t used = 0, used2 = 0;
		int rc = data_frame_parse(data + o.used, len - o.used, &f, &used);
		o.last_rc = rc;
		if (rc == SPATE_EAGAIN) {
			data_frame_check(used == 0, "need-more consumed bytes");
			return o;
		}
		if (rc != 0) {
			data_frame_check(rc == SPATE_ECORRUPT, "unexpected return code");
			data_frame_check(f.error && f.error[0], "error without message");
			data_frame_check(used == 0, "error consumed bytes");
			return o;
		}
		data_frame_check(used >= DATA_FRAME_HEADER_BYTES && used <= len - o.used,
		                 "frame outside the input");
		data_frame_check(used <= DATA_FRAME_MAX_BYTES, "frame larger than the maximum");
		if (f.type == DATA_BUFFER) {
			data_frame_check(f.payload_len <= BUFFER_SIZE, "payload too large");
			data_frame_check(f.payload >= data + o.used &&
			                     f.payload + f.payload_len == data + o.used + used,
			                 "payload outside the frame");
		}
		/* Encode again: the same bytes. */
		size_t n = data_frame_encode(&f, enc);
		if (f.type == DATA_BUFFER) {
			memcpy(enc + n, f.payload, f.payload_len);
			n += f.payload_len;
		}
		data_frame_check(n == used, "re-encoded length differs");
		data_frame_check(memcmp(enc, data + o.used, n) == 0, "re-encoded bytes differ");
		data_frame_check(data_frame_parse(enc, n, &g, &used2) == 0 && used2 == n,
		                 "re-encoded frame does not parse");
		data_frame_check(g.type == f.type && g.receiver == f.receiver &&
		                     g.credit == f.credit && g.backlog == f.backlog,
		                 "re-parsed fields differ");
		/* Proper prefixes need more bytes. */
		size_t prefixes[3] = {0, DATA_FRAME_HEADER_BYTES - 1, used - 1};
		for (int i = 0; i < 3; i++) {
			if (prefixes[i] >= used)
				continue;
			data_frame_check(data_frame_parse(enc, prefixes[i], &g, &used2) ==
			                     SPATE_EAGAIN,
			                 "prefix of a valid frame did not ask for more");
		}
		o.frames++;
		o.used += used;
	}
	o.last_rc = 0;
	return o;
}

#endif
