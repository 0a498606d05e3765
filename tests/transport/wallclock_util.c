/*
 * wallclock_util.c - a wall clock this test process can set (see
 * wallclock_util.h).
 */
#include "wallclock_util.h"

#include <dlfcn.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

typedef int (*clock_fn)(clockid_t, struct timespec *);

static _Atomic int64_t  shift_ms;
static _Atomic clock_fn next_fn;

void
wallclock_step(int64_t ms)
{
	atomic_fetch_add(&shift_ms, ms);
}

int
clock_gettime(clockid_t clk, struct timespec *ts)
{
	clock_fn f = atomic_load(&next_fn);
	int64_t  ms;
	int      rc;

	if (f == NULL) {
		f = (clock_fn) dlsym(RTLD_NEXT, "clock_gettime");
		if (f != NULL)
			atomic_store(&next_fn, f);
	}
	rc =
	    f != NULL ? f(clk, ts) : (int) syscall(SYS_clock_gettime, clk, ts);
	if (rc != 0 ||
	    (clk != CLOCK_REALTIME && clk != CLOCK_REALTIME_COARSE) ||
	    (ms = atomic_load(&shift_ms)) == 0)
		return rc;
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000;
	if (ts->tv_nsec < 0) {
		ts->tv_sec--;
		ts->tv_nsec += 1000000000;
	} else if (ts->tv_nsec >= 1000000000) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000;
	}
	return rc;
}
