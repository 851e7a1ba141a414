/*
 * gateway.h: the LLM gateway behind a task's llm.sock.
 *
 * egress.c accepts the connections of a task's llm.sock (and bounds
 * them); the gateway serves each as HTTP/1.1 with keep-alive: the agent's
 * request is read whole (bounded), routed to the task's provider, signed
 * or given its key, sent by libcurl (curlev.c) and its response streamed
 * back chunk by chunk while its token usage is counted.
 */
#ifndef TASKBOX_GATEWAY_GATEWAY_H
#define TASKBOX_GATEWAY_GATEWAY_H

#include <stddef.h>

struct gateway;

/* The gateway of one task: its ids and its template's provider name
 * (copied). */
struct gateway *gateway_new(const char *task_id, const char *owner_id,
			    const char *template_id, const char *provider);
/* The task stopped (paused, restarted, deleted): close every agent
 * connection of g; the transfers running go on detached, bounded, until
 * they end (their usage recorded), and g is freed with the last; NULL is
 * fine. */
void gateway_free(struct gateway *g);
/* Task task_id is deleted: cancel the transfers its freed gateways still
 * run (what was read is recorded). */
void gateway_task_gone(const char *task_id);
/* The server stops: cancel every transfer (what was read is recorded,
 * before account_stop writes it) and free the freed gateways. */
void gateway_shutdown(void);
/* Serve the agent connection fd (nonblocking; g takes it). */
void gateway_accept(struct gateway *g, int fd);
/* Connections g serves now; all gateways' together. */
size_t gateway_conns(const struct gateway *g);
size_t gateway_conns_total(void);

#endif
