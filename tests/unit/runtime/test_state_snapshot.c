/*
 * test_state_snapshot.c - checkpoints of both keyed state backends ("hashmap", "rocksdb"):
 * snapshot, write, restore (same range, split, merged, across backends), snapshot isolation,
 * incremental RocksDB checkpoints and damaged files.
 *
 * The oracle is a plain model in this file: fixed arrays per key for value, map, list and
 * reducing state, changed by the same seeded random operations as the backend. A backend
 * restored over key groups [first, last] must hold exactly the model's entries of those key
 * groups, and nothing else.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dirent.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "runtime/state_backend.h"

/* ---- the model ------------------------------------------------------------------------- */

#define NKEYS 400
#define NUK 6
#define MAX_VAL 100
#define MAX_MVAL 16
#define KG_MAX 127

enum { ST_VALUE = 11, ST_MAP = 22, ST_LIST = 33, ST_RED = 44 };

struct model {
	bool has_val[NKEYS];
	uint8_t val[NKEYS][MAX_VAL];
	size_t val_len[NKEYS];
	bool has_map[NKEYS][NUK];
	uint8_t mval[NKEYS][NUK][MAX_MVAL];
	size_t mval_len[NKEYS][NUK];
	uint8_t *list[NKEYS]; /* owned: the concatenation of everything appended */
	size_t list_len[NKEYS];
	bool has_red[NKEYS];
	int64_t red[NKEYS];
};

static uint64_t rng;
static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static struct model *model_new(void)
{
	return xcalloc(1, sizeof(struct model));
}

static void model_free(struct model *m)
{
	for (int i = 0; i < NKEYS; i++)
		xfree(m->list[i]);
	xfree(m);
}

static struct model *model_copy(const struct model *m)
{
	struct model *c = xmalloc(sizeof *c);
	memcpy(c, m, sizeof *c);
	for (int i = 0; i < NKEYS; i++) {
		c->list[i] = NULL;
		if (m->list_len[i]) {
			c->list[i] = xmalloc(m->list_len[i]);
			memcpy(c->list[i], m->list[i], m->list_len[i]);
		}
	}
	return c;
}

static int key_group_of(int i)
{
	return (i * 37 + 5) % (KG_MAX + 1);
}

/* Keys of varying length; the key group is not derived from the bytes (the test decides). */
static struct state_key make_key(uint32_t state, int i, char *buf)
{
	int n = snprintf(buf, 32, "key-%d-%.*s", i, i % 5, "zzzzz");
	struct state_key k = {
	    .state_id = state, .key_group = key_group_of(i), .key = buf, .key_len = (size_t)n};
	return k;
}

/* User key u: empty for 0 (an empty user key is legal), else "u<u>". */
static size_t make_uk(int u, char *buf)
{
	if (u == 0)
		return 0;
	return (size_t)snprintf(buf, 8, "u%d", u);
}

static void fill_random(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)next_rand();
}

/* One random operation, on the backend and on the model alike. */
static void random_op(struct keyed_state_backend *be, struct model *m, int only_first,
                      int only_last)
{
	int i;
	do
		i = (int)(next_rand() % NKEYS);
	while (key_group_of(i) < only_first || key_group_of(i) > only_last);
	char kb[32], ub[8];
	int what = (int)(next_rand() % 20);
	if (what < 4) {
		struct state_key k = make_key(ST_VALUE, i, kb);
		size_t len = (size_t)(next_rand() % MAX_VAL);
		fill_random(m->val[i], len);
		m->val_len[i] = len;
		m->has_val[i] = true;
		assert_int_equal(be->ops->value_put(be, &k, m->val[i], len), 0);
	} else if (what < 6) {
		struct state_key k = make_key(ST_VALUE, i, kb);
		m->has_val[i] = false;
		assert_int_equal(be->ops->value_remove(be, &k), 0);
	} else if (what < 10) {
		struct state_key k = make_key(ST_MAP, i, kb);
		int u = (int)(next_rand() % NUK);
		size_t len = (size_t)(next_rand() % MAX_MVAL);
		fill_random(m->mval[i][u], len);
		m->mval_len[i][u] = len;
		m->has_map[i][u] = true;
		size_t ul = make_uk(u, ub);
		assert_int_equal(be->ops->map_put(be, &k, ub, ul, m->mval[i][u], len), 0);
	} else if (what < 12) {
		struct state_key k = make_key(ST_MAP, i, kb);
		int u = (int)(next_rand() % NUK);
		m->has_map[i][u] = false;
		size_t ul = make_uk(u, ub);
		assert_int_equal(be->ops->map_remove(be, &k, ub, ul), 0);
	} else if (what < 16) {
		struct state_key k = make_key(ST_LIST, i, kb);
		uint8_t el[20];
		size_t len = 1 + (size_t)(next_rand() % sizeof el);
		fill_random(el, len);
		m->list[i] = xrealloc(m->list[i], m->list_len[i] + len);
		memcpy(m->list[i] + m->list_len[i], el, len);
		m->list_len[i] += len;
		assert_int_equal(be->ops->value_append(be, &k, el, len), 0);
	} else if (what < 17) {
		struct state_key k = make_key(ST_LIST, i, kb);
		xfree(m->list[i]);
		m->list[i] = NULL;
		m->list_len[i] = 0;
		assert_int_equal(be->ops->value_remove(be, &k), 0);
	} else {
		/* Reducing state as operators use it: in place where the backend allows. */
		struct state_key k = make_key(ST_RED, i, kb);
		int64_t add = (int64_t)(next_rand() % 1000) - 500;
		void *p;
		size_t len;
		int found = be->ops->value_get(be, &k, &p, &len);
		assert_int_equal(found, m->has_red[i]);
		if (!found) {
			assert_int_equal(be->ops->value_put(be, &k, &add, sizeof add), 0);
			m->red[i] = add;
			m->has_red[i] = true;
			return;
		}
		assert_int_equal(len, sizeof(int64_t));
		int64_t v;
		memcpy(&v, p, sizeof v);
		v += add;
		memcpy(p, &v, sizeof v);
		if (!be->value_mutable)
			assert_int_equal(be->ops->value_put(be, &k, p, len), 0);
		m->red[i] = v;
	}
}

struct visit {
	const struct model *m;
	int key;
	bool seen[NUK];
	int count;
};

static int map_visit(void *arg, const void *uk, size_t uklen, const void *val, size_t len)
{
	struct visit *v = arg;
	int u = 0;
	if (uklen) {
		char b[8];
		assert_true(uklen < sizeof b);
		memcpy(b, uk, uklen);
		b[uklen] = '\0';
		assert_int_equal(b[0], 'u');
		u = atoi(b + 1);
	}
	assert_true(u >= 0 && u < NUK);
	assert_false(v->seen[u]);
	v->seen[u] = true;
	v->count++;
	assert_true(v->m->has_map[v->key][u]);
	assert_int_equal(len, v->m->mval_len[v->key][u]);
	assert_memory_equal(val, v->m->mval[v->key][u], len);
	return 0;
}

/* The backend holds exactly the model's entries of key groups [first, last]. */
static void check_backend(struct keyed_state_backend *be, const struct model *m, int first,
                          int last)
{
	size_t expected_entries = 0;
	for (int i = 0; i < NKEYS; i++) {
		bool in = key_group_of(i) >= first && key_group_of(i) <= last;
		char kb[32], ub[8];
		void *p;
		size_t len;

		struct state_key k = make_key(ST_VALUE, i, kb);
		int found = be->ops->value_get(be, &k, &p, &len);
		assert_int_equal(found, in && m->has_val[i]);
		if (found) {
			assert_int_equal(len, m->val_len[i]);
			assert_memory_equal(p, m->val[i], len);
			expected_entries++;
		}

		k = make_key(ST_MAP, i, kb);
		int nmap = 0;
		for (int u = 0; u < NUK; u++) {
			size_t ul = make_uk(u, ub);
			found = be->ops->map_get(be, &k, ub, ul, &p, &len);
			assert_int_equal(found, in && m->has_map[i][u]);
			if (found) {
				assert_int_equal(len, m->mval_len[i][u]);
				assert_memory_equal(p, m->mval[i][u], len);
				nmap++;
			}
		}
		assert_int_equal(be->ops->map_size(be, &k), nmap);
		struct visit v = {.m = m, .key = i};
		assert_int_equal(be->ops->map_iterate(be, &k, map_visit, &v), 0);
		assert_int_equal(v.count, nmap);
		expected_entries += nmap > 0;

		k = make_key(ST_LIST, i, kb);
		found = be->ops->value_get(be, &k, &p, &len);
		assert_int_equal(found, in && m->list_len[i] > 0);
		if (found) {
			assert_int_equal(len, m->list_len[i]);
			assert_memory_equal(p, m->list[i], len);
			expected_entries++;
		}

		k = make_key(ST_RED, i, kb);
		found = be->ops->value_get(be, &k, &p, &len);
		assert_int_equal(found, in && m->has_red[i]);
		if (found) {
			int64_t r;
			assert_int_equal(len, sizeof r);
			memcpy(&r, p, sizeof r);
			assert_true(r == m->red[i]);
			expected_entries++;
		}
	}
	assert_int_equal(be->ops->entry_count(be), expected_entries);
}

/* ---- helpers ----------------------------------------------------------------------------- */

static char tmp_root[64];
static int ndirs;

static int setup_root(void **state)
{
	snprintf(tmp_root, sizeof tmp_root, "/tmp/spate-state-test-XXXXXX");
	assert_non_null(mkdtemp(tmp_root));
	return 0;
}

static int teardown_root(void **state)
{
	assert_int_equal(checkpoint_remove_tree(tmp_root), 0);
	return 0;
}

/* A fresh directory under the test's root (new string). */
static char *new_dir(const char *what)
{
	char *d = xasprintf("%s/%s-%d", tmp_root, what, ndirs++);
	assert_int_equal(checkpoint_mkdirs(d), 0);
	return d;
}

static struct keyed_state_backend *new_backend(const char *type, int first, int last)
{
	char *local = xasprintf("%s/local-%d", tmp_root, ndirs++);
	struct spate_error err = {0};
	struct keyed_state_backend *be = state_backend_new(type, first, last, local, &err);
	if (!be)
		fail_msg("cannot create a %s backend: %s", type, err.msg);
	xfree(local);
	return be;
}

static void take_snapshot(struct keyed_state_backend *be, struct keyed_snapshot **s)
{
	struct spate_error err = {0};
	int rc = be->ops->snapshot(be, s, &err);
	if (rc)
		fail_msg("snapshot failed: %s", err.msg);
}

static void write_snapshot(struct keyed_snapshot *s, const char *dir, const char *shared,
                           const char *name, struct keyed_state_handle *h)
{
	struct snapshot_target t = {.dir = dir, .shared_dir = shared, .name = name};
	struct spate_error err = {0};
	int rc = keyed_snapshot_write(s, &t, h, &err);
	if (rc)
		fail_msg("snapshot write failed: %s", err.msg);
	keyed_snapshot_free(s);
}

static void snapshot_to(struct keyed_state_backend *be, const char *dir, const char *shared,
                        const char *name, struct keyed_state_handle *h)
{
	struct keyed_snapshot *s;
	take_snapshot(be, &s);
	write_snapshot(s, dir, shared, name, h);
}

static void restore_ok(struct keyed_state_backend *be, const char *dir,
                       const struct keyed_state_handle *h, int n)
{
	struct spate_error err = {0};
	int rc = be->ops->restore(be, dir, h, n, &err);
	if (rc)
		fail_msg("restore failed: %s", err.msg);
}

/* A backend over [0, KG_MAX] after `ops` random operations; fills *m. */
static struct keyed_state_backend *filled(const char *type, struct model **m, int ops,
                                          uint64_t seed)
{
	rng = seed;
	struct keyed_state_backend *be = new_backend(type, 0, KG_MAX);
	*m = model_new();
	for (int i = 0; i < ops; i++)
		random_op(be, *m, 0, KG_MAX);
	check_backend(be, *m, 0, KG_MAX);
	return be;
}

static const char *other(const char *type)
{
	return strcmp(type, "rocksdb") == 0 ? "hashmap" : "rocksdb";
}

/* ---- round trips and rescaling ----------------------------------------------------------- */

static void test_roundtrip(void **state)
{
	const char *type = *state;
	struct model *m;
	struct keyed_state_backend *be = filled(type, &m, 20000, 77);
	char *dir = new_dir("chk");
	struct keyed_state_handle h;
	snapshot_to(be, dir, NULL, "op-1-0", &h);
	assert_string_equal(h.backend, type);
	assert_int_equal(h.key_group_first, 0);
	assert_int_equal(h.key_group_last, KG_MAX);
	assert_true(h.nfiles >= 1);
	assert_true(h.state_size > 0);
	assert_true(h.incremental_size == h.state_size);
	int64_t sum = 0;
	for (int f = 0; f < h.nfiles; f++) {
		assert_null(strstr(h.files[f].path, "..")); /* self-contained */
		sum += h.files[f].size;
	}
	assert_true(sum == h.state_size);
	if (strcmp(type, "hashmap") == 0) {
		assert_int_equal(h.nfiles, 1);
		assert_string_equal(h.files[0].path, "op-1-0.state");
	}
	/* The source backend is unchanged by its snapshot. */
	check_backend(be, m, 0, KG_MAX);
	be->ops->free(be);

	struct keyed_state_backend *r = new_backend(type, 0, KG_MAX);
	restore_ok(r, dir, &h, 1);
	check_backend(r, m, 0, KG_MAX);
	/* The restored backend keeps working and snapshots again. */
	for (int i = 0; i < 2000; i++)
		random_op(r, m, 0, KG_MAX);
	check_backend(r, m, 0, KG_MAX);
	struct keyed_state_handle h2;
	char *dir2 = new_dir("chk");
	snapshot_to(r, dir2, NULL, "op-1-0", &h2);
	r->ops->free(r);
	r = new_backend(type, 0, KG_MAX);
	restore_ok(r, dir2, &h2, 1);
	check_backend(r, m, 0, KG_MAX);
	r->ops->free(r);

	keyed_state_handle_release(&h);
	keyed_state_handle_release(&h2);
	xfree(dir);
	xfree(dir2);
	model_free(m);
}

static void test_empty_snapshot(void **state)
{
	const char *type = *state;
	struct keyed_state_backend *be = new_backend(type, 10, 20);
	char *dir = new_dir("chk");
	struct keyed_state_handle h;
	snapshot_to(be, dir, NULL, "op-2-0", &h);
	be->ops->free(be);
	struct keyed_state_backend *r = new_backend(type, 0, 30);
	restore_ok(r, dir, &h, 1);
	assert_int_equal(r->ops->entry_count(r), 0);
	r->ops->free(r);
	keyed_state_handle_release(&h);
	xfree(dir);
}

/* Splits one snapshot of 0-127 over `n` backends with the given ranges. */
static void split_into(const char *from_type, const char *to_type, const int (*ranges)[2], int n)
{
	struct model *m;
	struct keyed_state_backend *be = filled(from_type, &m, 15000, 1234 + (uint64_t)n);
	char *dir = new_dir("chk");
	struct keyed_state_handle h;
	snapshot_to(be, dir, NULL, "op-3-0", &h);
	be->ops->free(be);
	size_t total = 0;
	for (int i = 0; i < n; i++) {
		struct keyed_state_backend *r = new_backend(to_type, ranges[i][0], ranges[i][1]);
		restore_ok(r, dir, &h, 1);
		check_backend(r, m, ranges[i][0], ranges[i][1]);
		total += r->ops->entry_count(r);
		r->ops->free(r);
	}
	/* Nothing lost between the parts. */
	struct keyed_state_backend *all = new_backend(to_type, 0, KG_MAX);
	restore_ok(all, dir, &h, 1);
	assert_int_equal(all->ops->entry_count(all), total);
	all->ops->free(all);
	keyed_state_handle_release(&h);
	xfree(dir);
	model_free(m);
}

static void test_rescale_split(void **state)
{
	const char *type = *state;
	static const int two[][2] = {{0, 63}, {64, 127}};
	static const int three[][2] = {{0, 9}, {10, 100}, {101, 127}};
	split_into(type, type, two, 2);
	split_into(type, type, three, 3);
}

/* Two backends (0-63, 64-127) restored into one over 0-127. */
static void merge_from(const char *from_type, const char *to_type)
{
	rng = 999;
	struct model *m = model_new();
	struct keyed_state_backend *a = new_backend(from_type, 0, 63);
	struct keyed_state_backend *b = new_backend(from_type, 64, KG_MAX);
	for (int i = 0; i < 15000; i++) {
		random_op(a, m, 0, 63);
		random_op(b, m, 64, KG_MAX);
	}
	char *dir = new_dir("chk");
	struct keyed_state_handle h[2];
	snapshot_to(a, dir, NULL, "op-4-0", &h[0]);
	snapshot_to(b, dir, NULL, "op-4-1", &h[1]);
	a->ops->free(a);
	b->ops->free(b);
	struct keyed_state_backend *r = new_backend(to_type, 0, KG_MAX);
	restore_ok(r, dir, h, 2);
	check_backend(r, m, 0, KG_MAX);
	r->ops->free(r);
	/* And a range that takes part of each. */
	r = new_backend(to_type, 40, 90);
	restore_ok(r, dir, h, 2);
	check_backend(r, m, 40, 90);
	r->ops->free(r);
	keyed_state_handle_release(&h[0]);
	keyed_state_handle_release(&h[1]);
	xfree(dir);
	model_free(m);
}

static void test_rescale_merge(void **state)
{
	merge_from(*state, *state);
}

/* A savepoint of one backend restored into the other (entry by entry). */
static void test_convert(void **state)
{
	const char *type = *state;
	static const int two[][2] = {{0, 63}, {64, 127}};
	static const int one[][2] = {{0, 127}};
	split_into(type, other(type), one, 1);
	split_into(type, other(type), two, 2);
	merge_from(type, other(type));
}

/* ---- isolation and lifetime ----------------------------------------------------------------- */

static void test_snapshot_isolation(void **state)
{
	const char *type = *state;
	struct model *m;
	struct keyed_state_backend *be = filled(type, &m, 10000, 4242);
	struct keyed_snapshot *s;
	take_snapshot(be, &s);
	struct model *at_snapshot = model_copy(m);
	/* The task goes on (in place too, on the heap) before the snapshot is written. */
	for (int i = 0; i < 10000; i++)
		random_op(be, m, 0, KG_MAX);
	check_backend(be, m, 0, KG_MAX);
	char *dir = new_dir("chk");
	struct keyed_state_handle h;
	write_snapshot(s, dir, NULL, "op-5-0", &h);
	struct keyed_state_backend *r = new_backend(type, 0, KG_MAX);
	restore_ok(r, dir, &h, 1);
	check_backend(r, at_snapshot, 0, KG_MAX);
	r->ops->free(r);
	be->ops->free(be);
	keyed_state_handle_release(&h);
	xfree(dir);
	model_free(m);
	model_free(at_snapshot);
}

/* A snapshot may be written after its backend is gone (a task canceled mid-checkpoint). */
static void test_snapshot_outlives_backend(void **state)
{
	const char *type = *state;
	struct model *m;
	struct keyed_state_backend *be = filled(type, &m, 5000, 31337);
	struct keyed_snapshot *s;
	take_snapshot(be, &s);
	be->ops->free(be);
	char *dir = new_dir("chk");
	struct keyed_state_handle h;
	write_snapshot(s, dir, NULL, "op-6-0", &h);
	struct keyed_state_backend *r = new_backend(type, 0, KG_MAX);
	restore_ok(r, dir, &h, 1);
	check_backend(r, m, 0, KG_MAX);
	r->ops->free(r);
	keyed_state_handle_release(&h);
	xfree(dir);
	model_free(m);
}

/* The asynchronous part on another thread while the task thread goes on changing the state
 * (and RocksDB flushes and compacts the files the snapshots link to): each checkpoint still
 * restores to its state at snapshot(). Also what the TSan build exercises. */
struct writer {
	struct keyed_snapshot *s;
	struct snapshot_target t;
	struct keyed_state_handle h;
	struct spate_error err;
	int rc;
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	w->rc = keyed_snapshot_write(w->s, &w->t, &w->h, &w->err);
	keyed_snapshot_free(w->s);
	return NULL;
}

static void test_snapshot_written_concurrently(void **state)
{
	const char *type = *state;
	struct model *m;
	struct keyed_state_backend *be = filled(type, &m, 5000, 1999);
	char *job = new_dir("job");
	char *shared = xasprintf("%s/shared", job);
	for (int round = 1; round <= 6; round++) {
		struct writer w = {.t = {.shared_dir = shared, .name = "op-11-0"}};
		char *dir = xasprintf("%s/chk-%d", job, round);
		w.t.dir = dir;
		take_snapshot(be, &w.s);
		struct model *at_snapshot = model_copy(m);
		pthread_t th;
		assert_int_equal(pthread_create(&th, NULL, writer_main, &w), 0);
		for (int i = 0; i < 4000; i++)
			random_op(be, m, 0, KG_MAX);
		assert_int_equal(pthread_join(th, NULL), 0);
		if (w.rc)
			fail_msg("round %d: %s", round, w.err.msg);
		struct keyed_state_backend *r = new_backend(type, 0, KG_MAX);
		restore_ok(r, dir, &w.h, 1);
		check_backend(r, at_snapshot, 0, KG_MAX);
		r->ops->free(r);
		keyed_state_handle_release(&w.h);
		model_free(at_snapshot);
		xfree(dir);
	}
	check_backend(be, m, 0, KG_MAX);
	be->ops->free(be);
	xfree(shared);
	xfree(job);
	model_free(m);
}

/* ---- incremental RocksDB checkpoints ------------------------------------------------------ */

static bool handle_has_path(const struct keyed_state_handle *h, const char *path)
{
	for (int i = 0; i < h->nfiles; i++)
		if (strcmp(h->files[i].path, path) == 0)
			return true;
	return false;
}

static void test_incremental_rocksdb(void **state)
{
	struct model *m;
	struct keyed_state_backend *be = filled("rocksdb", &m, 30000, 5150);
	char *job = new_dir("job");
	char *chk1 = xasprintf("%s/chk-1", job), *chk2 = xasprintf("%s/chk-2", job);
	char *chk3 = xasprintf("%s/chk-3", job), *shared = xasprintf("%s/shared", job);
	struct keyed_state_handle h1, h2, h3;
	snapshot_to(be, chk1, shared, "op-7-0", &h1);
	struct model *m1 = model_copy(m);
	/* A first checkpoint copies everything; SST files go to the shared directory. */
	assert_true(h1.incremental_size == h1.state_size);
	int nshared = 0;
	for (int i = 0; i < h1.nfiles; i++)
		if (strncmp(h1.files[i].path, "../shared/", 10) == 0) {
			nshared++;
			assert_non_null(strstr(h1.files[i].path, ".sst"));
		} else {
			assert_null(strstr(h1.files[i].path, ".sst"));
			assert_non_null(strstr(h1.files[i].path, "op-7-0@"));
		}
	assert_true(nshared >= 1);

	for (int i = 0; i < 50; i++)
		random_op(be, m, 0, KG_MAX);
	snapshot_to(be, chk2, shared, "op-7-0", &h2);
	struct model *m2 = model_copy(m);
	/* The second copies only its new SST file and the small metadata files. */
	if (!(h2.incremental_size < h2.state_size))
		fail_msg("incremental %lld, full %lld", (long long)h2.incremental_size,
		         (long long)h2.state_size);
	int reused = 0;
	for (int i = 0; i < h2.nfiles; i++)
		if (strncmp(h2.files[i].path, "../shared/", 10) == 0 &&
		    handle_has_path(&h1, h2.files[i].path))
			reused++;
	assert_true(reused >= 1);

	/* Without changes nothing new is shared; only the metadata files are copied. */
	snapshot_to(be, chk3, shared, "op-7-0", &h3);
	int64_t shared_new = h3.incremental_size;
	for (int i = 0; i < h3.nfiles; i++)
		if (strncmp(h3.files[i].path, "../shared/", 10) != 0)
			shared_new -= h3.files[i].size;
	assert_true(shared_new == 0);
	be->ops->free(be);

	/* Each checkpoint restores to its own state (chk-1 after chk-2 was taken). */
	struct keyed_state_backend *r = new_backend("rocksdb", 0, KG_MAX);
	restore_ok(r, chk2, &h2, 1);
	check_backend(r, m2, 0, KG_MAX);
	r->ops->free(r);
	r = new_backend("rocksdb", 0, KG_MAX);
	restore_ok(r, chk1, &h1, 1);
	check_backend(r, m1, 0, KG_MAX);
	r->ops->free(r);
	/* And rescaled, through the temporary read-only databases. */
	r = new_backend("rocksdb", 30, 70);
	restore_ok(r, chk2, &h2, 1);
	check_backend(r, m2, 30, 70);
	r->ops->free(r);
	r = new_backend("hashmap", 0, KG_MAX);
	restore_ok(r, chk3, &h3, 1);
	check_backend(r, m2, 0, KG_MAX);
	r->ops->free(r);

	keyed_state_handle_release(&h1);
	keyed_state_handle_release(&h2);
	keyed_state_handle_release(&h3);
	xfree(chk1);
	xfree(chk2);
	xfree(chk3);
	xfree(shared);
	xfree(job);
	model_free(m);
	model_free(m1);
	model_free(m2);
}

/* ---- damaged files --------------------------------------------------------------------------- */

enum damage { FLIP, DELETE, TRUNCATE };

/* The index of h's largest file (an SST for RocksDB). */
static int largest_file(const struct keyed_state_handle *h)
{
	int best = 0;
	for (int i = 1; i < h->nfiles; i++)
		if (h->files[i].size > h->files[best].size)
			best = i;
	return best;
}

static void damage_file(const char *path, enum damage d)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	if (d == DELETE) {
		assert_int_equal(unlink(path), 0);
		return;
	}
	if (d == TRUNCATE) {
		assert_int_equal(truncate(path, st.st_size / 2), 0);
		return;
	}
	FILE *f = fopen(path, "r+b");
	assert_non_null(f);
	long off = (long)(st.st_size / 2);
	assert_int_equal(fseek(f, off, SEEK_SET), 0);
	int c = fgetc(f);
	assert_int_equal(fseek(f, off, SEEK_SET), 0);
	fputc(c ^ 0x5a, f);
	fclose(f);
}

static void check_damage(const char *type, enum damage d, bool incremental)
{
	struct model *m;
	struct keyed_state_backend *be = filled(type, &m, 5000, 2718 + (uint64_t)d);
	char *job = new_dir("job");
	char *dir = xasprintf("%s/chk-1", job), *shared = xasprintf("%s/shared", job);
	struct keyed_state_handle h;
	snapshot_to(be, dir, incremental ? shared : NULL, "op-8-0", &h);
	be->ops->free(be);
	int victim = largest_file(&h);
	char *path = xasprintf("%s/%s", dir, h.files[victim].path);
	damage_file(path, d);
	/* Every key group, a few, and through the other backend too. */
	const char *types[2] = {type, other(type)};
	for (int t = 0; t < 2; t++) {
		struct keyed_state_backend *r = new_backend(types[t], 0, 40);
		struct spate_error err = {0};
		int rc = r->ops->restore(r, dir, &h, 1, &err);
		assert_int_equal(rc, d == DELETE ? SPATE_ENOENT : SPATE_ECORRUPT);
		if (!strstr(err.msg, path))
			fail_msg("error '%s' does not name '%s'", err.msg, path);
		assert_non_null(strstr(err.msg, d == DELETE ? "is missing" : "is corrupt"));
		r->ops->free(r);
	}
	keyed_state_handle_release(&h);
	xfree(path);
	xfree(dir);
	xfree(shared);
	xfree(job);
	model_free(m);
}

static void test_damaged_files(void **state)
{
	const char *type = *state;
	for (int d = FLIP; d <= TRUNCATE; d++) {
		check_damage(type, (enum damage)d, false);
		if (strcmp(type, "rocksdb") == 0)
			check_damage(type, (enum damage)d, true);
	}
}

/* A damaged file in a handle outside the backend's key groups is not even read. */
static void test_other_key_groups_not_read(void **state)
{
	const char *type = *state;
	rng = 8080;
	struct model *m = model_new();
	struct keyed_state_backend *a = new_backend(type, 0, 63);
	struct keyed_state_backend *b = new_backend(type, 64, KG_MAX);
	for (int i = 0; i < 3000; i++) {
		random_op(a, m, 0, 63);
		random_op(b, m, 64, KG_MAX);
	}
	char *dir = new_dir("chk");
	struct keyed_state_handle h[2];
	snapshot_to(a, dir, NULL, "op-9-0", &h[0]);
	snapshot_to(b, dir, NULL, "op-9-1", &h[1]);
	a->ops->free(a);
	b->ops->free(b);
	char *path = xasprintf("%s/%s", dir, h[1].files[largest_file(&h[1])].path);
	damage_file(path, DELETE);
	struct keyed_state_backend *r = new_backend(type, 0, 63);
	restore_ok(r, dir, h, 2);
	check_backend(r, m, 0, 63);
	r->ops->free(r);
	keyed_state_handle_release(&h[0]);
	keyed_state_handle_release(&h[1]);
	xfree(path);
	xfree(dir);
	model_free(m);
}

static void test_unknown_backend(void **state)
{
	struct spate_error err = {0};
	assert_null(state_backend_new("leveldb", 0, 1, "/tmp/x", &err));
	assert_int_equal(err.code, SPATE_ECONFIG);
	assert_non_null(strstr(err.msg, "'leveldb'"));

	struct keyed_state_backend *be = new_backend(*state, 0, KG_MAX);
	struct keyed_state_handle h = {.key_group_first = 0, .key_group_last = KG_MAX};
	snprintf(h.backend, sizeof h.backend, "forst");
	memset(&err, 0, sizeof err);
	assert_int_equal(be->ops->restore(be, tmp_root, &h, 1, &err), SPATE_ECONFIG);
	char want[128];
	snprintf(want, sizeof want,
	         "cannot restore state written by the 'forst' backend into the '%s' backend",
	         (const char *)*state);
	assert_string_equal(err.msg, want);
	be->ops->free(be);
}

/* ---- the heap file decoder on damaged images ------------------------------------------------- */

static int count_entry(void *arg, const struct state_entry *e)
{
	(*(size_t *)arg)++;
	assert_true(e->key_group >= 0 && e->key_group <= KG_MAX);
	return 0;
}

static uint8_t *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	*len = (size_t)ftell(f);
	fseek(f, 0, SEEK_SET);
	uint8_t *b = xmalloc(*len);
	assert_int_equal(fread(b, 1, *len, f), *len);
	fclose(f);
	return b;
}

/* Random flips and truncations: the decoder returns 0 or SPATE_ECORRUPT, never reads out
 * of bounds (run under ASan). Every flip that the decoder accepts still yields entries in
 * range. The checksum would catch these in a restore; this is the decoder's own guard. */
static void test_heap_decoder_mutations(void **state)
{
	struct model *m;
	struct keyed_state_backend *be = filled("hashmap", &m, 3000, 6502);
	char *dir = new_dir("chk");
	struct keyed_state_handle h;
	snapshot_to(be, dir, NULL, "op-10-0", &h);
	be->ops->free(be);
	char *path = xasprintf("%s/%s", dir, h.files[0].path);
	size_t len;
	uint8_t *img = read_all(path, &len);
	size_t n = 0;
	struct spate_error err = {0};
	assert_int_equal(heap_snapshot_decode(img, len, "img", 0, KG_MAX, count_entry, &n, &err),
	                 0);
	assert_true(n > 0);
	uint8_t *mut = xmalloc(len);
	for (int iter = 0; iter < 3000; iter++) {
		memcpy(mut, img, len);
		size_t mlen = len;
		if (iter % 4 == 0) {
			mlen = (size_t)(next_rand() % len);
		} else {
			int flips = 1 + (int)(next_rand() % 4);
			/* Mostly in the header and index, where lengths live. */
			for (int f = 0; f < flips; f++) {
				size_t at =
				    next_rand() % (iter % 2 ? len : (len < 512 ? len : 512));
				mut[at] ^= (uint8_t)(1 + next_rand() % 255);
			}
		}
		uint8_t *exact = xmalloc(mlen ? mlen : 1); /* so ASan sees the true end */
		memcpy(exact, mut, mlen);
		memset(&err, 0, sizeof err);
		n = 0;
		int rc = heap_snapshot_decode(exact, mlen, "img", 0, KG_MAX, count_entry, &n, &err);
		assert_true(rc == 0 || rc == SPATE_ECORRUPT);
		if (rc)
			assert_non_null(strstr(err.msg, "'img'"));
		xfree(exact);
	}
	xfree(mut);
	xfree(img);
	xfree(path);
	keyed_state_handle_release(&h);
	xfree(dir);
	model_free(m);
}

/* Run last: every backend and snapshot above was freed, and took its directories along
 * (databases, snapshots' working copies, restore's temporary databases). */
static void test_no_leftovers(void **state)
{
	DIR *d = opendir(tmp_root);
	assert_non_null(d);
	struct dirent *de;
	while ((de = readdir(d)))
		if (strncmp(de->d_name, "local-", 6) == 0)
			fail_msg("'%s/%s' is left over", tmp_root, de->d_name);
	closedir(d);
}

#define BOTH(fn)                                          \
	cmocka_unit_test_prestate(fn, (void *)"hashmap"), \
	    cmocka_unit_test_prestate(fn, (void *)"rocksdb")

int main(void)
{
	const struct CMUnitTest tests[] = {
	    BOTH(test_roundtrip),
	    BOTH(test_empty_snapshot),
	    BOTH(test_rescale_split),
	    BOTH(test_rescale_merge),
	    BOTH(test_convert),
	    BOTH(test_snapshot_isolation),
	    BOTH(test_snapshot_outlives_backend),
	    BOTH(test_snapshot_written_concurrently),
	    cmocka_unit_test(test_incremental_rocksdb),
	    BOTH(test_damaged_files),
	    BOTH(test_other_key_groups_not_read),
	    BOTH(test_unknown_backend),
	    cmocka_unit_test(test_heap_decoder_mutations),
	    cmocka_unit_test(test_no_leftovers),
	};
	return cmocka_run_group_tests(tests, setup_root, teardown_root);
}
