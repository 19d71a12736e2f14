/* Logging: printf-checked, carrying file and line, compiled out above
 * CVMM_LOG_MAX. Messages are lowercase, without '=' (e.g. "node 2 page 0x7f3a1"). */
#ifndef CVMM_COMMON_LOG_H
#define CVMM_COMMON_LOG_H

#include <stdbool.h>
#include <unistd.h>

typedef enum log_level {
	LOG_LVL_FATAL = 0,
	LOG_LVL_ERROR,
	LOG_LVL_WARN,
	LOG_LVL_INFO,
	LOG_LVL_DEBUG,
	LOG_LVL_TRACE,
} log_level_t;

#ifndef CVMM_LOG_MAX
#define CVMM_LOG_MAX LOG_LVL_TRACE
#endif

extern log_level_t log_level;

/* The levels' names, indexed by log_level_t, NULL-terminated (the
 * --log-level config field reads them). */
extern const char *const log_level_names[];

/* Writes one line "cvmm: <msg>" to stderr (with file:line at debug and
 * above); async-signal-safe apart from the formatting itself. */
void log_emit(log_level_t lvl, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#define log_at(lvl, ...)                                                      \
	do {                                                                  \
		if ((lvl) <= CVMM_LOG_MAX && (lvl) <= log_level)              \
			log_emit((lvl), __FILE__, __LINE__, __VA_ARGS__);     \
	} while (0)

#define log_error(...) log_at(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...)  log_at(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...)  log_at(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_at(LOG_LVL_DEBUG, __VA_ARGS__)
#define log_trace(...) log_at(LOG_LVL_TRACE, __VA_ARGS__)

/* Startup only: logs and exits with status 1. */
#define die(...)                                                              \
	do {                                                                  \
		log_emit(LOG_LVL_FATAL, __FILE__, __LINE__, __VA_ARGS__);     \
		_exit(1);                                                     \
	} while (0)

#endif
