/*
 * metadata.h - a checkpoint's or savepoint's `_metadata` file: what makes a directory of
 * state files a checkpoint. Written last, by the JobMaster, once every acknowledgement is in;
 * read at restore.
 *
 * Format (proto/checkpoint.proto): the 4 bytes "SPCK", the u32 big-endian format version
 * (CHECKPOINT_FORMAT_VERSION), the CheckpointMetadataMsg encoding, the XXH64 (seed 0) of all
 * preceding bytes as a u64 big-endian. Files are untrusted input at read time: every check
 * fails with an error naming the file.
 */
#ifndef SPATE_CHECKPOINT_METADATA_H
#define SPATE_CHECKPOINT_METADATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "checkpoint/checkpoint.h"
#include "core/error.h"
#include "proto/checkpoint.pb-c.h"
#include "proto/rpc.pb-c.h"

typedef Spate__Ckpt__CheckpointMetadataMsg checkpoint_metadata;

/* The file's bytes for m (returns new, free with xfree; *len gets the size). */
uint8_t *checkpoint_metadata_encode(const checkpoint_metadata *m, size_t *len);

/* Writes <dir>/_metadata atomically (checkpoint_write_file). 0 or SPATE_EIO with err. */
int checkpoint_metadata_write(const char *dir, const checkpoint_metadata *m,
                              struct spate_error *err);

/*
 * Decodes a file's bytes (pure; `name` is the file named in errors). Checks the magic, the
 * version, the checksum, the encoding, and every state handle (backend, key groups, file
 * names: checkpoint_handle_from_msg). On success *out is new (free with
 * checkpoint_metadata_free). SPATE_ECORRUPT with err "checkpoint metadata '<name>' is
 * corrupt: ..." otherwise.
 */
int checkpoint_metadata_decode(const uint8_t *buf, size_t len, const char *name,
                               checkpoint_metadata **out, struct spate_error *err);

/*
 * Reads a `_metadata`: path is the checkpoint's directory or the file itself (a path that
 * does not exist is taken as a directory unless it ends in "_metadata"). On success *out
 * is new (checkpoint_metadata_free) and *dir (may be NULL) the directory holding the file
 * (new string, xfree). SPATE_ENOENT ("cannot open checkpoint metadata '<file>': ...") or
 * SPATE_ECORRUPT with err naming the file.
 */
int checkpoint_metadata_read(const char *path, checkpoint_metadata **out, char **dir,
                             struct spate_error *err);

/* Checks every state file m names against its size and checksum (checkpoint_verify_file,
 * relative to dir). 0, or the first failure with err naming the file. */
int checkpoint_metadata_verify_files(const checkpoint_metadata *m, const char *dir,
                                     struct spate_error *err);

void checkpoint_metadata_free(checkpoint_metadata *m);

/* ---- state assignment at restore --------------------------------------------------------- */

/*
 * What every subtask of a job starts from (restore_plan_assign). For each subtask (vertex by
 * vertex, in job vertex index order, as the JobMaster numbers them) and each stream node of
 * its chain whose operator id (uid, or "node-<id>") has state in the checkpoint, one
 * OperatorRestore (present even when nothing is dealt to the subtask, so that a source knows
 * it was restored):
 *   keyed     the handles of the old subtasks whose key-group range overlaps the subtask's;
 *   entries   at the same parallelism exactly old subtask i's entries; else the entries of
 *             all old subtasks concatenated in subtask order and dealt round robin (entry j
 *             to new subtask j % p);
 *   finished  every old subtask had finished.
 */
struct restore_plan {
	int64_t checkpoint_id;
	char *base_dir;                 /* owned: the directory of the _metadata */
	checkpoint_metadata *md;        /* owned: the restores point into it */
	Spate__Rpc__TaskRestore *tasks; /* owned, ntasks entries */
	int ntasks;
};

struct execution_graph;

/*
 * Builds the plan for execution graph eg from md (takes ownership of md, freed on failure
 * too), whose file was in `dir`; `path` names the checkpoint or savepoint in messages.
 * SPATE_EINVAL with err set when an operator's max parallelism changed, or when state of an
 * operator id absent from the new program (keyed handles or entries) would be dropped and
 * allow_non_restored is false (Flink's message). On success *out is new
 * (restore_plan_free).
 */
int restore_plan_assign(checkpoint_metadata *md, const char *dir, const char *path,
                        const struct execution_graph *eg, bool allow_non_restored,
                        struct restore_plan **out, struct spate_error *err);
void restore_plan_free(struct restore_plan *p);

#endif
