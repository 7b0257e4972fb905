/*
 * test_agent_bounds.c - the agent's own memory stays within its bounds when its tables
 * fill: the many_stacks fixture makes 2^21 (2 million) distinct stacks, then holds 1.5
 * million blocks against a live table of 1 million, in exact mode with the default stack
 * table. The tables must fill and say so, the agent's memory must stop growing once they
 * are full, and both its own count (agent_memory_bytes) and the RSS it adds to the process
 * (against the same run with the agent disabled) must stay under the bound
 * docs/INTERNALS.md gives ("Memory bounds").
 *
 * The run has no periodic history (LEAKWATCH_HISTORY_INTERVAL=0): its first snapshot maps
 * the history's per-stack arrays, and when it fell between two of the fixture's readings
 * (10 s after start, which a loaded machine reaches in the middle of the stacks phase) the
 * "full tables do not grow" check saw it as growth. That memory is in the bound all the
 * same (the history terms below): a second run takes a snapshot every 100 ms and checks
 * every reading against the bound, whenever the snapshots fall.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

/* The harness is header-only; this test uses a few of its helpers. */
#pragma GCC diagnostic ignored "-Wunused-function"
#include "agent_harness.h"

#include "agent/agent.h" /* the table records' sizes the bound is made of */

#define STACK_BITS "21"
#define LIVE_BLOCKS "1500000"
#define MAX_LIVE 1000000ull
#define MAX_STACKS 262144ull /* the default */
#define MIB (1024.0 * 1024.0)

typedef struct {
  unsigned long long stacks, dropped_stacks, samples_live, dropped_samples, agent_memory,
      rss;
} counters_t;

/* Parses the fixture's line "<phase> <half>: stacks=.. ...". */
static counters_t line_for(const char *out, const char *prefix) {
  const char *line = strstr(out, prefix);
  if (!line)
    fail_msg("no line '%s' in the fixture's output:\n%s", prefix, out);
  counters_t c;
  if (sscanf(line + strlen(prefix),
             " stacks=%llu dropped_stacks=%llu samples_live=%llu dropped_samples=%llu "
             "agent_memory_bytes=%llu rss_bytes=%llu",
             &c.stacks, &c.dropped_stacks, &c.samples_live, &c.dropped_samples,
             &c.agent_memory, &c.rss) != 6)
    fail_msg("cannot parse '%s'", line);
  return c;
}

/* What docs/INTERNALS.md promises, from the limits and the records' sizes:
 *   stack table  S x (record + 32 frames + directory slots over both its latest sizes +
 *                index slots over all sizes)
 *   live table   (L + 4096) x entry (chunks of 4096) + bucket heads (at most 2 per entry,
 *                plus the first arrays)
 *   history      a slot per stack (arrays that double: 8 bytes), plus its sites and the small
 *                tables (mappings, fds, thread stack regions): 16 MiB together. */
static double bound_bytes(unsigned long long stacks, unsigned long long live) {
  double stack_table = (double)stacks * (sizeof(lw_stack_t) + 32 * 8 + 16 + 32);
  double live_table =
      (double)(live + 4096) * sizeof(lw_live_entry_t) + (2.0 * live + 16384) * 4;
  double history = (double)stacks * 8 + 16 * MIB;
  return stack_table + live_table + history;
}

static void test_tables_fill_within_bounds(void **state) {
  (void)state;
  const char *args[] = {STACK_BITS, LIVE_BLOCKS, NULL};
  fixture_run_t plain, run;
  const char *disabled[] = {"LEAKWATCH_ENABLE=0", NULL};
  assert_int_equal(harness_run("many_stacks", args, "1", NULL, disabled, &plain), 0);
  assert_true(WIFEXITED(plain.status) && WEXITSTATUS(plain.status) == 0);
  const char *env[] = {"LEAKWATCH_MAX_LIVE=1000000", "LEAKWATCH_HISTORY_INTERVAL=0", NULL};
  assert_int_equal(harness_run("many_stacks", args, "1", NULL, env, &run), 0);
  if (!WIFEXITED(run.status) || WEXITSTATUS(run.status) != 0)
    fail_msg("many_stacks under the agent: status %d; stderr:\n%s", run.status, run.err);
  print_message("%s", run.out);

  counters_t half = line_for(run.out, "stacks 1:"), stacks = line_for(run.out, "stacks 2:");
  counters_t live = line_for(run.out, "live 2:"), freed = line_for(run.out, "freed 2:");
  counters_t plain_live = line_for(plain.out, "live 2:");

  /* The tables filled, and said so. */
  assert_true(stacks.stacks <= MAX_STACKS);
  assert_true(stacks.dropped_stacks > 1000000);
  assert_non_null(strstr(run.err, "stack table full"));
  assert_true(live.samples_live == MAX_LIVE);
  assert_true(live.dropped_samples >= 500000);
  assert_non_null(strstr(run.err, "live table full"));
  assert_int_equal(freed.samples_live <= 16, 1); /* what libc keeps; the blocks are gone */

  /* Full tables do not grow: the second million stacks added (almost) nothing. */
  long long growth = (long long)stacks.agent_memory - (long long)half.agent_memory;
  if (growth > 1024 * 1024)
    fail_msg("agent memory grew by %lld bytes after the stack table was full", growth);
  assert_true(freed.agent_memory <= live.agent_memory);

  double bound = bound_bytes(MAX_STACKS, MAX_LIVE);
  double overhead = (double)live.rss - (double)plain_live.rss;
  print_message("agent memory %.1f MiB, RSS added %.1f MiB, bound %.1f MiB (+2.5 MiB static "
                "free filter and unwind cache for RSS)\n",
                (double)live.agent_memory / MIB, overhead / MIB, bound / MIB);
  if ((double)live.agent_memory > bound)
    fail_msg("agent_memory_bytes %.1f MiB is above the bound %.1f MiB",
             (double)live.agent_memory / MIB, bound / MIB);
  /* RSS: the bound, the static tables (2 MiB free filter, 512 KiB unwind cache) and 8 MiB
   * for what loading the agent and its libraries costs. */
  if (overhead > bound + 10.5 * MIB)
    fail_msg("the agent added %.1f MiB of RSS, above the bound %.1f MiB", overhead / MIB,
             (bound + 10.5 * MIB) / MIB);
}

/* With history snapshots as often as they come: whenever one falls, every reading stays
 * under the bound, plus the snapshot's scratch copy of the stacks' counters (returned when
 * it ends) when a reading catches one in progress. */
static void test_history_within_bounds(void **state) {
  (void)state;
  const char *args[] = {STACK_BITS, LIVE_BLOCKS, NULL};
  fixture_run_t run;
  const char *env[] = {"LEAKWATCH_MAX_LIVE=1000000", "LEAKWATCH_HISTORY_INTERVAL=100ms", NULL};
  assert_int_equal(harness_run("many_stacks", args, "1", NULL, env, &run), 0);
  if (!WIFEXITED(run.status) || WEXITSTATUS(run.status) != 0)
    fail_msg("many_stacks under the agent: status %d; stderr:\n%s", run.status, run.err);
  double bound = bound_bytes(MAX_STACKS, MAX_LIVE) +
                 (double)MAX_STACKS * sizeof(lw_stack_counters_t);
  const char *lines[] = {"stacks 1:", "stacks 2:", "live 1:", "live 2:", "freed 2:"};
  for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
    counters_t c = line_for(run.out, lines[i]);
    if ((double)c.agent_memory > bound)
      fail_msg("'%s' agent_memory_bytes %.1f MiB is above the bound %.1f MiB", lines[i],
               (double)c.agent_memory / MIB, bound / MIB);
  }
  print_message("with history: agent memory %.1f MiB at the fullest, bound %.1f MiB\n",
                (double)line_for(run.out, "live 2:").agent_memory / MIB, bound / MIB);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_tables_fill_within_bounds),
      cmocka_unit_test(test_history_within_bounds),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
