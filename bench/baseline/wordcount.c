/*
 * wordcount.c - COST baseline of WordCount: read a text file in 1 MiB chunks, split it into
 * words (maximal runs of ASCII letters, lower-cased) and count each word in an
 * open-addressing hash map.
 *
 * Usage: baseline_wordcount FILE [OUT]. Prints "RESULT words=<words> distinct=<distinct
 * words> checksum=<sum over words of c(c+1)/2>" and "Runtime: <ms> ms" (reading and
 * counting, not writing OUT). The checksum is what a sink adding up every running count of
 * a rolling per-word sum gets, whatever the order. With OUT, also writes "word count" lines
 * (unsorted) there for the harness to compare with the Spate job's.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bench_clock.h"
#include "bench_map.h"
#include "bench_text.h"

#define CHUNK_BYTES (1 << 20)

int main(int argc, char **argv)
{
	size_t cap = CHUNK_BYTES, have = 0;
	uint64_t words = 0, checksum = 0, t0;
	struct strmap counts;
	char *buf;
	int fd;

	if (argc < 2) {
		fprintf(stderr, "usage: baseline_wordcount FILE [OUT]\n");
		return 2;
	}
	t0 = bench_now_ns();
	fd = open(argv[1], O_RDONLY);
	if (fd < 0) {
		fprintf(stderr, "cannot open '%s': %s\n", argv[1], strerror(errno));
		return 1;
	}
	buf = bench_xcalloc(cap, 1);
	strmap_init(&counts, 1 << 17);
	for (;;) {
		if (have == cap) { /* one word fills the buffer: make room */
			cap *= 2;
			buf = bench_xrealloc(buf, cap);
		}
		ssize_t got = read(fd, buf + have, cap - have);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "cannot read '%s': %s\n", argv[1], strerror(errno));
			return 1;
		}
		size_t len = have + (size_t)got;
		const char *end = buf + len, *p = buf, *start;
		/* A word touching the end of the buffer may go on in the next read: keep it. */
		const char *limit = end;
		if (got > 0)
			while (limit > buf && bench_is_letter((unsigned char)limit[-1]))
				limit--;
		while ((p = bench_word_next(p, limit, &start)) != NULL) {
			size_t wlen = (size_t)(p - start);
			bench_word_lower(start, wlen, (char *)start);
			(*strmap_upsert(&counts, start, wlen))++;
			words++;
		}
		have = (size_t)(end - limit);
		memmove(buf, limit, have);
		if (got == 0)
			break;
	}
	close(fd);
	double ms = (double)(bench_now_ns() - t0) / 1e6;
	for (size_t i = 0; i < counts.cap; i++) {
		uint64_t c = (uint64_t)counts.slots[i].value;
		if (counts.slots[i].hash)
			checksum += c * (c + 1) / 2;
	}
	printf("RESULT words=%" PRIu64 " distinct=%zu checksum=%" PRIu64 "\n", words, counts.count,
	       checksum);
	printf("Runtime: %.3f ms\n", ms);
	if (argc > 2 && strmap_write(&counts, argv[2])) {
		fprintf(stderr, "cannot write '%s': %s\n", argv[2], strerror(errno));
		return 1;
	}
	strmap_release(&counts);
	free(buf);
	return 0;
}
