/*
 * wallclock_util.h - set the wall clock of this test process only.
 *
 * wallclock_util.c (linked into every transport test) defines
 * clock_gettime(2) over the C library's own: CLOCK_REALTIME (and its
 * coarse variant) read `shift` ms away from the system's, as after
 * `date -s`, while CLOCK_MONOTONIC is left alone (time(2) and
 * gettimeofday(2) are not shifted).  The kernel never sees the step:
 * waits timed on CLOCK_REALTIME (nng 1.5.2 times all of its own so)
 * end by the kernel's clock.  One armed before the step thus ends on
 * time where a real step would delay it, but code that then checks the
 * shifted clock waits again, so a wait that a real step would hold
 * still does not end; and one armed while shifted is off by the shift
 * (set back: it ends at once, and such a loop spins).  Keep the clock
 * shifted briefly and set it right before the test ends.  Criterion
 * runs each test in a process of its own.
 */
#ifndef WALLCLOCK_UTIL_H
#define WALLCLOCK_UTIL_H

#include <stdint.h>

/* Move this process's wall clock by ms (negative: back). */
void wallclock_step(int64_t ms);

#endif
