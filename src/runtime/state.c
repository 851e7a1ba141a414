/*
 * state.c: save and load the conversation.
 *
 * Saving writes PATH.tmp, fsyncs it, renames it over PATH and fsyncs the
 * directory, so a crash leaves either the old file or the new one.
 */
#include "common.h"

#include <fcntl.h>
#include <libgen.h>
#include <sys/stat.h>
#include <unistd.h>

#include "state.h"

/* Create the directories leading to path (mode 0700). */
static int
state_mkdirs(const char *path)
{
	char *dir = xstrdup(path), *d = dirname(dir);
	int r = 0;

	for (char *p = d + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(d, 0700) < 0 && errno != EEXIST)
			r = -errno;
		*p = '/';
	}
	if (r == 0 && mkdir(d, 0700) < 0 && errno != EEXIST)
		r = -errno;
	free(dir);
	return r;
}

int
state_save(const char *path, const struct conv *c, const char *initial_prompt,
	   bool prompt_sent, char **cause)
{
	json_t *st = json_pack("{s:i, s:o, s:s, s:b}", "version", 1, "messages",
			       conv_to_json(c), "initial_prompt",
			       initial_prompt ? initial_prompt : "",
			       "initial_prompt_sent", prompt_sent);
	char *tmp = xasprintf("%s.tmp", path), *text = NULL, *dir;
	int fd = -1, r = 0, dfd;

	text = json_dumps(st, JSON_INDENT(2));
	json_decref(st);
	if (text == NULL)
		fatal("cannot encode the state file");
	if ((r = state_mkdirs(path)) < 0) {
		*cause = xasprintf("cannot create the directory of '%s': %s",
				   path, strerror(-r));
		goto out;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write_all(fd, text, strlen(text)) < 0 ||
	    write_all(fd, "\n", 1) < 0 || fsync(fd) < 0) {
		r = -errno;
		*cause = xasprintf("cannot write '%s': %s", tmp,
				   strerror(errno));
		unlink(tmp);
		goto out;
	}
	close(fd);
	fd = -1;
	if (rename(tmp, path) < 0) {
		r = -errno;
		*cause = xasprintf("cannot rename '%s' to '%s': %s", tmp, path,
				   strerror(errno));
		unlink(tmp);
		goto out;
	}
	dir = xstrdup(path);
	dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	free(dir);
out:
	if (fd >= 0)
		close(fd);
	free(tmp);
	free(text);
	return r;
}

int
state_load(const char *path, struct conv *c, char **prompt, bool *prompt_sent,
	   char **cause)
{
	json_error_t err;
	json_t *st, *messages = NULL;
	const char *p = NULL;
	int version = 0, sent = 0, r;
	struct stat sb;

	*prompt = NULL;
	*prompt_sent = false;
	if (stat(path, &sb) < 0) {
		if (errno == ENOENT)
			return -ENOENT;
		*cause = xasprintf("cannot read '%s': %s", path,
				   strerror(errno));
		return -errno;
	}
	if (sb.st_size > (off_t)STATE_MAX_BYTES) {
		*cause = xasprintf("'%s' is larger than %u bytes", path,
				   STATE_MAX_BYTES);
		return -EFBIG;
	}
	st = json_load_file(path, 0, &err);
	if (st == NULL) {
		*cause = xasprintf("'%s' is not valid JSON: line %d: %s", path,
				   err.line, err.text);
		return -EINVAL;
	}
	if (json_unpack_ex(st, &err, 0, "{s:i, s:o, s?:s, s?:b}", "version",
			   &version, "messages", &messages, "initial_prompt",
			   &p, "initial_prompt_sent", &sent) < 0) {
		*cause = xasprintf("'%s': %s", path, err.text);
		json_decref(st);
		return -EINVAL;
	}
	if (version != 1) {
		*cause = xasprintf("'%s' has unsupported version %d", path,
				   version);
		json_decref(st);
		return -EINVAL;
	}
	r = conv_load_json(c, messages, cause);
	if (r == 0) {
		*prompt = p != NULL && *p != '\0' ? xstrdup(p) : NULL;
		*prompt_sent = sent;
	}
	json_decref(st);
	return r;
}
