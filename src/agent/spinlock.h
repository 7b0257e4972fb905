/*
 * spinlock.h - the lock for the live table's stripes.
 *
 * In exact mode every malloc and every free takes one stripe lock, for a few dozen
 * instructions. glibc's mutex costs two locked instructions and a call each way; this lock
 * costs one locked exchange to take and a plain release store to drop. Waiters spin briefly
 * with `pause`, then yield, so a holder that was preempted is not starved. Not recursive: the
 * agent never re-enters a stripe it holds (a signal handler uses lw_spin_trylock).
 */
#ifndef LW_AGENT_SPINLOCK_H
#define LW_AGENT_SPINLOCK_H

#include <sched.h>
#include <stdbool.h>

typedef struct {
  int taken;
} lw_spinlock_t;

static inline bool lw_spin_trylock(lw_spinlock_t *lock) {
  return __atomic_load_n(&lock->taken, __ATOMIC_RELAXED) == 0 &&
         __atomic_exchange_n(&lock->taken, 1, __ATOMIC_ACQUIRE) == 0;
}

static inline void lw_spin_lock(lw_spinlock_t *lock) {
  if (__builtin_expect(__atomic_exchange_n(&lock->taken, 1, __ATOMIC_ACQUIRE) == 0, 1))
    return;
  for (int spins = 0;; spins++) {
    if (__atomic_load_n(&lock->taken, __ATOMIC_RELAXED) == 0 && lw_spin_trylock(lock))
      return;
    if (spins < 100)
      __builtin_ia32_pause();
    else
      sched_yield();
  }
}

static inline void lw_spin_unlock(lw_spinlock_t *lock) {
  __atomic_store_n(&lock->taken, 0, __ATOMIC_RELEASE);
}

/* For a fork child: the lock may have been held by a thread that does not exist there. */
static inline void lw_spin_reset(lw_spinlock_t *lock) { lock->taken = 0; }

#endif
