/*
 * bench_profile_gen.c - writes a large, deterministic heap profile for the analysis
 * benchmark (profile_analysis.sh): many samples with deep stacks over a big program (long
 * C++-style names, some inlined frames, a mapping with a build ID), in the four Go heap
 * sample types, gzipped like every profile. The shape, not the names, is what matters:
 * stacks are walks down a call graph, sharing prefixes as real call trees do.
 *   bench_profile_gen OUT.pb.gz [SAMPLES=200000] [MEAN_DEPTH=96]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/profile_io.h"
#include "common/profile.h"

static uint64_t state = 0x853c49e6748fea9bull;
static uint64_t next(void) {
  state ^= state >> 12;
  state ^= state << 25;
  state ^= state >> 27;
  return state * 0x2545f4914f6cdd1dull;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s OUT.pb.gz [SAMPLES] [MEAN_DEPTH]\n", argv[0]);
    return 2;
  }
  size_t n_samples = argc > 2 ? strtoul(argv[2], NULL, 10) : 200000;
  size_t mean_depth = argc > 3 ? strtoul(argv[3], NULL, 10) : 96;
  const size_t n_functions = 40000 + 500, n_locations = 160000;
  lw_profile_t p;
  lw_profile_init(&p, &lw_libc_allocator);
  lw_profile_set_heap_layout(&p, 524288);
  p.time_nanos = 1700000000000000000;
  lw_profile_mapping_t m;
  memset(&m, 0, sizeof m);
  m.memory_start = 0x400000;
  m.memory_limit = 0x400000 + 64 * 1024 * 1024;
  m.filename = lw_profile_string(&p, "/opt/bench/bin/server");
  m.build_id = lw_profile_string(&p, "5f0c3a1be0d3a5b6c7d8e9f00112233445566778");
  m.has_functions = m.has_filenames = m.has_line_numbers = m.has_inline_frames = true;
  uint64_t mapping = lw_profile_add_mapping(&p, &m);
  for (size_t i = 0; i < n_functions; i++) {
    char name[256], file[128];
    snprintf(name, sizeof name, "bench::module%zu::Component%zu::operation%zu(std::string const&, int)",
             i % 97, i % 1013, i);
    snprintf(file, sizeof file, "/src/bench/module%zu/component%zu.cc", i % 97, i % 1013);
    lw_profile_add_function(&p, lw_profile_string(&p, name), lw_profile_string(&p, name),
                            lw_profile_string(&p, file), (int64_t)(i % 500) + 1);
  }
  /* A synthetic program: each function has SITES call sites (its locations), each site
   * calls one fixed callee function (taken 60/25/10/5% of the time: programs have hot
   * paths), and one site in five has an inlined helper (from a
   * pool of small functions, as std:: containers are) as its innermost frame. Stacks walk
   * down this call graph from one of ROOTS entry points (main, thread functions), so they
   * share prefixes and a function has few callers and callees, as in real programs. */
  enum { SITES = 4, ROOTS = 16, HELPERS = 500 };
  size_t n_program = n_locations / SITES;
  uint64_t *callee = malloc((n_locations + 1) * sizeof *callee);
  uint64_t *stack = malloc((mean_depth * 2 + 8) * sizeof *stack);
  if (!callee || !stack)
    return 1;
  for (size_t i = 0; i < n_locations; i++) {
    size_t fn = i / SITES;
    callee[i] = next() % n_program;
    lw_profile_line_t lines[2] = {{next() % HELPERS + 1, (int64_t)(next() % 900) + 1, 0},
                                  {n_program > fn ? fn + HELPERS + 1 : 1,
                                   (int64_t)(i % SITES) * 3 + 10, 0}};
    if (i % 5 == 0)
      lw_profile_add_location(&p, mapping, 0x400000 + i * 64, lines, 2);
    else
      lw_profile_add_location(&p, mapping, 0x400000 + i * 64, lines + 1, 1);
  }
  for (size_t s = 0; s < n_samples; s++) {
    size_t depth = mean_depth / 2 + next() % (mean_depth + 1);
    size_t fn = next() % ROOTS;
    for (size_t k = depth; k-- > 0;) { /* root last: location_id[0] is the leaf */
      /* Skewed like real programs: a function's first call site is its hot path. */
      uint64_t r = next() % 100;
      size_t site = fn * SITES + (r < 60 ? 0 : r < 85 ? 1 : r < 95 ? 2 : 3);
      stack[k] = site + 1;
      fn = callee[site];
    }
    int64_t size = (int64_t)16 << (next() % 12);
    int64_t count = (int64_t)(next() % 1000) + 1;
    int64_t live = count * (int64_t)(next() % 4) / 3;
    const int64_t values[4] = {count, count * size, live, live * size};
    lw_profile_label_t label = {lw_profile_string(&p, "bytes"), 0, size, 0};
    if (lw_profile_add_sample(&p, stack, depth, values, 4, &label, 1) < 0) {
      fprintf(stderr, "out of memory\n");
      return 1;
    }
  }
  free(callee);
  free(stack);
  char error[512];
  if (lw_cli_save_profile(argv[1], &p, error, sizeof error) < 0) {
    fprintf(stderr, "%s\n", error);
    return 1;
  }
  lw_profile_free(&p);
  return 0;
}
