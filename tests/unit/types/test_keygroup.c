/*
 * test_keygroup.c - key groups and Java hash codes against Flink's published numbers.
 *
 * The oracles are independent of the code under test: the test-vector table and the
 * worked examples in flink-facts.md §3 (computed with Java), well-known Java hashCode
 * values, and for the ranges a brute-force check that every key group has exactly one
 * owner.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "types/keygroup.h"
#include "types/row.h"

/* flink-facts.md §3: key, hashCode, murmurHash, kg (maxP=128), op p=4, op p=3. */
static const struct {
	const char *str; /* NULL for an int key */
	int32_t ikey;
	int32_t hash;
	int32_t murmur;
	int kg128, op4, op3;
} vectors[] = {
    {NULL, 0, 0, 593689054, 94, 2, 2},
    {"", 0, 0, 593689054, 94, 2, 2},
    {NULL, 1, 1, 68075478, 86, 2, 2},
    {NULL, 2, 2, 1085422463, 127, 3, 2},
    {NULL, 3, 3, 847579505, 113, 3, 2},
    {NULL, 42, 42, 1134849565, 29, 0, 0},
    {NULL, -1, -1, 1982413648, 80, 2, 1},
    {"a", 0, 97, 1455541201, 81, 2, 1},
    {"to", 0, 3707, 260703195, 91, 2, 2},
    {"the", 0, 114801, 1238856130, 66, 2, 1},
    {"hello", 0, 99162322, 1715862179, 35, 1, 0},
    {"flink", 0, 97520992, 1330823394, 98, 3, 2},
    {"sleep", 0, 109522647, 1565580461, 45, 1, 1},
};
#define NVECTORS (sizeof vectors / sizeof vectors[0])

static void test_string_hash_codes(void **state)
{
	for (size_t i = 0; i < NVECTORS; i++) {
		if (!vectors[i].str)
			continue;
		assert_int_equal(java_hash_string(vectors[i].str, strlen(vectors[i].str)),
		                 vectors[i].hash);
	}
}

static void test_murmur_vectors(void **state)
{
	for (size_t i = 0; i < NVECTORS; i++)
		assert_int_equal(murmur_hash_int(vectors[i].hash), vectors[i].murmur);
}

static void test_murmur_non_negative(void **state)
{
	/* A spread of inputs including the extremes: Flink's result is never negative. */
	int32_t inputs[] = {INT32_MIN, INT32_MIN + 1, -123456789, -2, 7, 1 << 30, INT32_MAX};
	for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++)
		assert_true(murmur_hash_int(inputs[i]) >= 0);
	for (int32_t v = -100000; v < 100000; v += 7)
		assert_true(murmur_hash_int(v) >= 0);
}

/* A plain second implementation of MathUtils.murmurHash, with Flink's branches, to check
 * the branch-free one against: the hash before the sign step, then the step. */
static uint32_t murmur_raw(int32_t code)
{
	uint32_t h = (uint32_t)code;
	h *= 0xcc9e2d51u;
	h = h << 15 | h >> 17;
	h *= 0x1b873593u;
	h = h << 13 | h >> 19;
	h = h * 5 + 0xe6546b64u;
	h ^= 4;
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}

static int32_t murmur_plain(int32_t code)
{
	int32_t v = (int32_t)murmur_raw(code);
	if (v >= 0)
		return v;
	if (v != INT32_MIN)
		return -v;
	return 0;
}

static void test_murmur_sign_cases(void **state)
{
	int raw_negative = 0, n = 0;
	/* -2089875627 is the one input whose hash before the sign step is INT_MIN (found by
	 * searching all 2^32 inputs): Flink gives 0 for it. */
	assert_int_equal(murmur_raw(-2089875627), 0x80000000u);
	assert_int_equal(murmur_hash_int(-2089875627), 0);
	for (int64_t v = INT32_MIN; v <= INT32_MAX; v += 65537, n++) {
		int32_t c = (int32_t)v;
		assert_int_equal(murmur_hash_int(c), murmur_plain(c));
		raw_negative += murmur_raw(c) >> 31;
	}
	/* both signs of the raw hash were covered, roughly half each */
	assert_true(raw_negative > n / 3 && raw_negative < 2 * n / 3);
}

static void test_key_group_vectors(void **state)
{
	for (size_t i = 0; i < NVECTORS; i++) {
		int kg = key_group_for_hash(vectors[i].hash, 128);
		assert_int_equal(kg, vectors[i].kg128);
		assert_int_equal(key_group_operator_index(128, 4, kg), vectors[i].op4);
		assert_int_equal(key_group_operator_index(128, 3, kg), vectors[i].op3);
	}
}

static void test_default_max_parallelism(void **state)
{
	for (int p = 1; p <= 85; p++)
		assert_int_equal(key_group_default_max_parallelism(p), 128);
	assert_int_equal(key_group_default_max_parallelism(86), 256);
	assert_int_equal(key_group_default_max_parallelism(100), 256);
	assert_int_equal(key_group_default_max_parallelism(1000), 2048);
	assert_int_equal(key_group_default_max_parallelism(21845), 32768);
	assert_int_equal(key_group_default_max_parallelism(21846), 32768);
	assert_int_equal(key_group_default_max_parallelism(30000), 32768);
	assert_int_equal(key_group_default_max_parallelism(32768), 32768);
}

static void test_key_group_range_example(void **state)
{
	int first, last;
	key_group_range(128, 3, 0, &first, &last);
	assert_int_equal(first, 0);
	assert_int_equal(last, 42);
	key_group_range(128, 3, 1, &first, &last);
	assert_int_equal(first, 43);
	assert_int_equal(last, 85);
	key_group_range(128, 3, 2, &first, &last);
	assert_int_equal(first, 86);
	assert_int_equal(last, 127);
}

/* Every key group of [0, maxP) is in exactly one subtask's range, and operator_index names
 * that subtask. */
static void test_ranges_partition_key_groups(void **state)
{
	static const int cases[][2] = {{128, 1},   {128, 3},  {128, 4},   {128, 7},
	                               {128, 128}, {256, 86}, {256, 100}, {2048, 1000},
	                               {1, 1},     {10, 3},   {32768, 3}, {32768, 21846}};
	static int owner[32768];
	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		int maxp = cases[c][0], p = cases[c][1];
		for (int kg = 0; kg < maxp; kg++)
			owner[kg] = -1;
		for (int i = 0; i < p; i++) {
			int first, last;
			key_group_range(maxp, p, i, &first, &last);
			for (int kg = first; kg <= last; kg++) {
				assert_in_range(kg, 0, maxp - 1);
				assert_int_equal(owner[kg], -1);
				owner[kg] = i;
			}
		}
		for (int kg = 0; kg < maxp; kg++) {
			assert_int_not_equal(owner[kg], -1);
			assert_int_equal(key_group_operator_index(maxp, p, kg), owner[kg]);
		}
	}
}

static void test_java_hash_non_ascii(void **state)
{
	/* "é" is U+00E9, one UTF-16 unit. */
	assert_int_equal(java_hash_string("\xc3\xa9", 2), 233);
	/* "日本" is U+65E5 U+672C. */
	assert_int_equal(java_hash_string("\xe6\x97\xa5\xe6\x9c\xac", 6), 26085 * 31 + 26412);
	/* "😀" is U+1F600, in UTF-16 the pair D83D DE00. */
	assert_int_equal(java_hash_string("\xf0\x9f\x98\x80", 4), 55357 * 31 + 56832);
	/* "a😀b": the pair counts as two units in the polynomial. */
	uint32_t h = 97;
	h = h * 31 + 55357;
	h = h * 31 + 56832;
	h = h * 31 + 98;
	assert_int_equal(java_hash_string("a\xf0\x9f\x98\x80"
	                                  "b",
	                                  6),
	                 (int32_t)h);
}

static void test_java_hash_invalid_utf8(void **state)
{
	/* Four-byte ASCII blocks next to multi-byte text and invalid bytes: the block loop
	 * stops at the first non-ASCII byte and the rest is decoded one character at a time. */
	uint32_t abcd = ((97u * 31 + 98) * 31 + 99) * 31 + 100;
	assert_int_equal(java_hash_string("abcd\xc3\xa9", 6), (int32_t)(abcd * 31 + 233));
	assert_int_equal(
	    java_hash_string("abcd\xff"
	                     "efgh",
	                     9),
	    (int32_t)((((abcd * 31 + 255) * 31 + 101) * 31 + 102) * 31 * 31 + 103 * 31 + 104));
	/* Bytes that are not UTF-8 count as one unit each, of the byte's value. */
	assert_int_equal(java_hash_string("\xff", 1), 255);
	assert_int_equal(java_hash_string("a\xe6", 2), 97 * 31 + 0xe6);
	/* A truncated 3-byte sequence followed by ASCII: both lead bytes stand alone. */
	assert_int_equal(java_hash_string("\xe6\x97"
	                                  "A",
	                                  3),
	                 (0xe6 * 31 + 0x97) * 31 + 65);
	/* Overlong "/" (C0 AF) and an encoded surrogate (ED A0 80) are not UTF-8. */
	assert_int_equal(java_hash_string("\xc0\xaf", 2), 0xc0 * 31 + 0xaf);
	assert_int_equal(java_hash_string("\xed\xa0\x80", 3), (0xed * 31 + 0xa0) * 31 + 0x80);
}

static void test_java_hash_long_string_wraps(void **state)
{
	/* "hello world".hashCode() is 1794106052 in Java; a long string that overflows int
	 * many times is checked against a modular reference computed in 64 bits. */
	const char *s = "The quick brown fox jumps over the lazy dog";
	uint64_t ref = 0;
	for (size_t i = 0; s[i]; i++)
		ref = (ref * 31 + (uint8_t)s[i]) & 0xffffffffu;
	assert_int_equal(java_hash_string("hello world", 11), 1794106052);
	assert_int_equal(java_hash_string(s, strlen(s)), (int32_t)(uint32_t)ref);
}

static void test_java_hash_primitives(void **state)
{
	/* Long.hashCode */
	assert_int_equal(java_hash_i64(0), 0);
	assert_int_equal(java_hash_i64(1), 1);
	assert_int_equal(java_hash_i64(-1), 0);
	assert_int_equal(java_hash_i64(INT64_C(1) << 32), 1);
	assert_int_equal(java_hash_i64(INT64_MIN), INT32_MIN);
	assert_int_equal(java_hash_i64(INT64_MAX), INT32_MIN);
	/* Double.hashCode */
	assert_int_equal(java_hash_double(0.0), 0);
	assert_int_equal(java_hash_double(-0.0), INT32_MIN);
	assert_int_equal(java_hash_double(1.0), 1072693248);
	assert_int_equal(java_hash_double(__builtin_nan("")), 2146959360);
	assert_int_equal(java_hash_double(-__builtin_nan("0x123")), 2146959360);
	/* Arrays.hashCode(byte[]) with signed bytes */
	assert_int_equal(java_hash_bytes("", 0), 1);
	assert_int_equal(java_hash_bytes("\x01\x02\x03", 3), 30817);
	assert_int_equal(java_hash_bytes("\xff", 1), 30);
}

static struct schema *parse(const char *text)
{
	struct spate_error err = {0};
	struct schema *s = schema_parse(text, &err);
	assert_non_null(s);
	return s;
}

static void test_key_hash_fields(void **state)
{
	struct schema *s =
	    parse("w:string,n:int32,l:int64,b:bool,d:double,t:timestamp,x:bytes,z:int32");
	struct spate_row_builder b;
	const spate_row *r;

	row_builder_init(&b, s);
	spate_row_set_str(&b, 0, "hello", 5);
	spate_row_set_i32(&b, 1, 42);
	spate_row_set_i64(&b, 2, -1);
	spate_row_set_bool(&b, 3, true);
	spate_row_set_double(&b, 4, 1.0);
	spate_row_set_timestamp(&b, 5, INT64_C(1) << 32);
	spate_row_set_bytes(&b, 6, "\x01\x02\x03", 3);
	r = row_builder_finish(&b, NULL);
	assert_non_null(r);

	assert_int_equal(key_hash_field(r, 0), 99162322);
	assert_int_equal(key_hash_field(r, 1), 42);
	assert_int_equal(key_hash_field(r, 2), 0);
	assert_int_equal(key_hash_field(r, 3), 1231);
	assert_int_equal(key_hash_field(r, 4), 1072693248);
	assert_int_equal(key_hash_field(r, 5), 1);
	assert_int_equal(key_hash_field(r, 6), 30817);
	assert_int_equal(key_hash_field(r, 7), 0); /* null */
	assert_int_equal(key_hash_field(r, 8), 0); /* out of range */

	/* One field: the field's own hash, so the table's key groups apply. */
	int one = 0;
	assert_int_equal(key_hash_fields(r, &one, 1), 99162322);
	assert_int_equal(key_group_for_hash(key_hash_fields(r, &one, 1), 128), 35);
	/* Several: Tuple-style, h = 31 * h + hash, starting from 0. */
	int two[] = {0, 1};
	assert_int_equal(key_hash_fields(r, two, 2), (int32_t)(99162322u * 31u + 42u));
	int three[] = {1, 7, 3};
	assert_int_equal(key_hash_fields(r, three, 3), (42 * 31 + 0) * 31 + 1231);
	row_builder_release(&b);
	schema_free(s);
}

static void test_key_hash_row(void **state)
{
	struct schema *s1 = parse("k:string"), *s2 = parse("a:int32,b:bool");
	struct spate_row_builder b;
	const spate_row *r;

	row_builder_init(&b, s1);
	spate_row_set_str(&b, 0, "flink", 5);
	r = row_builder_finish(&b, NULL);
	assert_int_equal(key_hash_row(r), 97520992);
	assert_int_equal(key_group_for_hash(key_hash_row(r), 128), 98);
	row_builder_release(&b);

	row_builder_init(&b, s2);
	spate_row_set_i32(&b, 0, 3);
	spate_row_set_bool(&b, 1, false);
	r = row_builder_finish(&b, NULL);
	assert_int_equal(key_hash_row(r), 3 * 31 + 1237);
	row_builder_release(&b);
	schema_free(s1);
	schema_free(s2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_string_hash_codes),
	    cmocka_unit_test(test_murmur_vectors),
	    cmocka_unit_test(test_murmur_non_negative),
	    cmocka_unit_test(test_murmur_sign_cases),
	    cmocka_unit_test(test_key_group_vectors),
	    cmocka_unit_test(test_default_max_parallelism),
	    cmocka_unit_test(test_key_group_range_example),
	    cmocka_unit_test(test_ranges_partition_key_groups),
	    cmocka_unit_test(test_java_hash_non_ascii),
	    cmocka_unit_test(test_java_hash_invalid_utf8),
	    cmocka_unit_test(test_java_hash_long_string_wraps),
	    cmocka_unit_test(test_java_hash_primitives),
	    cmocka_unit_test(test_key_hash_fields),
	    cmocka_unit_test(test_key_hash_row),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
