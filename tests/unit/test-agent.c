/*
 * test-agent.c: agent type names, aliases and detection from commands.
 */
#include "common.h"

#include <setjmp.h>
#include <cmocka.h>

#include "runtime/agent.h"

static enum agent_type
detect(const char *a0, const char *a1, const char *a2)
{
	char *argv[] = {(char *)a0, (char *)a1, (char *)a2, NULL};

	return agent_type_detect(argv);
}

static void
test_detect(void **state)
{
	assert_int_equal(detect("/usr/local/bin/claude", NULL, NULL),
			 AGENT_CLAUDE);
	assert_int_equal(detect("codex", "--no-daemon", NULL), AGENT_CODEX);
	assert_int_equal(detect("gemini", NULL, NULL), AGENT_GEMINI);
	assert_int_equal(detect("npx", "-y", "@anthropic-ai/claude-code"),
			 AGENT_CLAUDE);
	assert_int_equal(detect("npx", "@google/gemini-cli@0.61.0", NULL),
			 AGENT_GEMINI);
	assert_int_equal(detect("env", "A=b", "aider"), AGENT_AIDER);
	assert_int_equal(detect("bash", "claude", NULL), AGENT_CUSTOM);
	assert_int_equal(detect("./my-agent", NULL, NULL), AGENT_CUSTOM);
}

static void
test_parse(void **state)
{
	enum agent_type t;

	assert_int_equal(agent_type_parse("Claude", &t), 0);
	assert_int_equal(t, AGENT_CLAUDE);
	assert_int_equal(agent_type_parse("cursor-agent", &t), 0);
	assert_int_equal(t, AGENT_CURSOR);
	assert_int_equal(agent_type_parse("q", &t), 0);
	assert_int_equal(t, AGENT_AMAZONQ);
	assert_int_equal(agent_type_parse("nope", &t), -EINVAL);
	assert_string_equal(agent_type_name(AGENT_OPENCODE), "opencode");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_detect),
		cmocka_unit_test(test_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
