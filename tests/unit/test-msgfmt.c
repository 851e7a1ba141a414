/*
 * test-msgfmt.c: screen diff, echo removal, input boxes, chrome,
 * report_task blocks, readiness, busy markers and dialogs.
 */
#include "common.h"

#include <setjmp.h>
#include <cmocka.h>

#include "runtime/msgfmt.h"
#include "vt/screen.h"

#define CHECK(call, want)                                                      \
	do {                                                                   \
		char *got_ = (call);                                           \
		assert_string_equal(got_, want);                               \
		free(got_);                                                    \
	} while (0)

static void
test_screen_diff(void **state)
{
	CHECK(msgfmt_screen_diff(AGENT_CUSTOM, "", "a\nb", NULL), "a\nb");
	CHECK(msgfmt_screen_diff(AGENT_CUSTOM, "hello\n>",
				 "hello\n> hi\nreply\n\n>", NULL),
	      "> hi\nreply\n\n>");
	/* lines already on screen at the start of the diff are skipped */
	CHECK(msgfmt_screen_diff(AGENT_CUSTOM, "x\ny", "x\ny", NULL), "");
	/* scrolled screen: still finds the new part */
	CHECK(msgfmt_screen_diff(AGENT_CUSTOM, "1\n2\n3\n>", "2\n3\n> q\nr\n>",
				 NULL),
	      "> q\nr\n>");
	/* opencode: its first two header lines never start the diff */
	CHECK(msgfmt_screen_diff(AGENT_OPENCODE, "h1\nh2\nold",
				 "H1 $0.01\nH2 5k\nold\nnew", NULL),
	      "new");
}

/* Feed a C string, render, and return a copy of the marked rows. */
static char *
screen_rows(struct vt_screen *s, const char *in)
{
	vt_screen_feed(s, in, strlen(in));
	vt_screen_render(s, NULL);
	return xstrdup(vt_screen_lines(s));
}

/* The reply of a program whose screen scrolls or resizes between the
 * snapshots never starts with old text: the diff is on rows, and only
 * the new rows are joined. */
/* Claude Code redraws its screen while its logo animates: every row looks
 * new from the first. The echo of the input, right under the end of what
 * the screen showed before, is where the reply starts. */
static void
test_screen_diff_redrawn_top(void **state)
{
	const char *box = "────────────────────\n"
			  "❯ \n"
			  "────────────────────\n"
			  "  ? for shortcuts";
	char *before = xasprintf(" ▐▛███▜▌   Claude Code\n"
				 "▝▜█████▛▘  ~/workspace\n"
				 "\n"
				 "❯ say hello\n"
				 "\n"
				 "● Hello from fake LLM\n"
				 "\n"
				 "%s",
				 box);
	char *after = xasprintf(" ▗▟▛███▛█▄ Claude Code\n"
				"  ▜█████▘  ~/workspace\n"
				"\n"
				"❯ say hello\n"
				"\n"
				"● Hello from fake LLM\n"
				"\n"
				"❯ follow up\n"
				"\n"
				"● Follow-up reply.\n"
				"\n"
				"%s",
				box);
	char *again = xasprintf(" ▐▛███▜▌   Claude Code\n"
				"▝▜█████▛▘  ~/workspace\n"
				"\n"
				"❯ say hello\n"
				"\n"
				"● Hello from fake LLM\n"
				"\n"
				"❯ say hello too\n"
				"\n"
				"● Hello from fake LLM\n"
				"\n"
				"%s",
				box);
	char *tipped =
		xasprintf(" ▐▛███▜▌   Claude Code\n"
			  "▝▜█████▛▘  ~/workspace\n"
			  "\n"
			  "❯ say hello\n"
			  "\n"
			  "● Hello from fake LLM\n"
			  "  ⎿  Tip: Use /memory to view and manage memory\n"
			  "\n"
			  "\n"
			  "* Jitterbugging… (running Stop hook · 0s)\n"
			  "                    ◐ medium · /effort\n"
			  "%s",
			  box);
	char *raw =
		msgfmt_screen_diff(AGENT_CLAUDE, before, after, "follow up");

	CHECK(msgfmt_format(AGENT_CLAUDE, raw, "follow up", NULL),
	      "Follow-up reply.");
	free(raw);
	/* a tip under the old reply went away: the rows both show anchor */
	{
		/* the effort line stays above the box in both */
		char *effort =
			xasprintf(" ▗▟▛███▛█▄ Claude Code\n"
				  "  ▜█████▘  ~/workspace\n"
				  "\n"
				  "❯ say hello\n"
				  "\n"
				  "● Hello from fake LLM\n"
				  "\n"
				  "✻ Churned for 0s · done 1:30 AM\n"
				  "\n"
				  "❯ follow up\n"
				  "\n"
				  "● Follow-up reply.\n"
				  "\n"
				  "                    ◐ medium · /effort\n"
				  "%s",
				  box);

		raw = msgfmt_screen_diff(AGENT_CLAUDE, tipped, effort,
					 "follow up");
		CHECK(msgfmt_format(AGENT_CLAUDE, raw, "follow up", NULL),
		      "Follow-up reply.");
		free(raw);
		free(effort);
	}
	/* a short input ("1") found again in the new reply is no anchor:
	 * the reply's own rows are above it */
	raw = msgfmt_screen_diff(AGENT_CLAUDE, before,
				 "x\n\n❯ say hello\n\n● Hello from fake LLM\n\n"
				 "❯ 1\n\n● Steps:\n  1. one\n  2. two\n",
				 "1");
	assert_non_null(strstr(raw, "Steps:"));
	free(raw);
	free(tipped);
	/* the same reply twice: the echo tells the places apart */
	raw = msgfmt_screen_diff(AGENT_CLAUDE, before, again, "say hello too");
	CHECK(msgfmt_format(AGENT_CLAUDE, raw, "say hello too", NULL),
	      "Hello from fake LLM");
	free(raw);
	/* without the input, the old way: from the first changed row */
	raw = msgfmt_screen_diff(AGENT_CLAUDE, before, after, NULL);
	assert_non_null(strstr(raw, "Claude Code"));
	free(raw);
	free(before);
	free(after);
	free(again);
}

static void
test_screen_diff_wraps(void **state)
{
	struct vt_screen *s = vt_screen_new(10, 4, NULL, NULL);
	char *before, *after;

	/* a wrapped line at the top scrolls half off */
	before = screen_rows(s, "0123456789ABCDEF\r\nold\r\n$ ");
	after = screen_rows(s, "\rreply\r\n$ ");
	CHECK(msgfmt_screen_diff(AGENT_CUSTOM, before, after, NULL),
	      "reply\n$");
	free(before);
	free(after);
	/* a wrapped reply comes back joined */
	before = screen_rows(s, "\x1b[2J\x1b[Hx\r\n$ ");
	after = screen_rows(s, "\r0123456789wrapped\r\n$ ");
	CHECK(msgfmt_screen_diff(AGENT_CUSTOM, before, after, NULL),
	      "0123456789wrapped\n$");
	free(before);
	free(after);
	/* a resize (same size too) drops the marks: nothing old comes back */
	before = screen_rows(s, "\x1b[2J\x1b[Hold 0123456789\r\n$ ");
	assert_non_null(strstr(before, VT_WRAP_MARK));
	assert_int_equal(vt_screen_resize(s, 10, 4), 0);
	after = screen_rows(s, "\rreply\r\n$ ");
	CHECK(msgfmt_screen_diff(AGENT_CUSTOM, before, after, NULL),
	      "reply\n$");
	free(before);
	free(after);
	vt_screen_free(s);
}

static void
test_remove_echo(void **state)
{
	CHECK(msgfmt_remove_echo(AGENT_CUSTOM, "> hello there\nreply",
				 "hello there"),
	      "reply");
	/* whitespace and wrapping do not matter */
	CHECK(msgfmt_remove_echo(AGENT_CUSTOM,
				 "│ > write a long\n│   message here\nanswer",
				 "write a long message here"),
	      "answer");
	/* UI characters interleaved */
	CHECK(msgfmt_remove_echo(AGENT_CUSTOM, "❯ fix `foo`\nok", "fix foo"),
	      "ok");
	/* the agent dropped characters (Codex drops backticks) */
	CHECK(msgfmt_remove_echo(AGENT_CODEX, "› fix foo now\nok",
				 "fix `foo` now"),
	      "ok");
	/* no echo: unchanged */
	CHECK(msgfmt_remove_echo(AGENT_CUSTOM, "reply only", "question"),
	      "reply only");
	/* non-ASCII */
	CHECK(msgfmt_remove_echo(AGENT_CUSTOM, "> 宽字符 测试\n好",
				 "宽字符 测试"),
	      "好");
	/* gemini's echo box bottom goes too */
	CHECK(msgfmt_remove_echo(AGENT_GEMINI,
				 "│ > hi there │\n╰──────────╯\n✦ hello",
				 "hi there"),
	      "✦ hello");
}

static void
test_remove_box(void **state)
{
	const char *claude = "● Hello from stub\n"
			     "\n"
			     "──────────────────────────────────\n"
			     "❯ \n"
			     "──────────────────────────────────\n"
			     "  ? for shortcuts";
	const char *gemini = "✦ Hello\n"
			     "╭────────────────────────────────╮\n"
			     "│ >   Type your message           │\n"
			     "╰────────────────────────────────╯\n"
			     " ~/ws   no sandbox   gemini-3.8";
	const char *codex = "• Hello from stub\n"
			    "\n"
			    "› Ask Codex to do anything\n"
			    "\n"
			    "  100% context left · ? for shortcuts";

	CHECK(msgfmt_remove_box(AGENT_CLAUDE, claude), "● Hello from stub");
	CHECK(msgfmt_remove_box(AGENT_GEMINI, gemini), "✦ Hello");
	/* what a second Enter may go by: Gemini's input line only */
	assert_true(
		msgfmt_box_holds(AGENT_GEMINI,
				 "✦ Hello\n"
				 "──────────────────────────────────\n"
				 " YOLO Ctrl+Y                  1 MCP server\n"
				 "\n"
				 " * say hello, gemini\n"
				 "\n"
				 " ~/workspace   no sandbox   Auto",
				 "gemini"));
	/* a short message found in the footer is not in the box */
	assert_false(msgfmt_box_holds(AGENT_GEMINI,
				      "> y\n\n✦ Done\n"
				      "──────────────────────────────────\n"
				      " *   Type your message\n"
				      "\n"
				      " ~/directory   no sandbox   Auto",
				      "y"));
	/* no second Enter for the others: Codex's selected option in its
	 * approval dialog reads like an input line */
	assert_false(msgfmt_box_holds(AGENT_CODEX,
				      "Allow command?\n"
				      "› 1. Yes, just this once (y)\n"
				      "  2. No (esc)",
				      "1"));
	/* Gemini 0.61's box holding typed text (YOLO marks it '*'), and the
	 * same text in the history above a box that is empty again */
	CHECK(msgfmt_remove_box(
		      AGENT_GEMINI,
		      "✦ Hello\n"
		      "──────────────────────────────────\n"
		      " YOLO Ctrl+Y                  1 MCP server\n"
		      "\n"
		      " * say hello, gemini\n"
		      "\n"
		      " workspace (/directory)   sandbox      /model\n"
		      " ~/workspace              no sandbox   Auto"),
	      "✦ Hello");
	CHECK(msgfmt_remove_box(AGENT_GEMINI,
				" > say hello, gemini\n"
				"\n"
				"✦ Hello\n"
				"──────────────────────────────────\n"
				" *   Type your message\n"
				"\n"
				" ~/workspace   no sandbox   Auto"),
	      " > say hello, gemini\n\n✦ Hello");
	CHECK(msgfmt_remove_box(AGENT_CODEX, codex), "• Hello from stub");
	CHECK(msgfmt_remove_box(AGENT_CUSTOM, "out\n$ "), "out");
	CHECK(msgfmt_remove_box(AGENT_AMP, "╭──╮\n│ │\n╰──╯"),
	      "Welcome to Amp");
	assert_true(msgfmt_ready(AGENT_CLAUDE, claude));
	assert_true(msgfmt_ready(AGENT_GEMINI, gemini));
	assert_true(msgfmt_ready(AGENT_CODEX, codex));
	assert_false(msgfmt_ready(AGENT_CLAUDE, "Loading...\n"));
	assert_false(msgfmt_ready(AGENT_CUSTOM, "working"));
	assert_true(msgfmt_ready(AGENT_CUSTOM, "bash-5.2#"));
	/* Codex's approval dialog is no composer, whichever option is
	 * highlighted; "1. x" typed in the composer is */
	assert_false(msgfmt_ready(AGENT_CODEX, "  Run it?\n\n"
					       "› 1. Yes, proceed (y)\n"
					       "  2. No (esc)\n\n"
					       "  Press enter to confirm"));
	assert_false(msgfmt_ready(AGENT_CODEX, "  Run it?\n\n"
					       "  1. Yes, proceed (y)\n"
					       "› 2. No (esc)\n\n"
					       "  Press enter to confirm"));
	assert_true(msgfmt_ready(AGENT_CODEX, "• Hi\n\n"
					      "› 1. do this\n\n"
					      "  gpt-5 default · ~/w"));
}

/* Output with prompt characters is output, not an input box (issue 9). */
static void
test_box_real_output(void **state)
{
	/* generic and custom: '>' inside a line is not a prompt */
	CHECK(msgfmt_remove_box(AGENT_CUSTOM, "a > b"), "a > b");
	CHECK(msgfmt_remove_box(AGENT_CUSTOM, "<p>x</p>\n</html>"),
	      "<p>x</p>\n</html>");
	CHECK(msgfmt_remove_box(AGENT_CUSTOM, "100%"), "100%");
	CHECK(msgfmt_remove_box(AGENT_AIDER, "x\na > b\ny"), "x\na > b\ny");
	/* a "❯ x" line of output followed by more output */
	CHECK(msgfmt_remove_box(AGENT_GOOSE, "x\n❯ not a prompt\nmore"),
	      "x\n❯ not a prompt\nmore");
	/* a shell prompt ends the screen: everything above is output */
	CHECK(msgfmt_remove_box(AGENT_CUSTOM, "> quoted\nmore\nbash-5.2$"),
	      "> quoted\nmore");
	assert_false(msgfmt_ready(AGENT_CUSTOM, "<html>\n</html>"));
	assert_false(msgfmt_ready(AGENT_CUSTOM, "done 100%"));
	assert_false(msgfmt_ready(AGENT_CUSTOM, "a ->"));
	assert_false(msgfmt_ready(AGENT_AIDER, "a > b"));
	/* real prompts still are */
	assert_true(msgfmt_ready(AGENT_AIDER, "out\n> "));
	assert_true(msgfmt_ready(AGENT_AIDER, "out\narchitect> "));
	assert_true(msgfmt_ready(AGENT_GOOSE, "out\n( O)> Press Enter"));
	assert_true(msgfmt_ready(AGENT_AMAZONQ, "out\n!> "));
	assert_true(msgfmt_ready(AGENT_CUSTOM, "host %"));
	assert_true(msgfmt_ready(AGENT_CUSTOM, ">>>"));
	assert_true(msgfmt_ready(AGENT_CUSTOM, "sqlite>"));
}

static void
test_chrome(void **state)
{
	CHECK(msgfmt_strip_chrome(AGENT_CLAUDE,
				  "● Line one\n  line two\n\n✻ Brewed for 3s"),
	      "Line one\nline two");
	CHECK(msgfmt_strip_chrome(AGENT_CLAUDE,
				  "✶ Thinking… (esc to interrupt)\n● Done"),
	      "Done");
	CHECK(msgfmt_strip_chrome(
		      AGENT_CODEX,
		      "• Hello\n\n─ Worked for 2s ────────────────────"),
	      "Hello");
	CHECK(msgfmt_strip_chrome(AGENT_CUSTOM, "plain ● text"),
	      "plain ● text");
	assert_true(msgfmt_busy(AGENT_CLAUDE,
				"x\n✻ Working… (esc to interrupt)\n❯"));
	assert_false(msgfmt_busy(AGENT_CLAUDE, "x\n❯"));
}

static void
test_tool_calls(void **state)
{
	char *calls = NULL, *out;

	out = msgfmt_strip_tool_calls(
		AGENT_CLAUDE,
		"Working on it.\n"
		"● taskbox - report_task (MCP)(summary: \"fixing\", state: "
		"\"working\")\n"
		"  ⎿  {\"ok\": true}\n"
		"\n"
		"Done.",
		&calls);
	assert_string_equal(out, "Working on it.\nDone.");
	assert_non_null(calls);
	assert_non_null(strstr(calls, "report_task"));
	free(out);
	free(calls);
	out = msgfmt_strip_tool_calls(AGENT_CODEX,
				      "• Called taskbox.report_task({})\n"
				      "  └ ok\n"
				      "• Fixed it.",
				      &calls);
	assert_string_equal(out, "• Fixed it.");
	free(out);
	free(calls);
	out = msgfmt_strip_tool_calls(AGENT_CLAUDE, "no calls", &calls);
	assert_null(calls);
	free(out);
}

static void
test_dialog(void **state)
{
	struct msgfmt_dialog d;
	const char *claude = "● I'll create the file.\n"
			     "\n"
			     "╭──────────────────────────────────────╮\n"
			     "│ Bash command                         │\n"
			     "│                                      │\n"
			     "│   echo hi > hello.txt                │\n"
			     "│                                      │\n"
			     "│ Do you want to proceed?              │\n"
			     "│ ❯ 1. Yes                             │\n"
			     "│   2. No, and tell Claude what to do  │\n"
			     "╰──────────────────────────────────────╯";

	assert_true(msgfmt_dialog(AGENT_CLAUDE, claude, &d));
	assert_string_equal(d.text, "Do you want to proceed?");
	assert_int_equal(d.noptions, 2);
	assert_string_equal(d.options[0], "Yes");
	assert_string_equal(d.options[1], "No, and tell Claude what to do");
	assert_int_equal(d.selected, 0);
	assert_null(d.context);
	msgfmt_dialog_release(&d);
	/* the command framed by dashed rules is the dialog's context */
	assert_true(msgfmt_dialog(AGENT_CLAUDE,
				  " Bash command\n"
				  "╌╌╌╌╌╌╌╌╌╌╌╌╌╌╌╌╌╌╌╌\n"
				  " rm -rf build\n"
				  "╌╌╌╌╌╌╌╌╌╌╌╌╌╌╌╌╌╌╌╌\n"
				  " Do you want to proceed?\n"
				  " ❯ 1. Yes\n"
				  "   2. No",
				  &d));
	assert_string_equal(d.text, "Do you want to proceed?");
	assert_string_equal(d.context, "rm -rf build");
	msgfmt_dialog_release(&d);
	/* a numbered list in a reply is not a dialog */
	assert_false(
		msgfmt_dialog(AGENT_CLAUDE,
			      "Steps:\n1. one\n2. two\n\n───────────────\n❯ \n"
			      "───────────────",
			      &d));
	/* one option is not a choice */
	assert_false(msgfmt_dialog(AGENT_CLAUDE, "Q?\n❯ 1. Only", &d));
	/* Codex: the question stands apart, what it is about in between;
	 * a wrapped question is taken whole */
	assert_true(msgfmt_dialog(AGENT_CODEX,
				  "• Running rm -rf old\n\n\n"
				  "  Would you like to run the\n"
				  "  following command?\n\n"
				  "  Environment: local\n\n"
				  "  $ rm -rf old\n\n\n"
				  "› 1. Yes, proceed (y)\n"
				  "  2. No, and tell Codex what to do (esc)\n\n"
				  "  Press enter to confirm or esc to cancel",
				  &d));
	assert_string_equal(d.text,
			    "Would you like to run the\nfollowing command?");
	assert_string_equal(d.context, "Environment: local\n$ rm -rf old");
	assert_int_equal(d.noptions, 2);
	assert_int_equal(d.selected, 0);
	msgfmt_dialog_release(&d);
	/* no question above the options before the command's bullet: the
	 * lines right above are the text, as for the others */
	assert_true(msgfmt_dialog(AGENT_CODEX,
				  "• Running x\n\n"
				  "  Pick one\n"
				  "› 1. A\n"
				  "  2. B",
				  &d));
	assert_string_equal(d.text, "Pick one");
	assert_null(d.context);
	msgfmt_dialog_release(&d);
	/* the question is not the model's reason nor the command, even
	 * when they end in '?' */
	assert_true(msgfmt_dialog(
		AGENT_CODEX,
		"• Running ls a?\n\n\n"
		"  Would you like to run the following command?\n\n"
		"  Reason: May I list the\n"
		"  files?\n\n"
		"  $ ls a?\n\n\n"
		"› 1. Yes, proceed (y)\n"
		"  2. No, and tell Codex what to do (esc)\n\n"
		"  Press enter to confirm or esc to cancel",
		&d));
	assert_string_equal(d.text,
			    "Would you like to run the following command?");
	assert_string_equal(d.context,
			    "Reason: May I list the\nfiles?\n$ ls a?");
	msgfmt_dialog_release(&d);
	/* a numbered list in Codex's history, above its composer, is no
	 * dialog: the dialog takes the composer's place */
	assert_false(msgfmt_dialog(AGENT_CODEX,
				   "• Pick one?\n"
				   "  › 1. foo\n"
				   "  2. bar\n\n"
				   "› Ask Codex to do anything\n\n"
				   "  gpt-5 default · ~/w",
				   &d));
	assert_false(msgfmt_dialog(AGENT_CODEX,
				   "› 1. do a\n"
				   "  2. do b\n\n"
				   "• Done both.\n\n"
				   "› Ask Codex to do anything\n\n"
				   "  gpt-5 default · ~/w",
				   &d));
}

static void
test_format_pipeline(void **state)
{
	CHECK(msgfmt_format(AGENT_CUSTOM, "> hello\nHi!\n宽 🎉\n>", "hello",
			    NULL),
	      "Hi!\n宽 🎉");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_screen_diff),
		cmocka_unit_test(test_screen_diff_wraps),
		cmocka_unit_test(test_screen_diff_redrawn_top),
		cmocka_unit_test(test_remove_echo),
		cmocka_unit_test(test_remove_box),
		cmocka_unit_test(test_box_real_output),
		cmocka_unit_test(test_chrome),
		cmocka_unit_test(test_tool_calls),
		cmocka_unit_test(test_dialog),
		cmocka_unit_test(test_format_pipeline),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
