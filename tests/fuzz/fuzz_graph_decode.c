/*
 * fuzz_graph_decode.c - libFuzzer driver for stream_graph_decode, which turns bytes from
 * the network (a job submission, a task deployment) into the graph every JobManager and
 * TaskManager builds its JobGraph from.
 *
 * Beyond "no crash, no leak" this checks the decoder's promises (graph_codec.h): a failure
 * always has a code and a one-line "bad job graph: " message; a graph it accepts is
 * finalized (job_graph_build takes it and prints a plan), and encoding it again gives bytes
 * that decode to the same encoding (nothing accepted is lost or changed on a second trip).
 *
 * Run (the first directory receives new inputs, so the stored corpus stays small):
 *   mkdir -p /tmp/graph_decode
 *   ./build-fuzz/fuzz/fuzz_graph_decode -max_total_time=60 /tmp/graph_decode
 * tests/fuzz/corpus/graph_decode libspate itself is only coverage-instrumented if the fuzz
 * build also gets -DCMAKE_C_FLAGS=-fsanitize=fuzzer-no-link; without it the fuzzer is nearly
 * blind. The stored corpus is written by tests/unit/graph/test_graph_codec.c (see there)
 * and replayed by it on every build.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "graph/execution_graph.h"
#include "graph/graph_codec.h"
#include "graph/job_graph.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Execution graphs allocate one record per subtask; parallelism up to 32768 per operator is
 * valid, so only build them for inputs that stay small. */
#define MAX_SUBTASKS 100000

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_set_level(LOG_OFF);
	return 0;
}

static void check(int cond, const char *what, const char *detail)
{
	if (!cond) {
		fprintf(stderr, "fuzz_graph_decode: %s: %s\n", what, detail);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct spate_error err = {0};
	/* an exact-size copy, so ASan reports any read past the end */
	uint8_t *buf = malloc(size ? size : 1);
	if (size)
		memcpy(buf, data, size);
	struct stream_graph *g = stream_graph_decode(buf, size, &err);
	free(buf);
	if (!g) {
		check((err.code == SPATE_ECORRUPT || err.code == SPATE_EGRAPH) &&
		          strncmp(err.msg, "bad job graph: ", 15) == 0 && !strchr(err.msg, '\n'),
		      "bad error", err.msg);
		return 0;
	}

	struct job_graph *jg = NULL;
	check(job_graph_build(g, &jg, &err) == 0, "decoded graph is not buildable", err.msg);
	char *plan = job_graph_plan_json(jg);
	check(plan != NULL, "no plan", "");
	xfree(plan);
	if (job_graph_subtask_count(jg) <= MAX_SUBTASKS) {
		struct execution_graph *eg = NULL;
		struct spate_error e2 = {0};
		/* May refuse (a vertex whose max parallelism is below its parallelism is the
		 * same error the client would see); must not crash. */
		if (execution_graph_build(jg, &eg, &e2) == 0)
			execution_graph_free(eg);
	}
	job_graph_free(jg);

	size_t len1, len2;
	uint8_t *b1 = stream_graph_encode(g, &len1);
	struct stream_graph *g2 = stream_graph_decode(b1, len1, &err);
	check(g2 != NULL, "re-encoded graph does not decode", err.msg);
	uint8_t *b2 = stream_graph_encode(g2, &len2);
	check(len1 == len2 && memcmp(b1, b2, len1) == 0, "second round trip differs", "");
	xfree(b1);
	xfree(b2);
	stream_graph_free(g2);
	stream_graph_free(g);
	return 0;
}
