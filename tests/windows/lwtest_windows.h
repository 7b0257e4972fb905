/*
 * lwtest_windows.h - the few checks the Windows test programs need (they run under wine,
 * without cmocka): CHECK prints the failing condition and counts it, SKIP_CHECK prints why
 * an assertion cannot be made here (a counter wine leaves at zero), and lw_test_finish
 * prints "N passed, N failed" and returns the exit status (0, or 1 on any failure).
 */
#ifndef LW_TESTS_WINDOWS_LWTEST_H
#define LW_TESTS_WINDOWS_LWTEST_H

#include <stdio.h>

static int lw_test_passed, lw_test_failed, lw_test_skipped;

#define CHECK(cond, ...)                                                                 \
  do {                                                                                   \
    if (cond) {                                                                          \
      lw_test_passed++;                                                                  \
    } else {                                                                             \
      lw_test_failed++;                                                                  \
      printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                             \
      printf(__VA_ARGS__);                                                               \
      printf("\n");                                                                      \
    }                                                                                    \
    fflush(stdout);                                                                      \
  } while (0)

#define SKIP_CHECK(...)                                                                  \
  do {                                                                                   \
    lw_test_skipped++;                                                                   \
    printf("SKIP ");                                                                     \
    printf(__VA_ARGS__);                                                                 \
    printf("\n");                                                                        \
    fflush(stdout);                                                                      \
  } while (0)

static inline int lw_test_finish(void) {
  printf("%d passed, %d failed, %d skipped\n", lw_test_passed, lw_test_failed, lw_test_skipped);
  return lw_test_failed ? 1 : 0;
}

#endif
