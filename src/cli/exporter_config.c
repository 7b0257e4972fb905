/*
 * exporter_config.c - parsing of the exporter's configuration (see exporter_config.h).
 */
#include "cli/exporter_config.h"

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void lw_exporter_config_init(lw_exporter_config_t *config) {
  memset(config, 0, sizeof *config);
  config->fd_types = -1;
  config->smaps = -1;
}

int lw_exporter_config_add_pid(lw_exporter_config_t *config, const char *text, char *err,
                               size_t err_size) {
  char *end;
  long pid = strtol(text, &end, 10);
  if (!*text || *end || pid <= 0 || pid > 4194304) {
    snprintf(err, err_size, "'%s' is not a process id", text);
    return -1;
  }
  if (config->n_pids >= LW_EXPORTER_MAX_PIDS) {
    snprintf(err, err_size, "more than %d pids", LW_EXPORTER_MAX_PIDS);
    return -1;
  }
  for (size_t i = 0; i < config->n_pids; i++)
    if (config->pids[i] == pid)
      return 0;
  config->pids[config->n_pids++] = (int)pid;
  return 0;
}

int lw_exporter_config_add_pattern(lw_exporter_config_t *config, const char *regex, bool full,
                                   char *err, size_t err_size) {
  if (config->n_patterns >= LW_EXPORTER_MAX_PATTERNS) {
    snprintf(err, err_size, "more than %d name patterns", LW_EXPORTER_MAX_PATTERNS);
    return -1;
  }
  if (strlen(regex) >= sizeof config->patterns[0].regex) {
    snprintf(err, err_size, "pattern longer than %zu characters",
             sizeof config->patterns[0].regex - 1);
    return -1;
  }
  regex_t compiled;
  int rc = regcomp(&compiled, regex, REG_EXTENDED | REG_NOSUB);
  if (rc != 0) {
    char why[128];
    regerror(rc, &compiled, why, sizeof why);
    snprintf(err, err_size, "invalid regular expression '%s': %s", regex, why);
    return -1;
  }
  regfree(&compiled);
  lw_exporter_pattern_t *p = &config->patterns[config->n_patterns++];
  snprintf(p->regex, sizeof p->regex, "%s", regex);
  p->full = full;
  return 0;
}

static int on_off(const char *value, int *out) {
  if (strcmp(value, "on") == 0 || strcmp(value, "yes") == 0 || strcmp(value, "true") == 0) {
    *out = 1;
    return 0;
  }
  if (strcmp(value, "off") == 0 || strcmp(value, "no") == 0 || strcmp(value, "false") == 0) {
    *out = 0;
    return 0;
  }
  return -1;
}

int lw_exporter_config_parse(const char *text, size_t len, lw_exporter_config_t *config,
                             char *err, size_t err_size) {
  const char *p = text, *end = text + len;
  int line = 0;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *eol = nl ? nl : end;
    line++;
    char buf[1024];
    size_t n = (size_t)(eol - p);
    if (n >= sizeof buf) {
      snprintf(err, err_size, "line %d: longer than %zu characters", line, sizeof buf - 1);
      return -1;
    }
    memcpy(buf, p, n);
    buf[n] = '\0';
    p = nl ? nl + 1 : end;
    /* Strip a comment (a '#' at the start or after whitespace: '#' may appear in regexes
     * only when not preceded by a space) and surrounding whitespace. */
    for (char *h = buf; *h; h++)
      if (*h == '#' && (h == buf || h[-1] == ' ' || h[-1] == '\t')) {
        *h = '\0';
        break;
      }
    char *key = buf;
    while (*key == ' ' || *key == '\t')
      key++;
    size_t klen = strlen(key);
    while (klen && (key[klen - 1] == ' ' || key[klen - 1] == '\t' || key[klen - 1] == '\r'))
      key[--klen] = '\0';
    if (!*key)
      continue;
    char *value = key;
    while (*value && *value != ' ' && *value != '\t')
      value++;
    if (*value)
      *value++ = '\0';
    while (*value == ' ' || *value == '\t')
      value++;
    if (!*value) {
      snprintf(err, err_size, "line %d: '%s' needs a value", line, key);
      return -1;
    }
    char why[300];
    int rc = 0;
    if (strcmp(key, "listen") == 0) {
      snprintf(config->listen, sizeof config->listen, "%s", value);
    } else if (strcmp(key, "pid") == 0) {
      rc = lw_exporter_config_add_pid(config, value, why, sizeof why);
    } else if (strcmp(key, "name") == 0 || strcmp(key, "cmdline") == 0) {
      rc = lw_exporter_config_add_pattern(config, value, key[0] == 'c', why, sizeof why);
    } else if (strcmp(key, "fd-types") == 0 || strcmp(key, "smaps") == 0) {
      rc = on_off(value, key[0] == 'f' ? &config->fd_types : &config->smaps);
      if (rc != 0)
        snprintf(why, sizeof why, "'%s' takes on or off, not '%s'", key, value);
    } else {
      snprintf(err, err_size,
               "line %d: unknown setting '%s' (listen, pid, name, cmdline, fd-types, smaps)",
               line, key);
      return -1;
    }
    if (rc != 0) {
      snprintf(err, err_size, "line %d: %s", line, why);
      return -1;
    }
  }
  return 0;
}
