/*
 * fuzz-msgfmt.c: libFuzzer target for the terminal and the text layers.
 *
 * The input is split at the first NUL into terminal bytes and a "user
 * message". The bytes go through the libtsm screen; the rendered text and
 * a second render after more bytes (rows, and lines with soft wraps
 * joined) go through every msgfmt function for each agent type. Crashes and
 * sanitizer reports are the findings.
 *
 * The screen keeps a scrollback of 0, 10 or 20 rows (by the length of the
 * terminal bytes: none, fewer rows than the screen's, more), and inputs of
 * odd length make the screen lower between the renders (its top rows go
 * to the scrollback): rows scrolled off, read out of libtsm and dropped
 * from the ring. A render holding more rows than the screen and its
 * scrollback aborts (a finding), and so does a repaint (vt_screen_ansi)
 * that, fed to a fresh screen, does not repaint the same.
 */
#include "common.h"

#include "runtime/msgfmt.h"
#include "vt/screen.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, 0, size);
	size_t n = nul ? (size_t)(nul - data) : size;
	char *user = nul ? xstrndup((const char *)nul + 1, size - n - 1)
			 : xstrdup("");
	struct vt_screen *s = vt_screen_new(40, 12, NULL, NULL);
	unsigned sb = (unsigned)(n % 3) * 10, rows;
	char *before;

	if (vt_screen_set_scrollback(s, sb) < 0)
		abort();
	vt_screen_feed(s, (const char *)data, n / 2);
	vt_screen_render(s, NULL);
	before = xstrdup(vt_screen_lines(s)); /* messages diff lines */
	if (n % 2 == 1 && vt_screen_resize(s, 40, 7) < 0)
		abort();
	vt_screen_feed(s, (const char *)data + n / 2, n - n / 2);
	const char *after = vt_screen_render(s, NULL);
	const char *lines = vt_screen_lines(s);

	rows = 0;
	for (const char *p = after; (p = strchr(p, '\n')) != NULL; p++)
		rows++;
	if (vt_screen_scrollback(s) > sb || rows >= sb + 12)
		abort();
	/* the repaint, fed to a fresh screen, repaints the same: nothing the
	 * serializer writes is lost or read otherwise on the way */
	{
		size_t len, len2;
		char *ansi = vt_screen_ansi(s, &len), *ansi2;
		struct vt_screen *t = vt_screen_new(
			vt_screen_cols(s), vt_screen_rows(s), NULL, NULL);

		vt_screen_feed(t, ansi, len);
		ansi2 = vt_screen_ansi(t, &len2);
		if (len != len2 || memcmp(ansi, ansi2, len) != 0)
			abort();
		free(ansi);
		free(ansi2);
		vt_screen_free(t);
	}

	for (int t = AGENT_CLAUDE; t <= AGENT_CUSTOM; t++) {
		struct msgfmt_dialog d;
		/* the input anchors the diff, as conv passes it */
		char *raw = msgfmt_screen_diff(t, before, lines, user);
		char *calls = NULL;
		char *msg = msgfmt_format(t, raw, user, &calls);
		char *head = msgfmt_headline(msg);

		msgfmt_box_holds(t, after, user);
		msgfmt_ready(t, after);
		msgfmt_busy(t, after);
		if (msgfmt_dialog(t, after, &d)) {
			msgfmt_dialog_hash(&d);
			msgfmt_dialog_release(&d);
		}
		free(head);
		free(msg);
		free(calls);
		free(raw);
	}
	free(before);
	free(user);
	vt_screen_free(s);
	return 0;
}
