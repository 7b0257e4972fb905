/*
 * intern.h - a string interner: equal strings get one small integer id, assigned 0..n-1 in
 * order of first appearance. The analysis commands name frames and stacks with these ids so
 * that grouping is integer work. CLI only (libc malloc).
 */
#ifndef LW_CLI_INTERN_H
#define LW_CLI_INTERN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct lw_intern {
  char *bytes; /* all strings, NUL-terminated */
  size_t n_bytes, cap_bytes;
  uint64_t *offsets; /* per id: offset into bytes */
  uint32_t *lengths;
  size_t n, cap;
  uint32_t *slots; /* open addressing: id + 1, 0 = empty */
  size_t n_slots;
  bool failed;     /* sticky: ran out of memory */
} lw_intern_t;

void lw_intern_init(lw_intern_t *t);
void lw_intern_free(lw_intern_t *t);
/* Returns the id of the string (adding it if new), or UINT32_MAX when out of memory. */
uint32_t lw_intern_n(lw_intern_t *t, const char *text, size_t len);
uint32_t lw_intern(lw_intern_t *t, const char *text);
/* The id of the string if present, else UINT32_MAX. */
uint32_t lw_intern_find(const lw_intern_t *t, const char *text, size_t len);
static inline const char *lw_intern_str(const lw_intern_t *t, uint32_t id) {
  return t->bytes + t->offsets[id];
}

#endif
