/*
 * store-catalog.c: the templates, template_versions and modules tables
 * (store-rows.h).
 *
 * Data model: a template (unique name, built in or pushed) points at its
 * active version; versions are numbered 1, 2, ... per template and keep
 * the YAML as written, the normalized spec (JSON text) and who pushed
 * it (NULL: built in). Tasks point at the version they run. A module is
 * kept by name, latest wins. Deleting a template takes its versions,
 * its tasks' rows and its secrets with it, children first.
 */
#include "common.h"

#include "store/store-rows.h"

#define TEMPLATE_SELECT                                                        \
	"SELECT t.id, t.name, t.builtin, t.created_at, v.id AS version_id, "   \
	"v.version, v.yaml, v.spec, v.task_capable, v.task_reason, "           \
	"v.created_at AS updated_at "                                          \
	"FROM templates t JOIN template_versions v ON "                        \
	"v.id = t.active_version_id "
#define MODULE_COLUMNS                                                         \
	"name, yaml, spec, builtin, created_by, created_at, updated_at"

json_t *
store_template_find(struct store *st, const char *ref)
{
	return store_row(st, TEMPLATE_SELECT "WHERE t.name = ? OR t.id = ?",
			 "ss", ref, ref);
}

json_t *
store_templates_list(struct store *st)
{
	return store_rows(
		st, NULL,
		"SELECT t.id, t.name, t.builtin, t.created_at, v.id AS "
		"version_id, v.version, v.spec, v.task_capable, v.task_reason, "
		"v.created_at AS updated_at FROM templates t JOIN "
		"template_versions v ON v.id = "
		"t.active_version_id ORDER BY t.name",
		"");
}

json_t *
store_template_version_get(struct store *st, const char *version_id)
{
	return store_row(
		st,
		"SELECT v.id AS version_id, v.version, v.spec, v.task_capable, "
		"v.task_reason, v.created_at AS version_created_at, "
		"v.created_by AS version_created_by, t.id, t.name, t.builtin, "
		"t.created_at, "
		/* built in, or pushed by someone who is an admin now */
		"CASE WHEN v.created_by IS NULL OR EXISTS (SELECT 1 FROM users "
		"u WHERE u.id = v.created_by AND u.role = 'admin') THEN 1 ELSE "
		"0 END AS by_admin FROM template_versions v JOIN templates t "
		"ON t.id = v.template_id WHERE v.id = ?",
		"s", version_id);
}

json_t *
store_template_author(struct store *st, const char *template_id)
{
	return store_row(st,
			 "SELECT created_by FROM template_versions WHERE "
			 "template_id = ? ORDER BY version LIMIT 1",
			 "s", template_id);
}

json_t *
store_template_versions(struct store *st, const char *template_id, int limit)
{
	return store_rows(
		st, NULL,
		"SELECT v.id, v.version, v.created_at, v.created_by, "
		"u.username AS created_by_name, CASE WHEN t.active_version_id "
		"= v.id THEN 1 ELSE 0 END AS active FROM template_versions v "
		"JOIN templates t ON t.id = v.template_id LEFT JOIN users u ON "
		"u.id = v.created_by WHERE v.template_id = ? ORDER BY "
		"v.version DESC LIMIT ?",
		"sI", template_id, limit);
}

json_t *
store_template_uses(struct store *st, const char *template_id,
		    const char *user_id)
{
	return store_row(st,
			 "SELECT count(*) AS n, coalesce(sum(CASE WHEN "
			 "t.owner_id <> ? THEN 1 ELSE 0 END), 0) AS others "
			 "FROM tasks t JOIN template_versions v ON v.id = "
			 "t.template_version_id WHERE v.template_id = ? AND "
			 "t.deleted_at IS NULL",
			 "ss", user_id, template_id);
}

int
store_template_version_add(struct store *st, const char *tid, const char *name,
			   int builtin, const char *vid, const char *yaml,
			   const char *spec, int task_capable,
			   const char *task_reason, const char *created_by,
			   int64_t now)
{
	int r;

	if ((r = store_begin(st)) < 0)
		return r;
	if (name != NULL)
		r = store_exec(st,
			       "INSERT INTO templates (id, name, builtin, "
			       "created_at) VALUES (?, ?, ?, ?)",
			       "ssIi", tid, name, builtin, now);
	if (r == 0)
		r = store_exec(
			st,
			"INSERT INTO template_versions (id, template_id, "
			"version, yaml, spec, task_capable, task_reason, "
			"created_by, created_at) VALUES (?, ?, (SELECT "
			"COALESCE(MAX(version), 0) + 1 FROM template_versions "
			"WHERE template_id = ?), ?, ?, ?, ?, ?, ?)",
			"sssssIssi", vid, tid, tid, yaml, spec, task_capable,
			task_reason, created_by, now);
	if (r == 0)
		r = store_exec(st,
			       "UPDATE templates SET active_version_id = ?, "
			       "builtin = ? WHERE id = ?",
			       "sIs", vid, builtin, tid);
	if (r == 0)
		r = store_commit(st);
	if (r < 0)
		store_rollback(st);
	return r;
}

int
store_template_delete(struct store *st, const char *template_id)
{
	/* children first: the foreign keys point from states to tasks to
	 * versions to the template; each statement takes the id once */
	static const char *const sql[] = {
		"DELETE FROM task_states WHERE task_id IN (SELECT t.id FROM "
		"tasks t JOIN template_versions v ON v.id = "
		"t.template_version_id WHERE v.template_id = ?)",
		"DELETE FROM task_queue WHERE task_id IN (SELECT t.id FROM "
		"tasks t JOIN template_versions v ON v.id = "
		"t.template_version_id WHERE v.template_id = ?)",
		"DELETE FROM tasks WHERE template_version_id IN (SELECT id "
		"FROM template_versions WHERE template_id = ?)",
		"DELETE FROM template_versions WHERE template_id = ?",
		"DELETE FROM templates WHERE id = ?",
		"DELETE FROM secrets WHERE scope = 'template' AND scope_id = ?",
	};
	json_t *busy;
	int r;

	if ((r = store_begin(st)) < 0)
		return r;
	/* a task made while the template's tasks were being deleted */
	busy = store_row(st,
			 "SELECT t.id FROM tasks t JOIN template_versions v ON "
			 "v.id = t.template_version_id WHERE v.template_id = "
			 "? AND t.deleted_at IS NULL LIMIT 1",
			 "s", template_id);
	r = busy != NULL ? -EBUSY : 0;
	json_decref(busy);
	for (size_t i = 0; r == 0 && i < ARRAY_SIZE(sql); i++)
		r = store_exec(st, sql[i], "s", template_id);
	if (r == 0)
		r = store_commit(st);
	if (r < 0)
		store_rollback(st);
	return r;
}

json_t *
store_modules_list(struct store *st)
{
	return store_rows(st, NULL,
			  "SELECT name, spec, builtin, updated_at FROM modules "
			  "ORDER BY name",
			  "");
}

json_t *
store_module_get(struct store *st, const char *name)
{
	return store_row(
		st, "SELECT " MODULE_COLUMNS " FROM modules WHERE name = ?",
		"s", name);
}

json_t *
store_module_spec(struct store *st, const char *name)
{
	return store_row(st, "SELECT spec FROM modules WHERE name = ?", "s",
			 name);
}

int
store_module_upsert(struct store *st, const char *name, const char *yaml,
		    const char *spec, int builtin, const char *created_by,
		    int64_t now)
{
	return store_exec(st,
			  "INSERT INTO modules (name, yaml, spec, builtin, "
			  "created_by, created_at, updated_at) VALUES (?, ?, "
			  "?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
			  "yaml = excluded.yaml, spec = excluded.spec, builtin "
			  "= excluded.builtin, created_by = "
			  "excluded.created_by, updated_at = "
			  "excluded.updated_at WHERE modules.yaml <> "
			  "excluded.yaml",
			  "sssIsii", name, yaml, spec, builtin, created_by, now,
			  now);
}
