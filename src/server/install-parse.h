/*
 * install-parse.h: the pure parts of agent installs (install.c): what
 * the installer reads of the tools' output (tar's listing, the tail of a
 * tool's log), the marker comparison, and the user names and passwords
 * cut out of what a tool printed. No I/O: unit tests and a fuzzer drive
 * them directly.
 */
#ifndef TASKBOX_INSTALL_PARSE_H
#define TASKBOX_INSTALL_PARSE_H

/*
 * total (>= 0) plus the size that one whole line of `tar -tv
 * --numeric-owner` (line[0..n), its newline optional) gives its member:
 * "MODE UID/GID SIZE DATE TIME NAME". A line without such a size (a
 * device's "MAJOR,MINOR", a line that is not a member) adds nothing; the
 * sum stops at LLONG_MAX.
 */
long long install_tar_add(long long total, const char *line, size_t n);

/* Is have[0..n) (a marker file's bytes) exactly want, no byte more? */
bool install_marker_match(const char *have, size_t n, const char *want);

/* Cut user names and passwords out of the URLs in s (in place): up to
 * the last '@' of each authority after "://". A tool's output (pip's,
 * curl's) may show the index URL with its user. */
void install_scrub_userinfo(char *s);

/*
 * The last non-empty line of log[0..n) (a tool's output), control bytes
 * replaced by spaces, into out[size] (size > 0): at most size - 1 bytes,
 * never cut inside a UTF-8 sequence. Empty when there is none.
 */
void install_log_tail(const char *log, size_t n, char *out, size_t size);

#endif
