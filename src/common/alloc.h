/*
 * alloc.h - the allocator interface shared code allocates through.
 *
 * Code in src/common runs in two worlds: inside the target process (called by the agent,
 * where it must never reach the tracked malloc) and in the CLI (where libc malloc is fine).
 * So it never calls malloc directly: every container takes an lw_allocator_t. The agent
 * passes its own mmap arena (src/agent/arena.c), the CLI passes lw_libc_allocator.
 */
#ifndef LW_COMMON_ALLOC_H
#define LW_COMMON_ALLOC_H

#include <stddef.h>

typedef struct lw_allocator {
  /* Returns NULL on failure; callers treat that as "out of memory", never abort. */
  void *(*alloc)(void *context, size_t size);
  /* Grows or shrinks a block from alloc(); old_size is the size it was allocated with. */
  void *(*resize)(void *context, void *block, size_t old_size, size_t new_size);
  void (*release)(void *context, void *block, size_t size);
  void *context;
} lw_allocator_t;

/* malloc/realloc/free; for the CLI and tests only, never for the agent. */
extern const lw_allocator_t lw_libc_allocator;

static inline void *lw_alloc(const lw_allocator_t *a, size_t size) {
  return a->alloc(a->context, size);
}
static inline void *lw_resize(const lw_allocator_t *a, void *block, size_t old_size,
                              size_t new_size) {
  return a->resize(a->context, block, old_size, new_size);
}
static inline void lw_release(const lw_allocator_t *a, void *block, size_t size) {
  if (block)
    a->release(a->context, block, size);
}

#endif
