/*
 * goroutine_export.h - the bodies of /debug/pprof/goroutine (goroutine_export.c): the
 * process's threads counted by their current stack, in Go's three forms.
 */
#ifndef LW_AGENT_GOROUTINE_EXPORT_H
#define LW_AGENT_GOROUTINE_EXPORT_H

#include "common/buf.h"

/* Appends to *out the gzipped pprof profile (debug <= 0), the grouped text (debug 1) or one
 * block per thread (debug >= 2). Agent thread only. Returns 0 or a negative errno. */
int lw__goroutine_export(int debug, lw_buf_t *out);

#endif
