/*
 * keygroup.h - Flink's key-group arithmetic (KeyGroupRangeAssignment) and Java-compatible
 * hash codes, so that a key lands in the same key group and subtask as it would in Flink.
 *
 * Java hashCode of a key field, by type:
 *   int32: the value; int64 and timestamp: (int)(v ^ (v >>> 32)); bool: 1231 / 1237;
 *   double: as Double.hashCode (bits ^ bits >>> 32, with -0.0 and NaN canonical as Java's
 *   doubleToLongBits); string: String.hashCode over the UTF-16 code units of the UTF-8
 *   text (invalid UTF-8 bytes count as one unit each, value = the byte); bytes:
 *   Arrays.hashCode(byte[]) with signed bytes; null: 0.
 * A key of one field hashes as that field; a key of several fields as Flink's Tuple:
 *   h = 0; for each field: h = 31 * h + hash(field).
 */
#ifndef SPATE_TYPES_KEYGROUP_H
#define SPATE_TYPES_KEYGROUP_H

#include <stdint.h>

#include "spate/spate.h"

#define KEY_GROUP_DEFAULT_LOWER_BOUND 128
#define KEY_GROUP_UPPER_BOUND 32768

static inline uint32_t keygroup_rotl32(uint32_t x, int r)
{
	return x << r | x >> (32 - r);
}

/* MathUtils.murmurHash(int): non-negative result (inline, as the two below: they run once
 * per record on both sides of a keyed exchange). */
static inline int32_t murmur_hash_int(int32_t code)
{
	uint32_t h = (uint32_t)code;

	/* One 4-byte block of MurmurHash3 x86_32 with seed 0 ... */
	h *= 0xcc9e2d51u;
	h = keygroup_rotl32(h, 15);
	h *= 0x1b873593u;
	h = keygroup_rotl32(h, 13);
	h = h * 5 + 0xe6546b64u;
	/* ... the length, then the fmix32 finalizer. */
	h ^= 4;
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	/* Flink makes it non-negative; Math.abs(INT_MIN) would stay negative, so that is 0.
	 * Without a branch: the sign is as good as random, and a branch on it mispredicted on
	 * every other record. The mask negates negative values; INT_MIN negates to itself,
	 * and the top bit cleared makes it 0. */
	uint32_t neg = 0u - (h >> 31);
	return (int32_t)(((h ^ neg) - neg) & 0x7fffffffu);
}

/* computeDefaultMaxParallelism(p) for 0 < p <= 32768. */
int key_group_default_max_parallelism(int parallelism);
/* murmur(hash) % max_parallelism (a mask for the usual power of two: no division per
 * record) */
static inline int key_group_for_hash(int32_t hash, int max_parallelism)
{
	if (max_parallelism <= 0)
		return 0;
	int32_t m = murmur_hash_int(hash); /* non-negative */
	if ((max_parallelism & (max_parallelism - 1)) == 0)
		return m & (max_parallelism - 1);
	return m % max_parallelism;
}

/* kg * parallelism / max_parallelism (a shift for a power of two) */
static inline int key_group_operator_index(int max_parallelism, int parallelism, int key_group)
{
	if (max_parallelism <= 0)
		return 0;
	int64_t x = (int64_t)key_group * parallelism;
	if ((max_parallelism & (max_parallelism - 1)) == 0)
		return (int)(x >> __builtin_ctz((unsigned)max_parallelism));
	return (int)(x / max_parallelism);
}

/* [first, last] key groups of subtask `index` */
void key_group_range(int max_parallelism, int parallelism, int index, int *first, int *last);

int32_t java_hash_string(const char *s, size_t len);
int32_t java_hash_bytes(const void *p, size_t len);
static inline int32_t java_hash_i64(int64_t v)
{
	uint64_t u = (uint64_t)v;
	return (int32_t)(uint32_t)(u ^ (u >> 32));
}
int32_t java_hash_double(double v);
/* Hash of field i of the row by its type, as above. */
int32_t key_hash_field(const spate_row *row, int i);
/* Hash of fields idx[0..n-1] of the row: the field's hash if n == 1, else Tuple-style. */
int32_t key_hash_fields(const spate_row *row, const int *idx, int n);
/* Hash of all fields of a key row (as key_hash_fields over every field). */
int32_t key_hash_row(const spate_row *key);

#endif
