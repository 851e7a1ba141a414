/*
 * store-rows.h: every SQL statement of the server, behind a name.
 *
 * The server (src/server/) never writes SQL: it calls these, and they
 * call the generic store.h (store_rows, store_exec, ...), so a second
 * backend behind store.h runs them unchanged. The SQL is the part of SQL
 * that SQLite 3.40 and PostgreSQL 15 share: explicit column lists,
 * integers (never booleans), ON CONFLICT ... DO, no LIMIT -1.
 *
 * Conventions: a function returning json_t * returns a new reference
 * (an array of row objects, or one row object) and NULL when there is no
 * row or on an error (logged by the store); row keys are the column
 * names. A function returning int returns 0 or a negative errno: -EEXIST
 * when a unique constraint refused the row, -ENOENT when no row matched,
 * -ENOSPC when the disk is full, else -EIO. Times are milliseconds since
 * the epoch, passed by the caller. The files are by table: users, tokens
 * and sessions in store-users.c; templates, their versions and modules in
 * store-catalog.c; secrets in store-secrets.c; providers in store-providers.c;
 * tasks, their state history and the task counter in store-tasks.c; the send
 * queue in store-queue.c; LLM usage, prices and user budgets in store-usage.c;
 * external auth's configs and links in store-extauth.c.
 */
#ifndef TASKBOX_STORE_ROWS_H
#define TASKBOX_STORE_ROWS_H

#include <stdint.h>

#include "store/store.h"

/* ---- users (store-users.c) ---------------------------------------------- */

/* Every user (all columns), by username; a new array or NULL. */
json_t *store_users_list(struct store *st);
/* Add user id; 0, -EEXIST when the username is taken, or -EIO. */
int store_user_insert(struct store *st, const char *id, const char *username,
		      const char *role, int64_t now);
/* User id (all columns), or NULL. */
json_t *store_user_get(struct store *st, const char *id);
/* The user whose id or username is ref (id, username, role, name, email,
 * created_at), or NULL. */
json_t *store_user_find(struct store *st, const char *ref);
/* User id's username, name and email (for commits), or NULL. */
/* The user whose linked GitHub account is github_user_id, or NULL. */
json_t *store_user_find_github(struct store *st, int64_t github_user_id);
/* Link (github_user_id > 0, its login) or unlink (<= 0) a user's GitHub
 * account; -EEXIST when another user has that id. */
int store_user_set_github(struct store *st, const char *id,
			  int64_t github_user_id, const char *login);
json_t *store_user_identity(struct store *st, const char *id);
/* User id's webhook_url and role, or NULL. */
json_t *store_user_webhook(struct store *st, const char *id);
/* Set user id's name, email and webhook_url, each kept when NULL; 0 or
 * -EIO. */
int store_user_set_profile(struct store *st, const char *id, const char *name,
			   const char *email, const char *webhook_url);
/* The user named username's id, status and password_hash (signing in),
 * or NULL. */
json_t *store_user_login(struct store *st, const char *username);
/* User id's password_hash ('' for none), or NULL. */
json_t *store_user_password(struct store *st, const char *id);
/* Set user id's password_hash ('' removes it); 0, -ENOENT, or -EIO. */
int store_user_set_password(struct store *st, const char *id, const char *hash);
/* Set user id's role and status, each kept when NULL; 0 or -EIO. */
int store_user_set_access(struct store *st, const char *id, const char *role,
			  const char *status);
/* Delete user id's sessions but keep (a session id, or NULL: all of
 * them); 0 or -EIO. */
int store_user_end_sessions(struct store *st, const char *id, const char *keep);
/* How many users there are, or -EIO. */
int64_t store_users_count(struct store *st);
/* The first admin made ({id}), or NULL. */
json_t *store_user_first_admin(struct store *st);
/* {tasks, admins}: user id's tasks not deleted and the admins there are;
 * a new object or NULL. */
json_t *store_user_counts(struct store *st, const char *id);
/* Sign user id out everywhere: delete their sessions and tokens; 0 or the
 * first error. */
int store_user_sign_out(struct store *st, const char *id);
/*
 * Delete user id in one transaction: the rows of their deleted tasks
 * (state history, send queue), their secrets and the template secrets
 * they set for themselves, then the user (tokens and sessions cascade).
 * 0, -EBUSY while a task of theirs is not deleted (nothing changed), or
 * -EIO.
 */
int store_user_delete(struct store *st, const char *id);

/* ---- tokens and sessions (store-users.c) -------------------------------- */

/* Add token id (hash: of the secret) of user_id, expiring at expires_at
 * (0: never); 0, -EEXIST, or -EIO. */
int store_token_insert(struct store *st, const char *id, const char *user_id,
		       const char *name, const char *hash, int64_t now,
		       int64_t expires_at);
/* The user of the token with this hash, with token_id and
 * token_expires_at, or NULL. */
json_t *store_token_find_by_hash(struct store *st, const char *hash);
/* Note token id used at now unless it was within the last gap_ms; 0 or
 * -EIO. */
int store_token_touch(struct store *st, const char *id, int64_t now,
		      int64_t gap_ms);
/* User user_id's tokens (all columns, expired ones too) by creation; a
 * new array or NULL. */
json_t *store_tokens_list(struct store *st, const char *user_id);
/* Revoke token id of user_id; 0, -ENOENT, or -EIO. */
int store_token_delete(struct store *st, const char *id, const char *user_id);
/* Add session id (hash: of the cookie) of user_id under token_id (NULL:
 * a session made from a password), good
 * under path until expires_at; 0, -EEXIST, or -EIO. */
int store_session_insert(struct store *st, const char *id, const char *hash,
			 const char *user_id, const char *token_id,
			 const char *path, int64_t now, int64_t expires_at);
/* Delete every expired session, and user_id's oldest ones past the
 * newest keep; 0 or the first error. */
int store_sessions_prune(struct store *st, const char *user_id, int64_t now,
			 int keep);
/* The user of the session with this hash, with token_id,
 * token_expires_at, session_id, session_path and session_expires_at, or
 * NULL. */
json_t *store_session_find_by_hash(struct store *st, const char *hash);
/* User user_id's sessions not expired at now (all columns) by creation;
 * a new array or NULL. */
json_t *store_sessions_list(struct store *st, const char *user_id, int64_t now);
/* Revoke session id of user_id; 0, -ENOENT, or -EIO. */
int store_session_delete(struct store *st, const char *id, const char *user_id);

/* ---- templates and modules (store-catalog.c) ---------------------------- */

/* The template whose name or id is ref, with its active version (id,
 * name, builtin, created_at, version_id, version, yaml, spec,
 * task_capable, task_reason, updated_at: the active version's
 * created_at), or NULL. */
json_t *store_template_find(struct store *st, const char *ref);
/* Every template with its active version (as store_template_find, without
 * yaml) by name; a new array or NULL. */
json_t *store_templates_list(struct store *st);
/* Template version version_id with its template (version_id, version,
 * spec, task_capable, task_reason, version_created_at,
 * version_created_by: NULL when built in, id, name, builtin,
 * created_at) and
 * by_admin (1: built in, or pushed by someone who is an admin now), or
 * NULL. */
json_t *store_template_version_get(struct store *st, const char *version_id);
/* The first version's author of template_id ({created_by}), or NULL. */
json_t *store_template_author(struct store *st, const char *template_id);
/* The newest limit versions of template_id, newest first (id, version,
 * created_at, created_by, created_by_name: NULL when built in or the
 * user is gone, active: 1 for the active one); a new array or NULL. */
json_t *store_template_versions(struct store *st, const char *template_id,
				int limit);
/* {n, others}: the tasks not deleted of template_id, and how many of them
 * are not user_id's; a new object or NULL. */
json_t *store_template_uses(struct store *st, const char *template_id,
			    const char *user_id);
/*
 * Add version vid of template tid (made first, named name, when name is
 * not NULL) and make it the active one, in one transaction: yaml as
 * written, spec the normalized JSON. 0, -EEXIST, -ENOSPC, or -EIO
 * (nothing changed).
 */
int store_template_version_add(struct store *st, const char *tid,
			       const char *name, int builtin, const char *vid,
			       const char *yaml, const char *spec,
			       int task_capable, const char *task_reason,
			       const char *created_by, int64_t now);
/*
 * Delete template_id in one transaction with its versions, its tasks
 * (all deleted ones) with their rows, and its secrets. 0, -EBUSY while a
 * task of it is not deleted (nothing changed), or -EIO.
 */
int store_template_delete(struct store *st, const char *template_id);
/* Every module (name, spec, builtin, updated_at) by name; a new array or
 * NULL. */
json_t *store_modules_list(struct store *st);
/* Module name (all columns), or NULL. */
json_t *store_module_get(struct store *st, const char *name);
/* Module name's spec ({spec}), or NULL. */
json_t *store_module_spec(struct store *st, const char *name);
/* Add module name, or replace it when its yaml differs; 0, -ENOSPC, or
 * -EIO. */
int store_module_upsert(struct store *st, const char *name, const char *yaml,
			const char *spec, int builtin, const char *created_by,
			int64_t now);

/* ---- secrets (store-secrets.c) ------------------------------------------ */

/* How many secrets are stored, or -EIO. */
int64_t store_secrets_count(struct store *st);
/* Add the sealed secret (scope, scope_id, user_id, name) as id, or seal
 * the existing one anew; 0 or -EIO. */
int store_secret_upsert(struct store *st, const char *id, const char *scope,
			const char *scope_id, const char *user_id,
			const char *name, const char *nonce, const char *ct,
			int64_t now);
/* The secrets (name, user_id, created_at, updated_at) of scope/scope_id
 * that user_id sees (shared ones and their own) by name; a new array or
 * NULL. */
json_t *store_secrets_list(struct store *st, const char *scope,
			   const char *scope_id, const char *user_id);
/* The sealed secret ({id, nonce, ciphertext}), or NULL. */
json_t *store_secret_get(struct store *st, const char *scope,
			 const char *scope_id, const char *user_id,
			 const char *name);
/* Replace secret id's seal; 0 or -EIO. */
int store_secret_reseal(struct store *st, const char *id, const char *nonce,
			const char *ct);
/* Delete the secret; 0, -ENOENT, or -EIO. */
int store_secret_delete(struct store *st, const char *scope,
			const char *scope_id, const char *user_id,
			const char *name);

/* ---- tasks (store-tasks.c) ---------------------------------------------- */

/*
 * Add task id with the next task seq (status and workspace_status
 * 'pending'), in one transaction with the counter. preset_id: the id of
 * the version's preset applied ('' for none); created_by: the user who
 * creates it for owner_id (NULL or '': the owner). 0, -EEXIST when the
 * owner has a task of that name, or -EIO.
 */
int store_task_insert(struct store *st, const char *id, const char *owner_id,
		      const char *name, const char *display_name,
		      const char *version_id, const char *parameters,
		      const char *preset_id, const char *prompt,
		      const char *agent_type, const char *replica_id,
		      const char *created_by, int64_t now);
/* Task id (all columns, and owner_name), or NULL. */
json_t *store_task_get(struct store *st, const char *id);
/* The task not deleted of owner_id whose id or name (any case) is ref
 * ({id}), or NULL. */
json_t *store_task_find(struct store *st, const char *owner_id,
			const char *ref);
/* The tasks not deleted (as store_task_get), of owner_id when not NULL,
 * newest first; a new array or NULL. */
json_t *store_tasks_list(struct store *st, const char *owner_id);
/* The tasks not deleted (as store_task_get) by seq; a new array or
 * NULL. */
json_t *store_tasks_live(struct store *st);
/* Record status, status_reason and workspace_status of task id; 0 or
 * -EIO. */
int store_task_set_status(struct store *st, const char *id, const char *status,
			  const char *reason, const char *ws_status,
			  int64_t now);
/* Replace task id's prompt; 0 or -EIO. */
int store_task_set_prompt(struct store *st, const char *id, const char *prompt,
			  int64_t now);
/* Set flag column (laid_out, prompt_delivered or agent_started) of task
 * id to 1; 0 or -EIO. */
int store_task_set_flag(struct store *st, const char *id, const char *column);
/* Record task id's workspace process (pid, its start time); 0 or -EIO. */
int store_task_set_ws(struct store *st, const char *id, int64_t pid,
		      int64_t starttime);
/* Forget task id's workspace process; 0 or -EIO. */
int store_task_clear_ws(struct store *st, const char *id);
/* Mark task id deleted at now (its row stays until its files are gone);
 * 0 or -EIO. */
int store_task_set_deleted(struct store *st, const char *id, int64_t now);
/* Append to task id's state history; 0 or -EIO. */
int store_task_state_add(struct store *st, const char *id, const char *state,
			 const char *message, const char *uri, int64_t now);
/* Keep only the latest keep entries of task id's state history; 0 or
 * -EIO. */
int store_task_states_trim(struct store *st, const char *id, int64_t keep);
/* Task id's state history (state, message, uri, created_at), oldest
 * first; a new array or NULL. */
json_t *store_task_states(struct store *st, const char *id);
/* Give the tasks not deleted that name no replica ('', from before
 * replicas) to replica_id; 0 or -EIO. */
int store_tasks_claim(struct store *st, const char *replica_id);
/* Task id's latest state (as store_task_states), or NULL. */
json_t *store_task_state_last(struct store *st, const char *id);

/* ---- the send queue (store-queue.c) ------------------------------------- */

/* Queue input for task_id as entry id, last, in state ('queued' or
 * 'sending', then sent at now); 0, -EEXIST, or -EIO. */
int store_queue_push(struct store *st, const char *id, const char *task_id,
		     const char *input, const char *state,
		     const char *created_by, int64_t now);
/* How many entries task_id has, or -EIO. */
int64_t store_queue_length(struct store *st, const char *task_id);
/* Entry id's place (1: next) in task_id's queue, 0 when it is not
 * there. */
int64_t store_queue_position(struct store *st, const char *id,
			     const char *task_id);
/* Entry id (all columns), or NULL. */
json_t *store_queue_get(struct store *st, const char *id);
/* Entry id of task_id ({state}), or NULL. */
json_t *store_queue_state(struct store *st, const char *id,
			  const char *task_id);
/* task_id's entries (all columns) in order; a new array or NULL. */
json_t *store_queue_list(struct store *st, const char *task_id);
/* task_id's first 'queued' entry ({id, input}), or NULL. */
json_t *store_queue_head(struct store *st, const char *task_id);
/* Mark entry id 'sending' (sent at now) if it is 'queued'; 0, -ENOENT
 * (it is not), or -EIO. */
int store_queue_mark_sending(struct store *st, const char *id, int64_t now);
/* Put entry id back to 'queued'; 0 or -EIO. */
int store_queue_requeue(struct store *st, const char *id);
/* Delete entry id; 0, -ENOENT, or -EIO. */
int store_queue_delete(struct store *st, const char *id);
/* Delete every entry of task_id; 0 or -EIO. */
int store_queue_clear(struct store *st, const char *task_id);
/* The entries left 'sending' of the tasks replica_id runs ({id, name:
 * the task's}); a new array or NULL. */
json_t *store_queue_sending(struct store *st, const char *replica_id);
/* task_id's entries left 'sending' ({id, input, sent_at}) in order; a
 * new array or NULL. */
json_t *store_queue_unsettled(struct store *st, const char *task_id);
/* At start: delete the entries of deleted tasks; 0 or -EIO. */
int store_queue_recover(struct store *st);

/* ---- replicas (store-replicas.c) ---------------------------------------- */

/* The database's clock in ms (the replicas' heartbeats use it: replicas
 * on machines whose clocks differ still agree), or -1 on error. */
int64_t store_replica_clock(struct store *st);
/*
 * The cluster's secret as 64 hex digits into out: made from random
 * bytes by the first replica (a second one starting at the same time
 * reads the first one's). 0 or -EIO.
 */
int store_cluster_secret(struct store *st, char out[65]);
/* Record replica id as started now at address (its row replaced); 0 or
 * -EIO. */
int store_replica_register(struct store *st, const char *id,
			   const char *address);
/* Replica id's row ({id, address, started_at, heartbeat_at, age_ms: ms
 * since its heartbeat by the database's clock}), or NULL. */
json_t *store_replica_get(struct store *st, const char *id);

/* ---- providers (store-providers.c) -------------------------------------- */

/* One provider row as written: '' for what was not given; nonce and
 * ciphertext seal the credentials. */
struct store_provider_row {
	const char *name, *type, *url, *region, *project, *ca_pem;
	const char *nonce, *ciphertext;
	int64_t generation;
};
/* Add provider row->name or replace it (created_at kept); 0 or -EIO. */
int store_provider_upsert(struct store *st,
			  const struct store_provider_row *row, int64_t now);
/* Every provider (all columns) by name; a new array or NULL. */
json_t *store_providers_list(struct store *st);
/* How many providers are stored, or -EIO. */
int64_t store_providers_count(struct store *st);
/* Delete provider name; 0, -ENOENT, or -EIO. */
int store_provider_delete(struct store *st, const char *name);

/* ---- external auth (store-extauth.c) ------------------------------------ */

/* An OAuth app as written; nonce and ciphertext seal the client secret. */
struct store_extauth_config_row {
	const char *provider, *client_id, *base_url, *api_url, *scopes;
	const char *callback_url, *nonce, *ciphertext;
};
/* The config of provider (all columns), or NULL. */
json_t *store_extauth_config_get(struct store *st, const char *provider);
/* Add or replace row->provider's config (created_at kept); 0 or -EIO. */
int store_extauth_config_put(struct store *st,
			     const struct store_extauth_config_row *row,
			     int64_t now);
/* Delete provider's config; 0, -ENOENT or -EIO. */
int store_extauth_config_delete(struct store *st, const char *provider);

/* A link as written: nonce and ciphertext seal the token JSON;
 * expires_at 0 for never. */
struct store_extauth_link_row {
	const char *user_id, *provider;
	int64_t external_id;
	const char *login, *name, *avatar_url;
	const char *nonce, *ciphertext;
	int64_t expires_at;
	bool refreshable, set_user_github;
};
/* The link of user_id to provider (all columns), or NULL. */
json_t *store_extauth_link_get(struct store *st, const char *user_id,
			       const char *provider);
/* Add or replace a link (a good one: error cleared, generation bumped,
 * checked now); 0 or -EIO. */
int store_extauth_link_put(struct store *st,
			   const struct store_extauth_link_row *row,
			   int64_t now);
/* Write a refreshed token (nonce, ciphertext, expires_at, refreshable of
 * row) if the link is still at generation; the claim is released. 0,
 * -ENOENT (the link changed meanwhile) or -EIO. */
int store_extauth_link_refreshed(struct store *st,
				 const struct store_extauth_link_row *row,
				 int64_t generation, int64_t now);
/* Delete a link; 0, -ENOENT or -EIO. */
int store_extauth_link_delete(struct store *st, const char *user_id,
			      const char *provider);
/* Mark the link invalid with error if it is still at generation; 0 or
 * -EIO. */
int store_extauth_link_invalidate(struct store *st, const char *user_id,
				  const char *provider, int64_t generation,
				  const char *error, int64_t now);
/* GitHub confirmed the token now: note it and the account's profile. */
int store_extauth_link_checked(struct store *st, const char *user_id,
			       const char *provider, const char *login,
			       const char *name, const char *avatar_url,
			       int64_t now);
/* Claim the refresh of a good link at generation until the time until
 * (ms) unless another claim runs past now: 1 claimed, 0 not, or -EIO. */
int store_extauth_link_claim(struct store *st, const char *user_id,
			     const char *provider, int64_t generation,
			     int64_t until, int64_t now);
/* Good refreshable links expiring before before and not claimed past
 * now, soonest first, at most limit ({user_id, generation, expires_at,
 * refresh_claim}); new array. */
json_t *store_extauth_links_expiring(struct store *st, const char *provider,
				     int64_t before, int64_t limit,
				     int64_t now);
/* {expires_at}: the soonest expiry of a good refreshable link (null when
 * none); new reference or NULL. */
json_t *store_extauth_link_next_expiry(struct store *st, const char *provider);

/* ---- usage, prices, budgets (store-usage.c) ----------------------------- */

/* The counts one usage row adds (nano-USD for the cost). */
struct store_usage_sums {
	int64_t requests, input_tokens, output_tokens;
	int64_t cache_read_input_tokens, cache_creation_input_tokens;
	int64_t cost_nusd;
};
/* Add s to the usage row of (task_id, hour_ms, provider, model), made
 * with owner_id, template_id and provider_type when new; 0 or -EIO. */
int store_usage_add(struct store *st, const char *task_id, int64_t hour_ms,
		    const char *provider, const char *model,
		    const char *owner_id, const char *template_id,
		    const char *provider_type,
		    const struct store_usage_sums *s);
/* Per task not deleted: task_id and the sums (requests, input_tokens,
 * output_tokens, cache_read_input_tokens, cache_creation_input_tokens,
 * cost_nusd); a new array or NULL. */
json_t *store_usage_by_task(struct store *st);
/* Per owner: owner_id and the sums of the rows from from_ms on; a new
 * array or NULL. */
json_t *store_usage_by_owner(struct store *st, int64_t from_ms);
/* Task task_id's sums per provider, provider_type and model; a new array
 * or NULL. */
json_t *store_usage_of_task(struct store *st, const char *task_id);
/*
 * The sums of the rows in [from_ms, to_ms) of owner_id (NULL: everyone)
 * grouped by column ("owner_id", "template_id", "provider" or "model";
 * anything else is a bug), each with its key and, for owners and
 * templates, the name (username or template name; NULL once gone); the
 * limit costliest groups at most; a new array or NULL.
 */
json_t *store_usage_report(struct store *st, const char *column,
			   const char *owner_id, int64_t from_ms, int64_t to_ms,
			   int64_t limit);
/* Every price override (provider_type, model, input_micro, output_micro,
 * cache_read_micro, cache_write_micro, updated_at); a new array or NULL. */
json_t *store_prices_list(struct store *st);
/* Set the override of (provider_type, model); micro-USD per million
 * tokens; 0 or -EIO. */
int store_price_set(struct store *st, const char *provider_type,
		    const char *model, int64_t input, int64_t output,
		    int64_t cache_read, int64_t cache_write, int64_t now);
/* Delete the override; 0, -ENOENT, or -EIO. */
int store_price_delete(struct store *st, const char *provider_type,
		       const char *model);
/* Every user budget (user_id, tokens, usd_nusd: NULL when unset); a new
 * array or NULL. */
json_t *store_user_budgets_list(struct store *st);
/* user_id's budget: an array of its row (tokens, usd_nusd: NULL when
 * unset), empty when none; a new array or NULL (the store failed). */
json_t *store_user_budget_get(struct store *st, const char *user_id);
/* Set user_id's monthly budget (-1: no limit of that kind; both -1
 * removes the row); 0 or -EIO. */
int store_user_budget_set(struct store *st, const char *user_id, int64_t tokens,
			  int64_t usd_nusd, int64_t now);

#endif
