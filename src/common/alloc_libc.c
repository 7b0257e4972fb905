/*
 * alloc_libc.c - lw_libc_allocator: the allocator the CLI and tests hand to shared code.
 * Never linked into a path the agent runs (the agent uses its arena).
 */
#include "common/alloc.h"

#include <stdlib.h>

static void *libc_alloc(void *context, size_t size) {
  (void)context;
  return malloc(size ? size : 1);
}

static void *libc_resize(void *context, void *block, size_t old_size, size_t new_size) {
  (void)context;
  (void)old_size;
  return realloc(block, new_size ? new_size : 1);
}

static void libc_release(void *context, void *block, size_t size) {
  (void)context;
  (void)size;
  free(block);
}

const lw_allocator_t lw_libc_allocator = {libc_alloc, libc_resize, libc_release, NULL};
