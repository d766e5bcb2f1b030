/*
 * flush_probe.c - checks that rows reach a downstream task while the stream is still open.
 *
 * socket source (--port) -> rebalance -> sink "probe" (another task). The sink counts rows;
 * when it has seen --expect rows it creates the file --marker. The test's line server keeps
 * the connection open until that file exists, so the file can only appear if partly filled
 * buffers are flushed by the buffer timeout rather than at end of input.
 */
#include <spate/spate.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int flush_probe_sink(spate_ctx *ctx, const spate_row *in, spate_collector *out);

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

	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--port") == 0)
			port = argv[i + 1];
		else if (strcmp(argv[i], "--expect") == 0)
			expect = argv[i + 1];
		else if (strcmp(argv[i], "--marker") == 0)
			marker = argv[i + 1];
		else if (strcmp(argv[i], "--sink-group") == 0) /* own slot: on a cluster, */
			group = argv[i + 1];                   /* possibly another process */
	}
	if (port == NULL || expect == NULL || marker == NULL || argc % 2 == 0) {
		fprintf(
		    stderr,
		    "flush_probe: usage: --port N --expect ROWS --marker PATH [--sink-group G]\n");
		return 2;
	}
	spate_stream *lines = spate_env_socket_text_stream(env, "127.0.0.1", atoi(port));
	spate_stream *sink = spate_stream_sink(spate_stream_rebalance(lines), flush_probe_sink);
	sink = spate_stream_name(spate_stream_set_parallelism(sink, 1), "probe");
	spate_stream_set_param(sink, "expect", expect);
	spate_stream_set_param(sink, "marker", marker);
	if (group)
		spate_stream_slot_sharing_group(sink, group);
	return spate_env_execute(env, "FlushProbe", NULL);
}

SPATE_JOB_ENTRY(flush_probe_main)
