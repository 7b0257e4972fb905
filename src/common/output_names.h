/*
 * output_names.h - the names of the files written beside a heap profile, shared by the
 * agent (which writes them at exit) and `leakwatch run` (which reads them to report).
 */
#ifndef LW_COMMON_OUTPUT_NAMES_H
#define LW_COMMON_OUTPUT_NAMES_H

#include <stddef.h>

/* "out.pb.gz" + "fds" -> "out.fds.pb.gz"; a profile name without the ".pb.gz" ending gets
 * ".fds.pb.gz" appended. Returns 0, or -1 when out is too small. */
int lw_output_sidecar_path(const char *profile_path, const char *kind, char *out, size_t size);

#endif
