/*
 * api-errors.c: errno → HTTP status (see api-errors.h).
 *
 * Data model: one static table, one row per errno that has a meaning
 * for a client; everything else is the server's fault (500). Handlers
 * keep their own detail text and take the status from here, so the same
 * failure answers the same status on every endpoint.
 */
#include "common.h"

#include "server/api-errors.h"

/* One row: an errno and the status it answers. */
struct api_errno_status {
	int err;
	unsigned status;
};

static const struct api_errno_status api_errno_table[] = {
	{EINVAL, 400}, /* a request the handler could not use */
	{EPERM, 403},	     {EACCES, 403},
	{ENOENT, 404},	  /* no such user, task, template, secret */
	{EEXIST, 409},	  /* a name taken */
	{EBUSY, 409},	  /* changed meanwhile: try again */
	{EALREADY, 409},  /* already done or under way */
	{ECANCELED, 409}, /* stopped by a delete or pause */
	{EMSGSIZE, 413},     {E2BIG, 413},
	{EDQUOT, 429}, /* a per-user or server limit */
	{ENOSYS, 501},	     {EOPNOTSUPP, 501},
	{ECONNREFUSED, 502}, /* the task's runtime is not there */
	{ECONNRESET, 502},   {EPIPE, 502},
	{EPROTO, 502}, /* the runtime answered nonsense */
	{EAGAIN, 503}, /* not now (starting, out of fds) */
	{EMFILE, 503},	     {ENFILE, 503},
	{ETIMEDOUT, 504}, /* the runtime did not answer in time */
	{ENOSPC, 507},	  /* the server's disk is full */
};

unsigned
api_status_for_errno(int err)
{
	if (err == 0)
		return 200;
	if (err < 0)
		err = -err;
	for (size_t i = 0; i < ARRAY_SIZE(api_errno_table); i++)
		if (api_errno_table[i].err == err)
			return api_errno_table[i].status;
	return 500;
}
