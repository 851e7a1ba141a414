/*
 * password.c: argon2id hashing on a worker thread (password.h).
 *
 * Data model: one worker thread, started with the first job, and two
 * lists under one mutex: jobs to do (at most PASSWORD_QUEUE_MAX, FIFO)
 * and jobs done. The worker takes a job, computes without the lock, puts
 * it on the done list and bumps an eventfd; the loop's watcher on that
 * eventfd takes the done list and runs each job's callback on the loop
 * thread, then frees the job. A job holds its own copies of the password
 * (wiped before it is freed) and of the hash. Hashes are libsodium's
 * crypto_pwhash_str (argon2id) with the INTERACTIVE limits (64 MiB, 2
 * passes): one worker bounds the memory to one hash at a time. A verify
 * without a hash checks against a dummy hash of random bytes made by the
 * worker when it starts, so it does the same work and fails.
 */
#include "common.h"

#include <pthread.h>
#include <sodium.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/ev.h"
#include "core/log.h"
#include "core/text.h"
#include "server/password.h"

#define PASSWORD_QUEUE_MAX 64
#define PASSWORD_OPS	   crypto_pwhash_OPSLIMIT_INTERACTIVE
#define PASSWORD_MEM	   crypto_pwhash_MEMLIMIT_INTERACTIVE

enum password_op {
	PASSWORD_HASH,
	PASSWORD_VERIFY,
};

struct password_job {
	enum password_op op;
	char *password; /* wiped and freed with the job */
	char *hash;	/* verify: the one to check (NULL: dummy); hash: out */
	int result;
	password_cb cb;
	void *data;
	struct password_job *next;
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct password_job *todo, **todo_tail;
	struct password_job *done, **done_tail;
	size_t ntodo;
	int efd;
	struct ev_io *io;
	bool started;
	char dummy[crypto_pwhash_STRBYTES];
} pw = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.wake = PTHREAD_COND_INITIALIZER,
	.efd = -1,
};

/* Wipe and free job j. */
static void
password_job_free(struct password_job *j)
{
	if (j->password != NULL) {
		sodium_memzero(j->password, strlen(j->password));
		free(j->password);
	}
	free(j->hash);
	free(j);
}

/* Run job j (on the worker thread). */
static void
password_job_run(struct password_job *j)
{
	char out[crypto_pwhash_STRBYTES];
	size_t n = strlen(j->password);

	if (j->op == PASSWORD_HASH) {
		if (crypto_pwhash_str(out, j->password, n, PASSWORD_OPS,
				      PASSWORD_MEM) != 0) {
			j->result = -ENOMEM;
			return;
		}
		j->hash = xstrdup(out);
		j->result = 0;
		return;
	}
	if (j->hash == NULL) {
		/* the same work as a real check, and never a match */
		volatile int same =
			crypto_pwhash_str_verify(pw.dummy, j->password, n);

		(void)same;
		j->result = -EACCES;
		return;
	}
	j->result = crypto_pwhash_str_verify(j->hash, j->password, n) == 0
			    ? 0
			    : -EACCES;
}

/* The worker thread: make the dummy hash, then run jobs forever. */
static void *
password_worker(void *arg UNUSED)
{
	unsigned char noise[32];
	const uint64_t one = 1;
	struct password_job *j;

	randombytes_buf(noise, sizeof noise);
	if (crypto_pwhash_str(pw.dummy, (const char *)noise, sizeof noise,
			      PASSWORD_OPS, PASSWORD_MEM) != 0)
		fatal("cannot make the dummy password hash: out of memory");
	for (;;) {
		pthread_mutex_lock(&pw.lock);
		while (pw.todo == NULL)
			pthread_cond_wait(&pw.wake, &pw.lock);
		j = pw.todo;
		pw.todo = j->next;
		if (pw.todo == NULL)
			pw.todo_tail = &pw.todo;
		pw.ntodo--;
		pthread_mutex_unlock(&pw.lock);

		password_job_run(j);

		pthread_mutex_lock(&pw.lock);
		j->next = NULL;
		*pw.done_tail = j;
		pw.done_tail = &j->next;
		pthread_mutex_unlock(&pw.lock);
		if (write(pw.efd, &one, sizeof one) < 0 && errno != EAGAIN)
			log_error("password worker: eventfd: %s",
				  strerror(errno));
	}
	return NULL;
}

/* The eventfd says jobs are done: run their callbacks (loop thread). */
static void
password_on_done(struct ev_io *io UNUSED, uint32_t events UNUSED,
		 void *data UNUSED)
{
	uint64_t n;
	struct password_job *list, *j;

	if (read(pw.efd, &n, sizeof n) < 0 && errno != EAGAIN)
		log_error("password worker: eventfd: %s", strerror(errno));
	pthread_mutex_lock(&pw.lock);
	list = pw.done;
	pw.done = NULL;
	pw.done_tail = &pw.done;
	pthread_mutex_unlock(&pw.lock);
	while ((j = list) != NULL) {
		char *hash = NULL;

		list = j->next;
		if (j->op == PASSWORD_HASH) {
			hash = j->hash;
			j->hash = NULL;
		}
		j->cb(j->result, hash, j->data);
		password_job_free(j);
	}
}

/* Start the worker and its eventfd watcher once; 0 or -errno. */
static int
password_start(struct ev_loop *loop)
{
	pthread_t t;
	pthread_attr_t attr;
	int r;

	if (pw.started)
		return 0;
	if ((pw.efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
		return -errno;
	pw.todo_tail = &pw.todo;
	pw.done_tail = &pw.done;
	pw.io = ev_io_add(loop, pw.efd, EPOLLIN, password_on_done, NULL);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	r = pthread_create(&t, &attr, password_worker, NULL);
	pthread_attr_destroy(&attr);
	if (r != 0) {
		ev_io_del(pw.io);
		close(pw.efd);
		pw.efd = -1;
		return -r;
	}
	pw.started = true;
	return 0;
}

/* Queue a job; 0, or -EAGAIN (full) / -errno (no worker). */
static int
password_queue(struct ev_loop *loop, enum password_op op, const char *hash,
	       const char *password, password_cb cb, void *data)
{
	struct password_job *j;
	int r;

	if ((r = password_start(loop)) < 0)
		return r;
	pthread_mutex_lock(&pw.lock);
	if (pw.ntodo >= PASSWORD_QUEUE_MAX) {
		pthread_mutex_unlock(&pw.lock);
		return -EAGAIN;
	}
	j = xcalloc(1, sizeof *j);
	j->op = op;
	j->password = xstrdup(password);
	j->hash = hash != NULL && *hash != '\0' ? xstrdup(hash) : NULL;
	j->cb = cb;
	j->data = data;
	*pw.todo_tail = j;
	pw.todo_tail = &j->next;
	pw.ntodo++;
	pthread_cond_signal(&pw.wake);
	pthread_mutex_unlock(&pw.lock);
	return 0;
}

int
password_hash_async(struct ev_loop *loop, const char *password, password_cb cb,
		    void *data)
{
	return password_queue(loop, PASSWORD_HASH, NULL, password, cb, data);
}

int
password_verify_async(struct ev_loop *loop, const char *hash,
		      const char *password, password_cb cb, void *data)
{
	return password_queue(loop, PASSWORD_VERIFY, hash, password, cb, data);
}

char *
password_hash_now(const char *password)
{
	char out[crypto_pwhash_STRBYTES];

	if (crypto_pwhash_str(out, password, strlen(password), PASSWORD_OPS,
			      PASSWORD_MEM) != 0)
		return NULL;
	return xstrdup(out);
}

const char *
password_check(const char *p)
{
	if (p == NULL)
		return "password must be a string";
	if (strlen(p) < PASSWORD_MIN || strlen(p) > PASSWORD_MAX)
		return "password must have 8 to 1024 bytes";
	if (!utf8_valid(p, strlen(p)))
		return "password must be UTF-8";
	return NULL;
}

char *
password_random(void)
{
	static const char alphabet[] = "abcdefghijkmnopqrstuvwxyz"
				       "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
	char *p = xmalloc(21);

	/* 20 of 57 symbols: ~116 bits */
	for (size_t i = 0; i < 20; i++)
		p[i] = alphabet[randombytes_uniform(sizeof alphabet - 1)];
	p[20] = '\0';
	return p;
}
