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
 * read before and after; the rest in batches. A printable character written
 * while the cursor sat past the last column (libtsm's pending wrap, x == cols)
 * that lands at the start of the next row is an auto-wrap, and that row is
 * marked as continuing the one above (cont[y]). A small parser of our own
 * follows the sequences that move or clear rows (line feeds at the bottom of
 * the scroll region, ED, EL, SU/SD, IL/DL, DECSTBM, RI, RIS, the alternate
 * screen) so the marks move with their rows. What it does not follow
 * (character insert/delete, ...) can leave a stale mark, so marks are
 * dropped eagerly: a row whose first column is written without a wrap
 * continues nothing, and a row written again after it wrapped is not
 * continued any more. A missed join leaves a line split as before; a
 * wrong one would glue two lines.
 *
 * A render gives two texts: the rows as the terminal shows them, and the
 * logical lines, with wrapped rows joined back (messages use these).
 */
#include "common.h"

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
	VT_STR, /* OSC, DCS, APC, PM, SOS: up to BEL or ST */
	VT_STR_ESC,
};

#define VT_MAX_PARAMS 8

struct vt_screen {
	struct tsm_screen *tsm;
	struct tsm_vte *vte;
	vt_reply_cb reply;
	void *reply_arg;
	struct buf text;  /* last render: rows */
	struct buf lines; /* last render: logical lines */
	uint64_t hash;	  /* FNV-1a of text */
	bool rendered;	  /* a render happened */
	/* soft wraps */
	unsigned cols, rows;
	bool *cont[2];	       /* [alternate screen][row]: continues row - 1 */
	unsigned top, bottom;  /* scroll region, rows */
	enum vt_pstate pstate; /* our parser */
	unsigned params[VT_MAX_PARAMS];
	size_t nparams;
	bool csi_private; /* "CSI ?" */
	bool csi_other;	  /* intermediates: not a sequence we follow */
	/* render state */
	struct buf row;
	unsigned row_y;
	unsigned row_x;
	unsigned emitted;     /* rows already in text */
	struct buf logical;   /* the logical line being built, untrimmed */
	unsigned blank_lines; /* empty logical lines not yet written */
	bool any_line;	      /* lines holds a line */
};

static void
vt_screen_vte_write(struct tsm_vte *vte UNUSED, const char *u8, size_t len,
		    void *data)
{
	struct vt_screen *s = data;

	if (s->reply != NULL)
		s->reply(u8, len, s->reply_arg);
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
	s->top = 0;
	s->bottom = s->rows - 1;
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
	buf_init(&s->lines, 0);
	buf_init(&s->row, 0);
	buf_init(&s->logical, 0);
	vt_wrap_reset(s);
	return s;
}

void
vt_screen_free(struct vt_screen *s)
{
	if (s == NULL)
		return;
	tsm_vte_unref(s->vte);
	tsm_screen_unref(s->tsm);
	buf_release(&s->text);
	buf_release(&s->lines);
	buf_release(&s->row);
	buf_release(&s->logical);
	free(s->cont[0]);
	free(s->cont[1]);
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

/* Rows [top, bottom] move up n (n > 0), as libtsm scrolls them. */
static void
vt_cont_up(struct vt_screen *s, unsigned top, unsigned bottom, unsigned n)
{
	bool *c = vt_cont(s);

	if (top > bottom || bottom >= s->rows)
		return;
	n = MIN(n, bottom - top + 1);
	memmove(c + top, c + top + n, (bottom - top + 1 - n) * sizeof *c);
	vt_cont_clear(s, bottom + 1 - n, bottom + 1);
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

	if (s->csi_other || s->csi_private)
		return;
	switch (final) {
	case 'J': /* ED */
		n = s->nparams > 0 ? s->params[0] : 0;
		if (n == 0)
			vt_cont_clear(s, y + 1, s->rows);
		else if (n == 1)
			vt_cont_clear(s, 0, y + 1);
		else
			vt_cont_clear(s, 0, s->rows);
		break;
	case 'K': /* EL: the row no longer reaches the end or its start */
		n = s->nparams > 0 ? s->params[0] : 0;
		if ((n == 0 || n == 2) && y + 1 < s->rows)
			c[y + 1] = false;
		if ((n == 1 || n == 2) && y < s->rows)
			c[y] = false;
		break;
	case 'S': /* SU */
		vt_cont_up(s, s->top, s->bottom, n);
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
			vt_cont_up(s, y, s->bottom, n);
		break;
	case 'r': { /* DECSTBM */
		unsigned t = vt_param(s, 0, 1), b = vt_param(s, 1, s->rows);

		if (t < b && b <= s->rows) {
			s->top = t - 1;
			s->bottom = b - 1;
		}
		break;
	}
	default:
		break;
	}
}

/*
 * The cursor went from (x0, y0) to (x1, y1) while libtsm took byte c:
 * follow wraps, scrolls and clears.
 */
static void
vt_track(struct vt_screen *s, unsigned char c, unsigned x0, unsigned y0,
	 unsigned x1, unsigned y1)
{
	bool *cont = vt_cont(s);

	/* C0 controls act inside sequences too, leaving them as they were
	 * (CAN and SUB abort them); a line feed at the bottom scrolls */
	if (c < 0x20 && c != 0x1b && s->pstate != VT_STR &&
	    s->pstate != VT_STR_ESC) {
		if (c == 0x18 || c == 0x1a)
			s->pstate = VT_GROUND;
		else if (c >= 0x0a && c <= 0x0c && y0 == s->bottom && y1 == y0)
			vt_cont_up(s, s->top, s->bottom, 1);
		return;
	}
	if (c >= 0x80 && s->pstate != VT_GROUND)
		return; /* part of a character libtsm is still decoding */
	switch (s->pstate) {
	case VT_GROUND:
		if (c == 0x1b) {
			s->pstate = VT_ESC;
		} else if (c >= 0x20 && c != 0x7f && x1 != x0) {
			if (x0 + 1 >= s->cols && x1 >= 1 && x1 <= 2 &&
			    x1 < x0) {
				/* auto-wrap, and a scroll when on the bottom */
				if (y1 == y0 && y0 == s->bottom)
					vt_cont_up(s, s->top, s->bottom, 1);
				cont = vt_cont(s);
				if (y1 < s->rows && y1 > 0)
					cont[y1] = true;
			} else if (y1 == y0 && y0 < s->rows) {
				/* a row written from its start continues no
				 * row; a row written again is no longer
				 * continued (the program went back to it) */
				if (x0 == 0)
					cont[y0] = false;
				if (y0 + 1 < s->rows)
					cont[y0 + 1] = false;
			}
		}
		break;
	case VT_ESC:
		s->pstate = VT_GROUND;
		if (c == '[') {
			s->pstate = VT_CSI;
			memset(s->params, 0, sizeof s->params);
			s->nparams = 0;
			s->csi_private = s->csi_other = false;
		} else if (c == ']' || c == 'P' || c == '_' || c == '^' ||
			   c == 'X') {
			s->pstate = VT_STR;
		} else if (c >= 0x20 && c <= 0x2f) {
			s->pstate = VT_ESC_INT;
		} else if (c == 'D' || c == 'E') { /* IND, NEL */
			if (y0 == s->bottom && y1 == y0)
				vt_cont_up(s, s->top, s->bottom, 1);
		} else if (c == 'M') { /* RI */
			if (y0 == s->top && y1 == y0)
				vt_cont_down(s, s->top, s->bottom, 1);
		} else if (c == 'c') { /* RIS */
			vt_cont_clear(s, 0, s->rows);
			s->top = 0;
			s->bottom = s->rows - 1;
		}
		break;
	case VT_ESC_INT:
		if (c < 0x20 || c > 0x2f)
			s->pstate = VT_GROUND;
		break;
	case VT_CSI:
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
		} else if (c == '?') {
			s->csi_private = true;
		} else if (c >= 0x3c && c <= 0x3f) {
			s->csi_other = true;
		} else if (c >= 0x20 && c <= 0x2f) {
			s->csi_other = true;
		} else if (c >= 0x40 && c <= 0x7e) {
			s->nparams = MIN(s->nparams, VT_MAX_PARAMS);
			vt_track_csi(s, (char)c, y0);
			s->pstate = VT_GROUND;
		} else if (c == 0x1b) {
			s->pstate = VT_ESC;
		}
		break;
	case VT_STR:
		if (c == 0x07)
			s->pstate = VT_GROUND;
		else if (c == 0x1b)
			s->pstate = VT_STR_ESC;
		break;
	case VT_STR_ESC:
		s->pstate = c == '\\' ? VT_GROUND : VT_STR;
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
		return c == '[' || c == ']' || c == 'P' || c == '_' ||
		       c == '^' || c == 'X' || (c >= 0x20 && c <= 0x2f);
	case VT_ESC_INT:
		return c >= 0x20 && c <= 0x2f;
	case VT_CSI:
		return c == 0x1b || (c >= 0x20 && c <= 0x3f);
	case VT_STR:
	case VT_STR_ESC:
		return c != 0x07 && c != 0x18 && c != 0x1a &&
		       (s->pstate == VT_STR || c != '\\');
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

/* One byte with the cursor read around it. */
static void
vt_feed_byte(struct vt_screen *s, char c)
{
	unsigned x0 = tsm_screen_get_cursor_x(s->tsm);
	unsigned y0 = tsm_screen_get_cursor_y(s->tsm);
	unsigned alt = tsm_screen_get_flags(s->tsm) & TSM_SCREEN_ALTERNATE;

	tsm_vte_input(s->vte, &c, 1);
	if ((tsm_screen_get_flags(s->tsm) & TSM_SCREEN_ALTERNATE) != alt) {
		/* a fresh alternate screen, or back to the main one */
		if (!alt)
			vt_cont_clear(s, 0, s->rows);
		s->pstate = VT_GROUND; /* that was a CSI final */
		return;
	}
	vt_track(s, (unsigned char)c, x0, y0, tsm_screen_get_cursor_x(s->tsm),
		 tsm_screen_get_cursor_y(s->tsm));
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

int
vt_screen_resize(struct vt_screen *s, unsigned cols, unsigned rows)
{
	if (tsm_screen_resize(s->tsm, cols, rows) < 0)
		return -EINVAL;
	vt_wrap_reset(s); /* libtsm does not reflow: old wraps mean nothing */
	return 0;
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

/* ---- render ---------------------------------------------------------- */

/* Append one UTF-8 encoded code point (never a surrogate). */
static void
vt_put_utf8(struct buf *b, uint32_t c)
{
	char u[4];

	buf_append(b, u, utf8_encode(c, u));
}

/* Trailing blanks of b dropped. */
static void
vt_trim(struct buf *b)
{
	while (b->len > 0 && b->data[b->len - 1] == ' ')
		b->len--;
}

/* Finish the logical line being built: add it to lines. Empty lines wait
 * so that trailing ones are never written. */
static void
vt_flush_logical(struct vt_screen *s)
{
	vt_trim(&s->logical);
	if (s->logical.len == 0) {
		s->blank_lines++;
		return;
	}
	for (unsigned i = 0; i < s->blank_lines + (s->any_line ? 1 : 0); i++)
		buf_append(&s->lines, "\n", 1);
	buf_append(&s->lines, s->logical.data, s->logical.len);
	s->blank_lines = 0;
	s->any_line = true;
	buf_clear(&s->logical);
}

/* Finish the row being built: add it to the text and the lines. */
static void
vt_flush_row(struct vt_screen *s)
{
	unsigned k = s->row_y;
	const bool *cont = vt_cont(s);

	/* lines: a wrapped row goes on the line above, untrimmed */
	if (k > 0 && !(k < s->rows && cont[k]))
		vt_flush_logical(s);
	buf_append(&s->logical, s->row.data, s->row.len);
	/* text: one row a line */
	vt_trim(&s->row);
	if (s->row.len > 0) {
		/* one newline before each row but row 0; blank rows between */
		unsigned nl = k - s->emitted + (s->emitted > 0 ? 1 : 0);

		for (unsigned i = 0; i < nl; i++)
			buf_append(&s->text, "\n", 1);
		buf_append(&s->text, s->row.data, s->row.len);
		s->emitted = k + 1;
	}
	buf_clear(&s->row);
	s->row_x = 0;
}

static int
vt_draw_cell(struct tsm_screen *con UNUSED, uint64_t id UNUSED,
	     const uint32_t *ch, size_t len, unsigned int width,
	     unsigned int posx, unsigned int posy,
	     const struct tsm_screen_attr *attr UNUSED, tsm_age_t age UNUSED,
	     void *data)
{
	struct vt_screen *s = data;

	if (posy != s->row_y) {
		vt_flush_row(s);
		s->row_y = posy;
	}
	if (width == 0)
		return 0;	  /* second half of a wide character */
	while (s->row_x < posx) { /* cells libtsm skipped */
		buf_append(&s->row, " ", 1);
		s->row_x++;
	}
	if (len == 0 || ch[0] == 0) {
		buf_append(&s->row, " ", 1);
	} else {
		for (size_t i = 0; i < len; i++)
			vt_put_utf8(&s->row, ch[i]);
	}
	s->row_x = posx + width;
	return 0;
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

const char *
vt_screen_render(struct vt_screen *s, bool *changed)
{
	uint64_t old = s->hash;
	bool had = s->rendered;

	buf_clear(&s->text);
	buf_clear(&s->lines);
	buf_clear(&s->row);
	buf_clear(&s->logical);
	buf_append(&s->text, "", 0);
	buf_append(&s->lines, "", 0);
	s->row_y = 0;
	s->row_x = 0;
	s->emitted = 0;
	s->blank_lines = 0;
	s->any_line = false;
	tsm_screen_draw(s->tsm, vt_draw_cell, s);
	vt_flush_row(s);
	vt_flush_logical(s);
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

const char *
vt_screen_lines(struct vt_screen *s)
{
	return buf_cstr(&s->lines);
}
