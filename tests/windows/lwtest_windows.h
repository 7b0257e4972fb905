/*
 * lwtest_windows.h - the few checks the Windows test programs need (they run under wine,
 * without cmocka): CHECK prints the failing condition and counts it, SKIP_CHECK prints why
 * an assertion cannot be made here (a counter wine leaves at zero), and lw_test_finish
 * prints "N passed, N failed" and returns the exit status (0, or 1 on any failure).
 */
#ifndef LW_TESTS_WINDOWS_LWTEST_H
#define LW_TESTS_WINDOWS_LWTEST_H

#include <windows.h>
#include <stdio.h>
#include <string.h>

#include "platform/windows/win_spawn.h"

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

/* Runs argv (env: extra "NAME=value" strings or NULL) with stdout and stderr going to a
 * temporary file, waits for it, and returns its output with CRLF turned into LF. Returns
 * the exit code, or a negative errno when it could not start. */
static inline int lw_test_run_capture(char **argv, const char *const *env, char *out,
                                      size_t size) {
  char path[MAX_PATH];
  GetTempPathA(sizeof path, path);
  snprintf(path + strlen(path), sizeof path - strlen(path), "lw-capture-%lu.txt",
           GetCurrentProcessId());
  SECURITY_ATTRIBUTES inherit = {sizeof inherit, NULL, TRUE};
  HANDLE file = CreateFileA(path, GENERIC_WRITE, FILE_SHARE_READ, &inherit, CREATE_ALWAYS, 0, NULL);
  HANDLE saved_out = GetStdHandle(STD_OUTPUT_HANDLE), saved_err = GetStdHandle(STD_ERROR_HANDLE);
  SetStdHandle(STD_OUTPUT_HANDLE, file);
  SetStdHandle(STD_ERROR_HANDLE, file);
  lw_win_child_t child;
  int rc = lw_win_spawn(argv, env, false, &child);
  SetStdHandle(STD_OUTPUT_HANDLE, saved_out);
  SetStdHandle(STD_ERROR_HANDLE, saved_err);
  CloseHandle(file);
  out[0] = '\0';
  if (rc != 0)
    return rc;
  WaitForSingleObject(child.process, 60000);
  DWORD code = 0;
  GetExitCodeProcess(child.process, &code);
  CloseHandle(child.process);
  CloseHandle(child.thread);
  FILE *f = fopen(path, "rb");
  size_t n = f ? fread(out, 1, size - 1, f) : 0;
  out[n] = '\0';
  if (f)
    fclose(f);
  DeleteFileA(path);
  char *w = out;
  for (char *r = out; *r; r++)
    if (*r != '\r')
      *w++ = *r;
  *w = '\0';
  return (int)code;
}

static inline int lw_test_finish(void) {
  printf("%d passed, %d failed, %d skipped\n", lw_test_passed, lw_test_failed, lw_test_skipped);
  return lw_test_failed ? 1 : 0;
}

#endif
