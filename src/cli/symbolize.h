/*
 * symbolize.h - turns the addresses in a profile into functions, file:line and inline
 * frames, out of process, with elfutils' libdw (dwfl).
 *
 * Input is what the agent writes (../shared/FORMATS.md 1.8): Location.address = absolute
 * runtime address (return address - 1), Mappings copied from /proc/<pid>/maps with an
 * absolute filename and the hex GNU build ID, and possibly Function records that only carry
 * the raw ELF symbol name. Each mapped file is opened once, checked against the build ID in
 * the profile, and its DWARF found in the file itself or as split debug info by build ID
 * (<dir>/.build-id/ab/cdef....debug, <dir>/<build-id>/debuginfo, /usr/lib/debug). A missing
 * or different binary never yields a name: its frames stay addresses and one warning per
 * mapping names the path and build ID.
 *
 * Profiles that already carry file:line (Go's, or ours after a first pass) are left alone.
 * Pairs with symbolize.c (Linux, libdw) or symbolize_windows.c (Windows: PE images with
 * DWARF); symbolize_names.c formats frames for both. Demangling goes through libstdc++'s
 * __cxa_demangle.
 */
#ifndef LW_CLI_SYMBOLIZE_H
#define LW_CLI_SYMBOLIZE_H

#include <stdbool.h>
#include <stddef.h>

#include "common/profile.h"

/* Receives each warning as one line without the "leakwatch: warning: " prefix. */
typedef void (*lw_symbolize_warn_fn)(void *context, const char *message);

typedef struct lw_symbolize_options {
  const char *const *debug_dirs; /* searched first, in order; then /usr/lib/debug */
  size_t n_debug_dirs;
  bool force;                 /* also redo locations that already have file:line */
  lw_symbolize_warn_fn warn;  /* NULL: print with lw_cli_warn */
  void *warn_context;
} lw_symbolize_options_t;

typedef struct lw_symbolize_result {
  size_t n_locations;           /* locations that needed symbolizing */
  size_t n_functions;           /* ... of which got at least a function name */
  size_t n_lines;               /* ... of which got file:line from DWARF */
  size_t n_inlined;             /* ... of which have inlined frames (more than one line) */
  size_t n_unresolved;          /* ... left as bare addresses */
  size_t n_mappings_missing;    /* binary not found or unreadable */
  size_t n_mappings_mismatched; /* binary found, but its build ID differs */
  size_t n_warnings;
} lw_symbolize_result_t;

/* True when some location lacks file:line and could be symbolized (a cheap scan). */
bool lw_symbolize_needed(const lw_profile_t *profile);

/* Symbolizes in place (options and result may be NULL). Returns 0, or -1 when memory ran
 * out (the profile is then still valid, possibly partly symbolized). Binaries that cannot be
 * used are warnings, not errors. */
int lw_symbolize_profile(lw_profile_t *profile, const lw_symbolize_options_t *options,
                         lw_symbolize_result_t *result);

/* Demangles a C++ (Itanium ABI) symbol into `out`; copies anything else unchanged.
 * Returns true when it demangled. */
bool lw_demangle(const char *symbol, char *out, size_t size);

/* Opens a file a profile names (a binary, debug info, a source file) for reading, as
 * only a regular file: never blocks on a FIFO, never takes a terminal, and refuses devices,
 * directories and anything under /proc or /sys (/proc/self/mem is "regular" there). A
 * profile is input like any other and may be crafted. Returns the descriptor, or -1 with
 * errno set (ENODEV for "not a regular file"). */
int lw_open_named_file(const char *path);

/* Copies `in` to `out` with what a terminal would act on made visible: control characters
 * (C0, DEL, and C1 whether raw or UTF-8 encoded) and bytes that are not valid UTF-8 become
 * "\xNN" text, so a name from a crafted profile cannot move the cursor, retitle the window or
 * clear the screen. Valid UTF-8 passes unchanged. Frame names are escaped this way for
 * every output (JSON then escapes the backslash as usual). Always NUL-terminated when size
 * > 0; returns the length of the whole escaped text, as snprintf would. */
size_t lw_escape_text(char *out, size_t size, const char *in);

/* Reads the GNU build ID of an ELF file as lower-case hex. Returns 0, or -1 when the file
 * cannot be read, is not ELF or has no build ID. */
int lw_read_build_id(const char *path, char *hex, size_t size);

/* A frame for humans: line `line_index` of the location (0 = innermost inlined callee) as
 * "function file.c:123" (basename; ":line" or the file left out when unknown), or, for a
 * location without lines, "[libfoo.so+0x1a2b]" (file offset in the mapped file) or
 * "[0x7f...]" when no mapping is known. Returns the length snprintf would. */
size_t lw_symbolize_frame_name(const lw_profile_t *profile,
                               const lw_profile_location_t *location, size_t line_index,
                               char *out, size_t size);

/* The last component of a path ('/' or, for Windows profiles, '\\' separated). */
const char *lw_symbolize_basename(const char *path);

/* "[libfoo.so+0x1a2b]" for a location, whatever its lines. */
size_t lw_symbolize_address_name(const lw_profile_t *profile,
                                 const lw_profile_location_t *location, char *out,
                                 size_t size);

#endif
