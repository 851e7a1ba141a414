/*
 * server-main.h: `taskbox server`, the Tasks server's entry point.
 */
#ifndef TASKBOX_SERVER_MAIN_H
#define TASKBOX_SERVER_MAIN_H

int server_main(int argc, char **argv);

#endif
