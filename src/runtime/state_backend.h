/*
 * state_backend.h - keyed state behind one interface: the in-memory hash map backend
 * (state_backend.c) and the RocksDB backend (state_rocksdb.c) are interchangeable.
 *
 * Every entry is addressed by (state id, key group, key bytes) and, for map state, a user
 * key. The key group is stored with every entry so that a snapshot can be written per key
 * group and restored at another parallelism (rescaling by key-group ranges).
 *
 * Values returned by get are borrowed. The heap backend's stay valid until the next
 * put/remove/append on the backend: its entries live inside its table, which moves them
 * when it grows, re-seats a probe run after a removal or moves a grown entry out of line
 * (`moves` counts every such event).
 * Operators may update a fixed-size value in place through the returned pointer
 * (value_mutable). RocksDB hands out a writable copy in a
 * buffer of its own that the next call on the backend reuses; an operator that changed it
 * writes it back with put.
 *
 * List and reducing state are values to a backend (state_api.c has their encoding);
 * value_append exists so that adding to a list does not rewrite the whole list.
 *
 * A backend belongs to one keyed operator in one subtask and is used by that task's thread
 * only: no locking.
 */
#ifndef SPATE_RUNTIME_STATE_BACKEND_H
#define SPATE_RUNTIME_STATE_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "checkpoint/checkpoint.h"
#include "core/error.h"

struct state_key {
	uint32_t state_id; /* which named state of the operator */
	int key_group;
	const void *key; /* serialized key */
	size_t key_len;
	/* With has_hint: what the backend's prefetch returned for this same (state_id, key),
	 * which lets it skip work it already did (the heap backend: the table hash). */
	bool has_hint;
	uint32_t hint;
};

struct keyed_state_backend;
struct keyed_snapshot; /* a backend's snapshot between its two parts (opaque) */

struct state_backend_ops {
	/* value state: 1 (with *val and *len set) if present, 0 if absent, or a negative
	 * SPATE_E* code when the backend cannot read (RocksDB: I/O error, corruption). put,
	 * remove and append return 0 or a negative code likewise. */
	int (*value_get)(struct keyed_state_backend *be, const struct state_key *k, void **val,
	                 size_t *len);
	int (*value_put)(struct keyed_state_backend *be, const struct state_key *k, const void *val,
	                 size_t len);
	int (*value_remove)(struct keyed_state_backend *be, const struct state_key *k);
	/* Appends len bytes to the value (creating it when absent): amortized O(len) on the
	 * heap, a RocksDB merge (no read) on RocksDB. */
	int (*value_append)(struct keyed_state_backend *be, const struct state_key *k,
	                    const void *val, size_t len);
	/* map state (map_get: like value_get) */
	int (*map_get)(struct keyed_state_backend *be, const struct state_key *k, const void *uk,
	               size_t uklen, void **val, size_t *len);
	int (*map_put)(struct keyed_state_backend *be, const struct state_key *k, const void *uk,
	               size_t uklen, const void *val, size_t len);
	int (*map_remove)(struct keyed_state_backend *be, const struct state_key *k, const void *uk,
	                  size_t uklen);
	int (*map_iterate)(struct keyed_state_backend *be, const struct state_key *k,
	                   int (*fn)(void *arg, const void *uk, size_t uklen, const void *val,
	                             size_t len),
	                   void *arg);
	size_t (*map_size)(struct keyed_state_backend *be, const struct state_key *k);
	/* Value state k is about to be read: starts loading where it lives, so that the
	 * lookups of a batch of rows overlap instead of waiting one after another. Changes
	 * nothing. k's key_group is not set (the caller has not computed it yet), so a
	 * backend whose keys begin with the key group cannot use this as it stands. Returns
	 * the hint to pass back with the same key (struct state_key); it must stay valid
	 * while the backend changes in between (the heap backend's hash does not depend on
	 * the table's size). NULL when a backend has no use for it. */
	uint32_t (*prefetch)(struct keyed_state_backend *be, const struct state_key *k);
	/* Value states of n keys at once, for a backend whose values are mutable in place
	 * (value_mutable): vals[i] is the value of keys[i] (lens[i] its length), or NULL when
	 * absent. The lookups overlap, as with prefetch. Hints are not used. The pointers stay
	 * valid until `moves` changes. Returns 0 or a negative SPATE_E* code. NULL when a
	 * backend has no such path. */
	int (*value_get_batch)(struct keyed_state_backend *be, const struct state_key *keys, int n,
	                       void **vals, size_t *lens);
	/* number of (state, key) entries, for tests and metrics */
	size_t (*entry_count)(struct keyed_state_backend *be);
	void (*free)(struct keyed_state_backend *be);

	/*
	 * Checkpoints, in two parts. snapshot() runs on the task thread at the barrier and
	 * must be quick: it captures a consistent view of every entry (the heap backend
	 * copies its entries into one buffer; RocksDB makes a checkpoint of hard links) and
	 * returns it as *out. keyed_snapshot_write() then runs on another thread while the
	 * task goes on: it writes the files and fills the handle.
	 */
	int (*snapshot)(struct keyed_state_backend *be, struct keyed_snapshot **out,
	                struct spate_error *err);
	/*
	 * Loads every entry of the given handles whose key group lies in this backend's
	 * range (handles may come from another parallelism and overlap it partly). Runs on
	 * the task thread before the first record. Files are checked against their recorded
	 * size and checksum first: a missing or corrupt one fails with err naming it. Only
	 * handles whose range meets this backend's are read (and checked). Either backend
	 * restores the other's handles (entries are converted one by one), so a savepoint
	 * may switch backends; the fast path (RocksDB files used as they are) needs one
	 * RocksDB handle with exactly this backend's range.
	 */
	int (*restore)(struct keyed_state_backend *be, const char *base_dir,
	               const struct keyed_state_handle *handles, int nhandles,
	               struct spate_error *err);
};

/*
 * Where and how a snapshot's files are written.
 *   dir         exclusive files of this checkpoint (chk-N or the savepoint directory);
 *   shared_dir  files that later checkpoints may refer to again (incremental RocksDB), or
 *               NULL: then everything goes to dir and the handle is self-contained;
 *   name        a prefix unique to the operator and subtask, e.g. "op-3-1", without '@'
 *               or '/'.
 * File paths in the handle are relative to dir. The heap backend writes one file,
 * "<name>.state". RocksDB writes "<name>@<rocksdb file>" (MANIFEST-000009, CURRENT, ...)
 * to dir and its SST files either there too or, with a shared_dir, content-addressed as
 * "<shared rel>/<xxh64 as 16 hex>-<size>@<rocksdb file>" ("../shared/...-1024@000012.sst"),
 * so that the next checkpoint finds them already there. The RocksDB name of a file is what
 * follows the last '@' of its path.
 */
struct snapshot_target {
	const char *dir;
	const char *shared_dir;
	const char *name;
};

/* The asynchronous part: any thread, once. Fills *out (release with
 * keyed_state_handle_release). 0, or SPATE_EIO with err naming the file (SPATE_ENOMEM when
 * the heap backend cannot allocate the file's image). On failure *out holds no files. */
int keyed_snapshot_write(struct keyed_snapshot *s, const struct snapshot_target *t,
                         struct keyed_state_handle *out, struct spate_error *err);
/* Frees a snapshot (written or not). Any thread. A snapshot does not refer to its backend:
 * it may be written and freed after the backend is freed. */
void keyed_snapshot_free(struct keyed_snapshot *s);

struct keyed_state_backend {
	const struct state_backend_ops *ops;
	int key_group_first; /* the key groups this backend holds */
	int key_group_last;
	bool value_mutable; /* values may be updated in place through value_get's pointer */
	uint64_t moves;     /* counts the times values handed out may have moved (heap) */
};

/* The in-memory ("hashmap") backend. Free with be->ops->free(be). */
struct keyed_state_backend *heap_state_backend_new(int key_group_first, int key_group_last);

/*
 * The backend named by `type` ("hashmap" or "rocksdb", state.backend.type; NULL is
 * "hashmap"). RocksDB keeps its database in "<local_dir>/db" (created, replacing one left
 * by an earlier attempt; removed again by free, with local_dir if that is then empty) and
 * its snapshots' working copies beside it in "<local_dir>-chk-*"; local_dir must be unique
 * to the operator and subtask. NULL with err set when it cannot be created.
 */
struct keyed_state_backend *state_backend_new(const char *type, int key_group_first,
                                              int key_group_last, const char *local_dir,
                                              struct spate_error *err);

/* ---- for the backends' implementations ---------------------------------------------------- */

/* Every backend's snapshot starts with this (callers treat the struct as opaque). */
struct keyed_snapshot {
	int (*write)(struct keyed_snapshot *s, const struct snapshot_target *t,
	             struct keyed_state_handle *out, struct spate_error *err);
	void (*free)(struct keyed_snapshot *s);
};

/* One entry as restore sees it, whichever backend wrote it (borrowed bytes). */
struct state_entry {
	uint32_t state_id;
	int key_group;
	const void *key;
	size_t key_len;
	bool is_map;    /* a map entry: uk is its user key */
	const void *uk; /* NULL for value entries */
	size_t uk_len;
	const void *val;
	size_t val_len;
};
/* Receives restored entries; a negative return stops the load with that code. */
typedef int (*state_entry_fn)(void *arg, const struct state_entry *e);

/* Whether h holds key groups of be. */
bool state_handle_overlaps(const struct keyed_state_backend *be,
                           const struct keyed_state_handle *h);
/*
 * Restore's first step for either backend (self: its name): every handle names a known
 * backend ("cannot restore state written by the '<x>' backend into the '<self>' backend"),
 * and every file of the handles that overlap be has its recorded size and checksum.
 */
int state_restore_check(const struct keyed_state_backend *be, const char *self,
                        const char *base_dir, const struct keyed_state_handle *handles,
                        int nhandles, struct spate_error *err);

/* The RocksDB backend (state_rocksdb.c, built as the module lib/spate-rocksdb.so);
 * state_backend_new("rocksdb", ...) loads the module and calls it. */
struct keyed_state_backend *rocksdb_state_backend_new(int key_group_first, int key_group_last,
                                                      const char *local_dir,
                                                      struct spate_error *err);

/*
 * Calls fn for every entry of the heap backend's snapshot file `path` whose key group lies
 * in [kg_first, kg_last], reading only the bytes of those key groups. The file is decoded
 * with every length checked: SPATE_ECORRUPT with err naming the file when malformed.
 */
int heap_snapshot_file_load(const char *path, int kg_first, int kg_last, state_entry_fn fn,
                            void *arg, struct spate_error *err);
/* The same over a whole file image in memory (for the fuzz driver and tests); errors name
 * `what`. */
int heap_snapshot_decode(const void *data, size_t len, const char *what, int kg_first, int kg_last,
                         state_entry_fn fn, void *arg, struct spate_error *err);

/*
 * Calls fn for every entry of RocksDB handle h (files relative to base_dir, already
 * verified) whose key group lies in [kg_first, kg_last]: the files are linked or copied
 * into a fresh directory "<tmp_prefix>-XXXXXX" (tmp_prefix NULL: "$TMPDIR/spate-restore",
 * or under /tmp), opened read-only and scanned; the directory is removed again.
 */
int rocksdb_handle_load(const char *base_dir, const struct keyed_state_handle *h, int kg_first,
                        int kg_last, const char *tmp_prefix, state_entry_fn fn, void *arg,
                        struct spate_error *err);

#endif
