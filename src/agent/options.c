/*
 * options.c - the agent's settings, from LEAKWATCH_* environment variables.
 *
 * Read once, possibly from inside the process's first malloc (before constructors run), so
 * environ is scanned directly: no getenv (it is fine, but this keeps the agent's rule simple),
 * no allocation. A bad value keeps the default and says so on stderr. The table below is
 * the single list of options; docs/OPTIONS.md describes the same names.
 */
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "common/units.h"

extern char **environ;

lw_options_t lw__options = {
    .rate = 512 * 1024,
    .output = "",
    .depth = 64,
    .max_stacks = 0, /* 0: chosen by lw__options_load from the rate */
    .max_live = 0,
    .verbose = false,
    .enabled = true,
    .fault_mmap = 0,
    .fault_mmap_from = 0,
    .root_pid = 0,
    .control = true,
    .http = "",
    .http_allow_remote = false,
    .http_program = "",
    .reply_memory = 64 << 20,
    .log_interval_ms = 0,
    .log_path = "",
    .history_interval_ms = 10000,
    .history_sites = 1024,
    .history_output = "",
    .history_old_after_ms = 60000,
    .reachability = true,
    .track_fds = false,
    .fatal_signals = true,
    .snapshot_at = "",
    .soft_limit = 0,
    .soft_limit_interval_ms = 10000,
};

typedef enum { OPTION_SIZE, OPTION_COUNT, OPTION_BOOL, OPTION_TEXT, OPTION_DURATION } option_kind_t;

typedef struct {
  const char *name;
  option_kind_t kind;
  void *target;
  uint64_t min;
  uint64_t max; /* OPTION_TEXT: the size of the target buffer */
} option_t;

/* ASCII-only, locale-free strcasecmp. */
static bool equal_ignoring_case(const char *a, const char *b) {
  for (; *a && *b; a++, b++) {
    char x = (*a >= 'A' && *a <= 'Z') ? (char)(*a + 32) : *a;
    char y = (*b >= 'A' && *b <= 'Z') ? (char)(*b + 32) : *b;
    if (x != y)
      return false;
  }
  return *a == *b;
}

static bool parse_bool(const char *text, bool *out) {
  static const char *truthy[] = {"1", "true", "yes", "on"};
  static const char *falsy[] = {"0", "false", "no", "off"};
  for (int i = 0; i < 4; i++) {
    if (equal_ignoring_case(text, truthy[i])) {
      *out = true;
      return true;
    }
    if (equal_ignoring_case(text, falsy[i])) {
      *out = false;
      return true;
    }
  }
  return false;
}

static bool parse_count(const char *text, uint64_t *out) {
  if (!*text)
    return false;
  uint64_t v = 0;
  for (const char *p = text; *p; p++) {
    if (*p < '0' || *p > '9' || v > (UINT64_MAX - 9) / 10)
      return false;
    v = v * 10 + (uint64_t)(*p - '0');
  }
  *out = v;
  return true;
}

static int depth_value;
static uint64_t root_pid_value;

static const option_t options[] = {
    {"LEAKWATCH_RATE", OPTION_SIZE, &lw__options.rate, 1, 1ull << 40},
    {"LEAKWATCH_OUTPUT", OPTION_TEXT, lw__options.output, 0, sizeof lw__options.output},
    {"LEAKWATCH_DEPTH", OPTION_COUNT, &depth_value, 1, LW_MAX_DEPTH},
    {"LEAKWATCH_MAX_STACKS", OPTION_COUNT, &lw__options.max_stacks, 16, 1ull << 26},
    {"LEAKWATCH_MAX_LIVE", OPTION_COUNT, &lw__options.max_live, 16, 1ull << 28},
    {"LEAKWATCH_VERBOSE", OPTION_BOOL, &lw__options.verbose, 0, 1},
    {"LEAKWATCH_ENABLE", OPTION_BOOL, &lw__options.enabled, 0, 1},
    {"LEAKWATCH_FAULT_MMAP", OPTION_COUNT, &lw__options.fault_mmap, 0, UINT64_MAX},
    {"LEAKWATCH_FAULT_MMAP_FROM", OPTION_COUNT, &lw__options.fault_mmap_from, 0, UINT64_MAX},
    {"LEAKWATCH_ROOT_PID", OPTION_COUNT, &root_pid_value, 1, 1u << 30},
    {"LEAKWATCH_CONTROL", OPTION_BOOL, &lw__options.control, 0, 1},
    {"LEAKWATCH_HTTP", OPTION_TEXT, lw__options.http, 0, sizeof lw__options.http},
    {"LEAKWATCH_HTTP_ALLOW_REMOTE", OPTION_BOOL, &lw__options.http_allow_remote, 0, 1},
    {"LEAKWATCH_HTTP_PROGRAM", OPTION_TEXT, lw__options.http_program, 0,
     sizeof lw__options.http_program},
    {"LEAKWATCH_REPLY_MEMORY", OPTION_SIZE, &lw__options.reply_memory, 65536, 1ull << 40},
    {"LEAKWATCH_LOG_INTERVAL", OPTION_DURATION, &lw__options.log_interval_ms, 100, 86400000},
    {"LEAKWATCH_LOG", OPTION_TEXT, lw__options.log_path, 0, sizeof lw__options.log_path},
    {"LEAKWATCH_HISTORY_INTERVAL", OPTION_DURATION, &lw__options.history_interval_ms, 0,
     3600000},
    {"LEAKWATCH_HISTORY_SITES", OPTION_COUNT, &lw__options.history_sites, 16, 65536},
    {"LEAKWATCH_HISTORY_OUTPUT", OPTION_TEXT, lw__options.history_output, 0,
     sizeof lw__options.history_output},
    {"LEAKWATCH_REACHABILITY", OPTION_BOOL, &lw__options.reachability, 0, 1},
    {"LEAKWATCH_TRACK_FDS", OPTION_BOOL, &lw__options.track_fds, 0, 1},
    {"LEAKWATCH_FATAL_SIGNALS", OPTION_BOOL, &lw__options.fatal_signals, 0, 1},
    {"LEAKWATCH_SNAPSHOT_AT", OPTION_TEXT, lw__options.snapshot_at, 0,
     sizeof lw__options.snapshot_at},
    {"LEAKWATCH_HISTORY_OLD_AFTER", OPTION_DURATION, &lw__options.history_old_after_ms, 1000,
     86400000},
    {"LEAKWATCH_SOFT_LIMIT", OPTION_SIZE, &lw__options.soft_limit, 1 << 20, 1ull << 50},
    {"LEAKWATCH_SOFT_LIMIT_INTERVAL", OPTION_DURATION, &lw__options.soft_limit_interval_ms, 100,
     86400000},
};

static void apply(const option_t *o, const char *value) {
  uint64_t number = 0;
  bool ok = false;
  switch (o->kind) {
  case OPTION_SIZE:
    ok = lw_parse_size(value, &number) == 0;
    break;
  case OPTION_COUNT:
    ok = parse_count(value, &number);
    break;
  case OPTION_BOOL: {
    bool flag;
    ok = parse_bool(value, &flag);
    if (ok)
      *(bool *)o->target = flag;
    if (!ok)
      lw__log("ignoring %s='%s': expected 1/0, true/false, yes/no or on/off", o->name, value);
    return;
  }
  case OPTION_TEXT: {
    size_t len = strlen(value);
    if (len >= o->max) {
      lw__log("ignoring %s: longer than %llu bytes", o->name, (unsigned long long)o->max - 1);
      return;
    }
    memcpy(o->target, value, len + 1);
    return;
  }
  case OPTION_DURATION:
    ok = lw_parse_duration_ms(value, &number) == 0;
    break;
  }
  if (!ok || number < o->min || number > o->max) {
    lw__log("ignoring %s='%s': expected a %s from %llu to %llu", o->name, value,
            o->kind == OPTION_SIZE       ? "size (e.g. 512k, 1m)"
            : o->kind == OPTION_DURATION ? "duration in ms (e.g. 60s, 5m)"
                                         : "whole number",
            (unsigned long long)o->min, (unsigned long long)o->max);
    return;
  }
  if (o->target == &depth_value)
    depth_value = (int)number;
  else
    *(uint64_t *)o->target = number;
}

const char *lw__environ_value(const char *name) {
  size_t n = strlen(name);
  for (char **entry = environ; entry && *entry; entry++)
    if (strncmp(*entry, name, n) == 0 && (*entry)[n] == '=')
      return *entry + n + 1;
  return NULL;
}

char **lw__options_source;

/* The first call keeps the defaults (attach.c calls it before anything is read), later ones
 * put them back: a second attach starts from them, not from the first one's options. */
void lw__options_reset(void) {
  static lw_options_t defaults;
  static bool kept;
  if (!kept) {
    defaults = lw__options;
    kept = true;
  } else {
    lw__options = defaults;
  }
  root_pid_value = 0;
}

void lw__options_load(void) {
  depth_value = lw__options.depth;
  char **source = lw__options_source ? lw__options_source : environ;
  for (char **entry = source; entry && *entry; entry++) {
    if (strncmp(*entry, "LEAKWATCH_", 10) != 0)
      continue;
    const char *equals = strchr(*entry, '=');
    if (!equals)
      continue;
    size_t name_len = (size_t)(equals - *entry);
    for (size_t i = 0; i < sizeof options / sizeof options[0]; i++)
      if (strlen(options[i].name) == name_len && strncmp(options[i].name, *entry, name_len) == 0)
        apply(&options[i], equals + 1);
  }
  lw__options.depth = depth_value;
  lw__options.root_pid = (int)root_pid_value;
  /* Table bounds: exact mode keeps every live allocation, sampled mode a few per MiB. */
  if (!lw__options.max_live)
    lw__options.max_live = lw__options.rate <= 1 ? (16u << 20) : (1u << 20);
  if (!lw__options.max_stacks)
    lw__options.max_stacks = 1u << 18;
}
