/*
 * attach.c: `taskbox task attach`, the agent's live terminal in the
 * local one.
 *
 * The runtime's /internal/screen stream sends `screen` events whose data
 * is {"screen": "<the whole screen as text>"}; each one redraws the local
 * terminal (alternate screen, lines clipped to its size, a status line at
 * the bottom). Keystrokes go to the app's /message as {"type": "raw"}
 * in UTF-8-complete chunks. Ctrl-] detaches and restores the terminal.
 */
#include "common.h"

#include <locale.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>
#include <wchar.h>

#include "cli/cli.h"
#include "core/buf.h"
#include "core/text.h"

/* The key that detaches: Ctrl-]. */
#define ATTACH_DETACH_KEY 0x1d

enum {
	ATTACH_GO_ON = 0,
	ATTACH_DETACHED = 1,
	ATTACH_EOF = 2,
	ATTACH_SIGNAL = 3,
	ATTACH_ERROR = 4,
};

struct attach {
	struct client *c;
	char *label;	    /* OWNER/NAME */
	char *message_url;  /* the app's /message */
	char *screen;	    /* the last screen text */
	char *notice;	    /* shown in the status line, e.g. a send error */
	struct buf pending; /* keystrokes not yet sent (partial UTF-8) */
	char *cause;	    /* why the attach ended with an error */
};

static volatile sig_atomic_t attach_winch;
static volatile sig_atomic_t attach_quit;

/* Signal handler: note a resize or a request to quit. */
static void
attach_signal(int sig)
{
	if (sig == SIGWINCH)
		attach_winch = 1;
	else
		attach_quit = 1;
}

/* Write a control sequence to the terminal. */
static void
attach_puts(const char *s)
{
	write_all(STDOUT_FILENO, s, strlen(s));
}

/* Append s clipped to cols display columns; returns the columns used. */
static int
attach_clip(struct buf *b, const char *s, size_t len, int cols)
{
	mbstate_t st;
	int used = 0;
	size_t i = 0;

	memset(&st, 0, sizeof st);
	while (i < len) {
		wchar_t wc;
		size_t n = mbrtowc(&wc, s + i, len - i, &st);
		int w;

		if (n == (size_t)-1 || n == (size_t)-2) {
			memset(&st, 0, sizeof st);
			n = 1;
			wc = L'?';
		} else if (n == 0) {
			n = 1;
		}
		w = wcwidth(wc);
		if (w < 0)
			w = 1;
		if (used + w > cols)
			break;
		if (wc == L'?' && n == 1 && s[i] != '?')
			buf_append(b, "?", 1);
		else if ((unsigned)wc < 0x20 || wc == 0x7f)
			buf_append(b, " ", 1);
		else
			buf_append(b, s + i, n);
		used += w;
		i += n;
	}
	return used;
}

/* Redraw the local terminal from the last screen. */
static void
attach_draw(struct attach *a)
{
	struct winsize ws = {0};
	int rows = 24, cols = 80, row = 0;
	const char *p = a->screen ? a->screen : "";
	struct buf b;
	char *status;

	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 &&
	    ws.ws_col > 0) {
		rows = ws.ws_row;
		cols = ws.ws_col;
	}
	buf_init(&b, 0);
	buf_puts(&b, "\x1b[H");
	while (row < rows - 1 && *p != '\0') {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);

		attach_clip(&b, p, len, cols);
		buf_puts(&b, "\x1b[K\r\n");
		row++;
		p = nl ? nl + 1 : p + len;
	}
	buf_puts(&b, "\x1b[J");
	buf_printf(&b, "\x1b[%d;1H\x1b[7m", rows);
	status =
		xasprintf(" %s  |  Ctrl-] detaches%s%s ", a->label,
			  a->notice ? "  |  " : "", a->notice ? a->notice : "");
	cols -= attach_clip(&b, status, strlen(status), cols);
	buf_printf(&b, "%*s\x1b[0m", cols, "");
	free(status);
	write_all(STDOUT_FILENO, b.data, b.len);
	buf_release(&b);
}

/* SSE callback: a new screen. */
static int
attach_event(const char *event, const char *data, void *arg)
{
	struct attach *a = arg;
	json_t *j;
	const char *s;

	if (strcmp(event, "screen") != 0)
		return ATTACH_GO_ON;
	j = json_loads(data, 0, NULL);
	s = json_string_value(json_object_get(j, "screen"));
	if (s != NULL) {
		free(a->screen);
		a->screen = xstrdup(s);
		attach_draw(a);
	}
	json_decref(j);
	return ATTACH_GO_ON;
}

/* Send the pending keystrokes that form whole UTF-8 sequences. */
static int
attach_send(struct attach *a)
{
	size_t n = utf8_cut(a->pending.data, a->pending.len);
	char *cause = NULL;
	json_t *body;
	int r;

	if (n == 0)
		return ATTACH_GO_ON;
	if (!utf8_valid(a->pending.data, n)) {
		buf_consume(&a->pending, n); /* not text a terminal sends */
		return ATTACH_GO_ON;
	}
	body = json_pack("{s:s, s:s%}", "type", "raw", "content",
			 a->pending.data, n);
	buf_consume(&a->pending, n);
	if (body == NULL)
		return ATTACH_GO_ON;
	r = client_json(a->c, "POST", a->message_url, body, NULL, &cause);
	json_decref(body);
	free(a->notice);
	a->notice = NULL;
	if (r < 0) {
		a->cause = cause;
		return ATTACH_ERROR;
	}
	if (r > 0) {
		a->notice = cause;
		attach_draw(a);
	}
	return ATTACH_GO_ON;
}

/* The terminal is readable: forward keys, or detach on Ctrl-]. */
static int
attach_key(int fd, void *arg)
{
	struct attach *a = arg;
	char in[4096];
	ssize_t n = read(fd, in, sizeof in);
	int r;

	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? ATTACH_GO_ON
							 : ATTACH_EOF;
	if (n == 0)
		return ATTACH_EOF;
	for (ssize_t i = 0; i < n; i++) {
		if (in[i] == ATTACH_DETACH_KEY) {
			attach_send(a);
			return ATTACH_DETACHED;
		}
		if (in[i] != '\0')
			buf_append(&a->pending, in + i, 1);
	}
	r = attach_send(a);
	return r;
}

/* Periodic check for a resize or a signal. */
static int
attach_tick(void *arg)
{
	if (attach_quit)
		return ATTACH_SIGNAL;
	if (attach_winch) {
		attach_winch = 0;
		attach_draw(arg);
	}
	return ATTACH_GO_ON;
}

/* Join the app URL and an endpoint, with exactly one slash between. */
static char *
attach_app_path(const char *app, const char *endpoint)
{
	size_t n = strlen(app);

	while (n > 0 && app[n - 1] == '/')
		n--;
	return xasprintf("%.*s/%s", (int)n, app, endpoint);
}

/* Attach the terminal to a task's live screen until Ctrl-]. */
int
cli_task_attach(struct client *c, const char *ref)
{
	struct client_stream_ops ops = {.on_event = attach_event,
					.on_fd = attach_key,
					.on_tick = attach_tick,
					.fd = STDIN_FILENO,
					.tick_ms = 100};
	struct attach a = {.c = c};
	struct sigaction sa = {0}, old_winch, old_term, old_hup;
	struct termios saved, raw;
	char *path = cli_task_path(ref, NULL), *cause = NULL, *screen_url;
	const char *app;
	json_t *t = NULL;
	int r;

	r = client_json(c, "GET", path, NULL, &t, &cause);
	free(path);
	if (r != 0)
		return cli_fail(cause);
	a.label = xasprintf("%s/%s", cli_str(t, "owner_name"),
			    cli_str(t, "name"));
	app = cli_str(t, "app_url");
	if (strcmp(cli_str(t, "status"), "active") != 0 || app[0] == '\0') {
		cli_error("task %s is not active (status %s)", a.label,
			  cli_str(t, "status"));
		free(a.label);
		json_decref(t);
		return 1;
	}
	screen_url = attach_app_path(app, "internal/screen");
	a.message_url = attach_app_path(app, "message");
	json_decref(t);
	buf_init(&a.pending, 65536);
	setlocale(LC_CTYPE, "");

	if (tcgetattr(STDIN_FILENO, &saved) < 0) {
		cli_error("cannot read the terminal's settings: %s",
			  strerror(errno));
		r = 1;
		goto out;
	}
	raw = saved;
	cfmakeraw(&raw);
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw);
	sa.sa_handler = attach_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGWINCH, &sa, &old_winch);
	sigaction(SIGTERM, &sa, &old_term);
	sigaction(SIGHUP, &sa, &old_hup);
	/* Alternate screen, cursor hidden: the stream has no cursor. */
	attach_puts("\x1b[?1049h\x1b[?25l\x1b[2J");
	attach_draw(&a);

	r = client_stream(c, screen_url, &ops, &a, &cause);

	attach_puts("\x1b[0m\x1b[?25h\x1b[?1049l");
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
	sigaction(SIGWINCH, &old_winch, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	sigaction(SIGHUP, &old_hup, NULL);
	if (r == ATTACH_ERROR) {
		r = cli_fail(a.cause);
		a.cause = NULL;
	} else if (r < 0) {
		r = cli_fail(cause);
	} else if (r == 0) {
		cli_error("the server ended the screen stream");
		r = 1;
	} else {
		fprintf(stderr, "detached\n");
		r = 0;
	}
out:
	buf_release(&a.pending);
	free(a.cause);
	free(a.notice);
	free(a.screen);
	free(a.label);
	free(a.message_url);
	free(screen_url);
	return r;
}
