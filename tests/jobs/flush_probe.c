/*
 * flush_probe.c - checks that rows reach a downstream task while the stream is still open.
 *
 * socket source (--port) -> rebalance -> sink "probe" (another task). The sink counts rows;
 * when it has seen --expect rows it creates the file --marker. The test's line server keeps
 * the connection open until that file exists, so the file can only appear if partly filled
 * buffers are flushed by the buffer timeout rather than at end of input.
 *
 * With --busy instead of --port the source never goes idle: an unbounded generator whose
 * chained filter passes only indexes 0..expect-1, so a partly filled buffer must be handed
 * over while the source keeps running (buffer timeout 0 must not wait for more rows or for
 * the end of input).
 */
#include <spate/spate.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int flush_probe_sink(spate_ctx *ctx, const spate_row *in, spate_collector *out);
int flush_probe_gen(spate_ctx *ctx, int64_t index, spate_row_builder *out);
int flush_probe_first(spate_ctx *ctx, const spate_row *in);

int flush_probe_gen(spate_ctx *ctx, int64_t index, spate_row_builder *out)
{
	(void)ctx;
	spate_row_set_i64(out, 0, index);
	return 0;
}

/* Keeps the first `expect` indexes (the parameter is parsed into the user-data slot). */
int flush_probe_first(spate_ctx *ctx, const spate_row *in)
{
	void **slot = spate_ctx_user_data(ctx);
	if (!*slot)
		*slot = (void *)(intptr_t)atoll(spate_ctx_param(ctx, "expect"));
	return spate_row_i64(in, 0) < (intptr_t)*slot;
}

int flush_probe_sink(spate_ctx *ctx, const spate_row *in, spate_collector *out)
{
	/* The count lives in the user-data slot itself: no allocation to free. */
	void **slot = spate_ctx_user_data(ctx);
	intptr_t seen = (intptr_t)*slot + 1;
	*slot = (void *)seen;
	long long expect = atoll(spate_ctx_param(ctx, "expect"));
	if (seen == expect) {
		int fd = open(spate_ctx_param(ctx, "marker"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0)
			return spate_ctx_fail(ctx, "cannot create the marker file");
		close(fd);
	}
	return 0;
}

static int flush_probe_main(spate_env *env, int argc, char **argv)
{
	const char *port = NULL, *expect = NULL, *marker = NULL, *group = NULL;
	int busy = 0, bad = 0;

	for (int i = 1; i < argc; i++) {
		const char **value = NULL;
		if (strcmp(argv[i], "--busy") == 0)
			busy = 1;
		else if (strcmp(argv[i], "--port") == 0)
			value = &port;
		else if (strcmp(argv[i], "--expect") == 0)
			value = &expect;
		else if (strcmp(argv[i], "--marker") == 0)
			value = &marker;
		else if (strcmp(argv[i], "--sink-group") == 0) /* own slot: on a cluster, */
			value = &group;                        /* possibly another process */
		else
			bad = 1;
		if (value && i + 1 < argc)
			*value = argv[++i];
		else if (value)
			bad = 1;
	}
	if (bad || (port == NULL) == !busy || expect == NULL || marker == NULL) {
		fprintf(stderr, "flush_probe: usage: (--port N | --busy) --expect ROWS --marker "
		                "PATH [--sink-group G]\n");
		return 2;
	}
	spate_stream *lines;
	if (busy) {
		lines = spate_env_from_generator(env, "i:int64", flush_probe_gen, -1, 0);
		lines =
		    spate_stream_filter(spate_stream_set_parallelism(lines, 1), flush_probe_first);
		spate_stream_set_param(lines, "expect", expect);
	} else {
		lines = spate_env_socket_text_stream(env, "127.0.0.1", atoi(port));
	}
	spate_stream *sink = spate_stream_sink(spate_stream_rebalance(lines), flush_probe_sink);
	sink = spate_stream_name(spate_stream_set_parallelism(sink, 1), "probe");
	spate_stream_set_param(sink, "expect", expect);
	spate_stream_set_param(sink, "marker", marker);
	if (group)
		spate_stream_slot_sharing_group(sink, group);
	return spate_env_execute(env, "FlushProbe", NULL);
}

SPATE_JOB_ENTRY(flush_probe_main)
