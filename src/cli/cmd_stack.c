/*
 * cmd_stack.c - `leakwatch stack PID`: every thread's current stack in a live process, with
 * or without the agent - what Go gives with /debug/pprof/goroutine?debug=1 (identical stacks
 * grouped, largest group first) and ?debug=2 (--all: each thread on its own). The threads
 * are read by thread_stack_capture.c (each stopped for microseconds, never with a signal)
 * and named by thread_stack_unwind.c; this file groups and prints.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/json.h"
#include "cli/symbolize.h"
#include "cli/thread_stack.h"

static const lw_cli_option_t options[] = {
    {"all", 'a', NULL, "list every thread on its own instead of grouping identical stacks"},
    {"json", 0, NULL, "print JSON"},
    {"verbose", 'v', NULL, "say how long each phase took and the longest a thread was stopped"},
    {NULL, 0, NULL, NULL},
};

static const lw_cli_spec_t spec = {
    "stack", "leakwatch stack PID [--all] [--json] [--verbose]",
    "Prints the current stack of every thread of process PID, with function, file:line,\n"
    "inlined frames and demangled C++ names, the thread's name and state, and the system\n"
    "call a blocked thread waits in. Threads with identical stacks are grouped, largest\n"
    "group first. The process needs no agent; the caller must be allowed to trace it\n"
    "(same user, or root; Yama's ptrace_scope may restrict it further).\n\n"
    "The program does not notice: each thread is stopped on its own for a few microseconds\n"
    "(never with a signal), a system call the stop would end with EINTR is made to run again,\n"
    "and a thread blocked in a write or send is read without stopping it.",
    options,
    "Examples:\n"
    "  leakwatch stack 4242\n"
    "  leakwatch stack 4242 --all --json | jq '.threads[] | {tid, syscall}'\n"};

/* ---- grouping ---------------------------------------------------------------------------------- */

/* Threads group by their frames alone: the pc says which call a thread waits in, and a call
 * a stop interrupted earlier may show as restart_syscall on the same instruction. */
static int compare_stacks(const lw_thread_stack_t *a, const lw_thread_stack_t *b) {
  if (a->n_pcs != b->n_pcs)
    return a->n_pcs < b->n_pcs ? -1 : 1;
  for (size_t i = 0; i < a->n_pcs; i++)
    if (a->pcs[i] != b->pcs[i])
      return a->pcs[i] < b->pcs[i] ? -1 : 1;
  return 0;
}

static int by_stack_then_tid(const void *x, const void *y) {
  const lw_thread_stack_t *a = x, *b = y;
  int c = compare_stacks(a, b);
  return c ? c : (a->tid > b->tid) - (a->tid < b->tid);
}

typedef struct group {
  const lw_thread_stack_t *first; /* threads[first .. first + count), sorted by tid */
  size_t count;
  const lw_thread_stack_t *shown; /* whose state and call the group shows */
} group_t;

/* restart_syscall: the kernel resuming a sleep (nanosleep, poll...) after any stop. */
#define RESTART_SYSCALL 219

/* The thread whose state and system call speak for the group: the first that is not in
 * restart_syscall, since the original call's name says more. */
static const lw_thread_stack_t *representative(const group_t *g) {
  for (size_t i = 0; i < g->count; i++)
    if (g->first[i].syscall != RESTART_SYSCALL)
      return &g->first[i];
  return g->first;
}

static int by_size_then_tid(const void *x, const void *y) {
  const group_t *a = x, *b = y;
  if (a->count != b->count)
    return a->count > b->count ? -1 : 1;
  return (a->first->tid > b->first->tid) - (a->first->tid < b->first->tid);
}

/* Sorts the threads so identical stacks are adjacent; returns the groups, largest first. */
static group_t *group_threads(lw_thread_stacks_t *stacks, size_t *n_groups) {
  qsort(stacks->threads, stacks->n_threads, sizeof *stacks->threads, by_stack_then_tid);
  group_t *groups = calloc(stacks->n_threads ? stacks->n_threads : 1, sizeof *groups);
  if (!groups)
    return NULL;
  size_t n = 0;
  for (size_t i = 0; i < stacks->n_threads; i++) {
    if (n && compare_stacks(groups[n - 1].first, &stacks->threads[i]) == 0) {
      groups[n - 1].count++;
    } else {
      groups[n].first = &stacks->threads[i];
      groups[n].count = 1;
      n++;
    }
  }
  for (size_t i = 0; i < n; i++)
    groups[i].shown = representative(&groups[i]);
  qsort(groups, n, sizeof *groups, by_size_then_tid);
  *n_groups = n;
  return groups;
}

/* ---- words ---------------------------------------------------------------------------------- */

static const char *state_words(char state) {
  switch (state) {
  case 'R': return "running";
  case 'S': return "sleeping";
  case 'D': return "in uninterruptible sleep";
  case 'T': return "stopped";
  case 't': return "stopped by a debugger";
  case 'Z': return "exited (a zombie)";
  case 'X': return "dead";
  case 'I': return "idle";
  default: return "in state ?";
  }
}

static const char *state_name(char state) {
  switch (state) {
  case 'R': return "running";
  case 'S': return "sleeping";
  case 'D': return "disk-sleep";
  case 'T': return "stopped";
  case 't': return "tracing-stop";
  case 'Z': return "zombie";
  case 'X': return "dead";
  case 'I': return "idle";
  default: return "unknown";
  }
}

/* "read", or "syscall 451" for a number the table does not know; "" when not in a call. */
static void syscall_text(long number, char *out, size_t size) {
  const char *name = lw_syscall_name(number);
  if (number < 0)
    snprintf(out, size, "%s", "");
  else if (name)
    snprintf(out, size, "%s", name);
  else
    snprintf(out, size, "syscall %ld", number);
}

/* The libc wrapper a thread sleeps in, as a call's name: "__GI___poll" -> "poll". */
static const char *wrapper_name(const lw_thread_stack_t *t) {
  for (size_t i = 0; i < t->n_frames; i++) {
    const char *name = t->frames[i].function;
    if (!name || t->frames[i].inlined)
      continue;
    for (bool again = true; again;) {
      again = false;
      static const char *const prefixes[] = {"__GI_", "__libc_", "_"};
      for (size_t k = 0; k < sizeof prefixes / sizeof *prefixes; k++)
        if (strncmp(name, prefixes[k], strlen(prefixes[k])) == 0 && name[strlen(prefixes[k])]) {
          name += strlen(prefixes[k]);
          again = true;
        }
    }
    return name;
  }
  return NULL;
}

/* "in epoll_wait" or "running": what a thread is doing. */
static void doing(const lw_thread_stack_t *t, char *out, size_t size) {
  char call[48];
  syscall_text(t->syscall, call, sizeof call);
  const char *wrapper = t->syscall == RESTART_SYSCALL ? wrapper_name(t) : NULL;
  char in_call[128] = "";
  if (call[0] && wrapper)
    snprintf(in_call, sizeof in_call, "in %s (resuming %s)", call, wrapper);
  else if (call[0])
    snprintf(in_call, sizeof in_call, "in %s", call);
  if (t->state == 'R' || !in_call[0])
    snprintf(out, size, "%s", state_words(t->state));
  else if (t->state == 'T' || t->state == 't') /* stopped: say so first */
    snprintf(out, size, "%s, %s", state_words(t->state), in_call);
  else
    snprintf(out, size, "%s", in_call);
}

/* "./io/../sysdeps/unix/sysv/linux/poll.c" -> "sysdeps/unix/sysv/linux/poll.c": DWARF
 * names as the compiler saw them, with "." and "dir/.." steps taken out for reading. */
static void tidy_path(const char *path, char *out, size_t size) {
  size_t len = 0;
  bool absolute = path[0] == '/';
  const char *p = path;
  while (*p) {
    while (*p == '/')
      p++;
    const char *end = strchr(p, '/');
    size_t n = end ? (size_t)(end - p) : strlen(p);
    if (n == 1 && p[0] == '.') {
      /* skip */
    } else if (n == 2 && p[0] == '.' && p[1] == '.' && len > 0 &&
               !(len >= 2 && strncmp(out + len - 2, "..", 2) == 0 &&
                 (len == 2 || out[len - 3] == '/'))) {
      while (len > 0 && out[len - 1] != '/')
        len--;
      if (len > 0 && !(absolute && len == 1))
        len--; /* the slash before the removed step */
    } else if (n > 0) {
      bool slash = len > 0 ? out[len - 1] != '/' : absolute;
      if (len + slash + n + 1 > size)
        break;
      if (slash)
        out[len++] = '/';
      memcpy(out + len, p, n);
      len += n;
    }
    p += n;
  }
  if (len == 0 && absolute && size > 1)
    out[len++] = '/';
  out[len < size ? len : size - 1] = '\0';
}

static void print_escaped(const char *text) {
  char escaped[4096];
  lw_escape_text(escaped, sizeof escaped, text);
  fputs(escaped, stdout);
}

static void print_frames(const lw_thread_stack_t *t) {
  for (size_t i = 0; i < t->n_frames; i++) {
    const lw_stack_frame_t *f = &t->frames[i];
    printf("  #%-2zu ", i);
    if (f->function)
      print_escaped(f->function);
    else
      printf("0x%" PRIx64, f->address);
    if (f->file) {
      char path[4096];
      tidy_path(f->file, path, sizeof path);
      fputs("  ", stdout);
      print_escaped(path);
      if (f->line > 0)
        printf(":%" PRId64, f->line);
    }
    bool module = f->module && !f->main_program;
    if (module || f->inlined) {
      fputs(" (", stdout);
      if (module)
        print_escaped(f->module);
      fputs(module && f->inlined ? ", inlined)" : f->inlined ? "inlined)" : ")", stdout);
    }
    fputc('\n', stdout);
  }
  if (t->n_frames == 0)
    printf("  (no frames)\n");
}

/* tids as ranges: "101-112, 130", the first few of them ("--all --json" has every one).
 * The group's threads are sorted by tid. */
static void print_tids(const group_t *g) {
  size_t ranges = 0;
  for (size_t i = 0; i < g->count;) {
    if (ranges++ == 6) {
      printf(", ... %zu more", g->count - i);
      break;
    }
    size_t j = i;
    while (j + 1 < g->count && g->first[j + 1].tid == g->first[j].tid + 1)
      j++;
    printf("%s%d", i ? ", " : "", g->first[i].tid);
    if (j > i)
      printf("-%d", g->first[j].tid);
    i = j + 1;
  }
}

/* The distinct thread names of a group, in order of first appearance, up to a few. */
static void print_names(const group_t *g) {
  size_t shown = 0;
  for (size_t i = 0; i < g->count; i++) {
    bool seen = false;
    for (size_t k = 0; k < i && !seen; k++)
      seen = strcmp(g->first[k].name, g->first[i].name) == 0;
    if (seen)
      continue;
    if (shown == 4) {
      fputs(", ...", stdout);
      break;
    }
    fputs(shown ? ", " : "", stdout);
    print_escaped(g->first[i].name);
    shown++;
  }
}

static void print_problems(const lw_thread_stack_t *first, size_t count) {
  for (size_t i = 0; i < count; i++)
    if (first[i].problem[0])
      printf("  note: thread %d: %s\n", first[i].tid, first[i].problem);
}

static void print_groups(const lw_thread_stacks_t *stacks, const group_t *groups,
                         size_t n_groups) {
  printf("process %d: %zu threads, %zu distinct stacks\n", stacks->pid, stacks->n_threads,
         n_groups);
  for (size_t i = 0; i < n_groups; i++) {
    const group_t *g = &groups[i];
    char what[192];
    doing(g->shown, what, sizeof what);
    printf("\n%zu thread%s %s: ", g->count, g->count == 1 ? "" : "s", what);
    print_names(g);
    printf(" (tid%s ", g->count == 1 ? "" : "s");
    print_tids(g);
    printf(")\n");
    print_frames(g->first);
    print_problems(g->first, g->count);
  }
}

static int by_tid(const void *x, const void *y) {
  const lw_thread_stack_t *a = x, *b = y;
  return (a->tid > b->tid) - (a->tid < b->tid);
}

static void print_all(lw_thread_stacks_t *stacks) {
  qsort(stacks->threads, stacks->n_threads, sizeof *stacks->threads, by_tid);
  printf("process %d: %zu threads\n", stacks->pid, stacks->n_threads);
  for (size_t i = 0; i < stacks->n_threads; i++) {
    const lw_thread_stack_t *t = &stacks->threads[i];
    char what[192];
    doing(t, what, sizeof what);
    printf("\nthread %d \"", t->tid);
    print_escaped(t->name);
    printf("\" %s%s:\n", what,
           t->capture == LW_CAPTURE_UNSTOPPED ? " (read without stopping it)" : "");
    print_frames(t);
    print_problems(t, 1);
  }
}

/* ---- JSON ------------------------------------------------------------------------------------ */

static void json_frames(lw_json_t *j, const lw_thread_stack_t *t) {
  lw_json_key(j, "frames");
  lw_json_begin_array(j);
  for (size_t i = 0; i < t->n_frames; i++) {
    const lw_stack_frame_t *f = &t->frames[i];
    char address[32];
    snprintf(address, sizeof address, "0x%" PRIx64, f->address);
    lw_json_begin_object(j);
    lw_json_key(j, "function");
    f->function ? lw_json_string(j, f->function) : lw_json_null(j);
    char path[4096];
    if (f->file)
      tidy_path(f->file, path, sizeof path);
    lw_json_key(j, "file");
    f->file ? lw_json_string(j, path) : lw_json_null(j);
    lw_json_kint(j, "line", f->line);
    lw_json_kbool(j, "inlined", f->inlined);
    lw_json_key(j, "module");
    f->module ? lw_json_string(j, f->module) : lw_json_null(j);
    lw_json_kstring(j, "address", address);
    lw_json_end_object(j);
  }
  lw_json_end_array(j);
}

static void json_thread_fields(lw_json_t *j, const lw_thread_stack_t *t) {
  char call[48];
  syscall_text(t->syscall, call, sizeof call);
  lw_json_kstring(j, "state", state_name(t->state));
  lw_json_key(j, "syscall");
  call[0] ? lw_json_string(j, call) : lw_json_null(j);
}

static void json_capture(lw_json_t *j, const lw_thread_stacks_t *s) {
  lw_json_key(j, "capture");
  lw_json_begin_object(j);
  lw_json_kint(j, "paused", (int64_t)s->n_stopped);
  lw_json_kint(j, "read_without_pausing", (int64_t)s->n_unstopped);
  lw_json_kint(j, "calls_restarted", (int64_t)s->n_restarted);
  lw_json_kint(j, "signals_passed_on", (int64_t)s->n_signals_passed);
  lw_json_kint(j, "interrupt_to_resume_max_us", (int64_t)(s->max_stop_ns / 1000));
  lw_json_kint(j, "interrupt_to_resume_mean_us",
               s->n_stopped ? (int64_t)(s->total_stop_ns / s->n_stopped / 1000) : 0);
  lw_json_kint(j, "pause_max_us", (int64_t)(s->max_held_ns / 1000));
  lw_json_kint(j, "pause_mean_us",
               s->n_stopped ? (int64_t)(s->total_held_ns / s->n_stopped / 1000) : 0);
  lw_json_kint(j, "capture_us", (int64_t)(s->capture_ns / 1000));
  lw_json_kint(j, "unwind_us", (int64_t)(s->unwind_ns / 1000));
  lw_json_end_object(j);
}

static void json_problem(lw_json_t *j, const lw_thread_stack_t *t) {
  lw_json_key(j, "problem");
  t->problem[0] ? lw_json_string(j, t->problem) : lw_json_null(j);
}

static void print_json(lw_thread_stacks_t *stacks, const group_t *groups, size_t n_groups,
                       bool all) {
  lw_json_t j;
  lw_json_init(&j, stdout);
  lw_json_begin_object(&j);
  lw_json_kint(&j, "pid", stacks->pid);
  lw_json_kint(&j, "n_threads", (int64_t)stacks->n_threads);
  json_capture(&j, stacks);
  if (all) {
    qsort(stacks->threads, stacks->n_threads, sizeof *stacks->threads, by_tid);
    lw_json_key(&j, "threads");
    lw_json_begin_array(&j);
    for (size_t i = 0; i < stacks->n_threads; i++) {
      const lw_thread_stack_t *t = &stacks->threads[i];
      lw_json_begin_object(&j);
      lw_json_kint(&j, "tid", t->tid);
      lw_json_kstring(&j, "name", t->name);
      json_thread_fields(&j, t);
      lw_json_kbool(&j, "paused", t->capture == LW_CAPTURE_STOPPED);
      lw_json_kint(&j, "pause_us", (int64_t)(t->held_ns / 1000));
      json_problem(&j, t);
      json_frames(&j, t);
      lw_json_end_object(&j);
    }
    lw_json_end_array(&j);
  } else {
    lw_json_key(&j, "groups");
    lw_json_begin_array(&j);
    for (size_t i = 0; i < n_groups; i++) {
      const group_t *g = &groups[i];
      lw_json_begin_object(&j);
      lw_json_kint(&j, "count", (int64_t)g->count);
      json_thread_fields(&j, g->shown);
      lw_json_key(&j, "names");
      lw_json_begin_array(&j);
      for (size_t k = 0; k < g->count; k++) {
        bool seen = false;
        for (size_t m = 0; m < k && !seen; m++)
          seen = strcmp(g->first[m].name, g->first[k].name) == 0;
        if (!seen)
          lw_json_string(&j, g->first[k].name);
      }
      lw_json_end_array(&j);
      lw_json_key(&j, "tids");
      lw_json_begin_array(&j);
      for (size_t k = 0; k < g->count; k++)
        lw_json_int(&j, g->first[k].tid);
      lw_json_end_array(&j);
      json_frames(&j, g->first);
      lw_json_end_object(&j);
    }
    lw_json_end_array(&j);
  }
  lw_json_end_object(&j);
  fputc('\n', stdout);
}

/* ---- the command ---------------------------------------------------------------------------- */

int lw_cmd_stack(int argc, char **argv) {
  bool all = false, json = false, verbose = false;
  lw_cli_parser_t parser;
  lw_cli_parser_init(&parser, &spec, argc, argv, false);
  const char *value;
  int option;
  while ((option = lw_cli_next(&parser, &value)) != LW_CLI_END) {
    const char *name = options[option].long_name;
    if (strcmp(name, "all") == 0)
      all = true;
    else if (strcmp(name, "json") == 0)
      json = true;
    else if (strcmp(name, "verbose") == 0)
      verbose = true;
  }
  int pid = 0;
  int pid_status = lw_cli_take_pid(&parser, &spec, &pid);
  if (pid_status != 0)
    return pid_status;

  lw_thread_stacks_t stacks;
  char error[512];
  if (lw_thread_stacks_capture(pid, &stacks, error, sizeof error) < 0) {
    lw_cli_error("%s", error);
    return LW_EXIT_FAILURE;
  }
  if (lw_thread_stacks_unwind(&stacks, error, sizeof error) < 0) {
    lw_cli_error("%s", error);
    lw_thread_stacks_free(&stacks);
    return LW_EXIT_FAILURE;
  }
  if (verbose)
    fprintf(lw_cli_diagnostics(),
            "leakwatch: stack: %zu threads: %zu stopped one at a time (from interrupt to resume: "
            "longest %.1f us, mean %.1f us; held after it stopped: longest %.1f us, mean %.1f "
            "us), %zu read without stopping, %zu interrupted calls restarted, %zu signals that "
            "arrived meanwhile passed on; capture %.2f ms, unwind and symbolize %.1f ms\n",
            stacks.n_threads, stacks.n_stopped, (double)stacks.max_stop_ns / 1e3,
            stacks.n_stopped ? (double)stacks.total_stop_ns / (double)stacks.n_stopped / 1e3 : 0,
            (double)stacks.max_held_ns / 1e3,
            stacks.n_stopped ? (double)stacks.total_held_ns / (double)stacks.n_stopped / 1e3 : 0,
            stacks.n_unstopped, stacks.n_restarted, stacks.n_signals_passed,
            (double)stacks.capture_ns / 1e6,
            (double)stacks.unwind_ns / 1e6);
  size_t n_groups = 0;
  group_t *groups = NULL;
  if (!all) {
    groups = group_threads(&stacks, &n_groups);
    if (!groups) {
      lw_cli_error("out of memory grouping %zu threads", stacks.n_threads);
      lw_thread_stacks_free(&stacks);
      return LW_EXIT_FAILURE;
    }
  }
  if (json)
    print_json(&stacks, groups, n_groups, all);
  else if (all)
    print_all(&stacks);
  else
    print_groups(&stacks, groups, n_groups);
  free(groups);
  lw_thread_stacks_free(&stacks);
  if (fflush(stdout) != 0 || ferror(stdout)) {
    lw_cli_error("cannot write the output: standard output failed");
    return LW_EXIT_FAILURE;
  }
  return LW_EXIT_OK;
}
