/*
 * agent.c: agent type names, aliases and detection from the command.
 */
#include "common.h"

#include "agent.h"

static const struct {
	const char *name;
	enum agent_type type;
} agent_names[] = {
	{"claude", AGENT_CLAUDE},
	{"codex", AGENT_CODEX},
	{"gemini", AGENT_GEMINI},
	{"aider", AGENT_AIDER},
	{"goose", AGENT_GOOSE},
	{"opencode", AGENT_OPENCODE},
	{"amp", AGENT_AMP},
	{"copilot", AGENT_COPILOT},
	{"cursor", AGENT_CURSOR},
	{"auggie", AGENT_AUGGIE},
	{"amazonq", AGENT_AMAZONQ},
	{"custom", AGENT_CUSTOM},
	/* aliases */
	{"claude-code", AGENT_CLAUDE},
	{"cursor-agent", AGENT_CURSOR},
	{"q", AGENT_AMAZONQ},
	{"gemini-cli", AGENT_GEMINI},
	{"generic", AGENT_CUSTOM},
};

const char *
agent_type_name(enum agent_type t)
{
	for (size_t i = 0; i < ARRAY_SIZE(agent_names); i++) {
		if (agent_names[i].type == t)
			return agent_names[i].name;
	}
	BUG();
}

int
agent_type_parse(const char *name, enum agent_type *out)
{
	for (size_t i = 0; i < ARRAY_SIZE(agent_names); i++) {
		if (strcasecmp(agent_names[i].name, name) == 0) {
			*out = agent_names[i].type;
			return 0;
		}
	}
	return -EINVAL;
}

const char *
agent_type_list(void)
{
	return "claude, codex, gemini, aider, goose, opencode, amp, copilot, "
	       "cursor, auggie, amazonq, custom";
}

/* Launchers whose next non-option argument names the real program. */
static bool
agent_is_launcher(const char *base)
{
	static const char *launchers[] = {"npx", "node", "bunx", "bun",
					  "env", "pnpx", "uvx",	 "exec"};

	for (size_t i = 0; i < ARRAY_SIZE(launchers); i++) {
		if (strcmp(base, launchers[i]) == 0)
			return true;
	}
	return false;
}

/* The type a program basename names; also matches package names like
 * "@anthropic-ai/claude-code" and versioned ones like "claude@2.1". */
static bool
agent_type_from_word(const char *word, enum agent_type *out)
{
	const char *base = strrchr(word, '/');
	char name[64];
	size_t n;

	base = base ? base + 1 : word;
	n = strcspn(base, "@");
	if (n == 0 || n >= sizeof name)
		return false;
	memcpy(name, base, n);
	name[n] = '\0';
	if (strcmp(name, "claude-code") == 0 || strcmp(name, "claude") == 0) {
		*out = AGENT_CLAUDE;
		return true;
	}
	if (strcmp(name, "gemini-cli") == 0) {
		*out = AGENT_GEMINI;
		return true;
	}
	if (strcmp(name, "opencode-ai") == 0) {
		*out = AGENT_OPENCODE;
		return true;
	}
	return agent_type_parse(name, out) == 0 &&
	       strcmp(name, "custom") != 0 && strcmp(name, "generic") != 0;
}

enum agent_type
agent_type_detect(char *const argv[])
{
	enum agent_type t;

	for (size_t i = 0; argv[i] != NULL; i++) {
		const char *base = strrchr(argv[i], '/');

		base = base ? base + 1 : argv[i];
		if (i > 0 && (argv[i][0] == '-' || strchr(argv[i], '=')))
			continue; /* launcher options, env assignments */
		if (agent_type_from_word(argv[i], &t))
			return t;
		if (!agent_is_launcher(base))
			break;
	}
	return AGENT_CUSTOM;
}
