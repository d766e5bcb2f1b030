/*
 * config.h - Spate's configuration: Flink's key names and defaults.
 *
 * Sources, lowest precedence first: built-in defaults, conf/config.yaml (standard YAML,
 * nested maps flattened to dotted keys, or flat dotted keys; both may be mixed), then
 * -D key=value overrides. Every known key has a type and a validator; values are kept as
 * strings and parsed by the typed getters.
 *
 * Unknown keys: in the file they produce a warning (log_warn) and are kept; from -D they
 * are an error ("unknown configuration key 'foo.bar'"), since a typo on the command line is
 * almost always a mistake. A bad value is an error naming the key, the value and what was
 * expected: "bad value 'abc' for 'parallelism.default': expected a positive integer".
 *
 * Durations accept Flink's forms: "100", "100 ms", "100ms", "10 s", "10s", "5 min", "1 h",
 * "2 d" (a bare number is milliseconds). Memory sizes: "32kb", "32 k", "64m", "64mb", "1g",
 * "1gb", "512" (bytes), case-insensitive. Booleans: true/false.
 */
#ifndef SPATE_CONFIG_CONFIG_H
#define SPATE_CONFIG_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "core/error.h"

enum config_type {
	CONFIG_STRING,
	CONFIG_INT,    /* any integer */
	CONFIG_POSINT, /* integer >= 1 */
	CONFIG_PORT,   /* 0..65535 */
	CONFIG_BOOL,
	CONFIG_DURATION, /* stored parsed as milliseconds */
	CONFIG_MEMORY,   /* stored parsed as bytes */
	CONFIG_ENUM,     /* one of a '|' separated list, case-insensitive */
};

struct config_key {
	const char *key;
	enum config_type type;
	const char *default_value;  /* NULL = no default */
	const char *enum_values;    /* for CONFIG_ENUM: "a|b|c" */
	const char *deprecated_key; /* an older name that is accepted and mapped, or NULL */
};

struct config;

/* The table of known keys, terminated by an entry with key == NULL. */
extern const struct config_key config_keys[];

struct config *config_new(void); /* defaults only; free with config_free */
void config_free(struct config *c);
struct config *config_clone(const struct config *c);

/*
 * Loads a YAML file. Returns 0; SPATE_ENOENT if the file does not exist (c unchanged, no
 * error set); or SPATE_ECONFIG with err filled ("cannot parse '/x/config.yaml' line 3:
 * ..." or a bad value).
 */
int config_load_file(struct config *c, const char *path, struct spate_error *err);
/* Parses YAML text (for tests and fuzzing); `name` is used in messages. */
int config_load_string(struct config *c, const char *yaml, size_t len, const char *name,
                       struct spate_error *err);
/* Applies "key=value" (a -D override): unknown key or bad value is SPATE_ECONFIG. */
int config_set_override(struct config *c, const char *assignment, struct spate_error *err);
/* Sets a value from code (validated); unknown keys allowed with a warning. */
int config_set(struct config *c, const char *key, const char *value, struct spate_error *err);

/* The raw value (after deprecated-key mapping), or NULL if unset and no default. */
const char *config_get(const struct config *c, const char *key);
/* True if the key was set by a file or override (not merely defaulted). */
bool config_is_set(const struct config *c, const char *key);
/* Typed getters: return the parsed value, or `fallback` if unset. Values were validated
 * when set, so these cannot fail. */
int64_t config_get_int(const struct config *c, const char *key, int64_t fallback);
bool config_get_bool(const struct config *c, const char *key, bool fallback);
int64_t config_get_duration_ms(const struct config *c, const char *key, int64_t fallback);
int64_t config_get_memory_bytes(const struct config *c, const char *key, int64_t fallback);

/* Standalone parsers (also used by the validators). Return 0 or SPATE_EINVAL. */
int config_parse_duration_ms(const char *s, int64_t *out);
int config_parse_memory_bytes(const char *s, int64_t *out);
int config_parse_bool(const char *s, bool *out);

/* Calls fn for every key that has a value (set or default), sorted by key. */
void config_foreach(const struct config *c,
                    void (*fn)(void *arg, const char *key, const char *value), void *arg);

/*
 * Finds the configuration directory: $SPATE_CONF_DIR if set, else <dir of the running
 * executable>/../conf. Returns a new string (xfree) or NULL.
 */
char *config_find_dir(void);

#endif
