/*
 * state_backend.c - the in-memory ("hashmap") keyed state backend, its checkpoint file, and
 * the backend-independent entry points (state_backend_new, keyed_snapshot_write/free).
 *
 * One open-addressing table (linear probing, power-of-two size, grown at 3/4 load) maps
 * (state id, key) to an entry. A value-state entry holds the value bytes; a map-state entry
 * holds a nested table of user key -> value.
 *
 * Per-record cost is dominated by cache misses, so the table is one array of records that
 * hold their hash, key and value inline when they fit (64 bytes hold an int64 key with a
 * three-field row as its value; a table takes 128- or 256-byte records when its entries
 * need them): a lookup that hits reads one cache line and follows no pointer. Beside the
 * records, a tag array holds one byte per slot (empty, or seven bits of the hash), in which
 * batch lookups walk their probe sequences before they load any record. Longer keys
 * and values, and map state, live in allocations of their own. Records move when the table
 * grows or a removal re-seats a probe run, so a value handed out is valid until the next
 * change to the backend (see state_backend.h).
 *
 * Checkpoints. snapshot() runs on the task thread at the barrier: one pass over the table
 * copies every entry into one buffer (no allocation per entry). The task then goes on
 * changing the table while another thread groups the copy by key group and writes it
 * (keyed_snapshot_write): the copy is the price of consistency, and all the rest happens
 * off the task thread.
 *
 * The file "<name>.state" (all integers little-endian):
 *
 *   header   "SPHS" | u32 version (1) | u32 key_group_first | u32 key_group_last
 *            | u32 ngroups | u32 0                                            24 bytes
 *   index    ngroups x { u32 key_group | u64 offset | u64 length }            20 bytes each
 *            non-empty key groups only, ascending; offsets count from the file's start
 *            and the groups follow each other without gaps, in index order
 *   groups   each group's entries back to back, each
 *              u8 kind (0 value, 1 map entry) | u32 state_id | u32 key_len | u32 uk_len
 *              | u32 val_len | key | user key (map entries; uk_len is 0 for values) | value
 *
 * Restore reads the header and the index, then only the bytes of the key groups it needs
 * (one read: they are contiguous). Every length is checked against what was read, so a
 * file that passed its checksum but was written by something else still cannot make the
 * decoder read out of bounds.
 */
#include "runtime/state_backend.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
/* XXH3 inlined: the state key hash runs once per record and state access */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "core/alloc.h"

/*
 * A table is one array of records of `stride` bytes (64, 128 or 256: a table starts at 64
 * and doubles its stride, once, when an entry would not fit inline). An inline record is
 *
 *   u32 hash (low half) | u32 state id | u16 key group | u8 flags | u8 key length
 *   | u16 value length | key bytes from offset 14 | value from the next multiple of 8
 *
 * so an int64 key (9 bytes) and a three-field row as its value (40) fill 64 bytes exactly,
 * and a lookup that hits reads one cache line and follows no pointer. An entry whose key or
 * value does not fit the largest stride, and every map-state entry, is an EXT record: the
 * same header, then at REC_EXT_OFF (16) a pointer to a struct kv_ext holding all of it.
 */
#define REC_HEADER 14
#define REC_USED 1u /* the slot holds a record */
#define REC_VAL 2u  /* the record has a value (map-state records have a map instead) */
#define REC_EXT 4u  /* key, value and map live in a struct kv_ext */
#define STRIDE_MIN 64
#define STRIDE_MAX 256

struct kv_rec {
	uint32_t hash;
	uint32_t state_id;
	uint16_t key_group;
	uint8_t flags;
	uint8_t key_len;  /* inline records */
	uint16_t val_len; /* inline records */
	uint8_t data[];   /* at REC_HEADER */
};
_Static_assert(offsetof(struct kv_rec, data) == REC_HEADER, "record header layout");

struct kv_ext {
	struct kv_table *map; /* owned (map state) */
	uint8_t *val;         /* owned */
	uint32_t val_len;
	uint32_t val_cap;
	uint32_t key_len;
	uint8_t key[]; /* key_len bytes */
};

struct kv_table {
	uint8_t *recs; /* owned, cap records of stride bytes, 64-byte aligned */
	uint8_t *tags; /* owned, cap bytes: 0 for an empty slot, hash_tag of a used one */
	size_t cap;    /* power of two */
	size_t count;
	unsigned shift;  /* stride = 1 << shift */
	uint64_t *moves; /* the backend's count of moves (grow, restride, remove) */
};

struct heap_backend {
	struct keyed_state_backend base;
	struct kv_table table;
};

static inline size_t pad8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

/* A used slot's byte in the table's tag array: 0x80 and the hash's top seven bits. The
 * array mirrors the records' REC_USED flags, so a batch lookup can walk a probe sequence
 * there (one byte a slot, a few cache lines for a whole table of 10 k keys) and load only
 * the record whose tag matches. */
static inline uint8_t hash_tag(uint32_t hash)
{
	return (uint8_t)(0x80 | hash >> 25);
}

static inline struct kv_rec *rec_at(const struct kv_table *t, size_t i)
{
	return (struct kv_rec *)(t->recs + (i << t->shift));
}

#define REC_EXT_OFF 16 /* where an EXT record keeps its struct kv_ext pointer */

static inline struct kv_ext *rec_ext(const struct kv_rec *r)
{
	struct kv_ext *x;
	memcpy(&x, (const uint8_t *)r + REC_EXT_OFF, sizeof x);
	return x;
}

/* Makes r an EXT record whose struct kv_ext holds key (no value, no map yet). */
static struct kv_ext *rec_attach_ext(struct kv_rec *r, const void *key, size_t klen)
{
	struct kv_ext *x = xcalloc(1, sizeof *x + klen);
	x->key_len = (uint32_t)klen;
	if (klen)
		memcpy(x->key, key, klen);
	r->flags |= REC_EXT;
	memcpy((uint8_t *)r + REC_EXT_OFF, &x, sizeof x);
	return x;
}

static inline size_t rec_val_off(size_t klen)
{
	return pad8(REC_HEADER + klen);
}

/* Whether a key and value of these lengths fit a record of `stride` bytes inline. */
static inline bool fits_inline(size_t klen, size_t vlen, size_t stride)
{
	return klen <= UINT8_MAX && vlen <= UINT16_MAX && rec_val_off(klen) + vlen <= stride;
}

static inline const uint8_t *rec_key(const struct kv_rec *r)
{
	return r->flags & REC_EXT ? rec_ext(r)->key : r->data;
}

static inline size_t rec_klen(const struct kv_rec *r)
{
	return r->flags & REC_EXT ? rec_ext(r)->key_len : r->key_len;
}

static inline uint8_t *rec_val(struct kv_rec *r)
{
	return r->flags & REC_EXT ? rec_ext(r)->val : (uint8_t *)r + rec_val_off(r->key_len);
}

static inline size_t rec_vlen(const struct kv_rec *r)
{
	return r->flags & REC_EXT ? rec_ext(r)->val_len : r->val_len;
}

static inline struct kv_table *rec_map(const struct kv_rec *r)
{
	return r->flags & REC_EXT ? rec_ext(r)->map : NULL;
}

static void table_init(struct kv_table *t, size_t cap, unsigned shift, uint64_t *moves)
{
	t->cap = cap;
	t->count = 0;
	t->shift = shift;
	t->moves = moves;
	t->recs = xaligned_zalloc(64, cap << shift);
	t->tags = xaligned_zalloc(64, cap);
}

static void table_release(struct kv_table *t);

/* Frees what a record owns (not the record: it is a slot of its table). */
static void rec_free(struct kv_rec *r)
{
	if (!(r->flags & REC_EXT))
		return;
	struct kv_ext *x = rec_ext(r);
	if (x->map) {
		table_release(x->map);
		xfree(x->map);
	}
	xfree(x->val);
	xfree(x);
}

static void table_release(struct kv_table *t)
{
	for (size_t i = 0; i < t->cap; i++)
		if (rec_at(t, i)->flags & REC_USED)
			rec_free(rec_at(t, i));
	xfree(t->recs);
	xfree(t->tags);
	t->recs = t->tags = NULL;
	t->cap = t->count = 0;
}

/* memcmp(a, b, n) == 0 without a library call for the short keys of most jobs (an int64
 * key is 9 bytes: tag and slot). */
static inline bool key_equal(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;
	uint64_t u, v;
	if (n >= 8 && n <= 16) { /* two overlapping words (an int64 key: 9 bytes) */
		uint64_t u2, v2;
		memcpy(&u, x, 8);
		memcpy(&v, y, 8);
		memcpy(&u2, x + n - 8, 8);
		memcpy(&v2, y + n - 8, 8);
		return ((u ^ v) | (u2 ^ v2)) == 0;
	}
	while (n >= 8) {
		memcpy(&u, x, 8);
		memcpy(&v, y, 8);
		if (u != v)
			return false;
		x += 8;
		y += 8;
		n -= 8;
	}
	while (n--)
		if (*x++ != *y++)
			return false;
	return true;
}

/* The slot of (state_id, key): its record, or the empty slot where it would go. */
static inline __attribute__((always_inline)) size_t
table_find(const struct kv_table *t, uint32_t hash, uint32_t state_id, const void *key, size_t klen)
{
	size_t mask = t->cap - 1;
	size_t i = hash & mask;
	for (;;) {
		const struct kv_rec *r = rec_at(t, i);
		if (!(r->flags & REC_USED))
			return i;
		if (r->hash == hash && r->state_id == state_id) {
			if (!(r->flags & REC_EXT)) {
				if (r->key_len == klen && key_equal(r->data, key, klen))
					return i;
			} else {
				const struct kv_ext *x = rec_ext(r);
				if (x->key_len == klen && key_equal(x->key, key, klen))
					return i;
			}
		}
		i = (i + 1) & mask;
	}
}

/* Re-seats every record in a table of newcap records of stride 1 << shift. */
static void table_rebuild(struct kv_table *t, size_t newcap, unsigned shift)
{
	uint8_t *old = t->recs;
	size_t oldcap = t->cap, oldstride = (size_t)1 << t->shift;
	t->cap = newcap;
	t->shift = shift;
	t->recs = xaligned_zalloc(64, newcap << shift);
	xfree(t->tags);
	t->tags = xaligned_zalloc(64, newcap);
	for (size_t i = 0; i < oldcap; i++) {
		const struct kv_rec *r = (const struct kv_rec *)(old + i * oldstride);
		if (!(r->flags & REC_USED))
			continue;
		size_t j = r->hash & (newcap - 1);
		while (rec_at(t, j)->flags & REC_USED)
			j = (j + 1) & (newcap - 1);
		memcpy(rec_at(t, j), r, oldstride);
		t->tags[j] = hash_tag(r->hash);
	}
	xfree(old);
	++*t->moves;
}

static inline struct kv_rec *table_get(const struct kv_table *t, uint32_t hash, uint32_t state_id,
                                       const void *key, size_t klen)
{
	struct kv_rec *r = rec_at(t, table_find(t, hash, state_id, key, klen));
	return r->flags & REC_USED ? r : NULL;
}

/* p itself, or a copy of it in buf when it points into t's records, which an insert may
 * move (a value or key just read from the same backend). Bytes inside a record are fewer
 * than STRIDE_MAX. */
static const void *unmoved(const struct kv_table *t, const void *p, size_t n, uint8_t *buf)
{
	uintptr_t a = (uintptr_t)p, lo = (uintptr_t)t->recs;
	if (a >= lo && a - lo < (t->cap << t->shift) && n <= STRIDE_MAX) {
		memcpy(buf, p, n);
		return buf;
	}
	return p;
}

/* Makes r, a record of t, an EXT record: its key and value move into a struct kv_ext. */
static struct kv_ext *rec_to_ext(const struct kv_table *t, struct kv_rec *r)
{
	if (r->flags & REC_EXT)
		return rec_ext(r);
	++*t->moves;
	/* copied out before the pointer overwrites the inline bytes */
	uint8_t key[UINT8_MAX];
	size_t klen = r->key_len, vlen = r->val_len;
	uint8_t *val = NULL;
	memcpy(key, r->data, klen);
	if (r->flags & REC_VAL) {
		val = xmalloc(vlen ? vlen : 1);
		memcpy(val, (uint8_t *)r + rec_val_off(klen), vlen);
	}
	struct kv_ext *x = rec_attach_ext(r, key, klen);
	x->val = val;
	x->val_len = x->val_cap = val ? (uint32_t)vlen : 0;
	return x;
}

/*
 * The record of (state_id, key), created (without a value) if absent; vlen is the length of
 * the value about to be stored, so that a new record is made inline where it can be (the
 * table takes a larger stride for it when that suffices; SIZE_MAX: the record will be EXT
 * in any case, as a map's is, and needs no larger stride). key must not point into t.
 */
static struct kv_rec *table_upsert(struct kv_table *t, uint32_t hash, uint32_t state_id, int kg,
                                   const void *key, size_t klen, size_t vlen)
{
	size_t i = table_find(t, hash, state_id, key, klen);
	if (rec_at(t, i)->flags & REC_USED)
		return rec_at(t, i);
	size_t stride = (size_t)1 << t->shift;
	bool grow = (t->count + 1) * 4 > t->cap * 3;
	unsigned shift = t->shift;
	while (vlen != SIZE_MAX && !fits_inline(klen, vlen, (size_t)1 << shift) &&
	       fits_inline(klen, vlen, STRIDE_MAX) && ((size_t)1 << shift) < STRIDE_MAX)
		shift++;
	if (grow || shift != t->shift) {
		table_rebuild(t, grow ? t->cap * 2 : t->cap, shift);
		stride = (size_t)1 << shift;
		i = table_find(t, hash, state_id, key, klen);
	}
	struct kv_rec *r = rec_at(t, i);
	memset(r, 0, stride);
	r->hash = hash;
	r->state_id = state_id;
	r->key_group = (uint16_t)kg;
	r->flags = REC_USED;
	t->tags[i] = hash_tag(hash);
	if (fits_inline(klen, 0, stride)) {
		r->key_len = (uint8_t)klen;
		memcpy(r->data, key, klen);
	} else {
		rec_attach_ext(r, key, klen);
	}
	t->count++;
	return r;
}

/* Removes slot i and re-seats the rest of its probe run (backward-shift deletion). */
static void table_remove_at(struct kv_table *t, size_t i)
{
	size_t mask = t->cap - 1, stride = (size_t)1 << t->shift;
	_Alignas(64) uint8_t moved[STRIDE_MAX];
	rec_free(rec_at(t, i));
	rec_at(t, i)->flags = 0;
	t->tags[i] = 0;
	t->count--;
	size_t j = (i + 1) & mask;
	while (rec_at(t, j)->flags & REC_USED) {
		memcpy(moved, rec_at(t, j), stride);
		rec_at(t, j)->flags = 0;
		t->tags[j] = 0;
		size_t k = ((const struct kv_rec *)moved)->hash & mask;
		while (rec_at(t, k)->flags & REC_USED)
			k = (k + 1) & mask;
		memcpy(rec_at(t, k), moved, stride);
		t->tags[k] = hash_tag(((const struct kv_rec *)moved)->hash);
		j = (j + 1) & mask;
	}
	++*t->moves;
}

/* Sets the value of r, a record of t; val must not point into t (see unmoved). */
static void rec_set_value(const struct kv_table *t, struct kv_rec *r, const void *val, size_t len)
{
	if (!(r->flags & REC_EXT) && fits_inline(r->key_len, len, (size_t)1 << t->shift)) {
		if (len)
			memmove((uint8_t *)r + rec_val_off(r->key_len), val, len);
		r->val_len = (uint16_t)len;
		r->flags |= REC_VAL;
		return;
	}
	struct kv_ext *x = rec_to_ext(t, r);
	if (x->val && len <= x->val_cap) {
		if (len)
			memmove(x->val, val, len); /* val may be this very value */
	} else {
		uint8_t *nv = xmalloc(len ? len : 1);
		if (len)
			memcpy(nv, val, len);
		xfree(x->val);
		x->val = nv;
		x->val_cap = (uint32_t)len;
		++*t->moves;
	}
	x->val_len = (uint32_t)len;
	r->flags |= REC_VAL;
}

/* skey_hash's other lengths, out of line: with XXH3 inlined into it, -O3 called the whole
 * hash out of line (a partial inline), short keys included. */
static __attribute__((noinline)) uint32_t skey_hash_xxh3(const struct state_key *k)
{
	return (uint32_t)XXH3_64bits_withSeed(k->key, k->key_len, k->state_id);
}

/* The table hash of (state_id, key); computed here rather than by the caller, since only
 * this backend needs it (inline: it runs once per record and state access). */
static inline __attribute__((always_inline)) uint32_t skey_hash(const struct state_key *k)
{
	if (k->has_hint) /* heap_prefetch's hash of the same key */
		return k->hint;
	if (k->key_len >= 8 && k->key_len <= 16) {
		/* The usual keys (an int64 key is 9 bytes): two overlapping words, the length and
		 * the state id folded into one word and mixed by splitmix64's finalizer, about
		 * half of XXH3's instructions for these lengths. */
		uint64_t a, b;
		memcpy(&a, k->key, 8);
		memcpy(&b, (const uint8_t *)k->key + k->key_len - 8, 8);
		uint64_t x = a ^ (b * 0x9E3779B97F4A7C15ull) ^ ((uint64_t)k->key_len << 56) ^
		             ((uint64_t)k->state_id * 0xC2B2AE3D27D4EB4Full);
		x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
		x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
		return (uint32_t)(x ^ (x >> 31));
	}
	return skey_hash_xxh3(k);
}

static uint32_t user_key_hash(const void *uk, size_t uklen)
{
	return (uint32_t)XXH3_64bits(uk, uklen);
}

#define BE(be) (&((struct heap_backend *)(be))->table)

static uint32_t heap_prefetch(struct keyed_state_backend *be, const struct state_key *k)
{
	const struct kv_table *t = BE(be);
	uint32_t h = skey_hash(k);
	__builtin_prefetch(rec_at(t, h & (t->cap - 1)), 1);
	return h;
}

/* The full probe for k, whose table hash is `hash`. */
static __attribute__((noinline)) int heap_probe_hashed(struct keyed_state_backend *be,
                                                       const struct state_key *k, uint32_t hash,
                                                       void **val, size_t *len)
{
	struct kv_rec *r = table_get(BE(be), hash, k->state_id, k->key, k->key_len);
	if (!r || !(r->flags & REC_VAL))
		return 0;
	*val = rec_val(r);
	*len = rec_vlen(r);
	return 1;
}

static __attribute__((noinline)) int
heap_value_probe(struct keyed_state_backend *be, const struct state_key *k, void **val, size_t *len)
{
	return heap_probe_hashed(be, k, skey_hash(k), val, len);
}

/* Whether k's key fits the short-key paths below (an int64 key is 9 bytes). */
static inline bool short_key(const struct state_key *k)
{
	return k->key_len >= 8 && k->key_len <= 16;
}

/* Whether r, a used record, is the inline value record of k (a short key whose table hash
 * is `hash`): 1 with *val and *len set; 0 if it is another key's; -1 if it has k's hash and
 * state id but is not an inline value record (only the full probe can tell). */
static inline __attribute__((always_inline)) int rec_is_key(const struct kv_rec *r,
                                                            const struct state_key *k,
                                                            uint32_t hash, void **val, size_t *len)
{
	if (r->hash != hash || r->state_id != k->state_id)
		return 0;
	if ((r->flags & (REC_VAL | REC_EXT)) != REC_VAL)
		return -1;
	if (r->key_len != k->key_len || !key_equal(r->data, k->key, k->key_len))
		return 0;
	*val = (uint8_t *)r + rec_val_off(r->key_len);
	*len = r->val_len;
	return 1;
}

/* The usual lookup, a short key among inline records whose table hash is known, walked
 * without the probe loop's saved registers and rarely used paths: the same probe sequence
 * as table_find, so an empty slot means not found (0); 1 with *val and *len set when found;
 * -1 when the full probe must give the answer (see rec_is_key). */
static inline __attribute__((always_inline)) int heap_walk(const struct kv_table *t,
                                                           const struct state_key *k, uint32_t hash,
                                                           void **val, size_t *len)
{
	size_t mask = t->cap - 1;
	for (size_t i = hash & mask;; i = (i + 1) & mask) {
		const struct kv_rec *r = rec_at(t, i);
		if (!(r->flags & REC_USED))
			return 0;
		int found = rec_is_key(r, k, hash, val, len);
		if (found)
			return found;
	}
}

/* A prefetched (hinted) short key takes heap_walk (the hint is the key's hash). */
static int heap_value_get(struct keyed_state_backend *be, const struct state_key *k, void **val,
                          size_t *len)
{
	if (k->has_hint && short_key(k)) {
		int found = heap_walk(BE(be), k, k->hint, val, len);
		if (found >= 0)
			return found;
	}
	return heap_value_probe(be, k, val, len);
}

/*
 * Looks a batch up in three passes, so that the loads of every key overlap: each key's
 * hash, asking for its home slot's tag; each key's probe sequence walked in the tag array
 * to the first slot whose tag is the key's (asking for that record) or to an empty slot
 * (the key is absent); then each candidate record checked. A record that is not the key's
 * (another key with the same tag, about one slot in 128) or not an inline value record
 * sends the key down the record walk from its home slot, which settles every case.
 */
#define BATCH_MAX 256
static int heap_value_get_batch(struct keyed_state_backend *be, const struct state_key *keys, int n,
                                void **vals, size_t *lens)
{
	const struct kv_table *t = BE(be);
	const uint8_t *tags = t->tags;
	size_t mask = t->cap - 1;
	uint32_t hash[BATCH_MAX];
	size_t slot[BATCH_MAX];
	for (int base = 0; base < n; base += BATCH_MAX) {
		int m = n - base < BATCH_MAX ? n - base : BATCH_MAX;
		const struct state_key *ks = keys + base;
		for (int a = 0; a < m; a++) {
			hash[a] = skey_hash(&ks[a]);
			__builtin_prefetch(&tags[hash[a] & mask]);
		}
		for (int a = 0; a < m; a++) {
			uint8_t tag = hash_tag(hash[a]);
			size_t i = hash[a] & mask;
			while (tags[i] && tags[i] != tag)
				i = (i + 1) & mask;
			slot[a] = i;
			__builtin_prefetch(rec_at(t, i), 1);
		}
		for (int r = 0; r < m; r++) {
			const struct state_key *k = &ks[r];
			void **val = &vals[base + r];
			size_t *len = &lens[base + r];
			if (!tags[slot[r]]) {
				*val = NULL;
				continue;
			}
			if (short_key(k) &&
			    rec_is_key(rec_at(t, slot[r]), k, hash[r], val, len) == 1)
				continue;
			int found = -1;
			if (short_key(k))
				found = heap_walk(t, k, hash[r], val, len);
			if (found < 0)
				found = heap_probe_hashed(be, k, hash[r], val, len);
			if (!found)
				*val = NULL;
		}
	}
	return 0;
}

static int heap_value_put(struct keyed_state_backend *be, const struct state_key *k,
                          const void *val, size_t len)
{
	struct kv_table *t = BE(be);
	uint8_t buf[STRIDE_MAX];
	val = unmoved(t, val, len, buf);
	struct kv_rec *r =
	    table_upsert(t, skey_hash(k), k->state_id, k->key_group, k->key, k->key_len, len);
	rec_set_value(t, r, val, len);
	return 0;
}

static int heap_value_remove(struct keyed_state_backend *be, const struct state_key *k)
{
	struct kv_table *t = BE(be);
	size_t i = table_find(t, skey_hash(k), k->state_id, k->key, k->key_len);
	if (rec_at(t, i)->flags & REC_USED)
		table_remove_at(t, i);
	return 0;
}

/* Appends in place, growing the value's buffer geometrically so that n appends cost O(n)
 * bytes copied, not O(n^2) (lists are appended to one element at a time). */
static int heap_value_append(struct keyed_state_backend *be, const struct state_key *k,
                             const void *val, size_t len)
{
	struct kv_table *t = BE(be);
	uint8_t buf[STRIDE_MAX];
	if (len > UINT32_MAX) /* checked before a new key is inserted */
		return SPATE_ERANGE;
	val = unmoved(t, val, len, buf);
	/* a list's first element says little about its final size: no larger stride for it */
	struct kv_rec *r =
	    table_upsert(t, skey_hash(k), k->state_id, k->key_group, k->key, k->key_len, 0);
	size_t old = r->flags & REC_VAL ? rec_vlen(r) : 0;
	size_t need = old + len;
	if (need > UINT32_MAX)
		return SPATE_ERANGE;
	if (!(r->flags & REC_EXT) && fits_inline(r->key_len, need, (size_t)1 << t->shift)) {
		if (len)
			memmove((uint8_t *)r + rec_val_off(r->key_len) + old, val, len);
		r->val_len = (uint16_t)need;
		r->flags |= REC_VAL;
		return 0;
	}
	struct kv_ext *x = rec_to_ext(t, r);
	r->flags |= REC_VAL;
	if (need > x->val_cap || !x->val) {
		size_t cap = (size_t)x->val_cap * 2;
		if (cap < need)
			cap = need;
		if (cap > UINT32_MAX)
			cap = UINT32_MAX;
		/* Copy the new bytes before freeing the old buffer: val may point into it. */
		uint8_t *nv = xmalloc(cap ? cap : 1);
		if (old)
			memcpy(nv, x->val, old);
		if (len)
			memcpy(nv + old, val, len);
		xfree(x->val);
		x->val = nv;
		x->val_cap = (uint32_t)cap;
		++*t->moves;
	} else if (len) {
		memmove(x->val + old, val, len);
	}
	x->val_len = (uint32_t)need;
	return 0;
}

/* A map's first size: small, since many keys hold only a few user keys. */
#define MAP_INITIAL_CAP 4

static struct kv_table *map_of(struct keyed_state_backend *be, const struct state_key *k,
                               bool create)
{
	struct kv_rec *r;
	if (create)
		r = table_upsert(BE(be), skey_hash(k), k->state_id, k->key_group, k->key,
		                 k->key_len, SIZE_MAX);
	else
		r = table_get(BE(be), skey_hash(k), k->state_id, k->key, k->key_len);
	if (!r)
		return NULL;
	if (!rec_map(r) && create) {
		struct kv_ext *x = rec_to_ext(BE(be), r);
		x->map = xmalloc(sizeof *x->map);
		table_init(x->map, MAP_INITIAL_CAP, 6, BE(be)->moves);
	}
	return rec_map(r);
}

static int heap_map_get(struct keyed_state_backend *be, const struct state_key *k, const void *uk,
                        size_t uklen, void **val, size_t *len)
{
	struct kv_table *m = map_of(be, k, false);
	if (!m)
		return 0;
	struct kv_rec *r = table_get(m, user_key_hash(uk, uklen), 0, uk, uklen);
	if (!r)
		return 0;
	*val = rec_val(r);
	*len = rec_vlen(r);
	return 1;
}

static int heap_map_put(struct keyed_state_backend *be, const struct state_key *k, const void *uk,
                        size_t uklen, const void *val, size_t len)
{
	/* The user key and value may have been read from this backend (the state table or
	 * this key's map): copy them out before an insert can move them. */
	uint8_t ukbuf[STRIDE_MAX], vbuf[STRIDE_MAX];
	uk = unmoved(BE(be), uk, uklen, ukbuf);
	val = unmoved(BE(be), val, len, vbuf);
	struct kv_table *m = map_of(be, k, true);
	uk = unmoved(m, uk, uklen, ukbuf);
	val = unmoved(m, val, len, vbuf);
	struct kv_rec *r =
	    table_upsert(m, user_key_hash(uk, uklen), 0, k->key_group, uk, uklen, len);
	rec_set_value(m, r, val, len);
	return 0;
}

static int heap_map_remove(struct keyed_state_backend *be, const struct state_key *k,
                           const void *uk, size_t uklen)
{
	struct kv_table *m = map_of(be, k, false);
	if (!m)
		return 0;
	size_t i = table_find(m, user_key_hash(uk, uklen), 0, uk, uklen);
	if (!(rec_at(m, i)->flags & REC_USED))
		return 0;
	table_remove_at(m, i);
	/* An empty map is no state at all (as in Flink): drop the key's entry, so that
	 * entry counts and snapshots do not depend on what was removed before. */
	if (m->count == 0) {
		struct kv_table *t = BE(be);
		size_t j = table_find(t, skey_hash(k), k->state_id, k->key, k->key_len);
		if ((rec_at(t, j)->flags & REC_USED) && !(rec_at(t, j)->flags & REC_VAL))
			table_remove_at(t, j);
	}
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
		struct kv_rec *r = rec_at(m, i);
		if (r->flags & REC_USED) {
			int rc = fn(arg, rec_key(r), rec_klen(r), rec_val(r), rec_vlen(r));
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

/* ---- the snapshot file: encoding -------------------------------------------------------- */

#define HEAP_MAGIC "SPHS"
#define HEAP_VERSION 1u
#define HEAP_HEADER_BYTES 24
#define HEAP_INDEX_BYTES 20
#define HEAP_ENTRY_BYTES 17
#define HEAP_KIND_VALUE 0
#define HEAP_KIND_MAP 1

static void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static void put_le64(uint8_t *p, uint64_t v)
{
	put_le32(p, (uint32_t)v);
	put_le32(p + 4, (uint32_t)(v >> 32));
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_le64(const uint8_t *p)
{
	return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

/*
 * The synchronous part copies every record once, in table order, into one growing buffer,
 * each record preceded by its u16 key group; the asynchronous part groups them by key group
 * into the file image (two sequential passes over memory the task no longer touches). So
 * the task thread walks the table's records once, in memory order, and that is the whole
 * cost of snapshot().
 */
struct heap_snapshot {
	struct keyed_snapshot base;
	int key_group_first;
	int key_group_last;
	uint8_t *recs; /* owned: u16 key group + one file record, repeated */
	size_t len;
	size_t cap;
	bool written; /* recs were written and freed */
};

/* Room for n more bytes; false when memory runs out (the checkpoint is declined). */
static bool snap_reserve(struct heap_snapshot *s, size_t n)
{
	if (s->len + n <= s->cap)
		return true;
	size_t cap = s->cap ? s->cap : 4096;
	while (cap < s->len + n)
		cap *= 2;
	uint8_t *p = try_malloc(cap);
	if (!p)
		return false;
	if (s->len)
		memcpy(p, s->recs, s->len);
	xfree(s->recs);
	s->recs = p;
	s->cap = cap;
	return true;
}

static bool put_record(struct heap_snapshot *s, int kind, const struct kv_rec *r, const void *uk,
                       uint32_t uk_len, const void *val, uint32_t val_len)
{
	size_t klen = rec_klen(r);
	if (!snap_reserve(s, 2 + HEAP_ENTRY_BYTES + klen + uk_len + val_len))
		return false;
	uint8_t *p = s->recs + s->len;
	p[0] = (uint8_t)r->key_group;
	p[1] = (uint8_t)(r->key_group >> 8);
	p += 2;
	p[0] = (uint8_t)kind;
	put_le32(p + 1, r->state_id);
	put_le32(p + 5, (uint32_t)klen);
	put_le32(p + 9, uk_len);
	put_le32(p + 13, val_len);
	p += HEAP_ENTRY_BYTES;
	memcpy(p, rec_key(r), klen);
	p += klen;
	if (uk_len)
		memcpy(p, uk, uk_len);
	p += uk_len;
	if (val_len)
		memcpy(p, val, val_len);
	s->len = (size_t)(p + val_len - s->recs);
	return true;
}

static bool put_entry(struct heap_snapshot *s, struct kv_rec *r)
{
	if ((r->flags & REC_VAL) &&
	    !put_record(s, HEAP_KIND_VALUE, r, NULL, 0, rec_val(r), (uint32_t)rec_vlen(r)))
		return false;
	struct kv_table *m = rec_map(r);
	for (size_t i = 0; m && i < m->cap; i++) {
		struct kv_rec *u = rec_at(m, i);
		if ((u->flags & REC_USED) &&
		    !put_record(s, HEAP_KIND_MAP, r, rec_key(u), (uint32_t)rec_klen(u), rec_val(u),
		                (uint32_t)rec_vlen(u)))
			return false;
	}
	return true;
}

static int heap_snapshot_write(struct keyed_snapshot *base, const struct snapshot_target *t,
                               struct keyed_state_handle *out, struct spate_error *err);
static void heap_snapshot_free(struct keyed_snapshot *base);

static int heap_snapshot(struct keyed_state_backend *be, struct keyed_snapshot **out,
                         struct spate_error *err)
{
	const struct kv_table *t = BE(be);
	struct heap_snapshot *s = xcalloc(1, sizeof *s);
	s->base.write = heap_snapshot_write;
	s->base.free = heap_snapshot_free;
	s->key_group_first = be->key_group_first;
	s->key_group_last = be->key_group_last;
	/* A guess that saves most regrowing for small values; the buffer grows as needed. */
	if (!snap_reserve(s, t->count * (2 + HEAP_ENTRY_BYTES + 32)))
		goto oom;
	for (size_t i = 0; i < t->cap; i++) {
		struct kv_rec *e = rec_at(t, i);
		if (!(e->flags & REC_USED))
			continue;
		if (e->key_group < be->key_group_first || e->key_group > be->key_group_last) {
			heap_snapshot_free(&s->base);
			return error_set(err, SPATE_EINVAL,
			                 "state entry in key group %d outside the backend's key "
			                 "groups %d-%d",
			                 e->key_group, be->key_group_first, be->key_group_last);
		}
		if (!put_entry(s, e))
			goto oom;
	}
	*out = &s->base;
	return 0;
oom:
	heap_snapshot_free(&s->base);
	return error_set(err, SPATE_ENOMEM,
	                 "cannot allocate memory for a snapshot of the keyed state (%zu entries)",
	                 t->count);
}

/* The size of the record at p (our own bytes: no checks needed). */
static size_t record_bytes(const uint8_t *p)
{
	return HEAP_ENTRY_BYTES + (size_t)get_le32(p + 5) + get_le32(p + 9) + get_le32(p + 13);
}

/* Groups the snapshot's records by key group into the file image (see the top). */
static uint8_t *build_image(const struct heap_snapshot *s, size_t *len)
{
	int first = s->key_group_first, nall = s->key_group_last - first + 1;
	uint64_t *cur = xcalloc((size_t)nall, sizeof *cur);
	const uint8_t *end = s->recs ? s->recs + s->len : NULL; /* NULL: nothing recorded */
	for (const uint8_t *p = s->recs; p && p < end;) {
		int kg = p[0] | p[1] << 8;
		size_t n = record_bytes(p + 2);
		cur[kg - first] += n;
		p += 2 + n;
	}
	uint32_t ngroups = 0;
	uint64_t body = 0;
	for (int g = 0; g < nall; g++)
		if (cur[g]) {
			ngroups++;
			body += cur[g];
		}
	*len = HEAP_HEADER_BYTES + (size_t)ngroups * HEAP_INDEX_BYTES + (size_t)body;
	uint8_t *img = try_malloc(*len);
	if (!img) {
		xfree(cur);
		return NULL;
	}
	memcpy(img, HEAP_MAGIC, 4);
	put_le32(img + 4, HEAP_VERSION);
	put_le32(img + 8, (uint32_t)first);
	put_le32(img + 12, (uint32_t)s->key_group_last);
	put_le32(img + 16, ngroups);
	put_le32(img + 20, 0);
	uint8_t *idx = img + HEAP_HEADER_BYTES;
	uint64_t off = HEAP_HEADER_BYTES + (uint64_t)ngroups * HEAP_INDEX_BYTES;
	for (int g = 0; g < nall; g++) {
		if (!cur[g])
			continue;
		put_le32(idx, (uint32_t)(first + g));
		put_le64(idx + 4, off);
		put_le64(idx + 12, cur[g]);
		idx += HEAP_INDEX_BYTES;
		uint64_t n = cur[g];
		cur[g] = off;
		off += n;
	}
	for (const uint8_t *p = s->recs; p && p < end;) {
		int kg = p[0] | p[1] << 8;
		size_t n = record_bytes(p + 2);
		memcpy(img + cur[kg - first], p + 2, n);
		cur[kg - first] += n;
		p += 2 + n;
	}
	xfree(cur);
	return img;
}

static int heap_snapshot_write(struct keyed_snapshot *base, const struct snapshot_target *t,
                               struct keyed_state_handle *out, struct spate_error *err)
{
	struct heap_snapshot *s = (struct heap_snapshot *)base;
	memset(out, 0, sizeof *out);
	if (s->written)
		return error_set(err, SPATE_EINVAL, "snapshot of the keyed state written twice");
	int rc = checkpoint_mkdirs(t->dir);
	if (rc < 0)
		return error_set(err, SPATE_EIO, "cannot create '%s': %s", t->dir, strerror(-rc));
	size_t len;
	uint8_t *img = build_image(s, &len);
	if (!img)
		return error_set(err, SPATE_ENOMEM,
		                 "cannot allocate %zu bytes to write a snapshot of the keyed state",
		                 s->len);
	char *rel = xasprintf("%s.state", t->name);
	char *path = checkpoint_path_join(t->dir, rel);
	rc = checkpoint_write_file(path, img, len, err);
	if (rc == 0) {
		snprintf(out->backend, sizeof out->backend, "hashmap");
		out->key_group_first = s->key_group_first;
		out->key_group_last = s->key_group_last;
		keyed_state_handle_add_file(out, rel, (int64_t)len, XXH64(img, len, 0));
		out->state_size = (int64_t)len;
		out->incremental_size = (int64_t)len;
		/* The records may be large and are not needed again. */
		xfree(s->recs);
		s->recs = NULL;
		s->written = true;
	}
	xfree(img);
	xfree(path);
	xfree(rel);
	return rc;
}

static void heap_snapshot_free(struct keyed_snapshot *base)
{
	struct heap_snapshot *s = (struct heap_snapshot *)base;
	xfree(s->recs);
	xfree(s);
}

/* ---- the snapshot file: decoding -------------------------------------------------------- */

struct heap_group {
	int key_group;
	uint64_t off, len;
};

struct heap_index {
	int key_group_first, key_group_last;
	uint32_t ngroups;
	struct heap_group *groups; /* owned */
};

static int corrupt(struct spate_error *err, const char *what, const char *detail)
{
	return error_set(err, SPATE_ECORRUPT, "state file '%s' is corrupt: %s", what, detail);
}

/* Decodes the header (HEAP_HEADER_BYTES at hdr) of a file of file_len bytes; on success
 * *index_len is the size of the index that follows it. */
static int decode_header(const uint8_t *hdr, uint64_t file_len, const char *what,
                         struct heap_index *ix, size_t *index_len, struct spate_error *err)
{
	if (file_len < HEAP_HEADER_BYTES || memcmp(hdr, HEAP_MAGIC, 4) != 0)
		return corrupt(err, what, "not a hashmap state file");
	if (get_le32(hdr + 4) != HEAP_VERSION)
		return error_set(err, SPATE_ECORRUPT,
		                 "state file '%s' has format version %u, this build reads %u", what,
		                 get_le32(hdr + 4), HEAP_VERSION);
	uint32_t first = get_le32(hdr + 8), last = get_le32(hdr + 12);
	ix->ngroups = get_le32(hdr + 16);
	if (first > last || last >= 32768)
		return corrupt(err, what, "bad key-group range");
	ix->key_group_first = (int)first;
	ix->key_group_last = (int)last;
	if (ix->ngroups > last - first + 1 ||
	    (uint64_t)ix->ngroups * HEAP_INDEX_BYTES > file_len - HEAP_HEADER_BYTES)
		return corrupt(err, what, "bad key-group index size");
	*index_len = (size_t)ix->ngroups * HEAP_INDEX_BYTES;
	return 0;
}

static int decode_index(const uint8_t *p, uint64_t file_len, const char *what,
                        struct heap_index *ix, struct spate_error *err)
{
	ix->groups = xcalloc(ix->ngroups ? ix->ngroups : 1, sizeof *ix->groups);
	uint64_t expect = HEAP_HEADER_BYTES + (uint64_t)ix->ngroups * HEAP_INDEX_BYTES;
	for (uint32_t i = 0; i < ix->ngroups; i++, p += HEAP_INDEX_BYTES) {
		struct heap_group *g = &ix->groups[i];
		uint32_t kg = get_le32(p);
		g->off = get_le64(p + 4);
		g->len = get_le64(p + 12);
		if (kg < (uint32_t)ix->key_group_first || kg > (uint32_t)ix->key_group_last ||
		    (i > 0 && (int)kg <= ix->groups[i - 1].key_group))
			return corrupt(err, what, "key-group index out of order");
		g->key_group = (int)kg;
		if (g->off != expect || g->len > file_len - g->off)
			return corrupt(err, what, "key-group index points outside the file");
		expect = g->off + g->len;
	}
	if (expect != file_len)
		return corrupt(err, what, "trailing bytes after the last key group");
	return 0;
}

/* Calls fn for each entry of group g, whose bytes are at p. */
static int decode_group(const uint8_t *p, const struct heap_group *g, const char *what,
                        state_entry_fn fn, void *arg, struct spate_error *err)
{
	uint64_t left = g->len;
	while (left) {
		if (left < HEAP_ENTRY_BYTES)
			return corrupt(err, what, "truncated entry");
		struct state_entry e = {.key_group = g->key_group};
		int kind = p[0];
		e.state_id = get_le32(p + 1);
		uint64_t klen = get_le32(p + 5), uklen = get_le32(p + 9), vlen = get_le32(p + 13);
		if (kind != HEAP_KIND_VALUE && kind != HEAP_KIND_MAP)
			return corrupt(err, what, "unknown entry kind");
		if (kind == HEAP_KIND_VALUE && uklen)
			return corrupt(err, what, "value entry with a user key");
		if (klen + uklen + vlen > left - HEAP_ENTRY_BYTES)
			return corrupt(err, what, "entry longer than its key group");
		p += HEAP_ENTRY_BYTES;
		e.key = p;
		e.key_len = (size_t)klen;
		e.is_map = kind == HEAP_KIND_MAP;
		e.uk = e.is_map ? p + klen : NULL;
		e.uk_len = (size_t)uklen;
		e.val = p + klen + uklen;
		e.val_len = (size_t)vlen;
		int rc = fn(arg, &e);
		if (rc < 0)
			return error_set(err, rc, "cannot restore an entry of state file '%s': %s",
			                 what, spate_strerror(rc));
		p += klen + uklen + vlen;
		left -= HEAP_ENTRY_BYTES + klen + uklen + vlen;
	}
	return 0;
}

/* The index entries [*lo, *hi) whose key groups lie in [first, last]. */
static void groups_in_range(const struct heap_index *ix, int first, int last, uint32_t *lo,
                            uint32_t *hi)
{
	uint32_t i = 0;
	while (i < ix->ngroups && ix->groups[i].key_group < first)
		i++;
	*lo = i;
	while (i < ix->ngroups && ix->groups[i].key_group <= last)
		i++;
	*hi = i;
}

int heap_snapshot_decode(const void *data, size_t len, const char *what, int kg_first, int kg_last,
                         state_entry_fn fn, void *arg, struct spate_error *err)
{
	const uint8_t *d = data;
	struct heap_index ix = {0};
	size_t index_len;
	int rc = decode_header(d, len, what, &ix, &index_len, err);
	if (rc == 0)
		rc = decode_index(d + HEAP_HEADER_BYTES, len, what, &ix, err);
	uint32_t lo = 0, hi = 0;
	if (rc == 0)
		groups_in_range(&ix, kg_first, kg_last, &lo, &hi);
	for (uint32_t i = lo; rc == 0 && i < hi; i++)
		rc = decode_group(d + ix.groups[i].off, &ix.groups[i], what, fn, arg, err);
	xfree(ix.groups);
	return rc;
}

static int pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;
	while (len) {
		ssize_t r = pread(fd, p, len, (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -EIO; /* shorter than its index says: it changed under us */
		p += r;
		len -= (size_t)r;
		off += (uint64_t)r;
	}
	return 0;
}

int heap_snapshot_file_load(const char *path, int kg_first, int kg_last, state_entry_fn fn,
                            void *arg, struct spate_error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return error_set(err, errno == ENOENT ? SPATE_ENOENT : SPATE_EIO,
		                 "cannot open state file '%s': %s", path, strerror(errno));
	struct heap_index ix = {0};
	uint8_t hdr[HEAP_HEADER_BYTES];
	uint8_t *buf = NULL;
	size_t index_len;
	struct stat st;
	int rc = 0;
	if (fstat(fd, &st) != 0) {
		rc = error_set(err, SPATE_EIO, "cannot stat state file '%s': %s", path,
		               strerror(errno));
		goto out;
	}
	uint64_t file_len = (uint64_t)st.st_size;
	if (file_len < HEAP_HEADER_BYTES) {
		rc = corrupt(err, path, "shorter than its header");
		goto out;
	}
	if ((rc = pread_full(fd, hdr, sizeof hdr, 0)) < 0)
		goto io_error;
	if ((rc = decode_header(hdr, file_len, path, &ix, &index_len, err)) < 0)
		goto out;
	buf = xmalloc(index_len ? index_len : 1);
	if ((rc = pread_full(fd, buf, index_len, HEAP_HEADER_BYTES)) < 0)
		goto io_error;
	if ((rc = decode_index(buf, file_len, path, &ix, err)) < 0)
		goto out;
	xfree(buf);
	buf = NULL;
	uint32_t lo, hi;
	groups_in_range(&ix, kg_first, kg_last, &lo, &hi);
	if (lo == hi)
		goto out;
	/* The groups wanted are contiguous in the file: one read. */
	uint64_t start = ix.groups[lo].off;
	uint64_t span = ix.groups[hi - 1].off + ix.groups[hi - 1].len - start;
	buf = try_malloc(span ? (size_t)span : 1);
	if (!buf) {
		rc = error_set(err, SPATE_ENOMEM, "cannot allocate %llu bytes to restore '%s'",
		               (unsigned long long)span, path);
		goto out;
	}
	if ((rc = pread_full(fd, buf, (size_t)span, start)) < 0)
		goto io_error;
	for (uint32_t i = lo; rc == 0 && i < hi; i++)
		rc = decode_group(buf + (ix.groups[i].off - start), &ix.groups[i], path, fn, arg,
		                  err);
	goto out;
io_error:
	rc = error_set(err, SPATE_EIO, "cannot read state file '%s': %s", path, strerror(-rc));
out:
	xfree(buf);
	xfree(ix.groups);
	close(fd);
	return rc;
}

/* ---- restore ------------------------------------------------------------------------------ */

bool state_handle_overlaps(const struct keyed_state_backend *be, const struct keyed_state_handle *h)
{
	return h->key_group_first <= be->key_group_last && h->key_group_last >= be->key_group_first;
}

int state_restore_check(const struct keyed_state_backend *be, const char *self,
                        const char *base_dir, const struct keyed_state_handle *handles,
                        int nhandles, struct spate_error *err)
{
	for (int i = 0; i < nhandles; i++) {
		const struct keyed_state_handle *h = &handles[i];
		if (strcmp(h->backend, "hashmap") != 0 && strcmp(h->backend, "rocksdb") != 0)
			return error_set(
			    err, SPATE_ECONFIG,
			    "cannot restore state written by the '%s' backend into the "
			    "'%s' backend",
			    h->backend, self);
	}
	for (int i = 0; i < nhandles; i++) {
		if (!state_handle_overlaps(be, &handles[i]))
			continue;
		for (int f = 0; f < handles[i].nfiles; f++) {
			int rc = checkpoint_verify_file(base_dir, &handles[i].files[f], err);
			if (rc < 0)
				return rc;
		}
	}
	return 0;
}

static int heap_restore_entry(void *arg, const struct state_entry *en)
{
	struct keyed_state_backend *be = arg;
	struct state_key k = {.state_id = en->state_id,
	                      .key_group = en->key_group,
	                      .key = en->key,
	                      .key_len = en->key_len};
	if (en->key_len > UINT32_MAX || en->uk_len > UINT32_MAX || en->val_len > UINT32_MAX)
		return SPATE_ERANGE;
	if (en->is_map)
		return heap_map_put(be, &k, en->uk, en->uk_len, en->val, en->val_len);
	return heap_value_put(be, &k, en->val, en->val_len);
}

/* ---- the RocksDB module ------------------------------------------------------------------ */

/*
 * The RocksDB backend is lib/spate-rocksdb.so beside libspate, loaded once, the first time
 * a job creates or restores RocksDB state: an idle daemon does not carry librocksdb (over
 * 8 MB resident with the C++ runtime). The module links against libspate for the engine's
 * own helpers.
 */
static struct {
	pthread_once_t once;
	struct keyed_state_backend *(*backend_new)(int, int, const char *, struct spate_error *);
	int (*handle_load)(const char *, const struct keyed_state_handle *, int, int, const char *,
	                   state_entry_fn, void *, struct spate_error *);
	char error[PATH_MAX + 256]; /* why loading failed */
} rocksdb_module = {.once = PTHREAD_ONCE_INIT};

static void rocksdb_module_load(void)
{
	Dl_info self;
	char path[PATH_MAX];
	if (!dladdr((void *)state_backend_new, &self) || !self.dli_fname) {
		snprintf(rocksdb_module.error, sizeof rocksdb_module.error,
		         "the rocksdb state backend is not available: cannot locate libspate");
		return;
	}
	const char *slash = strrchr(self.dli_fname, '/');
	int dir = slash ? (int)(slash - self.dli_fname) : 1;
	snprintf(path, sizeof path, "%.*s/spate-rocksdb.so", dir, slash ? self.dli_fname : ".");
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		snprintf(rocksdb_module.error, sizeof rocksdb_module.error,
		         "the rocksdb state backend is not available: %s", dlerror());
		return;
	}
	*(void **)&rocksdb_module.backend_new = dlsym(h, "rocksdb_state_backend_new");
	*(void **)&rocksdb_module.handle_load = dlsym(h, "rocksdb_handle_load");
	if (!rocksdb_module.backend_new || !rocksdb_module.handle_load)
		snprintf(rocksdb_module.error, sizeof rocksdb_module.error,
		         "the rocksdb state backend is not available: '%s' lacks its entry points",
		         path);
}

/* 0 when the module is loaded, else SPATE_ELOAD with err set. */
static int rocksdb_module_get(struct spate_error *err)
{
	pthread_once(&rocksdb_module.once, rocksdb_module_load);
	if (rocksdb_module.backend_new && rocksdb_module.handle_load)
		return 0;
	return error_set(err, SPATE_ELOAD, "%s", rocksdb_module.error);
}

static int heap_restore(struct keyed_state_backend *be, const char *base_dir,
                        const struct keyed_state_handle *handles, int nhandles,
                        struct spate_error *err)
{
	int rc = state_restore_check(be, "hashmap", base_dir, handles, nhandles, err);
	if (rc < 0)
		return rc;
	for (int i = 0; i < nhandles; i++) {
		const struct keyed_state_handle *h = &handles[i];
		if (!state_handle_overlaps(be, h))
			continue;
		if (strcmp(h->backend, "rocksdb") == 0) {
			rc = rocksdb_module_get(err);
			if (rc == 0)
				rc = rocksdb_module.handle_load(base_dir, h, be->key_group_first,
				                                be->key_group_last, NULL,
				                                heap_restore_entry, be, err);
			if (rc < 0)
				return rc;
			continue;
		}
		for (int f = 0; f < h->nfiles; f++) {
			char *path = checkpoint_path_join(base_dir, h->files[f].path);
			rc = heap_snapshot_file_load(path, be->key_group_first, be->key_group_last,
			                             heap_restore_entry, be, err);
			xfree(path);
			if (rc < 0)
				return rc;
		}
	}
	return 0;
}

static const struct state_backend_ops heap_ops = {
    .value_get = heap_value_get,
    .value_put = heap_value_put,
    .value_remove = heap_value_remove,
    .value_append = heap_value_append,
    .map_get = heap_map_get,
    .map_put = heap_map_put,
    .map_remove = heap_map_remove,
    .map_iterate = heap_map_iterate,
    .map_size = heap_map_size,
    .prefetch = heap_prefetch,
    .value_get_batch = heap_value_get_batch,
    .entry_count = heap_entry_count,
    .free = heap_free,
    .snapshot = heap_snapshot,
    .restore = heap_restore,
};

struct keyed_state_backend *heap_state_backend_new(int key_group_first, int key_group_last)
{
	struct heap_backend *h = xcalloc(1, sizeof *h);
	h->base.ops = &heap_ops;
	h->base.key_group_first = key_group_first;
	h->base.key_group_last = key_group_last;
	h->base.value_mutable = true;
	table_init(&h->table, 16, 6, &h->base.moves);
	return &h->base;
}

struct keyed_state_backend *state_backend_new(const char *type, int key_group_first,
                                              int key_group_last, const char *local_dir,
                                              struct spate_error *err)
{
	if (!type || strcasecmp(type, "hashmap") == 0)
		return heap_state_backend_new(key_group_first, key_group_last);
	if (strcasecmp(type, "rocksdb") == 0) {
		if (!local_dir || !*local_dir) {
			error_set(err, SPATE_EINVAL,
			          "the rocksdb state backend needs a local directory");
			return NULL;
		}
		if (rocksdb_module_get(err) < 0)
			return NULL;
		return rocksdb_module.backend_new(key_group_first, key_group_last, local_dir, err);
	}
	error_set(err, SPATE_ECONFIG,
	          "unknown state backend '%s' (state.backend.type is hashmap or rocksdb)", type);
	return NULL;
}

int keyed_snapshot_write(struct keyed_snapshot *s, const struct snapshot_target *t,
                         struct keyed_state_handle *out, struct spate_error *err)
{
	return s->write(s, t, out, err);
}

void keyed_snapshot_free(struct keyed_snapshot *s)
{
	if (s)
		s->free(s);
}
