/*
 * rpc_exercise.h - runs one frame payload through rpc_decode the way rpc_recv does and
 * checks its promises: a rejection always says why; an envelope that decodes has a known
 * body, packs again (get_packed_size agrees with pack), and the packed bytes decode to an
 * envelope with the same body case and the same packed size.
 *
 * Shared by the libFuzzer driver (fuzz_rpc_decode.c) and the corpus replay in
 * tests/unit/rpc/test_rpc.c, so that CI runs the same checks without libFuzzer.
 * A broken promise calls abort(), which both harnesses report as a failure.
 */
#ifndef SPATE_TESTS_RPC_EXERCISE_H
#define SPATE_TESTS_RPC_EXERCISE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/rpc.h"

static void rpc_exercise_check(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "rpc_exercise: %s\n", what);
		abort();
	}
}

/* 1 if the payload decoded (and survived the re-pack round trip), 0 if it was rejected. */
static inline int rpc_exercise(const uint8_t *data, size_t len)
{
	char why[256];
	why[0] = '\0';
	rpc_msg *m = rpc_decode(data, len, why, sizeof why);
	if (!m) {
		rpc_exercise_check(why[0] != '\0', "rejection without a reason");
		return 0;
	}
	rpc_exercise_check(m->body_case != SPATE__RPC__ENVELOPE__BODY__NOT_SET,
	                   "decoded envelope without a body");

	size_t n = protobuf_c_message_get_packed_size(&m->base);
	/* one guard byte past the end: pack must write exactly n bytes */
	uint8_t *buf = malloc(n + 1);
	rpc_exercise_check(buf != NULL, "out of memory");
	buf[n] = 0xa5;
	rpc_exercise_check(protobuf_c_message_pack(&m->base, buf) == n, "pack size");
	rpc_exercise_check(buf[n] == 0xa5, "pack wrote past its size");

	/* an exact-size copy, so reads past the end are caught by ASan */
	uint8_t *copy = malloc(n ? n : 1);
	rpc_exercise_check(copy != NULL, "out of memory");
	memcpy(copy, buf, n);
	char why2[256];
	why2[0] = '\0';
	rpc_msg *m2 = rpc_decode(copy, n, why2, sizeof why2);
	if (!m2)
		fprintf(stderr, "rpc_exercise: re-decode failed: %s\n", why2);
	rpc_exercise_check(m2 != NULL, "re-packed envelope does not decode");
	rpc_exercise_check(m2->body_case == m->body_case, "body case changed");
	rpc_exercise_check(protobuf_c_message_get_packed_size(&m2->base) == n,
	                   "packed size changed");
	rpc_msg_free(m2);
	free(copy);
	free(buf);
	rpc_msg_free(m);
	return 1;
}

#endif
