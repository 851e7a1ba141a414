/*
 * screen.c: screen model over libtsm.
 *
 * libtsm keeps the cells; scrolling moves line pointers, so the cost of
 * a scroll does not grow with the height (unlike libvterm, see DESIGN).
 * We keep the text of the last render and its hash to report changes.
 *
 * Soft wraps: libtsm does not say which rows the terminal wrapped, so we
 * track it beside it. Bytes that may move the cursor (controls, sequence
 * finals, text near the last column) go in one at a time with the cursor
 * read before and after; the rest in batches. Printing that pushes the
 * cursor past the last column (libtsm's pending wrap, x == cols) records
 * the row (pending); any cursor move or line feed forgets it (libtsm keeps
 * its pending wrap across them: "0123456789\nnext" would look wrapped).
 * The next printable character that lands at the start of the next row
 * (or of the same bottom row, scrolled) is an auto-wrap, and that row is
 * marked as continuing the one above (cont[y]). A small parser of our own,
 * with libtsm's rules, follows the sequences that move or clear rows (line
 * feeds at the bottom of the scroll region, ED, EL, SU/SD, IL/DL, ICH/DCH/
 * ECH, DECSTBM, RI, RIS, the alternate screen) so the marks move with
 * their rows. Marks are dropped eagerly: a row whose first column is
 * written without a wrap continues nothing, and a row written again after
 * it wrapped is not continued any more. And a render joins a marked row
 * only when the last cell of the row above and its own first cell hold
 * written characters (erased cells have none), so a mark the parser got
 * wrong cannot glue lines with a gap between them. A missed join leaves a
 * line split as before; a wrong one would glue two lines.
 *
 * A render gives two texts: the rows as the terminal shows them, and the
 * rows with wrap marks (vt_screen_lines). Messages diff the marked rows,
 * which do not change when a wrapped line scrolls half off the screen,
 * and join the rows of the difference (vt_lines_join).
 *
 * Scrollback (vt_screen_set_scrollback): rows that scroll off the top of
 * the main screen (a scroll region that starts at the top, as xterm saves
 * them) are kept as text, at most sb_max rows, oldest dropped first, each
 * with its wrap mark and whether its first and last cells were written.
 * A render shows them above the screen, as a screen that many rows taller
 * would (not on the alternate screen). libtsm has the only copy of the
 * cells: it keeps scrolled-off lines in its own scrollback (at most
 * sb_max + 2 x rows), our tracker counts them as it counts the scrolls
 * (pend_n, with each line's mark and whether its region started at the
 * top). Before each render they are read out, a draw of the view moved
 * into libtsm's scrollback for each screenful, and dropped from libtsm.
 * Lines with sb_max kept lines after them are dropped unread (they would
 * be pushed out of the ring before any render shows them), so a long
 * output between two renders costs a read of its last sb_max lines only;
 * a screenful is read earlier only when libtsm's scrollback fills with
 * lines that are not kept. ED 3 and RIS clear the scrollback, as xterm.
 */
#include "common.h"

#include <limits.h>
#include <libtsm.h>

#include "core/buf.h"
#include "core/text.h"
#include "screen.h"

/* Our parser's states: just enough to find the sequences that move rows. */
enum vt_pstate {
	VT_GROUND,
	VT_ESC,
	VT_ESC_INT, /* ESC and intermediates: "ESC ( B" */
	VT_CSI,
	VT_STR, /* OSC, DCS, APC, PM, SOS: up to BEL, CAN, SUB or ESC */
};

#define VT_MAX_PARAMS 8

/* A row kept above the screen: its text (trailing blanks trimmed unless
 * its last cell was written) and what a render needs to mark it. */
struct vt_sbrow {
	char *text;
	bool cont;    /* continues the row above */
	bool first_w; /* column 0 holds a written character */
	bool last_w;  /* the last column does */
};

struct vt_screen {
	struct tsm_screen *tsm;
	struct tsm_vte *vte;
	vt_reply_cb reply;
	void *reply_arg;
	struct buf text; /* last render: rows */
	uint64_t hash;	 /* FNV-1a of text */
	bool rendered;	 /* a render happened */
	/* soft wraps */
	unsigned cols, rows;
	bool *cont[2];	       /* [alternate screen][row]: continues row - 1 */
	unsigned top, bottom;  /* scroll region, rows */
	enum vt_pstate pstate; /* our parser */
	unsigned params[VT_MAX_PARAMS];
	size_t nparams;
	int pending; /* row of libtsm's pending wrap, or -1 */
	/* render state */
	char *row; /* the row being drawn (not NUL-terminated) */
	size_t row_len, row_cap;
	unsigned row_y;
	unsigned row_x;
	unsigned cur_x, cur_y; /* the cursor's cell, UINT_MAX in a capture */
	struct buf marked;     /* rows, untrimmed, each ended by '\n' */
	bool *first_written;   /* [row]: column 0 holds a written character */
	bool *last_written;    /* [row]: the last column does */
	unsigned base;	       /* rows of the render above the screen's */
	unsigned limit;	       /* rows of the view read (a capture) */
	/* scrollback: a ring of sb_max rows, the oldest at sb_head */
	struct vt_sbrow *sb;
	unsigned sb_max, sb_head, sb_n;
	/* lines in libtsm's scrollback not read yet, oldest first */
	bool *pend_cont; /* [2 x rows]: its mark */
	bool *pend_keep; /* [2 x rows]: its region started at the top */
	unsigned pend_n;
	unsigned pend_kept; /* of them, kept */
	bool sb_broken;	    /* the last line that scrolled off was not kept */
};

static void
vt_screen_vte_write(struct tsm_vte *vte UNUSED, const char *u8, size_t len,
		    void *data)
{
	struct vt_screen *s = data;

	if (s->reply != NULL)
		s->reply(u8, len, s->reply_arg);
}

/* The most lines libtsm keeps in its scrollback for us: the scrollback,
 * as many lines we do not keep between them (scrolled in a region below
 * the top), and room for two screenfuls (one scroll moves at most one). */
static unsigned
vt_pend_cap(const struct vt_screen *s)
{
	return 2 * s->sb_max + 2 * s->rows;
}

/* (Re)size the wrap marks to the screen, all clear. */
static void
vt_wrap_reset(struct vt_screen *s)
{
	s->cols = tsm_screen_get_width(s->tsm);
	s->rows = tsm_screen_get_height(s->tsm);
	for (int i = 0; i < 2; i++) {
		free(s->cont[i]);
		s->cont[i] = xcalloc(s->rows, sizeof *s->cont[i]);
	}
	free(s->first_written);
	free(s->last_written);
	free(s->pend_cont);
	free(s->pend_keep);
	s->first_written =
		xcalloc(s->sb_max + s->rows, sizeof *s->first_written);
	s->last_written = xcalloc(s->sb_max + s->rows, sizeof *s->last_written);
	s->pend_cont = xcalloc(vt_pend_cap(s), sizeof *s->pend_cont);
	s->pend_keep = xcalloc(vt_pend_cap(s), sizeof *s->pend_keep);
	s->pend_n = 0;
	s->pend_kept = 0;
	tsm_screen_set_max_sb(s->tsm, s->sb_max > 0 ? vt_pend_cap(s) : 0);
	s->top = 0;
	s->bottom = s->rows - 1;
	s->pending = -1;
}

/* Drop every row of the scrollback: ours and the lines libtsm holds. */
static void
vt_sb_clear(struct vt_screen *s)
{
	for (unsigned i = 0; i < s->sb_n; i++)
		free(s->sb[(s->sb_head + i) % s->sb_max].text);
	s->sb_head = 0;
	s->sb_n = 0;
	s->pend_n = 0;
	s->pend_kept = 0;
	tsm_screen_clear_sb(s->tsm);
}

/* Scrollback row i, the oldest first. */
static struct vt_sbrow *
vt_sb_row(struct vt_screen *s, unsigned i)
{
	return &s->sb[(s->sb_head + i) % s->sb_max];
}

/* Keep text (taken) as the newest scrollback row; the oldest goes when
 * the scrollback is full. */
static void
vt_sb_push(struct vt_screen *s, char *text, bool cont, bool first_w,
	   bool last_w)
{
	struct vt_sbrow *r;

	if (s->sb_max == 0) {
		free(text);
		return;
	}
	if (s->sb_n == s->sb_max) {
		free(vt_sb_row(s, 0)->text);
		s->sb_head = (s->sb_head + 1) % s->sb_max;
		s->sb_n--;
	}
	r = vt_sb_row(s, s->sb_n++);
	r->text = text;
	r->cont = cont;
	r->first_w = first_w;
	r->last_w = last_w;
}

/*
 * libtsm scrolled rows [top, bottom] of the main screen up n: it keeps
 * the lines that went off in its scrollback, we count them with their
 * marks (read before the marks move). Only a region that starts at the
 * top gives rows to our scrollback.
 */
static void
vt_sb_scrolled(struct vt_screen *s, unsigned top, unsigned bottom, unsigned n)
{
	const bool *c = s->cont[0];

	if (s->sb_max == 0 ||
	    (tsm_screen_get_flags(s->tsm) & TSM_SCREEN_ALTERNATE) ||
	    top > bottom || bottom >= s->rows)
		return;
	n = MIN(n, bottom - top + 1);
	for (unsigned i = 0; i < n && s->pend_n < vt_pend_cap(s); i++) {
		s->pend_cont[s->pend_n] = c[top + i];
		s->pend_keep[s->pend_n++] = top == 0;
		s->pend_kept += top == 0;
	}
}

struct vt_screen *
vt_screen_new(unsigned cols, unsigned rows, vt_reply_cb cb, void *arg)
{
	struct vt_screen *s = xcalloc(1, sizeof *s);

	if (tsm_screen_new(&s->tsm, NULL, NULL) < 0)
		fatal("tsm_screen_new failed");
	tsm_screen_set_max_sb(s->tsm, 0);
	if (tsm_screen_resize(s->tsm, cols, rows) < 0)
		fatal("tsm_screen_resize %ux%u failed", cols, rows);
	if (tsm_vte_new(&s->vte, s->tsm, vt_screen_vte_write, s, NULL, NULL) <
	    0)
		fatal("tsm_vte_new failed");
	s->reply = cb;
	s->reply_arg = arg;
	buf_init(&s->text, 0);
	buf_init(&s->marked, 0);
	s->limit = UINT_MAX;
	vt_wrap_reset(s);
	return s;
}

void
vt_screen_free(struct vt_screen *s)
{
	if (s == NULL)
		return;
	vt_sb_clear(s);
	tsm_vte_unref(s->vte);
	tsm_screen_unref(s->tsm);
	buf_release(&s->text);
	free(s->row);
	buf_release(&s->marked);
	free(s->cont[0]);
	free(s->cont[1]);
	free(s->first_written);
	free(s->last_written);
	free(s->pend_cont);
	free(s->pend_keep);
	free(s->sb);
	free(s);
}

/* ---- soft-wrap tracking --------------------------------------------- */

/* The marks of the screen shown now (main or alternate). */
static bool *
vt_cont(struct vt_screen *s)
{
	return s->cont[(tsm_screen_get_flags(s->tsm) & TSM_SCREEN_ALTERNATE) !=
		       0];
}

/* Clear the marks of rows [from, to). */
static void
vt_cont_clear(struct vt_screen *s, unsigned from, unsigned to)
{
	bool *c = vt_cont(s);

	for (unsigned y = from; y < to && y < s->rows; y++)
		c[y] = false;
}

/* Rows [top, bottom] move up n (n > 0), as libtsm scrolls them; sb: a
 * scroll (the lines go to libtsm's scrollback), not a deletion. */
static void
vt_cont_up(struct vt_screen *s, unsigned top, unsigned bottom, unsigned n,
	   bool sb)
{
	bool *c = vt_cont(s);
	bool kept;

	if (top > bottom || bottom >= s->rows)
		return;
	if (sb)
		vt_sb_scrolled(s, top, bottom, n);
	/* the row the top row continued is in our scrollback */
	kept = sb && top == 0 && s->sb_max > 0 && c == s->cont[0];
	n = MIN(n, bottom - top + 1);
	memmove(c + top, c + top + n, (bottom - top + 1 - n) * sizeof *c);
	vt_cont_clear(s, bottom + 1 - n, bottom + 1);
	if (!kept)
		c[top] = false; /* the row it continued is gone */
}

/* Rows [top, bottom] move down n (n > 0). */
static void
vt_cont_down(struct vt_screen *s, unsigned top, unsigned bottom, unsigned n)
{
	bool *c = vt_cont(s);

	if (top > bottom || bottom >= s->rows)
		return;
	n = MIN(n, bottom - top + 1);
	memmove(c + top + n, c + top, (bottom - top + 1 - n) * sizeof *c);
	vt_cont_clear(s, top, top + n);
	if (top + n <= bottom)
		c[top + n] = false;
}

/* Parameter i of the CSI sequence, def when absent or 0. */
static unsigned
vt_param(const struct vt_screen *s, size_t i, unsigned def)
{
	return i < s->nparams && s->params[i] != 0 ? s->params[i] : def;
}

/* A CSI sequence ended with final; y is the cursor row before it. */
static void
vt_track_csi(struct vt_screen *s, char final, unsigned y)
{
	unsigned n = vt_param(s, 0, 1);
	bool *c = vt_cont(s);

	/* libtsm acts on these whatever private marks or intermediates
	 * come with them (CSI ? J is its ED), and so do we */
	switch (final) {
	case 'J': /* ED */
		n = s->nparams > 0 ? s->params[0] : 0;
		if (n == 0)
			vt_cont_clear(s, y + 1, s->rows);
		else if (n == 1)
			vt_cont_clear(s, 0, y + 1);
		else
			vt_cont_clear(s, 0, s->rows);
		if (n == 3) /* and the saved lines, as xterm */
			vt_sb_clear(s);
		break;
	case 'K': /* EL: the row no longer reaches the end or its start */
		n = s->nparams > 0 ? s->params[0] : 0;
		if ((n == 0 || n == 2) && y + 1 < s->rows)
			c[y + 1] = false;
		if ((n == 1 || n == 2) && y < s->rows)
			c[y] = false;
		break;
	case 'S': /* SU */
		vt_cont_up(s, s->top, s->bottom, n, true);
		break;
	case 'T': /* SD */
		vt_cont_down(s, s->top, s->bottom, n);
		break;
	case 'L': /* IL */
		if (y >= s->top && y <= s->bottom)
			vt_cont_down(s, y, s->bottom, n);
		break;
	case 'M': /* DL */
		if (y >= s->top && y <= s->bottom)
			vt_cont_up(s, y, s->bottom, n, false);
		break;
	case '@': /* ICH, DCH, ECH: the row's ends may change */
	case 'P':
	case 'X':
		if (y < s->rows)
			c[y] = false;
		if (y + 1 < s->rows)
			c[y + 1] = false;
		break;
	case 'r': { /* DECSTBM, as libtsm: a bad or missing bottom is the
		       whole screen */
		unsigned t = vt_param(s, 0, 1);
		unsigned b = s->nparams > 1 ? s->params[1] : 0;

		if (b <= t || b > s->rows) {
			s->top = 0;
			s->bottom = s->rows - 1;
		} else {
			s->top = t - 1;
			s->bottom = b - 1;
		}
		break;
	}
	default:
		break;
	}
}

/* A printable byte took the cursor from (x0, y0) to (x1, y1): follow an
 * auto-wrap, or the writing of a row. */
static void
vt_track_print(struct vt_screen *s, unsigned x0, unsigned y0, unsigned x1,
	       unsigned y1)
{
	bool *cont = vt_cont(s);
	bool wrapped = s->pending >= 0 && (unsigned)s->pending == y0 &&
		       x0 >= s->cols && x1 >= 1 && x1 <= 2;

	if (x1 == x0 && y1 == y0)
		return; /* a UTF-8 lead byte: nothing printed yet */
	s->pending = -1;
	if (wrapped && y1 == y0 + 1 && y1 < s->rows) {
		cont[y1] = true;
	} else if (wrapped && y1 == y0 &&
		   (y0 == s->bottom || y0 + 1 == s->rows)) {
		/* the wrap scrolled the region (libtsm scrolls it from the
		 * last row below it too) */
		vt_cont_up(s, s->top, s->bottom, 1, true);
		cont[y1] = true;
	} else if (y1 == y0 && y0 < s->rows) {
		/* a row written from its start continues no row; a row
		 * written again is no longer continued (the program went
		 * back to it) */
		if (x0 == 0)
			cont[y0] = false;
		if (y0 + 1 < s->rows)
			cont[y0 + 1] = false;
	}
	if (x1 >= s->cols && y1 < s->rows)
		s->pending = (int)y1;
}

/* ESC final c; the cursor went from row y0 to y1. */
static void
vt_track_esc(struct vt_screen *s, unsigned char c, unsigned y0, unsigned y1)
{
	if (c == 'D' || c == 'E') { /* IND, NEL */
		if ((y0 == s->bottom || y0 + 1 == s->rows) && y1 == y0)
			vt_cont_up(s, s->top, s->bottom, 1, true);
	} else if (c == 'M') { /* RI */
		if (y0 == s->top && y1 == y0)
			vt_cont_down(s, s->top, s->bottom, 1);
	} else if (c == 'c') { /* RIS: both screens, the scrollback */
		memset(s->cont[0], 0, s->rows * sizeof *s->cont[0]);
		memset(s->cont[1], 0, s->rows * sizeof *s->cont[1]);
		vt_sb_clear(s);
		s->top = 0;
		s->bottom = s->rows - 1;
	}
}

/* A CSI parameter or intermediate byte. */
static void
vt_track_csi_byte(struct vt_screen *s, unsigned char c)
{
	if (c >= '0' && c <= '9') {
		if (s->nparams == 0)
			s->nparams = 1;
		if (s->nparams <= VT_MAX_PARAMS) {
			unsigned *p = &s->params[s->nparams - 1];

			*p = *p > 100000 ? *p : *p * 10 + (c - '0');
		}
	} else if (c == ';') {
		if (s->nparams == 0)
			s->params[s->nparams++] = 0;
		if (s->nparams < VT_MAX_PARAMS)
			s->params[s->nparams] = 0;
		s->nparams++;
	}
}

/*
 * The cursor went from (x0, y0) to (x1, y1) while libtsm took byte c:
 * follow wraps, scrolls and clears. Any byte but printable text and SGR
 * (which do not move the cursor) forgets the pending wrap.
 */
static void
vt_track(struct vt_screen *s, unsigned char c, unsigned x0, unsigned y0,
	 unsigned x1, unsigned y1)
{
	/* C0 controls act inside sequences too, leaving them as they were
	 * (CAN and SUB abort them, strings included); a line feed at the
	 * bottom scrolls. Inside a string they are its bytes, but BEL. */
	if (c < 0x20 && c != 0x1b) {
		if (c == 0x18 || c == 0x1a ||
		    (c == 0x07 && s->pstate == VT_STR))
			s->pstate = VT_GROUND;
		else if (s->pstate == VT_STR || c == 0x07 || c == 0x0e ||
			 c == 0x0f || c == 0)
			return;
		s->pending = -1;
		if (c >= 0x0a && c <= 0x0c &&
		    (y0 == s->bottom || y0 + 1 == s->rows) && y1 == y0)
			vt_cont_up(s, s->top, s->bottom, 1, true);
		return;
	}
	if (c >= 0x80 && s->pstate != VT_GROUND)
		return;	 /* part of a character libtsm is still decoding */
	if (c == 0x1b) { /* starts a sequence anywhere, as in libtsm */
		s->pstate = VT_ESC;
		return;
	}
	switch (s->pstate) {
	case VT_GROUND:
		if (c != 0x7f)
			vt_track_print(s, x0, y0, x1, y1);
		break;
	case VT_ESC:
		s->pstate = VT_GROUND;
		if (c == '[') {
			s->pstate = VT_CSI;
			memset(s->params, 0, sizeof s->params);
			s->nparams = 0;
		} else if (c == ']' || c == 'P' || c == '_' || c == '^' ||
			   c == 'X') {
			s->pstate = VT_STR;
		} else if (c >= 0x20 && c <= 0x2f) {
			s->pstate = VT_ESC_INT;
		} else {
			s->pending = -1;
			vt_track_esc(s, c, y0, y1);
		}
		break;
	case VT_ESC_INT:
		if (c < 0x20 || c > 0x2f)
			s->pstate = VT_GROUND;
		break;
	case VT_CSI:
		if (c >= 0x40 && c <= 0x7e) {
			s->nparams = MIN(s->nparams, VT_MAX_PARAMS);
			if (c != 'm')
				s->pending = -1;
			vt_track_csi(s, (char)c, y0);
			s->pstate = VT_GROUND;
		} else {
			vt_track_csi_byte(s, c);
		}
		break;
	case VT_STR:
		break;
	}
}

/*
 * A byte that can neither move the cursor nor wrap: parameters and
 * contents of sequences, ESC and the introducers, and printable text that
 * cannot reach the last column yet (*cols: an upper bound of the columns
 * the batch advanced, from x). libtsm takes such bytes in one batch.
 */
static bool
vt_byte_is_quiet(const struct vt_screen *s, unsigned char c, unsigned x,
		 unsigned *cols)
{
	if (c >= 0x80 && s->pstate != VT_GROUND)
		return true; /* libtsm decodes UTF-8 first: no sequence byte */
	switch (s->pstate) {
	case VT_GROUND:
		if (c == 0x1b)
			return true;
		if (c < 0x20 || c == 0x7f)
			return false;
		/* a lead byte may start a wide character */
		unsigned w = c >= 0xc0 ? 2 : c >= 0x80 ? 0 : 1;

		if (x + *cols + w + 1 >= s->cols)
			return false;
		*cols += w;
		return true;
	case VT_ESC:
		return c == 0x1b || c == '[' || c == ']' || c == 'P' ||
		       c == '_' || c == '^' || c == 'X' ||
		       (c >= 0x20 && c <= 0x2f);
	case VT_ESC_INT:
		return c == 0x1b || (c >= 0x20 && c <= 0x2f);
	case VT_CSI:
		return c == 0x1b || (c >= 0x20 && c <= 0x3f);
	case VT_STR:
		return c != 0x07 && c != 0x18 && c != 0x1a;
	}
	return false;
}

/* Hand the batch data[from, to) to libtsm; printable text in it was
 * written on row y from column x. */
static void
vt_flush_batch(struct vt_screen *s, const char *data, size_t from, size_t to,
	       unsigned x, unsigned y, bool printed)
{
	bool *cont;
	unsigned x1, y1;

	if (from == to)
		return;
	tsm_vte_input(s->vte, data + from, to - from);
	cont = vt_cont(s);
	x1 = tsm_screen_get_cursor_x(s->tsm);
	y1 = tsm_screen_get_cursor_y(s->tsm);
	if (y1 != y || x1 < x) {
		/* libtsm read the bytes otherwise than we did (broken UTF-8
		 * in a sequence...): forget the marks of the rows involved */
		vt_cont_clear(s, MIN(y, y1), MAX(y, y1) + 2);
		s->pending = -1;
		return;
	}
	if (printed && y < s->rows) {
		/* as vt_track does for one character */
		if (x == 0)
			cont[y] = false;
		if (y + 1 < s->rows)
			cont[y + 1] = false;
	}
}

static void vt_sb_make_room(struct vt_screen *s);

/* Whether the lines libtsm holds for us need a look: a screenful more
 * than we keep, or libtsm's room for one more scroll is at its end. */
static bool
vt_sb_full(const struct vt_screen *s)
{
	return s->pend_kept >= s->sb_max + s->rows ||
	       s->pend_n + s->rows >= vt_pend_cap(s);
}

/* One byte with the cursor read around it. */
static void
vt_feed_byte(struct vt_screen *s, char c)
{
	unsigned x0 = tsm_screen_get_cursor_x(s->tsm);
	unsigned y0 = tsm_screen_get_cursor_y(s->tsm);
	unsigned alt = tsm_screen_get_flags(s->tsm) & TSM_SCREEN_ALTERNATE;

	tsm_vte_input(s->vte, &c, 1);
	if ((tsm_screen_get_flags(s->tsm) & TSM_SCREEN_ALTERNATE) != alt) {
		/* a fresh alternate screen, or back to the main one (RIS
		 * too, which clears both) */
		if (!alt)
			vt_cont_clear(s, 0, s->rows);
		else if (s->pstate == VT_ESC && c == 'c')
			vt_track_esc(s, 'c', 0, 0);
		s->pstate = VT_GROUND; /* that was a sequence's final */
		s->pending = -1;
		if (vt_sb_full(s))
			vt_sb_make_room(s);
		return;
	}
	vt_track(s, (unsigned char)c, x0, y0, tsm_screen_get_cursor_x(s->tsm),
		 tsm_screen_get_cursor_y(s->tsm));
	if (vt_sb_full(s))
		vt_sb_make_room(s);
}

void
vt_screen_feed(struct vt_screen *s, const char *data, size_t len)
{
	unsigned x = tsm_screen_get_cursor_x(s->tsm);
	unsigned y = tsm_screen_get_cursor_y(s->tsm);
	unsigned cols = 0;
	size_t from = 0;
	bool printed = false;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)data[i];

		if (vt_byte_is_quiet(s, c, x, &cols)) {
			if (s->pstate == VT_GROUND && c != 0x1b)
				printed = true;
			vt_track(s, c, 0, 0, 0, 0); /* the parser state only */
			continue;
		}
		vt_flush_batch(s, data, from, i, x, y, printed);
		vt_feed_byte(s, data[i]);
		from = i + 1;
		x = tsm_screen_get_cursor_x(s->tsm);
		y = tsm_screen_get_cursor_y(s->tsm);
		cols = 0;
		printed = false;
	}
	vt_flush_batch(s, data, from, len, x, y, printed);
}

/* ---- render ---------------------------------------------------------- */

/* Trailing blanks of b dropped. */
static void
vt_trim(struct buf *b)
{
	while (b->len > 0 && b->data[b->len - 1] == ' ')
		b->len--;
}

/* Finish the row being built: add it, untrimmed, to the rows drawn. */
static void
vt_flush_row(struct vt_screen *s)
{
	buf_append(&s->marked, s->row, s->row_len);
	buf_append(&s->marked, "\n", 1);
	s->row_len = 0;
	s->row_x = 0;
}

/* Room for n more bytes in the row being drawn. */
static char *
vt_row_room(struct vt_screen *s, size_t n)
{
	if (s->row_cap - s->row_len < n) {
		s->row_cap = MAX(2 * s->row_cap, s->row_len + n + 4 * s->cols);
		s->row = xrealloc(s->row, s->row_cap);
	}
	return s->row + s->row_len;
}

static int
vt_draw_cell(struct tsm_screen *con, uint64_t id, const uint32_t *ch,
	     size_t len, unsigned int width, unsigned int posx,
	     unsigned int posy, const struct tsm_screen_attr *attr UNUSED,
	     tsm_age_t age UNUSED, void *data)
{
	struct vt_screen *s = data;

	char *o;

	if (posy >= s->limit)
		return 0;	  /* a capture reads the rows above these */
	while (s->row_y < posy) { /* rows libtsm skipped, if ever */
		vt_flush_row(s);
		s->row_y++;
	}
	if (width == 0)
		return 0; /* second half of a wide character */
	if (posx == 0 || posx + width >= s->cols) {
		/* a written cell has a character (a space too), an erased
		 * one 0; but libtsm gives the cursor's cell an id of its
		 * own: there only a visible character counts */
		bool written = posx == s->cur_x && posy == s->cur_y
				       ? len > 0 && ch[0] != 0
				       : id != 0;

		if (posx == 0 && posy < s->rows)
			s->first_written[s->base + posy] = written;
		if (posx + width >= s->cols && posy < s->rows)
			s->last_written[s->base + posy] = written;
	}
	/* cells libtsm skipped, then the cell: 4 bytes a code point */
	o = vt_row_room(s, (posx > s->row_x ? posx - s->row_x : 0) +
				   4 * MAX(len, (size_t)1));
	for (; s->row_x < posx; s->row_x++)
		*o++ = ' ';
	if (len == 0 || ch[0] == 0) {
		*o++ = ' ';
	} else {
		for (size_t i = 0; i < len; i++) {
			/* controls never reach a cell through the parser;
			 * the marks and lines rely on it */
			uint32_t c =
				ch[i] < 0x20 || ch[i] == 0x7f ? '?' : ch[i];

			if (c < 0x80)
				*o++ = (char)c;
			else
				o += utf8_encode(c, o);
		}
	}
	s->row_len = (size_t)(o - s->row);
	s->row_x = posx + width;
	return 0;
}

/* Whether row k of a render (scrollback rows first) continues the row
 * above, as tracked. */
static bool
vt_row_cont(struct vt_screen *s, unsigned nsb, unsigned k)
{
	return k < nsb ? vt_sb_row(s, k)->cont : vt_cont(s)[k - nsb];
}

/*
 * The marked rows and the text from the rows drawn (nsb scrollback rows
 * above the screen's): a row the terminal wrapped into, with written
 * characters on both sides of the wrap, starts with VT_WRAP_MARK; a row
 * continued below keeps its trailing blanks (they are part of the line),
 * others lose them; trailing empty rows are dropped. The text has every
 * row trimmed, without marks.
 */
static void
vt_mark_rows(struct vt_screen *s, unsigned nsb)
{
	const char *p = s->marked.data;
	unsigned total = nsb + s->rows, emitted = 0;
	size_t keep = 0;
	struct buf out;

	buf_init(&out, 0);
	for (unsigned k = 0; k < total && p < s->marked.data + s->marked.len;
	     k++) {
		const char *nl = memchr(
			p, '\n', (size_t)(s->marked.data + s->marked.len - p));
		size_t n, t;
		bool joined;

		if (nl == NULL) /* every row ends with one; never without */
			break;
		n = (size_t)(nl - p);
		joined = k > 0 && vt_row_cont(s, nsb, k) &&
			 s->first_written[k] && s->last_written[k - 1];
		bool continued = k + 1 < total && vt_row_cont(s, nsb, k + 1) &&
				 s->first_written[k + 1] && s->last_written[k];

		if (k > 0)
			buf_append(&out, "\n", 1);
		if (joined)
			buf_puts(&out, VT_WRAP_MARK);
		for (t = n; t > 0 && p[t - 1] == ' ';)
			t--;
		buf_append(&out, p, continued ? n : t);
		if (joined || t > 0)
			keep = out.len;
		if (t > 0) {
			/* text: one row a line, blank rows between */
			unsigned nls = k - emitted + (emitted > 0 ? 1 : 0);

			for (unsigned i = 0; i < nls; i++)
				buf_append(&s->text, "\n", 1);
			buf_append(&s->text, p, t);
			emitted = k + 1;
		}
		p = nl + 1;
	}
	out.len = keep;
	buf_release(&s->marked);
	s->marked = out;
	buf_append(&s->marked, "", 0);
}

char *
vt_lines_join(const char *rows)
{
	struct buf out;
	size_t mark = strlen(VT_WRAP_MARK);

	buf_init(&out, 0);
	buf_append(&out, "", 0);
	for (const char *p = rows; *p != '\0';) {
		const char *nl = strchrnul(p, '\n');
		size_t n = (size_t)(nl - p);

		if (strncmp(p, VT_WRAP_MARK, mark) == 0) {
			p += mark; /* on the line above */
			n -= mark;
		} else if (p != rows) {
			vt_trim(&out);
			buf_append(&out, "\n", 1);
		}
		buf_append(&out, p, n);
		p = *nl != '\0' ? nl + 1 : nl;
	}
	vt_trim(&out);
	buf_append(&out, "", 0);
	return buf_steal(&out);
}

static uint64_t
vt_hash(const char *p, size_t n)
{
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)p[i];
		h *= 1099511628211ULL;
	}
	return h;
}

/*
 * Read the first n rows of libtsm's view (the screen, or its scrollback
 * when moved there) into our scrollback; pend[off + i] says whether row i
 * is kept and its mark.
 */
static void
vt_capture(struct vt_screen *s, unsigned n, unsigned off)
{
	const char *p;

	s->row_len = 0;
	buf_clear(&s->marked);
	memset(s->first_written, 0, n * sizeof *s->first_written);
	memset(s->last_written, 0, n * sizeof *s->last_written);
	s->row_y = 0;
	s->row_x = 0;
	s->base = 0;
	s->limit = n;
	s->cur_x = UINT_MAX; /* the view shows no cursor */
	s->cur_y = UINT_MAX;
	tsm_screen_draw(s->tsm, vt_draw_cell, s);
	while (s->row_y < n) {
		vt_flush_row(s);
		s->row_y++;
	}
	s->limit = UINT_MAX;
	p = s->marked.data;
	for (unsigned i = 0; i < n; i++) {
		const char *nl = strchr(p, '\n');
		size_t len = (size_t)(nl - p);
		bool keep = s->pend_keep[off + i];

		if (!s->last_written[i]) /* no line goes on past it */
			while (len > 0 && p[len - 1] == ' ')
				len--;
		if (keep)
			/* a row after one we dropped continues nothing */
			vt_sb_push(s, xstrndup(p, len),
				   s->pend_cont[off + i] && !s->sb_broken,
				   s->first_written[i], s->last_written[i]);
		s->sb_broken = !keep;
		p = nl + 1;
	}
	buf_clear(&s->marked);
}

/* Drop the n oldest lines libtsm holds for us, read or not. */
static void
vt_sb_drop(struct vt_screen *s, unsigned n)
{
	n = MIN(n, s->pend_n);
	/* libtsm keeps the newest (and loses any line a miscount left) */
	tsm_screen_set_max_sb(s->tsm, s->pend_n - n);
	tsm_screen_set_max_sb(s->tsm, vt_pend_cap(s));
	for (unsigned i = 0; i < n; i++)
		s->pend_kept -= s->pend_keep[i];
	memmove(s->pend_cont, s->pend_cont + n,
		(s->pend_n - n) * sizeof *s->pend_cont);
	memmove(s->pend_keep, s->pend_keep + n,
		(s->pend_n - n) * sizeof *s->pend_keep);
	s->pend_n -= n;
}

/* Read the n oldest lines libtsm holds for us (n <= rows) into our
 * scrollback, with one draw of the view moved up to them. */
static void
vt_sb_read(struct vt_screen *s, unsigned n)
{
	tsm_screen_sb_up(s->tsm, s->pend_n);
	vt_capture(s, n, 0);
	tsm_screen_sb_reset(s->tsm);
	vt_sb_drop(s, n);
}

/*
 * Drop, unread, the lines libtsm holds for us that sb_max kept lines
 * after them would push out of our scrollback, and every row of ours
 * (they are older): only the last sb_max rows are ever shown, so a long
 * output costs one read of its tail, not of each line.
 */
static void
vt_sb_skip(struct vt_screen *s)
{
	unsigned kept = 0, i = s->pend_n;

	while (i > 0 && kept < s->sb_max)
		kept += s->pend_keep[--i];
	if (kept < s->sb_max || i == 0)
		return;
	for (unsigned k = 0; k < s->sb_n; k++)
		free(vt_sb_row(s, k)->text);
	s->sb_head = 0;
	s->sb_n = 0;
	/* line i, the oldest row now, continues nothing */
	s->sb_broken = !s->pend_keep[i - 1];
	vt_sb_drop(s, i);
}

/* vt_sb_full: skip the lines that cannot be shown and the oldest lines
 * that are not kept; if libtsm is still full, read the oldest screenful. */
static void
vt_sb_make_room(struct vt_screen *s)
{
	unsigned n = 0;

	vt_sb_skip(s);
	while (n < s->pend_n && !s->pend_keep[n])
		n++;
	if (n > 0) {
		s->sb_broken = true; /* the next row continues nothing */
		vt_sb_drop(s, n);
	}
	if (s->pend_n + s->rows >= vt_pend_cap(s))
		vt_sb_read(s, s->rows);
}

/* Read the lines libtsm holds for us (pend_n, the oldest first) that our
 * scrollback can show into it, a view of at most rows lines at a time,
 * and drop them from libtsm. */
static void
vt_sb_drain(struct vt_screen *s)
{
	vt_sb_skip(s);
	while (s->pend_n > 0)
		vt_sb_read(s, MIN(s->pend_n, s->rows));
}

const char *
vt_screen_render(struct vt_screen *s, bool *changed)
{
	uint64_t old = s->hash;
	bool had = s->rendered;
	unsigned nsb;

	vt_sb_drain(s);
	/* the alternate screen shows no scrollback */
	nsb = tsm_screen_get_flags(s->tsm) & TSM_SCREEN_ALTERNATE ? 0 : s->sb_n;
	buf_clear(&s->text);
	s->row_len = 0;
	buf_clear(&s->marked);
	buf_append(&s->text, "", 0);
	memset(s->first_written, 0, (nsb + s->rows) * sizeof *s->first_written);
	memset(s->last_written, 0, (nsb + s->rows) * sizeof *s->last_written);
	for (unsigned i = 0; i < nsb; i++) {
		const struct vt_sbrow *r = vt_sb_row(s, i);

		buf_puts(&s->marked, r->text);
		buf_append(&s->marked, "\n", 1);
		s->first_written[i] = r->first_w;
		s->last_written[i] = r->last_w;
	}
	s->base = nsb;
	s->row_y = 0;
	s->row_x = 0;
	s->cur_x = tsm_screen_get_cursor_x(s->tsm);
	s->cur_y = tsm_screen_get_cursor_y(s->tsm);
	tsm_screen_draw(s->tsm, vt_draw_cell, s);
	vt_flush_row(s);
	s->base = 0;
	vt_mark_rows(s, nsb);
	/* a cursor move alone is a change too (an agent reacting to Enter
	 * may only move to a new line) */
	s->hash = vt_hash(s->text.data, s->text.len) ^
		  ((uint64_t)tsm_screen_get_cursor_x(s->tsm) << 32 |
		   tsm_screen_get_cursor_y(s->tsm));
	s->rendered = true;
	if (changed != NULL)
		*changed = !had || s->hash != old;
	return buf_cstr(&s->text);
}

/* ---- repaint (vt_screen_ansi) ------------------------------------------ */

/* The serializer's state: where the terminal's cursor and pen are. */
struct vt_ansi {
	struct buf *out;
	unsigned cols;
	unsigned cur_x, cur_y; /* the cursor's cell: libtsm inverts it */
	bool cursor_inverted;
	bool screen_inverted; /* reverse video (DECSCNM) inverts every cell */
	unsigned row, x;      /* the terminal's cursor (row UINT_MAX: none) */
	struct tsm_screen_attr pen;
	/* the last cell of the cursor's row, written again to leave the
	 * cursor in a pending wrap (x == cols) */
	struct buf last;
	unsigned last_x;
	struct tsm_screen_attr last_attr;
};

/* Whether colour code c (fccode or bccode) is a palette colour (0..15);
 * above it are libtsm's default foreground and background. */
static bool
vt_ansi_palette(int8_t c)
{
	return c >= 0 && c < 16;
}

/* Whether a and b draw the same (colours, bold, italic, underline, blink,
 * inverse). */
static bool
vt_ansi_same(const struct tsm_screen_attr *a, const struct tsm_screen_attr *b)
{
	bool fa = a->fccode < 0, fb = b->fccode < 0;
	bool ba = a->bccode < 0, bb = b->bccode < 0;

	if (a->bold != b->bold || a->italic != b->italic ||
	    a->underline != b->underline || a->blink != b->blink ||
	    a->inverse != b->inverse || fa != fb || ba != bb)
		return false;
	if (fa ? a->fr != b->fr || a->fg != b->fg || a->fb != b->fb
	       : (vt_ansi_palette(a->fccode) || vt_ansi_palette(b->fccode)) &&
			    a->fccode != b->fccode)
		return false;
	return ba ? a->br == b->br && a->bg == b->bg && a->bb == b->bb
		  : !(vt_ansi_palette(a->bccode) ||
		      vt_ansi_palette(b->bccode)) ||
			       a->bccode == b->bccode;
}

/* Whether a blank cell drawn with a shows nothing (as a cleared one). */
static bool
vt_ansi_blank(const struct tsm_screen_attr *a)
{
	return !a->inverse && !a->underline && a->bccode >= 0 &&
	       !vt_ansi_palette(a->bccode);
}

/* Append the SGR parameter of a colour: base 30 (foreground) or 40
 * (background), code a palette index, an rgb colour (< 0) or the
 * default (nothing). */
static void
vt_ansi_colour(struct buf *b, int base, int8_t code, uint8_t r, uint8_t g,
	       uint8_t bl)
{
	if (code < 0)
		buf_printf(b, ";%d;2;%u;%u;%u", base + 8, r, g, bl);
	else if (code < 8)
		buf_printf(b, ";%d", base + code);
	else if (code < 16)
		buf_printf(b, ";%d", base + 60 + code - 8);
}

/* Append the SGR that sets the pen to a from scratch. */
static void
vt_ansi_sgr(struct buf *b, const struct tsm_screen_attr *a)
{
	buf_puts(b, "\033[0");
	if (a->bold)
		buf_puts(b, ";1");
	if (a->italic)
		buf_puts(b, ";3");
	if (a->underline)
		buf_puts(b, ";4");
	if (a->blink)
		buf_puts(b, ";5");
	if (a->inverse)
		buf_puts(b, ";7");
	vt_ansi_colour(b, 30, a->fccode, a->fr, a->fg, a->fb);
	vt_ansi_colour(b, 40, a->bccode, a->br, a->bg, a->bb);
	buf_puts(b, "m");
}

/* Append a cell's characters (len 0: a space); no control reaches out. */
static void
vt_ansi_chars(struct buf *b, const uint32_t *ch, size_t len)
{
	char u8[4];

	if (len == 0)
		buf_puts(b, " ");
	for (size_t i = 0; i < len; i++) {
		uint32_t c = ch[i] < 0x20 || (ch[i] >= 0x7f && ch[i] < 0xa0)
				     ? '?'
				     : ch[i];

		buf_append(b, u8, utf8_encode(c, u8));
	}
}

/* tsm_screen_draw callback: write one cell unless it is blank and shows
 * nothing (the screen was cleared to the default pen). */
static int
vt_ansi_cell(struct tsm_screen *con UNUSED, uint64_t id UNUSED,
	     const uint32_t *ch, size_t len, unsigned int width,
	     unsigned int posx, unsigned int posy,
	     const struct tsm_screen_attr *attr, tsm_age_t age UNUSED,
	     void *data)
{
	struct vt_ansi *a = data;
	struct tsm_screen_attr at = *attr;
	bool blank = len == 0 || ch[0] == 0 || ch[0] == ' ';

	if (width == 0)
		return 0; /* the second half of a wide character */
	if (a->cursor_inverted && posx == a->cur_x && posy == a->cur_y)
		at.inverse = !at.inverse;
	if (a->screen_inverted)
		at.inverse = !at.inverse;
	if (posy == a->cur_y && posx + width >= a->cols) {
		buf_clear(&a->last);
		vt_ansi_chars(&a->last, ch, blank ? 0 : len);
		a->last_x = posx;
		a->last_attr = at;
	}
	if (blank && vt_ansi_blank(&at))
		return 0;
	if (posy != a->row)
		buf_printf(a->out, "\033[%u;%uH", posy + 1, posx + 1);
	else if (posx != a->x && posx - a->x < 16 && vt_ansi_blank(&a->pen))
		for (unsigned i = a->x; i < posx; i++) /* plain, copyable */
			buf_puts(a->out, " ");
	else if (posx != a->x)
		buf_printf(a->out, "\033[%uC", posx - a->x);
	a->row = posy;
	if (!vt_ansi_same(&at, &a->pen)) {
		vt_ansi_sgr(a->out, &at);
		a->pen = at;
	}
	vt_ansi_chars(a->out, ch, blank ? 0 : len);
	/* the terminal may measure a wide character otherwise: the next
	 * cell is placed with a CUP */
	a->x = width == 1 ? posx + 1 : UINT_MAX;
	if (width != 1)
		a->row = UINT_MAX;
	return 0;
}

char *
vt_screen_ansi(struct vt_screen *s, size_t *len)
{
	unsigned flags = tsm_screen_get_flags(s->tsm);
	unsigned x = tsm_screen_get_cursor_x(s->tsm);
	unsigned y = tsm_screen_get_cursor_y(s->tsm);
	struct buf out;
	struct vt_ansi a = {
		.out = &out,
		.cols = s->cols,
		.cur_x = MIN(x, s->cols - 1), /* libtsm draws it there */
		.cur_y = y,
		.cursor_inverted = !(flags & TSM_SCREEN_HIDE_CURSOR),
		.screen_inverted = flags & TSM_SCREEN_INVERSE,
		.row = UINT_MAX,
		.pen = {.fccode = 16, .bccode = 17},
	};

	buf_init(&out, 0);
	buf_init(&a.last, 0);
	/* a known start: default pen, the right screen, no margins, absolute
	 * addressing, replace mode, auto-wrap; cleared */
	buf_printf(&out,
		   "\033[0m\033[?1049%c\033[r\033[?6l\033[4l\033[?7h"
		   "\033[H\033[2J",
		   flags & TSM_SCREEN_ALTERNATE ? 'h' : 'l');
	tsm_screen_draw(s->tsm, vt_ansi_cell, &a);
	buf_puts(&out, "\033[0m");
	/* margins and origin mode move the cursor home: before it moves */
	if (s->top != 0 || s->bottom != s->rows - 1)
		buf_printf(&out, "\033[%u;%ur", s->top + 1, s->bottom + 1);
	if (flags & TSM_SCREEN_REL_ORIGIN) {
		buf_puts(&out, "\033[?6h");
		y = y >= s->top ? y - s->top : 0;
	}
	if (x >= s->cols && a.last.len > 0) {
		/* a pending wrap: write the last cell again */
		buf_printf(&out, "\033[%u;%uH", y + 1, a.last_x + 1);
		vt_ansi_sgr(&out, &a.last_attr);
		buf_append(&out, a.last.data, a.last.len);
		buf_puts(&out, "\033[0m");
	} else {
		buf_printf(&out, "\033[%u;%uH", y + 1, MIN(x, s->cols - 1) + 1);
	}
	/* modes that move nothing */
	buf_printf(&out, "\033[?7%c\033[4%c\033[?5%c\033[?25%c",
		   flags & TSM_SCREEN_AUTO_WRAP ? 'h' : 'l',
		   flags & TSM_SCREEN_INSERT_MODE ? 'h' : 'l',
		   flags & TSM_SCREEN_INVERSE ? 'h' : 'l',
		   flags & TSM_SCREEN_HIDE_CURSOR ? 'l' : 'h');
	buf_release(&a.last);
	*len = out.len;
	return buf_steal(&out);
}

struct tsm_screen *
vt_screen_tsm(struct vt_screen *s)
{
	return s->tsm;
}

int
vt_screen_resize(struct vt_screen *s, unsigned cols, unsigned rows)
{
	unsigned drop = 0;

	if (cols < 1 || rows < 1)
		return -EINVAL;
	vt_sb_drain(s);
	/* a lower screen loses its top rows: to the scrollback, as a
	 * scroll (libtsm's copy of them is dropped) */
	if (rows < s->rows &&
	    !(tsm_screen_get_flags(s->tsm) & TSM_SCREEN_ALTERNATE) &&
	    s->sb_max > 0) {
		drop = s->rows - rows;
		for (unsigned i = 0; i < drop; i++) {
			s->pend_cont[i] = s->cont[0][i];
			s->pend_keep[i] = true;
		}
		vt_capture(s, drop, 0);
	}
	if (tsm_screen_resize(s->tsm, cols, rows) < 0)
		return -EINVAL;
	tsm_screen_clear_sb(s->tsm);
	/* libtsm does not reflow: old wraps mean nothing at another size
	 * (at the same size nothing moved) */
	if (cols != s->cols || rows != s->rows)
		vt_wrap_reset(s);
	return 0;
}

int
vt_screen_set_scrollback(struct vt_screen *s, unsigned rows)
{
	if (rows > VT_MAX_SCROLLBACK)
		return -EINVAL;
	vt_sb_clear(s);
	free(s->sb);
	s->sb_max = rows;
	s->sb = rows > 0 ? xcalloc(rows, sizeof *s->sb) : NULL;
	vt_wrap_reset(s);
	return 0;
}

unsigned
vt_screen_scrollback(struct vt_screen *s)
{
	return s->sb_n;
}

unsigned
vt_screen_cols(struct vt_screen *s)
{
	return tsm_screen_get_width(s->tsm);
}

unsigned
vt_screen_rows(struct vt_screen *s)
{
	return tsm_screen_get_height(s->tsm);
}

const char *
vt_screen_lines(struct vt_screen *s)
{
	return s->rendered ? buf_cstr(&s->marked) : "";
}
