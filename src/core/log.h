/*
 * log.h: levelled logging to stderr.
 *
 * The level check happens in the macro, before any argument is evaluated.
 * Control bytes in messages are escaped, since PTY data reaches the log.
 */
#ifndef TASKBOX_LOG_H
#define TASKBOX_LOG_H

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

extern enum log_level log_level_current;

void log_set_level(enum log_level level);
int log_parse_level(const char *name, enum log_level *out);
void log_emit(enum log_level level, const char *fmt, ...) PRINTFLIKE(2, 3);

#define log_at(lvl, ...)                                                       \
	do {                                                                   \
		if ((lvl) <= log_level_current)                                \
			log_emit((lvl), __VA_ARGS__);                          \
	} while (0)
#define log_error(...) log_at(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  log_at(LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_at(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_at(LOG_DEBUG, __VA_ARGS__)

#endif
