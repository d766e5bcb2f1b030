/*
 * fuzz_config.c - libFuzzer driver for the configuration loader (YAML text to keys).
 *
 * config.yaml is user input, and -D values come from command lines and REST requests, so
 * the loader must turn any bytes into either a configuration or a clear error. Beyond "no
 * crash" this checks the loader's promises: a failure always has a message, and a value
 * that was accepted always parses again in its typed getter (so getters cannot fail).
 *
 * Run (the first directory receives new inputs, so the stored corpus stays small):
 *   mkdir -p /tmp/config
 *   ./build-fuzz/fuzz/fuzz_config -max_total_time=60 /tmp/config tests/fuzz/corpus/config
 * libspate itself is only coverage-instrumented if the fuzz build also gets
 * -DCMAKE_C_FLAGS=-fsanitize=fuzzer-no-link; without it the fuzzer is nearly blind.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "core/log.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_set_level(LOG_OFF); /* unknown keys would warn on every run */
	return 0;
}

static void touch(void *arg, const char *key, const char *value)
{
	size_t *total = arg;
	*total += strlen(key) + strlen(value);
}

static void check(int cond, const char *what, const char *key)
{
	if (!cond) {
		fprintf(stderr, "fuzz_config: %s for '%s'\n", what, key);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config *c = config_new();
	struct spate_error err = {0};
	size_t total = 0;
	int rc = config_load_string(c, (const char *)data, size, "fuzz.yaml", &err);

	if (rc != 0) {
		check(rc == SPATE_ECONFIG && err.code == rc && err.msg[0], "error without message",
		      "-");
		config_free(c);
		return 0;
	}
	config_foreach(c, touch, &total);
	for (const struct config_key *k = config_keys; k->key; k++) {
		if (!config_is_set(c, k->key))
			continue;
		check(config_get(c, k->key) != NULL, "set but no value", k->key);
		switch (k->type) {
		case CONFIG_INT:
		case CONFIG_POSINT:
		case CONFIG_PORT:
			check(config_get_int(c, k->key, INT64_MIN) != INT64_MIN, "int", k->key);
			break;
		case CONFIG_BOOL:
			check(config_get_bool(c, k->key, true) == config_get_bool(c, k->key, false),
			      "bool", k->key);
			break;
		case CONFIG_DURATION:
			check(config_get_duration_ms(c, k->key, -1) >= 0, "duration", k->key);
			break;
		case CONFIG_MEMORY:
			check(config_get_memory_bytes(c, k->key, -1) >= 0, "memory", k->key);
			break;
		default:
			break;
		}
	}
	struct config *d = config_clone(c);
	config_free(c);
	config_free(d);
	return 0;
}
