/*
 * cmd_run.c - `leakwatch run [OPTIONS] -- COMMAND [ARGS...]`: runs a command with the agent
 * preloaded, passes its exit status through, and then explains what it left allocated.
 *
 * The agent writes the profile as the target exits; this command then symbolizes it with
 * libdw (file:line, inline frames, demangled names), rewrites it in place so `go tool pprof`
 * shows the same, and prints the ranked report. Everything that can be checked before the
 * command starts is (rate, output directory, the command itself), so a mistake costs nothing.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/handle_report.h"
#include "cli/json.h"
#include "cli/leak_report.h"
#include "cli/leak_suspects.h"
#include "cli/memory_cap.h"
#include "cli/output.h"
#include "cli/profile_io.h"
#include "cli/symbolize.h"
#include "common/file.h"
#include "common/fmt.h"
#include "common/output_names.h"

static const lw_cli_option_t options[] = {
    {"rate", 'r', "BYTES", "mean bytes between samples (default 512k; 1 = every allocation, exact)"},
    {"output", 'o', "FILE", "heap profile to write (default ./leakwatch-<pid>.pb.gz)"},
    {"depth", 0, "N", "frames kept per stack (default 64, at most 128)"},
    {"top", 'n', "N", "allocation sites in the report (default 10)"},
    {"frames", 0, "N", "frames shown per site (default 8)"},
    {"json", 0, NULL, "print the report as JSON"},
    {"report", 0, "FILE", "write the report to FILE instead of stderr"},
    {"no-report", 0, NULL, "write the profile but print no report"},
    {"no-symbolize", 0, NULL, "keep the agent's ELF symbol names (skip DWARF symbolization)"},
    {"debug-dir", 0, "DIR", "also look for split debug info here (repeatable)"},
    {"agent", 0, "PATH", "the libleakwatch.so to preload (default: installed beside leakwatch)"},
    {"leaks", 'l', NULL, "also judge which sites grew during the run (leak verdicts)"},
    {"fds", 0, NULL, "also record who opened each file descriptor; report those left open"},
    {"history-interval", 0, "DURATION", "with --leaks: how often site history is taken (default 10s)"},
    {"min-window", 0, "DURATION", "with --leaks: run time needed before judging growth (default 3m)"},
    {"old-after", 0, "DURATION", "with --leaks: live allocations older than this count as old (default 1m)"},
    {"memory-max", 0, "SIZE", "run in a new memory cgroup capped at SIZE and report peak and OOM "
                              "kills (RLIMIT_AS where no cgroup is writable); heap snapshots at "
                              "80% and 90% of it (LEAKWATCH_SNAPSHOT_AT)"},
    {NULL, 0, NULL, NULL},
};

static const lw_cli_spec_t spec = {
    "run",
    "leakwatch run [OPTIONS] -- COMMAND [ARGS...]",
    "Runs COMMAND with libleakwatch.so preloaded. When it exits, prints what was still\n"
    "allocated (ranked by bytes, with stacks) and leaves a pprof heap profile. The exit\n"
    "status of COMMAND is passed through; death by signal N is reported and exits 128+N.\n"
    "TERM, HUP, INT, QUIT, USR1 and USR2 sent to leakwatch are passed on to COMMAND;\n"
    "TERM, HUP or INT that ends it at its default action (or a crash) still leaves the\n"
    "profile: the agent writes it first. An OOM kill leaves none: with --memory-max the\n"
    "last snapshot is shown.\n"
    "Statically linked and setuid/setgid programs are refused: the agent cannot get in.",
    options,
    "Examples:\n"
    "  leakwatch run -- ./my-service --flag\n"
    "  leakwatch run --rate 1 -o heap.pb.gz -- ./a.out     # every allocation, exact\n"
    "  go tool pprof -top -sample_index=inuse_space heap.pb.gz",
};

typedef struct {
  const char *rate;
  const char *output;
  uint64_t depth;
  uint64_t top;
  uint64_t frames;
  bool json;
  const char *report_path;
  bool no_report;
  bool no_symbolize;
  const char *debug_dirs[16];
  size_t n_debug_dirs;
  const char *agent;
  bool leaks;
  bool fds;
  const char *history_interval;
  const char *old_after;
  uint64_t min_window_ms;
  uint64_t memory_max; /* 0: no cap */
  char ended[64];      /* "at exit", or when a signal ended it (the agent wrote it then) */
} run_options_t;

/* libleakwatch.so: --agent, $LEAKWATCH_AGENT, then beside this binary (installed:
 * <prefix>/bin/leakwatch and <prefix>/lib/libleakwatch.so; same in the build tree). */
static bool find_agent(const char *given, char *out, size_t size) {
  const char *candidate = given ? given : getenv("LEAKWATCH_AGENT");
  if (candidate) {
    if (!realpath(candidate, out) || access(out, R_OK) != 0) {
      lw_cli_error("cannot use agent '%s': %s", candidate, strerror(errno));
      return false;
    }
    return true;
  }
  if (lw_cli_library_beside_binary("libleakwatch.so", out))
    return true;
  lw_cli_error("cannot find libleakwatch.so beside the leakwatch binary; pass --agent PATH");
  (void)size;
  return false;
}

/* Finds COMMAND as execvp would, so "not found" is reported before anything starts; the
 * file found goes to `found`. */
static bool command_exists(const char *command, char *found, size_t size) {
  if (strchr(command, '/')) {
    snprintf(found, size, "%s", command);
    return access(command, X_OK) == 0;
  }
  const char *path = getenv("PATH");
  if (!path)
    path = "/usr/local/bin:/usr/bin:/bin";
  char candidate[PATH_MAX];
  for (const char *p = path;; p++) {
    const char *end = strchr(p, ':');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    snprintf(candidate, sizeof candidate, "%.*s/%s", (int)len, len ? p : ".", command);
    struct stat st;
    if (stat(candidate, &st) == 0 && S_ISREG(st.st_mode) && access(candidate, X_OK) == 0) {
      snprintf(found, size, "%s", candidate);
      return true;
    }
    if (!end)
      return false;
    p = end;
  }
}

/* What the loader needs to know about an ELF file to preload into it. */
typedef struct {
  bool elf;       /* libelf could read it as ELF */
  bool is_static; /* program headers but no PT_INTERP: nothing loads it but the kernel */
  int elf_class;  /* ELFCLASS32 / ELFCLASS64 */
  int machine;    /* e_machine */
} elf_facts_t;

/* False for scripts and whatever libelf cannot read (do not refuse on a guess). */
static bool read_elf_facts(const char *path, elf_facts_t *facts) {
  memset(facts, 0, sizeof *facts);
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0)
    return false;
  elf_version(EV_CURRENT);
  Elf *elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
  GElf_Ehdr header;
  size_t n_headers;
  if (elf && elf_kind(elf) == ELF_K_ELF && gelf_getehdr(elf, &header) &&
      elf_getphdrnum(elf, &n_headers) == 0) {
    facts->elf = true;
    facts->elf_class = header.e_ident[EI_CLASS];
    facts->machine = header.e_machine;
    facts->is_static = n_headers > 0;
    for (size_t i = 0; i < n_headers && facts->is_static; i++) {
      GElf_Phdr phdr;
      if (!gelf_getphdr(elf, (int)i, &phdr) || phdr.p_type == PT_INTERP)
        facts->is_static = false; /* unreadable: do not refuse on a guess */
    }
  }
  elf_end(elf);
  close(fd);
  return facts->elf;
}

/* Why the agent cannot get into this program, or NULL if it can (or we cannot tell: a
 * file we cannot read). The dynamic loader is what preloads the agent, so a statically
 * linked program never has it; the loader ignores LD_PRELOAD paths for a program that
 * changes its user or group (docs/SECURITY.md); and it skips, with only a line on stderr,
 * an agent built for another ELF class or machine (a 32-bit program and the 64-bit agent).
 * A script is judged by its interpreter (#!); what a program execs later is only known
 * after the run (no profile, and a hint). */
static const char *uninstrumentable_reason(const char *path, const char *agent, int depth) {
  struct stat st;
  if (stat(path, &st) != 0)
    return NULL;
  if (((st.st_mode & S_ISUID) && st.st_uid != geteuid()) ||
      ((st.st_mode & S_ISGID) && st.st_gid != getegid()))
    return "it is setuid/setgid, and the loader ignores LD_PRELOAD for such programs";
  elf_facts_t program, ours;
  if (!read_elf_facts(path, &program)) {
    /* "#!/path/to/interpreter ...": the interpreter is what the loader starts. */
    char line[256];
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    ssize_t n = fd >= 0 ? read(fd, line, sizeof line - 1) : -1;
    if (fd >= 0)
      close(fd);
    if (depth > 0 || n < 3 || line[0] != '#' || line[1] != '!')
      return NULL;
    line[n] = '\0';
    char *interpreter = line + 2;
    while (*interpreter == ' ' || *interpreter == '\t')
      interpreter++;
    interpreter[strcspn(interpreter, " \t\r\n")] = '\0';
    const char *why =
        interpreter[0] == '/' ? uninstrumentable_reason(interpreter, agent, 1) : NULL;
    if (!why)
      return NULL;
    static char text[512];
    snprintf(text, sizeof text, "its interpreter '%s' cannot be profiled: %s", interpreter, why);
    return text;
  }
  if (program.is_static)
    return "it is statically linked, and only the dynamic loader can preload the agent";
  if (read_elf_facts(agent, &ours) &&
      (program.elf_class != ours.elf_class || program.machine != ours.machine)) {
    static char text[256];
    snprintf(text, sizeof text,
             "it is a %s program and the agent a %s library: the loader would skip the agent"
             " (it can only preload a library built like the program)",
             program.elf_class == ELFCLASS32 ? "32-bit" : "64-bit",
             ours.elf_class == ELFCLASS32 ? "32-bit" : "64-bit");
    if (program.elf_class == ours.elf_class)
      snprintf(text, sizeof text,
               "it is built for another machine (ELF e_machine %d, the agent %d): the loader "
               "would skip the agent", program.machine, ours.machine);
    return text;
  }
  return NULL;
}

/* The profile's directory must exist and be writable before we start the command. */
static bool output_writable(const char *path) {
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (!slash)
    snprintf(dir, sizeof dir, ".");
  else if (slash == dir)
    dir[1] = '\0';
  else
    *slash = '\0';
  struct stat st;
  if (stat(dir, &st) != 0) {
    lw_cli_error("cannot write profile '%s': directory '%s': %s", path, dir, strerror(errno));
    return false;
  }
  if (!S_ISDIR(st.st_mode) || access(dir, W_OK) != 0) {
    lw_cli_error("cannot write profile '%s': directory '%s' is not writable", path, dir);
    return false;
  }
  /* The agent refuses too (one log line, nothing written), but only after the run. */
  return lw_output_check_path(path, "profile") == 0;
}

static void set_preload(const char *agent) {
  const char *existing = getenv("LD_PRELOAD");
  if (!existing || !existing[0]) {
    setenv("LD_PRELOAD", agent, 1);
    return;
  }
  /* The agent goes first so it sees every allocation; an allocator preloaded by the user
   * (jemalloc, tcmalloc) comes next and is what the agent forwards to. */
  size_t len = strlen(agent) + strlen(existing) + 2;
  char *value = malloc(len);
  if (!value)
    return;
  snprintf(value, len, "%s:%s", agent, existing);
  setenv("LD_PRELOAD", value, 1);
  free(value);
}

/* Signals for the program that reach leakwatch: `kill` of leakwatch's pid (a service
 * manager, a test harness) is passed on to the program, and leakwatch waits to report. The
 * terminal's own signals (si_code SI_KERNEL: Ctrl-C, Ctrl-backslash, hangup) already reach the
 * program, which is in the same foreground process group, so they are not sent twice. */
static const int forwarded_signals[] = {SIGINT, SIGQUIT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2};
static volatile pid_t program_pid;

static void forward_signal(int signal_number, siginfo_t *info, void *context) {
  (void)context;
  if (program_pid > 0 && info->si_code != SI_KERNEL)
    kill(program_pid, signal_number);
}

/* Installs the forwarding; program_pid is set once the program is forked. */
static void forward_to_program(struct sigaction *old_actions) {
  program_pid = 0;
  struct sigaction action = {.sa_sigaction = forward_signal, .sa_flags = SA_SIGINFO | SA_RESTART};
  sigemptyset(&action.sa_mask);
  /* A signal leakwatch was started with ignored (nohup, a background job of a script)
   * stays ignored, so the program inherits that as it would without leakwatch. */
  for (size_t i = 0; i < sizeof forwarded_signals / sizeof forwarded_signals[0]; i++)
    if (sigaction(forwarded_signals[i], NULL, &old_actions[i]) == 0 &&
        old_actions[i].sa_handler != SIG_IGN)
      sigaction(forwarded_signals[i], &action, NULL);
}

static void restore_signals(const struct sigaction *old_actions) {
  program_pid = 0;
  for (size_t i = 0; i < sizeof forwarded_signals / sizeof forwarded_signals[0]; i++)
    sigaction(forwarded_signals[i], &old_actions[i], NULL);
}

static double elapsed_seconds(const struct timespec *start) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

static void symbolize_warning(void *context, const char *message) {
  (void)context;
  lw_cli_warn("%s", message);
}

/* The "grew during the run" section: verdicts from the history the agent wrote at exit. */
static void explain_growth(const run_options_t *o, const char *profile_path,
                           const lw_profile_t *const namers[3], FILE *out) {
  char path[PATH_MAX + 16], error[512];
  if (snprintf(path, sizeof path, "%s.history", profile_path) >= (int)sizeof path) {
    lw_cli_warn("profile path too long to find its history next to it");
    return;
  }
  lw_buf_t text;
  lw_buf_init(&text, &lw_libc_allocator);
  lw_history_t history;
  memset(&history, 0, sizeof history);
  int read = lw_read_file(path, &text, 1u << 30);
  if (read < 0) {
    lw_cli_warn("no site history at '%s' (%s): growth cannot be judged", path, strerror(-read));
  } else if (lw_history_parse((const char *)text.data, text.len, &history, error,
                              sizeof error) < 0) {
    lw_cli_warn("cannot read site history '%s': %s", path, error);
  } else {
    lw_leak_suspects_options_t so;
    memset(&so, 0, sizeof so);
    lw_leak_verdict_defaults(&so.verdict);
    so.verdict.min_window_seconds = (double)o->min_window_ms / 1000.0;
    so.max_sites = (int)o->top;
    so.max_frames = (int)o->frames;
    so.json = o->json;
    so.subject = "during the run";
    if (o->json)
      fprintf(out, ",\"grew_during_the_run\":");
    else
      fputc('\n', out);
    lw_leak_suspects_write(out, &history, namers, 3, &so);
  }
  lw_history_free(&history);
  lw_buf_free(&text);
}

/* Loads a profile the agent wrote and symbolizes it in place (rewriting the file), so the
 * report and any later `go tool pprof` show the same names. */
static int load_symbolized(const run_options_t *o, const char *path, lw_profile_t *profile) {
  char error[512];
  if (lw_cli_load_profile(path, profile, error, sizeof error) < 0) {
    lw_cli_error("%s", error);
    return -1;
  }
  if (!o->no_symbolize && lw_symbolize_needed(profile)) {
    lw_symbolize_options_t so = {o->debug_dirs, o->n_debug_dirs, false, symbolize_warning, NULL};
    lw_symbolize_result_t result;
    if (lw_symbolize_profile(profile, &so, &result) < 0)
      lw_cli_warn("out of memory while symbolizing '%s'; the report shows raw names", path);
    else if (lw_cli_save_profile(path, profile, error, sizeof error) < 0)
      lw_cli_warn("cannot rewrite the symbolized profile: %s", error);
  }
  return 0;
}

/* The threads (and with --fds, descriptors) still alive at exit, from the files the agent
 * wrote beside the profile (loaded by explain; NULL when there was none: none were left). */
static void explain_handles(const run_options_t *o, const lw_profile_t *profile,
                            const char *path, lw_handle_report_kind_t kind, FILE *out) {
  if (o->json)
    fprintf(out, kind == LW_HANDLE_REPORT_FDS ? ",\"fds_open_at_exit\":"
                                              : ",\"threads_running_at_exit\":");
  else if (!profile && kind == LW_HANDLE_REPORT_THREADS)
    return; /* most programs end their threads: say nothing rather than "none" */
  else
    fputc('\n', out);
  lw_handle_report_options_t ho = {kind, (int)o->top, (int)o->frames, o->json, path, o->ended};
  if (lw_handle_report_write(out, profile, &ho) < 0)
    lw_cli_warn("out of memory while reporting what was left at exit");
}

/* The last heap snapshot the agent wrote on the way up (LEAKWATCH_SNAPSHOT_AT: <output>.
 * snapshot-<n>, n from 1) during this run (not before `since`): false when there is none. */
static bool last_snapshot(const char *profile_path, time_t since, char *out, size_t size) {
  bool found = false;
  for (int n = 1; n <= 8; n++) {
    char path[PATH_MAX + 64];
    struct stat st;
    if (snprintf(path, sizeof path, "%s.snapshot-%d", profile_path, n) >= (int)sizeof path ||
        stat(path, &st) != 0)
      break;
    if (st.st_mtime >= since && snprintf(out, size, "%s", path) < (int)size)
      found = true;
  }
  return found;
}

/* The program died without an exit profile (the OOM killer's SIGKILL cannot be caught): the
 * last snapshot stands in, named, with its top sites. */
static void explain_snapshot(const run_options_t *o, const char *path, const char *output) {
  lw_profile_t profile;
  if (load_symbolized(o, path, &profile) < 0) {
    lw_profile_free(&profile);
    return;
  }
  lw_leak_report_options_t ro = {(int)o->top, (int)o->frames, o->json, path,
                                 "at the last snapshot"};
  if (o->json) {
    fprintf(stderr, "{\"last_snapshot\":");
    lw_json_quoted(stderr, path);
    fprintf(stderr, ",\"still_allocated_at_snapshot\":");
  } else {
    fprintf(stderr, "leakwatch: no heap profile at '%s' (a SIGKILL cannot be caught); the last "
                    "snapshot before the end is '%s':\n", output, path);
  }
  lw_leak_report_write(stderr, &profile, &ro);
  if (o->json)
    fprintf(stderr, "}\n");
  lw_profile_free(&profile);
}

/* Loads the profile beside profile_path for `kind` ("fds", "threads") if the agent wrote
 * one; false when there is none (or it cannot be read, which was said). */
static bool load_sidecar(const run_options_t *o, const char *profile_path, const char *kind,
                         char *path, size_t path_size, lw_profile_t *profile) {
  if (lw_output_sidecar_path(profile_path, kind, path, path_size) < 0 || access(path, F_OK) != 0)
    return false;
  if (load_symbolized(o, path, profile) < 0) {
    lw_profile_free(profile);
    return false;
  }
  return true;
}

/* Loads, symbolizes and rewrites the profiles, then reports. Returns false if there was no
 * usable heap profile. */
static bool explain(const run_options_t *o, const char *profile_path) {
  lw_profile_t profile, threads, fds;
  if (load_symbolized(o, profile_path, &profile) < 0) {
    lw_profile_free(&profile);
    return false;
  }
  char threads_path[PATH_MAX + 32], fds_path[PATH_MAX + 32];
  bool have_threads = load_sidecar(o, profile_path, "threads", threads_path,
                                   sizeof threads_path, &threads);
  bool have_fds = o->fds && load_sidecar(o, profile_path, "fds", fds_path, sizeof fds_path, &fds);
  if (!o->no_report) {
    /* --report FILE: made in memory, then put in place like the profiles (a temporary file
     * renamed over the name, 0600), so a symlink planted there is replaced, never followed. */
    FILE *out = stderr;
    lw_output_t file_out = {NULL, NULL, 0};
    if (o->report_path) {
      out = lw_output_begin(&file_out) == 0 ? file_out.stream : NULL;
    }
    if (out) {
      /* JSON: one object whose keys are the report's sections, the same for every run with
       * the same options. */
      lw_leak_report_options_t ro = {(int)o->top, (int)o->frames, o->json, profile_path,
                                     o->ended};
      if (o->json)
        fprintf(out, "{\"still_allocated_at_exit\":");
      lw_leak_report_write(out, &profile, &ro);
      if (o->leaks) {
        const lw_profile_t *namers[3] = {&profile, have_fds ? &fds : NULL,
                                         have_threads ? &threads : NULL};
        explain_growth(o, profile_path, namers, out);
      }
      explain_handles(o, have_threads ? &threads : NULL, threads_path, LW_HANDLE_REPORT_THREADS,
                      out);
      if (o->fds)
        explain_handles(o, have_fds ? &fds : NULL, fds_path, LW_HANDLE_REPORT_FDS, out);
      if (o->json)
        fprintf(out, "}\n");
      if (out != stderr)
        lw_output_commit(&file_out, o->report_path); /* says why when it cannot */
    }
  }
  if (have_threads)
    lw_profile_free(&threads);
  if (have_fds)
    lw_profile_free(&fds);
  lw_profile_free(&profile);
  return true;
}

int lw_cmd_run(int argc, char **argv) {
  run_options_t o;
  memset(&o, 0, sizeof o);
  o.depth = 64;
  o.top = 10;
  o.frames = 8;
  o.min_window_ms = 180000;
  lw_cli_parser_t parser;
  lw_cli_parser_init(&parser, &spec, argc, argv, true);
  const char *value;
  int option;
  uint64_t rate_bytes = 0;
  while ((option = lw_cli_next(&parser, &value)) != LW_CLI_END) {
    const char *name = options[option].long_name;
    if (strcmp(name, "rate") == 0) {
      if (!lw_cli_parse_size(&spec, name, value, &rate_bytes))
        return LW_EXIT_USAGE;
      if (rate_bytes < 1)
        return lw_cli_usage_error(&spec, "--rate must be at least 1 byte");
      o.rate = value;
    } else if (strcmp(name, "output") == 0) {
      o.output = value;
    } else if (strcmp(name, "depth") == 0) {
      if (!lw_cli_parse_uint(&spec, name, value, 1, 128, &o.depth))
        return LW_EXIT_USAGE;
    } else if (strcmp(name, "top") == 0) {
      if (!lw_cli_parse_uint(&spec, name, value, 1, 100000, &o.top))
        return LW_EXIT_USAGE;
    } else if (strcmp(name, "frames") == 0) {
      if (!lw_cli_parse_uint(&spec, name, value, 1, 256, &o.frames))
        return LW_EXIT_USAGE;
    } else if (strcmp(name, "json") == 0) {
      o.json = true;
    } else if (strcmp(name, "report") == 0) {
      o.report_path = value;
    } else if (strcmp(name, "no-report") == 0) {
      o.no_report = true;
    } else if (strcmp(name, "no-symbolize") == 0) {
      o.no_symbolize = true;
    } else if (strcmp(name, "debug-dir") == 0) {
      if (o.n_debug_dirs == sizeof o.debug_dirs / sizeof o.debug_dirs[0])
        return lw_cli_usage_error(&spec, "too many --debug-dir options (at most 16)");
      o.debug_dirs[o.n_debug_dirs++] = value;
    } else if (strcmp(name, "agent") == 0) {
      o.agent = value;
    } else if (strcmp(name, "leaks") == 0) {
      o.leaks = true;
    } else if (strcmp(name, "fds") == 0) {
      o.fds = true;
    } else if (strcmp(name, "history-interval") == 0) {
      uint64_t ms;
      if (!lw_cli_parse_duration_ms(&spec, name, value, &ms))
        return LW_EXIT_USAGE;
      if (ms < 100)
        return lw_cli_usage_error(&spec, "--history-interval must be at least 100ms");
      o.history_interval = value;
    } else if (strcmp(name, "min-window") == 0) {
      if (!lw_cli_parse_duration_ms(&spec, name, value, &o.min_window_ms))
        return LW_EXIT_USAGE;
    } else if (strcmp(name, "old-after") == 0) {
      uint64_t ms;
      if (!lw_cli_parse_duration_ms(&spec, name, value, &ms))
        return LW_EXIT_USAGE;
      if (ms < 1000)
        return lw_cli_usage_error(&spec, "--old-after must be at least 1s");
      o.old_after = value;
    } else if (strcmp(name, "memory-max") == 0) {
      if (!lw_cli_parse_size(&spec, name, value, &o.memory_max))
        return LW_EXIT_USAGE;
      if (o.memory_max < 4096)
        return lw_cli_usage_error(&spec, "--memory-max must be at least 4 KiB");
    }
  }
  int command_index = parser.index;
  lw_cli_parser_free(&parser);
  if (command_index >= argc)
    return lw_cli_usage_error(&spec, "no command given (put it after --)");
  char **command = argv + command_index;

  char agent[PATH_MAX];
  if (!find_agent(o.agent, agent, sizeof agent))
    return LW_EXIT_FAILURE;
  char program[PATH_MAX];
  if (!command_exists(command[0], program, sizeof program)) {
    lw_cli_error("cannot run '%s': command not found", command[0]);
    return LW_EXIT_NOT_FOUND;
  }
  const char *refusal = uninstrumentable_reason(program, agent, 0);
  if (refusal) {
    lw_cli_error("cannot profile '%s': %s", command[0], refusal);
    return LW_EXIT_FAILURE;
  }
  if (o.output && !output_writable(o.output))
    return LW_EXIT_FAILURE;
  if (!o.output && !output_writable("./leakwatch.pb.gz"))
    return LW_EXIT_FAILURE;
  if (o.report_path && !o.no_report && lw_output_check_path(o.report_path, "report") != 0)
    return LW_EXIT_FAILURE;

  /* The target may chdir: give the agent an absolute path. */
  char output[2 * PATH_MAX + 64]; /* cwd + "/" + a path: cannot truncate */
  char cwd[PATH_MAX];
  if (!getcwd(cwd, sizeof cwd)) {
    lw_cli_error("cannot determine the current directory: %s", strerror(errno));
    return LW_EXIT_FAILURE;
  }

  lw_memory_cap_t cap; /* memory_cap.h: prepare, enter in the child, wait, collect, report */
  if (o.memory_max) {
    if (lw_memory_cap_prepare(&cap, o.memory_max, NULL) != 0) {
      lw_cli_error("--memory-max: %s", cap.warning);
      return LW_EXIT_FAILURE;
    }
    if (cap.warning[0])
      lw_cli_warn("--memory-max: %s", cap.warning);
  }

  /* A profile already at -o is not this run's: remembered, so it is not reported as one. */
  struct stat before;
  bool had_before = o.output && stat(o.output, &before) == 0;

  struct timespec started;
  clock_gettime(CLOCK_MONOTONIC, &started);
  time_t started_wall = time(NULL) - 1; /* file times are whole seconds here */
  fflush(NULL);
  /* leakwatch outlives the signals meant for the program, to report after it: they are
   * passed on (exec resets the handlers in the child). */
  struct sigaction old_actions[sizeof forwarded_signals / sizeof forwarded_signals[0]];
  forward_to_program(old_actions);
  pid_t child = fork();
  if (child < 0) {
    lw_cli_error("cannot start '%s': %s", command[0], strerror(errno));
    return LW_EXIT_FAILURE;
  }
  if (child == 0) {
    char pid_text[32];
    snprintf(pid_text, sizeof pid_text, "%d", (int)getpid());
    if (o.output && o.output[0] == '/')
      snprintf(output, sizeof output, "%s", o.output);
    else if (o.output)
      snprintf(output, sizeof output, "%s/%s", cwd, o.output);
    else
      snprintf(output, sizeof output, "%s/leakwatch-%s.pb.gz", cwd, pid_text);
    set_preload(agent);
    setenv("LEAKWATCH_OUTPUT", output, 1);
    if (o.leaks) {
      char history[sizeof output + 16];
      snprintf(history, sizeof history, "%s.history", output);
      setenv("LEAKWATCH_HISTORY_OUTPUT", history, 1);
      if (o.history_interval)
        setenv("LEAKWATCH_HISTORY_INTERVAL", o.history_interval, 1);
      if (o.old_after)
        setenv("LEAKWATCH_HISTORY_OLD_AFTER", o.old_after, 1);
    }
    setenv("LEAKWATCH_ROOT_PID", pid_text, 1);
    if (o.fds)
      setenv("LEAKWATCH_TRACK_FDS", "1", 1);
    if (o.rate)
      setenv("LEAKWATCH_RATE", o.rate, 1);
    char depth_text[16];
    snprintf(depth_text, sizeof depth_text, "%llu", (unsigned long long)o.depth);
    setenv("LEAKWATCH_DEPTH", depth_text, 1);
    /* Under a cgroup cap, a profile on the way up: the OOM killer leaves no chance for one
     * at the end (LEAKWATCH_SNAPSHOT_AT; the caller's own setting wins). */
    if (o.memory_max && cap.mode != LW_CAP_RLIMIT_AS)
      setenv("LEAKWATCH_SNAPSHOT_AT", "80%,90%", 0);
    int cap_rc = o.memory_max ? lw_memory_cap_enter(&cap) : 0;
    if (cap_rc != 0) {
      fprintf(stderr, "leakwatch: cannot enter the memory cap: %s\n", strerror(-cap_rc));
      _exit(126);
    }
    execvp(command[0], command);
    int saved = errno;
    fprintf(stderr, "leakwatch: cannot run '%s': %s\n", command[0], strerror(saved));
    _exit(saved == ENOENT ? LW_EXIT_NOT_FOUND : 126);
  }
  program_pid = child;
  int status = 0;
  struct rusage usage;
  if (o.memory_max) {
    lw_memory_cap_started(&cap);
    int rc = lw_memory_cap_wait(&cap, child, &status, &usage);
    if (rc != 0) {
      lw_cli_error("lost track of '%s' (pid %d): %s", command[0], (int)child, strerror(-rc));
      lw_memory_cap_cleanup(&cap);
      return LW_EXIT_FAILURE;
    }
  }
  while (!o.memory_max && waitpid(child, &status, 0) < 0) {
    if (errno != EINTR) {
      lw_cli_error("lost track of '%s' (pid %d): %s", command[0], (int)child, strerror(errno));
      return LW_EXIT_FAILURE;
    }
  }
  restore_signals(old_actions);
  double seconds = elapsed_seconds(&started);
  if (o.memory_max) {
    lw_memory_cap_result_t capped;
    lw_memory_cap_collect(&cap, status, &usage, &capped);
    lw_buf_t text;
    lw_buf_init(&text, &lw_libc_allocator);
    if (o.json) {
      lw_buf_append_str(&text, "{\"memory_cap\":");
      lw_memory_cap_report_json(&capped, &text);
      lw_buf_append_str(&text, "}\n");
    } else {
      lw_memory_cap_report(&capped, &text);
    }
    if (!lw_buf_failed(&text))
      fwrite(text.data, 1, text.len, stderr);
    lw_buf_free(&text);
    if (lw_memory_cap_cleanup(&cap) != 0)
      lw_cli_warn("--memory-max: %s", cap.warning);
  }

  if (o.output && o.output[0] == '/')
    snprintf(output, sizeof output, "%s", o.output);
  else if (o.output)
    snprintf(output, sizeof output, "%s", o.output);
  else
    snprintf(output, sizeof output, "leakwatch-%d.pb.gz", (int)child);

  int exit_code;
  snprintf(o.ended, sizeof o.ended, "at exit");
  if (WIFSIGNALED(status)) {
    int signal_number = WTERMSIG(status);
    snprintf(o.ended, sizeof o.ended, "when signal %d ended it", signal_number);
    lw_cli_error("'%s' (pid %d) was killed by signal %d (%s) after %.2f s", command[0],
                 (int)child, signal_number, strsignal(signal_number), seconds);
    exit_code = 128 + signal_number;
  } else {
    exit_code = WEXITSTATUS(status);
    if (exit_code == LW_EXIT_NOT_FOUND || exit_code == 126) {
      /* exec failed in the child: it said why; there is no profile to explain. */
      struct stat st;
      if (stat(output, &st) != 0)
        return exit_code;
    }
    if (!o.no_report && !o.json)
      fprintf(stderr, "leakwatch: '%s' (pid %d) exited with status %d after %.2f s\n",
              command[0], (int)child, exit_code, seconds);
  }
  struct stat st;
  bool stale = had_before && stat(output, &st) == 0 && st.st_ino == before.st_ino &&
               st.st_dev == before.st_dev && st.st_mtim.tv_sec == before.st_mtim.tv_sec &&
               st.st_mtim.tv_nsec == before.st_mtim.tv_nsec;
  char snapshot[PATH_MAX + 64];
  if ((stale || stat(output, &st) != 0) && WIFSIGNALED(status) &&
      last_snapshot(output, started_wall, snapshot, sizeof snapshot)) {
    explain_snapshot(&o, snapshot, output);
    return exit_code;
  }
  if (stale || stat(output, &st) != 0) {
    /* Killed, or the agent never ran in the process that exited: the program exec'd one it
     * cannot enter (a 32-bit or static program, from a script), or it ended with _exit. */
    lw_cli_error("no %sheap profile at '%s': the agent writes it when the program exits "
                 "normally%s", stale ? "new " : "", output,
                 WIFSIGNALED(status) ? " (not when it is killed)"
                 : " (not if it ends by exec'ing a program the agent cannot enter: 32-bit, "
                   "static or setuid)");
    return exit_code ? exit_code : LW_EXIT_FAILURE;
  }
  explain(&o, output);
  if (!o.json && !o.no_report && last_snapshot(output, started_wall, snapshot, sizeof snapshot))
    fprintf(stderr, "leakwatch: heap snapshots on the way up, the last '%s' "
                    "(leakwatch diff compares two)\n", snapshot);
  return exit_code;
}
