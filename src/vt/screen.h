/*
 * screen.h: the terminal screen model, a thin layer over libtsm.
 *
 * Bytes from the PTY go in through vt_screen_feed(); answers to terminal
 * queries (DA, CPR) come out through the write callback. A render turns
 * the visible screen into UTF-8 text: one line per row, trailing blanks
 * trimmed, trailing empty rows dropped; and the same with soft-wrapped
 * rows joined into the lines the program printed. Rendering is explicit so
 * callers decide when it happens (only after output went quiet).
 *
 * With a scrollback, the rows that scroll off the top of the screen are
 * kept as text (at most the scrollback's rows, the oldest dropped first)
 * and a render shows them above the screen's rows, wrap marks included,
 * as a screen that much taller would: a normal-height screen keeps the
 * head of a long reply without a tall grid of cells.
 */
#ifndef TASKBOX_VT_SCREEN_H
#define TASKBOX_VT_SCREEN_H

struct vt_screen;
struct tsm_screen;

/* Called with bytes the terminal sends back to the program. */
typedef void (*vt_reply_cb)(const char *data, size_t len, void *arg);

struct vt_screen *vt_screen_new(unsigned cols, unsigned rows, vt_reply_cb cb,
				void *arg);
void vt_screen_free(struct vt_screen *s);
void vt_screen_feed(struct vt_screen *s, const char *data, size_t len);
int vt_screen_resize(struct vt_screen *s, unsigned cols, unsigned rows);
/* Keep up to rows (at most VT_MAX_SCROLLBACK) rows scrolled off the top
 * of the main screen as text; 0 (the default) keeps none. Clears the
 * scrollback and the wrap marks; 0 or -EINVAL. */
int vt_screen_set_scrollback(struct vt_screen *s, unsigned rows);
/* Rows in the scrollback now (read at the last render or feed). */
unsigned vt_screen_scrollback(struct vt_screen *s);
#define VT_MAX_SCROLLBACK 100000u
unsigned vt_screen_cols(struct vt_screen *s);
unsigned vt_screen_rows(struct vt_screen *s);
/*
 * Render the screen as text, one line a row (the scrollback's rows first,
 * but on the alternate screen). Returns a string owned by
 * the screen, valid until the next render; *changed tells whether it
 * differs from the previous render.
 */
const char *vt_screen_render(struct vt_screen *s, bool *changed);
/*
 * The last render as marked rows: one line a row, and a row the terminal
 * wrapped into at its width (auto-wrap) starts with VT_WRAP_MARK (rows
 * the program ended with a newline or a cursor move do not). A row that
 * wrapped keeps its trailing blanks. Rows, unlike joined lines, do not
 * change when a wrapped line scrolls half off the top, so diff these and
 * join the result with vt_lines_join(). Owned by the screen, valid until
 * the next render; "" before the first.
 */
const char *vt_screen_lines(struct vt_screen *s);
/* Marked rows (or any text) with every marked row joined to the line
 * above and trailing blanks trimmed: the lines the program printed.
 * Returns a new string. */
char *vt_lines_join(const char *rows);

/*
 * The screen as bytes that repaint it on a terminal of the same size: the
 * pen reset, the main or alternate screen chosen and cleared, each row's
 * written cells with their colours and attributes (SGR runs, the cursor
 * moved over blank cells), then the modes that change what later output
 * does (auto-wrap, insert, reverse video, scroll region, origin), the
 * cursor's position and visibility. The scrollback and the pen the program
 * left set are not included. Returns a new string of *len bytes.
 */
char *vt_screen_ansi(struct vt_screen *s, size_t *len);

/* libtsm's screen under s (tests read its cells with tsm_screen_draw);
 * owned by s. */
struct tsm_screen *vt_screen_tsm(struct vt_screen *s);

/* Starts a row that continues the row above; no screen cell holds a
 * control character. */
#define VT_WRAP_MARK "\x1e"

#endif
