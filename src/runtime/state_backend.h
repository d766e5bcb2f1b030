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

struct state_key {
	uint32_t state_id; /* which named state of the operator */
	int key_group;
	const void *key; /* serialized key */
	size_t key_len;
	uint64_t key_hash; /* hash of (state_id, key), computed by state_key_hash */
};

struct keyed_state_backend;

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
};

struct keyed_state_backend {
	const struct state_backend_ops *ops;
	int key_group_first; /* the key groups this backend holds */
	int key_group_last;
	bool value_mutable; /* values may be updated in place through value_get's pointer */
};

/* The in-memory ("hashmap") backend. Free with be->ops->free(be). */
struct keyed_state_backend *heap_state_backend_new(int key_group_first, int key_group_last);

/* Fills k->key_hash from state_id and the key bytes. */
void state_key_hash(struct state_key *k);

#endif
