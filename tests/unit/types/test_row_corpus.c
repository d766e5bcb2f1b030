/*
 * test_row_corpus.c - replays the stored fuzz corpus of row_validate without libFuzzer.
 *
 * Every file under tests/fuzz/corpus/row_validate goes through the same steps as the
 * fuzz driver (validate, then read, print and copy a valid row: row_exercise.h), so CI
 * exercises the decoder on every build, under ASan in the sanitizer build. Seeds named
 * valid_* and invalid_* were written by hand from the layout in row.h and must be
 * accepted and rejected respectively; files the fuzzer adds only have to not crash.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fuzz/row_exercise.h"
#include "types/row.h"
#include "unit/corpus.h"

static void check_seed(const char *name, enum corpus_kind kind, const uint8_t *data, size_t len)
{
	int rc = row_validate(data, len);
	if (kind == CORPUS_VALID && rc != 0)
		fail_msg("seed '%s' was rejected", name);
	if (kind == CORPUS_INVALID && rc != SPATE_ECORRUPT)
		fail_msg("seed '%s' was accepted", name);
	if (rc == 0)
		row_exercise((const spate_row *)data, len);
}

static void test_corpus(void **state)
{
	int counts[CORPUS_KINDS];
	corpus_replay("row_validate", check_seed, counts);
	assert_true(counts[CORPUS_VALID] >= 5);
	assert_true(counts[CORPUS_INVALID] >= 5);
}

static void test_valid_seed_values(void **state)
{
	/* One seed checked value by value, to show the hand-written encoder and ours agree. */
	const char *src = getenv("SPATE_SRC");
	char path[PATH_MAX];
	size_t len, n;
	snprintf(path, sizeof path, "%s/tests/fuzz/corpus/row_validate/valid_all_types",
	         src ? src : ".");
	uint8_t *row = corpus_read_file(path, &len);
	const spate_row *r = (const spate_row *)row;
	assert_int_equal(row_validate(row, len), 0);
	assert_int_equal(spate_row_field_count(r), 7);
	assert_true(spate_row_bool(r, 0));
	assert_int_equal(spate_row_i32(r, 1), -5);
	assert_int_equal(spate_row_i64(r, 2), INT64_C(1) << 40);
	assert_true(spate_row_double(r, 3) == 0.1);
	assert_string_equal(spate_row_str(r, 4, &n), "h\xc3\xa9llo \xf0\x9f\x98\x80");
	assert_int_equal(n, 11);
	assert_memory_equal(spate_row_bytes(r, 5, &n), "\x00\xff\x10", 3);
	assert_int_equal(n, 3);
	assert_int_equal(spate_row_i64(r, 6), 1700000000000);
	char buf[128];
	spate_row_format(r, buf, sizeof buf);
	assert_string_equal(buf, "(true,-5,1099511627776,0.1,h\xc3\xa9llo \xf0\x9f\x98\x80,00ff10,"
	                         "2023-11-14T22:13:20.000)");
	free(row);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_corpus),
	    cmocka_unit_test(test_valid_seed_values),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
