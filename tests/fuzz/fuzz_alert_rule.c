/*
 * fuzz_alert_rule.c - libFuzzer target for alert-rule parsing (src/common/alert_rule.c):
 * rules files of any bytes must parse or fail with a message and a column inside the
 * input, and whatever parses must translate to PromQL and evaluate without trouble.
 * Built and replayed like fuzz_http_request.c (see tests/fuzz/CMakeLists.txt).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/alert_rule.h"

static const lw_alert_metric_t metrics[] = {
    {"rss", LW_UNIT_BYTES, false, true, "process_resident_memory_bytes"},
    {"fds", LW_UNIT_COUNT, false, true, "process_open_fds"},
    {"cpu", LW_UNIT_PERCENT, false, false, "rate(process_cpu_seconds_total[1m]) * 100"},
    {"major_faults", LW_UNIT_COUNT, true, true, "process_major_page_faults_total"},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = malloc(size ? size : 1);
  if (!text)
    return 0;
  memcpy(text, data, size);
  lw_alert_rule_t rules[16];
  lw_alert_error_t err;
  int n = lw_alert_rules_parse(text, size, metrics, 4, rules, 16, &err);
  if (n < 0) {
    if (err.column < 1 || err.line < 1 || memchr(err.message, '\0', sizeof err.message) == NULL)
      __builtin_trap();
  } else {
    lw_buf_t out;
    lw_buf_init(&out, &lw_libc_allocator);
    lw_alert_rules_prometheus(rules, (size_t)n, metrics, "g", "warning", &out);
    lw_buf_free(&out);
    for (int i = 0; i < n; i++) {
      lw_alert_eval_t eval;
      lw_alert_eval_init(&eval, &rules[i]);
      for (int t = 0; t < 5; t++)
        (void)lw_alert_eval_step(&eval, &rules[i], metrics, t, (double)(t * t), t != 3);
    }
  }
  free(text);
  return 0;
}
