/*
 * state_rocksdb.c - the RocksDB keyed state backend (state.backend.type: rocksdb), through
 * Debian's librocksdb C API.
 *
 * DESIGN. One database per keyed operator per subtask, in "<local_dir>/db", used only by the
 * task's thread (RocksDB's own flush and compaction threads are its business). Every entry
 * is one RocksDB key:
 *
 *   u16 key group | u32 state id | u32 key length | key | u8 tag | user key
 *
 * all big-endian, tag 0 for a value and 1 for a map entry (followed by its user key). The
 * key group comes first so that the entries of a key-group range are one contiguous key
 * range: restoring at another parallelism is a range scan. The tag keeps an empty user key
 * apart from a value and makes "every entry of one map" the prefix ending in tag 1, iterated
 * with an upper bound of the same prefix ending in 2. Lists are values grown by a merge
 * operator that concatenates ("spate.append"), so adding to a list does not read it.
 *
 * Writes skip the WAL: a checkpoint is what makes state durable, and a task that fails
 * restores from the last completed one, never from its local database.
 *
 * Checkpoints. snapshot() runs on the task thread: rocksdb_checkpoint_create flushes the
 * memtable and hard-links the live SST files (copying MANIFEST, CURRENT, OPTIONS) into a
 * fresh directory "<local_dir>-chk-<pid>-<n>" beside the database (not inside it, so that
 * the snapshot stays valid after the backend is freed). keyed_snapshot_write() then copies
 * those files out on another thread; it never touches the database. With a shared_dir
 * (incremental checkpoints) each SST file goes there under a content-addressed name,
 * "<xxh64 as 16 hex>-<size>@<rocksdb name>", and is not copied when a file of that name is
 * already there: SST files are immutable, so consecutive checkpoints share most of them.
 * Everything else goes to the checkpoint's own directory as "<name>@<rocksdb name>". The
 * RocksDB name of any file in a handle is what follows the last '@' of its path, so a
 * restore needs no manifest of its own. To avoid reading every SST again at every
 * checkpoint just to name it, the checksums of the previous snapshot's SST files are kept
 * (struct sst_cache, keyed by RocksDB file name and size: a database never reuses a file
 * number), shared between the backend and its snapshots and locked because snapshots are
 * written on other threads.
 *
 * Restore. All files are checked against their checksums first. One RocksDB handle with
 * exactly this backend's key groups is restored by placing its files in the database
 * directory under their RocksDB names (SST files hard-linked when the file system allows:
 * RocksDB never writes to an SST file; the others copied, as RocksDB appends to its
 * MANIFEST) and opening it. Anything else (rescaling, or state of the heap backend) is
 * restored entry by entry: each RocksDB handle is placed in a temporary directory, opened
 * read-only and range-scanned, and each heap file is decoded, into write batches.
 */
#include "runtime/state_backend.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rocksdb/c.h>
#include <xxhash.h>

#include "core/alloc.h"

#define KEY_PREFIX_BYTES 10 /* key group, state id, key length */
#define TAG_VALUE 0
#define TAG_MAP 1
#define WRITE_BUFFER_BYTES (16u << 20)
#define BLOCK_CACHE_BYTES ((size_t)128 << 20) /* for all databases of the process */
#define RESTORE_BATCH_BYTES (4u << 20)
#define COPY_CHUNK_BYTES (1u << 20)
#define ROCKSDB_WARN_LEVEL 2 /* rocksdb::InfoLogLevel::WARN_LEVEL */

/* ---- checksums of SST files already written -------------------------------------------- */

struct sst_sum {
	char *name; /* owned: the RocksDB file name */
	int64_t size;
	uint64_t checksum;
};

struct sst_cache {
	atomic_int refs;
	pthread_mutex_t mu; /* a leaf lock: nothing else is taken while holding it */
	struct sst_sum *v;  /* guarded by: mu */
	int n;              /* guarded by: mu */
};

static struct sst_cache *sst_cache_new(void)
{
	struct sst_cache *c = xcalloc(1, sizeof *c);
	atomic_init(&c->refs, 1);
	pthread_mutex_init(&c->mu, NULL);
	return c;
}

static void sst_sums_free(struct sst_sum *v, int n)
{
	for (int i = 0; i < n; i++)
		xfree(v[i].name);
	xfree(v);
}

static struct sst_cache *sst_cache_ref(struct sst_cache *c)
{
	atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
	return c;
}

static void sst_cache_unref(struct sst_cache *c)
{
	if (!c || atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
		return;
	sst_sums_free(c->v, c->n);
	pthread_mutex_destroy(&c->mu);
	xfree(c);
}

static bool sst_cache_get(struct sst_cache *c, const char *name, int64_t size, uint64_t *sum)
{
	bool found = false;
	pthread_mutex_lock(&c->mu);
	for (int i = 0; i < c->n; i++)
		if (c->v[i].size == size && strcmp(c->v[i].name, name) == 0) {
			*sum = c->v[i].checksum;
			found = true;
			break;
		}
	pthread_mutex_unlock(&c->mu);
	return found;
}

/* Replaces the cache's content with v (taken): the files of the latest snapshot. */
static void sst_cache_set(struct sst_cache *c, struct sst_sum *v, int n)
{
	pthread_mutex_lock(&c->mu);
	struct sst_sum *old = c->v;
	int oldn = c->n;
	c->v = v;
	c->n = n;
	pthread_mutex_unlock(&c->mu);
	sst_sums_free(old, oldn);
}

/* ---- the append merge operator ------------------------------------------------------------ */

/*
 * These run on whichever thread reads or compacts, inside RocksDB, and hand their result to
 * RocksDB, which frees it through append_delete: so plain malloc/free, and failure is
 * reported to RocksDB (success = 0) instead of aborting.
 */
static char *append_concat(const char *first, size_t first_len, const char *const *ops,
                           const size_t *op_lens, int nops, unsigned char *success, size_t *new_len)
{
	size_t n = first_len;
	for (int i = 0; i < nops; i++)
		n += op_lens[i];
	char *r = malloc(n ? n : 1);
	if (!r) {
		*success = 0;
		return NULL;
	}
	size_t off = 0;
	if (first_len) {
		memcpy(r, first, first_len);
		off = first_len;
	}
	for (int i = 0; i < nops; i++) {
		if (op_lens[i])
			memcpy(r + off, ops[i], op_lens[i]);
		off += op_lens[i];
	}
	*success = 1;
	*new_len = n;
	return r;
}

static char *append_full_merge(void *state, const char *key, size_t key_len, const char *existing,
                               size_t existing_len, const char *const *ops, const size_t *op_lens,
                               int nops, unsigned char *success, size_t *new_len)
{
	return append_concat(existing, existing ? existing_len : 0, ops, op_lens, nops, success,
	                     new_len);
}

static char *append_partial_merge(void *state, const char *key, size_t key_len,
                                  const char *const *ops, const size_t *op_lens, int nops,
                                  unsigned char *success, size_t *new_len)
{
	return append_concat(NULL, 0, ops, op_lens, nops, success, new_len);
}

static void append_delete(void *state, const char *value, size_t len)
{
	free((void *)value);
}

static void append_destroy(void *state)
{
}

static const char *append_name(void *state)
{
	return "spate.append";
}

/* One block cache for every database of the process (as Flink shares managed memory),
 * instead of one per database. Never freed: databases hold references until they close. */
static rocksdb_cache_t *block_cache;
static pthread_once_t block_cache_once = PTHREAD_ONCE_INIT;

static void block_cache_create(void)
{
	block_cache = rocksdb_cache_create_lru(BLOCK_CACHE_BYTES);
}

/* Options every database of this backend is opened with (also read-only for restore: the
 * merge operator must be there to read unmerged lists). Free with rocksdb_options_destroy. */
static rocksdb_options_t *make_options(void)
{
	rocksdb_options_t *o = rocksdb_options_create();
	rocksdb_options_set_create_if_missing(o, 1);
	rocksdb_options_set_write_buffer_size(o, WRITE_BUFFER_BYTES);
	rocksdb_options_set_compression(o, rocksdb_lz4_compression);
	/*
	 * Keyed state is mostly read-modify-write of the same keys (a rolling sum reads and
	 * puts its key per record). By default every put adds a version to the memtable's
	 * skip list, which then grows deep with versions of few keys; updating in place keeps
	 * one entry per key and halved the cost per record in our measurements. It gives up
	 * point-in-time iterators over the memtable, which nothing here needs: one thread
	 * reads and writes, and checkpoints flush the memtable first.
	 */
	rocksdb_options_set_allow_concurrent_memtable_write(o, 0);
	rocksdb_options_set_inplace_update_support(o, 1);
	rocksdb_options_set_inplace_update_num_locks(o, 16);
	/* Bloom filters: the first record of a key looks for state that is not there, which
	 * without a filter means searching every level. */
	pthread_once(&block_cache_once, block_cache_create);
	rocksdb_block_based_table_options_t *bb = rocksdb_block_based_options_create();
	rocksdb_block_based_options_set_filter_policy(bb,
	                                              rocksdb_filterpolicy_create_bloom_full(10));
	rocksdb_block_based_options_set_block_cache(bb, block_cache);
	rocksdb_options_set_block_based_table_factory(o, bb);
	rocksdb_block_based_options_destroy(bb);
	/* RocksDB's LOG stays small: it is not part of any checkpoint. */
	rocksdb_options_set_info_log_level(o, ROCKSDB_WARN_LEVEL);
	rocksdb_options_set_keep_log_file_num(o, 1);
	rocksdb_options_set_max_log_file_size(o, 1u << 20);
	rocksdb_options_set_stats_dump_period_sec(o, 0);
	rocksdb_options_set_stats_persist_period_sec(o, 0);
	/* The options own the operator from here on. */
	rocksdb_options_set_merge_operator(
	    o, rocksdb_mergeoperator_create(NULL, append_destroy, append_full_merge,
	                                    append_partial_merge, append_delete, append_name));
	return o;
}

/* ---- the backend ------------------------------------------------------------------------ */

struct rocksdb_backend {
	struct keyed_state_backend base;
	char *local_dir; /* owned, no trailing '/' */
	char *db_dir;    /* owned: <local_dir>/db */
	rocksdb_options_t *opts;
	rocksdb_readoptions_t *ropts;
	rocksdb_writeoptions_t *wopts; /* WAL off */
	rocksdb_t *db;                 /* NULL only after a restore failed beyond repair */
	uint8_t *kbuf;                 /* owned: the key of the current call */
	size_t kcap;
	uint8_t *vbuf; /* owned: the value get handed out (valid until the next call) */
	size_t vcap;
	char *failure;          /* owned: the first RocksDB error, or NULL */
	struct sst_cache *sums; /* shared with this backend's snapshots */
};

#define RB(be) ((struct rocksdb_backend *)(be))

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void grow(uint8_t **buf, size_t *cap, size_t need)
{
	if (need <= *cap)
		return;
	size_t c = *cap ? *cap : 64;
	while (c < need)
		c *= 2;
	*buf = xrealloc(*buf, c);
	*cap = c;
}

/* Encodes the key of (state, key group, key, tag[, user key]) into r->kbuf. */
static size_t encode_key(struct rocksdb_backend *r, uint32_t state_id, int kg, const void *key,
                         size_t key_len, int tag, const void *uk, size_t uk_len)
{
	size_t n = KEY_PREFIX_BYTES + key_len + 1 + uk_len;
	grow(&r->kbuf, &r->kcap, n);
	uint8_t *p = r->kbuf;
	p[0] = (uint8_t)(kg >> 8);
	p[1] = (uint8_t)kg;
	put_be32(p + 2, state_id);
	put_be32(p + 6, (uint32_t)key_len);
	memcpy(p + KEY_PREFIX_BYTES, key, key_len);
	p[KEY_PREFIX_BYTES + key_len] = (uint8_t)tag;
	if (uk_len)
		memcpy(p + KEY_PREFIX_BYTES + key_len + 1, uk, uk_len);
	return n;
}

static size_t encode_state_key(struct rocksdb_backend *r, const struct state_key *k, int tag,
                               const void *uk, size_t uk_len)
{
	return encode_key(r, k->state_id, k->key_group, k->key, k->key_len, tag, uk, uk_len);
}

/* Decodes a key; false if it is not one of ours. */
static bool decode_key(const uint8_t *p, size_t n, struct state_entry *e)
{
	if (n < KEY_PREFIX_BYTES + 1)
		return false;
	e->key_group = (int)((unsigned)p[0] << 8 | p[1]);
	e->state_id = get_be32(p + 2);
	uint32_t klen = get_be32(p + 6);
	if ((size_t)klen > n - KEY_PREFIX_BYTES - 1)
		return false;
	e->key = p + KEY_PREFIX_BYTES;
	e->key_len = klen;
	int tag = p[KEY_PREFIX_BYTES + klen];
	size_t rest = n - KEY_PREFIX_BYTES - klen - 1;
	if (tag == TAG_VALUE && rest == 0) {
		e->is_map = false;
		e->uk = NULL;
		e->uk_len = 0;
		return true;
	}
	if (tag != TAG_MAP)
		return false;
	e->is_map = true;
	e->uk = p + KEY_PREFIX_BYTES + klen + 1;
	e->uk_len = rest;
	return true;
}

/* Records the first RocksDB error (err is freed) and returns SPATE_EIO. */
static int rdb_failed(struct rocksdb_backend *r, const char *what, char *err)
{
	if (!r->failure)
		r->failure = xasprintf("%s in '%s': %s", what, r->db_dir, err ? err : "?");
	rocksdb_free(err);
	return SPATE_EIO;
}

static int rdb_get(struct rocksdb_backend *r, size_t klen, void **val, size_t *len)
{
	if (!r->db)
		return SPATE_EIO;
	char *err = NULL;
	rocksdb_pinnableslice_t *ps =
	    rocksdb_get_pinned(r->db, r->ropts, (const char *)r->kbuf, klen, &err);
	if (err)
		return rdb_failed(r, "cannot read state", err);
	if (!ps)
		return 0;
	size_t n;
	const char *v = rocksdb_pinnableslice_value(ps, &n);
	/* A copy the caller may change (operators do, then put it back). */
	grow(&r->vbuf, &r->vcap, n ? n : 1);
	if (n)
		memcpy(r->vbuf, v, n);
	rocksdb_pinnableslice_destroy(ps);
	*val = r->vbuf;
	*len = n;
	return 1;
}

static int rdb_put(struct rocksdb_backend *r, size_t klen, const void *val, size_t len)
{
	if (!r->db)
		return SPATE_EIO;
	char *err = NULL;
	rocksdb_put(r->db, r->wopts, (const char *)r->kbuf, klen, val, len, &err);
	return err ? rdb_failed(r, "cannot write state", err) : 0;
}

static int rdb_delete(struct rocksdb_backend *r, size_t klen)
{
	if (!r->db)
		return SPATE_EIO;
	char *err = NULL;
	rocksdb_delete(r->db, r->wopts, (const char *)r->kbuf, klen, &err);
	return err ? rdb_failed(r, "cannot delete state", err) : 0;
}

static int rdb_value_get(struct keyed_state_backend *be, const struct state_key *k, void **val,
                         size_t *len)
{
	struct rocksdb_backend *r = RB(be);
	return rdb_get(r, encode_state_key(r, k, TAG_VALUE, NULL, 0), val, len);
}

static int rdb_value_put(struct keyed_state_backend *be, const struct state_key *k, const void *val,
                         size_t len)
{
	struct rocksdb_backend *r = RB(be);
	return rdb_put(r, encode_state_key(r, k, TAG_VALUE, NULL, 0), val, len);
}

static int rdb_value_remove(struct keyed_state_backend *be, const struct state_key *k)
{
	struct rocksdb_backend *r = RB(be);
	return rdb_delete(r, encode_state_key(r, k, TAG_VALUE, NULL, 0));
}

static int rdb_value_append(struct keyed_state_backend *be, const struct state_key *k,
                            const void *val, size_t len)
{
	struct rocksdb_backend *r = RB(be);
	if (!r->db)
		return SPATE_EIO;
	size_t klen = encode_state_key(r, k, TAG_VALUE, NULL, 0);
	char *err = NULL;
	rocksdb_merge(r->db, r->wopts, (const char *)r->kbuf, klen, val, len, &err);
	return err ? rdb_failed(r, "cannot append to state", err) : 0;
}

static int rdb_map_get(struct keyed_state_backend *be, const struct state_key *k, const void *uk,
                       size_t uklen, void **val, size_t *len)
{
	struct rocksdb_backend *r = RB(be);
	return rdb_get(r, encode_state_key(r, k, TAG_MAP, uk, uklen), val, len);
}

static int rdb_map_put(struct keyed_state_backend *be, const struct state_key *k, const void *uk,
                       size_t uklen, const void *val, size_t len)
{
	struct rocksdb_backend *r = RB(be);
	return rdb_put(r, encode_state_key(r, k, TAG_MAP, uk, uklen), val, len);
}

static int rdb_map_remove(struct keyed_state_backend *be, const struct state_key *k, const void *uk,
                          size_t uklen)
{
	struct rocksdb_backend *r = RB(be);
	return rdb_delete(r, encode_state_key(r, k, TAG_MAP, uk, uklen));
}

/*
 * Iterates the keys in [lo, hi) of db (hi NULL: to the end), calling fn(arg, key, klen,
 * val, vlen) until it returns non-zero (returned). The bounds are copied: fn may make
 * other calls on the backend, which reuse its key buffer.
 */
static int scan(rocksdb_t *db, const void *lo, size_t lo_len, const void *hi, size_t hi_len,
                int (*fn)(void *arg, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl),
                void *arg, char **err)
{
	rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
	if (hi)
		rocksdb_readoptions_set_iterate_upper_bound(ro, hi, hi_len);
	rocksdb_iterator_t *it = rocksdb_create_iterator(db, ro);
	int rc = 0;
	if (lo_len)
		rocksdb_iter_seek(it, lo, lo_len);
	else
		rocksdb_iter_seek_to_first(it);
	for (; rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
		size_t kl, vl;
		const char *k = rocksdb_iter_key(it, &kl);
		const char *v = rocksdb_iter_value(it, &vl);
		rc = fn(arg, (const uint8_t *)k, kl, (const uint8_t *)v, vl);
		if (rc)
			break;
	}
	if (rc == 0)
		rocksdb_iter_get_error(it, err);
	rocksdb_iter_destroy(it);
	rocksdb_readoptions_destroy(ro);
	return rc;
}

struct map_visit {
	size_t prefix_len;
	int (*fn)(void *, const void *, size_t, const void *, size_t);
	void *arg;
	size_t count;
};

static int map_visit_one(void *arg, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
	struct map_visit *mv = arg;
	mv->count++;
	return mv->fn ? mv->fn(mv->arg, k + mv->prefix_len, kl - mv->prefix_len, v, vl) : 0;
}

/* Visits the map of k: keys from "<prefix> 1" up to (not including) "<prefix> 2". */
static int map_scan(struct rocksdb_backend *r, const struct state_key *k, struct map_visit *mv)
{
	if (!r->db)
		return SPATE_EIO;
	size_t n = encode_state_key(r, k, TAG_MAP, NULL, 0);
	uint8_t stack[128];
	uint8_t *bounds = n * 2 <= sizeof stack ? stack : xmalloc(n * 2);
	memcpy(bounds, r->kbuf, n);
	memcpy(bounds + n, r->kbuf, n);
	bounds[2 * n - 1] = TAG_MAP + 1;
	mv->prefix_len = n;
	char *err = NULL;
	int rc = scan(r->db, bounds, n, bounds + n, n, map_visit_one, mv, &err);
	if (bounds != stack)
		xfree(bounds);
	if (err)
		return rdb_failed(r, "cannot iterate map state", err);
	return rc;
}

static int rdb_map_iterate(struct keyed_state_backend *be, const struct state_key *k,
                           int (*fn)(void *, const void *, size_t, const void *, size_t), void *arg)
{
	struct map_visit mv = {.fn = fn, .arg = arg};
	return map_scan(RB(be), k, &mv);
}

static size_t rdb_map_size(struct keyed_state_backend *be, const struct state_key *k)
{
	struct map_visit mv = {0};
	return map_scan(RB(be), k, &mv) < 0 ? 0 : mv.count;
}

struct entry_counter {
	size_t count;
	uint8_t *last; /* owned: the prefix of the last map entry counted */
	size_t last_len, last_cap;
};

static int count_one(void *arg, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
	struct entry_counter *c = arg;
	struct state_entry e;
	if (!decode_key(k, kl, &e))
		return 0;
	if (!e.is_map) {
		c->count++;
		return 0;
	}
	/* Map entries of one (state, key) are adjacent: count the first of each run. */
	size_t plen = kl - e.uk_len;
	if (plen != c->last_len || memcmp(c->last, k, plen) != 0) {
		c->count++;
		grow(&c->last, &c->last_cap, plen);
		memcpy(c->last, k, plen);
		c->last_len = plen;
	}
	return 0;
}

/* Exact, by a full scan: for tests and occasional metrics only. */
static size_t rdb_entry_count(struct keyed_state_backend *be)
{
	struct rocksdb_backend *r = RB(be);
	if (!r->db)
		return 0;
	struct entry_counter c = {0};
	char *err = NULL;
	scan(r->db, NULL, 0, NULL, 0, count_one, &c, &err);
	xfree(c.last);
	if (err)
		rdb_failed(r, "cannot count state entries", err);
	return c.count;
}

static void rdb_close(struct rocksdb_backend *r)
{
	if (r->db)
		rocksdb_close(r->db);
	r->db = NULL;
}

/* Opens (creating) the database in r->db_dir. */
static int rdb_open(struct rocksdb_backend *r, struct spate_error *err)
{
	char *e = NULL;
	r->db = rocksdb_open(r->opts, r->db_dir, &e);
	if (e) {
		int rc = error_set(err, SPATE_EIO, "cannot open RocksDB in '%s': %s", r->db_dir, e);
		rocksdb_free(e);
		r->db = NULL;
		return rc;
	}
	return 0;
}

static void rdb_free(struct keyed_state_backend *be)
{
	struct rocksdb_backend *r = RB(be);
	if (!r)
		return;
	rdb_close(r);
	if (r->opts)
		rocksdb_options_destroy(r->opts);
	if (r->ropts)
		rocksdb_readoptions_destroy(r->ropts);
	if (r->wopts)
		rocksdb_writeoptions_destroy(r->wopts);
	/* Our own directory goes; local_dir itself only if nothing else is in it (it was
	 * given to us, and a misconfigured one should not be emptied). */
	if (r->db_dir)
		checkpoint_remove_tree(r->db_dir);
	if (r->local_dir)
		rmdir(r->local_dir);
	sst_cache_unref(r->sums);
	xfree(r->kbuf);
	xfree(r->vbuf);
	xfree(r->failure);
	xfree(r->db_dir);
	xfree(r->local_dir);
	xfree(r);
}

/* ---- files ------------------------------------------------------------------------------ */

static bool is_sst(const char *name)
{
	size_t n = strlen(name);
	return n > 4 && strcmp(name + n - 4, ".sst") == 0;
}

/* The RocksDB name of a handle's file: after the last '@'. NULL when it is not a plain
 * file name (a handle could come from anywhere). */
static const char *rocksdb_name_of(const char *path)
{
	const char *at = strrchr(path, '@');
	if (!at || !at[1])
		return NULL;
	const char *n = at + 1;
	if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0)
		return NULL;
	for (const char *p = n; *p; p++)
		if (!(*p == '.' || *p == '-' || *p == '_' || (*p >= '0' && *p <= '9') ||
		      (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z')))
			return NULL;
	return n;
}

static int write_full(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/*
 * Copies src to dst. durable: through "<dst>.tmp-<pid>-<n>", fsync and rename, so dst
 * appears whole or not at all (checkpoint files); otherwise straight to dst (a local
 * database being assembled). Fills *size and, if sum is non-NULL, the XXH64 of the bytes.
 */
static int copy_file(const char *src, const char *dst, bool durable, int64_t *size, uint64_t *sum,
                     struct spate_error *err)
{
	static atomic_int seq;
	char *tmp = durable ? xasprintf("%s.tmp-%d-%d", dst, (int)getpid(),
	                                atomic_fetch_add_explicit(&seq, 1, memory_order_relaxed))
	                    : xstrdup(dst);
	uint8_t *buf = NULL;
	XXH64_state_t *st = NULL;
	int in = -1, out = -1, rc = 0;
	bool created = false;
	if ((in = open(src, O_RDONLY | O_CLOEXEC)) < 0) {
		rc = error_set(err, errno == ENOENT ? SPATE_ENOENT : SPATE_EIO,
		               "cannot open '%s': %s", src, strerror(errno));
		goto out;
	}
	if ((out = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)) < 0) {
		rc = error_set(err, SPATE_EIO, "cannot create '%s': %s", tmp, strerror(errno));
		goto out;
	}
	created = true;
	buf = xmalloc(COPY_CHUNK_BYTES);
	if (sum) {
		st = XXH64_createState();
		XXH64_reset(st, 0);
	}
	int64_t total = 0;
	for (;;) {
		ssize_t r = read(in, buf, COPY_CHUNK_BYTES);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc =
			    error_set(err, SPATE_EIO, "cannot read '%s': %s", src, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		if (st)
			XXH64_update(st, buf, (size_t)r);
		int w = write_full(out, buf, (size_t)r);
		if (w < 0) {
			rc = error_set(err, SPATE_EIO, "cannot write '%s': %s", tmp, strerror(-w));
			goto out;
		}
		total += r;
	}
	if (durable && fsync(out) != 0) {
		rc = error_set(err, SPATE_EIO, "cannot sync '%s': %s", tmp, strerror(errno));
		goto out;
	}
	if (close(out) != 0) {
		out = -1;
		rc = error_set(err, SPATE_EIO, "cannot write '%s': %s", tmp, strerror(errno));
		goto out;
	}
	out = -1;
	if (durable && rename(tmp, dst) != 0) {
		rc = error_set(err, SPATE_EIO, "cannot rename '%s' to '%s': %s", tmp, dst,
		               strerror(errno));
		goto out;
	}
	*size = total;
	if (sum)
		*sum = XXH64_digest(st);
out:
	if (out >= 0)
		close(out);
	if (in >= 0)
		close(in);
	if (rc < 0 && created)
		unlink(tmp);
	if (st)
		XXH64_freeState(st);
	xfree(buf);
	xfree(tmp);
	return rc;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names of the regular files in dir, sorted (owned array of owned strings). */
static int list_files(const char *dir, char ***out, int *n, struct spate_error *err)
{
	DIR *d = opendir(dir);
	if (!d)
		return error_set(err, SPATE_EIO, "cannot list '%s': %s", dir, strerror(errno));
	char **v = NULL;
	int cnt = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		v = xrealloc(v, (size_t)(cnt + 1) * sizeof *v);
		v[cnt++] = xstrdup(de->d_name);
	}
	closedir(d);
	if (cnt)
		qsort(v, (size_t)cnt, sizeof *v, cmp_names);
	*out = v;
	*n = cnt;
	return 0;
}

static void free_names(char **v, int n)
{
	for (int i = 0; i < n; i++)
		xfree(v[i]);
	xfree(v);
}

/* The path of `to` relative to `from` (both existing directories), e.g. "../shared". */
static char *relative_path(const char *from, const char *to, struct spate_error *err)
{
	char a[PATH_MAX], b[PATH_MAX];
	if (!realpath(from, a)) {
		error_set(err, SPATE_EIO, "cannot resolve '%s': %s", from, strerror(errno));
		return NULL;
	}
	if (!realpath(to, b)) {
		error_set(err, SPATE_EIO, "cannot resolve '%s': %s", to, strerror(errno));
		return NULL;
	}
	/* The longest common prefix that ends at a component boundary. */
	size_t common = 0;
	for (size_t i = 0;; i++) {
		bool ea = a[i] == '\0' || a[i] == '/', eb = b[i] == '\0' || b[i] == '/';
		if (ea && eb)
			common = i;
		if (a[i] != b[i] || a[i] == '\0')
			break;
	}
	size_t cap = 3 * strlen(a) + strlen(b) + 8;
	char *r = xcalloc(1, cap);
	/* One ".." per component of a after the common prefix. */
	for (const char *p = a + common; *p; p++)
		if (*p == '/' && p[1])
			strcat(r, *r ? "/.." : "..");
	const char *rest = b + common;
	while (*rest == '/')
		rest++;
	if (*rest) {
		if (*r)
			strcat(r, "/");
		strcat(r, rest);
	}
	if (!*r)
		strcpy(r, ".");
	return r;
}

/* ---- snapshots -------------------------------------------------------------------------- */

struct rdb_snapshot {
	struct keyed_snapshot base;
	char *dir; /* owned: the RocksDB checkpoint (hard links), removed by free */
	int key_group_first;
	int key_group_last;
	struct sst_cache *sums; /* a reference */
};

static int rdb_snapshot_write(struct keyed_snapshot *base, const struct snapshot_target *t,
                              struct keyed_state_handle *out, struct spate_error *err);
static void rdb_snapshot_free(struct keyed_snapshot *base);

static int rdb_snapshot(struct keyed_state_backend *be, struct keyed_snapshot **out,
                        struct spate_error *err)
{
	struct rocksdb_backend *r = RB(be);
	if (r->failure)
		return error_set(err, SPATE_EIO, "the RocksDB state backend failed: %s",
		                 r->failure);
	if (!r->db)
		return error_set(err, SPATE_EIO, "the RocksDB state backend in '%s' is not open",
		                 r->local_dir);
	/* Unique in the process even across backends reusing a local_dir (a restarted task
	 * whose previous attempt's snapshot may still be being written). */
	static atomic_uint seq;
	char *dir = xasprintf("%s-chk-%d-%u", r->local_dir, (int)getpid(),
	                      atomic_fetch_add_explicit(&seq, 1, memory_order_relaxed));
	checkpoint_remove_tree(dir); /* left over by a dead process with the same pid */
	char *e = NULL;
	rocksdb_checkpoint_t *cp = rocksdb_checkpoint_object_create(r->db, &e);
	/* log_size_for_flush 0: always flush the memtable (the WAL is off, so a checkpoint
	 * without the flush would miss the latest writes). */
	if (!e)
		rocksdb_checkpoint_create(cp, dir, 0, &e);
	if (cp)
		rocksdb_checkpoint_object_destroy(cp);
	if (e) {
		int rc = error_set(err, SPATE_EIO, "cannot create a RocksDB checkpoint in '%s': %s",
		                   dir, e);
		rocksdb_free(e);
		checkpoint_remove_tree(dir);
		xfree(dir);
		return rc;
	}
	struct rdb_snapshot *s = xcalloc(1, sizeof *s);
	s->base.write = rdb_snapshot_write;
	s->base.free = rdb_snapshot_free;
	s->dir = dir;
	s->key_group_first = be->key_group_first;
	s->key_group_last = be->key_group_last;
	s->sums = sst_cache_ref(r->sums);
	*out = &s->base;
	return 0;
}

/* Copies one SST file to the shared directory unless its content is there already. */
static int write_shared(struct rdb_snapshot *s, const struct snapshot_target *t,
                        const char *shared_rel, const char *name, const char *src,
                        struct keyed_state_handle *out, struct sst_sum *rec,
                        struct spate_error *err)
{
	struct stat st;
	if (stat(src, &st) != 0)
		return error_set(err, SPATE_EIO, "cannot stat '%s': %s", src, strerror(errno));
	int64_t size = (int64_t)st.st_size;
	uint64_t sum;
	int rc;
	if (!sst_cache_get(s->sums, name, size, &sum) &&
	    (rc = checkpoint_file_checksum(src, &size, &sum, err)) < 0)
		return rc;
	rec->name = xstrdup(name);
	rec->size = size;
	rec->checksum = sum;
	char *fname = xasprintf("%016llx-%lld@%s", (unsigned long long)sum, (long long)size, name);
	char *dst = checkpoint_path_join(t->shared_dir, fname);
	rc = 0;
	if (stat(dst, &st) != 0 || (int64_t)st.st_size != size) {
		int64_t copied;
		rc = copy_file(src, dst, true, &copied, NULL, err);
		if (rc == 0 && copied != size)
			rc = error_set(err, SPATE_EIO, "'%s' changed while it was copied", src);
		if (rc == 0)
			out->incremental_size += size;
	}
	if (rc == 0) {
		char *rel = xasprintf("%s/%s", shared_rel, fname);
		keyed_state_handle_add_file(out, rel, size, sum);
		xfree(rel);
		out->state_size += size;
	}
	xfree(dst);
	xfree(fname);
	return rc;
}

static int write_exclusive(const struct snapshot_target *t, const char *name, const char *src,
                           struct keyed_state_handle *out, struct spate_error *err)
{
	char *fname = xasprintf("%s@%s", t->name, name);
	char *dst = checkpoint_path_join(t->dir, fname);
	int64_t size;
	uint64_t sum;
	int rc = copy_file(src, dst, true, &size, &sum, err);
	if (rc == 0) {
		keyed_state_handle_add_file(out, fname, size, sum);
		out->state_size += size;
		out->incremental_size += size;
	}
	xfree(dst);
	xfree(fname);
	return rc;
}

static int rdb_snapshot_write(struct keyed_snapshot *base, const struct snapshot_target *t,
                              struct keyed_state_handle *out, struct spate_error *err)
{
	struct rdb_snapshot *s = (struct rdb_snapshot *)base;
	memset(out, 0, sizeof *out);
	char **names = NULL, *shared_rel = NULL;
	struct sst_sum *recs = NULL;
	int n = 0, nrecs = 0;
	int rc = checkpoint_mkdirs(t->dir);
	if (rc < 0)
		return error_set(err, SPATE_EIO, "cannot create '%s': %s", t->dir, strerror(-rc));
	if (t->shared_dir) {
		if ((rc = checkpoint_mkdirs(t->shared_dir)) < 0)
			return error_set(err, SPATE_EIO, "cannot create '%s': %s", t->shared_dir,
			                 strerror(-rc));
		if (!(shared_rel = relative_path(t->dir, t->shared_dir, err)))
			return SPATE_EIO;
	}
	if ((rc = list_files(s->dir, &names, &n, err)) < 0)
		goto out;
	recs = xcalloc((size_t)(n ? n : 1), sizeof *recs);
	for (int i = 0; i < n && rc == 0; i++) {
		char *src = checkpoint_path_join(s->dir, names[i]);
		if (shared_rel && is_sst(names[i]))
			rc =
			    write_shared(s, t, shared_rel, names[i], src, out, &recs[nrecs++], err);
		else
			rc = write_exclusive(t, names[i], src, out, err);
		xfree(src);
	}
	if (rc < 0)
		goto out;
	checkpoint_fsync_dir(t->dir);
	if (t->shared_dir) {
		checkpoint_fsync_dir(t->shared_dir);
		sst_cache_set(s->sums, recs, nrecs);
		recs = NULL;
		nrecs = 0;
	}
	snprintf(out->backend, sizeof out->backend, "rocksdb");
	out->key_group_first = s->key_group_first;
	out->key_group_last = s->key_group_last;
out:
	if (rc < 0)
		keyed_state_handle_release(out);
	sst_sums_free(recs, nrecs);
	free_names(names, n);
	xfree(shared_rel);
	return rc;
}

static void rdb_snapshot_free(struct keyed_snapshot *base)
{
	struct rdb_snapshot *s = (struct rdb_snapshot *)base;
	checkpoint_remove_tree(s->dir);
	xfree(s->dir);
	sst_cache_unref(s->sums);
	xfree(s);
}

/* ---- restore ---------------------------------------------------------------------------- */

/*
 * Places the files of handle h in dir (existing, empty) under their RocksDB names: SST
 * files hard-linked when possible (RocksDB never writes to them), the rest copied. The
 * links share their inode with the checkpoint's files, so the database must only ever
 * unlink SST files: never give it an SstFileManager with rate-limited deletion, which
 * truncates files in chunks.
 */
static int materialize(const char *base_dir, const struct keyed_state_handle *h, const char *dir,
                       struct spate_error *err)
{
	for (int i = 0; i < h->nfiles; i++) {
		const char *name = rocksdb_name_of(h->files[i].path);
		if (!name)
			return error_set(err, SPATE_ECORRUPT,
			                 "state file '%s/%s' has no RocksDB file name after '@'",
			                 base_dir, h->files[i].path);
		char *src = checkpoint_path_join(base_dir, h->files[i].path);
		char *dst = checkpoint_path_join(dir, name);
		int rc = 0;
		if (access(dst, F_OK) == 0)
			rc = error_set(err, SPATE_ECORRUPT,
			               "state handle names RocksDB file '%s' twice (again as '%s')",
			               name, src);
		else if (!is_sst(name) || link(src, dst) != 0) {
			int64_t size;
			rc = copy_file(src, dst, false, &size, NULL, err);
		}
		xfree(dst);
		xfree(src);
		if (rc < 0)
			return rc;
	}
	return 0;
}

struct range_visit {
	const char *what;
	state_entry_fn fn;
	void *arg;
	int rc;
	struct spate_error *err;
};

static int range_visit_one(void *arg, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
	struct range_visit *rv = arg;
	struct state_entry e;
	if (!decode_key(k, kl, &e)) {
		rv->rc = error_set(rv->err, SPATE_ECORRUPT, "RocksDB state in '%s' has a bad key",
		                   rv->what);
		return 1;
	}
	e.val = v;
	e.val_len = vl;
	int rc = rv->fn(rv->arg, &e);
	if (rc < 0) {
		rv->rc = error_set(rv->err, rc, "cannot restore an entry of '%s': %s", rv->what,
		                   spate_strerror(rc));
		return 1;
	}
	return 0;
}

/* Calls fn for each entry of db in key groups [first, last]. */
static int scan_key_groups(rocksdb_t *db, const char *what, int first, int last, state_entry_fn fn,
                           void *arg, struct spate_error *err)
{
	uint8_t lo[2] = {(uint8_t)(first >> 8), (uint8_t)first};
	uint8_t hi[2] = {(uint8_t)((last + 1) >> 8), (uint8_t)(last + 1)};
	struct range_visit rv = {.what = what, .fn = fn, .arg = arg, .err = err};
	char *e = NULL;
	scan(db, lo, sizeof lo, hi, sizeof hi, range_visit_one, &rv, &e);
	if (e) {
		rv.rc = error_set(err, SPATE_EIO, "cannot read RocksDB state in '%s': %s", what, e);
		rocksdb_free(e);
	}
	return rv.rc;
}

int rocksdb_handle_load(const char *base_dir, const struct keyed_state_handle *h, int kg_first,
                        int kg_last, const char *tmp_prefix, state_entry_fn fn, void *arg,
                        struct spate_error *err)
{
	char *tmpl;
	if (tmp_prefix) {
		tmpl = xasprintf("%s-XXXXXX", tmp_prefix);
	} else {
		const char *td = getenv("TMPDIR");
		tmpl = xasprintf("%s/spate-restore-XXXXXX", td && *td ? td : "/tmp");
	}
	if (!mkdtemp(tmpl)) {
		int rc = error_set(err, SPATE_EIO, "cannot create a directory like '%s': %s", tmpl,
		                   strerror(errno));
		xfree(tmpl);
		return rc;
	}
	rocksdb_options_t *o = make_options();
	rocksdb_options_set_create_if_missing(o, 0);
	rocksdb_t *db = NULL;
	int rc = materialize(base_dir, h, tmpl, err);
	if (rc == 0) {
		char *e = NULL;
		db = rocksdb_open_for_read_only(o, tmpl, 0, &e);
		if (e) {
			rc = error_set(
			    err, SPATE_ECORRUPT,
			    "cannot open the RocksDB state of key groups %d-%d from '%s': "
			    "%s",
			    h->key_group_first, h->key_group_last, base_dir, e);
			rocksdb_free(e);
			db = NULL;
		}
	}
	if (rc == 0) {
		int first = kg_first > h->key_group_first ? kg_first : h->key_group_first;
		int last = kg_last < h->key_group_last ? kg_last : h->key_group_last;
		rc = scan_key_groups(db, base_dir, first, last, fn, arg, err);
	}
	if (db)
		rocksdb_close(db);
	rocksdb_options_destroy(o);
	checkpoint_remove_tree(tmpl);
	xfree(tmpl);
	return rc;
}

/* Entries restored one by one go through a write batch. */
struct batch_load {
	struct rocksdb_backend *r;
	rocksdb_writebatch_t *b;
	size_t bytes;
};

static int batch_flush(struct batch_load *bl)
{
	if (!bl->bytes)
		return 0;
	char *e = NULL;
	rocksdb_write(bl->r->db, bl->r->wopts, bl->b, &e);
	rocksdb_writebatch_clear(bl->b);
	bl->bytes = 0;
	return e ? rdb_failed(bl->r, "cannot write restored state", e) : 0;
}

static int batch_put(void *arg, const struct state_entry *e)
{
	struct batch_load *bl = arg;
	struct rocksdb_backend *r = bl->r;
	if (e->key_group < r->base.key_group_first || e->key_group > r->base.key_group_last)
		return 0;
	size_t klen = encode_key(r, e->state_id, e->key_group, e->key, e->key_len,
	                         e->is_map ? TAG_MAP : TAG_VALUE, e->uk, e->uk_len);
	rocksdb_writebatch_put(bl->b, (const char *)r->kbuf, klen, e->val, e->val_len);
	bl->bytes += klen + e->val_len;
	return bl->bytes >= RESTORE_BATCH_BYTES ? batch_flush(bl) : 0;
}

static bool rdb_is_empty(struct rocksdb_backend *r)
{
	rocksdb_iterator_t *it = rocksdb_create_iterator(r->db, r->ropts);
	rocksdb_iter_seek_to_first(it);
	bool empty = !rocksdb_iter_valid(it);
	rocksdb_iter_destroy(it);
	return empty;
}

/* The fast path: the handle's files become the database. */
static int restore_files(struct rocksdb_backend *r, const char *base_dir,
                         const struct keyed_state_handle *h, struct spate_error *err)
{
	rdb_close(r);
	checkpoint_remove_tree(r->db_dir);
	int rc = checkpoint_mkdirs(r->db_dir);
	if (rc < 0)
		rc = error_set(err, SPATE_EIO, "cannot create '%s': %s", r->db_dir, strerror(-rc));
	if (rc == 0)
		rc = materialize(base_dir, h, r->db_dir, err);
	if (rc == 0)
		rc = rdb_open(r, err);
	if (rc == 0) {
		/* File numbers now come from the restored database: forget the old ones. */
		sst_cache_unref(r->sums);
		r->sums = sst_cache_new();
		return 0;
	}
	/* Leave an empty, working database behind; the task fails with err anyway. */
	rdb_close(r);
	checkpoint_remove_tree(r->db_dir);
	struct spate_error ignored = {0};
	if (checkpoint_mkdirs(r->db_dir) == 0)
		rdb_open(r, &ignored);
	return rc;
}

static int rdb_restore(struct keyed_state_backend *be, const char *base_dir,
                       const struct keyed_state_handle *handles, int nhandles,
                       struct spate_error *err)
{
	struct rocksdb_backend *r = RB(be);
	int rc = state_restore_check(be, "rocksdb", base_dir, handles, nhandles, err);
	if (rc < 0)
		return rc;
	if (!r->db)
		return error_set(err, SPATE_EIO, "the RocksDB state backend in '%s' is not open",
		                 r->local_dir);
	const struct keyed_state_handle *only = NULL;
	int nrel = 0;
	for (int i = 0; i < nhandles; i++)
		if (state_handle_overlaps(be, &handles[i])) {
			only = &handles[i];
			nrel++;
		}
	if (nrel == 0)
		return 0;
	if (nrel == 1 && strcmp(only->backend, "rocksdb") == 0 &&
	    only->key_group_first == be->key_group_first &&
	    only->key_group_last == be->key_group_last && rdb_is_empty(r))
		return restore_files(r, base_dir, only, err);

	struct batch_load bl = {.r = r, .b = rocksdb_writebatch_create()};
	char *tmp_prefix = xasprintf("%s-restore", r->local_dir);
	for (int i = 0; i < nhandles && rc == 0; i++) {
		const struct keyed_state_handle *h = &handles[i];
		if (!state_handle_overlaps(be, h))
			continue;
		if (strcmp(h->backend, "rocksdb") == 0) {
			rc = rocksdb_handle_load(base_dir, h, be->key_group_first,
			                         be->key_group_last, tmp_prefix, batch_put, &bl,
			                         err);
			continue;
		}
		for (int f = 0; f < h->nfiles && rc == 0; f++) {
			char *path = checkpoint_path_join(base_dir, h->files[f].path);
			rc = heap_snapshot_file_load(path, be->key_group_first, be->key_group_last,
			                             batch_put, &bl, err);
			xfree(path);
		}
	}
	if (rc == 0 && (rc = batch_flush(&bl)) < 0)
		error_set(err, rc, "%s", r->failure);
	rocksdb_writebatch_destroy(bl.b);
	xfree(tmp_prefix);
	return rc;
}

static const struct state_backend_ops rocksdb_ops = {
    .value_get = rdb_value_get,
    .value_put = rdb_value_put,
    .value_remove = rdb_value_remove,
    .value_append = rdb_value_append,
    .map_get = rdb_map_get,
    .map_put = rdb_map_put,
    .map_remove = rdb_map_remove,
    .map_iterate = rdb_map_iterate,
    .map_size = rdb_map_size,
    .entry_count = rdb_entry_count,
    .free = rdb_free,
    .snapshot = rdb_snapshot,
    .restore = rdb_restore,
};

struct keyed_state_backend *rocksdb_state_backend_new(int key_group_first, int key_group_last,
                                                      const char *local_dir,
                                                      struct spate_error *err)
{
	if (key_group_first < 0 || key_group_last < key_group_first || key_group_last >= 32768) {
		error_set(err, SPATE_EINVAL, "bad key groups %d-%d for the RocksDB state backend",
		          key_group_first, key_group_last);
		return NULL;
	}
	struct rocksdb_backend *r = xcalloc(1, sizeof *r);
	r->base.ops = &rocksdb_ops;
	r->base.key_group_first = key_group_first;
	r->base.key_group_last = key_group_last;
	r->base.value_mutable = false;
	r->local_dir = xstrdup(local_dir);
	for (size_t n = strlen(r->local_dir); n > 1 && r->local_dir[n - 1] == '/'; n--)
		r->local_dir[n - 1] = '\0';
	r->db_dir = checkpoint_path_join(r->local_dir, "db");
	r->sums = sst_cache_new();
	/* A database there is from an earlier attempt: state comes only from restore. */
	checkpoint_remove_tree(r->db_dir);
	int rc = checkpoint_mkdirs(r->db_dir);
	if (rc < 0) {
		error_set(err, SPATE_EIO, "cannot create '%s': %s", r->db_dir, strerror(-rc));
		rdb_free(&r->base);
		return NULL;
	}
	r->opts = make_options();
	r->ropts = rocksdb_readoptions_create();
	r->wopts = rocksdb_writeoptions_create();
	rocksdb_writeoptions_disable_WAL(r->wopts, 1);
	if (rdb_open(r, err) < 0) {
		rdb_free(&r->base);
		return NULL;
	}
	return &r->base;
}
