/*
 * inflate.h - gunzip of whole profiles for the analysis commands.
 *
 * Large profiles compress poorly (addresses and ids are close to random bytes), and zlib
 * inflates them at about 100 MB/s of output on our CI machines: for a 50 MB profile that
 * was a third of `leakwatch top`. libdeflate inflates whole buffers 2-3x faster, so the
 * CLI uses it when the build found it; zlib (lw_gunzip) stays the reference, produces every
 * error message, and is all the agent and the Windows build use.
 */
#ifndef LW_CLI_INFLATE_H
#define LW_CLI_INFLATE_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

/* Same contract as lw_gunzip (common/gzip.h): appends the decompressed bytes of every gzip
 * member in `in` to `out`, fails past max_out bytes, and on failure gives lw_gunzip's
 * one-line reason. */
int lw_cli_gunzip(const uint8_t *in, size_t len, lw_buf_t *out, size_t max_out, char *error,
                  size_t error_size);

#endif
