/*
 * prom.h - a writer for the Prometheus text exposition format 0.0.4 into an lw_buf_t.
 *
 * The rules it keeps (FORMATS.md section 4.1): HELP and TYPE once per family, before its
 * first sample; all samples of a family contiguous (promtool does not catch a split family,
 * so the writer refuses one); metric and label names checked against the grammar; label
 * values escaped (\\, \", \n) and made valid UTF-8 (a process name may hold any byte, and
 * Prometheus rejects a scrape with an invalid UTF-8 label value); HELP escaped; values
 * printed so that they parse back to the same double (number_format.h); the last line
 * ends in '\n'.
 *
 * Errors are sticky, like lw_buf_t: a caller writes a whole exposition and checks
 * lw_prom_finish() once. Nothing here allocates except through the buffer's allocator,
 * and nothing uses stdio, so the agent's /metrics (issue 3) uses the same writer.
 * Pairs with number_format.h; used by the exporter (src/cli/exporter_metrics.c).
 */
#ifndef LW_COMMON_PROM_H
#define LW_COMMON_PROM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

/* The Content-Type of this format, as client_golang sends it. */
#define LW_PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Families one exposition may hold; beyond this lw_prom_family fails with -E2BIG. The
 * writer remembers a 64-bit hash of each so that a family begun twice is refused. */
#define LW_PROM_MAX_FAMILIES 256

typedef enum lw_prom_type {
  LW_PROM_COUNTER,
  LW_PROM_GAUGE,
  LW_PROM_UNTYPED,
  LW_PROM_HISTOGRAM,
  LW_PROM_SUMMARY,
} lw_prom_type_t;

typedef struct lw_prom_label {
  const char *name;
  const char *value;
} lw_prom_label_t;

typedef struct lw_prom_writer {
  lw_buf_t *out;
  int error;          /* first error, a negative errno; 0 while all is well */
  bool in_family;
  lw_prom_type_t type;
  char family[128];
  uint64_t seen[LW_PROM_MAX_FAMILIES];
  size_t n_seen;
  size_t n_samples;
} lw_prom_writer_t;

void lw_prom_init(lw_prom_writer_t *writer, lw_buf_t *out);

/* Starts a family: writes "# HELP name help" and "# TYPE name type". Errors: -EINVAL for
 * an invalid name (or a name with a reserved "__" prefix), -EEXIST when the family was
 * already written (its samples would no longer be contiguous), -E2BIG past
 * LW_PROM_MAX_FAMILIES. Returns the writer's error state. */
int lw_prom_family(lw_prom_writer_t *writer, const char *name, lw_prom_type_t type,
                   const char *help);

/* Writes one sample of the current family: name + suffix, labels, value. suffix is NULL
 * for plain samples, or "_bucket"/"_sum"/"_count" (histograms), "_sum"/"_count"
 * (summaries); other combinations are -EINVAL, a sample before any family -EPROTO. Label
 * values may be any bytes; invalid UTF-8 is replaced by U+FFFD. */
void lw_prom_sample(lw_prom_writer_t *writer, const char *suffix, const lw_prom_label_t *labels,
                    size_t n_labels, double value);
/* The same with an exact integer value (bytes and counts beyond 2^53 stay exact). */
void lw_prom_sample_u64(lw_prom_writer_t *writer, const char *suffix,
                        const lw_prom_label_t *labels, size_t n_labels, uint64_t value);

/* Returns 0, the first error, or -ENOMEM when the buffer could not grow. */
int lw_prom_finish(lw_prom_writer_t *writer);

/* Grammar checks: metric [a-zA-Z_:][a-zA-Z0-9_:]*, label [a-zA-Z_][a-zA-Z0-9_]*, neither
 * starting with "__" (reserved for Prometheus's own). */
bool lw_prom_valid_metric_name(const char *name);
bool lw_prom_valid_label_name(const char *name);

/* Appends a label value escaped for the exposition (without the quotes). Also used by the
 * alert-rule writer, whose YAML strings need the same treatment of odd bytes. */
void lw_prom_escape_label_value(lw_buf_t *out, const char *value);

#endif
