/*
 * cmd_list.c - `leakwatch list FUNC FILE`: the source of the functions matching FUNC with
 * the value attributed to each line: flat where the line allocated itself, cum where the
 * allocation happened in something it called (inlined callees included), as `go tool
 * pprof -list`. When the source file cannot be read, the per-line values are still shown
 * and the reason is given.
 */
#include <errno.h>
#include <inttypes.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/json.h"
#include "cli/open_profile.h"
#include "cli/symbolize.h"
#include "cli/view.h"

#define MAX_SOURCE_PATHS 16
#define CONTEXT_LINES 2
#define MAX_LISTED_LINES 400

static const lw_cli_option_t options[] = {
    {"sample", 's', "TYPE", "value to show (default: the profile's default, inuse_space for "
                            "heap profiles)"},
    {"source-path", 0, "DIR", "look for sources under DIR too (tried with shorter and shorter "
                              "ends of the recorded path); repeatable"},
    {"focus", 0, "RE", "only stacks with a frame matching RE"},
    {"ignore", 0, "RE", "drop stacks with a frame matching RE"},
    {"json", 0, NULL, "print JSON instead of text"},
    {"debug-dir", 0, "DIR", LW_OPEN_HELP_DEBUG_DIR},
    {"no-symbolize", 0, NULL, LW_OPEN_HELP_NO_SYMBOLIZE},
    {NULL, 0, NULL, NULL},
};

static const lw_cli_spec_t spec = {
    "list",
    "leakwatch list [OPTIONS] FUNC FILE",
    "Show the source of the functions whose name matches the regular expression FUNC, with\n"
    "the memory attributed to each line (flat: allocated on that line; cum: on that line or\n"
    "in what it called).",
    options,
    "Examples:\n"
    "  leakwatch list 'Cache::insert' heap.pb.gz\n"
    "  leakwatch list --source-path ~/src/app '^grow' heap.pb.gz",
};

typedef struct line_value {
  int64_t line, flat, cum;
  size_t stamp;
} line_value_t;

typedef struct listed {
  int64_t name, filename; /* string indexes */
  int64_t start_line;
  line_value_t *lines;
  size_t n, cap;
} listed_t;

static line_value_t *line_slot(listed_t *f, int64_t line) {
  for (size_t i = 0; i < f->n; i++)
    if (f->lines[i].line == line)
      return &f->lines[i];
  if (f->n == f->cap) {
    size_t cap = f->cap ? f->cap * 2 : 16;
    line_value_t *grown = realloc(f->lines, cap * sizeof *grown);
    if (!grown)
      return NULL;
    f->lines = grown;
    f->cap = cap;
  }
  f->lines[f->n] = (line_value_t){line, 0, 0, 0};
  return &f->lines[f->n++];
}

static int by_line(const void *a, const void *b) {
  const line_value_t *x = a, *y = b;
  return x->line < y->line ? -1 : x->line > y->line;
}

/* Opens the source: the recorded path, then under each --source-path with the recorded path
 * cut from the left one directory at a time (/build/app/src/x.c -> DIR/app/src/x.c, ...). */
/* Source files are named by the profile: opened as regular files only (symbolize.h). */
static FILE *open_named(const char *path) {
  int fd = lw_open_named_file(path);
  if (fd < 0)
    return NULL;
  FILE *f = fdopen(fd, "r");
  if (!f) {
    int saved = errno;
    close(fd);
    errno = saved;
  }
  return f;
}

static FILE *open_source(const char *path, const char *const *dirs, size_t n_dirs, char *found,
                         size_t found_size, int *err) {
  FILE *f = open_named(path);
  *err = errno;
  if (f) {
    snprintf(found, found_size, "%s", path);
    return f;
  }
  for (size_t d = 0; d < n_dirs; d++) {
    for (const char *rest = path; rest; rest = strchr(rest + 1, '/')) {
      const char *tail = rest[0] == '/' ? rest + 1 : rest;
      if (!tail[0])
        break;
      snprintf(found, found_size, "%s/%s", dirs[d], tail);
      f = open_named(found);
      if (f)
        return f;
    }
  }
  return NULL;
}

/* A source line as the terminal may show it: tabs kept, a CRLF file's \r dropped, any
 * other control character or invalid UTF-8 escaped (symbolize.h), as the file is whatever
 * the profile's debug info names. NULL when memory ran out. */
static char *terminal_text(char *line) {
  size_t len = strlen(line);
  if (len && line[len - 1] == '\r')
    line[--len] = '\0';
  size_t need = 1;
  for (char *piece = line;; piece++) {
    char *tab = strchr(piece, '\t');
    if (tab)
      *tab = '\0';
    need += lw_escape_text(NULL, 0, piece) + 1;
    if (!tab)
      break;
    *tab = '\t';
    piece = tab;
  }
  char *out = malloc(need);
  size_t at = 0;
  for (char *piece = line; out;) {
    char *tab = strchr(piece, '\t');
    if (tab)
      *tab = '\0';
    at += lw_escape_text(out + at, need - at, piece);
    if (!tab)
      break;
    *tab = '\t';
    out[at++] = '\t';
    piece = tab + 1;
  }
  return out;
}

/* Reads lines [first, last] of the source into texts (malloc'ed strings; a line longer
 * than the buffer keeps its first 4095 bytes). */
static void read_lines(FILE *f, int64_t first, int64_t last, char **texts) {
  char buf[4096];
  int64_t n = 0;
  bool at_start = true;
  while (fgets(buf, sizeof buf, f)) {
    if (at_start)
      n++;
    size_t len = strlen(buf);
    bool complete = len > 0 && buf[len - 1] == '\n';
    if (complete)
      buf[len - 1] = '\0';
    if (n > last)
      break;
    if (n >= first && at_start && !texts[n - first])
      texts[n - first] = terminal_text(buf);
    at_start = complete;
  }
}

int lw_cmd_list(int argc, char **argv) {
  lw_cli_parser_t parser;
  lw_cli_parser_init(&parser, &spec, argc, argv, false);
  lw_open_options_t open = {{NULL}, 0, false};
  lw_view_options_t view_options = {NULL, LW_VIEW_FUNCTIONS, NULL, NULL};
  const char *source_paths[MAX_SOURCE_PATHS];
  size_t n_source_paths = 0;
  bool json = false;
  const char *value;
  int option;
  int status = LW_EXIT_USAGE;
  while ((option = lw_cli_next(&parser, &value)) != LW_CLI_END) {
    const char *name = options[option].long_name;
    if (lw_open_option(&open, name, value))
      continue;
    if (strcmp(name, "sample") == 0)
      view_options.sample = lw_cli_nonempty(&spec, name, value);
    else if (strcmp(name, "source-path") == 0) {
      if (n_source_paths == MAX_SOURCE_PATHS) {
        lw_cli_usage_error(&spec, "too many --source-path options (at most %d)", MAX_SOURCE_PATHS);
        goto out;
      }
      source_paths[n_source_paths++] = value;
    } else if (strcmp(name, "focus") == 0)
      view_options.focus = value;
    else if (strcmp(name, "ignore") == 0)
      view_options.ignore = value;
    else if (strcmp(name, "json") == 0)
      json = true;
  }
  if (parser.n_positionals != 2) {
    lw_cli_usage_error(&spec, "expected a function regexp and a profile file, got %d arguments",
                       parser.n_positionals);
    goto out;
  }
  const char *pattern = parser.positionals[0], *path = parser.positionals[1];
  regex_t re;
  int rc = regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB);
  if (rc != 0) {
    char reason[256];
    regerror(rc, &re, reason, sizeof reason);
    lw_cli_usage_error(&spec, "bad regular expression '%s': %s", pattern, reason);
    goto out;
  }
  status = LW_EXIT_FAILURE;
  lw_profile_t profile;
  lw_view_t view;
  listed_t *fns = NULL;
  size_t n_fns = 0;
  if (lw_open_profile(path, &open, &profile) < 0) {
    regfree(&re);
    goto out;
  }
  char error[512];
  if (lw_view_build(&view, &profile, &view_options, error, sizeof error) < 0) {
    lw_cli_error("'%s': %s", path, error);
    lw_profile_free(&profile);
    regfree(&re);
    goto out;
  }
  /* Matching functions, grouped by name and file (one listing per source file). */
  int32_t *fn_of = malloc((profile.n_functions + 1) * sizeof *fn_of);
  fns = calloc(profile.n_functions + 1, sizeof *fns);
  if (!fn_of || !fns)
    goto oom;
  for (size_t i = 0; i < profile.n_functions; i++) {
    const lw_profile_function_t *f = &profile.functions[i];
    fn_of[i] = -1;
    if (regexec(&re, lw_profile_str(&profile, f->name), 0, NULL, 0) != 0)
      continue;
    for (size_t k = 0; k < n_fns; k++)
      if (fns[k].name == f->name && fns[k].filename == f->filename)
        fn_of[i] = (int32_t)k;
    if (fn_of[i] < 0) {
      fns[n_fns] = (listed_t){f->name, f->filename, f->start_line, NULL, 0, 0};
      fn_of[i] = (int32_t)n_fns++;
    }
  }
  if (n_fns == 0) {
    lw_cli_error("'%s': no function matches '%s'", path, pattern);
    goto done;
  }
  /* Per sample: flat on the allocating line, cum once per line on the stack. */
  for (size_t s = 0; s < profile.n_samples; s++) {
    int64_t v = lw_view_value(&view, s);
    if (!lw_view_kept(&view, s) || v == 0)
      continue;
    const lw_profile_sample_t *sample = &profile.samples[s];
    const uint64_t *ids = lw_sample_locations(&profile, sample);
    bool leaf = true;
    for (uint32_t k = view.sample_skip[s]; k < sample->n_locations; k++) {
      const lw_profile_location_t *l = lw_profile_location(&profile, ids[k]);
      if (!l)
        continue;
      const lw_profile_line_t *lines = lw_location_lines(&profile, l);
      for (uint32_t j = 0; j < l->n_lines; j++, leaf = false) {
        const lw_profile_function_t *f = lw_profile_function(&profile, lines[j].function_id);
        if (!f || fn_of[f - profile.functions] < 0)
          continue;
        line_value_t *slot = line_slot(&fns[fn_of[f - profile.functions]], lines[j].line);
        if (!slot)
          goto oom;
        if (leaf)
          slot->flat += v;
        if (slot->stamp != s + 1) {
          slot->stamp = s + 1;
          slot->cum += v;
        }
      }
      if (l->n_lines == 0)
        leaf = false;
    }
  }

  lw_json_t j;
  if (json) {
    lw_json_init(&j, stdout);
    lw_json_begin_object(&j);
    lw_json_kstring(&j, "file", path);
    lw_json_kstring(&j, "sample_type", view.sample_type);
    lw_json_kstring(&j, "unit", view.sample_unit);
    lw_json_key(&j, "functions");
    lw_json_begin_array(&j);
  }
  for (size_t k = 0; k < n_fns; k++) {
    listed_t *f = &fns[k];
    qsort(f->lines, f->n, sizeof *f->lines, by_line);
    const char *name = lw_profile_str(&profile, f->name);
    const char *file = lw_profile_str(&profile, f->filename);
    int64_t first = 0, last = -1;
    for (size_t i = 0; i < f->n; i++) {
      if (f->lines[i].line <= 0)
        continue;
      if (last < 0)
        first = f->lines[i].line;
      last = f->lines[i].line;
    }
    char reason[1024] = "", found[4096] = "";
    char **texts = NULL;
    if (!file[0] || last < 0) {
      snprintf(reason, sizeof reason,
               "no line information for %s (the binary has symbols but no DWARF line tables: "
               "build with -g, or give its split debug info with --debug-dir)",
               name);
    } else {
      if (f->start_line > 0 && f->start_line < first && first - f->start_line < 50)
        first = f->start_line;
      first = first > CONTEXT_LINES ? first - CONTEXT_LINES : 1;
      last += CONTEXT_LINES;
      if (last - first + 1 > MAX_LISTED_LINES)
        last = first + MAX_LISTED_LINES - 1;
      int err = 0;
      FILE *src = open_source(file, source_paths, n_source_paths, found, sizeof found, &err);
      if (!src) {
        snprintf(reason, sizeof reason, "source file '%s' not readable: %s%s", file,
                 err == ENODEV ? "not a regular file" : strerror(err),
                 n_source_paths ? " (also looked under --source-path)"
                                : " (use --source-path DIR)");
      } else {
        texts = calloc((size_t)(last - first + 1), sizeof *texts);
        if (texts)
          read_lines(src, first, last, texts);
        fclose(src);
      }
    }
    char a[32], b[32];
    if (json) {
      lw_json_begin_object(&j);
      lw_json_kstring(&j, "name", name);
      lw_json_kstring(&j, "source_file", file);
      lw_json_kbool(&j, "source_found", texts != NULL);
      if (reason[0])
        lw_json_kstring(&j, "reason", reason);
      lw_json_key(&j, "lines");
      lw_json_begin_array(&j);
    } else {
      printf("ROUTINE ======================== %s in %s\n", name, file[0] ? file : "(unknown file)");
      if (reason[0])
        printf("  (%s)\n", reason);
      printf("%10s %10s  (%s)\n", "flat", "cum", view.sample_type);
    }
    size_t next = 0;
    if (texts) {
      for (int64_t line = first; line <= last; line++) {
        const char *text = texts[line - first];
        while (next < f->n && f->lines[next].line < line)
          next++;
        const line_value_t *lv = next < f->n && f->lines[next].line == line ? &f->lines[next] : NULL;
        if (!text && !lv)
          continue;
        if (json) {
          lw_json_begin_object(&j);
          lw_json_kint(&j, "line", line);
          lw_json_kint(&j, "flat", lv ? lv->flat : 0);
          lw_json_kint(&j, "cum", lv ? lv->cum : 0);
          lw_json_kstring(&j, "text", text ? text : "");
          lw_json_end_object(&j);
          continue;
        }
        if (lv && lv->flat)
          lw_view_format_value(&view, lv->flat, a, sizeof a);
        else
          snprintf(a, sizeof a, ".");
        if (lv && lv->cum)
          lw_view_format_value(&view, lv->cum, b, sizeof b);
        else
          snprintf(b, sizeof b, ".");
        printf("%10s %10s %6" PRId64 ": %s\n", a, b, line, text ? text : "");
      }
    } else {
      for (size_t i = 0; i < f->n; i++) {
        const line_value_t *lv = &f->lines[i];
        if (json) {
          lw_json_begin_object(&j);
          lw_json_kint(&j, "line", lv->line);
          lw_json_kint(&j, "flat", lv->flat);
          lw_json_kint(&j, "cum", lv->cum);
          lw_json_end_object(&j);
          continue;
        }
        lw_view_format_value(&view, lv->flat, a, sizeof a);
        lw_view_format_value(&view, lv->cum, b, sizeof b);
        printf("%10s %10s %6" PRId64 "\n", a, b, lv->line);
      }
    }
    if (json) {
      lw_json_end_array(&j);
      lw_json_end_object(&j);
    }
    if (texts)
      for (int64_t line = first; line <= last; line++)
        free(texts[line - first]);
    free(texts);
  }
  if (json) {
    lw_json_end_array(&j);
    lw_json_end_object(&j);
  }
  status = fflush(stdout) == 0 && !ferror(stdout) ? LW_EXIT_OK : LW_EXIT_FAILURE;
  goto done;
oom:
  lw_cli_error("'%s': out of memory", path);
done:
  for (size_t k = 0; fns && k < n_fns; k++)
    free(fns[k].lines);
  free(fns);
  free(fn_of);
  regfree(&re);
  lw_view_free(&view);
  lw_profile_free(&profile);
out:
  lw_cli_parser_free(&parser);
  return status;
}
