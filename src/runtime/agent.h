/*
 * agent.h: agent families and how the runtime recognises them.
 *
 * The type only changes how the screen is read (echo, input box, chrome,
 * readiness, dialogs); keystrokes are the same for every agent.
 */
#ifndef TASKBOX_RUNTIME_AGENT_H
#define TASKBOX_RUNTIME_AGENT_H

enum agent_type {
	AGENT_CLAUDE,
	AGENT_CODEX,
	AGENT_GEMINI,
	AGENT_AIDER,
	AGENT_GOOSE,
	AGENT_OPENCODE,
	AGENT_AMP,
	AGENT_COPILOT,
	AGENT_CURSOR,
	AGENT_AUGGIE,
	AGENT_AMAZONQ,
	AGENT_CUSTOM,
};

const char *agent_type_name(enum agent_type t);
/* Parse a type name or alias ("claude", "cursor-agent", "q"); 0/-EINVAL. */
int agent_type_parse(const char *name, enum agent_type *out);
/* Known names, comma separated, for error messages. */
const char *agent_type_list(void);
/* Detect the type from a command line: the basename of argv[0], looking
 * past launchers such as npx, node and env. */
enum agent_type agent_type_detect(char *const argv[]);

#endif
