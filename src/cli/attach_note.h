/*
 * attach_note.h - "since attach at <time>" for the live commands: an agent that
 * `leakwatch attach` loaded into a running program says so in each profile's comments
 * (src/agent/profile_export.c), and heap and leaks repeat it, since nothing allocated
 * before that moment can be in what they show.
 */
#ifndef LW_CLI_ATTACH_NOTE_H
#define LW_CLI_ATTACH_NOTE_H

#include <stddef.h>

#include "common/profile.h"

/* Copies the profile's "since attach at ..." comment into out ("" when it has none). */
void lw_cli_attach_note(const lw_profile_t *profile, char *out, size_t size);

#endif
