#include "common/log.h"

#include <stdarg.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"

static const char *const level_names[] = {"ERROR", "WARN", "INFO", "DEBUG"};

void common_logger_init(struct common_logger *lg, FILE *out, enum common_log_level level,
			const char *name)
{
	lg->out = out;
	lg->level = level;
	snprintf(lg->name, sizeof lg->name, "%s", name ? name : "");
}

void common_logf(const struct common_logger *lg, enum common_log_level level, const char *fmt, ...)
{
	if (lg == NULL || lg->out == NULL || level > lg->level)
		return;
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);

	uint64_t now = common_wall_ns();
	time_t secs = (time_t)(now / 1000000000ull);
	struct tm tm;
	gmtime_r(&secs, &tm);
	char stamp[32];
	strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(lg->out, "%s.%06u %s %s %s\n", stamp, (unsigned)((now / 1000u) % 1000000u),
		lg->name, level_names[level], msg);
	fflush(lg->out);
}
