/*
 * client.h: the CLI's connection to a taskbox server.
 *
 * A session is a server URL and a token, read from
 * $XDG_CONFIG_HOME/taskbox/session.json and overridden by TASKBOX_URL /
 * TASKBOX_TOKEN and the --url / --token flags. Requests go through
 * libcurl; nothing here prints: failures come back as a `cause` string
 * (possibly several lines) for the caller to show.
 */
#ifndef TASKBOX_CLI_CLIENT_H
#define TASKBOX_CLI_CLIENT_H

#include <jansson.h>

/* Hard limit on a reply body the client buffers. */
#define CLIENT_MAX_BODY (32u << 20)

struct client {
	char *url;   /* no trailing slash */
	char *token; /* may be NULL */
	void *curl;  /* a reused CURL easy handle */
};

/* One buffered reply. */
struct client_reply {
	long status;
	char *body; /* NUL-terminated */
	size_t len;
};

/* Callbacks of a streaming request; each returns 0 to go on. */
struct client_stream_ops {
	/* One server-sent event. */
	int (*on_event)(const char *event, const char *data, void *arg);
	/* fd (if >= 0) is readable. */
	int (*on_fd)(int fd, void *arg);
	/* Called about every tick_ms milliseconds (if tick_ms > 0). */
	int (*on_tick)(void *arg);
	int fd;
	unsigned tick_ms;
	uint64_t timeout_ms; /* 0: none */
};

/* The session file's path, or NULL when neither XDG_CONFIG_HOME nor HOME is
 * set. */
char *client_session_path(void);

/*
 * Read the session file into *url and *token (either may stay NULL).
 * Returns 0 (also when the file does not exist) or -1 with *cause.
 */
int client_session_load(char **url, char **token, char **cause);

/* Write the session file atomically with mode 0600; 0 or -1 with *cause. */
int client_session_save(const char *url, const char *token, char **cause);

/* Normalize a server URL: trims trailing slashes, adds http://. */
char *client_url_normalize(const char *url);

/* Percent-encode a path segment or query value. */
char *client_escape(const char *s);

/* Start a client for url (copied) with token (copied, may be NULL). */
void client_init(struct client *c, const char *url, const char *token);
void client_release(struct client *c);

/* Turn a problem+json (or other) error reply into a human message. */
char *client_problem_text(const struct client *c, long status, const char *body,
			  size_t len);

/*
 * Send a request to path (relative to the server URL, or absolute) and
 * buffer the reply, whatever its status. Returns 0, or -1 with *cause
 * when the server could not be reached.
 */
int client_request(struct client *c, const char *method, const char *path,
		   const char *ctype, const char *body, size_t len,
		   struct client_reply *r, char **cause);
void client_reply_release(struct client_reply *r);

/*
 * Send body (ctype, or JSON when body_json is given) and parse a 2xx
 * JSON reply into *out (NULL for an empty body). Returns 0; the HTTP
 * status when it is not 2xx, with *out the problem body (if JSON) and
 * *cause; or -1 with *cause when the server could not be reached.
 */
int client_call(struct client *c, const char *method, const char *path,
		json_t *body_json, const char *ctype, const char *body,
		size_t len, json_t **out, char **cause);

/* client_call with an optional JSON body and no interest in problems. */
int client_json(struct client *c, const char *method, const char *path,
		json_t *body, json_t **out, char **cause);

/*
 * Follow an SSE stream at path until the server ends it (returns 0), a
 * callback stops it (returns that callback's value), the timeout passes
 * (-ETIMEDOUT with *cause) or it fails (-EIO with *cause).
 */
int client_stream(struct client *c, const char *path,
		  const struct client_stream_ops *ops, void *arg, char **cause);

#endif
