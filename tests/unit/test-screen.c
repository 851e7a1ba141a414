/*
 * test-screen.c: the libtsm screen model: text rendering, wide
 * characters, terminal query answers, change detection and resize, and
 * the scrollback kept as text above a normal-height screen, and the
 * repaint (vt_screen_ansi) fed into a fresh screen giving the same cells.
 */
#include "common.h"

#include <setjmp.h>
#include <cmocka.h>
#include <libtsm.h>

#include "core/buf.h"
#include "core/text.h"
#include "vt/screen.h"

static void
collect(const char *data, size_t len, void *arg)
{
	buf_append(arg, data, len);
}

static void
test_render_text(void **state)
{
	struct buf replies;
	struct vt_screen *s;
	bool changed;

	buf_init(&replies, 0);
	s = vt_screen_new(20, 10, collect, &replies);
	vt_screen_feed(s, "hello\r\n\r\n  world  \r\n", 21);
	assert_string_equal(vt_screen_render(s, &changed), "hello\n\n  world");
	assert_true(changed);
	vt_screen_render(s, &changed);
	assert_false(changed);
	vt_screen_feed(s, "\x1b[H\x1b[2J", 7);
	assert_string_equal(vt_screen_render(s, &changed), "");
	assert_true(changed);
	vt_screen_free(s);
	buf_release(&replies);
}

static void
test_wide_and_queries(void **state)
{
	struct buf replies;
	struct vt_screen *s;
	const char *in = "\x1b[c\x1b[3;5H\x1b[6n\x1b[H宽🎉x";

	buf_init(&replies, 0);
	s = vt_screen_new(20, 5, collect, &replies);
	vt_screen_feed(s, in, strlen(in));
	assert_string_equal(vt_screen_render(s, NULL), "宽🎉x");
	assert_non_null(strstr(buf_cstr(&replies), "\x1b[?"));
	assert_non_null(strstr(buf_cstr(&replies), "\x1b[3;5R"));
	vt_screen_free(s);
	buf_release(&replies);
}

static void
test_resize_and_scroll(void **state)
{
	struct vt_screen *s = vt_screen_new(10, 3, NULL, NULL);

	vt_screen_feed(s, "1\r\n2\r\n3\r\n4", 10);
	assert_string_equal(vt_screen_render(s, NULL), "2\n3\n4");
	assert_int_equal(vt_screen_resize(s, 30, 5), 0);
	assert_int_equal(vt_screen_cols(s), 30);
	assert_int_equal(vt_screen_rows(s), 5);
	vt_screen_feed(s, "\r\nabcdefghijklmnopqrstuvwxyz", 28);
	assert_non_null(strstr(vt_screen_render(s, NULL),
			       "abcdefghijklmnopqrstuvwxyz"));
	vt_screen_free(s);
}

/* Feed a C string. */
static void
feed(struct vt_screen *s, const char *in)
{
	vt_screen_feed(s, in, strlen(in));
}

/* Render, and check the lines (wrapped rows joined) against want. */
static void
check_lines(struct vt_screen *s, const char *want)
{
	char *got;

	vt_screen_render(s, NULL);
	got = vt_lines_join(vt_screen_lines(s));
	assert_string_equal(got, want);
	free(got);
}

static void
test_soft_wrap(void **state)
{
	struct vt_screen *s = vt_screen_new(10, 6, NULL, NULL);

	/* a line longer than the terminal, then two lines the program broke */
	feed(s, "GNU/Linux x86_64\r\nfirst\r\nsecond\r\n");
	assert_string_equal(vt_screen_render(s, NULL),
			    "GNU/Linux\nx86_64\nfirst\nsecond");
	check_lines(s, "GNU/Linux x86_64\nfirst\nsecond");
	/* exactly the width, then a newline: two lines */
	feed(s, "\x1b[2J\x1b[H0123456789\r\nnext");
	check_lines(s, "0123456789\nnext");
	/* a blank at the wrap point is kept; blank lines between stay */
	feed(s, "\x1b[2J\x1b[Hone two  three\r\n\r\nend");
	check_lines(s, "one two  three\n\nend");
	/* a row rewritten from its start is no longer a continuation */
	feed(s, "\x1b[2J\x1b[H0123456789abc\x1b[2;1Hxyz");
	check_lines(s, "0123456789\nxyz");
	/* nor is a row whose row above was written again */
	feed(s, "\x1b[2J\x1b[H0123456789abc\x1b[1;3HZ");
	check_lines(s, "01Z3456789\nabc");
	vt_screen_free(s);
}

static void
test_soft_wrap_scroll(void **state)
{
	struct vt_screen *s = vt_screen_new(10, 3, NULL, NULL);

	/* the wrap mark moves up with its row when the screen scrolls */
	feed(s, "a\r\nb\r\n0123456789AB\r\nc");
	assert_string_equal(vt_screen_render(s, NULL), "0123456789\nAB\nc");
	check_lines(s, "0123456789AB\nc");
	/* a wrap on the bottom row scrolls too */
	feed(s, "\x1b[2J\x1b[H\r\n\r\n0123456789XY");
	assert_string_equal(vt_screen_render(s, NULL), "\n0123456789\nXY");
	check_lines(s, "\n0123456789XY");
	/* a resize to the same size keeps them; another size drops them */
	assert_int_equal(vt_screen_resize(s, 10, 3), 0);
	check_lines(s, "\n0123456789XY");
	assert_int_equal(vt_screen_resize(s, 12, 3), 0);
	check_lines(s, "\n0123456789\nXY");
	assert_int_equal(vt_screen_resize(s, 10, 3), 0);
	feed(s, "\x1b[2J\x1b[H\r\n\r\n0123456789XY");
	check_lines(s, "\n0123456789XY");
	/* the alternate screen starts without marks; the main one keeps its */
	feed(s, "\x1b[?1049h\x1b[Hp\r\nq");
	check_lines(s, "p\nq");
	feed(s, "\x1b[?1049l");
	check_lines(s, "\n0123456789XY");
	/* erasing the screen erases the marks */
	feed(s, "\x1b[2J\x1b[H0123456789\x1b[2;1H\x1b[KZ");
	check_lines(s, "0123456789\nZ");
	vt_screen_free(s);
}

/* libtsm keeps its pending wrap across line feeds and cursor moves: the
 * next character lands on a new row, but no line wrapped. */
static void
test_wrap_pending_forgotten(void **state)
{
	struct vt_screen *s = vt_screen_new(10, 6, NULL, NULL);

	/* a bare LF, as raw-mode output sends it */
	feed(s, "0123456789\nnext");
	check_lines(s, "0123456789\n\nnext");
	/* cursor up, then text */
	feed(s, "\x1b[2J\x1b[3;1H0123456789\x1b[Ax");
	check_lines(s, "\n\nx123456789"); /* libtsm wraps from row 1 */
	/* reverse index, index, CR */
	feed(s, "\x1b[2J\x1b[3;1H0123456789\x1b"
		"Dy");
	check_lines(s, "\n\n0123456789\n\ny");
	feed(s, "\x1b[2J\x1b[3;1H0123456789\ry");
	check_lines(s, "\n\ny123456789");
	/* colours at the wrap point do not stop a wrap */
	feed(s, "\x1b[2J\x1b[H0123456789\x1b[1mA\x1b[0mB");
	check_lines(s, "0123456789AB");
	vt_screen_free(s);
}

/* Marks move with their rows in a scroll region, on RI, IL/DL, SU/SD. */
static void
test_wrap_scrolls(void **state)
{
	struct vt_screen *s = vt_screen_new(10, 6, NULL, NULL);

	/* region rows 2-5: a wrapped line in it scrolls up by one */
	feed(s, "top\x1b[2;5r\x1b[3;1H0123456789AB\r\nc\x1b[6;1Hbottom");
	check_lines(s, "top\n\n0123456789AB\nc\nbottom");
	feed(s, "\x1b[5;1H\n"); /* LF on the region's bottom */
	check_lines(s, "top\n0123456789AB\nc\n\nbottom");
	feed(s, "\x1b[5;1H\n"); /* its first row leaves the region */
	check_lines(s, "top\nAB\nc\n\n\nbottom");
	/* reverse index at the top of the region: the rows move down */
	feed(s, "\x1b[r\x1b[2J\x1b[2;1H0123456789AB\x1b[H\x1bM");
	check_lines(s, "\n\n0123456789AB");
	/* insert a line above, delete two */
	feed(s, "\x1b[2;1H\x1b[L");
	check_lines(s, "\n\n\n0123456789AB");
	feed(s, "\x1b[2;1H\x1b[2M");
	check_lines(s, "\n0123456789AB");
	/* scroll up, scroll down */
	feed(s, "\x1b[S");
	check_lines(s, "0123456789AB");
	feed(s, "\x1b[3T");
	check_lines(s, "\n\n\n0123456789AB");
	vt_screen_free(s);
}

/* Rows with a gap at the wrap point are never glued, whatever the
 * marks; and the parser's rules are libtsm's. */
static void
test_wrap_gaps_and_parser(void **state)
{
	struct vt_screen *s = vt_screen_new(10, 6, NULL, NULL);

	/* a character inserted at the start of the continued row */
	feed(s, "0123456789AB\x1b[2;1H\x1b[@");
	check_lines(s, "0123456789\n AB");
	/* the end of the wrapped row erased */
	feed(s, "\x1b[2J\x1b[H0123456789AB\x1b[1;10H\x1b[X");
	check_lines(s, "012345678\nAB");
	/* private and intermediate forms still erase in libtsm */
	feed(s, "\x1b[2J\x1b[H0123456789AB\x1b[H\x1b[?2J\x1b[2;1HZ");
	check_lines(s, "\nZ");
	/* a scroll region without a bottom is the whole screen */
	feed(s, "\x1b[2J\x1b[3r\x1b[6;1H0123456789AB");
	check_lines(s, "\n\n\n\n0123456789AB");
	/* ESC inside an OSC starts a new sequence; CAN ends a string */
	feed(s, "\x1b[r\x1b[2J\x1b]0;t\x1b[H0123456789AB\x1bPq\x18"
		"C");
	check_lines(s, "0123456789ABC");
	/* RIS from the alternate screen clears the main screen's marks */
	feed(s, "\x1b[2J\x1b[H0123456789AB\x1b[?1049h\x1b"
		"c\x1b[H");
	feed(s, "0123456789\x1b[2;1HCD");
	check_lines(s, "0123456789\nCD");
	vt_screen_free(s);
}

/* Later renders are not cut to the size of an earlier one. */
static void
test_lines_grow(void **state)
{
	struct vt_screen *s = vt_screen_new(10, 3, NULL, NULL);

	check_lines(s, "");
	/* wide characters take more bytes than the blanks they replace */
	feed(s, "宽宽宽宽宽\r\n宽宽宽宽宽\r\n宽宽宽宽宽");
	check_lines(s, "宽宽宽宽宽\n宽宽宽宽宽\n宽宽宽宽宽");
	vt_screen_free(s);
}

/* Feeding byte by byte gives the same marks as feeding at once. */
static void
test_wrap_byte_by_byte(void **state)
{
	const char *in = "hello\r\n0123456789AB\x1b[31mC\x1b[0m\r\n"
			 "\x1b]0;title\x07wide 宽宽宽宽宽宽 and more text\r\n"
			 "\x1b[2;5r\x1b[5;1Hscrolled 0123456789\n\n"
			 "\x1bM\x1b[r\x1b[6;1Hlast 0123456789 x";
	struct vt_screen *a = vt_screen_new(10, 6, NULL, NULL);
	struct vt_screen *b = vt_screen_new(10, 6, NULL, NULL);
	char *whole;

	feed(a, in);
	for (size_t i = 0; in[i] != '\0'; i++)
		vt_screen_feed(b, in + i, 1);
	assert_string_equal(vt_screen_render(a, NULL),
			    vt_screen_render(b, NULL));
	whole = xstrdup(vt_screen_lines(a));
	assert_non_null(strstr(whole, VT_WRAP_MARK));
	assert_string_equal(whole, vt_screen_lines(b));
	free(whole);
	vt_screen_free(a);
	vt_screen_free(b);
}

/* Output a program prints inline: numbered lines, some longer than the
 * width (they wrap), colours, a progress line rewritten with \r, an
 * erase, a wide character. */
static char *
inline_output(unsigned lines)
{
	struct buf b;

	buf_init(&b, 0);
	for (unsigned i = 0; i < lines; i++) {
		buf_printf(&b, "\x1b[3%um%03u\x1b[0m line", i % 8, i);
		if (i % 7 == 3)
			buf_puts(&b, " that is long enough to wrap twice at "
				     "twenty columns");
		if (i % 11 == 5)
			buf_puts(&b, "\r\x1b[Kredrawn 宽");
		buf_puts(&b, "\r\n");
	}
	buf_puts(&b, "> ");
	return buf_steal(&b);
}

static void
test_scrollback_as_tall(void **state)
{
	/* a 20x6 screen with a scrollback reads as a 20x300 screen */
	struct vt_screen *tall = vt_screen_new(20, 300, NULL, NULL);
	struct vt_screen *s = vt_screen_new(20, 6, NULL, NULL);
	char *in = inline_output(120), *want;
	size_t len = strlen(in);

	assert_int_equal(vt_screen_set_scrollback(s, 400), 0);
	vt_screen_feed(tall, in, len);
	want = xstrdup(vt_screen_render(tall, NULL));
	/* in pieces of all sizes, rendered in between */
	for (size_t i = 0, n = 1; i < len; i += n, n = n % 37 + 1) {
		vt_screen_feed(s, in + i, MIN(n, len - i));
		if (n % 5 == 0)
			vt_screen_render(s, NULL);
	}
	assert_string_equal(vt_screen_render(s, NULL), want);
	assert_string_equal(vt_screen_lines(s), vt_screen_lines(tall));
	assert_non_null(strstr(vt_screen_lines(s), VT_WRAP_MARK));
	assert_true(vt_screen_scrollback(s) > 100);
	/* the first line is still there, with its wrapped rows joined */
	free(want);
	want = vt_lines_join(vt_screen_lines(s));
	assert_true(str_starts_with(want, "000 line\n001 line\n"));
	assert_non_null(strstr(want, "003 line that is long enough to wrap "
				     "twice at twenty columns\n"));
	free(want);
	free(in);
	vt_screen_free(tall);
	vt_screen_free(s);
}

static void
test_scrollback_bound(void **state)
{
	struct vt_screen *s = vt_screen_new(10, 3, NULL, NULL);
	const char *region = "\x1b[2;3r\x1b[3;1Hr1\r\nr2\r\nr3\x1b[r";
	const char *in;

	assert_int_equal(vt_screen_set_scrollback(s, 4), 0);
	assert_int_equal(vt_screen_set_scrollback(s, VT_MAX_SCROLLBACK + 1),
			 -EINVAL);
	for (int i = 0; i < 20; i++) {
		char line[16];

		snprintf(line, sizeof line, "l%d\r\n", i);
		vt_screen_feed(s, line, strlen(line));
	}
	/* 4 rows kept, the oldest dropped first, then the screen's */
	assert_string_equal(vt_screen_render(s, NULL),
			    "l14\nl15\nl16\nl17\nl18\nl19");
	assert_int_equal(vt_screen_scrollback(s), 4);
	/* a region that does not start at the top keeps nothing */
	vt_screen_feed(s, region, strlen(region));
	assert_string_equal(vt_screen_render(s, NULL),
			    "l14\nl15\nl16\nl17\nl18\nr2\nr3");
	/* the alternate screen shows none, the main one again after it */
	in = "\x1b[?1049h\x1b[Halt";
	vt_screen_feed(s, in, strlen(in));
	assert_string_equal(vt_screen_render(s, NULL), "alt");
	in = "\x1b[?1049l";
	vt_screen_feed(s, in, strlen(in));
	assert_true(str_starts_with(vt_screen_render(s, NULL), "l14\n"));
	/* a lower screen gives its top rows to the scrollback */
	assert_int_equal(vt_screen_resize(s, 10, 2), 0);
	assert_string_equal(vt_screen_render(s, NULL),
			    "l15\nl16\nl17\nl18\nr2\nr3");
	/* ED 3 clears it, as xterm */
	vt_screen_feed(s, "\x1b[3J", 4);
	assert_string_equal(vt_screen_render(s, NULL), "r2\nr3");
	assert_int_equal(vt_screen_scrollback(s), 0);
	vt_screen_free(s);
}

/* Feed the same output to a screen with a scrollback and to one as tall
 * as both: lines, some wrapped, and runs of lines scrolled inside a
 * region of the last two rows (which neither keeps). */
static void
feed_long_output(struct vt_screen *s, unsigned rows, unsigned lines)
{
	char region[64];

	snprintf(region, sizeof region, "\x1b[%u;%ur\x1b[%u;1H", rows - 1, rows,
		 rows);
	for (unsigned i = 0; i < lines; i++) {
		char line[96];

		snprintf(line, sizeof line,
			 i % 11 == 0
				 ? "%05u a line long enough to wrap at twenty "
				   "columns\r\n"
				 : "%05u line\r\n",
			 i);
		feed(s, line);
		if (i % 13 == 0 || i == lines - 12) {
			/* 3 lines, or a long run, scrolled in the region */
			feed(s, "\x1b"
				"7");
			feed(s, region);
			for (unsigned k = 0; k < (i == lines - 12 ? 300 : 3);
			     k++)
				feed(s, "\r\nin region");
			feed(s, "\x1b[r\x1b"
				"8");
		}
		if (i % 97 == 0)
			vt_screen_render(s, NULL);
	}
}

static void
test_scrollback_long_output(void **state)
{
	/* 3000 lines through a 20x6 screen with 30 rows of scrollback read
	 * as they would on a 20x36 screen: most lines are never read out of
	 * libtsm (sb_max newer lines push them out first), none is lost */
	struct vt_screen *tall = vt_screen_new(20, 36, NULL, NULL);
	struct vt_screen *s = vt_screen_new(20, 6, NULL, NULL);
	char *want;

	assert_int_equal(vt_screen_set_scrollback(s, 30), 0);
	feed_long_output(tall, 36, 3000);
	feed_long_output(s, 6, 3000);
	want = xstrdup(vt_screen_render(tall, NULL));
	assert_string_equal(vt_screen_render(s, NULL), want);
	assert_string_equal(vt_screen_lines(s), vt_screen_lines(tall));
	assert_non_null(strstr(vt_screen_lines(s), VT_WRAP_MARK));
	assert_int_equal(vt_screen_scrollback(s), 30);
	assert_non_null(strstr(want, "02999 line"));
	free(want);
	vt_screen_free(tall);
	vt_screen_free(s);
}

/* ---- repaint round trip -------------------------------------------------- */

/* One cell as a test compares it: its characters (UTF-8), width and what
 * it shows (colours only where they show). */
struct cell {
	char text[32];
	unsigned width;
	struct tsm_screen_attr attr;
};

struct cells {
	unsigned cols, rows;
	struct cell *c;
};

static int
cells_draw(struct tsm_screen *con UNUSED, uint64_t id UNUSED,
	   const uint32_t *ch, size_t len, unsigned int width,
	   unsigned int posx, unsigned int posy,
	   const struct tsm_screen_attr *attr, tsm_age_t age UNUSED, void *data)
{
	struct cells *cs = data;
	struct cell *c = &cs->c[posy * cs->cols + posx];
	size_t n = 0;

	if (posx >= cs->cols || posy >= cs->rows)
		return 0;
	memset(c, 0, sizeof *c);
	for (size_t i = 0; i < len && ch[0] != 0 && n + 4 < sizeof c->text; i++)
		n += utf8_encode(ch[i], c->text + n);
	c->width = width;
	c->attr = *attr;
	c->attr.protect = 0;
	/* a blank's foreground, bold, italic and blink show nothing; nor
	 * does a default colour's rgb */
	if (n == 0) {
		c->attr.fccode = 16;
		c->attr.bold = c->attr.italic = c->attr.blink = 0;
	}
	if (c->attr.fccode >= 16)
		c->attr.fccode = 16;
	if (c->attr.bccode >= 16)
		c->attr.bccode = 17;
	if (c->attr.fccode >= 0)
		c->attr.fr = c->attr.fg = c->attr.fb = 0;
	if (c->attr.bccode >= 0)
		c->attr.br = c->attr.bg = c->attr.bb = 0;
	return 0;
}

/* Read every cell of s. */
static struct cells
cells_of(struct vt_screen *s)
{
	struct cells cs = {vt_screen_cols(s), vt_screen_rows(s), NULL};

	cs.c = xcalloc((size_t)cs.cols * cs.rows, sizeof *cs.c);
	tsm_screen_draw(vt_screen_tsm(s), cells_draw, &cs);
	return cs;
}

/* Feed in into a cols x rows screen, repaint it into a fresh one and
 * check that every cell, the cursor and the modes came across. Returns
 * the repaint (the caller frees it). */
static char *
round_trip(unsigned cols, unsigned rows, const char *in, size_t in_len)
{
	struct vt_screen *a = vt_screen_new(cols, rows, NULL, NULL);
	struct vt_screen *b = vt_screen_new(cols, rows, NULL, NULL);
	struct cells ca, cb;
	size_t len;
	char *out;

	vt_screen_feed(a, in, in_len);
	out = vt_screen_ansi(a, &len);
	assert_int_equal(strlen(out), len);
	vt_screen_feed(b, out, len);
	ca = cells_of(a);
	cb = cells_of(b);
	for (unsigned y = 0; y < rows; y++) {
		for (unsigned x = 0; x < cols; x++) {
			const struct cell *p = &ca.c[y * cols + x];
			const struct cell *q = &cb.c[y * cols + x];

			if (strcmp(p->text, q->text) != 0 ||
			    p->width != q->width ||
			    memcmp(&p->attr, &q->attr, sizeof p->attr) != 0)
				fail_msg("cell %u,%u: '%s' w%u fg %d bg %d "
					 "inv %d | '%s' w%u fg %d bg %d inv %d",
					 x, y, p->text, p->width,
					 p->attr.fccode, p->attr.bccode,
					 p->attr.inverse, q->text, q->width,
					 q->attr.fccode, q->attr.bccode,
					 q->attr.inverse);
		}
	}
	assert_int_equal(tsm_screen_get_cursor_x(vt_screen_tsm(a)),
			 tsm_screen_get_cursor_x(vt_screen_tsm(b)));
	assert_int_equal(tsm_screen_get_cursor_y(vt_screen_tsm(a)),
			 tsm_screen_get_cursor_y(vt_screen_tsm(b)));
	assert_int_equal(tsm_screen_get_flags(vt_screen_tsm(a)),
			 tsm_screen_get_flags(vt_screen_tsm(b)));
	assert_string_equal(vt_screen_render(a, NULL),
			    vt_screen_render(b, NULL));
	free(ca.c);
	free(cb.c);
	vt_screen_free(a);
	vt_screen_free(b);
	return out;
}

static void
test_ansi_colours(void **state)
{
	const char *in =
		"plain \033[31mRED\033[0m \033[1;4;32mgreen\033[0m\r\n"
		"\033[7minverse\033[27m \033[3;5mit\033[0m "
		"\033[94;103mbright\033[0m\r\n"
		"\033[38;5;208m256\033[0m \033[38;2;1;2;3;48;2;200;100;"
		"50mrgb\033[0m\r\n"
		"\033[44m   \033[0m<-blue blanks\033[K\r\n"
		"\033[41m\033[Kred to the end\033[0m\r\n"
		"\033[8;3Hcursor";
	char *out = round_trip(40, 10, in, strlen(in));

	assert_non_null(strstr(out, "\033[0;31mRED"));
	assert_non_null(strstr(out, "\033[0;1;4;32mgreen"));
	/* the cursor ends after "cursor" */
	assert_non_null(strstr(out, "\033[8;9H"));
	free(out);
}

static void
test_ansi_wide(void **state)
{
	/* wide characters, one in the last two columns, a combining mark */
	const char *in = "宽🎉x\r\n\033[2;9H宽\r\n"
			 "e\xcc\x81 caf\xc3\xa9\033[4;2H";
	char *out = round_trip(10, 5, in, strlen(in));

	assert_non_null(strstr(out, "宽"));
	assert_non_null(strstr(out, "🎉"));
	free(out);
}

static void
test_ansi_modes(void **state)
{
	/* a full screen (the last cell written), the cursor hidden, a
	 * scroll region with origin mode, insert mode, no auto-wrap */
	struct buf in;

	buf_init(&in, 0);
	for (int y = 0; y < 6; y++)
		buf_printf(&in, "\033[%d;1H%c23456789%c", y + 1, 'a' + y,
			   'A' + y);
	buf_puts(&in, "\033[?25l\033[2;5r\033[?6h\033[3;4H\033[4h\033[?7l");
	free(round_trip(10, 6, in.data, in.len));
	buf_clear(&in);
	/* the alternate screen, reverse video, the cursor at a pending
	 * wrap (shown in the last column) */
	buf_puts(&in, "main\033[?1049h\033[32malt\033[?5h\033[2;1H0123456789");
	free(round_trip(10, 6, in.data, in.len));
	buf_release(&in);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_render_text),
		cmocka_unit_test(test_wide_and_queries),
		cmocka_unit_test(test_resize_and_scroll),
		cmocka_unit_test(test_soft_wrap),
		cmocka_unit_test(test_soft_wrap_scroll),
		cmocka_unit_test(test_wrap_pending_forgotten),
		cmocka_unit_test(test_wrap_scrolls),
		cmocka_unit_test(test_wrap_gaps_and_parser),
		cmocka_unit_test(test_wrap_byte_by_byte),
		cmocka_unit_test(test_lines_grow),
		cmocka_unit_test(test_scrollback_as_tall),
		cmocka_unit_test(test_scrollback_bound),
		cmocka_unit_test(test_scrollback_long_output),
		cmocka_unit_test(test_ansi_colours),
		cmocka_unit_test(test_ansi_wide),
		cmocka_unit_test(test_ansi_modes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
