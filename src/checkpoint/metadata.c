/*
 * metadata.c - writing and reading `_metadata` files (see metadata.h). The reader treats the
 * file as untrusted bytes: a restore from a damaged checkpoint must end in an error naming
 * the file, never in a crash or in state silently taken from garbage.
 */
#include "checkpoint/metadata.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "core/alloc.h"
#include "graph/execution_graph.h"

#define HEADER_LEN 8  /* magic + version */
#define TRAILER_LEN 8 /* XXH64 */
#define MAX_METADATA_BYTES (1u << 30)

static void put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The generic protobuf-c calls accept a message built by a program linked to this library,
 * whose descriptor may be a copy (copy relocation) that the generated ones would reject. */
uint8_t *checkpoint_metadata_encode(const checkpoint_metadata *m, size_t *len)
{
	size_t body = protobuf_c_message_get_packed_size(&m->base);
	size_t n = HEADER_LEN + body + TRAILER_LEN;
	uint8_t *buf = xmalloc(n);
	memcpy(buf, CHECKPOINT_METADATA_MAGIC, 4);
	put_u32(buf + 4, CHECKPOINT_FORMAT_VERSION);
	protobuf_c_message_pack(&m->base, buf + HEADER_LEN);
	checkpoint_put_u64(buf + HEADER_LEN + body, XXH64(buf, HEADER_LEN + body, 0));
	*len = n;
	return buf;
}

int checkpoint_metadata_write(const char *dir, const checkpoint_metadata *m,
                              struct spate_error *err)
{
	size_t len;
	uint8_t *buf = checkpoint_metadata_encode(m, &len);
	char *path = checkpoint_path_join(dir, CHECKPOINT_METADATA_NAME);
	int rc = checkpoint_write_file(path, buf, len, err);
	xfree(path);
	xfree(buf);
	return rc;
}

void checkpoint_metadata_free(checkpoint_metadata *m)
{
	if (m)
		spate__ckpt__checkpoint_metadata_msg__free_unpacked(m, NULL);
}

static int corrupt(struct spate_error *err, const char *name, const char *why)
{
	return error_set(err, SPATE_ECORRUPT, "checkpoint metadata '%s' is corrupt: %s", name, why);
}

/* The semantic checks after a successful parse. */
static int check(const checkpoint_metadata *m, const char *name, struct spate_error *err)
{
	char why[512];
	if (m->checkpoint_id <= 0)
		return corrupt(err, name, "bad checkpoint id");
	if (m->kind > CKPT_KIND_FINAL)
		return corrupt(err, name, "unknown checkpoint kind");
	for (size_t i = 0; i < m->n_operators; i++) {
		const Spate__Ckpt__OperatorStateMsg *op = m->operators[i];
		if (!op->operator_id || !*op->operator_id)
			return corrupt(err, name, "an operator without an id");
		if (op->parallelism < 1 || op->max_parallelism < op->parallelism ||
		    op->max_parallelism > 32768) {
			snprintf(why, sizeof why,
			         "operator '%.200s' has parallelism %u and max parallelism %u",
			         op->operator_id, op->parallelism, op->max_parallelism);
			return corrupt(err, name, why);
		}
		for (size_t j = 0; j < i; j++)
			if (strcmp(m->operators[j]->operator_id, op->operator_id) == 0) {
				snprintf(why, sizeof why, "operator '%.200s' appears twice",
				         op->operator_id);
				return corrupt(err, name, why);
			}
		for (size_t s = 0; s < op->n_subtasks; s++) {
			const Spate__Ckpt__OperatorSubtaskStateMsg *st = op->subtasks[s];
			if (st->subtask >= op->parallelism) {
				snprintf(why, sizeof why, "operator '%.200s' has subtask %u of %u",
				         op->operator_id, st->subtask, op->parallelism);
				return corrupt(err, name, why);
			}
			if (!st->keyed)
				continue;
			struct keyed_state_handle h;
			struct spate_error e = {0};
			if (checkpoint_handle_from_msg(st->keyed, &h, &e) < 0) {
				snprintf(why, sizeof why, "operator '%.200s' subtask %u: %.250s",
				         op->operator_id, st->subtask, e.msg);
				return corrupt(err, name, why);
			}
			bool range_ok = h.key_group_last < (int)op->max_parallelism;
			keyed_state_handle_release(&h);
			if (!range_ok) {
				snprintf(
				    why, sizeof why,
				    "operator '%.200s' subtask %u has key groups beyond its max "
				    "parallelism %u",
				    op->operator_id, st->subtask, op->max_parallelism);
				return corrupt(err, name, why);
			}
		}
	}
	return 0;
}

int checkpoint_metadata_decode(const uint8_t *buf, size_t len, const char *name,
                               checkpoint_metadata **out, struct spate_error *err)
{
	*out = NULL;
	if (len < HEADER_LEN + TRAILER_LEN)
		return corrupt(err, name, "truncated");
	if (memcmp(buf, CHECKPOINT_METADATA_MAGIC, 4) != 0)
		return corrupt(err, name, "not a Spate checkpoint metadata file (bad magic)");
	uint32_t version = get_u32(buf + 4);
	if (version != CHECKPOINT_FORMAT_VERSION) {
		char why[96];
		snprintf(why, sizeof why, "format version %u, expected %u", version,
		         CHECKPOINT_FORMAT_VERSION);
		return corrupt(err, name, why);
	}
	size_t body = len - HEADER_LEN - TRAILER_LEN;
	if (checkpoint_get_u64(buf + len - TRAILER_LEN) != XXH64(buf, len - TRAILER_LEN, 0))
		return corrupt(err, name, "checksum mismatch");
	checkpoint_metadata *m =
	    spate__ckpt__checkpoint_metadata_msg__unpack(NULL, body, buf + HEADER_LEN);
	if (!m)
		return corrupt(err, name, "cannot decode its content");
	int rc = check(m, name, err);
	if (rc < 0) {
		checkpoint_metadata_free(m);
		return rc;
	}
	*out = m;
	return 0;
}

/* "file:///x" and "file:/x" are the local path "/x" (Flink users write URIs). */
static const char *strip_scheme(const char *p)
{
	if (strncmp(p, "file://", 7) == 0)
		return p + 7;
	if (strncmp(p, "file:/", 6) == 0)
		return p + 5;
	return p;
}

static int read_all(const char *file, uint8_t **data, size_t *len, struct spate_error *err)
{
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return error_set(err, errno == ENOENT ? SPATE_ENOENT : SPATE_EIO,
		                 "cannot open checkpoint metadata '%s': %s", file, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) != 0) {
		int e = errno;
		close(fd);
		return error_set(err, SPATE_EIO, "cannot read checkpoint metadata '%s': %s", file,
		                 strerror(e));
	}
	if (!S_ISREG(st.st_mode) || st.st_size > MAX_METADATA_BYTES) {
		close(fd);
		return error_set(err, SPATE_ECORRUPT,
		                 "checkpoint metadata '%s' is not a regular file of at most 1 GiB",
		                 file);
	}
	uint8_t *buf = xmalloc((size_t)st.st_size + 1);
	size_t off = 0;
	while (off < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + off, (size_t)st.st_size - off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			close(fd);
			xfree(buf);
			return error_set(err, SPATE_EIO, "cannot read checkpoint metadata '%s': %s",
			                 file, strerror(e));
		}
		if (r == 0)
			break; /* shrank meanwhile: the checks below see a short file */
		off += (size_t)r;
	}
	close(fd);
	*data = buf;
	*len = off;
	return 0;
}

int checkpoint_metadata_read(const char *path, checkpoint_metadata **out, char **dir,
                             struct spate_error *err)
{
	*out = NULL;
	if (dir)
		*dir = NULL;
	char *p = xstrdup(strip_scheme(path));
	size_t n = strlen(p);
	while (n > 1 && p[n - 1] == '/')
		p[--n] = '\0';
	char *file, *d;
	struct stat st;
	const char *base = strrchr(p, '/') ? strrchr(p, '/') + 1 : p;
	bool is_dir =
	    stat(p, &st) == 0 ? S_ISDIR(st.st_mode) : strcmp(base, CHECKPOINT_METADATA_NAME) != 0;
	if (is_dir) {
		file = checkpoint_path_join(p, CHECKPOINT_METADATA_NAME);
		d = p;
	} else {
		file = p;
		char *slash = strrchr(p, '/');
		d = slash == p ? xstrdup("/")
		    : slash    ? xstrndup(p, (size_t)(slash - p))
		               : xstrdup(".");
	}
	uint8_t *data = NULL;
	size_t len = 0;
	int rc = read_all(file, &data, &len, err);
	if (rc == 0)
		rc = checkpoint_metadata_decode(data, len, file, out, err);
	xfree(data);
	xfree(file);
	if (rc == 0 && dir)
		*dir = d;
	else
		xfree(d);
	return rc;
}

int checkpoint_metadata_verify_files(const checkpoint_metadata *m, const char *dir,
                                     struct spate_error *err)
{
	for (size_t i = 0; i < m->n_operators; i++) {
		const Spate__Ckpt__OperatorStateMsg *op = m->operators[i];
		for (size_t s = 0; s < op->n_subtasks; s++) {
			const Spate__Ckpt__KeyedStateHandleMsg *h = op->subtasks[s]->keyed;
			for (size_t f = 0; h && f < h->n_files; f++) {
				struct state_file sf = {.path = h->files[f]->path,
				                        .size = h->files[f]->size,
				                        .checksum = h->files[f]->checksum};
				int rc = checkpoint_verify_file(dir, &sf, err);
				if (rc < 0)
					return rc;
			}
		}
	}
	return 0;
}

/* ---- state assignment -------------------------------------------------------------------- */

static const Spate__Ckpt__OperatorStateMsg *find_operator(const checkpoint_metadata *md,
                                                          const char *id)
{
	for (size_t i = 0; i < md->n_operators; i++)
		if (strcmp(md->operators[i]->operator_id, id) == 0)
			return md->operators[i];
	return NULL;
}

static bool operator_has_state(const Spate__Ckpt__OperatorStateMsg *op)
{
	for (size_t s = 0; s < op->n_subtasks; s++)
		if (op->subtasks[s]->keyed || op->subtasks[s]->n_entries > 0)
			return true;
	return false;
}

/* The old subtasks' states in subtask order (new array of borrowed pointers; missing ones
 * are NULL), and whether every one of them had finished. */
static const Spate__Ckpt__OperatorSubtaskStateMsg **
old_subtasks(const Spate__Ckpt__OperatorStateMsg *op, bool *all_finished)
{
	const Spate__Ckpt__OperatorSubtaskStateMsg **by = xcalloc(op->parallelism, sizeof *by);
	for (size_t s = 0; s < op->n_subtasks; s++)
		if (!by[op->subtasks[s]->subtask]) /* decode checked subtask < parallelism */
			by[op->subtasks[s]->subtask] = op->subtasks[s];
	*all_finished = true;
	for (uint32_t i = 0; i < op->parallelism; i++)
		if (!by[i] || !by[i]->finished)
			*all_finished = false;
	return by;
}

/* Fills r with operator op's state for new subtask i of p owning key groups [a, b]. */
static void assign_operator(Spate__Rpc__OperatorRestore *r, const Spate__Ckpt__OperatorStateMsg *op,
                            const Spate__Ckpt__OperatorSubtaskStateMsg **old, bool finished, int i,
                            int p, int a, int b)
{
	spate__rpc__operator_restore__init(r);
	r->operator_id = op->operator_id;
	r->finished = finished;
	for (uint32_t s = 0; s < op->parallelism; s++) {
		const Spate__Ckpt__KeyedStateHandleMsg *h = old[s] ? old[s]->keyed : NULL;
		if (h && h->key_group_first <= b && h->key_group_last >= a) {
			r->keyed = xrealloc(r->keyed, (r->n_keyed + 1) * sizeof *r->keyed);
			r->keyed[r->n_keyed++] = (Spate__Ckpt__KeyedStateHandleMsg *)h;
		}
	}
	if ((int)op->parallelism == p) {
		const Spate__Ckpt__OperatorSubtaskStateMsg *st = old[i];
		if (st && st->n_entries) {
			r->entries = xcalloc(st->n_entries, sizeof *r->entries);
			memcpy(r->entries, st->entries, st->n_entries * sizeof *r->entries);
			r->n_entries = st->n_entries;
		}
		return;
	}
	size_t j = 0;
	for (uint32_t s = 0; s < op->parallelism; s++)
		for (size_t e = 0; old[s] && e < old[s]->n_entries; e++, j++)
			if ((int)(j % (size_t)p) == i) {
				r->entries =
				    xrealloc(r->entries, (r->n_entries + 1) * sizeof *r->entries);
				r->entries[r->n_entries++] = old[s]->entries[e];
			}
}

void restore_plan_free(struct restore_plan *p)
{
	if (!p)
		return;
	for (int k = 0; k < p->ntasks; k++) {
		Spate__Rpc__TaskRestore *t = &p->tasks[k];
		for (size_t o = 0; o < t->n_operators; o++) {
			xfree(t->operators[o]->keyed);
			xfree(t->operators[o]->entries);
			xfree(t->operators[o]);
		}
		xfree(t->operators);
	}
	xfree(p->tasks);
	checkpoint_metadata_free(p->md);
	xfree(p->base_dir);
	xfree(p);
}

int restore_plan_assign(checkpoint_metadata *md, const char *dir, const char *path,
                        const struct execution_graph *eg, bool allow_non_restored,
                        struct restore_plan **out, struct spate_error *err)
{
	*out = NULL;
	const struct job_graph *jg = eg->job_graph;
	/* Every operator with state must find its operator in the new program. */
	for (size_t i = 0; i < md->n_operators; i++) {
		const Spate__Ckpt__OperatorStateMsg *op = md->operators[i];
		bool found = false;
		for (int v = 0; v < jg->nvertices && !found; v++)
			for (int n = 0; n < jg->vertices[v]->noperators && !found; n++) {
				char id[256];
				stream_node_operator_id(jg->vertices[v]->operators[n], id,
				                        sizeof id);
				found = strcmp(id, op->operator_id) == 0;
			}
		if (!found && !allow_non_restored && operator_has_state(op)) {
			error_set(
			    err, SPATE_EINVAL,
			    "Failed to rollback to checkpoint/savepoint %s. Cannot map "
			    "checkpoint/savepoint state for operator %s to the new program, "
			    "because the operator is not available in the new program. If you "
			    "want to allow to skip this, you can set the --allowNonRestoredState "
			    "option on the CLI.",
			    path, op->operator_id);
			checkpoint_metadata_free(md);
			return SPATE_EINVAL;
		}
	}
	struct restore_plan *p = xcalloc(1, sizeof *p);
	p->checkpoint_id = md->checkpoint_id;
	p->base_dir = xstrdup(dir);
	p->md = md;
	p->ntasks = eg->nsubtasks;
	p->tasks = xcalloc((size_t)(p->ntasks ? p->ntasks : 1), sizeof *p->tasks);
	for (int k = 0; k < p->ntasks; k++) {
		spate__rpc__task_restore__init(&p->tasks[k]);
		p->tasks[k].checkpoint_id = md->checkpoint_id;
		p->tasks[k].base_dir = p->base_dir;
	}
	int base = 0;
	for (int v = 0; v < jg->nvertices; v++) {
		const struct job_vertex *jv = jg->vertices[v];
		for (int n = 0; n < jv->noperators; n++) {
			char id[256];
			stream_node_operator_id(jv->operators[n], id, sizeof id);
			const Spate__Ckpt__OperatorStateMsg *op = find_operator(md, id);
			if (!op)
				continue;
			if ((int)op->max_parallelism != jv->max_parallelism) {
				error_set(
				    err, SPATE_EINVAL,
				    "Failed to rollback to checkpoint/savepoint %s. The maximum "
				    "parallelism (%u) of the restored state of operator %s (%s) is "
				    "not equal to the maximum parallelism (%d) of the new program. "
				    "Changing the maximum parallelism is not supported.",
				    path, op->max_parallelism, id, jv->operators[n]->name,
				    jv->max_parallelism);
				restore_plan_free(p);
				return SPATE_EINVAL;
			}
			bool finished;
			const Spate__Ckpt__OperatorSubtaskStateMsg **old =
			    old_subtasks(op, &finished);
			for (int i = 0; i < jv->parallelism; i++) {
				const struct execution_vertex *ev = &eg->by_vertex[v][i];
				Spate__Rpc__TaskRestore *t = &p->tasks[base + i];
				Spate__Rpc__OperatorRestore *r = xmalloc(sizeof *r);
				assign_operator(r, op, old, finished, i, jv->parallelism,
				                ev->key_group_first, ev->key_group_last);
				t->operators = xrealloc(t->operators, (t->n_operators + 1) *
				                                          sizeof *t->operators);
				t->operators[t->n_operators++] = r;
			}
			xfree(old);
		}
		base += jv->parallelism;
	}
	*out = p;
	return 0;
}
