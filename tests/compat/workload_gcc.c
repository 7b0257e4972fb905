/*
 * workload_gcc.c - what the compatibility suite (run_compat.sh) has gcc compile and link: a
 * small program with a hash table, a tokenizer and expression evaluator, sorting and string
 * formatting, built at -O2 -g (so cc1 optimizes and emits DWARF) and then run. The
 * executable and what it prints must be the same with and without the agent in gcc.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct entry {
  char key[32];
  long value;
  struct entry *next;
} entry_t;

typedef struct {
  entry_t **buckets;
  size_t n_buckets, count;
} table_t;

static uint64_t hash(const char *s) {
  uint64_t h = 1469598103934665603ULL;
  while (*s)
    h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
  return h;
}

static void table_grow(table_t *t) {
  size_t n = t->n_buckets ? t->n_buckets * 2 : 64;
  entry_t **b = calloc(n, sizeof *b);
  for (size_t i = 0; i < t->n_buckets; i++) {
    entry_t *e = t->buckets[i];
    while (e) {
      entry_t *next = e->next;
      size_t slot = hash(e->key) & (n - 1);
      e->next = b[slot];
      b[slot] = e;
      e = next;
    }
  }
  free(t->buckets);
  t->buckets = b;
  t->n_buckets = n;
}

static long *table_get(table_t *t, const char *key) {
  if (t->count >= t->n_buckets)
    table_grow(t);
  size_t slot = hash(key) & (t->n_buckets - 1);
  for (entry_t *e = t->buckets[slot]; e; e = e->next)
    if (strcmp(e->key, key) == 0)
      return &e->value;
  entry_t *e = calloc(1, sizeof *e);
  snprintf(e->key, sizeof e->key, "%s", key);
  e->next = t->buckets[slot];
  t->buckets[slot] = e;
  t->count++;
  return &e->value;
}

/* Expressions: numbers, variables, + - * / % and parentheses. */
typedef struct {
  const char *p;
  table_t *vars;
} parser_t;

static long parse_expr(parser_t *ps);

static void skip(parser_t *ps) {
  while (*ps->p == ' ')
    ps->p++;
}

static long parse_atom(parser_t *ps) {
  skip(ps);
  if (*ps->p == '(') {
    ps->p++;
    long v = parse_expr(ps);
    skip(ps);
    if (*ps->p == ')')
      ps->p++;
    return v;
  }
  if (*ps->p == '-') {
    ps->p++;
    return -parse_atom(ps);
  }
  if (*ps->p >= '0' && *ps->p <= '9')
    return strtol(ps->p, (char **)&ps->p, 10);
  char name[32];
  size_t n = 0;
  while (((*ps->p >= 'a' && *ps->p <= 'z') || *ps->p == '_') && n + 1 < sizeof name)
    name[n++] = *ps->p++;
  name[n] = '\0';
  return n ? *table_get(ps->vars, name) : 0;
}

static long parse_term(parser_t *ps) {
  long v = parse_atom(ps);
  for (;;) {
    skip(ps);
    char op = *ps->p;
    if (op != '*' && op != '/' && op != '%')
      return v;
    ps->p++;
    long r = parse_atom(ps);
    if (op == '*')
      v *= r;
    else if (r != 0)
      v = op == '/' ? v / r : v % r;
  }
}

static long parse_expr(parser_t *ps) {
  long v = parse_term(ps);
  for (;;) {
    skip(ps);
    char op = *ps->p;
    if (op != '+' && op != '-')
      return v;
    ps->p++;
    long r = parse_term(ps);
    v = op == '+' ? v + r : v - r;
  }
}

static int compare_long(const void *a, const void *b) {
  long x = *(const long *)a, y = *(const long *)b;
  return (x > y) - (x < y);
}

int main(void) {
  table_t vars = {0};
  char name[32], expr[128];
  long checksum = 0;
  for (int i = 0; i < 20000; i++) {
    snprintf(name, sizeof name, "v_%c%c%d", 'a' + i % 26, 'a' + (i / 26) % 26, i % 97);
    snprintf(expr, sizeof expr, "(%d * 7 + v_%c%c%d) %% 1009 - (%d / 3)", i,
             'a' + (i + 1) % 26, 'a' + ((i + 1) / 26) % 26, (i + 1) % 97, i % 50);
    parser_t ps = {expr, &vars};
    long v = parse_expr(&ps);
    *table_get(&vars, name) = v;
    checksum = checksum * 31 + v;
  }
  long *values = malloc(vars.count * sizeof *values);
  size_t n = 0;
  for (size_t b = 0; b < vars.n_buckets; b++)
    for (entry_t *e = vars.buckets[b]; e; e = e->next)
      values[n++] = e->value;
  qsort(values, n, sizeof *values, compare_long);
  printf("variables %zu checksum %ld min %ld median %ld max %ld\n", n, checksum, values[0],
         values[n / 2], values[n - 1]);
  free(values);
  return 0;
}
