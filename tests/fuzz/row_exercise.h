/*
 * row_exercise.h - reads every field of a row that row_validate accepted, the way an
 * operator or the print sink would, and checks that the reads agree with each other.
 *
 * Shared by the libFuzzer driver (fuzz_row_validate.c) and the corpus replay unit test
 * (tests/unit/types/test_row_corpus.c), so that CI runs the same checks without libFuzzer.
 * A disagreement calls abort(), which both harnesses report as a failure.
 */
#ifndef SPATE_TESTS_ROW_EXERCISE_H
#define SPATE_TESTS_ROW_EXERCISE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "types/keygroup.h"
#include "types/row.h"

static void row_exercise_check(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "row_exercise: %s\n", what);
		abort();
	}
}

/* Every field read through the accessors, and the row rebuilt through a builder with a
 * schema made from its tags: the copy must hold the same values. */
static void row_exercise(const spate_row *r, size_t len)
{
	static const char *names[] = {"",       "bool",   "int32", "int64",
	                              "double", "string", "bytes", "timestamp"};
	int nf = spate_row_field_count(r);
	char small[16];
	size_t need, n;

	row_exercise_check(spate_row_size(r) == len, "size");
	for (int i = -1; i <= nf; i++) {
		spate_type t = spate_row_type(r, i);
		const char *s = spate_row_str(r, i, &n);
		const void *b;
		if (s) {
			row_exercise_check(t == SPATE_STRING, "str type");
			row_exercise_check(s[n] == '\0', "str NUL");
		}
		b = spate_row_bytes(r, i, &n);
		if (b)
			row_exercise_check(((const char *)b)[n] == '\0', "bytes NUL");
		(void)spate_row_is_null(r, i);
		(void)spate_row_bool(r, i);
		(void)spate_row_i32(r, i);
		(void)spate_row_i64(r, i);
		(void)spate_row_double(r, i);
		(void)key_hash_field(r, i);
	}
	(void)key_hash_row(r);

	need = spate_row_format(r, NULL, 0);
	row_exercise_check(spate_row_format(r, small, sizeof small) == need, "format small");
	row_exercise_check(strlen(small) < sizeof small, "format NUL");
	char *big = malloc(need + 1);
	row_exercise_check(spate_row_format(r, big, need + 1) == need, "format big");
	free(big);

	if (nf < 1)
		return;
	size_t cap = (size_t)nf * 24 + 1, pos = 0;
	char *text = malloc(cap);
	for (int i = 0; i < nf; i++)
		pos += (size_t)snprintf(text + pos, cap - pos, "%sf%d:%s", i ? "," : "", i,
		                        names[spate_row_type(r, i)]);
	struct schema *schema = schema_parse(text, NULL);
	row_exercise_check(schema != NULL, "schema from tags");
	struct spate_row_builder builder;
	row_builder_init(&builder, schema);
	spate_row_copy(&builder, r);
	const spate_row *c = row_builder_finish(&builder, NULL);
	row_exercise_check(c != NULL, "copy");
	row_exercise_check(row_validate(c, spate_row_size(c)) == 0, "copy valid");
	for (int i = 0; i < nf; i++) {
		const void *a, *b;
		size_t la, lb;
		double da, db;
		row_exercise_check(spate_row_type(c, i) == spate_row_type(r, i), "copy type");
		row_exercise_check(spate_row_is_null(c, i) == spate_row_is_null(r, i), "copy null");
		row_exercise_check(spate_row_i64(c, i) == spate_row_i64(r, i), "copy i64");
		row_exercise_check(spate_row_i32(c, i) == spate_row_i32(r, i), "copy i32");
		row_exercise_check(spate_row_bool(c, i) == spate_row_bool(r, i), "copy bool");
		da = spate_row_double(c, i);
		db = spate_row_double(r, i);
		row_exercise_check(memcmp(&da, &db, sizeof da) == 0, "copy double");
		a = spate_row_str(c, i, &la);
		b = spate_row_str(r, i, &lb);
		row_exercise_check(!a == !b && la == lb && (!a || memcmp(a, b, la) == 0),
		                   "copy str");
		a = spate_row_bytes(c, i, &la);
		b = spate_row_bytes(r, i, &lb);
		row_exercise_check(!a == !b && la == lb && (!a || memcmp(a, b, la) == 0),
		                   "copy bytes");
		row_exercise_check(key_hash_field(c, i) == key_hash_field(r, i), "copy hash");
	}
	row_builder_release(&builder);
	schema_free(schema);
	free(text);
}

#endif
