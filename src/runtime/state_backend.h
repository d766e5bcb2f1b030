/*
 * state_backend.h - keyed state behind one interface, so that the in-memory hash map
 * backend of today and RocksDB later are interchangeable.
 *
 * Every entry is addressed by (state id, key group, key bytes) and, for map state, a user
 * key. The key group is stored with every entry so that a snapshot can be written per key
 * group and restored at another parallelism (rescaling by key-group ranges).
 *
 * Values returned by get are borrowed and stay valid until the next put/remove on the same
 * backend. The heap backend lets operators update a fixed-size value in place through the
 * returned pointer; value_mutable() says whether a backend allows that.
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
	uint64_t key_hash; /* hash of (state_id, key), computed by state_key_hash */
};

struct keyed_state_backend;
struct keyed_snapshot; /* a backend's snapshot between its two parts (opaque) */

struct state_backend_ops {
	/* value state: 1 (with *val and *len set) if present, 0 if absent */
	int (*value_get)(struct keyed_state_backend *be, const struct state_key *k, void **val,
	                 size_t *len);
	int (*value_put)(struct keyed_state_backend *be, const struct state_key *k, const void *val,
	                 size_t len);
	int (*value_remove)(struct keyed_state_backend *be, const struct state_key *k);
	/* map state */
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
	 * size and checksum first: a missing or corrupt one fails with err naming it.
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
 *   name        a prefix unique to the operator and subtask, e.g. "op-3-1" (files are
 *               "<name>.state", "<name>-<n>.sst", ...).
 * File paths in the handle are relative to dir ("op-3-1.state", "../shared/...").
 */
struct snapshot_target {
	const char *dir;
	const char *shared_dir;
	const char *name;
};

/* The asynchronous part: any thread, once. Fills *out (release with
 * keyed_state_handle_release). 0 or SPATE_EIO with err naming the file. */
int keyed_snapshot_write(struct keyed_snapshot *s, const struct snapshot_target *t,
                         struct keyed_state_handle *out, struct spate_error *err);
/* Frees a snapshot (written or not). Any thread. */
void keyed_snapshot_free(struct keyed_snapshot *s);

struct keyed_state_backend {
	const struct state_backend_ops *ops;
	int key_group_first; /* the key groups this backend holds */
	int key_group_last;
	bool value_mutable; /* values may be updated in place through value_get's pointer */
};

/* The in-memory ("hashmap") backend. Free with be->ops->free(be). */
struct keyed_state_backend *heap_state_backend_new(int key_group_first, int key_group_last);

/*
 * The backend named by `type` ("hashmap" or "rocksdb", state.backend.type). RocksDB keeps
 * its database under local_dir (created; removed again by free), which must be unique to
 * the operator and subtask. NULL with err set when it cannot be created.
 */
struct keyed_state_backend *state_backend_new(const char *type, int key_group_first,
                                              int key_group_last, const char *local_dir,
                                              struct spate_error *err);

/* Fills k->key_hash from state_id and the key bytes. */
void state_key_hash(struct state_key *k);

#endif
