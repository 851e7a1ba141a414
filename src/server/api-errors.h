/*
 * api-errors.h: the one table from a negative errno (what task, store
 * and catalog functions return) to the HTTP status the api-*.c files
 * answer with; the problem's title follows from the status (http.c).
 */
#ifndef TASKBOX_SERVER_API_ERRORS_H
#define TASKBOX_SERVER_API_ERRORS_H

/* The status for err (a negative errno, or a positive one); 500 for an
 * errno the table does not name, 200 for 0. */
unsigned api_status_for_errno(int err);

#endif
