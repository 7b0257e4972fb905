/*
 * top.c - flat/cum per frame (see top.h), pprof's graph.go semantics in one pass over the
 * samples: a per-frame "last sample seen" stamp counts cum once per stack.
 */
#include "cli/top.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int64_t abs64(int64_t v) { return v < 0 ? -v : v; }

static const lw_view_t *sort_view;
static bool sort_by_cum;

/* pprof's FlatNameOrder / CumNameOrder. */
static int compare_rows(const void *a, const void *b) {
  const lw_top_row_t *x = a, *y = b;
  int64_t xk = sort_by_cum ? abs64(x->cum) : abs64(x->flat);
  int64_t yk = sort_by_cum ? abs64(y->cum) : abs64(y->flat);
  if (xk != yk)
    return xk > yk ? -1 : 1;
  int names = strcmp(lw_view_frame_name(sort_view, x->frame), lw_view_frame_name(sort_view, y->frame));
  if (names)
    return names;
  int64_t xs = sort_by_cum ? abs64(x->flat) : abs64(x->cum);
  int64_t ys = sort_by_cum ? abs64(y->flat) : abs64(y->cum);
  return xs > ys ? -1 : xs < ys ? 1 : 0;
}

/* Caller -> callee edges between the rows shown, as pprof's rebuilt graph has them: an
 * edge skips frames that were not kept, counts once per sample, is "inline" only if every
 * occurrence was an inlined call, and is dropped under the edge cutoff (pprof's
 * -edgefraction). Sets called[callee] bit 0 for inline edges, bit 1 for real calls.
 *
 * Large profiles have hundreds of thousands of distinct edges, so the table is far bigger
 * than the caches and each lookup is a memory access: most of `top`'s time went into
 * waiting for them one after the other. So the edges of a sample are gathered first and
 * their slots prefetched, and only then looked up and counted; the waits overlap. One slot
 * holds everything an edge needs, so a lookup touches one place. */
typedef struct {
  uint64_t key;   /* caller << 32 | callee, + 1 so 0 is empty */
  int64_t weight;
  uint32_t stamp; /* the last sample that counted this edge */
  uint8_t outline; /* 1 once a real (not inlined) call was seen */
} edge_slot_t;

typedef struct {
  edge_slot_t *slots;
  size_t cap, n;
} edges_t;

static size_t edge_home(const edges_t *e, uint64_t key) {
  return (size_t)((key * 0x9e3779b97f4a7c15ull) >> 32) & (e->cap - 1);
}

static edge_slot_t *edge_find(edges_t *e, uint64_t key) {
  size_t slot = edge_home(e, key);
  while (e->slots[slot].key && e->slots[slot].key != key)
    slot = (slot + 1) & (e->cap - 1);
  return &e->slots[slot];
}

static bool edges_grow(edges_t *e) {
  edges_t bigger = {calloc(e->cap * 2, sizeof(edge_slot_t)), e->cap * 2, e->n};
  if (!bigger.slots)
    return false;
  for (size_t i = 0; i < e->cap; i++)
    if (e->slots[i].key)
      *edge_find(&bigger, e->slots[i].key) = e->slots[i];
  free(e->slots);
  *e = bigger;
  return true;
}

/* One edge of the sample being counted, as gathered before the lookups. */
typedef struct {
  uint64_t key;
  uint8_t outline;
} pending_edge_t;

enum { EDGE_BATCH = 128 };

/* Looks up and counts a gathered batch (their slots were prefetched). */
static bool count_edges(edges_t *e, const pending_edge_t *batch, size_t n, int64_t value,
                        uint32_t visit) {
  for (size_t i = 0; i < n; i++) {
    /* Up to 3/4 full: at a half, the table's last doubling decided the peak memory. */
    if ((e->n + 1) * 4 > e->cap * 3 && !edges_grow(e))
      return false;
    edge_slot_t *slot = edge_find(e, batch[i].key);
    if (!slot->key) {
      slot->key = batch[i].key;
      e->n++;
    }
    if (slot->stamp != visit) { /* pprof counts an edge's first occurrence per sample */
      slot->stamp = visit;
      slot->weight += value;
      slot->outline |= batch[i].outline;
    }
  }
  return true;
}

static int label_inlines(const lw_view_t *v, const uint8_t *kept, int64_t edge_cutoff,
                         uint8_t *called) {
  const lw_profile_t *p = v->profile;
  edges_t e = {calloc(4096, sizeof(edge_slot_t)), 4096, 0};
  /* Locations with no kept frame are skipped whole: usually most of them. With dense ids
   * (every writer we know) this byte per location id answers before the bigger span
   * array is touched; otherwise it is indexed by the span's location index. */
  bool dense = v->span_keys == NULL;
  uint8_t *has_kept = calloc((dense ? v->n_spans : p->n_locations) + 1, 1);
  int result = -1;
  if (!e.slots || !has_kept)
    goto out;
  for (size_t i = 0; i < p->n_locations; i++) {
    const lw_view_span_t *span = lw_view_span(v, p->locations[i].id);
    for (uint32_t j = 0; j < span->count; j++)
      has_kept[dense ? p->locations[i].id : i] |= kept[v->loc_frames[span->first + j]];
  }
  pending_edge_t batch[EDGE_BATCH];
  uint32_t visit = 0;
  for (size_t s = 0; s < p->n_samples; s++) {
    int64_t value = lw_view_value(v, s);
    if (!lw_view_kept(v, s) || value == 0)
      continue;
    size_t n_ids;
    const uint64_t *ids = lw_view_sample_ids(v, s, &n_ids);
    visit++;
    size_t n = 0;
    uint32_t parent = UINT32_MAX;
    for (size_t k = n_ids; k-- > 0;) {
      const lw_view_span_t *span;
      if (dense) {
        if (ids[k] >= v->n_spans || !has_kept[ids[k]])
          continue;
        span = &v->spans[ids[k]];
      } else {
        span = lw_view_span(v, ids[k]);
        if (!span->count || !has_kept[span->index])
          continue;
      }
      for (uint32_t j = span->count; j-- > 0;) {
        uint32_t f = v->loc_frames[span->first + j];
        if (!kept[f])
          continue;
        if (parent != UINT32_MAX && parent != f) {
          if (n == EDGE_BATCH) {
            if (!count_edges(&e, batch, n, value, visit))
              goto out;
            n = 0;
          }
          uint64_t key = ((uint64_t)parent << 32 | f) + 1;
          batch[n++] = (pending_edge_t){key, j + 1 == span->count};
          __builtin_prefetch(&e.slots[edge_home(&e, key)], 1);
        }
        parent = f;
      }
    }
    if (!count_edges(&e, batch, n, value, visit))
      goto out;
  }
  for (size_t i = 0; i < e.cap; i++)
    if (e.slots[i].key && abs64(e.slots[i].weight) >= edge_cutoff)
      called[(uint32_t)(e.slots[i].key - 1)] |= e.slots[i].outline ? 2 : 1;
  result = 0;
out:
  free(e.slots);
  free(has_kept);
  return result;
}

int lw_top_compute(const lw_view_t *v, bool cum_sort, double node_fraction, size_t max_rows,
                   lw_top_t *out) {
  memset(out, 0, sizeof *out);
  out->total = v->total;
  size_t n_frames = v->frames.n;
  int64_t *flat = calloc(n_frames + 1, sizeof *flat);
  int64_t *cum = calloc(n_frames + 1, sizeof *cum);
  uint32_t *stamp = calloc(n_frames + 1, sizeof *stamp);
  uint8_t *present = calloc(n_frames + 1, 1);
  uint8_t *called = calloc(n_frames + 1, 1); /* bit 0 inlined call, bit 1 real call */
  uint8_t *kept = calloc(n_frames + 1, 1);
  int result = -1;
  if (!flat || !cum || !stamp || !present || !called || !kept)
    goto out;
  /* The hot loop: straight over location spans, no per-sample list. */
  uint32_t visit = 0;
  for (size_t s = 0; s < v->profile->n_samples; s++) {
    if (!lw_view_kept(v, s))
      continue;
    int64_t value = lw_view_value(v, s);
    if (value == 0)
      continue;
    size_t n;
    const uint64_t *ids = lw_view_sample_ids(v, s, &n);
    bool leaf = true;
    visit++;
    for (size_t k = 0; k < n; k++) {
      const lw_view_span_t *span = lw_view_span(v, ids[k]);
      const uint32_t *frames = v->loc_frames + span->first;
      for (uint32_t j = 0; j < span->count; j++) {
        uint32_t f = frames[j];
        if (leaf) {
          flat[f] += value;
          leaf = false;
        }
        present[f] = 1;
        if (stamp[f] != visit) {
          stamp[f] = visit;
          cum[f] += value;
        }
      }
    }
  }
  /* pprof drops nodes with |cum| under node_fraction of the summed flat values. */
  int64_t flat_sum = 0;
  size_t n_present = 0;
  for (size_t f = 0; f < n_frames; f++) {
    flat_sum += flat[f];
    n_present += present[f] && (flat[f] != 0 || cum[f] != 0);
  }
  out->cutoff = abs64((int64_t)((double)flat_sum * node_fraction));
  out->rows = calloc(n_present + 1, sizeof *out->rows);
  if (!out->rows)
    goto out;
  for (size_t f = 0; f < n_frames; f++) {
    if (!present[f] || (flat[f] == 0 && cum[f] == 0))
      continue;
    if (abs64(cum[f]) < out->cutoff) {
      out->n_dropped++;
      continue;
    }
    out->rows[out->n_rows++] = (lw_top_row_t){(uint32_t)f, flat[f], cum[f], false, false};
  }
  sort_view = v;
  sort_by_cum = cum_sort;
  qsort(out->rows, out->n_rows, sizeof *out->rows, compare_rows);
  if (max_rows && out->n_rows > max_rows) {
    out->n_cut = out->n_rows - max_rows;
    out->n_rows = max_rows;
  }
  for (size_t i = 0; i < out->n_rows; i++) {
    out->shown_flat += out->rows[i].flat;
    kept[out->rows[i].frame] = 1;
  }
  int64_t edge_cutoff = abs64((int64_t)((double)flat_sum * LW_TOP_EDGE_FRACTION));
  if (label_inlines(v, kept, edge_cutoff, called) < 0)
    goto out;
  for (size_t i = 0; i < out->n_rows; i++) {
    out->rows[i].called_inlined = (called[out->rows[i].frame] & 1) != 0;
    out->rows[i].called_outline = (called[out->rows[i].frame] & 2) != 0;
  }
  result = 0;
out:
  free(flat);
  free(cum);
  free(stamp);
  free(present);
  free(called);
  free(kept);
  if (result < 0)
    lw_top_free(out);
  return result;
}

const char *lw_top_inline_label(const lw_top_row_t *row) {
  if (!row->called_inlined)
    return "";
  return row->called_outline ? "(partial-inline)" : "(inline)";
}

void lw_top_free(lw_top_t *top) {
  free(top->rows);
  top->rows = NULL;
  top->n_rows = 0;
}

void lw_top_percent(int64_t value, int64_t total, char *out, size_t size) {
  double ratio = total ? fabs((double)value / (double)total) * 100 : 0;
  if (ratio >= 99.95 && ratio <= 100.05)
    snprintf(out, size, "100%%");
  else if (ratio >= 1.0)
    snprintf(out, size, "%.2f%%", ratio);
  else
    snprintf(out, size, "%.2g%%", ratio);
}
