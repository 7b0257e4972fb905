/*
 * test_pe_dwarf.c - the PE image and DWARF line readers the Windows symbolizer uses
 * (src/common/pe_image.c, dwarf_line.c), checked on Linux against the toolchain's own
 * answers: a small C program is cross-compiled with mingw-w64 (DWARF 4 and DWARF 5), and
 * for addresses inside each of its functions our function name and file:line must equal
 * what x86_64-w64-mingw32-addr2line says. Also: the handle kind names, and malformed input
 * (truncated images, a corrupt line program) is an error, never a crash.
 * Skipped when the cross compiler is not installed (scripts/debian-packages.txt has it).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/alloc.h"
#include "common/dwarf_line.h"
#include "common/handle_types.h"
#include "common/pe_image.h"

static char dir[] = "/tmp/lw-pe-test.XXXXXX";

static const char *program =
    "#include <stdlib.h>\n"
    "static void *volatile sink;\n"
    "__attribute__((noinline)) void leaf(int n) {\n"
    "  for (int i = 0; i < n; i++)\n"
    "    sink = malloc(16);\n"
    "}\n"
    "__attribute__((noinline)) static int middle(int n) {\n"
    "  leaf(n);\n"
    "  return n + 1;\n"
    "}\n"
    "int main(int argc, char **argv) {\n"
    "  (void)argv;\n"
    "  return middle(argc);\n"
    "}\n";

static int setup(void **state) {
  (void)state;
  if (system("command -v x86_64-w64-mingw32-gcc >/dev/null 2>&1") != 0)
    return 0;
  if (!mkdtemp(dir))
    return -1;
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "%s/p.c", dir);
  FILE *f = fopen(cmd, "w");
  fputs(program, f);
  fclose(f);
  snprintf(cmd, sizeof cmd,
           "cd %s && x86_64-w64-mingw32-gcc -O2 -gdwarf-4 -o d4.exe p.c && "
           "x86_64-w64-mingw32-gcc -O2 -gdwarf-5 -o d5.exe p.c",
           dir);
  return system(cmd) == 0 ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  char cmd[256];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  return system(cmd) == 0 ? 0 : -1;
}

/* addr2line's "function\nfile:line" for a virtual address. */
static void addr2line(const char *exe, uint64_t vma, char *function, char *where) {
  char cmd[512];
  snprintf(cmd, sizeof cmd, "x86_64-w64-mingw32-addr2line -f -e %s 0x%llx", exe,
           (unsigned long long)vma);
  FILE *p = popen(cmd, "r");
  assert_non_null(p);
  assert_non_null(fgets(function, 256, p));
  assert_non_null(fgets(where, 1024, p));
  pclose(p);
  function[strcspn(function, "\n")] = '\0';
  where[strcspn(where, "\n (")] = '\0'; /* "file:line (discriminator 1)" */
}

static void check_image(const char *name) {
  if (dir[strlen(dir) - 1] == 'X')
    skip(); /* no cross compiler */
  char exe[256], error[256];
  snprintf(exe, sizeof exe, "%s/%s", dir, name);
  lw_pe_image_t image;
  assert_int_equal(lw_pe_open(&image, exe, &lw_libc_allocator, error, sizeof error), 0);
  assert_int_equal(image.image_base, 0x140000000ull);
  char id[32];
  lw_pe_build_id(&image, id, sizeof id);
  assert_int_equal(strlen(id), 8 + strlen(id + 8));
  size_t line_size, str_size, line_str_size;
  const uint8_t *line = lw_pe_section_data(&image, ".debug_line", &line_size);
  const uint8_t *line_str = lw_pe_section_data(&image, ".debug_line_str", &line_str_size);
  const uint8_t *str = lw_pe_section_data(&image, ".debug_str", &str_size);
  assert_non_null(line);
  lw_dwarf_lines_t lines;
  assert_int_equal(lw_dwarf_lines_load(&lines, &lw_libc_allocator, line, line_size, line_str,
                                       line_str_size, str, str_size, error, sizeof error),
                   0);
  static const char *const functions[] = {"leaf", "middle", "main"};
  int compared = 0;
  for (size_t i = 0; i < image.n_functions; i++) {
    const lw_pe_function_t *f = &image.functions[i];
    bool ours = false;
    for (size_t k = 0; k < 3; k++)
      ours |= strcmp(f->name, functions[k]) == 0;
    if (!ours)
      continue;
    for (uint32_t offset = 0; offset < 24; offset += 3) {
      uint32_t rva = f->rva + offset, start;
      const char *found = lw_pe_function_at(&image, rva, &start);
      assert_non_null(found);
      assert_string_equal(found, f->name);
      uint64_t vma = image.image_base + rva;
      char want_function[256], want_where[1024];
      addr2line(exe, vma, want_function, want_where);
      size_t len = strlen(want_where);
      if (len < 2 || strcmp(want_where + len - 2, ":?") == 0 || strncmp(want_where, "??", 2) == 0)
        continue; /* no line for this byte (padding, or a gap in the line table) */
      const lw_dwarf_line_row_t *row = lw_dwarf_lines_find(&lines, vma);
      assert_non_null(row);
      /* addr2line puts the compilation directory (from .debug_info) before a DWARF 4 file
       * in directory 0; the line table alone does not have it, so compare the last part. */
      const char *want_base = strrchr(want_where, '/') ? strrchr(want_where, '/') + 1 : want_where;
      const char *file = lines.files[row->file];
      const char *got_base = strrchr(file, '/') ? strrchr(file, '/') + 1 : file;
      char got[1200];
      snprintf(got, sizeof got, "%s:%u", got_base, row->line);
      assert_string_equal(got, want_base);
      compared++;
    }
  }
  assert_true(compared >= 12);
  lw_dwarf_lines_free(&lines);
  lw_pe_close(&image);
}

static void test_dwarf4(void **state) {
  (void)state;
  check_image("d4.exe");
}

static void test_dwarf5(void **state) {
  (void)state;
  check_image("d5.exe");
}

static void test_malformed(void **state) {
  (void)state;
  char error[256];
  lw_pe_image_t image;
  uint8_t junk[] = "MZ this is not a PE image at all, just some bytes";
  uint8_t *copy = malloc(sizeof junk);
  memcpy(copy, junk, sizeof junk);
  assert_int_equal(lw_pe_parse(&image, copy, sizeof junk, &lw_libc_allocator, error, sizeof error), -1);
  lw_pe_close(&image);
  assert_int_equal(lw_pe_open(&image, "/nonexistent.exe", &lw_libc_allocator, error, sizeof error), -1);
  assert_non_null(strstr(error, "no such file"));
  /* A line program whose length claims more than there is. */
  uint8_t bad[] = {0xff, 0x00, 0x00, 0x00, 0x05, 0x00, 0x08, 0x00};
  lw_dwarf_lines_t lines;
  assert_int_equal(lw_dwarf_lines_load(&lines, &lw_libc_allocator, bad, sizeof bad, NULL, 0, NULL,
                                       0, error, sizeof error),
                   -1);
  assert_null(lw_dwarf_lines_find(&lines, 0x1000));
  lw_dwarf_lines_free(&lines);
  /* Every truncation of a real image parses or fails cleanly. */
  if (dir[strlen(dir) - 1] != 'X') {
    char exe[256];
    snprintf(exe, sizeof exe, "%s/d5.exe", dir);
    FILE *f = fopen(exe, "rb");
    static uint8_t whole[1 << 20];
    size_t n = fread(whole, 1, sizeof whole, f);
    fclose(f);
    for (size_t cut = 0; cut < n; cut += n / 97 + 1) {
      uint8_t *part = malloc(cut ? cut : 1);
      memcpy(part, whole, cut);
      if (lw_pe_parse(&image, part, cut, &lw_libc_allocator, error, sizeof error) == 0) {
        size_t size;
        const uint8_t *dl = lw_pe_section_data(&image, ".debug_line", &size);
        if (dl && lw_dwarf_lines_load(&lines, &lw_libc_allocator, dl, size, NULL, 0, NULL, 0,
                                      error, sizeof error) >= -1)
          lw_dwarf_lines_free(&lines);
      }
      image.len = cut ? cut : 1;
      lw_pe_close(&image);
    }
  }
}

static void test_handle_types(void **state) {
  (void)state;
  assert_int_equal(lw_handle_type_from_name("Event", 5), LW_HANDLE_EVENT);
  assert_int_equal(lw_handle_type_from_name("ALPC Port", 9), LW_HANDLE_ALPC_PORT);
  assert_int_equal(lw_handle_type_from_name("EtwRegistration", 15), LW_HANDLE_OTHER);
  assert_int_equal(lw_handle_type_from_name("Eventx", 5), LW_HANDLE_EVENT); /* len counts */
  assert_int_equal(lw_handle_type_from_name("event", 5), LW_HANDLE_OTHER);  /* exact case */
  for (int t = 0; t < LW_HANDLE_TYPE_COUNT; t++) {
    const char *name = lw_handle_type_name((lw_handle_type_t)t);
    assert_int_equal(lw_handle_type_from_name(name, strlen(name)), t);
    for (const char *c = lw_handle_type_key((lw_handle_type_t)t); *c; c++)
      assert_true((*c >= 'a' && *c <= 'z') || *c == '_');
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_dwarf4),
      cmocka_unit_test(test_dwarf5),
      cmocka_unit_test(test_malformed),
      cmocka_unit_test(test_handle_types),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
