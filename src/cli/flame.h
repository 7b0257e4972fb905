/*
 * flame.h - flame graphs of a profile view: the tree of stacks (root at the bottom, each
 * frame as wide as the value below it), written as FlameGraph's folded-stack text or as a
 * self-contained interactive SVG (hover shows name, value and share; click zooms into a
 * frame; search highlights frames matching a regular expression). The SVG needs nothing
 * from the network and renders without script too. cmd_flame.c and cmd_report.c use it.
 */
#ifndef LW_CLI_FLAME_H
#define LW_CLI_FLAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cli/view.h"

typedef struct lw_flame_node {
  uint32_t frame;        /* view frame id (node 0, the root, has none) */
  uint32_t parent;
  uint32_t first_child;  /* UINT32_MAX when none */
  uint32_t next_sibling; /* UINT32_MAX when none */
  uint32_t depth;        /* root 0 */
  int64_t value;         /* everything at or under this frame */
  int64_t self;          /* stacks ending here */
} lw_flame_node_t;

typedef struct lw_flame {
  lw_flame_node_t *nodes; /* nodes[0] is the root ("all") */
  size_t n, cap;
  uint32_t max_depth;
  uint32_t *slots; /* (parent, frame) -> node + 1: child lookup while building */
  size_t n_slots;
} lw_flame_t;

/* Builds the tree from the view's kept samples; samples with a value <= 0 are left out (a
 * flame graph cannot draw negative widths). Returns 0 or -1 when out of memory. */
int lw_flame_build(const lw_view_t *view, lw_flame_t *flame);
void lw_flame_free(lw_flame_t *flame);

/* "main;grow;malloc 4096" lines, root first, one per distinct stack, sorted by the tree's
 * order. ';' inside a name is written as ':' so the format stays parseable. */
int lw_flame_write_folded(const lw_flame_t *flame, const lw_view_t *view, FILE *out);

typedef struct lw_flame_svg_options {
  const char *title;
  int width;        /* pixels; 0 = 1200 */
  bool inline_html; /* no XML prolog: for embedding in an HTML page */
} lw_flame_svg_options_t;

int lw_flame_write_svg(const lw_flame_t *flame, const lw_view_t *view,
                       const lw_flame_svg_options_t *options, FILE *out);

/* Escapes text for XML/HTML character data and attribute values. */
void lw_xml_escape(FILE *out, const char *text);

#endif
