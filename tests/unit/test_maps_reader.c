/*
 * test_maps_reader.c - the /proc/self/maps reader (src/agent/maps_reader.c) leaves its own
 * buffer out of the lines it reports. The buffer is an anonymous read-write mapping that the
 * kernel merges with a neighbour of the same kind and shows as one line with it; it is
 * unmapped when the read ends, so a caller that kept such a line held pages that no longer
 * exist (the exit-time reachability scan read them and crashed the host).
 *
 * The test's own mmap (below) puts the reader's 8 KiB buffer where a test wants it: in a
 * hole just below, just above, or between anonymous read-write mappings of the test's.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/maps_reader.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

static void *steer_to; /* where the next 8 KiB mapping goes (then cleared) */
static void *steered;  /* where it went */

/* Every mmap of this program's own code, the agent's included, comes here. */
void *mmap(void *address, size_t length, int prot, int flags, int fd, off_t offset) {
  if (steer_to && !address && length == 8192) {
    address = steer_to;
    flags |= MAP_FIXED_NOREPLACE;
    steer_to = NULL;
    void *p = (void *)syscall(SYS_mmap, address, length, prot, flags, fd, offset);
    steered = p;
    return p;
  }
  return (void *)syscall(SYS_mmap, address, length, prot, flags, fd, offset);
}

static size_t page;
static size_t buffer_pages; /* the pages the reader's buffer takes */

typedef struct {
  uintptr_t start, end; /* the test's region: lines overlapping it are kept */
  uintptr_t lines[8][2];
  int n;
} seen_t;

static bool keep_line(const lw_maps_line_t *line, void *context) {
  seen_t *s = context;
  if (line->end > s->start && line->start < s->end && s->n < 8) {
    s->lines[s->n][0] = line->start;
    s->lines[s->n][1] = line->end;
    s->n++;
  }
  return true;
}

/* Maps `total` pages, unmaps pages [hole, hole + buffer_pages), reads the maps with the
 * buffer steered into the hole, and checks that the lines over the region are exactly the
 * test's own pages. */
static void check_layout(size_t total, size_t hole) {
  uint8_t *region = mmap(NULL, total * page, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  assert_true(region != MAP_FAILED);
  memset(region, 1, total * page); /* as a program's memory would be: touched */
  uint8_t *gap = region + hole * page;
  assert_int_equal(munmap(gap, buffer_pages * page), 0);

  seen_t seen = {(uintptr_t)region, (uintptr_t)(region + total * page), {{0}}, 0};
  steered = NULL;
  steer_to = gap;
  assert_int_equal(lw__maps_for_each(keep_line, &seen), 0);
  steer_to = NULL;
  if (steered != gap) {
    munmap(region, total * page);
    skip(); /* the kernel would not put the buffer there (no MAP_FIXED_NOREPLACE?) */
  }

  /* The hole (where the buffer was) is in no line; the test's pages are, whole. */
  uintptr_t below_end = (uintptr_t)gap, above_start = (uintptr_t)gap + buffer_pages * page;
  int expected = (hole > 0) + (hole + buffer_pages < total);
  assert_int_equal(seen.n, expected);
  for (int i = 0; i < seen.n; i++) {
    uintptr_t start = seen.lines[i][0], end = seen.lines[i][1];
    assert_false(start < above_start && end > below_end); /* overlaps the buffer's pages */
    if (end <= below_end)
      assert_true(start <= (uintptr_t)region && end == below_end);
    else
      assert_true(start == above_start && end >= (uintptr_t)(region + total * page));
  }
  if (hole > 0)
    munmap(region, hole * page);
  if (hole + buffer_pages < total)
    munmap(gap + buffer_pages * page, (total - hole - buffer_pages) * page);
}

static void test_buffer_below_a_mapping(void **state) {
  (void)state;
  check_layout(4 + buffer_pages, 0);
}

static void test_buffer_above_a_mapping(void **state) {
  (void)state;
  check_layout(4 + buffer_pages, 4);
}

static void test_buffer_between_two_mappings(void **state) {
  (void)state;
  check_layout(8 + buffer_pages, 4);
}

/* Whether every page of [start, end) is mapped (mincore fails with ENOMEM where not). */
static bool all_mapped(uintptr_t start, uintptr_t end) {
  static unsigned char vector[4096];
  while (start < end) {
    size_t length = end - start < sizeof vector * page ? end - start : sizeof vector * page;
    if (mincore((void *)start, length, vector) != 0)
      return false;
    start += length;
  }
  return true;
}

typedef struct {
  uintptr_t lines[4096][2];
  int n;
} all_t;

static bool keep_all(const lw_maps_line_t *line, void *context) {
  all_t *a = context;
  if (a->n < 4096) {
    a->lines[a->n][0] = line->start;
    a->lines[a->n][1] = line->end;
    a->n++;
  }
  return true;
}

/* With no steering: every line reported is mapped once the read is over. */
static void test_lines_are_mapped_after_the_read(void **state) {
  (void)state;
  static all_t all;
  for (int round = 0; round < 50; round++) {
    all.n = 0;
    assert_int_equal(lw__maps_for_each(keep_all, &all), 0);
    assert_true(all.n > 0);
    for (int i = 0; i < all.n; i++) {
      uintptr_t start = all.lines[i][0], end = all.lines[i][1];
      if (start < 0x800000000000ull && !all_mapped(start, end)) /* not [vsyscall] */
        fail_msg("line %#lx-%#lx is not mapped after the read", (unsigned long)start,
                 (unsigned long)end);
    }
  }
}

int main(void) {
  page = (size_t)sysconf(_SC_PAGESIZE);
  buffer_pages = (8192 + page - 1) / page;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_buffer_below_a_mapping),
      cmocka_unit_test(test_buffer_above_a_mapping),
      cmocka_unit_test(test_buffer_between_two_mappings),
      cmocka_unit_test(test_lines_are_mapped_after_the_read),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
