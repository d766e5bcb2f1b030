/*
 * test_metrics.c - the Prometheus text writer (expected text written out by hand from the
 * exposition format's rules), the single-writer counters, and the time a task spends
 * blocked on an empty gate or an exhausted pool (measured against the test's own clock).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "metrics/metrics.h"
#include "runtime/network.h"

static void test_prom_family_and_samples(void **state)
{
	(void)state;
	struct prom_buf b = {0};
	prom_family(&b, "spate_x_total", "counter", "Things counted");
	const char *l[] = {"job", "a", "task", "b c", NULL};
	prom_sample(&b, "spate_x_total", l, 42);
	prom_sample(&b, "spate_x_total", NULL, 0.5);
	assert_string_equal(b.data, "# HELP spate_x_total Things counted\n"
	                            "# TYPE spate_x_total counter\n"
	                            "spate_x_total{job=\"a\",task=\"b c\"} 42\n"
	                            "spate_x_total 0.5\n");
	xfree(b.data);
}

static void test_prom_label_escaping(void **state)
{
	(void)state;
	struct prom_buf b = {0};
	const char *l[] = {"name", "q\"b\\s\nn", NULL};
	prom_sample(&b, "m", l, -3);
	assert_string_equal(b.data, "m{name=\"q\\\"b\\\\s\\nn\"} -3\n");
	xfree(b.data);
}

static void test_prom_grows(void **state)
{
	(void)state;
	struct prom_buf b = {0};
	char big[300];
	memset(big, 'v', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	const char *l[] = {"k", big, NULL};
	for (int i = 0; i < 100; i++)
		prom_sample(&b, "m", l, i);
	/* "m{k=\"" + 299 + "\"} " + digits + "\n" per line */
	size_t expect = 0;
	for (int i = 0; i < 100; i++)
		expect += 5 + 299 + 3 + (i < 10 ? 1 : 2) + 1;
	assert_int_equal(b.len, expect);
	assert_int_equal(strlen(b.data), expect);
	xfree(b.data);
}

/* A wait in progress counts while it lasts; once it ends only the total remains. */
static void test_wait_clock_in_progress(void **state)
{
	(void)state;
	struct wait_clock w = {0};
	wait_clock_begin(&w, 1000);
	assert_int_equal(wait_clock_read(&w, 4000), 3000);
	assert_int_equal(wait_clock_read(&w, 9000), 8000);
	wait_clock_end(&w, 10000);
	assert_int_equal(wait_clock_read(&w, 50000), 9000);
	wait_clock_begin(&w, 60000);
	assert_int_equal(wait_clock_read(&w, 60500), 9500);
}

static void test_counter_single_writer(void **state)
{
	(void)state;
	_Atomic int64_t c = 0;
	for (int i = 1; i <= 1000; i++)
		counter_add(&c, i);
	assert_int_equal(counter_get(&c), 500500);
}

struct pusher {
	struct input_gate *gate;
	struct buffer_pool *pool;
	int64_t delay_ns;
};

/* The other thread's delay that the measured wait must cover (not synchronisation: the
 * gate and the pool are what the threads meet at). */
static void delay(int64_t ns)
{
	struct timespec ts = {.tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000};
	while (nanosleep(&ts, &ts) != 0)
		;
}

static void *push_later(void *arg)
{
	struct pusher *p = arg;
	delay(p->delay_ns);
	input_gate_push(p->gate, buffer_pool_request(p->pool), 0);
	return NULL;
}

/* A consumer blocked on an empty gate is idle at least as long as the producer waited
 * before pushing, and no more than the whole call took. */
static void test_gate_idle_time(void **state)
{
	(void)state;
	atomic_bool canceled = false;
	struct buffer_pool pool;
	buffer_pool_init(&pool, 2, &canceled);
	struct input_gate g;
	input_gate_init(&g, 1, &canceled);
	struct wait_clock idle = {0};
	g.idle = &idle;
	struct pusher p = {&g, &pool, 50 * 1000000};
	pthread_t t;
	int64_t t0 = metrics_now_ns();
	pthread_create(&t, NULL, push_later, &p);
	bool woken;
	struct buffer *b = input_gate_take(&g, &woken);
	int64_t took = metrics_now_ns() - t0;
	pthread_join(t, NULL);
	assert_non_null(b);
	assert_int_equal(atomic_load(&g.queued), 0);
	/* the consumer may start waiting late on a loaded machine: a loose lower bound */
	assert_true(wait_clock_read(&idle, metrics_now_ns()) >= 20 * 1000000);
	assert_true(wait_clock_read(&idle, metrics_now_ns()) <= took);
	assert_int_equal(atomic_load(&idle.since_ns), 0);
	buffer_recycle(b);
	input_gate_release(&g);
	buffer_pool_release(&pool);
}

struct recycler {
	struct buffer *b;
	int64_t delay_ns;
};

static void *recycle_later(void *arg)
{
	struct recycler *r = arg;
	delay(r->delay_ns);
	buffer_recycle(r->b);
	return NULL;
}

/* A producer that finds its pool empty is backpressured until a buffer comes back; a
 * request that does not wait adds nothing. */
static void test_pool_wait_time(void **state)
{
	(void)state;
	atomic_bool canceled = false;
	struct buffer_pool pool;
	buffer_pool_init(&pool, 1, &canceled);
	struct wait_clock waited = {0};
	pool.wait = &waited;
	struct buffer *b = buffer_pool_request(&pool);
	assert_int_equal(wait_clock_read(&waited, metrics_now_ns()), 0);
	struct recycler r = {b, 40 * 1000000};
	pthread_t t;
	int64_t t0 = metrics_now_ns();
	pthread_create(&t, NULL, recycle_later, &r);
	struct buffer *b2 = buffer_pool_request(&pool);
	int64_t took = metrics_now_ns() - t0;
	pthread_join(t, NULL);
	assert_ptr_equal(b2, b);
	assert_true(wait_clock_read(&waited, metrics_now_ns()) >= 20 * 1000000);
	assert_true(wait_clock_read(&waited, metrics_now_ns()) <= took);
	buffer_recycle(b2);
	buffer_pool_release(&pool);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_prom_family_and_samples),
	    cmocka_unit_test(test_prom_label_escaping),
	    cmocka_unit_test(test_prom_grows),
	    cmocka_unit_test(test_counter_single_writer),
	    cmocka_unit_test(test_wait_clock_in_progress),
	    cmocka_unit_test(test_gate_idle_time),
	    cmocka_unit_test(test_pool_wait_time),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
