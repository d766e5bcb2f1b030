/*
 * bench_map.h - the open-addressing hash maps the baselines use (and the Spate jobs' checking
 * sinks, in their correctness runs only).
 *
 * u64map: u64 key -> i64 value, linear probing, power-of-two capacity kept at most half
 * full; UINT64_MAX is reserved as the empty marker. strmap: byte string -> i64 count, the
 * strings copied into one growing arena, the hash kept next to each slot so that probing
 * compares strings only on a hash match. Both abort on out-of-memory: a benchmark has no
 * way to recover from it.
 */
#ifndef BENCH_MAP_H
#define BENCH_MAP_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BENCH_MAP_EMPTY UINT64_MAX

static inline void *bench_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (!p) {
		fprintf(stderr, "bench: out of memory allocating %zu x %zu bytes\n", n, size);
		abort();
	}
	return p;
}

static inline void *bench_xrealloc(void *old, size_t size)
{
	void *p = realloc(old, size ? size : 1);

	if (!p) {
		fprintf(stderr, "bench: out of memory allocating %zu bytes\n", size);
		abort();
	}
	return p;
}

/* Fibonacci hashing of a 64-bit key; the top bits index a table of 2^bits slots. */
static inline uint64_t bench_hash_u64(uint64_t key)
{
	return (key ^ (key >> 29)) * 0x9E3779B97F4A7C15ull;
}

struct u64map_slot {
	uint64_t key;
	int64_t value;
};

struct u64map {
	struct u64map_slot *slots; /* owned, cap entries */
	size_t cap;                /* a power of two */
	size_t count;              /* used slots */
	int shift;                 /* 64 - log2(cap) */
};

static inline void u64map_alloc(struct u64map *m, size_t cap)
{
	m->slots = bench_xcalloc(cap, sizeof(*m->slots));
	for (size_t i = 0; i < cap; i++)
		m->slots[i].key = BENCH_MAP_EMPTY;
	m->cap = cap;
	m->count = 0;
	m->shift = 64;
	for (size_t c = cap; c > 1; c >>= 1)
		m->shift--;
}

/* Sizes the table for `expected` keys up front (it still grows past that). */
static inline void u64map_init(struct u64map *m, size_t expected)
{
	size_t cap = 16;

	while (cap < 2 * expected)
		cap <<= 1;
	u64map_alloc(m, cap);
}

static inline void u64map_release(struct u64map *m)
{
	free(m->slots);
	m->slots = NULL;
	m->cap = m->count = 0;
}

static inline void u64map_grow(struct u64map *m)
{
	struct u64map old = *m;

	u64map_alloc(m, old.cap * 2);
	for (size_t i = 0; i < old.cap; i++) {
		if (old.slots[i].key == BENCH_MAP_EMPTY)
			continue;
		size_t j = (size_t)(bench_hash_u64(old.slots[i].key) >> m->shift);
		while (m->slots[j].key != BENCH_MAP_EMPTY)
			j = (j + 1) & (m->cap - 1);
		m->slots[j] = old.slots[i];
	}
	m->count = old.count;
	free(old.slots);
}

/* The value slot of `key`, inserted with value 0 if absent. key must not be UINT64_MAX. */
static inline int64_t *u64map_upsert(struct u64map *m, uint64_t key)
{
	size_t j = (size_t)(bench_hash_u64(key) >> m->shift);

	for (;;) {
		struct u64map_slot *s = &m->slots[j];
		if (s->key == key)
			return &s->value;
		if (s->key == BENCH_MAP_EMPTY)
			break;
		j = (j + 1) & (m->cap - 1);
	}
	if (2 * (m->count + 1) > m->cap) {
		u64map_grow(m);
		return u64map_upsert(m, key);
	}
	m->slots[j].key = key;
	m->slots[j].value = 0;
	m->count++;
	return &m->slots[j].value;
}

/* The value slot of `key`, or NULL. */
static inline int64_t *u64map_find(const struct u64map *m, uint64_t key)
{
	size_t j = (size_t)(bench_hash_u64(key) >> m->shift);

	for (;;) {
		struct u64map_slot *s = &m->slots[j];
		if (s->key == key)
			return &s->value;
		if (s->key == BENCH_MAP_EMPTY)
			return NULL;
		j = (j + 1) & (m->cap - 1);
	}
}

/* FNV-1a over bytes, finished with the splitmix64 mixer so the top bits are usable. */
static inline uint64_t bench_hash_bytes(const char *p, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)p[i]) * 0x100000001b3ull;
	h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
	h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
	return h ^ (h >> 31);
}

struct strmap_slot {
	uint64_t hash; /* 0 marks an empty slot (a real hash of 0 is stored as 1) */
	uint32_t off;  /* offset of the string in the arena */
	uint32_t len;  /* bytes, no NUL */
	int64_t value;
};

struct strmap {
	struct strmap_slot *slots; /* owned, cap entries */
	size_t cap;                /* a power of two */
	size_t count;
	int shift;
	char *arena;      /* owned: the keys, back to back */
	size_t arena_len; /* bytes used */
	size_t arena_cap; /* bytes allocated */
};

static inline void strmap_alloc(struct strmap *m, size_t cap)
{
	m->slots = bench_xcalloc(cap, sizeof(*m->slots));
	m->cap = cap;
	m->count = 0;
	m->shift = 64;
	for (size_t c = cap; c > 1; c >>= 1)
		m->shift--;
}

static inline void strmap_init(struct strmap *m, size_t expected)
{
	size_t cap = 16;

	while (cap < 2 * expected)
		cap <<= 1;
	strmap_alloc(m, cap);
	m->arena_cap = 1 << 16;
	m->arena = bench_xcalloc(m->arena_cap, 1);
	m->arena_len = 0;
}

static inline void strmap_release(struct strmap *m)
{
	free(m->slots);
	free(m->arena);
	memset(m, 0, sizeof(*m));
}

static inline void strmap_grow(struct strmap *m)
{
	struct strmap_slot *old = m->slots;
	size_t old_cap = m->cap, count = m->count;

	strmap_alloc(m, old_cap * 2);
	for (size_t i = 0; i < old_cap; i++) {
		if (!old[i].hash)
			continue;
		size_t j = (size_t)(old[i].hash >> m->shift);
		while (m->slots[j].hash)
			j = (j + 1) & (m->cap - 1);
		m->slots[j] = old[i];
	}
	m->count = count;
	free(old);
}

/* The value slot of the string, inserted with value 0 if absent. */
static inline int64_t *strmap_upsert(struct strmap *m, const char *s, size_t len)
{
	uint64_t h = bench_hash_bytes(s, len);
	size_t j;

	if (!h)
		h = 1;
	j = (size_t)(h >> m->shift);
	for (;;) {
		struct strmap_slot *slot = &m->slots[j];
		if (!slot->hash)
			break;
		if (slot->hash == h && slot->len == len && !memcmp(m->arena + slot->off, s, len))
			return &slot->value;
		j = (j + 1) & (m->cap - 1);
	}
	if (2 * (m->count + 1) > m->cap) {
		strmap_grow(m);
		return strmap_upsert(m, s, len);
	}
	if (m->arena_len + len > m->arena_cap) {
		while (m->arena_len + len > m->arena_cap)
			m->arena_cap *= 2;
		m->arena = bench_xrealloc(m->arena, m->arena_cap);
	}
	memcpy(m->arena + m->arena_len, s, len);
	m->slots[j].hash = h;
	m->slots[j].off = (uint32_t)m->arena_len;
	m->slots[j].len = (uint32_t)len;
	m->slots[j].value = 0;
	m->arena_len += len;
	m->count++;
	return &m->slots[j].value;
}

/*
 * Writes "word count" lines, one per entry, in table order (the harness sorts). Returns 0 or
 * -1 with errno set.
 */
static inline int strmap_write(const struct strmap *m, const char *path)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -1;
	for (size_t i = 0; i < m->cap; i++) {
		const struct strmap_slot *s = &m->slots[i];
		if (s->hash)
			fprintf(f, "%.*s %lld\n", (int)s->len, m->arena + s->off,
			        (long long)s->value);
	}
	return fclose(f) ? -1 : 0;
}

#endif /* BENCH_MAP_H */
