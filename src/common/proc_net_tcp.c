/*
 * proc_net_tcp.c - reads one line of /proc/net/tcp or /proc/net/tcp6: is it a socket
 * listening on a given port and address, and whose is it (uid, socket inode)?
 *
 * The agent uses it when LEAKWATCH_HTTP's port is taken, to name the holder
 * (src/agent/http_owner.c). Kept here, apart from the agent, so the fuzz target
 * (tests/fuzz/fuzz_proc_net_tcp.c) can reach it: the text comes from the kernel, but a line
 * is read with pointers that must never pass its end. No allocation, no libc beyond memcmp.
 */
#include "common/proc_net_tcp.h"

#include <string.h>

static int hex_digit(char c) {
  return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Parses n hex digits at *p into value; false if they are not there. */
static bool scan_hex(const char **p, const char *end, int digits, uint64_t *value) {
  *value = 0;
  for (int i = 0; i < digits; i++, (*p)++) {
    int d = *p < end ? hex_digit(**p) : -1;
    if (d < 0)
      return false;
    *value = *value << 4 | (uint64_t)d;
  }
  return true;
}

bool lw_proc_net_tcp_listener(const char *line, const char *end, unsigned port,
                              const char *address, size_t address_len, uint64_t *inode,
                              unsigned *uid) {
  const char *p = line;
  while (p < end && *p == ' ')
    p++;
  while (p < end && *p != ' ') /* "sl:" */
    p++;
  while (p < end && *p == ' ')
    p++;
  const char *local = p;
  while (p < end && *p != ':')
    p++;
  size_t local_len = (size_t)(p - local);
  uint64_t local_port, state, value;
  if (p == end)
    return false;
  p++;
  if (!scan_hex(&p, end, 4, &local_port) || local_port != port)
    return false;
  bool wildcard = true;
  for (size_t i = 0; i < local_len; i++)
    wildcard = wildcard && local[i] == '0';
  if (!wildcard && (local_len != address_len || memcmp(local, address, local_len) != 0))
    return false;
  while (p < end && *p == ' ')
    p++;
  while (p < end && *p != ' ') /* remote address */
    p++;
  while (p < end && *p == ' ')
    p++;
  if (!scan_hex(&p, end, 2, &state) || state != 0x0A) /* TCP_LISTEN */
    return false;
  /* tx:rx tr:when retrnsmt uid timeout inode */
  uint64_t fields[6] = {0};
  for (int f = 0; f < 6; f++) {
    while (p < end && *p == ' ')
      p++;
    const char *start = p;
    while (p < end && *p != ' ')
      p++;
    if (f >= 3) {
      value = 0;
      for (const char *q = start; q < p; q++) {
        if (*q < '0' || *q > '9')
          return false;
        value = value * 10 + (uint64_t)(*q - '0');
      }
      fields[f] = value;
    }
  }
  *uid = (unsigned)fields[3];
  *inode = fields[5];
  return *inode != 0;
}

