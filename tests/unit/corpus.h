/*
 * corpus.h - replaying a stored fuzz corpus (tests/fuzz/corpus/<name>) in a cmocka test, so
 * CI runs every decoder over its corpus on every build, under the sanitizers too.
 *
 * File names say what a seed must do: valid_* and invalid_* (and partial_* for streaming
 * parsers) are checked by the test's callback; any other name (files the fuzzer added) only
 * has to run without crashing. Header-only: include it from one test file.
 */
#ifndef SPATE_TESTS_UNIT_CORPUS_H
#define SPATE_TESTS_UNIT_CORPUS_H

#include <dirent.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum corpus_kind { CORPUS_OTHER, CORPUS_VALID, CORPUS_INVALID, CORPUS_PARTIAL, CORPUS_KINDS };

/* Reads a whole file into a block of exactly its size (so ASan catches reads past the end);
 * fails the test if it cannot. Free with free(). */
static uint8_t *corpus_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t cap = 0, n = 0, got;
	if (!f)
		fail_msg("cannot open '%s'", path);
	do {
		if (n == cap) {
			cap = cap ? 2 * cap : 4096;
			buf = realloc(buf, cap);
		}
		got = fread(buf + n, 1, cap - n, f);
		n += got;
	} while (got > 0);
	fclose(f);
	*len = n;
	return realloc(buf, n ? n : 1);
}

/* Calls check(file name, kind, data, len) for every file of tests/fuzz/corpus/<corpus>
 * (under $SPATE_SRC); counts[kind] gets how many files of each kind there were. */
static void corpus_replay(const char *corpus,
                          void (*check)(const char *name, enum corpus_kind kind,
                                        const uint8_t *data, size_t len),
                          int counts[CORPUS_KINDS])
{
	const char *src = getenv("SPATE_SRC");
	char dir[PATH_MAX], path[PATH_MAX + 512];
	struct dirent *de;
	memset(counts, 0, CORPUS_KINDS * sizeof *counts);
	snprintf(dir, sizeof dir, "%s/tests/fuzz/corpus/%s", src ? src : ".", corpus);
	DIR *d = opendir(dir);
	if (!d)
		fail_msg("cannot open corpus '%s' (is SPATE_SRC set?)", dir);
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		enum corpus_kind kind = strncmp(de->d_name, "valid_", 6) == 0     ? CORPUS_VALID
		                        : strncmp(de->d_name, "invalid_", 8) == 0 ? CORPUS_INVALID
		                        : strncmp(de->d_name, "partial_", 8) == 0 ? CORPUS_PARTIAL
		                                                                  : CORPUS_OTHER;
		size_t len;
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		uint8_t *data = corpus_read_file(path, &len);
		check(de->d_name, kind, data, len);
		free(data);
		counts[kind]++;
	}
	closedir(d);
}

#endif
