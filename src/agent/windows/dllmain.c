/*
 * dllmain.c - the Windows agent's start and end. `leakwatch run` starts the program
 * suspended and loads this DLL into it with a remote thread (LoadLibraryW); on
 * DLL_PROCESS_ATTACH it reads LEAKWATCH_* settings (../options.c), maps the shared tables
 * and patches the import tables of the program's modules; on DLL_PROCESS_DETACH (the
 * process is exiting) it writes the heap profile to LEAKWATCH_OUTPUT ("%p" = pid).
 *
 * Attach runs under the loader lock, so it only does what is allowed there: no thread
 * creation, no waiting on other threads; the tables come from VirtualAlloc.
 */
#include <windows.h>

#include "agent/windows/agent_windows.h"
#include "common/fmt.h"

volatile int lw__agent_state = LW_AGENT_OFF;
uint64_t lw__profiles_written;

void lw__agent_fail(const char *why) {
  if (__atomic_exchange_n(&lw__agent_state, LW_AGENT_FAILED, __ATOMIC_ACQ_REL) != LW_AGENT_FAILED)
    lw__log("sampling stopped: %s", why);
}

static bool start_tables(void) {
  if (!lw__win_memory_init())
    return false;
  if (lw__stacks_init(lw__options.max_stacks) != 0 || lw__live_init(lw__options.max_live) != 0) {
    lw__agent_fail("cannot reserve memory for the agent's tables");
    return false;
  }
  return true;
}

bool lw__agent_ensure_ready(void) {
  return __atomic_load_n(&lw__agent_state, __ATOMIC_ACQUIRE) == LW_AGENT_READY;
}

static void attach(void) {
  lw__options_load();
  if (!lw__options.enabled) {
    lw__agent_state = LW_AGENT_FAILED; /* a pass-through */
    return;
  }
  lw__agent_state = LW_AGENT_INITIALIZING;
  bool ok = start_tables();
  __atomic_store_n(&lw__agent_state, ok ? LW_AGENT_READY : LW_AGENT_FAILED, __ATOMIC_RELEASE);
  if (!ok)
    return;
  lw__win_hooks_resolve();
  int patched = lw__iat_patch_all();
  if (lw__options.verbose)
    lw__log("agent attached: rate %llu, %d import slots patched",
            (unsigned long long)lw__options.rate, patched);
}

/* LEAKWATCH_OUTPUT with "%p" replaced by the pid. */
static void output_path(char *out, size_t size) {
  const char *pattern = lw__options.output;
  size_t n = 0;
  for (const char *p = pattern; *p && n + 1 < size; p++) {
    if (p[0] == '%' && p[1] == 'p') {
      n += lw_fmt(out + n, size - n, "%lu", (unsigned long)GetCurrentProcessId());
      p++;
    } else {
      out[n++] = *p;
    }
  }
  out[n < size ? n : size - 1] = '\0';
}

static void detach(bool process_exit) {
  if (lw__agent_state != LW_AGENT_READY || !lw__options.output[0])
    return;
  /* Stop sampling: what the runtime frees while the process winds down is not the
   * program's leak report. */
  lw__agent_state = LW_AGENT_FAILED;
  (void)process_exit;
  char path[4096];
  output_path(path, sizeof path);
  int rc = lw__win_export_profile(path);
  if (rc != 0)
    lw__log("cannot write the heap profile %s (error %d)", path, -rc);
  else
    lw__profiles_written++;
}

BOOL WINAPI DllMain(HINSTANCE instance, DWORD reason, LPVOID reserved) {
  (void)instance;
  switch (reason) {
  case DLL_PROCESS_ATTACH:
    attach();
    break;
  case DLL_PROCESS_DETACH:
    /* reserved != NULL: the process is exiting (other threads are gone). */
    detach(reserved != NULL);
    break;
  default:
    break;
  }
  return TRUE;
}

/* An export so `leakwatch run` can check it injected the right file. */
__declspec(dllexport) const char *lw_agent_version(void) { return LW_AGENT_VERSION; }
