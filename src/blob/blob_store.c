/*
 * blob_store.c - the JobManager's blob store: job libraries kept as files named by the
 * XXH3-128 hash of their bytes, so the same library uploaded twice is stored once and a
 * TaskManager can verify what it fetched. A blob is written to a temporary name, fsynced
 * and renamed, so a half-written file is never served.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "cluster/jobmanager.h"
#include "core/alloc.h"

void blob_key_of(const void *data, size_t len, char key[33])
{
	XXH128_hash_t h = XXH3_128bits(data, len);
	snprintf(key, 33, "%016llx%016llx", (unsigned long long)h.high64,
	         (unsigned long long)h.low64);
}

int blob_write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	const uint8_t *p = data;
	size_t left = len;
	while (left > 0) {
		ssize_t w = write(fd, p, left);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			close(fd);
			return -1;
		}
		p += w;
		left -= (size_t)w;
	}
	if (fsync(fd) < 0) {
		close(fd);
		return -1;
	}
	return close(fd);
}

int blob_put(const char *dir, const void *data, size_t len, char key[33], struct spate_error *err)
{
	blob_key_of(data, len, key);
	char *path = xasprintf("%s/%s", dir, key);
	struct stat st;
	int rc = 0;
	if (stat(path, &st) == 0 && (size_t)st.st_size == len)
		goto out; /* already stored */
	char *tmp = xasprintf("%s/.%s.%d.tmp", dir, key, (int)getpid());
	if (blob_write_file(tmp, data, len) < 0 || rename(tmp, path) < 0) {
		rc = error_set(err, SPATE_EIO, "cannot store blob '%s' in '%s': %s", key, dir,
		               strerror(errno));
		unlink(tmp);
	}
	xfree(tmp);
out:
	xfree(path);
	return rc;
}

uint8_t *blob_get(const char *dir, const char *key, size_t *len)
{
	for (const char *k = key; *k; k++)
		if (!((*k >= '0' && *k <= '9') || (*k >= 'a' && *k <= 'f')))
			return NULL; /* keys are hex: never a path */
	if (strlen(key) != 32)
		return NULL;
	char *path = xasprintf("%s/%s", dir, key);
	FILE *f = fopen(path, "rb");
	xfree(path);
	if (!f)
		return NULL;
	uint8_t *buf = NULL;
	if (fseek(f, 0, SEEK_END) == 0) {
		long n = ftell(f);
		if (n >= 0 && fseek(f, 0, SEEK_SET) == 0) {
			buf = xmalloc((size_t)n + 1);
			if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
				xfree(buf);
				buf = NULL;
			} else {
				*len = (size_t)n;
			}
		}
	}
	fclose(f);
	return buf;
}
