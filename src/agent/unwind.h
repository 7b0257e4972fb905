/*
 * unwind.h - the agent's stack unwinder (interface agreed with the unwinder work on branch
 * `unwind`; this file is replaced by that implementation's header).
 */
#ifndef LW_AGENT_UNWIND_H
#define LW_AGENT_UNWIND_H

#include <stdbool.h>
#include <stdint.h>

int lw__unwind_init(void);
void lw__unwind_skip_module(const void *address_in_module);
int lw__unwind_here(uint64_t *pcs, int max_depth, int skip, bool *truncated);
void lw__unwind_flush_cache(void);
typedef struct {
  uint64_t cache_hits, cache_misses, uncacheable, stopped_unsafe;
} lw_unwind_stats_t;
void lw__unwind_get_stats(lw_unwind_stats_t *out);

#endif
