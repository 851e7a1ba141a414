/*
 * lint.h: `taskbox template lint` and `taskbox module lint`, local
 * validation of template and agent module files.
 */
#ifndef TASKBOX_LINT_H
#define TASKBOX_LINT_H

/* argv[0] is "template" or "module", argv[1] "lint", then files. */
int lint_main(int argc, char **argv);

#endif
