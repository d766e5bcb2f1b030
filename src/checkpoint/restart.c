/*
 * restart.c - restart strategies (see restart.h). The arithmetic follows Flink 2.x's
 * NoRestart-, FixedDelay-, FailureRate- and ExponentialDelayRestartBackoffTimeStrategy:
 * notifyFailure() then canRestart() and getBackoffTime(), folded into one call.
 */
#include "checkpoint/restart.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"

/* Flink's DEFAULT_NEXT_RESTART_TIMESTAMP: no attempt yet. */
#define NO_RESTART_YET ((int64_t)INT_MIN)

const char *restart_strategy_type_name(enum restart_strategy_type t)
{
	switch (t) {
	case RESTART_FIXED_DELAY:
		return "fixed-delay";
	case RESTART_FAILURE_RATE:
		return "failure-rate";
	case RESTART_EXPONENTIAL_DELAY:
		return "exponential-delay";
	default:
		return "disable";
	}
}

void restart_strategy_init_defaults(struct restart_strategy *rs, enum restart_strategy_type type)
{
	memset(rs, 0, sizeof *rs);
	rs->type = type;
	rs->max_attempts = 1;
	rs->delay_ms = 1000;
	rs->max_failures_per_interval = 1;
	rs->failure_interval_ms = 60000;
	rs->initial_backoff_ms = 1000;
	rs->max_backoff_ms = 60000;
	rs->backoff_multiplier = 1.5;
	rs->reset_threshold_ms = 3600000;
	rs->jitter_factor = 0.1;
	rs->attempts_before_reset = INT_MAX;
	rs->next_restart_ms = NO_RESTART_YET;
}

void restart_strategy_release(struct restart_strategy *rs)
{
	xfree(rs->failure_times);
	rs->failure_times = NULL;
	rs->nfailure_times = 0;
}

/* A key config.c may not know (then its raw string) parsed as a double. */
static int get_double(const struct config *c, const char *key, double fallback, double *out,
                      struct spate_error *err)
{
	const char *v = config_get(c, key);
	*out = fallback;
	if (!v)
		return 0;
	char *end;
	double d = strtod(v, &end);
	while (*end == ' ' || *end == '\t')
		end++;
	if (end == v || *end || !isfinite(d))
		return error_set(err, SPATE_ECONFIG, "bad value '%s' for '%s': expected a number",
		                 v, key);
	*out = d;
	return 0;
}

static int get_duration(const struct config *c, const char *key, int64_t fallback, int64_t *out,
                        struct spate_error *err)
{
	const char *v = config_get(c, key);
	*out = fallback;
	if (v && config_parse_duration_ms(v, out) < 0)
		return error_set(err, SPATE_ECONFIG, "bad value '%s' for '%s': expected a duration",
		                 v, key);
	return 0;
}

static int get_int(const struct config *c, const char *key, int64_t fallback, int64_t *out,
                   struct spate_error *err)
{
	const char *v = config_get(c, key);
	*out = fallback;
	if (!v)
		return 0;
	char *end;
	long long i = strtoll(v, &end, 10);
	while (*end == ' ' || *end == '\t')
		end++;
	if (end == v || *end)
		return error_set(err, SPATE_ECONFIG, "bad value '%s' for '%s': expected an integer",
		                 v, key);
	*out = i;
	return 0;
}

static int bad(struct spate_error *err, const char *key, const char *what)
{
	return error_set(err, SPATE_ECONFIG, "bad value for '%s': %s", key, what);
}

int restart_strategy_load(struct restart_strategy *rs, const struct config *c,
                          bool checkpointing_enabled, struct spate_error *err)
{
	const char *type = config_get(c, "restart-strategy.type");
	if (!type) {
		/* Flink: exponential-delay with its default parameters (not the configured
		 * ones) when checkpointing is on, else no restarts. */
		restart_strategy_init_defaults(rs, checkpointing_enabled ? RESTART_EXPONENTIAL_DELAY
		                                                         : RESTART_NONE);
		return 0;
	}
	enum restart_strategy_type t;
	if (!strcasecmp(type, "none") || !strcasecmp(type, "disable") || !strcasecmp(type, "off"))
		t = RESTART_NONE;
	else if (!strcasecmp(type, "fixed-delay") || !strcasecmp(type, "fixeddelay"))
		t = RESTART_FIXED_DELAY;
	else if (!strcasecmp(type, "failure-rate") || !strcasecmp(type, "failurerate"))
		t = RESTART_FAILURE_RATE;
	else if (!strcasecmp(type, "exponential-delay") || !strcasecmp(type, "exponentialdelay"))
		t = RESTART_EXPONENTIAL_DELAY;
	else
		return error_set(err, SPATE_ECONFIG, "Unknown restart strategy %s.", type);
	restart_strategy_init_defaults(rs, t);

	int64_t i;
	switch (t) {
	case RESTART_FIXED_DELAY:
		if (get_int(c, "restart-strategy.fixed-delay.attempts", 1, &i, err) < 0 ||
		    get_duration(c, "restart-strategy.fixed-delay.delay", 1000, &rs->delay_ms,
		                 err) < 0)
			return SPATE_ECONFIG;
		if (i < 0 || i > INT_MAX)
			return bad(err, "restart-strategy.fixed-delay.attempts",
			           "Maximum number of restart attempts must be at least 0.");
		rs->max_attempts = (int)i;
		break;
	case RESTART_FAILURE_RATE:
		if (get_int(c, "restart-strategy.failure-rate.max-failures-per-interval", 1, &i,
		            err) < 0 ||
		    get_duration(c, "restart-strategy.failure-rate.failure-rate-interval", 60000,
		                 &rs->failure_interval_ms, err) < 0 ||
		    get_duration(c, "restart-strategy.failure-rate.delay", 1000, &rs->delay_ms,
		                 err) < 0)
			return SPATE_ECONFIG;
		if (i <= 0 || i > 1000000)
			return bad(
			    err, "restart-strategy.failure-rate.max-failures-per-interval",
			    "Maximum number of restart attempts per time unit must be greater "
			    "than 0.");
		if (rs->failure_interval_ms <= 0)
			return bad(err, "restart-strategy.failure-rate.failure-rate-interval",
			           "Failures interval must be greater than 0 ms.");
		rs->max_failures_per_interval = (int)i;
		break;
	case RESTART_EXPONENTIAL_DELAY: {
		const char *p = "restart-strategy.exponential-delay.";
		char k[6][96];
		static const char *const names[6] = {
		    "initial-backoff",         "max-backoff",   "backoff-multiplier",
		    "reset-backoff-threshold", "jitter-factor", "attempts-before-reset-backoff"};
		for (int n = 0; n < 6; n++)
			snprintf(k[n], sizeof k[n], "%s%s", p, names[n]);
		if (get_duration(c, k[0], 1000, &rs->initial_backoff_ms, err) < 0 ||
		    get_duration(c, k[1], 60000, &rs->max_backoff_ms, err) < 0 ||
		    get_double(c, k[2], 1.5, &rs->backoff_multiplier, err) < 0 ||
		    get_duration(c, k[3], 3600000, &rs->reset_threshold_ms, err) < 0 ||
		    get_double(c, k[4], 0.1, &rs->jitter_factor, err) < 0 ||
		    get_int(c, k[5], INT_MAX, &i, err) < 0)
			return SPATE_ECONFIG;
		if (rs->initial_backoff_ms < 1)
			return bad(err, k[0], "Initial backoff must be at least 1.");
		if (rs->max_backoff_ms < 1)
			return bad(err, k[1], "Maximum backoff must be at least 1.");
		if (rs->initial_backoff_ms > rs->max_backoff_ms)
			return error_set(
			    err, SPATE_ECONFIG,
			    "bad values for '%s' and '%s': Initial backoff cannot be higher "
			    "than maximum backoff.",
			    k[0], k[1]);
		if (!(rs->backoff_multiplier > 1))
			return bad(err, k[2], "Backoff multiplier must be greater than 1.");
		if (rs->reset_threshold_ms < 1)
			return bad(
			    err, k[3],
			    "Threshold duration for exponential backoff reset must be at least "
			    "1.");
		if (!(rs->jitter_factor >= 0 && rs->jitter_factor <= 1))
			return bad(err, k[4], "Jitter factor must be >= 0 and <= 1.");
		if (i < 1 || i > INT_MAX)
			return bad(err, k[5], "The attemptsBeforeResetBackoff must be at least 1.");
		rs->attempts_before_reset = (int)i;
		break;
	}
	default:
		break;
	}
	return 0;
}

/* Flink's calculateJitterBackoffMS: uniform in [-offset, offset], offset = backoff * factor. */
static int64_t jitter_ms(const struct restart_strategy *rs, int64_t backoff, double u)
{
	if (rs->jitter_factor == 0)
		return 0;
	int64_t offset = (int64_t)((double)backoff * rs->jitter_factor);
	if (u < 0)
		u = 0;
	if (u >= 1)
		u = 0.999999999;
	return -offset + (int64_t)floor(u * (double)(2 * offset + 1));
}

static bool exponential_on_failure(struct restart_strategy *rs, int64_t now, double u,
                                   int64_t *delay_ms)
{
	/* Failures before the pending restart are one attempt (Flink merges them). */
	if (now > rs->next_restart_ms) {
		if (now - rs->next_restart_ms >= rs->reset_threshold_ms)
			rs->attempt = 0;
		double b =
		    (double)rs->initial_backoff_ms * pow(rs->backoff_multiplier, rs->attempt);
		int64_t backoff = b >= (double)rs->max_backoff_ms ? rs->max_backoff_ms : (int64_t)b;
		int64_t actual = backoff + jitter_ms(rs, backoff, u);
		if (actual > rs->max_backoff_ms)
			actual = rs->max_backoff_ms;
		if (actual < rs->initial_backoff_ms)
			actual = rs->initial_backoff_ms;
		rs->next_restart_ms = now + actual;
		if (rs->attempt < INT_MAX)
			rs->attempt++;
	}
	*delay_ms = rs->next_restart_ms > now ? rs->next_restart_ms - now : 0;
	return rs->attempt <= rs->attempts_before_reset;
}

static bool failure_rate_on_failure(struct restart_strategy *rs, int64_t now, int64_t *delay_ms)
{
	int max = rs->max_failures_per_interval;
	if (!rs->failure_times)
		rs->failure_times = xcalloc((size_t)max + 1, sizeof *rs->failure_times);
	/* notifyFailure: the queue keeps at most max+1 timestamps */
	if (rs->nfailure_times > max) {
		memmove(rs->failure_times, rs->failure_times + 1,
		        (size_t)(rs->nfailure_times - 1) * sizeof *rs->failure_times);
		rs->nfailure_times--;
	}
	rs->failure_times[rs->nfailure_times++] = now;
	*delay_ms = rs->delay_ms;
	/* canRestart: a full queue means max+1 failures; fine if the oldest is old enough */
	if (rs->nfailure_times > max)
		return now - rs->failure_times[0] > rs->failure_interval_ms;
	return true;
}

bool restart_strategy_on_failure(struct restart_strategy *rs, int64_t now_ms, double jitter,
                                 int64_t *delay_ms)
{
	*delay_ms = 0;
	switch (rs->type) {
	case RESTART_FIXED_DELAY:
		if (rs->attempt < INT_MAX)
			rs->attempt++;
		*delay_ms = rs->delay_ms;
		return rs->attempt <= rs->max_attempts;
	case RESTART_FAILURE_RATE:
		return failure_rate_on_failure(rs, now_ms, delay_ms);
	case RESTART_EXPONENTIAL_DELAY:
		return exponential_on_failure(rs, now_ms, jitter, delay_ms);
	default:
		return false;
	}
}

/* Java's Double.toString for the values we print: shortest round trip, ".0" if integral. */
static void java_double(double d, char *buf, size_t cap)
{
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(buf, cap, "%.*g", prec, d);
		if (strtod(buf, NULL) == d)
			break;
	}
	if (!strpbrk(buf, ".eEn"))
		snprintf(buf + strlen(buf), cap - strlen(buf), ".0");
}

void restart_strategy_describe(const struct restart_strategy *rs, char *buf, size_t cap)
{
	char mult[32], jit[32];
	switch (rs->type) {
	case RESTART_FIXED_DELAY:
		snprintf(buf, cap,
		         "FixedDelayRestartBackoffTimeStrategy(maxNumberRestartAttempts=%d, "
		         "backoffTimeMS=%lld)",
		         rs->max_attempts, (long long)rs->delay_ms);
		break;
	case RESTART_FAILURE_RATE:
		/* sic: Flink's generateStrategyString() repeats the class name and drops a
		 * parenthesis */
		snprintf(
		    buf, cap,
		    "FailureRateRestartBackoffTimeStrategy(FailureRateRestartBackoffTimeStrategy("
		    "failuresIntervalMS=%lld,backoffTimeMS=%lld,maxFailuresPerInterval=%d)",
		    (long long)rs->failure_interval_ms, (long long)rs->delay_ms,
		    rs->max_failures_per_interval);
		break;
	case RESTART_EXPONENTIAL_DELAY:
		java_double(rs->backoff_multiplier, mult, sizeof mult);
		java_double(rs->jitter_factor, jit, sizeof jit);
		snprintf(
		    buf, cap,
		    "ExponentialDelayRestartBackoffTimeStrategy(initialBackoffMS=%lld, "
		    "maxBackoffMS=%lld, backoffMultiplier=%s, resetBackoffThresholdMS=%lld, "
		    "jitterFactor=%s, attemptsBeforeResetBackoff=%d, currentRestartAttempt=%d, "
		    "nextRestartTimestamp=%lld)",
		    (long long)rs->initial_backoff_ms, (long long)rs->max_backoff_ms, mult,
		    (long long)rs->reset_threshold_ms, jit, rs->attempts_before_reset, rs->attempt,
		    (long long)rs->next_restart_ms);
		break;
	default:
		snprintf(buf, cap, "NoRestartBackoffTimeStrategy");
		break;
	}
}
