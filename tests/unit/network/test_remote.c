/*
 * test_remote.c - remote channels between two netenvs in one process, over real TCP on
 * 127.0.0.1: rows arrive complete and in per-channel order over one shared connection
 * (spans included), a consumer that reads nothing back-pressures only its own producer,
 * partition requests and registrations may come in either order, cancel unblocks
 * everything, and the data port survives garbage. Also replays the stored fuzz corpus of
 * the frame parser (tests/fuzz/corpus/data_frame).
 *
 * Threads other than the test's own never call cmocka asserts: they record what went wrong
 * and the test thread checks it after a join with a deadline.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "core/log.h"
#include "fuzz/data_frame_exercise.h"
#include "network/netenv.h"
#include "runtime/network.h"
#include "types/row.h"
#include "unit/corpus.h"

#define BPC 2      /* buffers per channel */
#define FLOATING 8 /* floating buffers per gate */
#define POOL 10    /* producer pool: 1 * BPC + FLOATING, as local_job sizes it */
#define WAIT_S 60  /* every wait gives up after this long */

static char log_path[PATH_MAX];

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Joins t, failing the test if it does not end within WAIT_S. */
static void join_within(pthread_t t)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += WAIT_S;
	int rc = pthread_timedjoin_np(t, NULL, &ts);
	if (rc != 0)
		fail_msg("thread did not end within %d s", WAIT_S);
}

/* Short pause between checks of a condition polled with a deadline. */
static void tick(void)
{
	struct timespec ts = {0, 1000000};
	nanosleep(&ts, NULL);
}

static struct partition_id pid(uint32_t vertex, uint32_t subtask)
{
	struct partition_id id;
	memset(&id, 0, sizeof id);
	memcpy(id.job_id, "test-remote-job!", 16);
	id.vertex = vertex;
	id.subtask = subtask;
	id.output = 0;
	id.subpartition = 0;
	return id;
}

/* ---- rows: content follows from (src, seq), so the consumer checks against arithmetic --- */

static size_t pad_len(int64_t src, int64_t seq, int fixed)
{
	if (fixed)
		return (size_t)fixed;
	if (seq % 9973 == 77)
		return 40000 + (size_t)((seq * 31) % 30000); /* larger than a buffer: spans */
	return (size_t)((seq * 37 + src * 11) % 300);
}

static char pad_char(int64_t src, int64_t seq)
{
	return (char)('a' + (seq + src * 7) % 26);
}

struct producer {
	struct result_partition rp;
	int64_t src;
	int64_t nrows;
	int fixed_len; /* 0: varying sizes */
	atomic_llong emitted;
	atomic_llong bytes;
	int rc; /* of emit/finish */
	pthread_t thread;
};

static void *produce(void *arg)
{
	struct producer *p = arg;
	struct spate_error e = {0};
	struct schema *s = schema_parse("src:int64,seq:int64,pad:string", &e);
	struct spate_row_builder b;
	row_builder_init(&b, s);
	char *pad = xmalloc(80000);
	p->rc = 0;
	for (int64_t i = 0; i < p->nrows; i++) {
		size_t n = pad_len(p->src, i, p->fixed_len);
		memset(pad, pad_char(p->src, i), n);
		row_builder_begin(&b);
		spate_row_set_i64(&b, 0, p->src);
		spate_row_set_i64(&b, 1, i);
		spate_row_set_str(&b, 2, pad, n);
		const spate_row *row = row_builder_finish(&b, &e);
		int rc = result_partition_emit(&p->rp, row);
		if (rc < 0) {
			p->rc = rc;
			break;
		}
		atomic_fetch_add(&p->emitted, 1);
		atomic_fetch_add(&p->bytes, (long long)row_size_of(row));
	}
	if (p->rc == 0)
		p->rc = result_partition_finish(&p->rp);
	xfree(pad);
	row_builder_release(&b);
	schema_free(s);
	return NULL;
}

static void producer_init(struct producer *p, int64_t src, int64_t nrows, int fixed_len,
                          atomic_bool *canceled)
{
	memset(p, 0, sizeof *p);
	p->src = src;
	p->nrows = nrows;
	p->fixed_len = fixed_len;
	assert_int_equal(result_partition_init(&p->rp, PART_FORWARD, 1, POOL, canceled), 0);
}

static void producer_start(struct producer *p)
{
	assert_int_equal(pthread_create(&p->thread, NULL, produce, p), 0);
}

static int pool_free(struct buffer_pool *pool)
{
	pthread_mutex_lock(&pool->mu);
	int n = pool->nfree;
	pthread_mutex_unlock(&pool->mu);
	return n;
}

/* Whether a producer sleeps in buffer_pool_request: it found the pool empty and waits for
 * low_water buffers to come back (fewer may have, while the consumer holds the rest). */
static bool producer_blocked(struct buffer_pool *pool)
{
	pthread_mutex_lock(&pool->mu);
	bool blocked = pool->nwaiting > 0 && pool->nfree < pool->low_water;
	pthread_mutex_unlock(&pool->mu);
	return blocked;
}

static int gate_queued(struct input_gate *g)
{
	int n = 0;
	pthread_mutex_lock(&g->mu);
	for (struct buffer *b = g->head; b; b = b->next)
		n++;
	pthread_mutex_unlock(&g->mu);
	return n;
}

/* ---- consumer: reads a gate as task.c's consume_input does, checks every row ------------ */

struct consumer {
	struct input_gate gate;
	int nchannels;
	int64_t src_of[4];   /* the producer feeding each channel */
	int fixed_len;       /* as the producers' */
	int64_t next_seq[4]; /* per channel */
	bool ended[4];
	int64_t rows;
	char error[256]; /* first problem seen, "" if none */
	atomic_bool go;  /* start reading (test 2 holds consumer A back) */
	pthread_mutex_t mu;
	pthread_cond_t cond;
	pthread_t thread;
	atomic_bool *canceled;
};

static void consumer_fail(struct consumer *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void consumer_fail(struct consumer *c, const char *fmt, ...)
{
	if (c->error[0])
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->error, sizeof c->error, fmt, ap);
	va_end(ap);
}

static void check_row(struct consumer *c, int ch, const spate_row *row, uint32_t size)
{
	if (row_validate(row, size) != 0) {
		consumer_fail(c, "channel %d: invalid row of %u bytes", ch, size);
		return;
	}
	int64_t src = spate_row_i64(row, 0), seq = spate_row_i64(row, 1);
	if (src != c->src_of[ch] || seq != c->next_seq[ch]) {
		consumer_fail(c, "channel %d: got row (%lld,%lld), expected (%lld,%lld)", ch,
		              (long long)src, (long long)seq, (long long)c->src_of[ch],
		              (long long)c->next_seq[ch]);
		return;
	}
	size_t len;
	const char *s = spate_row_str(row, 2, &len);
	if (len != pad_len(src, seq, c->fixed_len)) {
		consumer_fail(c, "row (%lld,%lld): pad of %zu bytes", (long long)src,
		              (long long)seq, len);
		return;
	}
	char want = pad_char(src, seq);
	for (size_t k = 0; k < len; k++)
		if (s[k] != want) {
			consumer_fail(c, "row (%lld,%lld): byte %zu is '%c'", (long long)src,
			              (long long)seq, k, s[k]);
			return;
		}
	c->next_seq[ch]++;
	c->rows++;
}

static void *consume(void *arg)
{
	struct consumer *c = arg;
	struct input_gate *g = &c->gate;
	/* Test 2 holds this consumer back until told to go. */
	pthread_mutex_lock(&c->mu);
	while (!atomic_load(&c->go) && !atomic_load(c->canceled))
		pthread_cond_wait(&c->cond, &c->mu);
	pthread_mutex_unlock(&c->mu);
	while (g->nended < g->nchannels && !c->error[0]) {
		bool woken;
		struct buffer *b = input_gate_take(g, &woken);
		if (!b) {
			if (!woken) {
				consumer_fail(c, "canceled");
				break;
			}
			continue;
		}
		int ch = b->channel;
		if (ch < 0 || ch >= c->nchannels) {
			consumer_fail(c, "buffer for channel %d", ch);
		} else if (c->ended[ch]) {
			consumer_fail(c, "buffer after end of partition on channel %d", ch);
		} else if (b->kind == BUF_END_OF_PARTITION) {
			c->ended[ch] = true;
			g->channels[ch].ended = true;
			g->nended++;
		} else if (b->kind == BUF_SPAN) {
			struct input_channel *ic = &g->channels[ch];
			if (ic->span_need == 0) {
				ic->span_need = row_size_of(b->data);
				ic->span_len = 0;
				if (ic->span_cap < ic->span_need) {
					xfree(ic->span);
					ic->span = xmalloc(ic->span_need);
					ic->span_cap = ic->span_need;
				}
			}
			if (ic->span_len + b->size > ic->span_need) {
				consumer_fail(c, "span overflow on channel %d", ch);
			} else {
				memcpy(ic->span + ic->span_len, b->data, b->size);
				ic->span_len += b->size;
				if (ic->span_len == ic->span_need) {
					ic->span_need = 0;
					check_row(c, ch, (const spate_row *)ic->span,
					          (uint32_t)ic->span_len);
				}
			}
		} else {
			uint32_t off = 0;
			while (off < b->size && !c->error[0]) {
				const spate_row *row = (const spate_row *)(b->data + off);
				uint32_t size = row_size_of(row);
				if (size < 8 || size > b->size - off) {
					consumer_fail(c, "corrupt row size %u", size);
					break;
				}
				check_row(c, ch, row, size);
				off += size;
			}
		}
		buffer_recycle(b);
	}
	return NULL;
}

static void consumer_init(struct consumer *c, int nchannels, int fixed_len, bool go,
                          atomic_bool *canceled)
{
	memset(c, 0, sizeof *c);
	c->nchannels = nchannels;
	c->fixed_len = fixed_len;
	c->canceled = canceled;
	atomic_store(&c->go, go);
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cond, NULL);
	input_gate_init(&c->gate, nchannels, canceled);
}

static void consumer_start(struct consumer *c)
{
	assert_int_equal(pthread_create(&c->thread, NULL, consume, c), 0);
}

static void consumer_go(struct consumer *c)
{
	pthread_mutex_lock(&c->mu);
	atomic_store(&c->go, true);
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->mu);
}

static void consumer_release(struct consumer *c)
{
	input_gate_release(&c->gate);
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->cond);
}

static void assert_consumed(struct consumer *c, const int64_t *rows_per_channel)
{
	if (c->error[0])
		fail_msg("consumer: %s", c->error);
	for (int ch = 0; ch < c->nchannels; ch++) {
		assert_int_equal(c->next_seq[ch], rows_per_channel[ch]);
		assert_true(c->ended[ch]);
	}
}

struct pair {
	struct netenv *prod; /* the producers' TaskManager */
	struct netenv *cons; /* the consumers' TaskManager */
};

static void pair_start(struct pair *p)
{
	struct spate_error err = {0};
	p->prod = netenv_start("127.0.0.1", 0, BPC, FLOATING, &err);
	if (!p->prod)
		fail_msg("%s", err.msg);
	p->cons = netenv_start("127.0.0.1", 0, BPC, FLOATING, &err);
	if (!p->cons)
		fail_msg("%s", err.msg);
}

static void connect_channel(struct pair *p, const struct partition_id *id, struct input_gate *g,
                            int ch)
{
	struct spate_error err = {0};
	int rc =
	    netenv_connect_channel(p->cons, "127.0.0.1", netenv_port(p->prod), id, g, ch, &err);
	if (rc != 0)
		fail_msg("connect: %s", err.msg);
}

static void register_sub(struct pair *p, const struct partition_id *id, struct producer *pr)
{
	struct spate_error err = {0};
	if (netenv_register_subpartition(p->prod, id, &pr->rp, &err) != 0)
		fail_msg("register: %s", err.msg);
}

/* ---- 1. rows in order over two channels sharing one connection ------------------------- */

static void test_rows_flow_in_order(void **unused)
{
	static atomic_bool canceled;
	struct pair p;
	pair_start(&p);
	enum { ROWS = 250000 };
	struct producer pr[2];
	struct consumer *c = xcalloc(1, sizeof *c);
	consumer_init(c, 2, 0, true, &canceled);
	for (int i = 0; i < 2; i++) {
		struct partition_id id = pid(0, (uint32_t)i);
		producer_init(&pr[i], 10 + i, ROWS, 0, &canceled);
		c->src_of[i] = 10 + i;
		register_sub(&p, &id, &pr[i]);
		connect_channel(&p, &id, &c->gate, i);
	}
	struct netenv_stats st;
	netenv_get_stats(p.cons, &st);
	assert_int_equal(st.connections, 1); /* both channels share one connection */
	assert_int_equal(st.remote_channels, 2);

	double t0 = now_s();
	consumer_start(c);
	producer_start(&pr[0]);
	producer_start(&pr[1]);
	join_within(c->thread);
	double secs = now_s() - t0;
	join_within(pr[0].thread);
	join_within(pr[1].thread);
	int64_t want[2] = {ROWS, ROWS};
	assert_consumed(c, want);
	assert_int_equal(pr[0].rc, 0);
	assert_int_equal(pr[1].rc, 0);
	long long bytes = atomic_load(&pr[0].bytes) + atomic_load(&pr[1].bytes);
	printf("[ info     ] %d rows, %.1f MB in %.3f s over one connection: %.0f MB/s "
	       "(incidental, not a benchmark)\n",
	       2 * ROWS, bytes / 1e6, secs, bytes / 1e6 / secs);

	netenv_get_stats(p.prod, &st);
	assert_int_equal(st.connections, 1);
	for (int i = 0; i < 2; i++) {
		struct partition_id id = pid(0, (uint32_t)i);
		netenv_unregister_subpartition(p.prod, &id);
	}
	netenv_release_gate(p.cons, &c->gate);
	consumer_release(c);
	netenv_stop(p.cons);
	netenv_stop(p.prod);
	for (int i = 0; i < 2; i++)
		result_partition_release(&pr[i].rp);
	xfree(c);
}

/* ---- 2. backpressure without head-of-line blocking ------------------------------------- */

static void test_backpressure_is_per_channel(void **unused)
{
	static atomic_bool canceled;
	struct pair p;
	pair_start(&p);
	enum { ROWS_A = 200000, ROWS_B = 100000, LEN = 100 };
	struct producer pa, pb;
	struct consumer *ca = xcalloc(1, sizeof *ca), *cb = xcalloc(1, sizeof *cb);
	struct partition_id ida = pid(1, 0), idb = pid(1, 1);
	producer_init(&pa, 1, ROWS_A, LEN, &canceled);
	producer_init(&pb, 2, ROWS_B, LEN, &canceled);
	consumer_init(ca, 1, LEN, false, &canceled); /* A takes nothing for now */
	consumer_init(cb, 1, LEN, true, &canceled);
	ca->src_of[0] = 1;
	cb->src_of[0] = 2;
	register_sub(&p, &ida, &pa);
	register_sub(&p, &idb, &pb);
	connect_channel(&p, &ida, &ca->gate, 0);
	connect_channel(&p, &idb, &cb->gate, 0);
	consumer_start(ca);
	consumer_start(cb);
	producer_start(&pa);
	producer_start(&pb);

	/* B's rows all arrive although A's consumer reads nothing on the same connection. */
	join_within(cb->thread);
	join_within(pb.thread);
	int64_t want_b[1] = {ROWS_B};
	assert_consumed(cb, want_b);

	/* A's producer stops: it sleeps for want of buffers and A's gate holds every buffer it has
	 * credit for. Rows of 8 + 8 + 24 + 104 = 144 bytes: 227 per buffer. At most POOL buffers
	 * wait at the producer (queued or being filled), BPC + FLOATING in A's gate. */
	long long per_buffer = BUFFER_SIZE / 144;
	long long bound = (POOL + BPC + FLOATING) * per_buffer + 1;
	int queued = -1;
	bool blocked = false;
	double deadline = now_s() + WAIT_S;
	while (now_s() < deadline) {
		queued = gate_queued(&ca->gate);
		blocked = producer_blocked(&pa.rp.pool);
		assert_true(queued <= BPC + FLOATING);
		assert_true(atomic_load(&pa.emitted) <= bound);
		if (queued == BPC + FLOATING && blocked)
			break;
		tick();
	}
	assert_int_equal(queued, BPC + FLOATING);
	assert_true(blocked);
	long long emitted = atomic_load(&pa.emitted);
	assert_true(emitted <= bound);
	assert_true(emitted < ROWS_A);
	printf("[ info     ] blocked producer A emitted %lld rows (bound %lld), its gate holds "
	       "%d buffers\n",
	       emitted, bound, queued);

	/* Now A reads: everything arrives. */
	consumer_go(ca);
	join_within(ca->thread);
	join_within(pa.thread);
	int64_t want_a[1] = {ROWS_A};
	assert_consumed(ca, want_a);

	netenv_unregister_subpartition(p.prod, &ida);
	netenv_unregister_subpartition(p.prod, &idb);
	netenv_release_gate(p.cons, &ca->gate);
	netenv_release_gate(p.cons, &cb->gate);
	consumer_release(ca);
	consumer_release(cb);
	netenv_stop(p.cons);
	netenv_stop(p.prod);
	result_partition_release(&pa.rp);
	result_partition_release(&pb.rp);
	xfree(ca);
	xfree(cb);
}

/* ---- 3. request before registration, registration before request ---------------------- */

static void run_start_order(bool request_first)
{
	static atomic_bool canceled;
	struct pair p;
	pair_start(&p);
	enum { ROWS = 20000 }; /* several pools' worth */
	struct producer pr;
	struct consumer *c = xcalloc(1, sizeof *c);
	struct partition_id id = pid(2, 0);
	producer_init(&pr, 5, ROWS, 0, &canceled);
	consumer_init(c, 1, 0, true, &canceled);
	c->src_of[0] = 5;
	struct netenv_stats st;
	double deadline = now_s() + WAIT_S;
	if (request_first) {
		connect_channel(&p, &id, &c->gate, 0);
		/* The request is pending at the producer side before anything registers. */
		do {
			netenv_get_stats(p.prod, &st);
			if (st.pending_requests == 1)
				break;
			tick();
		} while (now_s() < deadline);
		assert_int_equal(st.pending_requests, 1);
		assert_int_equal(st.registered, 0);
		register_sub(&p, &id, &pr);
		producer_start(&pr);
	} else {
		register_sub(&p, &id, &pr);
		producer_start(&pr);
		/* The producer runs until its pool is used up: nobody has asked yet. */
		while (pool_free(&pr.rp.pool) > 0 && now_s() < deadline)
			tick();
		assert_int_equal(pool_free(&pr.rp.pool), 0);
		netenv_get_stats(p.prod, &st);
		assert_int_equal(st.pending_requests, 0);
		assert_int_equal(st.registered, 1);
		connect_channel(&p, &id, &c->gate, 0);
	}
	consumer_start(c);
	join_within(c->thread);
	join_within(pr.thread);
	int64_t want[1] = {ROWS};
	assert_consumed(c, want);
	netenv_unregister_subpartition(p.prod, &id);
	netenv_release_gate(p.cons, &c->gate);
	consumer_release(c);
	netenv_stop(p.cons);
	netenv_stop(p.prod);
	result_partition_release(&pr.rp);
	xfree(c);
}

static void test_request_before_registration(void **unused)
{
	run_start_order(true);
}

static void test_registration_before_request(void **unused)
{
	run_start_order(false);
}

/* ---- 4. cancel unblocks everything ----------------------------------------------------- */

struct failure_log {
	pthread_mutex_t mu;
	int count;
};

static void on_failure(void *arg, struct input_gate *g, int channel, const char *why)
{
	struct failure_log *fl = arg;
	pthread_mutex_lock(&fl->mu);
	fl->count++;
	pthread_mutex_unlock(&fl->mu);
}

static void test_cancel_unblocks(void **unused)
{
	static atomic_bool canceled;
	struct pair p;
	pair_start(&p);
	struct producer pr;
	struct consumer *c = xcalloc(1, sizeof *c);
	struct partition_id id = pid(3, 0);
	producer_init(&pr, 6, 1000000, 100, &canceled);
	consumer_init(c, 1, 100, false, &canceled); /* takes nothing */
	c->src_of[0] = 6;
	register_sub(&p, &id, &pr);
	connect_channel(&p, &id, &c->gate, 0);
	consumer_start(c);
	producer_start(&pr);
	double deadline = now_s() + WAIT_S;
	while ((!producer_blocked(&pr.rp.pool) || gate_queued(&c->gate) < BPC + FLOATING) &&
	       now_s() < deadline)
		tick();
	assert_true(producer_blocked(&pr.rp.pool));

	/* What local_job's cancel does: set the flag, wake pools and gates. */
	double t0 = now_s();
	atomic_store(&canceled, true);
	buffer_pool_wake(&pr.rp.pool);
	input_gate_wake(&c->gate);
	consumer_go(c);
	join_within(pr.thread);
	join_within(c->thread);
	assert_int_equal(pr.rc, SPATE_ECANCELED);
	netenv_unregister_subpartition(p.prod, &id);
	netenv_release_gate(p.cons, &c->gate);
	consumer_release(c);
	netenv_stop(p.cons);
	netenv_stop(p.prod);
	assert_true(now_s() - t0 < 10);
	result_partition_release(&pr.rp);
	xfree(c);
	atomic_store(&canceled, false);
}

/* A producer TaskManager that goes away fails the channels it fed, and the consumer's gate
 * does not wait forever: the failure handler hears about it. */
static void test_lost_producer_fails_channel(void **unused)
{
	static atomic_bool canceled;
	struct pair p;
	pair_start(&p);
	struct failure_log fl = {.count = 0};
	pthread_mutex_init(&fl.mu, NULL);
	netenv_set_failure_handler(p.cons, on_failure, &fl);
	struct consumer *c = xcalloc(1, sizeof *c);
	struct partition_id id = pid(4, 0);
	consumer_init(c, 1, 0, true, &canceled);
	connect_channel(&p, &id, &c->gate, 0);
	struct netenv_stats st;
	double deadline = now_s() + WAIT_S;
	do {
		netenv_get_stats(p.prod, &st);
		if (st.pending_requests == 1)
			break;
		tick();
	} while (now_s() < deadline);
	netenv_stop(p.prod); /* never registers; goes away */
	int count = 0;
	while (now_s() < deadline) {
		pthread_mutex_lock(&fl.mu);
		count = fl.count;
		pthread_mutex_unlock(&fl.mu);
		if (count > 0)
			break;
		tick();
	}
	assert_int_equal(count, 1);
	netenv_release_gate(p.cons, &c->gate);
	consumer_release(c);
	netenv_stop(p.cons);
	pthread_mutex_destroy(&fl.mu);
	xfree(c);
}

/* ---- 5. garbage on the data port -------------------------------------------------------- */

static int dial_raw(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	struct timeval tv = {WAIT_S, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	return fd;
}

/* Sends bytes (then optionally half-closes); the server must close the connection: read
 * returns 0 or an error other than a timeout, after at most its HELLO answer. */
static void expect_closed(int port, const uint8_t *bytes, size_t len, bool half_close)
{
	int fd = dial_raw(port);
	if (len)
		assert_int_equal(send(fd, bytes, len, MSG_NOSIGNAL), (ssize_t)len);
	if (half_close)
		shutdown(fd, SHUT_WR);
	uint8_t buf[256];
	size_t total = 0;
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof buf, 0);
		if (n > 0) {
			total += (size_t)n;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			fail_msg("connection not closed within %d s", WAIT_S);
		break;
	}
	assert_true(total <= 13); /* nothing but the server's HELLO */
	close(fd);
}

static size_t put_frame(uint8_t *out, uint32_t length, uint8_t type)
{
	out[0] = (uint8_t)(length >> 24);
	out[1] = (uint8_t)(length >> 16);
	out[2] = (uint8_t)(length >> 8);
	out[3] = (uint8_t)length;
	out[4] = type;
	return 5;
}

static size_t put_hello(uint8_t *out, uint32_t magic, uint32_t version)
{
	struct data_frame f = {.type = DATA_HELLO, .magic = magic, .version = version};
	return data_frame_encode(&f, out);
}

static int count_log_lines(const char *needle)
{
	FILE *f = fopen(log_path, "r");
	char line[2048];
	int n = 0;
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (strstr(line, " WARN ") && strstr(line, "127.0.0.1") && strstr(line, needle))
			n++;
	fclose(f);
	return n;
}

static void test_garbage_is_rejected(void **unused)
{
	static atomic_bool canceled;
	struct pair p;
	pair_start(&p);
	netenv_set_handshake_timeout(p.prod, 300);
	int port = netenv_port(p.prod);
	uint8_t m[128];
	size_t n;

	uint64_t rng = 12345;
	for (size_t i = 0; i < 64; i++) {
		rng = rng * 6364136223846793005ull + 1442695040888963407ull;
		m[i] = (uint8_t)(rng >> 56);
	}
	m[4] = 0x77;                       /* never a HELLO by chance */
	expect_closed(port, m, 64, false); /* random bytes */

	n = put_hello(m, DATA_PROTOCOL_MAGIC, 99);
	expect_closed(port, m, n, false); /* version mismatch */

	n = put_hello(m, 0xdeadbeef, DATA_PROTOCOL_VERSION);
	expect_closed(port, m, n, false); /* bad magic */

	n = put_hello(m, DATA_PROTOCOL_MAGIC, DATA_PROTOCOL_VERSION);
	n += put_frame(m + n, 0xffffffffu, DATA_BUFFER);
	expect_closed(port, m, n, false); /* 4 GB frame */

	n = put_hello(m, DATA_PROTOCOL_MAGIC, DATA_PROTOCOL_VERSION);
	n += put_frame(m + n, 1, 0x42);
	expect_closed(port, m, n, false); /* unknown type */

	n = put_hello(m, DATA_PROTOCOL_MAGIC, DATA_PROTOCOL_VERSION);
	n += put_frame(m + n, 1000, DATA_BUFFER);
	memset(m + n, 0, 20);
	n += 20;
	expect_closed(port, m, n, true); /* truncated frame, then end of stream */

	n = put_hello(m, DATA_PROTOCOL_MAGIC, DATA_PROTOCOL_VERSION);
	struct data_frame f = {.type = DATA_ADD_CREDIT, .receiver = 3, .credit = 1};
	n += data_frame_encode(&f, m + n);
	expect_closed(port, m, n, false); /* credit for a channel never requested */

	expect_closed(port, NULL, 0, false); /* says nothing: handshake timeout */

	assert_int_equal(count_log_lines("expected handshake"), 1);
	assert_int_equal(count_log_lines("protocol version 99"), 1);
	assert_int_equal(count_log_lines("bad handshake magic"), 1);
	assert_int_equal(count_log_lines("frame length too large"), 1);
	assert_int_equal(count_log_lines("unknown frame type"), 1);
	assert_int_equal(count_log_lines("truncated frame"), 1);
	assert_int_equal(count_log_lines("credit for unknown receiver 3"), 1);
	assert_int_equal(count_log_lines("no handshake within 300 ms"), 1);

	/* A good channel still works on the same data port. */
	struct producer pr;
	struct consumer *c = xcalloc(1, sizeof *c);
	struct partition_id id = pid(5, 0);
	producer_init(&pr, 7, 10000, 0, &canceled);
	consumer_init(c, 1, 0, true, &canceled);
	c->src_of[0] = 7;
	register_sub(&p, &id, &pr);
	connect_channel(&p, &id, &c->gate, 0);
	consumer_start(c);
	producer_start(&pr);
	join_within(c->thread);
	join_within(pr.thread);
	int64_t want[1] = {10000};
	assert_consumed(c, want);
	netenv_unregister_subpartition(p.prod, &id);
	netenv_release_gate(p.cons, &c->gate);
	consumer_release(c);
	netenv_stop(p.cons);
	netenv_stop(p.prod);
	result_partition_release(&pr.rp);
	xfree(c);
}

/* ---- 6. credit goes out in batches, and never stalls ----------------------------------- */

/* A producer played by the test over a raw socket, so it sees every frame the consumer's
 * netenv writes. */
struct raw_producer {
	int listen_fd, fd;
	uint8_t in[4096];
	size_t have;
	pthread_t thread;
	char problem[128];
};

static void *raw_accept(void *arg)
{
	struct raw_producer *rp = arg;
	rp->fd = accept(rp->listen_fd, NULL, NULL);
	if (rp->fd < 0) {
		snprintf(rp->problem, sizeof rp->problem, "accept: %s", strerror(errno));
		return NULL;
	}
	struct timeval tv = {WAIT_S, 0};
	setsockopt(rp->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	uint8_t hello[DATA_FRAME_CONTROL_MAX];
	size_t n = put_hello(hello, DATA_PROTOCOL_MAGIC, DATA_PROTOCOL_VERSION);
	if (send(rp->fd, hello, n, MSG_NOSIGNAL) != (ssize_t)n)
		snprintf(rp->problem, sizeof rp->problem, "cannot send HELLO");
	return NULL;
}

/* The next frame from the consumer (its HELLO included), or a test failure after WAIT_S. */
static struct data_frame raw_next_frame(struct raw_producer *rp)
{
	for (;;) {
		struct data_frame f;
		size_t used;
		int rc = data_frame_parse(rp->in, rp->have, &f, &used);
		if (rc == 0) {
			assert_true(f.type != DATA_BUFFER);
			memmove(rp->in, rp->in + used, rp->have - used);
			rp->have -= used;
			return f;
		}
		if (rc != SPATE_EAGAIN)
			fail_msg("bad frame from the consumer: %s", f.error);
		ssize_t n = recv(rp->fd, rp->in + rp->have, sizeof rp->in - rp->have, 0);
		if (n <= 0)
			fail_msg("no frame from the consumer within %d s", WAIT_S);
		rp->have += (size_t)n;
	}
}

static void raw_send_buffer(struct raw_producer *rp, uint32_t backlog)
{
	uint8_t frame[DATA_FRAME_CONTROL_MAX + 64];
	struct data_frame f = {.type = DATA_BUFFER,
	                       .receiver = 0,
	                       .kind = BUF_DATA,
	                       .backlog = backlog,
	                       .payload_len = 64};
	size_t n = data_frame_encode(&f, frame);
	memset(frame + n, 0x5a, 64);
	n += 64;
	assert_int_equal(send(rp->fd, frame, n, MSG_NOSIGNAL), (ssize_t)n);
}

static void take_and_recycle(struct input_gate *g)
{
	double deadline = now_s() + WAIT_S;
	while (gate_queued(g) == 0) {
		if (now_s() > deadline)
			fail_msg("no buffer in the gate within %d s", WAIT_S);
		tick();
	}
	bool woken;
	struct buffer *b = input_gate_take(g, &woken);
	assert_non_null(b);
	buffer_recycle(b);
}

/* The consumer announces credit when what it has unannounced reaches the work it still has
 * coming (the producer's credit plus the buffers its task holds): with BPC + FLOATING = 10
 * buffers all full, the first credit frame comes after 5 are recycled and carries 5; the
 * rest come back as another 5 once the task holds nothing. One frame per recycled buffer
 * (the old way) would carry 1. */
static void test_credit_batches(void **unused)
{
	static atomic_bool canceled;
	struct spate_error err = {0};
	struct netenv *cons = netenv_start("127.0.0.1", 0, BPC, FLOATING, &err);
	if (!cons)
		fail_msg("%s", err.msg);
	struct raw_producer rp = {.fd = -1};
	rp.listen_fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(rp.listen_fd >= 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(rp.listen_fd, (struct sockaddr *)&sa, sizeof sa), 0);
	assert_int_equal(listen(rp.listen_fd, 4), 0);
	socklen_t salen = sizeof sa;
	assert_int_equal(getsockname(rp.listen_fd, (struct sockaddr *)&sa, &salen), 0);
	assert_int_equal(pthread_create(&rp.thread, NULL, raw_accept, &rp), 0);

	struct input_gate gate;
	input_gate_init(&gate, 1, &canceled);
	struct partition_id id = pid(6, 0);
	if (netenv_connect_channel(cons, "127.0.0.1", ntohs(sa.sin_port), &id, &gate, 0, &err) != 0)
		fail_msg("connect: %s", err.msg);
	join_within(rp.thread);
	if (rp.problem[0])
		fail_msg("%s", rp.problem);

	struct data_frame f = raw_next_frame(&rp);
	assert_int_equal(f.type, DATA_HELLO);
	f = raw_next_frame(&rp);
	assert_int_equal(f.type, DATA_PARTITION_REQUEST);
	assert_int_equal(f.credit, BPC); /* the exclusive buffers */

	/* A backlog of 50 makes the channel borrow every floating buffer: 8 more credit. */
	raw_send_buffer(&rp, 50);
	f = raw_next_frame(&rp);
	assert_int_equal(f.type, DATA_ADD_CREDIT);
	assert_int_equal(f.credit, FLOATING);
	for (int i = 1; i < BPC + FLOATING; i++)
		raw_send_buffer(&rp, 50);

	/* All 10 in the gate, no credit left at the producer. */
	for (int i = 0; i < (BPC + FLOATING) / 2; i++)
		take_and_recycle(&gate);
	f = raw_next_frame(&rp);
	assert_int_equal(f.type, DATA_ADD_CREDIT);
	assert_int_equal(f.credit, (BPC + FLOATING) / 2);

	/* The producer holds 5 again, the task 5: the other 5 go once it holds none. */
	for (int i = 0; i < (BPC + FLOATING) / 2; i++)
		take_and_recycle(&gate);
	f = raw_next_frame(&rp);
	assert_int_equal(f.type, DATA_ADD_CREDIT);
	assert_int_equal(f.credit, (BPC + FLOATING) / 2);

	netenv_release_gate(cons, &gate);
	f = raw_next_frame(&rp);
	assert_int_equal(f.type, DATA_CANCEL_PARTITION);
	input_gate_release(&gate);
	netenv_stop(cons);
	close(rp.fd);
	close(rp.listen_fd);
}

/* ---- stored fuzz corpus of the frame parser -------------------------------------------- */

static void check_frame_seed(const char *name, enum corpus_kind kind, const uint8_t *data,
                             size_t len)
{
	struct data_frame_outcome o = data_frame_exercise(data, len);
	if (kind == CORPUS_VALID && (o.last_rc != 0 || o.used != len || o.frames < 1))
		fail_msg("seed '%s' was not parsed whole", name);
	if (kind == CORPUS_INVALID && o.last_rc != SPATE_ECORRUPT)
		fail_msg("seed '%s' was accepted", name);
	if (kind == CORPUS_PARTIAL && o.last_rc != SPATE_EAGAIN)
		fail_msg("seed '%s' did not ask for more", name);
}

static void test_data_frame_corpus(void **unused)
{
	int counts[CORPUS_KINDS];
	corpus_replay("data_frame", check_frame_seed, counts);
	assert_true(counts[CORPUS_VALID] >= 5);
	assert_true(counts[CORPUS_INVALID] >= 5);
	assert_true(counts[CORPUS_PARTIAL] >= 1);
}

int main(void)
{
	/* Log lines go to a file that test 5 reads (set before any thread starts). */
	snprintf(log_path, sizeof log_path, "/tmp/spate-test-remote-%d.log", (int)getpid());
	if (log_set_file(log_path) != 0)
		return 1;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_data_frame_corpus),
	    cmocka_unit_test(test_rows_flow_in_order),
	    cmocka_unit_test(test_backpressure_is_per_channel),
	    cmocka_unit_test(test_request_before_registration),
	    cmocka_unit_test(test_registration_before_request),
	    cmocka_unit_test(test_cancel_unblocks),
	    cmocka_unit_test(test_lost_producer_fails_channel),
	    cmocka_unit_test(test_garbage_is_rejected),
	    cmocka_unit_test(test_credit_batches),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	if (rc == 0)
		unlink(log_path);
	else
		fprintf(stderr, "log: %s\n", log_path);
	return rc;
}
