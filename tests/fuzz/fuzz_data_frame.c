/*
 * fuzz_data_frame.c - libFuzzer driver for the data-plane frame parser (data_frame.h).
 *
 * Every byte a TaskManager's data port receives comes from the network, so the parser must
 * turn any bytes into frames, a request for more bytes, or an error with a message, without
 * reading outside its input. The checks are in data_frame_exercise.h (shared with the corpus
 * replay in tests/unit/network/test_remote.c).
 *
 * Run (the first directory receives new inputs, so the stored corpus stays small):
 *   mkdir -p /tmp/data_frame
 *   ./build-fuzz/fuzz/fuzz_data_frame -max_total_time=60 /tmp/data_frame \
 *       tests/fuzz/corpus/data_frame
 * libspate itself is only coverage-instrumented if the fuzz build also gets
 * -DCMAKE_C_FLAGS=-fsanitize=fuzzer-no-link; without it the fuzzer is nearly blind.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "data_frame_exercise.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* an exact-size copy, so reads past the end are caught by ASan */
	uint8_t *copy = malloc(size ? size : 1);
	memcpy(copy, data, size);
	(void)data_frame_exercise(copy, size);
	free(copy);
	return 0;
}
