/*
 * msgfmt.c: message extraction and screen reading, pure functions.
 *
 * Everything here works on rendered screen text (rows joined by '\n',
 * trailing blanks trimmed) and returns new strings. The per-agent rules
 * are small tables and switch cases; the algorithms are shared:
 *
 *   screen diff  first row of the new screen absent from the old one,
 *                to the end (inline TUIs append below what was there),
 *                then the rows the terminal wrapped joined back
 *   echo         the user's text, whitespace ignored, matched fuzzily at
 *                the top of the diff and cut with the lines it spans
 *   input box    a line that starts with a prompt marker ('>', '❯',
 *                '›', "ask>") near the bottom, ending the screen or
 *                framed by a rule, with the rule above it; everything
 *                from there down is chrome. A '>' inside output is not
 *                one. The state's headline skips the same chrome.
 */
#include "common.h"

#include <ctype.h>

#include "core/buf.h"
#include "core/text.h"
#include "msgfmt.h"
#include "vt/screen.h"

/* ---- screen diff -------------------------------------------------- */

struct hashset {
	uint64_t *slots; /* 0 = empty */
	size_t mask;
};

/* Hash of a row as it reads: without its wrap mark and trailing blanks
 * (a row that wrapped keeps them, and stops wrapping when the row above
 * scrolls off or is rewritten). */
static uint64_t
msgfmt_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	size_t n;

	if (str_starts_with(s, VT_WRAP_MARK))
		s += strlen(VT_WRAP_MARK);
	n = strlen(s);
	while (n > 0 && s[n - 1] == ' ')
		n--;
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ULL;
	}
	return h ? h : 1;
}

static void
hashset_init(struct hashset *hs, size_t n)
{
	size_t cap = 16;

	while (cap < n * 2)
		cap *= 2;
	hs->slots = xcalloc(cap, sizeof *hs->slots);
	hs->mask = cap - 1;
}

static void
hashset_add(struct hashset *hs, uint64_t h)
{
	size_t i = h & hs->mask;

	while (hs->slots[i] != 0 && hs->slots[i] != h)
		i = (i + 1) & hs->mask;
	hs->slots[i] = h;
}

static bool
hashset_has(const struct hashset *hs, uint64_t h)
{
	size_t i = h & hs->mask;

	while (hs->slots[i] != 0) {
		if (hs->slots[i] == h)
			return true;
		i = (i + 1) & hs->mask;
	}
	return false;
}

static long box_cut(enum agent_type t, const struct lines *l);
static bool line_is_status(const char *s);
static bool line_starts_spinner(const char *s);
static bool parse_option(const char *s, int *num, const char **label,
			 bool *marked);

/* Does row s echo the start of user's input (its first line, at most 16
 * bytes cut at a character boundary)? */
static bool
row_echoes(const char *s, const char *user)
{
	char probe[17];
	size_t n = strcspn(user + strspn(user, " \t"), "\r\n");

	user += strspn(user, " \t");
	n = utf8_cut(user, MIN(n, sizeof probe - 1));
	memcpy(probe, user, n);
	probe[n] = '\0';
	return n > 0 && strstr(s, probe) != NULL;
}

/*
 * Where the new part of new starts when rows at its top changed without
 * being news: an agent that redraws its whole screen with an animated
 * logo (Claude Code, while it starts) makes every row look new from the
 * first. The last two non-blank rows of old's content (above its input
 * box) are found again in new, in order, with the echo of the user's
 * input right after them: the reply starts there. The echo is what
 * tells this from a reply that repeats the previous one. start when no
 * such place is below it.
 */
static size_t
diff_anchor(enum agent_type t, const struct lines *old, const struct lines *new,
	    size_t start, const char *user)
{
	long cut = box_cut(t, old);
	size_t end = cut >= 0 ? (size_t)cut : old->n, k = 0;
	struct hashset in_new;
	uint64_t tail[2];

	if (user == NULL || end == 0 || start + 1 >= new->n)
		return start;
	hashset_init(&in_new, new->n);
	for (size_t i = 0; i < new->n; i++)
		hashset_add(&in_new, msgfmt_hash(new->v[i]));
	/* old's last content rows that new still shows, last first: no
	 * status line or spinner ("✻ Jitterbugging… (running Stop hook)",
	 * "◐ medium · /effort" stay at the bottom), nothing that went away
	 * (a tip) */
	for (size_t i = end; i-- > 0 && k < ARRAY_SIZE(tail);) {
		const char *row = old->v[i];
		uint64_t h = msgfmt_hash(row);

		if (str_starts_with(row, VT_WRAP_MARK))
			row += strlen(VT_WRAP_MARK);
		if (!str_is_blank(row) && !line_is_status(row) &&
		    !line_starts_spinner(row) && hashset_has(&in_new, h))
			tail[k++] = h;
	}
	free(in_new.slots);
	if (k == 0)
		return start;
	for (size_t j = new->n; j-- > start + 1;) {
		size_t m = 0;

		if (!row_echoes(new->v[j], user))
			continue;
		/* right above the echo (blank rows apart), new ends as old's
		 * content did: history redrawn under rows that changed. Not
		 * past start: when start was right, the reply is new. */
		for (size_t p = j; p-- > start && m < k;) {
			/* "✻ Churned for 0s" comes under the old reply */
			if (str_is_blank(new->v[p]) ||
			    line_starts_spinner(new->v[p]) ||
			    line_is_status(new->v[p]))
				continue;
			if (msgfmt_hash(new->v[p]) != tail[m])
				break;
			m++;
		}
		if (m == k)
			return j; /* the echo: msgfmt_remove_echo takes it */
	}
	return start;
}

char *
msgfmt_screen_diff(enum agent_type t, const char *before, const char *after,
		   const char *user)
{
	struct lines old, new;
	struct hashset hs;
	size_t start = 0, skip = 0;
	char *out, *joined, *rows;

	lines_split(&old, before);
	lines_split(&new, after);
	if (t == AGENT_OPENCODE)
		skip = 2; /* its header shows live token and cost counters */
	hashset_init(&hs, old.n);
	for (size_t i = 0; i < old.n; i++)
		hashset_add(&hs, msgfmt_hash(old.v[i]));
	start = new.n;
	for (size_t i = skip; i < new.n; i++) {
		if (!hashset_has(&hs, msgfmt_hash(new.v[i]))) {
			start = i;
			break;
		}
	}
	start = diff_anchor(t, &old, &new, start, user);
	lines_remove(&new, 0, start);
	if (new.n > 0 && str_starts_with(new.v[0], VT_WRAP_MARK))
		/* the start of its line is old: the reply starts here */
		memmove(new.v[0], new.v[0] + strlen(VT_WRAP_MARK),
			strlen(new.v[0]) - strlen(VT_WRAP_MARK) + 1);
	/* join the wrapped rows of the new part only: joining before the
	 * diff would make a line half scrolled off look new */
	joined = lines_join(&new, 0, new.n);
	lines_release(&new);
	rows = vt_lines_join(joined);
	lines_split(&new, rows);
	lines_trim_blank(&new);
	out = lines_join(&new, 0, new.n);
	free(joined);
	free(rows);
	free(hs.slots);
	lines_release(&old);
	lines_release(&new);
	return out;
}

/* ---- echo removal -------------------------------------------------- */

static bool
rune_space(uint32_t c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
	       c == '\v' || c == 0xa0;
}

/* Non-space runes of l's lines, with the line of each rune. */
struct runes {
	uint32_t *r;
	size_t *line;
	size_t n;
};

static void
runes_from_lines(struct runes *rs, const struct lines *l)
{
	size_t cap = 0;

	memset(rs, 0, sizeof *rs);
	for (size_t i = 0; i < l->n; i++)
		cap += strlen(l->v[i]);
	rs->r = xcalloc(cap + 1, sizeof *rs->r);
	rs->line = xcalloc(cap + 1, sizeof *rs->line);
	for (size_t i = 0; i < l->n; i++) {
		size_t k;
		uint32_t *u = utf8_decode(l->v[i], &k);

		for (size_t j = 0; j < k; j++) {
			if (rune_space(u[j]))
				continue;
			rs->r[rs->n] = u[j];
			rs->line[rs->n++] = i;
		}
		free(u);
	}
}

static void
runes_release(struct runes *rs)
{
	free(rs->r);
	free(rs->line);
}

/* Drop a line right after the echo when it closes the echo's box. */
static size_t
echo_extra_lines(enum agent_type t, const struct lines *l, size_t cut)
{
	const char *next = cut + 1 < l->n ? l->v[cut + 1] : NULL;

	if (next == NULL)
		return 0;
	switch (t) {
	case AGENT_GEMINI:
	case AGENT_COPILOT:
		return strstr(next, "╯") && strstr(next, "╰") ? 1 : 0;
	case AGENT_CURSOR:
		return strstr(next, "┘") && strstr(next, "└") ? 1 : 0;
	case AGENT_OPENCODE:
		return MIN(2, l->n - cut - 1);
	default:
		return 0;
	}
}

/*
 * Walk the user's runes through msg from msg[start] = user[0], allowing
 * up to 4 skipped runes on either side per step. Returns how many user
 * runes matched; *last gets the msg index of the last match.
 */
static size_t
echo_walk(const struct runes *mr, const struct runes *ur, size_t start,
	  size_t *last)
{
	size_t i = start + 1, j = 1, matched = 1;

	*last = start;
	while (j < ur->n && i < mr->n) {
		size_t bd = SIZE_MAX, bi = 0, bj = 0;

		for (size_t di = 0; di < 5 && i + di < mr->n; di++) {
			for (size_t dj = 0; dj < 5 && j + dj < ur->n; dj++) {
				if (mr->r[i + di] == ur->r[j + dj] &&
				    di + dj < bd) {
					bd = di + dj;
					bi = di;
					bj = dj;
				}
			}
		}
		if (bd == SIZE_MAX)
			break;
		i += bi + 1;
		j += bj + 1;
		matched++;
		*last = i - 1;
	}
	return matched;
}

char *
msgfmt_remove_echo(enum agent_type t, const char *msg, const char *user)
{
	struct lines ml, ul;
	struct runes mr, ur, first;
	size_t plen, limit, start = SIZE_MAX, i, last = 0;
	char *out = NULL;

	lines_split(&ml, msg);
	lines_split(&ul, user);
	runes_from_lines(&mr, &ml);
	runes_from_lines(&ur, &ul);
	{
		struct lines fl = {0};

		lines_push(&fl, ul.v[0], strlen(ul.v[0]));
		runes_from_lines(&first, &fl);
		lines_release(&fl);
	}
	plen = MIN(first.n, 6);
	if (plen == 0 || ur.n == 0)
		goto unchanged;
	limit = 0;
	for (i = 0; i < mr.n && mr.line[i] < 6; i++)
		limit++;
	limit = MAX(limit, 25);
	/*
	 * A start is a rune equal to the user's first one from which the
	 * fuzzy walk matches at least plen runes: UI characters may sit
	 * between the echoed ones, and agents may drop some (backticks).
	 */
	for (i = 0; i < mr.n && i < limit; i++) {
		size_t matched;

		if (mr.r[i] != ur.r[0])
			continue;
		matched = echo_walk(&mr, &ur, i, &last);
		if (matched >= plen) {
			start = i;
			break;
		}
	}
	if (start == SIZE_MAX)
		goto unchanged;
	{
		size_t cut = mr.line[last];

		cut += echo_extra_lines(t, &ml, cut);
		out = lines_join(&ml, cut + 1, ml.n);
	}
	goto done;
unchanged:
	out = xstrdup(msg);
done:
	runes_release(&mr);
	runes_release(&ur);
	runes_release(&first);
	lines_release(&ml);
	lines_release(&ul);
	return out;
}

/* ---- input box ----------------------------------------------------- */

static bool
line_is_border(const char *s)
{
	return strstr(s, "───────────────") != NULL ||
	       strstr(s, "╌╌╌╌╌╌╌╌╌╌╌╌╌╌╌") != NULL ||
	       strstr(s, "━━━━━━━━━━━━━━━") != NULL;
}

/* Skip leading spaces and one box side ("│", "|", "┃"); returns the rest. */
static const char *
skip_box_side(const char *s)
{
	static const char *sides[] = {"│", "|", "┃"};

	while (*s == ' ')
		s++;
	for (size_t i = 0; i < ARRAY_SIZE(sides); i++) {
		if (str_starts_with(s, sides[i])) {
			s += strlen(sides[i]);
			while (*s == ' ')
				s++;
			break;
		}
	}
	return s;
}

/* End of a prompt marker: a blank (Claude puts a no-break space), or the
 * end of the line. */
static bool
prompt_end(const char *p)
{
	return *p == ' ' || *p == '\0' || str_starts_with(p, "\u00a0");
}

/*
 * An agent's input line: it starts (inside a box side) with a prompt
 * marker followed by a blank or nothing: "> ", "❯ ", "› ", "→ Add a
 * follow-up", a word prompt ("ask> ", "architect> ", Aider's modes),
 * Goose's "( O)> " or Amazon Q's trust-all "!> ". Output that merely
 * contains '>' ("a > b", HTML) is not one.
 */
static bool
line_is_input(const char *s)
{
	static const char *marks[] = {">", "❯", "›", "→", "( O)>", "!>"};
	const char *p = skip_box_side(s);
	size_t w = 0;

	for (size_t i = 0; i < ARRAY_SIZE(marks); i++) {
		size_t k = strlen(marks[i]);

		if (strncmp(p, marks[i], k) == 0 && prompt_end(p + k))
			return true;
	}
	while (w < 16 &&
	       (isalnum((unsigned char)p[w]) || p[w] == '-' || p[w] == '_'))
		w++;
	return w > 0 && p[w] == '>' && prompt_end(p + w + 1);
}

/* First line to drop for the generic box rules, or -1. */
static long
box_cut_generic(const struct lines *l)
{
	long n = (long)l->n;

	for (long i = n - 1; i >= 0 && i >= n - 6; i--) {
		bool above = i > 0 && line_is_border(l->v[i - 1]);
		bool below = i + 1 < n && line_is_border(l->v[i + 1]);

		/* the input line ends the screen or sits in a box: a "❯ x"
		 * line of output is followed by more output */
		if (!line_is_input(l->v[i]) || (i != n - 1 && !above && !below))
			continue;
		return above ? i - 1 : i;
	}
	/* an input line framed by rules: "───", "❯ ", "───" */
	for (long i = n - 3; i >= 0 && i >= n - 9; i--) {
		const char *mid = skip_box_side(l->v[i + 1]);

		if (line_is_border(l->v[i]) && line_is_border(l->v[i + 2]) &&
		    line_is_input(mid))
			return i;
	}
	return -1;
}

/* The number of the dialog option on line i, or 0 when it is none. */
static int
option_at(const struct lines *l, long i)
{
	int num;
	const char *label;
	bool marked;

	if (i < 0 || i >= (long)l->n ||
	    !parse_option(l->v[i], &num, &label, &marked))
		return 0;
	return num;
}

/*
 * Is line i, which starts with Codex's "›", the highlighted option of an
 * approval dialog ("› 1. Yes, proceed (y)" with "2. ..." below or above)
 * rather than the composer?
 */
static bool
codex_line_is_option(const struct lines *l, long i)
{
	int num = option_at(l, i);

	return num > 0 && (option_at(l, i + 1) == num + 1 ||
			   (num > 1 && option_at(l, i - 1) == num - 1));
}

static long
box_cut_codex(const struct lines *l)
{
	long n = (long)l->n;

	for (long i = n - 1; i >= 0 && i >= n - 8; i--) {
		const char *s = l->v[i];

		while (*s == ' ')
			s++;
		if (str_starts_with(s, "›") && !codex_line_is_option(l, i))
			return i;
	}
	return -1;
}

static long
box_cut_opencode(const struct lines *l)
{
	for (long i = (long)l->n - 1; i >= 0; i--) {
		const char *s = l->v[i];

		while (*s == ' ')
			s++;
		if (str_starts_with(s, "╹▀▀▀▀▀▀▀▀▀▀▀▀▀▀▀▀▀"))
			return MAX(0, i - 4);
	}
	return -1;
}

static long
box_cut_amp(const struct lines *l)
{
	for (long i = (long)l->n - 1; i >= 0; i--) {
		if (!strstr(l->v[i], "╰") || !strstr(l->v[i], "╯"))
			continue;
		for (long k = i - 1; k >= 0; k--) {
			if (strstr(l->v[k], "╭") && strstr(l->v[k], "╮"))
				return k;
		}
		return -1;
	}
	return -1;
}

/*
 * A shell-style prompt ending the last line: "$ ", "bash-5.2# ", "host %",
 * ">>> ", "sqlite> ". Not output that happens to end with such a
 * character: "100%", "</html>", "a ->".
 */
static bool
line_is_prompt(const char *s)
{
	static const char *ends[] = {"$", "#", "%", ">", "❯", "›", "→"};
	char *c = str_trim(xstrdup(s));
	size_t n = strlen(c);
	bool yes = false;

	for (size_t i = 0; i < ARRAY_SIZE(ends) && !yes && n > 0; i++) {
		size_t k = strlen(ends[i]);
		char before;

		if (n < k || strcmp(c + n - k, ends[i]) != 0)
			continue;
		before = n > k ? c[n - k - 1] : ' ';
		if (ends[i][0] == '%')
			yes = before == ' ';
		else if (ends[i][0] == '>')
			yes = strchr(c, '<') == NULL && before != '-' &&
			      before != '=';
		else
			yes = true;
	}
	free(c);
	return yes;
}

/* Custom programs: a prompt ending the screen, or the generic box. The
 * prompt comes first: the generic rules look six lines up and could
 * take a quoted "> line" of output for the input line. */
static long
box_cut_custom(const struct lines *l)
{
	if (l->n > 0 && line_is_prompt(l->v[l->n - 1]))
		return (long)l->n - 1;
	return box_cut_generic(l);
}

/* Gemini CLI's input line holding text: " > text", or " * text" in
 * YOLO mode. */
static bool
gemini_input_line(const char *s)
{
	s += strspn(s, " ");
	return (s[0] == '>' || s[0] == '*') && s[1] == ' ' && s[2] != '\0';
}

/* Gemini CLI 0.6x: "*   Type your message" (or the typed text) under a
 * rule, footer below. */
static long
box_cut_gemini(const struct lines *l)
{
	long n = (long)l->n;

	for (long i = n - 1; i >= 0 && i >= n - 10; i--) {
		bool empty = strstr(l->v[i], "Type your message") != NULL;

		if (!empty && !gemini_input_line(l->v[i]))
			continue;
		for (long k = i - 1; k >= 0 && k >= i - 3; k--) {
			if (line_is_border(l->v[k]))
				return k;
		}
		/* typed text counts only right under the box's rule */
		if (empty)
			return i;
	}
	return box_cut_generic(l);
}

static long
box_cut(enum agent_type t, const struct lines *l)
{
	switch (t) {
	case AGENT_GEMINI:
		return box_cut_gemini(l);
	case AGENT_CUSTOM:
		return box_cut_custom(l);
	case AGENT_CODEX:
		return box_cut_codex(l);
	case AGENT_OPENCODE:
		return box_cut_opencode(l);
	case AGENT_AMP:
		return box_cut_amp(l);
	default:
		return box_cut_generic(l);
	}
}

bool
msgfmt_box_holds(enum agent_type t, const char *screen, const char *probe)
{
	struct lines l;
	bool holds = false;
	long cut;

	if (t != AGENT_GEMINI || probe == NULL || probe[0] == '\0')
		return false;
	lines_split(&l, screen);
	lines_trim_blank(&l);
	cut = box_cut(t, &l);
	for (size_t i = cut >= 0 ? (size_t)cut : l.n; i < l.n && !holds; i++)
		holds = gemini_input_line(l.v[i]) &&
			strstr(l.v[i], "Type your message") == NULL &&
			strstr(l.v[i], probe) != NULL;
	lines_release(&l);
	return holds;
}

/*
 * A status line that sits right above an input box: right-aligned text
 * (40 or more leading blanks), "? for shortcuts", Claude's effort
 * indicator.
 */
static bool
line_is_status(const char *s)
{
	size_t lead = strspn(s, " ");
	const char *p = s + lead;

	return (lead >= 40 && *p != '\0') ||
	       str_starts_with(p, "? for shortcuts") ||
	       strstr(p, "· /effort") != NULL;
}

char *
msgfmt_remove_box(enum agent_type t, const char *msg)
{
	struct lines l;
	long cut;
	char *out;

	lines_split(&l, msg);
	lines_trim_blank(&l);
	cut = box_cut(t, &l);
	if (cut >= 0) {
		lines_remove(&l, (size_t)cut, l.n);
		lines_trim_blank(&l);
		/* status lines right above the box: effort, shortcuts hints */
		while (l.n > 0 && line_is_status(l.v[l.n - 1])) {
			free(l.v[--l.n]);
			lines_trim_blank(&l);
		}
	}
	lines_trim_blank(&l);
	out = lines_join(&l, 0, l.n);
	if (t == AGENT_AMP && out[0] == '\0') {
		free(out);
		out = xstrdup("Welcome to Amp");
	}
	lines_release(&l);
	return out;
}

bool
msgfmt_ready(enum agent_type t, const char *screen)
{
	struct lines l;
	bool ready;

	lines_split(&l, screen);
	lines_trim_blank(&l);
	ready = l.n > 0 && box_cut(t, &l) >= 0;
	lines_release(&l);
	return ready;
}

/* ---- chrome -------------------------------------------------------- */

static bool
str_contains_ci(const char *s, const char *needle)
{
	size_t k = strlen(needle);

	for (; *s != '\0'; s++) {
		if (strncasecmp(s, needle, k) == 0)
			return true;
	}
	return false;
}

/* Busy markers agents print while they work. */
static const char *busy_markers[] = {
	"esc to interrupt",
	"(esc to cancel",
	"ctrl+c to interrupt",
};

static bool
line_is_busy(const char *s)
{
	for (size_t i = 0; i < ARRAY_SIZE(busy_markers); i++) {
		if (str_contains_ci(s, busy_markers[i]))
			return true;
	}
	return false;
}

bool
msgfmt_busy(enum agent_type t UNUSED, const char *screen)
{
	struct lines l;
	bool busy = false;
	size_t seen = 0;

	lines_split(&l, screen);
	for (size_t i = l.n; i-- > 0 && seen < 8;) {
		if (str_is_blank(l.v[i]))
			continue;
		seen++;
		if (line_is_busy(l.v[i])) {
			busy = true;
			break;
		}
	}
	lines_release(&l);
	return busy;
}

/* Skip leading spaces; returns the rest. */
static const char *
skip_spaces(const char *s)
{
	while (*s == ' ')
		s++;
	return s;
}

/* Spinner glyphs agents put in front of a status line. */
static const char *spinner_glyphs[] = {"✻", "✽", "✶", "✳", "✢", "·",
				       "*", "⠋", "⠙", "⠹", "⠸", "⠼",
				       "⠴", "⠦", "⠧", "⠇", "⠏"};

/* Does s start with a spinner glyph and a space ("✻ Churned for 0s")? */
static bool
line_starts_spinner(const char *s)
{
	s = skip_spaces(s);
	for (size_t i = 0; i < ARRAY_SIZE(spinner_glyphs); i++) {
		size_t k = strlen(spinner_glyphs[i]);

		if (strncmp(s, spinner_glyphs[i], k) == 0 && s[k] == ' ')
			return true;
	}
	return false;
}

static bool
line_is_spinner(const char *s)
{
	s = skip_spaces(s);
	for (size_t i = 0; i < ARRAY_SIZE(spinner_glyphs); i++) {
		size_t k = strlen(spinner_glyphs[i]);

		if (strncmp(s, spinner_glyphs[i], k) != 0 || s[k] != ' ')
			continue;
		s += k + 1;
		/* "✻ Brewing… (esc to interrupt)", "✻ Brewed for 3s" */
		if (strstr(s, "…") != NULL || line_is_busy(s))
			return true;
		const char *f = strstr(s, " for ");
		if (f != NULL && isdigit((unsigned char)f[5]))
			return true;
	}
	return false;
}

/* The bullet an agent puts before each reply block, or NULL. */
static const char *
reply_bullet(enum agent_type t)
{
	switch (t) {
	case AGENT_CLAUDE:
		return "●";
	case AGENT_CODEX:
		return "•";
	case AGENT_GEMINI:
		return "✦";
	default:
		return NULL;
	}
}

/* "─ Worked for 3s ───" separators in Codex. */
static bool
line_is_separator(const char *s)
{
	s = skip_spaces(s);
	return str_starts_with(s, "─ ") && line_is_border(s);
}

/* Codex's end-of-turn line: "Worked for 3s • 05:19". */
static bool
line_is_worked(enum agent_type t, const char *p)
{
	return t == AGENT_CODEX && str_starts_with(p, "Worked for ");
}

char *
msgfmt_strip_chrome(enum agent_type t, const char *msg)
{
	const char *bullet = reply_bullet(t);
	struct lines l, out = {0};
	bool in_block = false;
	char *s;

	lines_split(&l, msg);
	for (size_t i = 0; i < l.n; i++) {
		const char *line = l.v[i];
		const char *p = skip_spaces(line);

		if (line_is_spinner(line) || line_is_busy(line) ||
		    line_is_separator(line) || line_is_worked(t, p))
			continue;
		if (str_starts_with(p, "⎿  Tip:") ||
		    str_starts_with(p, "⎿ Tip:")) {
			/* a tip and its wrapped lines, indented deeper */
			size_t ind = (size_t)(p - line);

			while (i + 1 < l.n && strspn(l.v[i + 1], " ") > ind)
				i++;
			continue;
		}
		if (bullet != NULL && str_starts_with(p, bullet) &&
		    p[strlen(bullet)] == ' ' && p - line <= 2) {
			p += strlen(bullet) + 1;
			lines_push(&out, p, strlen(p));
			in_block = true;
			continue;
		}
		if (in_block && str_starts_with(line, "  ")) {
			lines_push(&out, line + 2, strlen(line + 2));
			continue;
		}
		if (*p != '\0')
			in_block = false;
		lines_push(&out, line, strlen(line));
	}
	lines_trim_blank(&out);
	s = lines_join(&out, 0, out.n);
	lines_release(&l);
	lines_release(&out);
	return s;
}

/* ---- headline ------------------------------------------------------ */

/* Drawing code points: box drawing, blocks, geometric shapes, braille. */
static bool
rune_is_drawing(uint32_t c)
{
	return (c >= 0x2500 && c <= 0x25ff) || (c >= 0x2800 && c <= 0x28ff) ||
	       c == 0x23bf /* ⎿ */;
}

/* The line has a letter or digit that is not part of a drawing. */
static bool
line_has_words(const char *s)
{
	size_t n;
	uint32_t *u = utf8_decode(s, &n);
	bool yes = false;

	for (size_t i = 0; i < n && !yes; i++)
		yes = u[i] < 0x80 ? isalnum((int)u[i]) != 0
				  : !rune_is_drawing(u[i]) && u[i] != 0xa0;
	free(u);
	return yes;
}

/* Opens a box ("╭───", "┌───") whose lines are a tool's, not words. */
static bool
line_opens_box(const char *p)
{
	return str_starts_with(p, "╭") || str_starts_with(p, "┌");
}

static bool
line_closes_box(const char *p)
{
	return str_starts_with(p, "╰") || str_starts_with(p, "└");
}

/* Tool output under a call: "⎿  Wrote 1 lines", "└ (no output)",
 * "│ detail", and the tips Claude prints the same way. */
static bool
line_is_tree(const char *p)
{
	return str_starts_with(p, "⎿") || str_starts_with(p, "└") ||
	       str_starts_with(p, "├") || str_starts_with(p, "│");
}

/* Skip a reply bullet and the blanks after it. */
static const char *
skip_bullet(const char *p)
{
	static const char *bullets[] = {"●", "•", "✦",	"⏺",
					"✓", "✗", "* ", "- "};

	for (size_t i = 0; i < ARRAY_SIZE(bullets); i++) {
		if (str_starts_with(p, bullets[i]))
			return skip_spaces(p + strlen(bullets[i]));
	}
	return p;
}

/* Claude's collapsed tool summaries: "Ran 2 shell commands", "Read 1 file
 * (ctrl+o to expand)", "Searched for 1 pattern, read 2 files". Only the
 * summary: "Read 3 files and found the bug" is the agent's words. */
static bool
line_is_tool_summary(const char *p)
{
	static const char *verbs[] = {"ran ",	  "read ",   "wrote ",
				      "edited ",  "listed ", "searched for ",
				      "searched "};
	static const char *nouns[] = {"shell command", "file", "pattern",
				      "director"};

	for (;;) {
		size_t i, k;

		for (i = 0; i < ARRAY_SIZE(verbs); i++) {
			if (strncasecmp(p, verbs[i], strlen(verbs[i])) == 0)
				break;
		}
		if (i == ARRAY_SIZE(verbs))
			return false;
		p += strlen(verbs[i]);
		if (!isdigit((unsigned char)*p))
			return false;
		p += strspn(p, "0123456789");
		for (k = 0; k < ARRAY_SIZE(nouns); k++) {
			if (*p == ' ' && str_starts_with(p + 1, nouns[k]))
				break;
		}
		if (k == ARRAY_SIZE(nouns))
			return false;
		p += 1 + strlen(nouns[k]);
		p += strspn(p, "abcdefghijklmnopqrstuvwxyz"); /* plurals */
		if (*p == '\0' || str_starts_with(p, " (ctrl"))
			return true;
		if (!str_starts_with(p, ", "))
			return false;
		p += 2; /* the next summary of the list */
	}
}

/* Codex's record of how its approval dialog was answered ("✔ You approved
 * codex to run X this time", "✗ You did not approve codex to run X"), in
 * its own words only: "✗ You forgot ..." is an agent's. */
static bool
line_is_decision(const char *p)
{
	static const char *records[] = {
		"✔ You approved codex ", "✔ You persisted Codex ",
		"✗ You did not approve codex ", "✗ You denied codex ",
		"✗ You canceled the request to "};

	for (size_t i = 0; i < ARRAY_SIZE(records); i++) {
		if (str_starts_with(p, records[i]))
			return true;
	}
	return false;
}

/* Line i is a tool call's header: the next line is the call's output tree
 * ("⎿  Wrote 1 lines", "└ (no output)"), indented at least as deep. */
static bool
line_heads_tree(const struct lines *l, size_t i)
{
	const char *p, *q;

	if (i + 1 >= l->n)
		return false;
	p = skip_spaces(l->v[i]);
	q = skip_spaces(l->v[i + 1]);
	return (str_starts_with(q, "⎿") || str_starts_with(q, "└")) &&
	       q - l->v[i + 1] >= p - l->v[i];
}

/*
 * For each line, the index of the first line at or after it that closes a
 * box, or l->n: one backward pass, so that finding the end of every box
 * costs O(lines) in all (an agent's message may open thousands of boxes
 * that never close).
 */
static size_t *
box_closings(const struct lines *l)
{
	size_t *next = xcalloc(l->n + 1, sizeof *next);

	next[l->n] = l->n;
	for (size_t i = l->n; i-- > 0;)
		next[i] =
			line_closes_box(skip_spaces(l->v[i])) ? i : next[i + 1];
	return next;
}

/* msg cut to what the headline reads: the first lines of it. The agent
 * controls the message; the server reads it in its event loop. */
static char *
headline_prefix(const char *msg)
{
	size_t n = 0, lines = 0;

	while (msg[n] != '\0' && n < MSGFMT_HEADLINE_MAX_BYTES &&
	       lines < MSGFMT_HEADLINE_MAX_LINES) {
		if (msg[n] == '\n')
			lines++;
		n++;
	}
	return xstrndup(msg, utf8_cut(msg, n)); /* not inside a sequence */
}

char *
msgfmt_headline(const char *msg)
{
	char *head = headline_prefix(msg);
	struct lines l;
	size_t *closing;
	char *out = NULL;

	lines_split(&l, head);
	closing = box_closings(&l);
	for (size_t i = 0; i < l.n && out == NULL; i++) {
		const char *p = skip_spaces(l.v[i]);

		if (line_opens_box(p)) {
			/* the whole box, when it closes */
			if (closing[i + 1] < l.n)
				i = closing[i + 1];
			continue;
		}
		if (line_is_tree(p) || line_heads_tree(&l, i)) {
			/* a call's output (or the call and its output), and
			 * their wrapped lines, indented deeper */
			size_t ind = (size_t)(p - l.v[i]);

			if (!line_is_tree(p))
				i++;
			while (i + 1 < l.n && !str_is_blank(l.v[i + 1]) &&
			       strspn(l.v[i + 1], " ") > ind)
				i++;
			continue;
		}
		if (line_is_decision(p)) {
			/* a dialog's answer, and its wrapped lines */
			size_t ind = (size_t)(p - l.v[i]);

			while (i + 1 < l.n && !str_is_blank(l.v[i + 1]) &&
			       strspn(l.v[i + 1], " ") > ind)
				i++;
			continue;
		}
		if (line_is_spinner(p) || line_is_busy(p) ||
		    line_is_border(p) || !line_has_words(p))
			continue;
		p = skip_bullet(p);
		if (*p == '\0' || line_is_tool_summary(p))
			continue; /* a bare bullet, or a call folded in one */
		out = str_trim(xstrdup(p));
	}
	free(closing);
	lines_release(&l);
	free(head);
	return out != NULL ? out : xstrdup("");
}

/* ---- report_task tool calls ---------------------------------------- */

/* A line that starts a rendering of our own report_task tool call. */
static bool
line_starts_report_call(const char *s)
{
	const char *p = skip_spaces(s);

	if (strstr(p, "report_task") == NULL)
		return false;
	return strstr(p, "(MCP)") != NULL || strstr(p, "Called") != NULL ||
	       str_starts_with(p, "●") || str_starts_with(p, "•") ||
	       str_starts_with(p, "✦") || str_starts_with(p, "⏺") ||
	       str_starts_with(p, "✓");
}

char *
msgfmt_strip_tool_calls(enum agent_type t UNUSED, const char *msg, char **calls)
{
	struct lines l, out = {0}, removed = {0};
	char *s;

	lines_split(&l, msg);
	for (size_t i = 0; i < l.n; i++) {
		if (!line_starts_report_call(l.v[i])) {
			lines_push(&out, l.v[i], strlen(l.v[i]));
			continue;
		}
		size_t start = i;

		/* the block: the call line and what is indented under it */
		while (i + 1 < l.n && l.v[i + 1][0] == ' ' &&
		       !str_is_blank(l.v[i + 1]))
			i++;
		if (removed.n > 0)
			lines_push(&removed, "---", 3);
		for (size_t k = start; k <= i; k++)
			lines_push(&removed, l.v[k], strlen(l.v[k]));
		/* and one blank line after it */
		if (i + 1 < l.n && str_is_blank(l.v[i + 1]))
			i++;
	}
	lines_trim_blank(&out);
	s = lines_join(&out, 0, out.n);
	if (calls != NULL)
		*calls = removed.n ? lines_join(&removed, 0, removed.n) : NULL;
	lines_release(&l);
	lines_release(&out);
	lines_release(&removed);
	return s;
}

char *
msgfmt_format(enum agent_type t, const char *raw, const char *user,
	      char **calls)
{
	char *a, *b, *c, *d;

	a = user != NULL && *user != '\0' ? msgfmt_remove_echo(t, raw, user)
					  : xstrdup(raw);
	b = msgfmt_remove_box(t, a);
	c = msgfmt_strip_tool_calls(t, b, calls);
	d = msgfmt_strip_chrome(t, c);
	free(a);
	free(b);
	free(c);
	return d;
}

/* ---- dialogs ------------------------------------------------------- */

static const char *select_markers[] = {"❯", "›", ">", "●", "▸", "→", "◉"};

/*
 * Parse "  ❯ 1. Yes, proceed" into its number, label and whether it is
 * the highlighted one; false when the line is not an option.
 */
static bool
parse_option(const char *s, int *num, const char **label, bool *marked)
{
	const char *p = skip_spaces(s);

	*marked = false;
	for (size_t i = 0; i < ARRAY_SIZE(select_markers); i++) {
		size_t k = strlen(select_markers[i]);

		if (strncmp(p, select_markers[i], k) == 0) {
			*marked = true;
			p = skip_spaces(p + k);
			break;
		}
	}
	/* box sides: "│ ● 1. Allow once │" */
	if (!*marked && str_starts_with(p, "│")) {
		p = skip_spaces(p + strlen("│"));
		return parse_option(p, num, label, marked);
	}
	if (!isdigit((unsigned char)p[0]) || (p[1] != '.' && p[1] != ')') ||
	    p[2] != ' ')
		return false;
	*num = p[0] - '0';
	*label = skip_spaces(p + 3);
	return **label != '\0';
}

/* Copy s without box sides and surrounding blanks. */
static char *
strip_box_sides(const char *s)
{
	char *c = xstrdup(skip_spaces(s));
	size_t n;

	if (str_starts_with(c, "│"))
		memmove(c, c + strlen("│"), strlen(c) - strlen("│") + 1);
	str_trim(c);
	n = strlen(c);
	if (n >= strlen("│") && strcmp(c + n - strlen("│"), "│") == 0)
		c[n - strlen("│")] = '\0';
	return str_trim(c);
}

/* An echoed input line: "> text", "❯ text". */
static bool
line_starts_prompt(const char *s)
{
	s = skip_spaces(s);
	return str_starts_with(s, "> ") || str_starts_with(s, "❯ ") ||
	       str_starts_with(s, "› ") || strcmp(s, ">") == 0;
}

/* A line above a dialog's question that ends it: blank (inside a box
 * too), a border, or an echoed prompt. */
static bool
dialog_line_ends_question(const char *s)
{
	char *c = strip_box_sides(s);
	bool end = *c == '\0' || line_is_border(s) || line_starts_prompt(c);

	free(c);
	return end;
}

/* Copy lines [from, to) without box sides, the blank ones left out,
 * joined by '\n'; NULL when none is left. */
static char *
lines_join_nonblank(const struct lines *l, long from, long to)
{
	struct buf out;

	buf_init(&out, 0);
	for (long i = from; i < to; i++) {
		char *c = strip_box_sides(l->v[i]);

		if (*c != '\0') {
			if (out.len > 0)
				buf_append(&out, "\n", 1);
			buf_puts(&out, c);
		}
		free(c);
	}
	if (out.len == 0) {
		buf_release(&out);
		return NULL;
	}
	return buf_steal(&out);
}

/*
 * What the dialog is about, when the agent frames it between dashed rules
 * right above the question (Claude: the command it wants to run). Returns
 * a new string or NULL.
 */
static char *
dialog_context(const struct lines *l, long top)
{
	long end = top - 1, start;

	if (end < 1 || strstr(l->v[end], "╌╌╌╌╌") == NULL)
		return NULL;
	for (start = end; start > 0 && end - start < 6; start--) {
		if (strstr(l->v[start - 1], "╌╌╌╌╌") != NULL)
			break;
	}
	if (start == 0 || end - start >= 6 || start == end)
		return NULL;
	return lines_join_nonblank(l, start, end);
}

/* A line that ends the search for Codex's question: the "• Running"
 * line, an echoed prompt or a border. */
static bool
codex_question_stop(const char *s)
{
	char *c = strip_box_sides(s);
	bool stop = str_starts_with(c, "•") || line_starts_prompt(c) ||
		    line_is_border(s);

	free(c);
	return stop;
}

/*
 * Codex's approval dialog: the question ("Would you like to run the
 * following command?") stands apart from the options, what it is about
 * between them ("Environment: local", "Reason: ...", "$ rm -rf old").
 * Find the nearest paragraph ending in '?' up to 16 lines above the
 * options, stopping at codex_question_stop; the model's reason and the
 * command ("Reason: May I?", "$ ls a?") are not it. The question is that
 * paragraph, at most 4 lines. Sets d->text and d->context (owned by d);
 * false when there is no such question.
 */
static bool
codex_dialog_question(const struct lines *l, long first,
		      struct msgfmt_dialog *d)
{
	for (long q = first - 1; q >= 0 && first - q <= 16; q--) {
		char *last, *head;
		size_t n;
		long top = q;
		bool question;

		if (codex_question_stop(l->v[q]))
			return false;
		if (dialog_line_ends_question(l->v[q]))
			continue; /* blank */
		/* the paragraph q ends, in the window */
		while (top > 0 && first - top < 16 &&
		       !dialog_line_ends_question(l->v[top - 1]) &&
		       !codex_question_stop(l->v[top - 1]))
			top--;
		last = strip_box_sides(l->v[q]);
		head = strip_box_sides(l->v[top]);
		n = strlen(last);
		question = n > 0 && last[n - 1] == '?' &&
			   !str_starts_with(head, "Reason:") &&
			   !str_starts_with(head, "$ ");
		free(last);
		free(head);
		if (question) {
			top = MAX(top, q - 3);
			d->text = lines_join_nonblank(l, top, q + 1);
			d->context = lines_join_nonblank(l, q + 1, first);
			return d->text != NULL;
		}
		q = top; /* the whole paragraph is not the question */
	}
	return false;
}

bool
msgfmt_dialog(enum agent_type t, const char *screen, struct msgfmt_dialog *d)
{
	struct lines l;
	long first = -1, lastopt = -1;
	int expect = 1;
	bool any_marked = false, found = false;

	memset(d, 0, sizeof *d);
	d->selected = -1;
	lines_split(&l, screen);
	lines_trim_blank(&l);
	/* the options block must sit in the bottom 16 lines */
	for (long i = (long)l.n - 1; i >= 0 && i >= (long)l.n - 16; i--) {
		int num;
		const char *label;
		bool marked;

		if (!parse_option(l.v[i], &num, &label, &marked))
			continue;
		if (num == 1) {
			/* found the start: walk down collecting options */
			first = i;
			break;
		}
	}
	if (first < 0)
		goto out;
	for (long i = first; i < (long)l.n && expect <= MSGFMT_MAX_OPTIONS;
	     i++) {
		int num;
		const char *label;
		bool marked;

		if (str_is_blank(l.v[i]))
			continue;
		if (!parse_option(l.v[i], &num, &label, &marked)) {
			/* wrapped label lines are indented deeper */
			if (lastopt >= 0 && l.v[i][0] == ' ' &&
			    strlen(l.v[i]) - strlen(skip_spaces(l.v[i])) > 4 &&
			    !line_is_border(l.v[i]))
				continue;
			break;
		}
		if (num != expect)
			break;
		d->options[d->noptions] = strip_box_sides(label);
		if (marked) {
			d->selected = (int)d->noptions;
			any_marked = true;
		}
		d->noptions++;
		expect++;
		lastopt = i;
	}
	if (d->noptions < 2 || !any_marked) {
		msgfmt_dialog_release(d);
		goto out;
	}
	/* Codex's dialog takes the composer's place: a numbered list above
	 * the composer is history (a reply, an echoed prompt) */
	if (t == AGENT_CODEX && box_cut_codex(&l) > lastopt) {
		msgfmt_dialog_release(d);
		goto out;
	}
	if (t == AGENT_CODEX && codex_dialog_question(&l, first, d)) {
		found = true;
		goto out;
	}
	/* the question: up to 4 lines above, to a blank, border or prompt */
	{
		struct buf text;
		long top = first;

		while (top > 0 && first - top < 4 &&
		       !dialog_line_ends_question(l.v[top - 1]))
			top--;
		buf_init(&text, 0);
		for (long i = top; i < first; i++) {
			char *c = strip_box_sides(l.v[i]);

			if (*c != '\0') {
				if (text.len > 0)
					buf_append(&text, "\n", 1);
				buf_puts(&text, c);
			}
			free(c);
		}
		d->text = buf_steal(&text);
		d->context = dialog_context(&l, top);
	}
	found = true;
out:
	lines_release(&l);
	return found;
}

void
msgfmt_dialog_release(struct msgfmt_dialog *d)
{
	free(d->text);
	free(d->context);
	for (size_t i = 0; i < d->noptions; i++)
		free(d->options[i]);
	memset(d, 0, sizeof *d);
	d->selected = -1;
}

uint64_t
msgfmt_dialog_hash(const struct msgfmt_dialog *d)
{
	uint64_t h = msgfmt_hash(d->text ? d->text : "");

	for (size_t i = 0; i < d->noptions; i++)
		h = h * 31 + msgfmt_hash(d->options[i]);
	return (h + (uint64_t)(d->selected + 1)) | 1;
}
