/*
 * attach.h - the parts of libleakwatch-attach.so that the preloaded agent does not have:
 * redirecting the program's calls (attach_got_patch.c) and the entry points (attach.c).
 * Only compiled with LW_ATTACH (src/agent/CMakeLists.txt).
 */
#ifndef LW_AGENT_ATTACH_H
#define LW_AGENT_ATTACH_H

#include <stdbool.h>
#include <stdint.h>

typedef struct lw_got_patch_counts {
  uint64_t objects;  /* loaded objects looked at */
  uint64_t slots;    /* slots pointed at the agent */
  uint64_t refused;  /* slots left alone: RELRO page not writable, or no memory */
  uint64_t restored; /* slots given back their old value on detach */
  uint64_t left;     /* slots not restored: unloaded, or rewritten by someone else since */
} lw_got_patch_counts_t;

/* Points every interposed function's GOT slot of every loaded object (but the agent and the
 * loader) at the agent's; descriptor functions only when `fds`. 0, or -1 when the agent's
 * own exports cannot be read. */
int lw__got_patch_all(bool fds);
/* Patches objects loaded since the last scan (cheap when none was: one dl_iterate_phdr
 * step). From the dlsym hook and the agent thread's periodic check. */
void lw__got_patch_new_objects(void);
/* Writes back every saved slot that still holds the agent's function. */
void lw__got_restore_all(void);
void lw__got_counts(lw_got_patch_counts_t *out);

#endif
