/*
 * sources.c - the source operators' loops. A source is the head of its chain and runs on
 * the task's thread: it produces rows and pushes them through op_emit until its input ends.
 * Each loop calls task_poll() per record, or per batch of at most OP_BATCH generated rows
 * (two relaxed atomic loads), so that cancel and the buffer-timeout flush are seen promptly;
 * sources that may block (socket, rate limit) block only for bounded intervals for the same reason.
 *
 * Parallel sources split their input without coordination: sequences and generators into
 * contiguous index ranges, text files into byte ranges cut on line boundaries (a line
 * belongs to the subtask whose range holds its first byte).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/log.h"
#include "runtime/local_job.h"
#include "runtime/task.h"

static int emit_line(struct operator* op, const char *s, size_t len)
{
	row_builder_begin(&op->out);
	spate_row_set_str(&op->out, 0, s, len);
	const spate_row *row = row_builder_done(&op->out);
	if (!row)
		return op_builder_failed(op, &op->out, NULL);
	return op_emit(op, row);
}

/* ---- splits: a source's operator state ---------------------------------------------------- */

static void add_split(struct operator* op, int64_t next, int64_t end, int64_t stride,
                      const char *path, bool at_line)
{
	op->splits = xrealloc(op->splits, (size_t)(op->nsplits + 1) * sizeof *op->splits);
	struct source_split *sp = &op->splits[op->nsplits++];
	sp->next = next;
	sp->end = end;
	sp->stride = stride;
	sp->path = xstrdup(path);
	sp->at_line = at_line;
}

/* Entry layout: u8 version (1), u8 at_line, i64 next, i64 end, i64 stride, then the path
 * (text files; the rest of the entry), big-endian. */
#define SPLIT_FIXED 26

void source_encode_splits(struct operator* op, struct op_snapshot *s)
{
	s->entries = xcalloc((size_t)(op->nsplits + 1), sizeof *s->entries);
	s->entry_lens = xcalloc((size_t)(op->nsplits + 1), sizeof *s->entry_lens);
	for (int i = 0; i < op->nsplits; i++) {
		const struct source_split *sp = &op->splits[i];
		size_t plen = sp->path ? strlen(sp->path) : 0;
		uint8_t *e = xmalloc(SPLIT_FIXED + plen);
		e[0] = 1;
		e[1] = sp->at_line;
		checkpoint_put_u64(e + 2, (uint64_t)sp->next);
		checkpoint_put_u64(e + 10, (uint64_t)sp->end);
		checkpoint_put_u64(e + 18, (uint64_t)sp->stride);
		if (plen)
			memcpy(e + SPLIT_FIXED, sp->path, plen);
		s->entries[i] = e;
		s->entry_lens[i] = SPLIT_FIXED + plen;
	}
	s->nentries = op->nsplits;
}

static int decode_splits(struct operator* op)
{
	const Spate__Rpc__OperatorRestore *r = op->restore;
	for (size_t i = 0; i < r->n_entries; i++) {
		const uint8_t *e = r->entries[i].data;
		size_t len = r->entries[i].len;
		if (len < SPLIT_FIXED || e[0] != 1) {
			task_fail(op->task, op, SPATE_ECORRUPT,
			          "restored source position %zu is corrupt (%zu bytes)", i, len);
			return SPATE_ECORRUPT;
		}
		char *path = len > SPLIT_FIXED
		                 ? xstrndup((const char *)e + SPLIT_FIXED, len - SPLIT_FIXED)
		                 : NULL;
		int64_t stride = (int64_t)checkpoint_get_u64(e + 18);
		if (stride < 1 || (path && strlen(path) != len - SPLIT_FIXED)) {
			xfree(path);
			task_fail(op->task, op, SPATE_ECORRUPT,
			          "restored source position %zu is corrupt", i);
			return SPATE_ECORRUPT;
		}
		add_split(op, (int64_t)checkpoint_get_u64(e + 2),
		          (int64_t)checkpoint_get_u64(e + 10), stride, path, e[1] != 0);
		xfree(path);
	}
	return 0;
}

/* [first, first+count) of `total` items for subtask i of p. */
static void split_range(int64_t total, int i, int p, int64_t *first, int64_t *count)
{
	int64_t a = (int64_t)((__int128)total * i / p);
	int64_t b = (int64_t)((__int128)total * (i + 1) / p);
	*first = a;
	*count = b - a;
}

static int text_file_splits(struct operator* op);

/*
 * The splits a source subtask reads: restored ones (with their positions), or its share of
 * the input: sequences and bounded generators in contiguous index ranges, unbounded
 * generators every p-th index, collections whole (non-parallel), text files in byte ranges.
 */
int source_init_splits(struct operator* op)
{
	const struct stream_node *n = op->node;
	int p = op->task->ev->job_vertex->parallelism, i = op->task->ev->subtask;
	int64_t first, count;
	if (op->restore)
		return decode_splits(op);
	switch (n->kind) {
	case OP_SOURCE_COLLECTION:
		add_split(op, 0, (int64_t)n->data_count, 1, NULL, true);
		return 0;
	case OP_SOURCE_SEQUENCE:
		split_range(n->to - n->from + 1, i, p, &first, &count);
		add_split(op, first, first + count, 1, NULL, true);
		return 0;
	case OP_SOURCE_GENERATOR:
		if (n->count >= 0) {
			split_range(n->count, i, p, &first, &count);
			add_split(op, first, first + count, 1, NULL, true);
		} else {
			add_split(op, i, INT64_MAX, p, NULL, true);
		}
		return 0;
	case OP_SOURCE_TEXT_FILE:
		return text_file_splits(op);
	default:
		return 0; /* the socket source is not replayable: no position */
	}
}

/* Index of the next record of split sp, advancing it; false when it is done. */
static bool split_take(struct source_split *sp, int64_t *index)
{
	if (sp->next >= sp->end)
		return false;
	*index = sp->next;
	sp->next = sp->end - sp->next > sp->stride ? sp->next + sp->stride : sp->end;
	return true;
}

/* Takes up to max indexes of a split; returns how many. */
static int split_take_many(struct source_split *sp, int64_t *index, int max)
{
	int n = 0;
	if (sp->stride == 1) { /* the usual split: consecutive indexes */
		int64_t left = sp->end - sp->next;
		n = left <= 0 ? 0 : left < max ? (int)left : max;
		for (int i = 0; i < n; i++)
			index[i] = sp->next + i;
		sp->next += n;
		return n;
	}
	while (n < max && split_take(sp, &index[n]))
		n++;
	return n;
}

/* What run_splits hands records to: `one` per index, or `many` up to OP_BATCH at once (or
 * as many as `limit`, if set, allows; it may wait, and returns < 0 to stop). */
struct split_emitter {
	int (*one)(struct operator* op, void *arg, int64_t index);
	int (*many)(struct operator* op, void *arg, const int64_t *index, int n);
	int (*limit)(struct operator* op, void *arg);
	void *arg;
};

/* Takes the next index or batch of indexes of split sp and emits them; returns 0 when the
 * split is exhausted (*taken = 0), else emit's result. */
static int split_emit(struct operator* op, const struct split_emitter *em, struct source_split *sp,
                      int *taken)
{
	int64_t index[OP_BATCH];
	int max = 1;
	if (em->many && (max = em->limit ? em->limit(op, em->arg) : OP_BATCH) < 0)
		return max;
	int n = split_take_many(sp, index, max);
	*taken = n;
	if (n == 0)
		return 0;
	return em->many ? em->many(op, em->arg, index, n) : em->one(op, em->arg, index[0]);
}

/*
 * Emits every index of the operator's splits: bounded splits one after the other,
 * unbounded ones (only generators have them) in turn. The position moves before the
 * records are emitted (one, or a batch) and task_poll runs before that, so a checkpoint
 * taken in task_poll records exactly the records emitted before its barrier.
 */
static int run_splits(struct operator* op, const struct split_emitter *em)
{
	int rc = 0, taken = 1;
	for (int i = 0; i < op->nsplits && rc == 0; i++) {
		if (op->splits[i].end == INT64_MAX)
			continue;
		do
			if ((rc = task_poll(op->task)) == 0)
				rc = split_emit(op, em, &op->splits[i], &taken);
		while (rc == 0 && taken > 0);
	}
	int live = 0;
	for (int i = 0; i < op->nsplits; i++)
		live += op->splits[i].end == INT64_MAX;
	while (rc == 0 && live > 0)
		for (int i = 0; i < op->nsplits && rc == 0; i++) {
			if (op->splits[i].end != INT64_MAX)
				continue;
			if ((rc = task_poll(op->task)) == 0)
				rc = split_emit(op, em, &op->splits[i], &taken);
		}
	return rc;
}

/* Where a collection source's walk over its rows is. */
struct collection_pos {
	int64_t index;
	size_t off;
};

static int emit_collection(struct operator* op, void *arg, int64_t index)
{
	/* Rows are back to back: walk to the index (collections are small; the walk starts
	 * from the last position when indexes come in order). */
	const struct stream_node *n = op->node;
	struct collection_pos *pos = arg;
	if (index < pos->index) {
		pos->index = 0;
		pos->off = 0;
	}
	while (pos->index < index && pos->off < n->data_len) {
		pos->off += row_size_of((const spate_row *)(n->data + pos->off));
		pos->index++;
	}
	if (pos->off >= n->data_len)
		return 0;
	const spate_row *row = (const spate_row *)(n->data + pos->off);
	return op_emit(op, row);
}

static int run_collection(struct operator* op)
{
	struct collection_pos pos = {0, 0};
	struct split_emitter em = {emit_collection, NULL, NULL, &pos};
	return run_splits(op, &em);
}

static int emit_sequence(struct operator* op, void *arg, int64_t index)
{
	(void)arg;
	row_builder_begin(&op->out);
	spate_row_set_i64(&op->out, 0, op->node->from + index);
	const spate_row *row = row_builder_done(&op->out);
	if (!row)
		return op_builder_failed(op, &op->out, NULL);
	return op_emit(op, row);
}

static int run_sequence(struct operator* op)
{
	struct split_emitter em = {emit_sequence, NULL, NULL, NULL};
	return run_splits(op, &em);
}

static void sleep_ns(int64_t ns)
{
	struct timespec ts = {.tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000};
	nanosleep(&ts, NULL);
}

static int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

struct gen_pace {
	double rate; /* per subtask, 0 = unlimited */
	int64_t start_ns;
	int64_t emitted;
};

/* Waits until mono_ns() reaches `due`, never sleeping longer than 10 ms at once so cancel
 * and flush requests are seen. Not checkpoint mail: that waits for the next task_poll. */
static int gen_pace_wait(struct operator* op, int64_t due)
{
	for (int64_t now = mono_ns(); now < due; now = mono_ns()) {
		struct task *t = op->task;
		if (atomic_load_explicit(&t->job->canceled, memory_order_relaxed))
			return SPATE_ECANCELED;
		if (atomic_load_explicit(&t->mail, memory_order_relaxed) & TASK_MAIL_FLUSH &&
		    atomic_fetch_and_explicit(&t->mail, ~TASK_MAIL_FLUSH, memory_order_acquire) &
		        TASK_MAIL_FLUSH)
			task_flush(t);
		task_flush_idle(t);
		sleep_ns(due - now < 10000000 ? due - now : 10000000);
	}
	return 0;
}

/* When record number k of the pace is due: k / rate seconds after the start. */
static int64_t gen_due_ns(const struct gen_pace *pace, int64_t k)
{
	return pace->start_ns + (int64_t)((double)k * 1e9 / pace->rate);
}

static int emit_generated(struct operator* op, void *arg, int64_t index)
{
	const struct stream_node *n = op->node;
	struct gen_pace *pace = arg;
	int rc;
	/* Pace against the ideal schedule. The split already moved past `index`, so a
	 * checkpoint must not be taken while waiting: it would record a record not yet
	 * emitted. */
	if (pace->rate > 0 && (rc = gen_pace_wait(op, gen_due_ns(pace, pace->emitted))) < 0)
		return rc;
	pace->emitted++;
	row_builder_begin(&op->out);
	rc = ((spate_gen_fn)op->fn)(&op->ctx, index, &op->out);
	if (rc < 0)
		return op_user_failed(op, rc, "generator", n->fn_name);
	const spate_row *row = row_builder_done(&op->out);
	if (!row)
		return op_builder_failed(op, &op->out, NULL);
	return op_emit(op, row);
}

/* An unpaced generator of fixed-width rows builds a batch of them in batch_buf, then
 * passes the batch down the chain in one call. */
static int emit_generated_batch(struct operator* op, void *arg, const int64_t *index, int n)
{
	uint8_t *scratch = op->out.buf, *at = op->batch_buf;
	size_t size = op->out.fixed_size;
	spate_gen_fn fn = (spate_gen_fn)op->fn;
	struct gen_pace *pace = arg;
	pace->emitted += n;
	for (int r = 0; r < n; r++, at += size) {
		op_batch_begin(op, at);
		int rc = fn(&op->ctx, index[r], &op->out);
		if ((rc = op_batch_end(op, r, rc, scratch, "generator")) < 0)
			return rc;
	}
	op_batch_restore(op, scratch);
	return op_emit_batch(op, op->batch_rows, n);
}

/* How many records a batch of a paced generator may take: the ones due by now, waiting
 * for the first if none is (a batch never runs ahead of the schedule). */
static int gen_batch_limit(struct operator* op, void *arg)
{
	struct gen_pace *pace = arg;
	if (pace->rate <= 0)
		return OP_BATCH;
	int rc = gen_pace_wait(op, gen_due_ns(pace, pace->emitted));
	if (rc < 0)
		return rc;
	/* records 0 .. (now - start) * rate are due */
	double due =
	    (double)(mono_ns() - pace->start_ns) * pace->rate / 1e9 + 1 - (double)pace->emitted;
	return due >= OP_BATCH ? OP_BATCH : due >= 1 ? (int)due : 1;
}

static int run_generator(struct operator* op)
{
	const struct stream_node *n = op->node;
	int p = op->task->ev->job_vertex->parallelism;
	struct gen_pace pace = {n->rate > 0 ? n->rate / p : 0, mono_ns(), 0};
	struct split_emitter em = {emit_generated, NULL, gen_batch_limit, &pace};
	if (op->batch_buf)
		em.many = emit_generated_batch;
	return run_splits(op, &em);
}

/* ---- text files ----------------------------------------------------------------------- */

struct file_list {
	char **paths;
	off_t *sizes;
	int n;
};

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void add_file(struct file_list *fl, const char *path, off_t size)
{
	fl->paths = xrealloc(fl->paths, (size_t)(fl->n + 1) * sizeof *fl->paths);
	fl->sizes = xrealloc(fl->sizes, (size_t)(fl->n + 1) * sizeof *fl->sizes);
	fl->paths[fl->n] = xstrdup(path);
	fl->sizes[fl->n] = size;
	fl->n++;
}

static void file_list_release(struct file_list *fl)
{
	for (int i = 0; i < fl->n; i++)
		xfree(fl->paths[i]);
	xfree(fl->paths);
	xfree(fl->sizes);
}

/* Expands the comma-separated paths: files as they are, directories to their regular files
 * (not hidden, sorted by name, not recursive). */
static int list_files(struct operator* op, struct file_list *fl)
{
	char *copy = xstrdup(op->node->path), *save = NULL;
	int rc = 0;
	for (char *p = strtok_r(copy, ",", &save); p && rc == 0; p = strtok_r(NULL, ",", &save)) {
		struct stat st;
		if (stat(p, &st) != 0) {
			task_fail(op->task, op, SPATE_EIO, "cannot read input '%s': %s", p,
			          strerror(errno));
			rc = SPATE_EIO;
		} else if (S_ISDIR(st.st_mode)) {
			DIR *d = opendir(p);
			if (!d) {
				task_fail(op->task, op, SPATE_EIO, "cannot open directory '%s': %s",
				          p, strerror(errno));
				rc = SPATE_EIO;
				break;
			}
			char **names = NULL;
			int nn = 0;
			struct dirent *de;
			while ((de = readdir(d))) {
				if (de->d_name[0] == '.')
					continue;
				names = xrealloc(names, (size_t)(nn + 1) * sizeof *names);
				names[nn++] = xasprintf("%s/%s", p, de->d_name);
			}
			closedir(d);
			qsort(names, (size_t)nn, sizeof *names, cmp_str);
			for (int i = 0; i < nn; i++) {
				struct stat fs;
				if (stat(names[i], &fs) == 0 && S_ISREG(fs.st_mode))
					add_file(fl, names[i], fs.st_size);
				xfree(names[i]);
			}
			xfree(names);
		} else {
			add_file(fl, p, st.st_size);
		}
	}
	xfree(copy);
	return rc;
}

/*
 * Reads the lines of split sp (a file's byte range) whose first byte lies in [next, end),
 * moving sp->next to each line's start before it is emitted. A line that starts before the
 * range's start belongs to the previous range: unless sp->at_line, reading begins after
 * the first newline at or after next-1.
 */
static int read_split(struct operator* op, struct source_split *sp)
{
	const char *path = sp->path;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		task_fail(op->task, op, SPATE_EIO, "cannot open input '%s': %s", path,
		          strerror(errno));
		return SPATE_EIO;
	}
	size_t cap = 1 << 20, len = 0, pos = 0;
	char *buf = xmalloc(cap);
	bool skip_first = !sp->at_line && sp->next > 0;
	off_t file_off = skip_first ? sp->next - 1 : sp->next; /* file offset of buf[0] */
	bool eof = false;
	int rc = 0;
	if (lseek(fd, file_off, SEEK_SET) < 0)
		eof = true;
	for (;;) {
		/* Find the next complete line in buf[pos, len). */
		char *nl = memchr(buf + pos, '\n', len - pos);
		if (!nl && !eof) {
			if (pos > 0) {
				memmove(buf, buf + pos, len - pos);
				file_off += (off_t)pos;
				len -= pos;
				pos = 0;
			}
			if (len == cap) {
				cap *= 2;
				buf = xrealloc(buf, cap);
			}
			ssize_t r = read(fd, buf + len, cap - len);
			if (r < 0) {
				if (errno == EINTR)
					continue;
				task_fail(op->task, op, SPATE_EIO, "cannot read input '%s': %s",
				          path, strerror(errno));
				rc = SPATE_EIO;
				break;
			}
			if (r == 0)
				eof = true;
			len += (size_t)r;
			continue;
		}
		size_t line_end = nl ? (size_t)(nl - buf) : len;
		off_t line_start = file_off + (off_t)pos;
		if (!nl && pos == len)
			break; /* nothing left */
		if (skip_first) {
			/* buf starts at next-1: the first "line" is the tail of the previous
			 * range's last line (or an empty one when next-1 is a newline). */
			skip_first = false;
		} else {
			if (line_start >= sp->end)
				break;
			sp->next = line_start;
			sp->at_line = true;
			size_t l = line_end - pos;
			if (l > 0 && buf[pos + l - 1] == '\r')
				l--;
			if ((rc = task_poll(op->task)) < 0 ||
			    (rc = emit_line(op, buf + pos, l)) < 0)
				break;
		}
		pos = nl ? line_end + 1 : len;
		if (!nl)
			break;
	}
	if (rc == 0) {
		sp->next = sp->end;
		sp->at_line = true;
	}
	xfree(buf);
	close(fd);
	return rc;
}

static int text_file_splits(struct operator* op)
{
	struct file_list fl = {0};
	int rc = list_files(op, &fl);
	if (rc < 0) {
		file_list_release(&fl);
		return rc;
	}
	off_t total = 0;
	for (int i = 0; i < fl.n; i++)
		total += fl.sizes[i];
	int p = op->task->ev->job_vertex->parallelism, s = op->task->ev->subtask;
	off_t lo = (off_t)((__int128)total * s / p), hi = (off_t)((__int128)total * (s + 1) / p);
	off_t base = 0;
	for (int i = 0; i < fl.n; base += fl.sizes[i], i++) {
		off_t a = lo > base ? lo - base : 0;
		off_t b = hi - base < fl.sizes[i] ? hi - base : fl.sizes[i];
		if (a >= b)
			continue;
		add_split(op, a, b, 1, fl.paths[i], a == 0);
	}
	file_list_release(&fl);
	return 0;
}

static int run_text_file(struct operator* op)
{
	int rc = 0;
	for (int i = 0; i < op->nsplits && rc == 0; i++)
		if (op->splits[i].next < op->splits[i].end)
			rc = read_split(op, &op->splits[i]);
	return rc;
}

/* ---- socket ------------------------------------------------------------------------------- */

static int connect_to(struct operator* op, const char *host, int port)
{
	char portstr[16];
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res, *ai;
	snprintf(portstr, sizeof portstr, "%d", port);
	int gai = getaddrinfo(host, portstr, &hints, &res);
	if (gai != 0) {
		task_fail(op->task, op, SPATE_ECONNECT,
		          "cannot connect to socket source '%s:%d': %s", host, port,
		          gai_strerror(gai));
		return SPATE_ECONNECT;
	}
	int fd = -1, err = 0;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			err = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		err = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		task_fail(op->task, op, SPATE_ECONNECT,
		          "cannot connect to socket source '%s:%d': %s", host, port, strerror(err));
		return SPATE_ECONNECT;
	}
	return fd;
}

static int run_socket(struct operator* op)
{
	int fd = connect_to(op, op->node->host, op->node->port);
	if (fd < 0)
		return fd;
	log_info("Source %s connected to %s:%d", op->node->name, op->node->host, op->node->port);
	size_t cap = 64 * 1024, len = 0;
	char *buf = xmalloc(cap);
	int rc = 0;
	for (;;) {
		if ((rc = task_poll(op->task)) < 0)
			break;
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int pr = poll(&pfd, 1, 0);
		if (pr == 0) {
			task_flush_idle(op->task); /* nothing to read now: hand over what we have */
			pr = poll(&pfd, 1, 50);
		}
		if (pr < 0 && errno != EINTR) {
			rc = SPATE_EIO;
			break;
		}
		if (pr <= 0)
			continue;
		if (len == cap) {
			cap *= 2;
			buf = xrealloc(buf, cap);
		}
		ssize_t r = recv(fd, buf + len, cap - len, 0);
		if (r < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			task_fail(op->task, op, SPATE_EIO, "socket source '%s:%d': %s",
			          op->node->host, op->node->port, strerror(errno));
			rc = SPATE_EIO;
			break;
		}
		if (r == 0) { /* the server closed: emit what is left, as Flink does */
			if (len > 0)
				rc = emit_line(op, buf, len);
			break;
		}
		len += (size_t)r;
		size_t pos = 0;
		char *nl;
		while ((nl = memchr(buf + pos, '\n', len - pos))) {
			size_t l = (size_t)(nl - (buf + pos));
			if (l > 0 && buf[pos + l - 1] == '\r')
				l--;
			if ((rc = emit_line(op, buf + pos, l)) < 0)
				break;
			pos = (size_t)(nl - buf) + 1;
		}
		if (rc < 0)
			break;
		memmove(buf, buf + pos, len - pos);
		len -= pos;
	}
	xfree(buf);
	close(fd);
	return rc;
}

int source_run(struct operator* op)
{
	int rc = source_init_splits(op);
	if (rc < 0)
		return rc;
	switch (op->node->kind) {
	case OP_SOURCE_COLLECTION:
		return run_collection(op);
	case OP_SOURCE_SEQUENCE:
		return run_sequence(op);
	case OP_SOURCE_GENERATOR:
		return run_generator(op);
	case OP_SOURCE_TEXT_FILE:
		return run_text_file(op);
	case OP_SOURCE_SOCKET:
		return run_socket(op);
	default:
		task_fail(op->task, op, SPATE_EGRAPH, "not a source");
		return SPATE_EGRAPH;
	}
}
