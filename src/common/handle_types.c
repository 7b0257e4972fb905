/*
 * handle_types.c - names of the handle kinds (see handle_types.h).
 */
#include "common/handle_types.h"

#include <string.h>

static const struct {
  const char *key;
  const char *name;
} kinds[LW_HANDLE_TYPE_COUNT] = {
    {"event", "Event"},         {"file", "File"},
    {"key", "Key"},             {"mutant", "Mutant"},
    {"semaphore", "Semaphore"}, {"section", "Section"},
    {"thread", "Thread"},       {"process", "Process"},
    {"token", "Token"},         {"timer", "Timer"},
    {"io_completion", "IoCompletion"}, {"directory", "Directory"},
    {"alpc_port", "ALPC Port"}, {"desktop", "Desktop"},
    {"window_station", "WindowStation"}, {"other", "Other"},
};

const char *lw_handle_type_key(lw_handle_type_t type) {
  return (unsigned)type < LW_HANDLE_TYPE_COUNT ? kinds[type].key : "other";
}

const char *lw_handle_type_name(lw_handle_type_t type) {
  return (unsigned)type < LW_HANDLE_TYPE_COUNT ? kinds[type].name : "Other";
}

lw_handle_type_t lw_handle_type_from_name(const char *name, size_t len) {
  for (int i = 0; i < LW_HANDLE_OTHER; i++)
    if (strlen(kinds[i].name) == len && memcmp(kinds[i].name, name, len) == 0)
      return (lw_handle_type_t)i;
  return LW_HANDLE_OTHER;
}
