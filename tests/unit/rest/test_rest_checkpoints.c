/*
 * test_rest_checkpoints.c - the JSON the REST API gives for checkpoints, savepoints, job
 * metrics and the exception history (src/dispatcher/rest_jobs.c, rest_cluster.c), built
 * from hand-made coordinator statistics and compared with Flink's shapes written out here:
 * field sets from reference/flink-rest-v1-dispatcher.yml, numbers worked out by hand
 * (commons-math3's default percentile: position p(n+1)/100, linear between neighbours),
 * base64 from coreutils' base64(1).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "config/config.h"
#include "dispatcher/rest.h"

/* ---- helpers -------------------------------------------------------------------------- */

/* Fails, printing both, unless o's keys are exactly the comma-separated `keys`. */
static void assert_keys(const json_t *o, const char *keys)
{
	char want[1024], got[1024] = "";
	snprintf(want, sizeof want, "%s", keys);
	size_t nwant = 1;
	for (const char *c = keys; *c; c++)
		nwant += *c == ',';
	const char *k;
	json_t *v;
	size_t n = 0;
	json_object_foreach((json_t *)o, k, v)
	{
		(void)v;
		size_t len = strlen(got);
		snprintf(got + len, sizeof got - len, "%s%s", n ? "," : "", k);
		n++;
		/* every key must be among the wanted ones */
		char pat[128];
		snprintf(pat, sizeof pat, ",%s,", k);
		char padded[1100];
		snprintf(padded, sizeof padded, ",%s,", want);
		if (!strstr(padded, pat))
			fail_msg("unexpected key '%s': got {%s}, want {%s}", k, got, want);
	}
	if (n != nwant)
		fail_msg("got %zu keys {%s}, want %zu {%s}", n, got, nwant, want);
}

static int64_t int_at(const json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	if (!json_is_integer(v))
		fail_msg("'%s' is not an integer", key);
	return json_integer_value(v);
}

static double real_at(const json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	if (!json_is_real(v))
		fail_msg("'%s' is not a real (Flink sends a double)", key);
	return json_real_value(v);
}

static const char *str_at(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	if (!s)
		fail_msg("'%s' is not a string", key);
	return s;
}

/* Fails unless o equals the JSON text `want`. */
static void assert_json(json_t *o, const char *want)
{
	json_t *w = json_loads(want, 0, NULL);
	assert_non_null(w);
	if (!json_equal(o, w)) {
		char *got = json_dumps(o, JSON_SORT_KEYS | JSON_COMPACT);
		char *exp = json_dumps(w, JSON_SORT_KEYS | JSON_COMPACT);
		fail_msg("got  %s\nwant %s", got, exp);
	}
	json_decref(w);
}

/* ---- StatsSummaryDto ----------------------------------------------------------------- */

static void test_summary_empty(void **state)
{
	(void)state;
	json_t *o = rest_stats_summary_json(NULL, 0);
	assert_keys(o, "min,max,avg,p50,p90,p95,p99,p999");
	assert_json(o, "{\"min\":0,\"max\":0,\"avg\":0,\"p50\":0.0,\"p90\":0.0,\"p95\":0.0,"
	               "\"p99\":0.0,\"p999\":0.0}");
	json_decref(o);
}

static void test_summary_five(void **state)
{
	(void)state;
	int64_t v[] = {5, 1, 4, 2, 3};
	json_t *o = rest_stats_summary_json(v, 5);
	/* min 1, max 5, avg 15/5; p50: pos 0.5*6 = 3 -> 3rd value; p90 and up: pos >= 5 -> max */
	assert_int_equal(int_at(o, "min"), 1);
	assert_int_equal(int_at(o, "max"), 5);
	assert_int_equal(int_at(o, "avg"), 3);
	assert_true(real_at(o, "p50") == 3.0);
	assert_true(real_at(o, "p90") == 5.0);
	assert_true(real_at(o, "p999") == 5.0);
	json_decref(o);
}

static void test_summary_interpolates(void **state)
{
	(void)state;
	int64_t v[] = {100, 90, 80, 70, 60, 50, 40, 30, 20, 10};
	json_t *o = rest_stats_summary_json(v, 10);
	/* p50: pos 5.5 -> 50 + 0.5*(60-50) = 55; p90: pos 9.9 -> 90 + 0.9*10 = 99;
	 * p95: pos 10.45 >= n -> 100; avg 550/10 = 55 */
	assert_int_equal(int_at(o, "avg"), 55);
	assert_true(real_at(o, "p50") == 55.0);
	assert_true(real_at(o, "p90") > 98.999 && real_at(o, "p90") < 99.001);
	assert_true(real_at(o, "p95") == 100.0);
	json_decref(o);

	/* Java's long division: (1 + 2) / 2 = 1; p50: pos 1.5 -> 1.5 */
	int64_t w[] = {2, 1};
	o = rest_stats_summary_json(w, 2);
	assert_int_equal(int_at(o, "avg"), 1);
	assert_true(real_at(o, "p50") == 1.5);
	json_decref(o);
}

/* ---- CheckpointStatistics ------------------------------------------------------------- */

#define T0 1700000000000LL

static struct checkpoint_vertex_stats vertices[2] = {
    {.num_subtasks = 2,
     .num_acked = 2,
     .latest_ack_ms = T0 + 300,
     .state_size = 700,
     .checkpointed_size = 70,
     .alignment_ms_max = 4,
     .sync_ms_max = 1,
     .async_ms_max = 9,
     .processed_bytes = 11},
    {.num_subtasks = 3,
     .num_acked = 1,
     .latest_ack_ms = T0 + 250,
     .state_size = 300,
     .checkpointed_size = 30,
     .processed_bytes = 22},
};

static const char *const vertex_ids[2] = {"0123456789abcdef0123456789abcdef",
                                          "fedcba9876543210fedcba9876543210"};

static struct checkpoint_stats completed(int64_t id, int64_t e2e_ms, int64_t size)
{
	return (struct checkpoint_stats){.id = id,
	                                 .status = CKPT_COMPLETED,
	                                 .kind = CKPT_KIND_CHECKPOINT,
	                                 .trigger_ms = T0,
	                                 .latest_ack_ms = T0 + e2e_ms,
	                                 .end_ms = T0 + e2e_ms + 7,
	                                 .num_subtasks = 5,
	                                 .num_acked = 5,
	                                 .state_size = 10 * size,
	                                 .checkpointed_size = size,
	                                 .alignment_ms_max = 3,
	                                 .processed_bytes = 2 * size,
	                                 .external_path = "/ckpt/job/chk-1",
	                                 .vertices = vertices,
	                                 .nvertices = 2};
}

#define COMMON_KEYS                                                              \
	"className,id,status,is_savepoint,savepointFormat,trigger_timestamp,"    \
	"latest_ack_timestamp,checkpointed_size,state_size,end_to_end_duration," \
	"alignment_buffered,processed_data,persisted_data,num_subtasks,"         \
	"num_acknowledged_subtasks,checkpoint_type,tasks"

static void test_checkpoint_completed(void **state)
{
	(void)state;
	struct checkpoint_stats s = completed(7, 1234, 500);
	json_t *o = rest_checkpoint_json(&s, NULL, 0);
	assert_keys(o, COMMON_KEYS ",external_path,discarded");
	assert_string_equal(str_at(o, "className"), "completed");
	assert_string_equal(str_at(o, "status"), "COMPLETED");
	assert_string_equal(str_at(o, "checkpoint_type"), "CHECKPOINT");
	assert_true(json_is_false(json_object_get(o, "is_savepoint")));
	assert_true(json_is_null(json_object_get(o, "savepointFormat")));
	assert_int_equal(int_at(o, "id"), 7);
	assert_int_equal(int_at(o, "trigger_timestamp"), T0);
	assert_int_equal(int_at(o, "latest_ack_timestamp"), T0 + 1234);
	assert_int_equal(int_at(o, "end_to_end_duration"), 1234); /* to the latest ack */
	assert_int_equal(int_at(o, "checkpointed_size"), 500);
	assert_int_equal(int_at(o, "state_size"), 5000);
	assert_int_equal(int_at(o, "processed_data"), 1000);
	assert_int_equal(int_at(o, "alignment_buffered"), 0);
	assert_int_equal(int_at(o, "persisted_data"), 0);
	assert_int_equal(int_at(o, "num_subtasks"), 5);
	assert_int_equal(int_at(o, "num_acknowledged_subtasks"), 5);
	assert_string_equal(str_at(o, "external_path"), "/ckpt/job/chk-1");
	assert_true(json_is_false(json_object_get(o, "discarded")));
	assert_int_equal(json_object_size(json_object_get(o, "tasks")), 0);
	json_decref(o);
}

static void test_checkpoint_savepoint_with_tasks(void **state)
{
	(void)state;
	struct checkpoint_stats s = completed(8, 100, 10);
	s.kind = CKPT_KIND_SAVEPOINT_TERMINATE;
	json_t *o = rest_checkpoint_json(&s, vertex_ids, 2);
	assert_true(json_is_true(json_object_get(o, "is_savepoint")));
	assert_string_equal(str_at(o, "savepointFormat"), "CANONICAL");
	assert_string_equal(str_at(o, "checkpoint_type"), "SYNC_SAVEPOINT");
	json_t *tasks = json_object_get(o, "tasks");
	assert_int_equal(json_object_size(tasks), 2);
	json_t *t = json_object_get(tasks, vertex_ids[1]);
	assert_non_null(t);
	assert_keys(t, "id,status,latest_ack_timestamp,checkpointed_size,state_size,"
	               "end_to_end_duration,alignment_buffered,processed_data,persisted_data,"
	               "num_subtasks,num_acknowledged_subtasks");
	assert_int_equal(int_at(t, "id"), 8);
	assert_string_equal(str_at(t, "status"), "COMPLETED");
	assert_int_equal(int_at(t, "latest_ack_timestamp"), T0 + 250);
	assert_int_equal(int_at(t, "end_to_end_duration"), 250);
	assert_int_equal(int_at(t, "state_size"), 300);
	assert_int_equal(int_at(t, "checkpointed_size"), 30);
	assert_int_equal(int_at(t, "processed_data"), 22);
	assert_int_equal(int_at(t, "num_subtasks"), 3);
	assert_int_equal(int_at(t, "num_acknowledged_subtasks"), 1);
	json_decref(o);
}

static void test_checkpoint_failed_and_pending(void **state)
{
	(void)state;
	struct checkpoint_stats f = {.id = 3,
	                             .status = CKPT_FAILED,
	                             .kind = CKPT_KIND_CHECKPOINT,
	                             .trigger_ms = T0,
	                             .latest_ack_ms = T0 + 10,
	                             .end_ms = T0 + 600000,
	                             .num_subtasks = 4,
	                             .num_acked = 1,
	                             .failure = "Checkpoint expired before completing."};
	json_t *o = rest_checkpoint_json(&f, NULL, 0);
	assert_keys(o, COMMON_KEYS ",failure_timestamp,failure_message");
	assert_string_equal(str_at(o, "className"), "failed");
	assert_string_equal(str_at(o, "status"), "FAILED");
	assert_int_equal(int_at(o, "end_to_end_duration"), 600000); /* to the failure */
	assert_int_equal(int_at(o, "failure_timestamp"), T0 + 600000);
	assert_string_equal(str_at(o, "failure_message"), "Checkpoint expired before completing.");
	json_decref(o);

	struct checkpoint_stats p = {.id = 4,
	                             .status = CKPT_IN_PROGRESS,
	                             .kind = CKPT_KIND_SAVEPOINT,
	                             .trigger_ms = T0,
	                             .num_subtasks = 4};
	o = rest_checkpoint_json(&p, NULL, 0);
	assert_keys(o, COMMON_KEYS);
	assert_string_equal(str_at(o, "className"), "in_progress");
	assert_string_equal(str_at(o, "status"), "IN_PROGRESS");
	/* no acknowledgement yet: Flink's -1 for both */
	assert_int_equal(int_at(o, "latest_ack_timestamp"), -1);
	assert_int_equal(int_at(o, "end_to_end_duration"), -1);
	json_decref(o);
}

/* ---- CheckpointingStatistics ---------------------------------------------------------- */

static void test_statistics_empty(void **state)
{
	(void)state;
	struct rest_checkpoint_view v = {0};
	json_t *o = rest_checkpoints_json(&v);
	const char *zero = "{\"min\":0,\"max\":0,\"avg\":0,\"p50\":0.0,\"p90\":0.0,\"p95\":0.0,"
	                   "\"p99\":0.0,\"p999\":0.0}";
	char want[2048];
	snprintf(want, sizeof want,
	         "{\"counts\":{\"restored\":0,\"total\":0,\"in_progress\":0,\"completed\":0,"
	         "\"failed\":0},\"summary\":{\"checkpointed_size\":%s,\"state_size\":%s,"
	         "\"end_to_end_duration\":%s,\"alignment_buffered\":%s,\"processed_data\":%s,"
	         "\"persisted_data\":%s},\"latest\":{\"completed\":null,\"savepoint\":null,"
	         "\"failed\":null,\"restored\":null},\"history\":[]}",
	         zero, zero, zero, zero, zero, zero);
	assert_json(o, want);
	json_decref(o);
}

static void test_statistics_full(void **state)
{
	(void)state;
	struct checkpoint_stats c1 = completed(1, 100, 400), c3 = completed(3, 300, 200);
	struct checkpoint_stats f2 = {.id = 2,
	                              .status = CKPT_FAILED,
	                              .trigger_ms = T0,
	                              .end_ms = T0 + 50,
	                              .checkpointed_size = 999999,
	                              .failure = "declined"};
	const struct checkpoint_stats *hist[] = {&c3, &f2, &c1};
	struct checkpoint_restored r = {.id = 9,
	                                .restore_ms = T0 - 5,
	                                .is_savepoint = true,
	                                .external_path = "/sp/savepoint-abcdef-0123456789ab"};
	struct rest_checkpoint_view v = {.counts = {1, 3, 0, 2, 1},
	                                 .history = hist,
	                                 .nhistory = 3,
	                                 .latest_completed = &c3,
	                                 .latest_failed = &f2,
	                                 .restored = &r};
	json_t *o = rest_checkpoints_json(&v);
	assert_keys(o, "counts,summary,latest,history");
	assert_json(json_object_get(o, "counts"), "{\"restored\":1,\"total\":3,\"in_progress\":0,"
	                                          "\"completed\":2,\"failed\":1}");
	/* over the two completed ones only: sizes 400 and 200, e2e 100 and 300 */
	json_t *sum = json_object_get(o, "summary");
	json_t *cs = json_object_get(sum, "checkpointed_size");
	assert_int_equal(int_at(cs, "min"), 200);
	assert_int_equal(int_at(cs, "max"), 400);
	assert_int_equal(int_at(cs, "avg"), 300);
	assert_true(real_at(cs, "p50") == 300.0); /* pos 1.5 */
	json_t *e2e = json_object_get(sum, "end_to_end_duration");
	assert_int_equal(int_at(e2e, "min"), 100);
	assert_int_equal(int_at(e2e, "max"), 300);
	assert_int_equal(int_at(json_object_get(sum, "state_size"), "max"), 4000);
	assert_int_equal(int_at(json_object_get(sum, "processed_data"), "min"), 400);
	json_t *latest = json_object_get(o, "latest");
	assert_keys(latest, "completed,savepoint,failed,restored");
	assert_int_equal(int_at(json_object_get(latest, "completed"), "id"), 3);
	assert_true(json_is_null(json_object_get(latest, "savepoint")));
	assert_int_equal(int_at(json_object_get(latest, "failed"), "id"), 2);
	assert_json(json_object_get(latest, "restored"),
	            "{\"id\":9,\"restore_timestamp\":1699999999995,\"is_savepoint\":true,"
	            "\"external_path\":\"/sp/savepoint-abcdef-0123456789ab\"}");
	json_t *h = json_object_get(o, "history");
	assert_int_equal(json_array_size(h), 3);
	assert_int_equal(int_at(json_array_get(h, 0), "id"), 3); /* newest first, as given */
	assert_string_equal(str_at(json_array_get(h, 1), "className"), "failed");
	/* Flink's handler leaves the per-task statistics to /checkpoints/details */
	assert_int_equal(json_object_size(json_object_get(json_array_get(h, 0), "tasks")), 0);
	json_decref(o);
}

static void test_task_details(void **state)
{
	(void)state;
	struct checkpoint_stats s = completed(5, 400, 1);
	json_t *o = rest_task_checkpoint_details_json(&s, 0);
	assert_int_equal(int_at(o, "num_acknowledged_subtasks"), 2);
	assert_json(json_object_get(o, "summary"),
	            "{\"checkpoint_duration\":{\"sync\":{\"max\":1},\"async\":{\"max\":9}},"
	            "\"alignment\":{\"duration\":{\"max\":4}}}");
	assert_json(json_object_get(o, "subtasks"),
	            "[{\"className\":\"completed\",\"index\":0,\"status\":\"completed\"},"
	            "{\"className\":\"completed\",\"index\":1,\"status\":\"completed\"}]");
	json_decref(o);
	/* 1 of 3 acknowledged: which one is not known, so no subtask is listed */
	o = rest_task_checkpoint_details_json(&s, 1);
	assert_int_equal(json_array_size(json_object_get(o, "subtasks")), 0);
	json_decref(o);
	struct checkpoint_vertex_stats none = {.num_subtasks = 1};
	s.vertices = &none;
	s.nvertices = 1;
	o = rest_task_checkpoint_details_json(&s, 0);
	assert_json(json_object_get(o, "subtasks"),
	            "[{\"className\":\"pending\",\"index\":0,\"status\":\"pending_or_failed\"}]");
	json_decref(o);
}

/* ---- CheckpointConfigInfo ------------------------------------------------------------- */

static void test_config_disabled(void **state)
{
	(void)state;
	struct config *c = config_new();
	struct checkpoint_config cc = {.enabled = false,
	                               .interval_ms = INT64_MAX,
	                               .exactly_once = true,
	                               .timeout_ms = 600000,
	                               .max_concurrent = 1,
	                               .backend = "hashmap"};
	json_t *o = rest_checkpoint_config_json(&cc, c);
	assert_keys(o, "mode,interval,timeout,min_pause,max_concurrent,externalization,"
	               "state_backend,checkpoint_storage,unaligned_checkpoints,"
	               "tolerable_failed_checkpoints,aligned_checkpoint_timeout,"
	               "checkpoints_after_tasks_finish,state_changelog_enabled,"
	               "changelog_periodic_materialization_interval,changelog_storage");
	char *text = json_dumps(o, JSON_COMPACT);
	/* Long.MAX_VALUE exactly, as Flink's DISABLED_CHECKPOINT_INTERVAL */
	assert_non_null(strstr(text, "\"interval\":9223372036854775807,"));
	free(text);
	assert_string_equal(str_at(o, "mode"), "exactly_once");
	assert_string_equal(str_at(o, "state_backend"), "HashMapStateBackend");
	assert_string_equal(str_at(o, "checkpoint_storage"), "JobManagerCheckpointStorage");
	assert_json(json_object_get(o, "externalization"),
	            "{\"enabled\":false,\"delete_on_cancellation\":true}");
	json_decref(o);
	config_free(c);
}

static void test_config_enabled(void **state)
{
	(void)state;
	struct config *c = config_new();
	assert_int_equal(config_set(c, "execution.checkpointing.externalized-checkpoint-retention",
	                            "RETAIN_ON_CANCELLATION", NULL),
	                 0);
	struct checkpoint_config cc = {.enabled = true,
	                               .interval_ms = 5000,
	                               .exactly_once = false,
	                               .timeout_ms = 60000,
	                               .min_pause_ms = 100,
	                               .max_concurrent = 1,
	                               .tolerable_failures = 2,
	                               .dir = "/ckpt",
	                               .backend = "rocksdb"};
	json_t *o = rest_checkpoint_config_json(&cc, c);
	assert_string_equal(str_at(o, "mode"), "at_least_once");
	assert_int_equal(int_at(o, "interval"), 5000);
	assert_int_equal(int_at(o, "min_pause"), 100);
	assert_int_equal(int_at(o, "tolerable_failed_checkpoints"), 2);
	assert_string_equal(str_at(o, "state_backend"), "EmbeddedRocksDBStateBackend");
	assert_string_equal(str_at(o, "checkpoint_storage"), "FileSystemCheckpointStorage");
	assert_json(json_object_get(o, "externalization"),
	            "{\"enabled\":true,\"delete_on_cancellation\":false}");
	json_decref(o);
	assert_int_equal(config_set(c, "execution.checkpointing.externalized-checkpoint-retention",
	                            "DELETE_ON_CANCELLATION", NULL),
	                 0);
	o = rest_checkpoint_config_json(&cc, c);
	assert_json(json_object_get(o, "externalization"),
	            "{\"enabled\":true,\"delete_on_cancellation\":true}");
	json_decref(o);
	config_free(c);
}

/* ---- savepoint operations ------------------------------------------------------------- */

static void test_savepoint_status(void **state)
{
	(void)state;
	struct savepoint_request r = {.done = false};
	json_t *o = rest_savepoint_status_json(&r);
	assert_json(o, "{\"status\":{\"id\":\"IN_PROGRESS\"}}");
	json_decref(o);

	r.done = true;
	r.location = "/sp/savepoint-abcdef-0123456789ab";
	o = rest_savepoint_status_json(&r);
	assert_json(o, "{\"status\":{\"id\":\"COMPLETED\"},\"operation\":{\"location\":"
	               "\"/sp/savepoint-abcdef-0123456789ab\"}}");
	json_decref(o);

	r.location = NULL;
	r.failure = "cannot write /sp/_metadata: No space left on device";
	o = rest_savepoint_status_json(&r);
	/* serialized-throwable: `printf '%s' "$stack_trace" | base64 -w0` */
	assert_json(
	    o, "{\"status\":{\"id\":\"COMPLETED\"},\"operation\":{\"failure-cause\":{"
	       "\"class\":\"java.util.concurrent.CompletionException\","
	       "\"stack-trace\":\"java.util.concurrent.CompletionException: cannot write "
	       "/sp/_metadata: No space left on device\",\"serialized-throwable\":"
	       "\"amF2YS51dGlsLmNvbmN1cnJlbnQuQ29tcGxldGlvbkV4Y2VwdGlvbjogY2Fubm90IHdyaXRlIC9zcC9f"
	       "bWV0YWRhdGE6IE5vIHNwYWNlIGxlZnQgb24gZGV2aWNl\"}}}");
	json_decref(o);

	r.failure = "x"; /* base64 padding: two '=' */
	o = rest_savepoint_status_json(&r);
	json_t *cause = json_object_get(json_object_get(o, "operation"), "failure-cause");
	assert_string_equal(str_at(cause, "serialized-throwable"),
	                    "amF2YS51dGlsLmNvbmN1cnJlbnQuQ29tcGxldGlvbkV4Y2VwdGlvbjogeA==");
	json_decref(o);
}

/* ---- metric lists and exceptions ------------------------------------------------------ */

static void test_metric_list(void **state)
{
	(void)state;
	const struct rest_metric m[] = {{"numRestarts", 2, false},
	                                {"lastCheckpointDuration", -1, false},
	                                {"Status.CPU.Load", 0.25, true}};
	json_t *o = rest_metric_list_json(m, 3, NULL);
	assert_json(o, "[{\"id\":\"numRestarts\"},{\"id\":\"lastCheckpointDuration\"},"
	               "{\"id\":\"Status.CPU.Load\"}]");
	json_decref(o);
	o = rest_metric_list_json(m, 3, "Status.CPU.Load,nope,lastCheckpointDuration,numRestarts");
	assert_json(o, "[{\"id\":\"Status.CPU.Load\",\"value\":\"0.25\"},"
	               "{\"id\":\"lastCheckpointDuration\",\"value\":\"-1\"},"
	               "{\"id\":\"numRestarts\",\"value\":\"2\"}]");
	json_decref(o);
}

static void test_exception_entries(void **state)
{
	(void)state;
	struct jm_exception task = {.timestamp_ms = T0,
	                            .message = "java.lang.IllegalStateException: boom at 1000",
	                            .task_name = "Map (2/4)",
	                            .endpoint = "127.0.0.1:40000",
	                            .tm_id = "tm-1",
	                            .attempt = 0,
	                            .restarted = true};
	json_t *o = rest_exception_entry_json(&task);
	assert_json(o,
	            "{\"exceptionName\":\"java.lang.IllegalStateException\","
	            "\"stacktrace\":\"java.lang.IllegalStateException: boom at 1000\","
	            "\"timestamp\":1700000000000,\"failureLabels\":{},\"taskName\":\"Map (2/4)\","
	            "\"endpoint\":\"127.0.0.1:40000\",\"taskManagerId\":\"tm-1\","
	            "\"concurrentExceptions\":[]}");
	json_decref(o);
	struct jm_exception global = {
	    .timestamp_ms = T0, .message = "Exceeded checkpoint tolerable failure threshold."};
	o = rest_exception_entry_json(&global);
	assert_json(o,
	            "{\"exceptionName\":\"org.apache.flink.runtime.JobException\","
	            "\"stacktrace\":\"org.apache.flink.runtime.JobException: Exceeded checkpoint "
	            "tolerable failure threshold.\",\"timestamp\":1700000000000,"
	            "\"failureLabels\":{},\"concurrentExceptions\":[]}");
	json_decref(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_summary_empty),
	    cmocka_unit_test(test_summary_five),
	    cmocka_unit_test(test_summary_interpolates),
	    cmocka_unit_test(test_checkpoint_completed),
	    cmocka_unit_test(test_checkpoint_savepoint_with_tasks),
	    cmocka_unit_test(test_checkpoint_failed_and_pending),
	    cmocka_unit_test(test_statistics_empty),
	    cmocka_unit_test(test_statistics_full),
	    cmocka_unit_test(test_task_details),
	    cmocka_unit_test(test_config_disabled),
	    cmocka_unit_test(test_config_enabled),
	    cmocka_unit_test(test_savepoint_status),
	    cmocka_unit_test(test_metric_list),
	    cmocka_unit_test(test_exception_entries),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
