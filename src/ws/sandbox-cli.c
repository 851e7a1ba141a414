/*
 * sandbox-cli.c: `taskbox sandbox`: run a command in a local workspace.
 *
 * `run` starts one workspace in the foreground on an event loop, forwards
 * SIGINT/SIGTERM/SIGHUP by killing the workspace, and exits with the
 * command's status (128+N when a signal ended it). `check` prints what
 * isolation this machine offers. `bench` starts N workspaces one after
 * another and reports how long a start takes until the command runs (its
 * first output byte arrives) and until it exited.
 */
#include "common.h"

#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/ev.h"
#include "core/log.h"
#include "ws/sandbox-cli.h"
#include "ws/ws.h"

#define SANDBOX_MAX_MOUNTS 32
#define SANDBOX_MAX_HIDE   32
#define SANDBOX_ERR_EXIT   125

struct sandbox_opts {
	struct ws_spec spec;
	struct ws_mount mounts[SANDBOX_MAX_MOUNTS];
	const char *hide[SANDBOX_MAX_HIDE];
	char *env[4];
	char *id;
	int runs;
};

struct sandbox_run {
	struct ev_loop *loop;
	struct ws *ws;
	int killed_by;
};

static void
sandbox_usage(FILE *f)
{
	fprintf(f,
		"usage: taskbox sandbox run [options] -- CMD...\n"
		"       taskbox sandbox bench [options] [-n RUNS]\n"
		"       taskbox sandbox check\n"
		"\n"
		"options:\n"
		"  --memory BYTES       memory limit (K, M, G suffixes)\n"
		"  --pids N             process limit\n"
		"  --cpu MILLICORES     cpu limit (1000 = one core)\n"
		"  --bind SRC:DST       writable bind mount (DST under /home, "
		"/tmp, /run, /root)\n"
		"  --ro-bind SRC:DST    read-only bind mount\n"
		"  --hide DIR           mask a host dir with an empty tmpfs\n"
		"  --home DIR           bind DIR at /home/agent (HOME)\n"
		"  --uid UID[:GID]      run as this host uid (server is root)\n"
		"  --chdir DIR          working directory inside\n"
		"  --id ID              workspace id (names the cgroups)\n");
}

/* Parse a byte count with an optional K/M/G suffix; 0 or -EINVAL. */
static int
sandbox_parse_bytes(const char *s, int64_t *out)
{
	char *end;
	unsigned long long v;
	int shift = 0;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s)
		return -EINVAL;
	switch (*end) {
	case 'k':
	case 'K':
		shift = 10;
		break;
	case 'm':
	case 'M':
		shift = 20;
		break;
	case 'g':
	case 'G':
		shift = 30;
		break;
	case '\0':
		break;
	default:
		return -EINVAL;
	}
	if (shift != 0 && end[1] != '\0' &&
	    !((end[1] == 'B' || end[1] == 'i') && end[2] == '\0'))
		return -EINVAL;
	if (v > (unsigned long long)INT64_MAX >> shift)
		return -EINVAL;
	*out = (int64_t)(v << shift);
	return 0;
}

/* Split SRC:DST into a mount. */
static int
sandbox_parse_mount(struct sandbox_opts *o, const char *arg, bool ro)
{
	const char *colon = strchr(arg, ':');
	struct ws_mount *m;

	if (colon == NULL || colon == arg || colon[1] != '/' ||
	    o->spec.n_mounts == SANDBOX_MAX_MOUNTS)
		return -EINVAL;
	m = &o->mounts[o->spec.n_mounts++];
	m->src = xstrndup(arg, (size_t)(colon - arg));
	m->dst = colon + 1;
	m->ro = ro;
	return 0;
}

/* Parse the options shared by run and bench; index of CMD or -1. */
static int
sandbox_parse(struct sandbox_opts *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"memory", required_argument, NULL, 'm'},
		{"pids", required_argument, NULL, 'p'},
		{"cpu", required_argument, NULL, 'c'},
		{"bind", required_argument, NULL, 'b'},
		{"ro-bind", required_argument, NULL, 'r'},
		{"hide", required_argument, NULL, 'H'},
		{"home", required_argument, NULL, 'h'},
		{"uid", required_argument, NULL, 'u'},
		{"chdir", required_argument, NULL, 'C'},
		{"id", required_argument, NULL, 'i'},
		{"runs", required_argument, NULL, 'n'},
		{NULL, 0, NULL, 0},
	};
	const char *home = NULL, *term = getenv("TERM");
	long v;
	int c;

	o->runs = 50;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+n:", longopts, NULL)) != -1) {
		switch (c) {
		case 'm':
			if (sandbox_parse_bytes(
				    optarg, &o->spec.limits.memory_bytes) < 0)
				goto bad;
			break;
		case 'p':
			if (parse_long(optarg, 1, 1 << 22, &v) < 0)
				goto bad;
			o->spec.limits.pids = v;
			break;
		case 'c':
			if (parse_long(optarg, 1, 1 << 20, &v) < 0)
				goto bad;
			o->spec.limits.cpu_millicores = v;
			break;
		case 'b':
		case 'r':
			if (sandbox_parse_mount(o, optarg, c == 'r') < 0)
				goto bad;
			break;
		case 'H':
			if (o->spec.n_hide == SANDBOX_MAX_HIDE)
				goto bad;
			o->hide[o->spec.n_hide++] = optarg;
			break;
		case 'h':
			home = optarg;
			break;
		case 'u': {
			char *colon = strchr(optarg, ':');

			if (colon != NULL) {
				*colon = '\0';
				if (parse_long(colon + 1, 0, INT32_MAX, &v) < 0)
					goto bad;
				o->spec.gid = (gid_t)v;
			}
			if (parse_long(optarg, 0, INT32_MAX, &v) < 0)
				goto bad;
			o->spec.uid = (uid_t)v;
			break;
		}
		case 'C':
			o->spec.chdir = optarg;
			break;
		case 'i':
			o->id = xstrdup(optarg);
			break;
		case 'n':
			if (parse_long(optarg, 1, 100000, &v) < 0)
				goto bad;
			o->runs = (int)v;
			break;
		default:
			return -1;
		}
	}
	if (home != NULL) {
		if (o->spec.n_mounts == SANDBOX_MAX_MOUNTS)
			goto bad;
		o->mounts[o->spec.n_mounts++] = (struct ws_mount){
			.src = xstrdup(home), .dst = "/home/agent"};
		if (o->spec.chdir == NULL)
			o->spec.chdir = "/home/agent";
	}
	if (o->id == NULL)
		o->id = xasprintf("sandbox-%d", (int)getpid());
	o->spec.id = o->id;
	o->spec.mounts = o->mounts;
	o->spec.hide = o->hide;
	o->spec.log_fd = 1;
	o->env[0] = xstrdup("PATH=/usr/local/bin:/usr/bin:/bin");
	o->env[1] = xstrdup("HOME=/home/agent");
	o->env[2] = term != NULL ? xasprintf("TERM=%s", term) : NULL;
	o->spec.env = o->env;
	return optind;
bad:
	fprintf(stderr, "taskbox sandbox: bad option value '%s'\n", optarg);
	return -1;
}

/* Release what sandbox_parse allocated. */
static void
sandbox_opts_release(struct sandbox_opts *o)
{
	for (size_t i = 0; i < o->spec.n_mounts; i++)
		free((char *)o->mounts[i].src);
	for (size_t i = 0; i < ARRAY_SIZE(o->env); i++)
		free(o->env[i]);
	free(o->id);
}

/* The workspace ended: leave the loop with the command's exit code. */
static void
sandbox_on_exit(struct ws *ws UNUSED, int status, void *data)
{
	struct sandbox_run *r = data;
	int code;

	if (WIFEXITED(status))
		code = WEXITSTATUS(status);
	else if (WIFSIGNALED(status))
		code = 128 + WTERMSIG(status);
	else
		code = SANDBOX_ERR_EXIT;
	ev_loop_stop(r->loop, code);
}

/* A signal to us: kill the workspace; its exit ends the loop. */
static void
sandbox_on_signal(int signo, void *data)
{
	struct sandbox_run *r = data;

	r->killed_by = signo;
	ws_kill(r->ws);
}

/* `taskbox sandbox run`. */
static int
sandbox_run(int argc, char **argv)
{
	struct sandbox_opts o = {0};
	struct sandbox_run r = {0};
	char *cause = NULL;
	int i, code;

	i = sandbox_parse(&o, argc, argv);
	if (i < 0 || i >= argc) {
		if (i >= 0)
			fprintf(stderr, "taskbox sandbox run: no command\n");
		sandbox_usage(stderr);
		sandbox_opts_release(&o);
		return 2;
	}
	o.spec.argv = argv + i;
	r.loop = ev_loop_new();
	ev_signal_add(r.loop, SIGINT, sandbox_on_signal, &r);
	ev_signal_add(r.loop, SIGTERM, sandbox_on_signal, &r);
	ev_signal_add(r.loop, SIGHUP, sandbox_on_signal, &r);
	r.ws = ws_local_start(r.loop, &o.spec, sandbox_on_exit, &r, &cause);
	if (r.ws == NULL) {
		fprintf(stderr, "taskbox sandbox: %s\n", cause);
		free(cause);
		ev_loop_free(r.loop);
		sandbox_opts_release(&o);
		return SANDBOX_ERR_EXIT;
	}
	code = ev_loop_run(r.loop);
	if (r.killed_by != 0)
		code = 128 + r.killed_by;
	ws_free(r.ws);
	ev_loop_free(r.loop);
	sandbox_opts_release(&o);
	return code;
}

/* Monotonic clock in fractional ms. */
static double
sandbox_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

struct sandbox_bench {
	struct ev_loop *loop;
	double t_out, t_exit;
	bool out, exited;
};

/* First output byte of the benchmarked command: it is running. */
static void
sandbox_bench_on_out(struct ev_io *io, uint32_t events UNUSED, void *data)
{
	struct sandbox_bench *b = data;
	char buf[256];

	if (read(ev_io_fd(io), buf, sizeof buf) > 0 && !b->out) {
		b->out = true;
		b->t_out = sandbox_now();
	}
	if (b->out && b->exited)
		ev_loop_stop(b->loop, 0);
}

/* The benchmarked workspace exited. */
static void
sandbox_bench_on_exit(struct ws *ws UNUSED, int status UNUSED, void *data)
{
	struct sandbox_bench *b = data;

	b->exited = true;
	b->t_exit = sandbox_now();
	if (b->out)
		ev_loop_stop(b->loop, 0);
}

/* Sort helper for the latencies. */
static int
sandbox_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Print p50/p90/max of n samples. */
static void
sandbox_report(const char *what, double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, sandbox_cmp);
	printf("%-28s p50 %6.1f ms  p90 %6.1f ms  max %6.1f ms\n", what,
	       v[n / 2], v[(n * 9) / 10 < n ? (n * 9) / 10 : n - 1], v[n - 1]);
}

/* `taskbox sandbox bench`: sequential starts of `echo x`. */
static int
sandbox_bench(int argc, char **argv)
{
	static char *const echo[] = {"/bin/echo", "x", NULL};
	struct sandbox_opts o = {0};
	double *ret, *run, *done;
	char *base;
	int code = 0;

	if (sandbox_parse(&o, argc, argv) < 0) {
		sandbox_usage(stderr);
		sandbox_opts_release(&o);
		return 2;
	}
	ret = xcalloc((size_t)o.runs, sizeof *ret);
	run = xcalloc((size_t)o.runs, sizeof *run);
	done = xcalloc((size_t)o.runs, sizeof *done);
	base = o.id;
	o.spec.argv = echo;
	for (int i = 0; i < o.runs; i++) {
		struct sandbox_bench b = {.loop = ev_loop_new()};
		char *cause = NULL, *id = xasprintf("%s-%d", base, i);
		struct ev_io *io;
		struct ws *ws;
		int p[2];
		double t0, t1;

		if (pipe2(p, O_CLOEXEC) < 0)
			fatal("pipe: %s", strerror(errno));
		o.spec.id = id;
		o.spec.log_fd = p[1];
		io = ev_io_add(b.loop, p[0], EPOLLIN, sandbox_bench_on_out, &b);
		t0 = sandbox_now();
		ws = ws_local_start(b.loop, &o.spec, sandbox_bench_on_exit, &b,
				    &cause);
		t1 = sandbox_now();
		close(p[1]);
		if (ws == NULL) {
			fprintf(stderr, "taskbox sandbox: %s\n", cause);
			free(cause);
			code = SANDBOX_ERR_EXIT;
		} else {
			(void)ev_loop_run(b.loop);
			ret[i] = t1 - t0;
			run[i] = b.t_out - t0;
			done[i] = b.t_exit - t0;
			ws_free(ws);
		}
		ev_io_del(io);
		close(p[0]);
		ev_loop_free(b.loop);
		free(id);
		if (code != 0)
			break;
	}
	if (code == 0) {
		printf("%d sequential starts of /bin/echo\n", o.runs);
		sandbox_report("ws_local_start returned", ret, o.runs);
		sandbox_report("command running (output)", run, o.runs);
		sandbox_report("command exited (reaped)", done, o.runs);
	}
	free(ret);
	free(run);
	free(done);
	sandbox_opts_release(&o);
	return code;
}

int
sandbox_main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "run") == 0)
		return sandbox_run(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "bench") == 0)
		return sandbox_bench(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "check") == 0) {
		char *report = ws_local_probe();

		fputs(report, stdout);
		free(report);
		return 0;
	}
	sandbox_usage(argc >= 2 && strcmp(argv[1], "help") == 0 ? stdout
								: stderr);
	return 2;
}
