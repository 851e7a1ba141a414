/*
 * log.c: levelled logging to stderr with control bytes escaped.
 */
#include "common.h"

#include "log.h"

enum log_level log_level_current = LOG_INFO;

static const char *log_names[] = {"error", "warn", "info", "debug"};

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

void
log_emit(enum log_level level, const char *fmt, ...)
{
	char msg[1024], out[4096], ts[32];
	size_t o = 0;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);

	for (const unsigned char *p = (const unsigned char *)msg;
	     *p != '\0' && o + 5 < sizeof out; p++) {
		if (*p < 0x20 || *p == 0x7f)
			o += (size_t)snprintf(out + o, sizeof out - o,
					      "\\x%02x", *p);
		else
			out[o++] = (char)*p;
	}
	out[o] = '\0';
	time_rfc3339(wall_ms(), ts);
	fprintf(stderr, "%s %s %s\n", ts, log_names[level], out);
}
