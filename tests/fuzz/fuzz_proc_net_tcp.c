/*
 * fuzz_proc_net_tcp.c - libFuzzer target for the /proc/net/tcp{,6} line reader
 * (src/common/proc_net_tcp.c), which the agent runs when LEAKWATCH_HTTP's port is taken, to
 * name the holder. The input is split into lines; each line is copied into a buffer of
 * exactly its size (so a read past its end is caught) and asked about an IPv4 and an IPv6
 * address and the port given by the input's first two bytes. A line that is accepted must
 * give a nonzero inode. Seeds: captured files (corpus/proc_net_tcp/). Built and replayed like
 * the other targets (tests/fuzz/CMakeLists.txt, docs/FUZZING.md).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/proc_net_tcp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_line(const char *text, size_t len, unsigned port) {
  char *line = malloc(len ? len : 1);
  if (!line)
    return;
  memcpy(line, text, len);
  static const char *const addresses[] = {"0100007F", "00000000000000000000000001000000"};
  for (int i = 0; i < 2; i++) {
    uint64_t inode = 0;
    unsigned uid = 0;
    if (lw_proc_net_tcp_listener(line, line + len, port, addresses[i], strlen(addresses[i]),
                                 &inode, &uid) &&
        inode == 0)
      __builtin_trap();
  }
  free(line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  unsigned port = size >= 2 ? (unsigned)data[0] << 8 | data[1] : 0x17AC; /* 6060 */
  const char *text = (const char *)data, *end = text + size;
  while (text < end) {
    const char *newline = memchr(text, '\n', (size_t)(end - text));
    const char *line_end = newline ? newline : end;
    check_line(text, (size_t)(line_end - text), port);
    text = newline ? newline + 1 : end;
  }
  return 0;
}
