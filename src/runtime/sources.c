/*
 * sources.c - the source operators' loops. A source is the head of its chain and runs on
 * the task's thread: it produces rows and pushes them through op_emit until its input ends.
 * Each loop calls task_poll() per record (two relaxed atomic loads) so that cancel and the
 * buffer-timeout flush are seen promptly; sources that may block (socket, rate limit)
 * block only for bounded intervals for the same reason.
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
	struct spate_error e = {0};
	const spate_row *row = row_builder_finish(&op->out, &e);
	return op_emit(op, row);
}

static int run_collection(struct operator* op)
{
	const struct stream_node *n = op->node;
	size_t off = 0;
	while (off < n->data_len) {
		int rc = task_poll(op->task);
		if (rc < 0)
			return rc;
		const spate_row *row = (const spate_row *)(n->data + off);
		off += row_size_of(row);
		if ((rc = op_emit(op, row)) < 0)
			return rc;
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

static int run_sequence(struct operator* op)
{
	const struct stream_node *n = op->node;
	int64_t first, count;
	split_range(n->to - n->from + 1, op->task->ev->subtask,
	            op->task->ev->job_vertex->parallelism, &first, &count);
	struct spate_error e = {0};
	for (int64_t k = 0; k < count; k++) {
		int rc = task_poll(op->task);
		if (rc < 0)
			return rc;
		row_builder_begin(&op->out);
		spate_row_set_i64(&op->out, 0, n->from + first + k);
		if ((rc = op_emit(op, row_builder_finish(&op->out, &e))) < 0)
			return rc;
	}
	return 0;
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

static int run_generator(struct operator* op)
{
	const struct stream_node *n = op->node;
	int p = op->task->ev->job_vertex->parallelism;
	int i = op->task->ev->subtask;
	spate_gen_fn fn = (spate_gen_fn)op->fn;
	int64_t first = i, count = -1, stride = p;
	if (n->count >= 0) {
		split_range(n->count, i, p, &first, &count);
		stride = 1;
	}
	double rate = n->rate > 0 ? n->rate / p : 0; /* per subtask */
	int64_t start = mono_ns();
	for (int64_t k = 0; count < 0 || k < count; k++) {
		int rc = task_poll(op->task);
		if (rc < 0)
			return rc;
		if (rate > 0) {
			/* Pace against the ideal schedule; never sleep longer than 10 ms at once so
			 * cancel and flush requests are seen. */
			int64_t due = start + (int64_t)((double)k * 1e9 / rate);
			for (int64_t now = mono_ns(); now < due; now = mono_ns()) {
				if ((rc = task_poll(op->task)) < 0)
					return rc;
				sleep_ns(due - now < 10000000 ? due - now : 10000000);
			}
		}
		row_builder_begin(&op->out);
		rc = fn(&op->ctx, first + k * stride, &op->out);
		if (rc < 0)
			return op_user_failed(op, rc, "generator", n->fn_name);
		struct spate_error e = {0};
		const spate_row *row = row_builder_finish(&op->out, &e);
		if (!row) {
			task_fail(op->task, op, SPATE_EUSER, "%s", e.msg);
			return SPATE_EUSER;
		}
		if ((rc = op_emit(op, row)) < 0)
			return rc;
	}
	return 0;
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
 * Reads the lines of `path` whose first byte lies in [start, end). A line that starts before
 * `start` belongs to the previous range, so reading begins after the first newline at or
 * after start-1.
 */
static int read_range(struct operator* op, const char *path, off_t start, off_t end)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		task_fail(op->task, op, SPATE_EIO, "cannot open input '%s': %s", path,
		          strerror(errno));
		return SPATE_EIO;
	}
	size_t cap = 1 << 20, len = 0, pos = 0;
	char *buf = xmalloc(cap);
	off_t file_off = start > 0 ? start - 1 : 0; /* file offset of buf[0] */
	bool skip_first = start > 0;
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
			/* buf starts at start-1: the first "line" is the tail of the previous
			 * range's last line (or an empty one when start-1 is a newline). */
			skip_first = false;
		} else {
			if (line_start >= end)
				break;
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
	xfree(buf);
	close(fd);
	return rc;
}

static int run_text_file(struct operator* op)
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
	for (int i = 0; i < fl.n && rc == 0; base += fl.sizes[i], i++) {
		off_t a = lo > base ? lo - base : 0;
		off_t b = hi - base < fl.sizes[i] ? hi - base : fl.sizes[i];
		if (a >= b)
			continue;
		rc = read_range(op, fl.paths[i], a, b);
	}
	file_list_release(&fl);
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
		int pr = poll(&pfd, 1, 50);
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
