/*
 * task-state.c: the task lifecycle's legal moves and API views (pure).
 *
 * Data model: a task is in exactly one enum task_state. The table
 * task_moves lists every legal move (from, to) with the name of the event
 * that makes it; any pair not listed is refused. The life of a task:
 *
 *   pending -> [installing] -> [disk] -> launched -> [setup] -> starting
 *     -> active            (the runtime's ready lines: setup, listening,
 *                           agent PID; [] when the launch needs none)
 *   any of those -> error  (a start that fails, a workspace that exits)
 *   active -> unknown      (the agent exited with status 0)
 *   launched..active -> pausing -> paused -> pending   (pause, resume)
 *   error, unknown -> pending                          (restart)
 *   anything -> deleting -> deleted                    (delete)
 *   recovering -> active (re-attached) | paused | error | unknown
 *
 * Resume and restart both go back to pending: how the launch differs
 * (setup again, session continued) is a fact of the task, not a state.
 * The views (struct task_view) are what the API shows in each state;
 * task_state_may answers, per state, the requests whose answer depends
 * on the state alone.
 */
#include "common.h"

#include <sys/wait.h>

#include "server/task-state.h"

/* One legal move and the event behind it. */
struct task_move {
	enum task_state from, to;
	const char *event;
};

#define S(x) TASK_STATE_##x
static const struct task_move task_moves[] = {
	/* a start: create, resume and restart all begin at pending */
	{S(PENDING), S(INSTALLING), "install"},
	{S(PENDING), S(DISK), "disk"},
	{S(PENDING), S(LAUNCHED), "launch"},
	{S(PENDING), S(ERROR), "fail"},
	{S(INSTALLING), S(DISK), "disk"},
	{S(INSTALLING), S(LAUNCHED), "launch"},
	{S(INSTALLING), S(ERROR), "fail"},
	{S(DISK), S(LAUNCHED), "launch"},
	{S(DISK), S(ERROR), "fail"},
	/* the runtime's ready lines */
	{S(LAUNCHED), S(SETUP), "setup"},
	{S(LAUNCHED), S(STARTING), "listening"},
	{S(SETUP), S(STARTING), "listening"},
	{S(STARTING), S(ACTIVE), "agent"},
	/* the workspace exits */
	{S(LAUNCHED), S(ERROR), "exit"},
	{S(SETUP), S(ERROR), "exit"},
	{S(STARTING), S(ERROR), "exit"},
	{S(ACTIVE), S(ERROR), "exit"},
	{S(ACTIVE), S(UNKNOWN), "exit"},
	/* pause (asked for, idle timeout, server shutdown) and resume */
	{S(LAUNCHED), S(PAUSING), "pause"},
	{S(SETUP), S(PAUSING), "pause"},
	{S(STARTING), S(PAUSING), "pause"},
	{S(ACTIVE), S(PAUSING), "pause"},
	{S(PAUSING), S(PAUSED), "stopped"},
	{S(PAUSED), S(PENDING), "resume"},
	/* restart */
	{S(ERROR), S(PENDING), "restart"},
	{S(UNKNOWN), S(PENDING), "restart"},
	/* server start: what the row says, or the workspace found again */
	{S(RECOVERING), S(ACTIVE), "reattach"},
	{S(RECOVERING), S(PAUSED), "recover"},
	{S(RECOVERING), S(ERROR), "recover"},
	{S(RECOVERING), S(UNKNOWN), "recover"},
	/* delete, from every state but its own two */
	{S(PENDING), S(DELETING), "delete"},
	{S(INSTALLING), S(DELETING), "delete"},
	{S(DISK), S(DELETING), "delete"},
	{S(LAUNCHED), S(DELETING), "delete"},
	{S(SETUP), S(DELETING), "delete"},
	{S(STARTING), S(DELETING), "delete"},
	{S(ACTIVE), S(DELETING), "delete"},
	{S(PAUSING), S(DELETING), "delete"},
	{S(PAUSED), S(DELETING), "delete"},
	{S(ERROR), S(DELETING), "delete"},
	{S(UNKNOWN), S(DELETING), "delete"},
	{S(RECOVERING), S(DELETING), "delete"},
	{S(DELETING), S(DELETED), "gone"},
};
#undef S

static const char *const task_state_names[TASK_STATE_COUNT] = {
	[TASK_STATE_PENDING] = "pending",
	[TASK_STATE_INSTALLING] = "installing",
	[TASK_STATE_DISK] = "disk",
	[TASK_STATE_LAUNCHED] = "launched",
	[TASK_STATE_SETUP] = "setup",
	[TASK_STATE_STARTING] = "starting",
	[TASK_STATE_ACTIVE] = "active",
	[TASK_STATE_PAUSING] = "pausing",
	[TASK_STATE_PAUSED] = "paused",
	[TASK_STATE_ERROR] = "error",
	[TASK_STATE_UNKNOWN] = "unknown",
	[TASK_STATE_RECOVERING] = "recovering",
	[TASK_STATE_DELETING] = "deleting",
	[TASK_STATE_DELETED] = "deleted",
};

/*
 * The views of the states that do not depend on the one before: before
 * the sandbox runs the status is pending, while it runs until the agent
 * does it is initializing.
 */
static const struct task_view task_views[TASK_STATE_COUNT] = {
	[TASK_STATE_PENDING] = {"pending", "pending", "created", NULL, false},
	[TASK_STATE_INSTALLING] = {"pending", "pending", "created", NULL,
				   false},
	[TASK_STATE_DISK] = {"pending", "pending", "created", NULL, false},
	[TASK_STATE_LAUNCHED] = {"initializing", "running", "created", NULL,
				 false},
	[TASK_STATE_SETUP] = {"initializing", "running", "created", NULL,
			      false},
	[TASK_STATE_STARTING] = {"initializing", "running", "starting", NULL,
				 true},
	[TASK_STATE_ACTIVE] = {"active", "running", "ready", NULL, true},
	[TASK_STATE_PAUSED] = {"paused", "stopped", "off", NULL, false},
	[TASK_STATE_ERROR] = {"error", "failed", "off", NULL, false},
	[TASK_STATE_UNKNOWN] = {"unknown", "stopped", "off", NULL, false},
};

/* Is s a value of the enum? */
static bool
task_state_valid(enum task_state s)
{
	return (unsigned)s < TASK_STATE_COUNT;
}

const char *
task_state_str(enum task_state s)
{
	BUG_ON(!task_state_valid(s));
	return task_state_names[s];
}

const char *
task_state_move(enum task_state from, enum task_state to)
{
	BUG_ON(!task_state_valid(from) || !task_state_valid(to));
	for (size_t i = 0; i < ARRAY_SIZE(task_moves); i++)
		if (task_moves[i].from == from && task_moves[i].to == to)
			return task_moves[i].event;
	return NULL;
}

bool
task_state_allows(enum task_state from, enum task_state to)
{
	return task_state_move(from, to) != NULL;
}

struct task_view
task_state_view(enum task_state s, const struct task_view *prev)
{
	struct task_view v;

	BUG_ON(!task_state_valid(s));
	if (prev == NULL)
		prev = &task_views[TASK_STATE_PENDING];
	switch (s) {
	case TASK_STATE_PAUSING:
		v = *prev;
		v.workspace_status = "stopping";
		v.stopping = "pausing";
		return v;
	case TASK_STATE_DELETING:
		v = *prev;
		v.workspace_status = "stopping";
		v.stopping = "being deleted";
		return v;
	case TASK_STATE_DELETED:
		v = *prev;
		v.workspace_status = "deleted";
		v.stopping = "being deleted";
		v.runtime = false;
		return v;
	case TASK_STATE_RECOVERING:
		/* the row's status and workspace status, nothing runs */
		v = *prev;
		v.lifecycle = "off";
		v.stopping = NULL;
		v.runtime = false;
		return v;
	default:
		return task_views[s];
	}
}

bool
task_state_running(enum task_state s)
{
	BUG_ON(!task_state_valid(s));
	/* a pausing workspace still holds its share until it is gone */
	return s <= TASK_STATE_PAUSING;
}

/* The answer to op in a state where the task neither stops nor is
 * gone. */
static int
task_state_may_settled(enum task_state s, enum task_op op)
{
	bool starting = s <= TASK_STATE_DISK; /* no sandbox yet */
	bool runs = s >= TASK_STATE_LAUNCHED && s <= TASK_STATE_ACTIVE;

	switch (op) {
	case TASK_OP_SEND:
		/* queued until the agent is idle */
		return starting || runs ? 0 : -EPERM;
	case TASK_OP_PAUSE:
		return runs ? 0 : starting ? -EAGAIN : -EPERM;
	case TASK_OP_RESUME:
	case TASK_OP_INPUT:
		return s == TASK_STATE_PAUSED ? 0 : -EPERM;
	case TASK_OP_RESTART:
		return s == TASK_STATE_ERROR || s == TASK_STATE_UNKNOWN
			       ? 0
			       : -EPERM;
	case TASK_OP_DELETE:
		return 0;
	default:
		BUG();
	}
}

int
task_state_may(enum task_state s, enum task_op op)
{
	BUG_ON(!task_state_valid(s) || (unsigned)op >= TASK_OP_COUNT);
	switch (s) {
	case TASK_STATE_DELETED:
		return -ENOENT;
	case TASK_STATE_DELETING:
		return -EBUSY;
	case TASK_STATE_PAUSING:
		/* a resume can follow in a moment; the rest waits for
		 * nothing: the task stops */
		return op == TASK_OP_DELETE   ? 0
		       : op == TASK_OP_RESUME ? -EAGAIN
					      : -EBUSY;
	case TASK_STATE_RECOVERING:
		/* never seen by a request: the server is not serving yet */
		return op == TASK_OP_DELETE ? 0 : -EAGAIN;
	default:
		return task_state_may_settled(s, op);
	}
}

enum task_state
task_state_on_exit(enum task_state was, int wstatus, int runtime_exit,
		   enum task_exit *how)
{
	bool exited = wstatus != -1 && WIFEXITED(wstatus);

	switch (was) {
	case TASK_STATE_PAUSING:
		*how = TASK_EXIT_PAUSED;
		return TASK_STATE_PAUSED;
	case TASK_STATE_DELETING:
		*how = TASK_EXIT_DELETED;
		return TASK_STATE_DELETED;
	case TASK_STATE_LAUNCHED:
	case TASK_STATE_SETUP:
		if (runtime_exit == 3 ||
		    (exited && WEXITSTATUS(wstatus) == 3)) {
			*how = TASK_EXIT_SETUP_FAILED;
			return TASK_STATE_ERROR;
		}
		/* fall through */
	case TASK_STATE_STARTING:
		*how = TASK_EXIT_BEFORE_AGENT;
		return TASK_STATE_ERROR;
	case TASK_STATE_ACTIVE:
		if (wstatus == -1)
			*how = TASK_EXIT_STATUS_UNKNOWN;
		else if (exited && WEXITSTATUS(wstatus) == 0)
			*how = TASK_EXIT_AGENT_CLEAN;
		else if (exited)
			*how = TASK_EXIT_AGENT_STATUS;
		else
			*how = TASK_EXIT_SIGNAL;
		return *how == TASK_EXIT_AGENT_CLEAN ? TASK_STATE_UNKNOWN
						     : TASK_STATE_ERROR;
	default:
		/* no workspace runs in any other state */
		BUG();
	}
}
