/*
 * classic_example.h - what every program in examples/classic/ shares: its command line
 * (--fixed, --seconds, --scale), a clock that --scale speeds up, and a clean exit on Ctrl-C
 * or SIGTERM, so that `leakwatch run` prints its report when you stop an example by hand.
 *
 *   --fixed       run the corrected version of the pattern
 *   --seconds N   stop after N real seconds (default: the example's own, see its usage)
 *   --scale S     run S times faster: a "minute" lasts 60/S seconds. With the agent's history
 *                 interval scaled alike (LEAKWATCH_HISTORY_INTERVAL=1s for S = 10), leakwatch
 *                 sees what it would see in real time, in 1/S of the time (the tests do this).
 *
 * Header-only on purpose: each example stays one file you can read top to bottom, and the
 * part they all share is out of the way here. Not for use outside the examples.
 */
#ifndef LW_CLASSIC_EXAMPLE_H
#define LW_CLASSIC_EXAMPLE_H

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct {
  bool fixed;
  double seconds; /* real seconds to run */
  double scale;   /* time runs this many times faster */
} example_options_t;

static volatile sig_atomic_t example_stop_requested;
static double example_start_seconds;

static void example_on_signal(int signal_number) {
  (void)signal_number;
  example_stop_requested = 1;
}

static inline double example_now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline void example_usage(FILE *out, const char *program, const char *what,
                                 double default_seconds) {
  const char *name = strrchr(program, '/') ? strrchr(program, '/') + 1 : program;
  fprintf(out,
          "usage: %s [--fixed] [--seconds N] [--scale S]\n"
          "%s (docs/GUIDE.md walks through it)\n"
          "  --fixed      run the corrected version\n"
          "  --seconds N  stop after N seconds (default %.0f); Ctrl-C stops it cleanly too\n"
          "  --scale S    run S times faster: a minute lasts 60/S seconds\n",
          name, what, default_seconds);
}

/* Parses the shared options (--help prints them; anything else wrong exits with status 2),
 * installs the Ctrl-C/SIGTERM handler and starts the clock. WHAT says the pattern. */
static inline example_options_t example_begin(int argc, char **argv, double default_seconds,
                                              const char *what) {
  example_options_t o = {false, default_seconds, 1};
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--fixed") == 0) {
      o.fixed = true;
    } else if (i + 1 < argc && strcmp(argv[i], "--seconds") == 0) {
      o.seconds = atof(argv[++i]);
    } else if (i + 1 < argc && strcmp(argv[i], "--scale") == 0) {
      o.scale = atof(argv[++i]);
    } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      example_usage(stdout, argv[0], what, default_seconds);
      exit(0);
    } else {
      fprintf(stderr, "%s: unknown option '%s'\n", argv[0], argv[i]);
      example_usage(stderr, argv[0], what, default_seconds);
      exit(2);
    }
  }
  if (o.scale <= 0 || o.seconds <= 0) {
    fprintf(stderr, "%s: --scale and --seconds must be positive\n", argv[0]);
    exit(2);
  }
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_handler = example_on_signal;
  sigaction(SIGINT, &action, NULL);
  sigaction(SIGTERM, &action, NULL);
  example_start_seconds = example_now_seconds();
  printf("%s: pid %d, %s version, %.0f s, time x%g\n", argv[0], (int)getpid(),
         o.fixed ? "fixed" : "leaking", o.seconds, o.scale);
  fflush(stdout);
  return o;
}

/* Scaled minutes since the start: what the example's rates are per. */
static inline double example_minutes(const example_options_t *o) {
  return (example_now_seconds() - example_start_seconds) * o->scale / 60;
}

static inline bool example_running(const example_options_t *o) {
  return !example_stop_requested && example_now_seconds() - example_start_seconds < o->seconds;
}

/* Sleeps for a scaled duration (a tenth of a second at --scale 10 is a second of the
 * example's time). */
static inline void example_sleep(const example_options_t *o, double scaled_seconds) {
  double real = scaled_seconds / o->scale;
  struct timespec pause = {(time_t)real, (long)((real - (double)(time_t)real) * 1e9)};
  nanosleep(&pause, NULL);
}

#endif
