/* common/log: leveled, time-stamped log lines to a caller-chosen stream. */
#ifndef CURPKV_COMMON_LOG_H
#define CURPKV_COMMON_LOG_H

#include <stdio.h>

enum common_log_level {
	COMMON_LOG_ERROR = 0,
	COMMON_LOG_WARN,
	COMMON_LOG_INFO,
	COMMON_LOG_DEBUG,
};

/* A log sink; owned by whoever creates it, shared read-only by threads (stdio locks each line). */
struct common_logger {
	FILE *out; /* not owned */
	enum common_log_level level;
	char name[32];
};

/* Initializes lg to write lines of level <= level to out, prefixed with name. */
void common_logger_init(struct common_logger *lg, FILE *out, enum common_log_level level,
			const char *name);

/* Writes one line "YYYY-mm-ddTHH:MM:SS.uuuuuu <name> <LEVEL> message". lg may be NULL (no-op). */
void common_logf(const struct common_logger *lg, enum common_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define LOG_ERROR(lg, ...) common_logf((lg), COMMON_LOG_ERROR, __VA_ARGS__)
#define LOG_WARN(lg, ...) common_logf((lg), COMMON_LOG_WARN, __VA_ARGS__)
#define LOG_INFO(lg, ...) common_logf((lg), COMMON_LOG_INFO, __VA_ARGS__)
#define LOG_DEBUG(lg, ...) common_logf((lg), COMMON_LOG_DEBUG, __VA_ARGS__)

#endif
