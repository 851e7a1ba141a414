/*
 * screen.c: screen model over libtsm.
 *
 * libtsm keeps the cells; scrolling moves line pointers, so the cost of
 * a scroll does not grow with the height (unlike libvterm, see DESIGN).
 * We keep the text of the last render and its hash to report changes.
 */
#include "common.h"

#include <libtsm.h>

#include "core/buf.h"
#include "core/text.h"
#include "screen.h"

struct vt_screen {
	struct tsm_screen *tsm;
	struct tsm_vte *vte;
	vt_reply_cb reply;
	void *reply_arg;
	struct buf text; /* last render */
	uint64_t hash;	 /* FNV-1a of text */
	bool rendered;	 /* a render happened */
	/* render state */
	struct buf row;
	unsigned row_y;
	unsigned row_x;
	unsigned emitted; /* rows already in text */
};

static void
vt_screen_vte_write(struct tsm_vte *vte UNUSED, const char *u8, size_t len,
		    void *data)
{
	struct vt_screen *s = data;

	if (s->reply != NULL)
		s->reply(u8, len, s->reply_arg);
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
	buf_init(&s->row, 0);
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
	buf_release(&s->row);
	free(s);
}

void
vt_screen_feed(struct vt_screen *s, const char *data, size_t len)
{
	tsm_vte_input(s->vte, data, len);
}

int
vt_screen_resize(struct vt_screen *s, unsigned cols, unsigned rows)
{
	return tsm_screen_resize(s->tsm, cols, rows) < 0 ? -EINVAL : 0;
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

/* Append one UTF-8 encoded code point (never a surrogate). */
static void
vt_put_utf8(struct buf *b, uint32_t c)
{
	char u[4];

	buf_append(b, u, utf8_encode(c, u));
}

/* Finish the row being built: trim it and add it to the text. */
static void
vt_flush_row(struct vt_screen *s)
{
	unsigned k = s->row_y;

	while (s->row.len > 0 && s->row.data[s->row.len - 1] == ' ')
		s->row.len--;
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
	buf_clear(&s->row);
	buf_append(&s->text, "", 0);
	s->row_y = 0;
	s->row_x = 0;
	s->emitted = 0;
	tsm_screen_draw(s->tsm, vt_draw_cell, s);
	vt_flush_row(s);
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
