/*
 * gw-stubs.h: TEMPORARY. account.h of the plan (helper C's, branch
 * h-acct) until that branch is merged; gw-stubs.c stands in for it.
 */
#ifndef TASKBOX_GATEWAY_GW_STUBS_H
#define TASKBOX_GATEWAY_GW_STUBS_H

#include <stdbool.h>
#include <stdint.h>

#include "gateway/usage.h"

struct account_key {
	const char *task_id, *owner_id, *template_id, *provider, *provider_type,
		*model;
};
void account_record(const struct account_key *k, const struct usage *u);
int account_check(const char *task_id, const char *owner_id,
		  const char *template_id, char **reason);
void account_exceeded(const char *task_id, const char *reason);

#endif
