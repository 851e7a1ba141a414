/*
 * log.h: levelled logging to stderr.
 *
 * The level check happens in the macro, before any argument is evaluated.
 * Control bytes in messages are escaped, since PTY data reaches the log.
 * Floods are folded: a message equal to the last one is counted instead
 * of printed ("last message repeated N times"), and at most
 * LOG_LINES_PER_SEC different lines are printed a second.
 */
#ifndef TASKBOX_LOG_H
#define TASKBOX_LOG_H

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

#define LOG_LINE_MAX	  4096
#define LOG_NOTE_MAX	  96
#define LOG_LINES_PER_SEC 200
#define LOG_REPEAT_MS	  10000

/* The flood state of one log (log.c keeps the process's). */
struct log_limit {
	char last[LOG_LINE_MAX]; /* the last line printed */
	bool printed;		 /* last is set */
	uint64_t last_ms;	 /* when it or its repeat note was printed */
	unsigned repeats;	 /* held back since */
	uint64_t window;	 /* start of the current one-second window */
	unsigned lines;		 /* printed in it */
	unsigned dropped;	 /* over the cap, not reported yet */
};

extern enum log_level log_level_current;

void log_set_level(enum log_level level);
int log_parse_level(const char *name, enum log_level *out);
void log_emit(enum log_level level, const char *fmt, ...) PRINTFLIKE(2, 3);
/*
 * One kind of event that can come in floods (a refused connection): the
 * first is logged, then at most one line every LOG_REPEAT_MS saying how
 * many came. log_tally() counts one at now and returns true when a line
 * is due, with *count the events since the last line (this one included).
 */
struct log_tally {
	uint64_t last_ms;
	unsigned count;
	bool started;
};
bool log_tally(struct log_tally *t, uint64_t now, unsigned *count);

/*
 * Whether msg (the whole line but its time) is printed at now (ms, any
 * monotonic clock); notes to print before it, or instead of it, are
 * left in notes (empty strings when none). Pure: tests drive it.
 */
bool log_limit_check(struct log_limit *l, const char *msg, uint64_t now,
		     char notes[2][LOG_NOTE_MAX]);

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
