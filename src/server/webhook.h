/*
 * webhook.h: `taskbox webhook-post URL`, the child that delivers one
 * webhook with retries (see webhook.c).
 */
#ifndef TASKBOX_WEBHOOK_H
#define TASKBOX_WEBHOOK_H

int webhook_main(int argc, char **argv);

#endif
