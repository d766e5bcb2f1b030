/*
 * job_library.c - loading a job's shared library and checking that it is one: readable,
 * a real shared object, with the entry point SPATE_JOB_ENTRY defines, built against this
 * API version. Each check has its own message, since "cannot load" alone helps nobody.
 *
 * job_library_check_image makes the same checks on bytes without loading them, for job
 * libraries uploaded to the JobManager (POST /jars/upload): it reads the ELF header, the
 * section header table and the dynamic symbol table, and bounds-checks every offset and
 * size it takes from the file before using it.
 */
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
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
	if (*version < SPATE_API_VERSION_MIN || *version > SPATE_API_VERSION) {
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

/* The ELF machine this program runs on, or EM_NONE where the check is skipped. */
#if defined(__x86_64__)
#define NATIVE_ELF_MACHINE EM_X86_64
#elif defined(__aarch64__)
#define NATIVE_ELF_MACHINE EM_AARCH64
#elif defined(__riscv) && __riscv_xlen == 64
#define NATIVE_ELF_MACHINE EM_RISCV
#elif defined(__powerpc64__)
#define NATIVE_ELF_MACHINE EM_PPC64
#elif defined(__s390x__)
#define NATIVE_ELF_MACHINE EM_S390
#else
#define NATIVE_ELF_MACHINE EM_NONE
#endif

/* True when [off, off + len) lies inside a file of n bytes. */
static bool in_file(uint64_t off, uint64_t len, size_t n)
{
	return off <= n && len <= n - off;
}

/* What an exported symbol of the image looks like, once found. */
struct image_symbol {
	bool found;
	Elf64_Sym sym;
};

static const char *elf_type_name(unsigned type)
{
	switch (type) {
	case ET_REL:
		return "relocatable object (.o)";
	case ET_EXEC:
		return "executable";
	case ET_CORE:
		return "core file";
	default:
		return "file of an unknown type";
	}
}

/* Reads section header i (index checked by the caller against the table's bounds). */
static Elf64_Shdr section_at(const uint8_t *p, const Elf64_Ehdr *eh, uint64_t i)
{
	Elf64_Shdr sh;
	memcpy(&sh, p + eh->e_shoff + i * sizeof sh, sizeof sh);
	return sh;
}

/*
 * Looks up the defined, exported symbols `want[0..nwant)` in every SHT_DYNSYM section.
 * Returns 0 (found[] filled), or -1 with err set when the tables are malformed.
 */
static int find_dynamic_symbols(const uint8_t *p, size_t n, const Elf64_Ehdr *eh, uint64_t shnum,
                                const char *const *want, struct image_symbol *found, int nwant,
                                bool *have_dynsym, const char *name, struct spate_error *err)
{
	*have_dynsym = false;
	for (uint64_t i = 0; i < shnum; i++) {
		Elf64_Shdr sh = section_at(p, eh, i);
		if (sh.sh_type != SHT_DYNSYM)
			continue;
		*have_dynsym = true;
		if (sh.sh_entsize != sizeof(Elf64_Sym) || !in_file(sh.sh_offset, sh.sh_size, n) ||
		    sh.sh_link >= shnum)
			return error_set(err, SPATE_ELOAD,
			                 "'%s' is not a valid ELF file: its dynamic symbol table "
			                 "lies outside the file",
			                 name);
		Elf64_Shdr str = section_at(p, eh, sh.sh_link);
		if (str.sh_type != SHT_STRTAB || !in_file(str.sh_offset, str.sh_size, n))
			return error_set(err, SPATE_ELOAD,
			                 "'%s' is not a valid ELF file: its dynamic string table "
			                 "lies outside the file",
			                 name);
		const char *strtab = (const char *)p + str.sh_offset;
		uint64_t nsyms = sh.sh_size / sizeof(Elf64_Sym);
		for (uint64_t k = 0; k < nsyms; k++) {
			Elf64_Sym sym;
			memcpy(&sym, p + sh.sh_offset + k * sizeof sym, sizeof sym);
			if (sym.st_name >= str.sh_size || sym.st_shndx == SHN_UNDEF)
				continue;
			unsigned bind = ELF64_ST_BIND(sym.st_info);
			if ((bind != STB_GLOBAL && bind != STB_WEAK) ||
			    ELF64_ST_VISIBILITY(sym.st_other) != STV_DEFAULT)
				continue;
			const char *s = strtab + sym.st_name;
			size_t room = (size_t)(str.sh_size - sym.st_name);
			for (int w = 0; w < nwant; w++) {
				size_t wl = strlen(want[w]);
				if (!found[w].found && wl < room &&
				    memcmp(s, want[w], wl + 1) == 0) {
					found[w].found = true;
					found[w].sym = sym;
				}
			}
		}
	}
	return 0;
}

/* The int the symbol's initializer stores in the file, if the file holds it (not .bss). */
static bool read_symbol_int(const uint8_t *p, size_t n, const Elf64_Ehdr *eh, uint64_t shnum,
                            const Elf64_Sym *sym, int *out)
{
	if (sym->st_shndx >= shnum || sym->st_shndx >= SHN_LORESERVE || sym->st_size != sizeof(int))
		return false;
	Elf64_Shdr sh = section_at(p, eh, sym->st_shndx);
	if (sh.sh_type == SHT_NOBITS || sym->st_value < sh.sh_addr ||
	    !in_file(sym->st_value - sh.sh_addr, sizeof(int), sh.sh_size) ||
	    !in_file(sh.sh_offset, sh.sh_size, n))
		return false;
	memcpy(out, p + sh.sh_offset + (sym->st_value - sh.sh_addr), sizeof(int));
	return true;
}

int job_library_check_image(const uint8_t *p, size_t n, const char *name, struct spate_error *err)
{
	if (n == 0)
		return error_set(err, SPATE_ELOAD, "job library '%s' is empty (0 bytes)", name);
	if (n < SELFMAG || memcmp(p, ELFMAG, SELFMAG) != 0)
		return error_set(err, SPATE_ELOAD,
		                 "'%s' is not a shared library (no ELF header): build the job with "
		                 "cc -shared -fPIC",
		                 name);
	if (n < sizeof(Elf64_Ehdr) || p[EI_CLASS] != ELFCLASS64)
		return error_set(err, SPATE_ELOAD, "'%s' is not a 64-bit ELF shared library", name);
	unsigned char native =
	    __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? ELFDATA2LSB : ELFDATA2MSB;
	if (p[EI_DATA] != native)
		return error_set(err, SPATE_ELOAD,
		                 "'%s' was built for a machine of the other byte order", name);
	Elf64_Ehdr eh;
	memcpy(&eh, p, sizeof eh);
	if (eh.e_type != ET_DYN)
		return error_set(err, SPATE_ELOAD,
		                 "'%s' is an ELF %s, not a shared library: build the job with "
		                 "cc -shared -fPIC",
		                 name, elf_type_name(eh.e_type));
	if (NATIVE_ELF_MACHINE != EM_NONE && eh.e_machine != NATIVE_ELF_MACHINE)
		return error_set(err, SPATE_ELOAD,
		                 "'%s' was built for another machine (ELF machine %u, this one is "
		                 "%u)",
		                 name, (unsigned)eh.e_machine, (unsigned)NATIVE_ELF_MACHINE);

	/* The section header table; more than 0xff00 sections keep their count in the first
	 * header's sh_size (the ELF extended numbering). */
	uint64_t shnum = eh.e_shnum;
	if (eh.e_shoff == 0)
		return error_set(
		    err, SPATE_ELOAD,
		    "job library '%s' has no section headers to find its entry point in", name);
	if (eh.e_shentsize != sizeof(Elf64_Shdr) || !in_file(eh.e_shoff, sizeof(Elf64_Shdr), n))
		return error_set(err, SPATE_ELOAD,
		                 "'%s' is not a valid ELF file (truncated?): its section header "
		                 "table lies outside the file",
		                 name);
	if (shnum == 0)
		shnum = section_at(p, &eh, 0).sh_size;
	if (shnum > (n - eh.e_shoff) / sizeof(Elf64_Shdr))
		return error_set(err, SPATE_ELOAD,
		                 "'%s' is not a valid ELF file (truncated?): its section header "
		                 "table lies outside the file",
		                 name);

	static const char *const want[] = {"spate_job_main", "spate_job_api_version"};
	struct image_symbol found[2] = {{0}};
	bool have_dynsym;
	if (find_dynamic_symbols(p, n, &eh, shnum, want, found, 2, &have_dynsym, name, err) < 0)
		return SPATE_ELOAD;
	if (!have_dynsym)
		return error_set(err, SPATE_ELOAD, "job library '%s' has no dynamic symbol table",
		                 name);
	for (int w = 0; w < 2; w++)
		if (!found[w].found)
			return error_set(err, SPATE_ELOAD,
			                 "job library '%s' has no entry point (it does not export "
			                 "'%s'): define one with SPATE_JOB_ENTRY(fn)",
			                 name, want[w]);
	int version;
	if (read_symbol_int(p, n, &eh, shnum, &found[1].sym, &version) &&
	    (version < SPATE_API_VERSION_MIN || version > SPATE_API_VERSION))
		return error_set(err, SPATE_EVERSION,
		                 "job library '%s' was built for API version %d, but this spate "
		                 "provides API version %d: rebuild the job against this spate",
		                 name, version, SPATE_API_VERSION);
	return 0;
}
