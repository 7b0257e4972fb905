/*
 * output_names.c - see output_names.h. Plain string work: the agent calls it from its exit
 * path, where it must not allocate.
 */
#include "common/output_names.h"

#include <string.h>

int lw_output_sidecar_path(const char *profile_path, const char *kind, char *out, size_t size) {
  static const char ending[] = ".pb.gz";
  size_t length = strlen(profile_path), ending_length = sizeof ending - 1;
  size_t stem = length;
  if (length > ending_length && strcmp(profile_path + length - ending_length, ending) == 0)
    stem = length - ending_length;
  size_t kind_length = strlen(kind);
  size_t needed = stem + 1 + kind_length + ending_length + 1;
  if (needed > size)
    return -1;
  memcpy(out, profile_path, stem);
  out[stem] = '.';
  memcpy(out + stem + 1, kind, kind_length);
  memcpy(out + stem + 1 + kind_length, ending, ending_length + 1);
  return 0;
}
