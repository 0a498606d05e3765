/*
 * wallclock_util.h - set the wall clock of this test process only.
 *
 * wallclock_util.c (linked into every transport test) defines
 * clock_gettime(2) over the C library's own: CLOCK_REALTIME (and its
 * coarse variant) read `shift` ms away from the system's, as after
 * `date -s`, while CLOCK_MONOTONIC is left alone.  Condition variables
 * timed on CLOCK_REALTIME still wake by the kernel's clock, as they
 * would for a process started before a clock was set, so code that
 * mixes the two clocks behaves here as it would on a host whose clock
 * stepped.  Criterion runs each test in a process of its own.
 */
#ifndef WALLCLOCK_UTIL_H
#define WALLCLOCK_UTIL_H

#include <stdint.h>

/* Move this process's wall clock by ms (negative: back). */
void wallclock_step(int64_t ms);

#endif
