/*
 * test_config_corpus.c - replays the stored fuzz corpus of the configuration loader.
 *
 * Every file under tests/fuzz/corpus/config is loaded as the fuzz driver would load it;
 * seeds named bad_* must fail with a message naming the file, the others must load. This
 * lets CI run the YAML decoder over the corpus on every build without libFuzzer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config/config.h"
#include "core/log.h"

static void test_corpus(void **state)
{
	const char *src = getenv("SPATE_SRC");
	char dir[PATH_MAX], path[PATH_MAX + 512];
	int files = 0;
	struct dirent *de;
	DIR *d;

	log_set_level(LOG_ERROR); /* the seeds hold unknown keys on purpose */
	snprintf(dir, sizeof dir, "%s/tests/fuzz/corpus/config", src ? src : ".");
	d = opendir(dir);
	if (!d)
		fail_msg("cannot open corpus '%s' (is SPATE_SRC set?)", dir);
	while ((de = readdir(d))) {
		struct spate_error err = {0};
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		struct config *c = config_new();
		int rc = config_load_file(c, path, &err);
		int expect_bad = strncmp(de->d_name, "bad_", 4) == 0;
		if (expect_bad && rc == 0)
			fail_msg("'%s' loaded", de->d_name);
		if (!expect_bad && rc != 0 && strstr(de->d_name, ".yaml"))
			fail_msg("'%s' did not load: %s", de->d_name, err.msg);
		if (rc != 0) {
			assert_int_equal(rc, SPATE_ECONFIG);
			assert_non_null(strstr(err.msg, path));
		}
		config_free(c);
		files++;
	}
	closedir(d);
	assert_true(files >= 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_corpus),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
