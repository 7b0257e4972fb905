/*
 * test_arena.c - the agent's own memory (src/agent/arena.c): the scratch allocator's small
 * and large blocks, resizes that must move (mremap with another mapping in the way), data
 * kept across resizes, release of everything, and the accounting of agent memory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include <cmocka.h>

#include "agent/agent.h"

static void fill(uint8_t *p, size_t n, uint8_t seed) {
  for (size_t i = 0; i < n; i++)
    p[i] = (uint8_t)(seed + i * 7);
}

static void check(const uint8_t *p, size_t n, uint8_t seed) {
  for (size_t i = 0; i < n; i++)
    if (p[i] != (uint8_t)(seed + i * 7))
      fail_msg("byte %zu changed across a resize", i);
}

static void test_resizes_keep_data(void **state) {
  (void)state;
  const lw_allocator_t *a = &lw__scratch_allocator;
  uint64_t before = lw__arena_bytes();
  /* Grow one block from small to large, doubling, as profile arrays do. */
  size_t size = 64;
  uint8_t *block = lw_alloc(a, size);
  assert_non_null(block);
  fill(block, size, 1);
  while (size < (8u << 20)) {
    /* Something mapped right after a large block makes in-place growth impossible, so
     * mremap has to move it. */
    void *obstacle = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    uint8_t *grown = lw_resize(a, block, size, size * 2);
    assert_non_null(grown);
    check(grown, size, 1);
    fill(grown, size * 2, 1);
    block = grown;
    size *= 2;
    munmap(obstacle, 4096);
  }
  /* Many small blocks from chunks. */
  for (int i = 0; i < 10000; i++) {
    uint8_t *small = lw_alloc(a, 48);
    assert_non_null(small);
    fill(small, 48, (uint8_t)i);
  }
  assert_true(lw__arena_bytes() > before);
  lw__scratch_release_all();
  assert_int_equal(lw__arena_bytes(), before); /* everything returned */
}

static void test_large_release_returns_memory(void **state) {
  (void)state;
  const lw_allocator_t *a = &lw__scratch_allocator;
  uint64_t before = lw__arena_bytes();
  void *big = lw_alloc(a, 1 << 20);
  assert_non_null(big);
  assert_true(lw__arena_bytes() >= before + (1 << 20));
  lw_release(a, big, 1 << 20);
  assert_int_equal(lw__arena_bytes(), before);
  lw__scratch_release_all();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_resizes_keep_data),
      cmocka_unit_test(test_large_release_returns_memory),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
