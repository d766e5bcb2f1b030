/*
 * checkpoint.h - what the runtime, the TaskManager and the JobMaster share about checkpoints:
 * their kinds, the files they are made of, state handles as plain C structs (converted to
 * and from checkpoint.proto at the RPC and `_metadata` boundaries), and the file helpers
 * every writer of checkpoint files uses.
 *
 * Layout (Flink's, flink-facts §8):
 *   <execution.checkpointing.dir>/<job id>/chk-<N>/_metadata   written last, by the JobMaster
 *   <execution.checkpointing.dir>/<job id>/chk-<N>/...         the tasks' exclusive files
 *   <execution.checkpointing.dir>/<job id>/shared/...          incremental RocksDB files
 *   <savepoint dir>/savepoint-<6 of job id>-<12 random hex>/   a self-contained savepoint
 * A checkpoint exists for restore only once its `_metadata` exists: files are written under
 * temporary names and renamed into place after an fsync, so no reader ever sees half a file
 * under its final name.
 */
#ifndef SPATE_CHECKPOINT_CHECKPOINT_H
#define SPATE_CHECKPOINT_CHECKPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "proto/checkpoint.pb-c.h"

#define CHECKPOINT_FORMAT_VERSION 1u
#define CHECKPOINT_METADATA_MAGIC "SPCK"
#define CHECKPOINT_METADATA_NAME "_metadata"
#define CHECKPOINT_DIR_PREFIX "chk-"
#define CHECKPOINT_SHARED_DIR "shared"

enum checkpoint_kind {
	CKPT_KIND_CHECKPOINT = 0,
	CKPT_KIND_SAVEPOINT = 1,
	CKPT_KIND_SAVEPOINT_TERMINATE = 2, /* stop-with-savepoint: sources stop after it */
	CKPT_KIND_FINAL = 3,               /* taken after every task processed its input */
};

/* Flink's checkpointType names: "CHECKPOINT", "SAVEPOINT", "SYNC_SAVEPOINT", and
 * "CHECKPOINT" for the final one. */
const char *checkpoint_kind_name(enum checkpoint_kind k);
bool checkpoint_kind_is_savepoint(enum checkpoint_kind k);

/* What travels with a barrier: everything a task needs to take its part. */
struct checkpoint_barrier {
	int64_t id;
	int64_t timestamp_ms;
	enum checkpoint_kind kind;
	char target_dir[1024]; /* absolute: where exclusive files go */
	char shared_dir[1024]; /* absolute, or "" (savepoints, non-incremental) */
};

/* Encodes b into buf (at least CHECKPOINT_BARRIER_MAX bytes); returns the bytes used. */
#define CHECKPOINT_BARRIER_MAX 2100
size_t checkpoint_barrier_encode(const struct checkpoint_barrier *b, uint8_t *buf);
/* Decodes a barrier; SPATE_ECORRUPT if buf is not one. */
int checkpoint_barrier_decode(const uint8_t *buf, size_t len, struct checkpoint_barrier *b);

/* One file of a state handle. */
struct state_file {
	char *path; /* owned; relative to the directory of the _metadata that will name it */
	int64_t size;
	uint64_t checksum; /* XXH64, seed 0 */
};

/* The keyed state of one operator in one subtask (see KeyedStateHandleMsg). */
struct keyed_state_handle {
	char backend[16]; /* "hashmap" or "rocksdb" */
	int key_group_first;
	int key_group_last;
	struct state_file *files; /* owned, nfiles entries */
	int nfiles;
	int64_t state_size;
	int64_t incremental_size;
};

void keyed_state_handle_release(struct keyed_state_handle *h);
/* Appends a file (path copied). */
void keyed_state_handle_add_file(struct keyed_state_handle *h, const char *path, int64_t size,
                                 uint64_t checksum);
/* Converts to a message allocated with xmalloc; free with checkpoint_handle_msg_free. */
Spate__Ckpt__KeyedStateHandleMsg *checkpoint_handle_to_msg(const struct keyed_state_handle *h);
void checkpoint_handle_msg_free(Spate__Ckpt__KeyedStateHandleMsg *m);
/* Converts from a (decoded) message; checks the key-group range and file names (relative,
 * no NUL, no empty name). SPATE_ECORRUPT with err set when malformed. */
int checkpoint_handle_from_msg(const Spate__Ckpt__KeyedStateHandleMsg *m,
                               struct keyed_state_handle *out, struct spate_error *err);

/* ---- files ----------------------------------------------------------------------------- */

/* Big-endian 64-bit integers, the byte order of every checkpoint encoding. */
void checkpoint_put_u64(uint8_t *p, uint64_t v);
uint64_t checkpoint_get_u64(const uint8_t *p);
/* fsync of a directory (after a rename in it); errors are ignored: best effort. */
void checkpoint_fsync_dir(const char *dir);
/* mkdir -p (mode 0755). 0 or -errno. */
int checkpoint_mkdirs(const char *dir);
/* rm -r that never follows symlinks; a missing path is fine. 0 or -errno. */
int checkpoint_remove_tree(const char *path);
/* Writes data to path atomically: "<path>.tmp-<pid>-<n>", fsync, rename, fsync of the
 * directory. 0, or SPATE_EIO with err naming the file. */
int checkpoint_write_file(const char *path, const void *data, size_t len, struct spate_error *err);
/* Size and XXH64 of a file's content. 0, or SPATE_EIO with err naming the file. */
int checkpoint_file_checksum(const char *path, int64_t *size, uint64_t *checksum,
                             struct spate_error *err);
/* Checks that `path` (base_dir/rel) has the size and checksum recorded for it; SPATE_ENOENT
 * ("state file '<path>' is missing"), or SPATE_ECORRUPT ("state file '<path>' is corrupt:
 * ...") with err set. */
int checkpoint_verify_file(const char *base_dir, const struct state_file *f,
                           struct spate_error *err);
/* "<base_dir>/<rel>" (new string). */
char *checkpoint_path_join(const char *base_dir, const char *rel);

#endif
