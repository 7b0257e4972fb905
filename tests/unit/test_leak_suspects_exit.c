/*
 * test_leak_suspects_exit.c - verdicts at exit judge the history before tear-down
 * (src/cli/leak_suspects.c, docs/LEAKS.md "Verdicts at exit"): points from exit_began_ms on
 * are not judged, a final fall of the heap within the last three snapshots before it is
 * taken for tear-down (an interpreter's shutdown), a slower decline is not, and what was
 * freed only during exit is reported as such. A live history is judged whole.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cli/leak_suspects.h"
#include "cli/site_history.h"

/* A history of one exact heap site: points every second from 1 s, with bytes from bytes_at,
 * then the exit point (0 bytes) at exit_ms; exit_began_ms 0 leaves it out (a live
 * history). Returns the --json verdict text (free it). */
static char *judge(uint64_t (*bytes_at)(int i), int n, uint64_t exit_began_ms, uint64_t exit_ms) {
  char *text = NULL;
  size_t len = 0;
  FILE *h = open_memstream(&text, &len);
  fprintf(h, "leakwatch-history 1\npid 42\ninterval_ms 1000\nnow_ms %llu\nrate 1\n"
             "old_after_ms 60000\nsnapshots %d\nfirst_snapshot_ms 1000\n"
             "untracked_sites_held_nothing 1\n",
          (unsigned long long)exit_ms, n + 1);
  if (exit_began_ms)
    fprintf(h, "exit_began_ms %llu\n", (unsigned long long)exit_began_ms);
  fprintf(h, "site 1 truncated 0 epoch 0 live 0 old 0 oldest_ms 0 kind heap\nframes 0x10\nfine");
  for (int i = 0; i < n; i++)
    fprintf(h, " %d:%llu:%llu", 1000 * (i + 1), (unsigned long long)bytes_at(i),
            (unsigned long long)bytes_at(i) / 4096);
  if (exit_ms)
    fprintf(h, " %llu:0:0", (unsigned long long)exit_ms);
  fprintf(h, "\ncoarse\nend\n");
  fclose(h);
  lw_history_t history;
  char error[256];
  assert_int_equal(lw_history_parse(text, len, &history, error, sizeof error), 0);
  free(text);
  lw_leak_suspects_options_t o;
  memset(&o, 0, sizeof o);
  lw_leak_verdict_defaults(&o.verdict);
  o.verdict.min_window_seconds = 10;
  o.json = true;
  o.all = true;
  o.subject = "during the run";
  char *out = NULL;
  size_t out_len = 0;
  FILE *f = open_memstream(&out, &out_len);
  assert_true(lw_leak_suspects_write(f, &history, NULL, 0, &o) >= 0);
  fclose(f);
  lw_history_free(&history);
  return out;
}

static uint64_t growing(int i) { return (uint64_t)(i + 1) << 20; } /* 1 MiB a second */

/* Grows for 20 s, then the interpreter frees most of it while one more snapshot is taken. */
static uint64_t growing_then_teardown(int i) { return i < 20 ? growing(i) : 1u << 20; }

/* Grows for 10 s, then shrinks over 10 s to nothing: the program's own doing. */
static uint64_t growing_then_shrinking(int i) {
  return i < 10 ? growing(i) : (uint64_t)(20 - i) << 20;
}

static void test_static_destructors(void **state) {
  (void)state;
  char *json = judge(growing, 20, 20050, 20100);
  assert_non_null(strstr(json, "\"judged_until_ms\":20050"));
  assert_non_null(strstr(json, "\"suspect\":true"));
  assert_non_null(strstr(json, "\"freed_at_exit\":20971520"));
  assert_non_null(strstr(json, "\"freed_at_exit_bytes\":20971520"));
  free(json);
}

static void test_interpreter_shutdown(void **state) {
  (void)state;
  char *json = judge(growing_then_teardown, 21, 21500, 21600);
  assert_non_null(strstr(json, "\"judged_until_ms\":20001")); /* the peak, not the fall */
  assert_non_null(strstr(json, "\"suspect\":true"));
  free(json);
}

static void test_slow_decline_is_judged(void **state) {
  (void)state;
  char *json = judge(growing_then_shrinking, 20, 20500, 20600);
  assert_non_null(strstr(json, "\"judged_until_ms\":20500"));
  assert_non_null(strstr(json, "\"suspect\":false"));
  free(json);
}

static void test_live_history_whole(void **state) {
  (void)state;
  char *json = judge(growing, 20, 0, 0);
  assert_null(strstr(json, "judged_until_ms"));
  assert_non_null(strstr(json, "\"suspect\":true"));
  assert_non_null(strstr(json, "\"freed_at_exit\":0"));
  free(json);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_static_destructors),
      cmocka_unit_test(test_interpreter_shutdown),
      cmocka_unit_test(test_slow_decline_is_judged),
      cmocka_unit_test(test_live_history_whole),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
