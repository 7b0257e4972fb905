/*
 * attach_note.c - finds the "since attach at <time>" comment an attached agent puts in its
 * profiles (attach_note.h).
 */
#include "cli/attach_note.h"

#include <stdio.h>
#include <string.h>

void lw_cli_attach_note(const lw_profile_t *profile, char *out, size_t size) {
  if (!size)
    return;
  out[0] = '\0';
  for (size_t i = 0; i < profile->n_comments; i++) {
    const char *text = lw_profile_str(profile, profile->comments[i]);
    if (text && strncmp(text, "since attach at ", 16) == 0) {
      snprintf(out, size, "%s", text);
      return;
    }
  }
}
