/*
 * attach_thread_tls.c - the agent's per-thread state for libleakwatch-attach.so, alone in
 * libleakwatch-attach-tls.so, which that library needs (src/agent/CMakeLists.txt).
 *
 * The malloc and free hooks reach lw__thread with initial-exec TLS, one instruction. A
 * library with any initial-exec TLS has its whole TLS block put in static TLS when dlopened,
 * and glibc keeps only about 1.6 KiB of that spare: the agent's 2.6 KiB (the unwinder's
 * memo, mostly) does not fit, these 288 bytes do. The rest of the attach build's TLS is
 * reached through TLS descriptors, off the hot paths.
 */
#include "agent/agent.h"

LW_EXPORT __thread lw_thread_state_t lw__thread __attribute__((tls_model("initial-exec")));
