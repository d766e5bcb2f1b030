/*
 * job_library.c - loading a job's shared library and checking that it is one: readable,
 * a real shared object, with the entry point SPATE_JOB_ENTRY defines, built against this
 * API version. Each check has its own message, since "cannot load" alone helps nobody.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/client.h"
#include "core/alloc.h"

int job_library_open(const char *path, struct job_library *lib, struct spate_error *err)
{
	memset(lib, 0, sizeof *lib);
	struct stat st;
	if (stat(path, &st) != 0)
		return error_set(err, SPATE_ELOAD, "cannot open job library '%s': %s", path,
		                 strerror(errno));
	if (S_ISDIR(st.st_mode))
		return error_set(err, SPATE_ELOAD, "cannot open job library '%s': Is a directory",
		                 path);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return error_set(err, SPATE_ELOAD, "cannot open job library '%s': %s", path,
		                 strerror(errno));
	unsigned char magic[4] = {0};
	ssize_t n = read(fd, magic, sizeof magic);
	close(fd);
	if (n != 4 || memcmp(magic, "\177ELF", 4) != 0)
		return error_set(err, SPATE_ELOAD,
		                 "'%s' is not a shared library (no ELF header): build the job with "
		                 "cc -shared -fPIC",
		                 path);
	/* dlopen needs a path with a slash to avoid searching the library path. */
	char *p = strchr(path, '/') ? xstrdup(path) : xasprintf("./%s", path);
	void *h = dlopen(p, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		const char *why = dlerror();
		error_set(err, SPATE_ELOAD, "cannot load job library '%s': %s", path,
		          why ? why : "unknown error");
		xfree(p);
		return SPATE_ELOAD;
	}
	const int *version = dlsym(h, "spate_job_api_version");
	void *entry = dlsym(h, "spate_job_main");
	if (!entry || !version) {
		error_set(
		    err, SPATE_ELOAD,
		    "job library '%s' has no entry point: define one with SPATE_JOB_ENTRY(fn)",
		    path);
		dlclose(h);
		xfree(p);
		return SPATE_ELOAD;
	}
	if (*version != SPATE_API_VERSION) {
		error_set(err, SPATE_EVERSION,
		          "job library '%s' was built for API version %d, but this spate provides "
		          "API version %d: rebuild the job against this spate",
		          path, *version, SPATE_API_VERSION);
		dlclose(h);
		xfree(p);
		return SPATE_EVERSION;
	}
	lib->handle = h;
	lib->path = p;
	memcpy(&lib->main, &entry, sizeof entry);
	return 0;
}

void job_library_close(struct job_library *lib)
{
	if (lib->handle)
		dlclose(lib->handle);
	xfree(lib->path);
	memset(lib, 0, sizeof *lib);
}
