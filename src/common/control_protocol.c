/*
 * control_protocol.c - parsing for the control protocol (see control_protocol.h).
 */
#include "common/control_protocol.h"

#include <string.h>

#include "common/fmt.h"

static const char *const command_names[] = {"info", "stats",   "heap", "heap-window",
                                            "trim", "history", "fds",  "threads",
                                            "allocator"};

const char *lw_control_command_name(lw_control_command_t command) {
  return (unsigned)command < sizeof command_names / sizeof command_names[0] ? command_names[command]
                                                                             : "?";
}

/* Copies the next space-separated word of [*p, end) into out. False when there is none or
 * it does not fit (no valid word is that long, so either way the request is refused). */
static bool next_word(const char **p, const char *end, char *out, size_t size) {
  while (*p < end && **p == ' ')
    (*p)++;
  size_t n = 0;
  while (*p < end && **p != ' ') {
    if (n + 1 < size)
      out[n] = **p;
    n++;
    (*p)++;
  }
  out[n < size ? n : size - 1] = '\0';
  return n > 0 && n < size;
}

static bool printable(const char *text, size_t len) {
  for (size_t i = 0; i < len; i++)
    if ((unsigned char)text[i] < 0x20 || (unsigned char)text[i] == 0x7f)
      return false;
  return true;
}

int lw_control_parse_request(const char *line, size_t len, lw_control_request_t *out,
                             char *error, size_t error_size) {
  if (len > 0 && line[len - 1] == '\n')
    len--;
  if (len > 0 && line[len - 1] == '\r')
    len--; /* tolerate CRLF line ends */
  if (len > LW_CONTROL_MAX_REQUEST) {
    lw_fmt(error, error_size, "request longer than %d bytes", LW_CONTROL_MAX_REQUEST);
    return -1;
  }
  const char *p = line, *end = line + len;
  char word[64];
  /* The protocol word first: a client speaking something else (HTTP, an old version)
   * learns that, rather than what is wrong with the rest of its line. */
  if (!next_word(&p, end, word, sizeof word) || !printable(word, strlen(word))) {
    lw_fmt(error, error_size, "not a %s request", LW_CONTROL_MAGIC);
    return -1;
  }
  if (strcmp(word, LW_CONTROL_MAGIC) != 0) {
    lw_fmt(error, error_size, "unsupported protocol '%s' (this agent speaks %s)", word,
           LW_CONTROL_MAGIC);
    return -1;
  }
  if (!printable(line, len)) {
    lw_fmt(error, error_size, "request contains control characters");
    return -1;
  }
  if (!next_word(&p, end, word, sizeof word)) {
    lw_fmt(error, error_size, "missing command");
    return -1;
  }
  size_t n_commands = sizeof command_names / sizeof command_names[0];
  size_t i = 0;
  while (i < n_commands && strcmp(word, command_names[i]) != 0)
    i++;
  if (i == n_commands) {
    lw_fmt(error, error_size, "unknown command '%s'", word);
    return -1;
  }
  out->command = (lw_control_command_t)i;
  out->argument = 0;
  char argument[32];
  bool has_argument = next_word(&p, end, argument, sizeof argument);
  if (out->command == LW_CONTROL_HEAP_WINDOW || out->command == LW_CONTROL_HISTORY) {
    /* heap-window needs seconds (1 to 3600); history takes optional seconds (1 to 86400),
     * the age from which live allocations count as old. */
    bool optional = out->command == LW_CONTROL_HISTORY;
    uint64_t limit = optional ? 86400 : 3600;
    uint64_t v = 0;
    bool digits = has_argument;
    for (const char *a = argument; has_argument && *a; a++) {
      if (*a < '0' || *a > '9' || v > 100000000) {
        digits = false;
        break;
      }
      v = v * 10 + (uint64_t)(*a - '0');
    }
    if ((has_argument || !optional) && (!digits || v == 0 || v > limit)) {
      lw_fmt(error, error_size, "%s needs a number of seconds from 1 to %llu", command_names[i],
             (unsigned long long)limit);
      return -1;
    }
    out->argument = has_argument ? v : 0;
  } else if (has_argument) {
    lw_fmt(error, error_size, "command '%s' takes no argument", command_names[i]);
    return -1;
  }
  while (p < end && *p == ' ')
    p++;
  if (p != end) {
    lw_fmt(error, error_size, "unexpected text after the request");
    return -1;
  }
  return 0;
}

int lw_control_parse_reply(const char *line, size_t len, lw_control_reply_t *out) {
  memset(out, 0, sizeof *out);
  if (len > 0 && line[len - 1] == '\n')
    len--;
  if (len > LW_CONTROL_MAX_HEADER || !printable(line, len))
    return -1;
  const char *p = line, *end = line + len;
  char word[64];
  if (!next_word(&p, end, word, sizeof word) || strcmp(word, LW_CONTROL_MAGIC) != 0)
    return -1;
  if (!next_word(&p, end, word, sizeof word))
    return -1;
  if (strcmp(word, "ERROR") == 0) {
    while (p < end && *p == ' ')
      p++;
    size_t n = (size_t)(end - p);
    if (n >= sizeof out->message)
      n = sizeof out->message - 1;
    memcpy(out->message, p, n);
    out->message[n] = '\0';
    return 0;
  }
  if (strcmp(word, "OK") != 0 || !next_word(&p, end, out->content_type, sizeof out->content_type))
    return -1;
  char length[32];
  if (!next_word(&p, end, length, sizeof length))
    return -1;
  uint64_t v = 0;
  for (const char *a = length; *a; a++) {
    if (*a < '0' || *a > '9' || v > (UINT64_MAX - 9) / 10)
      return -1;
    v = v * 10 + (uint64_t)(*a - '0');
  }
  if (p != end)
    return -1;
  out->ok = true;
  out->length = v;
  return 0;
}

int lw_control_dirs(const char *xdg_runtime_dir, unsigned uid, char dirs[2][256]) {
  int n = 0;
  if (xdg_runtime_dir && xdg_runtime_dir[0] == '/' &&
      lw_fmt(dirs[n], sizeof dirs[n], "%s/leakwatch", xdg_runtime_dir) < sizeof dirs[n])
    n++;
  lw_fmt(dirs[n++], sizeof dirs[0], "/tmp/leakwatch-%u", uid);
  return n;
}
