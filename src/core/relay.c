/*
 * relay.c: a bidirectional byte relay between two stream sockets.
 *
 * Data model: two directions, dir[0] from a to b and dir[1] from b to a,
 * each a buffer of at most RELAY_BUF_SIZE bytes (a prefill may exceed
 * it) with an EOF flag for its source and a shut flag for its
 * destination. After every event both directions are pumped: read while
 * there is room, write while there is data, shut the destination down
 * once the source ended and the buffer drained. The events each fd is
 * watched for follow from that state; a fd with nothing to wait for is
 * taken out of epoll altogether (a hung-up socket would otherwise report
 * EPOLLHUP on every pass). b starts out "connecting": only its
 * writability is awaited, then SO_ERROR says whether the connect worked.
 * The relay ends when both destinations are shut or on the first error.
 */
#include "common.h"

#include <sys/socket.h>
#include <unistd.h>

#include "relay.h"

/* Reads or writes per direction per event, so one busy relay cannot
 * starve the rest of the loop. */
#define RELAY_ROUNDS 16

struct relay_dir {
	char *data;
	size_t cap;
	size_t off;
	size_t len;
	bool eof;  /* the source sent EOF */
	bool shut; /* shutdown(SHUT_WR) done on the destination */
	uint64_t bytes;
};

struct relay {
	struct ev_loop *loop;
	int fd[2]; /* a, b */
	struct ev_io *io[2];
	struct relay_dir dir[2]; /* 0: a to b, 1: b to a */
	bool connecting;	 /* b's connect not yet confirmed */
	bool finished;
	int error;
	relay_done_cb done;
	void *data;
};

static void relay_update(struct relay *r);

/* Make room for n more bytes at the end of dir's data. */
static void
relay_dir_reserve(struct relay_dir *dir, size_t n)
{
	if (dir->off + dir->len + n <= dir->cap)
		return;
	if (dir->off > 0) {
		memmove(dir->data, dir->data + dir->off, dir->len);
		dir->off = 0;
	}
	if (dir->len + n > dir->cap) {
		dir->cap = MAX(dir->len + n, RELAY_BUF_SIZE);
		dir->data = xrealloc(dir->data, dir->cap);
	}
}

/* End the relay with err (0 when both directions finished) and tell the
 * owner; r may be freed by the callback, so nothing touches it after. */
static void
relay_finish(struct relay *r, int err)
{
	if (r->finished)
		return;
	r->finished = true;
	r->error = err;
	for (int i = 0; i < 2; i++) {
		if (r->io[i] != NULL)
			ev_io_del(r->io[i]);
		r->io[i] = NULL;
		close(r->fd[i]);
		r->fd[i] = -1;
		free(r->dir[i].data);
		r->dir[i].data = NULL;
		r->dir[i].cap = r->dir[i].off = r->dir[i].len = 0;
	}
	r->done(r, r->data);
}

/* Move bytes along direction d; 0 or -errno. */
static int
relay_dir_pump(struct relay *r, int d)
{
	struct relay_dir *dir = &r->dir[d];
	int src = r->fd[d], dst = r->fd[1 - d];
	bool b_ready = !r->connecting;
	bool can_read = d == 0 || b_ready, can_write = d == 1 || b_ready;
	ssize_t n;

	for (int i = 0; i < RELAY_ROUNDS; i++) {
		bool progress = false;

		if (can_read && !dir->eof && dir->len < RELAY_BUF_SIZE) {
			size_t room = RELAY_BUF_SIZE - dir->len, tail;

			if (dir->cap == 0)
				relay_dir_reserve(dir, room);
			tail = dir->cap - dir->off - dir->len;
			/* compact only when the tail got small */
			if (tail < room && tail < RELAY_BUF_SIZE / 4) {
				relay_dir_reserve(dir, room);
				tail = dir->cap - dir->off - dir->len;
			}
			room = MIN(room, tail);
			n = recv(src, dir->data + dir->off + dir->len, room, 0);
			if (n > 0) {
				dir->len += (size_t)n;
				progress = true;
			} else if (n == 0) {
				dir->eof = true;
				progress = true;
			} else if (errno != EAGAIN && errno != EWOULDBLOCK &&
				   errno != EINTR) {
				return -errno;
			}
		}
		if (can_write && dir->len > 0) {
			n = send(dst, dir->data + dir->off, dir->len,
				 MSG_NOSIGNAL);
			if (n > 0) {
				dir->off += (size_t)n;
				dir->len -= (size_t)n;
				dir->bytes += (uint64_t)n;
				if (dir->len == 0)
					dir->off = 0;
				progress = true;
			} else if (n < 0 && errno != EAGAIN &&
				   errno != EWOULDBLOCK && errno != EINTR) {
				return -errno;
			}
		}
		if (!progress)
			break;
	}
	if (can_write && dir->eof && dir->len == 0 && !dir->shut) {
		/* the peer may be gone already; then the other way errs */
		if (shutdown(dst, SHUT_WR) < 0 && errno != ENOTCONN)
			return -errno;
		dir->shut = true;
	}
	return 0;
}

/* Events fd i waits for, given the state of both directions. */
static uint32_t
relay_want(const struct relay *r, int i)
{
	const struct relay_dir *in = &r->dir[i], *out = &r->dir[1 - i];
	uint32_t ev = 0;

	if (i == 1 && r->connecting)
		return EPOLLOUT;
	if (!in->eof && in->len < RELAY_BUF_SIZE)
		ev |= EPOLLIN;
	if (out->len > 0)
		ev |= EPOLLOUT;
	return ev;
}

/* Event on a or b: confirm b's connect, then pump both directions. */
static void
relay_on_io(struct ev_io *io, uint32_t events UNUSED, void *data)
{
	struct relay *r = data;
	int err;

	if (r->connecting && ev_io_fd(io) == r->fd[1]) {
		socklen_t len = sizeof err;

		if (getsockopt(r->fd[1], SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		if (err != 0) {
			relay_finish(r, -err);
			return;
		}
		r->connecting = false;
	}
	for (int d = 0; d < 2; d++) {
		err = relay_dir_pump(r, d);
		if (err < 0) {
			relay_finish(r, err);
			return;
		}
	}
	if (r->dir[0].shut && r->dir[1].shut) {
		relay_finish(r, 0);
		return;
	}
	relay_update(r);
}

/* Watch each fd for what it waits for; unwatch a fd that waits for
 * nothing. */
static void
relay_update(struct relay *r)
{
	for (int i = 0; i < 2; i++) {
		uint32_t ev = relay_want(r, i);

		if (ev == 0) {
			if (r->io[i] != NULL)
				ev_io_del(r->io[i]);
			r->io[i] = NULL;
		} else if (r->io[i] == NULL) {
			r->io[i] = ev_io_add(r->loop, r->fd[i], ev, relay_on_io,
					     r);
		} else {
			ev_io_set_events(r->io[i], ev);
		}
	}
}

struct relay *
relay_new(struct ev_loop *loop, int a, int b, relay_done_cb done, void *data)
{
	struct relay *r = xcalloc(1, sizeof *r);

	r->loop = loop;
	r->fd[0] = a;
	r->fd[1] = b;
	r->done = done;
	r->data = data;
	r->connecting = true;
	fd_set_nonblock(a);
	fd_set_nonblock(b);
	relay_update(r);
	return r;
}

void
relay_prefill(struct relay *r, bool to_b, const void *data, size_t len)
{
	struct relay_dir *dir = &r->dir[to_b ? 0 : 1];

	if (r->finished || len == 0)
		return;
	relay_dir_reserve(dir, len);
	memcpy(dir->data + dir->off + dir->len, data, len);
	dir->len += len;
	relay_update(r);
}

int
relay_error(const struct relay *r)
{
	return r->error;
}

uint64_t
relay_bytes(const struct relay *r, bool to_b)
{
	return r->dir[to_b ? 0 : 1].bytes;
}

void
relay_free(struct relay *r)
{
	if (r == NULL)
		return;
	for (int i = 0; i < 2; i++) {
		if (r->io[i] != NULL)
			ev_io_del(r->io[i]);
		if (r->fd[i] >= 0)
			close(r->fd[i]);
		free(r->dir[i].data);
	}
	free(r);
}
