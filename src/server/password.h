/*
 * password.h: argon2id password hashes, made and checked off the loop.
 *
 * A hash takes ~64 MiB and a good fraction of a second: the loop thread
 * never computes one. Jobs go to one worker thread through a bounded
 * queue; their results come back to the loop through an eventfd and the
 * callback runs on the loop thread.
 */
#ifndef TASKBOX_PASSWORD_H
#define TASKBOX_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>

struct ev_loop;

/* Bytes a password may have (the API refuses others). */
#define PASSWORD_MIN 8
#define PASSWORD_MAX 1024

/*
 * A job's end, on the loop thread: r is 0 (hashed; verified: it
 * matches), -EACCES (verified: no match) or -ENOMEM; hash is the new
 * hash of a hash job (the callback takes ownership), else NULL.
 */
typedef void (*password_cb)(int r, char *hash, void *data);

/* Hash password (copied) into an argon2id string later: 0, or -EAGAIN
 * when the queue is full. */
int password_hash_async(struct ev_loop *loop, const char *password,
			password_cb cb, void *data);
/*
 * Check password (copied) against hash (copied; NULL or "": a dummy hash,
 * so that an unknown user costs the same work and always fails) later:
 * 0, or -EAGAIN when the queue is full.
 */
int password_verify_async(struct ev_loop *loop, const char *hash,
			  const char *password, password_cb cb, void *data);
/* Hash password now, on this thread (before the loop serves anyone); a
 * new string, or NULL. */
char *password_hash_now(const char *password);
/* Why p (NULL: not a string) cannot be a password, or NULL. */
const char *password_check(const char *p);
/* A new random password of letters and digits (the admin's first one). */
char *password_random(void);

#endif
