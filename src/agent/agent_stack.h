/*
 * agent_stack.h - runs a piece of agent work on a stack the agent maps itself.
 *
 * The program's threads may have small stacks (16 KiB with pthread_attr_setstacksize), and
 * the heavy work the agent does on them - the exit profile, dlclose's bookkeeping - needs
 * far more than that. lw__on_agent_stack() switches to an agent-owned stack for the call,
 * so on the program's stack it costs a few words.
 */
#ifndef LW_AGENT_AGENT_STACK_H
#define LW_AGENT_AGENT_STACK_H

/* Calls fn(arg) on an agent stack (256 KiB, a guard page below). If none can be mapped,
 * or on a build that cannot switch stacks (not x86-64, or a sanitizer build), it calls fn
 * on the caller's stack. Safe from any thread, and reentrant (a signal handler gets its
 * own stack). */
void lw__on_agent_stack(void (*fn)(void *), void *arg);

#endif
