/*
 * state.h: the runtime's state file (--state-file), AgentAPI's format:
 * {"version":1,"messages":[{id,message,role,time}],"initial_prompt":"…",
 *  "initial_prompt_sent":bool}. Written atomically, mode 0600.
 */
#ifndef TASKBOX_RUNTIME_STATE_H
#define TASKBOX_RUNTIME_STATE_H

#include "conv.h"

#define STATE_MAX_BYTES (256u << 20)

int state_save(const char *path, const struct conv *c,
	       const char *initial_prompt, bool prompt_sent, char **cause);
/*
 * Load path into c; *prompt (new string or NULL) and *prompt_sent get the
 * saved initial-prompt fields. -ENOENT when there is no file; other
 * errors leave c unchanged and set *cause.
 */
int state_load(const char *path, struct conv *c, char **prompt,
	       bool *prompt_sent, char **cause);

#endif
