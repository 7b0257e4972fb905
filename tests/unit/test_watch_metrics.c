/*
 * test_watch_metrics.c - the watcher's tables (src/cli/watch_metrics.c) stay consistent:
 * CSV keys unique and ending in their unit, every rule metric reading a real field and
 * translating to a metric the exporter serves, exporter family names valid with _total on
 * exactly the counters, trended counters all present in the CSV.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cli/watch_metrics.h"
#include "common/prom.h"

static bool ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && strcmp(s + n - m, suffix) == 0;
}

static void test_columns(void **state) {
  (void)state;
  for (size_t i = 0; i < lw_watch_n_columns; i++) {
    const lw_watch_column_t *c = &lw_watch_columns[i];
    assert_true(c->field < LW_W_FIELD_COUNT);
    assert_true(c->doc && c->doc[0]);
    for (size_t j = 0; j < i; j++)
      assert_string_not_equal(c->key, lw_watch_columns[j].key);
    /* The CSV contract: a numeric column's name ends with its unit. */
    bool unit = ends_with(c->key, "_bytes") || ends_with(c->key, "_per_second") ||
                ends_with(c->key, "_percent") || strncmp(c->key, "fds", 3) == 0 ||
                strcmp(c->key, "max_fds") == 0 || strcmp(c->key, "threads") == 0 ||
                ends_with(c->key, "_kills");
    if (!unit)
      fail_msg("column %s does not end with a unit", c->key);
    if (c->bytes && !ends_with(c->key, "_bytes") && !ends_with(c->key, "_bytes_per_second"))
      fail_msg("byte column %s not named _bytes", c->key);
    if (ends_with(c->key, "_per_second") || ends_with(c->key, "_percent"))
      assert_true(c->rate);
  }
  /* Every fd type has its column, named after lw_fd_type_name. */
  for (int t = 0; t < LW_FD_TYPE_COUNT; t++) {
    char key[64];
    snprintf(key, sizeof key, "fds_%s", lw_fd_type_name(t));
    bool found = false;
    for (size_t i = 0; i < lw_watch_n_columns; i++)
      found |= strcmp(lw_watch_columns[i].key, key) == 0 &&
               (int)lw_watch_columns[i].field == LW_W_FDS_TYPE + t;
    if (!found)
      fail_msg("no column %s", key);
  }
}

static const lw_watch_family_t *family(const char *promql) {
  for (size_t i = 0; i < lw_watch_n_families; i++) {
    size_t n = strlen(lw_watch_families[i].name);
    if (strncmp(promql, lw_watch_families[i].name, n) == 0 &&
        (promql[n] == '\0' || promql[n] == '{'))
      return &lw_watch_families[i];
  }
  return NULL;
}

static void test_rule_metrics(void **state) {
  (void)state;
  for (size_t i = 0; i < lw_watch_n_rule_metrics; i++) {
    const lw_alert_metric_t *m = &lw_watch_rule_metrics[i];
    lw_watch_field_t f = lw_watch_rule_fields[i];
    assert_true(f < LW_W_FIELD_COUNT);
    for (size_t j = 0; j < i; j++)
      assert_string_not_equal(m->name, lw_watch_rule_metrics[j].name);
    if (!m->rate_allowed) /* derived (cpu): an expression over a counter */
      continue;
    const lw_watch_family_t *fam = family(m->promql);
    if (!fam)
      fail_msg("rule metric %s translates to %s, which the exporter does not serve", m->name,
               m->promql);
    assert_int_equal(fam->counter, m->counter);
    if (fam->by_type)
      assert_true((int)f >= (int)fam->by_type->first &&
                  (int)f < (int)fam->by_type->first + fam->by_type->n);
    else
      assert_int_equal(fam->field, f);
  }
}

static void test_families(void **state) {
  (void)state;
  for (size_t i = 0; i < lw_watch_n_families; i++) {
    const lw_watch_family_t *fam = &lw_watch_families[i];
    assert_true(lw_prom_valid_metric_name(fam->name));
    assert_int_equal(ends_with(fam->name, "_total"), fam->counter);
    assert_true(strncmp(fam->name, "process_", 8) == 0);
    assert_true(fam->help && fam->help[0]);
    for (size_t j = 0; j < i; j++)
      assert_string_not_equal(fam->name, lw_watch_families[j].name);
  }
}

static void test_trended(void **state) {
  (void)state;
  /* cmd_watch sizes its per-process trend arrays with the constant: it must be exact. */
  assert_int_equal(lw_watch_n_trended, LW_WATCH_N_TRENDED);
  for (size_t i = 0; i < lw_watch_n_trended; i++) {
    bool in_csv = false;
    for (size_t j = 0; j < lw_watch_n_columns; j++)
      in_csv |= lw_watch_columns[j].field == lw_watch_trended[i].field;
    assert_true(in_csv);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_columns),
      cmocka_unit_test(test_rule_metrics),
      cmocka_unit_test(test_families),
      cmocka_unit_test(test_trended),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
