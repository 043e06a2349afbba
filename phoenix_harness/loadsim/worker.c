/* Phoenix harness load worker: one simulated process.
 *
 * Usage: phoenix-worker NAME PARENT_PID CPU_PATTERN CPU_CORES MEM_PATTERN MEM_MB LIFETIME_S SEED [ignore-term]
 * Sets its kernel name (/proc/PID/status Name) to NAME, burns CPU following CPU_PATTERN, holds
 * MEM_MB of touched memory following MEM_PATTERN, exits after LIFETIME_S (0 = never) and dies with
 * its parent (PR_SET_PDEATHSIG plus a parent check every period). With "ignore-term" it ignores SIGTERM,
 * like a stubborn daemon, so that teardown has to escalate.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rng_state;
static double rnd(void) { /* xorshift64*, [0,1) */
    rng_state ^= rng_state >> 12; rng_state ^= rng_state << 25; rng_state ^= rng_state >> 27;
    return (double)((rng_state * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

static double cpu_target(const char *pattern, double cores, double t, double *rand_level, double *next_rand) {
    if (strcmp(pattern, "idle") == 0) return 0.0;
    if (strcmp(pattern, "spiky") == 0) { /* 2 s burst every 10 s */
        double phase = t - 10.0 * (double)(long)(t / 10.0);
        double burst = cores * 4.0 > 1.0 ? 1.0 : cores * 4.0;
        return phase < 2.0 ? burst : cores * 0.25;
    }
    if (strcmp(pattern, "growing") == 0) return cores * (t >= 60.0 ? 1.0 : t / 60.0);
    if (strcmp(pattern, "random") == 0) {
        if (t >= *next_rand) { *rand_level = rnd() * 2.0 * cores; *next_rand = t + 1.0; }
        return *rand_level > 1.0 ? 1.0 : *rand_level;
    }
    return cores; /* steady */
}

static size_t mem_target(const char *pattern, double mb, double t) {
    double v = mb;
    if (strcmp(pattern, "growing") == 0) v = mb * (0.25 + 0.75 * (t >= 60.0 ? 1.0 : t / 60.0));
    else if (strcmp(pattern, "random") == 0) v = mb * (0.5 + rnd());
    return (size_t)(v * 1024.0 * 1024.0);
}

int main(int argc, char **argv) {
    if (argc != 9 && argc != 10) {
        fprintf(stderr, "usage: %s NAME PARENT_PID CPU_PATTERN CPU_CORES MEM_PATTERN MEM_MB LIFETIME_S SEED\n", argv[0]);
        return 2;
    }
    const char *name = argv[1];
    pid_t parent = (pid_t)atol(argv[2]);
    const char *cpu_pattern = argv[3];
    double cores = atof(argv[4]);
    const char *mem_pattern = argv[5];
    double mem_mb = atof(argv[6]);
    double lifetime = atof(argv[7]);
    rng_state = (uint64_t)atoll(argv[8]) * 0x9E3779B97F4A7C15ULL + 1;

    if (argc == 10 && strcmp(argv[9], "ignore-term") == 0) signal(SIGTERM, SIG_IGN);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) return 0; /* parent died before we got here */
    prctl(PR_SET_NAME, name, 0, 0, 0);

    char *mem = NULL;
    size_t mem_size = 0;
    const double period = 0.1;
    double start = now_s(), rand_level = 0.0, next_rand = 0.0, next_mem = 0.0;
    volatile double sink = 0.0;
    for (;;) {
        double t = now_s() - start;
        if (lifetime > 0 && t >= lifetime) return 0;
        if (getppid() != parent) return 0;
        if (t >= next_mem) {
            size_t want = mem_target(mem_pattern, mem_mb, t);
            if (want != mem_size) {
                char *p = realloc(mem, want ? want : 1);
                if (p) {
                    if (want > mem_size) memset(p + mem_size, 0x5a, want - mem_size);
                    mem = p;
                    mem_size = want;
                }
            }
            next_mem = t + (strcmp(mem_pattern, "steady") == 0 ? 1e18 : 5.0);
        }
        double busy = cpu_target(cpu_pattern, cores, t, &rand_level, &next_rand) * period;
        double t0 = now_s();
        while (now_s() - t0 < busy) sink += 1.0;
        double rest = period - (now_s() - t0);
        if (strcmp(cpu_pattern, "idle") == 0) rest = 1.0;
        if (rest > 0) {
            struct timespec ts = {(time_t)rest, (long)((rest - (double)(time_t)rest) * 1e9)};
            nanosleep(&ts, NULL);
        }
    }
}
