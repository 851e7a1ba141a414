/*
 * fuzz-state.c: libFuzzer over the runtime's state file loader
 * (src/runtime/state.c, conv_load_json): the file lives in the task's
 * data directory, so a resumed task reads what its last run (or anyone
 * who could write there) left.
 *
 * The input is written to a file in a private temporary directory and
 * loaded. A file that loads is saved and loaded again: the second load
 * must give the same conversation and prompt (a save/load round trip is
 * stable).
 */
#include "common.h"

#include <unistd.h>

#include "runtime/state.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64], path[96], path2[96];

/* Remove the files and the directory at exit. */
static void
fuzz_state_cleanup(void)
{
	unlink(path);
	unlink(path2);
	rmdir(dir);
}

/* A private directory for the state files. */
int
LLVMFuzzerInitialize(int *argc UNUSED, char ***argv UNUSED)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(dir, sizeof dir, "%s/fuzz-state.XXXXXX",
		 tmp && strlen(tmp) < 32 ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL)
		fatal("mkdtemp: %s", strerror(errno));
	snprintf(path, sizeof path, "%s/state.json", dir);
	snprintf(path2, sizeof path2, "%s/again.json", dir);
	atexit(fuzz_state_cleanup);
	return 0;
}

/* Load file into a new conversation of type t; 0 or the error. */
static int
fuzz_state_load(const char *file, enum agent_type t, struct conv **c,
		char **prompt, bool *sent)
{
	char *cause = NULL;
	int r;

	*c = conv_new(t);
	r = state_load(file, *c, prompt, sent, &cause);
	free(cause);
	return r;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum agent_type t = size > 0 ? data[0] % (AGENT_CUSTOM + 1) : 0;
	struct conv *c1 = NULL, *c2 = NULL;
	char *p1 = NULL, *p2 = NULL, *cause = NULL;
	json_t *j1, *j2;
	bool s1, s2;
	FILE *f = fopen(path, "w");

	if (f == NULL || fwrite(data, 1, size, f) != size || fclose(f) != 0)
		fatal("cannot write '%s'", path);
	if (fuzz_state_load(path, t, &c1, &p1, &s1) != 0)
		goto out;
	if (state_save(path2, c1, p1, s1, &cause) != 0)
		fatal("state_save: %s", cause);
	if (fuzz_state_load(path2, t, &c2, &p2, &s2) != 0)
		BUG();
	j1 = conv_to_json(c1);
	j2 = conv_to_json(c2);
	if (!json_equal(j1, j2) || s1 != s2 || (p1 == NULL) != (p2 == NULL) ||
	    (p1 != NULL && strcmp(p1, p2) != 0))
		BUG();
	json_decref(j1);
	json_decref(j2);
out:
	conv_free(c1);
	conv_free(c2);
	free(p1);
	free(p2);
	return 0;
}
