/*
 * intern.c - string interner (see intern.h): FNV-1a, linear probing at <= 50% load.
 */
#include "cli/intern.h"

#include <stdlib.h>
#include <string.h>

void lw_intern_init(lw_intern_t *t) { memset(t, 0, sizeof *t); }

void lw_intern_free(lw_intern_t *t) {
  free(t->bytes);
  free(t->offsets);
  free(t->lengths);
  free(t->slots);
  memset(t, 0, sizeof *t);
}

static uint32_t hash(const char *text, size_t len) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < len; i++)
    h = (h ^ (uint8_t)text[i]) * 16777619u;
  return h;
}

static bool grow_slots(lw_intern_t *t) {
  size_t n_slots = t->n_slots ? t->n_slots * 2 : 1024;
  uint32_t *slots = calloc(n_slots, sizeof *slots);
  if (!slots)
    return false;
  for (size_t id = 0; id < t->n; id++) {
    size_t s = hash(t->bytes + t->offsets[id], t->lengths[id]) & (n_slots - 1);
    while (slots[s])
      s = (s + 1) & (n_slots - 1);
    slots[s] = (uint32_t)id + 1;
  }
  free(t->slots);
  t->slots = slots;
  t->n_slots = n_slots;
  return true;
}

uint32_t lw_intern_find(const lw_intern_t *t, const char *text, size_t len) {
  if (!t->n_slots)
    return UINT32_MAX;
  size_t s = hash(text, len) & (t->n_slots - 1);
  while (t->slots[s]) {
    uint32_t id = t->slots[s] - 1;
    if (t->lengths[id] == len && memcmp(t->bytes + t->offsets[id], text, len) == 0)
      return id;
    s = (s + 1) & (t->n_slots - 1);
  }
  return UINT32_MAX;
}

uint32_t lw_intern_n(lw_intern_t *t, const char *text, size_t len) {
  if (t->failed)
    return UINT32_MAX;
  uint32_t found = lw_intern_find(t, text, len);
  if (found != UINT32_MAX)
    return found;
  if ((t->n + 1) * 2 > t->n_slots && !grow_slots(t))
    goto oom;
  if (t->n == t->cap) {
    size_t cap = t->cap ? t->cap * 2 : 256;
    uint64_t *offsets = realloc(t->offsets, cap * sizeof *offsets);
    if (!offsets)
      goto oom;
    t->offsets = offsets;
    uint32_t *lengths = realloc(t->lengths, cap * sizeof *lengths);
    if (!lengths)
      goto oom;
    t->lengths = lengths;
    t->cap = cap;
  }
  if (t->n_bytes + len + 1 > t->cap_bytes) {
    size_t cap = t->cap_bytes ? t->cap_bytes : 4096;
    while (cap < t->n_bytes + len + 1)
      cap *= 2;
    char *bytes = realloc(t->bytes, cap);
    if (!bytes)
      goto oom;
    t->bytes = bytes;
    t->cap_bytes = cap;
  }
  memcpy(t->bytes + t->n_bytes, text, len);
  t->bytes[t->n_bytes + len] = '\0';
  t->offsets[t->n] = t->n_bytes;
  t->lengths[t->n] = (uint32_t)len;
  t->n_bytes += len + 1;
  size_t s = hash(text, len) & (t->n_slots - 1);
  while (t->slots[s])
    s = (s + 1) & (t->n_slots - 1);
  t->slots[s] = (uint32_t)t->n + 1;
  return (uint32_t)t->n++;
oom:
  t->failed = true;
  return UINT32_MAX;
}

uint32_t lw_intern(lw_intern_t *t, const char *text) {
  return lw_intern_n(t, text, strlen(text));
}
