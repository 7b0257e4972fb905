/*
 * flame.c - stack tree, folded text and interactive SVG flame graphs (see flame.h).
 *
 * The SVG is drawn complete by this code (every frame's rect and label for the unzoomed
 * view), so it renders with script disabled; the embedded script only re-lays it out on
 * zoom and recolours matches on search. Children are ordered by name, as flame graphs
 * usually are, so the picture does not depend on sample order.
 */
#include "cli/flame.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NONE UINT32_MAX
#define FRAME_HEIGHT 16
#define TOP_MARGIN 44
#define BOTTOM_MARGIN 28
#define CHAR_WIDTH 7.2 /* 12px monospace */

/* ---- tree ---------------------------------------------------------------------------------- */

static uint64_t slot_hash(uint32_t parent, uint32_t frame) {
  return ((uint64_t)parent << 32 | frame) * 0x9e3779b97f4a7c15ull;
}

static bool grow_slots(lw_flame_t *f) {
  size_t n_slots = f->n_slots ? f->n_slots * 2 : 4096;
  uint32_t *slots = calloc(n_slots, sizeof *slots);
  if (!slots)
    return false;
  for (size_t i = 1; i < f->n; i++) {
    size_t s = (slot_hash(f->nodes[i].parent, f->nodes[i].frame) >> 20) & (n_slots - 1);
    while (slots[s])
      s = (s + 1) & (n_slots - 1);
    slots[s] = (uint32_t)i + 1;
  }
  free(f->slots);
  f->slots = slots;
  f->n_slots = n_slots;
  return true;
}

static uint32_t add_node(lw_flame_t *f, uint32_t parent, uint32_t frame) {
  if (f->n == f->cap) {
    size_t cap = f->cap ? f->cap * 2 : 1024;
    lw_flame_node_t *nodes = realloc(f->nodes, cap * sizeof *nodes);
    if (!nodes)
      return NONE;
    f->nodes = nodes;
    f->cap = cap;
  }
  uint32_t i = (uint32_t)f->n++;
  lw_flame_node_t *n = &f->nodes[i];
  *n = (lw_flame_node_t){frame, parent, NONE, NONE, 0, 0, 0};
  if (parent != NONE) {
    n->depth = f->nodes[parent].depth + 1;
    n->next_sibling = f->nodes[parent].first_child;
    f->nodes[parent].first_child = i;
    if (n->depth > f->max_depth)
      f->max_depth = n->depth;
  }
  return i;
}

static uint32_t child(lw_flame_t *f, uint32_t parent, uint32_t frame) {
  if ((f->n + 1) * 2 > f->n_slots && !grow_slots(f))
    return NONE;
  size_t s = (slot_hash(parent, frame) >> 20) & (f->n_slots - 1);
  while (f->slots[s]) {
    uint32_t i = f->slots[s] - 1;
    if (f->nodes[i].parent == parent && f->nodes[i].frame == frame)
      return i;
    s = (s + 1) & (f->n_slots - 1);
  }
  uint32_t i = add_node(f, parent, frame);
  if (i != NONE)
    f->slots[s] = i + 1;
  return i;
}

int lw_flame_build(const lw_view_t *v, lw_flame_t *f) {
  memset(f, 0, sizeof *f);
  lw_frame_list_t stack = {NULL, NULL, 0, 0};
  if (add_node(f, NONE, NONE) == NONE)
    return -1;
  for (size_t s = 0; s < v->profile->n_samples; s++) {
    int64_t value = lw_view_value(v, s);
    if (!lw_view_kept(v, s) || value <= 0)
      continue;
    if (lw_view_stack(v, s, &stack) < 0)
      goto oom;
    uint32_t node = 0;
    f->nodes[0].value += value;
    for (size_t k = stack.n; k-- > 0;) {
      node = child(f, node, stack.ids[k]);
      if (node == NONE)
        goto oom;
      f->nodes[node].value += value;
    }
    f->nodes[node].self += value;
  }
  lw_frame_list_free(&stack);
  return 0;
oom:
  lw_frame_list_free(&stack);
  lw_flame_free(f);
  return -1;
}

void lw_flame_free(lw_flame_t *f) {
  free(f->nodes);
  free(f->slots);
  memset(f, 0, sizeof *f);
}

/* Children of every node sorted by name: order[] lists node ids, children of a node
 * contiguous, starting at start[node]. */
typedef struct {
  uint32_t *order, *start, *count;
} sorted_t;

static const lw_flame_t *sort_flame;
static const lw_view_t *sort_view;

static int by_name(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return strcmp(lw_view_frame_name(sort_view, sort_flame->nodes[x].frame),
                lw_view_frame_name(sort_view, sort_flame->nodes[y].frame));
}

static int sort_children(const lw_flame_t *f, const lw_view_t *v, sorted_t *s) {
  s->order = malloc((f->n + 1) * sizeof *s->order);
  s->start = calloc(f->n + 1, sizeof *s->start);
  s->count = calloc(f->n + 1, sizeof *s->count);
  if (!s->order || !s->start || !s->count)
    return -1;
  for (size_t i = 1; i < f->n; i++)
    s->count[f->nodes[i].parent]++;
  uint32_t next = 0;
  for (size_t i = 0; i < f->n; i++) {
    s->start[i] = next;
    next += s->count[i];
    s->count[i] = 0;
  }
  for (size_t i = 1; i < f->n; i++) {
    uint32_t p = f->nodes[i].parent;
    s->order[s->start[p] + s->count[p]++] = (uint32_t)i;
  }
  sort_flame = f;
  sort_view = v;
  for (size_t i = 0; i < f->n; i++)
    if (s->count[i] > 1)
      qsort(s->order + s->start[i], s->count[i], sizeof *s->order, by_name);
  return 0;
}

static void sorted_free(sorted_t *s) {
  free(s->order);
  free(s->start);
  free(s->count);
}

/* ---- folded -------------------------------------------------------------------------------- */

static void put_folded_name(FILE *out, const char *name) {
  for (; *name; name++)
    fputc(*name == ';' ? ':' : (*name == '\n' ? ' ' : *name), out);
}

int lw_flame_write_folded(const lw_flame_t *f, const lw_view_t *v, FILE *out) {
  sorted_t s = {NULL, NULL, NULL};
  uint32_t *path = malloc((f->max_depth + 2) * sizeof *path);
  uint32_t *todo = malloc((f->n + 1) * sizeof *todo);
  int result = -1;
  if (!path || !todo || sort_children(f, v, &s) < 0)
    goto out;
  /* Depth-first, children in name order: push them reversed. */
  size_t n_todo = 0;
  for (uint32_t k = s.count[0]; k-- > 0;)
    todo[n_todo++] = s.order[s.start[0] + k];
  while (n_todo) {
    uint32_t node = todo[--n_todo];
    const lw_flame_node_t *n = &f->nodes[node];
    path[n->depth] = node;
    if (n->self > 0) {
      for (uint32_t d = 1; d <= n->depth; d++) {
        if (d > 1)
          fputc(';', out);
        put_folded_name(out, lw_view_frame_name(v, f->nodes[path[d]].frame));
      }
      fprintf(out, " %lld\n", (long long)n->self);
    }
    for (uint32_t k = s.count[node]; k-- > 0;)
      todo[n_todo++] = s.order[s.start[node] + k];
  }
  result = ferror(out) ? -1 : 0;
out:
  sorted_free(&s);
  free(path);
  free(todo);
  return result;
}

/* ---- SVG ----------------------------------------------------------------------------------- */

/* Length of a valid UTF-8 sequence at s, 0 if invalid. */
static int utf8_len(const unsigned char *s) {
  if (s[0] < 0x80)
    return 1;
  int n = (s[0] & 0xe0) == 0xc0 ? 2 : (s[0] & 0xf0) == 0xe0 ? 3 : (s[0] & 0xf8) == 0xf0 ? 4 : 0;
  if (n == 0 || (n == 2 && s[0] < 0xc2))
    return 0;
  for (int i = 1; i < n; i++)
    if ((s[i] & 0xc0) != 0x80)
      return 0;
  return n;
}

void lw_xml_escape(FILE *out, const char *text) {
  const unsigned char *s = (const unsigned char *)text;
  while (*s) {
    switch (*s) {
    case '&': fputs("&amp;", out); s++; continue;
    case '<': fputs("&lt;", out); s++; continue;
    case '>': fputs("&gt;", out); s++; continue;
    case '"': fputs("&quot;", out); s++; continue;
    case '\'': fputs("&#39;", out); s++; continue;
    default: break;
    }
    if (*s < 0x20) {
      fputc(' ', out); /* XML 1.0 forbids most control characters */
      s++;
      continue;
    }
    int n = utf8_len(s);
    if (n == 0) {
      fputs("\xef\xbf\xbd", out);
      s++;
    } else {
      fwrite(s, 1, (size_t)n, out);
      s += n;
    }
  }
}

/* A JavaScript string literal body safe inside <script> in HTML and in an SVG CDATA
 * section: no '<', '>' or '&' appear literally. */
static void js_escape(FILE *out, const char *text) {
  const unsigned char *s = (const unsigned char *)text;
  while (*s) {
    if (*s == '"' || *s == '\\') {
      fputc('\\', out);
      fputc(*s++, out);
    } else if (*s < 0x20 || *s == '<' || *s == '>' || *s == '&') {
      fprintf(out, "\\u%04x", *s++);
    } else {
      int n = utf8_len(s);
      if (n == 0) {
        fputs("\\ufffd", out);
        s++;
      } else {
        fwrite(s, 1, (size_t)n, out);
        s += n;
      }
    }
  }
}

/* Warm colours from a hash of the name: the same function always gets the same colour. */
static void colour(const char *name, char *out, size_t size) {
  uint32_t h = 2166136261u;
  for (const char *c = name; *c; c++)
    h = (h ^ (uint8_t)*c) * 16777619u;
  unsigned r = 200 + (h & 0x37), g = 60 + ((h >> 8) % 150), b = 30 + ((h >> 16) % 50);
  snprintf(out, size, "rgb(%u,%u,%u)", r > 255 ? 255 : r, g, b);
}

static void label(FILE *out, const char *name, double width) {
  int fit = (int)floor((width - 6) / CHAR_WIDTH);
  if (fit < 3)
    return;
  int len = (int)strlen(name);
  if (len <= fit) {
    lw_xml_escape(out, name);
    return;
  }
  char cut[1024];
  int keep = fit - 2 < (int)sizeof cut - 1 ? fit - 2 : (int)sizeof cut - 1;
  /* Do not cut a UTF-8 sequence in half. */
  while (keep > 0 && ((unsigned char)name[keep] & 0xc0) == 0x80)
    keep--;
  memcpy(cut, name, (size_t)keep);
  cut[keep] = '\0';
  lw_xml_escape(out, cut);
  fputs("..", out);
}

/* The script: from scratch; reads the frame table F and the name table N written above it. */
static const char script[] =
    "(function () {\n"
    "  'use strict';\n"
    "  var d = LWF, W = d.width, N = d.names, F = d.frames, zoomed = -1, fills = [];\n"
    "  function el(i) { return document.getElementById('lwf' + i); }\n"
    "  function fmt(v) {\n"
    "    if (d.unit === 'bytes') {\n"
    "      var u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'], i = 0, a = Math.abs(v);\n"
    "      while (a >= 1024 && i < 4) { a /= 1024; v /= 1024; i++; }\n"
    "      return i === 0 ? v + ' B' : v.toFixed(a >= 100 ? 0 : a >= 10 ? 1 : 2) + ' ' + u[i];\n"
    "    }\n"
    "    return String(v) + (d.unit && d.unit !== 'count' ? ' ' + d.unit : '');\n"
    "  }\n"
    "  function pct(v, of) { return of ? (100 * v / of).toFixed(2) + '%' : '0%'; }\n"
    "  function show(text) { document.getElementById('lwdetails').textContent = text; }\n"
    "  function isUnder(i, top) {\n"
    "    var p = i;\n"
    "    while (p >= 0 && F[p][1] > F[top][1]) p = F[p][4];\n"
    "    return p === top;\n"
    "  }\n"
    "  function isAbove(i, top) {\n"
    "    for (var p = F[top][4]; p >= 0; p = F[p][4]) if (p === i) return true;\n"
    "    return false;\n"
    "  }\n"
    "  function fit(name, w) {\n"
    "    var n = Math.floor((w - 6) / 7.2);\n"
    "    if (n < 3) return '';\n"
    "    return name.length <= n ? name : name.slice(0, n - 2) + '..';\n"
    "  }\n"
    "  function layout() {\n"
    "    var top = zoomed < 0 ? 0 : zoomed, bx = F[top][2], bv = F[top][3] || 1;\n"
    "    for (var i = 0; i < F.length; i++) {\n"
    "      var f = F[i], g = el(i), r = g.querySelector('rect'), t = g.querySelector('text'), x, w;\n"
    "      if (isUnder(i, top)) { x = (f[2] - bx) / bv * W; w = f[3] / bv * W; g.classList.remove('lwabove'); }\n"
    "      else if (isAbove(i, top)) { x = 0; w = W; g.classList.add('lwabove'); }\n"
    "      else { g.style.display = 'none'; continue; }\n"
    "      g.style.display = w < 0.1 ? 'none' : '';\n"
    "      r.setAttribute('x', x.toFixed(1));\n"
    "      r.setAttribute('width', Math.max(w, 0.1).toFixed(1));\n"
    "      t.setAttribute('x', (x + 3).toFixed(1));\n"
    "      t.textContent = fit(N[f[0]], w);\n"
    "    }\n"
    "    document.getElementById('lwunzoom').style.display = zoomed > 0 ? '' : 'none';\n"
    "  }\n"
    "  function zoom(i) { zoomed = i; layout(); }\n"
    "  function search(re) {\n"
    "    var rx = null, sum = 0, hit = [];\n"
    "    if (re) { try { rx = new RegExp(re); } catch (e) { show('bad regular expression: ' + re); return; } }\n"
    "    for (var i = 0; i < F.length; i++) {\n"
    "      var r = el(i).querySelector('rect');\n"
    "      if (fills[i] === undefined) fills[i] = r.getAttribute('fill');\n"
    "      hit[i] = rx !== null && i > 0 && rx.test(N[F[i][0]]);\n"
    "      r.setAttribute('fill', hit[i] ? 'rgb(200,60,230)' : fills[i]);\n"
    "      if (hit[i]) { var p = F[i][4], nested = false;\n"
    "        for (; p >= 0; p = F[p][4]) if (hit[p]) { nested = true; break; }\n"
    "        if (!nested) sum += F[i][3]; }\n"
    "    }\n"
    "    var m = document.getElementById('lwmatched');\n"
    "    m.textContent = rx ? 'Matched: ' + fmt(sum) + ' (' + pct(sum, F[0][3]) + ')' : '';\n"
    "    document.getElementById('lwunsearch').style.display = rx ? '' : 'none';\n"
    "    return sum;\n"
    "  }\n"
    "  var svg = document.getElementById('lwflame');\n"
    "  svg.addEventListener('mouseover', function (e) {\n"
    "    var g = e.target.closest ? e.target.closest('.lwf') : null;\n"
    "    if (!g) return;\n"
    "    var f = F[+g.id.slice(3)], of = F[zoomed < 0 ? 0 : zoomed][3];\n"
    "    show(N[f[0]] + ' \\u2014 ' + fmt(f[3]) + ' (' + pct(f[3], F[0][3]) + ' of all' +\n"
    "         (zoomed > 0 ? ', ' + pct(f[3], of) + ' of the zoomed frame' : '') + ')');\n"
    "  });\n"
    "  svg.addEventListener('mouseout', function () { show(d.hint); });\n"
    "  svg.addEventListener('click', function (e) {\n"
    "    var t = e.target.closest ? e.target.closest('.lwf, #lwunzoom, #lwsearch, #lwunsearch') : null;\n"
    "    if (!t) return;\n"
    "    if (t.id === 'lwunzoom') zoom(-1);\n"
    "    else if (t.id === 'lwsearch') { var re = window.prompt('Search (regular expression)', ''); if (re) search(re); }\n"
    "    else if (t.id === 'lwunsearch') search(null);\n"
    "    else zoom(+t.id.slice(3));\n"
    "  });\n"
    "  document.addEventListener('keydown', function (e) {\n"
    "    if ((e.ctrlKey && e.key === 'f') || (e.key === '/' && !e.target.closest('input'))) {\n"
    "      e.preventDefault(); var re = window.prompt('Search (regular expression)', ''); if (re) search(re);\n"
    "    }\n"
    "  });\n"
    "  window.lwFlameSearch = search;\n"
    "  window.lwFlameZoom = zoom;\n"
    "  var q = /[?&]s=([^&]*)/.exec(window.location.search);\n"
    "  if (q) search(decodeURIComponent(q[1]));\n"
    "  show(d.hint);\n"
    "})();\n";

int lw_flame_write_svg(const lw_flame_t *f, const lw_view_t *v, const lw_flame_svg_options_t *o,
                       FILE *out) {
  int width = o->width > 0 ? o->width : 1200;
  int64_t total = f->nodes[0].value;
  /* Frames narrower than a tenth of a pixel are not drawn, nor anything above them. */
  double min_value = total > 0 ? (double)total / width * 0.1 : 1;
  sorted_t s = {NULL, NULL, NULL};
  uint32_t *drawn = malloc((f->n + 1) * sizeof *drawn);    /* node -> F index or NONE */
  int64_t *x0 = malloc((f->n + 1) * sizeof *x0);           /* start, in value units */
  uint32_t *todo = malloc((f->n + 1) * sizeof *todo);
  uint32_t *list = malloc((f->n + 1) * sizeof *list);      /* F index -> node */
  int32_t *name_index = malloc((v->frames.n + 1) * sizeof *name_index);
  int result = -1;
  if (!drawn || !x0 || !todo || !list || !name_index || sort_children(f, v, &s) < 0)
    goto out;
  for (size_t i = 0; i <= v->frames.n; i++)
    name_index[i] = -1;

  /* Pass 1: which nodes are drawn, their x, in depth-first order. */
  size_t n_list = 0, n_todo = 0;
  x0[0] = 0;
  todo[n_todo++] = 0;
  while (n_todo) {
    uint32_t node = todo[--n_todo];
    drawn[node] = (uint32_t)n_list;
    list[n_list++] = node;
    int64_t x = x0[node];
    uint32_t first = (uint32_t)n_todo;
    for (uint32_t k = 0; k < s.count[node]; k++) {
      uint32_t c = s.order[s.start[node] + k];
      x0[c] = x;
      x += f->nodes[c].value;
      if ((double)f->nodes[c].value >= min_value)
        todo[n_todo++] = c;
    }
    /* Reverse the pushed children so they come out in name order. */
    for (uint32_t a = first, b = (uint32_t)n_todo; a + 1 < b; a++, b--) {
      uint32_t t = todo[a];
      todo[a] = todo[b - 1];
      todo[b - 1] = t;
    }
  }
  uint32_t max_depth = 0;
  for (size_t i = 0; i < n_list; i++)
    if (f->nodes[list[i]].depth > max_depth)
      max_depth = f->nodes[list[i]].depth;

  int height = TOP_MARGIN + (int)(max_depth + 1) * FRAME_HEIGHT + BOTTOM_MARGIN;
  if (!o->inline_html)
    fputs("<?xml version=\"1.0\" standalone=\"no\"?>\n", out);
  fprintf(out,
          "<svg id=\"lwflame\" xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" "
          "width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\">\n",
          width, height, width, height);
  fputs("<style>\n"
        "#lwflame text { font: 12px monospace; fill: #000; }\n"
        "#lwflame .lwf { cursor: pointer; }\n"
        "#lwflame .lwf:hover rect { stroke: #000; stroke-width: 0.6; }\n"
        "#lwflame .lwabove rect { opacity: 0.5; }\n"
        "#lwflame .lwbutton { cursor: pointer; fill: #3060c0; }\n"
        "#lwflame .lwtitle { font: bold 15px sans-serif; }\n"
        "</style>\n",
        out);
  fprintf(out, "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#fdf8ee\"/>\n", width,
          height);
  fprintf(out, "<text class=\"lwtitle\" x=\"%d\" y=\"20\" text-anchor=\"middle\">", width / 2);
  lw_xml_escape(out, o->title ? o->title : "Flame graph");
  fputs("</text>\n", out);
  fputs("<text id=\"lwunzoom\" class=\"lwbutton\" x=\"8\" y=\"20\" style=\"display:none\">"
        "Reset zoom</text>\n",
        out);
  fprintf(out, "<text id=\"lwsearch\" class=\"lwbutton\" x=\"%d\" y=\"20\" text-anchor=\"end\">"
               "Search</text>\n",
          width - 8);
  fprintf(out, "<text id=\"lwunsearch\" class=\"lwbutton\" x=\"%d\" y=\"36\" text-anchor=\"end\" "
               "style=\"display:none\">Reset search</text>\n",
          width - 8);
  fprintf(out, "<text id=\"lwmatched\" x=\"%d\" y=\"%d\" text-anchor=\"end\"></text>\n", width - 8,
          height - 10);
  fprintf(out, "<text id=\"lwdetails\" x=\"8\" y=\"%d\"> </text>\n", height - 10);

  /* Pass 2: the frames, as drawn without script. */
  for (size_t i = 0; i < n_list; i++) {
    const lw_flame_node_t *n = &f->nodes[list[i]];
    const char *name = list[i] == 0 ? "all" : lw_view_frame_name(v, n->frame);
    double x = total ? (double)x0[list[i]] / (double)total * width : 0;
    double w = total ? (double)n->value / (double)total * width : width;
    int y = TOP_MARGIN + (int)(max_depth - n->depth) * FRAME_HEIGHT;
    char fill[32], value[64];
    colour(name, fill, sizeof fill);
    if (list[i] == 0)
      snprintf(fill, sizeof fill, "rgb(240,200,120)");
    lw_view_format_value(v, n->value, value, sizeof value);
    fprintf(out, "<g class=\"lwf\" id=\"lwf%zu\"><title>", i);
    lw_xml_escape(out, name);
    fprintf(out, " (%s, %.2f%%)</title><rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" "
                 "fill=\"%s\" rx=\"2\"/><text x=\"%.1f\" y=\"%d\">",
            value, total ? 100.0 * (double)n->value / (double)total : 0.0, x, y,
            w < 0.1 ? 0.1 : w, FRAME_HEIGHT - 1, fill, x + 3, y + 12);
    label(out, name, w);
    fputs("</text></g>\n", out);
  }

  /* The data the script lays out from: names once, then per frame
   * [name, depth, x0, value, parent frame index]. */
  fputs("<script type=\"text/javascript\"><![CDATA[\nvar LWF = {width: ", out);
  fprintf(out, "%d, unit: \"", width);
  js_escape(out, v->sample_unit);
  fputs("\", hint: \"Hover for details, click to zoom, Search (or Ctrl+F) to highlight\",\n"
        "names: [\"all\"",
        out);
  for (size_t i = 1; i < n_list; i++) {
    uint32_t frame = f->nodes[list[i]].frame;
    if (name_index[frame] == -2)
      continue;
    fputs(",\"", out);
    js_escape(out, lw_view_frame_name(v, frame));
    fputc('"', out);
    /* Mark written; names are numbered in first-appearance order, as written here. */
    name_index[frame] = -2;
  }
  fputs("],\nframes: [", out);
  /* Number names in the order they were written: first appearance in list order. */
  for (size_t i = 0; i <= v->frames.n; i++)
    name_index[i] = -1;
  int32_t n_names = 1;
  for (size_t i = 0; i < n_list; i++) {
    const lw_flame_node_t *n = &f->nodes[list[i]];
    int32_t name = 0;
    if (list[i] != 0) {
      if (name_index[n->frame] < 0)
        name_index[n->frame] = n_names++;
      name = name_index[n->frame];
    }
    long parent = list[i] == 0 ? -1 : (long)drawn[n->parent];
    fprintf(out, "%s[%d,%u,%lld,%lld,%ld]", i ? "," : "", name, n->depth, (long long)x0[list[i]],
            (long long)n->value, parent);
    if (i % 8 == 7)
      fputc('\n', out);
  }
  fputs("]};\n", out);
  fputs(script, out);
  fputs("]]></script>\n</svg>\n", out);
  result = ferror(out) ? -1 : 0;
out:
  sorted_free(&s);
  free(drawn);
  free(x0);
  free(todo);
  free(list);
  free(name_index);
  return result;
}
