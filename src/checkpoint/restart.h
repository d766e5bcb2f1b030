/*
 * restart.h - restart strategies (Flink's RestartBackoffTimeStrategy family, flink-facts §4
 * and §8): after a failure, whether the job restarts and after what delay.
 *
 *   none (disable, off)      never restarts
 *   fixed-delay              restarts up to `attempts` times, `delay` apart
 *   failure-rate             restarts unless more than max-failures-per-interval failures
 *                            fell within failure-rate-interval; `delay` apart
 *   exponential-delay        restarts (up to attempts-before-reset-backoff times in a row)
 *                            with a backoff from initial-backoff, times backoff-multiplier
 *                            per attempt, up to max-backoff, with +-jitter-factor jitter;
 *                            back to initial-backoff after reset-backoff-threshold without
 *                            a failure
 *
 * Without restart-strategy.type: none when checkpointing is off, exponential-delay with
 * Flink's default parameters (not the configured ones) when it is on, as Flink's
 * RestartBackoffTimeStrategyFactoryLoader does.
 *
 * Pure: time and randomness come from the caller, so tests drive it with a fake clock and a
 * fixed jitter. Not thread-safe; the JobMaster keeps one per job under jm->mu.
 */
#ifndef SPATE_CHECKPOINT_RESTART_H
#define SPATE_CHECKPOINT_RESTART_H

#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"
#include "core/error.h"

enum restart_strategy_type {
	RESTART_NONE,
	RESTART_FIXED_DELAY,
	RESTART_FAILURE_RATE,
	RESTART_EXPONENTIAL_DELAY,
};

struct restart_strategy {
	enum restart_strategy_type type;
	/* fixed-delay */
	int max_attempts;
	/* fixed-delay and failure-rate */
	int64_t delay_ms;
	/* failure-rate */
	int max_failures_per_interval;
	int64_t failure_interval_ms;
	/* exponential-delay */
	int64_t initial_backoff_ms;
	int64_t max_backoff_ms;
	double backoff_multiplier;
	int64_t reset_threshold_ms;
	double jitter_factor;
	int attempts_before_reset;

	/* state */
	int attempt;             /* failures counted (fixed-delay), attempt in a row (exp.) */
	int64_t next_restart_ms; /* exponential-delay: when the current attempt restarts */
	int64_t *failure_times;  /* failure-rate: the latest max+1 failure times (owned) */
	int nfailure_times;
};

/* Reads restart-strategy.* from the job's effective configuration. SPATE_ECONFIG with err
 * set for an unusable value. Release with restart_strategy_release. */
int restart_strategy_load(struct restart_strategy *rs, const struct config *c,
                          bool checkpointing_enabled, struct spate_error *err);
void restart_strategy_release(struct restart_strategy *rs);

/* A strategy of the given type with Flink's default parameters. */
void restart_strategy_init_defaults(struct restart_strategy *rs, enum restart_strategy_type type);

/*
 * A failure at now_ms. Returns true if the job should restart, with *delay_ms the time to
 * wait first. `jitter` in [0, 1) picks exponential-delay's jitter uniformly from
 * [-jitter-factor * backoff, +jitter-factor * backoff] (0.5 is no jitter); other strategies
 * ignore it.
 */
bool restart_strategy_on_failure(struct restart_strategy *rs, int64_t now_ms, double jitter,
                                 int64_t *delay_ms);

/* Flink's toString() of the strategy, e.g. "FixedDelayRestartBackoffTimeStrategy(
 * maxNumberRestartAttempts=1, backoffTimeMS=1000)", for "Recovery is suppressed by ..." */
void restart_strategy_describe(const struct restart_strategy *rs, char *buf, size_t cap);

/* The type's name as Flink's RestartStrategyType prints it: "disable", "fixed-delay",
 * "failure-rate", "exponential-delay". */
const char *restart_strategy_type_name(enum restart_strategy_type t);

#endif
