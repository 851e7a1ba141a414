/*
 * conv.h: the conversation, a list of user and agent messages.
 *
 * Message ids are indexes. The list starts with one empty agent message
 * (as in AgentAPI). AgentAPI fills it with the agent's startup screen;
 * here it stays empty for every known agent (a logo, tips and warnings
 * are not a reply) and only a custom program's first output fills it. The last
 * agent message is recomputed from the screen at every render: the diff
 * against the snapshot taken before the last user message, formatted by
 * msgfmt. After a reload from a state file the last agent message stays
 * frozen until the next user message.
 */
#ifndef TASKBOX_RUNTIME_CONV_H
#define TASKBOX_RUNTIME_CONV_H

#include <jansson.h>

#include "agent.h"

#define CONV_MAX_MESSAGES 100000

enum conv_role { ROLE_USER, ROLE_AGENT };

struct conv_msg {
	unsigned id;
	enum conv_role role;
	char *content;
	uint64_t time; /* wall ms */
};

struct conv;

struct conv *conv_new(enum agent_type t);
void conv_free(struct conv *c);
size_t conv_count(const struct conv *c);
const struct conv_msg *conv_get(const struct conv *c, size_t i);
const char *conv_role_name(enum conv_role r);
/*
 * Recompute the last agent message from screen; returns the id of the
 * message that changed (appended or rewritten) or -1 when none did.
 */
long conv_update(struct conv *c, const char *screen, uint64_t wall);
/*
 * The agent exited and screen is its final screen: before any user
 * message that screen becomes message 0 (for a known agent it would be
 * chrome otherwise). Returns as conv_update.
 */
long conv_on_exit(struct conv *c, const char *screen, uint64_t wall);
/* Record a sent user message; screen_before is the screen before the
 * paste. Returns its id or -ENOSPC when the conversation is full. */
long conv_add_user(struct conv *c, const char *text, const char *screen_before,
		   uint64_t wall);
/* Serialise as the state file's "messages" array (new reference). */
json_t *conv_to_json(const struct conv *c);
/* Replace the messages from a state file's array; 0 or -EINVAL. */
int conv_load_json(struct conv *c, json_t *messages, char **cause);

#endif
