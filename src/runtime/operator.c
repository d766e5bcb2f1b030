/*
 * operator.c - the operators of a chain: how each kind processes a row, how output flows
 * to chained successors (direct calls) and result partitions (copied into buffers), keyed
 * state access, and the runtime side of the public API (spate_ctx_*, spate_collect_*,
 * spate_value_*, spate_map_*).
 *
 * Everything here runs on the task's own thread.
 */
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "runtime/local_job.h"
#include "runtime/task.h"
#include "types/keygroup.h"
#include <xxhash.h>

/* ---- output ------------------------------------------------------------------------------ */

int op_user_failed(struct operator* op, int rc, const char *what, const char *fn_name)
{
	struct task *t = op->task;
	if (rc == SPATE_ECANCELED)
		return rc;
	if (t->user_msg)
		task_fail(t, op, SPATE_EUSER, "%s", t->user_msg);
	else
		task_fail(t, op, SPATE_EUSER, "%s function '%s' returned %d", what,
		          fn_name ? fn_name : "?", rc);
	xfree(t->user_msg);
	t->user_msg = NULL;
	return SPATE_EUSER;
}

int op_builder_failed(struct operator* op, struct spate_row_builder *b, const char *what)
{
	struct spate_error e = {0};
	(void)row_builder_finish(b, &e);
	if (what)
		task_fail(op->task, op, SPATE_EUSER, "%s: %s", what, e.msg);
	else
		task_fail(op->task, op, SPATE_EUSER, "%s", e.msg);
	return SPATE_EUSER;
}

static int user_failed(struct operator* op, int rc, const char *what)
{
	return op_user_failed(op, rc, what, op->node->fn_name);
}

/* Finishes the operator's output builder and emits the row. */
static int emit_built(struct operator* op)
{
	const spate_row *row = row_builder_done(&op->out);
	if (!row)
		return op_builder_failed(op, &op->out, NULL);
	return op_emit(op, row);
}

/* ---- keys ------------------------------------------------------------------------------- */

/* Copies the key fields of `row` into the key builder; returns the key row or NULL. */
static const spate_row *build_key_row(struct operator* op, const spate_row *row)
{
	struct spate_row_builder *kb = &op->key_builder;
	const struct key_spec *k = &op->node->key;
	row_builder_begin(kb);
	for (int i = 0; i < k->nfields; i++) {
		int f = k->fields[i];
		size_t len;
		if (spate_row_is_null(row, f)) {
			spate_row_set_null(kb, i);
			continue;
		}
		switch (spate_row_type(row, f)) {
		case SPATE_BOOL:
			spate_row_set_bool(kb, i, spate_row_bool(row, f));
			break;
		case SPATE_INT32:
			spate_row_set_i32(kb, i, spate_row_i32(row, f));
			break;
		case SPATE_INT64:
			spate_row_set_i64(kb, i, spate_row_i64(row, f));
			break;
		case SPATE_TIMESTAMP:
			spate_row_set_timestamp(kb, i, spate_row_i64(row, f));
			break;
		case SPATE_DOUBLE:
			spate_row_set_double(kb, i, spate_row_double(row, f));
			break;
		case SPATE_STRING: {
			const char *str = spate_row_str(row, f, &len);
			spate_row_set_str(kb, i, str, len);
			break;
		}
		case SPATE_BYTES: {
			const void *p = spate_row_bytes(row, f, &len);
			spate_row_set_bytes(kb, i, p, len);
			break;
		}
		default:
			break;
		}
	}
	return row_builder_done(kb);
}

/*
 * The state key of field keys, without building a key row: per field its tag, then the
 * 8-byte slot (fixed-size types) or a u32 length and the bytes (string, bytes). Stable for
 * a given key, which is all the state backend needs.
 */
static size_t encode_key_fields(struct operator* op, const spate_row *row)
{
	const struct key_spec *k = &op->node->key;
	size_t need = 0;
	for (int i = 0; i < k->nfields; i++) {
		size_t len = 0;
		spate_type t = spate_row_type(row, k->fields[i]);
		if (t == SPATE_STRING)
			spate_row_str(row, k->fields[i], &len);
		else if (t == SPATE_BYTES)
			spate_row_bytes(row, k->fields[i], &len);
		need += 1 + (t == SPATE_STRING || t == SPATE_BYTES ? 4 + len : 8);
	}
	if (need > op->key_cap) {
		op->key_cap = need * 2;
		op->key_buf = xrealloc(op->key_buf, op->key_cap);
	}
	uint8_t *p = op->key_buf;
	for (int i = 0; i < k->nfields; i++) {
		int f = k->fields[i];
		spate_type t = spate_row_type(row, f);
		bool null = spate_row_is_null(row, f);
		*p++ = (uint8_t)(t | (null ? ROW_TAG_NULL : 0));
		if (t == SPATE_STRING || t == SPATE_BYTES) {
			size_t len = 0;
			const void *v = null ? NULL
			                : t == SPATE_STRING
			                    ? (const void *)spate_row_str(row, f, &len)
			                    : spate_row_bytes(row, f, &len);
			uint32_t l = (uint32_t)len;
			memcpy(p, &l, 4);
			if (len)
				memcpy(p + 4, v, len);
			p += 4 + len;
		} else {
			int64_t v = null ? 0 : t == SPATE_DOUBLE ? 0 : spate_row_i64(row, f);
			if (t == SPATE_DOUBLE && !null) {
				double d = spate_row_double(row, f);
				memcpy(&v, &d, 8);
			} else if (t == SPATE_INT32 && !null) {
				v = spate_row_i32(row, f);
			} else if (t == SPATE_BOOL && !null) {
				v = spate_row_bool(row, f);
			}
			memcpy(p, &v, 8);
			p += 8;
		}
	}
	return need;
}

/*
 * The common keys, one non-null int64 or string field: encode_key_fields's bytes (tag, then
 * the value, or a u32 length and the bytes) written to buf, and with hash the key's hash,
 * without the walks over types. Returns the length, or 0 for any other key and for one
 * longer than cap. Forced inline: it runs twice per row on the keyed path (the prefetch and
 * set_current_key), and gcc kept one out-of-line copy for both, at 44 instructions a call.
 */
static inline __attribute__((always_inline)) size_t
encode_simple_key(const spate_row *row, int f, uint8_t *buf, size_t cap, int32_t *hash)
{
	const unsigned char *slot = spate__row_slot(row, f, SPATE_INT64);
	if (slot) {
		int64_t v;
		memcpy(&v, slot, sizeof v);
		if (cap < 9)
			return 0;
		if (hash)
			*hash = java_hash_i64(v);
		buf[0] = SPATE_INT64;
		memcpy(buf + 1, &v, sizeof v);
		return 9;
	}
	if ((slot = spate__row_slot(row, f, SPATE_STRING))) {
		uint32_t off, len;
		memcpy(&off, slot, sizeof off);
		memcpy(&len, slot + 4, sizeof len);
		if (cap < 5 + (size_t)len)
			return 0;
		if (hash)
			*hash = java_hash_string((const char *)row + off, len);
		buf[0] = SPATE_STRING;
		memcpy(buf + 1, &len, sizeof len);
		memcpy(buf + 5, (const char *)row + off, len);
		return 5 + (size_t)len;
	}
	return 0;
}

/* The key group of a key's hash, or SPATE_ECORRUPT (failing the task) if this subtask does
 * not own it (a partitioner sent the record to the wrong place). */
static inline int key_group_checked(struct operator* op, int32_t hash)
{
	struct execution_vertex *ev = op->task->ev;
	int kg = key_group_for_hash(hash, ev->job_vertex->max_parallelism);
	if (kg < ev->key_group_first || kg > ev->key_group_last) {
		task_fail(op->task, op, SPATE_ECORRUPT,
		          "record with key group %d reached the subtask owning key groups %d-%d",
		          kg, ev->key_group_first, ev->key_group_last);
		return SPATE_ECORRUPT;
	}
	return kg;
}

/* Makes the key of `row` the current key: its key group (checked against this subtask's
 * range) and its state key bytes. */
static int set_current_key(struct operator* op, const spate_row *row)
{
	int32_t hash;
	op->cur_input = row;
	if (op->key_fn) {
		struct spate_row_builder *kb = &op->key_builder;
		row_builder_begin(kb);
		int rc = op->key_fn(&op->ctx, row, kb);
		if (rc < 0)
			return user_failed(op, rc, "key selector");
		const spate_row *key = row_builder_done(kb);
		if (!key)
			return op_builder_failed(op, kb, "key");
		hash = key_hash_row(key);
		op->cur_key = key;
		op->cur.key = key;
		op->cur.key_len = row_size_of(key);
	} else {
		const struct key_spec *k = &op->node->key;
		op->cur_key = NULL; /* built on demand by spate_ctx_current_key */
		size_t len = k->nfields == 1 ? encode_simple_key(row, k->fields[0], op->key_buf,
		                                                 op->key_cap, &hash)
		                             : 0;
		if (len) {
			op->cur.key_len = len;
		} else {
			hash = key_hash_fields(row, k->fields, k->nfields);
			op->cur.key_len = encode_key_fields(op, row);
		}
		op->cur.key = op->key_buf;
	}
	int kg = key_group_checked(op, hash);
	if (kg < 0)
		return kg;
	op->cur.key_group = kg;
	return 0;
}

/* The state key of state `id` for the current key. */
static inline struct state_key key_for(struct operator* op, uint32_t id)
{
	struct state_key k = op->cur;
	k.state_id = id;
	k.has_hint = id == 0 && op->hint_row && op->hint_row == op->cur_input;
	k.hint = op->hint;
	return k;
}

struct state_key op_state_key(struct operator* op, uint32_t id)
{
	return key_for(op, id);
}

/* ---- processing, per kind ---------------------------------------------------------------- */

/* A state backend call failed (a RocksDB read or write error). */
static int state_failed(struct operator* op, int rc)
{
	task_fail(op->task, op, rc, "state backend error: %s", spate_strerror(rc));
	return rc;
}

static int process_map(struct operator* op, const spate_row *row)
{
	row_builder_begin(&op->out);
	int rc = ((spate_map_fn)op->fn)(&op->ctx, row, &op->out);
	if (rc < 0)
		return user_failed(op, rc, "map");
	return emit_built(op);
}

/* A batch through map: each output row is built in its own place in batch_buf (the
 * output schema is fixed-width, so no row outgrows it), then the batch moves on. */
static int process_map_batch(struct operator* op, const spate_row *const *rows, int n)
{
	uint8_t *scratch = op->out.buf, *at = op->batch_buf;
	size_t size = op->out.fixed_size;
	spate_map_fn fn = (spate_map_fn)op->fn;
	for (int r = 0; r < n; r++, at += size) {
		op_batch_begin(op, at);
		int rc = fn(&op->ctx, rows[r], &op->out);
		if ((rc = op_batch_end(op, r, rc, scratch, "map")) < 0)
			return rc;
	}
	op_batch_restore(op, scratch);
	return op_emit_batch(op, op->batch_rows, n);
}

static int process_flat_map(struct operator* op, const spate_row *row)
{
	int rc = ((spate_flat_map_fn)op->fn)(&op->ctx, row, &op->collector);
	if (rc < 0)
		return user_failed(op, rc, "flat_map");
	return 0;
}

static int process_filter(struct operator* op, const spate_row *row)
{
	int rc = ((spate_filter_fn)op->fn)(&op->ctx, row);
	if (rc < 0)
		return user_failed(op, rc, "filter");
	return rc > 0 ? op_emit(op, row) : 0;
}

static int process_filter_batch(struct operator* op, const spate_row *const *rows, int n)
{
	const spate_row **kept_rows = op->batch_rows;
	spate_filter_fn fn = (spate_filter_fn)op->fn;
	int kept = 0;
	/* Branch-free keeping: a filter's verdicts are often as good as random (P0 keeps the
	 * even values), and a branch on each cost a misprediction on every other row, a
	 * quarter of P0's time. The row is stored either way and counted only if kept. */
	for (int r = 0; r < n; r++) {
		int rc = fn(&op->ctx, rows[r]);
		if (rc < 0)
			return user_failed(op, rc, "filter");
		kept_rows[kept] = rows[r];
		kept += rc > 0;
	}
	return op_emit_batch(op, kept_rows, kept);
}

/* Every other kind takes a batch one row at a time. */
static int process_each(struct operator* op, const spate_row *const *rows, int n)
{
	for (int r = 0; r < n; r++) {
		int rc = op->process(op, rows[r]);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int process_process(struct operator* op, const spate_row *row)
{
	if (op->node->keyed) {
		int rc = set_current_key(op, row);
		if (rc < 0)
			return rc;
	}
	int rc = ((spate_process_fn)op->fn)(&op->ctx, row, &op->collector);
	if (rc < 0)
		return user_failed(op, rc, "process");
	return 0;
}

static int process_reduce(struct operator* op, const spate_row *row)
{
	int rc = set_current_key(op, row);
	if (rc < 0)
		return rc;
	struct state_key k = key_for(op, 0);
	void *acc;
	size_t len;
	struct keyed_state_backend *be = op->state;
	int found = be->ops->value_get(be, &k, &acc, &len);
	if (found < 0)
		return state_failed(op, found);
	if (!found) {
		if ((rc = be->ops->value_put(be, &k, row, row_size_of(row))) < 0)
			return state_failed(op, rc);
		return op_emit(op, row);
	}
	/* The function gets a copy: a state call it makes may move the backend's values. */
	if (len > op->acc_cap) {
		op->acc_cap = len * 2;
		xfree(op->acc_copy);
		op->acc_copy = xmalloc(op->acc_cap);
	}
	memcpy(op->acc_copy, acc, len);
	uint64_t moves = be->moves;
	row_builder_begin(&op->out);
	rc = ((spate_reduce_fn)op->fn)(&op->ctx, (const spate_row *)op->acc_copy, row, &op->out);
	if (rc < 0)
		return user_failed(op, rc, "reduce");
	const spate_row *out = row_builder_done(&op->out);
	if (!out)
		return op_builder_failed(op, &op->out, NULL);
	/* in place when nothing moved: no second lookup */
	if (be->value_mutable && be->moves == moves && row_size_of(out) == len)
		memcpy(acc, out, len);
	else if ((rc = be->ops->value_put(be, &k, out, row_size_of(out))) < 0)
		return state_failed(op, rc);
	return op_emit(op, out);
}

/*
 * Keyed reduce and aggregate take a batch with their state lookups overlapped: before the
 * row PREFETCH_AHEAD places further on is processed, the backend starts loading its
 * state (value state 0, the one both keep), and the hash it computed for that is passed
 * back with the row's lookups. Without this, once the state outgrows the L1 and L2 caches,
 * one lookup after another waits for its miss. Below PREFETCH_MIN_ENTRIES entries (a table
 * of 8 k records or fewer, 512 KiB of int64 keys) the records stay in the cache and the
 * prefetch only costs (P1 with 1 k keys: 3-5 % slower with it). With it P1 takes 7 % less
 * time with 10 k keys, 38-39 % less with 100 k and 1 M keys. Only simple keys (one int64 or
 * short string field) are prefetched: the others would need the whole key encoding twice.
 * The threshold is the reduce's (process_keyed_batch). A built-in aggregation prefetches at
 * every size (process_aggregate_batch): it hashes each key once either way, so there the
 * prefetch costs one instruction (P1 with 1 k keys was not slower in alternating pairs).
 */
#define PREFETCH_AHEAD 8
#define PREFETCH_MIN_ENTRIES 4096

/* The simple keys of a batch's rows (len 0: a key of another kind), and the hints their
 * prefetches returned. */
struct batch_keys {
	uint8_t key[OP_BATCH][64];
	uint8_t len[OP_BATCH];
	uint32_t hint[OP_BATCH];
};

/* Encodes the keys of all n rows (with their Java hashes in hash[], if not NULL) before any
 * is hashed by the backend: its hash reads them in words, which would wait for the narrower
 * stores of an encoding just done. Forced inline, so that each caller's copy knows whether
 * it wants the hashes (out of line it cost 15 instructions a row more). */
static inline __attribute__((always_inline)) void encode_batch_keys(struct operator* op,
                                                                    const spate_row *const *rows,
                                                                    int n, struct batch_keys *bk,
                                                                    int32_t *hash)
{
	for (int r = 0; r < n; r++) {
		bk->len[r] =
		    (uint8_t)encode_simple_key(rows[r], op->node->key.fields[0], bk->key[r],
		                               sizeof bk->key[r], hash ? &hash[r] : NULL);
		bk->hint[r] = 0;
	}
}

/* Step a of a batch's pass (a = 0 .. n + PREFETCH_AHEAD - 1): starts loading the record of
 * row a (see the prefetch contract in state_backend.h: the key group is left unset) and
 * returns the row to process now, PREFETCH_AHEAD rows behind, or -1 for none yet. */
static inline int batch_prefetch_step(struct operator* op, struct batch_keys *bk, int a, int n)
{
	if (a < n && bk->len[a]) {
		struct state_key k = {.state_id = 0, .key = bk->key[a], .key_len = bk->len[a]};
		bk->hint[a] = op->state->ops->prefetch(op->state, &k);
	}
	return a - PREFETCH_AHEAD;
}

static int process_keyed_batch(struct operator* op, const spate_row *const *rows, int n)
{
	struct batch_keys bk;
	if (op->state->ops->entry_count(op->state) < PREFETCH_MIN_ENTRIES)
		return process_each(op, rows, n);
	encode_batch_keys(op, rows, n, &bk, NULL);
	for (int a = 0; a < n + PREFETCH_AHEAD; a++) {
		int r = batch_prefetch_step(op, &bk, a, n);
		if (r < 0)
			continue;
		op->hint_row = bk.len[r] ? rows[r] : NULL;
		op->hint = bk.hint[r];
		int rc = op->process(op, rows[r]);
		op->hint_row = NULL;
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* Slot of field i of a (mutable) row: see the layout in types/row.h. */
/* Adds the int64 at in to the int64 at sum (unaligned-safe; wraps as Java's long does). */
static inline void i64_add_into(uint8_t *sum, const uint8_t *in)
{
	uint64_t a, b;
	memcpy(&a, sum, sizeof a);
	memcpy(&b, in, sizeof b);
	a += b;
	memcpy(sum, &a, sizeof a);
}

static uint64_t *slot_of(void *row, int i)
{
	uint16_t nf = *(uint16_t *)((uint8_t *)row + 4);
	return (uint64_t *)((uint8_t *)row + ROW_HEADER_BYTES + (((size_t)nf + 7) & ~(size_t)7)) +
	       i;
}

static int compare_field(const spate_row *a, const spate_row *b, int f)
{
	switch (spate_row_type(a, f)) {
	case SPATE_DOUBLE: {
		double x = spate_row_double(a, f), y = spate_row_double(b, f);
		return x < y ? -1 : x > y;
	}
	case SPATE_INT32: {
		int32_t x = spate_row_i32(a, f), y = spate_row_i32(b, f);
		return x < y ? -1 : x > y;
	}
	default: {
		int64_t x = spate_row_i64(a, f), y = spate_row_i64(b, f);
		return x < y ? -1 : x > y;
	}
	}
}

/* Folds row into the accumulator of its key (whose state key is k); *out is the row to
 * emit: the accumulator, or the row itself for a new key. Valid until the next state
 * access. (k is read in place: a copy of the struct just built by the caller would load
 * it in 16-byte pieces over its narrower stores, which stalls on every row.) */
static inline __attribute__((always_inline)) int aggregate_fold(struct operator* op,
                                                                const struct state_key *k,
                                                                void *acc, const spate_row *row,
                                                                const spate_row **out)
{
	int rc;
	size_t len;
	struct keyed_state_backend *be = op->state;
	int f = op->node->agg_field;
	const spate_row *accr = (const spate_row *)acc;
	if (op->node->agg == AGG_SUM) {
		/* the common case, an int64 sum with neither side null, in two loads and a store */
		const unsigned char *in = spate__row_slot(row, f, SPATE_INT64);
		unsigned char *sum = (unsigned char *)spate__row_slot(accr, f, SPATE_INT64);
		if (in && sum) {
			i64_add_into(sum, in);
			if (!be->value_mutable &&
			    (rc = be->ops->value_put(be, k, acc, row_size_of(acc))) < 0)
				return state_failed(op, rc);
			*out = accr;
			return 0;
		}
	}
	if (spate_row_is_null(row, f)) {
		*out = accr;
		return 0;
	}
	/* only min/max need the comparison; sum runs once per record without it */
	int cmp = op->node->agg == AGG_SUM     ? 0
	          : spate_row_is_null(accr, f) ? 1
	                                       : compare_field(row, accr, f);
	switch (op->node->agg) {
	case AGG_SUM: {
		uint64_t *s = slot_of(acc, f);
		uint8_t *tag = (uint8_t *)acc + ROW_HEADER_BYTES + f;
		if (*tag & ROW_TAG_NULL) {
			*s = *slot_of((void *)row, f);
			*tag &= (uint8_t)~ROW_TAG_NULL;
			break;
		}
		switch (spate_row_type(accr, f)) {
		case SPATE_DOUBLE: {
			double d;
			memcpy(&d, s, sizeof d);
			d += spate_row_double(row, f);
			memcpy(s, &d, sizeof d);
			break;
		}
		case SPATE_INT32: /* wraps as Java's int does */
			*s = (uint64_t)(int64_t)(int32_t)((uint32_t)*s +
			                                  (uint32_t)spate_row_i32(row, f));
			break;
		default:
			*s = *s + (uint64_t)spate_row_i64(row, f);
			break;
		}
		break;
	}
	case AGG_MIN:
	case AGG_MAX:
		if ((op->node->agg == AGG_MIN && cmp < 0) ||
		    (op->node->agg == AGG_MAX && cmp > 0)) {
			*slot_of(acc, f) = *slot_of((void *)row, f);
			*((uint8_t *)acc + ROW_HEADER_BYTES + f) &= (uint8_t)~ROW_TAG_NULL;
		}
		break;
	case AGG_MIN_BY:
	case AGG_MAX_BY:
		/* The earliest row wins ties, as Flink's default (first = true). */
		if ((op->node->agg == AGG_MIN_BY && cmp < 0) ||
		    (op->node->agg == AGG_MAX_BY && cmp > 0)) {
			if ((rc = be->ops->value_put(be, k, row, row_size_of(row))) < 0 ||
			    (rc = be->ops->value_get(be, k, &acc, &len)) < 0)
				return state_failed(op, rc);
		}
		break;
	}
	/* write back for backends that hand out copies */
	if (!be->value_mutable && (rc = be->ops->value_put(be, k, acc, row_size_of(acc))) < 0)
		return state_failed(op, rc);
	*out = (const spate_row *)acc;
	return 0;
}

static inline __attribute__((always_inline)) int aggregate_row(struct operator* op,
                                                               const struct state_key *k,
                                                               const spate_row *row,
                                                               const spate_row **out)
{
	int rc;
	void *acc;
	size_t len;
	struct keyed_state_backend *be = op->state;
	int found = be->ops->value_get(be, k, &acc, &len);
	if (found < 0)
		return state_failed(op, found);
	if (!found) {
		if ((rc = be->ops->value_put(be, k, row, row_size_of(row))) < 0)
			return state_failed(op, rc);
		*out = row;
		return 0;
	}
	return aggregate_fold(op, k, acc, row, out);
}

static int process_aggregate(struct operator* op, const spate_row *row)
{
	const spate_row *out;
	int rc = set_current_key(op, row);
	if (rc < 0)
		return rc;
	struct state_key k = key_for(op, 0);
	if ((rc = aggregate_row(op, &k, row, &out)) < 0)
		return rc;
	return op_emit(op, out);
}

/* Copies res, a result of the batch, to agg_buf and adds it to outs (*m of them, *used bytes
 * of agg_buf); emits the results gathered so far first when agg_buf is full. */
static inline __attribute__((always_inline)) int
agg_collect(struct operator* op, const spate_row *res, const spate_row **outs, int *m, size_t *used)
{
	int rc;
	size_t size = row_size_of(res);
	if (*used + size > op->agg_cap) {
		if ((rc = op_emit_batch(op, outs, *m)) < 0)
			return rc;
		*m = 0;
		*used = 0;
		if (size > op->agg_cap) { /* first use, or a row larger than all before */
			op->agg_cap = size > 2 * op->agg_cap ? size : 2 * op->agg_cap;
			if (op->agg_cap < 8192)
				op->agg_cap = 8192;
			xfree(op->agg_buf);
			op->agg_buf = xmalloc(op->agg_cap); /* malloc's alignment: 16 */
		}
	}
	row_copy_words(op->agg_buf + *used, (const uint8_t *)res, size);
	outs[(*m)++] = (const spate_row *)(op->agg_buf + *used);
	*used += (size + 7) & ~(size_t)7;
	return 0;
}

/* Whether row p has the header word (size, field count) `head` and a non-null int64 at f. */
static inline bool row_is_i64_shape(const uint8_t *p, uint64_t head, int f)
{
	uint64_t h;
	memcpy(&h, p, sizeof h);
	return h == head && p[ROW_HEADER_BYTES + f] == SPATE_INT64;
}

/* Where field f's slot lies in every row of the batch, if the rows share the first row's
 * header word and all hold a non-null int64 at f; else 0. *head is that header word. */
static inline size_t uniform_i64_slot(const spate_row *const *rows, int n, int f, uint64_t *head)
{
	const uint8_t *p0 = (const uint8_t *)rows[0];
	uint16_t nf;
	memcpy(head, p0, sizeof *head);
	memcpy(&nf, p0 + 4, sizeof nf);
	if ((unsigned)f >= nf)
		return 0;
	for (int r = 0; r < n; r++)
		if (!row_is_i64_shape((const uint8_t *)rows[r], *head, f))
			return 0;
	return (size_t)((uint8_t *)slot_of((void *)p0, f) - p0);
}

/*
 * The batch of process_aggregate_batch when every key is simple, the backend has a batch
 * lookup and values are updated in place, and the aggregation folds without writing state
 * (sum, min, max): one value_get_batch call finds every accumulator. A key that was absent
 * takes aggregate_row (its insert, or a fold into what an earlier row of the batch
 * inserted); an insert that moved records has the rest of the batch looked up again.
 *
 * Only an absent key's key group is computed (and checked against the subtask's range):
 * the state holds no key outside the range (every insert was checked, a restore loads the
 * range only), so a key found there is in range, and a found key needs no key group. That
 * is the murmur hash off the path of every row but a key's first.
 *
 * An int64 sum whose batch rows all have one shape (uniform_i64_slot) adds each row into an
 * accumulator of the same header at the slot found once for the batch, without
 * aggregate_fold's checks of both rows per row; any other accumulator (a null sum, another
 * shape) takes aggregate_fold.
 */
static int aggregate_batch_direct(struct operator* op, const spate_row *const *rows, int n,
                                  const struct batch_keys *bk, const int32_t *hash)
{
	struct keyed_state_backend *be = op->state;
	struct state_key keys[OP_BATCH];
	void *accs[OP_BATCH];
	size_t lens[OP_BATCH];
	const spate_row *outs[OP_BATCH];
	int m = 0, rc;
	size_t used = 0;
	for (int r = 0; r < n; r++)
		keys[r] =
		    (struct state_key){.state_id = 0, .key = bk->key[r], .key_len = bk->len[r]};
	if ((rc = be->ops->value_get_batch(be, keys, n, accs, lens)) < 0)
		return state_failed(op, rc);
	uint64_t moves = be->moves, head = 0;
	int f = op->node->agg_field;
	size_t slot = op->node->agg == AGG_SUM ? uniform_i64_slot(rows, n, f, &head) : 0;
	for (int r = 0; r < n; r++) {
		if (be->moves != moves) {
			rc = be->ops->value_get_batch(be, keys + r, n - r, accs + r, lens + r);
			if (rc < 0)
				return state_failed(op, rc);
			moves = be->moves;
		}
		const spate_row *res;
		uint8_t *acc = accs[r];
		if (acc && slot && row_is_i64_shape(acc, head, f)) {
			i64_add_into(acc + slot, (const uint8_t *)rows[r] + slot);
			res = (const spate_row *)acc;
			rc = 0;
		} else if (acc) {
			rc = aggregate_fold(op, &keys[r], acc, rows[r], &res);
		} else {
			if ((rc = keys[r].key_group = key_group_checked(op, hash[r])) < 0)
				return rc;
			rc = aggregate_row(op, &keys[r], rows[r], &res);
		}
		if (rc < 0 || (rc = agg_collect(op, res, outs, &m, &used)) < 0)
			return rc;
	}
	return op_emit_batch(op, outs, m);
}

/*
 * A batch through a built-in aggregation (sum, min, max, min_by, max_by) on a backend that
 * prefetches: first every simple key (see encode_simple_key) is encoded once and its key
 * group checked; then each row's record is prefetched PREFETCH_AHEAD rows before the row
 * is folded in, with the table hash kept as the lookup's hint, and its result copied to agg_buf,
 * and the results go on as a batch. They are copied because an accumulator changes with the next
 * row of its key and may move when another key is inserted. No user function runs here, so nothing
 * needs the current key set; rows with other keys take set_current_key's path in place.
 * A batch of simple keys only, on a backend with value_get_batch, goes to
 * aggregate_batch_direct instead.
 */
static int process_aggregate_batch(struct operator* op, const spate_row *const *rows, int n)
{
	struct batch_keys bk;
	int32_t hash[OP_BATCH];
	int kgs[OP_BATCH];
	const spate_row *outs[OP_BATCH];
	int m = 0, rc;
	size_t used = 0;
	bool all_simple = true;
	encode_batch_keys(op, rows, n, &bk, hash);
	for (int r = 0; r < n; r++)
		all_simple &= bk.len[r] != 0;
	enum agg_kind agg = op->node->agg;
	if (all_simple && op->state->value_mutable && op->state->ops->value_get_batch &&
	    (agg == AGG_SUM || agg == AGG_MIN || agg == AGG_MAX))
		return aggregate_batch_direct(op, rows, n, &bk, hash);
	for (int r = 0; r < n; r++) /* unused for rows with other keys (len 0) */
		if ((kgs[r] = bk.len[r] ? key_group_checked(op, hash[r]) : 0) < 0)
			return kgs[r];
	for (int a = 0; a < n + PREFETCH_AHEAD; a++) {
		int r = batch_prefetch_step(op, &bk, a, n);
		if (r < 0)
			continue;
		struct state_key k = {.state_id = 0,
		                      .key = bk.key[r],
		                      .key_len = bk.len[r],
		                      .key_group = kgs[r],
		                      .has_hint = true,
		                      .hint = bk.hint[r]};
		if (!bk.len[r]) {
			if ((rc = set_current_key(op, rows[r])) < 0)
				return rc;
			k = key_for(op, 0);
		}
		const spate_row *res;
		if ((rc = aggregate_row(op, &k, rows[r], &res)) < 0 ||
		    (rc = agg_collect(op, res, outs, &m, &used)) < 0)
			return rc;
	}
	return op_emit_batch(op, outs, m);
}

static int resolve(struct task *t, struct operator* op, void *lib, const char *name, void **out)
{
	void *h = lib ? lib : RTLD_DEFAULT;
	*out = dlsym(h, name);
	if (!*out) {
		task_fail(t, op, SPATE_ELOAD, "cannot find function '%s' in the job library", name);
		return SPATE_ELOAD;
	}
	return 0;
}

/* Computes the key hash of a row for a HASH partition keyed by a selector function: runs
 * the selector in the producing operator's context and hashes the key row it builds. */
struct key_extractor {
	struct operator* op; /* borrowed: the producing operator */
	spate_key_fn fn;
	const char *fn_name; /* borrowed from the stream edge */
	struct spate_row_builder b;
};

static int extract_key_hash(void *arg, const spate_row *row, int32_t *hash)
{
	struct key_extractor *x = arg;
	row_builder_begin(&x->b);
	int rc = x->fn(&x->op->ctx, row, &x->b);
	if (rc < 0)
		return op_user_failed(x->op, rc, "key selector", x->fn_name);
	const spate_row *key = row_builder_done(&x->b);
	if (!key)
		return op_builder_failed(x->op, &x->b, "key");
	*hash = key_hash_row(key);
	return 0;
}

static int add_key_extractor(struct task *t, struct operator* op, void *lib,
                             const struct stream_edge *se, struct result_partition *rp)
{
	void *p;
	int rc = resolve(t, op, lib, se->key.selector_fn, &p);
	if (rc < 0)
		return rc;
	struct key_extractor *x = xcalloc(1, sizeof *x);
	x->op = op;
	memcpy(&x->fn, &p, sizeof p);
	x->fn_name = se->key.selector_fn;
	row_builder_init(&x->b, se->key.key_schema);
	op->extractors =
	    xrealloc(op->extractors, (size_t)(op->nextractors + 1) * sizeof *op->extractors);
	op->extractors[op->nextractors++] = x;
	rp->key_hash = extract_key_hash;
	rp->key_hash_arg = x;
	return 0;
}

/* How each operator kind processes an input row. */
static int (*const process_of[])(struct operator*, const spate_row *) = {
    [OP_MAP] = process_map,           [OP_FLAT_MAP] = process_flat_map,
    [OP_FILTER] = process_filter,     [OP_PROCESS] = process_process,
    [OP_REDUCE] = process_reduce,     [OP_AGGREGATE] = process_aggregate,
    [OP_SINK_PRINT] = sink_process,   [OP_SINK_TEXT] = sink_process,
    [OP_SINK_COLLECT] = sink_process, [OP_SINK_FUNCTION] = sink_function_process,
};

/* ---- setup -------------------------------------------------------------------------------- */

/* The keyed state backend of a keyed operator, restored from the task's checkpoint state
 * when it has some. */
static int setup_state(struct task *t, struct operator* op)
{
	struct local_job *job = t->job;
	const char *type = job->ckpt.backend[0] ? job->ckpt.backend : "hashmap";
	char *dir = NULL;
	if (job->ckpt.state_dir)
		dir = xasprintf("%s/%s-%d-%d-%d", job->ckpt.state_dir, t->ev->job_vertex->id,
		                t->ev->subtask, op->node->id, t->attempt);
	struct spate_error err = {0};
	op->state =
	    state_backend_new(type, t->ev->key_group_first, t->ev->key_group_last, dir, &err);
	xfree(dir);
	if (!op->state) {
		task_fail(t, op, SPATE_EIO, "cannot create the '%s' state backend: %s", type,
		          err.msg);
		return SPATE_EIO;
	}
	const Spate__Rpc__OperatorRestore *r = op->restore;
	if (!r || r->n_keyed == 0)
		return 0;
	struct keyed_state_handle *h = xcalloc(r->n_keyed, sizeof *h);
	int rc = 0;
	size_t n = 0;
	for (; n < r->n_keyed && rc == 0; n++)
		rc = checkpoint_handle_from_msg(r->keyed[n], &h[n], &err);
	if (rc == 0)
		rc = op->state->ops->restore(op->state, t->restore->base_dir, h, (int)n, &err);
	for (size_t i = 0; i < n; i++)
		keyed_state_handle_release(&h[i]);
	xfree(h);
	if (rc < 0) {
		task_fail(t, op, rc, "cannot restore its state from checkpoint %lld: %s",
		          (long long)t->restore->checkpoint_id, err.msg);
		return rc;
	}
	return 0;
}

int task_setup_operators(struct task *t, void *lib)
{
	struct job_vertex *jv = t->ev->job_vertex;
	int rc;
	snprintf(t->sink_token, sizeof t->sink_token, "%08x",
	         (unsigned)(XXH64(t->attempt_id, strlen(t->attempt_id),
	                          (uint64_t)metrics_now_ns() ^ (uint64_t)(uintptr_t)t) &
	                    0xffffffffu));
	for (int i = 0; i < t->nops; i++) {
		struct operator* op = & t->ops[i];
		struct stream_node *n = op->node;
		op->ctx.op = op;
		op->collector.op = op;
		op->task = t;
		stream_node_operator_id(n, op->operator_id, sizeof op->operator_id);
		for (size_t r = 0; t->restore && r < t->restore->n_operators; r++)
			if (strcmp(t->restore->operators[r]->operator_id, op->operator_id) == 0)
				op->restore = t->restore->operators[r];
		if (op->restore && op->restore->finished)
			t->finished_state = true;
		if (n->fn_name && (rc = resolve(t, op, lib, n->fn_name, &op->fn)) < 0)
			return rc;
		if (n->end_fn_name) {
			void *p;
			if ((rc = resolve(t, op, lib, n->end_fn_name, &p)) < 0)
				return rc;
			memcpy(&op->end_fn, &p, sizeof p);
		}
		if (n->out_schema)
			row_builder_init(&op->out, n->out_schema);
		if (n->keyed) {
			row_builder_init(&op->key_builder, n->key.key_schema);
			if (n->key.selector_fn) {
				void *p;
				if ((rc = resolve(t, op, lib, n->key.selector_fn, &p)) < 0)
					return rc;
				memcpy(&op->key_fn, &p, sizeof p);
			}
			if ((rc = setup_state(t, op)) < 0)
				return rc;
		}
		op->process = process_of[n->kind]; /* NULL for sources: they have no input */
		op->process_batch = n->kind == OP_FILTER          ? process_filter_batch
		                    : n->kind == OP_SINK_FUNCTION ? sink_function_batch
		                                                  : process_each;
		op->batch_rows = xcalloc(OP_BATCH, sizeof *op->batch_rows);
		if ((n->kind == OP_MAP || n->kind == OP_SOURCE_GENERATOR) && n->out_schema &&
		    op->out.fixed_width) {
			op->batch_buf = xmalloc(OP_BATCH * op->out.fixed_size);
			if (n->kind == OP_MAP)
				op->process_batch = process_map_batch;
		}
		if ((n->kind == OP_REDUCE || n->kind == OP_AGGREGATE) && !n->keyed) {
			task_fail(t, op, SPATE_EGRAPH, "operator needs a keyed input");
			return SPATE_EGRAPH;
		}
		if ((n->kind == OP_REDUCE || n->kind == OP_AGGREGATE) && op->state->ops->prefetch &&
		    !op->key_fn && n->key.nfields == 1)
			op->process_batch =
			    n->kind == OP_AGGREGATE ? process_aggregate_batch : process_keyed_batch;
		/* Outputs: chained successors are in this vertex; the rest are job edges. */
		for (int e = 0; e < n->nout; e++) {
			struct stream_edge *se = n->out_edges[e];
			if (se->target->vertex_index == jv->index) {
				struct operator* succ = NULL;
				for (int j = 0; j < t->nops; j++)
					if (t->ops[j].node == se->target)
						succ = &t->ops[j];
				op->chained = xrealloc(op->chained, (size_t)(op->nchained + 1) *
				                                        sizeof *op->chained);
				op->chained[op->nchained++] = succ;
			} else {
				struct job_edge *je = job_graph_find_edge(t->job->jg, se);
				op->partitions =
				    xrealloc(op->partitions, (size_t)(op->npartitions + 1) *
				                                 sizeof *op->partitions);
				struct result_partition *rp = &t->partitions[je->source_output];
				op->partitions[op->npartitions++] = rp;
				if (se->partitioner == PART_HASH && se->key.selector_fn &&
				    (rc = add_key_extractor(t, op, lib, se, rp)) < 0)
					return rc;
			}
		}
	}
	for (int i = 0; i < t->nops; i++)
		if (op_kind_is_sink(t->ops[i].node->kind) &&
		    ((rc = sink_open(&t->ops[i])) < 0 || (rc = sink_restore(&t->ops[i])) < 0))
			return rc;
	return 0;
}

void task_release_operators(struct task *t)
{
	for (int i = 0; i < t->nops; i++) {
		struct operator* op = & t->ops[i];
		if (op->node->out_schema)
			row_builder_release(&op->out);
		xfree(op->batch_rows);
		xfree(op->batch_buf);
		xfree(op->agg_buf);
		op->batch_rows = NULL;
		op->batch_buf = NULL;
		op->agg_buf = NULL;
		op->agg_cap = 0;
		if (op->node->keyed)
			row_builder_release(&op->key_builder);
		if (op->state)
			op->state->ops->free(op->state);
		for (int s = 0; s < op->nstates; s++) {
			xfree(op->states[s]->name);
			xfree(op->states[s]);
		}
		xfree(op->states);
		for (int s = 0; s < op->nsplits; s++)
			xfree(op->splits[s].path);
		xfree(op->splits);
		xfree(op->chained);
		xfree(op->partitions);
		xfree(op->key_buf);
		xfree(op->acc_copy);
		for (int x = 0; x < op->nextractors; x++) {
			row_builder_release(&op->extractors[x]->b);
			xfree(op->extractors[x]);
		}
		xfree(op->extractors);
	}
}

/* ---- the public runtime API -------------------------------------------------------------- */

spate_row_builder *spate_collect_begin(spate_collector *out)
{
	struct operator* op = out->op;
	row_builder_begin(&op->out);
	op->out_open = true;
	return &op->out;
}

int spate_collect_emit(spate_collector *out)
{
	struct operator* op = out->op;
	if (!op->out_open)
		return spate_ctx_fail(&op->ctx, "spate_collect_emit without spate_collect_begin");
	op->out_open = false;
	return emit_built(op);
}

int spate_collect_row(spate_collector *out, const spate_row *row)
{
	struct operator* op = out->op;
	if (!row)
		return spate_ctx_fail(&op->ctx, "spate_collect_row: row is NULL");
	const struct schema *s = op->node->out_schema;
	if (!s || spate_row_field_count(row) != s->nfields)
		return spate_ctx_fail(&op->ctx,
		                      "spate_collect_row: row has %d fields, the output "
		                      "schema '%s' has %d",
		                      spate_row_field_count(row), s ? s->text : "",
		                      s ? s->nfields : 0);
	return op_emit(op, row);
}

int spate_ctx_subtask_index(const spate_ctx *ctx)
{
	return ctx->op->task->ev->subtask;
}

int spate_ctx_parallelism(const spate_ctx *ctx)
{
	return ctx->op->task->ev->job_vertex->parallelism;
}

int spate_ctx_max_parallelism(const spate_ctx *ctx)
{
	return ctx->op->task->ev->job_vertex->max_parallelism;
}

const char *spate_ctx_param(const spate_ctx *ctx, const char *key)
{
	const struct stream_node *n = ctx->op->node;
	for (int i = 0; key && i < n->nparams; i++)
		if (strcmp(n->params[i].key, key) == 0)
			return n->params[i].value;
	return NULL;
}

const spate_row *spate_ctx_current_key(const spate_ctx *ctx)
{
	struct operator* op = ctx->op;
	if (!op->node->keyed || !op->cur_input)
		return NULL;
	if (!op->cur_key)
		op->cur_key = build_key_row(op, op->cur_input);
	return op->cur_key;
}

/* In parentheses: spate.h also defines the inline form as a macro of this name. */
void **(spate_ctx_user_data)(spate_ctx *ctx)
{
	return &ctx->user_data;
}
_Static_assert(offsetof(struct spate_ctx, user_data) == offsetof(struct spate_ctx_head, user_data),
               "spate.h's struct spate_ctx_head must match struct spate_ctx");

int spate_ctx_fail(spate_ctx *ctx, const char *fmt, ...)
{
	/* The latest message wins: it belongs to the failure the caller is about to return. */
	struct task *t = ctx->op->task;
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	xfree(t->user_msg);
	t->user_msg = xstrdup(buf);
	return SPATE_EUSER;
}

void spate_ctx_log(spate_ctx *ctx, int level, const char *fmt, ...)
{
	if (level < log_min_level)
		return;
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	log_write(level, "%s (%s): %s", ctx->op->node->name, ctx->op->task->name, buf);
}

/* A state's id: FNV-1a of its name, never 0 (the reduce and aggregate operators' own
 * accumulator), so that a restored checkpoint finds it whatever order states are first
 * used in. */
static uint32_t state_id_of(const char *name)
{
	uint32_t h = 2166136261u;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		h = (h ^ *p) * 16777619u;
	return h ? h : 1;
}

struct state_handle *op_state_handle(spate_ctx *ctx, const char *name, enum state_kind kind)
{
	struct operator* op = ctx->op;
	if (!op->node->keyed || !op->state) {
		spate_ctx_fail(ctx, "state '%s' used outside a keyed stream", name ? name : "");
		return NULL;
	}
	if (!name)
		return NULL;
	for (int i = 0; i < op->nstates; i++)
		if (strcmp(op->states[i]->name, name) == 0) {
			if (op->states[i]->kind != kind) {
				spate_ctx_fail(ctx, "state '%s' is used as two kinds of state",
				               name);
				return NULL;
			}
			return op->states[i];
		}
	uint32_t id = state_id_of(name);
	for (int i = 0; i < op->nstates; i++)
		if (op->states[i]->id == id) {
			spate_ctx_fail(ctx, "state names '%s' and '%s' collide: rename one", name,
			               op->states[i]->name);
			return NULL;
		}
	struct state_handle *h = xcalloc(1, sizeof *h);
	h->op = op;
	h->name = xstrdup(name);
	h->kind = kind;
	h->id = id;
	op->states = xrealloc(op->states, (size_t)(op->nstates + 1) * sizeof *op->states);
	op->states[op->nstates++] = h;
	return h;
}

spate_value_state *spate_ctx_value_state(spate_ctx *ctx, const char *name)
{
	return (spate_value_state *)op_state_handle(ctx, name, STATE_VALUE);
}

spate_map_state *spate_ctx_map_state(spate_ctx *ctx, const char *name)
{
	return (spate_map_state *)op_state_handle(ctx, name, STATE_MAP);
}

#define HANDLE(s) ((struct state_handle *)(s))

int spate_value_get(spate_value_state *s, const void **val, size_t *len)
{
	if (!s)
		return SPATE_EINVAL;
	struct operator* op = HANDLE(s)->op;
	struct state_key k = key_for(op, HANDLE(s)->id);
	void *v;
	size_t l;
	int rc = op->state->ops->value_get(op->state, &k, &v, &l);
	if (rc <= 0)
		return rc;
	*val = v;
	if (len)
		*len = l;
	return 1;
}

int spate_value_put(spate_value_state *s, const void *val, size_t len)
{
	if (!s)
		return SPATE_EINVAL;
	struct operator* op = HANDLE(s)->op;
	struct state_key k = key_for(op, HANDLE(s)->id);
	return op->state->ops->value_put(op->state, &k, val, len);
}

int spate_value_clear(spate_value_state *s)
{
	if (!s)
		return SPATE_EINVAL;
	struct operator* op = HANDLE(s)->op;
	struct state_key k = key_for(op, HANDLE(s)->id);
	return op->state->ops->value_remove(op->state, &k);
}

int spate_value_get_i64(spate_value_state *s, int64_t *out)
{
	const void *v;
	size_t len;
	int rc = spate_value_get(s, &v, &len);
	if (rc <= 0)
		return rc;
	if (len != sizeof *out)
		return SPATE_ECORRUPT;
	memcpy(out, v, sizeof *out);
	return 1;
}

int spate_value_put_i64(spate_value_state *s, int64_t v)
{
	return spate_value_put(s, &v, sizeof v);
}

int spate_map_get(spate_map_state *s, const void *ukey, size_t uklen, const void **val, size_t *len)
{
	if (!s)
		return SPATE_EINVAL;
	struct operator* op = HANDLE(s)->op;
	struct state_key k = key_for(op, HANDLE(s)->id);
	void *v;
	size_t l;
	int rc = op->state->ops->map_get(op->state, &k, ukey, uklen, &v, &l);
	if (rc <= 0)
		return rc;
	*val = v;
	if (len)
		*len = l;
	return 1;
}

int spate_map_put(spate_map_state *s, const void *ukey, size_t uklen, const void *val, size_t len)
{
	if (!s)
		return SPATE_EINVAL;
	struct operator* op = HANDLE(s)->op;
	struct state_key k = key_for(op, HANDLE(s)->id);
	return op->state->ops->map_put(op->state, &k, ukey, uklen, val, len);
}

int spate_map_remove(spate_map_state *s, const void *ukey, size_t uklen)
{
	if (!s)
		return SPATE_EINVAL;
	struct operator* op = HANDLE(s)->op;
	struct state_key k = key_for(op, HANDLE(s)->id);
	return op->state->ops->map_remove(op->state, &k, ukey, uklen);
}

int spate_map_iterate(spate_map_state *s, spate_map_visit_fn fn, void *arg)
{
	if (!s || !fn)
		return SPATE_EINVAL;
	struct operator* op = HANDLE(s)->op;
	struct state_key k = key_for(op, HANDLE(s)->id);
	return op->state->ops->map_iterate(op->state, &k, fn, arg);
}

size_t spate_map_size(spate_map_state *s)
{
	if (!s)
		return 0;
	struct operator* op = HANDLE(s)->op;
	struct state_key k = key_for(op, HANDLE(s)->id);
	return op->state->ops->map_size(op->state, &k);
}
