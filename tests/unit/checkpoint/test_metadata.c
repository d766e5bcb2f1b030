/*
 * test_metadata.c - `_metadata` files: a write/read round trip (by directory and by file
 * path, with a "file://" URI), the byte layout (magic, big-endian version, trailing XXH64
 * computed here with libxxhash directly), and damage: every single flipped byte, every
 * truncation, a wrong magic and version, a missing file, semantic nonsense that still has a
 * good checksum. Every failure must name the file. Then the state files a checkpoint names:
 * verified against size and checksum, a corrupt or missing one named.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#define XXH_INLINE_ALL /* header-only: the tests do not link libxxhash */
#include <xxhash.h>

#include "checkpoint/metadata.h"
#include "core/alloc.h"

static char tmp[256];

static int setup(void **state)
{
	snprintf(tmp, sizeof tmp, "/tmp/spate-test-metadata-XXXXXX");
	if (!mkdtemp(tmp))
		return -1;
	return 0;
}

static int teardown(void **state)
{
	checkpoint_remove_tree(tmp);
	return 0;
}

/* A metadata message built from static parts: two operators, one with keyed state in two
 * subtasks, one with operator state entries. */
struct fixture {
	Spate__Ckpt__StateFileMsg f0, f1, f2;
	Spate__Ckpt__StateFileMsg *files0[2], *files1[1];
	Spate__Ckpt__KeyedStateHandleMsg h0, h1;
	Spate__Ckpt__OperatorSubtaskStateMsg s0, s1, e0;
	Spate__Ckpt__OperatorSubtaskStateMsg *keyed_subtasks[2], *entry_subtasks[1];
	ProtobufCBinaryData entries[2];
	Spate__Ckpt__OperatorStateMsg op_keyed, op_source;
	Spate__Ckpt__OperatorStateMsg *ops[2];
	checkpoint_metadata md;
};

static void fixture_init(struct fixture *x)
{
	static Spate__Ckpt__StateFileMsg file_init = SPATE__CKPT__STATE_FILE_MSG__INIT;
	static Spate__Ckpt__KeyedStateHandleMsg h_init = SPATE__CKPT__KEYED_STATE_HANDLE_MSG__INIT;
	static Spate__Ckpt__OperatorSubtaskStateMsg s_init =
	    SPATE__CKPT__OPERATOR_SUBTASK_STATE_MSG__INIT;
	static Spate__Ckpt__OperatorStateMsg op_init = SPATE__CKPT__OPERATOR_STATE_MSG__INIT;
	static checkpoint_metadata md_init = SPATE__CKPT__CHECKPOINT_METADATA_MSG__INIT;
	x->f0 = x->f1 = x->f2 = file_init;
	x->f0.path = "op-2-0.state";
	x->f0.size = 11;
	x->f0.checksum = XXH64("keyed-sub-0", 11, 0);
	x->f1.path = "../shared/000007.sst";
	x->f1.size = 6;
	x->f1.checksum = XXH64("shared", 6, 0);
	x->f2.path = "op-2-1.state";
	x->f2.size = 11;
	x->f2.checksum = XXH64("keyed-sub-1", 11, 0);
	x->files0[0] = &x->f0;
	x->files0[1] = &x->f1;
	x->files1[0] = &x->f2;
	x->h0 = x->h1 = h_init;
	x->h0.backend = "hashmap";
	x->h0.key_group_first = 0;
	x->h0.key_group_last = 63;
	x->h0.files = x->files0;
	x->h0.n_files = 2;
	x->h0.state_size = 17;
	x->h1.backend = "rocksdb";
	x->h1.key_group_first = 64;
	x->h1.key_group_last = 127;
	x->h1.files = x->files1;
	x->h1.n_files = 1;
	x->s0 = x->s1 = x->e0 = s_init;
	x->s0.operator_id = "counter";
	x->s0.subtask = 0;
	x->s0.keyed = &x->h0;
	x->s1.operator_id = "counter";
	x->s1.subtask = 1;
	x->s1.keyed = &x->h1;
	x->s1.finished = true;
	x->keyed_subtasks[0] = &x->s0;
	x->keyed_subtasks[1] = &x->s1;
	x->entries[0].data = (uint8_t *)"split-a@42";
	x->entries[0].len = 10;
	x->entries[1].data = (uint8_t *)"";
	x->entries[1].len = 0;
	x->e0.operator_id = "node-1";
	x->e0.entries = x->entries;
	x->e0.n_entries = 2;
	x->entry_subtasks[0] = &x->e0;
	x->op_keyed = x->op_source = op_init;
	x->op_keyed.operator_id = "counter";
	x->op_keyed.name = "Keyed Aggregation";
	x->op_keyed.parallelism = 2;
	x->op_keyed.max_parallelism = 128;
	x->op_keyed.subtasks = x->keyed_subtasks;
	x->op_keyed.n_subtasks = 2;
	x->op_source.operator_id = "node-1";
	x->op_source.name = "Source: Generator";
	x->op_source.parallelism = 1;
	x->op_source.max_parallelism = 128;
	x->op_source.subtasks = x->entry_subtasks;
	x->op_source.n_subtasks = 1;
	x->ops[0] = &x->op_source;
	x->ops[1] = &x->op_keyed;
	x->md = md_init;
	x->md.job_id = "0123456789abcdef0123456789abcdef";
	x->md.checkpoint_id = 7;
	x->md.timestamp = 1700000000123;
	x->md.kind = CKPT_KIND_SAVEPOINT;
	x->md.operators = x->ops;
	x->md.n_operators = 2;
}

static void assert_same(const checkpoint_metadata *m)
{
	assert_string_equal(m->job_id, "0123456789abcdef0123456789abcdef");
	assert_int_equal(m->checkpoint_id, 7);
	assert_int_equal(m->timestamp, 1700000000123);
	assert_int_equal(m->kind, CKPT_KIND_SAVEPOINT);
	assert_int_equal(m->n_operators, 2);
	const Spate__Ckpt__OperatorStateMsg *src = m->operators[0], *agg = m->operators[1];
	assert_string_equal(src->operator_id, "node-1");
	assert_string_equal(src->name, "Source: Generator");
	assert_int_equal(src->n_subtasks, 1);
	assert_int_equal(src->subtasks[0]->n_entries, 2);
	assert_int_equal(src->subtasks[0]->entries[0].len, 10);
	assert_memory_equal(src->subtasks[0]->entries[0].data, "split-a@42", 10);
	assert_int_equal(src->subtasks[0]->entries[1].len, 0);
	assert_string_equal(agg->operator_id, "counter");
	assert_int_equal(agg->parallelism, 2);
	assert_int_equal(agg->max_parallelism, 128);
	assert_int_equal(agg->n_subtasks, 2);
	assert_int_equal(agg->subtasks[1]->subtask, 1);
	assert_true(agg->subtasks[1]->finished);
	assert_false(agg->subtasks[0]->finished);
	const Spate__Ckpt__KeyedStateHandleMsg *h = agg->subtasks[0]->keyed;
	assert_string_equal(h->backend, "hashmap");
	assert_int_equal(h->key_group_last, 63);
	assert_int_equal(h->n_files, 2);
	assert_string_equal(h->files[1]->path, "../shared/000007.sst");
	assert_int_equal(h->files[1]->size, 6);
	assert_true(h->files[1]->checksum == XXH64("shared", 6, 0));
}

static uint64_t be64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static void test_layout(void **unused)
{
	struct fixture x;
	fixture_init(&x);
	size_t len;
	uint8_t *buf = checkpoint_metadata_encode(&x.md, &len);
	size_t body = protobuf_c_message_get_packed_size(&x.md.base);
	assert_int_equal(len, 4 + 4 + body + 8);
	assert_memory_equal(buf, "SPCK", 4);
	assert_memory_equal(buf + 4, "\0\0\0\1", 4);
	assert_true(be64(buf + len - 8) == XXH64(buf, len - 8, 0));
	checkpoint_metadata *m = NULL;
	struct spate_error err = {0};
	assert_int_equal(checkpoint_metadata_decode(buf, len, "mem", &m, &err), 0);
	assert_same(m);
	checkpoint_metadata_free(m);
	xfree(buf);
}

static void test_write_read_round_trip(void **unused)
{
	struct fixture x;
	fixture_init(&x);
	char dir[512];
	snprintf(dir, sizeof dir, "%s/chk-7", tmp);
	assert_int_equal(checkpoint_mkdirs(dir), 0);
	struct spate_error err = {0};
	assert_int_equal(checkpoint_metadata_write(dir, &x.md, &err), 0);

	/* by directory, by file, by URI, with a trailing slash */
	char paths[4][600];
	snprintf(paths[0], sizeof paths[0], "%s", dir);
	snprintf(paths[1], sizeof paths[1], "%s/_metadata", dir);
	snprintf(paths[2], sizeof paths[2], "file://%s", dir);
	snprintf(paths[3], sizeof paths[3], "%s/", dir);
	for (int i = 0; i < 4; i++) {
		checkpoint_metadata *m = NULL;
		char *d = NULL;
		if (checkpoint_metadata_read(paths[i], &m, &d, &err) != 0)
			fail_msg("read '%s': %s", paths[i], err.msg);
		assert_same(m);
		assert_string_equal(d, dir);
		checkpoint_metadata_free(m);
		xfree(d);
	}
}

/* Writes bytes as <tmp>/bad/_metadata and expects reading it to fail with `code` and an
 * error naming the file and containing `what`. */
static void expect_bad(const uint8_t *buf, size_t len, int code, const char *what)
{
	char dir[512], file[600];
	snprintf(dir, sizeof dir, "%s/bad", tmp);
	snprintf(file, sizeof file, "%s/_metadata", dir);
	assert_int_equal(checkpoint_mkdirs(dir), 0);
	FILE *f = fopen(file, "wb");
	assert_non_null(f);
	if (len)
		assert_int_equal(fwrite(buf, 1, len, f), len);
	fclose(f);
	checkpoint_metadata *m = NULL;
	char *d = NULL;
	struct spate_error err = {0};
	int rc = checkpoint_metadata_read(dir, &m, &d, &err);
	if (rc != code || m || d)
		fail_msg("expected %d, got %d (%s)", code, rc, err.msg);
	char quoted[620];
	snprintf(quoted, sizeof quoted, "'%s'", file);
	if (!strstr(err.msg, quoted) || (what && !strstr(err.msg, what)))
		fail_msg("error '%s' should name %s and say '%s'", err.msg, quoted,
		         what ? what : "");
}

static void test_every_flipped_byte_is_detected(void **unused)
{
	struct fixture x;
	fixture_init(&x);
	size_t len;
	uint8_t *buf = checkpoint_metadata_encode(&x.md, &len);
	for (size_t i = 0; i < len; i++) {
		buf[i] ^= 0x20;
		expect_bad(buf, len, SPATE_ECORRUPT, NULL);
		buf[i] ^= 0x20;
	}
	xfree(buf);
}

static void test_every_truncation_is_detected(void **unused)
{
	struct fixture x;
	fixture_init(&x);
	size_t len;
	uint8_t *buf = checkpoint_metadata_encode(&x.md, &len);
	for (size_t n = 0; n < len; n++)
		expect_bad(buf, n, SPATE_ECORRUPT, NULL);
	expect_bad(buf, 3, SPATE_ECORRUPT, "truncated");
	xfree(buf);
}

/* Re-seals a modified buffer with a correct checksum, so that only the other checks can
 * catch it. */
static void reseal(uint8_t *buf, size_t len)
{
	uint64_t h = XXH64(buf, len - 8, 0);
	for (int i = 7; i >= 0; i--, h >>= 8)
		buf[len - 8 + (size_t)i] = (uint8_t)h;
}

static void test_wrong_magic_and_version(void **unused)
{
	struct fixture x;
	fixture_init(&x);
	size_t len;
	uint8_t *buf = checkpoint_metadata_encode(&x.md, &len);
	memcpy(buf, "SPCX", 4);
	reseal(buf, len);
	expect_bad(buf, len, SPATE_ECORRUPT, "bad magic");
	memcpy(buf, "SPCK", 4);
	buf[7] = 2;
	reseal(buf, len);
	expect_bad(buf, len, SPATE_ECORRUPT, "format version 2, expected 1");
	xfree(buf);
}

static void test_sealed_nonsense_is_rejected(void **unused)
{
	struct fixture x;
	fixture_init(&x);
	static const char *const what[] = {"subtask 2 of 2", "bad key groups", "bad file name",
	                                   "appears twice"};
	for (int c = 0; c < 4; c++) {
		fixture_init(&x);
		if (c == 0)
			x.s1.subtask = 2;
		else if (c == 1)
			x.h1.key_group_first = 100, x.h1.key_group_last = 50;
		else if (c == 2)
			x.f2.path = "/etc/passwd";
		else
			x.ops[0] = &x.op_keyed;
		size_t len;
		uint8_t *buf = checkpoint_metadata_encode(&x.md, &len);
		expect_bad(buf, len, SPATE_ECORRUPT, what[c]);
		xfree(buf);
	}
}

static void test_missing_file(void **unused)
{
	char dir[512];
	snprintf(dir, sizeof dir, "%s/nothing-here", tmp);
	checkpoint_metadata *m = NULL;
	struct spate_error err = {0};
	assert_int_equal(checkpoint_metadata_read(dir, &m, NULL, &err), SPATE_ENOENT);
	char expect[700];
	snprintf(expect, sizeof expect,
	         "cannot open checkpoint metadata '%s/_metadata': No such file or directory", dir);
	assert_string_equal(err.msg, expect);
}

static void write_file(const char *dir, const char *name, const char *content)
{
	char *p = checkpoint_path_join(dir, name);
	FILE *f = fopen(p, "wb");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);
	xfree(p);
}

static void test_verify_state_files(void **unused)
{
	struct fixture x;
	fixture_init(&x);
	char job[512], dir[600], shared[600];
	snprintf(job, sizeof job, "%s/job", tmp);
	snprintf(dir, sizeof dir, "%s/chk-7", job);
	snprintf(shared, sizeof shared, "%s/shared", job);
	assert_int_equal(checkpoint_mkdirs(dir), 0);
	assert_int_equal(checkpoint_mkdirs(shared), 0);
	write_file(dir, "op-2-0.state", "keyed-sub-0");
	write_file(dir, "op-2-1.state", "keyed-sub-1");
	write_file(shared, "000007.sst", "shared");
	struct spate_error err = {0};
	assert_int_equal(checkpoint_metadata_verify_files(&x.md, dir, &err), 0);

	/* same size, other content */
	write_file(dir, "op-2-1.state", "keyed-sub-X");
	assert_int_equal(checkpoint_metadata_verify_files(&x.md, dir, &err), SPATE_ECORRUPT);
	char expect[800];
	snprintf(expect, sizeof expect,
	         "state file '%s/op-2-1.state' is corrupt: checksum mismatch", dir);
	assert_string_equal(err.msg, expect);

	/* a shared file gone */
	write_file(dir, "op-2-1.state", "keyed-sub-1");
	char *p = checkpoint_path_join(shared, "000007.sst");
	unlink(p);
	xfree(p);
	error_clear(&err);
	assert_int_equal(checkpoint_metadata_verify_files(&x.md, dir, &err), SPATE_ENOENT);
	snprintf(expect, sizeof expect, "state file '%s/../shared/000007.sst' is missing", dir);
	assert_string_equal(err.msg, expect);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_layout),
	    cmocka_unit_test(test_write_read_round_trip),
	    cmocka_unit_test(test_every_flipped_byte_is_detected),
	    cmocka_unit_test(test_every_truncation_is_detected),
	    cmocka_unit_test(test_wrong_magic_and_version),
	    cmocka_unit_test(test_sealed_nonsense_is_rejected),
	    cmocka_unit_test(test_missing_file),
	    cmocka_unit_test(test_verify_state_files),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
