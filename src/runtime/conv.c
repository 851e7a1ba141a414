/*
 * conv.c: the conversation model (see conv.h).
 *
 * Until the first user message the screen is the agent's startup screen:
 * logos, tips, warnings, its empty input box. For the agents taskbox
 * knows (every type but custom) that is terminal chrome, not something
 * the agent said, so message 0 stays empty. A custom program's output
 * before any input (a command that just runs) is its message. A known
 * agent that exits before any user message (a bad key, a crash) leaves
 * its final screen as message 0: else its error would show nowhere.
 */
#include "common.h"

#include <time.h>

#include "conv.h"
#include "msgfmt.h"

struct conv {
	enum agent_type type;
	struct conv_msg *v;
	size_t n;
	size_t cap;
	char *before;	 /* screen before the last user message */
	char *last_user; /* text of the last user message */
	bool frozen;	 /* reloaded: keep the last agent message */
	bool has_user;	 /* a user message was recorded */
	bool exited;	 /* the agent exited */
};

static struct conv_msg *
conv_push(struct conv *c, enum conv_role role, const char *content,
	  uint64_t wall)
{
	struct conv_msg *m;

	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 16;
		c->v = xreallocarray(c->v, c->cap, sizeof *c->v);
	}
	m = &c->v[c->n];
	m->id = (unsigned)c->n;
	m->role = role;
	m->content = xstrdup(content);
	m->time = wall;
	c->n++;
	return m;
}

static void
conv_clear(struct conv *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->v[i].content);
	c->n = 0;
}

struct conv *
conv_new(enum agent_type t)
{
	struct conv *c = xcalloc(1, sizeof *c);

	c->type = t;
	c->before = xstrdup("");
	c->last_user = xstrdup("");
	conv_push(c, ROLE_AGENT, "", wall_ms());
	return c;
}

void
conv_free(struct conv *c)
{
	if (c == NULL)
		return;
	conv_clear(c);
	free(c->v);
	free(c->before);
	free(c->last_user);
	free(c);
}

size_t
conv_count(const struct conv *c)
{
	return c->n;
}

const struct conv_msg *
conv_get(const struct conv *c, size_t i)
{
	return i < c->n ? &c->v[i] : NULL;
}

const char *
conv_role_name(enum conv_role r)
{
	return r == ROLE_USER ? "user" : "agent";
}

/* No user message yet: the screen is the agent's startup screen. Once
 * the agent exited, what it left on screen is all it said (a bad key, a
 * crash), so that is message 0. */
static bool
conv_in_startup(const struct conv *c)
{
	return !c->has_user && !c->exited;
}

long
conv_update(struct conv *c, const char *screen, uint64_t wall)
{
	char *raw, *msg;
	struct conv_msg *last = &c->v[c->n - 1];
	long changed = -1;

	if (c->frozen || (conv_in_startup(c) && c->type != AGENT_CUSTOM))
		return -1;
	raw = msgfmt_screen_diff(c->type, c->before, screen, c->last_user);
	msg = msgfmt_format(c->type, raw, c->last_user, NULL);
	if (last->role == ROLE_USER) {
		if (c->n < CONV_MAX_MESSAGES) {
			last = conv_push(c, ROLE_AGENT, msg, wall);
			changed = last->id;
		}
	} else if (strcmp(last->content, msg) != 0) {
		free(last->content);
		last->content = msg;
		msg = NULL;
		last->time = wall;
		changed = last->id;
	}
	free(raw);
	free(msg);
	return changed;
}

long
conv_on_exit(struct conv *c, const char *screen, uint64_t wall)
{
	c->exited = true;
	return conv_update(c, screen, wall);
}

long
conv_add_user(struct conv *c, const char *text, const char *screen_before,
	      uint64_t wall)
{
	struct conv_msg *m;

	if (c->n + 2 > CONV_MAX_MESSAGES)
		return -ENOSPC;
	free(c->before);
	c->before = xstrdup(screen_before);
	free(c->last_user);
	c->last_user = xstrdup(text);
	c->frozen = false;
	c->has_user = true;
	m = conv_push(c, ROLE_USER, text, wall);
	return m->id;
}

json_t *
conv_to_json(const struct conv *c)
{
	json_t *a = json_array();

	for (size_t i = 0; i < c->n; i++) {
		char ts[32];

		time_rfc3339(c->v[i].time, ts);
		json_array_append_new(a, json_pack("{s:i, s:s, s:s, s:s}", "id",
						   (int)c->v[i].id, "message",
						   c->v[i].content, "role",
						   conv_role_name(c->v[i].role),
						   "time", ts));
	}
	return a;
}

int
conv_load_json(struct conv *c, json_t *messages, char **cause)
{
	size_t i;
	json_t *m;

	if (!json_is_array(messages)) {
		*cause = xstrdup("\"messages\" is not an array");
		return -EINVAL;
	}
	if (json_array_size(messages) > CONV_MAX_MESSAGES) {
		*cause = xasprintf("more than %d messages", CONV_MAX_MESSAGES);
		return -EINVAL;
	}
	json_array_foreach(messages, i, m)
	{
		const char *text, *role, *time;
		uint64_t t;

		if (json_unpack(m, "{s:s, s:s, s:s}", "message", &text, "role",
				&role, "time", &time) < 0 ||
		    (strcmp(role, "user") != 0 && strcmp(role, "agent") != 0) ||
		    time_parse_rfc3339(time, &t) < 0) {
			*cause = xasprintf("message %zu is malformed", i);
			return -EINVAL;
		}
	}
	conv_clear(c);
	json_array_foreach(messages, i, m)
	{
		const char *text, *role, *time;
		uint64_t t = 0;

		json_unpack(m, "{s:s, s:s, s:s}", "message", &text, "role",
			    &role, "time", &time);
		time_parse_rfc3339(time, &t);
		conv_push(c, strcmp(role, "user") == 0 ? ROLE_USER : ROLE_AGENT,
			  text, t);
		if (strcmp(role, "user") == 0) {
			c->has_user = true;
			free(c->last_user);
			c->last_user = xstrdup(text);
		}
	}
	if (c->n == 0)
		conv_push(c, ROLE_AGENT, "", wall_ms());
	c->frozen = true;
	return 0;
}
