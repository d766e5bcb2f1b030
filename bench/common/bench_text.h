/*
 * bench_text.h - the WordCount tokenizer, shared by the baseline and the Spate job: a word is
 * a maximal run of ASCII letters, lower-cased; every other byte separates words.
 */
#ifndef BENCH_TEXT_H
#define BENCH_TEXT_H

#include <stddef.h>

static inline int bench_is_letter(unsigned char c)
{
	return (unsigned char)((c | 0x20) - 'a') < 26;
}

/*
 * Finds the next word in [p, end). Returns a pointer just past it and sets *start to its
 * first byte, or returns NULL when there is no further word.
 */
static inline const char *bench_word_next(const char *p, const char *end, const char **start)
{
	while (p < end && !bench_is_letter((unsigned char)*p))
		p++;
	if (p == end)
		return NULL;
	*start = p;
	while (p < end && bench_is_letter((unsigned char)*p))
		p++;
	return p;
}

/* Copies len letters to out, lower-cased (out holds at least len bytes; no NUL added). */
static inline void bench_word_lower(const char *s, size_t len, char *out)
{
	for (size_t i = 0; i < len; i++)
		out[i] = (char)(s[i] | 0x20);
}

#endif /* BENCH_TEXT_H */
