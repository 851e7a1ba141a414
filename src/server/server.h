/*
 * server.h: the Tasks server's shared context and the pieces its files
 * call in each other.
 *
 * One struct server per process, one loop thread. The API files
 * (api-*.c) validate requests and shape replies; task.c owns the task
 * lifecycle (workspace, runtime connection, status); proxy.c forwards
 * /@user/task/apps/...; egress.c is the sandbox's only way out.
 */
#ifndef TASKBOX_SERVER_H
#define TASKBOX_SERVER_H

#include <jansson.h>
#include <sys/types.h>

#include "server/template.h"

/* The one organization, as Coder's clients see it (api-coder.c): a fixed
 * id, the same on every server, and the name "default". */
#define TASKBOX_ORG_ID	 "9f1c0d4e-5b7a-4c3e-8a21-6d0e2b7f4c18"
#define TASKBOX_ORG_NAME "default"

struct ev_loop;
struct http_server;
struct http_req;
struct store;
struct task;
struct ws_backend;

struct server {
	struct ev_loop *loop;
	struct http_server *http;
	struct store *store;
	char *data_dir;	     /* absolute */
	char *tasks_dir;     /* data_dir/tasks */
	char *exe;	     /* this binary, bound into every workspace */
	char *tools_dir;     /* agent installs (install.c), absolute */
	char *pip_index_url; /* pip installs: the PEP 503 index */
	char *llm_url;	     /* LLM pass-through upstream (http://host:port) */
	char *llm_key;	     /* the provider key the pass-through adds */
	char *listen;	     /* host:port as given */
	char *url;	     /* http://host:port the server answers on */
	uid_t task_uid_base; /* when root: task uid = base + seq % 50000 */
	unsigned task_fds;   /* descriptors for tasks' own sockets and their
				egress connections (fdlimit_split) */
	unsigned head_timeout_ms; /* API and egress request heads (0: none) */
	bool root;
	bool stopping;
	struct task *tasks;		  /* live tasks (not deleted) */
	const struct ws_backend *backend; /* workspaces (local) */
	/* server-wide maxima (--max-*): per task, then the task counts */
	struct template_max max;
	long max_running_per_user;   /* pending, initializing or active */
	long max_tasks;		     /* not deleted, in any status */
	char *disks_dir;	     /* data_dir/disks: per-task images */
	char *disk_off;		     /* why disk limits are not enforced */
	bool metrics_public;	     /* GET /metrics without a token */
	int64_t session_lifetime_ms; /* a password's site session */
};

extern struct server *srv;

/* The template used when a create request names none. */
const char *server_default_template(void);

/* ---- auth.c ---- */
/* The caller's user row (a new reference: the handler json_decref's it)
 * with auth_hash (the credential's hash, for auth_recheck) and, for a
 * cookie, session_id and csrf_token; or NULL after replying 401. */
json_t *auth_user(struct http_req *req);
bool auth_is_admin(const json_t *user);
/* May caller (an auth_user row) act for the user owner_id: the owner
 * or an admin? */
bool auth_may_act_for(const json_t *caller, const char *owner_id);
/* Is role one of the roles: admin, member, task-creator? */
bool auth_role_valid(const char *role);
/*
 * May caller (an auth_user row) see and act on a task of owner_id that
 * created_by created ('' or NULL: its owner did)? Its owner, admins,
 * and its creator while it could create it now (auth_may_create_for: its
 * role is task-creator, the owner an active member). Every place
 * that shows a task or acts on one asks this; to anyone else the task
 * does not exist (404).
 */
bool auth_may_access_task(const json_t *caller, const char *owner_id,
			  const char *created_by);
/*
 * May caller create a task for owner (a user row)? 0: for themself, an
 * admin for anyone, a task-creator for an active member; -EPERM with
 * *why (static) otherwise.
 */
int auth_may_create_for(const json_t *caller, const json_t *owner,
			const char **why);
/*
 * Make a new token for user_id that expires lifetime_s seconds from now
 * (0: never): returns the secret (caller frees) and, when row is given,
 * its public JSON {id, name, created_at, expires_at} (new reference).
 */
char *auth_token_create(const char *user_id, const char *name,
			int64_t lifetime_s, json_t **row);
/* Public JSON of a tokens / sessions row (new reference): never a hash
 * or a value. */
json_t *auth_token_json(const json_t *row);
json_t *auth_session_json(const json_t *row);
/*
 * A new browser session for the caller user (an auth_user row from a
 * token) good under path until 24 h from now or the token's expiry:
 * returns the cookie value (caller frees) and its lifetime in
 * *max_age_s, or NULL (no token behind the caller, or it cannot be
 * stored).
 */
char *auth_session_create(const json_t *user, const char *path,
			  int64_t *max_age_s);
/*
 * A new site session (path "/") for user (a row with id, and token_id
 * and token_expires_at when it comes from a token): good for
 * srv->session_lifetime_ms, never past the token's expiry. Returns the
 * cookie value (caller frees) and *expires_at (ms), or NULL.
 */
char *auth_site_session_create(const json_t *user, int64_t *expires_at);
/* The CSRF token of a session's cookie value session (hex, 64 digits). */
void auth_csrf_token(const char *session, char out[65]);
/*
 * The user row of the credential whose hash auth_user noted (its
 * "auth_hash"; cookie: a session's) if it is still good now: not
 * revoked, not expired, the user not suspended. A new reference, or NULL.
 */
json_t *auth_recheck(const char *hash, bool cookie);
/* The user row of the site session (path "/") whose cookie req carries,
 * if it is good now (new reference); NULL otherwise, without replying
 * (a page redirects to /login instead). */
json_t *auth_site_user(struct http_req *req);
/* The user row of token if it is good (new reference), or NULL and *why
 * (unknown, expired, the account suspended). */
json_t *auth_token_lookup(const char *token, const char **why);
/* A user by name, id or "me" (relative to caller); new reference. */
json_t *auth_lookup_user(const json_t *caller, const char *ref);
/*
 * An app capability: what lets a sandboxed template app's own requests
 * (an opaque origin: no cookie) reach /@owner/task/apps/slug/~k/CAP/...
 * Base64url of expiry (8 bytes, big-endian Unix seconds), the user id (a
 * UUID's 16 bytes) and HMAC-SHA256 over "app" NUL user_id NUL task_id NUL
 * slug NUL expiry (decimal) under a key derived from the secrets key.
 * A new one for user_id, good for task_id's app slug for lifetime_s
 * seconds (a new string), or NULL when user_id is not a UUID.
 */
char *auth_app_cap_new(const char *user_id, const char *task_id,
		       const char *slug, int64_t lifetime_s);
/* The user id cap names into user_id, unchecked; false if it is not one. */
bool auth_app_cap_parse(const char *cap, char user_id[37]);
/*
 * The user of cap (new reference) when its MAC is right for task_id and
 * slug (compared in constant time), it has not expired and the user
 * exists and is not suspended; NULL otherwise, whatever failed.
 */
json_t *auth_app_cap_user(const char *cap, const char *task_id,
			  const char *slug);
/* Drop the cached rows of user_id (NULL: of everyone): this replica's
 * cache only. */
void auth_cache_forget(const char *user_id);
/* User user_id, their tokens or their sessions changed in the store:
 * drop their cached rows here and on the other replicas. */
void auth_user_changed(const char *user_id);

/* ---- api-*.c: route registration ---- */
void api_users_register(struct http_server *http);
/* api-login.c: sign in and out, the session, passwords; before
 * api_secrets_register (its PUT under /api/v2/users/ hands secrets on). */
void api_login_register(struct http_server *http);
/* api-users.c: the public User JSON of a users row (new reference). */
json_t *api_user_json(const json_t *row);
void api_templates_register(struct http_server *http);
/* api-presets.c: serve GET /api/v2/templateversions/{id}/presets
 * (Coder's Preset list; 404 for an unknown version) through api-coder.c. */
void api_presets_register(void);
void api_tasks_register(struct http_server *http);
void proxy_register(struct http_server *http);
/* Before the body of a request: whether its path has an app capability
 * (proxy.c), and then in *ok whether that is good (404 answered if not). */
bool proxy_cap_guard(struct http_req *req, bool *ok);
/* User user_id's credentials, role or status may have changed (NULL:
 * anyone's): end each of their app responses being streamed that
 * auth_may_access_task would not let in now (proxy.c). */
void proxy_streams_recheck(const char *user_id);
/* web.c: the web app's pages and files (web/app/). */
void web_register(struct http_server *http);
struct asset;
/* Reply 200 with a file of the binary under the Content-Security-Policy
 * csp: an ETag (304 when the client has it), gzip when the client takes
 * it (compressed once per file, kept). */
void web_reply_asset(struct http_req *req, const struct asset *a,
		     const char *csp);
/* api-providers.c: /api/v2/providers[/NAME]. */
void api_providers_register(struct http_server *http);
/* api-secrets.c: .../secrets under users and templates. */
void api_secrets_register(struct http_server *http);
/* Whether a /api/v2/templates/ path is .../secrets[...]; the handler. */
bool api_secrets_is_template_path(const char *path);
void api_secrets_template(struct http_req *req, void *data);
/* GET/DELETE .../users/{u}/secrets[/NAME] (api-users.c hands them over). */
void api_secrets_user(struct http_req *req, void *data);

/* api-extauth.c: /api/v2/external-auth[...] and the web flow's
 * /external-auth/github[/callback]. */
void api_extauth_register(struct http_server *http);

/* ---- api-usage.c: LLM usage, prices, budgets ---- */
/* GET /api/v2/usage, GET|PUT|DELETE /api/v2/prices[...]. */
void api_usage_register(struct http_server *http);
/* Start the accounting (gateway/account.c) with the task hooks; 0 or
 * -EIO with *cause. */
int api_usage_start(char **cause);
/* GET .../tasks/{u}/{t}/usage: totals and per model. */
void api_usage_task(struct http_req *req, struct task *t);
/* GET|PUT .../users/{u}/budget (api-users.c, api-login.c hand it over). */
void api_usage_budget(struct http_req *req);

/* ---- catalog.c: templates and modules ---- */
/* Import the built-in modules and templates (new versions when changed). */
int catalog_import_builtins(char **cause);
/* Store a template from YAML; its public JSON (new reference) or NULL
 * with *errors (a new array).
 * may_replace: the caller is an admin (replaces others' templates and
 * modules, may write what the validators mark admin_only). */
json_t *catalog_template_push(const char *yaml, size_t len,
			      const char *created_by, bool builtin,
			      bool may_replace, json_t **errors);
json_t *catalog_module_push(const char *yaml, size_t len,
			    const char *created_by, bool builtin,
			    bool may_replace, json_t **errors);
/* Public JSON of a template row joined with its active version (new
 * reference). */
json_t *catalog_template_json(const json_t *row);
/* The template row (with spec) by name or id; new reference or NULL. */
json_t *catalog_template_find(const char *ref);
/* A template version row (with spec parsed into "spec_json"); new
 * reference or NULL. */
json_t *catalog_version_get(const char *version_id);
/* The module spec by name (new reference) or NULL. */
json_t *catalog_module_spec(const char *name);
/* May user (an auth_user row) replace or delete the template of row (a
 * catalog_template_find row)? Admins may; members their own, not built
 * in (the author of its first version). */
bool catalog_template_may_manage(const json_t *row, const json_t *user);
/*
 * Delete template_id for good: its versions, the rows of its deleted
 * tasks and their state history, its secrets, in one transaction. 0,
 * -EBUSY while a task not deleted uses it (nothing changed), or -EIO.
 */
int catalog_template_delete(const char *template_id);

/* ---- task.c ---- */
/* The live task with id, or NULL; borrowed (the task list owns it). */
struct task *task_find_id(const char *id);
/* The live task of owner_id named (or with the id) ref, or NULL;
 * borrowed. */
struct task *task_find_named(const char *owner_id, const char *ref);
/* Create and start: row is the inserted tasks row, tmpl_version a
 * catalog_version_get row (both borrowed: the task takes references of
 * its own). Returns the task, borrowed (the task list owns it). */
struct task *task_start(json_t *row, json_t *tmpl_version, json_t *module_spec,
			uint64_t accepted_ms);
/* May owner_id have one more task starting or running (resume true: a
 * paused task resumes), and may the server hold one more task? 0, or
 * -EDQUOT (answered 429) with *why (a new string). Paused and finished
 * tasks count toward --max-tasks only. */
int task_admit(const char *owner_id, bool resume, char **why);
/* Public Task JSON (new reference). */
json_t *task_json(struct task *t);
/* The Task JSON as compact text, kept until the task changes (borrowed:
 * valid until the task changes or is freed); *len its length. */
const char *task_json_text(struct task *t, size_t *len);
/* What GET /api/v2/tasks selects (NULL filters: any) and where its page
 * starts: after the task whose task_cursor is (after_created, after_seq),
 * or at the newest. */
struct task_query {
	const char *owner_id;
	const char *status;
	const json_t *viewer; /* only what auth_may_access_task lets see */
	bool after;
	int64_t after_created, after_seq;
	size_t limit;
};
/* The live tasks q selects, newest first (created_at, then seq): up to
 * q->limit after its cursor into page (borrowed); *total how many match
 * the filters in all, *more whether any follow the page. */
size_t task_query(const struct task_query *q, struct task **page, size_t *total,
		  bool *more);
/* Where t sits in the list's order (for a cursor). */
void task_cursor(const struct task *t, int64_t *created, int64_t *seq);
/* Call cb for every live task not being deleted. */
void task_foreach(void (*cb)(struct task *t, void *data), void *data);
/* How many SSE clients follow t's events. */
size_t task_subscribers(const struct task *t);
const char *task_status(struct task *t);
/* "pausing" or "being deleted" while the workspace stops, else NULL. */
const char *task_stopping(struct task *t);
const char *task_id(struct task *t);
const char *task_owner_id(struct task *t);
/* The user who created t for its owner ("" when the owner did). */
const char *task_created_by(struct task *t);
/* Is the peer of the connected socket fd a process of t's sandbox?
 * (hclient peer check; data is the task.) */
bool task_peer_ok(int fd, void *data);
/* The runtime's unix socket (NULL unless the runtime listens). */
const char *task_runtime_socket(struct task *t);
/* The socket for app slug inside the workspace (new string), or NULL. */
char *task_app_socket(struct task *t, const char *slug);
/* Stop everything and remove the workspace; the task is freed later. */
void task_delete(struct task *t);
/* DELETE: stop, remove, then reply 202 once the workspace is gone (0:
 * req is answered or deferred); -EBUSY (*cause) while it is deleted. */
int task_delete_reply(struct task *t, struct http_req *req, char **cause);
/*
 * Delete every task of owner_id, or every task of template_id (one of
 * them NULL), and call done(data) once all of them (those already being
 * deleted too) are gone: at once when there are none.
 */
void task_delete_all(const char *owner_id, const char *template_id,
		     void (*done)(void *data), void *data);
/* The path part of an app's URL inside the workspace ("/" default). */
const char *task_app_base_path(struct task *t, const char *slug);
/* The task's name. */
const char *task_name_of(struct task *t);
/* A Task JSON text as the clients of one mount of the task API read it:
 * a new string of *out_len bytes (api_coder_task_text). */
typedef char *(*task_text_fn)(const char *text, size_t len, size_t *out_len);
/* The kept Task JSON text of t passed through wire (NULL: as kept), kept
 * too until t changes; borrowed from t, *len bytes. */
const char *task_json_text_as(struct task *t, task_text_fn wire, size_t *len);
/* Reply to GET .../logs. */
void task_logs(struct task *t, struct http_req *req);
/* Reply to GET .../events for caller (auth_user's row): the task's SSE
 * stream, its "task" events' Task JSON passed through wire when not
 * NULL. */
void task_events(struct task *t, struct http_req *req, const json_t *caller,
		 task_text_fn wire);
/* User user_id's credentials, role or status may have changed (NULL:
 * anyone's): end each of their tasks' event streams that
 * auth_may_access_task would not let in now. */
void task_subs_recheck(const char *user_id);
/* Send an SSE event to the task's subscribers (GET .../events). */
void task_publish_event(struct task *t, const char *event, const char *data);
/* The task's send queue (queue.c; owned by the task). */
struct tqueue *task_queue(struct task *t);
/* The agent's current_state.state, or "" before the first. */
const char *task_agent_state(struct task *t);
/* The agent's latest message (the runtime's message_update), or NULL. */
const char *task_last_message(struct task *t);
/* Load the stored tasks; re-attach to workspaces a crashed server left
 * running (the others become errors). */
void task_recover_all(void);
/* Graceful shutdown: stop every workspace (its state saved first) and
 * mark the tasks paused; returns how many are still stopping. */
int task_shutdown_all(void);
/*
 * POST .../pause, POST .../resume, PATCH .../input: 0 once req is
 * answered (or deferred: a pause answers once stopped), or a negative
 * errno and *cause (a new string) for the caller's problem reply:
 * -EPERM in a state that never allows it, -EAGAIN when it may be done in
 * a moment, -EBUSY while the task stops, -ESHUTDOWN while the server
 * does, -EDQUOT past --max-running-per-user, -EIO.
 */
int task_pause(struct task *t, struct http_req *req, char **cause);
int task_resume(struct task *t, struct http_req *req, char **cause);
int task_set_input(struct task *t, struct http_req *req, const char *input,
		   char **cause);
/* GET .../states. */
void task_states(struct task *t, struct http_req *req);
/* POST .../restart: a task in error or unknown status gets a fresh
 * workspace run with its files, home and transcript; the prompt is
 * never sent twice. 0 (202 sent), the errnos of task_resume, or a
 * pre-check's refusal: -EINVAL (400), -EBUSY (its user or template is
 * being deleted). */
int task_restart(struct task *t, struct http_req *req, char **cause);
/* Pause the live task task_id (none, or stopping or stopped already:
 * nothing) with message as its state message once paused (a budget ran
 * out: gateway/account.c's pause hook). */
void task_pause_with(const char *task_id, const char *message);
/* Task task_id's usage changed: push its Task JSON (account.c's hook). */
void task_usage_changed(const char *task_id);
/*
 * What can fail before anything runs, checked before a task of template
 * version (a catalog_version_get row) starts for owner_id: the agent
 * module exists (module NULL: it does not) and can run the template, the
 * server has an LLM endpoint if the agent needs one, the secrets the
 * template names are set and open. 0, or the HTTP status to answer with
 * *cause (a new string).
 */
int task_precheck(json_t *version, json_t *module, const char *owner_id,
		  char **cause);

/* ---- egress.c ---- */
struct egress;
/* Whose requests llm.sock's gateway serves (copied by egress_new). */
struct egress_task {
	const char *task_id, *owner_id, *template_id;
	const char *provider; /* the template's agent.provider or "default" */
};
/*
 * Listen on run_dir/egress.sock and run_dir/llm.sock for one task; the
 * sockets are handed to uid (0: left to the server's). ws is the
 * template's workspace block (egress, egress_private); by_admin says the
 * template is an admin's, the only kind that may reach private ranges;
 * llm.sock's connections go to a gateway for who.
 */
struct egress *egress_new(const char *run_dir, json_t *ws, bool by_admin,
			  const char *task_name, const struct egress_task *who,
			  uid_t uid, char **cause);
void egress_free(struct egress *e);
/* The pure parts of a request head, for the fuzzer (tests/fuzz). */
#define EGRESS_HOST_MAX 300
/*
 * Read the request line of the NUL-terminated head into method[16] and
 * target[512] and split the CONNECT target into host (EGRESS_HOST_MAX)
 * and port. 0, or the status to refuse with and *why.
 */
int egress_parse_head(const char *head, char *method, char *target, char *host,
		      long *port, const char **why);

#endif
