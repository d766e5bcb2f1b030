/*
 * test_row.c - schemas, the row builder, accessors, row_validate and printing.
 *
 * Oracles: the byte layout written out by hand from row.h, values kept in plain C arrays
 * for the randomized round trip, and Java's documented Double.toString output for the
 * print format. Rows handed to row_validate live in heap blocks of exactly their length,
 * so the ASan build catches any read past the end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#include <cmocka.h>

#include "types/row.h"

static struct schema *parse(const char *text)
{
	struct spate_error err = {0};
	struct schema *s = schema_parse(text, &err);
	if (!s)
		fail_msg("schema_parse('%s'): %s", text, err.msg);
	return s;
}

/* A copy of the row in a block of exactly its size (malloc aligns to 16). */
static uint8_t *dup_row(const spate_row *r)
{
	size_t n = spate_row_size(r);
	uint8_t *p = malloc(n);
	memcpy(p, r, n);
	return p;
}

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

/* ---- schemas -------------------------------------------------------------------------- */

static void test_schema_parse(void **state)
{
	struct schema *s = parse(" word : String , count:BIGINT,b:boolean,i:int, t:timestamp ");
	assert_int_equal(s->nfields, 5);
	assert_string_equal(s->fields[0].name, "word");
	assert_int_equal(s->fields[0].type, SPATE_STRING);
	assert_int_equal(s->fields[1].type, SPATE_INT64);
	assert_int_equal(s->fields[2].type, SPATE_BOOL);
	assert_int_equal(s->fields[3].type, SPATE_INT32);
	assert_int_equal(s->fields[4].type, SPATE_TIMESTAMP);
	assert_string_equal(s->text, "word:string,count:int64,b:bool,i:int32,t:timestamp");
	assert_int_equal(schema_field_index(s, "count"), 1);
	assert_int_equal(schema_field_index(s, "t"), 4);
	assert_int_equal(schema_field_index(s, "nope"), -1);

	struct schema *c = schema_clone(s);
	schema_free(s);
	assert_string_equal(c->text, "word:string,count:int64,b:bool,i:int32,t:timestamp");
	assert_string_equal(c->fields[4].name, "t");
	schema_free(c);
	schema_free(NULL);

	s = parse("a:int32,b:long,c:double,d:bytes,_e9:int64");
	assert_string_equal(s->text, "a:int32,b:int64,c:double,d:bytes,_e9:int64");
	schema_free(s);
	assert_string_equal(type_name(SPATE_BYTES), "bytes");
	assert_string_equal(type_name((spate_type)9), "?");
}

static void expect_schema_error(const char *text, const char *msg)
{
	struct spate_error err = {0};
	assert_null(schema_parse(text, &err));
	assert_int_equal(err.code, SPATE_EINVAL);
	assert_string_equal(err.msg, msg);
}

static void test_schema_errors(void **state)
{
	expect_schema_error("a:strnig", "bad schema 'a:strnig': unknown type 'strnig'");
	expect_schema_error("", "bad schema '': no fields");
	expect_schema_error("a:int,a:string", "bad schema 'a:int,a:string': duplicate field 'a'");
	expect_schema_error("a int", "bad schema 'a int': expected ':' after 'a'");
	expect_schema_error("a:", "bad schema 'a:': field 'a' has no type");
	expect_schema_error("a:int,", "bad schema 'a:int,': field 2 has no name");
	expect_schema_error("1a:int", "bad schema '1a:int': bad field name starting at '1a:int'");
	expect_schema_error("a:int;b:int",
	                    "bad schema 'a:int;b:int': unexpected ';' after field 'a'");

	/* ROW_MAX_FIELDS fields are fine, one more is not. */
	size_t cap = 16 * (ROW_MAX_FIELDS + 2);
	char *text = malloc(cap);
	size_t n = 0;
	for (int i = 0; i < ROW_MAX_FIELDS; i++)
		n += (size_t)snprintf(text + n, cap - n, "%sf%d:int", i ? "," : "", i);
	struct schema *s = parse(text);
	assert_int_equal(s->nfields, ROW_MAX_FIELDS);
	schema_free(s);
	snprintf(text + n, cap - n, ",extra:int");
	struct spate_error err = {0};
	assert_null(schema_parse(text, &err));
	assert_non_null(strstr(err.msg, "more than 1024 fields"));
	free(text);
}

/* ---- builder and layout --------------------------------------------------------------- */

static void test_layout_by_hand(void **state)
{
	/* "a:int32,b:string" with a=7, b="hi": header 8 + tags 8 + slots 16 = 32, then "hi\0"
	 * padded to 8: 40 bytes. */
	struct schema *s = parse("a:int32,b:string");
	struct spate_row_builder b;
	row_builder_init(&b, s);
	spate_row_set_i32(&b, 0, -7);
	spate_row_set_str(&b, 1, "hi", 2);
	const uint8_t *r = (const uint8_t *)row_builder_finish(&b, NULL);
	assert_non_null(r);

	static const uint8_t expect[40] = {
	    40,   0,    0,    0,    2,    0,    0,    0,    /* size, nfields, reserved */
	    2,    5,    0,    0,    0,    0,    0,    0,    /* tags, padded */
	    0xf9, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /* -7 sign-extended */
	    32,   0,    0,    0,    2,    0,    0,    0,    /* offset 32, length 2 */
	    'h',  'i',  0,    0,    0,    0,    0,    0,    /* value, NUL, padding */
	};
	assert_int_equal(spate_row_size((const spate_row *)r), 40);
	assert_memory_equal(r, expect, sizeof expect);
	assert_int_equal(row_fixed_size(2), 32);
	assert_int_equal(row_fixed_size(9), 8 + 16 + 72);
	assert_int_equal(row_size_of(r), 40);
	row_builder_release(&b);
	schema_free(s);
}

static void test_round_trip_all_types(void **state)
{
	struct schema *s = parse("b:bool,i:int32,l:int64,d:double,s:string,x:bytes,t:timestamp,"
	                         "e:string,n:int64,f:bool");
	struct spate_row_builder b;
	const spate_row *r;
	size_t len = 99;

	row_builder_init(&b, s);
	/* Set in a scrambled order: layout must not depend on it. */
	spate_row_set_bytes(&b, 5, "\x00\x01\xff\x00", 4);
	spate_row_set_timestamp(&b, 6, -1);
	spate_row_set_str(&b, 4, "h\xc3\xa9llo", 6);
	spate_row_set_bool(&b, 0, true);
	spate_row_set_i32(&b, 1, INT32_MIN);
	spate_row_set_i64(&b, 2, INT64_MAX);
	spate_row_set_double(&b, 3, -2.5);
	spate_row_set_str(&b, 7, "", 0);
	spate_row_set_bool(&b, 9, false);
	r = row_builder_finish(&b, NULL);
	assert_non_null(r);
	assert_int_equal(spate_row_size(r) % 8, 0);
	assert_int_equal(row_validate(r, spate_row_size(r)), 0);

	assert_int_equal(spate_row_field_count(r), 10);
	assert_true(spate_row_bool(r, 0));
	assert_int_equal(spate_row_i32(r, 1), INT32_MIN);
	assert_int_equal(spate_row_i64(r, 2), INT64_MAX);
	assert_true(spate_row_double(r, 3) == -2.5);
	assert_string_equal(spate_row_str(r, 4, &len), "h\xc3\xa9llo");
	assert_int_equal(len, 6);
	const uint8_t *x = spate_row_bytes(r, 5, &len);
	assert_int_equal(len, 4);
	assert_memory_equal(x, "\x00\x01\xff\x00", 4);
	assert_int_equal(x[4], 0); /* the NUL after every value */
	assert_int_equal(spate_row_i64(r, 6), -1);
	assert_string_equal(spate_row_str(r, 7, &len), "");
	assert_int_equal(len, 0);
	assert_true(spate_row_is_null(r, 8));
	assert_int_equal(spate_row_i64(r, 8), 0);
	assert_int_equal(spate_row_type(r, 8), SPATE_INT64);
	assert_false(spate_row_bool(r, 9));
	assert_false(spate_row_is_null(r, 9));
	for (int i = 0; i < 10; i++)
		if (i != 8)
			assert_false(spate_row_is_null(r, i));
	assert_int_equal(spate_row_type(r, 0), SPATE_BOOL);
	assert_int_equal(spate_row_type(r, 6), SPATE_TIMESTAMP);

	/* begin resets everything to null, typed as the schema says */
	row_builder_begin(&b);
	r = row_builder_finish(&b, NULL);
	assert_int_equal(spate_row_size(r), row_fixed_size(10));
	for (int i = 0; i < 10; i++) {
		assert_true(spate_row_is_null(r, i));
		assert_int_equal(spate_row_type(r, i), s->fields[i].type);
	}
	assert_null(spate_row_str(r, 4, &len));
	assert_int_equal(len, 0);
	row_builder_release(&b);
	schema_free(s);
}

static void test_set_twice_and_null(void **state)
{
	struct schema *s = parse("s:string,n:int64,x:bytes");
	struct spate_row_builder b;
	const spate_row *r;

	row_builder_init(&b, s);
	spate_row_set_str(&b, 0, "first value", 11);
	spate_row_set_str(&b, 0, "second", 6);
	spate_row_set_i64(&b, 1, 5);
	spate_row_set_null(&b, 1);
	spate_row_set_bytes(&b, 2, "ab", 2);
	spate_row_set_null(&b, 2);
	spate_row_set_bytes(&b, 2, "cd", 2);
	spate_row_set_str(&b, 0, NULL, 0); /* a NULL string is a null */
	spate_row_set_str(&b, 0, "third", 5);
	r = row_builder_finish(&b, NULL);
	assert_non_null(r);
	assert_int_equal(row_validate(r, spate_row_size(r)), 0);
	assert_string_equal(spate_row_str(r, 0, NULL), "third");
	assert_true(spate_row_is_null(r, 1));
	assert_int_equal(spate_row_i64(r, 1), 0);
	assert_memory_equal(spate_row_bytes(r, 2, NULL), "cd", 3);
	row_builder_release(&b);
	schema_free(s);
}

static void test_builder_errors(void **state)
{
	struct schema *s = parse("word:string,count:int64");
	struct spate_row_builder b;
	struct spate_error err = {0};

	row_builder_init(&b, s);
	spate_row_set_str(&b, 1, "x", 1);
	spate_row_set_i32(&b, 0, 3); /* a second mistake: the first one is reported */
	spate_row_set_str(&b, 0, "ok", 2);
	assert_null(row_builder_finish(&b, &err));
	assert_int_equal(err.code, SPATE_EINVAL);
	assert_string_equal(err.msg, "field 1 ('count') is int64 but was set as string");

	/* begin clears the error; a wrong setter leaves the field as it was */
	row_builder_begin(&b);
	spate_row_set_i64(&b, 1, 9);
	assert_non_null(row_builder_finish(&b, NULL));
	spate_row_set_i32(&b, 1, 3);
	error_clear(&err);
	assert_null(row_builder_finish(&b, &err));
	assert_string_equal(err.msg, "field 1 ('count') is int64 but was set as int32");
	row_builder_begin(&b);

	error_clear(&err);
	spate_row_set_i64(&b, 2, 1);
	assert_null(row_builder_finish(&b, &err));
	assert_string_equal(err.msg, "field 2 is out of range (the schema "
	                             "'word:string,count:int64' has 2 fields)");
	row_builder_begin(&b);
	error_clear(&err);
	spate_row_set_null(&b, -1);
	assert_null(row_builder_finish(&b, &err));
	assert_non_null(strstr(err.msg, "negative field index"));
	/* A value too large for the u32 size is refused before anything is read. */
	row_builder_begin(&b);
	error_clear(&err);
	spate_row_set_str(&b, 0, "x", SIZE_MAX / 2);
	spate_row_set_bytes(&b, 0, "x", 5); /* not reached: the first error is kept */
	assert_null(row_builder_finish(&b, &err));
	assert_string_equal(err.msg, "field 0 ('word') makes the row larger than 4294967288 bytes");
	row_builder_begin(&b);
	error_clear(&err);
	spate_row_set_timestamp(&b, 1, 5);
	assert_null(row_builder_finish(&b, NULL)); /* err may be NULL */

	row_builder_begin(&b);
	spate_row_set_i64(&b, 1, 1);
	assert_non_null(row_builder_finish(&b, &err));
	row_builder_release(&b);
	row_builder_release(&b); /* twice is harmless */
	schema_free(s);
}

static void test_accessor_mismatch(void **state)
{
	struct schema *s = parse("b:bool,i:int32,l:int64,d:double,s:string,x:bytes,t:timestamp");
	struct spate_row_builder b;
	size_t len = 7;

	row_builder_init(&b, s);
	spate_row_set_bool(&b, 0, true);
	spate_row_set_i32(&b, 1, 11);
	spate_row_set_i64(&b, 2, 12);
	spate_row_set_double(&b, 3, 13.5);
	spate_row_set_str(&b, 4, "s", 1);
	spate_row_set_bytes(&b, 5, "x", 1);
	spate_row_set_timestamp(&b, 6, 14);
	const spate_row *r = row_builder_finish(&b, NULL);

	for (int i = 0; i < 7; i++) {
		if (i != 0)
			assert_false(spate_row_bool(r, i));
		if (i != 1)
			assert_int_equal(spate_row_i32(r, i), 0);
		if (i != 2 && i != 6)
			assert_int_equal(spate_row_i64(r, i), 0);
		if (i != 3)
			assert_true(spate_row_double(r, i) == 0.0);
		if (i != 4) {
			len = 7;
			assert_null(spate_row_str(r, i, &len));
			assert_int_equal(len, 0);
		}
		if (i != 5)
			assert_null(spate_row_bytes(r, i, NULL));
	}
	assert_int_equal(spate_row_i64(r, 6), 14); /* timestamps read as int64 */
	int bad[] = {-1, 7, 1000, INT32_MIN, INT32_MAX};
	for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
		int i = bad[k];
		assert_false(spate_row_is_null(r, i));
		assert_int_equal(spate_row_type(r, i), 0);
		assert_false(spate_row_bool(r, i));
		assert_int_equal(spate_row_i32(r, i), 0);
		assert_int_equal(spate_row_i64(r, i), 0);
		assert_true(spate_row_double(r, i) == 0.0);
		assert_null(spate_row_str(r, i, &len));
		assert_null(spate_row_bytes(r, i, &len));
	}
	row_builder_release(&b);
	schema_free(s);
}

/* spate.h's typed views, against the layout written out by hand and the accessors. */
static void test_views(void **state)
{
	struct schema *s = parse("a:int64,b:double,c:timestamp");
	struct spate_row_builder b;
	struct abc {
		int64_t a;
		double b;
		int64_t c;
	} * o;

	row_builder_init(&b, s);
	o = spate_row_builder_view(&b, 3);
	assert_non_null(o);
	assert_null(spate_row_builder_view(&b, 2)); /* field count differs */
	o->a = -2;
	o->b = 0.5;
	o->c = 1700000000000;
	const uint8_t *r = (const uint8_t *)row_builder_finish(&b, NULL);
	assert_non_null(r);
	static const uint8_t expect[16] = {
	    40, 0, 0, 0, 3, 0, 0, 0, /* size, nfields, reserved */
	    3,  4, 7, 0, 0, 0, 0, 0, /* int64, double, timestamp; none null */
	};
	assert_int_equal(spate_row_size((const spate_row *)r), 40);
	assert_memory_equal(r, expect, sizeof expect);
	assert_int_equal(spate_row_i64((const spate_row *)r, 0), -2);
	assert_true(spate_row_double((const spate_row *)r, 1) == 0.5);
	assert_int_equal(spate_row_i64((const spate_row *)r, 2), 1700000000000);
	const struct abc *in = spate_row_view((const spate_row *)r, 3);
	assert_ptr_equal(in, r + 16);
	assert_int_equal(in->a, -2);
	assert_true(in->b == 0.5);
	assert_null(spate_row_view((const spate_row *)r, 2));
	assert_null(spate_row_view((const spate_row *)r, 4));
	assert_null(spate_row_view(NULL, 3));

	/* a new row: fields not written through the view are 0, not the last row's values */
	row_builder_begin(&b);
	o = spate_row_builder_view(&b, 3);
	o->a = 9;
	r = (const uint8_t *)row_builder_finish(&b, NULL);
	in = spate_row_view((const spate_row *)r, 3);
	assert_non_null(in);
	assert_int_equal(in->a, 9);
	assert_true(in->b == 0.0);
	assert_int_equal(in->c, 0);

	/* a field set null after the view: the row is no longer viewable */
	row_builder_begin(&b);
	spate_row_builder_view(&b, 3);
	spate_row_set_null(&b, 1);
	r = (const uint8_t *)row_builder_finish(&b, NULL);
	assert_true(spate_row_is_null((const spate_row *)r, 1));
	assert_null(spate_row_view((const spate_row *)r, 3));
	row_builder_release(&b);
	schema_free(s);

	/* schemas with a field of another type have no builder view; their rows no row view */
	const char *other[] = {"a:int64,b:int32", "a:bool,b:int64", "a:int64,b:string",
	                       "a:int64,b:bytes"};
	for (size_t k = 0; k < sizeof other / sizeof other[0]; k++) {
		s = parse(other[k]);
		row_builder_init(&b, s);
		assert_null(spate_row_builder_view(&b, 2));
		switch (k) { /* one valid row of each: every field set with its own type */
		case 0:
			spate_row_set_i64(&b, 0, 1);
			spate_row_set_i32(&b, 1, 2);
			break;
		case 1:
			spate_row_set_bool(&b, 0, true);
			spate_row_set_i64(&b, 1, 2);
			break;
		case 2:
			spate_row_set_i64(&b, 0, 1);
			spate_row_set_str(&b, 1, "x", 1);
			break;
		default:
			spate_row_set_i64(&b, 0, 1);
			spate_row_set_bytes(&b, 1, "x", 1);
		}
		r = (const uint8_t *)row_builder_finish(&b, NULL);
		assert_non_null(r);
		assert_false(spate_row_is_null((const spate_row *)r, 0));
		assert_false(spate_row_is_null((const spate_row *)r, 1));
		assert_null(spate_row_view((const spate_row *)r, 2));
		row_builder_release(&b);
		schema_free(s);
	}

	/* ten fields: the tags take two words, and a null in the second word is seen */
	s = parse("f0:int64,f1:int64,f2:int64,f3:int64,f4:int64,f5:int64,f6:int64,f7:int64,"
	          "f8:int64,f9:double");
	row_builder_init(&b, s);
	int64_t *w = spate_row_builder_view(&b, 10);
	assert_non_null(w);
	for (int i = 0; i < 9; i++)
		w[i] = i * 11;
	r = (const uint8_t *)row_builder_finish(&b, NULL);
	const int64_t *rw = spate_row_view((const spate_row *)r, 10);
	assert_non_null(rw);
	for (int i = 0; i < 9; i++)
		assert_int_equal(rw[i], spate_row_i64((const spate_row *)r, i));
	assert_int_equal(r[8 + 9], SPATE_DOUBLE);
	row_builder_begin(&b);
	spate_row_builder_view(&b, 10);
	spate_row_set_null(&b, 9);
	r = (const uint8_t *)row_builder_finish(&b, NULL);
	assert_null(spate_row_view((const spate_row *)r, 10));
	row_builder_release(&b);
	schema_free(s);
}

static void test_buffer_growth(void **state)
{
	/* Values far larger than the initial scratch area force the buffer to move. */
	struct schema *s = parse("a:string,b:bytes,c:string");
	struct spate_row_builder b;
	size_t n = 100000, len;
	char *big = malloc(n);
	for (size_t i = 0; i < n; i++)
		big[i] = (char)('a' + i % 26);

	row_builder_init(&b, s);
	for (int round = 0; round < 3; round++) {
		row_builder_begin(&b);
		spate_row_set_str(&b, 0, big, n - 1);
		spate_row_set_bytes(&b, 1, big, n / 2 + (size_t)round);
		spate_row_set_str(&b, 2, "z", 1);
		const spate_row *r = row_builder_finish(&b, NULL);
		assert_int_equal(row_validate(r, spate_row_size(r)), 0);
		assert_memory_equal(spate_row_str(r, 0, &len), big, n - 1);
		assert_int_equal(len, n - 1);
		assert_memory_equal(spate_row_bytes(r, 1, &len), big, n / 2 + (size_t)round);
		assert_int_equal(len, n / 2 + (size_t)round);
		assert_string_equal(spate_row_str(r, 2, NULL), "z");
	}
	row_builder_release(&b);
	schema_free(s);
	free(big);
}

static void test_row_copy(void **state)
{
	struct schema *s = parse("s:string,n:int32,x:bytes,d:double"), *other = parse("s:string");
	struct spate_row_builder b, c;
	struct spate_error err = {0};

	row_builder_init(&b, s);
	spate_row_set_str(&b, 0, "copied", 6);
	spate_row_set_bytes(&b, 2, "\x01\x00", 2);
	spate_row_set_double(&b, 3, 0.25);
	uint8_t *src = dup_row(row_builder_finish(&b, NULL));

	row_builder_init(&c, s);
	spate_row_set_i32(&c, 1, 99); /* overwritten by the source's null */
	spate_row_copy(&c, (const spate_row *)src);
	const spate_row *r = row_builder_finish(&c, NULL);
	assert_non_null(r);
	assert_int_equal(spate_row_size(r), spate_row_size((const spate_row *)src));
	assert_memory_equal(r, src, spate_row_size(r));

	/* Copying the builder's own output into itself: appending the string moves the
	 * buffer the source lives in (ASan would see a use after free). */
	row_builder_begin(&c);
	char big[5000];
	memset(big, 'q', sizeof big);
	spate_row_set_str(&c, 0, big, sizeof big);
	r = row_builder_finish(&c, NULL);
	spate_row_copy(&c, r);
	r = row_builder_finish(&c, NULL);
	assert_non_null(r);
	size_t n;
	assert_memory_equal(spate_row_str(r, 0, &n), big, sizeof big);
	assert_int_equal(n, sizeof big);

	/* Copying into a builder of a narrower schema is reported. */
	row_builder_release(&c);
	row_builder_init(&c, other);
	spate_row_copy(&c, (const spate_row *)src);
	assert_null(row_builder_finish(&c, &err));
	assert_non_null(strstr(err.msg, "field 1 is out of range"));

	/* And of a wider one. */
	row_builder_begin(&c);
	spate_row_set_str(&c, 0, "one", 3);
	uint8_t *small = dup_row(row_builder_finish(&c, NULL));
	row_builder_begin(&b);
	spate_row_copy(&b, (const spate_row *)small);
	error_clear(&err);
	assert_null(row_builder_finish(&b, &err));
	assert_string_equal(err.msg, "field 1 ('n') is missing from the copied row");
	row_builder_release(&b);
	row_builder_release(&c);
	free(src);
	free(small);
	schema_free(s);
	schema_free(other);
}

/* ---- randomized round trip ------------------------------------------------------------ */

static uint64_t rng_state;

static uint64_t rng(void)
{
	/* xorshift64*: fixed seed, so a failure reproduces */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1Dull;
}

#define PROP_MAX_FIELDS 24
#define PROP_MAX_LEN 300

struct expected {
	spate_type type[PROP_MAX_FIELDS];
	int null[PROP_MAX_FIELDS];
	uint64_t num[PROP_MAX_FIELDS];
	double dbl[PROP_MAX_FIELDS];
	uint8_t var[PROP_MAX_FIELDS][PROP_MAX_LEN];
	size_t len[PROP_MAX_FIELDS];
};

static void check_row_values(const spate_row *r, const struct expected *e, int nf)
{
	assert_int_equal(spate_row_field_count(r), nf);
	for (int i = 0; i < nf; i++) {
		size_t len;
		assert_int_equal(spate_row_type(r, i), e->type[i]);
		assert_int_equal(spate_row_is_null(r, i), e->null[i]);
		if (e->null[i])
			continue;
		switch (e->type[i]) {
		case SPATE_BOOL:
			assert_int_equal(spate_row_bool(r, i), (int)e->num[i]);
			break;
		case SPATE_INT32:
			assert_int_equal(spate_row_i32(r, i), (int32_t)e->num[i]);
			break;
		case SPATE_INT64:
		case SPATE_TIMESTAMP:
			assert_int_equal(spate_row_i64(r, i), (int64_t)e->num[i]);
			break;
		case SPATE_DOUBLE: {
			double v = spate_row_double(r, i);
			assert_memory_equal(&v, &e->dbl[i], sizeof v);
			break;
		}
		case SPATE_STRING: {
			const char *v = spate_row_str(r, i, &len);
			assert_int_equal(len, e->len[i]);
			assert_memory_equal(v, e->var[i], len);
			assert_int_equal(v[len], 0);
			break;
		}
		case SPATE_BYTES: {
			const uint8_t *v = spate_row_bytes(r, i, &len);
			assert_int_equal(len, e->len[i]);
			assert_memory_equal(v, e->var[i], len);
			assert_int_equal(v[len], 0);
			break;
		}
		}
	}
}

static void test_random_rows(void **state)
{
	static struct expected e;
	static const char *names[] = {"",       "bool",   "int32", "int64",
	                              "double", "string", "bytes", "timestamp"};
	rng_state = 0x9e3779b97f4a7c15ull;

	for (int iter = 0; iter < 2000; iter++) {
		int nf = 1 + (int)(rng() % PROP_MAX_FIELDS);
		char text[PROP_MAX_FIELDS * 24];
		size_t tn = 0;
		for (int i = 0; i < nf; i++) {
			e.type[i] = (spate_type)(1 + rng() % 7);
			tn += (size_t)snprintf(text + tn, sizeof text - tn, "%sf%d:%s",
			                       i ? "," : "", i, names[e.type[i]]);
		}
		struct schema *s = parse(text);
		struct spate_row_builder b;
		row_builder_init(&b, s);

		/* Several rows per builder, so begin's reset is exercised too. */
		for (int rowno = 0; rowno < 3; rowno++) {
			row_builder_begin(&b);
			for (int i = 0; i < nf; i++)
				e.null[i] = 1;
			/* Set a random number of random fields in a random order, some twice. */
			int sets = (int)(rng() % (size_t)(2 * nf + 1));
			for (int k = 0; k < sets; k++) {
				int i = (int)(rng() % (size_t)nf);
				uint64_t v = rng();
				e.null[i] = 0;
				switch (e.type[i]) {
				case SPATE_BOOL:
					e.num[i] = v & 1;
					spate_row_set_bool(&b, i, v & 1);
					break;
				case SPATE_INT32:
					e.num[i] = v;
					spate_row_set_i32(&b, i, (int32_t)v);
					break;
				case SPATE_INT64:
					e.num[i] = v;
					spate_row_set_i64(&b, i, (int64_t)v);
					break;
				case SPATE_TIMESTAMP:
					e.num[i] = v;
					spate_row_set_timestamp(&b, i, (int64_t)v);
					break;
				case SPATE_DOUBLE:
					memcpy(&e.dbl[i], &v,
					       sizeof v); /* any bit pattern, NaNs included */
					spate_row_set_double(&b, i, e.dbl[i]);
					break;
				case SPATE_STRING:
				case SPATE_BYTES:
					e.len[i] = rng() % (v % 4 == 0 ? PROP_MAX_LEN : 12);
					for (size_t j = 0; j < e.len[i]; j++)
						e.var[i][j] = (uint8_t)rng();
					if (e.type[i] == SPATE_STRING)
						spate_row_set_str(&b, i, (const char *)e.var[i],
						                  e.len[i]);
					else
						spate_row_set_bytes(&b, i, e.var[i], e.len[i]);
					break;
				}
				if (rng() % 10 == 0) {
					e.null[i] = 1;
					spate_row_set_null(&b, i);
				}
			}
			const spate_row *r = row_builder_finish(&b, NULL);
			assert_non_null(r);
			size_t size = spate_row_size(r);
			assert_int_equal(size % 8, 0);
			assert_true(size >= row_fixed_size(nf));
			uint8_t *copy = dup_row(r);
			assert_int_equal(row_validate(copy, size), 0);
			check_row_values((const spate_row *)copy, &e, nf);

			/* spate_row_copy reproduces it field for field. */
			struct spate_row_builder c;
			row_builder_init(&c, s);
			spate_row_copy(&c, (const spate_row *)copy);
			const spate_row *r2 = row_builder_finish(&c, NULL);
			assert_non_null(r2);
			check_row_values(r2, &e, nf);
			row_builder_release(&c);
			free(copy);
		}
		row_builder_release(&b);
		schema_free(s);
	}
}

/* ---- validation ----------------------------------------------------------------------- */

/* A row with every kind of field, copied into an exact-size block. */
static uint8_t *sample_row(size_t *len)
{
	struct schema *s = parse("s:string,n:int64,x:bytes,e:string,z:string,b:bool");
	struct spate_row_builder b;
	row_builder_init(&b, s);
	spate_row_set_str(&b, 0, "hello", 5);
	spate_row_set_i64(&b, 1, 42);
	spate_row_set_bytes(&b, 2, "\x00\x01\x02", 3);
	spate_row_set_str(&b, 3, "", 0);
	spate_row_set_bool(&b, 5, true);
	const spate_row *r = row_builder_finish(&b, NULL);
	assert_non_null(r);
	*len = spate_row_size(r);
	uint8_t *p = dup_row(r);
	row_builder_release(&b);
	schema_free(s);
	return p;
}

static int validate_copy(const uint8_t *p, size_t len)
{
	uint8_t *q = malloc(len ? len : 1);
	memcpy(q, p, len);
	int rc = row_validate(q, len);
	free(q);
	return rc;
}

static void test_validate_accepts_built_rows(void **state)
{
	size_t len;
	uint8_t *p = sample_row(&len);
	/* fixed part: 8 + 8 + 48 = 64; "hello\0"->8, 3 bytes+NUL->8, ""->8 */
	assert_int_equal(len, 64 + 8 + 8 + 8);
	assert_int_equal(row_validate(p, len), 0);
	free(p);
}

static void test_validate_rejects_truncated(void **state)
{
	size_t len;
	uint8_t *p = sample_row(&len);
	for (size_t n = 0; n < len; n++)
		assert_int_equal(validate_copy(p, n), SPATE_ECORRUPT);
	/* Truncated but with the size patched to match: the values now lie outside. */
	for (size_t n = 8; n < len; n += 8) {
		uint8_t *q = malloc(n);
		memcpy(q, p, n);
		put32(q, (uint32_t)n);
		assert_int_equal(row_validate(q, n), SPATE_ECORRUPT);
		free(q);
	}
	/* Trailing bytes beyond the row are not "exactly one row". */
	uint8_t *longer = calloc(1, len + 8);
	memcpy(longer, p, len);
	assert_int_equal(row_validate(longer, len + 8), SPATE_ECORRUPT);
	put32(longer, (uint32_t)len + 8); /* but extending the size over zero padding is fine */
	assert_int_equal(row_validate(longer, len + 8), 0);
	free(longer);
	free(p);
}

static void test_validate_rejects_corruption(void **state)
{
	size_t len;
	uint8_t *p = sample_row(&len);
	uint8_t *q = malloc(len);
	const size_t tags = 8, slots = 16;

#define CORRUPT(stmt)                                                   \
	do {                                                            \
		memcpy(q, p, len);                                      \
		stmt;                                                   \
		assert_int_equal(row_validate(q, len), SPATE_ECORRUPT); \
	} while (0)

	CORRUPT(put32(q, (uint32_t)len - 8));         /* size smaller than the block */
	CORRUPT(put32(q, (uint32_t)len + 8));         /* size larger than the block */
	CORRUPT(q[4] = 7);                            /* more fields than the slots */
	CORRUPT(q[4] = 0xff; q[5] = 0xff);            /* absurd field count */
	CORRUPT(q[6] = 1);                            /* reserved not zero */
	CORRUPT(q[tags + 0] = 0);                     /* type 0 */
	CORRUPT(q[tags + 1] = 8);                     /* type 8 */
	CORRUPT(q[tags + 1] = 15 | ROW_TAG_NULL);     /* bad type even when null */
	CORRUPT(q[tags + 1] |= 0x40);                 /* unused tag bits */
	CORRUPT(q[tags + 6] = 1);                     /* tag padding not zero */
	CORRUPT(put32(q + slots, 8));                 /* offset inside the header */
	CORRUPT(put32(q + slots, 63));                /* offset inside the slots */
	CORRUPT(put32(q + slots, (uint32_t)len));     /* offset at the end */
	CORRUPT(put32(q + slots, 0xfffffff0u));       /* offset far out */
	CORRUPT(put32(q + slots + 4, (uint32_t)len)); /* length past the end */
	CORRUPT(put32(q + slots + 4, 0xffffffffu));   /* length wraps 32 bits */
	CORRUPT(put32(q + slots + 4, 9));             /* no NUL at the new end */
	CORRUPT(q[64 + 5] = 'x');                     /* the NUL overwritten */
	CORRUPT(put32(q + slots + 3 * 8, (uint32_t)len - 8); put32(q + slots + 3 * 8 + 4, 8));
	/* Turning an int64 into a string makes 42 its offset: inside the fixed part. */
	CORRUPT(q[tags + 1] = SPATE_STRING);
#undef CORRUPT

	/* A null string's slot is not looked at. */
	memcpy(q, p, len);
	q[tags + 4] = SPATE_STRING | ROW_TAG_NULL;
	put32(q + slots + 4 * 8, 0xffffffffu);
	assert_int_equal(row_validate(q, len), 0);
	free(q);
	free(p);
}

static void test_validate_bit_flips(void **state)
{
	/* Flip every bit of the row in turn: validate must not crash, and a row it accepts
	 * must be readable and printable within its bounds (ASan watches). */
	size_t len;
	uint8_t *p = sample_row(&len);
	char out[256];
	int accepted = 0;
	for (size_t byte = 0; byte < len; byte++) {
		for (int bit = 0; bit < 8; bit++) {
			uint8_t *q = malloc(len);
			memcpy(q, p, len);
			q[byte] ^= (uint8_t)(1 << bit);
			if (row_validate(q, len) == 0) {
				const spate_row *r = (const spate_row *)q;
				accepted++;
				for (int i = 0; i < spate_row_field_count(r); i++) {
					size_t n;
					const char *sv = spate_row_str(r, i, &n);
					if (sv)
						assert_int_equal(sv[n], 0);
					(void)spate_row_bytes(r, i, &n);
				}
				spate_row_format(r, out, sizeof out);
			}
			free(q);
		}
	}
	/* Flipping value bits (ints, characters) keeps the row valid: some must pass. */
	assert_true(accepted > 0);
	assert_true(accepted < (int)(len * 8));
	free(p);
}

static void test_validate_misc(void **state)
{
	uint64_t empty = 8; /* a row of zero fields: just the header */
	assert_int_equal(row_validate(&empty, 8), 0);
	assert_int_equal(row_validate(&empty, 0), SPATE_ECORRUPT);
	assert_int_equal(row_validate(NULL, 8), SPATE_ECORRUPT);
	assert_int_equal(spate_row_format((const spate_row *)&empty, NULL, 0), 2); /* "()" */
}

/* ---- printing ------------------------------------------------------------------------- */

static char fmt_buf[4096];

static const char *format_one_double(double v)
{
	struct schema *s = parse("d:double");
	struct spate_row_builder b;
	row_builder_init(&b, s);
	spate_row_set_double(&b, 0, v);
	const spate_row *r = row_builder_finish(&b, NULL);
	size_t n = spate_row_format(r, fmt_buf, sizeof fmt_buf);
	assert_int_equal(n, strlen(fmt_buf));
	row_builder_release(&b);
	schema_free(s);
	return fmt_buf;
}

static void test_format_java_doubles(void **state)
{
	/* Double.toString in Java 19+ (shortest repr). */
	static const struct {
		double v;
		const char *java;
	} cases[] = {
	    {1.0, "1.0"},
	    {0.1, "0.1"},
	    {100.0, "100.0"},
	    {1.0e7, "1.0E7"},
	    {1.234e-5, "1.234E-5"},
	    {-0.0, "-0.0"},
	    {0.0, "0.0"},
	    {1.5e10, "1.5E10"},
	    {1.0e-4, "1.0E-4"},
	    {0.001, "0.001"},
	    {9999999.0, "9999999.0"},
	    {123456.789, "123456.789"},
	    {-2.5, "-2.5"},
	    {0.1 + 0.2, "0.30000000000000004"},
	    {1.0 / 3, "0.3333333333333333"},
	    {100.0 / 3, "33.333333333333336"},
	    {1.0e21, "1.0E21"},
	    {2.0e22, "2.0E22"},
	    {1.0e23, "1.0E23"},
	    {1.7976931348623157e308, "1.7976931348623157E308"},
	    {4.9e-324, "4.9E-324"},
	    {2.2250738585072014e-308, "2.2250738585072014E-308"},
	    {-1.0e-10, "-1.0E-10"},
	    {12345678.9, "1.23456789E7"},
	    {0.00999, "0.00999"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		assert_string_equal(format_one_double(cases[i].v), cases[i].java);
	assert_string_equal(format_one_double(NAN), "NaN");
	assert_string_equal(format_one_double(INFINITY), "Infinity");
	assert_string_equal(format_one_double(-INFINITY), "-Infinity");
}

static void test_format_double_round_trips(void **state)
{
	/* Whatever digits are chosen, they must read back as the same double. */
	rng_state = 12345;
	for (int i = 0; i < 20000; i++) {
		uint64_t bits = rng();
		double v;
		memcpy(&v, &bits, sizeof v);
		if (isnan(v) || isinf(v))
			continue;
		const char *s = format_one_double(v);
		double back = strtod(s, NULL);
		assert_memory_equal(&back, &v, sizeof v);
		assert_non_null(strchr(s, '.')); /* Java always has a point */
	}
}

static void test_format_row(void **state)
{
	struct schema *s =
	    parse("w:string,n:int64,i:int32,b:bool,x:bytes,t:timestamp,z:string,d:double");
	struct spate_row_builder b;
	row_builder_init(&b, s);
	spate_row_set_str(&b, 0, "to be", 5);
	spate_row_set_i64(&b, 1, -9000000000);
	spate_row_set_i32(&b, 2, 7);
	spate_row_set_bool(&b, 3, false);
	spate_row_set_bytes(&b, 4, "\x00\xab\xff", 3);
	spate_row_set_timestamp(&b, 5, 951782400123);
	spate_row_set_double(&b, 7, 2.0);
	const spate_row *r = row_builder_finish(&b, NULL);
	const char *want = "(to be,-9000000000,7,false,00abff,2000-02-29T00:00:00.123,null,2.0)";
	char buf[128];
	assert_int_equal(spate_row_format(r, buf, sizeof buf), strlen(want));
	assert_string_equal(buf, want);

	/* snprintf-like: truncates, always NUL-terminates, returns the full length */
	memset(buf, 'Q', sizeof buf);
	assert_int_equal(spate_row_format(r, buf, 6), strlen(want));
	assert_string_equal(buf, "(to b");
	assert_int_equal(buf[6], 'Q');
	assert_int_equal(spate_row_format(r, buf, 1), strlen(want));
	assert_string_equal(buf, "");
	assert_int_equal(spate_row_format(r, NULL, 0), strlen(want));
	row_builder_release(&b);
	schema_free(s);
}

static const char *format_single(const char *schema, int64_t v)
{
	struct schema *s = parse(schema);
	struct spate_row_builder b;
	row_builder_init(&b, s);
	if (s->fields[0].type == SPATE_TIMESTAMP)
		spate_row_set_timestamp(&b, 0, v);
	else if (s->fields[0].type == SPATE_INT64)
		spate_row_set_i64(&b, 0, v);
	else if (s->fields[0].type == SPATE_BOOL)
		spate_row_set_bool(&b, 0, v != 0);
	spate_row_format(row_builder_finish(&b, NULL), fmt_buf, sizeof fmt_buf);
	row_builder_release(&b);
	schema_free(s);
	return fmt_buf;
}

static void test_format_single_field(void **state)
{
	/* One field prints alone, without parentheses. */
	assert_string_equal(format_single("n:int64", 42), "42");
	assert_string_equal(format_single("n:int64", INT64_MIN), "-9223372036854775808");
	assert_string_equal(format_single("b:bool", 1), "true");
	assert_string_equal(format_single("s:string", 0), "null");
	assert_string_equal(format_single("t:timestamp", 0), "1970-01-01T00:00:00.000");
	assert_string_equal(format_single("t:timestamp", -1), "1969-12-31T23:59:59.999");
	assert_string_equal(format_single("t:timestamp", 1700000000000), "2023-11-14T22:13:20.000");
	assert_string_equal(format_single("t:timestamp", 253402300799999),
	                    "9999-12-31T23:59:59.999");
	/* Extremes must not crash (the year is just large). */
	format_single("t:timestamp", INT64_MIN);
	format_single("t:timestamp", INT64_MAX);
}

/* Every string length across the copy's cases (0-3, 4-7, 8-16, longer) and the padding
 * word: the bytes read back equal the input (the oracle), NUL-terminated, the padding up to
 * the next multiple of 8 zero, and row_validate accepts the row. */
static void test_string_lengths(void **state)
{
	(void)state;
	struct schema *s = parse("a:string,n:int64,b:string");
	struct spate_row_builder b;
	row_builder_init(&b, s);
	char src[48];
	for (size_t i = 0; i < sizeof src; i++)
		src[i] = (char)('A' + (i * 7) % 26);
	for (size_t len = 0; len <= 40; len++) {
		row_builder_begin(&b);
		spate_row_set_str(&b, 0, src, len);
		spate_row_set_i64(&b, 1, (int64_t)len);
		spate_row_set_str(&b, 2, src + 3, 40 - len);
		const spate_row *r = row_builder_done(&b);
		assert_non_null(r);
		size_t got = 99;
		const char *a = spate_row_str(r, 0, &got);
		assert_int_equal(got, len);
		assert_memory_equal(a, src, len);
		assert_int_equal(a[len], 0);
		for (size_t pad = len; pad < ((len + 1 + 7) & ~(size_t)7); pad++)
			assert_int_equal(a[pad], 0);
		const char *c = spate_row_str(r, 2, &got);
		assert_int_equal(got, 40 - len);
		assert_memory_equal(c, src + 3, 40 - len);
		assert_int_equal(c[40 - len], 0);
		uint8_t *copy = dup_row(r);
		assert_int_equal(row_validate(copy, spate_row_size(r)), 0);
		free(copy);
	}
	row_builder_release(&b);
	schema_free(s);
}

/* A string set from bytes of the builder's own buffer (the previous row's field, still
 * there after begin) comes out whole: the builder copies such bytes out before its buffer
 * grows or its padding store could overwrite their tail. */
static void test_string_from_own_buffer(void **state)
{
	(void)state;
	struct schema *s = parse("a:string");
	struct spate_row_builder b;
	row_builder_init(&b, s);
	for (size_t len = 1; len <= 300; len += 13) {
		char src[320];
		for (size_t i = 0; i < len; i++)
			src[i] = (char)('a' + i % 26);
		row_builder_begin(&b);
		spate_row_set_str(&b, 0, src, len);
		const spate_row *r = row_builder_done(&b);
		size_t got = 0;
		const char *prev = spate_row_str(r, 0, &got);
		row_builder_begin(&b);
		spate_row_set_str(&b, 0, prev, got); /* the same bytes, at the same offset */
		spate_row_set_str(&b, 0, prev, got); /* and again: now into a new place */
		r = row_builder_done(&b);
		assert_non_null(r);
		const char *a = spate_row_str(r, 0, &got);
		assert_int_equal(got, len);
		assert_memory_equal(a, src, len);
	}
	row_builder_release(&b);
	schema_free(s);
}

/* spate_row_view's tag-word shortcut against the rule it shortcuts: for 1..9 fields, rows
 * laid out by hand (all int64; one null; one double; one string; non-zero tag padding) are
 * viewable exactly when every field is a non-null int64, double or timestamp, always at
 * the slots' offset, and never for another field count. */
static void test_view_tag_word(void **unused)
{
	enum { ALL_INT64, ONE_NULL, ONE_DOUBLE, ONE_STRING, DIRTY_PADDING, VARIANTS };
	for (int nf = 1; nf <= 9; nf++) {
		size_t tags = ((size_t)nf + 7) & ~(size_t)7, size = 8 + tags + 8 * (size_t)nf;
		for (int v = 0; v < VARIANTS; v++) {
			uint64_t words[16] = {0};
			uint8_t *r = (uint8_t *)words;
			uint32_t sz = (uint32_t)size;
			uint16_t n16 = (uint16_t)nf;
			memcpy(r, &sz, 4);
			memcpy(r + 4, &n16, 2);
			memset(r + 8, SPATE_INT64, (size_t)nf);
			int odd = nf / 2; /* the field that differs */
			if (v == ONE_NULL)
				r[8 + odd] |= 0x80;
			else if (v == ONE_DOUBLE)
				r[8 + odd] = SPATE_DOUBLE;
			else if (v == ONE_STRING)
				r[8 + odd] = SPATE_STRING;
			else if (v == DIRTY_PADDING && (size_t)nf < tags)
				r[8 + tags - 1] = 0x5a;
			bool viewable = v != ONE_NULL && v != ONE_STRING;
			const void *got = spate_row_view((const spate_row *)r, nf);
			if (viewable)
				assert_ptr_equal(got, r + 8 + tags);
			else
				assert_null(got);
			assert_null(spate_row_view((const spate_row *)r, nf + 1));
			assert_null(spate_row_view((const spate_row *)r, nf - 1));
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_schema_parse),
	    cmocka_unit_test(test_schema_errors),
	    cmocka_unit_test(test_layout_by_hand),
	    cmocka_unit_test(test_round_trip_all_types),
	    cmocka_unit_test(test_set_twice_and_null),
	    cmocka_unit_test(test_builder_errors),
	    cmocka_unit_test(test_accessor_mismatch),
	    cmocka_unit_test(test_views),
	    cmocka_unit_test(test_view_tag_word),
	    cmocka_unit_test(test_buffer_growth),
	    cmocka_unit_test(test_row_copy),
	    cmocka_unit_test(test_random_rows),
	    cmocka_unit_test(test_string_lengths),
	    cmocka_unit_test(test_string_from_own_buffer),
	    cmocka_unit_test(test_validate_accepts_built_rows),
	    cmocka_unit_test(test_validate_rejects_truncated),
	    cmocka_unit_test(test_validate_rejects_corruption),
	    cmocka_unit_test(test_validate_bit_flips),
	    cmocka_unit_test(test_validate_misc),
	    cmocka_unit_test(test_format_java_doubles),
	    cmocka_unit_test(test_format_double_round_trips),
	    cmocka_unit_test(test_format_row),
	    cmocka_unit_test(test_format_single_field),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
