/*
 * wordcount.c - Flink's streaming WordCount example, written against Spate's C API.
 *
 * The pipeline is the one of flink-examples-streaming's WordCount:
 *
 *   source "in-memory-input" (the built-in text) or "file-input" (--input)
 *     -> flat_map "tokenizer": lower-case the line, split it on non-word characters
 *        ([^A-Za-z0-9_], Java's \W), drop empty tokens, emit (word, 1)
 *     -> keyBy word -> rolling sum of count, named "counter"
 *     -> print (Flink's format "(word,count)") or, with --output, text files
 *
 * Every update is emitted (streaming mode): on the built-in text that is 287 lines for 170
 * distinct words.
 *
 * Usage: spate run [-p N] wordcount.so [--input PATH]... [--output DIR]
 *   --input PATH   a file, a directory (its regular files) or a comma-separated list;
 *                  repeatable. Without --input the built-in text is used.
 *   --output DIR   write "part-<subtask>" files under DIR instead of printing.
 */
#include <spate/spate.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* User functions are non-static so that the engine can name them for shipping. */
int wordcount_tokenize(spate_ctx *ctx, const spate_row *in, spate_collector *out);

/* The text of Flink's WordCountData.WORDS (examples/data/hamlet.txt). */
static const char *const hamlet[] = {
    "To be, or not to be,--that is the question:--",
    "Whether 'tis nobler in the mind to suffer",
    "The slings and arrows of outrageous fortune",
    "Or to take arms against a sea of troubles,",
    "And by opposing end them?--To die,--to sleep,--",
    "No more; and by a sleep to say we end",
    "The heartache, and the thousand natural shocks",
    "That flesh is heir to,--'tis a consummation",
    "Devoutly to be wish'd. To die,--to sleep;--",
    "To sleep! perchance to dream:--ay, there's the rub;",
    "For in that sleep of death what dreams may come,",
    "When we have shuffled off this mortal coil,",
    "Must give us pause: there's the respect",
    "That makes calamity of so long life;",
    "For who would bear the whips and scorns of time,",
    "The oppressor's wrong, the proud man's contumely,",
    "The pangs of despis'd love, the law's delay,",
    "The insolence of office, and the spurns",
    "That patient merit of the unworthy takes,",
    "When he himself might his quietus make",
    "With a bare bodkin? who would these fardels bear,",
    "To grunt and sweat under a weary life,",
    "But that the dread of something after death,--",
    "The undiscover'd country, from whose bourn",
    "No traveller returns,--puzzles the will,",
    "And makes us rather bear those ills we have",
    "Than fly to others that we know not of?",
    "Thus conscience does make cowards of us all;",
    "And thus the native hue of resolution",
    "Is sicklied o'er with the pale cast of thought;",
    "And enterprises of great pith and moment,",
    "With this regard, their currents turn awry,",
    "And lose the name of action.--Soft you now!",
    "The fair Ophelia!--Nymph, in thy orisons",
    "Be all my sins remember'd.",
};

/* Java's \w: ASCII letters, digits and underscore. Bytes >= 0x80 are separators. */
static int is_word_byte(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_';
}

static char lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : (char)c;
}

/* Emits (token, 1) for every maximal run of word characters, lower-cased. */
int wordcount_tokenize(spate_ctx *ctx, const spate_row *in, spate_collector *out)
{
	size_t len = 0;
	const char *line = spate_row_str(in, 0, &len);
	char small[256];
	char *word = small;
	size_t cap = sizeof(small);
	int rc = 0;

	if (line == NULL)
		return 0; /* a null line has no words */
	size_t i = 0;
	while (i < len) {
		while (i < len && !is_word_byte((unsigned char)line[i]))
			i++;
		size_t start = i;
		while (i < len && is_word_byte((unsigned char)line[i]))
			i++;
		size_t n = i - start;
		if (n == 0)
			continue;
		if (n > cap) {
			char *bigger = malloc(n);
			if (bigger == NULL) {
				rc = spate_ctx_fail(ctx, "tokenizer: cannot allocate %zu bytes", n);
				break;
			}
			if (word != small)
				free(word);
			word = bigger;
			cap = n;
		}
		for (size_t j = 0; j < n; j++)
			word[j] = lower((unsigned char)line[start + j]);
		spate_row_builder *b = spate_collect_begin(out);
		spate_row_set_str(b, 0, word, n);
		spate_row_set_i64(b, 1, 1);
		rc = spate_collect_emit(out);
		if (rc < 0)
			break;
	}
	if (word != small)
		free(word);
	return rc;
}

/* Appends `path` to the comma-separated list *paths (grown with realloc). */
static int add_path(char **paths, const char *path)
{
	size_t old = *paths ? strlen(*paths) : 0;
	char *p = realloc(*paths, old + strlen(path) + 2);
	if (p == NULL)
		return -1;
	if (old > 0)
		p[old++] = ',';
	strcpy(p + old, path);
	*paths = p;
	return 0;
}

static int usage_error(const char *what, const char *arg)
{
	fprintf(stderr,
	        "wordcount: %s '%s' (usage: wordcount.so [--input PATH]... [--output DIR])\n", what,
	        arg);
	return 2;
}

static int wordcount_main(spate_env *env, int argc, char **argv)
{
	char *inputs = NULL;
	const char *output = NULL;
	int rc;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--input") == 0 || strcmp(argv[i], "--output") == 0) {
			if (i + 1 >= argc) {
				free(inputs);
				return usage_error("missing value for", argv[i]);
			}
			if (argv[i][2] == 'i') {
				if (add_path(&inputs, argv[i + 1]) < 0) {
					fprintf(stderr, "wordcount: out of memory\n");
					return 1;
				}
			} else {
				output = argv[i + 1];
			}
			i++;
		} else {
			free(inputs);
			return usage_error("unknown argument", argv[i]);
		}
	}

	spate_stream *text;
	if (inputs != NULL) {
		text = spate_stream_name(spate_env_read_text_file(env, inputs), "file-input");
	} else {
		text = spate_stream_name(
		    spate_env_from_strings(env, hamlet, sizeof(hamlet) / sizeof(hamlet[0])),
		    "in-memory-input");
	}
	free(inputs);

	spate_stream *tokens = spate_stream_name(
	    spate_stream_flat_map(text, "word:string,count:int64", wordcount_tokenize),
	    "tokenizer");
	spate_stream *counts = spate_stream_name(
	    spate_stream_sum(spate_stream_key_by(tokens, "word"), "count"), "counter");
	if (output != NULL)
		spate_stream_name(spate_stream_write_text(counts, output), "file-sink");
	else
		spate_stream_name(spate_stream_print(counts), "print-sink");

	rc = spate_env_execute(env, "WordCount", NULL);
	return rc;
}

SPATE_JOB_ENTRY(wordcount_main)
