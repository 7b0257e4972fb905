/*
 * export_reply.h - what a reply may cost the host (profile_export.c), for the agent thread's
 * handlers (http_server.c, control_server.c).
 *
 * A reply is held in the host's memory until its client takes it (up to the write deadline),
 * so the bytes held by replies at once are bounded: lw__reply_budget(). Profiles are built
 * in the one export's scratch memory and handed to a sink, which copies them once into the
 * reply; a text profile (?debug=1) is cut to the room the budget leaves.
 */
#ifndef LW_AGENT_EXPORT_REPLY_H
#define LW_AGENT_EXPORT_REPLY_H

#include <stddef.h>
#include <stdint.h>

#include "agent/agent.h"

/* Bytes held now by lw__output_allocator blocks (replies and bodies being built). */
uint64_t lw__reply_held(void);
/* How many bytes replies may hold at once: the smaller of LEAKWATCH_REPLY_MEMORY and half
 * the process's RSS (at least 8 MiB). Reads /proc/self/statm. */
uint64_t lw__reply_budget(void);
/* Replies refused for want of budget (503s, control errors), for /metrics. */
uint64_t lw__reply_refused(void);
void lw__reply_refused_note(void);
/* An uncounted allocator for short-lived bodies that a reply copies at once. */
extern const lw_allocator_t *const lw__transient_allocator;

/* Receives a built profile (in scratch memory, valid during the call); its result is what
 * lw__export_profile_into returns. */
typedef int (*lw_export_sink_fn)(const uint8_t *bytes, size_t len, void *context);
/* Builds the profile gzipped (text_limit 0) or in the legacy text form, largest samples
 * first, leaving out the samples past about text_limit bytes (SIZE_MAX: none), and hands it
 * to sink. Returns sink's result, or a negative errno when the profile could not be built. */
int lw__export_profile_into(const lw_export_options_t *options, size_t text_limit,
                            lw_export_sink_fn sink, void *context);

#endif
