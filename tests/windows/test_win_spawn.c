/*
 * test_win_spawn.c - a POSIX-style argv survives the trip through one Windows command line:
 * lw_win_spawn quotes each argument (spaces, tabs, quotes, trailing and inner backslashes,
 * empty strings) so that the child's C runtime splits it back into the same argv
 * (fixtures/print_args.exe echoes what it got), extra environment variables reach the
 * child, and a program that does not exist is -ENOENT.
 */
#include <windows.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lwtest_windows.h"
#include "platform/windows/win_spawn.h"

static char fixture_dir[MAX_PATH];

int main(int argc, char **argv) {
  (void)argc;
  snprintf(fixture_dir, sizeof fixture_dir, "%s", argv[0]);
  char *slash = strrchr(fixture_dir, '\\') ? strrchr(fixture_dir, '\\') : strrchr(fixture_dir, '/');
  if (slash)
    slash[1] = '\0';
  char program[MAX_PATH];
  snprintf(program, sizeof program, "%sfixtures\\print_args.exe", fixture_dir);

  char *tricky[] = {program, "plain", "two words", "", "tab\there", "quote\"inside",
                    "trailing\\", "C:\\path with space\\", "back\\\\slash\\\"quote", "\"", NULL};
  char out[4096];
  CHECK(lw_test_run_capture(tricky, NULL, out, sizeof out) == 9, "print_args saw 9 arguments");
  const char *expected = "<plain>\n<two words>\n<>\n<tab\there>\n<quote\"inside>\n<trailing\\>\n"
                         "<C:\\path with space\\>\n<back\\\\slash\\\"quote>\n<\">\n";
  CHECK(strcmp(out, expected) == 0, "argv came back as:\n%s", out);

  char line[64] = "";
  CHECK(lw_win_quote_arg(line, sizeof line, "a b") && strcmp(line, "\"a b\"") == 0, "%s", line);
  char tiny[4] = "";
  CHECK(!lw_win_quote_arg(tiny, sizeof tiny, "toolong"), "a too long command line is refused");

  char *missing[] = {"C:\\no\\such\\program.exe", NULL};
  lw_win_child_t child;
  CHECK(lw_win_spawn(missing, NULL, false, &child) == -ENOENT, "missing program is -ENOENT");

  char *cmd[] = {"cmd.exe", "/d", "/c", "echo [%LW_SPAWN_TEST%]", NULL};
  const char *env[] = {"LW_SPAWN_TEST=from the parent", NULL};
  CHECK(lw_test_run_capture(cmd, env, out, sizeof out) == 0, "spawn cmd.exe");
  CHECK(strstr(out, "[from the parent]") != NULL, "environment reached the child: %s", out);
  return lw_test_finish();
}
