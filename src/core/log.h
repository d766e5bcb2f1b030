/*
 * log.h - the engine's log. One line per event: ISO-8601 time, level, thread name, message.
 * The macros check the level before evaluating their arguments. INFO is for state changes,
 * never per record. Output goes to stderr unless log_set_file() names a file.
 */
#ifndef SPATE_CORE_LOG_H
#define SPATE_CORE_LOG_H

enum log_level { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3, LOG_OFF = 4 };

extern int log_min_level; /* lines below this level are skipped */

void log_write(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_set_level(int level);
/* Parses "debug", "info", "warn", "error", "off"; returns -1 if unknown. */
int log_level_parse(const char *s);
/* Appends log lines to `path` instead of stderr; returns 0 or -errno. */
int log_set_file(const char *path);
/* Names the calling thread in log lines (copied, truncated to 31 chars). */
void log_set_thread_name(const char *name);

#define log_debug(...)                                     \
	do {                                               \
		if (log_min_level <= LOG_DEBUG)            \
			log_write(LOG_DEBUG, __VA_ARGS__); \
	} while (0)
#define log_info(...)                                     \
	do {                                              \
		if (log_min_level <= LOG_INFO)            \
			log_write(LOG_INFO, __VA_ARGS__); \
	} while (0)
#define log_warn(...)                                     \
	do {                                              \
		if (log_min_level <= LOG_WARN)            \
			log_write(LOG_WARN, __VA_ARGS__); \
	} while (0)
#define log_error(...)                                     \
	do {                                               \
		if (log_min_level <= LOG_ERROR)            \
			log_write(LOG_ERROR, __VA_ARGS__); \
	} while (0)

#endif
