/*
 * socket_wordcount.c - WordCount over lines read from a TCP server, after Flink's
 * SocketWindowWordCount example.
 *
 * Flink's example counts words in 5-second windows. Spate has no windows yet (event time and
 * windows come in a later issue), so this version prints the rolling count of every word:
 * one "(word,count)" line per word seen. The job ends when the server closes the connection.
 *
 * Try it with a server such as `nc -lk 9999` in another terminal:
 *
 *   spate run socket_wordcount.so --port 9999 [--hostname localhost]
 */
#include <spate/spate.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* User functions are non-static so that the engine can name them for shipping. */
int socket_wordcount_tokenize(spate_ctx *ctx, const spate_row *in, spate_collector *out);

/* Java's \w: ASCII letters, digits and underscore. Bytes >= 0x80 are separators. */
static int is_word_byte(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_';
}

/* Emits (token, 1) for every maximal run of word characters, lower-cased. */
int socket_wordcount_tokenize(spate_ctx *ctx, const spate_row *in, spate_collector *out)
{
	size_t len = 0;
	const char *line = spate_row_str(in, 0, &len);
	char *word;
	int rc = 0;

	if (line == NULL || len == 0)
		return 0;
	word = malloc(len);
	if (word == NULL)
		return spate_ctx_fail(ctx, "tokenizer: cannot allocate %zu bytes", len);
	size_t i = 0;
	while (i < len && rc >= 0) {
		size_t n = 0;
		while (i < len && !is_word_byte((unsigned char)line[i]))
			i++;
		while (i < len && is_word_byte((unsigned char)line[i])) {
			unsigned char c = (unsigned char)line[i++];
			word[n++] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : (char)c;
		}
		if (n == 0)
			continue;
		spate_row_builder *b = spate_collect_begin(out);
		spate_row_set_str(b, 0, word, n);
		spate_row_set_i64(b, 1, 1);
		rc = spate_collect_emit(out);
	}
	free(word);
	return rc < 0 ? rc : 0;
}

static int usage_error(const char *what, const char *arg)
{
	fprintf(stderr,
	        "socket_wordcount: %s '%s' (usage: socket_wordcount.so --port PORT "
	        "[--hostname HOST])\n",
	        what, arg);
	return 2;
}

static int socket_wordcount_main(spate_env *env, int argc, char **argv)
{
	const char *hostname = "localhost";
	const char *port_arg = NULL;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--hostname") == 0 || strcmp(argv[i], "--port") == 0) {
			if (i + 1 >= argc)
				return usage_error("missing value for", argv[i]);
			if (argv[i][2] == 'h')
				hostname = argv[i + 1];
			else
				port_arg = argv[i + 1];
			i++;
		} else {
			return usage_error("unknown argument", argv[i]);
		}
	}
	if (port_arg == NULL)
		return usage_error("missing required option", "--port");
	char *end;
	errno = 0;
	long port = strtol(port_arg, &end, 10);
	if (errno != 0 || *end != '\0' || end == port_arg || port < 1 || port > 65535)
		return usage_error("bad port (expected 1..65535)", port_arg);

	spate_stream *text = spate_env_socket_text_stream(env, hostname, (int)port);
	spate_stream *tokens = spate_stream_name(
	    spate_stream_flat_map(text, "word:string,count:int64", socket_wordcount_tokenize),
	    "tokenizer");
	spate_stream *counts = spate_stream_name(
	    spate_stream_sum(spate_stream_key_by(tokens, "word"), "count"), "counter");
	spate_stream_name(spate_stream_print(counts), "print-sink");
	return spate_env_execute(env, "Socket WordCount", NULL);
}

SPATE_JOB_ENTRY(socket_wordcount_main)
