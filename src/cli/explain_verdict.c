/*
 * explain_verdict.c - the findings and advice of `leakwatch explain` (explain_verdict.h).
 *
 * A finding is made when its part of memory is both large in itself and a real share of
 * RSS, so a small process is never told it has a problem because of a few MiB:
 *   - leak: the growth verdicts (src/common/leak_verdict.c) name at least one heap site;
 *   - allocator retention: the allocator holds >= 16 MiB free and resident, >= 25% of RSS,
 *     and its resident heap is >= 1.5x what it has handed out;
 *   - memory outside the heap: anonymous memory that is neither the allocator's nor the
 *     agent's, or thread stacks, >= 16 MiB and >= 25% of RSS;
 *   - bounded cache: no site grows, and sites whose growth verdict says they grew and then
 *     levelled off hold >= 4 MiB and >= 30% of the live heap.
 */
#include "cli/explain_verdict.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/units.h"

#define FINDING_MIN_BYTES (16.0 * 1024 * 1024)
#define FINDING_MIN_SHARE 0.25
#define RETENTION_MIN_RATIO 1.5
#define CACHE_MIN_BYTES (4.0 * 1024 * 1024)
#define CACHE_MIN_SHARE 0.3

/* A few formatted sizes at once in one printf: a ring of buffers. */
static const char *size_text(double bytes) {
  static char ring[24][32];
  static int next;
  char *out = ring[next++ % 24];
  lw_format_bytes(out, 32, bytes < 0 ? 0 : bytes);
  return out;
}

/* A size for an environment variable: whole MiB, rounded up ("384MiB"). */
static void size_setting(char *out, size_t size, double bytes) {
  double mib = bytes / (1024.0 * 1024.0);
  unsigned long long whole = (unsigned long long)mib;
  if ((double)whole < mib)
    whole++;
  snprintf(out, size, "%lluMiB", whole ? whole : 1);
}

static double percent(double part, double whole) { return whole > 0 ? 100.0 * part / whole : 0; }

static lw_explain_finding_t *add_finding(lw_explain_result_t *r, lw_finding_kind_t kind) {
  if (r->n_findings == LW_EXPLAIN_MAX_FINDINGS)
    return NULL;
  lw_explain_finding_t *f = &r->findings[r->n_findings++];
  memset(f, 0, sizeof *f);
  f->kind = kind;
  return f;
}

static void evidence(lw_explain_finding_t *f, const char *format, ...)
    __attribute__((format(printf, 2, 3)));
static void evidence(lw_explain_finding_t *f, const char *format, ...) {
  if (!f || f->n_evidence == LW_EXPLAIN_MAX_EVIDENCE)
    return;
  va_list args;
  va_start(args, format);
  vsnprintf(f->evidence[f->n_evidence++], sizeof f->evidence[0], format, args);
  va_end(args);
}

static void advise(lw_explain_result_t *r, const char *line, const char *format, ...)
    __attribute__((format(printf, 3, 4)));
static void advise(lw_explain_result_t *r, const char *line, const char *format, ...) {
  if (r->n_advice == LW_EXPLAIN_MAX_ADVICE)
    return;
  for (int i = 0; i < r->n_advice; i++)
    if (strcmp(r->advice[i].line, line) == 0)
      return; /* two findings may lead to the same step */
  lw_explain_advice_t *a = &r->advice[r->n_advice++];
  snprintf(a->line, sizeof a->line, "%s", line);
  va_list args;
  va_start(args, format);
  vsnprintf(a->what, sizeof a->what, format, args);
  va_end(args);
}

static void unknown(lw_explain_result_t *r, const char *text) {
  if (r->n_unknown < LW_EXPLAIN_MAX_UNKNOWN)
    snprintf(r->unknown[r->n_unknown++], sizeof r->unknown[0], "%s", text);
}

/* The allocator's resident heap, what of it is free, and the anonymous memory left. */
static void derive(const lw_explain_input_t *in, lw_explain_figures_t *f) {
  const lw_explain_memory_t *m = &in->memory;
  double anonymous_pool =
      (double)m->brk_heap_bytes + (double)m->arena_heap_bytes + (double)m->other_anon_bytes;
  double resident = 0, in_use = 0;
  if (in->agent && in->allocator_figures && strcmp(in->allocator, "glibc") == 0) {
    /* Blocks mmapped one by one are in use and (nearly all) resident. */
    double mmapped = (double)in->allocator_mmap_bytes;
    if (mmapped > (double)m->other_anon_bytes)
      mmapped = (double)m->other_anon_bytes;
    resident = (double)m->brk_heap_bytes + (double)m->arena_heap_bytes + mmapped;
    in_use = (double)in->allocator_in_use;
  } else if (in->agent && in->allocator_figures) {
    resident = (double)in->allocator_resident;
    in_use = (double)in->allocator_in_use;
  } else {
    /* No allocator figures: glibc's heaps as smaps shows them; the rest is unknown. */
    resident = (double)m->brk_heap_bytes + (double)m->arena_heap_bytes;
    in_use = in->agent ? (double)in->heap_live_bytes : resident;
  }
  double outside = anonymous_pool - resident - (in->agent ? (double)in->agent_memory_bytes : 0);
  f->heap_resident = resident > 0 ? (uint64_t)resident : 0;
  f->heap_free = resident > in_use ? (uint64_t)(resident - in_use) : 0;
  f->outside_heap = outside > 0 ? (uint64_t)outside : 0;
}

static void judge_leak(const lw_explain_input_t *in, lw_explain_result_t *r) {
  double rate = 0;
  for (int i = 0; i < in->n_suspects; i++)
    rate += in->suspects[i].bytes_per_minute;
  lw_explain_finding_t *f = add_finding(r, LW_FINDING_LEAK);
  if (!f)
    return;
  snprintf(f->headline, sizeof f->headline,
           "leak: the live heap grows steadily at %d site%s, %s per minute in all",
           in->n_suspects, in->n_suspects == 1 ? "" : "s", size_text(rate));
  for (int i = 0; i < in->n_suspects; i++) {
    const lw_explain_site_t *s = &in->suspects[i];
    evidence(f, "%s: +%s/min, %s live now (%s confidence): %s", s->name,
             size_text(s->bytes_per_minute), size_text(s->live_bytes), s->confidence, s->why);
  }
  evidence(f, "live heap %s now, %s at the start of the %0.f s of history", 
           size_text(in->heap_now_bytes), size_text(in->heap_first_bytes), in->history_seconds);
}

static void judge_retention(const lw_explain_input_t *in, lw_explain_result_t *r) {
  const lw_explain_figures_t *g = &r->figures;
  double rss = (double)in->memory.rss_bytes;
  double free_bytes = (double)g->heap_free, resident = (double)g->heap_resident;
  double in_use = resident - free_bytes;
  if (free_bytes < FINDING_MIN_BYTES || free_bytes < FINDING_MIN_SHARE * rss ||
      resident < RETENTION_MIN_RATIO * in_use)
    return;
  lw_explain_finding_t *f = add_finding(r, LW_FINDING_RETENTION);
  if (!f)
    return;
  snprintf(f->headline, sizeof f->headline,
           "allocator retention / fragmentation: %s holds %s free (%.0f%% of RSS) next to %s "
           "in use",
           in->allocator, size_text(free_bytes), percent(free_bytes, rss), size_text(in_use));
  evidence(f, "RSS %s; the allocator's resident heap %s, %.1fx what it has handed out (%s)",
           size_text(rss), size_text(resident), in_use > 0 ? resident / in_use : 0,
           size_text(in_use));
  evidence(f, "live heap as the program requested it: %s (the agent's estimate%s)",
           size_text((double)in->heap_live_bytes),
           in->attached ? "; attached later, it counts only allocations made since" : "");
  if (strcmp(in->allocator, "glibc") == 0)
    evidence(f, "glibc heaps: %s brk heap, %s in %llu other arena heap%s, %s in blocks mmapped "
                "one by one",
             size_text((double)in->memory.brk_heap_bytes),
             size_text((double)in->memory.arena_heap_bytes),
             (unsigned long long)in->memory.n_arena_heaps,
             in->memory.n_arena_heaps == 1 ? "" : "s",
             size_text((double)in->allocator_mmap_bytes));
  if (in->n_arena_list > 1) {
    /* The arenas that keep the most free memory, from malloc_info. */
    char list[320] = "";
    bool shown[LW_EXPLAIN_MAX_ARENAS] = {false};
    for (int k = 0; k < 4 && k < in->n_arena_list; k++) {
      int best = -1;
      for (int a = 0; a < in->n_arena_list; a++)
        if (!shown[a] && (best < 0 || in->arena_free_bytes[a] > in->arena_free_bytes[best]))
          best = a;
      shown[best] = true;
      size_t used = strlen(list);
      snprintf(list + used, sizeof list - used, "%s#%d %s of %s", k ? ", " : "", best,
               size_text((double)in->arena_free_bytes[best]),
               size_text((double)in->arena_system_bytes[best]));
    }
    evidence(f, "free memory per arena (malloc_info), most first: %s%s", list,
             in->n_arena_list > 4 ? ", ..." : "");
  }
  if (in->arenas && !in->largest_arena_bytes)
    evidence(f, "%llu arena%s", (unsigned long long)in->arenas, in->arenas == 1 ? "" : "s");
  else if (in->arenas)
    evidence(f, "%llu arena%s; the largest holds %s from the system",
             (unsigned long long)in->arenas, in->arenas == 1 ? "" : "s",
             size_text((double)in->largest_arena_bytes));
  if (in->soft_limit_bytes)
    evidence(f, "LEAKWATCH_SOFT_LIMIT=%s is set: %llu release%s so far returned %s",
             size_text((double)in->soft_limit_bytes),
             (unsigned long long)in->soft_limit_releases,
             in->soft_limit_releases == 1 ? "" : "s",
             size_text((double)in->soft_limit_released_bytes));
}

static void judge_outside(const lw_explain_input_t *in, lw_explain_result_t *r) {
  const lw_explain_memory_t *m = &in->memory;
  double rss = (double)m->rss_bytes, outside = (double)r->figures.outside_heap;
  double stacks = (double)m->stack_bytes, shared = (double)m->shared_memory_bytes;
  bool big_outside = outside >= FINDING_MIN_BYTES && outside >= FINDING_MIN_SHARE * rss;
  bool big_stacks = stacks >= FINDING_MIN_BYTES && stacks >= FINDING_MIN_SHARE * rss;
  bool big_shared = shared >= FINDING_MIN_BYTES && shared >= FINDING_MIN_SHARE * rss;
  if (!big_outside && !big_stacks && !big_shared)
    return;
  lw_explain_finding_t *f = add_finding(r, LW_FINDING_OUTSIDE);
  if (!f)
    return;
  double total = (big_outside ? outside : 0) + (big_stacks ? stacks : 0) +
                 (big_shared ? shared : 0);
  snprintf(f->headline, sizeof f->headline,
           "memory outside the heap: %s (%.0f%% of RSS) is %s", size_text(total),
           percent(total, rss),
           big_outside && !big_stacks && !big_shared
               ? (in->agent ? "anonymous memory the allocator does not hold"
                            : "anonymous memory outside glibc's heaps (mmap, or malloc's large "
                              "blocks)")
           : big_stacks && !big_outside && !big_shared ? "thread stacks"
           : big_shared && !big_outside && !big_stacks ? "shared memory"
                                                       : "mapped outside malloc");
  if (big_outside) {
    evidence(f, "%s anonymous memory in %llu mapping%s is not the allocator's%s", 
             size_text(outside), (unsigned long long)m->n_other_anon,
             m->n_other_anon == 1 ? "" : "s",
             in->agent ? (in->allocator_figures ? "" : " (allocator figures unknown)")
                       : " nor glibc's heaps (without the agent, malloc's own large blocks are "
                         "counted here too)");
    for (int i = 0; i < LW_EXPLAIN_LARGEST && m->largest_other[i].rss_bytes; i++) {
      const lw_explain_mapping_t *e = &m->largest_other[i];
      if ((double)e->rss_bytes < outside / 20 && i > 0)
        break;
      evidence(f, "%012llx-%012llx %s %s resident of %s mapped%s%s",
               (unsigned long long)e->start, (unsigned long long)e->end, e->perms,
               size_text((double)e->rss_bytes), size_text((double)(e->end - e->start)),
               e->name[0] ? " " : " (anonymous)", e->name);
    }
  }
  if (big_stacks)
    evidence(f, "%llu thread stacks hold %s resident (%llu threads)",
             (unsigned long long)m->n_stacks, size_text(stacks),
             (unsigned long long)m->threads);
  if (big_shared)
    evidence(f, "shared memory (/dev/shm, memfd, SysV): %s", size_text(shared));
}

static void judge_bounded_cache(const lw_explain_input_t *in, lw_explain_result_t *r) {
  if (!in->history || in->n_suspects || in->history_seconds < in->min_window_seconds)
    return;
  double cached = 0;
  for (int i = 0; i < in->n_levelled; i++)
    cached += in->levelled[i].live_bytes;
  double live = (double)in->heap_live_bytes;
  if (cached < CACHE_MIN_BYTES || cached < CACHE_MIN_SHARE * live)
    return;
  lw_explain_finding_t *f = add_finding(r, LW_FINDING_BOUNDED_CACHE);
  if (!f)
    return;
  snprintf(f->headline, sizeof f->headline,
           "bounded cache: %s of the %s live heap is at %d site%s that grew, then levelled off; "
           "no site grows",
           size_text(cached), size_text(live), in->n_levelled, in->n_levelled == 1 ? "" : "s");
  for (int i = 0; i < in->n_levelled; i++)
    evidence(f, "%s holds %s: %s", in->levelled[i].name, size_text(in->levelled[i].live_bytes),
             in->levelled[i].why);
  evidence(f, "live heap over the last %.0f s: %s at first, %s now (sampled sites)",
           in->history_seconds, size_text(in->heap_first_bytes), size_text(in->heap_now_bytes));
}

static void advise_leak(const lw_explain_input_t *in, lw_explain_result_t *r) {
  char line[1200];
  snprintf(line, sizeof line, "leakwatch leaks %d", in->pid);
  advise(r, line, "%s, and how sure each verdict is; trimming or a soft limit cannot help, "
                  "the memory is in use",
         in->n_suspects == 1 ? "the growing site with its stack" : "the growing sites with their "
                                                                   "stacks");
  snprintf(line, sizeof line, "leakwatch heap %d --seconds 300", in->pid);
  advise(r, line, "what the next 5 minutes allocate and keep, by stack");
}

static void advise_retention(const lw_explain_input_t *in, const char *command,
                             lw_explain_result_t *r) {
  const lw_explain_figures_t *g = &r->figures;
  char line[1200], setting[32];
  bool glibc = strcmp(in->allocator, "glibc") == 0;
  bool jemalloc = strcmp(in->allocator, "jemalloc") == 0;
  snprintf(line, sizeof line, "leakwatch trim %d", in->pid);
  advise(r, line, "returns the free memory now (%s): up to %s is free and resident; RSS "
                  "before and after are measured",
         glibc ? "malloc_trim(0)" : jemalloc ? "a jemalloc purge"
                                             : "MallocExtension_ReleaseFreeMemory",
         size_text((double)g->heap_free));
  /* Halfway between what is not free and RSS now: part of the free memory sits in pages
   * that also hold live blocks and cannot be returned, so a limit at the live size alone
   * would be passed again at once. */
  double keep = (double)in->memory.rss_bytes - (double)g->heap_free;
  size_setting(setting, sizeof setting, keep + (double)g->heap_free / 2);
  if (glibc && in->arenas > 2) {
    snprintf(line, sizeof line, "MALLOC_ARENA_MAX=2 %s", command);
    advise(r, line, "it has %llu arenas, each keeping its own free memory (the largest holds "
                    "%s): two arenas share it, at some cost under allocation contention",
           (unsigned long long)in->arenas, size_text((double)in->largest_arena_bytes));
  }
  if (glibc) {
    snprintf(line, sizeof line,
             "GLIBC_TUNABLES=glibc.malloc.trim_threshold=131072:glibc.malloc.mmap_threshold="
             "131072 %s",
             command);
    advise(r, line, "a fixed mmap threshold sends blocks of 128 KiB and more back to the system "
                    "when freed (glibc raises it as large blocks are freed), and a low trim "
                    "threshold lets free() shrink each heap's top");
  }
  if (jemalloc) {
    snprintf(line, sizeof line, "MALLOC_CONF=dirty_decay_ms:1000,muzzy_decay_ms:0 %s", command);
    advise(r, line, "jemalloc returns freed pages after dirty_decay_ms (10 s by default): "
                    "sooner with a shorter decay");
  }
  if (strcmp(in->allocator, "tcmalloc") == 0) {
    snprintf(line, sizeof line, "TCMALLOC_RELEASE_RATE=10 %s", command);
    advise(r, line, "tcmalloc returns free pages faster with a higher release rate "
                    "(default 1)");
  }
  /* A preloaded jemalloc or tcmalloc stays behind the agent in the line. */
  bool preloaded = !glibc && strstr(in->allocator_file, ".so");
  snprintf(line, sizeof line, "LD_PRELOAD=%s%s%s%s%s LEAKWATCH_SOFT_LIMIT=%s %s",
           preloaded ? "\"" : "", in->agent_path[0] ? in->agent_path : "libleakwatch.so",
           preloaded ? " " : "", preloaded ? in->allocator_file : "", preloaded ? "\"" : "",
           setting, command);
  advise(r, line, "the agent returns free memory whenever RSS passes %s (halfway between "
                  "what is not free, %s, and RSS now; lower it if RSS stays well below), at "
                  "most every 10 s",
         setting, size_text(keep));
  if (glibc) {
    const char *other = in->jemalloc_path[0] ? in->jemalloc_path
                        : in->tcmalloc_path[0] ? in->tcmalloc_path
                                               : "libjemalloc.so.2";
    snprintf(line, sizeof line, "LD_PRELOAD=\"%s %s\" %s",
             in->agent_path[0] ? in->agent_path : "libleakwatch.so", other, command);
    advise(r, line, "%s returns free memory to the system on its own and fragments less; "
                    "placed behind the agent, the agent still sees every allocation",
           strstr(other, "tcmalloc") ? "tcmalloc" : "jemalloc");
  }
}

static void advise_outside(const lw_explain_input_t *in, lw_explain_result_t *r) {
  const lw_explain_memory_t *m = &in->memory;
  char line[1200];
  double outside = (double)r->figures.outside_heap;
  if (outside >= FINDING_MIN_BYTES && outside >= FINDING_MIN_SHARE * (double)m->rss_bytes) {
    snprintf(line, sizeof line, "strace -f -k -e trace=mmap,munmap -p %d", in->pid);
    advise(r, line, "the agent sees malloc, not mmap: this shows the stack of each new mapping "
                    "(the largest now: %s at %llx); a program's own pool or a library's arena "
                    "is invisible to a preloaded agent (docs/COMPATIBILITY.md)",
           size_text((double)m->largest_other[0].rss_bytes),
           (unsigned long long)m->largest_other[0].start);
  }
  double stacks = (double)m->stack_bytes;
  if (stacks >= FINDING_MIN_BYTES && stacks >= FINDING_MIN_SHARE * (double)m->rss_bytes) {
    snprintf(line, sizeof line, "leakwatch threads %d", in->pid);
    advise(r, line, "%llu threads: which code started them; a thread per job that never ends "
                    "is a thread leak",
           (unsigned long long)m->threads);
  }
}

void lw_explain_judge(const lw_explain_input_t *in, lw_explain_result_t *out) {
  memset(out, 0, sizeof *out);
  derive(in, &out->figures);
  const char *command = in->command[0] ? in->command : "<command>";
  if (in->n_suspects)
    judge_leak(in, out);
  if (in->agent)
    judge_retention(in, out);
  judge_outside(in, out);
  judge_bounded_cache(in, out);
  if (!in->agent) {
    lw_explain_finding_t *f = add_finding(out, LW_FINDING_UNKNOWN);
    if (f) {
      snprintf(f->headline, sizeof f->headline,
               "without the agent, a leak and memory the allocator keeps look alike: %s of "
               "heap, %s other anonymous memory",
               size_text((double)in->memory.brk_heap_bytes + (double)in->memory.arena_heap_bytes),
               size_text((double)in->memory.other_anon_bytes));
      evidence(f, "glibc heaps seen in smaps: %s brk heap, %s in %llu other arena heap%s",
               size_text((double)in->memory.brk_heap_bytes),
               size_text((double)in->memory.arena_heap_bytes),
               (unsigned long long)in->memory.n_arena_heaps,
               in->memory.n_arena_heaps == 1 ? "" : "s");
    }
    unknown(out, "the live heap, the allocator's free memory and which sites grow: only the "
                 "agent can see them");
  } else if (out->n_findings == 0) {
    lw_explain_finding_t *f = add_finding(out, LW_FINDING_NOTHING);
    snprintf(f->headline, sizeof f->headline,
             "nothing wrong: no site grows, the allocator keeps %s free, %s is outside the heap",
             size_text((double)out->figures.heap_free),
             size_text((double)out->figures.outside_heap));
    evidence(f, "RSS %s, live heap %s", size_text((double)in->memory.rss_bytes),
             size_text((double)in->heap_live_bytes));
    if (in->history && in->history_seconds < in->min_window_seconds)
      evidence(f, "only %.0f s of history: a leak needs %.0f s to be judged (ask again later)",
               in->history_seconds, in->min_window_seconds);
  }
  if (in->agent && !in->allocator_figures)
    unknown(out, "the allocator's own figures (an allocator the agent does not know, or one "
                 "linked statically into the program)");
  if (in->agent && (!in->history || in->history_seconds < in->min_window_seconds))
    unknown(out, "growth verdicts: too little history yet (LEAKWATCH_HISTORY_INTERVAL, "
                 "--min-window)");
  for (int i = 0; i < out->n_findings; i++) {
    switch (out->findings[i].kind) {
    case LW_FINDING_LEAK:
      advise_leak(in, out);
      break;
    case LW_FINDING_RETENTION:
      advise_retention(in, command, out);
      break;
    case LW_FINDING_OUTSIDE:
      advise_outside(in, out);
      break;
    case LW_FINDING_BOUNDED_CACHE: {
      char line[64];
      snprintf(line, sizeof line, "leakwatch heap %d", in->pid);
      advise(out, line, "nothing leaks; if the cache is too big for this machine, bound it "
                        "smaller: the profile shows which sites hold it");
      break;
    }
    case LW_FINDING_NOTHING: {
      char line[128];
      snprintf(line, sizeof line, "leakwatch watch %d --interval 1m", in->pid);
      advise(out, line, "nothing to do now; watch RSS and its trend, and ask again if it "
                        "grows");
      break;
    }
    case LW_FINDING_UNKNOWN: {
      char line[1200];
      snprintf(line, sizeof line, "LD_PRELOAD=%s %s",
               in->agent_path[0] ? in->agent_path : "libleakwatch.so", command);
      advise(out, line, "run it with the agent (or leakwatch run) and ask again: the live "
                        "heap and the allocator's figures tell a leak from retention");
      break;
    }
    }
  }
}

const char *lw_explain_finding_name(lw_finding_kind_t kind) {
  static const char *const names[] = {"leak",          "allocator_retention", "outside_heap",
                                      "bounded_cache", "nothing_wrong",       "unknown"};
  return (unsigned)kind < sizeof names / sizeof names[0] ? names[kind] : "?";
}
