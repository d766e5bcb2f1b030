/*
 * config.c - Spate's configuration: the table of known keys (Flink's names and defaults),
 * the YAML loader, -D overrides and the typed getters (see config.h).
 *
 * Values are kept as the strings the user wrote (trimmed), so that printing the
 * configuration (REST, logs) shows what is in the file, as Flink does. Every value of a
 * known key is validated when it is set, so the typed getters never meet a bad value. The
 * one normalisation is for enums: the stored value is the table's spelling, so that code
 * can compare with strcmp while users may write any case.
 *
 * A configuration is built once at start-up and then only read, so there are no locks; the
 * few dozen entries are searched linearly, which is cheaper than any index at this size.
 *
 * Loading a file is all or nothing: pairs are collected and validated first and applied
 * only if every one is good, so a bad file never leaves a half-applied configuration.
 */
#include "config/config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <yaml.h>

#include "core/alloc.h"
#include "core/log.h"

/* clang-format off */
const struct config_key config_keys[] = {
	/* core, pipeline */
	{"parallelism.default", CONFIG_POSINT, "1", NULL, NULL},
	{"pipeline.max-parallelism", CONFIG_INT, "-1", NULL, NULL},
	{"pipeline.operator-chaining.enabled", CONFIG_BOOL, "true", NULL, "pipeline.operator-chaining"},
	{"execution.buffer-timeout.interval", CONFIG_DURATION, "100", NULL, "execution.buffer-timeout"},
	{"execution.buffer-timeout.enabled", CONFIG_BOOL, "true", NULL, NULL},
	/* cluster addresses and ports */
	{"jobmanager.rpc.address", CONFIG_STRING, NULL, NULL, NULL},
	{"jobmanager.rpc.port", CONFIG_PORT, "6123", NULL, NULL},
	{"jobmanager.bind-host", CONFIG_STRING, NULL, NULL, NULL},
	{"taskmanager.bind-host", CONFIG_STRING, NULL, NULL, NULL},
	{"taskmanager.host", CONFIG_STRING, NULL, NULL, NULL},
	{"taskmanager.rpc.port", CONFIG_STRING, "0", NULL, NULL},
	{"taskmanager.data.port", CONFIG_PORT, "0", NULL, NULL},
	{"taskmanager.numberOfTaskSlots", CONFIG_POSINT, "1", NULL, NULL},
	{"blob.server.port", CONFIG_STRING, "0", NULL, NULL},
	{"blob.storage.directory", CONFIG_STRING, NULL, NULL, NULL},
	{"env.log.dir", CONFIG_STRING, NULL, NULL, NULL},
	{"taskmanager.resource-id", CONFIG_STRING, NULL, NULL, NULL},
	{"taskmanager.registration.timeout", CONFIG_DURATION, "300000", NULL, NULL},
	{"rest.port", CONFIG_PORT, "8081", NULL, "web.port"},
	{"rest.bind-port", CONFIG_STRING, NULL, NULL, NULL},
	{"rest.address", CONFIG_STRING, NULL, NULL, NULL},
	{"rest.bind-address", CONFIG_STRING, NULL, NULL, NULL},
	/* heartbeats and slots */
	{"heartbeat.interval", CONFIG_DURATION, "10000", NULL, NULL},
	{"heartbeat.timeout", CONFIG_DURATION, "50000", NULL, NULL},
	{"slot.request.timeout", CONFIG_DURATION, "300000", NULL, NULL},
	/* memory and network buffers */
	{"taskmanager.memory.segment-size", CONFIG_MEMORY, "32kb", NULL, NULL},
	{"taskmanager.memory.process.size", CONFIG_MEMORY, NULL, NULL, NULL},
	{"jobmanager.memory.process.size", CONFIG_MEMORY, NULL, NULL, NULL},
	{"taskmanager.network.memory.buffers-per-channel", CONFIG_POSINT, "2", NULL, NULL},
	{"taskmanager.network.memory.floating-buffers-per-gate", CONFIG_POSINT, "8", NULL, NULL},
	{"taskmanager.network.memory.max-buffers-per-channel", CONFIG_POSINT, "10", NULL, NULL},
	/* checkpointing and state */
	{"execution.checkpointing.interval", CONFIG_DURATION, NULL, NULL, NULL},
	{"execution.checkpointing.mode", CONFIG_ENUM, "EXACTLY_ONCE", "EXACTLY_ONCE|AT_LEAST_ONCE", NULL},
	{"execution.checkpointing.timeout", CONFIG_DURATION, "600000", NULL, NULL},
	{"execution.checkpointing.max-concurrent-checkpoints", CONFIG_POSINT, "1", NULL, NULL},
	{"execution.checkpointing.min-pause", CONFIG_DURATION, "0", NULL, NULL},
	{"execution.checkpointing.tolerable-failed-checkpoints", CONFIG_INT, "0", NULL, NULL},
	{"execution.checkpointing.dir", CONFIG_STRING, NULL, NULL, "state.checkpoints.dir"},
	{"execution.checkpointing.savepoint-dir", CONFIG_STRING, NULL, NULL, "state.savepoints.dir"},
	{"execution.checkpointing.num-retained", CONFIG_POSINT, "1", NULL, "state.checkpoints.num-retained"},
	{"execution.checkpointing.unaligned.enabled", CONFIG_BOOL, "false", NULL, "execution.checkpointing.unaligned"},
	{"execution.checkpointing.incremental", CONFIG_BOOL, "false", NULL, "state.backend.incremental"},
	{"execution.checkpointing.externalized-checkpoint-retention", CONFIG_ENUM,
	 "NO_EXTERNALIZED_CHECKPOINTS",
	 "DELETE_ON_CANCELLATION|RETAIN_ON_CANCELLATION|NO_EXTERNALIZED_CHECKPOINTS", NULL},
	{"state.backend.type", CONFIG_ENUM, "hashmap", "hashmap|rocksdb", "state.backend"},
	/* what a job restores from (spate run -s / -n, JarRunRequestBody.savepointPath) */
	{"execution.state-recovery.path", CONFIG_STRING, NULL, NULL, "execution.savepoint.path"},
	{"execution.state-recovery.ignore-unclaimed-state", CONFIG_BOOL, "false", NULL,
	 "execution.savepoint.ignore-unclaimed-state"},
	/* restarts and failover */
	{"restart-strategy.type", CONFIG_ENUM, NULL,
	 "disable|none|off|fixed-delay|fixeddelay|failure-rate|failurerate|exponential-delay|"
	 "exponentialdelay", "restart-strategy"},
	{"restart-strategy.fixed-delay.attempts", CONFIG_INT, "1", NULL, NULL},
	{"restart-strategy.fixed-delay.delay", CONFIG_DURATION, "1000", NULL, NULL},
	{"restart-strategy.failure-rate.max-failures-per-interval", CONFIG_POSINT, "1", NULL, NULL},
	{"restart-strategy.failure-rate.failure-rate-interval", CONFIG_DURATION, "60000", NULL, NULL},
	{"restart-strategy.failure-rate.delay", CONFIG_DURATION, "1000", NULL, NULL},
	{"restart-strategy.exponential-delay.initial-backoff", CONFIG_DURATION, "1000", NULL, NULL},
	{"restart-strategy.exponential-delay.max-backoff", CONFIG_DURATION, "60000", NULL, NULL},
	/* numbers (doubles) are kept as strings and parsed by the restart strategy */
	{"restart-strategy.exponential-delay.backoff-multiplier", CONFIG_STRING, "1.5", NULL, NULL},
	{"restart-strategy.exponential-delay.reset-backoff-threshold", CONFIG_DURATION, "3600000", NULL, NULL},
	{"restart-strategy.exponential-delay.jitter-factor", CONFIG_STRING, "0.1", NULL, NULL},
	{"restart-strategy.exponential-delay.attempts-before-reset-backoff", CONFIG_INT, "2147483647", NULL, NULL},
	{"jobmanager.execution.failover-strategy", CONFIG_ENUM, "region", "region|full", NULL},
	/* high availability */
	{"high-availability.type", CONFIG_ENUM, "NONE", "NONE|ZOOKEEPER", "high-availability"},
	{"high-availability.storageDir", CONFIG_STRING, NULL, NULL, NULL},
	{"high-availability.cluster-id", CONFIG_STRING, "/default", NULL, NULL},
	{"high-availability.zookeeper.quorum", CONFIG_STRING, NULL, NULL, NULL},
	{"high-availability.zookeeper.path.root", CONFIG_STRING, "/flink", NULL, NULL},
	/* web UI */
	{"web.refresh-interval", CONFIG_DURATION, "3000", NULL, NULL},
	{"web.submit.enable", CONFIG_BOOL, "true", NULL, NULL},
	{"web.cancel.enable", CONFIG_BOOL, "true", NULL, NULL},
	{"web.rescale.enable", CONFIG_BOOL, "true", NULL, NULL},
	{"web.history", CONFIG_POSINT, "5", NULL, NULL},
	{"web.checkpoints.history", CONFIG_POSINT, "10", NULL, NULL},
	{"web.upload.dir", CONFIG_STRING, NULL, NULL, NULL},
	{"rest.auth.token", CONFIG_STRING, NULL, NULL, NULL},
	/* metrics */
	{"metrics.reporter.prom.port", CONFIG_STRING, "9249", NULL, NULL},
	{"metrics.reporter.prom.enabled", CONFIG_BOOL, "true", NULL, NULL},
	{"metrics.fetcher.update-interval", CONFIG_DURATION, "1000", NULL, NULL},
	/* Spate's own */
	{"log.level", CONFIG_ENUM, "info", "debug|info|warn|error|off", NULL},
	{NULL, 0, NULL, NULL, NULL},
};
/* clang-format on */

#define YAML_MAX_DEPTH 64

struct config_entry {
	char *key;   /* owned; the proper name for known keys */
	char *value; /* owned */
};

struct config {
	struct config_entry *entries; /* owned, n used of cap */
	int n, cap;
};

/* ---- the key table -------------------------------------------------------------------- */

/* The known key called `key` by its name or its deprecated name, or NULL. */
static const struct config_key *find_key(const char *key)
{
	for (const struct config_key *k = config_keys; k->key; k++)
		if (strcmp(k->key, key) == 0 ||
		    (k->deprecated_key && strcmp(k->deprecated_key, key) == 0))
			return k;
	return NULL;
}

static const char *canonical_key(const char *key)
{
	const struct config_key *k = find_key(key);
	return k ? k->key : key;
}

/* ---- parsers -------------------------------------------------------------------------- */

static const char *trim_start(const char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	return s;
}

static size_t trimmed_len(const char *s)
{
	size_t n = strlen(s);
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		n--;
	return n;
}

/* A copy of s without surrounding white space. */
static char *trim_dup(const char *s)
{
	s = trim_start(s);
	return xstrndup(s, trimmed_len(s));
}

/* Parses a whole string as a decimal integer (white space around it allowed). */
static int parse_int64(const char *s, int64_t *out)
{
	char *end;
	long long v;
	s = trim_start(s);
	if (!*s)
		return SPATE_EINVAL;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || *trim_start(end))
		return SPATE_EINVAL;
	*out = v;
	return 0;
}

/*
 * Splits "<digits> [unit]" into the number and the unit (lower-cased into `unit`); the
 * number has no sign, as in Flink's TimeUtils and MemorySize parsers.
 */
static int split_number_unit(const char *s, uint64_t *num, char *unit, size_t unit_cap)
{
	uint64_t v = 0;
	size_t n;
	s = trim_start(s);
	if (!isdigit((unsigned char)*s))
		return SPATE_EINVAL;
	while (isdigit((unsigned char)*s)) {
		unsigned d = (unsigned)(*s++ - '0');
		if (v > (UINT64_MAX - d) / 10)
			return SPATE_EINVAL;
		v = v * 10 + d;
	}
	s = trim_start(s);
	n = trimmed_len(s);
	if (n >= unit_cap)
		return SPATE_EINVAL;
	for (size_t i = 0; i < n; i++)
		unit[i] = (char)tolower((unsigned char)s[i]);
	unit[n] = '\0';
	*num = v;
	return 0;
}

/* True if `word` is one of the '|' separated names in `list`. */
static int word_in(const char *word, const char *list)
{
	size_t n = strlen(word);
	const char *p = list;
	for (;;) {
		const char *bar = strchr(p, '|');
		size_t len = bar ? (size_t)(bar - p) : strlen(p);
		if (len == n && strncmp(p, word, n) == 0)
			return 1;
		if (!bar)
			return 0;
		p = bar + 1;
	}
}

int config_parse_duration_ms(const char *s, int64_t *out)
{
	static const struct {
		const char *names;
		uint64_t num, den; /* ms = value * num / den */
	} units[] = {
	    {"ns|nano|nanos|nanosecond|nanoseconds", 1, 1000000},
	    {"us|\xc2\xb5s|micro|micros|microsecond|microseconds", 1, 1000},
	    {"|ms|milli|millis|millisecond|milliseconds", 1, 1},
	    {"s|sec|secs|second|seconds", 1000, 1},
	    {"m|min|mins|minute|minutes", 60000, 1},
	    {"h|hour|hours", 3600000, 1},
	    {"d|day|days", 86400000, 1},
	};
	uint64_t v;
	char unit[32];

	if (!s || split_number_unit(s, &v, unit, sizeof unit) != 0)
		return SPATE_EINVAL;
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
		if (!word_in(unit, units[i].names))
			continue;
		if (v > (uint64_t)INT64_MAX / units[i].num)
			return SPATE_EINVAL;
		*out = (int64_t)(v * units[i].num / units[i].den);
		return 0;
	}
	return SPATE_EINVAL;
}

int config_parse_memory_bytes(const char *s, int64_t *out)
{
	static const struct {
		const char *names;
		int shift;
	} units[] = {
	    {"|b|bytes", 0},        {"k|kb|kibibytes", 10}, {"m|mb|mebibytes", 20},
	    {"g|gb|gibibytes", 30}, {"t|tb|tebibytes", 40},
	};
	uint64_t v;
	char unit[32];

	if (!s || split_number_unit(s, &v, unit, sizeof unit) != 0)
		return SPATE_EINVAL;
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
		if (!word_in(unit, units[i].names))
			continue;
		if (v > ((uint64_t)INT64_MAX >> units[i].shift))
			return SPATE_EINVAL;
		*out = (int64_t)(v << units[i].shift);
		return 0;
	}
	return SPATE_EINVAL;
}

int config_parse_bool(const char *s, bool *out)
{
	size_t n;
	if (!s)
		return SPATE_EINVAL;
	s = trim_start(s);
	n = trimmed_len(s);
	if (n == 4 && strncasecmp(s, "true", 4) == 0)
		*out = true;
	else if (n == 5 && strncasecmp(s, "false", 5) == 0)
		*out = false;
	else
		return SPATE_EINVAL;
	return 0;
}

/* The enum name in `list` that equals `s` ignoring case, copied into a new string. */
static char *enum_match(const char *s, const char *list)
{
	size_t n;
	const char *p = list;
	s = trim_start(s);
	n = trimmed_len(s);
	for (;;) {
		const char *bar = strchr(p, '|');
		size_t len = bar ? (size_t)(bar - p) : strlen(p);
		if (len == n && strncasecmp(p, s, n) == 0)
			return xstrndup(p, len);
		if (!bar)
			return NULL;
		p = bar + 1;
	}
}

/*
 * Checks `value` against key k's type. Returns 0 and the value to store (new string), or
 * SPATE_ECONFIG with a message saying what was expected.
 */
static int validate(const struct config_key *k, const char *value, char **stored,
                    struct spate_error *err)
{
	int64_t i;
	bool b;
	const char *expected = NULL;
	char *v = NULL;

	switch (k->type) {
	case CONFIG_STRING:
		*stored = xstrdup(value);
		return 0;
	case CONFIG_INT:
		if (parse_int64(value, &i) || i < INT32_MIN || i > INT32_MAX)
			expected = "an integer";
		break;
	case CONFIG_POSINT:
		if (parse_int64(value, &i) || i < 1 || i > INT32_MAX)
			expected = "a positive integer";
		break;
	case CONFIG_PORT:
		if (parse_int64(value, &i) || i < 0 || i > 65535)
			expected = "a port number between 0 and 65535";
		break;
	case CONFIG_BOOL:
		if (config_parse_bool(value, &b))
			expected = "true or false";
		break;
	case CONFIG_DURATION:
		if (config_parse_duration_ms(value, &i))
			expected = "a duration such as '100 ms', '10 s' or '5 min'";
		break;
	case CONFIG_MEMORY:
		if (config_parse_memory_bytes(value, &i))
			expected = "a memory size such as '32kb', '64m' or '1g'";
		break;
	case CONFIG_ENUM:
		v = enum_match(value, k->enum_values);
		if (!v) {
			/* "a|b|c" reads better as "a, b, c" */
			char list[512];
			size_t n = 0;
			for (const char *p = k->enum_values; *p && n + 3 < sizeof list; p++) {
				if (*p == '|') {
					list[n++] = ',';
					list[n++] = ' ';
				} else {
					list[n++] = *p;
				}
			}
			list[n] = '\0';
			return error_set(err, SPATE_ECONFIG,
			                 "bad value '%s' for '%s': expected one of %s", value,
			                 k->key, list);
		}
		break;
	}
	if (expected)
		return error_set(err, SPATE_ECONFIG, "bad value '%s' for '%s': expected %s", value,
		                 k->key, expected);
	*stored = v ? v : trim_dup(value);
	return 0;
}

/* ---- the store ------------------------------------------------------------------------ */

static struct config_entry *find_entry(const struct config *c, const char *key)
{
	for (int i = 0; i < c->n; i++)
		if (strcmp(c->entries[i].key, key) == 0)
			return &c->entries[i];
	return NULL;
}

/* Stores `value` (taking ownership) under the canonical `key`. */
static void put(struct config *c, const char *key, char *value)
{
	struct config_entry *e = find_entry(c, key);
	if (e) {
		xfree(e->value);
		e->value = value;
		return;
	}
	if (c->n == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 16;
		c->entries = xrealloc(c->entries, (size_t)c->cap * sizeof *c->entries);
	}
	c->entries[c->n].key = xstrdup(key);
	c->entries[c->n].value = value;
	c->n++;
}

struct config *config_new(void)
{
	return xcalloc(1, sizeof(struct config));
}

void config_free(struct config *c)
{
	if (!c)
		return;
	for (int i = 0; i < c->n; i++) {
		xfree(c->entries[i].key);
		xfree(c->entries[i].value);
	}
	xfree(c->entries);
	xfree(c);
}

struct config *config_clone(const struct config *c)
{
	struct config *d = config_new();
	for (int i = 0; i < c->n; i++)
		put(d, c->entries[i].key, xstrdup(c->entries[i].value));
	return d;
}

static void warn_deprecated(const struct config_key *k, const char *key)
{
	/* Flink's wording, which users grep for. */
	if (strcmp(k->key, key) != 0)
		log_warn("Config uses deprecated configuration key '%s' instead of proper key '%s'",
		         key, k->key);
}

int config_set(struct config *c, const char *key, const char *value, struct spate_error *err)
{
	const struct config_key *k = find_key(key);
	char *stored;

	if (!value)
		return error_set(err, SPATE_ECONFIG, "no value for '%s'", key);
	if (!k) {
		log_warn("unknown configuration key '%s'", key);
		put(c, key, xstrdup(value));
		return 0;
	}
	if (validate(k, value, &stored, err))
		return SPATE_ECONFIG;
	warn_deprecated(k, key);
	put(c, k->key, stored);
	return 0;
}

int config_set_override(struct config *c, const char *assignment, struct spate_error *err)
{
	const char *eq = strchr(assignment, '=');
	char *key;
	int rc;

	if (!eq)
		return error_set(err, SPATE_ECONFIG, "bad override '%s': expected key=value",
		                 assignment);
	{
		char *raw = xstrndup(assignment, (size_t)(eq - assignment));
		key = trim_dup(raw);
		xfree(raw);
	}
	if (!*key) {
		rc = error_set(err, SPATE_ECONFIG, "bad override '%s': empty key", assignment);
	} else if (!find_key(key)) {
		rc = error_set(err, SPATE_ECONFIG, "unknown configuration key '%s'", key);
	} else {
		rc = config_set(c, key, eq + 1, err);
	}
	xfree(key);
	return rc;
}

const char *config_get(const struct config *c, const char *key)
{
	const struct config_key *k = find_key(key);
	const struct config_entry *e = find_entry(c, k ? k->key : key);
	if (e)
		return e->value;
	return k ? k->default_value : NULL;
}

bool config_is_set(const struct config *c, const char *key)
{
	return find_entry(c, canonical_key(key)) != NULL;
}

int64_t config_get_int(const struct config *c, const char *key, int64_t fallback)
{
	const char *v = config_get(c, key);
	int64_t i;
	return v && parse_int64(v, &i) == 0 ? i : fallback;
}

bool config_get_bool(const struct config *c, const char *key, bool fallback)
{
	const char *v = config_get(c, key);
	bool b;
	return v && config_parse_bool(v, &b) == 0 ? b : fallback;
}

int64_t config_get_duration_ms(const struct config *c, const char *key, int64_t fallback)
{
	const char *v = config_get(c, key);
	int64_t ms;
	return v && config_parse_duration_ms(v, &ms) == 0 ? ms : fallback;
}

int64_t config_get_memory_bytes(const struct config *c, const char *key, int64_t fallback)
{
	const char *v = config_get(c, key);
	int64_t n;
	return v && config_parse_memory_bytes(v, &n) == 0 ? n : fallback;
}

static int cmp_entry_key(const void *a, const void *b)
{
	return strcmp(((const struct config_entry *)a)->key, ((const struct config_entry *)b)->key);
}

void config_foreach(const struct config *c,
                    void (*fn)(void *arg, const char *key, const char *value), void *arg)
{
	size_t nkeys = 0, n = 0;
	struct config_entry *all;

	for (const struct config_key *k = config_keys; k->key; k++)
		nkeys++;
	all = xmalloc((nkeys + (size_t)c->n + 1) * sizeof *all);
	for (int i = 0; i < c->n; i++)
		all[n++] = c->entries[i];
	for (const struct config_key *k = config_keys; k->key; k++)
		if (k->default_value && !find_entry(c, k->key))
			all[n++] = (struct config_entry){(char *)k->key, (char *)k->default_value};
	qsort(all, n, sizeof *all, cmp_entry_key);
	for (size_t i = 0; i < n; i++)
		fn(arg, all[i].key, all[i].value);
	xfree(all);
}

/* ---- YAML ----------------------------------------------------------------------------- */

/* A key/value pair read from the file, with its line for messages. */
struct pair {
	char *key;
	char *value;
	int line;
};

struct pairs {
	struct pair *v;
	size_t n, cap;
};

static void pairs_add(struct pairs *ps, char *key, char *value, int line)
{
	if (ps->n == ps->cap) {
		ps->cap = ps->cap ? 2 * ps->cap : 16;
		ps->v = xrealloc(ps->v, ps->cap * sizeof *ps->v);
	}
	ps->v[ps->n++] = (struct pair){key, value, line};
}

static void pairs_release(struct pairs *ps)
{
	for (size_t i = 0; i < ps->n; i++) {
		xfree(ps->v[i].key);
		xfree(ps->v[i].value);
	}
	xfree(ps->v);
}

/* One open mapping: the dotted prefix of its keys, and the key awaiting its value. */
struct frame {
	char *prefix; /* owned; "" at the top */
	char *key;    /* owned; NULL while a key is expected */
	int key_line;
};

static int is_null_scalar(const yaml_event_t *ev)
{
	const char *v = (const char *)ev->data.scalar.value;
	if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return 0;
	return !*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") ||
	       !strcmp(v, "NULL");
}

static char *join_key(const char *prefix, const char *key)
{
	return *prefix ? xasprintf("%s.%s", prefix, key) : xstrdup(key);
}

static int line_of(const yaml_event_t *ev)
{
	return (int)ev->start_mark.line + 1;
}

/* The 1-based line of a libyaml error; reader errors only give a byte offset. */
static int parser_error_line(const yaml_parser_t *p, const char *yaml, size_t len)
{
	if (p->error == YAML_READER_ERROR) {
		int line = 1;
		for (size_t i = 0; i < p->problem_offset && i < len; i++)
			line += yaml[i] == '\n';
		return line;
	}
	return (int)p->problem_mark.line + 1;
}

/*
 * Reads a YAML sequence (after its SEQUENCE_START) of scalars into one string joined with
 * ';', Flink's separator for list values in flat form. Returns 0 or an error message.
 */
static const char *read_sequence(yaml_parser_t *parser, char **out, int *line)
{
	size_t n = 0, cap = 64;
	char *s = xmalloc(cap);
	yaml_event_t ev;

	s[0] = '\0';
	for (;;) {
		if (!yaml_parser_parse(parser, &ev)) {
			xfree(s);
			return NULL; /* the caller reports the parser's error */
		}
		if (ev.type == YAML_SEQUENCE_END_EVENT) {
			yaml_event_delete(&ev);
			*out = s;
			return "";
		}
		if (ev.type != YAML_SCALAR_EVENT) {
			*line = line_of(&ev);
			yaml_event_delete(&ev);
			xfree(s);
			return "a list may only hold plain values";
		}
		size_t len = ev.data.scalar.length;
		if (n + len + 2 > cap) {
			while (n + len + 2 > cap)
				cap *= 2;
			s = xrealloc(s, cap);
		}
		if (n)
			s[n++] = ';';
		memcpy(s + n, ev.data.scalar.value, len);
		n += len;
		s[n] = '\0';
		yaml_event_delete(&ev);
	}
}

/*
 * Turns the YAML text into flat (dotted key, value) pairs. Returns 0 or SPATE_ECONFIG with
 * err filled.
 */
static int parse_yaml(const char *yaml, size_t len, const char *name, struct pairs *out,
                      struct spate_error *err)
{
	yaml_parser_t parser;
	yaml_event_t ev;
	struct frame stack[YAML_MAX_DEPTH];
	int depth = 0, docs = 0, rc = 0, done = 0;

	if (!yaml_parser_initialize(&parser))
		return error_set(err, SPATE_ECONFIG,
		                 "cannot parse '%s': cannot start the YAML parser", name);
	yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, len);
	while (!done) {
		int line;
		const char *problem = NULL;

		if (!yaml_parser_parse(&parser, &ev)) {
			rc = error_set(err, SPATE_ECONFIG, "cannot parse '%s' line %d: %s", name,
			               parser_error_line(&parser, yaml, len),
			               parser.problem ? parser.problem : "bad YAML");
			break;
		}
		line = line_of(&ev);
		struct frame *top = depth ? &stack[depth - 1] : NULL;
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = 1;
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (++docs > 1)
				problem = "only one YAML document is allowed";
			break;
		case YAML_MAPPING_START_EVENT:
			if (!top) {
				stack[depth++] = (struct frame){xstrdup(""), NULL, 0};
			} else if (!top->key) {
				problem = "a key must be a plain value, not a map";
			} else if (depth == YAML_MAX_DEPTH) {
				problem = "maps are nested too deeply";
			} else {
				stack[depth++] =
				    (struct frame){join_key(top->prefix, top->key), NULL, 0};
				xfree(top->key);
				top->key = NULL;
			}
			break;
		case YAML_MAPPING_END_EVENT:
			depth--;
			xfree(stack[depth].prefix);
			xfree(stack[depth].key);
			break;
		case YAML_SCALAR_EVENT:
			if (!top) {
				if (!is_null_scalar(&ev))
					problem = "expected keys with values, not a single value";
			} else if (!top->key) {
				if (ev.data.scalar.length == 0 ||
				    strlen((const char *)ev.data.scalar.value) !=
				        ev.data.scalar.length)
					problem = "a key must not be empty or hold NUL characters";
				else {
					top->key = xstrdup((const char *)ev.data.scalar.value);
					top->key_line = line;
				}
			} else {
				/* A null value ("key:" or "key: ~") leaves the key unset. */
				if (!is_null_scalar(&ev))
					pairs_add(out, join_key(top->prefix, top->key),
					          xstrndup((const char *)ev.data.scalar.value,
					                   ev.data.scalar.length),
					          top->key_line);
				xfree(top->key);
				top->key = NULL;
			}
			break;
		case YAML_SEQUENCE_START_EVENT:
			if (!top || !top->key) {
				problem = top ? "a key must be a plain value, not a list"
				              : "expected keys with values, not a list";
			} else {
				char *joined = NULL;
				problem = read_sequence(&parser, &joined, &line);
				if (!problem) {
					yaml_event_delete(&ev);
					rc = error_set(
					    err, SPATE_ECONFIG, "cannot parse '%s' line %d: %s",
					    name, parser_error_line(&parser, yaml, len),
					    parser.problem ? parser.problem : "bad YAML");
					goto out;
				}
				if (!*problem) {
					problem = NULL;
					pairs_add(out, join_key(top->prefix, top->key), joined,
					          top->key_line);
					xfree(top->key);
					top->key = NULL;
				}
			}
			break;
		case YAML_ALIAS_EVENT:
			problem = "aliases are not supported";
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
		if (problem) {
			rc = error_set(err, SPATE_ECONFIG, "cannot parse '%s' line %d: %s", name,
			               line, problem);
			break;
		}
	}
out:
	while (depth > 0) {
		depth--;
		xfree(stack[depth].prefix);
		xfree(stack[depth].key);
	}
	yaml_parser_delete(&parser);
	return rc;
}

int config_load_string(struct config *c, const char *yaml, size_t len, const char *name,
                       struct spate_error *err)
{
	struct pairs ps = {0};
	char **stored = NULL;
	int rc;

	if (!name)
		name = "<string>";
	rc = parse_yaml(yaml, len, name, &ps, err);
	if (rc)
		goto out;
	stored = xcalloc(ps.n + 1, sizeof *stored);
	for (size_t i = 0; i < ps.n; i++) {
		const struct config_key *k = find_key(ps.v[i].key);
		struct spate_error verr = {0};
		if (!k) {
			stored[i] = xstrdup(ps.v[i].value);
			continue;
		}
		if (validate(k, ps.v[i].value, &stored[i], &verr)) {
			rc = error_set(err, SPATE_ECONFIG, "cannot parse '%s' line %d: %s", name,
			               ps.v[i].line, verr.msg);
			goto out;
		}
	}
	/* Apply deprecated names first so that a proper name in the same file wins, as in
	 * Flink, whatever the order of the lines. */
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < ps.n; i++) {
			const struct config_key *k = find_key(ps.v[i].key);
			int deprecated = k && strcmp(k->key, ps.v[i].key) != 0;
			if (deprecated != (pass == 0))
				continue;
			if (!k)
				log_warn("unknown configuration key '%s' in '%s'", ps.v[i].key,
				         name);
			else
				warn_deprecated(k, ps.v[i].key);
			put(c, k ? k->key : ps.v[i].key, stored[i]);
			stored[i] = NULL;
		}
	}
out:
	if (stored)
		for (size_t i = 0; i < ps.n; i++)
			xfree(stored[i]);
	xfree(stored);
	pairs_release(&ps);
	return rc;
}

int config_load_file(struct config *c, const char *path, struct spate_error *err)
{
	FILE *f = fopen(path, "rb");
	char *text = NULL;
	size_t len = 0, cap = 0, got;
	int rc;

	if (!f) {
		if (errno == ENOENT)
			return SPATE_ENOENT;
		return error_set(err, SPATE_ECONFIG, "cannot open '%s': %s", path, strerror(errno));
	}
	do {
		if (cap - len < 4096) {
			cap = cap ? 2 * cap : 8192;
			text = xrealloc(text, cap);
		}
		got = fread(text + len, 1, cap - len, f);
		len += got;
	} while (got > 0);
	if (ferror(f)) {
		rc = error_set(err, SPATE_ECONFIG, "cannot read '%s': %s", path, strerror(errno));
		goto out;
	}
	rc = config_load_string(c, text, len, path, err);
out:
	fclose(f);
	xfree(text);
	return rc;
}

/* ---- the configuration directory ------------------------------------------------------ */

char *config_find_dir(void)
{
	const char *env = getenv("SPATE_CONF_DIR");
	char exe[PATH_MAX];
	ssize_t n;
	char *slash;

	if (env && *env)
		return xstrdup(env);
	n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n <= 0)
		return NULL;
	exe[n] = '\0';
	/* <prefix>/bin/spate -> <prefix>/conf: drop the file name and its directory. */
	for (int up = 0; up < 2; up++) {
		slash = strrchr(exe, '/');
		if (!slash)
			return NULL;
		*slash = '\0';
	}
	return xasprintf("%s/conf", exe);
}
