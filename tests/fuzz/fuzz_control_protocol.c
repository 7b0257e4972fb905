/*
 * fuzz_control_protocol.c - libFuzzer target for the control protocol parsers
 * (src/common/control_protocol.c): any bytes as a request line (what a hostile local client
 * can send the agent) and as a reply header (what a fake agent can send the CLI). The
 * parsers must never read out of bounds, and what they accept must be self-consistent.
 */
#define _GNU_SOURCE /* memmem */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/control_protocol.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* Exact-size copy so any over-read past the input is caught by ASan. */
  char *line = malloc(size ? size : 1);
  if (!line)
    return 0;
  memcpy(line, data, size);
  lw_control_request_t request;
  char error[256];
  if (lw_control_parse_request(line, size, &request, error, sizeof error) == 0) {
    /* An accepted command is a known one, named in the request (the enum grows with the
     * protocol, so the check goes through the name table rather than the last value). */
    const char *name = lw_control_command_name(request.command);
    if (strcmp(name, "?") == 0 || !memmem(line, size, name, strlen(name)))
      abort();
    if (request.command == LW_CONTROL_HEAP_WINDOW && (request.argument < 1 || request.argument > 3600))
      abort();
  } else if (!memchr(error, '\0', sizeof error)) {
    abort();
  }
  lw_control_reply_t reply;
  if (lw_control_parse_reply(line, size, &reply) == 0) {
    if (!memchr(reply.message, '\0', sizeof reply.message) ||
        !memchr(reply.content_type, '\0', sizeof reply.content_type))
      abort();
  }
  free(line);
  return 0;
}
