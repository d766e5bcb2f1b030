/*
 * fuzz_row_validate.c - libFuzzer driver for row_validate, the gate every row from the
 * network or a checkpoint passes before operators read it in place.
 *
 * The input is copied into a heap block of exactly its length (malloc aligns to 16, as
 * row_validate requires 8), so ASan reports any read past the end. A row that validates
 * is then read field by field, printed and copied (row_exercise.h): validation must
 * guarantee that all of that stays inside the row.
 *
 * Run (the first directory receives new inputs, so the stored corpus stays small):
 *   mkdir -p /tmp/row_validate
 *   ./build-fuzz/fuzz/fuzz_row_validate -max_total_time=60 /tmp/row_validate
 * tests/fuzz/corpus/row_validate libspate itself is only coverage-instrumented if the fuzz build
 * also gets -DCMAKE_C_FLAGS=-fsanitize=fuzzer-no-link; without it the fuzzer is nearly blind.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "row_exercise.h"
#include "types/row.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *buf = malloc(size ? size : 1);
	if (size)
		memcpy(buf, data, size);
	if (row_validate(buf, size) == 0)
		row_exercise((const spate_row *)buf, size);
	free(buf);
	return 0;
}
