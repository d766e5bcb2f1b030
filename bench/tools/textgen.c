/*
 * textgen.c - writes WordCount's input: seeded English-like text whose words follow a Zipf
 * law (s = 1) over a vocabulary of 100,000 distinct made-up words, with capitals (sentence
 * starts, some capitalised and some all-caps words), punctuation, possessives ("word's"),
 * hyphenated pairs and numbers, in lines of at most about 80 bytes. The same size and seed
 * give the same bytes on every run and machine (only integer arithmetic and one table of
 * doubles computed the same way everywhere).
 *
 * Usage: textgen OUT SIZE [SEED]; SIZE in bytes, k/m/g suffixes allowed (powers of 1000).
 * The file is written as OUT.tmp and renamed into place, so a killed run leaves no
 * half-written OUT behind.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "bench_gen.h"
#include "bench_map.h"

#define VOCAB 100000
#define LINE_BYTES 78

struct rng {
	uint64_t s;
};

static uint64_t rng_next(struct rng *r)
{
	r->s += BENCH_GOLDEN_GAMMA;
	return bench_splitmix64_mix(r->s);
}

static uint64_t rng_below(struct rng *r, uint64_t n)
{
	return (uint64_t)(((unsigned __int128)rng_next(r) * n) >> 64);
}

/* Probability p given as parts per 10,000. */
static int rng_chance(struct rng *r, unsigned per10k)
{
	return rng_below(r, 10000) < per10k;
}

struct vocab {
	char *text;          /* owned: all words back to back */
	uint32_t off[VOCAB]; /* start of word i */
	uint8_t len[VOCAB];
};

static void vocab_build(struct vocab *v, struct rng *r)
{
	struct strmap seen;
	size_t used = 0;

	strmap_init(&seen, VOCAB);
	v->text = bench_xcalloc((size_t)VOCAB * 16, 1);
	for (int i = 0; i < VOCAB;) {
		/* Lengths 2..11, most around 5-6, a few up to 16. */
		size_t len = 2 + rng_below(r, 4) + rng_below(r, 4) + rng_below(r, 3);
		if (rng_chance(r, 500))
			len += 1 + rng_below(r, 5);
		char *w = v->text + used;
		for (size_t j = 0; j < len; j++)
			w[j] = (char)('a' + rng_below(r, 26));
		int64_t *n = strmap_upsert(&seen, w, len);
		if ((*n)++)
			continue; /* already in the vocabulary: draw again */
		v->off[i] = (uint32_t)used;
		v->len[i] = (uint8_t)len;
		used += len;
		i++;
	}
	strmap_release(&seen);
}

/* Zipf(s = 1) sampler: cdf[i] = P(rank <= i) scaled to 2^53. */
static void zipf_build(uint64_t *cdf)
{
	double h = 0, acc = 0;

	for (int i = 0; i < VOCAB; i++)
		h += 1.0 / (double)(i + 1);
	for (int i = 0; i < VOCAB; i++) {
		acc += 1.0 / (double)(i + 1) / h;
		cdf[i] = (uint64_t)(acc * 0x1.0p53);
	}
	cdf[VOCAB - 1] = (uint64_t)1 << 53;
}

static int zipf_draw(const uint64_t *cdf, struct rng *r)
{
	uint64_t u = rng_next(r) >> 11;
	int lo = 0, hi = VOCAB - 1;

	while (lo < hi) {
		int mid = (lo + hi) / 2;
		if (cdf[mid] > u)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

int main(int argc, char **argv)
{
	static uint64_t cdf[VOCAB];
	static struct vocab v;
	int64_t size = argc > 2 ? bench_parse_count(argv[2]) : -1;
	int64_t seed = argc > 3 ? bench_parse_count(argv[3]) : 42;
	struct rng r;
	char tmp[4096], line[256];
	size_t line_len = 0;
	int64_t written = 0;
	int sentence_start = 1;
	FILE *f;

	if (size < 0 || seed < 0 || strlen(argv[1]) > sizeof(tmp) - 8) {
		fprintf(stderr, "usage: textgen OUT SIZE [SEED]\n");
		return 2;
	}
	r.s = (uint64_t)seed;
	vocab_build(&v, &r);
	zipf_build(cdf);
	snprintf(tmp, sizeof(tmp), "%s.tmp", argv[1]);
	f = fopen(tmp, "w");
	if (!f) {
		fprintf(stderr, "cannot open '%s': %s\n", tmp, strerror(errno));
		return 1;
	}
	while (written < size) {
		char word[64];
		int w = zipf_draw(cdf, &r);
		size_t len = v.len[w], n = 0;

		memcpy(word, v.text + v.off[w], len);
		if (rng_chance(&r, 50)) { /* all caps */
			for (size_t j = 0; j < len; j++)
				word[j] = (char)(word[j] - 32);
		} else if (sentence_start || rng_chance(&r, 300)) {
			word[0] = (char)(word[0] - 32);
		}
		n = len;
		sentence_start = 0;
		if (rng_chance(&r, 100)) {
			memcpy(word + n, "'s", 2);
			n += 2;
		}
		if (rng_chance(&r, 30))
			n += (size_t)snprintf(word + n, sizeof(word) - n, " %u",
			                      (unsigned)rng_below(&r, 2100));
		uint64_t p = rng_below(&r, 10000);
		char sep = ' ';
		if (p < 600) {
			word[n++] = ',';
		} else if (p < 1000) {
			word[n++] = '.';
			sentence_start = 1;
		} else if (p < 1050) {
			word[n++] = ';';
		} else if (p < 1080) {
			word[n++] = '!';
			sentence_start = 1;
		} else if (p < 1110) {
			word[n++] = '?';
			sentence_start = 1;
		} else if (p < 1160) {
			word[n++] = ':';
		} else if (p < 1210) {
			sep = '-';
		}
		if (line_len && line_len + 1 + n > LINE_BYTES) {
			line[line_len++] = '\n';
			fwrite(line, 1, line_len, f);
			written += (int64_t)line_len;
			line_len = 0;
		} else if (line_len) {
			line[line_len++] = sep;
		}
		memcpy(line + line_len, word, n);
		line_len += n;
	}
	if (line_len) {
		line[line_len++] = '\n';
		fwrite(line, 1, line_len, f);
	}
	if (fclose(f) || rename(tmp, argv[1])) {
		fprintf(stderr, "cannot write '%s': %s\n", argv[1], strerror(errno));
		return 1;
	}
	free(v.text);
	return 0;
}
