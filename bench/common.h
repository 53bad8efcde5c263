/* Shared helpers for the storetrace load generators (scripts/bench). */
#ifndef STB_COMMON_H
#define STB_COMMON_H

#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static inline uint64_t stb_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Pin the calling thread to one CPU; -1 leaves the affinity alone. */
static inline void stb_pin(int cpu)
{
    if (cpu < 0)
        return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0) {
        fprintf(stderr, "sched_setaffinity(CPU %d): %s\n", cpu, strerror(errno));
        exit(2);
    }
}

static inline long long stb_arg(const char *text, const char *what)
{
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno || *end || v < 0) {
        fprintf(stderr, "bad %s: '%s'\n", what, text);
        exit(2);
    }
    return v;
}

#endif
