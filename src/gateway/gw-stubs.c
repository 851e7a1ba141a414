/*
 * gw-stubs.c: TEMPORARY stand-ins for account.c (see gw-stubs.h): no
 * accounting, no budget.
 */
#include "common.h"

#include "gateway/gw-stubs.h"

/* Not recorded. */
void
account_record(const struct account_key *k UNUSED, const struct usage *u UNUSED)
{
}

/* Never over. */
int
account_check(const char *task_id UNUSED, const char *owner_id UNUSED,
	      const char *template_id UNUSED, char **reason UNUSED)
{
	return 0;
}

/* Nothing. */
void
account_exceeded(const char *task_id UNUSED, const char *reason UNUSED)
{
}
