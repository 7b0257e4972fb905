/*
 * test_symbolize.c - src/cli/symbolize.c on real binaries: the symbolize_probe fixture
 * (C++ method, template, two levels of always_inline, a static C function in a dlopen'ed
 * library) is run, an agent-style address-only profile is built from its output, and the
 * symbolizer must name every frame with the right file:line and inline chain. Also: a wrong
 * build ID or a missing file gives a warning and `[file+0xoffset]` frames, split debug info
 * is found through --debug-dir layouts, ELF-only names are kept (and demangled), Go profiles
 * are left alone, and `go tool pprof` reads the result without complaint.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli/profile_io.h"
#include "cli/symbolize.h"
#include "probe_profile.h"

/* ---- helpers ----------------------------------------------------------------------------- */

typedef struct {
  char text[8192];
  int count;
} warnings_t;

static void collect_warning(void *context, const char *message) {
  warnings_t *w = context;
  size_t len = strlen(w->text);
  snprintf(w->text + len, sizeof w->text - len, "%s\n", message);
  w->count++;
}

static const lw_profile_location_t *probe_location(const lw_profile_t *p, const probe_run_t *run,
                                                   const char *label) {
  const probe_t *probe = probe_find(run, label);
  assert_non_null(probe);
  const lw_profile_location_t *l = lw_profile_location(p, probe->location_id);
  assert_non_null(l);
  return l;
}

/* Checks line `i` of a location: function name, source file basename and line. */
static void expect_frame(const lw_profile_t *p, const lw_profile_location_t *l, size_t i,
                         const char *name, const char *file, int64_t line) {
  assert_true(i < l->n_lines);
  const lw_profile_line_t *ln = &lw_location_lines(p, l)[i];
  const lw_profile_function_t *f = lw_profile_function(p, ln->function_id);
  assert_non_null(f);
  assert_string_equal(lw_profile_str(p, f->name), name);
  const char *path = lw_profile_str(p, f->filename);
  assert_true(path[0] == '/');
  const char *base = strrchr(path, '/') + 1;
  assert_string_equal(base, file);
  assert_int_equal(ln->line, line);
}

static const lw_profile_mapping_t *mapping_named(const lw_profile_t *p, const char *suffix) {
  for (size_t i = 0; i < p->n_mappings; i++) {
    const char *file = lw_profile_str(p, p->mappings[i].filename);
    size_t n = strlen(file), m = strlen(suffix);
    if (n >= m && strcmp(file + n - m, suffix) == 0)
      return &p->mappings[i];
  }
  return NULL;
}

static void run_shell(const char *command) {
  int rc = system(command);
  if (rc != 0)
    fail_msg("command failed (%d): %s", rc, command);
}

static char *slurp(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f)
    return strdup("");
  static char text[1 << 16];
  size_t n = fread(text, 1, sizeof text - 1, f);
  text[n] = '\0';
  fclose(f);
  return strdup(text);
}

/* ---- tests ------------------------------------------------------------------------------- */

static void test_names_lines_and_inline_frames(void **state) {
  (void)state;
  lw_profile_t p;
  probe_run_t run;
  assert_int_equal(probe_profile_build(&p, &run), 0);
  warnings_t w = {"", 0};
  lw_symbolize_options_t options = {NULL, 0, false, collect_warning, &w};
  lw_symbolize_result_t r;
  assert_int_equal(lw_symbolize_profile(&p, &options, &r), 0);
  assert_int_equal(w.count, 0);
  assert_int_equal(r.n_locations, (size_t)run.n_probes);
  assert_int_equal(r.n_lines, (size_t)run.n_probes);
  assert_int_equal(r.n_unresolved, 0);
  assert_int_equal(r.n_inlined, 1);

  const probe_t *probe = probe_find(&run, "cxx_method");
  const lw_profile_location_t *l = probe_location(&p, &run, "cxx_method");
  assert_int_equal(l->n_lines, 1);
  expect_frame(&p, l, 0, "lwtest::Widget::grow(int)", "symbolize_probe.cpp", probe->lines[0]);
  const lw_profile_function_t *f = lw_profile_function(&p, lw_location_lines(&p, l)[0].function_id);
  assert_string_equal(lw_profile_str(&p, f->system_name), "_ZN6lwtest6Widget4growEi");
  assert_true(f->start_line > 0 && f->start_line < probe->lines[0]);
  char name[512];
  lw_symbolize_frame_name(&p, l, 0, name, sizeof name);
  char expected[512];
  snprintf(expected, sizeof expected, "lwtest::Widget::grow(int) symbolize_probe.cpp:%d",
           probe->lines[0]);
  assert_string_equal(name, expected);

  probe = probe_find(&run, "template");
  l = probe_location(&p, &run, "template");
  assert_int_equal(l->n_lines, 1);
  expect_frame(&p, l, 0, "int lwtest::twice<int>(int)", "symbolize_probe.cpp", probe->lines[0]);

  /* Two always_inline levels: innermost callee first, the real function last, each with the
   * line in it that leads to the next frame. */
  probe = probe_find(&run, "inlined");
  l = probe_location(&p, &run, "inlined");
  assert_int_equal(l->n_lines, 3);
  expect_frame(&p, l, 0, "lwtest::inline_leaf", "symbolize_probe.cpp", probe->lines[0]);
  expect_frame(&p, l, 1, "lwtest::inline_mid", "symbolize_probe.cpp", probe->lines[1]);
  expect_frame(&p, l, 2, "lwtest::outer_fn()", "symbolize_probe.cpp", probe->lines[2]);

  /* A static C function in a shared library. */
  probe = probe_find(&run, "lib_static");
  l = probe_location(&p, &run, "lib_static");
  assert_int_equal(l->n_lines, 1);
  expect_frame(&p, l, 0, "lib_static", "libsymbolize_probe.c", probe->lines[0]);
  f = lw_profile_function(&p, lw_location_lines(&p, l)[0].function_id);
  assert_string_equal(lw_profile_str(&p, f->system_name), "lib_static");

  /* Function entry addresses resolve to the function itself. */
  l = probe_location(&p, &run, "lwtest::outer_fn()");
  assert_int_equal(l->n_lines, 1);
  f = lw_profile_function(&p, lw_location_lines(&p, l)[0].function_id);
  assert_string_equal(lw_profile_str(&p, f->name), "lwtest::outer_fn()");
  l = probe_location(&p, &run, "lw_probe_lib_entry");
  f = lw_profile_function(&p, lw_location_lines(&p, l)[0].function_id);
  assert_string_equal(lw_profile_str(&p, f->name), "lw_probe_lib_entry");

  /* Functions are interned: outer_fn appears in two locations, once as a record. */
  size_t outer = 0;
  for (size_t i = 0; i < p.n_functions; i++)
    outer += strcmp(lw_profile_str(&p, p.functions[i].name), "lwtest::outer_fn()") == 0;
  assert_int_equal(outer, 1);

  const lw_profile_mapping_t *m = mapping_named(&p, "/symbolize_probe");
  assert_non_null(m);
  assert_true(m->has_functions && m->has_filenames && m->has_line_numbers &&
              m->has_inline_frames);
  m = mapping_named(&p, "/libsymbolize_probe.so");
  assert_true(m->has_functions && m->has_line_numbers);
  /* Nothing to do the second time: everything has file:line now. */
  assert_false(lw_symbolize_needed(&p));
  lw_profile_free(&p);
}

static void test_mismatched_build_id(void **state) {
  (void)state;
  lw_profile_t p;
  probe_run_t run;
  assert_int_equal(probe_profile_build(&p, &run), 0);
  lw_profile_mapping_t *m = (lw_profile_mapping_t *)mapping_named(&p, "/symbolize_probe");
  assert_non_null(m);
  m->build_id = lw_profile_string(&p, "0123456789abcdef0123456789abcdef01234567");
  warnings_t w = {"", 0};
  lw_symbolize_options_t options = {NULL, 0, false, collect_warning, &w};
  lw_symbolize_result_t r;
  assert_int_equal(lw_symbolize_profile(&p, &options, &r), 0);
  assert_int_equal(w.count, 1); /* one per mapping, not one per address */
  assert_int_equal(r.n_mappings_mismatched, 1);
  assert_non_null(strstr(w.text, run.exe));
  assert_non_null(strstr(w.text, "0123456789abcdef0123456789abcdef01234567"));
  assert_false(m->has_functions);

  const probe_t *probe = probe_find(&run, "cxx_method");
  const lw_profile_location_t *l = probe_location(&p, &run, "cxx_method");
  assert_int_equal(l->n_lines, 0);
  char name[256], expected[256];
  lw_symbolize_frame_name(&p, l, 0, name, sizeof name);
  snprintf(expected, sizeof expected, "[symbolize_probe+0x%" PRIx64 "]",
           probe->address - m->memory_start + m->file_offset);
  assert_string_equal(name, expected);
  /* The library's mapping is still fine. */
  l = probe_location(&p, &run, "lib_static");
  assert_int_equal(l->n_lines, 1);
  lw_profile_free(&p);
}

static void test_missing_binary(void **state) {
  (void)state;
  lw_profile_t p;
  probe_run_t run;
  assert_int_equal(probe_profile_build(&p, &run), 0);
  lw_profile_mapping_t *m = (lw_profile_mapping_t *)mapping_named(&p, "/libsymbolize_probe.so");
  m->filename = lw_profile_string(&p, "/nonexistent/lib/libgone.so");
  warnings_t w = {"", 0};
  lw_symbolize_options_t options = {NULL, 0, false, collect_warning, &w};
  lw_symbolize_result_t r;
  assert_int_equal(lw_symbolize_profile(&p, &options, &r), 0);
  assert_int_equal(w.count, 1);
  assert_int_equal(r.n_mappings_missing, 1);
  assert_non_null(strstr(w.text, "/nonexistent/lib/libgone.so"));
  assert_non_null(strstr(w.text, lw_profile_str(&p, m->build_id)));
  assert_non_null(strstr(w.text, "No such file"));
  const lw_profile_location_t *l = probe_location(&p, &run, "lib_static");
  assert_int_equal(l->n_lines, 0);
  char name[256];
  lw_symbolize_frame_name(&p, l, 0, name, sizeof name);
  assert_true(strncmp(name, "[libgone.so+0x", 14) == 0);
  lw_profile_free(&p);
}

/* The agent may already have written raw ELF names; where we cannot do better they stay
 * (demangled for display, mangled as system_name), and where DWARF is there it wins. */
static void test_elf_names_from_agent(void **state) {
  (void)state;
  lw_profile_t p;
  probe_run_t run;
  assert_int_equal(probe_profile_build(&p, &run), 0);
  int64_t mangled = lw_profile_string(&p, "_ZN6lwtest6Widget4growEi");
  uint64_t fid = lw_profile_add_function(&p, mangled, mangled, 0, 0);
  lw_profile_line_t line = {fid, 0, 0};
  lw_profile_location_t *l =
      (lw_profile_location_t *)probe_location(&p, &run, "cxx_method");
  assert_int_equal(lw_profile_set_lines(&p, l, &line, 1), 0);
  lw_profile_mapping_t *m = (lw_profile_mapping_t *)mapping_named(&p, "/symbolize_probe");
  m->has_functions = true;
  int64_t real_name = m->filename;
  m->filename = lw_profile_string(&p, "/nonexistent/bin/app");
  assert_int_equal(lw_profile_build_index(&p), 0);
  assert_true(lw_symbolize_needed(&p));

  warnings_t w = {"", 0};
  lw_symbolize_options_t options = {NULL, 0, false, collect_warning, &w};
  assert_int_equal(lw_symbolize_profile(&p, &options, NULL), 0);
  assert_int_equal(w.count, 1);
  l = (lw_profile_location_t *)probe_location(&p, &run, "cxx_method");
  assert_int_equal(l->n_lines, 1);
  const lw_profile_function_t *f = lw_profile_function(&p, lw_location_lines(&p, l)[0].function_id);
  assert_string_equal(lw_profile_str(&p, f->name), "lwtest::Widget::grow(int)");
  assert_string_equal(lw_profile_str(&p, f->system_name), "_ZN6lwtest6Widget4growEi");
  char name[256];
  lw_symbolize_frame_name(&p, l, 0, name, sizeof name);
  assert_string_equal(name, "lwtest::Widget::grow(int)");

  /* With the real binary back, DWARF replaces the ELF-only line. */
  m = (lw_profile_mapping_t *)mapping_named(&p, "/nonexistent/bin/app");
  m->filename = real_name;
  w.count = 0;
  assert_int_equal(lw_symbolize_profile(&p, &options, NULL), 0);
  assert_int_equal(w.count, 0);
  l = (lw_profile_location_t *)probe_location(&p, &run, "cxx_method");
  expect_frame(&p, l, 0, "lwtest::Widget::grow(int)", "symbolize_probe.cpp",
               probe_find(&run, "cxx_method")->lines[0]);
  lw_profile_free(&p);
}

/* Split debug info: the binary is stripped of DWARF and its debug info sits in a build-id
 * tree (as /usr/lib/debug) or a debuginfod cache layout, found through debug_dirs. */
static void test_split_debug_info(void **state) {
  (void)state;
  char dir[] = "/tmp/lw-symbolize-XXXXXX";
  assert_non_null(mkdtemp(dir));
  lw_profile_t p;
  probe_run_t run;
  assert_int_equal(probe_profile_build(&p, &run), 0);
  lw_profile_mapping_t *m = (lw_profile_mapping_t *)mapping_named(&p, "/symbolize_probe");
  const char *build_id = lw_profile_str(&p, m->build_id);
  assert_true(strlen(build_id) > 4);
  char command[8192], app[4096];
  snprintf(app, sizeof app, "%s/app", dir);
  snprintf(command, sizeof command,
           "set -e; cd %s; cp '%s' app; objcopy --only-keep-debug app app.debug; "
           "strip --strip-debug app; mkdir -p tree/.build-id/%.2s cache/%s; "
           "cp app.debug tree/.build-id/%.2s/%s.debug; mv app.debug cache/%s/debuginfo",
           dir, run.exe, build_id, build_id, build_id, build_id + 2, build_id);
  run_shell(command);
  char have[128];
  assert_int_equal(lw_read_build_id(app, have, sizeof have), 0);
  assert_string_equal(have, build_id); /* strip keeps the build-id note */
  m->filename = lw_profile_string(&p, app);

  lw_profile_t plain;
  lw_buf_t wire;
  lw_buf_init(&wire, &lw_libc_allocator);
  assert_int_equal(lw_profile_encode(&p, &wire), 0);

  /* Without the debug directory: ELF symbols only, no lines, no warning. (app.debug was
   * moved away: elfutils' standard search would find it next to app.) */
  lw_profile_init(&plain, &lw_libc_allocator);
  assert_int_equal(lw_profile_decode(&plain, wire.data, wire.len, NULL, 0), 0);
  warnings_t w = {"", 0};
  lw_symbolize_options_t options = {NULL, 0, false, collect_warning, &w};
  assert_int_equal(lw_symbolize_profile(&plain, &options, NULL), 0);
  assert_int_equal(w.count, 0);
  const lw_profile_location_t *l = probe_location(&plain, &run, "cxx_method");
  assert_int_equal(l->n_lines, 1);
  assert_int_equal(lw_location_lines(&plain, l)[0].line, 0);
  const lw_profile_function_t *f =
      lw_profile_function(&plain, lw_location_lines(&plain, l)[0].function_id);
  assert_string_equal(lw_profile_str(&plain, f->name), "lwtest::Widget::grow(int)");
  m = (lw_profile_mapping_t *)mapping_named(&plain, "/app");
  assert_true(m->has_functions);
  assert_false(m->has_line_numbers);
  lw_profile_free(&plain);

  /* With either layout: full file:line and the inline chain. */
  const char *layouts[] = {"tree", "cache"};
  for (int i = 0; i < 2; i++) {
    char debug_dir[4096];
    snprintf(debug_dir, sizeof debug_dir, "%s/%s", dir, layouts[i]);
    const char *dirs[] = {"/nonexistent-debug-dir", debug_dir};
    lw_profile_t q;
    lw_profile_init(&q, &lw_libc_allocator);
    assert_int_equal(lw_profile_decode(&q, wire.data, wire.len, NULL, 0), 0);
    lw_symbolize_options_t with_dir = {dirs, 2, false, collect_warning, &w};
    assert_int_equal(lw_symbolize_profile(&q, &with_dir, NULL), 0);
    assert_int_equal(w.count, 0);
    const probe_t *probe = probe_find(&run, "inlined");
    l = probe_location(&q, &run, "inlined");
    assert_int_equal(l->n_lines, 3);
    expect_frame(&q, l, 0, "lwtest::inline_leaf", "symbolize_probe.cpp", probe->lines[0]);
    expect_frame(&q, l, 2, "lwtest::outer_fn()", "symbolize_probe.cpp", probe->lines[2]);
    m = (lw_profile_mapping_t *)mapping_named(&q, "/app");
    assert_true(m->has_line_numbers && m->has_inline_frames);
    lw_profile_free(&q);
  }
  lw_buf_free(&wire);
  lw_profile_free(&p);
  snprintf(command, sizeof command, "rm -rf '%s'", dir);
  run_shell(command);
}

/* Go's profiles are symbolized by the Go runtime: nothing to do, nothing opened, not one
 * byte changed (the Go binary they name is not on this machine, so any attempt would warn). */
static void test_go_profile_left_alone(void **state) {
  (void)state;
  const char *names[] = {"go-heap-example.pb.gz", "go-heap-rate1.pb.gz"};
  for (int i = 0; i < 2; i++) {
    char path[4096], error[512];
    snprintf(path, sizeof path, "%s/tests/data/reference/%s", LW_SOURCE_DIR, names[i]);
    lw_profile_t p;
    assert_int_equal(lw_cli_load_profile(path, &p, error, sizeof error), 0);
    assert_false(lw_symbolize_needed(&p));
    lw_buf_t before, after;
    lw_buf_init(&before, &lw_libc_allocator);
    lw_buf_init(&after, &lw_libc_allocator);
    assert_int_equal(lw_profile_encode(&p, &before), 0);
    warnings_t w = {"", 0};
    lw_symbolize_options_t options = {NULL, 0, false, collect_warning, &w};
    lw_symbolize_result_t r;
    assert_int_equal(lw_symbolize_profile(&p, &options, &r), 0);
    assert_int_equal(w.count, 0);
    assert_int_equal(r.n_locations, 0);
    assert_int_equal(lw_profile_encode(&p, &after), 0);
    assert_int_equal(before.len, after.len);
    assert_memory_equal(before.data, after.data, before.len);
    lw_buf_free(&before);
    lw_buf_free(&after);
    lw_profile_free(&p);
  }
}

/* The symbolized profile is a valid pprof profile: Go's own tool reads it, finds nothing to
 * complain about, and shows our names. */
static void test_go_tool_pprof_reads_result(void **state) {
  (void)state;
  lw_profile_t p;
  probe_run_t run;
  assert_int_equal(probe_profile_build(&p, &run), 0);
  assert_int_equal(lw_symbolize_profile(&p, NULL, NULL), 0);
  char dir[] = "/tmp/lw-symbolize-pprof-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char path[4096], error[512], command[8192];
  snprintf(path, sizeof path, "%s/probe.pb.gz", dir);
  assert_int_equal(lw_cli_save_profile(path, &p, error, sizeof error), 0);
  const char *reports[] = {"-raw", "-top", "-traces"};
  for (int i = 0; i < 3; i++) {
    snprintf(command, sizeof command,
             "cd %s && HOME=%s PPROF_TMPDIR=%s go tool pprof %s probe.pb.gz >out.txt 2>err.txt",
             dir, dir, dir, reports[i]);
    run_shell(command);
    snprintf(path, sizeof path, "%s/out.txt", dir);
    char *out = slurp(path);
    snprintf(path, sizeof path, "%s/err.txt", dir);
    char *err = slurp(path);
    if (err[0])
      fail_msg("go tool pprof %s wrote to stderr: %s", reports[i], err);
    assert_non_null(strstr(out, "lwtest::Widget::grow(int)"));
    assert_non_null(strstr(out, "lib_static"));
    assert_non_null(strstr(out, "int lwtest::twice<int>(int)"));
    assert_non_null(strstr(out, "lwtest::inline_leaf"));
    if (i == 0) /* -raw lists the mappings flags: [FN][FL][LN][IN] on ours */
      assert_non_null(strstr(out, "[FN][FL][LN][IN]"));
    free(out);
    free(err);
  }
  snprintf(command, sizeof command, "rm -rf '%s'", dir);
  run_shell(command);
  lw_profile_free(&p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_names_lines_and_inline_frames),
      cmocka_unit_test(test_mismatched_build_id),
      cmocka_unit_test(test_missing_binary),
      cmocka_unit_test(test_elf_names_from_agent),
      cmocka_unit_test(test_split_debug_info),
      cmocka_unit_test(test_go_profile_left_alone),
      cmocka_unit_test(test_go_tool_pprof_reads_result),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
