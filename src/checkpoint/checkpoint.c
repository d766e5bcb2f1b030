/*
 * checkpoint.c - checkpoint kinds, barrier encoding, state handles and the file helpers
 * (see checkpoint.h).
 */
#include "checkpoint/checkpoint.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "core/alloc.h"

const char *checkpoint_kind_name(enum checkpoint_kind k)
{
	switch (k) {
	case CKPT_KIND_SAVEPOINT:
		return "SAVEPOINT";
	case CKPT_KIND_SAVEPOINT_TERMINATE:
		return "SYNC_SAVEPOINT";
	default:
		return "CHECKPOINT";
	}
}

bool checkpoint_kind_is_savepoint(enum checkpoint_kind k)
{
	return k == CKPT_KIND_SAVEPOINT || k == CKPT_KIND_SAVEPOINT_TERMINATE;
}

/* ---- barriers ---------------------------------------------------------------------------- */

void checkpoint_put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

uint64_t checkpoint_get_u64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* Layout: u64 id, u64 timestamp, u8 kind, u16 target length, target, u16 shared length,
 * shared (big-endian, no NULs). */
size_t checkpoint_barrier_encode(const struct checkpoint_barrier *b, uint8_t *buf)
{
	size_t off = 0;
	checkpoint_put_u64(buf, (uint64_t)b->id);
	checkpoint_put_u64(buf + 8, (uint64_t)b->timestamp_ms);
	buf[16] = (uint8_t)b->kind;
	off = 17;
	const char *strs[2] = {b->target_dir, b->shared_dir};
	for (int i = 0; i < 2; i++) {
		size_t n = strnlen(strs[i], sizeof b->target_dir - 1);
		buf[off] = (uint8_t)(n >> 8);
		buf[off + 1] = (uint8_t)n;
		memcpy(buf + off + 2, strs[i], n);
		off += 2 + n;
	}
	return off;
}

int checkpoint_barrier_decode(const uint8_t *buf, size_t len, struct checkpoint_barrier *b)
{
	memset(b, 0, sizeof *b);
	if (len < 21)
		return SPATE_ECORRUPT;
	b->id = (int64_t)checkpoint_get_u64(buf);
	b->timestamp_ms = (int64_t)checkpoint_get_u64(buf + 8);
	if (buf[16] > CKPT_KIND_FINAL || b->id <= 0)
		return SPATE_ECORRUPT;
	b->kind = (enum checkpoint_kind)buf[16];
	size_t off = 17;
	char *dst[2] = {b->target_dir, b->shared_dir};
	for (int i = 0; i < 2; i++) {
		if (off + 2 > len)
			return SPATE_ECORRUPT;
		size_t n = (size_t)buf[off] << 8 | buf[off + 1];
		off += 2;
		if (n >= sizeof b->target_dir || off + n > len || memchr(buf + off, 0, n))
			return SPATE_ECORRUPT;
		memcpy(dst[i], buf + off, n);
		dst[i][n] = '\0';
		off += n;
	}
	return off == len ? 0 : SPATE_ECORRUPT;
}

/* ---- state handles ----------------------------------------------------------------------- */

void keyed_state_handle_release(struct keyed_state_handle *h)
{
	for (int i = 0; i < h->nfiles; i++)
		xfree(h->files[i].path);
	xfree(h->files);
	h->files = NULL;
	h->nfiles = 0;
}

void keyed_state_handle_add_file(struct keyed_state_handle *h, const char *path, int64_t size,
                                 uint64_t checksum)
{
	h->files = xrealloc(h->files, (size_t)(h->nfiles + 1) * sizeof *h->files);
	h->files[h->nfiles].path = xstrdup(path);
	h->files[h->nfiles].size = size;
	h->files[h->nfiles].checksum = checksum;
	h->nfiles++;
}

Spate__Ckpt__KeyedStateHandleMsg *checkpoint_handle_to_msg(const struct keyed_state_handle *h)
{
	Spate__Ckpt__KeyedStateHandleMsg *m = xmalloc(sizeof *m);
	spate__ckpt__keyed_state_handle_msg__init(m);
	m->backend = xstrdup(h->backend);
	m->key_group_first = h->key_group_first;
	m->key_group_last = h->key_group_last;
	m->state_size = h->state_size;
	m->incremental_size = h->incremental_size;
	m->n_files = (size_t)h->nfiles;
	m->files = xcalloc((size_t)(h->nfiles ? h->nfiles : 1), sizeof *m->files);
	for (int i = 0; i < h->nfiles; i++) {
		Spate__Ckpt__StateFileMsg *f = xmalloc(sizeof *f);
		spate__ckpt__state_file_msg__init(f);
		f->path = xstrdup(h->files[i].path);
		f->size = h->files[i].size;
		f->checksum = h->files[i].checksum;
		m->files[i] = f;
	}
	return m;
}

void checkpoint_handle_msg_free(Spate__Ckpt__KeyedStateHandleMsg *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n_files; i++) {
		xfree(m->files[i]->path);
		xfree(m->files[i]);
	}
	xfree(m->files);
	xfree(m->backend);
	xfree(m);
}

static bool rel_path_ok(const char *p)
{
	/* Relative, non-empty; ".." only as whole leading components ("../shared/x"). */
	if (!p || !*p || p[0] == '/')
		return false;
	for (const char *s = p; *s; s++)
		if (*s == '\n')
			return false;
	return true;
}

int checkpoint_handle_from_msg(const Spate__Ckpt__KeyedStateHandleMsg *m,
                               struct keyed_state_handle *out, struct spate_error *err)
{
	memset(out, 0, sizeof *out);
	if (!m->backend ||
	    (strcmp(m->backend, "hashmap") != 0 && strcmp(m->backend, "rocksdb") != 0))
		return error_set(err, SPATE_ECORRUPT, "state handle names unknown backend '%.40s'",
		                 m->backend ? m->backend : "");
	if (m->key_group_first < 0 || m->key_group_last < m->key_group_first ||
	    m->key_group_last >= 32768)
		return error_set(err, SPATE_ECORRUPT, "state handle has bad key groups %d-%d",
		                 m->key_group_first, m->key_group_last);
	snprintf(out->backend, sizeof out->backend, "%s", m->backend);
	out->key_group_first = m->key_group_first;
	out->key_group_last = m->key_group_last;
	out->state_size = m->state_size;
	out->incremental_size = m->incremental_size;
	for (size_t i = 0; i < m->n_files; i++) {
		if (!rel_path_ok(m->files[i]->path)) {
			keyed_state_handle_release(out);
			return error_set(err, SPATE_ECORRUPT, "state handle has a bad file name");
		}
		keyed_state_handle_add_file(out, m->files[i]->path, m->files[i]->size,
		                            m->files[i]->checksum);
	}
	return 0;
}

/* ---- files ------------------------------------------------------------------------------- */

int checkpoint_mkdirs(const char *dir)
{
	char *p = xstrdup(dir);
	int rc = 0;
	for (char *s = p + 1;; s++) {
		if (*s == '/' || *s == '\0') {
			char c = *s;
			*s = '\0';
			if (mkdir(p, 0755) != 0 && errno != EEXIST) {
				rc = -errno;
				break;
			}
			*s = c;
			if (!c)
				break;
		}
	}
	xfree(p);
	return rc;
}

static int remove_at(int dfd, const char *name)
{
	if (unlinkat(dfd, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return -errno;
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	DIR *d = fdopendir(fd);
	if (!d) {
		int e = errno;
		close(fd);
		return -e;
	}
	int rc = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		int r = remove_at(dirfd(d), de->d_name);
		if (r < 0 && rc == 0)
			rc = r;
	}
	closedir(d);
	if (unlinkat(dfd, name, AT_REMOVEDIR) != 0 && errno != ENOENT && rc == 0)
		rc = -errno;
	return rc;
}

int checkpoint_remove_tree(const char *path)
{
	return remove_at(AT_FDCWD, path);
}

void checkpoint_fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

static void fsync_dir_of(const char *path)
{
	char *d = xstrdup(path);
	char *slash = strrchr(d, '/');
	if (slash == d)
		slash[1] = '\0';
	else if (slash)
		*slash = '\0';
	else
		strcpy(d, ".");
	checkpoint_fsync_dir(d);
	xfree(d);
}

int checkpoint_write_file(const char *path, const void *data, size_t len, struct spate_error *err)
{
	static atomic_int seq;
	char *tmp = xasprintf("%s.tmp-%d-%d", path, (int)getpid(), atomic_fetch_add(&seq, 1));
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	int rc = 0;
	if (fd < 0) {
		rc = error_set(err, SPATE_EIO, "cannot create '%s': %s", tmp, strerror(errno));
		xfree(tmp);
		return rc;
	}
	const uint8_t *p = data;
	size_t off = 0;
	while (off < len) {
		ssize_t w = write(fd, p + off, len - off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			rc = error_set(err, SPATE_EIO, "cannot write '%s': %s", tmp,
			               strerror(errno));
			break;
		}
		off += (size_t)w;
	}
	if (rc == 0 && fsync(fd) != 0)
		rc = error_set(err, SPATE_EIO, "cannot sync '%s': %s", tmp, strerror(errno));
	close(fd);
	if (rc == 0 && rename(tmp, path) != 0)
		rc = error_set(err, SPATE_EIO, "cannot rename '%s' to '%s': %s", tmp, path,
		               strerror(errno));
	if (rc < 0)
		unlink(tmp);
	else
		fsync_dir_of(path);
	xfree(tmp);
	return rc;
}

int checkpoint_file_checksum(const char *path, int64_t *size, uint64_t *checksum,
                             struct spate_error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return error_set(err, errno == ENOENT ? SPATE_ENOENT : SPATE_EIO,
		                 "cannot open '%s': %s", path, strerror(errno));
	XXH64_state_t *st = XXH64_createState();
	XXH64_reset(st, 0);
	static __thread uint8_t buf[64 * 1024];
	int64_t total = 0;
	int rc = 0;
	for (;;) {
		ssize_t r = read(fd, buf, sizeof buf);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			rc = error_set(err, SPATE_EIO, "cannot read '%s': %s", path,
			               strerror(errno));
			break;
		}
		if (r == 0)
			break;
		XXH64_update(st, buf, (size_t)r);
		total += r;
	}
	close(fd);
	if (rc == 0) {
		*size = total;
		*checksum = XXH64_digest(st);
	}
	XXH64_freeState(st);
	return rc;
}

char *checkpoint_path_join(const char *base_dir, const char *rel)
{
	return xasprintf("%s/%s", base_dir, rel);
}

int checkpoint_verify_file(const char *base_dir, const struct state_file *f,
                           struct spate_error *err)
{
	char *path = checkpoint_path_join(base_dir, f->path);
	int64_t size;
	uint64_t sum;
	struct spate_error e = {0};
	int rc = checkpoint_file_checksum(path, &size, &sum, &e);
	if (rc == SPATE_ENOENT)
		rc = error_set(err, SPATE_ENOENT, "state file '%s' is missing", path);
	else if (rc < 0)
		rc = error_set(err, SPATE_ECORRUPT, "state file '%s' is unreadable: %s", path,
		               e.msg);
	else if (size != f->size)
		rc = error_set(err, SPATE_ECORRUPT,
		               "state file '%s' is corrupt: %lld bytes, expected %lld", path,
		               (long long)size, (long long)f->size);
	else if (sum != f->checksum)
		rc = error_set(err, SPATE_ECORRUPT, "state file '%s' is corrupt: checksum mismatch",
		               path);
	xfree(path);
	return rc;
}
