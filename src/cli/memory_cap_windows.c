/*
 * memory_cap_windows.c - the Job Object memory cap's report (see memory_cap_windows.h).
 */
#include "cli/memory_cap_windows.h"

#include "common/units.h"

void lw_job_cap_report(const lw_job_cap_result_t *r, lw_buf_t *out) {
  char limit[32], peak[32], ws[32], priv[32];
  lw_format_bytes(limit, sizeof limit, (double)r->limit_bytes);
  lw_format_bytes(peak, sizeof peak, (double)r->job_peak_bytes);
  lw_format_bytes(ws, sizeof ws, (double)r->peak_working_set_bytes);
  lw_format_bytes(priv, sizeof priv, (double)r->peak_private_bytes);
  const char *p = "leakwatch: memory cap: ";
  lw_buf_printf(out, "%s%s of committed memory per process (Job Object ProcessMemoryLimit)%s\n",
                p, limit,
                r->limit_in_force ? "" : "; this system accepted the limit but does not report "
                                         "it back, so it may not be enforced (wine)");
  if (r->exit_code >= 0xC0000000u)
    lw_buf_printf(out, "%sended by exception 0x%08llX after %.2f s\n", p,
                  (unsigned long long)r->exit_code, r->seconds);
  else
    lw_buf_printf(out, "%sexited with status %llu after %.2f s\n", p,
                  (unsigned long long)r->exit_code, r->seconds);
  if (r->limit_hits)
    lw_buf_printf(out,
                  "%sthe limit was hit %llu time%s (first %.2f s after start): allocations "
                  "failed there, nothing was killed\n",
                  p, (unsigned long long)r->limit_hits, r->limit_hits == 1 ? "" : "s",
                  r->first_hit_seconds);
  else
    lw_buf_printf(out, "%sthe limit was not hit\n", p);
  lw_buf_printf(out, "%speak %s committed in the job; peak private bytes %s, peak working set %s "
                     "of the command\n",
                p, r->job_peak_bytes ? peak : "unknown", priv, ws);
}

void lw_job_cap_report_json(const lw_job_cap_result_t *r, lw_buf_t *out) {
  lw_buf_printf(out,
                "{\"mode\":\"job-object\",\"limit_bytes\":%llu,\"limit_in_force\":%s,"
                "\"end\":\"%s\",\"exit_status\":%llu,\"seconds\":%.3f,\"limit_hits\":%llu,"
                "\"seconds_to_first_hit\":",
                (unsigned long long)r->limit_bytes, r->limit_in_force ? "true" : "false",
                r->exit_code >= 0xC0000000u ? "exception" : "exited",
                (unsigned long long)r->exit_code, r->seconds, (unsigned long long)r->limit_hits);
  if (r->first_hit_seconds >= 0)
    lw_buf_printf(out, "%.3f", r->first_hit_seconds);
  else
    lw_buf_append_str(out, "null");
  lw_buf_printf(out, ",\"job_peak_bytes\":%llu,\"peak_private_bytes\":%llu,"
                     "\"peak_working_set_bytes\":%llu}",
                (unsigned long long)r->job_peak_bytes, (unsigned long long)r->peak_private_bytes,
                (unsigned long long)r->peak_working_set_bytes);
}
