/*
 * test_state_backend.c - the heap keyed state backend against a plain second
 * implementation (arrays searched linearly), over a seeded random sequence of puts, gets and
 * removes for value and map state, including table growth and deletion in probe runs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "runtime/state_backend.h"

static uint64_t rng = 12345;
static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

#define NKEYS 3000

/* The oracle: value per (state, key), present flag. */
static int64_t oracle_val[2][NKEYS];
static int oracle_has[2][NKEYS];

static struct state_key make_key(uint32_t state, int key, char *buf)
{
	/* Keys of varying length so collisions on length do not hide bugs. */
	int n = snprintf(buf, 32, "key-%d-%.*s", key, key % 7, "xxxxxxx");
	struct state_key k = {
	    .state_id = state, .key_group = key % 128, .key = buf, .key_len = (size_t)n};
	state_key_hash(&k);
	return k;
}

static void test_value_state_matches_oracle(void **unused)
{
	struct keyed_state_backend *be = heap_state_backend_new(0, 127);
	memset(oracle_has, 0, sizeof oracle_has);
	for (int step = 0; step < 200000; step++) {
		uint32_t st = (uint32_t)(next_rand() % 2);
		int key = (int)(next_rand() % NKEYS);
		char buf[32];
		struct state_key k = make_key(st, key, buf);
		int op = (int)(next_rand() % 10);
		if (op < 5) {
			int64_t v = (int64_t)next_rand();
			assert_int_equal(be->ops->value_put(be, &k, &v, sizeof v), 0);
			oracle_val[st][key] = v;
			oracle_has[st][key] = 1;
		} else if (op < 8) {
			void *p;
			size_t len;
			int found = be->ops->value_get(be, &k, &p, &len);
			assert_int_equal(found, oracle_has[st][key]);
			if (found) {
				int64_t v;
				assert_int_equal(len, sizeof v);
				memcpy(&v, p, sizeof v);
				assert_true(v == oracle_val[st][key]);
			}
		} else {
			be->ops->value_remove(be, &k);
			oracle_has[st][key] = 0;
		}
	}
	/* Every key checked once more at the end, and the entry count. */
	size_t expected = 0;
	for (int st = 0; st < 2; st++)
		for (int key = 0; key < NKEYS; key++) {
			char buf[32];
			struct state_key k = make_key((uint32_t)st, key, buf);
			void *p;
			size_t len;
			assert_int_equal(be->ops->value_get(be, &k, &p, &len), oracle_has[st][key]);
			expected += (size_t)oracle_has[st][key];
		}
	assert_int_equal(be->ops->entry_count(be), expected);
	be->ops->free(be);
}

static int sum_visit(void *arg, const void *uk, size_t uklen, const void *val, size_t len)
{
	int64_t *sum = arg, v;
	(void)uk;
	(void)uklen;
	memcpy(&v, val, sizeof v);
	(void)len;
	*sum += v;
	return 0;
}

static void test_map_state(void **unused)
{
	struct keyed_state_backend *be = heap_state_backend_new(0, 127);
	char buf[32];
	struct state_key k = make_key(5, 42, buf);
	int64_t expected_sum = 0;
	for (int64_t i = 0; i < 1000; i++) {
		be->ops->map_put(be, &k, &i, sizeof i, &i, sizeof i);
		expected_sum += i;
	}
	for (int64_t i = 0; i < 1000; i += 2) {
		be->ops->map_remove(be, &k, &i, sizeof i);
		expected_sum -= i;
	}
	assert_int_equal(be->ops->map_size(be, &k), 500);
	int64_t sum = 0;
	be->ops->map_iterate(be, &k, sum_visit, &sum);
	assert_true(sum == expected_sum);
	for (int64_t i = 0; i < 1000; i++) {
		void *p;
		size_t len;
		assert_int_equal(be->ops->map_get(be, &k, &i, sizeof i, &p, &len), i % 2);
	}
	/* Another key's map is separate. */
	struct state_key k2 = make_key(5, 43, buf);
	assert_int_equal(be->ops->map_size(be, &k2), 0);
	be->ops->free(be);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_value_state_matches_oracle),
	    cmocka_unit_test(test_map_state),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
