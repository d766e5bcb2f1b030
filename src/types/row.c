/*
 * row.c - schemas, the binary row format, its validator, the row builder and the public
 * row accessors (see row.h for the layout and its invariants).
 *
 * Rows are read in place on every record an operator sees, so the accessors are a bounds
 * check and a load: no allocation, no locks, no schema lookup. They rely on the tags: a
 * field reads as a given type only if its tag is exactly that type (which also means "not
 * null"), so one comparison rejects nulls, wrong types and, together with the index check,
 * out-of-range fields. Wrong reads return 0/false/NULL instead of crashing because user
 * code calls them and a bad read should fail a test, not the TaskManager.
 *
 * Loads and stores go through memcpy so the same bytes can be viewed as u32 pairs and u64
 * slots without breaking strict aliasing; compilers turn them into single moves.
 */
/* This file defines the exported accessors, so it must not see spate.h's inline macros. */
#define SPATE_NO_INLINE_ROWS
#include "types/row.h"

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"

/* Largest encoded row: the size must fit the u32 header and stay a multiple of 8. */
#define ROW_MAX_BYTES ((size_t)UINT32_MAX & ~(size_t)7)

/*
 * Builder error kinds beyond "wrong type" and "index out of range", kept in the builder's
 * bad_field / bad_type pair (whose layout is fixed by row.h): a negative index cannot be
 * stored as itself because -1 means "no error", and the two others are not a type.
 */
#define BAD_FIELD_NEGATIVE (-2)
#define BAD_TYPE_TOO_LARGE ((spate_type)0x20) /* the row would exceed ROW_MAX_BYTES */
#define BAD_TYPE_MISSING ((spate_type)0x21)   /* spate_row_copy: the source lacks the field */

/* ---- loads and stores ---------------------------------------------------------------- */

static inline uint16_t ld16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, sizeof v);
	return v;
}

static inline uint32_t ld32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, sizeof v);
	return v;
}

static inline uint64_t ld64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof v);
	return v;
}

static inline void st16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, sizeof v);
}

static inline void st32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, sizeof v);
}

static inline void st64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, sizeof v);
}

static inline size_t pad8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

/* Byte offset of the slots: header plus the padded tags. */
static inline size_t slots_offset(size_t nfields)
{
	return ROW_HEADER_BYTES + pad8(nfields);
}

static inline const uint8_t *row_bytes(const spate_row *r)
{
	return (const uint8_t *)r;
}

static inline int row_nfields(const uint8_t *p)
{
	return ld16(p + 4);
}

/*
 * The tag of field i, or 0 (which matches no type) if i is out of range, so a caller can
 * test "tag == SPATE_X" to mean "in range, of type X and not null" in one comparison.
 */
static inline uint8_t row_tag(const uint8_t *p, int i)
{
	if (!p || (unsigned)i >= (unsigned)row_nfields(p))
		return 0;
	return p[ROW_HEADER_BYTES + i];
}

static inline uint64_t row_slot(const uint8_t *p, int i)
{
	return ld64(p + slots_offset((size_t)row_nfields(p)) + 8 * (size_t)i);
}

/* ---- schemas -------------------------------------------------------------------------- */

static const struct {
	const char *name;
	spate_type type;
} type_names[] = {
    {"bool", SPATE_BOOL},     {"boolean", SPATE_BOOL},  {"int32", SPATE_INT32},
    {"int", SPATE_INT32},     {"integer", SPATE_INT32}, {"int64", SPATE_INT64},
    {"long", SPATE_INT64},    {"bigint", SPATE_INT64},  {"double", SPATE_DOUBLE},
    {"string", SPATE_STRING}, {"bytes", SPATE_BYTES},   {"timestamp", SPATE_TIMESTAMP},
};

const char *type_name(spate_type t)
{
	switch (t) {
	case SPATE_BOOL:
		return "bool";
	case SPATE_INT32:
		return "int32";
	case SPATE_INT64:
		return "int64";
	case SPATE_DOUBLE:
		return "double";
	case SPATE_STRING:
		return "string";
	case SPATE_BYTES:
		return "bytes";
	case SPATE_TIMESTAMP:
		return "timestamp";
	}
	return "?";
}

static spate_type type_parse(const char *s, size_t len)
{
	for (size_t i = 0; i < sizeof type_names / sizeof type_names[0]; i++)
		if (strlen(type_names[i].name) == len &&
		    strncasecmp(type_names[i].name, s, len) == 0)
			return type_names[i].type;
	return 0;
}

static int is_name_start(int c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static int is_name_char(int c)
{
	return is_name_start(c) || (c >= '0' && c <= '9');
}

static const char *skip_spaces(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

void schema_free(struct schema *s)
{
	if (!s)
		return;
	for (int i = 0; i < s->nfields; i++)
		xfree(s->fields[i].name);
	xfree(s->fields);
	xfree(s->text);
	xfree(s);
}

/* Builds the canonical "name:type,..." text from the fields. */
static char *schema_text(const struct schema *s)
{
	size_t n = 1;
	for (int i = 0; i < s->nfields; i++)
		n += strlen(s->fields[i].name) + 1 + strlen(type_name(s->fields[i].type)) + 1;
	char *text = xmalloc(n);
	size_t pos = 0;
	for (int i = 0; i < s->nfields; i++)
		pos += (size_t)snprintf(text + pos, n - pos, "%s%s:%s", i ? "," : "",
		                        s->fields[i].name, type_name(s->fields[i].type));
	text[pos] = '\0';
	return text;
}

struct schema *schema_parse(const char *text, struct spate_error *err)
{
	struct schema *s = xcalloc(1, sizeof *s);
	int cap = 0;
	const char *p;

	if (!text) {
		error_set(err, SPATE_EINVAL, "bad schema: no schema given");
		goto fail;
	}
	p = skip_spaces(text);
	if (*p == '\0') {
		error_set(err, SPATE_EINVAL, "bad schema '%s': no fields", text);
		goto fail;
	}
	for (;;) {
		const char *name = p, *type;
		size_t name_len, type_len;
		spate_type t;

		if (!is_name_start((unsigned char)*p)) {
			if (*p == ',' || *p == ':' || *p == '\0')
				error_set(err, SPATE_EINVAL,
				          "bad schema '%s': field %d has no name", text,
				          s->nfields + 1);
			else
				error_set(err, SPATE_EINVAL,
				          "bad schema '%s': bad field name starting at '%s'", text,
				          p);
			goto fail;
		}
		while (is_name_char((unsigned char)*p))
			p++;
		name_len = (size_t)(p - name);
		p = skip_spaces(p);
		if (*p != ':') {
			error_set(err, SPATE_EINVAL, "bad schema '%s': expected ':' after '%.*s'",
			          text, (int)name_len, name);
			goto fail;
		}
		p = skip_spaces(p + 1);
		type = p;
		while (isalnum((unsigned char)*p))
			p++;
		type_len = (size_t)(p - type);
		if (type_len == 0) {
			error_set(err, SPATE_EINVAL, "bad schema '%s': field '%.*s' has no type",
			          text, (int)name_len, name);
			goto fail;
		}
		t = type_parse(type, type_len);
		if (!t) {
			error_set(err, SPATE_EINVAL, "bad schema '%s': unknown type '%.*s'", text,
			          (int)type_len, type);
			goto fail;
		}
		for (int i = 0; i < s->nfields; i++) {
			if (strlen(s->fields[i].name) == name_len &&
			    memcmp(s->fields[i].name, name, name_len) == 0) {
				error_set(err, SPATE_EINVAL,
				          "bad schema '%s': duplicate field '%.*s'", text,
				          (int)name_len, name);
				goto fail;
			}
		}
		if (s->nfields == ROW_MAX_FIELDS) {
			error_set(err, SPATE_EINVAL, "bad schema '%.64s...': more than %d fields",
			          text, ROW_MAX_FIELDS);
			goto fail;
		}
		if (s->nfields == cap) {
			cap = cap ? 2 * cap : 4;
			s->fields = xrealloc(s->fields, (size_t)cap * sizeof *s->fields);
		}
		s->fields[s->nfields].name = xstrndup(name, name_len);
		s->fields[s->nfields].type = t;
		s->nfields++;

		p = skip_spaces(p);
		if (*p == '\0')
			break;
		if (*p != ',') {
			error_set(err, SPATE_EINVAL,
			          "bad schema '%s': unexpected '%c' after field '%.*s'", text, *p,
			          (int)name_len, name);
			goto fail;
		}
		p = skip_spaces(p + 1);
	}
	s->text = schema_text(s);
	return s;
fail:
	schema_free(s);
	return NULL;
}

struct schema *schema_clone(const struct schema *s)
{
	if (!s)
		return NULL;
	struct schema *c = xcalloc(1, sizeof *c);
	c->nfields = s->nfields;
	c->fields = xcalloc((size_t)(s->nfields ? s->nfields : 1), sizeof *c->fields);
	for (int i = 0; i < s->nfields; i++) {
		c->fields[i].name = xstrdup(s->fields[i].name);
		c->fields[i].type = s->fields[i].type;
	}
	c->text = xstrdup(s->text);
	return c;
}

int schema_field_index(const struct schema *s, const char *name)
{
	if (!s || !name)
		return -1;
	for (int i = 0; i < s->nfields; i++)
		if (strcmp(s->fields[i].name, name) == 0)
			return i;
	return -1;
}

/* ---- validation ----------------------------------------------------------------------- */

/*
 * Besides the invariants listed in row.h this also insists on the zero bytes the builder
 * writes (reserved header field, tag padding, unused tag bits): they cost nothing to check
 * and catch corruption that would otherwise go unnoticed.
 */
int row_validate(const void *p, size_t len)
{
	const uint8_t *b = p;
	size_t size, nf, fixed, slots;

	if (!b || len < ROW_HEADER_BYTES || len % 8 != 0)
		return SPATE_ECORRUPT;
	size = ld32(b);
	if (size != len)
		return SPATE_ECORRUPT;
	nf = ld16(b + 4);
	if (ld16(b + 6) != 0 || nf > ROW_MAX_FIELDS)
		return SPATE_ECORRUPT;
	fixed = row_fixed_size((int)nf);
	if (size < fixed)
		return SPATE_ECORRUPT;
	for (size_t i = nf; i < pad8(nf); i++)
		if (b[ROW_HEADER_BYTES + i] != 0)
			return SPATE_ECORRUPT;
	slots = slots_offset(nf);
	for (size_t i = 0; i < nf; i++) {
		uint8_t tag = b[ROW_HEADER_BYTES + i];
		uint8_t type = tag & ROW_TAG_TYPE;
		if ((tag & ~(ROW_TAG_NULL | ROW_TAG_TYPE)) != 0 || type < SPATE_BOOL ||
		    type > SPATE_TIMESTAMP)
			return SPATE_ECORRUPT;
		if (tag & ROW_TAG_NULL)
			continue;
		if (type == SPATE_STRING || type == SPATE_BYTES) {
			uint64_t off = ld32(b + slots + 8 * i);
			uint64_t vlen = ld32(b + slots + 8 * i + 4);
			/* The NUL after the value must lie inside the row: off + vlen < size. */
			if (off < fixed || off + vlen >= size || b[off + vlen] != '\0')
				return SPATE_ECORRUPT;
		}
	}
	return 0;
}

/* ---- builder -------------------------------------------------------------------------- */

static void builder_reserve(struct spate_row_builder *b, size_t need)
{
	if (need <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : 2 * cap;
	b->buf = xrealloc(b->buf, cap);
	b->cap = cap;
}

static inline size_t builder_fixed(const struct spate_row_builder *b)
{
	return row_fixed_size(b->schema->nfields);
}

/* The public inline setters see the builder through spate.h's head struct. */
_Static_assert(offsetof(struct spate_row_builder, buf) ==
                       offsetof(struct spate_row_builder_head, buf) &&
                   offsetof(struct spate_row_builder, fixed_template) ==
                       offsetof(struct spate_row_builder_head, tmpl) &&
                   offsetof(struct spate_row_builder, slots_off) ==
                       offsetof(struct spate_row_builder_head, slots_off) &&
                   offsetof(struct spate_row_builder, nfields) ==
                       offsetof(struct spate_row_builder_head, nfields) &&
                   offsetof(struct spate_row_builder, view_tags) ==
                       offsetof(struct spate_row_builder_head, view_tags),
               "struct spate_row_builder must begin with spate.h's builder head");

void row_builder_init(struct spate_row_builder *b, const struct schema *schema)
{
	memset(b, 0, sizeof *b);
	b->schema = schema;
	b->bad_field = -1;
	int nf = schema->nfields;
	b->fixed_size = builder_fixed(b);
	b->slots_off = slots_offset((size_t)nf);
	b->nfields = nf;
	b->fixed_template = xcalloc(1, b->fixed_size);
	st32(b->fixed_template, (uint32_t)b->fixed_size);
	st16(b->fixed_template + 4, (uint16_t)nf);
	bool all64 = nf > 0;
	b->fixed_width = true;
	for (int i = 0; i < nf; i++) {
		spate_type t = schema->fields[i].type;
		b->fixed_template[ROW_HEADER_BYTES + i] = (uint8_t)(t | ROW_TAG_NULL);
		all64 &= t == SPATE_INT64 || t == SPATE_DOUBLE || t == SPATE_TIMESTAMP;
		b->fixed_width &= t != SPATE_STRING && t != SPATE_BYTES;
	}
	if (all64) {
		b->view_tags = xcalloc(1, b->slots_off - ROW_HEADER_BYTES);
		for (int i = 0; i < nf; i++)
			b->view_tags[i] = (uint8_t)schema->fields[i].type;
	}
	builder_reserve(b, pad8(b->fixed_size + 64));
	row_builder_begin(b);
}

void row_builder_release(struct spate_row_builder *b)
{
	if (!b)
		return;
	xfree(b->buf);
	xfree(b->fixed_template);
	xfree(b->view_tags);
	b->view_tags = NULL;
	b->buf = NULL;
	b->fixed_template = NULL;
	b->cap = 0;
	b->var_used = 0;
}

static void builder_bad(struct spate_row_builder *b, int i, spate_type t)
{
	if (b->bad_field != -1)
		return;
	b->bad_field = i < 0 ? BAD_FIELD_NEGATIVE : i;
	b->bad_type = t;
}

/* True if field i exists and has type t; otherwise records the mistake. */
static inline int builder_check(struct spate_row_builder *b, int i, spate_type t)
{
	/* the template's tag is the field's type with the null bit */
	if ((unsigned)i >= (unsigned)b->nfields ||
	    b->fixed_template[ROW_HEADER_BYTES + i] != (uint8_t)(t | ROW_TAG_NULL)) {
		builder_bad(b, i, t);
		return 0;
	}
	return 1;
}

static inline void builder_put(struct spate_row_builder *b, int i, uint64_t slot)
{
	b->buf[ROW_HEADER_BYTES + i] &= (uint8_t)~ROW_TAG_NULL;
	st64(b->buf + b->slots_off + 8 * (size_t)i, slot);
}

/* memcpy(dst, src, n), without a library call for the few bytes of most strings (a word,
 * a name): two overlapping loads and stores cover 4..16 bytes. */
static inline void copy_short(uint8_t *dst, const void *src, size_t n)
{
	const uint8_t *s = src;
	uint64_t a, b;
	uint32_t c, d;
	if (n > 16) {
		memcpy(dst, s, n);
	} else if (n >= 8) {
		memcpy(&a, s, 8);
		memcpy(&b, s + n - 8, 8);
		memcpy(dst, &a, 8);
		memcpy(dst + n - 8, &b, 8);
	} else if (n >= 4) {
		memcpy(&c, s, 4);
		memcpy(&d, s + n - 4, 4);
		memcpy(dst, &c, 4);
		memcpy(dst + n - 4, &d, 4);
	} else {
		for (size_t i = 0; i < n; i++)
			dst[i] = s[i];
	}
}

/* Appends a string or bytes value (with its NUL) to the variable area and points field i
 * at it. Offsets, not pointers, are stored because the buffer may move when it grows. */
static void builder_put_var(struct spate_row_builder *b, int i, const void *p, size_t len)
{
	size_t off = builder_fixed(b) + b->var_used, need;

	if (len >= ROW_MAX_BYTES || pad8(len + 1) > ROW_MAX_BYTES - off) {
		builder_bad(b, i, BAD_TYPE_TOO_LARGE);
		return;
	}
	need = pad8(len + 1);
	/* Bytes from this builder's own buffer (a field of the row it built last, say) would
	 * move with the reserve, and the padding store below could overwrite their tail:
	 * copy them out first. */
	uint8_t *own = NULL;
	if (len && (uintptr_t)p - (uintptr_t)b->buf < b->cap) {
		own = xmalloc(len);
		memcpy(own, p, len);
		p = own;
	}
	builder_reserve(b, off + need);
	/* The padding after the bytes (at least the NUL, at most 8 bytes) lies within the
	 * last word: zero that word, then copy over its front. */
	st64(b->buf + off + need - 8, 0);
	copy_short(b->buf + off, p, len);
	xfree(own);
	b->var_used += need;
	builder_put(b, i, (uint64_t)off | (uint64_t)len << 32);
}

void spate_row_set_null(spate_row_builder *b, int i)
{
	if ((unsigned)i >= (unsigned)b->schema->nfields) {
		builder_bad(b, i, 0);
		return;
	}
	b->buf[ROW_HEADER_BYTES + i] |= ROW_TAG_NULL;
	st64(b->buf + slots_offset((size_t)b->schema->nfields) + 8 * (size_t)i, 0);
}

void spate_row_set_bool(spate_row_builder *b, int i, bool v)
{
	if (builder_check(b, i, SPATE_BOOL))
		builder_put(b, i, v ? 1 : 0);
}

void spate_row_set_i32(spate_row_builder *b, int i, int32_t v)
{
	if (builder_check(b, i, SPATE_INT32))
		builder_put(b, i, (uint64_t)(int64_t)v);
}

void spate_row_set_i64(spate_row_builder *b, int i, int64_t v)
{
	if (builder_check(b, i, SPATE_INT64))
		builder_put(b, i, (uint64_t)v);
}

void spate_row_set_double(spate_row_builder *b, int i, double v)
{
	uint64_t bits;
	memcpy(&bits, &v, sizeof bits);
	if (builder_check(b, i, SPATE_DOUBLE))
		builder_put(b, i, bits);
}

void spate_row_set_timestamp(spate_row_builder *b, int i, int64_t ms)
{
	if (builder_check(b, i, SPATE_TIMESTAMP))
		builder_put(b, i, (uint64_t)ms);
}

/* A NULL pointer sets the field to null (after the type check), rather than crashing. */
void spate_row_set_str(spate_row_builder *b, int i, const char *s, size_t len)
{
	if (!builder_check(b, i, SPATE_STRING))
		return;
	if (!s)
		spate_row_set_null(b, i);
	else
		builder_put_var(b, i, s, len);
}

void spate_row_set_bytes(spate_row_builder *b, int i, const void *p, size_t len)
{
	if (!builder_check(b, i, SPATE_BYTES))
		return;
	if (!p)
		spate_row_set_null(b, i);
	else
		builder_put_var(b, i, p, len);
}

void spate_row_copy(spate_row_builder *b, const spate_row *src)
{
	const uint8_t *r = row_bytes(src);
	uint8_t *own = NULL;
	int nf;

	/* A row that lives in this builder's own scratch area (its last output, say) would be
	 * read from memory that appending values may move: take a copy first. */
	if ((uintptr_t)r >= (uintptr_t)b->buf && (uintptr_t)r < (uintptr_t)b->buf + b->cap) {
		own = xmalloc(row_size_of(r));
		memcpy(own, r, row_size_of(r));
		r = own;
	}
	nf = row_nfields(r);

	for (int i = 0; i < nf; i++) {
		uint8_t tag = r[ROW_HEADER_BYTES + i];
		spate_type t = tag & ROW_TAG_TYPE;
		if (tag & ROW_TAG_NULL) {
			/* A null still has a type; it must match the schema's. */
			if (builder_check(b, i, t))
				spate_row_set_null(b, i);
			continue;
		}
		switch (t) {
		case SPATE_STRING:
		case SPATE_BYTES: {
			uint64_t slot = row_slot(r, i);
			if (builder_check(b, i, t))
				builder_put_var(b, i, r + (uint32_t)slot, (size_t)(slot >> 32));
			break;
		}
		default:
			if (builder_check(b, i, t))
				builder_put(b, i, row_slot(r, i));
			break;
		}
	}
	if (nf < b->schema->nfields)
		builder_bad(b, nf, BAD_TYPE_MISSING);
	xfree(own);
}

const spate_row *row_builder_finish(struct spate_row_builder *b, struct spate_error *err)
{
	const struct schema *s = b->schema;
	int f = b->bad_field;

	if (f != -1) {
		if (f == BAD_FIELD_NEGATIVE)
			error_set(err, SPATE_EINVAL,
			          "a negative field index was set (the schema has %d "
			          "fields)",
			          s->nfields);
		else if (f >= s->nfields)
			error_set(err, SPATE_EINVAL,
			          "field %d is out of range (the schema '%s' has %d "
			          "fields)",
			          f, s->text, s->nfields);
		else if (b->bad_type == BAD_TYPE_TOO_LARGE)
			error_set(err, SPATE_EINVAL,
			          "field %d ('%s') makes the row larger than %zu bytes", f,
			          s->fields[f].name, ROW_MAX_BYTES);
		else if (b->bad_type == BAD_TYPE_MISSING)
			error_set(err, SPATE_EINVAL,
			          "field %d ('%s') is missing from the copied row", f,
			          s->fields[f].name);
		else
			error_set(err, SPATE_EINVAL, "field %d ('%s') is %s but was set as %s", f,
			          s->fields[f].name, type_name(s->fields[f].type),
			          type_name(b->bad_type));
		return NULL;
	}
	st32(b->buf, (uint32_t)(builder_fixed(b) + b->var_used));
	return (const spate_row *)b->buf;
}

/* ---- reading -------------------------------------------------------------------------- */

int spate_row_field_count(const spate_row *r)
{
	return r ? row_nfields(row_bytes(r)) : 0;
}

size_t spate_row_size(const spate_row *r)
{
	return r ? ld32(row_bytes(r)) : 0;
}

spate_type spate_row_type(const spate_row *r, int i)
{
	return row_tag(row_bytes(r), i) & ROW_TAG_TYPE;
}

bool spate_row_is_null(const spate_row *r, int i)
{
	return (row_tag(row_bytes(r), i) & ROW_TAG_NULL) != 0;
}

bool spate_row_bool(const spate_row *r, int i)
{
	const uint8_t *p = row_bytes(r);
	return row_tag(p, i) == SPATE_BOOL && row_slot(p, i) != 0;
}

int32_t spate_row_i32(const spate_row *r, int i)
{
	const uint8_t *p = row_bytes(r);
	return row_tag(p, i) == SPATE_INT32 ? (int32_t)(uint32_t)row_slot(p, i) : 0;
}

int64_t spate_row_i64(const spate_row *r, int i)
{
	const uint8_t *p = row_bytes(r);
	uint8_t tag = row_tag(p, i);
	return tag == SPATE_INT64 || tag == SPATE_TIMESTAMP ? (int64_t)row_slot(p, i) : 0;
}

double spate_row_double(const spate_row *r, int i)
{
	const uint8_t *p = row_bytes(r);
	double v = 0;
	if (row_tag(p, i) == SPATE_DOUBLE) {
		uint64_t bits = row_slot(p, i);
		memcpy(&v, &bits, sizeof v);
	}
	return v;
}

static inline const void *row_var(const spate_row *r, int i, spate_type t, size_t *len)
{
	const uint8_t *p = row_bytes(r);
	if (row_tag(p, i) != t) {
		if (len)
			*len = 0;
		return NULL;
	}
	uint64_t slot = row_slot(p, i);
	if (len)
		*len = (size_t)(slot >> 32);
	return p + (uint32_t)slot;
}

const char *spate_row_str(const spate_row *r, int i, size_t *len)
{
	return row_var(r, i, SPATE_STRING, len);
}

const void *spate_row_bytes(const spate_row *r, int i, size_t *len)
{
	return row_var(r, i, SPATE_BYTES, len);
}

/* ---- formatting ----------------------------------------------------------------------- */

/* An snprintf-like sink: counts every byte, stores what fits and keeps room for the NUL. */
struct out {
	char *buf;
	size_t cap;
	size_t len;
};

static void out_put(struct out *o, const void *s, size_t n)
{
	if (o->len + 1 < o->cap) {
		size_t room = o->cap - 1 - o->len;
		memcpy(o->buf + o->len, s, n < room ? n : room);
	}
	o->len += n;
}

static void out_str(struct out *o, const char *s)
{
	out_put(o, s, strlen(s));
}

/*
 * Java's Double.toString: the shortest decimal that reads back as the same double, written
 * plainly for 1e-3 <= |v| < 1e7 ("100.0", "0.001") and as computerized scientific notation
 * otherwise ("1.0E7", "1.234E-5"), always with a digit after the point (JDK 19+ rules). The
 * shortest digit count is found by binary search over printf's correctly rounded %.Ne, since a
 * double that round-trips with N significant digits also does with N+1.
 */
static size_t format_double(double v, char *dst)
{
	char tmp[40], digits[20];
	int lo = 1, hi = 17, nd = 0, exp10;
	char *p = dst, *e;

	if (isnan(v)) {
		strcpy(dst, "NaN");
		return 3;
	}
	if (isinf(v)) {
		strcpy(dst, v < 0 ? "-Infinity" : "Infinity");
		return strlen(dst);
	}
	if (v == 0) {
		strcpy(dst, signbit(v) ? "-0.0" : "0.0");
		return strlen(dst);
	}
	while (lo < hi) {
		int mid = (lo + hi) / 2;
		snprintf(tmp, sizeof tmp, "%.*e", mid - 1, v);
		if (strtod(tmp, NULL) == v)
			hi = mid;
		else
			lo = mid + 1;
	}
	/* Java never settles for one digit: it then takes the closest two-digit decimal,
	 * which is why Double.MIN_VALUE prints as 4.9E-324 rather than 5.0E-324. */
	if (lo == 1)
		lo = 2;
	snprintf(tmp, sizeof tmp, "%.*e", lo - 1, v);
	/* tmp is "[-]d[.ddd]e[+-]xx": collect the digits, then the exponent. */
	for (e = tmp; *e && *e != 'e'; e++)
		if (*e >= '0' && *e <= '9' && nd < (int)sizeof digits - 1)
			digits[nd++] = *e;
	exp10 = atoi(e + 1);
	while (nd > 1 && digits[nd - 1] == '0')
		nd--;
	if (v < 0)
		*p++ = '-';
	if (exp10 >= -3 && exp10 < 7) {
		if (exp10 < 0) {
			*p++ = '0';
			*p++ = '.';
			for (int i = 0; i < -exp10 - 1; i++)
				*p++ = '0';
			memcpy(p, digits, (size_t)nd);
			p += nd;
		} else {
			for (int i = 0; i <= exp10; i++)
				*p++ = i < nd ? digits[i] : '0';
			*p++ = '.';
			if (nd > exp10 + 1) {
				memcpy(p, digits + exp10 + 1, (size_t)(nd - exp10 - 1));
				p += nd - exp10 - 1;
			} else {
				*p++ = '0';
			}
		}
	} else {
		*p++ = digits[0];
		*p++ = '.';
		if (nd > 1) {
			memcpy(p, digits + 1, (size_t)(nd - 1));
			p += nd - 1;
		} else {
			*p++ = '0';
		}
		p += sprintf(p, "E%d", exp10);
	}
	*p = '\0';
	return (size_t)(p - dst);
}

/* Days since 1970-01-01 to a proleptic Gregorian date (valid for every int64 day count
 * that comes from milliseconds). */
static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

/* ISO-8601 in UTC with milliseconds: "2024-01-31T12:34:56.789". */
static size_t format_timestamp(int64_t ms, char *dst, size_t cap)
{
	int64_t days = ms / 86400000, rem = ms % 86400000, y;
	int m, d;
	if (rem < 0) {
		rem += 86400000;
		days--;
	}
	civil_from_days(days, &y, &m, &d);
	return (size_t)snprintf(dst, cap, "%04" PRId64 "-%02d-%02dT%02d:%02d:%02d.%03d", y, m, d,
	                        (int)(rem / 3600000), (int)(rem / 60000 % 60),
	                        (int)(rem / 1000 % 60), (int)(rem % 1000));
}

static void format_field(struct out *o, const uint8_t *p, int i)
{
	static const char hex[] = "0123456789abcdef";
	uint8_t tag = row_tag(p, i);
	uint64_t slot;
	char tmp[64];

	if (tag & ROW_TAG_NULL) {
		out_str(o, "null");
		return;
	}
	slot = row_slot(p, i);
	switch (tag) {
	case SPATE_BOOL:
		out_str(o, slot ? "true" : "false");
		break;
	case SPATE_INT32:
		out_put(o, tmp, (size_t)snprintf(tmp, sizeof tmp, "%" PRId32, (int32_t)slot));
		break;
	case SPATE_INT64:
		out_put(o, tmp, (size_t)snprintf(tmp, sizeof tmp, "%" PRId64, (int64_t)slot));
		break;
	case SPATE_DOUBLE: {
		double v;
		memcpy(&v, &slot, sizeof v);
		out_put(o, tmp, format_double(v, tmp));
		break;
	}
	case SPATE_TIMESTAMP:
		out_put(o, tmp, format_timestamp((int64_t)slot, tmp, sizeof tmp));
		break;
	case SPATE_STRING:
		out_put(o, p + (uint32_t)slot, (size_t)(slot >> 32));
		break;
	case SPATE_BYTES: {
		const uint8_t *v = p + (uint32_t)slot;
		size_t n = (size_t)(slot >> 32);
		for (size_t k = 0; k < n; k++) {
			char h[2] = {hex[v[k] >> 4], hex[v[k] & 15]};
			out_put(o, h, 2);
		}
		break;
	}
	default:
		out_str(o, "?");
		break;
	}
}

size_t spate_row_format(const spate_row *r, char *buf, size_t cap)
{
	struct out o = {buf, cap, 0};
	const uint8_t *p = row_bytes(r);
	int nf = p ? row_nfields(p) : 0;

	if (nf == 1) {
		format_field(&o, p, 0);
	} else {
		out_put(&o, "(", 1);
		for (int i = 0; i < nf; i++) {
			if (i)
				out_put(&o, ",", 1);
			format_field(&o, p, i);
		}
		out_put(&o, ")", 1);
	}
	if (cap)
		buf[o.len < cap ? o.len : cap - 1] = '\0';
	return o.len;
}
