/*
 * test_rpc.c - the control plane's framing, handshake and socket helpers (rpc/rpc.h).
 *
 * 1. Replays the stored fuzz corpus of rpc_decode (tests/fuzz/corpus/rpc_decode) through
 *    the same checks as the fuzz driver (rpc_exercise.h): seeds named valid_* must decode,
 *    invalid_* must be rejected, files the fuzzer adds only have to not crash.
 * 2. Sends every Envelope body case through rpc_send/rpc_recv over a socketpair and
 *    compares the fields.
 * 3. The handshake: two threads, a wrong protocol version, a first message that is not a
 *    Hello.
 * 4. rpc_recv's defences: an oversized length header, a truncated frame, silence.
 * 5. rpc_listen/rpc_connect over TCP on 127.0.0.1, and a connect to a closed port.
 * 6. Job ids <-> 16 bytes.
 *
 * Regenerating the seeds: the valid_* and invalid_* seeds are built by this test from the
 * same sample messages the round trip uses. Run it with SPATE_RPC_CORPUS_OUT set to a
 * directory and it (re)writes them there before replaying the corpus:
 *   SPATE_RPC_CORPUS_OUT=tests/fuzz/corpus/rpc_decode SPATE_SRC=. build/tests/test_rpc
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "fuzz/rpc_exercise.h"
#include "rpc/rpc.h"
#include "unit/corpus.h"

#define JOB_HEX "0123456789abcdeffedcba9876543210"

#define assert_contains(s, sub)                                             \
	do {                                                                \
		if (!strstr((s), (sub)))                                    \
			fail_msg("'%s' does not contain '%s'", (s), (sub)); \
	} while (0)

/* ---- sample messages, one per body case ------------------------------------------------ */

struct samples {
	uint8_t job_id[16];
	uint8_t graph[64];
	uint8_t blob[3000];
	char *running[2];
	Spate__Rpc__Hello hello;
	Spate__Rpc__RegisterTaskManager register_tm;
	Spate__Rpc__RegistrationReply registration_reply;
	Spate__Rpc__Heartbeat heartbeat;
	Spate__Rpc__TaskDeployment tasks[2];
	Spate__Rpc__TaskDeployment *task_ptrs[2];
	Spate__Rpc__SubtaskLocation locations[3];
	Spate__Rpc__SubtaskLocation *location_ptrs[3];
	Spate__Rpc__DeployTasks__ConfigEntry config[2];
	Spate__Rpc__DeployTasks__ConfigEntry *config_ptrs[2];
	Spate__Rpc__DeployTasks deploy;
	Spate__Rpc__TaskStateUpdate task_state;
	Spate__Rpc__CancelJob cancel_job;
	Spate__Rpc__JobReleased job_released;
	Spate__Rpc__BlobRequest blob_request;
	Spate__Rpc__BlobReply blob_reply;
};

static const struct {
	Spate__Rpc__Envelope__BodyCase which;
	const char *name;
} CASES[] = {
    {SPATE__RPC__ENVELOPE__BODY_HELLO, "hello"},
    {SPATE__RPC__ENVELOPE__BODY_REGISTER_TM, "register_tm"},
    {SPATE__RPC__ENVELOPE__BODY_REGISTRATION_REPLY, "registration_reply"},
    {SPATE__RPC__ENVELOPE__BODY_HEARTBEAT, "heartbeat"},
    {SPATE__RPC__ENVELOPE__BODY_DEPLOY, "deploy"},
    {SPATE__RPC__ENVELOPE__BODY_TASK_STATE, "task_state"},
    {SPATE__RPC__ENVELOPE__BODY_CANCEL_JOB, "cancel_job"},
    {SPATE__RPC__ENVELOPE__BODY_JOB_RELEASED, "job_released"},
    {SPATE__RPC__ENVELOPE__BODY_BLOB_REQUEST, "blob_request"},
    {SPATE__RPC__ENVELOPE__BODY_BLOB_REPLY, "blob_reply"},
};
#define N_CASES (sizeof CASES / sizeof CASES[0])

static void samples_init(struct samples *s)
{
	memset(s, 0, sizeof *s);
	job_id_to_bytes(JOB_HEX, s->job_id);
	for (size_t i = 0; i < sizeof s->graph; i++)
		s->graph[i] = (uint8_t)(i * 7 + 1);
	for (size_t i = 0; i < sizeof s->blob; i++)
		s->blob[i] = (uint8_t)(i * 31 + (i >> 8)); /* includes NULs */
	ProtobufCBinaryData jid = {sizeof s->job_id, s->job_id};

	s->hello = (Spate__Rpc__Hello)SPATE__RPC__HELLO__INIT;
	s->hello.version = RPC_PROTOCOL_VERSION;
	s->hello.role = "taskmanager";
	s->hello.name = "tm-7";

	s->running[0] = "job-a";
	s->running[1] = "job-b";
	s->register_tm = (Spate__Rpc__RegisterTaskManager)SPATE__RPC__REGISTER_TASK_MANAGER__INIT;
	s->register_tm.resource_id = "tm-7";
	s->register_tm.host = "10.0.0.7";
	s->register_tm.data_port = 6121;
	s->register_tm.num_slots = 4;
	s->register_tm.pid = UINT64_C(4000000001);
	s->register_tm.n_running_jobs = 2;
	s->register_tm.running_jobs = s->running;

	s->registration_reply = (Spate__Rpc__RegistrationReply)SPATE__RPC__REGISTRATION_REPLY__INIT;
	s->registration_reply.accepted = 1;
	s->registration_reply.reason = "welcome";
	s->registration_reply.heartbeat_interval_ms = 10000;
	s->registration_reply.heartbeat_timeout_ms = 50000;
	s->registration_reply.jobmanager_id = "jm-1";

	s->heartbeat = (Spate__Rpc__Heartbeat)SPATE__RPC__HEARTBEAT__INIT;
	s->heartbeat.sent_ms = INT64_C(1700000000123);
	s->heartbeat.is_reply = 1;
	s->heartbeat.free_slots = 3;

	for (int i = 0; i < 2; i++) {
		s->tasks[i] = (Spate__Rpc__TaskDeployment)SPATE__RPC__TASK_DEPLOYMENT__INIT;
		s->tasks[i].vertex = (uint32_t)i + 1;
		s->tasks[i].subtask = (uint32_t)i * 2;
		s->tasks[i].attempt = 3;
		s->tasks[i].slot = (uint32_t)i;
		s->tasks[i].allocation_id = i ? "alloc-1" : "alloc-0";
		s->task_ptrs[i] = &s->tasks[i];
	}
	static const char *loc_ids[] = {"tm-7", "tm-8", "tm-9"};
	static const char *loc_hosts[] = {"10.0.0.7", "10.0.0.8", "host-9.example"};
	for (int i = 0; i < 3; i++) {
		s->locations[i] = (Spate__Rpc__SubtaskLocation)SPATE__RPC__SUBTASK_LOCATION__INIT;
		s->locations[i].resource_id = (char *)loc_ids[i];
		s->locations[i].host = (char *)loc_hosts[i];
		s->locations[i].data_port = 6121 + (uint32_t)i;
		s->location_ptrs[i] = &s->locations[i];
	}
	static const char *cfg_keys[] = {"state.backend", "pipeline.max-parallelism"};
	static const char *cfg_values[] = {"hashmap", "128"};
	for (int i = 0; i < 2; i++) {
		s->config[i] = (Spate__Rpc__DeployTasks__ConfigEntry)
		    SPATE__RPC__DEPLOY_TASKS__CONFIG_ENTRY__INIT;
		s->config[i].key = (char *)cfg_keys[i];
		s->config[i].value = (char *)cfg_values[i];
		s->config_ptrs[i] = &s->config[i];
	}
	s->deploy = (Spate__Rpc__DeployTasks)SPATE__RPC__DEPLOY_TASKS__INIT;
	s->deploy.job_id = jid;
	s->deploy.job_name = "WordCount";
	s->deploy.graph = (ProtobufCBinaryData){sizeof s->graph, s->graph};
	s->deploy.blob_key = "blob/" JOB_HEX;
	s->deploy.blob_size = sizeof s->blob;
	s->deploy.n_tasks = 2;
	s->deploy.tasks = s->task_ptrs;
	s->deploy.n_locations = 3;
	s->deploy.locations = s->location_ptrs;
	s->deploy.n_config = 2;
	s->deploy.config = s->config_ptrs;

	s->task_state = (Spate__Rpc__TaskStateUpdate)SPATE__RPC__TASK_STATE_UPDATE__INIT;
	s->task_state.job_id = jid;
	s->task_state.vertex = 2;
	s->task_state.subtask = 1;
	s->task_state.attempt = 4;
	s->task_state.state = "FAILED";
	s->task_state.failure = "division by zero in 'Map'";

	s->cancel_job = (Spate__Rpc__CancelJob)SPATE__RPC__CANCEL_JOB__INIT;
	s->cancel_job.job_id = jid;
	s->job_released = (Spate__Rpc__JobReleased)SPATE__RPC__JOB_RELEASED__INIT;
	s->job_released.job_id = jid;

	s->blob_request = (Spate__Rpc__BlobRequest)SPATE__RPC__BLOB_REQUEST__INIT;
	s->blob_request.key = "blob/" JOB_HEX;

	s->blob_reply = (Spate__Rpc__BlobReply)SPATE__RPC__BLOB_REPLY__INIT;
	s->blob_reply.key = "blob/" JOB_HEX;
	s->blob_reply.data = (ProtobufCBinaryData){sizeof s->blob, s->blob};
	s->blob_reply.error = "";
}

static void *sample_body(struct samples *s, Spate__Rpc__Envelope__BodyCase which)
{
	switch (which) {
	case SPATE__RPC__ENVELOPE__BODY_HELLO:
		return &s->hello;
	case SPATE__RPC__ENVELOPE__BODY_REGISTER_TM:
		return &s->register_tm;
	case SPATE__RPC__ENVELOPE__BODY_REGISTRATION_REPLY:
		return &s->registration_reply;
	case SPATE__RPC__ENVELOPE__BODY_HEARTBEAT:
		return &s->heartbeat;
	case SPATE__RPC__ENVELOPE__BODY_DEPLOY:
		return &s->deploy;
	case SPATE__RPC__ENVELOPE__BODY_TASK_STATE:
		return &s->task_state;
	case SPATE__RPC__ENVELOPE__BODY_CANCEL_JOB:
		return &s->cancel_job;
	case SPATE__RPC__ENVELOPE__BODY_JOB_RELEASED:
		return &s->job_released;
	case SPATE__RPC__ENVELOPE__BODY_BLOB_REQUEST:
		return &s->blob_request;
	case SPATE__RPC__ENVELOPE__BODY_BLOB_REPLY:
		return &s->blob_reply;
	default:
		fail_msg("no sample for body case %d", which);
		return NULL;
	}
}

/* An envelope holding the sample of one body case. */
static rpc_msg sample_envelope(struct samples *s, Spate__Rpc__Envelope__BodyCase which)
{
	rpc_msg m = SPATE__RPC__ENVELOPE__INIT;
	m.body_case = which;
	switch (which) {
	case SPATE__RPC__ENVELOPE__BODY_HELLO:
		m.hello = &s->hello;
		break;
	case SPATE__RPC__ENVELOPE__BODY_REGISTER_TM:
		m.register_tm = &s->register_tm;
		break;
	case SPATE__RPC__ENVELOPE__BODY_REGISTRATION_REPLY:
		m.registration_reply = &s->registration_reply;
		break;
	case SPATE__RPC__ENVELOPE__BODY_HEARTBEAT:
		m.heartbeat = &s->heartbeat;
		break;
	case SPATE__RPC__ENVELOPE__BODY_DEPLOY:
		m.deploy = &s->deploy;
		break;
	case SPATE__RPC__ENVELOPE__BODY_TASK_STATE:
		m.task_state = &s->task_state;
		break;
	case SPATE__RPC__ENVELOPE__BODY_CANCEL_JOB:
		m.cancel_job = &s->cancel_job;
		break;
	case SPATE__RPC__ENVELOPE__BODY_JOB_RELEASED:
		m.job_released = &s->job_released;
		break;
	case SPATE__RPC__ENVELOPE__BODY_BLOB_REQUEST:
		m.blob_request = &s->blob_request;
		break;
	case SPATE__RPC__ENVELOPE__BODY_BLOB_REPLY:
		m.blob_reply = &s->blob_reply;
		break;
	default:
		fail_msg("no sample for body case %d", which);
	}
	return m;
}

static uint8_t *pack_envelope(const rpc_msg *m, size_t *len)
{
	*len = protobuf_c_message_get_packed_size(&m->base);
	uint8_t *buf = malloc(*len ? *len : 1);
	assert_int_equal(protobuf_c_message_pack(&m->base, buf), *len);
	return buf;
}

static void assert_bin_equal(ProtobufCBinaryData a, ProtobufCBinaryData b)
{
	assert_int_equal(a.len, b.len);
	if (a.len)
		assert_memory_equal(a.data, b.data, a.len);
}

/* Compares a received envelope with the sample, field by field. */
static void assert_sample_equal(struct samples *s, const rpc_msg *got,
                                Spate__Rpc__Envelope__BodyCase which)
{
	assert_int_equal(got->body_case, which);
	switch (which) {
	case SPATE__RPC__ENVELOPE__BODY_HELLO:
		assert_int_equal(got->hello->version, s->hello.version);
		assert_string_equal(got->hello->role, s->hello.role);
		assert_string_equal(got->hello->name, s->hello.name);
		break;
	case SPATE__RPC__ENVELOPE__BODY_REGISTER_TM: {
		const Spate__Rpc__RegisterTaskManager *r = got->register_tm;
		assert_string_equal(r->resource_id, s->register_tm.resource_id);
		assert_string_equal(r->host, s->register_tm.host);
		assert_int_equal(r->data_port, s->register_tm.data_port);
		assert_int_equal(r->num_slots, s->register_tm.num_slots);
		assert_true(r->pid == s->register_tm.pid);
		assert_int_equal(r->n_running_jobs, 2);
		assert_string_equal(r->running_jobs[0], "job-a");
		assert_string_equal(r->running_jobs[1], "job-b");
		break;
	}
	case SPATE__RPC__ENVELOPE__BODY_REGISTRATION_REPLY: {
		const Spate__Rpc__RegistrationReply *r = got->registration_reply;
		assert_true(r->accepted);
		assert_string_equal(r->reason, "welcome");
		assert_true(r->heartbeat_interval_ms == 10000);
		assert_true(r->heartbeat_timeout_ms == 50000);
		assert_string_equal(r->jobmanager_id, "jm-1");
		break;
	}
	case SPATE__RPC__ENVELOPE__BODY_HEARTBEAT:
		assert_true(got->heartbeat->sent_ms == INT64_C(1700000000123));
		assert_true(got->heartbeat->is_reply);
		assert_int_equal(got->heartbeat->free_slots, 3);
		break;
	case SPATE__RPC__ENVELOPE__BODY_DEPLOY: {
		const Spate__Rpc__DeployTasks *d = got->deploy;
		char hex[33];
		assert_int_equal(job_id_from_bytes(d->job_id, hex), 0);
		assert_string_equal(hex, JOB_HEX);
		assert_string_equal(d->job_name, "WordCount");
		assert_bin_equal(d->graph, s->deploy.graph);
		assert_string_equal(d->blob_key, s->deploy.blob_key);
		assert_true(d->blob_size == sizeof s->blob);
		assert_int_equal(d->n_tasks, 2);
		for (size_t i = 0; i < 2; i++) {
			assert_int_equal(d->tasks[i]->vertex, s->tasks[i].vertex);
			assert_int_equal(d->tasks[i]->subtask, s->tasks[i].subtask);
			assert_int_equal(d->tasks[i]->attempt, s->tasks[i].attempt);
			assert_int_equal(d->tasks[i]->slot, s->tasks[i].slot);
			assert_string_equal(d->tasks[i]->allocation_id, s->tasks[i].allocation_id);
		}
		assert_int_equal(d->n_locations, 3);
		for (size_t i = 0; i < 3; i++) {
			assert_string_equal(d->locations[i]->resource_id,
			                    s->locations[i].resource_id);
			assert_string_equal(d->locations[i]->host, s->locations[i].host);
			assert_int_equal(d->locations[i]->data_port, s->locations[i].data_port);
		}
		assert_int_equal(d->n_config, 2);
		for (size_t i = 0; i < 2; i++) {
			assert_string_equal(d->config[i]->key, s->config[i].key);
			assert_string_equal(d->config[i]->value, s->config[i].value);
		}
		break;
	}
	case SPATE__RPC__ENVELOPE__BODY_TASK_STATE: {
		const Spate__Rpc__TaskStateUpdate *t = got->task_state;
		assert_bin_equal(t->job_id, s->task_state.job_id);
		assert_int_equal(t->vertex, 2);
		assert_int_equal(t->subtask, 1);
		assert_int_equal(t->attempt, 4);
		assert_string_equal(t->state, "FAILED");
		assert_string_equal(t->failure, s->task_state.failure);
		break;
	}
	case SPATE__RPC__ENVELOPE__BODY_CANCEL_JOB:
		assert_bin_equal(got->cancel_job->job_id, s->cancel_job.job_id);
		break;
	case SPATE__RPC__ENVELOPE__BODY_JOB_RELEASED:
		assert_bin_equal(got->job_released->job_id, s->job_released.job_id);
		break;
	case SPATE__RPC__ENVELOPE__BODY_BLOB_REQUEST:
		assert_string_equal(got->blob_request->key, s->blob_request.key);
		break;
	case SPATE__RPC__ENVELOPE__BODY_BLOB_REPLY:
		assert_string_equal(got->blob_reply->key, s->blob_reply.key);
		assert_bin_equal(got->blob_reply->data, s->blob_reply.data);
		assert_string_equal(got->blob_reply->error, "");
		break;
	default:
		fail_msg("unexpected body case %d", which);
	}
}

/* ---- 1. the stored fuzz corpus ---------------------------------------------------------- */

static void write_file(const char *dir, const char *name, const uint8_t *data, size_t len)
{
	char path[PATH_MAX + 256];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	if (!f)
		fail_msg("cannot write '%s': %s", path, strerror(errno));
	if (len)
		assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/* Writes the valid_* and invalid_* seeds into $SPATE_RPC_CORPUS_OUT (if set). */
static void write_seeds(const char *dir)
{
	struct samples s;
	char name[64];
	size_t len;
	uint8_t *deploy = NULL;
	size_t deploy_len = 0;

	samples_init(&s);
	for (size_t i = 0; i < N_CASES; i++) {
		rpc_msg m = sample_envelope(&s, CASES[i].which);
		uint8_t *buf = pack_envelope(&m, &len);
		snprintf(name, sizeof name, "valid_%s", CASES[i].name);
		write_file(dir, name, buf, len);
		if (CASES[i].which == SPATE__RPC__ENVELOPE__BODY_DEPLOY) {
			deploy = buf;
			deploy_len = len;
		} else {
			free(buf);
		}
	}
	/* An envelope with no body: zero bytes. */
	write_file(dir, "invalid_empty_envelope", NULL, 0);
	/* Only field 15 (varint 1), which no body case has: a newer peer's message. */
	write_file(dir, "invalid_unknown_field", (const uint8_t *)"\xa0\x06\x01", 3);
	/* The deploy seed without its last byte, and cut inside its first nested message. */
	write_file(dir, "invalid_truncated_deploy", deploy, deploy_len - 1);
	write_file(dir, "invalid_truncated_header", deploy, 3);
	/* Bytes that are no protobuf: an over-long varint tag, and an HTTP request ('G' is
	 * field 8 with the undefined wire type 7). */
	write_file(dir, "invalid_garbage",
	           (const uint8_t *)"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 12);
	write_file(dir, "invalid_http", (const uint8_t *)"GET / HTTP/1.1\r\n\r\n", 18);
	/* Field 5 (deploy), length-delimited, announcing 127 bytes where 3 follow. */
	write_file(dir, "invalid_length_past_end", (const uint8_t *)"\x2a\x7f\x0a\x01\x00", 5);
	/* Field 1 (hello) with a length that overflows a 64-bit varint's 10 bytes. */
	write_file(dir, "invalid_length_overflow",
	           (const uint8_t *)"\x0a\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 12);
	/* Field 1 (hello) sent as a varint, not as a message. */
	write_file(dir, "invalid_wrong_wire_type", (const uint8_t *)"\x08\x01", 2);
	free(deploy);
}

static void check_seed(const char *name, enum corpus_kind kind, const uint8_t *data, size_t len)
{
	int ok = rpc_exercise(data, len);
	if (kind == CORPUS_VALID && !ok)
		fail_msg("seed '%s' was rejected", name);
	if (kind == CORPUS_INVALID && ok)
		fail_msg("seed '%s' was accepted", name);
}

static void test_corpus(void **unused)
{
	(void)unused;
	const char *out = getenv("SPATE_RPC_CORPUS_OUT");
	int counts[CORPUS_KINDS];
	if (out && *out)
		write_seeds(out);
	corpus_replay("rpc_decode", check_seed, counts);
	assert_true(counts[CORPUS_VALID] >= (int)N_CASES);
	assert_true(counts[CORPUS_INVALID] >= 5);
}

/* The valid_<type> seeds decode to exactly the sample messages. */
static void test_corpus_values(void **unused)
{
	(void)unused;
	const char *src = getenv("SPATE_SRC");
	char path[PATH_MAX + 256], why[256];
	struct samples s;
	samples_init(&s);
	for (size_t i = 0; i < N_CASES; i++) {
		size_t len;
		snprintf(path, sizeof path, "%s/tests/fuzz/corpus/rpc_decode/valid_%s",
		         src ? src : ".", CASES[i].name);
		uint8_t *data = corpus_read_file(path, &len);
		rpc_msg *m = rpc_decode(data, len, why, sizeof why);
		if (!m)
			fail_msg("valid_%s: %s", CASES[i].name, why);
		assert_sample_equal(&s, m, CASES[i].which);
		rpc_msg_free(m);
		free(data);
	}
}

static void test_decode_reasons(void **unused)
{
	(void)unused;
	char why[256];
	assert_null(rpc_decode((const uint8_t *)"", 0, why, sizeof why));
	assert_string_equal(why, "unknown message type");
	assert_null(rpc_decode((const uint8_t *)"\xa0\x06\x01", 3, why, sizeof why));
	assert_string_equal(why, "unknown message type");
	assert_null(rpc_decode((const uint8_t *)"\x2a\x7f\x0a", 3, why, sizeof why));
	assert_string_equal(why, "undecodable message of 3 bytes");
}

/* ---- 2. rpc_send / rpc_recv round trip --------------------------------------------------- */

static void conn_pair(struct rpc_conn **a, struct rpc_conn **b)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	*a = rpc_conn_new(sv[0]);
	*b = rpc_conn_new(sv[1]);
}

static void test_round_trip(void **unused)
{
	(void)unused;
	struct samples s;
	struct rpc_conn *a, *b;
	char why[256];
	samples_init(&s);
	conn_pair(&a, &b);
	for (size_t i = 0; i < N_CASES; i++) {
		/* both ways, through rpc_send and through rpc_send_body */
		rpc_msg m = sample_envelope(&s, CASES[i].which);
		assert_int_equal(rpc_send(a, &m), 0);
		assert_int_equal(rpc_send_body(b, CASES[i].which, sample_body(&s, CASES[i].which)),
		                 0);
		rpc_msg *got = rpc_recv(b, 5000, why, sizeof why);
		if (!got)
			fail_msg("%s a->b: %s", CASES[i].name, why);
		assert_sample_equal(&s, got, CASES[i].which);
		rpc_msg_free(got);
		got = rpc_recv(a, 5000, why, sizeof why);
		if (!got)
			fail_msg("%s b->a: %s", CASES[i].name, why);
		assert_sample_equal(&s, got, CASES[i].which);
		rpc_msg_free(got);
	}
	/* several frames queued back to back come out one by one, in order */
	for (size_t i = 0; i < N_CASES; i++) {
		rpc_msg m = sample_envelope(&s, CASES[i].which);
		assert_int_equal(rpc_send(a, &m), 0);
	}
	for (size_t i = 0; i < N_CASES; i++) {
		rpc_msg *got = rpc_recv(b, -1, why, sizeof why);
		if (!got)
			fail_msg("queued %s: %s", CASES[i].name, why);
		assert_sample_equal(&s, got, CASES[i].which);
		rpc_msg_free(got);
	}
	assert_int_equal(rpc_send_body(a, SPATE__RPC__ENVELOPE__BODY__NOT_SET, NULL), SPATE_EINVAL);
	rpc_conn_free(a);
	rpc_conn_free(b);
}

static void test_closed_peer(void **unused)
{
	(void)unused;
	struct samples s;
	struct rpc_conn *a, *b;
	char why[256];
	samples_init(&s);
	conn_pair(&a, &b);
	/* the peer closes cleanly between frames */
	rpc_conn_free(b);
	assert_null(rpc_recv(a, 1000, why, sizeof why));
	assert_string_equal(why, "connection closed");
	assert_true(rpc_send_body(a, SPATE__RPC__ENVELOPE__BODY_HEARTBEAT, &s.heartbeat) < 0);
	rpc_conn_free(a);
	/* after rpc_shutdown, sends fail and the reader returns */
	conn_pair(&a, &b);
	rpc_shutdown(a);
	rpc_shutdown(a); /* idempotent */
	assert_true(rpc_send_body(a, SPATE__RPC__ENVELOPE__BODY_HEARTBEAT, &s.heartbeat) < 0);
	assert_null(rpc_recv(a, 1000, why, sizeof why));
	rpc_conn_free(a);
	rpc_conn_free(b);
}

struct blocked_reader {
	struct rpc_conn *c;
	rpc_msg *m;
	char why[256];
};

static void *blocked_reader_main(void *arg)
{
	struct blocked_reader *r = arg;
	r->m = rpc_recv(r->c, -1, r->why, sizeof r->why);
	return NULL;
}

static void test_shutdown_unblocks_reader(void **unused)
{
	(void)unused;
	struct rpc_conn *a, *b;
	struct blocked_reader r = {0};
	pthread_t th;
	conn_pair(&a, &b);
	r.c = a;
	assert_int_equal(pthread_create(&th, NULL, blocked_reader_main, &r), 0);
	usleep(50 * 1000);
	rpc_shutdown(a);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_null(r.m);
	assert_true(r.why[0] != '\0');
	rpc_conn_free(a);
	rpc_conn_free(b);
}

/* ---- 3. the handshake -------------------------------------------------------------------- */

struct handshaker {
	struct rpc_conn *c;
	const char *role, *name;
	int rc;
	char peer[64];
	char why[256];
};

static void *handshaker_main(void *arg)
{
	struct handshaker *h = arg;
	h->rc = rpc_handshake(h->c, h->role, h->name, 5000, h->peer, sizeof h->peer, h->why,
	                      sizeof h->why);
	return NULL;
}

static void test_handshake(void **unused)
{
	(void)unused;
	struct rpc_conn *a, *b;
	struct handshaker ha = {.role = "jobmanager", .name = "jm-1"};
	struct handshaker hb = {.role = "taskmanager", .name = "tm-7"};
	pthread_t ta, tb;
	conn_pair(&a, &b);
	ha.c = a;
	hb.c = b;
	assert_int_equal(pthread_create(&ta, NULL, handshaker_main, &ha), 0);
	assert_int_equal(pthread_create(&tb, NULL, handshaker_main, &hb), 0);
	assert_int_equal(pthread_join(ta, NULL), 0);
	assert_int_equal(pthread_join(tb, NULL), 0);
	if (ha.rc != 0)
		fail_msg("jobmanager side: %s", ha.why);
	if (hb.rc != 0)
		fail_msg("taskmanager side: %s", hb.why);
	assert_string_equal(ha.peer, "tm-7");
	assert_string_equal(hb.peer, "jm-1");
	rpc_conn_free(a);
	rpc_conn_free(b);
}

static void test_handshake_wrong_version(void **unused)
{
	(void)unused;
	struct rpc_conn *a, *b;
	char peer[64] = "", why[256] = "";
	Spate__Rpc__Hello h = SPATE__RPC__HELLO__INIT;
	h.version = 99;
	h.role = "taskmanager";
	h.name = "future-tm";
	conn_pair(&a, &b);
	assert_int_equal(rpc_send_body(b, SPATE__RPC__ENVELOPE__BODY_HELLO, &h), 0);
	assert_int_equal(
	    rpc_handshake(a, "jobmanager", "jm-1", 5000, peer, sizeof peer, why, sizeof why), -1);
	assert_contains(why, "protocol version 99");
	/* our side's Hello went out first and carries our version */
	rpc_msg *m = rpc_recv(b, 5000, why, sizeof why);
	assert_non_null(m);
	assert_int_equal(m->body_case, SPATE__RPC__ENVELOPE__BODY_HELLO);
	assert_int_equal(m->hello->version, RPC_PROTOCOL_VERSION);
	assert_string_equal(m->hello->role, "jobmanager");
	assert_string_equal(m->hello->name, "jm-1");
	rpc_msg_free(m);
	rpc_conn_free(a);
	rpc_conn_free(b);
}

static void test_handshake_not_hello(void **unused)
{
	(void)unused;
	struct rpc_conn *a, *b;
	struct samples s;
	char peer[64] = "", why[256] = "";
	samples_init(&s);
	conn_pair(&a, &b);
	assert_int_equal(rpc_send_body(b, SPATE__RPC__ENVELOPE__BODY_HEARTBEAT, &s.heartbeat), 0);
	assert_int_equal(
	    rpc_handshake(a, "jobmanager", "jm-1", 5000, peer, sizeof peer, why, sizeof why), -1);
	assert_contains(why, "expected a handshake");
	rpc_conn_free(a);
	rpc_conn_free(b);

	/* and a peer that says nothing */
	conn_pair(&a, &b);
	assert_int_equal(
	    rpc_handshake(a, "jobmanager", "jm-1", 100, peer, sizeof peer, why, sizeof why), -1);
	assert_contains(why, "no message within 100 ms");
	rpc_conn_free(a);
	rpc_conn_free(b);
}

/* ---- 4. rpc_recv's defences -------------------------------------------------------------- */

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void raw_write(struct rpc_conn *c, const void *p, size_t n)
{
	assert_int_equal(send(c->fd, p, n, MSG_NOSIGNAL), (ssize_t)n);
}

static void test_recv_oversized(void **unused)
{
	(void)unused;
	struct rpc_conn *a, *b;
	char why[256] = "";
	conn_pair(&a, &b);
	/* 4 GiB - 1 announced, nothing follows and the peer stays open: rpc_recv must refuse
	 * from the header alone, not allocate and wait for the body. */
	raw_write(b, "\xff\xff\xff\xff", 4);
	double t0 = now_ms();
	assert_null(rpc_recv(a, 5000, why, sizeof why));
	double dt = now_ms() - t0;
	assert_contains(why, "exceeds the limit");
	assert_contains(why, "4294967295");
	if (dt > 1000)
		fail_msg("oversized header took %.0f ms to refuse", dt);
	rpc_conn_free(a);
	rpc_conn_free(b);

	/* one byte over the limit is refused too; exactly zero bytes is an empty envelope */
	conn_pair(&a, &b);
	uint32_t over = RPC_MAX_FRAME + 1;
	uint8_t hdr[4] = {(uint8_t)(over >> 24), (uint8_t)(over >> 16), (uint8_t)(over >> 8),
	                  (uint8_t)over};
	raw_write(b, hdr, 4);
	assert_null(rpc_recv(a, 5000, why, sizeof why));
	assert_contains(why, "exceeds the limit");
	rpc_conn_free(a);
	rpc_conn_free(b);

	conn_pair(&a, &b);
	raw_write(b, "\0\0\0\0", 4);
	assert_null(rpc_recv(a, 5000, why, sizeof why));
	assert_string_equal(why, "unknown message type");
	rpc_conn_free(a);
	rpc_conn_free(b);
}

static void test_recv_truncated(void **unused)
{
	(void)unused;
	struct rpc_conn *a, *b;
	char why[256] = "";
	conn_pair(&a, &b);
	/* 100 bytes announced, 10 sent, then the peer closes */
	raw_write(b, "\x00\x00\x00\x64", 4);
	raw_write(b, "0123456789", 10);
	rpc_conn_free(b);
	assert_null(rpc_recv(a, 5000, why, sizeof why));
	assert_contains(why, "truncated");
	rpc_conn_free(a);

	/* a header cut short is truncated too, not a clean close */
	conn_pair(&a, &b);
	raw_write(b, "\x00\x00", 2);
	rpc_conn_free(b);
	assert_null(rpc_recv(a, 5000, why, sizeof why));
	assert_contains(why, "truncated");
	rpc_conn_free(a);
}

static void test_recv_timeout(void **unused)
{
	(void)unused;
	struct rpc_conn *a, *b;
	char why[256] = "";
	conn_pair(&a, &b);
	double t0 = now_ms();
	assert_null(rpc_recv(a, 100, why, sizeof why));
	double dt = now_ms() - t0;
	assert_contains(why, "no message within 100 ms");
	if (dt < 90 || dt > 2000)
		fail_msg("a 100 ms timeout took %.0f ms", dt);
	rpc_conn_free(a);
	rpc_conn_free(b);
}

/* ---- 5. TCP: listen, connect --------------------------------------------------------------- */

static void test_listen_connect(void **unused)
{
	(void)unused;
	struct spate_error err = {0};
	struct samples s;
	char why[256];
	int port = -1;
	samples_init(&s);
	int lfd = rpc_listen("127.0.0.1", 0, &port, &err);
	if (lfd < 0)
		fail_msg("rpc_listen: %s", err.msg);
	assert_true(port > 0 && port < 65536);

	struct rpc_conn *client = rpc_connect("127.0.0.1", port, 2000, &err);
	if (!client)
		fail_msg("rpc_connect: %s", err.msg);
	int sfd = accept(lfd, NULL, NULL);
	assert_true(sfd >= 0);
	struct rpc_conn *server = rpc_conn_new(sfd);
	assert_true(strncmp(client->peer, "127.0.0.1:", 10) == 0);
	assert_int_equal(atoi(client->peer + 10), port);
	assert_true(strncmp(server->peer, "127.0.0.1:", 10) == 0);

	/* a deploy and a 3000-byte blob reply, both ways over TCP */
	assert_int_equal(rpc_send_body(client, SPATE__RPC__ENVELOPE__BODY_DEPLOY, &s.deploy), 0);
	rpc_msg *m = rpc_recv(server, 5000, why, sizeof why);
	if (!m)
		fail_msg("server recv: %s", why);
	assert_sample_equal(&s, m, SPATE__RPC__ENVELOPE__BODY_DEPLOY);
	rpc_msg_free(m);
	assert_int_equal(
	    rpc_send_body(server, SPATE__RPC__ENVELOPE__BODY_BLOB_REPLY, &s.blob_reply), 0);
	m = rpc_recv(client, 5000, why, sizeof why);
	if (!m)
		fail_msg("client recv: %s", why);
	assert_sample_equal(&s, m, SPATE__RPC__ENVELOPE__BODY_BLOB_REPLY);
	rpc_msg_free(m);

	rpc_conn_free(client);
	rpc_conn_free(server);
	close(lfd);

	/* "localhost" goes through the resolver */
	error_clear(&err);
	lfd = rpc_listen("localhost", 0, &port, &err);
	if (lfd < 0)
		fail_msg("rpc_listen localhost: %s", err.msg);
	client = rpc_connect("localhost", port, 2000, &err);
	if (!client)
		fail_msg("rpc_connect localhost: %s", err.msg);
	rpc_conn_free(client);
	close(lfd);
}

static void test_connect_refused(void **unused)
{
	(void)unused;
	struct spate_error err = {0};
	char expect[64];
	int port = -1;
	/* a port that was just ours and is now closed */
	int lfd = rpc_listen("127.0.0.1", 0, &port, &err);
	if (lfd < 0)
		fail_msg("rpc_listen: %s", err.msg);
	close(lfd);
	assert_null(rpc_connect("127.0.0.1", port, 2000, &err));
	assert_int_equal(err.code, SPATE_EIO);
	snprintf(expect, sizeof expect, "cannot connect to 127.0.0.1:%d: ", port);
	assert_contains(err.msg, expect);

	error_clear(&err);
	assert_null(rpc_connect("no-such-host.invalid", 6123, 2000, &err));
	assert_contains(err.msg, "cannot connect to no-such-host.invalid:6123");

	/* listening on a port that is taken names host:port too */
	error_clear(&err);
	int lfd2 = rpc_listen("127.0.0.1", 0, &port, &err);
	assert_true(lfd2 >= 0);
	error_clear(&err);
	assert_true(rpc_listen("127.0.0.1", port, &port, &err) < 0);
	snprintf(expect, sizeof expect, "cannot listen on 127.0.0.1:%d", port);
	assert_contains(err.msg, expect);
	close(lfd2);
}

/* ---- 6. job ids ---------------------------------------------------------------------------- */

static void test_job_id(void **unused)
{
	(void)unused;
	uint8_t bytes[16];
	char hex[33];
	job_id_to_bytes(JOB_HEX, bytes);
	assert_int_equal(bytes[0], 0x01);
	assert_int_equal(bytes[7], 0xef);
	assert_int_equal(bytes[15], 0x10);
	ProtobufCBinaryData b = {16, bytes};
	memset(hex, 'x', sizeof hex);
	assert_int_equal(job_id_from_bytes(b, hex), 0);
	assert_string_equal(hex, JOB_HEX);

	/* upper case goes in, lower case comes out */
	job_id_to_bytes("00FF00FF00FF00FF00FF00FF00FF00FF", bytes);
	assert_int_equal(job_id_from_bytes(b, hex), 0);
	assert_string_equal(hex, "00ff00ff00ff00ff00ff00ff00ff00ff");

	b.len = 15;
	assert_int_equal(job_id_from_bytes(b, hex), -1);
	b.len = 17;
	assert_int_equal(job_id_from_bytes(b, hex), -1);
	b = (ProtobufCBinaryData){0, NULL};
	assert_int_equal(job_id_from_bytes(b, hex), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_corpus),
	    cmocka_unit_test(test_corpus_values),
	    cmocka_unit_test(test_decode_reasons),
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_closed_peer),
	    cmocka_unit_test(test_shutdown_unblocks_reader),
	    cmocka_unit_test(test_handshake),
	    cmocka_unit_test(test_handshake_wrong_version),
	    cmocka_unit_test(test_handshake_not_hello),
	    cmocka_unit_test(test_recv_oversized),
	    cmocka_unit_test(test_recv_truncated),
	    cmocka_unit_test(test_recv_timeout),
	    cmocka_unit_test(test_listen_connect),
	    cmocka_unit_test(test_connect_refused),
	    cmocka_unit_test(test_job_id),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
