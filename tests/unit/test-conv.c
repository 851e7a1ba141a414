/*
 * test-conv.c: the conversation over real screens: the startup screen is
 * not a message, a turn's reply is, and the state's headline of a reply
 * is never terminal chrome.
 */
#include "common.h"

#include <setjmp.h>
#include <cmocka.h>

#include "core/buf.h"
#include "runtime/conv.h"
#include "runtime/msgfmt.h"

/* A file of the source tree; returns a new string. */
static char *
src_file(const char *rel)
{
	char *path = xasprintf("%s/%s", SRCDIR, rel);
	FILE *f = fopen(path, "r");
	char *data = xcalloc(1, 1 << 20);
	size_t n;

	assert_non_null(f);
	n = fread(data, 1, (1 << 20) - 1, f);
	data[n] = '\0';
	fclose(f);
	free(path);
	return data;
}

static void
test_startup_not_a_message(void **state)
{
	static const struct {
		enum agent_type type;
		const char *screens; /* tests/harness/screens/<agent> */
	} agents[] = {
		{AGENT_CLAUDE, "claude"},
		{AGENT_CODEX, "codex"},
		{AGENT_GEMINI, "gemini"},
	};

	for (size_t i = 0; i < ARRAY_SIZE(agents); i++) {
		char *p = xasprintf("tests/harness/screens/%s/start.txt",
				    agents[i].screens);
		char *start = src_file(p);
		char *turn = xasprintf("tests/harness/screens/%s/turn1.txt",
				       agents[i].screens);
		char *after = src_file(turn);
		struct conv *c = conv_new(agents[i].type);

		/* the logo, tips and warnings never fill message 0 */
		assert_int_equal(conv_update(c, start, 1), -1);
		assert_int_equal(conv_count(c), 1);
		assert_string_equal(conv_get(c, 0)->content, "");
		/* the first turn's reply is a message */
		assert_int_equal(conv_add_user(c, "say hello", start, 2), 1);
		assert_int_equal(conv_update(c, after, 3), 2);
		assert_string_equal(conv_get(c, 2)->content,
				    "Hello from fake LLM, turn one.");
		conv_free(c);
		free(start);
		free(after);
		free(p);
		free(turn);
	}
}

static void
test_custom_output_is_a_message(void **state)
{
	struct conv *c = conv_new(AGENT_CUSTOM);

	/* a custom program's output before any input is what it said */
	assert_int_equal(conv_update(c, "tests passed: 12\n$", 1), 0);
	assert_string_equal(conv_get(c, 0)->content, "tests passed: 12");
	conv_free(c);
}

/* A known agent that dies at startup: its last screen is message 0. */
static void
test_startup_exit_is_a_message(void **state)
{
	struct conv *c = conv_new(AGENT_CLAUDE);

	assert_int_equal(conv_update(c, "Welcome to Claude Code", 1), -1);
	assert_int_equal(
		conv_on_exit(c, "Invalid API key · Please run /login", 2), 0);
	assert_string_equal(conv_get(c, 0)->content,
			    "Invalid API key · Please run /login");
	conv_free(c);
	/* after a user message the exit changes nothing of the kind */
	c = conv_new(AGENT_CLAUDE);
	assert_int_equal(conv_add_user(c, "hi", "", 1), 1);
	assert_int_equal(conv_on_exit(c, "hello\nbye", 2), 2);
	assert_string_equal(conv_get(c, 2)->content, "hello\nbye");
	conv_free(c);
}

static void
test_headline(void **state)
{
	char *gemini = src_file("tests/golden/gemini/tool_turn/expected.txt");
	char *h;

	/* a tool's box is not what the agent said */
	h = msgfmt_headline(gemini);
	assert_string_equal(h, "Done writing hello.txt.");
	free(h);
	free(gemini);
	h = msgfmt_headline("  ⎿  Tip: Use /theme to change the color theme\n"
			    "     and more\n"
			    "✻ Brewing… (esc to interrupt)\n"
			    "────────────────────\n"
			    "● Fixed the bug.\n"
			    "  Details follow.");
	assert_string_equal(h, "Fixed the bug.");
	free(h);
	h = msgfmt_headline("╭──────╮\n│ ▐▛███▜▌ │\n╰──────╯\n ▝▜█████▛▘");
	assert_string_equal(h, "");
	free(h);
	h = msgfmt_headline("宽字符 ok");
	assert_string_equal(h, "宽字符 ok");
	free(h);
	/* a bare bullet is no headline; the words after it are */
	h = msgfmt_headline("✓\nDone.");
	assert_string_equal(h, "Done.");
	free(h);
	/* Codex's record of an approval (wrapped) and the command it ran */
	h = msgfmt_headline(
		"✔ You approved codex to run rm -rf stale && touch\n"
		"  approved.txt this time\n"
		"\n"
		"Ran rm -rf stale && touch approved.txt\n"
		"└ (no output)\n"
		"\n"
		"Cleaned up and marked.");
	assert_string_equal(h, "Cleaned up and marked.");
	free(h);
	h = msgfmt_headline("✗ You canceled the request to run rm -rf x\n"
			    "\n"
			    "Stopped.");
	assert_string_equal(h, "Stopped.");
	free(h);
	/* an agent's words that start like a record of an approval */
	h = msgfmt_headline("✗ You forgot the semicolon on line 3,\n"
			    "  so the build fails.\n"
			    "\n"
			    "Add it and rebuild.");
	assert_string_equal(h, "You forgot the semicolon on line 3,");
	free(h);
}

/* Claude and Codex show the tool call above the agent's words. */
static void
test_headline_skips_tool_calls(void **state)
{
	static const char *cases[] = {"claude", "codex", "gemini"};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char *path = xasprintf("tests/golden/%s/tool_turn/expected.txt",
				       cases[i]);
		char *msg = src_file(path);
		char *h = msgfmt_headline(msg);

		assert_string_equal(h, "Done writing hello.txt.");
		free(h);
		free(msg);
		free(path);
	}
	/* a Claude call with its output tree under it */
	char *h = msgfmt_headline("● Write(hello.txt)\n"
				  "  ⎿  Wrote 1 lines to hello.txt\n"
				  "       hi\n"
				  "\n"
				  "● Read 2 files (ctrl+o to expand)\n"
				  "  Searched for 1 pattern, read 2 files\n"
				  "● All done.");

	assert_string_equal(h, "All done.");
	free(h);
	/* the same words with more after them are the agent's */
	h = msgfmt_headline("Read 3 files and found the bug.");
	assert_string_equal(h, "Read 3 files and found the bug.");
	free(h);
}

/* The agent controls the message: many boxes that never close, or a
 * huge message, must not stall the server (it was quadratic). */
static void
test_headline_bounded(void **state)
{
	struct buf b;
	char *h;

	buf_init(&b, 0);
	for (int i = 0; i < 100000; i++)
		buf_puts(&b, "╭ open\n");
	buf_puts(&b, "words");
	h = msgfmt_headline(buf_cstr(&b));
	assert_string_equal(h, ""); /* 200 lines read, all chrome */
	free(h);
	/* only the first lines are read */
	buf_clear(&b);
	for (int i = 0; i < MSGFMT_HEADLINE_MAX_LINES + 1; i++)
		buf_puts(&b, "────\n");
	buf_puts(&b, "late words");
	h = msgfmt_headline(buf_cstr(&b));
	assert_string_equal(h, "");
	free(h);
	buf_clear(&b);
	for (int i = 0; i < MSGFMT_HEADLINE_MAX_BYTES; i++)
		buf_puts(&b, "─");
	buf_puts(&b, "\nlate words");
	h = msgfmt_headline(buf_cstr(&b));
	assert_string_equal(h, "");
	free(h);
	buf_release(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_startup_not_a_message),
		cmocka_unit_test(test_custom_output_is_a_message),
		cmocka_unit_test(test_startup_exit_is_a_message),
		cmocka_unit_test(test_headline),
		cmocka_unit_test(test_headline_skips_tool_calls),
		cmocka_unit_test(test_headline_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
