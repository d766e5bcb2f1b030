/*
 * test_restart.c - restart strategies against Flink's arithmetic, worked out by hand:
 * fixed-delay counts attempts, failure-rate looks at the (max+1)-th latest failure,
 * exponential-delay multiplies the backoff, clamps it, jitters it, merges failures before
 * the pending restart and resets after the threshold. A fake clock (the now_ms argument)
 * and a fixed jitter (0.5 = none, 0 = the lowest, just below 1 = the highest) drive them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "checkpoint/restart.h"

#define NO_JITTER 0.5

static struct restart_strategy load(const char *const *kv, bool checkpointing)
{
	struct config *c = config_new();
	struct spate_error err = {0};
	for (int i = 0; kv && kv[i]; i += 2)
		if (config_set(c, kv[i], kv[i + 1], &err) < 0)
			fail_msg("config_set %s: %s", kv[i], err.msg);
	struct restart_strategy rs;
	if (restart_strategy_load(&rs, c, checkpointing, &err) < 0)
		fail_msg("restart_strategy_load: %s", err.msg);
	config_free(c);
	return rs;
}

static void test_default_without_checkpointing_is_none(void **unused)
{
	struct restart_strategy rs = load(NULL, false);
	int64_t delay;
	assert_int_equal(rs.type, RESTART_NONE);
	assert_false(restart_strategy_on_failure(&rs, 1000, NO_JITTER, &delay));
	char d[256];
	restart_strategy_describe(&rs, d, sizeof d);
	assert_string_equal(d, "NoRestartBackoffTimeStrategy");
	restart_strategy_release(&rs);
}

static void test_default_with_checkpointing_is_exponential_with_flink_defaults(void **unused)
{
	/* The configured exponential-delay values only apply when the type is set. */
	const char *kv[] = {"restart-strategy.exponential-delay.initial-backoff", "10 ms", NULL};
	struct restart_strategy rs = load(kv, true);
	assert_int_equal(rs.type, RESTART_EXPONENTIAL_DELAY);
	assert_int_equal(rs.initial_backoff_ms, 1000);
	assert_int_equal(rs.max_backoff_ms, 60000);
	assert_true(rs.backoff_multiplier == 1.5);
	assert_int_equal(rs.reset_threshold_ms, 3600000);
	assert_true(rs.jitter_factor == 0.1);
	assert_int_equal(rs.attempts_before_reset, 2147483647);
	char d[512];
	restart_strategy_describe(&rs, d, sizeof d);
	assert_string_equal(d, "ExponentialDelayRestartBackoffTimeStrategy(initialBackoffMS=1000, "
	                       "maxBackoffMS=60000, backoffMultiplier=1.5, "
	                       "resetBackoffThresholdMS=3600000, jitterFactor=0.1, "
	                       "attemptsBeforeResetBackoff=2147483647, currentRestartAttempt=0, "
	                       "nextRestartTimestamp=-2147483648)");
	restart_strategy_release(&rs);
}

static void test_aliases(void **unused)
{
	static const struct {
		const char *name;
		enum restart_strategy_type type;
	} cases[] = {
	    {"none", RESTART_NONE},
	    {"disable", RESTART_NONE},
	    {"off", RESTART_NONE},
	    {"fixed-delay", RESTART_FIXED_DELAY},
	    {"fixeddelay", RESTART_FIXED_DELAY},
	    {"failure-rate", RESTART_FAILURE_RATE},
	    {"failurerate", RESTART_FAILURE_RATE},
	    {"exponential-delay", RESTART_EXPONENTIAL_DELAY},
	    {"exponentialdelay", RESTART_EXPONENTIAL_DELAY},
	    {"Fixed-Delay", RESTART_FIXED_DELAY},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *kv[] = {"restart-strategy.type", cases[i].name, NULL};
		/* checkpointing on: an explicit none must still win over the default */
		struct restart_strategy rs = load(kv, true);
		if (rs.type != cases[i].type)
			fail_msg("'%s': type %d, expected %d", cases[i].name, rs.type,
			         cases[i].type);
		restart_strategy_release(&rs);
	}
	/* the deprecated key restart-strategy */
	const char *old[] = {"restart-strategy", "fixed-delay", NULL};
	struct restart_strategy rs = load(old, false);
	assert_int_equal(rs.type, RESTART_FIXED_DELAY);
	restart_strategy_release(&rs);
}

static void test_fixed_delay(void **unused)
{
	const char *kv[] = {"restart-strategy.type",
	                    "fixed-delay",
	                    "restart-strategy.fixed-delay.attempts",
	                    "2",
	                    "restart-strategy.fixed-delay.delay",
	                    "250 ms",
	                    NULL};
	struct restart_strategy rs = load(kv, false);
	int64_t delay = -1;
	assert_true(restart_strategy_on_failure(&rs, 0, NO_JITTER, &delay));
	assert_int_equal(delay, 250);
	assert_true(restart_strategy_on_failure(&rs, 100000, NO_JITTER, &delay));
	assert_int_equal(delay, 250);
	assert_false(restart_strategy_on_failure(&rs, 200000, NO_JITTER, &delay));
	char d[256];
	restart_strategy_describe(&rs, d, sizeof d);
	assert_string_equal(d, "FixedDelayRestartBackoffTimeStrategy(maxNumberRestartAttempts=2, "
	                       "backoffTimeMS=250)");
	restart_strategy_release(&rs);
}

static void test_fixed_delay_defaults(void **unused)
{
	const char *kv[] = {"restart-strategy.type", "fixed-delay", NULL};
	struct restart_strategy rs = load(kv, false);
	int64_t delay;
	assert_true(restart_strategy_on_failure(&rs, 0, NO_JITTER, &delay));
	assert_int_equal(delay, 1000);
	assert_false(restart_strategy_on_failure(&rs, 5000, NO_JITTER, &delay));
	restart_strategy_release(&rs);
}

static void test_failure_rate(void **unused)
{
	const char *kv[] = {"restart-strategy.type",
	                    "failure-rate",
	                    "restart-strategy.failure-rate.max-failures-per-interval",
	                    "2",
	                    "restart-strategy.failure-rate.failure-rate-interval",
	                    "1 s",
	                    "restart-strategy.failure-rate.delay",
	                    "100",
	                    NULL};
	struct restart_strategy rs = load(kv, false);
	int64_t delay;
	/* failures at 0, 500, 1600: the third looks back at 0, 1600 ms ago > 1 s */
	assert_true(restart_strategy_on_failure(&rs, 0, NO_JITTER, &delay));
	assert_int_equal(delay, 100);
	assert_true(restart_strategy_on_failure(&rs, 500, NO_JITTER, &delay));
	assert_true(restart_strategy_on_failure(&rs, 1600, NO_JITTER, &delay));
	/* 1700 looks back at 500: 1200 ms > 1 s */
	assert_true(restart_strategy_on_failure(&rs, 1700, NO_JITTER, &delay));
	/* 1800 looks back at 1600: 200 ms: three failures within the interval */
	assert_false(restart_strategy_on_failure(&rs, 1800, NO_JITTER, &delay));
	restart_strategy_release(&rs);
}

static void test_failure_rate_exactly_the_interval_is_too_many(void **unused)
{
	const char *kv[] = {"restart-strategy.type", "failure-rate",
	                    "restart-strategy.failure-rate.failure-rate-interval", "1000", NULL};
	struct restart_strategy rs = load(kv, false);
	int64_t delay;
	assert_true(restart_strategy_on_failure(&rs, 0, NO_JITTER, &delay));
	assert_int_equal(delay, 1000);
	/* Flink restarts only when strictly more than the interval passed */
	assert_false(restart_strategy_on_failure(&rs, 1000, NO_JITTER, &delay));
	restart_strategy_release(&rs);
}

static void test_exponential_backoff_grows_and_clamps(void **unused)
{
	const char *kv[] = {"restart-strategy.type", "exponential-delay", NULL};
	struct restart_strategy rs = load(kv, true);
	/* 1000 * 1.5^n, truncated to ms, at most 60000 */
	static const int64_t expected[] = {1000,  1500,  2250,  3375,  5062,  7593, 11390,
	                                   17085, 25628, 38443, 57665, 60000, 60000};
	int64_t now = 1000000, delay;
	for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++) {
		assert_true(restart_strategy_on_failure(&rs, now, NO_JITTER, &delay));
		if (delay != expected[i])
			fail_msg("failure %zu: delay %lld, expected %lld", i, (long long)delay,
			         (long long)expected[i]);
		now += delay + 10; /* the next failure 10 ms after the restart */
	}
	restart_strategy_release(&rs);
}

static void test_exponential_jitter_bounds(void **unused)
{
	const char *kv[] = {"restart-strategy.type", "exponential-delay", NULL};
	struct restart_strategy rs = load(kv, true);
	int64_t delay;
	/* first backoff 1000, offset 100: the lowest jitter gives 900, clamped to the
	 * initial backoff */
	assert_true(restart_strategy_on_failure(&rs, 10000, 0.0, &delay));
	assert_int_equal(delay, 1000);
	/* second backoff 1500, offset 150: [1350, 1650] */
	assert_true(restart_strategy_on_failure(&rs, 20000, 0.0, &delay));
	assert_int_equal(delay, 1350);
	restart_strategy_release(&rs);
	rs = load(kv, true);
	assert_true(restart_strategy_on_failure(&rs, 10000, 0.0, &delay));
	assert_true(restart_strategy_on_failure(&rs, 20000, 0.9999999, &delay));
	assert_int_equal(delay, 1650);
	restart_strategy_release(&rs);
}

static void test_exponential_merges_failures_before_the_restart(void **unused)
{
	const char *kv[] = {"restart-strategy.type", "exponential-delay", NULL};
	struct restart_strategy rs = load(kv, true);
	int64_t delay;
	assert_true(restart_strategy_on_failure(&rs, 10000, NO_JITTER, &delay));
	assert_int_equal(delay, 1000);
	/* a failure while the restart is pending joins it: same restart time */
	assert_true(restart_strategy_on_failure(&rs, 10400, NO_JITTER, &delay));
	assert_int_equal(delay, 600);
	assert_int_equal(rs.attempt, 1);
	/* the next one after it is attempt 2 */
	assert_true(restart_strategy_on_failure(&rs, 12000, NO_JITTER, &delay));
	assert_int_equal(delay, 1500);
	restart_strategy_release(&rs);
}

static void test_exponential_resets_after_threshold(void **unused)
{
	const char *kv[] = {"restart-strategy.type", "exponential-delay",
	                    "restart-strategy.exponential-delay.reset-backoff-threshold", "10 s",
	                    NULL};
	struct restart_strategy rs = load(kv, true);
	int64_t delay;
	assert_true(restart_strategy_on_failure(&rs, 0, NO_JITTER, &delay)); /* restart at 1000 */
	assert_true(restart_strategy_on_failure(&rs, 2000, NO_JITTER, &delay));
	assert_int_equal(delay, 1500); /* restart at 3500 */
	/* 9999 ms after the restart: not yet reset */
	assert_true(restart_strategy_on_failure(&rs, 3500 + 9999, NO_JITTER, &delay));
	assert_int_equal(delay, 2250); /* restart at 15749 */
	/* 10 s after the restart: back to the initial backoff */
	assert_true(restart_strategy_on_failure(&rs, 15749 + 10000, NO_JITTER, &delay));
	assert_int_equal(delay, 1000);
	restart_strategy_release(&rs);
}

static void test_exponential_attempts_before_reset(void **unused)
{
	const char *kv[] = {"restart-strategy.type",
	                    "exponential-delay",
	                    "restart-strategy.exponential-delay.attempts-before-reset-backoff",
	                    "2",
	                    "restart-strategy.exponential-delay.initial-backoff",
	                    "10 ms",
	                    "restart-strategy.exponential-delay.backoff-multiplier",
	                    "2.0",
	                    "restart-strategy.exponential-delay.jitter-factor",
	                    "0",
	                    NULL};
	struct restart_strategy rs = load(kv, true);
	int64_t delay;
	assert_true(restart_strategy_on_failure(&rs, 0, 0.0, &delay));
	assert_int_equal(delay, 10);
	assert_true(restart_strategy_on_failure(&rs, 100, 0.0, &delay));
	assert_int_equal(delay, 20);
	assert_false(restart_strategy_on_failure(&rs, 200, 0.0, &delay));
	char d[512];
	restart_strategy_describe(&rs, d, sizeof d);
	assert_non_null(strstr(d, "backoffMultiplier=2.0, "));
	assert_non_null(strstr(d, "jitterFactor=0.0, "));
	restart_strategy_release(&rs);
}

static void test_bad_values(void **unused)
{
	static const char *const bad[][4] = {
	    {"restart-strategy.exponential-delay.backoff-multiplier", "1.0",
	     "Backoff multiplier must be greater than 1."},
	    {"restart-strategy.exponential-delay.backoff-multiplier", "fast", "expected a number"},
	    {"restart-strategy.exponential-delay.jitter-factor", "1.5",
	     "Jitter factor must be >= 0 and <= 1."},
	    {"restart-strategy.exponential-delay.max-backoff", "10 ms",
	     "Initial backoff cannot be higher than maximum backoff."},
	    {"restart-strategy.exponential-delay.attempts-before-reset-backoff", "0",
	     "The attemptsBeforeResetBackoff must be at least 1."},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct config *c = config_new();
		struct spate_error err = {0};
		assert_int_equal(config_set(c, "restart-strategy.type", "exponential-delay", &err),
		                 0);
		assert_int_equal(config_set(c, bad[i][0], bad[i][1], &err), 0);
		struct restart_strategy rs;
		assert_int_equal(restart_strategy_load(&rs, c, true, &err), SPATE_ECONFIG);
		if (!strstr(err.msg, bad[i][2]) || !strstr(err.msg, bad[i][0]))
			fail_msg("%s=%s: '%s'", bad[i][0], bad[i][1], err.msg);
		config_free(c);
	}
}

static void test_none_never_restarts(void **unused)
{
	const char *kv[] = {"restart-strategy.type", "none", NULL};
	struct restart_strategy rs = load(kv, true);
	int64_t delay;
	assert_false(restart_strategy_on_failure(&rs, 0, NO_JITTER, &delay));
	assert_false(restart_strategy_on_failure(&rs, 1000000, NO_JITTER, &delay));
	restart_strategy_release(&rs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_default_without_checkpointing_is_none),
	    cmocka_unit_test(test_default_with_checkpointing_is_exponential_with_flink_defaults),
	    cmocka_unit_test(test_aliases),
	    cmocka_unit_test(test_fixed_delay),
	    cmocka_unit_test(test_fixed_delay_defaults),
	    cmocka_unit_test(test_failure_rate),
	    cmocka_unit_test(test_failure_rate_exactly_the_interval_is_too_many),
	    cmocka_unit_test(test_exponential_backoff_grows_and_clamps),
	    cmocka_unit_test(test_exponential_jitter_bounds),
	    cmocka_unit_test(test_exponential_merges_failures_before_the_restart),
	    cmocka_unit_test(test_exponential_resets_after_threshold),
	    cmocka_unit_test(test_exponential_attempts_before_reset),
	    cmocka_unit_test(test_bad_values),
	    cmocka_unit_test(test_none_never_restarts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
