/*
 * test_config.c - configuration keys, YAML loading, -D overrides and value parsers.
 *
 * Oracles: Flink's key names, types and defaults as listed in flink-facts.md §4 (copied
 * into this file as a table of its own, not read from config_keys[]), unit arithmetic
 * done by hand, and line numbers counted in the YAML texts below.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/config.h"
#include "core/log.h"

static struct config *load(const char *yaml)
{
	struct config *c = config_new();
	struct spate_error err = {0};
	int rc = config_load_string(c, yaml, strlen(yaml), "test.yaml", &err);
	if (rc)
		fail_msg("config_load_string: %d %s", rc, err.msg);
	return c;
}

/* Loads yaml that must fail; returns the message (static). */
static const char *load_error(const char *yaml)
{
	static struct spate_error err;
	struct config *c = config_new();
	error_clear(&err);
	assert_int_equal(config_load_string(c, yaml, strlen(yaml), "conf/config.yaml", &err),
	                 SPATE_ECONFIG);
	assert_int_equal(err.code, SPATE_ECONFIG);
	/* all or nothing: nothing of a bad file is applied */
	assert_false(config_is_set(c, "parallelism.default"));
	assert_false(config_is_set(c, "rest.port"));
	config_free(c);
	return err.msg;
}

/* ---- the key table -------------------------------------------------------------------- */

static const struct {
	const char *key;
	enum config_type type;
	const char *def;
	const char *deprecated;
} expected_keys[] = {
    {"parallelism.default", CONFIG_POSINT, "1", NULL},
    {"pipeline.max-parallelism", CONFIG_INT, "-1", NULL},
    {"pipeline.operator-chaining.enabled", CONFIG_BOOL, "true", "pipeline.operator-chaining"},
    {"taskmanager.numberOfTaskSlots", CONFIG_POSINT, "1", NULL},
    {"jobmanager.rpc.address", CONFIG_STRING, NULL, NULL},
    {"jobmanager.rpc.port", CONFIG_PORT, "6123", NULL},
    {"jobmanager.bind-host", CONFIG_STRING, NULL, NULL},
    {"taskmanager.bind-host", CONFIG_STRING, NULL, NULL},
    {"taskmanager.host", CONFIG_STRING, NULL, NULL},
    {"taskmanager.rpc.port", CONFIG_STRING, "0", NULL},
    {"taskmanager.data.port", CONFIG_PORT, "0", NULL},
    {"blob.server.port", CONFIG_STRING, "0", NULL},
    {"rest.port", CONFIG_PORT, "8081", "web.port"},
    {"rest.bind-port", CONFIG_STRING, NULL, NULL},
    {"rest.address", CONFIG_STRING, NULL, NULL},
    {"rest.bind-address", CONFIG_STRING, NULL, NULL},
    {"heartbeat.interval", CONFIG_DURATION, "10000", NULL},
    {"heartbeat.timeout", CONFIG_DURATION, "50000", NULL},
    {"slot.request.timeout", CONFIG_DURATION, "300000", NULL},
    {"execution.buffer-timeout.interval", CONFIG_DURATION, "100", "execution.buffer-timeout"},
    {"execution.buffer-timeout.enabled", CONFIG_BOOL, "true", NULL},
    {"taskmanager.memory.segment-size", CONFIG_MEMORY, "32kb", NULL},
    {"taskmanager.memory.process.size", CONFIG_MEMORY, NULL, NULL},
    {"jobmanager.memory.process.size", CONFIG_MEMORY, NULL, NULL},
    {"taskmanager.network.memory.buffers-per-channel", CONFIG_POSINT, "2", NULL},
    {"taskmanager.network.memory.floating-buffers-per-gate", CONFIG_POSINT, "8", NULL},
    {"taskmanager.network.memory.max-buffers-per-channel", CONFIG_POSINT, "10", NULL},
    {"execution.checkpointing.interval", CONFIG_DURATION, NULL, NULL},
    {"execution.checkpointing.mode", CONFIG_ENUM, "EXACTLY_ONCE", NULL},
    {"execution.checkpointing.timeout", CONFIG_DURATION, "600000", NULL},
    {"execution.checkpointing.dir", CONFIG_STRING, NULL, "state.checkpoints.dir"},
    {"execution.checkpointing.savepoint-dir", CONFIG_STRING, NULL, "state.savepoints.dir"},
    {"execution.checkpointing.num-retained", CONFIG_POSINT, "1", NULL},
    {"state.backend.type", CONFIG_ENUM, "hashmap", "state.backend"},
    {"restart-strategy.type", CONFIG_ENUM, NULL, NULL},
    {"restart-strategy.fixed-delay.attempts", CONFIG_INT, "1", NULL},
    {"restart-strategy.fixed-delay.delay", CONFIG_DURATION, "1000", NULL},
    {"jobmanager.execution.failover-strategy", CONFIG_ENUM, "region", NULL},
    {"high-availability.type", CONFIG_ENUM, "NONE", NULL},
    {"high-availability.zookeeper.quorum", CONFIG_STRING, NULL, NULL},
    {"web.refresh-interval", CONFIG_DURATION, "3000", NULL},
    {"web.submit.enable", CONFIG_BOOL, "true", NULL},
    {"web.cancel.enable", CONFIG_BOOL, "true", NULL},
    {"log.level", CONFIG_ENUM, "info", NULL},
};

static void test_key_table(void **state)
{
	for (size_t i = 0; i < sizeof expected_keys / sizeof expected_keys[0]; i++) {
		const struct config_key *k = config_keys;
		while (k->key && strcmp(k->key, expected_keys[i].key) != 0)
			k++;
		if (!k->key)
			fail_msg("key '%s' is missing from config_keys", expected_keys[i].key);
		assert_int_equal(k->type, expected_keys[i].type);
		if (expected_keys[i].def)
			assert_string_equal(k->default_value, expected_keys[i].def);
		else
			assert_null(k->default_value);
		if (expected_keys[i].deprecated)
			assert_string_equal(k->deprecated_key, expected_keys[i].deprecated);
		if (k->type == CONFIG_ENUM)
			assert_non_null(k->enum_values);
	}
	/* keys are unique, and no deprecated name shadows a key */
	for (const struct config_key *a = config_keys; a->key; a++)
		for (const struct config_key *b = a + 1; b->key; b++) {
			assert_string_not_equal(a->key, b->key);
			if (a->deprecated_key)
				assert_string_not_equal(a->deprecated_key, b->key);
			if (b->deprecated_key)
				assert_string_not_equal(b->deprecated_key, a->key);
		}
}

static void test_defaults(void **state)
{
	struct config *c = config_new();
	assert_string_equal(config_get(c, "parallelism.default"), "1");
	assert_int_equal(config_get_int(c, "parallelism.default", 99), 1);
	assert_int_equal(config_get_int(c, "pipeline.max-parallelism", 99), -1);
	assert_int_equal(config_get_int(c, "rest.port", 0), 8081);
	assert_int_equal(config_get_int(c, "jobmanager.rpc.port", 0), 6123);
	assert_int_equal(config_get_duration_ms(c, "heartbeat.interval", 0), 10000);
	assert_int_equal(config_get_duration_ms(c, "heartbeat.timeout", 0), 50000);
	assert_int_equal(config_get_duration_ms(c, "slot.request.timeout", 0), 5 * 60 * 1000);
	assert_int_equal(config_get_duration_ms(c, "execution.checkpointing.timeout", 0),
	                 10 * 60 * 1000);
	assert_int_equal(config_get_memory_bytes(c, "taskmanager.memory.segment-size", 0), 32768);
	assert_true(config_get_bool(c, "pipeline.operator-chaining.enabled", false));
	assert_string_equal(config_get(c, "state.backend.type"), "hashmap");
	assert_string_equal(config_get(c, "execution.checkpointing.mode"), "EXACTLY_ONCE");
	/* no default: NULL, and getters give the fallback */
	assert_null(config_get(c, "execution.checkpointing.interval"));
	assert_int_equal(config_get_duration_ms(c, "execution.checkpointing.interval", -7), -7);
	assert_null(config_get(c, "jobmanager.rpc.address"));
	assert_null(config_get(c, "no.such.key"));
	assert_int_equal(config_get_int(c, "no.such.key", 5), 5);
	assert_false(config_get_bool(c, "no.such.key", false));
	assert_int_equal(config_get_memory_bytes(c, "no.such.key", 3), 3);
	assert_false(config_is_set(c, "parallelism.default"));
	/* deprecated names read the new key */
	assert_string_equal(config_get(c, "web.port"), "8081");
	config_free(c);
	config_free(NULL);
}

/* ---- YAML ----------------------------------------------------------------------------- */

struct dump {
	char text[8192];
	size_t n;
	const char *prev;
	int sorted;
};

static void dump_fn(void *arg, const char *key, const char *value)
{
	struct dump *d = arg;
	if (d->prev && strcmp(d->prev, key) >= 0)
		d->sorted = 0;
	d->prev = key;
	d->n += (size_t)snprintf(d->text + d->n, sizeof d->text - d->n, "%s=%s\n", key, value);
}

static void dump(const struct config *c, struct dump *d)
{
	memset(d, 0, sizeof *d);
	d->sorted = 1;
	config_foreach(c, dump_fn, d);
	assert_true(d->sorted);
	assert_true(d->n < sizeof d->text);
}

static void test_nested_flat_mixed(void **state)
{
	const char *nested = "jobmanager:\n"
	                     "  rpc:\n"
	                     "    address: jm.example\n"
	                     "    port: 7000\n"
	                     "parallelism:\n"
	                     "  default: 4\n"
	                     "execution:\n"
	                     "  checkpointing:\n"
	                     "    interval: 10 s\n"
	                     "    mode: AT_LEAST_ONCE\n";
	const char *flat = "jobmanager.rpc.address: jm.example\n"
	                   "jobmanager.rpc.port: 7000\n"
	                   "parallelism.default: 4\n"
	                   "execution.checkpointing.interval: 10 s\n"
	                   "execution.checkpointing.mode: AT_LEAST_ONCE\n";
	const char *mixed = "jobmanager:\n"
	                    "  rpc.address: jm.example\n"
	                    "  rpc: {port: 7000}\n"
	                    "parallelism.default: 4\n"
	                    "execution.checkpointing:\n"
	                    "  interval: 10 s\n"
	                    "  mode: AT_LEAST_ONCE\n";
	struct config *a = load(nested), *b = load(flat), *c = load(mixed);
	struct dump da, db, dc;

	assert_string_equal(config_get(a, "jobmanager.rpc.address"), "jm.example");
	assert_int_equal(config_get_int(a, "jobmanager.rpc.port", 0), 7000);
	assert_int_equal(config_get_int(a, "parallelism.default", 0), 4);
	assert_int_equal(config_get_duration_ms(a, "execution.checkpointing.interval", 0), 10000);
	assert_string_equal(config_get(a, "execution.checkpointing.mode"), "AT_LEAST_ONCE");
	assert_true(config_is_set(a, "parallelism.default"));
	dump(a, &da);
	dump(b, &db);
	dump(c, &dc);
	assert_string_equal(da.text, db.text);
	assert_string_equal(da.text, dc.text);
	config_free(a);
	config_free(b);
	config_free(c);
}

static void test_empty_and_null(void **state)
{
	struct config *c;
	const char *empties[] = {"", "\n\n", "# only a comment\n", "---\n", "---\n...\n", "~\n"};
	for (size_t i = 0; i < sizeof empties / sizeof empties[0]; i++) {
		struct dump d0, d1;
		struct config *fresh = config_new();
		c = load(empties[i]);
		dump(fresh, &d0);
		dump(c, &d1);
		assert_string_equal(d0.text, d1.text);
		config_free(c);
		config_free(fresh);
	}
	/* A key without a value, or with ~, stays unset; a quoted empty string is a value. */
	c = load("rest.address:\njobmanager.rpc.address: ~\ntaskmanager.host: ''\n");
	assert_false(config_is_set(c, "rest.address"));
	assert_false(config_is_set(c, "jobmanager.rpc.address"));
	assert_string_equal(config_get(c, "taskmanager.host"), "");
	config_free(c);
}

static void test_deprecated_keys(void **state)
{
	struct config *c = load("web.port: 9000\nstate.backend: RocksDB\n"
	                        "execution:\n  buffer-timeout: 5 ms\n"
	                        "pipeline.operator-chaining: false\n");
	assert_int_equal(config_get_int(c, "rest.port", 0), 9000);
	assert_string_equal(config_get(c, "web.port"), "9000");
	assert_true(config_is_set(c, "rest.port"));
	assert_true(config_is_set(c, "web.port"));
	assert_string_equal(config_get(c, "state.backend.type"), "rocksdb"); /* canonical case */
	assert_int_equal(config_get_duration_ms(c, "execution.buffer-timeout.interval", 0), 5);
	assert_false(config_get_bool(c, "pipeline.operator-chaining.enabled", true));
	struct dump d;
	dump(c, &d);
	assert_null(strstr(d.text, "web.port")); /* stored under the proper name */
	assert_non_null(strstr(d.text, "rest.port=9000\n"));
	config_free(c);

	/* The proper key wins over the deprecated one wherever it is in the file. */
	c = load("rest.port: 1111\nweb.port: 2222\n");
	assert_int_equal(config_get_int(c, "rest.port", 0), 1111);
	config_free(c);
	c = load("web.port: 2222\nrest.port: 1111\n");
	assert_int_equal(config_get_int(c, "rest.port", 0), 1111);
	config_free(c);
}

static void test_sequences(void **state)
{
	struct config *c = load("my.list: [a, b, c]\nother:\n  - x\n  - 'y z'\n");
	assert_string_equal(config_get(c, "my.list"), "a;b;c");
	assert_string_equal(config_get(c, "other"), "x;y z");
	config_free(c);
	assert_string_equal(load_error("parallelism.default: [1, 2]\n"),
	                    "cannot parse 'conf/config.yaml' line 1: bad value '1;2' for "
	                    "'parallelism.default': expected a positive integer");
	assert_string_equal(load_error("a:\n  b: [x, {y: 1}]\n"),
	                    "cannot parse 'conf/config.yaml' line 2: a list may only hold plain "
	                    "values");
}

static void test_yaml_errors(void **state)
{
	assert_string_equal(
	    load_error("rest.port: 1\nparallelism.default: 2\nbad: x: y\n"),
	    "cannot parse 'conf/config.yaml' line 3: mapping values are not allowed "
	    "in this context");
	assert_string_equal(load_error("parallelism:\n  default: 2\n rest.port: 1\n"),
	                    "cannot parse 'conf/config.yaml' line 3: did not find expected key");
	assert_non_null(strstr(load_error("a: 'unterminated\n"), "'conf/config.yaml' line "));
	assert_string_equal(
	    load_error("just a scalar\n"),
	    "cannot parse 'conf/config.yaml' line 1: expected keys with values, not "
	    "a single value");
	assert_string_equal(
	    load_error("- a\n- b\n"),
	    "cannot parse 'conf/config.yaml' line 1: expected keys with values, not "
	    "a list");
	assert_string_equal(load_error("a: &x 1\nb: *x\n"),
	                    "cannot parse 'conf/config.yaml' line 2: aliases are not supported");
	assert_string_equal(load_error("a: 1\n---\nb: 2\n"),
	                    "cannot parse 'conf/config.yaml' line 2: only one YAML document is "
	                    "allowed");
	assert_string_equal(load_error("? {a: 1}\n: 2\n"),
	                    "cannot parse 'conf/config.yaml' line 1: a key must be a plain value, "
	                    "not a map");
	/* invalid UTF-8 on line 2 */
	assert_string_equal(load_error("a: 1\nb: \xff\n"),
	                    "cannot parse 'conf/config.yaml' line 2: invalid leading UTF-8 octet");
	/* deep nesting is refused, not a stack overflow */
	char deep[4096] = "";
	size_t n = 0;
	for (int i = 0; i < 100; i++)
		n += (size_t)snprintf(deep + n, sizeof deep - n, "{k%d: ", i);
	n += (size_t)snprintf(deep + n, sizeof deep - n, "1");
	for (int i = 0; i < 100; i++)
		deep[n++] = '}';
	deep[n] = '\0';
	assert_non_null(strstr(load_error(deep), "nested too deeply"));
}

static void test_bad_values(void **state)
{
	assert_string_equal(load_error("rest.port: 8081\nparallelism:\n  default: abc\n"),
	                    "cannot parse 'conf/config.yaml' line 3: bad value 'abc' for "
	                    "'parallelism.default': expected a positive integer");
	assert_string_equal(load_error("parallelism.default: 0\n"),
	                    "cannot parse 'conf/config.yaml' line 1: bad value '0' for "
	                    "'parallelism.default': expected a positive integer");
	assert_non_null(strstr(load_error("rest.port: 70000\n"),
	                       "bad value '70000' for 'rest.port': expected a port number"));
	assert_non_null(strstr(load_error("web.port: -1\n"),
	                       "bad value '-1' for 'rest.port': expected a port number"));
	assert_non_null(strstr(load_error("heartbeat.interval: 10 parsecs\n"),
	                       "bad value '10 parsecs' for 'heartbeat.interval': expected a "
	                       "duration"));
	assert_non_null(strstr(load_error("taskmanager.memory.segment-size: lots\n"),
	                       "bad value 'lots' for 'taskmanager.memory.segment-size': expected a "
	                       "memory size"));
	assert_non_null(strstr(load_error("web.submit.enable: yes\n"),
	                       "bad value 'yes' for 'web.submit.enable': expected true or false"));
	assert_string_equal(load_error("execution.checkpointing.mode: exactly-once\n"),
	                    "cannot parse 'conf/config.yaml' line 1: bad value 'exactly-once' for "
	                    "'execution.checkpointing.mode': expected one of EXACTLY_ONCE, "
	                    "AT_LEAST_ONCE");
	assert_non_null(
	    strstr(load_error("pipeline.max-parallelism: 1.5\n"), "expected an integer"));
	assert_non_null(
	    strstr(load_error("pipeline.max-parallelism: 99999999999\n"), "expected an integer"));
}

static void test_unknown_file_key_warns(void **state)
{
	char path[] = "/tmp/spate-test-config-log-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(log_set_file(path), 0);

	struct config *c = load("foo.bar: 1\nparallelism.default: 3\nstate.backend: rocksdb\n");
	assert_string_equal(config_get(c, "foo.bar"), "1");
	assert_true(config_is_set(c, "foo.bar"));
	assert_int_equal(config_get_int(c, "foo.bar", 0), 1);
	assert_int_equal(config_get_int(c, "parallelism.default", 0), 3);
	config_free(c);

	char text[4096] = "";
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	size_t n = fread(text, 1, sizeof text - 1, f);
	text[n] = '\0';
	fclose(f);
	unlink(path);
	assert_non_null(strstr(text, "unknown configuration key 'foo.bar' in 'test.yaml'"));
	assert_non_null(strstr(text, "Config uses deprecated configuration key 'state.backend' "
	                             "instead of proper key 'state.backend.type'"));
	assert_null(strstr(text, "parallelism.default"));
}

/* ---- overrides and set ---------------------------------------------------------------- */

static void test_overrides(void **state)
{
	struct config *c = load("parallelism.default: 2\nrest.port: 8082\n");
	struct spate_error err = {0};

	assert_int_equal(config_set_override(c, "parallelism.default=8", &err), 0);
	assert_int_equal(config_get_int(c, "parallelism.default", 0), 8);
	assert_int_equal(config_set_override(c, " web.port = 9090 ", &err), 0);
	assert_int_equal(config_get_int(c, "rest.port", 0), 9090);
	assert_int_equal(config_set_override(c, "jobmanager.rpc.address=a=b", &err), 0);
	assert_string_equal(config_get(c, "jobmanager.rpc.address"), "a=b");
	assert_int_equal(err.code, 0);

	assert_int_equal(config_set_override(c, "foo.bar=1", &err), SPATE_ECONFIG);
	assert_string_equal(err.msg, "unknown configuration key 'foo.bar'");
	assert_null(config_get(c, "foo.bar"));

	error_clear(&err);
	assert_int_equal(config_set_override(c, "parallelism.default=abc", &err), SPATE_ECONFIG);
	assert_string_equal(
	    err.msg, "bad value 'abc' for 'parallelism.default': expected a positive integer");
	assert_int_equal(config_get_int(c, "parallelism.default", 0), 8); /* unchanged */

	error_clear(&err);
	assert_int_equal(config_set_override(c, "parallelism.default", &err), SPATE_ECONFIG);
	assert_string_equal(err.msg, "bad override 'parallelism.default': expected key=value");
	error_clear(&err);
	assert_int_equal(config_set_override(c, "=3", &err), SPATE_ECONFIG);
	assert_string_equal(err.msg, "bad override '=3': empty key");

	/* config_set: unknown keys allowed, values validated */
	error_clear(&err);
	assert_int_equal(config_set(c, "my.own.key", "x", &err), 0);
	assert_string_equal(config_get(c, "my.own.key"), "x");
	assert_int_equal(config_set(c, "heartbeat.timeout", "2 min", &err), 0);
	assert_int_equal(config_get_duration_ms(c, "heartbeat.timeout", 0), 120000);
	assert_string_equal(config_get(c, "heartbeat.timeout"), "2 min"); /* as written */
	assert_int_equal(config_set(c, "log.level", "WARN", &err), 0);
	assert_string_equal(config_get(c, "log.level"), "warn");
	assert_int_equal(config_set(c, "heartbeat.timeout", "soon", &err), SPATE_ECONFIG);
	assert_int_equal(config_get_duration_ms(c, "heartbeat.timeout", 0), 120000);

	/* a clone is deep: changing the original leaves it alone */
	struct config *d = config_clone(c);
	error_clear(&err);
	assert_int_equal(config_set(c, "parallelism.default", "5", &err), 0);
	assert_int_equal(config_get_int(c, "parallelism.default", 0), 5);
	assert_int_equal(config_get_int(d, "parallelism.default", 0), 8);
	assert_string_equal(config_get(d, "my.own.key"), "x");
	config_free(c);
	assert_int_equal(config_get_int(d, "rest.port", 0), 9090);
	config_free(d);
}

/* ---- parsers -------------------------------------------------------------------------- */

static void test_durations(void **state)
{
	static const struct {
		const char *text;
		int64_t ms;
	} ok[] = {
	    {"100", 100},
	    {"100 ms", 100},
	    {"100ms", 100},
	    {"10s", 10000},
	    {"10 s", 10000},
	    {"5 min", 300000},
	    {"5min", 300000},
	    {"5 m", 300000},
	    {"1 h", 3600000},
	    {"2 d", 172800000},
	    {"3 seconds", 3000},
	    {"1 MIN", 60000},
	    {" 7 ms ", 7},
	    {"0", 0},
	    {"1500 us", 1},
	    {"2000000 ns", 2},
	    {"1 day", 86400000},
	    {"2 hours", 7200000},
	    {"9223372036854775807", INT64_MAX},
	};
	static const char *bad[] = {
	    "",      "abc",    "-1", "10 parsecs",           "ms",
	    "1.5 s", "10 s x", "+5", "99999999999999999999", "9223372036854775807 s"};
	int64_t v;
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		v = -1;
		if (config_parse_duration_ms(ok[i].text, &v) != 0)
			fail_msg("'%s' did not parse", ok[i].text);
		assert_int_equal(v, ok[i].ms);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (config_parse_duration_ms(bad[i], &v) != SPATE_EINVAL)
			fail_msg("'%s' parsed", bad[i]);
}

static void test_memory_sizes(void **state)
{
	static const struct {
		const char *text;
		int64_t bytes;
	} ok[] = {
	    {"32kb", 32768},         {"32 k", 32768},     {"64m", 67108864},  {"64mb", 67108864},
	    {"1g", 1073741824},      {"1gb", 1073741824}, {"512", 512},       {"1G", 1073741824},
	    {"1728m", 1728ll << 20}, {"2 t", 2ll << 40},  {"100 bytes", 100}, {"7b", 7},
	    {"3 KB", 3072},
	};
	static const char *bad[] = {"", "1x", "kb", "-1", "1.5g", "lots", "9000000000 t"};
	int64_t v;
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		v = -1;
		if (config_parse_memory_bytes(ok[i].text, &v) != 0)
			fail_msg("'%s' did not parse", ok[i].text);
		assert_int_equal(v, ok[i].bytes);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (config_parse_memory_bytes(bad[i], &v) != SPATE_EINVAL)
			fail_msg("'%s' parsed", bad[i]);

	struct config *c = load("taskmanager:\n  memory:\n    segment-size: 64kb\n"
	                        "    process.size: 1728m\n");
	assert_int_equal(config_get_memory_bytes(c, "taskmanager.memory.segment-size", 0), 65536);
	assert_int_equal(config_get_memory_bytes(c, "taskmanager.memory.process.size", 0),
	                 1728ll << 20);
	config_free(c);
}

static void test_bools(void **state)
{
	bool b = false;
	assert_int_equal(config_parse_bool("true", &b), 0);
	assert_true(b);
	assert_int_equal(config_parse_bool("FALSE", &b), 0);
	assert_false(b);
	assert_int_equal(config_parse_bool(" True ", &b), 0);
	assert_true(b);
	assert_int_equal(config_parse_bool("yes", &b), SPATE_EINVAL);
	assert_int_equal(config_parse_bool("1", &b), SPATE_EINVAL);
	assert_int_equal(config_parse_bool("", &b), SPATE_EINVAL);
}

/* ---- files ---------------------------------------------------------------------------- */

static void test_load_file(void **state)
{
	struct config *c = config_new();
	struct spate_error err = {0};
	char path[] = "/tmp/spate-test-config-XXXXXX";

	assert_int_equal(config_load_file(c, "/nonexistent/dir/config.yaml", &err), SPATE_ENOENT);
	assert_int_equal(err.code, 0);

	int fd = mkstemp(path);
	assert_true(fd >= 0);
	const char *text = "rest:\n  port: 18081\n\nparallelism.default: x\n";
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	assert_int_equal(config_load_file(c, path, &err), SPATE_ECONFIG);
	char want[256];
	snprintf(want, sizeof want,
	         "cannot parse '%s' line 4: bad value 'x' for "
	         "'parallelism.default': expected a positive integer",
	         path);
	assert_string_equal(err.msg, want);
	assert_false(config_is_set(c, "rest.port"));

	FILE *f = fopen(path, "w");
	fputs("rest:\n  port: 18081\n", f);
	fclose(f);
	error_clear(&err);
	assert_int_equal(config_load_file(c, path, &err), 0);
	assert_int_equal(config_get_int(c, "rest.port", 0), 18081);
	unlink(path);
	config_free(c);
}

static void test_shipped_config(void **state)
{
	const char *src = getenv("SPATE_SRC");
	if (!src)
		skip();
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/conf/config.yaml", src);
	struct config *c = config_new();
	struct spate_error err = {0};
	if (config_load_file(c, path, &err) != 0)
		fail_msg("loading '%s': %s", path, err.msg);
	assert_string_equal(config_get(c, "jobmanager.rpc.address"), "localhost");
	assert_int_equal(config_get_int(c, "jobmanager.rpc.port", 0), 6123);
	assert_int_equal(config_get_int(c, "rest.port", 0), 8081);
	assert_int_equal(config_get_int(c, "parallelism.default", 0), 1);
	assert_int_equal(config_get_duration_ms(c, "execution.buffer-timeout.interval", 0), 100);
	config_free(c);
}

static void test_find_dir(void **state)
{
	char *d;
	setenv("SPATE_CONF_DIR", "/some/where/conf", 1);
	d = config_find_dir();
	assert_string_equal(d, "/some/where/conf");
	free(d);

	unsetenv("SPATE_CONF_DIR");
	d = config_find_dir();
	assert_non_null(d);
	/* This test runs from <build>/tests, so <build>/conf. */
	const char *build = getenv("SPATE_BUILD");
	if (build) {
		char raw[PATH_MAX], want[PATH_MAX], got[PATH_MAX];
		snprintf(raw, sizeof raw, "%s/conf", build);
		assert_non_null(realpath(raw, want));
		assert_non_null(realpath(d, got));
		assert_string_equal(got, want);
	} else {
		assert_non_null(strstr(d, "/conf"));
	}
	free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_key_table),
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_nested_flat_mixed),
	    cmocka_unit_test(test_empty_and_null),
	    cmocka_unit_test(test_deprecated_keys),
	    cmocka_unit_test(test_sequences),
	    cmocka_unit_test(test_yaml_errors),
	    cmocka_unit_test(test_bad_values),
	    cmocka_unit_test(test_unknown_file_key_warns),
	    cmocka_unit_test(test_overrides),
	    cmocka_unit_test(test_durations),
	    cmocka_unit_test(test_memory_sizes),
	    cmocka_unit_test(test_bools),
	    cmocka_unit_test(test_load_file),
	    cmocka_unit_test(test_shipped_config),
	    cmocka_unit_test(test_find_dir),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
