/* result.c - the job result handed back to the entry point (see result.h). */
#include "api/result.h"

#include <string.h>

#include "core/alloc.h"
#include "types/row.h"

spate_result *result_new(void)
{
	spate_result *r = xcalloc(1, sizeof *r);
	pthread_mutex_init(&r->mu, NULL);
	return r;
}

static struct collected *find_set(const spate_result *r, const char *name)
{
	for (int i = 0; i < r->nsets; i++)
		if (strcmp(r->sets[i].name, name) == 0)
			return &r->sets[i];
	return NULL;
}

void result_add_row(spate_result *r, const char *name, const spate_row *row)
{
	size_t size = row_size_of(row);
	uint8_t *copy = xmalloc(size);
	memcpy(copy, row, size);
	pthread_mutex_lock(&r->mu);
	struct collected *c = find_set(r, name);
	if (!c) {
		r->sets = xrealloc(r->sets, (size_t)(r->nsets + 1) * sizeof *r->sets);
		c = &r->sets[r->nsets++];
		memset(c, 0, sizeof *c);
		c->name = xstrdup(name);
	}
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 64;
		c->rows = xrealloc(c->rows, c->cap * sizeof *c->rows);
	}
	c->rows[c->n++] = copy;
	pthread_mutex_unlock(&r->mu);
}

size_t spate_result_count(const spate_result *r, const char *name)
{
	const struct collected *c = r && name ? find_set(r, name) : NULL;
	return c ? c->n : 0;
}

const spate_row *spate_result_row(const spate_result *r, const char *name, size_t i)
{
	const struct collected *c = r && name ? find_set(r, name) : NULL;
	return c && i < c->n ? (const spate_row *)c->rows[i] : NULL;
}

int64_t spate_result_runtime_ms(const spate_result *r)
{
	return r ? r->runtime_ms : 0;
}

void spate_result_free(spate_result *r)
{
	if (!r)
		return;
	for (int i = 0; i < r->nsets; i++) {
		for (size_t j = 0; j < r->sets[i].n; j++)
			xfree(r->sets[i].rows[j]);
		xfree(r->sets[i].rows);
		xfree(r->sets[i].name);
	}
	xfree(r->sets);
	pthread_mutex_destroy(&r->mu);
	xfree(r);
}
