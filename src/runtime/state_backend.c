/*
 * state_backend.c - the in-memory ("hashmap") keyed state backend.
 *
 * One open-addressing table (linear probing, power-of-two size, grown at 3/4 load) maps
 * (state id, key) to an entry. A value-state entry holds the value bytes; a map-state entry
 * holds a nested table of user key -> value. Entries are allocated individually so that
 * pointers handed out stay put while the table grows.
 *
 * Per-record cost is dominated by cache misses, so each slot keeps the entry's hash (a
 * probe past a different key touches only the slot array) and a value that fits the space
 * reserved at creation lives inside the entry's own allocation (one miss per hit, not two).
 */
#include "runtime/state_backend.h"

#include <string.h>
#include <xxhash.h>

#include "core/alloc.h"

struct kv_entry {
	uint64_t hash;
	uint32_t state_id;
	int key_group;
	uint32_t key_len;
	uint32_t val_len;
	uint32_t val_cap;
	uint8_t *val;         /* value (value state): inline_val, or heap when larger */
	struct kv_table *map; /* owned (map state) */
	uint8_t *inline_val;  /* INLINE_VALUE bytes inside this allocation, after the key */
	uint8_t key[];        /* key bytes */
};

#define INLINE_VALUE 64

struct kv_slot {
	uint64_t hash;
	struct kv_entry *e; /* NULL = empty */
};

struct kv_table {
	struct kv_slot *slots; /* owned array, cap entries */
	size_t cap;            /* power of two */
	size_t count;
};

struct heap_backend {
	struct keyed_state_backend base;
	struct kv_table table;
};

static void table_init(struct kv_table *t)
{
	t->cap = 16;
	t->count = 0;
	t->slots = xcalloc(t->cap, sizeof *t->slots);
}

static void table_release(struct kv_table *t);

static void entry_free(struct kv_entry *e)
{
	if (!e)
		return;
	if (e->val != e->inline_val)
		xfree(e->val);
	if (e->map) {
		table_release(e->map);
		xfree(e->map);
	}
	xfree(e);
}

static void table_release(struct kv_table *t)
{
	for (size_t i = 0; i < t->cap; i++)
		entry_free(t->slots[i].e);
	xfree(t->slots);
	t->slots = NULL;
	t->cap = t->count = 0;
}

static size_t table_find(const struct kv_table *t, uint64_t hash, uint32_t state_id,
                         const void *key, size_t klen)
{
	size_t mask = t->cap - 1;
	size_t i = (size_t)hash & mask;
	for (;;) {
		const struct kv_slot *sl = &t->slots[i];
		if (!sl->e)
			return i;
		if (sl->hash == hash && sl->e->state_id == state_id && sl->e->key_len == klen &&
		    memcmp(sl->e->key, key, klen) == 0)
			return i;
		i = (i + 1) & mask;
	}
}

static void table_grow(struct kv_table *t)
{
	struct kv_slot *old = t->slots;
	size_t oldcap = t->cap;
	t->cap *= 2;
	t->slots = xcalloc(t->cap, sizeof *t->slots);
	for (size_t i = 0; i < oldcap; i++) {
		if (!old[i].e)
			continue;
		size_t j = (size_t)old[i].hash & (t->cap - 1);
		while (t->slots[j].e)
			j = (j + 1) & (t->cap - 1);
		t->slots[j] = old[i];
	}
	xfree(old);
}

static struct kv_entry *table_get(const struct kv_table *t, uint64_t hash, uint32_t state_id,
                                  const void *key, size_t klen)
{
	return t->slots[table_find(t, hash, state_id, key, klen)].e;
}

static struct kv_entry *table_upsert(struct kv_table *t, uint64_t hash, uint32_t state_id, int kg,
                                     const void *key, size_t klen)
{
	size_t i = table_find(t, hash, state_id, key, klen);
	if (t->slots[i].e)
		return t->slots[i].e;
	if ((t->count + 1) * 4 > t->cap * 3) {
		table_grow(t);
		i = table_find(t, hash, state_id, key, klen);
	}
	size_t key_space = (klen + 7) & ~(size_t)7;
	struct kv_entry *e = xcalloc(1, sizeof *e + key_space + INLINE_VALUE);
	e->hash = hash;
	e->state_id = state_id;
	e->key_group = kg;
	e->key_len = (uint32_t)klen;
	memcpy(e->key, key, klen);
	e->inline_val = e->key + key_space;
	t->slots[i].hash = hash;
	t->slots[i].e = e;
	t->count++;
	return e;
}

/* Removes slot i and re-seats the rest of its probe run (backward-shift deletion). */
static void table_remove_at(struct kv_table *t, size_t i)
{
	size_t mask = t->cap - 1;
	entry_free(t->slots[i].e);
	t->slots[i].e = NULL;
	t->count--;
	size_t j = (i + 1) & mask;
	while (t->slots[j].e) {
		struct kv_slot moved = t->slots[j];
		t->slots[j].e = NULL;
		size_t k = (size_t)moved.hash & mask;
		while (t->slots[k].e)
			k = (k + 1) & mask;
		t->slots[k] = moved;
		j = (j + 1) & mask;
	}
}

static void entry_set_value(struct kv_entry *e, const void *val, size_t len)
{
	if (!e->val) {
		e->val = e->inline_val;
		e->val_cap = INLINE_VALUE;
	}
	if (len > e->val_cap) {
		if (e->val != e->inline_val)
			xfree(e->val);
		e->val_cap = (uint32_t)len;
		e->val = xmalloc(e->val_cap);
	}
	if (val != e->val)
		memmove(e->val, val, len);
	e->val_len = (uint32_t)len;
}

void state_key_hash(struct state_key *k)
{
	k->key_hash = XXH3_64bits_withSeed(k->key, k->key_len, k->state_id);
}

static uint64_t user_key_hash(const void *uk, size_t uklen)
{
	return XXH3_64bits(uk, uklen);
}

#define BE(be) (&((struct heap_backend *)(be))->table)

static int heap_value_get(struct keyed_state_backend *be, const struct state_key *k, void **val,
                          size_t *len)
{
	struct kv_entry *e = table_get(BE(be), k->key_hash, k->state_id, k->key, k->key_len);
	if (!e || !e->val)
		return 0;
	*val = e->val;
	*len = e->val_len;
	return 1;
}

static int heap_value_put(struct keyed_state_backend *be, const struct state_key *k,
                          const void *val, size_t len)
{
	struct kv_entry *e =
	    table_upsert(BE(be), k->key_hash, k->state_id, k->key_group, k->key, k->key_len);
	entry_set_value(e, val, len);
	return 0;
}

static int heap_value_remove(struct keyed_state_backend *be, const struct state_key *k)
{
	struct kv_table *t = BE(be);
	size_t i = table_find(t, k->key_hash, k->state_id, k->key, k->key_len);
	if (t->slots[i].e)
		table_remove_at(t, i);
	return 0;
}

static struct kv_table *map_of(struct keyed_state_backend *be, const struct state_key *k,
                               bool create)
{
	struct kv_entry *e;
	if (create)
		e = table_upsert(BE(be), k->key_hash, k->state_id, k->key_group, k->key,
		                 k->key_len);
	else
		e = table_get(BE(be), k->key_hash, k->state_id, k->key, k->key_len);
	if (!e)
		return NULL;
	if (!e->map && create) {
		e->map = xmalloc(sizeof *e->map);
		table_init(e->map);
	}
	return e->map;
}

static int heap_map_get(struct keyed_state_backend *be, const struct state_key *k, const void *uk,
                        size_t uklen, void **val, size_t *len)
{
	struct kv_table *m = map_of(be, k, false);
	if (!m)
		return 0;
	struct kv_entry *e = table_get(m, user_key_hash(uk, uklen), 0, uk, uklen);
	if (!e)
		return 0;
	*val = e->val;
	*len = e->val_len;
	return 1;
}

static int heap_map_put(struct keyed_state_backend *be, const struct state_key *k, const void *uk,
                        size_t uklen, const void *val, size_t len)
{
	struct kv_table *m = map_of(be, k, true);
	struct kv_entry *e = table_upsert(m, user_key_hash(uk, uklen), 0, k->key_group, uk, uklen);
	entry_set_value(e, val, len);
	return 0;
}

static int heap_map_remove(struct keyed_state_backend *be, const struct state_key *k,
                           const void *uk, size_t uklen)
{
	struct kv_table *m = map_of(be, k, false);
	if (!m)
		return 0;
	size_t i = table_find(m, user_key_hash(uk, uklen), 0, uk, uklen);
	if (m->slots[i].e)
		table_remove_at(m, i);
	return 0;
}

static int heap_map_iterate(struct keyed_state_backend *be, const struct state_key *k,
                            int (*fn)(void *, const void *, size_t, const void *, size_t),
                            void *arg)
{
	struct kv_table *m = map_of(be, k, false);
	if (!m)
		return 0;
	for (size_t i = 0; i < m->cap; i++) {
		struct kv_entry *e = m->slots[i].e;
		if (e) {
			int rc = fn(arg, e->key, e->key_len, e->val, e->val_len);
			if (rc)
				return rc;
		}
	}
	return 0;
}

static size_t heap_map_size(struct keyed_state_backend *be, const struct state_key *k)
{
	struct kv_table *m = map_of(be, k, false);
	return m ? m->count : 0;
}

static size_t heap_entry_count(struct keyed_state_backend *be)
{
	return BE(be)->count;
}

static void heap_free(struct keyed_state_backend *be)
{
	if (!be)
		return;
	table_release(BE(be));
	xfree(be);
}

static const struct state_backend_ops heap_ops = {
    .value_get = heap_value_get,
    .value_put = heap_value_put,
    .value_remove = heap_value_remove,
    .map_get = heap_map_get,
    .map_put = heap_map_put,
    .map_remove = heap_map_remove,
    .map_iterate = heap_map_iterate,
    .map_size = heap_map_size,
    .entry_count = heap_entry_count,
    .free = heap_free,
};

struct keyed_state_backend *heap_state_backend_new(int key_group_first, int key_group_last)
{
	struct heap_backend *h = xcalloc(1, sizeof *h);
	h->base.ops = &heap_ops;
	h->base.key_group_first = key_group_first;
	h->base.key_group_last = key_group_last;
	h->base.value_mutable = true;
	table_init(&h->table);
	return &h->base;
}
