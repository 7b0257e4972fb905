/*
 * test_site_history.c - the history text the agent sends (src/cli/site_history.c): heap,
 * descriptor and thread sites, histories written before sites had a kind, and refusals of
 * malformed text with the line that was wrong; plus the names of the files written beside
 * a profile (src/common/output_names.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cli/site_history.h"
#include "common/output_names.h"

static const char header[] = "leakwatch-history 1\npid 42\ninterval_ms 1000\nnow_ms 5000\n"
                             "rate 524288\nold_after_ms 60000\nsnapshots 3\n"
                             "first_snapshot_ms 1000\nuntracked_sites_held_nothing 1\n";

static int parse(const char *body, lw_history_t *h, char *error, size_t size) {
  char text[2048];
  snprintf(text, sizeof text, "%s%s", header, body);
  return lw_history_parse(text, strlen(text), h, error, size);
}

static void test_kinds(void **state) {
  (void)state;
  lw_history_t h;
  char error[256];
  int rc = parse("site 1 truncated 0 epoch 0 live 2 old 1 oldest_ms 900 kind heap\n"
                 "frames 0x10 0x20\nfine 1000:0:0 2000:524288:1\ncoarse 1000:0:0\n"
                 "site 7 truncated 1 epoch 0 live 0 old 0 oldest_ms 0 kind fds type socket\n"
                 "frames 0x30\nfine 1000:3:3 2000:4:4\ncoarse 1000:3:3\n"
                 "site 9 truncated 0 epoch 2 live 0 old 0 oldest_ms 0 kind threads\n"
                 "frames 0x40\nfine 1000:2:2\ncoarse\nend\n",
                 &h, error, sizeof error);
  assert_int_equal(rc, 0);
  assert_int_equal(h.n_sites, 3);
  assert_int_equal(h.sites[0].kind, LW_HISTORY_HEAP);
  assert_int_equal(h.sites[0].live, 2);
  assert_int_equal(h.sites[1].kind, LW_HISTORY_FDS);
  assert_string_equal(h.sites[1].fd_type, "socket");
  assert_true(h.sites[1].truncated);
  assert_int_equal(h.sites[1].n_fine, 2);
  assert_int_equal(h.sites[1].fine[1].bytes, 4);
  assert_int_equal(h.sites[2].kind, LW_HISTORY_THREADS);
  assert_string_equal(h.sites[2].fd_type, "");
  lw_history_free(&h);
}

/* Histories from agents that predate kinds: every site is a heap site. */
static void test_without_kind(void **state) {
  (void)state;
  lw_history_t h;
  char error[256];
  assert_int_equal(parse("site 1 truncated 0 epoch 0 live 0 old 0 oldest_ms 0\nframes 0x10\n"
                         "fine 1000:1:1\ncoarse\nend\n",
                         &h, error, sizeof error),
                   0);
  assert_int_equal(h.n_sites, 1);
  assert_int_equal(h.sites[0].kind, LW_HISTORY_HEAP);
  lw_history_free(&h);
}

static void test_malformed(void **state) {
  (void)state;
  lw_history_t h;
  char error[256];
  assert_int_equal(parse("site 1 truncated 0 epoch 0 live 0 old 0 oldest_ms 0 kind sockets\n"
                         "end\n",
                         &h, error, sizeof error),
                   -1);
  assert_non_null(strstr(error, "line 10"));
  assert_non_null(strstr(error, "malformed site line"));
  lw_history_free(&h);
  assert_int_equal(parse("site 1 truncated 0 epoch 0 live 0 old 0 oldest_ms 0 kind\nend\n", &h,
                         error, sizeof error),
                   -1);
  lw_history_free(&h);
}

static void test_sidecar_names(void **state) {
  (void)state;
  char out[64];
  assert_int_equal(lw_output_sidecar_path("/tmp/run.pb.gz", "fds", out, sizeof out), 0);
  assert_string_equal(out, "/tmp/run.fds.pb.gz");
  assert_int_equal(lw_output_sidecar_path("profile", "threads", out, sizeof out), 0);
  assert_string_equal(out, "profile.threads.pb.gz");
  assert_int_equal(lw_output_sidecar_path(".pb.gz", "fds", out, sizeof out), 0);
  assert_string_equal(out, ".pb.gz.fds.pb.gz"); /* nothing before the ending: kept whole */
  assert_int_equal(lw_output_sidecar_path("a.pb.gz", "fds", out, 11), -1);
  assert_int_equal(lw_output_sidecar_path("a.pb.gz", "fds", out, 12), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_kinds),
      cmocka_unit_test(test_without_kind),
      cmocka_unit_test(test_malformed),
      cmocka_unit_test(test_sidecar_names),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
