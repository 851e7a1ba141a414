/*
 * task-state.h: a task's lifecycle as one enum and one table of legal
 * moves, and what the API shows in each state (task-state.c, pure).
 *
 * task.c holds one enum task_state per live task and changes it only
 * through the table (task_state_allows); the API's status,
 * workspace_status and workspace_agent_lifecycle, whether the runtime
 * serves the task, and which requests a state allows are derived here.
 * current_state (the agent's working/idle/waiting/complete/failure) is
 * not a task state: it is the last thing the runtime (or the server)
 * said, shown in every state, and stays in task.c.
 */
#ifndef TASKBOX_SERVER_TASK_STATE_H
#define TASKBOX_SERVER_TASK_STATE_H

enum task_state {
	TASK_STATE_PENDING,    /* accepted or relaunched, nothing started */
	TASK_STATE_INSTALLING, /* install.c fetches the agent */
	TASK_STATE_DISK,       /* a child makes or mounts the disk image */
	TASK_STATE_LAUNCHED,   /* the sandbox runs, the runtime said nothing */
	TASK_STATE_SETUP,      /* the runtime runs the setup script */
	TASK_STATE_STARTING,   /* the runtime listens, the agent starts */
	TASK_STATE_ACTIVE,     /* the agent runs */
	TASK_STATE_PAUSING,    /* SIGTERM sent: the runtime saves its state */
	TASK_STATE_PAUSED,     /* stopped by a pause; resumable */
	TASK_STATE_ERROR,      /* failed (status_reason says why) */
	TASK_STATE_UNKNOWN,    /* the agent exited with status 0 */
	TASK_STATE_RECOVERING, /* loaded at server start, not yet looked at */
	TASK_STATE_DELETING,   /* killed: waits for the workspace or disk */
	TASK_STATE_DELETED,    /* gone: the last broadcast, then freed */
	TASK_STATE_COUNT,
};

/* Requests whose answer depends on the state alone. */
enum task_op {
	TASK_OP_SEND,	 /* POST .../send (queued before the agent runs) */
	TASK_OP_PAUSE,	 /* POST .../pause */
	TASK_OP_RESUME,	 /* POST .../resume */
	TASK_OP_RESTART, /* POST .../restart */
	TASK_OP_DELETE,	 /* DELETE the task */
	TASK_OP_INPUT,	 /* PATCH .../input (edit the prompt) */
	TASK_OP_COUNT,
};

/*
 * What the API shows. Strings are static. A stop (pausing, deleting)
 * changes only workspace_status and stopping; the rest stays what it
 * was, and a recovered task shows what its row says: those views are
 * derived from the one shown before (prev).
 */
struct task_view {
	const char *status;	      /* pending initializing active ... */
	const char *workspace_status; /* pending running stopping ... */
	const char *lifecycle;	      /* created starting ready off */
	const char *stopping;	      /* "pausing", "being deleted", NULL */
	bool runtime;		      /* its socket serves: logs, apps, sends */
};

/* How a workspace's exit reads (task_state_on_exit). */
enum task_exit {
	TASK_EXIT_PAUSED,	  /* it was pausing */
	TASK_EXIT_DELETED,	  /* it was being deleted */
	TASK_EXIT_SETUP_FAILED,	  /* the setup script failed (exit 3) */
	TASK_EXIT_BEFORE_AGENT,	  /* it stopped before the agent ran */
	TASK_EXIT_STATUS_UNKNOWN, /* re-attached: no exit status */
	TASK_EXIT_AGENT_CLEAN,	  /* the agent exited 0: unknown */
	TASK_EXIT_AGENT_STATUS,	  /* the agent exited non-zero */
	TASK_EXIT_SIGNAL,	  /* the workspace was killed */
};

/* The state's name ("pending", "pausing", ...), for logs and tests. */
const char *task_state_str(enum task_state s);
/* Is from -> to a legal move? */
bool task_state_allows(enum task_state from, enum task_state to);
/* The name of the event behind the legal move from -> to ("launch",
 * "pause", ...), or NULL when the move is not legal. */
const char *task_state_move(enum task_state from, enum task_state to);
/* The API view of state s; prev is the view shown before (the row's for
 * a recovered task), read only for pausing, deleting, deleted and
 * recovering; NULL reads as a fresh task's. */
struct task_view task_state_view(enum task_state s,
				 const struct task_view *prev);
/* Does s count toward --max-running-per-user (starting or running)? */
bool task_state_running(enum task_state s);
/* May op be done in state s? 0; -EBUSY while the task stops (pausing,
 * being deleted); -EAGAIN when it may be done in a moment (pause before
 * the sandbox runs, resume while pausing); -EPERM in a state that never
 * allows it (the status says why); -ENOENT once deleted. */
int task_state_may(enum task_state s, enum task_op op);
/* The state a workspace's exit leads to from state was, and how it
 * reads in *how: wstatus from waitpid (-1: unknown, re-attached),
 * runtime_exit the runtime's "exit N" line (-1: none). */
enum task_state task_state_on_exit(enum task_state was, int wstatus,
				   int runtime_exit, enum task_exit *how);

#endif
