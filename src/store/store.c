/*
 * store.c: the store's front: backend choice, calls, migrations.
 *
 * store_open picks the backend from the spec (a path: SQLite; a
 * postgresql:// or postgres:// URI: PostgreSQL); every call of store.h
 * becomes an array of struct store_param handed to the backend's ops.
 * Both backends run the same statement text: '?' placeholders, SQL that
 * both dialects read the same way.
 *
 * Migrations are an append-only list: migration N moves the schema from
 * version N-1 to N inside one transaction; never edit a released one,
 * add the next. Each step holds its SQLite and its PostgreSQL text side
 * by side (types differ: BIGINT for 64-bit values, identity columns,
 * plpgsql triggers); both must leave the same tables and columns.
 */
#include "common.h"

#include <sodium.h>
#include <stdarg.h>
#include <time.h>

#include "store-backend.h"
#include "store.h"

const struct store_migration store_migrations[] = {
	/* 1: users, tokens, templates, modules, tasks */
	{
		"CREATE TABLE users ("
		"  id TEXT PRIMARY KEY,"
		"  username TEXT NOT NULL UNIQUE,"
		"  role TEXT NOT NULL CHECK (role IN ('admin', 'member')),"
		"  created_at INTEGER NOT NULL);"
		"CREATE TABLE tokens ("
		"  id TEXT PRIMARY KEY,"
		"  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE "
		"CASCADE,"
		"  name TEXT NOT NULL,"
		"  hash TEXT NOT NULL UNIQUE,"
		"  created_at INTEGER NOT NULL,"
		"  last_used_at INTEGER);"
		"CREATE TABLE templates ("
		"  id TEXT PRIMARY KEY,"
		"  name TEXT NOT NULL UNIQUE,"
		"  builtin INTEGER NOT NULL,"
		"  created_at INTEGER NOT NULL,"
		"  active_version_id TEXT);"
		"CREATE TABLE template_versions ("
		"  id TEXT PRIMARY KEY,"
		"  template_id TEXT NOT NULL REFERENCES templates(id),"
		"  version INTEGER NOT NULL,"
		"  yaml TEXT NOT NULL,"
		"  spec TEXT NOT NULL,"
		"  task_capable INTEGER NOT NULL,"
		"  task_reason TEXT NOT NULL,"
		"  created_by TEXT,"
		"  created_at INTEGER NOT NULL,"
		"  UNIQUE (template_id, version));"
		"CREATE TABLE modules ("
		"  name TEXT PRIMARY KEY,"
		"  yaml TEXT NOT NULL,"
		"  spec TEXT NOT NULL,"
		"  builtin INTEGER NOT NULL,"
		"  created_by TEXT,"
		"  created_at INTEGER NOT NULL,"
		"  updated_at INTEGER NOT NULL);"
		"CREATE TABLE tasks ("
		"  id TEXT PRIMARY KEY,"
		"  seq INTEGER NOT NULL UNIQUE,"
		"  owner_id TEXT NOT NULL REFERENCES users(id),"
		"  name TEXT NOT NULL,"
		"  display_name TEXT NOT NULL,"
		"  template_version_id TEXT NOT NULL"
		"    REFERENCES template_versions(id),"
		"  parameters TEXT NOT NULL,"
		"  prompt TEXT NOT NULL,"
		"  status TEXT NOT NULL,"
		"  status_reason TEXT NOT NULL DEFAULT '',"
		"  workspace_status TEXT NOT NULL,"
		"  agent_type TEXT NOT NULL DEFAULT '',"
		"  created_at INTEGER NOT NULL,"
		"  updated_at INTEGER NOT NULL,"
		"  deleted_at INTEGER);"
		"CREATE UNIQUE INDEX tasks_owner_name ON tasks (owner_id, "
		"lower(name))"
		"  WHERE deleted_at IS NULL;"
		"CREATE INDEX tasks_owner_created ON tasks (owner_id, "
		"created_at);",
		"CREATE TABLE users ("
		"  id TEXT PRIMARY KEY,"
		"  username TEXT NOT NULL UNIQUE,"
		"  role TEXT NOT NULL CHECK (role IN ('admin', 'member')),"
		"  created_at BIGINT NOT NULL);"
		"CREATE TABLE tokens ("
		"  id TEXT PRIMARY KEY,"
		"  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE "
		"CASCADE,"
		"  name TEXT NOT NULL,"
		"  hash TEXT NOT NULL UNIQUE,"
		"  created_at BIGINT NOT NULL,"
		"  last_used_at BIGINT);"
		"CREATE TABLE templates ("
		"  id TEXT PRIMARY KEY,"
		"  name TEXT NOT NULL UNIQUE,"
		"  builtin INTEGER NOT NULL,"
		"  created_at BIGINT NOT NULL,"
		"  active_version_id TEXT);"
		"CREATE TABLE template_versions ("
		"  id TEXT PRIMARY KEY,"
		"  template_id TEXT NOT NULL REFERENCES templates(id),"
		"  version INTEGER NOT NULL,"
		"  yaml TEXT NOT NULL,"
		"  spec TEXT NOT NULL,"
		"  task_capable INTEGER NOT NULL,"
		"  task_reason TEXT NOT NULL,"
		"  created_by TEXT,"
		"  created_at BIGINT NOT NULL,"
		"  UNIQUE (template_id, version));"
		"CREATE TABLE modules ("
		"  name TEXT PRIMARY KEY,"
		"  yaml TEXT NOT NULL,"
		"  spec TEXT NOT NULL,"
		"  builtin INTEGER NOT NULL,"
		"  created_by TEXT,"
		"  created_at BIGINT NOT NULL,"
		"  updated_at BIGINT NOT NULL);"
		"CREATE TABLE tasks ("
		"  id TEXT PRIMARY KEY,"
		"  seq BIGINT NOT NULL UNIQUE,"
		"  owner_id TEXT NOT NULL REFERENCES users(id),"
		"  name TEXT NOT NULL,"
		"  display_name TEXT NOT NULL,"
		"  template_version_id TEXT NOT NULL"
		"    REFERENCES template_versions(id),"
		"  parameters TEXT NOT NULL,"
		"  prompt TEXT NOT NULL,"
		"  status TEXT NOT NULL,"
		"  status_reason TEXT NOT NULL DEFAULT '',"
		"  workspace_status TEXT NOT NULL,"
		"  agent_type TEXT NOT NULL DEFAULT '',"
		"  created_at BIGINT NOT NULL,"
		"  updated_at BIGINT NOT NULL,"
		"  deleted_at BIGINT);"
		"CREATE UNIQUE INDEX tasks_owner_name ON tasks (owner_id, "
		"lower(name))"
		"  WHERE deleted_at IS NULL;"
		"CREATE INDEX tasks_owner_created ON tasks (owner_id, "
		"created_at);",
	},
	/* 2: user identity (name, email); encrypted secrets */
	{
		"ALTER TABLE users ADD COLUMN name TEXT NOT NULL DEFAULT '';"
		"ALTER TABLE users ADD COLUMN email TEXT NOT NULL DEFAULT '';"
		"CREATE TABLE secrets ("
		"  id TEXT PRIMARY KEY,"
		"  scope TEXT NOT NULL CHECK (scope IN ('user', 'template')),"
		"  scope_id TEXT NOT NULL,"
		"  name TEXT NOT NULL,"
		"  nonce TEXT NOT NULL,"
		"  ciphertext TEXT NOT NULL,"
		"  created_at INTEGER NOT NULL,"
		"  updated_at INTEGER NOT NULL,"
		"  UNIQUE (scope, scope_id, name));",
		"ALTER TABLE users ADD COLUMN name TEXT NOT NULL DEFAULT '';"
		"ALTER TABLE users ADD COLUMN email TEXT NOT NULL DEFAULT '';"
		"CREATE TABLE secrets ("
		"  id TEXT PRIMARY KEY,"
		"  scope TEXT NOT NULL CHECK (scope IN ('user', 'template')),"
		"  scope_id TEXT NOT NULL,"
		"  name TEXT NOT NULL,"
		"  nonce TEXT NOT NULL,"
		"  ciphertext TEXT NOT NULL,"
		"  created_at BIGINT NOT NULL,"
		"  updated_at BIGINT NOT NULL,"
		"  CONSTRAINT secrets_name UNIQUE (scope, scope_id, name));",
	},
	/* 3: the state history; the workspace's process for re-attaching */
	{
		"CREATE TABLE task_states ("
		"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
		"  task_id TEXT NOT NULL REFERENCES tasks(id),"
		"  state TEXT NOT NULL,"
		"  message TEXT NOT NULL,"
		"  uri TEXT NOT NULL,"
		"  created_at INTEGER NOT NULL);"
		"CREATE INDEX task_states_task ON task_states (task_id, id);"
		"ALTER TABLE tasks ADD COLUMN ws_pid INTEGER;"
		"ALTER TABLE tasks ADD COLUMN ws_starttime INTEGER;"
		"ALTER TABLE users ADD COLUMN webhook_url TEXT NOT NULL "
		"DEFAULT '';",
		"CREATE TABLE task_states ("
		"  id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
		"  task_id TEXT NOT NULL REFERENCES tasks(id),"
		"  state TEXT NOT NULL,"
		"  message TEXT NOT NULL,"
		"  uri TEXT NOT NULL,"
		"  created_at BIGINT NOT NULL);"
		"CREATE INDEX task_states_task ON task_states (task_id, id);"
		"ALTER TABLE tasks ADD COLUMN ws_pid BIGINT;"
		"ALTER TABLE tasks ADD COLUMN ws_starttime BIGINT;"
		"ALTER TABLE users ADD COLUMN webhook_url TEXT NOT NULL "
		"DEFAULT '';",
	},
	/*
	 * 4: whose a template secret is (user_id '' = every user of the
	 * template, set by an admin; else only that user's tasks); token
	 * expiry; browser sessions. A template secret stored before is
	 * attributed to the template's author when the author is not an
	 * admin (they, or an admin, set it: the safe reading is theirs
	 * alone); for built-ins and admins' templates only admins could set
	 * it, so it stays shared.
	 */
	{
		"CREATE TABLE secrets_v4 ("
		"  id TEXT PRIMARY KEY,"
		"  scope TEXT NOT NULL CHECK (scope IN ('user', 'template')),"
		"  scope_id TEXT NOT NULL,"
		"  user_id TEXT NOT NULL DEFAULT '',"
		"  name TEXT NOT NULL,"
		"  nonce TEXT NOT NULL,"
		"  ciphertext TEXT NOT NULL,"
		"  created_at INTEGER NOT NULL,"
		"  updated_at INTEGER NOT NULL,"
		"  UNIQUE (scope, scope_id, user_id, name));"
		"CREATE TEMP VIEW secrets_author AS SELECT s.id AS id, ("
		"  SELECT v.created_by FROM template_versions v"
		"  WHERE v.template_id = s.scope_id ORDER BY v.version LIMIT 1)"
		"  AS author FROM secrets s WHERE s.scope = 'template';"
		"INSERT INTO secrets_v4 SELECT s.id, s.scope, s.scope_id,"
		"  coalesce((SELECT a.author FROM secrets_author a"
		"    WHERE a.id = s.id AND a.author IS NOT NULL AND"
		"    (SELECT role FROM users WHERE id = a.author) IS NOT "
		"'admin'),"
		"    ''),"
		"  s.name, s.nonce, s.ciphertext, s.created_at, s.updated_at"
		"  FROM secrets s;"
		"DROP VIEW secrets_author;"
		"DROP TABLE secrets;"
		"ALTER TABLE secrets_v4 RENAME TO secrets;"
		"ALTER TABLE tokens ADD COLUMN expires_at INTEGER;"
		"CREATE TABLE sessions ("
		"  id TEXT PRIMARY KEY,"
		"  hash TEXT NOT NULL UNIQUE,"
		"  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE "
		"CASCADE,"
		"  token_id TEXT NOT NULL REFERENCES tokens(id) ON DELETE "
		"CASCADE,"
		"  path TEXT NOT NULL,"
		"  created_at INTEGER NOT NULL,"
		"  expires_at INTEGER NOT NULL);"
		"CREATE INDEX sessions_token ON sessions (token_id);"
		"CREATE INDEX sessions_user ON sessions (user_id, created_at);",
		"ALTER TABLE secrets ADD COLUMN user_id TEXT NOT NULL DEFAULT "
		"'';"
		"UPDATE secrets s SET user_id = a.author FROM ("
		"  SELECT s2.id, (SELECT v.created_by FROM template_versions v"
		"    WHERE v.template_id = s2.scope_id ORDER BY v.version"
		"    LIMIT 1) AS author"
		"  FROM secrets s2 WHERE s2.scope = 'template') a"
		"  WHERE a.id = s.id AND a.author IS NOT NULL AND"
		"  (SELECT role FROM users WHERE id = a.author)"
		"    IS DISTINCT FROM 'admin';"
		"ALTER TABLE secrets DROP CONSTRAINT secrets_name;"
		"ALTER TABLE secrets ADD CONSTRAINT secrets_name"
		"  UNIQUE (scope, scope_id, user_id, name);"
		"ALTER TABLE tokens ADD COLUMN expires_at BIGINT;"
		"CREATE TABLE sessions ("
		"  id TEXT PRIMARY KEY,"
		"  hash TEXT NOT NULL UNIQUE,"
		"  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE "
		"CASCADE,"
		"  token_id TEXT NOT NULL REFERENCES tokens(id) ON DELETE "
		"CASCADE,"
		"  path TEXT NOT NULL,"
		"  created_at BIGINT NOT NULL,"
		"  expires_at BIGINT NOT NULL);"
		"CREATE INDEX sessions_token ON sessions (token_id);"
		"CREATE INDEX sessions_user ON sessions (user_id, created_at);",
	},
	/*
	 * 5: the send queue (server/queue.c). An entry is 'queued' until
	 * the server starts delivering it, 'sending' while it does; a
	 * delivered or cancelled entry is deleted. 'sending' is committed
	 * before the runtime is asked, so a crash in between never sends
	 * it again (at most once).
	 */
	{
		"CREATE TABLE task_queue ("
		"  id TEXT PRIMARY KEY,"
		"  task_id TEXT NOT NULL REFERENCES tasks(id),"
		"  seq INTEGER NOT NULL,"
		"  input TEXT NOT NULL,"
		"  state TEXT NOT NULL CHECK (state IN ('queued', 'sending')),"
		"  created_by TEXT NOT NULL,"
		"  created_at INTEGER NOT NULL,"
		"  UNIQUE (task_id, seq));",
		"CREATE TABLE task_queue ("
		"  id TEXT PRIMARY KEY,"
		"  task_id TEXT NOT NULL REFERENCES tasks(id),"
		"  seq BIGINT NOT NULL,"
		"  input TEXT NOT NULL,"
		"  state TEXT NOT NULL CHECK (state IN ('queued', 'sending')),"
		"  created_by TEXT NOT NULL,"
		"  created_at BIGINT NOT NULL,"
		"  UNIQUE (task_id, seq));",
	},
	/*
	 * 6: what the server itself saw of a task, never read back from
	 * its files: its home was laid out (a restart never seeds it
	 * again), its prompt was delivered, an agent ran. Tasks from
	 * before count as all three (never re-seed, never send twice).
	 * And the last task seq handed out, which only grows: a deleted
	 * task's seq (its uid) is never given again while its files may
	 * still be going away.
	 */
	{
		"ALTER TABLE tasks ADD COLUMN laid_out INTEGER NOT NULL "
		"DEFAULT 0;"
		"ALTER TABLE tasks ADD COLUMN prompt_delivered INTEGER NOT "
		"NULL "
		"  DEFAULT 0;"
		"ALTER TABLE tasks ADD COLUMN agent_started INTEGER NOT NULL "
		"  DEFAULT 0;"
		"UPDATE tasks SET laid_out = 1, prompt_delivered = 1, "
		"  agent_started = 1;"
		"CREATE TABLE counters ("
		"  name TEXT PRIMARY KEY,"
		"  value INTEGER NOT NULL);"
		"INSERT INTO counters (name, value) SELECT 'task_seq', "
		"  COALESCE(MAX(seq), 0) FROM tasks;"
		"CREATE TRIGGER tasks_seq AFTER INSERT ON tasks BEGIN"
		"  UPDATE counters SET value = max(value, NEW.seq)"
		"  WHERE name = 'task_seq';"
		"END;",
		"ALTER TABLE tasks ADD COLUMN laid_out INTEGER NOT NULL "
		"DEFAULT 0;"
		"ALTER TABLE tasks ADD COLUMN prompt_delivered INTEGER NOT "
		"NULL "
		"  DEFAULT 0;"
		"ALTER TABLE tasks ADD COLUMN agent_started INTEGER NOT NULL "
		"  DEFAULT 0;"
		"UPDATE tasks SET laid_out = 1, prompt_delivered = 1, "
		"  agent_started = 1;"
		"CREATE TABLE counters ("
		"  name TEXT PRIMARY KEY,"
		"  value BIGINT NOT NULL);"
		"INSERT INTO counters (name, value) SELECT 'task_seq', "
		"  COALESCE(MAX(seq), 0) FROM tasks;"
		"CREATE FUNCTION tasks_seq_bump() RETURNS trigger"
		"  LANGUAGE plpgsql AS $$ BEGIN"
		"  UPDATE counters SET value = GREATEST(value, NEW.seq)"
		"  WHERE name = 'task_seq'; RETURN NULL; END $$;"
		"CREATE TRIGGER tasks_seq AFTER INSERT ON tasks"
		"  FOR EACH ROW EXECUTE FUNCTION tasks_seq_bump();",
	},
	/*
	 * 7: replicas on one PostgreSQL (server/replica.c). The replica
	 * that runs a task's workspace ('' for SQLite and tasks from
	 * before: the only server); the replicas with the address others
	 * reach them at and their heartbeat (the database's clock, ms);
	 * the cluster's secret that signs requests one replica forwards
	 * to another (made once by the first replica). SQLite gets the
	 * same tables and never fills them.
	 */
	{
		"ALTER TABLE tasks ADD COLUMN replica_id TEXT NOT NULL "
		"DEFAULT '';"
		"CREATE INDEX tasks_replica ON tasks (replica_id);"
		"CREATE TABLE replicas ("
		"  id TEXT PRIMARY KEY,"
		"  address TEXT NOT NULL,"
		"  started_at INTEGER NOT NULL,"
		"  heartbeat_at INTEGER NOT NULL);"
		"CREATE TABLE cluster ("
		"  id INTEGER PRIMARY KEY CHECK (id = 1),"
		"  secret TEXT NOT NULL);",
		"ALTER TABLE tasks ADD COLUMN replica_id TEXT NOT NULL "
		"DEFAULT '';"
		"CREATE INDEX tasks_replica ON tasks (replica_id);"
		"CREATE TABLE replicas ("
		"  id TEXT PRIMARY KEY,"
		"  address TEXT NOT NULL,"
		"  started_at BIGINT NOT NULL,"
		"  heartbeat_at BIGINT NOT NULL);"
		"CREATE TABLE cluster ("
		"  id INTEGER PRIMARY KEY CHECK (id = 1),"
		"  secret TEXT NOT NULL);",
	},
	/*
	 * 8: signing in with a password (server/api-login.c). A user's
	 * argon2id hash ('' = no password) and status ('suspended': every
	 * credential refused); a site session (path '/') made from a
	 * password has no token. SQLite cannot drop a NOT NULL, so its
	 * sessions table is rebuilt (copied, dropped, renamed, its indexes
	 * made again; nothing points at it).
	 */
	{
		"ALTER TABLE users ADD COLUMN password_hash TEXT NOT NULL "
		"DEFAULT '';"
		"ALTER TABLE users ADD COLUMN status TEXT NOT NULL DEFAULT "
		"'active' CHECK (status IN ('active', 'suspended'));"
		"CREATE TABLE sessions_v8 ("
		"  id TEXT PRIMARY KEY,"
		"  hash TEXT NOT NULL UNIQUE,"
		"  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE "
		"CASCADE,"
		"  token_id TEXT REFERENCES tokens(id) ON DELETE CASCADE,"
		"  path TEXT NOT NULL,"
		"  created_at INTEGER NOT NULL,"
		"  expires_at INTEGER NOT NULL);"
		"INSERT INTO sessions_v8 SELECT id, hash, user_id, token_id, "
		"path, created_at, expires_at FROM sessions;"
		"DROP TABLE sessions;"
		"ALTER TABLE sessions_v8 RENAME TO sessions;"
		"CREATE INDEX sessions_token ON sessions (token_id);"
		"CREATE INDEX sessions_user ON sessions (user_id, created_at);",
		"ALTER TABLE users ADD COLUMN password_hash TEXT NOT NULL "
		"DEFAULT '';"
		"ALTER TABLE users ADD COLUMN status TEXT NOT NULL DEFAULT "
		"'active' CHECK (status IN ('active', 'suspended'));"
		"ALTER TABLE sessions ALTER COLUMN token_id DROP NOT NULL;",
	},
	/*
	 * 9: LLM providers (gateway/provider.c). url, region and project
	 * are '' when not given (the type's default applies); the
	 * credentials are one JSON object sealed like a secret (nonce,
	 * ciphertext: base64) bound to the row (name, type, url, region,
	 * project, ca_pem); generation is a random number made anew by
	 * every write, so a cache sees a change.
	 */
	{
		"CREATE TABLE providers ("
		"  name TEXT PRIMARY KEY,"
		"  type TEXT NOT NULL,"
		"  url TEXT NOT NULL,"
		"  region TEXT NOT NULL,"
		"  project TEXT NOT NULL,"
		"  ca_pem TEXT NOT NULL,"
		"  nonce TEXT NOT NULL,"
		"  ciphertext TEXT NOT NULL,"
		"  generation INTEGER NOT NULL,"
		"  created_at INTEGER NOT NULL,"
		"  updated_at INTEGER NOT NULL);",
		"CREATE TABLE providers ("
		"  name TEXT PRIMARY KEY,"
		"  type TEXT NOT NULL,"
		"  url TEXT NOT NULL,"
		"  region TEXT NOT NULL,"
		"  project TEXT NOT NULL,"
		"  ca_pem TEXT NOT NULL,"
		"  nonce TEXT NOT NULL,"
		"  ciphertext TEXT NOT NULL,"
		"  generation BIGINT NOT NULL,"
		"  created_at BIGINT NOT NULL,"
		"  updated_at BIGINT NOT NULL);",
	},
	/*
	 * 10: LLM usage, prices and budgets (gateway/account.c). Usage rows
	 * add up per task, provider and model per hour (hour_ms: the start
	 * of the UTC hour), with the owner and template copied in so that
	 * reports need no join with tasks; cost in nano-USD, so sums are
	 * exact. prices: an admin's micro-USD per million tokens for a
	 * provider type and model prefix, over the built-in table.
	 * user_budgets: an admin's monthly limit per user (NULL: none), in
	 * tokens and in nano-USD.
	 */
	{
		"CREATE TABLE usage ("
		"  task_id TEXT NOT NULL,"
		"  hour_ms INTEGER NOT NULL,"
		"  provider TEXT NOT NULL,"
		"  model TEXT NOT NULL,"
		"  owner_id TEXT NOT NULL,"
		"  template_id TEXT NOT NULL,"
		"  provider_type TEXT NOT NULL,"
		"  requests INTEGER NOT NULL,"
		"  input_tokens INTEGER NOT NULL,"
		"  output_tokens INTEGER NOT NULL,"
		"  cache_read_input_tokens INTEGER NOT NULL,"
		"  cache_creation_input_tokens INTEGER NOT NULL,"
		"  cost_nusd INTEGER NOT NULL,"
		"  PRIMARY KEY (task_id, hour_ms, provider, model));"
		"CREATE INDEX usage_hour ON usage (hour_ms);"
		"CREATE INDEX usage_owner_hour ON usage (owner_id, hour_ms);"
		"CREATE TABLE prices ("
		"  provider_type TEXT NOT NULL,"
		"  model TEXT NOT NULL,"
		"  input_micro INTEGER NOT NULL,"
		"  output_micro INTEGER NOT NULL,"
		"  cache_read_micro INTEGER NOT NULL,"
		"  cache_write_micro INTEGER NOT NULL,"
		"  updated_at INTEGER NOT NULL,"
		"  PRIMARY KEY (provider_type, model));"
		"CREATE TABLE user_budgets ("
		"  user_id TEXT PRIMARY KEY REFERENCES users(id) ON DELETE "
		"CASCADE,"
		"  tokens INTEGER,"
		"  usd_nusd INTEGER,"
		"  updated_at INTEGER NOT NULL);",
		"CREATE TABLE usage ("
		"  task_id TEXT NOT NULL,"
		"  hour_ms BIGINT NOT NULL,"
		"  provider TEXT NOT NULL,"
		"  model TEXT NOT NULL,"
		"  owner_id TEXT NOT NULL,"
		"  template_id TEXT NOT NULL,"
		"  provider_type TEXT NOT NULL,"
		"  requests BIGINT NOT NULL,"
		"  input_tokens BIGINT NOT NULL,"
		"  output_tokens BIGINT NOT NULL,"
		"  cache_read_input_tokens BIGINT NOT NULL,"
		"  cache_creation_input_tokens BIGINT NOT NULL,"
		"  cost_nusd BIGINT NOT NULL,"
		"  PRIMARY KEY (task_id, hour_ms, provider, model));"
		"CREATE INDEX usage_hour ON usage (hour_ms);"
		"CREATE INDEX usage_owner_hour ON usage (owner_id, hour_ms);"
		"CREATE TABLE prices ("
		"  provider_type TEXT NOT NULL,"
		"  model TEXT NOT NULL,"
		"  input_micro BIGINT NOT NULL,"
		"  output_micro BIGINT NOT NULL,"
		"  cache_read_micro BIGINT NOT NULL,"
		"  cache_write_micro BIGINT NOT NULL,"
		"  updated_at BIGINT NOT NULL,"
		"  PRIMARY KEY (provider_type, model));"
		"CREATE TABLE user_budgets ("
		"  user_id TEXT PRIMARY KEY REFERENCES users(id) ON DELETE "
		"CASCADE,"
		"  tokens BIGINT,"
		"  usd_nusd BIGINT,"
		"  updated_at BIGINT NOT NULL);",
	},
	/*
	 * 11: Coder's clients (issue 13). users: the role 'task-creator'
	 * (a bot token's user, which may create tasks for members), the
	 * linked GitHub account (github_user_id: NULL when none, unique;
	 * github_login). SQLite cannot change a CHECK: the table is
	 * rebuilt (foreign keys are off while migrations run). tasks:
	 * created_by (the user who created it for its owner; '' for the
	 * owner), preset_id (the template version's preset applied at
	 * creation; '' for none).
	 */
	{
		"CREATE TABLE users_v11 ("
		"  id TEXT PRIMARY KEY,"
		"  username TEXT NOT NULL UNIQUE,"
		"  role TEXT NOT NULL"
		"    CHECK (role IN ('admin', 'member', 'task-creator')),"
		"  created_at INTEGER NOT NULL,"
		"  name TEXT NOT NULL DEFAULT '',"
		"  email TEXT NOT NULL DEFAULT '',"
		"  webhook_url TEXT NOT NULL DEFAULT '',"
		"  password_hash TEXT NOT NULL DEFAULT '',"
		"  status TEXT NOT NULL DEFAULT 'active'"
		"    CHECK (status IN ('active', 'suspended')),"
		"  github_user_id INTEGER UNIQUE,"
		"  github_login TEXT NOT NULL DEFAULT '');"
		"INSERT INTO users_v11 (id, username, role, created_at, name,"
		"  email, webhook_url, password_hash, status)"
		"  SELECT id, username, role, created_at, name, email,"
		"  webhook_url, password_hash, status FROM users;"
		"DROP TABLE users;"
		"ALTER TABLE users_v11 RENAME TO users;"
		"ALTER TABLE tasks ADD COLUMN created_by TEXT NOT NULL "
		"DEFAULT '';"
		"ALTER TABLE tasks ADD COLUMN preset_id TEXT NOT NULL "
		"DEFAULT '';",
		"ALTER TABLE users DROP CONSTRAINT users_role_check;"
		"ALTER TABLE users ADD CONSTRAINT users_role_check"
		"  CHECK (role IN ('admin', 'member', 'task-creator'));"
		"ALTER TABLE users ADD COLUMN github_user_id BIGINT UNIQUE;"
		"ALTER TABLE users ADD COLUMN github_login TEXT NOT NULL "
		"DEFAULT '';"
		"ALTER TABLE tasks ADD COLUMN created_by TEXT NOT NULL "
		"DEFAULT '';"
		"ALTER TABLE tasks ADD COLUMN preset_id TEXT NOT NULL "
		"DEFAULT '';",
	},
	/*
	 * 12: external auth (server/extauth.c). external_auth_configs: an
	 * admin's OAuth app per provider ('github'), the callback URL sent
	 * to it as redirect_uri, its client secret sealed (nonce,
	 * ciphertext). external_auth_links: one per user and
	 * provider, the token JSON ({access_token, refresh_token?}) sealed,
	 * the account's id and login, expires_at (ms, NULL: never),
	 * refreshable, error ('' while the link is good), set_user_github
	 * (the link set users.github_user_id, so unlinking clears it),
	 * generation (+1 at every token write) and refresh_claim (ms: a
	 * replica refreshing the token holds it until then; GitHub rotates
	 * refresh tokens, so two must never refresh one token), checked_at
	 * (when GitHub last confirmed the token). Links go with their user.
	 */
	{
		"CREATE TABLE external_auth_configs ("
		"  provider TEXT PRIMARY KEY,"
		"  client_id TEXT NOT NULL,"
		"  base_url TEXT NOT NULL,"
		"  api_url TEXT NOT NULL,"
		"  scopes TEXT NOT NULL,"
		"  callback_url TEXT NOT NULL,"
		"  nonce TEXT NOT NULL,"
		"  ciphertext TEXT NOT NULL,"
		"  created_at INTEGER NOT NULL,"
		"  updated_at INTEGER NOT NULL);"
		"CREATE TABLE external_auth_links ("
		"  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE "
		"CASCADE,"
		"  provider TEXT NOT NULL,"
		"  external_id INTEGER NOT NULL,"
		"  login TEXT NOT NULL,"
		"  name TEXT NOT NULL,"
		"  avatar_url TEXT NOT NULL,"
		"  nonce TEXT NOT NULL,"
		"  ciphertext TEXT NOT NULL,"
		"  expires_at INTEGER,"
		"  refreshable INTEGER NOT NULL,"
		"  error TEXT NOT NULL DEFAULT '',"
		"  set_user_github INTEGER NOT NULL DEFAULT 0,"
		"  generation INTEGER NOT NULL,"
		"  refresh_claim INTEGER NOT NULL DEFAULT 0,"
		"  checked_at INTEGER NOT NULL DEFAULT 0,"
		"  created_at INTEGER NOT NULL,"
		"  updated_at INTEGER NOT NULL,"
		"  PRIMARY KEY (user_id, provider));"
		"CREATE INDEX external_auth_links_expiry"
		"  ON external_auth_links (expires_at);",
		"CREATE TABLE external_auth_configs ("
		"  provider TEXT PRIMARY KEY,"
		"  client_id TEXT NOT NULL,"
		"  base_url TEXT NOT NULL,"
		"  api_url TEXT NOT NULL,"
		"  scopes TEXT NOT NULL,"
		"  callback_url TEXT NOT NULL,"
		"  nonce TEXT NOT NULL,"
		"  ciphertext TEXT NOT NULL,"
		"  created_at BIGINT NOT NULL,"
		"  updated_at BIGINT NOT NULL);"
		"CREATE TABLE external_auth_links ("
		"  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE "
		"CASCADE,"
		"  provider TEXT NOT NULL,"
		"  external_id BIGINT NOT NULL,"
		"  login TEXT NOT NULL,"
		"  name TEXT NOT NULL,"
		"  avatar_url TEXT NOT NULL,"
		"  nonce TEXT NOT NULL,"
		"  ciphertext TEXT NOT NULL,"
		"  expires_at BIGINT,"
		"  refreshable INTEGER NOT NULL,"
		"  error TEXT NOT NULL DEFAULT '',"
		"  set_user_github INTEGER NOT NULL DEFAULT 0,"
		"  generation BIGINT NOT NULL,"
		"  refresh_claim BIGINT NOT NULL DEFAULT 0,"
		"  checked_at BIGINT NOT NULL DEFAULT 0,"
		"  created_at BIGINT NOT NULL,"
		"  updated_at BIGINT NOT NULL,"
		"  PRIMARY KEY (user_id, provider));"
		"CREATE INDEX external_auth_links_expiry"
		"  ON external_auth_links (expires_at);",
	},
	/*
	 * 13: when a queued entry started 'sending' (wall ms; 0 while
	 * queued): a server that restarts settles it against the runtime's
	 * transcript, a user message with its text from then on.
	 */
	{
		"ALTER TABLE task_queue ADD COLUMN sent_at INTEGER NOT NULL "
		"DEFAULT 0;",
		"ALTER TABLE task_queue ADD COLUMN sent_at BIGINT NOT NULL "
		"DEFAULT 0;",
	},
};

const int store_migrations_count = (int)ARRAY_SIZE(store_migrations);

void
store_uuid(char out[37])
{
	unsigned char b[16];

	randombytes_buf(b, sizeof b);
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	snprintf(out, 37,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
		 "%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9],
		 b[10], b[11], b[12], b[13], b[14], b[15]);
}

bool
store_spec_is_postgres(const char *spec)
{
	return strncmp(spec, "postgresql://", 13) == 0 ||
	       strncmp(spec, "postgres://", 11) == 0;
}

int
store_open(const char *spec, struct store **out, char **cause)
{
	if (sodium_init() < 0) {
		*cause = xstrdup("libsodium failed to initialise");
		return -EIO;
	}
	if (store_spec_is_postgres(spec))
		return store_pg_open(spec, out, cause);
	return store_sqlite_open(spec, out, cause);
}

void
store_close(struct store *st)
{
	if (st != NULL)
		st->ops->close(st);
}

int
store_schema_version(struct store *st)
{
	return st->version;
}

const char *
store_backend(struct store *st)
{
	return st->ops->name;
}

void
store_on_timing(struct store *st, void (*cb)(uint64_t ns, void *data),
		void *data)
{
	st->timing = cb;
	st->timing_data = data;
}

/* The monotonic clock in nanoseconds (0 when nobody times the calls). */
static uint64_t
store_clock(const struct store *st)
{
	struct timespec ts;

	if (st->timing == NULL)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * Run sql with fmt's parameters from ap (see store.h); the rows as a new
 * array or NULL with *err. The call's time goes to the timing hook.
 */
static json_t *
store_vrun(struct store *st, int *err, const char *sql, const char *fmt,
	   va_list ap)
{
	int n = (int)strlen(fmt), e = 0;
	struct store_param *p = xcalloc((size_t)MAX(n, 1), sizeof *p);
	uint64_t start;
	json_t *rows;

	for (int i = 0; i < n; i++) {
		p[i].type = fmt[i];
		switch (fmt[i]) {
		case 's':
			p[i].s = va_arg(ap, const char *);
			break;
		case 'i':
			p[i].i = va_arg(ap, int64_t);
			break;
		case 'I':
			p[i].i = va_arg(ap, int);
			break;
		default:
			BUG();
		}
	}
	start = store_clock(st);
	rows = st->ops->run(st, &e, sql, p, n);
	if (st->timing != NULL)
		st->timing(store_clock(st) - start, st->timing_data);
	free(p);
	if (err != NULL)
		*err = rows != NULL ? 0 : e;
	return rows;
}

json_t *
store_rows(struct store *st, int *err, const char *sql, const char *fmt, ...)
{
	va_list ap;
	json_t *rows;

	va_start(ap, fmt);
	rows = store_vrun(st, err, sql, fmt, ap);
	va_end(ap);
	return rows;
}

json_t *
store_row(struct store *st, const char *sql, const char *fmt, ...)
{
	va_list ap;
	json_t *rows, *row = NULL;

	va_start(ap, fmt);
	rows = store_vrun(st, NULL, sql, fmt, ap);
	va_end(ap);
	if (rows != NULL && json_array_size(rows) > 0)
		row = json_incref(json_array_get(rows, 0));
	json_decref(rows);
	return row;
}

int
store_exec(struct store *st, const char *sql, const char *fmt, ...)
{
	va_list ap;
	json_t *rows;
	int e;

	va_start(ap, fmt);
	rows = store_vrun(st, &e, sql, fmt, ap);
	va_end(ap);
	json_decref(rows);
	return e;
}

int
store_changes(struct store *st)
{
	return st->ops->changes(st);
}

int
store_begin(struct store *st)
{
	return store_exec(st, st->ops->begin, "");
}

int
store_commit(struct store *st)
{
	return store_exec(st, "COMMIT", "");
}

void
store_rollback(struct store *st)
{
	store_exec(st, "ROLLBACK", "");
}
