/*
 * state_api.c - list and reducing keyed state (spate_list_*, spate_reducing_*) on top of the
 * state backends' value operations; value and map state are in operator.c.
 *
 * To a backend, both are plain values under the state's id and the current key, so every
 * backend stores, snapshots and restores them without knowing about them.
 *
 * A list is its elements back to back, each a u32 little-endian length and the bytes, in
 * insertion order. spate_list_add appends one element with value_append (in place on the
 * heap, a merge on RocksDB), never rewriting the list; iterating walks it, checking every
 * length against what is left (a list restored from a checkpoint is data from disk).
 *
 * Reducing state is the accumulator itself. On a backend with value_mutable (the heap) the
 * reduce function works on the stored value in place; otherwise on a copy that is put back.
 */
#include "spate/spate.h"

#include <stdint.h>
#include <string.h>

#include "core/alloc.h"
/* task.h names RPC types without including their header (yet). */
#include "proto/rpc.pb-c.h"
#include "runtime/task.h"

#define LIST_LEN_BYTES 4
#define STACK_BYTES 256

#define HANDLE(s) ((struct state_handle *)(s))

static void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* ---- list state ---------------------------------------------------------------------------- */

spate_list_state *spate_ctx_list_state(spate_ctx *ctx, const char *name)
{
	return (spate_list_state *)op_state_handle(ctx, name, STATE_LIST);
}

int spate_list_add(spate_list_state *s, const void *val, size_t len)
{
	if (!s || (!val && len))
		return SPATE_EINVAL;
	if (len > UINT32_MAX - LIST_LEN_BYTES)
		return SPATE_ERANGE;
	struct operator* op = HANDLE(s)->op;
	struct state_key k = op_state_key(op, HANDLE(s)->id);
	/* One append of length and bytes together: one merge operand on RocksDB. */
	uint8_t stack[STACK_BYTES];
	size_t n = LIST_LEN_BYTES + len;
	uint8_t *buf = n <= sizeof stack ? stack : xmalloc(n);
	put_le32(buf, (uint32_t)len);
	if (len)
		memcpy(buf + LIST_LEN_BYTES, val, len);
	int rc = op->state->ops->value_append(op->state, &k, buf, n);
	if (buf != stack)
		xfree(buf);
	return rc;
}

/* Walks the encoded list (data, n): calls fn per element (if fn), counts them into *count.
 * SPATE_ECORRUPT if a length runs past the end. */
static int list_walk(const uint8_t *data, size_t n, spate_map_visit_fn fn, void *arg, size_t *count)
{
	size_t off = 0;
	*count = 0;
	while (off < n) {
		if (n - off < LIST_LEN_BYTES)
			return SPATE_ECORRUPT;
		size_t len = get_le32(data + off);
		off += LIST_LEN_BYTES;
		if (len > n - off)
			return SPATE_ECORRUPT;
		(*count)++;
		if (fn) {
			int rc = fn(arg, NULL, 0, data + off, len);
			if (rc)
				return rc;
		}
		off += len;
	}
	return 0;
}

int spate_list_iterate(spate_list_state *s, spate_map_visit_fn fn, void *arg)
{
	if (!s || !fn)
		return SPATE_EINVAL;
	struct state_handle *h = HANDLE(s);
	struct operator* op = h->op;
	struct state_key k = op_state_key(op, h->id);
	void *v;
	size_t n, count;
	int rc = op->state->ops->value_get(op->state, &k, &v, &n);
	if (rc <= 0)
		return rc;
	/* fn may use state, which may move or reuse the backend's copy: walk our own. */
	uint8_t *copy = xmalloc(n ? n : 1);
	memcpy(copy, v, n);
	rc = list_walk(copy, n, fn, arg, &count);
	xfree(copy);
	if (rc == SPATE_ECORRUPT)
		return spate_ctx_fail(&op->ctx, "list state '%s' is corrupt", h->name);
	return rc;
}

size_t spate_list_size(spate_list_state *s)
{
	if (!s)
		return 0;
	struct operator* op = HANDLE(s)->op;
	struct state_key k = op_state_key(op, HANDLE(s)->id);
	void *v;
	size_t n, count = 0;
	if (op->state->ops->value_get(op->state, &k, &v, &n) <= 0)
		return 0;
	list_walk(v, n, NULL, NULL, &count);
	return count;
}

int spate_list_clear(spate_list_state *s)
{
	if (!s)
		return SPATE_EINVAL;
	struct operator* op = HANDLE(s)->op;
	struct state_key k = op_state_key(op, HANDLE(s)->id);
	return op->state->ops->value_remove(op->state, &k);
}

/* ---- reducing state ------------------------------------------------------------------------ */

spate_reducing_state *spate_ctx_reducing_state(spate_ctx *ctx, const char *name,
                                               spate_state_reduce_fn fn)
{
	struct state_handle *h = op_state_handle(ctx, name, STATE_REDUCING);
	if (!h)
		return NULL;
	if (!fn) {
		spate_ctx_fail(ctx, "reducing state '%s' needs a reduce function", name);
		return NULL;
	}
	/* A function pointer kept in a void *: copied bytewise as operator.c does. */
	memcpy(&h->reduce_fn, &fn, sizeof fn);
	return (spate_reducing_state *)h;
}

int spate_reducing_add(spate_reducing_state *s, const void *val, size_t len)
{
	if (!s || (!val && len))
		return SPATE_EINVAL;
	struct state_handle *h = HANDLE(s);
	struct operator* op = h->op;
	struct keyed_state_backend *be = op->state;
	struct state_key k = op_state_key(op, h->id);
	void *acc;
	size_t n;
	int rc = be->ops->value_get(be, &k, &acc, &n);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return be->ops->value_put(be, &k, val, len);
	if (n != len)
		return spate_ctx_fail(
		    &op->ctx,
		    "reducing state '%s' holds a value of %zu bytes: cannot reduce "
		    "one of %zu bytes into it",
		    h->name, n, len);
	spate_state_reduce_fn fn;
	memcpy(&fn, &h->reduce_fn, sizeof fn);
	/* A state call fn makes may move the backend's values (heap) or reuse its copy
	 * (RocksDB): reduce into our own, then write it back in place if nothing moved. */
	uint8_t stack[STACK_BYTES];
	uint8_t *tmp = len <= sizeof stack ? stack : xmalloc(len);
	memcpy(tmp, acc, len);
	uint64_t moves = be->moves;
	rc = fn(&op->ctx, tmp, val, len);
	if (rc >= 0 && be->value_mutable && be->moves == moves)
		memcpy(acc, tmp, len);
	else if (rc >= 0)
		rc = be->ops->value_put(be, &k, tmp, len);
	if (tmp != stack)
		xfree(tmp);
	return rc < 0 ? rc : 0;
}

int spate_reducing_get(spate_reducing_state *s, const void **val, size_t *len)
{
	if (!s || !val)
		return SPATE_EINVAL;
	struct operator* op = HANDLE(s)->op;
	struct state_key k = op_state_key(op, HANDLE(s)->id);
	void *v;
	size_t n;
	int rc = op->state->ops->value_get(op->state, &k, &v, &n);
	if (rc <= 0)
		return rc;
	*val = v;
	if (len)
		*len = n;
	return 1;
}

int spate_reducing_clear(spate_reducing_state *s)
{
	if (!s)
		return SPATE_EINVAL;
	struct operator* op = HANDLE(s)->op;
	struct state_key k = op_state_key(op, HANDLE(s)->id);
	return op->state->ops->value_remove(op->state, &k);
}
