/*
 * install.h: agent installs on the server (npm, pip, url), shared between
 * tasks, and the reachability probe that task creation runs first.
 *
 * inst is always a rendered install block (module_install): {kind,
 * npm|pip|url, version, sha256, format, bin, dir, bin_dir, bin_path}.
 */
#ifndef TASKBOX_INSTALL_H
#define TASKBOX_INSTALL_H

#include <jansson.h>

/* Called once per waiter when the install ended: cause is NULL on
 * success, else why it failed (borrowed). */
typedef void (*install_done_cb)(const char *id, const char *cause);
/* Called once with the probe's result: cause NULL when reachable. */
typedef void (*install_probe_cb)(const char *cause, void *data);

/* Is the agent installed (complete, executable)? */
bool install_present(const json_t *inst);

/* Is an install into inst's dir under way? */
bool install_running(const json_t *inst);

/*
 * Install inst (or join the install under way for the same dir) and call
 * done(id, ...) when it ends; done may run before this returns when the
 * install cannot start. The work happens in a child process.
 */
void install_start(const json_t *inst, const char *id, install_done_cb done);

/*
 * Ask (in a child process) whether inst's package index or URL answers;
 * cb(cause, data) runs later from the loop, never before this returns.
 */
void install_probe(const json_t *inst, install_probe_cb cb, void *data);

/* The URL the probe asks for inst (new string): the package's page on the
 * pip index, the download URL, or NULL for npm (not probed). */
char *install_probe_url(const json_t *inst, const char *pip_index);

/* Is url usable as --pip-index-url: http(s), and http:// only on
 * loopback (pip ignores an insecure index elsewhere)? 0, or -1 with
 * *cause (new, credentials left out). */
int install_index_check(const char *url, char **cause);

/*
 * May the installer's uid and the workspaces' uids (the server runs as
 * root) reach tools, an absolute path: is every dir of it that exists
 * (links followed) open to other users (o+x)? 0, or -1 with *cause (new) naming
 * the dir that is not. A server not running as root: always 0.
 */
int install_tools_check(const char *tools, char **cause);

/* Kill every install and probe child (their process groups): the server
 * stops. A killed install leaves a temporary dir the next one removes. */
void install_kill_all(void);

/* url without its user name and password (new string): what messages and
 * the marker may show of the pip index URL. */
char *install_redact(const char *url);

#endif
