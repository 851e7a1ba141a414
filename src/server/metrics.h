/*
 * metrics.h: the server's counters, gauges and histograms, served at
 * GET /metrics in the Prometheus text format (0.0.4).
 */
#ifndef TASKBOX_METRICS_H
#define TASKBOX_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "gateway/usage.h"

struct http_server;
struct store;

/* Route GET /metrics and hook the HTTP replies and the store's calls. */
void metrics_register(struct http_server *http, struct store *store);
/* A task's workspace start was accepted (create, resume, restart). */
void metrics_task_start(void);
/* A task became active ms after its start was accepted. */
void metrics_task_active(uint64_t ms);
/* One gateway request ended. status: the HTTP status the agent got (0: no
 * reply); upstream_error: the upstream failed (connect, TLS, timeout, 5xx). */
void metrics_gateway(const char *provider, const char *model, int status,
		     uint64_t first_byte_us, uint64_t total_us,
		     const struct usage *u, bool upstream_error);

#endif
