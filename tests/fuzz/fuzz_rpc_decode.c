/*
 * fuzz_rpc_decode.c - libFuzzer driver for rpc_decode, which turns every control-plane
 * frame a JobManager or TaskManager receives into an Envelope (proto/rpc.proto).
 *
 * The input is one frame's payload (the bytes after the 4-byte length). It is copied into a
 * heap block of exactly its length, so ASan reports any read past the end. A payload that
 * decodes is packed again and the packed bytes decoded once more (rpc_exercise.h): the body
 * case must survive; a rejected payload must come with a reason.
 *
 * Run (the first directory receives new inputs, so the stored corpus stays small):
 *   mkdir -p /tmp/rpc_decode
 *   ./build-fuzz/fuzz/fuzz_rpc_decode -max_total_time=60 /tmp/rpc_decode \
 *       tests/fuzz/corpus/rpc_decode
 * libspate itself is only coverage-instrumented if the fuzz build also gets
 * -DCMAKE_C_FLAGS=-fsanitize=fuzzer-no-link; without it the fuzzer is nearly blind.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rpc_exercise.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* an exact-size copy, so reads past the end are caught by ASan */
	uint8_t *copy = malloc(size ? size : 1);
	if (size)
		memcpy(copy, data, size);
	(void)rpc_exercise(copy, size);
	free(copy);
	return 0;
}
