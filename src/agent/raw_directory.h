/*
 * raw_directory.h - reading a directory of /proc inside the host program without
 * allocating: opendir/readdir would call the program's malloc from the agent thread, so
 * the entries are read with getdents64 into a buffer on the stack (raw_directory.c).
 */
#ifndef LW_AGENT_RAW_DIRECTORY_H
#define LW_AGENT_RAW_DIRECTORY_H

#include <stdbool.h>

/* Calls visit(name, context) for each entry of the open directory fd, "." and ".."
 * included, until visit returns false or the entries end. Returns 0, or -errno when
 * reading fails. */
int lw__directory_for_each(int fd, bool (*visit)(const char *name, void *context),
                           void *context);

/* The positive number a name spells ("1234" -> 1234), or 0 when it is not one ("." and
 * "..", "self", a number past 2^30). */
long lw__directory_number(const char *name);

#endif
