/*
 * log.c: levelled logging to stderr with control bytes escaped and
 * floods folded.
 *
 * Data model: one struct log_limit for the process (tests drive their
 * own through log_limit_check with their own clock). A message equal to
 * the last one printed (level and text) is not printed again: it is
 * counted, and "last message repeated N times" appears when another
 * message comes or, while the repeats go on, at most every
 * LOG_REPEAT_MS. Different messages are printed up to LOG_LINES_PER_SEC
 * in a one-second window; the rest are dropped and their number is
 * reported with the first message of a later window. So a loop that
 * logs on every pass costs a line every few seconds, not gigabytes.
 * Warnings and errors have a window of their own: a flood of info lines
 * (which a task can cause) never hides them.
 * Callers that know an event comes in floods (refused connections) count
 * it in a struct log_tally and log one line with the count instead.
 */
#include "common.h"

#include "log.h"

enum log_level log_level_current = LOG_INFO;

static const char *log_names[] = {"error", "warn", "info", "debug"};
/* info and debug lines, and warnings and errors: a flood of the first
 * never drops the second */
static struct log_limit log_limits[2];

void
log_set_level(enum log_level level)
{
	log_level_current = level;
}

/* Parse "error", "warn", "info" or "debug"; 0 or -EINVAL. */
int
log_parse_level(const char *name, enum log_level *out)
{
	for (size_t i = 0; i < ARRAY_SIZE(log_names); i++) {
		if (strcmp(name, log_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

bool
log_limit_check(struct log_limit *l, const char *msg, uint64_t now,
		char notes[2][LOG_NOTE_MAX])
{
	int n = 0;

	notes[0][0] = notes[1][0] = '\0';
	if (l->printed && strcmp(msg, l->last) == 0) {
		l->repeats++;
		if (now - l->last_ms >= LOG_REPEAT_MS) {
			snprintf(notes[0], LOG_NOTE_MAX,
				 "last message repeated %u times", l->repeats);
			l->repeats = 0;
			l->last_ms = now;
		}
		return false;
	}
	if (!l->printed || now - l->window >= 1000) {
		if (l->dropped > 0)
			snprintf(notes[n++], LOG_NOTE_MAX,
				 "%u messages suppressed (more than %d a "
				 "second)",
				 l->dropped, LOG_LINES_PER_SEC);
		l->window = now;
		l->lines = 0;
		l->dropped = 0;
	}
	if (l->lines >= LOG_LINES_PER_SEC) {
		l->dropped++;
		return false;
	}
	if (l->repeats > 0)
		snprintf(notes[n++], LOG_NOTE_MAX,
			 "last message repeated %u times", l->repeats);
	l->repeats = 0;
	l->lines++;
	l->printed = true;
	l->last_ms = now;
	snprintf(l->last, sizeof l->last, "%s", msg);
	return true;
}

bool
log_tally(struct log_tally *t, uint64_t now, unsigned *count)
{
	t->count++;
	if (t->started && now - t->last_ms < LOG_REPEAT_MS)
		return false;
	*count = t->count;
	t->count = 0;
	t->last_ms = now;
	t->started = true;
	return true;
}

void
log_emit(enum log_level level, const char *fmt, ...)
{
	char msg[1024], out[LOG_LINE_MAX], ts[32];
	char notes[2][LOG_NOTE_MAX];
	size_t o = 0;
	va_list ap;
	bool print;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);

	/* the level is part of the message: compare "warn text" */
	o = (size_t)snprintf(out, sizeof out, "%s ", log_names[level]);
	for (const unsigned char *p = (const unsigned char *)msg;
	     *p != '\0' && o + 5 < sizeof out; p++) {
		if (*p < 0x20 || *p == 0x7f)
			o += (size_t)snprintf(out + o, sizeof out - o,
					      "\\x%02x", *p);
		else
			out[o++] = (char)*p;
	}
	out[o] = '\0';
	print = log_limit_check(&log_limits[level <= LOG_WARN ? 1 : 0], out,
				now_ms(), notes);
	time_rfc3339(wall_ms(), ts);
	for (int i = 0; i < 2; i++) {
		if (notes[i][0] != '\0')
			fprintf(stderr, "%s %s %s\n", ts, log_names[level],
				notes[i]);
	}
	if (print)
		fprintf(stderr, "%s %s\n", ts, out);
}
