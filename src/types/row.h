/*
 * row.h - schemas and the binary row format.
 *
 * A row is one contiguous, 8-byte aligned block that operators read in place:
 *
 *   offset 0   u32  size        total bytes of the row, a multiple of 8
 *   offset 4   u16  nfields
 *   offset 6   u16  reserved    0
 *   offset 8   u8   tags[nfields], padded with zeros to a multiple of 8 bytes;
 *                   tag = spate_type in the low 4 bits, ROW_TAG_NULL (0x80) if null
 *   then       u64  slots[nfields]:
 *                   bool/int32/int64/timestamp: the value (sign-extended to 64 bits)
 *                   double: its bits
 *                   string/bytes: u32 offset from the row start, u32 length
 *   then       variable data: each string/bytes value, a NUL after each, padded to 8
 *
 * Invariants of a valid row (row_validate): size >= the fixed part, size % 8 == 0, every
 * tag's type is 1..7, every variable value lies within [fixed part, size) and is followed
 * by a NUL inside the row. Values are in host byte order (little-endian on supported hosts).
 *
 * Rows are self-describing (the tags), so printing, hashing and validation need no schema;
 * a schema is still attached to every stream so that the graph can check field names.
 */
#ifndef SPATE_TYPES_ROW_H
#define SPATE_TYPES_ROW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/error.h"
#include "spate/spate.h"

#define ROW_TAG_NULL 0x80
#define ROW_TAG_TYPE 0x0f
#define ROW_MAX_FIELDS 1024
#define ROW_HEADER_BYTES 8

struct schema_field {
	char *name; /* owned */
	spate_type type;
};

struct schema {
	int nfields;
	struct schema_field *fields; /* owned, nfields entries */
	char *text;                  /* owned, canonical "name:type,..." */
};

/*
 * Parses "name:type,..." (spaces around tokens allowed; type names: bool, int32, int,
 * int64, long, bigint, double, string, bytes, timestamp; case-insensitive). Returns a new
 * schema (free with schema_free) or NULL with `err` filled, e.g.
 * "bad schema 'a:strnig': unknown type 'strnig'".
 */
struct schema *schema_parse(const char *text, struct spate_error *err);
struct schema *schema_clone(const struct schema *s);
void schema_free(struct schema *s);
/* Index of the field called `name`, or -1. */
int schema_field_index(const struct schema *s, const char *name);
const char *type_name(spate_type t); /* "string", ...; "?" if unknown */

/* The fixed part's size for n fields: header + tags (padded) + slots. */
static inline size_t row_fixed_size(int nfields)
{
	return ROW_HEADER_BYTES + (((size_t)nfields + 7) & ~(size_t)7) + 8 * (size_t)nfields;
}

static inline uint32_t row_size_of(const void *row)
{
	return *(const uint32_t *)row;
}

/*
 * Checks that `len` bytes at `p` hold exactly one valid row (see the invariants above).
 * Never reads outside [p, p+len). Returns 0 or SPATE_ECORRUPT. `p` must be 8-byte aligned.
 */
int row_validate(const void *p, size_t len);

/*
 * The row builder. It owns a growable scratch area where one row at a time is assembled.
 * row_builder_begin() resets it for a new row with all fields null; setters fill fields;
 * row_builder_finish() lays out the variable data and returns the finished row, valid until
 * the next begin. Type mismatches against the schema are recorded and reported by finish.
 */
struct spate_row_builder {
	/* The first five members are spate.h's struct spate_row_builder_head, in that order
	 * (the inline setters of the public API use them; row.c checks the offsets). */
	uint8_t *buf;                /* owned scratch; the row is built at buf */
	uint8_t *fixed_template;     /* owned: the fixed part of an all-null row, copied by begin */
	size_t slots_off;            /* byte offset of the slots (after header and tags) */
	int nfields;                 /* schema->nfields, kept here for the per-field setters */
	uint8_t *view_tags;          /* owned: see spate.h's head; NULL unless all 64-bit */
	bool fixed_width;            /* no string or bytes field: every row is fixed_size */
	int bad_field;               /* first field set with the wrong type or index, or -1 */
	const struct schema *schema; /* borrowed */
	size_t cap;                  /* bytes allocated at buf */
	size_t var_used;             /* bytes of variable data so far (after the fixed part) */
	size_t fixed_size;           /* bytes of the fixed part */
	spate_type bad_type;         /* the type that was attempted */
};

void row_builder_init(struct spate_row_builder *b, const struct schema *schema);
void row_builder_release(struct spate_row_builder *b);
/* memcpy(dst, src, n) of whole 8-aligned words, unrolled for rows of up to 8 words. Also
 * for a row some of whose words were just stored (an accumulator): a 16-byte load over an
 * 8-byte store still in flight cannot take the stored value directly and waits for it to
 * reach the cache. */
static inline void row_copy_words(uint8_t *dst, const uint8_t *src, size_t n)
{
	uint64_t *d = (uint64_t *)(void *)dst;
	const uint64_t *s = (const uint64_t *)(const void *)src;
	switch (n / 8) {
	case 8:
		d[7] = s[7];
		/* fall through */
	case 7:
		d[6] = s[6];
		/* fall through */
	case 6:
		d[5] = s[5];
		/* fall through */
	case 5:
		d[4] = s[4];
		/* fall through */
	case 4:
		d[3] = s[3];
		/* fall through */
	case 3:
		d[2] = s[2];
		/* fall through */
	case 2:
		d[1] = s[1];
		/* fall through */
	case 1:
		d[0] = s[0];
		/* fall through */
	case 0:
		break;
	default:
		memcpy(dst, src, n);
	}
}

/* Starts a new row with every field null (inline: it runs once per output row). */
static inline void row_builder_begin(struct spate_row_builder *b)
{
	/* One copy of the precomputed all-null fixed part (header, tags, zero slots) instead of
	 * laying it out field by field; fixed_size is a multiple of 8 and both areas are 8-byte
	 * aligned. The stores could alias *b, so everything is read from b first. */
	uint8_t *dst = b->buf;
	const uint8_t *src = b->fixed_template;
	size_t size = b->fixed_size;
	b->var_used = 0;
	b->bad_field = -1;
	b->bad_type = 0;
	row_copy_words(dst, src, size);
}
/*
 * Finishes the row. Returns the row (borrowed from b) or NULL with `err` filled, e.g.
 * "field 1 ('count') is int64 but was set as string".
 */
const spate_row *row_builder_finish(struct spate_row_builder *b, struct spate_error *err);

/*
 * The per-record form of row_builder_finish: the finished row, or NULL if a setter failed
 * (then row_builder_finish says why). It needs no error struct, whose 1 KiB message buffer
 * would otherwise be cleared for every row.
 */
static inline const spate_row *row_builder_done(struct spate_row_builder *b)
{
	uint32_t size = (uint32_t)(b->fixed_size + b->var_used);

	if (b->bad_field != -1)
		return NULL;
	memcpy(b->buf, &size, sizeof size);
	return (const spate_row *)b->buf;
}

/*
 * The same two for a fixed-width row (no string or bytes field, so no variable data) built
 * in place at `at`, fixed_size bytes of the caller's (a batch's slot). The template's header
 * already holds the row's size, so done only checks the setters.
 */
/* memcpy(dst, src, n) for the sizes of most rows, 16 to 64 bytes, in two or four
 * (overlapping) 16-byte moves instead of a library call; the areas must not overlap. */
static inline void row_copy_small(uint8_t *dst, const uint8_t *src, size_t n)
{
	unsigned __int128 w0, w1, w2, w3;
	if (n < 16 || n > 64) {
		memcpy(dst, src, n);
		return;
	}
	memcpy(&w0, src, 16);
	memcpy(&w1, src + n - 16, 16);
	if (n > 32) {
		memcpy(&w2, src + 16, 16);
		memcpy(&w3, src + n - 32, 16);
		memcpy(dst + 16, &w2, 16);
		memcpy(dst + n - 32, &w3, 16);
	}
	memcpy(dst, &w0, 16);
	memcpy(dst + n - 16, &w1, 16);
}

static inline void row_builder_begin_fixed(struct spate_row_builder *b, uint8_t *at)
{
	const uint8_t *src = b->fixed_template;
	size_t n = b->fixed_size;
	b->buf = at;
	b->bad_field = -1;
	row_copy_small(at, src, n);
}

static inline const spate_row *row_builder_done_fixed(const struct spate_row_builder *b)
{
	return b->bad_field == -1 ? (const spate_row *)b->buf : NULL;
}

/* Hash of a row's fields as Flink's key hashCode (see keygroup.h: key_hash_row). */

#endif
