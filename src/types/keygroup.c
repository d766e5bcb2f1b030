/*
 * keygroup.c - Flink's key-group arithmetic and Java-compatible hash codes (see keygroup.h).
 *
 * The point of matching Flink bit for bit is that a key lands in the same key group, and
 * so the same subtask, as it would in Flink: users who compare outputs or reason about skew
 * get the same answer, and state can later be redistributed by key-group range on rescale.
 *
 * Java's int arithmetic wraps; C's signed arithmetic must not overflow, so every hash is
 * computed on uint32_t and converted back to int32_t only at the end.
 */
#include "types/keygroup.h"

#include <string.h>

static uint32_t round_up_to_power_of_two(uint32_t x)
{
	x = x - 1;
	x |= x >> 1;
	x |= x >> 2;
	x |= x >> 4;
	x |= x >> 8;
	x |= x >> 16;
	return x + 1;
}

int key_group_default_max_parallelism(int parallelism)
{
	/* Outside (0, 32768] Flink throws; clamping keeps callers' arithmetic defined. */
	if (parallelism < 1)
		parallelism = 1;
	if (parallelism > KEY_GROUP_UPPER_BOUND)
		parallelism = KEY_GROUP_UPPER_BOUND;
	uint32_t p = (uint32_t)parallelism;
	uint32_t m = round_up_to_power_of_two(p + p / 2);
	if (m < KEY_GROUP_DEFAULT_LOWER_BOUND)
		m = KEY_GROUP_DEFAULT_LOWER_BOUND;
	if (m > KEY_GROUP_UPPER_BOUND)
		m = KEY_GROUP_UPPER_BOUND;
	return (int)m;
}

void key_group_range(int max_parallelism, int parallelism, int index, int *first, int *last)
{
	int64_t maxp = max_parallelism, p = parallelism > 0 ? parallelism : 1, i = index;
	*first = (int)((i * maxp + p - 1) / p);
	*last = (int)(((i + 1) * maxp - 1) / p);
}

/*
 * Decodes one well-formed UTF-8 sequence at s (n bytes available) into a code point.
 * Returns its length, or 0 if the bytes there are not a well-formed sequence (overlong
 * forms, encoded surrogates and values above U+10FFFF are not).
 */
static size_t utf8_decode(const uint8_t *s, size_t n, uint32_t *cp)
{
	uint32_t c = s[0];
	size_t len;
	uint32_t min;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		c &= 0x1f;
		min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		c &= 0x0f;
		min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		c &= 0x07;
		min = 0x10000;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t k = 1; k < len; k++) {
		if ((s[k] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[k] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

int32_t java_hash_string(const char *s, size_t len)
{
	const uint8_t *p = (const uint8_t *)s;
	uint32_t h = 0;
	size_t i = 0;

	/* Four ASCII bytes at a time (each is one code unit): h * 31^4 + c0 * 31^3 + ... */
	while (i + 4 <= len) {
		uint32_t w;
		memcpy(&w, p + i, sizeof w);
		if (w & 0x80808080u)
			break;
		h = h * 923521u + p[i] * 29791u + p[i + 1] * 961u + p[i + 2] * 31u + p[i + 3];
		i += 4;
	}
	while (i < len) {
		uint32_t cp;
		if (p[i] < 0x80) { /* ASCII, one code unit: most keys are all ASCII */
			h = 31 * h + p[i++];
			continue;
		}
		size_t n = utf8_decode(p + i, len - i, &cp);
		if (n == 0) {
			/* Not UTF-8: the byte counts as one code unit of its own value. */
			h = 31 * h + p[i];
			i++;
			continue;
		}
		i += n;
		if (cp >= 0x10000) {
			/* Java strings hold UTF-16: a supplementary character is a surrogate pair.
			 */
			cp -= 0x10000;
			h = 31 * h + (0xd800 + (cp >> 10));
			h = 31 * h + (0xdc00 + (cp & 0x3ff));
		} else {
			h = 31 * h + cp;
		}
	}
	return (int32_t)h;
}

int32_t java_hash_bytes(const void *p, size_t len)
{
	const int8_t *b = p;
	uint32_t h = 1;
	for (size_t i = 0; i < len; i++)
		h = 31 * h + (uint32_t)(int32_t)b[i];
	return (int32_t)h;
}

/* Double.hashCode hashes doubleToLongBits, which folds every NaN into one bit pattern but
 * keeps the sign of zero: 0.0 and -0.0 hash differently in Java, and so here. */
int32_t java_hash_double(double v)
{
	uint64_t bits;
	if (v != v)
		bits = 0x7ff8000000000000ull;
	else
		memcpy(&bits, &v, sizeof bits);
	return (int32_t)(uint32_t)(bits ^ (bits >> 32));
}

int32_t key_hash_field(const spate_row *row, int i)
{
	size_t len;
	const void *p;

	switch (spate_row_type(row, i)) {
	case SPATE_BOOL:
		if (spate_row_is_null(row, i))
			return 0;
		return spate_row_bool(row, i) ? 1231 : 1237;
	case SPATE_INT32:
		return spate_row_i32(row, i);
	case SPATE_INT64:
	case SPATE_TIMESTAMP:
		return java_hash_i64(spate_row_i64(row, i));
	case SPATE_DOUBLE:
		if (spate_row_is_null(row, i))
			return 0;
		return java_hash_double(spate_row_double(row, i));
	case SPATE_STRING:
		p = spate_row_str(row, i, &len);
		return p ? java_hash_string(p, len) : 0;
	case SPATE_BYTES:
		p = spate_row_bytes(row, i, &len);
		return p ? java_hash_bytes(p, len) : 0;
	}
	return 0;
}

int32_t key_hash_fields(const spate_row *row, const int *idx, int n)
{
	if (n == 1) {
		/* the common keys, one int64 or one string field, without the switch */
		const unsigned char *slot = spate__row_slot(row, idx[0], SPATE_INT64);
		int64_t v;
		if (slot) {
			memcpy(&v, slot, sizeof v);
			return java_hash_i64(v);
		}
		if ((slot = spate__row_slot(row, idx[0], SPATE_STRING))) {
			uint32_t off, len;
			memcpy(&off, slot, sizeof off);
			memcpy(&len, slot + 4, sizeof len);
			return java_hash_string((const char *)row + off, len);
		}
		return key_hash_field(row, idx[0]);
	}
	uint32_t h = 0;
	for (int k = 0; k < n; k++)
		h = 31 * h + (uint32_t)key_hash_field(row, idx[k]);
	return (int32_t)h;
}

int32_t key_hash_row(const spate_row *key)
{
	int n = spate_row_field_count(key);
	if (n == 1)
		return key_hash_field(key, 0);
	uint32_t h = 0;
	for (int k = 0; k < n; k++)
		h = 31 * h + (uint32_t)key_hash_field(key, k);
	return (int32_t)h;
}
