/* monotonic.h — seconds on the monotonic clock, for durations (timings, progress, snapshot
 * intervals). Never the wall clock: it jumps under NTP and the durations would too. */
#ifndef MOEPROBE_MONOTONIC_H
#define MOEPROBE_MONOTONIC_H

#include <time.h>

static inline double monotonic_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#endif
