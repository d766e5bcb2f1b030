/*
 * test_state_backend.c - the heap keyed state backend against a plain second
 * implementation (arrays searched linearly), over a seeded random sequence of puts, gets and
 * removes for value and map state, including table growth and deletion in probe runs; and
 * appends (list state), keys and values of every size (stored inside the table's records and
 * out of them, and read back from the backend itself as the input of a put), and
 * state_backend_new; batch lookups (value_get_batch) against the same oracle. Snapshots are in
 * test_state_snapshot.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
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
	return k;
}

/* value_get_batch of 1..70 random keys (repeats included) against the oracle. */
static void check_batch_get(struct keyed_state_backend *be)
{
	enum { MAX = 70 };
	char bufs[MAX][32];
	struct state_key keys[MAX];
	uint32_t st[MAX];
	int key[MAX];
	void *vals[MAX];
	size_t lens[MAX];
	int n = 1 + (int)(next_rand() % MAX);
	for (int i = 0; i < n; i++) {
		st[i] = (uint32_t)(next_rand() % 2);
		key[i] = i > 0 && next_rand() % 8 == 0 ? key[i - 1] : (int)(next_rand() % NKEYS);
		keys[i] = make_key(st[i], key[i], bufs[i]);
	}
	assert_int_equal(be->ops->value_get_batch(be, keys, n, vals, lens), 0);
	for (int i = 0; i < n; i++) {
		assert_int_equal(vals[i] != NULL, oracle_has[st[i]][key[i]]);
		if (vals[i]) {
			int64_t v;
			assert_int_equal(lens[i], sizeof v);
			memcpy(&v, vals[i], sizeof v);
			assert_true(v == oracle_val[st[i]][key[i]]);
		}
	}
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
		} else if (op == 7 && step % 4 == 0) {
			check_batch_get(be);
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

/* Appends past the inline space and past each growth, checked against a plain buffer. */
static void test_value_append(void **unused)
{
	struct keyed_state_backend *be = heap_state_backend_new(0, 127);
	char buf[32];
	struct state_key k = make_key(7, 1, buf);
	uint8_t expect[5000];
	size_t n = 0;
	for (int i = 0; n + 50 < sizeof expect; i++) {
		uint8_t el[50];
		size_t len = (size_t)(next_rand() % sizeof el);
		for (size_t b = 0; b < len; b++)
			el[b] = (uint8_t)next_rand();
		assert_int_equal(be->ops->value_append(be, &k, el, len), 0);
		memcpy(expect + n, el, len);
		n += len;
		void *p;
		size_t plen;
		assert_int_equal(be->ops->value_get(be, &k, &p, &plen), 1);
		assert_int_equal(plen, n);
		assert_memory_equal(p, expect, n);
	}
	/* Appending a value's own bytes to itself (the source moves when it grows). */
	void *p;
	size_t plen;
	assert_int_equal(be->ops->value_get(be, &k, &p, &plen), 1);
	assert_int_equal(be->ops->value_append(be, &k, p, plen), 0);
	assert_int_equal(be->ops->value_get(be, &k, &p, &plen), 1);
	assert_int_equal(plen, 2 * n);
	assert_memory_equal(p, expect, n);
	assert_memory_equal((uint8_t *)p + n, expect, n);
	/* A put after appends replaces the whole value. */
	int64_t v = 42;
	assert_int_equal(be->ops->value_put(be, &k, &v, sizeof v), 0);
	assert_int_equal(be->ops->value_get(be, &k, &p, &plen), 1);
	assert_int_equal(plen, sizeof v);
	be->ops->free(be);
}

/* A map emptied by removes is no entry at all. */
static void test_empty_map_is_no_entry(void **unused)
{
	struct keyed_state_backend *be = heap_state_backend_new(0, 127);
	char buf[32];
	struct state_key k = make_key(9, 3, buf);
	int64_t a = 1, b = 2;
	be->ops->map_put(be, &k, &a, sizeof a, &a, sizeof a);
	be->ops->map_put(be, &k, &b, sizeof b, &b, sizeof b);
	assert_int_equal(be->ops->entry_count(be), 1);
	be->ops->map_remove(be, &k, &a, sizeof a);
	assert_int_equal(be->ops->entry_count(be), 1);
	be->ops->map_remove(be, &k, &b, sizeof b);
	assert_int_equal(be->ops->entry_count(be), 0);
	assert_int_equal(be->ops->map_size(be, &k), 0);
	be->ops->map_put(be, &k, &a, sizeof a, &b, sizeof b);
	assert_int_equal(be->ops->map_size(be, &k), 1);
	be->ops->free(be);
}

/*
 * Keys of 1..300 bytes and values of 0..600 bytes, so that entries are stored inline at
 * each record size the table takes and out of line, and move out of line as values grow;
 * each put, append and map put sometimes takes its bytes from a value the
 * backend just handed out (which the insert may move). Checked against arrays.
 */
#define VNKEYS 400
#define VMAX 600
static uint8_t vo_key[VNKEYS][300];
static size_t vo_klen[VNKEYS];
static uint8_t vo_val[VNKEYS][2 * VMAX];
static size_t vo_vlen[VNKEYS];
static int vo_has[VNKEYS];

static struct state_key vo_make_key(int i)
{
	struct state_key k = {
	    .state_id = 3, .key_group = i % 128, .key = vo_key[i], .key_len = vo_klen[i]};
	return k;
}

static void fill(uint8_t *p, size_t n)
{
	for (size_t b = 0; b < n; b++)
		p[b] = (uint8_t)next_rand();
}

static void test_sizes_and_aliasing_match_oracle(void **unused)
{
	struct keyed_state_backend *be = heap_state_backend_new(0, 127);
	memset(vo_has, 0, sizeof vo_has);
	for (int i = 0; i < VNKEYS; i++) {
		/* mostly short keys (inline), some long (out of line); distinct by prefix */
		vo_klen[i] = i % 10 == 0 ? 200 + (size_t)(next_rand() % 100) : 9 + (size_t)(i % 20);
		fill(vo_key[i], vo_klen[i]);
		memcpy(vo_key[i], &i, sizeof i);
	}
	uint8_t v[VMAX];
	for (int step = 0; step < 60000; step++) {
		int i = (int)(next_rand() % VNKEYS);
		struct state_key k = vo_make_key(i);
		int op = (int)(next_rand() % 12);
		void *p;
		size_t len;
		if (op < 4) {
			/* sizes chosen to cross each record size: mostly small, some large */
			size_t n = next_rand() % 4 ? (size_t)(next_rand() % 120)
			                           : (size_t)(next_rand() % VMAX);
			const void *src = v;
			int j = (int)(next_rand() % VNKEYS);
			if (op == 3 && vo_has[j] && vo_vlen[j] <= VMAX) {
				/* another key's value, straight from the backend */
				struct state_key kj = vo_make_key(j);
				assert_int_equal(be->ops->value_get(be, &kj, &p, &len), 1);
				src = p;
				n = len;
				memcpy(v, vo_val[j], n);
			} else {
				fill(v, n);
			}
			assert_int_equal(be->ops->value_put(be, &k, src, n), 0);
			memcpy(vo_val[i], v, n);
			vo_vlen[i] = n;
			vo_has[i] = 1;
		} else if (op < 6) {
			if (vo_has[i] && vo_vlen[i] + 64 > sizeof vo_val[i])
				continue;
			size_t n = (size_t)(next_rand() % 64);
			fill(v, n);
			assert_int_equal(be->ops->value_append(be, &k, v, n), 0);
			if (!vo_has[i])
				vo_vlen[i] = 0;
			memcpy(vo_val[i] + vo_vlen[i], v, n);
			vo_vlen[i] += n;
			vo_has[i] = 1;
		} else if (op < 10) {
			int found = be->ops->value_get(be, &k, &p, &len);
			assert_int_equal(found, vo_has[i]);
			if (found) {
				assert_int_equal(len, vo_vlen[i]);
				assert_memory_equal(p, vo_val[i], len);
			}
		} else {
			be->ops->value_remove(be, &k);
			vo_has[i] = 0;
		}
	}
	size_t expected = 0;
	for (int i = 0; i < VNKEYS; i++) {
		struct state_key k = vo_make_key(i);
		void *p;
		size_t len;
		assert_int_equal(be->ops->value_get(be, &k, &p, &len), vo_has[i]);
		if (vo_has[i]) {
			assert_int_equal(len, vo_vlen[i]);
			assert_memory_equal(p, vo_val[i], len);
		}
		expected += (size_t)vo_has[i];
	}
	assert_int_equal(be->ops->entry_count(be), expected);

	/* Map state whose user keys and values are read from the backend itself: a map put
	 * that grows the key's map (or the table) must not lose them. */
	struct state_key mk = vo_make_key(0);
	for (int64_t u = 0; u < 200; u++) {
		uint8_t val[100];
		fill(val, sizeof val);
		assert_int_equal(be->ops->map_put(be, &mk, &u, sizeof u, val, sizeof val), 0);
	}
	for (int64_t u = 0; u < 200; u++) {
		void *uv;
		size_t uvlen;
		assert_int_equal(be->ops->map_get(be, &mk, &u, sizeof u, &uv, &uvlen), 1);
		uint8_t expect[100];
		memcpy(expect, uv, sizeof expect);
		int64_t nu = u + 1000;
		/* the value points into the backend's map (the user key is on the stack) */
		assert_int_equal(be->ops->map_put(be, &mk, &nu, sizeof nu, uv, uvlen), 0);
		void *got;
		size_t glen;
		assert_int_equal(be->ops->map_get(be, &mk, &nu, sizeof nu, &got, &glen), 1);
		assert_int_equal(glen, sizeof expect);
		assert_memory_equal(got, expect, sizeof expect);
	}
	assert_int_equal(be->ops->map_size(be, &mk), 400);
	be->ops->free(be);
}

/*
 * One record size at a time (keys and values sized to stay inline at 64, 128 or 256 bytes,
 * or out of line): every new key's value is put, or appended, straight from the previous
 * key's value as the backend handed it out, so each insert that grows the table reads a
 * value the growth moves. Then every third key is removed (re-seating probe runs) and all
 * are checked. Under ASan a missing copy is a use after free.
 */
static void alias_phase(size_t klen, size_t vlen, bool append)
{
	struct keyed_state_backend *be = heap_state_backend_new(0, 127);
	enum { N = 1500 };
	static uint8_t keys[N][300];
	uint8_t first[1000];
	fill(first, vlen);
	for (int i = 0; i < N; i++) {
		fill(keys[i], klen);
		memcpy(keys[i], &i, sizeof i); /* distinct in the first klen >= 2 bytes */
		struct state_key k = {
		    .state_id = 1, .key_group = i % 128, .key = keys[i], .key_len = klen};
		const void *src = first;
		if (i > 0) {
			struct state_key prev = {.state_id = 1,
			                         .key_group = (i - 1) % 128,
			                         .key = keys[i - 1],
			                         .key_len = klen};
			void *p;
			size_t len;
			assert_int_equal(be->ops->value_get(be, &prev, &p, &len), 1);
			assert_int_equal(len, vlen);
			src = p;
		}
		if (append)
			assert_int_equal(be->ops->value_append(be, &k, src, vlen), 0);
		else
			assert_int_equal(be->ops->value_put(be, &k, src, vlen), 0);
	}
	for (int i = 0; i < N; i += 3) {
		struct state_key k = {
		    .state_id = 1, .key_group = i % 128, .key = keys[i], .key_len = klen};
		be->ops->value_remove(be, &k);
	}
	for (int i = 0; i < N; i++) {
		struct state_key k = {
		    .state_id = 1, .key_group = i % 128, .key = keys[i], .key_len = klen};
		void *p;
		size_t len;
		assert_int_equal(be->ops->value_get(be, &k, &p, &len), i % 3 != 0);
		if (i % 3) {
			assert_int_equal(len, vlen);
			assert_memory_equal(p, first, vlen);
		}
	}
	assert_int_equal(be->ops->entry_count(be), N - (N + 2) / 3);
	be->ops->free(be);
}

static void test_borrowed_inputs_at_every_record_size(void **unused)
{
	alias_phase(9, 40, false);   /* 64-byte records: the int64 key and a 3-field row */
	alias_phase(9, 40, true);    /* the same, appended (a list's first element) */
	alias_phase(9, 100, false);  /* 128 */
	alias_phase(9, 200, false);  /* 256 */
	alias_phase(2, 24, false);   /* a value at offset 16, where an EXT pointer would go */
	alias_phase(280, 40, false); /* keys out of line */
	alias_phase(9, 1000, false); /* values out of line */
	alias_phase(9, 100, true);   /* appended past the 64-byte record: out of line */
}

static void test_backend_new(void **unused)
{
	struct spate_error err = {0};
	struct keyed_state_backend *be = state_backend_new("hashmap", 3, 9, NULL, &err);
	assert_non_null(be);
	assert_int_equal(be->key_group_first, 3);
	assert_int_equal(be->key_group_last, 9);
	assert_true(be->value_mutable);
	be->ops->free(be);
	assert_null(state_backend_new("memory", 0, 1, NULL, &err));
	assert_int_equal(err.code, SPATE_ECONFIG);
	memset(&err, 0, sizeof err);
	assert_null(state_backend_new("rocksdb", 0, 1, NULL, &err));
	assert_int_equal(err.code, SPATE_EINVAL);
}

/* A table of 65,536 records (4 MiB, grown four times past the random test's size): 40,000
 * int64 keys whose values are a function of the key, then every third removed (backward
 * shifts in long probe runs), and every key looked up one by one and in batches against
 * that function; the two lookups must hand out the same record. */
static int64_t large_value(uint64_t key)
{
	return (int64_t)(key * 2654435761u) ^ 77;
}

static void test_large_table(void **unused)
{
	enum { N = 40000 };
	struct keyed_state_backend *be = heap_state_backend_new(0, 127);
	static uint64_t keys[N];
	struct state_key sk[64];
	void *vals[64];
	size_t lens[64];
	for (uint64_t i = 0; i < N; i++) {
		keys[i] = i * 1000003u;
		struct state_key k = {.key = &keys[i], .key_len = 8, .key_group = (int)(i % 128)};
		int64_t v = large_value(keys[i]);
		assert_int_equal(be->ops->value_put(be, &k, &v, sizeof v), 0);
	}
	for (uint64_t i = 0; i < N; i += 3) {
		struct state_key k = {.key = &keys[i], .key_len = 8, .key_group = (int)(i % 128)};
		assert_int_equal(be->ops->value_remove(be, &k), 0);
	}
	assert_int_equal(be->ops->entry_count(be), N - (N + 2) / 3);
	for (int base = 0; base < N; base += 64) {
		int n = N - base < 64 ? N - base : 64;
		for (int r = 0; r < n; r++)
			sk[r] = (struct state_key){.key = &keys[base + r], .key_len = 8};
		assert_int_equal(be->ops->value_get_batch(be, sk, n, vals, lens), 0);
		for (int r = 0; r < n; r++) {
			void *p;
			size_t len;
			int present = (base + r) % 3 != 0;
			assert_int_equal(be->ops->value_get(be, &sk[r], &p, &len), present);
			assert_int_equal(vals[r] != NULL, present);
			if (present) {
				int64_t v;
				memcpy(&v, vals[r], sizeof v);
				assert_true(v == large_value(keys[base + r]));
				assert_ptr_equal(p, vals[r]);
			}
		}
	}
	be->ops->free(be);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_value_state_matches_oracle),
	    cmocka_unit_test(test_map_state),
	    cmocka_unit_test(test_value_append),
	    cmocka_unit_test(test_empty_map_is_no_entry),
	    cmocka_unit_test(test_sizes_and_aliasing_match_oracle),
	    cmocka_unit_test(test_borrowed_inputs_at_every_record_size),
	    cmocka_unit_test(test_backend_new),
	    cmocka_unit_test(test_large_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
