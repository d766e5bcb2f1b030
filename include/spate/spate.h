/*
 * spate.h - the public C DataStream API of Spate.
 *
 * This header is the whole API: anything not declared here is internal and may change.
 * A job is a shared library that defines its entry point with SPATE_JOB_ENTRY(fn). The
 * client loads the library, calls fn with an environment and the job's arguments, and fn
 * builds a dataflow with the calls below, then calls spate_env_execute().
 *
 * Conventions:
 *   - Graph-building calls never fail loudly: the first error is kept in the environment
 *     ("sticky"), later calls return NULL / do nothing, and spate_env_execute() returns the
 *     error with its message (spate_env_error()). A NULL stream argument is accepted and
 *     propagates NULL, so a job can build the whole graph and check once.
 *   - User functions are plain C functions. They must be non-static (exported from the job
 *     library) so that a TaskManager can find them by name; a static function is an error
 *     at graph-building time.
 *   - User functions return 0 on success or a negative value on failure; use
 *     spate_ctx_fail() to attach a message. A failing function fails the job with a message
 *     that names the operator and the subtask.
 *   - Rows are read in place: a `const spate_row *` points into the engine's buffers and is
 *     valid only during the call that received it.
 */
#ifndef SPATE_SPATE_H
#define SPATE_SPATE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The API version job libraries are built for. 2: struct spate_row_builder_head gained
 * view_tags; 3: struct spate_ctx_head (spate_ctx_user_data inline). */
#define SPATE_API_VERSION 3
/* The oldest version whose job libraries this one still runs: a version 2 library calls
 * spate_ctx_user_data, which is still exported. */
#define SPATE_API_VERSION_MIN 2

#if defined(__GNUC__)
#define SPATE_EXPORT __attribute__((visibility("default")))
#define SPATE_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define SPATE_EXPORT
#define SPATE_PRINTF(f, a)
#endif

/* ---- error codes (negative; 0 is success) ---------------------------------------------- */

#define SPATE_ERRNO_MAP(X)                         \
	X(EINVAL, -22, "invalid argument")         \
	X(ENOMEM, -12, "out of memory")            \
	X(ENOENT, -2, "not found")                 \
	X(EIO, -5, "input/output error")           \
	X(ECANCELED, -125, "canceled")             \
	X(ERANGE, -34, "value out of range")       \
	X(EAGAIN, -11, "try again")                \
	X(ECONFIG, -1001, "bad configuration")     \
	X(EGRAPH, -1002, "invalid job graph")      \
	X(EUSER, -1003, "user function failed")    \
	X(ELOAD, -1004, "cannot load job library") \
	X(EVERSION, -1005, "API version mismatch") \
	X(ECORRUPT, -1006, "corrupt data")         \
	X(ECONNECT, -1007, "cannot connect")       \
	X(EJOBFAIL, -1008, "job failed")           \
	X(EEXIST, -17, "already exists")           \
	X(EBUSY, -16, "busy")

enum {
#define SPATE_ERR_ENUM(name, val, msg) SPATE_##name = (val),
	SPATE_ERRNO_MAP(SPATE_ERR_ENUM)
#undef SPATE_ERR_ENUM
};

/* Returns a static description of a SPATE_E* code. */
SPATE_EXPORT const char *spate_strerror(int err);

/* ---- types --------------------------------------------------------------------------- */

typedef enum spate_type {
	SPATE_BOOL = 1,
	SPATE_INT32 = 2,
	SPATE_INT64 = 3,
	SPATE_DOUBLE = 4,
	SPATE_STRING = 5,
	SPATE_BYTES = 6,
	SPATE_TIMESTAMP = 7, /* int64 milliseconds since the epoch */
} spate_type;

typedef struct spate_env spate_env;                 /* execution environment, one per job */
typedef struct spate_stream spate_stream;           /* a DataStream (or KeyedStream) */
typedef struct spate_row spate_row;                 /* a row, read in place */
typedef struct spate_row_builder spate_row_builder; /* builds one output row */
typedef struct spate_collector spate_collector;     /* emits any number of rows */
typedef struct spate_ctx spate_ctx;                 /* the running subtask's context */
typedef struct spate_value_state spate_value_state; /* keyed value state handle */
typedef struct spate_map_state spate_map_state;     /* keyed map state handle */
typedef struct spate_result spate_result;           /* what a finished job hands back */
/* keyed list and reducing state handles */
typedef struct spate_list_state spate_list_state;
typedef struct spate_reducing_state spate_reducing_state;

/*
 * Schemas are strings: "name:type,name:type,...". Types: bool, int32 (int), int64 (long,
 * bigint), double, string, bytes, timestamp. Field names are [A-Za-z_][A-Za-z0-9_]*.
 * Example: "word:string,count:int64".
 */

/* ---- user function signatures ------------------------------------------------------ */

/* map: fill `out` (whose schema is the operator's output schema) from `in`. */
typedef int (*spate_map_fn)(spate_ctx *ctx, const spate_row *in, spate_row_builder *out);
/* flat_map: emit zero or more rows through `out`. */
typedef int (*spate_flat_map_fn)(spate_ctx *ctx, const spate_row *in, spate_collector *out);
/* filter: return 1 to keep, 0 to drop, negative on failure. */
typedef int (*spate_filter_fn)(spate_ctx *ctx, const spate_row *in);
/* key selector: fill `key` (schema given to spate_stream_key_by_selector) from `in`. */
typedef int (*spate_key_fn)(spate_ctx *ctx, const spate_row *in, spate_row_builder *key);
/* reduce: combine the accumulated row and a new row into `out` (same schema). */
typedef int (*spate_reduce_fn)(spate_ctx *ctx, const spate_row *acc, const spate_row *in,
                               spate_row_builder *out);
/* process: free-form; on a keyed stream it may use keyed state through ctx. */
typedef int (*spate_process_fn)(spate_ctx *ctx, const spate_row *in, spate_collector *out);
/*
 * end of input (Flink's finish()): called once per subtask after the operator's last input
 * row; may emit final rows through `out` (not for sinks: `out` is NULL there).
 */
typedef int (*spate_end_fn)(spate_ctx *ctx, spate_collector *out);
/* generator source: fill `out` for the record with global sequence number `index`. */
typedef int (*spate_gen_fn)(spate_ctx *ctx, int64_t index, spate_row_builder *out);

/* ---- job entry point ----------------------------------------------------------------- */

typedef int (*spate_job_main_fn)(spate_env *env, int argc, char **argv);

/*
 * SPATE_JOB_ENTRY(fn) in exactly one file of the job library defines the two symbols the
 * client looks for: the entry point and the API version it was compiled against. argv[0] is
 * the library path; the rest are the job's own arguments.
 */
/* Defined by SPATE_JOB_ENTRY in the job library; the client looks them up by name. */
SPATE_EXPORT extern const int spate_job_api_version;
SPATE_EXPORT int spate_job_main(spate_env *env, int argc, char **argv);

#define SPATE_JOB_ENTRY(fn)                                                    \
	SPATE_EXPORT const int spate_job_api_version = SPATE_API_VERSION;      \
	SPATE_EXPORT int spate_job_main(spate_env *env, int argc, char **argv) \
	{                                                                      \
		return fn(env, argc, argv);                                    \
	}

/* ---- environment ------------------------------------------------------------------- */

/* Parallelism default for the job (operators may override). n >= 1. */
SPATE_EXPORT void spate_env_set_parallelism(spate_env *env, int n);
/* Returns the parallelism operators get when they set none. */
SPATE_EXPORT int spate_env_get_parallelism(const spate_env *env);
/* Max parallelism (number of key groups) default; 1..32768. */
SPATE_EXPORT void spate_env_set_max_parallelism(spate_env *env, int n);
SPATE_EXPORT void spate_env_disable_operator_chaining(spate_env *env);
/* Reads a configuration value (after config file and -D overrides), or NULL. */
SPATE_EXPORT const char *spate_env_config(const spate_env *env, const char *key);
/*
 * Builds and runs the job (attached). Returns 0 when the job FINISHED, else a negative
 * code; spate_env_error() then holds the message. `result` (may be NULL) receives what the
 * collect sinks gathered; free it with spate_result_free().
 */
SPATE_EXPORT int spate_env_execute(spate_env *env, const char *job_name, spate_result **result);
/* The first error recorded while building or running, or NULL. Borrowed. */
SPATE_EXPORT const char *spate_env_error(const spate_env *env);

/* ---- sources ------------------------------------------------------------------------- */

/* Non-parallel source of the given strings (copied), schema "f0:string". */
SPATE_EXPORT spate_stream *spate_env_from_strings(spate_env *env, const char *const *items,
                                                  size_t n);
/* Non-parallel source of the given integers (copied), schema "f0:int64". */
SPATE_EXPORT spate_stream *spate_env_from_int64s(spate_env *env, const int64_t *items, size_t n);
/*
 * Text files, one record per line (without the line terminator), schema "line:string".
 * `paths` is one path or several separated by commas; a directory means its regular files.
 * Parallel: the files are cut into byte ranges on line boundaries.
 */
SPATE_EXPORT spate_stream *spate_env_read_text_file(spate_env *env, const char *paths);
/* The numbers from..to inclusive, schema "value:int64", split across the subtasks. */
SPATE_EXPORT spate_stream *spate_env_from_sequence(spate_env *env, int64_t from, int64_t to);
/*
 * Generator: calls fn for indexes 0..count-1 (count < 0: unbounded), split across the
 * subtasks in contiguous ranges. rate_per_sec > 0 limits the total rate.
 */
SPATE_EXPORT spate_stream *spate_env_from_generator(spate_env *env, const char *schema,
                                                    spate_gen_fn fn, int64_t count,
                                                    double rate_per_sec);
/*
 * Lines read from a TCP server (like `nc -lk 9999`), schema "line:string". Non-parallel.
 * The stream ends when the server closes the connection.
 */
SPATE_EXPORT spate_stream *spate_env_socket_text_stream(spate_env *env, const char *host, int port);

/* ---- transformations --------------------------------------------------------------- */

SPATE_EXPORT spate_stream *spate_stream_map(spate_stream *in, const char *out_schema,
                                            spate_map_fn fn);
SPATE_EXPORT spate_stream *spate_stream_flat_map(spate_stream *in, const char *out_schema,
                                                 spate_flat_map_fn fn);
SPATE_EXPORT spate_stream *spate_stream_filter(spate_stream *in, spate_filter_fn fn);
/* keyBy on one or more fields, comma separated: "word" or "a,b". Not an operator. */
SPATE_EXPORT spate_stream *spate_stream_key_by(spate_stream *in, const char *fields);
/* keyBy with a selector function producing a key row of schema `key_schema`. */
SPATE_EXPORT spate_stream *spate_stream_key_by_selector(spate_stream *in, const char *key_schema,
                                                        spate_key_fn fn);
/* Keyed rolling reduce: emits the new accumulated row for every input. */
SPATE_EXPORT spate_stream *spate_stream_reduce(spate_stream *keyed, spate_reduce_fn fn);
/*
 * Keyed rolling aggregations on a numeric field, as Flink's: sum/min/max keep the other
 * fields of the first row seen for the key; min_by/max_by emit the whole row holding the
 * extreme value (the earliest on ties).
 */
SPATE_EXPORT spate_stream *spate_stream_sum(spate_stream *keyed, const char *field);
SPATE_EXPORT spate_stream *spate_stream_min(spate_stream *keyed, const char *field);
SPATE_EXPORT spate_stream *spate_stream_max(spate_stream *keyed, const char *field);
SPATE_EXPORT spate_stream *spate_stream_min_by(spate_stream *keyed, const char *field);
SPATE_EXPORT spate_stream *spate_stream_max_by(spate_stream *keyed, const char *field);
/* Process function; on a keyed stream it may use keyed state. */
SPATE_EXPORT spate_stream *spate_stream_process(spate_stream *in, const char *out_schema,
                                                spate_process_fn fn);
/* Union of two streams with the same schema (call repeatedly for more). */
SPATE_EXPORT spate_stream *spate_stream_union(spate_stream *a, spate_stream *b);

/* Partitioners: the next operator reads this stream through the given exchange. */
SPATE_EXPORT spate_stream *spate_stream_forward(spate_stream *in);
SPATE_EXPORT spate_stream *spate_stream_rebalance(spate_stream *in);
SPATE_EXPORT spate_stream *spate_stream_rescale(spate_stream *in);
SPATE_EXPORT spate_stream *spate_stream_shuffle(spate_stream *in);
SPATE_EXPORT spate_stream *spate_stream_broadcast(spate_stream *in);
SPATE_EXPORT spate_stream *spate_stream_global(spate_stream *in);

/* ---- per-operator settings (apply to the operator that produced the stream) ----------- */

SPATE_EXPORT spate_stream *spate_stream_set_parallelism(spate_stream *s, int n);
SPATE_EXPORT spate_stream *spate_stream_set_max_parallelism(spate_stream *s, int n);
SPATE_EXPORT spate_stream *spate_stream_name(spate_stream *s, const char *name);
SPATE_EXPORT spate_stream *spate_stream_uid(spate_stream *s, const char *uid);
SPATE_EXPORT spate_stream *spate_stream_disable_chaining(spate_stream *s);
SPATE_EXPORT spate_stream *spate_stream_start_new_chain(spate_stream *s);
SPATE_EXPORT spate_stream *spate_stream_slot_sharing_group(spate_stream *s, const char *group);
/* A string parameter shipped with the operator; read with spate_ctx_param(). */
SPATE_EXPORT spate_stream *spate_stream_set_param(spate_stream *s, const char *key,
                                                  const char *value);

/* Calls fn when the operator's input ends (see spate_end_fn). */
SPATE_EXPORT spate_stream *spate_stream_on_end(spate_stream *s, spate_end_fn fn);

/* ---- sinks (return the sink so its settings can be changed) ------------------------- */

/*
 * A sink that calls fn for every row (no output). on_end (spate_stream_on_end) then runs at
 * the end of input. Useful for counting or checking sinks.
 */
SPATE_EXPORT spate_stream *spate_stream_sink(spate_stream *in, spate_process_fn fn);

/* Prints rows as Flink's print sink: "(a,b)"; "N> " prefix when parallelism > 1. */
SPATE_EXPORT spate_stream *spate_stream_print(spate_stream *in);
/* One file per subtask under `dir` ("part-<subtask>"), each renamed into place on finish. */
SPATE_EXPORT spate_stream *spate_stream_write_text(spate_stream *in, const char *dir);
/* Gathers rows into the job result under `name` (for tests and small results). */
SPATE_EXPORT spate_stream *spate_stream_collect(spate_stream *in, const char *name);

/* ---- job result ---------------------------------------------------------------------- */

/* Number of rows a collect sink gathered (0 if unknown name). */
SPATE_EXPORT size_t spate_result_count(const spate_result *r, const char *name);
/* Row i of the collect sink `name`; borrowed from r. */
SPATE_EXPORT const spate_row *spate_result_row(const spate_result *r, const char *name, size_t i);
SPATE_EXPORT int64_t spate_result_runtime_ms(const spate_result *r);
SPATE_EXPORT void spate_result_free(spate_result *r);

/* ---- reading rows ------------------------------------------------------------------ */

SPATE_EXPORT int spate_row_field_count(const spate_row *r);
SPATE_EXPORT bool spate_row_is_null(const spate_row *r, int i);
SPATE_EXPORT bool spate_row_bool(const spate_row *r, int i);
SPATE_EXPORT int32_t spate_row_i32(const spate_row *r, int i);
SPATE_EXPORT int64_t spate_row_i64(const spate_row *r, int i); /* also timestamps */
SPATE_EXPORT double spate_row_double(const spate_row *r, int i);
/* String field: NUL-terminated, *len (may be NULL) gets the length without the NUL. */
SPATE_EXPORT const char *spate_row_str(const spate_row *r, int i, size_t *len);
SPATE_EXPORT const void *spate_row_bytes(const spate_row *r, int i, size_t *len);
/* Size of the row's encoding in bytes. */
SPATE_EXPORT size_t spate_row_size(const spate_row *r);
/*
 * Formats the row as Flink prints a tuple: a single field alone, several as "(a,b)".
 * Writes at most cap bytes including the NUL; returns the length it needed (snprintf-like).
 */
SPATE_EXPORT size_t spate_row_format(const spate_row *r, char *buf, size_t cap);
/* Type of field i (rows carry their field types), or 0 if i is out of range. */
SPATE_EXPORT spate_type spate_row_type(const spate_row *r, int i);

/* ---- building rows ------------------------------------------------------------------- */

/* Fields not set are null. Setting a field of another type is an error at emit time. */
SPATE_EXPORT void spate_row_set_null(spate_row_builder *b, int i);
SPATE_EXPORT void spate_row_set_bool(spate_row_builder *b, int i, bool v);
SPATE_EXPORT void spate_row_set_i32(spate_row_builder *b, int i, int32_t v);
SPATE_EXPORT void spate_row_set_i64(spate_row_builder *b, int i, int64_t v);
SPATE_EXPORT void spate_row_set_double(spate_row_builder *b, int i, double v);
SPATE_EXPORT void spate_row_set_timestamp(spate_row_builder *b, int i, int64_t ms);
SPATE_EXPORT void spate_row_set_str(spate_row_builder *b, int i, const char *s, size_t len);
SPATE_EXPORT void spate_row_set_bytes(spate_row_builder *b, int i, const void *p, size_t len);
/* Copies every field of `src` (which must have the builder's schema). */
SPATE_EXPORT void spate_row_copy(spate_row_builder *b, const spate_row *src);

/*
 * Inline forms of the fixed-width accessors above. User functions call these once per
 * field and record, so a call into the library (through the PLT) would cost more than the
 * work. They read and write the row layout directly; that layout (8-byte header: u32 size,
 * u16 field count, u16 0; one tag byte per field, padded to 8, tag = type, 0x80 if null;
 * then one 8-byte slot per field) is part of the ABI, as is struct spate_row_builder_head.
 * Anything unusual (a wrong type, an index out of range, a null) falls back to the
 * functions, which behave exactly as documented above. Define SPATE_NO_INLINE_ROWS before
 * including this header to call the functions always.
 */
struct spate_row_builder_head {
	unsigned char *buf;        /* the row being built */
	const unsigned char *tmpl; /* an all-null row of the schema: its tags are type | 0x80 */
	size_t slots_off;          /* byte offset of the slots */
	int nfields;
	/* The tag bytes (padded to 8) of a row of the schema with no null field, when every
	 * field is int64, double or timestamp (the schemas spate_row_builder_view serves);
	 * else NULL. */
	const unsigned char *view_tags;
};

static inline const unsigned char *spate__row_slot(const spate_row *r, int i, int tag)
{
	const unsigned char *p = (const unsigned char *)r;
	uint16_t nf;

	if (!p)
		return 0;
	memcpy(&nf, p + 4, sizeof nf);
	if ((unsigned)i >= nf || p[8 + i] != tag)
		return 0;
	return p + 8 + (((size_t)nf + 7) & ~(size_t)7) + 8 * (size_t)i;
}

static inline int64_t spate__row_i64(const spate_row *r, int i)
{
	const unsigned char *s = spate__row_slot(r, i, SPATE_INT64);
	int64_t v;

	if (!s)
		return spate_row_i64(r, i); /* timestamps, nulls, wrong types */
	memcpy(&v, s, sizeof v);
	return v;
}

static inline int32_t spate__row_i32(const spate_row *r, int i)
{
	const unsigned char *s = spate__row_slot(r, i, SPATE_INT32);
	int64_t v;

	if (!s)
		return spate_row_i32(r, i);
	memcpy(&v, s, sizeof v);
	return (int32_t)v;
}

static inline double spate__row_double(const spate_row *r, int i)
{
	const unsigned char *s = spate__row_slot(r, i, SPATE_DOUBLE);
	double v;

	if (!s)
		return spate_row_double(r, i);
	memcpy(&v, s, sizeof v);
	return v;
}

/* Field i's slot in the builder if it has type `type`, else NULL. */
static inline unsigned char *spate__builder_slot(spate_row_builder *b, int i, int type)
{
	struct spate_row_builder_head *h = (struct spate_row_builder_head *)(void *)b;

	if ((unsigned)i >= (unsigned)h->nfields || h->tmpl[8 + i] != (type | 0x80))
		return 0;
	h->buf[8 + i] = (unsigned char)type; /* not null any more */
	return h->buf + h->slots_off + 8 * (size_t)i;
}

static inline void spate__row_set_i64(spate_row_builder *b, int i, int64_t v)
{
	unsigned char *s = spate__builder_slot(b, i, SPATE_INT64);

	if (s)
		memcpy(s, &v, sizeof v);
	else
		spate_row_set_i64(b, i, v); /* records the mistake */
}

static inline void spate__row_set_i32(spate_row_builder *b, int i, int32_t v)
{
	unsigned char *s = spate__builder_slot(b, i, SPATE_INT32);
	int64_t w = v;

	if (s)
		memcpy(s, &w, sizeof w);
	else
		spate_row_set_i32(b, i, v);
}

static inline void spate__row_set_double(spate_row_builder *b, int i, double v)
{
	unsigned char *s = spate__builder_slot(b, i, SPATE_DOUBLE);

	if (s)
		memcpy(s, &v, sizeof v);
	else
		spate_row_set_double(b, i, v);
}

/*
 * Typed views: a row whose fields are all non-null int64, double or timestamp (epoch ms)
 * values can be read, and an output row of such a schema written, as a C struct with one
 * 8-byte member per field in field order (int64_t for int64 and timestamp, double for
 * double), like Flink's Tuple fields f0, f1, ... For example, for "key:int64,value:int64":
 *
 *     struct kv { int64_t key, value; };
 *     const struct kv *in = spate_row_view(row, 2);
 *     struct kv *o = spate_row_builder_view(out, 2);
 *     if (!in || !o)
 *             return spate_ctx_fail(ctx, "map: expected two non-null int64 fields");
 *     o->key = in->key;
 *     o->value = in->value * 3 + 1;
 *
 * spate_row_view returns NULL if the row does not have exactly nfields (at least 1) fields,
 * or has a null field or a field of another type. spate_row_builder_view returns NULL unless the
 * output schema has exactly nfields fields, all of those types; otherwise it marks every
 * field set (none null) and returns the row's fields to write; a field not written is 0.
 * Both pointers are 8-byte aligned and valid until the function returns. The setters
 * above still work on a viewed builder (spate_row_set_null after the view, say). Like a
 * cast, a view does not tell int64 from double from timestamp: the struct must match the
 * schema. (In C++ the returned pointer needs a cast.)
 */
/* The tag word, read little-endian, of a row of n (1..8) non-null int64 fields: n bytes
 * SPATE_INT64, then the zero padding. */
static inline uint64_t spate__i64_tag_word(int n)
{
	return (0x0101010101010101ull * SPATE_INT64) >> (64 - 8 * n);
}

static inline const void *spate_row_view(const spate_row *r, int nfields)
{
	const unsigned char *p = (const unsigned char *)r;
	uint16_t nf;
	uint64_t tags;

	if (!p)
		return 0;
	memcpy(&nf, p + 4, sizeof nf);
	if ((int)nf != nfields || nfields < 1)
		return 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	/* the usual row, all int64: one compare of the tag word instead of a test per field */
	memcpy(&tags, p + 8, sizeof tags);
	if (nfields <= 8 && tags == spate__i64_tag_word(nfields))
		return p + 16;
#else
	(void)tags;
#endif
	for (int i = 0; i < nfields; i++) {
		unsigned t = p[8 + i]; /* a null's tag has 0x80 set: out of the set */
		if (t != SPATE_INT64 && t != SPATE_DOUBLE && t != SPATE_TIMESTAMP)
			return 0;
	}
	return p + 8 + (((size_t)nf + 7) & ~(size_t)7);
}

static inline void *spate_row_builder_view(spate_row_builder *b, int nfields)
{
	struct spate_row_builder_head *h = (struct spate_row_builder_head *)(void *)b;

	if (!h || !h->view_tags || h->nfields != nfields)
		return 0;
	/* the tags are padded to whole words, so word copies cover them exactly */
	memcpy(h->buf + 8, h->view_tags, 8);
	for (int w = 8; w < nfields; w += 8)
		memcpy(h->buf + 8 + w, h->view_tags + w, 8);
	return h->buf + h->slots_off;
}

#ifndef SPATE_NO_INLINE_ROWS
#define spate_row_i64(r, i) spate__row_i64((r), (i))
#define spate_row_i32(r, i) spate__row_i32((r), (i))
#define spate_row_double(r, i) spate__row_double((r), (i))
#define spate_row_set_i64(b, i, v) spate__row_set_i64((b), (i), (v))
#define spate_row_set_i32(b, i, v) spate__row_set_i32((b), (i), (v))
#define spate_row_set_double(b, i, v) spate__row_set_double((b), (i), (v))
#endif

/* Begins a new output row of a flat_map/process function; emit it with spate_collect_emit. */
SPATE_EXPORT spate_row_builder *spate_collect_begin(spate_collector *out);
SPATE_EXPORT int spate_collect_emit(spate_collector *out);
/* Emits an existing row unchanged (it must have the output schema). */
SPATE_EXPORT int spate_collect_row(spate_collector *out, const spate_row *row);

/* ---- runtime context ---------------------------------------------------------------- */

SPATE_EXPORT int spate_ctx_subtask_index(const spate_ctx *ctx);
SPATE_EXPORT int spate_ctx_parallelism(const spate_ctx *ctx);
SPATE_EXPORT int spate_ctx_max_parallelism(const spate_ctx *ctx);
/* The operator's parameter `key` (spate_stream_set_param), or NULL. */
SPATE_EXPORT const char *spate_ctx_param(const spate_ctx *ctx, const char *key);
/* The key of the row being processed (keyed operators), or NULL. Borrowed. */
SPATE_EXPORT const spate_row *spate_ctx_current_key(const spate_ctx *ctx);
/*
 * A pointer slot private to this operator in this subtask, NULL at start. The function may
 * keep per-subtask state there (e.g. counters); free it in the on_end function.
 */
SPATE_EXPORT void **spate_ctx_user_data(spate_ctx *ctx);
/* The start of every spate_ctx, part of the ABI: the inline spate_ctx_user_data below reads
 * it, saving a call into the library per record for functions that keep state there. */
struct spate_ctx_head {
	void *user_data;
};
#ifndef SPATE_NO_INLINE_ROWS
static inline void **spate__ctx_user_data(spate_ctx *ctx)
{
	return &((struct spate_ctx_head *)(void *)ctx)->user_data;
}
#define spate_ctx_user_data(ctx) spate__ctx_user_data(ctx)
#endif
/* Records the failure message for this subtask; returns SPATE_EUSER to return directly. */
SPATE_EXPORT int spate_ctx_fail(spate_ctx *ctx, const char *fmt, ...) SPATE_PRINTF(2, 3);
/* User logging through the engine's log (level: 0 debug, 1 info, 2 warn, 3 error). */
SPATE_EXPORT void spate_ctx_log(spate_ctx *ctx, int level, const char *fmt, ...) SPATE_PRINTF(3, 4);

/* Fails the subtask with the condition's text when it does not hold. */
#define SPATE_ASSERT(ctx, cond)                                                             \
	do {                                                                                \
		if (!(cond))                                                                \
			return spate_ctx_fail((ctx), "assertion failed: %s (%s:%d)", #cond, \
			                      __FILE__, __LINE__);                          \
	} while (0)

/* ---- keyed state (only in functions running on a keyed stream) ----------------------- */

/* Handles are per operator and name; values are scoped to the current key. */
SPATE_EXPORT spate_value_state *spate_ctx_value_state(spate_ctx *ctx, const char *name);
SPATE_EXPORT spate_map_state *spate_ctx_map_state(spate_ctx *ctx, const char *name);

/* Returns 1 and sets *val and *len if present (borrowed until the next state call), 0 if not. */
SPATE_EXPORT int spate_value_get(spate_value_state *s, const void **val, size_t *len);
SPATE_EXPORT int spate_value_put(spate_value_state *s, const void *val, size_t len);
SPATE_EXPORT int spate_value_clear(spate_value_state *s);
/* Convenience for int64 values: returns 1 if present. */
SPATE_EXPORT int spate_value_get_i64(spate_value_state *s, int64_t *out);
SPATE_EXPORT int spate_value_put_i64(spate_value_state *s, int64_t v);

SPATE_EXPORT int spate_map_get(spate_map_state *s, const void *ukey, size_t uklen, const void **val,
                               size_t *len);
SPATE_EXPORT int spate_map_put(spate_map_state *s, const void *ukey, size_t uklen, const void *val,
                               size_t len);
SPATE_EXPORT int spate_map_remove(spate_map_state *s, const void *ukey, size_t uklen);
/* Calls fn for every entry of the current key's map; stops early if fn returns non-zero.
 * ukey and val are borrowed until fn's next state call. */
typedef int (*spate_map_visit_fn)(void *arg, const void *ukey, size_t uklen, const void *val,
                                  size_t len);
SPATE_EXPORT int spate_map_iterate(spate_map_state *s, spate_map_visit_fn fn, void *arg);
/* Number of entries in the current key's map. */
SPATE_EXPORT size_t spate_map_size(spate_map_state *s);

/*
 * List state: the current key's list of byte strings, in insertion order (Flink's
 * ListState). Adding costs the element's size, not the list's; reading walks the list.
 */
SPATE_EXPORT spate_list_state *spate_ctx_list_state(spate_ctx *ctx, const char *name);
/* Appends a copy of val (len bytes, at most 4 GiB in all per list). */
SPATE_EXPORT int spate_list_add(spate_list_state *s, const void *val, size_t len);
/*
 * Calls fn(arg, NULL, 0, val, len) for each element in insertion order; stops early and
 * returns fn's value if fn returns non-zero. val is valid during the call only; fn may use
 * other state (it sees the list as it was when the iteration began).
 */
SPATE_EXPORT int spate_list_iterate(spate_list_state *s, spate_map_visit_fn fn, void *arg);
/* Number of elements in the current key's list. */
SPATE_EXPORT size_t spate_list_size(spate_list_state *s);
SPATE_EXPORT int spate_list_clear(spate_list_state *s);

/*
 * Reducing state: one value per key that every added value is folded into (Flink's
 * ReducingState). The reduce function combines `in` into `acc` in place; both have length
 * len. It returns 0, or a negative value (with spate_ctx_fail) to fail.
 */
typedef int (*spate_state_reduce_fn)(spate_ctx *ctx, void *acc, const void *in, size_t len);
SPATE_EXPORT spate_reducing_state *spate_ctx_reducing_state(spate_ctx *ctx, const char *name,
                                                            spate_state_reduce_fn fn);
/* The first value added to a key is stored as it is; later ones are reduced into it and
 * must have the same length (another length fails the subtask). */
SPATE_EXPORT int spate_reducing_add(spate_reducing_state *s, const void *val, size_t len);
/* Returns 1 and sets *val and *len if present (borrowed until the next state call), 0 if not. */
SPATE_EXPORT int spate_reducing_get(spate_reducing_state *s, const void **val, size_t *len);
SPATE_EXPORT int spate_reducing_clear(spate_reducing_state *s);

#ifdef __cplusplus
}
#endif
#endif /* SPATE_SPATE_H */
