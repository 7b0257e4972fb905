/*
 * slow_leak_in_churn.c - a slow leak hidden in heavy churn: a request handler allocates
 * and frees about 1 GiB a minute (request buffers, parsed headers, responses, a per-client
 * buffer kept a few seconds), and on one rare path - a retried request - it records the
 * request id for an audit that nobody ever drains: 1 MiB a minute, a thousandth of the
 * traffic. RSS and the heap total wobble by more than that every second; only the history
 * of each allocation site shows one of them rising steadily.
 *
 * The bug is in note_retry: the audit list only grows. The fix (--fixed) drains it - keeps
 * the newest AUDIT_KEEP ids, as a bounded ring would.
 *
 *   slow_leak_in_churn [--fixed] [--seconds N] [--scale S]
 *
 * At the default sampling rate (one sample per 512 KiB allocated) leakwatch needs about 5
 * minutes to be sure of a leak this slow: run with --scale 10 and
 * LEAKWATCH_HISTORY_INTERVAL=1s to see it in 30 seconds (docs/GUIDE.md).
 */
#include <stdint.h>

#include "classic_example.h"

enum {
  AUDIT_RECORD_BYTES = 256,
  AUDIT_KEEP = 512,          /* the fix: the audit list keeps the newest ids only */
  CLIENTS = 4096,            /* per-client buffers held a while */
  CHURN_PER_MINUTE = 1 << 30,
  LEAK_PER_MINUTE = 1 << 20,
};

static struct {
  char **records;
  size_t n, capacity;
} audit;
static char *client_buffer[CLIENTS];
static uint32_t random_state = 2463534242u;
volatile unsigned char sink;

static uint32_t next_random(void) {
  random_state ^= random_state << 13;
  random_state ^= random_state >> 17;
  random_state ^= random_state << 5;
  return random_state;
}

/* THE LEAK: a record per retried request, appended and never removed (unless fixed). */
__attribute__((noinline)) static void note_retry(uint64_t request, bool fixed) {
  if (fixed && audit.n == AUDIT_KEEP) { /* the fix: drop the oldest */
    free(audit.records[0]);
    memmove(audit.records, audit.records + 1, (audit.n - 1) * sizeof *audit.records);
    audit.n--;
  }
  if (audit.n == audit.capacity) {
    size_t capacity = audit.capacity ? audit.capacity * 2 : 1024;
    char **grown = realloc(audit.records, capacity * sizeof *grown);
    if (!grown)
      return;
    audit.records = grown;
    audit.capacity = capacity;
  }
  char *record = malloc(AUDIT_RECORD_BYTES);
  if (!record)
    return;
  snprintf(record, AUDIT_RECORD_BYTES, "request %llu retried", (unsigned long long)request);
  audit.records[audit.n++] = record;
}

/* The churn: what a request allocates and frees again. Returns the bytes allocated. */
__attribute__((noinline)) static size_t handle_request(void) {
  size_t request_bytes = 512 + next_random() % 8192;
  char *request = malloc(request_bytes);
  size_t headers_bytes = 16 + next_random() % 1024;
  char *headers = malloc(headers_bytes);
  size_t response_bytes = 64 + next_random() % 4096;
  char *response = malloc(response_bytes);
  if (request && headers && response) {
    request[0] = headers[0] = response[0] = 1;
    sink += (unsigned char)(request[0] + headers[0] + response[0]);
  }
  free(headers);
  free(request);
  free(response);
  /* each client keeps its latest buffer until its next request */
  uint32_t client = next_random() % CLIENTS;
  size_t kept_bytes = 16 + next_random() % 2048;
  free(client_buffer[client]);
  client_buffer[client] = malloc(kept_bytes);
  return request_bytes + headers_bytes + response_bytes + kept_bytes;
}

int main(int argc, char **argv) {
  example_options_t o = example_begin(argc, argv, 600,
      "A slow leak hidden in heavy churn; the fix: bound the audit list.");
  double churned = 0, leaked = 0;
  uint64_t requests = 0;
  while (example_running(&o)) {
    double minutes = example_minutes(&o);
    /* retried requests: as many as make LEAK_PER_MINUTE of audit records */
    while (leaked + AUDIT_RECORD_BYTES <= LEAK_PER_MINUTE * minutes) {
      note_retry(requests, o.fixed);
      leaked += AUDIT_RECORD_BYTES;
    }
    /* A slow machine serves fewer requests, it does not queue them forever: traffic beyond
     * a tenth of a minute behind is dropped, so the leak keeps its pace with the clock. */
    if (CHURN_PER_MINUTE * minutes - churned > CHURN_PER_MINUTE / 10)
      churned = CHURN_PER_MINUTE * minutes - CHURN_PER_MINUTE / 10;
    while (churned < CHURN_PER_MINUTE * minutes) {
      churned += (double)handle_request();
      requests++;
    }
    example_sleep(&o, 0.1);
  }
  printf("slow_leak_in_churn: %llu requests, %zu audit records kept\n",
         (unsigned long long)requests, audit.n);
  return 0;
}
