/*
 * leak_report.c - renders what a heap profile says is still allocated, ranked by bytes.
 *
 * A "site" is one sample of the profile (one distinct stack). The site is named by its
 * first frame outside the allocator (operator new, strdup and friends are shown in the stack
 * but are not the place a user would fix). Values are the profile's in-use estimates.
 */
#include "cli/leak_report.h"

#include <stdlib.h>
#include <string.h>

#include "cli/json.h"
#include "cli/symbolize.h"
#include "common/units.h"

typedef struct {
  size_t sample;
  int64_t bytes;
  int64_t objects;
  int reachability; /* index into reach_names, or -1 when the profile has no such label */
} site_t;

/* LeakSanitizer's classes, written by the agent in exact mode as a "reachability" label. */
static const char *const reach_names[] = {"definitely_lost", "indirectly_lost", "still_reachable"};
static const char *const reach_titles[] = {
    "definitely lost: no pointer to them remains anywhere",
    "indirectly lost: only lost blocks point to them",
    "still reachable: globals, stacks or reachable blocks still point to them"};

static int sample_reachability(const lw_profile_t *p, const lw_profile_sample_t *s) {
  for (uint32_t l = 0; l < s->n_labels; l++) {
    const lw_profile_label_t *label = &lw_sample_labels(p, s)[l];
    if (strcmp(lw_profile_str(p, label->key), "reachability") != 0)
      continue;
    for (int k = 0; k < 3; k++)
      if (strcmp(lw_profile_str(p, label->str), reach_names[k]) == 0)
        return k;
  }
  return -1;
}

static int by_bytes_desc(const void *a, const void *b) {
  const site_t *x = a, *y = b;
  if (x->reachability != y->reachability)
    return x->reachability < y->reachability ? -1 : 1;
  if (x->bytes != y->bytes)
    return x->bytes < y->bytes ? 1 : -1;
  return x->objects < y->objects ? 1 : x->objects > y->objects ? -1 : 0;
}

/* True for frames inside allocation functions (malloc, operator new, strdup ...), which the
 * report shows but does not name as the site: the caller is where a fix goes. glibc's debug
 * info names its functions by internal aliases (__GI___strdup, __libc_malloc), so those
 * prefixes and leading underscores are ignored. The C++ standard library's frames
 * (std::__new_allocator, std::vector's _M_allocate, std::make_shared ...) are skipped too:
 * a fix goes in the program's code that asked for the container or smart pointer. */
bool lw_leak_report_is_allocator_frame(const char *name) {
  if (strncmp(name, "std::", 5) == 0 || strncmp(name, "__gnu_cxx::", 11) == 0)
    return true;
  static const char *const allocators[] = {
      "operator new", "operator new[]", "Znwm", "Znam", "strdup", "strndup", "malloc",
      "calloc", "realloc", "reallocarray", "posix_memalign", "aligned_alloc", "memalign",
      "valloc", "pvalloc", "wcsdup", "asprintf", "vasprintf", "getline", "getdelim",
  };
  if (strncmp(name, "__GI_", 5) == 0)
    name += 5;
  else if (strncmp(name, "__libc_", 7) == 0)
    name += 7;
  while (*name == '_')
    name++;
  for (size_t i = 0; i < sizeof allocators / sizeof allocators[0]; i++) {
    size_t n = strlen(allocators[i]);
    if (strncmp(name, allocators[i], n) == 0 &&
        (name[n] == '\0' || name[n] == '(' || name[n] == ' '))
      return true;
  }
  return false;
}

int lw_leak_report_sample_frames(const lw_profile_t *p, const lw_profile_sample_t *s,
                                 char frames[][512], int max, bool *more) {
  int n = 0;
  *more = false;
  for (uint32_t i = 0; i < s->n_locations; i++) {
    const lw_profile_location_t *l = lw_profile_location(p, lw_sample_locations(p, s)[i]);
    if (!l)
      continue;
    uint32_t lines = l->n_lines ? l->n_lines : 1;
    for (uint32_t j = 0; j < lines; j++) {
      if (n == max) {
        *more = true;
        return n;
      }
      lw_symbolize_frame_name(p, l, j, frames[n++], 512);
    }
  }
  return n;
}

int lw_leak_report_write(FILE *out, const lw_profile_t *p, const lw_leak_report_options_t *o) {
  int inuse_space = lw_profile_sample_type_index(p, "inuse_space");
  int inuse_objects = lw_profile_sample_type_index(p, "inuse_objects");
  if (inuse_space < 0)
    inuse_space = (int)p->n_sample_types - 1;
  site_t *sites = calloc(p->n_samples ? p->n_samples : 1, sizeof *sites);
  if (!sites)
    return -1;
  size_t n_sites = 0;
  int64_t total_bytes = 0, total_objects = 0;
  for (size_t i = 0; i < p->n_samples; i++) {
    const int64_t *v = lw_sample_values(p, &p->samples[i]);
    if (inuse_space < 0 || v[inuse_space] <= 0)
      continue;
    sites[n_sites].sample = i;
    sites[n_sites].bytes = v[inuse_space];
    sites[n_sites].objects = inuse_objects >= 0 ? v[inuse_objects] : 0;
    sites[n_sites].reachability = sample_reachability(p, &p->samples[i]);
    total_bytes += sites[n_sites].bytes;
    total_objects += sites[n_sites].objects;
    n_sites++;
  }
  qsort(sites, n_sites, sizeof *sites, by_bytes_desc);
  int max_sites = o->max_sites > 0 ? o->max_sites : 10;
  int max_frames = o->max_frames > 0 ? o->max_frames : 8;
  /* Stacks are read deeper than shown: the C++ library's frames alone can fill 8 above the
   * program's own, which names the site. */
  int read_frames = max_frames < 64 ? 64 : max_frames;
  char (*frames)[512] = malloc((size_t)read_frames * 512);
  if (!frames) {
    free(sites);
    return -1;
  }
  char total_text[32];
  lw_format_bytes(total_text, sizeof total_text, (double)total_bytes);
  int64_t class_bytes[3] = {0, 0, 0}, class_objects[3] = {0, 0, 0};
  bool classified = false;
  for (size_t i = 0; i < n_sites; i++) {
    if (sites[i].reachability < 0)
      continue;
    classified = true;
    class_bytes[sites[i].reachability] += sites[i].bytes;
    class_objects[sites[i].reachability] += sites[i].objects;
  }
  bool exact = p->period <= 1;
  if (o->json) {
    fprintf(out, "{\"profile\":");
    lw_json_quoted(out, o->profile_path ? o->profile_path : "");
    fprintf(out, ",\"exact\":%s,\"sampling_rate\":%lld,\"inuse_bytes\":%lld,"
                 "\"inuse_objects\":%lld,\"sites\":[",
            exact ? "true" : "false", (long long)p->period, (long long)total_bytes,
            (long long)total_objects);
  } else {
    const char *when = o->when ? o->when : "at exit";
    if (n_sites == 0)
      fprintf(out, "leakwatch: nothing still allocated %s (%s)\n", when,
              exact ? "exact: every allocation recorded" : "sampled; --rate 1 checks every allocation");
    else
      fprintf(out, "leakwatch: still allocated %s: %s in %lld object%s (%s)\n", when, total_text,
              (long long)total_objects, total_objects == 1 ? "" : "s",
              exact ? "exact: every allocation recorded"
                    : "estimated from samples; use --rate 1 for exact numbers");
    for (int k = 0; classified && k < 3; k++) {
      char class_text[32];
      lw_format_bytes(class_text, sizeof class_text, (double)class_bytes[k]);
      fprintf(out, "  %-17s %10s in %lld object%s\n",
              k == 0 ? "definitely lost" : k == 1 ? "indirectly lost" : "still reachable",
              class_text, (long long)class_objects[k], class_objects[k] == 1 ? "" : "s");
    }
    /* Lost blocks with no head: each one has a lost block pointing to it, which in a finite
     * set means they point to each other in cycles - the shape reference counting leaks. */
    if (classified && class_objects[0] == 0 && class_objects[1] > 0)
      fprintf(out, "  no lost block is a head: the lost blocks point to each other in cycles "
                   "(shared_ptr or reference counts both ways? make the back-pointer weak)\n");
  }
  int shown_in_class = 0, previous_class = -2, shown = 0;
  for (size_t i = 0; i < n_sites; i++) {
    /* Without classes: the top max_sites. With them: the top max_sites of each class. */
    if (sites[i].reachability != previous_class) {
      previous_class = sites[i].reachability;
      shown_in_class = 0;
      if (sites[i].reachability >= 0 && !o->json)
        fprintf(out, "\n%s\n", reach_titles[sites[i].reachability]);
    }
    if (shown_in_class++ >= max_sites)
      continue;
    const lw_profile_sample_t *s = &p->samples[sites[i].sample];
    bool more;
    int n = lw_leak_report_sample_frames(p, s, frames, read_frames, &more);
    int site_frame = 0;
    while (site_frame + 1 < n && lw_leak_report_is_allocator_frame(frames[site_frame]))
      site_frame++;
    int shown_frames = site_frame + 1 > max_frames ? site_frame + 1 : max_frames;
    if (n > shown_frames) { /* shown down to the site at least */
      n = shown_frames;
      more = true;
    }
    if (o->json) {
      fprintf(out, "%s{\"bytes\":%lld,\"objects\":%lld,", i ? "," : "",
              (long long)sites[i].bytes, (long long)sites[i].objects);
      if (sites[i].reachability >= 0)
        fprintf(out, "\"reachability\":\"%s\",", reach_names[sites[i].reachability]);
      fprintf(out, "\"site\":");
      lw_json_quoted(out, n ? frames[site_frame] : "?");
      fprintf(out, ",\"stack\":[");
      for (int f = 0; f < n; f++) {
        if (f)
          fputc(',', out);
        lw_json_quoted(out, frames[f]);
      }
      fprintf(out, "]}");
      continue;
    }
    char bytes_text[32];
    lw_format_bytes(bytes_text, sizeof bytes_text, (double)sites[i].bytes);
    fprintf(out, "\n  #%-2d %10s in %lld object%s at %s\n", ++shown, bytes_text,
            (long long)sites[i].objects, sites[i].objects == 1 ? "" : "s",
            n ? frames[site_frame] : "?");
    for (int f = 0; f < n; f++)
      fprintf(out, "        %s %s\n", f == 0 ? "  " : "<-", frames[f]);
    if (more)
      fprintf(out, "           ...\n");
  }
  if (o->json) {
    fprintf(out, "]}\n");
  } else {
    if (!classified && n_sites > (size_t)max_sites)
      fprintf(out, "\n  ... and %zu more site%s\n", n_sites - (size_t)max_sites,
              n_sites - (size_t)max_sites == 1 ? "" : "s");
    if (o->profile_path)
      fprintf(out, "\nleakwatch: profile written to %s (go tool pprof -top %s)\n",
              o->profile_path, o->profile_path);
  }
  free(frames);
  free(sites);
  return (int)n_sites;
}
