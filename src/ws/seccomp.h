/*
 * seccomp.h: the syscall filter every workspace runs under.
 *
 * The filter is compiled with libseccomp once per process; each workspace
 * start gets its bytes in a fresh memfd, which bubblewrap reads through
 * `--seccomp FD` and installs just before it runs the command.
 */
#ifndef TASKBOX_WS_SECCOMP_H
#define TASKBOX_WS_SECCOMP_H

/* Return a new close-on-exec memfd (>= 3) holding the BPF program,
 * positioned at 0; or -errno with *cause set. */
int ws_seccomp_memfd(char **cause);

/* A one-line description of the filter for probes and logs. */
const char *ws_seccomp_describe(void);

#endif
