/*
 * soft_limit.c - LEAKWATCH_SOFT_LIMIT=SIZE, the counterpart of Go's GOMEMLIMIT for a C
 * program: when resident memory passes SIZE, the agent asks the allocator to return the
 * free memory it holds (allocator_release.c), at most once per
 * LEAKWATCH_SOFT_LIMIT_INTERVAL, and says what came back. It never refuses an allocation
 * and never frees anything the program holds: memory in use stays, so RSS may stay above
 * the limit, which the log says once; while releases return nothing, the wait between them
 * doubles (up to 64 intervals), since each one holds the allocator's locks for a while.
 *
 * Runs on the agent thread (agent_thread.c calls lw__soft_limit_check every loop, at least
 * once a second); RSS is read from /proc/self/statm at most once a second. Measured cost:
 * docs/PERFORMANCE.md, "Soft limit".
 */
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "common/json_writer.h"
#include "common/units.h"

enum {
  RSS_CHECK_MS = 1000,     /* RSS read no more often */
  QUIET_LOG_MS = 60000,    /* after the first, release lines at most this often */
  SMALL_RETURN = 1 << 20,  /* a release that returns less is "nothing came back" */
  MAX_BACKOFF = 64,        /* releases that return nothing: the wait doubles up to this */
};

static struct {
  uint64_t next_check_ms;
  uint64_t next_release_ms;
  uint64_t next_log_ms;
  bool said_stuck;          /* "stays above" said since RSS last fell below the limit */
  uint64_t backoff;         /* intervals to wait after a release that returned nothing */
  uint64_t fruitless;       /* releases in a row that returned nothing */
  uint64_t releases;
  uint64_t released_bytes;  /* sum of RSS drops */
  uint64_t release_ns;      /* time spent in the allocator's release calls */
  uint64_t last_rss_bytes;
} soft_limit;

static void log_release(const lw_allocator_release_t *r, uint64_t limit) {
  char before[32], after[32], returned[32], limit_text[32];
  uint64_t drop = r->rss_before_bytes > r->rss_after_bytes
                      ? r->rss_before_bytes - r->rss_after_bytes : 0;
  lw_format_bytes(before, sizeof before, (double)r->rss_before_bytes);
  lw_format_bytes(after, sizeof after, (double)r->rss_after_bytes);
  lw_format_bytes(returned, sizeof returned, (double)drop);
  lw_format_bytes(limit_text, sizeof limit_text, (double)limit);
  lw__log("soft limit %s passed (RSS %s): %s returned %s to the system in %llu ms, RSS now %s",
          limit_text, before, r->method, returned,
          (unsigned long long)(r->duration_ns / 1000000), after);
}

void lw__soft_limit_check(uint64_t now_ms) {
  uint64_t limit = lw__options.soft_limit;
  if (!limit || now_ms < soft_limit.next_check_ms)
    return;
  soft_limit.next_check_ms = now_ms + RSS_CHECK_MS;
  uint64_t rss = lw__resident_bytes();
  soft_limit.last_rss_bytes = rss;
  if (rss <= limit) {
    soft_limit.said_stuck = false;
    soft_limit.backoff = 1;
    soft_limit.fruitless = 0;
    return;
  }
  if (now_ms < soft_limit.next_release_ms)
    return;
  if (!soft_limit.backoff)
    soft_limit.backoff = 1;
  lw_allocator_release_t r;
  if (lw__allocator_release(&r) < 0) {
    if (!soft_limit.said_stuck)
      lw__log("soft limit passed, but the allocator behind the agent (%s) cannot be asked to "
              "return memory: LEAKWATCH_SOFT_LIMIT does nothing here",
              lw__allocator_name(r.kind));
    soft_limit.said_stuck = true;
    soft_limit.next_release_ms = UINT64_MAX; /* nothing will change that */
    return;
  }
  uint64_t drop = r.rss_before_bytes > r.rss_after_bytes ? r.rss_before_bytes - r.rss_after_bytes
                                                         : 0;
  soft_limit.releases++;
  soft_limit.released_bytes += drop;
  soft_limit.release_ns += r.duration_ns;
  soft_limit.last_rss_bytes = r.rss_after_bytes;
  /* Memory in use cannot be returned: a release that gave nothing back is not repeated at
   * full pace (each one holds the allocator's locks for a while, up to tens of ms). */
  if (drop < SMALL_RETURN) {
    soft_limit.fruitless++;
    if (soft_limit.backoff < MAX_BACKOFF)
      soft_limit.backoff *= 2;
  } else {
    soft_limit.fruitless = 0;
    soft_limit.backoff = 1;
  }
  soft_limit.next_release_ms = now_ms + lw__options.soft_limit_interval_ms * soft_limit.backoff;
  /* The log is capped (log.c): the first release, then one a minute, and "stays above"
   * once per excursion; the totals are always in the `allocator` reply. */
  if (drop >= SMALL_RETURN && now_ms >= soft_limit.next_log_ms) {
    log_release(&r, limit);
    soft_limit.next_log_ms = now_ms + QUIET_LOG_MS;
  } else if (soft_limit.fruitless >= 2 && r.rss_after_bytes > limit && !soft_limit.said_stuck) {
    /* Two in a row: one alone may have come while the program was allocating a burst. */
    char rss_text[32], limit_text[32];
    lw_format_bytes(rss_text, sizeof rss_text, (double)r.rss_after_bytes);
    lw_format_bytes(limit_text, sizeof limit_text, (double)limit);
    lw__log("soft limit %s: RSS stays at %s after %s: the memory above the limit is in use "
            "or outside the allocator (leakwatch explain %d says where)",
            limit_text, rss_text, r.method, (int)getpid());
    soft_limit.said_stuck = true;
  }
}

void lw__soft_limit_write_json(lw_buf_t *json) {
  if (!lw__options.soft_limit) {
    lw_buf_append_str(json, "null");
    return;
  }
  lw_buf_printf(json,
                "{\"limit_bytes\":%llu,\"interval_ms\":%llu,\"releases\":%llu,"
                "\"released_bytes\":%llu,\"release_ms\":%llu,\"last_rss_bytes\":%llu}",
                (unsigned long long)lw__options.soft_limit,
                (unsigned long long)lw__options.soft_limit_interval_ms,
                (unsigned long long)soft_limit.releases,
                (unsigned long long)soft_limit.released_bytes,
                (unsigned long long)(soft_limit.release_ns / 1000000),
                (unsigned long long)soft_limit.last_rss_bytes);
}
