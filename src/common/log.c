/* Logging to stderr, one write per line so concurrent threads don't mix. */
#include "common/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

log_level_t log_level = LOG_LVL_WARN;

const char *const log_level_names[] = {
	[LOG_LVL_FATAL] = "fatal", [LOG_LVL_ERROR] = "error",
	[LOG_LVL_WARN] = "warn",   [LOG_LVL_INFO] = "info",
	[LOG_LVL_DEBUG] = "debug", [LOG_LVL_TRACE] = "trace",
	NULL,
};

void log_emit(log_level_t lvl, const char *file, int line, const char *fmt, ...)
{
	char buf[1024];
	int saved = errno;
	int n;
	va_list ap;

	if (lvl >= LOG_LVL_DEBUG)
		n = snprintf(buf, sizeof(buf), "cvmm: %s: %s:%d: ",
			     log_level_names[lvl], file, line);
	else if (lvl <= LOG_LVL_ERROR)
		n = snprintf(buf, sizeof(buf), "cvmm: ");
	else
		n = snprintf(buf, sizeof(buf), "cvmm: %s: ", log_level_names[lvl]);
	errno = saved;
	va_start(ap, fmt);
	n += vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(buf) - 2)
		n = (int)sizeof(buf) - 2;
	buf[n++] = '\n';
	(void)!write(STDERR_FILENO, buf, (size_t)n);
	errno = saved;
}
