/*
 * cmd_explain.c - `leakwatch explain PID`: why is this process as big as it is? Breaks its
 * resident memory down (explain_memory.c, from /proc; with the agent also the live heap,
 * the allocator's own figures and the heap's history), then gives a verdict with the
 * numbers it rests on and ranked advice, each with a line to try (explain_verdict.c).
 * Without the agent it says what /proc shows and what only the agent could tell.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/control_client.h"
#include "cli/explain_memory.h"
#include "cli/explain_verdict.h"
#include "cli/json.h"
#include "cli/json_lookup.h"
#include "cli/leak_suspects.h"
#include "cli/live_profile.h"
#include "cli/site_history.h"
#include "common/units.h"

static const lw_cli_option_t options[] = {
    {"json", 0, NULL, "print the breakdown, findings and advice as one JSON object"},
    {"min-window", 0, "DURATION", "history needed before judging growth (default 3m)"},
    {"seconds", 's', "DURATION", "read it twice this far apart: how each part moved (30s, 5m)"},
    {"no-symbolize", 0, NULL, "name sites with the agent's ELF symbols only"},
    {NULL, 0, NULL, NULL},
};

static const lw_cli_spec_t spec = {
    "explain", "leakwatch explain PID [--json] [--seconds DURATION] [--min-window DURATION]",
    "Explains why process PID is as big as it is: its resident memory by kind (heap in use,\n"
    "memory the allocator keeps free, other anonymous memory, thread stacks, code, files),\n"
    "then a verdict with the numbers it rests on - a leak (sites whose live memory grows),\n"
    "allocator retention or fragmentation, memory outside the heap, a bounded cache, or\n"
    "nothing wrong - and advice ranked for what it found, each with a line to try.\n"
    "With the agent it also reads the live heap, the allocator's own figures (glibc, jemalloc,\n"
    "tcmalloc) and the heap's history; without it, only /proc, and it says what it cannot know.",
    options,
    "Examples:\n"
    "  leakwatch explain 4242\n"
    "  leakwatch explain 4242 --seconds 60      # and how each part moved in a minute\n"
    "  leakwatch explain 4242 --json | jq .verdict\n"};

typedef struct {
  lw_explain_input_t in;
  lw_explain_result_t result;
  char agent_error[512];
} explain_t;

static void warn(void *context, const char *message) {
  (void)context;
  lw_cli_warn("%s", message);
}

/* The process's command line, words joined by spaces (quoted when they hold a space). */
static void read_command(int pid, char *out, size_t size) {
  char path[64], raw[4096];
  snprintf(path, sizeof path, "/proc/%d/cmdline", pid);
  out[0] = '\0';
  FILE *f = fopen(path, "r");
  if (!f)
    return;
  size_t n = fread(raw, 1, sizeof raw - 1, f);
  fclose(f);
  raw[n] = '\0';
  /* A process that rewrote its title (setproctitle: redis, nginx, postgres) pads it with
   * NULs: no trailing empty words, and a lone title is shown as it is, unquoted. */
  while (n > 0 && raw[n - 1] == '\0')
    n--;
  bool title = strlen(raw) == n;
  size_t len = 0;
  for (size_t i = 0; i < n && len + 4 < size;) {
    const char *word = raw + i;
    size_t word_len = strlen(word);
    bool quote = !title && (strpbrk(word, " \t'\"$") != NULL || word_len == 0);
    int written = snprintf(out + len, size - len, quote ? "%s'%s'" : "%s%s", len ? " " : "",
                           word);
    if (written < 0 || (size_t)written >= size - len)
      break;
    len += (size_t)written;
    i += word_len + 1;
  }
}

/* Paths for LD_PRELOAD lines: the agent the process loaded, and jemalloc or tcmalloc next
 * to the process's libc when installed. */
static void find_paths(int pid, lw_explain_input_t *in) {
  char path[64], line[1024], libc_dir[512] = "";
  snprintf(path, sizeof path, "/proc/%d/maps", pid);
  FILE *f = fopen(path, "r");
  while (f && fgets(line, sizeof line, f)) {
    char *name = strchr(line, '/');
    if (!name)
      continue;
    name[strcspn(name, "\n")] = '\0';
    if (strstr(name, "/libleakwatch.so"))
      snprintf(in->agent_path, sizeof in->agent_path, "%s", name);
    char *base = strrchr(name, '/');
    if (strncmp(base, "/libc.so", 8) == 0 || strncmp(base, "/libc-", 6) == 0)
      snprintf(libc_dir, sizeof libc_dir, "%.*s", (int)(base - name), name);
  }
  if (f)
    fclose(f);
  /* Not loaded there: the agent installed beside this leakwatch, as `leakwatch run` finds it
   * (<prefix>/bin/leakwatch, <prefix>/lib/libleakwatch.so). */
  char resolved[PATH_MAX];
  if (!in->agent_path[0] && lw_cli_library_beside_binary("libleakwatch.so", resolved) &&
      strlen(resolved) < sizeof in->agent_path)
    snprintf(in->agent_path, sizeof in->agent_path, "%s", resolved);
  if (!libc_dir[0])
    snprintf(libc_dir, sizeof libc_dir, "/usr/lib/x86_64-linux-gnu");
  snprintf(in->jemalloc_path, sizeof in->jemalloc_path, "%s/libjemalloc.so.2", libc_dir);
  if (access(in->jemalloc_path, R_OK) != 0)
    in->jemalloc_path[0] = '\0';
  snprintf(in->tcmalloc_path, sizeof in->tcmalloc_path, "%s/libtcmalloc.so.4", libc_dir);
  if (access(in->tcmalloc_path, R_OK) != 0)
    in->tcmalloc_path[0] = '\0';
}

static bool call(int pid, const char *request, lw_buf_t *body, char *error, size_t size) {
  lw_buf_init(body, &lw_libc_allocator);
  if (lw_control_call(pid, request, body, 30000, error, size) < 0) {
    lw_buf_free(body);
    return false;
  }
  lw_buf_append_byte(body, 0);
  return true;
}

static uint64_t lookup(const char *json, const char *key) {
  uint64_t value = 0;
  lw_json_lookup_uint(json, key, &value);
  return value;
}

/* The `allocator` reply: which allocator, and its figures in the fields the verdict uses. */
static void read_allocator(int pid, explain_t *e) {
  lw_explain_input_t *in = &e->in;
  lw_buf_t body;
  char error[512];
  snprintf(in->allocator, sizeof in->allocator, "unknown");
  if (!call(pid, "allocator", &body, error, sizeof error)) {
    lw_cli_warn("no allocator figures: %s", error); /* an agent older than this CLI */
    return;
  }
  const char *json = (const char *)body.data;
  lw_json_lookup_string(json, "name", in->allocator, sizeof in->allocator);
  lw_json_lookup_string(json, "file", in->allocator_file, sizeof in->allocator_file);
  bool glibc = strcmp(in->allocator, "glibc") == 0;
  bool jemalloc = strcmp(in->allocator, "jemalloc") == 0;
  bool tcmalloc = strcmp(in->allocator, "tcmalloc") == 0;
  uint64_t in_use = 0;
  in->allocator_figures = lw_json_lookup_uint(json, "in_use_bytes", &in_use);
  in->allocator_in_use = in_use;
  if (glibc) {
    in->allocator_in_use = in_use + lookup(json, "mmap_bytes");
    in->allocator_mmap_bytes = lookup(json, "mmap_bytes");
    in->arenas = lookup(json, "arenas");
    in->largest_arena_bytes = lookup(json, "largest_arena_system_bytes");
    /* "arena_list":[{"system_bytes":N,"free_bytes":N},...] */
    const char *list = strstr(json, "\"arena_list\":[");
    const char *end = list ? strchr(list, ']') : NULL;
    for (const char *p = list; p && p < end && in->n_arena_list < LW_EXPLAIN_MAX_ARENAS;) {
      const char *system = strstr(p, "\"system_bytes\":");
      const char *free_bytes = system ? strstr(system, "\"free_bytes\":") : NULL;
      if (!free_bytes || free_bytes > end)
        break;
      in->arena_system_bytes[in->n_arena_list] = strtoull(system + 15, NULL, 10);
      in->arena_free_bytes[in->n_arena_list++] = strtoull(free_bytes + 13, NULL, 10);
      p = free_bytes + 13;
    }
  } else if (jemalloc) {
    in->allocator_resident = lookup(json, "resident_bytes");
    /* jemalloc's own metadata is resident and in use, not free memory to return. */
    in->allocator_in_use = in_use + lookup(json, "metadata_bytes");
    in->arenas = lookup(json, "arenas");
  } else if (tcmalloc) {
    uint64_t heap = lookup(json, "heap_bytes"), unmapped = lookup(json, "pageheap_unmapped_bytes");
    in->allocator_resident = heap > unmapped ? heap - unmapped : 0;
  }
  in->soft_limit_bytes = lookup(json, "limit_bytes");
  in->soft_limit_releases = lookup(json, "releases");
  in->soft_limit_released_bytes = lookup(json, "released_bytes");
  lw_buf_free(&body);
}

/* The sum of the heap sites' live bytes at each snapshot of the fine history: where the
 * live heap started, peaked and is now. */
static int by_time(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

static void heap_over_time(const lw_history_t *h, lw_explain_input_t *in) {
  size_t n_times = 0;
  for (size_t i = 0; i < h->n_sites; i++)
    if (h->sites[i].kind == LW_HISTORY_HEAP)
      n_times += h->sites[i].n_fine;
  uint64_t *times = malloc((n_times ? n_times : 1) * sizeof *times);
  double *sums = calloc(n_times ? n_times : 1, sizeof *sums);
  if (!times || !sums) {
    free(times);
    free(sums);
    return;
  }
  size_t n = 0;
  for (size_t i = 0; i < h->n_sites; i++)
    for (size_t j = 0; h->sites[i].kind == LW_HISTORY_HEAP && j < h->sites[i].n_fine; j++)
      times[n++] = h->sites[i].fine[j].t_ms;
  qsort(times, n, sizeof *times, by_time);
  size_t unique = 0;
  for (size_t i = 0; i < n; i++)
    if (unique == 0 || times[unique - 1] != times[i])
      times[unique++] = times[i];
  for (size_t i = 0; i < h->n_sites; i++)
    for (size_t j = 0; h->sites[i].kind == LW_HISTORY_HEAP && j < h->sites[i].n_fine; j++) {
      const uint64_t *at = bsearch(&h->sites[i].fine[j].t_ms, times, unique, sizeof *times,
                                   by_time);
      if (at)
        sums[at - times] += (double)h->sites[i].fine[j].bytes;
    }
  if (unique >= 2) {
    in->history = true;
    in->history_seconds = (double)(times[unique - 1] - times[0]) / 1000.0;
    in->heap_first_bytes = sums[0];
    in->heap_now_bytes = sums[unique - 1];
    for (size_t i = 0; i < unique; i++)
      if (sums[i] > in->heap_peak_bytes)
        in->heap_peak_bytes = sums[i];
  }
  free(times);
  free(sums);
}

/* One site object of `leakwatch leaks --json --all` output, read into s. */
static void read_site(const char *object, lw_explain_site_t *s) {
  memset(s, 0, sizeof *s);
  lw_json_lookup_string(object, "site", s->name, sizeof s->name);
  lw_json_lookup_string(object, "confidence", s->confidence, sizeof s->confidence);
  lw_json_lookup_string(object, "why", s->why, sizeof s->why);
  uint64_t value = 0;
  if (lw_json_lookup_uint(object, "bytes_per_minute", &value))
    s->bytes_per_minute = (double)value;
  if (lw_json_lookup_uint(object, "live_bytes", &value))
    s->live_bytes = (double)value;
  if (lw_json_lookup_uint(object, "growth_bytes", &value))
    s->growth_bytes = (double)value;
}

/* The growth verdicts, as `leakwatch leaks` gives them (its JSON, read back): suspects, and
 * the sites that grew and then levelled off. */
static void read_verdicts(int pid, const lw_history_t *h, bool symbolize, double min_window,
                          lw_explain_input_t *in) {
  lw_profile_t profile;
  char error[512];
  lw_symbolize_options_t so = {NULL, 0, false, warn, NULL};
  const lw_profile_t *loaded[1];
  size_t n_loaded = 0;
  if (lw_cli_fetch_profile(pid, "heap", 30000, symbolize ? &so : NULL, &profile, error,
                           sizeof error) == 0)
    loaded[n_loaded++] = &profile;
  else
    lw_cli_warn("cannot name sites: %s", error);
  lw_leak_suspects_options_t o;
  memset(&o, 0, sizeof o);
  lw_leak_verdict_defaults(&o.verdict);
  o.verdict.min_window_seconds = min_window;
  o.max_sites = 1000;
  o.max_frames = 8;
  o.json = true;
  o.all = true;
  o.subject = "";
  char *text = NULL;
  size_t len = 0;
  FILE *memory = open_memstream(&text, &len);
  if (memory) {
    lw_leak_suspects_write(memory, h, loaded, n_loaded, &o);
    fclose(memory);
  }
  for (const char *p = text ? strstr(text, "{\"kind\":\"heap\"") : NULL; p;) {
    const char *next = strstr(p + 1, "{\"kind\":\"");
    size_t object_len = next ? (size_t)(next - p) : strlen(p);
    char *object = strndup(p, object_len);
    if (!object)
      break;
    lw_explain_site_t site;
    read_site(object, &site);
    if (strstr(object, "\"suspect\":true")) {
      if (in->n_suspects < LW_EXPLAIN_MAX_SITES)
        in->suspects[in->n_suspects++] = site;
    } else if (strstr(site.why, "levelled off") && in->n_levelled < LW_EXPLAIN_MAX_SITES) {
      /* A cache that filled up, in the verdict's own words; kept largest first. */
      int slot = in->n_levelled++;
      while (slot > 0 && in->levelled[slot - 1].live_bytes < site.live_bytes) {
        in->levelled[slot] = in->levelled[slot - 1];
        slot--;
      }
      in->levelled[slot] = site;
    }
    free(object);
    p = next && strncmp(next, "{\"kind\":\"heap\"", 14) == 0 ? next : NULL;
  }
  free(text);
  if (n_loaded)
    lw_profile_free(&profile);
}

static bool read_agent(int pid, explain_t *e, bool symbolize, double min_window,
                       bool with_history) {
  lw_explain_input_t *in = &e->in;
  lw_buf_t body;
  if (!call(pid, "stats", &body, e->agent_error, sizeof e->agent_error))
    return false;
  const char *json = (const char *)body.data;
  in->agent = true;
  in->heap_live_bytes = lookup(json, "inuse_bytes_estimate");
  in->agent_memory_bytes = lookup(json, "agent_memory_bytes");
  in->sampling_rate = lookup(json, "sampling_rate");
  lw_buf_free(&body);
  /* An agent that `leakwatch attach` loaded saw only what was allocated after it. */
  char error[512];
  if (call(pid, "info", &body, error, sizeof error)) {
    e->in.attached = lookup((const char *)body.data, "attached_at_unix") > 0;
    lw_buf_free(&body);
  }
  read_allocator(pid, e);
  if (!with_history)
    return true;
  if (!call(pid, "history", &body, error, sizeof error)) {
    lw_cli_warn("no history: %s", error);
    return true;
  }
  /* Before the first snapshot, or with no site yet, there is nothing to judge (and the
   * agent ends such a history without its "end" line, which the parser refuses). */
  if (!strstr((const char *)body.data, "\nsite ")) {
    lw_buf_free(&body);
    return true;
  }
  lw_history_t history;
  if (lw_history_parse((const char *)body.data, body.len - 1, &history, error, sizeof error) <
      0) {
    lw_cli_warn("the agent of pid %d sent a history leakwatch cannot read: %s", pid, error);
  } else {
    heap_over_time(&history, in);
    read_verdicts(pid, &history, symbolize, min_window, in);
  }
  lw_history_free(&history);
  lw_buf_free(&body);
  return true;
}

/* ---- output ------------------------------------------------------------------------------ */

static const char *size_text(double bytes) {
  static char ring[16][32];
  static int next;
  char *out = ring[next++ % 16];
  lw_format_bytes(out, 32, bytes < 0 ? 0 : bytes);
  return out;
}

/* The parts of the breakdown, as numbers: shown now, and with --seconds how each moved. */
enum {
  PART_RSS, PART_HEAP_LIVE, PART_HEAP_RESIDENT, PART_HEAP_IN_USE, PART_HEAP_FREE,
  PART_OUTSIDE, PART_STACKS, PART_CODE, PART_FILES, PART_SHARED, PART_AGENT, PART_SWAP,
  N_PARTS
};
static const char *const part_keys[N_PARTS] = {
    "rss_bytes",          "heap_live_bytes", "heap_resident_bytes", "heap_in_use_bytes",
    "heap_free_bytes",    "outside_heap_bytes", "stack_bytes",      "code_bytes",
    "file_bytes",         "shared_memory_bytes", "agent_bytes",     "swap_bytes"};

static void parts(const explain_t *e, double out[N_PARTS]) {
  const lw_explain_memory_t *m = &e->in.memory;
  const lw_explain_figures_t *g = &e->result.figures;
  out[PART_RSS] = (double)m->rss_bytes;
  out[PART_HEAP_LIVE] = (double)e->in.heap_live_bytes;
  out[PART_HEAP_RESIDENT] = (double)g->heap_resident;
  out[PART_HEAP_IN_USE] = (double)g->heap_resident - (double)g->heap_free;
  out[PART_HEAP_FREE] = (double)g->heap_free;
  out[PART_OUTSIDE] = (double)g->outside_heap;
  out[PART_STACKS] = (double)m->stack_bytes;
  out[PART_CODE] = (double)m->code_bytes;
  out[PART_FILES] = (double)m->file_bytes;
  out[PART_SHARED] = (double)m->shared_memory_bytes;
  out[PART_AGENT] = (double)e->in.agent_memory_bytes;
  out[PART_SWAP] = (double)m->swap_bytes;
}

typedef struct {
  double now[N_PARTS], before[N_PARTS];
  bool moved; /* --seconds: a column with the change */
} table_t;

static void row(const table_t *t, const char *what, int part, const char *note) {
  printf("  %-34s %10s", what, size_text(t->now[part]));
  if (t->moved) {
    double change = t->now[part] - t->before[part];
    char text[40];
    snprintf(text, sizeof text, "%c%s", change < 0 ? '-' : '+',
             size_text(change < 0 ? -change : change));
    printf("  %10s", text);
  }
  printf("   %s\n", note);
}

/* Prints text word-wrapped at 96 columns: `first` before the first line, `rest` before the
 * others (long lines of evidence and advice stay readable in a terminal). */
static void print_wrapped(const char *first, const char *rest, const char *text) {
  enum { WIDTH = 96 };
  const char *prefix = first;
  while (*text) {
    size_t room = WIDTH > strlen(prefix) ? WIDTH - strlen(prefix) : 20;
    size_t len = strlen(text);
    if (len > room) {
      size_t cut = room;
      /* Not right after a digit: "2.05 MiB" stays on one line. */
      while (cut > 0 && (text[cut] != ' ' || (text[cut - 1] >= '0' && text[cut - 1] <= '9')))
        cut--;
      len = cut ? cut : room; /* one word longer than the line: cut it */
    }
    printf("%s%.*s\n", prefix, (int)len, text);
    text += len;
    while (*text == ' ')
      text++;
    prefix = rest;
  }
}

static void print_text(const explain_t *e, const explain_t *before, double seconds) {
  const lw_explain_input_t *in = &e->in;
  const lw_explain_memory_t *m = &in->memory;
  table_t t;
  parts(e, t.now);
  t.moved = before != NULL;
  if (before)
    parts(before, t.before);
  char note[256];
  printf("pid %d (%s): RSS %s", in->pid, in->command, size_text((double)m->rss_bytes));
  if (in->agent)
    printf(", with the agent; allocator %s\n\n", in->allocator);
  else
    printf(", without the agent (%s)\n\n", e->agent_error);
  if (before) {
    char span[32];
    lw_format_duration(seconds, span, sizeof span);
    printf("  %-34s %10s  %10s\n", "resident memory, by kind", "now", span);
  } else {
    printf("  resident memory, by kind\n");
  }
  if (before)
    row(&t, "RSS", PART_RSS, "");
  if (in->agent)
    row(&t, "heap in use, as requested", PART_HEAP_LIVE,
        in->attached ? "live allocations made since the agent was attached (estimated)"
                     : "the program's live allocations (agent, estimated from samples)");
  if (in->agent && in->allocator_figures) {
    snprintf(note, sizeof note, "%s", in->allocator);
    if (in->arenas)
      snprintf(note, sizeof note, "%s, %llu arena%s", in->allocator,
               (unsigned long long)in->arenas, in->arenas == 1 ? "" : "s");
    row(&t, "heap held by the allocator", PART_HEAP_RESIDENT, note);
    row(&t, "  in use (allocator's count)", PART_HEAP_IN_USE, "with its per-block overhead");
    row(&t, "  free, kept by the allocator", PART_HEAP_FREE, "what a trim could return at most");
  } else {
    snprintf(note, sizeof note, "glibc's heaps as smaps shows them: brk heap and %llu arena "
                                "heap%s",
             (unsigned long long)m->n_arena_heaps, m->n_arena_heaps == 1 ? "" : "s");
    row(&t, "heap (brk and arena heaps)", PART_HEAP_RESIDENT, note);
  }
  snprintf(note, sizeof note, "mmap outside malloc, %llu mapping%s%s",
           (unsigned long long)m->n_other_anon, m->n_other_anon == 1 ? "" : "s",
           in->agent ? "" : " (malloc's large blocks too)");
  row(&t, "other anonymous memory", PART_OUTSIDE, note);
  snprintf(note, sizeof note, "%llu stack%s for %llu thread%s", (unsigned long long)m->n_stacks,
           m->n_stacks == 1 ? "" : "s", (unsigned long long)m->threads,
           m->threads == 1 ? "" : "s");
  row(&t, "thread stacks", PART_STACKS, note);
  row(&t, "code", PART_CODE, "executable files and the vdso");
  row(&t, "mapped files", PART_FILES, "data of libraries, files mapped by the program");
  if (m->shared_memory_bytes)
    row(&t, "shared memory", PART_SHARED, "/dev/shm, memfd, SysV");
  if (in->agent)
    row(&t, "the agent's own tables", PART_AGENT,
        "what the agent adds (plus its thread's stack, above)");
  if (m->swap_bytes)
    row(&t, "swapped out (not in RSS)", PART_SWAP, "");
  if (in->history) {
    char span[32];
    lw_format_duration(in->history_seconds, span, sizeof span);
    printf("\n  live heap over the last %s (sampled sites): %s -> %s now, peak %s\n", span,
           size_text(in->heap_first_bytes), size_text(in->heap_now_bytes),
           size_text(in->heap_peak_bytes));
  }
  const lw_explain_result_t *r = &e->result;
  for (int i = 0; i < r->n_findings; i++) {
    const lw_explain_finding_t *f = &r->findings[i];
    printf("\n");
    print_wrapped(i == 0 ? "verdict: " : "also: ", "  ", f->headline);
    for (int j = 0; j < f->n_evidence; j++)
      print_wrapped("  - ", "    ", f->evidence[j]);
  }
  if (r->n_advice)
    printf("\nadvice, most useful first:\n");
  for (int i = 0; i < r->n_advice; i++) {
    char number[16];
    snprintf(number, sizeof number, "  %d. ", i + 1);
    print_wrapped(number, "     ", r->advice[i].what);
    printf("       %s\n", r->advice[i].line); /* the line to try stays whole, to copy */
  }
  if (r->n_unknown) {
    printf("\nnot known here:\n");
    for (int i = 0; i < r->n_unknown; i++)
      print_wrapped("  - ", "    ", r->unknown[i]);
  }
}

static void json_site(lw_json_t *j, const lw_explain_site_t *s) {
  lw_json_begin_object(j);
  lw_json_kstring(j, "site", s->name);
  lw_json_kdouble(j, "bytes_per_minute", s->bytes_per_minute);
  lw_json_kdouble(j, "live_bytes", s->live_bytes);
  lw_json_kstring(j, "confidence", s->confidence);
  lw_json_kstring(j, "why", s->why);
  lw_json_end_object(j);
}

static void print_json(const explain_t *e, const explain_t *before, double seconds) {
  const lw_explain_input_t *in = &e->in;
  const lw_explain_memory_t *m = &in->memory;
  const lw_explain_result_t *r = &e->result;
  lw_json_t j;
  lw_json_init(&j, stdout);
  lw_json_begin_object(&j);
  lw_json_kint(&j, "pid", in->pid);
  lw_json_kstring(&j, "command", in->command);
  lw_json_kbool(&j, "agent", in->agent);
  if (in->agent)
    lw_json_kbool(&j, "attached", in->attached);
  if (!in->agent)
    lw_json_kstring(&j, "agent_error", e->agent_error);
  lw_json_key(&j, "memory");
  lw_json_begin_object(&j);
  lw_json_kint(&j, "rss_bytes", (int64_t)m->rss_bytes);
  lw_json_kint(&j, "pss_bytes", (int64_t)m->pss_bytes);
  lw_json_kint(&j, "swap_bytes", (int64_t)m->swap_bytes);
  lw_json_kint(&j, "anon_bytes", (int64_t)m->anon_bytes);
  if (in->agent)
    lw_json_kint(&j, "heap_live_bytes", (int64_t)in->heap_live_bytes);
  lw_json_kint(&j, "heap_resident_bytes", (int64_t)r->figures.heap_resident);
  if (in->agent)
    lw_json_kint(&j, "heap_free_bytes", (int64_t)r->figures.heap_free);
  lw_json_kint(&j, "brk_heap_bytes", (int64_t)m->brk_heap_bytes);
  lw_json_kint(&j, "arena_heap_bytes", (int64_t)m->arena_heap_bytes);
  lw_json_kint(&j, "arena_heaps", (int64_t)m->n_arena_heaps);
  lw_json_kint(&j, "outside_heap_bytes", (int64_t)r->figures.outside_heap);
  lw_json_kint(&j, "other_anon_bytes", (int64_t)m->other_anon_bytes);
  lw_json_kint(&j, "stack_bytes", (int64_t)m->stack_bytes);
  lw_json_kint(&j, "stacks", (int64_t)m->n_stacks);
  lw_json_kint(&j, "threads", (int64_t)m->threads);
  lw_json_kint(&j, "code_bytes", (int64_t)m->code_bytes);
  lw_json_kint(&j, "file_bytes", (int64_t)m->file_bytes);
  lw_json_kint(&j, "shared_memory_bytes", (int64_t)m->shared_memory_bytes);
  if (in->agent)
    lw_json_kint(&j, "agent_bytes", (int64_t)in->agent_memory_bytes);
  lw_json_key(&j, "largest_other_mappings");
  lw_json_begin_array(&j);
  for (int i = 0; i < LW_EXPLAIN_LARGEST && m->largest_other[i].rss_bytes; i++) {
    char range[64];
    snprintf(range, sizeof range, "%llx-%llx", (unsigned long long)m->largest_other[i].start,
             (unsigned long long)m->largest_other[i].end);
    lw_json_begin_object(&j);
    lw_json_kstring(&j, "range", range);
    lw_json_kint(&j, "rss_bytes", (int64_t)m->largest_other[i].rss_bytes);
    lw_json_kint(&j, "size_bytes",
                 (int64_t)(m->largest_other[i].end - m->largest_other[i].start));
    lw_json_end_object(&j);
  }
  lw_json_end_array(&j);
  lw_json_end_object(&j);
  if (in->agent) {
    lw_json_key(&j, "allocator");
    lw_json_begin_object(&j);
    lw_json_kstring(&j, "name", in->allocator);
    lw_json_kbool(&j, "figures", in->allocator_figures);
    lw_json_kint(&j, "in_use_bytes", (int64_t)in->allocator_in_use);
    lw_json_kint(&j, "arenas", (int64_t)in->arenas);
    lw_json_kint(&j, "largest_arena_bytes", (int64_t)in->largest_arena_bytes);
    if (in->n_arena_list) {
      lw_json_key(&j, "arena_list");
      lw_json_begin_array(&j);
      for (int a = 0; a < in->n_arena_list; a++) {
        lw_json_begin_object(&j);
        lw_json_kint(&j, "system_bytes", (int64_t)in->arena_system_bytes[a]);
        lw_json_kint(&j, "free_bytes", (int64_t)in->arena_free_bytes[a]);
        lw_json_end_object(&j);
      }
      lw_json_end_array(&j);
    }
    lw_json_kint(&j, "soft_limit_bytes", (int64_t)in->soft_limit_bytes);
    lw_json_end_object(&j);
  }
  if (in->history) {
    lw_json_key(&j, "history");
    lw_json_begin_object(&j);
    lw_json_kdouble(&j, "seconds", in->history_seconds);
    lw_json_kdouble(&j, "heap_first_bytes", in->heap_first_bytes);
    lw_json_kdouble(&j, "heap_peak_bytes", in->heap_peak_bytes);
    lw_json_kdouble(&j, "heap_now_bytes", in->heap_now_bytes);
    lw_json_key(&j, "suspects");
    lw_json_begin_array(&j);
    for (int i = 0; i < in->n_suspects; i++)
      json_site(&j, &in->suspects[i]);
    lw_json_end_array(&j);
    lw_json_end_object(&j);
  }
  if (before) {
    /* How each part moved over --seconds: now minus then, in bytes. */
    double now[N_PARTS], then[N_PARTS];
    parts(e, now);
    parts(before, then);
    lw_json_kdouble(&j, "change_seconds", seconds);
    lw_json_key(&j, "change");
    lw_json_begin_object(&j);
    for (int p = 0; p < N_PARTS; p++)
      lw_json_kint(&j, part_keys[p], (int64_t)(now[p] - then[p]));
    lw_json_end_object(&j);
  }
  lw_json_key(&j, "findings");
  lw_json_begin_array(&j);
  for (int i = 0; i < r->n_findings; i++) {
    lw_json_begin_object(&j);
    lw_json_kstring(&j, "kind", lw_explain_finding_name(r->findings[i].kind));
    lw_json_kstring(&j, "headline", r->findings[i].headline);
    lw_json_key(&j, "evidence");
    lw_json_begin_array(&j);
    for (int k = 0; k < r->findings[i].n_evidence; k++)
      lw_json_string(&j, r->findings[i].evidence[k]);
    lw_json_end_array(&j);
    lw_json_end_object(&j);
  }
  lw_json_end_array(&j);
  lw_json_kstring(&j, "verdict", r->n_findings ? lw_explain_finding_name(r->findings[0].kind)
                                               : "unknown");
  lw_json_key(&j, "advice");
  lw_json_begin_array(&j);
  for (int i = 0; i < r->n_advice; i++) {
    lw_json_begin_object(&j);
    lw_json_kint(&j, "rank", i + 1);
    lw_json_kstring(&j, "why", r->advice[i].what);
    lw_json_kstring(&j, "try", r->advice[i].line);
    lw_json_end_object(&j);
  }
  lw_json_end_array(&j);
  lw_json_key(&j, "unknown");
  lw_json_begin_array(&j);
  for (int i = 0; i < r->n_unknown; i++)
    lw_json_string(&j, r->unknown[i]);
  lw_json_end_array(&j);
  lw_json_end_object(&j);
  fputc('\n', stdout);
}

int lw_cmd_explain(int argc, char **argv) {
  bool json = false, symbolize = true;
  uint64_t min_window_ms = 180000, seconds_ms = 0;
  lw_cli_parser_t parser;
  lw_cli_parser_init(&parser, &spec, argc, argv, false);
  const char *value;
  int option;
  while ((option = lw_cli_next(&parser, &value)) != LW_CLI_END) {
    const char *name = options[option].long_name;
    if (strcmp(name, "json") == 0)
      json = true;
    else if (strcmp(name, "no-symbolize") == 0)
      symbolize = false;
    else if (strcmp(name, "min-window") == 0 &&
             !lw_cli_parse_duration_ms(&spec, name, value, &min_window_ms)) {
      lw_cli_parser_free(&parser);
      return LW_EXIT_USAGE;
    } else if (strcmp(name, "seconds") == 0) {
      if (!lw_cli_parse_duration_ms(&spec, name, value, &seconds_ms)) {
        lw_cli_parser_free(&parser);
        return LW_EXIT_USAGE;
      }
      if (seconds_ms < 1000 || seconds_ms > 3600000) {
        lw_cli_parser_free(&parser);
        return lw_cli_usage_error(&spec, "--seconds must be from 1s to 1h");
      }
    }
  }
  int pid = 0;
  int pid_status = lw_cli_take_pid(&parser, &spec, &pid);
  if (pid_status != 0)
    return pid_status;
  explain_t *e = calloc(1, sizeof *e);
  if (!e) {
    lw_cli_error("out of memory");
    return LW_EXIT_FAILURE;
  }
  char error[512];
  explain_t *before = NULL;
  if (seconds_ms) {
    /* The first reading: /proc and the agent's figures, no history (the second has it). */
    before = calloc(1, sizeof *before);
    if (!before) {
      lw_cli_error("out of memory");
      free(e);
      return LW_EXIT_FAILURE;
    }
    before->in.pid = pid;
    if (lw_explain_memory_read(pid, &before->in.memory, error, sizeof error) < 0) {
      lw_cli_error("%s", error);
      free(before);
      free(e);
      return LW_EXIT_FAILURE;
    }
    read_agent(pid, before, false, 0, false);
    lw_explain_judge(&before->in, &before->result);
    struct timespec pause = {(time_t)(seconds_ms / 1000), (long)(seconds_ms % 1000) * 1000000};
    while (nanosleep(&pause, &pause) != 0 && errno == EINTR) {
    }
  }
  e->in.pid = pid;
  e->in.min_window_seconds = (double)min_window_ms / 1000.0;
  if (lw_explain_memory_read(pid, &e->in.memory, error, sizeof error) < 0) {
    lw_cli_error("%s%s", error, before ? " (it ended while being watched)" : "");
    free(before);
    free(e);
    return LW_EXIT_FAILURE;
  }
  read_command(pid, e->in.command, sizeof e->in.command);
  find_paths(pid, &e->in);
  read_agent(pid, e, symbolize, e->in.min_window_seconds, true);
  lw_explain_judge(&e->in, &e->result);
  if (json)
    print_json(e, before, (double)seconds_ms / 1000.0);
  else
    print_text(e, before, (double)seconds_ms / 1000.0);
  free(before);
  free(e);
  return fflush(stdout) == 0 ? LW_EXIT_OK : LW_EXIT_FAILURE;
}
